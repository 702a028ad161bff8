/* producer.c - the libkite producer (include/kite/producer.h): message checks, ids,
 * compression and batch encoding, queue choice, the send state machine with retries,
 * and the producer lifecycle.
 *
 * Owns: kite_producer, its client instance (instance.c), one send_op per send call.
 * Not owned: routes and name servers (instance.c), the message object (message.c).
 *
 * One state machine serves every kind of send. The calling thread validates and
 * encodes the message into a send_op (properties string, body copy or compressed body
 * or batch body) and posts the op to the I/O thread; from then on everything runs
 * there: route lookup (cache, else an async fetch), queue choice, the RPC, and the
 * answer. A sync send waits on a condition variable in the op; an async send calls the
 * application's callback. Because an op never completes on the calling thread, async
 * callbacks always run on the I/O thread and never inside kite_producer_send_async.
 *
 * Request: SEND_MESSAGE_V2 (310) or SEND_BATCH_MESSAGE (320) with the one-letter header
 * names of docs/wire.md §5.1. Answer codes (§3.2, §3.3): 0 / 10 / 11 / 12 are stored (10-12 are
 * reported as statuses, never resent); {1, 2, 14, 16, 17, 204, 205, 1500} and transport
 * failures are retried on the next queue of another broker while attempts and time
 * remain (Java 5.x retry set); anything else fails at once. A broker whose attempt failed
 * goes into the fault table (fault.c): every queue choice skips it for fault_avoid_ms while
 * another broker of the route is usable; an answered send takes it out. Batch body: §5.3.
 * Compression: §9.8 (zlib stream, sysFlag bit 0 plus type ZLIB = 3 in bits 8-10).
 *
 * Threads: producer state (state, ops, in-flight count) is guarded by p->mu; the
 * round-robin counter is atomic. Shutdown waits until no op is left, so the instance
 * (and its I/O thread) outlives every op. */
#include "client/fault.h"
#include "client/heartbeat.h"
#include "client/instance.h"
#include "client/message.h"
#include "client/msgid.h"
#include "client/producer_int.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/thread.h"
#include "base/time.h"
#include "codec/record.h"
#include "codec/systopic.h"
#include "kite/kite.h"
#include "proto/codes.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SYSFLAG_ZLIB (KITE_SYSFLAG_COMPRESSED | (3 << 8)) /* 0x301, Java >= 4.9.4 */
#define MAX_TOPIC    127

enum { P_CREATED, P_STARTED, P_STOPPING };
enum { K_SYNC, K_ASYNC, K_ONEWAY };

struct kite_producer {
    char *group;
    kite_producer_opts o;
    char *namesrv_addr, *create_topic_key; /* owned copies behind o's pointers */
    char dq_text[16];                      /* default_topic_queue_nums as text */
    kite_inst *inst;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when an op ends (see op_end) */
    /* Counted with atomics: every send passes op_begin/op_end on two different threads,
     * and a mutex there made the sender and the I/O thread wake each other per message.
     * mu/cv are only used to sleep and to change state. */
    atomic_int state;
    atomic_size_t ops; /* send calls in progress, all kinds */
    atomic_size_t async_in_flight;
    atomic_size_t waiters; /* threads blocked on cv */
    atomic_uint rr;        /* round-robin queue counter */
    kite_uniq_gen uniq;
    /* Ops handed to the I/O thread: one wake-up (kite_ev_post) per batch, not per send. */
    pthread_mutex_t subq_mu;
    struct send_op *subq_head, *subq_tail;
    kite_prod_hb *hb;  /* heartbeats while started (heartbeat.c) */
    kite_fault *fault; /* brokers avoided after a failure (fault.c) */
    kite_txp *tx;      /* transaction producers only (transaction.c) */
};

typedef struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} sync_wait;

typedef struct send_op {
    struct send_op *next; /* submission queue link */
    kite_producer *p;
    int kind;
    char *topic;
    kite_buf props;
    const uint8_t *body; /* body_own, or the message's body (sync sends only) */
    size_t body_len;
    uint8_t *body_own;
    int32_t sysflag, flag;
    int batch, count;
    int64_t born_ms, deadline_ms;
    int max_attempts;
    int fixed_queue; /* selector sends: index into route->mqs, -1 = choose */
    kite_pub_route *route;
    char failed_broker[KITE_NAME_MAX];
    int status;
    kite_send_result res;
    kite_send_cb cb; /* async */
    void *cb_arg;
    sync_wait *w; /* sync */
    char mem[];   /* the topic, then room for a copied body (one allocation) */
} send_op;

/* ---- options and lifecycle ---- */

void kite_producer_opts_init(kite_producer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->send_timeout_ms = 3000;
    o->retry_times = 2;
    o->async_retry_times = 2;
    o->compress_threshold = 4096;
    o->compress_level = 5;
    o->max_message_size = 4u * 1024u * 1024u;
    o->default_topic_queue_nums = 4;
    o->create_topic_key = KITE_TOPIC_AUTO_CREATE;
    o->poll_namesrv_interval_ms = 30000;
    o->max_in_flight = 10000;
    o->fault_avoid_ms = 10000;
    o->tls.verify_server = 1;
}

