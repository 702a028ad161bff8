/* consumer.c - the libkite push consumer (include/kite/consumer.h): subscriptions,
 * heartbeats, rebalance, long-poll pulls, the process queues with their offsets, the
 * worker pool running the listener, send-back of failed messages, offset commits
 * (brokers or the local file), and the requests brokers send to consumers.
 *
 * Owns: kite_push_consumer, its client instance (instance.c: I/O thread, routes), one
 * process queue (pq) per assigned queue, the consume requests, the worker threads.
 * Not owned: record decoding and tag filters (received.c), routes (instance.c).
 *
 * Threads and data:
 * - I/O thread (the instance's loop): timers, rebalance, pulls, offset queries and
 *   commits, heartbeats, broker requests. The pq table (c->pqs), the rebalance state of
 *   each subscription, the local offset table and every pq field marked "I/O" are
 *   touched only there.
 * - Workers: take consume requests from the work queue (wq_mu), run the listener,
 *   send failed messages back (blocking calls; never on the I/O thread), then mark the
 *   messages done in their pq (pq->mu). Waking a worker costs more than a short
 *   listener call, so the queue keeps a moving average of a task's run time: while it
 *   is short (SHORT_TASK_NS), a push wakes one worker per short_take() tasks (enough
 *   to keep it busy for about SHORT_ROUND_NS, at least SHORT_TAKE) and a worker takes
 *   that many per visit; while it is long, one worker per task. A worker whose
 *   task ran longer than GIVE_BACK_NS hands the rest of its round back and wakes others,
 *   so a listener that turns slow is parallel again after one call.
 * - A pq is reference counted: the table, every consume request, the pull or timer in
 *   flight each hold one. Dropping a pq (rebalance, reset, shutdown) sets `dropped`;
 *   whoever holds it then lets it go without touching offsets.
 * - Committed offset of a pq = its lowest cached offset not yet consumed, or, with an
 *   empty cache, the offset after the last examined message (tail_next: messages the
 *   tag filter dropped count as consumed).
 * - Orderly listener: the messages themselves stay in their pq (om, pq->mu) and one
 *   consume task per pq (oactive) carries them to the listener, one batch per turn,
 *   so a queue is on at most one worker at a time; SUSPEND puts the task on the later
 *   list. CLUSTERING: a pq is created only once LOCK_BATCH_MQ granted it, is renewed
 *   every lock_interval_ms (lock_all), and pulls and consumes only while its lock is
 *   valid (granted at most lock_live_ms ago; a renewal granted after a lapse restarts
 *   its pulls at once). A pq dropped while its task runs sits in
 *   c->releasing (its key is not taken again) until the task ends and posts
 *   unlock_task: commit, then UNLOCK_BATCH_MQ.
 * Shutdown: stop pulls (stopping flag: callbacks only release), join the workers (a
 * listener call in progress finishes), then on the I/O thread commit every offset and
 * drop every pq, then UNREGISTER_CLIENT, then stop the instance (callbacks still in
 * flight fail with KITE_ECLOSED and release what they hold). */
#include "base/thread.h"
#include "client/heartbeat.h"
#include "client/instance.h"
#include "client/msgid.h"
#include "client/received.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/map.h"
#include "base/time.h"
#include "codec/record.h"
#include "kite/kite.h"
#include "kite/consumer.h"
#include "proto/codes.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PULL_FLAG_COMMIT 0x1
#define PULL_FLAG_SUSPEND 0x2
#define PULL_FLAG_SUBSCRIPTION 0x4
#define DELAY_ON_ERROR_MS 3000      /* pullTimeDelayMillsWhenException */
#define DELAY_FLOW_CONTROL_MS 50
#define LOCAL_RETRY_MS 5000         /* local re-consumption when send-back failed */
#define LOCK_WAIT_MS 500            /* orderly: re-check of a queue whose lock is not valid */

enum { C_CREATED, C_STARTED, C_STOPPING, C_STOPPED };
enum { PQ_INIT, PQ_RUN };

typedef struct kite_push_consumer kite_push_consumer;

typedef struct sub {
    kite_push_consumer *c;
    char *topic, *expr;
    kite_tagset tags;
    int64_t version;
    int is_retry;
    int rb_busy, rb_again;          /* I/O */
    int missing;                    /* I/O: no route yet; looked for every second */
} sub;

typedef struct pq_ent {
    int64_t off;
    uint32_t size;
    uint8_t done;
} pq_ent;

typedef struct pq {
    atomic_int refs;
    kite_push_consumer *c;
    sub *s;
    char *key;
    char *broker;
    int32_t qid;
    atomic_int dropped;
    /* I/O */
    int state;
    int64_t next_pull;
    kite_ev_timer *timer;
    int64_t last_pull_ms;
    /* mu */
    pthread_mutex_t mu;
    pq_ent *ents;
    size_t head, len, cap;
    size_t cached_count, cached_bytes;
    int64_t tail_next;
    int64_t last_consume_ms;
    /* orderly: the lock (set by the I/O thread, read by workers) */
    atomic_int locked;
    _Atomic int64_t lock_ms;     /* mono ms of the last granted LOCK_BATCH_MQ */
    int ever_locked;             /* I/O */
    int no_commit;               /* I/O: reset by the broker: the release must not commit */
    /* orderly, mu: messages not yet accepted by the listener, in offset order */
    kite_rmsg **om;
    size_t ohead, olen, ocap;
    int oactive;                 /* a consume task of q exists (queued, waiting or running) */
    int unlock_pending;          /* dropped while oactive: the task's end unlocks */
} pq;

typedef struct creq {
    struct creq *next;
    pq *q;                       /* NULL for a direct request */
    kite_rmsg **msgs;
    size_t n;
    int64_t due_ms;
    kite_rpc_req *direct;        /* CONSUME_MESSAGE_DIRECTLY */
    int orderly;                 /* the consume task of an orderly queue (msgs unused) */
} creq;

struct kite_push_consumer {
    char *group, *retry_topic, *client_id;
    kite_push_consumer_opts o;
    char *ns_copy, *dir_copy, *inst_copy;
    char *offset_file;           /* BROADCASTING */
    kite_consume_cb cb;
    void *cb_arg;
    kite_consume_orderly_cb ocb; /* set: orderly consumption */
    void *ocb_arg;
    int final_drop;              /* I/O: shutdown drops (unlock at once) */
    sub **subs;
    size_t nsubs;
    kite_inst *inst;
    pthread_mutex_t mu;          /* state */
    int state;
    atomic_int stopping;
    int64_t start_wall_ms;
    atomic_size_t nqueues;
    /* I/O */
    kite_map pqs;                /* key -> pq* */
    kite_map offsets;            /* BROADCASTING: key -> int64_t* */
    kite_map releasing;          /* orderly: key -> dropped pq (a reference) whose listener
                                  * call is still in progress; not taken again until then */
    int offsets_dirty;
    kite_ev_timer *t_hb, *t_rb, *t_commit, *t_missing, *t_lock;
    /* workers */
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t wq_mu;
    pthread_cond_t wq_cv;
    creq *wq_head, *wq_tail;
    size_t wq_len;           /* tasks in wq_head..wq_tail */
    size_t wq_idle;          /* workers waiting on wq_cv */
    int64_t task_ns;         /* moving average of a task's run time (under wq_mu) */
    creq *later;                 /* due_ms in the future, unsorted */
    int wq_stop;
};

/* ---- small helpers ---- */

static int clustering(const kite_push_consumer *c) { return c->o.message_model == KITE_CLUSTERING; }
static int stopping(const kite_push_consumer *c) { return atomic_load(&c->stopping); }
static int orderly(const kite_push_consumer *c) { return c->ocb != NULL; }
/* Orderly CLUSTERING: queues need the broker's lock. */
static int locking(const kite_push_consumer *c) { return c->ocb != NULL && c->o.message_model == KITE_CLUSTERING; }
static kite_rpc_client *rpc(kite_push_consumer *c) { return kite_inst_rpc(c->inst); }
static kite_ev *ev(kite_push_consumer *c) { return kite_rpc_client_ev(rpc(c)); }

static void set_i64(kite_cmd *cmd, const char *k, int64_t v) { kite_cmd_set_ext_i64(cmd, k, v); }

static char *mq_key(const char *topic, const char *broker, int32_t qid)
{
    size_t n = strlen(topic) + strlen(broker) + 16;
    char *k = malloc(n);
    if (!k) abort();
    snprintf(k, n, "%s\001%s\001%d", topic, broker, (int)qid);
    return k;
}

/* Broker address of (topic's route, broker) into out; 0 or -1 when unknown. */
static int broker_addr(kite_push_consumer *c, const char *topic, const char *broker, char *out, size_t cap)
{
    kite_pub_route *r = kite_inst_route_cached(c->inst, topic);
    const char *a = r ? kite_route_broker_addr(r, broker) : NULL;
    if (a) snprintf(out, cap, "%s", a);
    kite_pub_route_release(r);
    return a ? 0 : -1;
}

static const char *model_name(const kite_push_consumer *c) { return clustering(c) ? "CLUSTERING" : "BROADCASTING"; }

static const char *from_name(kite_consume_from f)
{
    switch (f) {
    case KITE_CONSUME_FROM_FIRST_OFFSET: return "CONSUME_FROM_FIRST_OFFSET";
    case KITE_CONSUME_FROM_TIMESTAMP: return "CONSUME_FROM_TIMESTAMP";
    default: return "CONSUME_FROM_LAST_OFFSET";
    }
}

/* ---- process queues ---- */

static pq *pq_ref(pq *q)
{
    atomic_fetch_add(&q->refs, 1);
    return q;
}

static void pq_release(pq *q)
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

static int64_t pq_offset(pq *q)
{
    pthread_mutex_lock(&q->mu);
    int64_t off = q->head < q->len ? q->ents[q->head].off : q->tail_next;
    pthread_mutex_unlock(&q->mu);
    return off;
}

static void pq_counts(pq *q, size_t *count, size_t *bytes)
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
            q->om = realloc(q->om, q->ocap * sizeof *q->om);
            if (!q->om) abort();
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
                q->ents = realloc(q->ents, q->cap * sizeof *q->ents);
                if (!q->ents) abort();
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

static void pq_set_tail(pq *q, int64_t next_begin)
{
    pthread_mutex_lock(&q->mu);
    q->tail_next = next_begin;
    pthread_mutex_unlock(&q->mu);
}

/* Workers: messages consumed (or handed to the retry topic). */
static void pq_remove(pq *q, kite_rmsg **msgs, size_t n)
{
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i]) continue;
        int64_t off = msgs[i]->m.queue_offset;
        size_t lo = q->head, hi = q->len;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (q->ents[mid].off < off) lo = mid + 1;
            else hi = mid;
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

