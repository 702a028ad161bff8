/* test_rpc.c - RPC server and client over loopback in one process: sync/async/oneway
 * calls, many requests in flight on one connection, out-of-order answers (a slow
 * request never blocks a fast one behind it), replies from another thread, timeouts
 * and late replies, reconnect after the server drops the connection, unknown codes,
 * connection refused, requests sent by the server to the client, and the in-flight limit
 * (reading pauses at serverMaxInflightRequests unfinished requests, resumes at half). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "kt.h"
#include "proto/codes.h"
#include "rpc/client.h"
#include "rpc/pending.h"
#include "rpc/server.h"
#include "net/sock.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    C_ECHO = 1000,
    C_SLOW = 1001,
    C_NEVER = 1002,
    C_CLOSE = 1003,
    C_CALLBACK = 1004,
    C_ONEWAY = 1005
};

typedef struct env {
    kite_ev *ev;
    kite_rpc_server *srv;
    pthread_t th;
    int port;
    char addr[64];
    atomic_int oneway_seen;
    kite_rpc_req *parked[64]; /* C_NEVER requests, finished at teardown */
    int nparked;
} env;

static void h_echo(kite_rpc_req *req, void *arg)
{
    (void)arg;
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, kite_cmd_ext(&req->cmd, "v"));
    kite_cmd_set_body_copy(&resp, req->cmd.body, req->cmd.body_len);
    kite_rpc_reply(req, &resp);
}

static void *slow_thread(void *arg)
{
    kite_rpc_req *req = arg;
    kite_sleep_ms(300);
    kite_rpc_reply_code(req, RS_SUCCESS, "slow"); /* from a foreign thread */
    return NULL;
}

static void h_slow(kite_rpc_req *req, void *arg)
{
    (void)arg;
    pthread_t t;
    pthread_create(&t, NULL, slow_thread, req);
    pthread_detach(t);
}

static void h_never(kite_rpc_req *req, void *arg)
{
    env *e = arg;
    e->parked[e->nparked++] = req;
}

static void h_close(kite_rpc_req *req, void *arg)
{
    (void)arg;
    kite_conn_close(req->conn, "test asked to close");
    kite_rpc_reply_code(req, RS_SUCCESS, "too late"); /* dropped: connection closed */
}

static void h_oneway(kite_rpc_req *req, void *arg)
{
    env *e = arg;
    atomic_fetch_add(&e->oneway_seen, 1);
    kite_rpc_reply_code(req, RS_SUCCESS, "must not be sent");
}

static void callback_done(int status, kite_cmd *resp, void *arg)
{
    kite_rpc_req *orig = arg;
    char remark[128];
    snprintf(remark, sizeof remark, "client said %s (status %d)",
             resp && resp->remark ? resp->remark : "-", status);
    kite_rpc_reply_code(orig, status == KITE_OK ? RS_SUCCESS : RS_SYSTEM_ERROR, remark);
}

static void h_callback(kite_rpc_req *req, void *arg)
{
    (void)arg;
    kite_cmd call;
    kite_cmd_init_request(&call, RC_NOTIFY_CONSUMER_IDS_CHANGED, 0);
    kite_cmd_set_ext(&call, "consumerGroup", "g1");
    kite_rpc_server_call(req->srv, req->conn, &call, 2000, callback_done, req);
}

static void *srv_main(void *arg)
{
    env *e = arg;
    kite_ev_run(e->ev);
    return NULL;
}

static void finish_parked(void *arg)
{
    env *e = arg;
    for (int i = 0; i < e->nparked; i++) kite_rpc_done(e->parked[i]);
    e->nparked = 0;
    kite_rpc_server_free(e->srv);
    kite_ev_stop(e->ev);
}

