/* time.h - clocks in milliseconds/microseconds/nanoseconds (monotonic for timeouts, wall
 * for stamps) and the one way to compute deadlines.
 *
 * Deadlines: a deadline is a time of the monotonic clock in ms (kite_mono_ms), computed
 * once from a timeout with kite_deadline_ms and consulted with kite_deadline_left_ms, so a
 * wait that wakes up early waits only for what is left. KITE_DEADLINE_NEVER never passes.
 * Condition-variable waits bounded in time are kite_cond_wait_us (base/thread.h).
 * Stateless and thread-safe. */
#ifndef KITE_BASE_TIME_H
#define KITE_BASE_TIME_H
#include <stdint.h>
#include <time.h>

int64_t kite_mono_ms(void); /* CLOCK_MONOTONIC in ms */
int64_t kite_mono_us(void); /* CLOCK_MONOTONIC in us */
int64_t kite_mono_ns(void); /* CLOCK_MONOTONIC in ns */
int64_t kite_wall_ms(void); /* CLOCK_REALTIME in ms since the epoch */
void kite_sleep_ms(int64_t ms);

#define KITE_DEADLINE_NEVER INT64_MAX

/* The deadline timeout_ms from now; a timeout <= 0 gives now (already due). */
int64_t kite_deadline_ms(int64_t timeout_ms);
/* Milliseconds left until deadline: 0 once it has passed, never negative. */
int64_t kite_deadline_left_ms(int64_t deadline);
/* The CLOCK_REALTIME instant us microseconds from now (us <= 0: now), the absolute time
 * pthread_cond_timedwait takes. */
struct timespec kite_realtime_after_us(int64_t us);

#endif
