/* instance.h - the client instance behind one producer (later: consumers): the RPC
 * client with its I/O thread, the name-server list with failover, and the topic route
 * cache with its 30 s refresh (docs/wire.md §4.3 GET_ROUTEINFO_BY_TOPIC, §2.2, §12.2).
 *
 * Owns: the kite_rpc_client (and so the I/O thread), the name-server addresses and
 * which one is current, the table topic -> publish route (refcounted immutable
 * snapshots), the refresh timer.
 * Not owned: queue choice and sends (producer.c).
 * Threads: kite_inst_route_fetch and kite_inst_route_cached are safe from any thread;
 * fetch callbacks run on the I/O thread. kite_inst_route_get blocks and must not be
 * called on the I/O thread (KITE_EINVAL). The route table is guarded by a mutex; a
 * snapshot is immutable once published, so readers use it without the lock. */
#ifndef KITE_CLIENT_INSTANCE_H
#define KITE_CLIENT_INSTANCE_H

#include "kite/producer.h"
#include "proto/bodies.h"
#include "rpc/client.h"
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kite_inst kite_inst;

typedef struct kite_inst_opts {
    const char *namesrv_addr;     /* "a:p;b:p" */
    int rpc_timeout_ms;           /* name-server call timeout */
    int poll_interval_ms;         /* route refresh period */
    const char *create_topic_key; /* TBW102 */
    int default_topic_queue_nums; /* queue cap of routes derived from TBW102 */
    const kite_tls_opts *tls;     /* NULL or enable 0: plain connections */
    kite_credentials cred;        /* plain-ACL account every request is signed with; none */
} kite_inst_opts;

/* A topic's publish route: the writable queues (sorted by broker name, then id) and the
 * master address of each broker. Immutable; release with kite_pub_route_release. */
typedef struct kite_pub_route {
    atomic_int refs;
    char *topic;
    int via_default;    /* derived from create_topic_key: the topic does not exist yet */
    int64_t fetched_ms; /* monotonic time of the fetch */
    size_t n_mq;
    kite_mq *mqs;       /* topic points to ->topic, broker_name into rd */
    kite_route_data rd; /* the decoded route body (owns the strings) */
} kite_pub_route;

void kite_pub_route_release(kite_pub_route *r);
/* Master (id 0) address of broker_name in the route, or NULL. Borrowed from r. */
const char *kite_pub_route_master(const kite_pub_route *r, const char *broker_name);

/* status KITE_OK with a route (the callback gets its own reference: release it), or a
 * failure with route NULL and a reason in err. Runs on the I/O thread (or on the
 * caller's thread when the fetch fails before any network call). */
typedef void (*kite_route_cb)(int status, kite_pub_route *route, const char *err, void *arg);

/* Parses the address list and copies the credentials; NULL with a reason in err when the
 * list is empty or malformed or only one of access_key / secret_key is set. */
kite_inst *kite_inst_new(const kite_inst_opts *o, char *err, size_t errlen);
/* Starts the RPC client (I/O thread) and the refresh timer. */
int kite_inst_start(kite_inst *in);
/* Fails calls in flight (KITE_ECLOSED), stops the timer and the I/O thread. Not on the
 * I/O thread. The instance can be started again. */
void kite_inst_stop(kite_inst *in);
void kite_inst_free(kite_inst *in);
/* Closes every connection (name servers and brokers): calls in flight fail with
 * KITE_ECLOSED soon after. Thread-safe. */
void kite_inst_close_all(kite_inst *in);
kite_rpc_client *kite_inst_rpc(kite_inst *in);
int kite_inst_on_io_thread(kite_inst *in);

/* Cached route with a new reference, or NULL. */
kite_pub_route *kite_inst_route_cached(kite_inst *in, const char *topic);
/* Asks the name servers (current first, then the others) for topic's route; TOPIC_NOT_EXIST
 * falls back to create_topic_key's route. On success the cache is updated before cb.
 * cb may be NULL (refresh only). */
void kite_inst_route_fetch(kite_inst *in, const char *topic, kite_route_cb cb, void *arg);
/* Cached, or fetched now (blocking). *out gets a reference. */
int kite_inst_route_get(kite_inst *in, const char *topic, kite_pub_route **out, char *err,
                        size_t errlen);
/* Refreshes topic's route soon unless it was fetched within the last second (called
 * after failed sends so that a changed route is seen before the next poll). */
void kite_inst_route_stale(kite_inst *in, const char *topic);
/* Master (id 0) addresses of every broker in the cached routes, sorted and unique.
 * malloc'd array of malloc'd strings (free each, then the array); *n may be 0. Any
 * thread. */
char **kite_inst_master_addrs(kite_inst *in, size_t *n);
/* Current name server (for messages); borrowed, stable while the instance lives. */
const char *kite_inst_namesrv(kite_inst *in);

#endif