/* ---- offsets: commit (I/O) ---- */

static void commit_remote(kite_push_consumer *c, pq *q, int64_t off)
{
    char addr[128];
    if (off < 0 || broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) return;
    kite_cmd req;
    kite_cmd_init_request(&req, RC_UPDATE_CONSUMER_OFFSET, 0);
    kite_cmd_set_ext(&req, "consumerGroup", c->group);
    kite_cmd_set_ext(&req, "topic", q->s->topic);
    set_i64(&req, "queueId", q->qid);
    set_i64(&req, "commitOffset", off);
    kite_cmd_set_ext(&req, "bname", q->broker);
    kite_rpc_oneway(rpc(c), addr, &req);
}

static void local_set(kite_push_consumer *c, const char *key, int64_t off)
{
    int64_t *v = kite_map_get(&c->offsets, key);
    if (v && *v == off) return;
    if (!v) {
        v = malloc(sizeof *v);
        if (!v) abort();
        kite_map_put(&c->offsets, key, v);
    }
    *v = off;
    c->offsets_dirty = 1;
}

/* {"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:offset,...}} (Java's
 * OffsetSerializeWrapper), keys in sorted order. */
static void local_save(kite_push_consumer *c)
{
    if (!c->offsets_dirty || !c->offset_file) return;
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "offsetTable");
    kite_jw_obj_begin(&w);
    size_t n = 0;
    const char **keys = kite_map_sorted_keys(&c->offsets, &n);
    for (size_t i = 0; keys && i < n; i++) {
        char *k = strdup(keys[i]);
        if (!k) abort();
        char *b = strchr(k, 1), *qs = b ? strchr(b + 1, 1) : NULL;
        if (!b || !qs) {
            free(k);
            continue;
        }
        *b++ = 0;
        *qs++ = 0;
        kite_jw_key_obj_begin(&w);
        kite_jw_key(&w, "brokerName");
        kite_jw_str(&w, b);
        kite_jw_key(&w, "queueId");
        kite_jw_int(&w, atoi(qs));
        kite_jw_key(&w, "topic");
        kite_jw_str(&w, k);
        kite_jw_key_obj_end(&w);
        kite_jw_int(&w, *(int64_t *)kite_map_get(&c->offsets, keys[i]));
        free(k);
    }
    free(keys);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
    int rc = kite_mkdirs_for(c->offset_file);
    if (rc == 0) rc = kite_file_write_atomic(c->offset_file, out.data, out.len);
    if (rc != 0) KLOG_WARN("client", "consumer %s: cannot write %s: %s", c->group, c->offset_file, kite_strerror(rc));
    else c->offsets_dirty = 0;
    kite_buf_free(&out);
}

static void local_load(kite_push_consumer *c)
{
    char *text = NULL;
    size_t len = 0;
    int rc = kite_file_read_all(c->offset_file, 64u << 20, &text, &len);
    if (rc != 0) {
        if (rc != KITE_ENOTFOUND) KLOG_WARN("client", "consumer %s: cannot read %s: %s", c->group, c->offset_file, kite_strerror(rc));
        return;
    }
    char err[160];
    kite_json_doc *doc = kite_json_parse(text, len, err, sizeof err);
    const kite_json *t = doc ? kite_json_get(kite_json_root(doc), "offsetTable") : NULL;
    if (!doc) KLOG_WARN("client", "consumer %s: %s is not JSON (%s); starting without local offsets", c->group, c->offset_file, err);
    for (size_t i = 0; t && t->type == KJ_OBJECT && i < t->count; i++) {
        const kite_json *k = t->members[i].key;
        int64_t off;
        if (k->type != KJ_OBJECT || kite_json_int64(t->members[i].value, &off) != 0) continue;
        const char *topic = kite_json_get_str(k, "topic", NULL), *broker = kite_json_get_str(k, "brokerName", NULL);
        int32_t qid = kite_json_get_int32(k, "queueId", -1);
        if (!topic || !broker || qid < 0) continue;
        char *key = mq_key(topic, broker, qid);
        local_set(c, key, off);
        free(key);
    }
    c->offsets_dirty = 0;
    if (doc) kite_json_doc_free(doc);
    free(text);
}

/* Stores the offset of q now (broker or local table). */
static void commit_pq(kite_push_consumer *c, pq *q)
{
    if (q->state != PQ_RUN) return;
    int64_t off = pq_offset(q);
    if (off < 0) return;
    if (clustering(c)) commit_remote(c, q, off);
    else local_set(c, q->key, off);
}

static void commit_all(kite_push_consumer *c)
{
    size_t it = 0;
    void *v;
    while (kite_map_next(&c->pqs, &it, NULL, &v)) commit_pq(c, v);
    local_save(c);
}

/* ---- queue locks of the orderly CLUSTERING consumer (I/O; §2.4.5, §4.6, §6.10) ---- */

