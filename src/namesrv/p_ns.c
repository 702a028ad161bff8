/* p_ns.c - name server request handlers, one per request code (docs/wire.md §4).
 * All run on the loop thread and answer at once; state lives in namesrv/routes.c.
 * Missing mandatory header fields answer SYSTEM_ERROR naming the field, as Java does. */
#include "base/crc32.h"
#include "base/log.h"
#include "namesrv/namesrv.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORDER_NS "ORDER_TOPIC_CONFIG"

static kite_namesrv *NS(void *arg) { return arg; }

/* Fetches a mandatory string field, answering the error itself when missing. */
static const char *need(kite_rpc_req *req, const char *key)
{
    const char *v = kite_cmd_ext(&req->cmd, key);
    if (!v) {
        char remark[160];
        snprintf(remark, sizeof remark, "the custom field <%s> is null", key);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
    }
    return v;
}

static int need_i64(kite_rpc_req *req, const char *key, int64_t *out)
{
    int r = kite_cmd_ext_i64(&req->cmd, key, out);
    if (r == 0) return 0;
    char remark[160];
    if (r == KITE_ENOTFOUND)
        snprintf(remark, sizeof remark, "the custom field <%s> is null", key);
    else
        snprintf(remark, sizeof remark, "the custom field <%s> is not a number", key);
    kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
    return r;
}

static void reply_body(kite_rpc_req *req, kite_buf *body)
{
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    size_t len;
    char *p = kite_buf_steal(body, &len);
    kite_cmd_set_body_own(&resp, p, len);
    kite_rpc_reply(req, &resp);
}

static void h_register_broker(kite_rpc_req *req, void *arg)
{
    kite_namesrv *ns = NS(arg);
    const char *name, *addr, *cluster, *ha;
    int64_t id;
    if (!(name = need(req, "brokerName")) || !(addr = need(req, "brokerAddr")) ||
        !(cluster = need(req, "clusterName")))
        return;
    /* haServerAddr must be present but may be empty (as Java accepts): a broker without
     * replication, KiteMQ's included, advertises none. */
    if (!(ha = kite_cmd_ext_raw(&req->cmd, "haServerAddr")) && !need(req, "haServerAddr")) return;
    if (need_i64(req, "brokerId", &id) != 0) return;
    int64_t crc = 0;
    kite_cmd_ext_i64(&req->cmd, "bodyCrc32", &crc);
    if (crc != 0 && (uint32_t)crc != kite_crc32_masked(req->cmd.body, req->cmd.body_len)) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "namesrv",
                     "registration of %s from %s rejected: body CRC mismatch", addr,
                     kite_conn_peer(req->conn));
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "crc32 not match");
        return;
    }
    kite_register_body body;
    char err[160];
    int compressed = kite_cmd_ext_bool(&req->cmd, "compressed", 0);
    if (kite_register_body_decode(&body, req->cmd.body, req->cmd.body_len, compressed,
                                  (size_t)ns->cfg.max_frame_size * 8, err, sizeof err) != 0) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "namesrv", "registration of %s rejected: %s", addr, err);
        char remark[200];
        snprintf(remark, sizeof remark, "register broker failed: %s", err);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
        return;
    }
    ns_register_req r = {
        .cluster = cluster,
        .broker_name = name,
        .broker_addr = addr,
        .ha_addr = ha,
        .zone_name = kite_cmd_ext(&req->cmd, "__ZONE_NAME"),
        .broker_id = id,
        .timeout_ms = ns->cfg.broker_expire_millis,
        .conn_id = kite_conn_id(req->conn),
        .body = req->cmd.body_len ? &body : NULL,
    };
    int64_t hb;
    if (kite_cmd_ext_i64(&req->cmd, "heartbeatTimeoutMillis", &hb) == 0 && hb > 0)
        r.timeout_ms = hb;
    if (kite_cmd_ext(&req->cmd, "enableActingMaster")) {
        r.has_acting_master = 1;
        r.enable_acting_master = kite_cmd_ext_bool(&req->cmd, "enableActingMaster", 0);
    }
    ns_register_result res;
    ns_register(&ns->routes, &r, kite_ev_now(ns->ev), &res);
    kite_register_body_free(&body);

    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    if (res.ha_addr[0]) kite_cmd_set_ext(&resp, "haServerAddr", res.ha_addr);
    if (res.master_addr[0]) kite_cmd_set_ext(&resp, "masterAddr", res.master_addr);
    if (ns->cfg.return_order_topic_config_to_broker) {
        kite_buf b = KITE_BUF_INIT;
        if (ns_kv_table_json(&ns->routes, ORDER_NS, &b) == 0) {
            size_t len;
            char *p = kite_buf_steal(&b, &len);
            kite_cmd_set_body_own(&resp, p, len);
        }
        kite_buf_free(&b);
    }
    kite_rpc_reply(req, &resp);
}

