/* transaction.c - the transaction producer of libkite (include/kite/transaction.h):
 * half-message sends with the local transaction, END_TRANSACTION, and answers to the
 * brokers' CHECK_TRANSACTION_STATE.
 *
 * Owns: kite_txp (attached to a kite_producer; freed by it at destroy): the listener,
 * the check thread and its queue of pending checks.
 * Not owned: sending (producer.c, through kite_prod_send_flagged), heartbeats
 * (heartbeat.c), decoding received records (received.c).
 *
 * Wire (docs/wire.md §5.5, §7, §10): END_TRANSACTION (37) oneway to the master of the
 * broker that stored the half (route of the topic; fallback: the address inside the
 * offset message id) with producerGroup, tranStateTableOffset = the half's queue offset,
 * commitLogOffset = decoded from the offset msgId, commitOrRollback 8 / 12 / 0,
 * fromTransactionCheck, msgId and transactionId = UNIQ_KEY. A check request carries the
 * half (a copy of it) as one stored record; the answer echoes its tranStateTableOffset,
 * commitLogOffset and transactionId, goes to the address the request came from, and is
 * only given for halves of our own group (PGROUP).
 *
 * Threads: the check handler runs on the I/O thread: it decodes the record, queues a
 * job and returns; the check thread runs the application's callback and sends the
 * answer. `mu` guards the queue and the stop flag. Every END_TRANSACTION is sent inside
 * kite_prod_op_enter/leave, so shutdown never frees the RPC client under it. */
#include "base/log.h"
#include "base/mem.h"
#include "client/instance.h"
#include "client/producer_int.h"
#include "client/received.h"
#include "codec/record.h"
#include "kite/kite.h"
#include "kite/transaction.h"
#include "proto/codes.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_QUEUED 10000

typedef struct check_job {
    struct check_job *next;
    kite_rmsg *msg;
    char addr[64];
    int64_t qoff, phys;
    char txid[128];
} check_job;

struct kite_txp {
    kite_producer *p;
    kite_tx_listener l;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    check_job *head, *tail;
    size_t queued;
    int stopping, running;
    pthread_t thr;
};

const char *kite_tx_state_name(kite_tx_state s)
{
    switch (s) {
    case KITE_TX_COMMIT: return "COMMIT";
    case KITE_TX_ROLLBACK: return "ROLLBACK";
    default: return "UNKNOWN";
    }
}

static int wire_type(kite_tx_state s)
{
    return s == KITE_TX_COMMIT     ? KITE_SYSFLAG_TX_COMMIT
           : s == KITE_TX_ROLLBACK ? KITE_SYSFLAG_TX_ROLLBACK
                                   : 0;
}

static kite_tx_state normalize(kite_tx_state s)
{
    return s == KITE_TX_COMMIT || s == KITE_TX_ROLLBACK ? s : KITE_TX_UNKNOWN;
}

static void set_num(kite_cmd *c, const char *key, int64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)v);
    kite_cmd_set_ext(c, key, t);
}

/* Sends END_TRANSACTION oneway (any thread except the I/O thread's callbacks during
 * shutdown). Returns KITE_OK when handed to the network layer. */
static int end_transaction(kite_txp *tx, const char *addr, int64_t qoff, int64_t phys,
                           kite_tx_state st, int from_check, const char *msg_id, const char *tx_id)
{
    kite_producer *p = tx->p;
    if (kite_prod_op_enter(p) != KITE_OK) {
        KLOG_WARN("client", "producer %s stopped: END_TRANSACTION %s for %s not sent",
                  kite_producer_group(p), kite_tx_state_name(st), msg_id);
        return KITE_ESTOPPED;
    }
    kite_cmd req;
    kite_cmd_init_request(&req, RC_END_TRANSACTION, 0);
    kite_cmd_set_ext(&req, "producerGroup", kite_producer_group(p));
    set_num(&req, "tranStateTableOffset", qoff);
    set_num(&req, "commitLogOffset", phys);
    set_num(&req, "commitOrRollback", wire_type(st));
    kite_cmd_set_ext(&req, "fromTransactionCheck", from_check ? "true" : "false");
    kite_cmd_set_ext(&req, "msgId", msg_id);
    kite_cmd_set_ext(&req, "transactionId", tx_id && *tx_id ? tx_id : msg_id);
    kite_rpc_oneway(kite_inst_rpc(kite_prod_inst_of(p)), addr, &req);
    kite_prod_op_leave(p);
    KLOG_DEBUG("client", "producer %s: END_TRANSACTION %s for %s (half %lld at %lld) to %s%s",
               kite_producer_group(p), kite_tx_state_name(st), msg_id, (long long)qoff,
               (long long)phys, addr, from_check ? " (check answer)" : "");
    return KITE_OK;
}

/* ---- checks from brokers ---- */

static void job_free(check_job *j)
{
    kite_rmsg_free(j->msg);
    free(j);
}

