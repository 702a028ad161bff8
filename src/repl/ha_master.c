/* ha_master.c - the master's replication service: accepts slaves on haListenPort, reads
 * their 8-byte offset reports, and streams its commit log to each from the offset it asked
 * for, in frames of at most haTransferBatchSize bytes (heartbeats when idle).
 *
 * Owns: the listening socket, one connection state per slave, the service thread
 * (kite-hamaster). The thread sleeps in poll() and is woken through an eventfd by the
 * store's append hook (kite_ha_master_notify, on the writer's thread) when new records are
 * written, so shipping starts within one wake-up and the writer never waits.
 * Checks on top of the classic protocol (docs/wire.md §13): a first report of 0 (an empty
 * slave) starts at the oldest offset this master retains, not at its last file; a first
 * report past this master's end (the slave holds bytes this master never wrote: diverged)
 * is refused with a log line and the connection closed; one below the oldest retained
 * offset is warned about and shipping starts at that offset (the slave then sees whether
 * its log reaches it); a later report past the bytes actually sent on that connection is refused the
 * same way, so an acknowledgement never counts bytes the peer was not sent; a report of -1
 * is a KiteMQ slave saying it found its log diverged.
 * TLS (haTlsMode, wire.md §15.5): a new connection is first in a detect state, where its
 * first byte is peeked: 0x16 starts a TLS handshake (stepped from the poll loop, bounded by
 * the handshake timeout), anything else is the classic protocol, served in permissive mode
 * and refused in enforcing mode (a TLS alert, then close). Frames then go out with SSL_write
 * straight from the mapped commit-log file instead of sendfile; only bytes whose records
 * went to the socket count as sent, so acknowledgements are checked as on plain TCP. */
#include "repl/ha.h"
#include "repl/ha_auth.h"
#include "repl/ha_tls.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/thread.h"
#include "base/time.h"
#include "net/sock.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define IDLE_POLL_MS 1000      /* poll bound when nothing is due (stop uses the eventfd) */
#define PUMP_MAX     (1 << 20) /* bytes sent to one slave before the others get a turn */
/* Permissive mode with haAuthKeyFile: a plain keyed slave says nothing before the master's
 * challenge, while a TLS slave opens with its ClientHello at once. A connection silent for
 * this long is taken as plain and challenged (a TLS slave later than that fails its
 * handshake and retries). Nothing else waits on time to decide. */
#define PLAIN_SILENCE_MS 1000

/* How bytes move on a connection. */
enum { LINK_PLAIN = 0, LINK_DETECT, LINK_HANDSHAKE, LINK_TLS };

/* Lines a peer can cause on the HA port, one limiter per kind (base/log.h). */
static kite_log_limit g_lim_mismatch = KITE_LOG_LIMIT_INIT;  /* TLS on one side only */
static kite_log_limit g_lim_handshake = KITE_LOG_LIMIT_INIT; /* failed / overdue handshakes */

typedef struct ha_conn {
    int fd;
    char peer[64];
    int link;             /* LINK_* */
    SSL *ssl;             /* LINK_HANDSHAKE, LINK_TLS */
    int want_write;       /* the TLS layer waits until the socket takes bytes */
    int write_wants_read; /* the last SSL_write waits for the peer's bytes first */
    int64_t hs_deadline;  /* LINK_DETECT / LINK_HANDSHAKE: closed when not done by then */
    int64_t plain_at;     /* LINK_DETECT, permissive with a key: taken as plain then */
    char how[80];         /* "over TLS (TLSv1.3 ...)" or "plain", for the logs */
    char err[256];        /* text of the last TLS failure */
    uint8_t rbuf[8];
    int rlen;                      /* bytes of a report not yet complete */
    int64_t req;                   /* first report, -1 until it arrived */
    int64_t ack;                   /* last report */
    int64_t first;                 /* first byte shipped on this connection */
    int64_t next;                  /* offset of the next byte to queue */
    uint8_t hdr[32];               /* a frame header, or a handshake message (ha_auth.h) */
    int hlen, hsent;               /* queued / sent */
    int auth;                      /* waiting for the slave's handshake response */
    uint8_t mnonce[KITE_HA_NONCE]; /* the challenge sent */
    uint8_t ain[KITE_HA_RESPONSE];
    int alen;
    kite_store_seg seg; /* frame payload queued (seg.file != NULL) */
    uint32_t dsent;
    int64_t last_read_ms, last_write_ms;
} ha_conn;

typedef struct ha_waiter {
    int64_t start, end, deadline;
    kite_ha_wait_cb cb;
    void *arg;
} ha_waiter;

typedef struct ha_sync {
    int64_t first, ack;
} ha_sync;

