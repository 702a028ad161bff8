/* ha_tls.c - TLS records on a replication connection (ha_tls.h): SSL objects, handshake steps,
 * reads and writes over a non-blocking socket, failure texts. Writes run in OpenSSL's
 * partial-write mode (net/tls.c sets it on every context): SSL_write returns as soon as whole
 * records have gone to the socket, so the count it returns is exactly what left this process. */
#include "repl/ha_tls.h"
#include "base/err.h"
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define READ_AHEAD (256 * 1024) /* slave: ciphertext taken from the socket per read() */

const uint8_t kite_ha_tls_alert[KITE_HA_TLS_ALERT_LEN] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40 };

SSL *kite_ha_tls_new(kite_tls_ctx *t, int fd, const char *host)
{
    SSL *ssl = kite_tls_ssl_new(t, fd, host);
    if (!ssl) return NULL;
    SSL_set_options(ssl, SSL_OP_NO_RENEGOTIATION);
    /* The slave reads the log: with read-ahead (net/tls.c) a large buffer takes many
     * records per read() instead of one. */
    if (!kite_tls_ctx_is_server(t)) SSL_set_default_read_buffer_len(ssl, READ_AHEAD);
    return ssl;
}

void kite_ha_tls_free(SSL *ssl, int notify)
{
    if (!ssl) return;
    if (notify) {
        ERR_clear_error();
        SSL_shutdown(ssl); /* best effort on a non-blocking socket: never waits */
    }
    ERR_clear_error();
    SSL_free(ssl);
}

/* After a failed call that returned r: 0 with *want_write set for "again", or the status
 * with why. */
static int failed(SSL *ssl, int r, int *want_write, char *why, size_t whylen)
{
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want_write = e == SSL_ERROR_WANT_WRITE;
        ERR_clear_error();
        return 0;
    }
    kite_tls_ssl_error(ssl, e, why, whylen);
    if (e == SSL_ERROR_ZERO_RETURN ||
        (e == SSL_ERROR_SYSCALL && !strcmp(why, "connection closed by the peer")))
        return KITE_ECLOSED;
    return KITE_EPROTO;
}

int kite_ha_tls_handshake(SSL *ssl, int *want_write, char *why, size_t whylen)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(ssl);
    *want_write = 0;
    if (r == 1) return 1;
    int rc = failed(ssl, r, want_write, why, whylen);
    return rc == KITE_ECLOSED ? KITE_EPROTO : rc; /* a handshake cut short is a failure */
}

ssize_t kite_ha_tls_read(SSL *ssl, void *buf, size_t n, int *want_write, char *why, size_t whylen)
{
    ERR_clear_error();
    errno = 0;
    *want_write = 0;
    int r = SSL_read(ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0) return r;
    return failed(ssl, r, want_write, why, whylen);
}

ssize_t kite_ha_tls_write(SSL *ssl, const void *buf, size_t n, int *want_write, char *why,
                          size_t whylen)
{
    ERR_clear_error();
    errno = 0;
    *want_write = 0;
    int r = SSL_write(ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0) return r;
    return failed(ssl, r, want_write, why, whylen);
}

int kite_ha_tls_pending(SSL *ssl) { return ssl && SSL_pending(ssl) > 0; }

void kite_ha_tls_describe(SSL *ssl, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

int kite_ha_tls_is_record(const uint8_t *b, size_t n)
{
    return n >= 3 && b[0] >= 20 && b[0] <= 23 && b[1] == 3 && b[2] <= 4;
}
