/* consumer_pool.c - the consume pool: the work queue of consume requests, the worker
 * threads that run the listener (concurrent: batches of consume_batch_size; orderly:
 * one task per queue, one batch per turn), the later list (local retries, orderly
 * suspensions, waits for a lock), and the send-back of failed messages
 * (CONSUMER_SEND_MSG_BACK, else a resend to %RETRY%<group>).
 *
 * Owns: creq, c->wq_*, c->later, c->task_ns, the worker threads.
 * Threads: the listener and send-back run only on the workers (blocking calls); the
 * I/O thread pushes tasks (kite_pc_dispatch*); the work queue is under wq_mu. */
#include "client/consumer_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/thread.h"
#include "base/time.h"
#include "codec/msgprops.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOCAL_RETRY_MS 5000 /* local re-consumption when send-back failed */
#define LOCK_WAIT_MS   500  /* orderly: re-check of a queue whose lock is not valid */

/* ---- the work queue ---- */

void kite_pc_creq_free(creq *r)
{
    if (r->msgs) kite_rmsgs_free(r->msgs, r->n);
    kite_pc_pq_release(r->q);
    free(r);
}

/* Wakes want of the idle workers (all of them when want >= idle). Called after wq_mu is
 * released, so that a woken worker does not block on the lock at once; the tasks are in
 * the list already, so no wake-up can be lost. */
static void wake_workers(kite_push_consumer *c, size_t want, size_t idle)
{
    if (want >= idle)
        pthread_cond_broadcast(&c->wq_cv);
    else
        for (size_t i = 0; i < want; i++) pthread_cond_signal(&c->wq_cv);
}

#define SHORT_TASK_NS  20000 /* below this, waking a worker costs more than the task */
#define SHORT_TAKE     8
#define SHORT_ROUND_NS 100000 /* a woken worker's round of short tasks lasts about this long */
#define SHORT_TAKE_MAX 64

/* Tasks per woken worker while tasks are short: SHORT_TAKE, or as many as fill
 * SHORT_ROUND_NS when they are much shorter (up to SHORT_TAKE_MAX). Caller holds wq_mu. */
static size_t short_take(const kite_push_consumer *c)
{
    int64_t t = c->task_ns > 0 ? c->task_ns : 1, k = SHORT_ROUND_NS / t;
    return k < SHORT_TAKE ? SHORT_TAKE : k > SHORT_TAKE_MAX ? SHORT_TAKE_MAX : (size_t)k;
}