/* Any thread: q is locked and its last granted LOCK_BATCH_MQ is at most lock_live_ms old. */
static int lock_valid(pq *q)
{
    return atomic_load(&q->locked) && kite_mono_ms() - atomic_load(&q->lock_ms) <= q->c->o.lock_live_ms;
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
static void release_lock(kite_push_consumer *c, pq *q)
{
    char addr[128];
    if (!q->ever_locked || broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) return;
    q->ever_locked = 0;
    atomic_store(&q->locked, 0);
    if (q->state == PQ_RUN && !q->no_commit) commit_remote(c, q, pq_offset(q));
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
static void unlock_task(void *arg)
{
    pq *q = arg;
    kite_push_consumer *c = q->c;
    if (kite_map_get(&c->releasing, q->key) == q) {
        kite_map_del(&c->releasing, q->key);
        pq_release(q);   /* the map's reference */
    }
    if (locking(c)) release_lock(c, q);
    pq_release(q);
}

/* ---- dropping and scheduling (I/O) ---- */

static void pull(pq *q);

static void on_pq_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    pq *q = arg;
    q->timer = NULL;
    pull(q);
    pq_release(q);
}

static void pull_later(pq *q, int64_t ms)
{
    if (atomic_load(&q->dropped) || stopping(q->c) || q->timer) return;
    q->timer = kite_ev_timer_add(ev(q->c), ms, 0, on_pq_timer, pq_ref(q));
}

/* Removes q from the table; commit: store its offset first. */
static void drop_pq(kite_push_consumer *c, pq *q, int commit)
{
    if (commit) commit_pq(c, q);
    atomic_store(&q->dropped, 1);
    if (orderly(c)) {
        /* A listener call may be in progress: the queue is unlocked (and not taken
         * again) only once it returned (the task's end posts unlock_task). */
        pthread_mutex_lock(&q->mu);
        int now = !q->oactive || c->final_drop;
        if (!now) q->unlock_pending = 1;
        pthread_mutex_unlock(&q->mu);
        if (now) {
            if (locking(c)) release_lock(c, q);
        } else if (!kite_map_get(&c->releasing, q->key)) {
            kite_map_put(&c->releasing, q->key, pq_ref(q));
        }
    }
    if (q->timer) {
        kite_ev_timer_cancel(ev(c), q->timer);
        q->timer = NULL;
        pq_release(q);
    }
    if (kite_map_get(&c->pqs, q->key) == q) {
        kite_map_del(&c->pqs, q->key);
        atomic_fetch_sub(&c->nqueues, 1);
        pq_release(q);   /* the table's reference */
    }
}

/* ---- the work queue ---- */

static void creq_free(creq *r)
{
    if (r->msgs) kite_rmsgs_free(r->msgs, r->n);
    pq_release(r->q);
    free(r);
}

/* Wakes want of the idle workers (all of them when want >= idle). Called after wq_mu is
 * released, so that a woken worker does not block on the lock at once; the tasks are in
 * the list already, so no wake-up can be lost. */
static void wake_workers(kite_push_consumer *c, size_t want, size_t idle)
{
    if (want >= idle) pthread_cond_broadcast(&c->wq_cv);
    else
        for (size_t i = 0; i < want; i++) pthread_cond_signal(&c->wq_cv);
}

#define SHORT_TASK_NS 20000   /* below this, waking a worker costs more than the task */
#define SHORT_TAKE 8
#define SHORT_ROUND_NS 100000 /* a woken worker's round of short tasks lasts about this long */
#define SHORT_TAKE_MAX 64

/* Tasks per woken worker while tasks are short: SHORT_TAKE, or as many as fill
 * SHORT_ROUND_NS when they are much shorter (up to SHORT_TAKE_MAX). Caller holds wq_mu. */
static size_t short_take(const kite_push_consumer *c)
{
    int64_t t = c->task_ns > 0 ? c->task_ns : 1, k = SHORT_ROUND_NS / t;
    return k < SHORT_TAKE ? SHORT_TAKE : k > SHORT_TAKE_MAX ? SHORT_TAKE_MAX : (size_t)k;
}

static void wq_push_list(kite_push_consumer *c, creq *first, creq *last, size_t n)
{
    pthread_mutex_lock(&c->wq_mu);
    if (c->wq_tail) c->wq_tail->next = first;
    else c->wq_head = first;
    c->wq_tail = last;
    c->wq_len += n;
    /* Wake as many workers as the new tasks need: one per task when tasks are long
     * (parallel listeners), one per short_take() tasks when they are shorter than a
     * wake-up (a woken worker then takes several). A broadcast per pull answer woke
     * every idle worker to fight over the lock for one or two tasks each. */
    size_t k = c->task_ns < SHORT_TASK_NS ? short_take(c) : 1, want = (n + k - 1) / k;
    size_t idle = c->wq_idle;
    pthread_mutex_unlock(&c->wq_mu);
    wake_workers(c, want, idle);
}

/* I/O: queues the consume task of an orderly queue (pq_add said so). */
static void dispatch_orderly(kite_push_consumer *c, pq *q)
{
    creq *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->q = pq_ref(q);
    r->orderly = 1;
    wq_push_list(c, r, r, 1);
}

/* I/O: splits the messages of a pull into consume requests of consume_batch_size. */
static void dispatch(kite_push_consumer *c, pq *q, kite_rmsg **msgs, size_t n)
{
    creq *first = NULL, *last = NULL;
    size_t bs = (size_t)c->o.consume_batch_size, count = 0;
    for (size_t i = 0; i < n; i += bs, count++) {
        size_t k = n - i < bs ? n - i : bs;
        creq *r = calloc(1, sizeof *r);
        if (!r || !(r->msgs = malloc(k * sizeof *r->msgs))) abort();
        memcpy(r->msgs, msgs + i, k * sizeof *msgs);
        r->n = k;
        r->q = pq_ref(q);
        if (last) last->next = r;
        else first = r;
        last = r;
    }
    if (first) wq_push_list(c, first, last, count);
}

/* ---- pulling (I/O) ---- */

static void on_pull(int status, kite_cmd *resp, void *arg);

static void pull(pq *q)
{
    kite_push_consumer *c = q->c;
    if (atomic_load(&q->dropped) || stopping(c) || q->timer) return;
    size_t count, bytes;
    pq_counts(q, &count, &bytes);
    if (count > (size_t)c->o.pull_threshold_for_queue ||
        bytes > (size_t)c->o.pull_threshold_size_for_queue_mib * 1024u * 1024u) {
        pull_later(q, DELAY_FLOW_CONTROL_MS);
        return;
    }
    if (locking(c) && !lock_valid(q)) {   /* Java: pull again 3 s later */
        pull_later(q, DELAY_ON_ERROR_MS);
        return;
    }
    char addr[128];
    if (broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) {
        pull_later(q, DELAY_ON_ERROR_MS);
        return;
    }
    int flags = PULL_FLAG_SUSPEND | PULL_FLAG_SUBSCRIPTION;
    int64_t commit = clustering(c) ? pq_offset(q) : 0;
    if (commit > 0) flags |= PULL_FLAG_COMMIT;
    else commit = 0;
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
    kite_cmd_set_ext(&req, "expressionType", "TAG");
    kite_cmd_set_ext(&req, "bname", q->broker);
    q->last_pull_ms = kite_wall_ms();
    kite_rpc_call_async(rpc(c), addr, &req, c->o.pull_timeout_ms, on_pull, pq_ref(q));
}

static void on_pull(int status, kite_cmd *resp, void *arg)
{
    pq *q = arg;
    kite_push_consumer *c = q->c;
    if (atomic_load(&q->dropped) || stopping(c)) goto out;
    if (status != KITE_OK) {
        KLOG_DEBUG("client", "pull %s:%s:%d failed: %s", q->s->topic, q->broker, q->qid, kite_strerror(status));
        pull_later(q, DELAY_ON_ERROR_MS);
        goto out;
    }
    int64_t next;
    int code = resp->code;
    if ((code == RS_SUCCESS || code == RS_PULL_NOT_FOUND || code == RS_PULL_RETRY_IMMEDIATELY ||
         code == RS_PULL_OFFSET_MOVED) &&
        kite_cmd_ext_i64(resp, "nextBeginOffset", &next) != 0) {
        KLOG_WARN("client", "pull %s:%s:%d: answer %d without nextBeginOffset", q->s->topic, q->broker, q->qid, code);
        pull_later(q, DELAY_ON_ERROR_MS);
        goto out;
    }
    switch (code) {
    case RS_SUCCESS: {
        kite_rmsg **msgs = NULL;
        size_t n = 0;
        char err[200];
        int rc = kite_rmsg_decode_all(resp->body, resp->body_len, q->broker, c->retry_topic, &q->s->tags, &msgs, &n,
                                      err, sizeof err);
        if (rc != KITE_OK)
            KLOG_WARN("client", "pull %s:%s:%d: %s (%zu messages kept)", q->s->topic, q->broker, q->qid, err, n);
        q->next_pull = next;
        if (orderly(c)) {
            if (pq_add(q, msgs, n, next, 1)) dispatch_orderly(c, q);
        } else {
            pq_add(q, msgs, n, next, 0);
            dispatch(c, q, msgs, n);
        }
        free(msgs);
        pull(q);
        break;
    }
    case RS_PULL_NOT_FOUND:
    case RS_PULL_RETRY_IMMEDIATELY:
        pq_set_tail(q, next);
        q->next_pull = next;
        pull(q);
        break;
    case RS_PULL_OFFSET_MOVED:
        KLOG_INFO("client", "consumer %s: offset of %s:%s:%d moved from %lld to %lld", c->group, q->s->topic, q->broker,
                  q->qid, (long long)q->next_pull, (long long)next);
        pq_set_tail(q, next);
        q->next_pull = next;
        commit_pq(c, q);
        if (!clustering(c)) local_save(c);
        pull(q);
        break;
    default:
        KLOG_DEBUG("client", "pull %s:%s:%d: broker answered %d %s", q->s->topic, q->broker, q->qid, code,
                   resp->remark ? resp->remark : "");
        pull_later(q, DELAY_ON_ERROR_MS);
        break;
    }
out:
    pq_release(q);
}

/* ---- start offsets of a new queue (I/O) ---- */

static void start_at(pq *q, int64_t off)
{
    if (off < 0) off = 0;
    pq_set_tail(q, off);
    q->next_pull = off;
    q->state = PQ_RUN;
    pull(q);
}

static void on_lookup(int status, kite_cmd *resp, void *arg)
{
    pq *q = arg;
    kite_push_consumer *c = q->c;
    int64_t off;
    if (atomic_load(&q->dropped) || stopping(c)) {
    } else if (status != KITE_OK || resp->code != RS_SUCCESS || kite_cmd_ext_i64(resp, "offset", &off) != 0) {
        KLOG_WARN("client", "consumer %s: no start offset for %s:%s:%d (%s); retried at the next rebalance", c->group,
                  q->s->topic, q->broker, q->qid, status != KITE_OK ? kite_strerror(status) : "broker refused");
        drop_pq(c, q, 0);
    } else {
        start_at(q, off);
    }
    pq_release(q);
}

/* consume_from for a queue without an offset (§6.6). */
static void from_where(pq *q)
{
    kite_push_consumer *c = q->c;
    int code = 0;
    if (c->o.consume_from == KITE_CONSUME_FROM_FIRST_OFFSET) {
        start_at(q, 0);
        return;
    }
    if (c->o.consume_from == KITE_CONSUME_FROM_LAST_OFFSET) {
        if (q->s->is_retry) {
            start_at(q, 0);
            return;
        }
        code = RC_GET_MAX_OFFSET;
    } else {
        code = q->s->is_retry ? RC_GET_MAX_OFFSET : RC_SEARCH_OFFSET_BY_TIMESTAMP;
    }
    char addr[128];
    if (broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) {
        drop_pq(c, q, 0);
        return;
    }
    kite_cmd req;
    kite_cmd_init_request(&req, code, 0);
    kite_cmd_set_ext(&req, "topic", q->s->topic);
    set_i64(&req, "queueId", q->qid);
    if (code == RC_SEARCH_OFFSET_BY_TIMESTAMP) {
        int64_t ts = c->o.consume_timestamp_ms ? c->o.consume_timestamp_ms : c->start_wall_ms - 30 * 60 * 1000;
        set_i64(&req, "timestamp", ts);
    }
    kite_cmd_set_ext(&req, "bname", q->broker);
    kite_rpc_call_async(rpc(c), addr, &req, c->o.rpc_timeout_ms, on_lookup, pq_ref(q));
}

static void on_query_offset(int status, kite_cmd *resp, void *arg)
{
    pq *q = arg;
    kite_push_consumer *c = q->c;
    int64_t off;
    if (atomic_load(&q->dropped) || stopping(c)) {
    } else if (status == KITE_OK && resp->code == RS_SUCCESS && kite_cmd_ext_i64(resp, "offset", &off) == 0) {
        start_at(q, off);
    } else if (status == KITE_OK && resp->code == RS_QUERY_NOT_FOUND) {
        from_where(q);
    } else {
        KLOG_WARN("client", "consumer %s: QUERY_CONSUMER_OFFSET of %s:%s:%d failed (%s); retried at the next rebalance",
                  c->group, q->s->topic, q->broker, q->qid, status != KITE_OK ? kite_strerror(status) : "broker refused");
        drop_pq(c, q, 0);
    }
    pq_release(q);
}

static void init_offset(pq *q)
{
    kite_push_consumer *c = q->c;
    if (!clustering(c)) {
        int64_t *v = kite_map_get(&c->offsets, q->key);
        if (v) start_at(q, *v);
        else from_where(q);
        return;
    }
    char addr[128];
    if (broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) {
        drop_pq(c, q, 0);
        return;
    }
    kite_cmd req;
    kite_cmd_init_request(&req, RC_QUERY_CONSUMER_OFFSET, 0);
    kite_cmd_set_ext(&req, "consumerGroup", c->group);
    kite_cmd_set_ext(&req, "topic", q->s->topic);
    set_i64(&req, "queueId", q->qid);
    kite_cmd_set_ext(&req, "bname", q->broker);
    kite_rpc_call_async(rpc(c), addr, &req, c->o.rpc_timeout_ms, on_query_offset, pq_ref(q));
}

/* ---- locking (I/O) ---- */

typedef struct lock_ctx {
    kite_push_consumer *c;
    pq **qs;                     /* one reference each */
    size_t n;
    int first;                   /* a newly assigned queue: start it or give it up */
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
            char *k = mq_key(t, b, qid);
            kite_map_put(&ok, k, (void *)1);
            free(k);
        }
    } else if (!stopping(c)) {
        KLOG_DEBUG("client", "consumer %s: LOCK_BATCH_MQ failed: %s", c->group,
                   status != KITE_OK ? kite_strerror(status) : resp->remark ? resp->remark : "refused");
    }
    int64_t now = kite_mono_ms();
    for (size_t i = 0; i < x->n; i++) {
        pq *q = x->qs[i];
        if ((stopping(c) || atomic_load(&q->dropped)) && x->first && kite_map_get(&ok, q->key)) {
            q->ever_locked = 1;   /* granted after all, but no longer wanted */
            release_lock(c, q);
        } else if (!stopping(c) && !atomic_load(&q->dropped)) {
            int granted = kite_map_get(&ok, q->key) != NULL;
            if (granted) {
                int revived = !x->first && !lock_valid(q);
                atomic_store(&q->lock_ms, now);
                atomic_store(&q->locked, 1);
                q->ever_locked = 1;
                if (revived && q->state == PQ_RUN && q->timer) {
                    /* Its pulls were waiting for the lock (DELAY_ON_ERROR_MS): go on now. */
                    kite_ev_timer_cancel(ev(c), q->timer);
                    q->timer = NULL;
                    pq_release(q);   /* the timer's reference; x still holds one */
                    pull(q);
                }
            } else if (answered) {
                if (atomic_exchange(&q->locked, 0))
                    KLOG_INFO("client", "consumer %s (%s) lost the lock of %s", c->group, c->client_id, q->key);
            }
            if (x->first) {
                if (granted) {
                    init_offset(q);
                } else {
                    KLOG_DEBUG("client", "consumer %s (%s): %s is locked by another client; retried at the next rebalance",
                               c->group, c->client_id, q->key);
                    drop_pq(c, q, 0);
                }
            }
        }
        pq_release(q);
    }
    if (doc) kite_json_doc_free(doc);
    kite_map_free(&ok, NULL);
    free(x->qs);
    free(x);
}

