/* it_cluster_groups.c - libkite clients against a cluster of real processes on 127.0.0.x:
 * two name servers, broker groups broker-a and broker-b (a master and a slave each, every
 * broker registered with both name servers), a libkite producer sending numbered messages
 * continuously (sync sends with retries) and a push consumer (src/client/, DESIGN.md
 * "libkite"; docs/wire.md §12.2, §12.3, §12.7):
 *  - each name server SIGKILLed in turn (the first one restarted before the second dies):
 *    sends keep succeeding, new messages are consumed, a topic created after the kill is
 *    routed by the surviving name server with both groups (the brokers keep registering
 *    with it) and the producer sends to it; control: a producer that knows only the dead
 *    name server cannot;
 *  - broker-b started while the clients run: the producer's messages land in its queues
 *    (counted per broker, by the producer and by the brokers) and the consumer receives
 *    them; control: before broker-b starts no message lands there;
 *  - broker-a's master SIGKILLed under load (SYNC_MASTER groups): every send call succeeds
 *    (retries on broker-b), the consumer gets every message, the rest of broker-a from its
 *    slave; control: with retry_times 0 the same kill fails sends;
 *  - broker-a's master stopped (SIGSTOP) under load, still routed by the name servers: only
 *    the sends already on it fail (their whole timeout passes there), the producer's fault
 *    table keeps every later send on broker-b; control: with fault_avoid_ms 0 the threads
 *    keep failing on it;
 *  - the lite pull consumer follows suggestWhichBrokerId to the slave and, when the master
 *    it has in its cached route is killed, pulls from the slave at once; controls: with
 *    slaveReadEnable=false the slave serves nothing; with the slave gone too the pull fails.
 * Daemons are stopped by PID in teardown (bk_common.h); every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"
#include "kt_consume.h"
#include <pthread.h>
#include <stdatomic.h>

#define TOPIC "ClusterT"
#define NQ    4
/* Registrations every 10 s (the shortest period a broker accepts): a restarted name server
 * knows every broker again within that time. */
#define CL_KEYS "registerNameServerPeriod=10000\n"

/* ---- the cluster ---- */

static kt_daemon *cl_ns[2];
static kt_daemon *cl_m[2], *cl_s[2]; /* [0] broker-a, [1] broker-b */
static int cl_ha[2];
static char cl_nsaddrs[160];

static void cl_start_ns(void)
{
    cl_ns[0] = bk_start_ns();
    cl_ns[1] = bk_start_ns();
    snprintf(cl_nsaddrs, sizeof cl_nsaddrs, "%s:%d;%s:%d", cl_ns[0]->host, cl_ns[0]->port,
             cl_ns[1]->host, cl_ns[1]->port);
}

static void create_topic(const kt_daemon *m, const char *topic)
{
    int fd = bk_conn(m);
    char ext[256];
    snprintf(ext, sizeof ext,
             "\"topic\":\"%s\",\"readQueueNums\":\"%d\",\"writeQueueNums\":\"%d\",\"perm\":\"6\"",
             topic, NQ, NQ);
    bk_expect(fd, 17, ext, NULL, 0, 0);
    bk_close(fd);
}

static void wait_route_has(const kt_daemon *ns, const char *topic, int want, int exact);

/* Starts group g (broker-a or broker-b): a master with role and extra config, and its
 * slave with slave_extra; creates TOPIC on the master and waits until the slave has copied
 * it. The slave starts once both name servers route TOPIC to the master: a slave learns its
 * master's address from its registration answers, and the next registration is 30 s
 * later. */
static void cl_start_group(int g, const char *role, const char *extra, const char *slave_extra)
{
    char conf[1024];
    snprintf(conf, sizeof conf, "brokerName=broker-%c\nbrokerRole=%s\n" CL_KEYS "%s", 'a' + g, role,
             extra ? extra : "");
    cl_m[g] = bk_slot(1);
    rp_launch_master_at(cl_m[g], cl_nsaddrs, &cl_ha[g], conf);
    create_topic(cl_m[g], TOPIC);
    wait_route_has(cl_ns[0], TOPIC, 1 << g, 0);
    wait_route_has(cl_ns[1], TOPIC, 1 << g, 0);
    snprintf(conf, sizeof conf, "brokerName=broker-%c\n" CL_KEYS "%s", 'a' + g,
             slave_extra ? slave_extra : "");
    cl_s[g] = bk_slot(1);
    rp_launch_slave_at(cl_s[g], cl_nsaddrs, 1, conf);
    rp_wait_slave_topic(cl_s[g], TOPIC);
}

