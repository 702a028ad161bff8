/* consume.h - kite-bench consume: one push consumer (concurrent or orderly listener,
 * clustering or broadcasting) counting messages and their end-to-end latency; with -m,
 * a drain measurement (first to last message). See consume.c. */
#ifndef KITE_BENCH_CONSUME_H
#define KITE_BENCH_CONSUME_H

#include "bench.h"

/* Runs the consume mode described by b's options; prints progress lines and the
 * summary. Returns the process exit code: 0 ok, 1 -m not reached in time, 2 could not start. */
int kite_bench_run_consume(kite_bench *b);

#endif
