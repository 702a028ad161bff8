/* offsets.c - committed consumer offsets per (topic, group, queue) and
 * consumerOffset.json: {"offsetTable":{"topic@group":{0:12,1:5}}} with fastjson's bare
 * integer keys. Saved every flushConsumerOffsetInterval when changed, and at shutdown.
 * On a slave: which queues consumers committed to it, and adopting the master's table
 * (bk_offsets_adopt). Loop thread only. */
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_queue_map(void *p)
{
    kite_map_free(p, free);
    free(p);
}

void bk_offsets_free(kite_broker *b)
{
    kite_map_free(&b->offsets, free_queue_map);
    kite_map_free(&b->slave_commits, NULL);
}

static void key_of(char *out, size_t len, const char *topic, const char *group)
{
    snprintf(out, len, "%s@%s", topic, group);
}

int64_t bk_offset_get(kite_broker *b, const char *topic, const char *group, int32_t qid)
{
    char key[600], q[16];
    key_of(key, sizeof key, topic, group);
    kite_map *m = kite_map_get(&b->offsets, key);
    if (!m) return -1;
    snprintf(q, sizeof q, "%d", qid);
    int64_t *v = kite_map_get(m, q);
    return v ? *v : -1;
}

void bk_offset_set(kite_broker *b, const char *topic, const char *group, int32_t qid, int64_t off)
{
    char key[600], q[16];
    key_of(key, sizeof key, topic, group);
    kite_map *m = kite_map_get(&b->offsets, key);
    if (!m) {
        m = kite_xcalloc(1, sizeof *m);
        kite_map_put(&b->offsets, key, m);
    }
    snprintf(q, sizeof q, "%d", qid);
    int64_t *v = kite_map_get(m, q);
    if (!v) {
        v = kite_xmalloc(sizeof *v);
        kite_map_put(m, q, v);
    } else if (*v == off) {
        return;
    }
    *v = off;
    b->offsets_dirty = 1;
}

void bk_offset_commit(kite_broker *b, const char *topic, const char *group, int32_t qid,
                      int64_t off)
{
    bk_offset_set(b, topic, group, qid, off);
    if (!b->cfg.is_slave) return;
    char key[640];
    snprintf(key, sizeof key, "%s@%s#%d", topic, group, (int)qid);
    kite_map_put(&b->slave_commits, key, b); /* committed here: newer than the master's? */
}

size_t bk_offsets_adopt(kite_broker *b, const kite_json *root, bk_offset_push_fn push, void *arg)
{
    size_t pushed = 0;
    const kite_json *tbl = kite_json_get(root, "offsetTable");
    for (size_t i = 0; tbl && tbl->type == KJ_OBJECT && i < tbl->count; i++) {
        const kite_json *k = tbl->members[i].key, *v = tbl->members[i].value;
        if (k->type != KJ_STRING || v->type != KJ_OBJECT) continue;
        const char *at = strchr(k->text, '@');
        if (!at) continue;
        char topic[512], mark[640];
        snprintf(topic, sizeof topic, "%.*s", (int)(at - k->text), k->text);
        for (size_t j = 0; j < v->count; j++) {
            int64_t q, off;
            if (kite_json_int64(v->members[j].key, &q) != 0 ||
                kite_json_int64(v->members[j].value, &off) != 0)
                continue;
            snprintf(mark, sizeof mark, "%s#%d", k->text, (int)q);
            int64_t mine = bk_offset_get(b, topic, at + 1, (int32_t)q);
            int committed_here = kite_map_del(&b->slave_commits, mark) != NULL;
            if (committed_here && mine > off) {
                push(arg, topic, at + 1, (int32_t)q, mine); /* the master adopts the newer one */
                pushed++;
                continue; /* once: later changes on the master (a reset) win again */
            }
            bk_offset_set(b, topic, at + 1, (int32_t)q, off);
        }
    }
    return pushed;
}

static int cmp_qid(const void *a, const void *b)
{
    long x = atol(*(const char *const *)a), y = atol(*(const char *const *)b);
    return x < y ? -1 : x > y;
}

