/* consumer_offset.c - where the push consumer reads and stores offsets: the start
 * offset of a newly taken queue (QUERY_CONSUMER_OFFSET, else consume_from via
 * GET_MAX_OFFSET / SEARCH_OFFSET_BY_TIMESTAMP), the commits (UPDATE_CONSUMER_OFFSET
 * in CLUSTERING) and, in BROADCASTING, the local offset table and its file
 * <offset_store_dir>/<group>/<instance>/offsets.json (rewritten atomically).
 *
 * Owns: c->offsets (the local table) and offsets_dirty.
 * Threads: I/O thread only (local_load also at start, before the I/O thread runs). */
#include "client/consumer_int.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/codes.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- offsets: commit (I/O) ---- */

void kite_pc_commit_remote(kite_push_consumer *c, pq *q, int64_t off)
{
    char addr[128];
    if (off < 0 || kite_pc_broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) return;
    kite_cmd req;
    kite_cmd_init_request(&req, RC_UPDATE_CONSUMER_OFFSET, 0);
    kite_cmd_set_ext(&req, "consumerGroup", c->group);
    kite_cmd_set_ext(&req, "topic", q->s->topic);
    set_i64(&req, "queueId", q->qid);
    set_i64(&req, "commitOffset", off);
    kite_cmd_set_ext(&req, "bname", q->broker);
    kite_rpc_oneway(rpc(c), addr, &req);
}

void kite_pc_local_set(kite_push_consumer *c, const char *key, int64_t off)
{
    int64_t *v = kite_map_get(&c->offsets, key);
    if (v && *v == off) return;
    if (!v) {
        v = kite_xmalloc(sizeof *v);
        kite_map_put(&c->offsets, key, v);
    }
    *v = off;
    c->offsets_dirty = 1;
}

/* {"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:offset,...}} (Java's
 * OffsetSerializeWrapper), keys in sorted order. */
void kite_pc_local_save(kite_push_consumer *c)
{
    if (!c->offsets_dirty || !c->offset_file) return;
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "offsetTable");
    kite_jw_obj_begin(&w);
    size_t n = 0;
    const char **keys = kite_map_sorted_keys(&c->offsets, &n);
    for (size_t i = 0; keys && i < n; i++) {
        char *k = kite_xstrdup(keys[i]);
        char *b = strchr(k, 1), *qs = b ? strchr(b + 1, 1) : NULL;
        if (!b || !qs) {
            free(k);
            continue;
        }
        *b++ = 0;
        *qs++ = 0;
        kite_jw_key_obj_begin(&w);
        kite_jw_key(&w, "brokerName");
        kite_jw_str(&w, b);
        kite_jw_key(&w, "queueId");
        kite_jw_int(&w, atoi(qs));
        kite_jw_key(&w, "topic");
        kite_jw_str(&w, k);
        kite_jw_key_obj_end(&w);
        kite_jw_int(&w, *(int64_t *)kite_map_get(&c->offsets, keys[i]));
        free(k);
    }
    free(keys);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
    int rc = kite_mkdirs_for(c->offset_file);
    if (rc == 0) rc = kite_file_write_atomic(c->offset_file, out.data, out.len);
    if (rc != 0)
        KLOG_WARN("client", "consumer %s: cannot write %s: %s", c->group, c->offset_file,
                  kite_strerror(rc));
    else
        c->offsets_dirty = 0;
    kite_buf_free(&out);
}

void kite_pc_local_load(kite_push_consumer *c)
{
    char *text = NULL;
    size_t len = 0;
    int rc = kite_file_read_all(c->offset_file, 64u << 20, &text, &len);
    if (rc != 0) {
        if (rc != KITE_ENOTFOUND)
            KLOG_WARN("client", "consumer %s: cannot read %s: %s", c->group, c->offset_file,
                      kite_strerror(rc));
        return;
    }
    char err[160];
    kite_json_doc *doc = kite_json_parse(text, len, err, sizeof err);
    const kite_json *t = doc ? kite_json_get(kite_json_root(doc), "offsetTable") : NULL;
    if (!doc)
        KLOG_WARN("client", "consumer %s: %s is not JSON (%s); starting without local offsets",
                  c->group, c->offset_file, err);
    for (size_t i = 0; t && t->type == KJ_OBJECT && i < t->count; i++) {
        const kite_json *k = t->members[i].key;
        int64_t off;
        if (k->type != KJ_OBJECT || kite_json_int64(t->members[i].value, &off) != 0) continue;
        const char *topic = kite_json_get_str(k, "topic", NULL),
                   *broker = kite_json_get_str(k, "brokerName", NULL);
        int32_t qid = kite_json_get_int32(k, "queueId", -1);
        if (!topic || !broker || qid < 0) continue;
        char *key = kite_pc_mq_key(topic, broker, qid);
        kite_pc_local_set(c, key, off);
        free(key);
    }
    c->offsets_dirty = 0;
    if (doc) kite_json_doc_free(doc);
    free(text);
}

