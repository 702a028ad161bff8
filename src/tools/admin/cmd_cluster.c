/* cmd_cluster.c - kite-admin's cluster, broker and name-server subcommands: clusterList,
 * brokerStatus, getBrokerConfig, getNamesrvConfig, updateKvConfig, deleteKvConfig.
 * Requests and output: docs/admin.md. */
#include "admin.h"
#include "base/mem.h"
#include "base/time.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ADDRS 64

/* GET_BROKER_RUNTIME_INFO of addr: the parsed body ({"table":{...}}) or NULL (printed). */
static kite_json_doc *runtime_info(ka_ctx *c, const char *addr)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_GET_BROKER_RUNTIME_INFO, 0);
    int rc = ka_rpc_ok(c, addr, &req, &resp, "GET_BROKER_RUNTIME_INFO");
    kite_cmd_free(&req);
    if (rc != 0) return NULL;
    kite_json_doc *d = ka_parse_body(&resp, "broker runtime info");
    kite_cmd_free(&resp);
    return d;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- clusterList ---- */

#define CLUSTER_FMT "%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n"

static void print_broker_line(ka_ctx *c, const char *cluster, const char *name, int64_t id,
                              const char *addr)
{
    kite_json_doc *d = runtime_info(c, addr);
    const kite_json *t = d ? kite_json_get(kite_json_root(d), "table") : NULL;
    const char *version = "", *sq = "", *pq = "", *sw = "", *pw = "", *pc = "", *earliest = "",
               *ratio = "";
    double in = 0, out = 0;
    if (t) {
        version = kite_json_get_str(t, "brokerVersionDesc", "null");
        sq = kite_json_get_str(t, "sendThreadPoolQueueSize", "null");
        pq = kite_json_get_str(t, "pullThreadPoolQueueSize", "null");
        sw = kite_json_get_str(t, "sendThreadPoolQueueHeadWaitTimeMills", "null");
        pw = kite_json_get_str(t, "pullThreadPoolQueueHeadWaitTimeMills", "null");
        pc = kite_json_get_str(t, "pageCacheLockTimeMills", "null");
        earliest = kite_json_get_str(t, "earliestMessageTimeStamp", "");
        ratio = kite_json_get_str(t, "commitLogDiskRatio", "");
        in = atof(kite_json_get_str(t, "putTps", "0"));
        out = atof(kite_json_get_str(t, "getTransferedTps", "0"));
    }
    double hour = 0, space = 0;
    if (*earliest) hour = (double)(kite_wall_ms() - atoll(earliest)) / 1000.0 / 60.0 / 60.0;
    if (*ratio) space = atof(ratio);
    char bid[24], intps[96], outtps[96], hs[32], ss[32];
    snprintf(bid, sizeof bid, "%lld", (long long)id);
    snprintf(intps, sizeof intps, "%9.2f(%s,%sms)", in, sq, sw);
    snprintf(outtps, sizeof outtps, "%9.2f(%s,%sms)", out, pq, pw);
    snprintf(hs, sizeof hs, "%2.2f", hour);
    snprintf(ss, sizeof ss, "%.4f", space);
    printf(CLUSTER_FMT, cluster, name, bid, addr, version, intps, outtps, pc, hs, ss);
    if (d) kite_json_doc_free(d);
}

static int print_cluster(ka_ctx *c)
{
    kite_cluster_info ci;
    if (ka_cluster_info(c, &ci) != 0) return KA_FAIL;
    printf(CLUSTER_FMT, "#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version",
           "#InTPS(LOAD)", "#OutTPS(LOAD)", "#PCWait(ms)", "#Hour", "#SPACE");
    const char *clusters[MAX_ADDRS];
    size_t nc = 0;
    for (size_t i = 0; i < ci.n_clusters && nc < MAX_ADDRS; i++)
        clusters[nc++] = ci.clusters[i].cluster;
    qsort(clusters, nc, sizeof *clusters, cmp_str);
    for (size_t i = 0; i < nc; i++) {
        const kite_cluster_entry *e = NULL;
        for (size_t j = 0; j < ci.n_clusters; j++)
            if (ci.clusters[j].cluster == clusters[i]) e = &ci.clusters[j];
        const char *names[MAX_ADDRS];
        size_t nn = 0;
        for (size_t j = 0; j < e->n_names && nn < MAX_ADDRS; j++) names[nn++] = e->broker_names[j];
        qsort(names, nn, sizeof *names, cmp_str);
        for (size_t j = 0; j < nn; j++) {
            const kite_broker_data *b = ka_broker_by_name(&ci, names[j]);
            if (!b) continue;
            /* brokerAddrs in id order (Java's HashMap of small Long keys iterates so) */
            int64_t last = -1;
            for (size_t k = 0; k < b->n_addrs; k++) {
                const kite_broker_addr *next = NULL;
                for (size_t m = 0; m < b->n_addrs; m++)
                    if (b->addrs[m].id > last && (!next || b->addrs[m].id < next->id))
                        next = &b->addrs[m];
                if (!next) break;
                last = next->id;
                print_broker_line(c, clusters[i], names[j], next->id, next->addr);
            }
        }
    }
    kite_cluster_free(&ci);
    return KA_OK;
}

