/* daemon.c - shared daemon start-up: arguments, config file, log, signals. */
#include "base/daemon.h"
#include "base/log.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

int kite_daemon_parse_args(int argc, char **argv, const char *prog, kite_daemon_args *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            out->config_path = argv[++i];
        } else if (strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--printConfigItem") == 0) {
            out->print_config = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: %s [-c config.conf] [-p]\n"
                   "  -c FILE  read configuration (Java properties, RocketMQ key names)\n"
                   "  -p       print the effective configuration and exit\n",
                   prog);
            return 1;
        } else {
            fprintf(stderr, "%s: unknown argument '%s' (try -h)\n", prog, argv[i]);
            return KITE_EINVAL;
        }
    }
    return 0;
}

int kite_daemon_load_config(const kite_prop_def *defs, void *cfg, const char *path)
{
    kite_config_defaults(defs, cfg);
    if (!path) return 0;
    kite_props p;
    kite_props_init(&p);
    char err[512];
    int r = kite_props_load_file(&p, path, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "cannot load config: %s\n", err);
        kite_props_free(&p);
        return r;
    }
    r = kite_config_apply(defs, cfg, &p, err, sizeof err);
    kite_props_free(&p);
    if (r != 0) {
        fprintf(stderr, "bad config in %s: %s\n", path, err);
        return r;
    }
    return 0;
}

int kite_daemon_setup_log(const char *level, const char *file)
{
    if (level && *level) {
        int l = kite_log_parse_level(level);
        if (l < 0) {
            fprintf(stderr, "unknown logLevel '%s' (debug, info, warn, error)\n", level);
            return KITE_EINVAL;
        }
        kite_log_set_level((kite_log_level)l);
    }
    int r = file && *file ? kite_log_set_file(file) : 0;
    if (r != 0) {
        fprintf(stderr, "cannot open log file %s: %m\n", file);
        return r;
    }
    return 0;
}

int kite_daemon_signalfd(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    int r = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (r != 0) return kite_status_from_errno(r);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd >= 0 ? fd : kite_status_from_errno(errno);
}

int kite_daemon_read_signal(int fd)
{
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof si);
    return n == (ssize_t)sizeof si ? (int)si.ssi_signo : 0;
}
