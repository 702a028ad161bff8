/* crash_store_torn.c - torn and corrupt tails: the last commit log file is cut short,
 * zeroed from a random position, or has a byte flipped inside a record, after a "crash"
 * (abort marker present, checkpoint at the start of that file). Recovery must keep every
 * record before the damage, drop the damaged one and everything after, rebuild the consume
 * queues to match, and keep working. Damage BEFORE the checkpoint must make open fail,
 * naming the file and offset. */
#include "base/err.h"
#include "base/log.h"
#include "store/store_int.h"
#include "store_testutil.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CL   8192
#define NMSG 300

typedef struct rec {
    int64_t phys;
    int32_t size, body_len;
    int qid;
} rec;
static rec recs[NMSG];

static void sh(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        exit(1);
    }
}

static void set_crashed(const char *dir, int64_t trusted)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/checkpoint", dir);
    int fd;
    if (kite_ckpt_open(kite_io_posix(), p, &fd) != 0) exit(1);
    /* Keep the index state of the clean checkpoint: recovery must cut the index back to
     * the damaged commit log's end. */
    kite_ckpt ck;
    char err[256];
    if (kite_ckpt_read(kite_io_posix(), p, &ck, err, sizeof err) != 0) {
        memset(&ck, 0, sizeof ck);
        ck.ix_file = -2;
    }
    ck.cl_flushed = ck.cq_dispatched = trusted;
    if (ck.seq < 100) ck.seq = 100;
    if (kite_ckpt_write(kite_io_posix(), fd, &ck) != 0) exit(1);
    close(fd);
    snprintf(p, sizeof p, "%s/abort", dir);
    close(open(p, O_WRONLY | O_CREAT, 0644));
}

static int check_store(const char *dir, int64_t end, int *bad)
{
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL, 20 * 32);
    char err[512];
    kite_store *s = kite_store_open(&o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "open failed: %s\n", err);
        (*bad)++;
        return -1;
    }
    kite_store_wait_dispatched(s, KT_DEADLINE_MS);
    if (kite_store_cl_max_offset(s) != end) {
        fprintf(stderr, "end %lld, expected %lld\n", (long long)kite_store_cl_max_offset(s),
                (long long)end);
        (*bad)++;
    }
    int64_t perq[2] = { 0, 0 };
    int kept = 0;
    for (int i = 0; i < NMSG && recs[i].phys < end; i++) {
        kite_store_seg seg;
        if (kite_store_get_by_offset(s, recs[i].phys, &seg, NULL) != KITE_OK ||
            kt_msg_check(seg.data, seg.len, (uint64_t)i, "Torn", recs[i].qid, 16, 400) != 0) {
            fprintf(stderr, "record %d at %lld damaged\n", i, (long long)recs[i].phys);
            (*bad)++;
        }
        kite_store_seg_release(&seg);
        perq[recs[i].qid]++;
        kept++;
    }
    for (int q = 0; q < 2; q++)
        if (kite_store_max_offset(s, "Torn", q) != perq[q]) {
            fprintf(stderr, "queue %d: %lld units, expected %lld\n", q,
                    (long long)kite_store_max_offset(s, "Torn", q), (long long)perq[q]);
            (*bad)++;
        }
    kite_store_seg seg;
    if (kite_store_get_by_offset(s, end, &seg, NULL) == KITE_OK) {
        fprintf(stderr, "bytes past the valid end are served\n");
        (*bad)++;
        kite_store_seg_release(&seg);
    }
    /* keeps working: a new message continues the queue */
    kt_msg k;
    kt_msg_make(&k, 777777, "Torn", 0, 16, 400);
    kite_put_result r;
    kite_store_put_wait(s, &k.m, &r);
    if (r.status != KITE_PUT_OK || r.queue_offset != perq[0] || r.phys_offset < end) (*bad)++;
    kite_store_close(s);
    s = kite_store_open(&o, err, sizeof err);
    if (!s || kt_walk_log(s) != kept + 1) (*bad)++;
    if (s) {
        /* the index was cut back with the commit log: the last kept key is found, the
         * first dropped one is not */
        kite_get_result g;
        char key[32];
        if (kept > 0) {
            snprintf(key, sizeof key, "k%d", kept - 1);
            kite_store_query_by_key(s, "Torn", key, 4, 0, INT64_MAX, &g, NULL, NULL);
            if (g.count != 1 || g.segs[0].phys_offset != recs[kept - 1].phys) {
                fprintf(stderr, "index: key %s -> %zu results\n", key, g.count);
                (*bad)++;
            }
            kite_get_result_release(&g);
        }
        snprintf(key, sizeof key, "k%d", kept);
        kite_store_query_by_key(s, "Torn", key, 4, 0, INT64_MAX, &g, NULL, NULL);
        if (g.count != 0) {
            fprintf(stderr, "index: dropped key %s still found\n", key);
            (*bad)++;
        }
        kite_get_result_release(&g);
        kite_store_close(s);
    }
    if (kt_fsck(dir) != 0) (*bad)++;
    return kept;
}

