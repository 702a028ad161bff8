/* acl_sign.h - the request signature of RocketMQ's plain ACL (docs/wire.md §14): HMAC-SHA1,
 * keyed with the account's secret, over the values of a request's extFields in key order
 * followed by the body, in standard Base64 with padding.
 *
 * Owns: the content order (keys compared as Java compares strings: UTF-16 code units),
 * the MAC and its encoding, the constant-time comparison. Not owned: which fields go in
 * (the broker leaves out `Signature`; a client signs what it sends) - the caller passes
 * them. Shared by the broker (verifies) and, later, libkite and kite-admin (sign).
 * Threads: any; no state besides OpenSSL's. */
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

/* Java's String.compareTo on UTF-8 text: byte order, except that characters outside the
 * BMP (4-byte UTF-8) sort before U+E000..U+FFFF, as their surrogate pairs do. */
int kite_acl_key_cmp(const char *a, const char *b);

/* Signs: sorts f (n fields, reordered in place) by key, then HMAC-SHA1(secret, values in
 * order + body) as Base64 into out. Fields named `skip` (NULL: none) are left out. */
void kite_acl_sign(kite_acl_field *f, size_t n, const char *skip, const void *body, size_t body_len,
                   const char *secret, char out[KITE_ACL_SIG_LEN]);

/* Constant-time comparison of a computed signature with a received one: 1 when equal. */
int kite_acl_sig_equal(const char *want, const char *got, size_t got_len);

#endif
