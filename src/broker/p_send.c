/* p_send.c - SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320):
 * header parsing (long and one-letter names), topic checks and auto-creation, queue
 * choice, half messages (TRAN_MSG: stored in RMQ_SYS_TRANS_HALF_TOPIC, never visible to
 * consumers), delayed messages (SCHEDULE_TOPIC_XXXX), retry-to-DLQ redirection, then an
 * asynchronous store put whose completion answers the client. h_send runs four steps,
 * each answering its own error: parse (header, properties scan), route (topic and
 * queue, retry -> DLQ, half, delay), validate (sizes, batch framing), put. The loop never
 * waits for a disk sync: the store calls back (from its flush thread under SYNC_FLUSH) and
 * kite_rpc_reply hands the answer to the loop. This is the hot path: besides its answer,
 * a single message allocates only its context and its properties (the context holds the
 * results of one message; only batches allocate result arrays). Under SYNC_MASTER the
 * answer further waits, without blocking, for a slave to hold the records (repl/ha.h):
 * FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE then answer a stored message.
 * docs/wire.md §5.1-§5.3, §9.3, §9.5. */
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "codec/record.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include "repl/ha.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kite_broker *B(void *arg) { return arg; }

/* The header fields of a send, in the order of their one-letter names (310/320 send
 * 'a'..'m'; code 10 sends the long names). Read in one pass over extFields: this runs
 * for every message. An empty value counts as absent; the last duplicate wins. */
enum {
    F_GROUP,
    F_TOPIC,
    F_DEF_TOPIC,
    F_DEF_QNUMS,
    F_QID,
    F_SYSFLAG,
    F_BORN,
    F_FLAG,
    F_PROPS,
    F_RECONSUME,
    F_UNIT_MODE,
    F_MAX_RECONSUME,
    F_BATCH,
    F_N
};
static const char *const long_names[F_N] = {
    "producerGroup", "topic",          "defaultTopic",  "defaultTopicQueueNums",
    "queueId",       "sysFlag",        "bornTimestamp", "flag",
    "properties",    "reconsumeTimes", "unitMode",      "maxReconsumeTimes",
    "batch"
};

typedef struct send_hdr {
    const char *v[F_N];
    size_t len[F_N];
} send_hdr;

static void parse_hdr(const kite_cmd *cmd, send_hdr *h)
{
    memset(h, 0, sizeof *h);
    int long_form = cmd->code == RC_SEND_MESSAGE;
    for (size_t i = 0; i < cmd->n_ext; i++) {
        const char *k = cmd->ext[i].key;
        int f = -1;
        if (!long_form) {
            if (k[0] >= 'a' && k[0] < 'a' + F_N && k[1] == 0) f = k[0] - 'a';
        } else {
            for (int j = 0; j < F_N && f < 0; j++)
                if (k[0] == long_names[j][0] && strcmp(k, long_names[j]) == 0) f = j;
        }
        if (f < 0) continue;
        h->v[f] = cmd->ext[i].vlen ? cmd->ext[i].val : NULL;
        h->len[f] = cmd->ext[i].vlen;
    }
}

/* Header field f as an integer (dflt when absent): KITE_OK, or KITE_EINVAL. */
static int hdr_i64(const send_hdr *h, int f, int64_t dflt, int64_t *out)
{
    const char *v = h->v[f];
    if (!v) {
        *out = dflt;
        return KITE_OK;
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end) return KITE_EINVAL;
    *out = x;
    return KITE_OK;
}

typedef struct send_ctx {
    kite_rpc_req *req;
    kite_broker *b;
    int32_t queue_id;
    int n_msgs;           /* batch size */
    atomic_int slot;      /* next free result slot */
    atomic_int left;      /* completions still to come; the last one answers */
    int64_t *phys, *qoff; /* per message, filled by callbacks */
    int *status;
    int64_t phys1, qoff1; /* the arrays of a single message (no allocation) */
    int status1;
    char uniq[128];
    int64_t *st_nums, *st_size; /* the topic's statistics counters (bk_stat_ref) */
    int64_t bytes;
    int wait_slave;      /* SYNC_MASTER, WAIT not false: a slave must hold it first */
    int repl_code;       /* after that wait: 0, FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE */
    _Atomic int64_t end; /* end of the last record stored */
} send_ctx;

