/* bodies.c - name-server JSON bodies: encode in fastjson's shape, decode tolerantly.
 * Field tables are in bodies.h and docs/wire.md §2. */
#include "proto/bodies.h"
#include "base/err.h"
#include "base/mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int cmp_addr(const void *a, const void *b)
{
    const kite_broker_addr *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

void kite_broker_data_encode(kite_jw *w, const kite_broker_data *b, int quoted_keys)
{
    kite_broker_addr tmp[16], *addrs = tmp;
    if (b->n_addrs > 16) {
        addrs = kite_xcalloc(b->n_addrs, sizeof *addrs);
    }
    if (b->n_addrs) memcpy(addrs, b->addrs, b->n_addrs * sizeof *addrs);
    qsort(addrs, b->n_addrs, sizeof *addrs, cmp_addr);
    kite_jw_obj_begin(w);
    kite_jw_key(w, "brokerAddrs");
    kite_jw_obj_begin(w);
    for (size_t i = 0; i < b->n_addrs; i++) {
        kite_jw_key_int(w, addrs[i].id, quoted_keys);
        kite_jw_str(w, addrs[i].addr);
    }
    kite_jw_obj_end(w);
    kite_jw_key(w, "brokerName");
    kite_jw_str(w, b->broker_name);
    kite_jw_key(w, "cluster");
    kite_jw_str(w, b->cluster);
    if (b->has_acting_master) {
        kite_jw_key(w, "enableActingMaster");
        kite_jw_bool(w, b->enable_acting_master);
    }
    if (b->zone_name) {
        kite_jw_key(w, "zoneName");
        kite_jw_str(w, b->zone_name);
    }
    kite_jw_obj_end(w);
    if (addrs != tmp) free(addrs);
}

static void queue_data_encode(kite_jw *w, const kite_queue_data *q)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "brokerName");
    kite_jw_str(w, q->broker_name);
    kite_jw_key(w, "perm");
    kite_jw_int(w, q->perm);
    kite_jw_key(w, "readQueueNums");
    kite_jw_int(w, q->read_queue_nums);
    kite_jw_key(w, "topicSysFlag");
    kite_jw_int(w, q->topic_sys_flag);
    kite_jw_key(w, "writeQueueNums");
    kite_jw_int(w, q->write_queue_nums);
    kite_jw_obj_end(w);
}

void kite_route_encode(const kite_route_data *r, int standard_json, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, standard_json ? KITE_JW_ASCII : 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "brokerDatas");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < r->n_brokers; i++)
        kite_broker_data_encode(&w, &r->brokers[i], standard_json);
    kite_jw_arr_end(&w);
    kite_jw_key(&w, "filterServerTable");
    kite_jw_obj_begin(&w);
    kite_jw_obj_end(&w);
    if (r->order_topic_conf) {
        kite_jw_key(&w, "orderTopicConf");
        kite_jw_str(&w, r->order_topic_conf);
    }
    kite_jw_key(&w, "queueDatas");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < r->n_queues; i++) queue_data_encode(&w, &r->queues[i]);
    kite_jw_arr_end(&w);
    kite_jw_obj_end(&w);
}

static const char *dup_str(kite_arena *a, const kite_json *v)
{
    if (!v || v->type != KJ_STRING) return NULL;
    return kite_arena_strndup(a, v->text, v->len);
}

