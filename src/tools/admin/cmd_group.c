/* cmd_group.c - kite-admin's subscription-group and consumer subcommands: updateSubGroup,
 * deleteSubGroup, consumerProgress, consumerConnection. Requests and output:
 * docs/admin.md. A group's brokers are those of its retry topic %RETRY%<group>, as in
 * mqadmin. */
#include "admin.h"
#include "base/mem.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ADDRS 64

/* ---- updateSubGroup ---- */

typedef struct sub_group {
    const char *name;
    int consume_enable, from_min, broadcast, notify;
    int32_t retry_queues, retry_max;
    int64_t broker_id, slow_broker_id;
} sub_group;

static int parse_num(const char *s, const char *what, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end) {
        fprintf(stderr, "kite-admin updateSubGroup: %s must be an integer, got '%s'\n", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void sub_group_json(const sub_group *g, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "brokerId");
    kite_jw_int(&w, g->broker_id);
    kite_jw_key(&w, "consumeBroadcastEnable");
    kite_jw_bool(&w, g->broadcast);
    kite_jw_key(&w, "consumeEnable");
    kite_jw_bool(&w, g->consume_enable);
    kite_jw_key(&w, "consumeFromMinEnable");
    kite_jw_bool(&w, g->from_min);
    kite_jw_key(&w, "groupName");
    kite_jw_str(&w, g->name);
    kite_jw_key(&w, "notifyConsumerIdsChangedEnable");
    kite_jw_bool(&w, g->notify);
    kite_jw_key(&w, "retryMaxTimes");
    kite_jw_int(&w, g->retry_max);
    kite_jw_key(&w, "retryQueueNums");
    kite_jw_int(&w, g->retry_queues);
    kite_jw_key(&w, "whichBrokerWhenConsumeSlowly");
    kite_jw_int(&w, g->slow_broker_id);
    kite_jw_obj_end(&w);
}

static int create_group(ka_ctx *c, const char *addr, const kite_buf *body)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0);
    kite_cmd_set_body_copy(&req, body->data, body->len);
    int rc = ka_rpc_ok(c, addr, &req, &resp, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP");
    kite_cmd_free(&req);
    if (rc == 0) {
        kite_cmd_free(&resp);
        printf("create subscription group to %s success.\n", addr);
    }
    return rc;
}

static const char *tf(int v) { return v ? "true" : "false"; }

static int cmd_update_sub_group(ka_ctx *c)
{
    sub_group g = { .name = ka_opt_val(c, 'g'),
                    .consume_enable = 1,
                    .notify = 1,
                    .retry_queues = 1,
                    .retry_max = 16,
                    .slow_broker_id = 1 };
    const char *v;
    int64_t n;
    if ((v = ka_opt_val(c, 's'))) g.consume_enable = ka_bool(v);
    if ((v = ka_opt_val(c, 'm'))) g.from_min = ka_bool(v);
    if ((v = ka_opt_val(c, 'd'))) g.broadcast = ka_bool(v);
    if ((v = ka_opt_val(c, 'a'))) g.notify = ka_bool(v);
    if ((v = ka_opt_val(c, 'q'))) {
        if (parse_num(v, "-q", &n) != 0) return KA_USAGE;
        g.retry_queues = (int32_t)n;
    }
    if ((v = ka_opt_val(c, 'r'))) {
        if (parse_num(v, "-r", &n) != 0) return KA_USAGE;
        g.retry_max = (int32_t)n;
    }
    if ((v = ka_opt_val(c, 'i')) && parse_num(v, "-i", &g.broker_id) != 0) return KA_USAGE;
    if ((v = ka_opt_val(c, 'w')) && parse_num(v, "-w", &g.slow_broker_id) != 0) return KA_USAGE;
    const char *baddr = ka_opt_val(c, 'b'), *cluster = ka_opt_val(c, 'c');
    if (!baddr && !cluster) {
        fprintf(stderr, "kite-admin updateSubGroup: give -b <brokerAddr> or -c <clusterName>\n");
        return KA_USAGE;
    }
    kite_buf body;
    kite_buf_init(&body);
    sub_group_json(&g, &body);
    int rc = KA_OK;
    if (baddr) {
        rc = create_group(c, baddr, &body) == 0 ? KA_OK : KA_FAIL;
    } else {
        kite_cluster_info ci;
        if (ka_cluster_info(c, &ci) != 0) {
            kite_buf_free(&body);
            return KA_FAIL;
        }
        const char *addrs[MAX_ADDRS];
        size_t na = ka_cluster_addrs(&ci, cluster, 0, addrs, MAX_ADDRS);
        if (na == 0) rc = KA_FAIL;
        for (size_t i = 0; i < na && rc == KA_OK; i++)
            if (create_group(c, addrs[i], &body) != 0) rc = KA_FAIL;
        kite_cluster_free(&ci);
    }
    kite_buf_free(&body);
    if (rc != KA_OK) return rc;
    printf("SubscriptionGroupConfig [groupName=%s, consumeEnable=%s, consumeFromMinEnable=%s, "
           "consumeBroadcastEnable=%s, retryQueueNums=%d, retryMaxTimes=%d, brokerId=%lld, "
           "whichBrokerWhenConsumeSlowly=%lld, notifyConsumerIdsChangedEnable=%s]",
           g.name, tf(g.consume_enable), tf(g.from_min), tf(g.broadcast), g.retry_queues,
           g.retry_max, (long long)g.broker_id, (long long)g.slow_broker_id, tf(g.notify));
    return KA_OK;
}

