/* it_broker_longpoll.c - kite-broker long polling (docs/wire.md §6.3): a pull held at
 * the max offset with SUSPEND is answered when another connection sends to that queue,
 * long before its suspend could run out (and not for a send to another queue), is
 * answered 19 no earlier than its
 * suspendTimeoutMillis when nothing arrives, and while it is held the same connection
 * keeps being served: later requests are answered first, matched by opaque. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include <poll.h>

/* A pull that must be woken by an arrival is held far longer than the test waits for its
 * answer, so an answer at all proves the arrival woke it. */
#define WAKE_SUSPEND_MS (2 * KT_DEADLINE_MS)

/* 1 when fd has bytes to read within ms. */
static int readable(int fd, int ms)
{
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    return poll(&pf, 1, ms) > 0;
}

/* Reads one answer frame and checks its opaque. */
static void read_answer(int fd, int opaque, kite_cmd *r, int timeout_ms)
{
    assert_int_equal(kt_read_frame(fd, r, timeout_ms), 0);
    assert_true(r->flag & KITE_FLAG_RESPONSE);
    if (r->opaque != opaque) fprintf(stderr, "answer opaque %d, expected %d\n", r->opaque, opaque);
    assert_int_equal(r->opaque, opaque);
}

/* Scenario: a held pull wakes on a send to its queue, not on another queue. */
static void test_wakeup_on_arrival(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b), prod = bk_conn(b);
    bk_send_ok(prod, "TopicLP", 0, NULL, "first", NULL);
    bk_wait_max(prod, "TopicLP", 0, 1);

    int op = kb_pull_send(fd, "GLP", "TopicLP", 0, 1, 32, 4 | 2, 0, WAKE_SUSPEND_MS, "*");
    assert_true(op > 0);
    assert_false(readable(fd, 300)); /* held */

    /* A message for another queue of the topic does not answer it. */
    bk_send_ok(prod, "TopicLP", 1, NULL, "other-queue", NULL);
    assert_false(readable(fd, 300));

    long long t0 = kt_now_ms();
    bk_send_ok(prod, "TopicLP", 0, "TAGS\\u0001TagW\\u0002", "wake-up", NULL);
    kite_cmd r;
    read_answer(fd, op, &r, KT_DEADLINE_MS);
    fprintf(stderr, "held pull answered %lld ms after the send\n", kt_now_ms() - t0);
    assert_int_equal(r.code, 0);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 2);
    assert_int_equal(kb_ext_i64(&r, "maxOffset"), 2);
    kite_record rec[2];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 2), 1);
    assert_int_equal(rec[0].queue_offset, 1);
    assert_int_equal(rec[0].body_len, 7);
    assert_memory_equal(rec[0].body, "wake-up", 7);
    kite_cmd_free(&r);

    /* A held pull with a tag subscription is woken by a matching message. */
    op = kb_pull_send(fd, "GLP", "TopicLP", 0, 2, 32, 4 | 2, 0, WAKE_SUSPEND_MS, "TagX");
    assert_false(readable(fd, 200));
    bk_send_ok(prod, "TopicLP", 0, "TAGS\\u0001TagX\\u0002", "tagged", NULL);
    read_answer(fd, op, &r, KT_DEADLINE_MS);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 2), 1);
    assert_memory_equal(rec[0].body, "tagged", 6);
    kite_cmd_free(&r);
}

/* Scenario: nothing arrives: code 19 after suspendTimeoutMillis (not before ~90%); how
 * late is not asserted. */
