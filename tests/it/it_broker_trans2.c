/* it_broker_trans2.c - kite-broker transactions across SIGKILL (docs/wire.md §10,
 * docs/DESIGN.md "Transactions"), against a real kite-broker on loopback driven by raw
 * JSON requests. The test owns the broker process and kills it by PID.
 *
 * One store, two kills, three lives of the broker. 40 half messages, four kinds:
 *   A  COMMIT, answered, all in one write; the broker is SIGKILLed as soon as the last
 *      answer is read (an answer means the op record is appended);
 *   B  ROLLBACK, oneway, all in one write;
 *   D  COMMIT, oneway, all in one write (B and D are fenced by an answered call on the
 *      same connection before A goes out);
 *   C  left undecided: after the first restart a raw producer connection of the group
 *      answers the broker's CHECK_TRANSACTION_STATE (COMMIT for half of them, ROLLBACK
 *      for the rest, oneway as real producers do), fenced by an answered call, and the
 *      broker is SIGKILLed again right after that answer.
 * After each restart: every committed half (A, D, then the C commits) is pulled from its
 * real topic exactly once, no rolled-back one ever; repeated END_TRANSACTIONs (on the
 * halves and on the check copies) store nothing and write no op record; after the
 * second restart nothing is checked any more. consumerOffset.json is never written
 * before a kill (long flushConsumerOffsetInterval), so each restart walks the half queue
 * from its start and must rely on the op records alone. The op records written in the
 * first life are also counted: fewer than the halves they resolve (batched bodies).
 * Every wait is bounded (generously: how fast is not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "kt_bkx.h"
#include <inttypes.h>

#define HALF  "RMQ_SYS_TRANS_HALF_TOPIC"
#define OPS   "RMQ_SYS_TRANS_OP_HALF_TOPIC"
#define TOPIC "TopicK9"
#define GROUP "PGK9"
#define NHALF 40
#define NQ    2
#define CONF                                                                           \
    "transactionCheckInterval=300\ntransactionTimeOut=1000\ntransactionCheckMax=100\n" \
    "flushConsumerOffsetInterval=600000\n"

enum { KIND_A, KIND_B, KIND_C, KIND_D };

typedef struct half {
    int64_t q, phys;   /* the half as sent */
    int64_t cq, cphys; /* the check copy answered (C only; -1 before) */
    char uniq[40];
    char body[32];
} half;

static half H[NHALF];

static int kind_of(int i) { return i % 4; }
/* C halves: even ones are committed by the check answer, odd ones rolled back. */
static int c_commits(int i) { return (i / 4) % 2 == 0; }
static int committed(int i)
{
    return kind_of(i) == KIND_A || kind_of(i) == KIND_D || (kind_of(i) == KIND_C && c_commits(i));
}

/* ---- requests ---- */

static void send_half(int fd, half *h, int i)
{
    snprintf(h->uniq, sizeof h->uniq, "7F00000100004B390000000000%06d", i);
    snprintf(h->body, sizeof h->body, "k9-%02d", i);
    h->cq = h->cphys = -1;
    h->q = bk_send_half(fd, GROUP, TOPIC, i % NQ, 0, h->uniq, "TAGS\\u0001TagK\\u0002", h->body,
                        &h->phys);
}

static void end_ext(char *ext, size_t cap, int64_t q, int64_t phys, int type, int from_check,
                    const char *uniq)
{
    snprintf(
        ext, cap,
        "\"producerGroup\":\"%s\",\"tranStateTableOffset\":\"%" PRId64
        "\",\"commitLogOffset\":\"%" PRId64
        "\",\"commitOrRollback\":\"%d\",\"fromTransactionCheck\":\"%s\",\"msgId\":\"%s\",\"transactionId\":\"%s\"",
        GROUP, q, phys, type, from_check ? "true" : "false", uniq, uniq);
}

/* Answered END_TRANSACTION; returns the answer code. */
static int end_call(int fd, int64_t q, int64_t phys, int type, const char *uniq)
{
    char ext[1024];
    end_ext(ext, sizeof ext, q, phys, type, 0, uniq);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 37, ext, NULL, 0, &r), 0);
    int code = r.code;
    if (code) fprintf(stderr, "END_TRANSACTION answered %d: %s\n", code, r.remark ? r.remark : "");
    kite_cmd_free(&r);
    return code;
}

