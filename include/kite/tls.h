/* kite/tls.h - TLS for libkite's connections (name servers and brokers), a member of
 * the producer, push-consumer and pull-consumer options (their `tls` field).
 *
 * With enable = 0 (the default after the *_opts_init calls) connections are plain. With
 * enable = 1 every connection of that client object is TLS 1.2 or newer; the files are
 * read when the client object is created (a file that cannot be loaded makes the create
 * call fail with KITE_EINVAL and a log line naming the file). A handshake that fails
 * (the server's certificate is not trusted, the server wants a client certificate, the
 * server is plain) fails the calls on that connection with KITE_ECLOSED and logs the
 * reason at WARN ("TLS handshake failed: certificate verify failed ...").
 * The strings are copied at create. */
#ifndef KITE_TLS_H
#define KITE_TLS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kite_tls_opts {
    int enable;               /* 1: connect with TLS; default 0 */
    int verify_server;        /* 1 (default): the server's certificate must chain to ca_file
                              * and name the address dialled (IP SAN for a.b.c.d); 0:
                              * encrypt without checking who answers (RocketMQ's
                              * tls.client.authServer=false) */
    const char *ca_file;      /* PEM CA certificates to trust; NULL = the system's */
    const char *cert_file;    /* PEM client certificate for servers that ask; NULL = none */
    const char *key_file;     /* its PEM private key */
    const char *key_password; /* for an encrypted key_file; NULL = none */
} kite_tls_opts;

#ifdef __cplusplus
}
#endif

#endif
