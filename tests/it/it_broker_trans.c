/* it_broker_trans.c - kite-broker transactions (docs/wire.md §5.5, §7,
 * §10) against a real kite-broker on loopback, driven by raw JSON
 * requests:
 *   - COMMIT makes the half pullable in its real topic/queue with sysflag COMMIT,
 *     PREPAREDTRANSACTIONOFFSET = the half's offset, REAL_TOPIC/REAL_QID/TRAN_MSG gone,
 *     body and user properties kept; a repeated COMMIT (answered or oneway) stores
 *     nothing more; a DELAY property is honoured at commit;
 *   - ROLLBACK is never visible; UNKNOWN is ignored; wrong group / offsets / garbage
 *     headers / offsets past the log get SYSTEM_ERROR answers and the broker serves on;
 *   - check-back: a raw producer connection that heartbeats as group G receives
 *     CHECK_TRANSACTION_STATE for a half it never ends (header and body checked), its
 *     COMMIT with fromTransactionCheck=true makes the message pullable and stops the
 *     checks; unanswered, the half is checked transactionCheckMax times and then lands
 *     in TRANS_CHECK_MAX_TIME_TOPIC;
 *   - a half sent before a clean restart is still checked (and committed) after it,
 *     while a half committed before the restart is neither checked nor stored twice.
 * Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "kt_bkx.h"
#include <inttypes.h>

#define HALF "RMQ_SYS_TRANS_HALF_TOPIC"
#define OPS  "RMQ_SYS_TRANS_OP_HALF_TOPIC"
#define MAXT "TRANS_CHECK_MAX_TIME_TOPIC"
#define FAST "transactionCheckInterval=300\ntransactionTimeOut=1000\n"

/* A half message with flag 7, tag TagT and color=blue, then extra_props (JSON string
 * text, may be ""); returns the half-topic queue offset and the commit-log offset. */
static int64_t send_half(int fd, const char *group, const char *topic, int qid, const char *uniq,
                         const char *extra_props, const char *body, int64_t *phys)
{
    char tail[1024];
    snprintf(tail, sizeof tail, "TAGS\\u0001TagT\\u0002color\\u0001blue\\u0002%s", extra_props);
    return bk_send_half(fd, group, topic, qid, 7, uniq, tail, body, phys);
}

/* END_TRANSACTION header text. */
static void end_ext(char *ext, size_t cap, const char *group, int64_t qoff, int64_t phys, int type,
                    int from_check, const char *msgid)
{
    snprintf(
        ext, cap,
        "\"producerGroup\":\"%s\",\"tranStateTableOffset\":\"%" PRId64
        "\",\"commitLogOffset\":\"%" PRId64
        "\",\"commitOrRollback\":\"%d\",\"fromTransactionCheck\":\"%s\",\"msgId\":\"%s\",\"transactionId\":\"%s\"",
        group, qoff, phys, type, from_check ? "true" : "false", msgid, msgid);
}

/* Answered END_TRANSACTION; returns the code (remark printed when not 0). */
static int end_call(int fd, const char *group, int64_t qoff, int64_t phys, int type,
                    const char *msgid, char *remark, size_t rcap)
{
    char ext[1024];
    end_ext(ext, sizeof ext, group, qoff, phys, type, 0, msgid);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 37, ext, NULL, 0, &r), 0);
    int code = r.code;
    if (remark) snprintf(remark, rcap, "%s", r.remark ? r.remark : "");
    if (code) fprintf(stderr, "END_TRANSACTION answered %d: %s\n", code, r.remark ? r.remark : "");
    kite_cmd_free(&r);
    return code;
}

/* Oneway END_TRANSACTION, as real producers send it. */
static void end_oneway(int fd, const char *group, int64_t qoff, int64_t phys, int type,
                       int from_check, const char *msgid)
{
    char ext[1024];
    end_ext(ext, sizeof ext, group, qoff, phys, type, from_check, msgid);
    assert_true(kb_send(fd, 37, 2, ext, NULL, 0) > 0);
}

