/* thread.c - thread names and bounded condition waits (see thread.h). */
#include "base/thread.h"
#include "base/time.h"
#include <string.h>

void kite_thread_name(const char *name)
{
    char n[16];
    size_t l = strlen(name);
    if (l > 15) l = 15;
    memcpy(n, name, l);
    n[l] = 0;
    pthread_setname_np(pthread_self(), n);
}

void kite_cond_wait_us(pthread_cond_t *c, pthread_mutex_t *m, int64_t us)
{
    struct timespec ts = kite_realtime_after_us(us);
    pthread_cond_timedwait(c, m, &ts);
}
