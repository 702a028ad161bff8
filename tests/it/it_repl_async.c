/* it_repl_async.c - ASYNC_MASTER + SLAVE as real processes (kite-namesrv, two kite-broker)
 * on loopback, with load from kite-bench:
 *  - under load the slave's commit log is byte-identical to the master's up to the slave's
 *    end, every time it is looked at; after the load it holds all of it, and pulls from the
 *    slave answer the master's records byte for byte (same physical offsets); control: a
 *    copy of the master's log with one byte changed is found different at that byte;
 *  - an empty slave joining a master with several files of history copies all of it, from
 *    the master's first offset; control: the same comparison against the slave's files
 *    without its first one fails at offset 0;
 *  - a slave stopped (SIGTERM, then SIGKILL under load) resumes from its own end: the master
 *    logs the offset it ships from, the slave catches up and ends identical; control: before
 *    the restart the comparison finds the bytes written meanwhile missing;
 *  - the slave refuses sends with SERVICE_NOT_AVAILABLE (14, which producers retry on
 *    another broker), END_TRANSACTION with SLAVE_NOT_AVAILABLE (11) and topic creation with
 *    NO_PERMISSION (16), and writes nothing; control: the master accepts the same requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"

/* Scenario: slave replicates under load; identical while it runs and after. */
static void test_identical_under_load(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    char md[700], sd[700];
    rp_cl_dir(m, md, sizeof md);
    rp_cl_dir(s, sd, sizeof sd);
    FILE *load = rp_bench_start("ReplLoad", 3, 700);
    int looks = 0;
    int64_t last = 0;
    long long t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 2700) { /* while kite-bench runs */
        int64_t se = rp_cl_max(s);
        if (se > last) {
            assert_int_equal(rp_first_diff(md, sd, 0, se), -1);
            last = se;
            looks++;
        }
        usleep(300000);
    }
    long sent = rp_bench_wait(load);
    fprintf(stderr,
            "%ld messages sent; the slave was compared %d times under load (last at %lld)\n", sent,
            looks, (long long)last);
    assert_true(looks >= 3);
    int64_t end = rp_wait_caught_up(m, s);
    assert_true(end > 4 * RP_FILE);
    assert_int_equal(rp_first_diff(md, sd, 0, end), -1);
    rp_wait_slave_topic(s, "ReplLoad");
    long pulled = rp_same_pulls(m, s, "ReplLoad", 4);
    fprintf(stderr, "%ld messages pulled from both, identical\n", pulled);
    assert_int_equal(pulled, sent + 1); /* kite-bench's warm-up message too */

    /* Control: one byte changed in a copy of one of the master's files is found at that byte. */
    char copy[700];
    int64_t at = end / 2 + 13, fstart = at - at % RP_FILE;
    kt_mkdtemp("repl-copy", copy, sizeof copy);
    static uint8_t file[RP_FILE];
    assert_int_equal(rp_read_cl(md, fstart, file, RP_FILE), RP_FILE);
    file[at - fstart] ^= 0x20;
    char path[1024];
    snprintf(path, sizeof path, "%s/%020lld", copy, (long long)fstart);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, file, RP_FILE), RP_FILE);
    close(fd);
    assert_int_equal(
        rp_first_diff(copy, sd, fstart, end < fstart + RP_FILE ? end : fstart + RP_FILE), at);
    assert_int_equal(kb_count_lines(s->log, "ERROR"), 0);
    assert_int_equal(kb_count_lines(m->log, "ERROR"), 0);
}

/* Scenario: an empty slave joins a master that already holds several files. */
static void test_empty_slave_copies_history(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    long sent = rp_bench_wait(rp_bench_start("ReplHistory", 2, 900));
    int64_t mend = rp_cl_max(m);
    assert_true(mend > 5 * RP_FILE); /* several files of history */
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    int64_t end = rp_wait_caught_up(m, s);
    assert_int_equal(end, mend);
    assert_int_equal(rp_runtime(s, "commitLogMinOffset"), 0);
    char md[700], sd[700];
    rp_cl_dir(m, md, sizeof md);
    rp_cl_dir(s, sd, sizeof sd);
    assert_int_equal(rp_first_diff(md, sd, 0, end), -1);
    char *log = cf_read(m->log);
    cf_expect_in(log, "shipping from offset 0 (it asked for 0;");
    free(log);
    rp_wait_slave_topic(s, "ReplHistory");
    assert_int_equal(rp_same_pulls(m, s, "ReplHistory", 4), sent + 1);

    /* Control: without its first file the slave's copy would not compare equal. */
    char copy[700], first[1024];
    rp_copy_dir(sd, copy, sizeof copy);
    snprintf(first, sizeof first, "%s/%020d", copy, 0);
    assert_int_equal(unlink(first), 0);
    assert_int_equal(rp_first_diff(md, copy, 0, end), 0);
}

