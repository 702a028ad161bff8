/* kite/producer.h - the libkite producer: sends messages to RocketMQ-compatible
 * brokers found through name servers.
 *
 * Owns: the producer API: options, lifecycle, sync / async / oneway / selector / batch
 * sends, and the send result.
 *
 * What a producer does (docs/wire.md §12.2, §12.3): it asks a name server for the route
 * of each topic it sends to (standard JSON asked, both JSON forms read), refreshes the
 * routes every poll_namesrv_interval_ms and whenever a send fails, and switches name
 * server when one does not answer or fails (the first one is chosen at random). A topic the
 * name servers do not know is sent through the route of create_topic_key (TBW102) so
 * that brokers with autoCreateTopicEnable create it. Sends go to master brokers (id 0)
 * only. Queues are chosen round robin; after a failure the next attempt prefers a queue
 * on another broker, and every send avoids that broker for fault_avoid_ms while another
 * broker of the route is usable (it is used again once that time has passed, or when no
 * other broker is left, and at once after it answers a send). Sync and async
 * sends are retried (retry_times / async_retry_times more attempts) after connection
 * failures, timeouts of a single attempt with time left, and the broker answers Java
 * retries on (1 SYSTEM_ERROR, 2 SYSTEM_BUSY, 14, 16, 17, 204, 205, 1500). Answers
 * FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and SLAVE_NOT_AVAILABLE mean the message IS
 * stored: they are reported as the send status and never resent. Bodies of single
 * messages at or above compress_threshold are zlib-compressed (sysFlag 0x301).
 * The producer announces its group to the master brokers of its routes (HEART_BEAT,
 * about a second after it first uses one, then every 30 s) so that brokers can reach
 * it; transaction producers (kite/transaction.h) need this for check-backs.
 *
 * THREADS (read this)
 * - Each started producer owns one I/O thread. It does all network I/O, the route
 *   refresh timer, and runs EVERY callback of this producer (kite_send_cb,
 *   kite_queue_selector runs on the calling thread instead - see below).
 * - All kite_producer_send* calls are safe from any number of application threads at
 *   once, on the same producer.
 * - From inside a send callback you may call kite_producer_send_async and
 *   kite_producer_send_oneway (they do not block), and any kite_message call. You must
 *   NOT call the blocking calls there: kite_producer_send, kite_producer_send_selected,
 *   kite_producer_send_batch return KITE_EINVAL on the I/O thread, and
 *   kite_producer_shutdown / kite_producer_destroy must not be called from it (they
 *   wait for that thread). Callbacks must not block: the I/O thread serves every send.
 * - The selector of kite_producer_send_selected runs on the calling thread, before the
 *   call returns.
 *
 * OWNERSHIP
 * - Options strings are copied at kite_producer_create.
 * - Messages stay the caller's; see kite/message.h (a send copies what it needs).
 * - kite_send_result is caller memory (sync) or library memory valid only during the
 *   callback (async); all its strings are inline arrays.
 */
#ifndef KITE_PRODUCER_H
#define KITE_PRODUCER_H

#include "kite/credentials.h"
#include "kite/message.h"
#include "kite/tls.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kite_producer kite_producer;

typedef struct kite_producer_opts {
    const char *namesrv_addr;     /* "host:port;host:port" (required) */
    int send_timeout_ms;          /* whole send including retries; default 3000 */
    int retry_times;              /* extra attempts of a sync send (retryTimesWhenSendFailed); 2 */
    int async_retry_times;        /* extra attempts of an async send; 2 */
    size_t compress_threshold;    /* compress bodies >= this (bytes); default 4096; 0 = never */
    int compress_level;           /* zlib level 1..9; default 5 (as Java) */
    size_t max_message_size;      /* refuse larger bodies; default 4 MiB */
    int default_topic_queue_nums; /* queues of an auto-created topic; default 4 */
    const char *create_topic_key; /* template topic for auto-creation; default "TBW102" */
    int poll_namesrv_interval_ms; /* route refresh period; default 30000 */
    int max_in_flight;  /* async sends in flight before send_async blocks; default 10000 */
    int fault_avoid_ms; /* after a failed attempt, avoid that broker for this long while
                           another one is usable (Java's sendLatencyFaultEnable, simplified);
                           default 10000; 0 = off */
    kite_tls_opts tls;  /* TLS to name servers and brokers (kite/tls.h); default off */
    kite_credentials credentials; /* sign requests as this account (kite/credentials.h); none */
} kite_producer_opts;

/* Fills o with the defaults above (namesrv_addr NULL). Always call it first: new
 * fields may be added at the end in later versions and get their defaults here. */
void kite_producer_opts_init(kite_producer_opts *o);

/* Status of a send that the broker accepted (the call returned KITE_OK). The last
 * three mean the message IS stored but not yet as durable as the broker is configured
 * to make it; the producer never resends them (that would duplicate the message). */
