/* it_libkite_producer.c - the libkite producer (include/kite/producer.h) against a real
 * kite-namesrv + kite-broker on a random loopback host: sync sends verified by pulling
 * the stored record back with a raw PULL_MESSAGE (properties, keys, tags, UNIQ_KEY,
 * unicode body), zlib compression at the threshold and of a 100 KiB body, 1,000 async
 * callbacks firing exactly once (also when the producer shuts down with sends in
 * flight), oneway, the key selector keeping one queue and order, batch, name-server
 * failover, a broker restart while producing (every acknowledged message pullable
 * afterwards, SYNC_FLUSH), start/stop cycles; and against an in-process fake broker:
 * FLUSH_DISK_TIMEOUT reported and not resent, SYSTEM_BUSY retried, MESSAGE_ILLEGAL not
 * retried. docs/wire.md §5.1, §3.2, §9.3, §5.3, §9.6, §9.8, §12.2, §12.3.
 * Every wait is bounded; daemons are stopped by PID in teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "kt_broker.h"
#include "kite/kite.h"
#include "net/ev.h"
#include "proto/codes.h"
#include "rpc/server.h"
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

typedef struct fx {
    kt_daemon ns, ns2, br;
    char nsaddr[160]; /* "ns;ns2" */
    char braddr[64];
} fx;

static int start_all(fx *f, const char *broker_extra)
{
    memset(f, 0, sizeof *f);
    if (kt_namesrv_start(&f->ns, NULL) != 0 || kt_namesrv_start(&f->ns2, NULL) != 0) return -1;
    snprintf(f->nsaddr, sizeof f->nsaddr, "%s:%d;%s:%d", f->ns.host, f->ns.port, f->ns2.host,
             f->ns2.port);
    if (kt_broker_start(&f->br, f->nsaddr, broker_extra) != 0) return -1;
    snprintf(f->braddr, sizeof f->braddr, "%s:%d", f->br.host, f->br.port);
    if (kt_wait_route(&f->ns, "TBW102", KT_DEADLINE_MS) != 0 ||
        kt_wait_route(&f->ns2, "TBW102", KT_DEADLINE_MS) != 0)
        return -1;
    return 0;
}

static int setup(void **st)
{
    fx *f = calloc(1, sizeof *f);
    *st = f;
    return start_all(f, NULL);
}

static int setup_sync_flush(void **st)
{
    fx *f = calloc(1, sizeof *f);
    *st = f;
    return start_all(f, "flushDiskType=SYNC_FLUSH");
}

static int teardown(void **st)
{
    fx *f = *st;
    if (!f) return 0;
    int rc = 0;
    if (f->br.pid > 0 && kt_stop(f->br.pid, 10000) != 0) rc = -1;
    if (f->ns.pid > 0 && kt_stop(f->ns.pid, 5000) != 0) rc = -1;
    if (f->ns2.pid > 0 && kt_stop(f->ns2.pid, 5000) != 0) rc = -1;
    free(f);
    return rc;
}

static kite_producer *producer_on(const char *ns, int timeout_ms)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = ns;
    o.send_timeout_ms = timeout_ms;
    kite_producer *p = NULL;
    assert_int_equal(kite_producer_create(&p, "lk_test_pg", &o), KITE_OK);
    assert_int_equal(kite_producer_start(p), KITE_OK);
    return p;
}

/* ---- pulling records back ---- */

typedef struct pulled {
    int n;
    kite_record rec[64];
    kite_cmd resp; /* records borrow from its body */
} pulled;

/* Pulls up to max records from offset; waits (wait_ms at most) until max are there, since
 * the broker dispatches to the consume queue after answering the send. */
static int pull_wait(const fx *f, const char *topic, int qid, int64_t offset, int max, pulled *out,
                     int wait_ms)
{
    long long end = kt_now_ms() + wait_ms;
    for (;;) {
        memset(out, 0, sizeof *out);
        int fd = kt_connect(f->br.host, f->br.port);
        if (fd < 0) return -1;
        int rc = kb_pull(fd, "lk_test_cg", topic, qid, offset, max, 4, 0, 0, "*", &out->resp);
        kb_forget_fd(fd);
        close(fd);
        if (rc != 0) return -1;
        if (out->resp.code == 0) {
            out->n = kb_records(out->resp.body, out->resp.body_len, out->rec, 64);
            if (out->n >= max || kt_now_ms() >= end) return out->n;
        }
        kite_cmd_free(&out->resp);
        if (kt_now_ms() >= end) return 0;
        usleep(20 * 1000);
    }
}

