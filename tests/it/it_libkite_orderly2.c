/* it_libkite_orderly2.c - queue-lock expiry of the ORDERLY libkite consumer against a real
 * kite-namesrv + kite-broker whose locks expire after rebalanceLockMaxLiveTime=3000:
 * - crash takeover: member A runs in a forked child (it reports every message it consumes
 *   through a pipe) and is SIGKILLed mid-stream while it holds and renews the queue locks;
 *   member B of the same group gets no queue until A's broker locks expired (the broker
 *   logs each handover as an expiry), then takes every queue; nothing is lost, B consumes
 *   each queue in order from A's last committed offset, so the only messages seen twice
 *   are those A consumed after its last commit;
 * - a raw LOCK_BATCH_MQ of another client id that is never renewed keeps a consumer off
 *   the queues only until the broker's expiry;
 * - the client-side expiry (lock_live_ms shorter than lock_interval_ms): consumption of a
 *   queue stops once its lock is older than lock_live_ms while messages keep arriving, and
 *   resumes, in order and without loss, when the next periodic renewal is granted;
 * - lock_live_ms validation; a broker given rebalanceLockMaxLiveTime below 1 s warns and
 *   keeps 60 s.
 * Owns nothing outside this test. docs/wire.md §6.6, §2.5, §12.8. Every wait is bounded;
 * the daemons and the child are stopped by PID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "kt_broker.h"
#include "kt_consume.h"
#include "kite/kite.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIVE_MS    3000 /* the broker's rebalanceLockMaxLiveTime in this file */
#define A_RENEW_MS 200  /* how often the crash test's member A renews its locks */
#define KEYS       8    /* sharding keys; kite_select_by_key spreads them over the 4 queues */
#define QUEUES     4
#define CL_MAX     4096

/* The group's state: the daemons, and the crash test's child while it runs (killed in
 * teardown when a failed assertion left it behind). e comes first: tests use *st as a
 * kc_env. */
typedef struct env2 {
    kc_env e;
    pid_t child;
} env2;

static int setup(void **st)
{
    env2 *x = calloc(1, sizeof *x);
    *st = x;
    return kc_env_start(&x->e, "rebalanceLockMaxLiveTime=3000\n");
}

static int teardown(void **st)
{
    env2 *x = *st;
    if (x->child > 0) kt_kill9(x->child);
    int rc = kc_env_stop(&x->e);
    free(x);
    return rc;
}

/* ---- a consumption log: one record per message handed to the listener ---- */

typedef struct crec {
    int32_t qid, num; /* num = seq * KEYS + key of body "<prefix>-<key>-<seq>" */
    int64_t off;      /* queue offset */
    int64_t t;        /* kt_now_ms() when the listener was called (CLOCK_MONOTONIC) */
} crec;

typedef struct clog {
    pthread_mutex_t mu;
    crec *v;
    size_t n;
    int fd;       /* >= 0: records are written to this pipe instead (the child) */
    int delay_us; /* sleep per message */
    char prefix[16];
    atomic_int bad;
} clog;

static void cl_init(clog *l, const char *prefix)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    l->v = calloc(CL_MAX, sizeof *l->v);
    assert_non_null(l->v);
    l->fd = -1;
    snprintf(l->prefix, sizeof l->prefix, "%s", prefix);
}

static void cl_free(clog *l)
{
    free(l->v);
    pthread_mutex_destroy(&l->mu);
}

static void cl_add(clog *l, const crec *r)
{
    pthread_mutex_lock(&l->mu);
    if (l->n < CL_MAX)
        l->v[l->n++] = *r;
    else
        atomic_fetch_add(&l->bad, 1);
    pthread_mutex_unlock(&l->mu);
}

