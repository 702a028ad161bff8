/* it_tls.c - TLS on the client ports of kite-broker and kite-namesrv (tls.server.mode
 * disabled / permissive / enforcing, tls.server.need.client.auth, tls.config.file, the
 * handshake timeout), TLS from libkite and from the broker to an enforcing name server
 * (tls.enable), and the start-up errors of bad certificate paths. Certificates are made
 * here at run time with the openssl command (kite-admin --tls-config and kite-bench --tls-ca
 * too): a CA, a server certificate naming the two
 * loopback addresses the daemons use (IP SANs), a client certificate from the CA, and a
 * second CA with a client certificate of its own. Every refusal has its control: the
 * same client is served when the configuration allows it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include "cf_common.h"
#include "base/mem.h"
#include "kite/kite.h"
#include "net/tls.h"
#include "proto/codes.h"
#include "rpc/client.h"
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

static char g_dir[512];                   /* certificates */
static char g_ns_host[32], g_bk_host[32]; /* the addresses the server certificate names */
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_log[16384]; /* libkite WARN lines of the test process */

static void log_cb(kite_log_level level, const char *channel, const char *msg, void *opaque)
{
    (void)opaque;
    if (level < KITE_LOG_WARN) return;
    pthread_mutex_lock(&g_log_mu);
    size_t n = strlen(g_log);
    if (n + strlen(msg) + strlen(channel) + 4 < sizeof g_log)
        snprintf(g_log + n, sizeof g_log - n, "%s: %s\n", channel, msg);
    pthread_mutex_unlock(&g_log_mu);
}

static int log_has(const char *needle)
{
    pthread_mutex_lock(&g_log_mu);
    int r = strstr(g_log, needle) != NULL;
    pthread_mutex_unlock(&g_log_mu);
    return r;
}

static void log_clear(void)
{
    pthread_mutex_lock(&g_log_mu);
    g_log[0] = 0;
    pthread_mutex_unlock(&g_log_mu);
}

/* kt_make_certs for both hosts, and the server key encrypted with "s3cret". 0 or -1. */
static int make_certs(void)
{
    char san[96];
    snprintf(san, sizeof san, "IP:%s,IP:%s", g_ns_host, g_bk_host);
    if (kt_make_certs(g_dir, san) ||
        kt_sh("cd %s && openssl pkcs8 -topk8 -v2 aes-256-cbc -in server.key -out server_enc.key "
              "-passout pass:s3cret 2>/dev/null",
              g_dir))
        return -1;
    return 0;
}

static const char *path(const char *name)
{
    static char buf[8][700];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 700, "%s/%s", g_dir, name);
    return p;
}

/* Server keys of a daemon in mode (extra lines appended). */
static const char *srv_conf(const char *mode, const char *extra)
{
    static char buf[4][2048];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, 2048,
             "tls.server.mode=%s\ntls.server.certPath=%s/server.pem\n"
             "tls.server.keyPath=%s/server.key\n%s\n",
             mode, g_dir, g_dir, extra ? extra : "");
    return p;
}

/* A name server on g_ns_host (the address in the server certificate). */
static kt_daemon *start_ns(const char *extra)
{
    kt_daemon *d = bk_slot(0);
    char dir[512];
    kt_mkdtemp("namesrv-tls", dir, sizeof dir);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    snprintf(d->host, sizeof d->host, "%s", g_ns_host);
    d->port = kt_free_port(d->host);
    snprintf(d->conf, sizeof d->conf, "%s/namesrv.conf", dir);
    snprintf(d->log, sizeof d->log, "%s/namesrv.log", dir);
    char text[4096];
    snprintf(text, sizeof text, "listenPort=%d\nbindAddress=%s\nkvConfigPath=%s/kv.json\n%s\n",
             d->port, d->host, dir, extra ? extra : "");
    kt_write_file(d->conf, text);
    d->pid = kt_spawn("kite-namesrv", d->conf, d->log);
    if (kt_wait_port(d->host, d->port, d->pid, KT_DEADLINE_MS) != 0) {
        bk_dump_log(d);
        bk_forget_failed(d);
        fail_msg("kite-namesrv did not start");
    }
    return d;
}

