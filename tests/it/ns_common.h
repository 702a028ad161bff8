/* ns_common.h - shared fixture for the kite-namesrv integration tests (it_namesrv_*.c):
 * starting name servers that are always stopped by PID in the test's teardown (their
 * exit status is checked: a clean SIGTERM shutdown must exit 0, which under the
 * sanitizer build also means no leak or memory error in the daemon), and requests
 * whose JSON headers are written here as text, never produced by our encoder.
 * Helpers are prefixed nt_ (the name server's own API uses ns_). Include after <cmocka.h>. */
#ifndef KITE_TESTS_NS_COMMON_H
#define KITE_TESTS_NS_COMMON_H

#include "kt.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NS_MAX_DAEMONS 4
#define NS_MAX_FDS     64

static kt_daemon nt_daemons[NS_MAX_DAEMONS];
static int nt_ndaemons;
static int nt_fds[NS_MAX_FDS];
static int nt_nfds;
static int nt_opaque = 1000;

/* After a failed start: reaps the process if it died (kt_wait_port reaped it already
 * then), stops it if it still runs, and forgets its PID. */
static inline void nt_forget_failed(kt_daemon *d)
{
    if (d->pid > 0 && waitpid(d->pid, NULL, WNOHANG) == 0) kt_stop(d->pid, 5000);
    d->pid = 0;
}

/* Starts d (d->dir reused when set); 0 or -1, never leaving a PID behind on failure. */
static inline int nt_try_start(kt_daemon *d, const char *extra)
{
    int r = kt_namesrv_start(d, extra);
    if (r != 0) {
        fprintf(stderr, "namesrv start failed, log in %s\n", d->log);
        nt_forget_failed(d);
    }
    return r;
}

/* A new slot, registered for teardown (directory not created yet). */
static inline kt_daemon *nt_slot(void)
{
    assert_true(nt_ndaemons < NS_MAX_DAEMONS);
    kt_daemon *d = &nt_daemons[nt_ndaemons++];
    memset(d, 0, sizeof *d);
    return d;
}

/* Starts a name server with extra config lines; registered for teardown. */
static inline kt_daemon *nt_start(const char *extra)
{
    kt_daemon *d = nt_slot();
    assert_int_equal(nt_try_start(d, extra), 0);
    return d;
}

/* Restarts d with the same directory (same KV file) and new extra config. */
static inline void nt_restart(kt_daemon *d, const char *extra)
{
    int st = kt_stop(d->pid, 5000);
    d->pid = 0;
    assert_int_equal(st, 0);
    assert_int_equal(nt_try_start(d, extra), 0);
}

/* Opens a connection to d; closed in teardown unless closed earlier with nt_close. */
static inline int nt_conn(const kt_daemon *d)
{
    int fd = kt_connect(d->host, d->port);
    assert_true(fd >= 0);
    assert_true(nt_nfds < NS_MAX_FDS);
    nt_fds[nt_nfds++] = fd;
    return fd;
}

static inline void nt_close(int fd)
{
    for (int i = 0; i < nt_nfds; i++) {
        if (nt_fds[i] == fd) {
            nt_fds[i] = nt_fds[--nt_nfds];
            break;
        }
    }
    close(fd);
}

static inline int nt_setup(void **st)
{
    (void)st;
    signal(SIGPIPE, SIG_IGN);
    nt_ndaemons = 0;
    nt_nfds = 0;
    return 0;
}

/* Closes every connection and stops every daemon by PID; fails when a daemon did not
 * exit 0 on SIGTERM (crash, sanitizer report, unclean shutdown). */
static inline int nt_teardown(void **st)
{
    (void)st;
    int rc = 0;
    while (nt_nfds) close(nt_fds[--nt_nfds]);
    for (int i = 0; i < nt_ndaemons; i++) {
        kt_daemon *d = &nt_daemons[i];
        if (d->pid <= 0) continue;
        int r = kt_stop(d->pid, 5000);
        d->pid = 0;
        if (r != 0) {
            fprintf(stderr, "kite-namesrv did not exit cleanly (status %d)\n", r);
            kt_dump_log(d->log, 1L << 20);
            rc = -1;
        }
    }
    nt_ndaemons = 0;
    return rc;
}

/* Sends one request: JSON header text {"code":..,"extFields":{<ext>},"flag":<flag>,...}
 * and returns the opaque it used. */
static inline int nt_send(int fd, int code, int version, int flag, const char *ext,
                          const void *body, size_t blen)
{
    char h[8192];
    int op = ++nt_opaque;
    int n =
        snprintf(h, sizeof h,
                 "{\"code\":%d,\"extFields\":{%s},\"flag\":%d,\"language\":\"JAVA\",\"opaque\":%d,"
                 "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":%d}",
                 code, ext ? ext : "", flag, op, version);
    assert_true(n > 0 && (size_t)n < sizeof h);
    assert_int_equal(kt_send_json(fd, h, body, blen), 0);
    return op;
}

