/* cmd_msg.c - kite-admin's message subcommands: queryMsgById (offset message ids: the
 * broker's address and the commit-log offset, docs/wire.md §9.5), queryMsgByKey and
 * printMsg (every message of a topic, pulled queue by queue).
 * Requests and output: docs/admin.md. Records in answers are decoded with codec/record.h. */
#include "admin.h"
#include "base/buf.h"
#include "base/mem.h"
#include "codec/record.h"
#include "proto/codes.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define BODY_DIR "/tmp/rocketmq/msgbodys" /* where mqadmin writes message bodies */

/* An offset message id: 32 hex digits = IPv4 (8) + port (8) + commit-log offset (16). */
static int parse_offset_id(const char *id, char *addr, size_t cap, int64_t *offset)
{
    if (strlen(id) != 32) return -1;
    for (size_t i = 0; i < 32; i += 4)
        if (kite_hex4(id, i, 32) < 0) return -1;
    char part[17];
    unsigned ip[4];
    for (int i = 0; i < 4; i++) {
        memcpy(part, id + 2 * i, 2);
        part[2] = 0;
        ip[i] = (unsigned)strtoul(part, NULL, 16);
    }
    memcpy(part, id + 8, 8);
    part[8] = 0;
    unsigned long port = strtoul(part, NULL, 16);
    memcpy(part, id + 16, 16);
    part[16] = 0;
    *offset = (int64_t)strtoull(part, NULL, 16);
    if (port == 0 || port > 65535) return -1;
    snprintf(addr, cap, "%u.%u.%u.%u:%lu", ip[0], ip[1], ip[2], ip[3], port);
    return 0;
}

static void host_text(const uint8_t *a, int32_t port, int v6, char *out, size_t cap)
{
    if (v6)
        snprintf(out, cap, "[%02x%02x:%02x%02x:...]:%d", a[0], a[1], a[2], a[3], port);
    else
        snprintf(out, cap, "%u.%u.%u.%u:%d", a[0], a[1], a[2], a[3], port);
}

static void offset_id(const kite_record *r, char out[33])
{
    const uint8_t *a = r->store_addr;
    snprintf(out, 33, "%02X%02X%02X%02X%08X%016llX", a[0], a[1], a[2], a[3],
             (unsigned)r->store_port, (unsigned long long)r->phys_offset);
}

/* Java's MessageClientExt.getMsgId(): UNIQ_KEY when present, else the offset id. */
static void client_msg_id(const kite_record *r, char *out, size_t cap)
{
    size_t n;
    const char *u = kite_msgprop_get(r->props, r->props_len, "UNIQ_KEY", &n);
    if (u) {
        snprintf(out, cap, "%.*s", (int)n, u);
        return;
    }
    char id[33];
    offset_id(r, id);
    snprintf(out, cap, "%s", id);
}

static void print_prop_bracket(const char *label, const kite_record *r, const char *name)
{
    size_t n;
    const char *v = kite_msgprop_get(r->props, r->props_len, name, &n);
    if (v)
        printf("%-20s [%.*s]\n", label, (int)n, v);
    else
        printf("%-20s [null]\n", label);
}

static const char *write_body(const kite_record *r, const char *msg_id, char *path, size_t cap)
{
    mkdir("/tmp/rocketmq", 0755);
    mkdir(BODY_DIR, 0755);
    snprintf(path, cap, "%s/%s", BODY_DIR, msg_id);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return path;
    }
    if (r->body_len) fwrite(r->body, 1, r->body_len, f);
    fclose(f);
    return path;
}

/* The group's consumer offset of the message's queue on the broker that stored it is past
 * the message (mqadmin's "consumed" test). */
