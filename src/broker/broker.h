/* broker.h - kite-broker: configuration, the broker object, and the internal API its
 * parts share (topics, subscription groups, consumer offsets, client channels, long
 * polling, name-server registration, request handlers).
 *
 * Threads: one event-loop thread runs every handler and owns every table below (no
 * locks). The store calls back from its own threads: put completions reply through
 * kite_rpc_reply (thread-safe); message arrivals are posted to the loop
 * (kite_ev_post) before they touch long-poll holds. */
#ifndef KITE_BROKER_BROKER_H
#define KITE_BROKER_BROKER_H

#include "base/map.h"
#include "base/props.h"
#include "net/ev.h"
#include "net/tls.h"
#include "proto/bodies.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "store/store.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct bk_conf {
    char *broker_cluster_name, *broker_name, *namesrv_addr, *broker_ip1;
    int64_t broker_id;
    int32_t listen_port, broker_permission;
    int64_t register_name_server_period, register_broker_timeout_mills;
    int compressed_register;
    int auto_create_topic_enable, cluster_topic_enable, broker_topic_enable,
        auto_create_subscription_group;
    int32_t default_topic_queue_nums;
    int long_polling_enable;
    int64_t short_polling_time_mills, flush_consumer_offset_interval, channel_expired_timeout;
    int notify_consumer_ids_changed_enable, reject_transaction_message, enable_property_filter,
        trace_on;
    int32_t server_channel_max_idle_time_seconds;
    int64_t max_frame_size;
    kite_rpc_limits_conf limits; /* serverMax* / server*Timeout* (rpc/server.h) */
    char *region_id, *message_delay_level, *log_file, *log_level;
    int32_t max_transfer_bytes_on_message_in_memory, max_transfer_count_on_message_in_memory;
    int slave_read_enable;                      /* pull answers may suggest a slave (p_pull.c) */
    int32_t access_message_in_memory_max_ratio; /* % of RAM; 0..100 */
    int admin_from_loopback_only;
    int remote_config_update_enable;
    char *bind_address;
    int64_t transaction_check_interval, transaction_timeout; /* ms (trans.c) */
    int32_t transaction_check_max;
    int64_t rebalance_lock_max_live_time; /* ms a queue lock lives unrenewed (p_lock.c) */
    /* replication (src/repl/, DESIGN.md "Replication"); settled by bk_conf_settle */
    char *broker_role;     /* ASYNC_MASTER | SYNC_MASTER | SLAVE (upper case once settled) */
    int is_slave;          /* brokerRole=SLAVE */
    int is_sync_master;    /* brokerRole=SYNC_MASTER */
    int64_t slave_timeout; /* SYNC_MASTER: ms a send waits for a slave */
    int64_t ha_slave_fallbehind_max; /* SYNC_MASTER: bytes; a slave further behind does not count */
    char *broker_ip2;                /* HA address advertised (default brokerIP1) */
    int32_t ha_listen_port;          /* master: default listenPort+1 */
    char *ha_bind_address;           /* master: default bindAddress (KiteMQ) */
    char *ha_master_address;         /* slave: pins the master's HA address */
    int64_t ha_send_heartbeat_interval, ha_housekeeping_interval; /* ms */
    int32_t ha_transfer_batch_size;                               /* bytes per frame */
    char *ha_auth_key_file;   /* a file holding the replication key (KiteMQ) */
    char *ha_tls_mode;        /* master: HA port disabled | permissive | enforcing (KiteMQ) */
    int ha_tls_enable;        /* slave: replicate over TLS (KiteMQ) */
    int ha_tls_verify_server; /* slave: check the master's certificate (KiteMQ) */
    int acl_enable;           /* plain ACL (acl.c) */
    char *rocketmq_home;      /* ACL files under <rocketmqHome>/conf (else ROCKETMQ_HOME) */
    char *acl_file;           /* KiteMQ: the one ACL file, instead of rocketmqHome's */
    kite_tls_conf tls;        /* tls.server.* (client port) and tls.enable / tls.client.* */
    char *inner_credentials;  /* JSON accessKey/secretKey this broker signs its own requests with */
    kite_store_conf store;
} bk_conf;

