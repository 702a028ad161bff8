/* it_repl_tls.c - replication over TLS (haTlsMode on the master, haTlsEnable on the slave;
 * docs/wire.md §15.5) between real processes on loopback. Certificates are made here with
 * the openssl command: a CA, a server certificate naming the master's address (IP SAN), a
 * client certificate from the CA, and a second CA with a client certificate of its own.
 * Scenarios, each refusal with its control:
 *  - a SYNC_MASTER (enforcing, haAuthKeyFile) and a TLS slave (same key) under load from
 *    kite-bench: every send SEND_OK, the slave's commit log byte-identical to the master's;
 *    the link runs through a relay in this process that records the master's bytes: a
 *    distinctive message body is not among them. Control: the same with both ends plain,
 *    where the relay does see the body;
 *  - a TLS slave against a plain master, a plain slave against an enforcing master: refused,
 *    with a line naming the cause on both sides; control: a permissive master serves a plain
 *    and a TLS slave at once (also when all hold a key: the plain keyed slave waits for the
 *    challenge);
 *  - a slave trusting another CA, and one reaching the master at an address its certificate
 *    does not name, are refused; control: the right CA at the right address;
 *  - tls.server.need.client.auth=require: a slave without a client certificate and one with
 *    a certificate from another CA are refused; control: a certificate from the trusted CA;
 *  - configuration: bad haTlsMode values and missing certificates stop the start naming the
 *    key; -p prints the keys; a key without effect in the broker's role is warned about. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"
#include "base/mem.h"
#include "net/sock.h"
#include "net/tls.h"
#include <openssl/ssl.h>
#include <sys/time.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

static char g_dir[512];                     /* certificates */
static char g_m_host[32], g_other_host[32]; /* the master's address (in its certificate), another */

#define MARKER "KITE-HA-TLS-MARKER-7f3a9c-the-bytes-of-this-body-must-not-be-readable"

/* kt_make_certs with the master's host (only) in the server certificate. 0 or -1. */
static int make_certs(void)
{
    char san[48];
    snprintf(san, sizeof san, "IP:%s", g_m_host);
    return kt_make_certs(g_dir, san);
}

/* ---- a relay for the HA link, recording what the master sends ------------------------ */

