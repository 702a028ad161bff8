/* ha_slave.c - the slave's replication client: connects to its master's HA address, says
 * from which offset it needs the log, appends every frame to the replica store at exactly
 * the frame's offset, and reports the offset it holds after each read that advanced it and
 * at least every haSendHeartbeatInterval.
 *
 * Owns: the client thread (kite-haslave), its socket, the master's HA address (pinned by
 * haMasterAddress, or learned from the name server's registration answers), reconnecting.
 * Divergence: a slave that holds bytes asks the master to resend the last VERIFY_BYTES of
 * them first and compares them with its own (kite_store_compare_raw) before appending
 * anything; a difference, a master whose log ends before the slave's (it keeps sending
 * heartbeats at an offset below the slave's end), or bytes the store refuses
 * (kite_store_append_raw: a record that does not belong where it stands) stop replication
 * with an ERROR naming both offsets. The slave then reports -1 to the master (which logs it;
 * a Java master ignores a report below what it sent) and never reconnects until restarted:
 * a diverged log is never merged. Behind retention (this log ends before the oldest offset
 * the master still holds, which it sends first): an ERROR naming both offsets, then the
 * owner's on_behind (the broker sets the store aside and restarts empty); without it, as a
 * divergence. docs/wire.md §13, DESIGN.md "Replication".
 * TLS (haTlsEnable, wire.md §15.5): after the TCP connect the slave runs a TLS handshake,
 * bounded by tls_handshake_ms, verifying by default that the master's certificate chains to
 * the trusted CAs and names the address dialled; everything after goes through SSL_read /
 * SSL_write, and bytes OpenSSL already decrypted are read before poll is asked again. */
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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define VERIFY_BYTES       (64 * 1024) /* tail of the held log re-read from the master and compared */
#define READ_BUF           (256 * 1024)
#define CONNECT_TIMEOUT_MS 3000
#define WARN_EVERY_MS      60000 /* a failure that repeats is logged again after this */

struct kite_ha_slave {
    kite_store *s;
    kite_ha_opts o;
    char *key;         /* auth key, NULL = classic protocol */
    kite_tls_ctx *tls; /* client context (haTlsEnable), NULL = plain */
    int efd;
    pthread_t thr;
    _Atomic int stop;
    pthread_mutex_t mu; /* guards the fields below */
    char fixed[96], learned[96];
    int gen; /* bumped when the learned address changes */
    kite_ha_slave_stats st;
    int64_t last_warn_ms; /* thread only */
    char last_warn[640];  /* thread only */
};

/* One connection's state (thread only). */
typedef struct session {
    kite_ha_slave *h;
    int fd;
    SSL *ssl;       /* TLS, NULL = plain */
    int want_write; /* the TLS layer waits until the socket takes bytes */
    int more;       /* TLS: the last read stopped with records possibly left in OpenSSL */
    char err[256];  /* text of the last TLS failure */
    const char *addr;
    int64_t pos;          /* offset of the next byte expected (-1: any, empty store) */
    int64_t verify_start; /* first byte asked for again to compare it */
    int64_t verify_end;   /* bytes below it are held: compared, not appended */
    int64_t reported;
    uint8_t hdr[12];
    int hlen;
    int64_t left;         /* payload bytes of the current frame still to come */
    int heartbeats_below; /* consecutive heartbeats at pos < verify_end, no data */
    int frames;           /* frames with data received */
    int64_t last_read_ms, last_report_ms;
} session;

static void wake(kite_ha_slave *h)
{
    uint64_t one = 1;
    ssize_t r = write(h->efd, &one, sizeof one);
    (void)r;
}

static void drain(kite_ha_slave *h)
{
    uint64_t v;
    ssize_t r = read(h->efd, &v, sizeof v);
    (void)r;
}

/* Waits up to ms or until woken (stop, new address). */
static void idle(kite_ha_slave *h, int64_t ms)
{
    struct pollfd p = { h->efd, POLLIN, 0 };
    if (poll(&p, 1, (int)ms) > 0) drain(h);
}

