/* cf_common.h - shared by the configuration tests (it_broker_conf.c, it_namesrv_conf.c):
 * running a daemon binary to completion (-p, or a start that must be refused) with its
 * stdout and stderr in separate files, bounded in time and stopped by PID, and reading
 * those files back. Include after <cmocka.h>. */
#ifndef KITE_TESTS_CF_COMMON_H
#define KITE_TESTS_CF_COMMON_H

#include "base/props.h"
#include "kt.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs $KITE_BIN/bin -c conf [extra_arg], stdout to out_path and stderr to err_path, and
 * waits up to 30 s for it to exit. Returns the exit status; fails the test when it was
 * still running at the deadline (then it is killed) or died of a signal. */
static inline int cf_run(const char *bin, const char *conf, const char *extra_arg,
                         const char *out_path, const char *err_path)
{
    const char *dir = getenv("KITE_BIN");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "./bin", bin);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        close(o);
        close(e);
        execl(path, bin, "-c", conf, extra_arg, (char *)NULL);
        _exit(127);
    }
    long long t0 = kt_now_ms();
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 && kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(10000);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("%s -c %s %s still running after 30 s", bin, conf, extra_arg ? extra_arg : "");
    }
    assert_int_equal(r, pid);
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 127); /* the binary was found */
    return WEXITSTATUS(st);
}

/* Whole file as a NUL-terminated malloc'd string ("" when missing). */
static inline char *cf_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    if (f) {
        size_t k;
        while ((k = fread(s + n, 1, cap - n - 1, f)) > 0) {
            n += k;
            if (cap - n - 1 == 0) {
                cap *= 2;
                s = realloc(s, cap);
                assert_non_null(s);
            }
        }
        fclose(f);
    }
    s[n] = 0;
    return s;
}

static inline int cf_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Asserts text contains needle (prints text when it does not). */
static inline void cf_expect_in(const char *text, const char *needle)
{
    if (!strstr(text, needle)) fprintf(stderr, "expected \"%s\" in:\n%s\n", needle, text);
    assert_non_null(strstr(text, needle));
}

/* Parses -p / GET_*_CONFIG output as a properties reader would (comments dropped). */
static inline void cf_parse(kite_props *p, const char *text)
{
    kite_props_init(p);
    kite_props_parse(p, text, strlen(text));
}

/* Asserts key is in force with value want (want NULL: the key must not be in force). */
static inline void cf_expect_prop(const kite_props *p, const char *key, const char *want)
{
    const char *v = kite_props_get(p, key);
    if (!want) {
        if (v) fprintf(stderr, "%s=%s is presented as in force\n", key, v);
        assert_null(v);
        return;
    }
    if (!v || strcmp(v, want) != 0)
        fprintf(stderr, "%s: want '%s' got '%s'\n", key, want, v ? v : "(absent)");
    assert_non_null(v);
    assert_string_equal(v, want);
}

#endif
