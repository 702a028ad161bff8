/* long_store_kill.c - the kill -9 crash test with 1000 cycles (make test-long). */
#include "store_crash.h"
#include <stdlib.h>
#include <time.h>

int main(void)
{
    const char *s = getenv("KITE_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    return kt_kill_cycles("long-kill", 1000, seed) == 0 ? 0 : 1;
}
