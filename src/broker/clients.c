/* clients.c - client channels and subscriptions: consumer groups (members, their
 * subscriptions from HEART_BEAT), producer groups, expiry of silent clients, removal on
 * connection close, and NOTIFY_CONSUMER_IDS_CHANGED to every member when a clustering
 * group changes. Tag expressions are parsed here (hashes recomputed from the tag text
 * with Java's String.hashCode: clients fill codeSet wrongly). Loop thread only. */
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "broker/filter.h"
#include "codec/record.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bk_sub_free(bk_sub *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->ntags; i++) free(s->tags[i]);
    free(s->tags);
    free(s->codes);
    free(s->topic);
    free(s->sub_string);
    free(s->expr_type);
    bk_filter_free(s->sql);
    free(s);
}

bk_sub *bk_sub_parse(const char *topic, const char *expr, const char *type, int64_t version,
                     char *err, size_t errlen)
{
    bk_sub *s = kite_xcalloc(1, sizeof *s);
    s->topic = kite_xstrdup(topic);
    s->sub_string = kite_xstrdup(expr ? expr : "*");
    s->expr_type = kite_xstrdup(type && *type ? type : "TAG");
    s->sub_version = version;
    if (strcmp(s->expr_type, "SQL92") == 0) {
        s->sql = bk_filter_parse(s->sub_string, err, errlen);
        if (!s->sql) {
            bk_sub_free(s);
            return NULL;
        }
        s->all = 1; /* no tag filtering; the SQL filter decides */
        return s;
    }
    if (strcmp(s->expr_type, "TAG") != 0) {
        snprintf(err, errlen, "expression type %s is not supported (TAG or SQL92)", s->expr_type);
        bk_sub_free(s);
        return NULL;
    }
    const char *e = s->sub_string;
    while (*e == ' ') e++;
    if (!*e || strcmp(e, "*") == 0) {
        s->all = 1;
        return s;
    }
    /* tags joined by "||", each trimmed, empty ones dropped */
    const char *p = e;
    while (*p) {
        const char *sep = strstr(p, "||");
        const char *end = sep ? sep : p + strlen(p);
        const char *a = p, *z = end;
        while (a < z && (*a == ' ' || *a == '\t')) a++;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t')) z--;
        if (z > a) {
            s->tags = kite_xreallocarray(s->tags, s->ntags + 1, sizeof *s->tags);
            s->codes = kite_xreallocarray(s->codes, s->ntags + 1, sizeof *s->codes);
            s->tags[s->ntags] = kite_xstrndup(a, (size_t)(z - a));
            s->codes[s->ntags] = kite_java_hash(a, (size_t)(z - a));
            s->ntags++;
        }
        p = sep ? sep + 2 : end;
    }
    if (s->ntags == 0) s->all = 1;
    return s;
}

int bk_sub_match_code(const bk_sub *s, int64_t tag_code)
{
    if (!s || s->all) return 1;
    for (size_t i = 0; i < s->ntags; i++)
        if (s->codes[i] == (int32_t)tag_code) return 1;
    return 0;
}

int bk_sub_match_tag(const bk_sub *s, const kite_record *r)
{
    if (!s || s->all) return 1;
    size_t vlen;
    const char *tag = kite_msgprop_get(r->props, r->props_len, "TAGS", &vlen);
    if (!tag) return 0;
    for (size_t i = 0; i < s->ntags; i++)
        if (strlen(s->tags[i]) == vlen && memcmp(s->tags[i], tag, vlen) == 0) return 1;
    return 0;
}

void bk_clients_init(kite_broker *b)
{
    kite_map_init(&b->consumers);
    kite_map_init(&b->producers);
}

static void channel_clear(bk_channel *c)
{
    free(c->client_id);
    kite_conn_unref(c->conn);
}

static void cg_free(void *p)
{
    bk_consumer_group *g = p;
    for (size_t i = 0; i < g->nch; i++) channel_clear(&g->ch[i]);
    free(g->ch);
    kite_map_free(&g->subs, (void (*)(void *))bk_sub_free);
    free(g->name);
    free(g);
}

static void pg_free(void *p)
{
    bk_producer_group *g = p;
    for (size_t i = 0; i < g->nch; i++) channel_clear(&g->ch[i]);
    free(g->ch);
    free(g->name);
    free(g);
}

void bk_clients_free(kite_broker *b)
{
    kite_map_free(&b->consumers, cg_free);
    kite_map_free(&b->producers, pg_free);
}

