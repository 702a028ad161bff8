/* p_common.c - helpers shared by the broker's request handlers: mandatory header
 * fields (answering Java's error text when missing), body replies, offset message ids,
 * MessageQueue keys in JSON bodies, and the loopback guard for state-changing admin
 * requests. */
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "broker/trans.h"
#include "codec/record.h"
#include "net/sock.h"
#include "proto/codes.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bk_need(kite_rpc_req *req, const char *key)
{
    const char *v = kite_cmd_ext(&req->cmd, key);
    if (!v) {
        bk_replyf(req, RS_SYSTEM_ERROR, "the custom field <%s> is null", key);
    }
    return v;
}

int bk_need_i64(kite_rpc_req *req, const char *key, int64_t *out)
{
    int r = kite_cmd_ext_i64(&req->cmd, key, out);
    if (r == KITE_OK) return KITE_OK;
    bk_replyf(req, RS_SYSTEM_ERROR,
              r == KITE_ENOTFOUND ? "the custom field <%s> is null"
                                  : "the custom field <%s> is not a number",
              key);
    return r;
}

int bk_need_i32(kite_rpc_req *req, const char *key, int32_t *out)
{
    int64_t v;
    int r = bk_need_i64(req, key, &v);
    if (r != KITE_OK) return r;
    if (v < INT32_MIN || v > INT32_MAX) {
        bk_replyf(req, RS_SYSTEM_ERROR, "the custom field <%s> is out of range", key);
        return KITE_EINVAL;
    }
    *out = (int32_t)v;
    return KITE_OK;
}

void bk_reply_body(kite_rpc_req *req, int code, kite_buf *body)
{
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, code, NULL);
    size_t len;
    char *p = kite_buf_steal(body, &len);
    kite_cmd_set_body_own(&resp, p, len);
    kite_rpc_reply(req, &resp);
}

void bk_replyf(kite_rpc_req *req, int code, const char *fmt, ...)
{
    char remark[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(remark, sizeof remark, fmt, ap);
    va_end(ap);
    kite_rpc_reply_code(req, code, remark);
}

void bk_offset_msg_id(const kite_broker *b, int64_t phys, char out[33])
{
    for (int i = 0; i < 4; i++) kite_fmt_hex(out + 2 * i, b->ip4[i], 2);
    kite_fmt_hex(out + 8, (uint32_t)b->port, 8);
    kite_fmt_hex(out + 16, (uint64_t)phys, 16);
    out[32] = 0;
}

int bk_decode_offset_msg_id(const char *id, int64_t *phys)
{
    if (strlen(id) != 32) return KITE_EINVAL;
    char tmp[17];
    memcpy(tmp, id + 16, 16);
    tmp[16] = 0;
    char *end;
    unsigned long long v = strtoull(tmp, &end, 16);
    if (*end) return KITE_EINVAL;
    *phys = (int64_t)v;
    return KITE_OK;
}

int bk_admin_allowed(kite_broker *b, kite_rpc_req *req)
{
    if (b->acl || !b->cfg.admin_from_loopback_only ||
        kite_sock_is_loopback(kite_conn_peer_addr(req->conn)))
        return 1;
    KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                 "refused admin request %d from %s: admin changes are accepted from loopback only",
                 req->cmd.code, kite_conn_peer(req->conn));
    kite_rpc_reply_code(
        req, RS_NO_PERMISSION,
        "admin requests that change state are accepted from loopback only while ACL is off; set adminFromLoopbackOnly=false to allow");
    return 0;
}

typedef struct seg_ref {
    kite_store_seg seg;
} seg_ref;

static void release_seg_ref(void *arg)
{
    seg_ref *r = arg;
    kite_store_seg_release(&r->seg);
    free(r);
}

void bk_seg_take(kite_seg *out, const kite_store_seg *s)
{
    seg_ref *r = kite_xmalloc(sizeof *r);
    r->seg = *s;
    *out = (kite_seg){ r->seg.data, r->seg.len, -1, 0, release_seg_ref, r };
}