static int pull(const fx *f, const char *topic, int qid, int64_t offset, int max, pulled *out)
{
    return pull_wait(f, topic, qid, offset, max, out, KT_DEADLINE_MS);
}

static void pulled_free(pulled *p) { kite_cmd_free(&p->resp); }

static int prop_is(const kite_record *r, const char *name, const char *want)
{
    size_t vl = 0;
    const char *v = kite_msgprop_get(r->props, r->props_len, name, &vl);
    return v && vl == strlen(want) && memcmp(v, want, vl) == 0;
}

static void assert_hex_id(const char *id)
{
    assert_int_equal(strlen(id), 32);
    for (int i = 0; i < 32; i++)
        assert_true(isdigit((unsigned char)id[i]) || (id[i] >= 'A' && id[i] <= 'F'));
}

/* ---- tests ---- */

static void test_status_and_args(void **st)
{
    fx *f = *st;
    static const int codes[] = { KITE_OK,       KITE_ERR,       KITE_ENOMEM,    KITE_EINVAL,
                                 KITE_EIO,      KITE_ENOSPC,    KITE_ETIMEDOUT, KITE_ECLOSED,
                                 KITE_EAGAIN,   KITE_ENOTFOUND, KITE_ETOOBIG,   KITE_ECORRUPT,
                                 KITE_ESTOPPED, KITE_EPROTO };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        assert_string_not_equal(kite_strerror(codes[i]),
                                "unknown status"); /* every kite_status has a text */
    assert_string_equal(kite_send_status_name(KITE_SEND_FLUSH_DISK_TIMEOUT), "FLUSH_DISK_TIMEOUT");

    kite_producer_opts o;
    kite_producer_opts_init(&o);
    assert_int_equal(o.retry_times, 2);
    assert_int_equal(o.compress_threshold, 4096);
    kite_producer *p = NULL;
    assert_int_equal(kite_producer_create(&p, "g", &o), KITE_EINVAL); /* no name server */
    o.namesrv_addr = "nohostport";
    assert_int_equal(kite_producer_create(&p, "g", &o), KITE_EINVAL);
    assert_null(p);
    o.namesrv_addr = f->nsaddr;
    o.max_message_size = 1000;
    assert_int_equal(kite_producer_create(&p, "g", &o), KITE_OK);
    kite_message *m = kite_message_new("LkArgs");
    kite_message_set_body(m, "x", 1);
    kite_send_result r;
    assert_int_equal(kite_producer_send(p, m, &r), KITE_ESTOPPED); /* not started */
    assert_int_equal(kite_producer_start(p), KITE_OK);
    assert_int_equal(kite_message_set_property(m, "TAGS", "x"), KITE_EINVAL); /* managed name */
    assert_int_equal(kite_message_set_property(m, "a\001b", "x"), KITE_EINVAL);
    assert_int_equal(kite_message_set_topic(m, "bad topic!"), KITE_OK);
    assert_int_equal(kite_producer_send(p, m, &r), KITE_EINVAL);
    assert_non_null(strstr(r.error, "topic"));
    kite_message_set_topic(m, "LkArgs");
    kite_message_set_body(m, NULL, 0);
    assert_int_equal(kite_producer_send(p, m, &r), KITE_EINVAL);
    static char big[1001];
    kite_message_set_body_ref(m, big, sizeof big);
    assert_int_equal(kite_producer_send(p, m, &r), KITE_ETOOBIG);
    assert_int_equal(kite_producer_send_async(p, m, NULL, NULL), KITE_EINVAL); /* no callback */
    kite_message_destroy(m);
    kite_producer_destroy(p);
}

