/* it_broker_sendpull.c - kite-broker over TCP, sending and pulling: SEND_MESSAGE_V2 (310)
 * and SEND_MESSAGE (10) answers (msgId = advertised IPv4 + port + commit-log offset,
 * queueId, queueOffset, MSG_REGION, TRACE_ON), auto-creation from TBW102 visible in the
 * name server's route at once, PULL_MESSAGE (11) bodies decoded record by record and
 * compared byte-exact, the pull answer fields on codes 0/19/20/21, tag filtering,
 * SEND_BATCH_MESSAGE (320) with a hand-built batch body, and the offset look-ups
 * (30, 31, 32, 29) and VIEW_MESSAGE_BY_ID (33). docs/wire.md §5.1, §5.3, §6.1, §6.2,
 * §6.7, §6.8, §9.1, §9.3, §9.5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include <ctype.h>

/* The properties the broker adds to every stored message (as a 5.x broker): cluster,
 * region and trace switch (the 5.x Java client drops consume traces without a region). */
#define CLUSTER_PROP "CLUSTER\001TestCluster\002MSG_REGION\001DefaultRegion\002TRACE_ON\001true\002"

static void check_msgid_format(const char *id)
{
    assert_non_null(id);
    assert_int_equal(strlen(id), 32);
    for (int i = 0; i < 32; i++)
        assert_true(isdigit((unsigned char)id[i]) || (id[i] >= 'A' && id[i] <= 'F'));
}

/* Record fields common to every message of these tests. */
static void check_record(const kite_record *rec, const kt_daemon *b, int fd, const char *topic,
                         int qid, int64_t qoff, const char *body, const char *props,
                         size_t props_len)
{
    assert_int_equal(rec->magic, KITE_REC_MAGIC_V1);
    assert_int_equal(rec->topic_len, strlen(topic));
    assert_memory_equal(rec->topic, topic, rec->topic_len);
    assert_int_equal(rec->queue_id, qid);
    assert_int_equal(rec->queue_offset, qoff);
    assert_int_equal(rec->body_len, strlen(body));
    assert_memory_equal(rec->body, body, rec->body_len);
    assert_int_equal(rec->props_len, props_len);
    assert_memory_equal(rec->props, props, props_len);
    assert_int_equal(rec->sysflag & (KITE_SYSFLAG_BORNHOST_V6 | KITE_SYSFLAG_STOREHOST_V6), 0);
    uint8_t ip[4];
    int port;
    bk_local_addr(fd, ip, &port);
    assert_memory_equal(rec->born_addr, ip, 4);
    assert_int_equal(rec->born_port, port);
    struct in_addr ia;
    assert_int_equal(inet_pton(AF_INET, b->host, &ia), 1);
    assert_memory_equal(rec->store_addr, &ia.s_addr, 4);
    assert_int_equal(rec->store_port, b->port);
    assert_int_equal(rec->reconsume_times, 0);
    assert_int_equal(rec->prepared_tx_offset, 0);
}