static int64_t max_off(int fd, const char *topic, int qid)
{
    return kb_lookup(fd, 30, topic, qid, NULL, "offset");
}

/* Waits up to ms until the max offset of topic/qid reaches want; returns the last value. */
static int64_t wait_max(int fd, const char *topic, int qid, int64_t want, int ms)
{
    long long t0 = kt_now_ms();
    int64_t got;
    while ((got = max_off(fd, topic, qid)) < want && kt_now_ms() - t0 < ms) usleep(20000);
    return got;
}

/* Pulls exactly one record of topic/qid at offset into *rec (the answer kept in *keep). */
static void pull_one(int fd, const char *topic, int qid, int64_t off, kite_cmd *keep,
                     kite_record *rec)
{
    assert_int_equal(kb_pull(fd, "GTxRead", topic, qid, off, 32, 4, 0, 0, "*", keep), 0);
    if (keep->code != 0)
        fprintf(stderr, "pull %s/%d@%lld: %d %s\n", topic, qid, (long long)off, keep->code,
                keep->remark ? keep->remark : "");
    assert_int_equal(keep->code, 0);
    kite_record recs[4];
    assert_int_equal(kb_records(keep->body, keep->body_len, recs, 4), 1);
    *rec = recs[0];
}

static void expect_prop(const kite_record *r, const char *name, const char *want)
{
    char v[256];
    int has = kx_prop(r, name, v, sizeof v);
    if (!want) {
        if (has) fprintf(stderr, "property %s should be absent, is %s\n", name, v);
        assert_false(has);
        return;
    }
    if (!has) fprintf(stderr, "property %s missing\n", name);
    assert_true(has);
    assert_string_equal(v, want);
}

/* The committed record as a consumer sees it. */
static void check_committed(const kite_record *r, const char *topic, int qid, const char *body,
                            int64_t half_phys, const char *uniq, const char *group)
{
    assert_int_equal(r->topic_len, strlen(topic));
    assert_memory_equal(r->topic, topic, r->topic_len);
    assert_int_equal(r->queue_id, qid);
    assert_int_equal(r->body_len, strlen(body));
    assert_memory_equal(r->body, body, r->body_len);
    assert_int_equal(r->sysflag & KITE_SYSFLAG_TX_MASK, KITE_SYSFLAG_TX_COMMIT);
    assert_int_equal(r->prepared_tx_offset, half_phys);
    assert_int_equal(r->flag, 7);
    expect_prop(r, "REAL_TOPIC", NULL);
    expect_prop(r, "REAL_QID", NULL);
    expect_prop(r, "TRAN_MSG", NULL);
    expect_prop(r, "PGROUP", group);
    expect_prop(r, "UNIQ_KEY", uniq);
    expect_prop(r, "TAGS", "TagT");
    expect_prop(r, "color", "blue");
}

