/* clean.c - retention: deletes whole commit-log files older than fileReservedTime at the
 * deleteWhen hours, or earlier when the disk fills up; consume queues and index follow;
 * refuses puts while disk use is above the warning ratio.
 *
 * Rules (docs/store-format.md, "Retention"; RocketMQ's rules):
 *   - A round deletes when the local hour of the store's clock is listed in deleteWhen
 *     ("04" or "04;05"), or disk use of the commit log's (or the store root's) file system
 *     exceeds diskMaxUsedSpaceRatio, or a trigger (kite_store_trigger_delete) is pending
 *     (20 rounds), or disk use exceeds diskSpaceCleanForciblyRatio (with
 *     cleanFileForciblyEnable: then unexpired files go too).
 *   - Files are considered oldest first; the file being written (the newest) is never
 *     deleted, nor one holding bytes the last checkpoint does not cover as durable and
 *     dispatched. A file's age is the store time of the first record of the next file,
 *     which is when the file was finished (its end-of-file filler was written together
 *     with that record). The walk stops at the first file that is not expired (no holes)
 *     and after deleteFileBatchMax deletions.
 *   - Then every consume-queue file whose last unit points below the new commit-log min
 *     offset goes (never a queue's newest file) and each queue's min offset moves to its
 *     first unit still backed by the commit log; index files whose endPhyOffset is below
 *     the min offset go (index.c).
 *   - Deleted files leave their queue at once; a file still referenced by a reader (a pull
 *     being sent) stays mapped until the reader releases it, then it is unlinked.
 *   - Disk use above diskSpaceWarningLevelRatio sets the disk-warning state: puts get
 *     DISK_FULL until a later check sees it below.
 * Owns: the clean thread and retention decisions. Does not own: file lists (mfile.c),
 * unit and index layouts (cq.c, index.c).
 * Threads: one clean thread; kite_store_clean_now may also run on any thread; rounds are
 * serialised by round_mu. Deletion takes each file queue's write lock briefly. */
#include "store/store_int.h"
#include "base/thread.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MANUAL_ROUNDS 20

static int64_t wall_now(kite_store *s)
{
    return s->o.clock_ms ? s->o.clock_ms(s->o.clock_arg) : kite_wall_ms();
}

/* Is hour listed in "04;05"-style text? */
static int hour_listed(const char *when, int hour)
{
    const char *p = when;
    while (*p) {
        char *end;
        long h = strtol(p, &end, 10);
        if (end != p && h == hour) return 1;
        p = end != p ? end : p + 1;
        while (*p == ';' || *p == ' ' || *p == ',') p++;
    }
    return 0;
}

/* Percent used of the file systems holding the commit log and the store root (max), or -1. */
static int disk_ratio(kite_store *s)
{
    int best = -1;
    const char *paths[2] = { s->cl_dir, s->o.root_dir };
    for (int i = 0; i < 2; i++) {
        uint64_t used = 0, total = 0;
        if (s->io->ops->fs_usage(s->io, paths[i], &used, &total) != 0 || total == 0) continue;
        int r = (int)(used * 100 / total);
        if (r > best) best = r;
    }
    return best;
}

/* Store time of the first record of f (when the previous file was finished), or -1. */
static int64_t first_record_ts(kite_mfile *f)
{
    int64_t w = atomic_load_explicit(&f->wrote, memory_order_acquire);
    if (w <= 0) return -1;
    kite_record r;
    if (kite_record_decode(f->base, (size_t)w, &r, 0, NULL) <= 0) return -1;
    return r.store_ts;
}

