/* acl_sign.c - plain-ACL request signature (acl_sign.h; docs/wire.md §14). */
#include "codec/acl_sign.h"
#include "base/log.h"
#include "base/mem.h"
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int kite_acl_key_cmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    while (*p && *p == *q) p++, q++;
    unsigned x = *p, y = *q;
    /* Equal prefixes leave both at the same place in a character: when one byte leads a
     * U+E000..U+FFFF character (EE, EF) and the other a supplementary one (F0..F4), UTF-16
     * puts the supplementary one (a high surrogate, D800..DBFF) first. */
    if (x >= 0xEE && x <= 0xEF && y >= 0xF0 && y <= 0xF4) return 1;
    if (y >= 0xEE && y <= 0xEF && x >= 0xF0 && x <= 0xF4) return -1;
    return (int)x - (int)y;
}

static int field_cmp(const void *a, const void *b)
{
    return kite_acl_key_cmp(((const kite_acl_field *)a)->key, ((const kite_acl_field *)b)->key);
}

static EVP_MAC *g_hmac;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_tls;

/* One keyed context per thread, re-used while the secret stays the same (a client signs
 * with one secret; a broker mostly sees few): creating and keying a context costs more
 * than the MAC of a small request. */
typedef struct mac_cache {
    EVP_MAC_CTX *ctx;
    char *secret;
} mac_cache;

static void cache_free(void *p)
{
    mac_cache *c = p;
    EVP_MAC_CTX_free(c->ctx);
    free(c->secret);
    free(c);
}

static void fetch_hmac(void)
{
    g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    pthread_key_create(&g_tls, cache_free);
}

static EVP_MAC_CTX *keyed_ctx(const char *secret)
{
    pthread_once(&g_once, fetch_hmac);
    mac_cache *c = pthread_getspecific(g_tls);
    if (!c) {
        c = kite_xcalloc(1, sizeof *c);
        pthread_setspecific(g_tls, c);
    }
    if (c->ctx && c->secret && strcmp(c->secret, secret) == 0)
        return EVP_MAC_init(c->ctx, NULL, 0, NULL) ? c->ctx : NULL;
    EVP_MAC_CTX_free(c->ctx);
    free(c->secret);
    c->secret = NULL;
    c->ctx = g_hmac ? EVP_MAC_CTX_new(g_hmac) : NULL;
    char digest[] = "SHA1";
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                            OSSL_PARAM_construct_end() };
    if (!c->ctx || !EVP_MAC_init(c->ctx, (const unsigned char *)secret, strlen(secret), params))
        return NULL;
    c->secret = kite_xstrdup(secret);
    return c->ctx;
}

void kite_acl_sign(kite_acl_field *f, size_t n, const char *skip, const void *body, size_t body_len,
                   const char *secret, char out[KITE_ACL_SIG_LEN])
{
    EVP_MAC_CTX *ctx = keyed_ctx(secret);
    if (!ctx) {
        KLOG_ERROR("acl", "HMAC-SHA1 is not available from OpenSSL");
        abort(); /* a signature that cannot be computed must not pass or be sent */
    }
    if (n > 1) qsort(f, n, sizeof *f, field_cmp);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        if (skip && strcmp(f[i].key, skip) == 0) continue;
        if (f[i].vlen) ok = EVP_MAC_update(ctx, (const unsigned char *)f[i].val, f[i].vlen);
    }
    if (ok && body_len) ok = EVP_MAC_update(ctx, body, body_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mlen = 0;
    if (!ok || !EVP_MAC_final(ctx, mac, &mlen, sizeof mac) || mlen != 20) {
        KLOG_ERROR("acl", "HMAC-SHA1 failed");
        abort();
    }
    EVP_EncodeBlock((unsigned char *)out, mac, 20);
}

int kite_acl_sig_equal(const char *want, const char *got, size_t got_len)
{
    size_t wl = strlen(want);
    if (wl != got_len) return 0;
    return CRYPTO_memcmp(want, got, wl) == 0;
}