static int status_code(kite_put_status st)
{
    switch (st) {
    case KITE_PUT_OK: return RS_SUCCESS;
    case KITE_PUT_FLUSH_DISK_TIMEOUT: return RS_FLUSH_DISK_TIMEOUT;
    case KITE_PUT_MESSAGE_ILLEGAL:
    case KITE_PUT_PROPERTIES_SIZE_EXCEEDED: return RS_MESSAGE_ILLEGAL;
    case KITE_PUT_SERVICE_NOT_AVAILABLE:
    case KITE_PUT_DISK_FULL: return RS_SERVICE_NOT_AVAILABLE;
    default: return RS_SYSTEM_ERROR;
    }
}

static const char *status_remark(kite_put_status st)
{
    switch (st) {
    case KITE_PUT_DISK_FULL: return "service not available now: the disk is full";
    case KITE_PUT_SERVICE_NOT_AVAILABLE:
        return "service not available now: the store is not writable";
    case KITE_PUT_FLUSH_FAILED:
        return "the disk sync failed: the message is NOT stored durably; the broker stopped accepting writes";
    case KITE_PUT_MESSAGE_ILLEGAL: return "the message is illegal (size or topic)";
    case KITE_PUT_PROPERTIES_SIZE_EXCEEDED: return "the message properties exceed 32767 bytes";
    case KITE_PUT_CREATE_MAPPED_FILE_FAILED: return "create mapped file failed";
    default: return kite_put_status_name(st);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void finish_send(send_ctx *c);

/* SYNC_MASTER: the slave's answer (any thread: the replication thread, or inline). */
static void replicated(void *arg, kite_ha_wait_status st)
{
    send_ctx *c = arg;
    c->repl_code = st == KITE_HA_ACKED     ? RS_SUCCESS
                   : st == KITE_HA_TIMEOUT ? RS_FLUSH_SLAVE_TIMEOUT
                                           : RS_SLAVE_NOT_AVAILABLE;
    finish_send(c);
}

static void finish_send(send_ctx *c)
{
    /* The most severe outcome decides the code; "stored but not known durable"
     * (FLUSH_DISK_TIMEOUT) only when everything else succeeded. */
    int worst = KITE_PUT_OK;
    for (int i = 0; i < c->n_msgs; i++) {
        if (c->status[i] == KITE_PUT_OK) continue;
        if (worst == KITE_PUT_OK || worst == KITE_PUT_FLUSH_DISK_TIMEOUT) worst = c->status[i];
    }
    int stored = worst == KITE_PUT_OK || worst == KITE_PUT_FLUSH_DISK_TIMEOUT;
    if (stored && c->wait_slave) {
        /* SYNC_MASTER: answered once a slave holds [first record, end) - never blocking:
         * the replication service calls back (DESIGN.md, "Replication"). */
        c->wait_slave = 0;
        int64_t start = c->phys[0];
        for (int i = 1; i < c->n_msgs; i++)
            if (c->phys[i] < start) start = c->phys[i];
        kite_ha_master_wait(c->b->ha_master, start, atomic_load(&c->end), c->b->cfg.slave_timeout,
                            replicated, c);
        return;
    }
    kite_cmd resp;
    int code = status_code((kite_put_status)worst);
    const char *remark = worst == KITE_PUT_OK ? NULL : status_remark((kite_put_status)worst);
    if (stored && c->repl_code == RS_FLUSH_SLAVE_TIMEOUT) { /* replication wins over the flush */
        code = RS_FLUSH_SLAVE_TIMEOUT;
        remark = "stored, but no slave acknowledged it within slaveTimeout";
    } else if (stored && c->repl_code == RS_SLAVE_NOT_AVAILABLE) {
        code = RS_SLAVE_NOT_AVAILABLE;
        remark = "stored, but no slave is connected or close enough to replicate it";
    }
    kite_cmd_init_response(&resp, &c->req->cmd, code, remark);
    /* Answer fields reference the context and configuration: the answer is encoded
     * before kite_rpc_reply returns. */
    char *ids = NULL;
    if (stored) {
        atomic_fetch_add(&c->b->put_total, c->n_msgs);
        __atomic_fetch_add(c->st_nums, c->n_msgs, __ATOMIC_RELAXED);
        __atomic_fetch_add(c->st_size, c->bytes, __ATOMIC_RELAXED);
        if (c->n_msgs > 1) {
            qsort(c->phys, (size_t)c->n_msgs, sizeof *c->phys, cmp_i64);
            qsort(c->qoff, (size_t)c->n_msgs, sizeof *c->qoff, cmp_i64);
        }
        ids = kite_arena_alloc(&resp.arena, (size_t)c->n_msgs * 33);
        for (int i = 0; i < c->n_msgs; i++) {
            bk_offset_msg_id(c->b, c->phys[i], ids + 33 * i);
            if (i) ids[33 * i - 1] = ',';
        }
        kite_cmd_add_ext_ref(&resp, "msgId", ids, (size_t)c->n_msgs * 33 - 1);
        kite_cmd_add_ext_i64(&resp, "queueId", c->queue_id);
        kite_cmd_add_ext_i64(&resp, "queueOffset", c->qoff[0]);
        kite_cmd_add_ext_ref(&resp, "MSG_REGION", c->b->cfg.region_id, strlen(c->b->cfg.region_id));
        kite_cmd_add_ext_ref(&resp, "TRACE_ON", c->b->cfg.trace_on ? "true" : "false",
                             c->b->cfg.trace_on ? 4 : 5);
        if (c->uniq[0]) kite_cmd_add_ext_ref(&resp, "transactionId", c->uniq, strlen(c->uniq));
    }
    kite_rpc_reply(c->req, &resp);
    if (c->n_msgs > 1) {
        free(c->phys);
        free(c->qoff);
        free(c->status);
    }
    free(c);
}

/* Store completion: any thread. The last message of a batch answers. */
static void put_done(void *arg, const kite_put_result *res)
{
    send_ctx *c = arg;
    int i = atomic_fetch_add(&c->slot, 1);
    c->phys[i] = res->phys_offset;
    c->qoff[i] = res->queue_offset;
    c->status[i] = res->status;
    int64_t e = res->phys_offset + res->wrote_bytes, cur = atomic_load(&c->end);
    while (e > cur && !atomic_compare_exchange_weak(&c->end, &cur, e)) {
    }
    if (atomic_fetch_sub(&c->left, 1) == 1) finish_send(c); /* seq_cst: sees every slot */
}

static void ctx_alloc(send_ctx *c, int n)
{
    c->n_msgs = n;
    atomic_init(&c->slot, 0);
    atomic_init(&c->left, n);
    if (n == 1) {
        c->phys = &c->phys1;
        c->qoff = &c->qoff1;
        c->status = &c->status1;
        return;
    }
    c->phys = kite_xcalloc((size_t)n, sizeof *c->phys);
    c->qoff = kite_xcalloc((size_t)n, sizeof *c->qoff);
    c->status = kite_xcalloc((size_t)n, sizeof *c->status);
}

/* Resolves (and maybe auto-creates) the target topic. NULL after answering an error. */
static bk_topic *resolve_topic(kite_broker *b, kite_rpc_req *req, const send_hdr *h,
                               const char *topic)
{
    if (!bk_topic_name_ok(topic)) {
        bk_replyf(
            req, RS_SYSTEM_ERROR,
            "the topic name [%.200s] is invalid: only letters, digits, %%, |, _ and - are allowed, at most 127 characters",
            topic);
        return NULL;
    }
    if (bk_topic_send_forbidden(topic)) {
        bk_replyf(req, RS_NO_PERMISSION, "sending message to topic[%.200s] is forbidden", topic);
        return NULL;
    }
    bk_topic *t = bk_topic_get(b, topic);
    if (t) return t;
    int64_t dq = 4;
    hdr_i64(h, F_DEF_QNUMS, 4, &dq);
    if (kite_is_retry_topic(topic))
        return bk_topic_put(b, topic, 1, 1, KITE_PERM_READ | KITE_PERM_WRITE, 0, "SINGLE_TAG", 0);
    const char *def = h->v[F_DEF_TOPIC];
    bk_topic *tmpl = def ? bk_topic_get(b, def) : NULL;
    if (b->cfg.auto_create_topic_enable && tmpl && (tmpl->perm & KITE_PERM_INHERIT)) {
        int32_t q = (int32_t)dq;
        if (q > tmpl->write_queue_nums) q = tmpl->write_queue_nums;
        if (q <= 0) q = 1;
        return bk_topic_put(b, topic, q, q, tmpl->perm & ~KITE_PERM_INHERIT, 0, tmpl->filter_type,
                            0);
    }
    bk_replyf(req, RS_TOPIC_NOT_EXIST, "topic[%.200s] not exist, apply first please!", topic);
    return NULL;
}

/* The properties the broker looks at, found in one pass over the request's copy. */
enum { P_CLUSTER, P_REGION, P_TRACE, P_TRAN, P_DELAY, P_WAIT, P_UNIQ, P_N };
static const char *const prop_names[P_N] = { "CLUSTER", "MSG_REGION", "TRACE_ON", "TRAN_MSG",
                                             "DELAY",   "WAIT",       "UNIQ_KEY" };

/* The broker's own properties, added to every stored message that lacks them, as a 5.x
 * broker does: CLUSTER, MSG_REGION (regionId) and TRACE_ON (traceOn). Consumers read the
 * last two: the 5.x Java client drops the consume traces of a message without MSG_REGION.
 * have[] says which of the three (in prop_names order) the message already carries. */
static void add_broker_props(kite_buf *p, const kite_broker *b, const int have[3])
{
    if (!have[P_CLUSTER]) kite_msgprop_append_str(p, "CLUSTER", b->cfg.broker_cluster_name);
    if (!have[P_REGION]) kite_msgprop_append_str(p, "MSG_REGION", b->cfg.region_id);
    if (!have[P_TRACE]) kite_msgprop_append_str(p, "TRACE_ON", b->cfg.trace_on ? "true" : "false");
}

/* One send request on its way through h_send: parse -> route -> validate -> put. Every
 * step returns KITE_OK, or answers its own error and returns KITE_ERR (the request was
 * refused); h_send frees what the steps built. */
typedef struct send_req {
    /* parse */
    send_hdr h;
    int64_t qid, sysflag, born_ts, flag, reconsume, max_reconsume;
    int batch;
    const char *props_in; /* the request's properties (stay put while props grows) */
    size_t props_in_len;
    const char *pv[P_N]; /* values of prop_names in props_in */
    size_t pl[P_N];
    /* route */
    bk_topic *t;             /* the topic asked for */
    int32_t queue_id;        /* the queue asked for, or picked */
    const char *store_topic; /* where the record is stored */
    int32_t store_qid;
    int to_dlq;
    char dlq[300];
    kite_buf props; /* the stored properties (owned) */
    /* validate */
    int n_msgs; /* messages in the body */
} send_req;

static int send_parse(kite_rpc_req *req, send_req *s)
{
    parse_hdr(&req->cmd, &s->h);
    if (!s->h.v[F_GROUP] || !s->h.v[F_TOPIC]) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "the custom field <producerGroup/topic> is null");
        return KITE_ERR;
    }
    const send_hdr *h = &s->h;
    if (hdr_i64(h, F_QID, -1, &s->qid) || hdr_i64(h, F_SYSFLAG, 0, &s->sysflag) ||
        hdr_i64(h, F_BORN, 0, &s->born_ts) || hdr_i64(h, F_FLAG, 0, &s->flag) ||
        hdr_i64(h, F_RECONSUME, 0, &s->reconsume) ||
        hdr_i64(h, F_MAX_RECONSUME, -1, &s->max_reconsume)) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                            "a numeric header field of the send request is not a number");
        return KITE_ERR;
    }
    const char *batch_s = h->v[F_BATCH];
    s->batch = req->cmd.code == RC_SEND_BATCH_MESSAGE || (batch_s && strcmp(batch_s, "true") == 0);
    s->props_in = h->v[F_PROPS] ? h->v[F_PROPS] : "";
    s->props_in_len = h->v[F_PROPS] ? h->len[F_PROPS] : 0;
    kite_msgprop_scan(s->props_in, s->props_in_len, prop_names, P_N, s->pv, s->pl);
    return KITE_OK;
}

