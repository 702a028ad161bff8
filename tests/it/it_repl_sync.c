/* it_repl_sync.c - SYNC_MASTER as real processes on loopback:
 *  - with a slave (and SYNC_FLUSH), every send answered SEND_OK is already on the slave
 *    when the answer arrives (the slave's commit log ends past it at that moment); after the
 *    master is killed (SIGKILL) the slave serves every one of them (0 lost); control: an
 *    ASYNC_MASTER answers SEND_OK for a message its stopped slave does not hold;
 *  - without a slave a send answers SLAVE_NOT_AVAILABLE at once (slaveTimeout is a minute,
 *    the call's own timeout 5 s), with the message stored and its msgId in the answer;
 *  - a slave that stops acknowledging (SIGSTOP) makes sends answer FLUSH_SLAVE_TIMEOUT
 *    after slaveTimeout, stored; once it resumes (SIGCONT) sends answer SEND_OK again and the
 *    logs are identical;
 *  - fake peers on the HA port: one that reports an offset beyond what it was sent is
 *    disconnected and changes no answer; one that joins after a send and acknowledges its
 *    end, without having been sent that send's bytes, does not make it SEND_OK; control: a
 *    peer that was sent the bytes and acknowledges them does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"
#include <poll.h>

/* Scenario: SEND_OK means the slave holds it; the master killed, the slave serves all. */
static void test_send_ok_means_on_slave(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, "brokerRole=SYNC_MASTER\nflushDiskType=SYNC_FLUSH\n");
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    int mfd = bk_conn(m);
    rp_create_topic(mfd, "ReplSync");
    /* The slave is connected once a send is answered SEND_OK. */
    int64_t phys;
    rp_await_slave(mfd, "ReplSync", &phys);
    int ok = 1;
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char body[64];
        snprintf(body, sizeof body, "sync message %d", i);
        assert_int_equal(rp_send_one(mfd, "ReplSync", body, &phys), 0);
        ok++;
        if (i % 30 == 0) {
            int64_t se = rp_cl_max(s); /* checked right after the answer */
            if (se <= phys)
                fprintf(stderr, "SEND_OK for %lld but the slave ends at %lld\n", (long long)phys,
                        (long long)se);
            assert_true(se > phys);
        }
    }
    rp_wait_slave_topic(s, "ReplSync"); /* its copy of the master's topics (every 10 s) */
    kt_kill9(m->pid);
    m->pid = 0;
    int sfd = bk_conn(s);
    int64_t max = kb_lookup(sfd, 30, "ReplSync", 0, NULL, "offset");
    fprintf(stderr,
            "%d sends answered SEND_OK; the slave serves %lld messages after the master's death\n",
            ok, (long long)max);
    assert_true(max >= ok);
    int64_t off = 0, got = 0;
    while (off < max) {
        kite_cmd r;
        assert_int_equal(kb_pull(sfd, "ReplSync", "ReplSync", 0, off, 32, 4, 0, 0, "*", &r), 0);
        assert_int_equal(r.code, 0);
        kite_record rec[32];
        int n = kb_records(r.body, r.body_len, rec, 32);
        assert_true(n > 0);
        got += n;
        off = kb_ext_i64(&r, "nextBeginOffset");
        kite_cmd_free(&r);
    }
    assert_int_equal(got, max);
}

/* Scenario: no slave at all: SLAVE_NOT_AVAILABLE at once, the message stored. */
static void test_no_slave(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, "brokerRole=SYNC_MASTER\nslaveTimeout=60000\n");
    int fd = bk_conn(m);
    rp_create_topic(fd, "ReplSync");
    int64_t phys = -1;
    assert_int_equal(rp_send_one(fd, "ReplSync", "nobody replicates this", &phys),
                     11);   /* kb_call waits 5 s */
    assert_true(phys >= 0); /* stored: the answer names it */
    bk_wait_max(fd, "ReplSync", 0, 1);
    /* WAIT=false: answered without waiting for a slave. */
    kite_cmd r;
    assert_int_equal(kb_send_v2(fd, "ReplSync", 0, "WAIT\\u0001false\\u0002", "no wait", 7, &r), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
}

/* Scenario: the slave stops acknowledging, then resumes. */
static void test_stalled_slave_times_out(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, "brokerRole=SYNC_MASTER\nslaveTimeout=1000\n");
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    int fd = bk_conn(m);
    rp_create_topic(fd, "ReplSync");
    int64_t phys;
    rp_await_slave(fd, "ReplSync", &phys);
    assert_int_equal(rp_send_one(fd, "ReplSync", "before", &phys), 0);
    rp_sigstop(s->pid);
    long long a = kt_now_ms();
    int code = rp_send_one(fd, "ReplSync", "while stalled", &phys);
    long long waited = kt_now_ms() - a;
    kill(s->pid, SIGCONT); /* before any assertion: a stopped process ignores SIGTERM */
    fprintf(stderr, "FLUSH_SLAVE_TIMEOUT after %lld ms (slaveTimeout 1000)\n", waited);
    assert_int_equal(code, 12);
    assert_true(waited >= 1000); /* not before the timeout */
    assert_true(phys >= 0);      /* stored, and named */
    long long t0 = kt_now_ms();
    while ((code = rp_send_one(fd, "ReplSync", "after", &phys)) != 0 &&
           kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(100000);
    assert_int_equal(code, 0);
    int64_t end = rp_wait_caught_up(m, s);
    char md[700], sd[700];
    rp_cl_dir(m, md, sizeof md);
    rp_cl_dir(s, sd, sizeof sd);
    assert_int_equal(rp_first_diff(md, sd, 0, end), -1);
}

/* Control: an ASYNC_MASTER answers SEND_OK while its slave holds nothing of the message
 * (the slave is stopped), which the SEND_OK check above would catch. */