static void h_unregister_broker(kite_rpc_req *req, void *arg)
{
    const char *name, *addr, *cluster;
    int64_t id;
    if (!(name = need(req, "brokerName")) || !(addr = need(req, "brokerAddr")) ||
        !(cluster = need(req, "clusterName")) || need_i64(req, "brokerId", &id) != 0)
        return;
    ns_unregister(&NS(arg)->routes, cluster, addr, name, id);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_query_data_version(kite_rpc_req *req, void *arg)
{
    kite_namesrv *ns = NS(arg);
    const char *addr;
    if (!need(req, "brokerName") || !(addr = need(req, "brokerAddr")) || !need(req, "clusterName"))
        return;
    kite_data_version dv, stored;
    memset(&dv, 0, sizeof dv);
    if (req->cmd.body_len &&
        kite_data_version_decode(&dv, (const char *)req->cmd.body, req->cmd.body_len) != 0) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "malformed DataVersion body");
        return;
    }
    int changed;
    int known =
        ns_query_data_version(&ns->routes, addr, &dv, kite_ev_now(ns->ev), &changed, &stored);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_cmd_set_ext(&resp, "changed", changed ? "true" : "false");
    if (known) {
        kite_buf b = KITE_BUF_INIT;
        kite_data_version_encode(&stored, &b);
        size_t len;
        char *p = kite_buf_steal(&b, &len);
        kite_cmd_set_body_own(&resp, p, len);
    }
    kite_rpc_reply(req, &resp);
}

static void h_broker_heartbeat(kite_rpc_req *req, void *arg)
{
    const char *addr;
    if (!need(req, "clusterName") || !(addr = need(req, "brokerAddr")) || !need(req, "brokerName"))
        return;
    ns_touch(&NS(arg)->routes, addr, kite_ev_now(NS(arg)->ev));
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_get_route(kite_rpc_req *req, void *arg)
{
    kite_namesrv *ns = NS(arg);
    const char *topic = need(req, "topic");
    if (!topic) return;
    int standard = req->cmd.version >= KITE_V4_9_4 ||
                   kite_cmd_ext_bool(&req->cmd, "acceptStandardJsonOnly", 0);
    const char *order =
        ns->cfg.order_message_enable ? ns_kv_get(&ns->routes, ORDER_NS, topic) : NULL;
    kite_buf b = KITE_BUF_INIT;
    if (ns_route_json(&ns->routes, topic, standard, order, &b) != 0) {
        char remark[512];
        snprintf(
            remark, sizeof remark,
            "No topic route info in name server for the topic: %.300s\nSee http://rocketmq.apache.org/docs/faq/ for further details.",
            topic);
        kite_buf_free(&b);
        kite_rpc_reply_code(req, RS_TOPIC_NOT_EXIST, remark);
        return;
    }
    reply_body(req, &b);
}

static void h_cluster_info(kite_rpc_req *req, void *arg)
{
    kite_buf b = KITE_BUF_INIT;
    ns_cluster_json(&NS(arg)->routes, &b);
    reply_body(req, &b);
}

static void h_all_topics(kite_rpc_req *req, void *arg)
{
    if (!NS(arg)->cfg.enable_all_topic_list) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "disable");
        return;
    }
    kite_buf b = KITE_BUF_INIT;
    ns_topic_list_json(&NS(arg)->routes, 0, &b);
    reply_body(req, &b);
}

