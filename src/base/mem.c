/* mem.c - allocation calls that abort on out-of-memory (see mem.h for the policy). */
#include "base/mem.h"
#include "base/log.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    kite_log(KITE_LOG_ERROR, "mem", "out of memory (%zu bytes); aborting", n);
    abort();
}

void *kite_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *kite_xcalloc(size_t n, size_t size)
{
    size_t total; /* checked without a division: hot paths allocate through here */
    if (__builtin_mul_overflow(n, size, &total)) oom(SIZE_MAX);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(total);
    return p;
}

void *kite_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

void *kite_xreallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) oom(SIZE_MAX);
    return kite_xrealloc(p, total);
}

char *kite_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(kite_xmalloc(n), s, n);
}

char *kite_xstrndup(const char *s, size_t n)
{
    const char *z = memchr(s, 0, n);
    size_t len = z ? (size_t)(z - s) : n;
    char *p = kite_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

void *kite_xgrow(void *p, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (*cap >= need && p) return p;
    size_t c = *cap ? *cap : (first ? first : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2) oom(SIZE_MAX);
        c *= 2;
    }
    p = kite_xreallocarray(p, c, elem);
    *cap = c;
    return p;
}