/* Scenario: the slave stops and restarts; it resumes from its own end. */
static void test_slave_restart_resumes(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    char md[700], sd[700];
    rp_cl_dir(m, md, sizeof md);
    rp_cl_dir(s, sd, sizeof sd);
    long sent = rp_bench_wait(rp_bench_start("ReplRestart", 1, 800));
    int64_t first_end = rp_wait_caught_up(m, s);

    /* A clean stop; more is written meanwhile. */
    bk_stop_clean(s);
    sent += rp_bench_wait(rp_bench_start("ReplRestart", 1, 800));
    int64_t mend = rp_cl_max(m);
    assert_true(mend > first_end);
    assert_int_equal(rp_first_diff(md, sd, 0, first_end), -1);
    int64_t gap = rp_first_diff(md, sd, 0, mend); /* control: the new bytes are missing */
    assert_true(gap >= first_end &&
                gap < first_end + 4); /* a record's size starts with zero bytes */
    rp_launch_slave(s, ns, 1, NULL);
    assert_int_equal(rp_wait_caught_up(m, s), mend);
    assert_int_equal(rp_first_diff(md, sd, 0, mend), -1);
    char want[160];
    snprintf(want, sizeof want, "this slave holds %lld bytes", (long long)first_end);
    char *log = cf_read(s->log);
    cf_expect_in(log, want);
    free(log);
    snprintf(want, sizeof want, "it asked for %lld;", (long long)(first_end - 65536));
    log = cf_read(m->log);
    cf_expect_in(log, want); /* its own end, less the tail it compares */
    free(log);

    /* Killed under load: recovery cuts the unfinished record, replication resumes. */
    FILE *load = rp_bench_start("ReplRestart", 3, 800);
    usleep(1200000);
    int64_t before = rp_cl_max(s);
    kt_kill9(s->pid);
    s->pid = 0;
    assert_true(before > mend);
    rp_launch_slave(s, ns, 1, NULL);
    sent += rp_bench_wait(load);
    int64_t end = rp_wait_caught_up(m, s);
    assert_int_equal(rp_first_diff(md, sd, 0, end), -1);
    rp_wait_slave_topic(s, "ReplRestart");
    assert_int_equal(rp_same_pulls(m, s, "ReplRestart", 4), sent + 3); /* three warm-up messages */
}

/* Scenario: what a slave refuses, and the master accepts. */
static void test_slave_refuses_writes(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    int mfd = bk_conn(m), sfd = bk_conn(s);
    bk_expect(
        mfd, 17,
        "\"topic\":\"ReplRefused\",\"readQueueNums\":\"2\",\"writeQueueNums\":\"2\",\"perm\":\"6\"",
        NULL, 0, 0);
    rp_wait_slave_topic(s, "ReplRefused");
    int64_t held = rp_wait_caught_up(m, s);

    kite_cmd r;
    assert_int_equal(kb_send_v2(sfd, "ReplRefused", 0, NULL, "to the slave", 12, &r), 0);
    fprintf(stderr, "send to the slave: %d %s\n", r.code, r.remark ? r.remark : "");
    assert_int_equal(r.code, 14);
    assert_non_null(strstr(r.remark, "slave"));
    kite_cmd_free(&r);
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"producerGroup\":\"PG\",\"tranStateTableOffset\":\"0\",\"commitLogOffset\":\"0\",\"commitOrRollback\":\"8\","
        "\"fromTransactionCheck\":\"false\",\"msgId\":\"00\",\"transactionId\":\"t\"");
    bk_expect(sfd, 37, ext, NULL, 0, 11);
    bk_expect(
        sfd, 17,
        "\"topic\":\"ReplNew\",\"readQueueNums\":\"2\",\"writeQueueNums\":\"2\",\"perm\":\"6\"",
        NULL, 0, 16);
    bk_expect(sfd, 200, "", "{\"groupName\":\"ReplGroup\"}", 25, 16);
    usleep(300000);
    assert_int_equal(rp_cl_max(s), held); /* nothing was written on the slave */

    /* Control: the master takes the same send (and the slave then holds it). */
    assert_int_equal(kb_send_v2(mfd, "ReplRefused", 0, NULL, "to the master", 13, &r), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    assert_true(rp_wait_caught_up(m, s) > held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identical_under_load, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_empty_slave_copies_history, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_slave_restart_resumes, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_slave_refuses_writes, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
