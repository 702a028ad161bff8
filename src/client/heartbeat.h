/* heartbeat.h - HEART_BEAT (34) from producers: the producer group and the client id are
 * announced to every master broker of the producer's cached routes, so that a broker
 * can find a live connection of the group for CHECK_TRANSACTION_STATE (docs/wire.md
 * §5.6, §2.4, §12.4: producer-only clients heartbeat masters only).
 *
 * Owns: the client id of one producer, the set of broker addresses already greeted, and
 * two I/O-thread timers: a 1 s scan that greets brokers that appeared in the routes
 * (so a broker hears from us within about a second of our first use of it) and the
 * 30 s heartbeat to all of them.
 * Not owned: routes (instance.c), the RPC client.
 * Threads: kite_prod_hb_start/touch/stop from any thread; everything else runs
 * on the producer's I/O thread. kite_prod_hb_free only after the I/O thread stopped. */
#ifndef KITE_CLIENT_HEARTBEAT_H
#define KITE_CLIENT_HEARTBEAT_H

#include "client/instance.h"

typedef struct kite_prod_hb kite_prod_hb;

/* Starts heartbeats for group (copied) on the started instance in. warm_topic (copied,
 * may be NULL): a topic whose route is fetched at once so that its brokers are greeted
 * before the first send - transaction producers pass create_topic_key (TBW102), as Java
 * does, so a fresh producer of the group can answer checks for halves sent by another.
 * interval_ms <= 0 means 30000. */
kite_prod_hb *kite_prod_hb_start(kite_inst *in, const char *group, const char *warm_topic,
                                 int interval_ms);
/* Greets addr ("host:port") soon unless it was greeted already. */
void kite_prod_hb_touch(kite_prod_hb *h, const char *addr);
/* Stops heartbeats (any thread; before the instance stops: tasks still queued on the
 * loop may run while it is freed, and must not start calls then). */
void kite_prod_hb_stop(kite_prod_hb *h);
/* The client id sent (ip@pid#nanotime). Borrowed, valid until kite_prod_hb_free. */
const char *kite_prod_hb_client_id(const kite_prod_hb *h);
/* Frees h (NULL is fine). Only after the instance's I/O thread is gone. */
void kite_prod_hb_free(kite_prod_hb *h);

struct kite_jw;
/* The tail of a HEART_BEAT body shared by producers and consumers: heartbeatFingerprint,
 * producerDataSet (group, when not NULL, and CLIENT_INNER_PRODUCER) and withoutSub; the
 * caller has opened the object and closes it. */
void kite_hb_write_producers(struct kite_jw *w, const char *group);

#endif
