/* cmd_topic.c - kite-admin's topic subcommands: topicList, topicRoute, topicStatus,
 * topicClusterList, updateTopic, deleteTopic. Requests and output: docs/admin.md. */
#include "admin.h"
#include "base/mem.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ADDRS 64

/* The cluster a broker name belongs to, from the cluster table ("" when none). */
static const char *cluster_of(const kite_cluster_info *ci, const char *broker_name)
{
    for (size_t i = 0; i < ci->n_clusters; i++)
        for (size_t j = 0; j < ci->clusters[i].n_names; j++)
            if (!strcmp(ci->clusters[i].broker_names[j], broker_name))
                return ci->clusters[i].cluster;
    return "";
}

/* Master address of the first broker of a route, else any address; NULL when none. */
static const char *route_broker_addr(const kite_broker_data *b)
{
    const char *a = ka_master_addr(b);
    return a ? a : (b->n_addrs ? b->addrs[0].addr : NULL);
}

/* ---- topicList ---- */

static kite_json_doc *topic_list(ka_ctx *c)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 0);
    int rc = ka_rpc_ok(c, NULL, &req, &resp, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER");
    kite_cmd_free(&req);
    if (rc != 0) return NULL;
    kite_json_doc *d = ka_parse_body(&resp, "topic list");
    kite_cmd_free(&resp);
    return d;
}

static void print_topic_groups(ka_ctx *c, const kite_cluster_info *ci, const char *topic)
{
    const char *cluster = "";
    kite_json_doc *groups = NULL;
    kite_route_data r;
    memset(&r, 0, sizeof r);
    int have_route = ka_route(c, topic, &r, NULL) == 0;
    if (have_route && r.n_brokers > 0) {
        cluster = cluster_of(ci, r.brokers[0].broker_name);
        const char *addr = route_broker_addr(&r.brokers[0]);
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_QUERY_TOPIC_CONSUME_BY_WHO, 0);
        kite_cmd_set_ext(&req, "topic", topic);
        if (addr && ka_call(c, addr, &req, &resp) == 0) {
            if (resp.code == 0)
                groups = kite_json_parse((const char *)resp.body, resp.body_len, NULL, 0);
            kite_cmd_free(&resp);
        }
        kite_cmd_free(&req);
    }
    const kite_json *gl = groups ? kite_json_get(kite_json_root(groups), "groupList") : NULL;
    char b1[32], b2[80], b3[80];
    if (!gl || gl->type != KJ_ARRAY || gl->count == 0) {
        printf("%-20s  %-64s  %-64s\n", ka_front(cluster, 20, b1, sizeof b1),
               ka_front(topic, 64, b2, sizeof b2), "");
    } else {
        for (size_t i = 0; i < gl->count; i++) {
            const char *g = kite_json_str(gl->items[i], NULL);
            printf("%-20s  %-64s  %-64s\n", ka_front(cluster, 20, b1, sizeof b1),
                   ka_front(topic, 64, b2, sizeof b2), ka_front(g ? g : "", 64, b3, sizeof b3));
        }
    }
    if (groups) kite_json_doc_free(groups);
    if (have_route) kite_route_free(&r);
}

static int cmd_topic_list(ka_ctx *c)
{
    kite_cluster_info ci;
    memset(&ci, 0, sizeof ci);
    int cluster_mode = ka_opt_val(c, 'c') != NULL;
    if (cluster_mode && ka_cluster_info(c, &ci) != 0) return KA_FAIL;
    kite_json_doc *d = topic_list(c);
    if (!d) {
        if (cluster_mode) kite_cluster_free(&ci);
        return KA_FAIL;
    }
    const kite_json *tl = kite_json_get(kite_json_root(d), "topicList");
    if (cluster_mode) printf("%-20s  %-48s  %-48s\n", "#Cluster Name", "#Topic", "#Consumer Group");
    for (size_t i = 0; tl && tl->type == KJ_ARRAY && i < tl->count; i++) {
        const char *t = kite_json_str(tl->items[i], NULL);
        if (!t) continue;
        if (!cluster_mode) {
            printf("%s\n", t);
            continue;
        }
        if (!strncmp(t, KITE_RETRY_PREFIX, KITE_RETRY_PREFIX_LEN) ||
            !strncmp(t, KITE_DLQ_PREFIX, KITE_DLQ_PREFIX_LEN))
            continue;
        print_topic_groups(c, &ci, t);
    }
    kite_json_doc_free(d);
    if (cluster_mode) kite_cluster_free(&ci);
    return KA_OK;
}

/* ---- topicRoute ---- */

