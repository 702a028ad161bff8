/* namesrv.c - name server configuration table, start/stop, broker expiry scanning,
 * KV persistence and connection-close handling. Handlers are in p_ns.c. */
#include "namesrv/namesrv.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(ns_config, field)
#define NO_POOLS "one event-loop thread serves every request"
const kite_prop_def kite_namesrv_props[] = {
    { "listenPort", KITE_PROP_INT, F(listen_port), "9876", "TCP port for clients and brokers" },
    { "bindAddress", KITE_PROP_STR, F(bind_address), "0.0.0.0",
      "IPv4 address to listen on (KiteMQ)" },
    { "kvConfigPath", KITE_PROP_STR, F(kv_config_path), NULL,
      "KV config file (default $HOME/namesrv/kvConfig.json)" },
    { "orderMessageEnable", KITE_PROP_BOOL, F(order_message_enable), "false",
      "put orderTopicConf into routes" },
    { "returnOrderTopicConfigToBroker", KITE_PROP_BOOL, F(return_order_topic_config_to_broker),
      "true", "answer registrations with the ORDER_TOPIC_CONFIG table" },
    { "enableAllTopicList", KITE_PROP_BOOL, F(enable_all_topic_list), "true",
      "serve GET_ALL_TOPIC_LIST_FROM_NAMESERVER" },
    { "enableTopicList", KITE_PROP_BOOL, F(enable_topic_list), "true",
      "serve GET_TOPICS_BY_CLUSTER and unit lists" },
    { "brokerExpireMillis", KITE_PROP_LONG, F(broker_expire_millis), "120000",
      "drop a broker this long after its last registration (KiteMQ)" },
    { "scanNotActiveBrokerInterval", KITE_PROP_LONG, F(scan_not_active_broker_interval), "5000",
      "expiry scan period, ms" },
    { "serverChannelMaxIdleTimeSeconds", KITE_PROP_INT, F(server_channel_max_idle_time_seconds),
      "120", "close connections idle this long" },
    { "maxFrameSize", KITE_PROP_LONG, F(max_frame_size), "16777216",
      "largest accepted frame in bytes (KiteMQ)" },
    KITE_RPC_LIMIT_PROPS(ns_config, limits),
    { "logFile", KITE_PROP_STR, F(log_file), NULL, "also log to this file (KiteMQ)" },
    { "logLevel", KITE_PROP_STR, F(log_level), "info", "debug, info, warn or error (KiteMQ)" },
    { "remoteConfigUpdateEnable", KITE_PROP_BOOL, F(remote_config_update_enable), "false",
      "allow UPDATE_NAMESRV_CONFIG for the safe keys (KiteMQ)" },
    KITE_TLS_SERVER_PROPS(ns_config, tls),
    { "aclEnable", KITE_PROP_BOOL, F(acl_enable), "false",
      "plain ACL: the write codes need an admin account or a white-listed sender" },
    { "rocketmqHome", KITE_PROP_STR, F(rocketmq_home), NULL,
      "ACL files: <rocketmqHome>/conf/plain_acl.yml and conf/acl/*.yml (default: env ROCKETMQ_HOME)" },
    { "aclFile", KITE_PROP_STR, F(acl_file), NULL,
      "the one ACL file to load instead of rocketmqHome's (KiteMQ)" },
    KITE_PROP_IGNORE("configStorePath", "UPDATE_NAMESRV_CONFIG changes are not written to a file"),
    KITE_PROP_IGNORE("clusterTest", "no test-cluster routes in this build"),
    KITE_PROP_IGNORE("productEnvName", "no test-cluster routes in this build"),
    KITE_PROP_IGNORE("serverWorkerThreads", NO_POOLS),
    KITE_PROP_IGNORE("serverSelectorThreads", NO_POOLS),
    KITE_PROP_IGNORE("defaultThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("clientRequestThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("supportActingMaster",
                     "routes list the brokers as they registered: no slave is made acting master"),
    KITE_PROP_IGNORE("notifyMinBrokerIdChanged",
                     "brokers are not told when their group's smallest id changes"),
    KITE_PROP_IGNORE(
        "deleteTopicWithBrokerRegistration",
        "a topic missing from a registration keeps its route, as with the default false"),
    KITE_PROP_IGNORE("needWaitForService", "routes are served as soon as the port is open"),
    KITE_PROP_IGNORE("waitSecondsForService", "routes are served as soon as the port is open"),
    { NULL, 0, 0, NULL, NULL },
};
#undef F
#undef REFUSE
#undef IGNORE
#undef NO_POOLS

/* Keys that only change behaviour, never paths, ports or files (CVE-2023-37582 came
 * from letting the network set a file path). */
const char *const kite_namesrv_remote_keys[] = {
    "orderMessageEnable", "returnOrderTopicConfigToBroker", "enableAllTopicList", "enableTopicList",
    "brokerExpireMillis", "scanNotActiveBrokerInterval",    "logLevel",           NULL,
};

static void scan_brokers(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_namesrv *ns = arg;
    (void)t;
    int n = ns_scan_expired(&ns->routes, kite_ev_now(ev));
    if (n) KLOG_WARN("namesrv", "%d broker(s) expired", n);
}

static void on_conn_close(kite_conn *c, void *arg)
{
    kite_namesrv *ns = arg;
    ns_remove_by_conn(&ns->routes, kite_conn_id(c));
}

void kite_namesrv_schedule_scan(kite_namesrv *ns)
{
    if (ns->scan_timer) kite_ev_timer_cancel(ns->ev, ns->scan_timer);
    int64_t iv = ns->cfg.scan_not_active_broker_interval > 0
                     ? ns->cfg.scan_not_active_broker_interval
                     : 5000;
    ns->scan_timer = kite_ev_timer_add(ns->ev, iv, iv, scan_brokers, ns);
}

int kite_namesrv_save_kv(kite_namesrv *ns)
{
    kite_buf b = KITE_BUF_INIT;
    ns_kv_encode(&ns->routes, &b);
    int r = kite_file_write_atomic(ns->cfg.kv_config_path, b.data, b.len);
    kite_buf_free(&b);
    if (r)
        KLOG_ERROR("namesrv", "cannot write KV config %s: %s", ns->cfg.kv_config_path,
                   kite_strerror(r));
    return r;
}

static int load_kv(kite_namesrv *ns, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int r = kite_file_read_all(ns->cfg.kv_config_path, 64u << 20, &text, &len);
    if (r == KITE_ENOTFOUND) return 0;
    if (r) {
        snprintf(err, errlen, "cannot read KV config %s: %s", ns->cfg.kv_config_path,
                 kite_strerror(r));
        return r;
    }
    int rc = 0;
    if (len) {
        char jerr[128];
        rc = ns_kv_load(&ns->routes, text, len, jerr, sizeof jerr);
        if (rc != 0)
            snprintf(err, errlen, "KV config %s is corrupt (%s); fix or remove it",
                     ns->cfg.kv_config_path, jerr);
    }
    free(text);
    if (!rc) KLOG_INFO("namesrv", "loaded KV config from %s", ns->cfg.kv_config_path);
    return rc;
}

int kite_namesrv_start(kite_namesrv *ns, kite_ev *ev, char *err, size_t errlen)
{
    ns->ev = ev;
    ns_routes_init(&ns->routes);
    if (!ns->cfg.kv_config_path || !*ns->cfg.kv_config_path) {
        const char *home = getenv("HOME");
        char path[1024];
        snprintf(path, sizeof path, "%s/namesrv/kvConfig.json", home ? home : ".");
        free(ns->cfg.kv_config_path);
        ns->cfg.kv_config_path = kite_xstrdup(path);
    }
    int rc = load_kv(ns, err, errlen);
    if (rc != 0) return rc;
    if ((rc = ns_acl_start(ns, err, errlen)) != 0) return rc;
    kite_rpc_server_opts o = {
        .max_frame = (size_t)ns->cfg.max_frame_size,
        .idle_timeout_ms = ns->cfg.server_channel_max_idle_time_seconds * 1000,
        .on_close = on_conn_close,
        .cb_arg = ns,
        .tls = ns->tls,
    };
    kite_rpc_limits_apply(&ns->cfg.limits, &o);
    ns->srv = kite_rpc_server_new(ev, &o);
    kite_namesrv_register_handlers(ns);
    ns_acl_install(ns);
    ns->port =
        kite_rpc_server_listen(ns->srv, ns->cfg.bind_address, ns->cfg.listen_port, err, errlen);
    if (ns->port < 0) return ns->port;
    kite_namesrv_schedule_scan(ns);
    KLOG_INFO("namesrv", "listening on %s:%d (broker expiry %lld ms, tls.server.mode=%s)",
              ns->cfg.bind_address, ns->port, (long long)ns->cfg.broker_expire_millis,
              ns->cfg.tls.server_mode);
    return 0;
}

int kite_namesrv_tls_setup(kite_namesrv *ns, char *err, size_t errlen)
{
    if (kite_tls_conf_mode(&ns->cfg.tls) == KITE_TLS_DISABLED) return 0;
    ns->tls = kite_tls_server_new(&ns->cfg.tls, err, errlen);
    return ns->tls ? 0 : KITE_EINVAL;
}

void kite_namesrv_stop(kite_namesrv *ns)
{
    if (ns->scan_timer) kite_ev_timer_cancel(ns->ev, ns->scan_timer);
    ns->scan_timer = NULL;
    ns_acl_stop(ns);
    if (ns->srv) kite_rpc_server_free(ns->srv);
    ns->srv = NULL;
    ns_routes_free(&ns->routes);
    kite_tls_ctx_free(ns->tls);
    ns->tls = NULL;
}
