/* it_repl_acl.c - a slave's metadata copy from a master with plain ACL on
 * (src/broker/slave_sync.c, src/broker/acl.c; README "Security"): kite-namesrv and two
 * kite-broker processes on loopback, both with aclEnable=true and the same accounts file;
 * the test's own requests are signed as an admin account (kb_sign_as).
 *  - control: a slave without innerClientAuthenticationCredentials asks unsigned; the master
 *    refuses every copy (its log names the request and the slave's address), the slave logs
 *    the refusal with the master's AclException text at most once a second (the second
 *    round's line counts the lines held back), and nothing arrives: no topic, no consumer
 *    offset, no subscription group, no delay progress;
 *  - the same slave restarted with an admin account in innerClientAuthenticationCredentials
 *    signs its requests: the topic, the offsets, the group and the delay progress created
 *    on the master appear on it;
 *  - slave -> master: an offset committed to the slave while the master was down goes back
 *    to the master when it returns (a signed UPDATE_CONSUMER_OFFSET), while an unsigned
 *    commit to the master is refused (so the offset cannot have come unsigned). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"

static const char *k_accounts = "accounts:\n"
                                "  - accessKey: brokerInner01\n"
                                "    secretKey: brokerInnerSecret1\n"
                                "    admin: true\n"
                                "  - accessKey: testAdmin01\n"
                                "    secretKey: testAdminSecret1\n"
                                "    admin: true\n";

#define INNER                                                                              \
    "innerClientAuthenticationCredentials={\"accessKey\":\"brokerInner01\",\"secretKey\":" \
    "\"brokerInnerSecret1\"}\n"
#define TOPIC "ReplAcl"
#define GROUP "AclSyncGroup"
/* the slave's line for a refused copy (its "no answer" lines while the master is down differ) */
#define ACL_REFUSED_LINE "answered 1 (org.apache.rocketmq.acl.common.AclException"

static void commit(int fd, int qid, int64_t off, int want)
{
    char ext[256];
    snprintf(ext, sizeof ext,
             "\"consumerGroup\":\"" GROUP "\",\"topic\":\"" TOPIC
             "\",\"queueId\":\"%d\",\"commitOffset\":\"%lld\"",
             qid, (long long)off);
    bk_expect(fd, 15, ext, NULL, 0, want);
}

/* The group's committed offset of queue qid on d (signed query); INT64_MIN when unreadable. */
static int64_t committed(const kt_daemon *d, int qid)
{
    int fd = kt_connect(d->host, d->port);
    if (fd < 0) return INT64_MIN;
    int64_t v = kb_lookup(fd, 14, TOPIC, qid, ",\"consumerGroup\":\"" GROUP "\"", "offset");
    kb_forget_fd(fd);
    close(fd);
    return v;
}

static void wait_committed(const kt_daemon *d, int qid, int64_t want)
{
    long long t0 = kt_now_ms();
    int64_t v = INT64_MIN;
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        if ((v = committed(d, qid)) == want) return;
        usleep(200000);
    }
    fprintf(stderr, "queue %d on %s:%d: want %lld, have %lld\n", qid, d->host, d->port,
            (long long)want, (long long)v);
    bk_dump_log(d);
    fail();
}

/* The body of a call (signed) as text into out; returns the answer's code. */
static int body_of(const kt_daemon *d, int code, char *out, size_t cap)
{
    int fd = bk_conn(d);
    kite_cmd r;
    assert_int_equal(kb_call(fd, code, "", NULL, 0, &r), 0);
    int rc = r.code;
    snprintf(out, cap, "%.*s", (int)r.body_len, r.body ? (const char *)r.body : "");
    kite_cmd_free(&r);
    bk_close(fd);
    return rc;
}

/* Answer code of a pull of TOPIC queue 0 on d (17: TOPIC_NOT_EXIST). */
static int pull_code(const kt_daemon *d)
{
    int fd = bk_conn(d);
    kite_cmd r;
    assert_int_equal(kb_pull(fd, "ReplCheck", TOPIC, 0, 0, 1, 4, 0, 0, "*", &r), 0);
    int code = r.code;
    kite_cmd_free(&r);
    bk_close(fd);
    return code;
}

