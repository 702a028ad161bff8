/* it_repl_netns.c - a SYNC_MASTER and its slave in network namespaces of their own
 * (netns_common.h): the name server and the test on a bridge, the master and the slave on
 * it too, and replication on a separate master<->slave link (the master's brokerIP2 and
 * haBindAddress; the slave learns that address from the name server) that the test cuts
 * silently (link down: no FIN, no RST) while producers run:
 *  - cut: sends started after the cut answer FLUSH_SLAVE_TIMEOUT while the master still
 *    counts the slave, then SLAVE_NOT_AVAILABLE once it dropped it (no report within
 *    haHousekeepingInterval), every one answered and stored on the master; the slave drops
 *    its silent master too; healed: the slave reconnects and catches up, sends answer SEND_OK
 *    again, and both commit logs are byte-identical. Control: with the link up the same
 *    sends answer SEND_OK;
 *  - the same with the link cut one way (a blackhole route on one side), each direction:
 *    the side that hears nothing drops the connection, which ends the other side's;
 *  - a cut shorter than slaveTimeout: SEND_OK or FLUSH_SLAVE_TIMEOUT during it, SEND_OK
 *    afterwards, logs identical;
 *  - a slave started before its master finds it (it registers again soon while no answer
 *    names the master), well before its registerNameServerPeriod;
 *  - the master SIGKILLed under load: every message answered SEND_OK is served by the
 *    slave (0 lost). Control: an ASYNC_MASTER whose link is cut answers SEND_OK for
 *    messages the slave never gets, and the same count finds them lost;
 *  - writes while the slave is cut off, then the master restarted (clean stop, same
 *    store) and the link healed: the slave catches up, logs identical, SEND_OK again.
 * Masters run ASYNC_FLUSH: what is under test is the slave's acknowledgement; a killed
 * process (not a machine) loses nothing from the page cache, and per-send fsyncs would only
 * slow the 2-core CI down. slaveTimeout is 3 s and haHousekeepingInterval 5 s
 * (RP_HA_KEYS), so a cut is detected in seconds, not RocketMQ's default 20 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"
#include "netns_common.h"
#include <poll.h>

#define TOPIC  "NetnsRepl"
#define NP     8     /* producers: one connection each, one send in flight on each */
#define MAXMSG 40000 /* messages one scenario may send */
#define MASTER_KEYS                                                                         \
    "brokerIP2=" NN_M_HA_IP "\nhaBindAddress=" NN_M_HA_IP "\nadminFromLoopbackOnly=false\n" \
    "slaveTimeout=3000\nflushDiskType=ASYNC_FLUSH\n"
#define NO_WAIT "WAIT\\u0001false\\u0002" /* a send answered without waiting for a slave */

/* ---- the cluster: name server in n, master in m, slave in s ---- */

typedef struct cluster {
    kt_daemon *ns, *m, *s;
    int ha;
    const char *role; /* the master's brokerRole line */
} cluster;

static void launch_master(cluster *c)
{
    char extra[512];
    snprintf(extra, sizeof extra, MASTER_KEYS "%s", c->role);
    nn_enter(NN_M);
    rp_launch_master(c->m, c->ns, &c->ha, extra);
    nn_enter(NN_N);
}

static void start_master(cluster *c)
{
    c->m = bk_slot(1);
    snprintf(c->m->host, sizeof c->m->host, "%s", NN_M_IP);
    launch_master(c);
}

static void start_slave(cluster *c, const char *extra)
{
    c->s = bk_slot(1);
    snprintf(c->s->host, sizeof c->s->host, "%s", NN_S_IP);
    nn_enter(NN_S);
    rp_launch_slave(c->s, c->ns, 1, extra);
    nn_enter(NN_N);
}

/* Creates TOPIC on the master; checks both brokers report their roles. */
static void cluster_ready(const cluster *c)
{
    int fd = bk_conn(c->m);
    rp_create_topic(fd, TOPIC);
    bk_close(fd);
    char role[32], want[32];
    snprintf(want, sizeof want, "%.*s", (int)strcspn(c->role + 11, "\n"), c->role + 11);
    rp_runtime_str(c->m, "brokerRole", role, sizeof role);
    assert_string_equal(role, want);
    rp_runtime_str(c->s, "brokerRole", role, sizeof role);
    assert_string_equal(role, "SLAVE");
}