static int cmp_queue(const void *a, const void *b)
{
    return strcmp(((const kite_queue_data *)a)->broker_name,
                  ((const kite_queue_data *)b)->broker_name);
}

static int cmp_broker(const void *a, const void *b)
{
    return strcmp(((const kite_broker_data *)a)->broker_name,
                  ((const kite_broker_data *)b)->broker_name);
}

#define ROUTE_FMT "%-45s %-32s %-50s %-10s %-11s %-5s\n"

static void print_route_list(kite_route_data *r)
{
    qsort(r->queues, r->n_queues, sizeof *r->queues, cmp_queue);
    qsort(r->brokers, r->n_brokers, sizeof *r->brokers, cmp_broker);
    printf(ROUTE_FMT, "#ClusterName", "#BrokerName", "#BrokerAddrs", "#ReadQueue", "#WriteQueue",
           "#Perm");
    long total_r = 0, total_w = 0;
    for (size_t i = 0; i < r->n_brokers; i++) {
        const kite_broker_data *b = &r->brokers[i];
        const kite_queue_data *q = NULL;
        for (size_t j = 0; j < r->n_queues; j++)
            if (!strcmp(r->queues[j].broker_name, b->broker_name)) q = &r->queues[j];
        if (!q) continue;
        total_r += q->read_queue_nums;
        total_w += q->write_queue_nums;
        /* Java's HashMap<Long,String>.toString(): {0=addr, 1=addr} */
        char addrs[512];
        size_t n = (size_t)snprintf(addrs, sizeof addrs, "{");
        for (size_t j = 0; j < b->n_addrs && n < sizeof addrs; j++)
            n += (size_t)snprintf(addrs + n, sizeof addrs - n, "%s%lld=%s", j ? ", " : "",
                                  (long long)b->addrs[j].id, b->addrs[j].addr);
        if (n < sizeof addrs) snprintf(addrs + n, sizeof addrs - n, "}");
        char rq[16], wq[16], pm[16];
        snprintf(rq, sizeof rq, "%d", q->read_queue_nums);
        snprintf(wq, sizeof wq, "%d", q->write_queue_nums);
        snprintf(pm, sizeof pm, "%d", q->perm);
        printf(ROUTE_FMT, b->cluster, b->broker_name, addrs, rq, wq, pm);
    }
    for (int i = 0; i < 158; i++) putchar('-');
    putchar('\n');
    char nb[16], tr[24], tw[24];
    snprintf(nb, sizeof nb, "%zu", r->n_queues);
    snprintf(tr, sizeof tr, "%ld", total_r);
    snprintf(tw, sizeof tw, "%ld", total_w);
    printf(ROUTE_FMT, "Total:", nb, "", tr, tw, "");
}

static int cmd_topic_route(ka_ctx *c)
{
    const char *topic = ka_opt_val(c, 't');
    if (ka_opt_val(c, 'l')) {
        kite_route_data r;
        if (ka_route(c, topic, &r, NULL) != 0) return KA_FAIL;
        print_route_list(&r);
        kite_route_free(&r);
        return KA_OK;
    }
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_GET_ROUTEINFO_BY_TOPIC, 0);
    kite_cmd_set_ext(&req, "topic", topic);
    int rc = ka_rpc_ok(c, NULL, &req, &resp, "GET_ROUTEINFO_BY_TOPIC");
    kite_cmd_free(&req);
    if (rc != 0) return KA_FAIL;
    kite_json_doc *d = ka_parse_body(&resp, "topic route");
    kite_cmd_free(&resp);
    if (!d) return KA_FAIL;
    /* mqadmin 4.9.8 prints its own TopicRouteData, whose BrokerData has no
     * enableActingMaster (a 5.x member kite-namesrv sends) */
    static const char *const v5_only[] = { "enableActingMaster", NULL };
    ka_print_pretty(kite_json_root(d), v5_only);
    putchar('\n');
    kite_json_doc_free(d);
    return KA_OK;
}

/* ---- topicStatus ---- */

typedef struct tstat {
    char broker[128];
    int32_t qid;
    int64_t min, max, last;
} tstat;

static int cmp_tstat(const void *a, const void *b)
{
    const tstat *x = a, *y = b;
    int d = strcmp(x->broker, y->broker);
    return d ? d : (x->qid > y->qid) - (x->qid < y->qid);
}