static void test_sync_roundtrip(void **st)
{
    fx *f = *st;
    kite_producer *p = producer_on(f->nsaddr, 3000);
    const char *body =
        "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x9a\x80 kite"; /* héllo 世界 🚀 */
    kite_message *m = kite_message_new("LkSync");
    assert_int_equal(kite_message_set_tags(m, "TagA"), KITE_OK);
    assert_int_equal(kite_message_set_keys(m, "k1 k2"), KITE_OK);
    assert_int_equal(kite_message_set_property(m, "color", "blue"), KITE_OK);
    assert_int_equal(kite_message_set_property(m, "\xe5\x90\x8d", "\xe5\x80\xbc"),
                     KITE_OK); /* 名=值 */
    kite_message_set_flag(m, 7);
    assert_int_equal(kite_message_set_body(m, body, strlen(body)), KITE_OK);
    kite_send_result r;
    int rc = kite_producer_send(p, m, &r);
    assert_int_equal(rc, KITE_OK);
    assert_int_equal(r.status, KITE_SEND_OK);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.broker_name, "broker-t");
    assert_hex_id(r.msg_id);
    assert_hex_id(r.offset_msg_id);
    assert_string_equal(r.msg_id, kite_message_msg_id(m));
    char first_id[KITE_ID_MAX];
    snprintf(first_id, sizeof first_id, "%s", r.msg_id);

    pulled pl;
    assert_int_equal(pull(f, "LkSync", r.queue_id, r.queue_offset, 1, &pl), 1);
    const kite_record *rec = &pl.rec[0];
    assert_int_equal(rec->queue_offset, r.queue_offset);
    assert_int_equal(rec->flag, 7);
    assert_int_equal(rec->sysflag & KITE_SYSFLAG_COMPRESSED, 0);
    assert_int_equal(rec->body_len, strlen(body));
    assert_memory_equal(rec->body, body, rec->body_len);
    assert_true(prop_is(rec, "TAGS", "TagA"));
    assert_true(prop_is(rec, "KEYS", "k1 k2"));
    assert_true(prop_is(rec, "color", "blue"));
    assert_true(prop_is(rec, "\xe5\x90\x8d", "\xe5\x80\xbc"));
    assert_true(prop_is(rec, "WAIT", "true"));
    assert_true(prop_is(rec, "UNIQ_KEY", r.msg_id));
    /* offset msg id = store host + port + commit-log offset (docs/wire.md §9.5) */
    char tail[17];
    snprintf(tail, sizeof tail, "%016llX", (unsigned long long)rec->phys_offset);
    assert_string_equal(r.offset_msg_id + 16, tail);
    pulled_free(&pl);

    /* Sending the same object again gives a new id; an application id is kept. */
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    assert_string_not_equal(r.msg_id, first_id);
    assert_int_equal(kite_message_set_property(m, "UNIQ_KEY", "APPLICATION0ID00000000000000001"),
                     KITE_OK);
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    assert_string_equal(r.msg_id, "APPLICATION0ID00000000000000001");
    /* Delay level travels as the DELAY property. */
    kite_message_set_property(m, "UNIQ_KEY", NULL);
    kite_message_set_delay_level(m, 1);
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    kite_message_destroy(m);
    kite_producer_destroy(p);
}

static void check_compressed(const fx *f, const kite_send_result *r, const char *topic,
                             const uint8_t *orig, size_t n, int expect_compressed)
{
    pulled pl;
    assert_int_equal(pull(f, topic, r->queue_id, r->queue_offset, 1, &pl), 1);
    const kite_record *rec = &pl.rec[0];
    if (!expect_compressed) {
        assert_int_equal(rec->sysflag & 0x701, 0);
        assert_int_equal(rec->body_len, n);
        assert_memory_equal(rec->body, orig, n);
        pulled_free(&pl);
        return;
    }
    assert_int_equal(rec->sysflag & 0x701, 0x301); /* bit 0 + type ZLIB (3) */
    assert_true(rec->body_len < n);
    uLongf out_len = n + 16;
    uint8_t *out = malloc(out_len);
    assert_int_equal(uncompress(out, &out_len, rec->body, rec->body_len),
                     Z_OK); /* RFC 1950 stream */
    assert_int_equal(out_len, n);
    assert_memory_equal(out, orig, n);
    free(out);
    pulled_free(&pl);
}

