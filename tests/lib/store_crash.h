/* store_crash.h - the kill -9 cycle driver shared by crash_store_kill (CI, 20+ cycles)
 * and long_store_kill (1000+ cycles). Test code only. */
#ifndef KITE_TESTS_STORE_CRASH_H
#define KITE_TESTS_STORE_CRASH_H

/* Runs `cycles` rounds: a forked child appends with SYNC_FLUSH and reports every
 * acknowledged offset through a pipe; it is SIGKILLed at a random moment; the parent
 * reopens the store and checks every acknowledged message (content, commit-log offset,
 * consume-queue entry) and that nothing past the durable end is served.
 * Returns the number of problems found (0 = pass). */
int kt_kill_cycles(const char *name, int cycles, unsigned seed);

#endif
