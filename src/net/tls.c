/* tls.c - TLS contexts (OpenSSL 3) and the TLS configuration keys (see tls.h).
 *
 * Certificates and keys are PEM files. A server context asks for a client certificate
 * when tls.server.need.client.auth is optional or require (require fails the handshake
 * without one); a presented certificate must chain to tls.server.trustCertPath. A client
 * context verifying the server also checks that the certificate names the address dialled
 * (IP SAN for a numeric address, DNS name otherwise: net/conn.c sets it per connection). */
#include "net/tls.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct kite_tls_ctx {
    SSL_CTX *ctx;
    atomic_int refs;
    int server, verify;
    kite_tls_mode mode;
    int64_t hs_timeout_ms;
    char *key_password;
};

void kite_tls_last_error(char *out, size_t outlen)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(out, outlen, "no OpenSSL error queued");
    } else {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        /* The reason part ("...:certificate verify failed") is the useful one. */
        const char *r = ERR_reason_error_string(e);
        snprintf(out, outlen, "%s", r ? r : buf);
    }
    ERR_clear_error();
}

static int empty(const char *s) { return !s || !*s; }

kite_tls_mode kite_tls_conf_mode(const kite_tls_conf *conf)
{
    const char *m = conf->server_mode;
    if (m && !strcasecmp(m, "permissive")) return KITE_TLS_PERMISSIVE;
    if (m && !strcasecmp(m, "enforcing")) return KITE_TLS_ENFORCING;
    return KITE_TLS_DISABLED;
}

int kite_tls_conf_settle(const kite_prop_def *defs, void *cfg, kite_tls_conf *conf, char *err,
                         size_t errlen)
{
    if (!empty(conf->config_file)) {
        kite_props p;
        kite_props_init(&p);
        char ferr[256];
        if (kite_props_load_file(&p, conf->config_file, ferr, sizeof ferr) != 0) {
            snprintf(err, errlen, "tls.config.file: cannot read %s: %s", conf->config_file, ferr);
            kite_props_free(&p);
            return KITE_EINVAL;
        }
        for (size_t i = 0; i < p.count; i++) {
            const char *k = p.keys[i];
            if (strncmp(k, "tls.", 4) != 0 || !strcmp(k, "tls.config.file")) {
                KLOG_WARN("config", "%s: key '%s' ignored (only tls.* keys are read there)",
                          conf->config_file, k);
                continue;
            }
            char kerr[256];
            int rc = kite_config_set(defs, cfg, k, p.values[i], kerr, sizeof kerr);
            if (rc < 0) {
                snprintf(err, errlen, "tls.config.file %s: %s", conf->config_file, kerr);
                kite_props_free(&p);
                return KITE_EINVAL;
            }
            if (rc == 1) KLOG_WARN("config", "%s: unknown key '%s' ignored", conf->config_file, k);
            if (rc == 2) KLOG_WARN("config", "%s: %s has no effect here", conf->config_file, k);
        }
        kite_props_free(&p);
    }
    /* The values in force are shown (-p) in lower case, however they were written. */
    for (char *c = conf->server_mode; c && *c; c++) *c = (char)tolower((unsigned char)*c);
    for (char *c = conf->server_client_auth; c && *c; c++) *c = (char)tolower((unsigned char)*c);
    const char *m = conf->server_mode ? conf->server_mode : "disabled";
    if (strcasecmp(m, "disabled") && strcasecmp(m, "permissive") && strcasecmp(m, "enforcing")) {
        snprintf(err, errlen, "tls.server.mode: '%s' is not one of disabled, permissive, enforcing",
                 m);
        return KITE_EINVAL;
    }
    const char *a = conf->server_client_auth ? conf->server_client_auth : "none";
    if (strcasecmp(a, "none") && strcasecmp(a, "optional") && strcasecmp(a, "require")) {
        snprintf(err, errlen,
                 "tls.server.need.client.auth: '%s' is not one of none, optional, require", a);
        return KITE_EINVAL;
    }
    if (conf->handshake_timeout_ms <= 0) {
        snprintf(err, errlen, "tls.server.handshakeTimeoutMillis: must be > 0");
        return KITE_EINVAL;
    }
    if (kite_tls_conf_mode(conf) != KITE_TLS_DISABLED) {
        if (empty(conf->server_cert_path) || empty(conf->server_key_path)) {
            snprintf(err, errlen,
                     "tls.server.mode=%s needs tls.server.certPath and tls.server.keyPath", m);
            return KITE_EINVAL;
        }
        if (strcasecmp(a, "none") && empty(conf->server_trust_path)) {
            snprintf(err, errlen, "tls.server.need.client.auth=%s needs tls.server.trustCertPath",
                     a);
            return KITE_EINVAL;
        }
    }
    if (conf->client_enable && conf->client_auth_server && empty(conf->client_trust_path)) {
        snprintf(err, errlen, "tls.client.authServer=true needs tls.client.trustCertPath");
        return KITE_EINVAL;
    }
    return 0;
}

