/* it_broker_delay.c - kite-broker delayed messages (docs/wire.md §11.1) with
 * shortened levels (messageDelayLevel "1s 2s 3s"): a message sent with DELAY=2 is not
 * pullable from its topic before 2 s after it was stored, and arrives (a long-poll pull
 * held from before it was due is answered with it; how late is not asserted) before the
 * DELAY=3 one sent with it; the delivered record carries its
 * real topic/queue, REAL_TOPIC/REAL_QID, no DELAY, the same body and user properties;
 * a DELAY above the maximum is clamped to the maximum (stored in SCHEDULE_TOPIC_XXXX
 * queue max-1). Delay offsets survive a clean stop (config/delayOffset.json, nothing
 * delivered twice) and a SIGKILL (still delivered). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "kt_bkx.h"

#define LEVELS   "messageDelayLevel=1s 2s 3s\n"
#define EARLY_MS 10 /* clock granularity: the schedule service may deliver a few ms early */
/* Long-poll pulls are held this long: far beyond any delay here, so the answer is the
 * delivered message, however loaded the machine. */
#define HOLD_MS KT_DEADLINE_MS

/* Waits for the held pull `op` on fd and returns the ms since t0 (monotonic). */
static long long await_pull(int fd, int op, long long t0, kite_cmd *r)
{
    assert_int_equal(kb_wait_response(fd, op, r, HOLD_MS + 5000), 0);
    return kt_now_ms() - t0;
}

/* Checks one delivered delayed record. */
static void check_delivered(const kite_cmd *r, const char *topic, int qid, const char *body,
                            int64_t born_min)
{
    assert_int_equal(r->code, 0);
    kite_record rec[2];
    assert_int_equal(kb_records(r->body, r->body_len, rec, 2), 1);
    assert_int_equal((int)rec[0].topic_len, (int)strlen(topic));
    assert_memory_equal(rec[0].topic, topic, rec[0].topic_len);
    assert_int_equal(rec[0].queue_id, qid);
    assert_int_equal(rec[0].queue_offset, 0);
    assert_int_equal(rec[0].body_len, strlen(body));
    assert_memory_equal(rec[0].body, body, rec[0].body_len);
    char v[256];
    assert_true(kx_prop(&rec[0], "REAL_TOPIC", v, sizeof v));
    assert_string_equal(v, topic);
    assert_true(kx_prop(&rec[0], "REAL_QID", v, sizeof v));
    assert_int_equal(atoi(v), qid);
    assert_false(kx_prop(&rec[0], "DELAY", v, sizeof v));
    assert_true(kx_prop(&rec[0], "TAGS", v, sizeof v));
    assert_string_equal(v, "TagD");
    assert_true(kx_prop(&rec[0], "color", v, sizeof v));
    assert_string_equal(v, "blue");
    /* born info kept; the delivered copy was stored at least the delay later. */
    assert_true(rec[0].born_ts >= born_min);
    fprintf(stderr, "%s/%d: stored %lld ms after it was born\n", topic, qid,
            (long long)(rec[0].store_ts - rec[0].born_ts));
}

/* Scenario: DELAY=2 not early, before DELAY=99, which is clamped to level 3. */
static void test_delay_timing_and_clamp(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, LEVELS);
    int prod = bk_conn(b), c2 = bk_conn(b), c3 = bk_conn(b);

    int64_t born_min = kb_wall_ms();
    long long t0 = kt_now_ms();
    bk_send_ok(prod, "TopicDelay", 1,
               "TAGS\\u0001TagD\\u0002DELAY\\u00012\\u0002color\\u0001blue\\u0002", "delayed-2",
               NULL);
    bk_send_ok(prod, "TopicDelay", 2,
               "TAGS\\u0001TagD\\u0002DELAY\\u000199\\u0002color\\u0001blue\\u0002", "delayed-99",
               NULL);
    /* Stored in the schedule topic, queue level-1 (99 clamped to 3). */
    bk_wait_max(prod, "SCHEDULE_TOPIC_XXXX", 1, 1);
    bk_wait_max(prod, "SCHEDULE_TOPIC_XXXX", 2, 1);
    assert_int_equal(kb_lookup(prod, 30, "SCHEDULE_TOPIC_XXXX", 17, NULL, "offset"), 0);

    /* Long-poll pulls on both real queues: not answered until due. */
    int op2 = kb_pull_send(c2, "GDelay", "TopicDelay", 1, 0, 32, 4 | 2, 0, HOLD_MS, "*");
    int op3 = kb_pull_send(c3, "GDelay", "TopicDelay", 2, 0, 32, 4 | 2, 0, HOLD_MS, "*");
    assert_true(op2 > 0 && op3 > 0);
    /* At ~1.5 s nothing is there yet: asserted only when the look-up surely finished
     * before the 2 s were up (a descheduled test may come back later than that). */
    usleep(1500 * 1000);
    int64_t early = kb_lookup(prod, 30, "TopicDelay", 1, NULL, "offset");
    int held_answered = kx_readable(c2, 0);
    long long checked = kt_now_ms() - t0;
    if (checked < 2000 - EARLY_MS) {
        assert_int_equal(early, 0);
        assert_false(held_answered);
    } else {
        fprintf(stderr, "early state not checked: the look-up ended %lld ms after the send\n",
                checked);
    }

    kite_cmd r;
    long long dt = await_pull(c2, op2, t0, &r);
    fprintf(stderr, "DELAY=2 arrived %lld ms after the send\n", dt);
    assert_true(dt >= 2000 - EARLY_MS);
    check_delivered(&r, "TopicDelay", 1, "delayed-2", born_min);
    kite_record rec[2];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 2), 1);
    assert_true(rec[0].store_ts - rec[0].born_ts >= 2000 - EARLY_MS);
    int64_t stored2 = rec[0].store_ts;
    kite_cmd_free(&r);

    dt = await_pull(c3, op3, t0, &r);
    fprintf(stderr, "DELAY=99 (clamped to 3) arrived %lld ms after the send\n", dt);
    assert_true(dt >= 3000 - EARLY_MS);
    check_delivered(&r, "TopicDelay", 2, "delayed-99", born_min);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 2), 1);
    assert_true(rec[0].store_ts - rec[0].born_ts >= 3000 - EARLY_MS);
    assert_true(rec[0].store_ts >= stored2); /* the 3 s level delivered after the 2 s one */
    kite_cmd_free(&r);

    /* Nothing else was delivered (each exactly once). */
    usleep(300 * 1000);
    assert_int_equal(kb_lookup(prod, 30, "TopicDelay", 1, NULL, "offset"), 1);
    assert_int_equal(kb_lookup(prod, 30, "TopicDelay", 2, NULL, "offset"), 1);
}

