/* pending.c - in-flight request table: open addressing on (conn id, opaque), entries
 * stored in the slots, and one sweep timer per table instead of a timer per entry.
 *
 * Timeouts: every entry has a deadline (monotonic ms). The sweep timer is armed for the
 * earliest deadline known: an entry added with an earlier deadline than the armed one
 * re-arms it (rare: the same kind of call usually has the same timeout, so deadlines
 * arrive in order); a sweep fails the expired entries and re-arms for the earliest
 * deadline left. A completed entry leaves the timer alone: a sweep that finds nothing
 * due only re-arms. So a call costs no timer work at all in the common case, where a
 * per-entry heap timer cost an insertion and a removal.
 *
 * Removal shifts the following entries of the probe run back (no tombstones), so the
 * table only reallocates when it grows: with tombstones, a steady stream of calls
 * rebuilt it every few hundred requests, and the freed block at the heap top made malloc
 * hand memory back and fault it in again. */
#include "rpc/pending.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/time.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { S_EMPTY, S_LIVE };

typedef struct entry {
    uint64_t conn_id;
    int32_t opaque;
    int state;
    int64_t deadline;
    kite_rpc_cb cb;
    void *arg;
} entry;

struct kite_rpc_pending {
    kite_ev *ev;
    entry *slots;
    size_t cap, count;    /* cap: 0 or a power of two; count: live entries */
    kite_ev_timer *sweep; /* armed for sweep_at, or NULL */
    int64_t sweep_at;
};

static atomic_int g_opaque; /* process-wide request id counter, like Java's */

int32_t kite_rpc_next_opaque(void) { return atomic_fetch_add(&g_opaque, 1) & 0x7FFFFFFF; }

kite_rpc_pending *kite_rpc_pending_new(kite_ev *ev)
{
    kite_rpc_pending *p = kite_xcalloc(1, sizeof *p);
    p->ev = ev;
    return p;
}

static size_t hash(uint64_t conn, int32_t opaque)
{
    uint64_t h = conn * 0x9E3779B97F4A7C15ULL ^ (uint32_t)opaque;
    h ^= h >> 29;
    return (size_t)(h * 0xBF58476D1CE4E5B9ULL);
}

static entry *find(kite_rpc_pending *p, uint64_t conn, int32_t opaque)
{
    if (!p->cap) return NULL;
    size_t mask = p->cap - 1;
    for (size_t i = hash(conn, opaque) & mask;; i = (i + 1) & mask) {
        entry *e = &p->slots[i];
        if (e->state == S_EMPTY) return NULL;
        if (e->conn_id == conn && e->opaque == opaque) return e;
    }
}

static void grow(kite_rpc_pending *p)
{
    size_t cap = p->cap ? p->cap * 2 : 64;
    entry *old = p->slots;
    size_t oldcap = p->cap;
    p->slots = kite_xcalloc(cap, sizeof *p->slots);
    p->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].state != S_LIVE) continue;
        size_t j = hash(old[i].conn_id, old[i].opaque) & (cap - 1);
        while (p->slots[j].state != S_EMPTY) j = (j + 1) & (cap - 1);
        p->slots[j] = old[i];
    }
    free(old);
}

static void on_sweep(kite_ev *ev, kite_ev_timer *t, void *arg);

static void arm(kite_rpc_pending *p, int64_t at)
{
    if (p->sweep) kite_ev_timer_cancel(p->ev, p->sweep);
    p->sweep = kite_ev_timer_add(p->ev, kite_deadline_left_ms(at), 0, on_sweep, p);
    p->sweep_at = at;
}

/* Takes a live entry out of the table: later entries of its probe run that may live
 * closer to their home slot move back into the hole (linear-probing deletion). */
static entry take(kite_rpc_pending *p, entry *e)
{
    entry out = *e;
    size_t mask = p->cap - 1, hole = (size_t)(e - p->slots);
    for (size_t j = (hole + 1) & mask; p->slots[j].state == S_LIVE; j = (j + 1) & mask) {
        size_t home = hash(p->slots[j].conn_id, p->slots[j].opaque) & mask;
        /* The entry at j stays when its home lies cyclically in (hole, j]. */
        if (((j - home) & mask) < ((j - hole) & mask)) continue;
        p->slots[hole] = p->slots[j];
        hole = j;
    }
    p->slots[hole].state = S_EMPTY;
    p->count--;
    return out;
}

/* Takes out the entries that match (all, or of one connection, or due by `due`), then
 * runs their callbacks: a callback may add requests (and so resize the table). The
 * matches are listed first and taken out afterwards, as a removal moves entries. */
static void fail_matching(kite_rpc_pending *p, int all, uint64_t conn_id, int64_t due, int status)
{
    entry *victims = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < p->cap; i++) {
        entry *e = &p->slots[i];
        if (e->state != S_LIVE) continue;
        if (!all && (due >= 0 ? e->deadline > due : e->conn_id != conn_id)) continue;
        victims = kite_xgrow(victims, &cap, n + 1, sizeof *victims, 16);
        victims[n++] = *e;
    }
    for (size_t i = 0; i < n; i++) take(p, find(p, victims[i].conn_id, victims[i].opaque));
    for (size_t i = 0; i < n; i++) victims[i].cb(status, NULL, victims[i].arg);
    free(victims);
}

static void on_sweep(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_rpc_pending *p = arg;
    (void)t;
    p->sweep = NULL; /* the loop frees a one-shot timer after this callback */
    int64_t now = kite_ev_now(ev);
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < p->cap; i++)
        if (p->slots[i].state == S_LIVE && p->slots[i].deadline > now &&
            p->slots[i].deadline < next)
            next = p->slots[i].deadline;
    if (next != INT64_MAX) arm(p, next);
    fail_matching(p, 0, 0, now, KITE_ETIMEDOUT);
}

void kite_rpc_pending_add(kite_rpc_pending *p, uint64_t conn_id, int32_t opaque, int64_t timeout_ms,
                          kite_rpc_cb cb, void *arg)
{
    if ((p->count + 1) * 4 >= p->cap * 3) grow(p);
    size_t mask = p->cap - 1, i = hash(conn_id, opaque) & mask;
    while (p->slots[i].state == S_LIVE) i = (i + 1) & mask;
    entry *e = &p->slots[i];
    e->conn_id = conn_id;
    e->opaque = opaque;
    e->state = S_LIVE;
    e->deadline = kite_deadline_ms(timeout_ms);
    e->cb = cb;
    e->arg = arg;
    p->count++;
    if (!p->sweep || e->deadline < p->sweep_at) arm(p, e->deadline);
}

int kite_rpc_pending_complete(kite_rpc_pending *p, uint64_t conn_id, kite_cmd *resp)
{
    entry *s = find(p, conn_id, resp->opaque);
    if (!s) return 0;
    entry e = take(p, s);
    e.cb(KITE_OK, resp, e.arg);
    return 1;
}

void kite_rpc_pending_fail_conn(kite_rpc_pending *p, uint64_t conn_id, int status)
{
    fail_matching(p, 0, conn_id, -1, status);
}

size_t kite_rpc_pending_count(const kite_rpc_pending *p) { return p->count; }

void kite_rpc_pending_free(kite_rpc_pending *p)
{
    if (!p) return;
    fail_matching(p, 1, 0, -1, KITE_ECLOSED);
    if (p->sweep) kite_ev_timer_cancel(p->ev, p->sweep);
    free(p->slots);
    free(p);
}