static int broker_data_decode(kite_arena *a, kite_broker_data *b, const kite_json *o)
{
    if (!o || o->type != KJ_OBJECT) return KITE_ECORRUPT;
    memset(b, 0, sizeof *b);
    b->cluster = dup_str(a, kite_json_get(o, "cluster"));
    b->broker_name = dup_str(a, kite_json_get(o, "brokerName"));
    b->zone_name = dup_str(a, kite_json_get(o, "zoneName"));
    const kite_json *am = kite_json_get(o, "enableActingMaster");
    if (am && kite_json_bool(am, &b->enable_acting_master) == 0) b->has_acting_master = 1;
    if (!b->cluster) b->cluster = "";
    if (!b->broker_name) return KITE_ECORRUPT;
    const kite_json *addrs = kite_json_get(o, "brokerAddrs");
    if (addrs && addrs->type == KJ_OBJECT) {
        b->addrs = kite_arena_alloc(a, (addrs->count ? addrs->count : 1) * sizeof *b->addrs);
        for (size_t i = 0; i < addrs->count; i++) {
            const kite_json *k = addrs->members[i].key, *v = addrs->members[i].value;
            int64_t id;
            if (kite_json_int64(k, &id) != 0 || v->type != KJ_STRING) return KITE_ECORRUPT;
            b->addrs[b->n_addrs].id = id;
            b->addrs[b->n_addrs].addr = kite_arena_strndup(a, v->text, v->len);
            b->n_addrs++;
        }
    }
    return 0;
}

int kite_route_decode(kite_route_data *r, const char *text, size_t len, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    kite_json_doc *doc = kite_json_parse(text, len, err, errlen);
    if (!doc) return KITE_ECORRUPT;
    const kite_json *root = kite_json_root(doc);
    int rc = KITE_ECORRUPT;
    if (root->type != KJ_OBJECT) {
        snprintf(err, errlen, "route body is not an object");
        goto out;
    }
    r->order_topic_conf = dup_str(&r->arena, kite_json_get(root, "orderTopicConf"));
    const kite_json *qs = kite_json_get(root, "queueDatas");
    if (qs && qs->type == KJ_ARRAY) {
        r->queues = kite_arena_alloc(&r->arena, (qs->count ? qs->count : 1) * sizeof *r->queues);
        for (size_t i = 0; i < qs->count; i++) {
            const kite_json *q = qs->items[i];
            kite_queue_data *d = &r->queues[r->n_queues];
            d->broker_name = dup_str(&r->arena, kite_json_get(q, "brokerName"));
            if (!d->broker_name) {
                snprintf(err, errlen, "queueData without brokerName");
                goto out;
            }
            d->read_queue_nums = kite_json_get_int32(q, "readQueueNums", 0);
            d->write_queue_nums = kite_json_get_int32(q, "writeQueueNums", 0);
            d->perm = kite_json_get_int32(q, "perm", 0);
            d->topic_sys_flag = kite_json_get_int32(q, "topicSysFlag", 0);
            r->n_queues++;
        }
    }
    const kite_json *bs = kite_json_get(root, "brokerDatas");
    if (bs && bs->type == KJ_ARRAY) {
        r->brokers = kite_arena_alloc(&r->arena, (bs->count ? bs->count : 1) * sizeof *r->brokers);
        for (size_t i = 0; i < bs->count; i++) {
            if (broker_data_decode(&r->arena, &r->brokers[r->n_brokers], bs->items[i]) != 0) {
                snprintf(err, errlen, "malformed brokerData %zu", i);
                goto out;
            }
            r->n_brokers++;
        }
    }
    rc = 0;
out:
    kite_json_doc_free(doc);
    if (rc) kite_route_free(r);
    return rc;
}

void kite_route_free(kite_route_data *r)
{
    kite_arena_free(&r->arena);
    memset(r, 0, sizeof *r);
}

void kite_cluster_encode(const kite_cluster_info *c, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "brokerAddrTable");
    kite_jw_obj_begin(&w);
    for (size_t i = 0; i < c->n_brokers; i++) {
        kite_jw_key(&w, c->brokers[i].broker_name);
        kite_broker_data_encode(&w, &c->brokers[i], 0);
    }
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "clusterAddrTable");
    kite_jw_obj_begin(&w);
    for (size_t i = 0; i < c->n_clusters; i++) {
        kite_jw_key(&w, c->clusters[i].cluster);
        kite_jw_arr_begin(&w);
        for (size_t j = 0; j < c->clusters[i].n_names; j++)
            kite_jw_str(&w, c->clusters[i].broker_names[j]);
        kite_jw_arr_end(&w);
    }
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
}