/* Reads the store's delayOffset.json into buf ("" when absent). */
static int read_delay_file(const kt_daemon *b, char *buf, size_t cap)
{
    char path[700];
    snprintf(path, sizeof path, "%s/store/config/delayOffset.json", b->dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        buf[0] = 0;
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
    return 0;
}

/* The delay offset of level lv in a delayOffset.json text, or -1. */
static long long level_offset(const char *text, int lv)
{
    char err[128];
    kite_json_doc *d = kite_json_parse(text, strlen(text), err, sizeof err);
    if (!d) return -1;
    const kite_json *t = kite_json_get(kite_json_root(d), "offsetTable");
    long long v = -1;
    for (size_t i = 0; t && t->type == KJ_OBJECT && i < t->count; i++) {
        int64_t k, o;
        if (kite_json_int64(t->members[i].key, &k) == 0 && k == lv &&
            kite_json_int64(t->members[i].value, &o) == 0)
            v = o;
    }
    kite_json_doc_free(d);
    return v;
}

/* Long-polls queue 0 of TopicDR at offset off and checks the body; returns ms since t0. */
static long long expect_arrival(kt_daemon *b, int64_t off, const char *body, long long t0)
{
    int fd = bk_conn(b);
    kite_cmd r;
    int op = kb_pull_send(fd, "GDR", "TopicDR", 0, off, 32, 4 | 2, 0, HOLD_MS, "*");
    assert_true(op > 0);
    assert_int_equal(kb_wait_response(fd, op, &r, HOLD_MS + 5000), 0);
    long long dt = kt_now_ms() - t0;
    assert_int_equal(r.code, 0);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 1);
    assert_int_equal(rec[0].queue_offset, off);
    assert_int_equal(rec[0].body_len, strlen(body));
    assert_memory_equal(rec[0].body, body, rec[0].body_len);
    kite_cmd_free(&r);
    bk_close(fd);
    return dt;
}

/* Scenario: a delivered level-1 message is not delivered again after a clean restart; a
 * 3 s message sent right before the stop (clean, then SIGKILL) still arrives, not early. */
static void test_delay_survives_restart(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, LEVELS);
    int fd = bk_conn(b);
    long long t0 = kt_now_ms();
    bk_send_ok(fd, "TopicDR", 0, "DELAY\\u00011\\u0002", "first-1s", NULL);
    long long dt = expect_arrival(b, 0, "first-1s", t0);
    assert_true(dt >= 1000 - EARLY_MS);

    t0 = kt_now_ms();
    bk_send_ok(fd, "TopicDR", 0, "DELAY\\u00013\\u0002", "second-3s", NULL);
    bk_close(fd);
    bk_stop_clean(b); /* right away */

    char text[4096];
    assert_int_equal(read_delay_file(b, text, sizeof text), 0);
    fprintf(stderr, "delayOffset.json after the stop: %s\n", text);
    assert_int_equal(level_offset(text, 1), 1); /* level 1 delivered its message */
    assert_int_equal(level_offset(text, 3), 0); /* level 3 not yet */

    bk_launch(b, NULL, LEVELS);
    dt = expect_arrival(b, 1, "second-3s", t0);
    fprintf(stderr, "3 s message across a clean restart arrived after %lld ms\n", dt);
    assert_true(dt >= 3000 - EARLY_MS);
    fd = bk_conn(b);
    assert_int_equal(kb_lookup(fd, 30, "TopicDR", 0, NULL, "offset"), 2); /* first-1s not again */

    /* SIGKILL right after the send: the delayed message is durable and still arrives. */
    t0 = kt_now_ms();
    bk_send_ok(fd, "TopicDR", 0, "DELAY\\u00012\\u0002", "third-2s", NULL);
    usleep(100 * 1000); /* let the async flush write it */
    bk_close(fd);
    kt_kill9(b->pid);
    b->pid = 0;
    bk_launch(b, NULL, LEVELS);
    dt = expect_arrival(b, 2, "third-2s", t0);
    fprintf(stderr, "2 s message across a SIGKILL arrived after %lld ms\n", dt);
    assert_true(dt >= 2000 - EARLY_MS);
    /* Earlier ones were not delivered again (level offsets were saved within 1 s). */
    fd = bk_conn(b);
    usleep(300 * 1000);
    assert_int_equal(kb_lookup(fd, 30, "TopicDR", 0, NULL, "offset"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delay_timing_and_clamp, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_delay_survives_restart, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