/* A broker on g_bk_host. */
static kt_daemon *start_broker(const kt_daemon *ns, const char *extra)
{
    kt_daemon *d = bk_slot(1);
    snprintf(d->host, sizeof d->host, "%s", g_bk_host);
    bk_launch(d, ns, extra);
    return d;
}

static kite_tls_ctx *client_ctx(const char *ca, const char *cert, const char *key)
{
    char err[512];
    kite_tls_ctx *t = kite_tls_client_new(ca ? path(ca) : NULL, cert ? path(cert) : NULL,
                                          key ? path(key) : NULL, NULL, 1, err, sizeof err);
    if (!t) fail_msg("client TLS context: %s", err);
    return t;
}

/* One request over a new RPC client (TLS when tls is not NULL): the call's status, and
 * the answer's code in *code. */
static int rpc_probe(const kt_daemon *d, kite_tls_ctx *tls, int req_code, int *code, char **body)
{
    kite_rpc_client_opts o = { .tls = tls, .connect_timeout_ms = 10000 };
    kite_rpc_client *c = kite_rpc_client_new(&o);
    assert_non_null(c);
    char addr[64];
    snprintf(addr, sizeof addr, "%s:%d", d->host, d->port);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, req_code, 0);
    int rc = kite_rpc_call_sync(c, addr, &req, 10000, &resp);
    if (rc == KITE_OK) {
        if (code) *code = resp.code;
        if (body) *body = kite_xstrdup(kt_body(&resp));
        kite_cmd_free(&resp);
    }
    kite_rpc_client_free(c);
    return rc;
}

static void tls_opts(kite_tls_opts *t, const char *ca)
{
    t->enable = 1;
    t->verify_server = 1;
    t->ca_file = path(ca);
}

/* Sends body to topic through libkite; KITE_OK and the queue/offset, or the failure. */
static int lk_send_n(const kt_daemon *ns, const char *ca, const char *topic, const char *body,
                     size_t blen, int *qid, int64_t *off)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    char nsaddr[64];
    snprintf(nsaddr, sizeof nsaddr, "%s:%d", ns->host, ns->port);
    o.namesrv_addr = nsaddr;
    o.retry_times = 0;
    if (ca) tls_opts(&o.tls, ca);
    kite_producer *p;
    assert_int_equal(kite_producer_create(&p, "tls_producer", &o), KITE_OK);
    assert_int_equal(kite_producer_start(p), KITE_OK);
    kite_message *m = kite_message_new(topic);
    kite_message_set_body(m, body, blen);
    kite_send_result r;
    int rc = kite_producer_send(p, m, &r);
    if (rc == KITE_OK) {
        assert_int_equal(r.status, KITE_SEND_OK);
        *qid = r.queue_id;
        *off = r.queue_offset;
    } else {
        fprintf(stderr, "send failed: %s\n", r.error);
    }
    kite_message_destroy(m);
    kite_producer_destroy(p);
    return rc;
}

static int lk_send(const kt_daemon *ns, const char *ca, const char *topic, const char *body,
                   int *qid, int64_t *off)
{
    return lk_send_n(ns, ca, topic, body, strlen(body), qid, off);
}