struct kite_ha_master {
    kite_store *s;
    kite_ha_opts o;
    char *key;         /* auth key, NULL = classic protocol */
    kite_tls_ctx *tls; /* server context when o.tls_mode is not DISABLED, else NULL */
    int lfd, efd;
    char addr[96];
    pthread_t thr;
    _Atomic int stop;
    _Atomic int sleeping; /* the thread is (about to be) blocked in poll */
    ha_conn **c;          /* thread-owned */
    size_t n, cap;
    _Atomic int st_slaves;
    _Atomic int64_t st_acked, st_sent;
    /* SYNC_MASTER waiters (kite_ha_master_wait) and what they are checked against */
    pthread_mutex_t wmu; /* guards the fields below */
    ha_waiter *w;
    size_t nw, wcap;
    ha_sync *snap; /* accepted connections: [first, ack) shipped there and held */
    size_t nsnap, snapcap;
    int64_t wake_at; /* monotonic ms the thread's poll ends at the latest */
    int closing;     /* stop: new waiters are answered at once */
};

static void wake(kite_ha_master *m)
{
    uint64_t one = 1;
    ssize_t r = write(m->efd, &one, sizeof one);
    (void)r; /* a full counter already means "wake up" */
}

/* The store's append hook: records were written. Cheap when the thread is busy. */
static void notify(void *arg)
{
    kite_ha_master *m = arg;
    atomic_thread_fence(memory_order_seq_cst); /* the written end is visible before the check */
    if (atomic_load_explicit(&m->sleeping, memory_order_relaxed) &&
        atomic_exchange(&m->sleeping, 0))
        wake(m);
}

static void conn_close(kite_ha_master *m, size_t i, const char *why)
{
    ha_conn *c = m->c[i];
    if (why)
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "repl", "slave %s disconnected: %s", c->peer,
                     why);
    if (c->seg.file) kite_store_seg_release(&c->seg);
    kite_ha_tls_free(c->ssl, c->link == LINK_TLS && !c->err[0]);
    close(c->fd);
    free(c);
    m->c[i] = m->c[--m->n];
}

static void put_hdr(ha_conn *c, int64_t off, uint32_t size)
{
    kite_wr_be64(c->hdr, (uint64_t)off);
    kite_wr_be32(c->hdr + 8, size);
    c->hlen = 12;
    c->hsent = 0;
}

/* Bytes of this connection's stream the peer has been sent (the payload in flight counts
 * up to what left). */
static int64_t sent_end(const ha_conn *c)
{
    return c->next + (c->seg.file && c->hsent == c->hlen ? (int64_t)c->dsent : 0);
}

/* Writes up to n bytes: how many left (TLS: whole records handed to the socket), 0 when
 * the socket is full (call again with the same bytes), or a status with *why. more: more
 * bytes follow at once (plain: MSG_MORE). */
static ssize_t conn_write(ha_conn *c, const void *p, size_t n, int more, const char **why)
{
    if (c->ssl) {
        ssize_t w = kite_ha_tls_write(c->ssl, p, n, &c->want_write, c->err, sizeof c->err);
        c->write_wants_read = w == 0 && !c->want_write;
        if (w < 0) *why = c->err;
        return w;
    }
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (w >= 0) return w;
    if (errno == EAGAIN || errno == EINTR) return 0;
    *why = strerror(errno);
    return kite_status_from_errno(errno);
}

/* Reads up to n bytes: how many, 0 when none are there now, or a status with *why
 * (KITE_ECLOSED when the slave closed). */
static ssize_t conn_read(ha_conn *c, void *p, size_t n, const char **why)
{
    if (c->ssl) {
        ssize_t r = kite_ha_tls_read(c->ssl, p, n, &c->want_write, c->err, sizeof c->err);
        if (r > 0) c->write_wants_read = 0; /* whatever a write waited for may have come */
        if (r == KITE_ECLOSED) {
            c->err[0] = 0;
            *why = "closed by the slave";
        } else if (r < 0) {
            *why = c->err;
        }
        return r;
    }
    ssize_t r = read(c->fd, p, n);
    if (r > 0) return r;
    if (r == 0) {
        *why = "closed by the slave";
        return KITE_ECLOSED;
    }
    if (errno == EAGAIN || errno == EINTR) return 0;
    *why = strerror(errno);
    return kite_status_from_errno(errno);
}

/* Queues and writes frames while the socket accepts them. Returns KITE_OK, or the status
 * for which the connection must close (*why says why): the send's, KITE_EIO for a commit
 * log shorter than its written end, KITE_ENOTFOUND for an offset no longer retained. */
