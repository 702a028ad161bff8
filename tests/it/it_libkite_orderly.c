/* it_libkite_orderly.c - the libkite push consumer with the ORDERLY listener against a
 * real kite-namesrv + kite-broker: per-key order kept over 1,000 messages sent with a
 * sharding-key selector, with a second member joining mid-stream (each queue consumed by
 * one member at a time, never out of order in a member's view); SUSPEND_CURRENT_QUEUE_A_MOMENT
 * redelivering the same message first, then the DLQ after max_reconsume_times; the
 * queue locks visible on the broker (a raw LOCK_BATCH_MQ from another client id gets
 * nothing while the consumer runs, everything after it shut down; a queue locked by
 * someone else is not consumed, neither at assignment nor after a refused renewal,
 * until the lock is free again); BROADCASTING without
 * locks; start/stop cycles while messages flow (ASan finds leaks).
 * docs/wire.md §6.6, §2.5, §12.8. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "kt_consume.h"
#include "kite/kite.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- an order checker shared by the members of one group ---- */

#define OK_KEYS   8
#define OK_MAX    2048
#define OK_QUEUES 8

typedef struct ord_check ord_check;

typedef struct ord_member {
    ord_check *chk;
    int id;
    int last[OK_KEYS]; /* last sequence seen per key (-1: none yet) */
} ord_member;

struct ord_check {
    pthread_mutex_t mu;
    int counts[OK_MAX];            /* deliveries per global number (seq * OK_KEYS + key) */
    atomic_int in_call[OK_QUEUES]; /* listener calls in progress per queue, all members */
    atomic_int overlaps;           /* a queue in two calls at once */
    atomic_int disorder;           /* a member saw a key's sequence other than last + 1 */
    atomic_int bad;
    atomic_int total;
    int owner[OK_QUEUES]; /* member that consumed the queue last (-1: none) */
    int switches[OK_QUEUES];
    atomic_int delay_us;
    char prefix[16];
    ord_member m[2];
};

static void chk_init(ord_check *c, const char *prefix)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    snprintf(c->prefix, sizeof c->prefix, "%s", prefix);
    for (int q = 0; q < OK_QUEUES; q++) c->owner[q] = -1;
    for (int i = 0; i < 2; i++) {
        c->m[i].chk = c;
        c->m[i].id = i;
        for (int k = 0; k < OK_KEYS; k++) c->m[i].last[k] = -1;
    }
}

static int chk_distinct(ord_check *c, int n)
{
    int k = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < n; i++) k += c->counts[i] > 0;
    pthread_mutex_unlock(&c->mu);
    return k;
}

static int chk_wait(ord_check *c, int n, int timeout_ms)
{
    long long end = kt_now_ms() + timeout_ms;
    int k;
    while ((k = chk_distinct(c, n)) < n && kt_now_ms() < end) usleep(20 * 1000);
    return k;
}

/* Body "<prefix>-<key>-<seq>". */
static kite_consume_orderly_status ord_listener(const kite_message_ext *const *msgs, size_t n,
                                                void *arg)
{
    ord_member *me = arg;
    ord_check *c = me->chk;
    int qid = msgs[0]->queue_id;
    if (qid < 0 || qid >= OK_QUEUES) {
        atomic_fetch_add(&c->bad, 1);
        return KITE_ORDERLY_SUCCESS;
    }
    if (atomic_fetch_add(&c->in_call[qid], 1) != 0) atomic_fetch_add(&c->overlaps, 1);
    int d = atomic_load(&c->delay_us);
    if (d) usleep((useconds_t)d);
    pthread_mutex_lock(&c->mu);
    if (c->owner[qid] != me->id) {
        if (c->owner[qid] >= 0) c->switches[qid]++;
        c->owner[qid] = me->id;
    }
    for (size_t i = 0; i < n; i++) {
        char body[64];
        size_t bl = msgs[i]->body_len < sizeof body - 1 ? msgs[i]->body_len : sizeof body - 1;
        memcpy(body, msgs[i]->body, bl);
        body[bl] = 0;
        int key = -1, seq = -1;
        size_t pl = strlen(c->prefix);
        if (strncmp(body, c->prefix, pl) != 0 || sscanf(body + pl, "-%d-%d", &key, &seq) != 2 ||
            key < 0 || key >= OK_KEYS || seq < 0 || seq * OK_KEYS + key >= OK_MAX ||
            msgs[i]->queue_id != qid) {
            atomic_fetch_add(&c->bad, 1);
            continue;
        }
        if (me->last[key] >= 0 && seq != me->last[key] + 1) {
            fprintf(stderr, "member %d key %d: seq %d after %d (queue %d)\n", me->id, key, seq,
                    me->last[key], qid);
            atomic_fetch_add(&c->disorder, 1);
        }
        me->last[key] = seq;
        c->counts[seq * OK_KEYS + key]++;
        atomic_fetch_add(&c->total, 1);
    }
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_sub(&c->in_call[qid], 1);
    return KITE_ORDERLY_SUCCESS;
}