int kite_cluster_decode(kite_cluster_info *c, const char *text, size_t len, char *err,
                        size_t errlen)
{
    memset(c, 0, sizeof *c);
    kite_json_doc *doc = kite_json_parse(text, len, err, errlen);
    if (!doc) return KITE_ECORRUPT;
    const kite_json *root = kite_json_root(doc);
    int rc = KITE_ECORRUPT;
    const kite_json *bt = kite_json_get(root, "brokerAddrTable");
    const kite_json *ct = kite_json_get(root, "clusterAddrTable");
    if (bt && bt->type == KJ_OBJECT) {
        c->brokers = kite_arena_alloc(&c->arena, (bt->count ? bt->count : 1) * sizeof *c->brokers);
        for (size_t i = 0; i < bt->count; i++) {
            if (broker_data_decode(&c->arena, &c->brokers[c->n_brokers], bt->members[i].value) !=
                0) {
                snprintf(err, errlen, "malformed brokerAddrTable entry %zu", i);
                goto out;
            }
            c->n_brokers++;
        }
    }
    if (ct && ct->type == KJ_OBJECT) {
        c->clusters =
            kite_arena_alloc(&c->arena, (ct->count ? ct->count : 1) * sizeof *c->clusters);
        for (size_t i = 0; i < ct->count; i++) {
            const kite_json *k = ct->members[i].key, *v = ct->members[i].value;
            if (k->type != KJ_STRING || v->type != KJ_ARRAY) {
                snprintf(err, errlen, "malformed clusterAddrTable entry %zu", i);
                goto out;
            }
            kite_cluster_entry *e = &c->clusters[c->n_clusters++];
            e->cluster = kite_arena_strndup(&c->arena, k->text, k->len);
            e->broker_names =
                kite_arena_alloc(&c->arena, (v->count ? v->count : 1) * sizeof *e->broker_names);
            e->n_names = 0;
            for (size_t j = 0; j < v->count; j++) {
                const char *s = dup_str(&c->arena, v->items[j]);
                if (s) e->broker_names[e->n_names++] = s;
            }
        }
    }
    rc = 0;
out:
    kite_json_doc_free(doc);
    if (rc) kite_cluster_free(c);
    return rc;
}

void kite_cluster_free(kite_cluster_info *c)
{
    kite_arena_free(&c->arena);
    memset(c, 0, sizeof *c);
}

static void dv_write(kite_jw *w, const kite_data_version *dv)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "counter");
    kite_jw_int(w, dv->counter);
    if (dv->has_state_version) {
        kite_jw_key(w, "stateVersion");
        kite_jw_int(w, dv->state_version);
    }
    kite_jw_key(w, "timestamp");
    kite_jw_int(w, dv->timestamp);
    kite_jw_obj_end(w);
}

void kite_data_version_encode(const kite_data_version *dv, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    dv_write(&w, dv);
}

static void dv_from_json(kite_data_version *dv, const kite_json *o)
{
    memset(dv, 0, sizeof *dv);
    dv->timestamp = kite_json_get_int64(o, "timestamp", 0);
    dv->counter = kite_json_get_int64(o, "counter", 0);
    const kite_json *sv = kite_json_get(o, "stateVersion");
    if (sv && kite_json_int64(sv, &dv->state_version) == 0) dv->has_state_version = 1;
}

int kite_data_version_decode(kite_data_version *dv, const char *text, size_t len)
{
    char err[64];
    kite_json_doc *doc = kite_json_parse(text, len, err, sizeof err);
    if (!doc) return KITE_ECORRUPT;
    const kite_json *root = kite_json_root(doc);
    int rc = root->type == KJ_OBJECT ? 0 : KITE_ECORRUPT;
    if (!rc) dv_from_json(dv, root);
    kite_json_doc_free(doc);
    return rc;
}

int kite_data_version_equal(const kite_data_version *a, const kite_data_version *b)
{
    return a->timestamp == b->timestamp && a->counter == b->counter &&
           a->state_version == b->state_version;
}