static int consumed(ka_ctx *c, const kite_record *r, const char *group)
{
    char store[64], topic[256];
    host_text(r->store_addr, r->store_port, 0, store, sizeof store);
    snprintf(topic, sizeof topic, "%.*s", (int)r->topic_len, r->topic);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_GET_CONSUME_STATS, 0);
    kite_cmd_set_ext(&req, "consumerGroup", group);
    int rc = ka_call(c, store, &req, &resp);
    kite_cmd_free(&req);
    if (rc != 0) return 0;
    int yes = 0;
    kite_json_doc *d =
        resp.code == 0 ? kite_json_parse((const char *)resp.body, resp.body_len, NULL, 0) : NULL;
    kite_cmd_free(&resp);
    const kite_json *ot = d ? kite_json_get(kite_json_root(d), "offsetTable") : NULL;
    for (size_t i = 0; ot && ot->type == KJ_OBJECT && i < ot->count; i++) {
        const kite_json *k = ot->members[i].key, *v = ot->members[i].value;
        if (k->type == KJ_OBJECT && !strcmp(kite_json_get_str(k, "topic", ""), topic) &&
            kite_json_get_int32(k, "queueId", -1) == r->queue_id &&
            kite_json_get_int64(v, "consumerOffset", -1) > r->queue_offset)
            yes = 1;
    }
    if (d) kite_json_doc_free(d);
    return yes;
}

/* "MessageTrack [...]" per group that consumes the topic, or "WARN: No Consumer". */
static void print_tracks(ka_ctx *c, const kite_record *r, const char *store_addr)
{
    char topic[256];
    snprintf(topic, sizeof topic, "%.*s", (int)r->topic_len, r->topic);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_QUERY_TOPIC_CONSUME_BY_WHO, 0);
    kite_cmd_set_ext(&req, "topic", topic);
    int rc = ka_rpc_ok(c, store_addr, &req, &resp, "QUERY_TOPIC_CONSUME_BY_WHO");
    kite_cmd_free(&req);
    if (rc != 0) return;
    kite_json_doc *d = ka_parse_body(&resp, "group list");
    kite_cmd_free(&resp);
    const kite_json *gl = d ? kite_json_get(kite_json_root(d), "groupList") : NULL;
    if (!gl || gl->type != KJ_ARRAY || gl->count == 0) {
        printf("\n\nWARN: No Consumer");
    } else {
        printf("\n\n");
        for (size_t i = 0; i < gl->count; i++) {
            const char *g = kite_json_str(gl->items[i], NULL);
            if (!g) continue;
            kite_cmd_init_request(&req, RC_GET_CONSUMER_CONNECTION_LIST, 0);
            kite_cmd_set_ext(&req, "consumerGroup", g);
            const char *type = "UNKNOWN";
            char desc[512] = "null";
            if (ka_call(c, store_addr, &req, &resp) == 0) {
                if (resp.code != 0) {
                    if (resp.code == RS_CONSUMER_NOT_ONLINE) type = "NOT_ONLINE";
                    snprintf(desc, sizeof desc, "CODE:%d DESC:%s", resp.code,
                             resp.remark ? resp.remark : "");
                } else {
                    kite_json_doc *cd =
                        kite_json_parse((const char *)resp.body, resp.body_len, NULL, 0);
                    const char *ct =
                        cd ? kite_json_get_str(kite_json_root(cd), "consumeType", "") : "";
                    if (!strcmp(ct, "CONSUME_ACTIVELY"))
                        type = "PULL";
                    else if (!strcmp(ct, "CONSUME_PASSIVELY"))
                        type = consumed(c, r, g) ? "CONSUMED" : "NOT_CONSUME_YET";
                    if (cd) kite_json_doc_free(cd);
                }
                kite_cmd_free(&resp);
            }
            kite_cmd_free(&req);
            printf("MessageTrack [consumerGroup=%s, trackType=%s, exceptionDesc=%s]", g, type,
                   desc);
        }
    }
    if (d) kite_json_doc_free(d);
}

