/* kite/pull_consumer.h - the simple pull consumer: the application chooses queues and
 * offsets itself; the library finds the queues of a topic, pulls, and stores / reads
 * the group's committed offsets on the brokers.
 *
 * Owns: kite_pull_consumer, kite_pull_result.
 * What it does on the wire (docs/wire.md §6): PULL_MESSAGE with the SUBSCRIPTION flag
 * and the given tag (or SQL92) expression (no long polling: an empty queue answers at once),
 * UPDATE_CONSUMER_OFFSET (answered, so failures are reported), QUERY_CONSUMER_OFFSET,
 * GET_MAX_OFFSET / GET_MIN_OFFSET; queues from the topic route (readable queues of each
 * broker group with an address). A pull goes to the broker id the previous pull answer of
 * that queue suggested (suggestWhichBrokerId) when the route has it, else to the master,
 * else to a slave; offset calls go to the master, else a slave. A call whose broker cannot
 * be reached (refused, closed, no answer) is made once more on another address of the same
 * group, so a dead master's queues are read (and offsets committed) on its slave at once.
 * It sends no heartbeats: the group is not listed as a member
 * (as Java's lite pull consumer with manual assignment).
 *
 * THREADS: one I/O thread per started consumer; every call here blocks the calling
 * thread (bounded by rpc_timeout_ms) and is safe from any number of threads at once.
 * There are no callbacks.
 * OWNERSHIP: option strings and group are copied; results belong to the caller (free
 * them with the matching _free call); the messages of a result are valid until
 * kite_pull_result_free.
 */
#ifndef KITE_PULL_CONSUMER_H
#define KITE_PULL_CONSUMER_H

#include "kite/consumer.h"
#include "kite/producer.h" /* kite_mq */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kite_pull_consumer kite_pull_consumer;

typedef struct kite_pull_consumer_opts {
    const char *namesrv_addr;     /* required */
    int rpc_timeout_ms;           /* default 3000 */
    int poll_namesrv_interval_ms; /* route refresh; default 30000 */
    kite_tls_opts tls;            /* TLS to name servers and brokers (kite/tls.h); default off */
    kite_credentials credentials; /* sign requests as this account (kite/credentials.h); none */
} kite_pull_consumer_opts;

void kite_pull_consumer_opts_init(kite_pull_consumer_opts *o);

typedef enum kite_pull_status {
    KITE_PULL_FOUND = 0,          /* msgs holds 1..max messages */
    KITE_PULL_NO_NEW_MSG = 1,     /* offset is the end of the queue */
    KITE_PULL_NO_MATCHED_MSG = 2, /* messages were there but none matched the expression */
    KITE_PULL_OFFSET_ILLEGAL = 3, /* offset outside [min, max]: use next_begin_offset */
} kite_pull_status;

typedef struct kite_pull_result {
    kite_pull_status status;
    int64_t next_begin_offset;      /* the offset of the next pull */
    int64_t min_offset, max_offset; /* queue bounds reported by the broker */
    size_t n;
    const kite_message_ext *const *msgs; /* owned by the result */
} kite_pull_result;

/* Frees the messages of a result (safe on a zeroed or already freed result). */
void kite_pull_result_free(kite_pull_result *r);

/* A malloc'd array of n queues in one allocation (strings included); free with free(). */
typedef struct kite_mq_list {
    size_t n;
    kite_mq *mqs;
} kite_mq_list;
void kite_mq_list_free(kite_mq_list *l);

int kite_pull_consumer_create(kite_pull_consumer **out, const char *group,
                              const kite_pull_consumer_opts *opts);
int kite_pull_consumer_start(kite_pull_consumer *c);
int kite_pull_consumer_shutdown(kite_pull_consumer *c);
void kite_pull_consumer_destroy(kite_pull_consumer *c);

/* The readable queues of topic, sorted by broker name then queue id (fresh from a name
 * server). KITE_ENOTFOUND when the topic does not exist. */
int kite_pull_consumer_fetch_queues(kite_pull_consumer *c, const char *topic, kite_mq_list *out);
/* Pulls up to max (1..1024) messages of mq from offset that match expression ("*",
 * NULL or "A || B"). Returns KITE_OK with res filled (any status), or a failure. The
 * result must be freed with kite_pull_result_free in every case. */
int kite_pull_consumer_pull(kite_pull_consumer *c, const kite_mq *mq, const char *expression,
                            int64_t offset, int max, kite_pull_result *res);
/* The same with an SQL92 expression over the messages' properties, evaluated by the
 * broker (see kite_push_consumer_subscribe_sql92; the broker needs
 * enablePropertyFilter=true, else the pull fails with KITE_ERR). KITE_EINVAL for an
 * empty expression. */
int kite_pull_consumer_pull_sql92(kite_pull_consumer *c, const kite_mq *mq, const char *expression,
                                  int64_t offset, int max, kite_pull_result *res);
/* Stores offset (the next one to consume) as the group's committed offset of mq. */
int kite_pull_consumer_commit_offset(kite_pull_consumer *c, const kite_mq *mq, int64_t offset);
/* The group's committed offset of mq; KITE_ENOTFOUND when none is stored. */
int kite_pull_consumer_fetch_offset(kite_pull_consumer *c, const kite_mq *mq, int64_t *offset);
/* Queue bounds: max = the offset the next message will get; min = the oldest kept. */
int kite_pull_consumer_max_offset(kite_pull_consumer *c, const kite_mq *mq, int64_t *offset);
int kite_pull_consumer_min_offset(kite_pull_consumer *c, const kite_mq *mq, int64_t *offset);

#ifdef __cplusplus
}
#endif

#endif