/* Scenario: commit, duplicate commits, commit with DELAY. */
static void test_commit(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, "messageDelayLevel=1s 2s 3s\n");
    int fd = bk_conn(b);
    const char *uniq = "7F00000100002A9F0000000000000001";
    int64_t phys;
    int64_t q = send_half(fd, "PGT", "TopicTx", 1, uniq, "", "tx-body-1", &phys);
    assert_int_equal(wait_max(fd, HALF, 0, q + 1, KT_DEADLINE_MS), q + 1);
    assert_int_equal(max_off(fd, "TopicTx", 1), 0);

    assert_int_equal(end_call(fd, "PGT", q, phys, 8, uniq, NULL, 0), 0);
    assert_int_equal(wait_max(fd, "TopicTx", 1, 1, KT_DEADLINE_MS), 1);
    kite_cmd keep;
    kite_record rec;
    pull_one(fd, "TopicTx", 1, 0, &keep, &rec);
    check_committed(&rec, "TopicTx", 1, "tx-body-1", phys, uniq, "PGT");
    kite_cmd_free(&keep);
    assert_int_equal(wait_max(fd, OPS, 0, 1, KT_DEADLINE_MS), 1);

    /* Repeated commits, answered and oneway: still one copy, no further op record. */
    assert_int_equal(end_call(fd, "PGT", q, phys, 8, uniq, NULL, 0), 0);
    end_oneway(fd, "PGT", q, phys, 8, 0, uniq);
    end_oneway(fd, "PGT", q, phys, 12, 1, uniq);
    assert_int_equal(end_call(fd, "PGT", q, phys, 8, uniq, NULL, 0), 0); /* after the oneways */
    usleep(200 * 1000);
    assert_int_equal(max_off(fd, "TopicTx", 1), 1);
    assert_int_equal(max_off(fd, OPS, 0), 1);

    /* DELAY=1 at commit: through the schedule topic, then in the real queue. */
    const char *uniq2 = "7F00000100002A9F0000000000000002";
    long long t0 = kt_now_ms();
    int64_t q2 =
        send_half(fd, "PGT", "TopicTx", 2, uniq2, "DELAY\\u00011\\u0002", "tx-delayed", &phys);
    assert_int_equal(end_call(fd, "PGT", q2, phys, 8, uniq2, NULL, 0), 0);
    assert_int_equal(wait_max(fd, "SCHEDULE_TOPIC_XXXX", 0, 1, KT_DEADLINE_MS), 1);
    int64_t early = max_off(fd, "TopicTx", 2);
    if (kt_now_ms() - t0 < 1000 - 10) assert_int_equal(early, 0); /* surely before it was due */
    assert_int_equal(wait_max(fd, "TopicTx", 2, 1, KT_DEADLINE_MS), 1);
    long long dt = kt_now_ms() - t0;
    fprintf(stderr, "committed DELAY=1 message visible after %lld ms\n", dt);
    assert_true(dt >= 900);
    pull_one(fd, "TopicTx", 2, 0, &keep, &rec);
    assert_int_equal(rec.sysflag & KITE_SYSFLAG_TX_MASK, KITE_SYSFLAG_TX_COMMIT);
    assert_int_equal(rec.body_len, 10);
    assert_memory_equal(rec.body, "tx-delayed", 10);
    expect_prop(&rec, "TRAN_MSG", NULL);
    expect_prop(&rec, "DELAY", NULL);
    kite_cmd_free(&keep);
}

