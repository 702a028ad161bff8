/* crash_store_powercut.c - simulated power cuts through the fault seam.
 *
 * 220 cycles: writer threads append with SYNC_FLUSH, the power is cut at a random moment
 * (every byte not synced is lost, unsynced directory entries vanish), the store is reopened
 * and every acknowledged message must be present and intact, with its consume-queue entry,
 * and nothing past the durable end served. Then a control run with syncing disabled must
 * LOSE acknowledged messages - proof that the check can fail. */
#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "store/io.h"
#include "store/store.h"
#include "store_testutil.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOPIC   "PowerTopic"
#define NQ      4
#define MINB    16
#define MAXB    900
#define WRITERS 3

typedef struct ack {
    int64_t seq, phys, qoff;
} ack;

typedef struct run {
    kite_store *s;
    pthread_mutex_t mu;
    ack *acks;
    size_t n, cap;
    _Atomic int64_t next_seq;
    _Atomic int stop;
    size_t total;
} run;

static void *writer(void *arg)
{
    run *r = arg;
    kt_msg *k = malloc(sizeof *k);
    while (!atomic_load(&r->stop)) {
        int64_t seq = atomic_fetch_add(&r->next_seq, 1);
        kt_msg_make(k, (uint64_t)seq, TOPIC, (int32_t)(seq % NQ), MINB, MAXB);
        kite_put_result res;
        kite_store_put_wait(r->s, &k->m, &res);
        if (res.status != KITE_PUT_OK) break; /* the power is gone */
        pthread_mutex_lock(&r->mu);
        if (r->n == r->cap)
            r->acks = realloc(r->acks, (r->cap = r->cap ? r->cap * 2 : 4096) * sizeof *r->acks);
        r->acks[r->n++] = (ack){ seq, res.phys_offset, res.queue_offset };
        r->total++;
        pthread_mutex_unlock(&r->mu);
    }
    free(k);
    return NULL;
}

/* Counts acknowledged messages that are missing or damaged in [from, n). */
static size_t count_lost(kite_store *s, const run *r, size_t from)
{
    size_t lost = 0;
    for (size_t i = from; i < r->n; i++) {
        const ack *a = &r->acks[i];
        int32_t qid = (int32_t)(a->seq % NQ);
        kite_store_seg seg;
        if (kite_store_get_by_offset(s, a->phys, &seg, NULL) != KITE_OK) {
            lost++;
            continue;
        }
        int bad = kt_msg_check(seg.data, seg.len, (uint64_t)a->seq, TOPIC, qid, MINB, MAXB) != 0;
        kite_store_seg_release(&seg);
        kite_get_result g;
        kite_store_get_messages(s, TOPIC, qid, a->qoff, 1, 1 << 20, NULL, 0, &g);
        if (g.status != KITE_GET_FOUND || g.segs[0].phys_offset != a->phys) bad = 1;
        kite_get_result_release(&g);
        lost += (size_t)bad;
    }
    return lost;
}

/* Nothing past the end: the log walks cleanly and queue units match its records. */
static int consistent(kite_store *s)
{
    long recs = kt_walk_log(s);
    if (recs < 0) return 0;
    kite_store_seg seg;
    if (kite_store_get_by_offset(s, kite_store_cl_max_offset(s), &seg, NULL) != KITE_ENOTFOUND)
        return 0;
    int64_t total = 0;
    for (int q = 0; q < NQ; q++) total += kite_store_max_offset(s, TOPIC, q);
    if (total != recs)
        fprintf(stderr, "queues %lld units vs %ld records\n", (long long)total, recs);
    return total == recs;
}

