/* it_namesrv_expiry.c - kite-namesrv broker liveness over TCP: a broker disappears at
 * once when the connection it registered on closes, and after brokerExpireMillis
 * without a registration while that connection stays open (scanned every
 * scanNotActiveBrokerInterval); an expired master leaves its live slave's group in
 * the route as {1:...}; an idle connection (serverChannelMaxIdleTimeSeconds) is
 * closed, which expires its broker; reconnects, slave promotion, a broker that
 * changed cluster, heartbeatTimeoutMillis (docs/wire.md §4.1, §4.5). Expiry times
 * are long enough (2 s, 3 s) that a test thread descheduled for a second still keeps
 * alive what it keeps alive; removals are awaited with generous deadlines and checked
 * only for "not before its time". */

/* brokerExpireMillis of the expiry tests; the keepers re-register every 150 ms. */
#define EXPIRE_MS 2000
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ns_common.h"

static void topic_body(char *body, size_t n, const char *topic)
{
    char t[512];
    nt_topic_json(t, sizeof t, topic, 4, 6);
    nt_body_json(body, n, 1, t);
}

/* Closing the registering connection removes the broker at once. */
static void test_expire_on_close(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int b = nt_conn(d), b2 = nt_conn(d), q = nt_conn(d);
    char body[1024];
    topic_body(body, sizeof body, "TopicE");
    nt_register_plain(b, "CE", "broker-e", 0, "10.6.0.1:10911", "10.6.0.1:10912", body);
    topic_body(body, sizeof body, "TopicF");
    nt_register_plain(b2, "CE", "broker-f", 0, "10.6.0.2:10911", "10.6.0.2:10912", body);
    assert_int_equal(nt_route_code(q, "TopicE"), 0);

    nt_close(b);
    long long waited = nt_wait_route_code(q, "TopicE", 17, KT_DEADLINE_MS);
    assert_true(waited >= 0);
    /* Only that broker went: the other one, registered on another connection, stays. */
    assert_int_equal(nt_route_code(q, "TopicF"), 0);
    nt_expect_body(
        q, 106, "",
        "{\"brokerAddrTable\":{\"broker-f\":{\"brokerAddrs\":{0:\"10.6.0.2:10911\"},\"brokerName\":\"broker-f\","
        "\"cluster\":\"CE\",\"enableActingMaster\":false}},\"clusterAddrTable\":{\"CE\":[\"broker-f\"]}}");

    /* A master and its slave on separate connections: closing the master's keeps the
     * group with only the slave, queue data intact. */
    int m = nt_conn(d), s = nt_conn(d);
    topic_body(body, sizeof body, "TopicMS");
    nt_register_plain(m, "CE", "broker-g", 0, "10.6.0.3:10911", "10.6.0.3:10912", body);
    nt_register_plain(s, "CE", "broker-g", 1, "10.6.0.4:10911", "10.6.0.4:10912", body);
    nt_close(m);
    const char *slave_only =
        "{\"brokerDatas\":[{\"brokerAddrs\":{1:\"10.6.0.4:10911\"},\"brokerName\":\"broker-g\",\"cluster\":\"CE\","
        "\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-g\",\"perm\":6,"
        "\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4}]}";
    long long t0 = kt_now_ms();
    for (;;) {
        kite_cmd r;
        nt_route(q, "TopicMS", 300, "", &r);
        assert_int_equal(r.code, 0);
        int done = strcmp(kt_body(&r), slave_only) == 0;
        kite_cmd_free(&r);
        if (done) break;
        assert_true(kt_now_ms() - t0 < KT_DEADLINE_MS);
        usleep(20000);
    }
    /* Then the slave's connection: the group and its topic are gone. */
    nt_close(s);
    assert_true(nt_wait_route_code(q, "TopicMS", 17, KT_DEADLINE_MS) >= 0);
}

/* brokerExpireMillis=EXPIRE_MS, scan every 100 ms: a broker that stops registering goes
 * although its connection is open; one that keeps registering stays. */