/* Scenario: rollback, unknown, and every kind of bad END_TRANSACTION. */
static void test_rollback_and_bad_input(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    const char *uniq = "7F00000100002A9F0000000000000003";
    int64_t phys, phys2;
    int64_t q = send_half(fd, "PGR", "TopicRb", 0, uniq, "", "rolled-back", &phys);
    int64_t q2 = send_half(fd, "PGR", "TopicRb", 0, "7F00000100002A9F0000000000000004", "",
                           "second", &phys2);
    assert_int_equal(wait_max(fd, HALF, 0, q2 + 1, KT_DEADLINE_MS), q2 + 1);
    char remark[512];

    /* UNKNOWN: ignored. */
    assert_int_equal(end_call(fd, "PGR", q, phys, 0, uniq, NULL, 0), 0);
    /* Wrong group, offsets, values. */
    assert_int_equal(end_call(fd, "OtherGroup", q, phys, 8, uniq, remark, sizeof remark), 1);
    assert_non_null(strstr(remark, "producer group"));
    assert_int_equal(end_call(fd, "PGR", q2, phys, 8, uniq, remark, sizeof remark),
                     1); /* offsets of two halves */
    assert_non_null(strstr(remark, "offset"));
    assert_int_equal(end_call(fd, "PGR", q, phys + 1, 8, uniq, remark, sizeof remark), 1);
    assert_int_equal(end_call(fd, "PGR", q + 1000, phys, 8, uniq, remark, sizeof remark), 1);
    assert_non_null(strstr(remark, "offset wrong"));
    assert_int_equal(end_call(fd, "PGR", q, (int64_t)1 << 40, 8, uniq, remark, sizeof remark), 1);
    assert_non_null(strstr(remark, "Find prepared transaction message failed"));
    assert_int_equal(end_call(fd, "PGR", -1, -5, 8, uniq, NULL, 0), 1);
    assert_int_equal(end_call(fd, "PGR", q, phys, 5, uniq, remark, sizeof remark), 1);
    assert_non_null(strstr(remark, "0, 8 or 12"));
    /* A normal message's offsets are not a half. */
    int64_t nphys;
    int64_t nq = bk_send_ok(fd, "TopicRb", 0, NULL, "normal", &nphys);
    assert_int_equal(end_call(fd, "PGR", nq, nphys, 8, uniq, NULL, 0), 1);
    /* Missing and malformed fields. */
    kite_cmd r;
    assert_int_equal(
        kb_call(fd, 37, "\"producerGroup\":\"PGR\",\"commitOrRollback\":\"8\"", NULL, 0, &r), 0);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.remark, "is null"));
    kite_cmd_free(&r);
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"producerGroup\":\"PGR\",\"tranStateTableOffset\":\"x1\",\"commitLogOffset\":\"%" PRId64
        "\",\"commitOrRollback\":\"8\",\"msgId\":\"m\"",
        phys);
    assert_int_equal(kb_call_code(fd, 37, ext, NULL, 0), 1);
    snprintf(ext, sizeof ext,
             "\"producerGroup\":\"PGR\",\"tranStateTableOffset\":\"%" PRId64
             "\",\"commitLogOffset\":\"%" PRId64
             "\",\"commitOrRollback\":\"99999999999999999999\",\"msgId\":\"m\"",
             q, phys);
    assert_int_equal(kb_call_code(fd, 37, ext, NULL, 0), 1);
    /* Oneway garbage is never answered and breaks nothing. */
    assert_true(kb_send(fd, 37, 2, "\"producerGroup\":\"PGR\",\"tranStateTableOffset\":\"-\"", NULL,
                        0) > 0);
    assert_true(kb_send(fd, 37, 2, "", "junk", 4) > 0);

    /* Rollback: nothing visible, one op; a later commit of it stores nothing. */
    assert_int_equal(end_call(fd, "PGR", q, phys, 12, uniq, NULL, 0), 0);
    assert_int_equal(wait_max(fd, OPS, 0, 1, KT_DEADLINE_MS), 1);
    assert_int_equal(end_call(fd, "PGR", q, phys, 8, uniq, NULL, 0), 0);
    usleep(200 * 1000);
    assert_int_equal(max_off(fd, "TopicRb", 0), 1); /* only "normal" */
    assert_int_equal(max_off(fd, OPS, 0), 1);
    /* The second half still commits normally. */
    end_oneway(fd, "PGR", q2, phys2, 8, 0, "7F00000100002A9F0000000000000004");
    assert_int_equal(wait_max(fd, "TopicRb", 0, 2, KT_DEADLINE_MS), 2);
    kite_cmd keep;
    kite_record rec;
    pull_one(fd, "TopicRb", 0, 1, &keep, &rec);
    assert_memory_equal(rec.body, "second", 6);
    kite_cmd_free(&keep);
}

static void heartbeat_producer(int fd, const char *client_id, const char *group)
{
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"clientID\":\"%s\",\"consumerDataSet\":[],\"producerDataSet\":[{\"groupName\":\"%s\"},"
        "{\"groupName\":\"CLIENT_INNER_PRODUCER\"}]}",
        client_id, group);
    assert_int_equal(kb_call_code(fd, 34, NULL, body, strlen(body)), 0);
}

typedef struct check_req {
    int64_t qoff, phys, times;
    char msgid[64];
} check_req;

