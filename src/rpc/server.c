/* server.c - remoting RPC server (see server.h for the contract).
 *
 * Accepted connections are kept in an array (for idle scans and shutdown); each
 * connection's user data is its index record. A request is decoded into a heap
 * kite_rpc_req that holds a connection reference, so a reply that arrives after the
 * peer left is simply dropped. Replies from other threads are encoded on the calling
 * thread and handed to the loop with kite_ev_post.
 * Hardening: the connection cap is checked on accept (over it, or out of file
 * descriptors, a connection is closed at once and accepting pauses briefly; at most
 * ACCEPT_TURN a turn; kite_rpc_limits_reserve_fds grows the descriptor table for it); the
 * per-connection in-flight and output caps are net/conn backpressure; a periodic scan
 * closes connections idle, with a half-received frame, or with output that does not move
 * for too long. Input memory: all connections count their input buffers in one group
 * (net/conn.h kite_conn_inmem); a read that takes the total over max_in_bytes makes the
 * server close the connection whose incomplete frame arrives slowest (bytes held per ms
 * since the frame began) among those holding at least IN_FLOOR bytes - or, when none
 * does, the one holding most - until the total is back under the cap. A slow sender
 * holding memory goes first; a frame arriving at full speed (a big message) is spared.
 * Every line a peer can cause goes through a kite_log_limit. */
#include "rpc/server.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/log.h"
#include "base/time.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proto/codes.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_CODE        4096
#define MAX_LISTENERS   4
#define ACCEPT_PAUSE_MS 100 /* out of descriptors: accepting pauses this long */
#define FD_RESERVE      256 /* descriptors kept for files when maxConnections is automatic */
#define SCAN_CLOSE_US   100 /* closes per scan run: a wave of timed-out peers is spread */
#define RESCAN_MS       1   /* over many turns, each close run this long at most */
#define ACCEPT_TURN     8   /* accepts per turn at most: a wave of connects is spread too */
#define IN_FLOOR        (64 * 1024) /* input cap: a victim that frees less is a last resort */

typedef struct handler_ent {
    kite_rpc_handler fn;
    void *arg;
} handler_ent;

struct kite_rpc_server {
    kite_ev *ev;
    kite_rpc_server_opts opts;
    int lfds[MAX_LISTENERS];
    int nl;
    handler_ent handlers[MAX_CODE];
    kite_rpc_guard guard;
    void *guard_arg;
    kite_conn **conns;
    size_t nconns, capconns;
    kite_ev_timer *idle_timer;
    kite_rpc_pending *pending;   /* our requests to clients, awaiting answers */
    kite_ev_timer *accept_timer; /* re-arms the listeners after an EMFILE pause */
    kite_ev_timer *rescan_timer; /* a scan stopped after SCAN_CLOSE_US goes on soon */
    kite_conn_inmem inmem;       /* input buffers of all connections, cap max_in_bytes */
};

/* Lines about peers: one per second per kind (base/log.h). */
static kite_log_limit lim_idle = KITE_LOG_LIMIT_INIT, lim_frame = KITE_LOG_LIMIT_INIT,
                      lim_stall = KITE_LOG_LIMIT_INIT, lim_conns = KITE_LOG_LIMIT_INIT,
                      lim_accept = KITE_LOG_LIMIT_INIT, lim_decode = KITE_LOG_LIMIT_INIT,
                      lim_input = KITE_LOG_LIMIT_INIT, lim_oneway = KITE_LOG_LIMIT_INIT;

static void on_frame(kite_conn *c, const uint8_t *frame, size_t len, void *ud);
static void on_close(kite_conn *c, const char *reason, void *ud);
static const kite_conn_ops server_conn_ops = { on_frame, on_close, NULL };

