/* cmd.h - the remoting command: one request or response frame, decoded.
 *
 * Owns: header fields, remark, extFields and the body of one frame. All strings of a
 * command live in its arena (or in the parsed JSON header it keeps), so a command is
 * freed with one kite_cmd_free(). Body bytes are owned (copied out of the frame) unless
 * set with kite_cmd_set_body_ref(), which borrows.
 * Frame layout (docs/wire.md §1.2), big-endian:
 *   | 4 total length N | 4 (serialize type << 24 | header length H) | H header | N-4-H body |
 * Header encodings: JSON (type 0, hdr_json.c) and ROCKETMQ binary (type 1, hdr_bin.c).
 * Decoding limits: N + 4 above max_frame, N < 4, H > N - 4, an unknown type byte, or a
 * header that does not decode are errors; the caller closes that connection.
 * Threads: a command belongs to one thread at a time. */
#ifndef KITE_PROTO_CMD_H
#define KITE_PROTO_CMD_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include <stddef.h>
#include <stdint.h>

#define KITE_FRAME_MAX_DEFAULT (16u * 1024u * 1024u)
#define KITE_FLAG_RESPONSE     0x1
#define KITE_FLAG_ONEWAY       0x2
#define KITE_SER_JSON          0
#define KITE_SER_ROCKETMQ      1

struct kite_json_doc;

typedef struct kite_ext {
    const char *key;
    const char *val;
    size_t vlen;
} kite_ext;

typedef struct kite_cmd {
    int32_t code;
    int32_t language; /* enum kite_language */
    int32_t version;
    int32_t opaque;
    int32_t flag;
    uint8_t serialize;  /* KITE_SER_JSON or KITE_SER_ROCKETMQ: how it was / will be encoded */
    const char *remark; /* NULL = absent */
    kite_ext *ext;
    size_t n_ext, cap_ext;
    int ext_borrowed; /* ext is not the command's own heap array (see kite_cmd_use_ext) */
    const uint8_t *body;
    size_t body_len;
    int body_owned;
    kite_arena arena;
    struct kite_json_doc *doc; /* parsed JSON header, when decoded from JSON */
} kite_cmd;

void kite_cmd_init(kite_cmd *c);
void kite_cmd_free(kite_cmd *c);
/* A new request with our language/version and the given code and opaque. */
void kite_cmd_init_request(kite_cmd *c, int32_t code, int32_t opaque);
/* A response to req: flag RESPONSE, same opaque and serialize type, given code, remark
 * (copied; may be NULL). */
void kite_cmd_init_response(kite_cmd *c, const kite_cmd *req, int32_t code, const char *remark);

static inline int kite_cmd_is_response(const kite_cmd *c)
{
    return (c->flag & KITE_FLAG_RESPONSE) != 0;
}
static inline int kite_cmd_is_oneway(const kite_cmd *c)
{
    return (c->flag & KITE_FLAG_ONEWAY) != 0;
}

void kite_cmd_set_remark(kite_cmd *c, const char *remark);
void kite_cmd_set_remarkf(kite_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds or replaces an extFields entry (key and value copied). */
void kite_cmd_set_ext(kite_cmd *c, const char *key, const char *val);
void kite_cmd_set_ext_n(kite_cmd *c, const char *key, const char *val, size_t vlen);
void kite_cmd_set_ext_i64(kite_cmd *c, const char *key, int64_t v);
/* Adds without checking for an existing key and without copying (key/val must outlive c). */
void kite_cmd_add_ext_ref(kite_cmd *c, const char *key, const char *val, size_t vlen);
/* Makes an empty command keep its first cap extFields in buf (e.g. on the caller's stack)
 * instead of the heap; more fields move them to the heap. buf must outlive the command. */
void kite_cmd_use_ext(kite_cmd *c, kite_ext *buf, size_t cap);
/* Adds a decimal number without checking for an existing key; key is not copied. */
void kite_cmd_add_ext_i64(kite_cmd *c, const char *key, int64_t v);

/* extFields lookups. An empty string counts as absent (Go sends "" for unset fields). */
const char *kite_cmd_ext(const kite_cmd *c, const char *key);
/* Like kite_cmd_ext, but an empty value is returned as "" (fields where "" is data). */
const char *kite_cmd_ext_raw(const kite_cmd *c, const char *key);
/* Integer field: 0 ok, KITE_ENOTFOUND absent, KITE_EINVAL present but not an integer in
 * range. */
int kite_cmd_ext_i64(const kite_cmd *c, const char *key, int64_t *out);
int kite_cmd_ext_i32(const kite_cmd *c, const char *key, int32_t *out);
/* Boolean field: "true"/"false" (any case); absent -> dflt. */
int kite_cmd_ext_bool(const kite_cmd *c, const char *key, int dflt);

void kite_cmd_set_body_copy(kite_cmd *c, const void *p, size_t n);
void kite_cmd_set_body_ref(kite_cmd *c, const void *p, size_t n);
/* Takes ownership of malloc'd memory. */
void kite_cmd_set_body_own(kite_cmd *c, void *p, size_t n);

/* ---- frames ---- */

/* Looks at buffered input. Returns 1 when a whole frame is present (*frame_len = 4 + N),
 * 0 when more bytes are needed, KITE_ECORRUPT when the length is invalid or KITE_ETOOBIG
 * when it exceeds max_frame (message in err). */
int kite_frame_peek(const uint8_t *p, size_t avail, size_t max_frame, size_t *frame_len, char *err,
                    size_t errlen);
/* Decodes one whole frame (as delimited by kite_frame_peek) into c (initialised here).
 * Returns 0, or KITE_ECORRUPT (KITE_ETOOBIG: longer than max_frame) with the reason in
 * err; c is then freed already. */
int kite_cmd_decode(kite_cmd *c, const uint8_t *frame, size_t len, size_t max_frame, char *err,
                    size_t errlen);
/* Appends length word, header-length word and header to out, using c->serialize.
 * The body (c->body_len bytes, plus extra_body bytes sent separately, e.g. file
 * segments) is counted in the length but NOT appended: the caller writes it (writev). */
void kite_cmd_encode_header(const kite_cmd *c, kite_buf *out, size_t extra_body);
/* Header plus body in one buffer (tests, small messages). */
void kite_cmd_encode(const kite_cmd *c, kite_buf *out);

/* Header serialisations (hdr_json.c, hdr_bin.c). Decoders fill c from header bytes. */
int kite_hdr_json_decode(kite_cmd *c, const uint8_t *h, size_t n, char *err, size_t errlen);
void kite_hdr_json_encode(const kite_cmd *c, kite_buf *out);
int kite_hdr_bin_decode(kite_cmd *c, const uint8_t *h, size_t n, char *err, size_t errlen);
void kite_hdr_bin_encode(const kite_cmd *c, kite_buf *out);

/* Language byte <-> JSON name ("JAVA", "GO", ...). Unknown names map to OTHER. */
const char *kite_lang_name(int32_t lang);
int32_t kite_lang_from_name(const char *name);

#endif