static int pump_out(kite_ha_master *m, ha_conn *c, int64_t now, const char **why)
{
    size_t budget = PUMP_MAX;
    if (c->link == LINK_DETECT || c->link == LINK_HANDSHAKE) return KITE_OK; /* not yet */
    for (;;) {
        if (c->hsent < c->hlen) {
            ssize_t w = conn_write(c, c->hdr + c->hsent, (size_t)(c->hlen - c->hsent),
                                   c->seg.file != NULL, why);
            if (w <= 0) return (int)w; /* 0: the socket is full */
            c->hsent += (int)w;
            c->last_write_ms = now;
            continue;
        }
        if (c->seg.file) {
            ssize_t w;
            if (c->ssl) { /* encrypted in place from the mapping: no copy, no sendfile */
                w = conn_write(c, c->seg.data + c->dsent, c->seg.len - c->dsent, 0, why);
                if (w <= 0) return (int)w;
            } else {
                off_t off = (off_t)(c->seg.file_off + c->dsent);
                w = sendfile(c->fd, c->seg.fd, &off, c->seg.len - c->dsent);
                if (w < 0) {
                    if (errno == EAGAIN || errno == EINTR) return KITE_OK;
                    *why = strerror(errno);
                    return kite_status_from_errno(errno);
                }
            }
            if (w == 0) {
                *why = "the commit log file is shorter than its written end";
                return KITE_EIO;
            }
            c->dsent += (uint32_t)w;
            c->last_write_ms = now;
            if (c->dsent < c->seg.len) continue;
            c->next += c->seg.len;
            kite_store_seg_release(&c->seg);
            int64_t sent = atomic_load_explicit(&m->st_sent, memory_order_relaxed);
            if (c->next > sent) atomic_store_explicit(&m->st_sent, c->next, memory_order_relaxed);
            if (budget <= c->dsent) return KITE_OK;
            budget -= c->dsent;
            c->dsent = 0;
        }
        if (c->req < 0) return KITE_OK; /* nothing is sent before the slave said where to start */
        int rc = kite_store_read_raw(m->s, c->next, (size_t)m->o.batch_bytes, &c->seg);
        if (rc == KITE_OK) {
            c->dsent = 0;
            put_hdr(c, c->next, c->seg.len);
            continue;
        }
        if (rc == KITE_EAGAIN) { /* caught up: a heartbeat when nothing was sent for a while */
            if (now - c->last_write_ms < m->o.heartbeat_ms) return KITE_OK;
            put_hdr(c, c->next, 0);
            continue;
        }
        KLOG_LIMITED(1, KITE_LOG_ERROR, "repl",
                     "slave %s needs offset %lld, which this master no longer retains (its "
                     "oldest offset is %lld): refused",
                     c->peer, (long long)c->next, (long long)kite_store_cl_min_offset(m->s));
        *why = "offset no longer retained";
        return rc; /* KITE_ENOTFOUND */
    }
}

/* A slave opened with a TLS ClientHello on a port that serves only the classic protocol. */
static void tls_on_plain_port(kite_ha_master *m, ha_conn *c)
{
    kite_log_limited(&g_lim_mismatch, KITE_LOG_WARN, "repl",
                     "refused a replication connection from %s: it starts TLS, but TLS is off "
                     "on this master's HA port %s (haTlsMode=disabled; set haTlsMode=permissive "
                     "or enforcing here, or haTlsEnable=false on that slave)",
                     c->peer, m->addr);
}

/* One complete report. Returns KITE_OK, or the status to close with (*why): KITE_ECORRUPT
 * for a diverged slave, KITE_EPROTO for a report the protocol does not allow. */