static int delete_commitlog(kite_store *s, int64_t now, int forced)
{
    int64_t reserved = (int64_t)s->o.file_reserved_hours * 3600000LL;
    int64_t limit = atomic_load(&s->ck_cl_flushed);
    int64_t d = atomic_load(&s->ck_dispatched);
    if (d < limit) limit = d;
    int n = 0;
    while (n < s->o.delete_batch_max) {
        pthread_rwlock_rdlock(&s->cl.lock);
        kite_mfile *f0 = s->cl.n >= 2 ? s->cl.files[0] : NULL;
        kite_mfile *f1 = s->cl.n >= 2 ? s->cl.files[1] : NULL;
        if (f1) kite_mfile_ref(f1);
        pthread_rwlock_unlock(&s->cl.lock);
        if (!f0) break;
        int64_t end0 = f0->start + f0->size, done_ts = first_record_ts(f1);
        kite_mfile_unref(f1);
        if (end0 > limit) break; /* not yet durable and dispatched per checkpoint */
        int expired = done_ts >= 0 && done_ts + reserved <= now;
        if (!expired && !forced) break;
        KLOG_INFO("store", "retention: deleting commit log file %s (%s, finished %lld s ago)",
                  f0->path, expired ? "expired" : "disk nearly full",
                  done_ts >= 0 ? (long long)((now - done_ts) / 1000) : -1LL);
        if (kite_mfq_delete_first(&s->cl) != 0) break;
        n++;
    }
    if (n) s->io->ops->sync_dir(s->io, s->cl_dir);
    return n;
}

typedef struct cq_clean {
    int64_t cl_min;
    int deleted;
} cq_clean;

static void clean_queue(kite_store *s, kite_cq *cq, void *arg)
{
    cq_clean *c = arg;
    for (;;) {
        pthread_rwlock_rdlock(&cq->q.lock);
        kite_mfile *f = cq->q.n >= 2 ? cq->q.files[0] : NULL;
        pthread_rwlock_unlock(&cq->q.lock);
        if (!f) break;
        /* Files before the newest are full: the last unit is the file's last 20 bytes. */
        const uint8_t *u = f->base + f->size - KITE_CQ_UNIT;
        int64_t phys = (int64_t)kite_rd_be64(u);
        int32_t size = (int32_t)kite_rd_be32(u + 8);
        if (size > 0 && size != 0x7FFFFFFF && phys + size > c->cl_min) break;
        if (kite_mfq_delete_first(&cq->q) != 0) break;
        c->deleted++;
    }
    int64_t first = kite_mfq_min_offset(&cq->q);
    int64_t m = atomic_load(&cq->min_index), max = atomic_load(&cq->max_index);
    if (first >= 0 && m < first / KITE_CQ_UNIT) m = first / KITE_CQ_UNIT;
    while (m < max) {
        int64_t phys;
        int32_t size;
        if (kite_cq_unit(cq, m, &phys, &size, NULL) != 0) break;
        if (size > 0 && size != 0x7FFFFFFF && phys >= c->cl_min) break;
        m++;
    }
    if (m > atomic_load(&cq->min_index))
        atomic_store_explicit(&cq->min_index, m, memory_order_release);
}