static void test_compression(void **st)
{
    fx *f = *st;
    kite_producer *p = producer_on(f->nsaddr, 5000);
    size_t n = 100 * 1024;
    uint8_t *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (uint8_t)("KiteMQ compresses this text. "[i % 29] ^ (i % 1000 == 0));
    kite_message *m = kite_message_new("LkZip");
    kite_message_set_body_ref(m, body, n);
    kite_send_result r;
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    check_compressed(f, &r, "LkZip", body, n, 1);
    /* The threshold: 4095 bytes stay plain, 4096 are compressed. */
    kite_message_set_body_ref(m, body, 4095);
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    check_compressed(f, &r, "LkZip", body, 4095, 0);
    kite_message_set_body_ref(m, body, 4096);
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    check_compressed(f, &r, "LkZip", body, 4096, 1);
    kite_message_destroy(m);
    free(body);
    kite_producer_destroy(p);
}

typedef struct async_state {
    atomic_int fired[1000];
    atomic_int total, ok, on_other_thread;
    pthread_t main_thread;
    kite_producer *p;
    atomic_int blocking_rc;
} async_state;

typedef struct async_arg {
    async_state *s;
    int i;
} async_arg;

static void on_async(int status, const kite_send_result *res, void *arg)
{
    async_arg *a = arg;
    atomic_fetch_add(&a->s->fired[a->i], 1);
    if (status == KITE_OK && res->status == KITE_SEND_OK && strlen(res->msg_id) == 32)
        atomic_fetch_add(&a->s->ok, 1);
    if (!pthread_equal(pthread_self(), a->s->main_thread))
        atomic_fetch_add(&a->s->on_other_thread, 1);
    if (a->i == 0) {
        /* A blocking send from a callback is refused, not deadlocked. */
        kite_message *m = kite_message_new("LkAsync");
        kite_message_set_body(m, "x", 1);
        kite_send_result r;
        atomic_store(&a->s->blocking_rc, kite_producer_send(a->s->p, m, &r));
        kite_message_destroy(m);
    }
    atomic_fetch_add(&a->s->total, 1);
}

static void test_async_exactly_once(void **st)
{
    fx *f = *st;
    kite_producer *p = producer_on(f->nsaddr, 5000);
    async_state *s = calloc(1, sizeof *s);
    async_arg *args = calloc(1000, sizeof *args);
    s->main_thread = pthread_self();
    s->p = p;
    atomic_store(&s->blocking_rc, 1);
    kite_message *m = kite_message_new("LkAsync");
    for (int i = 0; i < 1000; i++) {
        char b[32];
        int n = snprintf(b, sizeof b, "async-%d", i);
        kite_message_set_body(m, b, (size_t)n); /* reusing m at once is allowed */
        args[i].s = s;
        args[i].i = i;
        assert_int_equal(kite_producer_send_async(p, m, on_async, &args[i]), KITE_OK);
    }
    kite_message_destroy(m);
    long long end = kt_now_ms() + 20000;
    while (atomic_load(&s->total) < 1000 && kt_now_ms() < end) usleep(2000);
    assert_int_equal(atomic_load(&s->total), 1000);
    kite_producer_shutdown(p);
    usleep(100 * 1000);
    for (int i = 0; i < 1000; i++) assert_int_equal(atomic_load(&s->fired[i]), 1);
    assert_int_equal(atomic_load(&s->ok), 1000);
    assert_int_equal(atomic_load(&s->on_other_thread), 1000);
    assert_int_equal(atomic_load(&s->blocking_rc), KITE_EINVAL);
    assert_int_equal(kite_producer_in_flight(p), 0);

    /* Shutdown with sends in flight: each callback still fires exactly once. */
    memset(s, 0, sizeof *s);
    s->main_thread = pthread_self();
    s->p = p;
    assert_int_equal(kite_producer_start(p), KITE_OK);
    m = kite_message_new("LkAsync");
    kite_message_set_body(m, "late", 4);
    int started = 0;
    for (int i = 1; i < 500; i++) {
        args[i].s = s;
        args[i].i = i;
        if (kite_producer_send_async(p, m, on_async, &args[i]) == KITE_OK) started++;
    }
    kite_producer_destroy(p); /* shutdown inside */
    assert_int_equal(atomic_load(&s->total), started);
    for (int i = 1; i < 500; i++) assert_true(atomic_load(&s->fired[i]) <= 1);
    kite_message_destroy(m);
    free(args);
    free(s);
}

