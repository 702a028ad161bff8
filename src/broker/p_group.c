/* p_group.c - consumer and producer groups as admin tools see them:
 * UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201),
 * DELETE_SUBSCRIPTIONGROUP (207), GET_CONSUMER_CONNECTION_LIST (203),
 * GET_PRODUCER_CONNECTION_LIST (204), QUERY_TOPIC_CONSUME_BY_WHO (300),
 * CHECK_CLIENT_CONFIG (46), and the requests forwarded to one consumer of a group:
 * GET_CONSUMER_RUNNING_INFO (307), CONSUME_MESSAGE_DIRECTLY (309). State-changing codes
 * pass the loopback guard (bk_admin_allowed). Loop thread. */
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "broker/broker.h"
#include "broker/filter.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kite_broker *B(void *arg) { return arg; }

static void connection_set(kite_jw *w, const bk_channel *ch, size_t n)
{
    kite_jw_key(w, "connectionSet");
    kite_jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        kite_jw_obj_begin(w);
        kite_jw_key(w, "clientAddr");
        kite_jw_str(w, kite_conn_peer(ch[i].conn));
        kite_jw_key(w, "clientId");
        kite_jw_str(w, ch[i].client_id);
        kite_jw_key(w, "language");
        kite_jw_str(w, kite_lang_name(ch[i].language));
        kite_jw_key(w, "version");
        kite_jw_int(w, ch[i].version);
        kite_jw_obj_end(w);
    }
    kite_jw_arr_end(w);
}

static void write_sub(kite_jw *w, const bk_sub *s)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "classFilterMode");
    kite_jw_bool(w, 0);
    kite_jw_key(w, "codeSet");
    kite_jw_arr_begin(w);
    for (size_t i = 0; i < s->ntags; i++) kite_jw_int(w, s->codes[i]);
    kite_jw_arr_end(w);
    kite_jw_key(w, "expressionType");
    kite_jw_str(w, s->expr_type);
    kite_jw_key(w, "subString");
    kite_jw_str(w, s->sub_string);
    kite_jw_key(w, "subVersion");
    kite_jw_int(w, s->sub_version);
    kite_jw_key(w, "tagsSet");
    kite_jw_arr_begin(w);
    for (size_t i = 0; i < s->ntags; i++) kite_jw_str(w, s->tags[i]);
    kite_jw_arr_end(w);
    kite_jw_key(w, "topic");
    kite_jw_str(w, s->topic);
    kite_jw_obj_end(w);
}

