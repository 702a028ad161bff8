/* test_bench_hist.c - unit tests for kite-bench's latency histogram (src/tools/bench/hist.c,
 * compiled in here because tools are not libraries): bucket bounds and their relative
 * error, percentiles against exact values, the cap at the maximum, draining snapshots,
 * and concurrent recording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "tools/bench/hist.c"
#include <pthread.h>
#include <stdlib.h>
#include "kt.h"

static void test_buckets_cover_values(void **st)
{
    (void)st;
    int prev = -1;
    for (uint64_t v = 0; v < (1ull << 37); v = v < 4096 ? v + 1 : v + v / 97 + 1) {
        int i = kite_bench_bucket_of(v);
        assert_true(i >= prev); /* monotonic */
        assert_true(i >= 0 && i < KITE_BENCH_NBUCKETS);
        uint64_t hi = kite_bench_bucket_high(i);
        assert_true(hi >= v); /* the bucket holds v */
        if (v < KITE_BENCH_LINEAR)
            assert_true(hi == v); /* exact below 256 us */
        else if (v < (1ull << KITE_BENCH_MAX_EXP))
            assert_true((double)(hi - v) <= (double)v / 100.0);
        if (i > 0) assert_true(kite_bench_bucket_high(i - 1) < v); /* and no bucket below does */
        prev = i;
    }
    assert_int_equal(kite_bench_bucket_of(UINT64_MAX), KITE_BENCH_NBUCKETS - 1);
}

static void test_percentiles(void **st)
{
    (void)st;
    kite_bench_hist *h = calloc(1, sizeof *h);
    kite_bench_snap *s = malloc(sizeof *s);
    assert_non_null(h);
    assert_non_null(s);
    kite_bench_hist_snap(h, s, 0);
    assert_true(kite_bench_pct_ms(s, 0.99) == 0);
    for (uint64_t v = 1; v <= 100000; v++) kite_bench_hist_add(h, v); /* 1 us .. 100 ms */
    kite_bench_hist_snap(h, s, 0);
    assert_int_equal(s->count, 100000);
    double p50 = kite_bench_pct_ms(s, 0.5), p99 = kite_bench_pct_ms(s, 0.99),
           p999 = kite_bench_pct_ms(s, 0.999);
    assert_true(p50 >= 50.0 && p50 <= 50.0 * 1.01);
    assert_true(p99 >= 99.0 && p99 <= 99.0 * 1.01);
    assert_true(p999 >= 99.9 && p999 <= 100.0); /* capped at the maximum */
    assert_true(kite_bench_pct_ms(s, 1.0) == 100.0);
    assert_true(kite_bench_max_ms(s) == 100.0);
    assert_true(kite_bench_avg_ms(s) > 50.0 && kite_bench_avg_ms(s) < 50.01);
    kite_bench_hist_snap(h, s, 1); /* drain */
    kite_bench_hist_snap(h, s, 0);
    assert_int_equal(s->count, 0);
    assert_true(kite_bench_pct_ms(s, 0.5) == 0 && kite_bench_max_ms(s) == 0);
    free(s);
    free(h);
}

static void test_one_outlier(void **st)
{
    (void)st;
    kite_bench_hist *h = calloc(1, sizeof *h);
    kite_bench_snap *s = malloc(sizeof *s);
    for (int i = 0; i < 999; i++) kite_bench_hist_add(h, 300);
    kite_bench_hist_add(h, 2000000); /* one 2 s stall in 1,000 */
    kite_bench_hist_snap(h, s, 0);
    assert_true(kite_bench_pct_ms(s, 0.99) < 0.31);
    assert_true(kite_bench_pct_ms(s, 0.999) < 0.31); /* rank 999 is still a 300 us sample */
    assert_true(kite_bench_pct_ms(s, 1.0) == 2000.0);
    free(s);
    free(h);
}

static kite_bench_hist *shared_h; /* test only: the histogram the threads below share */

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) kite_bench_hist_add(shared_h, (uint64_t)(i % 5000));
    return NULL;
}

static void test_concurrent_adds(void **st)
{
    (void)st;
    shared_h = calloc(1, sizeof *shared_h);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, adder, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    kite_bench_snap *s = malloc(sizeof *s);
    kite_bench_hist_snap(shared_h, s, 0);
    uint64_t n = 0;
    for (int i = 0; i < KITE_BENCH_NBUCKETS; i++) n += s->b[i];
    assert_int_equal(n, 400000);
    assert_int_equal(s->count, 400000);
    assert_int_equal(s->max_us, 4999);
    free(s);
    free(shared_h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_cover_values),
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_one_outlier),
        cmocka_unit_test(test_concurrent_adds),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