static void h_topics_by_cluster(kite_rpc_req *req, void *arg)
{
    if (!NS(arg)->cfg.enable_topic_list) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "disable");
        return;
    }
    const char *cluster = need(req, "cluster");
    if (!cluster) return;
    kite_buf b = KITE_BUF_INIT;
    ns_topics_by_cluster_json(&NS(arg)->routes, cluster, &b);
    reply_body(req, &b);
}

static void unit_list(kite_rpc_req *req, void *arg, int filter)
{
    if (!NS(arg)->cfg.enable_topic_list) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "disable");
        return;
    }
    kite_buf b = KITE_BUF_INIT;
    ns_topic_list_json(&NS(arg)->routes, filter, &b);
    reply_body(req, &b);
}
static void h_unit_topics(kite_rpc_req *req, void *arg) { unit_list(req, arg, 1); }
static void h_unit_sub_topics(kite_rpc_req *req, void *arg) { unit_list(req, arg, 2); }
static void h_unit_sub_ununit_topics(kite_rpc_req *req, void *arg) { unit_list(req, arg, 3); }

static void h_system_topics(kite_rpc_req *req, void *arg)
{
    kite_buf b = KITE_BUF_INIT;
    ns_system_topics_json(&NS(arg)->routes, &b);
    reply_body(req, &b);
}

static void h_member_group(kite_rpc_req *req, void *arg)
{
    const char *cluster, *name;
    if (!(cluster = need(req, "clusterName")) || !(name = need(req, "brokerName"))) return;
    kite_buf b = KITE_BUF_INIT;
    ns_member_group_json(&NS(arg)->routes, cluster, name, &b);
    reply_body(req, &b);
}

static void write_perm(kite_rpc_req *req, void *arg, int add)
{
    const char *name = need(req, "brokerName");
    if (!name) return;
    int n = ns_set_write_perm(&NS(arg)->routes, name, add);
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv",
                 "%s write permission of broker %s on %d topic(s) (request from %s)",
                 add ? "added" : "wiped", name, n, kite_conn_peer(req->conn));
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_cmd_set_ext_i64(&resp, add ? "addTopicCount" : "wipeTopicCount", n);
    kite_rpc_reply(req, &resp);
}
static void h_wipe_write_perm(kite_rpc_req *req, void *arg) { write_perm(req, arg, 0); }
static void h_add_write_perm(kite_rpc_req *req, void *arg) { write_perm(req, arg, 1); }

