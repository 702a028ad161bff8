/* it_libkite_consumer.c - the libkite push consumer (include/kite/consumer.h) in
 * CLUSTERING mode against a real kite-namesrv + kite-broker on loopback: N messages
 * consumed exactly once; a consumer joining and another leaving while messages flow
 * (nothing lost, few duplicates); tag filtering ("TagA || TagB"); committed offsets
 * surviving a consumer restart; RESET_CONSUMER_CLIENT_OFFSET pushed by the broker after
 * a raw INVOKE_BROKER_TO_RESET_OFFSET (222); GET_CONSUMER_RUNNING_INFO (307) and
 * CONSUME_MESSAGE_DIRECTLY (309) forwarded by the broker to the consumer.
 * docs/wire.md §5.6, §6, §7, §12.4-§12.7. One pair of daemons for the whole file;
 * each test uses its own topic and group. Every wait is bounded. */
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

static void test_exactly_once(void **st)
{
    kc_env *e = *st;
    enum { N = 300 };
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcOnce", "once", 0, N, NULL);
    kc_collector col;
    kc_collector_init(&col, "once", "LkcOnce");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    /* Long polls held longer than the test waits below: an arrival there proves the held
     * poll was woken, not re-sent after its suspend ran out. */
    o.suspend_timeout_ms = 2 * KT_DEADLINE_MS;
    o.pull_timeout_ms = o.suspend_timeout_ms + 10000;
    kite_push_consumer *c = kc_consumer(&o, "lkc_once", "LkcOnce", "*", &col);
    assert_int_equal(kc_wait_distinct(&col, N, 15000), N);
    usleep(500 * 1000); /* late duplicates would show here */
    assert_int_equal(kc_duplicates(&col, N), 0);
    assert_int_equal(atomic_load(&col.total), N);
    assert_int_equal(atomic_load(&col.bad), 0);
    /* 4 queues + the retry queue (its route appears once the broker registered it). */
    long long qend = kt_now_ms() + KT_DEADLINE_MS;
    while (kt_now_ms() < qend && kite_push_consumer_queue_count(c) != 4 + 1) usleep(20 * 1000);
    assert_int_equal(kite_push_consumer_queue_count(c), 4 + 1);
    assert_non_null(strchr(kite_push_consumer_client_id(c), '@'));
    /* Messages sent while running arrive through the held long polls. */
    kc_send_range(p, "LkcOnce", "once", N, N + 20, NULL);
    assert_int_equal(kc_wait_distinct(&col, N + 20, KT_DEADLINE_MS), N + 20);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

typedef struct feeder {
    kite_producer *p;
    int from, to;
    int pause_us;
} feeder;

static void *feed(void *arg)
{
    feeder *f = arg;
    for (int i = f->from; i < f->to; i++) {
        kc_send_range(f->p, "LkcRebal", "rb", i, i + 1, NULL);
        usleep((useconds_t)f->pause_us);
    }
    return NULL;
}

static void test_join_leave(void **st)
{
    kc_env *e = *st;
    enum { N = 600 };
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcRebal", "rb", 0, 1, NULL); /* creates the topic */
    kc_collector col;
    kc_collector_init(&col, "rb", "LkcRebal");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    kite_push_consumer *a = kc_consumer(&o, "lkc_rebal", "LkcRebal", "*", &col);
    feeder f = { p, 1, N, 5000 };
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);
    usleep(1000 * 1000);
    kite_push_consumer *b = kc_consumer(&o, "lkc_rebal", "LkcRebal", "*", &col);
    /* Both share the queues once they see each other (NOTIFY + rebalance). */
    long long end = kt_now_ms() + KT_DEADLINE_MS;
    while (kt_now_ms() < end &&
           !(kite_push_consumer_queue_count(a) == 2 + 1 && kite_push_consumer_queue_count(b) == 2))
        usleep(20 * 1000);
    size_t qa = kite_push_consumer_queue_count(a), qb = kite_push_consumer_queue_count(b);
    assert_int_equal(qa + qb, 4 + 1); /* the retry topic has one queue */
    assert_true(qa >= 2 && qb >= 2);
    usleep(800 * 1000);
    kite_push_consumer_destroy(a); /* leaves: b takes everything */
    end = kt_now_ms() + KT_DEADLINE_MS;
    while (kt_now_ms() < end && kite_push_consumer_queue_count(b) != 4 + 1) usleep(20 * 1000);
    assert_int_equal(kite_push_consumer_queue_count(b), 4 + 1);
    pthread_join(th, NULL);
    assert_int_equal(kc_wait_distinct(&col, N, 15000), N);
    int dups = kc_duplicates(&col, N);
    fprintf(stderr, "join/leave: %d messages, %d duplicates\n", N, dups);
    assert_true(dups <= N / 10);
    assert_int_equal(atomic_load(&col.bad), 0);
    kite_push_consumer_destroy(b);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

static void test_tags(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcTags", "tg", 0, 60, "TagA,TagB,TagC");
    kc_collector col;
    kc_collector_init(&col, "tg", "LkcTags");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.consume_batch_size = 8;
    kite_push_consumer *c = kc_consumer(&o, "lkc_tags", "LkcTags", " TagA ||TagB", &col);
    long long end = kt_now_ms() + 10000;
    while (kt_now_ms() < end && atomic_load(&col.total) < 40) usleep(20 * 1000);
    usleep(500 * 1000);
    assert_int_equal(atomic_load(&col.total), 40);
    for (int i = 0; i < 60; i++) assert_int_equal(col.counts[i], i % 3 == 2 ? 0 : 1);
    for (int k = 0; k < 8; k++)
        assert_true(!col.tags_seen[k][0] || strcmp(col.tags_seen[k], "TagC") != 0);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

static void test_offsets_survive_restart(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcRestart", "rs", 0, 50, NULL);
    kc_collector col;
    kc_collector_init(&col, "rs", "LkcRestart");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    o.persist_offset_interval_ms = 60000; /* only the shutdown commit counts */
    kite_push_consumer *c = kc_consumer(&o, "lkc_restart", "LkcRestart", "*", &col);
    assert_int_equal(kc_wait_distinct(&col, 50, 10000), 50);
    kite_push_consumer_destroy(c);
    kc_send_range(p, "LkcRestart", "rs", 50, 80, NULL);
    c = kc_consumer(&o, "lkc_restart", "LkcRestart", "*", &col);
    assert_int_equal(kc_wait_distinct(&col, 80, 10000), 80);
    usleep(500 * 1000);
    assert_int_equal(kc_duplicates(&col, 80), 0); /* nothing before the commit came again */
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

static void test_reset_offset(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkcReset", "rt", 0, 40, NULL);
    kc_collector col;
    kc_collector_init(&col, "rt", "LkcReset");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    kite_push_consumer *c = kc_consumer(&o, "lkc_reset", "LkcReset", "*", &col);
    assert_int_equal(kc_wait_distinct(&col, 40, 10000), 40);
    usleep(300 * 1000);
    assert_int_equal(atomic_load(&col.total), 40);
    /* An admin asks the broker to reset the group to time 0: the broker stores the new
     * offsets and pushes RESET_CONSUMER_CLIENT_OFFSET to the consumer. */
    int fd = kt_connect(e->br.host, e->br.port);
    assert_true(fd >= 0);
    kite_cmd r;
    assert_int_equal(
        kt_call(
            fd,
            "{\"code\":222,\"extFields\":{\"topic\":\"LkcReset\",\"group\":\"lkc_reset\",\"timestamp\":\"0\","
            "\"isForce\":\"true\"},\"flag\":0,\"language\":\"JAVA\",\"opaque\":7,"
            "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}",
            NULL, 0, &r),
        0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    close(fd);
    long long end = kt_now_ms() + 10000;
    while (kt_now_ms() < end && atomic_load(&col.total) < 80) usleep(20 * 1000);
    assert_int_equal(atomic_load(&col.total), 80); /* everything once more */
    for (int i = 0; i < 40; i++) assert_int_equal(col.counts[i], 2);
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

static void test_broker_requests(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    kite_message *m = kite_message_new("LkcDirect");
    kite_message_set_body(m, "dr-1", 4);
    kite_send_result sr;
    assert_int_equal(kite_producer_send(p, m, &sr), KITE_OK);
    kite_message_destroy(m);
    kc_collector col;
    kc_collector_init(&col, "dr", "LkcDirect");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    kite_push_consumer *c = kc_consumer(&o, "lkc_direct", "LkcDirect", "*", &col);
    long long end = kt_now_ms() + 10000;
    while (kt_now_ms() < end && atomic_load(&col.total) < 1) usleep(20 * 1000);
    assert_int_equal(atomic_load(&col.total), 1);
    const char *cid = kite_push_consumer_client_id(c);

    int fd = kt_connect(e->br.host, e->br.port);
    assert_true(fd >= 0);
    char hdr[1024];
    kite_cmd r;
    snprintf(
        hdr, sizeof hdr,
        "{\"code\":307,\"extFields\":{\"consumerGroup\":\"lkc_direct\",\"clientId\":\"%s\",\"jstackEnable\":\"false\"},"
        "\"flag\":0,\"language\":\"JAVA\",\"opaque\":8,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}",
        cid);
    assert_int_equal(kt_call(fd, hdr, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    const char *body = kt_body(&r);
    assert_non_null(strstr(body, "\"PROP_CONSUME_TYPE\":\"CONSUME_PASSIVELY\""));
    assert_non_null(strstr(body, "\"topic\":\"LkcDirect\""));
    assert_non_null(strstr(body, "\"mqTable\":{{"));
    kite_cmd_free(&r);

    snprintf(
        hdr, sizeof hdr,
        "{\"code\":309,\"extFields\":{\"consumerGroup\":\"lkc_direct\",\"clientId\":\"%s\",\"msgId\":\"%s\","
        "\"brokerName\":\"x\"},\"flag\":0,\"language\":\"JAVA\",\"opaque\":9,\"serializeTypeCurrentRPC\":\"JSON\","
        "\"version\":401}",
        cid, sr.offset_msg_id);
    assert_int_equal(kt_call(fd, hdr, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(kt_body(&r), "\"consumeResult\":\"CR_SUCCESS\""));
    kite_cmd_free(&r);
    close(fd);
    assert_int_equal(col.counts[1], 2); /* once pulled, once directly */
    kite_push_consumer_destroy(c);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once), cmocka_unit_test(test_join_leave),
        cmocka_unit_test(test_tags),         cmocka_unit_test(test_offsets_survive_restart),
        cmocka_unit_test(test_reset_offset), cmocka_unit_test(test_broker_requests),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, kc_setup, kc_teardown));
}
