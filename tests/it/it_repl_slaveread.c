/* it_repl_slaveread.c - pull answers' suggestWhichBrokerId (src/broker/p_pull.c, DESIGN.md
 * "Replication"), with kite-namesrv, a master and two slaves of broker-t on loopback:
 *  - slaveReadEnable=true: the group's brokerId, or its whichBrokerWhenConsumeSlowly when the
 *    last examined message is more than RAM x accessMessageInMemoryMaxRatio % behind the
 *    commit-log end; with the ratio 0 every pull that examined a message is "slow", a pull
 *    that examined none (at the queue's end) is not;
 *  - slaveReadEnable=false (switched at run time on the master, and configured on a slave):
 *    always 0, and the slave still answers the messages it found;
 *  - consumers pulling from either slave get the master's records byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_suggest_which_broker, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