static void print_msg(ka_ctx *c, const kite_record *r, const char *store_addr)
{
    char oid[33], mid[128], path[300], ts[40], host[80];
    offset_id(r, oid);
    client_msg_id(r, mid, sizeof mid);
    printf("%-20s %s\n", "OffsetID:", oid);
    printf("%-20s %.*s\n", "Topic:", (int)r->topic_len, r->topic);
    print_prop_bracket("Tags:", r, "TAGS");
    print_prop_bracket("Keys:", r, "KEYS");
    printf("%-20s %d\n", "Queue ID:", r->queue_id);
    printf("%-20s %lld\n", "Queue Offset:", (long long)r->queue_offset);
    printf("%-20s %lld\n", "CommitLog Offset:", (long long)r->phys_offset);
    printf("%-20s %d\n", "Reconsume Times:", r->reconsume_times);
    printf("%-20s %s\n", "Born Timestamp:", ka_time_ms(r->born_ts, ts, sizeof ts));
    printf("%-20s %s\n", "Store Timestamp:", ka_time_ms(r->store_ts, ts, sizeof ts));
    host_text(r->born_addr, r->born_port, r->sysflag & KITE_SYSFLAG_BORNHOST_V6, host, sizeof host);
    printf("%-20s %s\n", "Born Host:", host);
    host_text(r->store_addr, r->store_port, r->sysflag & KITE_SYSFLAG_STOREHOST_V6, host,
              sizeof host);
    printf("%-20s %s\n", "Store Host:", host);
    printf("%-20s %d\n", "System Flag:", r->sysflag);
    /* Java's Map.toString(): {K=V, K=V} */
    kite_buf p;
    kite_buf_init(&p);
    kite_buf_putc(&p, '{');
    size_t pos = 0, nl, vl;
    const char *name, *val;
    int first = 1;
    while (kite_msgprop_next(r->props, r->props_len, &pos, &name, &nl, &val, &vl)) {
        if (!first) kite_buf_puts(&p, ", ");
        first = 0;
        kite_buf_append(&p, name, nl);
        kite_buf_putc(&p, '=');
        kite_buf_append(&p, val, vl);
    }
    kite_buf_putc(&p, '}');
    printf("%-20s %s\n", "Properties:", kite_buf_cstr(&p));
    kite_buf_free(&p);
    printf("%-20s %s\n", "Message Body Path:", write_body(r, mid, path, sizeof path));
    print_tracks(c, r, store_addr);
}

static int query_by_id(ka_ctx *c, const char *id)
{
    char addr[64];
    int64_t off;
    if (parse_offset_id(id, addr, sizeof addr, &off) != 0) {
        fprintf(stderr,
                "kite-admin queryMsgById: '%s' is not an offset message id (32 hex digits: broker "
                "IPv4, port, commit-log offset)\n",
                id);
        return KA_FAIL;
    }
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_VIEW_MESSAGE_BY_ID, 0);
    kite_cmd_set_ext_i64(&req, "offset", off);
    int rc = ka_rpc_ok(c, addr, &req, &resp, "VIEW_MESSAGE_BY_ID");
    kite_cmd_free(&req);
    if (rc != 0) return KA_FAIL;
    kite_record r;
    const char *why = NULL;
    int n = kite_record_decode(resp.body, resp.body_len, &r, 0, &why);
    if (n <= 0) {
        fprintf(stderr, "VIEW_MESSAGE_BY_ID: the answer is not a message record (%s)\n",
                why ? why : "short");
        kite_cmd_free(&resp);
        return KA_FAIL;
    }
    print_msg(c, &r, addr);
    kite_cmd_free(&resp);
    return KA_OK;
}