/* LOCK_BATCH_MQ for qs[0..n) (one broker; takes over their references). */
static void send_lock(kite_push_consumer *c, const char *addr, const char *bname, pq **qs, size_t n, int first)
{
    lock_ctx *x = calloc(1, sizeof *x);
    if (!x) abort();
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

static void lock_first(kite_push_consumer *c, pq *q)
{
    char addr[128];
    if (broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) {
        drop_pq(c, q, 0);
        return;
    }
    pq **qs = malloc(sizeof *qs);
    if (!qs) abort();
    qs[0] = pq_ref(q);
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
        if (q->state != PQ_RUN) continue;   /* its first lock or offset lookup is in flight */
        all = realloc(all, (n + 1) * sizeof *all);
        if (!all) abort();
        if (broker_addr(c, q->s->topic, q->broker, all[n].addr, sizeof all[n].addr) != 0) continue;
        all[n++].q = q;
    }
    if (n) qsort(all, n, sizeof *all, cmp_lock_ent);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(all[j].addr, all[i].addr) == 0) j++;
        pq **qs = malloc((j - i) * sizeof *qs);
        if (!qs) abort();
        for (size_t k = i; k < j; k++) qs[k - i] = pq_ref(all[k].q);
        send_lock(c, all[i].addr, all[i].q->broker, qs, j - i, 0);
        i = j;
    }
    free(all);
}

static void on_lock_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    lock_all(arg);
}

/* ---- rebalance (I/O) ---- */

static void add_pq(kite_push_consumer *c, sub *s, const kite_mq *mq, const char *key)
{
    pq *q = calloc(1, sizeof *q);
    if (!q || !(q->key = strdup(key)) || !(q->broker = strdup(mq->broker_name))) abort();
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
    KLOG_DEBUG("client", "consumer %s (%s) takes %s:%s:%d", c->group, c->client_id, s->topic, mq->broker_name, mq->queue_id);
    if (locking(c)) lock_first(c, q);
    else init_offset(q);
}

/* Makes s's queues in the table exactly mqs[0..n). */
static void apply(kite_push_consumer *c, sub *s, const kite_mq *mqs, size_t n)
{
    kite_map want = KITE_MAP_INIT;
    char **keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys) abort();
    for (size_t i = 0; i < n; i++) {
        keys[i] = mq_key(s->topic, mqs[i].broker_name, mqs[i].queue_id);
        kite_map_put(&want, keys[i], (void *)&mqs[i]);
    }
    size_t it = 0;
    void *v;
    pq **gone = NULL;
    size_t ngone = 0;
    while (kite_map_next(&c->pqs, &it, NULL, &v)) {
        pq *q = v;
        if (q->s != s || kite_map_get(&want, q->key)) continue;
        gone = realloc(gone, (ngone + 1) * sizeof *gone);
        if (!gone) abort();
        gone[ngone++] = q;
    }
    for (size_t i = 0; i < ngone; i++) {
        KLOG_DEBUG("client", "consumer %s (%s) drops %s", c->group, c->client_id, gone[i]->key);
        drop_pq(c, gone[i], 1);
    }
    free(gone);
    if (ngone && !clustering(c)) local_save(c);
    for (size_t i = 0; i < n && !stopping(c); i++)
        if (!kite_map_get(&c->pqs, keys[i]) && !kite_map_get(&c->releasing, keys[i])) add_pq(c, s, &mqs[i], keys[i]);
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    kite_map_free(&want, NULL);
}

static void rebalance_topic(kite_push_consumer *c, sub *s);
static void heartbeat_all(kite_push_consumer *c);

static void rb_done(sub *s)
{
    s->rb_busy = 0;
    if (s->rb_again && !stopping(s->c)) {
        s->rb_again = 0;
        rebalance_topic(s->c, s);
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

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void on_cids(int status, kite_cmd *resp, void *arg)
{
    rb_ctx *x = arg;
    sub *s = x->s;
    kite_push_consumer *c = s->c;
    if (stopping(c)) goto out;
    if (status != KITE_OK || resp->code != RS_SUCCESS) {
        KLOG_DEBUG("client", "consumer %s: no consumer list for %s (%s)", c->group, s->topic,
                   status != KITE_OK ? kite_strerror(status) : resp->remark ? resp->remark : "refused");
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
    const char **ids = calloc(l->count ? l->count : 1, sizeof *ids);
    if (!ids) abort();
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
        KLOG_DEBUG("client", "consumer %s: %s not in the consumer list of %s yet", c->group, c->client_id, s->topic);
    } else {
        /* AllocateMessageQueueAveragely (§6.5). */
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
        KLOG_DEBUG("client", "consumer %s: route of %s: %s", c->group, s->topic, err ? err : kite_strerror(status));
        route = kite_inst_route_cached(c->inst, s->topic);   /* go on with the last known route */
        if (!route) {
            s->missing = 1;
            rb_done(s);
            return;
        }
    }
    if (s->missing && !route->via_default) heartbeat_all(c);   /* brokers of a new route learn about us first */
    s->missing = route->via_default;
    rb_ctx *x = calloc(1, sizeof *x);
    if (!x) abort();
    x->s = s;
    x->route = route;
    if (route->via_default || kite_route_read_queues(route, &x->mqs, &x->n) != KITE_OK) {
        rb_ctx_free(x);   /* the topic does not exist (yet): nothing to assign */
        rb_done(s);
        return;
    }
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

static void rebalance_topic(kite_push_consumer *c, sub *s)
{
    if (stopping(c)) return;
    if (s->rb_busy) {
        s->rb_again = 1;
        return;
    }
    s->rb_busy = 1;
    kite_inst_route_fetch(c->inst, s->topic, on_rb_route, s);
}

static void rebalance_all(kite_push_consumer *c)
{
    for (size_t i = 0; i < c->nsubs; i++) rebalance_topic(c, c->subs[i]);
}

/* ---- heartbeats (I/O, and the shutdown thread for UNREGISTER) ---- */

static void heartbeat_body(kite_push_consumer *c, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "clientID");
    kite_jw_str(&w, c->client_id);
    kite_jw_key(&w, "consumerDataSet");
    kite_jw_arr_begin(&w);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "consumeFromWhere");
    kite_jw_str(&w, from_name(c->o.consume_from));
    kite_jw_key(&w, "consumeType");
    kite_jw_str(&w, "CONSUME_PASSIVELY");
    kite_jw_key(&w, "groupName");
    kite_jw_str(&w, c->group);
    kite_jw_key(&w, "messageModel");
    kite_jw_str(&w, model_name(c));
    kite_jw_key(&w, "subscriptionDataSet");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < c->nsubs; i++) {
        const sub *s = c->subs[i];
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "classFilterMode");
        kite_jw_bool(&w, 0);
        kite_jw_key(&w, "codeSet");
        kite_jw_arr_begin(&w);
        for (size_t t = 0; t < s->tags.n; t++) kite_jw_int(&w, kite_java_hash(s->tags.tags[t], strlen(s->tags.tags[t])));
        kite_jw_arr_end(&w);
        kite_jw_key(&w, "expressionType");
        kite_jw_str(&w, "TAG");
        kite_jw_key(&w, "subString");
        kite_jw_str(&w, s->expr);
        kite_jw_key(&w, "subVersion");
        kite_jw_int(&w, s->version);
        kite_jw_key(&w, "tagsSet");
        kite_jw_arr_begin(&w);
        for (size_t t = 0; t < s->tags.n; t++) kite_jw_str(&w, s->tags.tags[t]);
        kite_jw_arr_end(&w);
        kite_jw_key(&w, "topic");
        kite_jw_str(&w, s->topic);
        kite_jw_obj_end(&w);
    }
    kite_jw_arr_end(&w);
    kite_jw_key(&w, "unitMode");
    kite_jw_bool(&w, 0);
    kite_jw_obj_end(&w);
    kite_jw_arr_end(&w);
    kite_hb_write_producers(&w, NULL);
    kite_jw_obj_end(&w);
}

/* Every broker address (masters and slaves) of the subscribed topics' routes. */
static char **broker_addrs(kite_push_consumer *c, size_t *n)
{
    kite_map seen = KITE_MAP_INIT;
    for (size_t i = 0; i < c->nsubs; i++) {
        kite_pub_route *r = kite_inst_route_cached(c->inst, c->subs[i]->topic);
        for (size_t b = 0; r && b < r->rd.n_brokers; b++)
            for (size_t j = 0; j < r->rd.brokers[b].n_addrs; j++) {
                const char *a = r->rd.brokers[b].addrs[j].addr;
                if (a && *a && !kite_map_get(&seen, a)) kite_map_put(&seen, a, (void *)1);
            }
        kite_pub_route_release(r);
    }
    const char **keys = kite_map_sorted_keys(&seen, n);
    char **out = calloc(*n ? *n : 1, sizeof *out);
    if (!out) abort();
    for (size_t i = 0; i < *n; i++)
        if (!(out[i] = strdup(keys[i]))) abort();
    free(keys);
    kite_map_free(&seen, NULL);
    return out;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void on_heartbeat(int status, kite_cmd *resp, void *arg)
{
    kite_push_consumer *c = arg;
    if (stopping(c)) return;
    if (status != KITE_OK || resp->code != RS_SUCCESS)
        KLOG_DEBUG("client", "consumer %s: heartbeat failed: %s", c->group,
                   status != KITE_OK ? kite_strerror(status) : resp->remark ? resp->remark : "refused");
}

static void heartbeat_all(kite_push_consumer *c)
{
    if (stopping(c)) return;
    size_t n = 0;
    char **addrs = broker_addrs(c, &n);
    kite_buf body = KITE_BUF_INIT;
    heartbeat_body(c, &body);
    for (size_t i = 0; i < n; i++) {
        kite_cmd req;
        kite_cmd_init_request(&req, RC_HEART_BEAT, 0);
        kite_cmd_set_body_copy(&req, body.data, body.len);
        kite_rpc_call_async(rpc(c), addrs[i], &req, c->o.rpc_timeout_ms, on_heartbeat, c);
    }
    kite_buf_free(&body);
    free_strs(addrs, n);
}

/* ---- timers (I/O) ---- */

static void on_hb_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    heartbeat_all(arg);
}

static void on_rb_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    rebalance_all(arg);
}

static void on_commit_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    kite_push_consumer *c = arg;
    if (!stopping(c)) commit_all(c);
}

/* Topics without a route (not created yet, or a retry topic the broker has not
 * registered yet) are looked up every second rather than every rebalance period. */
