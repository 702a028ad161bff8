/* it_namesrv_codes.c - kite-namesrv request codes that no other test sent, each over the
 * wire with its visible effect: REGISTER_TOPIC_IN_NAMESRV (217) merging queue data into
 * a route (queue data of a broker the name server does not know is ignored),
 * GET_SYSTEM_TOPIC_LIST_FROM_NS (304), the unit topic lists by topicSysFlag bits
 * (311 unit, 312 unit-sub, 313 unit-sub but not unit; switched off with
 * enableTopicList), GET_BROKER_MEMBER_GROUP (901) and BROKER_HEARTBEAT (904), which
 * keeps a broker alive without a registration. Version 479 (5.3.3) where the code is a
 * 5.x one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ns_common.h"

#define A0 "10.21.0.1:10911"
#define A1 "10.21.0.2:10911"
#define B0 "10.21.0.3:10911"
#define C0 "10.21.0.4:10911"

/* One queueData entry, as in a TopicRouteData body and in a route answer. */
#define QD(name, r, w, perm, sysflag)                                       \
    "{\"brokerName\":\"" name "\",\"perm\":" #perm ",\"readQueueNums\":" #r \
    ",\"topicSysFlag\":" #sysflag ",\"writeQueueNums\":" #w "}"
#define BD_A_QUOTED                 \
    "{\"brokerAddrs\":{\"0\":\"" A0 \
    "\"},\"brokerName\":\"broker-a\",\"cluster\":\"C1\",\"enableActingMaster\":false}"
#define BD_B_QUOTED                 \
    "{\"brokerAddrs\":{\"0\":\"" B0 \
    "\"},\"brokerName\":\"broker-b\",\"cluster\":\"C1\",\"enableActingMaster\":false}"

/* A TopicConfig entry with a topicSysFlag (nt_topic_json writes 0). */
static void topic_flag_json(char *out, size_t n, const char *topic, int sysflag)
{
    snprintf(
        out, n,
        "\"%s\":{\"order\":false,\"perm\":6,\"readQueueNums\":4,\"topicFilterType\":\"SINGLE_TAG\","
        "\"topicName\":\"%s\",\"topicSysFlag\":%d,\"writeQueueNums\":4}",
        topic, topic, sysflag);
}

/* Registers a master with one plain topic of its own. */
static void register_one(int fd, const char *cluster, const char *name, int id, const char *addr,
                         const char *topic)
{
    char t[512], body[1024];
    nt_topic_json(t, sizeof t, topic, 4, 6);
    nt_body_json(body, sizeof body, 1, t);
    char ha[64];
    snprintf(ha, sizeof ha, "%s-ha", addr);
    nt_register_plain(fd, cluster, name, id, addr, ha, body);
}

/* REGISTER_TOPIC_IN_NAMESRV (217) with a TopicRouteData body. */
static void register_topic(int fd, const char *topic, const char *queue_datas, int want)
{
    char ext[256], body[2048];
    snprintf(ext, sizeof ext, "\"topic\":\"%s\"", topic);
    snprintf(body, sizeof body, "{\"brokerDatas\":[],\"filterServerTable\":{},\"queueDatas\":[%s]}",
             queue_datas);
    nt_expect(fd, 217, 479, ext, body, strlen(body), want);
}

/* 217: a new topic gets a route, an existing one is merged per broker, a broker the name
 * server does not know registers nothing; the topic goes with its broker. */
