/* it_broker_conf.c - kite-broker keys that this build does not implement (src/broker/conf.c):
 * a key whose silent absence would lose data or let people in (enableDLegerCommitLog=true,
 * TLS, authentication; aclEnable=true is implemented: it_acl.c), and settings
 * the replication keys cannot work with (a slave without brokerId > 0, an unknown role),
 * make the broker exit non-zero before it opens anything, with one stderr line naming the
 * key; a harmless unimplemented key starts with a warning naming it; `-p` and
 * GET_BROKER_CONFIG (26) present only the values in force (settled values such as a
 * master's brokerId=0, haListenPort=listenPort+1 and brokerIP2=brokerIP1, unimplemented
 * keys as comments); a master listens for replication on haListenPort (haBindAddress) and
 * advertises brokerIP2:haListenPort as haServerAddr, which the name server hands to a
 * slave of its group. */
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
    snprintf(
        text, sizeof text,
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
        const char *conf, *named, *why;
    } cases[] = {
        { "brokerRole=BACKUP", "brokerRole: 'BACKUP'", "is not a role" },
        { "brokerRole=SLAVE", "brokerId=0", "a slave (brokerRole=SLAVE) needs a brokerId > 0" },
        { "brokerRole=SLAVE\nbrokerId=-1", "brokerId=-1", "needs a brokerId > 0" },
        { "brokerRole=SYNC_MASTER\nslaveTimeout=0", "slaveTimeout=0", "must be positive" },
        { "accessMessageInMemoryMaxRatio=101", "accessMessageInMemoryMaxRatio=101",
          "must be between 0 and 100" },
        { "enableDLegerCommitLog=true", "enableDLegerCommitLog=true", "is not supported yet" },
        { "enableControllerMode=true", "enableControllerMode=true", "is not supported yet" },
        { "authenticationEnabled=true", "authenticationEnabled=true", "is not supported yet" },
        { "authorizationEnabled=true", "authorizationEnabled=true", "is not supported yet" },
        { "tls.test.mode.enable=true", "tls.test.mode.enable=true", "is not supported yet" },
        { "tls.server.mode=enforcing", "tls.server.mode=enforcing",
          "needs tls.server.certPath and tls.server.keyPath" },
        { "tls.server.mode=strict", "tls.server.mode: 'strict'", "is not one of" },
        { "tls.enable=true\ntls.client.authServer=true", "tls.client.authServer=true",
          "needs tls.client.trustCertPath" },
        { "tls.config.file=/nonexistent/tls.properties", "tls.config.file",
          "cannot read /nonexistent/tls.properties" },
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
        cf_expect_in(e, cases[i].why);
        assert_int_equal(cf_count_lines(e), 1);
        assert_int_not_equal(access(store, F_OK), 0); /* refused before the store was opened */
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

/* Scenario: -p prints what is in force: configured values, settled values (a master's
 * brokerId 0, haListenPort listenPort+1, brokerIP2 and haBindAddress from brokerIP1 and
 * bindAddress, the registration period clamped, a too-short lock life replaced), the
 * supported value of each refused key, and unimplemented keys only as comments, each
 * warned about by name on stderr. Accepted values of refused keys (any case) start
 * normally; a slave keeps its brokerId. */
static void test_print_config(void **st)
{
    (void)st;
    char dir[512], conf[600], out[700], err[700], store[700];
    write_conf(dir, sizeof dir, conf, sizeof conf,
               "brokerId=3\nsendMessageThreadPoolNums=16\nslaveTimeout=2000\nslaveReadEnable=true\n"
               "offsetCheckInSlave=true\n"
               "registerNameServerPeriod=1000\nrebalanceLockMaxLiveTime=10\naclEnable=FALSE\n"
               "brokerRole=async_master\nenableDLegerCommitLog=false\ndefaultTopicQueueNums=5");
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
    char port[16];
    snprintf(port, sizeof port, "%d", atoi(kite_props_get(&p, "listenPort")) + 1);
    cf_expect_prop(&p, "haListenPort", port);
    cf_expect_prop(&p, "brokerIP2", "127.0.0.1");
    cf_expect_prop(&p, "haBindAddress", "127.0.0.1");
    cf_expect_prop(&p, "haSendHeartbeatInterval", "5000");
    cf_expect_prop(&p, "slaveReadEnable", "true");
    cf_expect_prop(&p, "accessMessageInMemoryMaxRatio", "40");
    cf_expect_prop(&p, "offsetCheckInSlave", NULL);
    cf_expect_prop(&p, "slaveTimeout", "2000");
    cf_expect_prop(&p, "haSlaveFallbehindMax", "268435456");
    cf_expect_in(o, "\n#sendMessageThreadPoolNums: ");
    cf_expect_in(o, "\n#offsetCheckInSlave: ");
    cf_expect_in(e, "sendMessageThreadPoolNums=16 has no effect");
    cf_expect_in(e, "offsetCheckInSlave=true has no effect");
    cf_expect_in(e, "brokerId=3 ignored");
    cf_expect_in(e, "registerNameServerPeriod=1000");
    assert_int_not_equal(access(store, F_OK), 0); /* -p opens nothing */
    kite_props_free(&p);
    free(o);
    free(e);

    /* SYNC_MASTER is a master: id 0. */
    write_conf(dir, sizeof dir, conf, sizeof conf, "brokerRole=sync_master\nbrokerId=4");
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    assert_int_equal(cf_run("kite-broker", conf, "-p", out, err), 0);
    o = cf_read(out);
    cf_parse(&p, o);
    cf_expect_prop(&p, "brokerRole", "SYNC_MASTER");
    cf_expect_prop(&p, "brokerId", "0");
    kite_props_free(&p);
    free(o);

    /* A slave keeps its id; its HA keys are in force as configured. */
    write_conf(
        dir, sizeof dir, conf, sizeof conf,
        "brokerRole=SLAVE\nbrokerId=2\nhaMasterAddress=127.0.0.9:30912\nbrokerIP2=127.0.0.8\n"
        "haListenPort=30000\nhaTransferBatchSize=65536");
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    assert_int_equal(cf_run("kite-broker", conf, "-p", out, err), 0);
    o = cf_read(out);
    cf_parse(&p, o);
    cf_expect_prop(&p, "brokerRole", "SLAVE");
    cf_expect_prop(&p, "brokerId", "2");
    cf_expect_prop(&p, "haMasterAddress", "127.0.0.9:30912");
    cf_expect_prop(&p, "brokerIP2", "127.0.0.8");
    cf_expect_prop(&p, "haListenPort", "30000");
    cf_expect_prop(&p, "haTransferBatchSize", "65536");
    kite_props_free(&p);
    free(o);
}

/* Scenario: a broker with unimplemented keys starts and logs a warning naming each; as a
 * master it listens for replication on haListenPort at haBindAddress (and nowhere else:
 * not on listenPort+1 when haListenPort says otherwise); its registration carries
 * brokerIP2:haListenPort, so a slave of its group registering at the name server is told
 * the master's address and that HA address; GET_BROKER_CONFIG shows the HA keys in force
 * and the unimplemented keys as comments only. */
static void test_warned_keys_and_ha_address(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    kt_daemon *d = bk_slot(1);
    kt_random_host(d->host, sizeof d->host);
    d->port = kt_free_port(d->host);
    int ha;
    do ha = kt_free_port(d->host);
    while (ha == d->port || ha == d->port + 1 || ha == d->port - 2);
    char extra[256];
    snprintf(extra, sizeof extra,
             "haListenPort=%d\nbrokerIP2=127.0.0.77\nsendMessageThreadPoolNums=16\n"
             "transferMsgByHeap=false\n",
             ha);
    bk_launch(d, ns, extra);

    char *log = cf_read(d->log);
    cf_expect_in(log, "sendMessageThreadPoolNums=16 has no effect");
    cf_expect_in(log, "transferMsgByHeap=false has no effect");
    free(log);
    int hfd = kt_connect(d->host, ha);
    assert_true(hfd >= 0); /* the replication port */
    close(hfd);
    hfd = kt_connect(d->host, d->port + 1);
    if (hfd >= 0) close(hfd);
    assert_true(hfd < 0); /* Java's default, listenPort+1, only when haListenPort is not set */

    char body[8192];
    assert_true(bk_wait_route(ns, "TBW102", 10000, body, sizeof body) >= 0); /* registered */
    int nfd = bk_conn(ns);
    char ext[512], master[64], haaddr[64];
    snprintf(master, sizeof master, "%s:%d", d->host, d->port);
    snprintf(haaddr, sizeof haaddr, "127.0.0.77:%d", ha);
    snprintf(
        ext, sizeof ext,
        "\"brokerAddr\":\"127.0.0.1:1\",\"brokerId\":\"1\",\"brokerName\":\"broker-t\",\"clusterName\":\"TestCluster\","
        "\"compressed\":\"false\",\"haServerAddr\":\"\"");
    kite_cmd r;
    assert_int_equal(kb_call(nfd, 103, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_non_null(kite_cmd_ext(&r, "masterAddr"));
    assert_string_equal(kite_cmd_ext(&r, "masterAddr"), master);
    assert_non_null(kite_cmd_ext(&r, "haServerAddr"));
    assert_string_equal(kite_cmd_ext(&r, "haServerAddr"), haaddr);
    kite_cmd_free(&r);

    int fd = bk_conn(d);
    assert_int_equal(kb_call(fd, 26, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    kite_props p;
    cf_parse(&p, kt_body(&r));
    char hp[16];
    snprintf(hp, sizeof hp, "%d", ha);
    cf_expect_prop(&p, "brokerRole", "ASYNC_MASTER");
    cf_expect_prop(&p, "aclEnable", "false");
    cf_expect_prop(&p, "haListenPort", hp);
    cf_expect_prop(&p, "haBindAddress", d->host);
    cf_expect_prop(&p, "sendMessageThreadPoolNums", NULL);
    cf_expect_prop(&p, "listenPort", master + strlen(d->host) + 1);
    cf_expect_in(kt_body(&r), "\n#sendMessageThreadPoolNums: ");
    kite_props_free(&p);
    kite_cmd_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused_keys, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_print_config, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_warned_keys_and_ha_address, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
