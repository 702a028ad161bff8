/* it_libkite_trans.c - the libkite transaction producer (include/kite/transaction.h)
 * against a real kite-namesrv + kite-broker on a random loopback host, the broker
 * checking back fast (transactionCheckInterval 300 ms, transactionTimeOut 1000 ms).
 * What the application sees is verified with raw pulls from the broker:
 *   - COMMIT: visible once, sysflag COMMIT, TRAN_MSG gone; ROLLBACK: never visible;
 *     `execute` runs on the calling thread; nothing is checked afterwards; the
 *     producer's heartbeat makes GET_PRODUCER_CONNECTION_LIST list the group;
 *   - a half the broker refuses (rejectTransactionMessage) or a bad message: error,
 *     `execute` not run;
 *   - UNKNOWN then the check callback (on a thread of its own) answering COMMIT, or
 *     ROLLBACK: the message appears, or never does, and the checks stop;
 *   - three producers of one group: the checks are spread over them and every half is
 *     resolved;
 *   - a producer that dies with an undecided half: a new producer of the same group,
 *     which has sent nothing, answers the check;
 *   - a message with a delay level sent in a transaction and committed: the level is
 *     cleared (as Java), the message is in the real topic at once without DELAY, and
 *     nothing is parked in SCHEDULE_TOPIC_XXXX.
 * docs/wire.md §5.5, §7, §10. Every wait is bounded; daemons stopped by PID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "kt_bkx.h"
#include "kt_broker.h"
#include "kite/kite.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAST "transactionCheckInterval=300\ntransactionTimeOut=1000\n"

typedef struct fx {
    kt_daemon ns, br;
    char nsaddr[64];
    int fd; /* raw connection to the broker */
} fx;

static int wait_route(const kt_daemon *d, const char *topic, int timeout_ms)
{
    long long end = kt_now_ms() + timeout_ms;
    char ext[256];
    snprintf(ext, sizeof ext, "\"topic\":\"%s\"", topic);
    while (kt_now_ms() < end) {
        int fd = kt_connect(d->host, d->port);
        if (fd >= 0) {
            int code = kb_call_code(fd, 105, ext, NULL, 0);
            kb_forget_fd(fd);
            close(fd);
            if (code == 0) return 0;
        }
        usleep(50 * 1000);
    }
    return -1;
}

static int start(void **st, const char *extra)
{
    fx *f = calloc(1, sizeof *f);
    *st = f;
    if (!f || kt_namesrv_start(&f->ns, NULL) != 0) return -1;
    snprintf(f->nsaddr, sizeof f->nsaddr, "%s:%d", f->ns.host, f->ns.port);
    if (kt_broker_start(&f->br, f->nsaddr, extra) != 0) return -1;
    if (wait_route(&f->ns, "TBW102", KT_DEADLINE_MS) != 0) return -1;
    f->fd = kt_connect(f->br.host, f->br.port);
    return f->fd >= 0 ? 0 : -1;
}

static int setup(void **st) { return start(st, FAST); }
static int setup_reject(void **st) { return start(st, FAST "rejectTransactionMessage=true\n"); }

static int teardown(void **st)
{
    fx *f = *st;
    if (!f) return 0;
    int rc = 0;
    if (f->fd >= 0) {
        kb_forget_fd(f->fd);
        close(f->fd);
    }
    if (f->br.pid > 0 && kt_stop(f->br.pid, 10000) != 0) rc = -1;
    if (f->ns.pid > 0 && kt_stop(f->ns.pid, 5000) != 0) rc = -1;
    free(f);
    return rc;
}

/* ---- listener state ---- */

typedef struct probe {
    kite_tx_state check_answer;
    atomic_int executes, checks;
    pthread_t exec_thread, check_thread;
    char last_check_id[64], last_check_body[64], last_check_topic[64], last_check_pgroup[64];
    pthread_mutex_t mu;
} probe;

static void probe_init(probe *p, kite_tx_state answer)
{
    memset(p, 0, sizeof *p);
    p->check_answer = answer;
    pthread_mutex_init(&p->mu, NULL);
}

/* What `execute` gets as arg: the state to return and the probe to record into. */
typedef struct exec_arg {
    probe *pr;
    kite_tx_state state;
} exec_arg;

static kite_tx_state on_execute(kite_message *msg, void *arg)
{
    exec_arg *a = arg;
    assert_non_null(kite_message_msg_id(msg));
    assert_string_equal(kite_message_property(msg, "TRAN_MSG"), "true");
    a->pr->exec_thread = pthread_self();
    atomic_fetch_add(&a->pr->executes, 1);
    return a->state;
}

