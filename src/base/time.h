/* time.h - clocks in milliseconds/nanoseconds: monotonic for timeouts, wall for stamps.
 * Stateless and thread-safe. */
#ifndef KITE_BASE_TIME_H
#define KITE_BASE_TIME_H
#include <stdint.h>

int64_t kite_mono_ms(void);   /* CLOCK_MONOTONIC in ms */
int64_t kite_mono_ns(void);   /* CLOCK_MONOTONIC in ns */
int64_t kite_wall_ms(void);   /* CLOCK_REALTIME in ms since the epoch */
void kite_sleep_ms(int64_t ms);

#endif
