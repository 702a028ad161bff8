/* test_base.c - unit tests for src/base: CRC-32 (Java-equal values), buffers, errors, log levels,
 * the log rate limiter, the allocation calls (growth, copies, abort on out-of-memory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/crc32.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/thread.h"
#include "base/time.h"
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
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

/* Lines through the log callback, for the rate-limiter test. */
static int g_lines;
static char g_last[512];
static void count_line(kite_log_level lvl, const char *chan, const char *text, void *opaque)
{
    (void)lvl;
    (void)chan;
    (void)opaque;
    g_lines++;
    snprintf(g_last, sizeof g_last, "%s", text);
}

/* 5,000 lines about bad peers within a second or two: a handful are written, and the
 * next one written says how many were held back. Control: the same calls without the
 * limiter write 5,000 lines. */
static void test_log_rate_limit(void **st)
{
    (void)st;
    kite_log_set_cb(count_line, NULL);
    kite_log_limit lim = KITE_LOG_LIMIT_INIT;
    g_lines = 0;
    for (int i = 0; i < 5000; i++) kite_log_limited(&lim, KITE_LOG_WARN, "test", "bad peer %d", i);
    int first = g_lines;
    assert_true(first >= 1 && first <= 2); /* the calls may straddle a second */
    int64_t next = (kite_mono_ms() / 1000 + 1) * 1000;
    while (kite_mono_ms() < next) kite_sleep_ms(10);
    kite_log_limited(&lim, KITE_LOG_WARN, "test", "bad peer again");
    assert_true(g_lines <= 3);
    assert_non_null(strstr(g_last, "bad peer again ("));
    assert_non_null(strstr(g_last, "similar line(s) not logged)"));
    long held = atol(strstr(g_last, "(") + 1);
    if (first == 1)
        assert_int_equal(held, 4999);
    else
        assert_true(held >= 1 && held < 4999);
    /* Below the level: neither written nor counted. */
    kite_log_set_level(KITE_LOG_ERROR);
    kite_log_limited(&lim, KITE_LOG_WARN, "test", "hidden");
    kite_log_set_level(KITE_LOG_INFO);
    assert_int_equal(atomic_load(&lim.suppressed), 0);
    /* Control: without the limiter every call is a line. */
    g_lines = 0;
    for (int i = 0; i < 5000; i++) kite_log(KITE_LOG_WARN, "test", "bad peer %d", i);
    assert_int_equal(g_lines, 5000);
    /* A burst limiter (changes peers ask for): 20 lines a second, then the count. */
    kite_log_limit burst = KITE_LOG_LIMIT_BURST_INIT(20);
    g_lines = 0;
    for (int i = 0; i < 5000; i++) kite_log_limited(&burst, KITE_LOG_INFO, "test", "change %d", i);
    first = g_lines;
    assert_true(first >= 20 && first <= 40); /* the calls may straddle a second */
    next = (kite_mono_ms() / 1000 + 1) * 1000;
    while (kite_mono_ms() < next) kite_sleep_ms(10);
    kite_log_limited(&burst, KITE_LOG_INFO, "test", "change again");
    held = atol(strstr(g_last, "(") + 1);
    assert_int_equal(first + held, 5000);
    kite_log_set_cb(NULL, NULL);
}

static void test_one_status_space(void **st)
{
    (void)st;
    /* Every code has its own text; KITE_ERR has one meaning (the server refused). */
    for (int a = KITE_EPROTO; a <= KITE_OK; a++) {
        assert_string_not_equal(kite_strerror(a), "unknown status");
        for (int b = KITE_EPROTO; b < a; b++)
            assert_string_not_equal(kite_strerror(a), kite_strerror(b));
    }
    assert_string_equal(kite_strerror(KITE_ERR), "refused by the server");
    assert_string_equal(kite_strerror(KITE_EPROTO - 1), "unknown status");
    /* errno is converted, never passed on: -EIO and -EAGAIN would read as other codes. */
    assert_int_equal(kite_status_from_errno(0), KITE_OK);
    assert_int_equal(kite_status_from_errno(EAGAIN), KITE_EAGAIN);
    assert_int_equal(kite_status_from_errno(ENOENT), KITE_ENOTFOUND);
    assert_int_equal(kite_status_from_errno(EDQUOT), KITE_ENOSPC);
    assert_int_equal(kite_status_from_errno(ECONNREFUSED), KITE_ECLOSED);
    assert_int_equal(kite_status_from_errno(ETIMEDOUT), KITE_ETIMEDOUT);
    assert_int_equal(kite_status_from_errno(EACCES), KITE_EIO); /* no code of its own */
    kite_log_set_stderr(0);                                     /* _at logs the hidden cause */
    assert_int_equal(kite_status_from_errno_at(EACCES, "open", "/x"), KITE_EIO);
    assert_int_equal(kite_status_from_errno_at(ENOSPC, "write", "/x"), KITE_ENOSPC);
    kite_log_set_stderr(1);
}

