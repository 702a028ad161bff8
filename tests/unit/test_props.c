/* test_props.c - unit tests for src/base/props.c: Java .properties syntax (comments,
 * separators, continuations, escapes, duplicates) and typed config tables (defaults,
 * set/apply, unknown keys, malformed values, range checks, print/get). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/err.h"
#include "base/log.h"
#include "base/props.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kt.h"

static void parse(kite_props *p, const char *text)
{
    kite_props_init(p);
    assert_int_equal(kite_props_parse(p, text, strlen(text)), 0);
}

static void test_comments_and_separators(void **st)
{
    (void)st;
    kite_props p;
    parse(&p, "# a comment\n"
              "! another comment\n"
              "   # indented comment\n"
              "\n"
              "   \t\n"
              "a=1\n"
              "b = 2\n"
              "c:3\n"
              "d : 4\n"
              "e 5\n"
              "f\t\t6\n"
              "  g=  7  \n"
              "h\n"
              "i=\n"
              "j = = x\n"
              "k:=y\n"
              "url=http://host:8080/a=b\n"
              "# x=hidden\n"
              "last=end");
    assert_string_equal(kite_props_get(&p, "a"), "1");
    assert_string_equal(kite_props_get(&p, "b"), "2");
    assert_string_equal(kite_props_get(&p, "c"), "3");
    assert_string_equal(kite_props_get(&p, "d"), "4");
    assert_string_equal(kite_props_get(&p, "e"), "5");
    assert_string_equal(kite_props_get(&p, "f"), "6");
    assert_string_equal(kite_props_get(&p, "g"), "7"); /* trailing blanks trimmed */
    assert_string_equal(kite_props_get(&p, "h"), "");
    assert_string_equal(kite_props_get(&p, "i"), "");
    assert_string_equal(kite_props_get(&p, "j"), "= x"); /* only one separator is eaten */
    assert_string_equal(kite_props_get(&p, "k"), "=y");
    assert_string_equal(kite_props_get(&p, "url"), "http://host:8080/a=b");
    assert_string_equal(kite_props_get(&p, "last"), "end");
    assert_null(kite_props_get(&p, "x"));
    assert_null(kite_props_get(&p, "# a comment"));
    assert_int_equal(p.count, 13);
    kite_props_free(&p);
    assert_int_equal(p.count, 0);
}

static void test_line_endings_and_continuations(void **st)
{
    (void)st;
    kite_props p;
    parse(&p, "a=1\r\n"
              "b=2\r"
              "list=x,\\\n"
              "     y,\\\r\n"
              "\t z\n"
              "two=back\\\\\n"
              "three=cont\\\\\\\n"
              "  inued\n"
              "# comment \\\n"
              "notcontinued=1\n"
              "key\\\n"
              "  part=v\n"
              "empty=\\\n"
              "\n"
              "eof=tail\\");
    assert_string_equal(kite_props_get(&p, "a"), "1");
    assert_string_equal(kite_props_get(&p, "b"), "2");
    assert_string_equal(kite_props_get(&p, "list"), "x,y,z");
    assert_string_equal(kite_props_get(&p, "two"), "back\\");
    assert_string_equal(kite_props_get(&p, "three"), "cont\\inued");
    assert_string_equal(kite_props_get(&p, "notcontinued"), "1");
    assert_string_equal(kite_props_get(&p, "keypart"), "v");
    assert_string_equal(kite_props_get(&p, "empty"), "");
    assert_string_equal(kite_props_get(&p, "eof"), "tail");
    kite_props_free(&p);
}

