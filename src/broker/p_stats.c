/* p_stats.c - statistics and the admin requests mqadmin and dashboards use:
 * GET_BROKER_RUNTIME_INFO (28), GET_TOPIC_STATS_INFO (202), GET_CONSUME_STATS (208),
 * GET_CONSUMER_CONNECTION_LIST (203), GET_PRODUCER_CONNECTION_LIST (204),
 * QUERY_TOPIC_CONSUME_BY_WHO (300), UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200),
 * DELETE_SUBSCRIPTIONGROUP (207), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201),
 * GET_ALL_CONSUMER_OFFSET (43), GET_ALL_DELAY_OFFSET (45), CHECK_CLIENT_CONFIG (46),
 * INVOKE_BROKER_TO_RESET_OFFSET (222, pushing RESET_CONSUMER_CLIENT_OFFSET 220 to the
 * group's clients), and the forwards GET_CONSUMER_RUNNING_INFO (307) and
 * CONSUME_MESSAGE_DIRECTLY (309). Bodies keyed by MessageQueue use fastjson's object
 * keys, as mqadmin parses them (remoting.md §4.0, §4.7, §4.8, §4.12). Loop thread. */
#include "base/err.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "broker/broker.h"
#include "broker/filter.h"
#include "codec/record.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <stdatomic.h>

static kite_broker *B(void *arg) { return arg; }

void bk_stats_tick(kite_broker *b)
{
    b->tps_pos = (b->tps_pos + 1) % 61;
    b->tps_put[b->tps_pos] = atomic_load(&b->put_total);
    b->tps_get[b->tps_pos] = atomic_load(&b->get_total);
}

/* Average per second over the last `secs` samples. */
static double tps(const int64_t *ring, int pos, int secs)
{
    int from = (pos - secs + 61) % 61;
    return (double)(ring[pos] - ring[from]) / secs;
}

static void tps3(kite_buf *out, const int64_t *ring, int pos)
{
    kite_buf_printf(out, "%.2f %.2f %.2f", tps(ring, pos, 10), tps(ring, pos, 60), tps(ring, pos, 60));
}