void bk_offsets_json(kite_broker *b, kite_buf *outp)
{
    kite_jw w;
    kite_jw_init(&w, outp, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "offsetTable");
    kite_jw_obj_begin(&w);
    size_t n;
    const char **keys = kite_map_sorted_keys(&b->offsets, &n);
    for (size_t i = 0; i < n; i++) {
        kite_map *m = kite_map_get(&b->offsets, keys[i]);
        kite_jw_key(&w, keys[i]);
        kite_jw_obj_begin(&w);
        size_t nq;
        const char **qs = kite_map_sorted_keys(m, &nq);
        qsort(qs, nq, sizeof *qs, cmp_qid);
        for (size_t j = 0; j < nq; j++) {
            kite_jw_key_int(&w, atol(qs[j]), 0);
            kite_jw_int(&w, *(int64_t *)kite_map_get(m, qs[j]));
        }
        free(qs);
        kite_jw_obj_end(&w);
    }
    free(keys);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
}

int bk_save_offsets(kite_broker *b)
{
    kite_buf out = KITE_BUF_INIT;
    bk_offsets_json(b, &out);
    int rc = bk_meta_write(b, "consumerOffset.json", &out);
    if (rc == KITE_OK) b->offsets_dirty = 0;
    return rc;
}

int bk_offsets_load(kite_broker *b, char *err, size_t errlen)
{
    kite_json_doc *doc;
    int rc = bk_meta_load_json(
        b, "consumerOffset.json", 1u << 30, &doc,
        "restore it or remove it (consumers then restart from their consumeFromWhere)", err,
        errlen);
    if (rc != KITE_OK) return rc;
    size_t count = 0;
    const kite_json *tbl = doc ? kite_json_get(kite_json_root(doc), "offsetTable") : NULL;
    for (size_t i = 0; tbl && tbl->type == KJ_OBJECT && i < tbl->count; i++) {
        const kite_json *k = tbl->members[i].key, *v = tbl->members[i].value;
        if (k->type != KJ_STRING || v->type != KJ_OBJECT) continue;
        const char *at = strchr(k->text, '@'); /* topic names cannot hold '@' */
        if (!at) continue;
        char topic[512];
        snprintf(topic, sizeof topic, "%.*s", (int)(at - k->text), k->text);
        for (size_t j = 0; j < v->count; j++) {
            int64_t q, off;
            if (kite_json_int64(v->members[j].key, &q) != 0 ||
                kite_json_int64(v->members[j].value, &off) != 0)
                continue;
            bk_offset_set(b, topic, at + 1, (int32_t)q, off);
            count++;
        }
    }
    b->offsets_dirty = 0;
    if (doc) {
        KLOG_INFO("broker", "loaded %zu consumer offset(s)", count);
        kite_json_doc_free(doc);
    }
    return KITE_OK;
}

void bk_offsets_remove_group(kite_broker *b, const char *group)
{
    size_t it = 0;
    const char *key;
    void *v;
    while (kite_map_next(&b->offsets, &it, &key, &v)) {
        const char *at = strchr(key, '@');
        if (at && strcmp(at + 1, group) == 0) {
            free_queue_map(kite_map_del(&b->offsets, key));
            b->offsets_dirty = 1;
        }
    }
}

void bk_offsets_remove_topic(kite_broker *b, const char *topic)
{
    size_t it = 0, tl = strlen(topic);
    const char *key;
    void *v;
    while (kite_map_next(&b->offsets, &it, &key, &v)) {
        if (strncmp(key, topic, tl) == 0 && key[tl] == '@') {
            free_queue_map(kite_map_del(&b->offsets, key));
            b->offsets_dirty = 1;
        }
    }
}

/* Topics a group has offsets for (sorted, malloc'd array of borrowed strings). */
char **bk_offsets_topics_of(kite_broker *b, const char *group, size_t *n)
{
    size_t cnt;
    const char **keys = kite_map_sorted_keys(&b->offsets, &cnt);
    char **out = kite_xcalloc(cnt + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; i < cnt; i++) {
        const char *at = strchr(keys[i], '@');
        if (at && strcmp(at + 1, group) == 0)
            out[(*n)++] = kite_xstrndup(keys[i], (size_t)(at - keys[i]));
    }
    free(keys);
    return out;
}

/* Groups with offsets for a topic (malloc'd strings). */
char **bk_offsets_groups_of(kite_broker *b, const char *topic, size_t *n)
{
    size_t cnt, tl = strlen(topic);
    const char **keys = kite_map_sorted_keys(&b->offsets, &cnt);
    char **out = kite_xcalloc(cnt + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; i < cnt; i++)
        if (strncmp(keys[i], topic, tl) == 0 && keys[i][tl] == '@')
            out[(*n)++] = kite_xstrdup(keys[i] + tl + 1);
    free(keys);
    return out;
}