/* The topic and queue asked for: broker and topic writable, topic known or auto-created,
 * queue in range (picked at random when the request names none). */
static int route_target(kite_broker *b, kite_rpc_req *req, send_req *s)
{
    if (!(b->cfg.broker_permission & KITE_PERM_WRITE)) {
        bk_replyf(req, RS_NO_PERMISSION, "the broker[%.100s] sending message is forbidden",
                  b->cfg.broker_name);
        return KITE_ERR;
    }
    bk_topic *t = s->t = resolve_topic(b, req, &s->h, s->h.v[F_TOPIC]);
    if (!t) return KITE_ERR;
    if (!(t->perm & KITE_PERM_WRITE)) {
        bk_replyf(req, RS_NO_PERMISSION, "the topic[%.200s] sending message is forbidden", t->name);
        return KITE_ERR;
    }
    int32_t qmax =
        t->read_queue_nums > t->write_queue_nums ? t->read_queue_nums : t->write_queue_nums;
    if (s->qid >= qmax) {
        bk_replyf(req, RS_SYSTEM_ERROR,
                  "request queueId[%d] is illegal, topic[%.200s] has %d queue(s)", (int)s->qid,
                  t->name, qmax);
        return KITE_ERR;
    }
    s->queue_id = (int32_t)s->qid;
    if (s->qid < 0)
        s->queue_id = t->write_queue_nums > 0 ? (int32_t)(rand() % t->write_queue_nums) : 0;
    s->store_topic = t->name;
    s->store_qid = s->queue_id;
    return KITE_OK;
}