static void on_missing_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    kite_push_consumer *c = arg;
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i]->missing) rebalance_topic(c, c->subs[i]);
}

static void boot(void *arg)
{
    kite_push_consumer *c = arg;
    if (stopping(c)) return;
    heartbeat_all(c);
    rebalance_all(c);
    c->t_hb = kite_ev_timer_add(ev(c), c->o.heartbeat_interval_ms, c->o.heartbeat_interval_ms, on_hb_timer, c);
    c->t_rb = kite_ev_timer_add(ev(c), c->o.rebalance_interval_ms, c->o.rebalance_interval_ms, on_rb_timer, c);
    c->t_commit = kite_ev_timer_add(ev(c), c->o.persist_offset_interval_ms, c->o.persist_offset_interval_ms,
                                    on_commit_timer, c);
    if (locking(c)) c->t_lock = kite_ev_timer_add(ev(c), c->o.lock_interval_ms, c->o.lock_interval_ms, on_lock_timer, c);
    int64_t m = c->o.rebalance_interval_ms < 1000 ? c->o.rebalance_interval_ms : 1000;
    c->t_missing = kite_ev_timer_add(ev(c), m, m, on_missing_timer, c);
}

/* ---- requests from brokers (I/O) ---- */

static void h_notify(kite_rpc_req *req, void *arg)
{
    kite_push_consumer *c = arg;
    KLOG_DEBUG("client", "consumer %s: the broker says the group changed; rebalancing", c->group);
    if (!stopping(c)) rebalance_all(c);
    kite_rpc_done(req);
}

static void reset_one(kite_push_consumer *c, const char *topic, const char *broker, int32_t qid, int64_t off)
{
    char *key = mq_key(topic, broker, qid);
    pq *q = kite_map_get(&c->pqs, key);
    if (q) {
        q->no_commit = 1;
        drop_pq(c, q, 0);
        if (clustering(c)) {
            /* The broker stored it already; sent again so a late commit cannot win. */
            char addr[128];
            if (broker_addr(c, topic, broker, addr, sizeof addr) == 0) {
                kite_cmd req;
                kite_cmd_init_request(&req, RC_UPDATE_CONSUMER_OFFSET, 0);
                kite_cmd_set_ext(&req, "consumerGroup", c->group);
                kite_cmd_set_ext(&req, "topic", topic);
                set_i64(&req, "queueId", qid);
                set_i64(&req, "commitOffset", off);
                kite_rpc_oneway(rpc(c), addr, &req);
            }
        }
    }
    if (!clustering(c)) local_set(c, key, off);
    free(key);
}

/* RESET_CONSUMER_CLIENT_OFFSET: body ResetOffsetBody (object keys) or ResetOffsetBodyForC
 * (a list), §4.13. The queues restart from the new offsets at once. */
static void h_reset(kite_rpc_req *req, void *arg)
{
    kite_push_consumer *c = arg;
    const char *group = kite_cmd_ext(&req->cmd, "group");
    char err[160];
    kite_json_doc *doc = req->cmd.body_len ? kite_json_parse((const char *)req->cmd.body, req->cmd.body_len, err, sizeof err)
                                           : NULL;
    const kite_json *t = doc ? kite_json_get(kite_json_root(doc), "offsetTable") : NULL;
    if (stopping(c) || (group && strcmp(group, c->group) != 0) || !t) {
        if (doc) kite_json_doc_free(doc);
        kite_rpc_done(req);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++) {
        const kite_json *mq = NULL;
        int64_t off;
        if (t->type == KJ_OBJECT) {
            mq = t->members[i].key;
            if (mq->type != KJ_OBJECT || kite_json_int64(t->members[i].value, &off) != 0) continue;
        } else if (t->type == KJ_ARRAY) {
            mq = t->items[i];
            if (mq->type != KJ_OBJECT || kite_json_int64(kite_json_get(mq, "offset"), &off) != 0) continue;
        } else {
            break;
        }
        const char *topic = kite_json_get_str(mq, "topic", NULL), *broker = kite_json_get_str(mq, "brokerName", NULL);
        int32_t qid = kite_json_get_int32(mq, "queueId", -1);
        if (!topic || !broker || qid < 0) continue;
        reset_one(c, topic, broker, qid, off);
        n++;
    }
    KLOG_INFO("client", "consumer %s: offsets of %zu queue(s) reset by the broker", c->group, n);
    kite_json_doc_free(doc);
    if (!clustering(c)) local_save(c);
    kite_rpc_done(req);
    rebalance_all(c);
}


/* GET_CONSUMER_RUNNING_INFO: a small ConsumerRunningInfo (properties, subscriptionSet,
 * mqTable with ProcessQueueInfo-like entries, statusTable empty). */
static void h_running_info(kite_rpc_req *req, void *arg)
{
    kite_push_consumer *c = arg;
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "jstack");
    kite_jw_str(&w, "");
    kite_jw_key(&w, "mqTable");
    kite_jw_obj_begin(&w);
    size_t n = 0;
    const char **keys = kite_map_sorted_keys(&c->pqs, &n);
    for (size_t i = 0; keys && i < n; i++) {
        pq *q = kite_map_get(&c->pqs, keys[i]);
        size_t cnt, bytes;
        pq_counts(q, &cnt, &bytes);
        kite_jw_key_obj_begin(&w);
        kite_jw_key(&w, "brokerName");
        kite_jw_str(&w, q->broker);
        kite_jw_key(&w, "queueId");
        kite_jw_int(&w, q->qid);
        kite_jw_key(&w, "topic");
        kite_jw_str(&w, q->s->topic);
        kite_jw_key_obj_end(&w);
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "cachedMsgCount");
        kite_jw_int(&w, (int64_t)cnt);
        kite_jw_key(&w, "cachedMsgSizeInMiB");
        kite_jw_int(&w, (int64_t)(bytes >> 20));
        kite_jw_key(&w, "commitOffset");
        kite_jw_int(&w, q->state == PQ_RUN ? pq_offset(q) : -1);
        kite_jw_key(&w, "droped");
        kite_jw_bool(&w, 0);
        kite_jw_key(&w, "lastPullTimestamp");
        kite_jw_int(&w, q->last_pull_ms);
        pthread_mutex_lock(&q->mu);
        int64_t lc = q->last_consume_ms;
        pthread_mutex_unlock(&q->mu);
        kite_jw_key(&w, "lastConsumeTimestamp");
        kite_jw_int(&w, lc);
        kite_jw_key(&w, "locked");
        kite_jw_bool(&w, locking(c) ? lock_valid(q) : 0);
        kite_jw_obj_end(&w);
    }
    free(keys);
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "properties");
    kite_jw_obj_begin(&w);
    kite_jw_kv(&w, "PROP_CLIENT_VERSION", kite_version());
    kite_jw_kv(&w, "PROP_CONSUMEORDERLY", orderly(c) ? "true" : "false");
    kite_jw_kv_numstr(&w, "PROP_CONSUMER_START_TIMESTAMP", c->start_wall_ms);
    kite_jw_kv(&w, "PROP_CONSUME_TYPE", "CONSUME_PASSIVELY");
    kite_jw_kv(&w, "PROP_NAMESERVER_ADDR", c->o.namesrv_addr);
    kite_jw_kv_numstr(&w, "PROP_THREADPOOL_CORE_SIZE", c->o.consume_threads);
    kite_jw_kv(&w, "consumeFromWhere", from_name(c->o.consume_from));
    kite_jw_kv_numstr(&w, "consumeMessageBatchMaxSize", c->o.consume_batch_size);
    kite_jw_kv_numstr(&w, "consumeThreadMin", c->o.consume_threads);
    kite_jw_kv(&w, "consumerGroup", c->group);
    kite_jw_kv_numstr(&w, "maxReconsumeTimes", c->o.max_reconsume_times);
    kite_jw_kv(&w, "messageModel", model_name(c));
    kite_jw_kv_numstr(&w, "pullBatchSize", c->o.pull_batch_size);
    kite_jw_kv_numstr(&w, "pullThresholdForQueue", c->o.pull_threshold_for_queue);
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "statusTable");
    kite_jw_obj_begin(&w);
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "subscriptionSet");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < c->nsubs; i++) {
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "expressionType");
        kite_jw_str(&w, "TAG");
        kite_jw_key(&w, "subString");
        kite_jw_str(&w, c->subs[i]->expr);
        kite_jw_key(&w, "subVersion");
        kite_jw_int(&w, c->subs[i]->version);
        kite_jw_key(&w, "topic");
        kite_jw_str(&w, c->subs[i]->topic);
        kite_jw_obj_end(&w);
    }
    kite_jw_arr_end(&w);
    kite_jw_obj_end(&w);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    size_t len = 0;
    char *p = kite_buf_steal(&out, &len);
    kite_cmd_set_body_own(&resp, p, len);
    kite_rpc_reply(req, &resp);
}

/* CONSUME_MESSAGE_DIRECTLY: the record goes to a worker, which answers. */
static void h_direct(kite_rpc_req *req, void *arg)
{
    kite_push_consumer *c = arg;
    kite_rmsg **msgs = NULL;
    size_t n = 0;
    char err[200] = "";
    const char *bn = kite_cmd_ext(&req->cmd, "brokerName");
    int rc = kite_rmsg_decode_all(req->cmd.body, req->cmd.body_len, bn ? bn : "", c->retry_topic, NULL, &msgs, &n, err,
                                  sizeof err);
    if (stopping(c) || rc != KITE_OK || n != 1) {
        kite_rmsgs_free(msgs, n);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, stopping(c) ? "the consumer is shutting down"
                                                              : err[0] ? err : "the body must hold exactly one message");
        return;
    }
    creq *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->msgs = msgs;
    r->n = 1;
    r->direct = req;
    wq_push_list(c, r, r, 1);
}

/* ---- workers ---- */

/* Builds a properties string: the message's properties with these replaced. */
static void props_for_resend(const kite_message_ext *m, const char *retry_of, int reconsume, int max_re, kite_buf *out)
{
    static const char *const drop[] = { "RETRY_TOPIC", "RECONSUME_TIME", "MAX_RECONSUME_TIMES", "DELAY", "ORIGIN_MESSAGE_ID" };
    const char *name, *value;
    const char *origin = kite_message_ext_property(m, "ORIGIN_MESSAGE_ID");
    const char *rt = kite_message_ext_property(m, "RETRY_TOPIC");
    for (size_t i = 0; kite_message_ext_property_at(m, i, &name, &value) == KITE_OK; i++) {
        int skip = 0;
        for (size_t k = 0; k < sizeof drop / sizeof *drop; k++) skip |= strcmp(name, drop[k]) == 0;
        if (skip) continue;
        kite_buf_printf(out, "%s\001%s\002", name, value);
    }
    kite_buf_printf(out, "RETRY_TOPIC\001%s\002", rt ? rt : retry_of);
    kite_buf_printf(out, "RECONSUME_TIME\001%d\002", reconsume);
    kite_buf_printf(out, "MAX_RECONSUME_TIMES\001%d\002", max_re);
    kite_buf_printf(out, "DELAY\001%d\002", 3 + reconsume - 1);
    kite_buf_printf(out, "ORIGIN_MESSAGE_ID\001%s\002", origin ? origin : m->msg_id);
}

