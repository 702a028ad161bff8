/* routes.c - name server tables and their operations (see routes.h). */
#include "namesrv/routes.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ns_queue {
    char *broker_name;
    int32_t read, write, perm, sysflag;
} ns_queue;

typedef struct ns_addr {
    int64_t id;
    char *addr;
} ns_addr;

typedef struct ns_broker {
    char *cluster, *name, *zone;
    int acting_master, has_acting_master;
    size_t n, cap;
    ns_addr *addrs;
} ns_broker;

typedef struct ns_live {
    char *addr, *cluster, *broker_name, *ha_addr;
    int64_t broker_id, last_ms, timeout_ms;
    kite_data_version dv;
    uint64_t conn_id;
} ns_live;

/* Copy of s; NULL (an absent optional field) is copied as "". */
static char *copy_str(const char *s) { return kite_xstrdup(s ? s : ""); }

static void free_queue(void *p)
{
    ns_queue *q = p;
    free(q->broker_name);
    free(q);
}

static void free_topic(void *p)
{
    kite_map_free(p, free_queue);
    free(p);
}

static void free_broker(void *p)
{
    ns_broker *b = p;
    for (size_t i = 0; i < b->n; i++) free(b->addrs[i].addr);
    free(b->addrs);
    free(b->cluster);
    free(b->name);
    free(b->zone);
    free(b);
}

static void free_set(void *p)
{
    kite_map_free(p, NULL);
    free(p);
}

static void free_live(void *p)
{
    ns_live *l = p;
    free(l->addr);
    free(l->cluster);
    free(l->broker_name);
    free(l->ha_addr);
    free(l);
}

static void free_kvns(void *p)
{
    kite_map_free(p, free);
    free(p);
}

void ns_routes_init(ns_routes *r) { memset(r, 0, sizeof *r); }

void ns_routes_free(ns_routes *r)
{
    kite_map_free(&r->topics, free_topic);
    kite_map_free(&r->brokers, free_broker);
    kite_map_free(&r->clusters, free_set);
    kite_map_free(&r->live, free_live);
    kite_map_free(&r->kv, free_kvns);
}

static kite_map *new_map(void) { return kite_xcalloc(1, sizeof(kite_map)); }

static const char *broker_addr_of(const ns_broker *b, int64_t id)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->addrs[i].id == id) return b->addrs[i].addr;
    return NULL;
}

static void broker_set_addr(ns_broker *b, int64_t id, const char *addr)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->addrs[i].id == id) {
            free(b->addrs[i].addr);
            b->addrs[i].addr = copy_str(addr);
            return;
        }
    }
    b->addrs = kite_xgrow(b->addrs, &b->cap, b->n + 1, sizeof *b->addrs, 4);
    b->addrs[b->n].id = id;
    b->addrs[b->n].addr = copy_str(addr);
    b->n++;
}

static void broker_remove_at(ns_broker *b, size_t i)
{
    free(b->addrs[i].addr);
    b->addrs[i] = b->addrs[--b->n];
}

static void put_queue(ns_routes *r, const char *topic, const char *broker_name, int32_t read,
                      int32_t write, int32_t perm, int32_t sysflag)
{
    kite_map *qs = kite_map_get(&r->topics, topic);
    if (!qs) {
        qs = new_map();
        kite_map_put(&r->topics, topic, qs);
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv", "new topic %s from broker %s", topic,
                     broker_name);
    }
    ns_queue *q = kite_map_get(qs, broker_name);
    if (!q) {
        q = kite_xcalloc(1, sizeof *q);
        q->broker_name = copy_str(broker_name);
        kite_map_put(qs, broker_name, q);
    }
    q->read = read;
    q->write = write;
    q->perm = perm;
    q->sysflag = sysflag;
}

