/* test_systopic.c - unit tests for src/codec/systopic.h: the reserved names keep the
 * spelling the Java brokers and clients use, and the derived names are built and
 * recognised exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "codec/systopic.h"
#include <string.h>

static void test_prefix_lengths_match(void **st)
{
    (void)st;
    assert_int_equal(strlen(KITE_RETRY_PREFIX), KITE_RETRY_PREFIX_LEN);
    assert_int_equal(strlen(KITE_DLQ_PREFIX), KITE_DLQ_PREFIX_LEN);
    assert_int_equal(strlen(KITE_SYS_GROUP_PREFIX), KITE_SYS_GROUP_PREFIX_LEN);
    assert_true(kite_is_sys_group(KITE_GROUP_TRANS));
    assert_false(kite_is_sys_group("CID_RMQ_SY"));
    assert_false(kite_is_sys_group("my-group"));
}

static void test_retry_and_dlq_names(void **st)
{
    (void)st;
    char b[64];
    assert_int_equal(kite_retry_topic(b, sizeof b, "g1"), 9);
    assert_string_equal(b, "%RETRY%g1"); /* the '%' of the prefix is not a format */
    assert_true(kite_is_retry_topic(b));
    assert_false(kite_is_dlq_topic(b));
    assert_int_equal(kite_dlq_topic(b, sizeof b, "g1"), 7);
    assert_string_equal(b, "%DLQ%g1");
    assert_true(kite_is_dlq_topic(b));
    assert_false(kite_is_retry_topic(b));
    assert_false(kite_is_retry_topic("%RETRY"));
    assert_false(kite_is_retry_topic("TopicTest"));
    assert_int_equal(kite_reply_topic(b, sizeof b, "DefaultCluster"), 26);
    assert_string_equal(b, "DefaultCluster_REPLY_TOPIC");
    /* Too small: truncated and NUL-terminated, and the length says so. */
    char small[8];
    volatile size_t cap = sizeof small; /* not a constant: the truncation is the point */
    assert_true(kite_retry_topic(small, cap, "group") >= (int)sizeof small);
    assert_string_equal(small, "%RETRY%");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_lengths_match),
        cmocka_unit_test(test_retry_and_dlq_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
