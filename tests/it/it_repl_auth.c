/* it_repl_auth.c - authenticated replication (haAuthKeyFile, docs/wire.md §13.5) between
 * real processes on loopback:
 *  - a SYNC_MASTER and a slave holding the same key replicate (identical logs, SEND_OK);
 *  - peers without the key are refused and counted for nothing: a classic peer that sends an
 *    offset report (the master logs that it did not answer the challenge), a slave with
 *    another key (the master logs the wrong proof, the slave that the master closed during
 *    authentication), a slave without a key (it logs that the master requires one); sends
 *    answer SLAVE_NOT_AVAILABLE meanwhile;
 *  - a keyed slave facing a classic master logs that no challenge came;
 *  - control: the slave restarted with the right key replicates and sends answer SEND_OK;
 *    the key itself appears neither in the logs nor in GET_BROKER_CONFIG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"

static void key_file(const kt_daemon *ns, const char *name, const char *key, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", ns->dir, name);
    kt_write_file(path, key);
}

static void wait_log(const char *path, const char *needle)
{
    long long t0 = kt_now_ms();
    while (kb_count_lines(path, needle) <= 0 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(50000);
    if (kb_count_lines(path, needle) <= 0)
        fprintf(stderr, "no line with \"%s\" in %s\n", needle, path);
    assert_true(kb_count_lines(path, needle) > 0);
}

static int send_code(int fd, const char *body)
{
    kite_cmd r;
    assert_int_equal(kb_send_v2(fd, "ReplAuth", 0, NULL, body, strlen(body), &r), 0);
    int code = r.code;
    kite_cmd_free(&r);
    return code;
}

/* Scenario: wrong key, no key and a classic peer are refused; the right key replicates. */
static void test_only_key_holders_replicate(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    char good[700], bad[700], extra[1024];
    key_file(ns, "good.key", "s3cret-group-key\n", good, sizeof good);
    key_file(ns, "bad.key", "another-key", bad, sizeof bad);
    int ha = 0;
    snprintf(extra, sizeof extra, "brokerRole=SYNC_MASTER\nslaveTimeout=1000\nhaAuthKeyFile=%s\n",
             good);
    kt_daemon *m = rp_start_master(ns, &ha, extra);
    int fd = bk_conn(m);
    bk_expect(
        fd, 17,
        "\"topic\":\"ReplAuth\",\"readQueueNums\":\"1\",\"writeQueueNums\":\"1\",\"perm\":\"6\"",
        NULL, 0, 0);

    /* A classic peer: its offset report is not an answer to the challenge. */
    int peer = kt_connect(m->host, ha);
    assert_true(peer >= 0);
    uint8_t rep[8];
    kite_wr_be64(rep, 0);
    assert_int_equal(kt_send_raw(peer, rep, 8), 0);
    assert_true(kt_peer_closed(peer, KT_DEADLINE_MS));
    close(peer);
    wait_log(m->log, "did not answer the authentication challenge");

    /* A slave with another key. */
    snprintf(extra, sizeof extra, "haAuthKeyFile=%s\n", bad);
    kt_daemon *s = rp_start_slave(ns, 1, extra);
    wait_log(m->log, "its proof does not match");
    wait_log(s->log, "closed the connection during authentication");
    assert_int_equal(send_code(fd, "nobody may replicate this"), 11);
    bk_stop_clean(s);

    /* A slave without a key. */
    rp_launch_slave(s, ns, 1, NULL);
    wait_log(s->log, "requires authenticated replication");
    assert_int_equal(send_code(fd, "still nobody"), 11);
    bk_stop_clean(s);

    /* Control: the right key. */
    snprintf(extra, sizeof extra, "haAuthKeyFile=%s\n", good);
    rp_launch_slave(s, ns, 1, extra);
    long long t0 = kt_now_ms();
    int code;
    while ((code = send_code(fd, "replicated")) != 0 && kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(100000);
    assert_int_equal(code, 0);
    wait_log(m->log, "authenticated");
    int64_t end = rp_wait_caught_up(m, s);
    char md[700], sd[700];
    rp_cl_dir(m, md, sizeof md);
    rp_cl_dir(s, sd, sizeof sd);
    assert_int_equal(rp_first_diff(md, sd, 0, end), -1);

    /* The key stays out of logs and configuration answers. */
    assert_int_equal(kb_count_lines(m->log, "s3cret"), 0);
    assert_int_equal(kb_count_lines(s->log, "s3cret"), 0);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 26, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_null(strstr(kt_body(&r), "s3cret"));
    assert_non_null(strstr(kt_body(&r), "haAuthKeyFile="));
    kite_cmd_free(&r);
}

/* Scenario: a keyed slave and a classic master. */
static void test_keyed_slave_classic_master(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    char good[700], extra[1024];
    key_file(ns, "good.key", "s3cret-group-key", good, sizeof good);
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    snprintf(extra, sizeof extra, "haAuthKeyFile=%s\n", good);
    kt_daemon *s = rp_start_slave(ns, 1, extra);
    wait_log(s->log, "sent no authentication challenge");
    int fd = bk_conn(m);
    assert_int_equal(send_code(fd, "stays on the master"), 0);
    usleep(500000);
    assert_int_equal(rp_cl_max(s), 0); /* nothing was taken from an unauthenticated master */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_only_key_holders_replicate, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_keyed_slave_classic_master, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
