/* it_broker_input.c - kite-broker half messages and bad input (docs/wire.md §5.1,
 * §5.2, §6.2, §3.2, §9.3, §5.3, §10.1): a TRAN_MSG send is answered 0 but never visible in
 * its topic and the half topic cannot be pulled (16); unknown topic without
 * auto-creation (17), invalid topic names and queue ids (1), bodies over
 * maxMessageSize and properties over 32767 bytes (13), malformed properties strings,
 * malformed batch bodies (13), a client that disconnects during a long poll, bad
 * HeartbeatData (1), unknown request codes (3) - each followed by proof that the broker
 * (and, where the answer is an error, the same connection) still serves; a connection reset
 * right after thousands of pipelined oneway sends loses none of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include <inttypes.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>

#define CLUSTER_PROP "CLUSTER\001TestCluster\002"

/* The broker answers on this connection: a GET_MAX_OFFSET round trip. */
static void alive(int fd) { assert_true(kb_lookup(fd, 30, "TopicIn", 0, NULL, "offset") >= 0); }

/* A V2 send with an explicit sysFlag and properties JSON text; returns the answer code. */
static int send_flagged(int fd, const char *topic, int qid, int sysflag, const char *props_json,
                        const void *body, size_t blen, kite_cmd *keep)
{
    size_t cap = strlen(props_json) + strlen(topic) + 512;
    char *ext = malloc(cap);
    assert_non_null(ext);
    snprintf(
        ext, cap,
        "\"a\":\"PG\",\"b\":\"%s\",\"c\":\"TBW102\",\"d\":\"4\",\"e\":\"%d\",\"f\":\"%d\",\"g\":\"%" PRId64
        "\",\"h\":\"0\",\"i\":\"%s\",\"j\":\"0\",\"k\":\"false\",\"m\":\"false\"",
        topic, qid, sysflag, kb_wall_ms(), props_json);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 310, ext, body, blen, &r), 0);
    free(ext);
    int code = r.code;
    if (keep)
        *keep = r;
    else
        kite_cmd_free(&r);
    return code;
}