typedef struct relay {
    int lfd, port;
    char host[32], to[64];
    pthread_t thr;
    atomic_int stop;
    pthread_mutex_t mu;
    uint8_t *rec; /* master -> slave bytes, all connections */
    size_t len, cap;
    long conns;
} relay;

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *relay_thread(void *arg)
{
    relay *r = arg;
    int down = -1, up = -1; /* the slave's connection, ours to the master */
    static uint8_t buf[1 << 16];
    while (!atomic_load(&r->stop)) {
        struct pollfd p[3] = { { r->lfd, POLLIN, 0 }, { down, POLLIN, 0 }, { up, POLLIN, 0 } };
        if (poll(p, 3, 100) <= 0) continue;
        if (p[0].revents) { /* a (re)connecting slave replaces the pair */
            int fd = accept(r->lfd, NULL, NULL);
            if (fd < 0) continue;
            if (down >= 0) close(down);
            if (up >= 0) close(up);
            kite_sock_nodelay(fd); /* no Nagle delay added to frames or reports */
            down = fd;
            char host[64];
            snprintf(host, sizeof host, "%s", r->to);
            char *colon = strchr(host, ':');
            *colon = 0;
            up = kt_connect(host, atoi(colon + 1));
            if (up >= 0) kite_sock_nodelay(up);
            if (up < 0) {
                close(down);
                down = -1;
            }
            pthread_mutex_lock(&r->mu);
            r->conns++;
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        for (int side = 1; side <= 2; side++) {
            if (!p[side].revents || down < 0) continue;
            int from = side == 1 ? down : up, to = side == 1 ? up : down;
            ssize_t n = read(from, buf, sizeof buf);
            if (n <= 0 || send_all(to, buf, (size_t)n) != 0) {
                close(down);
                close(up);
                down = up = -1;
                break;
            }
            if (side == 2) {
                pthread_mutex_lock(&r->mu);
                if (r->len + (size_t)n <= (512u << 20)) {
                    r->rec = kite_xgrow(r->rec, &r->cap, r->len + (size_t)n, 1, 1 << 20);
                    memcpy(r->rec + r->len, buf, (size_t)n);
                    r->len += (size_t)n;
                }
                pthread_mutex_unlock(&r->mu);
            }
        }
    }
    if (down >= 0) close(down);
    if (up >= 0) close(up);
    return NULL;
}

/* A relay listening on host (a free port) for the master's HA address to. */
static relay *relay_start(const char *host, const char *to)
{
    relay *r = kite_xcalloc(1, sizeof *r);
    snprintf(r->host, sizeof r->host, "%s", host);
    snprintf(r->to, sizeof r->to, "%s", to);
    pthread_mutex_init(&r->mu, NULL);
    char addr[64], err[128];
    r->port = kt_free_port(host);
    snprintf(addr, sizeof addr, "%s:%d", host, r->port);
    r->lfd = kite_sock_listen(host, r->port, NULL, err, sizeof err);
    if (r->lfd < 0) fail_msg("relay on %s: %s", addr, err);
    int fl = fcntl(r->lfd, F_GETFL);
    fcntl(r->lfd, F_SETFL, fl & ~O_NONBLOCK);
    assert_int_equal(pthread_create(&r->thr, NULL, relay_thread, r), 0);
    return r;
}

static void relay_stop(relay *r)
{
    atomic_store(&r->stop, 1);
    pthread_join(r->thr, NULL);
    close(r->lfd);
    pthread_mutex_destroy(&r->mu);
    free(r->rec);
    free(r);
}

/* Bytes the master sent through r; 1 in *found when they contain MARKER. */
static size_t relay_seen(relay *r, int *found)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->len;
    *found = n && memmem(r->rec, n, MARKER, strlen(MARKER)) != NULL;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ---- fixture --------------------------------------------------------------------------- */

static const char *path(const char *name)
{
    static char buf[8][700];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 700, "%s/%s", g_dir, name);
    return p;
}