static size_t cl_count(clog *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static kite_consume_orderly_status log_listener(const kite_message_ext *const *msgs, size_t n,
                                                void *arg)
{
    clog *l = arg;
    long long t = kt_now_ms();
    if (l->delay_us) usleep((useconds_t)(l->delay_us * (int)n));
    for (size_t i = 0; i < n; i++) {
        char body[64];
        size_t bl = msgs[i]->body_len < sizeof body - 1 ? msgs[i]->body_len : sizeof body - 1;
        memcpy(body, msgs[i]->body, bl);
        body[bl] = 0;
        size_t pl = strlen(l->prefix);
        int key = -1, seq = -1;
        if (strncmp(body, l->prefix, pl) != 0 || sscanf(body + pl, "-%d-%d", &key, &seq) != 2 ||
            key < 0 || key >= KEYS || seq < 0 || msgs[i]->queue_id < 0 ||
            msgs[i]->queue_id >= QUEUES) {
            atomic_fetch_add(&l->bad, 1);
            continue;
        }
        crec r = { msgs[i]->queue_id, seq * KEYS + key, msgs[i]->queue_offset, t };
        if (l->fd >= 0) {
            if (write(l->fd, &r, sizeof r) != (ssize_t)sizeof r) atomic_fetch_add(&l->bad, 1);
        } else {
            cl_add(l, &r);
        }
    }
    return KITE_ORDERLY_SUCCESS;
}

/* Waits until the log holds at least n records. */
static size_t cl_wait_count(clog *l, size_t n, int timeout_ms)
{
    long long end = kt_now_ms() + timeout_ms;
    while (cl_count(l) < n && kt_now_ms() < end) usleep(10 * 1000);
    return cl_count(l);
}

/* 1 when the records of queue qid are exactly the offsets from, from+1, ..., to-1 in
 * this order (consumed in order, each once, none missing). */
static int cl_queue_exact(clog *l, int qid, int64_t from, int64_t to)
{
    int64_t next = from;
    int ok = 1;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n && ok; i++) {
        if (l->v[i].qid != qid) continue;
        if (l->v[i].off != next) {
            fprintf(stderr, "queue %d: offset %lld where %lld was due\n", qid,
                    (long long)l->v[i].off, (long long)next);
            ok = 0;
        }
        next++;
    }
    pthread_mutex_unlock(&l->mu);
    if (ok && next != to) {
        fprintf(stderr, "queue %d: consumed up to %lld, expected up to %lld\n", qid,
                (long long)next, (long long)to);
        ok = 0;
    }
    return ok;
}

/* 1 when every key's sequence numbers go up by one in the log's order (from wherever
 * each key starts). */