/* ---- RegisterBrokerBody ---- */

static void topic_defaults(kite_topic_config *t)
{
    memset(t, 0, sizeof *t);
    t->read_queue_nums = 16;
    t->write_queue_nums = 16;
    t->perm = KITE_PERM_READ | KITE_PERM_WRITE;
    t->topic_filter_type = "SINGLE_TAG";
}

static int decode_json_body(kite_register_body *b, const char *text, size_t len, char *err,
                            size_t errlen)
{
    kite_json_doc *doc = kite_json_parse(text, len, err, errlen);
    if (!doc) return KITE_ECORRUPT;
    const kite_json *root = kite_json_root(doc);
    int rc = KITE_ECORRUPT;
    if (root->type != KJ_OBJECT) {
        snprintf(err, errlen, "register body is not an object");
        goto out;
    }
    const kite_json *wrap = kite_json_get(root, "topicConfigSerializeWrapper");
    if (!wrap) wrap = root; /* brokers older than V3_0_11 send the wrapper bare */
    const kite_json *dv = kite_json_get(wrap, "dataVersion");
    if (dv && dv->type == KJ_OBJECT) {
        dv_from_json(&b->dv, dv);
        b->has_dv = 1;
    }
    const kite_json *tt = kite_json_get(wrap, "topicConfigTable");
    if (tt && tt->type == KJ_OBJECT) {
        b->topics = kite_arena_alloc(&b->arena, (tt->count ? tt->count : 1) * sizeof *b->topics);
        for (size_t i = 0; i < tt->count; i++) {
            const kite_json *k = tt->members[i].key, *v = tt->members[i].value;
            if (k->type != KJ_STRING || v->type != KJ_OBJECT) continue;
            kite_topic_config *t = &b->topics[b->n_topics++];
            topic_defaults(t);
            const char *name = kite_json_get_str(v, "topicName", NULL);
            t->topic_name = kite_arena_strdup(&b->arena, name ? name : k->text);
            t->read_queue_nums = kite_json_get_int32(v, "readQueueNums", 16);
            t->write_queue_nums = kite_json_get_int32(v, "writeQueueNums", 16);
            t->perm = kite_json_get_int32(v, "perm", 6);
            t->topic_sys_flag = kite_json_get_int32(v, "topicSysFlag", 0);
            t->order = kite_json_get_bool(v, "order", 0);
            const char *ft = kite_json_get_str(v, "topicFilterType", NULL);
            if (ft) t->topic_filter_type = kite_arena_strdup(&b->arena, ft);
        }
    }
    const kite_json *fs = kite_json_get(root, "filterServerList");
    if (fs && fs->type == KJ_ARRAY) {
        b->filter_servers =
            kite_arena_alloc(&b->arena, (fs->count ? fs->count : 1) * sizeof *b->filter_servers);
        for (size_t i = 0; i < fs->count; i++) {
            const char *s = dup_str(&b->arena, fs->items[i]);
            if (s) b->filter_servers[b->n_filter_servers++] = s;
        }
    }
    rc = 0;
out:
    kite_json_doc_free(doc);
    return rc;
}

/* Reads "int32 length + bytes" from the inflated stream. */
static const uint8_t *take_lv(const uint8_t **p, const uint8_t *end, size_t *len)
{
    if (end - *p < 4) return NULL;
    uint32_t n = kite_rd_be32(*p);
    *p += 4;
    if ((size_t)(end - *p) < n) return NULL;
    const uint8_t *s = *p;
    *p += n;
    *len = n;
    return s;
}

