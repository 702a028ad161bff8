/* bodies.h - typed JSON bodies of the name-server protocol: TopicRouteData,
 * ClusterInfo, DataVersion, TopicConfig, RegisterBrokerBody (plain and compressed),
 * KVTable, TopicList. docs/wire.md §2.1-§2.3, §2.7, §2.9, §2.11.
 *
 * Owns: encoding (always compact; fastjson key order, i.e. alphabetical; numeric map
 * keys bare unless standard JSON is asked for) and tolerant decoding. Decoded
 * strings live in the struct's arena; *_free releases them.
 * Not owned: the name server's tables (namesrv/routes.c builds these structs). */
#ifndef KITE_PROTO_BODIES_H
#define KITE_PROTO_BODIES_H

#include "base/arena.h"
#include "base/json.h"
#include "base/buf.h"
#include "base/err.h"
#include <stddef.h>
#include <stdint.h>

#define KITE_PERM_INHERIT  1
#define KITE_PERM_WRITE    2
#define KITE_PERM_READ     4
#define KITE_PERM_PRIORITY 8

typedef struct kite_queue_data {
    const char *broker_name;
    int32_t read_queue_nums, write_queue_nums, perm, topic_sys_flag;
} kite_queue_data;

typedef struct kite_broker_addr {
    int64_t id;
    const char *addr;
} kite_broker_addr;

typedef struct kite_broker_data {
    const char *cluster, *broker_name, *zone_name; /* zone_name NULL = absent */
    int has_acting_master, enable_acting_master;   /* 5.x field; written when has_ */
    size_t n_addrs;
    kite_broker_addr *addrs; /* sorted by id when encoding */
} kite_broker_data;

typedef struct kite_route_data {
    const char *order_topic_conf; /* NULL = absent */
    size_t n_queues;
    kite_queue_data *queues;
    size_t n_brokers;
    kite_broker_data *brokers;
    kite_arena arena;
} kite_route_data;

typedef struct kite_cluster_entry {
    const char *cluster;
    size_t n_names;
    const char **broker_names;
} kite_cluster_entry;

typedef struct kite_cluster_info {
    size_t n_brokers;
    kite_broker_data *brokers; /* brokerAddrTable, keyed by broker_name */
    size_t n_clusters;
    kite_cluster_entry *clusters; /* clusterAddrTable */
    kite_arena arena;
} kite_cluster_info;

typedef struct kite_data_version {
    int64_t timestamp, counter, state_version;
    int has_state_version;
} kite_data_version;

typedef struct kite_topic_config {
    const char *topic_name;
    int32_t read_queue_nums, write_queue_nums, perm, topic_sys_flag;
    const char *topic_filter_type; /* "SINGLE_TAG" / "MULTI_TAG" */
    int order;
} kite_topic_config;

typedef struct kite_register_body {
    kite_data_version dv;
    int has_dv;
    size_t n_topics;
    kite_topic_config *topics;
    size_t n_filter_servers;
    const char **filter_servers;
    kite_arena arena;
} kite_register_body;

/* Route. standard_json: quote numeric keys (clients with version >= 401 or
 * acceptStandardJsonOnly) and escape non-ASCII. */
void kite_route_encode(const kite_route_data *r, int standard_json, kite_buf *out);
/* Decoders here return 0, or KITE_ECORRUPT (message in err, where there is one) for a body
 * that does not decode. */
int kite_route_decode(kite_route_data *r, const char *text, size_t len, char *err, size_t errlen);
void kite_route_free(kite_route_data *r);

/* Broker data inside route and cluster bodies. */
void kite_broker_data_encode(kite_jw *w, const kite_broker_data *b, int quoted_keys);

void kite_cluster_encode(const kite_cluster_info *c, kite_buf *out); /* always bare keys */
int kite_cluster_decode(kite_cluster_info *c, const char *text, size_t len, char *err,
                        size_t errlen);
void kite_cluster_free(kite_cluster_info *c);

void kite_data_version_encode(const kite_data_version *dv, kite_buf *out);
int kite_data_version_decode(kite_data_version *dv, const char *text, size_t len);
int kite_data_version_equal(const kite_data_version *a, const kite_data_version *b);

/* RegisterBrokerBody: JSON (a bare TopicConfigSerializeWrapper is accepted too) or,
 * with compressed=1, the zlib form. Limits the inflated size to max_inflated (beyond it:
 * KITE_ETOOBIG). */
int kite_register_body_decode(kite_register_body *b, const uint8_t *body, size_t len,
                              int compressed, size_t max_inflated, char *err, size_t errlen);
void kite_register_body_free(kite_register_body *b);
void kite_register_body_encode(const kite_register_body *b, int compressed, kite_buf *out);

/* {"table":{"k":"v",...}} with keys in the given order. */
void kite_kv_table_encode(const char *const *keys, const char *const *vals, size_t n,
                          kite_buf *out);
/* {"brokerAddr":"..","topicList":[..]} (brokerAddr omitted when NULL). */
void kite_topic_list_encode(const char *const *topics, size_t n, const char *broker_addr,
                            kite_buf *out);

#endif
