/* kite/kite.h - libkite, the C client of KiteMQ and Apache RocketMQ (remoting protocol).
 * Include this one header; link with -lkite (shared) or libkite.a plus -lz -lssl -lcrypto
 * -lpthread -lm (static).
 *
 * Pieces:
 *   kite/status.h    status codes (0 = KITE_OK, negative = failure) and kite_strerror
 *   kite/message.h   kite_message: topic, tags, keys, properties, delay, body
 *   kite/producer.h  kite_producer: sync/async/oneway/ordered/batch sends
 *   kite/consumer.h  kite_push_consumer: subscriptions, concurrent listener, rebalance;
 *                    kite_message_ext (a received message)
 *   kite/pull_consumer.h kite_pull_consumer: queues, pull from an offset, commit offsets
 *   kite/transaction.h   transaction producer: half message, local transaction, commit/
 *                        rollback, answers to the brokers' checks
 *   kite/credentials.h   kite_credentials: the plain-ACL account requests are signed with
 *   kite/log.h       log level and the application's log callback (process-wide)
 *   kite/tls.h       kite_tls_opts: TLS to name servers and brokers (the opts' tls field)
 *
 * Conventions used in every header:
 * - Names start with kite_ / KITE_. Calls return int status unless stated otherwise.
 * - "copied" arguments may be freed when the call returns; "borrowed" results are
 *   valid for the time stated next to them; objects are freed with their _destroy call.
 * - Threads: each client object (producer, consumer) runs one I/O thread of its own, and its
 *   callbacks run there; the header of each client says what may be called from them.
 *   There is nothing to initialise: objects are independent. The only process-wide
 *   settings are the log level and log callback (kite/log.h).
 * - Out of memory: libkite, like the KiteMQ daemons, aborts the process (after logging
 *   "out of memory") when the heap is exhausted. No call reports heap exhaustion as an
 *   error, and KITE_ENOMEM never means it. An application that must outlive allocation
 *   failures should run libkite in a process of its own.
 *
 * Minimal program (examples/producer.c is the complete one):
 *     kite_producer_opts o;
 *     kite_producer_opts_init(&o);
 *     o.namesrv_addr = "127.0.0.1:9876";
 *     kite_producer *p;
 *     if (kite_producer_create(&p, "my-group", &o) || kite_producer_start(p)) ...
 *     kite_message *m = kite_message_new("TopicTest");
 *     kite_message_set_body(m, "hello", 5);
 *     kite_send_result r;
 *     int rc = kite_producer_send(p, m, &r);   // r.msg_id, r.queue_offset...
 *     kite_message_destroy(m);
 *     kite_producer_destroy(p);
 */
#ifndef KITE_KITE_H
#define KITE_KITE_H

#include "kite/status.h"
#include "kite/log.h"
#include "kite/message.h"
#include "kite/producer.h"
#include "kite/consumer.h"
#include "kite/pull_consumer.h"
#include "kite/transaction.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these headers; kite_version() gives the library's, built from the
 * same three numbers. */
#define KITE_VERSION_MAJOR 0
#define KITE_VERSION_MINOR 1
#define KITE_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library, e.g. "0.1.0" (static text; any thread). */
const char *kite_version(void);

#ifdef __cplusplus
}
#endif

#endif