/* The route body name server ns answers for topic ("" when it has none or is down). */
static void ns_route(const kt_daemon *ns, const char *topic, char *out, size_t cap)
{
    out[0] = 0;
    int fd = kt_connect(ns->host, ns->port);
    if (fd < 0) return;
    char ext[256];
    snprintf(ext, sizeof ext, "\"topic\":\"%s\"", topic);
    kite_cmd r;
    if (kb_call(fd, 105, ext, NULL, 0, &r) == 0) {
        if (r.code == 0) snprintf(out, cap, "%.*s", (int)r.body_len, (const char *)r.body);
        kite_cmd_free(&r);
    }
    kb_forget_fd(fd);
    close(fd);
}

/* Waits until ns routes topic to the groups named in want (1: broker-a, 2: broker-b, 3:
 * both), each with queue data; exact: to no other group. */
static void wait_route_has(const kt_daemon *ns, const char *topic, int want, int exact)
{
    long long t0 = kt_now_ms();
    char body[8192];
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        ns_route(ns, topic, body, sizeof body);
        const char *q = strstr(body, "queueDatas");
        int a = q && strstr(q, "\"broker-a\"") != NULL, b = q && strstr(q, "\"broker-b\"") != NULL;
        int have = (a ? 1 : 0) + (b ? 2 : 0);
        if (exact ? have == want : (have & want) == want) return;
        usleep(100000);
    }
    fail_msg("name server %s:%d: route of %s is not groups %d: %s", ns->host, ns->port, topic, want,
             body);
}

/* Messages stored on master m in TOPIC (sum of the queues' max offsets). */
static int64_t stored_on(const kt_daemon *m)
{
    int fd = bk_conn(m);
    int64_t n = 0;
    for (int q = 0; q < NQ; q++) n += kb_lookup(fd, 30, TOPIC, q, NULL, "offset");
    bk_close(fd);
    return n;
}

/* ---- the load: sender threads with numbered messages "cg-<i>" ---- */

typedef struct load {
    kite_producer *p;
    pthread_t th[2];
    int nth, pause_us;
    atomic_int stop;
    atomic_int next; /* next message number */
    atomic_int ok, failed;
    _Atomic signed char where[KC_MAX]; /* 1 broker-a, 2 broker-b, -1 failed */
    pthread_mutex_t mu;
    char first_error[300];
} load;

static load L;

static void *sender(void *arg)
{
    load *l = arg;
    kite_message *m = kite_message_new(TOPIC);
    while (!atomic_load(&l->stop)) {
        int i = atomic_fetch_add(&l->next, 1);
        if (i >= KC_MAX) break;
        char body[32];
        snprintf(body, sizeof body, "cg-%d", i);
        kite_message_set_body(m, body, strlen(body));
        kite_message_set_property(m, "UNIQ_KEY", NULL);
        kite_send_result r;
        int rc = kite_producer_send(l->p, m, &r);
        if (rc == KITE_OK) {
            atomic_store(&l->where[i], strcmp(r.broker_name, "broker-a") == 0 ? 1 : 2);
            atomic_fetch_add(&l->ok, 1);
        } else {
            atomic_store(&l->where[i], -1);
            pthread_mutex_lock(&l->mu);
            if (!l->first_error[0])
                snprintf(l->first_error, sizeof l->first_error, "send %d: %s: %s", i,
                         kite_strerror(rc), r.error);
            pthread_mutex_unlock(&l->mu);
            atomic_fetch_add(&l->failed, 1);
        }
        if (l->pause_us) usleep((useconds_t)l->pause_us);
    }
    kite_message_destroy(m);
    return NULL;
}

