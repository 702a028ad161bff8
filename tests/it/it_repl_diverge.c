/* it_repl_diverge.c - a slave whose commit log is not its master's is refused, loudly, on
 * both sides, and its log is never merged (kite-namesrv + kite-broker processes on
 * loopback):
 *  - same length, other bytes: the master is replaced by one with a fresh store and
 *    a different history at least as long; the slave compares the tail it holds with the
 *    master's bytes, finds the first differing byte, logs an ERROR naming it and stops;
 *    the master logs that the slave reported a diverged log; the slave's files still hold
 *    the old history, byte for byte, and it appends nothing more;
 *  - slave ahead: the new master's log is far shorter than what the slave holds; the master
 *    refuses the slave's request past its end with an ERROR, the slave warns that the master
 *    closed the connection and gets nothing;
 *  - slave behind what the master retains (its files after the slave's end deleted): the
 *    slave names both offsets and stops, the master warns; control: an empty slave copies
 *    what the master retains;
 *  - control: the same restarts with the master's own store: no ERROR on either side, the
 *    slave catches up and is identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"

/* Restarts master m with an empty store (the old one moved to <dir>/store.old) and writes
 * `secs` of new history into it. */
static void new_master_history(kt_daemon *m, const kt_daemon *ns, int *ha, int secs)
{
    bk_stop_clean(m);
    char from[700], to[700];
    snprintf(from, sizeof from, "%s/store", m->dir);
    snprintf(to, sizeof to, "%s/store.old", m->dir);
    assert_int_equal(rename(from, to), 0);
    rp_launch_master(m, ns, ha, NULL);
    rp_bench_wait(rp_bench_start("ReplOther", secs, 600));
}