static int setup(void **st)
{
    kite_log_set_level(KITE_LOG_WARN);
    env *e = calloc(1, sizeof *e);
    e->ev = kite_ev_new();
    kite_rpc_server_opts o = { .idle_timeout_ms = 0 };
    e->srv = kite_rpc_server_new(e->ev, &o);
    char err[128];
    e->port = kite_rpc_server_listen(e->srv, "127.0.0.1", 0, err, sizeof err);
    assert_true(e->port > 0);
    snprintf(e->addr, sizeof e->addr, "127.0.0.1:%d", e->port);
    kite_rpc_server_handle(e->srv, C_ECHO, h_echo, e);
    kite_rpc_server_handle(e->srv, C_SLOW, h_slow, e);
    kite_rpc_server_handle(e->srv, C_NEVER, h_never, e);
    kite_rpc_server_handle(e->srv, C_CLOSE, h_close, e);
    kite_rpc_server_handle(e->srv, C_CALLBACK, h_callback, e);
    kite_rpc_server_handle(e->srv, C_ONEWAY, h_oneway, e);
    pthread_create(&e->th, NULL, srv_main, e);
    *st = e;
    return 0;
}

static int teardown(void **st)
{
    env *e = *st;
    kite_ev_post(e->ev, finish_parked, e);
    pthread_join(e->th, NULL);
    kite_ev_free(e->ev);
    free(e);
    return 0;
}

static int call_echo(kite_rpc_client *c, const char *addr, const char *v, kite_cmd *resp)
{
    kite_cmd req;
    kite_cmd_init_request(&req, C_ECHO, 0);
    kite_cmd_set_ext(&req, "v", v);
    kite_cmd_set_body_copy(&req, v, strlen(v));
    return kite_rpc_call_sync(c, addr, &req, 2000, resp);
}

static void test_sync_and_unknown_code(void **st)
{
    env *e = *st;
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    kite_cmd resp;
    assert_int_equal(call_echo(c, e->addr, "hello", &resp), KITE_OK);
    assert_string_equal(resp.remark, "hello");
    assert_int_equal(resp.body_len, 5);
    assert_memory_equal(resp.body, "hello", 5);
    assert_true(kite_cmd_is_response(&resp));
    kite_cmd_free(&resp);
    kite_cmd req;
    kite_cmd_init_request(&req, 3999, 0);
    assert_int_equal(kite_rpc_call_sync(c, e->addr, &req, 2000, &resp), KITE_OK);
    assert_int_equal(resp.code, RS_REQUEST_CODE_NOT_SUPPORTED);
    assert_string_equal(resp.remark, " request type 3999 not supported");
    kite_cmd_free(&resp);
    kite_rpc_client_free(c);
}

typedef struct counter {
    atomic_int ok, bad;
    atomic_int order[4];
    atomic_int seq;
} counter;

static void count_cb(int status, kite_cmd *resp, void *arg)
{
    counter *k = arg;
    if (status == KITE_OK && resp->code == RS_SUCCESS)
        atomic_fetch_add(&k->ok, 1);
    else
        atomic_fetch_add(&k->bad, 1);
}

static void test_many_in_flight(void **st)
{
    env *e = *st;
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    counter k;
    memset(&k, 0, sizeof k);
    for (int i = 0; i < 2000; i++) {
        kite_cmd req;
        kite_cmd_init_request(&req, C_ECHO, 0);
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        kite_cmd_set_ext(&req, "v", v);
        kite_rpc_call_async(c, e->addr, &req, 5000, count_cb, &k);
    }
    for (int i = 0; i < 500 && atomic_load(&k.ok) + atomic_load(&k.bad) < 2000; i++)
        kite_sleep_ms(10);
    assert_int_equal(atomic_load(&k.ok), 2000);
    assert_int_equal(atomic_load(&k.bad), 0);
    kite_rpc_client_free(c);
}

static void order_cb(int status, kite_cmd *resp, void *arg)
{
    counter *k = arg;
    int idx = (resp && resp->remark && strcmp(resp->remark, "slow") == 0) ? 1 : 0;
    if (status == KITE_OK) atomic_store(&k->order[idx], atomic_fetch_add(&k->seq, 1) + 1);
}

static void test_out_of_order(void **st)
{
    env *e = *st;
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    counter k;
    memset(&k, 0, sizeof k);
    kite_cmd req;
    kite_cmd_init_request(&req, C_SLOW, 0);
    kite_rpc_call_async(c, e->addr, &req, 5000, order_cb, &k);
    kite_cmd_init_request(&req, C_ECHO, 0);
    kite_cmd_set_ext(&req, "v", "fast");
    kite_rpc_call_async(c, e->addr, &req, 5000, order_cb, &k);
    for (int i = 0; i < 300 && atomic_load(&k.seq) < 2; i++) kite_sleep_ms(10);
    assert_int_equal(atomic_load(&k.seq), 2);
    assert_int_equal(atomic_load(&k.order[0]), 1); /* the fast one answered first */
    assert_int_equal(atomic_load(&k.order[1]), 2);
    kite_rpc_client_free(c);
}

