/* tls.h - TLS contexts (OpenSSL 3) for the connection layer: the server side
 * (tls.server.* keys: mode disabled / permissive / enforcing, certificate, key, trusted
 * CAs, client-certificate policy) and the client side (trusted CAs, optional client
 * certificate, whether the server is verified). docs/wire.md §15 has the facts.
 *
 * Owns: the SSL_CTX of each context, and the parsing of the TLS configuration keys into
 * kite_tls_conf (shared by kite-broker and kite-namesrv, and the tls.config.file reader).
 * Not owned: per-connection SSL state (net/conn.c drives the handshake and the records).
 * Threads: a context is immutable once built and may be shared by any number of
 * connections and threads. */
#ifndef KITE_NET_TLS_H
#define KITE_NET_TLS_H

#include "base/props.h"
#include <stddef.h>

typedef enum { KITE_TLS_DISABLED = 0, KITE_TLS_PERMISSIVE, KITE_TLS_ENFORCING } kite_tls_mode;

typedef struct kite_tls_ctx kite_tls_ctx;

/* The TLS keys of a daemon's configuration (tls.* names, RocketMQ's). STR fields are owned. */
typedef struct kite_tls_conf {
    char *server_mode;            /* tls.server.mode: disabled | permissive | enforcing */
    char *server_cert_path;       /* tls.server.certPath: PEM certificate chain */
    char *server_key_path;        /* tls.server.keyPath: PEM private key (PKCS#8 or traditional) */
    char *server_key_password;    /* tls.server.keyPassword: for an encrypted key */
    char *server_trust_path;      /* tls.server.trustCertPath: PEM CAs for client certificates */
    char *server_client_auth;     /* tls.server.need.client.auth: none | optional | require */
    int64_t handshake_timeout_ms; /* tls.server.handshakeTimeoutMillis (KiteMQ) */
    int client_enable;            /* tls.enable: outgoing connections use TLS */
    int client_auth_server;       /* tls.client.authServer: verify the server's certificate */
    char *client_cert_path;       /* tls.client.certPath */
    char *client_key_path;        /* tls.client.keyPath */
    char *client_key_password;    /* tls.client.keyPassword */
    char *client_trust_path;      /* tls.client.trustCertPath */
    char *config_file;            /* tls.config.file: a properties file with the keys above */
} kite_tls_conf;

/* Property-table entries for the TLS keys, with offsets into a struct holding a
 * kite_tls_conf at member `m` (offsetof(T, m.field)). SERVER: the keys every server
 * has; CLIENT: the keys of a daemon that also connects out (the broker). */
#define KITE_TLS_SERVER_PROPS(T, m)                                                                \
    { "tls.server.mode", KITE_PROP_STR, offsetof(T, m.server_mode), "disabled",                    \
      "disabled, permissive (TLS and plain on one port) or enforcing (TLS only)" },                \
        { "tls.server.certPath", KITE_PROP_STR, offsetof(T, m.server_cert_path), NULL,             \
          "server certificate chain (PEM)" },                                                      \
        { "tls.server.keyPath", KITE_PROP_STR, offsetof(T, m.server_key_path), NULL,               \
          "server private key (PEM)" },                                                            \
        { "tls.server.keyPassword", KITE_PROP_STR, offsetof(T, m.server_key_password), NULL,       \
          "password of an encrypted server key" },                                                 \
        { "tls.server.trustCertPath", KITE_PROP_STR, offsetof(T, m.server_trust_path), NULL,       \
          "CA certificates (PEM) that client certificates must chain to" },                        \
        { "tls.server.need.client.auth", KITE_PROP_STR, offsetof(T, m.server_client_auth), "none", \
          "none, optional or require a client certificate" },                                      \
        { "tls.server.handshakeTimeoutMillis", KITE_PROP_LONG,                                     \
          offsetof(T, m.handshake_timeout_ms), "10000",                                            \
          "close a connection whose TLS handshake is not done by then (KiteMQ)" },                 \
        { "tls.config.file", KITE_PROP_STR, offsetof(T, m.config_file), NULL,                      \
          "properties file with tls.* keys; its values win over this file's" },                    \
        KITE_PROP_REFUSE("tls.test.mode.enable", "false",                                          \
                         "no self-signed test certificates: give tls.server.certPath/keyPath"),    \
        KITE_PROP_IGNORE("tls.server.authClient",                                                  \
                         "client certificates are always verified against "                        \
                         "tls.server.trustCertPath")
