/* consumer_lock.c - the queue locks of the orderly CLUSTERING consumer: the first
 * LOCK_BATCH_MQ of a newly assigned queue (granted: start it; refused: give it up),
 * the renewal of every queue every lock_interval_ms (one request per broker), the
 * validity of a lock (lock_live_ms) and UNLOCK_BATCH_MQ once a dropped queue's last
 * listener call returned and its offset was committed.
 *
 * Owns: pq->locked, lock_ms, ever_locked; c->releasing is read here and shared with
 * consumer_rebalance.c.
 * Threads: I/O thread; kite_pc_lock_valid from any thread (atomics). */
#include "client/consumer_int.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "proto/codes.h"
#include <stdlib.h>
#include <string.h>

/* ---- queue locks of the orderly CLUSTERING consumer (I/O; docs/wire.md §6.6, §2.5, §12.8) */

/* Any thread: q is locked and its last granted LOCK_BATCH_MQ is at most lock_live_ms old. */
int kite_pc_lock_valid(pq *q)
{
    return atomic_load(&q->locked) &&
           kite_mono_ms() - atomic_load(&q->lock_ms) <= q->c->o.lock_live_ms;
}

/* LockBatchRequestBody / UnlockBatchRequestBody for qs[0..n). */
static void lock_body(kite_push_consumer *c, pq *const *qs, size_t n, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "clientId");
    kite_jw_str(&w, c->client_id);
    kite_jw_key(&w, "consumerGroup");
    kite_jw_str(&w, c->group);
    kite_jw_key(&w, "mqSet");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "brokerName");
        kite_jw_str(&w, qs[i]->broker);
        kite_jw_key(&w, "queueId");
        kite_jw_int(&w, qs[i]->qid);
        kite_jw_key(&w, "topic");
        kite_jw_str(&w, qs[i]->s->topic);
        kite_jw_obj_end(&w);
    }
    kite_jw_arr_end(&w);
    kite_jw_key(&w, "onlyThisBroker");
    kite_jw_bool(&w, 0);
    kite_jw_obj_end(&w);
}

/* Commits q's offset, then UNLOCK_BATCH_MQ (oneway) for it: after its last listener
 * call, so the next owner starts where this one stopped. */
void kite_pc_release_lock(kite_push_consumer *c, pq *q)
{
    char addr[128];
    if (!q->ever_locked || kite_pc_broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0)
        return;
    q->ever_locked = 0;
    atomic_store(&q->locked, 0);
    if (q->state == PQ_RUN && !q->no_commit) kite_pc_commit_remote(c, q, kite_pc_pq_offset(q));
    kite_buf body = KITE_BUF_INIT;
    lock_body(c, &q, 1, &body);
    kite_cmd req;
    kite_cmd_init_request(&req, RC_UNLOCK_BATCH_MQ, 0);
    kite_cmd_set_ext(&req, "bname", q->broker);
    kite_cmd_set_body_copy(&req, body.data, body.len);
    kite_buf_free(&body);
    kite_rpc_oneway(rpc(c), addr, &req);
    KLOG_DEBUG("client", "consumer %s (%s) unlocks %s", c->group, c->client_id, q->key);
}

/* I/O: the last listener call of a dropped orderly queue returned. */
void kite_pc_unlock_task(void *arg)
{
    pq *q = arg;
    kite_push_consumer *c = q->c;
    if (kite_map_get(&c->releasing, q->key) == q) {
        kite_map_del(&c->releasing, q->key);
        kite_pc_pq_release(q); /* the map's reference */
    }
    if (locking(c)) kite_pc_release_lock(c, q);
    kite_pc_pq_release(q);
}

/* ---- LOCK_BATCH_MQ: first lock and renewals (I/O) ---- */

typedef struct lock_ctx {
    kite_push_consumer *c;
    pq **qs; /* one reference each */
    size_t n;
    int first; /* a newly assigned queue: start it or give it up */
} lock_ctx;

