/* main.c - kite-bench: load generator on libkite, modelled on RocketMQ's benchmark tools
 * (org.apache.rocketmq.example.benchmark.Producer): fixed-size messages to one topic,
 * a progress line every second and a summary at the end.
 *
 *   kite-bench produce -n <namesrv> -t <topic> [-s <size>] [-c <concurrency>]
 *                      [-d <seconds>] [-m <messages>] [--sync|--async] [--json] [-g <group>]
 *   kite-bench consume -n <namesrv> -t <topic> [-g <group>] [-d <seconds>] [-c <threads>]
 *                      [-b <consume batch>] [-p <pull batch>] [--from first|last] [--json]
 *
 * --async (default): one sending thread keeps up to <concurrency> sends in flight
 * (the producer's max_in_flight); latencies are taken in the callbacks.
 * --sync: <concurrency> threads share one producer, each waiting for its answer.
 *
 * Owns: argument parsing, the latency histogram, the reporter. Uses only the public
 * API of include/kite/ (no internals). Threads: the main thread reports; sender
 * threads (sync) or the main thread (async) send; callbacks run on the producer's I/O
 * thread and only touch atomics. Histogram: log-linear, fixed buckets (64 exact
 * microsecond buckets, then 32 per power of two: <= 3% error), atomically updated,
 * no allocation per sample. Exit code: 0 ok, 1 failures occurred, 2 usage or start error.
 *
 * consume: one push consumer (CLUSTERING) with <threads> workers; the listener counts
 * messages and records the end-to-end latency now - born timestamp (wall clocks, ms
 * resolution: producer and consumer should share a host) into the same histograms;
 * the progress line shows consume TPS and e2e latency. */
#include "kite/kite.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB_BITS 5
#define SUBS (1 << SUB_BITS)
#define LINEAR 64                       /* exact buckets 0..63 us */
#define MAX_EXP 36                      /* up to 2^36 us, far beyond any timeout */
#define NBUCKETS (LINEAR + (MAX_EXP - 6 + 1) * SUBS)

typedef struct hist {
    atomic_uint_fast64_t b[NBUCKETS];
    atomic_uint_fast64_t count, sum_us, max_us;
} hist;

typedef struct bench {
    const char *ns, *topic, *group;
    size_t size;
    int concurrency, seconds, json, sync;
    int consume, batch, pull_batch, from_first;
    long long limit;                 /* 0 = until the duration ends */
    kite_producer *p;
    char *body;
    atomic_int stop;
    atomic_llong issued;
    atomic_uint_fast64_t fails, not_ok;   /* failures; stored with a non-SEND_OK status */
    hist total, second;              /* second is drained by the reporter each second */
    char first_error[320];
    atomic_int have_error;
} bench;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int bucket_of(uint64_t us)
{
    if (us < LINEAR) return (int)us;
    int e = 63 - __builtin_clzll(us);   /* e >= 6 */
    if (e > MAX_EXP) return NBUCKETS - 1;
    return LINEAR + (e - 6) * SUBS + (int)((us >> (e - SUB_BITS)) & (SUBS - 1));
}

/* Upper bound (us) of bucket i. */
static uint64_t bucket_high(int i)
{
    if (i < LINEAR) return (uint64_t)i;
    int e = (i - LINEAR) / SUBS + 6, sub = (i - LINEAR) % SUBS;
    return ((uint64_t)(SUBS + sub + 1) << (e - SUB_BITS)) - 1;
}