static int cl_keys_in_order(clog *l)
{
    int last[KEYS], ok = 1;
    for (int k = 0; k < KEYS; k++) last[k] = -1;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) {
        int key = l->v[i].num % KEYS, seq = l->v[i].num / KEYS;
        if (last[key] >= 0 && seq != last[key] + 1) {
            fprintf(stderr, "key %d: seq %d after %d\n", key, seq, last[key]);
            ok = 0;
        }
        last[key] = seq;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* ---- sending and raw broker calls ---- */

typedef struct feeder {
    kite_producer *p;
    const char *topic, *prefix;
    int from, to, pause_us;
    long long *sent_at; /* optional: kt_now_ms() before each send, by number */
} feeder;

/* Sends "<prefix>-<key>-<seq>" for the numbers [from, to), each key through
 * kite_select_by_key (so a key always lands on one queue). */
static void send_keyed(const feeder *f)
{
    kite_message *m = kite_message_new(f->topic);
    for (int i = f->from; i < f->to; i++) {
        char body[64], kbuf[16];
        snprintf(body, sizeof body, "%s-%d-%d", f->prefix, i % KEYS, i / KEYS);
        snprintf(kbuf, sizeof kbuf, "key%d", i % KEYS);
        kite_message_set_body(m, body, strlen(body));
        kite_message_set_keys(m, kbuf);
        kite_message_set_property(m, "UNIQ_KEY", NULL);
        kite_send_result r;
        if (f->sent_at) f->sent_at[i] = kt_now_ms(); /* it cannot reach a consumer before */
        int rc = kite_producer_send_selected(f->p, m, kite_select_by_key, kbuf, &r);
        if (rc != KITE_OK)
            fprintf(stderr, "send %d failed: %s %s\n", i, kite_strerror(rc), r.error);
        assert_int_equal(rc, KITE_OK);
        if (f->pause_us) usleep((useconds_t)f->pause_us);
    }
    kite_message_destroy(m);
}

static void *feed(void *arg)
{
    send_keyed(arg);
    return NULL;
}

/* Raw LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42) of topic's 4 queues as client_id;
 * returns how many queues the answer lists. */
static int raw_lock(kc_env *e, const char *topic, const char *group, const char *client_id,
                    int code)
{
    int fd = kt_connect(e->br.host, e->br.port);
    assert_true(fd >= 0);
    char body[1024];
    int n = snprintf(body, sizeof body, "{\"clientId\":\"%s\",\"consumerGroup\":\"%s\",\"mqSet\":[",
                     client_id, group);
    for (int q = 0; q < QUEUES; q++)
        n += snprintf(body + n, sizeof body - (size_t)n,
                      "%s{\"brokerName\":\"broker-t\",\"queueId\":%d,\"topic\":\"%s\"}",
                      q ? "," : "", q, topic);
    n += snprintf(body + n, sizeof body - (size_t)n, "],\"onlyThisBroker\":false}");
    kite_cmd r;
    assert_int_equal(kb_call(fd, code, "", body, (size_t)n, &r), 0);
    assert_int_equal(r.code, 0);
    int granted = 0;
    const char *b = r.body_len ? kt_body(&r) : "";
    for (const char *s = b; (s = strstr(s, "\"queueId\"")) != NULL; s++) granted++;
    kite_cmd_free(&r);
    kb_forget_fd(fd);
    close(fd);
    return granted;
}

/* QUERY_CONSUMER_OFFSET (14) of group, or GET_MAX_OFFSET (30) when group is NULL. */
static int64_t broker_offset(kc_env *e, const char *topic, int qid, const char *group)
{
    int fd = kt_connect(e->br.host, e->br.port);
    assert_true(fd >= 0);
    char extra[300] = "";
    if (group) snprintf(extra, sizeof extra, ",\"consumerGroup\":\"%s\"", group);
    int64_t v = kb_lookup(fd, group ? 14 : 30, topic, qid, extra, "offset");
    kb_forget_fd(fd);
    close(fd);
    return v;
}

/* Lines of the broker log recording that topic's queue q of group moved from one client
 * to another because the first one's lock expired (p_lock.c). */
static int expiry_lines(kc_env *e, const char *topic, int q, const char *group, const char *from,
                        const char *to)
{
    char needle[512];
    snprintf(needle, sizeof needle,
             "queue lock %s@broker-t@%d of group %s expired: moves from %s to %s", topic, q, group,
             from, to);
    return kb_count_lines(e->br.log, needle);
}

static kite_push_consumer *start_orderly(const kite_push_consumer_opts *o, const char *group,
                                         const char *topic, clog *l)
{
    kite_push_consumer *c = NULL;
    assert_int_equal(kite_push_consumer_create(&c, group, o), KITE_OK);
    assert_int_equal(kite_push_consumer_subscribe(c, topic, "*"), KITE_OK);
    assert_int_equal(kite_push_consumer_set_orderly_listener(c, log_listener, l), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_OK);
    return c;
}

/* ---- crash takeover ---- */

/* The child: member A, reporting to wfd until it is killed (or 30 s pass). Uses no
 * cmocka calls; exits with a code of its own on failure. */
static void child_member(kc_env *e, int wfd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    clog *l = calloc(1, sizeof *l);
    if (!l) _exit(3);
    l->fd = wfd;
    l->delay_us = 8000; /* a slow member: it is mid-stream when it dies */
    snprintf(l->prefix, sizeof l->prefix, "cr");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    o.instance_name = "crashA";
    o.lock_interval_ms = A_RENEW_MS; /* renews while it lives */
    kite_push_consumer *c = NULL;
    if (kite_push_consumer_create(&c, "lko2_crash", &o) != KITE_OK ||
        kite_push_consumer_subscribe(c, "Lko2Crash", "*") != KITE_OK ||
        kite_push_consumer_set_orderly_listener(c, log_listener, l) != KITE_OK ||
        kite_push_consumer_start(c) != KITE_OK)
        _exit(4);
    sleep(30);
    _exit(5);
}

typedef struct reader {
    int fd;
    clog *l;
} reader;

/* Parent: collects the child's records until the pipe closes (the child died). */
static void *read_child(void *arg)
{
    reader *r = arg;
    unsigned char buf[sizeof(crec) * 64];
    size_t have = 0;
    for (;;) {
        ssize_t k = read(r->fd, buf + have, sizeof buf - have);
        if (k <= 0) break;
        have += (size_t)k;
        size_t whole = have / sizeof(crec) * sizeof(crec);
        for (size_t i = 0; i < whole; i += sizeof(crec)) {
            crec c;
            memcpy(&c, buf + i, sizeof c);
            cl_add(r->l, &c);
        }
        memmove(buf, buf + whole, have - whole);
        have -= whole;
    }
    return NULL;
}

static void test_crash_takeover(void **st)
{
    env2 *x = *st;
    kc_env *e = &x->e;
    enum { N = 800 };
    const char *topic = "Lko2Crash", *group = "lko2_crash";
    /* Create the topic, then drop every libkite thread before forking. */
    kite_producer *p0 = kc_producer(e);
    feeder f0 = { p0, topic, "cr", 0, 16, 0, NULL };
    send_keyed(&f0);
    kite_producer_destroy(p0);

    clog la, lb;
    cl_init(&la, "cr");
    cl_init(&lb, "cr");
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(pfd[0]);
        child_member(e, pfd[1]);
    }
    x->child = child;
    close(pfd[1]);
    reader rd = { pfd[0], &la };
    pthread_t rth;
    pthread_create(&rth, NULL, read_child, &rd);

    kite_producer *p = kc_producer(e);
    feeder f = { p, topic, "cr", 16, N, 4000, NULL };
    pthread_t fth;
    pthread_create(&fth, NULL, feed, &f);

    /* Kill A mid-stream, after it has renewed its locks (every A_RENEW_MS) a few times. */
    assert_true(cl_wait_count(&la, 1, 10000) >= 1);
    long long a_first = la.v[0].t;
    long long end = kt_now_ms() + 10000;
    while (kt_now_ms() < end && (cl_count(&la) < 100 || kt_now_ms() < a_first + 1300))
        usleep(10 * 1000);
    long long tk = kt_now_ms();
    kt_kill9(child);
    x->child = 0;
    pthread_join(rth, NULL);
    close(pfd[0]);
    size_t na = cl_count(&la);
    fprintf(stderr, "crash: A consumed %zu messages in %lld ms, killed\n", na, tk - a_first);
    assert_true(na >= 100);
    assert_true(na < N); /* mid-stream */
    assert_int_equal(atomic_load(&la.bad), 0);

    /* A's committed offsets: what the next owner must start from. */
    usleep(100 * 1000);
    int64_t committed[QUEUES];
    for (int q = 0; q < QUEUES; q++) {
        committed[q] = broker_offset(e, topic, q, group);
        if (committed[q] < 0) committed[q] = 0; /* A committed nothing there */
    }

    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    o.instance_name = "crashB";
    o.rebalance_interval_ms = 250; /* asks for refused queues again every 250 ms */
    kite_push_consumer *b = start_orderly(&o, group, topic, &lb);

    /* B takes every queue, but only once A's locks expired on the broker. */
    end = kt_now_ms() + 15000;
    while (kt_now_ms() < end && kite_push_consumer_queue_count(b) != QUEUES + 1) usleep(10 * 1000);
    assert_int_equal(kite_push_consumer_queue_count(b),
                     QUEUES + 1); /* plus the retry topic's queue */
    pthread_join(fth, NULL);
    int64_t maxoff[QUEUES], total = 0;
    for (int q = 0; q < QUEUES; q++) {
        maxoff[q] = broker_offset(e, topic, q, NULL);
        total += maxoff[q];
    }
    assert_int_equal(total, N);
    size_t due = 0;
    for (int q = 0; q < QUEUES; q++) due += (size_t)(maxoff[q] - committed[q]);
    assert_int_equal(cl_wait_count(&lb, due, 15000), due);
    usleep(300 * 1000); /* nothing more may come */

    long long b_first = lb.v[0].t;
    for (size_t i = 1; i < cl_count(&lb); i++)
        if (lb.v[i].t < b_first) b_first = lb.v[i].t;
    fprintf(
        stderr,
        "crash: B's first message %lld ms after the kill (broker expiry %d ms, A renewed every %d ms)\n",
        b_first - tk, LIVE_MS, A_RENEW_MS);
    /* A renewed every A_RENEW_MS until it died (1.3 s allowed for a stall of its timer), so
     * its locks lived on at the broker for at least 1.5 s after the kill: B cannot have
     * consumed before. How soon B took over is not asserted. */
    assert_true(b_first - tk >= LIVE_MS - A_RENEW_MS - 1300);

    /* The broker handed every queue from A to B because A's lock expired, not because
     * A released it. */
    char acid[256];
    const char *bcid = kite_push_consumer_client_id(b);
    const char *at = strchr(bcid, '@');
    assert_non_null(at);
    snprintf(acid, sizeof acid, "%.*s@crashA", (int)(at - bcid), bcid);
    for (int q = 0; q < QUEUES; q++)
        assert_int_equal(expiry_lines(e, topic, q, group, acid, bcid), 1);

    /* A consumed each queue in order from 0, and everything below its committed offset. */
    int64_t a_top[QUEUES];
    for (int q = 0; q < QUEUES; q++) {
        a_top[q] = 0;
        for (size_t i = 0; i < na; i++)
            if (la.v[i].qid == q) a_top[q] = la.v[i].off + 1;
        assert_true(cl_queue_exact(&la, q, 0, a_top[q]));
        assert_true(committed[q] <= a_top[q]);
    }
    /* B consumed each queue exactly from A's committed offset to the end, in order. */
    for (int q = 0; q < QUEUES; q++) assert_true(cl_queue_exact(&lb, q, committed[q], maxoff[q]));
    assert_true(cl_keys_in_order(&lb));
    assert_int_equal(atomic_load(&lb.bad), 0);

    /* None lost; the messages seen twice are exactly A's after its last commit. */
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    int dups = 0, expect_dups = 0;
    for (size_t i = 0; i < na; i++) {
        assert_true(la.v[i].num < N);
        seen[la.v[i].num] |= 1;
        if (la.v[i].off >= committed[la.v[i].qid]) expect_dups++;
    }
    size_t nb = cl_count(&lb);
    for (size_t i = 0; i < nb; i++) {
        assert_true(lb.v[i].num < N);
        if (seen[lb.v[i].num] & 1) dups++;
        seen[lb.v[i].num] |= 2;
    }
    for (int i = 0; i < N; i++) assert_true(seen[i] != 0);
    fprintf(stderr, "crash: A %zu, B %zu, seen twice %d (A's messages after its commits: %d)\n", na,
            nb, dups, expect_dups);
    assert_int_equal(dups, expect_dups);
    assert_int_equal((int)(na + nb) - dups, N);

    kite_push_consumer_destroy(b);
    kite_producer_destroy(p);
    cl_free(&la);
    cl_free(&lb);
}