static void end_oneway(int fd, int64_t q, int64_t phys, int type, int from_check, const char *uniq)
{
    char ext[1024];
    end_ext(ext, sizeof ext, q, phys, type, from_check, uniq);
    assert_true(kb_send(fd, 37, 2, ext, NULL, 0) > 0);
}

/* Opaques of burst frames: far above kb_send's counter. */
#define BURST_OPAQUE 900000

static void put_be32(kite_buf *b, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    kite_buf_append(b, x, 4);
}

/* Appends one END_TRANSACTION frame (no body) to a burst. */
static void burst_add(kite_buf *b, int opaque, int oneway, const half *h, int type)
{
    char ext[1024], hdr[1400];
    end_ext(ext, sizeof ext, h->q, h->phys, type, 0, h->uniq);
    int n =
        snprintf(hdr, sizeof hdr,
                 "{\"code\":37,\"extFields\":{%s},\"flag\":%d,\"language\":\"JAVA\",\"opaque\":%d,"
                 "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}",
                 ext, oneway ? 2 : 0, opaque);
    put_be32(b, (uint32_t)(4 + n));
    put_be32(b, (uint32_t)n);
    kite_buf_append(b, hdr, (size_t)n);
}

/* Reads n answers with opaques BURST_OPAQUE.. BURST_OPAQUE+n-1 (any order), all code 0. */
static void burst_answers(int fd, int n)
{
    char seen[NHALF] = { 0 };
    for (int got = 0; got < n; got++) {
        kite_cmd r;
        assert_int_equal(kt_read_frame(fd, &r, KT_DEADLINE_MS), 0);
        assert_true(r.flag & KITE_FLAG_RESPONSE);
        int k = r.opaque - BURST_OPAQUE;
        assert_true(k >= 0 && k < n && !seen[k]);
        seen[k] = 1;
        if (r.code)
            fprintf(stderr, "burst answer %d: %d %s\n", k, r.code, r.remark ? r.remark : "");
        assert_int_equal(r.code, 0);
        kite_cmd_free(&r);
    }
}

static void heartbeat_producer(int fd, const char *client_id)
{
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"clientID\":\"%s\",\"consumerDataSet\":[],\"producerDataSet\":[{\"groupName\":\"%s\"},"
        "{\"groupName\":\"CLIENT_INNER_PRODUCER\"}]}",
        client_id, GROUP);
    assert_int_equal(kb_call_code(fd, 34, NULL, body, strlen(body)), 0);
}

static int64_t max_off(int fd, const char *topic, int qid)
{
    return kb_lookup(fd, 30, topic, qid, NULL, "offset");
}

static int64_t total_max(int fd)
{
    int64_t n = 0;
    for (int q = 0; q < NQ; q++) n += max_off(fd, TOPIC, q);
    return n;
}

/* ---- what a consumer of the real topic gets ---- */

/* Pulls every queue of the real topic from offset 0 and counts deliveries per half
 * (bodies "k9-NN"), checking each is a committed record of that half. */
static void pull_all(int fd, int count[NHALF])
{
    memset(count, 0, NHALF * sizeof *count);
    for (int qid = 0; qid < NQ; qid++) {
        int64_t max = max_off(fd, TOPIC, qid), off = 0;
        while (off < max) {
            kite_cmd r;
            assert_int_equal(kb_pull(fd, "GK9Read", TOPIC, qid, off, 32, 4, 0, 0, "*", &r), 0);
            if (r.code != 0)
                fprintf(stderr, "pull %s/%d@%lld: %d %s\n", TOPIC, qid, (long long)off, r.code,
                        r.remark ? r.remark : "");
            assert_int_equal(r.code, 0);
            kite_record recs[32];
            int n = kb_records(r.body, r.body_len, recs, 32);
            assert_true(n > 0);
            for (int k = 0; k < n; k++) {
                const kite_record *rec = &recs[k];
                assert_int_equal(rec->sysflag & KITE_SYSFLAG_TX_MASK, KITE_SYSFLAG_TX_COMMIT);
                assert_true(rec->body_len == 5 && memcmp(rec->body, "k9-", 3) == 0);
                int i = (rec->body[3] - '0') * 10 + (rec->body[4] - '0');
                assert_true(i >= 0 && i < NHALF);
                assert_int_equal(rec->queue_id, i % NQ);
                char v[64];
                assert_true(kx_prop(rec, "UNIQ_KEY", v, sizeof v));
                assert_string_equal(v, H[i].uniq);
                assert_false(kx_prop(rec, "TRAN_MSG", v, sizeof v));
                count[i]++;
            }
            int64_t next = kb_ext_i64(&r, "nextBeginOffset");
            assert_true(next > off);
            off = next;
            kite_cmd_free(&r);
        }
    }
}

