/* p_retry.c - CONSUMER_SEND_MSG_BACK (36): a consumer returns a message it failed to
 * consume. The broker re-stores a copy for %RETRY%<group> through the delay machinery
 * (level 3 + reconsumeTimes unless the client names one), or in %DLQ%<group> once
 * maxReconsumeTimes is reached (or delayLevel < 0). The copy carries RETRY_TOPIC (the
 * original topic; without it a real client acks and drops the retry) and
 * ORIGIN_MESSAGE_ID, and reconsumeTimes + 1. docs/wire.md §11.3. Loop thread. */
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "codec/record.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kite_broker *B(void *arg) { return arg; }

typedef struct back_ctx {
    kite_rpc_req *req;
} back_ctx;

static void back_done(void *arg, const kite_put_result *res)
{
    back_ctx *c = arg;
    if (res->status == KITE_PUT_OK || res->status == KITE_PUT_FLUSH_DISK_TIMEOUT) {
        kite_rpc_reply_code(c->req, RS_SUCCESS, NULL);
    } else {
        kite_rpc_reply_code(c->req, RS_SYSTEM_ERROR, kite_put_status_name(res->status));
    }
    free(c);
}

static void h_send_back(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    int64_t offset;
    int32_t delay_level;
    const char *group;
    if (bk_need_i64(req, "offset", &offset) || !(group = bk_need(req, "group")) ||
        bk_need_i32(req, "delayLevel", &delay_level))
        return;
    char remark[400];
    bk_group *g = bk_group_get_or_create(b, group);
    if (!g) {
        snprintf(remark, sizeof remark, "subscription group not exist, %.200s", group);
        kite_rpc_reply_code(req, RS_SUBSCRIPTION_GROUP_NOT_EXIST, remark);
        return;
    }
    if (!(b->cfg.broker_permission & KITE_PERM_WRITE)) {
        snprintf(remark, sizeof remark, "the broker[%.100s] sending message is forbidden",
                 b->cfg.broker_name);
        kite_rpc_reply_code(req, RS_NO_PERMISSION, remark);
        return;
    }
    if (g->retry_queue_nums <= 0) {
        kite_rpc_reply_code(req, RS_SUCCESS,
                            NULL); /* retries disabled for this group: dropped, as Java */
        return;
    }
    char retry[300];
    kite_retry_topic(retry, sizeof retry, group);
    if (!bk_topic_name_ok(retry)) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "the retry topic name for this group is invalid");
        return;
    }
    if (!bk_topic_get(b, retry))
        bk_topic_put(b, retry, g->retry_queue_nums, g->retry_queue_nums,
                     KITE_PERM_READ | KITE_PERM_WRITE, 0, "SINGLE_TAG", 0);

    kite_store_seg seg;
    int64_t next;
    kite_record r;
    const char *why;
    if (offset < 0 || kite_store_get_by_offset(b->store, offset, &seg, &next) != 0) {
        snprintf(remark, sizeof remark, "look message by offset failed, %lld", (long long)offset);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
        return;
    }
    if (kite_record_decode(seg.data, seg.len, &r, 0, &why) <= 0) {
        kite_store_seg_release(&seg);
        snprintf(remark, sizeof remark, "the record at offset %lld is unreadable: %s",
                 (long long)offset, why);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
        return;
    }
    int64_t maxr = g->retry_max_times;
    int32_t hdr_max;
    if (req->cmd.version >= 121 &&
        kite_cmd_ext_i32(&req->cmd, "maxReconsumeTimes", &hdr_max) == 0 && hdr_max >= 0)
        maxr = hdr_max;
    const char *target = retry;
    int32_t qid = rand() % g->retry_queue_nums;
    char dlq[300];
    int level = 0;
    if (r.reconsume_times >= maxr || delay_level < 0) {
        kite_dlq_topic(dlq, sizeof dlq, group);
        if (!bk_topic_get(b, dlq))
            bk_topic_put(b, dlq, 1, 1, KITE_PERM_READ | KITE_PERM_WRITE, 0, "SINGLE_TAG", 0);
        target = dlq;
        qid = 0;
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker",
                     "message %lld of group %s exhausted %lld retries: moved to %s",
                     (long long)offset, group, (long long)maxr, dlq);
    } else {
        level = delay_level > 0 ? delay_level : 3 + r.reconsume_times;
        int max = bk_delay_levels(b);
        if (level > max) level = max;
    }
    /* Properties: the original ones, minus what we set again. */
    static const char *const drop[] = { "DELAY", "REAL_TOPIC", "REAL_QID", NULL };
    kite_buf props = KITE_BUF_INIT;
    kite_msgprop_copy_without(r.props, r.props_len, drop, &props);
    size_t vlen;
    if (!kite_msgprop_get(r.props, r.props_len, "RETRY_TOPIC", &vlen))
        kite_msgprop_append(&props, "RETRY_TOPIC", r.topic, r.topic_len);
    if (!kite_msgprop_get(r.props, r.props_len, "ORIGIN_MESSAGE_ID", &vlen)) {
        const char *origin = kite_cmd_ext(&req->cmd, "originMsgId");
        char id[33];
        if (!origin) {
            bk_offset_msg_id(b, r.phys_offset, id);
            origin = id;
        }
        kite_msgprop_append_str(&props, "ORIGIN_MESSAGE_ID", origin);
    }
    const char *store_topic = target;
    int32_t store_qid = qid;
    if (level > 0) {
        kite_msgprop_append_i64(&props, "DELAY", level);
        kite_msgprop_append_str(&props, "REAL_TOPIC", target);
        kite_msgprop_append_i64(&props, "REAL_QID", qid);
        store_topic = KITE_TOPIC_SCHEDULE;
        store_qid = level - 1;
    }
    kite_store_msg m;
    bk_msg_from_record(&m, &r, store_topic, store_qid, &props);
    m.sysflag &= ~KITE_SYSFLAG_TX_MASK;
    m.reconsume_times = r.reconsume_times + 1;
    m.prepared_tx_offset = 0; /* a new message, as Java's send-back builds one */
    m.wait = 1;
    back_ctx *c = kite_xcalloc(1, sizeof *c);
    c->req = req;
    bk_store_put(b, &m, back_done, c);
    kite_buf_free(&props);
    kite_store_seg_release(&seg);
}

void bk_register_retry_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_CONSUMER_SEND_MSG_BACK, h_send_back, b);
}
