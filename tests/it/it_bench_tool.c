/* it_bench_tool.c - kite-bench (the binary in $KITE_BIN) against a real kite-namesrv +
 * kite-broker: a fixed-rate run of N messages keeps to its schedule (the last one cannot
 * complete before (N-1)/rate s) and reports the percentiles in its JSON summary; a
 * closed-loop run with -m stops at that count, not at -d, and reports p99; `consume -m`
 * drains a backlog with the concurrent, the orderly and the broadcasting consumer (and
 * leaves no offset directory behind); `startup` measures a name server and stops it.
 * Every run is bounded by its own -d and by timeout(1); both are generous (a loaded
 * machine is slow; how fast is for the benchmarks, not for this test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "kt_consume.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs "kite-bench <args>" (bounded by timeout 150), returns its exit code; the last line
 * of its stdout goes to out. */
static int bench(char *out, size_t outlen, const char *fmt, ...)
{
    const char *bin = getenv("KITE_BIN");
    char args[1024], cmd[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "timeout 150 %s/kite-bench %s", bin && *bin ? bin : "./bin", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[4096];
    out[0] = 0;
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') snprintf(out, outlen, "%s", line);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Numeric value of "key": in a one-line JSON object; -1 when absent. */
static double num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

static void test_rate_and_limit(void **st)
{
    kc_env *e = *st;
    char out[4096];
    assert_int_equal(bench(out, sizeof out,
                           "produce -n %s -t BenchRate -s 512 --rate 400 -m 800 -d 120 --json",
                           e->nsaddr),
                     0);
    assert_true(num(out, "sent") == 800);
    assert_true(num(out, "seconds") >= 799 / 400.0 - 0.001); /* the 800th is due 1.9975 s in */
    assert_true(num(out, "failed") == 0);
    assert_true(num(out, "rate") == 400);
    assert_non_null(strstr(out, "\"latency_from\":\"intended\""));
    double p50 = num(out, "p50_ms"), p90 = num(out, "p90_ms"), p99 = num(out, "p99_ms"),
           mx = num(out, "max_ms");
    assert_true(p50 > 0 && p50 <= p90 && p90 <= p99 && p99 <= num(out, "p999_ms") &&
                num(out, "p999_ms") <= mx);

    assert_int_equal(bench(out, sizeof out,
                           "produce -n %s -t BenchLimit -c 8 --sync -m 500 -d 120 --json",
                           e->nsaddr),
                     0);
    assert_true(num(out, "sent") == 500);
    assert_true(num(out, "p99_ms") > 0);
    assert_true(num(out, "seconds") < 120); /* stopped at -m: -d would report >= 120 */
    assert_non_null(strstr(out, "\"latency_from\":\"call\""));
}

static int offset_dirs_left(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, "kite-bench-offsets-", 19)) n++;
    if (d) closedir(d);
    return n;
}

static void test_consume_drain(void **st)
{
    kc_env *e = *st;
    char out[4096];
    /* 1,000 queued messages (plus kite-bench's own warm-up send) */
    assert_int_equal(bench(out, sizeof out,
                           "produce -n %s -t BenchDrain -c 64 -m 1000 -d 120 --json", e->nsaddr),
                     0);
    assert_true(num(out, "sent") == 1000);
    assert_int_equal(bench(out, sizeof out,
                           "consume -n %s -t BenchDrain -g bdc -m 1000 --from first -p 256 -b 16 "
                           "-c 2 -d 120 --json",
                           e->nsaddr),
                     0);
    assert_true(num(out, "consumed") >= 1000);
    assert_true(num(out, "drain_s") > 0 && num(out, "drain_tps") > 0);
    assert_true(num(out, "pull_batch") == 256);
    assert_non_null(strstr(out, "\"listener\":\"concurrent\""));

    assert_int_equal(
        bench(out, sizeof out,
              "consume -n %s -t BenchDrain -g bdo -m 1000 --from first --orderly -d 120 "
              "--json",
              e->nsaddr),
        0);
    assert_true(num(out, "consumed") >= 1000);
    assert_non_null(strstr(out, "\"listener\":\"orderly\""));

    setenv("TMPDIR", e->dir, 1); /* the broadcasting offsets go here, and must be gone after */
    assert_int_equal(bench(out, sizeof out,
                           "consume -n %s -t BenchDrain -g bdb -m 1000 --from first --broadcast "
                           "-d 120 --json",
                           e->nsaddr),
                     0);
    unsetenv("TMPDIR");
    assert_true(num(out, "consumed") >= 1000);
    assert_non_null(strstr(out, "\"model\":\"broadcasting\""));
    assert_int_equal(offset_dirs_left(e->dir), 0);

    /* nothing more to come: -m not reached within -d is exit code 1 */
    assert_int_equal(
        bench(out, sizeof out, "consume -n %s -t BenchDrain -g bdc -m 10 -d 2 --json", e->nsaddr),
        1);
}

static void test_startup(void **st)
{
    (void)st;
    kt_daemon d;
    memset(&d, 0, sizeof d);
    kt_mkdtemp("bench-startup", d.dir, sizeof d.dir);
    kt_random_host(d.host, sizeof d.host);
    d.port = kt_free_port(d.host);
    assert_true(d.port > 0);
    char text[1024], conf[600], out[4096];
    snprintf(conf, sizeof conf, "%s/namesrv.conf", d.dir);
    snprintf(text, sizeof text, "listenPort=%d\nbindAddress=%s\nkvConfigPath=%s/kv.json\n", d.port,
             d.host, d.dir);
    kt_write_file(conf, text);
    const char *bin = getenv("KITE_BIN");
    assert_int_equal(bench(out, sizeof out,
                           "startup -a %s:%d -w 100 --json -- %s/kite-namesrv -c %s", d.host,
                           d.port, bin && *bin ? bin : "./bin", conf),
                     0);
    assert_true(num(out, "startup_ms") > 0);
    assert_true(num(out, "rss_anon_kb") > 0);
    assert_true(num(out, "exit") == 0);          /* stopped cleanly by SIGTERM */
    assert_true(kt_connect(d.host, d.port) < 0); /* and gone */
    /* usage errors */
    assert_int_equal(bench(out, sizeof out, "startup -a nonsense -- /bin/true"), 2);
    assert_int_equal(bench(out, sizeof out, "produce -n %s -t T --rate -5", "127.0.0.1:1"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_and_limit),
        cmocka_unit_test(test_consume_drain),
        cmocka_unit_test(test_startup),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, kc_setup, kc_teardown));
}