static void test_oneway(void **st)
{
    fx *f = *st;
    kite_producer *p = producer_on(f->nsaddr, 3000);
    kite_message *m = kite_message_new("LkOneway");
    kite_message_set_tags(m, "ow");
    for (int i = 0; i < 20; i++) {
        kite_message_set_body(m, "oneway!", 7);
        assert_int_equal(kite_producer_send_oneway(p, m), KITE_OK);
    }
    kite_message_destroy(m);
    /* Count what arrived on all queues (bounded wait). */
    int found = 0;
    long long end = kt_now_ms() + KT_DEADLINE_MS;
    while (found < 20 && kt_now_ms() < end) {
        found = 0;
        for (int q = 0; q < 4; q++) {
            pulled pl;
            int n = pull_wait(f, "LkOneway", q, 0, 64, &pl, 0);
            if (n > 0) {
                for (int i = 0; i < n; i++) {
                    assert_int_equal(pl.rec[i].body_len, 7);
                    assert_true(prop_is(&pl.rec[i], "TAGS", "ow"));
                }
                found += n;
                pulled_free(&pl);
            }
        }
        if (found < 20) usleep(50 * 1000);
    }
    assert_int_equal(found, 20);
    kite_producer_destroy(p);
}

static int pick_last(const kite_mq *q, size_t n, const kite_message *m, void *arg)
{
    (void)q;
    (void)m;
    (void)arg;
    return (int)n - 1;
}

static int pick_bad(const kite_mq *q, size_t n, const kite_message *m, void *arg)
{
    (void)q;
    (void)m;
    (void)arg;
    return (int)n;
}

static void test_selector_order(void **st)
{
    fx *f = *st;
    kite_producer *p = producer_on(f->nsaddr, 3000);
    kite_message *m = kite_message_new("LkOrder");
    int qid = -1;
    int64_t first = -1;
    for (int i = 0; i < 30; i++) {
        char b[32];
        int n = snprintf(b, sizeof b, "step-%02d", i);
        kite_message_set_body(m, b, (size_t)n);
        kite_message_set_property(m, KITE_PROP_SHARDING_KEY, "order-7");
        kite_send_result r;
        assert_int_equal(kite_producer_send_selected(p, m, kite_select_by_key, "order-7", &r),
                         KITE_OK);
        if (qid < 0) {
            qid = r.queue_id;
            first = r.queue_offset;
        }
        assert_int_equal(r.queue_id, qid);
        assert_int_equal(r.queue_offset, first + i);
    }
    pulled pl;
    assert_int_equal(pull(f, "LkOrder", qid, first, 30, &pl), 30);
    for (int i = 0; i < 30; i++) {
        char b[32];
        snprintf(b, sizeof b, "step-%02d", i);
        assert_int_equal(pl.rec[i].body_len, strlen(b));
        assert_memory_equal(pl.rec[i].body, b, strlen(b));
    }
    pulled_free(&pl);
    /* A custom selector is obeyed; an out-of-range answer is refused. */
    kite_send_result r;
    assert_int_equal(kite_producer_send_selected(p, m, pick_last, NULL, &r), KITE_OK);
    assert_int_equal(r.queue_id, 3);
    assert_int_equal(kite_producer_send_selected(p, m, pick_bad, NULL, &r), KITE_EINVAL);
    kite_message_destroy(m);
    kite_producer_destroy(p);
}

