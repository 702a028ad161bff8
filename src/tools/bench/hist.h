/* hist.h - kite-bench's latency histogram: HDR-style log-linear buckets in microseconds,
 * updated lock-free from any thread, read as plain snapshots.
 *
 * Owns: bucket layout, recording, snapshots and percentiles. Does not own reporting.
 * Layout: values below 2^(SUB_BITS+1) us get one exact bucket each; above, every power of
 * two is split into 2^SUB_BITS equal sub-buckets, so a bucket's width is at most 1/128 of
 * its lower bound (< 0.8% error) up to 2^36 us; larger values land in the last bucket.
 * Memory is fixed (about 32 KiB per histogram), nothing is allocated per sample, so a run
 * of any length costs the same. Threads: kite_bench_hist_add from any thread (relaxed
 * atomics); snapshots from one reader thread (a drain may split a concurrent sample's
 * count from its bucket by one, which a per-second line tolerates). */
#ifndef KITE_BENCH_HIST_H
#define KITE_BENCH_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define KITE_BENCH_SUB_BITS 7
#define KITE_BENCH_SUBS     (1 << KITE_BENCH_SUB_BITS)
#define KITE_BENCH_LINEAR   (2 * KITE_BENCH_SUBS) /* exact buckets 0..255 us */
#define KITE_BENCH_MAX_EXP  36                    /* 2^36 us is about 19 hours */
#define KITE_BENCH_NBUCKETS \
    (KITE_BENCH_LINEAR + (KITE_BENCH_MAX_EXP - KITE_BENCH_SUB_BITS) * KITE_BENCH_SUBS)

typedef struct kite_bench_hist {
    atomic_uint_fast64_t b[KITE_BENCH_NBUCKETS];
    atomic_uint_fast64_t count, sum_us, max_us;
} kite_bench_hist;

/* A plain copy of a histogram, for percentiles. */
typedef struct kite_bench_snap {
    uint64_t b[KITE_BENCH_NBUCKETS];
    uint64_t count, sum_us, max_us;
} kite_bench_snap;

/* Bucket index of a value, and the largest value that bucket holds. */
int kite_bench_bucket_of(uint64_t us);
uint64_t kite_bench_bucket_high(int i);

/* Records one sample (us). Any thread. */
void kite_bench_hist_add(kite_bench_hist *h, uint64_t us);
/* Copies h into s; with drain set, h is reset while being read. */
void kite_bench_hist_snap(kite_bench_hist *h, kite_bench_snap *s, int drain);

/* The q-quantile (0 < q <= 1) in milliseconds: the upper bound of the bucket holding the
 * sample of rank ceil(q * n), never above the recorded maximum. 0 when empty. */
double kite_bench_pct_ms(const kite_bench_snap *s, double q);
/* Mean and maximum in milliseconds (0 when empty). */
double kite_bench_avg_ms(const kite_bench_snap *s);
double kite_bench_max_ms(const kite_bench_snap *s);

#endif
