/* test_store_fault.c - store behaviour under injected I/O faults (through the fault seam):
 * a failed sync is never acknowledged and stops the store; ENOSPC is refused and writes
 * resume when space returns; slow syncs answer FLUSH_DISK_TIMEOUT; group commit shares
 * one sync among many puts; batched puts are answered only once written, and a failed
 * batch write stops the store; the seam itself loses unsynced bytes on a power cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/err.h"
#include "base/time.h"
#include "store/io.h"
#include "store/store.h"
#include "store_testutil.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <unistd.h>

#define CL_SIZE (16 * 1024)
#define CQ_SIZE (20 * 64)

/* A scratch store directory behind the fault seam; *o gets test options for it. */
typedef struct fenv {
    char *dir;
    kite_io *io;
} fenv;

static fenv fenv_new(const char *name, kite_store_opts *o, int sync, int64_t cl_size,
                     int64_t cq_size)
{
    fenv e = { kt_tmpdir(name), kite_io_fault_new() };
    kt_opts(o, e.dir, sync, cl_size, cq_size);
    o->io = e.io;
    return e;
}

/* Frees the seam, checks the closed store with kite-fsck and removes it. */
static void fenv_done(fenv *e)
{
    kite_io_fault_free(e->io);
    assert_int_equal(kt_fsck_rmrf(e->dir), 0);
    free(e->dir);
}

static kite_store *open_ok(const kite_store_opts *o)
{
    char err[512] = "";
    kite_store *s = kite_store_open(o, err, sizeof err);
    if (!s) fprintf(stderr, "open failed: %s\n", err);
    assert_non_null(s);
    return s;
}

