/* it_broker_codes.c - request codes over the wire that no other broker test sent, and
 * the whole code table of docs/COMPATIBILITY.md checked against both daemons.
 * LITE_PULL_MESSAGE (361, what a 5.x lite pull consumer sends, sysFlag bit 0x10): the
 * same answer as PULL_MESSAGE, tag filtering, 19 at the max offset, long polling woken
 * only by a matching arrival, commit-offset piggy-back seen by QUERY_CONSUMER_OFFSET,
 * subscription from the heartbeat (24 without one). GET_ALL_DELAY_OFFSET (45): the
 * schedule service's progress per level, current right after each delivery, kept over a
 * clean restart. Every request code of Java's RequestCode (4.9.x and 5.x) is sent to the
 * name server and to the broker: a code the daemon serves is answered otherwise than
 * REQUEST_CODE_NOT_SUPPORTED, every other one with 3 and the remark
 * " request type <code> not supported". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "broker/acl.h"
#include "kt_bkx.h"

/* PullSysFlag bits. */
#define PF_COMMIT       0x1
#define PF_SUSPEND      0x2
#define PF_SUBSCRIPTION 0x4
#define PF_LITE         0x10

#define LITE_PULL 361

static int lite_send(int fd, const char *group, const char *topic, int qid, int64_t offset,
                     int sysflag, int64_t commit_offset, int64_t suspend_ms, const char *sub)
{
    char ext[2048];
    kb_pull_ext(ext, sizeof ext, group, topic, qid, offset, 32, sysflag, commit_offset, suspend_ms,
                sub);
    return kb_send(fd, LITE_PULL, 0, ext, NULL, 0);
}

static void lite_pull(int fd, const char *group, const char *topic, int qid, int64_t offset,
                      int sysflag, int64_t commit_offset, const char *sub, kite_cmd *r)
{
    int op = lite_send(fd, group, topic, qid, offset, sysflag, commit_offset, 0, sub);
    assert_true(op > 0);
    assert_int_equal(kb_wait_response(fd, op, r, 5000), 0);
}

/* Asserts an answer holds exactly the records with these queue offsets and bodies. */
static void expect_records(const kite_cmd *r, int n, const int64_t *offsets,
                           const char *const *bodies)
{
    if (r->code != 0)
        fprintf(stderr, "pull answered %d (%s)\n", r->code, r->remark ? r->remark : "");
    assert_int_equal(r->code, 0);
    kite_record rec[8];
    assert_int_equal(kb_records(r->body, r->body_len, rec, 8), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(rec[i].queue_offset, offsets[i]);
        assert_int_equal(rec[i].body_len, strlen(bodies[i]));
        assert_memory_equal(rec[i].body, bodies[i], rec[i].body_len);
    }
}