/* Scenario: 310 and 10 sends, route at once, byte-exact pull, 19 and 21 answers. */
static void test_send_and_pull_exact(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    /* the periodic registration (60 s, the longest) cannot be what the route wait sees */
    kt_daemon *b = bk_start_broker(ns, "registerNameServerPeriod=60000\n");
    int fd = bk_conn(b);

    /* SEND_MESSAGE_V2, one-letter names, properties with JSON \u0001/\u0002 escapes. */
    const char *p1_json =
        "TAGS\\u0001TagA\\u0002KEYS\\u0001k1 k2\\u0002UNIQ_KEY\\u0001AC1100010000000000000000000000A1"
        "\\u0002WAIT\\u0001true\\u0002";
    const char *p1 =
        "TAGS\001TagA\002KEYS\001k1 k2\002UNIQ_KEY\001AC1100010000000000000000000000A1\002WAIT\001true\002";
    int64_t t0 = kb_wall_ms();
    kite_cmd r;
    assert_int_equal(kb_send_v2(fd, "TopicSP", 1, p1_json, "hello-kite", 10, &r), 0);
    int64_t t1 = kb_wall_ms();
    assert_int_equal(r.code, 0);
    char id1[33];
    snprintf(id1, sizeof id1, "%s", kite_cmd_ext(&r, "msgId"));
    check_msgid_format(kite_cmd_ext(&r, "msgId"));
    assert_string_equal(kite_cmd_ext(&r, "queueId"), "1");
    assert_string_equal(kite_cmd_ext(&r, "queueOffset"), "0");
    assert_string_equal(kite_cmd_ext(&r, "MSG_REGION"), "DefaultRegion");
    assert_string_equal(kite_cmd_ext(&r, "TRACE_ON"), "true");
    kite_cmd_free(&r);

    /* Auto-created from TBW102 (min(4, 8) queues) and registered at once. */
    char route[4096];
    long long waited = bk_wait_route(ns, "TopicSP", KT_DEADLINE_MS, route, sizeof route);
    assert_true(waited >= 0);
    assert_non_null(strstr(route, "\"brokerName\":\"broker-t\""));
    assert_non_null(strstr(route, "\"readQueueNums\":4"));
    assert_non_null(strstr(route, "\"writeQueueNums\":4"));
    char baddr[64];
    snprintf(baddr, sizeof baddr, "\"%s:%d\"", b->host, b->port);
    assert_non_null(strstr(route, baddr));

    /* SEND_MESSAGE (10), long names; numbers unquoted as ali-ons writes them. The message
     * brings its own TRACE_ON: kept, not doubled. */
    const char *ext10 =
        "\"producerGroup\":\"PG\",\"topic\":\"TopicSP\",\"defaultTopic\":\"TBW102\","
        "\"defaultTopicQueueNums\":4,\"queueId\":1,\"sysFlag\":0,\"bornTimestamp\":1700000000123,"
        "\"flag\":7,\"properties\":\"TAGS\\u0001TagB\\u0002TRACE_ON\\u0001false\\u0002\","
        "\"reconsumeTimes\":0,\"unitMode\":false";
    assert_int_equal(kb_call(fd, 10, ext10, "second", 6, &r), 0);
    assert_int_equal(r.code, 0);
    char id2[33];
    snprintf(id2, sizeof id2, "%s", kite_cmd_ext(&r, "msgId"));
    check_msgid_format(id2);
    assert_string_equal(kite_cmd_ext(&r, "queueId"), "1");
    assert_string_equal(kite_cmd_ext(&r, "queueOffset"), "1");
    assert_string_equal(kite_cmd_ext(&r, "MSG_REGION"), "DefaultRegion");
    assert_string_equal(kite_cmd_ext(&r, "TRACE_ON"), "true");
    kite_cmd_free(&r);

    /* Pull with SUBSCRIPTION|SUSPEND: messages present, answered at once. */
    bk_wait_max(fd, "TopicSP", 1, 2);
    assert_int_equal(kb_pull(fd, "GSP", "TopicSP", 1, 0, 32, 4 | 2, 0, 5000, "*", &r), 0);
    assert_int_equal(r.code, 0);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 2);
    assert_int_equal(kb_ext_i64(&r, "minOffset"), 0);
    assert_int_equal(kb_ext_i64(&r, "maxOffset"), 2);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 2);
    char props[512];
    snprintf(props, sizeof props, "%s" CLUSTER_PROP, p1);
    check_record(&rec[0], b, fd, "TopicSP", 1, 0, "hello-kite", props, strlen(props));
    assert_true(rec[0].born_ts >= t0 && rec[0].born_ts <= t1);
    assert_true(rec[0].store_ts >= t0 - 1000 && rec[0].store_ts <= kb_wall_ms() + 1000);
    assert_int_equal(rec[0].flag, 0);
    assert_int_equal(rec[0].sysflag, 0);
    char want[33];
    bk_expect_msgid(b, rec[0].phys_offset, want);
    assert_string_equal(id1, want);
    const char *p2 = "TAGS\001TagB\002TRACE_ON\001false\002"
                     "CLUSTER\001TestCluster\002MSG_REGION\001DefaultRegion\002";
    check_record(&rec[1], b, fd, "TopicSP", 1, 1, "second", p2, strlen(p2));
    assert_int_equal(rec[1].born_ts, 1700000000123LL);
    assert_int_equal(rec[1].flag, 7);
    bk_expect_msgid(b, rec[1].phys_offset, want);
    assert_string_equal(id2, want);
    assert_int_equal(rec[1].phys_offset, rec[0].phys_offset + rec[0].total_size);
    kite_cmd_free(&r);

    /* At the end without SUSPEND: 19, nextBeginOffset = offset. */
    assert_int_equal(kb_pull(fd, "GSP", "TopicSP", 1, 2, 32, 4, 0, 5000, "*", &r), 0);
    assert_int_equal(r.code, 19);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 2);
    assert_int_equal(kb_ext_i64(&r, "maxOffset"), 2);
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);

    /* Beyond the max: 21 with nextBeginOffset = max. */
    assert_int_equal(kb_pull(fd, "GSP", "TopicSP", 1, 9, 32, 4 | 2, 0, 5000, "*", &r), 0);
    assert_int_equal(r.code, 21);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 2);
    assert_int_equal(kb_ext_i64(&r, "minOffset"), 0);
    assert_int_equal(kb_ext_i64(&r, "maxOffset"), 2);
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);

    /* An empty queue: offset != 0 -> 21 (next 0), offset 0 -> 19. */
    assert_int_equal(kb_pull(fd, "GSP", "TopicSP", 2, 3, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 21);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 0);
    kite_cmd_free(&r);
    assert_int_equal(kb_pull(fd, "GSP", "TopicSP", 3, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 19);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 0);
    kite_cmd_free(&r);
}

