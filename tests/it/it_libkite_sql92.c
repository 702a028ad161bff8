/* it_libkite_sql92.c - SQL92 subscriptions of libkite (kite_push_consumer_subscribe_sql92,
 * kite_pull_consumer_pull_sql92) against a real kite-namesrv + kite-broker on loopback:
 *   - with enablePropertyFilter=true, a push consumer gets exactly the messages whose
 *     user properties the expression selects (sent before and after it started);
 *     messages that do not match, or lack a property the expression needs, never come;
 *     the broker lists the subscription with expressionType SQL92 (from the heartbeat);
 *   - the pull consumer's SQL92 pull returns the same selection;
 *   - an empty expression is refused locally; an expression the broker cannot parse,
 *     or a broker with enablePropertyFilter off, makes the start fail (CHECK_CLIENT_CONFIG),
 *     and the pull consumer's SQL92 pull fails there.
 * Every wait is bounded; daemons stopped by PID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "kt_broker.h"
#include "kt_consume.h"
#include "kite/kite.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N    60
#define EXPR "region = 'eu' AND n >= 30"

/* Message i: body "sq-<i>", property n=<i>, region "eu" (i % 3 == 0) or "us", except
 * that every tenth (i % 10 == 9) has no region at all. */
static int selected(int i) { return i >= 30 && i % 3 == 0 && i % 10 != 9; }

/* Message i with tag TagSql, property n=<i> and region (none when NULL). */
static void send_one(kite_producer *p, const char *topic, int i, const char *region)
{
    kite_message *m = kite_message_new(topic);
    char body[32], n[16];
    snprintf(body, sizeof body, "sq-%d", i);
    snprintf(n, sizeof n, "%d", i);
    kite_message_set_body(m, body, strlen(body));
    kite_message_set_tags(m, "TagSql");
    assert_int_equal(kite_message_set_property(m, "n", n), KITE_OK);
    if (region) assert_int_equal(kite_message_set_property(m, "region", region), KITE_OK);
    kite_send_result res;
    assert_int_equal(kite_producer_send(p, m, &res), KITE_OK);
    kite_message_destroy(m);
}

static void send_props(kite_producer *p, const char *topic, int from, int to)
{
    for (int i = from; i < to; i++)
        send_one(p, topic, i, i % 10 == 9 ? NULL : i % 3 == 0 ? "eu" : "us");
}

static int count_selected(int from, int to)
{
    int k = 0;
    for (int i = from; i < to; i++) k += selected(i);
    return k;
}

static int setup_filter(void **st)
{
    kc_env *e = calloc(1, sizeof *e);
    *st = e;
    return e ? kc_env_start(e, "enablePropertyFilter=true\n") : -1;
}

static void push_opts(const kc_env *e, kite_push_consumer_opts *o)
{
    kc_consumer_opts(e, o);
    o->consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
}

/* The broker's view of the group's subscription (GET_CONSUMER_CONNECTION_LIST). */
static int broker_lists_sql92(const kc_env *e, const char *group)
{
    int fd = kt_connect(e->br.host, e->br.port);
    if (fd < 0) return 0;
    char ext[128];
    snprintf(ext, sizeof ext, "\"consumerGroup\":\"%s\"", group);
    kite_cmd r;
    int found = 0;
    if (kb_call(fd, 203, ext, NULL, 0, &r) == 0) {
        if (r.code == 0 && r.body_len) {
            char *text = strndup((const char *)r.body, r.body_len);
            found = text && strstr(text, "\"expressionType\":\"SQL92\"") &&
                    strstr(text, "region = 'eu'");
            free(text);
        }
        kite_cmd_free(&r);
    }
    kb_forget_fd(fd);
    close(fd);
    return found;
}