static kite_push_consumer *ord_consumer(const kite_push_consumer_opts *o, const char *group,
                                        const char *topic, kite_consume_orderly_cb cb, void *arg)
{
    kite_push_consumer *c = NULL;
    assert_int_equal(kite_push_consumer_create(&c, group, o), KITE_OK);
    assert_int_equal(kite_push_consumer_subscribe(c, topic, "*"), KITE_OK);
    assert_int_equal(kite_push_consumer_set_orderly_listener(c, cb, arg), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_OK);
    return c;
}

/* Sends "<prefix>-<key>-<seq>" for the global numbers [from, to) (number = seq * keys +
 * key), each key through kite_select_by_key. */
static void send_keyed(kite_producer *p, const char *topic, const char *prefix, int keys, int from,
                       int to, int pause_us)
{
    kite_message *m = kite_message_new(topic);
    for (int i = from; i < to; i++) {
        int key = i % keys, seq = i / keys;
        char body[64], kbuf[16];
        snprintf(body, sizeof body, "%s-%d-%d", prefix, key, seq);
        snprintf(kbuf, sizeof kbuf, "key%d", key);
        kite_message_set_body(m, body, strlen(body));
        kite_message_set_keys(m, kbuf);
        kite_message_set_property(m, "UNIQ_KEY", NULL);
        kite_send_result r;
        int rc = kite_producer_send_selected(p, m, kite_select_by_key, kbuf, &r);
        if (rc != KITE_OK)
            fprintf(stderr, "send %d failed: %s %s\n", i, kite_strerror(rc), r.error);
        assert_int_equal(rc, KITE_OK);
        if (pause_us) usleep((useconds_t)pause_us);
    }
    kite_message_destroy(m);
}

typedef struct feeder {
    kite_producer *p;
    const char *topic, *prefix;
    int from, to, pause_us;
} feeder;

static void *feed(void *arg)
{
    feeder *f = arg;
    send_keyed(f->p, f->topic, f->prefix, OK_KEYS, f->from, f->to, f->pause_us);
    return NULL;
}

/* 1,000 keyed messages, a second member joining mid-stream. */
static void test_order_two_members(void **st)
{
    kc_env *e = *st;
    enum { N = 1000 };
    kite_producer *p = kc_producer(e);
    send_keyed(p, "LkoOrder", "od", OK_KEYS, 0, 16, 0); /* creates the topic (4 queues) */
    ord_check chk;
    chk_init(&chk, "od");
    atomic_store(&chk.delay_us, 300);
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    kite_push_consumer *a = ord_consumer(&o, "lko_order", "LkoOrder", ord_listener, &chk.m[0]);
    feeder f = { p, "LkoOrder", "od", 16, N, 1500 };
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);
    usleep(600 * 1000);
    kite_push_consumer *b = ord_consumer(&o, "lko_order", "LkoOrder", ord_listener, &chk.m[1]);
    long long end = kt_now_ms() + KT_DEADLINE_MS;
    while (kt_now_ms() < end &&
           !(kite_push_consumer_queue_count(a) + kite_push_consumer_queue_count(b) == 4 + 1 &&
             kite_push_consumer_queue_count(a) >= 2 && kite_push_consumer_queue_count(b) >= 2))
        usleep(20 * 1000);
    size_t qa = kite_push_consumer_queue_count(a), qb = kite_push_consumer_queue_count(b);
    assert_int_equal(qa + qb, 4 + 1); /* plus the retry topic's queue */
    assert_true(qa >= 2 && qb >= 2);
    pthread_join(th, NULL);
    assert_int_equal(chk_wait(&chk, N, 20000), N);
    usleep(300 * 1000);
    int dups = atomic_load(&chk.total) - N, sw = 0;
    for (int q = 0; q < OK_QUEUES; q++) {
        assert_true(chk.switches[q] <= 1); /* at most the one handover of the join */
        sw += chk.switches[q];
    }
    fprintf(
        stderr,
        "orderly two members: %d messages, %d duplicates, %d queue handovers (a %zu, b %zu queues)\n",
        N, dups, sw, qa, qb);
    assert_int_equal(atomic_load(&chk.overlaps), 0);
    assert_int_equal(atomic_load(&chk.disorder), 0);
    assert_int_equal(atomic_load(&chk.bad), 0);
    assert_true(dups <= N / 5);
    kite_push_consumer_destroy(a);
    kite_push_consumer_destroy(b);
    kite_producer_destroy(p);
    pthread_mutex_destroy(&chk.mu);
}

