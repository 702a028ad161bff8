/* it_broker_admin.c - kite-broker admin and statistics requests (docs/wire.md §8, §2.6,
 * §2.8, §2.9): GET_BROKER_RUNTIME_INFO (28) with every key `mqadmin clusterList`
 * reads, parsable, msgPutTotalTodayNow counting sends; GET_TOPIC_STATS_INFO (202) and
 * GET_CONSUME_STATS (208) keyed by fastjson MessageQueue objects with the right
 * min/max/consumer offsets; GET_CONSUMER_CONNECTION_LIST (203, 206 when none);
 * GET_PRODUCER_CONNECTION_LIST (204); QUERY_TOPIC_CONSUME_BY_WHO (300); subscription
 * groups 200/201/207 (removeOffset); GET_ALL_TOPIC_CONFIG (21) paging; DELETE_TOPIC_IN_BROKER
 * (215); UPDATE_BROKER_CONFIG (25, refused by default, allow-list when enabled) and
 * GET_BROKER_CONFIG (26); GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305) and GET_TOPIC_CONFIG
 * (351). Bodies are parsed with kite_json_parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "kt_bkx.h"

static void create_topic(int fd, const char *topic, int queues)
{
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"topic\":\"%s\",\"defaultTopic\":\"TBW102\",\"readQueueNums\":\"%d\",\"writeQueueNums\":\"%d\","
        "\"perm\":\"6\",\"topicFilterType\":\"SINGLE_TAG\",\"topicSysFlag\":\"0\",\"order\":\"false\"",
        topic, queues, queues);
    bk_expect(fd, 17, ext, NULL, 0, 0);
}

static void update_offset(int fd, const char *group, const char *topic, int qid, long long off)
{
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"consumerGroup\":\"%s\",\"topic\":\"%s\",\"queueId\":\"%d\",\"commitOffset\":\"%lld\"",
        group, topic, qid, off);
    bk_expect(fd, 15, ext, NULL, 0, 0);
}

/* Calls code with ext, expects 0 and returns the parsed body (caller frees). */
static kite_json_doc *call_json(int fd, int code, const char *ext, const char *body)
{
    kite_cmd r;
    assert_int_equal(kb_call(fd, code, ext, body, body ? strlen(body) : 0, &r), 0);
    if (r.code != 0)
        fprintf(stderr, "code %d answered %d (%s)\n", code, r.code, r.remark ? r.remark : "");
    assert_int_equal(r.code, 0);
    kite_json_doc *d = kx_parse(&r);
    kite_cmd_free(&r);
    assert_non_null(d);
    return d;
}

/* A runtime-info value must parse as a number (whole string). */
static double num(const kite_json *table, const char *key)
{
    const char *v = kite_json_get_str(table, key, NULL);
    if (!v) fprintf(stderr, "runtime info lacks %s\n", key);
    assert_non_null(v);
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end) fprintf(stderr, "runtime info %s=\"%s\" is not a number\n", key, v);
    assert_true(end != v && *end == 0);
    return d;
}