static void test_timeout_answers_19(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    bk_send_ok(fd, "TopicTO", 0, NULL, "only", NULL);
    bk_wait_max(fd, "TopicTO", 0, 1);

    const int suspend = 2000;
    long long t0 = kt_now_ms();
    int op = kb_pull_send(fd, "GTO", "TopicTO", 0, 1, 32, 4 | 2, 0, suspend, "*");
    kite_cmd r;
    read_answer(fd, op, &r, suspend + KT_DEADLINE_MS);
    long long dt = kt_now_ms() - t0;
    fprintf(stderr, "held pull timed out after %lld ms (suspend %d)\n", dt, suspend);
    assert_true(dt >= suspend * 9 / 10);
    assert_int_equal(r.code, 19);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 1);
    assert_int_equal(kb_ext_i64(&r, "minOffset"), 0);
    assert_int_equal(kb_ext_i64(&r, "maxOffset"), 1);
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);

    /* An empty queue at offset 0 is held the same way. */
    t0 = kt_now_ms();
    op = kb_pull_send(fd, "GTO", "TopicTO", 3, 0, 32, 4 | 2, 0, 1000, "*");
    read_answer(fd, op, &r, 1000 + KT_DEADLINE_MS);
    dt = kt_now_ms() - t0;
    assert_true(dt >= 900);
    assert_int_equal(r.code, 19);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 0);
    kite_cmd_free(&r);
}

/* Scenario: one connection, held pulls first, later requests answered before them. */
static void test_out_of_order_on_one_connection(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b), prod = bk_conn(b);
    bk_send_ok(prod, "TopicOO", 0, NULL, "q0", NULL);
    bk_send_ok(prod, "TopicOO", 1, NULL, "q1", NULL);
    bk_wait_max(prod, "TopicOO", 0, 1);
    bk_wait_max(prod, "TopicOO", 1, 1);

    int pull0 = kb_pull_send(fd, "GOO", "TopicOO", 0, 1, 32, 4 | 2, 0, WAKE_SUSPEND_MS, "*");
    int pull1 = kb_pull_send(fd, "GOO", "TopicOO", 1, 1, 32, 4 | 2, 0, WAKE_SUSPEND_MS, "*");
    int maxq = kb_send(fd, 30, 0, "\"topic\":\"TopicOO\",\"queueId\":\"0\"", NULL, 0);
    int minq = kb_send(fd, 31, 0, "\"topic\":\"TopicOO\",\"queueId\":\"1\"", NULL, 0);
    assert_true(pull0 > 0 && pull1 > 0 && maxq > 0 && minq > 0);

    kite_cmd r;
    read_answer(fd, maxq, &r, KT_DEADLINE_MS);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "offset"), "1");
    kite_cmd_free(&r);
    read_answer(fd, minq, &r, KT_DEADLINE_MS);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "offset"), "0");
    kite_cmd_free(&r);
    assert_false(readable(fd, 200));

    /* Queue 1 first: the second held pull answers before the first. */
    bk_send_ok(prod, "TopicOO", 1, NULL, "wake-q1", NULL);
    read_answer(fd, pull1, &r, KT_DEADLINE_MS);
    assert_int_equal(r.code, 0);
    kite_record rec[2];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 2), 1);
    assert_int_equal(rec[0].queue_id, 1);
    assert_memory_equal(rec[0].body, "wake-q1", 7);
    kite_cmd_free(&r);

    /* A request sent now is still answered while pull0 stays held. */
    int maxq1 = kb_send(fd, 30, 0, "\"topic\":\"TopicOO\",\"queueId\":\"1\"", NULL, 0);
    read_answer(fd, maxq1, &r, KT_DEADLINE_MS);
    assert_string_equal(kite_cmd_ext(&r, "offset"), "2");
    kite_cmd_free(&r);

    bk_send_ok(prod, "TopicOO", 0, NULL, "wake-q0", NULL);
    read_answer(fd, pull0, &r, KT_DEADLINE_MS);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 2), 1);
    assert_int_equal(rec[0].queue_id, 0);
    assert_memory_equal(rec[0].body, "wake-q0", 7);
    kite_cmd_free(&r);
    assert_false(readable(fd, 100));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wakeup_on_arrival, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_answers_19, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_on_one_connection, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