/* Waits until d's log has at least n lines containing needle. */
static void wait_lines(const kt_daemon *d, const char *needle, int n)
{
    long long t0 = kt_now_ms();
    while (kb_count_lines(d->log, needle) < n && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(50000);
    if (kb_count_lines(d->log, needle) < n) {
        fprintf(stderr, "fewer than %d lines with \"%s\" in %s\n", n, needle, d->log);
        bk_dump_log(d);
    }
    assert_true(kb_count_lines(d->log, needle) >= n);
}

static void wait_log(const kt_daemon *d, const char *needle) { wait_lines(d, needle, 1); }

/* A SYNC_MASTER's config: haTlsMode (NULL: not set), the server certificate, extra. */
static void master_conf(char *conf, size_t cap, const char *mode, const char *extra)
{
    snprintf(conf, cap,
             "brokerRole=SYNC_MASTER\nslaveTimeout=%d\n%s%s%s"
             "tls.server.certPath=%s\ntls.server.keyPath=%s\n%s",
             KT_DEADLINE_MS, mode ? "haTlsMode=" : "", mode ? mode : "", mode ? "\n" : "",
             path("server.pem"), path("server.key"), extra ? extra : "");
}

/* A master on g_m_host: haTlsMode mode (NULL: not set), server certificate, extra. */
static kt_daemon *start_master(const kt_daemon *ns, int *ha, const char *mode, const char *extra)
{
    kt_daemon *d = bk_slot(1);
    snprintf(d->host, sizeof d->host, "%s", g_m_host);
    char conf[1800];
    master_conf(conf, sizeof conf, mode, extra);
    rp_launch_master(d, ns, ha, conf);
    return d;
}

/* Restarts master d (same store and ports) with another haTlsMode / extra. */
static void relaunch_master(kt_daemon *d, const kt_daemon *ns, int *ha, const char *mode,
                            const char *extra)
{
    bk_stop_clean(d);
    char conf[1800];
    master_conf(conf, sizeof conf, mode, extra);
    rp_launch_master(d, ns, ha, conf);
}

/* The master's HA address (its certificate's host) in addr; a connection to its client
 * port, on which topic is created. */
static int open_master(const kt_daemon *m, int ha, const char *topic, char addr[64])
{
    snprintf(addr, 64, "%s:%d", g_m_host, ha);
    int fd = bk_conn(m);
    rp_create_topic(fd, topic);
    return fd;
}

/* Slave lines: following the master at addr (host:port) over TLS trusting ca (NULL: plain),
 * with a client certificate cert/key (NULL: none), extra lines appended. */
static const char *slave_conf(const char *addr, const char *ca, const char *cert, const char *extra)
{
    static char buf[4][1800];
    static int i;
    char *p = buf[i++ % 4];
    int n = snprintf(p, 1800, "haMasterAddress=%s\n", addr);
    if (ca)
        n += snprintf(p + n, 1800 - (size_t)n, "haTlsEnable=true\ntls.client.trustCertPath=%s\n",
                      path(ca));
    if (cert) {
        char key[64];
        snprintf(key, sizeof key, "%.*s.key", (int)(strlen(cert) - 4), cert);
        n += snprintf(p + n, 1800 - (size_t)n, "tls.client.certPath=%s\ntls.client.keyPath=%s\n",
                      path(cert), path(key));
    }
    snprintf(p + n, 1800 - (size_t)n, "%s", extra ? extra : "");
    return p;
}

static int send_code(int fd, const char *topic, const char *body)
{
    int64_t phys;
    return rp_send_one(fd, topic, body, &phys);
}

/* Sends until one is answered SEND_OK (a slave attached): KT_DEADLINE_MS. */
static void await_send_ok(int fd, const char *topic)
{
    int64_t phys;
    rp_await_slave(fd, topic, &phys);
}

static void assert_identical(const kt_daemon *m, const kt_daemon *s)
{
    int64_t end = rp_wait_caught_up(m, s);
    assert_true(end > 0);
    char md[700], sd[700];
    rp_cl_dir(m, md, sizeof md);
    rp_cl_dir(s, sd, sizeof sd);
    assert_int_equal(rp_first_diff(md, sd, 0, end), -1);
}

/* kite-bench's closing JSON: asserts exit 0, no failed send and every send SEND_OK. */
static long bench_all_ok(FILE *p)
{
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') snprintf(last, sizeof last, "%s", line);
    int st = pclose(p);
    fprintf(stderr, "kite-bench: %s", last);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *f = strstr(last, "\"failed\":"), *n = strstr(last, "\"stored_not_ok\":"),
               *s = strstr(last, "\"sent\":");
    assert_non_null(f);
    assert_non_null(n);
    assert_non_null(s);
    assert_int_equal(strtol(f + 9, NULL, 10), 0);
    assert_int_equal(strtol(n + 16, NULL, 10), 0);
    return strtol(s + 7, NULL, 10);
}

/* One group whose HA link runs through a relay; tls: enforcing master + TLS slave, else
 * both plain. Both hold haAuthKeyFile. Returns whether the relay saw MARKER. */
static int replicate_through_relay(int tls, int load)
{
    kt_daemon *ns = rp_start_ns();
    char key[700], extra[1024];
    snprintf(key, sizeof key, "%s/group.key", ns->dir);
    kt_write_file(key, "ha-tls-group-key\n");
    snprintf(extra, sizeof extra, "haAuthKeyFile=%s\n", key);
    int ha = 0;
    kt_daemon *m = start_master(ns, &ha, tls ? "enforcing" : NULL, extra);
    char to[64];
    snprintf(to, sizeof to, "%s:%d", g_m_host, ha);
    relay *r = relay_start(g_m_host, to);
    char via[64];
    snprintf(via, sizeof via, "%s:%d", g_m_host, r->port);
    kt_daemon *s = rp_start_slave(ns, 1, slave_conf(via, tls ? "ca.pem" : NULL, NULL, extra));
    int fd = bk_conn(m);
    rp_create_topic(fd, "ReplTls");
    await_send_ok(fd, "ReplTls");
    wait_log(m, "authenticated");
    wait_log(m, tls ? "connected over TLS (TLSv1." : "connected: shipping");
    wait_log(s, tls ? "over TLS (TLSv1." : "connected to master");
    if (load) {
        long sent = bench_all_ok(rp_bench_start("ReplTlsLoad", 3, 1024));
        fprintf(stderr, "%ld sends under load, all SEND_OK\n", sent);
        assert_true(sent > 0);
    }
    assert_int_equal(send_code(fd, "ReplTls", MARKER), 0);
    assert_identical(m, s);
    int found;
    size_t seen = relay_seen(r, &found);
    int64_t end = rp_cl_max(m);
    fprintf(stderr,
            "%s: the relay carried %zu bytes of the master's for a log of %lld; marker %s\n",
            tls ? "TLS" : "plain", seen, (long long)end, found ? "seen" : "not seen");
    assert_true((int64_t)seen >= end); /* every byte of the log went through the relay */
    relay_stop(r);
    return found;
}

/* ---- scenarios ------------------------------------------------------------------------- */

/* SYNC_MASTER and TLS slave under load, through the recording relay. */
static void test_sync_over_tls(void **st)
{
    (void)st;
    assert_false(replicate_through_relay(1, 1));
}

/* Control: the same link plain: the relay reads the message body. */
static void test_plain_control(void **st)
{
    (void)st;
    assert_true(replicate_through_relay(0, 0));
}

/* TLS slave / plain master; plain slave / enforcing master; permissive serves both. */
static void test_modes(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = start_master(ns, &ha, NULL, NULL); /* haTlsMode not set: plain */
    char addr[64];
    int fd = open_master(m, ha, "ReplTlsModes", addr);

    /* A TLS slave, plain master. */
    kt_daemon *s2 = rp_start_slave(ns, 2, slave_conf(addr, "ca.pem", NULL, NULL));
    wait_log(m, "it starts TLS, but TLS is off");
    wait_log(s2, "is TLS on at the master's HA port?");
    assert_int_equal(send_code(fd, "ReplTlsModes", "no slave yet"), 11);
    bk_stop_clean(s2);

    /* A plain slave, enforcing master. */
    bk_close(fd);
    relaunch_master(m, ns, &ha, "enforcing", NULL);
    fd = bk_conn(m);
    kt_daemon *s1 = rp_start_slave(ns, 1, slave_conf(addr, NULL, NULL, NULL));
    wait_log(m, "refused a plain replication connection");
    wait_log(s1, "answered with TLS: its HA port accepts TLS only");
    assert_int_equal(send_code(fd, "ReplTlsModes", "still no slave"), 11);
    bk_stop_clean(s1);

    /* Control: permissive serves the same two slaves at once. */
    bk_close(fd);
    relaunch_master(m, ns, &ha, "permissive", NULL);
    fd = bk_conn(m);
    rp_launch_slave(s1, ns, 1, slave_conf(addr, NULL, NULL, NULL));
    rp_launch_slave(s2, ns, 2, slave_conf(addr, "ca.pem", NULL, NULL));
    await_send_ok(fd, "ReplTlsModes");
    wait_log(m, "connected plain (haTlsMode=permissive)");
    wait_log(m, "connected over TLS");
    assert_int_equal(send_code(fd, "ReplTlsModes", "both slaves"), 0);
    assert_identical(m, s1);
    assert_identical(m, s2);
    bk_stop_clean(s1);
    bk_stop_clean(s2);

    /* Permissive with haAuthKeyFile everywhere: the plain keyed slave waits for the challenge,
     * the TLS one opens with its ClientHello; both are served. */
    char key[700], extra[1024];
    snprintf(key, sizeof key, "%s/group.key", ns->dir);
    kt_write_file(key, "ha-tls-group-key");
    snprintf(extra, sizeof extra, "haAuthKeyFile=%s\n", key);
    bk_close(fd);
    relaunch_master(m, ns, &ha, "permissive", extra);
    fd = bk_conn(m);
    rp_launch_slave(s1, ns, 1, slave_conf(addr, NULL, NULL, extra));
    rp_launch_slave(s2, ns, 2, slave_conf(addr, "ca.pem", NULL, extra));
    await_send_ok(fd, "ReplTlsModes");
    assert_int_equal(send_code(fd, "ReplTlsModes", "both keyed slaves"), 0);
    assert_identical(m, s1);
    assert_identical(m, s2);
    assert_true(kb_count_lines(m->log, "authenticated") >= 2);
}

/* Another CA; an address the certificate does not name; control: both right. */
static void test_server_verification(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = start_master(ns, &ha, "enforcing", NULL);
    char addr[64];
    int fd = open_master(m, ha, "ReplTlsCa", addr);

    kt_daemon *s = rp_start_slave(ns, 1, slave_conf(addr, "other_ca.pem", NULL, NULL));
    wait_log(s, "certificate verify failed");
    wait_log(m, "TLS handshake with replication peer");
    assert_int_equal(send_code(fd, "ReplTlsCa", "untrusted master"), 11);
    bk_stop_clean(s);

    /* The right CA, but dialling an address the certificate does not name (a relay on
     * another loopback address in front of the same master). */
    relay *r = relay_start(g_other_host, addr);
    char via[64];
    snprintf(via, sizeof via, "%s:%d", g_other_host, r->port);
    rp_launch_slave(s, ns, 1, slave_conf(via, "ca.pem", NULL, NULL));
    wait_log(s, "IP address mismatch");
    assert_int_equal(send_code(fd, "ReplTlsCa", "wrong name"), 11);
    bk_stop_clean(s);
    relay_stop(r);

    /* Control: the right CA at the address named. */
    rp_launch_slave(s, ns, 1, slave_conf(addr, "ca.pem", NULL, NULL));
    await_send_ok(fd, "ReplTlsCa");
    assert_identical(m, s);
}

/* need.client.auth=require: no certificate, another CA's; control: the trusted CA's. */
static void test_client_auth(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    char extra[1024];
    snprintf(extra, sizeof extra,
             "tls.server.need.client.auth=require\ntls.server.trustCertPath=%s\n", path("ca.pem"));
    kt_daemon *m = start_master(ns, &ha, "enforcing", extra);
    char addr[64];
    int fd = open_master(m, ha, "ReplTlsAuth", addr);

    kt_daemon *s = rp_start_slave(ns, 1, slave_conf(addr, "ca.pem", NULL, NULL));
    wait_log(m, "did not return a certificate");
    wait_log(s, "certificate required");
    assert_int_equal(send_code(fd, "ReplTlsAuth", "no client certificate"), 11);
    bk_stop_clean(s);

    rp_launch_slave(s, ns, 1, slave_conf(addr, "ca.pem", "other_client.pem", NULL));
    wait_log(m, "certificate verify failed");
    wait_log(s, "unknown ca");
    assert_int_equal(send_code(fd, "ReplTlsAuth", "untrusted client certificate"), 11);
    bk_stop_clean(s);

    rp_launch_slave(s, ns, 1, slave_conf(addr, "ca.pem", "client.pem", NULL));
    await_send_ok(fd, "ReplTlsAuth");
    assert_identical(m, s);
}

/* ---- hand-driven TLS peers: acknowledgements over TLS --------------------------------- */

/* A blocking TLS connection to the master's HA port (reads time out after KT_DEADLINE_MS)
 * that sends its first report. */
static SSL *tls_peer(kite_tls_ctx *ctx, int port, int64_t first)
{
    int fd = kt_connect(g_m_host, port);
    assert_true(fd >= 0);
    struct timeval tv = { KT_DEADLINE_MS / 1000, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL *ssl = kite_tls_ssl_new(ctx, fd, g_m_host);
    assert_non_null(ssl);
    assert_int_equal(SSL_connect(ssl), 1);
    uint8_t b[8];
    kite_wr_be64(b, (uint64_t)first);
    assert_int_equal(SSL_write(ssl, b, 8), 8);
    return ssl;
}

static void tls_report(SSL *ssl, int64_t v)
{
    uint8_t b[8];
    kite_wr_be64(b, (uint64_t)v);
    assert_int_equal(SSL_write(ssl, b, 8), 8);
}

static void tls_peer_free(SSL *ssl)
{
    int fd = SSL_get_fd(ssl);
    SSL_free(ssl);
    close(fd);
}

/* Reads frames from pos until upto (heartbeats skipped); the offset reached. */
static int64_t tls_read_to(SSL *ssl, int64_t pos, int64_t upto)
{
    static uint8_t buf[1 << 16];
    uint8_t h[12];
    while (pos < upto) {
        int got = 0;
        while (got < 12) {
            int r = SSL_read(ssl, h + got, 12 - got);
            assert_true(r > 0);
            got += r;
        }
        assert_int_equal((int64_t)kite_rd_be64(h), pos);
        uint32_t size = kite_rd_be32(h + 8);
        while (size) {
            int r = SSL_read(ssl, buf, size < sizeof buf ? (int)size : (int)sizeof buf);
            assert_true(r > 0);
            size -= (uint32_t)r;
            pos += r;
        }
    }
    return pos;
}

/* 1 when the master ends the TLS connection (reads skip heartbeats). */
static int tls_closed(SSL *ssl)
{
    uint8_t buf[4096];
    long long t0 = kt_now_ms();
    while (kt_now_ms() - t0 < KT_DEADLINE_MS)
        if (SSL_read(ssl, buf, sizeof buf) <= 0) return 1;
    return 0;
}

/* SYNC_MASTER over TLS: a peer acknowledging more than its connection was sent is dropped
 * and counts for nothing; control: one acknowledging what it received makes SEND_OK. */
static void test_tls_acks(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = start_master(ns, &ha, "enforcing", NULL);
    int fd = bk_conn(m);
    rp_create_topic(fd, "ReplTlsAcks");
    assert_int_equal(send_code(fd, "ReplTlsAcks", "before any peer"), 11);
    char err[512];
    kite_tls_ctx *ctx = kite_tls_client_new(path("ca.pem"), NULL, NULL, NULL, 1, err, sizeof err);
    if (!ctx) fail_msg("client context: %s", err);

    int64_t end = rp_cl_max(m);
    SSL *huge = tls_peer(ctx, ha, end);
    tls_report(huge, (int64_t)1 << 50);
    assert_true(tls_closed(huge));
    tls_peer_free(huge);
    wait_log(m, "only the bytes up to");
    assert_int_equal(send_code(fd, "ReplTlsAcks", "after the huge report"), 11);

    /* Control: a TLS peer that received the send's bytes acknowledges them. */
    end = rp_cl_max(m);
    SSL *c = tls_peer(ctx, ha, end);
    wait_lines(m, "connected over TLS", 2); /* the first was the huge peer's */
    int opaque = kb_send_v2_start(fd, "ReplTlsAcks", 0, NULL, "acknowledged over TLS", 21);
    assert_true(opaque > 0);
    long long t0 = kt_now_ms();
    int64_t e2;
    while ((e2 = rp_cl_max(m)) == end && kt_now_ms() - t0 < KT_DEADLINE_MS) usleep(10000);
    assert_true(e2 > end);
    assert_int_equal(tls_read_to(c, end, e2), e2);
    tls_report(c, e2);
    kite_cmd r;
    assert_int_equal(kb_wait_response(fd, opaque, &r, KT_DEADLINE_MS), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    tls_peer_free(c);
    kite_tls_ctx_free(ctx);
}

/* Handshakes are bounded on both sides by tls.server.handshakeTimeoutMillis: the master
 * closes a peer that starts no handshake or stalls in one; control: a TLS peer that finished
 * its handshake at the same time is still served after twice that. A slave whose "master"
 * never answers its ClientHello gives up and says so. */
static void test_handshake_timeouts(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = start_master(ns, &ha, "enforcing", "tls.server.handshakeTimeoutMillis=1000\n");
    char err[512];
    kite_tls_ctx *ctx = kite_tls_client_new(path("ca.pem"), NULL, NULL, NULL, 1, err, sizeof err);
    if (!ctx) fail_msg("client context: %s", err);
    SSL *good = tls_peer(ctx, ha, 0);
    long long t0 = kt_now_ms();
    /* One after the other: the two lines are rate-limited together (one a second). */
    int silent = kt_connect(g_m_host, ha);
    assert_true(silent >= 0);
    assert_true(kt_peer_closed(silent, KT_DEADLINE_MS));
    wait_log(m, "no TLS handshake started within 1000 ms");
    int stalled = kt_connect(g_m_host, ha);
    assert_true(stalled >= 0);
    static const uint8_t hello_start[] = { 0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00 };
    assert_int_equal(kt_send_raw(stalled, hello_start, sizeof hello_start), 0);
    assert_true(kt_peer_closed(stalled, KT_DEADLINE_MS));
    wait_log(m, "TLS handshake not completed within 1000 ms");
    while (kt_now_ms() - t0 < 2000) usleep(50000);
    tls_report(good, 0); /* a report keeps it within haHousekeepingInterval */
    /* What arrived so far is drained; a heartbeat read after that was sent after 2 s. */
    int gfd = SSL_get_fd(good), fl = fcntl(gfd, F_GETFL);
    fcntl(gfd, F_SETFL, fl | O_NONBLOCK);
    uint8_t h[4096];
    int r;
    while ((r = SSL_read(good, h, sizeof h)) > 0) {
    }
    assert_int_equal(SSL_get_error(good, r), SSL_ERROR_WANT_READ);
    fcntl(gfd, F_SETFL, fl);
    assert_int_equal(SSL_read(good, h, 12), 12);
    assert_int_equal(kite_rd_be32(h + 8), 0); /* a heartbeat: the handshaken peer is served */
    close(silent);
    close(stalled);
    tls_peer_free(good);
    kite_tls_ctx_free(ctx);

    /* The slave's side: a listener that never answers (the kernel completes the connect). */
    char dead[64], extra[256];
    int port = kt_free_port(g_m_host);
    int lfd = kite_sock_listen(g_m_host, port, NULL, err, sizeof err);
    assert_true(lfd >= 0);
    snprintf(dead, sizeof dead, "%s:%d", g_m_host, port);
    snprintf(extra, sizeof extra, "tls.server.handshakeTimeoutMillis=1000\n");
    kt_daemon *s = rp_start_slave(ns, 1, slave_conf(dead, "ca.pem", NULL, extra));
    wait_log(s, "not completed within 1000 ms");
    bk_stop_clean(s);
    close(lfd);
}

/* Runs kite-broker -c with text (plus -p when print): exit status, stdout and stderr. */
static int run_conf(const char *text, int print, char **out, char **err)
{
    char dir[512], conf[600], o[700], e[700], full[4096];
    kt_mkdtemp("repl-tls-conf", dir, sizeof dir);
    snprintf(conf, sizeof conf, "%s/b.conf", dir);
    snprintf(o, sizeof o, "%s/stdout", dir);
    snprintf(e, sizeof e, "%s/stderr", dir);
    snprintf(full, sizeof full,
             "listenPort=%d\nbindAddress=127.0.0.1\nstorePathRootDir=%s/store\n%s\n",
             kt_free_port("127.0.0.1"), dir, text);
    kt_write_file(conf, full);
    int rc = cf_run("kite-broker", conf, print ? "-p" : NULL, o, e);
    *out = cf_read(o);
    *err = cf_read(e);
    return rc;
}

static void test_config(void **st)
{
    (void)st;
    char *o, *e, text[2048];
    /* A value that is not a mode. */
    assert_int_equal(run_conf("haTlsMode=sometimes", 1, &o, &e), 2);
    cf_expect_in(e, "haTlsMode");
    cf_expect_in(e, "sometimes");
    free(o);
    free(e);
    /* TLS on the HA port without a certificate. */
    assert_int_equal(run_conf("haTlsMode=enforcing", 1, &o, &e), 2);
    cf_expect_in(e, "tls.server.certPath");
    free(o);
    free(e);
    /* Client certificates required, no CA to check them with. */
    snprintf(text, sizeof text,
             "haTlsMode=permissive\ntls.server.certPath=%s\ntls.server.keyPath=%s\n"
             "tls.server.need.client.auth=require",
             path("server.pem"), path("server.key"));
    assert_int_equal(run_conf(text, 1, &o, &e), 2);
    cf_expect_in(e, "tls.server.trustCertPath");
    free(o);
    free(e);
    /* In force: printed (lower case), no warning. */
    snprintf(text, sizeof text,
             "haTlsMode=Enforcing\ntls.server.certPath=%s\ntls.server.keyPath=%s",
             path("server.pem"), path("server.key"));
    assert_int_equal(run_conf(text, 1, &o, &e), 0);
    cf_expect_in(o, "\nhaTlsMode=enforcing\n");
    cf_expect_in(o, "\nhaTlsEnable=false\n");
    cf_expect_in(o, "\nhaTlsVerifyServer=true\n");
    assert_null(strstr(e, "haTls"));
    free(o);
    free(e);
    /* Keys without effect in the role: warned about by name. */
    assert_int_equal(run_conf("haTlsEnable=true", 1, &o, &e), 0);
    cf_expect_in(e, "haTlsEnable=true has no effect on a master");
    free(o);
    free(e);
    assert_int_equal(run_conf("brokerRole=SLAVE\nbrokerId=1\nhaTlsMode=enforcing", 1, &o, &e), 0);
    cf_expect_in(e, "haTlsMode=enforcing has no effect on a slave");
    free(o);
    free(e);
    assert_int_equal(
        run_conf("brokerRole=SLAVE\nbrokerId=1\nhaTlsEnable=true\nhaTlsVerifyServer=false", 1, &o,
                 &e),
        0);
    cf_expect_in(e, "haTlsVerifyServer=false");
    cf_expect_in(o, "\nhaTlsEnable=true\n");
    free(o);
    free(e);
    /* A certificate that cannot be loaded stops the start (not only -p's check). */
    snprintf(text, sizeof text,
             "haTlsMode=enforcing\ntls.server.certPath=/nonexistent/ha.pem\ntls.server.keyPath=%s",
             path("server.key"));
    assert_int_equal(run_conf(text, 0, &o, &e), 2);
    cf_expect_in(e, "/nonexistent/ha.pem");
    free(o);
    free(e);
}

static int group_setup(void **st)
{
    (void)st;
    kt_mkdtemp("repl-tls-certs", g_dir, sizeof g_dir);
    kt_random_host_pair(g_m_host, g_other_host, sizeof g_m_host);
    return make_certs();
}

int main(void)
{
    if (!kt_have_openssl()) return KT_SKIP_EXIT;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_over_tls, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_plain_control, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_modes, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_server_verification, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_client_auth, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_tls_acks, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_handshake_timeouts, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_config, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, group_setup, NULL));
}
