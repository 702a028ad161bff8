/* consumer_int.h - the push consumer's internal state, shared by its files. Not part
 * of the public API (include/kite/consumer.h is).
 *
 * The push consumer (kite_push_consumer) is split by job; each file says what it owns:
 *   consumer.c           lifecycle (create, subscribe, start, shutdown, destroy),
 *                        heartbeats, the I/O timers, shared helpers
 *   consumer_rebalance.c queue assignment: routes, consumer list, taking and dropping queues
 *   consumer_offset.c    start offsets of a new queue, offset commits, the local offset file
 *   consumer_lock.c      queue locks of the orderly CLUSTERING consumer
 *   consumer_pull.c      the process queues (pq) and the long-poll pulls that fill them
 *   consumer_pool.c      the work queue and the worker threads running the listener,
 *                        send-back of failed messages
 *   consumer_requests.c  requests brokers send to the consumer
 * Not owned: record decoding and tag filters (received.c), routes and the I/O thread
 * (instance.c).
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
 *   so a listener that turns slow is parallel again after one call (consumer_pool.c).
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
 * flight fail with KITE_ECLOSED and release what they hold).
 *
 * Internal functions are named kite_pc_* (never kite_push_consumer_*, which
 * libkite.map exports). */
#ifndef KITE_CLIENT_CONSUMER_INT_H
#define KITE_CLIENT_CONSUMER_INT_H

#include "client/instance.h"
#include "client/received.h"
#include "base/buf.h"
#include "base/map.h"
#include "kite/consumer.h"
#include "kite/kite.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define DELAY_ON_ERROR_MS 3000  /* pullTimeDelayMillsWhenException */
#define SHORT_TASK_NS     20000 /* below this, waking a worker costs more than the task */

enum { C_CREATED, C_STARTED, C_STOPPING, C_STOPPED };
enum { PQ_INIT, PQ_RUN };

typedef struct kite_push_consumer kite_push_consumer;

typedef struct sub {
    kite_push_consumer *c;
    char *topic, *expr;
    int sql;          /* expr is an SQL92 property filter (the broker filters) */
    kite_tagset tags; /* tag expression; "all" for SQL92 */
    int64_t version;
    int is_retry;
    int rb_busy, rb_again; /* I/O */
    int missing;           /* I/O: no route yet; looked for every second */
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
    int64_t pull_from; /* broker id the last pull answer suggested (suggestWhichBrokerId) */
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
    _Atomic int64_t lock_ms; /* mono ms of the last granted LOCK_BATCH_MQ */
    int ever_locked;         /* I/O */
    int no_commit;           /* I/O: reset by the broker: the release must not commit */
    /* orderly, mu: messages not yet accepted by the listener, in offset order */
    kite_rmsg **om;
    size_t ohead, olen, ocap;
    int oactive;        /* a consume task of q exists (queued, waiting or running) */
    int unlock_pending; /* dropped while oactive: the task's end unlocks */
} pq;

typedef struct creq {
    struct creq *next;
    pq *q; /* NULL for a direct request */
    kite_rmsg **msgs;
    size_t n;
    int64_t due_ms;
    kite_rpc_req *direct; /* CONSUME_MESSAGE_DIRECTLY */
    int orderly;          /* the consume task of an orderly queue (msgs unused) */
} creq;

struct kite_push_consumer {
    char *group, *retry_topic, *client_id;
    kite_push_consumer_opts o;
    char *ns_copy, *dir_copy, *inst_copy;
    char *offset_file; /* BROADCASTING */
    kite_consume_cb cb;
    void *cb_arg;
    kite_consume_orderly_cb ocb; /* set: orderly consumption */
    void *ocb_arg;
    int final_drop; /* I/O: shutdown drops (unlock at once) */
    sub **subs;
    size_t nsubs;
    kite_inst *inst;
    pthread_mutex_t mu; /* state */
    int state;
    atomic_int stopping;
    int64_t start_wall_ms;
    atomic_size_t nqueues;
    /* I/O */
    kite_map pqs;       /* key -> pq* */
    kite_map offsets;   /* BROADCASTING: key -> int64_t* */
    kite_map releasing; /* orderly: key -> dropped pq (a reference) whose listener
                                  * call is still in progress; not taken again until then */
    int offsets_dirty;
    kite_ev_timer *t_hb, *t_rb, *t_commit, *t_missing, *t_lock;
    /* workers */
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t wq_mu;
    pthread_cond_t wq_cv;
    creq *wq_head, *wq_tail;
    size_t wq_len;   /* tasks in wq_head..wq_tail */
    size_t wq_idle;  /* workers waiting on wq_cv */
    int64_t task_ns; /* moving average of a task's run time (under wq_mu) */
    creq *later;     /* due_ms in the future, unsorted */
    int wq_stop;
};

/* ---- small helpers ---- */

static inline int clustering(const kite_push_consumer *c)
{
    return c->o.message_model == KITE_CLUSTERING;
}
static inline int stopping(const kite_push_consumer *c) { return atomic_load(&c->stopping); }
static inline int orderly(const kite_push_consumer *c) { return c->ocb != NULL; }
/* Orderly CLUSTERING: queues need the broker's lock. */
static inline int locking(const kite_push_consumer *c)
{
    return c->ocb != NULL && c->o.message_model == KITE_CLUSTERING;
}
static inline kite_rpc_client *rpc(kite_push_consumer *c) { return kite_inst_rpc(c->inst); }
static inline kite_ev *ev(kite_push_consumer *c) { return kite_rpc_client_ev(rpc(c)); }