int kite_producer_create(kite_producer **out, const char *group, const kite_producer_opts *opts)
{
    if (!out) return KITE_EINVAL;
    *out = NULL;
    kite_producer_opts o;
    if (opts)
        o = *opts;
    else
        kite_producer_opts_init(&o);
    if (!group || !*group || strlen(group) > 255 || o.send_timeout_ms <= 0 || o.retry_times < 0 ||
        o.async_retry_times < 0 || o.compress_level < 1 || o.compress_level > 9 ||
        o.max_message_size == 0 || o.default_topic_queue_nums <= 0 || o.max_in_flight <= 0 ||
        o.fault_avoid_ms < 0)
        return KITE_EINVAL;
    kite_producer *p = kite_xcalloc(1, sizeof *p);
    p->group = kite_xstrdup(group);
    p->namesrv_addr = o.namesrv_addr ? kite_xstrdup(o.namesrv_addr) : NULL;
    const char *ctk = o.create_topic_key ? o.create_topic_key : KITE_TOPIC_AUTO_CREATE;
    p->create_topic_key = kite_xstrdup(ctk);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_mutex_init(&p->subq_mu, NULL);
    p->o = o;
    p->o.namesrv_addr = p->namesrv_addr;
    p->o.create_topic_key = p->create_topic_key;
    snprintf(p->dq_text, sizeof p->dq_text, "%d", o.default_topic_queue_nums);
    kite_inst_opts io = {
        .namesrv_addr = p->namesrv_addr,
        .rpc_timeout_ms = o.send_timeout_ms,
        .poll_interval_ms = o.poll_namesrv_interval_ms,
        .create_topic_key = p->create_topic_key,
        .default_topic_queue_nums = o.default_topic_queue_nums,
        .tls = &o.tls,
        .cred = o.credentials,
    };
    char err[256];
    p->inst = kite_inst_new(&io, err, sizeof err);
    if (!p->inst) {
        KLOG_WARN("client", "producer %s: %s", group, err);
        kite_producer_destroy(p);
        return KITE_EINVAL;
    }
    p->fault = kite_fault_new(o.fault_avoid_ms);
    kite_uniq_init(&p->uniq);
    atomic_init(&p->rr, atomic_load(&p->uniq.counter)); /* random start, as Java */
    *out = p;
    return KITE_OK;
}

