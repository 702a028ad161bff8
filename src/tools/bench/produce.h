/* produce.h - kite-bench produce: closed-loop (--async in-flight window, --sync threads)
 * and open-loop (--rate) sending with latency percentiles. See produce.c. */
#ifndef KITE_BENCH_PRODUCE_H
#define KITE_BENCH_PRODUCE_H

#include "bench.h"

/* Runs the produce mode described by b's options; prints progress lines and the
 * summary. Returns the process exit code: 0 ok, 1 some sends failed, 2 could not start. */
int kite_bench_run_produce(kite_bench *b);

#endif