static int cmd_query_by_id(ka_ctx *c)
{
    char ids[2048];
    snprintf(ids, sizeof ids, "%s", ka_opt_val(c, 'i'));
    int rc = KA_OK;
    char *save = NULL;
    for (char *t = strtok_r(ids, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ') t[--l] = 0;
        if (l && query_by_id(c, t) != KA_OK) rc = KA_FAIL;
    }
    return rc;
}

/* ---- queryMsgByKey ---- */

static int key_matches(const kite_record *r, const char *topic, const char *key)
{
    if (r->topic_len != strlen(topic) || memcmp(r->topic, topic, r->topic_len)) return 0;
    size_t n;
    const char *keys = kite_msgprop_get(r->props, r->props_len, "KEYS", &n);
    size_t kl = strlen(key);
    for (size_t i = 0; keys && i < n;) {
        size_t j = i;
        while (j < n && keys[j] != ' ') j++;
        if (j - i == kl && !memcmp(keys + i, key, kl)) return 1;
        i = j + 1;
    }
    return 0;
}

static int cmd_query_by_key(ka_ctx *c)
{
    const char *topic = ka_opt_val(c, 't'), *key = ka_opt_val(c, 'k');
    kite_route_data rt;
    if (ka_route(c, topic, &rt, NULL) != 0) return KA_FAIL;
    printf("%-50s %4s %40s\n", "#Message ID", "#QID", "#Offset");
    int rc = KA_OK;
    for (size_t i = 0; i < rt.n_brokers && rc == KA_OK; i++) {
        const char *addr = ka_master_addr(&rt.brokers[i]);
        if (!addr) addr = rt.brokers[i].n_addrs ? rt.brokers[i].addrs[0].addr : NULL;
        if (!addr) continue;
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_QUERY_MESSAGE, 0);
        kite_cmd_set_ext(&req, "topic", topic);
        kite_cmd_set_ext(&req, "key", key);
        kite_cmd_set_ext_i64(&req, "maxNum", 64);
        kite_cmd_set_ext_i64(&req, "beginTimestamp", 0);
        kite_cmd_set_ext_i64(&req, "endTimestamp", INT64_MAX);
        int st = ka_call(c, addr, &req, &resp);
        kite_cmd_free(&req);
        if (st != 0) {
            rc = KA_FAIL;
            break;
        }
        if (ka_check(&resp, RS_QUERY_NOT_FOUND, "QUERY_MESSAGE") != 0) {
            kite_cmd_free(&resp);
            rc = KA_FAIL;
            break;
        }
        for (size_t off = 0; resp.code == 0 && off < resp.body_len;) {
            kite_record r;
            const char *why = NULL;
            int n = kite_record_decode(resp.body + off, resp.body_len - off, &r, 0, &why);
            if (n <= 0) break;
            off += (size_t)n;
            if (!key_matches(&r, topic, key)) continue;
            char mid[128];
            client_msg_id(&r, mid, sizeof mid);
            printf("%-50s %4d %40lld\n", mid, r.queue_id, (long long)r.queue_offset);
        }
        kite_cmd_free(&resp);
    }
    kite_route_free(&rt);
    return rc;
}

/* ---- printMsg ---- */

/* mqadmin's timestamp argument: milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS (local time). */
static int parse_time(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end) {
        *out = v;
        return 0;
    }
    struct tm tm;
    int ms = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%d-%d-%d#%d:%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    *out = (int64_t)mktime(&tm) * 1000 + ms;
    return 0;
}

/* An offset lookup (GET_MIN_OFFSET, GET_MAX_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP): the
 * answer's "offset", or -1 (printed). */
static int64_t queue_offset(ka_ctx *c, const char *addr, int code, const char *topic, int qid,
                            int64_t ts)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, code, 0);
    kite_cmd_set_ext(&req, "topic", topic);
    kite_cmd_set_ext_i64(&req, "queueId", qid);
    if (code == RC_SEARCH_OFFSET_BY_TIMESTAMP) kite_cmd_set_ext_i64(&req, "timestamp", ts);
    int rc = ka_rpc_ok(c, addr, &req, &resp,
                       code == RC_GET_MIN_OFFSET   ? "GET_MIN_OFFSET"
                       : code == RC_GET_MAX_OFFSET ? "GET_MAX_OFFSET"
                                                   : "SEARCH_OFFSET_BY_TIMESTAMP");
    kite_cmd_free(&req);
    if (rc != 0) return -1;
    int64_t off = -1;
    if (kite_cmd_ext_i64(&resp, "offset", &off) != 0) off = -1;
    kite_cmd_free(&resp);
    return off;
}