/* Drops a broker group that has no address left: from its cluster and every topic. */
static void drop_group_if_empty(ns_routes *r, const char *broker_name)
{
    ns_broker *b = kite_map_get(&r->brokers, broker_name);
    if (!b || b->n) return;
    /* From every cluster, not only its current one: a group that re-registered under
     * another cluster name is still listed in the old one (as Java does on removal). */
    size_t cit = 0;
    const char *cname;
    void *cv;
    while (kite_map_next(&r->clusters, &cit, &cname, &cv)) {
        kite_map *set = cv;
        kite_map_del(set, broker_name);
        if (set->count == 0) free_set(kite_map_del(&r->clusters, cname));
    }
    size_t it = 0;
    const char *topic;
    void *v;
    while (kite_map_next(&r->topics, &it, &topic, &v)) {
        kite_map *qs = v;
        ns_queue *q = kite_map_del(qs, broker_name);
        if (q) free_queue(q);
        if (qs->count == 0) {
            KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv",
                         "topic %s removed: its last broker group %s is gone", topic, broker_name);
            free_topic(kite_map_del(&r->topics, topic));
        }
    }
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv", "broker group %s removed", broker_name);
    free_broker(kite_map_del(&r->brokers, broker_name));
}

void ns_register(ns_routes *r, const ns_register_req *req, int64_t now_ms, ns_register_result *res)
{
    memset(res, 0, sizeof *res);
    kite_map *set = kite_map_get(&r->clusters, req->cluster);
    if (!set) {
        set = new_map();
        kite_map_put(&r->clusters, req->cluster, set);
    }
    kite_map_put(set, req->broker_name, (void *)1);

    ns_broker *b = kite_map_get(&r->brokers, req->broker_name);
    if (!b) {
        b = kite_xcalloc(1, sizeof *b);
        b->cluster = copy_str(req->cluster);
        b->name = copy_str(req->broker_name);
        kite_map_put(&r->brokers, req->broker_name, b);
    } else if (strcmp(b->cluster, req->cluster) != 0) {
        free(b->cluster);
        b->cluster = copy_str(req->cluster);
    }
    if (req->zone_name) {
        free(b->zone);
        b->zone = copy_str(req->zone_name);
    }
    if (req->has_acting_master) {
        b->has_acting_master = 1;
        b->acting_master = req->enable_acting_master;
    }
    /* An address that moves to another id (slave promoted to master) leaves its old id. */
    for (size_t i = 0; i < b->n;) {
        if (b->addrs[i].id != req->broker_id && strcmp(b->addrs[i].addr, req->broker_addr) == 0)
            broker_remove_at(b, i);
        else
            i++;
    }
    const char *old = broker_addr_of(b, req->broker_id);
    int first = !old || strcmp(old, req->broker_addr) != 0;
    broker_set_addr(b, req->broker_id, req->broker_addr);

    ns_live *l = kite_map_get(&r->live, req->broker_addr);
    const kite_register_body *body = req->body;
    if (req->broker_id == 0 && body) {
        int changed = first || !l || (body->has_dv && !kite_data_version_equal(&l->dv, &body->dv));
        for (size_t i = 0; i < body->n_topics; i++) {
            const kite_topic_config *t = &body->topics[i];
            kite_map *qs = kite_map_get(&r->topics, t->topic_name);
            if (changed || !qs || !kite_map_get(qs, req->broker_name))
                put_queue(r, t->topic_name, req->broker_name, t->read_queue_nums,
                          t->write_queue_nums, t->perm, t->topic_sys_flag);
        }
    }
    if (!l) {
        l = kite_xcalloc(1, sizeof *l);
        l->addr = copy_str(req->broker_addr);
        kite_map_put(&r->live, req->broker_addr, l);
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv",
                     "broker registered: cluster=%s name=%s id=%lld addr=%s", req->cluster,
                     req->broker_name, (long long)req->broker_id, req->broker_addr);
    }
    free(l->cluster);
    free(l->broker_name);
    free(l->ha_addr);
    l->cluster = copy_str(req->cluster);
    l->broker_name = copy_str(req->broker_name);
    l->ha_addr = copy_str(req->ha_addr);
    l->broker_id = req->broker_id;
    l->last_ms = now_ms;
    l->timeout_ms = req->timeout_ms;
    if (body && body->has_dv) l->dv = body->dv;
    l->conn_id = req->conn_id;

    if (req->broker_id != 0) {
        const char *master = broker_addr_of(b, 0);
        ns_live *ml = master ? kite_map_get(&r->live, master) : NULL;
        if (ml) {
            snprintf(res->master_addr, sizeof res->master_addr, "%s", master);
            snprintf(res->ha_addr, sizeof res->ha_addr, "%s", ml->ha_addr);
        }
    }
}