static int decode_compressed(kite_register_body *b, const uint8_t *body, size_t len,
                             size_t max_inflated, char *err, size_t errlen)
{
    kite_buf raw = KITE_BUF_INIT;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) {
        snprintf(err, errlen, "inflateInit failed");
        return KITE_EIO;
    }
    zs.next_in = (Bytef *)body;
    zs.avail_in = (uInt)len;
    int zr;
    do {
        kite_buf_reserve(&raw, 16384);
        zs.next_out = (Bytef *)raw.data + raw.len;
        zs.avail_out = (uInt)(raw.cap - raw.len - 1);
        size_t before = zs.avail_out;
        zr = inflate(&zs, Z_NO_FLUSH);
        raw.len += before - zs.avail_out;
        if (raw.len > max_inflated) {
            inflateEnd(&zs);
            kite_buf_free(&raw);
            snprintf(err, errlen, "compressed register body inflates beyond %zu bytes",
                     max_inflated);
            return KITE_ETOOBIG;
        }
    } while (zr == Z_OK);
    inflateEnd(&zs);
    if (zr != Z_STREAM_END) {
        kite_buf_free(&raw);
        snprintf(err, errlen, "compressed register body is not a valid zlib stream");
        return KITE_ECORRUPT;
    }
    const uint8_t *p = (const uint8_t *)raw.data, *end = p + raw.len;
    size_t n;
    const uint8_t *s = take_lv(&p, end, &n);
    int rc = KITE_ECORRUPT;
    if (!s) goto bad;
    if (kite_data_version_decode(&b->dv, (const char *)s, n) != 0) goto bad;
    b->has_dv = 1;
    if (end - p < 4) goto bad;
    uint32_t cnt = kite_rd_be32(p);
    p += 4;
    if (cnt > (size_t)(end - p) / 4) goto bad;
    b->topics = kite_arena_alloc(&b->arena, (cnt ? cnt : 1) * sizeof *b->topics);
    for (uint32_t i = 0; i < cnt; i++) {
        s = take_lv(&p, end, &n);
        if (!s) goto bad;
        /* "name read write perm filterType[ attributesJSON]" */
        char *line = kite_arena_strndup(&b->arena, (const char *)s, n);
        char *save = NULL, *f[5];
        int nf = 0;
        for (char *tok = strtok_r(line, " ", &save); tok && nf < 5;
             tok = strtok_r(NULL, " ", &save))
            f[nf++] = tok;
        if (nf < 5) goto bad;
        kite_topic_config *t = &b->topics[b->n_topics++];
        topic_defaults(t);
        t->topic_name = f[0];
        t->read_queue_nums = atoi(f[1]);
        t->write_queue_nums = atoi(f[2]);
        t->perm = atoi(f[3]);
        t->topic_filter_type = f[4];
    }
    s = take_lv(&p, end, &n);
    if (s && n) {
        kite_json_doc *doc = kite_json_parse((const char *)s, n, err, errlen);
        if (!doc) goto bad;
        const kite_json *arr = kite_json_root(doc);
        if (arr->type == KJ_ARRAY) {
            b->filter_servers = kite_arena_alloc(&b->arena, (arr->count ? arr->count : 1) *
                                                                sizeof *b->filter_servers);
            for (size_t i = 0; i < arr->count; i++) {
                const char *fsv = dup_str(&b->arena, arr->items[i]);
                if (fsv) b->filter_servers[b->n_filter_servers++] = fsv;
            }
        }
        kite_json_doc_free(doc);
    }
    rc = 0; /* a 5.x static-topic section may follow; it is not used here */
bad:
    if (rc) snprintf(err, errlen, "malformed compressed register body");
    kite_buf_free(&raw);
    return rc;
}

int kite_register_body_decode(kite_register_body *b, const uint8_t *body, size_t len,
                              int compressed, size_t max_inflated, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    int rc;
    if (len == 0) return 0;
    if (compressed)
        rc = decode_compressed(b, body, len, max_inflated, err, errlen);
    else
        rc = decode_json_body(b, (const char *)body, len, err, errlen);
    if (rc) kite_register_body_free(b);
    return rc;
}

void kite_register_body_free(kite_register_body *b)
{
    kite_arena_free(&b->arena);
    memset(b, 0, sizeof *b);
}