static int round_run(kite_store *s, int full, kite_clean_stats *st)
{
    kite_clean_stats z;
    if (!st) st = &z;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&s->round_mu);
    int ratio = disk_ratio(s);
    st->disk_ratio = ratio;
    int warn = ratio >= 0 && ratio > s->o.disk_warning_ratio;
    if (atomic_exchange(&s->disk_warn, warn) != warn) {
        if (warn)
            KLOG_ERROR("store",
                       "disk use %d%% is above diskSpaceWarningLevelRatio %d%%: "
                       "puts are refused until space is freed",
                       ratio, s->o.disk_warning_ratio);
        else
            KLOG_INFO("store", "disk use %d%% is below the warning ratio again: accepting puts",
                      ratio);
    }
    if (!full) {
        pthread_mutex_unlock(&s->round_mu);
        return 0;
    }
    int64_t now = wall_now(s);
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    pthread_mutex_lock(&s->cmu);
    int manual = s->manual_rounds > 0;
    if (manual) s->manual_rounds--;
    pthread_mutex_unlock(&s->cmu);
    int forced = s->o.clean_forcibly_enable && ratio >= 0 && ratio > s->o.disk_clean_forcibly_ratio;
    int over = ratio >= 0 && ratio > s->o.disk_max_used_ratio;
    if (hour_listed(s->o.delete_when, tm.tm_hour) || over || manual || forced) {
        if (over || forced)
            KLOG_WARN("store", "retention: disk use %d%% (max %d%%, forced above %d%%)", ratio,
                      s->o.disk_max_used_ratio, s->o.disk_clean_forcibly_ratio);
        st->cl_deleted = delete_commitlog(s, now, forced);
        st->forced = forced;
    }
    int64_t cl_min = kite_mfq_min_offset(&s->cl);
    if (cl_min > 0) {
        cq_clean c = { cl_min, 0 };
        kite_cqt_each(s, clean_queue, &c);
        st->cq_deleted = c.deleted;
        st->ix_deleted = kite_index_clean(s, cl_min);
    }
    pthread_mutex_unlock(&s->round_mu);
    if (st->cl_deleted || st->cq_deleted || st->ix_deleted)
        KLOG_INFO("store",
                  "retention: deleted %d commit log, %d consume queue and %d index files; "
                  "commit log now starts at %lld",
                  st->cl_deleted, st->cq_deleted, st->ix_deleted, (long long)cl_min);
    return 0;
}

int kite_store_clean_now(kite_store *s, kite_clean_stats *st) { return round_run(s, 1, st); }

void kite_store_trigger_delete(kite_store *s)
{
    pthread_mutex_lock(&s->cmu);
    s->manual_rounds = MANUAL_ROUNDS;
    pthread_cond_signal(&s->ccond);
    pthread_mutex_unlock(&s->cmu);
}

int kite_store_disk_warning(kite_store *s) { return atomic_load(&s->disk_warn); }

static void *clean_thread(void *arg)
{
    kite_thread_name("kite-clean");
    kite_store *s = arg;
    /* Rounds before the first delay only check the disk-warning state; deleting ones follow. */
    int64_t next = kite_deadline_ms(s->o.clean_interval_ms);
    int64_t first_full = kite_deadline_ms(s->o.clean_first_delay_ms);
    pthread_mutex_lock(&s->cmu);
    while (!atomic_load(&s->stop)) {
        int64_t left = kite_deadline_left_ms(next);
        int triggered = s->manual_rounds == MANUAL_ROUNDS;
        if (left > 0 && !triggered) {
            kite_cond_wait_us(&s->ccond, &s->cmu, left * 1000);
            continue;
        }
        pthread_mutex_unlock(&s->cmu);
        round_run(s, kite_deadline_left_ms(first_full) == 0 || triggered, NULL);
        pthread_mutex_lock(&s->cmu);
        next = kite_deadline_ms(s->o.clean_interval_ms);
    }
    pthread_mutex_unlock(&s->cmu);
    return NULL;
}

int kite_clean_start(kite_store *s)
{
    int ratio = disk_ratio(s); /* the warning state holds from the start */
    atomic_store(&s->disk_warn, ratio >= 0 && ratio > s->o.disk_warning_ratio);
    if (atomic_load(&s->disk_warn))
        KLOG_ERROR("store",
                   "disk use %d%% is above diskSpaceWarningLevelRatio %d%%: puts are "
                   "refused until space is freed",
                   ratio, s->o.disk_warning_ratio);
    int rc = pthread_create(&s->clean_thr, NULL, clean_thread, s);
    if (rc != 0) return kite_status_from_errno(rc);
    s->clean_started = 1;
    return 0;
}

void kite_clean_stop(kite_store *s)
{
    if (!s->clean_started) return;
    pthread_mutex_lock(&s->cmu);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->ccond);
    pthread_mutex_unlock(&s->cmu);
    pthread_join(s->clean_thr, NULL);
    s->clean_started = 0;
}