/* A send to %RETRY%<group> beyond the group's retries goes to %DLQ%<group> (created). */
static int route_retry(kite_broker *b, kite_rpc_req *req, const kite_cmd *cmd, send_req *s)
{
    const char *name = s->t->name;
    if (!kite_is_retry_topic(name)) return KITE_OK;
    if (s->batch) {
        kite_rpc_reply_code(req, RS_MESSAGE_ILLEGAL,
                            "batch messages cannot be sent to a retry topic");
        return KITE_ERR;
    }
    const char *group = name + KITE_RETRY_PREFIX_LEN;
    bk_group *g = bk_group_get_or_create(b, group);
    if (!g) {
        bk_replyf(req, RS_SUBSCRIPTION_GROUP_NOT_EXIST, "subscription group not exist, %.200s",
                  group);
        return KITE_ERR;
    }
    int64_t maxr = (cmd->version >= KITE_V3_4_9 && s->max_reconsume >= 0) ? s->max_reconsume
                                                                          : g->retry_max_times;
    if (s->reconsume <= maxr) return KITE_OK;
    kite_dlq_topic(s->dlq, sizeof s->dlq, g->name);
    if (!bk_topic_get(b, s->dlq))
        bk_topic_put(b, s->dlq, 1, 1, KITE_PERM_READ | KITE_PERM_WRITE, 0, "SINGLE_TAG", 0);
    s->store_topic = s->dlq;
    s->store_qid = 0;
    s->to_dlq = 1;
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker",
                 "message for %s exceeded %lld retries: moved to %s", name, (long long)maxr,
                 s->dlq);
    return KITE_OK;
}

