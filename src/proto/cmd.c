/* cmd.c - remoting command life cycle, extFields access, frame delimiting and the
 * top-level decode/encode that dispatches to the JSON or binary header codec.
 * Format: see cmd.h (frame table) and docs/wire.md §1. */
#include "proto/cmd.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "proto/codes.h"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const lang_names[] = {
    "JAVA",  "CPP",  "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY",
    "OTHER", "HTTP", "GO",     "PHP",    "OMS",    "RUST",   "NODE_JS",
};
#define N_LANG ((int32_t)(sizeof lang_names / sizeof lang_names[0]))

const char *kite_lang_name(int32_t lang)
{
    return (lang >= 0 && lang < N_LANG) ? lang_names[lang] : "OTHER";
}

int32_t kite_lang_from_name(const char *name)
{
    for (int32_t i = 0; i < N_LANG; i++)
        if (strcmp(name, lang_names[i]) == 0) return i;
    return KITE_LANG_OTHER;
}

void kite_cmd_init(kite_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->language = KITE_LANG_JAVA;
    c->version = KITE_SERVER_VERSION;
}

void kite_cmd_free(kite_cmd *c)
{
    if (c->body_owned) free((void *)c->body);
    if (!c->ext_borrowed) free(c->ext);
    if (c->doc) kite_json_doc_free(c->doc);
    kite_arena_free(&c->arena);
    memset(c, 0, sizeof *c);
}

void kite_cmd_init_request(kite_cmd *c, int32_t code, int32_t opaque)
{
    kite_cmd_init(c);
    c->code = code;
    c->opaque = opaque;
}

void kite_cmd_init_response(kite_cmd *c, const kite_cmd *req, int32_t code, const char *remark)
{
    kite_cmd_init(c);
    c->code = code;
    c->opaque = req->opaque;
    c->flag = KITE_FLAG_RESPONSE;
    c->serialize = req->serialize;
    if (remark) c->remark = kite_arena_strdup(&c->arena, remark);
}

void kite_cmd_set_remark(kite_cmd *c, const char *remark)
{
    c->remark = remark ? kite_arena_strdup(&c->arena, remark) : NULL;
}

void kite_cmd_set_remarkf(kite_cmd *c, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    kite_cmd_set_remark(c, tmp);
}

void kite_cmd_add_ext_ref(kite_cmd *c, const char *key, const char *val, size_t vlen)
{
    if (c->n_ext == c->cap_ext) {
        size_t cap = c->cap_ext ? c->cap_ext * 2 : 16; /* a send request has 14 fields */
        kite_ext *e = kite_xreallocarray(c->ext_borrowed ? NULL : c->ext, cap, sizeof *e);
        if (c->ext_borrowed && c->n_ext) memcpy(e, c->ext, c->n_ext * sizeof *e);
        c->ext = e;
        c->cap_ext = cap;
        c->ext_borrowed = 0;
    }
    c->ext[c->n_ext].key = key;
    c->ext[c->n_ext].val = val;
    c->ext[c->n_ext].vlen = vlen;
    c->n_ext++;
}

void kite_cmd_use_ext(kite_cmd *c, kite_ext *buf, size_t cap)
{
    if (c->n_ext || c->cap_ext) return; /* only for a command without fields */
    c->ext = buf;
    c->cap_ext = cap;
    c->ext_borrowed = 1;
}

void kite_cmd_set_ext_n(kite_cmd *c, const char *key, const char *val, size_t vlen)
{
    const char *v = kite_arena_strndup(&c->arena, val, vlen);
    for (size_t i = 0; i < c->n_ext; i++) {
        if (c->ext[i].key[0] == key[0] && strcmp(c->ext[i].key, key) == 0) {
            c->ext[i].val = v;
            c->ext[i].vlen = vlen;
            return;
        }
    }
    kite_cmd_add_ext_ref(c, kite_arena_strdup(&c->arena, key), v, vlen);
}

void kite_cmd_set_ext(kite_cmd *c, const char *key, const char *val)
{
    kite_cmd_set_ext_n(c, key, val, strlen(val));
}

void kite_cmd_set_ext_i64(kite_cmd *c, const char *key, int64_t v)
{
    char tmp[24];
    size_t n = kite_fmt_i64(tmp, v);
    kite_cmd_set_ext_n(c, key, tmp, n);
}

void kite_cmd_add_ext_i64(kite_cmd *c, const char *key, int64_t v)
{
    char *t = kite_arena_alloc(&c->arena, 24);
    kite_cmd_add_ext_ref(c, key, t, kite_fmt_i64(t, v));
}

const char *kite_cmd_ext(const kite_cmd *c, const char *key)
{
    /* Last duplicate wins, as Java's map building does. */
    for (size_t i = c->n_ext; i-- > 0;) {
        if (c->ext[i].key[0] == key[0] && strcmp(c->ext[i].key, key) == 0)
            return c->ext[i].vlen ? c->ext[i].val : NULL;
    }
    return NULL;
}

const char *kite_cmd_ext_raw(const kite_cmd *c, const char *key)
{
    for (size_t i = c->n_ext; i-- > 0;)
        if (c->ext[i].key[0] == key[0] && strcmp(c->ext[i].key, key) == 0) return c->ext[i].val;
    return NULL;
}

int kite_cmd_ext_i64(const kite_cmd *c, const char *key, int64_t *out)
{
    const char *v = kite_cmd_ext(c, key);
    if (!v) return KITE_ENOTFOUND;
    while (*v == ' ') v++;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || errno == ERANGE) return KITE_EINVAL;
    while (*end == ' ') end++;
    if (*end) return KITE_EINVAL;
    *out = x;
    return 0;
}

