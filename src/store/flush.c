/* flush.c - commit-log flush services: ASYNC_FLUSH interval flushing, SYNC_FLUSH group
 * commit with its waiters, the sync-timeout watcher, and fail-stop on a failed sync.
 *
 * Owns: the waiter queue (a ring in put order, so completion is always a prefix) and
 * completing each SYNC put exactly once. Does not own: the sync itself (kite_cl_flush).
 * Threads: kite_flush_enqueue runs under the put lock; the flush thread syncs without
 * holding fmu and completes waiters; the watcher completes waiters whose deadline passed
 * while a sync is slow. Callbacks run outside fmu. Group commit: one sync covers every
 * put appended before it started. See docs/store-format.md, "What is durable when". */
#include "store/store_int.h"
#include "base/thread.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void wq_push(kite_waitq *q, const kite_waiter *w)
{
    if (q->count == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 1024;
        kite_waiter *v = kite_xcalloc(nc, sizeof *v);
        for (size_t i = 0; i < q->count; i++) v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = v;
        q->cap = nc;
        q->head = 0;
    }
    q->v[(q->head + q->count) % q->cap] = *w;
    q->count++;
}

static kite_waiter *wq_front(kite_waitq *q) { return q->count ? &q->v[q->head] : NULL; }
static void wq_pop(kite_waitq *q)
{
    q->head = (q->head + 1) % q->cap;
    q->count--;
}

void kite_flush_enqueue(kite_store *s, const kite_waiter *w)
{
    pthread_mutex_lock(&s->fmu);
    int was_empty = s->wq.count == 0;
    wq_push(&s->wq, w);
    int refilled = s->fl_want > 0 && s->wq.count == s->fl_want;
    pthread_mutex_unlock(&s->fmu);
    if (refilled) pthread_cond_signal(&s->fcond);
    if (was_empty) {
        pthread_cond_signal(&s->fcond);
        pthread_cond_signal(&s->wcond);
    }
}

typedef struct batch {
    kite_waiter *v;
    size_t n, cap;
} batch;

static void batch_add(batch *b, const kite_waiter *w)
{
    b->v = kite_xgrow(b->v, &b->cap, b->n + 1, sizeof *b->v, 256);
    b->v[b->n++] = *w;
}

static void batch_run(batch *b, kite_put_status st, int err)
{
    for (size_t i = 0; i < b->n; i++) {
        kite_waiter *w = &b->v[i];
        w->res.status = st;
        w->res.err = err;
        w->cb(w->arg, &w->res);
    }
    b->n = 0;
}

void kite_flush_fail(kite_store *s, int status)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&s->failed, &expected, status))
        KLOG_ERROR("store",
                   "commit log sync failed (%s): the store stops accepting writes until "
                   "it is restarted and recovered; unsynced messages are not acknowledged",
                   kite_strerror(status));
}

/* Takes every waiter whose target is durable (or all, when failing). Caller holds fmu. */
static void take_done(kite_store *s, batch *ok, batch *bad)
{
    int64_t flushed = atomic_load(&s->flushed);
    int failed = atomic_load(&s->failed);
    kite_waiter *w;
    while ((w = wq_front(&s->wq)) != NULL) {
        if (w->target <= flushed)
            batch_add(ok, w);
        else if (failed)
            batch_add(bad, w);
        else
            break;
        wq_pop(&s->wq);
    }
}

/* Group commit: a sync covers every put queued when it starts. The writers woken by one
 * sync's completions need a moment (wake-up, put lock) to queue their next puts; syncing
 * again at once would cover only the first few of them and leave the rest for the sync
 * after. So after completing n puts the thread waits until n puts are queued again, but
 * never longer than a quarter of the last sync's duration (at most 2 ms): a put then
 * waits at most ~1.25 syncs, and a lone writer (n = 1) is never delayed. */
static void await_refill(kite_store *s, size_t n, int64_t last_sync_us)
{
    if (n < 2) return;
    int64_t budget = last_sync_us / 4;
    if (budget > 2000) budget = 2000;
    if (budget < 20) return;
    int64_t deadline = kite_mono_us() + budget;
    s->fl_want = n;
    for (;;) {
        if (s->wq.count >= n || atomic_load(&s->stop)) break;
        int64_t left = deadline - kite_mono_us();
        if (left <= 0) break;
        kite_cond_wait_us(&s->fcond, &s->fmu, left);
    }
    s->fl_want = 0;
}

