/* p_offset_admin.c - consumer offsets as admin tools see them: GET_ALL_CONSUMER_OFFSET
 * (43), GET_ALL_DELAY_OFFSET (45), and INVOKE_BROKER_TO_RESET_OFFSET (222: the offsets
 * of a group on a topic moved to a time, persisted, and pushed to the group's online
 * clients as RESET_CONSUMER_CLIENT_OFFSET, 220). The offset tables are offsets.c's.
 * Loop thread. */
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kite_broker *B(void *arg) { return arg; }

static void h_all_offsets(kite_rpc_req *req, void *arg)
{
    kite_buf out = KITE_BUF_INIT;
    bk_offsets_json(B(arg), &out);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_all_delay_offsets(kite_rpc_req *req, void *arg)
{
    kite_buf out = KITE_BUF_INIT;
    bk_delay_offsets_json(B(arg), &out);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void reset_body(kite_jw *w, kite_broker *b, const char *topic, const int64_t *offs,
                       int32_t n, int for_c)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "offsetTable");
    if (for_c) {
        kite_jw_arr_begin(w);
        for (int32_t q = 0; q < n; q++) {
            kite_jw_obj_begin(w);
            kite_jw_key(w, "brokerName");
            kite_jw_str(w, b->cfg.broker_name);
            kite_jw_key(w, "offset");
            kite_jw_int(w, offs[q]);
            kite_jw_key(w, "queueId");
            kite_jw_int(w, q);
            kite_jw_key(w, "topic");
            kite_jw_str(w, topic);
            kite_jw_obj_end(w);
        }
        kite_jw_arr_end(w);
    } else {
        kite_jw_obj_begin(w);
        for (int32_t q = 0; q < n; q++) {
            bk_jw_mq_key(w, b, topic, q);
            kite_jw_int(w, offs[q]);
        }
        kite_jw_obj_end(w);
    }
    kite_jw_obj_end(w);
}

static void h_reset_offset(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    if (!bk_admin_allowed(b, req)) return;
    const char *topic, *group;
    int64_t ts;
    if (!(topic = bk_need(req, "topic")) || !(group = bk_need(req, "group")) ||
        bk_need_i64(req, "timestamp", &ts))
        return;
    int force = kite_cmd_ext_bool(&req->cmd, "isForce", 1);
    bk_topic *t = bk_topic_get(b, topic);
    if (!t) {
        bk_replyf(req, RS_TOPIC_NOT_EXIST, "[reset offset] topic[%.200s] not exist", topic);
        return;
    }
    int32_t n = t->read_queue_nums;
    int64_t *offs = kite_xcalloc((size_t)(n ? n : 1), sizeof *offs);
    for (int32_t q = 0; q < n; q++) {
        int64_t target = ts < 0 ? kite_store_max_offset(b->store, topic, q)
                                : kite_store_offset_by_time(b->store, topic, q, ts);
        int64_t cur = bk_offset_get(b, topic, group, q);
        offs[q] = (force || cur < 0 || target < cur) ? target : cur;
        bk_offset_set(b, topic, group, q, offs[q]);
    }
    bk_save_offsets(b);
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker",
                 "offsets of group %s on %s reset to time %lld by %s", group, topic, (long long)ts,
                 kite_conn_peer(req->conn));
    bk_consumer_group *g = bk_consumer_group_get(b, group);
    size_t np = g ? g->nch : 0;
    bk_peer *peers = bk_peers_copy(g ? g->ch : NULL, np); /* a send may close a member */
    for (size_t i = 0; i < np; i++) {
        kite_cmd call;
        kite_cmd_init_request(&call, RC_RESET_CONSUMER_CLIENT_OFFSET, 0);
        kite_cmd_set_ext(&call, "topic", topic);
        kite_cmd_set_ext(&call, "group", group);
        kite_cmd_set_ext_i64(&call, "timestamp", ts);
        kite_cmd_set_ext(&call, "isForce", force ? "true" : "false");
        kite_buf body = KITE_BUF_INIT;
        kite_jw w;
        kite_jw_init(&w, &body, 0);
        reset_body(&w, b, topic, offs, n, peers[i].language == 1 /* CPP */);
        size_t len;
        char *p = kite_buf_steal(&body, &len);
        kite_cmd_set_body_own(&call, p, len);
        kite_rpc_server_call(b->srv, peers[i].conn, &call, 0, NULL, NULL);
    }
    bk_peers_free(peers, np);
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    reset_body(&w, b, topic, offs, n, 0);
    free(offs);
    bk_reply_body(req, RS_SUCCESS, &out);
}

void bk_register_offset_admin_handlers(kite_broker *b)
{
    static const struct {
        int code;
        kite_rpc_handler fn;
    } table[] = {
        { RC_GET_ALL_CONSUMER_OFFSET, h_all_offsets },
        { RC_GET_ALL_DELAY_OFFSET, h_all_delay_offsets },
        { RC_INVOKE_BROKER_TO_RESET_OFFSET, h_reset_offset },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        kite_rpc_server_handle(b->srv, table[i].code, table[i].fn, b);
}
