/* it_broker_filter.c - kite-broker subscription filters with long polling and SQL92
 * (docs/wire.md §6.1-§6.3, §9.7, §2.11): a pull held for "TagX" is not answered when a TagY
 * message arrives - it stays held and is answered 19/20 at its suspend timeout (not
 * before), or 0 with only the TagX message when one arrives later (before its suspend
 * could have run out: woken by the arrival); SQL92 with enablePropertyFilter:
 * "a > 5 AND region IN ('hz','sh')" returns only matching messages (non-matching
 * entries count as examined: 20 with nextBeginOffset past them), also through a
 * heartbeat subscription and a held pull, an unparsable expression answers 23; without
 * enablePropertyFilter a SQL92 pull answers 1; CHECK_CLIENT_CONFIG (46) accordingly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "kt_bkx.h"

#define SQL "a > 5 AND region IN ('hz','sh')"
/* A pull that must be woken by an arrival is held far longer than the test waits for it,
 * so an answer at all proves the arrival woke it. */
#define WAKE_SUSPEND_MS (2 * KT_DEADLINE_MS)
#define EXPIRE_MS       2000 /* suspend of the pull that must time out */
#define EXPIRE_EARLY_MS 200  /* how early the broker may answer an expiring pull */

/* Asserts the pull held on fd since t0 with EXPIRE_MS is not answered within ms, as far as
 * that can be told: only up to shortly before it may expire (a slow test thread may come
 * back when the suspend has run out). */
static void expect_still_held(int fd, long long t0, int ms)
{
    long long left = t0 + EXPIRE_MS - EXPIRE_EARLY_MS - kt_now_ms();
    if (left > ms) left = ms;
    if (left > 0) assert_false(kx_readable(fd, (int)left));
}

/* Scenario: held "TagX" pulls ignore TagY arrivals; timeout and later match. */
static void test_tag_filtered_hold(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int prod = bk_conn(b), fa = bk_conn(b), fb = bk_conn(b);
    bk_send_ok(prod, "TopicTF", 0, "TAGS\\u0001TagX\\u0002", "x0", NULL);
    bk_send_ok(prod, "TopicTF", 1, "TAGS\\u0001TagX\\u0002", "x0", NULL);
    bk_wait_max(prod, "TopicTF", 0, 1);
    bk_wait_max(prod, "TopicTF", 1, 1);

    /* A: queue 0, suspend 2 s (will time out); B: queue 1, held long (will match). */
    long long ta = kt_now_ms();
    int opa = kb_pull_send(fa, "GTF", "TopicTF", 0, 1, 32, 4 | 2, 0, EXPIRE_MS, "TagX");
    int opb = kb_pull_send(fb, "GTF", "TopicTF", 1, 1, 32, 4 | 2, 0, WAKE_SUSPEND_MS, "TagX");
    assert_true(opa > 0 && opb > 0);
    expect_still_held(fa, ta, 200);

    bk_send_ok(prod, "TopicTF", 0, "TAGS\\u0001TagY\\u0002", "y-a", NULL);
    bk_send_ok(prod, "TopicTF", 1, "TAGS\\u0001TagY\\u0002", "y-b", NULL);
    bk_wait_max(prod, "TopicTF", 0, 2);
    bk_wait_max(prod, "TopicTF", 1, 2);
    assert_false(kx_readable(fb, 500)); /* TagY did not answer B */

    long long tb = kt_now_ms();
    bk_send_ok(prod, "TopicTF", 1, "TAGS\\u0001TagX\\u0002", "x-b", NULL);
    kite_cmd r;
    assert_int_equal(kb_wait_response(fb, opb, &r, KT_DEADLINE_MS), 0);
    fprintf(stderr, "held TagX pull answered %lld ms after the TagX send\n", kt_now_ms() - tb);
    assert_true(kt_now_ms() - ta < WAKE_SUSPEND_MS); /* woken by the arrival, not expired */
    assert_int_equal(r.code, 0);
    bk_check_pull_fields(&r);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 1); /* only TagX */
    assert_int_equal(rec[0].queue_offset, 2);
    assert_memory_equal(rec[0].body, "x-b", 3);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 3);
    kite_cmd_free(&r);

    /* A is still held (TagY only) until its timeout, then answered 19 or 20. */
    expect_still_held(fa, ta, EXPIRE_MS);
    assert_int_equal(kb_wait_response(fa, opa, &r, KT_DEADLINE_MS), 0);
    long long dt = kt_now_ms() - ta;
    fprintf(stderr, "held TagX pull with only TagY answered %d after %lld ms\n", r.code, dt);
    assert_true(dt >= EXPIRE_MS - EXPIRE_EARLY_MS); /* not before its suspend ran out */
    assert_true(r.code == 19 || r.code == 20);
    assert_int_equal(r.body_len, 0);
    bk_check_pull_fields(&r);
    int64_t next = kb_ext_i64(&r, "nextBeginOffset");
    assert_true(r.code == 20 ? next == 2 : (next == 1 || next == 2));
    kite_cmd_free(&r);
}

