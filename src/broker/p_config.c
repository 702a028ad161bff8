/* p_config.c - UPDATE_BROKER_CONFIG (25). Refused (NO_PERMISSION) unless
 * remoteConfigUpdateEnable=true, and then only for keys that change behaviour, never
 * a path, port, address, file or identity: RocketMQ's CVE-2023-33246 came from letting
 * this request set such values. Updates are validated on a copy first (all or nothing),
 * apply at once, are logged, and are not written back to broker.conf. Loop thread. */
#include "base/log.h"
#include "base/time.h"
#include "broker/broker.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const safe_keys[] = {
    "brokerPermission",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "defaultTopicQueueNums",
    "longPollingEnable",
    "shortPollingTimeMills",
    "notifyConsumerIdsChangedEnable",
    "rejectTransactionMessage",
    "enablePropertyFilter",
    "maxTransferBytesOnMessageInMemory",
    "maxTransferCountOnMessageInMemory",
    "slaveReadEnable",
    "flushConsumerOffsetInterval",
    "channelExpiredTimeout",
    "traceOn",
    "logLevel",
    NULL,
};

static int safe(const char *k)
{
    for (int i = 0; safe_keys[i]; i++)
        if (strcmp(safe_keys[i], k) == 0) return 1;
    return 0;
}

static void h_update_config(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    if (!b->cfg.remote_config_update_enable) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                     "refused UPDATE_BROKER_CONFIG from %s: remote config update is disabled",
                     kite_conn_peer(req->conn));
        kite_rpc_reply_code(
            req, RS_NO_PERMISSION,
            "updating the broker config over the network is disabled; set remoteConfigUpdateEnable=true in broker.conf to allow the safe keys");
        return;
    }
    if (!bk_admin_allowed(b, req)) return;
    kite_props p;
    kite_props_init(&p);
    kite_props_parse(&p, (const char *)req->cmd.body, req->cmd.body_len);
    kite_buf bad = KITE_BUF_INIT;
    for (size_t i = 0; i < p.count; i++)
        if (!safe(p.keys[i])) kite_buf_printf(&bad, "%s%s", bad.len ? ", " : "", p.keys[i]);
    char remark[600];
    if (bad.len) {
        snprintf(remark, sizeof remark,
                 "refused: these keys cannot be changed over the network: %.450s",
                 kite_buf_cstr(&bad));
        kite_buf_free(&bad);
        kite_props_free(&p);
        static kite_log_limit lim = KITE_LOG_LIMIT_INIT; /* a peer may repeat it */
        kite_log_limited(&lim, KITE_LOG_WARN, "broker", "UPDATE_BROKER_CONFIG from %s %s",
                         kite_conn_peer(req->conn), remark);
        kite_rpc_reply_code(req, RS_NO_PERMISSION, remark);
        return;
    }
    kite_buf_free(&bad);
    for (size_t i = 0; i < p.count; i++) {
        bk_conf probe;
        memset(&probe, 0, sizeof probe);
        kite_config_defaults(b->props, &probe);
        int r = kite_config_set(b->props, &probe, p.keys[i], p.values[i], remark, sizeof remark);
        kite_config_free(b->props, &probe);
        if (r != 0) {
            kite_props_free(&p);
            kite_rpc_reply_code(req, RS_INVALID_PARAMETER, remark);
            return;
        }
    }
    int perm_changed = 0;
    for (size_t i = 0; i < p.count; i++) {
        kite_config_set(b->props, &b->cfg, p.keys[i], p.values[i], remark, sizeof remark);
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker", "config %s=%s set by %s", p.keys[i],
                     p.values[i], kite_conn_peer(req->conn));
        if (strcmp(p.keys[i], "brokerPermission") == 0) perm_changed = 1;
        if (strcmp(p.keys[i], "logLevel") == 0) {
            int lvl = kite_log_parse_level(p.values[i]);
            if (lvl >= 0) kite_log_set_level((kite_log_level)lvl);
        }
    }
    kite_props_free(&p);
    if (perm_changed) {
        /* Name servers refresh queue data only when the topic data version changes. */
        b->topics_dv.counter++;
        b->topics_dv.timestamp = kite_wall_ms();
        bk_save_topics(b);
        bk_register_soon(b);
    }
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

void bk_register_config_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_UPDATE_BROKER_CONFIG, h_update_config, b);
}