/* The subscription's tags ("TagA || TagB"); n = 0 for "*" (everything). */
static size_t split_tags(const char *expr, char tags[16][128])
{
    size_t n = 0;
    const char *p = expr;
    while (*p && n < 16) {
        const char *e = strstr(p, "||");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        if (len && !(len == 1 && *p == '*')) snprintf(tags[n++], 128, "%.*s", (int)len, p);
        if (!e) break;
        p = e + 2;
    }
    return n;
}

/* Java's Message/MessageExt toString as the pull consumer hands the message over: its
 * properties plus MIN_OFFSET and MAX_OFFSET of the answer, the broker name set. */
static void print_pulled(const kite_record *r, const char *broker, int64_t min, int64_t max,
                         int print_body)
{
    char mid[128], oid[33], born[80], store[80];
    client_msg_id(r, mid, sizeof mid);
    offset_id(r, oid);
    host_text(r->born_addr, r->born_port, r->sysflag & KITE_SYSFLAG_BORNHOST_V6, born, sizeof born);
    host_text(r->store_addr, r->store_port, r->sysflag & KITE_SYSFLAG_STOREHOST_V6, store,
              sizeof store);
    kite_buf o;
    kite_buf_init(&o);
    kite_buf_printf(
        &o,
        "MSGID: %s MessageExt [brokerName=%s, queueId=%d, storeSize=%u, queueOffset=%lld, "
        "sysFlag=%d, bornTimestamp=%lld, bornHost=/%s, storeTimestamp=%lld, "
        "storeHost=/%s, msgId=%s, commitLogOffset=%lld, bodyCRC=%u, reconsumeTimes=%d, "
        "preparedTransactionOffset=%lld, toString()=Message{topic='%.*s', flag=%d, "
        "properties={",
        mid, broker, r->queue_id, r->total_size, (long long)r->queue_offset, r->sysflag,
        (long long)r->born_ts, born, (long long)r->store_ts, store, oid, (long long)r->phys_offset,
        r->body_crc, r->reconsume_times, (long long)r->prepared_tx_offset, (int)r->topic_len,
        r->topic, r->flag);
    size_t pos = 0, nl, vl;
    const char *name, *val;
    while (kite_msgprop_next(r->props, r->props_len, &pos, &name, &nl, &val, &vl)) {
        kite_buf_append(&o, name, nl);
        kite_buf_putc(&o, '=');
        kite_buf_append(&o, val, vl);
        kite_buf_puts(&o, ", ");
    }
    kite_buf_printf(&o, "MIN_OFFSET=%lld, MAX_OFFSET=%lld}, body=[", (long long)min,
                    (long long)max);
    for (uint32_t i = 0; i < r->body_len; i++)
        kite_buf_printf(&o, "%s%d", i ? ", " : "", (int)(int8_t)r->body[i]);
    size_t tl;
    const char *tx = kite_msgprop_get(r->props, r->props_len, "TRAN_MSG", &tl);
    const char *uq = kite_msgprop_get(r->props, r->props_len, "UNIQ_KEY", NULL);
    int prepared = tx && tl == 4 && !strncasecmp(tx, "true", 4);
    kite_buf_printf(&o, "], transactionId='%s'}] BODY: ", prepared && uq ? mid : "null");
    if (print_body)
        kite_buf_append(&o, r->body, r->body_len);
    else
        kite_buf_puts(&o, "NOT PRINT BODY");
    kite_buf_putc(&o, '\n');
    fwrite(o.data, 1, o.len, stdout);
    kite_buf_free(&o);
}

typedef struct pmq {
    const char *broker, *addr;
    int qid;
} pmq;

static int cmp_pmq(const void *a, const void *b)
{
    const pmq *x = a, *y = b;
    int d = strcmp(x->broker, y->broker);
    return d ? d : x->qid - y->qid;
}

