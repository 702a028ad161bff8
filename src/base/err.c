/* err.c - text of the kite_status codes (include/kite/status.h) and the errno
 * conversion (base/err.h). Static data only. */
#include "base/err.h"
#include "base/log.h"
#include <errno.h>
#include <string.h>

const char *kite_strerror(int status)
{
    switch (status) {
    case KITE_OK: return "success";
    case KITE_ERR: return "refused by the server";
    case KITE_ENOMEM: return "the system refused a resource (not heap memory)";
    case KITE_EINVAL: return "invalid argument or malformed input";
    case KITE_EIO: return "I/O error";
    case KITE_ENOSPC: return "no space left on device";
    case KITE_ETIMEDOUT: return "timed out";
    case KITE_ECLOSED: return "closed";
    case KITE_EAGAIN: return "resource temporarily unavailable";
    case KITE_ENOTFOUND: return "not found";
    case KITE_ETOOBIG: return "exceeds configured limit";
    case KITE_ECORRUPT: return "data corrupt";
    case KITE_ESTOPPED: return "stopped (refusing work)";
    case KITE_EPROTO: return "protocol error";
    default: return "unknown status";
    }
}

kite_status kite_status_from_errno(int err)
{
    switch (err) {
    case 0: return KITE_OK;
    case ENOMEM: return KITE_ENOMEM;
    case EINVAL:
    case EBADF:
    case ENAMETOOLONG: return KITE_EINVAL;
    case ENOSPC:
    case EDQUOT: return KITE_ENOSPC;
    case ETIMEDOUT: return KITE_ETIMEDOUT;
    case EAGAIN:
    case EBUSY: return KITE_EAGAIN;
    case ENOENT: return KITE_ENOTFOUND;
    case EPIPE:
    case ECONNRESET:
    case ENOTCONN:
    case ECONNREFUSED:
    case ECONNABORTED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN: return KITE_ECLOSED;
    case EFBIG:
    case EMSGSIZE: return KITE_ETOOBIG;
    default: return KITE_EIO;
    }
}

kite_status kite_status_from_errno_at(int err, const char *op, const char *what)
{
    kite_status st = kite_status_from_errno(err);
    if (st == KITE_EIO && err != EIO) KLOG_ERROR("os", "%s %s: %s", op, what, strerror(err));
    return st;
}
