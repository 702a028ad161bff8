/* test_json.c - unit tests for src/base/json.c: the tolerant reader (fastjson extensions,
 * rejections, depth limit, escapes, integer accessors) and the compact writer (commas,
 * key styles, escaping, doubles, byte-for-byte round trips of golden bodies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/err.h"
#include "base/json.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kt.h"

/* Golden bodies: the examples of docs/wire.md §2.2, §2.3 and §1.2, and an offset table
 * with object keys as in §2.1. */
static const char *const k_route =
    "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"192.168.0.10:10911\",1:\"192.168.0.11:10911\"},"
    "\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\",\"enableActingMaster\":false}],"
    "\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,"
    "\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4}]}";
static const char *const k_cluster =
    "{\"brokerAddrTable\":{\"broker-a\":{\"brokerAddrs\":{0:\"192.168.0.10:10911\"},"
    "\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\",\"enableActingMaster\":false}},"
    "\"clusterAddrTable\":{\"DefaultCluster\":[\"broker-a\"]}}";
static const char *const k_offsets =
    "{\"offsetTable\":{{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"T\"}:"
    "{\"brokerOffset\":10,\"consumerOffset\":7,\"lastTimestamp\":1700000000000}},\"consumeTps\":0.5}";
static const char *const k_header =
    "{\"code\":105,\"extFields\":{\"topic\":\"TopicTest\"},\"flag\":0,\"language\":\"JAVA\","
    "\"opaque\":7,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":479}";

static kite_json_doc *parse_ok(const char *s)
{
    char err[128];
    kite_json_doc *d = kite_json_parse(s, strlen(s), err, sizeof err);
    if (!d) fail_msg("parse of '%s' failed: %s", s, err);
    return d;
}

static void expect_reject(const char *s, size_t len, const char *reason)
{
    char err[128] = "untouched";
    kite_json_doc *d = kite_json_parse(s, len, err, sizeof err);
    if (d) {
        kite_json_doc_free(d);
        fail_msg("'%.*s' was accepted", (int)len, s);
    }
    assert_true(strncmp(err, "offset ", 7) == 0);
    if (reason && !strstr(err, reason))
        fail_msg("'%.*s': error '%s' lacks '%s'", (int)len, s, err, reason);
}

#define REJECT(lit, reason) expect_reject(lit, sizeof(lit) - 1, reason)

/* Parses s, writes it back with flags and compares with expect (NULL = s). */
static void roundtrip(const char *s, int flags, const char *expect)
{
    kite_json_doc *d = parse_ok(s);
    kite_buf b = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &b, flags);
    kite_jw_node(&w, kite_json_root(d));
    assert_int_equal(w.error, 0);
    assert_int_equal(w.depth, 0);
    assert_string_equal(kite_buf_cstr(&b), expect ? expect : s);
    kite_buf_free(&b);
    kite_json_doc_free(d);
}

static void test_golden_roundtrip(void **st)
{
    (void)st;
    roundtrip(k_route, 0, NULL);
    roundtrip(k_cluster, 0, NULL);
    roundtrip(k_offsets, 0, NULL);
    roundtrip(k_header, 0, NULL);
    roundtrip(k_route, KITE_JW_ASCII, NULL);
    /* the standard-JSON form of the route (quoted keys) round-trips too */
    roundtrip("{\"brokerAddrs\":{\"0\":\"a\",\"1\":\"b\"}}", 0, NULL);
}

