/* bk_common.h - shared fixture of the kite-broker integration tests (it_broker_*.c):
 * name servers and brokers started on random loopback hosts and always stopped by PID in
 * teardown (a clean SIGTERM shutdown must exit 0, which under the sanitizer build also
 * means no leak or memory error in the daemon), connections closed in teardown, and
 * small assertions over answers. Requests are written as JSON text (kt_broker.h).
 * Include after <cmocka.h>. */
#ifndef KITE_TESTS_BK_COMMON_H
#define KITE_TESTS_BK_COMMON_H

#include "kt.h"
#include "kt_broker.h"
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BK_MAX_DAEMONS 8
#define BK_MAX_FDS     32

static kt_daemon bk_daemons[BK_MAX_DAEMONS];
static int bk_is_broker[BK_MAX_DAEMONS];
static int bk_ndaemons;
static int bk_fds[BK_MAX_FDS];
static int bk_nfds;

static inline void bk_dump_log(const kt_daemon *d) { kt_dump_log(d->log, 1L << 20); }

static inline kt_daemon *bk_slot(int is_broker)
{
    assert_true(bk_ndaemons < BK_MAX_DAEMONS);
    bk_is_broker[bk_ndaemons] = is_broker;
    kt_daemon *d = &bk_daemons[bk_ndaemons++];
    memset(d, 0, sizeof *d);
    return d;
}

static inline void bk_forget_failed(kt_daemon *d)
{
    if (d->pid > 0 && waitpid(d->pid, NULL, WNOHANG) == 0) kt_stop(d->pid, 5000);
    d->pid = 0;
}

/* A name server on host (NULL: a random loopback host). */
static inline kt_daemon *bk_start_ns_at(const char *host)
{
    kt_daemon *d = bk_slot(0);
    if (host) snprintf(d->host, sizeof d->host, "%s", host);
    if (kt_namesrv_start(d, NULL) != 0) {
        bk_forget_failed(d);
        fail_msg("kite-namesrv did not start");
    }
    return d;
}

static inline kt_daemon *bk_start_ns(void) { return bk_start_ns_at(NULL); }

/* (Re)starts a broker in d (store and address kept when d was used before) registering
 * with the name servers nsaddrs ("host:port;host:port", may be NULL). */
static inline void bk_launch_at(kt_daemon *d, const char *nsaddrs, const char *extra)
{
    if (kt_broker_start(d, nsaddrs, extra) != 0) {
        bk_dump_log(d);
        bk_forget_failed(d);
        fail_msg("kite-broker did not start");
    }
}

/* The same with one name server ns (may be NULL). */
static inline void bk_launch(kt_daemon *d, const kt_daemon *ns, const char *extra)
{
    char nsaddr[64];
    if (ns) snprintf(nsaddr, sizeof nsaddr, "%s:%d", ns->host, ns->port);
    bk_launch_at(d, ns ? nsaddr : NULL, extra);
}

static inline kt_daemon *bk_start_broker(const kt_daemon *ns, const char *extra)
{
    kt_daemon *d = bk_slot(1);
    bk_launch(d, ns, extra);
    return d;
}

/* Clean stop that must exit 0. */
static inline void bk_stop_clean(kt_daemon *d)
{
    int st = kt_stop(d->pid, 10000);
    d->pid = 0;
    if (st != 0) bk_dump_log(d);
    assert_int_equal(st, 0);
}

static inline int bk_conn(const kt_daemon *d)
{
    int fd = kt_connect(d->host, d->port);
    assert_true(fd >= 0);
    assert_true(bk_nfds < BK_MAX_FDS);
    bk_fds[bk_nfds++] = fd;
    return fd;
}

static inline void bk_close(int fd)
{
    for (int i = 0; i < bk_nfds; i++) {
        if (bk_fds[i] == fd) {
            bk_fds[i] = bk_fds[--bk_nfds];
            break;
        }
    }
    kb_forget_fd(fd);
    close(fd);
}