/* Scenario: half messages are never visible to consumers. */
static void test_half_messages_invisible(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    const char *tx =
        "TRAN_MSG\\u0001true\\u0002PGROUP\\u0001PGTX\\u0002UNIQ_KEY\\u0001C0A80001000000000000000000000001\\u0002";
    kite_cmd r;
    assert_int_equal(send_flagged(fd, "TopicTx", 0, 4, tx, "half-1", 6, &r), 0);
    const char *id = kite_cmd_ext(&r, "msgId");
    assert_non_null(id);
    assert_int_equal(strlen(id), 32);
    assert_non_null(kite_cmd_ext(&r, "queueOffset"));
    int64_t half_phys = (int64_t)strtoull(id + 16, NULL, 16);
    kite_cmd_free(&r);

    /* A normal message after it takes the topic's first offset. */
    assert_int_equal(bk_send_ok(fd, "TopicTx", 0, NULL, "normal", NULL), 0);
    bk_wait_max(fd, "TopicTx", 0, 1);
    assert_int_equal(kb_pull(fd, "GTX", "TopicTx", 0, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 1);
    assert_memory_equal(rec[0].body, "normal", 6);
    kite_cmd_free(&r);

    /* A held pull at the end is not woken by another half message: 19 at its timeout. */
    long long t0 = kt_now_ms();
    int op = kb_pull_send(fd, "GTX", "TopicTx", 0, 1, 32, 4 | 2, 0, 1000, "*");
    kite_cmd held;
    assert_int_equal(send_flagged(fd, "TopicTx", 0, 4, tx, "half-2", 6, NULL), 0);
    assert_int_equal(kb_wait_response(fd, op, &held, KT_DEADLINE_MS), 0);
    assert_int_equal(held.code, 19);
    assert_true(kt_now_ms() - t0 >= 900);
    assert_int_equal(held.body_len, 0);
    kite_cmd_free(&held);
    assert_int_equal(kb_lookup(fd, 30, "TopicTx", 0, NULL, "offset"), 1);

    /* The half topic itself: no pulling, no sending. */
    assert_int_equal(kb_pull(fd, "GTX", "RMQ_SYS_TRANS_HALF_TOPIC", 0, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 16);
    kite_cmd_free(&r);
    assert_int_equal(send_flagged(fd, "RMQ_SYS_TRANS_HALF_TOPIC", 0, 0, "", "x", 1, NULL), 16);

    /* It is stored (in the half topic, with its real topic and queue). */
    char ext[64];
    snprintf(ext, sizeof ext, "\"offset\":\"%lld\"", (long long)half_phys);
    assert_int_equal(kb_call(fd, 33, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 1), 1);
    assert_int_equal(rec[0].topic_len, strlen("RMQ_SYS_TRANS_HALF_TOPIC"));
    assert_memory_equal(rec[0].topic, "RMQ_SYS_TRANS_HALF_TOPIC", rec[0].topic_len);
    size_t vl;
    const char *v = kite_msgprop_get(rec[0].props, rec[0].props_len, "REAL_TOPIC", &vl);
    assert_non_null(v);
    assert_int_equal(vl, 7);
    assert_memory_equal(v, "TopicTx", 7);
    assert_non_null(kite_msgprop_get(rec[0].props, rec[0].props_len, "REAL_QID", &vl));
    kite_cmd_free(&r);
}

/* Scenario: topics, queue ids, sizes; the connection stays open after each error. */
static void test_bad_topics_queues_sizes(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, "autoCreateTopicEnable=false\nmaxMessageSize=1024\n");
    int fd = bk_conn(b);
    bk_expect(
        fd, 17,
        "\"topic\":\"TopicIn\",\"readQueueNums\":\"4\",\"writeQueueNums\":\"4\",\"perm\":\"6\","
        "\"topicFilterType\":\"SINGLE_TAG\",\"topicSysFlag\":\"0\",\"order\":\"false\"",
        NULL, 0, 0);
    bk_send_ok(fd, "TopicIn", 0, NULL, "ok", NULL);

    kite_cmd r;
    assert_int_equal(kb_send_v2(fd, "TopicUnknown", 0, NULL, "x", 1, &r), 0);
    assert_int_equal(r.code, 17);
    assert_non_null(r.remark);
    assert_non_null(strstr(r.remark, "TopicUnknown"));
    kite_cmd_free(&r);
    alive(fd);

    assert_int_equal(send_flagged(fd, "a/b", 0, 0, "", "x", 1, NULL), 1);
    alive(fd);
    char longname[201];
    memset(longname, 'L', 200);
    longname[200] = 0;
    assert_int_equal(send_flagged(fd, longname, 0, 0, "", "x", 1, NULL), 1);
    alive(fd);
    assert_int_equal(send_flagged(fd, "bad topic", 0, 0, "", "x", 1, NULL), 1);
    alive(fd);

    /* queue ids: 4 queues -> 4 is illegal; negative lets the broker pick. */
    assert_int_equal(send_flagged(fd, "TopicIn", 4, 0, "", "x", 1, NULL), 1);
    assert_int_equal(send_flagged(fd, "TopicIn", 1000, 0, "", "x", 1, NULL), 1);
    alive(fd);
    assert_int_equal(send_flagged(fd, "TopicIn", -1, 0, "", "any", 3, &r), 0);
    int64_t q = kb_ext_i64(&r, "queueId");
    assert_true(q >= 0 && q < 4);
    kite_cmd_free(&r);
    assert_int_equal(kb_pull(fd, "GIN", "TopicIn", 4, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 1);
    kite_cmd_free(&r);
    alive(fd);

    /* Body over maxMessageSize (1024): 13 MESSAGE_ILLEGAL, connection open. */
    char big[2000];
    memset(big, 'B', sizeof big);
    assert_int_equal(send_flagged(fd, "TopicIn", 0, 0, "", big, sizeof big, NULL), 13);
    alive(fd);
    assert_int_equal(send_flagged(fd, "TopicIn", 0, 0, "", big, 1024, NULL), 0);

    /* Properties over 32767 bytes: 13. */
    size_t plen = 33000;
    char *pj = malloc(plen + 64);
    assert_non_null(pj);
    strcpy(pj, "BIG\\u0001");
    size_t at = strlen(pj);
    memset(pj + at, 'p', plen);
    strcpy(pj + at + plen, "\\u0002");
    assert_int_equal(send_flagged(fd, "TopicIn", 0, 0, pj, "x", 1, NULL), 13);
    free(pj);
    alive(fd);
    bk_send_ok(fd, "TopicIn", 0, NULL, "still-ok", NULL);
}

/* Scenario: malformed properties strings are stored and answered; a missing trailing
 * separator does not merge the broker's CLUSTER property into the last value. */
static void test_malformed_properties(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    const char *cases[] = {
        "justgarbage-no-separators",
        "\\u0001\\u0002\\u0002\\u0001\\u0001x\\u0002=\\u0002",
        "\\u00ff\\u00fe\\u0003\\u0004 \\u0001\\u0002",
        "TAGS\\u0001TagZ",
    };
    for (int i = 0; i < 4; i++)
        assert_int_equal(send_flagged(fd, "TopicMal", 0, 0, cases[i], "m", 1, NULL), 0);
    alive(fd);
    bk_wait_max(fd, "TopicMal", 0, 4);
    kite_cmd r;
    kite_record rec[8];
    assert_int_equal(kb_pull(fd, "GMAL", "TopicMal", 0, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 4);
    for (int i = 0; i < 4; i++) {
        size_t vl;
        const char *v = kite_msgprop_get(rec[i].props, rec[i].props_len, "CLUSTER", &vl);
        if (!v)
            fprintf(stderr, "record %d: no CLUSTER property in %.*s\n", i, (int)rec[i].props_len,
                    rec[i].props);
        assert_non_null(v);
        assert_int_equal(vl, strlen("TestCluster"));
        assert_memory_equal(v, "TestCluster", vl);
    }
    size_t vl;
    const char *tag = kite_msgprop_get(rec[3].props, rec[3].props_len, "TAGS", &vl);
    assert_non_null(tag);
    assert_int_equal(vl, 4);
    assert_memory_equal(tag, "TagZ", 4);
    kite_cmd_free(&r);
    /* ... and the tag filter finds it. */
    assert_int_equal(kb_pull(fd, "GMAL", "TopicMal", 0, 0, 32, 4, 0, 0, "TagZ", &r), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(kb_records(r.body, r.body_len, rec, 8), 1);
    assert_int_equal(rec[0].queue_offset, 3);
    kite_cmd_free(&r);

    /* Raw invalid UTF-8 bytes inside the JSON header text: answered, not a crash. */
    const char hdr[] =
        "{\"code\":310,\"extFields\":{\"a\":\"PG\",\"b\":\"TopicMal\",\"c\":\"TBW102\",\"d\":\"4\","
        "\"e\":\"0\",\"f\":\"0\",\"g\":\"1700000000000\",\"h\":\"0\",\"i\":\"K\\u0001\xff\xfe\xc3\x28\\u0002\","
        "\"m\":\"false\"},\"flag\":0,\"language\":\"JAVA\",\"opaque\":77,\"version\":401}";
    assert_int_equal(kt_send_json(fd, hdr, "u", 1), 0);
    assert_int_equal(kb_wait_response(fd, 77, &r, KT_DEADLINE_MS), 0);
    fprintf(stderr, "invalid UTF-8 properties: code %d\n", r.code);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    alive(fd);
}

static size_t put_entry(uint8_t *o, uint32_t total, uint32_t blen, const char *body, uint16_t plen,
                        const char *props)
{
    kite_wr_be32(o, total);
    kite_wr_be32(o + 4, 0);
    kite_wr_be32(o + 8, 0);
    kite_wr_be32(o + 12, 0);
    kite_wr_be32(o + 16, blen);
    memcpy(o + 20, body, strlen(body));
    kite_wr_be16(o + 20 + strlen(body), plen);
    memcpy(o + 22 + strlen(body), props, strlen(props));
    return 22 + strlen(body) + strlen(props);
}

static int send_batch(int fd, const uint8_t *body, size_t n)
{
    const char *ext =
        "\"a\":\"PG\",\"b\":\"TopicBad\",\"c\":\"TBW102\",\"d\":\"4\",\"e\":\"0\",\"f\":\"0\","
        "\"g\":\"1700000000000\",\"h\":\"0\",\"i\":\"\",\"m\":\"true\"";
    return kb_call_code(fd, 320, ext, body, n);
}

/* Scenario: malformed batch bodies answer 13 and store nothing. */
static void test_malformed_batch(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    bk_send_ok(fd, "TopicBad", 0, NULL, "seed", NULL);
    bk_wait_max(fd, "TopicBad", 0, 1);
    uint8_t buf[512];
    size_t n;
    /* good entry followed by a truncated one */
    n = put_entry(buf, 22 + 2 + 0, 2, "ok", 0, "");
    n += put_entry(buf + n, 200, 3, "abc", 0, "");
    assert_int_equal(send_batch(fd, buf, n), 13);
    alive(fd);
    /* body length larger than the entry */
    n = put_entry(buf, 22 + 3, 300, "abc", 0, "");
    assert_int_equal(send_batch(fd, buf, n), 13);
    /* properties length disagreeing with TOTALSIZE */
    n = put_entry(buf, 22 + 3 + 4, 3, "abc", 9, "a\001b\002");
    assert_int_equal(send_batch(fd, buf, n), 13);
    /* TOTALSIZE below the fixed part, a few stray bytes, an empty body */
    n = put_entry(buf, 5, 0, "", 0, "");
    assert_int_equal(send_batch(fd, buf, n), 13);
    assert_int_equal(send_batch(fd, (const uint8_t *)"\x00\x00\x00", 3), 13);
    assert_int_equal(send_batch(fd, NULL, 0), 13);
    alive(fd);
    /* nothing of the bad batches was stored */
    assert_int_equal(kb_lookup(fd, 30, "TopicBad", 0, NULL, "offset"), 1);
    /* a good batch after all that */
    n = put_entry(buf, 22 + 2, 2, "g1", 0, "");
    n += put_entry(buf + n, 22 + 2, 2, "g2", 0, "");
    assert_int_equal(send_batch(fd, buf, n), 0);
    bk_wait_max(fd, "TopicBad", 0, 3);
}

/* Scenario: disconnect during a long poll; bad HeartbeatData; unknown codes. */
static void test_disconnect_heartbeat_unknown(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    bk_send_ok(fd, "TopicIn", 0, NULL, "one", NULL);
    bk_wait_max(fd, "TopicIn", 0, 1);

    /* Held pulls whose connection goes away: one woken by a send after the close, one
     * that would time out after the close. */
    for (int i = 0; i < 2; i++) {
        int c = bk_conn(b);
        int64_t off = kb_lookup(c, 30, "TopicIn", 0, NULL, "offset");
        assert_true(kb_pull_send(c, "GDC", "TopicIn", 0, off, 32, 4 | 2, 0, i ? 300 : 5000, "*") >
                    0);
        usleep(100000);
        bk_close(c);
        usleep(100000);
        if (i == 0)
            bk_send_ok(fd, "TopicIn", 0, NULL, "after-close", NULL);
        else
            usleep(500000);
    }
    alive(fd);

    /* HEART_BEAT: bad JSON, no body, no clientID -> 1; the connection stays usable. */
    const char *bad[] = { "{\"clientID\":\"x\",\"consumerDataSet\":[{", "not json at all",
                          "{\"consumerDataSet\":[]}" };
    for (int i = 0; i < 3; i++) {
        bk_expect(fd, 34, "", bad[i], strlen(bad[i]), 1);
        alive(fd);
    }
    bk_expect(fd, 34, "", NULL, 0, 1);
    /* Unknown request code -> 3; missing send fields -> 1. */
    kite_cmd r;
    assert_int_equal(kb_call(fd, 9999, "", NULL, 0, &r), 0);
    assert_int_equal(r.code, 3);
    kite_cmd_free(&r);
    bk_expect(fd, 310, "\"b\":\"TopicIn\"", "x", 1, 1);
    bk_expect(fd, 11, "\"topic\":\"TopicIn\"", NULL, 0, 1);
    alive(fd);

    /* Clean stop: exit 0, and the log has no error line. */
    bk_close(fd);
    bk_stop_clean(b);
    int errors = kb_count_lines(b->log, "ERROR");
    if (errors) bk_dump_log(b);
    assert_int_equal(errors, 0);
}

/* Scenario: a client pipelines thousands of oneway sends, waits until the broker's kernel
 * has them all (its send queue is empty), then resets the connection (SO_LINGER 0). The
 * broker handles only so many frames per loop turn; the reset arrives while the rest wait
 * for their turn - every whole frame received is still handled (none dropped with the
 * connection). */
static void test_reset_after_pipelined_oneways(void **st)
{
    (void)st;
    enum { K = 10000, ROUNDS = 2 };
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = bk_conn(b);
    bk_send_ok(fd, "TopicRst", 0, NULL, "first", NULL); /* creates the topic */
    for (int round = 1; round <= ROUNDS; round++) {
        int p = kt_connect(b->host, b->port);
        assert_true(p >= 0);
        for (int i = 0; i < K; i++) {
            char ext[512], body[64];
            snprintf(ext, sizeof ext,
                     "\"a\":\"PG\",\"b\":\"TopicRst\",\"c\":\"TBW102\",\"d\":\"4\",\"e\":\"0\","
                     "\"f\":\"0\",\"g\":\"%" PRId64 "\",\"h\":\"0\",\"i\":\"\",\"j\":\"0\","
                     "\"k\":\"false\",\"m\":\"false\"",
                     kb_wall_ms());
            int n = snprintf(body, sizeof body, "oneway-%d-%d", round, i);
            assert_true(kb_send(p, 310, 2 /* oneway */, ext, body, (size_t)n) > 0);
        }
        long long t0 = kt_now_ms();
        int outq = -1;
        while ((ioctl(p, SIOCOUTQ, &outq) != 0 || outq > 0) && kt_now_ms() - t0 < KT_DEADLINE_MS)
            usleep(1000);
        assert_int_equal(outq, 0);
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        assert_int_equal(setsockopt(p, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        kb_forget_fd(p);
        close(p); /* RST */
        bk_wait_max(fd, "TopicRst", 0, 1 + (int64_t)round * K);
    }
    alive(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_half_messages_invisible, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_bad_topics_queues_sizes, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_properties, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_batch, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_heartbeat_unknown, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_reset_after_pipelined_oneways, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