static void h_runtime_info(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    kite_buf out = KITE_BUF_INIT, t = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "table");
    kite_jw_obj_begin(&w);
    kite_jw_kv(&w, "brokerVersionDesc", "V4_9_8");
    kite_jw_kv_numstr(&w, "brokerVersion", KITE_SERVER_VERSION);
    tps3(&t, b->tps_put, b->tps_pos);
    kite_jw_kv(&w, "putTps", kite_buf_cstr(&t));
    kite_buf_reset(&t);
    tps3(&t, b->tps_get, b->tps_pos);
    kite_jw_kv(&w, "getTransferredTps", kite_buf_cstr(&t));
    kite_jw_kv(&w, "getTransferedTps", kite_buf_cstr(&t));
    kite_buf_reset(&t);
    kite_jw_kv(&w, "getFoundTps", "0.00 0.00 0.00");
    kite_jw_kv(&w, "getMissTps", "0.00 0.00 0.00");
    kite_jw_kv(&w, "getTotalTps", "0.00 0.00 0.00");
    kite_jw_kv(&w, "sendThreadPoolQueueSize", "0");
    kite_jw_kv(&w, "sendThreadPoolQueueCapacity", "10000");
    kite_jw_kv(&w, "pullThreadPoolQueueSize", "0");
    kite_jw_kv(&w, "pullThreadPoolQueueCapacity", "100000");
    kite_jw_kv(&w, "queryThreadPoolQueueSize", "0");
    kite_jw_kv(&w, "sendThreadPoolQueueHeadWaitTimeMills", "0");
    kite_jw_kv(&w, "pullThreadPoolQueueHeadWaitTimeMills", "0");
    kite_jw_kv(&w, "queryThreadPoolQueueHeadWaitTimeMills", "0");
    kite_jw_kv(&w, "pageCacheLockTimeMills", "0");
    kite_jw_kv(&w, "brokerActive", "true");
    int64_t put = atomic_load(&b->put_total), get = atomic_load(&b->get_total);
    kite_jw_kv_numstr(&w, "msgPutTotalTodayNow", put);
    kite_jw_kv_numstr(&w, "msgGetTotalTodayNow", get);
    kite_jw_kv_numstr(&w, "msgPutTotalTodayMorning", 0);
    kite_jw_kv_numstr(&w, "msgGetTotalTodayMorning", 0);
    kite_jw_kv_numstr(&w, "msgPutTotalYesterdayMorning", 0);
    kite_jw_kv_numstr(&w, "msgGetTotalYesterdayMorning", 0);
    int64_t cl_min = kite_store_cl_min_offset(b->store), cl_max = kite_store_cl_max_offset(b->store);
    kite_jw_kv_numstr(&w, "commitLogMinOffset", cl_min);
    kite_jw_kv_numstr(&w, "commitLogMaxOffset", cl_max);
    kite_jw_kv_numstr(&w, "dispatchBehindBytes", cl_max - kite_store_dispatched_offset(b->store));
    kite_store_seg seg;
    int64_t next, earliest = 0;
    if (cl_max > cl_min && kite_store_get_by_offset(b->store, cl_min, &seg, &next) == 0) {
        kite_record r;
        const char *why;
        if (kite_record_decode(seg.data, seg.len, &r, 0, &why) > 0) earliest = r.store_ts;
        kite_store_seg_release(&seg);
    }
    kite_jw_kv_numstr(&w, "earliestMessageTimeStamp", earliest);
    struct statvfs vfs;
    double ratio = 0;
    if (statvfs(b->store_root, &vfs) == 0 && vfs.f_blocks)
        ratio = (double)(vfs.f_blocks - vfs.f_bfree) / (double)vfs.f_blocks;
    kite_buf_printf(&t, "%.4f", ratio);
    kite_jw_kv(&w, "commitLogDiskRatio", kite_buf_cstr(&t));
    kite_buf_reset(&t);
    kite_jw_kv_numstr(&w, "bootTimestamp", b->boot_ms);
    kite_buf_printf(&t, "[ %lld seconds ]", (long long)((kite_wall_ms() - b->boot_ms) / 1000));
    kite_jw_kv(&w, "runtime", kite_buf_cstr(&t));
    kite_jw_kv(&w, "remainTransientStoreBufferNumbs", "0");
    kite_jw_kv(&w, "brokerRole", "ASYNC_MASTER");   /* the only role of this build (conf.c) */
    kite_jw_kv(&w, "flushDiskType", b->cfg.store.flush_disk_type);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
    kite_buf_free(&t);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void mq_key(kite_jw *w, const kite_broker *b, const char *topic, int32_t qid)
{
    kite_jw_key_obj_begin(w);
    kite_jw_key(w, "brokerName");
    kite_jw_str(w, b->cfg.broker_name);
    kite_jw_key(w, "queueId");
    kite_jw_int(w, qid);
    kite_jw_key(w, "topic");
    kite_jw_str(w, topic);
    kite_jw_key_obj_end(w);
}

static void h_topic_stats(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *topic = bk_need(req, "topic");
    if (!topic) return;
    bk_topic *t = bk_topic_get(b, topic);
    if (!t) {
        bk_replyf(req, RS_TOPIC_NOT_EXIST, "topic[%.200s] not exist", topic);
        return;
    }
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "offsetTable");
    kite_jw_obj_begin(&w);
    int32_t n = t->read_queue_nums > t->write_queue_nums ? t->read_queue_nums : t->write_queue_nums;
    for (int32_t q = 0; q < n; q++) {
        int64_t min = kite_store_min_offset(b->store, topic, q), max = kite_store_max_offset(b->store, topic, q);
        mq_key(&w, b, topic, q);
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "lastUpdateTimestamp");
        kite_jw_int(&w, max > 0 ? bk_store_time_at(b, topic, q, max - 1, 0) : 0);
        kite_jw_key(&w, "maxOffset");
        kite_jw_int(&w, max);
        kite_jw_key(&w, "minOffset");
        kite_jw_int(&w, min);
        kite_jw_obj_end(&w);
    }
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "topicPutTps");
    kite_jw_raw(&w, "0.0", 3);
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void consume_stats_topic(kite_jw *w, kite_broker *b, const char *group, const char *topic)
{
    bk_topic *t = bk_topic_get(b, topic);
    if (!t) return;
    for (int32_t q = 0; q < t->read_queue_nums; q++) {
        int64_t max = kite_store_max_offset(b->store, topic, q);
        int64_t co = bk_offset_get(b, topic, group, q);
        if (co < 0) co = 0;
        mq_key(w, b, topic, q);
        kite_jw_obj_begin(w);
        kite_jw_key(w, "brokerOffset");
        kite_jw_int(w, max);
        kite_jw_key(w, "consumerOffset");
        kite_jw_int(w, co);
        kite_jw_key(w, "lastTimestamp");
        kite_jw_int(w, co > 0 ? bk_store_time_at(b, topic, q, co - 1, 0) : 0);
        kite_jw_key(w, "pullOffset");
        kite_jw_int(w, co);
        kite_jw_obj_end(w);
    }
}

