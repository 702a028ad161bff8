/* producer.c - libkite example: send a few messages synchronously, one asynchronously,
 * and a small ordered sequence by sharding key.
 *
 *   example_producer [namesrv=127.0.0.1:9876] [topic=TopicTest] [count=10]
 *
 * Threads: main thread only, except on_sent, which runs on the producer's I/O thread
 * (it only reads the result and signals main through an atomic). */
#include <kite/kite.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int async_done;

static void on_sent(int status, const kite_send_result *res, void *arg)
{
    (void)arg;
    if (status == KITE_OK)
        printf("async: %s msgId=%s queue=%s:%d offset=%lld\n", kite_send_status_name(res->status),
               res->msg_id, res->broker_name, res->queue_id, (long long)res->queue_offset);
    else
        printf("async: failed: %s (%s)\n", kite_strerror(status), res->error);
    atomic_store(&async_done, 1);
}

int main(int argc, char **argv)
{
    const char *ns = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    int count = argc > 3 ? atoi(argv[3]) : 10;

    kite_producer_opts opts;
    kite_producer_opts_init(&opts);
    opts.namesrv_addr = ns;
    kite_producer *p = NULL;
    int rc = kite_producer_create(&p, "example_producer_group", &opts);
    if (rc == KITE_OK) rc = kite_producer_start(p);
    if (rc != KITE_OK) {
        fprintf(stderr, "cannot start the producer: %s\n", kite_strerror(rc));
        kite_producer_destroy(p);
        return 1;
    }

    kite_message *m = kite_message_new(topic);
    kite_message_set_tags(m, "TagA");
    kite_message_set_property(m, "origin", "examples/producer.c");
    int failures = 0;
    for (int i = 0; i < count; i++) {
        char body[64], key[32];
        int n = snprintf(body, sizeof body, "Hello KiteMQ %d", i);
        snprintf(key, sizeof key, "key-%d", i);
        kite_message_set_keys(m, key);
        kite_message_set_body(m, body, (size_t)n);
        kite_send_result r;
        rc = kite_producer_send(p, m, &r);
        if (rc == KITE_OK)
            printf("sync: %s msgId=%s offsetMsgId=%s queue=%s:%d offset=%lld\n",
                   kite_send_status_name(r.status), r.msg_id, r.offset_msg_id, r.broker_name,
                   r.queue_id, (long long)r.queue_offset);
        else {
            printf("sync: failed: %s (%s)\n", kite_strerror(rc), r.error);
            failures++;
        }
    }

    /* Ordered messages: every message of one order goes to the same queue. */
    for (int step = 0; step < 3; step++) {
        char body[64];
        int n = snprintf(body, sizeof body, "order-42 step %d", step);
        kite_message_set_body(m, body, (size_t)n);
        kite_send_result r;
        rc = kite_producer_send_selected(p, m, kite_select_by_key, "order-42", &r);
        if (rc == KITE_OK)
            printf("ordered: step %d -> queue %s:%d\n", step, r.broker_name, r.queue_id);
        else
            printf("ordered: failed: %s (%s)\n", kite_strerror(rc), r.error);
    }

    /* Async: the message may be changed or destroyed as soon as send_async returns. */
    kite_message_set_body(m, "async hello", 11);
    if (kite_producer_send_async(p, m, on_sent, NULL) == KITE_OK) {
        while (!atomic_load(&async_done)) nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    }
    kite_message_destroy(m);
    kite_producer_destroy(p);
    return failures ? 1 : 0;
}
