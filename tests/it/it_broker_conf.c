/* it_broker_conf.c - kite-broker keys that this build does not implement (src/broker/conf.c):
 * a key whose silent absence would lose data or let people in (aclEnable=true,
 * brokerRole=SLAVE / SYNC_MASTER, enableDLegerCommitLog=true, TLS, authentication) makes
 * the broker exit non-zero before it opens anything, with one stderr line naming the key;
 * a harmless unimplemented key starts with a warning naming it; `-p` and
 * GET_BROKER_CONFIG (26) present only the values in force (settled values such as
 * brokerId=0, unimplemented keys as comments); no HA address is advertised
 * (haServerAddr empty in the registration, so a slave of the group gets none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "cf_common.h"

/* A broker.conf in a new directory: the keys kt_broker_start writes plus extra. */
static void write_conf(char *dir, size_t dlen, char *conf, size_t clen, const char *extra)
{
    kt_mkdtemp("broker-conf", dir, dlen);
    snprintf(conf, clen, "%s/broker.conf", dir);
    char text[4096];
    snprintf(text, sizeof text,
             "brokerClusterName=TestCluster\nbrokerName=broker-t\nbrokerIP1=127.0.0.1\nbindAddress=127.0.0.1\n"
             "listenPort=%d\nstorePathRootDir=%s/store\nmappedFileSizeCommitLog=4194304\n%s\n",
             kt_free_port("127.0.0.1"), dir, extra);
    kt_write_file(conf, text);
}

/* Scenario: each refused value ends the start with one stderr line that names the key
 * and its value, exit status non-zero, and no store created; -p refuses it too. */
