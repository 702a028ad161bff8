/* ha.h - commit-log replication between the brokers of one group, with RocketMQ 4.x's
 * classic HA byte protocol: the master's service that ships its commit log to slaves
 * (ha_master.c) and the slave's client that appends it to its replica store (ha_slave.c).
 *
 * Wire (TCP, big-endian, no handshake): the slave sends 8-byte offsets - the first is
 * where the master must start, every later one acknowledges the bytes the slave holds; the
 * master sends frames [8-byte offset][4-byte size][size bytes copied from its commit log],
 * size 0 being a heartbeat. docs/wire.md §13 has the details and what KiteMQ checks on top
 * (where an empty slave starts, divergence, acknowledgements beyond the bytes sent). KiteMQ
 * peers may add a shared-key handshake (§13.5) and may run all of it inside TLS (§15.5).
 * Owns: the sockets and threads of replication. Does not own: the bytes' meaning (the
 * store: kite_store_read_raw / kite_store_append_raw), roles and configuration (broker).
 * Threads: each service runs one thread of its own, kite-hamaster or kite-haslave, with
 * its own poll loop; the broker's event loop is never involved and never waits for them.
 * Every call below is thread-safe. */
#ifndef KITE_REPL_HA_H
#define KITE_REPL_HA_H

#include "store/store.h"
#include <stddef.h>
#include <stdint.h>

typedef struct kite_ha_opts {
    int64_t heartbeat_ms;    /* haSendHeartbeatInterval: heartbeats and offset reports */
    int64_t housekeeping_ms; /* haHousekeepingInterval: a silent peer is dropped after it */
    int32_t batch_bytes;     /* haTransferBatchSize: the largest frame a master sends */
    int64_t
        fallbehind_max;   /* haSlaveFallbehindMax: SYNC_MASTER waits only for a slave this close */
    const char *auth_key; /* shared key (haAuthKeyFile's content): both ends then run the
                                * KiteMQ handshake (wire.md §13.5) and refuse peers that do not;
                                * NULL or "" = the classic protocol, no peer identity. Copied. */
    /* TLS (KiteMQ, wire.md §15.5). Master: tls is a server context and tls_mode the HA
     * port's mode (KITE_TLS_DISABLED: the classic plain protocol, tls unused; PERMISSIVE:
     * TLS and plain slaves, told apart by their first byte; ENFORCING: TLS only). Slave:
     * tls is a client context (NULL: plain); whether it verifies decides whether the
     * master's certificate must chain to the trusted CAs and name the address dialled.
     * The service holds its own reference. tls_handshake_ms bounds a handshake (both). */
    struct kite_tls_ctx *tls;
    int tls_mode;
    int64_t tls_handshake_ms;
    /* Slave: called once, on the slave's thread, when this slave's log ends before the
     * oldest offset the master retains (the bytes between were deleted on the master):
     * replication has stopped (logged with both offsets) and the owner is expected to
     * close the store, set its files aside (kite_store_set_aside) and start again with an
     * empty store, which copies from master_oldest. NULL = such a slave stops as a
     * diverged one does. Must be quick and must not call kite_ha_slave_stop. */
    void (*on_behind)(void *arg, int64_t slave_end, int64_t master_oldest);
    void *on_behind_arg;
} kite_ha_opts;

/* ---- master (ha_master.c) ---- */

typedef struct kite_ha_master kite_ha_master;

/* Listens on bind_host:port and starts the service thread; it also becomes the store's
 * append hook, so new records are shipped as soon as they are written. Returns KITE_OK with
 * *out set, or a status with err (the port cannot be bound: kite_sock_listen's status; the
 * eventfd or the thread cannot be created) and *out NULL. */
int kite_ha_master_start(kite_store *s, const char *bind_host, int port, const kite_ha_opts *o,
                         kite_ha_master **out, char *err, size_t errlen);
/* Removes the hook, closes every connection and the listener, joins the thread, frees. */
void kite_ha_master_stop(kite_ha_master *m);

/* SYNC_MASTER: calls cb(arg, status) once the bytes [start, end) of the commit log are
 * acknowledged by a slave that was sent all of them on its current connection (an
 * acknowledgement counts only bytes shipped on that connection), or after timeout_ms
 * (slaveTimeout) with KITE_HA_TIMEOUT. At once, on the calling thread, with
 * KITE_HA_NO_SLAVE when no slave is connected or the closest is fallbehind_max or more
 * behind end, and with KITE_HA_ACKED when a slave already holds them. Otherwise cb runs on
 * the service thread. Any thread; cb must be quick. */
typedef enum { KITE_HA_ACKED = 0, KITE_HA_TIMEOUT, KITE_HA_NO_SLAVE } kite_ha_wait_status;
typedef void (*kite_ha_wait_cb)(void *arg, kite_ha_wait_status st);
void kite_ha_master_wait(kite_ha_master *m, int64_t start, int64_t end, int64_t timeout_ms,
                         kite_ha_wait_cb cb, void *arg);

typedef struct kite_ha_master_stats {
    int slaves;    /* connections that asked for an offset and were accepted */
    int64_t acked; /* largest offset a slave acknowledged (never past what it was sent) */
    int64_t sent;  /* largest offset shipped to a slave */
} kite_ha_master_stats;
void kite_ha_master_get_stats(kite_ha_master *m, kite_ha_master_stats *out);

/* ---- slave (ha_slave.c) ---- */

typedef struct kite_ha_slave kite_ha_slave;

/* Starts the client thread for replica store s. fixed_master ("ip:port", haMasterAddress)
 * pins the master's HA address; NULL or "" waits for kite_ha_slave_set_master. Returns
 * KITE_OK with *out set, or a status with err (the eventfd or the thread cannot be
 * created) and *out NULL. */
int kite_ha_slave_start(kite_store *s, const char *fixed_master, const kite_ha_opts *o,
                        kite_ha_slave **out, char *err, size_t errlen);
/* The master's HA address as the name server reported it (ignored when pinned; an empty
 * address changes nothing). A new address ends the current connection. */
void kite_ha_slave_set_master(kite_ha_slave *h, const char *addr);
void kite_ha_slave_stop(kite_ha_slave *h);

typedef struct kite_ha_slave_stats {
    int connected;
    int diverged;          /* replication stopped: this log is not the master's (logged) */
    int behind;            /* replication stopped: this log ends before the master's oldest
                            * retained offset (logged, on_behind called) */
    int64_t raw_end;       /* bytes held (kite_store_raw_end) */
    int64_t master_offset; /* end of the master's last frame (or its heartbeat's offset) */
    char master[64];       /* the master's HA address in use ("" when unknown) */
} kite_ha_slave_stats;
void kite_ha_slave_get_stats(kite_ha_slave *h, kite_ha_slave_stats *out);

#endif