static void idle_scan(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_rpc_server *s = arg;
    const kite_rpc_server_opts *o = &s->opts;
    if (t == s->rescan_timer) s->rescan_timer = NULL;
    int64_t now = kite_ev_now(ev), t0 = kite_mono_us();
    int closes = 0, more = 0;
    for (size_t i = 0; i < s->nconns;) {
        if (closes && kite_mono_us() - t0 > SCAN_CLOSE_US) {
            more = 1;
            break;
        }
        kite_conn *c = s->conns[i];
        int64_t part = kite_conn_partial_since_ms(c), stall = kite_conn_out_stalled_ms(c, now);
        if (o->idle_timeout_ms > 0 && now - kite_conn_last_active_ms(c) > o->idle_timeout_ms) {
            kite_log_limited(&lim_idle, KITE_LOG_INFO, "rpc", "closing idle connection %s",
                             kite_conn_peer(c));
            kite_conn_close(c, "idle timeout"); /* removes it from conns */
            closes++;
            continue;
        }
        if (o->frame_timeout_ms > 0 && part && now - part > o->frame_timeout_ms) {
            kite_log_limited(&lim_frame, KITE_LOG_WARN, "rpc",
                             "closing %s: a frame not completed within %d ms", kite_conn_peer(c),
                             o->frame_timeout_ms);
            kite_conn_close(c, "frame timeout");
            closes++;
            continue;
        }
        if (o->out_stall_timeout_ms > 0 && stall > o->out_stall_timeout_ms) {
            kite_log_limited(&lim_stall, KITE_LOG_WARN, "rpc",
                             "closing %s: %zu answer bytes not taken for %d ms", kite_conn_peer(c),
                             kite_conn_out_bytes(c), o->out_stall_timeout_ms);
            kite_conn_close(c, "output stalled");
            closes++;
            continue;
        }
        i++;
    }
    if (more && !s->rescan_timer) /* the others' requests go first */
        s->rescan_timer = kite_ev_timer_add(ev, RESCAN_MS, 0, idle_scan, s);
}

/* The input cap is exceeded: close the worst holders (see the top of the file). */
static void input_over(void *arg)
{
    kite_rpc_server *s = arg;
    int64_t now = kite_ev_now(s->ev);
    while (s->inmem.used > s->inmem.cap) {
        kite_conn *worst = NULL;
        size_t worst_held = 0;
        double worst_rate = 0;
        int worst_big = 0;
        for (size_t i = 0; i < s->nconns; i++) {
            kite_conn *c = s->conns[i];
            int64_t since = kite_conn_partial_since_ms(c);
            if (!since) continue; /* no incomplete frame: its input is being handled */
            size_t held = kite_conn_input_bytes(c);
            int big = held >= IN_FLOOR;
            double rate = (double)kite_conn_input_pending(c) / (double)(now - since + 1);
            /* a big holder before a small one; among big ones the slowest, among small
             * ones the biggest */
            int worse = !worst || big > worst_big ||
                        (big == worst_big && (big ? rate < worst_rate : held > worst_held));
            if (!worse) continue;
            worst = c;
            worst_held = held;
            worst_rate = rate;
            worst_big = big;
        }
        if (!worst) return; /* nothing half-received: the total falls as frames are handled */
        kite_log_limited(&lim_input, KITE_LOG_WARN, "rpc",
                         "closing %s: input buffers hold %zu bytes, over serverMaxInputBytes=%zu; "
                         "its incomplete frame holds %zu bytes, begun %lld ms ago",
                         kite_conn_peer(worst), s->inmem.used, s->inmem.cap, worst_held,
                         (long long)(now - kite_conn_partial_since_ms(worst)));
        kite_conn_close(worst, "input memory over serverMaxInputBytes"); /* leaves the group */
    }
}

/* serverMaxConnections in force: 0 (automatic) is the open-files limit less a reserve. */
static int max_conns_of(const kite_rpc_limits_conf *c)
{
    if (c->max_connections < 0) return 0;
    if (c->max_connections > 0) return c->max_connections;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    long n = (long)rl.rlim_cur - FD_RESERVE;
    if (n > (long)rl.rlim_cur * 7 / 8) n = (long)rl.rlim_cur * 7 / 8;
    return n < 64 ? 64 : (int)(n > 1000000 ? 1000000 : n);
}

