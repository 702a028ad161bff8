/* kite/transaction.h - transactional messages with libkite: a producer that sends a
 * "half" message, runs the application's local transaction, and then commits or rolls
 * the message back; brokers ask the producer group about transactions left undecided
 * (docs/wire.md §10).
 *
 * Owns: the transaction producer API: creation with a listener, the send, the states.
 *
 * How it works:
 * 1. kite_producer_send_in_transaction sends msg as a half message (properties
 *    TRAN_MSG=true and PGROUP=<group> are set on msg, sysFlag PREPARED; a normal single
 *    send with the producer's retries and compression, never a batch). Consumers cannot
 *    see it yet. A delay level set on msg is cleared first (kite_message_delay_level
 *    reads 0 afterwards), as Java's transaction producer does: a committed message is
 *    delivered at once, never delayed.
 * 2. If the broker stored it (send status SEND_OK), the listener's `execute` callback
 *    runs on the calling thread with the caller's arg; otherwise `execute` is NOT run and
 *    the half is rolled back (status FLUSH_*_TIMEOUT / SLAVE_NOT_AVAILABLE, as Java
 *    does) or the send error is returned.
 * 3. The outcome goes to the broker that stored the half (END_TRANSACTION, oneway):
 *    KITE_TX_COMMIT makes the message visible to consumers, KITE_TX_ROLLBACK drops it,
 *    KITE_TX_UNKNOWN leaves it to step 4.
 * 4. A broker that holds an undecided half longer than its transactionTimeOut (6 s by
 *    default; a message property CHECK_IMMUNITY_TIME_IN_SECONDS extends it) asks a live
 *    producer of the group - any producer of that group that has heartbeated to it, not
 *    necessarily the one that sent the half, e.g. after a restart - with
 *    CHECK_TRANSACTION_STATE. The listener's `check` callback answers with the state,
 *    which is sent back (END_TRANSACTION with fromTransactionCheck). UNKNOWN means "ask
 *    again later"; brokers give up after transactionCheckMax (15) checks.
 * Every producer (transactional or not) heartbeats the master brokers of its routes
 * with its group about once a second after it first uses one, then every 30 s.
 *
 * THREADS (read this)
 * - `execute` runs on the thread that called kite_producer_send_in_transaction, before
 *   the call returns. It may block (it is your transaction) and may call any producer
 *   function except shutdown/destroy of this producer.
 * - `check` runs on the producer's check thread: one thread per transaction producer,
 *   never the I/O thread, so checks are answered one at a time in arrival order. It may
 *   block for a while (checks queue up behind it; brokers re-ask what is not answered)
 *   and may call any producer function except shutdown/destroy of this producer
 *   (KITE_EINVAL there).
 * - kite_producer_send_in_transaction is blocking: safe from any number of application
 *   threads at once, never from the I/O thread (send callbacks): KITE_EINVAL there.
 * - Shutdown drops checks not yet started, waits for the running one, then behaves as
 *   kite_producer_shutdown.
 *
 * OWNERSHIP
 * - The listener struct is copied at creation; arg and check_arg stay yours.
 * - msg stays yours; the send adds TRAN_MSG and PGROUP to it (and UNIQ_KEY as every
 *   send does), removes its delay level (DELAY) and keeps no reference after returning. `execute` gets the same msg.
 * - The kite_message_ext given to `check` is library memory, valid only during the
 *   callback (copy what you need).
 */
#ifndef KITE_TRANSACTION_H
#define KITE_TRANSACTION_H

#include "kite/consumer.h"
#include "kite/message.h"
#include "kite/producer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Outcome of a local transaction. Values never change. */
typedef enum kite_tx_state {
    KITE_TX_UNKNOWN = 0,  /* undecided: the broker will check later */
    KITE_TX_COMMIT = 1,   /* deliver the message */
    KITE_TX_ROLLBACK = 2, /* drop it */
} kite_tx_state;

const char *kite_tx_state_name(kite_tx_state s); /* "COMMIT", "ROLLBACK", "UNKNOWN" */

/* Runs the local transaction of msg (its half message is stored; kite_message_msg_id
 * gives its id). arg is the one passed to kite_producer_send_in_transaction. A value
 * other than the three states counts as KITE_TX_UNKNOWN. Calling thread. */
typedef kite_tx_state (*kite_tx_execute_cb)(kite_message *msg, void *arg);
/* Tells a broker the state of the transaction of msg (topic, body, properties and
 * msg_id as sent; msg_id is the UNIQ_KEY). arg is the listener's check_arg. Check
 * thread. */
typedef kite_tx_state (*kite_tx_check_cb)(const kite_message_ext *msg, void *arg);

typedef struct kite_tx_listener {
    kite_tx_execute_cb execute; /* required */
    kite_tx_check_cb check;     /* required */
    void *check_arg;
    size_t max_queued_checks; /* checks waiting for the check thread; beyond, dropped
                                     (the broker asks again); 0 = 10000 */
} kite_tx_listener;

/* Creates a transaction producer of group (copied): a kite_producer that can also send
 * in transactions; start, send, shut down and destroy it with the kite_producer_* calls.
 * listener is copied. KITE_EINVAL when a callback is missing. */
int kite_producer_create_transactional(kite_producer **out, const char *group,
                                       const kite_producer_opts *opts,
                                       const kite_tx_listener *listener);

/* Sends msg in a transaction (see the top of this file). Returns KITE_OK when the half
 * was stored - then *state (may be NULL) is the outcome sent to the broker and res (may
 * be NULL) describes the half (msg_id, offset_msg_id, queue offset in the half queue) -
 * or the send's failure, with `execute` not run. KITE_EINVAL for a producer made
 * without kite_producer_create_transactional, or when called on the I/O thread. */
int kite_producer_send_in_transaction(kite_producer *p, kite_message *msg, void *arg,
                                      kite_send_result *res, kite_tx_state *state);

#ifdef __cplusplus
}
#endif

#endif
