/* bench_store.c - message store benchmark (built, never run as a test).
 *
 * Measures, in one run and on the same file system:
 *   machine limits: memcpy of 1 KiB chunks into a fresh mapped file (the store's append is
 *     exactly that plus a header and a CRC), sequential write()+fdatasync bandwidth, and the
 *     fdatasync rate of 4 KiB appends;
 *   store: ASYNC_FLUSH appends of 128 B / 1 KiB / 16 KiB bodies from one writer, written
 *     in batches of 32 as the broker does (kite_store_kick; BENCH_BATCH=n changes it); SYNC_FLUSH
 *     appends of 1 KiB from 1, 8 and 64 concurrent writers (group commit); reads through the
 *     consume queue (get_messages, 32 per call); crash-recovery scan speed and clean restart
 *     time over 1 GiB of data.
 * Each figure is the median of 5 runs (--quick: 3 runs, smaller volumes).
 * Usage: bench_store [--quick] [--only PARTS] [dir]   (dir defaults to /work/bench-store-<pid>;
 * it must not be tmpfs; it is deleted at the end). PARTS is a comma-separated subset of
 * limits,async,sync,read,restart,recover (for profiling one part). Uses store internals
 * (checkpoint, sync counter) to stage a crash and to report puts per sync.
 * Environment: BENCH_WARM=0|1 forces the store's allocation/warm-up service off/on (A/B runs);
 * BENCH_LOG_INFO=1 shows the store's INFO log (recovery phases and their times). */
#include "base/log.h"
#include "base/time.h"
#include "codec/record.h"
#include "store/store_int.h"
#include "store_testutil.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int runs = 5, quick;
static char base[512];
static const char *only;

static int want(const char *part)
{
    if (!only) return 1;
    size_t n = strlen(part);
    for (const char *p = only; (p = strstr(p, part)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return v[n / 2];
}
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sub(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", base, name);
    kt_rmrf(out);
    mkdir(out, 0755);
}

/* ---- machine limits ---- */

/* prefault: pages made resident and writable first (MADV_POPULATE_WRITE, untimed); else
 * every first store into a page faults. (The store writes with pwrite, not through the
 * mapping: these two are the machine's limits for the copy, not what the store does.) */
static double memcpy_mapped(size_t total, size_t chunk, int prefault)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/memcpy.bin", base);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || posix_fallocate(fd, 0, (off_t)total) != 0) exit(2);
    uint8_t *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) exit(2);
    static uint8_t src[16384];
    memset(src, 'x', sizeof src);
#ifdef MADV_POPULATE_WRITE
    if (prefault && madvise(m, total, MADV_POPULATE_WRITE) != 0) exit(2);
#else
    (void)prefault;
#endif
    double t0 = now_s();
    for (size_t off = 0; off + chunk <= total; off += chunk) memcpy(m + off, src, chunk);
    double dt = now_s() - t0;
    munmap(m, total);
    close(fd);
    unlink(p);
    return (double)(total / chunk) / dt; /* chunks per second */
}

static double seq_write(size_t total)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/seq.bin", base);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static uint8_t buf[1 << 20];
    memset(buf, 'y', sizeof buf);
    double t0 = now_s();
    for (size_t off = 0; off < total; off += sizeof buf)
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) exit(2);
    fdatasync(fd);
    double dt = now_s() - t0;
    close(fd);
    unlink(p);
    return (double)total / dt / 1e6;
}

static double fdatasync_rate(double secs)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/sync.bin", base);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static uint8_t buf[4096];
    long n = 0;
    double t0 = now_s(), t;
    while ((t = now_s()) - t0 < secs) {
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) exit(2);
        fdatasync(fd);
        n++;
    }
    close(fd);
    unlink(p);
    return (double)n / (t - t0);
}

/* ---- store ---- */

static void noop_cb(void *arg, const kite_put_result *r)
{
    (void)arg;
    if (r->status != KITE_PUT_OK) {
        fprintf(stderr, "put failed: %s\n", kite_put_status_name(r->status));
        exit(3);
    }
}