static void test_escapes(void **st)
{
    (void)st;
    kite_props p;
    parse(&p, "tabs=a\\tb\\nc\\rd\\fe\n"
              "uni=\\u0041\\u00e9\\u4E2D\\ud83d\\ude00\n"
              "bad=\\u12x\n"
              "lone=\\ud83d!\n"
              "k\\=ey=v1\n"
              "k\\:2=v2\n"
              "sp\\ ace=v3\n"
              "other=\\q\\\\\n"
              "keep=x\\ \n"
              "\\#notcomment=v4\n");
    assert_string_equal(kite_props_get(&p, "tabs"), "a\tb\nc\rd\fe");
    assert_string_equal(kite_props_get(&p, "uni"), "A\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
    assert_string_equal(kite_props_get(&p, "bad"), "u12x");
    assert_string_equal(kite_props_get(&p, "lone"), "\xEF\xBF\xBD!");
    assert_string_equal(kite_props_get(&p, "k=ey"), "v1");
    assert_string_equal(kite_props_get(&p, "k:2"), "v2");
    assert_string_equal(kite_props_get(&p, "sp ace"), "v3");
    assert_string_equal(kite_props_get(&p, "other"), "q\\");
    assert_string_equal(kite_props_get(&p, "keep"), "x "); /* escaped blank survives trim */
    assert_string_equal(kite_props_get(&p, "#notcomment"), "v4");
    kite_props_free(&p);
}

static void test_duplicates_and_set(void **st)
{
    (void)st;
    kite_props p;
    parse(&p, "a=1\nb=2\na=3\n");
    assert_int_equal(p.count, 2);
    assert_string_equal(kite_props_get(&p, "a"), "3");
    kite_props_parse(&p, "b=4\nc=5", 7); /* a second parse adds and overwrites */
    assert_string_equal(kite_props_get(&p, "b"), "4");
    assert_string_equal(kite_props_get(&p, "c"), "5");
    kite_props_set(&p, "a", "set");
    kite_props_set(&p, "d", "new");
    assert_string_equal(kite_props_get(&p, "a"), "set");
    assert_string_equal(kite_props_get(&p, "d"), "new");
    assert_int_equal(p.count, 4);
    /* many keys grow the arrays */
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%d", i);
        kite_props_set(&p, k, k);
    }
    assert_string_equal(kite_props_get(&p, "k99"), "k99");
    assert_int_equal(p.count, 104);
    kite_props_free(&p);
    /* empty input */
    parse(&p, "");
    assert_int_equal(p.count, 0);
    kite_props_free(&p);
}

static void test_load_file(void **st)
{
    (void)st;
    char path[] = "/tmp/test_props_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "listenPort=10911\nbrokerName = broker-a\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    kite_props p;
    kite_props_init(&p);
    char err[256];
    assert_int_equal(kite_props_load_file(&p, path, err, sizeof err), 0);
    assert_string_equal(kite_props_get(&p, "brokerName"), "broker-a");
    unlink(path);
    assert_int_equal(kite_props_load_file(&p, path, err, sizeof err), KITE_ENOTFOUND);
    assert_non_null(strstr(err, path));
    kite_props_free(&p);
}

/* ---- typed tables ---- */

typedef struct test_cfg {
    char *name;
    char *path;
    int32_t port;
    int32_t neg;
    int64_t big;
    int flag;
    int on;
} test_cfg;

static const kite_prop_def k_defs[] = {
    { "brokerName", KITE_PROP_STR, offsetof(test_cfg, name), "broker-a", "name" },
    { "storePath", KITE_PROP_STR, offsetof(test_cfg, path), NULL, "path" },
    { "listenPort", KITE_PROP_INT, offsetof(test_cfg, port), "10911", "port" },
    { "negative", KITE_PROP_INT, offsetof(test_cfg, neg), "-5", "neg" },
    { "mappedFileSizeCommitLog", KITE_PROP_LONG, offsetof(test_cfg, big), "1073741824", "size" },
    { "autoCreateTopicEnable", KITE_PROP_BOOL, offsetof(test_cfg, flag), NULL, "flag" },
    { "enableX", KITE_PROP_BOOL, offsetof(test_cfg, on), "true", "on" },
    { NULL, KITE_PROP_STR, 0, NULL, NULL },
};

