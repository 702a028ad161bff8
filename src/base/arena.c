/* arena.c - chunked bump allocator (see arena.h). */
#include "base/arena.h"
#include "base/mem.h"
#include <stdlib.h>
#include <string.h>

struct kite_arena_chunk {
    kite_arena_chunk *next;
    size_t cap;
    _Alignas(16) char data[];
};

void *kite_arena_alloc(kite_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!a->head || a->used + n > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 512;
        if (cap > 65536) cap = 65536;
        if (cap < n) cap = n;
        kite_arena_chunk *c = kite_xmalloc(sizeof *c + cap);
        c->next = a->head;
        c->cap = cap;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    return p;
}

char *kite_arena_strndup(kite_arena *a, const char *s, size_t n)
{
    char *p = kite_arena_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *kite_arena_strdup(kite_arena *a, const char *s)
{
    return kite_arena_strndup(a, s, strlen(s));
}

void kite_arena_free(kite_arena *a)
{
    kite_arena_chunk *c = a->head;
    while (c) {
        kite_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used = a->cap = 0;
}