static void hist_add(hist *h, uint64_t us)
{
    atomic_fetch_add_explicit(&h->b[bucket_of(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->max_us, memory_order_relaxed);
    while (us > m && !atomic_compare_exchange_weak(&h->max_us, &m, us)) {
    }
}

/* Plain snapshot of a histogram (drain = reset while reading). */
typedef struct snap {
    uint64_t b[NBUCKETS];
    uint64_t count, sum_us, max_us;
} snap;

static void hist_snap(hist *h, snap *s, int drain)
{
    for (int i = 0; i < NBUCKETS; i++) s->b[i] = drain ? atomic_exchange(&h->b[i], 0) : atomic_load(&h->b[i]);
    s->count = drain ? atomic_exchange(&h->count, 0) : atomic_load(&h->count);
    s->sum_us = drain ? atomic_exchange(&h->sum_us, 0) : atomic_load(&h->sum_us);
    s->max_us = drain ? atomic_exchange(&h->max_us, 0) : atomic_load(&h->max_us);
}

static double pct_ms(const snap *s, double q)
{
    uint64_t n = 0;
    for (int i = 0; i < NBUCKETS; i++) n += s->b[i];
    if (!n) return 0;
    uint64_t rank = (uint64_t)(q * (double)n + 0.999999), seen = 0;
    if (rank < 1) rank = 1;
    for (int i = 0; i < NBUCKETS; i++) {
        seen += s->b[i];
        if (seen >= rank) return (double)bucket_high(i) / 1000.0;
    }
    return (double)s->max_us / 1000.0;
}

static void note_error(bench *b, int rc, const char *detail)
{
    atomic_fetch_add(&b->fails, 1);
    int expect = 0;
    if (atomic_compare_exchange_strong(&b->have_error, &expect, 1))
        snprintf(b->first_error, sizeof b->first_error, "%.40s: %.270s", kite_strerror(rc), detail ? detail : "");
}

static void record(bench *b, int rc, const kite_send_result *r, int64_t start_us)
{
    if (rc != KITE_OK) {
        note_error(b, rc, r ? r->error : NULL);
        return;
    }
    if (r->status != KITE_SEND_OK) atomic_fetch_add(&b->not_ok, 1);
    uint64_t us = (uint64_t)(now_us() - start_us);
    hist_add(&b->total, us);
    hist_add(&b->second, us);
}

static int more(bench *b)
{
    if (atomic_load(&b->stop)) return 0;
    if (b->limit > 0 && atomic_fetch_add(&b->issued, 1) >= b->limit) return 0;
    return 1;
}

static kite_message *new_msg(bench *b)
{
    kite_message *m = kite_message_new(b->topic);
    if (m) kite_message_set_body_ref(m, b->body, b->size);
    return m;
}

static void *sync_sender(void *arg)
{
    bench *b = arg;
    kite_message *m = new_msg(b);
    if (!m) return NULL;
    while (more(b)) {
        kite_send_result r;
        int64_t t0 = now_us();
        int rc = kite_producer_send(b->p, m, &r);
        record(b, rc, &r, t0);
    }
    kite_message_destroy(m);
    return NULL;
}

typedef struct async_ctx {
    bench *b;
    int64_t start_us;
} async_ctx;

static void on_sent(int status, const kite_send_result *res, void *arg)
{
    async_ctx *c = arg;
    record(c->b, status, res, c->start_us);
    free(c);
}

static void *async_sender(void *arg)
{
    bench *b = arg;
    kite_message *m = new_msg(b);
    if (!m) return NULL;
    while (more(b)) {
        async_ctx *c = malloc(sizeof *c);
        if (!c) break;
        c->b = b;
        c->start_us = now_us();
        int rc = kite_producer_send_async(b->p, m, on_sent, c);   /* blocks at max_in_flight */
        if (rc != KITE_OK) {
            free(c);
            note_error(b, rc, "send_async refused");
        }
    }
    kite_message_destroy(m);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: kite-bench produce -n <namesrv> -t <topic> [-s <size=1024>] [-c <concurrency=64>]\n"
            "                          [-d <seconds=10>] [-m <messages>] [--sync|--async] [--json] [-g <group>]\n"
            "  --async (default): one thread, <concurrency> sends in flight\n"
            "  --sync:            <concurrency> threads, each waiting for its answer\n"
            "       kite-bench consume -n <namesrv> -t <topic> [-g <group=kite_bench_consumer>] [-d <seconds=10>]\n"
            "                          [-c <threads=20>] [-b <consume batch=1>] [-p <pull batch=32>]\n"
            "                          [--from first|last] [--json]\n"
            "  prints consume TPS and end-to-end latency (now - born timestamp) every second\n");
}

static int parse(bench *b, int argc, char **argv)
{
    if (argc < 2) return -1;
    if (strcmp(argv[1], "consume") == 0) b->consume = 1;
    else if (strcmp(argv[1], "produce") != 0) return -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--sync")) b->sync = 1;
        else if (!strcmp(a, "--async")) b->sync = 0;
        else if (!strcmp(a, "--json")) b->json = 1;
        else if (!v) return -1;
        else if (!strcmp(a, "-n")) b->ns = v, i++;
        else if (!strcmp(a, "-t")) b->topic = v, i++;
        else if (!strcmp(a, "-g")) b->group = v, i++;
        else if (!strcmp(a, "-s")) b->size = (size_t)atol(v), i++;
        else if (!strcmp(a, "-c")) b->concurrency = atoi(v), i++;
        else if (!strcmp(a, "-d")) b->seconds = atoi(v), i++;
        else if (!strcmp(a, "-m")) b->limit = atoll(v), i++;
        else if (!strcmp(a, "-b")) b->batch = atoi(v), i++;
        else if (!strcmp(a, "-p")) b->pull_batch = atoi(v), i++;
        else if (!strcmp(a, "--from")) b->from_first = !strcmp(v, "first"), i++;
        else return -1;
    }
    if (b->concurrency == 0) b->concurrency = b->consume ? 20 : 64;   /* not given */
    if (!b->ns || !b->topic || b->size == 0 || b->concurrency <= 0 || b->seconds <= 0) return -1;
    return 0;
}

