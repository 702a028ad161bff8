/* record.c - stored record encode/decode, Java tag hash.
 * The field table is in record.h (the owning header). Pure functions; reentrant. */
#include "codec/record.h"
#include "base/buf.h"
#include "base/crc32.h"
#include "base/err.h"
#include <string.h>

static size_t host_len(int32_t sysflag, int bit) { return (sysflag & bit) ? 20 : 8; }

size_t kite_record_size(uint32_t magic, int32_t sysflag, size_t body_len, size_t topic_len,
                        size_t props_len)
{
    size_t tl;
    if (magic == KITE_REC_MAGIC_V1) {
        if (topic_len > KITE_REC_MAX_TOPIC_V1) return 0;
        tl = 1;
    } else if (magic == KITE_REC_MAGIC_V2) {
        if (topic_len > 32767) return 0;
        tl = 2;
    } else {
        return 0;
    }
    if (props_len > KITE_REC_MAX_PROPS || body_len > 0x7FFFFFFFu) return 0;
    size_t n = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + host_len(sysflag, KITE_SYSFLAG_BORNHOST_V6) + 8 +
               host_len(sysflag, KITE_SYSFLAG_STOREHOST_V6) + 4 + 8 + 4 + body_len + tl +
               topic_len + 2 + props_len;
    return n > 0x7FFFFFFFu ? 0 : n;
}

static uint8_t *put_host(uint8_t *w, const uint8_t *addr, int32_t port, int v6)
{
    memcpy(w, addr, v6 ? 16 : 4);
    w += v6 ? 16 : 4;
    kite_wr_be32(w, (uint32_t)port);
    return w + 4;
}

size_t kite_record_encode(const kite_record *r, uint8_t *dst, size_t cap)
{
    size_t total = kite_record_size(r->magic, r->sysflag, r->body_len, r->topic_len, r->props_len);
    if (total == 0 || total > cap) return 0;
    uint8_t *w = dst;
    kite_wr_be32(w, (uint32_t)total);
    w += 4;
    kite_wr_be32(w, r->magic);
    w += 4;
    kite_wr_be32(w, kite_crc32_masked(r->body, r->body_len));
    w += 4;
    kite_wr_be32(w, (uint32_t)r->queue_id);
    w += 4;
    kite_wr_be32(w, (uint32_t)r->flag);
    w += 4;
    kite_wr_be64(w, (uint64_t)r->queue_offset);
    w += 8;
    kite_wr_be64(w, (uint64_t)r->phys_offset);
    w += 8;
    kite_wr_be32(w, (uint32_t)r->sysflag);
    w += 4;
    kite_wr_be64(w, (uint64_t)r->born_ts);
    w += 8;
    w = put_host(w, r->born_addr, r->born_port, r->sysflag & KITE_SYSFLAG_BORNHOST_V6);
    kite_wr_be64(w, (uint64_t)r->store_ts);
    w += 8;
    w = put_host(w, r->store_addr, r->store_port, r->sysflag & KITE_SYSFLAG_STOREHOST_V6);
    kite_wr_be32(w, (uint32_t)r->reconsume_times);
    w += 4;
    kite_wr_be64(w, (uint64_t)r->prepared_tx_offset);
    w += 8;
    kite_wr_be32(w, r->body_len);
    w += 4;
    if (r->body_len) memcpy(w, r->body, r->body_len);
    w += r->body_len;
    if (r->magic == KITE_REC_MAGIC_V1) {
        *w++ = (uint8_t)r->topic_len;
    } else {
        kite_wr_be16(w, (uint16_t)r->topic_len);
        w += 2;
    }
    memcpy(w, r->topic, r->topic_len);
    w += r->topic_len;
    kite_wr_be16(w, (uint16_t)r->props_len);
    w += 2;
    if (r->props_len) memcpy(w, r->props, r->props_len);
    w += r->props_len;
    return (size_t)(w - dst);
}

void kite_record_write_blank(uint8_t *dst, uint32_t len)
{
    kite_wr_be32(dst, len);
    kite_wr_be32(dst + 4, KITE_REC_MAGIC_BLANK);
}

static const uint8_t *get_host(const uint8_t *p, uint8_t *addr, int32_t *port, int v6)
{
    memset(addr, 0, 16);
    memcpy(addr, p, v6 ? 16 : 4);
    p += v6 ? 16 : 4;
    *port = (int32_t)kite_rd_be32(p);
    return p + 4;
}

#define FAIL(reason)              \
    do {                          \
        if (why) *why = (reason); \
        return KITE_ECORRUPT;     \
    } while (0)

