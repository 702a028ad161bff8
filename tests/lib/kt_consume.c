/* kt_consume.c - see kt_consume.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt_consume.h"
#include "base/mem.h"
#include "base/time.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kc_wait_route(const kc_env *e, const char *topic, int timeout_ms)
{
    return kt_wait_route(&e->ns, topic, timeout_ms);
}

int kc_env_start(kc_env *e, const char *broker_extra)
{
    memset(e, 0, sizeof *e);
    if (kt_namesrv_start(&e->ns, NULL) != 0) return -1;
    snprintf(e->nsaddr, sizeof e->nsaddr, "%s:%d", e->ns.host, e->ns.port);
    if (kt_broker_start(&e->br, e->nsaddr, broker_extra) != 0) return -1;
    snprintf(e->braddr, sizeof e->braddr, "%s:%d", e->br.host, e->br.port);
    kt_mkdtemp("lkc-offsets", e->dir, sizeof e->dir);
    return kc_wait_route(e, "TBW102", KT_DEADLINE_MS);
}

int kc_env_stop(kc_env *e)
{
    int rc = 0;
    if (e->br.pid > 0 && kt_stop(e->br.pid, 10000) != 0) rc = -1;
    if (e->ns.pid > 0 && kt_stop(e->ns.pid, 5000) != 0) rc = -1;
    e->br.pid = e->ns.pid = 0;
    return rc;
}

void kc_collector_init(kc_collector *c, const char *prefix, const char *topic)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    snprintf(c->prefix, sizeof c->prefix, "%s", prefix);
    if (topic) snprintf(c->expect_topic, sizeof c->expect_topic, "%s", topic);
}

void kc_collector_destroy(kc_collector *c) { pthread_mutex_destroy(&c->mu); }

kite_consume_status kc_listener(const kite_message_ext *const *msgs, size_t n, void *arg)
{
    kc_collector *c = arg;
    kite_consume_status st = KITE_CONSUME_SUCCESS;
    int d = atomic_load(&c->delay_us);
    if (d) usleep((useconds_t)d);
    for (size_t i = 0; i < n; i++) {
        const kite_message_ext *m = msgs[i];
        char body[64];
        size_t bl = m->body_len < sizeof body - 1 ? m->body_len : sizeof body - 1;
        memcpy(body, m->body, bl);
        body[bl] = 0;
        size_t pl = strlen(c->prefix);
        int num = -1;
        if (strncmp(body, c->prefix, pl) == 0 && body[pl] == '-') num = atoi(body + pl + 1);
        if (num < 0 || num >= KC_MAX ||
            (c->expect_topic[0] && strcmp(m->topic, c->expect_topic) != 0) || !m->msg_id ||
            strlen(m->msg_id) != 32) {
            atomic_fetch_add(&c->bad, 1);
            continue;
        }
        if (num < c->fail_below && m->reconsume_times < c->fail_until) st = KITE_RECONSUME_LATER;
        pthread_mutex_lock(&c->mu);
        c->counts[num]++;
        if (m->reconsume_times > c->max_reconsume[num]) c->max_reconsume[num] = m->reconsume_times;
        if (m->tags) {
            for (int k = 0; k < 8; k++) {
                if (strcmp(c->tags_seen[k], m->tags) == 0) break;
                if (!c->tags_seen[k][0]) {
                    snprintf(c->tags_seen[k], sizeof c->tags_seen[k], "%s", m->tags);
                    break;
                }
            }
        }
        pthread_mutex_unlock(&c->mu);
        atomic_fetch_add(&c->total, 1);
    }
    return st;
}

int kc_distinct(kc_collector *c, int n)
{
    int k = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < n && i < KC_MAX; i++) k += c->counts[i] > 0;
    pthread_mutex_unlock(&c->mu);
    return k;
}

int kc_duplicates(kc_collector *c, int n)
{
    int k = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < n && i < KC_MAX; i++) k += c->counts[i] > 1 ? c->counts[i] - 1 : 0;
    pthread_mutex_unlock(&c->mu);
    return k;
}

int kc_wait_distinct(kc_collector *c, int n, int timeout_ms)
{
    int64_t deadline = kite_deadline_ms(timeout_ms);
    int k;
    while ((k = kc_distinct(c, n)) < n && kite_deadline_left_ms(deadline) > 0) usleep(20 * 1000);
    if (k < n) { /* say which: the failing test's log then points at the lost ones */
        fprintf(stderr, "kc_wait_distinct: %d of %d %s-N after %d ms; missing:", k, n, c->prefix,
                timeout_ms);
        int shown = 0;
        pthread_mutex_lock(&c->mu);
        for (int i = 0; i < n && i < KC_MAX && shown < 20; i++)
            if (!c->counts[i]) fprintf(stderr, " %d", i), shown++;
        pthread_mutex_unlock(&c->mu);
        fprintf(stderr, "%s\n", n - k > shown ? " ..." : "");
    }
    return k;
}