/* One queue from min to max, 32 messages per PULL_MESSAGE. */
static int print_queue(ka_ctx *c, const char *topic, const pmq *q, const char *expr,
                       char tags[16][128], size_t ntags, int print_body)
{
    int64_t min = queue_offset(c, q->addr, RC_GET_MIN_OFFSET, topic, q->qid, 0);
    int64_t max = queue_offset(c, q->addr, RC_GET_MAX_OFFSET, topic, q->qid, 0);
    if (min < 0 || max < 0) return KA_FAIL;
    int64_t t;
    if (ka_opt_val(c, 'b')) {
        if (parse_time(ka_opt_val(c, 'b'), &t) != 0) return KA_USAGE;
        if ((min = queue_offset(c, q->addr, RC_SEARCH_OFFSET_BY_TIMESTAMP, topic, q->qid, t)) < 0)
            return KA_FAIL;
    }
    if (ka_opt_val(c, 'e')) {
        if (parse_time(ka_opt_val(c, 'e'), &t) != 0) return KA_USAGE;
        if ((max = queue_offset(c, q->addr, RC_SEARCH_OFFSET_BY_TIMESTAMP, topic, q->qid, t)) < 0)
            return KA_FAIL;
    }
    char mq[512];
    snprintf(mq, sizeof mq, "MessageQueue [topic=%s, brokerName=%s, queueId=%d]", topic, q->broker,
             q->qid);
    printf("minOffset=%lld, maxOffset=%lld, %s\n", (long long)min, (long long)max, mq);
    for (int64_t off = min; off < max;) {
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_PULL_MESSAGE, 0);
        kite_cmd_set_ext(&req, "consumerGroup", "TOOLS_CONSUMER");
        kite_cmd_set_ext(&req, "topic", topic);
        kite_cmd_set_ext_i64(&req, "queueId", q->qid);
        kite_cmd_set_ext_i64(&req, "queueOffset", off);
        kite_cmd_set_ext_i64(&req, "maxMsgNums", 32);
        kite_cmd_set_ext_i64(&req, "sysFlag", 4); /* subscription in the request, no suspend */
        kite_cmd_set_ext_i64(&req, "commitOffset", 0);
        kite_cmd_set_ext_i64(&req, "suspendTimeoutMillis", 20000);
        kite_cmd_set_ext(&req, "subscription", expr);
        kite_cmd_set_ext_i64(&req, "subVersion", 0);
        kite_cmd_set_ext(&req, "expressionType", "TAG");
        int rc = ka_call(c, q->addr, &req, &resp);
        kite_cmd_free(&req);
        if (rc != 0) return KA_FAIL;
        int64_t next = -1, amin = 0, amax = 0;
        kite_cmd_ext_i64(&resp, "nextBeginOffset", &next);
        kite_cmd_ext_i64(&resp, "minOffset", &amin);
        kite_cmd_ext_i64(&resp, "maxOffset", &amax);
        if (resp.code == RS_SUCCESS) {
            for (size_t p = 0; p < resp.body_len;) {
                kite_record r;
                const char *why = NULL;
                int n = kite_record_decode(resp.body + p, resp.body_len - p, &r, 0, &why);
                if (n <= 0) break;
                p += (size_t)n;
                int keep = ntags == 0;
                size_t vl;
                const char *tg = kite_msgprop_get(r.props, r.props_len, "TAGS", &vl);
                for (size_t i = 0; !keep && tg && i < ntags; i++)
                    keep = strlen(tags[i]) == vl && !memcmp(tags[i], tg, vl);
                if (keep) print_pulled(&r, q->broker, amin, amax, print_body);
            }
        } else if (resp.code == RS_PULL_RETRY_IMMEDIATELY) {
            printf("%s no matched msg. status=NO_MATCHED_MSG, offset=%lld\n", mq, (long long)next);
        } else if (resp.code == RS_PULL_NOT_FOUND || resp.code == RS_PULL_OFFSET_MOVED) {
            printf("%s print msg finished. status=%s, offset=%lld\n", mq,
                   resp.code == RS_PULL_NOT_FOUND ? "NO_NEW_MSG" : "OFFSET_ILLEGAL",
                   (long long)next);
            kite_cmd_free(&resp);
            break;
        } else {
            ka_check(&resp, -1, "PULL_MESSAGE");
            kite_cmd_free(&resp);
            return KA_FAIL;
        }
        kite_cmd_free(&resp);
        if (next <= off) break; /* no progress: stop rather than loop */
        off = next;
    }
    printf("--------------------------------------------------------\n");
    return KA_OK;
}