void kite_rpc_limits_reserve_fds(const kite_rpc_limits_conf *c)
{
    int m = max_conns_of(c);
    int got = kite_sock_reserve_fds(m > 0 ? (long)m + FD_RESERVE : LONG_MAX);
    KLOG_DEBUG("rpc", "descriptor table holds %d descriptors", got);
}

void kite_rpc_limits_apply(const kite_rpc_limits_conf *c, kite_rpc_server_opts *o)
{
    o->max_conns = max_conns_of(c);
    o->max_inflight = c->max_inflight > 0 ? c->max_inflight : 0;
    o->max_out_bytes = c->max_out_bytes > 0 ? (size_t)c->max_out_bytes : 0;
    o->frame_timeout_ms = c->frame_timeout_ms > 0 ? c->frame_timeout_ms : 0;
    o->out_stall_timeout_ms = c->out_stall_timeout_ms > 0 ? c->out_stall_timeout_ms : 0;
    o->max_in_bytes = c->max_in_bytes > 0 ? (size_t)c->max_in_bytes : 0;
    size_t frame = o->max_frame ? o->max_frame : KITE_FRAME_MAX_DEFAULT;
    if (o->max_in_bytes && o->max_in_bytes < 2 * frame) {
        KLOG_WARN("rpc",
                  "serverMaxInputBytes=%zu is below twice maxFrameSize (%zu): using %zu, so "
                  "that a frame of the largest size can be received",
                  o->max_in_bytes, frame, 2 * frame);
        o->max_in_bytes = 2 * frame;
    }
}

static int64_t scan_period(const kite_rpc_server_opts *o)
{
    int64_t p = 0;
    int t[3] = { o->idle_timeout_ms, o->frame_timeout_ms, o->out_stall_timeout_ms };
    for (int i = 0; i < 3; i++)
        if (t[i] > 0 && (p == 0 || t[i] / 4 < p)) p = t[i] / 4;
    if (p == 0) return 0;
    return p < 50 ? 50 : p > 10000 ? 10000 : p;
}

kite_rpc_server *kite_rpc_server_new(kite_ev *ev, const kite_rpc_server_opts *opts)
{
    kite_rpc_server *s = kite_xcalloc(1, sizeof *s);
    s->ev = ev;
    if (opts)
        s->opts = *opts;
    else
        s->opts.idle_timeout_ms = 120000;
    if (!s->opts.max_frame) s->opts.max_frame = KITE_FRAME_MAX_DEFAULT;
    if (s->opts.tls) kite_tls_ctx_ref(s->opts.tls);
    s->pending = kite_rpc_pending_new(ev);
    s->inmem.cap = s->opts.max_in_bytes;
    s->inmem.over = input_over;
    s->inmem.arg = s;
    if (s->opts.max_conns || s->opts.max_inflight || s->opts.max_out_bytes || s->opts.max_in_bytes)
        KLOG_INFO("rpc",
                  "limits: %d connections, %d requests in flight and %zu output bytes per "
                  "connection, %zu input bytes in all, frame timeout %d ms, output stall "
                  "timeout %d ms (0 = none)",
                  s->opts.max_conns, s->opts.max_inflight, s->opts.max_out_bytes,
                  s->opts.max_in_bytes, s->opts.frame_timeout_ms, s->opts.out_stall_timeout_ms);
    int64_t period = scan_period(&s->opts);
    if (period > 0) s->idle_timer = kite_ev_timer_add(ev, period, period, idle_scan, s);
    return s;
}