/* Removes one live address and its broker-table entries. */
static void remove_addr(ns_routes *r, const char *addr, const char *why)
{
    ns_live *l = kite_map_del(&r->live, addr);
    char *name = l ? copy_str(l->broker_name) : NULL;
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv", "broker %s removed: %s", addr, why);
    size_t it = 0;
    void *v;
    const char *bn;
    /* Collect names first: dropping a group mutates the brokers map. */
    char **names = NULL;
    size_t nn = 0;
    while (kite_map_next(&r->brokers, &it, &bn, &v)) {
        ns_broker *b = v;
        int hit = 0;
        for (size_t i = 0; i < b->n;) {
            if (strcmp(b->addrs[i].addr, addr) == 0) {
                broker_remove_at(b, i);
                hit = 1;
            } else {
                i++;
            }
        }
        if (hit && b->n == 0) {
            names = kite_xreallocarray(names, nn + 1, sizeof *names);
            names[nn++] = copy_str(bn);
        }
    }
    for (size_t i = 0; i < nn; i++) {
        drop_group_if_empty(r, names[i]);
        free(names[i]);
    }
    free(names);
    free(name);
    if (l) free_live(l);
}

int ns_unregister(ns_routes *r, const char *cluster, const char *broker_addr,
                  const char *broker_name, int64_t broker_id)
{
    (void)cluster;
    ns_live *l = kite_map_del(&r->live, broker_addr);
    if (l) free_live(l);
    ns_broker *b = kite_map_get(&r->brokers, broker_name);
    int found = l != NULL;
    if (b) {
        for (size_t i = 0; i < b->n; i++) {
            if (b->addrs[i].id == broker_id && strcmp(b->addrs[i].addr, broker_addr) == 0) {
                broker_remove_at(b, i);
                found = 1;
                break;
            }
        }
        drop_group_if_empty(r, broker_name);
    }
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "namesrv",
                 "broker unregistered: name=%s id=%lld addr=%s", broker_name, (long long)broker_id,
                 broker_addr);
    return found;
}

static int remove_matching(ns_routes *r, int (*pred)(const ns_live *, const void *),
                           const void *arg, const char *why)
{
    char **addrs = NULL;
    size_t n = 0, it = 0;
    void *v;
    while (kite_map_next(&r->live, &it, NULL, &v)) {
        if (!pred(v, arg)) continue;
        addrs = kite_xreallocarray(addrs, n + 1, sizeof *addrs);
        addrs[n++] = copy_str(((ns_live *)v)->addr);
    }
    for (size_t i = 0; i < n; i++) {
        remove_addr(r, addrs[i], why);
        free(addrs[i]);
    }
    free(addrs);
    return (int)n;
}

static int match_conn(const ns_live *l, const void *arg)
{
    return l->conn_id && l->conn_id == *(const uint64_t *)arg;
}
static int match_expired(const ns_live *l, const void *arg)
{
    return *(const int64_t *)arg - l->last_ms > l->timeout_ms;
}

int ns_remove_by_conn(ns_routes *r, uint64_t conn_id)
{
    return remove_matching(r, match_conn, &conn_id, "its connection closed");
}

int ns_scan_expired(ns_routes *r, int64_t now_ms)
{
    return remove_matching(r, match_expired, &now_ms, "no registration within its timeout");
}

int ns_touch(ns_routes *r, const char *broker_addr, int64_t now_ms)
{
    ns_live *l = kite_map_get(&r->live, broker_addr);
    if (!l) return KITE_ENOTFOUND;
    l->last_ms = now_ms;
    return 0;
}