static void topic_config_write(kite_jw *w, const kite_topic_config *t)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "order");
    kite_jw_bool(w, t->order);
    kite_jw_key(w, "perm");
    kite_jw_int(w, t->perm);
    kite_jw_key(w, "readQueueNums");
    kite_jw_int(w, t->read_queue_nums);
    kite_jw_key(w, "topicFilterType");
    kite_jw_str(w, t->topic_filter_type ? t->topic_filter_type : "SINGLE_TAG");
    kite_jw_key(w, "topicName");
    kite_jw_str(w, t->topic_name);
    kite_jw_key(w, "topicSysFlag");
    kite_jw_int(w, t->topic_sys_flag);
    kite_jw_key(w, "writeQueueNums");
    kite_jw_int(w, t->write_queue_nums);
    kite_jw_obj_end(w);
}

static void put_lv(kite_buf *out, const char *s, size_t n)
{
    kite_buf_put_be32(out, (uint32_t)n);
    kite_buf_append(out, s, n);
}

void kite_register_body_encode(const kite_register_body *b, int compressed, kite_buf *out)
{
    if (!compressed) {
        kite_jw w;
        kite_jw_init(&w, out, 0);
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "filterServerList");
        kite_jw_arr_begin(&w);
        for (size_t i = 0; i < b->n_filter_servers; i++) kite_jw_str(&w, b->filter_servers[i]);
        kite_jw_arr_end(&w);
        kite_jw_key(&w, "topicConfigSerializeWrapper");
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "dataVersion");
        dv_write(&w, &b->dv);
        kite_jw_key(&w, "topicConfigTable");
        kite_jw_obj_begin(&w);
        for (size_t i = 0; i < b->n_topics; i++) {
            kite_jw_key(&w, b->topics[i].topic_name);
            topic_config_write(&w, &b->topics[i]);
        }
        kite_jw_obj_end(&w);
        kite_jw_obj_end(&w);
        kite_jw_obj_end(&w);
        return;
    }
    kite_buf raw = KITE_BUF_INIT, tmp = KITE_BUF_INIT;
    kite_data_version_encode(&b->dv, &tmp);
    put_lv(&raw, tmp.data, tmp.len);
    kite_buf_put_be32(&raw, (uint32_t)b->n_topics);
    for (size_t i = 0; i < b->n_topics; i++) {
        const kite_topic_config *t = &b->topics[i];
        kite_buf_reset(&tmp);
        kite_buf_printf(&tmp, "%s %d %d %d %s", t->topic_name, t->read_queue_nums,
                        t->write_queue_nums, t->perm,
                        t->topic_filter_type ? t->topic_filter_type : "SINGLE_TAG");
        put_lv(&raw, tmp.data, tmp.len);
    }
    kite_buf_reset(&tmp);
    kite_jw w;
    kite_jw_init(&w, &tmp, 0);
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < b->n_filter_servers; i++) kite_jw_str(&w, b->filter_servers[i]);
    kite_jw_arr_end(&w);
    put_lv(&raw, tmp.data, tmp.len);
    uLongf zl = compressBound((uLong)raw.len);
    kite_buf_reserve(out, zl);
    if (compress2((Bytef *)out->data + out->len, &zl, (const Bytef *)raw.data, (uLong)raw.len, 9) ==
        Z_OK)
        out->len += zl;
    kite_buf_free(&raw);
    kite_buf_free(&tmp);
}

void kite_kv_table_encode(const char *const *keys, const char *const *vals, size_t n, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "table");
    kite_jw_obj_begin(&w);
    for (size_t i = 0; i < n; i++) {
        kite_jw_key(&w, keys[i]);
        kite_jw_str(&w, vals[i]);
    }
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
}

void kite_topic_list_encode(const char *const *topics, size_t n, const char *broker_addr,
                            kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    if (broker_addr) {
        kite_jw_key(&w, "brokerAddr");
        kite_jw_str(&w, broker_addr);
    }
    kite_jw_key(&w, "topicList");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) kite_jw_str(&w, topics[i]);
    kite_jw_arr_end(&w);
    kite_jw_obj_end(&w);
}