static int cmd_cluster_list(ka_ctx *c)
{
    if (ka_opt_val(c, 'm')) {
        fprintf(stderr, "kite-admin clusterList: -m (moreStats) is not implemented\n");
        return KA_USAGE;
    }
    const char *iv = ka_opt_val(c, 'i');
    long interval = iv ? atol(iv) : 0;
    if (iv && interval <= 0) {
        fprintf(stderr, "kite-admin clusterList: -i must be a positive number of seconds\n");
        return KA_USAGE;
    }
    for (long i = 0;; i++) {
        if (i > 0) sleep((unsigned)interval);
        int rc = print_cluster(c);
        fflush(stdout);
        if (rc != KA_OK || !iv) return rc;
    }
}

/* ---- brokerStatus ---- */

typedef struct kv {
    const char *k, *v;
} kv;

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const kv *)a)->k, ((const kv *)b)->k);
}

static int print_status(ka_ctx *c, const char *addr, int with_addr)
{
    kite_json_doc *d = runtime_info(c, addr);
    if (!d) return KA_FAIL;
    const kite_json *t = kite_json_get(kite_json_root(d), "table");
    size_t n = t && t->type == KJ_OBJECT ? t->count : 0;
    kv *rows = kite_xcalloc(n ? n : 1, sizeof *rows);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const kite_json *k = t->members[i].key, *v = t->members[i].value;
        if (k->type != KJ_STRING && k->type != KJ_NUMBER) continue; /* not a table entry */
        rows[m].k = k->text;
        rows[m++].v = v->type == KJ_STRING || v->type == KJ_NUMBER ? v->text : "";
    }
    n = m;
    qsort(rows, n, sizeof *rows, cmp_kv);
    for (size_t i = 0; i < n; i++) {
        if (with_addr)
            printf("%-24s %-32s: %s\n", addr, rows[i].k, rows[i].v);
        else
            printf("%-32s: %s\n", rows[i].k, rows[i].v);
    }
    free(rows);
    kite_json_doc_free(d);
    return KA_OK;
}

static int cmd_broker_status(ka_ctx *c)
{
    const char *b = ka_opt_val(c, 'b'), *cl = ka_opt_val(c, 'c');
    if (b) return print_status(c, b, 0);
    if (!cl) {
        fprintf(stderr, "kite-admin brokerStatus: give -b <brokerAddr> or -c <clusterName>\n");
        return KA_USAGE;
    }
    kite_cluster_info ci;
    if (ka_cluster_info(c, &ci) != 0) return KA_FAIL;
    const char *addrs[MAX_ADDRS];
    size_t n = ka_cluster_addrs(&ci, cl, 1, addrs, MAX_ADDRS);
    int rc = n ? KA_OK : KA_FAIL;
    for (size_t i = 0; i < n; i++)
        if (print_status(c, addrs[i], 1) != KA_OK) rc = KA_FAIL;
    kite_cluster_free(&ci);
    return rc;
}

/* ---- getBrokerConfig / getNamesrvConfig ---- */

static int print_config(ka_ctx *c, int code, const char *addr, const char *banner)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, code, 0);
    int rc = ka_rpc_ok(c, addr, &req, &resp,
                       code == RC_GET_BROKER_CONFIG ? "GET_BROKER_CONFIG" : "GET_NAMESRV_CONFIG");
    kite_cmd_free(&req);
    if (rc != 0) return KA_FAIL;
    fputs(banner, stdout);
    ka_print_properties(&resp);
    kite_cmd_free(&resp);
    return KA_OK;
}

static int cmd_get_broker_config(ka_ctx *c)
{
    const char *b = ka_opt_val(c, 'b'), *cl = ka_opt_val(c, 'c');
    char banner[512];
    if (b) {
        snprintf(banner, sizeof banner, "============%s============\n", b);
        int rc = print_config(c, RC_GET_BROKER_CONFIG, b, banner);
        if (rc == KA_OK) printf("\n");
        return rc;
    }
    if (!cl) {
        fprintf(stderr, "kite-admin getBrokerConfig: give -b <brokerAddr> or -c <clusterName>\n");
        return KA_USAGE;
    }
    kite_cluster_info ci;
    if (ka_cluster_info(c, &ci) != 0) return KA_FAIL;
    const char *masters[MAX_ADDRS];
    size_t n = ka_cluster_addrs(&ci, cl, 0, masters, MAX_ADDRS);
    int rc = n ? KA_OK : KA_FAIL;
    for (size_t i = 0; i < n && rc == KA_OK; i++) {
        snprintf(banner, sizeof banner, "============Master: %s============\n", masters[i]);
        if ((rc = print_config(c, RC_GET_BROKER_CONFIG, masters[i], banner)) != KA_OK) break;
        printf("\n");
        for (size_t j = 0; j < ci.n_brokers; j++) {
            const kite_broker_data *bd = &ci.brokers[j];
            const char *m = ka_master_addr(bd);
            if (!m || strcmp(m, masters[i])) continue;
            for (size_t k = 0; k < bd->n_addrs && rc == KA_OK; k++) {
                if (bd->addrs[k].id == 0) continue;
                snprintf(banner, sizeof banner,
                         "============My Master: %s=====Slave: %s============\n", masters[i],
                         bd->addrs[k].addr);
                if ((rc = print_config(c, RC_GET_BROKER_CONFIG, bd->addrs[k].addr, banner)) ==
                    KA_OK)
                    printf("\n");
            }
        }
    }
    kite_cluster_free(&ci);
    return rc;
}