static int cmd_topic_status(ka_ctx *c)
{
    const char *topic = ka_opt_val(c, 't');
    kite_route_data r;
    if (ka_route(c, topic, &r, NULL) != 0) return KA_FAIL;
    tstat *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = KA_OK;
    for (size_t i = 0; i < r.n_brokers && rc == KA_OK; i++) {
        const char *addr = route_broker_addr(&r.brokers[i]);
        if (!addr) continue;
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_GET_TOPIC_STATS_INFO, 0);
        kite_cmd_set_ext(&req, "topic", topic);
        int st = ka_rpc_ok(c, addr, &req, &resp, "GET_TOPIC_STATS_INFO");
        kite_cmd_free(&req);
        if (st != 0) {
            rc = KA_FAIL;
            break;
        }
        kite_json_doc *d = ka_parse_body(&resp, "topic stats");
        kite_cmd_free(&resp);
        if (!d) {
            rc = KA_FAIL;
            break;
        }
        const kite_json *ot = kite_json_get(kite_json_root(d), "offsetTable");
        for (size_t j = 0; ot && ot->type == KJ_OBJECT && j < ot->count; j++) {
            const kite_json *k = ot->members[j].key, *v = ot->members[j].value;
            if (k->type != KJ_OBJECT) continue;
            rows = kite_xgrow(rows, &cap, n + 1, sizeof *rows, 16);
            tstat *t = &rows[n++];
            snprintf(t->broker, sizeof t->broker, "%s", kite_json_get_str(k, "brokerName", ""));
            t->qid = kite_json_get_int32(k, "queueId", 0);
            t->min = kite_json_get_int64(v, "minOffset", 0);
            t->max = kite_json_get_int64(v, "maxOffset", 0);
            t->last = kite_json_get_int64(v, "lastUpdateTimestamp", 0);
        }
        kite_json_doc_free(d);
    }
    if (rc == KA_OK) {
        qsort(rows, n, sizeof *rows, cmp_tstat);
        printf("%-32s  %-4s  %-20s  %-20s    %s\n", "#Broker Name", "#QID", "#Min Offset",
               "#Max Offset", "#Last Updated");
        for (size_t i = 0; i < n; i++) {
            char ts[40] = "", fb[40];
            if (rows[i].last > 0) ka_time_ms(rows[i].last, ts, sizeof ts);
            printf("%-32s  %-4d  %-20lld  %-20lld    %s\n",
                   ka_front(rows[i].broker, 32, fb, sizeof fb), rows[i].qid, (long long)rows[i].min,
                   (long long)rows[i].max, ts);
        }
    }
    free(rows);
    kite_route_free(&r);
    return rc;
}

/* ---- topicClusterList ---- */

static int cmd_topic_cluster_list(ka_ctx *c)
{
    const char *topic = ka_opt_val(c, 't');
    kite_cluster_info ci;
    if (ka_cluster_info(c, &ci) != 0) return KA_FAIL;
    kite_route_data r;
    if (ka_route(c, topic, &r, NULL) != 0) {
        kite_cluster_free(&ci);
        return KA_FAIL;
    }
    const char *seen[MAX_ADDRS];
    size_t n = 0;
    for (size_t i = 0; i < r.n_brokers; i++) {
        const char *cl = cluster_of(&ci, r.brokers[i].broker_name);
        int dup = !*cl;
        for (size_t j = 0; j < n && !dup; j++) dup = !strcmp(seen[j], cl);
        if (!dup && n < MAX_ADDRS) seen[n++] = cl;
    }
    for (size_t i = 0; i < n; i++) printf("%s\n", seen[i]);
    kite_route_free(&r);
    kite_cluster_free(&ci);
    return KA_OK;
}

/* ---- updateTopic ---- */

static int parse_int(const char *s, const char *what, int32_t *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < -2147483647L || v > 2147483647L) {
        fprintf(stderr, "kite-admin: %s must be an integer, got '%s'\n", what, s);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

static int create_topic(ka_ctx *c, const char *addr, const char *topic, int32_t rq, int32_t wq,
                        int32_t perm, int32_t sysflag, int order)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_UPDATE_AND_CREATE_TOPIC, 0);
    kite_cmd_set_ext(&req, "topic", topic);
    kite_cmd_set_ext(&req, "defaultTopic", KITE_TOPIC_AUTO_CREATE);
    kite_cmd_set_ext_i64(&req, "readQueueNums", rq);
    kite_cmd_set_ext_i64(&req, "writeQueueNums", wq);
    kite_cmd_set_ext_i64(&req, "perm", perm);
    kite_cmd_set_ext(&req, "topicFilterType", "SINGLE_TAG");
    kite_cmd_set_ext_i64(&req, "topicSysFlag", sysflag);
    kite_cmd_set_ext(&req, "order", order ? "true" : "false");
    int rc = ka_rpc_ok(c, addr, &req, &resp, "UPDATE_AND_CREATE_TOPIC");
    kite_cmd_free(&req);
    if (rc == 0) kite_cmd_free(&resp);
    return rc;
}