/* Scenario: GET_BROKER_RUNTIME_INFO keys of clusterList, put count. */
static void test_runtime_info(void **st)
{
    (void)st;
    int64_t t_start = kb_wall_ms();
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    for (int i = 0; i < 3; i++) bk_send_ok(fd, "TopicRI", i, NULL, "ri", NULL);
    bk_wait_max(fd, "TopicRI", 2, 1);

    kite_json_doc *d = call_json(fd, 28, "", NULL);
    const kite_json *t = kite_json_get(kite_json_root(d), "table");
    assert_non_null(t);
    assert_int_equal(t->type, KJ_OBJECT);
    const char *ver = kite_json_get_str(t, "brokerVersionDesc", NULL);
    assert_non_null(ver);
    assert_true(ver[0] == 'V' && strlen(ver) >= 4);
    /* putTps / getTransferredTps / getTransferedTps: three space-separated decimals. */
    static const char *const tps[] = { "putTps", "getTransferredTps", "getTransferedTps" };
    for (int i = 0; i < 3; i++) {
        const char *v = kite_json_get_str(t, tps[i], NULL);
        if (!v) fprintf(stderr, "runtime info lacks %s\n", tps[i]);
        assert_non_null(v);
        char *end;
        const char *p = v;
        for (int k = 0; k < 3; k++) {
            double x = strtod(p, &end);
            assert_true(end != p && x >= 0);
            p = end;
        }
        assert_int_equal(*p, 0);
    }
    static const char *const ints[] = {
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "pageCacheLockTimeMills",
        "msgPutTotalTodayNow",
        "msgGetTotalTodayNow",
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "earliestMessageTimeStamp",
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        double x = num(t, ints[i]);
        assert_true(x >= 0 && x == (double)(long long)x);
    }
    const char *active = kite_json_get_str(t, "brokerActive", NULL);
    assert_non_null(active);
    assert_true(strcmp(active, "true") == 0 || strcmp(active, "false") == 0);
    double ratio = num(t, "commitLogDiskRatio");
    assert_true(ratio >= 0.0 && ratio <= 1.0);
    assert_int_equal((long long)num(t, "msgPutTotalTodayNow"), 3);
    double earliest = num(t, "earliestMessageTimeStamp");
    assert_true(earliest >= (double)t_start - 1000 && earliest <= (double)kb_wall_ms());
    /* Today's morning count never exceeds the running total. */
    assert_true(num(t, "msgPutTotalTodayMorning") <= 3);
    kite_json_doc_free(d);

    /* Two more sends and a pull of 2 messages are counted. */
    bk_send_ok(fd, "TopicRI", 0, NULL, "ri", NULL);
    bk_send_ok(fd, "TopicRI", 0, NULL, "ri", NULL);
    bk_wait_max(fd, "TopicRI", 0, 3);
    kite_cmd r;
    assert_int_equal(kb_pull(fd, "GRI", "TopicRI", 0, 1, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    d = call_json(fd, 28, "", NULL);
    t = kite_json_get(kite_json_root(d), "table");
    assert_int_equal((long long)num(t, "msgPutTotalTodayNow"), 5);
    assert_int_equal((long long)num(t, "msgGetTotalTodayNow"), 2);
    kite_json_doc_free(d);
}

/* Asserts one TopicStatsTable / ConsumeStats entry's integer field. */
static void expect_field(const kite_json *table, const char *topic, int qid, const char *field,
                         long long want)
{
    const kite_json *v = kx_mq_value(table, topic, qid, NULL);
    if (!v) fprintf(stderr, "no entry for %s/%d\n", topic, qid);
    assert_non_null(v);
    long long got = kite_json_get_int64(v, field, -12345);
    if (got != want)
        fprintf(stderr, "%s/%d %s: want %lld got %lld\n", topic, qid, field, want, got);
    assert_int_equal(got, want);
}

/* Scenario: topic stats, consume stats, connections, consume-by-who. */
static void test_stats_and_connections(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int adm = bk_conn(b), cons = bk_conn(b);
    create_topic(adm, "TopicST", 3);
    bk_send_ok(adm, "TopicST", 0, NULL, "s0", NULL);
    bk_send_ok(adm, "TopicST", 0, NULL, "s1", NULL);
    bk_send_ok(adm, "TopicST", 2, NULL, "s2", NULL);
    bk_wait_max(adm, "TopicST", 0, 2);
    bk_wait_max(adm, "TopicST", 2, 1);

    /* 202: one entry per queue, object keys. */
    kite_json_doc *d = call_json(adm, 202, "\"topic\":\"TopicST\"", NULL);
    const kite_json *ot = kite_json_get(kite_json_root(d), "offsetTable");
    size_t n;
    assert_non_null(kx_mq_value(ot, "TopicST", 0, &n));
    assert_int_equal(n, 3);
    expect_field(ot, "TopicST", 0, "minOffset", 0);
    expect_field(ot, "TopicST", 0, "maxOffset", 2);
    expect_field(ot, "TopicST", 1, "maxOffset", 0);
    expect_field(ot, "TopicST", 1, "lastUpdateTimestamp", 0);
    expect_field(ot, "TopicST", 2, "maxOffset", 1);
    assert_true(kite_json_get_int64(kx_mq_value(ot, "TopicST", 2, NULL), "lastUpdateTimestamp", 0) >
                0);
    char bname[64];
    assert_int_equal(kx_str(ot->members[0].key, "brokerName", bname, sizeof bname), 0);
    assert_string_equal(bname, "broker-t");
    kite_json_doc_free(d);
    bk_expect(adm, 202, "\"topic\":\"TopicNoSuch\"", NULL, 0, 17);

    /* A consumer heartbeats (Java, version 401 in our header) and commits offsets. */
    char hb[4096];
    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@303#3", "CGS", "TopicST", "*");
    bk_expect(cons, 34, "", hb, strlen(hb), 0);
    update_offset(cons, "CGS", "TopicST", 0, 1);
    update_offset(cons, "CGS", "TopicST", 2, 1);

    /* 208 with and without topic. */
    for (int with_topic = 1; with_topic >= 0; with_topic--) {
        d = call_json(adm, 208,
                      with_topic ? "\"consumerGroup\":\"CGS\",\"topic\":\"TopicST\""
                                 : "\"consumerGroup\":\"CGS\"",
                      NULL);
        ot = kite_json_get(kite_json_root(d), "offsetTable");
        assert_non_null(kite_json_get(kite_json_root(d), "consumeTps"));
        assert_non_null(kx_mq_value(ot, "TopicST", 0, &n));
        assert_int_equal(n, 3);
        expect_field(ot, "TopicST", 0, "brokerOffset", 2);
        expect_field(ot, "TopicST", 0, "consumerOffset", 1);
        expect_field(ot, "TopicST", 1, "brokerOffset", 0);
        expect_field(ot, "TopicST", 1, "consumerOffset", 0);
        expect_field(ot, "TopicST", 2, "brokerOffset", 1);
        expect_field(ot, "TopicST", 2, "consumerOffset", 1);
        assert_true(kite_json_get_int64(kx_mq_value(ot, "TopicST", 0, NULL), "lastTimestamp", 0) >
                    0);
        kite_json_doc_free(d);
    }
    bk_expect(adm, 208, "\"consumerGroup\":\"CGS\",\"topic\":\"TopicNoSuch\"", NULL, 0, 17);

    /* 203: the heartbeating consumer, with its TCP address, language and version. */
    d = call_json(adm, 203, "\"consumerGroup\":\"CGS\"", NULL);
    const kite_json *root = kite_json_root(d);
    const kite_json *cs = kite_json_get(root, "connectionSet");
    assert_non_null(cs);
    assert_int_equal(cs->count, 1);
    char v[128], want_addr[64];
    uint8_t ip[4];
    int port;
    bk_local_addr(cons, ip, &port);
    snprintf(want_addr, sizeof want_addr, "%u.%u.%u.%u:%d", ip[0], ip[1], ip[2], ip[3], port);
    assert_int_equal(kx_str(cs->items[0], "clientId", v, sizeof v), 0);
    assert_string_equal(v, "127.0.0.1@303#3");
    assert_int_equal(kx_str(cs->items[0], "clientAddr", v, sizeof v), 0);
    assert_string_equal(v, want_addr);
    assert_int_equal(kx_str(cs->items[0], "language", v, sizeof v), 0);
    assert_string_equal(v, "JAVA");
    assert_int_equal(kite_json_get_int32(cs->items[0], "version", 0), 401);
    assert_int_equal(kx_str(root, "consumeType", v, sizeof v), 0);
    assert_string_equal(v, "CONSUME_PASSIVELY");
    assert_int_equal(kx_str(root, "messageModel", v, sizeof v), 0);
    assert_string_equal(v, "CLUSTERING");
    assert_int_equal(kx_str(root, "consumeFromWhere", v, sizeof v), 0);
    assert_string_equal(v, "CONSUME_FROM_LAST_OFFSET");
    const kite_json *subs = kite_json_get(root, "subscriptionTable");
    assert_non_null(kite_json_get(subs, "TopicST"));
    assert_non_null(kite_json_get(subs, "%RETRY%CGS"));
    assert_int_equal(kx_str(kite_json_get(subs, "TopicST"), "subString", v, sizeof v), 0);
    assert_string_equal(v, "*");
    kite_json_doc_free(d);
    bk_expect(adm, 203, "\"consumerGroup\":\"CGNobody\"", NULL, 0, 206);

    /* 204: the producer group of the heartbeat. */
    d = call_json(adm, 204, "\"producerGroup\":\"CLIENT_INNER_PRODUCER\"", NULL);
    cs = kite_json_get(kite_json_root(d), "connectionSet");
    assert_non_null(cs);
    assert_int_equal(cs->count, 1);
    assert_int_equal(kx_str(cs->items[0], "clientId", v, sizeof v), 0);
    assert_string_equal(v, "127.0.0.1@303#3");
    assert_int_equal(kx_str(cs->items[0], "clientAddr", v, sizeof v), 0);
    assert_string_equal(v, want_addr);
    kite_json_doc_free(d);
    bk_expect(adm, 204, "\"producerGroup\":\"PGNobody\"", NULL, 0, 1);

    /* 300: subscribed groups and groups with offsets only. */
    update_offset(adm, "CGOffsetsOnly", "TopicST", 1, 0);
    kite_cmd r;
    assert_int_equal(kb_call(adm, 300, "\"topic\":\"TopicST\"", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_string_equal(kt_body(&r), "{\"groupList\":[\"CGOffsetsOnly\",\"CGS\"]}");
    kite_cmd_free(&r);
    assert_int_equal(kb_call(adm, 300, "\"topic\":\"TopicNoSuch\"", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_string_equal(kt_body(&r), "{\"groupList\":[]}");
    kite_cmd_free(&r);

    /* The consumer's connection closes: 203 answers 206 again. */
    bk_close(cons);
    long long t0 = kt_now_ms();
    int code;
    while ((code = kb_call_code(adm, 203, "\"consumerGroup\":\"CGS\"", NULL, 0)) == 0 &&
           kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(10000);
    assert_int_equal(code, 206);
}

/* The SubscriptionGroupConfig of name in a 201 answer, or NULL. */
static const kite_json *group_cfg(const kite_json_doc *d, const char *name)
{
    return kite_json_get(kite_json_get(kite_json_root(d), "subscriptionGroupTable"), name);
}

/* Scenario: subscription groups create/list/delete (removeOffset), topic paging/delete. */
static void test_groups_and_topics(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    const char *sga =
        "{\"groupName\":\"SGA\",\"consumeEnable\":false,\"consumeFromMinEnable\":true,"
        "\"consumeBroadcastEnable\":true,\"retryQueueNums\":2,\"retryMaxTimes\":5,\"brokerId\":0,"
        "\"whichBrokerWhenConsumeSlowly\":1,\"notifyConsumerIdsChangedEnable\":true,"
        "\"consumeMessageOrderly\":false,\"groupSysFlag\":0,\"consumeTimeoutMinute\":15,"
        "\"groupRetryPolicy\":{\"type\":\"CUSTOMIZED\"},\"attributes\":{}}";
    bk_expect(fd, 200, "", sga, strlen(sga), 0);
    const char *sgb = "{\"groupName\":\"SGB\"}";
    bk_expect(fd, 200, "", sgb, strlen(sgb), 0);
    bk_expect(fd, 200, "", "{\"retryMaxTimes\":1}", 19, 1); /* no groupName */

    kite_json_doc *d = call_json(fd, 201, "", NULL);
    assert_non_null(kite_json_get(kite_json_root(d), "dataVersion"));
    const kite_json *g = group_cfg(d, "SGA");
    assert_non_null(g);
    assert_int_equal(kite_json_get_int32(g, "retryMaxTimes", -1), 5);
    assert_int_equal(kite_json_get_int32(g, "retryQueueNums", -1), 2);
    assert_int_equal(kite_json_get_bool(g, "consumeEnable", 1), 0);
    g = group_cfg(d, "SGB");
    assert_non_null(g);
    assert_int_equal(kite_json_get_int32(g, "retryMaxTimes", -1), 16); /* defaults */
    assert_int_equal(kite_json_get_int32(g, "retryQueueNums", -1), 1);
    assert_int_equal(kite_json_get_bool(g, "consumeEnable", 0), 1);
    kite_json_doc_free(d);

    /* consumeEnable=false: pulls refused (16). */
    bk_send_ok(fd, "TopicSG", 0, NULL, "x", NULL);
    bk_wait_max(fd, "TopicSG", 0, 1);
    kite_cmd r;
    assert_int_equal(kb_pull(fd, "SGA", "TopicSG", 0, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 16);
    kite_cmd_free(&r);

    /* Delete: with removeOffset the group's offsets go, without they stay. */
    update_offset(fd, "SGA", "TopicSG", 0, 1);
    update_offset(fd, "SGB", "TopicSG", 0, 1);
    bk_expect(fd, 207, "\"groupName\":\"SGA\",\"removeOffset\":\"true\"", NULL, 0, 0);
    bk_expect(fd, 207, "\"groupName\":\"SGB\",\"removeOffset\":\"false\"", NULL, 0, 0);
    d = call_json(fd, 201, "", NULL);
    assert_null(group_cfg(d, "SGA"));
    assert_null(group_cfg(d, "SGB"));
    kite_json_doc_free(d);
    assert_int_equal(kb_call(fd, 300, "\"topic\":\"TopicSG\"", NULL, 0, &r), 0);
    assert_string_equal(kt_body(&r), "{\"groupList\":[\"SGB\"]}");
    kite_cmd_free(&r);

    /* GET_ALL_TOPIC_CONFIG paging: pages of 3 in name order cover every topic once. */
    for (int i = 0; i < 5; i++) {
        char t[32];
        snprintf(t, sizeof t, "TopicPage%d", i);
        create_topic(fd, t, 1);
    }
    d = call_json(fd, 21, "", NULL);
    const kite_json *all = kite_json_get(kite_json_root(d), "topicConfigTable");
    assert_non_null(all);
    size_t total = all->count;
    assert_true(total >= 7);
    assert_int_equal(kb_call(fd, 21, "", NULL, 0, &r), 0);
    assert_int_equal(kb_ext_i64(&r, "totalTopicNum"), (int64_t)total);
    kite_cmd_free(&r);
    size_t seen = 0;
    char last[200] = "";
    for (size_t seq = 0; seq < total + 3; seq += 3) {
        char ext[128];
        snprintf(ext, sizeof ext, "\"topicSeq\":\"%zu\",\"maxTopicNum\":\"3\"", seq);
        assert_int_equal(kb_call(fd, 21, ext, NULL, 0, &r), 0);
        assert_int_equal(r.code, 0);
        assert_int_equal(kb_ext_i64(&r, "totalTopicNum"), (int64_t)total);
        kite_json_doc *p = kx_parse(&r);
        kite_cmd_free(&r);
        assert_non_null(p);
        const kite_json *page = kite_json_get(kite_json_root(p), "topicConfigTable");
        size_t want = seq >= total ? 0 : (total - seq < 3 ? total - seq : 3);
        assert_int_equal(page->count, want);
        for (size_t i = 0; i < page->count; i++) {
            const char *name = page->members[i].key->text;
            assert_non_null(kite_json_get(all, name));
            assert_true(strcmp(last, name) < 0); /* ascending, no repeats across pages */
            snprintf(last, sizeof last, "%s", name);
            seen++;
        }
        kite_json_doc_free(p);
    }
    assert_int_equal(seen, total);
    kite_json_doc_free(d);

    /* DELETE_TOPIC_IN_BROKER: config and offsets of the topic are gone. */
    create_topic(fd, "TopicDel", 2);
    bk_send_ok(fd, "TopicDel", 0, NULL, "x", NULL);
    update_offset(fd, "CGDel", "TopicDel", 0, 1);
    bk_expect(fd, 215, "\"topic\":\"TopicDel\"", NULL, 0, 0);
    assert_int_equal(kb_call(fd, 21, "", NULL, 0, &r), 0);
    assert_null(strstr(kt_body(&r), "\"TopicDel\""));
    assert_int_equal(kb_ext_i64(&r, "totalTopicNum"), (int64_t)total);
    kite_cmd_free(&r);
    bk_expect(fd, 202, "\"topic\":\"TopicDel\"", NULL, 0, 17);
    assert_int_equal(kb_call(fd, 300, "\"topic\":\"TopicDel\"", NULL, 0, &r), 0);
    assert_string_equal(kt_body(&r), "{\"groupList\":[]}");
    kite_cmd_free(&r);
    bk_expect(fd, 215, "\"topic\":\"TopicNeverWas\"", NULL, 0, 0);
}

/* The value of key in a GET_BROKER_CONFIG properties body ("" when absent). */
static void config_value(int fd, const char *key, char *out, size_t cap)
{
    kite_cmd r;
    assert_int_equal(kb_call(fd, 26, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    const char *ver = kite_cmd_ext(&r, "version");
    assert_non_null(ver);
    char err[128];
    kite_json_doc *vd = kite_json_parse(ver, strlen(ver), err, sizeof err);
    assert_non_null(vd);
    assert_non_null(kite_json_get(kite_json_root(vd), "counter"));
    kite_json_doc_free(vd);
    const char *body = kt_body(&r);
    out[0] = 0;
    size_t kl = strlen(key);
    for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p - kl - 1) : strlen(p + kl + 1);
            if (n >= cap) n = cap - 1;
            memcpy(out, p + kl + 1, n);
            out[n] = 0;
            break;
        }
    }
    kite_cmd_free(&r);
}

/* Scenario: UPDATE_BROKER_CONFIG refused by default; with remoteConfigUpdateEnable a
 * safe key is applied (GET_BROKER_CONFIG shows it, long polling really off) and a path
 * key is refused, all or nothing. */
static void test_broker_config_update(void **st)
{
    (void)st;
    kt_daemon *b1 = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b1);
    char v[512];
    config_value(fd, "longPollingEnable", v, sizeof v);
    assert_string_equal(v, "true");
    const char *safe = "longPollingEnable=false\n";
    bk_expect(fd, 25, "", safe, strlen(safe), 16);
    config_value(fd, "longPollingEnable", v, sizeof v);
    assert_string_equal(v, "true");

    kt_daemon *b2 = bk_start_broker(NULL, "remoteConfigUpdateEnable=true\n");
    fd = bk_conn(b2);
    char root[512];
    config_value(fd, "storePathRootDir", root, sizeof root);
    assert_true(strlen(root) > 0);
    bk_expect(fd, 25, "", safe, strlen(safe), 0);
    config_value(fd, "longPollingEnable", v, sizeof v);
    assert_string_equal(v, "false");

    const char *path = "storePathRootDir=/tmp/x\n";
    bk_expect(fd, 25, "", path, strlen(path), 16);
    const char *mixed = "longPollingEnable=true\nstorePathRootDir=/tmp/x\n";
    bk_expect(fd, 25, "", mixed, strlen(mixed), 16);
    const char *other = "listenPort=1\n";
    bk_expect(fd, 25, "", other, strlen(other), 16);
    config_value(fd, "storePathRootDir", v, sizeof v);
    assert_string_equal(v, root);
    config_value(fd, "longPollingEnable", v, sizeof v);
    assert_string_equal(v, "false"); /* the mixed update changed nothing */

    /* Long polling is off: a pull with a 30 s suspend is held for the short polling time
     * (1 s), not for its suspend: answered (not found) before the suspend ran out. */
    bk_send_ok(fd, "TopicCfg", 0, NULL, "x", NULL);
    bk_wait_max(fd, "TopicCfg", 0, 1);
    long long t0 = kt_now_ms();
    kite_cmd r;
    int op = kb_pull_send(fd, "GCfg", "TopicCfg", 0, 1, 32, 4 | 2, 0, KT_DEADLINE_MS, "*");
    assert_int_equal(kb_wait_response(fd, op, &r, KT_DEADLINE_MS + 5000), 0);
    long long dt = kt_now_ms() - t0;
    fprintf(stderr, "pull with long polling off answered %d after %lld ms\n", r.code, dt);
    assert_int_equal(r.code, 19);
    assert_true(dt >= 1000 - 10);     /* held for the short polling time */
    assert_true(dt < KT_DEADLINE_MS); /* not for its suspend time */
    kite_cmd_free(&r);
}

/* 305: the topics the broker created for itself, never a user topic; 351: one topic's
 * TopicConfig, TOPIC_NOT_EXIST (17) for a topic the broker does not have. */
static void test_system_topics_and_topic_config(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    create_topic(fd, "TopicUser", 3);
    kite_json_doc *d = call_json(fd, 305, "", NULL);
    const kite_json *list = kite_json_get(kite_json_root(d), "topicList");
    assert_non_null(list);
    int sched = 0, tbw = 0, half = 0;
    for (size_t i = 0; i < list->count; i++) {
        const char *t = list->items[i]->text;
        assert_string_not_equal(t, "TopicUser");
        sched |= strcmp(t, "SCHEDULE_TOPIC_XXXX") == 0;
        tbw |= strcmp(t, "TBW102") == 0;
        half |= strcmp(t, "RMQ_SYS_TRANS_HALF_TOPIC") == 0;
    }
    assert_true(sched && tbw && half);
    kite_json_doc_free(d);

    d = call_json(fd, 351, "\"topic\":\"TopicUser\"", NULL);
    const kite_json *root = kite_json_root(d);
    assert_string_equal(kite_json_get(root, "topicName")->text, "TopicUser");
    int64_t rq = 0;
    assert_int_equal(kite_json_int64(kite_json_get(root, "readQueueNums"), &rq), 0);
    assert_int_equal(rq, 3);
    kite_json_doc_free(d);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 351, "\"topic\":\"TopicNone\"", NULL, 0, &r), 0);
    assert_int_equal(r.code, 17);
    kite_cmd_free(&r);
    bk_close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runtime_info, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_connections, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_groups_and_topics, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_broker_config_update, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_system_topics_and_topic_config, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