static void h_consume_stats(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group = bk_need(req, "consumerGroup");
    if (!group) return;
    const char *topic = kite_cmd_ext(&req->cmd, "topic");
    if (topic && !bk_topic_get(b, topic)) {
        bk_replyf(req, RS_TOPIC_NOT_EXIST, "topic[%.200s] not exist", topic);
        return;
    }
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "consumeTps");
    kite_jw_raw(&w, "0.0", 3);
    kite_jw_key(&w, "offsetTable");
    kite_jw_obj_begin(&w);
    if (topic) {
        consume_stats_topic(&w, b, group, topic);
    } else {
        size_t n;
        char **topics = bk_offsets_topics_of(b, group, &n);
        for (size_t i = 0; i < n; i++) {
            consume_stats_topic(&w, b, group, topics[i]);
            free(topics[i]);
        }
        free(topics);
    }
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void connection_set(kite_jw *w, const bk_channel *ch, size_t n)
{
    kite_jw_key(w, "connectionSet");
    kite_jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        kite_jw_obj_begin(w);
        kite_jw_key(w, "clientAddr");
        kite_jw_str(w, kite_conn_peer(ch[i].conn));
        kite_jw_key(w, "clientId");
        kite_jw_str(w, ch[i].client_id);
        kite_jw_key(w, "language");
        kite_jw_str(w, kite_lang_name(ch[i].language));
        kite_jw_key(w, "version");
        kite_jw_int(w, ch[i].version);
        kite_jw_obj_end(w);
    }
    kite_jw_arr_end(w);
}

static void write_sub(kite_jw *w, const bk_sub *s)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "classFilterMode");
    kite_jw_bool(w, 0);
    kite_jw_key(w, "codeSet");
    kite_jw_arr_begin(w);
    for (size_t i = 0; i < s->ntags; i++) kite_jw_int(w, s->codes[i]);
    kite_jw_arr_end(w);
    kite_jw_key(w, "expressionType");
    kite_jw_str(w, s->expr_type);
    kite_jw_key(w, "subString");
    kite_jw_str(w, s->sub_string);
    kite_jw_key(w, "subVersion");
    kite_jw_int(w, s->sub_version);
    kite_jw_key(w, "tagsSet");
    kite_jw_arr_begin(w);
    for (size_t i = 0; i < s->ntags; i++) kite_jw_str(w, s->tags[i]);
    kite_jw_arr_end(w);
    kite_jw_key(w, "topic");
    kite_jw_str(w, s->topic);
    kite_jw_obj_end(w);
}

