/* kite/status.h - the status codes of libkite and of the KiteMQ servers, and their text.
 *
 * Owns: the one status space of KiteMQ. Every call that can fail returns an int: KITE_OK
 * (0) or one of the negative values below; kite_strerror() gives a static description.
 * Calls that talk to servers also give a detailed message (for sends:
 * kite_send_result.error) naming the server, the request and the server's answer.
 * This header is the only definition: the servers' internals use the same enum (their
 * src/base/err.h includes this file and adds the errno conversion). An operating-system
 * error (errno) never travels as a negative number of its own: it is converted to one of
 * these codes where the system call is made.
 * Values never change meaning; new codes are only added below the last one.
 * Threads: kite_strerror returns static text and is safe from any thread. */
#ifndef KITE_STATUS_H
#define KITE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kite_status {
    KITE_OK = 0,
    /* The server answered and refused the request; its answer code is reported beside the
     * status (for sends: kite_send_result). */
    KITE_ERR = -1,
    /* The system refused a resource other than heap memory (a file mapping, a kernel
     * table). Never heap exhaustion: libkite and the servers abort on that (kite.h). */
    KITE_ENOMEM = -2,
    KITE_EINVAL = -3,    /* bad argument or malformed input: invalid topic, NULL, ... */
    KITE_EIO = -4,       /* local I/O error (the servers log the system's own text) */
    KITE_ENOSPC = -5,    /* (servers only) disk full */
    KITE_ETIMEDOUT = -6, /* no answer within the timeout */
    /* Connection failed or closed; or the object shut down with the operation in flight. */
    KITE_ECLOSED = -7,
    KITE_EAGAIN = -8,    /* busy (flow control, lock held elsewhere); try again later */
    KITE_ENOTFOUND = -9, /* no such thing: unknown topic without auto-creation, no file */
    KITE_ETOOBIG = -10,  /* larger than a limit: max_message_size, properties > 32767 */
    KITE_ECORRUPT = -11, /* data failed validation: an undecodable answer, a bad CRC */
    KITE_ESTOPPED = -12, /* not started, shutting down, or stopped after a failure */
    KITE_EPROTO = -13,   /* the peer broke the protocol (missing mandatory fields) */
} kite_status;

/* Static description of a status; never NULL; "unknown status" for other values. */
const char *kite_strerror(int status);

#ifdef __cplusplus
}
#endif

#endif