static void test_expire_by_timeout(void **st)
{
    (void)st;
    char conf[128];
    snprintf(conf, sizeof conf, "brokerExpireMillis=%d\nscanNotActiveBrokerInterval=100",
             EXPIRE_MS);
    kt_daemon *d = nt_start(conf);
    int m = nt_conn(d), s = nt_conn(d), x = nt_conn(d), q = nt_conn(d);
    char body[1024], xbody[1024];
    topic_body(body, sizeof body, "TopicT");
    topic_body(xbody, sizeof xbody, "TopicX");
    nt_register_plain(x, "CT", "broker-x", 0, "10.7.0.9:10911", "10.7.0.9:10912", xbody);
    nt_register_plain(m, "CT", "broker-t", 0, "10.7.0.1:10911", "10.7.0.1:10912", body);
    nt_register_plain(s, "CT", "broker-t", 1, "10.7.0.2:10911", "10.7.0.2:10912", body);
    long long t0 = kt_now_ms();
    assert_int_equal(nt_route_code(q, "TopicX"), 0);

    /* The slave re-registers every 150 ms; the master and broker-x stay silent. */
    const char *slave_only =
        "{\"brokerDatas\":[{\"brokerAddrs\":{1:\"10.7.0.2:10911\"},\"brokerName\":\"broker-t\",\"cluster\":\"CT\","
        "\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-t\",\"perm\":6,"
        "\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4}]}";
    long long x_gone = -1, m_gone = -1, last_reg = t0;
    while ((x_gone < 0 || m_gone < 0) && kt_now_ms() - t0 < EXPIRE_MS + KT_DEADLINE_MS) {
        if (kt_now_ms() - last_reg >= 150) {
            kite_cmd r;
            nt_register(s, "CT", "broker-t", 1, "10.7.0.2:10911", "10.7.0.2:10912", body, &r);
            if (m_gone >= 0) assert_null(kite_cmd_ext(&r, "masterAddr"));
            kite_cmd_free(&r);
            last_reg = kt_now_ms();
        }
        if (x_gone < 0 && nt_route_code(q, "TopicX") == 17) x_gone = kt_now_ms() - t0;
        if (m_gone < 0) {
            kite_cmd r;
            nt_route(q, "TopicT", 300, "", &r);
            assert_int_equal(r.code, 0); /* the slave keeps the group alive */
            if (strcmp(kt_body(&r), slave_only) == 0) m_gone = kt_now_ms() - t0;
            kite_cmd_free(&r);
        }
        usleep(20000);
    }
    fprintf(stderr, "broker-x expired after %lld ms, master after %lld ms\n", x_gone, m_gone);
    assert_true(x_gone >= 0);
    assert_true(m_gone >= 0);
    /* Not before its timeout (measured from just after the registration replies). */
    assert_true(x_gone >= EXPIRE_MS - 50);
    assert_true(m_gone >= EXPIRE_MS - 50);
    /* The slave, still registering, is there; the master's connection is still open. */
    nt_expect_route(q, "TopicT", 300, "", slave_only);
    nt_expect_body(q, 224, "\"cluster\":\"CT\"", "{\"topicList\":[\"TopicT\"]}");

    /* The master comes back on its old (still open) connection. */
    kite_cmd r;
    nt_register(m, "CT", "broker-t", 0, "10.7.0.1:10911", "10.7.0.1:10912", body, &r);
    kite_cmd_free(&r);
    nt_register(s, "CT", "broker-t", 1, "10.7.0.2:10911", "10.7.0.2:10912", body, &r);
    assert_string_equal(kite_cmd_ext(&r, "masterAddr"), "10.7.0.1:10911");
    kite_cmd_free(&r);
}

/* QUERY_DATA_VERSION with an unchanged version refreshes liveness like a registration. */
static void test_query_data_version_keeps_alive(void **st)
{
    (void)st;
    char conf[128];
    snprintf(conf, sizeof conf, "brokerExpireMillis=%d\nscanNotActiveBrokerInterval=100",
             EXPIRE_MS);
    kt_daemon *d = nt_start(conf);
    int b = nt_conn(d), q = nt_conn(d);
    char body[1024];
    topic_body(body, sizeof body, "TopicQ");
    nt_register_plain(b, "CQ", "broker-q", 0, "10.8.0.1:10911", "10.8.0.1:10912", body);
    const char *dv = "{\"counter\":1,\"timestamp\":1700000000000}";
    long long t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 2 * EXPIRE_MS) { /* kept alive beyond its expiry */
        kite_cmd r;
        nt_req(
            b, 322, 409,
            "\"brokerAddr\":\"10.8.0.1:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-q\",\"clusterName\":\"CQ\"",
            dv, strlen(dv), &r);
        assert_int_equal(r.code, 0);
        assert_string_equal(kite_cmd_ext(&r, "changed"), "false");
        kite_cmd_free(&r);
        assert_int_equal(nt_route_code(q, "TopicQ"), 0);
        usleep(150000);
    }
    /* Then silence: it expires. */
    assert_true(nt_wait_route_code(q, "TopicQ", 17, KT_DEADLINE_MS) >= 0);
}

/* An idle connection is closed by the server, which removes its broker. */
static void test_idle_connection_closed(void **st)
{
    (void)st;
    kt_daemon *d = nt_start("serverChannelMaxIdleTimeSeconds=3");
    int b = nt_conn(d), q = nt_conn(d);
    char body[1024];
    topic_body(body, sizeof body, "TopicI");
    nt_register_plain(b, "CI", "broker-i", 0, "10.9.0.1:10911", "10.9.0.1:10912", body);
    long long t0 = kt_now_ms();
    /* q stays busy; b stays silent and is closed without an answer. */
    int closed = 0;
    while (!closed && kt_now_ms() - t0 < 3000 + KT_DEADLINE_MS) {
        closed = kt_closed_silently(b, 100);
        assert_true(closed >= 0);
        assert_int_equal(nt_route_code(q, closed ? "NoTopic" : "TopicI"), closed ? 17 : 0);
    }
    assert_int_equal(closed, 1);
    assert_true(kt_now_ms() - t0 >= 3000 - 100); /* not before it was idle that long */
    assert_true(nt_wait_route_code(q, "TopicI", 17, KT_DEADLINE_MS) >= 0);
}

