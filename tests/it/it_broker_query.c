/* it_broker_query.c - kite-broker look-ups through the store index and the remaining
 * statistics codes (docs/wire.md §6.8, §8): QUERY_MESSAGE (12) by a KEYS word and by
 * UNIQ_KEY (_UNIQUE_KEY_QUERY), time-range bounds, QUERY_NOT_FOUND (22), the index
 * header fields; VIEW_BROKER_STATS_DATA (315) counting sends per topic and pulls per
 * topic@group; GET_BROKER_CONSUME_STATS (317) with totalDiff; GET_ALL_SUBSCRIPTIONGROUP_CONFIG
 * (201) paging with totalGroupNum; TRIGGER_DELETE_FILES (27) accepted from loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/json.h"
#include "bk_common.h"

static int query(int fd, const char *topic, const char *key, int unique, int64_t begin, int64_t end,
                 kite_cmd *r)
{
    char ext[600];
    snprintf(
        ext, sizeof ext,
        "\"topic\":\"%s\",\"key\":\"%s\",\"maxNum\":\"16\",\"beginTimestamp\":\"%lld\",\"endTimestamp\":\"%lld\","
        "\"_UNIQUE_KEY_QUERY\":\"%s\"",
        topic, key, (long long)begin, (long long)end, unique ? "true" : "false");
    assert_int_equal(kb_call(fd, 12, ext, NULL, 0, r), 0);
    return r->code;
}

static void test_query_message(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    int64_t t0 = kb_wall_ms();
    int64_t phys[3];
    for (int i = 0; i < 3; i++) {
        char props[200], body[32];
        snprintf(props, sizeof props,
                 "KEYS\\u0001order-%d shared\\u0002UNIQ_KEY\\u0001UNIQ%04d\\u0002", i, i);
        snprintf(body, sizeof body, "body-%d", i);
        bk_send_ok(fd, "QT", 0, props, body, &phys[i]);
    }
    bk_send_ok(fd, "OTHER", 0, "KEYS\\u0001shared\\u0002", "not-this-topic", NULL);
    bk_wait_max(fd, "QT", 0, 3);
    int64_t t1 = kb_wall_ms() + 1000;
    kite_cmd r;
    kite_record recs[8];
    /* Every message with the shared KEYS word, and only from this topic. */
    int64_t found_phys = 0;
    for (int tries = 0; tries < 50; tries++) { /* the index is built by the dispatch thread */
        if (query(fd, "QT", "shared", 0, t0 - 1000, t1, &r) == 0 &&
            kb_records(r.body, r.body_len, recs, 8) == 3)
            break;
        kite_cmd_free(&r);
        usleep(20000);
    }
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, recs, 8), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(recs[i].topic_len, 2);
        assert_memory_equal(recs[i].topic, "QT", 2);
        found_phys += recs[i].phys_offset;
    }
    assert_true(found_phys == phys[0] + phys[1] + phys[2]);
    assert_true(kb_ext_i64(&r, "indexLastUpdateTimestamp") >= t0 - 1000);
    assert_true(kb_ext_i64(&r, "indexLastUpdatePhyoffset") >= phys[2]);
    kite_cmd_free(&r);
    /* One word, one message. */
    assert_int_equal(query(fd, "QT", "order-1", 0, t0 - 1000, t1, &r), 0);
    assert_int_equal(kb_records(r.body, r.body_len, recs, 8), 1);
    assert_true(recs[0].phys_offset == phys[1]);
    assert_memory_equal(recs[0].body, "body-1", 6);
    kite_cmd_free(&r);
    /* By unique key. */
    assert_int_equal(query(fd, "QT", "UNIQ0002", 1, t0 - 1000, t1, &r), 0);
    assert_int_equal(kb_records(r.body, r.body_len, recs, 8), 1);
    assert_true(recs[0].phys_offset == phys[2]);
    kite_cmd_free(&r);
    /* Nothing: unknown key, or a time range before the messages. */
    assert_int_equal(query(fd, "QT", "no-such-key", 0, t0 - 1000, t1, &r), 22);
    kite_cmd_free(&r);
    assert_int_equal(query(fd, "QT", "shared", 0, t0 - 100000, t0 - 50000, &r), 22);
    kite_cmd_free(&r);
    /* Missing fields are refused, the connection stays usable. */
    bk_expect(fd, 12, "\"topic\":\"QT\"", NULL, 0, 1);
    bk_expect(fd, 27, "", NULL, 0, 0); /* TRIGGER_DELETE_FILES from loopback */
    assert_int_equal(query(fd, "QT", "order-0", 0, t0 - 1000, t1, &r), 0);
    kite_cmd_free(&r);
}

