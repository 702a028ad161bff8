/* kite/message.h - the message a producer sends: topic, tags, keys, user properties,
 * delay level, flag and body.
 *
 * Owns: the kite_message object. Every setter COPIES its strings; the body is copied
 * by kite_message_set_body, or borrowed by kite_message_set_body_ref (then the bytes
 * must stay valid and unchanged until the body is replaced or the message destroyed).
 * Getters return memory owned by the message ("borrowed"): valid until the same field
 * is set again or the message is destroyed.
 *
 * Sends read the message and write its message id into it (property UNIQ_KEY, see
 * kite_message_msg_id); after a send call returns - sync, async or oneway - the library
 * keeps no reference to the message, so it may be reused, changed or destroyed at once,
 * even while an async send of it is still in flight.
 *
 * Threads: a message is not locked. One thread at a time may use it; do not pass the
 * same message to two concurrent sends. Different messages are independent. */
#ifndef KITE_MESSAGE_H
#define KITE_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kite_message kite_message;

/* Well-known property names (docs/wire.md §9.4). kite_message_set_property refuses the
 * ones the library manages (KEYS, TAGS, DELAY, WAIT are set through their own calls). */
#define KITE_PROP_KEYS         "KEYS"
#define KITE_PROP_TAGS         "TAGS"
#define KITE_PROP_DELAY        "DELAY"
#define KITE_PROP_WAIT         "WAIT"
#define KITE_PROP_UNIQ_KEY     "UNIQ_KEY"
#define KITE_PROP_SHARDING_KEY "__SHARDINGKEY"

/* A new message for topic (copied; may be NULL and set later). NULL when topic is the
 * empty string. Free with kite_message_destroy. */
kite_message *kite_message_new(const char *topic);
void kite_message_destroy(kite_message *m); /* NULL is fine */

int kite_message_set_topic(kite_message *m, const char *topic);
/* One tag, used by consumers' subscription filters ("TagA"). NULL clears. */
int kite_message_set_tags(kite_message *m, const char *tags);
/* Business keys for QUERY_MESSAGE, separated by single spaces ("order-1 user-7"). NULL clears. */
int kite_message_set_keys(kite_message *m, const char *keys);
/* Delay level 1..18 (1 s ... 2 h, broker messageDelayLevel); 0 = deliver at once. */
int kite_message_set_delay_level(kite_message *m, int level);
/* Wait for the broker to store (and, per its flush policy, flush) before answering;
 * default 1, as in Java. */
int kite_message_set_wait_store(kite_message *m, int wait);
/* User flag stored verbatim with the message. Default 0. */
void kite_message_set_flag(kite_message *m, int32_t flag);
/* User property: name and value are copied; value NULL removes the property. Names
 * and values must be non-empty and must not contain the bytes 0x01/0x02; names managed
 * by other calls (KEYS, TAGS, DELAY, WAIT) are refused with KITE_EINVAL. Setting
 * UNIQ_KEY yourself makes the library keep that id instead of generating one. */
int kite_message_set_property(kite_message *m, const char *name, const char *value);
/* Body bytes, copied. n may be 0 only for a NULL body (sends refuse an empty body). */
int kite_message_set_body(kite_message *m, const void *body, size_t n);
/* Body bytes, borrowed (zero-copy): valid and unchanged until replaced or destroyed. */
int kite_message_set_body_ref(kite_message *m, const void *body, size_t n);

/* Getters: borrowed, NULL when unset. */
const char *kite_message_topic(const kite_message *m);
const char *kite_message_tags(const kite_message *m);
const char *kite_message_keys(const kite_message *m);
int kite_message_delay_level(const kite_message *m);
int32_t kite_message_flag(const kite_message *m);
/* Any property, including the managed ones (KEYS, TAGS, DELAY, WAIT, UNIQ_KEY). */
const char *kite_message_property(const kite_message *m, const char *name);
const void *kite_message_body(const kite_message *m, size_t *n);
/* The message id (UNIQ_KEY: 32 upper-case hex characters) given by the last send,
 * or the one set by the application; NULL before the first send. */
const char *kite_message_msg_id(const kite_message *m);

/* Iterates properties in insertion order: for (size_t i = 0; kite_message_property_at(m, i,
 * &k, &v) == 0; i++). Returns KITE_ENOTFOUND past the end. k, v borrowed. */
int kite_message_property_at(const kite_message *m, size_t i, const char **name,
                             const char **value);

#ifdef __cplusplus
}
#endif

#endif