static void test_deadlines(void **st)
{
    (void)st;
    int64_t now = kite_mono_ms();
    assert_true(kite_deadline_ms(0) >= now);
    assert_int_equal(kite_deadline_left_ms(kite_deadline_ms(0)), 0); /* due at once */
    assert_int_equal(kite_deadline_left_ms(kite_deadline_ms(-5)), 0);
    assert_int_equal(kite_deadline_left_ms(now - 1000), 0); /* passed: 0, not < 0 */
    int64_t d = kite_deadline_ms(10000);
    int64_t left = kite_deadline_left_ms(d);
    assert_true(left > 0 && left <= 10000);
    assert_true(d >= now + 10000);
    assert_int_equal(kite_deadline_ms(INT64_MAX), KITE_DEADLINE_NEVER); /* no overflow */
    assert_true(kite_deadline_left_ms(KITE_DEADLINE_NEVER) > ((int64_t)1 << 62));
    /* The realtime instant for condition waits is normalised (nanoseconds below 1 s). */
    for (int64_t us = 0; us < 3000000; us += 999999) {
        struct timespec ts = kite_realtime_after_us(us);
        assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    }
    /* A bounded wait nobody signals ends by itself, and really waits: callers re-check
     * (spurious wake-ups are allowed), but a wait that returned at once would take
     * thousands of calls to cover 20 ms. */
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    int64_t t0 = kite_mono_us();
    int calls = 0;
    pthread_mutex_lock(&m);
    while (kite_mono_us() - t0 < 20000) {
        kite_cond_wait_us(&c, &m, 20000);
        calls++;
    }
    pthread_mutex_unlock(&m);
    assert_true(calls >= 1 && calls <= 100);
}

static void test_file_statuses(void **st)
{
    (void)st;
    char dir[] = "/tmp/kite-test-base-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/a/b/f.json", dir);
    assert_int_equal(kite_file_read_all(path, 100, &text, &len), KITE_ENOTFOUND);
    assert_int_equal(kite_mkdirs_for(path), 0);
    assert_int_equal(kite_file_write_atomic(path, "0123456789", 10), 0);
    assert_int_equal(kite_file_read_all(path, 9, &text, &len), KITE_ETOOBIG);
    assert_int_equal(kite_file_read_all(path, 10, &text, &len), 0);
    assert_int_equal(len, 10);
    assert_string_equal(text, "0123456789");
    free(text);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_mem_grow_and_copies(void **st)
{
    (void)st;
    int *v = NULL;
    size_t cap = 0;
    for (int i = 0; i < 1000; i++) {
        v = kite_xgrow(v, &cap, (size_t)i + 1, sizeof *v, 16);
        v[i] = i * 7;
    }
    assert_true(cap >= 1000);
    assert_int_equal(cap & (cap - 1), 0); /* doubled from 16: a power of two */
    for (int i = 0; i < 1000; i++) assert_int_equal(v[i], i * 7);
    size_t before = cap;
    assert_ptr_equal(kite_xgrow(v, &cap, 10, sizeof *v, 16), v); /* enough room: unchanged */
    assert_int_equal(cap, before);
    free(v);
    char *s = kite_xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = kite_xstrndup("ab", 10); /* stops at the NUL */
    assert_string_equal(s, "ab");
    free(s);
    s = kite_xstrdup("");
    assert_string_equal(s, "");
    free(s);
    unsigned char *z = kite_xcalloc(0, 8); /* size 0: a unique pointer, never NULL */
    assert_non_null(z);
    free(z);
}

/* Runs fn in a child and returns its wait status. */
static int in_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kite_log_set_stderr(0);
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core); /* the abort is expected: no core file */
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void overflowing_array(void) { (void)kite_xreallocarray(NULL, SIZE_MAX / 2 + 1, 2); }
static void overflowing_calloc(void) { (void)kite_xcalloc(SIZE_MAX / 8 + 1, 16); }

static void test_mem_aborts_on_exhaustion(void **st)
{
    (void)st;
    /* The policy: no NULL ever comes back; an impossible size ends the process. */
    int status = in_child(overflowing_array);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    status = in_child(overflowing_calloc);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_known_values),
        cmocka_unit_test(test_buf_grow_and_be),
        cmocka_unit_test(test_errors_and_levels),
        cmocka_unit_test(test_log_rate_limit),
        cmocka_unit_test(test_one_status_space),
        cmocka_unit_test(test_file_statuses),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_mem_grow_and_copies),
        cmocka_unit_test(test_mem_aborts_on_exhaustion),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