static void bench_opts(kite_store_opts *o, const char *dir, int sync)
{
    kite_store_opts_default(o);
    snprintf(o->root_dir, sizeof o->root_dir, "%.900s", dir);
    o->cl_file_size = 1LL << 30;
    o->flush_type = sync ? KITE_FLUSH_SYNC : KITE_FLUSH_ASYNC;
    o->index_slots = 500000; /* 42 MB index files: the default 420 MB would dominate */
    o->index_entries = 2000000;
    const char *warm = getenv("BENCH_WARM"); /* A/B runs: 0 = no allocation/warm-up service */
    if (warm) o->warm_files = atoi(warm);
}

static kite_store *open_or_die(const kite_store_opts *o)
{
    char err[512];
    kite_store *s = kite_store_open(o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "open: %s\n", err);
        exit(2);
    }
    return s;
}

static void make_msg(kite_store_msg *m, uint8_t *body, uint32_t len, kite_buf *props, int qid,
                     long seq)
{
    memset(m, 0, sizeof *m);
    m->topic = "BenchTopic";
    m->topic_len = 10;
    m->queue_id = qid;
    m->born_ts = 1;
    m->body = body;
    m->body_len = len;
    char key[16]; /* 16 hex digits, as snprintf("%016lx") but cheap: the loop times puts */
    for (int i = 15; i >= 0; i--, seq = (long)((unsigned long)seq >> 4))
        key[i] = "0123456789abcdef"[(unsigned long)seq & 15];
    kite_buf_reset(props); /* the caller's buffer: allocated on the first message only */
    kite_msgprop_append(props, "UNIQ_KEY", key, sizeof key);
    m->props = props->data;
    m->props_len = (uint32_t)props->len;
    m->wait = 1;
}

/* One ASYNC writer: n messages of len bytes. Returns msgs/s; *mbps gets MB/s of records. */
static double async_run(size_t len, long n, double *mbps, int keep, char *dir_out)
{
    char dir[1100];
    sub(dir, sizeof dir, "async");
    kite_store_opts o;
    bench_opts(&o, dir, 0);
    o.batch_puts = 1; /* as the broker: one write per batch of puts */
    long batch = getenv("BENCH_BATCH") ? atol(getenv("BENCH_BATCH")) : 32;
    if (batch < 1) batch = 1;
    kite_store *s = open_or_die(&o);
    uint8_t *body = malloc(len);
    memset(body, 'b', len);
    kite_buf props = KITE_BUF_INIT;
    kite_store_msg m;
    int64_t bytes0 = kite_store_cl_max_offset(s);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        make_msg(&m, body, (uint32_t)len, &props, (int)(i & 3), i);
        kite_store_put(s, &m, noop_cb, NULL);
        if ((i + 1) % batch == 0) kite_store_kick(s);
    }
    kite_store_kick(s);
    double dt = now_s() - t0;
    *mbps = (double)(kite_store_cl_max_offset(s) - bytes0) / dt / 1e6;
    kite_store_wait_dispatched(s, 60000);
    kite_store_close(s);
    free(body);
    kite_buf_free(&props);
    if (keep)
        snprintf(dir_out, 1100, "%s", dir);
    else
        kt_rmrf(dir);
    return (double)n / dt;
}

typedef struct sw {
    kite_store *s;
    double until;
    long n;
    int id;
} sw;

static void *sync_writer(void *arg)
{
    sw *w = arg;
    uint8_t body[1024];
    memset(body, 's', sizeof body);
    kite_buf props = KITE_BUF_INIT;
    kite_store_msg m;
    kite_put_result r;
    while (now_s() < w->until) {
        make_msg(&m, body, sizeof body, &props, w->id & 7, w->id * 100000000L + w->n);
        kite_store_put_wait(w->s, &m, &r);
        if (r.status != KITE_PUT_OK) {
            fprintf(stderr, "sync put: %s\n", kite_put_status_name(r.status));
            exit(3);
        }
        w->n++;
    }
    kite_buf_free(&props);
    return NULL;
}