static void test_timeout_then_reconnect(void **st)
{
    env *e = *st;
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, C_NEVER, 0);
    int64_t t0 = kite_mono_ms();
    assert_int_equal(kite_rpc_call_sync(c, e->addr, &req, 200, &resp), KITE_ETIMEDOUT);
    assert_true(kite_mono_ms() - t0 >= 190);
    /* The server drops the connection: the call fails, the next one reconnects. */
    kite_cmd_init_request(&req, C_CLOSE, 0);
    assert_int_equal(kite_rpc_call_sync(c, e->addr, &req, 2000, &resp), KITE_ECLOSED);
    assert_int_equal(call_echo(c, e->addr, "again", &resp), KITE_OK);
    assert_string_equal(resp.remark, "again");
    kite_cmd_free(&resp);
    kite_rpc_client_free(c);
}

static void test_oneway_gets_no_answer(void **st)
{
    env *e = *st;
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    int before = atomic_load(&e->oneway_seen);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, C_ONEWAY, 0);
    kite_rpc_oneway(c, e->addr, &req);
    /* An echo behind it proves the oneway was processed first and nothing else came. */
    assert_int_equal(call_echo(c, e->addr, "after", &resp), KITE_OK);
    assert_string_equal(resp.remark, "after");
    kite_cmd_free(&resp);
    assert_int_equal(atomic_load(&e->oneway_seen), before + 1);
    kite_rpc_client_free(c);
}

static void client_notify(kite_rpc_req *req, void *arg)
{
    atomic_int *seen = arg;
    if (strcmp(kite_cmd_ext(&req->cmd, "consumerGroup"), "g1") == 0) atomic_fetch_add(seen, 1);
    kite_rpc_reply_code(req, RS_SUCCESS, "rebalanced");
}

static void test_server_calls_client(void **st)
{
    env *e = *st;
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    atomic_int seen = 0;
    kite_rpc_client_handle(c, RC_NOTIFY_CONSUMER_IDS_CHANGED, client_notify, &seen);
    kite_cmd req, resp;
    kite_cmd_init_request(&req, C_CALLBACK, 0);
    assert_int_equal(kite_rpc_call_sync(c, e->addr, &req, 3000, &resp), KITE_OK);
    assert_int_equal(resp.code, RS_SUCCESS);
    assert_string_equal(resp.remark, "client said rebalanced (status 0)");
    assert_int_equal(atomic_load(&seen), 1);
    kite_cmd_free(&resp);
    kite_rpc_client_free(c);
}

static void test_connect_refused_and_bad_addr(void **st)
{
    (void)st;
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    char err[64];
    int port = 0;
    int fd = kite_sock_listen("127.0.0.1", 0, &port, err, sizeof err);
    assert_true(fd >= 0);
    close(fd); /* nothing listens there now: connect is refused */
    kite_cmd req, resp;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    kite_cmd_init_request(&req, C_ECHO, 0);
    /* refused: fails as closed, not as a call that waited out its (long) timeout */
    assert_int_equal(kite_rpc_call_sync(c, addr, &req, KT_DEADLINE_MS, &resp), KITE_ECLOSED);
    kite_cmd_init_request(&req, C_ECHO, 0);
    assert_int_equal(kite_rpc_call_sync(c, "not-an-address", &req, 1000, &resp), KITE_ECLOSED);
    kite_rpc_client_free(c);
}

/* The pending table's timeouts: one sweep timer for all entries. Deadlines added out of
 * order (a short one after long ones re-arms the sweep), answers before the deadline,
 * and entries added from a timeout callback: each callback runs exactly once, never
 * before its deadline, and an answered entry never times out. Order, not speed: the
 * loop runs due timers in the order of their due times, so a check timer due at 250 ms
 * runs after the sweeps for the 50 and 150 ms deadlines however late the loop wakes
 * (a sweep armed only for the first entry, 400 ms, would run after it). */