bk_consumer_group *bk_consumer_group_get(kite_broker *b, const char *group)
{
    return kite_map_get(&b->consumers, group);
}

const bk_sub *bk_sub_find(kite_broker *b, const char *group, const char *topic)
{
    bk_consumer_group *g = kite_map_get(&b->consumers, group);
    return g ? kite_map_get(&g->subs, topic) : NULL;
}

bk_peer *bk_peers_copy(const bk_channel *ch, size_t n)
{
    bk_peer *p = kite_xmalloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        kite_conn_ref(ch[i].conn);
        p[i].conn = ch[i].conn;
        p[i].language = ch[i].language;
    }
    return p;
}

void bk_peers_free(bk_peer *p, size_t n)
{
    for (size_t i = 0; i < n; i++) kite_conn_unref(p[i].conn);
    free(p);
}

void bk_notify_ids_changed(kite_broker *b, bk_consumer_group *g)
{
    if (!b->cfg.notify_consumer_ids_changed_enable) return;
    bk_group *cfg = bk_group_get(b, g->name);
    if (cfg && !cfg->notify_consumer_ids_changed_enable) return;
    /* g is not touched once the first request is sent (see broker.h) */
    size_t n = g->nch;
    bk_peer *peers = bk_peers_copy(g->ch, n);
    char *name = kite_xstrdup(g->name);
    for (size_t i = 0; i < n; i++) {
        kite_cmd req;
        kite_cmd_init_request(&req, RC_NOTIFY_CONSUMER_IDS_CHANGED, 0);
        kite_cmd_set_ext(&req, "consumerGroup", name);
        kite_rpc_server_call(b->srv, peers[i].conn, &req, 0, NULL, NULL); /* oneway */
    }
    KLOG_DEBUG("broker", "notified %zu member(s) of group %s", n, name);
    free(name);
    bk_peers_free(peers, n);
}

/* Adds or refreshes a channel; returns 1 when it is new. */
static int channel_upsert(bk_channel **arr, size_t *n, size_t *cap, kite_conn *conn,
                          const char *client_id, int32_t lang, int32_t version, int64_t now)
{
    for (size_t i = 0; i < *n; i++) {
        if ((*arr)[i].conn == conn) {
            (*arr)[i].last_update_ms = now;
            if (strcmp((*arr)[i].client_id, client_id) != 0) {
                free((*arr)[i].client_id);
                (*arr)[i].client_id = kite_xstrdup(client_id);
                return 1;
            }
            return 0;
        }
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *arr = kite_xreallocarray(*arr, *cap, sizeof **arr);
    }
    bk_channel *c = &(*arr)[(*n)++];
    kite_conn_ref(conn);
    c->conn = conn;
    c->client_id = kite_xstrdup(client_id);
    c->language = lang;
    c->version = version;
    c->last_update_ms = now;
    return 1;
}

/* Removes channels matching conn (or, when conn is NULL, those idle past the deadline
 * or with client id cid). Returns how many. */