/* Topic configuration (topics.json). */
typedef struct bk_topic {
    char *name;
    int32_t read_queue_nums, write_queue_nums, perm, topic_sys_flag;
    int order;
    char filter_type[16];
    int64_t *st_put_nums, *st_put_size; /* bk_stat_ref counters, looked up on first send */
} bk_topic;

/* Subscription group configuration (subscriptionGroup.json). */
typedef struct bk_group {
    char *name;
    int consume_enable, consume_from_min_enable, consume_broadcast_enable,
        notify_consumer_ids_changed_enable;
    int32_t retry_queue_nums, retry_max_times;
    int64_t broker_id, which_broker_when_consume_slowly;
} bk_group;

/* One subscription of a consumer group (from HEART_BEAT). */
typedef struct bk_sub {
    char *topic, *sub_string, *expr_type;
    int64_t sub_version;
    int all; /* "*" or empty: no filtering */
    size_t ntags;
    int32_t *codes; /* Java hashes of the tags */
    char **tags;
    struct bk_filter *sql; /* expressionType SQL92: the parsed filter (filter.h) */
} bk_sub;

/* One client connection registered in a group. */
typedef struct bk_channel {
    kite_conn *conn; /* referenced */
    char *client_id;
    int32_t language, version;
    int64_t last_update_ms;
} bk_channel;

typedef struct bk_consumer_group {
    char *name;
    size_t nch, capch;
    bk_channel *ch;
    kite_map subs; /* topic -> bk_sub* */
    char consume_type[32], message_model[32], consume_from_where[64];
} bk_consumer_group;

typedef struct bk_producer_group {
    char *name;
    size_t nch, capch;
    bk_channel *ch;
} bk_producer_group;

typedef struct bk_hold bk_hold;
typedef struct bk_delay bk_delay;
typedef struct bk_locks bk_locks;
typedef struct bk_trans bk_trans;
typedef struct bk_acl bk_acl;

struct kite_ha_master;
struct kite_ha_slave;

typedef struct kite_broker {
    bk_conf cfg;
    struct kite_ha_master *ha_master; /* master: ships the commit log to slaves (repl/ha.h) */
    struct kite_ha_slave *ha_slave;   /* slave: appends the master's commit log */
    char ha_addr[128];           /* master: brokerIP2:haListenPort, advertised as haServerAddr */
    char master_addr[128];       /* slave: the master's address, from the name server (loop) */
    kite_ev_timer *t_slave_sync; /* slave: metadata copy (slave_sync.c) */
    kite_prop_def *props;        /* broker keys + store keys, built at start */
    kite_ev *ev;
    int kick_pending; /* a dispatch wake-up is deferred to the batch end (bk_store_prewrite) */
    kite_rpc_server *srv;
    kite_rpc_client *ns_client;
    /* TLS contexts (kite_broker_tls_setup): the client ports' server side when
     * tls.server.mode is not disabled; the name-server / master client when tls.enable. */
    kite_tls_ctx *tls_server, *tls_client;
    /* Replication over TLS (kite_broker_tls_setup): a master's server context when haTlsMode
     * is not disabled, a slave's client context when haTlsEnable; else NULL. */
    kite_tls_ctx *ha_tls;
    kite_store *store;
    char store_root[1024];
    char store_cl_dir[1024];
    /* Slave behind the master's retention (repl/ha.h on_behind): set on the replication
     * thread, which stops the loop; kite_broker_stop then sets the store aside into
     * aside_dir ("" when that failed) and main exits with KITE_BROKER_EXIT_RESTART. */
    _Atomic int restart_empty;
    char aside_dir[1200];
    char addr[128]; /* brokerIP1:listenPort - what clients use */
    uint8_t ip4[4];
    int port, vip_port;

    kite_map topics; /* name -> bk_topic* */
    kite_data_version topics_dv;
    int topics_dirty;
    kite_map groups; /* name -> bk_group* */
    kite_data_version groups_dv;
    kite_map offsets;       /* "topic@group" -> kite_map* ("qid" -> int64_t*) */
    kite_map slave_commits; /* slave: "topic@group#qid" committed to it by consumers */
    int offsets_dirty;
    kite_map consumers;                   /* group -> bk_consumer_group* */
    kite_map producers;                   /* group -> bk_producer_group* */
    kite_map holds;                       /* "topic@qid" -> bk_hold* (list head) */
    _Atomic int n_holds;                  /* held pulls; the dispatch thread skips posting when 0 */
    _Atomic int64_t put_total, get_total; /* messages stored / delivered since start */
    int64_t boot_ms;
    int64_t tps_put[61], tps_get[61]; /* per-second totals, ring (stats) */
    int tps_pos;
    kite_ev_timer *t_stats;
    pthread_mutex_t stats_mu; /* guards stat_items: sends complete on store threads */
    kite_map stat_items;      /* "STATSNAME@key" -> int64_t* total (VIEW_BROKER_STATS_DATA) */
    bk_delay *delay;          /* schedule service (delay.c) */
    bk_locks *locks;          /* ordered-consumer queue locks (p_lock.c) */
    bk_trans *trans;          /* resolved half messages, check-back service (trans.c) */
    bk_acl *acl;              /* plain ACL when aclEnable=true, else NULL (acl.c) */

    char **namesrvs;
    size_t n_namesrvs;
    int register_pending; /* an immediate registration is queued */
    kite_ev_timer *t_register, *t_offsets, *t_scan;
    /* Slave: registrations again soon until an answer names the master (register.c). */
    kite_ev_timer *t_find_master; /* one-shot, NULL when none is pending */
    int64_t find_master_ms;       /* its current delay */
    _Atomic int master_known;     /* set on the name-server client's thread */
} kite_broker;

