/* kite/consumer.h - the libkite push consumer: subscribes a consumer group to topics,
 * pulls from the brokers with long polling and hands the messages to a listener on
 * its own worker threads. Also the received message (kite_message_ext), shared with
 * the pull consumer (kite/pull_consumer.h).
 *
 * Owns: the push consumer API: options, subscriptions, the concurrent listener,
 * lifecycle; the read-only received message.
 *
 * What a push consumer does (docs/wire.md §6, §7, §11.4, §12.4-§12.7):
 * - HEART_BEAT to every broker of the subscribed topics at start and every
 *   heartbeat_interval_ms (Java-shaped HeartbeatData; in CLUSTERING mode the retry
 *   topic %RETRY%<group> is subscribed with "*" automatically); UNREGISTER_CLIENT at
 *   shutdown. A subscription is a tag expression or an SQL92 expression
 *   (kite_push_consumer_subscribe_sql92); heartbeats and pulls carry its expressionType.
 * - Rebalance at start, every rebalance_interval_ms and at once when a broker sends
 *   NOTIFY_CONSUMER_IDS_CHANGED. CLUSTERING: GET_CONSUMER_LIST_BY_GROUP from one broker
 *   of the topic, then AllocateMessageQueueAveragely over the sorted queues and sorted
 *   client ids; BROADCASTING: every queue. A dropped queue commits its offset and its
 *   pulls stop; an assigned queue starts from the committed offset (QUERY_CONSUMER_OFFSET;
 *   none stored -> consume_from), in BROADCASTING from the local offset file
 *   <offset_store_dir>/<group>/<instance>/offsets.json (rewritten atomically). Two
 *   broadcasting consumers of one group on one host must differ in instance_name or
 *   offset_store_dir, or they share (and overwrite) one offset file.
 * - One long-poll PULL_MESSAGE in flight per assigned queue (the broker holds it up to
 *   suspend_timeout_ms); records are checked, decompressed, filtered again by tag, and
 *   retried messages get their original topic back. A queue whose cache exceeds
 *   pull_threshold_for_queue messages or pull_threshold_size_for_queue_mib is paused.
 * - Consumption: consume_threads workers call the listener with up to
 *   consume_batch_size messages of one queue. RECONSUME_LATER (CLUSTERING) returns the
 *   messages to the broker (CONSUMER_SEND_MSG_BACK, delay chosen by the broker; when
 *   that fails they are resent to %RETRY%<group> directly, and when that fails too they
 *   are consumed again locally 5 s later). After max_reconsume_times the broker moves
 *   them to %DLQ%<group>. In BROADCASTING, RECONSUME_LATER drops the messages (as Java).
 * - The committed offset of a queue is its lowest offset not yet consumed; it is sent
 *   with UPDATE_CONSUMER_OFFSET every persist_offset_interval_ms, when the queue is
 *   dropped, and at shutdown. Delivery is at least once: after a rebalance or a crash
 *   a few messages may come again.
 * - Requests from brokers: NOTIFY_CONSUMER_IDS_CHANGED (rebalance now),
 *   RESET_CONSUMER_CLIENT_OFFSET (queues restart from the given offsets),
 *   GET_CONSUMER_RUNNING_INFO (a small JSON report), CONSUME_MESSAGE_DIRECTLY (the
 *   listener runs on the given message; the answer says what it returned).
 *
 * ORDERLY CONSUMPTION (kite_push_consumer_set_orderly_listener; docs/wire.md §12.8)
 * - Each queue is consumed by at most one worker at a time, in queue-offset order,
 *   consume_batch_size messages per call; the offset of a queue only moves past
 *   messages the listener accepted. Different queues run in parallel.
 * - CLUSTERING: a queue is consumed only while this client holds its lock on the
 *   queue's broker (LOCK_BATCH_MQ). A newly assigned queue is locked first (not granted:
 *   not taken, tried again at the next rebalance); every queue is locked again every
 *   lock_interval_ms, 20 s (queues not granted stop being consumed and pulled until a
 *   later renewal is granted); a lock counts as expired lock_live_ms (30 s) after the
 *   last granted LOCK: from then on no message of the queue reaches the listener and
 *   no new pull is sent until the next lock_interval_ms renewal is granted (the broker
 *   keeps an unrenewed lock rebalanceLockMaxLiveTime, 60 s, then grants the queue to
 *   whoever asks, so a member that died holds its queues that long). A dropped queue is
 *   unlocked (UNLOCK_BATCH_MQ) once its listener call in progress has returned and its
 *   offset was committed; shutdown unlocks every queue. So while locks hold, a queue is
 *   consumed by one member of the group, in order. After a rebalance the new owner
 *   starts at the committed offset: messages may come again (at least once), but a
 *   consumer never sees a queue's messages out of order.
 * - SUSPEND_CURRENT_QUEUE_A_MOMENT: the same messages are handed again after
 *   suspend_current_queue_ms, before any later message of that queue, with
 *   reconsume_times raised by one each time. Once a message has reached
 *   max_reconsume_times it is sent to %DLQ%<group> (CONSUMER_SEND_MSG_BACK with
 *   delayLevel -1; when that fails, a resend to %RETRY%<group> that the broker routes
 *   to the DLQ) and counts as consumed; in BROADCASTING it is dropped instead.
 * - BROADCASTING: no broker locks; still one worker per queue at a time, in order.
 *
 * THREADS (read this)
 * - Each started consumer owns one I/O thread (network, timers, rebalance, pulls) and
 *   consume_threads worker threads. The listener runs ONLY on the worker threads, any
 *   number of calls at once (one batch each), for messages of different queues and also
 *   of the same queue: order is not kept (that is the orderly listener's job). The
 *   orderly listener also runs only on the workers, never twice at once for one queue.
 * - The listener may block (it holds one worker), may call any kite_producer_* or
 *   kite_message_* call and the kite_push_consumer_* getters; it must NOT call
 *   kite_push_consumer_shutdown / _destroy (they wait for the workers).
 * - create, subscribe, set_listener and start are for one application thread, before
 *   consumption starts; shutdown and destroy likewise from an application thread.
 *
 * OWNERSHIP
 * - Option strings, group, topics and expressions are copied.
 * - The messages given to the listener (and their strings and bodies) belong to the
 *   library and are valid only during that call; copy what you need to keep.
 */
