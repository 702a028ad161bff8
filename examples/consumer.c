/* consumer.c - libkite example: a push consumer (CLUSTERING) printing what it gets for a
 * number of seconds, then a pull consumer reading the first messages of each queue.
 *
 *   example_consumer [namesrv=127.0.0.1:9876] [topic=TopicTest] [seconds=10] [expression=*] [orderly]
 *
 * With "orderly" the push consumer uses the orderly listener: each queue's messages
 * arrive in queue order, one call at a time per queue (the queues are locked on the
 * brokers), e.g. for messages sent by key with kite_producer_send_selected.
 *
 * Threads: on_messages / on_orderly run on the consumer's worker threads (several at
 * once, for different queues), so they only print and bump an atomic counter. main
 * does everything else. */
#include <kite/kite.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_long consumed;

static kite_consume_status on_messages(const kite_message_ext *const *msgs, size_t n, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        const kite_message_ext *m = msgs[i];
        printf("%s [%s:%d@%lld] tags=%s reconsumed=%d: %.*s\n", m->msg_id, m->broker_name,
               m->queue_id, (long long)m->queue_offset, m->tags ? m->tags : "-", m->reconsume_times,
               (int)(m->body_len > 80 ? 80 : m->body_len), (const char *)m->body);
    }
    atomic_fetch_add(&consumed, (long)n);
    return KITE_CONSUME_SUCCESS; /* KITE_RECONSUME_LATER: delivered again later */
}

static kite_consume_orderly_status on_orderly(const kite_message_ext *const *msgs, size_t n,
                                              void *arg)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        printf("ordered %s:%d@%lld: %.*s\n", msgs[i]->broker_name, msgs[i]->queue_id,
               (long long)msgs[i]->queue_offset,
               (int)(msgs[i]->body_len > 80 ? 80 : msgs[i]->body_len), (const char *)msgs[i]->body);
    atomic_fetch_add(&consumed, (long)n);
    return KITE_ORDERLY_SUCCESS; /* KITE_SUSPEND_CURRENT_QUEUE_A_MOMENT: the same messages again, first */
}

int main(int argc, char **argv)
{
    const char *ns = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    int seconds = argc > 3 ? atoi(argv[3]) : 10;
    const char *expr = argc > 4 ? argv[4] : "*";
    int ordered = argc > 5 && strcmp(argv[5], "orderly") == 0;

    kite_push_consumer_opts opts;
    kite_push_consumer_opts_init(&opts);
    opts.namesrv_addr = ns;
    opts.consume_threads = 4;
    kite_push_consumer *c = NULL;
    int rc = kite_push_consumer_create(&c, "example_consumer_group", &opts);
    if (rc == KITE_OK) rc = kite_push_consumer_subscribe(c, topic, expr);
    if (rc == KITE_OK)
        rc = ordered ? kite_push_consumer_set_orderly_listener(c, on_orderly, NULL)
                     : kite_push_consumer_set_listener(c, on_messages, NULL);
    if (rc == KITE_OK) rc = kite_push_consumer_start(c);
    if (rc != KITE_OK) {
        fprintf(stderr, "consumer: %s\n", kite_strerror(rc));
        kite_push_consumer_destroy(c);
        return 1;
    }
    printf("consuming %s (%s) as %s for %d s\n", topic, expr, kite_push_consumer_client_id(c),
           seconds);
    nanosleep(&(struct timespec){ seconds, 0 }, NULL);
    kite_push_consumer_destroy(c); /* commits the offsets */
    printf("consumed %ld message(s)\n", atomic_load(&consumed));

    /* The pull consumer: the application picks queues and offsets. */
    kite_pull_consumer_opts po;
    kite_pull_consumer_opts_init(&po);
    po.namesrv_addr = ns;
    kite_pull_consumer *pc = NULL;
    if (kite_pull_consumer_create(&pc, "example_pull_group", &po) != KITE_OK ||
        kite_pull_consumer_start(pc) != KITE_OK) {
        kite_pull_consumer_destroy(pc);
        return 1;
    }
    kite_mq_list l;
    if ((rc = kite_pull_consumer_fetch_queues(pc, topic, &l)) == KITE_OK) {
        for (size_t i = 0; i < l.n; i++) {
            kite_pull_result r;
            if (kite_pull_consumer_pull(pc, &l.mqs[i], expr, 0, 3, &r) == KITE_OK)
                printf("queue %s:%d: %zu message(s) from offset 0, next %lld, max %lld\n",
                       l.mqs[i].broker_name, l.mqs[i].queue_id, r.n, (long long)r.next_begin_offset,
                       (long long)r.max_offset);
            kite_pull_result_free(&r);
        }
        kite_mq_list_free(&l);
    } else {
        fprintf(stderr, "queues of %s: %s\n", topic, kite_strerror(rc));
    }
    kite_pull_consumer_destroy(pc);
    return 0;
}