static void test_lite_pull(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b), prod = bk_conn(b), hold = bk_conn(b);
    bk_send_ok(prod, "TopicLite", 0, "TAGS\\u0001TagA\\u0002", "a0", NULL);
    bk_send_ok(prod, "TopicLite", 0, "TAGS\\u0001TagB\\u0002", "b1", NULL);
    bk_send_ok(prod, "TopicLite", 0, "TAGS\\u0001TagA\\u0002", "a2", NULL);
    bk_wait_max(prod, "TopicLite", 0, 3);

    /* Tag-filtered pull with the subscription in the request, as a lite consumer does. */
    kite_cmd r, r11;
    lite_pull(fd, "GLite", "TopicLite", 0, 0, PF_SUBSCRIPTION | PF_LITE, 0, "TagA", &r);
    static const int64_t offs_a[] = { 0, 2 };
    static const char *const bodies_a[] = { "a0", "a2" };
    expect_records(&r, 2, offs_a, bodies_a);
    bk_check_pull_fields(&r);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 3);
    assert_int_equal(kb_ext_i64(&r, "minOffset"), 0);
    assert_int_equal(kb_ext_i64(&r, "maxOffset"), 3);
    /* PULL_MESSAGE with the same fields answers the same records and offsets. */
    assert_int_equal(
        kb_pull(fd, "GLite", "TopicLite", 0, 0, 32, PF_SUBSCRIPTION, 0, 0, "TagA", &r11), 0);
    assert_int_equal(r11.code, 0);
    assert_int_equal(r11.body_len, r.body_len);
    assert_memory_equal(r11.body, r.body, r.body_len);
    assert_int_equal(kb_ext_i64(&r11, "nextBeginOffset"), 3);
    kite_cmd_free(&r11);
    kite_cmd_free(&r);

    /* At the max offset without SUSPEND: 19 at once, nextBeginOffset unchanged. */
    lite_pull(fd, "GLite", "TopicLite", 0, 3, PF_SUBSCRIPTION | PF_LITE, 0, "TagA", &r);
    assert_int_equal(r.code, 19);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 3);
    kite_cmd_free(&r);

    /* Long polling: held; a TagB arrival does not answer it, a TagA one does. */
    int op = lite_send(hold, "GLite", "TopicLite", 0, 3, PF_SUBSCRIPTION | PF_SUSPEND | PF_LITE, 0,
                       20000, "TagA");
    assert_true(op > 0);
    assert_false(kx_readable(hold, 300));
    bk_send_ok(prod, "TopicLite", 0, "TAGS\\u0001TagB\\u0002", "b3", NULL);
    bk_wait_max(prod, "TopicLite", 0, 4);
    assert_false(kx_readable(hold, 300));
    bk_send_ok(prod, "TopicLite", 0, "TAGS\\u0001TagA\\u0002", "a4", NULL);
    assert_int_equal(kb_wait_response(hold, op, &r, 15000), 0);
    static const int64_t offs_4[] = { 4 };
    static const char *const bodies_4[] = { "a4" };
    expect_records(&r, 1, offs_4, bodies_4);
    assert_int_equal(kb_ext_i64(&r, "nextBeginOffset"), 5);
    kite_cmd_free(&r);

    /* The commit flag stores the offset: QUERY_CONSUMER_OFFSET sees it (0 before: no
     * stored offset in a queue that starts at 0). */
    assert_int_equal(kb_lookup(fd, 14, "TopicLite", 0, ",\"consumerGroup\":\"GLite\"", "offset"),
                     0);
    lite_pull(fd, "GLite", "TopicLite", 0, 2, PF_COMMIT | PF_SUBSCRIPTION | PF_LITE, 3, "TagA", &r);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    assert_int_equal(kb_lookup(fd, 14, "TopicLite", 0, ",\"consumerGroup\":\"GLite\"", "offset"),
                     3);
    /* GET_ALL_CONSUMER_OFFSET (43) lists it under "topic@group", keyed by queue id. */
    assert_int_equal(kb_call(fd, 43, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    kite_json_doc *doc = kx_parse(&r);
    assert_non_null(doc);
    const kite_json *t = kite_json_get(kite_json_root(doc), "offsetTable");
    assert_non_null(t);
    const kite_json *g = kite_json_get(t, "TopicLite@GLite");
    assert_non_null(g);
    assert_int_equal(g->type, KJ_OBJECT);
    assert_int_equal(g->count, 1);
    int64_t k, v;
    assert_int_equal(kite_json_int64(g->members[0].key, &k), 0);
    assert_int_equal(kite_json_int64(g->members[0].value, &v), 0);
    assert_int_equal(k, 0);
    assert_int_equal(v, 3);
    kite_json_doc_free(doc);
    kite_cmd_free(&r);

    /* Without the subscription in the request: the group's heartbeat must have one. */
    lite_pull(fd, "GLiteHb", "TopicLite", 0, 0, PF_LITE, 0, NULL, &r);
    assert_int_equal(r.code, 24);
    kite_cmd_free(&r);
    char hb[2048];
    kb_heartbeat_java(hb, sizeof hb, "10.0.0.9@lite", "GLiteHb", "TopicLite", "TagB");
    bk_expect(fd, 34, "", hb, strlen(hb), 0);
    lite_pull(fd, "GLiteHb", "TopicLite", 0, 0, PF_LITE, 0, NULL, &r);
    static const int64_t offs_b[] = { 1, 3 };
    static const char *const bodies_b[] = { "b1", "b3" };
    expect_records(&r, 2, offs_b, bodies_b);
    kite_cmd_free(&r);
}

/* GET_ALL_DELAY_OFFSET: the offset of delay level lv (-1 when the level is absent). */
static int64_t delay_offset(int fd, int lv)
{
    kite_cmd r;
    assert_int_equal(kb_call(fd, 45, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    kite_json_doc *doc = kx_parse(&r);
    assert_non_null(doc);
    const kite_json *t = kite_json_get(kite_json_root(doc), "offsetTable");
    assert_non_null(t);
    assert_int_equal(t->type, KJ_OBJECT);
    int64_t got = -1;
    for (size_t i = 0; i < t->count; i++) {
        int64_t k, v;
        assert_int_equal(kite_json_int64(t->members[i].key, &k), 0);
        assert_int_equal(kite_json_int64(t->members[i].value, &v), 0);
        if (k == lv) got = v;
    }
    kite_json_doc_free(doc);
    kite_cmd_free(&r);
    return got;
}

/* Pulls queue qid of topic from offset until one record arrives (long polling). */
static void await_record(int fd, const char *topic, int qid, int64_t offset, const char *body)
{
    long long t0 = kt_now_ms();
    for (;;) {
        kite_cmd r;
        assert_int_equal(kb_pull(fd, "GDelayOff", topic, qid, offset, 1,
                                 PF_SUSPEND | PF_SUBSCRIPTION, 0, 3000, "*", &r),
                         0);
        if (r.code == 0) {
            const char *bodies[1] = { body };
            int64_t offs[1] = { offset };
            expect_records(&r, 1, offs, bodies);
            kite_cmd_free(&r);
            return;
        }
        assert_int_equal(r.code, 19);
        kite_cmd_free(&r);
        assert_true(kt_now_ms() - t0 < KT_DEADLINE_MS);
    }
}

static void test_all_delay_offset(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, "messageDelayLevel=1s 2s 3s\n");
    int fd = bk_conn(b), cons = bk_conn(b);
    /* Nothing delayed yet: no level has progressed. */
    for (int lv = 1; lv <= 3; lv++) assert_true(delay_offset(fd, lv) <= 0);

    /* Two level-1 messages sent 150 ms apart are delivered about 150 ms apart; the
     * answer after each delivery counts it. */
    bk_send_ok(fd, "TopicDO", 0, "DELAY\\u00011\\u0002", "d1-first", NULL);
    usleep(150 * 1000);
    bk_send_ok(fd, "TopicDO", 0, "DELAY\\u00011\\u0002", "d1-second", NULL);
    bk_send_ok(fd, "TopicDO", 1, "DELAY\\u00012\\u0002", "d2", NULL);
    await_record(cons, "TopicDO", 0, 0, "d1-first");
    assert_true(delay_offset(fd, 1) >= 1);
    await_record(cons, "TopicDO", 0, 1, "d1-second");
    assert_int_equal(delay_offset(fd, 1), 2);
    await_record(cons, "TopicDO", 1, 0, "d2");
    assert_int_equal(delay_offset(fd, 2), 1);
    assert_int_equal(delay_offset(fd, 1), 2);
    assert_true(delay_offset(fd, 3) <= 0);

    /* Kept over a clean restart. */
    bk_close(fd);
    bk_close(cons);
    bk_stop_clean(b);
    bk_launch(b, NULL, "messageDelayLevel=1s 2s 3s\n");
    fd = bk_conn(b);
    assert_int_equal(delay_offset(fd, 1), 2);
    assert_int_equal(delay_offset(fd, 2), 1);
}

/* Every request code of Java's RequestCode class in 4.9.0-4.9.8 and 5.0.0-5.3.3,
 * 5.0.0-PREVIEW's logical-queue codes included (the list of docs/COMPATIBILITY.md). */
static const int java_codes[] = {
    10,     11,     12,     13,   14,   15,   17,   18,   21,     22,     23,     25,     26,
    27,     28,     29,     30,   31,   32,   33,   34,   35,     36,     37,     38,     39,
    40,     41,     42,     43,   45,   46,   47,   50,   51,     52,     53,     54,     60,
    61,     100,    101,    102,  103,  104,  105,  106,  200,    201,    202,    203,    204,
    205,    206,    207,    208,  209,  210,  211,  212,  213,    214,    215,    216,    217,
    219,    220,    221,    222,  223,  224,  225,  300,  301,    302,    303,    304,    305,
    306,    307,    308,    309,  310,  311,  312,  313,  314,    315,    316,    317,    318,
    319,    320,    321,    322,  323,  324,  325,  326,  327,    328,    329,    343,    345,
    351,    352,    353,    354,  355,  361,  370,  400,  401,    402,    411,    413,    414,
    415,    416,    417,    418,  419,  422,  513,  901,  902,    903,    904,    905,    906,
    907,    908,    1001,   1002, 1003, 1004, 1005, 1006, 1007,   1008,   1009,   1010,   1011,
    1012,   1013,   1014,   1015, 1016, 1017, 1018, 2001, 2002,   2003,   2004,   3001,   3002,
    3003,   3004,   3005,   3006, 3007, 3008, 3009, 3010, 200050, 200051, 200052, 200053, 200054,
    200055, 200056, 200151,
};

/* The codes each daemon serves ("yes" or "partial" in docs/COMPATIBILITY.md). */
static const int ns_served[] = { 100, 101, 102, 103, 104, 105, 106, 205, 206, 216, 217, 219,
                                 224, 304, 311, 312, 313, 318, 319, 322, 327, 901, 904 };
static const int bk_served[] = { 10,  11,  12,  14,  15,  17,  21,  25,  26,  27,  28,  29,
                                 30,  31,  32,  33,  34,  35,  36,  37,  38,  41,  42,  43,
                                 45,  46,  200, 201, 202, 203, 204, 207, 208, 215, 222, 300,
                                 305, 307, 309, 310, 315, 317, 320, 329, 351, 361 };

static int served(const int *set, size_t n, int code)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == code) return 1;
    return 0;
}

