/* pending.h - table of requests in flight, matched to responses by (connection,
 * opaque), each with a timeout timer. Used by the RPC client and by the server when
 * it calls its clients (check-back, consumer-ids-changed with answers).
 * Owns: the entries and their timers. Every call runs on the owning loop's thread;
 * callbacks fire there too, exactly once per entry: with the response, on timeout,
 * or when the connection closes / the table is freed. */
#ifndef KITE_RPC_PENDING_H
#define KITE_RPC_PENDING_H

#include "net/ev.h"
#include "proto/cmd.h"
#include <stdint.h>

/* status: KITE_OK with resp, or KITE_ETIMEDOUT / KITE_ECLOSED with resp NULL. resp is
 * valid during the callback; to keep it, move it out (copy the struct, then
 * kite_cmd_init() the original). */
typedef void (*kite_rpc_cb)(int status, kite_cmd *resp, void *arg);

typedef struct kite_rpc_pending kite_rpc_pending;

kite_rpc_pending *kite_rpc_pending_new(kite_ev *ev);
void kite_rpc_pending_free(kite_rpc_pending *p); /* fails what is left with KITE_ECLOSED */
/* A process-wide unique, non-negative opaque for a new request. */
int32_t kite_rpc_next_opaque(void);
void kite_rpc_pending_add(kite_rpc_pending *p, uint64_t conn_id, int32_t opaque, int64_t timeout_ms,
                          kite_rpc_cb cb, void *arg);
/* Delivers a response; returns 1 when it matched an entry (resp consumed), else 0. */
int kite_rpc_pending_complete(kite_rpc_pending *p, uint64_t conn_id, kite_cmd *resp);
/* Fails every entry of a connection with status. */
void kite_rpc_pending_fail_conn(kite_rpc_pending *p, uint64_t conn_id, int status);
size_t kite_rpc_pending_count(const kite_rpc_pending *p);

#endif