static int cmd_get_namesrv_config(ka_ctx *c)
{
    if (c->n_ns == 0) {
        fprintf(stderr, "kite-admin getNamesrvConfig: give -n \"ip:port;ip:port\"\n");
        return KA_USAGE;
    }
    for (size_t i = 0; i < c->n_ns; i++) {
        char banner[300];
        snprintf(banner, sizeof banner, "============%s============\n", c->ns[i]);
        if (print_config(c, RC_GET_NAMESRV_CONFIG, c->ns[i], banner) != KA_OK) return KA_FAIL;
    }
    return KA_OK;
}

/* ---- updateKvConfig / deleteKvConfig ---- */

static int kv_all(ka_ctx *c, int code)
{
    if (c->n_ns == 0) {
        fprintf(stderr, "kite-admin %s: give -n \"ip:port;ip:port\"\n", c->cmd->name);
        return KA_USAGE;
    }
    kite_cmd req, resp;
    kite_cmd_init_request(&req, code, 0);
    kite_cmd_set_ext(&req, "namespace", ka_opt_val(c, 's'));
    kite_cmd_set_ext(&req, "key", ka_opt_val(c, 'k'));
    if (code == RC_PUT_KV_CONFIG) kite_cmd_set_ext(&req, "value", ka_opt_val(c, 'v'));
    int rc = KA_OK;
    for (size_t i = 0; i < c->n_ns && rc == KA_OK; i++) {
        if (ka_rpc_ok(c, c->ns[i], &req, &resp,
                      code == RC_PUT_KV_CONFIG ? "PUT_KV_CONFIG" : "DELETE_KV_CONFIG") != 0)
            rc = KA_FAIL;
        else
            kite_cmd_free(&resp);
    }
    kite_cmd_free(&req);
    return rc;
}

static int cmd_update_kv(ka_ctx *c)
{
    int rc = kv_all(c, RC_PUT_KV_CONFIG);
    if (rc == KA_OK) printf("create or update kv config to namespace success.\n");
    return rc;
}

static int cmd_delete_kv(ka_ctx *c)
{
    int rc = kv_all(c, RC_DELETE_KV_CONFIG);
    if (rc == KA_OK) printf("delete kv config from namespace success.\n");
    return rc;
}

/* ---- the table ---- */

static const ka_opt o_cluster_list[] = {
    { 'm', "moreStats", 0, 0, "Print more stats" },
    { 'i', "interval", 1, 0, "specify intervals numbers, it is in seconds" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_broker_status[] = {
    { 'b', "brokerAddr", 1, 0, "Broker address" },
    { 'c', "clusterName", 1, 0, "which cluster" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_broker_config[] = {
    { 'b', "brokerAddr", 1, 0, "get which broker" },
    { 'c', "clusterName", 1, 0, "get which cluster" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_update_kv[] = {
    { 's', "namespace", 1, 1, "set the namespace" },
    { 'k', "key", 1, 1, "set the key name" },
    { 'v', "value", 1, 1, "set the key value" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_delete_kv[] = {
    { 's', "namespace", 1, 1, "set the namespace" },
    { 'k', "key", 1, 1, "set the key name" },
    { 0, NULL, 0, 0, NULL },
};

const ka_cmd ka_cmds_cluster[] = {
    { "clusterList", "List all of clusters", o_cluster_list, cmd_cluster_list },
    { "brokerStatus", "Fetch broker runtime status data", o_broker_status, cmd_broker_status },
    { "getBrokerConfig", "Get broker config by cluster or special broker!", o_broker_config,
      cmd_get_broker_config },
    { "getNamesrvConfig", "Get configs of name server.", NULL, cmd_get_namesrv_config },
    { "updateKvConfig", "Create or update KV config.", o_update_kv, cmd_update_kv },
    { "deleteKvConfig", "Delete KV config.", o_delete_kv, cmd_delete_kv },
    { NULL, NULL, NULL, NULL },
};
