/* msgid.c - UNIQ_KEY generation (layout in msgid.h; docs/wire.md §9.6).
 * Threads: the generator is shared by all sending threads of a producer: the counter
 * is an atomic, the month window is recomputed by whoever sees it expired (all such
 * threads compute the same value, so the race is benign). */
#include "client/msgid.h"
#include "base/time.h"
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void kite_local_ipv4(uint8_t out[4])
{
    out[0] = 127, out[1] = 0, out[2] = 0, out[3] = 1;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        memcpy(out, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
        break;
    }
    freeifaddrs(ifs);
}

static uint32_t seed_random(void)
{
    /* Not security relevant: only has to differ between producers of one process. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    static const char anchor = 0; /* address entropy (ASLR); read-only */
    x ^= (uint64_t)(uintptr_t)&anchor;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

void kite_uniq_init(kite_uniq_gen *g)
{
    uint8_t ip[4];
    kite_local_ipv4(ip);
    memcpy(g->prefix, ip, 4);
    uint16_t pid = (uint16_t)getpid();
    g->prefix[4] = (uint8_t)(pid >> 8);
    g->prefix[5] = (uint8_t)pid;
    uint32_t r = seed_random();
    g->prefix[6] = (uint8_t)(r >> 24);
    g->prefix[7] = (uint8_t)(r >> 16);
    g->prefix[8] = (uint8_t)(r >> 8);
    g->prefix[9] = (uint8_t)r;
    atomic_init(&g->counter, r & 0xffffu);
    atomic_init(&g->month_start_ms, 0);
    atomic_init(&g->month_end_ms, 0);
}

static void month_window(int64_t now_ms, int64_t *start, int64_t *end)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    *start = (int64_t)mktime(&tm) * 1000;
    tm.tm_mon += 1;
    tm.tm_isdst = -1;
    *end = (int64_t)mktime(&tm) * 1000;
}

void kite_uniq_next(kite_uniq_gen *g, char out[KITE_UNIQ_LEN + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    int64_t now = kite_wall_ms();
    int64_t start = atomic_load(&g->month_start_ms), end = atomic_load(&g->month_end_ms);
    if (now >= end || now < start) {
        month_window(now, &start, &end);
        atomic_store(&g->month_start_ms, start);
        atomic_store(&g->month_end_ms, end);
    }
    uint32_t since = (uint32_t)(now - start);
    uint16_t cnt = (uint16_t)atomic_fetch_add(&g->counter, 1u);
    uint8_t b[16];
    memcpy(b, g->prefix, 10);
    b[10] = (uint8_t)(since >> 24);
    b[11] = (uint8_t)(since >> 16);
    b[12] = (uint8_t)(since >> 8);
    b[13] = (uint8_t)since;
    b[14] = (uint8_t)(cnt >> 8);
    b[15] = (uint8_t)cnt;
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[KITE_UNIQ_LEN] = 0;
}