int ns_query_data_version(ns_routes *r, const char *broker_addr, const kite_data_version *dv,
                          int64_t now_ms, int *changed, kite_data_version *stored)
{
    ns_live *l = kite_map_get(&r->live, broker_addr);
    if (!l) {
        *changed = 1;
        return 0;
    }
    *changed = !kite_data_version_equal(&l->dv, dv);
    if (!*changed) l->last_ms = now_ms;
    *stored = l->dv;
    return 1;
}

static void fill_broker_data(const ns_broker *b, kite_broker_data *d)
{
    memset(d, 0, sizeof *d);
    d->cluster = b->cluster;
    d->broker_name = b->name;
    d->zone_name = b->zone;
    d->has_acting_master = 1; /* written like Java 5.x name servers; 4.x clients ignore it */
    d->enable_acting_master = b->acting_master;
    d->n_addrs = b->n;
    d->addrs = kite_xcalloc(b->n, sizeof *d->addrs);
    for (size_t i = 0; i < b->n; i++) {
        d->addrs[i].id = b->addrs[i].id;
        d->addrs[i].addr = b->addrs[i].addr;
    }
}

int ns_route_json(const ns_routes *r, const char *topic, int standard_json, const char *order_conf,
                  kite_buf *out)
{
    kite_map *qs = kite_map_get(&r->topics, topic);
    if (!qs || qs->count == 0) return KITE_ENOTFOUND;
    size_t n;
    const char **names = kite_map_sorted_keys(qs, &n);
    kite_route_data rd;
    memset(&rd, 0, sizeof rd);
    rd.order_topic_conf = order_conf;
    rd.queues = kite_xcalloc(n, sizeof *rd.queues);
    rd.brokers = kite_xcalloc(n, sizeof *rd.brokers);
    for (size_t i = 0; i < n; i++) {
        const ns_queue *q = kite_map_get(qs, names[i]);
        kite_queue_data *d = &rd.queues[rd.n_queues++];
        d->broker_name = q->broker_name;
        d->read_queue_nums = q->read;
        d->write_queue_nums = q->write;
        d->perm = q->perm;
        d->topic_sys_flag = q->sysflag;
        const ns_broker *b = kite_map_get(&r->brokers, names[i]);
        if (b) fill_broker_data(b, &rd.brokers[rd.n_brokers++]);
    }
    int rc = KITE_ENOTFOUND;
    if (rd.n_brokers) {
        kite_route_encode(&rd, standard_json, out);
        rc = 0;
    }
    for (size_t i = 0; i < rd.n_brokers; i++) free(rd.brokers[i].addrs);
    free(rd.brokers);
    free(rd.queues);
    free(names);
    return rc;
}

void ns_cluster_json(const ns_routes *r, kite_buf *out)
{
    kite_cluster_info ci;
    memset(&ci, 0, sizeof ci);
    size_t nb, nc;
    const char **bnames = kite_map_sorted_keys(&r->brokers, &nb);
    const char **cnames = kite_map_sorted_keys(&r->clusters, &nc);
    ci.brokers = kite_xcalloc(nb, sizeof *ci.brokers);
    ci.clusters = kite_xcalloc(nc, sizeof *ci.clusters);
    for (size_t i = 0; i < nb; i++)
        fill_broker_data(kite_map_get(&r->brokers, bnames[i]), &ci.brokers[ci.n_brokers++]);
    for (size_t i = 0; i < nc; i++) {
        kite_cluster_entry *e = &ci.clusters[ci.n_clusters++];
        e->cluster = cnames[i];
        e->broker_names = kite_map_sorted_keys(kite_map_get(&r->clusters, cnames[i]), &e->n_names);
    }
    kite_cluster_encode(&ci, out);
    for (size_t i = 0; i < ci.n_brokers; i++) free(ci.brokers[i].addrs);
    for (size_t i = 0; i < ci.n_clusters; i++) free((void *)ci.clusters[i].broker_names);
    free(ci.brokers);
    free(ci.clusters);
    free(bnames);
    free(cnames);
}

