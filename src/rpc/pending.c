/* pending.c - in-flight request table: open-addressing hash on (conn id, opaque)
 * with a per-entry one-shot timer. */
#include "rpc/pending.h"
#include "base/err.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    uint64_t conn_id;
    int32_t opaque;
    int used;              /* 0 empty, 1 live, 2 tombstone */
    kite_rpc_cb cb;
    void *arg;
    kite_ev_timer *timer;
    struct kite_rpc_pending *owner;
} entry;

struct kite_rpc_pending {
    kite_ev *ev;
    entry **slots;         /* entries are heap objects so timers can point at them */
    size_t cap, count, used;
};

static atomic_int g_opaque;   /* process-wide request id counter, like Java's */

int32_t kite_rpc_next_opaque(void)
{
    return atomic_fetch_add(&g_opaque, 1) & 0x7FFFFFFF;
}

kite_rpc_pending *kite_rpc_pending_new(kite_ev *ev)
{
    kite_rpc_pending *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->ev = ev;
    return p;
}

static size_t hash(uint64_t conn, int32_t opaque)
{
    uint64_t h = conn * 0x9E3779B97F4A7C15ULL ^ (uint32_t)opaque;
    h ^= h >> 29;
    return (size_t)(h * 0xBF58476D1CE4E5B9ULL);
}

#define TOMB ((entry *)1)

static entry **find_slot(kite_rpc_pending *p, uint64_t conn, int32_t opaque)
{
    if (!p->cap) return NULL;
    size_t mask = p->cap - 1;
    for (size_t i = hash(conn, opaque) & mask;; i = (i + 1) & mask) {
        entry *e = p->slots[i];
        if (!e) return NULL;
        if (e != TOMB && e->conn_id == conn && e->opaque == opaque) return &p->slots[i];
    }
}

static void grow(kite_rpc_pending *p)
{
    size_t cap = p->cap ? p->cap * 2 : 64;
    if (p->count * 2 < p->cap) cap = p->cap;   /* just clean tombstones */
    entry **old = p->slots;
    size_t oldcap = p->cap;
    p->slots = calloc(cap, sizeof *p->slots);
    if (!p->slots) abort();
    p->cap = cap;
    p->used = p->count;
    for (size_t i = 0; i < oldcap; i++) {
        entry *e = old[i];
        if (!e || e == TOMB) continue;
        size_t j = hash(e->conn_id, e->opaque) & (cap - 1);
        while (p->slots[j]) j = (j + 1) & (cap - 1);
        p->slots[j] = e;
    }
    free(old);
}

static void on_timeout(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    entry *e = arg;
    (void)ev;
    (void)t;
    kite_rpc_pending *p = e->owner;
    entry **s = find_slot(p, e->conn_id, e->opaque);
    if (s) {
        *s = TOMB;
        p->count--;
    }
    e->timer = NULL;   /* the loop frees a one-shot timer after this callback */
    e->cb(KITE_ETIMEDOUT, NULL, e->arg);
    free(e);
}

void kite_rpc_pending_add(kite_rpc_pending *p, uint64_t conn_id, int32_t opaque, int64_t timeout_ms,
                          kite_rpc_cb cb, void *arg)
{
    if ((p->used + 1) * 4 >= p->cap * 3) grow(p);
    entry *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->conn_id = conn_id;
    e->opaque = opaque;
    e->cb = cb;
    e->arg = arg;
    e->owner = p;
    size_t mask = p->cap - 1, i = hash(conn_id, opaque) & mask;
    while (p->slots[i] && p->slots[i] != TOMB) i = (i + 1) & mask;
    if (!p->slots[i]) p->used++;
    p->slots[i] = e;
    p->count++;
    e->timer = kite_ev_timer_add(p->ev, timeout_ms, 0, on_timeout, e);
}

static entry *take(kite_rpc_pending *p, entry **s)
{
    entry *e = *s;
    *s = TOMB;
    p->count--;
    if (e->timer) kite_ev_timer_cancel(p->ev, e->timer);
    e->timer = NULL;
    return e;
}

int kite_rpc_pending_complete(kite_rpc_pending *p, uint64_t conn_id, kite_cmd *resp)
{
    entry **s = find_slot(p, conn_id, resp->opaque);
    if (!s) return 0;
    entry *e = take(p, s);
    e->cb(KITE_OK, resp, e->arg);
    free(e);
    return 1;
}

/* Takes matching entries out first, then runs callbacks: a callback may add new
 * requests (and so resize the table) safely. */
static void fail_matching(kite_rpc_pending *p, int all, uint64_t conn_id, int status)
{
    entry **victims = NULL;
    size_t n = 0;
    for (size_t i = 0; i < p->cap; i++) {
        entry *e = p->slots[i];
        if (!e || e == TOMB || (!all && e->conn_id != conn_id)) continue;
        victims = realloc(victims, (n + 1) * sizeof *victims);
        if (!victims) abort();
        victims[n++] = take(p, &p->slots[i]);
    }
    for (size_t i = 0; i < n; i++) {
        victims[i]->cb(status, NULL, victims[i]->arg);
        free(victims[i]);
    }
    free(victims);
}

void kite_rpc_pending_fail_conn(kite_rpc_pending *p, uint64_t conn_id, int status)
{
    fail_matching(p, 0, conn_id, status);
}

size_t kite_rpc_pending_count(const kite_rpc_pending *p) { return p->count; }

void kite_rpc_pending_free(kite_rpc_pending *p)
{
    if (!p) return;
    fail_matching(p, 1, 0, KITE_ECLOSED);
    free(p->slots);
    free(p);
}