extern const kite_prop_def kite_broker_props[];

/* conf.c */
kite_prop_def *bk_build_props(void);      /* broker + store keys, offsets into bk_conf */
#define BK_REGISTER_PERIOD_MIN_MS   10000 /* registerNameServerPeriod is kept in this range */
#define BK_REGISTER_PERIOD_MAX_MS   60000
#define BK_FLUSH_OFFSETS_DEFAULT_MS 5000  /* flushConsumerOffsetInterval when not positive */
#define BK_LOCK_LIVE_DEFAULT_MS     60000 /* rebalanceLockMaxLiveTime below the minimum */
#define BK_LOCK_LIVE_MIN_MS         1000
/* Turns configured values into the values in force, warning (log channel "config") about
 * each one changed: a master's brokerId becomes 0, an empty brokerIP1 the first
 * non-loopback IPv4 (127.0.0.1 if none), brokerIP2 brokerIP1, haListenPort listenPort+1,
 * haBindAddress bindAddress, out-of-range intervals their bound or default. Refuses (0 or
 * KITE_EINVAL with one line in err naming the key) what this build cannot do: an unknown
 * brokerRole, a slave with brokerId <= 0. Run once after loading,
 * before -p prints and before kite_broker_start. */
int bk_conf_settle(bk_conf *c, char *err, size_t errlen);
/* The replication TLS keys, once the tls.* keys are settled too (kite_tls_conf_settle:
 * tls.config.file may hold them): haTlsMode one of disabled / permissive / enforcing (lower
 * case once settled), and when it is not disabled on a master, tls.server.certPath and
 * keyPath (and tls.server.trustCertPath for need.client.auth) set. A key that has no effect
 * in this broker's role (haTlsMode on a slave, haTlsEnable on a master) is warned about, as
 * is a slave that will not check its master's certificate. 0 or KITE_EINVAL (err). */
int bk_conf_settle_ha_tls(bk_conf *c, char *err, size_t errlen);

/* broker.c */
/* kite-broker's exit status after a slave behind its master's retention set its store aside
 * (kite_store_set_aside): its supervisor restarts it, and it then copies from the master's
 * oldest retained offset (EX_TEMPFAIL). */