/* avoid_ms: fault_avoid_ms, or -1 for the default. */
static kite_producer *cl_producer(const char *nsaddrs, int retries, int avoid_ms)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = nsaddrs;
    o.retry_times = retries;
    if (avoid_ms >= 0) o.fault_avoid_ms = avoid_ms;
    o.poll_namesrv_interval_ms = 1000;
    kite_producer *p = NULL;
    assert_int_equal(kite_producer_create(&p, "cg_producer", &o), KITE_OK);
    assert_int_equal(kite_producer_start(p), KITE_OK);
    return p;
}

static void load_start(int retries, int nth, int pause_us, int avoid_ms)
{
    memset(&L, 0, sizeof L);
    pthread_mutex_init(&L.mu, NULL);
    L.p = cl_producer(cl_nsaddrs, retries, avoid_ms);
    L.nth = nth;
    L.pause_us = pause_us;
    for (int i = 0; i < nth; i++) assert_int_equal(pthread_create(&L.th[i], NULL, sender, &L), 0);
}

/* Stops the senders; returns how many numbers were used ([0, n) each sent or failed). */
static int load_stop(void)
{
    atomic_store(&L.stop, 1);
    for (int i = 0; i < L.nth; i++) pthread_join(L.th[i], NULL);
    kite_producer_destroy(L.p);
    pthread_mutex_destroy(&L.mu);
    int n = atomic_load(&L.next);
    return n < KC_MAX ? n : KC_MAX;
}

/* Waits until at least n sends succeeded in total. */
static void wait_ok(int n)
{
    long long t0 = kt_now_ms();
    while (atomic_load(&L.ok) < n && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(10000);
    if (atomic_load(&L.ok) < n)
        fail_msg("%d sends succeeded, want %d (failed %d; %s)", atomic_load(&L.ok), n,
                 atomic_load(&L.failed), L.first_error);
}

/* Messages the producer stored on group g (1 broker-a, 2 broker-b) among [0, n). */
static int count_on(int g, int n)
{
    int k = 0;
    for (int i = 0; i < n && i < KC_MAX; i++) k += atomic_load(&L.where[i]) == g;
    return k;
}

/* Waits until col has every message of [0, n) whose send succeeded; returns how many that
 * is. */
static int wait_consumed(kc_collector *col, int n)
{
    long long t0 = kt_now_ms();
    int missing = -1, want = 0, first = -1;
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        missing = want = 0;
        first = -1;
        pthread_mutex_lock(&col->mu);
        for (int i = 0; i < n; i++) {
            if (atomic_load(&L.where[i]) <= 0) continue;
            want++;
            if (col->counts[i] == 0) {
                if (first < 0) first = i;
                missing++;
            }
        }
        pthread_mutex_unlock(&col->mu);
        if (!missing) return want;
        usleep(50000);
    }
    fail_msg("consumer misses %d of %d messages, the first cg-%d (stored on broker-%c)", missing,
             want, first, first >= 0 && atomic_load(&L.where[first]) == 1 ? 'a' : 'b');
    return -1;
}

