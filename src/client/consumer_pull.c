/* consumer_pull.c - the process queues (pq: the cache of one assigned queue, its
 * offsets and, for the orderly listener, its messages) and the long-poll PULL_MESSAGE
 * that fills them (sent to the broker id the last answer suggested, else the master, else
 * a slave of that broker name): flow control, the answer's records (decoded and filtered by
 * received.c) handed to the work queue, OFFSET_MOVED and error back-off.
 *
 * Owns: a pq's cache (ents, om, counts) and its reference count; the pull timer.
 * Threads: pulls and their answers run on the I/O thread; the cache (pq->mu) is also
 * read and trimmed by the workers (kite_pc_pq_remove) and read by any thread. */
#include "client/consumer_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PULL_FLAG_COMMIT       0x1
#define PULL_FLAG_SUSPEND      0x2
#define PULL_FLAG_SUBSCRIPTION 0x4
#define DELAY_FLOW_CONTROL_MS  50

/* ---- process queues ---- */

pq *kite_pc_pq_ref(pq *q)
{
    atomic_fetch_add(&q->refs, 1);
    return q;
}

void kite_pc_pq_release(pq *q)
{
    if (!q || atomic_fetch_sub(&q->refs, 1) != 1) return;
    pthread_mutex_destroy(&q->mu);
    for (size_t i = q->ohead; i < q->olen; i++) kite_rmsg_free(q->om[i]);
    free(q->om);
    free(q->ents);
    free(q->key);
    free(q->broker);
    free(q);
}

int64_t kite_pc_pq_offset(pq *q)
{
    pthread_mutex_lock(&q->mu);
    int64_t off = q->head < q->len ? q->ents[q->head].off : q->tail_next;
    pthread_mutex_unlock(&q->mu);
    return off;
}

void kite_pc_pq_counts(pq *q, size_t *count, size_t *bytes)
{
    pthread_mutex_lock(&q->mu);
    *count = q->cached_count;
    *bytes = q->cached_bytes;
    pthread_mutex_unlock(&q->mu);
}

static void om_push(pq *q, kite_rmsg *m)
{
    if (q->olen == q->ocap) {
        if (q->ohead > 0) {
            memmove(q->om, q->om + q->ohead, (q->olen - q->ohead) * sizeof *q->om);
            q->olen -= q->ohead;
            q->ohead = 0;
        }
        if (q->olen == q->ocap) {
            q->ocap = q->ocap ? q->ocap * 2 : 64;
            q->om = kite_xreallocarray(q->om, q->ocap, sizeof *q->om);
        }
    }
    q->om[q->olen++] = m;
}

/* I/O: the messages of a pull enter the cache (offsets ascending). ord: orderly, the
 * cache also takes the messages themselves (duplicates are freed); returns 1 when the
 * caller must queue q's consume task (oactive was set here). */
static int pq_add(pq *q, kite_rmsg **msgs, size_t n, int64_t next_begin, int ord)
{
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < n; i++) {
        if (q->len > q->head && msgs[i]->m.queue_offset <= q->ents[q->len - 1].off) {
            if (ord) kite_rmsg_free(msgs[i]);
            continue;
        }
        if (q->len == q->cap) {
            if (q->head > 0) {
                memmove(q->ents, q->ents + q->head, (q->len - q->head) * sizeof *q->ents);
                q->len -= q->head;
                q->head = 0;
            }
            if (q->len == q->cap) {
                q->cap = q->cap ? q->cap * 2 : 64;
                q->ents = kite_xreallocarray(q->ents, q->cap, sizeof *q->ents);
            }
        }
        q->ents[q->len].off = msgs[i]->m.queue_offset;
        q->ents[q->len].size = (uint32_t)msgs[i]->m.body_len;
        q->ents[q->len].done = 0;
        q->len++;
        q->cached_count++;
        q->cached_bytes += msgs[i]->m.body_len;
        if (ord) om_push(q, msgs[i]);
    }
    q->tail_next = next_begin;
    int sched = ord && !q->oactive && q->olen > q->ohead;
    if (sched) q->oactive = 1;
    pthread_mutex_unlock(&q->mu);
    return sched;
}

