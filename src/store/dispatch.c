/* dispatch.c - the reput (dispatch) service: reads the commit log from the dispatched
 * offset up to the readable end (SYNC_FLUSH: the durable end only) and appends consume
 * queue units; periodically flushes the consume queues and writes the checkpoint.
 *
 * Owns: the dispatched offset, the arrival hook calls, checkpoint timing.
 * Does not own: unit layout (cq.c), the checkpoint format (ckpt.c).
 * Threads: one dispatch thread while the store runs; open and close call
 * kite_dispatch_run on their own thread when the dispatch thread is not running. */
#include "store/store_int.h"
#include "base/thread.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include <errno.h>
#include <string.h>
#include <time.h>

void kite_dispatch_wake(kite_store *s)
{
    if (atomic_load_explicit(&s->disp_sleeping, memory_order_relaxed)) {
        pthread_mutex_lock(&s->dmu);
        pthread_cond_signal(&s->dcond);
        pthread_mutex_unlock(&s->dmu);
    }
}

static void publish(kite_store *s, int64_t pos)
{
    atomic_store_explicit(&s->dispatched, pos, memory_order_release);
    pthread_mutex_lock(&s->dmu);
    pthread_cond_broadcast(&s->dwait);
    pthread_mutex_unlock(&s->dmu);
}

/* One record: its consume-queue unit (not for PREPARED/ROLLBACK), then its index entries.
 * Both are idempotent, so a retry after a failure redoes nothing twice. Returns 0, or
 * a kite_status when a unit or index file could not be written (retry later). */
static int dispatch_one(kite_store *s, const kite_record *r, int64_t pos)
{
    int tx = r->sysflag & KITE_SYSFLAG_TX_MASK;
    if (tx != KITE_SYSFLAG_TX_PREPARED && tx != KITE_SYSFLAG_TX_ROLLBACK) {
        kite_cq *cq = kite_cqt_get(s, r->topic, r->topic_len, r->queue_id);
        int64_t before = atomic_load_explicit(&cq->max_index, memory_order_relaxed);
        int rc = kite_cq_put(s, cq, r->queue_offset, pos, (int32_t)r->total_size,
                             kite_tag_code(r->props, r->props_len));
        if (rc < 0) return rc;
        int64_t after = atomic_load_explicit(&cq->max_index, memory_order_relaxed);
        if (after > before && s->hook)
            s->hook(s->hook_arg, cq->topic, cq->topic_len, cq->qid, after);
    }
    return kite_index_put(s, r, pos, (int64_t)r->total_size);
}

/* The dispatcher reads the commit log with pread into its own buffer, DISP_READ bytes at a
 * time (more for a larger record), never beyond the readable end, and decodes from there.
 * In this VM the first access to each newly mapped page of a mapping traps to the
 * hypervisor (~1.3 us a page, where a pread copies a page in ~0.25 us); decoding from the
 * mapping stalled on that trap at nearly every page, on the load of the topic right after
 * a body the decoder skips. The traps cannot be avoided for the pages that pull answers
 * are written from (the loop thread writes them from the mapping), so the dispatcher
 * takes them all, off the loop: touch_pages. docs/store-format.md, "Performance". */
#define DISP_READ (1 << 20)

/* Loads one byte of every page that [p, p + n) of a mapping covers (see above). */
static void touch_pages(const uint8_t *p, int64_t n)
{
    const volatile uint8_t *v = p;
    uint8_t sink = 0;
    for (int64_t o = -(int64_t)((uintptr_t)p & 4095); o < n; o += 4096) sink ^= v[o];
    (void)sink;
}

/* Makes at least `need` bytes from pos (in file f, `avail` readable) available; returns
 * them with *have = the buffered bytes from pos (at most avail), or NULL with *err. */
static const uint8_t *disp_view(kite_store *s, kite_mfile *f, int64_t pos, int64_t need,
                                int64_t avail, int64_t *have, int *err)
{
    if (pos < s->db_start || pos + need > s->db_start + s->db_len) {
        int64_t want = avail < DISP_READ ? avail : DISP_READ;
        if (want < need) want = need;
        s->db = kite_xgrow(s->db, &s->db_cap, (size_t)want, 1, DISP_READ);
        s->db_len = 0;
        ssize_t n = s->io->ops->pread(s->io, f->fd, s->db, (size_t)want, pos - f->start);
        if (n < 0) {
            *err = (int)n;
            return NULL;
        }
        s->db_start = pos;
        s->db_len = n;
        touch_pages(f->base + (pos - f->start), n);
        if (n < need) {
            *err = KITE_EIO; /* the file is shorter than its readable end: cannot be */
            return NULL;
        }
    }
    *have = s->db_start + s->db_len - pos;
    if (*have > avail) *have = avail;
    return s->db + (pos - s->db_start);
}