/* I/O thread: CHECK_TRANSACTION_STATE (oneway; never answered directly). */
static void h_check(kite_rpc_req *req, void *arg)
{
    kite_txp *tx = arg;
    const char *group = kite_producer_group(tx->p);
    int64_t qoff, phys;
    kite_rmsg **msgs = NULL;
    size_t n = 0;
    char err[200] = "";
    const char *bn = kite_cmd_ext(&req->cmd, "bname");
    if (kite_cmd_ext_i64(&req->cmd, "tranStateTableOffset", &qoff) != 0 ||
        kite_cmd_ext_i64(&req->cmd, "commitLogOffset", &phys) != 0) {
        KLOG_WARN("client",
                  "producer %s: CHECK_TRANSACTION_STATE from %s without its offsets; ignored",
                  group, kite_conn_peer(req->conn));
        kite_rpc_done(req);
        return;
    }
    if (kite_rmsg_decode_all(req->cmd.body, req->cmd.body_len, bn ? bn : "", NULL, NULL, &msgs, &n,
                             err, sizeof err) != KITE_OK ||
        n != 1) {
        KLOG_WARN("client",
                  "producer %s: CHECK_TRANSACTION_STATE from %s with a bad body (%s); ignored",
                  group, kite_conn_peer(req->conn), err[0] ? err : "not exactly one message");
        kite_rmsgs_free(msgs, n);
        kite_rpc_done(req);
        return;
    }
    const char *pg = kite_message_ext_property(&msgs[0]->m, "PGROUP");
    if (!pg || strcmp(pg, group) != 0) {
        KLOG_WARN("client", "producer %s: check for a half of group %s ignored", group,
                  pg ? pg : "(none)");
        kite_rmsgs_free(msgs, n);
        kite_rpc_done(req);
        return;
    }
    check_job *j = kite_xcalloc(1, sizeof *j);
    j->msg = msgs[0];
    free(msgs);
    j->qoff = qoff;
    j->phys = phys;
    snprintf(j->addr, sizeof j->addr, "%s", kite_conn_peer(req->conn));
    const char *tid = kite_cmd_ext(&req->cmd, "transactionId");
    snprintf(j->txid, sizeof j->txid, "%s", tid ? tid : "");
    kite_rpc_done(req);
    size_t max = tx->l.max_queued_checks ? tx->l.max_queued_checks : DEFAULT_MAX_QUEUED;
    pthread_mutex_lock(&tx->mu);
    if (tx->stopping || tx->queued >= max) {
        int stopping = tx->stopping;
        pthread_mutex_unlock(&tx->mu);
        if (!stopping)
            KLOG_WARN("client", "producer %s: %zu checks waiting; check of %s dropped", group, max,
                      j->msg->m.msg_id);
        job_free(j);
        return;
    }
    if (tx->tail)
        tx->tail->next = j;
    else
        tx->head = j;
    tx->tail = j;
    tx->queued++;
    pthread_cond_signal(&tx->cv);
    pthread_mutex_unlock(&tx->mu);
}

static void *check_main(void *arg)
{
    kite_txp *tx = arg;
    for (;;) {
        pthread_mutex_lock(&tx->mu);
        while (!tx->head && !tx->stopping) pthread_cond_wait(&tx->cv, &tx->mu);
        if (tx->stopping) {
            pthread_mutex_unlock(&tx->mu);
            return NULL;
        }
        check_job *j = tx->head;
        tx->head = j->next;
        if (!tx->head) tx->tail = NULL;
        tx->queued--;
        pthread_mutex_unlock(&tx->mu);
        kite_tx_state st = normalize(tx->l.check(&j->msg->m, tx->l.check_arg));
        end_transaction(tx, j->addr, j->qoff, j->phys, st, 1, j->msg->m.msg_id, j->txid);
        job_free(j);
    }
}

int kite_txp_on_start(kite_txp *tx)
{
    kite_rpc_client_handle(kite_inst_rpc(kite_prod_inst_of(tx->p)), RC_CHECK_TRANSACTION_STATE,
                           h_check, tx);
    pthread_mutex_lock(&tx->mu);
    tx->stopping = 0;
    int rc = pthread_create(&tx->thr, NULL, check_main, tx);
    tx->running = rc == 0;
    pthread_mutex_unlock(&tx->mu);
    return rc == 0 ? KITE_OK : KITE_ENOMEM; /* no thread from the system */
}

int kite_txp_on_stop(kite_txp *tx)
{
    pthread_mutex_lock(&tx->mu);
    if (tx->running && pthread_equal(tx->thr, pthread_self())) {
        pthread_mutex_unlock(&tx->mu);
        return KITE_EINVAL;
    }
    tx->stopping = 1;
    pthread_cond_broadcast(&tx->cv);
    int running = tx->running;
    tx->running = 0;
    pthread_mutex_unlock(&tx->mu);
    if (running) pthread_join(tx->thr, NULL);
    pthread_mutex_lock(&tx->mu);
    check_job *j = tx->head;
    tx->head = tx->tail = NULL;
    tx->queued = 0;
    pthread_mutex_unlock(&tx->mu);
    while (j) {
        check_job *next = j->next;
        job_free(j);
        j = next;
    }
    return KITE_OK;
}

