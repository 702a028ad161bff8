/* p_client.c - client-management requests: HEART_BEAT, UNREGISTER_CLIENT,
 * GET_CONSUMER_LIST_BY_GROUP, QUERY_CONSUMER_OFFSET, UPDATE_CONSUMER_OFFSET,
 * LOCK_BATCH_MQ / UNLOCK_BATCH_MQ (docs/wire.md §5.6, §6.4-§6.6). Loop thread. */
#include "base/json.h"
#include "base/log.h"
#include "broker/broker.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kite_broker *B(void *arg) { return arg; }

/* Enum fields arrive as names (Java, ali-ons) or ordinals (C++). */
static const char *enum_name(const kite_json *v, const char *const *names, size_t n,
                             const char *dflt)
{
    if (!v) return dflt;
    if (v->type == KJ_STRING) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(v->text, names[i]) == 0) return names[i];
        return dflt;
    }
    int64_t x;
    if (kite_json_int64(v, &x) == 0 && x >= 0 && (size_t)x < n) return names[x];
    return dflt;
}

static const char *const consume_types[] = { "CONSUME_ACTIVELY", "CONSUME_PASSIVELY",
                                             "CONSUME_POP" };
static const char *const models[] = { "BROADCASTING", "CLUSTERING" };
static const char *const from_wheres[] = {
    "CONSUME_FROM_LAST_OFFSET",  "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",   "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET", "CONSUME_FROM_TIMESTAMP",
};

static void ensure_retry_topic(kite_broker *b, const bk_group *g)
{
    char topic[300];
    kite_retry_topic(topic, sizeof topic, g->name);
    if (!bk_topic_name_ok(topic) || bk_topic_get(b, topic)) return;
    int32_t q = g->retry_queue_nums > 0 ? g->retry_queue_nums : 1;
    bk_topic_put(b, topic, q, q, KITE_PERM_READ | KITE_PERM_WRITE, 0, "SINGLE_TAG", 0);
}

