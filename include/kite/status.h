/* kite/status.h - libkite status codes and their text.
 *
 * Owns: the public status convention of libkite. Every call that can fail returns an
 * int: KITE_OK (0) or one of the negative values below. kite_strerror() gives a static
 * description; calls that talk to servers also give a detailed message (for sends:
 * kite_send_result.error) naming the server, the request and the broker's answer.
 *
 * The numbers are shared with the KiteMQ servers (src/base/err.h holds the same enum
 * for the library's internals; a source file includes one of the two, never both).
 * Values never change meaning; new codes are only added below the last one.
 * Threads: kite_strerror returns static text and is safe from any thread. */
#ifndef KITE_STATUS_H
#define KITE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kite_status {
    KITE_OK = 0,
    KITE_ERR = -1,          /* the server refused the request (broker answer code in the result) */
    KITE_ENOMEM = -2,       /* the system refused a resource other than heap memory (never heap exhaustion: kite.h) */
    KITE_EINVAL = -3,       /* bad argument: invalid topic, empty body, NULL, wrong thread */
    KITE_EIO = -4,          /* local I/O error */
    KITE_ENOSPC = -5,       /* (servers only) disk full */
    KITE_ETIMEDOUT = -6,    /* no answer within the send timeout */
    KITE_ECLOSED = -7,      /* connection failed or closed; or the producer shut down with the send in flight */
    KITE_EAGAIN = -8,       /* the broker is busy (flow control); try again later */
    KITE_ENOTFOUND = -9,    /* no route: the topic is unknown and cannot be auto-created */
    KITE_ETOOBIG = -10,     /* message larger than max_message_size (or properties > 32767 bytes) */
    KITE_ECORRUPT = -11,    /* a server answer could not be decoded */
    KITE_ESTOPPED = -12,    /* the producer is not started, or is shutting down */
    KITE_EPROTO = -13,      /* the server broke the protocol (missing mandatory answer fields) */
} kite_status;

/* Static description of a status; never NULL; "unknown status" for other values. */
const char *kite_strerror(int status);

#ifdef __cplusplus
}
#endif

#endif