/* Keeps the destination in REAL_TOPIC/REAL_QID and stores under topic/qid instead. */
static void redirect(send_req *s, const char *topic, int32_t qid)
{
    kite_msgprop_append_str(&s->props, "REAL_TOPIC", s->store_topic);
    kite_msgprop_append_i64(&s->props, "REAL_QID", s->store_qid);
    s->store_topic = topic;
    s->store_qid = qid;
}

/* A half message (TRAN_MSG=true, not a commit or rollback) goes to the half topic; a
 * delayed one (DELAY=level, not a batch, not to a DLQ) to its level's schedule queue. */
static int route_half_or_delay(kite_broker *b, kite_rpc_req *req, send_req *s)
{
    const char *tran = s->pv[P_TRAN];
    int64_t tx = s->sysflag & KITE_SYSFLAG_TX_MASK;
    if (tran && s->pl[P_TRAN] == 4 && strncmp(tran, "true", 4) == 0 &&
        tx != KITE_SYSFLAG_TX_COMMIT && tx != KITE_SYSFLAG_TX_ROLLBACK) {
        if (b->cfg.reject_transaction_message) {
            bk_replyf(req, RS_NO_PERMISSION,
                      "the broker[%.100s] sending transaction message is forbidden",
                      b->cfg.broker_name);
            return KITE_ERR;
        }
        /* The broker's own bookkeeping names are not taken from the producer: a forged
         * TRAN_PREPARED_QUEUE_OFFSET would name another half for the check-back walk. */
        static const char *const drop[] = { "TRAN_PREPARED_QUEUE_OFFSET", "REAL_TOPIC", "REAL_QID",
                                            NULL };
        kite_buf own = KITE_BUF_INIT;
        kite_msgprop_copy_without(s->props.data, s->props.len, drop, &own);
        kite_buf_free(&s->props);
        s->props = own;
        redirect(s, KITE_TOPIC_TRANS_HALF, 0);
        s->sysflag &= ~KITE_SYSFLAG_TX_MASK;
        return KITE_OK;
    }
    if (s->batch || s->to_dlq) return KITE_OK;
    const char *d = s->pv[P_DELAY];
    int level = 0;
    for (size_t i = 0; d && i < s->pl[P_DELAY] && d[i] >= '0' && d[i] <= '9' && level < 1000; i++)
        level = level * 10 + (d[i] - '0');
    if (level <= 0) return KITE_OK;
    int max = bk_delay_levels(b);
    redirect(s, KITE_TOPIC_SCHEDULE, (level > max ? max : level) - 1);
    return KITE_OK;
}