/* Scenario: "TagA || TagB" returns only those; skipped entries count in nextBeginOffset. */
static void test_tag_filtering(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    const char *tags[6] = { "TagA", "TagB", "TagC", "TagA", NULL, "TagB" };
    for (int i = 0; i < 6; i++) {
        char pj[128], body[32];
        if (tags[i])
            snprintf(pj, sizeof pj, "TAGS\\u0001%s\\u0002", tags[i]);
        else
            snprintf(pj, sizeof pj, "KEYS\\u0001none\\u0002");
        snprintf(body, sizeof body, "m%d", i);
        assert_int_equal(bk_send_ok(fd, "TopicTag", 0, pj, body, NULL), i);
    }
    bk_wait_max(fd, "TopicTag", 0, 6);
    kite_cmd r;
    kite_record rec[8];
    assert_int_equal(kb_pull(fd, "GT", "TopicTag", 0, 0, 32, 4, 0, 0, "TagA || TagB", &r), 0);
    assert_int_equal(r.code, 0);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 6);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 4);
    const int64_t want[4] = { 0, 1, 3, 5 };
    for (int i = 0; i < 4; i++) {
        char body[32];
        snprintf(body, sizeof body, "m%lld", (long long)want[i]);
        assert_int_equal(rec[i].queue_offset, want[i]);
        assert_int_equal(rec[i].body_len, strlen(body));
        assert_memory_equal(rec[i].body, body, rec[i].body_len);
    }
    kite_cmd_free(&r);

    /* One TagC message wanted: found at 2, the two skipped before it are counted. */
    assert_int_equal(kb_pull(fd, "GT", "TopicTag", 0, 0, 1, 4, 0, 0, "TagC", &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 1);
    assert_int_equal(rec[0].queue_offset, 2);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 3);
    kite_cmd_free(&r);

    /* Entries exist but none matches: 20, next after the last examined entry. */
    assert_int_equal(kb_pull(fd, "GT", "TopicTag", 0, 3, 32, 4, 0, 0, "TagC", &r), 0);
    assert_int_equal(r.code, 20);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 6);
    assert_int_equal(kb_ext_i64(&r, "maxOffset"), 6);
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);

    /* "*" sees everything, the untagged message included. */
    assert_int_equal(kb_pull(fd, "GT", "TopicTag", 0, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 6);
    kite_cmd_free(&r);
}

