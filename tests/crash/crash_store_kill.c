/* crash_store_kill.c - SIGKILL a SYNC_FLUSH writer at random moments (24 cycles) and check
 * that every acknowledged message survives intact and nothing past the end is served. */
#include "store_crash.h"
#include <stdlib.h>
#include <time.h>

int main(void)
{
    const char *s = getenv("KITE_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    return kt_kill_cycles("crash-kill", 24, seed) == 0 ? 0 : 1;
}
