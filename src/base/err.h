/* err.h - KiteMQ status codes shared by every module, and their text.
 *
 * Owns: the kite_status enum (0 = OK, negative = failure) and kite_strerror().
 * Not owned: wire response codes (src/proto/codes.h) - those are numbers of the
 * RocketMQ protocol; this enum is internal and for the C API.
 * Thread-safe: only static text. */
#ifndef KITE_BASE_ERR_H
#define KITE_BASE_ERR_H

typedef enum kite_status {
    KITE_OK = 0,
    KITE_ERR = -1,          /* generic failure; detail is in the caller's buffer/log */
    KITE_ENOMEM = -2,
    KITE_EINVAL = -3,       /* bad argument or malformed input */
    KITE_EIO = -4,          /* I/O error from the operating system */
    KITE_ENOSPC = -5,       /* disk full */
    KITE_ETIMEDOUT = -6,
    KITE_ECLOSED = -7,      /* connection or object already closed */
    KITE_EAGAIN = -8,       /* try again later (would block, busy) */
    KITE_ENOTFOUND = -9,
    KITE_ETOOBIG = -10,     /* exceeds a configured limit */
    KITE_ECORRUPT = -11,    /* data failed validation (CRC, magic, lengths) */
    KITE_ESTOPPED = -12,    /* component refuses work (fail-stop, shutting down) */
    KITE_EPROTO = -13,      /* protocol violation by the peer */
} kite_status;

/* Static description of a status; never NULL. */
const char *kite_strerror(int status);

/* Maps an errno value to the closest kite_status. */
kite_status kite_status_from_errno(int err);

#endif
