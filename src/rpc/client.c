/* client.c - remoting RPC client (see client.h).
 *
 * Channels: addr -> connection, created on first use; a closed connection is dropped
 * from the table (its in-flight calls fail with KITE_ECLOSED) and the next call to
 * that address connects again. Requests posted from other threads are encoded on the
 * caller's thread and queued to the loop with kite_ev_post. */
#include "rpc/client.h"
#include "base/thread.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/log.h"
#include "base/map.h"
#include "net/conn.h"
#include "net/sock.h"
#include "net/tls.h"
#include "proto/codes.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CODE 4096

typedef struct handler_ent {
    kite_rpc_handler fn;
    void *arg;
} handler_ent;

struct kite_rpc_client {
    kite_ev *ev;
    int own_loop;
    pthread_t thread;
    kite_rpc_client_opts opts;
    kite_map chans;            /* addr -> kite_conn* (loop thread only) */
    kite_rpc_pending *pending; /* loop thread only */
    handler_ent handlers[MAX_CODE];
    char *ak, *token; /* plain-ACL account, or NULL (kite_rpc_client_set_credentials) */
    kite_acl_key *sk; /* its secret, prepared for signing */
};

static void on_frame(kite_conn *conn, const uint8_t *frame, size_t len, void *ud);
static void on_close(kite_conn *conn, const char *reason, void *ud);
static void on_connect(kite_conn *conn, void *ud);
static const kite_conn_ops client_conn_ops = { on_frame, on_close, on_connect };

typedef struct chan_ud {
    kite_rpc_client *client;
    kite_conn *conn;
    kite_ev_timer *connect_timer; /* armed while the TCP connect is in progress */
    char addr[128];
} chan_ud;

static void *loop_main(void *arg)
{
    kite_rpc_client *c = arg;
    kite_thread_name("kite-io");
    /* A peer that goes away must not kill the application with SIGPIPE (sendfile has
     * no MSG_NOSIGNAL): block it on the client's I/O thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    kite_ev_run(c->ev);
    return NULL;
}

kite_rpc_client *kite_rpc_client_new(const kite_rpc_client_opts *opts)
{
    kite_rpc_client *c = kite_xcalloc(1, sizeof *c);
    if (opts) c->opts = *opts;
    if (!c->opts.max_frame) c->opts.max_frame = KITE_FRAME_MAX_DEFAULT;
    if (!c->opts.connect_timeout_ms) c->opts.connect_timeout_ms = 3000;
    if (c->opts.tls) kite_tls_ctx_ref(c->opts.tls);
    c->ev = c->opts.ev;
    if (!c->ev) {
        c->ev = kite_ev_new();
        if (!c->ev) {
            free(c);
            return NULL;
        }
        c->own_loop = 1;
    }
    c->pending = kite_rpc_pending_new(c->ev);
    if (c->own_loop && pthread_create(&c->thread, NULL, loop_main, c) != 0) {
        kite_rpc_pending_free(c->pending);
        kite_ev_free(c->ev);
        free(c);
        return NULL;
    }
    return c;
}

kite_ev *kite_rpc_client_ev(kite_rpc_client *c) { return c->ev; }

void kite_rpc_client_set_credentials(kite_rpc_client *c, const char *access_key,
                                     const char *secret_key, const char *security_token)
{
    free(c->ak);
    kite_acl_key_free(c->sk);
    free(c->token);
    c->ak = access_key && secret_key ? kite_xstrdup(access_key) : NULL;
    c->sk = c->ak ? kite_acl_key_new(secret_key) : NULL;
    c->token = c->ak && security_token ? kite_xstrdup(security_token) : NULL;
}

void kite_rpc_client_handle(kite_rpc_client *c, int code, kite_rpc_handler h, void *arg)
{
    if (code < 0 || code >= MAX_CODE) return;
    c->handlers[code].fn = h;
    c->handlers[code].arg = arg;
}

static void close_all(kite_rpc_client *c)
{
    size_t it = 0;
    void *v;
    /* Closing mutates the table (on_close removes entries): collect first. */
    kite_conn **list = NULL;
    size_t n = 0;
    while (kite_map_next(&c->chans, &it, NULL, &v)) {
        list = kite_xreallocarray(list, n + 1, sizeof *list);
        list[n++] = v;
    }
    for (size_t i = 0; i < n; i++) kite_conn_close(list[i], "client shutting down");
    free(list);
}

static void shutdown_task(void *arg)
{
    kite_rpc_client *c = arg;
    close_all(c);
    kite_ev_stop(c->ev);
}

