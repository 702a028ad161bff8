/* buf.h - growable byte buffer with a read cursor, and big-endian helpers.
 *
 * Owns: the bytes of one buffer (data[rpos..len) is unread content). Growth
 * reallocates, so pointers into data are invalid after any append.
 * Not owned: thread safety - a buffer belongs to one thread at a time.
 * Allocation failure aborts the process (the out-of-memory policy of base/mem.h). */
#ifndef KITE_BASE_BUF_H
#define KITE_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct kite_buf {
    char *data;
    size_t len;  /* bytes written */
    size_t cap;  /* bytes allocated */
    size_t rpos; /* read cursor, <= len */
} kite_buf;

#define KITE_BUF_INIT \
    {                 \
        NULL, 0, 0, 0 \
    }

void kite_buf_init(kite_buf *b);
void kite_buf_free(kite_buf *b);
void kite_buf_reset(kite_buf *b);                 /* len = rpos = 0, keeps memory */
void kite_buf_reserve(kite_buf *b, size_t extra); /* ensure cap >= len + extra + 1 */
void kite_buf_append_slow(kite_buf *b, const void *p, size_t n);
void kite_buf_puts(kite_buf *b, const char *s);
/* Appends; the common case (room left) is inline: it runs for every JSON token. */
static inline void kite_buf_append(kite_buf *b, const void *p, size_t n)
{
    if (b->data && b->len + n < b->cap) {
        if (n) memcpy(b->data + b->len, p, n);
        b->len += n;
    } else {
        kite_buf_append_slow(b, p, n);
    }
}
static inline void kite_buf_putc(kite_buf *b, char c)
{
    if (b->data && b->len + 1 < b->cap)
        b->data[b->len++] = c;
    else
        kite_buf_append_slow(b, &c, 1);
}
void kite_buf_printf(kite_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops consumed bytes [0, rpos) by moving the rest to the front. */
void kite_buf_compact(kite_buf *b);
/* Takes the data pointer out of the buffer (caller frees); buffer becomes empty.
 * The returned memory is NUL-terminated at len. */
char *kite_buf_steal(kite_buf *b, size_t *len);
/* Unread byte count. */
static inline size_t kite_buf_avail(const kite_buf *b) { return b->len - b->rpos; }
/* NUL-terminated view of the content (always valid after an append). */
static inline const char *kite_buf_cstr(kite_buf *b)
{
    if (!b->data) kite_buf_reserve(b, 0);
    b->data[b->len] = 0;
    return b->data;
}

/* Value of the 4 hex digits at s[i..i+4) when i + 4 <= end, else (or not hex) -1. */
static inline long kite_hex4(const char *s, size_t i, size_t end)
{
    if (i + 4 > end) return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        char c = s[i + k];
        int h = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Copies the string src into dst of cap (> 0) bytes, truncated, always NUL-terminated;
 * returns the length copied. (snprintf "%s" does the same at several times the cost.) */
static inline size_t kite_str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
    return n;
}

/* Decimal text of v into o (room for 21 bytes), NUL-terminated; returns the length.
 * The hot paths (request headers, answers) format several numbers per message, and
 * snprintf costs ~10x as much. */
static inline size_t kite_fmt_i64(char *o, int64_t v)
{
    char t[20];
    size_t n = 0, k = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        t[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) o[k++] = '-';
    while (n) o[k++] = t[--n];
    o[k] = 0;
    return k;
}

/* The low 4*digits bits of v as upper-case hex, most significant first (no NUL). */
static inline void kite_fmt_hex(char *o, uint64_t v, int digits)
{
    static const char hx[] = "0123456789ABCDEF";
    for (int i = digits - 1; i >= 0; i--, v >>= 4) o[i] = hx[v & 15];
}

/* Writes code point cp (<= 0x10FFFF) as UTF-8 into o (room for 4 bytes); returns the length. */
static inline size_t kite_utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static inline uint16_t kite_rd_be16(const void *p)
{
    const uint8_t *u = p;
    return (uint16_t)((u[0] << 8) | u[1]);
}
static inline uint32_t kite_rd_be32(const void *p)
{
    const uint8_t *u = p;
    return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) | u[3];
}
static inline uint64_t kite_rd_be64(const void *p)
{
    const uint8_t *u = p;
    return ((uint64_t)kite_rd_be32(u) << 32) | kite_rd_be32(u + 4);
}
static inline void kite_wr_be16(void *p, uint16_t v)
{
    uint8_t *u = p;
    u[0] = (uint8_t)(v >> 8);
    u[1] = (uint8_t)v;
}
static inline void kite_wr_be32(void *p, uint32_t v)
{
    uint8_t *u = p;
    u[0] = (uint8_t)(v >> 24);
    u[1] = (uint8_t)(v >> 16);
    u[2] = (uint8_t)(v >> 8);
    u[3] = (uint8_t)v;
}
static inline void kite_wr_be64(void *p, uint64_t v)
{
    kite_wr_be32(p, (uint32_t)(v >> 32));
    kite_wr_be32((uint8_t *)p + 4, (uint32_t)v);
}

/* Big-endian appends; inline because frame headers are built from them. */
static inline void kite_buf_put_be16(kite_buf *b, uint16_t v)
{
    if (!b->data || b->len + 2 >= b->cap) kite_buf_reserve(b, 2);
    kite_wr_be16(b->data + b->len, v);
    b->len += 2;
}
static inline void kite_buf_put_be32(kite_buf *b, uint32_t v)
{
    if (!b->data || b->len + 4 >= b->cap) kite_buf_reserve(b, 4);
    kite_wr_be32(b->data + b->len, v);
    b->len += 4;
}
static inline void kite_buf_put_be64(kite_buf *b, uint64_t v)
{
    if (!b->data || b->len + 8 >= b->cap) kite_buf_reserve(b, 8);
    kite_wr_be64(b->data + b->len, v);
    b->len += 8;
}

#endif
