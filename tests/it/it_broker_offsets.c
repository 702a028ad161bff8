/* it_broker_offsets.c - kite-broker consumer offsets and persistence (docs/wire.md
 * §6.1, §6.4, §8): UPDATE_CONSUMER_OFFSET (15) / QUERY_CONSUMER_OFFSET (14), a
 * commit offset of -1, the young-queue rule for a new group, the pull COMMIT flag; and
 * offsets, topics (UPDATE_AND_CREATE_TOPIC 17) and subscription groups surviving a
 * clean stop and a SIGKILL (offsets committed more than flushConsumerOffsetInterval
 * before the kill; every message acknowledged under SYNC_FLUSH still pullable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"

static void update_offset(int fd, const char *group, const char *topic, int qid, long long off)
{
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"consumerGroup\":\"%s\",\"topic\":\"%s\",\"queueId\":\"%d\",\"commitOffset\":\"%lld\"",
        group, topic, qid, off);
    bk_expect(fd, 15, ext, NULL, 0, 0);
}

/* The stored offset, or -22 for QUERY_NOT_FOUND. */
static long long query_offset(int fd, const char *group, const char *topic, int qid)
{
    char ext[512];
    snprintf(ext, sizeof ext, "\"consumerGroup\":\"%s\",\"topic\":\"%s\",\"queueId\":\"%d\"", group,
             topic, qid);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 14, ext, NULL, 0, &r), 0);
    long long v;
    if (r.code == 22) {
        v = -22;
    } else {
        assert_int_equal(r.code, 0);
        v = kb_ext_i64(&r, "offset");
        assert_true(v != INT64_MIN);
    }
    kite_cmd_free(&r);
    return v;
}

static void create_topic(int fd, const char *topic, int queues)
{
    char ext[512];
    snprintf(ext, sizeof ext,
             "\"topic\":\"%s\",\"readQueueNums\":\"%d\",\"writeQueueNums\":\"%d\",\"perm\":\"6\","
             "\"topicFilterType\":\"SINGLE_TAG\",\"topicSysFlag\":\"0\",\"order\":\"false\"",
             topic, queues, queues);
    bk_expect(fd, 17, ext, NULL, 0, 0);
}