/* ---- deleteSubGroup ---- */

static int delete_group(ka_ctx *c, const char *addr, const char *group, int remove_offset)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_DELETE_SUBSCRIPTIONGROUP, 0);
    kite_cmd_set_ext(&req, "groupName", group);
    kite_cmd_set_ext(&req, "removeOffset", tf(remove_offset));
    int rc = ka_rpc_ok(c, addr, &req, &resp, "DELETE_SUBSCRIPTIONGROUP");
    kite_cmd_free(&req);
    if (rc == 0) kite_cmd_free(&resp);
    return rc;
}

static int cmd_delete_sub_group(ka_ctx *c)
{
    const char *group = ka_opt_val(c, 'g'), *baddr = ka_opt_val(c, 'b'),
               *cluster = ka_opt_val(c, 'c');
    int remove_offset = ka_bool(ka_opt_val(c, 'r'));
    if (baddr) {
        if (delete_group(c, baddr, group, remove_offset) != 0) return KA_FAIL;
        printf("delete subscription group [%s] from broker [%s] success.\n", group, baddr);
        return KA_OK;
    }
    if (!cluster) {
        fprintf(stderr, "kite-admin deleteSubGroup: give -b <brokerAddr> or -c <clusterName>\n");
        return KA_USAGE;
    }
    kite_cluster_info ci;
    if (ka_cluster_info(c, &ci) != 0) return KA_FAIL;
    const char *addrs[MAX_ADDRS];
    size_t n = ka_cluster_addrs(&ci, cluster, 0, addrs, MAX_ADDRS);
    int rc = n ? KA_OK : KA_FAIL;
    for (size_t i = 0; i < n && rc == KA_OK; i++) {
        if (delete_group(c, addrs[i], group, remove_offset) != 0)
            rc = KA_FAIL;
        else
            printf("delete subscription group [%s] from broker [%s] in cluster [%s] success.\n",
                   group, addrs[i], cluster);
    }
    if (rc == KA_OK) {
        /* the group's retry and dead-letter topics go too; as in mqadmin, a failure here
         * is reported but does not fail the command */
        char topic[400];
        snprintf(topic, sizeof topic, "%s%s", KITE_RETRY_PREFIX, group);
        ka_delete_topic(c, &ci, cluster, topic);
        snprintf(topic, sizeof topic, "%s%s", KITE_DLQ_PREFIX, group);
        ka_delete_topic(c, &ci, cluster, topic);
    }
    kite_cluster_free(&ci);
    return rc;
}

/* ---- consume stats and connections of a group ---- */

typedef struct qrow {
    char topic[256], broker[128];
    int32_t qid;
    int64_t broker_off, consumer_off, last;
} qrow;

typedef struct gstats {
    qrow *rows;
    size_t n, cap;
    double tps;
} gstats;

static int cmp_qrow(const void *a, const void *b)
{
    const qrow *x = a, *y = b;
    int d = strcmp(x->topic, y->topic);
    if (!d) d = strcmp(x->broker, y->broker);
    return d ? d : (x->qid > y->qid) - (x->qid < y->qid);
}

/* GET_CONSUME_STATS from every broker of the group's retry topic, merged. quiet: no
 * message when it fails. 0 or -1. */
