/* test_record.c - unit tests for src/codec/record.c: encode/decode round trips, exact
 * validation of every length, CRC, blank filler, property strings, Java tag hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/crc32.h"
#include "base/err.h"
#include "codec/record.h"
#include <string.h>
#include "kt.h"

static kite_record sample(const char *topic, const char *body, const char *props)
{
    kite_record r;
    memset(&r, 0, sizeof r);
    r.magic = KITE_REC_MAGIC_V1;
    r.queue_id = 3;
    r.flag = 7;
    r.queue_offset = 42;
    r.phys_offset = 123456;
    r.born_ts = 1700000000000LL;
    r.born_addr[0] = 192;
    r.born_addr[1] = 168;
    r.born_addr[2] = 0;
    r.born_addr[3] = 10;
    r.born_port = 5555;
    r.store_ts = 1700000000123LL;
    r.store_addr[0] = 10;
    r.store_addr[3] = 1;
    r.store_port = 10911;
    r.reconsume_times = 2;
    r.body = (const uint8_t *)body;
    r.body_len = (uint32_t)strlen(body);
    r.topic = topic;
    r.topic_len = (uint32_t)strlen(topic);
    r.props = props;
    r.props_len = (uint32_t)strlen(props);
    return r;
}

static void test_roundtrip_v1(void **st)
{
    (void)st;
    kite_record r = sample("TopicTest", "Hello RocketMQ", "TAGS\001TagA\002KEYS\001k1 k2\002");
    uint8_t buf[512];
    size_t n = kite_record_encode(&r, buf, sizeof buf);
    assert_int_equal(n, 91 + 14 + 9 + strlen("TAGS\001TagA\002KEYS\001k1 k2\002"));
    assert_int_equal(kite_rd_be32(buf), n);
    assert_int_equal(kite_rd_be32(buf + 4), KITE_REC_MAGIC_V1);
    assert_int_equal(kite_rd_be64(buf + KITE_REC_OFF_PHYSOFFSET), 123456);
    assert_int_equal(kite_rd_be64(buf + KITE_REC_OFF_STORETS), 1700000000123LL);
    assert_int_equal(buf[KITE_REC_OFF_BORNHOST], 192);
    assert_int_equal(buf[88 + 14], 9); /* topic length right after the body */
    kite_record d;
    const char *why;
    assert_int_equal(kite_record_decode(buf, n, &d, KITE_REC_CHECK_CRC, &why), (int)n);
    assert_int_equal(d.queue_id, 3);
    assert_int_equal(d.flag, 7);
    assert_int_equal(d.queue_offset, 42);
    assert_int_equal(d.store_port, 10911);
    assert_int_equal(d.born_port, 5555);
    assert_int_equal(d.reconsume_times, 2);
    assert_int_equal(d.body_len, 14);
    assert_memory_equal(d.body, "Hello RocketMQ", 14);
    assert_int_equal(d.topic_len, 9);
    assert_memory_equal(d.topic, "TopicTest", 9);
    assert_int_equal(d.body_crc, kite_crc32_masked("Hello RocketMQ", 14));
    /* Any length field that does not add up is rejected. */
    for (size_t cut = 1; cut < n; cut++) {
        int rc = kite_record_decode(buf, n - cut, &d, 0, &why);
        assert_true(rc == KITE_EAGAIN || rc == KITE_ECORRUPT);
    }
}