void kite_pc_wq_push_list(kite_push_consumer *c, creq *first, creq *last, size_t n)
{
    pthread_mutex_lock(&c->wq_mu);
    if (c->wq_tail)
        c->wq_tail->next = first;
    else
        c->wq_head = first;
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
void kite_pc_dispatch_orderly(kite_push_consumer *c, pq *q)
{
    creq *r = kite_xcalloc(1, sizeof *r);
    r->q = kite_pc_pq_ref(q);
    r->orderly = 1;
    kite_pc_wq_push_list(c, r, r, 1);
}

/* I/O: splits the messages of a pull into consume requests of consume_batch_size. */
void kite_pc_dispatch(kite_push_consumer *c, pq *q, kite_rmsg **msgs, size_t n)
{
    creq *first = NULL, *last = NULL;
    size_t bs = (size_t)c->o.consume_batch_size, count = 0;
    for (size_t i = 0; i < n; i += bs, count++) {
        size_t k = n - i < bs ? n - i : bs;
        creq *r = kite_xcalloc(1, sizeof *r);
        r->msgs = kite_xmalloc(k * sizeof *r->msgs);
        memcpy(r->msgs, msgs + i, k * sizeof *msgs);
        r->n = k;
        r->q = kite_pc_pq_ref(q);
        if (last)
            last->next = r;
        else
            first = r;
        last = r;
    }
    if (first) kite_pc_wq_push_list(c, first, last, count);
}

/* ---- send-back of failed messages (workers) ---- */

/* Builds a properties string: the message's properties with these replaced (a property
 * whose value holds a separator, which only a hand-made string can carry, is left out). */
static void props_for_resend(const kite_message_ext *m, const char *retry_of, int reconsume,
                             int max_re, kite_buf *out)
{
    static const char *const drop[] = { "RETRY_TOPIC", "RECONSUME_TIME", "MAX_RECONSUME_TIMES",
                                        "DELAY", "ORIGIN_MESSAGE_ID" };
    const char *name, *value;
    const char *origin = kite_message_ext_property(m, "ORIGIN_MESSAGE_ID");
    const char *rt = kite_message_ext_property(m, "RETRY_TOPIC");
    for (size_t i = 0; kite_message_ext_property_at(m, i, &name, &value) == KITE_OK; i++) {
        int skip = 0;
        for (size_t k = 0; k < sizeof drop / sizeof *drop; k++) skip |= strcmp(name, drop[k]) == 0;
        if (skip) continue;
        kite_msgprop_append_str(out, name, value);
    }
    kite_msgprop_append_str(out, "RETRY_TOPIC", rt ? rt : retry_of);
    kite_msgprop_append_i64(out, "RECONSUME_TIME", reconsume);
    kite_msgprop_append_i64(out, "MAX_RECONSUME_TIMES", max_re);
    kite_msgprop_append_i64(out, "DELAY", 3 + reconsume - 1);
    kite_msgprop_append_str(out, "ORIGIN_MESSAGE_ID", origin ? origin : m->msg_id);
}

/* CONSUMER_SEND_MSG_BACK (delay_level 0: the broker's retry schedule; -1: straight to
 * the DLQ), else a resend to %RETRY%<group> (Java's fallback; the broker moves it to the
 * DLQ once reconsume_times reaches max_reconsume_times). KITE_OK: the broker has the
 * message again; else the status of the resend (KITE_ERR: refused). Worker thread
 * (blocking calls). */
static int send_back(kite_push_consumer *c, const char *pulled_topic, const kite_message_ext *m,
                     int delay_level)
{
    char addr[128];
    int have = kite_pc_broker_addr(c, pulled_topic, m->broker_name, addr, sizeof addr) == KITE_OK;
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
                KLOG_DEBUG("client", "consumer %s: send-back of %s refused (%d %s); resending",
                           c->group, m->msg_id, code, resp.remark ? resp.remark : "");
            kite_cmd_free(&resp);
            if (code == RS_SUCCESS) return KITE_OK;
        }
    }
    /* Fallback: our own SEND_MESSAGE_V2 to the retry topic. */
    kite_pub_route *r = NULL;
    char err[200];
    int rc = kite_inst_route_get(c->inst, c->retry_topic, &r, err, sizeof err);
    if (rc != KITE_OK) return rc;
    const char *a = NULL;
    for (size_t i = 0; !a && i < r->rd.n_brokers; i++)
        if (r->rd.brokers[i].broker_name)
            a = kite_pub_route_master(r, r->rd.brokers[i].broker_name);
    if (a) snprintf(addr, sizeof addr, "%s", a);
    kite_pub_route_release(r);
    if (!a) return KITE_ENOTFOUND;
    kite_buf props = KITE_BUF_INIT;
    props_for_resend(m, m->topic, m->reconsume_times + 1, c->o.max_reconsume_times, &props);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_SEND_MESSAGE_V2, 0);
    kite_cmd_set_ext(&req, "a", KITE_GROUP_CLIENT_INNER_PRODUCER);
    kite_cmd_set_ext(&req, "b", c->retry_topic);
    kite_cmd_set_ext(&req, "c", KITE_TOPIC_AUTO_CREATE);
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
    rc = kite_rpc_call_sync(rpc(c), addr, &req, c->o.rpc_timeout_ms, &resp);
    if (rc != KITE_OK) return rc;
    int code = resp.code;
    kite_cmd_free(&resp);
    return code == RS_SUCCESS ? KITE_OK : KITE_ERR;
}

/* ---- workers ---- */

/* Parks r on the later list: a worker runs it again in delay_ms. */
static void later_push(kite_push_consumer *c, creq *r, int64_t delay_ms)
{
    r->due_ms = kite_deadline_ms(delay_ms);
    pthread_mutex_lock(&c->wq_mu);
    r->next = c->later;
    c->later = r;
    pthread_cond_broadcast(&c->wq_cv);
    pthread_mutex_unlock(&c->wq_mu);
}