/* Sends every code with no fields and no body; checks the answer against the set. */
static void check_daemon(const kt_daemon *d, const char *what, const int *set, size_t nset)
{
    int fd = bk_conn(d);
    int n_served = 0, n_refused = 0;
    for (size_t i = 0; i < sizeof java_codes / sizeof java_codes[0]; i++) {
        int code = java_codes[i];
        kite_cmd r;
        if (kb_call(fd, code, "", NULL, 0, &r) != 0) {
            fprintf(stderr, "%s: no answer to code %d\n", what, code);
            fail();
        }
        if (served(set, nset, code)) {
            if (r.code == 3)
                fprintf(stderr, "%s: code %d should be served, answered 3\n", what, code);
            assert_int_not_equal(r.code, 3);
            if (r.remark && strstr(r.remark, "AclException"))
                fprintf(stderr, "%s: code %d refused by ACL: %s\n", what, code, r.remark);
            assert_true(!r.remark || !strstr(r.remark, "AclException"));
            n_served++;
        } else {
            char want[64];
            snprintf(want, sizeof want, " request type %d not supported", code);
            if (r.code != 3)
                fprintf(stderr, "%s: code %d answered %d (%s), want 3\n", what, code, r.code,
                        r.remark ? r.remark : "");
            assert_int_equal(r.code, 3);
            assert_non_null(r.remark);
            assert_string_equal(r.remark, want);
            assert_int_equal(r.body_len, 0);
            n_refused++;
        }
        kite_cmd_free(&r);
    }
    fprintf(stderr, "%s: %d codes served, %d answered 3\n", what, n_served, n_refused);
    assert_int_equal(n_served, (int)nset);
    /* The connection is still fine. */
    kite_cmd r;
    assert_int_equal(kb_call(fd, 9999, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 3);
    assert_string_equal(r.remark, " request type 9999 not supported");
    kite_cmd_free(&r);
    bk_close(fd);
}

static void test_code_table(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    kt_daemon *b = bk_start_broker(ns, NULL);
    check_daemon(ns, "kite-namesrv", ns_served, sizeof ns_served / sizeof ns_served[0]);
    check_daemon(b, "kite-broker", bk_served, sizeof bk_served / sizeof bk_served[0]);
}

/* With aclEnable=true (every sender white-listed, so that unsigned requests pass) the broker
 * serves the same codes plus the account codes 50-53; and every code it serves has a rule
 * in the ACL table (a served code without one would be refused to every account). */
static void test_code_table_acl(void **st)
{
    (void)st;
    int with_acl[sizeof bk_served / sizeof bk_served[0] + 4];
    size_t n = 0;
    for (size_t i = 0; i < sizeof bk_served / sizeof bk_served[0]; i++) {
        if (!bk_acl_has_rule(bk_served[i]))
            fprintf(stderr, "served code %d has no ACL rule\n", bk_served[i]);
        assert_true(bk_acl_has_rule(bk_served[i]));
        with_acl[n++] = bk_served[i];
    }
    for (int c = 50; c <= 53; c++) {
        assert_true(bk_acl_has_rule(c));
        with_acl[n++] = c;
    }
    char dir[512], path[700], extra[800];
    kt_mkdtemp("acl-codes", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/acl.yml", dir);
    kt_write_file(path, "globalWhiteRemoteAddresses: ['*']\naccounts: []\n");
    snprintf(extra, sizeof extra, "aclEnable=true\naclFile=%s\n", path);
    kt_daemon *b = bk_start_broker(NULL, extra);
    check_daemon(b, "kite-broker (ACL on)", with_acl, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lite_pull, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_all_delay_offset, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_code_table, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_code_table_acl, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
