/* thread.h - naming threads.
 *
 * Owns: nothing; one call a thread makes on itself at its start, so that top -H, ps -L,
 * perf and gdb show what each thread is (kite-flush, kite-dispatch, kite-io, ...).
 * (Tried and dropped, 2026-11-25: making the store's background threads SCHED_BATCH so
 * that they never preempt the event loop on wake-up; the p99 send latency at 5,000
 * msgs/s did not improve in paired runs.) */
#ifndef KITE_BASE_THREAD_H
#define KITE_BASE_THREAD_H

/* Names the calling thread (at most 15 characters are kept). */
void kite_thread_name(const char *name);

#endif