static int on_report(kite_ha_master *m, ha_conn *c, int64_t v, const char **why)
{
    if (c->req < 0) {
        int64_t min = kite_store_cl_min_offset(m->s), max = kite_store_cl_max_offset(m->s);
        if (!c->ssl && kite_ha_tls_is_record(c->rbuf, 8)) {
            tls_on_plain_port(m, c);
            *why = NULL;
            return KITE_EPROTO;
        }
        if (v > max) {
            KLOG_LIMITED(
                1, KITE_LOG_ERROR, "repl",
                "slave %s asks for offset %lld, past this master's commit log end %lld: "
                "it holds bytes this master never wrote (its log diverged from this one, e.g. "
                "an old master returning as a slave); refused. Rebuild that slave's store.",
                c->peer, (long long)v, (long long)max);
            *why = "diverged: asked past the end";
            return KITE_ECORRUPT;
        }
        if (v < 0) {
            *why = "asked for a negative offset";
            return KITE_EPROTO;
        }
        if (v > 0 && v < min) /* the slave sees where this starts and decides (ha_slave.c) */
            KLOG_LIMITED(
                1, KITE_LOG_WARN, "repl",
                "slave %s asks for offset %lld, but the oldest offset this master retains "
                "is %lld: shipping from there; a slave whose log ends before it cannot follow",
                c->peer, (long long)v, (long long)min);
        c->req = v;
        c->next = v < min ? min : v; /* an empty slave copies everything still retained */
        c->first = c->ack = c->next;
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "repl",
                     "slave %s connected%s%s: shipping from offset %lld (it asked for %lld; this "
                     "master retains [%lld, %lld))",
                     c->peer, c->how[0] ? " " : "", c->how, (long long)c->next, (long long)v,
                     (long long)min, (long long)max);
        return KITE_OK;
    }
    if (v == -1) {
        KLOG_LIMITED(
            1, KITE_LOG_ERROR, "repl",
            "slave %s reports that it cannot follow this master's commit log (its log "
            "diverged from this one, or ends before the oldest offset retained here; it asked for "
            "%lld); it stopped replicating. Rebuild that slave's store.",
            c->peer, (long long)c->req);
        *why = "diverged (reported by the slave)";
        return KITE_ECORRUPT;
    }
    if (v > sent_end(c) || v < 0) {
        KLOG_LIMITED(1, KITE_LOG_ERROR, "repl",
                     "slave %s acknowledges offset %lld, but only the bytes up to %lld were "
                     "sent to it: refused (an acknowledgement never counts bytes not sent)",
                     c->peer, (long long)v, (long long)sent_end(c));
        *why = "acknowledged bytes it was not sent";
        return KITE_EPROTO;
    }
    c->ack = v;
    int64_t a = atomic_load_explicit(&m->st_acked, memory_order_relaxed);
    if (v > a) atomic_store_explicit(&m->st_acked, v, memory_order_relaxed);
    return KITE_OK;
}

/* One byte of a slave's handshake response. Returns KITE_OK, or KITE_EPROTO to close (*why)
 * when the peer does not answer the challenge or its proof does not match the key. */
static int on_auth_byte(kite_ha_master *m, ha_conn *c, uint8_t b, const char **why)
{
    c->ain[c->alen++] = b;
    if (c->alen == 8 && !c->ssl && kite_ha_tls_is_record(c->ain, 8)) {
        tls_on_plain_port(m, c);
        *why = NULL;
        return KITE_EPROTO;
    }
    if (c->alen == 8 && memcmp(c->ain, KITE_HA_MAGIC, 8) != 0) {
        KLOG_LIMITED(
            1, KITE_LOG_ERROR, "repl",
            "refused a replication connection from %s: it did not answer the authentication "
            "challenge (haAuthKeyFile is set here: a slave needs the same key; a classic slave cannot "
            "follow this master)",
            c->peer);
        *why = "not authenticated";
        return KITE_EPROTO;
    }
    if (c->alen < KITE_HA_RESPONSE) return KITE_OK;
    const uint8_t *snonce = c->ain + 8, *proof = c->ain + 8 + KITE_HA_NONCE;
    if (!kite_ha_proof_ok(m->key, "slave", c->mnonce, snonce, proof) || c->hsent != c->hlen) {
        KLOG_LIMITED(
            1, KITE_LOG_ERROR, "repl",
            "refused a replication connection from %s: its proof does not match this master's "
            "haAuthKeyFile",
            c->peer);
        *why = "wrong key";
        return KITE_EPROTO;
    }
    kite_ha_proof(m->key, "master", snonce, c->mnonce, c->hdr); /* this master's own proof */
    c->hlen = KITE_HA_PROOF;
    c->hsent = 0;
    c->auth = 0;
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "repl", "slave %s authenticated", c->peer);
    return KITE_OK;
}

/* Reads and handles what the slave sent until the socket is drained. Returns KITE_OK, or
 * the status to close with (*why): KITE_ECLOSED when the slave closed, the read's, or
 * on_auth_byte's / on_report's. */
static int pump_in(kite_ha_master *m, ha_conn *c, int64_t now, const char **why)
{
    uint8_t buf[4096];
    if (c->link == LINK_DETECT || c->link == LINK_HANDSHAKE) return KITE_OK; /* not yet */
    for (;;) {
        ssize_t r = conn_read(c, buf, sizeof buf, why);
        if (r <= 0) return (int)r; /* 0: drained (TLS: no record left inside OpenSSL either) */
        c->last_read_ms = now;
        for (ssize_t i = 0; i < r; i++) {
            int rc;
            if (c->auth) {
                if ((rc = on_auth_byte(m, c, buf[i], why)) != KITE_OK) return rc;
                continue;
            }
            c->rbuf[c->rlen++] = buf[i];
            if (c->rlen < 8) continue;
            c->rlen = 0;
            if ((rc = on_report(m, c, (int64_t)kite_rd_be64(c->rbuf), why)) != KITE_OK) return rc;
        }
    }
}