static void test_register_topic(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int a = nt_conn(d), b = nt_conn(d), q = nt_conn(d);
    register_one(a, "C1", "broker-a", 0, A0, "TopicBaseA");
    register_one(b, "C1", "broker-b", 0, B0, "TopicBaseB");
    assert_int_equal(nt_route_code(q, "TopicReg"), 17);

    /* A new topic on broker-a: routable at once, listed. */
    register_topic(q, "TopicReg", QD("broker-a", 2, 2, 6, 0), 0);
    nt_expect_route(q, "TopicReg", 479, "",
                    "{\"brokerDatas\":[" BD_A_QUOTED "],\"filterServerTable\":{},"
                    "\"queueDatas\":[" QD("broker-a", 2, 2, 6, 0) "]}");
    nt_expect_body(q, 206, "", "{\"topicList\":[\"TopicBaseA\",\"TopicBaseB\",\"TopicReg\"]}");

    /* Merged: broker-a's entry replaced, broker-b's added. */
    register_topic(q, "TopicReg", QD("broker-a", 8, 6, 4, 0) "," QD("broker-b", 3, 3, 6, 0), 0);
    nt_expect_route(q, "TopicReg", 479, "",
                    "{\"brokerDatas\":[" BD_A_QUOTED "," BD_B_QUOTED
                    "],\"filterServerTable\":{},\"queueDatas\":[" QD("broker-a", 8, 6, 4, 0) "," QD(
                        "broker-b", 3, 3, 6, 0) "]}");
    /* Only broker-b named: broker-a's entry stays as it was. */
    register_topic(q, "TopicReg", QD("broker-b", 5, 5, 6, 0), 0);
    nt_expect_route(q, "TopicReg", 479, "",
                    "{\"brokerDatas\":[" BD_A_QUOTED "," BD_B_QUOTED
                    "],\"filterServerTable\":{},\"queueDatas\":[" QD("broker-a", 8, 6, 4, 0) "," QD(
                        "broker-b", 5, 5, 6, 0) "]}");
    /* The topic is served by cluster C1 now (224). */
    nt_expect_body(q, 224, "\"cluster\":\"C1\"",
                   "{\"topicList\":[\"TopicBaseA\",\"TopicBaseB\",\"TopicReg\"]}");

    /* A broker the name server does not know: answered 0, nothing registered (a route
     * naming a broker without an address would send consumers nowhere). */
    register_topic(q, "TopicGhost", QD("broker-x", 4, 4, 6, 0), 0);
    assert_int_equal(nt_route_code(q, "TopicGhost"), 17);
    register_topic(q, "TopicReg", QD("broker-a", 1, 1, 6, 0) "," QD("broker-x", 4, 4, 6, 0), 0);
    nt_expect_route(q, "TopicReg", 479, "",
                    "{\"brokerDatas\":[" BD_A_QUOTED "," BD_B_QUOTED
                    "],\"filterServerTable\":{},\"queueDatas\":[" QD("broker-a", 8, 6, 4, 0) "," QD(
                        "broker-b", 5, 5, 6, 0) "]}");
    nt_expect_body(q, 206, "", "{\"topicList\":[\"TopicBaseA\",\"TopicBaseB\",\"TopicReg\"]}");

    /* No body or no queue data: nothing to do, success. Missing topic or a body that is
     * not a TopicRouteData: code 1. */
    nt_expect(q, 217, 479, "\"topic\":\"TopicEmpty\"", NULL, 0, 0);
    register_topic(q, "TopicEmpty", "", 0);
    assert_int_equal(nt_route_code(q, "TopicEmpty"), 17);
    kite_cmd r;
    nt_req(q, 217, 479, "", NULL, 0, &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "the custom field <topic> is null");
    kite_cmd_free(&r);
    nt_expect(q, 217, 479, "\"topic\":\"TopicBad\"", "{\"queueDatas\":[", 14, 1);
    assert_int_equal(nt_route_code(q, "TopicBad"), 17);

    /* broker-a goes (its connection closes): the topic keeps only broker-b. */
    nt_close(a);
    long long t0 = kt_now_ms();
    for (;;) {
        kite_cmd rr;
        nt_route(q, "TopicReg", 479, "", &rr);
        assert_int_equal(rr.code, 0);
        int done = strcmp(kt_body(&rr), "{\"brokerDatas\":[" BD_B_QUOTED
                                        "],\"filterServerTable\":{},\"queueDatas\":[" QD(
                                            "broker-b", 5, 5, 6, 0) "]}") == 0;
        kite_cmd_free(&rr);
        if (done) break;
        assert_true(kt_now_ms() - t0 < KT_DEADLINE_MS);
        usleep(20000);
    }
}

