/* fault.c - the producer's broker fault table (see fault.h). Entries are few (one per broker
 * group that ever failed) and dropped when the broker answers again or when found expired. */
#include "client/fault.h"
#include "base/map.h"
#include "base/mem.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct kite_fault {
    int64_t avoid_ms;
    pthread_mutex_t mu;
    kite_map until;  /* broker name -> int64_t* (monotonic ms) */
    atomic_size_t n; /* entries in until: the common case (none) takes no lock */
};

kite_fault *kite_fault_new(int64_t avoid_ms)
{
    kite_fault *f = kite_xcalloc(1, sizeof *f);
    f->avoid_ms = avoid_ms;
    pthread_mutex_init(&f->mu, NULL);
    kite_map_init(&f->until);
    return f;
}

void kite_fault_free(kite_fault *f)
{
    if (!f) return;
    kite_map_free(&f->until, free);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

int kite_fault_failed(kite_fault *f, const char *broker, int64_t now_ms)
{
    if (!f || f->avoid_ms <= 0 || !broker || !*broker) return 0;
    pthread_mutex_lock(&f->mu);
    int64_t *u = kite_map_get(&f->until, broker);
    int was = u && *u > now_ms;
    if (!u) {
        u = kite_xmalloc(sizeof *u);
        kite_map_put(&f->until, broker, u);
        atomic_store(&f->n, f->until.count);
    }
    *u = now_ms + f->avoid_ms;
    pthread_mutex_unlock(&f->mu);
    return !was;
}

void kite_fault_ok(kite_fault *f, const char *broker)
{
    if (!f || f->avoid_ms <= 0 || !broker || atomic_load(&f->n) == 0) return;
    pthread_mutex_lock(&f->mu);
    free(kite_map_del(&f->until, broker));
    atomic_store(&f->n, f->until.count);
    pthread_mutex_unlock(&f->mu);
}

int kite_fault_avoided(kite_fault *f, const char *broker, int64_t now_ms)
{
    if (!f || f->avoid_ms <= 0 || !broker || atomic_load(&f->n) == 0) return 0;
    pthread_mutex_lock(&f->mu);
    int64_t *u = kite_map_get(&f->until, broker);
    int avoided = u && *u > now_ms;
    if (u && !avoided) {
        free(kite_map_del(&f->until, broker));
        atomic_store(&f->n, f->until.count);
    }
    pthread_mutex_unlock(&f->mu);
    return avoided;
}