void kite_pc_pq_set_tail(pq *q, int64_t next_begin)
{
    pthread_mutex_lock(&q->mu);
    q->tail_next = next_begin;
    pthread_mutex_unlock(&q->mu);
}

/* Workers: messages consumed (or handed to the retry topic). */
void kite_pc_pq_remove(pq *q, kite_rmsg **msgs, size_t n)
{
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i]) continue;
        int64_t off = msgs[i]->m.queue_offset;
        size_t lo = q->head, hi = q->len;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (q->ents[mid].off < off)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < q->len && q->ents[lo].off == off && !q->ents[lo].done) {
            q->ents[lo].done = 1;
            q->cached_count--;
            q->cached_bytes -= q->ents[lo].size;
        }
    }
    while (q->head < q->len && q->ents[q->head].done) q->head++;
    if (q->head == q->len) q->head = q->len = 0;
    q->last_consume_ms = kite_wall_ms();
    pthread_mutex_unlock(&q->mu);
}

/* ---- the pull timer (I/O) ---- */

static void on_pq_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    pq *q = arg;
    q->timer = NULL;
    kite_pc_pull(q);
    kite_pc_pq_release(q);
}

static void pull_later(pq *q, int64_t ms)
{
    if (atomic_load(&q->dropped) || stopping(q->c) || q->timer) return;
    q->timer = kite_ev_timer_add(ev(q->c), ms, 0, on_pq_timer, kite_pc_pq_ref(q));
}

/* ---- pulling (I/O) ---- */

static void on_pull(int status, kite_cmd *resp, void *arg);

/* Where q's next pull goes: the broker id its last answer suggested when the route has it,
 * else the master, else any address of the broker name (the master is gone: its slave).
 * *from_master tells whether that address is the master's. KITE_OK or KITE_ENOTFOUND. */
static int pull_addr(pq *q, char *out, size_t cap, int *from_master)
{
    kite_pub_route *r = kite_inst_route_cached(q->c->inst, q->s->topic);
    const char *a = NULL, *m = NULL;
    if (r) {
        m = kite_pub_route_master(r, q->broker);
        a = q->pull_from != 0 ? kite_route_broker_addr_id(r, q->broker, q->pull_from) : NULL;
        if (!a) a = kite_route_broker_addr(r, q->broker);
    }
    if (a) snprintf(out, cap, "%s", a);
    *from_master = a && m && strcmp(a, m) == 0;
    kite_pub_route_release(r);
    return a ? KITE_OK : KITE_ENOTFOUND;
}

void kite_pc_pull(pq *q)
{
    kite_push_consumer *c = q->c;
    if (atomic_load(&q->dropped) || stopping(c) || q->timer) return;
    size_t count, bytes;
    kite_pc_pq_counts(q, &count, &bytes);
    if (count > (size_t)c->o.pull_threshold_for_queue ||
        bytes > (size_t)c->o.pull_threshold_size_for_queue_mib * 1024u * 1024u) {
        pull_later(q, DELAY_FLOW_CONTROL_MS);
        return;
    }
    if (locking(c) && !kite_pc_lock_valid(q)) { /* Java: pull again 3 s later */
        pull_later(q, DELAY_ON_ERROR_MS);
        return;
    }
    char addr[128];
    int from_master;
    if (pull_addr(q, addr, sizeof addr, &from_master) != 0) {
        pull_later(q, DELAY_ON_ERROR_MS);
        return;
    }
    int flags = PULL_FLAG_SUSPEND | PULL_FLAG_SUBSCRIPTION;
    int64_t commit = clustering(c) ? kite_pc_pq_offset(q) : 0;
    if (commit > 0 && from_master) /* a slave keeps no offset from a pull */
        flags |= PULL_FLAG_COMMIT;
    else
        commit = 0;
    kite_cmd req;
    kite_cmd_init_request(&req, RC_PULL_MESSAGE, 0);
    kite_cmd_set_ext(&req, "consumerGroup", c->group);
    kite_cmd_set_ext(&req, "topic", q->s->topic);
    set_i64(&req, "queueId", q->qid);
    set_i64(&req, "queueOffset", q->next_pull);
    set_i64(&req, "maxMsgNums", c->o.pull_batch_size);
    set_i64(&req, "sysFlag", flags);
    set_i64(&req, "commitOffset", commit);
    set_i64(&req, "suspendTimeoutMillis", c->o.suspend_timeout_ms);
    kite_cmd_set_ext(&req, "subscription", q->s->expr);
    set_i64(&req, "subVersion", q->s->version);
    kite_cmd_set_ext(&req, "expressionType", expr_type(q->s));
    kite_cmd_set_ext(&req, "bname", q->broker);
    q->last_pull_ms = kite_wall_ms();
    kite_rpc_call_async(rpc(c), addr, &req, c->o.pull_timeout_ms, on_pull, kite_pc_pq_ref(q));
}