/* Pulls the message at (qid, off) over TLS and checks its body. */
static void lk_pull_expect_n(const kt_daemon *ns, const char *ca, const char *topic, int qid,
                             int64_t off, const char *body, size_t blen)
{
    kite_pull_consumer_opts o;
    kite_pull_consumer_opts_init(&o);
    char nsaddr[64];
    snprintf(nsaddr, sizeof nsaddr, "%s:%d", ns->host, ns->port);
    o.namesrv_addr = nsaddr;
    tls_opts(&o.tls, ca);
    kite_pull_consumer *c;
    assert_int_equal(kite_pull_consumer_create(&c, "tls_puller", &o), KITE_OK);
    assert_int_equal(kite_pull_consumer_start(c), KITE_OK);
    kite_mq_list l;
    assert_int_equal(kite_pull_consumer_fetch_queues(c, topic, &l), KITE_OK);
    const kite_mq *mq = NULL;
    for (size_t i = 0; i < l.n; i++)
        if (l.mqs[i].queue_id == qid) mq = &l.mqs[i];
    assert_non_null(mq);
    kite_pull_result r;
    /* The consume queue is written after the send is answered: wait for it. */
    for (long long end = kt_now_ms() + KT_DEADLINE_MS;;) {
        assert_int_equal(kite_pull_consumer_pull(c, mq, "*", off, 1, &r), KITE_OK);
        if (r.status != KITE_PULL_NO_NEW_MSG || kt_now_ms() > end) break;
        kite_pull_result_free(&r);
        usleep(20 * 1000);
    }
    assert_int_equal(r.status, KITE_PULL_FOUND);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.msgs[0]->body_len, blen);
    assert_memory_equal(r.msgs[0]->body, body, blen);
    kite_pull_result_free(&r);
    kite_mq_list_free(&l);
    kite_pull_consumer_destroy(c);
}

static void lk_pull_expect(const kt_daemon *ns, const char *ca, const char *topic, int qid,
                           int64_t off, const char *body)
{
    lk_pull_expect_n(ns, ca, topic, qid, off, body, strlen(body));
}

/* Plain raw request: 1 answered with code 0, 0 closed without a byte. */
static int plain_answered(const kt_daemon *d)
{
    int fd = bk_conn(d);
    assert_int_equal(kt_send_json(fd,
                                  "{\"code\":28,\"flag\":0,\"opaque\":7,\"language\":\"JAVA\","
                                  "\"version\":401,\"extFields\":{}}",
                                  NULL, 0),
                     0);
    kite_cmd r;
    int rc = kt_read_frame(fd, &r, KT_DEADLINE_MS);
    bk_close(fd);
    if (rc != 0) return 0;
    int ok = r.code == 0;
    kite_cmd_free(&r);
    assert_true(ok);
    return 1;
}

/* Scenario: enforcing refuses a plain client (closed, no answer; libkite's plain send
 * fails) and serves a TLS one (libkite send + pull round trip). Control: the same broker
 * restarted in permissive mode answers the same plain request and the plain libkite
 * send, and still serves TLS on the same port. */