#define KITE_TLS_CLIENT_PROPS(T, m)                                                            \
    { "tls.enable", KITE_PROP_BOOL, offsetof(T, m.client_enable), "false",                     \
      "connect to name servers (and other brokers) with TLS" },                                \
        { "tls.client.authServer", KITE_PROP_BOOL, offsetof(T, m.client_auth_server), "false", \
          "verify the server's certificate against tls.client.trustCertPath" },                \
        { "tls.client.certPath", KITE_PROP_STR, offsetof(T, m.client_cert_path), NULL,         \
          "client certificate chain (PEM) shown to servers that ask" },                        \
        { "tls.client.keyPath", KITE_PROP_STR, offsetof(T, m.client_key_path), NULL,           \
          "client private key (PEM)" },                                                        \
        { "tls.client.keyPassword", KITE_PROP_STR, offsetof(T, m.client_key_password), NULL,   \
          "password of an encrypted client key" },                                             \
    {                                                                                          \
        "tls.client.trustCertPath", KITE_PROP_STR, offsetof(T, m.client_trust_path), NULL,     \
            "CA certificates (PEM) the server's certificate must chain to"                     \
    }

/* Reads tls.config.file (when set) into conf through defs (the daemon's table, whose
 * TLS entries point into the same struct as cfg), then checks the values. 0, or
 * KITE_EINVAL with a message naming the key and the file. */
int kite_tls_conf_settle(const kite_prop_def *defs, void *cfg, kite_tls_conf *conf, char *err,
                         size_t errlen);
/* The server mode of a settled conf. */
kite_tls_mode kite_tls_conf_mode(const kite_tls_conf *conf);

/* Server context from a settled conf (mode must not be disabled). NULL with a message
 * naming the key and the file on a bad certificate, key or CA file. */
kite_tls_ctx *kite_tls_server_new(const kite_tls_conf *conf, char *err, size_t errlen);
/* Client context. ca_file NULL with verify: the system's default CAs. cert/key NULL:
 * no client certificate. verify 0: the server's certificate is not checked. */
kite_tls_ctx *kite_tls_client_new(const char *ca_file, const char *cert_file, const char *key_file,
                                  const char *key_password, int verify, char *err, size_t errlen);
/* Client context from a settled conf's tls.client.* keys (tls.enable must be true). */
kite_tls_ctx *kite_tls_client_from_conf(const kite_tls_conf *conf, char *err, size_t errlen);
void kite_tls_ctx_free(kite_tls_ctx *t);
void kite_tls_ctx_ref(kite_tls_ctx *t);

/* A new SSL (an SSL*, as void*) on socket fd for context t: accept state for a server
 * context; connect state for a client one, with host (NULL or "": none) sent as SNI when
 * it is a name and, when the context verifies, checked against the certificate (IP
 * subjectAltName for a.b.c.d, DNS name otherwise). NULL when OpenSSL cannot allocate it.
 * Used by net/conn.c and by the replication port (repl/ha_tls.c). */
void *kite_tls_ssl_new(kite_tls_ctx *t, int fd, const char *host);
/* Why an operation on ssl failed, SSL_get_error having said err: "connection closed by
 * the peer", the system error for SSL_ERROR_SYSCALL, else the oldest OpenSSL reason, with
 * " (certificate: <why>)" when the peer's certificate failed verification. Clears the
 * thread's OpenSSL error queue. */
void kite_tls_ssl_error(void *ssl, int err, char *out, size_t outlen);

/* For net/conn.c. */
kite_tls_mode kite_tls_ctx_mode(const kite_tls_ctx *t);
int kite_tls_ctx_is_server(const kite_tls_ctx *t);
int kite_tls_ctx_verify(const kite_tls_ctx *t);
int64_t kite_tls_ctx_handshake_timeout(const kite_tls_ctx *t);
void *kite_tls_ctx_ssl_ctx(const kite_tls_ctx *t); /* SSL_CTX* */
/* The text of the oldest queued OpenSSL error (and clears the queue). */
void kite_tls_last_error(char *out, size_t outlen);

#endif