static inline int bk_setup(void **st)
{
    (void)st;
    signal(SIGPIPE, SIG_IGN);
    bk_ndaemons = 0;
    bk_nfds = 0;
    return 0;
}

/* Closes every connection, stops brokers first (they unregister from the name server),
 * then name servers; fails when a daemon did not exit 0 on SIGTERM. */
static inline int bk_teardown(void **st)
{
    (void)st;
    int rc = 0;
    while (bk_nfds) {
        int fd = bk_fds[--bk_nfds];
        kb_forget_fd(fd);
        close(fd);
    }
    for (int pass = 1; pass >= 0; pass--) {
        for (int i = 0; i < bk_ndaemons; i++) {
            kt_daemon *d = &bk_daemons[i];
            if (bk_is_broker[i] != pass || d->pid <= 0) continue;
            int r = kt_stop(d->pid, 10000);
            d->pid = 0;
            if (r != 0) {
                fprintf(stderr, "%s did not exit cleanly (status %d)\n",
                        pass ? "kite-broker" : "kite-namesrv", r);
                bk_dump_log(d);
                rc = -1;
            }
        }
    }
    bk_ndaemons = 0;
    return rc;
}

/* Asserts a call answers `want` (remark printed when it does not). */
static inline void bk_expect(int fd, int code, const char *ext, const void *body, size_t blen,
                             int want)
{
    kite_cmd r;
    assert_int_equal(kb_call(fd, code, ext, body, blen, &r), 0);
    if (r.code != want)
        fprintf(stderr, "code %d: want %d got %d (%s)\n", code, want, r.code,
                r.remark ? r.remark : "");
    assert_int_equal(r.code, want);
    kite_cmd_free(&r);
}

/* Sends one message with SEND_MESSAGE_V2; asserts code 0; returns the queue offset and
 * the commit-log offset decoded from msgId (phys may be NULL). */
static inline int64_t bk_send_ok(int fd, const char *topic, int qid, const char *props_json,
                                 const char *body, int64_t *phys)
{
    kite_cmd r;
    assert_int_equal(kb_send_v2(fd, topic, qid, props_json, body, strlen(body), &r), 0);
    if (r.code != 0)
        fprintf(stderr, "send to %s: %d %s\n", topic, r.code, r.remark ? r.remark : "");
    assert_int_equal(r.code, 0);
    const char *id = kite_cmd_ext(&r, "msgId");
    assert_non_null(id);
    assert_int_equal(strlen(id), 32);
    if (phys) *phys = (int64_t)strtoull(id + 16, NULL, 16);
    int64_t q = kb_ext_i64(&r, "queueOffset");
    kite_cmd_free(&r);
    return q;
}

/* A half message (SEND_MESSAGE_V2, sysFlag 4, TRAN_MSG + PGROUP + UNIQ_KEY, then
 * props_tail: more properties as JSON string text, may be "") to topic/qid. Asserts code
 * 0 and transactionId = uniq; returns the queue offset in the half topic and the
 * commit-log offset in *phys. */