/* ORDER_TOPIC_CONFIG kv entry on every name server (createOrUpdateOrderConf). */
static int put_order_conf(ka_ctx *c, const char *topic, const char *conf)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_PUT_KV_CONFIG, 0);
    kite_cmd_set_ext(&req, "namespace", "ORDER_TOPIC_CONFIG");
    kite_cmd_set_ext(&req, "key", topic);
    kite_cmd_set_ext(&req, "value", conf);
    int rc = 0;
    for (size_t i = 0; i < c->n_ns && rc == 0; i++) {
        rc = ka_rpc_ok(c, c->ns[i], &req, &resp, "PUT_KV_CONFIG");
        if (rc == 0) kite_cmd_free(&resp);
    }
    kite_cmd_free(&req);
    return rc;
}

static const char *perm_text(int32_t perm, char out[4])
{
    out[0] = (perm & KITE_PERM_READ) ? 'R' : '-';
    out[1] = (perm & KITE_PERM_WRITE) ? 'W' : '-';
    out[2] = (perm & KITE_PERM_INHERIT) ? 'X' : '-';
    out[3] = 0;
    return out;
}

static int cmd_update_topic(ka_ctx *c)
{
    const char *topic = ka_opt_val(c, 't'), *baddr = ka_opt_val(c, 'b'),
               *cluster = ka_opt_val(c, 'c');
    int32_t rq = 8, wq = 8, perm = KITE_PERM_READ | KITE_PERM_WRITE;
    if ((ka_opt_val(c, 'r') && parse_int(ka_opt_val(c, 'r'), "-r", &rq) != 0) ||
        (ka_opt_val(c, 'w') && parse_int(ka_opt_val(c, 'w'), "-w", &wq) != 0) ||
        (ka_opt_val(c, 'p') && parse_int(ka_opt_val(c, 'p'), "-p", &perm) != 0))
        return KA_USAGE;
    int unit = ka_bool(ka_opt_val(c, 'u')), unit_sub = ka_bool(ka_opt_val(c, 's'));
    int32_t sysflag = (unit ? 1 : 0) | (unit_sub ? 2 : 0); /* TopicSysFlag unit / unit-sub bits */
    int order = ka_bool(ka_opt_val(c, 'o'));
    if (!baddr && !cluster) {
        fprintf(stderr, "kite-admin updateTopic: give -b <brokerAddr> or -c <clusterName>\n");
        return KA_USAGE;
    }
    char ptxt[4];
    kite_cluster_info ci;
    memset(&ci, 0, sizeof ci);
    int rc = KA_OK;
    if (baddr) {
        if (create_topic(c, baddr, topic, rq, wq, perm, sysflag, order) != 0) return KA_FAIL;
        if (order) {
            const char *name = NULL;
            if (ka_cluster_info(c, &ci) != 0) return KA_FAIL;
            for (size_t i = 0; i < ci.n_brokers && !name; i++)
                for (size_t j = 0; j < ci.brokers[i].n_addrs; j++)
                    if (!strcmp(ci.brokers[i].addrs[j].addr, baddr))
                        name = ci.brokers[i].broker_name;
            char conf[256];
            snprintf(conf, sizeof conf, "%s:%d", name ? name : "", wq);
            if (!name || put_order_conf(c, topic, conf) != 0)
                rc = KA_FAIL;
            else
                printf("set broker orderConf. isOrder=true, orderConf=[%s]", conf);
            kite_cluster_free(&ci);
            if (rc != KA_OK) return rc;
        }
        printf("create topic to %s success.\n", baddr);
    } else {
        if (ka_cluster_info(c, &ci) != 0) return KA_FAIL;
        const char *addrs[MAX_ADDRS];
        size_t n = ka_cluster_addrs(&ci, cluster, 0, addrs, MAX_ADDRS);
        for (size_t i = 0; i < n && rc == KA_OK; i++) {
            if (create_topic(c, addrs[i], topic, rq, wq, perm, sysflag, order) != 0)
                rc = KA_FAIL;
            else
                printf("create topic to %s success.\n", addrs[i]);
        }
        if (rc == KA_OK && order) {
            kite_buf conf;
            kite_buf_init(&conf);
            for (size_t i = 0; i < ci.n_clusters; i++) {
                if (strcmp(ci.clusters[i].cluster, cluster)) continue;
                for (size_t j = 0; j < ci.clusters[i].n_names; j++)
                    kite_buf_printf(&conf, "%s%s:%d", conf.len ? ";" : "",
                                    ci.clusters[i].broker_names[j], wq);
            }
            if (put_order_conf(c, topic, kite_buf_cstr(&conf)) != 0)
                rc = KA_FAIL;
            else
                printf("set cluster orderConf. isOrder=true, orderConf=[%s]", kite_buf_cstr(&conf));
            kite_buf_free(&conf);
        }
        kite_cluster_free(&ci);
        if (n == 0) rc = KA_FAIL;
        if (rc != KA_OK) return rc;
    }
    printf("TopicConfig [topicName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%s, "
           "topicFilterType=SINGLE_TAG, topicSysFlag=%d, order=%s]",
           topic, rq, wq, perm_text(perm, ptxt), sysflag, order ? "true" : "false");
    return KA_OK;
}

