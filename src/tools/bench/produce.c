/* produce.c - kite-bench produce: sends fixed-size messages to one topic through one
 * libkite producer and reports send rate and latency every second and at the end.
 *
 * Owns: the sending loops (async window, sync threads, fixed-rate schedule), the
 * produce progress line and summary. Uses only include/kite/.
 *
 * Modes
 * - --async (default), closed loop: one thread keeps up to -c sends in flight (the
 *   producer's max_in_flight); latency = callback time - call time.
 * - --sync, closed loop: -c threads share the producer, each waiting for its answer;
 *   latency = return time - call time.
 * - --rate N, open loop (either of the above): message i is due at start + i/N seconds
 *   whatever happened to earlier ones; a sender sleeps until the due time, and latency is
 *   measured FROM THE DUE TIME, not from the moment the call was made. A stall (broker
 *   pause, full in-flight window, busy sync threads) therefore shows up in the latency of
 *   every message that should have been sent during it, instead of silently lowering the
 *   send rate ("coordinated omission"). The progress line also shows how late the sender
 *   itself was ("behind"). With --async, -c defaults to 1000 in flight here. The summary
 *   adds the same sends measured from the call ("call_p99_ms"...), the way load tools
 *   without a schedule measure (the peers' nats_bench.c and bench.js do), for
 *   side-by-side figures; the difference is time the sender itself was late.
 *
 * Threads: senders as above; async callbacks run on the producer's I/O thread and only
 * touch atomics; the main thread reports. Exit code: 0 ok, 1 failures, 2 start error. */
#include "produce.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

static void atomic_max64(atomic_int_fast64_t *a, int64_t v)
{
    int_fast64_t m = atomic_load_explicit(a, memory_order_relaxed);
    while (v > m && !atomic_compare_exchange_weak(a, &m, v)) {
    }
}

static void note_error(kite_bench *b, int rc, const char *detail)
{
    atomic_fetch_add(&b->fails, 1);
    int expect = 0;
    if (atomic_compare_exchange_strong(&b->have_error, &expect, 1))
        snprintf(b->first_error, sizeof b->first_error, "%.40s: %.270s", kite_strerror(rc),
                 detail ? detail : "");
}

/* start_us: where the latency counts from (the due time with --rate); call_us: when the
 * send call was made (recorded separately with --rate). */
static void record(kite_bench *b, int rc, const kite_send_result *r, int64_t start_us,
                   int64_t call_us)
{
    if (rc != KITE_OK) {
        note_error(b, rc, r ? r->error : NULL);
        return;
    }
    if (r->status != KITE_SEND_OK) atomic_fetch_add(&b->not_ok, 1);
    int64_t now = kite_bench_now_us();
    uint64_t us = now > start_us ? (uint64_t)(now - start_us) : 0;
    kite_bench_hist_add(&b->total, us);
    kite_bench_hist_add(&b->second, us);
    if (b->rate > 0)
        kite_bench_hist_add(&b->total_call, now > call_us ? (uint64_t)(now - call_us) : 0);
    atomic_max64(&b->last_us, now);
}

/* Takes the next message slot. 0 = the run is over. Closed loop: *due_us = now. With
 * --rate: sleeps until the slot's due time and sets *due_us to it (see the intro). */
static int next_slot(kite_bench *b, int64_t *due_us)
{
    if (atomic_load(&b->stop)) return 0;
    long long i = atomic_fetch_add(&b->issued, 1);
    if (b->limit > 0 && i >= b->limit) return 0;
    if (b->rate <= 0) {
        *due_us = kite_bench_now_us();
        return 1;
    }
    int64_t due = b->start_us + (int64_t)((double)i * 1e6 / b->rate);
    if (due >= b->end_us) return 0;
    int64_t now;
    while ((now = kite_bench_now_us()) < due) {
        if (atomic_load(&b->stop)) return 0;
        kite_bench_sleep_until(due - now > 100000 ? now + 100000
                                                  : due); /* sees stop within 0.1 s */
    }
    atomic_max64(&b->behind_us, now - due);
    *due_us = due;
    return 1;
}

static kite_message *new_msg(kite_bench *b)
{
    kite_message *m = kite_message_new(b->topic);
    if (m) kite_message_set_body_ref(m, b->body, b->size);
    return m;
}

/* --rate: wake from the schedule's sleeps within ~1 us instead of the default 50 us slack. */
static void punctual(kite_bench *b)
{
    if (b->rate > 0 && prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0) != 0)
        perror("kite-bench: PR_SET_TIMERSLACK");
}