static void test_slave_copies_under_acl(void **st)
{
    (void)st;
    char dir[512], path[700], acl[1200], acl_inner[1400];
    kt_mkdtemp("replacl", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/acl.yml", dir);
    kt_write_file(path, k_accounts);
    snprintf(acl, sizeof acl, "aclEnable=true\naclFile=%s\nmessageDelayLevel=1s 2s\n", path);
    snprintf(acl_inner, sizeof acl_inner, "%s" INNER, acl);
    kb_sign_as("testAdmin01", "testAdminSecret1");

    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, acl);
    kt_daemon *s = rp_start_slave(ns, 1, acl); /* no credentials */
    int fd = bk_conn(m);
    bk_expect(fd, 17,
              "\"topic\":\"" TOPIC "\",\"readQueueNums\":\"2\",\"writeQueueNums\":\"2\","
              "\"perm\":\"6\"",
              NULL, 0, 0);
    const char *sg = "{\"groupName\":\"" GROUP "\",\"retryMaxTimes\":7}";
    bk_expect(fd, 200, "", sg, strlen(sg), 0);
    for (int i = 0; i < 10; i++) bk_send_ok(fd, TOPIC, i % 2, NULL, "acl-meta", NULL);
    bk_send_ok(fd, TOPIC, 0, "DELAY\\u00011\\u0002", "delayed", NULL); /* level 1 moves on */
    commit(fd, 0, 3, 0);
    commit(fd, 1, 4, 0);
    /* the test's own control: an unsigned commit is refused by the master */
    kb_sign_as(NULL, NULL);
    commit(fd, 1, 9, 1);
    kb_sign_as("testAdmin01", "testAdminSecret1");
    assert_int_equal(committed(m, 1), 4);

    /* Control: two rounds of unsigned copies (3 s after start, then every 10 s), refused. */
    long long t0 = kt_now_ms();
    while (kb_count_lines(s->log, ACL_REFUSED_LINE) < 2 && kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(200000);
    bk_dump_log(s);
    assert_true(kb_count_lines(s->log, ACL_REFUSED_LINE) >= 2);
    /* each line carries the master's answer and says what to do */
    assert_true(kb_count_lines(s->log, "AclException: No accessKey is configured") >= 2);
    assert_true(kb_count_lines(s->log, "innerClientAuthenticationCredentials") >= 2);
    /* four refusals a round, one line a second: the next round's line counts the others */
    assert_true(kb_count_lines(s->log, "similar line(s) not logged") >= 1);
    assert_true(kb_count_lines(m->log, "refused: the request carries no AccessKey") >= 2);
    assert_true(kb_count_lines(m->log, ") from ") >= 2);
    assert_true(kb_count_lines(m->log, "GET_ALL_") >= 1);
    /* nothing arrived */
    assert_int_equal(pull_code(s), 17);
    assert_int_not_equal(committed(s, 0), 3);
    assert_int_not_equal(committed(s, 1), 4);
    char body[65536];
    assert_int_equal(body_of(s, 201, body, sizeof body), 0);
    assert_null(strstr(body, GROUP));
    body_of(s, 45, body, sizeof body);
    fprintf(stderr, "slave's delay progress, unsigned: %s\n", body);
    assert_null(strstr(body, "1:1"));

    /* The same slave with an admin account signs its copies: everything arrives. */
    bk_stop_clean(s);
    int refusals = kb_count_lines(s->log, ACL_REFUSED_LINE);
    rp_launch_slave(s, ns, 1, acl_inner);
    rp_wait_slave_topic(s, TOPIC);
    wait_committed(s, 0, 3);
    wait_committed(s, 1, 4);
    t0 = kt_now_ms();
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        if (body_of(s, 201, body, sizeof body) == 0 && strstr(body, GROUP)) break;
        usleep(200000);
    }
    assert_non_null(strstr(body, GROUP));
    assert_non_null(strstr(body, "\"retryMaxTimes\":7"));
    t0 = kt_now_ms();
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        body_of(s, 45, body, sizeof body);
        if (strstr(body, "1:1")) break;
        usleep(200000);
    }
    fprintf(stderr, "slave's delay progress, signed: %s\n", body);
    assert_non_null(strstr(body, "1:1"));
    assert_int_equal(kb_count_lines(s->log, ACL_REFUSED_LINE), refusals);
    assert_true(kb_count_lines(s->log, "are signed as 'brokerInner01'") >= 1);

    /* Slave -> master: the master goes away, a consumer commits to the slave; the master
     * returns with 3 and adopts 8 from the slave. */
    bk_close(fd);
    bk_stop_clean(m);
    int sfd = bk_conn(s);
    commit(sfd, 0, 8, 0);
    bk_close(sfd);
    assert_int_equal(committed(s, 0), 8);
    rp_launch_master(m, ns, &ha, acl);
    assert_int_equal(committed(m, 0), 3);
    wait_committed(m, 0, 8);
    assert_int_equal(committed(s, 0), 8);
    assert_int_equal(kb_count_lines(s->log, ACL_REFUSED_LINE), refusals);
    kb_sign_as(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slave_copies_under_acl, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