/* Stores the offset of q now (broker or local table). */
void kite_pc_commit_pq(kite_push_consumer *c, pq *q)
{
    if (q->state != PQ_RUN) return;
    int64_t off = kite_pc_pq_offset(q);
    if (off < 0) return;
    if (clustering(c))
        kite_pc_commit_remote(c, q, off);
    else
        kite_pc_local_set(c, q->key, off);
}

void kite_pc_commit_all(kite_push_consumer *c)
{
    size_t it = 0;
    void *v;
    while (kite_map_next(&c->pqs, &it, NULL, &v)) kite_pc_commit_pq(c, v);
    kite_pc_local_save(c);
}

/* ---- start offsets of a new queue (I/O) ---- */

static void start_at(pq *q, int64_t off)
{
    if (off < 0) off = 0;
    kite_pc_pq_set_tail(q, off);
    q->next_pull = off;
    q->state = PQ_RUN;
    kite_pc_pull(q);
}

static void on_lookup(int status, kite_cmd *resp, void *arg)
{
    pq *q = arg;
    kite_push_consumer *c = q->c;
    int64_t off;
    if (atomic_load(&q->dropped) || stopping(c)) {
    } else if (status != KITE_OK || resp->code != RS_SUCCESS ||
               kite_cmd_ext_i64(resp, "offset", &off) != 0) {
        KLOG_WARN("client",
                  "consumer %s: no start offset for %s:%s:%d (%s); retried at the next rebalance",
                  c->group, q->s->topic, q->broker, q->qid,
                  status != KITE_OK ? kite_strerror(status) : "broker refused");
        kite_pc_drop_pq(c, q, 0);
    } else {
        start_at(q, off);
    }
    kite_pc_pq_release(q);
}

/* consume_from for a queue without an offset (docs/wire.md §12.6). */
static void from_where(pq *q)
{
    kite_push_consumer *c = q->c;
    int code = 0;
    if (c->o.consume_from == KITE_CONSUME_FROM_FIRST_OFFSET) {
        start_at(q, 0);
        return;
    }
    if (c->o.consume_from == KITE_CONSUME_FROM_LAST_OFFSET) {
        if (q->s->is_retry) {
            start_at(q, 0);
            return;
        }
        code = RC_GET_MAX_OFFSET;
    } else {
        code = q->s->is_retry ? RC_GET_MAX_OFFSET : RC_SEARCH_OFFSET_BY_TIMESTAMP;
    }
    char addr[128];
    if (kite_pc_broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) {
        kite_pc_drop_pq(c, q, 0);
        return;
    }
    kite_cmd req;
    kite_cmd_init_request(&req, code, 0);
    kite_cmd_set_ext(&req, "topic", q->s->topic);
    set_i64(&req, "queueId", q->qid);
    if (code == RC_SEARCH_OFFSET_BY_TIMESTAMP) {
        int64_t ts = c->o.consume_timestamp_ms ? c->o.consume_timestamp_ms
                                               : c->start_wall_ms - 30 * 60 * 1000;
        set_i64(&req, "timestamp", ts);
    }
    kite_cmd_set_ext(&req, "bname", q->broker);
    kite_rpc_call_async(rpc(c), addr, &req, c->o.rpc_timeout_ms, on_lookup, kite_pc_pq_ref(q));
}

static void on_query_offset(int status, kite_cmd *resp, void *arg)
{
    pq *q = arg;
    kite_push_consumer *c = q->c;
    int64_t off;
    if (atomic_load(&q->dropped) || stopping(c)) {
    } else if (status == KITE_OK && resp->code == RS_SUCCESS &&
               kite_cmd_ext_i64(resp, "offset", &off) == 0) {
        start_at(q, off);
    } else if (status == KITE_OK && resp->code == RS_QUERY_NOT_FOUND) {
        from_where(q);
    } else {
        KLOG_WARN(
            "client",
            "consumer %s: QUERY_CONSUMER_OFFSET of %s:%s:%d failed (%s); retried at the next rebalance",
            c->group, q->s->topic, q->broker, q->qid,
            status != KITE_OK ? kite_strerror(status) : "broker refused");
        kite_pc_drop_pq(c, q, 0);
    }
    kite_pc_pq_release(q);
}

void kite_pc_init_offset(pq *q)
{
    kite_push_consumer *c = q->c;
    if (!clustering(c)) {
        int64_t *v = kite_map_get(&c->offsets, q->key);
        if (v)
            start_at(q, *v);
        else
            from_where(q);
        return;
    }
    char addr[128];
    if (kite_pc_broker_addr(c, q->s->topic, q->broker, addr, sizeof addr) != 0) {
        kite_pc_drop_pq(c, q, 0);
        return;
    }
    kite_cmd req;
    kite_cmd_init_request(&req, RC_QUERY_CONSUMER_OFFSET, 0);
    kite_cmd_set_ext(&req, "consumerGroup", c->group);
    kite_cmd_set_ext(&req, "topic", q->s->topic);
    set_i64(&req, "queueId", q->qid);
    kite_cmd_set_ext(&req, "bname", q->broker);
    kite_rpc_call_async(rpc(c), addr, &req, c->o.rpc_timeout_ms, on_query_offset,
                        kite_pc_pq_ref(q));
}
