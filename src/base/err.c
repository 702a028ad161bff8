/* err.c - text for kite_status codes and errno mapping. Static data only. */
#include "base/err.h"
#include <errno.h>

const char *kite_strerror(int status)
{
    switch (status) {
    case KITE_OK: return "success";
    case KITE_ERR: return "error";
    case KITE_ENOMEM: return "out of memory";
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
    case EINVAL: return KITE_EINVAL;
    case ENOSPC: case EDQUOT: return KITE_ENOSPC;
    case ETIMEDOUT: return KITE_ETIMEDOUT;
    case EAGAIN: return KITE_EAGAIN;
    case ENOENT: return KITE_ENOTFOUND;
    case EPIPE: case ECONNRESET: case ENOTCONN: return KITE_ECLOSED;
    case EFBIG: case EMSGSIZE: return KITE_ETOOBIG;
    default: return KITE_EIO;
    }
}
