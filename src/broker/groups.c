/* groups.c - subscription group configuration: the table, auto-creation with Java's
 * defaults, and subscriptionGroup.json (atomic rewrite on change). Loop thread only. */
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

static bk_group *group_new(kite_broker *b, const char *name);

static void group_free(void *p)
{
    bk_group *g = p;
    free(g->name);
    free(g);
}

void bk_groups_free(kite_broker *b) { kite_map_free(&b->groups, group_free); }

bk_group *bk_group_get(kite_broker *b, const char *name) { return kite_map_get(&b->groups, name); }

void bk_group_from_json(bk_group *g, const kite_json *v)
{
    g->consume_enable = kite_json_get_bool(v, "consumeEnable", 1);
    g->consume_from_min_enable = kite_json_get_bool(v, "consumeFromMinEnable", 1);
    g->consume_broadcast_enable = kite_json_get_bool(v, "consumeBroadcastEnable", 1);
    g->notify_consumer_ids_changed_enable =
        kite_json_get_bool(v, "notifyConsumerIdsChangedEnable", 1);
    g->retry_queue_nums = kite_json_get_int32(v, "retryQueueNums", 1);
    g->retry_max_times = kite_json_get_int32(v, "retryMaxTimes", 16);
    g->broker_id = kite_json_get_int64(v, "brokerId", 0);
    g->which_broker_when_consume_slowly = kite_json_get_int64(v, "whichBrokerWhenConsumeSlowly", 1);
}

bk_group *bk_group_upsert(kite_broker *b, const char *name)
{
    bk_group *g = kite_map_get(&b->groups, name);
    return g ? g : group_new(b, name);
}

void bk_groups_changed(kite_broker *b)
{
    b->groups_dv.timestamp = kite_wall_ms();
    b->groups_dv.counter++;
    bk_save_groups(b);
}

int bk_group_delete(kite_broker *b, const char *name)
{
    bk_group *g = kite_map_del(&b->groups, name);
    if (!g) return 0;
    group_free(g);
    bk_groups_changed(b);
    return 1;
}

static bk_group *group_new(kite_broker *b, const char *name)
{
    bk_group *g = kite_xcalloc(1, sizeof *g);
    g->name = kite_xstrdup(name);
    g->consume_enable = g->consume_from_min_enable = g->consume_broadcast_enable = 1;
    g->notify_consumer_ids_changed_enable = 1;
    g->retry_queue_nums = 1;
    g->retry_max_times = 16;
    g->which_broker_when_consume_slowly = 1;
    kite_map_put(&b->groups, name, g);
    return g;
}

bk_group *bk_group_get_or_create(kite_broker *b, const char *name)
{
    bk_group *g = kite_map_get(&b->groups, name);
    if (g) return g;
    if (!b->cfg.auto_create_subscription_group && !kite_is_sys_group(name)) return NULL;
    g = group_new(b, name);
    b->groups_dv.timestamp = kite_wall_ms();
    b->groups_dv.counter++;
    bk_save_groups(b);
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker", "subscription group %s created", name);
    return g;
}

void bk_groups_json(kite_broker *b, kite_buf *outp) { bk_groups_json_page(b, 0, 0, outp); }

