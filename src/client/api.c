/* api.c - small public calls of libkite that belong to no client object: the version,
 * the names of send statuses, and the log settings (kite/log.h, kept by the process
 * log of src/base/log.c, which every part of the library writes to). kite_strerror is
 * the shared one of src/base/err.c (the public codes in include/kite/status.h are the
 * same numbers).
 * Threads: static data, and the log's own locking (base/log.c); any thread. */
#include "base/log.h"
#include "kite/kite.h"

#define KITE_STR_(x) #x
#define KITE_STR(x)  KITE_STR_(x)

const char *kite_version(void)
{
    return KITE_STR(KITE_VERSION_MAJOR) "." KITE_STR(KITE_VERSION_MINOR) "." KITE_STR(
        KITE_VERSION_PATCH);
}

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

void kite_set_log_cb(kite_log_cb cb, void *opaque) { kite_log_set_cb(cb, opaque); }

int kite_set_log_level(kite_log_level level)
{
    if ((int)level < KITE_LOG_DEBUG || level > KITE_LOG_OFF) return KITE_EINVAL;
    kite_log_set_level(level);
    return KITE_OK;
}
