/* msgid.h - client unique message ids (UNIQ_KEY, docs/wire.md §9.6) and parsing of
 * offset message ids (§9.5).
 *
 * Owns: the id generator state of one producer. UNIQ_KEY layout, 16 bytes written as
 * 32 upper-case hex characters:
 *   | 4 client IPv4 | 2 pid (low 16 bits) | 4 per-generator random value |
 *   | 4 ms since the 1st of the current month, 00:00 local time | 2 counter (wraps) |
 * The random value stands in for Java's class-loader hash: it separates producers of
 * one process, each with its own counter (no process-global state).
 * Threads: kite_uniq_next is safe from any thread (atomics). */
#ifndef KITE_CLIENT_MSGID_H
#define KITE_CLIENT_MSGID_H

#include <stdatomic.h>
#include <stdint.h>

#define KITE_UNIQ_LEN 32

typedef struct kite_uniq_gen {
    uint8_t prefix[10]; /* ip, pid, random */
    atomic_uint counter;
    _Atomic int64_t month_start_ms; /* wall ms of the 1st of this month, local time */
    _Atomic int64_t month_end_ms;   /* ... of the next month */
} kite_uniq_gen;

void kite_uniq_init(kite_uniq_gen *g);
/* Writes 32 hex characters and a NUL into out. */
void kite_uniq_next(kite_uniq_gen *g, char out[KITE_UNIQ_LEN + 1]);
/* First non-loopback IPv4 address of this host (network order bytes), 127.0.0.1 when none. */
void kite_local_ipv4(uint8_t out[4]);

#endif