int kite_dispatch_run(kite_store *s, int64_t limit)
{
    int64_t pos = s->disp_pos;
    int rc = 0, n = 0;
    kite_mfile *f = NULL; /* the file holding pos, kept while its records are read */
    s->db_len = 0;        /* bytes read by an earlier run may have been truncated since */
    while (pos < limit) {
        if (f && pos >= f->start + f->size) {
            kite_mfile_unref(f);
            f = NULL;
        }
        if (!f && !(f = kite_cl_file_at(s, pos))) {
            int64_t min = kite_mfq_min_offset(&s->cl);
            if (min > pos) { /* deleted under us: skip forward */
                pos = min;
                continue;
            }
            break; /* next file not created yet */
        }
        int64_t rel = pos - f->start;
        int64_t avail = limit - pos;
        if (avail > f->size - rel) avail = f->size - rel;
        kite_record r;
        const char *why = NULL;
        int64_t have = 0;
        int err = 0;
        const uint8_t *p = disp_view(s, f, pos, avail < 8 ? avail : 8, avail, &have, &err);
        int len = p ? kite_record_decode(p, (size_t)have, &r, 0, &why) : err;
        int64_t total = p && have >= 8 ? kite_rd_be32(p) : 0;
        if (len == KITE_EAGAIN && have >= 8 && have < avail && total <= avail) {
            /* the record goes on past the buffered bytes */
            p = disp_view(s, f, pos, total, avail, &have, &err);
            len = p ? kite_record_decode(p, (size_t)have, &r, 0, &why) : err;
        }
        if (!p) { /* the dispatch thread logs and retries */
            rc = err;
            break;
        }
        if (len == KITE_ENOTFOUND) { /* blank to the end of the file */
            pos = f->start + f->size;
            continue;
        }
        if (len < 0) { /* logged once per position: the thread retries, and every put wakes it */
            if (s->disp_bug_pos != pos)
                KLOG_ERROR("store", "[BUG] dispatch: unreadable record at %lld in %s: %s",
                           (long long)pos, f->path, why ? why : "?");
            s->disp_bug_pos = pos;
            rc = KITE_ECORRUPT;
            break;
        }
        rc = dispatch_one(s, &r, pos);
        if (rc < 0) break;
        pos += len;
        if (++n % 4096 == 0) publish(s, pos);
    }
    if (f) kite_mfile_unref(f);
    s->disp_pos = pos;
    publish(s, pos);
    return rc;
}

int kite_dispatch_checkpoint(kite_store *s)
{
    int64_t d = atomic_load(&s->dispatched);
    int64_t f = atomic_load(&s->flushed);
    int rc = kite_cq_flush_all(s);
    if (rc < 0) {
        KLOG_ERROR("store", "consume queue flush failed: %s (checkpoint not advanced)",
                   kite_strerror(rc));
        return rc;
    }
    kite_ckpt ck = s->ck;
    rc = kite_index_flush(s, &ck);
    if (rc < 0) {
        KLOG_ERROR("store", "index flush failed: %s (checkpoint not advanced)", kite_strerror(rc));
        return rc;
    }
    if (d == s->ck.cq_dispatched && f == s->ck.cl_flushed && s->ck.seq > 0 &&
        ck.ix_file == s->ck.ix_file && ck.ix_count == s->ck.ix_count) {
        atomic_store(&s->ck_cl_flushed, s->ck.cl_flushed);
        atomic_store(&s->ck_dispatched, s->ck.cq_dispatched);
        atomic_store(&s->ix.ck_file, s->ck.ix_file);
        return 0;
    }
    ck.cl_flushed = f;
    ck.cq_dispatched = d;
    ck.physic_ts = atomic_load(&s->max_store_ts);
    ck.logics_ts = ck.physic_ts;
    ck.index_ts = ck.ix_end_ts;
    rc = kite_ckpt_write(s->io, s->ckpt_fd, &ck);
    if (rc < 0) {
        KLOG_ERROR("store", "checkpoint write failed: %s", kite_strerror(rc));
        return rc;
    }
    s->ck = ck;
    /* What the clean thread may delete depends on what a checkpoint made durable. */
    atomic_store(&s->ck_cl_flushed, ck.cl_flushed);
    atomic_store(&s->ck_dispatched, ck.cq_dispatched);
    atomic_store(&s->ix.ck_file, ck.ix_file);
    return 0;
}

static void *disp_thread(void *arg)
{
    kite_thread_name("kite-dispatch");
    kite_store *s = arg;
    int64_t last_err_log = 0;
    while (!atomic_load(&s->stop)) {
        int64_t limit = kite_cl_readable(s);
        int64_t before = s->disp_pos;
        int rc = 0;
        if (before < limit) rc = kite_dispatch_run(s, limit);
        int64_t now = kite_mono_ms();
        if (rc < 0 && now - last_err_log > 5000) {
            KLOG_ERROR("store", "dispatch stalled at %lld: %s; retrying", (long long)s->disp_pos,
                       kite_strerror(rc));
            last_err_log = now;
        }
        if (now - s->last_ckpt_ms >= s->o.cq_flush_interval_ms && !atomic_load(&s->failed)) {
            kite_dispatch_checkpoint(s);
            s->last_ckpt_ms = now;
        }
        if (s->disp_pos == before || rc < 0) {
            pthread_mutex_lock(&s->dmu);
            atomic_store(&s->disp_sleeping, 1);
            if (!atomic_load(&s->stop) && (rc < 0 || kite_cl_readable(s) <= s->disp_pos)) {
                kite_cond_wait_us(&s->dcond, &s->dmu, rc < 0 ? 100000 : 1000);
            }
            atomic_store(&s->disp_sleeping, 0);
            pthread_mutex_unlock(&s->dmu);
        }
    }
    return NULL;
}

int kite_dispatch_start(kite_store *s)
{
    s->last_ckpt_ms = kite_mono_ms();
    return kite_status_from_errno(pthread_create(&s->disp_thr, NULL, disp_thread, s));
}

void kite_dispatch_stop(kite_store *s)
{
    pthread_mutex_lock(&s->dmu);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->dcond);
    pthread_mutex_unlock(&s->dmu);
    pthread_join(s->disp_thr, NULL);
}