typedef struct pend_rec {
    int64_t t0, timeout;
    int calls, status;
    int64_t at;
} pend_rec;

typedef struct pend_env {
    kite_ev *ev;
    kite_rpc_pending *p;
    pend_rec r[6];
    int checked; /* pend_check ran */
} pend_env;

static pend_env *g_pe; /* the test's state for the callbacks below (single-threaded test) */

static void pend_cb(int status, kite_cmd *resp, void *arg)
{
    pend_rec *r = arg;
    (void)resp;
    r->calls++;
    r->status = status;
    r->at = kite_mono_ms();
    if (r == &g_pe->r[1]) { /* a timeout callback that adds a new call */
        g_pe->r[5].t0 = kite_mono_ms();
        g_pe->r[5].timeout = 60;
        kite_rpc_pending_add(g_pe->p, 7, 5, 60, pend_cb, &g_pe->r[5]);
    }
}

static void pend_answer(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    kite_cmd resp;
    kite_cmd_init(&resp);
    resp.opaque = (int32_t)(intptr_t)arg;
    assert_int_equal(kite_rpc_pending_complete(g_pe->p, 7, &resp), 1);
    assert_int_equal(kite_rpc_pending_complete(g_pe->p, 7, &resp), 0); /* only once */
}

static void pend_check(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    (void)arg;
    assert_int_equal(g_pe->r[2].calls, 1); /* 50 ms */
    assert_int_equal(g_pe->r[1].calls, 1); /* 150 ms */
    g_pe->checked = 1;
}

/* Every 10 ms: stops the loop once every entry's callback ran (or at KT_DEADLINE_MS). */
static void pend_stop(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)t;
    int64_t start = (int64_t)(intptr_t)arg;
    int done = 1;
    for (int i = 0; i < 6; i++) done &= g_pe->r[i].calls > 0;
    if (done || kite_mono_ms() - start > KT_DEADLINE_MS) kite_ev_stop(ev);
}

static void test_pending_timeouts(void **st)
{
    (void)st;
    pend_env pe;
    memset(&pe, 0, sizeof pe);
    g_pe = &pe;
    pe.ev = kite_ev_new();
    pe.p = kite_rpc_pending_new(pe.ev);
    /* [3] and [4] are answered (at 20 and 100 ms); [3]'s answer is due before any sweep,
     * [4]'s deadline is far beyond any stall of the loop */
    static const int64_t tmo[5] = { 400, 150, 50, 300, 30000 };
    int64_t start = kite_mono_ms();
    for (int i = 0; i < 5; i++) {
        pe.r[i].t0 = kite_mono_ms();
        pe.r[i].timeout = tmo[i];
        kite_rpc_pending_add(pe.p, 7, i, tmo[i], pend_cb, &pe.r[i]);
    }
    assert_int_equal(kite_rpc_pending_count(pe.p), 5);
    kite_ev_timer_add(pe.ev, 20, 0, pend_answer, (void *)(intptr_t)3);
    kite_ev_timer_add(pe.ev, 100, 0, pend_answer, (void *)(intptr_t)4);
    kite_ev_timer_add(pe.ev, 250, 0, pend_check, NULL);
    kite_ev_timer_add(pe.ev, 10, 10, pend_stop, (void *)(intptr_t)start);
    kite_ev_run(pe.ev);
    assert_true(pe.checked);
    for (int i = 0; i < 6; i++) {
        pend_rec *r = &pe.r[i];
        assert_int_equal(r->calls, 1);
        if (i == 3 || i == 4) {
            assert_int_equal(r->status, KITE_OK);
            continue;
        }
        assert_int_equal(r->status, KITE_ETIMEDOUT);
        assert_true(r->at - r->t0 >= r->timeout);
    }
    assert_int_equal(kite_rpc_pending_count(pe.p), 0);
    /* Freeing the table fails what is left, once. */
    pe.r[0].calls = 0;
    kite_rpc_pending_add(pe.p, 8, 1, 10000, pend_cb, &pe.r[0]);
    kite_rpc_pending_free(pe.p);
    assert_int_equal(pe.r[0].calls, 1);
    assert_int_equal(pe.r[0].status, KITE_ECLOSED);
    kite_ev_free(pe.ev);
    g_pe = NULL;
}