static void test_batch(void **st)
{
    fx *f = *st;
    kite_producer *p = producer_on(f->nsaddr, 3000);
    kite_message *ms[10];
    for (int i = 0; i < 10; i++) {
        char b[32];
        int n = snprintf(b, sizeof b, "batch-%d", i);
        ms[i] = kite_message_new("LkBatch");
        kite_message_set_body(ms[i], b, (size_t)n);
        kite_message_set_keys(ms[i], b);
    }
    kite_send_result r;
    assert_int_equal(kite_producer_send_batch(p, ms, 10, &r), KITE_OK);
    assert_int_equal(r.count, 10);
    assert_string_equal(r.msg_id, kite_message_msg_id(ms[0]));
    pulled pl;
    assert_int_equal(pull(f, "LkBatch", r.queue_id, r.queue_offset, 10, &pl), 10);
    for (int i = 0; i < 10; i++) {
        char b[32];
        snprintf(b, sizeof b, "batch-%d", i);
        assert_int_equal(pl.rec[i].queue_offset, r.queue_offset + i);
        assert_memory_equal(pl.rec[i].body, b, strlen(b));
        assert_true(prop_is(&pl.rec[i], "KEYS", b));
        assert_hex_id(kite_message_msg_id(ms[i]));
        assert_true(prop_is(&pl.rec[i], "UNIQ_KEY", kite_message_msg_id(ms[i])));
        if (i) assert_string_not_equal(kite_message_msg_id(ms[i]), kite_message_msg_id(ms[i - 1]));
    }
    pulled_free(&pl);
    /* Mixed topics and delay levels are refused before anything is sent. */
    kite_message_set_topic(ms[3], "LkOther");
    assert_int_equal(kite_producer_send_batch(p, ms, 10, &r), KITE_EINVAL);
    kite_message_set_topic(ms[3], "LkBatch");
    kite_message_set_delay_level(ms[4], 2);
    assert_int_equal(kite_producer_send_batch(p, ms, 10, &r), KITE_EINVAL);
    for (int i = 0; i < 10; i++) kite_message_destroy(ms[i]);
    kite_producer_destroy(p);
}

static void test_namesrv_failover(void **st)
{
    fx *f = *st;
    /* A dead first address (nothing listens there): every start position must work. */
    char dead[200];
    snprintf(dead, sizeof dead, "%s:%d;%s:%d", f->ns.host, kt_free_port(f->ns.host), f->ns2.host,
             f->ns2.port);
    for (int i = 0; i < 4; i++) {
        kite_producer *p = producer_on(dead, 3000);
        kite_message *m = kite_message_new("LkFailoverA");
        kite_message_set_body(m, "x", 1);
        kite_send_result r;
        assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
        kite_message_destroy(m);
        kite_producer_destroy(p);
    }
    /* The first name server stops: new topics are resolved through the second. */
    kite_producer *p = producer_on(f->nsaddr, 3000);
    kite_message *m = kite_message_new("LkFailoverB");
    kite_message_set_body(m, "x", 1);
    kite_send_result r;
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    assert_int_equal(kt_stop(f->ns.pid, 5000), 0);
    f->ns.pid = 0;
    for (int i = 0; i < 3; i++) {
        char topic[32];
        snprintf(topic, sizeof topic, "LkFailoverC%d", i);
        kite_message_set_topic(m, topic);
        assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    }
    kite_message_destroy(m);
    kite_producer_destroy(p);
}

typedef struct acked {
    int qid;
    int64_t off;
    int seq;
} acked;

typedef struct restart_run {
    const fx *f;
    kite_producer *p;
    atomic_int stop;
    acked *acks;
    int n_acks, n_fail, n_sent;
} restart_run;

static void *restart_sender(void *arg)
{
    restart_run *rr = arg;
    kite_message *m = kite_message_new("LkRestart");
    for (int seq = 0; !atomic_load(&rr->stop) && seq < 100000; seq++) {
        char b[32];
        int n = snprintf(b, sizeof b, "restart-%d", seq);
        kite_message_set_body(m, b, (size_t)n);
        kite_send_result r;
        int rc = kite_producer_send(rr->p, m, &r);
        rr->n_sent++;
        if (rc == KITE_OK) {
            rr->acks[rr->n_acks].qid = r.queue_id;
            rr->acks[rr->n_acks].off = r.queue_offset;
            rr->acks[rr->n_acks].seq = seq;
            rr->n_acks++;
        } else {
            rr->n_fail++;
            usleep(20 * 1000);
        }
    }
    kite_message_destroy(m);
    return NULL;
}

