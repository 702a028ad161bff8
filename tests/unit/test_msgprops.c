/* test_msgprops.c - unit tests for src/codec/msgprops: reading a message properties string
 * by Java's rules, the one writer (append), and copying without some keys - with and
 * without the trailing 0x02, and from empty input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/err.h"
#include "codec/msgprops.h"
#include <string.h>

/* out's content as a C string ("" when empty), with 0x01 shown as '=' and 0x02 as ';'. */
static const char *shown(kite_buf *out)
{
    static char s[512];
    size_t n = out->len < sizeof s - 1 ? out->len : sizeof s - 1;
    for (size_t i = 0; i < n; i++)
        s[i] = out->data[i] == 1 ? '=' : out->data[i] == 2 ? ';' : out->data[i];
    s[n] = 0;
    return s;
}

static void test_get_java_rules(void **st)
{
    (void)st;
    const char *p = "TAGS\001TagA\002KEYS\001a b\002TAGS\001TagB\002";
    size_t vl;
    const char *v = kite_msgprop_get(p, strlen(p), "TAGS", &vl);
    assert_non_null(v);
    assert_int_equal(vl, 4);
    assert_memory_equal(v, "TagB", 4); /* the last duplicate wins */
    v = kite_msgprop_get(p, strlen(p), "KEYS", &vl);
    assert_memory_equal(v, "a b", 3);
    assert_null(kite_msgprop_get(p, strlen(p), "TAG", &vl));
    /* Empty names and values and pieces without 0x01 are ignored; no trailing 0x02 is fine. */
    const char *odd = "\001x\002E\001\002junk\002K\001v";
    assert_null(kite_msgprop_get(odd, strlen(odd), "E", &vl));
    v = kite_msgprop_get(odd, strlen(odd), "K", &vl);
    assert_non_null(v);
    assert_int_equal(vl, 1);
    static const char *const names[] = { "K", "E", "junk" };
    const char *vals[3];
    size_t lens[3];
    kite_msgprop_scan(odd, strlen(odd), names, 3, vals, lens);
    assert_memory_equal(vals[0], "v", 1);
    assert_null(vals[1]);
    assert_null(vals[2]);
    assert_null(kite_msgprop_get("", 0, "K", &vl));
    /* The iterator yields exactly what Java keeps, in order. */
    size_t pos = 0, nl;
    const char *n;
    assert_int_equal(kite_msgprop_next(odd, strlen(odd), &pos, &n, &nl, &v, &vl), 1);
    assert_int_equal(nl, 1);
    assert_memory_equal(n, "K", 1);
    assert_memory_equal(v, "v", 1);
    assert_int_equal(pos, strlen(odd));
    assert_int_equal(kite_msgprop_next(odd, strlen(odd), &pos, &n, &nl, &v, &vl), 0);
}

static void test_append(void **st)
{
    (void)st;
    kite_buf b = KITE_BUF_INIT;
    assert_int_equal(kite_msgprop_append(&b, "TAGS", "TagA", 4), KITE_OK);
    assert_int_equal(kite_msgprop_append_str(&b, "KEYS", "k1 k2"), KITE_OK);
    assert_int_equal(kite_msgprop_append_i64(&b, "DELAY", -3), KITE_OK);
    assert_int_equal(kite_msgprop_append(&b, "EMPTY", "", 0), KITE_OK);
    assert_string_equal(shown(&b), "TAGS=TagA;KEYS=k1 k2;DELAY=-3;EMPTY=;");
    /* Separators inside a name or value, or an empty name: refused, nothing written. */
    size_t before = b.len;
    assert_int_equal(kite_msgprop_append(&b, "X", "a\001b", 3), KITE_EINVAL);
    assert_int_equal(kite_msgprop_append(&b, "X", "a\002b", 3), KITE_EINVAL);
    assert_int_equal(kite_msgprop_append_str(&b, "N\002", "v"), KITE_EINVAL);
    assert_int_equal(kite_msgprop_append_str(&b, "", "v"), KITE_EINVAL);
    assert_int_equal(b.len, before);
    size_t vl;
    assert_memory_equal(kite_msgprop_get(b.data, b.len, "DELAY", &vl), "-3", 2);
    kite_buf_free(&b);
}

static void test_append_after_missing_trailing_separator(void **st)
{
    (void)st;
    /* A sender may leave the last 0x02 out; appending must not extend its last value. */
    kite_buf b = KITE_BUF_INIT;
    kite_buf_puts(&b, "TAGS\001a\002KEYS\001k");
    assert_int_equal(kite_msgprop_append_str(&b, "REAL_QID", "3"), KITE_OK);
    assert_string_equal(shown(&b), "TAGS=a;KEYS=k;REAL_QID=3;");
    size_t vl;
    const char *v = kite_msgprop_get(b.data, b.len, "KEYS", &vl);
    assert_int_equal(vl, 1);
    assert_memory_equal(v, "k", 1);
    kite_buf_free(&b);
}

static void test_copy_without(void **st)
{
    (void)st;
    static const char *const drop[] = { "REAL_TOPIC", "REAL_QID", NULL };
    const char *in = "REAL_TOPIC\001t\002TAGS\001a\002REAL_QID\0010\002KEYS\001k\002";
    kite_buf b = KITE_BUF_INIT;
    kite_msgprop_copy_without(in, strlen(in), drop, &b);
    assert_string_equal(shown(&b), "TAGS=a;KEYS=k;");
    /* Input without its trailing 0x02: the last kept piece gets one, so appends are safe. */
    kite_buf_reset(&b);
    const char *open_end = "TAGS\001a\002REAL_QID\0010\002KEYS\001k";
    kite_msgprop_copy_without(open_end, strlen(open_end), drop, &b);
    assert_string_equal(shown(&b), "TAGS=a;KEYS=k;");
    kite_msgprop_append_str(&b, "X", "1");
    assert_string_equal(shown(&b), "TAGS=a;KEYS=k;X=1;");
    /* A dropped key last, without 0x02; a name that only starts like a dropped one stays;
     * pieces Java ignores are kept byte for byte, empty pieces are not. */
    kite_buf_reset(&b);
    const char *tricky = "REAL_TOPICS\001keep\002\002junk\002REAL_QID\0017";
    kite_msgprop_copy_without(tricky, strlen(tricky), drop, &b);
    assert_string_equal(shown(&b), "REAL_TOPICS=keep;junk;");
    /* An empty drop list copies everything. */
    static const char *const none[] = { NULL };
    kite_buf_reset(&b);
    kite_msgprop_copy_without(in, strlen(in), none, &b);
    assert_int_equal(b.len, strlen(in));
    assert_memory_equal(b.data, in, b.len);
    kite_buf_free(&b);
}

static void test_empty_input(void **st)
{
    (void)st;
    static const char *const drop[] = { "TAGS", NULL };
    kite_buf b = KITE_BUF_INIT;
    kite_msgprop_copy_without("", 0, drop, &b);
    assert_int_equal(b.len, 0); /* nothing in, nothing out: no lone 0x02 */
    kite_msgprop_copy_without("TAGS\001a\002", 7, drop, &b);
    assert_int_equal(b.len, 0); /* everything dropped */
    assert_int_equal(kite_msgprop_append_str(&b, "K", "v"), KITE_OK);
    assert_string_equal(shown(&b), "K=v;"); /* no separator before the first property */
    kite_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_java_rules),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_append_after_missing_trailing_separator),
        cmocka_unit_test(test_copy_without),
        cmocka_unit_test(test_empty_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