/* Request + answer: checks the answer is a JSON-header response with the same opaque. */
static inline void nt_req(int fd, int code, int version, const char *ext, const void *body,
                          size_t blen, kite_cmd *resp)
{
    int op = nt_send(fd, code, version, 0, ext, body, blen);
    assert_int_equal(kt_read_frame(fd, resp, KT_DEADLINE_MS), 0);
    assert_int_equal(resp->opaque, op);
    assert_int_equal(resp->flag & 1, 1);
    assert_int_equal(resp->serialize, 0);
}

/* Request that must answer `code`; the answer is freed. */
static inline void nt_expect(int fd, int code, int version, const char *ext, const void *body,
                             size_t blen, int want)
{
    kite_cmd r;
    nt_req(fd, code, version, ext, body, blen, &r);
    if (r.code != want)
        fprintf(stderr, "code %d: got %d remark %s\n", code, r.code,
                r.remark ? r.remark : "(none)");
    assert_int_equal(r.code, want);
    kite_cmd_free(&r);
}

/* One TopicConfig entry of a topicConfigTable, as a Java broker writes it. */
static inline void nt_topic_json(char *out, size_t n, const char *topic, int queues, int perm)
{
    snprintf(
        out, n,
        "\"%s\":{\"order\":false,\"perm\":%d,\"readQueueNums\":%d,\"topicFilterType\":\"SINGLE_TAG\","
        "\"topicName\":\"%s\",\"topicSysFlag\":0,\"writeQueueNums\":%d}",
        topic, perm, queues, topic, queues);
}

/* RegisterBrokerBody JSON with dataVersion {counter, timestamp 1700000000000}. */
static inline void nt_body_json(char *out, size_t n, long counter, const char *topic_table)
{
    snprintf(
        out, n,
        "{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{\"dataVersion\":{\"counter\":%ld,"
        "\"timestamp\":1700000000000},\"topicConfigTable\":{%s}}}",
        counter, topic_table);
}

/* REGISTER_BROKER (103) with a plain JSON body; version 409 like a 4.9.8 broker. */
static inline void nt_register(int fd, const char *cluster, const char *name, int id,
                               const char *addr, const char *ha, const char *body, kite_cmd *resp)
{
    char ext[1024];
    snprintf(
        ext, sizeof ext,
        "\"brokerAddr\":\"%s\",\"brokerId\":\"%d\",\"brokerName\":\"%s\",\"clusterName\":\"%s\","
        "\"compressed\":\"false\",\"haServerAddr\":\"%s\"",
        addr, id, name, cluster, ha);
    nt_req(fd, 103, 409, ext, body, body ? strlen(body) : 0, resp);
    if (resp->code != 0)
        fprintf(stderr, "register %s: %d %s\n", addr, resp->code, resp->remark ? resp->remark : "");
    assert_int_equal(resp->code, 0);
}

/* Registers and checks the reply carries no masterAddr/haServerAddr and no body. */
static inline void nt_register_plain(int fd, const char *cluster, const char *name, int id,
                                     const char *addr, const char *ha, const char *body)
{
    kite_cmd r;
    nt_register(fd, cluster, name, id, addr, ha, body, &r);
    kite_cmd_free(&r);
}

/* GET_ROUTEINFO_BY_TOPIC (105); ext_extra is appended to the topic field (may be ""). */
static inline void nt_route(int fd, const char *topic, int version, const char *ext_extra,
                            kite_cmd *resp)
{
    char ext[512];
    snprintf(ext, sizeof ext, "\"topic\":\"%s\"%s", topic, ext_extra ? ext_extra : "");
    nt_req(fd, 105, version, ext, NULL, 0, resp);
}

/* Asserts the route body of topic (version 479 = quoted keys) equals want. */
static inline void nt_expect_route(int fd, const char *topic, int version, const char *ext_extra,
                                   const char *want)
{
    kite_cmd r;
    nt_route(fd, topic, version, ext_extra, &r);
    if (r.code != 0) fprintf(stderr, "route %s: %d %s\n", topic, r.code, r.remark ? r.remark : "");
    assert_int_equal(r.code, 0);
    assert_string_equal(kt_body(&r), want);
    kite_cmd_free(&r);
}

/* Answer code of a route request. */
static inline int nt_route_code(int fd, const char *topic)
{
    kite_cmd r;
    nt_route(fd, topic, 409, "", &r);
    int c = r.code;
    kite_cmd_free(&r);
    return c;
}

/* Polls until the route of topic answers `code`; returns the ms waited, or -1. */
static inline long long nt_wait_route_code(int fd, const char *topic, int code, int timeout_ms)
{
    long long t0 = kt_now_ms();
    for (;;) {
        if (nt_route_code(fd, topic) == code) return kt_now_ms() - t0;
        if (kt_now_ms() - t0 > timeout_ms) return -1;
        usleep(20000);
    }
}

/* Body of a no-extFields request (e.g. 106, 206) as a string; asserts code 0. */
static inline void nt_expect_body(int fd, int code, const char *ext, const char *want)
{
    kite_cmd r;
    nt_req(fd, code, 409, ext, NULL, 0, &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kt_body(&r), want);
    kite_cmd_free(&r);
}

#endif
