/* consume.c - kite-bench consume: one libkite push consumer on one topic; the listener
 * only counts messages and records end-to-end latency (now - born timestamp, wall clocks
 * with millisecond resolution: producer and consumer should share a host).
 *
 * Owns: the consumer set-up from options, the listeners, the consume progress line and
 * summary, the temporary offset directory of --broadcast. Uses only include/kite/.
 *
 * - default: CLUSTERING, concurrent listener on -c workers, -b messages per call.
 * - --orderly: the orderly listener (one worker per queue at a time, in queue order,
 *   holding the broker's queue locks in CLUSTERING).
 * - --broadcast: BROADCASTING; offsets go to a temporary directory removed at the end.
 * - -m N: stop once N messages were handed to the listener. The summary then gives the
 *   drain figures: time from the first to the N-th message and msgs/s over that time
 *   (for "drain a backlog of N queued messages", start a new group with --from first).
 *   -d is then only an upper bound (default 300 s).
 * - -p sets the pull batch (the broker caps it at maxTransferCountOnMessageInMemory,
 *   32 by default); a queue's local cache limit is raised to 4 pull batches when that
 *   exceeds the default 1000 messages.
 *
 * Threads: the listener runs on the consumer's workers and only touches atomics; the
 * main thread reports every second and polls for -m every 10 ms. */
#include "consume.h"
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void count(kite_bench *b, const kite_message_ext *const *msgs, size_t n)
{
    int64_t now_ms = kite_bench_wall_ms();
    int64_t mono = kite_bench_now_us();
    int_fast64_t zero = 0;
    atomic_compare_exchange_strong(&b->first_us, &zero, mono);
    for (size_t i = 0; i < n; i++) {
        int64_t d = now_ms - msgs[i]->born_timestamp;
        uint64_t us = d > 0 ? (uint64_t)d * 1000 : 0;
        kite_bench_hist_add(&b->total, us);
        kite_bench_hist_add(&b->second, us);
    }
    long long before = atomic_fetch_add(&b->done, (long long)n);
    if (b->limit > 0 && before < b->limit && before + (long long)n >= b->limit)
        atomic_store(&b->last_us, mono);
}

static kite_consume_status on_consumed(const kite_message_ext *const *msgs, size_t n, void *arg)
{
    count(arg, msgs, n);
    return KITE_CONSUME_SUCCESS;
}

static kite_consume_orderly_status on_consumed_orderly(const kite_message_ext *const *msgs,
                                                       size_t n, void *arg)
{
    count(arg, msgs, n);
    return KITE_ORDERLY_SUCCESS;
}

static void progress(kite_bench *b, int sec, kite_bench_snap *s)
{
    kite_bench_hist_snap(&b->second, s, 1);
    FILE *out = KITE_BENCH_OUT(b);
    fprintf(out,
            "[%4ds] consume tps: %8llu | avg e2e: %8.3f ms | p50 e2e: %8.3f ms | p90 e2e: %8.3f ms"
            " | p99 e2e: %8.3f ms | p99.9 e2e: %8.3f ms | max e2e: %9.3f ms | total: %lld\n",
            sec, (unsigned long long)s->count, kite_bench_avg_ms(s), kite_bench_pct_ms(s, 0.5),
            kite_bench_pct_ms(s, 0.9), kite_bench_pct_ms(s, 0.99), kite_bench_pct_ms(s, 0.999),
            kite_bench_max_ms(s), (long long)atomic_load(&b->done));
    fflush(out);
}

