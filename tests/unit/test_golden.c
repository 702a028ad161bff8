/* test_golden.c - decodes the hand-transcribed golden cases in tests/golden and
 * re-encodes them; the bytes must come back identical. Also checks decoded fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "golden.h"
#include "proto/bodies.h"
#include "proto/cmd.h"
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <stdio.h>
#include "kt.h"

static void load(const char *name, kite_buf *b)
{
    kite_buf_init(b);
    assert_int_equal(kt_golden_load(name, b), 0);
    assert_true(b->len > 0);
}

static void roundtrip_frame(const char *name, kite_cmd *out)
{
    kite_buf g;
    load(name, &g);
    char err[256] = "";
    int r = kite_cmd_decode(out, (const uint8_t *)g.data, g.len, KITE_FRAME_MAX_DEFAULT, err,
                            sizeof err);
    if (r) fprintf(stderr, "%s: %s\n", name, err);
    assert_int_equal(r, 0);
    kite_buf enc = KITE_BUF_INIT;
    kite_cmd_encode(out, &enc);
    assert_int_equal(enc.len, g.len);
    assert_memory_equal(enc.data, g.data, g.len);
    kite_buf_free(&enc);
    kite_buf_free(&g);
}

static void test_route_request_json(void **st)
{
    (void)st;
    kite_cmd c;
    roundtrip_frame("route_request_json.frame", &c);
    assert_int_equal(c.serialize, KITE_SER_JSON);
    assert_int_equal(c.code, 105);
    assert_int_equal(c.opaque, 7);
    assert_int_equal(c.version, 479);
    assert_int_equal(c.flag, 0);
    assert_string_equal(kite_cmd_ext(&c, "topic"), "TopicTest");
    assert_null(c.remark);
    assert_int_equal(c.body_len, 0);
    kite_cmd_free(&c);
}

static void test_route_request_bin(void **st)
{
    (void)st;
    kite_cmd c;
    roundtrip_frame("route_request_bin.frame", &c);
    assert_int_equal(c.serialize, KITE_SER_ROCKETMQ);
    assert_int_equal(c.code, 105);
    assert_int_equal(c.language, 0);
    assert_int_equal(c.opaque, 7);
    assert_int_equal(c.version, 479);
    assert_string_equal(kite_cmd_ext(&c, "topic"), "TopicTest");
    kite_cmd_free(&c);
}

static void test_pull_response_json(void **st)
{
    (void)st;
    kite_cmd c;
    roundtrip_frame("pull_response_json.frame", &c);
    assert_true(kite_cmd_is_response(&c));
    assert_string_equal(c.remark, "FOUND");
    int64_t v;
    assert_int_equal(kite_cmd_ext_i64(&c, "nextBeginOffset", &v), 0);
    assert_int_equal(v, 32);
    assert_int_equal(kite_cmd_ext_i64(&c, "maxOffset", &v), 0);
    assert_int_equal(v, 40);
    assert_int_equal(c.n_ext, 4);
    kite_cmd_free(&c);
}

/* Both header forms of the same request decode to the same command; re-encoding the
 * binary one as JSON gives the JSON golden (and vice versa). */
static void test_cross_serialization(void **st)
{
    (void)st;
    kite_buf gj, gb;
    load("route_request_json.frame", &gj);
    load("route_request_bin.frame", &gb);
    kite_cmd c;
    char err[128];
    assert_int_equal(
        kite_cmd_decode(&c, (uint8_t *)gb.data, gb.len, KITE_FRAME_MAX_DEFAULT, err, sizeof err),
        0);
    c.serialize = KITE_SER_JSON;
    kite_buf enc = KITE_BUF_INIT;
    kite_cmd_encode(&c, &enc);
    assert_int_equal(enc.len, gj.len);
    assert_memory_equal(enc.data, gj.data, gj.len);
    kite_cmd_free(&c);
    assert_int_equal(
        kite_cmd_decode(&c, (uint8_t *)gj.data, gj.len, KITE_FRAME_MAX_DEFAULT, err, sizeof err),
        0);
    c.serialize = KITE_SER_ROCKETMQ;
    kite_buf_reset(&enc);
    kite_cmd_encode(&c, &enc);
    assert_int_equal(enc.len, gb.len);
    assert_memory_equal(enc.data, gb.data, gb.len);
    kite_cmd_free(&c);
    kite_buf_free(&enc);
    kite_buf_free(&gj);
    kite_buf_free(&gb);
}