int kite_record_decode(const uint8_t *p, size_t avail, kite_record *out, int flags,
                       const char **why)
{
    if (why) *why = NULL;
    if (avail < 8) {
        if (why) *why = "fewer than 8 bytes";
        return KITE_EAGAIN;
    }
    uint32_t total = kite_rd_be32(p);
    uint32_t magic = kite_rd_be32(p + 4);
    out->total_size = total;
    out->magic = magic;
    if (magic == KITE_REC_MAGIC_BLANK) {
        if (total < KITE_REC_BLANK_MIN) FAIL("blank filler shorter than 8 bytes");
        return KITE_ENOTFOUND;
    }
    if (magic != KITE_REC_MAGIC_V1 && magic != KITE_REC_MAGIC_V2) FAIL("bad magic code");
    if (total < KITE_REC_FIXED_V1 || total > 0x7FFFFFFFu) FAIL("TOTALSIZE out of range");
    if (total > avail) {
        if (why) *why = "record extends past the readable end";
        return KITE_EAGAIN;
    }
    const uint8_t *q = p + 8, *end = p + total;
    out->body_crc = kite_rd_be32(q);
    q += 4;
    out->queue_id = (int32_t)kite_rd_be32(q);
    q += 4;
    out->flag = (int32_t)kite_rd_be32(q);
    q += 4;
    out->queue_offset = (int64_t)kite_rd_be64(q);
    q += 8;
    out->phys_offset = (int64_t)kite_rd_be64(q);
    q += 8;
    out->sysflag = (int32_t)kite_rd_be32(q);
    q += 4;
    size_t need = kite_record_size(magic, out->sysflag, 0, 0, 0);
    if (need > total) FAIL("TOTALSIZE smaller than the fixed fields");
    out->born_ts = (int64_t)kite_rd_be64(q);
    q += 8;
    q = get_host(q, out->born_addr, &out->born_port, out->sysflag & KITE_SYSFLAG_BORNHOST_V6);
    out->store_ts = (int64_t)kite_rd_be64(q);
    q += 8;
    q = get_host(q, out->store_addr, &out->store_port, out->sysflag & KITE_SYSFLAG_STOREHOST_V6);
    out->reconsume_times = (int32_t)kite_rd_be32(q);
    q += 4;
    out->prepared_tx_offset = (int64_t)kite_rd_be64(q);
    q += 8;
    out->body_len = kite_rd_be32(q);
    q += 4;
    if (out->body_len > (size_t)(end - q)) FAIL("BODYLENGTH exceeds the record");
    out->body = q;
    q += out->body_len;
    size_t tl = magic == KITE_REC_MAGIC_V1 ? 1 : 2;
    if ((size_t)(end - q) < tl) FAIL("no room for TOPICLENGTH");
    out->topic_len = tl == 1 ? *q : kite_rd_be16(q);
    q += tl;
    if (out->topic_len == 0) FAIL("empty topic");
    if (out->topic_len > (size_t)(end - q)) FAIL("TOPICLENGTH exceeds the record");
    out->topic = (const char *)q;
    for (uint32_t i = 0; i < out->topic_len; i++)
        if (q[i] == 0 || q[i] == '/') FAIL("topic holds a NUL or '/' byte");
    q += out->topic_len;
    if ((size_t)(end - q) < 2) FAIL("no room for PROPERTIESLENGTH");
    int16_t pl = (int16_t)kite_rd_be16(q);
    q += 2;
    if (pl < 0) FAIL("negative PROPERTIESLENGTH");
    out->props_len = (uint32_t)pl;
    out->props = (const char *)q;
    if (q + out->props_len != end) FAIL("field lengths do not add up to TOTALSIZE");
    if (out->props_len && memchr(q, 0, out->props_len)) FAIL("properties hold a NUL byte");
    if ((flags & KITE_REC_CHECK_CRC) &&
        kite_crc32_masked(out->body, out->body_len) != out->body_crc)
        FAIL("body CRC mismatch");
    return (int)total;
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, *cp the code point
 * (U+FFFD for a malformed sequence, consuming one byte). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return len;
}

int32_t kite_java_hash(const char *utf8, size_t len)
{
    uint32_t h = 0;
    const unsigned char *s = (const unsigned char *)utf8;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        if (s[i] < 0x80) {
            h = 31u * h + s[i];
            i++;
            continue;
        }
        i += utf8_next(s + i, len - i, &cp);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31u * h + (0xD800u + (cp >> 10));
            h = 31u * h + (0xDC00u + (cp & 0x3FF));
        } else {
            h = 31u * h + cp;
        }
    }
    return (int32_t)h;
}

int64_t kite_tag_code(const char *props, size_t props_len)
{
    size_t vlen;
    const char *v = kite_msgprop_get(props, props_len, "TAGS", &vlen);
    if (!v) return 0;
    return (int64_t)kite_java_hash(v, vlen);
}
