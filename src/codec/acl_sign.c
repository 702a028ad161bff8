/* acl_sign.c - plain-ACL request signature (acl_sign.h; docs/wire.md §14). HMAC-SHA1 is
 * built here from OpenSSL's SHA-1 digest (RFC 2104): a key longer than the 64-byte block
 * is first hashed; the inner state has hashed key XOR 0x36.., the outer key XOR 0x5c..;
 * MAC = SHA1(outer || SHA1(inner || content)). Preparing both states once per secret is
 * what makes a signature cheap: OpenSSL's EVP_MAC re-derives them, or copies a whole HMAC
 * context, per message. */
#include "codec/acl_sign.h"
#include "base/log.h"
#include "base/mem.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 64 /* SHA-1's block */
#define SMALL 32 /* up to this many fields, insertion sort (a request has about 16) */
#define STAGE 512

struct kite_acl_key {
    EVP_MD_CTX *inner, *outer; /* SHA-1 states after the key block XOR ipad / opad */
};

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

void kite_acl_sort(kite_acl_field *f, size_t n)
{
    if (n > SMALL) { /* many fields come from no client we know: insertion sort would be
                      * quadratic on them */
        qsort(f, n, sizeof *f, field_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        if (kite_acl_key_cmp(f[i - 1].key, f[i].key) <= 0) continue;
        kite_acl_field x = f[i];
        size_t j = i;
        do {
            f[j] = f[j - 1];
            j--;
        } while (j > 0 && kite_acl_key_cmp(f[j - 1].key, x.key) > 0);
        f[j] = x;
    }
}

static EVP_MD *g_sha1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_work; /* this thread's working EVP_MD_CTX */

static void work_free(void *p) { EVP_MD_CTX_free(p); }

static void init_once(void)
{
    g_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    pthread_key_create(&g_work, work_free);
}

static void die(const char *what)
{
    KLOG_ERROR("acl", "%s", what);
    abort(); /* a signature that cannot be computed must not pass or be sent */
}

kite_acl_key *kite_acl_key_new(const char *secret)
{
    pthread_once(&g_once, init_once);
    if (!g_sha1) die("SHA-1 is not available from OpenSSL");
    unsigned char block[BLOCK] = { 0 }, pad[BLOCK];
    size_t len = strlen(secret);
    unsigned int dl;
    if (len > BLOCK) {
        if (!EVP_Digest(secret, len, block, &dl, g_sha1, NULL)) die("SHA-1 failed");
    } else {
        memcpy(block, secret, len);
    }
    kite_acl_key *k = kite_xcalloc(1, sizeof *k);
    k->inner = EVP_MD_CTX_new();
    k->outer = EVP_MD_CTX_new();
    for (int o = 0; o < 2; o++) {
        EVP_MD_CTX *c = o ? k->outer : k->inner;
        for (int i = 0; i < BLOCK; i++) pad[i] = block[i] ^ (o ? 0x5c : 0x36);
        if (!c || !EVP_DigestInit_ex(c, g_sha1, NULL) || !EVP_DigestUpdate(c, pad, BLOCK))
            die("HMAC-SHA1 cannot be keyed");
    }
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    return k;
}

void kite_acl_key_free(kite_acl_key *k)
{
    if (!k) return;
    EVP_MD_CTX_free(k->inner);
    EVP_MD_CTX_free(k->outer);
    free(k);
}

static EVP_MD_CTX *work_ctx(void)
{
    EVP_MD_CTX *w = pthread_getspecific(g_work);
    if (!w) {
        w = EVP_MD_CTX_new();
        if (!w) die("out of memory for a digest context");
        pthread_setspecific(g_work, w);
    }
    return w;
}

void kite_acl_mac(const kite_acl_key *k, const kite_acl_field *f, size_t n, const char *skip,
                  const void *body, size_t body_len, char out[KITE_ACL_SIG_LEN])
{
    EVP_MD_CTX *w = work_ctx(); /* the key exists, so init_once has run */
    /* Small values are gathered and hashed together: one digest call per value would
     * cost more than hashing them. */
    unsigned char stage[STAGE];
    size_t sl = 0;
    int ok = EVP_MD_CTX_copy_ex(w, k->inner);
    for (size_t i = 0; i < n && ok; i++) {
        size_t vl = f[i].vlen;
        if (!vl || (skip && f[i].key[0] == skip[0] && strcmp(f[i].key, skip) == 0)) continue;
        if (sl + vl > STAGE) {
            ok = EVP_DigestUpdate(w, stage, sl);
            sl = 0;
        }
        if (vl > STAGE) {
            ok = ok && EVP_DigestUpdate(w, f[i].val, vl);
        } else {
            memcpy(stage + sl, f[i].val, vl);
            sl += vl;
        }
    }
    if (ok && sl) ok = EVP_DigestUpdate(w, stage, sl);
    if (ok && body_len) ok = EVP_DigestUpdate(w, body, body_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    ok = ok && EVP_DigestFinal_ex(w, mac, &ml) && ml == 20 && EVP_MD_CTX_copy_ex(w, k->outer) &&
         EVP_DigestUpdate(w, mac, 20) && EVP_DigestFinal_ex(w, mac, &ml) && ml == 20;
    if (!ok) die("HMAC-SHA1 failed");
    EVP_EncodeBlock((unsigned char *)out, mac, 20);
}

void kite_acl_sign(kite_acl_field *f, size_t n, const char *skip, const void *body, size_t body_len,
                   const char *secret, char out[KITE_ACL_SIG_LEN])
{
    kite_acl_key *k = kite_acl_key_new(secret);
    kite_acl_sort(f, n);
    kite_acl_mac(k, f, n, skip, body, body_len, out);
    kite_acl_key_free(k);
}

int kite_acl_sig_equal(const char *want, const char *got, size_t got_len)
{
    size_t wl = strlen(want);
    if (wl != got_len) return 0;
    return CRYPTO_memcmp(want, got, wl) == 0;
}