static void route_roundtrip(const char *name, int standard)
{
    kite_buf g;
    load(name, &g);
    kite_route_data r;
    char err[128];
    assert_int_equal(kite_route_decode(&r, g.data, g.len, err, sizeof err), 0);
    assert_int_equal(r.n_brokers, 1);
    assert_int_equal(r.brokers[0].n_addrs, 2);
    assert_int_equal(r.brokers[0].addrs[1].id, 1);
    assert_string_equal(r.brokers[0].addrs[1].addr, "192.168.0.11:10911");
    assert_string_equal(r.brokers[0].cluster, "DefaultCluster");
    assert_int_equal(r.n_queues, 1);
    assert_int_equal(r.queues[0].perm, 6);
    assert_int_equal(r.queues[0].write_queue_nums, 4);
    kite_buf enc = KITE_BUF_INIT;
    kite_route_encode(&r, standard, &enc);
    assert_int_equal(enc.len, g.len);
    assert_memory_equal(enc.data, g.data, g.len);
    kite_route_free(&r);
    kite_buf_free(&enc);
    kite_buf_free(&g);
}

static void test_route_bare(void **st)
{
    (void)st;
    route_roundtrip("route_bare.json", 0);
}
static void test_route_std(void **st)
{
    (void)st;
    route_roundtrip("route_std.json", 1);
}

static void test_cluster_info(void **st)
{
    (void)st;
    kite_buf g;
    load("cluster_info.json", &g);
    kite_cluster_info c;
    char err[128];
    assert_int_equal(kite_cluster_decode(&c, g.data, g.len, err, sizeof err), 0);
    assert_int_equal(c.n_brokers, 1);
    assert_int_equal(c.n_clusters, 1);
    assert_string_equal(c.clusters[0].cluster, "DefaultCluster");
    assert_string_equal(c.clusters[0].broker_names[0], "broker-a");
    kite_buf enc = KITE_BUF_INIT;
    kite_cluster_encode(&c, &enc);
    assert_int_equal(enc.len, g.len);
    assert_memory_equal(enc.data, g.data, g.len);
    kite_cluster_free(&c);
    kite_buf_free(&enc);
    kite_buf_free(&g);
}

static void test_register_compressed(void **st)
{
    (void)st;
    kite_buf raw;
    load("register_compressed.raw", &raw);
    uLongf zl = compressBound((uLong)raw.len);
    unsigned char *z = malloc(zl);
    assert_int_equal(compress2(z, &zl, (const Bytef *)raw.data, (uLong)raw.len, 9), Z_OK);
    kite_register_body b;
    char err[128];
    assert_int_equal(kite_register_body_decode(&b, z, zl, 1, 1 << 20, err, sizeof err), 0);
    assert_true(b.has_dv);
    assert_int_equal(b.dv.counter, 3);
    assert_true(b.dv.timestamp == 1700000000000LL);
    assert_int_equal(b.n_topics, 2);
    assert_string_equal(b.topics[0].topic_name, "TopicTest");
    assert_int_equal(b.topics[0].read_queue_nums, 4);
    assert_int_equal(b.topics[0].perm, 6);
    assert_string_equal(b.topics[1].topic_name, "%RETRY%cg");
    assert_int_equal(b.topics[1].write_queue_nums, 1);
    /* Re-encode compressed, inflate, compare with the golden inflated content. */
    kite_buf enc = KITE_BUF_INIT;
    kite_register_body_encode(&b, 1, &enc);
    unsigned char *back = malloc(raw.len + 64);
    uLongf bl = raw.len + 64;
    assert_int_equal(uncompress(back, &bl, (const Bytef *)enc.data, (uLong)enc.len), Z_OK);
    assert_int_equal(bl, raw.len);
    assert_memory_equal(back, raw.data, raw.len);
    /* Truncated and corrupted streams are errors, not crashes. */
    kite_register_body_free(&b);
    assert_int_equal(kite_register_body_decode(&b, z, zl / 2, 1, 1 << 20, err, sizeof err),
                     KITE_ECORRUPT);
    z[zl / 2] ^= 0x55;
    assert_int_equal(kite_register_body_decode(&b, z, zl, 1, 1 << 20, err, sizeof err),
                     KITE_ECORRUPT);
    free(back);
    free(z);
    kite_buf_free(&enc);
    kite_buf_free(&raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_request_json), cmocka_unit_test(test_route_request_bin),
        cmocka_unit_test(test_pull_response_json), cmocka_unit_test(test_cross_serialization),
        cmocka_unit_test(test_route_bare),         cmocka_unit_test(test_route_std),
        cmocka_unit_test(test_cluster_info),       cmocka_unit_test(test_register_compressed),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
