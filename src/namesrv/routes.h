/* routes.h - the name server's state: clusters, broker groups, topics' queue data,
 * live brokers, and the KV configuration.
 *
 * Owns: every table below (all strings copied). Everything is in memory and rebuilt
 * from broker registrations, except KV config, which the caller persists
 * (ns_kv_encode / ns_kv_load). docs/wire.md §4.1 and §4.5 describe the semantics.
 *   topics:   topic -> (brokerName -> queue data)
 *   brokers:  brokerName -> {cluster, brokerId -> addr}
 *   clusters: cluster -> set of brokerName
 *   live:     brokerAddr -> {last registration, timeout, data version, connection, HA addr}
 *   kv:       namespace -> key -> value
 * Threads: none of its own; the name server touches it only on its loop thread. */
#ifndef KITE_NAMESRV_ROUTES_H
#define KITE_NAMESRV_ROUTES_H

#include "base/buf.h"
#include "base/map.h"
#include "proto/bodies.h"
#include <stdint.h>

typedef struct ns_routes {
    kite_map topics;   /* topic -> kite_map* (brokerName -> ns_queue*) */
    kite_map brokers;  /* brokerName -> ns_broker* */
    kite_map clusters; /* cluster -> kite_map* (brokerName -> (void*)1) */
    kite_map live;     /* brokerAddr -> ns_live* */
    kite_map kv;       /* namespace -> kite_map* (key -> char*) */
} ns_routes;

typedef struct ns_register_req {
    const char *cluster, *broker_name, *broker_addr, *ha_addr, *zone_name;
    int64_t broker_id;
    int64_t timeout_ms; /* liveness timeout for this broker */
    uint64_t conn_id;   /* connection it registered on (0 = none) */
    int enable_acting_master, has_acting_master;
    const kite_register_body *body;
} ns_register_req;

typedef struct ns_register_result {
    char master_addr[128]; /* empty unless a slave whose master is live */
    char ha_addr[128];
} ns_register_result;

void ns_routes_init(ns_routes *r);
void ns_routes_free(ns_routes *r);

void ns_register(ns_routes *r, const ns_register_req *req, int64_t now_ms, ns_register_result *res);
/* Removes one broker address (UNREGISTER_BROKER). Returns 1 if it was known. */
int ns_unregister(ns_routes *r, const char *cluster, const char *broker_addr,
                  const char *broker_name, int64_t broker_id);
/* Removes every broker registered over this connection; returns how many. */
int ns_remove_by_conn(ns_routes *r, uint64_t conn_id);
/* Removes brokers whose registration is older than their timeout; returns how many. */
int ns_scan_expired(ns_routes *r, int64_t now_ms);
/* Refreshes liveness only; returns 0 if the broker is known, else KITE_ENOTFOUND. */
int ns_touch(ns_routes *r, const char *broker_addr, int64_t now_ms);
/* QUERY_DATA_VERSION: *changed = stored version differs (or unknown); stored copied
 * into *stored when known (returns 1 then). Refreshes liveness when unchanged. */
int ns_query_data_version(ns_routes *r, const char *broker_addr, const kite_data_version *dv,
                          int64_t now_ms, int *changed, kite_data_version *stored);

/* Route body for a topic; KITE_ENOTFOUND when the topic has no queue or broker data. */
int ns_route_json(const ns_routes *r, const char *topic, int standard_json, const char *order_conf,
                  kite_buf *out);
void ns_cluster_json(const ns_routes *r, kite_buf *out);
/* Sorted topic names; filter: 0 all, 1 unit topics, 2 has-unit-sub, 3 has-unit-sub and not unit. */
void ns_topic_list_json(const ns_routes *r, int filter, kite_buf *out);
/* Topics served by brokers of one cluster. */
void ns_topics_by_cluster_json(const ns_routes *r, const char *cluster, kite_buf *out);
/* System "topics": cluster and broker names, as Java answers code 304. */
void ns_system_topics_json(const ns_routes *r, kite_buf *out);
/* BrokerMemberGroup body (901). */
void ns_member_group_json(const ns_routes *r, const char *cluster, const char *broker_name,
                          kite_buf *out);
/* Write permission of every queue data of a brokerName: wipe (clear WRITE) or add
 * (perm = READ|WRITE). Returns the number of topics touched. */
int ns_set_write_perm(ns_routes *r, const char *broker_name, int add);
/* Deletes a topic (only queue data of brokers in cluster when cluster != NULL). */
int ns_delete_topic(ns_routes *r, const char *topic, const char *cluster);
/* REGISTER_TOPIC_IN_NAMESRV: merge queue data into a topic. -1 (nothing merged) when
 * an entry names a broker that is not registered. */
int ns_merge_topic(ns_routes *r, const char *topic, const kite_queue_data *qs, size_t n);

/* KV config. */
void ns_kv_put(ns_routes *r, const char *ns, const char *key, const char *value);
const char *ns_kv_get(const ns_routes *r, const char *ns, const char *key);
int ns_kv_delete(ns_routes *r, const char *ns, const char *key);
/* {"table":{..}} of one namespace; KITE_ENOTFOUND when the namespace does not exist. */
int ns_kv_table_json(const ns_routes *r, const char *ns, kite_buf *out);
/* {"configTable":{"ns":{"k":"v"}}} - the persisted form. */
void ns_kv_encode(const ns_routes *r, kite_buf *out);
/* Loads the persisted form; 0, or KITE_ECORRUPT when it is not JSON (message in err). */
int ns_kv_load(ns_routes *r, const char *text, size_t len, char *err, size_t errlen);

#endif