int kite_producer_start(kite_producer *p)
{
    if (!p) return KITE_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc = KITE_OK;
    if (p->state == P_CREATED) {
        rc = kite_inst_start(p->inst);
        if (rc == KITE_OK) {
            /* Heartbeats (and, for transaction producers, the check handler) ride on
             * the instance's I/O thread. */
            p->hb =
                kite_prod_hb_start(p->inst, p->group, p->tx ? p->create_topic_key : NULL, 30000);
            if (p->tx) rc = kite_txp_on_start(p->tx);
            if (rc != KITE_OK) {
                kite_prod_hb_stop(p->hb);
                kite_inst_stop(p->inst);
                kite_prod_hb_free(p->hb);
                p->hb = NULL;
            } else {
                p->state = P_STARTED;
            }
        }
    } else if (p->state == P_STOPPING) {
        rc = KITE_ESTOPPED;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Waits (p->mu held) until no op is in flight or the deadline (base/time.h) passes;
 * looks again at least every 100 ms. */
static void wait_ops_until(kite_producer *p, int64_t deadline)
{
    atomic_fetch_add(&p->waiters, 1); /* before looking at ops: see op_end */
    while (atomic_load(&p->ops) > 0) {
        int64_t left = kite_deadline_left_ms(deadline);
        if (left == 0) break;
        kite_cond_wait_us(&p->cv, &p->mu, (left > 100 ? 100 : left) * 1000);
    }
    atomic_fetch_sub(&p->waiters, 1);
}

int kite_producer_shutdown(kite_producer *p)
{
    if (!p) return KITE_EINVAL;
    if (!p->inst) return KITE_OK; /* create failed half-way */
    if (kite_inst_on_io_thread(p->inst)) return KITE_EINVAL;
    if (p->tx && kite_txp_on_stop(p->tx) != KITE_OK) return KITE_EINVAL; /* from the check thread */
    pthread_mutex_lock(&p->mu);
    if (p->state != P_STARTED) {
        pthread_mutex_unlock(&p->mu);
        return KITE_OK;
    }
    p->state = P_STOPPING;
    pthread_cond_broadcast(&p->cv); /* senders blocked at max_in_flight give up */
    /* Graceful part: ops in flight finish on their own within the send timeout. */
    wait_ops_until(p, kite_deadline_ms(p->o.send_timeout_ms));
    if (atomic_load(&p->ops) > 0) {
        /* The rest fail now: closed connections fail their calls with KITE_ECLOSED, and
         * no retry starts while stopping. */
        pthread_mutex_unlock(&p->mu);
        kite_inst_close_all(p->inst);
        pthread_mutex_lock(&p->mu);
        wait_ops_until(p, KITE_DEADLINE_NEVER);
    }
    pthread_mutex_unlock(&p->mu);
    kite_prod_hb_stop(p->hb);
    kite_inst_stop(p->inst);
    kite_prod_hb_free(p->hb);
    p->hb = NULL;
    pthread_mutex_lock(&p->mu);
    p->state = P_CREATED;
    pthread_mutex_unlock(&p->mu);
    return KITE_OK;
}

void kite_producer_destroy(kite_producer *p)
{
    if (!p) return;
    kite_producer_shutdown(p);
    kite_txp_free(p->tx);
    kite_inst_free(p->inst);
    kite_fault_free(p->fault);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->subq_mu);
    free(p->group);
    free(p->namesrv_addr);
    free(p->create_topic_key);
    free(p);
}

const char *kite_producer_group(const kite_producer *p) { return p ? p->group : NULL; }

size_t kite_producer_in_flight(const kite_producer *p)
{
    if (!p) return 0;
    pthread_mutex_lock((pthread_mutex_t *)&p->mu);
    size_t n = atomic_load(&p->async_in_flight);
    pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
    return n;
}

static int fail_prep(kite_send_result *res, int rc, const char *fmt, const char *a)
{
    if (res) snprintf(res->error, sizeof res->error, fmt, a);
    return rc;
}

/* Registers a send call; from here until op_end the instance cannot stop. Async sends
 * wait here while max_in_flight are in flight. Blocking sends are refused on the I/O
 * thread (they would wait for themselves). */
static void op_end(kite_producer *p, int kind);

static int op_begin(kite_producer *p, int kind, kite_send_result *res)
{
    size_t max = (size_t)p->o.max_in_flight;
    for (;;) {
        /* Counted first, state checked after: shutdown sets the state first and then
         * waits for ops to reach 0, so one of the two sees the other (seq_cst). */
        atomic_fetch_add(&p->ops, 1);
        size_t before = kind == K_ASYNC ? atomic_fetch_add(&p->async_in_flight, 1) : 0;
        if (atomic_load(&p->state) != P_STARTED) {
            op_end(p, kind);
            if (res)
                snprintf(res->error, sizeof res->error, "producer %s is not started", p->group);
            return KITE_ESTOPPED;
        }
        if (kind != K_ASYNC || before < max) break;
        op_end(p, kind); /* the window is full: wait for a quarter of it */
        if (kite_inst_on_io_thread(p->inst)) return KITE_EAGAIN;
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->waiters, 1);
        while (atomic_load(&p->state) == P_STARTED && atomic_load(&p->async_in_flight) >= max)
            pthread_cond_wait(&p->cv, &p->mu);
        atomic_fetch_sub(&p->waiters, 1);
        pthread_mutex_unlock(&p->mu);
    }
    if (kind == K_SYNC && kite_inst_on_io_thread(p->inst)) {
        op_end(p, kind);
        return fail_prep(res, KITE_EINVAL, "%s",
                         "blocking send called on the producer's I/O thread (from a callback)");
    }
    return KITE_OK;
}

