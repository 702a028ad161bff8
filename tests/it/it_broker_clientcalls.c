/* it_broker_clientcalls.c - kite-broker requests about clients' queues and calls the
 * broker makes to clients (docs/wire.md §6.6, §7, §8, §2.5, §2.10):
 * LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42) between two clients (granted, refused while
 * held, handed over after an unlock, refreshed by the holder); INVOKE_BROKER_TO_RESET_OFFSET
 * (222) resets the stored offsets and pushes RESET_CONSUMER_CLIENT_OFFSET (220, oneway)
 * with a ResetOffsetBody to the heartbeating client's own connection (the list form for a
 * CPP client); GET_CONSUMER_RUNNING_INFO (307) forwarded to the client connection and its
 * answer body returned verbatim to the admin, 1 when the client is not online or its
 * connection closes before it answers. (Lock expiry is 60 s: not waited for.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "kt_bkx.h"

/* LOCK (41) or UNLOCK (42) of queues qids[0..n) of TopicLK for client cid; for LOCK,
 * returns a bit set of the queue ids in lockOKMQSet. */
static unsigned lock_call(int fd, int code, const char *cid, const int *qids, int n)
{
    char body[2048];
    int o = snprintf(
        body, sizeof body,
        "{\"consumerGroup\":\"GLK\",\"clientId\":\"%s\",\"onlyThisBroker\":false,\"mqSet\":[", cid);
    for (int i = 0; i < n; i++)
        o += snprintf(body + o, sizeof body - (size_t)o,
                      "%s{\"brokerName\":\"broker-t\",\"queueId\":%d,\"topic\":\"TopicLK\"}",
                      i ? "," : "", qids[i]);
    snprintf(body + o, sizeof body - (size_t)o, "]}");
    kite_cmd r;
    assert_int_equal(kb_call(fd, code, "", body, strlen(body), &r), 0);
    assert_int_equal(r.code, 0);
    unsigned set = 0;
    if (code == 41) {
        kite_json_doc *d = kx_parse(&r);
        assert_non_null(d);
        const kite_json *ok = kite_json_get(kite_json_root(d), "lockOKMQSet");
        assert_non_null(ok);
        assert_int_equal(ok->type, KJ_ARRAY);
        for (size_t i = 0; i < ok->count; i++) {
            assert_string_equal(kite_json_get_str(ok->items[i], "topic", ""), "TopicLK");
            assert_string_equal(kite_json_get_str(ok->items[i], "brokerName", ""), "broker-t");
            set |= 1u << kite_json_get_int32(ok->items[i], "queueId", 31);
        }
        kite_json_doc_free(d);
    }
    kite_cmd_free(&r);
    return set;
}

/* Scenario: two clients competing for two queue locks. */
static void test_queue_locks(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fa = bk_conn(b), fb = bk_conn(b);
    const int both[2] = { 0, 1 }, q0[1] = { 0 }, q1[1] = { 1 };
    assert_int_equal(lock_call(fa, 41, "clientA", both, 2), 3u);
    assert_int_equal(lock_call(fb, 41, "clientB", both, 2), 0u);
    assert_int_equal(lock_call(fa, 41, "clientA", both, 2), 3u); /* the holder refreshes */

    lock_call(fa, 42, "clientA", q0, 1);
    assert_int_equal(lock_call(fb, 41, "clientB", both, 2), 1u); /* queue 0 only */
    assert_int_equal(lock_call(fa, 41, "clientA", both, 2), 2u); /* A keeps queue 1 */
    /* An unlock by a client that does not hold the lock changes nothing. */
    lock_call(fb, 42, "clientB", q1, 1);
    assert_int_equal(lock_call(fb, 41, "clientB", q1, 1), 0u);
    /* Locks are per group: another group may lock the same queue. */
    const char *other =
        "{\"consumerGroup\":\"GLK2\",\"clientId\":\"clientB\",\"mqSet\":[{\"brokerName\":\"broker-t\","
        "\"queueId\":1,\"topic\":\"TopicLK\"}]}";
    kite_cmd r;
    assert_int_equal(kb_call(fb, 41, "", other, strlen(other), &r), 0);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(kt_body(&r), "\"queueId\":1"));
    kite_cmd_free(&r);
    /* Malformed bodies: 1, and the connection stays usable. */
    bk_expect(fa, 41, "", "{\"mqSet\":[]}", 12, 1);
    bk_expect(fa, 41, "", "not json", 8, 1);
    bk_expect(fa, 42, "", NULL, 0, 1);
    assert_int_equal(lock_call(fa, 41, "clientA", q1, 1), 2u);
}