static void on_pull(int status, kite_cmd *resp, void *arg)
{
    pq *q = arg;
    kite_push_consumer *c = q->c;
    if (atomic_load(&q->dropped) || stopping(c)) goto out;
    if (status != KITE_OK) {
        KLOG_DEBUG("client", "pull %s:%s:%d failed: %s", q->s->topic, q->broker, q->qid,
                   kite_strerror(status));
        pull_later(q, DELAY_ON_ERROR_MS);
        goto out;
    }
    int64_t next;
    int code = resp->code;
    if ((code == RS_SUCCESS || code == RS_PULL_NOT_FOUND || code == RS_PULL_RETRY_IMMEDIATELY ||
         code == RS_PULL_OFFSET_MOVED) &&
        kite_cmd_ext_i64(resp, "nextBeginOffset", &next) != 0) {
        KLOG_WARN("client", "pull %s:%s:%d: answer %d without nextBeginOffset", q->s->topic,
                  q->broker, q->qid, code);
        pull_later(q, DELAY_ON_ERROR_MS);
        goto out;
    }
    int64_t from;
    if (kite_cmd_ext_i64(resp, "suggestWhichBrokerId", &from) == 0 && from >= 0)
        q->pull_from = from;
    switch (code) {
    case RS_SUCCESS: {
        kite_rmsg **msgs = NULL;
        size_t n = 0;
        char err[200];
        int rc = kite_rmsg_decode_all(resp->body, resp->body_len, q->broker, c->retry_topic,
                                      &q->s->tags, &msgs, &n, err, sizeof err);
        if (rc != KITE_OK)
            KLOG_WARN("client", "pull %s:%s:%d: %s (%zu messages kept)", q->s->topic, q->broker,
                      q->qid, err, n);
        q->next_pull = next;
        if (orderly(c)) {
            if (pq_add(q, msgs, n, next, 1)) kite_pc_dispatch_orderly(c, q);
        } else {
            pq_add(q, msgs, n, next, 0);
            kite_pc_dispatch(c, q, msgs, n);
        }
        free(msgs);
        kite_pc_pull(q);
        break;
    }
    case RS_PULL_NOT_FOUND:
    case RS_PULL_RETRY_IMMEDIATELY:
        kite_pc_pq_set_tail(q, next);
        q->next_pull = next;
        kite_pc_pull(q);
        break;
    case RS_PULL_OFFSET_MOVED:
        KLOG_INFO("client", "consumer %s: offset of %s:%s:%d moved from %lld to %lld", c->group,
                  q->s->topic, q->broker, q->qid, (long long)q->next_pull, (long long)next);
        kite_pc_pq_set_tail(q, next);
        q->next_pull = next;
        kite_pc_commit_pq(c, q);
        if (!clustering(c)) kite_pc_local_save(c);
        kite_pc_pull(q);
        break;
    default:
        KLOG_DEBUG("client", "pull %s:%s:%d: broker answered %d %s", q->s->topic, q->broker, q->qid,
                   code, resp->remark ? resp->remark : "");
        pull_later(q, DELAY_ON_ERROR_MS);
        break;
    }
out:
    kite_pc_pq_release(q);
}