static void test_refused_keys(void **st)
{
    (void)st;
    static const struct {
        const char *conf, *named;
    } cases[] = {
        { "aclEnable=true", "aclEnable=true" },
        { "brokerRole=SLAVE\nbrokerId=1", "brokerRole=SLAVE" },
        { "brokerRole=SYNC_MASTER", "brokerRole=SYNC_MASTER" },
        { "enableDLegerCommitLog=true", "enableDLegerCommitLog=true" },
        { "enableControllerMode=true", "enableControllerMode=true" },
        { "authenticationEnabled=true", "authenticationEnabled=true" },
        { "authorizationEnabled=true", "authorizationEnabled=true" },
        { "tls.server.mode=enforcing", "tls.server.mode=enforcing" },
        { "tls.enable=true", "tls.enable=true" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[512], conf[600], out[700], err[700], store[700];
        write_conf(dir, sizeof dir, conf, sizeof conf, cases[i].conf);
        snprintf(out, sizeof out, "%s/stdout", dir);
        snprintf(err, sizeof err, "%s/stderr", dir);
        snprintf(store, sizeof store, "%s/store", dir);
        int rc = cf_run("kite-broker", conf, NULL, out, err);
        char *e = cf_read(err);
        fprintf(stderr, "%s: exit %d, stderr: %s", cases[i].named, rc, e);
        assert_int_not_equal(rc, 0);
        cf_expect_in(e, cases[i].named);
        cf_expect_in(e, "is not supported yet");
        assert_int_equal(cf_count_lines(e), 1);
        assert_int_not_equal(access(store, F_OK), 0);   /* refused before the store was opened */
        free(e);

        rc = cf_run("kite-broker", conf, "-p", out, err);
        char *o = cf_read(out);
        e = cf_read(err);
        assert_int_not_equal(rc, 0);
        assert_string_equal(o, "");
        cf_expect_in(e, cases[i].named);
        free(o);
        free(e);
    }
}

/* Scenario: -p prints what is in force: configured values, settled values (brokerId 0,
 * the registration period clamped, a too-short lock life replaced), the supported value
 * of each refused key, and unimplemented keys only as comments, each warned about by
 * name on stderr. Accepted values of refused keys (any case) start normally. */
static void test_print_config(void **st)
{
    (void)st;
    char dir[512], conf[600], out[700], err[700], store[700];
    write_conf(dir, sizeof dir, conf, sizeof conf,
               "brokerId=3\nsendMessageThreadPoolNums=16\nhaListenPort=20000\nslaveReadEnable=true\n"
               "registerNameServerPeriod=1000\nrebalanceLockMaxLiveTime=10\naclEnable=FALSE\n"
               "brokerRole=ASYNC_MASTER\nenableDLegerCommitLog=false\ndefaultTopicQueueNums=5");
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    assert_int_equal(cf_run("kite-broker", conf, "-p", out, err), 0);
    char *o = cf_read(out), *e = cf_read(err);
    kite_props p;
    cf_parse(&p, o);
    cf_expect_prop(&p, "defaultTopicQueueNums", "5");
    cf_expect_prop(&p, "brokerIP1", "127.0.0.1");
    cf_expect_prop(&p, "brokerId", "0");
    cf_expect_prop(&p, "registerNameServerPeriod", "10000");
    cf_expect_prop(&p, "rebalanceLockMaxLiveTime", "60000");
    cf_expect_prop(&p, "aclEnable", "false");
    cf_expect_prop(&p, "brokerRole", "ASYNC_MASTER");
    cf_expect_prop(&p, "enableDLegerCommitLog", "false");
    cf_expect_prop(&p, "sendMessageThreadPoolNums", NULL);
    cf_expect_prop(&p, "haListenPort", NULL);
    cf_expect_prop(&p, "slaveReadEnable", NULL);
    cf_expect_prop(&p, "brokerIP2", NULL);
    cf_expect_in(o, "\n#sendMessageThreadPoolNums: ");
    cf_expect_in(o, "\n#haListenPort: ");
    cf_expect_in(e, "sendMessageThreadPoolNums=16 has no effect");
    cf_expect_in(e, "haListenPort=20000 has no effect");
    cf_expect_in(e, "slaveReadEnable=true has no effect");
    cf_expect_in(e, "brokerId=3 ignored");
    cf_expect_in(e, "registerNameServerPeriod=1000");
    assert_int_not_equal(access(store, F_OK), 0);   /* -p opens nothing */
    kite_props_free(&p);
    free(o);
    free(e);
}

/* Scenario: a broker with unimplemented keys starts and logs a warning naming each; no
 * HA port listens; its registration carries an empty haServerAddr, so a slave of its
 * group registering at the name server is told the master's address and no HA
 * address; GET_BROKER_CONFIG shows the unimplemented keys as comments only. */
static void test_warned_keys_and_no_ha(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    kt_daemon *d = bk_slot(1);
    kt_random_host(d->host, sizeof d->host);
    d->port = kt_free_port(d->host);
    int ha;
    do ha = kt_free_port(d->host);
    while (ha == d->port || ha == d->port + 1);
    char extra[256];
    snprintf(extra, sizeof extra, "haListenPort=%d\nsendMessageThreadPoolNums=16\ntransferMsgByHeap=false\n", ha);
    bk_launch(d, ns, extra);

    char *log = cf_read(d->log);
    char want[128];
    snprintf(want, sizeof want, "haListenPort=%d has no effect", ha);
    cf_expect_in(log, want);
    cf_expect_in(log, "sendMessageThreadPoolNums=16 has no effect");
    cf_expect_in(log, "transferMsgByHeap=false has no effect");
    free(log);
    int hfd = kt_connect(d->host, ha);
    if (hfd >= 0) close(hfd);
    assert_true(hfd < 0);   /* nothing listens for replication */
    hfd = kt_connect(d->host, d->port + 1);
    if (hfd >= 0) close(hfd);
    assert_true(hfd < 0);   /* nor on Java's default HA port, listenPort+1 */

    char body[8192];
    assert_true(bk_wait_route(ns, "TBW102", 10000, body, sizeof body) >= 0);   /* registered */
    int nfd = bk_conn(ns);
    char ext[512], master[64];
    snprintf(master, sizeof master, "%s:%d", d->host, d->port);
    snprintf(ext, sizeof ext,
             "\"brokerAddr\":\"127.0.0.1:1\",\"brokerId\":\"1\",\"brokerName\":\"broker-t\",\"clusterName\":\"TestCluster\","
             "\"compressed\":\"false\",\"haServerAddr\":\"\"");
    kite_cmd r;
    assert_int_equal(kb_call(nfd, 103, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_non_null(kite_cmd_ext(&r, "masterAddr"));
    assert_string_equal(kite_cmd_ext(&r, "masterAddr"), master);
    assert_null(kite_cmd_ext_raw(&r, "haServerAddr"));
    kite_cmd_free(&r);

    int fd = bk_conn(d);
    assert_int_equal(kb_call(fd, 26, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    kite_props p;
    cf_parse(&p, kt_body(&r));
    cf_expect_prop(&p, "brokerRole", "ASYNC_MASTER");
    cf_expect_prop(&p, "aclEnable", "false");
    cf_expect_prop(&p, "haListenPort", NULL);
    cf_expect_prop(&p, "sendMessageThreadPoolNums", NULL);
    cf_expect_prop(&p, "listenPort", master + strlen(d->host) + 1);
    cf_expect_in(kt_body(&r), "\n#haListenPort: ");
    kite_props_free(&p);
    kite_cmd_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused_keys, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_print_config, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_warned_keys_and_no_ha, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