static inline void set_i64(kite_cmd *cmd, const char *k, int64_t v)
{
    kite_cmd_set_ext_i64(cmd, k, v);
}

/* The expressionType sent in heartbeats, pulls and reports. */
static inline const char *expr_type(const sub *s) { return s->sql ? "SQL92" : "TAG"; }

static inline const char *model_name(const kite_push_consumer *c)
{
    return clustering(c) ? "CLUSTERING" : "BROADCASTING";
}

static inline const char *from_name(kite_consume_from f)
{
    switch (f) {
    case KITE_CONSUME_FROM_FIRST_OFFSET: return "CONSUME_FROM_FIRST_OFFSET";
    case KITE_CONSUME_FROM_TIMESTAMP: return "CONSUME_FROM_TIMESTAMP";
    default: return "CONSUME_FROM_LAST_OFFSET";
    }
}

/* ---- consumer.c ---- */

/* "topic\001broker\001qid", malloc'd: the key of a queue in c->pqs and c->offsets. */
char *kite_pc_mq_key(const char *topic, const char *broker, int32_t qid);
/* Broker address of (topic's route, broker) into out: KITE_OK, or KITE_ENOTFOUND. */
int kite_pc_broker_addr(kite_push_consumer *c, const char *topic, const char *broker, char *out,
                        size_t cap);
/* I/O: HEART_BEAT to every broker of the subscribed topics. */
void kite_pc_heartbeat_all(kite_push_consumer *c);

/* ---- consumer_pull.c: process queues (any thread, under pq->mu) and pulls (I/O) ---- */

pq *kite_pc_pq_ref(pq *q);
void kite_pc_pq_release(pq *q);   /* NULL is fine */
int64_t kite_pc_pq_offset(pq *q); /* the offset to commit */
void kite_pc_pq_counts(pq *q, size_t *count, size_t *bytes);
void kite_pc_pq_set_tail(pq *q, int64_t next_begin);
/* Workers: messages consumed (or handed to the retry topic). */
void kite_pc_pq_remove(pq *q, kite_rmsg **msgs, size_t n);
/* I/O: the next long poll of q (or a timer for it). */
void kite_pc_pull(pq *q);

/* ---- consumer_offset.c (I/O) ---- */

void kite_pc_commit_remote(kite_push_consumer *c, pq *q, int64_t off);
void kite_pc_local_set(kite_push_consumer *c, const char *key, int64_t off);
void kite_pc_local_save(kite_push_consumer *c);
void kite_pc_local_load(kite_push_consumer *c);
/* Stores the offset of q now (broker or local table). */
void kite_pc_commit_pq(kite_push_consumer *c, pq *q);
void kite_pc_commit_all(kite_push_consumer *c);
/* A new queue: finds its start offset, then starts pulling it. */
void kite_pc_init_offset(pq *q);

/* ---- consumer_lock.c (I/O unless noted) ---- */

/* Any thread: q is locked and its last granted LOCK_BATCH_MQ is at most lock_live_ms old. */
int kite_pc_lock_valid(pq *q);
void kite_pc_release_lock(kite_push_consumer *c, pq *q);
/* Posted to the I/O thread when the last listener call of a dropped orderly queue returned. */
void kite_pc_unlock_task(void *arg);
/* A newly assigned queue: LOCK_BATCH_MQ, then its offset (granted) or drop (refused). */
void kite_pc_lock_first(kite_push_consumer *c, pq *q);
void kite_pc_on_lock_timer(kite_ev *e, kite_ev_timer *t, void *arg);

/* ---- consumer_rebalance.c (I/O) ---- */

/* Removes q from the table; commit: store its offset first. */
void kite_pc_drop_pq(kite_push_consumer *c, pq *q, int commit);
void kite_pc_rebalance_topic(kite_push_consumer *c, sub *s);
void kite_pc_rebalance_all(kite_push_consumer *c);

/* ---- consumer_pool.c ---- */

void kite_pc_creq_free(creq *r);
/* Any thread: appends first..last (n tasks) to the work queue and wakes workers. */
void kite_pc_wq_push_list(kite_push_consumer *c, creq *first, creq *last, size_t n);
/* I/O: queues the consume task of an orderly queue / the messages of a pull. */
void kite_pc_dispatch_orderly(kite_push_consumer *c, pq *q);
void kite_pc_dispatch(kite_push_consumer *c, pq *q, kite_rmsg **msgs, size_t n);
void *kite_pc_worker_main(void *arg);
/* Shutdown, after the workers were joined: frees the tasks never run. */
void kite_pc_free_queued(kite_push_consumer *c);

/* ---- consumer_requests.c ---- */

/* Registers the handlers of broker requests (before the first connection). */
void kite_pc_requests_register(kite_push_consumer *c);
/* Worker: runs a CONSUME_MESSAGE_DIRECTLY request and answers it. */
void kite_pc_run_direct(kite_push_consumer *c, creq *r);

#endif