static void test_config_defaults_and_set(void **st)
{
    (void)st;
    test_cfg c;
    memset(&c, 0xAB, sizeof c); /* defaults must not read garbage */
    kite_config_defaults(k_defs, &c);
    assert_string_equal(c.name, "broker-a");
    assert_string_equal(c.path, "");
    assert_int_equal(c.port, 10911);
    assert_int_equal(c.neg, -5);
    assert_int_equal(c.big, 1073741824);
    assert_int_equal(c.flag, 0);
    assert_int_equal(c.on, 1);

    char err[256] = "";
    assert_int_equal(kite_config_set(k_defs, &c, "brokerName", "b2", err, sizeof err), 0);
    assert_string_equal(c.name, "b2");
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", "+8080", err, sizeof err), 0);
    assert_int_equal(c.port, 8080);
    assert_int_equal(kite_config_set(k_defs, &c, "negative", "-2147483648", err, sizeof err), 0);
    assert_true(c.neg == INT32_MIN);
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", "2147483647", err, sizeof err), 0);
    assert_int_equal(c.port, INT32_MAX);
    assert_int_equal(kite_config_set(k_defs, &c, "mappedFileSizeCommitLog", "9223372036854775807",
                                     err, sizeof err),
                     0);
    assert_true(c.big == INT64_MAX);
    assert_int_equal(kite_config_set(k_defs, &c, "mappedFileSizeCommitLog", "-9223372036854775808",
                                     err, sizeof err),
                     0);
    assert_true(c.big == INT64_MIN);
    assert_int_equal(kite_config_set(k_defs, &c, "autoCreateTopicEnable", "TRUE", err, sizeof err),
                     0);
    assert_int_equal(c.flag, 1);
    assert_int_equal(kite_config_set(k_defs, &c, "enableX", "False", err, sizeof err), 0);
    assert_int_equal(c.on, 0);
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", " 42 ", err, sizeof err), 0);
    assert_int_equal(c.port, 42);

    /* unknown key: 1, nothing set */
    assert_int_equal(kite_config_set(k_defs, &c, "nosuchKey", "1", err, sizeof err), 1);
    assert_int_equal(kite_config_set(k_defs, &c, "listenport", "1", err, sizeof err), 1);
    assert_int_equal(c.port, 42);
    kite_config_free(k_defs, &c);
    assert_null(c.name);
    assert_null(c.path);
}

static void test_config_malformed(void **st)
{
    (void)st;
    test_cfg c;
    kite_config_defaults(k_defs, &c);
    char err[256];
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", "abc", err, sizeof err),
                     KITE_EINVAL);
    assert_string_equal(err, "listenPort: 'abc' is not an integer");
    assert_int_equal(c.port, 10911);
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", "", err, sizeof err), KITE_EINVAL);
    assert_string_equal(err, "listenPort: '' is not an integer");
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", "-", err, sizeof err), KITE_EINVAL);
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", "12x", err, sizeof err),
                     KITE_EINVAL);
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", "1.5", err, sizeof err),
                     KITE_EINVAL);
    assert_int_equal(kite_config_set(k_defs, &c, "listenPort", "2147483648", err, sizeof err),
                     KITE_EINVAL);
    assert_string_equal(err, "listenPort: '2147483648' is out of range for a 32-bit integer");
    assert_int_equal(kite_config_set(k_defs, &c, "negative", "-2147483649", err, sizeof err),
                     KITE_EINVAL);
    assert_non_null(strstr(err, "negative: '-2147483649' is out of range"));
    assert_int_equal(
        kite_config_set(k_defs, &c, "listenPort", "99999999999999999999999", err, sizeof err),
        KITE_EINVAL);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(kite_config_set(k_defs, &c, "mappedFileSizeCommitLog", "9223372036854775808",
                                     err, sizeof err),
                     KITE_EINVAL);
    assert_string_equal(err, "mappedFileSizeCommitLog: '9223372036854775808' is out of range for a "
                             "64-bit integer");
    assert_int_equal(kite_config_set(k_defs, &c, "mappedFileSizeCommitLog", "-9223372036854775809",
                                     err, sizeof err),
                     KITE_EINVAL);
    assert_int_equal(kite_config_set(k_defs, &c, "autoCreateTopicEnable", "yes", err, sizeof err),
                     KITE_EINVAL);
    assert_string_equal(err, "autoCreateTopicEnable: 'yes' is not a boolean (true/false)");
    assert_int_equal(kite_config_set(k_defs, &c, "autoCreateTopicEnable", "1", err, sizeof err),
                     KITE_EINVAL);
    assert_int_equal(kite_config_set(k_defs, &c, "autoCreateTopicEnable", "truex", err, sizeof err),
                     KITE_EINVAL);
    assert_int_equal(c.flag, 0);
    assert_int_equal(c.big, 1073741824);
    kite_config_free(k_defs, &c);
}