static void run_creq(kite_push_consumer *c, creq *r)
{
    pq *q = r->q;
    if (atomic_load(&q->dropped)) { /* another consumer owns the queue now */
        kite_pc_creq_free(r);
        return;
    }
    const kite_message_ext *stackv[32] = { 0 };
    const kite_message_ext **v = r->n <= 32 ? stackv : kite_xmalloc(r->n * sizeof *v);
    for (size_t i = 0; i < r->n; i++) v[i] = &r->msgs[i]->m;
    kite_consume_status st = c->cb(v, r->n, c->cb_arg);
    if (v != stackv) free(v);
    if (st != KITE_CONSUME_SUCCESS && clustering(c)) {
        /* Messages the broker took back are done; the others stay cached and are
         * consumed here again after LOCAL_RETRY_MS. */
        kite_rmsg **kept = kite_xmalloc(r->n * sizeof *kept);
        kite_rmsg **back = kite_xmalloc(r->n * sizeof *back);
        size_t nk = 0, nb = 0;
        for (size_t i = 0; i < r->n; i++) {
            if (send_back(c, q->s->topic, &r->msgs[i]->m, 0) == KITE_OK)
                back[nb++] = r->msgs[i];
            else
                kept[nk++] = r->msgs[i];
        }
        if (nk) {
            kite_pc_pq_remove(q, back, nb);
            for (size_t i = 0; i < nb; i++) kite_rmsg_free(back[i]);
            memcpy(r->msgs, kept, nk * sizeof *kept);
            r->n = nk;
            free(kept);
            free(back);
            KLOG_WARN(
                "client",
                "consumer %s: %zu message(s) could not be sent back; consuming them again in %d ms",
                c->group, nk, LOCAL_RETRY_MS);
            later_push(c, r, LOCAL_RETRY_MS);
            return;
        }
        free(kept);
        free(back);
    } else if (st != KITE_CONSUME_SUCCESS) {
        KLOG_WARN(
            "client",
            "consumer %s (BROADCASTING): %zu message(s) failed and are dropped (no retry in this mode)",
            c->group, r->n);
    }
    kite_pc_pq_remove(q, r->msgs, r->n);
    kite_pc_creq_free(r);
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
        if (post) kite_ev_post(ev(c), kite_pc_unlock_task, kite_pc_pq_ref(q));
        kite_pc_creq_free(r);
        return;
    }
    if (locking(c) && !kite_pc_lock_valid(q)) { /* not ours (now): wait for a renewal */
        pthread_mutex_unlock(&q->mu);
        later_push(c, r, LOCK_WAIT_MS);
        return;
    }
    size_t k = q->olen - q->ohead;
    if (k > (size_t)c->o.consume_batch_size) k = (size_t)c->o.consume_batch_size;
    kite_rmsg **batch = kite_xmalloc(k * sizeof *batch);
    const kite_message_ext **v = kite_xmalloc(k * sizeof *v);
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
                    KLOG_WARN("client",
                              "consumer %s (BROADCASTING): message %s suspended %d times; dropped",
                              c->group, m->msg_id, m->reconsume_times);
                } else if (send_back(c, q->s->topic, m, -1) == KITE_OK) {
                    KLOG_INFO("client",
                              "consumer %s: message %s suspended %d times; sent to the DLQ",
                              c->group, m->msg_id, m->reconsume_times);
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
    q->ohead += k; /* only this task removes from the front */
    if (q->ohead == q->olen) q->ohead = q->olen = 0;
    pthread_mutex_unlock(&q->mu);
    kite_pc_pq_remove(q, batch, k);
    for (size_t i = 0; i < k; i++) kite_rmsg_free(batch[i]);
    free(batch);
    r->next = NULL;
    kite_pc_wq_push_list(c, r, r, 1);
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
            if (c->wq_tail)
                c->wq_tail->next = r;
            else
                c->wq_head = r;
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

void *kite_pc_worker_main(void *arg)
{
    kite_push_consumer *c = arg;
    kite_thread_name("kite-consume");
    int64_t per = -1; /* ns per task of this worker's last round */
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
                kite_cond_wait_us(&c->wq_cv, &c->wq_mu, wait * 1000);
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
            if (r->direct)
                kite_pc_run_direct(c, r);
            else if (r->orderly)
                run_orderly(c, r);
            else
                run_creq(c, r);
            r = next;
            ran++;
            int64_t now = kite_mono_ns();
            if (r && now - t > GIVE_BACK_NS) { /* the listener got slow: share the rest */
                wq_give_back(c, r, now - t);
                r = NULL;
            }
            t = now;
        }
        per = (t - t0) / (int64_t)ran; /* folded in under the lock, next round */
    }
}

void kite_pc_free_queued(kite_push_consumer *c)
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
            kite_pc_creq_free(r);
            r = next;
        }
}