static void test_golden_content(void **st)
{
    (void)st;
    kite_json_doc *d = parse_ok(k_route);
    const kite_json *r = kite_json_root(d);
    assert_int_equal(r->type, KJ_OBJECT);
    assert_int_equal(r->count, 3);
    const kite_json *bd = kite_json_at(kite_json_get(r, "brokerDatas"), 0);
    assert_non_null(bd);
    const kite_json *addrs = kite_json_get(bd, "brokerAddrs");
    assert_int_equal(addrs->count, 2);
    assert_int_equal(addrs->members[0].key->type, KJ_NUMBER);
    assert_int_equal(addrs->members[0].key->bare, 1);
    assert_string_equal(kite_json_get_str(addrs, "0", NULL), "192.168.0.10:10911");
    assert_string_equal(kite_json_get_str(addrs, "1", NULL), "192.168.0.11:10911");
    int64_t id = -1;
    assert_int_equal(kite_json_int64(addrs->members[1].key, &id), 0);
    assert_int_equal(id, 1);
    assert_int_equal(kite_json_get_bool(bd, "enableActingMaster", 1), 0);
    assert_string_equal(kite_json_get_str(bd, "cluster", NULL), "DefaultCluster");
    assert_int_equal(kite_json_get(r, "filterServerTable")->type, KJ_OBJECT);
    assert_int_equal(kite_json_get(r, "filterServerTable")->count, 0);
    const kite_json *qd = kite_json_at(kite_json_get(r, "queueDatas"), 0);
    assert_int_equal(kite_json_get_int32(qd, "perm", 0), 6);
    assert_int_equal(kite_json_get_int32(qd, "writeQueueNums", 0), 4);
    assert_null(kite_json_at(kite_json_get(r, "queueDatas"), 1));
    kite_json_doc_free(d);

    d = parse_ok(k_offsets);
    r = kite_json_root(d);
    const kite_json *tab = kite_json_get(r, "offsetTable");
    assert_int_equal(tab->count, 1);
    const kite_json *mq = tab->members[0].key;
    assert_int_equal(mq->type, KJ_OBJECT);
    assert_string_equal(kite_json_get_str(mq, "topic", NULL), "T");
    assert_int_equal(kite_json_get_int32(mq, "queueId", -1), 0);
    assert_int_equal(kite_json_get_int64(tab->members[0].value, "lastTimestamp", 0),
                     1700000000000LL);
    assert_string_equal(kite_json_get(r, "consumeTps")->text, "0.5");
    kite_json_doc_free(d);

    d = parse_ok(k_header);
    r = kite_json_root(d);
    assert_int_equal(kite_json_get_int32(r, "code", 0), 105);
    assert_int_equal(kite_json_get_int32(r, "version", 0), 479);
    assert_string_equal(kite_json_get_str(kite_json_get(r, "extFields"), "topic", ""), "TopicTest");
    assert_null(kite_json_get(r, "remark"));
    assert_string_equal(kite_json_get_str(r, "remark", "dflt"), "dflt");
    kite_json_doc_free(d);
}

static void test_extensions(void **st)
{
    (void)st;
    /* bare numeric keys, incl. negative */
    kite_json_doc *d = parse_ok("{0:\"a\",1:\"b\",-12:\"c\"}");
    const kite_json *r = kite_json_root(d);
    assert_int_equal(r->count, 3);
    assert_string_equal(kite_json_get_str(r, "-12", NULL), "c");
    assert_string_equal(kite_json_get_str(r, "0", NULL), "a");
    kite_json_doc_free(d);
    /* bare identifier keys */
    d = parse_ok("{ topic : 'T', $x_1:2, _y:true }");
    r = kite_json_root(d);
    assert_int_equal(r->members[0].key->type, KJ_STRING);
    assert_int_equal(r->members[0].key->bare, 1);
    assert_string_equal(kite_json_get_str(r, "topic", NULL), "T");
    assert_int_equal(kite_json_get_int32(r, "$x_1", 0), 2);
    assert_int_equal(kite_json_get_bool(r, "_y", 0), 1);
    kite_json_doc_free(d);
    /* single-quoted keys and values, with embedded quotes of the other kind */
    d = parse_ok("{'a':'it\\'s \"q\"','b':\"x'y\"}");
    r = kite_json_root(d);
    assert_int_equal(r->members[0].key->bare, 0);
    assert_string_equal(kite_json_get_str(r, "a", NULL), "it's \"q\"");
    assert_string_equal(kite_json_get_str(r, "b", NULL), "x'y");
    kite_json_doc_free(d);
    /* trailing commas */
    d = parse_ok("{\"a\":[1,2,],\"b\":{\"c\":1,},}");
    r = kite_json_root(d);
    assert_int_equal(r->count, 2);
    assert_int_equal(kite_json_get(r, "a")->count, 2);
    kite_json_doc_free(d);
    /* object and array keys */
    d = parse_ok("{{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}:5,[1,2]:6}");
    r = kite_json_root(d);
    assert_int_equal(r->members[0].key->type, KJ_OBJECT);
    assert_int_equal(r->members[1].key->type, KJ_ARRAY);
    assert_null(kite_json_get(r, "brokerName"));
    kite_json_doc_free(d);
    /* surrounding whitespace, a BOM, scalars at the root */
    d = parse_ok(" \t\r\n {\"a\" : 1 } \n");
    kite_json_doc_free(d);
    d = parse_ok("\xEF\xBB\xBF[]");
    kite_json_doc_free(d);
    d = parse_ok("\"s\"");
    assert_string_equal(kite_json_root(d)->text, "s");
    kite_json_doc_free(d);
    d = parse_ok("-1.5e+3");
    assert_string_equal(kite_json_root(d)->text, "-1.5e+3");
    kite_json_doc_free(d);
    d = parse_ok("null");
    assert_int_equal(kite_json_root(d)->type, KJ_NULL);
    kite_json_doc_free(d);
    /* control characters inside strings are tolerated */
    d = parse_ok("\"a\tb\nc\x01\"");
    assert_int_equal(kite_json_root(d)->len, 6);
    kite_json_doc_free(d);
}