#ifndef KITE_CONSUMER_H
#define KITE_CONSUMER_H

#include "kite/tls.h"
#include "kite/credentials.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the received message (push and pull consumers) ---- */

/* Read-only view of a consumed message. All pointers are borrowed (see the consumer
 * that gave it); strings are NUL-terminated; absent ones are NULL. New fields are only
 * added at the end (the library allocates the struct). */
typedef struct kite_message_ext {
    const char *topic;         /* original topic: retried messages carry it in RETRY_TOPIC */
    const char *tags;          /* TAGS property */
    const char *keys;          /* KEYS property */
    const char *msg_id;        /* UNIQ_KEY, or offset_msg_id when the producer set none */
    const char *offset_msg_id; /* store host + commit-log offset (32 or 56 hex characters) */
    const char *broker_name;   /* broker the message was pulled from */
    int32_t queue_id;          /* queue of the pulled topic (the retry topic for retries) */
    int64_t queue_offset;
    int64_t commit_log_offset;
    int32_t flag;            /* user flag */
    int32_t sysflag;         /* compression bit cleared once decompressed */
    int32_t reconsume_times; /* 0 for a first delivery, +1 per retry */
    int64_t born_timestamp;  /* producer wall clock, ms */
    int64_t store_timestamp; /* broker wall clock, ms */
    const void *body;        /* decompressed; followed by a NUL byte not counted in body_len */
    size_t body_len;
    size_t property_count;
} kite_message_ext;

/* Value of property name (NULL when absent). Borrowed like the message. */
const char *kite_message_ext_property(const kite_message_ext *m, const char *name);
/* Properties in stored order: returns KITE_ENOTFOUND (-9) past the end. Borrowed. */
int kite_message_ext_property_at(const kite_message_ext *m, size_t i, const char **name,
                                 const char **value);