static double sync_run(int writers, double secs, double *per_sync)
{
    char dir[1100];
    sub(dir, sizeof dir, "sync");
    kite_store_opts o;
    bench_opts(&o, dir, 1);
    kite_store *s = open_or_die(&o);
    int64_t syncs0 = atomic_load(&s->syncs);
    sw *w = calloc((size_t)writers, sizeof *w);
    pthread_t *t = calloc((size_t)writers, sizeof *t);
    double t0 = now_s();
    for (int i = 0; i < writers; i++) {
        w[i] = (sw){ s, t0 + secs, 0, i };
        pthread_create(&t[i], NULL, sync_writer, &w[i]);
    }
    long n = 0;
    for (int i = 0; i < writers; i++) {
        pthread_join(t[i], NULL);
        n += w[i].n;
    }
    double dt = now_s() - t0;
    int64_t syncs = atomic_load(&s->syncs) - syncs0;
    *per_sync = syncs > 0 ? (double)n / (double)syncs : 0;
    kite_store_close(s);
    free(w);
    free(t);
    kt_rmrf(dir);
    return (double)n / dt;
}

/* Reads every message of the 4 queues, 32 per call. */
static double read_run(const char *dir, double *mbps)
{
    kite_store_opts o;
    bench_opts(&o, dir, 0);
    kite_store *s = open_or_die(&o);
    long n = 0;
    size_t bytes = 0;
    double t0 = now_s();
    for (int q = 0; q < 4; q++) {
        int64_t off = 0, max = kite_store_max_offset(s, "BenchTopic", q);
        while (off < max) {
            kite_get_result g;
            kite_store_get_messages(s, "BenchTopic", q, off, 32, 1 << 20, NULL, 0, &g);
            if (g.status != KITE_GET_FOUND) exit(4);
            for (size_t i = 0; i < g.count; i++) bytes += g.segs[i].len;
            n += (long)g.count;
            off = g.next_begin_offset;
            kite_get_result_release(&g);
        }
    }
    double dt = now_s() - t0;
    kite_store_close(s);
    *mbps = (double)bytes / dt / 1e6;
    return (double)n / dt;
}

/* Open time of a store after a staged crash: abort marker and a checkpoint whose durable
 * commit-log end is 0, so recovery validates (CRC included) every byte. */
static double crash_open_ms(const char *dir)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/checkpoint", dir);
    kite_ckpt ck;
    char err[256];
    if (kite_ckpt_read(kite_io_posix(), p, &ck, err, sizeof err) != 0) exit(2);
    ck.cl_flushed = 0;
    int fd;
    if (kite_ckpt_open(kite_io_posix(), p, &fd) != 0 ||
        kite_ckpt_write(kite_io_posix(), fd, &ck) != 0)
        exit(2);
    close(fd);
    snprintf(p, sizeof p, "%s/abort", dir);
    close(open(p, O_WRONLY | O_CREAT, 0644));
    kite_store_opts o;
    bench_opts(&o, dir, 0);
    double t0 = now_s();
    kite_store *s = open_or_die(&o);
    double dt = now_s() - t0;
    kite_store_close(s);
    return dt * 1000;
}

static double clean_open_ms(const char *dir)
{
    kite_store_opts o;
    bench_opts(&o, dir, 0);
    double t0 = now_s();
    kite_store *s = open_or_die(&o);
    double dt = now_s() - t0;
    kite_store_close(s);
    return dt * 1000;
}