/* Sends the six SQL test messages to TopicSQL queue 0. */
static void send_sql_messages(int fd)
{
    static const char *const props[6] = {
        "a\\u00013\\u0002region\\u0001hz\\u0002",                    /* 0: a too small */
        "a\\u00016\\u0002region\\u0001hz\\u0002",                    /* 1: match */
        "a\\u000110\\u0002region\\u0001sh\\u0002",                   /* 2: match */
        "a\\u00017\\u0002region\\u0001bj\\u0002",                    /* 3: region */
        "region\\u0001hz\\u0002",                                    /* 4: no a */
        "TAGS\\u0001T\\u0002a\\u00018\\u0002region\\u0001sh\\u0002", /* 5: match */
    };
    for (int i = 0; i < 6; i++) {
        char body[8];
        snprintf(body, sizeof body, "m%d", i);
        bk_send_ok(fd, "TopicSQL", 0, props[i], body, NULL);
    }
    bk_wait_max(fd, "TopicSQL", 0, 6);
}

static void expect_bodies(const kite_cmd *r, const char *const *want, int n)
{
    assert_int_equal(r->code, 0);
    kite_record rec[8];
    assert_int_equal(kb_records(r->body, r->body_len, rec, 8), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(rec[i].body_len, strlen(want[i]));
        assert_memory_equal(rec[i].body, want[i], rec[i].body_len);
    }
}

static int check_config(int fd, const char *type, const char *expr)
{
    char body[1024];
    snprintf(
        body, sizeof body,
        "{\"clientId\":\"127.0.0.1@42#1\",\"group\":\"GSQL\",\"subscriptionData\":{\"classFilterMode\":false,"
        "\"codeSet\":[],\"expressionType\":\"%s\",\"subString\":\"%s\",\"subVersion\":1,\"tagsSet\":[],"
        "\"topic\":\"TopicSQL\"}}",
        type, expr);
    return kb_call_code(fd, 46, "", body, strlen(body));
}