static void h_consumer_connections(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group = bk_need(req, "consumerGroup");
    if (!group) return;
    bk_consumer_group *g = bk_consumer_group_get(b, group);
    if (!g || !g->nch) {
        bk_replyf(req, RS_CONSUMER_NOT_ONLINE, "the consumer group[%.200s] not online", group);
        return;
    }
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    connection_set(&w, g->ch, g->nch);
    kite_jw_key(&w, "consumeFromWhere");
    kite_jw_str(&w, g->consume_from_where);
    kite_jw_key(&w, "consumeType");
    kite_jw_str(&w, g->consume_type);
    kite_jw_key(&w, "messageModel");
    kite_jw_str(&w, g->message_model);
    kite_jw_key(&w, "subscriptionTable");
    kite_jw_obj_begin(&w);
    size_t n;
    const char **topics = kite_map_sorted_keys(&g->subs, &n);
    for (size_t i = 0; i < n; i++) {
        kite_jw_key(&w, topics[i]);
        write_sub(&w, kite_map_get(&g->subs, topics[i]));
    }
    free(topics);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_producer_connections(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group = bk_need(req, "producerGroup");
    if (!group) return;
    bk_producer_group *g = kite_map_get(&b->producers, group);
    if (!g || !g->nch) {
        bk_replyf(req, RS_SYSTEM_ERROR, "the producer group[%.200s] not exist", group);
        return;
    }
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    connection_set(&w, g->ch, g->nch);
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_consume_by_who(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *topic = bk_need(req, "topic");
    if (!topic) return;
    kite_map set = KITE_MAP_INIT;
    size_t it = 0;
    const char *name;
    void *v;
    while (kite_map_next(&b->consumers, &it, &name, &v))
        if (kite_map_get(&((bk_consumer_group *)v)->subs, topic)) kite_map_put(&set, name, (void *)1);
    size_t n;
    char **groups = bk_offsets_groups_of(b, topic, &n);
    for (size_t i = 0; i < n; i++) {
        kite_map_put(&set, groups[i], (void *)1);
        free(groups[i]);
    }
    free(groups);
    const char **names = kite_map_sorted_keys(&set, &n);
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "groupList");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) kite_jw_str(&w, names[i]);
    kite_jw_arr_end(&w);
    kite_jw_obj_end(&w);
    free(names);
    kite_map_free(&set, NULL);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_update_group(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    if (!bk_admin_allowed(b, req)) return;
    char err[160];
    kite_json_doc *doc = req->cmd.body_len ? kite_json_parse((const char *)req->cmd.body, req->cmd.body_len, err, sizeof err)
                                           : NULL;
    const kite_json *v = doc ? kite_json_root(doc) : NULL;
    const char *name = v ? kite_json_get_str(v, "groupName", NULL) : NULL;
    if (!name || !*name || strlen(name) > 255) {
        if (doc) kite_json_doc_free(doc);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "a SubscriptionGroupConfig body with a groupName is required");
        return;
    }
    bk_group *g = bk_group_upsert(b, name);
    bk_group_from_json(g, v);
    KLOG_INFO("broker", "subscription group %s updated by %s", name, kite_conn_peer(req->conn));
    kite_json_doc_free(doc);
    bk_groups_changed(b);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_delete_group(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    if (!bk_admin_allowed(b, req)) return;
    const char *name = bk_need(req, "groupName");
    if (!name) return;
    bk_group_delete(b, name);
    if (kite_cmd_ext_bool(&req->cmd, "removeOffset", 0) || kite_cmd_ext_bool(&req->cmd, "cleanOffset", 0))
        bk_offsets_remove_group(b, name);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

static void h_all_groups(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    int32_t seq = 0, max = 0;
    kite_cmd_ext_i32(&req->cmd, "groupSeq", &seq);
    kite_cmd_ext_i32(&req->cmd, "maxGroupNum", &max);
    kite_buf out = KITE_BUF_INIT;
    bk_groups_json_page(b, seq, max, &out);
    bk_reply_paged(req, &out, "totalGroupNum", b->groups.count);
}

int64_t *bk_stat_ref(kite_broker *b, const char *name, const char *key)
{
    char k[600];
    snprintf(k, sizeof k, "%s@%s", name, key);
    pthread_mutex_lock(&b->stats_mu);
    int64_t *v = kite_map_get(&b->stat_items, k);
    if (!v) {
        v = calloc(1, sizeof *v);
        if (!v) abort();
        kite_map_put(&b->stat_items, k, v);
    }
    pthread_mutex_unlock(&b->stats_mu);
    return v;
}

void bk_stat_add(kite_broker *b, const char *name, const char *key, int64_t n)
{
    __atomic_fetch_add(bk_stat_ref(b, name, key), n, __ATOMIC_RELAXED);
}

void bk_stats_free(kite_broker *b) { kite_map_free(&b->stat_items, free); }

/* BrokerStatsData. KiteMQ keeps totals since start, not Java's rolling windows: each
 * window reports the total and its average rate over min(window, uptime). */
static void h_view_stats(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *name, *key;
    if (!(name = bk_need(req, "statsName")) || !(key = bk_need(req, "statsKey"))) return;
    char k[600];
    snprintf(k, sizeof k, "%s@%s", name, key);
    pthread_mutex_lock(&b->stats_mu);
    int64_t *v = kite_map_get(&b->stat_items, k);
    int64_t total = v ? __atomic_load_n(v, __ATOMIC_RELAXED) : -1;
    pthread_mutex_unlock(&b->stats_mu);
    if (total < 0) {
        bk_replyf(req, RS_SYSTEM_ERROR, "The stats <%.100s> <%.400s> not exist", name, key);
        return;
    }
    double up = (double)(kite_wall_ms() - b->boot_ms) / 1000.0;
    if (up < 1) up = 1;
    static const struct { const char *key; double secs; } win[] = {
        { "statsDay", 86400 }, { "statsHour", 3600 }, { "statsMinute", 60 } };
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    for (int i = 0; i < 3; i++) {
        kite_jw_key(&w, win[i].key);
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "avgpt");
        kite_jw_raw(&w, "0.0", 3);
        kite_jw_key(&w, "sum");
        kite_jw_int(&w, total);
        kite_jw_key(&w, "tps");
        kite_jw_double(&w, (double)total / (up < win[i].secs ? up : win[i].secs));
        kite_jw_obj_end(&w);
    }
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

/* ConsumeStatsList for every online group and each topic it subscribes to. */
static void h_broker_consume_stats(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "brokerAddr");
    kite_jw_str(&w, b->addr);
    kite_jw_key(&w, "consumeStatsList");
    kite_jw_arr_begin(&w);
    int64_t diff = 0;
    size_t ng;
    const char **groups = kite_map_sorted_keys(&b->consumers, &ng);
    for (size_t i = 0; i < ng; i++) {
        bk_consumer_group *g = kite_map_get(&b->consumers, groups[i]);
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, g->name);
        kite_jw_arr_begin(&w);
        size_t nt;
        const char **topics = kite_map_sorted_keys(&g->subs, &nt);
        for (size_t j = 0; j < nt; j++) {
            bk_topic *t = bk_topic_get(b, topics[j]);
            if (!t) continue;
            kite_jw_obj_begin(&w);
            kite_jw_key(&w, "consumeTps");
            kite_jw_raw(&w, "0.0", 3);
            kite_jw_key(&w, "offsetTable");
            kite_jw_obj_begin(&w);
            consume_stats_topic(&w, b, g->name, topics[j]);
            kite_jw_obj_end(&w);
            kite_jw_obj_end(&w);
            for (int32_t q = 0; q < t->read_queue_nums; q++) {
                int64_t co = bk_offset_get(b, topics[j], g->name, q);
                int64_t max = kite_store_max_offset(b->store, topics[j], q);
                if (co >= 0 && max > co) diff += max - co;
            }
        }
        free(topics);
        kite_jw_arr_end(&w);
        kite_jw_obj_end(&w);
    }
    free(groups);
    kite_jw_arr_end(&w);
    kite_jw_key(&w, "totalDiff");
    kite_jw_int(&w, diff);
    kite_jw_obj_end(&w);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_all_offsets(kite_rpc_req *req, void *arg)
{
    kite_buf out = KITE_BUF_INIT;
    bk_offsets_json(B(arg), &out);
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_all_delay_offsets(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    char *text, err[256];
    size_t len;
    kite_buf out = KITE_BUF_INIT;
    if (bk_meta_read(b, "delayOffset.json", 1 << 20, &text, &len, err, sizeof err) == 0 && text) {
        kite_buf_append(&out, text, len);
        free(text);
    } else {
        kite_buf_puts(&out, "{\"offsetTable\":{}}");
    }
    bk_reply_body(req, RS_SUCCESS, &out);
}

static void h_check_client_config(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    char err[160];
    kite_json_doc *doc = req->cmd.body_len ? kite_json_parse((const char *)req->cmd.body, req->cmd.body_len, err, sizeof err)
                                           : NULL;
    const kite_json *sd = doc ? kite_json_get(kite_json_root(doc), "subscriptionData") : NULL;
    const char *type = sd ? kite_json_get_str(sd, "expressionType", "TAG") : "TAG";
    int code = RS_SUCCESS;
    char remark[300] = "";
    if (strcmp(type, "SQL92") == 0) {
        if (!b->cfg.enable_property_filter) {
            code = RS_SYSTEM_ERROR;
            snprintf(remark, sizeof remark, "The broker does not support consumer to filter message by SQL92");
        } else {
            bk_filter *f = bk_filter_parse(kite_json_get_str(sd, "subString", ""), remark, sizeof remark);
            if (!f) code = RS_SUBSCRIPTION_PARSE_FAILED;
            bk_filter_free(f);
        }
    } else if (strcmp(type, "TAG") != 0) {
        code = RS_SYSTEM_ERROR;
        snprintf(remark, sizeof remark, "unknown expression type %.100s", type);
    }
    if (doc) kite_json_doc_free(doc);
    kite_rpc_reply_code(req, code, remark[0] ? remark : NULL);
}

/* ---- reset offsets ---- */

static void reset_body(kite_jw *w, kite_broker *b, const char *topic, const int64_t *offs, int32_t n, int for_c)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "offsetTable");
    if (for_c) {
        kite_jw_arr_begin(w);
        for (int32_t q = 0; q < n; q++) {
            kite_jw_obj_begin(w);
            kite_jw_key(w, "brokerName");
            kite_jw_str(w, b->cfg.broker_name);
            kite_jw_key(w, "offset");
            kite_jw_int(w, offs[q]);
            kite_jw_key(w, "queueId");
            kite_jw_int(w, q);
            kite_jw_key(w, "topic");
            kite_jw_str(w, topic);
            kite_jw_obj_end(w);
        }
        kite_jw_arr_end(w);
    } else {
        kite_jw_obj_begin(w);
        for (int32_t q = 0; q < n; q++) {
            mq_key(w, b, topic, q);
            kite_jw_int(w, offs[q]);
        }
        kite_jw_obj_end(w);
    }
    kite_jw_obj_end(w);
}