static void op_end(kite_producer *p, int kind)
{
    size_t ops = atomic_fetch_sub(&p->ops, 1) - 1;
    size_t inf = kind == K_ASYNC ? atomic_fetch_sub(&p->async_in_flight, 1) - 1
                                 : atomic_load(&p->async_in_flight);
    /* A sender blocked at max_in_flight is woken once a quarter of the window is free,
     * not at every answer: one wake-up then starts a burst of sends, instead of a
     * thread switch per message. Waiters count themselves before they test, and the
     * broadcast takes mu, so no wake-up is lost. */
    size_t max = (size_t)p->o.max_in_flight, low = max - (max / 4 ? max / 4 : 1);
    if (atomic_load(&p->waiters) &&
        (ops == 0 || inf <= low || atomic_load(&p->state) != P_STARTED)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static int stopping(kite_producer *p) { return atomic_load(&p->state) != P_STARTED; }

/* ---- preparing an op on the calling thread ---- */

static void op_free(send_op *op)
{
    kite_pub_route_release(op->route);
    kite_buf_free(&op->props);
    free(op->body_own);
    free(op);
}

static int topic_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > MAX_TOPIC) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '%' || c == '|' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int check_message(kite_producer *p, const kite_message *m, kite_send_result *res)
{
    if (!m) return fail_prep(res, KITE_EINVAL, "%s", "message is NULL");
    if (!topic_ok(m->topic))
        return fail_prep(res, KITE_EINVAL, "topic '%.200s' is invalid: 1-127 of [a-zA-Z0-9%%|_-]",
                         m->topic ? m->topic : "(null)");
    if (!m->body || !m->body_len) return fail_prep(res, KITE_EINVAL, "%s", "message body is empty");
    if (m->body_len > p->o.max_message_size) {
        if (res)
            snprintf(res->error, sizeof res->error,
                     "message body of %zu bytes exceeds max_message_size %zu", m->body_len,
                     p->o.max_message_size);
        return KITE_ETOOBIG;
    }
    return KITE_OK;
}

/* Gives the message a fresh UNIQ_KEY unless the application set one. */
static int assign_id(kite_producer *p, kite_message *m)
{
    if (m->uniq_by_app) return KITE_OK;
    char id[KITE_UNIQ_LEN + 1];
    kite_uniq_next(&p->uniq, id);
    return kite_msg_set_uniq(m, id);
}

/* body_room: bytes reserved after the topic for a copy of the body (op_body_room). */
static send_op *op_new(kite_producer *p, int kind, const char *topic, size_t body_room)
{
    size_t tl = strlen(topic);
    send_op *op = kite_xcalloc(1, sizeof *op + tl + 1 + body_room);
    op->topic = op->mem;
    memcpy(op->topic, topic, tl + 1);
    op->p = p;
    op->kind = kind;
    op->fixed_queue = -1;
    op->count = 1;
    op->born_ms = kite_wall_ms();
    op->deadline_ms = kite_deadline_ms(p->o.send_timeout_ms);
    op->max_attempts = 1 + (kind == K_SYNC    ? p->o.retry_times
                            : kind == K_ASYNC ? p->o.async_retry_times
                                              : 0);
    return op;
}

static uint8_t *op_body_room(send_op *op) { return (uint8_t *)op->mem + strlen(op->topic) + 1; }

/* Compresses the body; returns KITE_OK, or 1 when the body goes raw: the compressed form
 * is not smaller (incompressible data, e.g. already compressed or random, so a body that
 * fits never grows past the size limit), or zlib failed (only for its own memory: the
 * bound is exact). */
static int compress_body(kite_producer *p, send_op *op, const uint8_t *body, size_t n)
{
    uLongf cap = compressBound((uLong)n);
    uint8_t *out = kite_xmalloc(cap);
    if (compress2(out, &cap, body, (uLong)n, p->o.compress_level) != Z_OK || cap >= n) {
        free(out);
        return 1;
    }
    op->body_own = out;
    op->body = out;
    op->body_len = cap;
    op->sysflag |= SYSFLAG_ZLIB;
    return KITE_OK;
}

/* Single message: checks, id, properties, body (copied unless borrow). */
static int prep_single(kite_producer *p, kite_message *m, int kind, int borrow, send_op **out,
                       kite_send_result *res)
{
    int rc = check_message(p, m, res);
    if (rc != KITE_OK) return rc;
    if ((rc = assign_id(p, m)) != KITE_OK) return rc;
    int try_compress = p->o.compress_threshold && m->body_len >= p->o.compress_threshold;
    send_op *op = op_new(p, kind, m->topic, borrow || try_compress ? 0 : m->body_len);
    op->flag = m->flag;
    if ((rc = kite_msg_encode_props(m, &op->props)) != KITE_OK) {
        op_free(op);
        return fail_prep(res, rc, "%s", "message properties exceed 32767 bytes");
    }
    kite_str_copy(op->res.msg_id, sizeof op->res.msg_id, kite_message_msg_id(m));
    int compressed = try_compress && compress_body(p, op, m->body, m->body_len) == KITE_OK;
    if (!compressed) {
        if (borrow) {
            op->body = m->body;
            op->body_len = m->body_len;
        } else if (!try_compress) {
            uint8_t *room = op_body_room(op);
            memcpy(room, m->body, m->body_len);
            op->body = room;
            op->body_len = m->body_len;
        } else {
            op->body_own = kite_xmalloc(m->body_len);
            if (m->body_len) memcpy(op->body_own, m->body, m->body_len);
            op->body = op->body_own;
            op->body_len = m->body_len;
        }
    }
    *out = op;
    return KITE_OK;
}

/* Batch body, docs/wire.md §5.3: per message | 4 total = 22 + n + p | 4 magic 0 | 4 crc 0 |
 * 4 flag | 4 n | n body | 2 p | p properties |. */
static int prep_batch(kite_producer *p, kite_message *const *msgs, size_t n, send_op **out,
                      kite_send_result *res)
{
    if (!msgs || n == 0) return fail_prep(res, KITE_EINVAL, "%s", "empty batch");
    int rc = KITE_OK;
    for (size_t i = 0; i < n; i++) {
        if ((rc = check_message(p, msgs[i], res)) != KITE_OK) return rc;
        if (strcmp(msgs[i]->topic, msgs[0]->topic) != 0)
            return fail_prep(res, KITE_EINVAL, "batch messages must share one topic (%.200s)",
                             msgs[0]->topic);
        if (kite_message_delay_level(msgs[i]) > 0)
            return fail_prep(res, KITE_EINVAL, "%s", "batch messages cannot have a delay level");
    }
    if (kite_is_retry_topic(msgs[0]->topic))
        return fail_prep(res, KITE_EINVAL, "%s", "batch messages cannot go to a retry topic");
    send_op *op = op_new(p, K_SYNC, msgs[0]->topic, 0);
    op->batch = 1;
    op->count = (int)n;
    kite_buf body = KITE_BUF_INIT, props = KITE_BUF_INIT;
    for (size_t i = 0; i < n && rc == KITE_OK; i++) {
        const kite_message *m = msgs[i];
        if ((rc = assign_id(p, msgs[i])) != KITE_OK) break;
        kite_buf_reset(&props);
        if ((rc = kite_msg_encode_props(m, &props)) != KITE_OK) {
            if (res)
                snprintf(res->error, sizeof res->error,
                         "properties of batch message %zu exceed 32767 bytes", i);
            break;
        }
        kite_buf_put_be32(&body, (uint32_t)(22 + m->body_len + props.len));
        kite_buf_put_be32(&body, 0);
        kite_buf_put_be32(&body, 0);
        kite_buf_put_be32(&body, (uint32_t)m->flag);
        kite_buf_put_be32(&body, (uint32_t)m->body_len);
        kite_buf_append(&body, m->body, m->body_len);
        kite_buf_put_be16(&body, (uint16_t)props.len);
        kite_buf_append(&body, props.data, props.len);
        if (body.len > p->o.max_message_size) {
            rc = KITE_ETOOBIG;
            if (res)
                snprintf(res->error, sizeof res->error, "batch exceeds max_message_size %zu",
                         p->o.max_message_size);
        }
    }
    kite_buf_free(&props);
    if (rc != KITE_OK) {
        kite_buf_free(&body);
        op_free(op);
        return rc;
    }
    const char *wait = kite_message_property(msgs[0], KITE_PROP_WAIT);
    kite_msgprop_append_str(&op->props, KITE_PROP_WAIT, wait ? wait : "true");
    size_t len = 0;
    op->body_own = (uint8_t *)kite_buf_steal(&body, &len);
    op->body = op->body_own;
    op->body_len = len;
    snprintf(op->res.msg_id, sizeof op->res.msg_id, "%s", kite_message_msg_id(msgs[0]));
    *out = op;
    return KITE_OK;
}

/* ---- the state machine (I/O thread) ---- */

static void op_complete(send_op *op, int status)
{
    kite_producer *p = op->p;
    op->status = status;
    if (op->res.error[0] && status != KITE_OK)
        KLOG_DEBUG("client", "send failed: %s", op->res.error);
    if (op->kind == K_SYNC) {
        sync_wait *w = op->w;
        pthread_mutex_lock(&w->mu);
        w->done = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu); /* the waiting thread owns op from here on */
        return;
    }
    if (op->kind == K_ASYNC) op->cb(status, &op->res, op->cb_arg);
    int kind = op->kind;
    op_free(op);
    op_end(p, kind);
}