void kite_rpc_client_free(kite_rpc_client *c)
{
    if (!c) return;
    if (c->own_loop) {
        kite_ev_post(c->ev, shutdown_task, c);
        pthread_join(c->thread, NULL);
    } else {
        close_all(c);
    }
    kite_rpc_pending_free(c->pending);
    kite_map_free(&c->chans, NULL);
    if (c->own_loop) kite_ev_free(c->ev);
    kite_tls_ctx_free(c->opts.tls);
    free(c->ak);
    kite_acl_key_free(c->sk);
    free(c->token);
    free(c);
}

static void on_connect_timeout(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    chan_ud *u = arg;
    (void)ev;
    (void)t;
    u->connect_timer = NULL;
    KLOG_WARN("rpc", "connect to %s timed out", u->addr);
    kite_conn_close(u->conn, "connect timed out");
}

static void on_connect(kite_conn *conn, void *ud)
{
    chan_ud *u = ud;
    (void)conn;
    if (u->connect_timer) kite_ev_timer_cancel(u->client->ev, u->connect_timer);
    u->connect_timer = NULL;
}

static kite_conn *get_chan(kite_rpc_client *c, const char *addr, char *err, size_t errlen)
{
    kite_conn *conn = kite_map_get(&c->chans, addr);
    if (conn) return conn;
    struct sockaddr_in sa;
    if (kite_sock_parse_addr(addr, &sa, err, errlen) != 0) return NULL;
    int fd = kite_sock_connect(&sa, err, errlen);
    if (fd < 0) return NULL;
    chan_ud *ud = kite_xcalloc(1, sizeof *ud);
    ud->client = c;
    snprintf(ud->addr, sizeof ud->addr, "%s", addr);
    conn = kite_conn_new(c->ev, fd, &sa, 1, &client_conn_ops, ud, c->opts.max_frame);
    if (!conn) {
        free(ud);
        snprintf(err, errlen, "cannot watch socket");
        return NULL;
    }
    ud->conn = conn;
    if (c->opts.tls) {
        char host[128];
        kite_str_copy(host, sizeof host, addr);
        char *colon = strrchr(host, ':');
        if (colon) *colon = 0;
        kite_conn_tls_start(conn, c->opts.tls, host);
    }
    ud->connect_timer =
        kite_ev_timer_add(c->ev, c->opts.connect_timeout_ms, 0, on_connect_timeout, ud);
    kite_map_put(&c->chans, addr, conn);
    return conn;
}

typedef struct call {
    kite_rpc_client *client;
    char addr[128];
    kite_buf frame; /* encoded request */
    int32_t opaque;
    int oneway;
    int64_t timeout_ms;
    kite_rpc_cb cb;
    void *arg;
} call;

/* Sends one encoded call on the loop thread; k stays the caller's. */
static void start_call(call *k)
{
    kite_rpc_client *c = k->client;
    char err[256];
    kite_conn *conn = get_chan(c, k->addr, err, sizeof err);
    if (!conn) {
        KLOG_DEBUG("rpc", "call to %s failed: %s", k->addr, err);
        kite_buf_free(&k->frame);
        if (k->cb) k->cb(KITE_ECLOSED, NULL, k->arg);
        return;
    }
    if (!k->oneway)
        kite_rpc_pending_add(c->pending, kite_conn_id(conn), k->opaque, k->timeout_ms, k->cb,
                             k->arg);
    kite_conn_write(conn, &k->frame, NULL, 0); /* on failure the close path fails the call */
    kite_buf_free(&k->frame);
}

static void run_call(void *arg)
{
    start_call(arg);
    free(arg);
}

static void submit(kite_rpc_client *c, const char *addr, kite_cmd *req, int oneway,
                   int64_t timeout_ms, kite_rpc_cb cb, void *arg)
{
    /* On the loop thread the call is started at once from the stack; from other threads
     * it is copied to the heap and posted. */
    call k;
    k.client = c;
    kite_str_copy(k.addr, sizeof k.addr, addr);
    req->opaque = kite_rpc_next_opaque();
    req->flag = oneway ? KITE_FLAG_ONEWAY : 0;
    k.opaque = req->opaque;
    k.oneway = oneway;
    k.timeout_ms = timeout_ms > 0 ? timeout_ms : 3000;
    k.cb = cb;
    k.arg = arg;
    kite_buf_init(&k.frame);
    if (c->ak) kite_rpc_sign(req, c->ak, c->sk, c->token);
    kite_cmd_encode(req, &k.frame);
    kite_cmd_free(req);
    if (kite_ev_in_loop(c->ev)) {
        start_call(&k);
        return;
    }
    call *h = kite_xmalloc(sizeof *h);
    *h = k;
    kite_ev_post(c->ev, run_call, h);
}