/* Scenario: update/query, -1, young queue, COMMIT flag. */
static void test_update_query_commit(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    bk_send_ok(fd, "TopicOff", 0, NULL, "o0", NULL);
    bk_send_ok(fd, "TopicOff", 0, NULL, "o1", NULL);
    bk_send_ok(fd, "TopicOff", 0, NULL, "o2", NULL);
    bk_wait_max(fd, "TopicOff", 0, 3);

    /* A new group on a young queue starts at 0. */
    assert_int_equal(query_offset(fd, "CGO", "TopicOff", 0), 0);
    update_offset(fd, "CGO", "TopicOff", 0, 2);
    assert_int_equal(query_offset(fd, "CGO", "TopicOff", 0), 2);
    update_offset(fd, "CGO", "TopicOff", 0, 3);
    assert_int_equal(query_offset(fd, "CGO", "TopicOff", 0), 3);
    /* -1 (nothing consumed yet) is accepted and does not replace the stored offset. */
    update_offset(fd, "CGO", "TopicOff", 0, -1);
    assert_int_equal(query_offset(fd, "CGO", "TopicOff", 0), 3);
    update_offset(fd, "CGO2", "TopicOff", 1, -1);
    /* Offsets are per group and queue. */
    assert_int_equal(query_offset(fd, "CGO", "TopicOff", 1), 0);
    assert_int_equal(query_offset(fd, "CGOther", "TopicOff", 0), 0);

    /* Pull with COMMIT|SUBSCRIPTION stores commitOffset before answering. */
    kite_cmd r;
    assert_int_equal(kb_pull(fd, "CGC", "TopicOff", 0, 1, 32, 1 | 4, 1, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 2);
    kite_cmd_free(&r);
    assert_int_equal(query_offset(fd, "CGC", "TopicOff", 0), 1);
    /* Without the flag commitOffset is ignored. */
    assert_int_equal(kb_pull(fd, "CGC", "TopicOff", 0, 2, 32, 4, 2, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    assert_int_equal(query_offset(fd, "CGC", "TopicOff", 0), 1);
    assert_int_equal(kb_pull(fd, "CGC", "TopicOff", 0, 3, 32, 1 | 4, 3, 0, "*", &r), 0);
    assert_int_equal(r.code, 19);
    kite_cmd_free(&r);
    assert_int_equal(query_offset(fd, "CGC", "TopicOff", 0), 3);
}

/* Metadata made before a stop/kill; returns nothing, leaves the broker running. */
static void make_state(kt_daemon *b)
{
    int fd = bk_conn(b);
    create_topic(fd, "TopicMade", 3);
    char hb[4096];
    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@555#5", "CGP", "TopicMade", "*");
    bk_expect(fd, 34, "", hb, strlen(hb), 0);
    update_offset(fd, "CGP", "TopicMade", 2, 7);
    update_offset(fd, "CGP", "TopicMade", 0, 1);
    bk_send_ok(fd, "TopicMade", 2, NULL, "made-0", NULL);
    /* queue 3 of a 3-queue topic */
    kite_cmd r;
    assert_int_equal(kb_send_v2(fd, "TopicMade", 3, NULL, "x", 1, &r), 0);
    assert_int_equal(r.code, 1);
    kite_cmd_free(&r);
    bk_close(fd);
}

/* After a restart with auto-creation off: everything made before is still there. */
static void check_state(kt_daemon *b)
{
    int fd = bk_conn(b);
    assert_int_equal(query_offset(fd, "CGP", "TopicMade", 2), 7);
    assert_int_equal(query_offset(fd, "CGP", "TopicMade", 0), 1);
    /* The topic and its queue count. */
    bk_send_ok(fd, "TopicMade", 2, NULL, "made-1", NULL);
    kite_cmd r;
    assert_int_equal(kb_send_v2(fd, "TopicMade", 3, NULL, "x", 1, &r), 0);
    assert_int_equal(r.code, 1);
    kite_cmd_free(&r);
    assert_int_equal(kb_send_v2(fd, "TopicNeverMade", 0, NULL, "x", 1, &r), 0);
    assert_int_equal(r.code, 17);
    kite_cmd_free(&r);
    assert_int_equal(kb_call(fd, 21, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    const char *all = kt_body(&r);
    assert_non_null(strstr(
        all, "\"TopicMade\":{\"attributes\":{},\"order\":false,\"perm\":6,\"readQueueNums\":3,"));
    assert_non_null(strstr(all, "\"%RETRY%CGP\":{"));
    kite_cmd_free(&r);
    /* The subscription group: known (auto-creation is off now, so a new one is 26). */
    bk_wait_max(fd, "TopicMade", 2, 2);
    assert_int_equal(kb_pull(fd, "CGP", "TopicMade", 2, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 2);
    assert_memory_equal(rec[0].body, "made-0", 6);
    assert_memory_equal(rec[1].body, "made-1", 6);
    kite_cmd_free(&r);
    assert_int_equal(kb_pull(fd, "CGBrandNew", "TopicMade", 2, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 26);
    kite_cmd_free(&r);
    bk_close(fd);
}

#define RESTART_CONF "autoCreateTopicEnable=false\nautoCreateSubscriptionGroup=false\n"

/* Scenario: clean stop (SIGTERM, exit 0) and restart. */
static void test_persist_across_clean_stop(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    make_state(b);
    bk_stop_clean(b);
    bk_launch(b, NULL, RESTART_CONF);
    check_state(b);
}

/* Scenario: SIGKILL. Offsets committed > flushConsumerOffsetInterval before the kill,
 * and every acknowledged SYNC_FLUSH message, survive. */
static void test_persist_across_sigkill(void **st)
{
    (void)st;
    const char *conf = "flushConsumerOffsetInterval=200\nflushDiskType=SYNC_FLUSH\n";
    kt_daemon *b = bk_start_broker(NULL, conf);
    make_state(b);
    usleep(1000 * 1000); /* > flushConsumerOffsetInterval */

    int fd = bk_conn(b);
    int64_t phys[40];
    for (int i = 0; i < 40; i++) {
        char body[32];
        snprintf(body, sizeof body, "durable-%02d", i);
        assert_int_equal(bk_send_ok(fd, "TopicDur", 1, NULL, body, &phys[i]), i);
    }
    kt_kill9(b->pid); /* right after the last acknowledgement */
    b->pid = 0;
    bk_close(fd);

    bk_launch(b, NULL, "flushDiskType=SYNC_FLUSH\n" RESTART_CONF);
    check_state(b);
    fd = bk_conn(b);
    bk_wait_max(fd, "TopicDur", 1, 40);
    kite_cmd r;
    kite_record rec[40];
    int got = 0;
    while (got < 40) {
        assert_int_equal(kb_pull(fd, "CGP", "TopicDur", 1, got, 32, 4, 0, 0, "*", &r), 0);
        assert_int_equal(r.code, 0);
        int n = kb_records(r.body, r.body_len, rec, 40);
        assert_true(n > 0);
        for (int i = 0; i < n; i++) {
            char body[32];
            snprintf(body, sizeof body, "durable-%02d", got + i);
            assert_int_equal(rec[i].queue_offset, got + i);
            assert_int_equal(rec[i].phys_offset, phys[got + i]);
            assert_int_equal(rec[i].body_len, strlen(body));
            assert_memory_equal(rec[i].body, body, rec[i].body_len);
        }
        got += n;
        kite_cmd_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_update_query_commit, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_persist_across_clean_stop, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_persist_across_sigkill, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