static void fail(send_op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(send_op *op, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->res.error, sizeof op->res.error, fmt, ap);
    va_end(ap);
    op_complete(op, status);
}

static int retryable_code(int code)
{
    switch (code) {
    case RS_SYSTEM_ERROR:
    case RS_SYSTEM_BUSY:
    case RS_SERVICE_NOT_AVAILABLE:
    case RS_NO_PERMISSION:
    case RS_TOPIC_NOT_EXIST:
    case 204:
    case 205:
    case 1500: return 1;
    default: return 0;
    }
}

static int status_of_code(int code)
{
    switch (code) {
    case RS_SYSTEM_BUSY: return KITE_EAGAIN;
    case RS_TOPIC_NOT_EXIST: return KITE_ENOTFOUND;
    case RS_MESSAGE_ILLEGAL: return KITE_EINVAL;
    default: return KITE_ERR;
    }
}

/* Next queue round robin: first one whose broker is neither `failed` (the broker this send
 * failed on last) nor avoided by the fault table; else one not on `failed`; else the next
 * one. -1 when the route has no queue. */
static int pick_queue(kite_producer *p, const kite_pub_route *r, const char *failed)
{
    size_t n = r->n_mq;
    if (n == 0) return -1;
    int64_t now = kite_mono_ms();
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            size_t k = atomic_fetch_add(&p->rr, 1u) % n;
            const char *b = r->mqs[k].broker_name;
            if (failed && *failed && strcmp(b, failed) == 0) continue;
            if (pass == 0 && kite_fault_avoided(p->fault, b, now)) continue;
            return (int)k;
        }
    }
    return (int)(atomic_fetch_add(&p->rr, 1u) % n);
}

/* The attempt on op->res.broker_name failed (op->res.error says how): the next attempt
 * goes elsewhere, later sends avoid that broker for a while (fault.c), and the route
 * is refreshed soon (retry_or_fail). */
