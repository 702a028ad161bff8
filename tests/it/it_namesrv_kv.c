/* it_namesrv_kv.c - kite-namesrv KV configuration over TCP: PUT/GET/DELETE_KV_CONFIG,
 * GET_KVLIST_BY_NAMESPACE, QUERY_NOT_FOUND, persistence of the KV file across a
 * restart, and ORDER_TOPIC_CONFIG in routes (orderMessageEnable) and in the
 * REGISTER_BROKER reply, a corrupt or unwritable KV file (docs/wire.md §4.1, §4.4,
 * §4.6, §2.9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ns_common.h"

static void put_kv(int fd, const char *nsp, const char *key, const char *val)
{
    char ext[512];
    snprintf(ext, sizeof ext, "\"key\":\"%s\",\"namespace\":\"%s\",\"value\":\"%s\"", key, nsp,
             val);
    nt_expect(fd, 100, 409, ext, NULL, 0, 0);
}

static void get_kv_is(int fd, const char *nsp, const char *key, const char *val)
{
    char ext[512];
    snprintf(ext, sizeof ext, "\"key\":\"%s\",\"namespace\":\"%s\"", key, nsp);
    kite_cmd r;
    nt_req(fd, 101, 409, ext, NULL, 0, &r);
    assert_int_equal(r.code, 0);
    assert_non_null(kite_cmd_ext(&r, "value"));
    assert_string_equal(kite_cmd_ext(&r, "value"), val);
    kite_cmd_free(&r);
}

static void get_kv_missing(int fd, const char *nsp, const char *key)
{
    char ext[512], remark[512];
    snprintf(ext, sizeof ext, "\"key\":\"%s\",\"namespace\":\"%s\"", key, nsp);
    kite_cmd r;
    nt_req(fd, 101, 409, ext, NULL, 0, &r);
    assert_int_equal(r.code, 22);
    snprintf(remark, sizeof remark, "No config item, Namespace: %s Key: %s", nsp, key);
    assert_string_equal(r.remark, remark);
    assert_null(kite_cmd_ext(&r, "value"));
    kite_cmd_free(&r);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_kv_and_restart(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int q = nt_conn(d);

    put_kv(q, "ns1", "k1", "v1");
    put_kv(q, "ns1", "k2", "v2");
    put_kv(q, "ns1", "k0", "with space & \\\"quote\\\"");
    put_kv(q, "ns2", "a", "b");
    get_kv_is(q, "ns1", "k1", "v1");
    get_kv_is(q, "ns1", "k0", "with space & \"quote\"");
    get_kv_missing(q, "ns1", "nope");
    get_kv_missing(q, "nsX", "k1");
    /* Overwrite. */
    put_kv(q, "ns1", "k2", "v2b");
    get_kv_is(q, "ns1", "k2", "v2b");
    nt_expect_body(
        q, 219, "\"namespace\":\"ns1\"",
        "{\"table\":{\"k0\":\"with space & \\\"quote\\\"\",\"k1\":\"v1\",\"k2\":\"v2b\"}}");
    nt_expect_body(q, 219, "\"namespace\":\"ns2\"", "{\"table\":{\"a\":\"b\"}}");

    /* Delete; a missing namespace lists as QUERY_NOT_FOUND. */
    nt_expect(q, 102, 409, "\"key\":\"k2\",\"namespace\":\"ns1\"", NULL, 0, 0);
    get_kv_missing(q, "ns1", "k2");
    nt_expect(q, 102, 409, "\"key\":\"k2\",\"namespace\":\"ns1\"", NULL, 0, 0); /* again: still 0 */
    nt_expect(q, 102, 409, "\"key\":\"a\",\"namespace\":\"ns2\"", NULL, 0, 0);
    kite_cmd r;
    nt_req(q, 219, 409, "\"namespace\":\"ns2\"", NULL, 0, &r);
    assert_int_equal(r.code, 22);
    kite_cmd_free(&r);
    nt_expect(q, 219, 409, "\"namespace\":\"none\"", NULL, 0, 22);

    /* Missing fields. */
    nt_req(q, 100, 409, "\"namespace\":\"ns1\",\"value\":\"v\"", NULL, 0, &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "namespace or key is null");
    kite_cmd_free(&r);
    nt_req(q, 101, 409, "\"namespace\":\"ns1\"", NULL, 0, &r);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.remark, "key"));
    kite_cmd_free(&r);

    /* Order config, persisted; routes show it only with orderMessageEnable=true. */
    put_kv(q, "ORDER_TOPIC_CONFIG", "TopicO", "broker-a:4");
    int b = nt_conn(d);
    char t[512], body[1024];
    nt_topic_json(t, sizeof t, "TopicO", 4, 6);
    nt_body_json(body, sizeof body, 1, t);
    nt_register(b, "C1", "broker-a", 0, "10.10.0.1:10911", "10.10.0.1:10912", body, &r);
    assert_string_equal(kt_body(&r), "{\"table\":{\"TopicO\":\"broker-a:4\"}}");
    kite_cmd_free(&r);
    const char *bd =
        "{\"brokerAddrs\":{\"0\":\"10.10.0.1:10911\"},\"brokerName\":\"broker-a\",\"cluster\":\"C1\","
        "\"enableActingMaster\":false}";
    const char *qd =
        "{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4}";
    char want[1024];
    snprintf(want, sizeof want,
             "{\"brokerDatas\":[%s],\"filterServerTable\":{},\"queueDatas\":[%s]}", bd, qd);
    nt_expect_route(q, "TopicO", 479, "", want);

    /* The file on disk, Java's kvConfig.json shape. */
    char path[700];
    snprintf(path, sizeof path, "%s/kvConfig.json", d->dir);
    const char *text = read_file(path);
    assert_non_null(text);
    assert_string_equal(
        text,
        "{\"configTable\":{\"ORDER_TOPIC_CONFIG\":{\"TopicO\":\"broker-a:4\"},\"ns1\":{\"k0\":"
        "\"with space & \\\"quote\\\"\",\"k1\":\"v1\"}}}");

    /* Restart on the same directory (same KV file), now with orderMessageEnable. */
    nt_close(q);
    nt_close(b);
    nt_restart(d, "orderMessageEnable=true");
    q = nt_conn(d);
    b = nt_conn(d);
    get_kv_is(q, "ns1", "k1", "v1");
    get_kv_is(q, "ns1", "k0", "with space & \"quote\"");
    get_kv_missing(q, "ns1", "k2");
    get_kv_missing(q, "ns2", "a");
    get_kv_is(q, "ORDER_TOPIC_CONFIG", "TopicO", "broker-a:4");
    /* Routes are not persisted: the topic is unknown until the broker registers again. */
    assert_int_equal(nt_route_code(q, "TopicO"), 17);
    nt_register(b, "C1", "broker-a", 0, "10.10.0.1:10911", "10.10.0.1:10912", body, &r);
    assert_string_equal(kt_body(&r), "{\"table\":{\"TopicO\":\"broker-a:4\"}}");
    kite_cmd_free(&r);
    snprintf(
        want, sizeof want,
        "{\"brokerDatas\":[%s],\"filterServerTable\":{},\"orderTopicConf\":\"broker-a:4\",\"queueDatas\":[%s]}",
        bd, qd);
    nt_expect_route(q, "TopicO", 479, "", want);
    /* Bare-key flavour carries it too. */
    nt_route(q, "TopicO", 300, "", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(kt_body(&r), ",\"orderTopicConf\":\"broker-a:4\","));
    kite_cmd_free(&r);

    /* Deleting the order config removes it from routes and from registration replies. */
    nt_expect(q, 102, 409, "\"key\":\"TopicO\",\"namespace\":\"ORDER_TOPIC_CONFIG\"", NULL, 0, 0);
    snprintf(want, sizeof want,
             "{\"brokerDatas\":[%s],\"filterServerTable\":{},\"queueDatas\":[%s]}", bd, qd);
    nt_expect_route(q, "TopicO", 479, "", want);
    nt_register(b, "C1", "broker-a", 0, "10.10.0.1:10911", "10.10.0.1:10912", body, &r);
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);
    text = read_file(path);
    assert_non_null(text);
    assert_string_equal(
        text, "{\"configTable\":{\"ns1\":{\"k0\":\"with space & \\\"quote\\\"\",\"k1\":\"v1\"}}}");
}

