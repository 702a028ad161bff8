/* conn.h - one TCP connection on an event loop: length-prefixed frame input and an
 * output queue of memory and file segments written with writev / sendfile.
 *
 * Owns: the socket fd (closed by kite_conn_close), the input buffer, queued output
 * segments (their release callbacks run when written or when the connection closes).
 * Not owned: frame decoding (the on_frame callback gets raw frames), protocol.
 * Threads: every call except kite_conn_ref/unref and the getters must be made on the
 * loop thread. Memory is freed when the last reference goes; the loop holds one
 * reference while the connection is open. Input framing: a 4-byte big-endian length
 * N, then N bytes (remoting frames); N+4 above max_frame, or N < 4, closes the
 * connection with a (rate-limited) logged reason. */
#ifndef KITE_NET_CONN_H
#define KITE_NET_CONN_H

#include "base/buf.h"
#include "net/ev.h"
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kite_conn kite_conn;

typedef struct kite_conn_ops {
    /* A whole frame (length word included); memory valid during the call only. */
    void (*on_frame)(kite_conn *c, const uint8_t *frame, size_t len, void *ud);
    /* Called once when the connection closes for any reason (peer, error, local). */
    void (*on_close)(kite_conn *c, const char *reason, void *ud);
    /* Outbound connections: the connect finished (ok=1) - failure goes to on_close. */
    void (*on_connect)(kite_conn *c, void *ud);
} kite_conn_ops;

typedef void (*kite_seg_release)(void *arg);

/* An output segment: memory (fd < 0) or a file range sent with sendfile (fd >= 0). */
typedef struct kite_seg {
    const void *ptr;
    size_t len;
    int fd;
    int64_t file_off;
    kite_seg_release release; /* may be NULL */
    void *release_arg;
} kite_seg;

kite_conn *kite_conn_new(kite_ev *ev, int fd, const struct sockaddr_in *peer, int connecting,
                         const kite_conn_ops *ops, void *ud, size_t max_frame);
/* Queues hdr's bytes (the buffer is taken over and left empty) followed by segs, and
 * writes as much as the socket accepts now. Returns 0, or KITE_ECLOSED when closed
 * (the segments' release callbacks have then been called). */
int kite_conn_write(kite_conn *c, kite_buf *hdr, const kite_seg *segs, size_t nseg);
void kite_conn_close(kite_conn *c, const char *reason);
void kite_conn_ref(kite_conn *c);
void kite_conn_unref(kite_conn *c);

/* Makes the connection a TLS one (net/tls.h), right after kite_conn_new and before the
 * loop runs its events. A server context: the first byte decides (permissive: 0x16 starts
 * a handshake, anything else stays plain; enforcing: anything else is closed) and a
 * handshake not done within the context's timeout closes the connection. A client
 * context: the handshake follows the TCP connect, and on_connect runs when it is done;
 * host (the address dialled, "a.b.c.d" or a name) is what the server's certificate must
 * name when the context verifies. Frames queued meanwhile are sent once it is done. */
struct kite_tls_ctx;
int kite_conn_tls_start(kite_conn *c, struct kite_tls_ctx *tls, const char *host);
int kite_conn_is_tls(const kite_conn *c); /* the TLS session is up */

/* Backpressure limits (loop thread): reading pauses while more than out_high bytes of
 * output wait (0: no cap; the default is 64 MiB) and resumes below out_high / 4; with
 * max_inflight > 0 it also pauses while that many requests are unfinished and resumes at
 * half. The owner counts requests with kite_conn_inflight(+1 / -1). */
void kite_conn_set_limits(kite_conn *c, size_t out_high, int max_inflight);
void kite_conn_inflight(kite_conn *c, int delta);
int kite_conn_inflight_count(const kite_conn *c);
int kite_conn_read_paused(const kite_conn *c);
/* Monotonic ms when the incomplete frame now in the input buffer began arriving (a frame
 * completed restarts it), or 0 when no frame is half-received. */
int64_t kite_conn_partial_since_ms(const kite_conn *c);
/* Input memory of a group of connections (a server's), loop thread: used is the total of
 * their input buffers' allocated bytes, kept up to date by every member; when a read
 * leaves it above cap (0: no cap), over(arg) runs - it is expected to close members until
 * the total is back under (kite_conn_input_bytes / _pending and the partial-frame stamp
 * help choose). A closed connection leaves its group and frees its buffer. */
typedef struct kite_conn_inmem {
    size_t used, cap;
    void (*over)(void *arg);
    void *arg;
} kite_conn_inmem;
void kite_conn_set_inmem(kite_conn *c, kite_conn_inmem *m); /* NULL: leave the group */
size_t kite_conn_input_bytes(const kite_conn *c);           /* allocated input-buffer bytes */
size_t kite_conn_input_pending(const kite_conn *c);         /* bytes read and not yet handled */
/* How long queued output has not moved at time now (ms), or 0 when none is queued. */
int64_t kite_conn_out_stalled_ms(const kite_conn *c, int64_t now);
int kite_conn_is_closed(const kite_conn *c);
const char *kite_conn_peer(const kite_conn *c); /* "ip:port" */
const struct sockaddr_in *kite_conn_peer_addr(const kite_conn *c);
kite_ev *kite_conn_ev(const kite_conn *c);
uint64_t kite_conn_id(const kite_conn *c); /* unique per process */
void *kite_conn_ud(const kite_conn *c);
void kite_conn_set_ud(kite_conn *c, void *ud);
size_t kite_conn_out_bytes(const kite_conn *c);
int64_t kite_conn_last_active_ms(const kite_conn *c); /* monotonic ms of the last read */

#endif