/* ---- a lock nobody renews ---- */

static void test_unrenewed_lock_expires(void **st)
{
    kc_env *e = *st;
    enum { N = 64 };
    const char *topic = "Lko2Held", *group = "lko2_held";
    kite_producer *p = kc_producer(e);
    feeder f = { p, topic, "hd", 0, N, 0, NULL };
    send_keyed(&f);
    long long t_lock = kt_now_ms();
    assert_int_equal(raw_lock(e, topic, group, "10.9.9.9@holder", 41), QUEUES);
    clog l;
    cl_init(&l, "hd");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    kite_push_consumer *c = start_orderly(&o, group, topic, &l);
    /* Until the holder's lock expires: no queue, nothing consumed (checked only when the
     * check surely ended before the expiry; a slow test thread may come back later). */
    long long probe = t_lock + LIVE_MS - 400;
    while (kt_now_ms() < probe) usleep(20 * 1000);
    size_t early_n = cl_count(&l), early_q = kite_push_consumer_queue_count(c);
    if (kt_now_ms() < t_lock + LIVE_MS - 100) {
        assert_int_equal(early_n, 0);
        assert_true(early_q <= 1); /* at most the retry topic's queue */
    }
    /* Then everything, in order, once each (a rebalance every second retries the locks). */
    assert_int_equal(cl_wait_count(&l, N, LIVE_MS + KT_DEADLINE_MS), N);
    usleep(200 * 1000);
    long long first = l.v[0].t;
    fprintf(stderr, "unrenewed lock: first message %lld ms after the foreign LOCK (expiry %d ms)\n",
            first - t_lock, LIVE_MS);
    assert_true(first - t_lock >= LIVE_MS - 100); /* the broker stamps the lock after t_lock */
    assert_int_equal(cl_count(&l), N);
    for (int q = 0; q < QUEUES; q++)
        assert_true(cl_queue_exact(&l, q, 0, broker_offset(e, topic, q, NULL)));
    assert_true(cl_keys_in_order(&l));
    assert_int_equal(atomic_load(&l.bad), 0);
    const char *cid = kite_push_consumer_client_id(c);
    for (int q = 0; q < QUEUES; q++)
        assert_int_equal(expiry_lines(e, topic, q, group, "10.9.9.9@holder", cid), 1);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    cl_free(&l);
}

