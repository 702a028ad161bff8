/* client.h - remoting RPC client: calls to servers by "host:port", sync (blocking
 * with timeout), async (callback) and oneway; many requests in flight per connection;
 * connections made on demand and re-made after they drop (reconnect); requests FROM
 * the server (broker -> client: check-back, consumer-ids-changed...) dispatched to
 * handlers by code and answered with kite_rpc_reply().
 *
 * Owns: one connection per address, the in-flight table, and - when created without
 * an event loop - its own loop thread.
 * Threads: kite_rpc_call_async/oneway are safe from any thread; callbacks and
 * handlers run on the client's loop thread and must not block. kite_rpc_call_sync
 * must NOT be called on the loop thread (it would wait for itself); it returns
 * KITE_EINVAL there. */
#ifndef KITE_RPC_CLIENT_H
#define KITE_RPC_CLIENT_H

#include "codec/acl_sign.h"
#include "net/ev.h"
#include "proto/cmd.h"
#include "rpc/pending.h"
#include "rpc/server.h"

typedef struct kite_rpc_client kite_rpc_client;

typedef struct kite_rpc_client_opts {
    kite_ev *ev;            /* NULL: the client starts its own loop thread */
    size_t max_frame;       /* default KITE_FRAME_MAX_DEFAULT */
    int connect_timeout_ms; /* default 3000; covers the TLS handshake too */
    /* A client TLS context (net/tls.h): every connection is TLS; NULL = plain. The
     * client holds its own reference. */
    struct kite_tls_ctx *tls;
} kite_rpc_client_opts;

kite_rpc_client *kite_rpc_client_new(const kite_rpc_client_opts *opts);
/* Fails everything in flight with KITE_ECLOSED, closes connections, stops its thread.
 * Call from outside the loop thread when the client owns its loop. */
void kite_rpc_client_free(kite_rpc_client *c);
kite_ev *kite_rpc_client_ev(kite_rpc_client *c);
/* Signs every request sent from now on (not the answers to the server's requests) as the
 * plain-ACL account access_key / secret_key, with security_token when not NULL
 * (kite_rpc_sign). Strings copied. Call before the first request: not thread-safe with
 * calls in flight. */
void kite_rpc_client_set_credentials(kite_rpc_client *c, const char *access_key,
                                     const char *secret_key, const char *security_token);
/* Adds AccessKey (and SecurityToken when not NULL) to req, then Signature over all its
 * ext fields and body with the account's prepared secret, as RocketMQ's client computes it
 * (docs/wire.md §14.1, §14.6). */
void kite_rpc_sign(kite_cmd *req, const char *access_key, const kite_acl_key *secret,
                   const char *security_token);
/* Handler for requests the server sends us (same contract as the server's handlers). */
void kite_rpc_client_handle(kite_rpc_client *c, int code, kite_rpc_handler h, void *arg);

/* Sends req (taken over: freed by the client) to addr. The opaque is assigned here.
 * cb runs exactly once on the loop thread. */
void kite_rpc_call_async(kite_rpc_client *c, const char *addr, kite_cmd *req, int64_t timeout_ms,
                         kite_rpc_cb cb, void *arg);
/* Blocking call. Returns KITE_OK with *resp filled (caller frees it), or
 * KITE_ETIMEDOUT / KITE_ECLOSED / KITE_EINVAL. req is taken over. */
int kite_rpc_call_sync(kite_rpc_client *c, const char *addr, kite_cmd *req, int64_t timeout_ms,
                       kite_cmd *resp);
/* Fire and forget (ONEWAY flag set). req is taken over. */
void kite_rpc_oneway(kite_rpc_client *c, const char *addr, kite_cmd *req);
/* Closes the connection to addr (in-flight calls fail with KITE_ECLOSED). Thread-safe. */
void kite_rpc_client_close_addr(kite_rpc_client *c, const char *addr);

#endif
