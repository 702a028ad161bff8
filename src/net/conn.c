/* conn.c - TCP connection: frame input, segment output queue, writev/sendfile.
 *
 * Output queue: a ring of items; memory items are gathered into one writev of up to
 * 64 iovecs; a file item is sent with sendfile on its own. TCP_CORK is not needed:
 * the header is queued before file data and the kernel coalesces while the socket
 * buffer is busy.
 * Input: a connection's buffer holds what arrived and no more (small reads go through a
 * per-thread scratch chunk), so idle and trickling peers cost little memory.
 * Backpressure (kite_conn_set_limits): reading pauses while more than out_high bytes wait
 * to be sent (a client that never reads cannot make us buffer without bound) and resumes
 * below a quarter of it; it also pauses while max_inflight requests are unfinished
 * (kite_conn_inflight). Frames already read stay in the input buffer while paused and
 * are handled when reading resumes. Timestamps for the owner's timeouts: when the
 * current incomplete frame began (kite_conn_partial_since_ms) and when output last moved
 * (kite_conn_out_stalled_ms).
 * Input memory: a connection of a group (kite_conn_set_inmem) keeps the group's total of
 * input-buffer bytes up to date (allocated bytes, counted when the buffer grows, shrinks
 * or goes); a read that leaves the total over the group's cap calls its over hook. A
 * buffer bigger than two read chunks is given back once everything in it is handled. */
#include "net/conn.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "net/sock.h"
#include "net/tls.h"
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static kite_log_limit g_tls_lim = KITE_LOG_LIMIT_INIT; /* TLS failures caused by peers */

#define READ_CHUNK (64 * 1024)
#define OUT_HIGH   (64u * 1024 * 1024) /* default out_high */
#define MAX_IOV    64
#define FRAME_TURN 128 /* frames handled per turn at most before other connections get theirs */
#define TLS_STAGE  (64 * 1024) /* plaintext staged for SSL_write */
#define TLS_HELLO  0x16        /* first byte of a TLS record carrying a handshake */

enum { TLS_NONE, TLS_DETECT, TLS_HANDSHAKE, TLS_ON };
enum { PAUSE_OUT = 1, PAUSE_INFLIGHT = 2, PAUSE_TURN = 4 }; /* read_paused bits */

typedef struct out_item {
    const char *ptr; /* memory item */
    size_t len, off; /* bytes and progress */
    int fd;          /* >= 0: file item */
    int64_t file_off;
    void *owned; /* free() when done */
    kite_seg_release release;
    void *release_arg;
} out_item;

struct kite_conn {
    kite_ev *ev;
    int fd;
    atomic_int refs;
    int closed, connecting, in_read;
    int read_paused;     /* PAUSE_* bits: not reading while non-zero */
    int resume_deferred; /* a resume_read is queued on the loop */
    int turn_queued;     /* more whole frames wait in rbuf: handled in the next turn */
    int flush_deferred;  /* a deferred flush is queued on the loop */
    uint64_t id;
    kite_buf rbuf;
    out_item *q;
    size_t qhead, qlen, qcap;
    size_t out_bytes;
    size_t max_frame;
    size_t out_high;        /* SIZE_MAX: no output cap */
    int max_inflight;       /* 0: no limit */
    int inflight;           /* requests read and not finished (kite_conn_inflight) */
    int64_t partial_since;  /* mono ms when the incomplete frame in rbuf began; 0 = none */
    int64_t out_progress;   /* mono ms when output last moved or was first queued */
    kite_conn_inmem *inmem; /* the group whose input memory this connection counts in */
    size_t in_acct;         /* rbuf bytes counted in inmem->used */
    const kite_conn_ops *ops;
    void *ud;
    struct sockaddr_in peer;
    char peer_s[48];
    int64_t last_active;
    /* TLS (see tls_* below): NULL ctx = plain. */
    kite_tls_ctx *tls;
    SSL *ssl;
    int tls_state;
    int tls_dead;            /* a fatal TLS error: no close_notify may be sent */
    kite_ev_timer *hs_timer; /* server: closes a connection whose handshake lingers */
    char *stage;             /* plaintext taken from the queue, not yet accepted by SSL */
    size_t stage_len, stage_off;
};

