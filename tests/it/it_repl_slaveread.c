/* it_repl_slaveread.c - pull answers' suggestWhichBrokerId (src/broker/p_pull.c, DESIGN.md
 * "Replication"), with kite-namesrv, a master and two slaves of broker-t on loopback:
 *  - slaveReadEnable=true: the group's brokerId, or its whichBrokerWhenConsumeSlowly when the
 *    last examined message is more than RAM x accessMessageInMemoryMaxRatio % behind the
 *    commit-log end; with the ratio 0 every pull that examined a message is "slow", a pull
 *    that examined none (at the queue's end) is not;
 *  - slaveReadEnable=false (switched at run time on the master, and configured on a slave):
 *    always 0, and the slave still answers the messages it found;
 *  - consumers pulling from either slave get the master's records byte for byte;
 *  - a libkite push consumer follows the suggestion (its pulls after the first answer of a
 *    queue go to the slave), and, when the master is killed, consumes what was replicated
 *    from the slave, from the offsets its group committed on the master, and commits on the
 *    slave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"
#include "kt_consume.h"

#define TOPIC "ReplSlaveRead"
#define NMSG  20

/* Pulls queue 0 of TOPIC at off for group (no suspend); asserts the answer code and returns
 * its suggestWhichBrokerId. */
static int64_t suggestion(const kt_daemon *d, const char *group, int64_t off, int want_code)
{
    int fd = bk_conn(d);
    kite_cmd r;
    assert_int_equal(kb_pull(fd, group, TOPIC, 0, off, 32, 4, 0, 0, "*", &r), 0);
    if (r.code != want_code)
        fprintf(stderr, "pull %s@%lld: code %d (%s)\n", group, (long long)off, r.code,
                r.remark ? r.remark : "");
    assert_int_equal(r.code, want_code);
    if (want_code == 0) assert_true(r.body_len > 0);
    int64_t v = kb_ext_i64(&r, "suggestWhichBrokerId");
    kite_cmd_free(&r);
    bk_close(fd);
    return v;
}

/* Waits until a pull of group on d suggests want (the slave copies subscription groups from
 * its master every 10 s). */
static void wait_suggestion(const kt_daemon *d, const char *group, int64_t off, int64_t want)
{
    long long t0 = kt_now_ms();
    int64_t v = INT64_MIN;
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        v = suggestion(d, group, off, 0);
        if (v == want) return;
        usleep(200000);
    }
    fprintf(stderr, "%s: suggestion %lld, want %lld\n", group, (long long)v, (long long)want);
    fail();
}

static void test_suggest_which_broker(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(
        ns, &ha,
        "slaveReadEnable=true\naccessMessageInMemoryMaxRatio=0\nremoteConfigUpdateEnable=true\n");
    kt_daemon *s1 =
        rp_start_slave(ns, 1, "slaveReadEnable=false\naccessMessageInMemoryMaxRatio=0\n");
    kt_daemon *s2 = rp_start_slave(ns, 2, "slaveReadEnable=true\n");
    int fd = bk_conn(m);
    bk_expect(fd, 17,
              "\"topic\":\"" TOPIC
              "\",\"readQueueNums\":\"1\",\"writeQueueNums\":\"1\",\"perm\":\"6\"",
              NULL, 0, 0);
    const char *sg = "{\"groupName\":\"SlowTo2\",\"consumeEnable\":true,\"retryQueueNums\":1,"
                     "\"retryMaxTimes\":16,\"brokerId\":1,\"whichBrokerWhenConsumeSlowly\":2}";
    bk_expect(fd, 200, "", sg, strlen(sg), 0);
    for (int i = 0; i < NMSG; i++) bk_send_ok(fd, TOPIC, 0, NULL, "read me anywhere", NULL);
    bk_wait_max(fd, TOPIC, 0, NMSG); /* the consume queue is built after the answers */
    rp_wait_caught_up(m, s1);
    rp_wait_caught_up(m, s2);

    /* Master, ratio 0: every examined message is "slow". */
    assert_int_equal(suggestion(m, "DefaultRead", 0, 0), 1);     /* default: 1 */
    assert_int_equal(suggestion(m, "SlowTo2", 0, 0), 2);         /* the group's choice */
    assert_int_equal(suggestion(m, "SlowTo2", NMSG - 1, 0), 2);  /* even the last one */
    assert_int_equal(suggestion(m, "SlowTo2", NMSG, 19), 1);     /* none examined: brokerId */
    assert_int_equal(suggestion(m, "DefaultRead", NMSG, 19), 0); /* default brokerId 0 */

    /* Slave 2, default ratio 40 %: a few KB behind the end is in memory: the group's
     * brokerId (once the slave has copied the group). */
    rp_wait_slave_topic(s2, TOPIC);
    assert_int_equal(suggestion(s2, "DefaultRead", 0, 0), 0);
    wait_suggestion(s2, "SlowTo2", 0, 1);

    /* Slave 1 has slaveReadEnable=false: it answers what it found and suggests the master. */
    rp_wait_slave_topic(s1, TOPIC);
    assert_int_equal(suggestion(s1, "SlowTo2", 0, 0), 0);
    assert_int_equal(suggestion(s1, "DefaultRead", NMSG - 1, 0), 0);

    /* Both slaves serve the master's records byte for byte. */
    assert_int_equal(rp_same_pulls(m, s1, TOPIC, 1), NMSG);
    assert_int_equal(rp_same_pulls(m, s2, TOPIC, 1), NMSG);

    /* The master switched to slaveReadEnable=false at run time: 0 for every group. */
    const char *off = "slaveReadEnable=false\n";
    bk_expect(fd, 25, "", off, strlen(off), 0);
    assert_int_equal(suggestion(m, "SlowTo2", 0, 0), 0);
    assert_int_equal(suggestion(m, "DefaultRead", 0, 0), 0);
    assert_int_equal(suggestion(m, "SlowTo2", NMSG, 19), 0);
    bk_close(fd);
}