void kite_rpc_server_free(kite_rpc_server *s)
{
    if (!s) return;
    for (int i = 0; i < s->nl; i++) {
        kite_ev_del(s->ev, s->lfds[i]);
        close(s->lfds[i]);
    }
    while (s->nconns) kite_conn_close(s->conns[s->nconns - 1], "server shutting down");
    if (s->idle_timer) kite_ev_timer_cancel(s->ev, s->idle_timer);
    if (s->accept_timer) kite_ev_timer_cancel(s->ev, s->accept_timer);
    if (s->rescan_timer) kite_ev_timer_cancel(s->ev, s->rescan_timer);
    kite_rpc_pending_free(s->pending);
    kite_tls_ctx_free(s->opts.tls);
    free(s->conns);
    free(s);
}

kite_ev *kite_rpc_server_ev(kite_rpc_server *s) { return s->ev; }
size_t kite_rpc_server_conn_count(const kite_rpc_server *s) { return s->nconns; }

static void accept_resume(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_rpc_server *s = arg;
    (void)t;
    s->accept_timer = NULL;
    for (int i = 0; i < s->nl; i++) kite_ev_mod(ev, s->lfds[i], KITE_EV_READ);
}

static void on_accept(kite_ev *ev, int lfd, uint32_t events, void *arg)
{
    kite_rpc_server *s = arg;
    (void)events;
    for (int i = 0; i < ACCEPT_TURN && !(i && kite_ev_turn_over(ev)); i++) {
        struct sockaddr_in peer;
        int fd = kite_sock_accept(lfd, &peer);
        if (fd == KITE_EAGAIN) return;
        if (fd < 0) {
            /* Out of descriptors (or another failure): the listener stays readable, so
             * stop watching it for a moment instead of spinning. */
            char why[96];
            snprintf(why, sizeof why, "%s", strerror(errno)); /* errno of accept4 */
            kite_log_limited(&lim_accept, KITE_LOG_WARN, "rpc",
                             "accept failed: %s (%zu connections); pausing accepts %d ms", why,
                             s->nconns, ACCEPT_PAUSE_MS);
            if (!s->accept_timer) {
                for (int k = 0; k < s->nl; k++) kite_ev_mod(ev, s->lfds[k], 0);
                s->accept_timer = kite_ev_timer_add(ev, ACCEPT_PAUSE_MS, 0, accept_resume, s);
            }
            return;
        }
        if (s->opts.max_conns > 0 && s->nconns >= (size_t)s->opts.max_conns) {
            char addr[48];
            kite_sock_format_addr(&peer, addr, sizeof addr);
            kite_log_limited(&lim_conns, KITE_LOG_WARN, "rpc",
                             "refusing %s: %zu connections open (serverMaxConnections=%d)", addr,
                             s->nconns, s->opts.max_conns);
            close(fd);
            continue;
        }
        kite_conn *c = kite_conn_new(ev, fd, &peer, 0, &server_conn_ops, s, s->opts.max_frame);
        if (!c) {
            close(fd);
            continue;
        }
        kite_conn_set_limits(c, s->opts.max_out_bytes, s->opts.max_inflight);
        kite_conn_set_inmem(c, &s->inmem);
        s->conns = kite_xgrow(s->conns, &s->capconns, s->nconns + 1, sizeof *s->conns, 64);
        s->conns[s->nconns++] = c;
        if (s->opts.tls) kite_conn_tls_start(c, s->opts.tls, NULL);
        KLOG_DEBUG("rpc", "accepted %s", kite_conn_peer(c));
        if (s->opts.on_open) s->opts.on_open(c, s->opts.cb_arg);
    }
}

int kite_rpc_server_listen(kite_rpc_server *s, const char *host, int port, char *err, size_t errlen)
{
    if (s->nl == MAX_LISTENERS) {
        snprintf(err, errlen, "too many listeners");
        return KITE_ETOOBIG;
    }
    int bound = 0;
    int fd = kite_sock_listen(host, port, &bound, err, errlen);
    if (fd < 0) return fd;
    int rc = kite_ev_add(s->ev, fd, KITE_EV_READ, on_accept, s);
    if (rc != 0) {
        snprintf(err, errlen, "cannot watch listening socket: %s", kite_strerror(rc));
        close(fd);
        return rc;
    }
    s->lfds[s->nl++] = fd;
    return bound;
}