/* ---- SUSPEND_CURRENT_QUEUE_A_MOMENT ---- */

typedef struct susp {
    pthread_mutex_t mu;
    int log[256];
    int rtimes[256];
    long long at[256];
    int n;
    int suspend_seq, suspend_count; /* seq suspended while reconsume_times < count */
    int dlq_seq;                    /* always suspended */
} susp;

static kite_consume_orderly_status susp_listener(const kite_message_ext *const *msgs, size_t n,
                                                 void *arg)
{
    susp *s = arg;
    kite_consume_orderly_status st = KITE_ORDERLY_SUCCESS;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        int key = -1, seq = -1;
        char body[64];
        size_t bl = msgs[i]->body_len < sizeof body - 1 ? msgs[i]->body_len : sizeof body - 1;
        memcpy(body, msgs[i]->body, bl);
        body[bl] = 0;
        if (sscanf(body, "su-%d-%d", &key, &seq) != 2) seq = -1;
        if (s->n < 256) {
            s->log[s->n] = seq;
            s->rtimes[s->n] = msgs[i]->reconsume_times;
            s->at[s->n] = kt_now_ms();
            s->n++;
        }
        if ((seq == s->suspend_seq && msgs[i]->reconsume_times < s->suspend_count) ||
            seq == s->dlq_seq)
            st = KITE_SUSPEND_CURRENT_QUEUE_A_MOMENT;
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

static int64_t max_offset(kc_env *e, const char *topic, int qid)
{
    int fd = kt_connect(e->br.host, e->br.port);
    assert_true(fd >= 0);
    char hdr[512];
    snprintf(
        hdr, sizeof hdr,
        "{\"code\":30,\"extFields\":{\"topic\":\"%s\",\"queueId\":\"%d\"},\"flag\":0,\"language\":\"JAVA\","
        "\"opaque\":3,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}",
        topic, qid);
    kite_cmd r;
    assert_int_equal(kt_call(fd, hdr, NULL, 0, &r), 0);
    int64_t off = -1;
    if (r.code == 0) kite_cmd_ext_i64(&r, "offset", &off);
    kite_cmd_free(&r);
    close(fd);
    return off;
}

static void test_suspend(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    susp s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    s.suspend_seq = 5;
    s.suspend_count = 2;
    s.dlq_seq = 10;
    send_keyed(p, "LkoSusp", "su", 1, 0, 20, 0); /* one key: one queue */
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    o.suspend_current_queue_ms = 300;
    o.max_reconsume_times = 2;
    kite_push_consumer *c = ord_consumer(&o, "lko_susp", "LkoSusp", susp_listener, &s);
    long long end = kt_now_ms() + 15000;
    for (;;) {
        pthread_mutex_lock(&s.mu);
        int done = s.n > 0 && s.log[s.n - 1] == 19;
        pthread_mutex_unlock(&s.mu);
        if (done || kt_now_ms() > end) break;
        usleep(20 * 1000);
    }
    usleep(200 * 1000);
    pthread_mutex_lock(&s.mu);
    /* 0..4, 5 three times (reconsume 0, 1, 2), 6..9, 10 three times then the DLQ, 11..19. */
    int expect[26], k = 0;
    for (int i = 0; i < 20; i++) {
        expect[k++] = i;
        if (i == 5 || i == 10) expect[k++] = i, expect[k++] = i;
    }
    assert_int_equal(s.n, k);
    for (int i = 0; i < k; i++) assert_int_equal(s.log[i], expect[i]);
    for (int i = 1; i < k; i++)
        if (s.log[i] == s.log[i - 1]) {
            assert_int_equal(s.rtimes[i], s.rtimes[i - 1] + 1);
            assert_true(s.at[i] - s.at[i - 1] >= 250); /* the suspension */
        }
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(max_offset(e, "%DLQ%lko_susp", 0), 1);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    pthread_mutex_destroy(&s.mu);
}

/* ---- locks on the broker ---- */

/* Raw LOCK_BATCH_MQ (41) or UNLOCK_BATCH_MQ (42) of topic's 4 queues as client_id;
 * returns how many queues the answer lists. */
static int raw_lock_t(kc_env *e, const char *topic, const char *group, const char *client_id,
                      int code)
{
    int fd = kt_connect(e->br.host, e->br.port);
    assert_true(fd >= 0);
    char body[1024];
    int n = snprintf(body, sizeof body, "{\"clientId\":\"%s\",\"consumerGroup\":\"%s\",\"mqSet\":[",
                     client_id, group);
    for (int q = 0; q < 4; q++)
        n += snprintf(body + n, sizeof body - (size_t)n,
                      "%s{\"brokerName\":\"broker-t\",\"queueId\":%d,\"topic\":\"%s\"}",
                      q ? "," : "", q, topic);
    n += snprintf(body + n, sizeof body - (size_t)n, "],\"onlyThisBroker\":false}");
    char hdr[256];
    snprintf(hdr, sizeof hdr,
             "{\"code\":%d,\"extFields\":{},\"flag\":0,\"language\":\"JAVA\",\"opaque\":5,"
             "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}",
             code);
    kite_cmd r;
    assert_int_equal(kt_call(fd, hdr, body, (size_t)n, &r), 0);
    assert_int_equal(r.code, 0);
    int granted = 0;
    const char *b = r.body_len ? kt_body(&r) : "";
    for (const char *s = b; (s = strstr(s, "\"queueId\"")) != NULL; s++) granted++;
    kite_cmd_free(&r);
    close(fd);
    return granted;
}

static int raw_lock(kc_env *e, const char *group, const char *client_id, int code)
{
    return raw_lock_t(e, "LkoLock", group, client_id, code);
}

/* Queues locked by someone else are not consumed until that lock goes away. */
static void test_lock_not_granted(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    send_keyed(p, "LkoBlocked", "bl", OK_KEYS, 0, 8, 0); /* creates the topic */
    assert_int_equal(raw_lock_t(e, "LkoBlocked", "lko_blocked", "10.9.9.9@holder", 41), 4);
    ord_check chk;
    chk_init(&chk, "bl");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    kite_push_consumer *c = ord_consumer(&o, "lko_blocked", "LkoBlocked", ord_listener, &chk.m[0]);
    send_keyed(p, "LkoBlocked", "bl", OK_KEYS, 8, 64, 0);
    usleep(1500 * 1000);
    assert_int_equal(atomic_load(&chk.total), 0);
    assert_true(kite_push_consumer_queue_count(c) <= 1); /* at most the retry topic's queue */
    assert_int_equal(raw_lock_t(e, "LkoBlocked", "lko_blocked", "10.9.9.9@holder", 42), 0);
    assert_int_equal(chk_wait(&chk, 64, 10000), 64); /* taken at a following rebalance */
    long long end = kt_now_ms() + KT_DEADLINE_MS;
    while (kt_now_ms() < end && kite_push_consumer_queue_count(c) != 4 + 1) usleep(20 * 1000);
    assert_int_equal(kite_push_consumer_queue_count(c), 4 + 1);
    assert_int_equal(atomic_load(&chk.disorder), 0);
    assert_int_equal(atomic_load(&chk.total), 64);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    pthread_mutex_destroy(&chk.mu);
}

/* Renewal: a queue whose lock another client took stops being consumed at the next
 * renewal, and goes on (in order, nothing twice) once a renewal is granted again. */
static void test_lock_renewal(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    send_keyed(p, "LkoRenew", "rn", OK_KEYS, 0, 8, 0);
    ord_check chk;
    chk_init(&chk, "rn");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    o.lock_interval_ms = 300;
    kite_push_consumer *c = ord_consumer(&o, "lko_renew", "LkoRenew", ord_listener, &chk.m[0]);
    assert_int_equal(chk_wait(&chk, 8, 10000), 8);
    /* Steal the locks: release them in c's name, take them as the intruder (c's
     * renewals may win the race a few times). */
    const char *cid = kite_push_consumer_client_id(c);
    int got = 0;
    for (int i = 0; i < 50 && got != 4; i++) {
        raw_lock_t(e, "LkoRenew", "lko_renew", cid, 42);
        got = raw_lock_t(e, "LkoRenew", "lko_renew", "10.9.9.9@thief", 41);
    }
    assert_int_equal(got, 4);
    usleep(800 * 1000); /* c's renewals are refused now */
    send_keyed(p, "LkoRenew", "rn", OK_KEYS, 8, 64, 0);
    usleep(1200 * 1000);
    assert_int_equal(atomic_load(&chk.total), 8); /* nothing consumed without the lock */
    assert_int_equal(raw_lock_t(e, "LkoRenew", "lko_renew", "10.9.9.9@thief", 42), 0);
    assert_int_equal(chk_wait(&chk, 64, 10000), 64);
    usleep(200 * 1000);
    assert_int_equal(atomic_load(&chk.total), 64);
    assert_int_equal(atomic_load(&chk.disorder), 0);
    assert_int_equal(atomic_load(&chk.bad), 0);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    pthread_mutex_destroy(&chk.mu);
}

static void test_locks_on_broker(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    send_keyed(p, "LkoLock", "od", OK_KEYS, 0, 64, 0);
    ord_check chk;
    chk_init(&chk, "od");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    kite_push_consumer *c = ord_consumer(&o, "lko_lock", "LkoLock", ord_listener, &chk.m[0]);
    assert_int_equal(chk_wait(&chk, 64, 10000), 64);
    long long end =
        kt_now_ms() + KT_DEADLINE_MS; /* the retry topic's queue may come a little later */
    while (kt_now_ms() < end && kite_push_consumer_queue_count(c) != 4 + 1) usleep(20 * 1000);
    assert_int_equal(kite_push_consumer_queue_count(c), 4 + 1);
    /* Held by c: another client id gets none of them. */
    assert_int_equal(raw_lock(e, "lko_lock", "10.9.9.9@intruder", 41), 0);
    assert_int_equal(atomic_load(&chk.disorder), 0);
    kite_push_consumer_destroy(c); /* unlocks everything */
    assert_int_equal(raw_lock(e, "lko_lock", "10.9.9.9@intruder", 41), 4);
    assert_int_equal(raw_lock(e, "lko_lock", "10.9.9.9@intruder", 42),
                     0); /* unlock: empty answer */
    kite_producer_destroy(p);
    pthread_mutex_destroy(&chk.mu);
}

/* BROADCASTING orderly: no broker locks, still in order. */
static void test_broadcasting(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    send_keyed(p, "LkoLock", "bc", OK_KEYS, 0, 200, 0);
    ord_check chk;
    chk_init(&chk, "bc");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.message_model = KITE_BROADCASTING;
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    o.instance_name = "lko-bc";
    kite_push_consumer *c = ord_consumer(&o, "lko_bcast", "LkoLock", ord_listener, &chk.m[0]);
    /* The topic also holds test_locks_on_broker's 64 "od" messages: counted as bad. */
    long long end = kt_now_ms() + 10000;
    while (kt_now_ms() < end && chk_distinct(&chk, 200) < 200) usleep(20 * 1000);
    assert_int_equal(chk_distinct(&chk, 200), 200);
    assert_int_equal(raw_lock(e, "lko_bcast", "10.9.9.9@intruder", 41), 4); /* nothing held */
    assert_int_equal(atomic_load(&chk.disorder), 0);
    assert_int_equal(atomic_load(&chk.overlaps), 0);
    assert_int_equal(atomic_load(&chk.total), 200);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    pthread_mutex_destroy(&chk.mu);
}

/* Start/stop cycles while messages flow; each member resumes in order. */
static void test_cycles(void **st)
{
    kc_env *e = *st;
    enum { N = 400 };
    kite_producer *p = kc_producer(e);
    send_keyed(p, "LkoCycle", "cy", OK_KEYS, 0, 8, 0);
    ord_check chk;
    chk_init(&chk, "cy");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    feeder f = { p, "LkoCycle", "cy", 8, N, 2000 };
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < OK_KEYS; k++) chk.m[0].last[k] = -1; /* a new member's view */
        kite_push_consumer *c = ord_consumer(&o, "lko_cycle", "LkoCycle", ord_listener, &chk.m[0]);
        usleep(250 * 1000);
        kite_push_consumer_destroy(c);
    }
    pthread_join(th, NULL);
    for (int k = 0; k < OK_KEYS; k++) chk.m[0].last[k] = -1;
    kite_push_consumer *c = ord_consumer(&o, "lko_cycle", "LkoCycle", ord_listener, &chk.m[0]);
    assert_int_equal(chk_wait(&chk, N, 15000), N);
    assert_int_equal(atomic_load(&chk.disorder), 0);
    assert_int_equal(atomic_load(&chk.overlaps), 0);
    assert_int_equal(atomic_load(&chk.bad), 0);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    pthread_mutex_destroy(&chk.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_two_members),
        cmocka_unit_test(test_suspend),
        cmocka_unit_test(test_locks_on_broker),
        cmocka_unit_test(test_lock_not_granted),
        cmocka_unit_test(test_lock_renewal),
        cmocka_unit_test(test_broadcasting),
        cmocka_unit_test(test_cycles),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, kc_setup, kc_teardown));
}