int main(int argc, char **argv)
{
    int a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (strcmp(argv[a], "--quick") == 0) {
            quick = 1;
            runs = 3;
        } else if (strcmp(argv[a], "--only") == 0 && a + 1 < argc) {
            only = argv[++a];
        } else {
            fprintf(
                stderr,
                "usage: bench_store [--quick] [--only limits,async,sync,read,restart,recover] [dir]\n");
            return 2;
        }
    }
    if (a < argc)
        snprintf(base, sizeof base, "%s", argv[a]);
    else
        snprintf(base, sizeof base, "/work/bench-store-%d", (int)getpid());
    mkdir(base, 0755);
    kite_log_set_level(getenv("BENCH_LOG_INFO") ? KITE_LOG_INFO
                                                : KITE_LOG_WARN); /* recovery phases */
    double v[5], v2[5];
    size_t big = quick ? (256u << 20) : (1u << 30);
    printf("# kitemq store benchmark: median of %d runs, data in %s\n", runs, base);

    double mc = 0, mcw = 0, syncs_s = 0;
    if (want("limits")) {
        for (int r = 0; r < runs; r++) v[r] = memcpy_mapped(big, 1024, 0);
        mc = median(v, runs);
        printf("limit  memcpy 1 KiB into a fresh mapped file: %.0f copies/s (%.0f MB/s)\n", mc,
               mc * 1024 / 1e6);
        for (int r = 0; r < runs; r++) v[r] = memcpy_mapped(big, 1024, 1);
        mcw = median(v, runs);
        printf("limit  memcpy 1 KiB into a pre-faulted mapped file: %.0f copies/s (%.0f MB/s)\n",
               mcw, mcw * 1024 / 1e6);
        for (int r = 0; r < runs; r++) v[r] = seq_write(big / 2);
        printf("limit  sequential write + fdatasync:          %.0f MB/s\n", median(v, runs));
        for (int r = 0; r < runs; r++) v[r] = fdatasync_rate(quick ? 0.5 : 1.0);
        syncs_s = median(v, runs);
        printf("limit  4 KiB append + fdatasync:              %.0f syncs/s\n", syncs_s);
    }

    if (want("async")) {
        size_t lens[3] = { 128, 1024, 16384 };
        double async1k = 0;
        for (int i = 0; i < 3; i++) {
            long n = (long)(big / 2 / (lens[i] + 120));
            if (n > 2000000) n = 2000000;
            for (int r = 0; r < runs; r++) v[r] = async_run(lens[i], n, &v2[r], 0, NULL);
            double msgs = median(v, runs), mb = median(v2, runs);
            if (lens[i] == 1024) async1k = msgs;
            printf("store  ASYNC_FLUSH append %5zu B x %ld, 1 writer: %9.0f msgs/s  %7.0f MB/s\n",
                   lens[i], n, msgs, mb);
        }
        if (mc > 0)
            printf(
                "store  ASYNC 1 KiB appends / bare 1 KiB memcpy into a fresh mapped file = %.2f, into a "
                "pre-faulted one = %.3f (target >= 1,000,000 msgs/s)\n",
                async1k / mc, async1k / mcw);
    }
    if (want("sync")) {
        int ws[3] = { 1, 8, 64 };
        for (int i = 0; i < 3; i++) {
            for (int r = 0; r < runs; r++) v[r] = sync_run(ws[i], quick ? 1.0 : 2.0, &v2[r]);
            double msgs = median(v, runs), per = median(v2, runs);
            printf(
                "store  SYNC_FLUSH append 1 KiB, %2d writers:       %9.0f msgs/s  %5.1f puts/sync",
                ws[i], msgs, per);
            if (syncs_s > 0) printf("  = %.1f x the 4 KiB fdatasync rate", msgs / syncs_s);
            printf("%s\n", ws[i] == 64 ? "  (target >= 100,000)" : "");
        }
    }
    if (want("read") || want("restart") || want("recover")) {
        /* 1 GiB (quick: 256 MiB) of 1 KiB messages, kept for reads and restarts. */
        char dir[1100];
        long n = (long)(big / (1024 + 120));
        async_run(1024, n, &v2[0], 1, dir);
        if (want("read")) {
            for (int r = 0; r < runs; r++) v[r] = read_run(dir, &v2[r]);
            printf("store  read via consume queue, 32 per call:       %9.0f msgs/s  %7.0f MB/s\n",
                   median(v, runs), median(v2, runs));
        }
        if (want("restart")) {
            for (int r = 0; r < runs; r++) v[r] = clean_open_ms(dir);
            printf(
                "store  clean restart with %zu MiB:                %7.1f ms (target <= 200 ms for 1 GiB)\n",
                big >> 20, median(v, runs));
        }
        if (want("recover")) {
            for (int r = 0; r < runs; r++) v[r] = crash_open_ms(dir);
            double ms = median(v, runs);
            printf(
                "store  crash recovery of %zu MiB (validate + CRC): %7.1f ms = %.2f GB/s (target >= 1 GB/s)\n",
                big >> 20, ms, (double)big / 1e9 / (ms / 1000));
        }
    }
    kt_rmrf(base);
    return 0;
}