static void test_push_sql92(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    send_props(p, "LkSql", 0, N / 2);
    kc_collector col;
    kc_collector_init(&col, "sq", "LkSql");
    kite_push_consumer_opts o;
    push_opts(e, &o);
    kite_push_consumer *c = NULL;
    assert_int_equal(kite_push_consumer_create(&c, "lk_sql", &o), KITE_OK);
    assert_int_equal(kite_push_consumer_subscribe_sql92(c, "LkSql", ""), KITE_EINVAL);
    assert_int_equal(kite_push_consumer_subscribe_sql92(c, "LkSql", "  "), KITE_EINVAL);
    assert_int_equal(kite_push_consumer_subscribe_sql92(c, "LkSql", EXPR), KITE_OK);
    assert_int_equal(kite_push_consumer_set_listener(c, kc_listener, &col), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_OK);
    send_props(p, "LkSql", N / 2, N); /* through the held long polls */
    int want = count_selected(0, N);
    assert_true(want > 0 && want < N / 4);
    long long end = kt_now_ms() + KT_DEADLINE_MS;
    while (kt_now_ms() < end && atomic_load(&col.total) < want) usleep(20 * 1000);
    assert_int_equal(atomic_load(&col.total), want);
    /* Every selected message came once; the broker passed over every other one. */
    for (int i = 0; i < N; i++) assert_int_equal(col.counts[i], selected(i) ? 1 : 0);
    assert_int_equal(atomic_load(&col.bad), 0);
    end = kt_now_ms() + KT_DEADLINE_MS;
    int listed = 0;
    while (kt_now_ms() < end && !(listed = broker_lists_sql92(e, "lk_sql"))) usleep(50 * 1000);
    assert_true(listed);
    /* Sent last: 61 (region us) is passed over, 62 (eu) arrives. */
    send_one(p, "LkSql", 61, "us");
    send_one(p, "LkSql", 62, "eu");
    end = kt_now_ms() + KT_DEADLINE_MS;
    while (kt_now_ms() < end && atomic_load(&col.total) < want + 1) usleep(20 * 1000);
    kite_push_consumer_destroy(c); /* joins the workers: nothing is delivered after this */
    assert_int_equal(col.counts[62], 1);
    assert_int_equal(col.counts[61], 0);
    assert_int_equal(atomic_load(&col.total), want + 1);
    kite_producer_destroy(p);
    kc_collector_destroy(&col);
}

static void test_pull_sql92(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    send_props(p, "LkSqlPull", 0, N);
    kite_pull_consumer_opts o;
    kite_pull_consumer_opts_init(&o);
    o.namesrv_addr = e->nsaddr;
    kite_pull_consumer *c = NULL;
    assert_int_equal(kite_pull_consumer_create(&c, "lk_sql_pull", &o), KITE_OK);
    assert_int_equal(kite_pull_consumer_start(c), KITE_OK);
    kite_mq_list l;
    assert_int_equal(kite_pull_consumer_fetch_queues(c, "LkSqlPull", &l), KITE_OK);
    assert_true(l.n > 0);
    /* The store makes sent messages pullable asynchronously: wait for all N. */
    long long end = kt_now_ms() + KT_DEADLINE_MS;
    int64_t stored = 0;
    while (kt_now_ms() < end) {
        stored = 0;
        for (size_t q = 0; q < l.n; q++) {
            int64_t max = 0;
            if (kite_pull_consumer_max_offset(c, &l.mqs[q], &max) == KITE_OK) stored += max;
        }
        if (stored >= N) break;
        usleep(20 * 1000);
    }
    assert_int_equal(stored, N);
    int counts[N] = { 0 }, total = 0;
    for (size_t q = 0; q < l.n; q++) {
        kite_pull_result r;
        assert_int_equal(kite_pull_consumer_pull_sql92(c, &l.mqs[q], "", 0, 32, &r), KITE_EINVAL);
        kite_pull_result_free(&r);
        int64_t off = 0;
        for (int round = 0; round < 10; round++) {
            assert_int_equal(kite_pull_consumer_pull_sql92(c, &l.mqs[q], EXPR, off, 32, &r),
                             KITE_OK);
            for (size_t i = 0; i < r.n; i++) {
                int num = atoi((const char *)r.msgs[i]->body + 3);
                assert_true(num >= 0 && num < N);
                counts[num]++;
                total++;
            }
            int more = r.status == KITE_PULL_FOUND || r.status == KITE_PULL_NO_MATCHED_MSG;
            off = r.next_begin_offset;
            kite_pull_result_free(&r);
            if (!more) break;
        }
    }
    assert_int_equal(total, count_selected(0, N));
    for (int i = 0; i < N; i++) assert_int_equal(counts[i], selected(i) ? 1 : 0);
    kite_mq_list_free(&l);
    kite_pull_consumer_destroy(c);
    kite_producer_destroy(p);
}

