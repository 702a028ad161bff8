/* p_stats.c - statistics and the requests that read them (mqadmin, dashboards):
 * GET_BROKER_RUNTIME_INFO (28), GET_TOPIC_STATS_INFO (202), GET_CONSUME_STATS (208),
 * VIEW_BROKER_STATS_DATA (315), GET_BROKER_CONSUME_STATS (317); the per-second put/get
 * totals and the named counters (bk_stat_ref). Bodies keyed by MessageQueue use
 * fastjson's object keys, as mqadmin parses them (docs/wire.md §2.1, §8). Loop thread;
 * the counters are also added to from store threads (atomics). */
#include "base/json.h"
#include "base/mem.h"
#include "base/time.h"
#include "broker/broker.h"
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
    kite_buf_printf(out, "%.2f %.2f %.2f", tps(ring, pos, 10), tps(ring, pos, 60),
                    tps(ring, pos, 60));
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
    int64_t cl_min = kite_store_cl_min_offset(b->store),
            cl_max = kite_store_cl_max_offset(b->store);
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
    kite_jw_kv(&w, "brokerRole", b->cfg.broker_role); /* ASYNC_MASTER, SYNC_MASTER or SLAVE */
    kite_jw_kv(&w, "flushDiskType", b->cfg.store.flush_disk_type);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
    kite_buf_free(&t);
    bk_reply_body(req, RS_SUCCESS, &out);
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
        int64_t min = kite_store_min_offset(b->store, topic, q),
                max = kite_store_max_offset(b->store, topic, q);
        bk_jw_mq_key(&w, b, topic, q);
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
        bk_jw_mq_key(w, b, topic, q);
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

int64_t *bk_stat_ref(kite_broker *b, const char *name, const char *key)
{
    char k[600];
    snprintf(k, sizeof k, "%s@%s", name, key);
    pthread_mutex_lock(&b->stats_mu);
    int64_t *v = kite_map_get(&b->stat_items, k);
    if (!v) {
        v = kite_xcalloc(1, sizeof *v);
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
    static const struct {
        const char *key;
        double secs;
    } win[] = { { "statsDay", 86400 }, { "statsHour", 3600 }, { "statsMinute", 60 } };
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

void bk_register_stats_handlers(kite_broker *b)
{
    static const struct {
        int code;
        kite_rpc_handler fn;
    } table[] = {
        { RC_GET_BROKER_RUNTIME_INFO, h_runtime_info },
        { RC_GET_TOPIC_STATS_INFO, h_topic_stats },
        { RC_GET_CONSUME_STATS, h_consume_stats },
        { RC_VIEW_BROKER_STATS_DATA, h_view_stats },
        { RC_GET_BROKER_CONSUME_STATS, h_broker_consume_stats },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        kite_rpc_server_handle(b->srv, table[i].code, table[i].fn, b);
}
