/* it_acl_client.c - the clients sign (include/kite/credentials.h; README "Security"): a
 * real name server and a broker with aclEnable=true and an accounts file written by the
 * test. kite-admin: updateTopic refused unsigned and to a sub-account, done by the admin
 * account given as --accessKey/--secretKey and, separately, from $ROCKETMQ_HOME/conf/tools.yml.
 * libkite: a sub-account's producer sends to its PUB|SUB topic and its push consumer
 * receives every message, both with a SecurityToken in their credentials; the same producer is refused on its DENY topic with the broker's
 * AclException text in kite_send_result.error (and the admin's producer, the control,
 * stores there); a wrong secret and an unsigned producer are refused with RocketMQ's
 * messages; the pull consumer is refused on the DENY topic and served on the allowed one;
 * half credentials are refused at create; a transaction producer signing as the sub-account
 * stores and commits (the consumer gets the message), unsigned its half is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "kt_consume.h"
#include "kite/kite.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACL_EXC "org.apache.rocketmq.acl.common.AclException: "

static const char *k_accounts = "accounts:\n"
                                "  - accessKey: appUser01\n"
                                "    secretKey: appSecret01\n"
                                "    admin: false\n"
                                "    defaultTopicPerm: DENY\n"
                                "    defaultGroupPerm: SUB\n"
                                "    topicPerms:\n"
                                "      - AclOk=PUB|SUB\n"
                                "      - AclDeny=DENY\n"
                                "  - accessKey: opsAdmin01\n"
                                "    secretKey: opsSecret01\n"
                                "    admin: true\n";

static kc_env E;
static char g_dir[512];

static int setup(void **st)
{
    (void)st;
    kt_mkdtemp("aclcli", g_dir, sizeof g_dir);
    char path[700], extra[900];
    snprintf(path, sizeof path, "%s/acl.yml", g_dir);
    kt_write_file(path, k_accounts);
    snprintf(extra, sizeof extra, "aclEnable=true\naclFile=%s\n", path);
    return kc_env_start(&E, extra);
}

static int teardown(void **st)
{
    (void)st;
    return kc_env_stop(&E);
}

/* Runs kite-admin with env (may be "") before it; output (stdout+stderr) into out. */
static int adm(char *out, size_t cap, const char *env, const char *args)
{
    const char *bin = getenv("KITE_BIN");
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "%s timeout 60 %s/kite-admin %s 2>&1", env,
             bin && *bin ? bin : "./bin", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    fprintf(stderr, "$ kite-admin %s -> %d\n%s\n", args, WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void update_topic(const char *topic, const char *env, const char *keys, int want_ok,
                         const char *want_text)
{
    char args[1024], out[16384];
    snprintf(args, sizeof args, "updateTopic -n '%s' -c TestCluster -t %s %s", E.nsaddr, topic,
             keys);
    int rc = adm(out, sizeof out, env, args);
    if (want_ok) {
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "create topic to"));
    } else {
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(out, ACL_EXC));
        assert_non_null(strstr(out, want_text));
    }
}

static kite_producer *producer(const char *group, const char *ak, const char *sk, const char *token)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = E.nsaddr;
    o.retry_times = 0;
    o.credentials.access_key = ak;
    o.credentials.secret_key = sk;
    o.credentials.security_token = token;
    kite_producer *p = NULL;
    assert_int_equal(kite_producer_create(&p, group, &o), KITE_OK);
    assert_int_equal(kite_producer_start(p), KITE_OK);
    return p;
}

static int send1(kite_producer *p, const char *topic, const char *body, kite_send_result *r)
{
    kite_message *m = kite_message_new(topic);
    kite_message_set_body(m, body, strlen(body));
    memset(r, 0, sizeof *r);
    int rc = kite_producer_send(p, m, r);
    kite_message_destroy(m);
    fprintf(stderr, "send %s to %s: %d %s\n", body, topic, rc, rc ? r->error : "ok");
    return rc;
}

static void expect_refused(kite_producer *p, const char *topic, const char *text)
{
    kite_send_result r;
    assert_int_equal(send1(p, topic, "x", &r), KITE_ERR);
    assert_int_equal(r.broker_code, 1);
    assert_non_null(strstr(r.error, ACL_EXC));
    assert_non_null(strstr(r.error, text));
}

