/* it_cve.c - the payloads of RocketMQ's two config CVEs against kite-broker and
 * kite-namesrv (README "Security", docs/wire.md §14.7), shaped as the public exploits
 * send them:
 *  - CVE-2023-33246: UPDATE_BROKER_CONFIG (25) with the body
 *    "filterServerNums=1\nrocketmqHome=-c $@|sh . echo <command>;" (a vulnerable broker
 *    stores rocketmqHome and later runs its filter-server start script through a shell);
 *  - CVE-2023-37582: UPDATE_NAMESRV_CONFIG (318) setting configStorePath to a file of the
 *    attacker's choice plus a value carrying a newline and a crontab-shaped line (a
 *    vulnerable name server persists its config to that path).
 * Each is refused with config updates off (the default), still refused with
 * remoteConfigUpdateEnable=true (the keys are not in the allow-list), and with ACL on it
 * is refused unsigned and to a sub-account before the handler runs, the admin getting the
 * allow-list refusal. After every attempt: the daemon has no child process, the marker
 * the command would create does not exist, the target file was not written, and nothing
 * appeared in the test's scratch directory. Controls: an allowed key (longPollingEnable,
 * orderMessageEnable) does change for the admin, and GET_*_CONFIG shows it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "rpc/client.h"
#include <dirent.h>
#include <sys/stat.h>

#define ACL_EXC "org.apache.rocketmq.acl.common.AclException: "

static const char *k_accounts = "accounts:\n"
                                "  - accessKey: appUser01\n"
                                "    secretKey: appSecret01\n"
                                "    defaultTopicPerm: PUB|SUB\n"
                                "  - accessKey: opsAdmin01\n"
                                "    secretKey: opsSecret01\n"
                                "    admin: true\n";

static char g_scratch[512]; /* where the payloads point: must stay empty */
static char g_marker[700], g_target[700];

static int call(const kt_daemon *d, const char *ak, const char *sk, int code, const char *body,
                char *out, size_t ocap)
{
    char addr[80], remark[1500];
    snprintf(addr, sizeof addr, "%s:%d", d->host, d->port);
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    assert_non_null(c);
    if (ak) kite_rpc_client_set_credentials(c, ak, sk, NULL);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, code, 0);
    if (body) kite_cmd_set_body_copy(&req, body, strlen(body));
    assert_int_equal(kite_rpc_call_sync(c, addr, &req, KT_DEADLINE_MS, &resp), KITE_OK);
    int rc = resp.code;
    snprintf(remark, sizeof remark, "%s", resp.remark ? resp.remark : "");
    if (out) snprintf(out, ocap, "%.*s", (int)resp.body_len, (const char *)resp.body);
    fprintf(stderr, "code %d as %s -> %d %s\n", code, ak ? ak : "(unsigned)", rc, remark);
    if (rc == 1) assert_non_null(strstr(remark, ACL_EXC));
    kite_cmd_free(&resp);
    kite_rpc_client_free(c);
    return rc;
}

/* Children of pid over all its threads (/proc/<pid>/task/<tid>/children). */
static int children(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512], buf[512];
        snprintf(path, sizeof path, "%s/%s/children", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n")) n++;
    }
    closedir(d);
    return n;
}