int main(void)
{
    kt_quiet_logs();
    kite_log_set_level(KITE_LOG_OFF);
    const char *e = getenv("KITE_SEED");
    unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "seed %u\n", seed);
    srand(seed);
    char *base = kt_tmpdir("torn-base"), *work = kt_tmpdir("torn-work");
    kite_store_opts o;
    kt_opts(&o, base, 0, CL, 20 * 32);
    char err[512];
    kite_store *s = kite_store_open(&o, err, sizeof err);
    if (!s) return 1;
    kt_msg k;
    for (int i = 0; i < NMSG; i++) {
        kt_msg_make(&k, (uint64_t)i, "Torn", i % 2, 16, 400);
        kite_put_result r;
        kite_store_put_wait(s, &k.m, &r);
        if (r.status != KITE_PUT_OK) return 1;
        recs[i] = (rec){ r.phys_offset, r.wrote_bytes, (int32_t)k.m.body_len, i % 2 };
    }
    int64_t data_end = kite_store_cl_max_offset(s);
    kite_store_close(s);
    int64_t last_start = data_end - data_end % CL;
    if (last_start == data_end) last_start -= CL;
    int bad = 0, iters = 0;
    char cmd[8192], path[4096];
    for (int it = 0; it < 90 && bad == 0; it++, iters++) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", work, base, work);
        sh(cmd);
        snprintf(path, sizeof path, "%s/commitlog/%020lld", work, (long long)last_start);
        int mode = it % 3;
        int64_t p = last_start + rand() % (data_end - last_start);
        int first_in_last = 0;
        while (recs[first_in_last].phys < last_start) first_in_last++;
        if (mode == 2) { /* flip one byte inside a body */
            int r = first_in_last + rand() % (NMSG - first_in_last);
            p = recs[r].phys + 88 + rand() % recs[r].body_len;
        }
        int fd = open(path, O_RDWR);
        if (mode == 0) {
            if (ftruncate(fd, p - last_start) != 0) return 1;
        } else if (mode == 1) {
            static char zeros[CL];
            if (pwrite(fd, zeros, (size_t)(CL - (p - last_start)), p - last_start) < 0) return 1;
        } else {
            unsigned char b;
            if (pread(fd, &b, 1, p - last_start) != 1) return 1;
            b ^= 0x5A;
            if (pwrite(fd, &b, 1, p - last_start) != 1) return 1;
        }
        close(fd);
        int64_t end = data_end;
        for (int i = 0; i < NMSG; i++)
            if (recs[i].phys + recs[i].size > p) {
                end = recs[i].phys;
                break;
            }
        if (it % 10 == 9 && mode == 2) {
            /* The damage lies before the checkpoint: durable data is corrupt. */
            set_crashed(work, data_end);
            kite_store_opts ow;
            kt_opts(&ow, work, 0, CL, 20 * 32);
            kite_store *x = kite_store_open(&ow, err, sizeof err);
            char name[32];
            snprintf(name, sizeof name, "%020lld", (long long)last_start);
            char off[32];
            snprintf(off, sizeof off, "offset %lld", (long long)end);
            if (x || !strstr(err, name) || !strstr(err, off) ||
                !strstr(err, "before the checkpoint")) {
                fprintf(stderr, "corruption before the checkpoint not refused properly: %s\n", err);
                bad++;
                if (x) kite_store_close(x);
            }
            continue;
        }
        set_crashed(work, last_start);
        check_store(work, end, &bad);
    }
    fprintf(stderr, "torn tail: %d damaged copies checked, %d problems\n", iters, bad);
    kt_rmrf(base);
    kt_rmrf(work);
    free(base);
    free(work);
    return bad ? 1 : 0;
}