static int topic_matches(const kite_map *qs, int filter)
{
    if (filter == 0) return 1;
    size_t it = 0;
    void *v;
    while (kite_map_next(qs, &it, NULL, &v)) {
        int f = ((ns_queue *)v)->sysflag;
        int unit = f & 1, sub = (f & 2) != 0;
        if ((filter == 1 && unit) || (filter == 2 && sub) || (filter == 3 && sub && !unit))
            return 1;
    }
    return 0;
}

void ns_topic_list_json(const ns_routes *r, int filter, kite_buf *out)
{
    size_t n, k = 0;
    const char **names = kite_map_sorted_keys(&r->topics, &n);
    for (size_t i = 0; i < n; i++)
        if (topic_matches(kite_map_get(&r->topics, names[i]), filter)) names[k++] = names[i];
    kite_topic_list_encode(names, k, NULL, out);
    free(names);
}

void ns_topics_by_cluster_json(const ns_routes *r, const char *cluster, kite_buf *out)
{
    kite_map *set = kite_map_get(&r->clusters, cluster);
    size_t n, k = 0;
    const char **names = kite_map_sorted_keys(&r->topics, &n);
    for (size_t i = 0; i < n && set; i++) {
        kite_map *qs = kite_map_get(&r->topics, names[i]);
        size_t it = 0;
        const char *bn;
        while (kite_map_next(qs, &it, &bn, NULL)) {
            if (kite_map_get(set, bn)) {
                names[k++] = names[i];
                break;
            }
        }
    }
    kite_topic_list_encode(names, k, NULL, out);
    free(names);
}

void ns_system_topics_json(const ns_routes *r, kite_buf *out)
{
    size_t nc, nb;
    const char **cn = kite_map_sorted_keys(&r->clusters, &nc);
    const char **bn = kite_map_sorted_keys(&r->brokers, &nb);
    const char **all = kite_xcalloc(nc + nb + 1, sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < nc; i++) all[k++] = cn[i];
    for (size_t i = 0; i < nb; i++) all[k++] = bn[i];
    const char *addr = NULL;
    for (size_t i = 0; i < nb && !addr; i++) {
        const ns_broker *b = kite_map_get(&r->brokers, bn[i]);
        addr = broker_addr_of(b, 0);
    }
    kite_topic_list_encode(all, k, addr, out);
    free(all);
    free(cn);
    free(bn);
}

void ns_member_group_json(const ns_routes *r, const char *cluster, const char *broker_name,
                          kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "brokerMemberGroup");
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "brokerAddrs");
    kite_jw_obj_begin(&w);
    const ns_broker *b = broker_name ? kite_map_get(&r->brokers, broker_name) : NULL;
    if (b && (!cluster || strcmp(cluster, b->cluster) == 0)) {
        kite_broker_data d;
        fill_broker_data(b, &d);
        for (size_t i = 0; i < d.n_addrs; i++) {
            kite_jw_key_int(&w, d.addrs[i].id, 0);
            kite_jw_str(&w, d.addrs[i].addr);
        }
        free(d.addrs);
    }
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "brokerName");
    kite_jw_str(&w, broker_name ? broker_name : "");
    kite_jw_key(&w, "cluster");
    kite_jw_str(&w, cluster ? cluster : "");
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
}

int ns_set_write_perm(ns_routes *r, const char *broker_name, int add)
{
    int n = 0;
    size_t it = 0;
    void *v;
    while (kite_map_next(&r->topics, &it, NULL, &v)) {
        ns_queue *q = kite_map_get(v, broker_name);
        if (!q) continue;
        if (add)
            q->perm = KITE_PERM_READ | KITE_PERM_WRITE;
        else
            q->perm &= ~KITE_PERM_WRITE;
        n++;
    }
    return n;
}

int ns_delete_topic(ns_routes *r, const char *topic, const char *cluster)
{
    kite_map *qs = kite_map_get(&r->topics, topic);
    if (!qs) return 0;
    if (!cluster) {
        free_topic(kite_map_del(&r->topics, topic));
        return 1;
    }
    kite_map *set = kite_map_get(&r->clusters, cluster);
    size_t it = 0;
    const char *bn;
    void *v;
    while (set && kite_map_next(qs, &it, &bn, &v)) {
        if (kite_map_get(set, bn)) free_queue(kite_map_del(qs, bn));
    }
    if (qs->count == 0) free_topic(kite_map_del(&r->topics, topic));
    return 1;
}

