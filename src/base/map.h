/* map.h - string-keyed hash map (open addressing, linear probing, tombstones).
 *
 * Owns: copies of the keys. Values are caller pointers; the map never frees them
 * (kite_map_free takes an optional destructor). Iteration order is unspecified;
 * kite_map_sorted_keys gives a stable order where output must be deterministic.
 * One thread at a time. */
#ifndef KITE_BASE_MAP_H
#define KITE_BASE_MAP_H

#include <stddef.h>

typedef struct kite_map_slot {
    char *key; /* NULL = empty; KITE_MAP_TOMB = deleted */
    void *val;
    unsigned hash;
} kite_map_slot;

typedef struct kite_map {
    kite_map_slot *slots;
    size_t cap;   /* power of two */
    size_t count; /* live entries */
    size_t used;  /* live + tombstones */
} kite_map;

#define KITE_MAP_INIT \
    {                 \
        NULL, 0, 0, 0 \
    }

void kite_map_init(kite_map *m);
void kite_map_free(kite_map *m, void (*free_val)(void *));
void *kite_map_get(const kite_map *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). */
void *kite_map_put(kite_map *m, const char *key, void *val);
/* Removes; returns the removed value (or NULL). */
void *kite_map_del(kite_map *m, const char *key);
/* Iteration: for (size_t i = 0; kite_map_next(m, &i, &k, &v);) ...  Safe to delete the
 * current entry during iteration (no rehash happens on delete). */
int kite_map_next(const kite_map *m, size_t *iter, const char **key, void **val);
/* malloc'd array of the keys in strcmp order (count in *n); free() the array only. */
const char **kite_map_sorted_keys(const kite_map *m, size_t *n);

#endif
