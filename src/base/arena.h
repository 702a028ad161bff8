/* arena.h - chunked bump allocator: many small allocations, one release.
 *
 * Owns: its chunks. Memory handed out never moves (chunks are never reallocated), so
 * pointers stay valid until kite_arena_free(). Used for per-command strings (proto) and
 * anything else whose pieces share one lifetime. One thread at a time. */
#ifndef KITE_BASE_ARENA_H
#define KITE_BASE_ARENA_H
#include <stddef.h>

typedef struct kite_arena_chunk kite_arena_chunk;
typedef struct kite_arena {
    kite_arena_chunk *head; /* newest chunk first */
    size_t used, cap;       /* in the head chunk */
} kite_arena;

#define KITE_ARENA_INIT \
    {                   \
        NULL, 0, 0      \
    }

void *kite_arena_alloc(kite_arena *a, size_t n); /* 8-byte aligned; aborts on OOM */
char *kite_arena_strndup(kite_arena *a, const char *s, size_t n); /* NUL-terminated copy */
char *kite_arena_strdup(kite_arena *a, const char *s);
void kite_arena_free(kite_arena *a);

#endif
