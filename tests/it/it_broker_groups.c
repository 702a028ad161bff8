/* it_broker_groups.c - kite-broker consumer groups (docs/wire.md §5.6, §6.1, §6.5,
 * §7, §2.4): HEART_BEAT with Java-shaped and C++-shaped HeartbeatData,
 * GET_CONSUMER_LIST_BY_GROUP, the %RETRY%<group> topic registered with the name server,
 * NOTIFY_CONSUMER_IDS_CHANGED (oneway request frames on the member's own connection)
 * when a member joins or its connection closes, pulls without the SUBSCRIPTION flag
 * using the heartbeat's subscription (and 24 without one), UNREGISTER_CLIENT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include <poll.h>

static void heartbeat(int fd, const char *body) { bk_expect(fd, 34, "", body, strlen(body), 0); }

/* Asserts the next broker request on fd is NOTIFY_CONSUMER_IDS_CHANGED for group. */
static void expect_notify(int fd, const char *group, int timeout_ms)
{
    kite_cmd n;
    assert_int_equal(kb_server_request(fd, &n, timeout_ms), 0);
    assert_int_equal(n.code, 40);
    assert_int_equal(n.flag, KITE_FLAG_ONEWAY);
    assert_non_null(kite_cmd_ext(&n, "consumerGroup"));
    assert_string_equal(kite_cmd_ext(&n, "consumerGroup"), group);
    kite_cmd_free(&n);
}

static void expect_no_request(int fd, int ms)
{
    kite_cmd n;
    assert_int_equal(kb_server_request(fd, &n, ms), -1);
}

static void expect_list(int fd, const char *group, const char *want_body)
{
    char ext[256];
    snprintf(ext, sizeof ext, "\"consumerGroup\":\"%s\"", group);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 38, ext, NULL, 0, &r), 0);
    if (!want_body) {
        assert_int_equal(r.code, 1);
        assert_non_null(r.remark);
        assert_non_null(strstr(r.remark, "no consumer for this group"));
    } else {
        assert_int_equal(r.code, 0);
        assert_string_equal(kt_body(&r), want_body);
    }
    kite_cmd_free(&r);
}

/* Waits until the member list of group equals want (the close of a connection is seen
 * by the broker asynchronously). */
static void wait_list(int fd, const char *group, const char *want)
{
    char ext[256];
    snprintf(ext, sizeof ext, "\"consumerGroup\":\"%s\"", group);
    long long t0 = kt_now_ms();
    for (;;) {
        kite_cmd r;
        assert_int_equal(kb_call(fd, 38, ext, NULL, 0, &r), 0);
        int ok = r.code == 0 && strcmp(kt_body(&r), want) == 0;
        kite_cmd_free(&r);
        if (ok) return;
        assert_true(kt_now_ms() - t0 < KT_DEADLINE_MS);
        usleep(10000);
    }
}