static void h_delete_topic(kite_rpc_req *req, void *arg)
{
    const char *topic = need(req, "topic");
    if (!topic) return;
    ns_delete_topic(&NS(arg)->routes, topic, kite_cmd_ext(&req->cmd, "clusterName"));
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv", "topic %s deleted (request from %s)",
                 topic, kite_conn_peer(req->conn));
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_register_topic(kite_rpc_req *req, void *arg)
{
    const char *topic = need(req, "topic");
    if (!topic) return;
    if (req->cmd.body_len) {
        kite_route_data rd;
        char err[128];
        if (kite_route_decode(&rd, (const char *)req->cmd.body, req->cmd.body_len, err,
                              sizeof err) != 0) {
            char remark[200];
            snprintf(remark, sizeof remark, "malformed TopicRouteData body: %s", err);
            kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
            return;
        }
        if (ns_merge_topic(&NS(arg)->routes, topic, rd.queues, rd.n_queues) != 0)
            KLOG_LIMITED(
                1, KITE_LOG_WARN, "namesrv",
                "topic %s not registered (request from %s): its queue data names a broker that is "
                "not registered",
                topic, kite_conn_peer(req->conn));
        kite_route_free(&rd);
    }
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_put_kv(kite_rpc_req *req, void *arg)
{
    const char *nsp = kite_cmd_ext(&req->cmd, "namespace"), *key = kite_cmd_ext(&req->cmd, "key");
    const char *val = kite_cmd_ext_raw(&req->cmd, "value"); /* "" is a value Java stores */
    if (!nsp || !key) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "namespace or key is null");
        return;
    }
    if (!val) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "the custom field <value> is null");
        return;
    }
    ns_kv_put(&NS(arg)->routes, nsp, key, val);
    if (kite_namesrv_save_kv(NS(arg)) != 0) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                            "KV config updated in memory but could not be saved to disk");
        return;
    }
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv", "KV put %s/%s=%s", nsp, key, val);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_get_kv(kite_rpc_req *req, void *arg)
{
    const char *nsp, *key;
    if (!(nsp = need(req, "namespace")) || !(key = need(req, "key"))) return;
    const char *v = ns_kv_get(&NS(arg)->routes, nsp, key);
    if (!v) {
        char remark[300];
        snprintf(remark, sizeof remark, "No config item, Namespace: %.100s Key: %.100s", nsp, key);
        kite_rpc_reply_code(req, RS_QUERY_NOT_FOUND, remark);
        return;
    }
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_cmd_set_ext(&resp, "value", v);
    kite_rpc_reply(req, &resp);
}

static void h_delete_kv(kite_rpc_req *req, void *arg)
{
    const char *nsp, *key;
    if (!(nsp = need(req, "namespace")) || !(key = need(req, "key"))) return;
    if (ns_kv_delete(&NS(arg)->routes, nsp, key) && kite_namesrv_save_kv(NS(arg)) != 0) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                            "KV config updated in memory but could not be saved to disk");
        return;
    }
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_kv_list(kite_rpc_req *req, void *arg)
{
    const char *nsp = need(req, "namespace");
    if (!nsp) return;
    kite_buf b = KITE_BUF_INIT;
    if (ns_kv_table_json(&NS(arg)->routes, nsp, &b) != 0) {
        char remark[200];
        snprintf(remark, sizeof remark, "No config item, Namespace: %.100s", nsp);
        kite_buf_free(&b);
        kite_rpc_reply_code(req, RS_QUERY_NOT_FOUND, remark);
        return;
    }
    reply_body(req, &b);
}

static int remote_key_allowed(const char *key)
{
    for (int i = 0; kite_namesrv_remote_keys[i]; i++)
        if (strcmp(kite_namesrv_remote_keys[i], key) == 0) return 1;
    return 0;
}