static void *sync_thread(void *arg)
{
    kite_thread_name("kite-groupsync"); /* on the path of every SYNC_FLUSH answer */
    kite_store *s = arg;
    batch ok = { 0 }, bad = { 0 };
    int64_t last_sync_us = 0;
    pthread_mutex_lock(&s->fmu);
    for (;;) {
        int stopping = atomic_load(&s->stop);
        int64_t max = atomic_load_explicit(&s->max_offset, memory_order_acquire);
        int dirty = max > atomic_load(&s->flushed) && !atomic_load(&s->failed);
        if (!dirty) {
            take_done(s, &ok, &bad);
            if (stopping && s->wq.count == 0 && ok.n == 0 && bad.n == 0) break;
            if (ok.n == 0 && bad.n == 0) {
                kite_cond_wait_us(&s->fcond, &s->fmu, stopping ? 1000 : 10000);
                continue;
            }
        }
        pthread_mutex_unlock(&s->fmu);
        if (dirty) {
            int64_t t0 = kite_mono_us();
            int rc = kite_cl_flush(s, max);
            last_sync_us = kite_mono_us() - t0;
            if (rc < 0)
                kite_flush_fail(s, rc);
            else
                kite_dispatch_wake(s);
        }
        pthread_mutex_lock(&s->fmu);
        take_done(s, &ok, &bad);
        pthread_mutex_unlock(&s->fmu);
        size_t completed = ok.n;
        batch_run(&ok, KITE_PUT_OK, KITE_OK);
        batch_run(&bad, KITE_PUT_FLUSH_FAILED, atomic_load(&s->failed));
        pthread_mutex_lock(&s->fmu);
        if (!atomic_load(&s->failed)) await_refill(s, completed, last_sync_us);
    }
    pthread_mutex_unlock(&s->fmu);
    free(ok.v);
    free(bad.v);
    return NULL;
}

static void *watch_thread(void *arg)
{
    kite_thread_name("kite-syncwatch");
    kite_store *s = arg;
    batch late = { 0 };
    pthread_mutex_lock(&s->fmu);
    while (!atomic_load(&s->stop)) {
        int64_t now = kite_mono_ms();
        kite_waiter *w;
        while ((w = wq_front(&s->wq)) != NULL && w->deadline_ms <= now) {
            batch_add(&late, w);
            wq_pop(&s->wq);
        }
        if (late.n) {
            pthread_mutex_unlock(&s->fmu);
            KLOG_WARN("store", "%zu puts not durable within %d ms: FLUSH_DISK_TIMEOUT", late.n,
                      s->o.sync_flush_timeout_ms);
            batch_run(&late, KITE_PUT_FLUSH_DISK_TIMEOUT, KITE_ETIMEDOUT);
            pthread_mutex_lock(&s->fmu);
            continue;
        }
        w = wq_front(&s->wq);
        int64_t wait = w ? kite_deadline_left_ms(w->deadline_ms) : 50;
        kite_cond_wait_us(&s->wcond, &s->fmu, (wait < 1 ? 1 : wait > 50 ? 50 : wait) * 1000);
    }
    pthread_mutex_unlock(&s->fmu);
    free(late.v);
    return NULL;
}

static void *async_thread(void *arg)
{
    kite_thread_name("kite-flush");
    kite_store *s = arg;
    int64_t last_thorough = kite_mono_ms(), prev_max = -1;
    pthread_mutex_lock(&s->fmu);
    while (!atomic_load(&s->stop)) {
        kite_cond_wait_us(&s->fcond, &s->fmu, (int64_t)s->o.flush_interval_ms * 1000);
        if (atomic_load(&s->stop)) break;
        pthread_mutex_unlock(&s->fmu);
        int64_t max = atomic_load_explicit(&s->max_offset, memory_order_acquire);
        /* While the writer is busy, only whole pages behind it are written back. Writing
         * back the page it is filling write-protects that page, and its next store then
         * faults into the file system (mtime, journal) and can wait for a journal commit:
         * that was the millisecond tail of send latency under ASYNC_FLUSH. The partial
         * page goes out once the writer has been idle for one interval, or is full. */
        int64_t upto = max == prev_max ? max : max - max % 4096;
        prev_max = max;
        int64_t dirty = upto - atomic_load(&s->flushed);
        int64_t now = kite_mono_ms();
        int thorough = now - last_thorough >= s->o.flush_thorough_interval_ms;
        if (dirty > 0 && !atomic_load(&s->failed) &&
            (thorough || dirty >= (int64_t)s->o.flush_least_pages * 4096)) {
            int rc = kite_cl_flush(s, upto);
            if (rc < 0) kite_flush_fail(s, rc);
            if (thorough) last_thorough = now;
        }
        pthread_mutex_lock(&s->fmu);
    }
    pthread_mutex_unlock(&s->fmu);
    return NULL;
}

int kite_flush_start(kite_store *s)
{
    int sync = s->o.flush_type == KITE_FLUSH_SYNC;
    int rc = pthread_create(&s->flush_thr, NULL, sync ? sync_thread : async_thread, s);
    if (rc != 0) return kite_status_from_errno(rc);
    if (sync && (rc = pthread_create(&s->watch_thr, NULL, watch_thread, s)) != 0) {
        atomic_store(&s->stop, 1);
        pthread_cond_broadcast(&s->fcond);
        pthread_join(s->flush_thr, NULL);
        return kite_status_from_errno(rc);
    }
    return 0;
}

void kite_flush_stop(kite_store *s)
{
    pthread_mutex_lock(&s->fmu);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->fcond);
    pthread_cond_broadcast(&s->wcond);
    pthread_mutex_unlock(&s->fmu);
    pthread_join(s->flush_thr, NULL);
    if (s->o.flush_type == KITE_FLUSH_SYNC) pthread_join(s->watch_thr, NULL);
}