static size_t power_run(const char *name, int cycles, int sync_disabled, unsigned seed)
{
    char *dir = kt_tmpdir(name);
    kite_io *io = kite_io_fault_new();
    kite_store_opts o;
    kt_opts(&o, dir, 1, 32 * 1024, 20 * 64);
    o.io = io;
    o.cq_flush_interval_ms = 5; /* checkpoints often, so cuts land around them too */
    o.warm_files = 1;           /* pre-created next files are in the picture too */
    run r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.mu, NULL);
    srand(seed);
    size_t lost = 0, checked_from = 0, total_acks = 0;
    int inconsistent = 0;
    for (int c = 0; c <= cycles; c++) {
        char err[512];
        r.s = kite_store_open(&o, err, sizeof err);
        if (!r.s) {
            fprintf(stderr, "%s cycle %d: open failed: %s\n", name, c, err);
            lost += r.n ? r.n : 1;
            break;
        }
        kite_store_wait_dispatched(r.s, KT_DEADLINE_MS);
        /* Full check every 20 cycles and at the end; otherwise the latest acks. */
        size_t from = (c % 20 == 0 || c == cycles) ? 0 : checked_from;
        lost += count_lost(r.s, &r, from);
        checked_from = r.n;
        if (!consistent(r.s)) inconsistent++;
        if (c == cycles) {
            kite_store_close(r.s);
            break;
        }
        if (c > 0 && c % 55 == 0) {
            /* Start a fresh store now and then so each reopening stays cheap. */
            kite_store_close(r.s);
            kite_io_fault_power_cut(io); /* drop the seam's cached images first */
            kite_io_fault_restart(io);
            kt_rmrf(dir);
            r.n = 0;
            checked_from = 0;
            r.s = kite_store_open(&o, err, sizeof err);
            if (!r.s) {
                fprintf(stderr, "%s: reopen of a fresh store failed: %s\n", name, err);
                lost++;
                break;
            }
        }
        if (sync_disabled) kite_io_fault_set_sync_disabled(io, 1);
        atomic_store(&r.stop, 0);
        pthread_t th[WRITERS];
        for (int i = 0; i < WRITERS; i++) pthread_create(&th[i], NULL, writer, &r);
        kite_sleep_ms(rand() % 12);
        if (rand() % 3 == 0) { /* sometimes cut in the middle of a burst of syncs */
            long target = kite_io_fault_calls(io, KITE_IO_SYNC) + rand() % 5;
            while (kite_io_fault_calls(io, KITE_IO_SYNC) < target) kite_sleep_ms(1);
        }
        kite_io_fault_power_cut(io);
        atomic_store(&r.stop, 1);
        for (int i = 0; i < WRITERS; i++) pthread_join(th[i], NULL);
        kite_store_close(r.s);
        kite_io_fault_restart(io);
        kite_io_fault_set_sync_disabled(io, 0);
    }
    (void)total_acks;
    fprintf(stderr,
            "%s: %d power cuts, %zu acknowledged messages, %zu lost, %d inconsistent reopenings\n",
            name, cycles, r.total, lost, inconsistent);
    if (inconsistent) lost += (size_t)inconsistent;
    free(r.acks);
    pthread_mutex_destroy(&r.mu);
    kite_io_fault_free(io);
    if (!sync_disabled && kt_fsck(dir) != 0) { /* what the last cut left, recovered */
        fprintf(stderr, "%s: kite-fsck found problems in %s\n", name, dir);
        lost++;
    } else {
        kt_rmrf(dir);
    }
    free(dir);
    return lost;
}

int main(void)
{
    kt_quiet_logs();
    kite_log_set_level(KITE_LOG_OFF); /* every cycle logs expected fail-stop errors */
    const char *e = getenv("KITE_SEED");
    unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "seed %u\n", seed);
    size_t lost = power_run("powercut", 220, 0, seed);
    if (lost != 0) {
        fprintf(stderr, "FAIL: acknowledged messages lost across power cuts\n");
        return 1;
    }
    size_t control = power_run("powercut-control", 30, 1, seed);
    if (control == 0) {
        fprintf(stderr, "FAIL: control run without syncs lost nothing: the check cannot fail\n");
        return 1;
    }
    fprintf(stderr, "PASS: 0 lost with syncs; control run without syncs lost %zu\n", control);
    return 0;
}
