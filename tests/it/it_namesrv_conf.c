/* it_namesrv_conf.c - kite-namesrv keys that this build does not implement or that are
 * wrong (src/namesrv/namesrv.c): a refused TLS value, or a TLS setting that cannot work,
 * makes it exit non-zero with one stderr line naming the key; unimplemented Java keys start with a warning naming
 * each; `-p` and GET_NAMESRV_CONFIG (319) present only the values in force. Also: a
 * registration may carry an empty haServerAddr (a broker without replication), which is
 * then not handed to the group's slaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "cf_common.h"

static void write_conf(char *dir, size_t dlen, char *conf, size_t clen, const char *extra)
{
    kt_mkdtemp("namesrv-conf", dir, dlen);
    snprintf(conf, clen, "%s/namesrv.conf", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "listenPort=%d\nbindAddress=127.0.0.1\nkvConfigPath=%s/kvConfig.json\n%s\n",
             kt_free_port("127.0.0.1"), dir, extra);
    kt_write_file(conf, text);
}

/* Scenario: refused TLS values end the start (and -p) with one line naming the key. */
static void test_refused_keys(void **st)
{
    (void)st;
    static const struct {
        const char *conf, *named, *why;
    } cases[] = {
        { "tls.test.mode.enable=true", "tls.test.mode.enable=true", "is not supported yet" },
        { "tls.server.mode=permissive", "tls.server.mode=permissive",
          "needs tls.server.certPath and tls.server.keyPath" },
        { "tls.config.file=/nonexistent/tls.properties", "tls.config.file",
          "cannot read /nonexistent/tls.properties" },
        { "tls.server.need.client.auth=always", "tls.server.need.client.auth: 'always'",
          "is not one of" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[512], conf[600], out[700], err[700];
        write_conf(dir, sizeof dir, conf, sizeof conf, cases[i].conf);
        snprintf(out, sizeof out, "%s/stdout", dir);
        snprintf(err, sizeof err, "%s/stderr", dir);
        int rc = cf_run("kite-namesrv", conf, NULL, out, err);
        char *e = cf_read(err);
        fprintf(stderr, "%s: exit %d, stderr: %s", cases[i].conf, rc, e);
        assert_int_not_equal(rc, 0);
        cf_expect_in(e, cases[i].named);
        cf_expect_in(e, cases[i].why);
        assert_int_equal(cf_count_lines(e), 1);
        free(e);
        assert_int_not_equal(cf_run("kite-namesrv", conf, "-p", out, err), 0);
        char *o = cf_read(out);
        assert_string_equal(o, "");
        free(o);
    }
}

/* Scenario: -p shows configured and supported values, unimplemented keys as comments,
 * and warns about each unimplemented key set. */
static void test_print_config(void **st)
{
    (void)st;
    char dir[512], conf[600], out[700], err[700];
    write_conf(
        dir, sizeof dir, conf, sizeof conf,
        "clusterTest=true\nserverWorkerThreads=4\norderMessageEnable=true\ntls.server.mode=Disabled");
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    assert_int_equal(cf_run("kite-namesrv", conf, "-p", out, err), 0);
    char *o = cf_read(out), *e = cf_read(err);
    kite_props p;
    cf_parse(&p, o);
    cf_expect_prop(&p, "orderMessageEnable", "true");
    cf_expect_prop(&p, "tls.server.mode", "disabled");
    cf_expect_prop(&p, "clusterTest", NULL);
    cf_expect_prop(&p, "serverWorkerThreads", NULL);
    cf_expect_prop(&p, "configStorePath", NULL);
    cf_expect_prop(&p, "aclEnable", "false");
    cf_expect_in(o, "\n#clusterTest: ");
    cf_expect_in(e, "clusterTest=true has no effect");
    cf_expect_in(e, "serverWorkerThreads=4 has no effect");
    kite_props_free(&p);
    free(o);
    free(e);
}

/* Scenario: a started name server logs the warnings, GET_NAMESRV_CONFIG matches -p, and
 * a master registered with an empty haServerAddr gives its slave no HA address. */
static void test_running(void **st)
{
    (void)st;
    kt_daemon *ns = bk_slot(0);
    if (kt_namesrv_start(ns, "productEnvName=test\nneedWaitForService=true\n") != 0) {
        bk_forget_failed(ns);
        fail_msg("kite-namesrv did not start");
    }
    char *log = cf_read(ns->log);
    cf_expect_in(log, "productEnvName=test has no effect");
    cf_expect_in(log, "needWaitForService=true has no effect");
    free(log);

    int fd = bk_conn(ns);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 319, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    kite_props p;
    cf_parse(&p, kt_body(&r));
    char port[16];
    snprintf(port, sizeof port, "%d", ns->port);
    cf_expect_prop(&p, "listenPort", port);
    cf_expect_prop(&p, "tls.server.mode", "disabled");
    cf_expect_prop(&p, "productEnvName", NULL);
    cf_expect_prop(&p, "needWaitForService", NULL);
    kite_props_free(&p);
    kite_cmd_free(&r);

    const char *hdr =
        "\"brokerName\":\"bn\",\"clusterName\":\"cz\",\"compressed\":\"false\",\"haServerAddr\":\"\"";
    char ext[512];
    snprintf(ext, sizeof ext, "\"brokerAddr\":\"127.0.0.1:1\",\"brokerId\":\"0\",%s", hdr);
    assert_int_equal(kb_call(fd, 103, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    snprintf(ext, sizeof ext, "\"brokerAddr\":\"127.0.0.1:2\",\"brokerId\":\"1\",%s", hdr);
    assert_int_equal(kb_call(fd, 103, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_non_null(kite_cmd_ext(&r, "masterAddr"));
    assert_string_equal(kite_cmd_ext(&r, "masterAddr"), "127.0.0.1:1");
    assert_null(kite_cmd_ext_raw(&r, "haServerAddr"));
    kite_cmd_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused_keys, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_print_config, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_running, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