static int cmd_print_msg(ka_ctx *c)
{
    const char *topic = ka_opt_val(c, 't'), *cs = ka_opt_val(c, 'c');
    const char *expr = ka_opt_val(c, 's') ? ka_opt_val(c, 's') : "*";
    int print_body = !ka_opt_val(c, 'd') || ka_bool(ka_opt_val(c, 'd'));
    if (cs && strcasecmp(cs, "UTF-8") && strcasecmp(cs, "UTF8")) {
        fprintf(stderr, "kite-admin printMsg: only -c UTF-8 is supported (bodies are printed as "
                        "they are)\n");
        return KA_USAGE;
    }
    int64_t t;
    if ((ka_opt_val(c, 'b') && parse_time(ka_opt_val(c, 'b'), &t) != 0) ||
        (ka_opt_val(c, 'e') && parse_time(ka_opt_val(c, 'e'), &t) != 0)) {
        fprintf(stderr,
                "kite-admin printMsg: -b/-e take milliseconds or yyyy-MM-dd#HH:mm:ss:SSS\n");
        return KA_USAGE;
    }
    char tags[16][128];
    size_t ntags = split_tags(expr, tags);
    kite_route_data rt;
    if (ka_route(c, topic, &rt, NULL) != 0) return KA_FAIL;
    pmq *qs = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < rt.n_queues; i++) {
        const kite_queue_data *qd = &rt.queues[i];
        if (!(qd->perm & KITE_PERM_READ)) continue;
        const char *addr = NULL;
        for (size_t j = 0; j < rt.n_brokers && !addr; j++)
            if (!strcmp(rt.brokers[j].broker_name, qd->broker_name))
                addr = ka_master_addr(&rt.brokers[j]);
        if (!addr) continue;
        for (int q = 0; q < qd->read_queue_nums; q++) {
            qs = kite_xgrow(qs, &cap, n + 1, sizeof *qs, 16);
            qs[n++] = (pmq){ qd->broker_name, addr, q };
        }
    }
    qsort(qs, n, sizeof *qs, cmp_pmq);
    int rc = KA_OK;
    for (size_t i = 0; i < n && rc == KA_OK; i++)
        rc = print_queue(c, topic, &qs[i], expr, tags, ntags, print_body);
    free(qs);
    kite_route_free(&rt);
    return rc;
}

/* ---- the table ---- */

static const ka_opt o_query_by_id[] = {
    { 'i', "msgId", 1, 1, "Message Id" },
    { 0, NULL, 0, 0, NULL },
};
static const ka_opt o_query_by_key[] = {
    { 't', "topic", 1, 1, "topic name" },
    { 'k', "msgKey", 1, 1, "Message Key" },
    { 0, NULL, 0, 0, NULL },
};

static const ka_opt o_print_msg[] = {
    { 't', "topic", 1, 1, "topic name" },
    { 'c', "charsetName", 1, 0, "CharsetName(eg: UTF-8,GBK)" },
    { 's', "subExpression", 1, 0, "Subscribe Expression(eg: TagA || TagB)" },
    { 'b', "beginTimestamp", 1, 0, "Begin timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]" },
    { 'e', "endTimestamp", 1, 0, "End timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]" },
    { 'd', "printBody", 1, 0, "print body" },
    { 0, NULL, 0, 0, NULL },
};

const ka_cmd ka_cmds_msg[] = {
    { "queryMsgById", "Query Message by Id", o_query_by_id, cmd_query_by_id },
    { "queryMsgByKey", "Query Message by Key", o_query_by_key, cmd_query_by_key },
    { "printMsg", "Print Message Detail", o_print_msg, cmd_print_msg },
    { NULL, NULL, NULL, NULL },
};