static void test_rejections(void **st)
{
    (void)st;
    REJECT("", "empty");
    REJECT("   \n", "empty");
    expect_reject(NULL, 0, "empty");
    REJECT("\"abc", "unterminated string");
    REJECT("'abc", "unterminated string");
    REJECT("\"abc\\\"", "unterminated string");
    REJECT("\"a\\", "unterminated string");
    REJECT("{\"a\":1} x", "after the value");
    REJECT("[1] [2]", "after the value");
    REJECT("1 2", "after the value");
    REJECT("\"\\x\"", "invalid escape");
    REJECT("\"\\u12\"", "invalid \\u escape");
    REJECT("\"\\u12g4\"", "invalid \\u escape");
    REJECT("{", NULL);
    REJECT("[", NULL);
    REJECT("[1,", NULL);
    REJECT("[1 2]", "expected ','");
    REJECT("{\"a\" 1}", "expected ':'");
    REJECT("{\"a\":}", NULL);
    REJECT("{,}", "expected a key");
    REJECT("[,]", NULL);
    REJECT("[1,,]", NULL);
    REJECT("{\"a\":1,,}", NULL);
    REJECT("{\"a\":1", "unterminated object");
    REJECT("[1", "unterminated array");
    REJECT("tru", NULL);
    REJECT("truex", NULL);
    REJECT("nul", NULL);
    REJECT("-", "invalid number");
    REJECT("1.", "invalid number");
    REJECT(".5", NULL);
    REJECT("1e", "invalid number");
    REJECT("1e+", "invalid number");
    REJECT("NaN", NULL);
    REJECT("{a b:1}", "expected ':'");
    REJECT("{@:1}", "expected a key");
    REJECT("]", NULL);
    REJECT("\x00", NULL);
    /* the error message has the offset */
    char err[64];
    assert_null(kite_json_parse("[1,x]", 5, err, sizeof err));
    assert_string_equal(err, "offset 3: unexpected character");
    /* tiny or absent error buffers are fine */
    assert_null(kite_json_parse("[1,x]", 5, err, 4));
    assert_string_equal(err, "off");
    assert_null(kite_json_parse("[1,x]", 5, NULL, 0));
    /* len is authoritative: a valid prefix of a longer buffer */
    kite_json_doc *d = kite_json_parse("[1]garbage", 3, err, sizeof err);
    assert_non_null(d);
    kite_json_doc_free(d);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

static void test_depth(void **st)
{
    (void)st;
    char err[128];
    char *s = repeat('[', 10000);
    assert_null(kite_json_parse(s, 10000, err, sizeof err));
    assert_non_null(strstr(err, "too deep"));
    free(s);
    s = repeat('{', 10000);
    assert_null(kite_json_parse(s, 10000, err, sizeof err));
    free(s);
    /* nested object keys count as depth too */
    kite_buf b = KITE_BUF_INIT;
    for (int i = 0; i < 10000; i++) kite_buf_puts(&b, "{");
    assert_null(kite_json_parse(b.data, b.len, err, sizeof err));
    kite_buf_reset(&b);
    for (int i = 0; i < 200; i++) kite_buf_puts(&b, "{{");
    assert_null(kite_json_parse(b.data, b.len, err, sizeof err));
    kite_buf_free(&b);

    /* exactly KITE_JSON_MAX_DEPTH levels are accepted, one more is not */
    char ok[2 * KITE_JSON_MAX_DEPTH + 3];
    size_t n = 0;
    for (int i = 0; i < KITE_JSON_MAX_DEPTH; i++) ok[n++] = '[';
    for (int i = 0; i < KITE_JSON_MAX_DEPTH; i++) ok[n++] = ']';
    ok[n] = 0;
    kite_json_doc *d = kite_json_parse(ok, n, err, sizeof err);
    assert_non_null(d);
    /* and the writer can write it back */
    kite_jw w;
    kite_buf_init(&b);
    kite_jw_init(&w, &b, 0);
    kite_jw_node(&w, kite_json_root(d));
    assert_int_equal(w.error, 0);
    assert_string_equal(kite_buf_cstr(&b), ok);
    kite_buf_free(&b);
    kite_json_doc_free(d);
    char deep[2 * KITE_JSON_MAX_DEPTH + 3];
    n = 0;
    for (int i = 0; i <= KITE_JSON_MAX_DEPTH; i++) deep[n++] = '[';
    for (int i = 0; i <= KITE_JSON_MAX_DEPTH; i++) deep[n++] = ']';
    assert_null(kite_json_parse(deep, n, err, sizeof err));
    /* an object key at the limit */
    kite_buf_init(&b);
    for (int i = 0; i < KITE_JSON_MAX_DEPTH - 1; i++) kite_buf_puts(&b, "{\"a\":");
    kite_buf_puts(&b, "{{}:1}");
    for (int i = 0; i < KITE_JSON_MAX_DEPTH - 1; i++) kite_buf_puts(&b, "}");
    assert_null(kite_json_parse(b.data, b.len, err, sizeof err));
    kite_buf_free(&b);
}

static void test_int64(void **st)
{
    (void)st;
    kite_json_doc *d = parse_ok("[9223372036854775807,-9223372036854775808,9223372036854775808,"
                                "-9223372036854775809,\"123\",\"-45\",\"+7\",\"12a\",\"\",1.5,1e3,"
                                "true,null,\"9223372036854775807\",-0,007,2147483648,-2147483648,"
                                "99999999999999999999999]");
    const kite_json *r = kite_json_root(d);
    int64_t v;
    int32_t v32;
    assert_int_equal(kite_json_int64(kite_json_at(r, 0), &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(kite_json_int64(kite_json_at(r, 1), &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(kite_json_int64(kite_json_at(r, 2), &v), KITE_EINVAL);
    assert_int_equal(kite_json_int64(kite_json_at(r, 3), &v), KITE_EINVAL);
    assert_int_equal(kite_json_int64(kite_json_at(r, 4), &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(kite_json_int64(kite_json_at(r, 5), &v), 0);
    assert_int_equal(v, -45);
    assert_int_equal(kite_json_int64(kite_json_at(r, 6), &v), 0);
    assert_int_equal(v, 7);
    for (size_t i = 7; i <= 12; i++)
        assert_int_equal(kite_json_int64(kite_json_at(r, i), &v), KITE_EINVAL);
    assert_int_equal(kite_json_int64(kite_json_at(r, 13), &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(kite_json_int64(kite_json_at(r, 14), &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(kite_json_int64(kite_json_at(r, 15), &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(kite_json_int32(kite_json_at(r, 16), &v32), KITE_EINVAL);
    assert_int_equal(kite_json_int32(kite_json_at(r, 17), &v32), 0);
    assert_true(v32 == INT32_MIN);
    assert_int_equal(kite_json_int64(kite_json_at(r, 18), &v), KITE_EINVAL);
    assert_int_equal(kite_json_int64(NULL, &v), KITE_EINVAL);
    /* numbers keep their source text */
    assert_string_equal(kite_json_at(r, 18)->text, "99999999999999999999999");
    assert_string_equal(kite_json_at(r, 10)->text, "1e3");
    kite_json_doc_free(d);

    d = parse_ok("{\"a\":\"5\",\"b\":\"x\",\"c\":9223372036854775807}");
    r = kite_json_root(d);
    assert_int_equal(kite_json_get_int64(r, "a", -1), 5);
    assert_int_equal(kite_json_get_int64(r, "b", -1), -1);
    assert_int_equal(kite_json_get_int64(r, "zz", 42), 42);
    assert_true(kite_json_get_int64(r, "c", 0) == INT64_MAX);
    assert_int_equal(kite_json_get_int32(r, "c", 3), 3);
    assert_int_equal(kite_json_get_int64(NULL, "a", 9), 9);
    kite_json_doc_free(d);
}

static void test_bool_str_scalar(void **st)
{
    (void)st;
    kite_json_doc *d =
        parse_ok("[true,false,\"true\",\"false\",1,0,2,\"TRUE\",null,\"s\\u0000t\",{},[]]");
    const kite_json *r = kite_json_root(d);
    int b = -1;
    assert_int_equal(kite_json_bool(kite_json_at(r, 0), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(kite_json_bool(kite_json_at(r, 1), &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(kite_json_bool(kite_json_at(r, 2), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(kite_json_bool(kite_json_at(r, 3), &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(kite_json_bool(kite_json_at(r, 4), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(kite_json_bool(kite_json_at(r, 5), &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(kite_json_bool(kite_json_at(r, 6), &b), KITE_EINVAL);
    assert_int_equal(kite_json_bool(kite_json_at(r, 7), &b), KITE_EINVAL);
    assert_int_equal(kite_json_bool(kite_json_at(r, 8), &b), KITE_EINVAL);
    size_t len = 0;
    assert_null(kite_json_str(kite_json_at(r, 0), &len));
    const char *s = kite_json_str(kite_json_at(r, 9), &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "s\0t", 4); /* NUL inside, NUL-terminated */
    assert_non_null(kite_json_str(kite_json_at(r, 9), NULL));

    kite_buf out = KITE_BUF_INIT;
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(kite_json_scalar_text(kite_json_at(r, i), &out), 0);
        kite_buf_putc(&out, '|');
    }
    static const char want[] = "true|false|true|false|1|0|2|TRUE||s\0t|";
    assert_int_equal(out.len, sizeof want - 1);
    assert_memory_equal(out.data, want, out.len);
    size_t before = out.len;
    assert_int_equal(kite_json_scalar_text(kite_json_at(r, 10), &out), KITE_EINVAL);
    assert_int_equal(kite_json_scalar_text(kite_json_at(r, 11), &out), KITE_EINVAL);
    assert_int_equal(out.len, before);
    kite_buf_free(&out);
    assert_null(kite_json_get(r, "0")); /* not an object */
    kite_json_doc_free(d);
}

static void test_escapes(void **st)
{
    (void)st;
    kite_json_doc *d =
        parse_ok("[\"\\u0001\\u0002\",\"\\ud83d\\ude00\",\"\\\"\\\\\\/\\b\\f\\n\\r\\t\","
                 "\"\\ud83d\",\"\\ude00x\",\"\\ud83dA\",\"\\u00e9\\u4e2d\",\"\\uD83D\\uDE00\"]");
    const kite_json *r = kite_json_root(d);
    assert_int_equal(kite_json_at(r, 0)->len, 2);
    assert_memory_equal(kite_json_at(r, 0)->text, "\x01\x02", 2);
    assert_string_equal(kite_json_at(r, 1)->text, "\xF0\x9F\x98\x80");
    assert_string_equal(kite_json_at(r, 2)->text, "\"\\/\b\f\n\r\t");
    assert_string_equal(kite_json_at(r, 3)->text, "\xEF\xBF\xBD");  /* lone high */
    assert_string_equal(kite_json_at(r, 4)->text, "\xEF\xBF\xBDx"); /* lone low */
    assert_string_equal(kite_json_at(r, 5)->text, "\xEF\xBF\xBD"
                                                  "A"); /* high + non-low */
    assert_string_equal(kite_json_at(r, 6)->text, "\xC3\xA9\xE4\xB8\xAD");
    assert_string_equal(kite_json_at(r, 7)->text, "\xF0\x9F\x98\x80");

    kite_buf b = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &b, 0);
    kite_jw_node(&w, r);
    assert_string_equal(kite_buf_cstr(&b),
                        "[\"\\u0001\\u0002\",\"\xF0\x9F\x98\x80\",\"\\\"\\\\/\\b\\f\\n\\r\\t\","
                        "\"\xEF\xBF\xBD\",\"\xEF\xBF\xBDx\",\"\xEF\xBF\xBD"
                        "A\",\"\xC3\xA9\xE4\xB8\xAD\","
                        "\"\xF0\x9F\x98\x80\"]");
    kite_buf_reset(&b);
    kite_jw_init(&w, &b, KITE_JW_ASCII);
    kite_jw_node(&w, r);
    assert_string_equal(
        kite_buf_cstr(&b),
        "[\"\\u0001\\u0002\",\"\\ud83d\\ude00\",\"\\\"\\\\/\\b\\f\\n\\r\\t\","
        "\"\\ufffd\",\"\\ufffdx\",\"\\ufffdA\",\"\\u00e9\\u4e2d\",\"\\ud83d\\ude00\"]");
    kite_buf_free(&b);
    kite_json_doc_free(d);

    /* the writer's own escaping style round-trips exactly, in both modes */
    roundtrip("[\"\\u0001\\u001f\\u0000\\\"\\\\\\n\\t\\r\\b\\f\x7f/\"]", 0, NULL);
    roundtrip("[\"\\u0001\\ud83d\\ude00\\u00e9\"]", KITE_JW_ASCII, NULL);
    /* other spellings normalise to it */
    roundtrip("['\\u001F\\/\\'']", 0, "[\"\\u001f/'\"]");

    /* ASCII mode replaces invalid UTF-8 bytes with U+FFFD */
    kite_buf_init(&b);
    kite_json_quote(&b, "a\xFF\xC3(\xE4\xB8", 6, KITE_JW_ASCII);
    assert_string_equal(kite_buf_cstr(&b), "\"a\\ufffd\\ufffd(\\ufffd\\ufffd\"");
    kite_buf_reset(&b);
    kite_json_quote(&b, "a\xFF", 2, 0); /* raw mode passes bytes through */
    assert_string_equal(kite_buf_cstr(&b), "\"a\xFF\"");
    kite_buf_reset(&b);
    kite_json_quote(&b, "\xED\xA0\x80", 3, KITE_JW_ASCII); /* encoded surrogate is invalid */
    assert_string_equal(kite_buf_cstr(&b), "\"\\ufffd\\ufffd\\ufffd\"");
    kite_buf_free(&b);
}

static void test_duplicates(void **st)
{
    (void)st;
    kite_json_doc *d = parse_ok("{\"a\":1,\"b\":2,a:3,\"a\":4,{\"a\":5}:6}");
    const kite_json *r = kite_json_root(d);
    assert_int_equal(r->count, 5);
    assert_int_equal(kite_json_get_int32(r, "a", 0), 4);
    assert_int_equal(kite_json_get_int32(r, "b", 0), 2);
    kite_json_doc_free(d);
    d = parse_ok("{1:\"x\",\"1\":\"y\"}");
    assert_string_equal(kite_json_get_str(kite_json_root(d), "1", NULL), "y");
    kite_json_doc_free(d);
}

static void test_writer_commas(void **st)
{
    (void)st;
    kite_buf b = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &b, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "a");
    kite_jw_int(&w, 1);
    kite_jw_key(&w, "arr");
    kite_jw_arr_begin(&w);
    kite_jw_int(&w, 1);
    kite_jw_obj_begin(&w);
    kite_jw_obj_end(&w);
    kite_jw_arr_begin(&w);
    kite_jw_arr_end(&w);
    kite_jw_str(&w, "s");
    kite_jw_null(&w);
    kite_jw_bool(&w, 1);
    kite_jw_bool(&w, 0);
    kite_jw_arr_end(&w);
    kite_jw_key(&w, "m");
    kite_jw_obj_begin(&w);
    kite_jw_key_int(&w, 0, 0);
    kite_jw_str(&w, "x");
    kite_jw_key_int(&w, -5, 0);
    kite_jw_str(&w, "y");
    kite_jw_key_int(&w, 7, 1);
    kite_jw_int(&w, INT64_MIN);
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "t");
    kite_jw_obj_begin(&w);
    kite_jw_key_obj_begin(&w);
    kite_jw_key(&w, "brokerName");
    kite_jw_str(&w, "b");
    kite_jw_key(&w, "queueId");
    kite_jw_int(&w, 0);
    kite_jw_key_obj_end(&w);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "o");
    kite_jw_int(&w, INT64_MAX);
    kite_jw_obj_end(&w);
    kite_jw_key_obj_begin(&w);
    kite_jw_key_obj_end(&w);
    kite_jw_raw(&w, "[1,2]", 5);
    kite_jw_obj_end(&w);
    kite_jw_key_n(&w, "k\"ey", 3);
    kite_jw_str_n(&w, "abc", 2);
    kite_jw_obj_end(&w);
    assert_int_equal(w.error, 0);
    assert_int_equal(w.depth, 0);
    const char *expect =
        "{\"a\":1,\"arr\":[1,{},[],\"s\",null,true,false],\"m\":{0:\"x\",-5:\"y\",\"7\":"
        "-9223372036854775808},\"t\":{{\"brokerName\":\"b\",\"queueId\":0}:{\"o\":9223372036854775807},"
        "{}:[1,2]},\"k\\\"e\":\"ab\"}";
    assert_string_equal(kite_buf_cstr(&b), expect);
    /* and the reader takes the writer's output */
    roundtrip(expect, 0, NULL);

    /* top-level scalars and arrays of arrays */
    kite_buf_reset(&b);
    kite_jw_init(&w, &b, 0);
    kite_jw_arr_begin(&w);
    kite_jw_arr_begin(&w);
    kite_jw_int(&w, 1);
    kite_jw_arr_end(&w);
    kite_jw_arr_begin(&w);
    kite_jw_int(&w, 2);
    kite_jw_int(&w, 3);
    kite_jw_arr_end(&w);
    kite_jw_arr_end(&w);
    assert_string_equal(kite_buf_cstr(&b), "[[1],[2,3]]");
    kite_buf_free(&b);
}

static void test_writer_misuse(void **st)
{
    (void)st;
    kite_buf b = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &b, 0);
    kite_jw_obj_end(&w); /* nothing open */
    assert_int_equal(w.error, 1);
    assert_int_equal(b.len, 0);

    kite_jw_init(&w, &b, 0);
    kite_jw_obj_begin(&w);
    kite_jw_int(&w, 1); /* value without key */
    assert_int_equal(w.error, 1);
    kite_buf_reset(&b);

    kite_jw_init(&w, &b, 0);
    kite_jw_arr_begin(&w);
    kite_jw_key(&w, "k"); /* key in an array */
    assert_int_equal(w.error, 1);
    kite_buf_reset(&b);

    /* depth overflow: flagged, the brackets still balance */
    kite_jw_init(&w, &b, 0);
    for (int i = 0; i < KITE_JSON_MAX_DEPTH + 5; i++) kite_jw_arr_begin(&w);
    assert_int_equal(w.error, 1);
    for (int i = 0; i < KITE_JSON_MAX_DEPTH + 5; i++) kite_jw_arr_end(&w);
    assert_int_equal(w.depth, 0);
    assert_int_equal(b.len, 2 * (KITE_JSON_MAX_DEPTH + 5));
    kite_buf_free(&b);
}

static void dbl(double v, const char *expect)
{
    kite_buf b = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &b, 0);
    kite_jw_double(&w, v);
    assert_string_equal(kite_buf_cstr(&b), expect);
    if (strcmp(expect, "null") != 0) assert_true(strtod(b.data, NULL) == v);
    kite_buf_free(&b);
}

static void test_doubles(void **st)
{
    (void)st;
    dbl(0.5, "0.5");
    dbl(123.25, "123.25");
    dbl(0.1, "0.1");
    dbl(1.0 / 3, "0.3333333333333333");
    dbl(100.0, "100");
    dbl(0.0, "0");
    dbl(-0.0, "-0");
    dbl(-2.5, "-2.5");
    dbl(1e20, "100000000000000000000");
    dbl(1e21, "1e+21");
    dbl(1.5e300, "1.5e+300");
    dbl(0.000001, "0.000001");
    dbl(1e-7, "1e-7");
    dbl(1.25e-10, "1.25e-10");
    dbl(5e-324, "5e-324");
    dbl(1.7976931348623157e308, "1.7976931348623157e+308");
    dbl(9007199254740993.0, "9007199254740992");
    dbl(0.1 + 0.2, "0.30000000000000004");
    dbl(NAN, "null");
    dbl(INFINITY, "null");
    dbl(-INFINITY, "null");
    /* commas apply to doubles like any value */
    kite_buf b = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &b, 0);
    kite_jw_arr_begin(&w);
    kite_jw_double(&w, 1.5);
    kite_jw_double(&w, NAN);
    kite_jw_arr_end(&w);
    assert_string_equal(kite_buf_cstr(&b), "[1.5,null]");
    kite_buf_free(&b);
}

static void test_quote(void **st)
{
    (void)st;
    kite_buf b = KITE_BUF_INIT;
    kite_json_quote(&b, "", 0, 0);
    kite_json_quote(&b,
                    "a\x01"
                    "b\x1f\x7f",
                    5, 0);
    assert_string_equal(kite_buf_cstr(&b), "\"\"\"a\\u0001b\\u001f\x7f\"");
    kite_buf_free(&b);
}

static void test_many_nodes(void **st)
{
    (void)st;
    /* enough nodes to need several arena blocks and a grown child stack */
    kite_buf b = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &b, 0);
    kite_jw_obj_begin(&w);
    for (int i = 0; i < 20000; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%d", i);
        kite_jw_key(&w, k);
        kite_jw_arr_begin(&w);
        kite_jw_int(&w, i);
        kite_jw_str(&w, "a somewhat longer string value to fill the arena");
        kite_jw_arr_end(&w);
    }
    kite_jw_obj_end(&w);
    char err[128];
    kite_json_doc *d = kite_json_parse(b.data, b.len, err, sizeof err);
    assert_non_null(d);
    const kite_json *r = kite_json_root(d);
    assert_int_equal(r->count, 20000);
    assert_int_equal(kite_json_get_int32(kite_json_get(r, "key19999"), "x", 5), 5);
    int64_t v;
    assert_int_equal(kite_json_int64(kite_json_at(kite_json_get(r, "key12345"), 0), &v), 0);
    assert_int_equal(v, 12345);
    kite_buf out = KITE_BUF_INIT;
    kite_jw_init(&w, &out, 0);
    kite_jw_node(&w, r);
    assert_int_equal(out.len, b.len);
    assert_memory_equal(out.data, b.data, b.len);
    kite_buf_free(&out);
    kite_buf_free(&b);
    kite_json_doc_free(d);
    kite_json_doc_free(NULL);
    assert_null(kite_json_root(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_roundtrip),
        cmocka_unit_test(test_golden_content),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_int64),
        cmocka_unit_test(test_bool_str_scalar),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_writer_commas),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_many_nodes),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
