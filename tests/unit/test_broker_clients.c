/* test_broker_clients.c - kite-broker client channels in one process (broker/clients.c
 * over a real RPC server on loopback): when a member of a clustering group leaves, the
 * broker notifies the others (NOTIFY_CONSUMER_IDS_CHANGED); a notification whose write
 * fails (that member's peer has already reset the connection) closes that connection at
 * once, and the close removes the member and frees the emptied group while the
 * notification loop is still running. Both members must be gone afterwards and nothing
 * freed may be touched (the ASan build checks; the Go conformance suite crashed the
 * broker here when two consumers of one group shut down together). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "broker/broker.h"
#include "kt.h"
#include "net/conn.h"
#include "rpc/server.h"
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct env {
    kite_broker *b;
    kite_conn *conns[2]; /* accepted connections, in accept order, referenced here */
    int nconns;
} env;

static void on_open(kite_conn *c, void *arg)
{
    env *e = arg;
    kite_conn_ref(c);
    e->conns[e->nconns++] = c;
    if (e->nconns == 2) kite_ev_stop(e->b->ev);
}

static void on_close(kite_conn *c, void *arg) { bk_clients_on_close(((env *)arg)->b, c); }

static void give_up(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    kite_ev_stop(ev);
}

static void join(env *e, kite_conn *c, const char *cid)
{
    kite_map subs;
    kite_map_init(&subs);
    int changed = 0;
    bk_consumer_group *g =
        bk_consumer_register(e->b, "CG_close", c, cid, 0, 401, "CONSUME_PASSIVELY", "CLUSTERING",
                             "CONSUME_FROM_LAST_OFFSET", &subs, &changed);
    kite_map_free(&subs, NULL);
    assert_non_null(g);
    assert_int_equal(changed, 1);
}

static void test_notify_write_fails_and_empties_group(void **state)
{
    (void)state;
    env e = { 0 };
    kite_broker *b = calloc(1, sizeof *b);
    assert_non_null(b);
    e.b = b;
    b->cfg.notify_consumer_ids_changed_enable = 1;
    kite_map_init(&b->groups);
    bk_clients_init(b);
    b->ev = kite_ev_new();
    assert_non_null(b->ev);
    kite_rpc_server_opts opts = { .on_open = on_open, .on_close = on_close, .cb_arg = &e };
    b->srv = kite_rpc_server_new(b->ev, &opts);
    assert_non_null(b->srv);
    char err[256];
    int port = kite_rpc_server_listen(b->srv, "127.0.0.1", 0, err, sizeof err);
    assert_true(port > 0);

    /* two clients; the loop runs on this thread until both are accepted */
    int fd[2];
    for (int i = 0; i < 2; i++) {
        fd[i] = kt_connect("127.0.0.1", port);
        assert_true(fd[i] >= 0);
    }
    kite_ev_timer *t = kite_ev_timer_add(b->ev, KT_DEADLINE_MS, 0, give_up, NULL);
    kite_ev_run(b->ev);
    assert_int_equal(e.nconns, 2);
    kite_ev_timer_cancel(b->ev, t);
    join(&e, e.conns[0], "127.0.0.1@A");
    join(&e, e.conns[1], "127.0.0.1@B");
    assert_int_equal(bk_consumer_group_get(b, "CG_close")->nch, 2);

    /* member B's client resets its connection; the loop does not run, so the broker has
     * not seen it when member A's connection closes and the broker writes to B */
    struct linger lg = { 1, 0 };
    assert_int_equal(setsockopt(fd[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd[1]);
    usleep(20000); /* loopback delivers the reset at once; this only lets it land */
    kite_conn_close(e.conns[0], "test: member A leaves");

    /* the notification to B failed and closed B at once: the group is gone entirely */
    assert_true(kite_conn_is_closed(e.conns[1]));
    assert_int_equal(kite_rpc_server_conn_count(b->srv), 0);
    assert_null(bk_consumer_group_get(b, "CG_close"));

    close(fd[0]);
    kite_conn_unref(e.conns[0]);
    kite_conn_unref(e.conns[1]);
    kite_rpc_server_free(b->srv);
    bk_clients_free(b);
    kite_map_free(&b->groups, NULL);
    kite_ev_free(b->ev);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_write_fails_and_empties_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