static size_t channel_remove(bk_channel *arr, size_t *n, kite_conn *conn, const char *cid,
                             int64_t deadline)
{
    size_t removed = 0;
    for (size_t i = 0; i < *n;) {
        int hit = conn  ? arr[i].conn == conn
                  : cid ? strcmp(arr[i].client_id, cid) == 0
                        : arr[i].last_update_ms < deadline;
        if (hit) {
            channel_clear(&arr[i]);
            arr[i] = arr[--*n];
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

bk_consumer_group *bk_consumer_register(kite_broker *b, const char *group, kite_conn *conn,
                                        const char *client_id, int32_t lang, int32_t version,
                                        const char *consume_type, const char *model,
                                        const char *from_where, kite_map *subs, int *changed)
{
    bk_consumer_group *g = kite_map_get(&b->consumers, group);
    if (!g) {
        g = kite_xcalloc(1, sizeof *g);
        g->name = kite_xstrdup(group);
        kite_map_put(&b->consumers, group, g);
    }
    snprintf(g->consume_type, sizeof g->consume_type, "%s", consume_type);
    snprintf(g->message_model, sizeof g->message_model, "%s", model);
    snprintf(g->consume_from_where, sizeof g->consume_from_where, "%s", from_where);
    int ch_changed = channel_upsert(&g->ch, &g->nch, &g->capch, conn, client_id, lang, version,
                                    kite_ev_now(b->ev));
    /* Replace the subscriptions when their set or versions differ. */
    int sub_changed = subs->count != g->subs.count;
    size_t it = 0;
    const char *topic;
    void *v;
    while (!sub_changed && kite_map_next(subs, &it, &topic, &v)) {
        bk_sub *old = kite_map_get(&g->subs, topic), *nw = v;
        if (!old || strcmp(old->sub_string, nw->sub_string) != 0 ||
            strcmp(old->expr_type, nw->expr_type) != 0)
            sub_changed = 1;
    }
    if (sub_changed) {
        kite_map_free(&g->subs, (void (*)(void *))bk_sub_free);
        g->subs = *subs;
        kite_map_init(subs);
    } else {
        /* keep the stored ones; refresh versions */
        it = 0;
        while (kite_map_next(subs, &it, &topic, &v)) {
            bk_sub *old = kite_map_get(&g->subs, topic);
            if (old) old->sub_version = ((bk_sub *)v)->sub_version;
        }
    }
    *changed = ch_changed || sub_changed;
    if (ch_changed)
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker",
                     "consumer %s joined group %s from %s (%zu member(s))", client_id, group,
                     kite_conn_peer(conn), g->nch);
    return g;
}

void bk_producer_register(kite_broker *b, const char *group, kite_conn *conn, const char *client_id,
                          int32_t lang, int32_t version)
{
    bk_producer_group *g = kite_map_get(&b->producers, group);
    if (!g) {
        g = kite_xcalloc(1, sizeof *g);
        g->name = kite_xstrdup(group);
        kite_map_put(&b->producers, group, g);
    }
    channel_upsert(&g->ch, &g->nch, &g->capch, conn, client_id, lang, version, kite_ev_now(b->ev));
}

/* Applies a removal to every group; notifies clustering groups that lost members. */
static void remove_everywhere(kite_broker *b, kite_conn *conn, const char *cid, const char *only_cg,
                              const char *only_pg, int64_t deadline, const char *why)
{
    size_t it = 0;
    const char *name;
    void *v;
    while (kite_map_next(&b->consumers, &it, &name, &v)) {
        if (only_cg && strcmp(only_cg, name) != 0) continue;
        if (!only_cg && only_pg) continue;
        bk_consumer_group *g = v;
        size_t n = channel_remove(g->ch, &g->nch, conn, cid, deadline);
        if (!n) continue;
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker",
                     "%zu consumer(s) left group %s: %s (%zu left)", n, g->name, why, g->nch);
        if (g->nch == 0) {
            cg_free(kite_map_del(&b->consumers, name));
            continue;
        }
        if (strcmp(g->message_model, "BROADCASTING") != 0) bk_notify_ids_changed(b, g);
    }
    it = 0;
    while (kite_map_next(&b->producers, &it, &name, &v)) {
        if (only_pg && strcmp(only_pg, name) != 0) continue;
        if (!only_pg && only_cg) continue;
        bk_producer_group *g = v;
        channel_remove(g->ch, &g->nch, conn, cid, deadline);
        if (g->nch == 0) pg_free(kite_map_del(&b->producers, name));
    }
}

void bk_clients_on_close(kite_broker *b, kite_conn *conn)
{
    remove_everywhere(b, conn, NULL, NULL, NULL, 0, "connection closed");
}

void bk_clients_unregister(kite_broker *b, const char *client_id, const char *cg, const char *pg)
{
    if (cg) remove_everywhere(b, NULL, client_id, cg, NULL, 0, "unregistered");
    if (pg) remove_everywhere(b, NULL, client_id, NULL, pg, 0, "unregistered");
}

void bk_clients_scan(kite_broker *b, int64_t now_ms)
{
    int64_t deadline = now_ms - b->cfg.channel_expired_timeout;
    /* conn == NULL and cid == NULL: remove by idle time */
    size_t it = 0;
    const char *name;
    void *v;
    int any = 0;
    while (kite_map_next(&b->consumers, &it, &name, &v)) {
        bk_consumer_group *g = v;
        for (size_t i = 0; i < g->nch; i++)
            if (g->ch[i].last_update_ms < deadline) any = 1;
    }
    it = 0;
    while (kite_map_next(&b->producers, &it, &name, &v)) {
        bk_producer_group *g = v;
        for (size_t i = 0; i < g->nch; i++)
            if (g->ch[i].last_update_ms < deadline) any = 1;
    }
    if (any)
        remove_everywhere(b, NULL, NULL, NULL, NULL, deadline,
                          "no heartbeat within channelExpiredTimeout");
}
