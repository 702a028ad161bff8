/* test_filter.c - SQL92 property filter: parsing (good and bad expressions, depth
 * limit) and evaluation against properties strings, including SQL's unknown-is-false
 * rule for missing properties and numeric versus string comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "broker/filter.h"
#include <stdlib.h>
#include <string.h>
#include "kt.h"

/* props: "a=1;b=x" style for readability, turned into name 0x01 value 0x02. */
static int match(const char *expr, const char *kvs)
{
    char props[512], err[200];
    size_t n = 0;
    for (const char *p = kvs; *p; p++) props[n++] = *p == '=' ? 1 : *p == ';' ? 2 : *p;
    if (n) props[n++] = 2;
    bk_filter *f = bk_filter_parse(expr, err, sizeof err);
    if (!f) {
        fail_msg("parse failed: %s (%s)", expr, err);
        return -1;
    }
    int r = bk_filter_match(f, props, n);
    bk_filter_free(f);
    return r;
}

static int parses(const char *expr)
{
    char err[200];
    bk_filter *f = bk_filter_parse(expr, err, sizeof err);
    bk_filter_free(f);
    return f != NULL;
}

static void test_comparisons(void **st)
{
    (void)st;
    assert_int_equal(match("a = 1", "a=1"), 1);
    assert_int_equal(match("a = 1", "a=2"), 0);
    assert_int_equal(match("a > 1.5", "a=2"), 1);
    assert_int_equal(match("a >= 2 AND a <= 2", "a=2"), 1);
    assert_int_equal(match("a <> 'x'", "a=y"), 1);
    assert_int_equal(match("a = 'x'", "a=x"), 1);
    assert_int_equal(match("region = 'hz' OR region = 'sh'", "region=sh"), 1);
    assert_int_equal(match("10 < a", "a=11"), 1);
    assert_int_equal(match("a < 10", "a=abc"), 0); /* not a number: unknown */
    assert_int_equal(match("a = 'it''s'", "a=it's"), 1);
    assert_int_equal(match("TRUE", ""), 1);
    assert_int_equal(match("flag = TRUE", "flag=true"), 1);
}

static void test_ranges_sets_nulls(void **st)
{
    (void)st;
    assert_int_equal(match("a BETWEEN 1 AND 5", "a=3"), 1);
    assert_int_equal(match("a BETWEEN 1 AND 5", "a=6"), 0);
    assert_int_equal(match("a NOT BETWEEN 1 AND 5", "a=6"), 1);
    assert_int_equal(match("TAGS IN ('TagA', 'TagB')", "TAGS=TagB"), 1);
    assert_int_equal(match("TAGS NOT IN ('TagA', 'TagB')", "TAGS=TagC"), 1);
    assert_int_equal(match("a IN (1, 2, 3)", "a=2"), 1);
    assert_int_equal(match("a IS NULL", "b=1"), 1);
    assert_int_equal(match("a IS NOT NULL", "a=1"), 1);
    assert_int_equal(match("name CONTAINS 'ell'", "name=hello"), 1);
    assert_int_equal(match("name STARTSWITH 'he'", "name=hello"), 1);
    assert_int_equal(match("name ENDSWITH 'lo'", "name=hello"), 1);
    assert_int_equal(match("name NOT CONTAINS 'x'", "name=hello"), 1);
}

static void test_unknown_logic(void **st)
{
    (void)st;
    assert_int_equal(match("missing = 1", "a=1"), 0);
    assert_int_equal(match("NOT (missing = 1)", "a=1"), 0); /* NOT unknown = unknown */
    assert_int_equal(match("missing = 1 OR a = 1", "a=1"), 1);
    assert_int_equal(match("missing = 1 AND a = 1", "a=1"), 0);
    assert_int_equal(match("(a = 1 OR b = 2) AND NOT c = 3", "a=1;c=4"), 1);
}

static void test_bad_expressions(void **st)
{
    (void)st;
    assert_false(parses(""));
    assert_false(parses("a ="));
    assert_false(parses("a = 'unterminated"));
    assert_false(parses("(a = 1"));
    assert_false(parses("a = 1 garbage"));
    assert_false(parses("a BETWEEN 1"));
    assert_false(parses("a IN 1, 2"));
    assert_false(parses("AND = 1"));
    char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) deep[n++] = '(';
    strcpy(deep + n, "a = 1");
    assert_false(parses(deep)); /* depth limit, no stack exhaustion */
    assert_true(parses("a=1 and B<>2 or not c is null"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_ranges_sets_nulls),
        cmocka_unit_test(test_unknown_logic),
        cmocka_unit_test(test_bad_expressions),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