/* Asserts the real topic holds exactly the committed halves of the given kinds (C: only
 * when with_c), once each, and nothing else. */
static void expect_delivered(int fd, int with_c)
{
    int want = 0;
    for (int i = 0; i < NHALF; i++)
        if (committed(i) && (with_c || kind_of(i) != KIND_C)) want++;
    long long t0 = kt_now_ms();
    while (total_max(fd) < want && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(10000);
    int count[NHALF];
    pull_all(fd, count);
    int bad = 0;
    for (int i = 0; i < NHALF; i++) {
        int exp = committed(i) && (with_c || kind_of(i) != KIND_C) ? 1 : 0;
        if (count[i] != exp) {
            fprintf(stderr, "half %d (kind %c): delivered %d time(s), want %d\n", i,
                    "ABCD"[kind_of(i)], count[i], exp);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    assert_int_equal(total_max(fd), want);
}

/* Repeats COMMIT for every half (and every answered check copy): all answered SUCCESS,
 * nothing stored, no op record written. */
static void expect_idempotent(int fd)
{
    int64_t ops = max_off(fd, OPS, 0), msgs = total_max(fd);
    for (int i = 0; i < NHALF; i++) {
        if (kind_of(i) == KIND_C && H[i].cq < 0) continue; /* undecided yet */
        assert_int_equal(end_call(fd, H[i].q, H[i].phys, 8, H[i].uniq), 0);
        if (H[i].cq >= 0) assert_int_equal(end_call(fd, H[i].cq, H[i].cphys, 8, H[i].uniq), 0);
        if (i % 8 == 1) end_oneway(fd, H[i].q, H[i].phys, 8, 0, H[i].uniq);
    }
    assert_int_equal(end_call(fd, H[0].q, H[0].phys, 12, H[0].uniq), 0); /* after the oneways */
    usleep(200 * 1000);
    assert_int_equal(max_off(fd, OPS, 0), ops);
    assert_int_equal(total_max(fd), msgs);
}

static void kill9(kt_daemon *b)
{
    kt_kill9(b->pid);
    b->pid = 0;
}

/* Answers checks for the C halves on pfd until each was answered once; oneway answers
 * (fromTransactionCheck=true), as real producers send them. */
static void answer_checks(int pfd, const kt_daemon *b)
{
    int left = 0;
    for (int i = 0; i < NHALF; i++)
        if (kind_of(i) == KIND_C) left++;
    long long t0 = kt_now_ms();
    while (left > 0) {
        int rest = KT_DEADLINE_MS - (int)(kt_now_ms() - t0);
        kite_cmd c;
        if (rest <= 0 || kx_wait_request(pfd, 39, &c, rest) != 0) {
            fprintf(stderr, "%d undecided half(s) were never checked\n", left);
            fail();
        }
        const char *uniq = kite_cmd_ext(&c, "msgId");
        assert_non_null(uniq);
        int i = -1;
        for (int k = 0; k < NHALF; k++)
            if (strcmp(H[k].uniq, uniq) == 0) i = k;
        if (i < 0 || kind_of(i) != KIND_C) {
            fprintf(stderr, "check for %s, which is not an undecided half\n", uniq);
            fail();
        }
        int64_t q = kb_ext_i64(&c, "tranStateTableOffset"),
                phys = kb_ext_i64(&c, "commitLogOffset");
        assert_true(q > H[i].q && phys > H[i].phys); /* a copy of the half is checked */
        char want[33];
        bk_expect_msgid(b, phys, want);
        assert_string_equal(kite_cmd_ext(&c, "offsetMsgId"), want);
        kite_cmd_free(&c);
        end_oneway(pfd, q, phys, c_commits(i) ? 8 : 12, 1, H[i].uniq);
        if (H[i].cq < 0) left--;
        H[i].cq = q;
        H[i].cphys = phys;
    }
}

static void test_kill9_across_end_transaction(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, CONF);

    /* ---- life 1: halves, then the three bursts; SIGKILL right after A's answers ---- */
    int fd = bk_conn(b);
    for (int i = 0; i < NHALF; i++) send_half(fd, &H[i], i);
    assert_int_equal(max_off(fd, OPS, 0), 0);
    kite_buf burst = KITE_BUF_INIT;
    int nb = 0, na = 0;
    for (int i = 0; i < NHALF; i++) {
        if (kind_of(i) == KIND_D) burst_add(&burst, 1, 1, &H[i], 8);
        if (kind_of(i) == KIND_B) burst_add(&burst, 1, 1, &H[i], 12);
        nb += kind_of(i) == KIND_D || kind_of(i) == KIND_B;
    }
    assert_int_equal(kt_send_raw(fd, burst.data, burst.len), 0);
    /* Fence: an answered call behind the oneways (one connection: handled in order); it
     * commits half 0, of kind A, which the A burst then repeats. */
    const int fence = 0;
    assert_int_equal(kind_of(fence), KIND_A);
    assert_int_equal(end_call(fd, H[fence].q, H[fence].phys, 8, H[fence].uniq), 0);
    burst.len = 0;
    for (int i = 0; i < NHALF; i++)
        if (kind_of(i) == KIND_A) burst_add(&burst, BURST_OPAQUE + na++, 0, &H[i], 8);
    assert_int_equal(kt_send_raw(fd, burst.data, burst.len), 0);
    kite_buf_free(&burst);
    burst_answers(fd, na);
    kill9(b);
    bk_close(fd);
    fprintf(stderr, "life 1: %d oneway and %d answered END_TRANSACTION(s), then SIGKILL\n", nb,
            na + 1);

    /* ---- life 2: A and D delivered once; checks resolve C; SIGKILL after the fence ---- */
    bk_launch(b, NULL, CONF);
    fd = bk_conn(b);
    int64_t ops1 = max_off(fd, OPS, 0);
    fprintf(stderr, "op records after life 1: %lld for %d resolved halves\n", (long long)ops1,
            nb + na);
    assert_true(ops1 >= 1 && ops1 < nb + na); /* batched bodies */
    expect_delivered(fd, 0);
    expect_idempotent(fd); /* COMMITs of the rolled-back B halves included */
    int pfd = bk_conn(b);
    heartbeat_producer(pfd, "127.0.0.1@k9-life2");
    answer_checks(pfd, b);
    assert_int_equal(end_call(pfd, H[fence].q, H[fence].phys, 8, H[fence].uniq), 0); /* fence */
    kill9(b);
    bk_close(pfd);
    bk_close(fd);

    /* ---- life 3: everything resolved exactly once, nothing checked, repeats idle ---- */
    bk_launch(b, NULL, CONF);
    fd = bk_conn(b);
    pfd = bk_conn(b);
    heartbeat_producer(pfd, "127.0.0.1@k9-life3");
    expect_delivered(fd, 1);
    kite_cmd more;
    if (kx_wait_request(pfd, 39, &more, 1800) == 0) {
        fprintf(stderr, "a resolved half was checked again after the restart: %s\n",
                kite_cmd_ext(&more, "msgId"));
        kite_cmd_free(&more);
        fail();
    }
    expect_idempotent(fd);
    expect_delivered(fd, 1);
    assert_int_equal(kx_wait_request(pfd, 39, &more, 400), -1);
}

/* Sends one more half of group g with extra properties (JSON string text); fills h. */
static void send_half_as(int fd, half *h, const char *g, const char *uniq, const char *body,
                         const char *extra, int qid)
{
    snprintf(h->uniq, sizeof h->uniq, "%s", uniq);
    snprintf(h->body, sizeof h->body, "%s", body);
    h->cq = h->cphys = -1;
    h->q = bk_send_half(fd, g, TOPIC, qid, 0, uniq, extra, body, &h->phys);
}

static int end_call_as(int fd, const char *g, const half *h, int64_t q, int64_t phys, int type,
                       int from_check)
{
    char ext[1024];
    snprintf(
        ext, sizeof ext,
        "\"producerGroup\":\"%s\",\"tranStateTableOffset\":\"%" PRId64
        "\",\"commitLogOffset\":\"%" PRId64
        "\",\"commitOrRollback\":\"%d\",\"fromTransactionCheck\":\"%s\",\"msgId\":\"%s\",\"transactionId\":\"%s\"",
        g, q, phys, type, from_check ? "true" : "false", h->uniq, h->uniq);
    return kb_call_code(fd, 37, ext, NULL, 0);
}

/* Scenario (no kill): check copies name the first half of their chain.
 *   - the producer's own COMMIT of a half arrives after the broker checked it; the
 *     check is then answered COMMIT as well: one message, and no further check;
 *   - a half whose producer set TRAN_PREPARED_QUEUE_OFFSET itself, naming another
 *     group's half, is stored without it and resolves only itself: the other half still
 *     commits. */
static void test_check_copy_chain(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, CONF);
    int fd = bk_conn(b), pfd = bk_conn(b);
    heartbeat_producer(pfd, "127.0.0.1@k9-chain");
    half late, victim, forged;
    send_half_as(fd, &late, GROUP, "7F00000100004B39000000000000A001", "late-1", "", 0);
    send_half_as(fd, &victim, "PGV", "7F00000100004B39000000000000A002", "victim", "", 1);
    char extra[128];
    snprintf(extra, sizeof extra, "TRAN_PREPARED_QUEUE_OFFSET\\u0001%" PRId64 "\\u0002", victim.q);
    send_half_as(fd, &forged, "PGF", "7F00000100004B39000000000000A003", "forged", extra, 1);
    kite_cmd hp; /* the stored half: forged name removed */
    char vx[64];
    snprintf(vx, sizeof vx, "\"offset\":\"%" PRId64 "\"", forged.phys);
    assert_int_equal(kb_call(fd, 33, vx, NULL, 0, &hp), 0); /* VIEW_MESSAGE_BY_ID */
    assert_int_equal(hp.code, 0);
    kite_record hr[1];
    assert_int_equal(kb_records(hp.body, hp.body_len, hr, 1), 1);
    assert_memory_equal(hr[0].body, "forged", 6);
    char hv[32];
    assert_false(kx_prop(&hr[0], "TRAN_PREPARED_QUEUE_OFFSET", hv, sizeof hv));
    assert_true(kx_prop(&hr[0], "REAL_TOPIC", hv, sizeof hv));
    kite_cmd_free(&hp);

    /* The forged half commits itself only. */
    assert_int_equal(end_call_as(fd, "PGF", &forged, forged.q, forged.phys, 8, 0), 0);
    assert_int_equal(end_call_as(fd, "PGV", &victim, victim.q, victim.phys, 8, 0), 0);
    long long t0 = kt_now_ms();
    while (max_off(fd, TOPIC, 1) < 2 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(10000);
    assert_int_equal(max_off(fd, TOPIC, 1), 2);

    /* The late half: checked once, then the producer's own COMMIT, then the check answer. */
    kite_cmd c;
    assert_int_equal(kx_wait_request(pfd, 39, &c, KT_DEADLINE_MS), 0);
    assert_string_equal(kite_cmd_ext(&c, "msgId"), late.uniq);
    int64_t cq = kb_ext_i64(&c, "tranStateTableOffset"), cphys = kb_ext_i64(&c, "commitLogOffset");
    kite_cmd_free(&c);
    assert_true(cq > late.q);
    assert_int_equal(end_call_as(fd, GROUP, &late, late.q, late.phys, 8, 0), 0);
    assert_int_equal(end_call_as(pfd, GROUP, &late, cq, cphys, 8, 1), 0);
    t0 = kt_now_ms();
    while (max_off(fd, TOPIC, 0) < 1 && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(10000);
    kite_cmd more;
    assert_int_equal(kx_wait_request(pfd, 39, &more, 1200), -1); /* no check of any copy */
    assert_int_equal(max_off(fd, TOPIC, 0), 1);                  /* committed once */
    kite_cmd keep;
    assert_int_equal(kb_pull(fd, "GK9Read", TOPIC, 0, 0, 32, 4, 0, 0, "*", &keep), 0);
    assert_int_equal(keep.code, 0);
    kite_record rec[2];
    assert_int_equal(kb_records(keep.body, keep.body_len, rec, 2), 1);
    assert_int_equal(rec[0].body_len, 6);
    assert_memory_equal(rec[0].body, "late-1", 6);
    char v[32];
    assert_false(
        kx_prop(&rec[0], "TRAN_PREPARED_QUEUE_OFFSET", v, sizeof v)); /* bookkeeping stays inside */
    kite_cmd_free(&keep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_across_end_transaction, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_check_copy_chain, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