void kite_rpc_call_async(kite_rpc_client *c, const char *addr, kite_cmd *req, int64_t timeout_ms,
                         kite_rpc_cb cb, void *arg)
{
    submit(c, addr, req, 0, timeout_ms, cb, arg);
}

void kite_rpc_oneway(kite_rpc_client *c, const char *addr, kite_cmd *req)
{
    submit(c, addr, req, 1, 0, NULL, NULL);
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
    kite_cmd resp;
} waiter;

static void sync_cb(int status, kite_cmd *resp, void *arg)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    if (resp) {
        w->resp = *resp; /* move */
        kite_cmd_init(resp);
    }
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int kite_rpc_call_sync(kite_rpc_client *c, const char *addr, kite_cmd *req, int64_t timeout_ms,
                       kite_cmd *resp)
{
    if (kite_ev_in_loop(c->ev)) {
        kite_cmd_free(req);
        return KITE_EINVAL;
    }
    waiter w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    submit(c, addr, req, 0, timeout_ms, sync_cb, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu); /* the timeout timer guarantees an end */
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    if (w.status == KITE_OK) *resp = w.resp;
    return w.status;
}

typedef struct close_req {
    kite_rpc_client *c;
    char addr[128];
} close_req;

static void run_close(void *arg)
{
    close_req *r = arg;
    kite_conn *conn = kite_map_get(&r->c->chans, r->addr);
    if (conn) kite_conn_close(conn, "closed by the client");
    free(r);
}

void kite_rpc_client_close_addr(kite_rpc_client *c, const char *addr)
{
    close_req *r = kite_xcalloc(1, sizeof *r);
    r->c = c;
    snprintf(r->addr, sizeof r->addr, "%s", addr);
    if (kite_ev_in_loop(c->ev))
        run_close(r);
    else
        kite_ev_post(c->ev, run_close, r);
}

static void on_close(kite_conn *conn, const char *reason, void *ud)
{
    chan_ud *u = ud;
    kite_rpc_client *c = u->client;
    if (kite_map_get(&c->chans, u->addr) == conn) kite_map_del(&c->chans, u->addr);
    if (u->connect_timer) kite_ev_timer_cancel(c->ev, u->connect_timer);
    if (strncmp(reason, "TLS", 3) == 0)
        KLOG_WARN("rpc", "connection to %s closed: %s", u->addr, reason);
    else
        KLOG_DEBUG("rpc", "connection to %s closed: %s", u->addr, reason);
    kite_rpc_pending_fail_conn(c->pending, kite_conn_id(conn), KITE_ECLOSED);
    free(u);
}

static void on_frame(kite_conn *conn, const uint8_t *frame, size_t len, void *ud)
{
    chan_ud *u = ud;
    kite_rpc_client *c = u->client;
    char err[256];
    /* Decoded on the stack: most frames are answers, which need no request object. */
    kite_cmd cmd;
    if (kite_cmd_decode(&cmd, frame, len, c->opts.max_frame, err, sizeof err) != 0) {
        KLOG_WARN("rpc", "closing connection to %s: undecodable frame: %s", u->addr, err);
        kite_conn_close(conn, err);
        return;
    }
    if (kite_cmd_is_response(&cmd)) {
        if (!kite_rpc_pending_complete(c->pending, kite_conn_id(conn), &cmd))
            KLOG_DEBUG("rpc", "late or unknown response opaque=%d from %s", cmd.opaque, u->addr);
        kite_cmd_free(&cmd);
        return;
    }
    kite_rpc_req *r = kite_xcalloc(1, sizeof *r);
    r->cmd = cmd; /* moved: a command holds no pointers into itself */
    r->conn = conn;
    r->recv_ms = kite_ev_now(c->ev);
    kite_conn_ref(conn);
    kite_conn_inflight(conn, 1); /* as the server counts (no limit on our connections) */
    int code = r->cmd.code;
    if (code >= 0 && code < MAX_CODE && c->handlers[code].fn) {
        c->handlers[code].fn(r, c->handlers[code].arg);
        return;
    }
    char remark[64];
    snprintf(remark, sizeof remark, " request type %d not supported", code);
    kite_rpc_reply_code(r, RS_REQUEST_CODE_NOT_SUPPORTED, remark);
}
