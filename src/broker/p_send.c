/* p_send.c - SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320):
 * header parsing (long and one-letter names), topic checks and auto-creation, queue
 * choice, half messages (TRAN_MSG: stored in RMQ_SYS_TRANS_HALF_TOPIC, never visible to
 * consumers), delayed messages (SCHEDULE_TOPIC_XXXX), retry-to-DLQ redirection, then an
 * asynchronous store put whose completion answers the client. The loop never waits
 * for a disk sync: the store calls back (from its flush thread under SYNC_FLUSH) and
 * kite_rpc_reply hands the answer to the loop. docs/wire.md §5.1-§5.3, §9.3, §9.5. */
#include "base/log.h"
#include "broker/broker.h"
#include "codec/record.h"
#include "proto/codes.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROPS 32767

static kite_broker *B(void *arg) { return arg; }

/* The header fields of a send, in the order of their one-letter names (310/320 send
 * 'a'..'m'; code 10 sends the long names). Read in one pass over extFields: this runs
 * for every message. An empty value counts as absent; the last duplicate wins. */
enum { F_GROUP, F_TOPIC, F_DEF_TOPIC, F_DEF_QNUMS, F_QID, F_SYSFLAG, F_BORN, F_FLAG, F_PROPS, F_RECONSUME,
       F_UNIT_MODE, F_MAX_RECONSUME, F_BATCH, F_N };
static const char *const long_names[F_N] = { "producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums",
                                             "queueId", "sysFlag", "bornTimestamp", "flag", "properties",
                                             "reconsumeTimes", "unitMode", "maxReconsumeTimes", "batch" };

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

static int hdr_i64(const send_hdr *h, int f, int64_t dflt, int64_t *out)
{
    const char *v = h->v[f];
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end) return -1;
    *out = x;
    return 0;
}