static void broker_failed(send_op *op)
{
    const char *broker = op->res.broker_name;
    snprintf(op->failed_broker, sizeof op->failed_broker, "%s", broker);
    if (kite_fault_failed(op->p->fault, broker, kite_mono_ms()))
        KLOG_INFO("client", "producer %s: avoiding broker %s for %d ms after: %s", op->p->group,
                  broker, op->p->o.fault_avoid_ms, op->res.error);
}

static void attempt(send_op *op);
static void on_answer(int status, kite_cmd *resp, void *arg);

static void retry_or_fail(send_op *op, int status)
{
    kite_producer *p = op->p;
    kite_inst_route_stale(p->inst, op->topic);
    if (op->res.attempts < op->max_attempts && op->fixed_queue < 0 &&
        kite_deadline_left_ms(op->deadline_ms) > 0 && !stopping(p)) {
        KLOG_DEBUG("client", "send to %s: retrying after: %s", op->topic, op->res.error);
        attempt(op);
        return;
    }
    op_complete(op, status);
}

static void attempt(send_op *op)
{
    kite_producer *p = op->p;
    /* A refreshed route may have arrived since the last attempt. */
    kite_pub_route *fresh = kite_inst_route_cached(p->inst, op->topic);
    if (fresh && fresh != op->route && op->fixed_queue < 0) {
        kite_pub_route_release(op->route);
        op->route = fresh;
    } else {
        kite_pub_route_release(fresh);
    }
    const kite_pub_route *r = op->route;
    int qi = op->fixed_queue >= 0 ? op->fixed_queue : pick_queue(p, r, op->failed_broker);
    if (qi < 0) {
        fail(op, KITE_ENOTFOUND, "topic %s has no writable queue with a master broker in its route",
             op->topic);
        return;
    }
    const kite_mq *mq = &r->mqs[qi];
    const char *addr = kite_pub_route_master(r, mq->broker_name);
    if (!addr) {
        fail(op, KITE_ENOTFOUND, "broker %s of topic %s has no master address", mq->broker_name,
             op->topic);
        return;
    }
    int64_t left = kite_deadline_left_ms(op->deadline_ms);
    if (left == 0) {
        char last[sizeof op->res.error];
        snprintf(last, sizeof last, "%s", op->res.error);
        fail(op, KITE_ETIMEDOUT, "send to %s timed out after %d attempt(s)%s%.180s", op->topic,
             op->res.attempts, last[0] ? "; last error: " : "", last);
        return;
    }
    op->res.attempts++;
    kite_str_copy(op->res.broker_name, sizeof op->res.broker_name, mq->broker_name);
    op->res.queue_id = mq->queue_id;

    kite_cmd req;
    kite_cmd_init_request(&req, op->batch ? RC_SEND_BATCH_MESSAGE : RC_SEND_MESSAGE_V2, 0);
    req.serialize =
        KITE_SER_ROCKETMQ; /* binary header: cheaper to encode and to decode than JSON */
    /* Every field references memory that outlives the call (this frame, the op, its
     * route, the producer): the request is encoded before kite_rpc_call_async returns. */
    kite_ext fields[14];
    char num[4][24];
    kite_cmd_use_ext(&req, fields, 14);
    kite_cmd_add_ext_ref(&req, "a", p->group, strlen(p->group));
    kite_cmd_add_ext_ref(&req, "b", op->topic, strlen(op->topic));
    kite_cmd_add_ext_ref(&req, "c", p->create_topic_key, strlen(p->create_topic_key));
    kite_cmd_add_ext_ref(&req, "d", p->dq_text, strlen(p->dq_text));
    kite_cmd_add_ext_ref(&req, "e", num[0], kite_fmt_i64(num[0], mq->queue_id));
    kite_cmd_add_ext_ref(&req, "f", num[1], kite_fmt_i64(num[1], op->sysflag));
    kite_cmd_add_ext_ref(&req, "g", num[2], kite_fmt_i64(num[2], op->born_ms));
    kite_cmd_add_ext_ref(&req, "h", num[3], kite_fmt_i64(num[3], op->flag));
    kite_cmd_add_ext_ref(&req, "i", op->props.data ? op->props.data : "", op->props.len);
    kite_cmd_add_ext_ref(&req, "j", "0", 1);
    kite_cmd_add_ext_ref(&req, "k", "false", 5);
    kite_cmd_add_ext_ref(&req, "m", op->batch ? "true" : "false", op->batch ? 4 : 5);
    kite_cmd_add_ext_ref(&req, "n", mq->broker_name, strlen(mq->broker_name));
    kite_cmd_set_body_ref(&req, op->body, op->body_len); /* encoded (copied) by the call */
    if (op->kind == K_ONEWAY) {
        kite_rpc_oneway(kite_inst_rpc(p->inst), addr, &req);
        op_complete(op, KITE_OK);
        return;
    }
    kite_rpc_call_async(kite_inst_rpc(p->inst), addr, &req, left, on_answer, op);
}

