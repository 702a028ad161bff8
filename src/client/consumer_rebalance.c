/* consumer_rebalance.c - which queues this consumer holds: per subscription, the
 * route's readable queues, and in CLUSTERING the group's members (GET_CONSUMER_LIST_BY
 * _GROUP from one broker) shared out with AllocateMessageQueueAveragely; queues no
 * longer assigned are dropped (offset committed, pulls stopped, orderly ones unlocked
 * once their listener call returned), new ones are taken (locked first when orderly
 * CLUSTERING, then started from their offset).
 *
 * Owns: the pq table (c->pqs, nqueues) and each subscription's rebalance state.
 * Threads: I/O thread only. */
#include "client/consumer_int.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "proto/codes.h"
#include <stdlib.h>
#include <string.h>

/* ---- dropping a queue (I/O) ---- */

/* Removes q from the table; commit: store its offset first. */
void kite_pc_drop_pq(kite_push_consumer *c, pq *q, int commit)
{
    if (commit) kite_pc_commit_pq(c, q);
    atomic_store(&q->dropped, 1);
    if (orderly(c)) {
        /* A listener call may be in progress: the queue is unlocked (and not taken
         * again) only once it returned (the task's end posts kite_pc_unlock_task). */
        pthread_mutex_lock(&q->mu);
        int now = !q->oactive || c->final_drop;
        if (!now) q->unlock_pending = 1;
        pthread_mutex_unlock(&q->mu);
        if (now) {
            if (locking(c)) kite_pc_release_lock(c, q);
        } else if (!kite_map_get(&c->releasing, q->key)) {
            kite_map_put(&c->releasing, q->key, kite_pc_pq_ref(q));
        }
    }
    if (q->timer) {
        kite_ev_timer_cancel(ev(c), q->timer);
        q->timer = NULL;
        kite_pc_pq_release(q);
    }
    if (kite_map_get(&c->pqs, q->key) == q) {
        kite_map_del(&c->pqs, q->key);
        atomic_fetch_sub(&c->nqueues, 1);
        kite_pc_pq_release(q); /* the table's reference */
    }
}

/* ---- rebalance (I/O) ---- */

static void add_pq(kite_push_consumer *c, sub *s, const kite_mq *mq, const char *key)
{
    pq *q = kite_xcalloc(1, sizeof *q);
    q->key = kite_xstrdup(key);
    q->broker = kite_xstrdup(mq->broker_name);
    atomic_init(&q->refs, 1);
    atomic_init(&q->dropped, 0);
    atomic_init(&q->locked, 0);
    atomic_init(&q->lock_ms, 0);
    pthread_mutex_init(&q->mu, NULL);
    q->c = c;
    q->s = s;
    q->qid = mq->queue_id;
    q->tail_next = -1;
    q->state = PQ_INIT;
    kite_map_put(&c->pqs, key, q);
    atomic_fetch_add(&c->nqueues, 1);
    KLOG_DEBUG("client", "consumer %s (%s) takes %s:%s:%d", c->group, c->client_id, s->topic,
               mq->broker_name, mq->queue_id);
    if (locking(c))
        kite_pc_lock_first(c, q);
    else
        kite_pc_init_offset(q);
}

/* Makes s's queues in the table exactly mqs[0..n). */
static void apply(kite_push_consumer *c, sub *s, const kite_mq *mqs, size_t n)
{
    kite_map want = KITE_MAP_INIT;
    char **keys = kite_xcalloc(n ? n : 1, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        keys[i] = kite_pc_mq_key(s->topic, mqs[i].broker_name, mqs[i].queue_id);
        kite_map_put(&want, keys[i], (void *)&mqs[i]);
    }
    size_t it = 0;
    void *v;
    pq **gone = NULL;
    size_t ngone = 0;
    while (kite_map_next(&c->pqs, &it, NULL, &v)) {
        pq *q = v;
        if (q->s != s || kite_map_get(&want, q->key)) continue;
        gone = kite_xreallocarray(gone, ngone + 1, sizeof *gone);
        gone[ngone++] = q;
    }
    for (size_t i = 0; i < ngone; i++) {
        KLOG_DEBUG("client", "consumer %s (%s) drops %s", c->group, c->client_id, gone[i]->key);
        kite_pc_drop_pq(c, gone[i], 1);
    }
    free(gone);
    if (ngone && !clustering(c)) kite_pc_local_save(c);
    for (size_t i = 0; i < n && !stopping(c); i++)
        if (!kite_map_get(&c->pqs, keys[i]) && !kite_map_get(&c->releasing, keys[i]))
            add_pq(c, s, &mqs[i], keys[i]);
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    kite_map_free(&want, NULL);
}

static void rb_done(sub *s)
{
    s->rb_busy = 0;
    if (s->rb_again && !stopping(s->c)) {
        s->rb_again = 0;
        kite_pc_rebalance_topic(s->c, s);
    }
}

typedef struct rb_ctx {
    sub *s;
    kite_mq *mqs;
    size_t n;
    kite_pub_route *route;
} rb_ctx;

