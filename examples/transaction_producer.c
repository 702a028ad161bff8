/* transaction_producer.c - libkite example: transactional messages. Each message is
 * sent as a half message, then a pretend local transaction decides: even numbers
 * commit, numbers divisible by 3 roll back, the rest stay undecided until the broker
 * checks back (after its transactionTimeOut, 6 s by default, on its
 * transactionCheckInterval), when on_check commits them.
 *
 *   example_transaction_producer [namesrv=127.0.0.1:9876] [topic=TopicTx] [count=6] [wait_s=40]
 *
 * Threads: execute runs on main (inside kite_producer_send_in_transaction); on_check
 * runs on the producer's check thread and only touches an atomic counter. */
#include <kite/kite.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static atomic_int checked;

static kite_tx_state execute(kite_message *msg, void *arg)
{
    int i = *(const int *)arg;
    kite_tx_state st = i % 2 == 0   ? KITE_TX_COMMIT
                       : i % 3 == 0 ? KITE_TX_ROLLBACK
                                    : KITE_TX_UNKNOWN;
    printf("local transaction %d of %s: %s\n", i, kite_message_msg_id(msg), kite_tx_state_name(st));
    return st;
}

static kite_tx_state on_check(const kite_message_ext *m, void *arg)
{
    (void)arg;
    printf("broker asks about %s (%.*s): COMMIT\n", m->msg_id, (int)m->body_len,
           (const char *)m->body);
    atomic_fetch_add(&checked, 1);
    return KITE_TX_COMMIT;
}

int main(int argc, char **argv)
{
    const char *ns = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTx";
    int count = argc > 3 ? atoi(argv[3]) : 6;
    int wait_s = argc > 4 ? atoi(argv[4]) : 40;

    kite_producer_opts opts;
    kite_producer_opts_init(&opts);
    opts.namesrv_addr = ns;
    kite_tx_listener l = { .execute = execute, .check = on_check };
    kite_producer *p = NULL;
    int rc = kite_producer_create_transactional(&p, "example_tx_group", &opts, &l);
    if (rc == KITE_OK) rc = kite_producer_start(p);
    if (rc != KITE_OK) {
        fprintf(stderr, "cannot start the producer: %s\n", kite_strerror(rc));
        kite_producer_destroy(p);
        return 1;
    }
    int undecided = 0, failures = 0;
    for (int i = 0; i < count; i++) {
        kite_message *m = kite_message_new(topic);
        char body[64];
        int n = snprintf(body, sizeof body, "transactional %d", i);
        kite_message_set_body(m, body, (size_t)n);
        kite_send_result r;
        kite_tx_state st;
        rc = kite_producer_send_in_transaction(p, m, &i, &r, &st);
        if (rc != KITE_OK) {
            printf("send %d failed: %s (%s)\n", i, kite_strerror(rc), r.error);
            failures++;
        } else if (st == KITE_TX_UNKNOWN) {
            undecided++;
        }
        kite_message_destroy(m);
    }
    /* Undecided ones are settled by the broker's check-back; wait for it (bounded). */
    for (int s = 0; s < wait_s * 10 && atomic_load(&checked) < undecided; s++)
        nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
    printf("%d undecided, %d settled by checks\n", undecided, atomic_load(&checked));
    kite_producer_destroy(p);
    return failures ? 1 : 0;
}
