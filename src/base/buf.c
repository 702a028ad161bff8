/* buf.c - growable byte buffer (see buf.h for ownership rules). */
#include "base/buf.h"
#include "base/mem.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void kite_buf_init(kite_buf *b)
{
    b->data = NULL;
    b->len = b->cap = b->rpos = 0;
}

void kite_buf_free(kite_buf *b)
{
    free(b->data);
    kite_buf_init(b);
}

void kite_buf_reset(kite_buf *b) { b->len = b->rpos = 0; }

void kite_buf_reserve(kite_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1; /* +1 keeps room for a terminating NUL */
    if (need <= b->cap && b->data) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap * 2;
    b->data = kite_xrealloc(b->data, cap);
    b->cap = cap;
}

void kite_buf_append_slow(kite_buf *b, const void *p, size_t n)
{
    kite_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

void kite_buf_puts(kite_buf *b, const char *s) { kite_buf_append(b, s, strlen(s)); }

void kite_buf_printf(kite_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n >= 0 && (size_t)n < sizeof tmp) {
        kite_buf_append(b, tmp, (size_t)n);
    } else if (n >= 0) {
        kite_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    va_end(ap);
}

void kite_buf_compact(kite_buf *b)
{
    if (b->rpos == 0) return;
    size_t n = b->len - b->rpos;
    if (n) memmove(b->data, b->data + b->rpos, n);
    b->len = n;
    b->rpos = 0;
}

char *kite_buf_steal(kite_buf *b, size_t *len)
{
    kite_buf_reserve(b, 0);
    b->data[b->len] = 0;
    char *p = b->data;
    if (len) *len = b->len;
    kite_buf_init(b);
    return p;
}