static int pw_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pw = u;
    (void)rwflag;
    if (!pw) return 0;
    int n = (int)strlen(pw);
    if (n > size) n = size;
    memcpy(buf, pw, (size_t)n);
    return n;
}

static kite_tls_ctx *ctx_new(int server)
{
    SSL_CTX *sc = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!sc) return NULL;
    SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
    /* Writes of queued output may be retried from another address (conn.c keeps the
     * bytes in a staging buffer) and may finish record by record. */
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read the socket in large pieces rather than header and body of each record
     * separately; net/conn.c reads on while SSL_has_pending says bytes are buffered. */
    SSL_CTX_set_read_ahead(sc, 1);
    /* A peer that closes TCP without close_notify is a normal close here: remoting frames
     * carry their own lengths, so a truncated frame is still detected. */
    SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF);
    kite_tls_ctx *t = kite_xcalloc(1, sizeof *t);
    t->ctx = sc;
    t->server = server;
    atomic_init(&t->refs, 1);
    return t;
}

/* Loads a certificate chain and its key; on failure names key_name / cert_name and the
 * file in err. */
static int load_pair(kite_tls_ctx *t, const char *cert, const char *key, const char *pw,
                     const char *cert_name, const char *key_name, char *err, size_t errlen)
{
    char why[160];
    if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
        kite_tls_last_error(why, sizeof why);
        snprintf(err, errlen, "%s: cannot load certificate %s: %s", cert_name, cert, why);
        return KITE_EINVAL;
    }
    if (!empty(pw)) {
        t->key_password = kite_xstrdup(pw);
        SSL_CTX_set_default_passwd_cb(t->ctx, pw_cb);
        SSL_CTX_set_default_passwd_cb_userdata(t->ctx, t->key_password);
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
        kite_tls_last_error(why, sizeof why);
        snprintf(err, errlen, "%s: cannot load private key %s: %s", key_name, key, why);
        return KITE_EINVAL;
    }
    if (SSL_CTX_check_private_key(t->ctx) != 1) {
        kite_tls_last_error(why, sizeof why);
        snprintf(err, errlen, "%s: key %s does not match certificate %s: %s", key_name, key, cert,
                 why);
        return KITE_EINVAL;
    }
    return 0;
}

static int load_ca(kite_tls_ctx *t, const char *ca, const char *name, char *err, size_t errlen)
{
    if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1) {
        char why[160];
        kite_tls_last_error(why, sizeof why);
        snprintf(err, errlen, "%s: cannot load CA certificates %s: %s", name, ca, why);
        return KITE_EINVAL;
    }
    return 0;
}

kite_tls_ctx *kite_tls_server_new(const kite_tls_conf *conf, char *err, size_t errlen)
{
    kite_tls_ctx *t = ctx_new(1);
    if (!t) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    t->mode = kite_tls_conf_mode(conf);
    t->hs_timeout_ms = conf->handshake_timeout_ms > 0 ? conf->handshake_timeout_ms : 10000;
    if (load_pair(t, conf->server_cert_path, conf->server_key_path, conf->server_key_password,
                  "tls.server.certPath", "tls.server.keyPath", err, errlen) != 0)
        goto fail;
    const char *a = conf->server_client_auth ? conf->server_client_auth : "none";
    if (!empty(conf->server_trust_path)) {
        if (load_ca(t, conf->server_trust_path, "tls.server.trustCertPath", err, errlen) != 0)
            goto fail;
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(conf->server_trust_path);
        if (names) SSL_CTX_set_client_CA_list(t->ctx, names);
    }
    if (!strcasecmp(a, "require"))
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else if (!strcasecmp(a, "optional"))
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    else
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    t->verify = strcasecmp(a, "none") != 0;
    return t;
fail:
    kite_tls_ctx_free(t);
    return NULL;
}

