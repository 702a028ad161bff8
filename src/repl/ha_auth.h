/* ha_auth.h - the authenticated handshake KiteMQ peers add to the classic HA protocol when
 * they share a key (haAuthKeyFile), private to src/repl/. Layout and rules: docs/wire.md
 * §13.5. Owns: nonces and proofs (HMAC-SHA256 over the role and both nonces, compared in
 * constant time). Threads: stateless. */
#ifndef KITE_REPL_HA_AUTH_H
#define KITE_REPL_HA_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define KITE_HA_MAGIC     "KITEHA01" /* 8 bytes, no NUL on the wire */
#define KITE_HA_NONCE     16
#define KITE_HA_PROOF     32
#define KITE_HA_CHALLENGE (8 + KITE_HA_NONCE)                 /* master -> slave */
#define KITE_HA_RESPONSE  (8 + KITE_HA_NONCE + KITE_HA_PROOF) /* slave -> master */

/* Random bytes for a nonce. */
void kite_ha_nonce(uint8_t out[KITE_HA_NONCE]);
/* HMAC-SHA256(key, role || first || second): role "slave" proves with (master nonce,
 * slave nonce), role "master" with (slave nonce, master nonce). */
void kite_ha_proof(const char *key, const char *role, const uint8_t *first, const uint8_t *second,
                   uint8_t out[KITE_HA_PROOF]);
/* 1 when proof is the expected one (constant time). */
int kite_ha_proof_ok(const char *key, const char *role, const uint8_t *first, const uint8_t *second,
                     const uint8_t *proof);

#endif