static void on_lock(int status, kite_cmd *resp, void *arg)
{
    lock_ctx *x = arg;
    kite_push_consumer *c = x->c;
    kite_map ok = KITE_MAP_INIT;
    kite_json_doc *doc = NULL;
    int answered = status == KITE_OK && resp->code == RS_SUCCESS;
    if (answered) {
        char err[160];
        doc = kite_json_parse((const char *)resp->body, resp->body_len, err, sizeof err);
        const kite_json *l = doc ? kite_json_get(kite_json_root(doc), "lockOKMQSet") : NULL;
        for (size_t i = 0; l && l->type == KJ_ARRAY && i < l->count; i++) {
            const char *t = kite_json_get_str(l->items[i], "topic", NULL);
            const char *b = kite_json_get_str(l->items[i], "brokerName", NULL);
            int32_t qid = kite_json_get_int32(l->items[i], "queueId", -1);
            if (!t || !b || qid < 0) continue;
            char *k = kite_pc_mq_key(t, b, qid);
            kite_map_put(&ok, k, (void *)1);
            free(k);
        }
    } else if (!stopping(c)) {
        KLOG_DEBUG("client", "consumer %s: LOCK_BATCH_MQ failed: %s", c->group,
                   status != KITE_OK ? kite_strerror(status)
                   : resp->remark    ? resp->remark
                                     : "refused");
    }
    int64_t now = kite_mono_ms();
    for (size_t i = 0; i < x->n; i++) {
        pq *q = x->qs[i];
        if ((stopping(c) || atomic_load(&q->dropped)) && x->first && kite_map_get(&ok, q->key)) {
            q->ever_locked = 1; /* granted after all, but no longer wanted */
            kite_pc_release_lock(c, q);
        } else if (!stopping(c) && !atomic_load(&q->dropped)) {
            int granted = kite_map_get(&ok, q->key) != NULL;
            if (granted) {
                int revived = !x->first && !kite_pc_lock_valid(q);
                atomic_store(&q->lock_ms, now);
                atomic_store(&q->locked, 1);
                q->ever_locked = 1;
                if (revived && q->state == PQ_RUN && q->timer) {
                    /* Its pulls were waiting for the lock (DELAY_ON_ERROR_MS): go on now. */
                    kite_ev_timer_cancel(ev(c), q->timer);
                    q->timer = NULL;
                    kite_pc_pq_release(q); /* the timer's reference; x still holds one */
                    kite_pc_pull(q);
                }
            } else if (answered) {
                if (atomic_exchange(&q->locked, 0))
                    KLOG_INFO("client", "consumer %s (%s) lost the lock of %s", c->group,
                              c->client_id, q->key);
            }
            if (x->first) {
                if (granted) {
                    kite_pc_init_offset(q);
                } else {
                    KLOG_DEBUG(
                        "client",
                        "consumer %s (%s): %s is locked by another client; retried at the next rebalance",
                        c->group, c->client_id, q->key);
                    kite_pc_drop_pq(c, q, 0);
                }
            }
        }
        kite_pc_pq_release(q);
    }
    if (doc) kite_json_doc_free(doc);
    kite_map_free(&ok, NULL);
    free(x->qs);
    free(x);
}

/* LOCK_BATCH_MQ for qs[0..n) (one broker; takes over their references). */
static void send_lock(kite_push_consumer *c, const char *addr, const char *bname, pq **qs, size_t n,
                      int first)
{
    lock_ctx *x = kite_xcalloc(1, sizeof *x);
    x->c = c;
    x->qs = qs;
    x->n = n;
    x->first = first;
    kite_buf body = KITE_BUF_INIT;
    lock_body(c, qs, n, &body);
    kite_cmd req;
    kite_cmd_init_request(&req, RC_LOCK_BATCH_MQ, 0);
    kite_cmd_set_ext(&req, "bname", bname);
    kite_cmd_set_body_copy(&req, body.data, body.len);
    kite_buf_free(&body);
    kite_rpc_call_async(rpc(c), addr, &req, c->o.rpc_timeout_ms, on_lock, x);
}

void kite_pc_lock_first(kite_push_consumer *c, pq *q)
{
    char addr[128];
    if (kite_pc_broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) {
        kite_pc_drop_pq(c, q, 0);
        return;
    }
    pq **qs = kite_xmalloc(sizeof *qs);
    qs[0] = kite_pc_pq_ref(q);
    send_lock(c, addr, q->broker, qs, 1, 1);
}

typedef struct lock_ent {
    char addr[128];
    pq *q;
} lock_ent;

static int cmp_lock_ent(const void *a, const void *b)
{
    return strcmp(((const lock_ent *)a)->addr, ((const lock_ent *)b)->addr);
}

/* Every lock_interval_ms (20 s): every started queue locked again, one LOCK_BATCH_MQ per broker. */
static void lock_all(kite_push_consumer *c)
{
    if (stopping(c)) return;
    size_t it = 0, n = 0;
    void *v;
    lock_ent *all = NULL;
    while (kite_map_next(&c->pqs, &it, NULL, &v)) {
        pq *q = v;
        if (q->state != PQ_RUN) continue; /* its first lock or offset lookup is in flight */
        all = kite_xreallocarray(all, n + 1, sizeof *all);
        if (kite_pc_broker_addr(c, q->s->topic, q->broker, all[n].addr, sizeof all[n].addr) != 0)
            continue;
        all[n++].q = q;
    }
    if (n) qsort(all, n, sizeof *all, cmp_lock_ent);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(all[j].addr, all[i].addr) == 0) j++;
        pq **qs = kite_xmalloc((j - i) * sizeof *qs);
        for (size_t k = i; k < j; k++) qs[k - i] = kite_pc_pq_ref(all[k].q);
        send_lock(c, all[i].addr, all[i].q->broker, qs, j - i, 0);
        i = j;
    }
    free(all);
}

void kite_pc_on_lock_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    lock_all(arg);
}
