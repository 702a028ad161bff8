/* signals.h - the daemons' signalfd on the event loop: SIGHUP is logged and ignored,
 * SIGINT/SIGTERM stop the loop so shutdown runs on the loop's thread in order.
 * (The signalfd itself comes from base/daemon.h.) */
#ifndef KITE_NET_SIGNALS_H
#define KITE_NET_SIGNALS_H
#include "net/ev.h"
#include <stdint.h>

/* kite_ev fd callback; arg is the log channel name (a static string). */
void kite_ev_on_signal(kite_ev *ev, int fd, uint32_t events, void *arg);

#endif