/* role_line: "brokerRole=<role>\n" of the master. */
static void cluster_start(cluster *c, const char *role_line)
{
    memset(c, 0, sizeof *c);
    c->role = role_line;
    c->ns = rp_start_ns_at(NN_NS_IP);
    start_master(c);
    start_slave(c, NULL);
    cluster_ready(c);
}

static void assert_logs_identical(const cluster *c)
{
    int64_t end = rp_wait_caught_up(c->m, c->s);
    char md[700], sd[700];
    rp_cl_dir(c->m, md, sizeof md);
    rp_cl_dir(c->s, sd, sizeof sd);
    int64_t d = rp_first_diff(md, sd, 0, end);
    if (d != -1)
        fprintf(stderr, "commit logs differ at %lld (end %lld)\n", (long long)d, (long long)end);
    assert_int_equal(d, -1);
    fprintf(stderr, "commit logs byte-identical over [0, %lld)\n", (long long)end);
}

/* ---- producers: NP connections to the master, one send in flight on each ---- */

typedef struct prod {
    int fd[NP], op[NP], seq[NP];
    int next;             /* sequence number of the next message ("netns-<seq>") */
    const char *props;    /* properties of the sends (NULL or NO_WAIT) */
    int16_t code[MAXMSG]; /* answer code; -1 = no answer (the connection closed) */
    int64_t phys[MAXMSG]; /* commit-log offset from msgId; -1 without */
} prod;

static prod P;

static void prod_close(prod *p)
{
    for (int i = 0; i < NP; i++) {
        if (p->fd[i] >= 0) bk_close(p->fd[i]);
        p->fd[i] = -1;
        p->op[i] = 0;
    }
}

/* (Re)connects the producers to m; sequence numbers go on. */
static void prod_open(prod *p, const kt_daemon *m, const char *props)
{
    for (int i = 0; i < NP; i++) {
        p->fd[i] = bk_conn(m);
        p->op[i] = 0;
    }
    p->props = props;
}

static void prod_reset(prod *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < NP; i++) p->fd[i] = -1;
}

static int prod_inflight(const prod *p)
{
    int n = 0;
    for (int i = 0; i < NP; i++) n += p->op[i] > 0;
    return n;
}

/* Starts a send on every idle connection (when start), then waits up to timeout_ms for one
 * answer. Returns the answered sequence number, -2 when a connection closed instead (its
 * send stays unanswered), -1 when nothing is in flight, -3 when nothing came in time. */
static int prod_wait(prod *p, int start, int timeout_ms)
{
    for (int i = 0; start && i < NP; i++) {
        if (p->fd[i] < 0 || p->op[i] > 0) continue;
        assert_true(p->next < MAXMSG);
        char body[64];
        snprintf(body, sizeof body, "netns-%d", p->next);
        p->code[p->next] = -1;
        p->phys[p->next] = -1;
        p->op[i] = kb_send_v2_start(p->fd[i], TOPIC, 0, p->props, body, strlen(body));
        p->seq[i] = p->next++;
        if (p->op[i] < 0) p->op[i] = 0; /* the master is gone: the send was not written */
    }
    struct pollfd pf[NP];
    int idx[NP], n = 0;
    for (int i = 0; i < NP; i++) {
        if (p->op[i] <= 0) continue;
        pf[n] = (struct pollfd){ p->fd[i], POLLIN, 0 };
        idx[n++] = i;
    }
    if (!n) return -1;
    int r = poll(pf, (nfds_t)n, timeout_ms);
    if (r <= 0) return -3;
    for (int k = 0; k < n; k++) {
        if (!pf[k].revents) continue;
        int i = idx[k];
        kite_cmd a;
        int rc = kb_wait_response(p->fd[i], p->op[i], &a, KT_DEADLINE_MS);
        p->op[i] = 0;
        if (rc != 0) {
            bk_close(p->fd[i]);
            p->fd[i] = -1;
            return -2;
        }
        int s = p->seq[i];
        p->code[s] = (int16_t)a.code;
        const char *id = kite_cmd_ext(&a, "msgId");
        p->phys[s] = id && strlen(id) == 32 ? (int64_t)strtoull(id + 16, NULL, 16) : -1;
        kite_cmd_free(&a);
        return s;
    }
    return -1;
}