static kite_tx_state on_check(const kite_message_ext *m, void *arg)
{
    probe *p = arg;
    pthread_mutex_lock(&p->mu);
    p->check_thread = pthread_self();
    snprintf(p->last_check_id, sizeof p->last_check_id, "%s", m->msg_id ? m->msg_id : "");
    snprintf(p->last_check_body, sizeof p->last_check_body, "%.*s", (int)m->body_len,
             (const char *)m->body);
    snprintf(p->last_check_topic, sizeof p->last_check_topic, "%s", m->topic ? m->topic : "");
    const char *pg = kite_message_ext_property(m, "PGROUP");
    snprintf(p->last_check_pgroup, sizeof p->last_check_pgroup, "%s", pg ? pg : "");
    pthread_mutex_unlock(&p->mu);
    atomic_fetch_add(&p->checks, 1);
    return p->check_answer;
}

static kite_producer *tx_producer(fx *f, const char *group, probe *pr)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = f->nsaddr;
    kite_tx_listener l = { .execute = on_execute, .check = on_check, .check_arg = pr };
    kite_producer *p = NULL;
    assert_int_equal(kite_producer_create_transactional(&p, group, &o, &l), KITE_OK);
    assert_int_equal(kite_producer_start(p), KITE_OK);
    return p;
}

static int send_tx(kite_producer *p, probe *pr, const char *topic, const char *body,
                   kite_tx_state st, kite_send_result *res, kite_tx_state *out)
{
    kite_message *m = kite_message_new(topic);
    kite_message_set_tags(m, "TagTx");
    kite_message_set_body(m, body, strlen(body));
    exec_arg a = { pr, st };
    int rc = kite_producer_send_in_transaction(p, m, &a, res, out);
    if (rc != KITE_OK)
        fprintf(stderr, "send_in_transaction: %s (%s)\n", kite_strerror(rc), res ? res->error : "");
    kite_message_destroy(m);
    return rc;
}

/* Messages visible in topic (sum of the max offsets of queues 0..3). */
static int64_t visible(fx *f, const char *topic)
{
    int64_t n = 0;
    for (int q = 0; q < 4; q++) {
        int64_t v = kb_lookup(f->fd, 30, topic, q, NULL, "offset");
        if (v > 0) n += v;
    }
    return n;
}

static int64_t wait_visible(fx *f, const char *topic, int64_t want, int ms)
{
    long long t0 = kt_now_ms();
    int64_t n;
    while ((n = visible(f, topic)) < want && kt_now_ms() - t0 < ms) usleep(50 * 1000);
    return n;
}

static int wait_int(atomic_int *v, int want, int ms)
{
    long long t0 = kt_now_ms();
    while (atomic_load(v) < want && kt_now_ms() - t0 < ms) usleep(20 * 1000);
    return atomic_load(v);
}

/* The committed record at topic/qid/0. */
static void expect_committed(fx *f, const char *topic, int qid, const char *body)
{
    kite_cmd r;
    assert_int_equal(kb_pull(f->fd, "lk_tx_reader", topic, qid, 0, 32, 4, 0, 0, "*", &r), 0);
    assert_int_equal(r.code, 0);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 1);
    assert_int_equal(rec[0].body_len, strlen(body));
    assert_memory_equal(rec[0].body, body, rec[0].body_len);
    assert_int_equal(rec[0].sysflag & KITE_SYSFLAG_TX_MASK, KITE_SYSFLAG_TX_COMMIT);
    char v[64];
    assert_false(kx_prop(&rec[0], "TRAN_MSG", v, sizeof v));
    assert_true(kx_prop(&rec[0], "TAGS", v, sizeof v));
    assert_string_equal(v, "TagTx");
    kite_cmd_free(&r);
}