static void *sync_sender(void *arg)
{
    kite_bench *b = arg;
    punctual(b);
    kite_message *m = new_msg(b);
    if (!m) return NULL;
    int64_t t0;
    while (next_slot(b, &t0)) {
        kite_send_result r;
        int64_t call = kite_bench_now_us();
        int rc = kite_producer_send(b->p, m, &r);
        record(b, rc, &r, t0, call);
    }
    kite_message_destroy(m);
    return NULL;
}

typedef struct async_ctx {
    kite_bench *b;
    int64_t start_us, call_us;
} async_ctx;

static void on_sent(int status, const kite_send_result *res, void *arg)
{
    async_ctx *c = arg;
    record(c->b, status, res, c->start_us, c->call_us);
    free(c);
}

static void *async_sender(void *arg)
{
    kite_bench *b = arg;
    punctual(b);
    kite_message *m = new_msg(b);
    if (!m) return NULL;
    int64_t t0;
    while (next_slot(b, &t0)) {
        async_ctx *c = malloc(sizeof *c);
        if (!c) { /* out of memory: abort, as libkite does (kite.h) */
            fputs("kite-bench: out of memory\n", stderr);
            abort();
        }
        c->b = b;
        c->start_us = t0;
        c->call_us = kite_bench_now_us();
        int rc = kite_producer_send_async(b->p, m, on_sent, c); /* blocks at max_in_flight */
        if (rc != KITE_OK) {
            free(c);
            note_error(b, rc, "send_async refused");
        }
    }
    kite_message_destroy(m);
    return NULL;
}

static void progress(kite_bench *b, int sec, kite_bench_snap *s)
{
    kite_bench_hist_snap(&b->second, s, 1);
    FILE *out = KITE_BENCH_OUT(b);
    fprintf(
        out,
        "[%4ds] send tps: %8llu | avg rt: %7.3f ms | p50 rt: %7.3f ms | p90 rt: %7.3f ms | p99 rt: %7.3f ms"
        " | p99.9 rt: %7.3f ms | max rt: %8.3f ms | failed: %llu",
        sec, (unsigned long long)s->count, kite_bench_avg_ms(s), kite_bench_pct_ms(s, 0.5),
        kite_bench_pct_ms(s, 0.9), kite_bench_pct_ms(s, 0.99), kite_bench_pct_ms(s, 0.999),
        kite_bench_max_ms(s), (unsigned long long)atomic_load(&b->fails));
    if (b->rate > 0)
        fprintf(out, " | behind: %.3f ms", (double)atomic_exchange(&b->behind_us, 0) / 1000.0);
    fputc('\n', out);
    fflush(out);
}

/* --rate only: the same sends measured from the call, as tools without a schedule do. */
static void summary_call(kite_bench *b, kite_bench_snap *s)
{
    kite_bench_hist_snap(&b->total_call, s, 0);
    if (b->json)
        printf(
            ",\"call_p50_ms\":%.3f,\"call_p90_ms\":%.3f,\"call_p99_ms\":%.3f,\"call_p999_ms\":%.3f,"
            "\"call_max_ms\":%.3f",
            kite_bench_pct_ms(s, 0.5), kite_bench_pct_ms(s, 0.9), kite_bench_pct_ms(s, 0.99),
            kite_bench_pct_ms(s, 0.999), kite_bench_max_ms(s));
    else
        printf(
            "from the call instead: p50 %.3f ms | p90 %.3f ms | p99 %.3f ms | p99.9 %.3f ms | max %.3f ms\n",
            kite_bench_pct_ms(s, 0.5), kite_bench_pct_ms(s, 0.9), kite_bench_pct_ms(s, 0.99),
            kite_bench_pct_ms(s, 0.999), kite_bench_max_ms(s));
}

