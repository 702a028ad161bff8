/* namesrv.h - the name server: configuration, lifecycle, and its request handlers.
 *
 * Owns: the route tables (routes.h), the RPC server, the expiry timer, the KV file.
 * Threads: one. Every handler, timer and connection callback runs on the loop thread,
 * so the tables need no locks; a name server answers from memory only (the KV file
 * is written on change, synchronously, which is rare and small). */
#ifndef KITE_NAMESRV_NAMESRV_H
#define KITE_NAMESRV_NAMESRV_H

#include "base/props.h"
#include "namesrv/routes.h"
#include "net/ev.h"
#include "net/tls.h"
#include "rpc/server.h"

typedef struct ns_config {
    int32_t listen_port;
    char *bind_address;
    char *kv_config_path;
    int order_message_enable;
    int return_order_topic_config_to_broker;
    int enable_all_topic_list;
    int enable_topic_list;
    int64_t broker_expire_millis;
    int64_t scan_not_active_broker_interval;
    int32_t server_channel_max_idle_time_seconds;
    int64_t max_frame_size;
    kite_rpc_limits_conf limits; /* serverMax* / server*Timeout* (rpc/server.h) */
    char *log_file;
    char *log_level;
    int remote_config_update_enable;
    kite_tls_conf tls;   /* tls.server.* keys */
    int acl_enable;      /* plain ACL on the write codes (acl.c) */
    char *rocketmq_home; /* ACL files under <rocketmqHome>/conf (else ROCKETMQ_HOME) */
    char *acl_file;      /* KiteMQ: the one ACL file, instead of rocketmqHome's */
} ns_config;

extern const kite_prop_def kite_namesrv_props[];
/* Keys UPDATE_NAMESRV_CONFIG may change when remoteConfigUpdateEnable=true. */
extern const char *const kite_namesrv_remote_keys[];

typedef struct kite_namesrv {
    ns_config cfg;
    ns_routes routes;
    kite_ev *ev;
    kite_rpc_server *srv;
    kite_ev_timer *scan_timer;
    int port;
    kite_tls_ctx *tls;  /* server TLS context (tls.server.mode != disabled), else NULL */
    struct ns_acl *acl; /* NULL: ACL off */
} kite_namesrv;

/* Plain ACL (acl.c): with aclEnable=true loads the accounts (KITE_EINVAL with the reason
 * when there is none or a file does not parse) and reloads them on change; install puts
 * the guard on ns->srv. ns_acl_guarded: 1 for the codes that need an admin account. */
int ns_acl_start(kite_namesrv *ns, char *err, size_t errlen);
void ns_acl_install(kite_namesrv *ns);
void ns_acl_stop(kite_namesrv *ns);
int ns_acl_guarded(int code);

/* Builds the TLS context when tls.server.mode (settled: kite_tls_conf_settle) is not
 * disabled. 0, or KITE_EINVAL with err naming the key and the file. */
int kite_namesrv_tls_setup(kite_namesrv *ns, char *err, size_t errlen);

/* Loads the KV file and starts listening. Returns 0 or a kite_status (reason in err). */
int kite_namesrv_start(kite_namesrv *ns, kite_ev *ev, char *err, size_t errlen);
void kite_namesrv_stop(kite_namesrv *ns);
/* Registers every request handler (p_ns.c). */
void kite_namesrv_register_handlers(kite_namesrv *ns);
/* (Re)arms the broker expiry scan with the configured scanNotActiveBrokerInterval. */
void kite_namesrv_schedule_scan(kite_namesrv *ns);
/* Persists the KV table; returns 0, or logs and returns a kite_status. */
int kite_namesrv_save_kv(kite_namesrv *ns);

#endif
