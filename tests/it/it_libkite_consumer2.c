/* it_libkite_consumer2.c - the libkite push consumer in BROADCASTING mode (every member
 * gets everything; the local offset file survives a restart), RECONSUME_LATER
 * redelivered through %RETRY%<group> with a rising reconsume count and the original
 * topic restored, the simple pull consumer (queues, pull statuses, tag filter, offset
 * commit and fetch), start/stop cycles while messages flow (ASan finds leaks), and
 * worker parallelism: after a run of fast messages has taught the consumer that its
 * tasks are short (it then wakes fewer workers per pull), slow messages must still be
 * consumed by most workers at once.
 * The broker runs with 1 s delay levels so retries come back within seconds.
 * docs/wire.md §5.4, §6, §2.10, §12.6, §11. Every wait is bounded. */
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
#include <sys/stat.h>
#include <unistd.h>

static int setup(void **st)
{
    kc_env *e = calloc(1, sizeof *e);
    *st = e;
    return kc_env_start(e, "messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n");
}

static int teardown(void **st)
{
    kc_env *e = *st;
    int rc = kc_env_stop(e);
    free(e);
    return rc;
}

static kite_push_consumer *bc_consumer(kc_env *e, const char *inst, kc_collector *col)
{
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.message_model = KITE_BROADCASTING;
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    o.instance_name = inst;
    return kc_consumer(&o, "lkc_bcast", "LkcBcast", "*", col);
}