/* A failure that repeats every retry is logged once a minute, a new one at once. */
static void warn_limited(kite_ha_slave *h, const char *msg)
{
    int64_t now = kite_mono_ms();
    if (strcmp(msg, h->last_warn) == 0 && now - h->last_warn_ms < WARN_EVERY_MS) return;
    snprintf(h->last_warn, sizeof h->last_warn, "%s", msg);
    h->last_warn_ms = now;
    KLOG_WARN("repl", "%s; retrying every %lld ms", msg, (long long)h->o.heartbeat_ms);
}

/* Writes up to n bytes: how many, 0 when the socket is full (wait for s_events), or a
 * status (ss->err names a TLS failure). */
static ssize_t s_write(session *ss, const void *b, size_t n)
{
    if (ss->ssl) return kite_ha_tls_write(ss->ssl, b, n, &ss->want_write, ss->err, sizeof ss->err);
    ssize_t w = send(ss->fd, b, n, MSG_NOSIGNAL);
    if (w >= 0) return w;
    ss->want_write = 1;
    if (errno == EAGAIN || errno == EINTR) return 0;
    return kite_status_from_errno(errno);
}

/* Reads up to n bytes: how many, 0 when none are there now, KITE_ECLOSED when the master
 * closed, or another status (ss->err names a TLS failure). */
static ssize_t s_read(session *ss, void *b, size_t n)
{
    if (ss->ssl) return kite_ha_tls_read(ss->ssl, b, n, &ss->want_write, ss->err, sizeof ss->err);
    ssize_t r = read(ss->fd, b, n);
    ss->want_write = 0;
    if (r > 0) return r;
    if (r == 0) return KITE_ECLOSED;
    if (errno == EAGAIN || errno == EINTR) return 0;
    return kite_status_from_errno(errno);
}

/* The poll events a read or write that returned 0 waits for. */
static short s_events(const session *ss) { return ss->want_write ? POLLOUT : POLLIN; }

/* Sends all n bytes within haHousekeepingInterval. KITE_OK, KITE_ETIMEDOUT, or the status
 * of the failed send / poll. */
static int send_bytes(session *ss, const uint8_t *b, size_t n)
{
    size_t done = 0;
    int64_t deadline = kite_deadline_ms(ss->h->o.housekeeping_ms);
    while (done < n) {
        ssize_t w = s_write(ss, b + done, n - done);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0) return (int)w;
        struct pollfd p = { ss->fd, s_events(ss), 0 };
        int64_t left = kite_deadline_left_ms(deadline);
        if (left == 0) return KITE_ETIMEDOUT;
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR) return kite_status_from_errno(errno);
    }
    return KITE_OK;
}

static int send_report(session *ss, int64_t v)
{
    uint8_t b[8];
    kite_wr_be64(b, (uint64_t)v);
    int rc = send_bytes(ss, b, sizeof b);
    if (rc != KITE_OK) return rc;
    ss->last_report_ms = kite_mono_ms();
    return KITE_OK;
}

/* Reads exactly n bytes before the deadline: KITE_OK, KITE_ETIMEDOUT at the deadline,
 * KITE_ECLOSED when the peer closed, or the status of the failed poll / read. */
static int read_exact(session *ss, uint8_t *b, size_t n, int64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = s_read(ss, b + got, n - got);
        if (r < 0) return (int)r;
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        int64_t left = kite_deadline_left_ms(deadline);
        struct pollfd p = { ss->fd, s_events(ss), 0 };
        int k = left ? poll(&p, 1, (int)left) : 0;
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return kite_status_from_errno(errno);
        if (k == 0) return KITE_ETIMEDOUT;
    }
    return KITE_OK;
}

/* The KiteMQ handshake (haAuthKeyFile, wire.md §13.5): the master's challenge, this
 * slave's proof, the master's proof. KITE_OK when both sides hold the key; KITE_EPROTO when
 * the master sends no challenge or a wrong proof; KITE_ECLOSED when it closes meanwhile
 * (it refused this slave's proof); or the status of the failed read / send. */
