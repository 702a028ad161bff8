/* it_broker_retry.c - kite-broker CONSUMER_SEND_MSG_BACK (36), retry and dead letters
 * (docs/wire.md §5.4, §11): after a heartbeat %RETRY%G exists; a
 * pulled message sent back with delayLevel 0 (offset = its PHYSICALOFFSET) reappears in
 * %RETRY%G after the level-3 delay (short levels "2s 3s 1s": level 3 is the only 1 s one)
 * with RETRY_TOPIC = original topic, ORIGIN_MESSAGE_ID = its offset message id and
 * reconsumeTimes 1; a second send-back raises reconsumeTimes and keeps both properties;
 * with maxReconsumeTimes=2 in the header the third lands in %DLQ%G (reconsumeTimes 3,
 * registered with the name server with perm 6); delayLevel -1 goes straight to the
 * DLQ; a group's retryMaxTimes applies without the header; an unknown offset answers 1;
 * a group without auto-creation answers 26. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "kt_bkx.h"

#define LEVELS "messageDelayLevel=2s 3s 1s\n"

/* Sends back the record at phys for group; returns the answer code. */
static int send_back(int fd, int64_t phys, const char *group, int delay_level, int max_reconsume)
{
    char ext[512], maxf[64] = "";
    if (max_reconsume >= 0)
        snprintf(maxf, sizeof maxf, ",\"maxReconsumeTimes\":\"%d\"", max_reconsume);
    snprintf(
        ext, sizeof ext,
        "\"offset\":\"%lld\",\"group\":\"%s\",\"delayLevel\":\"%d\",\"originTopic\":\"TopicRT\","
        "\"unitMode\":\"false\"%s",
        (long long)phys, group, delay_level, maxf);
    return kb_call_code(fd, 36, ext, NULL, 0);
}

/* Long-polls (topic, 0) at off; asserts exactly one record, copies it (props/body kept
 * in *r, caller frees) and returns the ms since t0. */
static long long pull_one(int fd, const char *topic, int64_t off, long long t0, kite_cmd *r,
                          kite_record *rec)
{
    int op = kb_pull_send(fd, "GRT", topic, 0, off, 32, 4 | 2, 0, KT_DEADLINE_MS, "*");
    assert_true(op > 0);
    assert_int_equal(kb_wait_response(fd, op, r, KT_DEADLINE_MS + 5000), 0);
    long long dt = kt_now_ms() - t0;
    if (r->code != 0)
        fprintf(stderr, "pull %s@%lld: code %d %s\n", topic, (long long)off, r->code,
                r->remark ? r->remark : "");
    assert_int_equal(r->code, 0);
    assert_int_equal(kb_records(r->body, r->body_len, rec, 1), 1);
    assert_int_equal(rec->queue_offset, off);
    return dt;
}

static void expect_topic(const kite_record *rec, const char *topic)
{
    assert_int_equal((int)rec->topic_len, (int)strlen(topic));
    assert_memory_equal(rec->topic, topic, rec->topic_len);
}

static void expect_prop(const kite_record *rec, const char *name, const char *want)
{
    char v[256];
    int has = kx_prop(rec, name, v, sizeof v);
    if (!want) {
        if (has) fprintf(stderr, "unexpected property %s=%s\n", name, v);
        assert_false(has);
        return;
    }
    if (!has || strcmp(v, want) != 0)
        fprintf(stderr, "property %s: want %s got %s\n", name, want, has ? v : "(none)");
    assert_true(has);
    assert_string_equal(v, want);
}

/* Checks the copy: body, tag, RETRY_TOPIC, ORIGIN_MESSAGE_ID, reconsumeTimes, no DELAY. */
static void expect_copy(const kite_record *rec, const char *topic, int reconsume,
                        const char *origin_id)
{
    expect_topic(rec, topic);
    assert_int_equal(rec->queue_id, 0);
    assert_int_equal(rec->reconsume_times, reconsume);
    assert_int_equal(rec->body_len, 9);
    assert_memory_equal(rec->body, "fail-me-1", 9);
    expect_prop(rec, "TAGS", "TagR");
    expect_prop(rec, "KEYS", "k1");
    expect_prop(rec, "RETRY_TOPIC", "TopicRT");
    expect_prop(rec, "ORIGIN_MESSAGE_ID", origin_id);
    expect_prop(rec, "DELAY", NULL);
}