static void h_reset_offset(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    if (!bk_admin_allowed(b, req)) return;
    const char *topic, *group;
    int64_t ts;
    if (!(topic = bk_need(req, "topic")) || !(group = bk_need(req, "group")) || bk_need_i64(req, "timestamp", &ts)) return;
    int force = kite_cmd_ext_bool(&req->cmd, "isForce", 1);
    bk_topic *t = bk_topic_get(b, topic);
    if (!t) {
        bk_replyf(req, RS_TOPIC_NOT_EXIST, "[reset offset] topic[%.200s] not exist", topic);
        return;
    }
    int32_t n = t->read_queue_nums;
    int64_t *offs = calloc((size_t)(n ? n : 1), sizeof *offs);
    if (!offs) abort();
    for (int32_t q = 0; q < n; q++) {
        int64_t target = ts < 0 ? kite_store_max_offset(b->store, topic, q) : kite_store_offset_by_time(b->store, topic, q, ts);
        int64_t cur = bk_offset_get(b, topic, group, q);
        offs[q] = (force || cur < 0 || target < cur) ? target : cur;
        bk_offset_set(b, topic, group, q, offs[q]);
    }
    bk_save_offsets(b);
    KLOG_INFO("broker", "offsets of group %s on %s reset to time %lld by %s", group, topic, (long long)ts,
              kite_conn_peer(req->conn));
    bk_consumer_group *g = bk_consumer_group_get(b, group);
    for (size_t i = 0; g && i < g->nch; i++) {
        kite_cmd call;
        kite_cmd_init_request(&call, RC_RESET_CONSUMER_CLIENT_OFFSET, 0);
        kite_cmd_set_ext(&call, "topic", topic);
        kite_cmd_set_ext(&call, "group", group);
        kite_cmd_set_ext_i64(&call, "timestamp", ts);
        kite_cmd_set_ext(&call, "isForce", force ? "true" : "false");
        kite_buf body = KITE_BUF_INIT;
        kite_jw w;
        kite_jw_init(&w, &body, 0);
        reset_body(&w, b, topic, offs, n, g->ch[i].language == 1 /* CPP */);
        size_t len;
        char *p = kite_buf_steal(&body, &len);
        kite_cmd_set_body_own(&call, p, len);
        kite_rpc_server_call(b->srv, g->ch[i].conn, &call, 0, NULL, NULL);
    }
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    reset_body(&w, b, topic, offs, n, 0);
    free(offs);
    bk_reply_body(req, RS_SUCCESS, &out);
}