static void test_enforcing_then_permissive(void **st)
{
    (void)st;
    kt_daemon *ns = start_ns(srv_conf("permissive", NULL));
    kt_daemon *b = start_broker(ns, srv_conf("enforcing", NULL));
    assert_int_equal(kt_wait_route(ns, "TBW102", KT_DEADLINE_MS), 0);

    int fd = bk_conn(b);
    assert_int_equal(kt_send_json(fd,
                                  "{\"code\":28,\"flag\":0,\"opaque\":7,\"language\":\"JAVA\","
                                  "\"version\":401,\"extFields\":{}}",
                                  NULL, 0),
                     0);
    assert_int_equal(kt_closed_silently(fd, KT_DEADLINE_MS), 1);
    bk_close(fd);
    char *log = cf_read(b->log);
    cf_expect_in(log, "a plain connection while tls.server.mode is enforcing");
    free(log);

    int qid, qid2;
    int64_t off, off2;
    assert_int_equal(lk_send(ns, "ca.pem", "TlsTopic", "over-tls-1", &qid, &off), KITE_OK);
    lk_pull_expect(ns, "ca.pem", "TlsTopic", qid, off, "over-tls-1");
    /* A 3 MiB body: many TLS records each way, output staged in pieces. */
    size_t big_len = 3u << 20;
    char *big = kite_xmalloc(big_len);
    uint32_t x = 2463534242u; /* xorshift: incompressible, so 3 MiB really cross the wire */
    for (size_t i = 0; i < big_len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (char)x;
    }
    assert_int_equal(lk_send_n(ns, "ca.pem", "TlsBig", big, big_len, &qid2, &off2), KITE_OK);
    lk_pull_expect_n(ns, "ca.pem", "TlsBig", qid2, off2, big, big_len);
    free(big);
    assert_int_not_equal(lk_send(ns, NULL, "TlsTopic", "plain-1", &qid2, &off2), KITE_OK);

    /* kite-bench: --tls-ca sends; without it its first send fails (exit status 2). */
    const char *bin = getenv("KITE_BIN");
    char cmd[4096], out[700], err[700];
    snprintf(out, sizeof out, "%s/bench.out", g_dir);
    snprintf(err, sizeof err, "%s/bench.err", g_dir);
    snprintf(cmd, sizeof cmd,
             "%s/kite-bench produce -n %s:%d -t TlsBench -s 256 -c 8 -m 200 -d 60 --json "
             "--tls-ca %s >%s 2>%s",
             bin && *bin ? bin : "./bin", ns->host, ns->port, path("ca.pem"), out, err);
    int rc = system(cmd);
    char *o = cf_read(out);
    fprintf(stderr, "kite-bench --tls-ca: status %d: %s", rc, o);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    cf_expect_in(o, "\"sent\":200,\"failed\":0");
    free(o);
    snprintf(cmd, sizeof cmd,
             "%s/kite-bench produce -n %s:%d -t TlsBench -s 256 -c 8 -m 200 -d 60 --json >%s 2>%s",
             bin && *bin ? bin : "./bin", ns->host, ns->port, out, err);
    rc = system(cmd);
    o = cf_read(err);
    fprintf(stderr, "kite-bench plain: status %d: %s", rc, o);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    cf_expect_in(o, "first send failed");
    free(o);

    /* Control: permissive on the same address. */
    bk_stop_clean(b);
    bk_launch(b, ns, srv_conf("permissive", NULL));
    assert_int_equal(plain_answered(b), 1);
    assert_int_equal(lk_send(ns, NULL, "TlsTopic", "plain-2", &qid2, &off2), KITE_OK);
    lk_pull_expect(ns, "ca.pem", "TlsTopic", qid2, off2, "plain-2");
    int code = -1;
    kite_tls_ctx *t = client_ctx("ca.pem", NULL, NULL);
    assert_int_equal(rpc_probe(b, t, RC_GET_BROKER_RUNTIME_INFO, &code, NULL), KITE_OK);
    assert_int_equal(code, 0);
    kite_tls_ctx_free(t);
}

/* Scenario: a client trusting another CA is refused (handshake fails with a clear
 * reason in its log); control: the same call trusting the right CA is answered. Also a
 * TLS client against a plain (disabled) port fails, and its plain control is answered. */
static void test_wrong_ca(void **st)
{
    (void)st;
    kt_daemon *ns = start_ns(NULL);
    kt_daemon *b = start_broker(ns, srv_conf("enforcing", NULL));
    log_clear();
    kite_tls_ctx *bad = client_ctx("other_ca.pem", NULL, NULL);
    kite_tls_ctx *good = client_ctx("ca.pem", NULL, NULL);
    int code = -1;
    assert_int_equal(rpc_probe(b, bad, RC_GET_BROKER_RUNTIME_INFO, &code, NULL), KITE_ECLOSED);
    assert_true(log_has("TLS handshake failed: certificate verify failed"));
    assert_int_equal(rpc_probe(b, good, RC_GET_BROKER_RUNTIME_INFO, &code, NULL), KITE_OK);
    assert_int_equal(code, 0);
    /* The name server is plain (disabled): TLS fails, plain is answered. */
    assert_int_equal(rpc_probe(ns, good, RC_GET_BROKER_CLUSTER_INFO, &code, NULL), KITE_ECLOSED);
    assert_int_equal(rpc_probe(ns, NULL, RC_GET_BROKER_CLUSTER_INFO, &code, NULL), KITE_OK);
    kite_tls_ctx_free(bad);
    kite_tls_ctx_free(good);
}