static void test_broker_restart(void **st)
{
    fx *f = *st;
    restart_run rr = { .f = f };
    rr.acks = calloc(100000, sizeof *rr.acks);
    rr.p = producer_on(f->nsaddr, 3000);
    pthread_t th;
    pthread_create(&th, NULL, restart_sender, &rr);
    usleep(300 * 1000);
    assert_int_equal(kt_stop(f->br.pid, 10000), 0); /* clean stop, then the same store and port */
    f->br.pid = 0;
    usleep(200 * 1000);
    assert_int_equal(kt_broker_start(&f->br, f->nsaddr, "flushDiskType=SYNC_FLUSH"), 0);
    int before = rr.n_acks;
    long long end = kt_now_ms() + 10000;
    while (rr.n_acks < before + 50 && kt_now_ms() < end) usleep(20 * 1000); /* sends recover */
    atomic_store(&rr.stop, 1);
    pthread_join(th, NULL);
    kite_producer_destroy(rr.p);
    assert_true(rr.n_acks >= before + 50);
    /* Every acknowledged message is stored where the answer said. */
    for (int i = 0; i < rr.n_acks; i++) {
        pulled pl;
        assert_int_equal(pull(f, "LkRestart", rr.acks[i].qid, rr.acks[i].off, 1, &pl), 1);
        char b[32];
        snprintf(b, sizeof b, "restart-%d", rr.acks[i].seq);
        assert_int_equal(pl.rec[0].body_len, strlen(b));
        assert_memory_equal(pl.rec[0].body, b, strlen(b));
        pulled_free(&pl);
    }
    fprintf(stderr, "broker restart: %d sent, %d acknowledged (all pulled back), %d failed\n",
            rr.n_sent, rr.n_acks, rr.n_fail);
    free(rr.acks);
}

static void test_start_stop_cycles(void **st)
{
    fx *f = *st;
    for (int i = 0; i < 5; i++) {
        kite_producer *p = producer_on(f->nsaddr, 3000);
        kite_message *m = kite_message_new("LkCycle");
        kite_message_set_body(m, "c", 1);
        kite_send_result r;
        assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
        assert_int_equal(kite_producer_shutdown(p), KITE_OK);
        assert_int_equal(kite_producer_shutdown(p), KITE_OK); /* idempotent */
        assert_int_equal(kite_producer_send(p, m, &r), KITE_ESTOPPED);
        assert_int_equal(kite_producer_start(p), KITE_OK); /* restartable */
        assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
        kite_message_destroy(m);
        kite_producer_destroy(p);
    }
    kite_producer_destroy(NULL);
}

/* ---- a fake name server + broker in this process: chosen answer codes ---- */

typedef struct fake {
    kite_ev *ev;
    kite_rpc_server *srv;
    pthread_t th;
    int port;
    char addr[64];
    int answer; /* code for sends */
    atomic_int sends;
} fake;

static void fake_route(kite_rpc_req *req, void *arg)
{
    fake *fk = arg;
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"%s\"},\"brokerName\":\"fake-b\",\"cluster\":\"C\"}],"
        "\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"fake-b\",\"perm\":6,\"readQueueNums\":2,"
        "\"topicSysFlag\":0,\"writeQueueNums\":2}]}",
        fk->addr);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, 0, NULL);
    kite_cmd_set_body_copy(&resp, body, strlen(body));
    kite_rpc_reply(req, &resp);
}

static void fake_send(kite_rpc_req *req, void *arg)
{
    fake *fk = arg;
    atomic_fetch_add(&fk->sends, 1);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, fk->answer, fk->answer ? "fake answer" : NULL);
    if (fk->answer == 0 || fk->answer == 10 || fk->answer == 11 || fk->answer == 12) {
        kite_cmd_set_ext(&resp, "msgId", "7F0000010000271100000000000000AA");
        kite_cmd_set_ext(&resp, "queueId", kite_cmd_ext(&req->cmd, "e"));
        kite_cmd_set_ext(&resp, "queueOffset", "42");
    }
    kite_rpc_reply(req, &resp);
}

