/* it_namesrv_acl.c - kite-namesrv with aclEnable=true (README "Security", docs/wire.md
 * §14.6): its write codes need an admin account, reads stay open. Requests are signed
 * with the RPC client's credentials (the signature itself is checked independently of
 * that code by it_acl). Scenarios: PUT/DELETE_KV_CONFIG refused unsigned, to a
 * sub-account and with a wrong secret, done by the admin (GET_KV_CONFIG, unsigned, sees
 * only the admin's value: the refused puts stored nothing); UPDATE_NAMESRV_CONFIG from
 * the admin still refused while remoteConfigUpdateEnable is off (ACL is not the only
 * gate); routes answered unsigned; a broker without credentials and one signing as a
 * sub-account are refused registration (their logs say so) and absent from the cluster,
 * while a broker with innerClientAuthenticationCredentials of the admin registers; a
 * broker from a globally white-listed address registers unsigned; a malformed
 * innerClientAuthenticationCredentials stops the broker's start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "rpc/client.h"

#define ACL_EXC "org.apache.rocketmq.acl.common.AclException: "

static const char *k_accounts = "accounts:\n"
                                "  - accessKey: appUser01\n"
                                "    secretKey: appSecret01\n"
                                "    admin: false\n"
                                "    defaultTopicPerm: PUB|SUB\n"
                                "    defaultGroupPerm: SUB\n"
                                "  - accessKey: opsAdmin01\n"
                                "    secretKey: opsSecret01\n"
                                "    admin: true\n";

static char g_nsaddr[80];

static kt_daemon *start_acl_ns_with(const char *accounts)
{
    char dir[512], path[700], extra[900];
    kt_mkdtemp("nsacl", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/acl.yml", dir);
    kt_write_file(path, accounts);
    snprintf(extra, sizeof extra, "aclEnable=true\naclFile=%s\n", path);
    kt_daemon *d = bk_slot(0);
    if (kt_namesrv_start(d, extra) != 0) {
        bk_forget_failed(d);
        fail_msg("kite-namesrv did not start");
    }
    snprintf(g_nsaddr, sizeof g_nsaddr, "%s:%d", d->host, d->port);
    return d;
}

static kt_daemon *start_acl_ns(void) { return start_acl_ns_with(k_accounts); }

/* One request to the name server, signed as ak/sk when ak is set; the answer's code
 * (remark and body copied out). */
static int ns_call(const char *ak, const char *sk, int code, const char *const *kv,
                   const char *body, char *remark, size_t rcap, char *out, size_t ocap)
{
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    assert_non_null(c);
    if (ak) kite_rpc_client_set_credentials(c, ak, sk, NULL);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, code, 0);
    for (size_t i = 0; kv && kv[i]; i += 2) kite_cmd_set_ext(&req, kv[i], kv[i + 1]);
    if (body) kite_cmd_set_body_copy(&req, body, strlen(body));
    assert_int_equal(kite_rpc_call_sync(c, g_nsaddr, &req, KT_DEADLINE_MS, &resp), KITE_OK);
    int rc = resp.code;
    snprintf(remark, rcap, "%s", resp.remark ? resp.remark : "");
    if (out) snprintf(out, ocap, "%.*s", (int)resp.body_len, (const char *)resp.body);
    fprintf(stderr, "code %d as %s -> %d %s\n", code, ak ? ak : "(unsigned)", rc, remark);
    kite_cmd_free(&resp);
    kite_rpc_client_free(c);
    return rc;
}

static void expect_acl_refusal(const char *ak, const char *sk, int code, const char *const *kv,
                               const char *body, const char *text)
{
    char remark[1500];
    assert_int_equal(ns_call(ak, sk, code, kv, body, remark, sizeof remark, NULL, 0), 1);
    assert_non_null(strstr(remark, ACL_EXC));
    assert_non_null(strstr(remark, text));
}