/* Scenario: need.client.auth=require (set in a tls.config.file, with an encrypted server key
 * and its tls.server.keyPassword) refuses a client with no
 * certificate and one whose certificate comes from another CA; control: a certificate
 * from the trusted CA is served. */
static void test_client_auth_require(void **st)
{
    (void)st;
    kt_daemon *ns = start_ns(NULL);
    char file[700], text[2048];
    snprintf(file, sizeof file, "%s/tls-require.properties", g_dir);
    snprintf(text, sizeof text,
             "tls.server.need.client.auth=require\ntls.server.trustCertPath=%s/ca.pem\n"
             "tls.server.certPath=%s/server.pem\ntls.server.keyPath=%s/server_enc.key\n"
             "tls.server.keyPassword=s3cret\n",
             g_dir, g_dir, g_dir);
    kt_write_file(file, text);
    char conf[1024];
    snprintf(conf, sizeof conf, "tls.server.mode=enforcing\ntls.config.file=%s\n", file);
    kt_daemon *b = start_broker(ns, conf);
    kite_tls_ctx *none = client_ctx("ca.pem", NULL, NULL);
    kite_tls_ctx *other = client_ctx("ca.pem", "other_client.pem", "other_client.key");
    kite_tls_ctx *good = client_ctx("ca.pem", "client.pem", "client.key");
    int code = -1;
    assert_int_equal(rpc_probe(b, none, RC_GET_BROKER_RUNTIME_INFO, &code, NULL), KITE_ECLOSED);
    assert_int_equal(rpc_probe(b, other, RC_GET_BROKER_RUNTIME_INFO, &code, NULL), KITE_ECLOSED);
    assert_int_equal(rpc_probe(b, good, RC_GET_BROKER_RUNTIME_INFO, &code, NULL), KITE_OK);
    assert_int_equal(code, 0);
    char *log = cf_read(b->log);
    cf_expect_in(log, "TLS handshake failed");
    free(log);
    /* Control for "no certificate": the same client is served when auth is none. */
    kt_daemon *b2 = bk_slot(1);
    snprintf(b2->host, sizeof b2->host, "%s", g_bk_host);
    bk_launch(b2, ns, srv_conf("enforcing", NULL));
    assert_int_equal(rpc_probe(b2, none, RC_GET_BROKER_RUNTIME_INFO, &code, NULL), KITE_OK);
    kite_tls_ctx_free(none);
    kite_tls_ctx_free(other);
    kite_tls_ctx_free(good);
}

static void wait_log(const kt_daemon *d, const char *needle)
{
    for (long long end = kt_now_ms() + KT_DEADLINE_MS;;) {
        char *log = cf_read(d->log);
        int found = log && strstr(log, needle);
        free(log);
        if (found) return;
        if (kt_now_ms() > end) {
            bk_dump_log(d);
            fail_msg("'%s' not in %s", needle, d->log);
        }
        usleep(50 * 1000);
    }
}

/* Scenario: a client that connects and sends nothing, and one that sends half a
 * ClientHello, are closed after tls.server.handshakeTimeoutMillis and not before;
 * meanwhile a TLS client is served. Control: on a plain (disabled) port the silent
 * connection is not closed in twice that time (only the 120 s idle timeout applies). */