static void progress(bench *b, int sec)
{
    snap s;
    hist_snap(&b->second, &s, 1);
    double avg = s.count ? (double)s.sum_us / (double)s.count / 1000.0 : 0;
    if (b->consume) {
        fprintf(b->json ? stderr : stdout,
                "[%4ds] consume tps: %8llu | avg e2e: %8.3f ms | p99 e2e: %8.3f ms | max e2e: %9.3f ms\n", sec,
                (unsigned long long)s.count, avg, pct_ms(&s, 0.99), (double)s.max_us / 1000.0);
        fflush(b->json ? stderr : stdout);
        return;
    }
    fprintf(b->json ? stderr : stdout,
            "[%4ds] send tps: %8llu | avg rt: %7.3f ms | p99 rt: %7.3f ms | max rt: %8.3f ms | failed: %llu\n", sec,
            (unsigned long long)s.count, avg, pct_ms(&s, 0.99), (double)s.max_us / 1000.0,
            (unsigned long long)atomic_load(&b->fails));
    fflush(b->json ? stderr : stdout);
}

static void summary(bench *b, double secs)
{
    static snap s;   /* large; main thread only */
    hist_snap(&b->total, &s, 0);
    if (b->consume) {
        double tps = secs > 0 ? (double)s.count / secs : 0;
        double avg = s.count ? (double)s.sum_us / (double)s.count / 1000.0 : 0;
        if (b->json)
            printf("{\"mode\":\"consume\",\"topic\":\"%s\",\"group\":\"%s\",\"threads\":%d,\"seconds\":%.3f,"
                   "\"consumed\":%llu,\"tps\":%.1f,\"e2e_avg_ms\":%.3f,\"e2e_p50_ms\":%.3f,\"e2e_p99_ms\":%.3f,"
                   "\"e2e_max_ms\":%.3f}\n",
                   b->topic, b->group, b->concurrency, secs, (unsigned long long)s.count, tps, avg, pct_ms(&s, 0.5),
                   pct_ms(&s, 0.99), (double)s.max_us / 1000.0);
        else
            printf("---\nsummary: consume %s as %s, %d threads, %.2f s\nconsumed %llu | tps %.0f | e2e avg %.3f ms | "
                   "p50 %.3f ms | p99 %.3f ms | max %.3f ms\n",
                   b->topic, b->group, b->concurrency, secs, (unsigned long long)s.count, tps, avg, pct_ms(&s, 0.5),
                   pct_ms(&s, 0.99), (double)s.max_us / 1000.0);
        return;
    }
    unsigned long long fails = atomic_load(&b->fails), not_ok = atomic_load(&b->not_ok);
    double tps = secs > 0 ? (double)s.count / secs : 0;
    double avg = s.count ? (double)s.sum_us / (double)s.count / 1000.0 : 0;
    if (b->json) {
        printf("{\"mode\":\"%s\",\"topic\":\"%s\",\"size\":%zu,\"concurrency\":%d,\"seconds\":%.3f,"
               "\"sent\":%llu,\"failed\":%llu,\"stored_not_ok\":%llu,\"tps\":%.1f,\"avg_ms\":%.3f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
               b->sync ? "sync" : "async", b->topic, b->size, b->concurrency, secs, (unsigned long long)s.count, fails,
               not_ok, tps, avg, pct_ms(&s, 0.5), pct_ms(&s, 0.99), pct_ms(&s, 0.999), (double)s.max_us / 1000.0);
    } else {
        printf("---\nsummary: mode %s, %zu-byte messages, concurrency %d, %.2f s\n", b->sync ? "sync" : "async",
               b->size, b->concurrency, secs);
        printf("sent %llu, failed %llu, stored but not SEND_OK %llu\n", (unsigned long long)s.count, fails, not_ok);
        printf("send tps %.0f | avg %.3f ms | p50 %.3f ms | p99 %.3f ms | p99.9 %.3f ms | max %.3f ms\n", tps, avg,
               pct_ms(&s, 0.5), pct_ms(&s, 0.99), pct_ms(&s, 0.999), (double)s.max_us / 1000.0);
    }
    if (atomic_load(&b->have_error)) fprintf(stderr, "first error: %s\n", b->first_error);
}