static kite_push_consumer *cl_consumer(const char *group, kc_collector *col, int threshold)
{
    static kc_env e; /* only its name-server list and scratch directory are used */
    memset(&e, 0, sizeof e);
    snprintf(e.nsaddr, sizeof e.nsaddr, "%.79s", cl_nsaddrs);
    kt_mkdtemp("cluster-lk", e.dir, sizeof e.dir);
    kite_push_consumer_opts o;
    kc_consumer_opts(&e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    if (threshold) o.pull_threshold_for_queue = threshold;
    kc_collector_init(col, "cg", TOPIC);
    return kc_consumer(&o, group, TOPIC, "*", col);
}

/* ---- scenarios ---- */

static void test_namesrv_killed(void **st)
{
    (void)st;
    cl_start_ns();
    cl_start_group(0, "ASYNC_MASTER", NULL, NULL);
    cl_start_group(1, "ASYNC_MASTER", NULL, NULL);
    wait_route_has(cl_ns[0], TOPIC, 3, 1);
    wait_route_has(cl_ns[1], TOPIC, 3, 1);
    load_start(2, 1, 5000, -1);
    kc_collector col;
    kite_push_consumer *c = cl_consumer("cg_ns", &col, 0);
    wait_ok(100);
    wait_consumed(&col, atomic_load(&L.next));
    for (int k = 0; k < 2; k++) {
        kt_daemon *dead = cl_ns[k], *alive = cl_ns[1 - k];
        kt_kill9(dead->pid);
        dead->pid = 0;
        /* Sends keep succeeding and what is sent after the kill is consumed. */
        int mark = atomic_load(&L.next), ok0 = atomic_load(&L.ok);
        wait_ok(ok0 + 200);
        wait_consumed(&col, mark + 150);
        /* A topic created now reaches only the surviving name server; its route there shows
         * both groups, and the producer, needing that route, gets it. */
        char topic[32];
        snprintf(topic, sizeof topic, "ClusterNew%d", k);
        create_topic(cl_m[0], topic);
        create_topic(cl_m[1], topic);
        wait_route_has(alive, topic, 3, 1);
        kite_message *m = kite_message_new(topic);
        kite_message_set_body(m, "after the kill", 14);
        kite_send_result r;
        int rc = kite_producer_send(L.p, m, &r);
        if (rc != KITE_OK) fprintf(stderr, "send to %s: %s\n", topic, r.error);
        assert_int_equal(rc, KITE_OK);
        if (k == 0) {
            /* Control: a producer that knows only the dead name server finds no route. */
            char only[80];
            snprintf(only, sizeof only, "%s:%d", dead->host, dead->port);
            kite_producer *p = cl_producer(only, 2, -1);
            rc = kite_producer_send(p, m, &r);
            fprintf(stderr, "control, only the dead name server: %s (%s)\n", kite_strerror(rc),
                    r.error);
            assert_int_not_equal(rc, KITE_OK);
            kite_producer_destroy(p);
            /* Restarted at the same address: the brokers register with it again. */
            assert_int_equal(kt_namesrv_start(dead, NULL), 0);
            wait_route_has(dead, TOPIC, 3, 1);
        }
        kite_message_destroy(m);
    }
    int n = load_stop();
    int got = wait_consumed(&col, n);
    fprintf(stderr, "name servers killed: %d sent, %d failed, %d consumed (a %d, b %d)\n", n,
            atomic_load(&L.failed), got, count_on(1, n), count_on(2, n));
    assert_int_equal(atomic_load(&L.failed), 0);
    kite_push_consumer_destroy(c);
    kc_collector_destroy(&col);
}

static void test_group_added(void **st)
{
    (void)st;
    cl_start_ns();
    cl_start_group(0, "ASYNC_MASTER", NULL, NULL);
    wait_route_has(cl_ns[0], TOPIC, 1, 1);
    wait_route_has(cl_ns[1], TOPIC, 1, 1);
    load_start(2, 1, 5000, -1);
    kc_collector col;
    kite_push_consumer *c = cl_consumer("cg_added", &col, 0);
    wait_ok(200);
    int before = atomic_load(&L.next);
    wait_consumed(&col, before);
    /* Control: with broker-a alone, nothing lands anywhere else. */
    assert_int_equal(count_on(2, before), 0);
    assert_true(count_on(1, before) > 0);

    cl_start_group(1, "ASYNC_MASTER", NULL, NULL); /* creates TOPIC on broker-b's master */
    wait_route_has(cl_ns[0], TOPIC, 3, 1);
    wait_route_has(cl_ns[1], TOPIC, 3, 1);
    long long t0 = kt_now_ms();
    while (count_on(2, KC_MAX) < 200 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(20000);
    int n = load_stop();
    int on_a = count_on(1, n), on_b = count_on(2, n);
    int got = wait_consumed(&col, n);
    int64_t st_a = stored_on(cl_m[0]), st_b = stored_on(cl_m[1]);
    fprintf(stderr,
            "group added: %d sent, %d failed; producer counts a %d, b %d; stored a %lld, b %lld; "
            "%d consumed\n",
            n, atomic_load(&L.failed), on_a, on_b, (long long)st_a, (long long)st_b, got);
    assert_true(on_b >= 200);
    assert_int_equal(atomic_load(&L.failed), 0);
    /* The brokers hold what the producer counted (no retry happened: no duplicates). */
    assert_int_equal(st_a, on_a);
    assert_int_equal(st_b, on_b);
    /* broker-b's messages were all consumed (wait_consumed covered every stored number). */
    assert_int_equal(got, on_a + on_b);
    kite_push_consumer_destroy(c);
    kc_collector_destroy(&col);
}

/* broker-a's master SIGKILLed while two threads send with retries; returns the failed
 * sends. The consumer is slowed down before the kill so that part of broker-a is not yet
 * pulled; with retries it must then read it from broker-a's slave. */
static int master_kill_run(int retries)
{
    cl_start_ns();
    cl_start_group(0, "SYNC_MASTER", NULL, NULL);
    cl_start_group(1, "SYNC_MASTER", NULL, NULL);
    wait_route_has(cl_ns[0], TOPIC, 3, 1);
    wait_route_has(cl_ns[1], TOPIC, 3, 1);
    rp_wait_caught_up(cl_m[0], cl_s[0]);
    rp_wait_caught_up(cl_m[1], cl_s[1]);
    load_start(retries, 2, 1000, -1);
    kc_collector col;
    kite_push_consumer *c = cl_consumer("cg_kill", &col, 16);
    wait_ok(300);
    wait_consumed(&col, atomic_load(&L.next));
    atomic_store(&col.delay_us, 200000); /* 4 workers, 5 messages a second each */
    int ok0 = atomic_load(&L.ok);
    wait_ok(ok0 + 400);
    int64_t sget0 = rp_runtime(cl_s[0], "msgGetTotalTodayNow");
    kt_kill9(cl_m[0]->pid);
    cl_m[0]->pid = 0;
    int mark = atomic_load(&L.next);
    ok0 = atomic_load(&L.ok);
    wait_ok(ok0 + 600);
    atomic_store(&col.delay_us, 0);
    int n = load_stop();
    int failed = atomic_load(&L.failed);
    int a_after = 0;
    for (int i = mark; i < n; i++) a_after += atomic_load(&L.where[i]) == 1;
    fprintf(stderr,
            "master killed, retry_times %d: %d sent, %d failed (%s); on a %d (after the kill %d), "
            "on b %d\n",
            retries, n, failed, L.first_error, count_on(1, n), a_after, count_on(2, n));
    if (retries > 0) {
        int got = wait_consumed(&col, n);
        int64_t sget = rp_runtime(cl_s[0], "msgGetTotalTodayNow") - sget0;
        fprintf(stderr, "consumed %d of %d (duplicates %d); broker-a's slave served %lld\n", got, n,
                kc_duplicates(&col, n), (long long)sget);
        assert_true(sget > 0); /* the rest of broker-a came from its slave */
        assert_int_equal(a_after, 0);
    }
    kite_push_consumer_destroy(c);
    kc_collector_destroy(&col);
    return failed;
}

static void test_master_killed(void **st)
{
    (void)st;
    assert_int_equal(master_kill_run(2), 0);
}

/* Control: without retries the same kill fails sends. */
static void test_master_killed_no_retry(void **st)
{
    (void)st;
    assert_true(master_kill_run(0) > 0);
}

/* broker-a's master stopped (SIGSTOP) while two threads send: the name servers still route
 * to it, and a send that reaches it waits for its whole timeout and fails. With the fault
 * table (avoid_ms 60 s: longer than the run) only the sends already on it fail, at most one
 * per thread: the rest skip it. Returns the failed sends after 300 more succeeded (with the
 * table) or once they exceed twice the threads (without: every thread keeps failing). */
static int master_hung_run(int avoid_ms)
{
    enum { NTH = 2 };
    cl_start_ns();
    cl_start_group(0, "ASYNC_MASTER", NULL, NULL);
    cl_start_group(1, "ASYNC_MASTER", NULL, NULL);
    wait_route_has(cl_ns[0], TOPIC, 3, 1);
    wait_route_has(cl_ns[1], TOPIC, 3, 1);
    load_start(2, NTH, 1000, avoid_ms);
    wait_ok(200);
    rp_sigstop(cl_m[0]->pid);
    long long t0 = kt_now_ms();
    while (atomic_load(&L.failed) == 0 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(10000);
    assert_true(atomic_load(&L.failed) > 0); /* a send that reached the stopped master */
    if (avoid_ms > 0) {
        wait_ok(atomic_load(&L.ok) + 300);
    } else {
        t0 = kt_now_ms();
        while (atomic_load(&L.failed) <= 2 * NTH && kt_now_ms() - t0 < KT_DEADLINE_MS)
            usleep(10000);
    }
    int failed = atomic_load(&L.failed);
    int n = load_stop();
    kill(cl_m[0]->pid, SIGCONT); /* so that teardown stops it cleanly */
    fprintf(stderr, "master stopped, fault_avoid_ms %d: %d sent, %d failed (%s); a %d, b %d\n",
            avoid_ms, n, failed, L.first_error, count_on(1, n), count_on(2, n));
    return failed;
}

static void test_master_hung(void **st)
{
    (void)st;
    int failed = master_hung_run(60000);
    assert_true(failed <= 2); /* only the sends already on the stopped master (one per thread) */
}

/* Control: without the fault table every thread keeps sending to the stopped master. */
static void test_master_hung_no_avoid(void **st)
{
    (void)st;
    assert_true(master_hung_run(0) > 4);
}

/* Pulls every message of TOPIC's queues with pc, up to each queue's max offset on the
 * master (a slave builds its queues shortly after the bytes arrive: "no new message" is
 * asked again); returns how many. */
static int pull_all(kite_pull_consumer *pc, const kite_mq_list *qs)
{
    int total = 0;
    for (size_t q = 0; q < qs->n; q++) {
        int64_t off = 0, max = -1;
        assert_int_equal(kite_pull_consumer_max_offset(pc, &qs->mqs[q], &max), KITE_OK);
        long long t0 = kt_now_ms();
        int got = 0;
        while (off < max && kt_now_ms() - t0 < KT_DEADLINE_MS) {
            kite_pull_result r;
            int rc = kite_pull_consumer_pull(pc, &qs->mqs[q], "*", off, 32, &r);
            assert_int_equal(rc, KITE_OK);
            got += (int)r.n;
            if (r.status == KITE_PULL_FOUND)
                off = r.next_begin_offset;
            else
                usleep(20000);
            kite_pull_result_free(&r);
        }
        if (got != max) fprintf(stderr, "queue %zu: max %lld, pulled %d\n", q, (long long)max, got);
        total += got;
    }
    return total;
}

static kite_pull_consumer *cl_pull_consumer(kite_mq_list *qs)
{
    kite_pull_consumer_opts o;
    kite_pull_consumer_opts_init(&o);
    o.namesrv_addr = cl_nsaddrs;
    kite_pull_consumer *pc = NULL;
    assert_int_equal(kite_pull_consumer_create(&pc, "cg_lite", &o), KITE_OK);
    assert_int_equal(kite_pull_consumer_start(pc), KITE_OK);
    assert_int_equal(kite_pull_consumer_fetch_queues(pc, TOPIC, qs), KITE_OK);
    assert_int_equal(qs->n, NQ);
    return pc;
}

static void test_pull_consumer_slave(void **st)
{
    (void)st;
    enum { N = 400 };
    cl_start_ns();
    const char *slow = "slaveReadEnable=true\naccessMessageInMemoryMaxRatio=0\n";
    char mconf[256];
    snprintf(mconf, sizeof mconf, "%sremoteConfigUpdateEnable=true\n", slow);
    cl_start_group(0, "ASYNC_MASTER", mconf, slow);
    wait_route_has(cl_ns[0], TOPIC, 1, 1);
    wait_route_has(cl_ns[1], TOPIC, 1, 1);
    kite_producer *p = cl_producer(cl_nsaddrs, 2, -1);
    kc_send_range(p, TOPIC, "cg", 0, N, NULL);
    kite_producer_destroy(p);
    rp_wait_caught_up(cl_m[0], cl_s[0]);
    /* Consume queues are built after the sends are answered, on the slave after the bytes
     * arrived (a slave without the entries yet would answer "no new message" and send the
     * consumer back to the master). */
    for (int b = 0; b < 2; b++) {
        const kt_daemon *d = b ? cl_s[0] : cl_m[0];
        long long t0 = kt_now_ms();
        while (stored_on(d) < N && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(20000);
        assert_int_equal(stored_on(d), N);
    }

    /* The master suggests the slave (every pull is "slow" at ratio 0): after the first
     * pull of each queue, the slave serves. */
    kite_mq_list qs;
    kite_pull_consumer *pc = cl_pull_consumer(&qs);
    int64_t m0 = rp_runtime(cl_m[0], "msgGetTotalTodayNow"),
            s0 = rp_runtime(cl_s[0], "msgGetTotalTodayNow");
    assert_int_equal(pull_all(pc, &qs), N);
    int64_t mg = rp_runtime(cl_m[0], "msgGetTotalTodayNow") - m0,
            sg = rp_runtime(cl_s[0], "msgGetTotalTodayNow") - s0;
    fprintf(stderr, "lite pull, slave suggested: master served %lld, slave %lld\n", (long long)mg,
            (long long)sg);
    assert_true(mg <= NQ * 32);
    assert_true(sg >= N - NQ * 32);
    kite_mq_list_free(&qs);
    kite_pull_consumer_destroy(pc);

    /* Control: slaveReadEnable=false on the master: it suggests itself, the slave serves
     * nothing. */
    int fd = bk_conn(cl_m[0]);
    const char *off = "slaveReadEnable=false\n";
    bk_expect(fd, 25, "", off, strlen(off), 0);
    bk_close(fd);
    pc = cl_pull_consumer(&qs);
    s0 = rp_runtime(cl_s[0], "msgGetTotalTodayNow");
    assert_int_equal(pull_all(pc, &qs), N);
    sg = rp_runtime(cl_s[0], "msgGetTotalTodayNow") - s0;
    fprintf(stderr, "lite pull, master suggested: slave served %lld\n", (long long)sg);
    assert_int_equal(sg, 0);

    /* The master dies; pc's cached route still names it: the pull goes to the slave. */
    kt_kill9(cl_m[0]->pid);
    cl_m[0]->pid = 0;
    kite_pull_result r;
    assert_int_equal(kite_pull_consumer_pull(pc, &qs.mqs[0], "*", 0, 32, &r), KITE_OK);
    assert_int_equal(r.status, KITE_PULL_FOUND);
    assert_true(r.n > 0);
    int64_t next = r.next_begin_offset;
    kite_pull_result_free(&r);
    /* Offsets go to the slave too. */
    assert_int_equal(kite_pull_consumer_commit_offset(pc, &qs.mqs[0], next), KITE_OK);
    int64_t got = -1;
    assert_int_equal(kite_pull_consumer_fetch_offset(pc, &qs.mqs[0], &got), KITE_OK);
    assert_int_equal(got, next);
    /* Control: with the slave gone as well the same pull fails. */
    assert_int_equal(kt_stop(cl_s[0]->pid, 10000), 0);
    cl_s[0]->pid = 0;
    int rc = kite_pull_consumer_pull(pc, &qs.mqs[0], "*", 0, 32, &r);
    kite_pull_result_free(&r);
    fprintf(stderr, "control, master and slave gone: pull %s\n", kite_strerror(rc));
    assert_int_not_equal(rc, KITE_OK);
    kite_mq_list_free(&qs);
    kite_pull_consumer_destroy(pc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_namesrv_killed, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_group_added, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_master_killed, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_master_killed_no_retry, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_master_hung, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_master_hung_no_avoid, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_pull_consumer_slave, bk_setup, bk_teardown),
    };
    if (getenv("KT_ONLY")) cmocka_set_test_filter(getenv("KT_ONLY")); /* one scenario by name */
    if (getenv("KT_DEBUG")) kite_set_log_level(KITE_LOG_DEBUG);
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