/* The table under a long random mix of adds, answers and connection failures, against a
 * list of what must be in it: removals move entries (no tombstones), so every entry must
 * stay findable across wrap-around, growth and removals from the middle of probe runs. */
typedef struct churn_rec {
    int calls, status;
} churn_rec;

static void churn_cb(int status, kite_cmd *resp, void *arg)
{
    churn_rec *r = arg;
    (void)resp;
    r->calls++;
    r->status = status;
}

/* ---- in-flight limit ---- */
typedef struct hold_env {
    pthread_mutex_t mu;
    kite_rpc_req *held[16];
    int nheld;
    atomic_int seen; /* C_NEVER handler calls */
} hold_env;

static void h_hold(kite_rpc_req *req, void *arg)
{
    hold_env *h = arg;
    pthread_mutex_lock(&h->mu);
    h->held[h->nheld++] = req;
    pthread_mutex_unlock(&h->mu);
    atomic_fetch_add(&h->seen, 1);
}

static void finish_held(hold_env *h, int n)
{
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < n && h->nheld > 0; i++) kite_rpc_done(h->held[--h->nheld]);
    pthread_mutex_unlock(&h->mu);
}

static int wait_seen(hold_env *h, int n)
{
    int64_t end = kite_mono_ms() + KT_DEADLINE_MS;
    while (atomic_load(&h->seen) < n && kite_mono_ms() < end) kite_sleep_ms(5);
    return atomic_load(&h->seen);
}

static void stop_loop(void *arg) { kite_ev_stop(arg); }

/* 10 held requests then an echo on one connection. With max_inflight=4 the server reads
 * 4, stops reading, and goes on only as held ones finish (at 2 left); the echo behind
 * them is answered last. Control (limit 0): all 10 reach the handler and the echo is
 * answered while they are all still held. */