#define KITE_BROKER_EXIT_RESTART 75
/* Opens the store, loads the metadata, listens and registers: KITE_OK, or a status with
 * the reason in err. */
int kite_broker_start(kite_broker *b, kite_ev *ev, char *err, size_t errlen);
/* Builds the TLS contexts from the settled tls.* keys (before kite_broker_start). 0, or
 * KITE_EINVAL with err naming the key and the file. */
int kite_broker_tls_setup(kite_broker *b, char *err, size_t errlen);
void kite_broker_stop(kite_broker *b);
/* Persisting metadata files (atomic rewrite); KITE_OK, or logs and returns the status. */
int bk_save_topics(kite_broker *b);
int bk_save_groups(kite_broker *b);
int bk_save_offsets(kite_broker *b);

/* topics.c */
int bk_topics_load(kite_broker *b, char *err, size_t errlen);
bk_topic *bk_topic_get(kite_broker *b, const char *name);
/* Creates or replaces; bumps the data version, persists, registers at once. */
bk_topic *bk_topic_put(kite_broker *b, const char *name, int32_t rq, int32_t wq, int32_t perm,
                       int32_t sysflag, const char *filter_type, int order);
int bk_topic_delete(kite_broker *b, const char *name);
/* Valid topic name: [%|a-zA-Z0-9_-], 1..127 characters. */
int bk_topic_name_ok(const char *name);
int bk_topic_send_forbidden(const char *name);
void bk_topics_create_system(kite_broker *b);
/* The names of those system topics as a TopicList body (GET_SYSTEM_TOPIC_LIST_FROM_BROKER). */
void bk_topics_system_json(const kite_broker *b, kite_buf *out);
/* TopicConfigSerializeWrapper JSON (GET_ALL_TOPIC_CONFIG and registration). */
void bk_topics_wrapper_json(kite_broker *b, kite_buf *out);
/* A page of it: topics [seq, seq+max) in name order (max <= 0: all). */
void bk_topics_wrapper_json_page(kite_broker *b, int32_t seq, int32_t max, kite_buf *out);
/* One topic's TopicConfig JSON (GET_TOPIC_CONFIG); KITE_ENOTFOUND when there is none. */
int bk_topic_config_json(kite_broker *b, const char *name, kite_buf *out);
void bk_topics_free(kite_broker *b);
/* A slave takes its master's table (GET_ALL_TOPIC_CONFIG): when the data versions differ,
 * topics are created, updated and removed to match, the version is adopted and the file
 * saved. Returns 1 when something was adopted. */
int bk_topics_adopt(kite_broker *b, const kite_register_body *body);

/* groups.c */
int bk_groups_load(kite_broker *b, char *err, size_t errlen);
bk_group *bk_group_get(kite_broker *b, const char *name);
/* Existing group, or a new one with defaults when auto-creation is on (NULL otherwise). */
bk_group *bk_group_get_or_create(kite_broker *b, const char *name);
void bk_groups_free(kite_broker *b);
bk_group *bk_group_upsert(kite_broker *b, const char *name); /* no persistence */
/* A slave takes its master's SubscriptionGroupWrapper (GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
 * when the data versions differ, as bk_topics_adopt. Returns 1 when adopted. */
int bk_groups_adopt(kite_broker *b, const kite_json *root);
/* SubscriptionGroupConfig fields from JSON, Java's defaults for absent ones. */
void bk_group_from_json(bk_group *g, const kite_json *v);
void bk_groups_changed(kite_broker *b); /* bump version, persist */
int bk_group_delete(kite_broker *b, const char *name);
void bk_groups_json(kite_broker *b, kite_buf *out); /* SubscriptionGroupWrapper */
/* A page of it: groups [seq, seq+max) in name order (max <= 0: all). */
void bk_groups_json_page(kite_broker *b, int32_t seq, int32_t max, kite_buf *out);