static kite_tx_state tx_commit(kite_message *msg, void *arg)
{
    (void)msg;
    (void)arg;
    return KITE_TX_COMMIT;
}

static kite_tx_state tx_check(const kite_message_ext *msg, void *arg)
{
    (void)msg;
    (void)arg;
    return KITE_TX_COMMIT;
}

/* A transaction producer signing as ak/sk sends body to topic and commits: its status. */
static int tx_send(const char *ak, const char *sk, const char *topic, const char *body,
                   kite_send_result *r)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = E.nsaddr;
    o.retry_times = 0;
    o.credentials.access_key = ak;
    o.credentials.secret_key = sk;
    kite_tx_listener l = { .execute = tx_commit, .check = tx_check };
    kite_producer *p = NULL;
    assert_int_equal(
        kite_producer_create_transactional(&p, ak ? "acl_tx_pg" : "acl_tx_anon", &o, &l), KITE_OK);
    assert_int_equal(kite_producer_start(p), KITE_OK);
    kite_message *m = kite_message_new(topic);
    kite_message_set_body(m, body, strlen(body));
    kite_tx_state state = KITE_TX_UNKNOWN;
    memset(r, 0, sizeof *r);
    int rc = kite_producer_send_in_transaction(p, m, NULL, r, &state);
    fprintf(stderr, "tx send as %s: %d %s state %d\n", ak ? ak : "(unsigned)", rc,
            rc ? r->error : "ok", (int)state);
    if (rc == KITE_OK) assert_int_equal(state, KITE_TX_COMMIT);
    kite_message_destroy(m);
    kite_producer_destroy(p);
    return rc;
}

static void test_admin_tool(void **st)
{
    (void)st;
    update_topic("AclOk", "", "", 0, "No accessKey is configured");
    update_topic("AclOk", "", "--accessKey appUser01 --secretKey appSecret01", 0, "appUser01");
    update_topic("AclOk", "", "--accessKey opsAdmin01 --secretKey wrongSecret", 0,
                 "Check signature failed");
    update_topic("AclOk", "", "--accessKey opsAdmin01 --secretKey opsSecret01", 1, NULL);
    /* tools.yml, where mqadmin reads the keys: a sub-account's file is refused, the admin's
     * works (the control that the file is what is read). */
    char home[512], conf[700], file[800], env[900];
    kt_mkdtemp("aclhome", home, sizeof home);
    snprintf(conf, sizeof conf, "%s/conf", home);
    assert_int_equal(mkdir(conf, 0755), 0);
    snprintf(file, sizeof file, "%s/tools.yml", conf);
    snprintf(env, sizeof env, "ROCKETMQ_HOME='%s'", home);
    kt_write_file(file, "accessKey: appUser01\nsecretKey: appSecret01\n");
    update_topic("AclDeny", env, "", 0, "appUser01");
    kt_write_file(file, "accessKey: \"opsAdmin01\"\nsecretKey: 'opsSecret01'\n");
    update_topic("AclDeny", env, "", 1, NULL);
    char out[4096];
    assert_int_equal(adm(out, sizeof out, "", "topicRoute -t AclOk --accessKey onlyKey"), 2);
}