static kite_consume_status on_consumed(const kite_message_ext *const *msgs, size_t n, void *arg)
{
    bench *b = arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (size_t i = 0; i < n; i++) {
        int64_t d = now_ms - msgs[i]->born_timestamp;
        uint64_t us = d > 0 ? (uint64_t)d * 1000 : 0;
        hist_add(&b->total, us);
        hist_add(&b->second, us);
    }
    return KITE_CONSUME_SUCCESS;
}

static int run_consume(bench *b)
{
    kite_push_consumer_opts o;
    kite_push_consumer_opts_init(&o);
    o.namesrv_addr = b->ns;
    o.consume_threads = b->concurrency;
    if (b->batch > 0) o.consume_batch_size = b->batch;
    if (b->pull_batch > 0) o.pull_batch_size = b->pull_batch;
    o.consume_from = b->from_first ? KITE_CONSUME_FROM_FIRST_OFFSET : KITE_CONSUME_FROM_LAST_OFFSET;
    kite_push_consumer *c = NULL;
    int rc = kite_push_consumer_create(&c, b->group, &o);
    if (rc == KITE_OK) rc = kite_push_consumer_subscribe(c, b->topic, "*");
    if (rc == KITE_OK) rc = kite_push_consumer_set_listener(c, on_consumed, b);
    int64_t t0 = now_us();
    if (rc == KITE_OK) rc = kite_push_consumer_start(c);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite-bench: cannot start the consumer: %s\n", kite_strerror(rc));
        kite_push_consumer_destroy(c);
        return 2;
    }
    for (int sec = 1; sec <= b->seconds; sec++) {
        int64_t until = t0 + (int64_t)sec * 1000000;
        int64_t left;
        while ((left = until - now_us()) > 0)
            nanosleep(&(struct timespec){ left / 1000000, (long)(left % 1000000) * 1000 }, NULL);
        progress(b, sec);
    }
    double secs = (double)(now_us() - t0) / 1e6;
    kite_push_consumer_shutdown(c);
    summary(b, secs);
    kite_push_consumer_destroy(c);
    return 0;
}

int main(int argc, char **argv)
{
    static bench b;   /* holds two histograms; too big for the stack */
    b.size = 1024;
    b.seconds = 10;
    b.group = "kite_bench_producer";
    if (parse(&b, argc, argv) != 0) {
        usage();
        return 2;
    }
    if (b.consume) {
        if (!strcmp(b.group, "kite_bench_producer")) b.group = "kite_bench_consumer";
        return run_consume(&b);
    }
    b.body = malloc(b.size);
    if (!b.body) return 2;
    for (size_t i = 0; i < b.size; i++) b.body[i] = (char)('a' + i % 26);

    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = b.ns;
    o.max_in_flight = b.concurrency;
    int rc = kite_producer_create(&b.p, b.group, &o);
    if (rc == KITE_OK) rc = kite_producer_start(b.p);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite-bench: cannot start the producer: %s\n", kite_strerror(rc));
        kite_producer_destroy(b.p);
        free(b.body);
        return 2;
    }
    /* One send first: resolves the route (and auto-creates the topic) outside the timing. */
    kite_message *warm = new_msg(&b);
    kite_send_result wr;
    rc = kite_producer_send(b.p, warm, &wr);
    kite_message_destroy(warm);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite-bench: first send failed: %s: %s\n", kite_strerror(rc), wr.error);
        kite_producer_destroy(b.p);
        free(b.body);
        return 2;
    }

    int nthreads = b.sync ? b.concurrency : 1;
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    if (!th) return 2;
    int64_t t0 = now_us();
    for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, b.sync ? sync_sender : async_sender, &b);
    for (int sec = 1; sec <= b.seconds; sec++) {
        int64_t until = t0 + (int64_t)sec * 1000000;
        int64_t left;
        while ((left = until - now_us()) > 0)
            nanosleep(&(struct timespec){ left / 1000000, (long)(left % 1000000) * 1000 }, NULL);
        progress(&b, sec);
        if (b.limit > 0 && atomic_load(&b.issued) >= b.limit &&
            atomic_load(&b.total.count) + atomic_load(&b.fails) >= (uint64_t)b.limit)
            break;
    }
    atomic_store(&b.stop, 1);
    double secs = (double)(now_us() - t0) / 1e6;   /* the rate is over the sending period */
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    kite_producer_shutdown(b.p);   /* waits for async sends in flight */
    summary(&b, secs);
    kite_producer_destroy(b.p);
    free(th);
    free(b.body);
    return atomic_load(&b.fails) ? 1 : 0;
}