static inline int64_t bk_send_half(int fd, const char *group, const char *topic, int qid, int flag,
                                   const char *uniq, const char *props_tail, const char *body,
                                   int64_t *phys)
{
    char props[1024], ext[2048];
    snprintf(props, sizeof props,
             "TRAN_MSG\\u0001true\\u0002PGROUP\\u0001%s\\u0002UNIQ_KEY\\u0001%s\\u0002%s", group,
             uniq, props_tail);
    snprintf(
        ext, sizeof ext,
        "\"a\":\"%s\",\"b\":\"%s\",\"c\":\"TBW102\",\"d\":\"4\",\"e\":\"%d\",\"f\":\"4\",\"g\":\"%" PRId64
        "\",\"h\":\"%d\",\"i\":\"%s\",\"j\":\"0\",\"k\":\"false\",\"m\":\"false\"",
        group, topic, qid, kb_wall_ms(), flag, props);
    kite_cmd r;
    assert_int_equal(kb_call(fd, 310, ext, body, strlen(body), &r), 0);
    if (r.code != 0) fprintf(stderr, "half send: %d %s\n", r.code, r.remark ? r.remark : "");
    assert_int_equal(r.code, 0);
    const char *id = kite_cmd_ext(&r, "msgId");
    assert_non_null(id);
    assert_int_equal(strlen(id), 32);
    *phys = (int64_t)strtoull(id + 16, NULL, 16);
    assert_string_equal(kite_cmd_ext(&r, "transactionId"), uniq);
    int64_t q = kb_ext_i64(&r, "queueOffset");
    assert_true(q >= 0);
    kite_cmd_free(&r);
    return q;
}

/* Consume queues are built asynchronously after the send is acknowledged (as in Java):
 * waits (KT_DEADLINE_MS at most) until GET_MAX_OFFSET of (topic, qid) reaches want. */
static inline void bk_wait_max(int fd, const char *topic, int qid, int64_t want)
{
    long long t0 = kt_now_ms();
    int64_t got;
    while ((got = kb_lookup(fd, 30, topic, qid, NULL, "offset")) < want &&
           kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(2000);
    if (got != want)
        fprintf(stderr, "max offset of %s/%d: want %lld got %lld\n", topic, qid, (long long)want,
                (long long)got);
    assert_int_equal(got, want);
}

/* Polls GET_ROUTEINFO_BY_TOPIC on the name server until code 0; returns ms waited or -1. */
static inline long long bk_wait_route(const kt_daemon *ns, const char *topic, int timeout_ms,
                                      char *body, size_t cap)
{
    int fd = bk_conn(ns);
    char ext[256];
    snprintf(ext, sizeof ext, "\"topic\":\"%s\"", topic);
    long long t0 = kt_now_ms();
    long long waited = -1;
    while (kt_now_ms() - t0 <= timeout_ms) {
        kite_cmd r;
        assert_int_equal(kb_call(fd, 105, ext, NULL, 0, &r), 0);
        if (r.code == 0) {
            snprintf(body, cap, "%s", kt_body(&r));
            kite_cmd_free(&r);
            waited = kt_now_ms() - t0;
            break;
        }
        assert_int_equal(r.code, 17);
        kite_cmd_free(&r);
        usleep(10000);
    }
    bk_close(fd);
    return waited;
}

/* Asserts the four pull fields are present and offsetDelta is not. */
static inline void bk_check_pull_fields(const kite_cmd *r)
{
    assert_true(kb_ext_i64(r, "nextBeginOffset") != INT64_MIN);
    assert_true(kb_ext_i64(r, "minOffset") != INT64_MIN);
    assert_true(kb_ext_i64(r, "maxOffset") != INT64_MIN);
    assert_int_equal(kb_ext_i64(r, "suggestWhichBrokerId"), 0);
    assert_null(kite_cmd_ext(r, "offsetDelta"));
}

/* The local address of a connection as the broker sees it (IPv4 + port). */
static inline void bk_local_addr(int fd, uint8_t ip[4], int *port)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    memcpy(ip, &a.sin_addr.s_addr, 4);
    *port = ntohs(a.sin_port);
}

/* The 32-hex offset message id the broker d must produce for commit-log offset phys. */
static inline void bk_expect_msgid(const kt_daemon *d, int64_t phys, char out[33])
{
    struct in_addr ia;
    assert_int_equal(inet_pton(AF_INET, d->host, &ia), 1);
    const uint8_t *ip = (const uint8_t *)&ia.s_addr;
    snprintf(out, 33, "%02X%02X%02X%02X%08X%016llX", ip[0], ip[1], ip[2], ip[3], (unsigned)d->port,
             (unsigned long long)phys);
}

#endif
