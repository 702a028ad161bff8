/* trans.h - kite-broker transactions: the state shared by END_TRANSACTION (p_trans.c)
 * and the check-back service (trans.c). docs/wire.md §10 (the requests: §5.5,
 * §7), docs/DESIGN.md "Transactions".
 *
 * Names: half messages live in RMQ_SYS_TRANS_HALF_TOPIC queue 0 (p_send.c stores them);
 * an "op" record in RMQ_SYS_TRANS_OP_HALF_TOPIC queue 0 (tag "d", body = the queue offsets
 * of the halves it resolves, each followed by ',' - RocketMQ 5's batched form, written
 * once per read by the loop's pre-write hook; 4.x's single "n" is read too) marks halves resolved (committed
 * or rolled back). Progress of the check-back service is kept as the offsets of the
 * internal consumer group CID_RMQ_SYS_TRANS on both queues (consumerOffset.json).
 *
 * Threads: everything here runs on the broker's loop thread. */
#ifndef KITE_BROKER_TRANS_H
#define KITE_BROKER_TRANS_H

#include "broker/broker.h"
#include "codec/systopic.h"
#include <stdint.h>

/* Loads the resolved set (reads the op queue from the saved progress, at most the last
 * 100,000 op records before it as well) and, on a master, starts the check-back timer.
 * KITE_OK, or KITE_EINVAL with err (a bad transaction key). */
int bk_trans_start(kite_broker *b, char *err, size_t errlen);
/* Cancels the timers and frees the state (progress is saved with the offsets). */
void bk_trans_stop(kite_broker *b);
/* Appends the pending op batch and answers the END_TRANSACTION requests held for it (the
 * loop's pre-write hook calls it). */
void bk_trans_flush_ops(kite_broker *b);
/* END_TRANSACTION (37). */
void bk_register_trans_handlers(kite_broker *b);

/* 1 when the half at queue offset qoff is known to be resolved (an op record exists or
 * an END_TRANSACTION is being applied). */
int bk_trans_is_resolved(kite_broker *b, int64_t qoff);
/* Marks (on = 1) or unmarks the half at qoff as resolved in memory. */
void bk_trans_mark(kite_broker *b, int64_t qoff, int on);
/* Marks the half at qoff resolved and adds it to the pending op batch, which the loop's
 * pre-write hook appends as one op record (at once when the body would pass 4 KiB). A store refusal is logged; the half stays marked in memory. */
void bk_trans_queue_op(kite_broker *b, int64_t qoff);
/* Answers SUCCESS to an END_TRANSACTION once every op queued so far is appended: at
 * once when none is pending or req is oneway, else when the batch is flushed. */
void bk_trans_answer_after_ops(kite_broker *b, kite_rpc_req *req);
/* Parses an op body: decimal offsets, each optionally followed by ','. Calls fn for
 * each; returns how many, or KITE_ECORRUPT when the body holds anything else (nothing is
 * called then). */
int bk_trans_parse_op_body(const uint8_t *body, size_t len, void (*fn)(void *arg, int64_t qoff),
                           void *arg);

#endif
