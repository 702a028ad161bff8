/* hdr_bin.c - ROCKETMQ binary header encoding (serialize type 1), docs/wire.md §1.5.
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
        return KITE_ECORRUPT;
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
        return KITE_ECORRUPT;
    }
    if (r) c->remark = kite_arena_strndup(&c->arena, (const char *)h + pos, r);
    pos += r;
    if (n - pos < 4) {
        snprintf(err, errlen, "binary header truncated before extFields length");
        return KITE_ECORRUPT;
    }
    uint32_t e = kite_rd_be32(h + pos);
    pos += 4;
    if (e > n - pos) {
        snprintf(err, errlen, "binary header extFields length %" PRIu32 " overruns the header", e);
        return KITE_ECORRUPT;
    }
    size_t end = pos + e;
    /* Every key and value is copied NUL-terminated into one arena block: an entry takes
     * at least 6 bytes and adds 2 NULs, so e + e/3 + 2 always fits. The same block starts
     * with the field array (at most e/6 entries) when the command has none yet. */
    char *dst = NULL;
    if (e) {
        size_t slots = c->cap_ext == 0 ? e / 6 + 1 : 0;
        dst = kite_arena_alloc(&c->arena, slots * sizeof(kite_ext) + e + e / 3 + 2);
        if (slots) {
            kite_cmd_use_ext(c, (kite_ext *)(void *)dst, slots);
            dst += slots * sizeof(kite_ext);
        }
    }
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
        if (kl == 0) continue; /* Java skips null keys */
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
    return KITE_ECORRUPT;
}

void kite_hdr_bin_encode(const kite_cmd *c, kite_buf *out)
{
    /* Sized first, then written through a pointer: one reserve instead of a room check
     * per field (this runs for every message a client sends). */
    size_t rl = c->remark ? strlen(c->remark) : 0;
    size_t e = 0;
    for (size_t i = 0; i < c->n_ext; i++) e += 6 + strlen(c->ext[i].key) + c->ext[i].vlen;
    kite_buf_reserve(out, 21 + rl + e);
    uint8_t *w = (uint8_t *)out->data + out->len;
    kite_wr_be16(w, (uint16_t)c->code);
    w[2] = (uint8_t)c->language;
    kite_wr_be16(w + 3, (uint16_t)c->version);
    kite_wr_be32(w + 5, (uint32_t)c->opaque);
    kite_wr_be32(w + 9, (uint32_t)c->flag);
    kite_wr_be32(w + 13, (uint32_t)rl);
    w += 17;
    if (rl) memcpy(w, c->remark, rl);
    w += rl;
    kite_wr_be32(w, (uint32_t)e);
    w += 4;
    for (size_t i = 0; i < c->n_ext; i++) {
        const kite_ext *x = &c->ext[i];
        size_t kl = strlen(x->key);
        kite_wr_be16(w, (uint16_t)kl);
        memcpy(w + 2, x->key, kl);
        w += 2 + kl;
        kite_wr_be32(w, (uint32_t)x->vlen);
        if (x->vlen) memcpy(w + 4, x->val, x->vlen);
        w += 4 + x->vlen;
    }
    out->len = (size_t)((char *)w - out->data);
}
