/* it_repl_meta.c - a slave's copy of its master's metadata (src/broker/slave_sync.c), with
 * kite-namesrv and two kite-broker processes on loopback:
 *  - consumer offsets committed to the master, its topics and its delay progress reach the
 *    slave (every 10 s);
 *  - a consumer that moved to the slave while the master was down commits there; when the
 *    master returns with its older table, the slave keeps the newer offset and the master
 *    adopts it (no re-delivery of what was consumed on the slave);
 *  - control: a queue nobody committed to on the slave takes the master's value, even a
 *    lower one (a reset made on the master wins). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"

#define GROUP "\"consumerGroup\":\"MetaGroup\""

static void commit(int fd, int qid, int64_t off)
{
    char ext[256];
    snprintf(ext, sizeof ext,
             GROUP ",\"topic\":\"ReplMeta\",\"queueId\":\"%d\",\"commitOffset\":\"%lld\"", qid,
             (long long)off);
    bk_expect(fd, 15, ext, NULL, 0, 0);
}

static int64_t committed(const kt_daemon *d, int qid)
{
    int fd = kt_connect(d->host, d->port);
    if (fd < 0) return INT64_MIN;
    int64_t v = kb_lookup(fd, 14, "ReplMeta", qid, "," GROUP, "offset");
    kb_forget_fd(fd);
    close(fd);
    return v;
}

/* Waits until d reports `want` for queue qid; while waiting, the value must never be `never`. */
static void wait_committed(const kt_daemon *d, int qid, int64_t want, int64_t never)
{
    long long t0 = kt_now_ms();
    int64_t v = INT64_MIN;
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        v = committed(d, qid);
        assert_true(never == INT64_MIN || v != never);
        if (v == want) return;
        usleep(200000);
    }
    fprintf(stderr, "queue %d: want %lld, have %lld\n", qid, (long long)want, (long long)v);
    fail();
}

static void test_offsets_follow_and_come_back(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, "messageDelayLevel=1s 2s\n");
    kt_daemon *s = rp_start_slave(ns, 1, "messageDelayLevel=1s 2s\n");
    int fd = bk_conn(m);
    bk_expect(
        fd, 17,
        "\"topic\":\"ReplMeta\",\"readQueueNums\":\"2\",\"writeQueueNums\":\"2\",\"perm\":\"6\"",
        NULL, 0, 0);
    for (int i = 0; i < 10; i++) bk_send_ok(fd, "ReplMeta", i % 2, NULL, "meta", NULL);
    bk_send_ok(fd, "ReplMeta", 0, "DELAY\\u00011\\u0002", "delayed", NULL); /* level 1 moves on */
    commit(fd, 0, 3);
    commit(fd, 1, 4);
    rp_wait_slave_topic(s, "ReplMeta");
    wait_committed(s, 0, 3, INT64_MIN);
    wait_committed(s, 1, 4, INT64_MIN);
    /* The delay progress: level 1 delivered its message on the master, and the slave has it. */
    long long t0 = kt_now_ms();
    int sfd = bk_conn(s);
    const char *want = "1:1";
    char body[4096] = "";
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        kite_cmd r;
        assert_int_equal(kb_call(sfd, 45, "", NULL, 0, &r), 0);
        snprintf(body, sizeof body, "%s", kt_body(&r));
        kite_cmd_free(&r);
        if (strstr(body, want)) break;
        usleep(200000);
    }
    fprintf(stderr, "slave's delay progress: %s\n", body);
    assert_non_null(strstr(body, want));
    bk_close(sfd);

    /* The master goes away; the consumer commits to the slave. */
    bk_close(fd);
    bk_stop_clean(m);
    sfd = bk_conn(s);
    commit(sfd, 0, 8);
    bk_close(sfd);
    assert_int_equal(committed(s, 0), 8);

    /* It returns with 3 for queue 0; queue 1 is reset to 2 on it. */
    rp_launch_master(m, ns, &ha, "messageDelayLevel=1s 2s\n");
    fd = bk_conn(m);
    assert_int_equal(committed(m, 0), 3);
    commit(fd, 1, 2);
    wait_committed(m, 0, 8, INT64_MIN); /* the master adopts what was consumed on the slave */
    wait_committed(s, 1, 2, INT64_MIN); /* control: not committed on the slave: the master's wins */
    /* Over two more copies the slave keeps 8 (never back to 3). */
    t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 12000) {
        assert_int_equal(committed(s, 0), 8);
        usleep(500000);
    }
    assert_int_equal(committed(m, 0), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offsets_follow_and_come_back, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