static void test_ns_write_codes(void **st)
{
    (void)st;
    start_acl_ns();
    static const char *const put[] = {
        "namespace", "ORDER_TOPIC_CONFIG", "key", "AclT", "value", "b1:4", NULL
    };
    static const char *const get[] = { "namespace", "ORDER_TOPIC_CONFIG", "key", "AclT", NULL };
    char remark[1500], body[4096];
    expect_acl_refusal(NULL, NULL, 100, put, NULL, "No accessKey is configured");
    expect_acl_refusal("appUser01", "appSecret01", 100, put, NULL, "appUser01");
    expect_acl_refusal("opsAdmin01", "wrongSecret", 100, put, NULL, "Check signature failed");
    /* nothing stored by the refused puts (the read is open) */
    assert_int_equal(ns_call(NULL, NULL, 101, get, NULL, remark, sizeof remark, NULL, 0), 22);
    assert_int_equal(
        ns_call("opsAdmin01", "opsSecret01", 100, put, NULL, remark, sizeof remark, NULL, 0), 0);
    assert_int_equal(ns_call(NULL, NULL, 101, get, NULL, remark, sizeof remark, NULL, 0), 0);
    expect_acl_refusal("appUser01", "appSecret01", 102, get, NULL, "appUser01");
    assert_int_equal(ns_call(NULL, NULL, 101, get, NULL, remark, sizeof remark, NULL, 0), 0);
    assert_int_equal(
        ns_call("opsAdmin01", "opsSecret01", 102, get, NULL, remark, sizeof remark, NULL, 0), 0);
    assert_int_equal(ns_call(NULL, NULL, 101, get, NULL, remark, sizeof remark, NULL, 0), 22);
    /* config: ACL first, then the handler's own gate */
    expect_acl_refusal(NULL, NULL, 318, NULL, "logLevel=debug\n", "No accessKey is configured");
    expect_acl_refusal("appUser01", "appSecret01", 319, NULL, NULL, "appUser01");
    assert_int_equal(ns_call("opsAdmin01", "opsSecret01", 318, NULL, "logLevel=debug\n", remark,
                             sizeof remark, NULL, 0),
                     16);
    assert_null(strstr(remark, ACL_EXC));
    assert_int_equal(ns_call("opsAdmin01", "opsSecret01", 319, NULL, NULL, remark, sizeof remark,
                             body, sizeof body),
                     0);
    assert_non_null(strstr(body, "aclEnable=true"));
    /* reads stay open: a route query answers TOPIC_NOT_EXIST, not an ACL refusal */
    static const char *const route[] = { "topic", "NoSuchTopic", NULL };
    assert_int_equal(ns_call(NULL, NULL, 105, route, NULL, remark, sizeof remark, NULL, 0), 17);
}

static void wait_log(const kt_daemon *d, const char *needle)
{
    long long t0 = kt_now_ms();
    while (kb_count_lines(d->log, needle) < 1 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(20000);
    if (kb_count_lines(d->log, needle) < 1) bk_dump_log(d);
    assert_true(kb_count_lines(d->log, needle) >= 1);
}

static void test_ns_broker_registration(void **st)
{
    (void)st;
    kt_daemon *ns = start_acl_ns();
    kt_daemon *anon = bk_start_broker(ns, "brokerName=bk-anon\n");
    kt_daemon *sub = bk_start_broker(
        ns, "brokerName=bk-sub\ninnerClientAuthenticationCredentials={\"accessKey\":\"appUser01\","
            "\"secretKey\":\"appSecret01\"}\n");
    wait_log(anon, "refused the registration: code 1 " ACL_EXC "No accessKey is configured");
    wait_log(sub, "refused the registration: code 1 " ACL_EXC);
    kt_daemon *adm = bk_start_broker(
        ns,
        "brokerName=bk-admin\ninnerClientAuthenticationCredentials={\"accessKey\":\"opsAdmin01\","
        "\"secretKey\":\"opsSecret01\"}\n");
    char remark[1500], body[16384];
    long long t0 = kt_now_ms();
    body[0] = 0;
    while (!strstr(body, "bk-admin") && kt_now_ms() - t0 < KT_DEADLINE_MS) {
        assert_int_equal(
            ns_call(NULL, NULL, 106, NULL, NULL, remark, sizeof remark, body, sizeof body), 0);
        if (!strstr(body, "bk-admin")) usleep(50000);
    }
    fprintf(stderr, "cluster: %s\n", body);
    assert_non_null(strstr(body, "bk-admin"));
    assert_null(strstr(body, "bk-anon"));
    assert_null(strstr(body, "bk-sub"));
    assert_int_equal(kb_count_lines(adm->log, "refused the registration"), 0);
}

/* A broker connects from 127.0.0.1 (no source address chosen): with that address in the
 * global white list it registers unsigned (test_ns_broker_registration, without it, is
 * the control). */
static void test_ns_white_listed_broker(void **st)
{
    (void)st;
    char text[1024];
    snprintf(text, sizeof text, "globalWhiteRemoteAddresses:\n  - 127.0.0.1\n%s", k_accounts);
    kt_daemon *ns = start_acl_ns_with(text);
    bk_start_broker(ns, "brokerName=bk-white\n");
    char remark[1500], body[16384];
    long long t0 = kt_now_ms();
    body[0] = 0;
    while (!strstr(body, "bk-white") && kt_now_ms() - t0 < KT_DEADLINE_MS) {
        assert_int_equal(
            ns_call(NULL, NULL, 106, NULL, NULL, remark, sizeof remark, body, sizeof body), 0);
        if (!strstr(body, "bk-white")) usleep(50000);
    }
    assert_non_null(strstr(body, "bk-white"));
}

static void test_broker_bad_credentials(void **st)
{
    (void)st;
    kt_daemon *d = bk_slot(1);
    assert_int_not_equal(
        kt_broker_start(d, NULL, "innerClientAuthenticationCredentials={\"accessKey\":\"x\"}\n"),
        0);
    bk_forget_failed(d);
    assert_true(kb_count_lines(d->log, "innerClientAuthenticationCredentials must be") >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ns_write_codes, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_ns_broker_registration, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_ns_white_listed_broker, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_broker_bad_credentials, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