/* An expression the broker cannot parse: the start fails and nothing is consumed. */
static void test_bad_expression(void **st)
{
    kc_env *e = *st;
    kite_producer *p = kc_producer(e);
    send_props(p, "LkSqlBad", 0, 4);
    assert_int_equal(kc_wait_route(e, "LkSqlBad", 5000), 0);
    kite_producer_destroy(p);
    kc_collector col;
    kc_collector_init(&col, "sq", "LkSqlBad");
    kite_push_consumer_opts o;
    push_opts(e, &o);
    kite_push_consumer *c = NULL;
    assert_int_equal(kite_push_consumer_create(&c, "lk_sql_bad", &o), KITE_OK);
    assert_int_equal(kite_push_consumer_subscribe_sql92(c, "LkSqlBad", "region = = 'eu'"), KITE_OK);
    assert_int_equal(kite_push_consumer_set_listener(c, kc_listener, &col), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_ERR);
    assert_int_equal(kite_push_consumer_start(c), KITE_ESTOPPED);
    kite_push_consumer_destroy(c);
    assert_int_equal(atomic_load(&col.total), 0);
    kc_collector_destroy(&col);
}

/* A broker without enablePropertyFilter: the push consumer's start and the pull
 * consumer's SQL92 pull fail; tag subscriptions still work there. */
static void test_filter_disabled(void **st)
{
    (void)st;
    kc_env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    assert_int_equal(kc_env_start(e, NULL), 0);
    kite_producer *p = kc_producer(e);
    send_props(p, "LkSqlOff", 0, 4);
    assert_int_equal(kc_wait_route(e, "LkSqlOff", 5000), 0);
    kite_producer_destroy(p);
    kc_collector col;
    kc_collector_init(&col, "sq", "LkSqlOff");
    kite_push_consumer_opts o;
    push_opts(e, &o);
    kite_push_consumer *c = NULL;
    assert_int_equal(kite_push_consumer_create(&c, "lk_sql_off", &o), KITE_OK);
    assert_int_equal(kite_push_consumer_subscribe_sql92(c, "LkSqlOff", EXPR), KITE_OK);
    assert_int_equal(kite_push_consumer_set_listener(c, kc_listener, &col), KITE_OK);
    assert_int_equal(kite_push_consumer_start(c), KITE_ERR);
    kite_push_consumer_destroy(c);

    kite_pull_consumer_opts po;
    kite_pull_consumer_opts_init(&po);
    po.namesrv_addr = e->nsaddr;
    kite_pull_consumer *pc = NULL;
    assert_int_equal(kite_pull_consumer_create(&pc, "lk_sql_off_pull", &po), KITE_OK);
    assert_int_equal(kite_pull_consumer_start(pc), KITE_OK);
    kite_mq_list l;
    assert_int_equal(kite_pull_consumer_fetch_queues(pc, "LkSqlOff", &l), KITE_OK);
    assert_true(l.n > 0);
    kite_pull_result r;
    assert_int_equal(kite_pull_consumer_pull_sql92(pc, &l.mqs[0], EXPR, 0, 32, &r), KITE_ERR);
    kite_pull_result_free(&r);
    assert_int_equal(kite_pull_consumer_pull(pc, &l.mqs[0], "TagSql", 0, 32, &r), KITE_OK);
    kite_pull_result_free(&r);
    kite_mq_list_free(&l);
    kite_pull_consumer_destroy(pc);

    /* The same consumer with a tag expression starts and consumes. */
    c = kc_consumer(&o, "lk_sql_off_tags", "LkSqlOff", "TagSql", &col);
    assert_int_equal(kc_wait_distinct(&col, 4, 15000), 4);
    kite_push_consumer_destroy(c);
    kc_collector_destroy(&col);
    assert_int_equal(kc_env_stop(e), 0);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_sql92),
        cmocka_unit_test(test_pull_sql92),
        cmocka_unit_test(test_bad_expression),
        cmocka_unit_test(test_filter_disabled),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, setup_filter, kc_teardown));
}
