/* thread.h - naming threads, and condition waits bounded in time.
 *
 * Owns: nothing; one call a thread makes on itself at its start, so that top -H, ps -L,
 * perf and gdb show what each thread is (kite-flush, kite-dispatch, kite-io, ...), and the
 * one helper for "wait on this condition, but at most this long".
 * (Tried and dropped, 2026-11-25: making the store's background threads SCHED_BATCH so
 * that they never preempt the event loop on wake-up; the p99 send latency at 5,000
 * msgs/s did not improve in paired runs.) */
#ifndef KITE_BASE_THREAD_H
#define KITE_BASE_THREAD_H
#include <pthread.h>
#include <stdint.h>

/* Names the calling thread (at most 15 characters are kept). */
void kite_thread_name(const char *name);
/* pthread_cond_timedwait for at most us microseconds (m locked by the caller). Returns
 * early on a signal or a spurious wake-up, like the call it wraps: callers re-check their
 * condition (and their deadline, base/time.h). */
void kite_cond_wait_us(pthread_cond_t *c, pthread_mutex_t *m, int64_t us);

#endif