/* 304: every cluster and broker name, and the address of a master. */
static void test_system_topic_list(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int q = nt_conn(d);
    /* Nothing registered: an empty list and no brokerAddr. */
    nt_expect_body(q, 304, "", "{\"topicList\":[]}");

    int a0 = nt_conn(d), a1 = nt_conn(d), b = nt_conn(d), c = nt_conn(d);
    register_one(a1, "C1", "broker-a", 1, A1, "TopicA"); /* a slave: no master address yet */
    nt_expect_body(q, 304, "", "{\"topicList\":[\"C1\",\"broker-a\"]}");
    register_one(a0, "C1", "broker-a", 0, A0, "TopicA");
    register_one(b, "C1", "broker-b", 0, B0, "TopicB");
    register_one(c, "C2", "broker-c", 0, C0, "TopicC");
    nt_expect_body(q, 304, "",
                   "{\"brokerAddr\":\"" A0
                   "\",\"topicList\":[\"C1\",\"C2\",\"broker-a\",\"broker-b\",\"broker-c\"]}");

    /* C2's only broker goes: its cluster and name leave the list. */
    nt_close(c);
    long long t0 = kt_now_ms();
    for (;;) {
        kite_cmd r;
        nt_req(q, 304, 409, "", NULL, 0, &r);
        assert_int_equal(r.code, 0);
        const char *want =
            "{\"brokerAddr\":\"" A0 "\",\"topicList\":[\"C1\",\"broker-a\",\"broker-b\"]}";
        int done = strcmp(kt_body(&r), want) == 0;
        kite_cmd_free(&r);
        if (done) break;
        assert_true(kt_now_ms() - t0 < KT_DEADLINE_MS);
        usleep(20000);
    }
}

/* 311-313 by topicSysFlag (bit 0 unit, bit 1 unit-sub); off with enableTopicList=false. */
static void test_unit_topic_lists(void **st)
{
    (void)st;
    kt_daemon *d = nt_start("remoteConfigUpdateEnable=true");
    int b = nt_conn(d), q = nt_conn(d);
    char t[4][512], tt[2200], body[2600];
    topic_flag_json(t[0], sizeof t[0], "TopicPlain", 0);
    topic_flag_json(t[1], sizeof t[1], "TopicUnit", 1);
    topic_flag_json(t[2], sizeof t[2], "TopicSub", 2);
    topic_flag_json(t[3], sizeof t[3], "TopicUnitSub", 3);
    snprintf(tt, sizeof tt, "%s,%s,%s,%s", t[0], t[1], t[2], t[3]);
    nt_body_json(body, sizeof body, 1, tt);
    nt_register_plain(b, "CU", "broker-u", 0, "10.21.1.1:10911", "10.21.1.1:10912", body);

    nt_expect_body(q, 311, "", "{\"topicList\":[\"TopicUnit\",\"TopicUnitSub\"]}");
    nt_expect_body(q, 312, "", "{\"topicList\":[\"TopicSub\",\"TopicUnitSub\"]}");
    nt_expect_body(q, 313, "", "{\"topicList\":[\"TopicSub\"]}");

    /* A topic registered with 217 and the unit flag joins the unit list. */
    register_topic(q, "TopicLater", QD("broker-u", 4, 4, 6, 1), 0);
    nt_expect_body(q, 311, "", "{\"topicList\":[\"TopicLater\",\"TopicUnit\",\"TopicUnitSub\"]}");
    nt_expect_body(q, 313, "", "{\"topicList\":[\"TopicSub\"]}");

    /* Switched off at run time: code 1 "disable" for all three. */
    const char *off = "enableTopicList=false\n";
    nt_expect(q, 318, 409, "", off, strlen(off), 0);
    for (int code = 311; code <= 313; code++) {
        kite_cmd r;
        nt_req(q, code, 479, "", NULL, 0, &r);
        assert_int_equal(r.code, 1);
        assert_string_equal(r.remark, "disable");
        assert_int_equal(r.body_len, 0);
        kite_cmd_free(&r);
    }
}

/* 901: the addresses of one broker group, by id. */
static void test_broker_member_group(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int a0 = nt_conn(d), a1 = nt_conn(d), q = nt_conn(d);
    register_one(a0, "C1", "broker-a", 0, A0, "TopicA");
    register_one(a1, "C1", "broker-a", 1, A1, "TopicA");
    nt_expect_body(q, 901, "\"clusterName\":\"C1\",\"brokerName\":\"broker-a\"",
                   "{\"brokerMemberGroup\":{\"brokerAddrs\":{0:\"" A0 "\",1:\"" A1
                   "\"},\"brokerName\":\"broker-a\",\"cluster\":\"C1\"}}");
    /* Unknown group (or one of another cluster): empty addresses, names echoed. */
    nt_expect_body(
        q, 901, "\"clusterName\":\"C1\",\"brokerName\":\"broker-z\"",
        "{\"brokerMemberGroup\":{\"brokerAddrs\":{},\"brokerName\":\"broker-z\",\"cluster\":\"C1\"}}");
    nt_expect_body(
        q, 901, "\"clusterName\":\"C9\",\"brokerName\":\"broker-a\"",
        "{\"brokerMemberGroup\":{\"brokerAddrs\":{},\"brokerName\":\"broker-a\",\"cluster\":\"C9\"}}");
    /* The slave goes: only the master is left. */
    nt_close(a1);
    long long t0 = kt_now_ms();
    for (;;) {
        kite_cmd r;
        nt_req(q, 901, 479, "\"clusterName\":\"C1\",\"brokerName\":\"broker-a\"", NULL, 0, &r);
        assert_int_equal(r.code, 0);
        int done = strcmp(kt_body(&r), "{\"brokerMemberGroup\":{\"brokerAddrs\":{0:\"" A0
                                       "\"},\"brokerName\":\"broker-a\",\"cluster\":\"C1\"}}") == 0;
        kite_cmd_free(&r);
        if (done) break;
        assert_true(kt_now_ms() - t0 < KT_DEADLINE_MS);
        usleep(20000);
    }
    /* Both names are mandatory. */
    kite_cmd r;
    nt_req(q, 901, 479, "\"clusterName\":\"C1\"", NULL, 0, &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "the custom field <brokerName> is null");
    kite_cmd_free(&r);
    nt_req(q, 901, 479, "\"brokerName\":\"broker-a\"", NULL, 0, &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "the custom field <clusterName> is null");
    kite_cmd_free(&r);
}