/* Scenario: retry, retry again, DLQ, delayLevel -1, unknown offset. */
static void test_retry_then_dlq(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    /* the periodic registration (60 s, the longest) cannot be what the route wait sees */
    kt_daemon *b = bk_start_broker(ns, LEVELS "registerNameServerPeriod=60000\n");
    int fd = bk_conn(b), cons = bk_conn(b);

    /* The heartbeat creates %RETRY%GRT (1 queue, perm 6). */
    char hb[4096];
    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@901#1", "GRT", "TopicRT", "*");
    bk_expect(cons, 34, "", hb, strlen(hb), 0);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 21, "", NULL, 0, &r), 0);
    assert_non_null(strstr(
        kt_body(&r),
        "\"%RETRY%GRT\":{\"attributes\":{},\"order\":false,\"perm\":6,\"readQueueNums\":1,"));
    kite_cmd_free(&r);

    int64_t phys0;
    bk_send_ok(fd, "TopicRT", 0, "TAGS\\u0001TagR\\u0002KEYS\\u0001k1\\u0002", "fail-me-1", &phys0);
    bk_wait_max(fd, "TopicRT", 0, 1);
    kite_record rec;
    pull_one(cons, "TopicRT", 0, kt_now_ms(), &r, &rec);
    assert_int_equal(rec.phys_offset, phys0); /* the PHYSICALOFFSET field */
    assert_int_equal(rec.reconsume_times, 0);
    kite_cmd_free(&r);
    char origin[33];
    bk_expect_msgid(b, phys0, origin);

    /* 1st send-back: level 3 (1 s) into %RETRY%GRT. */
    long long t0 = kt_now_ms();
    assert_int_equal(send_back(cons, phys0, "GRT", 0, 2), 0);
    bk_wait_max(fd, "SCHEDULE_TOPIC_XXXX", 2, 1); /* queue level-1 = 2 */
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 0, NULL, "offset"), 0);
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 1, NULL, "offset"), 0);
    long long dt = pull_one(cons, "%RETRY%GRT", 0, t0, &r, &rec);
    fprintf(stderr, "retry 1 arrived after %lld ms\n", dt);
    assert_true(dt >= 1000 - 10); /* not before the level-3 delay (the level: queue 2 above) */
    expect_copy(&rec, "%RETRY%GRT", 1, origin);
    expect_prop(&rec, "REAL_TOPIC", "%RETRY%GRT");
    expect_prop(&rec, "REAL_QID", "0");
    int64_t phys1 = rec.phys_offset;
    kite_cmd_free(&r);

    /* 2nd: level 3 + 1 = 4, clamped to the last level (3, 1 s); reconsumeTimes 2. */
    t0 = kt_now_ms();
    assert_int_equal(send_back(cons, phys1, "GRT", 0, 2), 0);
    dt = pull_one(cons, "%RETRY%GRT", 1, t0, &r, &rec);
    fprintf(stderr, "retry 2 arrived after %lld ms\n", dt);
    assert_true(dt >= 1000 - 10);
    expect_copy(&rec, "%RETRY%GRT", 2, origin);
    int64_t phys2 = rec.phys_offset;
    kite_cmd_free(&r);
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 2, NULL, "offset"), 2);

    /* 3rd: reconsumeTimes 2 >= maxReconsumeTimes 2: %DLQ%GRT at once, reconsumeTimes 3. */
    t0 = kt_now_ms();
    assert_int_equal(send_back(cons, phys2, "GRT", 0, 2), 0);
    pull_one(cons, "%DLQ%GRT", 0, t0, &r, &rec);
    expect_copy(&rec, "%DLQ%GRT", 3, origin);
    kite_cmd_free(&r);
    /* stored directly, not through the schedule topic */
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 0, NULL, "offset"), 0);
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 1, NULL, "offset"), 0);
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 2, NULL, "offset"), 2);
    assert_int_equal(kb_lookup(fd, 30, "%RETRY%GRT", 0, NULL, "offset"), 2);

    /* %DLQ%GRT is registered with the name server at once: 1 queue, perm 6. */
    char route[4096];
    assert_true(bk_wait_route(ns, "%DLQ%GRT", KT_DEADLINE_MS, route, sizeof route) >= 0);
    assert_non_null(strstr(route, "\"perm\":6"));
    assert_non_null(strstr(route, "\"readQueueNums\":1"));
    assert_non_null(strstr(route, "\"writeQueueNums\":1"));

    /* delayLevel -1: straight to the DLQ from the original (reconsumeTimes 0 -> 1). */
    assert_int_equal(send_back(cons, phys0, "GRT", -1, -1), 0);
    pull_one(cons, "%DLQ%GRT", 1, kt_now_ms(), &r, &rec);
    expect_copy(&rec, "%DLQ%GRT", 1, origin);
    kite_cmd_free(&r);

    /* An offset with no message, and one that is not the start of a record: code 1. */
    assert_int_equal(send_back(cons, phys2 + 1000000, "GRT", 0, 2), 1);
    assert_int_equal(send_back(cons, phys0 + 3, "GRT", 0, 2), 1);
    assert_int_equal(send_back(cons, -5, "GRT", 0, 2), 1);
    /* Nothing new was stored by the refused ones. */
    usleep(200 * 1000);
    assert_int_equal(kb_lookup(fd, 30, "%DLQ%GRT", 0, NULL, "offset"), 2);
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 2, NULL, "offset"), 2);
}

/* Scenario: without maxReconsumeTimes the group's retryMaxTimes decides; an explicit
 * delay level is used as given; the originMsgId header is kept. */
