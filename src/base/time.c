/* time.c - clock and deadline helpers (see time.h). */
#include "base/time.h"
#include <errno.h>

int64_t kite_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
int64_t kite_mono_us(void) { return kite_mono_ns() / 1000LL; }
int64_t kite_mono_ms(void) { return kite_mono_ns() / 1000000LL; }
int64_t kite_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000LL;
}
void kite_sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int64_t kite_deadline_ms(int64_t timeout_ms)
{
    int64_t now = kite_mono_ms();
    if (timeout_ms <= 0) return now;
    return timeout_ms > KITE_DEADLINE_NEVER - now ? KITE_DEADLINE_NEVER : now + timeout_ms;
}

int64_t kite_deadline_left_ms(int64_t deadline)
{
    int64_t left = deadline - kite_mono_ms();
    return left > 0 ? left : 0;
}

struct timespec kite_realtime_after_us(int64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (us <= 0) return ts;
    ts.tv_sec += (time_t)(us / 1000000);
    ts.tv_nsec += (long)(us % 1000000) * 1000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