/* Scenario: SQL92 filtering with enablePropertyFilter=true. */
static void test_sql92_enabled(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, "enablePropertyFilter=true\n");
    int fd = bk_conn(b);
    send_sql_messages(fd);
    kite_cmd r;
    static const char *const all3[] = { "m1", "m2", "m5" };

    assert_int_equal(kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 0, 32, 4, 0, SQL, "SQL92", &r), 0);
    expect_bodies(&r, all3, 3);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 6);
    kite_cmd_free(&r);
    /* From offset 3: only m5; one entry examined (m3, no match): 20, next 4. */
    assert_int_equal(kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 3, 32, 4, 0, SQL, "SQL92", &r), 0);
    expect_bodies(&r, all3 + 2, 1);
    kite_cmd_free(&r);
    assert_int_equal(kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 3, 1, 4, 0, SQL, "SQL92", &r), 0);
    assert_int_equal(r.code, 20);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 4);
    kite_cmd_free(&r);
    /* Other expressions of the language over the same messages. */
    static const char *const nob[] = { "m4" };
    assert_int_equal(kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 0, 32, 4, 0, "a IS NULL", "SQL92", &r),
                     0);
    expect_bodies(&r, nob, 1);
    kite_cmd_free(&r);
    static const char *const btw[] = { "m1", "m3", "m5" };
    assert_int_equal(
        kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 0, 32, 4, 0, "a BETWEEN 6 AND 9", "SQL92", &r), 0);
    expect_bodies(&r, btw, 3);
    kite_cmd_free(&r);

    /* Unparsable: 23. */
    assert_int_equal(kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 0, 32, 4, 0, "a > AND (", "SQL92", &r),
                     0);
    assert_int_equal(r.code, 23);
    kite_cmd_free(&r);
    assert_int_equal(
        kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 0, 32, 4, 0, "region IN ('hz'", "SQL92", &r), 0);
    assert_int_equal(r.code, 23);
    kite_cmd_free(&r);

    /* A heartbeat-registered SQL92 subscription filters pulls without the flag. */
    const char *hb =
        "{\"clientID\":\"127.0.0.1@42#1\",\"consumerDataSet\":[{\"consumeFromWhere\":"
        "\"CONSUME_FROM_LAST_OFFSET\",\"consumeType\":\"CONSUME_PASSIVELY\",\"groupName\":\"GSQL\","
        "\"messageModel\":\"CLUSTERING\",\"subscriptionDataSet\":[{\"classFilterMode\":false,"
        "\"codeSet\":[],\"expressionType\":\"SQL92\",\"subString\":\"" SQL "\",\"subVersion\":1,"
        "\"tagsSet\":[],\"topic\":\"TopicSQL\"}],\"unitMode\":false}],\"producerDataSet\":[]}";
    int cfd = bk_conn(b);
    bk_expect(cfd, 34, "", hb, strlen(hb), 0);
    assert_int_equal(kb_pull(cfd, "GSQL", "TopicSQL", 0, 0, 32, 0, 0, 0, NULL, &r), 0);
    expect_bodies(&r, all3, 3);
    kite_cmd_free(&r);

    /* A held SQL92 pull ignores a non-matching arrival and answers a matching one. */
    int op =
        kx_pull_expr_send(fd, "GSQL", "TopicSQL", 0, 6, 32, 4 | 2, WAKE_SUSPEND_MS, SQL, "SQL92");
    int prod = bk_conn(b);
    bk_send_ok(prod, "TopicSQL", 0, "a\\u00019\\u0002region\\u0001bj\\u0002", "m6", NULL);
    assert_false(kx_readable(fd, 400));
    bk_send_ok(prod, "TopicSQL", 0, "a\\u00019\\u0002region\\u0001sh\\u0002", "m7", NULL);
    assert_int_equal(kb_wait_response(fd, op, &r, KT_DEADLINE_MS), 0); /* woken by m7 */
    static const char *const m7[] = { "m7" };
    expect_bodies(&r, m7, 1);
    kite_cmd_free(&r);

    /* CHECK_CLIENT_CONFIG. */
    assert_int_equal(check_config(fd, "SQL92", SQL), 0);
    assert_int_equal(check_config(fd, "SQL92", "a > AND ("), 23);
    assert_int_equal(check_config(fd, "TAG", "TagA || TagB"), 0);
}

/* Scenario: enablePropertyFilter=false (default): SQL92 refused with 1. */
static void test_sql92_disabled(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    send_sql_messages(fd);
    kite_cmd r;
    assert_int_equal(kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 0, 32, 4, 0, SQL, "SQL92", &r), 0);
    assert_int_equal(r.code, 1);
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);
    /* Even an unparsable one: the feature check comes first. */
    assert_int_equal(kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 0, 32, 4, 0, "a > AND (", "SQL92", &r),
                     0);
    assert_int_equal(r.code, 1);
    kite_cmd_free(&r);
    /* TAG pulls work as before. */
    assert_int_equal(kx_pull_expr(fd, "GSQL", "TopicSQL", 0, 0, 32, 4, 0, "*", "TAG", &r), 0);
    assert_int_equal(r.code, 0);
    kite_record rec[8];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 6);
    kite_cmd_free(&r);
    assert_int_equal(check_config(fd, "SQL92", SQL), 1);
    assert_int_equal(check_config(fd, "TAG", "*"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tag_filtered_hold, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_sql92_enabled, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_sql92_disabled, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