/* ---- the client-side expiry ---- */

static void test_client_expiry(void **st)
{
    kc_env *e = *st;
    enum { N = 128, LIVE = 1500, RENEW = 4000 };
    const char *topic = "Lko2Live", *group = "lko2_live";
    kite_producer *p = kc_producer(e);
    static long long sent_at[N];
    feeder f0 = { p, topic, "lv", 0, KEYS, 0, sent_at };
    send_keyed(&f0); /* creates the topic */
    clog l;
    cl_init(&l, "lv");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    o.lock_live_ms = LIVE;      /* the local lock lapses 1.5 s after the first LOCK ... */
    o.lock_interval_ms = RENEW; /* ... and the first renewal comes 4 s after start */
    long long t0 = kt_now_ms();
    kite_push_consumer *c = start_orderly(&o, group, topic, &l);
    feeder f = { p, topic, "lv", KEYS, N, 25000, sent_at }; /* ~3 s of messages */
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);
    pthread_join(th, NULL);
    assert_int_equal(cl_wait_count(&l, N, RENEW + KT_DEADLINE_MS), N);
    usleep(200 * 1000);
    assert_int_equal(cl_count(&l), N); /* one consumer: nothing twice */
    assert_int_equal(kite_push_consumer_queue_count(c), QUEUES + 1); /* paused, never dropped */

    /* Per queue: its first LOCK was granted at or before its first message (first[q]), so
     * the local lock has lapsed for every message whose send began after first[q] + LIVE:
     * such a message (it reaches the consumer only after its send began) must wait for
     * the renewal timer's first LOCK (>= t0 + RENEW) although messages keep arriving.
     * Causality only: when a message whose send began earlier is consumed is not asserted
     * (a slow worker may call the listener late). */
    long long first[QUEUES], resumed[QUEUES];
    int arrived[QUEUES];
    for (int q = 0; q < QUEUES; q++) first[q] = resumed[q] = -1, arrived[q] = 0;
    for (size_t i = 0; i < l.n; i++) {
        int q = l.v[i].qid;
        if (first[q] < 0) first[q] = l.v[i].t;
    }
    for (size_t i = 0; i < l.n; i++) {
        const crec *r = &l.v[i];
        int q = r->qid;
        assert_true(first[q] >= 0);
        long long lapsed = first[q] + LIVE;
        if (sent_at[r->num] <= lapsed) continue;
        if (r->t < t0 + RENEW)
            fail_msg(
                "queue %d: message %d sent %lld ms after its lock lapsed was consumed %lld ms before the renewal",
                q, r->num, sent_at[r->num] - lapsed, t0 + RENEW - r->t);
        if (sent_at[r->num] < t0 + RENEW) arrived[q]++;
        if (resumed[q] < 0 || r->t < resumed[q]) resumed[q] = r->t;
    }
    for (int q = 0; q < QUEUES; q++) {
        fprintf(
            stderr,
            "client expiry: queue %d: first message %lld ms after start, %d sent while its lock had lapsed, resumed "
            "%lld ms after start\n",
            q, first[q] - t0, arrived[q], resumed[q] - t0);
        assert_true(arrived[q] >= 1); /* messages were arriving while it was paused */
    }
    for (int q = 0; q < QUEUES; q++)
        assert_true(cl_queue_exact(&l, q, 0, broker_offset(e, topic, q, NULL)));
    assert_true(cl_keys_in_order(&l));
    assert_int_equal(atomic_load(&l.bad), 0);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    cl_free(&l);
}