static void test_seam_power_cut_model(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("seam");
    kite_io *io = kite_io_fault_new();
    char path[2048];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = io->ops->open(io, path, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(io->ops->allocate(io, fd, 8192), 0);
    void *mv = NULL;
    assert_int_equal(io->ops->map(io, fd, 8192, &mv), 0);
    uint8_t *m = mv;
    assert_non_null(m);
    memcpy(m, "durable!", 8);
    assert_int_equal(io->ops->msync(io, m, 4096), 0);
    assert_int_equal(io->ops->sync_dir(io, dir), 0);
    memcpy(m + 4096, "volatile", 8);
    /* reads see the volatile bytes before the cut */
    char b[8];
    assert_int_equal(io->ops->pread(io, fd, b, 8, 4096), 8);
    assert_memory_equal(b, "volatile", 8);
    kite_io_fault_power_cut(io);
    assert_int_equal(io->ops->msync(io, m, 8192), KITE_EIO);
    io->ops->unmap(io, m, 8192);
    io->ops->close(io, fd);
    kite_io_fault_restart(io);
    fd = io->ops->open(io, path, O_RDWR, 0);
    assert_true(fd >= 0);
    assert_int_equal(io->ops->pread(io, fd, b, 8, 0), 8);
    assert_memory_equal(b, "durable!", 8);
    assert_int_equal(io->ops->pread(io, fd, b, 8, 4096), 8);
    assert_memory_equal(b, "\0\0\0\0\0\0\0\0", 8);
    /* a failed sync poisons its range: a later "successful" sync does not save it */
    assert_int_equal(io->ops->pwrite(io, fd, "lostdata", 8, 100), 8);
    kite_io_fault_inject(io, KITE_IO_SYNC, 0, EIO, 1);
    assert_int_equal(io->ops->datasync(io, fd), KITE_EIO);
    assert_int_equal(io->ops->datasync(io, fd), 0);
    io->ops->close(io, fd);
    /* a file whose directory was never synced disappears */
    char p2[2100];
    snprintf(p2, sizeof p2, "%s/g", dir);
    fd = io->ops->open(io, p2, O_RDWR | O_CREAT, 0644);
    assert_int_equal(io->ops->pwrite(io, fd, "x", 1, 0), 1);
    assert_int_equal(io->ops->datasync(io, fd), 0);
    io->ops->close(io, fd);
    kite_io_fault_power_cut(io);
    kite_io_fault_restart(io);
    fd = io->ops->open(io, path, O_RDONLY, 0);
    assert_int_equal(io->ops->pread(io, fd, b, 8, 100), 8);
    assert_memory_equal(b, "\0\0\0\0\0\0\0\0", 8);
    io->ops->close(io, fd);
    assert_int_equal(io->ops->open(io, p2, O_RDONLY, 0), KITE_ENOTFOUND);
    kite_io_fault_free(io);
    kt_rmrf(dir);
    free(dir);
}

static void test_failed_sync_fail_stop(void **st)
{
    (void)st;
    kite_store_opts o;
    fenv e = fenv_new("store-eio", &o, 1, CL_SIZE, CQ_SIZE);
    kite_io *io = e.io;
    kite_store *s = open_ok(&o);
    kt_msg k;
    kite_put_result r;
    for (int i = 0; i < 10; i++) {
        kt_msg_make(&k, (uint64_t)i, "TE", 0, 16, 200);
        kite_store_put_wait(s, &k.m, &r);
        assert_int_equal(r.status, KITE_PUT_OK);
    }
    int64_t durable = kite_store_cl_flushed_offset(s);
    kite_io_fault_inject(io, KITE_IO_SYNC, 0, EIO, 1); /* the next sync fails once */
    kt_msg_make(&k, 10, "TE", 0, 16, 200);
    kite_store_put_wait(s, &k.m, &r);
    assert_int_equal(r.status, KITE_PUT_FLUSH_FAILED);
    assert_int_equal(r.err, KITE_EIO);
    assert_int_equal(kite_store_failed(s), KITE_EIO);
    assert_int_equal(kite_store_cl_flushed_offset(s), durable); /* never advanced */
    /* fail-stop: later puts are refused even though syncs would "succeed" again */
    kt_msg_make(&k, 11, "TE", 0, 16, 200);
    kite_store_put_wait(s, &k.m, &r);
    assert_int_equal(r.status, KITE_PUT_SERVICE_NOT_AVAILABLE);
    assert_int_equal(r.err, KITE_ESTOPPED);
    kite_store_close(s);
    /* the power goes out: the unacknowledged record was in a poisoned range */
    kite_io_fault_power_cut(io);
    kite_io_fault_restart(io);
    s = open_ok(&o);
    assert_int_equal(kite_store_failed(s), 0);
    assert_int_equal(kite_store_cl_max_offset(s), durable);
    assert_int_equal(kt_walk_log(s), 10);
    kt_msg_make(&k, 12, "TE", 0, 16, 200);
    kite_store_put_wait(s, &k.m, &r);
    assert_int_equal(r.status, KITE_PUT_OK);
    assert_int_equal(r.queue_offset, 10);
    kite_store_close(s);
    fenv_done(&e); /* kite-fsck: clean */
}

static void test_enospc_refused_then_resumed(void **st)
{
    (void)st;
    kite_store_opts o;
    fenv e = fenv_new("store-nospc", &o, 1, 4096, CQ_SIZE);
    kite_io *io = e.io;
    kite_store *s = open_ok(&o);
    kt_msg k;
    kite_put_result r;
    int ok = 0, full = 0;
    kite_io_fault_inject(io, KITE_IO_ALLOCATE, 1, ENOSPC, -1); /* first file ok, then full */
    for (int i = 0; i < 100 && full < 3; i++) {
        kt_msg_make(&k, (uint64_t)ok, "TN", 0, 100, 100);
        kite_store_put_wait(s, &k.m, &r);
        if (r.status == KITE_PUT_OK) {
            assert_int_equal(full, 0);
            ok++;
        } else {
            assert_int_equal(r.status, KITE_PUT_DISK_FULL);
            assert_int_equal(r.err, KITE_ENOSPC);
            full++;
        }
    }
    assert_true(ok > 5);
    assert_int_equal(full, 3);
    assert_int_equal(kite_store_failed(s), 0); /* disk full is not fail-stop */
    kite_io_fault_clear(io);
    for (int i = 0; i < 20; i++) {
        kt_msg_make(&k, (uint64_t)ok, "TN", 0, 100, 100);
        kite_store_put_wait(s, &k.m, &r);
        assert_int_equal(r.status, KITE_PUT_OK);
        assert_int_equal(r.queue_offset, ok);
        ok++;
    }
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    assert_int_equal(kt_walk_log(s), ok);
    for (int i = 0; i < ok; i++) {
        kite_get_result g;
        kite_store_get_messages(s, "TN", 0, i, 1, 1 << 20, NULL, 0, &g);
        assert_int_equal(g.status, KITE_GET_FOUND);
        assert_int_equal(
            kt_msg_check(g.segs[0].data, g.segs[0].len, (uint64_t)i, "TN", 0, 100, 100), 0);
        kite_get_result_release(&g);
    }
    kite_store_close(s);
    /* no stray half-created file is left behind */
    s = open_ok(&o);
    assert_int_equal(kt_walk_log(s), ok);
    kite_store_close(s);
    fenv_done(&e); /* kite-fsck: clean */
}

static void test_sync_timeout(void **st)
{
    (void)st;
    kite_store_opts o;
    fenv e = fenv_new("store-tmo", &o, 1, CL_SIZE, CQ_SIZE);
    kite_io *io = e.io;
    o.sync_flush_timeout_ms = 50;
    kite_store *s = open_ok(&o);
    /* Every sync from now on takes 3 s: a put answered sooner was answered on its 50 ms
     * timeout, not when its sync completed (causality; how soon is not asserted). */
    enum { SYNC_DELAY_MS = 3000 };
    kite_io_fault_set_sync_delay_ms(io, SYNC_DELAY_MS);
    kt_msg k;
    kite_put_result r;
    kt_msg_make(&k, 0, "TT", 0, 16, 100);
    int64_t t0 = kite_mono_ms();
    kite_store_put_wait(s, &k.m, &r);
    int64_t dt = kite_mono_ms() - t0;
    assert_int_equal(r.status, KITE_PUT_FLUSH_DISK_TIMEOUT);
    assert_true(dt < SYNC_DELAY_MS);
    assert_true(r.phys_offset >= 0); /* the message is stored */
    kite_io_fault_set_sync_delay_ms(io, 0);
    kite_store_close(s);
    s = open_ok(&o);
    assert_int_equal(kt_walk_log(s), 1);
    kite_store_close(s);
    fenv_done(&e); /* kite-fsck: clean */
}

typedef struct gc_ctx {
    kite_store *s;
    int id;
    int n;
    int fails;
} gc_ctx;

static void *gc_writer(void *arg)
{
    gc_ctx *c = arg;
    kt_msg *k = malloc(sizeof *k);
    for (int i = 0; i < c->n; i++) {
        kt_msg_make(k, (uint64_t)(c->id * 100000 + i), "TG", c->id % 4, 16, 200);
        kite_put_result r;
        kite_store_put_wait(c->s, &k->m, &r);
        if (r.status != KITE_PUT_OK) c->fails++;
    }
    free(k);
    return NULL;
}

static void test_group_commit(void **st)
{
    (void)st;
    kite_store_opts o;
    fenv e = fenv_new("store-gc", &o, 1, 256 * 1024, 20 * 1024);
    kite_io *io = e.io;
    kite_store *s = open_ok(&o);
    kite_io_fault_set_sync_delay_ms(io, 2);
    enum { T = 8, N = 150 };
    pthread_t th[T];
    gc_ctx c[T];
    long syncs0 = kite_io_fault_calls(io, KITE_IO_SYNC);
    for (int i = 0; i < T; i++) {
        c[i] = (gc_ctx){ s, i, N, 0 };
        pthread_create(&th[i], NULL, gc_writer, &c[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].fails, 0);
    }
    long syncs = kite_io_fault_calls(io, KITE_IO_SYNC) - syncs0;
    /* 1200 acknowledged puts; group commit must share syncs (checkpoints add a few). */
    assert_true(syncs < T * N / 2);
    kite_io_fault_set_sync_delay_ms(io, 0);
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    int64_t total = 0;
    for (int q = 0; q < 4; q++) total += kite_store_max_offset(s, "TG", q);
    assert_int_equal(total, T * N);
    kite_store_close(s);
    fenv_done(&e); /* kite-fsck: clean */
}

/* Records of batched puts (opts.batch_puts, as the broker runs the store). */
typedef struct held_log {
    _Atomic int n; /* SYNC_FLUSH callbacks run on the flush thread */
    kite_put_result r[400];
} held_log;

static void held_cb(void *arg, const kite_put_result *r)
{
    held_log *h = arg;
    int i = atomic_load(&h->n);
    h->r[i] = *r;
    atomic_store(&h->n, i + 1);
}

static void put_held(kite_store *s, held_log *h, uint64_t seq)
{
    kt_msg k;
    kt_msg_make(&k, seq, "TB", (int32_t)(seq % 2), 16, 600);
    assert_int_equal(kite_store_put(s, &k.m, held_cb, h), KITE_OK);
}

/* ASYNC_FLUSH with batch_puts: a put is neither readable nor answered until
 * kite_store_commit writes its batch; batches cross file roll-overs intact; a failed batch
 * write answers every staged put SERVICE_NOT_AVAILABLE and stops the store, and nothing of
 * it is found after a restart. */
static void test_batched_puts(void **st)
{
    (void)st;
    kite_store_opts o;
    fenv e = fenv_new("store-batch", &o, 0, CL_SIZE, CQ_SIZE);
    kite_io *io = e.io;
    o.batch_puts = 1;
    kite_store *s = open_ok(&o);
    static held_log h;
    memset(&h, 0, sizeof h);
    for (uint64_t i = 0; i < 5; i++) put_held(s, &h, i);
    assert_int_equal(h.n, 0);                         /* held ... */
    assert_int_equal(kite_store_cl_max_offset(s), 0); /* ... and not readable */
    long writes = kite_io_fault_calls(io, KITE_IO_WRITE);
    kite_store_commit(s);
    assert_int_equal(kite_io_fault_calls(io, KITE_IO_WRITE), writes + 1); /* one write */
    assert_int_equal(h.n, 5);
    int64_t end = 0;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(h.r[i].status, KITE_PUT_OK);
        assert_int_equal(h.r[i].phys_offset, end); /* contiguous, in put order */
        end += h.r[i].wrote_bytes;
    }
    assert_int_equal(kite_store_cl_max_offset(s), end);
    /* 300 more without a commit: 16 KiB files roll many times; each roll writes the batch
     * staged so far (its callbacks run), the rest waits for the commit. */
    for (uint64_t i = 5; i < 305; i++) put_held(s, &h, i);
    assert_true(h.n > 5 && h.n < 305);
    kite_store_kick(s);
    assert_int_equal(h.n, 305);
    for (int i = 0; i < 305; i++) assert_int_equal(h.r[i].status, KITE_PUT_OK);
    assert_true(kite_store_cl_max_offset(s) > 4 * CL_SIZE); /* several roll-overs */
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    assert_int_equal(kt_walk_log(s), 305);
    for (int i = 0; i < 305; i++) {
        kite_get_result g;
        kite_store_get_messages(s, "TB", i % 2, i / 2, 1, 1 << 20, NULL, 0, &g);
        assert_int_equal(g.status, KITE_GET_FOUND);
        assert_int_equal(
            kt_msg_check(g.segs[0].data, g.segs[0].len, (uint64_t)i, "TB", i % 2, 16, 600), 0);
        kite_get_result_release(&g);
    }
    /* The next batch write fails. */
    int64_t max = kite_store_cl_max_offset(s);
    h.n = 0;
    for (uint64_t i = 305; i < 308; i++) put_held(s, &h, i);
    kite_io_fault_inject(io, KITE_IO_WRITE, 0, EIO, 1);
    kite_store_commit(s);
    assert_int_equal(h.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h.r[i].status, KITE_PUT_SERVICE_NOT_AVAILABLE);
        assert_int_equal(h.r[i].phys_offset, -1);
    }
    assert_int_equal(kite_store_failed(s), KITE_EIO);
    assert_int_equal(kite_store_cl_max_offset(s), max);
    kt_msg k;
    kite_put_result r;
    kt_msg_make(&k, 308, "TB", 0, 16, 600);
    kite_store_put_wait(s, &k.m, &r); /* fail-stop */
    assert_int_equal(r.status, KITE_PUT_SERVICE_NOT_AVAILABLE);
    kite_store_close(s);
    kite_io_fault_clear(io);
    s = open_ok(&o);
    assert_int_equal(kite_store_failed(s), 0);
    assert_int_equal(kite_store_cl_max_offset(s), max);
    assert_int_equal(kt_walk_log(s), 305);
    kite_store_close(s);
    fenv_done(&e); /* kite-fsck: clean */
}