void kite_rpc_server_handle(kite_rpc_server *s, int code, kite_rpc_handler h, void *arg)
{
    if (code < 0 || code >= MAX_CODE) return;
    s->handlers[code].fn = h;
    s->handlers[code].arg = arg;
}

void kite_rpc_server_set_guard(kite_rpc_server *s, kite_rpc_guard g, void *arg)
{
    s->guard = g;
    s->guard_arg = arg;
}

static void on_close(kite_conn *c, const char *reason, void *ud)
{
    kite_rpc_server *s = ud;
    for (size_t i = 0; i < s->nconns; i++) {
        if (s->conns[i] == c) {
            s->conns[i] = s->conns[--s->nconns];
            break;
        }
    }
    KLOG_DEBUG("rpc", "connection %s closed: %s", kite_conn_peer(c), reason);
    kite_rpc_pending_fail_conn(s->pending, kite_conn_id(c), KITE_ECLOSED);
    if (s->opts.on_close) s->opts.on_close(c, s->opts.cb_arg);
}

static void req_free(kite_rpc_req *r)
{
    if (!r->parked) kite_conn_inflight(r->conn, -1);
    kite_cmd_free(&r->cmd);
    kite_conn_unref(r->conn);
    free(r);
}

typedef struct posted_reply {
    kite_rpc_req *req;
    kite_buf hdr;
    kite_seg *segs;
    size_t nseg;
} posted_reply;

static void write_reply(kite_rpc_req *req, kite_buf *hdr, const kite_seg *segs, size_t nseg)
{
    kite_conn_write(req->conn, hdr, segs, nseg); /* releases segments even if closed */
    kite_buf_free(hdr);
    req_free(req);
}

static void run_posted_reply(void *arg)
{
    posted_reply *p = arg;
    write_reply(p->req, &p->hdr, p->segs, p->nseg);
    free(p->segs);
    free(p);
}

static void release_segs(const kite_seg *segs, size_t nseg)
{
    for (size_t i = 0; i < nseg; i++)
        if (segs[i].release) segs[i].release(segs[i].release_arg);
}

void kite_rpc_reply_segs(kite_rpc_req *req, kite_cmd *resp, const kite_seg *segs, size_t nseg)
{
    if (kite_cmd_is_oneway(&req->cmd)) {
        /* nobody hears the answer: a refusal is worth a (limited) line, since the peer
         * believes its request was done (a refused END_TRANSACTION leaves a half message
         * for the check-back; a refused offset commit means re-delivery) */
        if (resp->code != 0)
            kite_log_limited(&lim_oneway, KITE_LOG_WARN, "rpc",
                             "oneway request code %d from %s refused with code %d: %s",
                             (int)req->cmd.code, kite_conn_peer(req->conn), (int)resp->code,
                             resp->remark ? resp->remark : "");
        release_segs(segs, nseg);
        kite_cmd_free(resp);
        kite_rpc_done(req);
        return;
    }
    size_t extra = 0;
    for (size_t i = 0; i < nseg; i++) extra += segs[i].len;
    kite_buf hdr = KITE_BUF_INIT;
    kite_cmd_encode_header(resp, &hdr, extra);
    kite_buf_append(&hdr, resp->body, resp->body_len);
    kite_cmd_free(resp);
    kite_ev *ev = kite_conn_ev(req->conn);
    if (kite_ev_in_loop(ev)) {
        write_reply(req, &hdr, segs, nseg);
        return;
    }
    posted_reply *p = kite_xcalloc(1, sizeof *p);
    p->req = req;
    p->hdr = hdr;
    if (nseg) {
        p->segs = kite_xcalloc(nseg, sizeof *segs);
        memcpy(p->segs, segs, nseg * sizeof *segs);
    }
    p->nseg = nseg;
    kite_ev_post(ev, run_posted_reply, p);
}