/* Waits for CHECK_TRANSACTION_STATE on fd and checks it against the half. */
static int await_check(int fd, int timeout_ms, const kt_daemon *b, const char *topic, int qid,
                       const char *uniq, const char *body, check_req *out)
{
    kite_cmd c;
    if (kx_wait_request(fd, 39, &c, timeout_ms) != 0) return -1;
    assert_true(kite_cmd_is_oneway(&c));
    out->qoff = kb_ext_i64(&c, "tranStateTableOffset");
    out->phys = kb_ext_i64(&c, "commitLogOffset");
    assert_true(out->qoff >= 0 && out->phys >= 0);
    assert_string_equal(kite_cmd_ext(&c, "msgId"), uniq);
    assert_string_equal(kite_cmd_ext(&c, "transactionId"), uniq);
    snprintf(out->msgid, sizeof out->msgid, "%s", uniq);
    char want[33];
    bk_expect_msgid(b, out->phys, want);
    assert_string_equal(kite_cmd_ext(&c, "offsetMsgId"), want);
    assert_string_equal(kite_cmd_ext(&c, "topic"), HALF);
    assert_non_null(kite_cmd_ext(&c, "bname"));
    kite_record rec[2];
    assert_int_equal(kb_records(c.body, c.body_len, rec, 2), 1);
    assert_int_equal(rec[0].topic_len, strlen(topic));
    assert_memory_equal(rec[0].topic, topic, rec[0].topic_len);
    assert_int_equal(rec[0].queue_id, qid);
    assert_int_equal(rec[0].queue_offset, out->qoff);
    assert_int_equal(rec[0].phys_offset, out->phys);
    assert_int_equal(rec[0].body_len, strlen(body));
    assert_memory_equal(rec[0].body, body, rec[0].body_len);
    expect_prop(&rec[0], "UNIQ_KEY", uniq);
    expect_prop(&rec[0], "TRAN_MSG", "true");
    char v[32];
    assert_true(kx_prop(&rec[0], "TRANSACTION_CHECK_TIMES", v, sizeof v));
    out->times = atoll(v);
    kite_cmd_free(&c);
    return 0;
}

/* Scenario: the broker asks the producer; its COMMIT answer makes the message visible. */
static void test_check_back_commit(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, FAST "transactionCheckMax=5\n");
    int fd = bk_conn(b), reader = bk_conn(b);
    heartbeat_producer(fd, "127.0.0.1@txcheck", "PGC");
    const char *uniq = "7F00000100002A9F0000000000000010";
    int64_t phys;
    long long t0 = kt_now_ms();
    int64_t q = send_half(fd, "PGC", "TopicCk", 3, uniq, "", "check-me", &phys);
    check_req c;
    assert_int_equal(await_check(fd, KT_DEADLINE_MS, b, "TopicCk", 3, uniq, "check-me", &c), 0);
    long long dt = kt_now_ms() - t0;
    fprintf(stderr, "first check after %lld ms (half %lld, copy %lld)\n", dt, (long long)q,
            (long long)c.qoff);
    assert_true(dt >= 900);  /* not before transactionTimeOut */
    assert_true(c.qoff > q); /* a copy of the half was checked */
    assert_int_equal(c.times, 1);
    assert_int_equal(max_off(reader, "TopicCk", 3), 0);

    end_oneway(fd, "PGC", c.qoff, c.phys, 8, 1, c.msgid);
    assert_int_equal(wait_max(reader, "TopicCk", 3, 1, KT_DEADLINE_MS), 1);
    kite_cmd keep;
    kite_record rec;
    pull_one(reader, "TopicCk", 3, 0, &keep, &rec);
    assert_memory_equal(rec.body, "check-me", 8);
    assert_int_equal(rec.sysflag & KITE_SYSFLAG_TX_MASK, KITE_SYSFLAG_TX_COMMIT);
    assert_int_equal(rec.prepared_tx_offset, c.phys);
    kite_cmd_free(&keep);
    /* Resolved: no more checks. */
    kite_cmd more;
    assert_int_equal(kx_wait_request(fd, 39, &more, 1500), -1);
    assert_int_equal(max_off(reader, "TopicCk", 3), 1);
}