static void h_update_config(kite_rpc_req *req, void *arg)
{
    kite_namesrv *ns = NS(arg);
    if (!ns->cfg.remote_config_update_enable) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "namesrv",
                     "refused UPDATE_NAMESRV_CONFIG from %s: remote config update is disabled",
                     kite_conn_peer(req->conn));
        kite_rpc_reply_code(
            req, RS_NO_PERMISSION,
            "updating the name server config over the network is disabled; set remoteConfigUpdateEnable=true in its config file to allow the safe keys");
        return;
    }
    kite_props p;
    kite_props_init(&p);
    kite_props_parse(&p, (const char *)req->cmd.body, req->cmd.body_len);
    kite_buf bad = KITE_BUF_INIT;
    for (size_t i = 0; i < p.count; i++) {
        if (!remote_key_allowed(p.keys[i]))
            kite_buf_printf(&bad, "%s%s", bad.len ? ", " : "", p.keys[i]);
    }
    if (bad.len) {
        char remark[512];
        snprintf(remark, sizeof remark,
                 "refused: these keys cannot be changed over the network: %.400s",
                 kite_buf_cstr(&bad));
        KLOG_LIMITED(1, KITE_LOG_WARN, "namesrv", "UPDATE_NAMESRV_CONFIG from %s %s",
                     kite_conn_peer(req->conn), remark);
        kite_buf_free(&bad);
        kite_props_free(&p);
        kite_rpc_reply_code(req, RS_NO_PERMISSION, remark);
        return;
    }
    kite_buf_free(&bad);
    /* Validate everything on a copy first so a bad value changes nothing. */
    char err[256];
    for (size_t i = 0; i < p.count; i++) {
        ns_config probe;
        kite_config_defaults(kite_namesrv_props, &probe);
        int r =
            kite_config_set(kite_namesrv_props, &probe, p.keys[i], p.values[i], err, sizeof err);
        kite_config_free(kite_namesrv_props, &probe);
        if (r != 0) {
            kite_props_free(&p);
            kite_rpc_reply_code(req, RS_INVALID_PARAMETER, err);
            return;
        }
    }
    for (size_t i = 0; i < p.count; i++) {
        kite_config_set(kite_namesrv_props, &ns->cfg, p.keys[i], p.values[i], err, sizeof err);
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv", "config %s=%s set by %s", p.keys[i],
                     p.values[i], kite_conn_peer(req->conn));
        if (strcmp(p.keys[i], "scanNotActiveBrokerInterval") == 0) kite_namesrv_schedule_scan(ns);
        if (strcmp(p.keys[i], "logLevel") == 0) {
            int lvl = kite_log_parse_level(p.values[i]);
            if (lvl >= 0) kite_log_set_level((kite_log_level)lvl);
        }
    }
    kite_props_free(&p);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_get_config(kite_rpc_req *req, void *arg)
{
    kite_buf b = KITE_BUF_INIT;
    kite_config_print(kite_namesrv_props, &NS(arg)->cfg, &b);
    reply_body(req, &b);
}

void kite_namesrv_register_handlers(kite_namesrv *ns)
{
    static const struct {
        int code;
        kite_rpc_handler fn;
    } table[] = {
        { RC_REGISTER_BROKER, h_register_broker },
        { RC_UNREGISTER_BROKER, h_unregister_broker },
        { RC_QUERY_DATA_VERSION, h_query_data_version },
        { RC_BROKER_HEARTBEAT, h_broker_heartbeat },
        { RC_GET_ROUTEINFO_BY_TOPIC, h_get_route },
        { RC_GET_BROKER_CLUSTER_INFO, h_cluster_info },
        { RC_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, h_all_topics },
        { RC_GET_TOPICS_BY_CLUSTER, h_topics_by_cluster },
        { RC_GET_SYSTEM_TOPIC_LIST_FROM_NS, h_system_topics },
        { RC_GET_UNIT_TOPIC_LIST, h_unit_topics },
        { RC_GET_HAS_UNIT_SUB_TOPIC_LIST, h_unit_sub_topics },
        { RC_GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST, h_unit_sub_ununit_topics },
        { RC_GET_BROKER_MEMBER_GROUP, h_member_group },
        { RC_WIPE_WRITE_PERM_OF_BROKER, h_wipe_write_perm },
        { RC_ADD_WRITE_PERM_OF_BROKER, h_add_write_perm },
        { RC_DELETE_TOPIC_IN_NAMESRV, h_delete_topic },
        { RC_REGISTER_TOPIC_IN_NAMESRV, h_register_topic },
        { RC_PUT_KV_CONFIG, h_put_kv },
        { RC_GET_KV_CONFIG, h_get_kv },
        { RC_DELETE_KV_CONFIG, h_delete_kv },
        { RC_GET_KVLIST_BY_NAMESPACE, h_kv_list },
        { RC_UPDATE_NAMESRV_CONFIG, h_update_config },
        { RC_GET_NAMESRV_CONFIG, h_get_config },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        kite_rpc_server_handle(ns->srv, table[i].code, table[i].fn, ns);
}
