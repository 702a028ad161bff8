/* hdr_bin.c - ROCKETMQ binary header encoding (serialize type 1), remoting.md §1.5.
 *
 *   off size field
 *   0   2    code (short)
 *   2   1    language byte
 *   3   2    version (short)
 *   5   4    opaque
 *   9   4    flag
 *   13  4    remark length R (0 = none), then R bytes
 *   ..  4    extFields block length E (0 = none), then entries:
 *            key length (2) | key | value length (4) | value
 * Decoded strings are copied into the command's arena (NUL-terminated). A zero-length
 * remark or value reads as absent, as in Java. Every length is bounds-checked. */
#include "proto/cmd.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int kite_hdr_bin_decode(kite_cmd *c, const uint8_t *h, size_t n, char *err, size_t errlen)
{
    if (n < 21) {
        snprintf(err, errlen, "binary header too short (%zu bytes)", n);
        return -1;
    }
    c->code = (int16_t)kite_rd_be16(h);
    c->language = h[2];
    c->version = (int16_t)kite_rd_be16(h + 3);
    c->opaque = (int32_t)kite_rd_be32(h + 5);
    c->flag = (int32_t)kite_rd_be32(h + 9);
    size_t pos = 13;
    uint32_t r = kite_rd_be32(h + pos);
    pos += 4;
    if (r > n - pos) {
        snprintf(err, errlen, "binary header remark length %" PRIu32 " overruns the header", r);
        return -1;
    }
    if (r) c->remark = kite_arena_strndup(&c->arena, (const char *)h + pos, r);
    pos += r;
    if (n - pos < 4) {
        snprintf(err, errlen, "binary header truncated before extFields length");
        return -1;
    }
    uint32_t e = kite_rd_be32(h + pos);
    pos += 4;
    if (e > n - pos) {
        snprintf(err, errlen, "binary header extFields length %" PRIu32 " overruns the header", e);
        return -1;
    }
    size_t end = pos + e;
    /* Every key and value is copied NUL-terminated into one arena block: an entry takes
     * at least 6 bytes and adds 2 NULs, so e + e/3 + 2 always fits. */
    char *dst = e ? kite_arena_alloc(&c->arena, e + e / 3 + 2) : NULL;
    while (pos < end) {
        if (end - pos < 2) goto bad_entry;
        uint16_t kl = kite_rd_be16(h + pos);
        pos += 2;
        if (end - pos < (size_t)kl + 4) goto bad_entry;
        const char *k = (const char *)h + pos;
        pos += kl;
        uint32_t vl = kite_rd_be32(h + pos);
        pos += 4;
        if (vl > end - pos) goto bad_entry;
        const char *v = (const char *)h + pos;
        pos += vl;
        if (kl == 0) continue;   /* Java skips null keys */
        char *kc = dst;
        memcpy(kc, k, kl);
        kc[kl] = 0;
        char *vc = kc + kl + 1;
        if (vl) memcpy(vc, v, vl);
        vc[vl] = 0;
        dst = vc + vl + 1;
        kite_cmd_add_ext_ref(c, kc, vc, vl);
    }
    return 0;
bad_entry:
    snprintf(err, errlen, "binary header extFields entry overruns its block");
    return -1;
}

void kite_hdr_bin_encode(const kite_cmd *c, kite_buf *out)
{
    kite_buf_put_be16(out, (uint16_t)c->code);
    kite_buf_putc(out, (char)c->language);
    kite_buf_put_be16(out, (uint16_t)c->version);
    kite_buf_put_be32(out, (uint32_t)c->opaque);
    kite_buf_put_be32(out, (uint32_t)c->flag);
    size_t rl = c->remark ? strlen(c->remark) : 0;
    kite_buf_put_be32(out, (uint32_t)rl);
    kite_buf_append(out, c->remark, rl);
    size_t e = 0;
    for (size_t i = 0; i < c->n_ext; i++) e += 2 + strlen(c->ext[i].key) + 4 + c->ext[i].vlen;
    kite_buf_put_be32(out, (uint32_t)e);
    for (size_t i = 0; i < c->n_ext; i++) {
        size_t kl = strlen(c->ext[i].key);
        kite_buf_put_be16(out, (uint16_t)kl);
        kite_buf_append(out, c->ext[i].key, kl);
        kite_buf_put_be32(out, (uint32_t)c->ext[i].vlen);
        kite_buf_append(out, c->ext[i].val, c->ext[i].vlen);
    }
}
