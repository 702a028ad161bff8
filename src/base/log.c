/* log.c - leveled logger: one formatted line per call, one write(2) per sink, or one
 * call of the callback an application set through libkite (kite/log.h).
 * kite_log_limited: the one rate limiter for lines a peer can cause (bad frames, refused
 * requests, connections over a limit).
 * Global state: the process-wide level and sinks (a process has one log; set at
 * start-up, read with relaxed atomics afterwards). */
#include "base/log.h"
#include "base/err.h"
#include "base/time.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = KITE_LOG_INFO; /* process log level */
static _Atomic int g_file_fd = -1;          /* optional log file */
static _Atomic int g_stderr_on = 1;         /* stderr sink switch */
static pthread_mutex_t g_cb_mu = PTHREAD_MUTEX_INITIALIZER;
static kite_log_cb g_cb; /* under g_cb_mu, with g_cb_opaque */
static void *g_cb_opaque;
static _Atomic int g_cb_on; /* g_cb != NULL, read without the lock */

static const char *const level_names[] = { "DEBUG", "INFO ", "WARN ", "ERROR", "OFF  " };

void kite_log_set_level(kite_log_level lvl) { atomic_store(&g_level, (int)lvl); }
kite_log_level kite_log_get_level(void)
{
    return (kite_log_level)atomic_load_explicit(&g_level, memory_order_relaxed);
}
void kite_log_set_stderr(int on) { atomic_store(&g_stderr_on, on ? 1 : 0); }

int kite_log_parse_level(const char *s)
{
    static const char *const names[] = { "debug", "info", "warn", "error", "off" };
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    if (strcasecmp(s, "warning") == 0) return KITE_LOG_WARN;
    return -1;
}

void kite_log_set_cb(kite_log_cb cb, void *opaque)
{
    pthread_mutex_lock(&g_cb_mu);
    g_cb = cb;
    g_cb_opaque = opaque;
    atomic_store(&g_cb_on, cb != NULL);
    pthread_mutex_unlock(&g_cb_mu);
}

int kite_log_set_file(const char *path)
{
    int fd = -1;
    if (path) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) return kite_status_from_errno(errno);
    }
    int old = atomic_exchange(&g_file_fd, fd);
    if (old >= 0) close(old);
    return 0;
}

void kite_logv(kite_log_level lvl, const char *chan, const char *fmt, va_list ap)
{
    if ((int)lvl < atomic_load_explicit(&g_level, memory_order_relaxed) || lvl >= KITE_LOG_OFF)
        return;
    char line[2048];
    if (atomic_load(&g_cb_on)) {
        pthread_mutex_lock(&g_cb_mu);
        kite_log_cb cb = g_cb;
        void *opaque = g_cb_opaque;
        pthread_mutex_unlock(&g_cb_mu);
        if (cb) {
            if (vsnprintf(line, sizeof line, fmt, ap) < 0) line[0] = 0;
            cb(lvl, chan ? chan : "-", line, opaque);
            return;
        }
    }
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d:%02d.%03d %s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[lvl], chan ? chan : "-");
    if (n < 0) return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0) m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    int fd = atomic_load(&g_file_fd);
    if (atomic_load(&g_stderr_on)) {
        ssize_t w = write(2, line, len);
        (void)w;
    }
    if (fd >= 0) {
        ssize_t w = write(fd, line, len);
        (void)w;
    }
}

void kite_log(kite_log_level lvl, const char *chan, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kite_logv(lvl, chan, fmt, ap);
    va_end(ap);
}

static int no_limit(void)
{
    static _Atomic int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        const char *e = getenv("KITE_LOG_NO_LIMIT");
        v = e && strcmp(e, "1") == 0;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}

int kite_log_limit_allow(kite_log_limit *l, long *suppressed)
{
    *suppressed = 0;
    if (no_limit()) return 1;
    long long now = kite_mono_ms() / 1000 + 1; /* never 0: 0 is "no line yet" */
    long long last = atomic_load(&l->sec);
    if (last != now && atomic_compare_exchange_strong(&l->sec, &last, now)) {
        atomic_store(&l->used, 1);
        *suppressed = atomic_exchange(&l->suppressed, 0);
        return 1;
    }
    if (atomic_fetch_add(&l->used, 1) < (l->burst > 1 ? l->burst : 1)) return 1;
    atomic_fetch_add(&l->suppressed, 1);
    return 0;
}

void kite_log_limited(kite_log_limit *l, kite_log_level lvl, const char *chan, const char *fmt, ...)
{
    if ((int)lvl < atomic_load_explicit(&g_level, memory_order_relaxed) || lvl >= KITE_LOG_OFF)
        return;
    long held;
    if (!kite_log_limit_allow(l, &held)) return;
    char text[1800];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0) text[0] = 0;
    if (held > 0)
        kite_log(lvl, chan, "%s (%ld similar line(s) not logged)", text, held);
    else
        kite_log(lvl, chan, "%s", text);
}