/* CONSUMER_SEND_MSG_BACK (delay_level 0: the broker's retry schedule; -1: straight to
 * the DLQ), else a resend to %RETRY%<group> (Java's fallback; the broker moves it to the
 * DLQ once reconsume_times reaches max_reconsume_times). 0 = the broker has the
 * message again. Worker thread (blocking calls). */
static int send_back(kite_push_consumer *c, const char *pulled_topic, const kite_message_ext *m, int delay_level)
{
    char addr[128];
    int have = broker_addr(c, pulled_topic, m->broker_name, addr, sizeof addr) == 0;
    if (have) {
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_CONSUMER_SEND_MSG_BACK, 0);
        set_i64(&req, "offset", m->commit_log_offset);
        kite_cmd_set_ext(&req, "group", c->group);
        set_i64(&req, "delayLevel", delay_level);
        kite_cmd_set_ext(&req, "originMsgId", m->msg_id);
        kite_cmd_set_ext(&req, "originTopic", m->topic);
        kite_cmd_set_ext(&req, "unitMode", "false");
        set_i64(&req, "maxReconsumeTimes", c->o.max_reconsume_times);
        kite_cmd_set_ext(&req, "bname", m->broker_name);
        int rc = kite_rpc_call_sync(rpc(c), addr, &req, c->o.rpc_timeout_ms, &resp);
        if (rc == KITE_OK) {
            int code = resp.code;
            if (code != RS_SUCCESS)
                KLOG_DEBUG("client", "consumer %s: send-back of %s refused (%d %s); resending", c->group, m->msg_id, code,
                           resp.remark ? resp.remark : "");
            kite_cmd_free(&resp);
            if (code == RS_SUCCESS) return 0;
        }
    }
    /* Fallback: our own SEND_MESSAGE_V2 to the retry topic. */
    kite_pub_route *r = NULL;
    char err[200];
    if (kite_inst_route_get(c->inst, c->retry_topic, &r, err, sizeof err) != KITE_OK) return -1;
    const char *a = NULL;
    for (size_t i = 0; !a && i < r->rd.n_brokers; i++)
        if (r->rd.brokers[i].broker_name) a = kite_pub_route_master(r, r->rd.brokers[i].broker_name);
    if (a) snprintf(addr, sizeof addr, "%s", a);
    kite_pub_route_release(r);
    if (!a) return -1;
    kite_buf props = KITE_BUF_INIT;
    props_for_resend(m, m->topic, m->reconsume_times + 1, c->o.max_reconsume_times, &props);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_SEND_MESSAGE_V2, 0);
    kite_cmd_set_ext(&req, "a", "CLIENT_INNER_PRODUCER");
    kite_cmd_set_ext(&req, "b", c->retry_topic);
    kite_cmd_set_ext(&req, "c", "TBW102");
    kite_cmd_set_ext(&req, "d", "4");
    kite_cmd_set_ext(&req, "e", "-1");
    kite_cmd_set_ext(&req, "f", "0");
    set_i64(&req, "g", m->born_timestamp);
    set_i64(&req, "h", m->flag);
    kite_cmd_set_ext_n(&req, "i", props.data ? props.data : "", props.len);
    set_i64(&req, "j", m->reconsume_times + 1);
    kite_cmd_set_ext(&req, "k", "false");
    set_i64(&req, "l", c->o.max_reconsume_times);
    kite_cmd_set_ext(&req, "m", "false");
    kite_cmd_set_body_copy(&req, m->body, m->body_len);
    kite_buf_free(&props);
    int rc = kite_rpc_call_sync(rpc(c), addr, &req, c->o.rpc_timeout_ms, &resp);
    int ok = rc == KITE_OK && resp.code == RS_SUCCESS;
    if (rc == KITE_OK) kite_cmd_free(&resp);
    return ok ? 0 : -1;
}

static void run_direct(kite_push_consumer *c, creq *r)
{
    int64_t t0 = kite_mono_ms();
    const kite_message_ext *m = &r->msgs[0]->m;
    kite_consume_status st;
    if (c->ocb)
        st = c->ocb(&m, 1, c->ocb_arg) == KITE_ORDERLY_SUCCESS ? KITE_CONSUME_SUCCESS : KITE_RECONSUME_LATER;
    else
        st = c->cb(&m, 1, c->cb_arg);
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "autoCommit");
    kite_jw_bool(&w, 1);
    kite_jw_key(&w, "consumeResult");
    kite_jw_str(&w, st == KITE_CONSUME_SUCCESS ? "CR_SUCCESS" : "CR_LATER");
    kite_jw_key(&w, "order");
    kite_jw_bool(&w, c->ocb != NULL);
    kite_jw_key(&w, "remark");
    kite_jw_str(&w, st == KITE_CONSUME_SUCCESS ? "consumed" : "the listener returned RECONSUME_LATER");
    kite_jw_key(&w, "spentTimeMills");
    kite_jw_int(&w, kite_mono_ms() - t0);
    kite_jw_obj_end(&w);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &r->direct->cmd, RS_SUCCESS, NULL);
    size_t len = 0;
    char *p = kite_buf_steal(&out, &len);
    kite_cmd_set_body_own(&resp, p, len);
    kite_rpc_reply(r->direct, &resp);
    r->direct = NULL;
    creq_free(r);
}

static void run_creq(kite_push_consumer *c, creq *r)
{
    pq *q = r->q;
    if (atomic_load(&q->dropped)) {   /* another consumer owns the queue now */
        creq_free(r);
        return;
    }
    const kite_message_ext *stackv[32] = { 0 };
    const kite_message_ext **v = r->n <= 32 ? stackv : malloc(r->n * sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < r->n; i++) v[i] = &r->msgs[i]->m;
    kite_consume_status st = c->cb(v, r->n, c->cb_arg);
    if (v != stackv) free(v);
    if (st != KITE_CONSUME_SUCCESS && clustering(c)) {
        /* Messages the broker took back are done; the others stay cached and are
         * consumed here again after LOCAL_RETRY_MS. */
        kite_rmsg **kept = malloc(r->n * sizeof *kept), **back = malloc(r->n * sizeof *back);
        if (!kept || !back) abort();
        size_t nk = 0, nb = 0;
        for (size_t i = 0; i < r->n; i++) {
            if (send_back(c, q->s->topic, &r->msgs[i]->m, 0) == 0) back[nb++] = r->msgs[i];
            else kept[nk++] = r->msgs[i];
        }
        if (nk) {
            pq_remove(q, back, nb);
            for (size_t i = 0; i < nb; i++) kite_rmsg_free(back[i]);
            memcpy(r->msgs, kept, nk * sizeof *kept);
            r->n = nk;
            free(kept);
            free(back);
            r->due_ms = kite_mono_ms() + LOCAL_RETRY_MS;
            KLOG_WARN("client", "consumer %s: %zu message(s) could not be sent back; consuming them again in %d ms",
                      c->group, nk, LOCAL_RETRY_MS);
            pthread_mutex_lock(&c->wq_mu);
            r->next = c->later;
            c->later = r;
            pthread_cond_broadcast(&c->wq_cv);
            pthread_mutex_unlock(&c->wq_mu);
            return;
        }
        free(kept);
        free(back);
    } else if (st != KITE_CONSUME_SUCCESS) {
        KLOG_WARN("client", "consumer %s (BROADCASTING): %zu message(s) failed and are dropped (no retry in this mode)",
                  c->group, r->n);
    }
    pq_remove(q, r->msgs, r->n);
    creq_free(r);
}

static void later_push(kite_push_consumer *c, creq *r, int64_t delay_ms)
{
    r->next = NULL;
    r->due_ms = kite_mono_ms() + delay_ms;
    pthread_mutex_lock(&c->wq_mu);
    r->next = c->later;
    c->later = r;
    pthread_cond_broadcast(&c->wq_cv);
    pthread_mutex_unlock(&c->wq_mu);
}

/* The consume task of an orderly queue: at most one per queue exists (oactive), so one
 * worker at a time hands the queue's next messages to the listener. One batch per
 * turn, then the task goes to the back of the work queue (fairness between queues). */
static void run_orderly(kite_push_consumer *c, creq *r)
{
    pq *q = r->q;
    pthread_mutex_lock(&q->mu);
    if (atomic_load(&q->dropped) || stopping(c) || q->olen == q->ohead) {
        q->oactive = 0;
        int post = atomic_load(&q->dropped) && q->unlock_pending;
        if (post) q->unlock_pending = 0;
        pthread_mutex_unlock(&q->mu);
        if (post) kite_ev_post(ev(c), unlock_task, pq_ref(q));
        creq_free(r);
        return;
    }
    if (locking(c) && !lock_valid(q)) {   /* not ours (now): wait for a renewal */
        pthread_mutex_unlock(&q->mu);
        later_push(c, r, LOCK_WAIT_MS);
        return;
    }
    size_t k = q->olen - q->ohead;
    if (k > (size_t)c->o.consume_batch_size) k = (size_t)c->o.consume_batch_size;
    kite_rmsg **batch = malloc(k * sizeof *batch);
    const kite_message_ext **v = malloc(k * sizeof *v);
    if (!batch || !v) abort();
    memcpy(batch, q->om + q->ohead, k * sizeof *batch);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < k; i++) v[i] = &batch[i]->m;
    kite_consume_orderly_status st = c->ocb(v, k, c->ocb_arg);
    free(v);
    int consumed = st == KITE_ORDERLY_SUCCESS;
    if (!consumed) {
        /* Java checkReconsumeTimes: a message past max_reconsume_times goes to the DLQ
         * (and counts as consumed); the others come again after the suspension. */
        int suspend = 0;
        for (size_t i = 0; i < k; i++) {
            kite_message_ext *m = &batch[i]->m;
            if (m->reconsume_times >= c->o.max_reconsume_times) {
                if (!clustering(c)) {
                    KLOG_WARN("client", "consumer %s (BROADCASTING): message %s suspended %d times; dropped", c->group,
                              m->msg_id, m->reconsume_times);
                } else if (send_back(c, q->s->topic, m, -1) == 0) {
                    KLOG_INFO("client", "consumer %s: message %s suspended %d times; sent to the DLQ", c->group,
                              m->msg_id, m->reconsume_times);
                } else {
                    suspend = 1;
                    m->reconsume_times++;
                }
            } else {
                suspend = 1;
                m->reconsume_times++;
            }
        }
        consumed = !suspend;
    }
    if (!consumed) {
        free(batch);
        later_push(c, r, c->o.suspend_current_queue_ms);
        return;
    }
    pthread_mutex_lock(&q->mu);
    q->ohead += k;   /* only this task removes from the front */
    if (q->ohead == q->olen) q->ohead = q->olen = 0;
    pthread_mutex_unlock(&q->mu);
    pq_remove(q, batch, k);
    for (size_t i = 0; i < k; i++) kite_rmsg_free(batch[i]);
    free(batch);
    r->next = NULL;
    wq_push_list(c, r, r, 1);
}