/* ---- push consumer ---- */

typedef struct kite_push_consumer kite_push_consumer;

/* Numbers as Java's enum ordinals (they travel in heartbeats as names). */
typedef enum kite_message_model {
    KITE_BROADCASTING = 0, /* every member gets every message; offsets in a local file */
    KITE_CLUSTERING = 1,   /* the group shares the queues; offsets on the brokers */
} kite_message_model;

typedef enum kite_consume_from {
    KITE_CONSUME_FROM_LAST_OFFSET =
        0, /* new messages only (but see QUERY_CONSUMER_OFFSET on young queues) */
    KITE_CONSUME_FROM_FIRST_OFFSET = 4, /* the oldest message still stored */
    KITE_CONSUME_FROM_TIMESTAMP = 5, /* the first message stored at or after consume_timestamp_ms */
} kite_consume_from;

typedef enum kite_consume_status {
    KITE_CONSUME_SUCCESS = 0,
    KITE_RECONSUME_LATER = 1, /* the whole batch is delivered again later (retry topic) */
} kite_consume_status;

/* The concurrent listener: msgs[0..n-1] (n >= 1, at most consume_batch_size, all of
 * one queue). Runs on a worker thread; see THREADS above. */
typedef kite_consume_status (*kite_consume_cb)(const kite_message_ext *const *msgs, size_t n,
                                               void *arg);

/* Answers of the orderly listener (Java ConsumeOrderlyStatus). */
typedef enum kite_consume_orderly_status {
    KITE_ORDERLY_SUCCESS = 0,                /* consumed: the queue's offset moves past them */
    KITE_SUSPEND_CURRENT_QUEUE_A_MOMENT = 1, /* the queue pauses suspend_current_queue_ms, then
                                                 * the same messages come again, first */
} kite_consume_orderly_status;

/* The orderly listener: msgs[0..n-1] (n >= 1, at most consume_batch_size) are the next
 * messages of ONE queue in queue-offset order. Never two calls for one queue at once;
 * calls for different queues run in parallel on the workers. */
typedef kite_consume_orderly_status (*kite_consume_orderly_cb)(const kite_message_ext *const *msgs,
                                                               size_t n, void *arg);

typedef struct kite_push_consumer_opts {
    const char *namesrv_addr;         /* "host:port;host:port" (required) */
    kite_message_model message_model; /* default KITE_CLUSTERING */
    kite_consume_from consume_from;   /* where a queue without a committed offset starts; LAST */
    int64_t consume_timestamp_ms;     /* for FROM_TIMESTAMP (wall ms); 0 = 30 min before start */
    int consume_threads;              /* worker threads; default 20 (consumeThreadMin) */
    int consume_batch_size;           /* max messages per listener call; default 1 */
    int pull_batch_size;              /* max messages per pull; default 32 */
    int pull_threshold_for_queue;     /* pause a queue above this many cached messages; 1000 */
    int pull_threshold_size_for_queue_mib; /* ... or above this many MiB of cached bodies; 100 */
    int max_reconsume_times;               /* retries before the DLQ; default 16 */
    int persist_offset_interval_ms;        /* offset commit period; default 5000 */
    int heartbeat_interval_ms;             /* default 30000 */
    int rebalance_interval_ms;             /* default 20000 */
    int poll_namesrv_interval_ms;          /* route refresh; default 30000 */
    int suspend_timeout_ms;                /* long-poll hold asked of the broker; default 15000 */
    int pull_timeout_ms;          /* RPC timeout of a long poll (> suspend); default 30000 */
    int rpc_timeout_ms;           /* other calls; default 3000 */
    const char *offset_store_dir; /* BROADCASTING offsets; default $HOME/.kite_offsets */
    const char *instance_name;    /* client id is <ip>@<instance_name>; NULL = <pid>#<nanotime> */
    int suspend_current_queue_ms; /* orderly: pause after SUSPEND_CURRENT_QUEUE_A_MOMENT; 1000 */
    int lock_interval_ms;         /* orderly CLUSTERING: queue lock renewal; 20000 */
    /* Orderly CLUSTERING: a queue whose lock was last granted more than lock_live_ms ago
     * is not consumed (nor pulled) until a renewal is granted; 30000 (Java's
     * rocketmq.client.rebalance.lockMaxLiveTime). Must be > 0 (else create fails with
     * KITE_EINVAL) and should exceed lock_interval_ms, or consumption pauses between
     * renewals; keep it below the broker's rebalanceLockMaxLiveTime so this client
     * stops before another can be granted the queue. Added after lock_interval_ms:
     * always fill the options with kite_push_consumer_opts_init. */
    int lock_live_ms;
    kite_tls_opts tls;            /* TLS to name servers and brokers (kite/tls.h); default off */
    kite_credentials credentials; /* sign requests as this account (kite/credentials.h); none */
} kite_push_consumer_opts;

