/* signals.c - signalfd callback shared by kite-namesrv and kite-broker (signals.h). */
#include "net/signals.h"
#include "base/daemon.h"
#include "base/log.h"
#include <signal.h>

void kite_ev_on_signal(kite_ev *ev, int fd, uint32_t events, void *arg)
{
    const char *chan = arg;
    (void)events;
    int sig;
    while ((sig = kite_daemon_read_signal(fd)) != 0) {
        if (sig == SIGHUP) {
            KLOG_INFO(chan, "SIGHUP ignored (restart to reload configuration)");
            continue;
        }
        KLOG_INFO(chan, "signal %d: shutting down", sig);
        kite_ev_stop(ev);
    }
}
