/* p_admin.c - admin and query requests: topic create/update/delete, topic config
 * listing, queue offset look-ups (max, min, earliest store time, by timestamp),
 * VIEW_MESSAGE_BY_ID, GET_BROKER_CONFIG, GET_SYSTEM_TOPIC_LIST_FROM_BROKER, GET_TOPIC_CONFIG. State-changing requests pass the loopback
 * guard (bk_admin_allowed). docs/wire.md §6.7, §6.8, §8. Loop thread. */
#include "base/log.h"
#include "broker/broker.h"
#include "codec/record.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kite_broker *B(void *arg) { return arg; }

static void reply_i64(kite_rpc_req *req, const char *key, int64_t v)
{
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_cmd_set_ext_i64(&resp, key, v);
    kite_rpc_reply(req, &resp);
}

static void h_create_topic(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    if (!bk_admin_allowed(b, req)) return;
    const char *topic = bk_need(req, "topic");
    int32_t rq, wq, perm;
    if (!topic || bk_need_i32(req, "readQueueNums", &rq) ||
        bk_need_i32(req, "writeQueueNums", &wq) || bk_need_i32(req, "perm", &perm))
        return;
    char remark[300];
    if (!bk_topic_name_ok(topic)) {
        snprintf(remark, sizeof remark, "the topic name [%.200s] is invalid", topic);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
        return;
    }
    if (strcmp(topic, b->cfg.broker_cluster_name) == 0 || bk_topic_send_forbidden(topic)) {
        snprintf(remark, sizeof remark, "the topic[%.200s] is conflict with system topic", topic);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
        return;
    }
    if (rq < 0 || wq < 0 || rq > 1024 || wq > 1024 || perm < 0 || perm >= 8) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "queue numbers must be 0..1024 and perm 0..7");
        return;
    }
    int32_t sysflag = 0;
    kite_cmd_ext_i32(&req->cmd, "topicSysFlag", &sysflag);
    bk_topic_put(b, topic, rq, wq, perm, sysflag, kite_cmd_ext(&req->cmd, "topicFilterType"),
                 kite_cmd_ext_bool(&req->cmd, "order", 0));
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_delete_topic(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    if (!bk_admin_allowed(b, req)) return;
    const char *topic = bk_need(req, "topic");
    if (!topic) return;
    bk_topic_delete(b, topic);
    bk_offsets_remove_topic(b, topic); /* docs/wire.md §8: the topic's offsets go too */
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_all_topic_config(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    int32_t seq = 0, max = 0;
    kite_cmd_ext_i32(&req->cmd, "topicSeq", &seq);
    kite_cmd_ext_i32(&req->cmd, "maxTopicNum", &max);
    kite_buf out = KITE_BUF_INIT;
    bk_topics_wrapper_json_page(b, seq, max, &out);
    bk_reply_paged(req, &out, "totalTopicNum", b->topics.count);
}

/* GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305): the topics the broker created for itself at
 * start, as Java answers its TopicConfigManager's system topic set (docs/wire.md §8). */
static void h_system_topics(kite_rpc_req *req, void *arg)
{
    kite_buf out = KITE_BUF_INIT;
    bk_topics_system_json(B(arg), &out);
    bk_reply_body(req, RS_SUCCESS, &out);
}

/* GET_TOPIC_CONFIG (351, 5.x admin tools before topicStatus, consumerProgress, ...): the
 * topic's TopicConfig; no static-topic mapping (mappingDetail) as KiteMQ has none. */
static void h_topic_config(kite_rpc_req *req, void *arg)
{
    const char *topic = bk_need(req, "topic");
    if (!topic) return;
    kite_buf out = KITE_BUF_INIT;
    if (bk_topic_config_json(B(arg), topic, &out) != KITE_OK) {
        kite_buf_free(&out);
        bk_replyf(req, RS_TOPIC_NOT_EXIST, "No topic in this broker. topic: %.200s", topic);
        return;
    }
    bk_reply_body(req, RS_SUCCESS, &out);
}

/* The topic and queueId fields: KITE_OK, or a status after answering SYSTEM_ERROR. */
static int topic_qid(kite_rpc_req *req, const char **topic, int32_t *qid)
{
    if (!(*topic = bk_need(req, "topic"))) return KITE_ENOTFOUND;
    return bk_need_i32(req, "queueId", qid);
}

static void h_max_offset(kite_rpc_req *req, void *arg)
{
    const char *topic;
    int32_t qid;
    if (topic_qid(req, &topic, &qid)) return;
    reply_i64(req, "offset", kite_store_max_offset(B(arg)->store, topic, qid));
}

static void h_min_offset(kite_rpc_req *req, void *arg)
{
    const char *topic;
    int32_t qid;
    if (topic_qid(req, &topic, &qid)) return;
    reply_i64(req, "offset", kite_store_min_offset(B(arg)->store, topic, qid));
}

static void h_search_offset(kite_rpc_req *req, void *arg)
{
    const char *topic;
    int32_t qid;
    int64_t ts;
    if (topic_qid(req, &topic, &qid) || bk_need_i64(req, "timestamp", &ts)) return;
    reply_i64(req, "offset", kite_store_offset_by_time(B(arg)->store, topic, qid, ts));
}

static void h_earliest_time(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *topic;
    int32_t qid;
    if (topic_qid(req, &topic, &qid)) return;
    reply_i64(req, "timestamp",
              bk_store_time_at(b, topic, qid, kite_store_min_offset(b->store, topic, qid), -1));
}

static void h_view_by_id(kite_rpc_req *req, void *arg)
{
    int64_t off, next;
    if (bk_need_i64(req, "offset", &off)) return;
    kite_store_seg found;
    if (off < 0 || kite_store_get_by_offset(B(arg)->store, off, &found, &next) != 0) {
        bk_replyf(req, RS_SYSTEM_ERROR, "can not find message by the offset, %lld", (long long)off);
        return;
    }
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_seg seg;
    bk_seg_take(&seg, &found);
    kite_rpc_reply_segs(req, &resp, &seg, 1);
}

static void h_broker_config(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    kite_buf out = KITE_BUF_INIT;
    kite_config_print(b->props, &b->cfg, &out);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_buf v = KITE_BUF_INIT;
    kite_buf_printf(&v, "{\"counter\":%lld,\"timestamp\":%lld}", (long long)b->topics_dv.counter,
                    (long long)b->topics_dv.timestamp);
    kite_cmd_set_ext_n(&resp, "version", v.data, v.len);
    kite_buf_free(&v);
    size_t len;
    char *p = kite_buf_steal(&out, &len);
    kite_cmd_set_body_own(&resp, p, len);
    kite_rpc_reply(req, &resp);
}

void bk_register_admin_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_UPDATE_AND_CREATE_TOPIC, h_create_topic, b);
    kite_rpc_server_handle(b->srv, RC_DELETE_TOPIC_IN_BROKER, h_delete_topic, b);
    kite_rpc_server_handle(b->srv, RC_GET_ALL_TOPIC_CONFIG, h_all_topic_config, b);
    kite_rpc_server_handle(b->srv, RC_GET_SYSTEM_TOPIC_LIST_FROM_BROKER, h_system_topics, b);
    kite_rpc_server_handle(b->srv, RC_GET_TOPIC_CONFIG, h_topic_config, b);
    kite_rpc_server_handle(b->srv, RC_GET_MAX_OFFSET, h_max_offset, b);
    kite_rpc_server_handle(b->srv, RC_GET_MIN_OFFSET, h_min_offset, b);
    kite_rpc_server_handle(b->srv, RC_SEARCH_OFFSET_BY_TIMESTAMP, h_search_offset, b);
    kite_rpc_server_handle(b->srv, RC_GET_EARLIEST_MSG_STORETIME, h_earliest_time, b);
    kite_rpc_server_handle(b->srv, RC_VIEW_MESSAGE_BY_ID, h_view_by_id, b);
    kite_rpc_server_handle(b->srv, RC_GET_BROKER_CONFIG, h_broker_config, b);
}