static void h_consumer_connections(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group = bk_need(req, "consumerGroup");
    if (!group) return;
    bk_consumer_group *g = bk_consumer_group_get(b, group);
    if (!g || !g->nch) {
        bk_replyf(req, RS_CONSUMER_NOT_ONLINE, "the consumer group[%.200s] not online", group);
        return;
    }
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    connection_set(&w, g->ch, g->nch);
    kite_jw_key(&w, "consumeFromWhere");
    kite_jw_str(&w, g->consume_from_where);
    kite_jw_key(&w, "consumeType");
    kite_jw_str(&w, g->consume_type);
    kite_jw_key(&w, "messageModel");
    kite_jw_str(&w, g->message_model);
    kite_jw_key(&w, "subscriptionTable");
    kite_jw_obj_begin(&w);
    size_t n;
    const char **topics = kite_map_sorted_keys(&g->subs, &n);
    for (size_t i = 0; i < n; i++) {
        kite_jw_key(&w, topics[i]);
        write_sub(&w, kite_map_get(&g->subs, topics[i]));
    }
    free(topics);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_producer_connections(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group = bk_need(req, "producerGroup");
    if (!group) return;
    bk_producer_group *g = kite_map_get(&b->producers, group);
    if (!g || !g->nch) {
        bk_replyf(req, RS_SYSTEM_ERROR, "the producer group[%.200s] not exist", group);
        return;
    }
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    connection_set(&w, g->ch, g->nch);
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_consume_by_who(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *topic = bk_need(req, "topic");
    if (!topic) return;
    kite_map set = KITE_MAP_INIT;
    size_t it = 0;
    const char *name;
    void *v;
    while (kite_map_next(&b->consumers, &it, &name, &v))
        if (kite_map_get(&((bk_consumer_group *)v)->subs, topic))
            kite_map_put(&set, name, (void *)1);
    size_t n;
    char **groups = bk_offsets_groups_of(b, topic, &n);
    for (size_t i = 0; i < n; i++) {
        kite_map_put(&set, groups[i], (void *)1);
        free(groups[i]);
    }
    free(groups);
    const char **names = kite_map_sorted_keys(&set, &n);
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "groupList");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) kite_jw_str(&w, names[i]);
    kite_jw_arr_end(&w);
    kite_jw_obj_end(&w);
    free(names);
    kite_map_free(&set, NULL);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_update_group(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    if (!bk_admin_allowed(b, req)) return;
    char err[160];
    kite_json_doc *doc = req->cmd.body_len ? kite_json_parse((const char *)req->cmd.body,
                                                             req->cmd.body_len, err, sizeof err)
                                           : NULL;
    const kite_json *v = doc ? kite_json_root(doc) : NULL;
    const char *name = v ? kite_json_get_str(v, "groupName", NULL) : NULL;
    if (!name || !*name || strlen(name) > 255) {
        if (doc) kite_json_doc_free(doc);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                            "a SubscriptionGroupConfig body with a groupName is required");
        return;
    }
    bk_group *g = bk_group_upsert(b, name);
    bk_group_from_json(g, v);
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker", "subscription group %s updated by %s", name,
                 kite_conn_peer(req->conn));
    kite_json_doc_free(doc);
    bk_groups_changed(b);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_delete_group(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    if (!bk_admin_allowed(b, req)) return;
    const char *name = bk_need(req, "groupName");
    if (!name) return;
    bk_group_delete(b, name);
    if (kite_cmd_ext_bool(&req->cmd, "removeOffset", 0) ||
        kite_cmd_ext_bool(&req->cmd, "cleanOffset", 0))
        bk_offsets_remove_group(b, name);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_all_groups(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    int32_t seq = 0, max = 0;
    kite_cmd_ext_i32(&req->cmd, "groupSeq", &seq);
    kite_cmd_ext_i32(&req->cmd, "maxGroupNum", &max);
    kite_buf out = KITE_BUF_INIT;
    bk_groups_json_page(b, seq, max, &out);
    bk_reply_paged(req, &out, "totalGroupNum", b->groups.count);
}

static void h_check_client_config(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    char err[160];
    kite_json_doc *doc = req->cmd.body_len ? kite_json_parse((const char *)req->cmd.body,
                                                             req->cmd.body_len, err, sizeof err)
                                           : NULL;
    const kite_json *sd = doc ? kite_json_get(kite_json_root(doc), "subscriptionData") : NULL;
    const char *type = sd ? kite_json_get_str(sd, "expressionType", "TAG") : "TAG";
    int code = RS_SUCCESS;
    char remark[300] = "";
    if (strcmp(type, "SQL92") == 0) {
        if (!b->cfg.enable_property_filter) {
            code = RS_SYSTEM_ERROR;
            snprintf(remark, sizeof remark,
                     "The broker does not support consumer to filter message by SQL92");
        } else {
            bk_filter *f =
                bk_filter_parse(kite_json_get_str(sd, "subString", ""), remark, sizeof remark);
            if (!f) code = RS_SUBSCRIPTION_PARSE_FAILED;
            bk_filter_free(f);
        }
    } else if (strcmp(type, "TAG") != 0) {
        code = RS_SYSTEM_ERROR;
        snprintf(remark, sizeof remark, "unknown expression type %.100s", type);
    }
    if (doc) kite_json_doc_free(doc);
    kite_rpc_reply_code(req, code, remark[0] ? remark : NULL);
}

/* ---- forwards to a client ---- */

static void forward_done(int status, kite_cmd *resp, void *arg)
{
    kite_rpc_req *orig = arg;
    if (status != KITE_OK) {
        kite_rpc_reply_code(orig,
                            status == KITE_ETIMEDOUT ? RS_CONSUME_MSG_TIMEOUT : RS_SYSTEM_ERROR,
                            status == KITE_ETIMEDOUT ? "the client did not answer in time"
                                                     : "the client connection closed");
        return;
    }
    kite_cmd out;
    kite_cmd_init_response(&out, &orig->cmd, resp->code, resp->remark);
    kite_cmd_set_body_copy(&out, resp->body, resp->body_len);
    kite_rpc_reply(orig, &out);
}

static bk_channel *find_client(kite_broker *b, const char *group, const char *cid)
{
    bk_consumer_group *g = bk_consumer_group_get(b, group);
    for (size_t i = 0; g && i < g->nch; i++)
        if (strcmp(g->ch[i].client_id, cid) == 0) return &g->ch[i];
    return NULL;
}

static void h_forward(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group, *cid;
    if (!(group = bk_need(req, "consumerGroup")) || !(cid = bk_need(req, "clientId"))) return;
    bk_channel *ch = find_client(b, group, cid);
    char remark[400];
    if (!ch) {
        snprintf(remark, sizeof remark, "The Consumer <%.150s> <%.150s> not online", group, cid);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
        return;
    }
    kite_cmd call;
    kite_cmd_init_request(&call, req->cmd.code, 0);
    for (size_t i = 0; i < req->cmd.n_ext; i++)
        kite_cmd_set_ext_n(&call, req->cmd.ext[i].key, req->cmd.ext[i].val, req->cmd.ext[i].vlen);
    if (req->cmd.code == RC_CONSUME_MESSAGE_DIRECTLY) {
        int64_t phys;
        const char *id = kite_cmd_ext(&req->cmd, "msgId");
        kite_store_seg seg;
        int64_t next;
        if (!id || bk_decode_offset_msg_id(id, &phys) != 0 ||
            kite_store_get_by_offset(b->store, phys, &seg, &next) != 0) {
            kite_cmd_free(&call);
            snprintf(remark, sizeof remark, "can not find message by the id %.100s",
                     id ? id : "(none)");
            kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
            return;
        }
        kite_cmd_set_body_copy(&call, seg.data, seg.len);
        kite_store_seg_release(&seg);
    }
    kite_rpc_server_call(b->srv, ch->conn, &call, 10000, forward_done, req);
}

void bk_register_group_handlers(kite_broker *b)
{
    static const struct {
        int code;
        kite_rpc_handler fn;
    } table[] = {
        { RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, h_update_group },
        { RC_DELETE_SUBSCRIPTIONGROUP, h_delete_group },
        { RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, h_all_groups },
        { RC_GET_CONSUMER_CONNECTION_LIST, h_consumer_connections },
        { RC_GET_PRODUCER_CONNECTION_LIST, h_producer_connections },
        { RC_QUERY_TOPIC_CONSUME_BY_WHO, h_consume_by_who },
        { RC_CHECK_CLIENT_CONFIG, h_check_client_config },
        { RC_GET_CONSUMER_RUNNING_INFO, h_forward },
        { RC_CONSUME_MESSAGE_DIRECTLY, h_forward },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        kite_rpc_server_handle(b->srv, table[i].code, table[i].fn, b);
}