static void test_async_master_control(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    int fd = bk_conn(m);
    int64_t phys;
    assert_int_equal(rp_send_one(fd, "ReplAsync", "first", &phys), 0);
    rp_wait_caught_up(m, s);
    rp_sigstop(s->pid);
    int code = rp_send_one(fd, "ReplAsync", "the slave is stopped", &phys);
    char md[700], sd[700];
    rp_cl_dir(m, md, sizeof md);
    rp_cl_dir(s, sd, sizeof sd);
    int64_t d = rp_first_diff(md, sd, phys, phys + 8);
    kill(s->pid, SIGCONT);
    assert_int_equal(code, 0);
    assert_true(d >= phys && d < phys + 4); /* not on the slave (its size starts with zeros) */
    int64_t end = rp_wait_caught_up(m, s);
    assert_int_equal(rp_first_diff(md, sd, 0, end), -1);
}

/* ---- fake peers on the HA port ---- */

static int peer_connect(const kt_daemon *m, int ha, int64_t first)
{
    int fd = kt_connect(m->host, ha);
    assert_true(fd >= 0);
    uint8_t b[8];
    kite_wr_be64(b, (uint64_t)first);
    assert_int_equal(kt_send_raw(fd, b, 8), 0);
    return fd;
}

static void peer_report(int fd, int64_t v)
{
    uint8_t b[8];
    kite_wr_be64(b, (uint64_t)v);
    kt_send_raw(fd, b, 8);
}

/* Reads frames until the peer has been sent bytes up to `upto`; returns that offset. */
static int64_t peer_read_to(int fd, int64_t from, int64_t upto)
{
    int64_t pos = from;
    uint8_t h[12];
    static uint8_t buf[1 << 16];
    long long t0 = kt_now_ms();
    while (pos < upto && kt_now_ms() - t0 < KT_DEADLINE_MS) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 1000) <= 0) continue;
        size_t got = 0;
        while (got < 12) {
            ssize_t r = read(fd, h + got, 12 - got);
            assert_true(r > 0);
            got += (size_t)r;
        }
        assert_int_equal((int64_t)kite_rd_be64(h), pos);
        uint32_t size = kite_rd_be32(h + 8);
        while (size) {
            ssize_t r = read(fd, buf, size < sizeof buf ? size : sizeof buf);
            assert_true(r > 0);
            size -= (uint32_t)r;
            pos += r;
        }
    }
    return pos;
}

typedef struct async_send {
    int fd, opaque;
} async_send;

static void send_start(async_send *a, int fd, const char *body)
{
    a->fd = fd;
    a->opaque = kb_send_v2_start(fd, "ReplSync", 0, NULL, body, strlen(body));
    assert_true(a->opaque > 0);
}

static int send_finish(async_send *a, int64_t *phys)
{
    kite_cmd r;
    assert_int_equal(kb_wait_response(a->fd, a->opaque, &r, KT_DEADLINE_MS), 0);
    const char *id = kite_cmd_ext(&r, "msgId");
    *phys = id && strlen(id) == 32 ? (int64_t)strtoull(id + 16, NULL, 16) : -1;
    int code = r.code;
    kite_cmd_free(&r);
    return code;
}

/* Scenario: acknowledgements count only bytes shipped on the acknowledging connection. */
static void test_fake_peers(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, "brokerRole=SYNC_MASTER\nslaveTimeout=2000\n");
    int fd = bk_conn(m);
    rp_create_topic(fd, "ReplSync");
    int64_t phys;
    assert_int_equal(rp_send_one(fd, "ReplSync", "first", &phys), 11); /* no slave yet */
    int64_t end = rp_cl_max(m);

    /* A peer that claims far more than it was sent is dropped; nothing is acknowledged. */
    int huge = peer_connect(m, ha, end);
    peer_report(huge, (int64_t)1 << 50);
    assert_true(kt_peer_closed(huge, KT_DEADLINE_MS));
    close(huge);
    assert_int_equal(rp_send_one(fd, "ReplSync", "after the huge report", &phys), 11);
    assert_true(kb_count_lines(m->log, "only the bytes up to") > 0);

    /* A silent peer A keeps a send waiting; peer B joins after it and acknowledges the new
     * end without having been sent the send's bytes: still FLUSH_SLAVE_TIMEOUT. */
    end = rp_cl_max(m);
    int a = peer_connect(m, ha, end);
    usleep(300000); /* accepted by the replication thread */
    async_send snd;
    send_start(&snd, fd, "waits for a slave");
    long long t0 = kt_now_ms();
    int64_t e2;
    while ((e2 = rp_cl_max(m)) == end && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(10000);
    assert_true(e2 > end);
    int b = peer_connect(m, ha, e2);
    peer_report(b, e2);
    assert_int_equal(send_finish(&snd, &phys), 12);
    assert_int_equal(phys, end);          /* the send that waited */
    assert_false(kt_peer_closed(b, 100)); /* its report was legal, just not about that send */

    /* Control: a peer C sent the next send's bytes acknowledges them: SEND_OK. */
    int c = peer_connect(m, ha, e2);
    usleep(300000);
    send_start(&snd, fd, "acknowledged by a peer that got it");
    t0 = kt_now_ms();
    int64_t e3;
    while ((e3 = rp_cl_max(m)) == e2 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(10000);
    assert_int_equal(peer_read_to(c, e2, e3), e3);
    peer_report(c, e3);
    assert_int_equal(send_finish(&snd, &phys), 0);
    assert_int_equal(phys, e2);
    close(a);
    close(b);
    close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_ok_means_on_slave, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_async_master_control, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_no_slave, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_stalled_slave_times_out, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_fake_peers, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
