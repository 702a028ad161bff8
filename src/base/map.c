/* map.c - string-keyed open-addressing hash map (see map.h). */
#include "base/map.h"
#include "base/mem.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tomb_marker;
#define TOMB (&tomb_marker)

static unsigned hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s) {
        h ^= (uint8_t)*s++;
        h *= 16777619u;
    }
    return h;
}

void kite_map_init(kite_map *m) { memset(m, 0, sizeof *m); }

void kite_map_free(kite_map *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        kite_map_slot *s = &m->slots[i];
        if (s->key && s->key != TOMB) {
            if (free_val) free_val(s->val);
            free(s->key);
        }
    }
    free(m->slots);
    kite_map_init(m);
}

static kite_map_slot *find(const kite_map *m, const char *key, unsigned h)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        kite_map_slot *s = &m->slots[i];
        if (!s->key) return NULL;
        if (s->key != TOMB && s->hash == h && strcmp(s->key, key) == 0) return s;
    }
}

static void rehash(kite_map *m, size_t cap)
{
    kite_map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = kite_xcalloc(cap, sizeof *m->slots);
    m->cap = cap;
    m->used = m->count;
    for (size_t i = 0; i < oldcap; i++) {
        kite_map_slot *s = &old[i];
        if (!s->key || s->key == TOMB) continue;
        size_t j = s->hash & (cap - 1);
        while (m->slots[j].key) j = (j + 1) & (cap - 1);
        m->slots[j] = *s;
    }
    free(old);
}

void *kite_map_get(const kite_map *m, const char *key)
{
    kite_map_slot *s = find(m, key, hash_str(key));
    return s ? s->val : NULL;
}

void *kite_map_put(kite_map *m, const char *key, void *val)
{
    unsigned h = hash_str(key);
    kite_map_slot *s = find(m, key, h);
    if (s) {
        void *old = s->val;
        s->val = val;
        return old;
    }
    if ((m->used + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->count * 2 >= m->cap ? m->cap * 2 : m->cap) : 16);
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMB) i = (i + 1) & mask;
    if (!m->slots[i].key) m->used++;
    m->slots[i].key = kite_xstrdup(key);
    m->slots[i].val = val;
    m->slots[i].hash = h;
    m->count++;
    return NULL;
}

void *kite_map_del(kite_map *m, const char *key)
{
    kite_map_slot *s = find(m, key, hash_str(key));
    if (!s) return NULL;
    void *v = s->val;
    free(s->key);
    s->key = TOMB;
    s->val = NULL;
    m->count--;
    return v;
}

int kite_map_next(const kite_map *m, size_t *iter, const char **key, void **val)
{
    while (*iter < m->cap) {
        kite_map_slot *s = &m->slots[(*iter)++];
        if (s->key && s->key != TOMB) {
            if (key) *key = s->key;
            if (val) *val = s->val;
            return 1;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **kite_map_sorted_keys(const kite_map *m, size_t *n)
{
    const char **keys = kite_xcalloc(m->count, sizeof *keys);
    size_t k = 0, it = 0;
    const char *key;
    while (kite_map_next(m, &it, &key, NULL)) keys[k++] = key;
    qsort(keys, k, sizeof *keys, cmp_str);
    *n = k;
    return keys;
}
