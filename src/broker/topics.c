/* topics.c - topic configuration: the table, topics.json (a TopicConfigSerializeWrapper,
 * rewritten atomically on every change), system topics created at start, name rules.
 * Loop thread only. */
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "broker/broker.h"
#include "codec/systopic.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const send_forbidden[] = {
    KITE_TOPIC_SCHEDULE,
    KITE_TOPIC_TRANS_HALF,
    KITE_TOPIC_TRANS_OP_HALF,
    KITE_TOPIC_TRANS_CHECK_MAX,
    KITE_TOPIC_SELF_TEST,
    KITE_TOPIC_OFFSET_MOVED,
    NULL,
};

int bk_topic_send_forbidden(const char *name)
{
    for (int i = 0; send_forbidden[i]; i++)
        if (strcmp(name, send_forbidden[i]) == 0) return 1;
    return 0;
}

int bk_topic_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 127) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '%' || c == '|' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

bk_topic *bk_topic_get(kite_broker *b, const char *name) { return kite_map_get(&b->topics, name); }

static void topic_free(void *p)
{
    bk_topic *t = p;
    free(t->name);
    free(t);
}

static bk_topic *topic_set(kite_broker *b, const char *name, int32_t rq, int32_t wq, int32_t perm,
                           int32_t sysflag, const char *filter_type, int order)
{
    bk_topic *t = kite_map_get(&b->topics, name);
    if (!t) {
        t = kite_xcalloc(1, sizeof *t);
        t->name = kite_xstrdup(name);
        kite_map_put(&b->topics, name, t);
    }
    t->read_queue_nums = rq;
    t->write_queue_nums = wq;
    t->perm = perm;
    t->topic_sys_flag = sysflag;
    t->order = order;
    snprintf(t->filter_type, sizeof t->filter_type, "%s",
             filter_type && *filter_type ? filter_type : "SINGLE_TAG");
    return t;
}

static void bump(kite_data_version *dv)
{
    dv->timestamp = kite_wall_ms();
    dv->counter++;
}

bk_topic *bk_topic_put(kite_broker *b, const char *name, int32_t rq, int32_t wq, int32_t perm,
                       int32_t sysflag, const char *filter_type, int order)
{
    int is_new = kite_map_get(&b->topics, name) == NULL;
    bk_topic *t = topic_set(b, name, rq, wq, perm, sysflag, filter_type, order);
    bump(&b->topics_dv);
    bk_save_topics(b);
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker", "topic %s %s: read=%d write=%d perm=%d",
                 name, is_new ? "created" : "updated", rq, wq, perm);
    bk_register_soon(b);
    return t;
}

int bk_topic_delete(kite_broker *b, const char *name)
{
    bk_topic *t = kite_map_del(&b->topics, name);
    if (!t) return 0;
    topic_free(t);
    bump(&b->topics_dv);
    bk_save_topics(b);
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker", "topic %s deleted", name);
    bk_register_soon(b);
    return 1;
}

void bk_topics_wrapper_json(kite_broker *b, kite_buf *out)
{
    bk_topics_wrapper_json_page(b, 0, 0, out);
}

/* One TopicConfig object. */
static void topic_json(kite_jw *w, const bk_topic *t)
{
    kite_jw_obj_begin(w);
    /* 5.x's TopicConfig has attributes (KiteMQ keeps none); 4.x readers ignore the key */
    kite_jw_key(w, "attributes");
    kite_jw_obj_begin(w);
    kite_jw_obj_end(w);
    kite_jw_key(w, "order");
    kite_jw_bool(w, t->order);
    kite_jw_key(w, "perm");
    kite_jw_int(w, t->perm);
    kite_jw_key(w, "readQueueNums");
    kite_jw_int(w, t->read_queue_nums);
    kite_jw_key(w, "topicFilterType");
    kite_jw_str(w, t->filter_type);
    kite_jw_key(w, "topicName");
    kite_jw_str(w, t->name);
    kite_jw_key(w, "topicSysFlag");
    kite_jw_int(w, t->topic_sys_flag);
    kite_jw_key(w, "writeQueueNums");
    kite_jw_int(w, t->write_queue_nums);
    kite_jw_obj_end(w);
}

int bk_topic_config_json(kite_broker *b, const char *name, kite_buf *out)
{
    const bk_topic *t = kite_map_get(&b->topics, name);
    if (!t) return KITE_ENOTFOUND;
    kite_jw w;
    kite_jw_init(&w, out, 0);
    topic_json(&w, t);
    return KITE_OK;
}

void bk_topics_wrapper_json_page(kite_broker *b, int32_t seq, int32_t max, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    bk_write_data_version(&w, &b->topics_dv);
    kite_jw_key(&w, "topicConfigTable");
    kite_jw_obj_begin(&w);
    size_t n;
    const char **names = kite_map_sorted_keys(&b->topics, &n);
    size_t from, to;
    bk_page_bounds(n, seq, max, &from, &to); /* a page in name order */
    for (size_t i = from; i < to; i++) {
        const bk_topic *t = kite_map_get(&b->topics, names[i]);
        kite_jw_key(&w, t->name);
        topic_json(&w, t);
    }
    free(names);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
}

int bk_save_topics(kite_broker *b)
{
    kite_buf out = KITE_BUF_INIT;
    bk_topics_wrapper_json(b, &out);
    return bk_meta_write(b, "topics.json", &out);
}