static void test_config_apply(void **st)
{
    (void)st;
    char logpath[] = "/tmp/test_props_log_XXXXXX";
    int fd = mkstemp(logpath);
    assert_true(fd >= 0);
    close(fd);
    kite_log_set_stderr(0);
    assert_int_equal(kite_log_set_file(logpath), 0);

    test_cfg c;
    kite_config_defaults(k_defs, &c);
    kite_props p;
    parse(&p, "brokerName=broker-b\nlistenPort=20911\nmapedFileSizeCommitLog=1\nenableX=false\n");
    char err[256] = "";
    assert_int_equal(kite_config_apply(k_defs, &c, &p, err, sizeof err), 0);
    assert_string_equal(c.name, "broker-b");
    assert_int_equal(c.port, 20911);
    assert_int_equal(c.on, 0);
    assert_int_equal(c.big, 1073741824); /* the misspelt key changed nothing */
    kite_props_free(&p);

    /* the first malformed value stops it */
    parse(&p, "listenPort=1\nautoCreateTopicEnable=maybe\nnegative=7\n");
    assert_int_equal(kite_config_apply(k_defs, &c, &p, err, sizeof err), KITE_EINVAL);
    assert_string_equal(err, "autoCreateTopicEnable: 'maybe' is not a boolean (true/false)");
    kite_props_free(&p);
    kite_config_free(k_defs, &c);

    kite_log_set_file(NULL);
    kite_log_set_stderr(1);
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    unlink(logpath);
    assert_non_null(strstr(text, "[config]"));
    assert_non_null(strstr(text, "mapedFileSizeCommitLog"));
    assert_non_null(strstr(text, "WARN"));
}

static void test_config_print_get(void **st)
{
    (void)st;
    test_cfg c;
    kite_config_defaults(k_defs, &c);
    char err[256];
    assert_int_equal(kite_config_set(k_defs, &c, "storePath", "/data/store", err, sizeof err), 0);
    assert_int_equal(kite_config_set(k_defs, &c, "mappedFileSizeCommitLog", "-9223372036854775808",
                                     err, sizeof err),
                     0);
    kite_buf b = KITE_BUF_INIT;
    kite_config_print(k_defs, &c, &b);
    assert_string_equal(kite_buf_cstr(&b), "brokerName=broker-a\n"
                                           "storePath=/data/store\n"
                                           "listenPort=10911\n"
                                           "negative=-5\n"
                                           "mappedFileSizeCommitLog=-9223372036854775808\n"
                                           "autoCreateTopicEnable=false\n"
                                           "enableX=true\n");
    kite_buf_reset(&b);
    assert_int_equal(kite_config_get(k_defs, &c, "listenPort", &b), 0);
    assert_string_equal(kite_buf_cstr(&b), "10911");
    kite_buf_reset(&b);
    assert_int_equal(kite_config_get(k_defs, &c, "enableX", &b), 0);
    assert_string_equal(kite_buf_cstr(&b), "true");
    kite_buf_reset(&b);
    assert_int_equal(kite_config_get(k_defs, &c, "nope", &b), KITE_ENOTFOUND);
    assert_int_equal(b.len, 0);
    kite_buf_free(&b);

    /* print output parses back into the same values */
    kite_config_print(k_defs, &c, &b);
    kite_props p;
    parse(&p, kite_buf_cstr(&b));
    test_cfg d;
    kite_config_defaults(k_defs, &d);
    assert_int_equal(kite_config_apply(k_defs, &d, &p, err, sizeof err), 0);
    assert_string_equal(d.path, "/data/store");
    assert_true(d.big == INT64_MIN);
    kite_props_free(&p);
    kite_buf_free(&b);
    kite_config_free(k_defs, &d);
    kite_config_free(k_defs, &c);
}

/* A table with keys this build does not implement: no field, offsets 0 on purpose (a
 * write through them would clobber the first field). */
