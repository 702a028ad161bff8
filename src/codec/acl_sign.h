/* acl_sign.h - the request signature of RocketMQ's plain ACL (docs/wire.md §14): HMAC-SHA1,
 * keyed with the account's secret, over the values of a request's extFields in key order
 * followed by the body, in standard Base64 with padding.
 *
 * Owns: the content order (keys compared as Java compares strings: UTF-16 code units),
 * the MAC and its encoding, the prepared keys, the constant-time comparison. Not owned:
 * which fields go in (the broker leaves out `Signature`; a client signs what it sends) -
 * the caller passes them. Shared by the broker and name server (verify), libkite and
 * kite-admin (sign).
 * Cost: a signature is keyed once per account (kite_acl_key: HMAC's inner and outer digest
 * states after the key block, made when the account is loaded or the client configured),
 * so signing a request is copying those states and hashing its values and body: no
 * keying, no allocation besides OpenSSL's state copies, values fed in key order without
 * building the content.
 * Threads: a kite_acl_key is immutable once made and used from any thread; each thread
 * keeps one working digest context of its own. */
#ifndef KITE_CODEC_ACL_SIGN_H
#define KITE_CODEC_ACL_SIGN_H

#include <stddef.h>
#include <stdint.h>

/* Base64 of a 20-byte HMAC-SHA1 (28 characters) plus NUL. */
#define KITE_ACL_SIG_LEN 29

typedef struct kite_acl_field {
    const char *key;
    const char *val;
    size_t vlen;
} kite_acl_field;

/* A secret prepared for HMAC-SHA1 (opaque). */
typedef struct kite_acl_key kite_acl_key;

/* Java's String.compareTo on UTF-8 text: byte order, except that characters outside the
 * BMP (4-byte UTF-8) sort before U+E000..U+FFFF, as their surrogate pairs do. */
int kite_acl_key_cmp(const char *a, const char *b);

/* Sorts f by key (kite_acl_key_cmp) in place; fields already in order cost n - 1
 * comparisons. */
void kite_acl_sort(kite_acl_field *f, size_t n);

/* The secret (UTF-8, any length) prepared for signing; kite_acl_key_free releases it.
 * Aborts when OpenSSL has no SHA-1: a signature that cannot be computed must never pass
 * or be sent. */
kite_acl_key *kite_acl_key_new(const char *secret);
void kite_acl_key_free(kite_acl_key *k);

/* HMAC-SHA1 with k over the values of f[0..n) in the order given (the caller sorted them),
 * leaving out fields named skip (NULL: none), then the body; Base64 into out. */
void kite_acl_mac(const kite_acl_key *k, const kite_acl_field *f, size_t n, const char *skip,
                  const void *body, size_t body_len, char out[KITE_ACL_SIG_LEN]);

/* Sorts f (reordered in place) and signs it with a secret keyed for this one call (tests,
 * one-off signatures; repeated signing keeps a kite_acl_key). */
void kite_acl_sign(kite_acl_field *f, size_t n, const char *skip, const void *body, size_t body_len,
                   const char *secret, char out[KITE_ACL_SIG_LEN]);

/* Constant-time comparison of a computed signature with a received one: 1 when equal. */
int kite_acl_sig_equal(const char *want, const char *got, size_t got_len);

#endif
