/* server.c - remoting RPC server (see server.h for the contract).
 *
 * Accepted connections are kept in an array (for idle scans and shutdown); each
 * connection's user data is its index record. A request is decoded into a heap
 * kite_rpc_req that holds a connection reference, so a reply that arrives after the
 * peer left is simply dropped. Replies from other threads are encoded on the calling
 * thread and handed to the loop with kite_ev_post. */
#include "rpc/server.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/log.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CODE      4096
#define MAX_LISTENERS 4

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
    kite_rpc_pending *pending; /* our requests to clients, awaiting answers */
};

static void on_frame(kite_conn *c, const uint8_t *frame, size_t len, void *ud);
static void on_close(kite_conn *c, const char *reason, void *ud);
static const kite_conn_ops server_conn_ops = { on_frame, on_close, NULL };

static void idle_scan(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_rpc_server *s = arg;
    (void)t;
    int64_t now = kite_ev_now(ev);
    for (size_t i = 0; i < s->nconns;) {
        kite_conn *c = s->conns[i];
        if (now - kite_conn_last_active_ms(c) > s->opts.idle_timeout_ms) {
            KLOG_INFO("rpc", "closing idle connection %s", kite_conn_peer(c));
            kite_conn_close(c, "idle timeout"); /* removes it from conns */
            continue;
        }
        i++;
    }
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
    if (s->opts.idle_timeout_ms > 0) {
        int64_t period = s->opts.idle_timeout_ms / 4;
        if (period < 50) period = 50;
        if (period > 10000) period = 10000;
        s->idle_timer = kite_ev_timer_add(ev, period, period, idle_scan, s);
    }
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
    kite_rpc_pending_free(s->pending);
    kite_tls_ctx_free(s->opts.tls);
    free(s->conns);
    free(s);
}

kite_ev *kite_rpc_server_ev(kite_rpc_server *s) { return s->ev; }
size_t kite_rpc_server_conn_count(const kite_rpc_server *s) { return s->nconns; }

static void on_accept(kite_ev *ev, int lfd, uint32_t events, void *arg)
{
    kite_rpc_server *s = arg;
    (void)events;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in peer;
        int fd = kite_sock_accept(lfd, &peer);
        if (fd == KITE_EAGAIN) return;
        if (fd < 0) {
            KLOG_WARN("rpc", "accept failed: %m");
            return;
        }
        kite_conn *c = kite_conn_new(ev, fd, &peer, 0, &server_conn_ops, s, s->opts.max_frame);
        if (!c) {
            close(fd);
            continue;
        }
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
        KLOG_WARN("rpc", "closing %s: undecodable frame: %s", kite_conn_peer(c), err);
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