static size_t batch_entry(uint8_t *out, int32_t flag, const char *body, const char *props)
{
    size_t bl = strlen(body), pl = strlen(props), total = 22 + bl + pl;
    kite_wr_be32(out, (uint32_t)total);
    kite_wr_be32(out + 4, 0); /* magic: ignored */
    kite_wr_be32(out + 8, 0); /* body CRC: ignored */
    kite_wr_be32(out + 12, (uint32_t)flag);
    kite_wr_be32(out + 16, (uint32_t)bl);
    memcpy(out + 20, body, bl);
    kite_wr_be16(out + 20 + bl, (uint16_t)pl);
    memcpy(out + 22 + bl, props, pl);
    return total;
}

/* Scenario: a hand-built batch of 3; msgId lists 3 ids; they pull back in order. */
static void test_batch(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    bk_send_ok(fd, "TopicBatch", 2, "TAGS\\u0001pre\\u0002", "before", NULL);
    const char *bodies[3] = { "first-body", "b2", "third message body" };
    const char *props[3] = {
        "TAGS\001T1\002UNIQ_KEY\001AAAA0000000000000000000000000001\002",
        "UNIQ_KEY\001AAAA0000000000000000000000000002\002",
        "TAGS\001T3\002KEYS\001x y\002UNIQ_KEY\001AAAA0000000000000000000000000003\002"
    };
    uint8_t body[1024];
    size_t n = 0;
    for (int i = 0; i < 3; i++) n += batch_entry(body + n, 100 + i, bodies[i], props[i]);
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"a\":\"PG\",\"b\":\"TopicBatch\",\"c\":\"TBW102\",\"d\":\"4\",\"e\":\"2\",\"f\":\"0\","
        "\"g\":\"1700000000999\",\"h\":\"0\",\"i\":\"WAIT\\u0001true\\u0002\",\"j\":\"0\",\"k\":\"false\","
        "\"m\":\"true\"");
    kite_cmd r;
    assert_int_equal(kb_call(fd, 320, ext, body, n, &r), 0);
    if (r.code) fprintf(stderr, "batch: %s\n", r.remark ? r.remark : "");
    assert_int_equal(r.code, 0);
    const char *ids = kite_cmd_ext(&r, "msgId");
    assert_non_null(ids);
    assert_int_equal(strlen(ids), 3 * 32 + 2);
    assert_int_equal(ids[32], ',');
    assert_int_equal(ids[65], ',');
    char id[3][33];
    for (int i = 0; i < 3; i++) {
        memcpy(id[i], ids + 33 * i, 32);
        id[i][32] = 0;
        check_msgid_format(id[i]);
    }
    assert_string_equal(kite_cmd_ext(&r, "queueId"), "2");
    assert_string_equal(kite_cmd_ext(&r, "queueOffset"), "1");
    kite_cmd_free(&r);

    bk_wait_max(fd, "TopicBatch", 2, 4);
    assert_int_equal(kb_pull(fd, "GB", "TopicBatch", 2, 1, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 4);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 3);
    for (int i = 0; i < 3; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s" CLUSTER_PROP, props[i]);
        check_record(&rec[i], b, fd, "TopicBatch", 2, 1 + i, bodies[i], p, strlen(p));
        assert_int_equal(rec[i].flag, 100 + i);
        assert_int_equal(rec[i].born_ts, 1700000000999LL);
        char want[33];
        bk_expect_msgid(b, rec[i].phys_offset, want);
        assert_string_equal(id[i], want);
    }
    kite_cmd_free(&r);
}