/* prod_wait with KT_DEADLINE_MS: every send is answered, whatever the slave does. */
static int prod_step(prod *p, int start)
{
    int s = prod_wait(p, start, KT_DEADLINE_MS);
    if (s == -3) fail_msg("%d sends not answered within %d ms", prod_inflight(p), KT_DEADLINE_MS);
    return s;
}

static void prod_drain(prod *p)
{
    while (prod_inflight(p)) prod_step(p, 0);
}

/* Sends until one send started from now on is answered `want`, then `more` further
 * answers; returns the first sequence number that was answered `want`. */
static int prod_until(prod *p, int want, int more)
{
    int from = p->next, first = -1, after = 0;
    long long t0 = kt_now_ms();
    while (first < 0 || after < more) {
        if (first < 0 && kt_now_ms() - t0 > KT_DEADLINE_MS)
            fail_msg("no send answered %d within %d ms", want, KT_DEADLINE_MS);
        int s = prod_step(p, 1);
        if (s == -1) fail_msg("no producer connection left");
        if (s < from) continue;
        if (first < 0 && p->code[s] == want)
            first = s;
        else if (first >= 0)
            after++;
        if (first < 0 && p->code[s] != want) usleep(20000); /* no storm of refusals */
    }
    prod_drain(p);
    return first;
}

/* Counts the sends in [from, to) answered code. */
static int prod_count(const prod *p, int from, int to, int code)
{
    int n = 0;
    for (int s = from; s < to; s++) n += p->code[s] == code;
    return n;
}