/* Scenario: two members, notifications on join and close, list, unregister. */
static void test_membership_and_notify(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    /* the periodic registration (60 s, the longest) cannot be what the route wait sees */
    kt_daemon *b = bk_start_broker(ns, "registerNameServerPeriod=60000\n");
    int c1 = bk_conn(b), c2 = bk_conn(b), adm = bk_conn(b);
    char hb[4096];

    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@111#1", "CG1", "TopicCG", "*");
    heartbeat(c1, hb);
    expect_notify(c1, "CG1", KT_DEADLINE_MS); /* the group changed: every member, the new one too */
    expect_list(adm, "CG1", "{\"consumerIdList\":[\"127.0.0.1@111#1\"]}");

    /* %RETRY%CG1 is created and registered with the name server at once (not by the
     * periodic registration). */
    char route[4096];
    assert_true(bk_wait_route(ns, "%RETRY%CG1", KT_DEADLINE_MS, route, sizeof route) >= 0);
    assert_non_null(strstr(route, "\"readQueueNums\":1"));
    assert_non_null(strstr(route, "\"perm\":6"));

    /* The same heartbeat again changes nothing: no notification. */
    heartbeat(c1, hb);
    expect_no_request(c1, 300);

    /* A second member: the first is told on its own connection. */
    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@222#2", "CG1", "TopicCG", "*");
    heartbeat(c2, hb);
    expect_notify(c1, "CG1", KT_DEADLINE_MS);
    expect_notify(c2, "CG1", KT_DEADLINE_MS);
    char ext[128];
    snprintf(ext, sizeof ext, "\"consumerGroup\":\"CG1\"");
    kite_cmd r;
    assert_int_equal(kb_call(adm, 38, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    const char *body = kt_body(&r);
    assert_true(
        strcmp(body, "{\"consumerIdList\":[\"127.0.0.1@111#1\",\"127.0.0.1@222#2\"]}") == 0 ||
        strcmp(body, "{\"consumerIdList\":[\"127.0.0.1@222#2\",\"127.0.0.1@111#1\"]}") == 0);
    kite_cmd_free(&r);
    expect_no_request(c1, 200);

    /* The second member's connection closes: the first is told again, the list shrinks. */
    bk_close(c2);
    expect_notify(c1, "CG1", KT_DEADLINE_MS);
    wait_list(adm, "CG1", "{\"consumerIdList\":[\"127.0.0.1@111#1\"]}");

    /* UNREGISTER_CLIENT removes the last member. */
    bk_expect(adm, 35, "\"clientID\":\"127.0.0.1@111#1\",\"consumerGroup\":\"CG1\"", NULL, 0, 0);
    expect_list(adm, "CG1", NULL);
    expect_list(adm, "NoSuchGroup", NULL);
}

/* Scenario: pulls without the SUBSCRIPTION flag use the heartbeat's subscription;
 * C++-shaped HeartbeatData (ordinal enums, string subVersion, codeSet of zeros). */
static void test_heartbeat_subscription_and_cpp_body(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b), prod = bk_conn(b);
    const char *tags[4] = { "TagA", "TagB", "TagC", "TagB" };
    for (int i = 0; i < 4; i++) {
        char pj[64], body[16];
        snprintf(pj, sizeof pj, "TAGS\\u0001%s\\u0002", tags[i]);
        snprintf(body, sizeof body, "s%d", i);
        bk_send_ok(prod, "TopicHB", 0, pj, body, NULL);
    }
    bk_wait_max(prod, "TopicHB", 0, 4);
    bk_send_ok(prod, "TopicHB2", 0, NULL, "x", NULL);

    /* Java body subscribing TopicHB with "TagB". */
    char hb[4096];
    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@333#3", "CGJ", "TopicHB", "TagB");
    heartbeat(fd, hb);
    kite_cmd r;
    kite_record rec[8];
    assert_int_equal(kb_pull(fd, "CGJ", "TopicHB", 0, 0, 32, 2, 0, 1000, NULL, &r), 0);
    assert_int_equal(r.code, 0);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 2);
    assert_memory_equal(rec[0].body, "s1", 2);
    assert_memory_equal(rec[1].body, "s3", 2);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 4);
    kite_cmd_free(&r);
    /* The group has no subscription for TopicHB2, and an unknown group has none at all. */
    assert_int_equal(kb_pull(fd, "CGJ", "TopicHB2", 0, 0, 32, 0, 0, 0, NULL, &r), 0);
    assert_int_equal(r.code, 24);
    kite_cmd_free(&r);
    assert_int_equal(kb_pull(fd, "CGNobody", "TopicHB", 0, 0, 32, 0, 0, 0, NULL, &r), 0);
    assert_int_equal(r.code, 24);
    kite_cmd_free(&r);
    /* With the SUBSCRIPTION flag the request's expression wins. */
    assert_int_equal(kb_pull(fd, "CGJ", "TopicHB", 0, 0, 32, 4, 0, 0, "TagA || TagC", &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 2);
    assert_memory_equal(rec[0].body, "s0", 2);
    assert_memory_equal(rec[1].body, "s2", 2);
    kite_cmd_free(&r);

    /* C++ client: ordinals, subVersion as a string, no expressionType, codeSet = atoi. */
    const char *cpp =
        "{\"clientID\":\"10.1.1.1@4242\",\"consumerDataSet\":[{\"consumeFromWhere\":4,\"consumeType\":1,"
        "\"groupName\":\"CGCPP\",\"messageModel\":1,\"subscriptionDataSet\":[{\"codeSet\":[0,0],"
        "\"subString\":\"TagA || TagC\",\"subVersion\":\"1700000000000\",\"tagsSet\":[\"TagA\",\"TagC\"],"
        "\"topic\":\"TopicHB\"}],\"unitMode\":false}],\"producerDataSet\":[]}";
    int cfd = bk_conn(b);
    heartbeat(cfd, cpp);
    expect_list(fd, "CGCPP", "{\"consumerIdList\":[\"10.1.1.1@4242\"]}");
    assert_int_equal(kb_pull(cfd, "CGCPP", "TopicHB", 0, 0, 32, 0, 0, 0, NULL, &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 2);
    assert_memory_equal(rec[0].body, "s0", 2);
    assert_memory_equal(rec[1].body, "s2", 2);
    kite_cmd_free(&r);
    expect_notify(cfd, "CGCPP", KT_DEADLINE_MS);

    /* A heartbeat that drops the subscription: pulls answer 24 again. */
    const char *nosub =
        "{\"clientID\":\"10.1.1.1@4242\",\"consumerDataSet\":[{\"consumeFromWhere\":4,"
        "\"consumeType\":1,\"groupName\":\"CGCPP\",\"messageModel\":1,\"subscriptionDataSet\":[],"
        "\"unitMode\":false}],\"producerDataSet\":[]}";
    heartbeat(cfd, nosub);
    assert_int_equal(kb_pull(cfd, "CGCPP", "TopicHB", 0, 0, 32, 0, 0, 0, NULL, &r), 0);
    assert_int_equal(r.code, 24);
    kite_cmd_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_membership_and_notify, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_subscription_and_cpp_body, bk_setup,
                                        bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