/* First 32/56 characters of a possibly comma-joined id list. */
static void copy_first_id(char *dst, size_t cap, const char *ids)
{
    size_t n = strcspn(ids, ",");
    if (n >= cap) n = cap - 1;
    memcpy(dst, ids, n);
    dst[n] = 0;
}

static void on_answer(int status, kite_cmd *resp, void *arg)
{
    send_op *op = arg;
    const char *broker = op->res.broker_name;
    if (status != KITE_OK) {
        snprintf(op->res.error, sizeof op->res.error, "broker %s: %s", broker,
                 status == KITE_ETIMEDOUT ? "no answer in time" : "connection failed or closed");
        op->res.broker_code = 0;
        broker_failed(op);
        retry_or_fail(op, status);
        return;
    }
    int code = resp->code;
    if (code == RS_SUCCESS || code == RS_FLUSH_DISK_TIMEOUT || code == RS_FLUSH_SLAVE_TIMEOUT ||
        code == RS_SLAVE_NOT_AVAILABLE) {
        const char *id = kite_cmd_ext(resp, "msgId");
        int32_t qid;
        int64_t qoff;
        if (!id || kite_cmd_ext_i32(resp, "queueId", &qid) != 0 ||
            kite_cmd_ext_i64(resp, "queueOffset", &qoff) != 0) {
            /* Stored, but we cannot say where: report, never resend. */
            fail(op, KITE_EPROTO, "broker %s answered code %d without msgId/queueId/queueOffset",
                 broker, code);
            return;
        }
        kite_fault_ok(op->p->fault, broker);
        copy_first_id(op->res.offset_msg_id, sizeof op->res.offset_msg_id, id);
        op->res.queue_id = qid;
        op->res.queue_offset = qoff;
        op->res.count = op->count;
        op->res.broker_code = code;
        op->res.status = code == RS_SUCCESS               ? KITE_SEND_OK
                         : code == RS_FLUSH_DISK_TIMEOUT  ? KITE_SEND_FLUSH_DISK_TIMEOUT
                         : code == RS_FLUSH_SLAVE_TIMEOUT ? KITE_SEND_FLUSH_SLAVE_TIMEOUT
                                                          : KITE_SEND_SLAVE_NOT_AVAILABLE;
        op_complete(op, KITE_OK);
        return;
    }
    op->res.broker_code = code;
    snprintf(op->res.error, sizeof op->res.error, "broker %s refused the message with code %d: %s",
             broker, code, resp->remark ? resp->remark : "");
    if (retryable_code(code)) {
        broker_failed(op);
        retry_or_fail(op, status_of_code(code));
        return;
    }
    op_complete(op, status_of_code(code));
}

static void on_op_route(int status, kite_pub_route *r, const char *err, void *arg)
{
    send_op *op = arg;
    if (status != KITE_OK) {
        fail(op, status, "%s", err ? err : kite_strerror(status));
        return;
    }
    kite_pub_route_release(op->route);
    op->route = r;
    attempt(op);
}

static void op_start(void *arg)
{
    send_op *op = arg;
    if (op->route) {
        attempt(op);
        return;
    }
    op->route = kite_inst_route_cached(op->p->inst, op->topic);
    if (op->route)
        attempt(op);
    else
        kite_inst_route_fetch(op->p->inst, op->topic, on_op_route, op);
}

/* I/O thread: starts every op submitted so far. */
static void drain_subq(void *arg)
{
    kite_producer *p = arg;
    pthread_mutex_lock(&p->subq_mu);
    send_op *op = p->subq_head;
    p->subq_head = p->subq_tail = NULL;
    pthread_mutex_unlock(&p->subq_mu);
    while (op) {
        send_op *next = op->next;
        op->next = NULL;
        op_start(op); /* may free op */
        op = next;
    }
}

/* Hands op to the I/O thread; wakes it only when the queue was empty (a drain task is
 * already pending otherwise). The pending op keeps the instance alive (ops > 0). */
static void submit(send_op *op)
{
    kite_producer *p = op->p;
    pthread_mutex_lock(&p->subq_mu);
    int was_empty = p->subq_head == NULL;
    if (p->subq_tail)
        p->subq_tail->next = op;
    else
        p->subq_head = op;
    p->subq_tail = op;
    pthread_mutex_unlock(&p->subq_mu);
    if (was_empty) kite_ev_post(kite_rpc_client_ev(kite_inst_rpc(p->inst)), drain_subq, p);
}

/* Runs a registered op on the I/O thread; sync ops wait for the end. */
static int op_run(send_op *op, kite_send_result *res)
{
    kite_producer *p = op->p;
    if (op->kind != K_SYNC) {
        submit(op);
        return KITE_OK;
    }
    sync_wait w;
    w.done = 0;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    op->w = &w;
    submit(op);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu); /* bounded: every attempt has a timeout */
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    int status = op->status;
    if (res) *res = op->res;
    op_free(op);
    op_end(p, K_SYNC);
    return status;
}