typedef enum kite_send_status {
    KITE_SEND_OK = 0,
    KITE_SEND_FLUSH_DISK_TIMEOUT = 1,  /* SYNC_FLUSH broker did not flush in time */
    KITE_SEND_FLUSH_SLAVE_TIMEOUT = 2, /* SYNC_MASTER: the slave did not confirm in time */
    KITE_SEND_SLAVE_NOT_AVAILABLE = 3, /* SYNC_MASTER without a healthy slave */
} kite_send_status;

const char *kite_send_status_name(kite_send_status s); /* "SEND_OK", ... */

#define KITE_ID_MAX   57  /* 56 hex characters (IPv6 ids) + NUL */
#define KITE_NAME_MAX 128 /* broker names and topics are at most 127 bytes */

typedef struct kite_send_result {
    kite_send_status status;         /* valid when the send returned KITE_OK */
    char msg_id[KITE_ID_MAX];        /* UNIQ_KEY of the message (batch: of the first one) */
    char offset_msg_id[KITE_ID_MAX]; /* store host + commit-log offset (batch: first message) */
    char broker_name[KITE_NAME_MAX]; /* where it was stored */
    int queue_id;
    int64_t queue_offset; /* consume-queue offset (batch: of the first message) */
    int count;            /* messages stored: 1, or the batch size */
    int attempts;         /* tries made, 1 + retries */
    int broker_code;      /* failure: last broker answer code (0 = none/local) */
    char error[256];      /* failure: what went wrong, with server and reason */
} kite_send_result;

/* A queue of a topic as the selector sees it (borrowed; valid during the selector call). */
typedef struct kite_mq {
    const char *topic;
    const char *broker_name;
    int queue_id;
} kite_mq;

/* Picks the queue for msg: returns an index in [0, n). A value outside that range
 * fails the send with KITE_EINVAL. Runs on the thread that called the send. */
typedef int (*kite_queue_selector)(const kite_mq *queues, size_t n, const kite_message *msg,
                                   void *arg);

/* Built-in selector for ordered messages: arg is a NUL-terminated sharding key; the
 * queue is hash(key) mod n, so one key always lands on the same queue while the route
 * is unchanged. */
int kite_select_by_key(const kite_mq *queues, size_t n, const kite_message *msg, void *arg);

/* Async completion: called exactly once per kite_producer_send_async call that
 * returned KITE_OK, on the producer's I/O thread. status is KITE_OK (then res->status
 * tells how durable) or a failure code (res->error says why). res is valid only during
 * the call. */
typedef void (*kite_send_cb)(int status, const kite_send_result *res, void *arg);

/* Creates a producer of group (copied) with opts (NULL = defaults, which lack a name
 * server and so fail). *out is set on success; destroy with kite_producer_destroy. */
int kite_producer_create(kite_producer **out, const char *group, const kite_producer_opts *opts);
/* Starts the I/O thread. No network traffic happens until the first send. A producer
 * can be started again after kite_producer_shutdown. */
int kite_producer_start(kite_producer *p);
/* Stops accepting sends (they return KITE_ESTOPPED), waits up to send_timeout_ms for
 * async sends in flight to complete, fails the rest with KITE_ECLOSED (their callbacks
 * may then run on the calling thread), closes connections and joins the I/O thread.
 * Idempotent. Not from a callback. */
int kite_producer_shutdown(kite_producer *p);
/* Shuts down if needed and frees everything. NULL is fine. Not from a callback. */
void kite_producer_destroy(kite_producer *p);

/* Synchronous send: blocks until stored, failed, or send_timeout_ms passed. res may be
 * NULL. Returns KITE_OK (see res->status) or a failure. */
int kite_producer_send(kite_producer *p, kite_message *msg, kite_send_result *res);
/* Asynchronous send. Returns KITE_OK when the send was started: cb then runs exactly
 * once. Any other return means cb will NOT run. Blocks only while max_in_flight sends
 * are in flight (never on the I/O thread: there it returns KITE_EAGAIN instead). */
int kite_producer_send_async(kite_producer *p, kite_message *msg, kite_send_cb cb, void *arg);
/* Fire and forget: one attempt, no answer, no retry. KITE_OK means handed to the
 * network layer, not stored. */
int kite_producer_send_oneway(kite_producer *p, kite_message *msg);
/* Synchronous send to the queue the selector picks (ordered messages). One attempt,
 * no retry on another queue (that would break the order). */
int kite_producer_send_selected(kite_producer *p, kite_message *msg, kite_queue_selector sel,
                                void *sel_arg, kite_send_result *res);
/* Synchronous batch send of n messages (same topic, no delay level, total body size
 * within max_message_size): stored together on one queue with consecutive offsets.
 * Each message gets its own msg id (kite_message_msg_id). Not compressed. */
int kite_producer_send_batch(kite_producer *p, kite_message *const *msgs, size_t n,
                             kite_send_result *res);

/* The producer's group (borrowed, valid until destroy). */
const char *kite_producer_group(const kite_producer *p);
/* Async sends started and not yet completed. Thread-safe. */
size_t kite_producer_in_flight(const kite_producer *p);

#ifdef __cplusplus
}
#endif

#endif
