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
#include <stddef.h>
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
    int parked;       /* kite_rpc_req_park was called */
} kite_rpc_req;

typedef void (*kite_rpc_handler)(kite_rpc_req *req, void *arg);
/* Runs before every request's handler, also for codes without one: returns 1 to go on,
 * or 0 after finishing req itself (a refusal answered with kite_rpc_reply_code). */
typedef int (*kite_rpc_guard)(kite_rpc_req *req, void *arg);
typedef void (*kite_rpc_conn_cb)(kite_conn *conn, void *arg);

typedef struct kite_rpc_server_opts {
    size_t max_frame;    /* default KITE_FRAME_MAX_DEFAULT */
    int idle_timeout_ms; /* close connections silent this long; 0 = never (default 120000) */
    /* Hardening (docs/DESIGN.md "Hostile clients"); 0 disables each one. */
    int max_conns;             /* beyond it a new connection is accepted and closed at once */
    int max_inflight;          /* per connection: unfinished requests before reading pauses */
    size_t max_out_bytes;      /* per connection: unsent output before reading pauses */
    int frame_timeout_ms;      /* close a connection whose frame is half-received this long */
    int out_stall_timeout_ms;  /* close a connection whose output has not moved this long */
    size_t max_in_bytes;       /* all connections: input-buffer bytes (see kite_rpc_limits_apply) */
    kite_rpc_conn_cb on_open;  /* after accept */
    kite_rpc_conn_cb on_close; /* when any connection closes */
    void *cb_arg;
    /* A server TLS context (net/tls.h) in permissive or enforcing mode, or NULL for plain
     * connections only. The server holds its own reference. */
    struct kite_tls_ctx *tls;
} kite_rpc_server_opts;

/* The hardening keys both daemons accept (documented in README "Security"); T is the
 * config struct, m a kite_rpc_limits_conf member. kite_rpc_limits_apply copies them into
 * opts (maxConnections 0 = automatic: RLIMIT_NOFILE's soft limit less a reserve). */
typedef struct kite_rpc_limits_conf {
    int max_connections, max_inflight, frame_timeout_ms, out_stall_timeout_ms;
    int64_t max_out_bytes, max_in_bytes;
} kite_rpc_limits_conf;
#define KITE_RPC_LIMIT_PROPS(T, m)                                                               \
    { "serverMaxConnections", KITE_PROP_INT, offsetof(T, m.max_connections), "0",                \
      "connections served at once; more are closed on accept (0: the open-files limit less "     \
      "a reserve; KiteMQ)" },                                                                    \
        { "serverMaxInflightRequests", KITE_PROP_INT, offsetof(T, m.max_inflight), "1024",       \
          "per connection: unanswered requests before its reading pauses; parked long polls "    \
          "do not count (0: no limit; KiteMQ)" },                                                \
        { "serverMaxOutputBytes", KITE_PROP_LONG, offsetof(T, m.max_out_bytes), "4194304",       \
          "per connection: unsent answer bytes before its reading pauses (0: no cap; KiteMQ)" }, \
        { "serverMaxInputBytes", KITE_PROP_LONG, offsetof(T, m.max_in_bytes), "268435456",       \
          "all connections together: input-buffer bytes; above it the connection whose "         \
          "incomplete frame arrives slowest is closed (0: no cap; at least 2 x maxFrameSize; "   \
          "KiteMQ)" },                                                                           \
        { "serverFrameTimeoutMillis", KITE_PROP_INT, offsetof(T, m.frame_timeout_ms), "60000",   \
          "close a connection whose request frame is not complete this long after it began "     \
          "(0: never; KiteMQ)" },                                                                \
    {                                                                                            \
        "serverOutputStallTimeoutMillis", KITE_PROP_INT, offsetof(T, m.out_stall_timeout_ms),    \
            "60000",                                                                             \
            "close a connection that has not taken any of its answers this long "                \
            "(0: never; KiteMQ)"                                                                 \
    }
/* o->max_frame must be set first: a non-zero input cap below twice it is raised to that
 * (with a warning), so that a frame of the largest size can always be received. */
void kite_rpc_limits_apply(const kite_rpc_limits_conf *c, kite_rpc_server_opts *o);
/* Grows the process's descriptor table for serverMaxConnections plus a reserve (net/sock.h
 * kite_sock_reserve_fds): a daemon calls it before it starts any thread. */
void kite_rpc_limits_reserve_fds(const kite_rpc_limits_conf *c);

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
/* A request parked for a long time (a long-polling pull) stops counting against
 * max_inflight, so that parked pulls cannot stall the connection's other requests. Loop
 * thread; once per request. */
void kite_rpc_req_park(kite_rpc_req *req);
kite_ev *kite_rpc_server_ev(kite_rpc_server *s);
size_t kite_rpc_server_conn_count(const kite_rpc_server *s);

#endif