/* Scenario: commit and rollback decided by the local transaction. */
static void test_commit_and_rollback(void **st)
{
    fx *f = *st;
    probe pr;
    probe_init(&pr, KITE_TX_UNKNOWN);
    kite_producer *p = tx_producer(f, "lk_tx_g1", &pr);
    kite_send_result res;
    kite_tx_state out;
    assert_int_equal(send_tx(p, &pr, "TxTopicA", "commit-me", KITE_TX_COMMIT, &res, &out), KITE_OK);
    assert_int_equal(out, KITE_TX_COMMIT);
    assert_true(pthread_equal(pr.exec_thread, pthread_self()));
    assert_int_equal(strlen(res.msg_id), 32);
    assert_int_equal(strlen(res.offset_msg_id), 32);
    assert_int_equal(wait_visible(f, "TxTopicA", 1, KT_DEADLINE_MS), 1);
    expect_committed(f, "TxTopicA", res.queue_id, "commit-me");
    /* The producer heartbeated its group: the broker lists its connection. */
    long long t0 = kt_now_ms();
    int code;
    while ((code = kb_call_code(f->fd, 204, "\"producerGroup\":\"lk_tx_g1\"", NULL, 0)) != 0 &&
           kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(50 * 1000);
    assert_int_equal(code, 0);

    assert_int_equal(send_tx(p, &pr, "TxTopicA", "roll-me-back", KITE_TX_ROLLBACK, &res, &out),
                     KITE_OK);
    assert_int_equal(out, KITE_TX_ROLLBACK);
    assert_int_equal(atomic_load(&pr.executes), 2);
    /* Bad messages fail before anything is stored; execute is not run. */
    assert_int_equal(send_tx(p, &pr, "bad topic!", "x", KITE_TX_COMMIT, &res, &out), KITE_EINVAL);
    assert_int_equal(atomic_load(&pr.executes), 2);
    /* A plain producer cannot send in transactions. */
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = f->nsaddr;
    kite_producer *plain;
    assert_int_equal(kite_producer_create(&plain, "lk_tx_plain", &o), KITE_OK);
    assert_int_equal(kite_producer_start(plain), KITE_OK);
    kite_message *m = kite_message_new("TxTopicA");
    kite_message_set_body(m, "x", 1);
    assert_int_equal(kite_producer_send_in_transaction(plain, m, NULL, NULL, NULL), KITE_EINVAL);
    kite_message_destroy(m);
    kite_producer_destroy(plain);

    /* Decided halves are never checked; the rolled-back one never shows. */
    usleep(2000 * 1000);
    assert_int_equal(atomic_load(&pr.checks), 0);
    assert_int_equal(visible(f, "TxTopicA"), 1);
    kite_producer_destroy(p);
}

/* Scenario: the broker refuses half messages: error, execute not run. */
static void test_half_refused(void **st)
{
    fx *f = *st;
    probe pr;
    probe_init(&pr, KITE_TX_COMMIT);
    kite_producer *p = tx_producer(f, "lk_tx_g2", &pr);
    kite_send_result res;
    kite_tx_state out = KITE_TX_COMMIT;
    int rc = send_tx(p, &pr, "TxTopicR", "refused", KITE_TX_COMMIT, &res, &out);
    assert_int_not_equal(rc, KITE_OK);
    assert_int_equal(res.broker_code, 16);
    assert_int_equal(out, KITE_TX_UNKNOWN);
    assert_int_equal(atomic_load(&pr.executes), 0);
    kite_producer_destroy(p);
}

/* Scenario: UNKNOWN, then the check callback decides (commit, then rollback). */
static void check_decides(fx *f, kite_tx_state answer, const char *topic)
{
    probe pr;
    probe_init(&pr, answer);
    kite_producer *p = tx_producer(f, answer == KITE_TX_COMMIT ? "lk_tx_g3" : "lk_tx_g4", &pr);
    kite_send_result res;
    kite_tx_state out;
    long long t0 = kt_now_ms();
    assert_int_equal(send_tx(p, &pr, topic, "decided-later", KITE_TX_UNKNOWN, &res, &out), KITE_OK);
    assert_int_equal(out, KITE_TX_UNKNOWN);
    assert_int_equal(visible(f, topic), 0);
    assert_int_equal(wait_int(&pr.checks, 1, KT_DEADLINE_MS), 1);
    fprintf(stderr, "check after %lld ms\n", kt_now_ms() - t0);
    pthread_mutex_lock(&pr.mu);
    assert_false(pthread_equal(pr.check_thread, pthread_self()));
    assert_string_equal(pr.last_check_id, res.msg_id);
    assert_string_equal(pr.last_check_body, "decided-later");
    assert_string_equal(pr.last_check_topic, topic);
    assert_string_equal(pr.last_check_pgroup, kite_producer_group(p));
    pthread_mutex_unlock(&pr.mu);
    if (answer == KITE_TX_COMMIT) {
        assert_int_equal(wait_visible(f, topic, 1, KT_DEADLINE_MS), 1);
        expect_committed(f, topic, res.queue_id, "decided-later");
    }
    usleep(1500 * 1000); /* > interval + timeout: a resolved half is not asked about again */
    assert_int_equal(atomic_load(&pr.checks), 1);
    assert_int_equal(visible(f, topic), answer == KITE_TX_COMMIT ? 1 : 0);
    kite_producer_destroy(p);
}

static void test_check_commit(void **st) { check_decides(*st, KITE_TX_COMMIT, "TxTopicC"); }
static void test_check_rollback(void **st) { check_decides(*st, KITE_TX_ROLLBACK, "TxTopicD"); }

/* Scenario: several producers of one group share the checks. */
static void test_several_producers(void **st)
{
    fx *f = *st;
    probe pr[3];
    kite_producer *p[3];
    for (int i = 0; i < 3; i++) {
        probe_init(&pr[i], KITE_TX_COMMIT);
        p[i] = tx_producer(f, "lk_tx_g5", &pr[i]);
    }
    usleep(1500 * 1000); /* every producer greets the brokers of TBW102 within ~1 s */
    const int n = 6;
    for (int k = 0; k < n; k++) {
        char body[32];
        snprintf(body, sizeof body, "several-%d", k);
        kite_tx_state out;
        assert_int_equal(send_tx(p[0], &pr[0], "TxTopicS", body, KITE_TX_UNKNOWN, NULL, &out),
                         KITE_OK);
    }
    assert_int_equal(wait_visible(f, "TxTopicS", n, 10000), n);
    int total = 0, used = 0;
    for (int i = 0; i < 3; i++) {
        int c = atomic_load(&pr[i].checks);
        fprintf(stderr, "producer %d answered %d check(s)\n", i, c);
        total += c;
        used += c > 0;
    }
    assert_int_equal(total, n);
    assert_true(used >= 2);
    for (int i = 0; i < 3; i++) kite_producer_destroy(p[i]);
}

/* Scenario: the producer that sent the half is gone; a new one of the group answers. */
static void test_producer_restart(void **st)
{
    fx *f = *st;
    probe first, second;
    probe_init(&first, KITE_TX_ROLLBACK);
    probe_init(&second, KITE_TX_COMMIT);
    kite_producer *p = tx_producer(f, "lk_tx_g6", &first);
    kite_send_result res;
    kite_tx_state out;
    assert_int_equal(
        send_tx(p, &first, "TxTopicP", "outlives-its-producer", KITE_TX_UNKNOWN, &res, &out),
        KITE_OK);
    kite_producer_destroy(p); /* before the broker's first check (transactionTimeOut 1 s) */
    assert_int_equal(atomic_load(&first.checks), 0);

    kite_producer *p2 = tx_producer(f, "lk_tx_g6", &second); /* sends nothing */
    assert_int_equal(wait_visible(f, "TxTopicP", 1, 10000), 1);
    assert_true(atomic_load(&second.checks) >= 1);
    pthread_mutex_lock(&second.mu);
    assert_string_equal(second.last_check_id, res.msg_id);
    pthread_mutex_unlock(&second.mu);
    expect_committed(f, "TxTopicP", res.queue_id, "outlives-its-producer");
    kite_producer_destroy(p2);
}

/* Scenario: a delay level on a transactional message is cleared before the half is
 * sent (as Java): once committed the message is in its topic at once, with no DELAY
 * property, and the schedule topic holds nothing. Level 18 (2 h) would keep it out of
 * the topic for the whole test if it were kept. */
static void test_delay_level_cleared(void **st)
{
    fx *f = *st;
    probe pr;
    probe_init(&pr, KITE_TX_UNKNOWN);
    kite_producer *p = tx_producer(f, "lk_tx_g7", &pr);
    kite_message *m = kite_message_new("TxTopicDelay");
    kite_message_set_tags(m, "TagTx");
    kite_message_set_body(m, "no-delay", 8);
    assert_int_equal(kite_message_set_delay_level(m, 18), KITE_OK);
    exec_arg a = { &pr, KITE_TX_COMMIT };
    kite_send_result res;
    kite_tx_state out;
    assert_int_equal(kite_producer_send_in_transaction(p, m, &a, &res, &out), KITE_OK);
    assert_int_equal(out, KITE_TX_COMMIT);
    assert_int_equal(kite_message_delay_level(m), 0);
    assert_null(kite_message_property(m, "DELAY"));
    kite_message_destroy(m);
    assert_int_equal(wait_visible(f, "TxTopicDelay", 1, 10000), 1);
    expect_committed(f, "TxTopicDelay", res.queue_id, "no-delay");
    kite_cmd r;
    assert_int_equal(
        kb_pull(f->fd, "lk_tx_reader", "TxTopicDelay", res.queue_id, 0, 32, 4, 0, 0, "*", &r), 0);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 1);
    char v[64];
    assert_false(kx_prop(&rec[0], "DELAY", v, sizeof v));
    kite_cmd_free(&r);
    for (int q = 0; q < 18; q++)
        assert_int_equal(kb_lookup(f->fd, 30, "SCHEDULE_TOPIC_XXXX", q, NULL, "offset"), 0);
    kite_producer_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_and_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_refused, setup_reject, teardown),
        cmocka_unit_test_setup_teardown(test_check_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_producers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producer_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delay_level_cleared, setup, teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
