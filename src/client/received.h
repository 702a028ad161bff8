/* received.h - what consumers share: received messages decoded from pull bodies (and
 * from CONSUME_MESSAGE_DIRECTLY), tag expressions, the readable queues of a route.
 *
 * Owns: kite_rmsg (the library side of kite_message_ext): one allocation per message
 * holding the struct, the property pairs, the strings and the body (a decompressed
 * body is a second allocation). Record decoding follows docs/wire.md §9.1 through
 * codec/record.c (every length checked); sysflag bit 0 bodies are inflated (§9.8,
 * zlib; LZ4/ZSTD bodies are delivered as stored, bit 0 kept); messages whose TAGS is not
 * in the subscription's tag set are dropped (§9.1, last paragraph); a message of the
 * group's retry topic gets its original topic back from RETRY_TOPIC (§11.4).
 * Tag expressions: "*" / "" / NULL = all; else tags split at "||", trimmed, empties
 * dropped (as Java's FilterAPI).
 * Threads: pure functions; a kite_rmsg belongs to one thread at a time. */
#ifndef KITE_CLIENT_RECEIVED_H
#define KITE_CLIENT_RECEIVED_H

#include "client/instance.h"
#include "kite/consumer.h"
#include "kite/producer.h"
#include <stddef.h>
#include <stdint.h>

typedef struct kite_rmsg {
    kite_message_ext m;
    const char **props; /* name, value, name, value ... (2 * m.property_count) */
    uint8_t *body_own;  /* inflated body, else NULL */
    size_t stored_len;  /* record length: what flow control counts */
} kite_rmsg;

typedef struct kite_tagset {
    int all;
    size_t n;
    char **tags;
} kite_tagset;

/* KITE_OK, or KITE_EINVAL for an expression without any tag (e.g. "||"). */
int kite_tagset_parse(kite_tagset *t, const char *expr);
void kite_tagset_free(kite_tagset *t);
int kite_tagset_match(const kite_tagset *t, const char *tag);

/* Decodes back-to-back records. retry_topic ("%RETRY%<group>") enables the topic
 * restore; filter NULL keeps everything. On a bad record the ones before it are kept,
 * the rest dropped, and KITE_ECORRUPT returned with a reason in err (the messages
 * decoded so far are still in *out). *out is malloc'd (free with kite_rmsgs_free). */
int kite_rmsg_decode_all(const uint8_t *p, size_t len, const char *broker_name,
                         const char *retry_topic, const kite_tagset *filter, kite_rmsg ***out,
                         size_t *n, char *err, size_t errlen);
void kite_rmsg_free(kite_rmsg *m);
void kite_rmsgs_free(kite_rmsg **v, size_t n);

/* The readable queues of a route (perm READ, 0..readQueueNums-1, brokers with an
 * address), sorted by broker name then id; topic points at r->topic. Empty for a
 * route derived from the default topic. malloc'd; *n may be 0 (then *out is NULL). */
void kite_route_read_queues(const kite_pub_route *r, kite_mq **out, size_t *n);
/* Master address of broker_name, else its lowest-id address; NULL when unknown. */
const char *kite_route_broker_addr(const kite_pub_route *r, const char *broker_name);
/* The address broker_name registered with broker id `id`; NULL when it has none. */
const char *kite_route_broker_addr_id(const kite_pub_route *r, const char *broker_name, int64_t id);

/* Java String.compareTo order for queue lists: topic, broker name, queue id. */
int kite_mq_cmp(const void *a, const void *b);

#endif
