/* hist.c - kite-bench's latency histogram (layout and threading in hist.h). */
#include "hist.h"

int kite_bench_bucket_of(uint64_t us)
{
    if (us < KITE_BENCH_LINEAR) return (int)us;
    int e = 63 - __builtin_clzll(us); /* e >= SUB_BITS + 1 */
    if (e > KITE_BENCH_MAX_EXP) return KITE_BENCH_NBUCKETS - 1;
    return KITE_BENCH_LINEAR + (e - KITE_BENCH_SUB_BITS - 1) * KITE_BENCH_SUBS +
           (int)((us >> (e - KITE_BENCH_SUB_BITS)) & (KITE_BENCH_SUBS - 1));
}

uint64_t kite_bench_bucket_high(int i)
{
    if (i < KITE_BENCH_LINEAR) return (uint64_t)i;
    int e = (i - KITE_BENCH_LINEAR) / KITE_BENCH_SUBS + KITE_BENCH_SUB_BITS + 1;
    int sub = (i - KITE_BENCH_LINEAR) % KITE_BENCH_SUBS;
    return ((uint64_t)(KITE_BENCH_SUBS + sub + 1) << (e - KITE_BENCH_SUB_BITS)) - 1;
}

void kite_bench_hist_add(kite_bench_hist *h, uint64_t us)
{
    atomic_fetch_add_explicit(&h->b[kite_bench_bucket_of(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->max_us, memory_order_relaxed);
    while (us > m && !atomic_compare_exchange_weak_explicit(
                         &h->max_us, &m, us, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void kite_bench_hist_snap(kite_bench_hist *h, kite_bench_snap *s, int drain)
{
    for (int i = 0; i < KITE_BENCH_NBUCKETS; i++)
        s->b[i] = drain ? atomic_exchange(&h->b[i], 0) : atomic_load(&h->b[i]);
    s->count = drain ? atomic_exchange(&h->count, 0) : atomic_load(&h->count);
    s->sum_us = drain ? atomic_exchange(&h->sum_us, 0) : atomic_load(&h->sum_us);
    s->max_us = drain ? atomic_exchange(&h->max_us, 0) : atomic_load(&h->max_us);
}

double kite_bench_pct_ms(const kite_bench_snap *s, double q)
{
    uint64_t n = 0;
    for (int i = 0; i < KITE_BENCH_NBUCKETS; i++) n += s->b[i];
    if (!n) return 0;
    uint64_t rank = (uint64_t)(q * (double)n + 0.999999), seen = 0;
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    for (int i = 0; i < KITE_BENCH_NBUCKETS; i++) {
        seen += s->b[i];
        if (seen >= rank) {
            uint64_t v = kite_bench_bucket_high(i);
            if (s->max_us && v > s->max_us) v = s->max_us;
            return (double)v / 1000.0;
        }
    }
    return (double)s->max_us / 1000.0;
}

double kite_bench_avg_ms(const kite_bench_snap *s)
{
    return s->count ? (double)s->sum_us / (double)s->count / 1000.0 : 0;
}

double kite_bench_max_ms(const kite_bench_snap *s) { return (double)s->max_us / 1000.0; }