static void inflight_case(int limit)
{
    hold_env h;
    memset(&h, 0, sizeof h);
    pthread_mutex_init(&h.mu, NULL);
    kite_ev *ev = kite_ev_new();
    kite_rpc_server_opts o = { .max_inflight = limit };
    kite_rpc_server *srv = kite_rpc_server_new(ev, &o);
    char err[128], addr[64];
    int port = kite_rpc_server_listen(srv, "127.0.0.1", 0, err, sizeof err);
    assert_true(port > 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    kite_rpc_server_handle(srv, C_NEVER, h_hold, &h);
    kite_rpc_server_handle(srv, C_ECHO, h_echo, NULL);
    pthread_t th;
    env fake = { .ev = ev };
    pthread_create(&th, NULL, srv_main, &fake);
    kite_rpc_client *c = kite_rpc_client_new(NULL);
    counter held_k, echo_k;
    memset(&held_k, 0, sizeof held_k);
    memset(&echo_k, 0, sizeof echo_k);
    for (int i = 0; i < 10; i++) {
        kite_cmd req;
        kite_cmd_init_request(&req, C_NEVER, 0);
        kite_rpc_call_async(c, addr, &req, 60000, count_cb, &held_k);
    }
    kite_cmd req;
    kite_cmd_init_request(&req, C_ECHO, 0);
    kite_cmd_set_ext(&req, "v", "behind");
    kite_rpc_call_async(c, addr, &req, 60000, count_cb, &echo_k);
    if (limit == 0) {
        assert_int_equal(wait_seen(&h, 10), 10);
        int64_t end = kite_mono_ms() + KT_DEADLINE_MS;
        while (atomic_load(&echo_k.ok) == 0 && kite_mono_ms() < end) kite_sleep_ms(5);
        assert_int_equal(atomic_load(&echo_k.ok), 1);
        assert_int_equal(atomic_load(&held_k.ok) + atomic_load(&held_k.bad), 0);
        finish_held(&h, 10);
    } else {
        assert_int_equal(wait_seen(&h, limit), limit);
        kite_sleep_ms(300); /* the rest was sent; the server must not have read it */
        assert_int_equal(atomic_load(&h.seen), limit);
        assert_int_equal(atomic_load(&echo_k.ok), 0);
        finish_held(&h, limit / 2 - 1); /* still above half: reading stays paused */
        kite_sleep_ms(300);
        assert_int_equal(atomic_load(&h.seen), limit);
        finish_held(&h, 1); /* at half: reading resumes until the limit again */
        assert_int_equal(wait_seen(&h, limit + limit / 2), limit + limit / 2);
        for (int round = 0; round < 10 && atomic_load(&h.seen) < 10; round++) {
            int before = atomic_load(&h.seen);
            finish_held(&h, 16);
            wait_seen(&h, before + 1);
        }
        assert_int_equal(atomic_load(&h.seen), 10);
        finish_held(&h, 16);
        int64_t end = kite_mono_ms() + KT_DEADLINE_MS;
        while (atomic_load(&echo_k.ok) == 0 && kite_mono_ms() < end) kite_sleep_ms(5);
        assert_int_equal(atomic_load(&echo_k.ok), 1);
    }
    kite_rpc_client_free(c);
    kite_ev_post(ev, stop_loop, ev);
    pthread_join(th, NULL);
    kite_rpc_server_free(srv);
    kite_ev_free(ev);
    pthread_mutex_destroy(&h.mu);
}

static void test_inflight_limit(void **st)
{
    (void)st;
    inflight_case(4);
    inflight_case(0); /* control */
}

static void test_pending_churn(void **st)
{
    (void)st;
    enum { N = 20000, CONNS = 3 };
    kite_ev *ev = kite_ev_new();
    kite_rpc_pending *p = kite_rpc_pending_new(ev);
    churn_rec *rec = calloc(N, sizeof *rec);
    int *live = malloc(N * sizeof *live);
    assert_non_null(rec);
    assert_non_null(live);
    size_t nlive = 0, peak = 0;
    uint32_t seed = 12345;
    int next = 0, fails = 0;
    while (next < N || nlive) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = (seed >> 8) % 1000;
        if (next < N && (r < 600 || nlive == 0)) {
            int i = next++;
            kite_rpc_pending_add(p, 1 + (uint64_t)(i % CONNS), i, 60000, churn_cb, &rec[i]);
            live[nlive++] = i;
        } else if (r < 998) {
            size_t k = (seed >> 4) % nlive;
            int i = live[k];
            live[k] = live[--nlive];
            kite_cmd resp;
            kite_cmd_init(&resp);
            resp.opaque = i;
            assert_int_equal(kite_rpc_pending_complete(p, 1 + (uint64_t)(i % CONNS), &resp), 1);
            assert_int_equal(rec[i].calls, 1);
            assert_int_equal(rec[i].status, KITE_OK);
            assert_int_equal(kite_rpc_pending_complete(p, 1 + (uint64_t)(i % CONNS), &resp), 0);
        } else {
            int c = (int)((seed >> 4) % CONNS);
            kite_rpc_pending_fail_conn(p, 1 + (uint64_t)c, KITE_ECLOSED);
            fails++;
            for (size_t k = 0; k < nlive;) {
                int i = live[k];
                if (i % CONNS != c) {
                    k++;
                    continue;
                }
                assert_int_equal(rec[i].calls, 1);
                assert_int_equal(rec[i].status, KITE_ECLOSED);
                live[k] = live[--nlive];
            }
        }
        assert_int_equal(kite_rpc_pending_count(p), nlive);
        if (nlive > peak) peak = nlive;
    }
    for (int i = 0; i < N; i++) assert_int_equal(rec[i].calls, 1);
    assert_true(peak > 200); /* the table grew well beyond its first 64 slots */
    assert_true(fails > 10);
    kite_rpc_pending_free(p);
    kite_ev_free(ev);
    free(rec);
    free(live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_and_unknown_code),
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_timeout_then_reconnect),
        cmocka_unit_test(test_oneway_gets_no_answer),
        cmocka_unit_test(test_server_calls_client),
        cmocka_unit_test(test_connect_refused_and_bad_addr),
        cmocka_unit_test(test_pending_timeouts),
        cmocka_unit_test(test_pending_churn),
        cmocka_unit_test(test_inflight_limit),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, setup, teardown));
}