typedef struct send_ctx {
    kite_rpc_req *req;
    kite_broker *b;
    int32_t queue_id;
    int n_msgs;                 /* batch size */
    atomic_int slot;            /* next free result slot */
    atomic_int left;            /* completions still to come; the last one answers */
    int64_t *phys, *qoff;       /* per message, filled by callbacks */
    int *status;
    int64_t phys1, qoff1;       /* the arrays of a single message (no allocation) */
    int status1;
    char uniq[128];
    int64_t *st_nums, *st_size; /* the topic's statistics counters (bk_stat_ref) */
    int64_t bytes;
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
    case KITE_PUT_SERVICE_NOT_AVAILABLE: return "service not available now: the store is not writable";
    case KITE_PUT_FLUSH_FAILED: return "the disk sync failed: the message is NOT stored durably; the broker stopped accepting writes";
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

static void finish_send(send_ctx *c)
{
    /* The most severe outcome decides the code; "stored but not known durable"
     * (FLUSH_DISK_TIMEOUT) only when everything else succeeded. */
    int worst = KITE_PUT_OK;
    for (int i = 0; i < c->n_msgs; i++) {
        if (c->status[i] == KITE_PUT_OK) continue;
        if (worst == KITE_PUT_OK || worst == KITE_PUT_FLUSH_DISK_TIMEOUT) worst = c->status[i];
    }
    kite_cmd resp;
    int code = status_code((kite_put_status)worst);
    kite_cmd_init_response(&resp, &c->req->cmd, code, worst == KITE_PUT_OK ? NULL : status_remark((kite_put_status)worst));
    /* Answer fields reference the context and configuration: the answer is encoded
     * before kite_rpc_reply returns. */
    char *ids = NULL;
    if (code == RS_SUCCESS || code == RS_FLUSH_DISK_TIMEOUT) {
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
        kite_cmd_add_ext_ref(&resp, "TRACE_ON", c->b->cfg.trace_on ? "true" : "false", c->b->cfg.trace_on ? 4 : 5);
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
    if (atomic_fetch_sub(&c->left, 1) == 1) finish_send(c);   /* seq_cst: sees every slot */
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
    c->phys = calloc((size_t)n, sizeof *c->phys);
    c->qoff = calloc((size_t)n, sizeof *c->qoff);
    c->status = calloc((size_t)n, sizeof *c->status);
    if (!c->phys || !c->qoff || !c->status) abort();
}

static void reply_err(kite_rpc_req *req, int code, const char *fmt, const char *a, const char *b2)
{
    char remark[512];
    snprintf(remark, sizeof remark, fmt, a, b2);
    kite_rpc_reply_code(req, code, remark);
}

/* Resolves (and maybe auto-creates) the target topic. NULL after answering an error. */
static bk_topic *resolve_topic(kite_broker *b, kite_rpc_req *req, const send_hdr *h, const char *topic)
{
    if (!bk_topic_name_ok(topic)) {
        reply_err(req, RS_SYSTEM_ERROR,
                  "the topic name [%.200s] is invalid: only letters, digits, %%, |, _ and - are allowed, at most 127 characters%s",
                  topic, "");
        return NULL;
    }
    if (bk_topic_send_forbidden(topic)) {
        reply_err(req, RS_NO_PERMISSION, "sending message to topic[%.200s] is forbidden%s", topic, "");
        return NULL;
    }
    bk_topic *t = bk_topic_get(b, topic);
    if (t) return t;
    int64_t dq = 4;
    hdr_i64(h, F_DEF_QNUMS, 4, &dq);
    if (strncmp(topic, "%RETRY%", 7) == 0) return bk_topic_put(b, topic, 1, 1, 6, 0, "SINGLE_TAG", 0);
    const char *def = h->v[F_DEF_TOPIC];
    bk_topic *tmpl = def ? bk_topic_get(b, def) : NULL;
    if (b->cfg.auto_create_topic_enable && tmpl && (tmpl->perm & KITE_PERM_INHERIT)) {
        int32_t q = (int32_t)dq;
        if (q > tmpl->write_queue_nums) q = tmpl->write_queue_nums;
        if (q <= 0) q = 1;
        return bk_topic_put(b, topic, q, q, tmpl->perm & ~KITE_PERM_INHERIT, 0, tmpl->filter_type, 0);
    }
    reply_err(req, RS_TOPIC_NOT_EXIST, "topic[%.200s] not exist, apply first please!%s", topic, "");
    return NULL;
}

/* Appends name=value to a props buffer (Java form: name 0x01 value 0x02). */
static void prop_add(kite_buf *p, const char *name, const char *value)
{
    /* A string without its trailing separator (allowed, docs/wire.md §9.3) must not swallow the new
     * name into its last value. */
    if (p->len && p->data[p->len - 1] != 2) kite_buf_putc(p, 2);
    kite_buf_puts(p, name);
    kite_buf_putc(p, 1);
    kite_buf_puts(p, value);
    kite_buf_putc(p, 2);
}

static void h_send(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    send_hdr h;
    parse_hdr(&req->cmd, &h);
    const char *topic_in = h.v[F_TOPIC];
    if (!h.v[F_GROUP] || !topic_in) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "the custom field <producerGroup/topic> is null");
        return;
    }
    int64_t qid64, sysflag, born_ts, flag, reconsume, max_reconsume;
    if (hdr_i64(&h, F_QID, -1, &qid64) || hdr_i64(&h, F_SYSFLAG, 0, &sysflag) || hdr_i64(&h, F_BORN, 0, &born_ts) ||
        hdr_i64(&h, F_FLAG, 0, &flag) || hdr_i64(&h, F_RECONSUME, 0, &reconsume) ||
        hdr_i64(&h, F_MAX_RECONSUME, -1, &max_reconsume)) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "a numeric header field of the send request is not a number");
        return;
    }
    if (!(b->cfg.broker_permission & KITE_PERM_WRITE)) {
        reply_err(req, RS_NO_PERMISSION, "the broker[%.100s] sending message is forbidden%s", b->cfg.broker_name, "");
        return;
    }
    const char *batch_s = h.v[F_BATCH];
    int batch = req->cmd.code == RC_SEND_BATCH_MESSAGE || (batch_s && strcmp(batch_s, "true") == 0);
    bk_topic *t = resolve_topic(b, req, &h, topic_in);
    if (!t) return;
    if (!(t->perm & KITE_PERM_WRITE)) {
        reply_err(req, RS_NO_PERMISSION, "the topic[%.200s] sending message is forbidden%s", t->name, "");
        return;
    }
    int32_t qmax = t->read_queue_nums > t->write_queue_nums ? t->read_queue_nums : t->write_queue_nums;
    int32_t qid = (int32_t)qid64;
    if (qid64 < 0) qid = t->write_queue_nums > 0 ? (int32_t)(rand() % t->write_queue_nums) : 0;
    if (qid64 >= qmax) {
        bk_replyf(req, RS_SYSTEM_ERROR, "request queueId[%d] is illegal, topic[%.200s] has %d queue(s)", (int)qid64, t->name, qmax);
        return;
    }
    const char *props_in = h.v[F_PROPS];
    size_t props_len = props_in ? h.len[F_PROPS] : 0;
    if (props_len > MAX_PROPS) {
        kite_rpc_reply_code(req, RS_MESSAGE_ILLEGAL, "the message properties exceed 32767 bytes");
        return;
    }
    if (!batch && req->cmd.body_len > (size_t)b->cfg.store.max_message_size) {
        bk_replyf(req, RS_MESSAGE_ILLEGAL, "the message body size %zu exceeds the limit of %d bytes", req->cmd.body_len, b->cfg.store.max_message_size);
        return;
    }

    /* Where it really goes: retry -> DLQ, half message, delayed. */
    const char *store_topic = t->name;
    int32_t store_qid = qid;
    /* The properties the broker looks at, found in one pass over the request's copy
     * (which stays put while `props` grows). */
    enum { P_CLUSTER, P_TRAN, P_DELAY, P_WAIT, P_UNIQ, P_N };
    static const char *const pnames[P_N] = { "CLUSTER", "TRAN_MSG", "DELAY", "WAIT", "UNIQ_KEY" };
    const char *pv[P_N];
    size_t pl[P_N];
    kite_msgprop_scan(props_in ? props_in : "", props_len, pnames, P_N, pv, pl);
    kite_buf props = KITE_BUF_INIT;
    kite_buf_append(&props, props_in, props_len);
    if (!pv[P_CLUSTER]) prop_add(&props, "CLUSTER", b->cfg.broker_cluster_name);
    char dlq[300];
    if (strncmp(t->name, "%RETRY%", 7) == 0) {
        if (batch) {
            kite_buf_free(&props);
            kite_rpc_reply_code(req, RS_MESSAGE_ILLEGAL, "batch messages cannot be sent to a retry topic");
            return;
        }
        bk_group *g = bk_group_get_or_create(b, t->name + 7);
        if (!g) {
            kite_buf_free(&props);
            reply_err(req, RS_SUBSCRIPTION_GROUP_NOT_EXIST, "subscription group not exist, %.200s%s", t->name + 7, "");
            return;
        }
        int64_t maxr = (req->cmd.version >= KITE_V3_4_9 && max_reconsume >= 0) ? max_reconsume : g->retry_max_times;
        if (reconsume > maxr) {
            snprintf(dlq, sizeof dlq, "%%DLQ%%%s", g->name);
            if (!bk_topic_get(b, dlq)) bk_topic_put(b, dlq, 1, 1, KITE_PERM_READ | KITE_PERM_WRITE, 0, "SINGLE_TAG", 0);
            store_topic = dlq;
            store_qid = 0;
            KLOG_INFO("broker", "message for %s exceeded %lld retries: moved to %s", t->name, (long long)maxr, dlq);
        }
    }
    const char *tran = pv[P_TRAN];
    int is_half = tran && pl[P_TRAN] == 4 && strncmp(tran, "true", 4) == 0 && (sysflag & KITE_SYSFLAG_TX_MASK) != KITE_SYSFLAG_TX_COMMIT &&
                  (sysflag & KITE_SYSFLAG_TX_MASK) != KITE_SYSFLAG_TX_ROLLBACK;
    char qbuf[16];
    if (is_half) {
        if (b->cfg.reject_transaction_message) {
            kite_buf_free(&props);
            reply_err(req, RS_NO_PERMISSION, "the broker[%.100s] sending transaction message is forbidden%s",
                      b->cfg.broker_name, "");
            return;
        }
        /* The broker's own bookkeeping names are not taken from the producer: a forged
         * TRAN_PREPARED_QUEUE_OFFSET would name another half for the check-back walk. */
        static const char *const drop[] = { "TRAN_PREPARED_QUEUE_OFFSET", "REAL_TOPIC", "REAL_QID", NULL };
        kite_buf own = KITE_BUF_INIT;
        bk_props_without(props.data, props.len, drop, &own);
        kite_buf_free(&props);
        props = own;
        snprintf(qbuf, sizeof qbuf, "%d", store_qid);
        prop_add(&props, "REAL_TOPIC", store_topic);
        prop_add(&props, "REAL_QID", qbuf);
        store_topic = "RMQ_SYS_TRANS_HALF_TOPIC";
        store_qid = 0;
        sysflag &= ~KITE_SYSFLAG_TX_MASK;
    } else if (!batch && store_topic != dlq) {
        int level = 0;
        for (size_t i = 0; pv[P_DELAY] && i < pl[P_DELAY] && pv[P_DELAY][i] >= '0' && pv[P_DELAY][i] <= '9' && level < 1000; i++)
            level = level * 10 + (pv[P_DELAY][i] - '0');
        if (level > 0) {
            int max = bk_delay_levels(b);
            if (level > max) level = max;
            snprintf(qbuf, sizeof qbuf, "%d", store_qid);
            prop_add(&props, "REAL_TOPIC", store_topic);
            prop_add(&props, "REAL_QID", qbuf);
            store_topic = "SCHEDULE_TOPIC_XXXX";
            store_qid = level - 1;
        }
    }
    if (props.len > MAX_PROPS) {
        kite_buf_free(&props);
        kite_rpc_reply_code(req, RS_MESSAGE_ILLEGAL, "the message properties exceed 32767 bytes");
        return;
    }
    if (t->filter_type[0] == 'M') sysflag |= KITE_SYSFLAG_MULTI_TAGS;

    kite_store_msg m;
    memset(&m, 0, sizeof m);
    m.topic = store_topic;
    m.topic_len = strlen(store_topic);
    m.queue_id = store_qid;
    m.sysflag = (int32_t)sysflag;
    m.born_ts = born_ts;
    const struct sockaddr_in *peer = kite_conn_peer_addr(req->conn);
    memcpy(m.born_ip4, &peer->sin_addr.s_addr, 4);
    m.born_port = ntohs(peer->sin_port);
    m.reconsume_times = (int32_t)reconsume;
    m.wait = !(pv[P_WAIT] && pl[P_WAIT] == 5 && strncmp(pv[P_WAIT], "false", 5) == 0);

    send_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->req = req;
    c->b = b;
    c->queue_id = qid;   /* as Java: the queue asked for; queueOffset is the stored record's */
    if (!t->st_put_nums) {
        t->st_put_nums = bk_stat_ref(b, "TOPIC_PUT_NUMS", t->name);
        t->st_put_size = bk_stat_ref(b, "TOPIC_PUT_SIZE", t->name);
    }
    c->st_nums = t->st_put_nums;
    c->st_size = t->st_put_size;
    c->bytes = (int64_t)req->cmd.body_len;
    if (pv[P_UNIQ] && pl[P_UNIQ] < sizeof c->uniq) memcpy(c->uniq, pv[P_UNIQ], pl[P_UNIQ]);

    if (!batch) {
        m.flag = (int32_t)flag;
        m.body = req->cmd.body;
        m.body_len = (uint32_t)req->cmd.body_len;
        m.props = props.data;
        m.props_len = (uint32_t)props.len;
        ctx_alloc(c, 1);
        bk_store_put(b, &m, put_done, c);
        kite_buf_free(&props);
        return;
    }
    /* Batch body: entries of TOTALSIZE(4) MAGIC(4) BODYCRC(4) FLAG(4) BODYLEN(4) BODY
     * PROPSLEN(2) PROPS. Validate everything before storing anything. */
    const uint8_t *p = req->cmd.body, *end = p + req->cmd.body_len;
    int n = 0;
    for (const uint8_t *q = p; q < end;) {
        if (end - q < 22) goto bad_batch;
        uint32_t total = kite_rd_be32(q), blen = kite_rd_be32(q + 16);
        if (total < 22 || total > (size_t)(end - q) || blen > total - 22) goto bad_batch;
        uint16_t plen = kite_rd_be16(q + 20 + blen);
        if (22 + (size_t)blen + plen != total || blen > (uint32_t)b->cfg.store.max_message_size) goto bad_batch;
        q += total;
        n++;
    }
    if (n == 0) goto bad_batch;
    ctx_alloc(c, n);
    kite_buf mp = KITE_BUF_INIT;
    for (const uint8_t *q = p; q < end;) {
        uint32_t total = kite_rd_be32(q), blen = kite_rd_be32(q + 16);
        uint16_t plen = kite_rd_be16(q + 20 + blen);
        kite_buf_reset(&mp);
        kite_buf_append(&mp, q + 22 + blen, plen);
        size_t vlen;
        if (!kite_msgprop_get(mp.data, mp.len, "CLUSTER", &vlen)) prop_add(&mp, "CLUSTER", b->cfg.broker_cluster_name);
        m.flag = (int32_t)kite_rd_be32(q + 12);
        m.body = q + 20;
        m.body_len = blen;
        m.props = mp.data;
        m.props_len = (uint32_t)mp.len;
        bk_store_put(b, &m, put_done, c);
        q += total;
    }
    kite_buf_free(&mp);
    kite_buf_free(&props);
    return;
bad_batch:
    kite_buf_free(&props);
    free(c);
    kite_rpc_reply_code(req, RS_MESSAGE_ILLEGAL, "malformed batch body");
}

void bk_register_send_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_SEND_MESSAGE, h_send, b);
    kite_rpc_server_handle(b->srv, RC_SEND_MESSAGE_V2, h_send, b);
    kite_rpc_server_handle(b->srv, RC_SEND_BATCH_MESSAGE, h_send, b);
}
