/* startup.h - kite-bench startup: how long a server takes from fork/exec to accepting
 * TCP connections, and its resident memory then. See startup.c. */
#ifndef KITE_BENCH_STARTUP_H
#define KITE_BENCH_STARTUP_H

/* argv[0] is "startup"; the options and the command follow. Returns the exit code:
 * 0 measured, 1 the server died or never accepted, 2 usage error. */
int kite_bench_run_startup(int argc, char **argv);

#endif
