/* ha_auth.c - nonces and HMAC-SHA256 proofs of the KiteMQ HA handshake (ha_auth.h). */
#include "repl/ha_auth.h"
#include "base/log.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

void kite_ha_nonce(uint8_t out[KITE_HA_NONCE])
{
    if (RAND_bytes(out, KITE_HA_NONCE) != 1) {
        KLOG_ERROR("repl", "no random bytes for a replication nonce");
        abort(); /* a predictable nonce would make the handshake replayable */
    }
}

void kite_ha_proof(const char *key, const char *role, const uint8_t *first, const uint8_t *second,
                   uint8_t out[KITE_HA_PROOF])
{
    uint8_t msg[16 + 2 * KITE_HA_NONCE];
    size_t rl = strlen(role);
    if (rl > 16) rl = 16;
    memcpy(msg, role, rl);
    memcpy(msg + rl, first, KITE_HA_NONCE);
    memcpy(msg + rl + KITE_HA_NONCE, second, KITE_HA_NONCE);
    unsigned int len = KITE_HA_PROOF;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), msg, rl + 2 * KITE_HA_NONCE, out, &len)) {
        KLOG_ERROR("repl", "HMAC-SHA256 failed");
        abort();
    }
}

int kite_ha_proof_ok(const char *key, const char *role, const uint8_t *first, const uint8_t *second,
                     const uint8_t *proof)
{
    uint8_t want[KITE_HA_PROOF];
    kite_ha_proof(key, role, first, second, want);
    return CRYPTO_memcmp(want, proof, KITE_HA_PROOF) == 0;
}
