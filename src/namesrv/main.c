/* main.c - kite-namesrv entry point: arguments, config, log, signals, run loop. */
#include "base/daemon.h"
#include "net/signals.h"
#include "base/log.h"
#include "namesrv/namesrv.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    kite_daemon_args args;
    int r = kite_daemon_parse_args(argc, argv, "kite-namesrv", &args);
    if (r) return r > 0 ? 0 : 2;
    kite_namesrv ns;
    memset(&ns, 0, sizeof ns);
    if (kite_daemon_load_config(kite_namesrv_props, &ns.cfg, args.config_path) != 0) {
        kite_config_free(kite_namesrv_props, &ns.cfg); /* a refused or malformed key */
        return 2;
    }
    char err[512];
    if (kite_tls_conf_settle(kite_namesrv_props, &ns.cfg, &ns.cfg.tls, err, sizeof err) != 0) {
        fprintf(stderr, "kite-namesrv: %s\n", err);
        kite_config_free(kite_namesrv_props, &ns.cfg);
        return 2;
    }
    if (args.print_config) {
        kite_buf b = KITE_BUF_INIT;
        kite_config_print(kite_namesrv_props, &ns.cfg, &b);
        fwrite(b.data, 1, b.len, stdout);
        kite_buf_free(&b);
        kite_config_free(kite_namesrv_props, &ns.cfg);
        return 0;
    }
    if (kite_daemon_setup_log(ns.cfg.log_level, ns.cfg.log_file) != 0) return 2;
    if (kite_namesrv_tls_setup(&ns, err, sizeof err) != 0) {
        KLOG_ERROR("namesrv", "%s", err);
        fprintf(stderr, "kite-namesrv: %s\n", err);
        kite_config_free(kite_namesrv_props, &ns.cfg);
        return 2;
    }
    kite_rpc_limits_reserve_fds(&ns.cfg.limits); /* before any thread starts */
    int sfd = kite_daemon_signalfd();
    kite_ev *ev = kite_ev_new();
    if (!ev || sfd < 0) {
        KLOG_ERROR("namesrv", "cannot create the event loop");
        return 1;
    }
    kite_ev_add(ev, sfd, KITE_EV_READ, kite_ev_on_signal, (void *)"namesrv");
    if (kite_namesrv_start(&ns, ev, err, sizeof err) != 0) {
        KLOG_ERROR("namesrv", "start failed: %s", err);
        kite_namesrv_stop(&ns);
        kite_ev_free(ev);
        kite_config_free(kite_namesrv_props, &ns.cfg);
        return 1;
    }
    KLOG_INFO("namesrv", "KiteMQ name server started (pid %d)", (int)getpid());
    r = kite_ev_run(ev);
    kite_namesrv_stop(&ns);
    kite_ev_del(ev, sfd);
    close(sfd);
    kite_ev_free(ev);
    kite_config_free(kite_namesrv_props, &ns.cfg);
    KLOG_INFO("namesrv", "stopped");
    kite_log_set_file(NULL);
    return r == 0 ? 0 : 1;
}
