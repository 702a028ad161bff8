/* warm.c - the allocation service: creates the next commit-log file in the background, so
 * that a roll-over does not stall the writer on create + fallocate + mmap + directory
 * fsync. (It once also pre-faulted the pages ahead of the writer; records are now written
 * with pwrite, which needs no pre-faulted pages: store.c, kite_store_put.) Measured
 * effect: docs/store-format.md, "Performance".
 *
 * Owns: the spare file (created, allocated, mapped, its directory entry fsynced, but not yet
 * in the commit log's queue). Does not own: the roll itself (store.c), file creation
 * (mfile.c).
 * Threads: one warm thread. wmu serialises every creation of a commit-log file (the warm
 * thread's and kite_warm_next_file's); lock order put_mu -> wmu. The warm thread never takes
 * put_mu. Nothing is written into a spare before roll takes it, so a crash leaves at most
 * an all-zero file after the last one, which recovery cuts away like any torn tail (and
 * close removes it).
 * Failure: the service only ever saves time. A failed pre-creation (ENOSPC included) is
 * retried a second later, and roll creates the file itself and reports DISK_FULL as
 * before. */
#include "store/store_int.h"
#include "base/thread.h"
#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include <errno.h>
#include <string.h>
#include <time.h>

#define WARM_IDLE_MS 100 /* poll period (roll wakes the thread at once) */

/* Removes the unused spare. Caller holds wmu. */
static void drop_spare(kite_store *s)
{
    kite_mfile *f = s->spare;
    if (!f) return;
    s->spare = NULL;
    atomic_store(&f->unlink_on_free, 1);
    kite_mfile_unref(f); /* unmaps, closes, unlinks */
    /* A leftover all-zero file after a power cut would be cut away by recovery anyway. */
    s->io->ops->sync_dir(s->io, s->cl.dir);
}

int kite_warm_next_file(kite_store *s, int64_t start, kite_mfile **out)
{
    pthread_mutex_lock(&s->wmu);
    int rc;
    kite_mfile *f = s->spare;
    if (f && f->start == start) {
        s->spare = NULL;
        kite_mfq_push(&s->cl, f);
        rc = 0;
    } else {
        drop_spare(s);
        f = NULL;
        rc = kite_mfq_create(&s->cl, start, &f);
    }
    if (rc == 0) {
        *out = f;
        atomic_store(&s->cur_start, start);
    }
    pthread_mutex_unlock(&s->wmu);
    if (s->warm_on) pthread_cond_signal(&s->wcv); /* make the next spare */
    return rc;
}

static void *warm_thread(void *arg)
{
    kite_thread_name("kite-warm");
    kite_store *s = arg;
    const int64_t fs = s->o.cl_file_size;
    int64_t retry_at = 0;
    int logged = 0;
    pthread_mutex_lock(&s->wmu);
    while (!atomic_load(&s->stop)) {
        int64_t cur = atomic_load(&s->cur_start);
        int64_t max = atomic_load_explicit(&s->max_offset, memory_order_acquire);
        int64_t want = cur >= 0 ? cur + fs : max - max % fs;
        if (s->spare && s->spare->start != want) drop_spare(s);
        /* The next file is made once the current one is half full (or there is none), so
         * that the disk holds at most one unused file, and only while it will be needed. */
        int64_t cur_wrote = 0;
        if (cur >= 0) {
            kite_mfile *c = kite_mfq_find(&s->cl, cur);
            if (c) {
                cur_wrote = atomic_load_explicit(&c->wrote, memory_order_acquire);
                kite_mfile_unref(c);
            }
        }
        int64_t now = kite_mono_ms();
        if (!s->spare && (cur < 0 || cur_wrote >= fs / 2) && now >= retry_at &&
            !atomic_load(&s->failed)) {
            kite_mfile *f = NULL;
            int rc = kite_mfq_precreate(&s->cl, want, &f);
            if (rc == 0) {
                s->spare = f;
                atomic_fetch_add_explicit(&s->warm_creates, 1, memory_order_relaxed);
                logged = 0;
            } else {
                retry_at = now + 1000;
                if (!logged++)
                    KLOG_WARN("store",
                              "pre-creating commit log file at %lld: %s (the writer "
                              "will create it when needed)",
                              (long long)want, kite_strerror(rc));
            }
        }
        if (!atomic_load(&s->stop)) kite_cond_wait_us(&s->wcv, &s->wmu, WARM_IDLE_MS * 1000LL);
    }
    pthread_mutex_unlock(&s->wmu);
    return NULL;
}

int kite_warm_start(kite_store *s)
{
    int on = s->o.warm_files;
    if (on < 0) on = s->o.cl_file_size >= (16LL << 20);
    if (!on) return 0;
    int rc = pthread_create(&s->warm_thr, NULL, warm_thread, s);
    if (rc != 0) return kite_status_from_errno(rc);
    s->warm_on = 1;
    return 0;
}

void kite_warm_stop(kite_store *s)
{
    if (s->warm_on) {
        pthread_mutex_lock(&s->wmu);
        pthread_cond_broadcast(&s->wcv);
        pthread_mutex_unlock(&s->wmu);
        pthread_join(s->warm_thr, NULL);
        s->warm_on = 0;
    }
    pthread_mutex_lock(&s->wmu);
    drop_spare(s);
    pthread_mutex_unlock(&s->wmu);
}