kite_producer *kc_producer(const kc_env *e)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = e->nsaddr;
    kite_producer *p = NULL;
    assert_int_equal(kite_producer_create(&p, "lkc_producer", &o), KITE_OK);
    assert_int_equal(kite_producer_start(p), KITE_OK);
    return p;
}

void kc_send_range(kite_producer *p, const char *topic, const char *prefix, int from, int to,
                   const char *tags)
{
    char tagv[8][16];
    int ntags = 0;
    if (tags) {
        const char *s = tags;
        while (*s && ntags < 8) {
            size_t l = strcspn(s, ",");
            snprintf(tagv[ntags++], sizeof tagv[0], "%.*s", (int)l, s);
            s += l;
            if (*s) s++;
        }
    }
    kite_message *m = kite_message_new(topic);
    for (int i = from; i < to; i++) {
        char body[64];
        snprintf(body, sizeof body, "%s-%d", prefix, i);
        kite_message_set_body(m, body, strlen(body));
        if (ntags) kite_message_set_tags(m, tagv[i % ntags]);
        kite_message_set_property(m, "UNIQ_KEY", NULL);
        kite_send_result r;
        int rc = kite_producer_send(p, m, &r);
        if (rc != KITE_OK)
            fprintf(stderr, "send %d failed: %s %s\n", i, kite_strerror(rc), r.error);
        assert_int_equal(rc, KITE_OK);
    }
    kite_message_destroy(m);
}

void kc_consumer_opts(const kc_env *e, kite_push_consumer_opts *o)
{
    kite_push_consumer_opts_init(o);
    o->namesrv_addr = e->nsaddr;
    o->consume_threads = 4;
    o->heartbeat_interval_ms = 1000;
    o->rebalance_interval_ms = 1000;
    o->persist_offset_interval_ms = 200;
    o->poll_namesrv_interval_ms = 1000;
    o->suspend_timeout_ms = 3000;
    o->pull_timeout_ms = 8000;
    o->offset_store_dir = e->dir;
}

kite_push_consumer *kc_consumer(const kite_push_consumer_opts *o, const char *group,
                                const char *topic, const char *expr, kc_collector *col)
{
    kite_push_consumer *c = NULL;
    assert_int_equal(kite_push_consumer_create(&c, group, o), KITE_OK);
    assert_int_equal(kite_push_consumer_subscribe(c, topic, expr), KITE_OK);
    assert_int_equal(kite_push_consumer_set_listener(c, kc_listener, col), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_OK);
    return c;
}

int kc_setup(void **st)
{
    kc_env *e = kite_xcalloc(1, sizeof *e);
    *st = e;
    return kc_env_start(e, NULL);
}

int kc_teardown(void **st)
{
    kc_env *e = *st;
    int rc = kc_env_stop(e);
    free(e);
    return rc;
}