static const kite_prop_def k_unimpl[] = {
    { "brokerName", KITE_PROP_STR, offsetof(test_cfg, name), "broker-a", "name" },
    { "aclEnable", KITE_PROP_REFUSED, 0, "false", "no ACL here" },
    { "tls.config.file", KITE_PROP_REFUSED, 0, NULL, "no TLS here" },
    { "poolNums", KITE_PROP_IGNORED, 0, NULL, "one thread" },
    { NULL, KITE_PROP_STR, 0, NULL, NULL },
};

static void test_config_unimplemented(void **st)
{
    (void)st;
    char logpath[] = "/tmp/test_props_log_XXXXXX";
    int fd = mkstemp(logpath);
    assert_true(fd >= 0);
    close(fd);
    kite_log_set_stderr(0);
    assert_int_equal(kite_log_set_file(logpath), 0);

    test_cfg c;
    memset(&c, 0, sizeof c);
    kite_config_defaults(k_unimpl, &c);
    assert_string_equal(c.name, "broker-a");
    char err[256] = "";
    /* refused keys accept their one value (any case, blanks trimmed) and set nothing */
    assert_int_equal(kite_config_set(k_unimpl, &c, "aclEnable", " FALSE ", err, sizeof err), 0);
    assert_int_equal(kite_config_set(k_unimpl, &c, "tls.config.file", "", err, sizeof err), 0);
    assert_string_equal(c.name, "broker-a");
    assert_int_equal(kite_config_set(k_unimpl, &c, "aclEnable", "true", err, sizeof err),
                     KITE_EINVAL);
    assert_string_equal(
        err,
        "aclEnable=true is not supported yet (no ACL here); remove the key or set it to false");
    assert_int_equal(kite_config_set(k_unimpl, &c, "tls.config.file", "/x", err, sizeof err),
                     KITE_EINVAL);
    assert_string_equal(
        err,
        "tls.config.file=/x is not supported yet (no TLS here); remove the key or leave it empty");
    /* ignored keys take anything and set nothing */
    assert_int_equal(kite_config_set(k_unimpl, &c, "poolNums", "abc", err, sizeof err), 2);
    assert_string_equal(c.name, "broker-a");

    kite_props p;
    parse(&p, "poolNums=16\nbrokerName=b2\n");
    assert_int_equal(kite_config_apply(k_unimpl, &c, &p, err, sizeof err), 0);
    assert_string_equal(c.name, "b2");
    kite_props_free(&p);
    parse(&p, "brokerName=b3\naclEnable=true\n");
    assert_int_equal(kite_config_apply(k_unimpl, &c, &p, err, sizeof err), KITE_EINVAL);
    assert_non_null(strstr(err, "aclEnable=true"));
    kite_props_free(&p);

    kite_buf b = KITE_BUF_INIT;
    kite_config_print(k_unimpl, &c, &b);
    assert_string_equal(
        kite_buf_cstr(&b),
        "brokerName=b3\n"
        "# Only the value shown is supported by this build; any other value refuses the start.\n"
        "aclEnable=false\n"
        "tls.config.file=\n"
        "# Accepted for compatibility, not implemented: a value set for these has no effect.\n"
        "#poolNums: one thread\n");
    kite_buf_reset(&b);
    assert_int_equal(kite_config_get(k_unimpl, &c, "aclEnable", &b), 0);
    assert_string_equal(kite_buf_cstr(&b), "false");
    kite_buf_reset(&b);
    assert_int_equal(kite_config_get(k_unimpl, &c, "poolNums", &b), KITE_ENOTFOUND);
    kite_buf_free(&b);
    kite_config_free(k_unimpl, &c);

    kite_log_set_file(NULL);
    kite_log_set_stderr(1);
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    unlink(logpath);
    assert_non_null(strstr(text, "poolNums=16 has no effect"));
    assert_non_null(strstr(text, "(one thread)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comments_and_separators),
        cmocka_unit_test(test_line_endings_and_continuations),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_duplicates_and_set),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_config_defaults_and_set),
        cmocka_unit_test(test_config_malformed),
        cmocka_unit_test(test_config_apply),
        cmocka_unit_test(test_config_print_get),
        cmocka_unit_test(test_config_unimplemented),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