/* The libkite test environment pointed at this file's name server. */
static void lk_env(kc_env *e, const kt_daemon *ns)
{
    memset(e, 0, sizeof *e);
    e->ns = *ns;
    e->ns.pid = 0; /* stopped by bk_teardown */
    snprintf(e->nsaddr, sizeof e->nsaddr, "%s", rp_nsaddr);
    kt_mkdtemp("repl-lk", e->dir, sizeof e->dir);
}

/* Creates topic (2 queues) on the master, sends "<prefix>-<i>" for i in [from, to) through
 * libkite, and waits until the slave holds them and knows the topic. */
static void lk_fill(const kc_env *e, const kt_daemon *m, const kt_daemon *s, const char *topic,
                    const char *prefix, int from, int to)
{
    int fd = bk_conn(m);
    char ext[256];
    snprintf(ext, sizeof ext,
             "\"topic\":\"%s\",\"readQueueNums\":\"2\",\"writeQueueNums\":\"2\",\"perm\":\"6\"",
             topic);
    bk_expect(fd, 17, ext, NULL, 0, 0);
    bk_close(fd);
    assert_int_equal(kc_wait_route(e, topic, KT_DEADLINE_MS), 0);
    kite_producer *p = kc_producer(e);
    kc_send_range(p, topic, prefix, from, to, NULL);
    kite_producer_destroy(p);
    rp_wait_caught_up(m, s);
    rp_wait_slave_topic(s, topic);
}

static void test_libkite_follows_suggestion(void **st)
{
    (void)st;
    enum { N = 400 };
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m =
        rp_start_master(ns, &ha, "slaveReadEnable=true\naccessMessageInMemoryMaxRatio=0\n");
    kt_daemon *s = rp_start_slave(ns, 1, "slaveReadEnable=true\naccessMessageInMemoryMaxRatio=0\n");
    kc_env e;
    lk_env(&e, ns);
    lk_fill(&e, m, s, "LkFollow", "follow", 0, N);
    int64_t mget0 = rp_runtime(m, "msgGetTotalTodayNow"),
            sget0 = rp_runtime(s, "msgGetTotalTodayNow");
    kc_collector col;
    kc_collector_init(&col, "follow", "LkFollow");
    kite_push_consumer_opts o;
    kc_consumer_opts(&e, &o);
    kite_push_consumer *c = kc_consumer(&o, "lk_follow", "LkFollow", "*", &col);
    assert_int_equal(kc_wait_distinct(&col, N, KT_DEADLINE_MS), N);
    kite_push_consumer_destroy(c);
    kc_collector_destroy(&col);
    int64_t mget = rp_runtime(m, "msgGetTotalTodayNow") - mget0,
            sget = rp_runtime(s, "msgGetTotalTodayNow") - sget0;
    fprintf(stderr, "messages served: master %lld, slave %lld\n", (long long)mget, (long long)sget);
    /* The master answers the first pull of each queue (at most 32 messages), and suggests
     * the slave: everything else comes from there. */
    assert_true(mget <= 2 * 32);
    assert_true(sget >= N - 2 * 32);
}