static void res_clear(kite_send_result *res)
{
    if (res) memset(res, 0, sizeof *res);
}

int kite_producer_send(kite_producer *p, kite_message *msg, kite_send_result *res)
{
    return kite_prod_send_flagged(p, msg, 0, res);
}

/* One message of any kind: registered, prepared on the calling thread, then run. Sync
 * sends borrow the body (the call waits); the others copy it. */
static int send_single(kite_producer *p, kite_message *msg, int kind, int32_t extra_sysflag,
                       kite_send_cb cb, void *arg, kite_send_result *res)
{
    int rc = op_begin(p, kind, res);
    if (rc != KITE_OK) return rc;
    send_op *op = NULL;
    if ((rc = prep_single(p, msg, kind, kind == K_SYNC, &op, res)) != KITE_OK) {
        op_end(p, kind);
        return rc;
    }
    op->sysflag |= extra_sysflag;
    op->cb = cb;
    op->cb_arg = arg;
    return op_run(op, res);
}

int kite_producer_send_async(kite_producer *p, kite_message *msg, kite_send_cb cb, void *arg)
{
    if (!p || !cb) return KITE_EINVAL;
    return send_single(p, msg, K_ASYNC, 0, cb, arg, NULL);
}

int kite_producer_send_oneway(kite_producer *p, kite_message *msg)
{
    if (!p) return KITE_EINVAL;
    return send_single(p, msg, K_ONEWAY, 0, NULL, NULL, NULL);
}

int kite_producer_send_selected(kite_producer *p, kite_message *msg, kite_queue_selector sel,
                                void *sel_arg, kite_send_result *res)
{
    res_clear(res);
    if (!p || !sel) return KITE_EINVAL;
    int rc = op_begin(p, K_SYNC, res);
    if (rc != KITE_OK) return rc;
    send_op *op = NULL;
    if ((rc = prep_single(p, msg, K_SYNC, 1, &op, res)) != KITE_OK) {
        op_end(p, K_SYNC);
        return rc;
    }
    char err[sizeof res->error];
    rc = kite_inst_route_get(p->inst, op->topic, &op->route, err, sizeof err);
    if (rc == KITE_OK && op->route->n_mq == 0) {
        rc = KITE_ENOTFOUND;
        snprintf(err, sizeof err, "topic %s has no writable queue", op->topic);
    }
    if (rc == KITE_OK) {
        int k = sel(op->route->mqs, op->route->n_mq, msg, sel_arg);
        if (k < 0 || (size_t)k >= op->route->n_mq) {
            rc = KITE_EINVAL;
            snprintf(err, sizeof err, "selector returned %d for %zu queues", k, op->route->n_mq);
        }
        op->fixed_queue = k;
        op->max_attempts = 1;
    }
    if (rc != KITE_OK) {
        if (res) snprintf(res->error, sizeof res->error, "%s", err);
        op_free(op);
        op_end(p, K_SYNC);
        return rc;
    }
    return op_run(op, res);
}

int kite_producer_send_batch(kite_producer *p, kite_message *const *msgs, size_t n,
                             kite_send_result *res)
{
    res_clear(res);
    if (!p) return KITE_EINVAL;
    int rc = op_begin(p, K_SYNC, res);
    if (rc != KITE_OK) return rc;
    send_op *op = NULL;
    if ((rc = prep_batch(p, msgs, n, &op, res)) != KITE_OK) {
        op_end(p, K_SYNC);
        return rc;
    }
    return op_run(op, res);
}

int kite_select_by_key(const kite_mq *queues, size_t n, const kite_message *msg, void *arg)
{
    (void)queues;
    (void)msg;
    const char *key = arg ? arg : "";
    /* Java's SelectMessageQueueByHash: abs(hashCode % n), so Java and C producers agree. */
    int32_t h = kite_java_hash(key, strlen(key));
    int32_t v = (int32_t)(h % (int32_t)n);
    return v < 0 ? -v : v;
}

/* ---- library-internal (producer_int.h) ---- */

kite_inst *kite_prod_inst_of(kite_producer *p) { return p->inst; }
void kite_prod_set_txp(kite_producer *p, kite_txp *tx) { p->tx = tx; }
kite_txp *kite_prod_txp(kite_producer *p) { return p ? p->tx : NULL; }
int kite_prod_op_enter(kite_producer *p) { return op_begin(p, K_ONEWAY, NULL); }
void kite_prod_op_leave(kite_producer *p) { op_end(p, K_ONEWAY); }
void kite_prod_greet(kite_producer *p, const char *addr) { kite_prod_hb_touch(p->hb, addr); }

int kite_prod_send_flagged(kite_producer *p, kite_message *msg, int32_t extra_sysflag,
                           kite_send_result *res)
{
    res_clear(res);
    if (!p) return KITE_EINVAL;
    return send_single(p, msg, K_SYNC, extra_sysflag, NULL, NULL, res);
}
