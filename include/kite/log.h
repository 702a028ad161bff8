/* kite/log.h - what libkite writes about itself and where it goes.
 *
 * Owns: the log levels, the application's log callback and the level filter.
 *
 * By default libkite writes lines at INFO and above to stderr
 * ("2026-11-25 17:50:01.123 WARN  [client] text"). An application that wants them
 * elsewhere sets a callback: from then on every line that passes the level goes to
 * the callback instead of stderr (as librdkafka's log_cb).
 *
 * Both settings are process-wide (one log per process), not per client object: set
 * them once at start-up, before creating producers and consumers. Changing them later
 * is safe, but a line being logged on another thread at that moment may still go to
 * the previous destination (and, after kite_set_log_cb returns, one call of the
 * previous callback may still be under way on another thread).
 *
 * THREADS (read this): the callback runs on whichever thread logs, inline: an
 * application thread inside a libkite call, a client's I/O thread (kite-io), a push
 * consumer worker (kite-consume), a transaction producer's check thread. Several calls
 * may run at once: the callback must be thread-safe. It should return quickly (on the
 * I/O thread it delays every send and pull of that client) and must not call
 * kite_*_shutdown or kite_*_destroy.
 * OWNERSHIP: channel and message are valid only during the call; copy what you keep.
 * opaque stays yours. */
#ifndef KITE_LOG_H
#define KITE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

/* Levels, lowest first. Values never change. */
typedef enum kite_log_level {
    KITE_LOG_DEBUG = 0, /* per-request detail: pulls, rebalance decisions, locks */
    KITE_LOG_INFO = 1,  /* rare events: offsets reset or moved, a lost queue lock (default level) */
    KITE_LOG_WARN = 2,  /* something failed and is retried or dropped */
    KITE_LOG_ERROR = 3, /* something failed for good (e.g. a broker refuses a subscription) */
    KITE_LOG_OFF = 4,   /* as a level: nothing is logged */
} kite_log_level;

/* One log line: level (DEBUG..ERROR), channel (the part of the library: "client",
 * "rpc", "net", ...) and the text, without time stamp or newline. */
typedef void (*kite_log_cb)(kite_log_level level, const char *channel, const char *message,
                            void *opaque);

/* Sends every line at or above the level to cb(…, opaque) instead of stderr; NULL
 * goes back to stderr. */
void kite_set_log_cb(kite_log_cb cb, void *opaque);
/* Lines below level are not produced at all (and DEBUG lines cost nothing while
 * filtered). Default KITE_LOG_INFO. KITE_EINVAL for a value outside DEBUG..OFF. */
int kite_set_log_level(kite_log_level level);

#ifdef __cplusplus
}
#endif

#endif