int bk_topics_load(kite_broker *b, char *err, size_t errlen)
{
    char path[1200], *text;
    size_t len;
    bk_meta_path(b, "topics.json", path, sizeof path);
    int rc = bk_meta_read(b, "topics.json", 256u << 20, &text, &len, err, errlen);
    if (rc != KITE_OK || !text) return rc;
    kite_register_body body;
    char jerr[160];
    if (len && kite_register_body_decode(&body, (const uint8_t *)text, len, 0, 0, jerr,
                                         sizeof jerr) != 0) {
        snprintf(err, errlen, "%s is corrupt (%s); restore it or remove it to start without topics",
                 path, jerr);
        rc = KITE_ECORRUPT;
    } else if (len) {
        for (size_t i = 0; i < body.n_topics; i++) {
            const kite_topic_config *t = &body.topics[i];
            if (!bk_topic_name_ok(t->topic_name)) {
                KLOG_WARN("broker", "%s: skipping topic with an invalid name '%s'", path,
                          t->topic_name);
                continue;
            }
            topic_set(b, t->topic_name, t->read_queue_nums, t->write_queue_nums, t->perm,
                      t->topic_sys_flag, t->topic_filter_type, t->order);
        }
        if (body.has_dv) b->topics_dv = body.dv;
        KLOG_INFO("broker", "loaded %zu topic(s) from %s", body.n_topics, path);
        kite_register_body_free(&body);
    }
    free(text);
    return rc;
}

/* Creates a system topic if it does not exist yet (no registration per topic). */
static void ensure(kite_broker *b, const char *name, int32_t queues, int32_t perm, int *changed)
{
    if (kite_map_get(&b->topics, name)) return;
    topic_set(b, name, queues, queues, perm, 0, "SINGLE_TAG", 0);
    *changed = 1;
}

/* The topics a broker creates for itself at start (its "system topics", answered to
 * GET_SYSTEM_TOPIC_LIST_FROM_BROKER): name, queue count, perm. reply holds the
 * <cluster>_REPLY_TOPIC name. Returns how many were written to out (room for 12). */
typedef struct {
    const char *name;
    int32_t queues, perm;
} sys_topic;

static size_t system_topics(const kite_broker *b, sys_topic *out, char *reply, size_t cap)
{
    const int32_t rw = KITE_PERM_READ | KITE_PERM_WRITE, rwi = rw | KITE_PERM_INHERIT;
    /* A cluster or broker topic that is not enabled keeps only PERM_INHERIT, as Java's. */
    int32_t cluster_perm = b->cfg.cluster_topic_enable ? rwi : KITE_PERM_INHERIT;
    int32_t broker_perm = b->cfg.broker_topic_enable ? rwi : KITE_PERM_INHERIT;
    size_t n = 0;
    out[n++] = (sys_topic){ KITE_TOPIC_SELF_TEST, 1, rw };
    if (b->cfg.auto_create_topic_enable)
        out[n++] = (sys_topic){ KITE_TOPIC_AUTO_CREATE, b->cfg.default_topic_queue_nums, rwi };
    out[n++] = (sys_topic){ KITE_TOPIC_BENCHMARK, 1024, rw };
    out[n++] = (sys_topic){ b->cfg.broker_cluster_name, 16, cluster_perm };
    out[n++] = (sys_topic){ b->cfg.broker_name, 1, broker_perm };
    out[n++] = (sys_topic){ KITE_TOPIC_OFFSET_MOVED, 1, rw };
    out[n++] = (sys_topic){ KITE_TOPIC_SCHEDULE, 18, rw };
    out[n++] = (sys_topic){ KITE_TOPIC_TRANS_HALF, 1, rw };
    out[n++] = (sys_topic){ KITE_TOPIC_TRANS_OP_HALF, 1, rw };
    kite_reply_topic(reply, cap, b->cfg.broker_cluster_name);
    out[n++] = (sys_topic){ reply, 1, rw };
    return n;
}

void bk_topics_create_system(kite_broker *b)
{
    sys_topic st[12];
    char reply[300];
    size_t n = system_topics(b, st, reply, sizeof reply);
    int changed = 0;
    for (size_t i = 0; i < n; i++) ensure(b, st[i].name, st[i].queues, st[i].perm, &changed);
    if (changed) {
        bump(&b->topics_dv);
        bk_save_topics(b);
    }
}

void bk_topics_system_json(const kite_broker *b, kite_buf *out)
{
    sys_topic st[12];
    char reply[300];
    size_t n = system_topics(b, st, reply, sizeof reply);
    const char *names[12];
    for (size_t i = 0; i < n; i++) names[i] = st[i].name;
    kite_topic_list_encode(names, n, NULL, out);
}

int bk_topics_adopt(kite_broker *b, const kite_register_body *body)
{
    if (body->has_dv && kite_data_version_equal(&body->dv, &b->topics_dv)) return 0;
    kite_map keep;
    kite_map_init(&keep);
    for (size_t i = 0; i < body->n_topics; i++) {
        const kite_topic_config *t = &body->topics[i];
        if (!bk_topic_name_ok(t->topic_name)) continue;
        topic_set(b, t->topic_name, t->read_queue_nums, t->write_queue_nums, t->perm,
                  t->topic_sys_flag, t->topic_filter_type, t->order);
        kite_map_put(&keep, t->topic_name, (void *)t);
    }
    const char *k;
    void *v;
    for (size_t it = 0; kite_map_next(&b->topics, &it, &k, &v);) {
        if (kite_map_get(&keep, k)) continue;
        bk_topic *t = kite_map_del(&b->topics, k); /* deleting the current entry is safe */
        topic_free(t);
    }
    kite_map_free(&keep, NULL);
    if (body->has_dv) b->topics_dv = body->dv;
    bk_save_topics(b);
    return 1;
}

void bk_topics_free(kite_broker *b) { kite_map_free(&b->topics, topic_free); }