static int handshake(session *ss)
{
    kite_ha_slave *h = ss->h;
    uint8_t ch[KITE_HA_CHALLENGE], resp[KITE_HA_RESPONSE], mproof[KITE_HA_PROOF];
    char msg[400];
    int64_t deadline = kite_deadline_ms(CONNECT_TIMEOUT_MS);
    int rc = read_exact(ss, ch, sizeof ch, deadline);
    if (rc != KITE_OK && rc != KITE_ETIMEDOUT && ss->ssl) {
        snprintf(msg, sizeof msg,
                 "master %s ended the TLS connection before its authentication challenge: %s",
                 ss->addr, ss->err[0] ? ss->err : kite_strerror(rc));
        warn_limited(h, msg);
        return rc;
    }
    if (rc != KITE_OK || memcmp(ch, KITE_HA_MAGIC, 8) != 0) {
        if (rc == KITE_OK && kite_ha_tls_is_record(ch, sizeof ch))
            snprintf(msg, sizeof msg,
                     "master %s answered with TLS: its HA port requires TLS "
                     "(haTlsMode=enforcing); set haTlsEnable=true on this slave",
                     ss->addr);
        else
            snprintf(msg, sizeof msg,
                     "master %s sent no authentication challenge (haAuthKeyFile is set on this "
                     "slave; is the same key set on the master? A master with "
                     "haTlsMode=enforcing also stays silent to a slave without haTlsEnable)",
                     ss->addr);
        warn_limited(h, msg);
        return rc != KITE_OK ? rc : KITE_EPROTO;
    }
    const uint8_t *mnonce = ch + 8;
    memcpy(resp, KITE_HA_MAGIC, 8);
    kite_ha_nonce(resp + 8);
    kite_ha_proof(h->key, "slave", mnonce, resp + 8, resp + 8 + KITE_HA_NONCE);
    if ((rc = send_bytes(ss, resp, sizeof resp)) != KITE_OK) return rc;
    rc = read_exact(ss, mproof, sizeof mproof, deadline);
    if (rc == KITE_ECLOSED) {
        snprintf(msg, sizeof msg,
                 "master %s closed the connection during authentication (a different "
                 "haAuthKeyFile? see the master's log)",
                 ss->addr);
        warn_limited(h, msg);
        return rc;
    }
    if (rc != KITE_OK || !kite_ha_proof_ok(h->key, "master", resp + 8, mnonce, mproof)) {
        KLOG_ERROR(
            "repl",
            "master %s did not prove it holds this slave's haAuthKeyFile key: its data is refused",
            ss->addr);
        return rc != KITE_OK ? rc : KITE_EPROTO;
    }
    return KITE_OK;
}

