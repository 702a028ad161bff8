/* test_base.c - unit tests for src/base: CRC-32 (Java-equal values), buffers, errors, log levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/crc32.h"
#include "base/err.h"
#include "base/log.h"
#include <errno.h>
#include <stdlib.h>
#include "kt.h"

static void test_crc32_known_values(void **st)
{
    (void)st;
    /* java.util.zip.CRC32 of "123456789" is 0xCBF43926 (the standard check value). */
    assert_int_equal(kite_crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(kite_crc32_masked("123456789", 9), 0x4BF43926u);
    assert_int_equal(kite_crc32("", 0), 0);
    assert_int_equal(kite_crc32_masked("", 0), 0);
}

static void test_buf_grow_and_be(void **st)
{
    (void)st;
    kite_buf b = KITE_BUF_INIT;
    for (int i = 0; i < 1000; i++) kite_buf_put_be32(&b, (uint32_t)i);
    assert_int_equal(b.len, 4000);
    assert_int_equal(kite_rd_be32(b.data + 4 * 999), 999);
    kite_buf_put_be16(&b, 0xABCD);
    kite_buf_put_be64(&b, 0x0102030405060708ULL);
    assert_int_equal(kite_rd_be16(b.data + 4000), 0xABCD);
    assert_true(kite_rd_be64(b.data + 4002) == 0x0102030405060708ULL);
    b.rpos = 4000;
    kite_buf_compact(&b);
    assert_int_equal(b.len, 10);
    assert_int_equal((unsigned char)b.data[0], 0xAB);
    kite_buf_reset(&b);
    kite_buf_printf(&b, "%s-%d", "x", 42);
    for (int i = 0; i < 100; i++) kite_buf_printf(&b, "%0300d", i);
    assert_int_equal(b.len, 4 + 30000);
    assert_memory_equal(kite_buf_cstr(&b), "x-42", 4);
    size_t n;
    char *p = kite_buf_steal(&b, &n);
    assert_int_equal(n, 30004);
    assert_null(b.data);
    free(p);
    kite_buf_free(&b);
}

static void test_errors_and_levels(void **st)
{
    (void)st;
    assert_string_equal(kite_strerror(KITE_ENOSPC), "no space left on device");
    assert_int_equal(kite_status_from_errno(ENOSPC), KITE_ENOSPC);
    assert_int_equal(kite_status_from_errno(EIO), KITE_EIO);
    assert_int_equal(kite_log_parse_level("WARN"), KITE_LOG_WARN);
    assert_int_equal(kite_log_parse_level("nope"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_known_values),
        cmocka_unit_test(test_buf_grow_and_be),
        cmocka_unit_test(test_errors_and_levels),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