static void test_broadcasting(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcBcast", "bc", 0, 50, NULL);
    kc_collector ca, cb;
    kc_collector_init(&ca, "bc", "LkcBcast");
    kc_collector_init(&cb, "bc", "LkcBcast");
    kite_push_consumer *a = bc_consumer(e, "inst-a", &ca);
    kite_push_consumer *b = bc_consumer(e, "inst-b", &cb);
    assert_int_equal(kc_wait_distinct(&ca, 50, 10000), 50);
    assert_int_equal(kc_wait_distinct(&cb, 50, 10000), 50);
    assert_int_equal(kite_push_consumer_queue_count(a), 4); /* every queue, no retry topic */
    assert_int_equal(kite_push_consumer_queue_count(b), 4);
    kite_push_consumer_destroy(b); /* writes its offsets */
    char path[700];
    snprintf(path, sizeof path, "%s/inst-b/lkc_bcast/offsets.json", e->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    kc_send_range(p, "LkcBcast", "bc", 50, 70, NULL);
    /* b restarts from its file: only the new 20 (consume_from FIRST would give all 70). */
    b = bc_consumer(e, "inst-b", &cb);
    assert_int_equal(kc_wait_distinct(&ca, 70, 10000), 70);
    assert_int_equal(kc_wait_distinct(&cb, 70, 10000), 70);
    usleep(500 * 1000);
    assert_int_equal(kc_duplicates(&ca, 70), 0);
    assert_int_equal(kc_duplicates(&cb, 70), 0);
    kite_push_consumer_destroy(a);
    kite_push_consumer_destroy(b);
    kite_producer_destroy(p);
    kc_collector_destroy(&ca);
    kc_collector_destroy(&cb);
}

static void test_reconsume_later(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcRetry", "re", 0, 10, "TagR");
    kc_collector col;
    kc_collector_init(&col, "re", "LkcRetry"); /* retries must carry the original topic */
    col.fail_below = 3;                        /* re-0..re-2 fail twice, then succeed */
    col.fail_until = 2;
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    kite_push_consumer *c = kc_consumer(&o, "lkc_retry", "LkcRetry", "TagR", &col);
    long long end = kt_now_ms() + 20000;
    for (;;) {
        pthread_mutex_lock(&col.mu);
        int done =
            col.max_reconsume[0] >= 2 && col.max_reconsume[1] >= 2 && col.max_reconsume[2] >= 2;
        pthread_mutex_unlock(&col.mu);
        if (done || kt_now_ms() > end) break;
        usleep(50 * 1000);
    }
    usleep(300 * 1000);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(col.counts[i], i < 3 ? 3 : 1); /* first delivery + 2 retries */
        assert_int_equal(col.max_reconsume[i], i < 3 ? 2 : 0);
    }
    assert_int_equal(atomic_load(&col.bad), 0);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

static void test_pull_consumer(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcPull", "pl", 0, 40, "X,Y");
    kite_pull_consumer_opts o;
    kite_pull_consumer_opts_init(&o);
    o.namesrv_addr = e->nsaddr;
    kite_pull_consumer *c = NULL;
    assert_int_equal(kite_pull_consumer_create(&c, "lkc_pull", &o), KITE_OK);
    kite_mq_list l;
    assert_int_equal(kite_pull_consumer_fetch_queues(c, "LkcPull", &l), KITE_ESTOPPED);
    assert_int_equal(kite_pull_consumer_start(c), KITE_OK);
    assert_int_equal(kite_pull_consumer_fetch_queues(c, "LkcNoSuchTopic", &l), KITE_ENOTFOUND);
    assert_int_equal(kite_pull_consumer_fetch_queues(c, "LkcPull", &l), KITE_OK);
    assert_int_equal(l.n, 4);
    for (size_t i = 0; i < l.n; i++) {
        assert_string_equal(l.mqs[i].topic, "LkcPull");
        assert_int_equal(l.mqs[i].queue_id, (int)i);
    }
    /* The broker dispatches to the consume queues shortly after answering the sends. */
    long long end = kt_now_ms() + KT_DEADLINE_MS;
    for (;;) {
        int64_t sum = 0, m;
        for (size_t i = 0; i < l.n; i++)
            if (kite_pull_consumer_max_offset(c, &l.mqs[i], &m) == KITE_OK) sum += m;
        if (sum == 40 || kt_now_ms() > end) break;
        usleep(20 * 1000);
    }
    int seen[40] = { 0 }, total = 0, xs = 0;
    for (size_t i = 0; i < l.n; i++) {
        int64_t off = 0, max = -1, min = -1;
        assert_int_equal(kite_pull_consumer_max_offset(c, &l.mqs[i], &max), KITE_OK);
        assert_int_equal(kite_pull_consumer_min_offset(c, &l.mqs[i], &min), KITE_OK);
        assert_int_equal(min, 0);
        for (;;) {
            kite_pull_result r;
            assert_int_equal(kite_pull_consumer_pull(c, &l.mqs[i], "*", off, 4, &r), KITE_OK);
            if (r.status == KITE_PULL_NO_NEW_MSG) {
                assert_int_equal(r.next_begin_offset, max);
                assert_int_equal(r.max_offset, max);
                kite_pull_result_free(&r);
                break;
            }
            assert_int_equal(r.status, KITE_PULL_FOUND);
            assert_true(r.n >= 1 && r.n <= 4);
            for (size_t k = 0; k < r.n; k++) {
                const kite_message_ext *m = r.msgs[k];
                assert_int_equal(m->queue_offset, off + (int64_t)k);
                assert_int_equal(m->queue_id, l.mqs[i].queue_id);
                int num = atoi((const char *)m->body + 3);
                assert_true(num >= 0 && num < 40);
                seen[num]++;
                total++;
                assert_string_equal(kite_message_ext_property(m, "TAGS"), m->tags);
            }
            off = r.next_begin_offset;
            kite_pull_result_free(&r);
        }
        /* Tag filter: only Y messages of this queue. */
        kite_pull_result r;
        assert_int_equal(kite_pull_consumer_pull(c, &l.mqs[i], "Y", 0, 32, &r), KITE_OK);
        for (size_t k = 0; k < r.n; k++) assert_string_equal(r.msgs[k]->tags, "Y"), xs++;
        kite_pull_result_free(&r);
        /* Beyond the end: illegal offset, corrected to max. */
        assert_int_equal(kite_pull_consumer_pull(c, &l.mqs[i], NULL, max + 100, 4, &r), KITE_OK);
        assert_int_equal(r.status, KITE_PULL_OFFSET_ILLEGAL);
        assert_int_equal(r.next_begin_offset, max);
        kite_pull_result_free(&r);
    }
    assert_int_equal(total, 40);
    assert_int_equal(xs, 20);
    for (int i = 0; i < 40; i++) assert_int_equal(seen[i], 1);
    int64_t got = -1;
    assert_int_equal(kite_pull_consumer_commit_offset(c, &l.mqs[1], 3), KITE_OK);
    assert_int_equal(kite_pull_consumer_fetch_offset(c, &l.mqs[1], &got), KITE_OK);
    assert_int_equal(got, 3);
    kite_mq bad = { "LkcPull", "no-such-broker", 0 };
    assert_int_equal(kite_pull_consumer_fetch_offset(c, &bad, &got), KITE_ENOTFOUND);
    kite_mq_list_free(&l);
    assert_int_equal(kite_pull_consumer_shutdown(c), KITE_OK);
    kite_pull_consumer_destroy(c);
    kite_producer_destroy(p);
}

static void test_start_stop_cycles(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcCycle", "cy", 0, 200, NULL);
    kc_collector col;
    kc_collector_init(&col, "cy", "LkcCycle");
    atomic_store(&col.delay_us, 2000); /* work in progress at every shutdown */
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    for (int i = 0; i < 5; i++) {
        kite_push_consumer *c = kc_consumer(&o, "lkc_cycle", "LkcCycle", "*", &col);
        usleep(300 * 1000);
        assert_int_equal(kite_push_consumer_shutdown(c), KITE_OK);
        assert_int_equal(kite_push_consumer_shutdown(c), KITE_OK); /* idempotent */
        assert_int_equal(kite_push_consumer_start(c), KITE_ESTOPPED);
        kite_push_consumer_destroy(c);
    }
    /* Created and destroyed without start; bad arguments. */
    kite_push_consumer *c = NULL;
    assert_int_equal(kite_push_consumer_create(&c, "lkc_cycle", &o), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_EINVAL); /* no listener, no subscription */
    assert_int_equal(kite_push_consumer_subscribe(c, "bad topic", "*"), KITE_EINVAL);
    assert_int_equal(kite_push_consumer_subscribe(c, "LkcCycle", "||"), KITE_EINVAL);
    kite_push_consumer_destroy(c);
    kite_push_consumer_opts bad = o;
    bad.pull_timeout_ms = bad.suspend_timeout_ms;
    assert_int_equal(kite_push_consumer_create(&c, "g", &bad), KITE_EINVAL);
    bad = o;
    bad.namesrv_addr = NULL;
    assert_int_equal(kite_push_consumer_create(&c, "g", &bad), KITE_EINVAL);
    /* Everything was consumed across the cycles, at least once. */
    c = kc_consumer(&o, "lkc_cycle", "LkcCycle", "*", &col);
    atomic_store(&col.delay_us, 0);
    assert_int_equal(kc_wait_distinct(&col, 200, 15000), 200);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

/* Counts listener calls running at the same time (around kc_listener). */
typedef struct par_env {
    kc_collector col;
    atomic_int active, max_active, slow_calls;
} par_env;

static kite_consume_status par_listener(const kite_message_ext *const *msgs, size_t n, void *arg)
{
    par_env *pe = arg;
    int slow = atomic_load(&pe->col.delay_us) != 0;
    int a = atomic_fetch_add(&pe->active, 1) + 1;
    if (slow) {
        atomic_fetch_add(&pe->slow_calls, 1);
        int m = atomic_load(&pe->max_active);
        while (a > m && !atomic_compare_exchange_weak(&pe->max_active, &m, a)) {
        }
    }
    kite_consume_status st = kc_listener(msgs, n, &pe->col);
    atomic_fetch_sub(&pe->active, 1);
    return st;
}

static void test_workers_in_parallel(void **st)
{
    kc_env *e = *st;
    enum { FAST = 2000, SLOW = 24, THREADS = 8 };
    par_env *pe = calloc(1, sizeof *pe);
    kc_collector_init(&pe->col, "par", "LkcPar");
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcPar", "par", 0, FAST, NULL);
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_threads = THREADS;
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    kite_push_consumer *c;
    assert_int_equal(kite_push_consumer_create(&c, "lkc_par", &o), KITE_OK);
    assert_int_equal(kite_push_consumer_subscribe(c, "LkcPar", "*"), KITE_OK);
    assert_int_equal(kite_push_consumer_set_listener(c, par_listener, pe), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_OK);
    assert_int_equal(kc_wait_distinct(&pe->col, FAST, 20000), FAST);
    /* Now every call takes 40 ms. */
    atomic_store(&pe->col.delay_us, 40000);
    /* One batch: stored at once, so one pull answer brings all of them (one push). */
    kite_message *batch[SLOW];
    for (int i = 0; i < SLOW; i++) {
        char body[32];
        snprintf(body, sizeof body, "par-%d", FAST + i);
        batch[i] = kite_message_new("LkcPar");
        assert_int_equal(kite_message_set_body(batch[i], body, strlen(body)), KITE_OK);
    }
    kite_send_result res;
    assert_int_equal(kite_producer_send_batch(p, batch, SLOW, &res), KITE_OK);
    for (int i = 0; i < SLOW; i++) kite_message_destroy(batch[i]);
    assert_int_equal(kc_wait_distinct(&pe->col, FAST + SLOW, 30000), FAST + SLOW);
    /* 24 calls of 40 ms over 8 workers: one at a time would take ~1 s; most of the
     * workers must have been busy at once. */
    assert_true(atomic_load(&pe->max_active) >= THREADS - 2);
    assert_int_equal(kc_duplicates(&pe->col, FAST + SLOW), 0);
    assert_int_equal(atomic_load(&pe->col.bad), 0);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    kc_collector_destroy(&pe->col);
    free(pe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcasting),        cmocka_unit_test(test_reconsume_later),
        cmocka_unit_test(test_pull_consumer),       cmocka_unit_test(test_start_stop_cycles),
        cmocka_unit_test(test_workers_in_parallel),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, setup, teardown));
}
