/* api.c - small public calls of libkite that belong to no client object: the version
 * and names of send statuses. kite_strerror is the shared one of src/base/err.c (the
 * public codes in include/kite/status.h are the same numbers).
 * Threads: static data only. */
#include "kite/kite.h"

const char *kite_version(void) { return "0.1.0"; }

const char *kite_send_status_name(kite_send_status s)
{
    switch (s) {
    case KITE_SEND_OK: return "SEND_OK";
    case KITE_SEND_FLUSH_DISK_TIMEOUT: return "FLUSH_DISK_TIMEOUT";
    case KITE_SEND_FLUSH_SLAVE_TIMEOUT: return "FLUSH_SLAVE_TIMEOUT";
    case KITE_SEND_SLAVE_NOT_AVAILABLE: return "SLAVE_NOT_AVAILABLE";
    }
    return "UNKNOWN";
}