/* Scenario: GET_MAX/MIN_OFFSET, GET_EARLIEST_MSG_STORETIME, SEARCH_OFFSET_BY_TIMESTAMP,
 * VIEW_MESSAGE_BY_ID. */
static void test_lookups_and_view(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    int64_t phys[3];
    for (int i = 0; i < 3; i++) {
        char body[16];
        snprintf(body, sizeof body, "lk%d", i);
        assert_int_equal(bk_send_ok(fd, "TopicLk", 0, NULL, body, &phys[i]), i);
        usleep(30000); /* distinct store timestamps */
    }
    bk_wait_max(fd, "TopicLk", 0, 3);
    assert_int_equal(kb_lookup(fd, 30, "TopicLk", 0, NULL, "offset"), 3);
    assert_int_equal(kb_lookup(fd, 31, "TopicLk", 0, NULL, "offset"), 0);
    assert_int_equal(kb_lookup(fd, 30, "TopicLk", 1, NULL, "offset"), 0);
    assert_int_equal(kb_lookup(fd, 30, "NoSuchTopicLk", 0, NULL, "offset"), 0);

    kite_cmd r;
    assert_int_equal(kb_pull(fd, "GL", "TopicLk", 0, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    kite_record rec[3];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 3), 3);
    for (int i = 0; i < 3; i++) assert_int_equal(rec[i].phys_offset, phys[i]);
    assert_true(rec[0].store_ts < rec[1].store_ts && rec[1].store_ts < rec[2].store_ts);
    int64_t ts0 = rec[0].store_ts, ts1 = rec[1].store_ts, ts2 = rec[2].store_ts;
    uint8_t rec1[512];
    size_t rec1_len = rec[1].total_size;
    memcpy(rec1, r.body + rec[0].total_size, rec1_len);
    kite_cmd_free(&r);

    assert_int_equal(kb_lookup(fd, 32, "TopicLk", 0, NULL, "timestamp"), ts0);
    char extra[96];
    snprintf(extra, sizeof extra, ",\"timestamp\":\"%lld\"", (long long)ts1);
    assert_int_equal(kb_lookup(fd, 29, "TopicLk", 0, extra, "offset"), 1);
    snprintf(extra, sizeof extra, ",\"timestamp\":\"%lld\"", (long long)(ts1 + 1));
    assert_int_equal(kb_lookup(fd, 29, "TopicLk", 0, extra, "offset"), 2);
    snprintf(extra, sizeof extra, ",\"timestamp\":\"%lld\"", (long long)ts2);
    assert_int_equal(kb_lookup(fd, 29, "TopicLk", 0, extra, "offset"), 2);
    assert_int_equal(kb_lookup(fd, 29, "TopicLk", 0, ",\"timestamp\":\"1\"", "offset"), 0);
    snprintf(extra, sizeof extra, ",\"timestamp\":\"%lld\"", (long long)(ts2 + 100000));
    assert_int_equal(kb_lookup(fd, 29, "TopicLk", 0, extra, "offset"), 3);

    /* VIEW_MESSAGE_BY_ID: the body is exactly that one record. */
    char ext[64];
    snprintf(ext, sizeof ext, "\"offset\":\"%lld\"", (long long)phys[1]);
    assert_int_equal(kb_call(fd, 33, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.body_len, rec1_len);
    assert_memory_equal(r.body, rec1, rec1_len);
    kite_cmd_free(&r);
    /* An offset that is not a record: code 1, and the broker still answers. */
    assert_int_equal(kb_call_code(fd, 33, "\"offset\":\"99999999\"", NULL, 0), 1);
    assert_int_equal(kb_lookup(fd, 30, "TopicLk", 0, NULL, "offset"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_and_pull_exact, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_tag_filtering, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_batch, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_lookups_and_view, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
