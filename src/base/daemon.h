/* daemon.h - start-up helpers shared by kite-namesrv and kite-broker: command-line
 * handling of -c/-p/-h, config loading with warnings, log set-up, and SIGINT/SIGTERM
 * delivered through a signalfd so shutdown runs on the event loop thread.
 * Owns nothing long-lived except the signal fd it returns. */
#ifndef KITE_BASE_DAEMON_H
#define KITE_BASE_DAEMON_H

#include "base/err.h"
#include "base/props.h"

typedef struct kite_daemon_args {
    const char *config_path; /* -c */
    int print_config;        /* -p */
} kite_daemon_args;

/* Parses argv. Returns 0 to continue, 1 when the program should exit with status 0
 * (help printed), KITE_EINVAL on a usage error (message printed). */
int kite_daemon_parse_args(int argc, char **argv, const char *prog, kite_daemon_args *out);
/* Defaults, then the -c file (if any). Prints errors to stderr; returns 0 or a kite_status. */
int kite_daemon_load_config(const kite_prop_def *defs, void *cfg, const char *path);
/* Applies logLevel/logFile (either may be NULL/empty). Returns 0 or a kite_status (an
 * unknown level is KITE_EINVAL). */
int kite_daemon_setup_log(const char *level, const char *file);
/* Blocks SIGINT/SIGTERM/SIGHUP (and ignores SIGPIPE) in the calling thread and returns
 * a signalfd for them, or a (negative) kite_status. Call before creating threads so they
 * inherit the mask. */
int kite_daemon_signalfd(void);
/* Reads one pending signal number from the fd (0 if none). */
int kite_daemon_read_signal(int fd);

#endif