/* A broker that reconnects registers on its new connection: closing the old one no
 * longer removes it; a slave promoted to master moves from id 1 to id 0. */
static void test_reconnect_and_promotion(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int old = nt_conn(d), nw = nt_conn(d), q = nt_conn(d);
    char body[1024];
    topic_body(body, sizeof body, "TopicR");
    nt_register_plain(old, "CR", "broker-r", 0, "10.13.0.1:10911", "10.13.0.1:10912", body);
    nt_register_plain(nw, "CR", "broker-r", 0, "10.13.0.1:10911", "10.13.0.1:10912", body);
    nt_close(old);
    usleep(200000);
    assert_int_equal(nt_route_code(q, "TopicR"), 0);
    nt_close(nw);
    assert_true(nt_wait_route_code(q, "TopicR", 17, KT_DEADLINE_MS) >= 0);

    /* Promotion: master and slave, the master goes, the slave re-registers as id 0. */
    int m = nt_conn(d), s = nt_conn(d);
    nt_register_plain(m, "CR", "broker-p", 0, "10.13.0.2:10911", "10.13.0.2:10912", body);
    nt_register_plain(s, "CR", "broker-p", 1, "10.13.0.3:10911", "10.13.0.3:10912", body);
    nt_close(m);
    long long t0 = kt_now_ms();
    for (;;) { /* wait for the master's removal */
        kite_cmd r;
        nt_route(q, "TopicR", 300, "", &r);
        assert_int_equal(r.code, 0);
        int gone = strstr(kt_body(&r), "{1:\"10.13.0.3:10911\"}") != NULL;
        kite_cmd_free(&r);
        if (gone) break;
        assert_true(kt_now_ms() - t0 < KT_DEADLINE_MS);
        usleep(20000);
    }
    nt_register_plain(s, "CR", "broker-p", 0, "10.13.0.3:10911", "10.13.0.3:10912", body);
    nt_expect_route(
        q, "TopicR", 300, "",
        "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"10.13.0.3:10911\"},\"brokerName\":\"broker-p\",\"cluster\":\"CR\","
        "\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-p\",\"perm\":6,"
        "\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4}]}");
}

/* A broker that moved to another cluster and then goes leaves no trace in either. */
static void test_cluster_move_then_removal(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int b = nt_conn(d), q = nt_conn(d);
    char body[1024];
    topic_body(body, sizeof body, "TopicM");
    nt_register_plain(b, "CA", "broker-m", 0, "10.14.0.1:10911", "10.14.0.1:10912", body);
    nt_register_plain(b, "CB", "broker-m", 0, "10.14.0.1:10911", "10.14.0.1:10912", body);
    nt_close(b);
    assert_true(nt_wait_route_code(q, "TopicM", 17, KT_DEADLINE_MS) >= 0);
    nt_expect_body(q, 106, "", "{\"brokerAddrTable\":{},\"clusterAddrTable\":{}}");
    nt_expect_body(q, 224, "\"cluster\":\"CA\"", "{\"topicList\":[]}");
}

/* heartbeatTimeoutMillis in the registration overrides brokerExpireMillis (5.x). */
static void test_heartbeat_timeout_override(void **st)
{
    (void)st;
    kt_daemon *d = nt_start("scanNotActiveBrokerInterval=100");
    int b = nt_conn(d), b2 = nt_conn(d), q = nt_conn(d);
    char body[1024];
    topic_body(body, sizeof body, "TopicH");
    kite_cmd r;
    nt_req(
        b, 103, 479,
        "\"brokerAddr\":\"10.15.0.1:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-h\",\"clusterName\":\"CH\","
        "\"compressed\":\"false\",\"haServerAddr\":\"10.15.0.1:10912\",\"heartbeatTimeoutMillis\":\"400\"",
        body, strlen(body), &r);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    topic_body(body, sizeof body, "TopicH2");
    nt_register_plain(b2, "CH", "broker-h2", 0, "10.15.0.2:10911", "10.15.0.2:10912", body);
    long long w = nt_wait_route_code(q, "TopicH", 17, KT_DEADLINE_MS);
    assert_true(w >= 300);
    /* The default (120 s) one stays. */
    assert_int_equal(nt_route_code(q, "TopicH2"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_expire_on_close, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_expire_by_timeout, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_query_data_version_keeps_alive, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_closed, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_and_promotion, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_cluster_move_then_removal, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_timeout_override, nt_setup, nt_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
