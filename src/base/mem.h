/* mem.h - heap allocation with the one out-of-memory policy of KiteMQ.
 *
 * Owns: the policy. libkite and the daemons abort on heap exhaustion: every heap
 * allocation goes through these calls, which log "out of memory (N bytes)" and abort()
 * when the allocator fails. A process that cannot allocate a few bytes cannot answer
 * anyone, and a clean abort beats half-updated state. Callers therefore never test the
 * result for NULL, and no function returns KITE_ENOMEM for heap exhaustion
 * (include/kite/kite.h states the policy for users).
 * Size arithmetic (n * size, doubling a capacity) is checked: an overflow is treated as
 * out of memory, never as a short allocation.
 * Thread-safe (as malloc). */
#ifndef KITE_BASE_MEM_H
#define KITE_BASE_MEM_H
#include <stddef.h>

/* malloc/calloc/realloc that never return NULL (size 0 gives a unique pointer). */
void *kite_xmalloc(size_t n);
void *kite_xcalloc(size_t n, size_t size);
void *kite_xrealloc(void *p, size_t n);
/* realloc of an array of n elements of size bytes (n * size checked). */
void *kite_xreallocarray(void *p, size_t n, size_t size);
/* Copies of a NUL-terminated string / of at most n bytes of one (always NUL-terminated). */
char *kite_xstrdup(const char *s);
char *kite_xstrndup(const char *s, size_t n);
/* Grows array p (capacity *cap elements of elem bytes) to hold at least need elements:
 * the capacity doubles from first (or from *cap). Returns the (possibly moved) array;
 * its first *cap elements (old capacity) are kept, the new ones are uninitialised. */
void *kite_xgrow(void *p, size_t *cap, size_t need, size_t elem, size_t first);

#endif