/* Moves due entries of the later list to the queue; returns ms until the next one. */
static int64_t promote_due(kite_push_consumer *c)
{
    int64_t now = kite_mono_ms(), next = -1;
    creq **pp = &c->later;
    while (*pp) {
        creq *r = *pp;
        if (r->due_ms <= now) {
            *pp = r->next;
            r->next = NULL;
            if (c->wq_tail) c->wq_tail->next = r;
            else c->wq_head = r;
            c->wq_tail = r;
            c->wq_len++;
        } else {
            if (next < 0 || r->due_ms - now < next) next = r->due_ms - now;
            pp = &r->next;
        }
    }
    return next;
}

/* A task that ran longer than this makes its worker hand the rest of its round back. */
#define GIVE_BACK_NS 10000000

/* Puts the tasks a worker took but will not run now back at the head of the queue,
 * counts the slow task in the average, and wakes workers for them. */
static void wq_give_back(kite_push_consumer *c, creq *list, int64_t slow_ns)
{
    size_t n = 1;
    creq *last = list;
    while (last->next) last = last->next, n++;
    pthread_mutex_lock(&c->wq_mu);
    last->next = c->wq_head;
    c->wq_head = list;
    if (!c->wq_tail) c->wq_tail = last;
    c->wq_len += n;
    if (c->task_ns < slow_ns) c->task_ns = slow_ns;
    size_t idle = c->wq_idle;
    pthread_mutex_unlock(&c->wq_mu);
    wake_workers(c, n, idle);
}

/* Tasks one worker takes per visit to the queue: one while the queue is short (every
 * worker gets work), up to its fair share of a long queue, so that a backlog of
 * single-message tasks does not cost a round on the shared lock per message. */
#define WQ_TAKE_MAX 16

static void *worker_main(void *arg)
{
    kite_push_consumer *c = arg;
    kite_thread_name("kite-consume");
    int64_t per = -1;   /* ns per task of this worker's last round */
    for (;;) {
        pthread_mutex_lock(&c->wq_mu);
        if (per >= 0) c->task_ns += (per - c->task_ns) / 8;
        creq *r = NULL;
        int chain = 0;
        while (!c->wq_stop) {
            int64_t wait = promote_due(c);
            if ((r = c->wq_head) != NULL) {
                size_t take = c->wq_len / (size_t)c->nworkers;
                if (take > WQ_TAKE_MAX) take = WQ_TAKE_MAX;
                size_t least = c->task_ns < SHORT_TASK_NS ? short_take(c) : 1;
                if (take < least) take = least;
                creq *last = r;
                for (size_t i = 1; i < take && last->next; i++) last = last->next;
                c->wq_head = last->next;
                if (!c->wq_head) c->wq_tail = NULL;
                last->next = NULL;
                for (creq *x = r; x; x = x->next) c->wq_len--;
                /* Long tasks left and workers asleep: pass the wake-up on (the push
                 * woke only as many as it thought the tasks needed). */
                chain = c->wq_head && c->wq_idle && c->task_ns >= SHORT_TASK_NS;
                break;
            }
            c->wq_idle++;
            if (wait < 0) {
                pthread_cond_wait(&c->wq_cv, &c->wq_mu);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += wait / 1000;
                ts.tv_nsec += (wait % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
                pthread_cond_timedwait(&c->wq_cv, &c->wq_mu, &ts);
            }
            c->wq_idle--;
        }
        pthread_mutex_unlock(&c->wq_mu);
        if (!r) return NULL;
        if (chain) pthread_cond_signal(&c->wq_cv);
        int64_t t0 = kite_mono_ns(), t = t0;
        size_t ran = 0;
        while (r) {
            creq *next = r->next;
            r->next = NULL;
            if (r->direct) run_direct(c, r);
            else if (r->orderly) run_orderly(c, r);
            else run_creq(c, r);
            r = next;
            ran++;
            int64_t now = kite_mono_ns();
            if (r && now - t > GIVE_BACK_NS) {   /* the listener got slow: share the rest */
                wq_give_back(c, r, now - t);
                r = NULL;
            }
            t = now;
        }
        per = (t - t0) / (int64_t)ran;   /* folded in under the lock, next round */
    }
}

/* ---- lifecycle ---- */

void kite_push_consumer_opts_init(kite_push_consumer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->message_model = KITE_CLUSTERING;
    o->consume_from = KITE_CONSUME_FROM_LAST_OFFSET;
    o->consume_threads = 20;
    o->consume_batch_size = 1;
    o->pull_batch_size = 32;
    o->pull_threshold_for_queue = 1000;
    o->pull_threshold_size_for_queue_mib = 100;
    o->max_reconsume_times = 16;
    o->persist_offset_interval_ms = 5000;
    o->heartbeat_interval_ms = 30000;
    o->rebalance_interval_ms = 20000;
    o->poll_namesrv_interval_ms = 30000;
    o->suspend_timeout_ms = 15000;
    o->pull_timeout_ms = 30000;
    o->rpc_timeout_ms = 3000;
    o->suspend_current_queue_ms = 1000;
    o->lock_interval_ms = 20000;   /* rocketmq.client.rebalance.lockInterval */
    o->lock_live_ms = 30000;       /* rocketmq.client.rebalance.lockMaxLiveTime */
}

static sub *sub_new(kite_push_consumer *c, const char *topic, const char *expr, int is_retry)
{
    sub *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->c = c;
    s->is_retry = is_retry;
    s->topic = strdup(topic);
    s->expr = strdup(expr && *expr ? expr : "*");
    s->version = kite_wall_ms();
    if (!s->topic || !s->expr || kite_tagset_parse(&s->tags, s->expr) != KITE_OK) {
        free(s->topic);
        free(s->expr);
        kite_tagset_free(&s->tags);
        free(s);
        return NULL;
    }
    return s;
}

static void sub_free(sub *s)
{
    if (!s) return;
    kite_tagset_free(&s->tags);
    free(s->topic);
    free(s->expr);
    free(s);
}

int kite_push_consumer_create(kite_push_consumer **out, const char *group, const kite_push_consumer_opts *opts)
{
    if (!out) return KITE_EINVAL;
    *out = NULL;
    kite_push_consumer_opts o;
    if (opts) o = *opts;
    else kite_push_consumer_opts_init(&o);
    if (!group || !*group || strlen(group) > 255 ||
        (o.message_model != KITE_CLUSTERING && o.message_model != KITE_BROADCASTING) ||
        (o.consume_from != KITE_CONSUME_FROM_LAST_OFFSET && o.consume_from != KITE_CONSUME_FROM_FIRST_OFFSET &&
         o.consume_from != KITE_CONSUME_FROM_TIMESTAMP) ||
        o.consume_threads < 1 || o.consume_threads > 1000 || o.consume_batch_size < 1 || o.consume_batch_size > 1024 ||
        o.pull_batch_size < 1 || o.pull_batch_size > 1024 || o.pull_threshold_for_queue < 1 ||
        o.pull_threshold_size_for_queue_mib < 1 || o.max_reconsume_times < 0 || o.persist_offset_interval_ms < 10 ||
        o.heartbeat_interval_ms < 10 || o.rebalance_interval_ms < 10 || o.poll_namesrv_interval_ms < 10 ||
        o.suspend_timeout_ms < 0 || o.pull_timeout_ms <= o.suspend_timeout_ms || o.rpc_timeout_ms < 1 || o.suspend_current_queue_ms < 0 || o.lock_interval_ms < 10 ||
        o.lock_live_ms < 1)
        return KITE_EINVAL;
    kite_push_consumer *c = calloc(1, sizeof *c);
    if (!c) return KITE_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->wq_mu, NULL);
    pthread_cond_init(&c->wq_cv, NULL);
    c->task_ns = 4 * SHORT_TASK_NS;   /* start as if tasks were long: parallel until measured */
    kite_map_init(&c->pqs);
    kite_map_init(&c->offsets);
    kite_map_init(&c->releasing);
    c->o = o;
    c->group = strdup(group);
    c->ns_copy = o.namesrv_addr ? strdup(o.namesrv_addr) : NULL;
    c->inst_copy = o.instance_name ? strdup(o.instance_name) : NULL;
    const char *home = getenv("HOME");
    char dflt[512];
    snprintf(dflt, sizeof dflt, "%s/.kite_offsets", home && *home ? home : "/tmp");
    c->dir_copy = strdup(o.offset_store_dir ? o.offset_store_dir : dflt);
    size_t rl = strlen(group) + 8;
    c->retry_topic = malloc(rl);
    if (c->retry_topic) snprintf(c->retry_topic, rl, "%%RETRY%%%s", group);
    if (!c->group || !c->dir_copy || !c->retry_topic || (o.namesrv_addr && !c->ns_copy) ||
        (o.instance_name && !c->inst_copy)) {
        kite_push_consumer_destroy(c);
        return KITE_ENOMEM;
    }
    c->o.namesrv_addr = c->ns_copy;
    c->o.instance_name = c->inst_copy;
    c->o.offset_store_dir = c->dir_copy;
    /* client id: ip@instance (Java: an unnamed instance becomes pid#nanotime). */
    uint8_t ip[4];
    kite_local_ipv4(ip);
    char inst[160];
    if (c->inst_copy) snprintf(inst, sizeof inst, "%s", c->inst_copy);
    else snprintf(inst, sizeof inst, "%d#%lld", (int)getpid(), (long long)kite_mono_ns());
    char cid[256];
    snprintf(cid, sizeof cid, "%u.%u.%u.%u@%s", ip[0], ip[1], ip[2], ip[3], inst);
    c->client_id = strdup(cid);
    if (o.message_model == KITE_BROADCASTING) {
        size_t n = strlen(c->dir_copy) + strlen(group) + (c->inst_copy ? strlen(c->inst_copy) : 0) + 32;
        c->offset_file = malloc(n);
        if (c->offset_file) {
            if (c->inst_copy) snprintf(c->offset_file, n, "%s/%s/%s/offsets.json", c->dir_copy, c->inst_copy, group);
            else snprintf(c->offset_file, n, "%s/%s/offsets.json", c->dir_copy, group);
        }
    }
    if (!c->client_id || (o.message_model == KITE_BROADCASTING && !c->offset_file)) {
        kite_push_consumer_destroy(c);
        return KITE_ENOMEM;
    }
    kite_inst_opts io = {
        .namesrv_addr = c->ns_copy,
        .rpc_timeout_ms = o.rpc_timeout_ms,
        .poll_interval_ms = o.poll_namesrv_interval_ms,
        .create_topic_key = "TBW102",
        .default_topic_queue_nums = 4,
    };
    char err[256];
    c->inst = kite_inst_new(&io, err, sizeof err);
    if (!c->inst) {
        KLOG_WARN("client", "consumer %s: %s", group, err);
        kite_push_consumer_destroy(c);
        return KITE_EINVAL;
    }
    *out = c;
    return KITE_OK;
}