static int consume_stats(ka_ctx *c, const char *group, gstats *s, int quiet)
{
    char retry[400];
    snprintf(retry, sizeof retry, "%s%s", KITE_RETRY_PREFIX, group);
    memset(s, 0, sizeof *s);
    kite_route_data r;
    if (ka_route(c, retry, &r, NULL) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < r.n_brokers && rc == 0; i++) {
        const char *addr = ka_master_addr(&r.brokers[i]);
        if (!addr) continue;
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_GET_CONSUME_STATS, 0);
        kite_cmd_set_ext(&req, "consumerGroup", group);
        rc = quiet ? ka_call(c, addr, &req, &resp)
                   : ka_rpc_ok(c, addr, &req, &resp, "GET_CONSUME_STATS");
        kite_cmd_free(&req);
        if (rc != 0) break;
        if (resp.code != 0) {
            kite_cmd_free(&resp);
            rc = -1;
            break;
        }
        kite_json_doc *d = ka_parse_body(&resp, "consume stats");
        kite_cmd_free(&resp);
        if (!d) {
            rc = -1;
            break;
        }
        const kite_json *root = kite_json_root(d), *ot = kite_json_get(root, "offsetTable"),
                        *tps = kite_json_get(root, "consumeTps");
        if (tps && tps->type == KJ_NUMBER) s->tps += atof(tps->text);
        for (size_t j = 0; ot && ot->type == KJ_OBJECT && j < ot->count; j++) {
            const kite_json *k = ot->members[j].key, *v = ot->members[j].value;
            if (k->type != KJ_OBJECT) continue;
            s->rows = kite_xgrow(s->rows, &s->cap, s->n + 1, sizeof *s->rows, 16);
            qrow *q = &s->rows[s->n++];
            snprintf(q->topic, sizeof q->topic, "%s", kite_json_get_str(k, "topic", ""));
            snprintf(q->broker, sizeof q->broker, "%s", kite_json_get_str(k, "brokerName", ""));
            q->qid = kite_json_get_int32(k, "queueId", 0);
            q->broker_off = kite_json_get_int64(v, "brokerOffset", 0);
            q->consumer_off = kite_json_get_int64(v, "consumerOffset", 0);
            q->last = kite_json_get_int64(v, "lastTimestamp", 0);
        }
        kite_json_doc_free(d);
    }
    kite_route_free(&r);
    if (rc == 0 && s->n == 0) {
        if (!quiet)
            fprintf(stderr,
                    "GET_CONSUME_STATS failed, CODE: %d DESC: Not found the consumer group consume "
                    "stats, because return offset table is empty, maybe the consumer not consume "
                    "any message\n",
                    RS_CONSUMER_NOT_ONLINE);
        rc = -1;
    }
    if (rc != 0) {
        free(s->rows);
        s->rows = NULL;
    }
    return rc;
}

/* GET_CONSUMER_CONNECTION_LIST from a broker of the group's retry topic (or addr). The
 * parsed body or NULL (printed unless quiet). */
static kite_json_doc *connections(ka_ctx *c, const char *group, const char *addr, int quiet)
{
    kite_route_data r;
    memset(&r, 0, sizeof r);
    int have_route = 0;
    if (!addr) {
        char retry[400];
        snprintf(retry, sizeof retry, "%s%s", KITE_RETRY_PREFIX, group);
        if (ka_route(c, retry, &r, NULL) != 0) return NULL;
        have_route = 1;
        for (size_t i = 0; i < r.n_brokers && !addr; i++) addr = ka_master_addr(&r.brokers[i]);
    }
    kite_json_doc *d = NULL;
    if (addr) {
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_GET_CONSUMER_CONNECTION_LIST, 0);
        kite_cmd_set_ext(&req, "consumerGroup", group);
        int rc = quiet ? ka_call(c, addr, &req, &resp)
                       : ka_rpc_ok(c, addr, &req, &resp, "GET_CONSUMER_CONNECTION_LIST");
        kite_cmd_free(&req);
        if (rc == 0) {
            if (resp.code == 0) d = ka_parse_body(&resp, "consumer connections");
            kite_cmd_free(&resp);
        }
    }
    if (have_route) kite_route_free(&r);
    return d;
}

/* MQVersion.getVersionDesc: the name of Java's version ordinal. From V4_0_0_SNAPSHOT
 * (212) to V5_9_9 (611) every x.y.z has a SNAPSHOT and a release ordinal, ten patch levels
 * per minor and ten minors per major; 612 and above are HIGHER_VERSION. */
static const char *version_desc(int64_t v, char *buf, size_t cap)
{
    if (v >= 612) return "HIGHER_VERSION";
    if (v < 212) {
        snprintf(buf, cap, "%lld", (long long)v);
        return buf;
    }
    int64_t i = v - 212;
    snprintf(buf, cap, "V%lld_%lld_%lld%s", (long long)(4 + i / 200), (long long)(i % 200 / 20),
             (long long)(i % 20 / 2), i % 2 ? "" : "_SNAPSHOT");
    return buf;
}