static void *fake_loop(void *arg)
{
    kite_ev_run(((fake *)arg)->ev);
    return NULL;
}

static void fake_start(fake *fk)
{
    memset(fk, 0, sizeof *fk);
    fk->ev = kite_ev_new();
    fk->srv = kite_rpc_server_new(fk->ev, NULL);
    char err[128];
    fk->port = kite_rpc_server_listen(fk->srv, "127.0.0.1", 0, err, sizeof err);
    assert_true(fk->port > 0);
    snprintf(fk->addr, sizeof fk->addr, "127.0.0.1:%d", fk->port);
    kite_rpc_server_handle(fk->srv, RC_GET_ROUTEINFO_BY_TOPIC, fake_route, fk);
    kite_rpc_server_handle(fk->srv, RC_SEND_MESSAGE_V2, fake_send, fk);
    pthread_create(&fk->th, NULL, fake_loop, fk);
}

static void fake_stop(fake *fk)
{
    kite_ev_stop(fk->ev);
    pthread_join(fk->th, NULL);
    kite_rpc_server_free(fk->srv);
    kite_ev_free(fk->ev);
}

static void test_answer_codes(void **st)
{
    (void)st;
    fake fk;
    fake_start(&fk);
    kite_producer *p = producer_on(fk.addr, 3000);
    kite_message *m = kite_message_new("LkFake");
    kite_message_set_body(m, "x", 1);
    kite_send_result r;

    /* Stored but not flushed in time: a status, never resent. */
    fk.answer = RS_FLUSH_DISK_TIMEOUT;
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    assert_int_equal(r.status, KITE_SEND_FLUSH_DISK_TIMEOUT);
    assert_int_equal(r.queue_offset, 42);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(atomic_load(&fk.sends), 1);
    fk.answer = RS_SLAVE_NOT_AVAILABLE;
    assert_int_equal(kite_producer_send(p, m, &r), KITE_OK);
    assert_int_equal(r.status, KITE_SEND_SLAVE_NOT_AVAILABLE);
    assert_int_equal(atomic_load(&fk.sends), 2);

    /* Busy: retried (1 + 2 attempts), then reported. */
    fk.answer = RS_SYSTEM_BUSY;
    assert_int_equal(kite_producer_send(p, m, &r), KITE_EAGAIN);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(r.broker_code, RS_SYSTEM_BUSY);
    assert_non_null(strstr(r.error, "fake answer"));
    assert_int_equal(atomic_load(&fk.sends), 5);

    /* Illegal message: not retried. */
    fk.answer = RS_MESSAGE_ILLEGAL;
    assert_int_equal(kite_producer_send(p, m, &r), KITE_EINVAL);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(atomic_load(&fk.sends), 6);

    kite_producer_destroy(p);
    kite_message_destroy(m);
    fake_stop(&fk);
}

static void test_no_route(void **st)
{
    (void)st;
    /* Nothing listens: the send fails (it does not hang) with a clear reason. */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", kt_free_port("127.0.0.1"));
    kite_producer *p = producer_on(addr, 1000);
    kite_message *m = kite_message_new("LkNowhere");
    kite_message_set_body(m, "x", 1);
    kite_send_result r;
    long long t0 = kt_now_ms();
    int rc = kite_producer_send(p, m, &r);
    assert_true(rc == KITE_ECLOSED || rc == KITE_ETIMEDOUT);
    assert_true(kt_now_ms() - t0 < KT_DEADLINE_MS);
    assert_non_null(strstr(r.error, "name server"));
    kite_message_destroy(m);
    kite_producer_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_and_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compression, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oneway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selector_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namesrv_failover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_restart, setup_sync_flush, teardown),
        cmocka_unit_test_setup_teardown(test_start_stop_cycles, setup, teardown),
        cmocka_unit_test(test_answer_codes),
        cmocka_unit_test(test_no_route),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
