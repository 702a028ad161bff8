/* main.c - kite-broker entry point: arguments (-c, -p), config (broker and store keys),
 * log, signals through a signalfd, run loop, orderly stop; exit status 75
 * (KITE_BROKER_EXIT_RESTART) after a slave behind its master's retention set its store aside. */
#include "base/daemon.h"
#include "net/signals.h"
#include "base/log.h"
#include "broker/broker.h"
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    /* A read's requests live until its store batch is written (the loop's pre-write hook),
     * so the heap top rises and falls by up to a few MB per read. With glibc's default
     * 128 KiB trim threshold every fall gave the memory back (brk) and every rise faulted
     * it in again: a quarter of the loop's time at 256 sends in flight. Keep up to 8 MiB. */
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    kite_daemon_args args;
    int r = kite_daemon_parse_args(argc, argv, "kite-broker", &args);
    if (r) return r > 0 ? 0 : 2;
    static kite_broker b; /* one broker per process; static keeps it off the stack */
    b.props = bk_build_props();
    if (kite_daemon_load_config(b.props, &b.cfg, args.config_path) != 0) {
        kite_config_free(b.props, &b.cfg); /* a refused or malformed key */
        free(b.props);
        return 2;
    }
    char serr[512];
    if (bk_conf_settle(&b.cfg, serr, sizeof serr) != 0) {
        fprintf(stderr, "bad config in %s: %s\n",
                args.config_path ? args.config_path : "(defaults)", serr);
        kite_config_free(b.props, &b.cfg);
        free(b.props);
        return 2;
    }
    if (kite_tls_conf_settle(b.props, &b.cfg, &b.cfg.tls, serr, sizeof serr) != 0 ||
        bk_conf_settle_ha_tls(&b.cfg, serr, sizeof serr) != 0) {
        fprintf(stderr, "kite-broker: %s\n", serr);
        kite_config_free(b.props, &b.cfg);
        free(b.props);
        return 2;
    }
    if (args.print_config) {
        kite_buf out = KITE_BUF_INIT;
        kite_config_print(b.props, &b.cfg, &out);
        fwrite(out.data, 1, out.len, stdout);
        kite_buf_free(&out);
        kite_config_free(b.props, &b.cfg);
        free(b.props);
        return 0;
    }
    if (kite_daemon_setup_log(b.cfg.log_level, b.cfg.log_file) != 0) return 2;
    if (kite_broker_tls_setup(&b, serr, sizeof serr) != 0) {
        KLOG_ERROR("broker", "%s", serr);
        fprintf(stderr, "kite-broker: %s\n", serr);
        kite_config_free(b.props, &b.cfg);
        free(b.props);
        return 2;
    }
    kite_rpc_limits_reserve_fds(&b.cfg.limits); /* before any thread starts */
    int sfd = kite_daemon_signalfd();
    kite_ev *ev = kite_ev_new();
    if (!ev || sfd < 0) {
        KLOG_ERROR("broker", "cannot create the event loop");
        return 1;
    }
    kite_ev_add(ev, sfd, KITE_EV_READ, kite_ev_on_signal, (void *)"broker");
    char err[1024];
    int rc = 0;
    if (kite_broker_start(&b, ev, err, sizeof err) != 0) {
        KLOG_ERROR("broker", "start failed: %s", err);
        rc = 1;
    } else {
        KLOG_INFO("broker", "KiteMQ broker started (pid %d)", (int)getpid());
        if (kite_ev_run(ev) != 0) rc = 1;
    }
    kite_broker_stop(&b);
    if (atomic_load(&b.restart_empty)) rc = b.aside_dir[0] ? KITE_BROKER_EXIT_RESTART : 1;
    kite_ev_del(ev, sfd);
    close(sfd);
    kite_ev_free(ev);
    kite_tls_ctx_free(b.tls_server);
    kite_tls_ctx_free(b.tls_client);
    kite_tls_ctx_free(b.ha_tls);
    kite_config_free(b.props, &b.cfg);
    free(b.props);
    KLOG_INFO("broker", "stopped");
    kite_log_set_file(NULL);
    return rc;
}