static void test_stats_data_and_broker_consume_stats(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    for (int i = 0; i < 4; i++) bk_send_ok(fd, "ST", 0, NULL, "x", NULL);
    bk_wait_max(fd, "ST", 0, 4);
    /* A heartbeating consumer that has consumed 1 of the 4. */
    char hb[4096];
    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@q1", "SG", "ST", "*");
    bk_expect(fd, 34, "", hb, strlen(hb), 0);
    kite_cmd r;
    assert_int_equal(kb_pull(fd, "SG", "ST", 0, 0, 1, 0, 0, 0, NULL, &r), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    bk_expect(fd, 15,
              "\"consumerGroup\":\"SG\",\"topic\":\"ST\",\"queueId\":\"0\",\"commitOffset\":\"1\"",
              NULL, 0, 0);

    assert_int_equal(
        kb_call(fd, 315, "\"statsName\":\"TOPIC_PUT_NUMS\",\"statsKey\":\"ST\"", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    char err[128];
    kite_json_doc *d = kite_json_parse((const char *)r.body, r.body_len, err, sizeof err);
    assert_non_null(d);
    assert_int_equal(
        kite_json_get_int64(kite_json_get(kite_json_root(d), "statsMinute"), "sum", -1), 4);
    assert_int_equal(kite_json_get_int64(kite_json_get(kite_json_root(d), "statsDay"), "sum", -1),
                     4);
    kite_json_doc_free(d);
    kite_cmd_free(&r);
    assert_int_equal(
        kb_call(fd, 315, "\"statsName\":\"GROUP_GET_NUMS\",\"statsKey\":\"ST@SG\"", NULL, 0, &r),
        0);
    assert_int_equal(r.code, 0);
    d = kite_json_parse((const char *)r.body, r.body_len, err, sizeof err);
    assert_int_equal(kite_json_get_int64(kite_json_get(kite_json_root(d), "statsHour"), "sum", -1),
                     1);
    kite_json_doc_free(d);
    kite_cmd_free(&r);
    bk_expect(fd, 315, "\"statsName\":\"TOPIC_PUT_NUMS\",\"statsKey\":\"NOPE\"", NULL, 0, 1);

    assert_int_equal(
        kb_call(fd, 317, "\"isOrder\":\"false\",\"timeoutMillis\":\"3000\"", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    d = kite_json_parse((const char *)r.body, r.body_len, err, sizeof err);
    assert_non_null(d);
    const kite_json *root = kite_json_root(d);
    assert_int_equal(kite_json_get_int64(root, "totalDiff", -1), 3);
    const kite_json *list = kite_json_get(root, "consumeStatsList");
    assert_non_null(list);
    assert_int_equal(list->type, KJ_ARRAY);
    assert_int_equal(list->count, 1);
    assert_non_null(kite_json_get(list->items[0], "SG"));
    kite_json_doc_free(d);
    kite_cmd_free(&r);
}

static void test_group_paging(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    for (int i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"groupName\":\"PG%d\",\"consumeEnable\":true,\"retryMaxTimes\":%d}", i, 10 + i);
        bk_expect(fd, 200, "", body, strlen(body), 0);
    }
    size_t seen = 0;
    for (int seq = 0; seq < 10; seq += 2) {
        char ext[128];
        snprintf(ext, sizeof ext, "\"groupSeq\":\"%d\",\"maxGroupNum\":\"2\"", seq);
        kite_cmd r;
        assert_int_equal(kb_call(fd, 201, ext, NULL, 0, &r), 0);
        assert_int_equal(r.code, 0);
        int64_t total = kb_ext_i64(&r, "totalGroupNum");
        assert_true(total >= 5);
        char err[128];
        kite_json_doc *d = kite_json_parse((const char *)r.body, r.body_len, err, sizeof err);
        assert_non_null(d);
        const kite_json *t = kite_json_get(kite_json_root(d), "subscriptionGroupTable");
        assert_non_null(t);
        assert_true(t->count <= 2);
        seen += t->count;
        kite_json_doc_free(d);
        kite_cmd_free(&r);
        if ((int64_t)seen >= total) break;
    }
    assert_true(seen >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_message, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_stats_data_and_broker_consume_stats, bk_setup,
                                        bk_teardown),
        cmocka_unit_test_setup_teardown(test_group_paging, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