static int topic_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > 127) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '%' ||
              ch == '|' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int add_sub(kite_push_consumer *c, const char *topic, const char *expr, int is_retry)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i]->topic, topic) == 0) {
            sub *s = sub_new(c, topic, expr, is_retry);
            if (!s) return expr && *expr ? KITE_EINVAL : KITE_ENOMEM;
            sub_free(c->subs[i]);
            c->subs[i] = s;
            return KITE_OK;
        }
    sub *s = sub_new(c, topic, expr, is_retry);
    if (!s) return KITE_EINVAL;
    sub **v = realloc(c->subs, (c->nsubs + 1) * sizeof *v);
    if (!v) {
        sub_free(s);
        return KITE_ENOMEM;
    }
    c->subs = v;
    c->subs[c->nsubs++] = s;
    return KITE_OK;
}

int kite_push_consumer_subscribe(kite_push_consumer *c, const char *topic, const char *expression)
{
    if (!c || !topic_ok(topic)) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = c->state != C_CREATED ? KITE_ESTOPPED : add_sub(c, topic, expression, 0);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int kite_push_consumer_set_listener(kite_push_consumer *c, kite_consume_cb cb, void *arg)
{
    if (!c || !cb) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = KITE_OK;
    if (c->state != C_CREATED) rc = KITE_ESTOPPED;
    else c->cb = cb, c->cb_arg = arg, c->ocb = NULL, c->ocb_arg = NULL;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int kite_push_consumer_set_orderly_listener(kite_push_consumer *c, kite_consume_orderly_cb cb, void *arg)
{
    if (!c || !cb) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = KITE_OK;
    if (c->state != C_CREATED) rc = KITE_ESTOPPED;
    else c->ocb = cb, c->ocb_arg = arg, c->cb = NULL, c->cb_arg = NULL;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int kite_push_consumer_start(kite_push_consumer *c)
{
    if (!c) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->state != C_CREATED) {
        int st = c->state;
        pthread_mutex_unlock(&c->mu);
        return st == C_STARTED ? KITE_OK : KITE_ESTOPPED;
    }
    if ((!c->cb && !c->ocb) || c->nsubs == 0) {
        pthread_mutex_unlock(&c->mu);
        KLOG_WARN("client", "consumer %s: start needs a listener and at least one subscription", c->group);
        return KITE_EINVAL;
    }
    int rc = KITE_OK;
    if (clustering(c) && (rc = add_sub(c, c->retry_topic, "*", 1)) != KITE_OK) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    if (!clustering(c)) local_load(c);
    c->start_wall_ms = kite_wall_ms();
    if ((rc = kite_inst_start(c->inst)) != KITE_OK) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    /* No connection exists yet, so no broker request can race these registrations. */
    kite_rpc_client_handle(rpc(c), RC_NOTIFY_CONSUMER_IDS_CHANGED, h_notify, c);
    kite_rpc_client_handle(rpc(c), RC_RESET_CONSUMER_CLIENT_OFFSET, h_reset, c);
    kite_rpc_client_handle(rpc(c), RC_GET_CONSUMER_RUNNING_INFO, h_running_info, c);
    kite_rpc_client_handle(rpc(c), RC_CONSUME_MESSAGE_DIRECTLY, h_direct, c);
    c->workers = calloc((size_t)c->o.consume_threads, sizeof *c->workers);
    if (!c->workers) abort();
    for (int i = 0; i < c->o.consume_threads; i++) {
        if (pthread_create(&c->workers[i], NULL, worker_main, c) != 0) break;
        c->nworkers++;
    }
    c->state = C_STARTED;
    pthread_mutex_unlock(&c->mu);
    /* Routes first (blocking, bounded): heartbeats go to the brokers they name. */
    for (size_t i = 0; i < c->nsubs; i++) {
        kite_pub_route *r = NULL;
        char err[300];
        if (kite_inst_route_get(c->inst, c->subs[i]->topic, &r, err, sizeof err) != KITE_OK)
            KLOG_WARN("client", "consumer %s: %s", c->group, err);
        kite_pub_route_release(r);
    }
    kite_ev_post(ev(c), boot, c);
    return KITE_OK;
}

typedef struct io_wait {
    kite_push_consumer *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} io_wait;

/* I/O: the last commits, then every pq is dropped and every timer cancelled. */
static void final_task(void *arg)
{
    io_wait *w = arg;
    kite_push_consumer *c = w->c;
    kite_ev *e = ev(c);
    if (c->t_hb) kite_ev_timer_cancel(e, c->t_hb);
    if (c->t_rb) kite_ev_timer_cancel(e, c->t_rb);
    if (c->t_commit) kite_ev_timer_cancel(e, c->t_commit);
    if (c->t_missing) kite_ev_timer_cancel(e, c->t_missing);
    if (c->t_lock) kite_ev_timer_cancel(e, c->t_lock);
    c->t_hb = c->t_rb = c->t_commit = c->t_missing = c->t_lock = NULL;
    commit_all(c);
    c->final_drop = 1;   /* the workers are joined: unlock every queue now */
    size_t it = 0;
    void *v;
    pq **all = NULL;
    size_t n = 0;
    while (kite_map_next(&c->pqs, &it, NULL, &v)) {
        all = realloc(all, (n + 1) * sizeof *all);
        if (!all) abort();
        all[n++] = v;
    }
    for (size_t i = 0; i < n; i++) drop_pq(c, all[i], 0);
    free(all);
    /* Dropped orderly queues whose task the shutdown freed: unlock them now. */
    it = 0;
    n = 0;
    all = NULL;
    while (kite_map_next(&c->releasing, &it, NULL, &v)) {
        all = realloc(all, (n + 1) * sizeof *all);
        if (!all) abort();
        all[n++] = v;
    }
    for (size_t i = 0; i < n; i++) {
        kite_map_del(&c->releasing, all[i]->key);
        if (locking(c)) release_lock(c, all[i]);
        pq_release(all[i]);
    }
    free(all);
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void free_queued(kite_push_consumer *c)
{
    creq *lists[2] = { c->wq_head, c->later };
    c->wq_head = c->wq_tail = c->later = NULL;
    c->wq_len = 0;
    for (int k = 0; k < 2; k++)
        for (creq *r = lists[k]; r;) {
            creq *next = r->next;
            if (r->direct) {
                kite_rpc_reply_code(r->direct, RS_SYSTEM_ERROR, "the consumer is shutting down");
                r->direct = NULL;
            }
            creq_free(r);
            r = next;
        }
}

int kite_push_consumer_shutdown(kite_push_consumer *c)
{
    if (!c) return KITE_EINVAL;
    if (c->inst && kite_inst_on_io_thread(c->inst)) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->state != C_STARTED) {
        if (c->state == C_CREATED) c->state = C_STOPPED;
        pthread_mutex_unlock(&c->mu);
        return KITE_OK;
    }
    for (int i = 0; i < c->nworkers; i++)
        if (pthread_equal(pthread_self(), c->workers[i])) {   /* from a listener */
            pthread_mutex_unlock(&c->mu);
            return KITE_EINVAL;
        }
    c->state = C_STOPPING;
    pthread_mutex_unlock(&c->mu);

    atomic_store(&c->stopping, 1);   /* no new pulls, rebalances or heartbeats */
    pthread_mutex_lock(&c->wq_mu);
    c->wq_stop = 1;
    pthread_cond_broadcast(&c->wq_cv);
    pthread_mutex_unlock(&c->wq_mu);
    for (int i = 0; i < c->nworkers; i++) pthread_join(c->workers[i], NULL);
    free(c->workers);
    c->workers = NULL;
    c->nworkers = 0;
    free_queued(c);

    io_wait w = { .c = c, .done = 0 };
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    kite_ev_post(ev(c), final_task, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);

    size_t n = 0;
    char **addrs = broker_addrs(c, &n);
    for (size_t i = 0; i < n; i++) {
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_UNREGISTER_CLIENT, 0);
        kite_cmd_set_ext(&req, "clientID", c->client_id);
        kite_cmd_set_ext(&req, "consumerGroup", c->group);
        if (kite_rpc_call_sync(rpc(c), addrs[i], &req, c->o.rpc_timeout_ms, &resp) == KITE_OK) kite_cmd_free(&resp);
    }
    free_strs(addrs, n);
    kite_inst_stop(c->inst);
    pthread_mutex_lock(&c->mu);
    c->state = C_STOPPED;
    pthread_mutex_unlock(&c->mu);
    return KITE_OK;
}

static void free_off(void *v) { free(v); }

void kite_push_consumer_destroy(kite_push_consumer *c)
{
    if (!c) return;
    kite_push_consumer_shutdown(c);
    kite_inst_free(c->inst);
    kite_map_free(&c->pqs, NULL);   /* empty after shutdown */
    kite_map_free(&c->offsets, free_off);
    kite_map_free(&c->releasing, NULL);   /* empty after shutdown */
    for (size_t i = 0; i < c->nsubs; i++) sub_free(c->subs[i]);
    free(c->subs);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->wq_mu);
    pthread_cond_destroy(&c->wq_cv);
    free(c->group);
    free(c->retry_topic);
    free(c->client_id);
    free(c->ns_copy);
    free(c->dir_copy);
    free(c->inst_copy);
    free(c->offset_file);
    free(c);
}

const char *kite_push_consumer_group(const kite_push_consumer *c) { return c ? c->group : NULL; }
const char *kite_push_consumer_client_id(const kite_push_consumer *c) { return c ? c->client_id : NULL; }
size_t kite_push_consumer_queue_count(const kite_push_consumer *c)
{
    return c ? atomic_load(&((kite_push_consumer *)c)->nqueues) : 0;
}