static void test_handshake_timeout(void **st)
{
    (void)st;
    kt_daemon *ns = start_ns(NULL);
    kt_daemon *b =
        start_broker(ns, srv_conf("enforcing", "tls.server.handshakeTimeoutMillis=1500"));
    long long t0 = kt_now_ms();
    int silent = bk_conn(b);
    int half = bk_conn(b);
    static const uint8_t hello_start[] = { 0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00 };
    assert_int_equal(kt_send_raw(half, hello_start, sizeof hello_start), 0);
    kite_tls_ctx *good = client_ctx("ca.pem", NULL, NULL);
    int code = -1;
    assert_int_equal(rpc_probe(b, good, RC_GET_BROKER_RUNTIME_INFO, &code, NULL), KITE_OK);
    assert_int_equal(code, 0);
    assert_int_equal(kt_closed_silently(silent, KT_DEADLINE_MS), 1);
    assert_int_equal(kt_closed_silently(half, KT_DEADLINE_MS), 1);
    long long waited = kt_now_ms() - t0;
    fprintf(stderr, "silent and half-handshake connections closed after %lld ms\n", waited);
    assert_true(waited >= 1400);
    wait_log(b, "TLS handshake not completed within 1500 ms");
    kite_tls_ctx_free(good);

    kt_daemon *plain = bk_slot(1);
    bk_launch(plain, ns, NULL);
    int fd = bk_conn(plain);
    assert_int_equal(kt_closed_silently(fd, 3000), 0);
}

/* Scenario: a name server in enforcing mode; a broker with tls.enable=true (verifying the
 * name server against the CA) registers over TLS, a broker without it is refused (the
 * name server logs the plain connection) and is not in the cluster. */
static void test_namesrv_enforcing(void **st)
{
    (void)st;
    kt_daemon *ns = start_ns(srv_conf("enforcing", NULL));
    kt_daemon *plain = bk_slot(1);
    bk_launch(plain, ns, "brokerName=broker-plain");
    wait_log(ns, "a plain connection while tls.server.mode is enforcing");
    char conf[1024];
    snprintf(conf, sizeof conf,
             "brokerName=broker-tls\ntls.enable=true\ntls.client.authServer=true\n"
             "tls.client.trustCertPath=%s/ca.pem\n",
             g_dir);
    kt_daemon *tb = bk_slot(1);
    bk_launch(tb, ns, conf);
    kite_tls_ctx *good = client_ctx("ca.pem", NULL, NULL);
    char *body = NULL;
    for (long long end = kt_now_ms() + KT_DEADLINE_MS;;) {
        int code = -1;
        free(body);
        body = NULL;
        assert_int_equal(rpc_probe(ns, good, RC_GET_BROKER_CLUSTER_INFO, &code, &body), KITE_OK);
        if (code == 0 && strstr(body, "broker-tls")) break;
        assert_true(kt_now_ms() < end);
        usleep(100 * 1000);
    }
    fprintf(stderr, "cluster info: %s\n", body);
    assert_null(strstr(body, "broker-plain"));
    free(body);
    /* A plain client is refused the same call. */
    assert_int_equal(rpc_probe(ns, NULL, RC_GET_BROKER_CLUSTER_INFO, NULL, NULL), KITE_ECLOSED);
    kite_tls_ctx_free(good);

    /* kite-admin: with --tls-config it lists the TLS broker; without, it fails. */
    char file[700], text[1024], out[700];
    snprintf(file, sizeof file, "%s/admin-tls.properties", g_dir);
    snprintf(text, sizeof text,
             "tls.enable=true\ntls.client.authServer=true\ntls.client.trustCertPath=%s/ca.pem\n",
             g_dir);
    kt_write_file(file, text);
    snprintf(out, sizeof out, "%s/admin.out", g_dir);
    const char *bin = getenv("KITE_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/kite-admin --tls-config %s clusterList -n %s:%d >%s 2>&1",
             bin && *bin ? bin : "./bin", file, ns->host, ns->port, out);
    int rc = system(cmd);
    char *o = cf_read(out);
    fprintf(stderr, "kite-admin over TLS: status %d\n%s", rc, o);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    cf_expect_in(o, "broker-tls");
    free(o);
    snprintf(cmd, sizeof cmd, "%s/kite-admin clusterList -n %s:%d >%s 2>&1",
             bin && *bin ? bin : "./bin", ns->host, ns->port, out);
    rc = system(cmd);
    o = cf_read(out);
    fprintf(stderr, "kite-admin plain: status %d\n%s", rc, o);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) != 0);
    assert_null(strstr(o, "broker-tls"));
    free(o);
}