/* offsets.c */
int bk_offsets_load(kite_broker *b, char *err, size_t errlen);
/* -1 when none is stored. */
int64_t bk_offset_get(kite_broker *b, const char *topic, const char *group, int32_t qid);
void bk_offset_set(kite_broker *b, const char *topic, const char *group, int32_t qid, int64_t off);
/* A consumer's commit (UPDATE_CONSUMER_OFFSET): bk_offset_set, and on a slave the queue is
 * remembered as committed here, so that the master's older value does not overwrite it. */
void bk_offset_commit(kite_broker *b, const char *topic, const char *group, int32_t qid,
                      int64_t off);
/* A slave takes its master's offset table (GET_ALL_CONSUMER_OFFSET body): every queue gets the
 * master's offset, except one a consumer committed to this slave since the last copy to a
 * larger offset (while the master was away): push(arg, ...) hands that one to the master
 * instead, which adopts it (once: a later copy takes the master's value again, so a reset
 * made on the master wins). Returns the number pushed. */
typedef void (*bk_offset_push_fn)(void *arg, const char *topic, const char *group, int32_t qid,
                                  int64_t off);
size_t bk_offsets_adopt(kite_broker *b, const kite_json *root, bk_offset_push_fn push, void *arg);
void bk_offsets_free(kite_broker *b);
void bk_offsets_json(kite_broker *b, kite_buf *out);
void bk_offsets_remove_group(kite_broker *b, const char *group);
void bk_offsets_remove_topic(kite_broker *b, const char *topic);
char **bk_offsets_topics_of(kite_broker *b, const char *group, size_t *n); /* free each + array */
char **bk_offsets_groups_of(kite_broker *b, const char *topic, size_t *n);

/* clients.c */
void bk_clients_init(kite_broker *b);
void bk_clients_free(kite_broker *b);
bk_consumer_group *bk_consumer_group_get(kite_broker *b, const char *group);
void bk_clients_on_close(kite_broker *b, kite_conn *conn);
void bk_clients_scan(kite_broker *b, int64_t now_ms);
/* Subscription of a group for a topic, or NULL. */
const bk_sub *bk_sub_find(kite_broker *b, const char *group, const char *topic);
/* Parses a TAG expression into a new bk_sub (NULL + err on a bad expression). */
bk_sub *bk_sub_parse(const char *topic, const char *expr, const char *type, int64_t version,
                     char *err, size_t errlen);
void bk_sub_free(bk_sub *s);
int bk_sub_match_code(const bk_sub *s, int64_t tag_code);
/* Exact tag check of a record (its TAGS property is one of the subscription's tags). */
struct kite_record;
int bk_sub_match_tag(const bk_sub *s, const struct kite_record *r);
/* NOTIFY_CONSUMER_IDS_CHANGED (oneway) to every member of g. A failed write closes that
 * member's connection at once, and the close may remove the group: g may be freed when
 * this returns. */
void bk_notify_ids_changed(kite_broker *b, bk_consumer_group *g);
/* A referenced copy of channels' connections (and languages). A loop that sends to a
 * group's members goes over such a copy: sending may close a connection at once (a failed
 * write), which removes its channels, reshuffles the array and may free the group. */
typedef struct bk_peer {
    kite_conn *conn;
    int32_t language;
} bk_peer;
bk_peer *bk_peers_copy(const bk_channel *ch, size_t n);
void bk_peers_free(bk_peer *p, size_t n);
/* HEART_BEAT: registers conn in the group; takes the subscriptions in subs (topic ->
 * bk_sub*) when they changed (subs is left empty then). *changed = members or
 * subscriptions changed. */
bk_consumer_group *bk_consumer_register(kite_broker *b, const char *group, kite_conn *conn,
                                        const char *client_id, int32_t lang, int32_t version,
                                        const char *consume_type, const char *model,
                                        const char *from_where, kite_map *subs, int *changed);
void bk_producer_register(kite_broker *b, const char *group, kite_conn *conn, const char *client_id,
                          int32_t lang, int32_t version);
void bk_clients_unregister(kite_broker *b, const char *client_id, const char *cg, const char *pg);

/* p_*.c handler registration */
void bk_register_send_handlers(kite_broker *b);
void bk_register_pull_handlers(kite_broker *b);
void bk_register_client_handlers(kite_broker *b);
void bk_register_admin_handlers(kite_broker *b);