static void rb_ctx_free(rb_ctx *x)
{
    free(x->mqs);
    kite_pub_route_release(x->route);
    free(x);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void on_cids(int status, kite_cmd *resp, void *arg)
{
    rb_ctx *x = arg;
    sub *s = x->s;
    kite_push_consumer *c = s->c;
    if (stopping(c)) goto out;
    if (status != KITE_OK || resp->code != RS_SUCCESS) {
        KLOG_DEBUG("client", "consumer %s: no consumer list for %s (%s)", c->group, s->topic,
                   status != KITE_OK ? kite_strerror(status)
                   : resp->remark    ? resp->remark
                                     : "refused");
        goto out;
    }
    char err[160];
    kite_json_doc *doc = kite_json_parse((const char *)resp->body, resp->body_len, err, sizeof err);
    const kite_json *l = doc ? kite_json_get(kite_json_root(doc), "consumerIdList") : NULL;
    if (!l || l->type != KJ_ARRAY) {
        KLOG_WARN("client", "consumer %s: undecodable consumer list for %s", c->group, s->topic);
        if (doc) kite_json_doc_free(doc);
        goto out;
    }
    const char **ids = kite_xcalloc(l->count ? l->count : 1, sizeof *ids);
    size_t k = 0;
    for (size_t i = 0; i < l->count; i++) {
        const char *id = kite_json_str(l->items[i], NULL);
        if (id) ids[k++] = id;
    }
    qsort(ids, k, sizeof *ids, cmp_str);
    size_t me = k;
    for (size_t i = 0; i < k; i++)
        if (strcmp(ids[i], c->client_id) == 0) me = i;
    if (me == k) {
        /* The broker has not seen our heartbeat yet: keep what we have (Java). */
        KLOG_DEBUG("client", "consumer %s: %s not in the consumer list of %s yet", c->group,
                   c->client_id, s->topic);
    } else {
        /* AllocateMessageQueueAveragely (docs/wire.md §12.5). */
        size_t n = x->n, mod = n % k;
        size_t size = n <= k ? 1 : (mod > 0 && me < mod ? n / k + 1 : n / k);
        size_t start = (mod > 0 && me < mod) ? me * size : me * size + mod;
        size_t cnt = start >= n ? 0 : (size < n - start ? size : n - start);
        apply(c, s, x->mqs + (start < n ? start : 0), cnt);
    }
    free(ids);
    kite_json_doc_free(doc);
out:
    rb_ctx_free(x);
    rb_done(s);
}

static void on_rb_route(int status, kite_pub_route *route, const char *err, void *arg)
{
    sub *s = arg;
    kite_push_consumer *c = s->c;
    if (stopping(c)) {
        kite_pub_route_release(route);
        rb_done(s);
        return;
    }
    if (status != KITE_OK) {
        KLOG_DEBUG("client", "consumer %s: route of %s: %s", c->group, s->topic,
                   err ? err : kite_strerror(status));
        route = kite_inst_route_cached(c->inst, s->topic); /* go on with the last known route */
        if (!route) {
            s->missing = 1;
            rb_done(s);
            return;
        }
    }
    if (s->missing && !route->via_default)
        kite_pc_heartbeat_all(c); /* brokers of a new route learn about us first */
    s->missing = route->via_default;
    rb_ctx *x = kite_xcalloc(1, sizeof *x);
    x->s = s;
    x->route = route;
    if (route->via_default) {
        rb_ctx_free(x); /* the topic does not exist (yet): nothing to assign */
        rb_done(s);
        return;
    }
    kite_route_read_queues(route, &x->mqs, &x->n);
    if (!clustering(c)) {
        apply(c, s, x->mqs, x->n);
        rb_ctx_free(x);
        rb_done(s);
        return;
    }
    if (x->n == 0) {
        apply(c, s, NULL, 0);
        rb_ctx_free(x);
        rb_done(s);
        return;
    }
    /* One broker of the topic, chosen at random (Java), asked for the members. */
    const char *bn = x->mqs[(size_t)kite_mono_ns() % x->n].broker_name;
    const char *addr = kite_route_broker_addr(route, bn);
    kite_cmd req;
    kite_cmd_init_request(&req, RC_GET_CONSUMER_LIST_BY_GROUP, 0);
    kite_cmd_set_ext(&req, "consumerGroup", c->group);
    kite_cmd_set_ext(&req, "bname", bn);
    kite_rpc_call_async(rpc(c), addr, &req, c->o.rpc_timeout_ms, on_cids, x);
}

void kite_pc_rebalance_topic(kite_push_consumer *c, sub *s)
{
    if (stopping(c)) return;
    if (s->rb_busy) {
        s->rb_again = 1;
        return;
    }
    s->rb_busy = 1;
    kite_inst_route_fetch(c->inst, s->topic, on_rb_route, s);
}

void kite_pc_rebalance_all(kite_push_consumer *c)
{
    for (size_t i = 0; i < c->nsubs; i++) kite_pc_rebalance_topic(c, c->subs[i]);
}