static void test_lock_live_validation(void **st)
{
    kc_env *e = *st;
    kite_push_consumer_opts o;
    kite_push_consumer_opts_init(&o);
    assert_int_equal(o.lock_live_ms, 30000);
    assert_int_equal(o.lock_interval_ms, 20000);
    kc_consumer_opts(e, &o);
    kite_push_consumer *c = NULL;
    o.lock_live_ms = 0;
    assert_int_equal(kite_push_consumer_create(&c, "lko2_opts", &o), KITE_EINVAL);
    assert_null(c);
    o.lock_live_ms = -5;
    assert_int_equal(kite_push_consumer_create(&c, "lko2_opts", &o), KITE_EINVAL);
    o.lock_live_ms = 1;
    assert_int_equal(kite_push_consumer_create(&c, "lko2_opts", &o), KITE_OK);
    kite_push_consumer_destroy(c);
}

/* A broker given rebalanceLockMaxLiveTime below 1 s warns and keeps 60 s. */
static void test_broker_conf_validation(void **st)
{
    (void)st;
    kt_daemon d;
    memset(&d, 0, sizeof d);
    assert_int_equal(kt_broker_start(&d, NULL, "rebalanceLockMaxLiveTime=500\n"), 0);
    kc_env tmp; /* raw_lock only needs the broker's address */
    memset(&tmp, 0, sizeof tmp);
    tmp.br = d;
    assert_int_equal(raw_lock(&tmp, "Lko2Conf", "lko2_conf", "10.9.9.9@first", 41), QUEUES);
    usleep(800 * 1000); /* past 500 ms, far below the 60 s kept */
    assert_int_equal(raw_lock(&tmp, "Lko2Conf", "lko2_conf", "10.9.9.9@second", 41), 0);
    assert_int_equal(
        kb_count_lines(d.log, "rebalanceLockMaxLiveTime=500 is below 1000 ms; using 60000"), 1);
    assert_int_equal(kb_count_lines(d.log, "rebalanceLockMaxLiveTime"),
                     1); /* and no unknown-key warning */
    assert_int_equal(kt_stop(d.pid, 10000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_takeover), /* first: it forks, so no libkite thread may exist yet */
        cmocka_unit_test(test_unrenewed_lock_expires),
        cmocka_unit_test(test_client_expiry),
        cmocka_unit_test(test_lock_live_validation),
        cmocka_unit_test(test_broker_conf_validation),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, setup, teardown));
}
