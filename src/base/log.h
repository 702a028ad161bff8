/* log.h - leveled logger used by every daemon and library module.
 *
 * Owns: log level filtering, formatting ("2026-11-25 17:50:01.123 WARN  [chan] text"),
 * output to stderr and optionally to a file. Not owned: rotation policy beyond
 * reopening (SIGHUP handling belongs to the daemon).
 * Threads: kite_log() may be called from any thread; each line is written with one
 * write(2) so lines never interleave. The configuration (level, file) is process
 * global on purpose - a process has one log - and is set once at start-up. */
#ifndef KITE_BASE_LOG_H
#define KITE_BASE_LOG_H

#include "kite/log.h" /* kite_log_level, kite_log_cb: defined once, in the public header */
#include <stdarg.h>

void kite_log_set_level(kite_log_level lvl);
kite_log_level kite_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int kite_log_parse_level(const char *s);
/* Also append to this file (NULL = stderr only). Returns 0 or a kite_status (errno is
 * left as open(2) set it, for the caller's message). */
int kite_log_set_file(const char *path);
/* Disable stderr output (tests that exercise error paths keep their output quiet). */
void kite_log_set_stderr(int on);
/* Hands every line that passes the level to cb (text only, no time stamp) instead of
 * stderr and the file; NULL restores them. The pair is read under a lock that is not
 * held during the call, so cb may log itself. libkite's kite_set_log_cb. */
void kite_log_set_cb(kite_log_cb cb, void *opaque);

void kite_log(kite_log_level lvl, const char *chan, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kite_logv(kite_log_level lvl, const char *chan, const char *fmt, va_list ap);

/* A rate limit for lines a peer can cause (one limiter per kind of line, usually a static
 * KITE_LOG_LIMIT_INIT): at most one line per second goes out - or `burst` lines with
 * KITE_LOG_LIMIT_BURST_INIT, for lines that record a change a peer asked for - and the
 * next line that goes out says how many were held back meanwhile. Thread-safe (atomics),
 * no allocation. The environment variable KITE_LOG_NO_LIMIT=1, read once, lets every line
 * through (debugging a peer; the tests' controls use it). */
typedef struct kite_log_limit {
    _Atomic long long sec;   /* monotonic second of the last line written */
    _Atomic long suppressed; /* lines held back since */
    _Atomic long used;       /* lines written in that second */
    long burst;              /* lines per second; 0 = 1 */
} kite_log_limit;
#define KITE_LOG_LIMIT_INIT \
    {                       \
        0, 0, 0, 0          \
    }
#define KITE_LOG_LIMIT_BURST_INIT(n) \
    {                                \
        0, 0, 0, (n)                 \
    }
/* Returns 1 when a line may go out now, with *suppressed = lines held back before it
 * (then reset); 0 when it is held back (counted). */
int kite_log_limit_allow(kite_log_limit *l, long *suppressed);
/* kite_log through a limiter: a line that goes out ends with " (N similar lines not
 * logged)" when lines were held back. Lines below the log level are not counted. */
void kite_log_limited(kite_log_limit *l, kite_log_level lvl, const char *chan, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A line through a limiter of its own call site, at most n a second: for lines a peer can
 * cause by repeating a request (a refusal: n = 1; a change it asked for: KLOG_CHANGES). */
#define KLOG_LIMITED(n, lvl, chan, ...)                                 \
    do {                                                                \
        static kite_log_limit klog_lim_ = KITE_LOG_LIMIT_BURST_INIT(n); \
        kite_log_limited(&klog_lim_, lvl, chan, __VA_ARGS__);           \
    } while (0)
#define KLOG_CHANGES 20 /* lines a second about changes peers ask for, per call site */

#define KLOG_DEBUG(chan, ...)                                                                    \
    do {                                                                                         \
        if (kite_log_get_level() <= KITE_LOG_DEBUG) kite_log(KITE_LOG_DEBUG, chan, __VA_ARGS__); \
    } while (0)
#define KLOG_INFO(chan, ...)  kite_log(KITE_LOG_INFO, chan, __VA_ARGS__)
#define KLOG_WARN(chan, ...)  kite_log(KITE_LOG_WARN, chan, __VA_ARGS__)
#define KLOG_ERROR(chan, ...) kite_log(KITE_LOG_ERROR, chan, __VA_ARGS__)

#endif