typedef struct client_names {
    const char *ca, *cert, *key;
} client_names;

static kite_tls_ctx *client_new(const char *ca_file, const char *cert_file, const char *key_file,
                                const char *key_password, int verify, const client_names *nm,
                                char *err, size_t errlen)
{
    kite_tls_ctx *t = ctx_new(0);
    if (!t) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    t->verify = verify;
    if (!empty(cert_file) || !empty(key_file)) {
        if (empty(cert_file) || empty(key_file)) {
            snprintf(err, errlen, "a client certificate needs both %s and %s", nm->cert, nm->key);
            goto fail;
        }
        if (load_pair(t, cert_file, key_file, key_password, nm->cert, nm->key, err, errlen) != 0)
            goto fail;
    }
    if (verify) {
        if (!empty(ca_file)) {
            if (load_ca(t, ca_file, nm->ca, err, errlen) != 0) goto fail;
        } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
            snprintf(err, errlen, "cannot load the system's default CA certificates");
            goto fail;
        }
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    }
    return t;
fail:
    kite_tls_ctx_free(t);
    return NULL;
}

kite_tls_ctx *kite_tls_client_new(const char *ca_file, const char *cert_file, const char *key_file,
                                  const char *key_password, int verify, char *err, size_t errlen)
{
    static const client_names nm = { "CA file", "client certificate", "client key" };
    return client_new(ca_file, cert_file, key_file, key_password, verify, &nm, err, errlen);
}

kite_tls_ctx *kite_tls_client_from_conf(const kite_tls_conf *conf, char *err, size_t errlen)
{
    static const client_names nm = { "tls.client.trustCertPath", "tls.client.certPath",
                                     "tls.client.keyPath" };
    return client_new(conf->client_trust_path, conf->client_cert_path, conf->client_key_path,
                      conf->client_key_password, conf->client_auth_server, &nm, err, errlen);
}

void kite_tls_ctx_ref(kite_tls_ctx *t) { atomic_fetch_add(&t->refs, 1); }

void kite_tls_ctx_free(kite_tls_ctx *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
    SSL_CTX_free(t->ctx);
    free(t->key_password);
    free(t);
}

kite_tls_mode kite_tls_ctx_mode(const kite_tls_ctx *t) { return t->mode; }
int kite_tls_ctx_is_server(const kite_tls_ctx *t) { return t->server; }
int kite_tls_ctx_verify(const kite_tls_ctx *t) { return t->verify; }
int64_t kite_tls_ctx_handshake_timeout(const kite_tls_ctx *t) { return t->hs_timeout_ms; }
void *kite_tls_ctx_ssl_ctx(const kite_tls_ctx *t) { return t->ctx; }

void *kite_tls_ssl_new(kite_tls_ctx *t, int fd, const char *host)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl) return NULL;
    SSL_set_fd(ssl, fd);
    if (t->server) {
        SSL_set_accept_state(ssl);
        return ssl;
    }
    SSL_set_connect_state(ssl);
    if (host && *host) {
        struct in_addr ia;
        int numeric = inet_pton(AF_INET, host, &ia) == 1;
        if (!numeric) SSL_set_tlsext_host_name(ssl, host);
        if (t->verify) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
            if (numeric)
                X509_VERIFY_PARAM_set1_ip_asc(vp, host);
            else
                X509_VERIFY_PARAM_set1_host(vp, host, 0);
        }
    }
    return ssl;
}

void kite_tls_ssl_error(void *ssl, int err, char *out, size_t outlen)
{
    int sys = errno;
    char ossl[160];
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(ossl, sizeof ossl, "%s", sys ? strerror(sys) : "connection closed by the peer");
        ERR_clear_error();
    } else if (err == SSL_ERROR_ZERO_RETURN) {
        snprintf(ossl, sizeof ossl, "connection closed by the peer");
        ERR_clear_error();
    } else {
        kite_tls_last_error(ossl, sizeof ossl);
    }
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (vr != X509_V_OK)
        snprintf(out, outlen, "%s (certificate: %s)", ossl, X509_verify_cert_error_string(vr));
    else
        snprintf(out, outlen, "%s", ossl);
}
