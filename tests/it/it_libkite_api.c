/* it_libkite_api.c - the process-wide calls of libkite (kite/kite.h, kite/log.h):
 *   - kite_version() is "MAJOR.MINOR.PATCH" from the header's macros;
 *   - the log callback gets every line at or above the level set and nothing below it,
 *     with its level, channel and text, also from the library's own threads, and
 *     nothing of it reaches stderr; with the callback removed lines go to stderr again;
 *     kite_set_log_level refuses values outside DEBUG..OFF.
 * Real daemons (kite-namesrv + kite-broker on a random loopback host) make the library
 * log from its I/O thread. stderr is redirected to a file for the time of the test so
 * that what reaches it can be read back. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "kt_consume.h"
#include "kite/kite.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_version(void **st)
{
    (void)st;
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", KITE_VERSION_MAJOR, KITE_VERSION_MINOR,
             KITE_VERSION_PATCH);
    assert_non_null(kite_version());
    assert_string_equal(kite_version(), want);
    assert_ptr_equal(kite_version(), kite_version()); /* static text */
}

/* ---- log callback ---- */

#define MAX_LINES 4096

typedef struct rec {
    pthread_mutex_t mu;
    int n;
    int below;          /* lines under the level that was set */
    kite_log_level min; /* the level set when the line came */
    int level[MAX_LINES];
    char chan[MAX_LINES][16];
    char text[MAX_LINES][160];
    int other_thread[MAX_LINES]; /* not the test's thread */
    pthread_t main;
} rec;

static void on_log(kite_log_level level, const char *channel, const char *message, void *opaque)
{
    rec *r = opaque;
    pthread_mutex_lock(&r->mu);
    if ((int)level < (int)r->min) r->below++;
    if (r->n < MAX_LINES) {
        r->level[r->n] = level;
        snprintf(r->chan[r->n], sizeof r->chan[r->n], "%s", channel);
        snprintf(r->text[r->n], sizeof r->text[r->n], "%s", message);
        r->other_thread[r->n] = !pthread_equal(pthread_self(), r->main);
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
}

/* Index of the first line from `from` on whose text contains s (and of level lvl when
 * lvl >= 0), else -1. */
static int find_line(rec *r, int from, const char *s, int lvl)
{
    pthread_mutex_lock(&r->mu);
    int at = -1;
    for (int i = from; i < r->n && at < 0; i++)
        if (strstr(r->text[i], s) && (lvl < 0 || r->level[i] == lvl)) at = i;
    pthread_mutex_unlock(&r->mu);
    return at;
}

static void set_level(rec *r, kite_log_level lvl)
{
    pthread_mutex_lock(&r->mu);
    r->min = lvl;
    pthread_mutex_unlock(&r->mu);
    assert_int_equal(kite_set_log_level(lvl), KITE_OK);
}

static int lines(rec *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* A consumer without a listener: start logs one WARN line ("needs a listener") on the
 * calling thread and fails. */
static void warn_once(const kc_env *e, const char *group)
{
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    kite_push_consumer *c = NULL;
    assert_int_equal(kite_push_consumer_create(&c, group, &o), KITE_OK);
    assert_int_equal(kite_push_consumer_subscribe(c, "LkApi", "*"), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_EINVAL);
    kite_push_consumer_destroy(c);
}

/* Everything written to fd 2 since the redirection. */
static char *read_stderr(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_log_cb(void **st)
{
    kc_env *e = *st;
    rec *r = calloc(1, sizeof *r);
    assert_non_null(r);
    pthread_mutex_init(&r->mu, NULL);
    r->main = pthread_self();

    /* stderr into a file, to see what the library writes there. */
    char path[600];
    snprintf(path, sizeof path, "%s/stderr.txt", e->dir);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);

    assert_int_equal(kite_set_log_level((kite_log_level)7), KITE_EINVAL);
    assert_int_equal(kite_set_log_level((kite_log_level)-1), KITE_EINVAL);

    /* WARN: the WARN line comes, the DEBUG lines of a running consumer do not. */
    set_level(r, KITE_LOG_WARN);
    kite_set_log_cb(on_log, r);
    kite_producer *p = kc_producer(e);
    kc_send_range(p, "LkApi", "api", 0, 8, NULL);
    kc_collector col;
    kc_collector_init(&col, "api", "LkApi");
    kite_push_consumer_opts o;
    kc_consumer_opts(e, &o);
    kite_push_consumer *c = kc_consumer(&o, "lk_api_1", "LkApi", "*", &col);
    assert_int_equal(kc_wait_distinct(&col, 8, 15000), 8); /* queues taken: DEBUG lines were due */
    kite_push_consumer_destroy(c);
    warn_once(e, "lk_api_warn");
    int w = find_line(r, 0, "needs a listener", KITE_LOG_WARN);
    assert_true(w >= 0);
    assert_string_equal(r->chan[w], "client");
    assert_non_null(strstr(r->text[w], "lk_api_warn"));
    assert_null(strchr(r->text[w], '\n'));
    assert_int_equal(find_line(r, 0, "takes", -1), -1);
    assert_int_equal(r->below, 0);

    /* DEBUG: the consumer's DEBUG lines come, from its I/O thread. */
    int mark = lines(r);
    set_level(r, KITE_LOG_DEBUG);
    c = kc_consumer(&o, "lk_api_2", "LkApi", "*", &col);
    long long end = kt_now_ms() + KT_DEADLINE_MS;
    int t;
    while ((t = find_line(r, mark, "takes", KITE_LOG_DEBUG)) < 0 && kt_now_ms() < end)
        usleep(20 * 1000);
    assert_true(t >= 0);
    assert_string_equal(r->chan[t], "client");
    assert_non_null(strstr(r->text[t], "lk_api_2"));
    assert_true(r->other_thread[t]);
    kite_push_consumer_destroy(c);

    /* OFF: nothing at all, not even WARN. */
    set_level(r, KITE_LOG_OFF);
    mark = lines(r);
    warn_once(e, "lk_api_off");
    assert_int_equal(lines(r), mark);

    /* No callback: lines go to stderr again. */
    assert_int_equal(kite_set_log_level(KITE_LOG_INFO), KITE_OK);
    kite_set_log_cb(NULL, NULL);
    warn_once(e, "lk_api_stderr");
    assert_int_equal(lines(r), mark);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);

    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    char *text = read_stderr(path);
    assert_null(strstr(text, "lk_api_warn")); /* went to the callback only */
    assert_null(strstr(text, "lk_api_off"));
    assert_non_null(strstr(text, "lk_api_stderr"));
    assert_non_null(strstr(text, "WARN  [client]"));
    free(text);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_log_cb),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, kc_setup, kc_teardown));
}