static void summary(kite_bench *b, double secs, kite_bench_snap *s)
{
    kite_bench_hist_snap(&b->total, s, 0);
    unsigned long long fails = atomic_load(&b->fails), not_ok = atomic_load(&b->not_ok);
    double tps = secs > 0 ? (double)s->count / secs : 0;
    const char *mode = b->sync ? "sync" : "async";
    const char *from = b->rate > 0 ? "intended" : "call"; /* where each latency starts */
    if (b->json) {
        printf(
            "{\"mode\":\"%s\",\"topic\":\"%s\",\"size\":%zu,\"concurrency\":%d,\"rate\":%.0f,"
            "\"latency_from\":\"%s\","
            "\"seconds\":%.3f,\"sent\":%llu,\"failed\":%llu,\"stored_not_ok\":%llu,\"tps\":%.1f,\"avg_ms\":%.3f,"
            "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f",
            mode, b->topic, b->size, b->concurrency, b->rate, from, secs,
            (unsigned long long)s->count, fails, not_ok, tps, kite_bench_avg_ms(s),
            kite_bench_pct_ms(s, 0.5), kite_bench_pct_ms(s, 0.9), kite_bench_pct_ms(s, 0.99),
            kite_bench_pct_ms(s, 0.999), kite_bench_max_ms(s));
        if (b->rate > 0) summary_call(b, s);
        printf("}\n");
    } else {
        printf("---\nsummary: mode %s, %zu-byte messages, concurrency %d, %.2f s", mode, b->size,
               b->concurrency, secs);
        if (b->rate > 0)
            printf(", fixed rate %.0f msgs/s (latency from the intended send time)", b->rate);
        printf("\nsent %llu, failed %llu, stored but not SEND_OK %llu\n",
               (unsigned long long)s->count, fails, not_ok);
        printf(
            "send tps %.0f | avg %.3f ms | p50 %.3f ms | p90 %.3f ms | p99 %.3f ms | p99.9 %.3f ms | max %.3f ms\n",
            tps, kite_bench_avg_ms(s), kite_bench_pct_ms(s, 0.5), kite_bench_pct_ms(s, 0.9),
            kite_bench_pct_ms(s, 0.99), kite_bench_pct_ms(s, 0.999), kite_bench_max_ms(s));
        if (b->rate > 0) summary_call(b, s);
    }
    if (b->rate > 0 && tps < 0.95 * b->rate)
        fprintf(
            stderr,
            "kite-bench: only %.0f of the %.0f msgs/s asked were sent: overloaded; the latencies include "
            "the time messages waited for their turn\n",
            tps, b->rate);
    if (atomic_load(&b->have_error)) fprintf(stderr, "first error: %s\n", b->first_error);
}

static int all_done(kite_bench *b)
{
    if (b->limit <= 0 || atomic_load(&b->issued) < b->limit) return 0;
    return atomic_load(&b->total.count) + atomic_load(&b->fails) >= (uint64_t)b->limit;
}

/* Reports every second until -d ends or every -m message has completed. Returns the
 * length of the sending period in seconds. */
static double report_loop(kite_bench *b, kite_bench_snap *s)
{
    for (int sec = 1;;) {
        int64_t now = kite_bench_now_us(), tick = b->start_us + (int64_t)sec * 1000000;
        if (now >= tick) {
            progress(b, sec, s);
            if (sec++ >= b->seconds) return (double)(now - b->start_us) / 1e6;
            continue;
        }
        if (all_done(b)) {
            int64_t last = atomic_load(&b->last_us);
            return (double)((last > b->start_us ? last : now) - b->start_us) / 1e6;
        }
        kite_bench_sleep_until(now + 10000 < tick ? now + 10000 : tick);
    }
}

static int start_producer(kite_bench *b)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = b->ns;
    o.tls = b->tls;
    o.credentials.access_key = b->access_key;
    o.credentials.secret_key = b->secret_key;
    o.max_in_flight = b->concurrency;
    int rc = kite_producer_create(&b->p, b->group, &o);
    if (rc == KITE_OK) rc = kite_producer_start(b->p);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite-bench: cannot start the producer: %s\n", kite_strerror(rc));
        return -1;
    }
    /* One send first: resolves the route (and auto-creates the topic) outside the timing. */
    kite_message *warm = new_msg(b);
    kite_send_result wr;
    memset(&wr, 0, sizeof wr);
    rc = warm ? kite_producer_send(b->p, warm, &wr) : KITE_EINVAL; /* NULL: empty topic */
    kite_message_destroy(warm);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite-bench: first send failed: %s: %s\n", kite_strerror(rc), wr.error);
        return -1;
    }
    return 0;
}

int kite_bench_run_produce(kite_bench *b)
{
    if (b->rate > 0 && !b->sync && !b->concurrency_given) b->concurrency = 1000;
    b->body = malloc(b->size);
    kite_bench_snap *s = malloc(sizeof *s);
    int nthreads = b->sync ? b->concurrency : 1;
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    int code = 2;
    if (!b->body || !s || !th) goto out;
    for (size_t i = 0; i < b->size; i++) b->body[i] = (char)('a' + i % 26);
    if (start_producer(b) != 0) goto out;

    b->start_us = kite_bench_now_us();
    b->end_us = b->start_us + (int64_t)b->seconds * 1000000;
    int started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&th[started], NULL, b->sync ? sync_sender : async_sender, b) != 0) break;
    if (started == 0) {
        fprintf(stderr, "kite-bench: cannot start sender threads\n");
        goto out;
    }
    double secs = report_loop(b, s);
    atomic_store(&b->stop, 1);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    kite_producer_shutdown(b->p); /* waits for async sends in flight */
    summary(b, secs, s);
    code = atomic_load(&b->fails) ? 1 : 0;
out:
    kite_producer_destroy(b->p);
    b->p = NULL;
    free(th);
    free(s);
    free(b->body);
    b->body = NULL;
    return code;
}