/* Waits until the log at path has a line containing needle; asserts it does in time. */
static void wait_log(const char *path, const char *needle)
{
    long long t0 = kt_now_ms();
    while (kb_count_lines(path, needle) <= 0 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(50000);
    if (kb_count_lines(path, needle) <= 0)
        fprintf(stderr, "no line with \"%s\" in %s\n", needle, path);
    assert_true(kb_count_lines(path, needle) > 0);
}

/* Scenario: control, then the same with another history of equal or greater length. */
static void test_other_bytes_refused(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    rp_bench_wait(rp_bench_start("ReplOld", 1, 600));
    int64_t held = rp_wait_caught_up(m, s);
    bk_stop_clean(s);

    /* Control: the master restarts with its own store; the slave comes back and continues. */
    bk_stop_clean(m);
    rp_launch_master(m, ns, &ha, NULL);
    rp_launch_slave(s, ns, 1, NULL);
    rp_bench_wait(rp_bench_start("ReplOld", 1, 600));
    held = rp_wait_caught_up(m, s);
    char md[700], sd[700];
    rp_cl_dir(m, md, sizeof md);
    rp_cl_dir(s, sd, sizeof sd);
    assert_int_equal(rp_first_diff(md, sd, 0, held), -1);
    assert_int_equal(kb_count_lines(s->log, "ERROR"), 0);
    assert_int_equal(kb_count_lines(m->log, "ERROR"), 0);
    wait_log(s->log, "match the master's; appending from");

    /* Another history, at least as long, under the same master address. */
    bk_stop_clean(s);
    char old[700];
    snprintf(old, sizeof old, "%s/store.old/commitlog", m->dir);
    new_master_history(m, ns, &ha, 3);
    int64_t mend = rp_cl_max(m);
    fprintf(stderr, "slave holds %lld bytes, the new master %lld\n", (long long)held,
            (long long)mend);
    assert_true(mend >= held);
    rp_launch_slave(s, ns, 1, NULL);
    wait_log(s->log, "diverged from the master's: the byte at offset");
    wait_log(m->log, "reports that it cannot follow this master's commit log");
    int sessions = kb_count_lines(s->log, "connected to master");
    usleep(1500000); /* several heartbeat periods: it must not reconnect and append */
    assert_int_equal(kb_count_lines(s->log, "connected to master"), sessions);
    assert_int_equal(rp_cl_max(s), held);
    assert_int_equal(rp_first_diff(old, sd, 0, held), -1); /* the old history, intact */
    assert_true(rp_first_diff(md, sd, 0, held) >= 0);      /* not the new master's */
}

/* Scenario: the slave holds far more than the new master. */
static void test_slave_ahead_refused(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    rp_bench_wait(rp_bench_start("ReplOld", 2, 600));
    int64_t held = rp_wait_caught_up(m, s);
    bk_stop_clean(s);
    bk_stop_clean(m);
    char from[700], to[700];
    snprintf(from, sizeof from, "%s/store", m->dir);
    snprintf(to, sizeof to, "%s/store.old", m->dir);
    assert_int_equal(rename(from, to), 0);
    rp_launch_master(m, ns, &ha, NULL);
    int fd = bk_conn(m); /* a short new history: a few messages */
    for (int i = 0; i < 20; i++) bk_send_ok(fd, "ReplShort", 0, NULL, "short history", NULL);
    int64_t mend = rp_cl_max(m);
    assert_true(mend > 0 && mend + 65536 < held);
    rp_launch_slave(s, ns, 1, NULL);
    wait_log(m->log, "past this master's commit log end");
    wait_log(s->log, "closed by the master before it sent anything");
    assert_int_equal(rp_cl_max(s), held);
    char old[700], sd[700];
    snprintf(old, sizeof old, "%s/store.old/commitlog", m->dir);
    rp_cl_dir(s, sd, sizeof sd);
    assert_int_equal(rp_first_diff(old, sd, 0, held), -1);
}

/* Scenario: the master deleted (retention) the files after the slave's end while the slave
 * was down: the slave cannot continue, says so with both offsets and stops; the master
 * warns and logs the slave's report. Control: an empty slave joining the same master copies
 * everything it retains, from its oldest file. */
static void test_slave_fell_behind_retention(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    rp_bench_wait(rp_bench_start("ReplOld", 1, 600));
    int64_t held = rp_wait_caught_up(m, s);
    bk_stop_clean(s);
    rp_bench_wait(rp_bench_start("ReplOld", 2, 600));
    int64_t mend = rp_cl_max(m);
    bk_stop_clean(m);
    /* What retention does: the oldest files go, up to the first one after the slave's end. */
    int64_t oldest = held - held % RP_FILE + RP_FILE;
    assert_true(oldest + RP_FILE < mend);
    char md[700];
    rp_cl_dir(m, md, sizeof md);
    for (int64_t f = 0; f < oldest; f += RP_FILE) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%020lld", md, (long long)f);
        assert_int_equal(unlink(path), 0);
    }
    rp_launch_master(m, ns, &ha, NULL);
    assert_int_equal(rp_runtime(m, "commitLogMinOffset"), oldest);
    rp_launch_slave(s, ns, 1, NULL);
    char want[200];
    snprintf(want, sizeof want, "retains is %lld, past this slave's end %lld", (long long)oldest,
             (long long)held);
    wait_log(s->log, want);
    wait_log(m->log, "but the oldest offset this master retains is");
    wait_log(m->log, "reports that it cannot follow this master's commit log");
    int sessions = kb_count_lines(s->log, "connected to master");
    usleep(1500000);
    assert_int_equal(kb_count_lines(s->log, "connected to master"), sessions);
    assert_int_equal(rp_cl_max(s), held);

    /* Control: an empty slave copies what the master still retains. */
    kt_daemon *s2 = rp_start_slave(ns, 2, NULL);
    int64_t end = rp_wait_caught_up(m, s2);
    assert_int_equal(end, mend);
    assert_int_equal(rp_runtime(s2, "commitLogMinOffset"), oldest);
    char sd2[700];
    rp_cl_dir(s2, sd2, sizeof sd2);
    assert_int_equal(rp_first_diff(md, sd2, oldest, end), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_other_bytes_refused, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_slave_ahead_refused, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_slave_fell_behind_retention, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