static void summary(kite_bench *b, double secs, kite_bench_snap *s)
{
    kite_bench_hist_snap(&b->total, s, 0);
    long long n = atomic_load(&b->done);
    double tps = secs > 0 ? (double)n / secs : 0;
    int64_t first = atomic_load(&b->first_us), last = atomic_load(&b->last_us);
    double first_s = first ? (double)(first - b->start_us) / 1e6 : -1;
    double drain_s = first && last > first ? (double)(last - first) / 1e6 : 0;
    double drain_tps = drain_s > 0 ? (double)b->limit / drain_s : 0;
    const char *model = b->broadcast ? "broadcasting" : "clustering";
    const char *listener = b->orderly ? "orderly" : "concurrent";
    if (b->json) {
        printf(
            "{\"mode\":\"consume\",\"topic\":\"%s\",\"group\":\"%s\",\"model\":\"%s\",\"listener\":\"%s\","
            "\"threads\":%d,\"pull_batch\":%d,\"consume_batch\":%d,\"seconds\":%.3f,\"consumed\":%lld,\"tps\":%.1f,"
            "\"limit\":%lld,\"first_msg_s\":%.3f,\"drain_s\":%.3f,\"drain_tps\":%.1f,"
            "\"e2e_avg_ms\":%.3f,\"e2e_p50_ms\":%.3f,\"e2e_p90_ms\":%.3f,\"e2e_p99_ms\":%.3f,\"e2e_p999_ms\":%.3f,"
            "\"e2e_max_ms\":%.3f}\n",
            b->topic, b->group, model, listener, b->concurrency, b->pull_batch, b->batch, secs, n,
            tps, b->limit, first_s, drain_s, drain_tps, kite_bench_avg_ms(s),
            kite_bench_pct_ms(s, 0.5), kite_bench_pct_ms(s, 0.9), kite_bench_pct_ms(s, 0.99),
            kite_bench_pct_ms(s, 0.999), kite_bench_max_ms(s));
        return;
    }
    printf("---\nsummary: consume %s as %s (%s, %s listener), %d threads, %.2f s\n", b->topic,
           b->group, model, listener, b->concurrency, secs);
    printf(
        "consumed %lld | tps %.0f | e2e avg %.3f ms | p50 %.3f ms | p90 %.3f ms | p99 %.3f ms | p99.9 %.3f ms"
        " | max %.3f ms\n",
        n, tps, kite_bench_avg_ms(s), kite_bench_pct_ms(s, 0.5), kite_bench_pct_ms(s, 0.9),
        kite_bench_pct_ms(s, 0.99), kite_bench_pct_ms(s, 0.999), kite_bench_max_ms(s));
    if (b->limit > 0) {
        if (drain_s > 0)
            printf(
                "drain: %lld messages in %.3f s from the first to the last (%.0f msgs/s); first message %.3f s "
                "after start\n",
                b->limit, drain_s, drain_tps, first_s);
        else
            printf("drain: only %lld of %lld messages arrived within %d s\n", n, b->limit,
                   b->seconds);
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) perror(path);
    return 0;
}

/* Reports every second until -d ends or -m messages arrived. Returns the run length (s). */
static double report_loop(kite_bench *b, kite_bench_snap *s)
{
    for (int sec = 1;;) {
        int64_t now = kite_bench_now_us(), tick = b->start_us + (int64_t)sec * 1000000;
        if (now >= tick) {
            progress(b, sec, s);
            if (sec++ >= b->seconds) return (double)(now - b->start_us) / 1e6;
            continue;
        }
        if (b->limit > 0 && atomic_load(&b->done) >= b->limit)
            return (double)(now - b->start_us) / 1e6;
        kite_bench_sleep_until(now + 10000 < tick ? now + 10000 : tick);
    }
}

static kite_push_consumer *start_consumer(kite_bench *b, const char *offset_dir)
{
    kite_push_consumer_opts o;
    kite_push_consumer_opts_init(&o);
    o.namesrv_addr = b->ns;
    o.tls = b->tls;
    o.credentials.access_key = b->access_key;
    o.credentials.secret_key = b->secret_key;
    o.consume_threads = b->concurrency;
    if (b->batch > 0) o.consume_batch_size = b->batch;
    if (b->pull_batch > 0) o.pull_batch_size = b->pull_batch;
    b->batch = o.consume_batch_size; /* the effective values, for the summary */
    b->pull_batch = o.pull_batch_size;
    if (o.pull_threshold_for_queue < 4 * o.pull_batch_size)
        o.pull_threshold_for_queue = 4 * o.pull_batch_size;
    o.consume_from = b->from_first ? KITE_CONSUME_FROM_FIRST_OFFSET : KITE_CONSUME_FROM_LAST_OFFSET;
    if (b->broadcast) {
        o.message_model = KITE_BROADCASTING;
        o.offset_store_dir = offset_dir;
    }
    kite_push_consumer *c = NULL;
    int rc = kite_push_consumer_create(&c, b->group, &o);
    if (rc == KITE_OK) rc = kite_push_consumer_subscribe(c, b->topic, "*");
    if (rc == KITE_OK)
        rc = b->orderly ? kite_push_consumer_set_orderly_listener(c, on_consumed_orderly, b)
                        : kite_push_consumer_set_listener(c, on_consumed, b);
    b->start_us = kite_bench_now_us();
    if (rc == KITE_OK) rc = kite_push_consumer_start(c);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite-bench: cannot start the consumer: %s\n", kite_strerror(rc));
        kite_push_consumer_destroy(c);
        return NULL;
    }
    return c;
}

int kite_bench_run_consume(kite_bench *b)
{
    char offset_dir[512] = "";
    if (b->broadcast) {
        const char *tmp = getenv("TMPDIR");
        snprintf(offset_dir, sizeof offset_dir, "%s/kite-bench-offsets-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(offset_dir)) {
            perror(offset_dir);
            return 2;
        }
    }
    kite_bench_snap *s = malloc(sizeof *s);
    kite_push_consumer *c = s ? start_consumer(b, offset_dir) : NULL;
    int code = 2;
    if (c) {
        double secs = report_loop(b, s);
        kite_push_consumer_shutdown(c);
        summary(b, secs, s);
        kite_push_consumer_destroy(c);
        code = b->limit > 0 && atomic_load(&b->done) < b->limit ? 1 : 0;
    }
    free(s);
    if (offset_dir[0]) nftw(offset_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return code;
}