/* p_pull.c: wake holds for (topic, qid) - loop thread. */
void bk_pull_on_arrival(kite_broker *b, const char *topic, int32_t qid, int64_t max_offset);
void bk_pull_free_holds(kite_broker *b);
void bk_pull_on_close(kite_broker *b, kite_conn *conn);

/* register.c */
void bk_register_all(kite_broker *b, int oneway);
/* Schedules an immediate registration (coalesced) - after topic changes. */
void bk_register_soon(kite_broker *b);
void bk_unregister_all(kite_broker *b);
/* A slave that no answer has named its master yet (the master registered after it, or
 * no name server answered) registers again after 1 s, then 2 s, 4 s... up to
 * registerNameServerPeriod, until one does - instead of waiting a whole period. No-op on
 * a master. Start at start-up, stop before the loop's timers go. Loop thread. */
void bk_find_master_start(kite_broker *b);
void bk_find_master_stop(kite_broker *b);

/* role.c: what a slave refuses (sends, END_TRANSACTION, admin writes), registered over
 * the ordinary handlers of those codes when brokerRole=SLAVE. */
void bk_register_slave_guards(kite_broker *b);

/* slave_sync.c: a slave copies its master's topics and subscription groups. */
void bk_slave_sync_start(kite_broker *b);
void bk_slave_sync_stop(kite_broker *b);
/* The master's address from a registration answer; any thread (posted to the loop). */
void bk_slave_master_addr(kite_broker *b, const char *addr);

/* delay.c */
/* Parses messageDelayLevel ("1s 5s 10m 2h ...") into at most max levels in ms: their
 * count, or KITE_EINVAL with err. */
int bk_delay_parse_levels(const char *spec, int64_t *out, int max, char *err, size_t errlen);
/* KITE_OK, or KITE_EINVAL with err (messageDelayLevel). */
int bk_delay_start(kite_broker *b, char *err, size_t errlen);
void bk_delay_stop(kite_broker *b);
int bk_delay_levels(const kite_broker *b);
/* The live progress of every level, {"offsetTable":{1:n,...}} (GET_ALL_DELAY_OFFSET and
 * config/delayOffset.json). */
void bk_delay_offsets_json(const kite_broker *b, kite_buf *out);
/* A slave takes its master's delay progress (GET_ALL_DELAY_OFFSET body) and saves it. */
void bk_delay_adopt(kite_broker *b, const kite_json *root);

/* p_retry.c, p_lock.c */
void bk_register_retry_handlers(kite_broker *b);
void bk_register_lock_handlers(kite_broker *b);
void bk_register_stats_handlers(kite_broker *b);        /* p_stats.c */
void bk_register_group_handlers(kite_broker *b);        /* p_group.c */
void bk_register_offset_admin_handlers(kite_broker *b); /* p_offset_admin.c */
void bk_register_config_handlers(kite_broker *b);
void bk_register_query_handlers(kite_broker *b);
void bk_stats_tick(kite_broker *b); /* once a second */
/* Adds n to a named statistic (TOPIC_PUT_NUMS, TOPIC_PUT_SIZE, GROUP_GET_NUMS, ...) for
 * key (topic, or topic@group). Thread-safe. */
void bk_stat_add(kite_broker *b, const char *name, const char *key, int64_t n);
/* The counter of one statistic, created at 0 when new. It stays valid until the broker
 * is freed: hot paths keep it and add with __atomic_fetch_add. */
int64_t *bk_stat_ref(kite_broker *b, const char *name, const char *key);
/* kite_store_put whose batch the loop's pre-write hook writes (p_common.c). */
void bk_store_put(kite_broker *b, const kite_store_msg *m, kite_put_cb cb, void *arg);
/* The loop's pre-write hook (kite_ev_set_prewrite): writes the staged puts. */
void bk_store_prewrite(void *arg);
/* A put of stored record r again under topic/qid with properties props: body, flag,
 * born host/time, reconsume times and prepared offset copied; IPv6 host bits cleared
 * (we store IPv4 hosts); wait = 0. Pointers reference r and props. */