void bk_groups_json_page(kite_broker *b, int32_t seq, int32_t max, kite_buf *outp)
{
    kite_jw w;
    kite_jw_init(&w, outp, 0);
    kite_jw_obj_begin(&w);
    bk_write_data_version(&w, &b->groups_dv);
    kite_jw_key(&w, "subscriptionGroupTable");
    kite_jw_obj_begin(&w);
    size_t n;
    const char **names = kite_map_sorted_keys(&b->groups, &n);
    size_t from, to;
    bk_page_bounds(n, seq, max, &from, &to);
    for (size_t i = from; i < to; i++) {
        const bk_group *g = kite_map_get(&b->groups, names[i]);
        kite_jw_key(&w, g->name);
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "brokerId");
        kite_jw_int(&w, g->broker_id);
        kite_jw_key(&w, "consumeBroadcastEnable");
        kite_jw_bool(&w, g->consume_broadcast_enable);
        kite_jw_key(&w, "consumeEnable");
        kite_jw_bool(&w, g->consume_enable);
        kite_jw_key(&w, "consumeFromMinEnable");
        kite_jw_bool(&w, g->consume_from_min_enable);
        kite_jw_key(&w, "groupName");
        kite_jw_str(&w, g->name);
        kite_jw_key(&w, "notifyConsumerIdsChangedEnable");
        kite_jw_bool(&w, g->notify_consumer_ids_changed_enable);
        kite_jw_key(&w, "retryMaxTimes");
        kite_jw_int(&w, g->retry_max_times);
        kite_jw_key(&w, "retryQueueNums");
        kite_jw_int(&w, g->retry_queue_nums);
        kite_jw_key(&w, "whichBrokerWhenConsumeSlowly");
        kite_jw_int(&w, g->which_broker_when_consume_slowly);
        kite_jw_obj_end(&w);
    }
    free(names);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
}

int bk_save_groups(kite_broker *b)
{
    kite_buf out = KITE_BUF_INIT;
    bk_groups_json(b, &out);
    return bk_meta_write(b, "subscriptionGroup.json", &out);
}

int bk_groups_adopt(kite_broker *b, const kite_json *root)
{
    const kite_json *dvj = kite_json_get(root, "dataVersion");
    kite_data_version dv = { kite_json_get_int64(dvj, "timestamp", 0),
                             kite_json_get_int64(dvj, "counter", 0), 0, 0 };
    if (dvj && kite_data_version_equal(&dv, &b->groups_dv)) return 0;
    const kite_json *tbl = kite_json_get(root, "subscriptionGroupTable");
    if (!tbl || tbl->type != KJ_OBJECT) return 0;
    kite_map keep;
    kite_map_init(&keep);
    for (size_t i = 0; i < tbl->count; i++) {
        const kite_json *k = tbl->members[i].key, *v = tbl->members[i].value;
        if (k->type != KJ_STRING || v->type != KJ_OBJECT) continue;
        bk_group_from_json(bk_group_upsert(b, k->text), v);
        kite_map_put(&keep, k->text, (void *)v);
    }
    const char *k;
    void *v;
    for (size_t it = 0; kite_map_next(&b->groups, &it, &k, &v);) {
        if (kite_map_get(&keep, k)) continue;
        group_free(kite_map_del(&b->groups, k));
    }
    kite_map_free(&keep, NULL);
    if (dvj) b->groups_dv = dv;
    bk_save_groups(b);
    return 1;
}

int bk_groups_load(kite_broker *b, char *err, size_t errlen)
{
    kite_json_doc *doc;
    int rc = bk_meta_load_json(b, "subscriptionGroup.json", 256u << 20, &doc,
                               "restore it or remove it", err, errlen);
    if (rc != KITE_OK) return rc;
    if (doc) {
        const kite_json *root = kite_json_root(doc);
        const kite_json *dv = kite_json_get(root, "dataVersion");
        b->groups_dv.counter = kite_json_get_int64(dv, "counter", 0);
        b->groups_dv.timestamp = kite_json_get_int64(dv, "timestamp", 0);
        const kite_json *tbl = kite_json_get(root, "subscriptionGroupTable");
        for (size_t i = 0; tbl && tbl->type == KJ_OBJECT && i < tbl->count; i++) {
            const kite_json *k = tbl->members[i].key, *v = tbl->members[i].value;
            if (k->type != KJ_STRING || v->type != KJ_OBJECT) continue;
            bk_group *g = kite_map_get(&b->groups, k->text);
            if (!g) g = group_new(b, k->text);
            bk_group_from_json(g, v);
        }
        KLOG_INFO("broker", "loaded %zu subscription group(s)", b->groups.count);
        kite_json_doc_free(doc);
    }
    return KITE_OK;
}