/* BROKER_HEARTBEAT (904) for a broker of cluster CH, every field a 5.x broker sends. */
static void heartbeat(int fd, const char *addr, const char *name)
{
    char ext[300];
    snprintf(
        ext, sizeof ext,
        "\"clusterName\":\"CH\",\"brokerAddr\":\"%s\",\"brokerName\":\"%s\",\"brokerId\":\"0\","
        "\"epoch\":\"0\",\"maxOffset\":\"0\",\"confirmOffset\":\"0\",\"heartbeatTimeoutMills\":\"1000\","
        "\"electionPriority\":\"0\"",
        addr, name);
    nt_expect(fd, 904, 479, ext, NULL, 0, 0);
}

/* 904 refreshes liveness: of two brokers registered together, the silent one expires
 * while the one sending heartbeats stays; once the heartbeats stop it expires too. */
static void test_broker_heartbeat(void **st)
{
    (void)st;
    kt_daemon *d = nt_start("brokerExpireMillis=1000\nscanNotActiveBrokerInterval=100");
    int h = nt_conn(d), s = nt_conn(d), q = nt_conn(d);
    register_one(h, "CH", "broker-h", 0, "10.21.2.1:10911", "TopicBeat");
    register_one(s, "CH", "broker-s", 0, "10.21.2.2:10911", "TopicSilent");

    long long t0 = kt_now_ms(), last = 0;
    int silent_gone = 0;
    while (!silent_gone && kt_now_ms() - t0 < KT_DEADLINE_MS) {
        if (kt_now_ms() - last >= 100) {
            heartbeat(h, "10.21.2.1:10911", "broker-h");
            last = kt_now_ms();
        }
        silent_gone = nt_route_code(q, "TopicSilent") == 17;
        usleep(20000);
    }
    fprintf(stderr, "silent broker expired after %lld ms\n", kt_now_ms() - t0);
    assert_true(silent_gone);
    /* At that moment the broker that sent heartbeats (registered earlier) is there. */
    assert_int_equal(nt_route_code(q, "TopicBeat"), 0);
    nt_expect_body(q, 224, "\"cluster\":\"CH\"", "{\"topicList\":[\"TopicBeat\"]}");

    /* A heartbeat for an address that never registered creates nothing. */
    heartbeat(q, "10.21.2.9:10911", "broker-n");
    nt_expect_body(q, 106, "",
                   "{\"brokerAddrTable\":{\"broker-h\":{\"brokerAddrs\":{0:\"10.21.2.1:10911\"},"
                   "\"brokerName\":\"broker-h\",\"cluster\":\"CH\",\"enableActingMaster\":false}},"
                   "\"clusterAddrTable\":{\"CH\":[\"broker-h\"]}}");
    /* Mandatory fields. */
    kite_cmd r;
    nt_req(q, 904, 479, "\"brokerAddr\":\"10.21.2.1:10911\",\"brokerName\":\"broker-h\"", NULL, 0,
           &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "the custom field <clusterName> is null");
    kite_cmd_free(&r);

    /* Heartbeats stop: it expires (its connection is still open). */
    assert_true(nt_wait_route_code(q, "TopicBeat", 17, 15000) >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_topic, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_system_topic_list, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_unit_topic_lists, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_broker_member_group, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_broker_heartbeat, nt_setup, nt_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
