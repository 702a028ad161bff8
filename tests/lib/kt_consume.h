/* kt_consume.h - helpers for the libkite consumer tests: one kite-namesrv + kite-broker
 * on a random loopback host, a producer that sends numbered messages ("<prefix>-<i>"),
 * and a thread-safe collector that counts deliveries per message number (to check
 * exactly-once, no loss, few duplicates). Every wait is bounded. */
#ifndef KITE_TESTS_KT_CONSUME_H
#define KITE_TESTS_KT_CONSUME_H

#include "kt.h"
#include "kite/kite.h"
#include <pthread.h>
#include <stdatomic.h>

typedef struct kc_env {
    kt_daemon ns, br;
    char nsaddr[80];
    char braddr[64];
    char dir[512]; /* scratch directory for local offset files */
} kc_env;

/* Starts both daemons (broker_extra: extra config lines or NULL). 0 or -1. */
int kc_env_start(kc_env *e, const char *broker_extra);
/* Stops them by PID. 0 or -1. */
int kc_env_stop(kc_env *e);
/* Waits until the name server has a route for topic. 0 or -1. */
int kc_wait_route(const kc_env *e, const char *topic, int timeout_ms);
/* cmocka group setup/teardown: a started kc_env with default options in *st. */
int kc_setup(void **st);
int kc_teardown(void **st);

#define KC_MAX 16384

typedef struct kc_collector {
    pthread_mutex_t mu;
    int counts[KC_MAX]; /* deliveries per message number */
    int max_reconsume[KC_MAX];
    atomic_int total; /* deliveries, duplicates included */
    atomic_int bad;   /* deliveries that did not parse or failed a check */
    char prefix[32];
    char expect_topic[128]; /* non-empty: every message must carry this topic */
    /* Listener behaviour: messages numbered < fail_below return RECONSUME_LATER while
     * their reconsume count is < fail_until. */
    int fail_below, fail_until;
    atomic_int delay_us; /* sleep per call (slow consumer) */
    char tags_seen[8][16];
} kc_collector;

void kc_collector_init(kc_collector *c, const char *prefix, const char *topic);
void kc_collector_destroy(kc_collector *c);
/* The concurrent listener (arg = kc_collector*). */
kite_consume_status kc_listener(const kite_message_ext *const *msgs, size_t n, void *arg);
/* Waits until every number in [0, n) was delivered at least once; returns the count of
 * distinct numbers seen. */
int kc_wait_distinct(kc_collector *c, int n, int timeout_ms);
int kc_distinct(kc_collector *c, int n);
int kc_duplicates(kc_collector *c, int n);

kite_producer *kc_producer(const kc_env *e);
/* Sends "<prefix>-<i>" for i in [from, to) with tags (may be NULL; "A,B,C" rotates). */
void kc_send_range(kite_producer *p, const char *topic, const char *prefix, int from, int to,
                   const char *tags);
/* Consumer options for tests: short intervals, 4 workers. */
void kc_consumer_opts(const kc_env *e, kite_push_consumer_opts *o);
/* Created, subscribed, listener set, started; asserts on failure. */
kite_push_consumer *kc_consumer(const kite_push_consumer_opts *o, const char *group,
                                const char *topic, const char *expr, kc_collector *col);

#endif