static void h_heartbeat(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    char err[256];
    kite_json_doc *doc = req->cmd.body_len ? kite_json_parse((const char *)req->cmd.body,
                                                             req->cmd.body_len, err, sizeof err)
                                           : NULL;
    if (!doc) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                            req->cmd.body_len ? "malformed HeartbeatData body"
                                              : "HeartbeatData body missing");
        return;
    }
    const kite_json *root = kite_json_root(doc);
    const char *client_id = kite_json_get_str(root, "clientID", NULL);
    if (!client_id || !*client_id) {
        kite_json_doc_free(doc);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "HeartbeatData without clientID");
        return;
    }
    const kite_json *cds = kite_json_get(root, "consumerDataSet");
    for (size_t i = 0; cds && cds->type == KJ_ARRAY && i < cds->count; i++) {
        const kite_json *cd = cds->items[i];
        const char *gname = kite_json_get_str(cd, "groupName", NULL);
        if (!gname || !*gname) continue;
        bk_group *g = bk_group_get_or_create(b, gname);
        if (!g) {
            KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                         "heartbeat from %s names unknown group %s (auto-creation is off); ignored",
                         client_id, gname);
            continue;
        }
        ensure_retry_topic(b, g);
        kite_map subs = KITE_MAP_INIT;
        const kite_json *ss = kite_json_get(cd, "subscriptionDataSet");
        for (size_t j = 0; ss && ss->type == KJ_ARRAY && j < ss->count; j++) {
            const kite_json *sd = ss->items[j];
            const char *topic = kite_json_get_str(sd, "topic", NULL);
            if (!topic) continue;
            bk_sub *s = bk_sub_parse(topic, kite_json_get_str(sd, "subString", "*"),
                                     kite_json_get_str(sd, "expressionType", "TAG"),
                                     kite_json_get_int64(sd, "subVersion", 0), err, sizeof err);
            if (!s) {
                KLOG_LIMITED(1, KITE_LOG_WARN, "broker", "group %s topic %s: %s", gname, topic,
                             err);
                continue;
            }
            bk_sub_free(kite_map_put(&subs, topic, s));
        }
        const char *model = enum_name(kite_json_get(cd, "messageModel"), models, 2, "CLUSTERING");
        int changed = 0;
        bk_consumer_group *cg = bk_consumer_register(
            b, gname, req->conn, client_id, req->cmd.language, req->cmd.version,
            enum_name(kite_json_get(cd, "consumeType"), consume_types, 3, "CONSUME_PASSIVELY"),
            model,
            enum_name(kite_json_get(cd, "consumeFromWhere"), from_wheres, 6,
                      "CONSUME_FROM_LAST_OFFSET"),
            &subs, &changed);
        kite_map_free(&subs, (void (*)(void *))bk_sub_free);
        if (changed && strcmp(model, "CLUSTERING") == 0) bk_notify_ids_changed(b, cg);
    }
    const kite_json *pds = kite_json_get(root, "producerDataSet");
    for (size_t i = 0; pds && pds->type == KJ_ARRAY && i < pds->count; i++) {
        const char *gname = kite_json_get_str(pds->items[i], "groupName", NULL);
        if (gname && *gname)
            bk_producer_register(b, gname, req->conn, client_id, req->cmd.language,
                                 req->cmd.version);
    }
    kite_json_doc_free(doc);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_unregister_client(kite_rpc_req *req, void *arg)
{
    const char *cid = bk_need(req, "clientID");
    if (!cid) return;
    bk_clients_unregister(B(arg), cid, kite_cmd_ext(&req->cmd, "consumerGroup"),
                          kite_cmd_ext(&req->cmd, "producerGroup"));
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_consumer_list(kite_rpc_req *req, void *arg)
{
    const char *group = bk_need(req, "consumerGroup");
    if (!group) return;
    bk_consumer_group *g = bk_consumer_group_get(B(arg), group);
    if (!g || g->nch == 0) {
        bk_replyf(req, RS_SYSTEM_ERROR, "no consumer for this group, %.250s", group);
        return;
    }
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "consumerIdList");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < g->nch; i++) kite_jw_str(&w, g->ch[i].client_id);
    kite_jw_arr_end(&w);
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_query_offset(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group, *topic;
    int32_t qid;
    if (!(group = bk_need(req, "consumerGroup")) || !(topic = bk_need(req, "topic")) ||
        bk_need_i32(req, "queueId", &qid))
        return;
    int64_t off = bk_offset_get(b, topic, group, qid);
    if (off < 0) {
        /* No offset yet: a young queue (first message still present) starts at 0 so a
         * new group sees everything; otherwise the client picks from consumeFromWhere. */
        int set_zero = kite_cmd_ext_bool(&req->cmd, "setZeroIfNotFound", 1);
        if (set_zero && kite_store_min_offset(b->store, topic, qid) <= 0) {
            off = 0;
        } else {
            kite_rpc_reply_code(req, RS_QUERY_NOT_FOUND,
                                "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first");
            return;
        }
    }
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_cmd_set_ext_i64(&resp, "offset", off);
    kite_rpc_reply(req, &resp);
}

static void h_update_offset(kite_rpc_req *req, void *arg)
{
    const char *group, *topic;
    int32_t qid = 0;
    int64_t off = 0;
    if (!(group = bk_need(req, "consumerGroup")) || !(topic = bk_need(req, "topic")) ||
        bk_need_i32(req, "queueId", &qid) || bk_need_i64(req, "commitOffset", &off))
        return;
    if (off >= 0)
        bk_offset_commit(B(arg), topic, group, qid,
                         off); /* -1 (nothing consumed) is accepted, not stored */
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

void bk_register_client_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_HEART_BEAT, h_heartbeat, b);
    kite_rpc_server_handle(b->srv, RC_UNREGISTER_CLIENT, h_unregister_client, b);
    kite_rpc_server_handle(b->srv, RC_GET_CONSUMER_LIST_BY_GROUP, h_consumer_list, b);
    kite_rpc_server_handle(b->srv, RC_QUERY_CONSUMER_OFFSET, h_query_offset, b);
    kite_rpc_server_handle(b->srv, RC_UPDATE_CONSUMER_OFFSET, h_update_offset, b);
}