/* The connection speaks TLS from now on, or has just failed its handshake. */
static int link_handshake(kite_ha_master *m, ha_conn *c)
{
    int rc = kite_ha_tls_handshake(c->ssl, &c->want_write, c->err, sizeof c->err);
    if (rc == 0) return KITE_OK;
    if (rc < 0) {
        kite_log_limited(&g_lim_handshake, KITE_LOG_WARN, "repl",
                         "TLS handshake with replication peer %s on %s failed: %s", c->peer,
                         m->addr, c->err);
        return rc;
    }
    char d[64];
    kite_ha_tls_describe(c->ssl, d, sizeof d);
    snprintf(c->how, sizeof c->how, "over TLS (%s)", d);
    c->link = LINK_TLS;
    c->want_write = 0;
    return KITE_OK;
}

/* A plain peer on an enforcing port: its bytes are read away (so that closing sends a FIN,
 * not a reset that could discard what follows), a TLS alert is written, and it is closed. */
static int refuse_plain(kite_ha_master *m, ha_conn *c)
{
    uint8_t sink[256];
    while (recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
    ssize_t w = send(c->fd, kite_ha_tls_alert, KITE_HA_TLS_ALERT_LEN, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w; /* best effort: the peer learns it from the log line on its side otherwise */
    kite_log_limited(&g_lim_mismatch, KITE_LOG_WARN, "repl",
                     "refused a plain replication connection from %s: this master's HA port %s "
                     "accepts TLS only (haTlsMode=enforcing); the slave needs haTlsEnable=true",
                     c->peer, m->addr);
    return KITE_EPROTO;
}

/* Detect and handshake states: looks at the first byte without taking it (0x16 = a TLS
 * ClientHello; a classic report opens with the top byte of its offset, 0 below 2^56; a
 * KiteMQ handshake response with 'K'), then steps the handshake. Returns KITE_OK (the link
 * may have changed), or a status to close with (already logged, rate-limited). */
static int link_step(kite_ha_master *m, ha_conn *c, int64_t now)
{
    if (c->link == LINK_DETECT) {
        uint8_t b;
        ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (m->o.tls_mode == KITE_TLS_ENFORCING)
                kite_log_limited(&g_lim_mismatch, KITE_LOG_WARN, "repl",
                                 "replication peer %s closed the connection without starting "
                                 "TLS (haTlsMode=enforcing on %s: a slave needs haTlsEnable=true)",
                                 c->peer, m->addr);
            return KITE_ECLOSED;
        }
        if (n < 0) {                                 /* nothing yet */
            if (c->plain_at && now >= c->plain_at) { /* a plain keyed slave waits for us */
                c->link = LINK_PLAIN;
                snprintf(c->how, sizeof c->how, "plain (haTlsMode=permissive)");
            }
            return KITE_OK;
        }
        if (b != KITE_HA_TLS_HELLO) {
            if (m->o.tls_mode == KITE_TLS_ENFORCING) return refuse_plain(m, c);
            c->link = LINK_PLAIN;
            snprintf(c->how, sizeof c->how, "plain (haTlsMode=permissive)");
            return KITE_OK;
        }
        c->ssl = kite_ha_tls_new(m->tls, c->fd, NULL);
        if (!c->ssl) {
            KLOG_ERROR("repl", "cannot create a TLS session for %s", c->peer);
            return KITE_ENOMEM;
        }
        c->link = LINK_HANDSHAKE;
    }
    if (c->link == LINK_HANDSHAKE) return link_handshake(m, c);
    return KITE_OK;
}

/* Detect / handshake not done by the deadline: closed (rate-limited line). */
static int link_overdue(kite_ha_master *m, ha_conn *c, int64_t now)
{
    if ((c->link != LINK_DETECT && c->link != LINK_HANDSHAKE) || now < c->hs_deadline) return 0;
    kite_log_limited(&g_lim_handshake, KITE_LOG_WARN, "repl",
                     "closing replication peer %s on %s: %s within %lld ms "
                     "(tls.server.handshakeTimeoutMillis)",
                     c->peer, m->addr,
                     c->link == LINK_DETECT ? "no TLS handshake started"
                                            : "TLS handshake not completed",
                     (long long)m->o.tls_handshake_ms);
    return 1;
}

static void accept_all(kite_ha_master *m, int64_t now)
{
    for (;;) {
        struct sockaddr_in peer;
        int fd = kite_sock_accept(m->lfd, &peer);
        if (fd < 0) {
            if (fd != KITE_EAGAIN)
                KLOG_LIMITED(1, KITE_LOG_WARN, "repl", "accept on %s: %s", m->addr,
                             kite_strerror(fd));
            return;
        }
        ha_conn *c = kite_xcalloc(1, sizeof *c);
        c->fd = fd;
        kite_sock_format_addr(&peer, c->peer, sizeof c->peer);
        c->req = -1;
        c->last_read_ms = c->last_write_ms = now;
        if (m->tls) { /* TLS or plain: the first byte tells (link_step) */
            c->link = LINK_DETECT;
            c->hs_deadline = now + m->o.tls_handshake_ms;
            if (m->key && m->o.tls_mode == KITE_TLS_PERMISSIVE)
                c->plain_at = now + PLAIN_SILENCE_MS;
        }
        if (m->key) { /* the challenge: magic + nonce; nothing else before the answer */
            kite_ha_nonce(c->mnonce);
            memcpy(c->hdr, KITE_HA_MAGIC, 8);
            memcpy(c->hdr + 8, c->mnonce, KITE_HA_NONCE);
            c->hlen = KITE_HA_CHALLENGE;
            c->auth = 1;
        }
        m->c = kite_xgrow(m->c, &m->cap, m->n + 1, sizeof *m->c, 4);
        m->c[m->n++] = c;
        KLOG_DEBUG("repl", "connection from %s on %s", c->peer, m->addr);
    }
}

static void update_slave_count(kite_ha_master *m)
{
    int k = 0;
    for (size_t i = 0; i < m->n; i++) k += m->c[i]->req >= 0;
    atomic_store(&m->st_slaves, k);
}

/* A waiter is satisfied by one connection that was sent all of its bytes and acknowledged
 * them: bytes a peer claims from before its connection were not shipped to it here. */
static int satisfied(const kite_ha_master *m, int64_t start, int64_t end)
{
    for (size_t i = 0; i < m->nsnap; i++)
        if (m->snap[i].first <= start && m->snap[i].ack >= end) return 1;
    return 0;
}

/* Service thread: publishes the connections' progress and completes the waiters it
 * satisfies or whose deadline passed. Returns the earliest deadline left (or INT64_MAX). */
static int64_t settle_waiters(kite_ha_master *m, int64_t now)
{
    ha_waiter *done = NULL;
    size_t nd = 0, dcap = 0;
    int64_t next = INT64_MAX;
    pthread_mutex_lock(&m->wmu);
    m->nsnap = 0;
    for (size_t i = 0; i < m->n; i++) {
        ha_conn *c = m->c[i];
        if (c->req < 0) continue;
        m->snap = kite_xgrow(m->snap, &m->snapcap, m->nsnap + 1, sizeof *m->snap, 4);
        m->snap[m->nsnap++] = (ha_sync){ c->first, c->ack };
    }
    size_t keep = 0;
    for (size_t i = 0; i < m->nw; i++) {
        ha_waiter w = m->w[i];
        int ok = satisfied(m, w.start, w.end);
        if (ok || now >= w.deadline) {
            done = kite_xgrow(done, &dcap, nd + 1, sizeof *done, 64);
            done[nd] = w;
            done[nd++].deadline = ok; /* reused: 1 = acknowledged */
            continue;
        }
        if (w.deadline < next) next = w.deadline;
        m->w[keep++] = w;
    }
    m->nw = keep;
    int64_t cap = now > INT64_MAX - IDLE_POLL_MS ? INT64_MAX : now + IDLE_POLL_MS;
    m->wake_at = next < cap ? next : cap;
    pthread_mutex_unlock(&m->wmu);
    for (size_t i = 0; i < nd; i++)
        done[i].cb(done[i].arg, done[i].deadline ? KITE_HA_ACKED : KITE_HA_TIMEOUT);
    free(done);
    return next;
}

void kite_ha_master_wait(kite_ha_master *m, int64_t start, int64_t end, int64_t timeout_ms,
                         kite_ha_wait_cb cb, void *arg)
{
    pthread_mutex_lock(&m->wmu);
    int64_t best = -1;
    for (size_t i = 0; i < m->nsnap; i++)
        if (m->snap[i].ack > best) best = m->snap[i].ack;
    kite_ha_wait_status now_st = KITE_HA_TIMEOUT;
    int answer = 1;
    if (m->closing || m->nsnap == 0 || end - best >= m->o.fallbehind_max)
        now_st = KITE_HA_NO_SLAVE;
    else if (satisfied(m, start, end))
        now_st = KITE_HA_ACKED;
    else
        answer = 0;
    int wake_up = 0;
    if (!answer) {
        int64_t deadline = kite_deadline_ms(timeout_ms);
        m->w = kite_xgrow(m->w, &m->wcap, m->nw + 1, sizeof *m->w, 256);
        m->w[m->nw++] = (ha_waiter){ start, end, deadline, cb, arg };
        wake_up = deadline < m->wake_at;
    }
    pthread_mutex_unlock(&m->wmu);
    if (answer)
        cb(arg, now_st);
    else if (wake_up)
        wake(m);
}

static void *master_thread(void *arg)
{
    kite_thread_name("kite-hamaster");
    kite_ha_master *m = arg;
    struct pollfd *pf = NULL;
    size_t pcap = 0;
    while (!atomic_load(&m->stop)) {
        int64_t now = kite_mono_ms();
        for (size_t i = 0; i < m->n;) {
            const char *why = NULL;
            ha_conn *c = m->c[i];
            if (link_overdue(m, c, now) || (c->link == LINK_DETECT && c->plain_at &&
                                            now >= c->plain_at && link_step(m, c, now) < 0)) {
                conn_close(m, i, NULL);
                continue;
            }
            if (pump_out(m, c, now, &why) < 0) {
                const char *last = NULL; /* a slave's last reports (-1: diverged) come first */
                if (pump_in(m, c, now, &last) < 0 && last) why = last;
                conn_close(m, i, why);
            } else if (now - c->last_read_ms > m->o.housekeeping_ms)
                conn_close(m, i, "no report within haHousekeepingInterval");
            else
                i++;
        }
        update_slave_count(m);
        int64_t wdl = settle_waiters(m, now);
        pf = kite_xgrow(pf, &pcap, m->n + 2, sizeof *pf, 8);
        pf[0] = (struct pollfd){ m->efd, POLLIN, 0 };
        pf[1] = (struct pollfd){ m->lfd, POLLIN, 0 };
        int64_t timeout = IDLE_POLL_MS;
        if (wdl != INT64_MAX && wdl - now < timeout) timeout = wdl - now;
        int behind = 0;
        for (size_t i = 0; i < m->n; i++) {
            ha_conn *c = m->c[i];
            int out = (c->hsent < c->hlen || c->seg.file) && !c->write_wants_read;
            if (c->link == LINK_DETECT || c->link == LINK_HANDSHAKE) {
                out = c->link == LINK_HANDSHAKE && c->want_write;
                int64_t due = c->hs_deadline;
                if (c->plain_at && c->plain_at < due) due = c->plain_at;
                if (due - now < timeout) timeout = due - now;
            }
            pf[i + 2] = (struct pollfd){ c->fd, (short)(POLLIN | (out ? POLLOUT : 0)), 0 };
            if (c->req < 0) continue;
            int64_t hb = c->last_write_ms + m->o.heartbeat_ms - now;
            int64_t hk = c->last_read_ms + m->o.housekeeping_ms - now + 1;
            if (hb < timeout) timeout = hb;
            if (hk < timeout) timeout = hk;
        }
        /* Sleep only when every slave is caught up (or blocked on its socket); the append
         * hook clears `sleeping` and writes the eventfd when records arrive meanwhile. With
         * no slave to ship to, appends do not wake this thread at all (no syscall or context
         * switch per put on a master without slaves); a slave's first report is read here. */
        int shipping = 0;
        for (size_t i = 0; i < m->n && !shipping; i++) shipping = m->c[i]->req >= 0;
        atomic_store(&m->sleeping, shipping);
        atomic_thread_fence(memory_order_seq_cst);
        int64_t end = kite_store_cl_max_offset(m->s);
        for (size_t i = 0; i < m->n; i++) {
            ha_conn *c = m->c[i];
            if (c->req >= 0 && !c->seg.file && c->hsent == c->hlen && c->next < end) behind = 1;
        }
        if (behind) timeout = 0;
        if (timeout < 0) timeout = 0;
        int nr = poll(pf, m->n + 2, (int)timeout);
        atomic_store(&m->sleeping, 0);
        if (nr < 0 && errno != EINTR) {
            KLOG_ERROR("repl", "poll: %s", strerror(errno));
            kite_sleep_ms(100);
            continue;
        }
        if (nr <= 0) continue;
        now = kite_mono_ms();
        if (pf[0].revents) {
            uint64_t v;
            ssize_t r = read(m->efd, &v, sizeof v);
            (void)r;
        }
        size_t n = m->n; /* connections accepted below are polled next round */
        for (size_t i = n; i-- > 0;) {
            short re = pf[i + 2].revents;
            ha_conn *c = m->c[i];
            if (c->link == LINK_DETECT || c->link == LINK_HANDSHAKE) {
                if (!re) continue;
                if (link_step(m, c, now) < 0) {
                    conn_close(m, i, NULL);
                    continue;
                }
                /* Done: what came with the last handshake flight is read at once (OpenSSL
                 * may hold it already, and poll would not say so). */
                if (c->link == LINK_DETECT || c->link == LINK_HANDSHAKE) continue;
            } else if (!(re & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            const char *why = NULL;
            if (pump_in(m, c, now, &why) < 0) conn_close(m, i, why);
        }
        if (pf[1].revents) accept_all(m, now);
    }
    while (m->n) conn_close(m, m->n - 1, NULL);
    settle_waiters(m, INT64_MAX); /* no slave any more: every waiter times out now */
    free(pf);
    return NULL;
}

int kite_ha_master_start(kite_store *s, const char *bind_host, int port, const kite_ha_opts *o,
                         kite_ha_master **out, char *err, size_t errlen)
{
    *out = NULL;
    kite_ha_master *m = kite_xcalloc(1, sizeof *m);
    m->s = s;
    m->o = *o;
    if (m->o.batch_bytes < 1024) m->o.batch_bytes = 1024;
    if (m->o.fallbehind_max <= 0) m->o.fallbehind_max = INT64_MAX;
    m->key = o->auth_key && *o->auth_key ? kite_xstrdup(o->auth_key) : NULL;
    m->o.auth_key = NULL;
    m->o.tls = NULL;
    if (m->o.tls_handshake_ms <= 0) m->o.tls_handshake_ms = 10000;
    if (o->tls_mode != KITE_TLS_DISABLED && o->tls) {
        m->tls = o->tls;
        kite_tls_ctx_ref(m->tls);
    } else {
        m->o.tls_mode = KITE_TLS_DISABLED;
    }
    m->efd = -1;
    pthread_mutex_init(&m->wmu, NULL);
    snprintf(m->addr, sizeof m->addr, "%s:%d", bind_host && *bind_host ? bind_host : "0.0.0.0",
             port);
    char e[256];
    int rc;
    m->lfd = kite_sock_listen(bind_host && *bind_host ? bind_host : NULL, port, NULL, e, sizeof e);
    if (m->lfd < 0) {
        rc = m->lfd;
        snprintf(err, errlen, "cannot listen for replication on %s (haListenPort): %s", m->addr, e);
        goto fail;
    }
    m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->efd < 0) {
        rc = kite_status_from_errno(errno);
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    int prc = pthread_create(&m->thr, NULL, master_thread, m);
    if (prc != 0) {
        rc = kite_status_from_errno(prc);
        snprintf(err, errlen, "cannot start the replication thread: %s", strerror(prc));
        goto fail;
    }
    kite_store_set_append_hook(s, notify, m);
    KLOG_INFO("repl", "replication: listening on %s for slaves (%s; %s)", m->addr,
              m->key ? "authenticated: haAuthKeyFile" : "classic protocol, no peer authentication",
              m->o.tls_mode == KITE_TLS_ENFORCING    ? "TLS only: haTlsMode=enforcing"
              : m->o.tls_mode == KITE_TLS_PERMISSIVE ? "TLS or plain: haTlsMode=permissive"
                                                     : "plain TCP: haTlsMode=disabled");
    *out = m;
    return KITE_OK;
fail:
    if (m->efd >= 0) close(m->efd);
    if (m->lfd >= 0) close(m->lfd);
    pthread_mutex_destroy(&m->wmu);
    kite_tls_ctx_free(m->tls);
    free(m->key);
    free(m);
    return rc;
}

void kite_ha_master_stop(kite_ha_master *m)
{
    if (!m) return;
    kite_store_set_append_hook(m->s, NULL, NULL);
    pthread_mutex_lock(&m->wmu);
    m->closing = 1;
    pthread_mutex_unlock(&m->wmu);
    atomic_store(&m->stop, 1);
    wake(m);
    pthread_join(m->thr, NULL);
    close(m->lfd);
    close(m->efd);
    free(m->c);
    free(m->w);
    free(m->snap);
    pthread_mutex_destroy(&m->wmu);
    kite_tls_ctx_free(m->tls);
    free(m->key);
    free(m);
}

void kite_ha_master_get_stats(kite_ha_master *m, kite_ha_master_stats *out)
{
    out->slaves = atomic_load(&m->st_slaves);
    out->acked = atomic_load(&m->st_acked);
    out->sent = atomic_load(&m->st_sent);
}