static int scratch_entries(void)
{
    DIR *d = opendir(g_scratch);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void assert_no_effect(const kt_daemon *d)
{
    struct stat st;
    assert_int_equal(children(d->pid), 0);
    assert_int_not_equal(stat(g_marker, &st), 0);
    assert_int_not_equal(stat(g_target, &st), 0);
    assert_int_equal(scratch_entries(), 0);
}

static void payloads(char *broker, size_t bcap, char *ns, size_t ncap)
{
    kt_mkdtemp("cve-scratch", g_scratch, sizeof g_scratch);
    snprintf(g_marker, sizeof g_marker, "%s/pwned", g_scratch);
    snprintf(g_target, sizeof g_target, "%s/crontab", g_scratch);
    snprintf(broker, bcap, "filterServerNums=1\nrocketmqHome=-c $@|sh . echo touch %s;\n",
             g_marker);
    snprintf(ns, ncap,
             "configStorePath=%s\nproductEnvName=test\\n* * * * * touch %s\\n\n"
             "orderMessageEnable=true\n",
             g_target, g_marker);
}

static const char *acl_conf(char *out, size_t cap, const char *more)
{
    char dir[512], path[700];
    kt_mkdtemp("cve-acl", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/acl.yml", dir);
    kt_write_file(path, k_accounts);
    snprintf(out, cap, "aclEnable=true\naclFile=%s\n%s", path, more);
    return out;
}

static void test_cve_2023_33246_broker(void **st)
{
    (void)st;
    char bp[4096], np[4096], conf[1200], cfg[65536];
    payloads(bp, sizeof bp, np, sizeof np);
    /* default: config updates over the network are off */
    kt_daemon *b = bk_start_broker(NULL, NULL);
    assert_int_equal(call(b, NULL, NULL, 25, bp, NULL, 0), 16);
    assert_int_equal(call(b, NULL, NULL, 25, "longPollingEnable=false\n", NULL, 0), 16);
    assert_no_effect(b);
    bk_stop_clean(b);
    /* on, without ACL: the keys are not allow-listed; an allowed key works (control) */
    b = bk_start_broker(NULL, "remoteConfigUpdateEnable=true\n");
    assert_int_equal(call(b, NULL, NULL, 25, bp, NULL, 0), 16);
    assert_int_equal(call(b, NULL, NULL, 25, "rocketmqHome=/tmp\n", NULL, 0), 16);
    assert_no_effect(b);
    assert_int_equal(call(b, NULL, NULL, 25, "longPollingEnable=false\n", NULL, 0), 0);
    bk_stop_clean(b);
    /* with ACL: unsigned and sub-account refused by ACL, the admin by the allow-list */
    b = bk_start_broker(NULL, acl_conf(conf, sizeof conf, "remoteConfigUpdateEnable=true\n"));
    assert_int_equal(call(b, NULL, NULL, 25, bp, NULL, 0), 1);
    assert_int_equal(call(b, "appUser01", "appSecret01", 25, bp, NULL, 0), 1);
    assert_int_equal(call(b, "opsAdmin01", "opsSecret01", 25, bp, NULL, 0), 16);
    assert_no_effect(b);
    assert_int_equal(call(b, NULL, NULL, 25, "longPollingEnable=false\n", NULL, 0), 1);
    assert_int_equal(call(b, "appUser01", "appSecret01", 25, "longPollingEnable=false\n", NULL, 0),
                     1);
    assert_int_equal(call(b, "opsAdmin01", "opsSecret01", 26, NULL, cfg, sizeof cfg), 0);
    assert_non_null(strstr(cfg, "longPollingEnable=true"));
    assert_int_equal(call(b, "opsAdmin01", "opsSecret01", 25, "longPollingEnable=false\n", NULL, 0),
                     0);
    assert_int_equal(call(b, "opsAdmin01", "opsSecret01", 26, NULL, cfg, sizeof cfg), 0);
    assert_non_null(strstr(cfg, "longPollingEnable=false"));
    assert_null(strstr(cfg, g_marker));
    assert_no_effect(b);
}

static void test_cve_2023_37582_namesrv(void **st)
{
    (void)st;
    char bp[4096], np[4096], conf[1200], cfg[65536];
    payloads(bp, sizeof bp, np, sizeof np);
    kt_daemon *n = bk_slot(0);
    assert_int_equal(kt_namesrv_start(n, NULL), 0);
    assert_int_equal(call(n, NULL, NULL, 318, np, NULL, 0), 16);
    assert_no_effect(n);
    assert_int_equal(kt_stop(n->pid, 10000), 0);
    n->pid = 0;
    n = bk_slot(0);
    assert_int_equal(kt_namesrv_start(n, "remoteConfigUpdateEnable=true\n"), 0);
    assert_int_equal(call(n, NULL, NULL, 318, np, NULL, 0), 16);
    assert_int_equal(call(n, NULL, NULL, 318, "configStorePath=/tmp/x\n", NULL, 0), 16);
    assert_no_effect(n);
    assert_int_equal(call(n, NULL, NULL, 318, "orderMessageEnable=true\n", NULL, 0), 0);
    assert_int_equal(kt_stop(n->pid, 10000), 0);
    n->pid = 0;
    n = bk_slot(0);
    assert_int_equal(
        kt_namesrv_start(n, acl_conf(conf, sizeof conf, "remoteConfigUpdateEnable=true\n")), 0);
    assert_int_equal(call(n, NULL, NULL, 318, np, NULL, 0), 1);
    assert_int_equal(call(n, "appUser01", "appSecret01", 318, np, NULL, 0), 1);
    assert_int_equal(call(n, "opsAdmin01", "opsSecret01", 318, np, NULL, 0), 16);
    assert_no_effect(n);
    assert_int_equal(call(n, "opsAdmin01", "opsSecret01", 319, NULL, cfg, sizeof cfg), 0);
    assert_non_null(strstr(cfg, "orderMessageEnable=false"));
    assert_int_equal(
        call(n, "opsAdmin01", "opsSecret01", 318, "orderMessageEnable=true\n", NULL, 0), 0);
    assert_int_equal(call(n, "opsAdmin01", "opsSecret01", 319, NULL, cfg, sizeof cfg), 0);
    assert_non_null(strstr(cfg, "orderMessageEnable=true"));
    assert_null(strstr(cfg, g_target));
    assert_no_effect(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cve_2023_33246_broker, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_cve_2023_37582_namesrv, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