static atomic_uint_fast64_t g_next_conn_id = 1; /* process-wide unique ids for logs and maps */

static void on_io(kite_ev *ev, int fd, uint32_t events, void *arg);
static void set_paused(kite_conn *c, int bit, int on);

kite_conn *kite_conn_new(kite_ev *ev, int fd, const struct sockaddr_in *peer, int connecting,
                         const kite_conn_ops *ops, void *ud, size_t max_frame)
{
    kite_conn *c = kite_xcalloc(1, sizeof *c);
    c->ev = ev;
    c->fd = fd;
    atomic_init(&c->refs, 1);
    c->connecting = connecting;
    c->id = atomic_fetch_add(&g_next_conn_id, 1);
    c->max_frame = max_frame;
    c->out_high = OUT_HIGH;
    c->ops = ops;
    c->ud = ud;
    if (peer) {
        c->peer = *peer;
        kite_sock_format_addr(peer, c->peer_s, sizeof c->peer_s);
    } else {
        snprintf(c->peer_s, sizeof c->peer_s, "?");
    }
    c->last_active = kite_mono_ms();
    if (kite_ev_add(ev, fd, KITE_EV_READ | (connecting ? KITE_EV_WRITE : 0), on_io, c) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void kite_conn_ref(kite_conn *c) { atomic_fetch_add(&c->refs, 1); }

void kite_conn_set_limits(kite_conn *c, size_t out_high, int max_inflight)
{
    c->out_high = out_high ? out_high : SIZE_MAX;
    c->max_inflight = max_inflight > 0 ? max_inflight : 0;
}

void kite_conn_inflight(kite_conn *c, int delta)
{
    c->inflight += delta;
    if (c->inflight < 0) c->inflight = 0;
    if (c->closed || !c->max_inflight) return;
    if (c->inflight >= c->max_inflight)
        set_paused(c, PAUSE_INFLIGHT, 1);
    else if (c->inflight <= c->max_inflight / 2) /* hysteresis: resume at half */
        set_paused(c, PAUSE_INFLIGHT, 0);
}

int kite_conn_inflight_count(const kite_conn *c) { return c->inflight; }
int kite_conn_read_paused(const kite_conn *c) { return c->read_paused != 0; }
int64_t kite_conn_partial_since_ms(const kite_conn *c) { return c->partial_since; }
size_t kite_conn_input_bytes(const kite_conn *c) { return c->rbuf.cap; }
size_t kite_conn_input_pending(const kite_conn *c) { return c->rbuf.len - c->rbuf.rpos; }

/* Brings the group's total up to date with the input buffer's size now. */
static void inmem_sync(kite_conn *c)
{
    if (!c->inmem) return;
    c->inmem->used = c->inmem->used - c->in_acct + c->rbuf.cap;
    c->in_acct = c->rbuf.cap;
}

void kite_conn_set_inmem(kite_conn *c, kite_conn_inmem *m)
{
    if (c->inmem) c->inmem->used -= c->in_acct;
    c->inmem = m;
    c->in_acct = 0;
    inmem_sync(c);
}

static void item_done(out_item *it)
{
    if (it->release) it->release(it->release_arg);
    free(it->owned);
    it->release = NULL;
    it->owned = NULL;
}

void kite_conn_unref(kite_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    for (size_t i = 0; i < c->qlen; i++) item_done(&c->q[(c->qhead + i) % c->qcap]);
    free(c->q);
    kite_buf_free(&c->rbuf);
    if (c->ssl) SSL_free(c->ssl);
    kite_tls_ctx_free(c->tls);
    free(c->stage);
    free(c);
}

int kite_conn_is_closed(const kite_conn *c) { return c->closed; }
const char *kite_conn_peer(const kite_conn *c) { return c->peer_s; }
const struct sockaddr_in *kite_conn_peer_addr(const kite_conn *c) { return &c->peer; }
kite_ev *kite_conn_ev(const kite_conn *c) { return c->ev; }
uint64_t kite_conn_id(const kite_conn *c) { return c->id; }
void *kite_conn_ud(const kite_conn *c) { return c->ud; }
void kite_conn_set_ud(kite_conn *c, void *ud) { c->ud = ud; }
size_t kite_conn_out_bytes(const kite_conn *c) { return c->out_bytes; }
int64_t kite_conn_last_active_ms(const kite_conn *c) { return c->last_active; }

static int out_pending(const kite_conn *c);

int64_t kite_conn_out_stalled_ms(const kite_conn *c, int64_t now)
{
    if (c->closed || !out_pending(c) || c->connecting) return 0;
    return now - c->out_progress;
}

/* Last attempt to send queued memory segments (answers to requests that came before a
 * bad frame in the same read), without blocking and without recursing into close. */
static int tls_flush(kite_conn *c, int may_close);

static void drain_best_effort(kite_conn *c)
{
    if (c->tls) {
        if (c->tls_state == TLS_ON) tls_flush(c, 0);
        return;
    }
    while (c->qlen && !c->connecting) {
        out_item *it = &c->q[c->qhead];
        if (it->fd >= 0) return;
        ssize_t n = send(c->fd, it->ptr + it->off, it->len - it->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0) return;
        it->off += (size_t)n;
        if (it->off < it->len) return;
        item_done(it);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
}

void kite_conn_close(kite_conn *c, const char *reason)
{
    if (c->closed) return;
    drain_best_effort(c);
    c->closed = 1;
    if (c->hs_timer) kite_ev_timer_cancel(c->ev, c->hs_timer);
    c->hs_timer = NULL;
    if (c->ssl && c->tls_state == TLS_ON && !c->tls_dead) {
        SSL_shutdown(c->ssl); /* best-effort close_notify */
        ERR_clear_error();
    }
    kite_ev_del(c->ev, c->fd);
    close(c->fd);
    c->fd = -1;
    if (!c->in_read) kite_buf_free(&c->rbuf); /* else process_frames frees it */
    kite_conn_set_inmem(c, NULL);
    for (size_t i = 0; i < c->qlen; i++) item_done(&c->q[(c->qhead + i) % c->qcap]);
    c->qlen = 0;
    c->out_bytes = 0;
    if (c->ops->on_close) c->ops->on_close(c, reason ? reason : "closed", c->ud);
    kite_conn_unref(c); /* the loop's reference */
}

static void q_push(kite_conn *c, const out_item *it)
{
    if (c->qlen == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 16;
        out_item *q = kite_xcalloc(cap, sizeof *q);
        for (size_t i = 0; i < c->qlen; i++) q[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = q;
        c->qcap = cap;
        c->qhead = 0;
    }
    if (!c->qlen && c->stage_off == c->stage_len) c->out_progress = kite_ev_now(c->ev);
    c->q[(c->qhead + c->qlen) % c->qcap] = *it;
    c->qlen++;
    c->out_bytes += it->len;
}

static int out_pending(const kite_conn *c) { return c->qlen || c->stage_off < c->stage_len; }

static void update_interest(kite_conn *c)
{
    if (c->closed) return;
    if (c->tls_state == TLS_DETECT || c->tls_state == TLS_HANDSHAKE) return; /* tls_step's */
    uint32_t want = 0;
    /* A turn's pause keeps the interest: it ends next turn, and two epoll_ctl calls per
     * yield would cost more than the event level-triggered epoll reports meanwhile (on_io
     * reads nothing while paused). */
    if (!(c->read_paused & ~PAUSE_TURN)) want |= KITE_EV_READ;
    if (out_pending(c) || c->connecting) want |= KITE_EV_WRITE;
    kite_ev_mod(c->ev, c->fd, want);
}

/* Writes queued output. Returns 0 (maybe partially written), KITE_ECLOSED after closing. */
static void tls_more_read(void *arg);

static void process_frames(kite_conn *c);

/* Reading resumed: frames left in rbuf and records already decrypted inside OpenSSL
 * raise no epoll event, so they are handled from here. */
static void resume_now(kite_conn *c)
{
    if (!c->closed && !c->read_paused) {
        update_interest(c);
        process_frames(c);
    }
    if (!c->closed && !c->read_paused && c->ssl && SSL_has_pending(c->ssl)) {
        kite_conn_ref(c);
        kite_ev_defer(c->ev, tls_more_read, c);
    }
}

static void resume_read(void *arg)
{
    kite_conn *c = arg;
    c->resume_deferred = 0;
    resume_now(c);
    kite_conn_unref(c);
}

static void set_paused(kite_conn *c, int bit, int on)
{
    int was = c->read_paused;
    if (on)
        c->read_paused |= bit;
    else
        c->read_paused &= ~bit;
    if (was && !c->read_paused && !c->closed) {
        if (!c->resume_deferred) {
            c->resume_deferred = 1;
            kite_conn_ref(c);
            kite_ev_defer(c->ev, resume_read, c);
        }
    } else if (!was && c->read_paused && !c->in_read) {
        update_interest(c);
    }
}

static void set_paused_by_backlog(kite_conn *c)
{
    if ((c->read_paused & PAUSE_OUT) && c->out_bytes < c->out_high / 4)
        set_paused(c, PAUSE_OUT, 0);
    else if (!(c->read_paused & PAUSE_OUT) && c->out_bytes > c->out_high)
        set_paused(c, PAUSE_OUT, 1);
}

static int flush_out(kite_conn *c)
{
    if (c->tls) {
        if (c->tls_state != TLS_ON) return 0; /* sent once the handshake is done */
        return tls_flush(c, 1);
    }
    while (c->qlen && !c->connecting) {
        out_item *first = &c->q[c->qhead];
        ssize_t n;
        if (first->fd >= 0) {
            off_t off = (off_t)(first->file_off + (int64_t)first->off);
            n = sendfile(c->fd, first->fd, &off, first->len - first->off);
        } else {
            struct iovec iov[MAX_IOV];
            int cnt = 0;
            for (size_t i = 0; i < c->qlen && cnt < MAX_IOV; i++) {
                out_item *it = &c->q[(c->qhead + i) % c->qcap];
                if (it->fd >= 0) break;
                iov[cnt].iov_base = (void *)(it->ptr + it->off);
                iov[cnt].iov_len = it->len - it->off;
                cnt++;
            }
            struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
            n = sendmsg(c->fd, &mh, MSG_NOSIGNAL); /* EPIPE instead of SIGPIPE in library users */
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            char why[96];
            snprintf(why, sizeof why, "write failed: %s", strerror(errno));
            kite_conn_close(c, why);
            return KITE_ECLOSED;
        }
        if (n == 0 && first->fd >= 0) {
            kite_conn_close(c, "sendfile: file shorter than the queued range");
            return KITE_ECLOSED;
        }
        size_t left = (size_t)n;
        if (n > 0) c->out_progress = kite_ev_now(c->ev);
        c->out_bytes -= left;
        while (left && c->qlen) {
            out_item *it = &c->q[c->qhead];
            size_t room = it->len - it->off;
            if (left < room) {
                it->off += left;
                left = 0;
                break;
            }
            left -= room;
            item_done(it);
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qlen--;
        }
        /* Zero-length items at the head are done too. */
        while (c->qlen && c->q[c->qhead].len == c->q[c->qhead].off) {
            item_done(&c->q[c->qhead]);
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qlen--;
        }
    }
    set_paused_by_backlog(c);
    update_interest(c);
    return 0;
}

static void deferred_flush(void *arg)
{
    kite_conn *c = arg;
    c->flush_deferred = 0;
    if (!c->closed && out_pending(c)) flush_out(c);
    kite_conn_unref(c);
}

int kite_conn_write(kite_conn *c, kite_buf *hdr, const kite_seg *segs, size_t nseg)
{
    if (c->closed) {
        for (size_t i = 0; i < nseg; i++)
            if (segs[i].release) segs[i].release(segs[i].release_arg);
        kite_buf_free(hdr);
        return KITE_ECLOSED;
    }
    int was_empty = c->qlen == 0;
    if (hdr && hdr->len) {
        out_item it = { 0 };
        size_t len;
        it.owned = kite_buf_steal(hdr, &len);
        it.ptr = it.owned;
        it.len = len;
        it.fd = -1;
        q_push(c, &it);
    }
    for (size_t i = 0; i < nseg; i++) {
        out_item it = { 0 };
        it.ptr = segs[i].ptr;
        it.len = segs[i].len;
        it.fd = segs[i].fd;
        it.file_off = segs[i].file_off;
        it.release = segs[i].release;
        it.release_arg = segs[i].release_arg;
        q_push(c, &it);
    }
    /* While frames of one read are being handled, replies are only queued: they go out
     * together in one writev after the batch (pipelined requests cost one syscall).
     * Writes made by a batch of posted tasks (replies completed on other threads,
     * requests from client threads) are flushed once at the end of that batch. */
    if (c->out_bytes > c->out_high) return flush_out(c);
    if (!was_empty || c->in_read) return 0;
    if (kite_ev_batching(c->ev)) {
        if (!c->flush_deferred) {
            c->flush_deferred = 1;
            kite_conn_ref(c);
            kite_ev_defer(c->ev, deferred_flush, c);
        }
        return 0;
    }
    return flush_out(c);
}

/* One SSL_read into rbuf: >0 bytes, 0 nothing now (want more input), -1 closed. */
static ssize_t tls_read(kite_conn *c)
{
    ERR_clear_error();
    int r = SSL_read(c->ssl, c->rbuf.data + c->rbuf.len, (int)(c->rbuf.cap - c->rbuf.len - 1));
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e != SSL_ERROR_ZERO_RETURN) c->tls_dead = 1;
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
        kite_conn_close(c, "peer closed the connection");
        return -1;
    }
    char why[200], ossl[160];
    kite_tls_last_error(ossl, sizeof ossl);
    snprintf(why, sizeof why, "TLS read failed: %s", ossl);
    kite_log_limited(&g_tls_lim, KITE_LOG_WARN, "net", "closing %s: %s", c->peer_s, why);
    kite_conn_close(c, why);
    return -1;
}

/* Plain input: straight into rbuf when it has room for half a chunk (a busy connection);
 * otherwise into the loop thread's scratch chunk, and rbuf grows only by what arrived -
 * an idle or trickling connection holds a few hundred bytes, not a 64 KiB chunk. */
static ssize_t plain_read(kite_conn *c)
{
    static _Thread_local char scratch[READ_CHUNK];
    size_t room = c->rbuf.data ? c->rbuf.cap - c->rbuf.len - 1 : 0;
    if (room >= READ_CHUNK / 2) return read(c->fd, c->rbuf.data + c->rbuf.len, room);
    ssize_t n = read(c->fd, scratch, sizeof scratch);
    if (n > 0) {
        kite_buf_reserve(&c->rbuf, (size_t)n);
        memcpy(c->rbuf.data + c->rbuf.len, scratch, (size_t)n); /* len is added by the caller */
    }
    return n;
}

static void handle_read(kite_conn *c)
{
    ssize_t n;
    if (c->ssl) {
        kite_buf_reserve(&c->rbuf, READ_CHUNK);
        /* Records up to a chunk per event (OpenSSL hands out one record per call). */
        n = 0;
        while (n < READ_CHUNK) {
            if (c->rbuf.cap - c->rbuf.len - 1 < 16 * 1024) kite_buf_reserve(&c->rbuf, READ_CHUNK);
            ssize_t r = tls_read(c);
            if (r < 0) return;
            if (r == 0) break;
            c->rbuf.len += (size_t)r;
            n += r;
        }
        inmem_sync(c); /* the buffer was sized for a chunk */
        if (n == 0) return;
        c->rbuf.len -= (size_t)n; /* added back below, as for a plain read */
    } else {
        n = plain_read(c);
    }
    if (n == 0) {
        kite_conn_close(c, "peer closed the connection");
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        char why[96];
        snprintf(why, sizeof why, "read failed: %s", strerror(errno));
        kite_conn_close(c, why);
        return;
    }
    c->rbuf.len += (size_t)n;
    c->last_active = kite_ev_now(c->ev);
    kite_conn_ref(c);
    inmem_sync(c);
    process_frames(c);
    kite_conn_inmem *m = c->inmem;
    if (m && m->cap && m->used > m->cap && m->over) m->over(m->arg);
    /* OpenSSL may hold decrypted bytes no epoll event will announce: read on. */
    if (!c->closed && c->ssl && !c->read_paused && SSL_has_pending(c->ssl)) {
        kite_conn_ref(c);
        kite_ev_defer(c->ev, tls_more_read, c);
    }
    kite_conn_unref(c);
}

/* The next turn has come: the frames left in rbuf are handled now (not at the end of the
 * turn, as set_paused's deferred resume would). */
static void next_turn(void *arg)
{
    kite_conn *c = arg;
    c->turn_queued = 0;
    c->read_paused &= ~PAUSE_TURN;
    resume_now(c);
    kite_conn_unref(c);
}

/* Hands the whole frames in rbuf to on_frame until it is empty or reading is paused, at
 * most FRAME_TURN of them per call, and no more once the loop's turn has used its budget
 * (kite_ev_turn_over; at least one frame per call): a client that pipelines thousands of
 * requests in one read, or asks for expensive answers, does not hold the loop - the rest
 * is handled in the next turn, after the connections that became ready meanwhile. */
static void process_frames(kite_conn *c)
{
    static kite_log_limit lim = KITE_LOG_LIMIT_INIT;
    kite_conn_ref(c);
    c->in_read = 1;
    int whole = 0, partial = 0;
    while (!c->closed && !c->read_paused) {
        size_t avail = c->rbuf.len - c->rbuf.rpos;
        if (avail < 4) {
            partial = avail > 0;
            break;
        }
        const uint8_t *p = (const uint8_t *)c->rbuf.data + c->rbuf.rpos;
        int32_t len = (int32_t)kite_rd_be32(p);
        if (len < 4 || (uint64_t)len + 4 > c->max_frame) {
            char why[128];
            snprintf(why, sizeof why, "invalid frame length %d (limit %zu bytes)", len,
                     c->max_frame);
            kite_log_limited(&lim, KITE_LOG_WARN, "net", "closing %s: %s", c->peer_s, why);
            kite_conn_close(c, why);
            break;
        }
        size_t flen = (size_t)len + 4;
        if (avail < flen) { /* rbuf grows with what arrives: a declared length costs nothing */
            partial = 1;
            break;
        }
        if (whole == FRAME_TURN || (whole && kite_ev_turn_over(c->ev))) {
            set_paused(c, PAUSE_TURN, 1); /* no more input until the rest is handled */
            if (!c->turn_queued) {
                c->turn_queued = 1;
                kite_conn_ref(c);
                kite_ev_next_turn(c->ev, next_turn, c);
            }
            break;
        }
        c->rbuf.rpos += flen;
        whole++;
        c->ops->on_frame(c, p, flen, c->ud);
    }
    if (!partial)
        c->partial_since = 0;
    else if (whole || !c->partial_since)
        c->partial_since = kite_ev_now(c->ev);
    kite_ev_prewrite_run(c->ev); /* completes answers of this read: they go out below */
    c->in_read = 0;
    if (c->closed) kite_buf_free(&c->rbuf);
    if (!c->closed) {
        kite_buf_compact(&c->rbuf);
        if (!c->rbuf.len && c->rbuf.cap > 2 * READ_CHUNK) kite_buf_free(&c->rbuf);
        inmem_sync(c);
        if (out_pending(c))
            flush_out(c);
        else
            update_interest(c);
    }
    kite_conn_unref(c);
}

static void tls_more_read(void *arg)
{
    kite_conn *c = arg;
    if (!c->closed && !c->read_paused) handle_read(c);
    kite_conn_unref(c);
}

/* ---- TLS ----------------------------------------------------------------------------
 * Output: bytes move from the queue into the staging buffer (memory copied, file ranges
 * read with pread) and are handed to SSL_write from there, so a write that must be
 * retried (SSL_ERROR_WANT_WRITE) is retried with the same bytes. Input: SSL_read into
 * rbuf, then the same framing as plain connections. Handshake: SSL_do_handshake is
 * called whenever the socket is ready the way OpenSSL asked (WANT_READ / WANT_WRITE); it
 * never blocks the loop. */

static int tls_flush(kite_conn *c, int may_close)
{
    while (!c->closed) {
        if (c->stage_off == c->stage_len) {
            c->stage_off = c->stage_len = 0;
            if (!c->qlen) break;
            if (!c->stage) c->stage = kite_xmalloc(TLS_STAGE);
            while (c->qlen && c->stage_len < TLS_STAGE) {
                out_item *it = &c->q[c->qhead];
                size_t take = it->len - it->off;
                if (take > TLS_STAGE - c->stage_len) take = TLS_STAGE - c->stage_len;
                if (it->fd >= 0 && take) {
                    ssize_t r = pread(it->fd, c->stage + c->stage_len, take,
                                      (off_t)(it->file_off + (int64_t)it->off));
                    if (r <= 0) {
                        if (r < 0 && errno == EINTR) continue;
                        if (may_close)
                            kite_conn_close(c, "file range could not be read for sending");
                        return KITE_ECLOSED;
                    }
                    take = (size_t)r;
                } else if (take) {
                    memcpy(c->stage + c->stage_len, it->ptr + it->off, take);
                }
                c->stage_len += take;
                it->off += take;
                c->out_bytes -= take;
                if (it->off == it->len) {
                    item_done(it);
                    c->qhead = (c->qhead + 1) % c->qcap;
                    c->qlen--;
                }
            }
            if (!c->stage_len) continue;
        }
        ERR_clear_error();
        int n = SSL_write(c->ssl, c->stage + c->stage_off, (int)(c->stage_len - c->stage_off));
        if (n > 0) {
            c->stage_off += (size_t)n;
            c->out_progress = kite_ev_now(c->ev);
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
        c->tls_dead = 1;
        if (may_close) {
            char why[200], ossl[160];
            kite_tls_last_error(ossl, sizeof ossl);
            snprintf(why, sizeof why, "TLS write failed: %s",
                     e == SSL_ERROR_SYSCALL ? strerror(errno) : ossl);
            kite_conn_close(c, why);
        }
        return KITE_ECLOSED;
    }
    if (c->closed) return KITE_ECLOSED;
    set_paused_by_backlog(c);
    if (may_close) update_interest(c);
    return 0;
}

static void hs_timeout(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_conn *c = arg;
    (void)ev;
    (void)t;
    c->hs_timer = NULL;
    char why[96];
    snprintf(why, sizeof why, "TLS handshake not completed within %lld ms",
             (long long)kite_tls_ctx_handshake_timeout(c->tls));
    kite_log_limited(&g_tls_lim, KITE_LOG_INFO, "net", "closing %s: %s", c->peer_s, why);
    kite_conn_close(c, why);
}

static void tls_established(kite_conn *c)
{
    c->tls_state = TLS_ON;
    if (c->hs_timer) kite_ev_timer_cancel(c->ev, c->hs_timer);
    c->hs_timer = NULL;
    KLOG_DEBUG("net", "TLS with %s: %s %s", c->peer_s, SSL_get_version(c->ssl),
               SSL_get_cipher_name(c->ssl));
    kite_conn_ref(c);
    if (!kite_tls_ctx_is_server(c->tls) && c->ops->on_connect) c->ops->on_connect(c, c->ud);
    if (!c->closed) flush_out(c);
    if (!c->closed) update_interest(c);
    if (!c->closed && !c->read_paused) handle_read(c); /* data sent right after Finished */
    kite_conn_unref(c);
}

static void tls_handshake(kite_conn *c)
{
    ERR_clear_error();
    errno = 0; /* a failure's text names the system error only when this call set one */
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        tls_established(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        kite_ev_mod(c->ev, c->fd, KITE_EV_READ);
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        kite_ev_mod(c->ev, c->fd, KITE_EV_READ | KITE_EV_WRITE);
        return;
    }
    char why[320], reason[280];
    kite_tls_ssl_error(c->ssl, e, reason, sizeof reason);
    snprintf(why, sizeof why, "TLS handshake failed: %s", reason);
    kite_log_limited(&g_tls_lim, KITE_LOG_WARN, "net", "closing %s: %s", c->peer_s, why);
    kite_conn_close(c, why);
}

static int tls_new_ssl(kite_conn *c, const char *host)
{
    c->ssl = kite_tls_ssl_new(c->tls, c->fd, host);
    return c->ssl ? 0 : -1;
}

/* Permissive / enforcing server: look at the first byte without taking it. */
static void tls_detect(kite_conn *c)
{
    unsigned char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK);
    if (n == 0) {
        kite_conn_close(c, "peer closed the connection");
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        char why[96];
        snprintf(why, sizeof why, "read failed: %s", strerror(errno));
        kite_conn_close(c, why);
        return;
    }
    if (b == TLS_HELLO) {
        if (tls_new_ssl(c, NULL) != 0) {
            kite_conn_close(c, "cannot create a TLS session");
            return;
        }
        c->tls_state = TLS_HANDSHAKE;
        tls_handshake(c);
        return;
    }
    if (kite_tls_ctx_mode(c->tls) == KITE_TLS_ENFORCING) {
        kite_log_limited(&g_tls_lim, KITE_LOG_WARN, "net",
                         "closing %s: a plain connection while tls.server.mode is enforcing",
                         c->peer_s);
        kite_conn_close(c, "plain connection refused: tls.server.mode is enforcing");
        return;
    }
    /* Permissive: a plain connection from here on. */
    if (c->hs_timer) kite_ev_timer_cancel(c->ev, c->hs_timer);
    c->hs_timer = NULL;
    kite_tls_ctx_free(c->tls);
    c->tls = NULL;
    c->tls_state = TLS_NONE;
    update_interest(c);
    handle_read(c);
}

int kite_conn_tls_start(kite_conn *c, kite_tls_ctx *tls, const char *host)
{
    kite_tls_ctx_ref(tls);
    c->tls = tls;
    if (kite_tls_ctx_is_server(tls)) {
        c->tls_state = TLS_DETECT;
        c->hs_timer =
            kite_ev_timer_add(c->ev, kite_tls_ctx_handshake_timeout(tls), 0, hs_timeout, c);
        return 0;
    }
    if (tls_new_ssl(c, host) != 0) return KITE_ENOMEM;
    c->tls_state = TLS_HANDSHAKE;
    if (!c->connecting) tls_handshake(c);
    return 0;
}

int kite_conn_is_tls(const kite_conn *c) { return c->tls_state == TLS_ON; }

static void on_io(kite_ev *ev, int fd, uint32_t events, void *arg)
{
    kite_conn *c = arg;
    (void)ev;
    (void)fd;
    if (c->tls_state == TLS_DETECT) {
        tls_detect(c);
        return;
    }
    if (c->tls_state == TLS_HANDSHAKE && !c->connecting) {
        tls_handshake(c);
        return;
    }
    if (c->connecting && (events & (KITE_EV_WRITE | KITE_EV_ERROR))) {
        int soerr = 0;
        socklen_t l = sizeof soerr;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
        if (soerr) {
            char why[96];
            snprintf(why, sizeof why, "connect failed: %s", strerror(soerr));
            kite_conn_close(c, why);
            return;
        }
        c->connecting = 0;
        if (c->tls_state == TLS_HANDSHAKE) { /* on_connect once the handshake is done */
            tls_handshake(c);
            return;
        }
        kite_conn_ref(c);
        if (c->ops->on_connect) c->ops->on_connect(c, c->ud);
        int closed = c->closed;
        kite_conn_unref(c);
        if (closed) return;
        if (flush_out(c) != 0) return;
    }
    if ((events & KITE_EV_ERROR) && (c->read_paused & ~PAUSE_TURN) && !c->closed &&
        !(events & KITE_EV_WRITE)) {
        /* Hung up while we do not read: no event would ever end it (level-triggered). A
         * turn's pause is not such a state: its frames are handled next turn, then the
         * read sees the end (closing now would drop whole requests already received). */
        kite_conn_close(c, "peer hung up");
        return;
    }
    if ((events & KITE_EV_WRITE) && !c->closed && out_pending(c)) {
        if (flush_out(c) != 0) return;
    }
    if ((events & KITE_EV_READ) && !c->closed && !c->read_paused) handle_read(c);
}