struct kite_record;
void bk_msg_from_record(kite_store_msg *m, const struct kite_record *r, const char *topic,
                        int32_t qid, const kite_buf *props);
void bk_stats_free(kite_broker *b);
void bk_locks_free(kite_broker *b);

/* meta.c: metadata files under <storePathRootDir>/config/ and listing helpers. */
void bk_meta_path(const kite_broker *b, const char *name, char *out, size_t len);
/* Atomic rewrite of config/<name> with content (freed); KITE_OK, or logs and returns the
 * status (kite_file_write_atomic's). */
int bk_meta_write(kite_broker *b, const char *name, kite_buf *content);
/* Whole file; *text NULL when it does not exist (KITE_OK). Else a status with err. */
int bk_meta_read(kite_broker *b, const char *name, size_t max, char **text, size_t *len, char *err,
                 size_t errlen);
/* Parsed file; *doc NULL when missing or empty. A corrupt file is KITE_ECORRUPT with an
 * error that names it and ends with advice. */
int bk_meta_load_json(kite_broker *b, const char *name, size_t max, kite_json_doc **doc,
                      const char *advice, char *err, size_t errlen);
void bk_write_data_version(kite_jw *w, const kite_data_version *dv);
/* [from, to) of a page of n items starting at seq, at most max (max <= 0: all). */
void bk_page_bounds(size_t n, int32_t seq, int32_t max, size_t *from, size_t *to);
/* Code 0 with body and extFields total_key = total. */
void bk_reply_paged(kite_rpc_req *req, kite_buf *body, const char *total_key, size_t total);

/* Common reply helpers (p_common.c). */
/* The extField key of the request; NULL after answering SYSTEM_ERROR when it is missing. */
const char *bk_need(kite_rpc_req *req, const char *key);
/* The extField key as an integer: KITE_OK, or (after answering SYSTEM_ERROR)
 * KITE_ENOTFOUND when it is missing, KITE_EINVAL when it is not a number in range. */
int bk_need_i64(kite_rpc_req *req, const char *key, int64_t *out);
int bk_need_i32(kite_rpc_req *req, const char *key, int32_t *out);
void bk_reply_body(kite_rpc_req *req, int code, kite_buf *body);
/* Wraps stored records as output segments for a reply: each keeps its mapped-file
 * reference until the connection has written it. bk_seg_take takes over one segment's
 * reference; bk_segs_take takes every segment of gr (gr->count becomes 0) and returns a
 * malloc'd array of *n segments (free it after kite_rpc_reply_segs). */
void bk_seg_take(kite_seg *out, const kite_store_seg *s);
kite_seg *bk_segs_take(kite_get_result *gr, size_t *n);
/* Store timestamp of the message at a queue offset, or none when there is none. */
int64_t bk_store_time_at(kite_broker *b, const char *topic, int32_t qid, int64_t offset,
                         int64_t none);
/* Answers code with a formatted remark (no header fields, no body). */
void bk_replyf(kite_rpc_req *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Offset message id: store host + port + commit-log offset as 32 upper-case hex. */
void bk_offset_msg_id(const kite_broker *b, int64_t phys, char out[33]);
/* The commit-log offset inside an offset message id: KITE_OK, or KITE_EINVAL. */
int bk_decode_offset_msg_id(const char *id, int64_t *phys);
/* Writes a MessageQueue {brokerName (this broker), queueId, topic} as an object key, the
 * way fastjson keys a map by MessageQueue. */
void bk_jw_mq_key(kite_jw *w, const kite_broker *b, const char *topic, int32_t qid);
/* Admin codes that change state: allowed from loopback only while ACL is off, unless
 * adminFromLoopbackOnly=false; with ACL on, the ACL guard already required an admin
 * account (or a white-listed address). Answers NO_PERMISSION itself and returns 0 when
 * refused. */
int bk_admin_allowed(kite_broker *b, kite_rpc_req *req);

#endif