int kite_cmd_ext_i32(const kite_cmd *c, const char *key, int32_t *out)
{
    int64_t x;
    int r = kite_cmd_ext_i64(c, key, &x);
    if (r) return r;
    if (x < INT32_MIN || x > INT32_MAX) return KITE_EINVAL;
    *out = (int32_t)x;
    return 0;
}

int kite_cmd_ext_bool(const kite_cmd *c, const char *key, int dflt)
{
    const char *v = kite_cmd_ext(c, key);
    if (!v) return dflt;
    if (strcasecmp(v, "true") == 0) return 1;
    if (strcasecmp(v, "false") == 0) return 0;
    return dflt;
}

static void drop_body(kite_cmd *c)
{
    if (c->body_owned) free((void *)c->body);
    c->body = NULL;
    c->body_len = 0;
    c->body_owned = 0;
}

void kite_cmd_set_body_copy(kite_cmd *c, const void *p, size_t n)
{
    drop_body(c);
    if (!n) return;
    void *m = kite_xmalloc(n);
    memcpy(m, p, n);
    c->body = m;
    c->body_len = n;
    c->body_owned = 1;
}

void kite_cmd_set_body_ref(kite_cmd *c, const void *p, size_t n)
{
    drop_body(c);
    c->body = p;
    c->body_len = n;
}

void kite_cmd_set_body_own(kite_cmd *c, void *p, size_t n)
{
    drop_body(c);
    c->body = p;
    c->body_len = n;
    c->body_owned = 1;
}

int kite_frame_peek(const uint8_t *p, size_t avail, size_t max_frame, size_t *frame_len, char *err,
                    size_t errlen)
{
    if (avail < 4) return 0;
    int32_t n = (int32_t)kite_rd_be32(p);
    if (n < 4) {
        snprintf(err, errlen, "invalid frame length %" PRId32, n);
        return KITE_ECORRUPT;
    }
    if ((uint64_t)n + 4 > max_frame) {
        snprintf(err, errlen, "frame length %" PRId32 " exceeds the limit of %zu bytes", n,
                 max_frame);
        return KITE_ETOOBIG;
    }
    if (avail < (size_t)n + 4) return 0;
    *frame_len = (size_t)n + 4;
    return 1;
}

int kite_cmd_decode(kite_cmd *c, const uint8_t *frame, size_t len, size_t max_frame, char *err,
                    size_t errlen)
{
    kite_cmd_init(c);
    size_t flen;
    int r = kite_frame_peek(frame, len, max_frame, &flen, err, errlen);
    if (r == 0 || (r == 1 && flen != len)) {
        snprintf(err, errlen, "truncated frame (%zu bytes)", len);
        return KITE_ECORRUPT;
    }
    if (r < 0) return r;
    uint32_t n = kite_rd_be32(frame);
    uint32_t hw = kite_rd_be32(frame + 4);
    uint32_t type = hw >> 24, h = hw & 0xFFFFFFu;
    if (h > n - 4) {
        snprintf(err, errlen, "header length %" PRIu32 " exceeds frame length %" PRIu32, h, n);
        return KITE_ECORRUPT;
    }
    if (type == KITE_SER_JSON) {
        r = kite_hdr_json_decode(c, frame + 8, h, err, errlen);
    } else if (type == KITE_SER_ROCKETMQ) {
        r = kite_hdr_bin_decode(c, frame + 8, h, err, errlen);
    } else {
        snprintf(err, errlen, "unknown header serialize type %" PRIu32, type);
        r = KITE_ECORRUPT;
    }
    if (r != 0) {
        kite_cmd_free(c);
        return r;
    }
    c->serialize = (uint8_t)type;
    size_t blen = n - 4 - h;
    if (blen) kite_cmd_set_body_copy(c, frame + 8 + h, blen);
    return 0;
}

void kite_cmd_encode_header(const kite_cmd *c, kite_buf *out, size_t extra_body)
{
    /* One allocation for the whole frame: the binary header's exact size (the JSON form
     * may still grow for escapes) plus the body that usually follows. */
    size_t est = 8 + 21 + (c->remark ? strlen(c->remark) : 0) + c->body_len;
    for (size_t i = 0; i < c->n_ext; i++) est += 6 + strlen(c->ext[i].key) + c->ext[i].vlen;
    if (c->serialize != KITE_SER_ROCKETMQ) est += 64 + 6 * c->n_ext;
    kite_buf_reserve(out, est);
    size_t start = out->len;
    kite_buf_put_be32(out, 0); /* patched below */
    kite_buf_put_be32(out, 0);
    size_t hstart = out->len;
    if (c->serialize == KITE_SER_ROCKETMQ)
        kite_hdr_bin_encode(c, out);
    else
        kite_hdr_json_encode(c, out);
    size_t h = out->len - hstart;
    size_t total = 4 + h + c->body_len + extra_body;
    kite_wr_be32(out->data + start, (uint32_t)total);
    kite_wr_be32(out->data + start + 4,
                 ((uint32_t)(c->serialize == KITE_SER_ROCKETMQ) << 24) | (uint32_t)h);
}

void kite_cmd_encode(const kite_cmd *c, kite_buf *out)
{
    kite_cmd_encode_header(c, out, 0);
    kite_buf_append(out, c->body, c->body_len);
}