/* Scenario: a certificate or key file that cannot be loaded stops the start with exit
 * status 2 and a line naming the key and the file. */
static void test_bad_paths(void **st)
{
    (void)st;
    static const struct {
        const char *bin, *conf, *key, *file;
    } cases[] = {
        { "kite-broker", "tls.server.certPath=/nonexistent/server.pem\ntls.server.keyPath=K",
          "tls.server.certPath", "/nonexistent/server.pem" },
        { "kite-namesrv", "tls.server.certPath=C\ntls.server.keyPath=/nonexistent/k.key",
          "tls.server.keyPath", "/nonexistent/k.key" },
        { "kite-broker",
          "tls.server.certPath=C\ntls.server.keyPath=K\n"
          "tls.server.need.client.auth=require\n"
          "tls.server.trustCertPath=/nonexistent/ca.pem",
          "tls.server.trustCertPath", "/nonexistent/ca.pem" },
        { "kite-namesrv",
          "tls.server.certPath=C\ntls.server.keyPath=E\ntls.server.keyPassword=wrong",
          /* OpenSSL's reason varies with the decoder that tried last ("bad decrypt",
           * "unsupported"): the key and the file are what the line must name */
          "tls.server.keyPath", "server_enc.key: " },
        { "kite-broker",
          "tls.server.certPath=C\ntls.server.keyPath=K\ntls.enable=true\n"
          "tls.client.certPath=/nonexistent/c.pem\ntls.client.keyPath=K",
          "tls.client.certPath", "/nonexistent/c.pem" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[512], conf[600], out[700], err[700], text[4096], c1[1024];
        kt_mkdtemp("tls-bad", dir, sizeof dir);
        snprintf(conf, sizeof conf, "%s/x.conf", dir);
        snprintf(out, sizeof out, "%s/stdout", dir);
        snprintf(err, sizeof err, "%s/stderr", dir);
        /* C and K stand for the good server files, E for the key encrypted with s3cret. */
        snprintf(c1, sizeof c1, "%s", cases[i].conf);
        char *p;
        kite_buf b = KITE_BUF_INIT;
        for (p = c1; *p; p++) {
            if ((*p == 'C' || *p == 'K' || *p == 'E') && p > c1 && p[-1] == '=' &&
                (p[1] == '\n' || !p[1]))
                kite_buf_puts(&b, path(*p == 'C'   ? "server.pem"
                                       : *p == 'K' ? "server.key"
                                                   : "server_enc.key"));
            else
                kite_buf_append(&b, p, 1);
        }
        kite_buf_append(&b, "", 1);
        snprintf(text, sizeof text,
                 "listenPort=%d\nbindAddress=127.0.0.1\nstorePathRootDir=%s/store\n"
                 "kvConfigPath=%s/kv.json\ntls.server.mode=enforcing\n%s\n",
                 kt_free_port("127.0.0.1"), dir, dir, b.data);
        kite_buf_free(&b);
        kt_write_file(conf, text);
        int rc = cf_run(cases[i].bin, conf, NULL, out, err);
        char *e = cf_read(err);
        fprintf(stderr, "%s %s: exit %d, stderr: %s", cases[i].bin, cases[i].key, rc, e);
        assert_int_equal(rc, 2);
        cf_expect_in(e, cases[i].key);
        cf_expect_in(e, cases[i].file);
        free(e);
    }
}

static int group_setup(void **st)
{
    (void)st;
    kt_mkdtemp("tls-certs", g_dir, sizeof g_dir);
    kt_random_host_pair(g_ns_host, g_bk_host, sizeof g_ns_host);
    kite_set_log_cb(log_cb, NULL);
    return make_certs();
}

int main(void)
{
    if (!kt_have_openssl()) return KT_SKIP_EXIT;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enforcing_then_permissive, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_ca, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_client_auth_require, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_handshake_timeout, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_namesrv_enforcing, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, group_setup, NULL));
}