/* Where the record really goes, and the properties it is stored with (the broker's added). */
static int send_route(kite_broker *b, kite_rpc_req *req, send_req *s)
{
    if (route_target(b, req, s) != KITE_OK) return KITE_ERR;
    kite_buf_append(&s->props, s->props_in, s->props_in_len);
    const int have[3] = { s->pv[P_CLUSTER] != NULL, s->pv[P_REGION] != NULL,
                          s->pv[P_TRACE] != NULL };
    add_broker_props(&s->props, b, have);
    if (route_retry(b, req, &req->cmd, s) != KITE_OK || route_half_or_delay(b, req, s) != KITE_OK)
        return KITE_ERR;
    if (s->t->filter_type[0] == 'M') s->sysflag |= KITE_SYSFLAG_MULTI_TAGS;
    return KITE_OK;
}

/* Sizes within the store's limits; a batch body well formed to its end, counted.
 * Batch entries: TOTALSIZE(4) MAGIC(4) BODYCRC(4) FLAG(4) BODYLEN(4) BODY PROPSLEN(2)
 * PROPS. Everything is checked before anything is stored. */
static int send_validate(kite_broker *b, kite_rpc_req *req, send_req *s)
{
    if (s->props_in_len > KITE_REC_MAX_PROPS || s->props.len > KITE_REC_MAX_PROPS) {
        kite_rpc_reply_code(req, RS_MESSAGE_ILLEGAL, "the message properties exceed 32767 bytes");
        return KITE_ERR;
    }
    size_t max_body = (size_t)b->cfg.store.max_message_size;
    if (!s->batch) {
        if (req->cmd.body_len > max_body) {
            bk_replyf(req, RS_MESSAGE_ILLEGAL,
                      "the message body size %zu exceeds the limit of %zu bytes", req->cmd.body_len,
                      max_body);
            return KITE_ERR;
        }
        s->n_msgs = 1;
        return KITE_OK;
    }
    const uint8_t *q = req->cmd.body, *end = q + req->cmd.body_len;
    int n = 0;
    while (q < end) {
        if (end - q < 22) break;
        uint32_t total = kite_rd_be32(q), blen = kite_rd_be32(q + 16);
        if (total < 22 || total > (size_t)(end - q) || blen > total - 22) break;
        uint16_t plen = kite_rd_be16(q + 20 + blen);
        if (22 + (size_t)blen + plen != total || blen > max_body) break;
        q += total;
        n++;
    }
    if (q != end || n == 0) {
        kite_rpc_reply_code(req, RS_MESSAGE_ILLEGAL, "malformed batch body");
        return KITE_ERR;
    }
    s->n_msgs = n;
    return KITE_OK;
}