/* ---- forwards to a client ---- */

static void forward_done(int status, kite_cmd *resp, void *arg)
{
    kite_rpc_req *orig = arg;
    if (status != KITE_OK) {
        kite_rpc_reply_code(orig, status == KITE_ETIMEDOUT ? RS_CONSUME_MSG_TIMEOUT : RS_SYSTEM_ERROR,
                            status == KITE_ETIMEDOUT ? "the client did not answer in time" : "the client connection closed");
        return;
    }
    kite_cmd out;
    kite_cmd_init_response(&out, &orig->cmd, resp->code, resp->remark);
    kite_cmd_set_body_copy(&out, resp->body, resp->body_len);
    kite_rpc_reply(orig, &out);
}

static bk_channel *find_client(kite_broker *b, const char *group, const char *cid)
{
    bk_consumer_group *g = bk_consumer_group_get(b, group);
    for (size_t i = 0; g && i < g->nch; i++)
        if (strcmp(g->ch[i].client_id, cid) == 0) return &g->ch[i];
    return NULL;
}

static void h_forward(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group, *cid;
    if (!(group = bk_need(req, "consumerGroup")) || !(cid = bk_need(req, "clientId"))) return;
    bk_channel *ch = find_client(b, group, cid);
    char remark[400];
    if (!ch) {
        snprintf(remark, sizeof remark, "The Consumer <%.150s> <%.150s> not online", group, cid);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
        return;
    }
    kite_cmd call;
    kite_cmd_init_request(&call, req->cmd.code, 0);
    for (size_t i = 0; i < req->cmd.n_ext; i++)
        kite_cmd_set_ext_n(&call, req->cmd.ext[i].key, req->cmd.ext[i].val, req->cmd.ext[i].vlen);
    if (req->cmd.code == RC_CONSUME_MESSAGE_DIRECTLY) {
        int64_t phys;
        const char *id = kite_cmd_ext(&req->cmd, "msgId");
        kite_store_seg seg;
        int64_t next;
        if (!id || bk_decode_offset_msg_id(id, &phys) != 0 || kite_store_get_by_offset(b->store, phys, &seg, &next) != 0) {
            kite_cmd_free(&call);
            snprintf(remark, sizeof remark, "can not find message by the id %.100s", id ? id : "(none)");
            kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
            return;
        }
        kite_cmd_set_body_copy(&call, seg.data, seg.len);
        kite_store_seg_release(&seg);
    }
    kite_rpc_server_call(b->srv, ch->conn, &call, 10000, forward_done, req);
}