int ns_merge_topic(ns_routes *r, const char *topic, const kite_queue_data *qs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!kite_map_get(&r->brokers, qs[i].broker_name)) return -1;
    for (size_t i = 0; i < n; i++)
        put_queue(r, topic, qs[i].broker_name, qs[i].read_queue_nums, qs[i].write_queue_nums,
                  qs[i].perm, qs[i].topic_sys_flag);
    return 0;
}

void ns_kv_put(ns_routes *r, const char *ns, const char *key, const char *value)
{
    kite_map *m = kite_map_get(&r->kv, ns);
    if (!m) {
        m = new_map();
        kite_map_put(&r->kv, ns, m);
    }
    free(kite_map_put(m, key, copy_str(value)));
}

const char *ns_kv_get(const ns_routes *r, const char *ns, const char *key)
{
    kite_map *m = kite_map_get(&r->kv, ns);
    return m ? kite_map_get(m, key) : NULL;
}

int ns_kv_delete(ns_routes *r, const char *ns, const char *key)
{
    kite_map *m = kite_map_get(&r->kv, ns);
    if (!m) return 0;
    char *v = kite_map_del(m, key);
    free(v);
    if (m->count == 0) free_kvns(kite_map_del(&r->kv, ns));
    return v != NULL;
}

int ns_kv_table_json(const ns_routes *r, const char *ns, kite_buf *out)
{
    kite_map *m = kite_map_get(&r->kv, ns);
    if (!m) return KITE_ENOTFOUND;
    size_t n;
    const char **keys = kite_map_sorted_keys(m, &n);
    const char **vals = kite_xcalloc(n, sizeof *vals);
    for (size_t i = 0; i < n; i++) vals[i] = kite_map_get(m, keys[i]);
    kite_kv_table_encode(keys, vals, n, out);
    free(vals);
    free(keys);
    return 0;
}

void ns_kv_encode(const ns_routes *r, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "configTable");
    kite_jw_obj_begin(&w);
    size_t nns;
    const char **nss = kite_map_sorted_keys(&r->kv, &nns);
    for (size_t i = 0; i < nns; i++) {
        kite_map *m = kite_map_get(&r->kv, nss[i]);
        kite_jw_key(&w, nss[i]);
        kite_jw_obj_begin(&w);
        size_t n;
        const char **keys = kite_map_sorted_keys(m, &n);
        for (size_t j = 0; j < n; j++) {
            kite_jw_key(&w, keys[j]);
            kite_jw_str(&w, kite_map_get(m, keys[j]));
        }
        free(keys);
        kite_jw_obj_end(&w);
    }
    free(nss);
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
}

int ns_kv_load(ns_routes *r, const char *text, size_t len, char *err, size_t errlen)
{
    kite_json_doc *doc = kite_json_parse(text, len, err, errlen);
    if (!doc) return KITE_ECORRUPT;
    const kite_json *ct = kite_json_get(kite_json_root(doc), "configTable");
    if (ct && ct->type == KJ_OBJECT) {
        for (size_t i = 0; i < ct->count; i++) {
            const kite_json *nsk = ct->members[i].key, *tbl = ct->members[i].value;
            if (nsk->type != KJ_STRING || tbl->type != KJ_OBJECT) continue;
            for (size_t j = 0; j < tbl->count; j++) {
                const kite_json *k = tbl->members[j].key, *v = tbl->members[j].value;
                kite_buf t = KITE_BUF_INIT;
                if ((k->type == KJ_STRING || k->type == KJ_NUMBER) &&
                    kite_json_scalar_text(v, &t) == 0)
                    ns_kv_put(r, nsk->text, k->text, kite_buf_cstr(&t));
                kite_buf_free(&t);
            }
        }
    }
    kite_json_doc_free(doc);
    return 0;
}