/* returnOrderTopicConfigToBroker=false: no table in the registration reply. */
static void test_no_order_config_to_broker(void **st)
{
    (void)st;
    kt_daemon *d = nt_start("returnOrderTopicConfigToBroker=false");
    int q = nt_conn(d);
    put_kv(q, "ORDER_TOPIC_CONFIG", "TopicO", "broker-a:4");
    char t[512], body[1024];
    nt_topic_json(t, sizeof t, "TopicO", 4, 6);
    nt_body_json(body, sizeof body, 1, t);
    kite_cmd r;
    nt_register(q, "C1", "broker-a", 0, "10.11.0.1:10911", "10.11.0.1:10912", body, &r);
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);
}

/* A corrupt KV file stops the start (exit 1, reason logged) instead of being
 * silently replaced; a KV path that cannot be written makes PUT answer code 1 and the
 * daemon keeps serving. */
static void test_corrupt_and_unwritable_kv(void **st)
{
    (void)st;
    kt_daemon *d = nt_slot();
    kt_mkdtemp("namesrv", d->dir, sizeof d->dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/kvConfig.json", d->dir);
    kt_write_file(path, "{\"configTable\":{\"ns1\":{\"k1\":");
    assert_int_not_equal(nt_try_start(d, NULL), 0);
    const char *log = read_file(d->log);
    assert_non_null(log);
    assert_non_null(strstr(log, "corrupt"));
    /* The file was not overwritten. */
    assert_string_equal(read_file(path), "{\"configTable\":{\"ns1\":{\"k1\":");

    /* kvConfigPath in a directory that does not exist yet: created on the first PUT. */
    kt_daemon *e = nt_slot();
    kt_mkdtemp("namesrv", e->dir, sizeof e->dir);
    char extra[800], kvdir[700];
    snprintf(kvdir, sizeof kvdir, "%s/kvdir", e->dir);
    snprintf(extra, sizeof extra, "kvConfigPath=%s/sub/kv.json", kvdir);
    assert_int_equal(nt_try_start(e, extra), 0);
    int q = nt_conn(e);
    put_kv(q, "n", "k", "v");
    snprintf(path, sizeof path, "%s/sub/kv.json", kvdir);
    assert_string_equal(read_file(path), "{\"configTable\":{\"n\":{\"k\":\"v\"}}}");
    /* Now make it unwritable: the directory becomes a regular file. */
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && touch '%s'", kvdir, kvdir);
    assert_int_equal(system(cmd), 0);
    kite_cmd c;
    nt_req(q, 100, 409, "\"key\":\"k2\",\"namespace\":\"n\",\"value\":\"v2\"", NULL, 0, &c);
    assert_int_equal(c.code, 1);
    assert_non_null(c.remark);
    kite_cmd_free(&c);
    nt_expect(q, 206, 409, "", NULL, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_and_restart, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_no_order_config_to_broker, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_and_unwritable_kv, nt_setup, nt_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
