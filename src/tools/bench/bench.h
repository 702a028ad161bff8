/* bench.h - what kite-bench's modes share: the options of one run, its counters and
 * histograms, and the clock helpers.
 *
 * Owns: the kite_bench run record (filled by main.c from argv, then used by exactly one
 * mode: produce.c, consume.c or startup.c). Does not own any network code. Threads: the
 * options are written before any thread starts and only read afterwards; the counters
 * and histograms are atomics, written by sender threads, producer callbacks or consumer
 * workers and read by the reporting (main) thread. One run record per process, owned
 * by main() - no globals. */
#ifndef KITE_BENCH_BENCH_H
#define KITE_BENCH_BENCH_H

#include "hist.h"
#include "kite/kite.h"
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct kite_bench {
    /* ---- options (argv) ---- */
    const char *ns, *topic, *group;
    const char *access_key, *secret_key; /* --ak / --sk: sign as this plain-ACL account */
    size_t size;
    int concurrency; /* produce: in flight (async) or threads (sync); consume: workers */
    int concurrency_given;
    int seconds, seconds_given, json, sync;
    int consume, batch, pull_batch, from_first, orderly, broadcast;
    double rate;       /* produce: msgs/s on a fixed schedule; 0 = closed loop */
    long long limit;   /* -m: produce/consume this many, then stop; 0 = until -d ends */
    kite_tls_opts tls; /* --tls, --tls-ca, --tls-cert, --tls-key, --tls-no-verify */

    /* ---- run state ---- */
    kite_producer *p;
    char *body;
    int64_t start_us; /* monotonic start; the --rate schedule counts from here */
    int64_t end_us;   /* --rate: no message is scheduled at or after this */
    atomic_int stop;
    atomic_llong issued;                   /* produce: sends started (or scheduled slots taken) */
    atomic_llong done;                     /* consume: messages handed to the listener */
    atomic_int_fast64_t first_us, last_us; /* first and last completion (monotonic us) */
    atomic_int_fast64_t behind_us;         /* --rate: worst lateness of a send this second */
    atomic_uint_fast64_t fails, not_ok;    /* failures; stored with a non-SEND_OK status */
    kite_bench_hist total, second;         /* second is drained by the reporter each second */
    kite_bench_hist total_call; /* --rate: latency from the actual call instead of the due time */
    char first_error[320];
    atomic_int have_error;
} kite_bench;

static inline int64_t kite_bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wall clock in ms since the epoch (the unit of born timestamps). */
static inline int64_t kite_bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps until the monotonic time t_us (returns at once when it has passed). */
static inline void kite_bench_sleep_until(int64_t t_us)
{
    struct timespec ts = { (time_t)(t_us / 1000000), (long)(t_us % 1000000) * 1000 };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Where progress lines go: stdout, or stderr when --json keeps stdout for the summary. */
#define KITE_BENCH_OUT(b) ((b)->json ? stderr : stdout)

#endif