kite_seg *bk_segs_take(kite_get_result *gr, size_t *n)
{
    kite_seg *segs = kite_xcalloc(gr->count ? gr->count : 1, sizeof *segs);
    for (size_t i = 0; i < gr->count; i++) bk_seg_take(&segs[i], &gr->segs[i]);
    *n = gr->count;
    gr->count = 0; /* references moved into the segments */
    return segs;
}

int64_t bk_store_time_at(kite_broker *b, const char *topic, int32_t qid, int64_t offset,
                         int64_t none)
{
    if (offset < 0) return none;
    kite_get_result gr;
    memset(&gr, 0, sizeof gr);
    int64_t ts = none;
    if (kite_store_get_messages(b->store, topic, qid, offset, 1, 1, NULL, 0, &gr) == 0 &&
        gr.status == KITE_GET_FOUND && gr.count) {
        kite_record r;
        const char *why;
        if (kite_record_decode(gr.segs[0].data, gr.segs[0].len, &r, 0, &why) > 0) ts = r.store_ts;
    }
    kite_get_result_release(&gr);
    return ts;
}

/* Store puts from the loop thread are staged (opts.batch_puts) and written by the loop's
 * pre-write hook: once per read (or batch of posted tasks), just before its answers are
 * written, so that they leave together. The hook appends the pending transaction op batch
 * first, whose held END_TRANSACTION answers then leave with them. The dispatch thread
 * (building consume queues) is then woken once, after the answers were flushed
 * (kite_ev_defer runs deferred tasks in order, and the connection flushes were deferred
 * first); woken per put, it would preempt the loop before the answers go out. */
static void run_kick(void *arg)
{
    kite_broker *b = arg;
    b->kick_pending = 0;
    kite_store_kick(b->store);
}

void bk_store_prewrite(void *arg)
{
    kite_broker *b = arg;
    bk_trans_flush_ops(b); /* transaction op records, and the answers held for them */
    kite_store_commit(b->store);
    if (!b->kick_pending) {
        b->kick_pending = 1;
        kite_ev_defer(b->ev, run_kick, b);
    }
}

void bk_store_put(kite_broker *b, const kite_store_msg *m, kite_put_cb cb, void *arg)
{
    kite_store_put(b->store, m, cb, arg);
    if (!kite_ev_in_loop(b->ev))
        kite_store_kick(b->store);
    else
        kite_ev_prewrite_arm(b->ev);
}

void bk_msg_from_record(kite_store_msg *m, const kite_record *r, const char *topic, int32_t qid,
                        const kite_buf *props)
{
    memset(m, 0, sizeof *m);
    m->topic = topic;
    m->topic_len = strlen(topic);
    m->queue_id = qid;
    m->flag = r->flag;
    m->sysflag = r->sysflag & ~(KITE_SYSFLAG_BORNHOST_V6 | KITE_SYSFLAG_STOREHOST_V6);
    m->born_ts = r->born_ts;
    memcpy(m->born_ip4, r->born_addr, 4);
    m->born_port = r->born_port;
    m->reconsume_times = r->reconsume_times;
    m->prepared_tx_offset = r->prepared_tx_offset;
    m->body = r->body;
    m->body_len = r->body_len;
    m->props = props->data ? props->data : "";
    m->props_len = (uint32_t)props->len;
}

void bk_jw_mq_key(kite_jw *w, const kite_broker *b, const char *topic, int32_t qid)
{
    kite_jw_key_obj_begin(w);
    kite_jw_key(w, "brokerName");
    kite_jw_str(w, b->cfg.broker_name);
    kite_jw_key(w, "queueId");
    kite_jw_int(w, qid);
    kite_jw_key(w, "topic");
    kite_jw_str(w, topic);
    kite_jw_key_obj_end(w);
}