void kite_rpc_reply(kite_rpc_req *req, kite_cmd *resp) { kite_rpc_reply_segs(req, resp, NULL, 0); }

void kite_rpc_reply_code(kite_rpc_req *req, int code, const char *remark)
{
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, code, remark);
    kite_rpc_reply(req, &resp);
}

static void run_posted_done(void *arg) { req_free(arg); }

void kite_rpc_req_park(kite_rpc_req *req)
{
    if (req->parked) return;
    req->parked = 1;
    kite_conn_inflight(req->conn, -1);
}

void kite_rpc_done(kite_rpc_req *req)
{
    kite_ev *ev = kite_conn_ev(req->conn);
    if (kite_ev_in_loop(ev))
        req_free(req);
    else
        kite_ev_post(ev, run_posted_done, req);
}

static void on_frame(kite_conn *c, const uint8_t *frame, size_t len, void *ud)
{
    kite_rpc_server *s = ud;
    char err[256];
    kite_rpc_req *r = kite_xcalloc(1, sizeof *r);
    if (kite_cmd_decode(&r->cmd, frame, len, s->opts.max_frame, err, sizeof err) != 0) {
        free(r);
        kite_log_limited(&lim_decode, KITE_LOG_WARN, "rpc", "closing %s: undecodable frame: %s",
                         kite_conn_peer(c), err);
        kite_conn_close(c, err);
        return;
    }
    if (kite_cmd_is_response(&r->cmd)) {
        if (!kite_rpc_pending_complete(s->pending, kite_conn_id(c), &r->cmd))
            KLOG_DEBUG("rpc", "dropping late or unknown response opaque=%d from %s", r->cmd.opaque,
                       kite_conn_peer(c));
        kite_cmd_free(&r->cmd);
        free(r);
        return;
    }
    r->srv = s;
    r->conn = c;
    r->recv_ms = kite_ev_now(s->ev);
    kite_conn_ref(c);
    kite_conn_inflight(c, 1); /* undone in req_free or kite_rpc_req_park */
    int code = r->cmd.code;
    if (s->guard && !s->guard(r, s->guard_arg)) return;
    if (code >= 0 && code < MAX_CODE && s->handlers[code].fn) {
        s->handlers[code].fn(r, s->handlers[code].arg);
        return;
    }
    char remark[64];
    snprintf(remark, sizeof remark, " request type %d not supported", code);
    KLOG_DEBUG("rpc", "unsupported request code %d from %s", code, kite_conn_peer(c));
    kite_rpc_reply_code(r, RS_REQUEST_CODE_NOT_SUPPORTED, remark);
}

void kite_rpc_server_call(kite_rpc_server *s, kite_conn *conn, kite_cmd *req, int64_t timeout_ms,
                          kite_rpc_cb cb, void *arg)
{
    req->opaque = kite_rpc_next_opaque();
    req->flag = cb ? 0 : KITE_FLAG_ONEWAY;
    req->serialize = KITE_SER_JSON; /* every client can read JSON */
    kite_buf frame = KITE_BUF_INIT;
    kite_cmd_encode(req, &frame);
    int32_t opaque = req->opaque;
    kite_cmd_free(req);
    if (kite_conn_is_closed(conn)) {
        kite_buf_free(&frame);
        if (cb) cb(KITE_ECLOSED, NULL, arg);
        return;
    }
    if (cb)
        kite_rpc_pending_add(s->pending, kite_conn_id(conn), opaque,
                             timeout_ms > 0 ? timeout_ms : 3000, cb, arg);
    kite_conn_write(conn, &frame, NULL, 0);
    kite_buf_free(&frame);
}
