/* server.h - remoting RPC server: accepts connections, decodes frames, dispatches
 * requests by code to handlers, and sends their replies.
 *
 * Owns: listening sockets, accepted connections (through net/conn), the handler table.
 * Not owned: what handlers do; the event loop (the caller runs it).
 * Replies: a handler receives a kite_rpc_req it owns and must finish it exactly once,
 * with kite_rpc_reply() (or kite_rpc_done() for no answer). It may do so later and from
 * any thread, so one connection serves many requests at once and answers them out of
 * order. Oneway requests are never answered, even when a handler tries.
 * Unknown codes get REQUEST_CODE_NOT_SUPPORTED with a remark; frames that do not decode
 * close that connection with a logged reason; everyone else keeps being served.
 * Threads: all server calls except kite_rpc_reply/kite_rpc_done run on the loop thread. */
#ifndef KITE_RPC_SERVER_H
#define KITE_RPC_SERVER_H

#include "net/conn.h"
#include "net/ev.h"
#include "proto/cmd.h"
#include "rpc/pending.h"

typedef struct kite_rpc_server kite_rpc_server;

typedef struct kite_rpc_req {
    kite_rpc_server *srv;
    kite_conn *conn;  /* a reference is held until the request is finished */
    kite_cmd cmd;     /* the decoded request */
    int64_t recv_ms;  /* monotonic arrival time */
    const void *auth; /* set by the guard (e.g. the ACL account); valid during the handler call */
} kite_rpc_req;

typedef void (*kite_rpc_handler)(kite_rpc_req *req, void *arg);
/* Runs before every request's handler, also for codes without one: returns 1 to go on,
 * or 0 after finishing req itself (a refusal answered with kite_rpc_reply_code). */
typedef int (*kite_rpc_guard)(kite_rpc_req *req, void *arg);
typedef void (*kite_rpc_conn_cb)(kite_conn *conn, void *arg);

typedef struct kite_rpc_server_opts {
    size_t max_frame;          /* default KITE_FRAME_MAX_DEFAULT */
    int idle_timeout_ms;       /* close connections silent this long; 0 = never (default 120000) */
    kite_rpc_conn_cb on_open;  /* after accept */
    kite_rpc_conn_cb on_close; /* when any connection closes */
    void *cb_arg;
    /* A server TLS context (net/tls.h) in permissive or enforcing mode, or NULL for plain
     * connections only. The server holds its own reference. */
    struct kite_tls_ctx *tls;
} kite_rpc_server_opts;

kite_rpc_server *kite_rpc_server_new(kite_ev *ev, const kite_rpc_server_opts *opts);
/* Closes listeners and connections; pending requests finish later into closed
 * connections (their replies are dropped). */
void kite_rpc_server_free(kite_rpc_server *s);
/* Adds a listening socket. Returns the bound port (useful with port 0) or a kite_status
 * (message in err). */
int kite_rpc_server_listen(kite_rpc_server *s, const char *host, int port, char *err,
                           size_t errlen);
void kite_rpc_server_handle(kite_rpc_server *s, int code, kite_rpc_handler h, void *arg);
/* Installs (or with NULL removes) the guard. Loop thread. */
void kite_rpc_server_set_guard(kite_rpc_server *s, kite_rpc_guard g, void *arg);
/* Sends resp (its opaque/flag must already be a response to req - use
 * kite_cmd_init_response) plus optional extra segments as the body after resp->body,
 * frees resp and finishes req. Thread-safe. Segments are released in every case. */
void kite_rpc_reply_segs(kite_rpc_req *req, kite_cmd *resp, const kite_seg *segs, size_t nseg);
void kite_rpc_reply(kite_rpc_req *req, kite_cmd *resp);
/* Shorthand: answer code + remark with no header fields and no body. */
void kite_rpc_reply_code(kite_rpc_req *req, int code, const char *remark);
/* Finish without answering. Thread-safe. */
void kite_rpc_done(kite_rpc_req *req);
/* Sends a request to a connected client (broker -> client calls). req is taken over;
 * its opaque is assigned here. cb runs once on the loop thread (response, timeout or
 * connection closed). With cb NULL the request is sent ONEWAY. Loop thread only. */
void kite_rpc_server_call(kite_rpc_server *s, kite_conn *conn, kite_cmd *req, int64_t timeout_ms,
                          kite_rpc_cb cb, void *arg);
kite_ev *kite_rpc_server_ev(kite_rpc_server *s);
size_t kite_rpc_server_conn_count(const kite_rpc_server *s);

#endif
