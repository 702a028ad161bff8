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
 *    slave names both offsets, sets its files aside (kept byte for byte), exits with status
 *    75, and restarted copies from the master's oldest offset and keeps following;
 *  - control: the same restarts with the master's own store: no ERROR on either side, the
 *    slave catches up and is identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
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

/* Waits (generously) for process pid to exit; returns its exit status, -1 when it was
 * killed by a signal or did not exit in time. */
static int wait_exit(pid_t pid)
{
    long long t0 = kt_now_ms();
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0) return -1;
        usleep(20000);
    }
    return -1;
}

/* How many entries of dir have a name starting with "aside-"; the last one's path in out. */
static int count_aside(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "aside-", 6) == 0) {
            snprintf(out, cap, "%s/%.40s", dir, e->d_name); /* aside-<stamp>[-N] */
            n++;
        }
    closedir(d);
    return n;
}

/* A diverged slave is refused, not set aside: its store has no aside- directory and it is
 * still running (it did not exit to be restarted). */
static void assert_not_set_aside(const kt_daemon *s)
{
    char root[600], any[700];
    snprintf(root, sizeof root, "%s/store", s->dir);
    assert_int_equal(count_aside(root, any, sizeof any), 0);
    assert_int_equal(kill(s->pid, 0), 0);
    assert_int_equal(waitpid(s->pid, NULL, WNOHANG), 0);
    assert_int_equal(kb_count_lines(s->log, "set aside"), 0);
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
    assert_not_set_aside(s);
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
    assert_not_set_aside(s);
    assert_int_equal(rp_cl_max(s), held);
    char old[700], sd[700];
    snprintf(old, sizeof old, "%s/store.old/commitlog", m->dir);
    rp_cl_dir(s, sd, sizeof sd);
    assert_int_equal(rp_first_diff(old, sd, 0, held), -1);
}

/* Scenario: the master deleted (retention) the files after the slave's end while the slave
 * was down. The defined action: the slave logs an ERROR with both offsets, moves its commit
 * log, consume queues, index and checkpoint into <store>/aside-<stamp>/ (byte for byte, never
 * deleted), logs that directory and exits with status 75; restarted (as a supervisor does),
 * its store is empty and it copies what the master retains from the oldest offset, and the
 * messages written after that are pullable from it. */
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
    char sd[700], snap[700];
    rp_cl_dir(s, sd, sizeof sd);
    rp_copy_dir(sd, snap, sizeof snap); /* what the slave held, to compare the aside copy */
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
    /* Spawned with its previous configuration, not through bk_launch, which waits for the
     * port: this slave exits within moments, and its exit status is what is checked. */
    s->pid = kt_spawn("kite-broker", s->conf, s->log);
    assert_true(s->pid > 0);
    char want[200];
    snprintf(want, sizeof want, "this slave's commit log ends at %lld, before the oldest offset",
             (long long)held);
    wait_log(s->log, want);
    snprintf(want, sizeof want, "retains (%lld)", (long long)oldest);
    wait_log(s->log, want);
    wait_log(m->log, "but the oldest offset this master retains is");
    int status = wait_exit(s->pid);
    s->pid = 0;
    if (status != 75) bk_dump_log(s);
    assert_int_equal(status, 75);
    char root[600], aside[700], acl[800], path[900];
    snprintf(root, sizeof root, "%s/store", s->dir);
    assert_int_equal(count_aside(root, aside, sizeof aside), 1);
    wait_log(s->log, "aside in ");
    assert_true(kb_count_lines(s->log, aside) > 0); /* the log names the directory */
    snprintf(acl, sizeof acl, "%s/commitlog", aside);
    assert_int_equal(rp_first_diff(snap, acl, 0, held), -1); /* the old files, byte for byte */
    struct stat sb;
    snprintf(path, sizeof path, "%s/consumequeue", aside);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    snprintf(path, sizeof path, "%s/checkpoint", aside);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(stat(sd, &sb), -1); /* nothing left in place */

    /* The supervisor restarts it: empty, it copies from the master's oldest offset. */
    rp_launch_slave(s, ns, 1, NULL);
    int64_t end = rp_wait_caught_up(m, s);
    assert_int_equal(end, mend);
    assert_int_equal(rp_runtime(s, "commitLogMinOffset"), oldest);
    assert_int_equal(rp_first_diff(md, sd, oldest, end), -1);
    int fd = bk_conn(m); /* and keeps following: new messages are pullable from it */
    for (int i = 0; i < 20; i++) bk_send_ok(fd, "ReplAfter", 0, NULL, "after the restart", NULL);
    rp_wait_caught_up(m, s);
    rp_wait_slave_topic(s, "ReplAfter");
    assert_int_equal(rp_same_pulls(m, s, "ReplAfter", 1), 20);
    assert_int_equal(rp_first_diff(snap, acl, 0, held), -1); /* still aside, untouched */
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