static void test_client_signs(void **st)
{
    (void)st;
    assert_int_equal(kc_wait_route(&E, "AclOk", KT_DEADLINE_MS), 0);
    assert_int_equal(kc_wait_route(&E, "AclDeny", KT_DEADLINE_MS), 0);
    /* half credentials */
    kite_producer_opts po;
    kite_producer_opts_init(&po);
    po.namesrv_addr = E.nsaddr;
    po.credentials.access_key = "appUser01";
    kite_producer *bad = NULL;
    assert_int_equal(kite_producer_create(&bad, "acl_half", &po), KITE_EINVAL);

    enum { N = 20 };
    /* the sub-account's producer and push consumer carry a SecurityToken (signed, checked
     * against nothing, as by RocketMQ's broker); the others carry none */
    kite_producer *user = producer("acl_pg", "appUser01", "appSecret01", "sts-token-producer");
    kite_send_result r;
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof body, "acl-%d", i);
        assert_int_equal(send1(user, "AclOk", body, &r), KITE_OK);
    }
    expect_refused(user, "AclDeny", "AclDeny");
    /* the transaction producer signs its half message and its commit: the consumer below
     * gets message N only once committed; unsigned, the half is refused */
    char txbody[32];
    snprintf(txbody, sizeof txbody, "acl-%d", N);
    assert_int_equal(tx_send("appUser01", "appSecret01", "AclOk", txbody, &r), KITE_OK);
    assert_int_equal(tx_send(NULL, NULL, "AclOk", "acl-999", &r), KITE_ERR);
    assert_non_null(strstr(r.error, "No accessKey is configured"));
    kite_producer *admin = producer("acl_admin_pg", "opsAdmin01", "opsSecret01", NULL);
    assert_int_equal(send1(admin, "AclDeny", "by-admin", &r), KITE_OK); /* control */
    kite_producer *wrong = producer("acl_wrong_pg", "appUser01", "notTheSecret", NULL);
    expect_refused(wrong, "AclOk", "Check signature failed for accessKey=appUser01");
    kite_producer *anon = producer("acl_anon_pg", NULL, NULL, NULL);
    expect_refused(anon, "AclOk", "No accessKey is configured");

    /* the sub-account's push consumer receives every message of its topic */
    kc_collector col;
    kc_collector_init(&col, "acl", "AclOk");
    kite_push_consumer_opts co;
    kc_consumer_opts(&E, &co);
    co.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    co.credentials.access_key = "appUser01";
    co.credentials.secret_key = "appSecret01";
    co.credentials.security_token = "sts-token-consumer";
    kite_push_consumer *c = kc_consumer(&co, "acl_cg", "AclOk", "*", &col);
    int got = kc_wait_distinct(&col, N + 1, KT_DEADLINE_MS);
    if (got != N + 1) kt_dump_log(E.br.log, 16384);
    assert_int_equal(got, N + 1);
    assert_int_equal(atomic_load(&col.bad), 0);
    kite_push_consumer_destroy(c);
    kc_collector_destroy(&col);

    /* pull consumer: served on AclOk, refused on AclDeny (which holds a message) */
    kite_pull_consumer_opts lo;
    kite_pull_consumer_opts_init(&lo);
    lo.namesrv_addr = E.nsaddr;
    lo.credentials.access_key = "appUser01";
    lo.credentials.secret_key = "appSecret01";
    kite_pull_consumer *pc = NULL;
    assert_int_equal(kite_pull_consumer_create(&pc, "acl_pull", &lo), KITE_OK);
    assert_int_equal(kite_pull_consumer_start(pc), KITE_OK);
    const char *topics[2] = { "AclOk", "AclDeny" };
    for (int t = 0; t < 2; t++) {
        kite_mq_list l;
        assert_int_equal(kite_pull_consumer_fetch_queues(pc, topics[t], &l), KITE_OK);
        int found = 0, refused = 0;
        for (size_t i = 0; i < l.n; i++) {
            kite_pull_result pr;
            memset(&pr, 0, sizeof pr);
            int rc = kite_pull_consumer_pull(pc, &l.mqs[i], "*", 0, 32, &pr);
            if (rc == KITE_OK && pr.status == KITE_PULL_FOUND) found += (int)pr.n;
            if (rc == KITE_ERR) refused++;
            kite_pull_result_free(&pr);
        }
        fprintf(stderr, "pull %s: found %d, refused %d of %zu queues\n", topics[t], found, refused,
                l.n);
        if (t == 0) {
            assert_int_equal(found, N + 1);
            assert_int_equal(refused, 0);
        } else {
            assert_int_equal(found, 0);
            assert_int_equal(refused, (int)l.n);
        }
        kite_mq_list_free(&l);
    }
    kite_pull_consumer_destroy(pc);
    kite_producer_destroy(user);
    kite_producer_destroy(admin);
    kite_producer_destroy(wrong);
    kite_producer_destroy(anon);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_tool),
        cmocka_unit_test(test_client_signs),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, setup, teardown));
}