static int64_t committed_on(const kt_daemon *d, const char *group, const char *topic, int qid)
{
    int fd = kt_connect(d->host, d->port);
    if (fd < 0) return INT64_MIN;
    char extra[256];
    snprintf(extra, sizeof extra, ",\"consumerGroup\":\"%s\"", group);
    int64_t v = kb_lookup(fd, 14, topic, qid, extra, "offset");
    kb_forget_fd(fd);
    close(fd);
    return v;
}

/* Waits until d reports offset want for (group, topic, queue qid). */
static void wait_committed_on(const kt_daemon *d, const char *group, const char *topic, int qid,
                              int64_t want)
{
    long long t0 = kt_now_ms();
    int64_t v = INT64_MIN;
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        if ((v = committed_on(d, group, topic, qid)) == want) return;
        usleep(200000);
    }
    fprintf(stderr, "%s %s/%d: committed %lld, want %lld\n", group, topic, qid, (long long)v,
            (long long)want);
    fail();
}

static void test_libkite_master_gone(void **st)
{
    (void)st;
    enum { N1 = 100, N = 300 };
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    kc_env e;
    lk_env(&e, ns);
    lk_fill(&e, m, s, "LkGone", "gone", 0, N1);
    /* A first consumer takes [0, N1) from the master and commits. */
    kc_collector col;
    kc_collector_init(&col, "gone", "LkGone");
    kite_push_consumer_opts o;
    kc_consumer_opts(&e, &o);
    kite_push_consumer *c = kc_consumer(&o, "lk_gone", "LkGone", "*", &col);
    assert_int_equal(kc_wait_distinct(&col, N1, KT_DEADLINE_MS), N1);
    kite_push_consumer_destroy(c);
    int fd = bk_conn(m);
    int64_t max0 = kb_lookup(fd, 30, "LkGone", 0, NULL, "offset"),
            max1 = kb_lookup(fd, 30, "LkGone", 1, NULL, "offset");
    bk_close(fd);
    assert_int_equal(max0 + max1, N1);
    wait_committed_on(m, "lk_gone", "LkGone", 0, max0);
    wait_committed_on(m, "lk_gone", "LkGone", 1, max1);
    /* [N1, N) is sent and replicated while nobody consumes; the slave copies the offsets. */
    lk_fill(&e, m, s, "LkGone", "gone", N1, N);
    wait_committed_on(s, "lk_gone", "LkGone", 0, max0);
    wait_committed_on(s, "lk_gone", "LkGone", 1, max1);
    int sfd = bk_conn(s);
    int64_t end0 = kb_lookup(sfd, 30, "LkGone", 0, NULL, "offset"),
            end1 = kb_lookup(sfd, 30, "LkGone", 1, NULL, "offset");
    bk_close(sfd);
    assert_int_equal(end0 + end1, N);

    kt_kill9(m->pid);
    m->pid = 0;
    /* A new consumer of the group: the route has only the slave. */
    kc_collector col2;
    kc_collector_init(&col2, "gone", "LkGone");
    c = kc_consumer(&o, "lk_gone", "LkGone", "*", &col2);
    long long t0 = kt_now_ms();
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        int k = 0;
        pthread_mutex_lock(&col2.mu);
        for (int i = N1; i < N; i++) k += col2.counts[i] > 0;
        pthread_mutex_unlock(&col2.mu);
        if (k == N - N1) break;
        usleep(50000);
    }
    pthread_mutex_lock(&col2.mu);
    int got = 0, old = 0;
    for (int i = 0; i < N; i++) {
        if (i >= N1)
            got += col2.counts[i] > 0;
        else
            old += col2.counts[i];
    }
    pthread_mutex_unlock(&col2.mu);
    fprintf(stderr, "from the slave: %d of %d new messages, %d old ones again\n", got, N - N1, old);
    assert_int_equal(got, N - N1); /* everything replicated, from the slave */
    assert_int_equal(old, 0);      /* resumed where the group stood: nothing consumed twice */
    /* The consumer commits on the slave. */
    wait_committed_on(s, "lk_gone", "LkGone", 0, end0);
    wait_committed_on(s, "lk_gone", "LkGone", 1, end1);
    kite_push_consumer_destroy(c);
    kc_collector_destroy(&col);
    kc_collector_destroy(&col2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_suggest_which_broker, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_libkite_follows_suggestion, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_libkite_master_gone, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
