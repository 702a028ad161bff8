/* producer_int.h - what the producer (producer.c) shares with its library-internal
 * helpers: the transaction producer (transaction.c) and producer heartbeats
 * (heartbeat.c). Not part of the public API.
 *
 * Threads: as documented per function; the producer's own rules (kite/producer.h) hold. */
#ifndef KITE_CLIENT_PRODUCER_INT_H
#define KITE_CLIENT_PRODUCER_INT_H

#include "client/instance.h"
#include "kite/producer.h"
#include <stdint.h>

typedef struct kite_txp kite_txp; /* transaction.c */

/* The producer's client instance (borrowed; its RPC client exists while started). */
kite_inst *kite_prod_inst_of(kite_producer *p);
/* Synchronous send like kite_producer_send, with extra sysflag bits (e.g. PREPARED). */
int kite_prod_send_flagged(kite_producer *p, kite_message *msg, int32_t extra_sysflag,
                           kite_send_result *res);
/* Registers an oneway call about to be made outside the send path (END_TRANSACTION):
 * while registered, shutdown waits and the RPC client stays alive. KITE_OK, or
 * KITE_ESTOPPED when the producer is not started. Pair with kite_prod_op_leave. */
int kite_prod_op_enter(kite_producer *p);
void kite_prod_op_leave(kite_producer *p);
/* Greets the broker at addr with a heartbeat soon (no-op when already greeted). */
void kite_prod_greet(kite_producer *p, const char *addr);

/* Transaction state attached to a producer; the producer frees it at destroy. */
void kite_prod_set_txp(kite_producer *p, kite_txp *tx);
kite_txp *kite_prod_txp(kite_producer *p);

/* transaction.c, called by the producer's lifecycle: after the instance started
 * (registers the CHECK_TRANSACTION_STATE handler, starts the check thread); at the
 * beginning of shutdown (drops queued checks, joins the check thread; KITE_EINVAL when
 * called on the check thread itself); at destroy. */
int kite_txp_on_start(kite_txp *tx);
int kite_txp_on_stop(kite_txp *tx);
void kite_txp_free(kite_txp *tx);

#endif