static void test_validation(void **st)
{
    (void)st;
    kite_record r = sample("T", "body-bytes", "A\001b\002");
    uint8_t buf[256], c[256];
    size_t n = kite_record_encode(&r, buf, sizeof buf);
    kite_record d;
    const char *why;
    /* body CRC */
    memcpy(c, buf, n);
    c[90] ^= 1;
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), (int)n);
    assert_int_equal(kite_record_decode(c, n, &d, KITE_REC_CHECK_CRC, &why), KITE_ECORRUPT);
    assert_non_null(strstr(why, "CRC"));
    /* magic */
    memcpy(c, buf, n);
    c[5] ^= 1;
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    /* body length one too large / small */
    memcpy(c, buf, n);
    kite_wr_be32(c + 84, 11);
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    memcpy(c, buf, n);
    kite_wr_be32(c + 84, 9);
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    /* topic length */
    memcpy(c, buf, n);
    c[88 + 10] = 2;
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    memcpy(c, buf, n);
    c[88 + 10] = 0;
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    /* zeroed topic / props bytes (a torn tail) */
    memcpy(c, buf, n);
    c[88 + 11] = 0;
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    memcpy(c, buf, n);
    c[n - 1] = 0;
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    /* negative properties length */
    memcpy(c, buf, n);
    kite_wr_be16(c + 88 + 10 + 2, 0x8000);
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    /* total size larger than available, and too small */
    memcpy(c, buf, n);
    kite_wr_be32(c, (uint32_t)n + 1);
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_EAGAIN);
    memcpy(c, buf, n);
    kite_wr_be32(c, 20);
    assert_int_equal(kite_record_decode(c, n, &d, 0, &why), KITE_ECORRUPT);
    /* all-zero bytes are not a record */
    memset(c, 0, sizeof c);
    assert_int_equal(kite_record_decode(c, sizeof c, &d, 0, &why), KITE_ECORRUPT);
    /* blank filler */
    kite_record_write_blank(c, 200);
    assert_int_equal(kite_record_decode(c, 200, &d, 0, &why), KITE_ENOTFOUND);
    assert_int_equal(d.total_size, 200);
    /* lengths that cannot be encoded */
    char longtopic[200];
    memset(longtopic, 'x', sizeof longtopic);
    assert_int_equal(kite_record_size(KITE_REC_MAGIC_V1, 0, 0, 128, 0), 0);
    assert_int_equal(kite_record_size(KITE_REC_MAGIC_V1, 0, 0, 127, 0), 91 + 127);
    assert_int_equal(kite_record_size(KITE_REC_MAGIC_V1, 0, 0, 1, 32768), 0);
    assert_int_equal(kite_record_size(KITE_REC_MAGIC_V1,
                                      KITE_SYSFLAG_BORNHOST_V6 | KITE_SYSFLAG_STOREHOST_V6, 0, 1,
                                      0),
                     91 + 24 + 1);
    assert_int_equal(kite_record_size(KITE_REC_MAGIC_V2, 0, 0, 200, 0), 92 + 200);
    r.topic = longtopic;
    r.topic_len = 200;
    assert_int_equal(kite_record_encode(&r, buf, sizeof buf), 0);
}

static void test_ipv6_and_v2(void **st)
{
    (void)st;
    kite_record r = sample("TopicV2", "x", "");
    r.magic = KITE_REC_MAGIC_V2;
    r.sysflag = KITE_SYSFLAG_BORNHOST_V6 | KITE_SYSFLAG_STOREHOST_V6;
    for (int i = 0; i < 16; i++) {
        r.born_addr[i] = (uint8_t)i;
        r.store_addr[i] = (uint8_t)(100 + i);
    }
    uint8_t buf[256];
    size_t n = kite_record_encode(&r, buf, sizeof buf);
    assert_int_equal(n, 91 + 24 + 1 + 1 + 7);
    kite_record d;
    const char *why;
    assert_int_equal(kite_record_decode(buf, n, &d, KITE_REC_CHECK_CRC, &why), (int)n);
    assert_memory_equal(d.born_addr, r.born_addr, 16);
    assert_memory_equal(d.store_addr, r.store_addr, 16);
    assert_int_equal(d.store_ts, r.store_ts);
    assert_int_equal(d.topic_len, 7);
    assert_int_equal(d.props_len, 0);
}

static void test_java_hash(void **st)
{
    (void)st;
    assert_int_equal(kite_java_hash("TagA", 4), 2598919);
    assert_int_equal(kite_java_hash("TagB", 4), 2598920);
    assert_int_equal(kite_java_hash("*", 1), 42);
    assert_int_equal(kite_java_hash("\xe6\xa0\x87\xe7\xad\xbe", 6), 857175); /* 标签 */
    assert_int_equal(kite_java_hash("", 0), 0);
    /* "hello world" in Java is 1794106052; a long string wraps around. */
    assert_int_equal(kite_java_hash("hello world", 11), 1794106052);
    /* U+1F600 is the surrogate pair D83D DE00: 31*0xD83D + 0xDE00 */
    assert_int_equal(kite_java_hash("\xf0\x9f\x98\x80", 4), 31 * 0xD83D + 0xDE00);
    const char *props = "TAGS\001TagA\002";
    assert_int_equal(kite_tag_code(props, strlen(props)), 2598919);
    assert_int_equal(kite_tag_code("", 0), 0);
    /* negative hashes are sign-extended */
    int32_t h = kite_java_hash("zzzzzzzz", 8);
    kite_buf pp = KITE_BUF_INIT;
    assert_int_equal(kite_msgprop_append_str(&pp, "TAGS", "zzzzzzzz"), KITE_OK);
    assert_true(kite_tag_code(pp.data, pp.len) == (int64_t)h);
    kite_buf_free(&pp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_v1),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_ipv6_and_v2),
        cmocka_unit_test(test_java_hash),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