/* ---- consumerProgress ---- */

static int progress_group(ka_ctx *c, const char *group)
{
    gstats s;
    if (consume_stats(c, group, &s, 0) != 0) return KA_FAIL;
    qsort(s.rows, s.n, sizeof *s.rows, cmp_qrow);
    int show_ip = ka_bool(ka_opt_val(c, 's'));
    if (show_ip)
        printf("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %-20s  %s\n", "#Topic", "#Broker Name",
               "#QID", "#Broker Offset", "#Consumer Offset", "#Client IP", "#Diff", "#LastTime");
    else
        printf("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n", "#Topic", "#Broker Name", "#QID",
               "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime");
    long long diff_total = 0;
    for (size_t i = 0; i < s.n; i++) {
        const qrow *q = &s.rows[i];
        long long diff = (long long)(q->broker_off - q->consumer_off);
        diff_total += diff;
        char last[32], t64[80], b32[40];
        if (q->last == 0)
            snprintf(last, sizeof last, "N/A");
        else
            ka_time_s(q->last, last, sizeof last);
        const char *topic = ka_front(q->topic, 64, t64, sizeof t64),
                   *broker = ka_front(q->broker, 32, b32, sizeof b32);
        if (show_ip) /* the allocation needs GET_CONSUMER_RUNNING_INFO, not served: N/A */
            printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  %-20s %-20lld  %s\n", topic, broker,
                   q->qid, (long long)q->broker_off, (long long)q->consumer_off, "N/A", diff, last);
        else
            printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  %-20lld  %s\n", topic, broker, q->qid,
                   (long long)q->broker_off, (long long)q->consumer_off, diff, last);
    }
    printf("\n");
    printf("Consume TPS: %.2f\n", s.tps);
    printf("Diff Total: %lld\n", diff_total);
    free(s.rows);
    return KA_OK;
}

static int progress_all(ka_ctx *c)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 0);
    int rc = ka_rpc_ok(c, NULL, &req, &resp, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER");
    kite_cmd_free(&req);
    if (rc != 0) return KA_FAIL;
    kite_json_doc *d = ka_parse_body(&resp, "topic list");
    kite_cmd_free(&resp);
    if (!d) return KA_FAIL;
    printf("%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s\n", "#Group", "#Count", "#Version", "#Type",
           "#Model", "#TPS", "#Diff Total");
    const kite_json *tl = kite_json_get(kite_json_root(d), "topicList");
    for (size_t i = 0; tl && tl->type == KJ_ARRAY && i < tl->count; i++) {
        const char *t = kite_json_str(tl->items[i], NULL);
        if (!t || strncmp(t, KITE_RETRY_PREFIX, KITE_RETRY_PREFIX_LEN)) continue;
        const char *group = t + KITE_RETRY_PREFIX_LEN;
        gstats s;
        int tps = 0;
        long long diff = 0;
        if (consume_stats(c, group, &s, 1) == 0) {
            tps = (int)s.tps;
            for (size_t j = 0; j < s.n; j++) diff += s.rows[j].broker_off - s.rows[j].consumer_off;
            free(s.rows);
        }
        kite_json_doc *cd = connections(c, group, NULL, 1);
        const kite_json *root = cd ? kite_json_root(cd) : NULL;
        const kite_json *cs = root ? kite_json_get(root, "connectionSet") : NULL;
        int count = cs && cs->type == KJ_ARRAY ? (int)cs->count : 0;
        int64_t minv = INT64_MAX;
        for (int j = 0; j < count; j++) {
            int64_t v = kite_json_get_int64(cs->items[j], "version", INT64_MAX);
            if (v < minv) minv = v;
        }
        const char *ctype = root ? kite_json_get_str(root, "consumeType", "") : "";
        int pull = !strcmp(ctype, "CONSUME_ACTIVELY");
        char vb[40], g64[80];
        printf("%-64s  %-6d  %-24s %-5s  %-14s  %-7d  %lld\n", ka_front(group, 64, g64, sizeof g64),
               count, count > 0 ? version_desc(minv, vb, sizeof vb) : "OFFLINE",
               count ? (pull ? "PULL" : "PUSH") : "",
               count && !pull ? kite_json_get_str(root, "messageModel", "") : "", tps, diff);
        if (cd) kite_json_doc_free(cd);
    }
    kite_json_doc_free(d);
    return KA_OK;
}