void bk_register_stats_handlers(kite_broker *b)
{
    static const struct { int code; kite_rpc_handler fn; } table[] = {
        { RC_GET_BROKER_RUNTIME_INFO, h_runtime_info },
        { RC_GET_TOPIC_STATS_INFO, h_topic_stats },
        { RC_GET_CONSUME_STATS, h_consume_stats },
        { RC_GET_CONSUMER_CONNECTION_LIST, h_consumer_connections },
        { RC_GET_PRODUCER_CONNECTION_LIST, h_producer_connections },
        { RC_QUERY_TOPIC_CONSUME_BY_WHO, h_consume_by_who },
        { RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, h_update_group },
        { RC_DELETE_SUBSCRIPTIONGROUP, h_delete_group },
        { RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, h_all_groups },
        { RC_VIEW_BROKER_STATS_DATA, h_view_stats },
        { RC_GET_BROKER_CONSUME_STATS, h_broker_consume_stats },
        { RC_GET_ALL_CONSUMER_OFFSET, h_all_offsets },
        { RC_GET_ALL_DELAY_OFFSET, h_all_delay_offsets },
        { RC_CHECK_CLIENT_CONFIG, h_check_client_config },
        { RC_INVOKE_BROKER_TO_RESET_OFFSET, h_reset_offset },
        { RC_GET_CONSUMER_RUNNING_INFO, h_forward },
        { RC_CONSUME_MESSAGE_DIRECTLY, h_forward },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        kite_rpc_server_handle(b->srv, table[i].code, table[i].fn, b);
}