/* Replication stops for good (until restart): logged, the master told. */
static void diverged(session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diverged(session *ss, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    kite_ha_slave *h = ss->h;
    KLOG_ERROR("repl",
               "replication from master %s stopped: %s. Nothing is merged: remove this slave's "
               "store (storePathRootDir) and restart it to copy the master's log afresh.",
               ss->addr, why);
    send_report(ss, -1);
    /* Half-close and wait (briefly) for the master to close: closing with frames unread
     * would reset the connection and could discard the report before the master reads it. */
    shutdown(ss->fd, SHUT_WR);
    int64_t deadline = kite_deadline_ms(1000);
    uint8_t sink[4096];
    for (;;) {
        ssize_t r = s_read(ss, sink, sizeof sink);
        if (r < 0) break;
        if (r > 0) continue;
        int64_t left = kite_deadline_left_ms(deadline);
        struct pollfd p = { ss->fd, POLLIN, 0 };
        if (left == 0 || poll(&p, 1, (int)left) <= 0) break;
    }
    pthread_mutex_lock(&h->mu);
    h->st.diverged = 1;
    pthread_mutex_unlock(&h->mu);
}

/* The master's first frame starts at oldest, past this slave's end: the bytes between were
 * deleted on the master (retention) while this slave was away. Nothing was compared or
 * appended, nothing ever will be on this store: the defined action is to start again from
 * oldest with an empty store, the old files set aside by the owner (on_behind). Returns
 * KITE_ECORRUPT, which ends the session; the thread never reconnects. */
static int behind(session *ss, int64_t oldest)
{
    kite_ha_slave *h = ss->h;
    KLOG_ERROR("repl",
               "this slave's commit log ends at %lld, before the oldest offset master %s retains "
               "(%lld): the bytes between were deleted on the master before this slave copied "
               "them. Action: this slave's store is set aside (kept, never deleted) and it "
               "starts again, empty, from offset %lld",
               (long long)ss->verify_end, ss->addr, (long long)oldest, (long long)oldest);
    pthread_mutex_lock(&h->mu);
    h->st.behind = 1;
    pthread_mutex_unlock(&h->mu);
    h->o.on_behind(h->o.on_behind_arg, ss->verify_end, oldest);
    return KITE_ECORRUPT;
}

/* Frame bytes for [ss->pos, ss->pos + n). Returns KITE_OK, or the status that ends the
 * session: KITE_ECORRUPT when this log diverged (diverged() was called), the store's status
 * when it cannot compare or append. */
static int on_payload(session *ss, const uint8_t *p, size_t n)
{
    kite_ha_slave *h = ss->h;
    if (ss->pos < ss->verify_end) {
        size_t v = n;
        if ((int64_t)v > ss->verify_end - ss->pos) v = (size_t)(ss->verify_end - ss->pos);
        int64_t at = -1;
        int rc = kite_store_compare_raw(h->s, ss->pos, p, v, &at);
        if (rc == 1) {
            diverged(
                ss,
                "this slave's commit log diverged from the master's: the byte at offset %lld differs "
                "from the master's (this slave holds %lld bytes)",
                (long long)at, (long long)ss->verify_end);
            return KITE_ECORRUPT;
        }
        if (rc < 0) {
            KLOG_ERROR(
                "repl",
                "reading this slave's commit log at %lld to compare it with the master's: %s",
                (long long)ss->pos, kite_strerror(rc));
            return rc;
        }
        ss->pos += (int64_t)v;
        p += v;
        n -= v;
        if (ss->pos == ss->verify_end)
            KLOG_INFO(
                "repl",
                "the last %lld bytes this slave holds match the master's; appending from %lld",
                (long long)(ss->verify_end - ss->verify_start), (long long)ss->pos);
    }
    if (!n) return KITE_OK;
    char err[512] = "";
    int rc = kite_store_append_raw(h->s, ss->pos, p, n, err, sizeof err);
    if (rc == KITE_EINVAL) {
        diverged(ss, "this slave's commit log diverged from the master's: %s", err);
        return KITE_ECORRUPT;
    }
    if (rc < 0) {
        KLOG_ERROR("repl", "appending replicated bytes at %lld: %s", (long long)ss->pos, err);
        return rc;
    }
    ss->pos += (int64_t)n;
    return KITE_OK;
}

/* A plain slave read a TLS record where a frame should be: the master's HA port is TLS
 * only and refused this slave (it sends an alert, then closes). */
static void tls_answer(session *ss)
{
    char msg[300];
    snprintf(msg, sizeof msg,
             "master %s answered with TLS: its HA port accepts TLS only (haTlsMode=enforcing); "
             "set haTlsEnable=true on this slave",
             ss->addr);
    warn_limited(ss->h, msg);
}

/* A complete frame header. Returns KITE_OK, or the status that ends the session:
 * KITE_EPROTO for a challenge (the master wants a key this slave lacks) or a frame at an
 * unexpected offset, KITE_ECORRUPT when this log diverged (diverged() was called). */
static int on_header(session *ss)
{
    if (!ss->ssl && kite_ha_tls_is_record(ss->hdr, 12)) {
        tls_answer(ss);
        return KITE_EPROTO;
    }
    if (memcmp(ss->hdr, KITE_HA_MAGIC, 8) == 0) { /* a challenge: the master wants a key */
        char msg[300];
        snprintf(msg, sizeof msg,
                 "master %s requires authenticated replication: set haAuthKeyFile (the "
                 "master's key) on this slave",
                 ss->addr);
        warn_limited(ss->h, msg);
        return KITE_EPROTO;
    }
    int64_t off = (int64_t)kite_rd_be64(ss->hdr);
    uint32_t size = kite_rd_be32(ss->hdr + 8);
    if (ss->pos < 0 && size > 0) ss->pos = off; /* an empty store starts where the master starts */
    if (ss->pos >= 0 && off != ss->pos && size > 0 && ss->frames == 0 && off > ss->pos) {
        /* The master starts later than asked: it no longer retains [pos, off). */
        if (off > ss->verify_end) {
            if (ss->h->o.on_behind) return behind(ss, off);
            diverged(
                ss,
                "the oldest offset master %s retains is %lld, past this slave's end %lld: the bytes "
                "between were deleted on the master before this slave copied them, so this log cannot "
                "continue",
                ss->addr, (long long)off, (long long)ss->verify_end);
            return KITE_ECORRUPT;
        }
        ss->pos = ss->verify_start = off; /* compare the part of the tail it still holds */
    }
    if (ss->pos >= 0 && off != ss->pos) {
        KLOG_WARN("repl", "master %s sent offset %lld where %lld was expected; reconnecting",
                  ss->addr, (long long)off, (long long)ss->pos);
        return KITE_EPROTO;
    }
    if (size > 0) ss->frames++;
    pthread_mutex_lock(&ss->h->mu);
    ss->h->st.master_offset = off + size;
    pthread_mutex_unlock(&ss->h->mu);
    if (size == 0) {
        if (ss->pos >= 0 && ss->pos < ss->verify_end) {
            /* A master with bytes at pos sends them at once; heartbeats at pos mean it has none. */
            if (++ss->heartbeats_below >= 2) {
                diverged(
                    ss,
                    "the master has no bytes from offset %lld on (its log ends there, or it no "
                    "longer retains them), but this slave holds bytes up to %lld",
                    (long long)ss->pos, (long long)ss->verify_end);
                return KITE_ECORRUPT;
            }
        }
        ss->hlen = 0;
        return KITE_OK;
    }
    ss->heartbeats_below = 0;
    ss->left = size;
    return KITE_OK;
}

/* Bytes read from the master: headers and payloads. KITE_OK, or on_header's / on_payload's
 * status that ends the session. */
static int on_bytes(session *ss, const uint8_t *p, size_t n)
{
    while (n) {
        int rc;
        if (ss->hlen < 12) {
            size_t k = 12 - (size_t)ss->hlen;
            if (k > n) k = n;
            memcpy(ss->hdr + ss->hlen, p, k);
            ss->hlen += (int)k;
            p += k;
            n -= k;
            if (ss->hlen == 12 && (rc = on_header(ss)) != KITE_OK) return rc;
            continue;
        }
        size_t k = n;
        if ((int64_t)k > ss->left) k = (size_t)ss->left;
        if ((rc = on_payload(ss, p, k)) != KITE_OK) return rc;
        p += k;
        n -= k;
        ss->left -= (int64_t)k;
        if (ss->left == 0) ss->hlen = 0;
    }
    return KITE_OK;
}

/* Non-blocking connect bounded by CONNECT_TIMEOUT_MS (and stop). fd or a status. */
static int connect_to(kite_ha_slave *h, const char *addr, char *err, size_t errlen)
{
    struct sockaddr_in a;
    int rc = kite_sock_parse_addr(addr, &a, err, errlen);
    if (rc != 0) return rc;
    int fd = kite_sock_connect(&a, err, errlen);
    if (fd < 0) return fd;
    struct pollfd p[2] = { { fd, POLLOUT, 0 }, { h->efd, POLLIN, 0 } };
    int64_t deadline = kite_deadline_ms(CONNECT_TIMEOUT_MS);
    for (;;) {
        int64_t left = kite_deadline_left_ms(deadline);
        int n = left ? poll(p, 2, (int)left) : 0;
        if (n < 0 && errno == EINTR) continue;
        if (n > 0 && p[1].revents) {
            drain(h);
            if (atomic_load(&h->stop)) {
                snprintf(err, errlen, "stopping");
                close(fd);
                return KITE_ESTOPPED;
            }
            continue;
        }
        if (n <= 0) {
            snprintf(err, errlen, "connect %s: timed out", addr);
            close(fd);
            return KITE_ETIMEDOUT;
        }
        break;
    }
    int e = 0;
    socklen_t el = sizeof e;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
    if (e) {
        snprintf(err, errlen, "connect %s: %s", addr, strerror(e));
        close(fd);
        return kite_status_from_errno(e);
    }
    return fd;
}

/* The TLS handshake on the connected socket, bounded by tls_handshake_ms and by stop.
 * KITE_OK, or a status (a failure is logged, with its reason). */
static int tls_connect(session *ss)
{
    kite_ha_slave *h = ss->h;
    char host[96], msg[600];
    snprintf(host, sizeof host, "%s", ss->addr);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    ss->ssl = kite_ha_tls_new(h->tls, ss->fd, host);
    if (!ss->ssl) {
        KLOG_ERROR("repl", "cannot create a TLS session for master %s", ss->addr);
        return KITE_ENOMEM;
    }
    int64_t deadline = kite_deadline_ms(h->o.tls_handshake_ms);
    for (;;) {
        int rc = kite_ha_tls_handshake(ss->ssl, &ss->want_write, ss->err, sizeof ss->err);
        if (rc == 1) return KITE_OK;
        if (rc < 0) {
            int cert = strstr(ss->err, "certificate") != NULL;
            snprintf(msg, sizeof msg, "TLS handshake with master %s failed: %s%s", ss->addr,
                     ss->err,
                     cert ? ""
                          : " (is TLS on at the master's HA port? It needs haTlsMode=permissive "
                            "or enforcing; a Java master has no TLS there)");
            warn_limited(h, msg);
            return rc;
        }
        int64_t left = kite_deadline_left_ms(deadline);
        if (left == 0) {
            snprintf(msg, sizeof msg,
                     "TLS handshake with master %s not completed within %lld ms "
                     "(tls.server.handshakeTimeoutMillis)",
                     ss->addr, (long long)h->o.tls_handshake_ms);
            warn_limited(h, msg);
            return KITE_ETIMEDOUT;
        }
        struct pollfd p[2] = { { ss->fd, s_events(ss), 0 }, { h->efd, POLLIN, 0 } };
        int n = poll(p, 2, (int)left);
        if (n < 0 && errno != EINTR) return kite_status_from_errno(errno);
        if (n > 0 && p[1].revents) {
            drain(h); /* an address change is seen by the session loop */
            if (atomic_load(&h->stop)) return KITE_ESTOPPED;
        }
    }
}

/* Reads what is there into buf (TLS: record after record, until none is left inside
 * OpenSSL or buf is full). Bytes read, 0 when none, or s_read's status when nothing came
 * before it (a status after bytes is met again on the next call). */
static ssize_t fill(session *ss, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    ss->more = 0;
    while (got < cap) {
        ssize_t r = s_read(ss, buf + got, cap - got);
        if (r <= 0) return got ? (ssize_t)got : r;
        got += (size_t)r;
        if (!ss->ssl) break; /* one read() takes what the socket holds */
    }
    ss->more = ss->ssl != NULL; /* buf full: whole records may wait, undecrypted */
    return (ssize_t)got;
}

static int current_gen(kite_ha_slave *h)
{
    pthread_mutex_lock(&h->mu);
    int g = h->gen;
    pthread_mutex_unlock(&h->mu);
    return g;
}

static void set_connected(kite_ha_slave *h, int on, const char *addr)
{
    pthread_mutex_lock(&h->mu);
    h->st.connected = on;
    snprintf(h->st.master, sizeof h->st.master, "%s", on ? addr : "");
    pthread_mutex_unlock(&h->mu);
}

/* One connection to the master, until it ends. */
static void run_session(kite_ha_slave *h, const char *addr, int gen, uint8_t *buf)
{
    char err[400];
    int fd = connect_to(h, addr, err, sizeof err);
    if (fd < 0) {
        if (fd != KITE_ESTOPPED) {
            char msg[600];
            snprintf(msg, sizeof msg, "cannot connect to master %s for replication: %s", addr, err);
            warn_limited(h, msg);
        }
        return;
    }
    session ss = { .h = h, .fd = fd, .addr = addr };
    int64_t held = kite_store_raw_end(h->s);
    int64_t start = 0;
    if (held > 0) {
        start = held - VERIFY_BYTES;
        if (start < kite_store_cl_min_offset(h->s)) start = kite_store_cl_min_offset(h->s);
    }
    ss.pos = held > 0 ? start : -1;
    ss.verify_start = start;
    ss.verify_end = held;
    ss.reported = start;
    ss.last_read_ms = kite_mono_ms();
    if ((h->tls && tls_connect(&ss) < 0) || (h->key && handshake(&ss) < 0) ||
        send_report(&ss, start) < 0) {
        kite_ha_tls_free(ss.ssl, 0);
        close(fd);
        return;
    }
    char how[96] = "";
    ss.more = ss.ssl != NULL; /* the handshake's reads may have taken frames ahead */
    if (ss.ssl) {
        char d[64];
        kite_ha_tls_describe(ss.ssl, d, sizeof d);
        snprintf(how, sizeof how, " over TLS (%s)", d);
    }
    set_connected(h, 1, addr);
    KLOG_INFO(
        "repl", "connected to master %s%s: this slave holds %lld bytes%s; asked for offset %lld",
        addr, how, (long long)held,
        held > 0 ? " (its tail is compared first)" : " (empty: copying all the master retains)",
        (long long)start);
    const char *why = NULL;
    int any = 0;
    while (!atomic_load(&h->stop)) {
        if (current_gen(h) != gen) {
            why = "the master's address changed";
            break;
        }
        int64_t now = kite_mono_ms();
        if (now - ss.last_read_ms > h->o.housekeeping_ms) {
            why = "nothing received within haHousekeepingInterval";
            break;
        }
        int64_t timeout = ss.last_report_ms + h->o.heartbeat_ms - now;
        int64_t hk = ss.last_read_ms + h->o.housekeeping_ms - now + 1;
        if (hk < timeout) timeout = hk;
        if (timeout < 0) timeout = 0;
        /* Bytes OpenSSL already holds make no poll event: read them first. */
        int pend = ss.more || kite_ha_tls_pending(ss.ssl);
        short ev = (short)(POLLIN | (ss.want_write ? POLLOUT : 0));
        struct pollfd p[2] = { { fd, ev, 0 }, { h->efd, POLLIN, 0 } };
        int n = poll(p, 2, pend ? 0 : (int)timeout);
        if (n < 0 && errno != EINTR) {
            why = strerror(errno);
            break;
        }
        if (n > 0 && p[1].revents) drain(h);
        if (pend || (n > 0 && p[0].revents)) {
            ssize_t r = fill(&ss, buf, READ_BUF);
            if (r < 0) {
                if (!ss.ssl && ss.hlen >= 3 && kite_ha_tls_is_record(ss.hdr, (size_t)ss.hlen)) {
                    tls_answer(&ss); /* an enforcing master's alert, then its close */
                    why = "refused: the master's HA port accepts TLS only";
                } else if (r == KITE_ECLOSED) {
                    why = any ? "closed by the master"
                              : "closed by the master before it sent anything (see the master's "
                                "log)";
                } else {
                    int cert = ss.ssl &&
                               (strstr(ss.err, "certificate required") ||
                                strstr(ss.err, "unknown ca") || strstr(ss.err, "bad certificate"));
                    snprintf(err, sizeof err, "%s%s%s", ss.ssl ? "TLS: " : "",
                             ss.err[0] ? ss.err : kite_strerror((int)r),
                             cert ? " (the master wants a client certificate it trusts: "
                                    "tls.client.certPath / tls.client.keyPath)"
                                  : "");
                    why = err;
                }
                break;
            }
            if (r > 0) {
                any = 1;
                ss.last_read_ms = kite_mono_ms();
                if (on_bytes(&ss, buf, (size_t)r) < 0) break;
                int64_t have = ss.pos < 0 ? 0 : ss.pos;
                if (have > ss.reported) {
                    if (send_report(&ss, have) < 0) {
                        why = "sending the offset report failed";
                        break;
                    }
                    ss.reported = have;
                }
            }
        }
        if (kite_mono_ms() - ss.last_report_ms >= h->o.heartbeat_ms &&
            send_report(&ss, ss.pos < 0 ? 0 : ss.pos) < 0) {
            why = "sending the offset report failed";
            break;
        }
    }
    pthread_mutex_lock(&h->mu);
    h->st.raw_end = kite_store_raw_end(h->s);
    pthread_mutex_unlock(&h->mu);
    set_connected(h, 0, NULL);
    kite_ha_tls_free(ss.ssl, !ss.err[0]);
    close(fd);
    if (why) {
        char msg[600];
        snprintf(msg, sizeof msg, "replication from master %s interrupted at offset %lld: %s", addr,
                 (long long)kite_store_raw_end(h->s), why);
        if (any)
            KLOG_INFO("repl", "%s", msg);
        else
            warn_limited(h, msg);
    }
}

static void *slave_thread(void *arg)
{
    kite_thread_name("kite-haslave");
    kite_ha_slave *h = arg;
    uint8_t *buf = kite_xmalloc(READ_BUF);
    while (!atomic_load(&h->stop)) {
        char addr[96];
        pthread_mutex_lock(&h->mu);
        snprintf(addr, sizeof addr, "%s", h->fixed[0] ? h->fixed : h->learned);
        int gen = h->gen, stopped = h->st.diverged || h->st.behind;
        pthread_mutex_unlock(&h->mu);
        if (!addr[0] || stopped) {
            idle(h, 1000);
            continue;
        }
        run_session(h, addr, gen, buf);
        if (!atomic_load(&h->stop) && current_gen(h) == gen) idle(h, h->o.heartbeat_ms);
    }
    free(buf);
    return NULL;
}

int kite_ha_slave_start(kite_store *s, const char *fixed_master, const kite_ha_opts *o,
                        kite_ha_slave **out, char *err, size_t errlen)
{
    *out = NULL;
    kite_ha_slave *h = kite_xcalloc(1, sizeof *h);
    h->s = s;
    h->o = *o;
    if (h->o.heartbeat_ms < 10) h->o.heartbeat_ms = 10;
    h->key = o->auth_key && *o->auth_key ? kite_xstrdup(o->auth_key) : NULL;
    h->o.auth_key = NULL;
    h->o.tls = NULL;
    if (h->o.tls_handshake_ms <= 0) h->o.tls_handshake_ms = 10000;
    h->tls = o->tls;
    if (h->tls) kite_tls_ctx_ref(h->tls);
    pthread_mutex_init(&h->mu, NULL);
    if (fixed_master) snprintf(h->fixed, sizeof h->fixed, "%s", fixed_master);
    int rc;
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->efd < 0) {
        rc = kite_status_from_errno(errno);
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    int prc = pthread_create(&h->thr, NULL, slave_thread, h);
    if (prc != 0) {
        rc = kite_status_from_errno(prc);
        snprintf(err, errlen, "cannot start the replication thread: %s", strerror(prc));
        goto fail;
    }
    const char *how = !h->tls ? "plain TCP"
                      : kite_tls_ctx_verify(h->tls)
                          ? "TLS: haTlsEnable, the master's certificate checked"
                          : "TLS: haTlsEnable, the master's certificate NOT "
                            "checked (haTlsVerifyServer=false)";
    if (h->fixed[0])
        KLOG_INFO("repl", "replication: following master %s (haMasterAddress; %s)", h->fixed, how);
    else
        KLOG_INFO("repl",
                  "replication: waiting for the master's HA address from the name server (%s)",
                  how);
    *out = h;
    return KITE_OK;
fail:
    if (h->efd >= 0) close(h->efd);
    pthread_mutex_destroy(&h->mu);
    kite_tls_ctx_free(h->tls);
    free(h->key);
    free(h);
    return rc;
}

void kite_ha_slave_set_master(kite_ha_slave *h, const char *addr)
{
    if (!addr || !*addr) return;
    pthread_mutex_lock(&h->mu);
    int changed = !h->fixed[0] && strcmp(h->learned, addr) != 0;
    if (changed) {
        snprintf(h->learned, sizeof h->learned, "%s", addr);
        h->gen++;
    }
    pthread_mutex_unlock(&h->mu);
    if (changed) {
        KLOG_INFO("repl", "the name server names %s as this group's master HA address", addr);
        wake(h);
    }
}

void kite_ha_slave_stop(kite_ha_slave *h)
{
    if (!h) return;
    atomic_store(&h->stop, 1);
    wake(h);
    pthread_join(h->thr, NULL);
    close(h->efd);
    pthread_mutex_destroy(&h->mu);
    kite_tls_ctx_free(h->tls);
    free(h->key);
    free(h);
}

void kite_ha_slave_get_stats(kite_ha_slave *h, kite_ha_slave_stats *out)
{
    pthread_mutex_lock(&h->mu);
    *out = h->st;
    pthread_mutex_unlock(&h->mu);
    out->raw_end = kite_store_raw_end(h->s);
}