/* ---- deleteTopic ---- */

int ka_delete_topic(ka_ctx *c, const kite_cluster_info *ci, const char *cluster, const char *topic)
{
    const char *addrs[MAX_ADDRS];
    size_t n = ka_cluster_addrs(ci, cluster, 0, addrs, MAX_ADDRS);
    if (n == 0) return KA_FAIL;
    for (size_t i = 0; i < n; i++) {
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_DELETE_TOPIC_IN_BROKER, 0);
        kite_cmd_set_ext(&req, "topic", topic);
        int rc = ka_rpc_ok(c, addrs[i], &req, &resp, "DELETE_TOPIC_IN_BROKER");
        kite_cmd_free(&req);
        if (rc != 0) return KA_FAIL;
        kite_cmd_free(&resp);
    }
    printf("delete topic [%s] from cluster [%s] success.\n", topic, cluster);
    for (size_t i = 0; i < c->n_ns; i++) {
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_DELETE_TOPIC_IN_NAMESRV, 0);
        kite_cmd_set_ext(&req, "topic", topic);
        kite_cmd_set_ext(&req, "clusterName", cluster);
        int rc = ka_rpc_ok(c, c->ns[i], &req, &resp, "DELETE_TOPIC_IN_NAMESRV");
        kite_cmd_free(&req);
        if (rc != 0) return KA_FAIL;
        kite_cmd_free(&resp);
    }
    printf("delete topic [%s] from NameServer success.\n", topic);
    return KA_OK;
}

static int cmd_delete_topic(ka_ctx *c)
{
    kite_cluster_info ci;
    if (ka_cluster_info(c, &ci) != 0) return KA_FAIL;
    int rc = ka_delete_topic(c, &ci, ka_opt_val(c, 'c'), ka_opt_val(c, 't'));
    kite_cluster_free(&ci);
    return rc;
}

/* ---- the table ---- */

static const ka_opt o_topic_list[] = {
    { 'c', "clusterModel", 0, 0, "clusterModel" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_topic_route[] = {
    { 't', "topic", 1, 1, "topic name" },
    { 'l', "list", 0, 0, "Use list format to print data" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_topic[] = {
    { 't', "topic", 1, 1, "topic name" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_update_topic[] = {
    { 'b', "brokerAddr", 1, 0, "create topic to which broker" },
    { 'c', "clusterName", 1, 0, "create topic to which cluster" },
    { 't', "topic", 1, 1, "topic name" },
    { 'r', "readQueueNums", 1, 0, "set read queue nums" },
    { 'w', "writeQueueNums", 1, 0, "set write queue nums" },
    { 'p', "perm", 1, 0, "set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]" },
    { 'o', "order", 1, 0, "set topic's order(true|false)" },
    { 'u', "unit", 1, 0, "is unit topic (true|false)" },
    { 's', "hasUnitSub", 1, 0, "has unit sub (true|false)" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_delete_topic[] = {
    { 't', "topic", 1, 1, "topic name" },
    { 'c', "clusterName", 1, 1, "delete topic from which cluster" },
    { 0, NULL, 0, 0, NULL },
};

const ka_cmd ka_cmds_topic[] = {
    { "topicList", "Fetch all topic list from name server", o_topic_list, cmd_topic_list },
    { "topicRoute", "Examine topic route info", o_topic_route, cmd_topic_route },
    { "topicStatus", "Examine topic Status info", o_topic, cmd_topic_status },
    { "topicClusterList", "get cluster info for topic", o_topic, cmd_topic_cluster_list },
    { "updateTopic", "Update or create topic", o_update_topic, cmd_update_topic },
    { "deleteTopic", "Delete topic from broker and NameServer.", o_delete_topic, cmd_delete_topic },
    { NULL, NULL, NULL, NULL },
};