static void test_group_retry_max_and_level(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, LEVELS);
    int fd = bk_conn(b);
    const char *grp =
        "{\"groupName\":\"GMAX\",\"consumeEnable\":true,\"consumeFromMinEnable\":true,"
        "\"consumeBroadcastEnable\":true,\"retryQueueNums\":1,\"retryMaxTimes\":1,\"brokerId\":0,"
        "\"whichBrokerWhenConsumeSlowly\":1,\"notifyConsumerIdsChangedEnable\":true}";
    bk_expect(fd, 200, "", grp, strlen(grp), 0);

    int64_t phys0;
    bk_send_ok(fd, "TopicRT", 0, "TAGS\\u0001TagR\\u0002KEYS\\u0001k1\\u0002", "fail-me-1", &phys0);
    bk_wait_max(fd, "TopicRT", 0, 1);

    /* Explicit level 1 (2 s): SCHEDULE queue 0; with an originMsgId header. */
    long long t0 = kt_now_ms();
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"offset\":\"%lld\",\"group\":\"GMAX\",\"delayLevel\":\"1\",\"originMsgId\":\"AABBCCDDEEFF00112233445566778899\"",
        (long long)phys0);
    bk_expect(fd, 36, ext, NULL, 0, 0);
    bk_wait_max(fd, "SCHEDULE_TOPIC_XXXX", 0, 1);
    kite_cmd r;
    kite_record rec;
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 1, NULL, "offset"), 0);
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 2, NULL, "offset"), 0);
    int op = kb_pull_send(fd, "GMAX", "%RETRY%GMAX", 0, 0, 32, 4 | 2, 0, KT_DEADLINE_MS, "*");
    assert_int_equal(kb_wait_response(fd, op, &r, KT_DEADLINE_MS + 5000), 0);
    long long dt = kt_now_ms() - t0;
    fprintf(stderr, "explicit level 1 arrived after %lld ms\n", dt);
    assert_true(dt >= 2000 - 10); /* not before level 1's delay (the level: queue 0 above) */
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, &rec, 1), 1);
    expect_copy(&rec, "%RETRY%GMAX", 1, "AABBCCDDEEFF00112233445566778899");
    int64_t phys1 = rec.phys_offset;
    kite_cmd_free(&r);

    /* reconsumeTimes 1 >= retryMaxTimes 1 (no header): dead letter. */
    snprintf(ext, sizeof ext, "\"offset\":\"%lld\",\"group\":\"GMAX\",\"delayLevel\":\"0\"",
             (long long)phys1);
    bk_expect(fd, 36, ext, NULL, 0, 0);
    bk_wait_max(fd, "%DLQ%GMAX", 0, 1);
    assert_int_equal(kb_pull(fd, "GMAX", "%DLQ%GMAX", 0, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, &rec, 1), 1);
    expect_copy(&rec, "%DLQ%GMAX", 2, "AABBCCDDEEFF00112233445566778899");
    kite_cmd_free(&r);

    /* retryQueueNums 0: the send-back is acknowledged and the message dropped. */
    const char *zero = "{\"groupName\":\"GZERO\",\"retryQueueNums\":0,\"retryMaxTimes\":16}";
    bk_expect(fd, 200, "", zero, strlen(zero), 0);
    int64_t sched = kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 2, NULL, "offset");
    snprintf(ext, sizeof ext, "\"offset\":\"%lld\",\"group\":\"GZERO\",\"delayLevel\":\"0\"",
             (long long)phys0);
    bk_expect(fd, 36, ext, NULL, 0, 0);
    snprintf(ext, sizeof ext, "\"offset\":\"%lld\",\"group\":\"GZERO\",\"delayLevel\":\"-1\"",
             (long long)phys0);
    bk_expect(fd, 36, ext, NULL, 0, 0);
    usleep(200 * 1000);
    assert_int_equal(kb_lookup(fd, 30, "SCHEDULE_TOPIC_XXXX", 2, NULL, "offset"), sched);
    assert_int_equal(kb_lookup(fd, 30, "%DLQ%GZERO", 0, NULL, "offset"), 0);
    assert_int_equal(kb_call(fd, 21, "", NULL, 0, &r), 0);
    assert_null(strstr(kt_body(&r), "GZERO"));
    kite_cmd_free(&r);
}

/* Scenario: with autoCreateSubscriptionGroup=false an unknown group answers 26. */
static void test_unknown_group(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, LEVELS "autoCreateSubscriptionGroup=false\n");
    int fd = bk_conn(b);
    int64_t phys0;
    bk_send_ok(fd, "TopicRT", 0, NULL, "x", &phys0);
    char ext[256];
    snprintf(ext, sizeof ext, "\"offset\":\"%lld\",\"group\":\"GNone\",\"delayLevel\":\"0\"",
             (long long)phys0);
    bk_expect(fd, 36, ext, NULL, 0, 26);
    bk_expect(fd, 36, "\"group\":\"GNone\",\"delayLevel\":\"0\"", NULL, 0, 1); /* offset missing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retry_then_dlq, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_group_retry_max_and_level, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_group, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