/* Scenario: nobody answers; after transactionCheckMax checks the half is discarded. */
static void test_check_max_discard(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, FAST "transactionCheckMax=2\n");
    int fd = bk_conn(b), reader = bk_conn(b);
    heartbeat_producer(fd, "127.0.0.1@txmax", "PGM");
    const char *uniq = "7F00000100002A9F0000000000000020";
    int64_t phys;
    send_half(fd, "PGM", "TopicMax", 0, uniq, "", "never-answered", &phys);
    check_req c;
    assert_int_equal(await_check(fd, KT_DEADLINE_MS, b, "TopicMax", 0, uniq, "never-answered", &c),
                     0);
    assert_int_equal(c.times, 1);
    assert_int_equal(await_check(fd, KT_DEADLINE_MS, b, "TopicMax", 0, uniq, "never-answered", &c),
                     0);
    assert_int_equal(c.times, 2);
    assert_int_equal(wait_max(reader, MAXT, 0, 1, KT_DEADLINE_MS), 1);
    kite_cmd keep;
    kite_record rec;
    pull_one(reader, MAXT, 0, 0, &keep, &rec);
    assert_memory_equal(rec.body, "never-answered", 14);
    expect_prop(&rec, "TRANSACTION_CHECK_TIMES", "2");
    expect_prop(&rec, "REAL_TOPIC", "TopicMax");
    kite_cmd_free(&keep);
    kite_cmd more;
    assert_int_equal(kx_wait_request(fd, 39, &more, 1000), -1); /* no third check */
    assert_int_equal(max_off(reader, "TopicMax", 0), 0);
    assert_int_equal(wait_max(reader, MAXT, 0, 2, 700), 1); /* discarded once */
}

/* Scenario: state survives a clean restart. */
static void test_restart(void **st)
{
    (void)st;
    const char *conf = "transactionCheckInterval=300\ntransactionTimeOut=2500\n";
    kt_daemon *b = bk_start_broker(NULL, conf);
    int fd = bk_conn(b);
    const char *ua = "7F00000100002A9F0000000000000030", *ub = "7F00000100002A9F0000000000000031";
    int64_t pa, pb;
    int64_t qa = send_half(fd, "PGS", "TopicRs", 0, ua, "", "committed-before", &pa);
    assert_int_equal(end_call(fd, "PGS", qa, pa, 8, ua, NULL, 0), 0);
    send_half(fd, "PGS", "TopicRs", 0, ub, "", "pending-across", &pb);
    assert_int_equal(wait_max(fd, "TopicRs", 0, 1, KT_DEADLINE_MS), 1);
    bk_close(fd);
    bk_stop_clean(b);

    bk_launch(b, NULL, conf);
    fd = bk_conn(b);
    int reader = bk_conn(b);
    heartbeat_producer(fd, "127.0.0.1@txrestart", "PGS");
    /* The committed one is not stored again, even when its commit is repeated. */
    assert_int_equal(end_call(fd, "PGS", qa, pa, 8, ua, NULL, 0), 0);
    check_req c;
    assert_int_equal(await_check(fd, KT_DEADLINE_MS, b, "TopicRs", 0, ub, "pending-across", &c), 0);
    assert_int_equal(max_off(reader, "TopicRs", 0), 1);
    end_oneway(fd, "PGS", c.qoff, c.phys, 8, 1, c.msgid);
    assert_int_equal(wait_max(reader, "TopicRs", 0, 2, KT_DEADLINE_MS), 2);
    kite_cmd keep;
    kite_record rec;
    pull_one(reader, "TopicRs", 0, 1, &keep, &rec);
    assert_memory_equal(rec.body, "pending-across", 14);
    kite_cmd_free(&keep);
    kite_cmd more;
    assert_int_equal(kx_wait_request(fd, 39, &more, 1000),
                     -1); /* the committed half A is never checked */
    /* The check-back progress is saved as offsets of CID_RMQ_SYS_TRANS. */
    kite_cmd r;
    assert_int_equal(kb_call(reader, 43, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(kt_body(&r), HALF "@CID_RMQ_SYS_TRANS"));
    kite_cmd_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_and_bad_input, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_check_back_commit, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_check_max_discard, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_restart, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
