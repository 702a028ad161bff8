/* thread.c - thread names (see thread.h). */
#include "base/thread.h"
#include <pthread.h>
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