/* Waits until the broker has built its queues from all of its commit log. */
static void wait_dispatched(const kt_daemon *d)
{
    long long t0 = kt_now_ms();
    int64_t b = -1;
    while ((b = rp_runtime(d, "dispatchBehindBytes")) != 0 && kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(20000);
    assert_int_equal(b, 0);
}

/* Pulls every message of TOPIC from d and returns how many sends answered SEND_OK (in
 * [0, p->next)) d does not serve; *ok = how many were answered SEND_OK. */
static int count_lost(const kt_daemon *d, const prod *p, int *ok)
{
    static uint8_t found[MAXMSG];
    memset(found, 0, sizeof found);
    wait_dispatched(d);
    int fd = bk_conn(d);
    int64_t max = kb_lookup(fd, 30, TOPIC, 0, NULL, "offset"), off = 0;
    assert_true(max >= 0);
    while (off < max) {
        kite_cmd r;
        assert_int_equal(kb_pull(fd, "NetnsCheck", TOPIC, 0, off, 32, 4, 0, 0, "*", &r), 0);
        assert_int_equal(r.code, 0);
        kite_record rec[32];
        int n = kb_records(r.body, r.body_len, rec, 32);
        assert_true(n > 0);
        for (int i = 0; i < n; i++) {
            char b[32];
            size_t l = rec[i].body_len < sizeof b - 1 ? rec[i].body_len : sizeof b - 1;
            memcpy(b, rec[i].body, l);
            b[l] = 0;
            if (strncmp(b, "netns-", 6) == 0) {
                long s = strtol(b + 6, NULL, 10);
                if (s >= 0 && s < MAXMSG) found[s] = 1;
            }
        }
        off = kb_ext_i64(&r, "nextBeginOffset");
        kite_cmd_free(&r);
    }
    bk_close(fd);
    int lost = 0;
    *ok = 0;
    for (int s = 0; s < p->next; s++) {
        if (p->code[s] != 0) continue;
        ++*ok;
        if (!found[s]) lost++;
    }
    fprintf(stderr, "%d sends answered SEND_OK, %lld messages on the slave, %d lost\n", *ok,
            (long long)max, lost);
    return lost;
}

/* ---- scenarios ---- */

/* The replication link cut under load, then healed. */
enum { CUT_LINK, CUT_M_TO_S, CUT_S_TO_M };
static const char *const cut_name[] = { "link down", "master->slave dropped",
                                        "slave->master dropped" };

static void cut(int how, int on)
{
    if (how == CUT_LINK)
        nn_link(!on);
    else
        assert_int_equal(nn_oneway(how == CUT_M_TO_S ? NN_M : NN_S, on), 0);
}

/* Waits until d's log has a line with needle. */
static void wait_log(const kt_daemon *d, const char *needle)
{
    long long t0 = kt_now_ms();
    while (kb_count_lines(d->log, needle) == 0 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(50000);
    if (kb_count_lines(d->log, needle) == 0) bk_dump_log(d);
    assert_true(kb_count_lines(d->log, needle) > 0);
}

/* Cuts the replication link (how), producers running: every send started afterwards is
 * answered FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE and stored; the side that hears nothing
 * drops the connection. Heals it: SEND_OK again, the slave on a new connection. */
static void cut_and_heal(const cluster *c, int how)
{
    for (int k = 0; k < 50; k++) prod_step(&P, 1);
    int connects = kb_count_lines(c->s->log, "connected to master");
    cut(how, 1);
    long long cut_ms = kt_now_ms();
    int from = P.next;
    int first11 = prod_until(&P, 11, 100);
    long long t11 = kt_now_ms() - cut_ms;
    int n11 = prod_count(&P, from, P.next, 11), n12 = prod_count(&P, from, P.next, 12);
    fprintf(stderr,
            "%s: %d sends answered FLUSH_SLAVE_TIMEOUT, %d SLAVE_NOT_AVAILABLE (the first "
            "%lld ms after the cut)\n",
            cut_name[how], n12, n11, t11);
    assert_int_equal(n11 + n12, P.next - from); /* no SEND_OK, every one answered */
    assert_true(n12 > 0); /* the slave still counted at first: the waits timed out */
    assert_true(first11 > from);
    for (int s = from; s < P.next; s++) assert_true(P.phys[s] >= 0); /* stored, and named */
    /* Who noticed: a master that hears no report, a slave that receives nothing. */
    if (how != CUT_M_TO_S) wait_log(c->m, "no report within haHousekeepingInterval");
    if (how != CUT_S_TO_M) wait_log(c->s, "nothing received within haHousekeepingInterval");

    cut(how, 0);
    long long heal_ms = kt_now_ms();
    int healed = P.next;
    int first_ok = prod_until(&P, 0, 200);
    fprintf(stderr, "healed: the first SEND_OK %lld ms later\n", kt_now_ms() - heal_ms);
    assert_int_equal(prod_count(&P, first_ok, P.next, 0), P.next - first_ok);
    assert_true(first_ok >= healed);
    assert_true(kb_count_lines(c->s->log, "connected to master") > connects);
}

/* Both logs identical, every message answered and stored once on both brokers, at the same
 * offsets. */
static void assert_all_replicated(const cluster *c)
{
    assert_logs_identical(c);
    for (int s = 0; s < P.next; s++) assert_true(P.code[s] >= 0);
    int fd = bk_conn(c->m);
    bk_wait_max(fd, TOPIC, 0, P.next);
    bk_close(fd);
    rp_wait_slave_topic(c->s, TOPIC);
    assert_int_equal(rp_same_pulls(c->m, c->s, TOPIC, 1), P.next);
}

/* The replication link cut under load, then healed. */
static void test_link_cut(void **st)
{
    (void)st;
    cluster c;
    cluster_start(&c, "brokerRole=SYNC_MASTER\n");
    prod_reset(&P);
    prod_open(&P, c.m, NULL);
    prod_until(&P, 0, 0); /* the slave is attached */
    /* Control: with the link up, the same sends answer SEND_OK. */
    int from = P.next;
    prod_until(&P, 0, 300);
    assert_int_equal(prod_count(&P, from, P.next, 0), P.next - from);
    cut_and_heal(&c, CUT_LINK);
    assert_all_replicated(&c);
    prod_close(&P);
}

/* One-way cuts, each direction in turn. */
static void test_oneway_cut(void **st)
{
    (void)st;
    cluster c;
    cluster_start(&c, "brokerRole=SYNC_MASTER\n");
    prod_reset(&P);
    prod_open(&P, c.m, NULL);
    prod_until(&P, 0, 300);
    cut_and_heal(&c, CUT_M_TO_S);
    cut_and_heal(&c, CUT_S_TO_M);
    assert_all_replicated(&c);
    prod_close(&P);
}

/* A cut shorter than slaveTimeout and haHousekeepingInterval: the sends caught in it answer
 * SEND_OK (their bytes arrive once TCP retransmits) or FLUSH_SLAVE_TIMEOUT; afterwards
 * SEND_OK, and no divergence, whether the connection survived or was replaced. */
static void test_link_blip(void **st)
{
    (void)st;
    cluster c;
    cluster_start(&c, "brokerRole=SYNC_MASTER\n");
    prod_reset(&P);
    prod_open(&P, c.m, NULL);
    prod_until(&P, 0, 300);
    int interrupted = kb_count_lines(c.s->log, "interrupted");
    nn_link(0);
    int cut = P.next;
    long long t0 = kt_now_ms(), left;
    while ((left = 1500 - (kt_now_ms() - t0)) > 0) prod_wait(&P, 1, (int)left);
    nn_link(1);
    int healed = P.next;
    int first_ok = prod_until(&P, 0, 300);
    assert_int_equal(prod_count(&P, first_ok, P.next, 0), P.next - first_ok);
    int n0 = prod_count(&P, cut, healed, 0), n12 = prod_count(&P, cut, healed, 12);
    fprintf(stderr,
            "sends started during a 1.5 s cut: %d, answered SEND_OK %d, FLUSH_SLAVE_TIMEOUT %d; "
            "the replication connection %s\n",
            healed - cut, n0, n12,
            kb_count_lines(c.s->log, "interrupted") > interrupted ? "was replaced" : "survived");
    assert_true(healed > cut);
    assert_int_equal(n0 + n12 + prod_count(&P, cut, healed, 11), healed - cut);
    assert_logs_identical(&c);
    rp_wait_slave_topic(c.s, TOPIC);
    assert_int_equal(rp_same_pulls(c.m, c.s, TOPIC, 1), P.next);
    prod_close(&P);
}

/* A slave registered before its master: the name server's answer names no master yet; the
 * slave registers again soon instead of waiting for its registerNameServerPeriod (a minute
 * here, twice KT_DEADLINE_MS), and replicates. */
static void test_slave_first(void **st)
{
    (void)st;
    cluster c;
    memset(&c, 0, sizeof c);
    c.role = "brokerRole=SYNC_MASTER\n";
    c.ns = rp_start_ns_at(NN_NS_IP);
    start_slave(&c, "registerNameServerPeriod=60000\n");
    /* The name server knows the slave (GET_BROKER_CLUSTER_INFO), and no master yet. */
    char addr[64];
    snprintf(addr, sizeof addr, "%s:%d", c.s->host, c.s->port);
    int fd = bk_conn(c.ns);
    long long t0 = kt_now_ms();
    int listed = 0;
    while (!listed && kt_now_ms() - t0 < KT_DEADLINE_MS) {
        kite_cmd r;
        assert_int_equal(kb_call(fd, 106, "", NULL, 0, &r), 0);
        listed = r.code == 0 && strstr(kt_body(&r), addr) != NULL;
        kite_cmd_free(&r);
        if (!listed) usleep(20000);
    }
    bk_close(fd);
    assert_true(listed);
    assert_int_equal(kb_count_lines(c.s->log, "as this group's master HA address"), 0);
    start_master(&c);
    cluster_ready(&c);
    prod_reset(&P);
    prod_open(&P, c.m, NULL);
    prod_until(&P, 0, 100); /* SEND_OK: the slave found its master and replicates */
    assert_logs_identical(&c);
    prod_close(&P);
}

/* The master SIGKILLed under load; returns how many SEND_OK messages the slave lacks. */
static int kill_master_under_load(cluster *c, int cut_first, int *ok)
{
    prod_reset(&P);
    prod_open(&P, c->m, NULL);
    prod_until(&P, 0, 200);
    rp_wait_caught_up(c->m, c->s);
    rp_wait_slave_topic(c->s, TOPIC);
    if (cut_first) nn_link(0);
    for (int k = 0; k < 1500; k++) prod_step(&P, 1); /* producers running... */
    kt_kill9(c->m->pid);                             /* ...when the master dies */
    c->m->pid = 0;
    prod_drain(&P);
    prod_close(&P);
    return count_lost(c->s, &P, ok);
}

static void test_master_killed(void **st)
{
    (void)st;
    cluster c;
    cluster_start(&c, "brokerRole=SYNC_MASTER\n");
    int ok;
    assert_int_equal(kill_master_under_load(&c, 0, &ok), 0);
    assert_true(ok >= 1500);
}

/* Control: the same count catches messages answered SEND_OK but not replicated. */
static void test_master_killed_async_control(void **st)
{
    (void)st;
    cluster c;
    cluster_start(&c, "brokerRole=ASYNC_MASTER\n");
    int ok;
    int lost = kill_master_under_load(&c, 1, &ok);
    assert_true(lost > 0);
}

/* Writes while the slave is cut off, the master restarted, the link healed. */
static void test_master_restarted(void **st)
{
    (void)st;
    cluster c;
    cluster_start(&c, "brokerRole=SYNC_MASTER\n");
    prod_reset(&P);
    prod_open(&P, c.m, NULL);
    prod_until(&P, 0, 200);
    assert_logs_identical(&c);

    nn_link(0);
    prod_close(&P);
    prod_open(&P, c.m, NO_WAIT); /* answered at once: stored on the master only */
    int from = P.next;
    for (int k = 0; k < 2000; k++) prod_step(&P, 1);
    prod_drain(&P);
    assert_int_equal(prod_count(&P, from, P.next, 0), P.next - from);
    int64_t me = rp_cl_max(c.m), se = rp_cl_max(c.s);
    fprintf(stderr, "cut off: the master ends at %lld, the slave at %lld\n", (long long)me,
            (long long)se);
    assert_true(se < me); /* control: the slave did not get them */
    prod_close(&P);

    bk_stop_clean(c.m); /* exit 0 with its slave unreachable */
    launch_master(&c);  /* same store, same addresses, still cut off */
    assert_int_equal(rp_cl_max(c.m), me);
    int connects = kb_count_lines(c.s->log, "connected to master");
    nn_link(1);
    assert_logs_identical(&c);
    assert_true(kb_count_lines(c.s->log, "connected to master") > connects);

    prod_open(&P, c.m, NULL);
    int first_ok = prod_until(&P, 0, 200);
    assert_int_equal(prod_count(&P, first_ok, P.next, 0), P.next - first_ok);
    assert_logs_identical(&c);
    rp_wait_slave_topic(c.s, TOPIC);
    assert_int_equal(rp_same_pulls(c.m, c.s, TOPIC, 1), P.next);
    prod_close(&P);
}

static int setup(void **st)
{
    nn_enter(NN_N);
    nn_link(1);
    return bk_setup(st);
}

static int teardown(void **st)
{
    nn_enter(NN_N);
    nn_link(1);
    nn_oneway(NN_M, 0); /* fails when there is none */
    nn_oneway(NN_S, 0);
    return bk_teardown(st);
}

int main(void)
{
    const char *why = nn_setup();
    if (why) {
        kt_skipped("%s", why);
        return kt_exit_code(0);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_link_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_blip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oneway_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slave_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_killed_async_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_restarted, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    nn_cleanup();
    return kt_exit_code(failed);
}