void kite_txp_free(kite_txp *tx)
{
    if (!tx) return;
    kite_txp_on_stop(tx);
    pthread_mutex_destroy(&tx->mu);
    pthread_cond_destroy(&tx->cv);
    free(tx);
}

/* ---- public API ---- */

int kite_producer_create_transactional(kite_producer **out, const char *group,
                                       const kite_producer_opts *opts,
                                       const kite_tx_listener *listener)
{
    if (!out) return KITE_EINVAL;
    *out = NULL;
    if (!listener || !listener->execute || !listener->check) return KITE_EINVAL;
    kite_txp *tx = kite_xcalloc(1, sizeof *tx);
    tx->l = *listener;
    pthread_mutex_init(&tx->mu, NULL);
    pthread_cond_init(&tx->cv, NULL);
    int rc = kite_producer_create(&tx->p, group, opts);
    if (rc != KITE_OK) {
        kite_txp_free(tx);
        return rc;
    }
    kite_prod_set_txp(tx->p, tx);
    *out = tx->p;
    return KITE_OK;
}

/* The broker that stored the half: master of its broker name in the route, else the
 * store host inside the IPv4 offset message id. KITE_OK, or KITE_ENOTFOUND. */
static int half_broker_addr(kite_producer *p, const char *topic, const kite_send_result *res,
                            char *out, size_t cap)
{
    kite_pub_route *r = kite_inst_route_cached(kite_prod_inst_of(p), topic);
    const char *a = r ? kite_pub_route_master(r, res->broker_name) : NULL;
    if (a) snprintf(out, cap, "%s", a);
    kite_pub_route_release(r);
    if (a) return KITE_OK;
    const char *id = res->offset_msg_id;
    if (strlen(id) != 32) return KITE_ENOTFOUND;
    unsigned ip[4], port;
    if (sscanf(id, "%2x%2x%2x%2x%8x", &ip[0], &ip[1], &ip[2], &ip[3], &port) != 5)
        return KITE_ENOTFOUND;
    snprintf(out, cap, "%u.%u.%u.%u:%u", ip[0], ip[1], ip[2], ip[3], port);
    return KITE_OK;
}

/* Commit-log offset: the last 16 hex characters of the offset message id. KITE_OK, or
 * KITE_EINVAL. */
static int half_phys(const char *id, int64_t *phys)
{
    size_t n = strlen(id);
    if (n != 32 && n != 56) return KITE_EINVAL;
    char *end;
    unsigned long long v = strtoull(id + n - 16, &end, 16);
    if (*end) return KITE_EINVAL;
    *phys = (int64_t)v;
    return KITE_OK;
}

int kite_producer_send_in_transaction(kite_producer *p, kite_message *msg, void *arg,
                                      kite_send_result *res, kite_tx_state *state)
{
    kite_send_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    if (state) *state = KITE_TX_UNKNOWN;
    kite_txp *tx = kite_prod_txp(p);
    if (!tx || !msg) return KITE_EINVAL;
    if (kite_inst_on_io_thread(kite_prod_inst_of(p))) {
        snprintf(res->error, sizeof res->error,
                 "blocking send called on the producer's I/O thread (from a callback)");
        return KITE_EINVAL;
    }
    /* A transactional message is delivered when committed, never delayed (as Java, which
     * clears the delay level of the half): the broker would otherwise park the committed
     * message in SCHEDULE_TOPIC_XXXX. */
    int rc = kite_message_set_delay_level(msg, 0);
    if (rc == KITE_OK) rc = kite_message_set_property(msg, "TRAN_MSG", "true");
    if (rc == KITE_OK) rc = kite_message_set_property(msg, "PGROUP", kite_producer_group(p));
    if (rc != KITE_OK) return rc;
    rc = kite_prod_send_flagged(p, msg, KITE_SYSFLAG_TX_PREPARED, res);
    if (rc != KITE_OK) return rc;
    char addr[128];
    int64_t phys;
    if (half_broker_addr(p, kite_message_topic(msg), res, addr, sizeof addr) != KITE_OK ||
        half_phys(res->offset_msg_id, &phys) != KITE_OK) {
        /* Stored, but we cannot say where: the broker's check-back decides. */
        snprintf(res->error, sizeof res->error,
                 "broker %s answered an unusable offset message id '%s'", res->broker_name,
                 res->offset_msg_id);
        return KITE_EPROTO;
    }
    if (kite_prod_op_enter(p) == KITE_OK) {
        kite_prod_greet(p, addr); /* the broker must know us before it checks back */
        kite_prod_op_leave(p);
    }
    kite_tx_state st = KITE_TX_ROLLBACK; /* stored but not as durable as asked: as Java */
    if (res->status == KITE_SEND_OK) st = normalize(tx->l.execute(msg, arg));
    end_transaction(tx, addr, res->queue_offset, phys, st, 0, res->msg_id, res->msg_id);
    if (state) *state = st;
    return KITE_OK;
}