static int cmd_consumer_progress(ka_ctx *c)
{
    const char *g = ka_opt_val(c, 'g');
    return g ? progress_group(c, g) : progress_all(c);
}

/* ---- consumerConnection ---- */

static int cmd_consumer_connection(ka_ctx *c)
{
    const char *group = ka_opt_val(c, 'g');
    kite_json_doc *d = connections(c, group, ka_opt_val(c, 'b'), 0);
    if (!d) return KA_FAIL;
    const kite_json *root = kite_json_root(d), *cs = kite_json_get(root, "connectionSet");
    if (!cs || cs->type != KJ_ARRAY || cs->count == 0) {
        fprintf(stderr,
                "GET_CONSUMER_CONNECTION_LIST failed, CODE: %d DESC: Not found the "
                "consumer group connection\n",
                RS_CONSUMER_NOT_ONLINE);
        kite_json_doc_free(d);
        return KA_FAIL;
    }
    printf("%-36s %-22s %-10s %s\n", "#ClientId", "#ClientAddr", "#Language", "#Version");
    for (size_t i = 0; i < cs->count; i++) {
        const kite_json *x = cs->items[i];
        char vb[40];
        printf("%-36s %-22s %-10s %s\n", kite_json_get_str(x, "clientId", ""),
               kite_json_get_str(x, "clientAddr", ""), kite_json_get_str(x, "language", ""),
               version_desc(kite_json_get_int64(x, "version", 0), vb, sizeof vb));
    }
    printf("\nBelow is subscription:\n");
    printf("%-20s %s\n", "#Topic", "#SubExpression");
    const kite_json *st = kite_json_get(root, "subscriptionTable");
    for (size_t i = 0; st && st->type == KJ_OBJECT && i < st->count; i++) {
        const kite_json *sd = st->members[i].value;
        printf("%-20s %s\n", kite_json_get_str(sd, "topic", ""),
               kite_json_get_str(sd, "subString", ""));
    }
    printf("\n");
    printf("ConsumeType: %s\n", kite_json_get_str(root, "consumeType", "null"));
    printf("MessageModel: %s\n", kite_json_get_str(root, "messageModel", "null"));
    printf("ConsumeFromWhere: %s\n", kite_json_get_str(root, "consumeFromWhere", "null"));
    kite_json_doc_free(d);
    return KA_OK;
}

/* ---- the table ---- */

static const ka_opt o_update_sub_group[] = {
    { 'b', "brokerAddr", 1, 0, "create subscription group to which broker" },
    { 'c', "clusterName", 1, 0, "create subscription group to which cluster" },
    { 'g', "groupName", 1, 1, "consumer group name" },
    { 's', "consumeEnable", 1, 0, "consume enable" },
    { 'm', "consumeFromMinEnable", 1, 0, "from min offset" },
    { 'd', "consumeBroadcastEnable", 1, 0, "broadcast" },
    { 'q', "retryQueueNums", 1, 0, "retry queue nums" },
    { 'r', "retryMaxTimes", 1, 0, "retry max times" },
    { 'i', "brokerId", 1, 0, "consumer from which broker id" },
    { 'w', "whichBrokerWhenConsumeSlowly", 1, 0, "which broker id when consume slowly" },
    { 'a', "notifyConsumerIdsChanged", 1, 0, "notify consumerId changed" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_delete_sub_group[] = {
    { 'b', "brokerAddr", 1, 0, "delete subscription group from which broker" },
    { 'c', "clusterName", 1, 0, "delete subscription group from which cluster" },
    { 'g', "groupName", 1, 1, "subscription group name" },
    { 'r', "removeOffset", 1, 0, "remove offset" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_consumer_progress[] = {
    { 'g', "groupName", 1, 0, "consumer group name" },
    { 's', "showClientIP", 1, 0, "Show Client IP per Queue" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_consumer_connection[] = {
    { 'g', "consumerGroup", 1, 1, "consumer group name" },
    { 'b', "brokerAddr", 1, 0, "broker address" },
    { 0, NULL, 0, 0, NULL },
};

const ka_cmd ka_cmds_group[] = {
    { "updateSubGroup", "Update or create subscription group", o_update_sub_group,
      cmd_update_sub_group },
    { "deleteSubGroup", "Delete subscription group from broker.", o_delete_sub_group,
      cmd_delete_sub_group },
    { "consumerProgress", "Query consumers's progress, speed", o_consumer_progress,
      cmd_consumer_progress },
    { "consumerConnection", "Query consumer's socket connection, client version and subscription",
      o_consumer_connection, cmd_consumer_connection },
    { NULL, NULL, NULL, NULL },
};