/* Fills o with the defaults above. Always call it first. */
void kite_push_consumer_opts_init(kite_push_consumer_opts *o);

/* Creates a consumer of group (copied; 1-255 characters). *out is set on success. */
int kite_push_consumer_create(kite_push_consumer **out, const char *group,
                              const kite_push_consumer_opts *opts);
/* Subscribes to topic with a tag expression: "*" (or NULL / "") for every message, or
 * tags joined by "||" ("TagA || TagB"). Subscribing to a topic again replaces its
 * expression. Before start only (KITE_ESTOPPED after). */
int kite_push_consumer_subscribe(kite_push_consumer *c, const char *topic, const char *expression);
/* Subscribes to topic with an SQL92 expression over the messages' properties (user
 * properties and TAGS, KEYS, ...), evaluated by the broker, e.g.
 * "region = 'eu' AND amount > 100"; Java's MessageSelector.bySql. The brokers must
 * run with enablePropertyFilter=true: at start every broker of the topic's route is
 * asked (CHECK_CLIENT_CONFIG) and one that refuses the expression (filtering off, or
 * a syntax error; reason in the log) makes kite_push_consumer_start fail with
 * KITE_ERR. A message the expression does not select (or evaluates to unknown, e.g.
 * a missing property) is never delivered. Replaces an earlier expression of the
 * topic like kite_push_consumer_subscribe; KITE_EINVAL for an empty expression.
 * Before start only (KITE_ESTOPPED after). */
int kite_push_consumer_subscribe_sql92(kite_push_consumer *c, const char *topic,
                                       const char *expression);
/* The concurrent listener (this or the orderly one is required before start; the
 * last one set wins). */
int kite_push_consumer_set_listener(kite_push_consumer *c, kite_consume_cb cb, void *arg);
/* The orderly listener (see ORDERLY CONSUMPTION above); replaces a concurrent one.
 * Before start only. */
int kite_push_consumer_set_orderly_listener(kite_push_consumer *c, kite_consume_orderly_cb cb,
                                            void *arg);
/* Starts the I/O thread and the workers, fetches the routes, sends the first heartbeats
 * and a rebalance. Returns once the routes are known (bounded by rpc_timeout_ms per
 * name server); consumption begins right after. A consumer starts once: after
 * shutdown, create a new one. */
int kite_push_consumer_start(kite_push_consumer *c);
/* Stops pulling, lets the listener calls in progress return (the messages not yet
 * handed to the listener are left for the next owner), commits every offset,
 * unregisters from the brokers and joins all threads. Idempotent. Not from a listener. */
int kite_push_consumer_shutdown(kite_push_consumer *c);
/* Shuts down if needed and frees everything. NULL is fine. Not from a listener. */
void kite_push_consumer_destroy(kite_push_consumer *c);

/* Getters: borrowed, valid until destroy. Safe from any thread. */
const char *kite_push_consumer_group(const kite_push_consumer *c);
const char *kite_push_consumer_client_id(const kite_push_consumer *c);
/* Queues currently assigned to this consumer (all topics, retry topic included). */
size_t kite_push_consumer_queue_count(const kite_push_consumer *c);

#ifdef __cplusplus
}
#endif

#endif