/* Scenario: reset by timestamp: stored offsets change and the client is told. */
static void test_reset_offset_push(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int adm = bk_conn(b), cli = bk_conn(b), cpp = bk_conn(b);
    char hb[4096];
    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@404#4", "CGR", "TopicRS", "*");
    bk_expect(cli, 34, "", hb, strlen(hb), 0);
    for (int i = 0; i < 3; i++) bk_send_ok(adm, "TopicRS", 0, NULL, "old", NULL);
    usleep(30 * 1000);
    int64_t ts = kb_wall_ms();
    usleep(30 * 1000);
    bk_send_ok(adm, "TopicRS", 0, NULL, "new", NULL);
    bk_send_ok(adm, "TopicRS", 0, NULL, "new", NULL);
    bk_wait_max(adm, "TopicRS", 0, 5);
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"consumerGroup\":\"CGR\",\"topic\":\"TopicRS\",\"queueId\":\"0\",\"commitOffset\":\"5\"");
    bk_expect(cli, 15, ext, NULL, 0, 0);

    snprintf(ext, sizeof ext,
             "\"topic\":\"TopicRS\",\"group\":\"CGR\",\"timestamp\":\"%lld\",\"isForce\":\"true\"",
             (long long)ts);
    kite_cmd r;
    assert_int_equal(kb_call(adm, 222, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    kite_json_doc *d = kx_parse(&r);
    kite_cmd_free(&r);
    assert_non_null(d);
    const kite_json *v =
        kx_mq_value(kite_json_get(kite_json_root(d), "offsetTable"), "TopicRS", 0, NULL);
    assert_non_null(v);
    int64_t off;
    assert_int_equal(kite_json_int64(v, &off), 0);
    assert_int_equal(off, 3);
    kite_json_doc_free(d);
    assert_int_equal(kb_lookup(adm, 14, "TopicRS", 0, ",\"consumerGroup\":\"CGR\"", "offset"), 3);

    /* The client got 220 (oneway) on its own connection. */
    kite_cmd req;
    assert_int_equal(kx_wait_request(cli, 220, &req, KT_DEADLINE_MS), 0);
    assert_true(req.flag & KITE_FLAG_ONEWAY);
    assert_string_equal(kite_cmd_ext(&req, "topic"), "TopicRS");
    assert_string_equal(kite_cmd_ext(&req, "group"), "CGR");
    assert_int_equal(kb_ext_i64(&req, "timestamp"), ts);
    d = kx_parse(&req);
    kite_cmd_free(&req);
    assert_non_null(d);
    size_t n;
    v = kx_mq_value(kite_json_get(kite_json_root(d), "offsetTable"), "TopicRS", 0, &n);
    assert_non_null(v);
    assert_int_equal(kite_json_int64(v, &off), 0);
    assert_int_equal(off, 3);
    kite_json_doc_free(d);
    assert_int_equal(kx_wait_request(adm, 220, &req, 200), -1); /* only group members are told */

    /* A CPP client (language CPP in its heartbeat header) gets the list form. */
    const char *cpphb =
        "{\"clientID\":\"10.0.0.9@77\",\"consumerDataSet\":[{\"consumeFromWhere\":4,\"consumeType\":1,"
        "\"groupName\":\"CGR\",\"messageModel\":1,\"subscriptionDataSet\":[{\"subString\":\"*\","
        "\"subVersion\":\"1\",\"topic\":\"TopicRS\"}],\"unitMode\":false}],\"producerDataSet\":[]}";
    char h[512];
    snprintf(h, sizeof h,
             "{\"code\":34,\"extFields\":{},\"flag\":0,\"language\":\"CPP\",\"opaque\":77001,"
             "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}");
    assert_int_equal(kt_send_json(cpp, h, cpphb, strlen(cpphb)), 0);
    assert_int_equal(kb_wait_response(cpp, 77001, &r, KT_DEADLINE_MS), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    snprintf(ext, sizeof ext,
             "\"topic\":\"TopicRS\",\"group\":\"CGR\",\"timestamp\":\"-1\",\"isForce\":\"true\"");
    bk_expect(adm, 222, ext, NULL, 0, 0);
    assert_int_equal(kb_lookup(adm, 14, "TopicRS", 0, ",\"consumerGroup\":\"CGR\"", "offset"), 5);
    assert_int_equal(kx_wait_request(cpp, 220, &req, KT_DEADLINE_MS), 0);
    d = kx_parse(&req);
    kite_cmd_free(&req);
    assert_non_null(d);
    const kite_json *list = kite_json_get(kite_json_root(d), "offsetTable");
    assert_non_null(list);
    assert_int_equal(list->type, KJ_ARRAY);
    assert_int_equal(list->count, 4); /* one per read queue (auto-created: 4) */
    assert_string_equal(kite_json_get_str(list->items[0], "topic", ""), "TopicRS");
    assert_int_equal(kite_json_get_int32(list->items[0], "queueId", -1), 0);
    assert_int_equal(kite_json_get_int64(list->items[0], "offset", -1), 5);
    kite_json_doc_free(d);
    assert_int_equal(kx_wait_request(cli, 220, &req, KT_DEADLINE_MS),
                     0); /* the Java client too, object keys */
    d = kx_parse(&req);
    kite_cmd_free(&req);
    assert_non_null(d);
    assert_int_equal(kite_json_get(kite_json_root(d), "offsetTable")->type, KJ_OBJECT);
    kite_json_doc_free(d);

    bk_expect(adm, 222, "\"topic\":\"TopicNoSuch\",\"group\":\"CGR\",\"timestamp\":\"0\"", NULL, 0,
              17);
}

/* Scenario: GET_CONSUMER_RUNNING_INFO is answered by the client, via the broker. */
static void test_consumer_running_info(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int adm = bk_conn(b), cli = bk_conn(b);
    char hb[4096];
    kb_heartbeat_java(hb, sizeof hb, "127.0.0.1@505#5", "CGI", "TopicRI", "*");
    bk_expect(cli, 34, "", hb, strlen(hb), 0);

    const char *ext =
        "\"consumerGroup\":\"CGI\",\"clientId\":\"127.0.0.1@505#5\",\"jstackEnable\":\"false\"";
    int op = kb_send(adm, 307, 0, ext, NULL, 0);
    assert_true(op > 0);
    kite_cmd req;
    assert_int_equal(kx_wait_request(cli, 307, &req, KT_DEADLINE_MS), 0);
    assert_false(req.flag & KITE_FLAG_ONEWAY);
    assert_string_equal(kite_cmd_ext(&req, "consumerGroup"), "CGI");
    assert_string_equal(kite_cmd_ext(&req, "clientId"), "127.0.0.1@505#5");
    const char *info =
        "{\"properties\":{\"PROP_CONSUME_TYPE\":\"CONSUME_PASSIVELY\",\"x\":\"\\u00e9\"},"
        "\"subscriptionSet\":[],\"mqTable\":{},\"statusTable\":{}}";
    assert_int_equal(kx_answer(cli, &req, 0, info), 0);
    kite_cmd_free(&req);
    kite_cmd r;
    assert_int_equal(kb_wait_response(adm, op, &r, KT_DEADLINE_MS), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.body_len, strlen(info));
    assert_memory_equal(r.body, info, r.body_len);
    kite_cmd_free(&r);

    /* Not online: 1, with Java's remark. */
    assert_int_equal(
        kb_call(adm, 307, "\"consumerGroup\":\"CGI\",\"clientId\":\"127.0.0.1@1#9\"", NULL, 0, &r),
        0);
    assert_int_equal(r.code, 1);
    assert_non_null(r.remark);
    assert_non_null(strstr(r.remark, "not online"));
    kite_cmd_free(&r);
    bk_expect(adm, 307, "\"consumerGroup\":\"CGNobody\",\"clientId\":\"127.0.0.1@505#5\"", NULL, 0,
              1);

    /* The client's connection closes before it answers: the admin gets 1 for the closed
     * connection, not the answer to a forward that timed out (10 s, another code). */
    op = kb_send(adm, 307, 0, ext, NULL, 0);
    assert_int_equal(kx_wait_request(cli, 307, &req, KT_DEADLINE_MS), 0);
    kite_cmd_free(&req);
    long long t0 = kt_now_ms();
    bk_close(cli);
    assert_int_equal(kb_wait_response(adm, op, &r, KT_DEADLINE_MS), 0);
    fprintf(stderr, "forward to a closed client answered %d after %lld ms\n", r.code,
            kt_now_ms() - t0);
    assert_int_equal(r.code, 1);
    assert_non_null(r.remark);
    assert_non_null(strstr(r.remark, "closed"));
    kite_cmd_free(&r);
    /* The broker still serves the admin. */
    bk_expect(adm, 307, ext, NULL, 0, 1);

    /* The admin goes away before the client answers: the late answer is dropped. */
    cli = bk_conn(b);
    bk_expect(cli, 34, "", hb, strlen(hb), 0);
    int adm2 = bk_conn(b);
    assert_true(kb_send(adm2, 307, 0, ext, NULL, 0) > 0);
    assert_int_equal(kx_wait_request(cli, 307, &req, KT_DEADLINE_MS), 0);
    bk_close(adm2);
    usleep(100 * 1000);
    assert_int_equal(kx_answer(cli, &req, 0, info), 0);
    kite_cmd_free(&req);
    bk_expect(cli, 38, "\"consumerGroup\":\"CGI\"", NULL, 0, 0); /* still serving */
    /* A forward still pending when the broker stops (teardown: clean exit, no leak). */
    assert_true(kb_send(adm, 307, 0, ext, NULL, 0) > 0);
    assert_int_equal(kx_wait_request(cli, 307, &req, KT_DEADLINE_MS), 0);
    kite_cmd_free(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_locks, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_reset_offset_push, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_consumer_running_info, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