/* SYNC_FLUSH with batch_puts: a batch is written at the commit, and its puts are answered
 * by the group sync once durable - not before the commit, not before the sync. */
static void test_batched_sync_puts(void **st)
{
    (void)st;
    kite_store_opts o;
    fenv e = fenv_new("store-batch-sync", &o, 1, CL_SIZE, CQ_SIZE);
    kite_io *io = e.io;
    o.batch_puts = 1;
    kite_store *s = open_ok(&o);
    static held_log h;
    memset(&h, 0, sizeof h);
    for (uint64_t i = 0; i < 40; i++) put_held(s, &h, i); /* rolls over: some are queued */
    usleep(50000);
    int before = atomic_load(&h.n);
    assert_true(before < 40);
    int64_t max_before = kite_store_cl_max_offset(s); /* the staged rest is not in it */
    enum { SLOW_SYNC_MS = 2000 };
    kite_io_fault_set_sync_delay_ms(io, SLOW_SYNC_MS); /* now every sync is slow */
    long syncs = kite_io_fault_calls(io, KITE_IO_SYNC);
    int64_t t0 = kite_mono_ms();
    kite_store_commit(s);
    usleep(50000);
    int mid = atomic_load(&h.n);
    if (kite_mono_ms() - t0 < SLOW_SYNC_MS)
        assert_int_equal(mid, before); /* written, not yet durable */
    while (atomic_load(&h.n) < 40 && kite_mono_ms() - t0 < SLOW_SYNC_MS + KT_DEADLINE_MS)
        usleep(1000);
    assert_int_equal(atomic_load(&h.n), 40);
    assert_true(kite_io_fault_calls(io, KITE_IO_SYNC) > syncs);
    int64_t end = 0;
    for (int i = 0; i < 40; i++) {
        assert_int_equal(h.r[i].status, KITE_PUT_OK);
        end = h.r[i].phys_offset + h.r[i].wrote_bytes;
    }
    assert_true(kite_store_cl_flushed_offset(s) >= end);
    assert_true(end > max_before);
    kite_io_fault_set_sync_delay_ms(io, 0);
    kite_store_close(s);
    kite_io_fault_power_cut(io); /* answered means durable */
    kite_io_fault_restart(io);
    s = open_ok(&o);
    assert_int_equal(kt_walk_log(s), 40);
    kite_store_close(s);
    fenv_done(&e); /* kite-fsck: clean */
}

int main(void)
{
    kt_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seam_power_cut_model),
        cmocka_unit_test(test_failed_sync_fail_stop),
        cmocka_unit_test(test_enospc_refused_then_resumed),
        cmocka_unit_test(test_sync_timeout),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_batched_puts),
        cmocka_unit_test(test_batched_sync_puts),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
