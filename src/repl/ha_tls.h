/* ha_tls.h - TLS on the replication (HA) port, private to src/repl/ (KiteMQ only: RocketMQ's
 * HA protocol has no TLS; docs/wire.md §15.5). The classic byte protocol runs unchanged inside
 * the TLS records.
 *
 * Owns: the per-connection SSL object over a connection's non-blocking socket, reads and
 * writes that say "would block" and in which direction OpenSSL waits, the handshake step,
 * the text of a failure for the logs, and the two first-byte facts the master and the slave
 * rely on (a TLS connection opens with record type 0x16; a plain peer of a TLS endpoint sees
 * a TLS record header where a frame or a report should be). Not owned: contexts (net/tls.h;
 * the broker builds them from tls.server.* and tls.client.*).
 * Threads: each call works on one connection from the thread that owns it (OpenSSL's error
 * queue is per thread). */
#ifndef KITE_REPL_HA_TLS_H
#define KITE_REPL_HA_TLS_H

#include "net/tls.h"
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KITE_HA_TLS_HELLO 0x16 /* record type "handshake": the first byte of a ClientHello */

/* A new SSL on fd: server side for a server context; client side for a client context,
 * host (the master's IP or name) checked against its certificate when the context
 * verifies. Renegotiation is refused. NULL when OpenSSL cannot allocate it. */
SSL *kite_ha_tls_new(kite_tls_ctx *t, int fd, const char *host);
/* Closes the TLS session: a close_notify is attempted when notify (the session is
 * established and healthy), without waiting; then frees it. NULL is ignored. */
void kite_ha_tls_free(SSL *ssl, int notify);

/* One handshake step. 1 done; 0 not yet: wait until the socket is readable, and also
 * writable when *want_write; or a negative status (KITE_EPROTO) with the reason in why. */
int kite_ha_tls_handshake(SSL *ssl, int *want_write, char *why, size_t whylen);
/* Up to n bytes of plaintext (one record at most). >0 bytes; 0 none now (wait as for the
 * handshake, *want_write); KITE_ECLOSED when the peer closed; KITE_EPROTO with why. */
ssize_t kite_ha_tls_read(SSL *ssl, void *buf, size_t n, int *want_write, char *why, size_t whylen);
/* Writes up to n bytes. >0: that many bytes were encrypted and their records handed to
 * the socket whole (bytes still inside OpenSSL are never counted); 0: the socket is full,
 * call again with the same bytes (*want_write); KITE_ECLOSED / KITE_EPROTO with why. */
ssize_t kite_ha_tls_write(SSL *ssl, const void *buf, size_t n, int *want_write, char *why,
                          size_t whylen);
/* 1 when decrypted bytes of the current record wait inside OpenSSL (SSL_pending: poll would
 * not announce them). Records read ahead but not yet decrypted are not counted: a reader
 * that stops before kite_ha_tls_read said "none now" must read again without polling.
 * (SSL_has_pending is not used: it is also true for a partial record, which needs the
 * socket, and would turn the wait into a spin.) */
int kite_ha_tls_pending(SSL *ssl);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" into out. */
void kite_ha_tls_describe(SSL *ssl, char *out, size_t outlen);

/* The record a master whose HA port is enforcing writes to a plain peer before closing: a
 * fatal handshake_failure alert (content type 21, TLS 1.2 record version, 2 bytes). */
#define KITE_HA_TLS_ALERT_LEN 7
extern const uint8_t kite_ha_tls_alert[KITE_HA_TLS_ALERT_LEN];
/* 1 when the first n bytes of b (n >= 3) are a TLS record header: content type 20..23,
 * then major version 3 and a minor version up to 4. Read as the start of a classic frame
 * (an offset) or report, such bytes mean an offset of at least 0x1403 << 48, far beyond
 * any commit log. */
int kite_ha_tls_is_record(const uint8_t *b, size_t n);

#endif