/* Hands the message(s) to the store; the last completion answers (finish_send). */
static void send_put(kite_broker *b, kite_rpc_req *req, send_req *s)
{
    kite_store_msg m;
    memset(&m, 0, sizeof m);
    m.topic = s->store_topic;
    m.topic_len = strlen(s->store_topic);
    m.queue_id = s->store_qid;
    m.sysflag = (int32_t)s->sysflag;
    m.born_ts = s->born_ts;
    const struct sockaddr_in *peer = kite_conn_peer_addr(req->conn);
    memcpy(m.born_ip4, &peer->sin_addr.s_addr, 4);
    m.born_port = ntohs(peer->sin_port);
    m.reconsume_times = (int32_t)s->reconsume;
    m.wait = !(s->pv[P_WAIT] && s->pl[P_WAIT] == 5 && strncmp(s->pv[P_WAIT], "false", 5) == 0);

    bk_topic *t = s->t;
    send_ctx *c = kite_xcalloc(1, sizeof *c);
    c->req = req;
    c->b = b;
    c->queue_id =
        s->queue_id; /* as Java: the queue asked for; queueOffset is the stored record's */
    if (!t->st_put_nums) {
        t->st_put_nums = bk_stat_ref(b, "TOPIC_PUT_NUMS", t->name);
        t->st_put_size = bk_stat_ref(b, "TOPIC_PUT_SIZE", t->name);
    }
    c->st_nums = t->st_put_nums;
    c->st_size = t->st_put_size;
    c->bytes = (int64_t)req->cmd.body_len;
    c->wait_slave = b->cfg.is_sync_master && b->ha_master && m.wait;
    if (s->pv[P_UNIQ] && s->pl[P_UNIQ] < sizeof c->uniq)
        memcpy(c->uniq, s->pv[P_UNIQ], s->pl[P_UNIQ]);
    ctx_alloc(c, s->n_msgs);

    if (!s->batch) {
        m.flag = (int32_t)s->flag;
        m.body = req->cmd.body;
        m.body_len = (uint32_t)req->cmd.body_len;
        m.props = s->props.data;
        m.props_len = (uint32_t)s->props.len;
        bk_store_put(b, &m, put_done, c);
        return;
    }
    kite_buf mp = KITE_BUF_INIT;
    const uint8_t *end = req->cmd.body + req->cmd.body_len;
    for (const uint8_t *q = req->cmd.body; q < end;) {
        uint32_t total = kite_rd_be32(q), blen = kite_rd_be32(q + 16);
        uint16_t plen = kite_rd_be16(q + 20 + blen);
        kite_buf_reset(&mp);
        kite_buf_append(&mp, q + 22 + blen, plen);
        size_t vlen;
        const int have[3] = { kite_msgprop_get(mp.data, mp.len, "CLUSTER", &vlen) != NULL,
                              kite_msgprop_get(mp.data, mp.len, "MSG_REGION", &vlen) != NULL,
                              kite_msgprop_get(mp.data, mp.len, "TRACE_ON", &vlen) != NULL };
        add_broker_props(&mp, b, have);
        m.flag = (int32_t)kite_rd_be32(q + 12);
        m.body = q + 20;
        m.body_len = blen;
        m.props = mp.data;
        m.props_len = (uint32_t)mp.len;
        bk_store_put(b, &m, put_done, c);
        q += total;
    }
    kite_buf_free(&mp);
}

static void h_send(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    send_req s;
    memset(&s, 0, sizeof s); /* props = KITE_BUF_INIT */
    if (send_parse(req, &s) == KITE_OK && send_route(b, req, &s) == KITE_OK &&
        send_validate(b, req, &s) == KITE_OK)
        send_put(b, req, &s);
    kite_buf_free(&s.props); /* the store copied what it keeps */
}

void bk_register_send_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_SEND_MESSAGE, h_send, b);
    kite_rpc_server_handle(b->srv, RC_SEND_MESSAGE_V2, h_send, b);
    kite_rpc_server_handle(b->srv, RC_SEND_BATCH_MESSAGE, h_send, b);
}
