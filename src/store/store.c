/* store.c - the store facade: open/recover/close, put (single writer, end-of-file blank,
 * queue and physical offsets assigned together under the put lock), and reads.
 *
 * Owns: the store's lifecycle and the append path. Does not own: flushing (flush.c),
 * dispatch (dispatch.c), unit and checkpoint formats (cq.c, ckpt.c), recovery scanning
 * (commitlog.c, cq.c). Threads: see store.h; the put lock serialises appends. Files and
 * the recovery algorithm: docs/store-format.md. */
#include "store/store_int.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/thread.h"
#include "base/time.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

const char *kite_put_status_name(kite_put_status s)
{
    switch (s) {
    case KITE_PUT_OK: return "PUT_OK";
    case KITE_PUT_FLUSH_DISK_TIMEOUT: return "FLUSH_DISK_TIMEOUT";
    case KITE_PUT_MESSAGE_ILLEGAL: return "MESSAGE_ILLEGAL";
    case KITE_PUT_PROPERTIES_SIZE_EXCEEDED: return "PROPERTIES_SIZE_EXCEEDED";
    case KITE_PUT_SERVICE_NOT_AVAILABLE: return "SERVICE_NOT_AVAILABLE";
    case KITE_PUT_DISK_FULL: return "DISK_FULL";
    case KITE_PUT_CREATE_MAPPED_FILE_FAILED: return "CREATE_MAPPED_FILE_FAILED";
    case KITE_PUT_FLUSH_FAILED: return "FLUSH_FAILED";
    }
    return "UNKNOWN";
}

const char *kite_get_status_name(kite_get_status s)
{
    static const char *const n[] = { "FOUND",
                                     "NO_MATCHED_MESSAGE",
                                     "MESSAGE_WAS_REMOVING",
                                     "OFFSET_FOUND_NULL",
                                     "OFFSET_OVERFLOW_BADLY",
                                     "OFFSET_OVERFLOW_ONE",
                                     "OFFSET_TOO_SMALL",
                                     "NO_MATCHED_LOGIC_QUEUE",
                                     "NO_MESSAGE_IN_QUEUE" };
    return (unsigned)s < sizeof n / sizeof n[0] ? n[s] : "UNKNOWN";
}

/* ---- open / close ---- */

static void free_store(kite_store *s)
{
    if (s->ckpt_fd >= 0) s->io->ops->close(s->io, s->ckpt_fd);
    kite_cqt_destroy(&s->cqs);
    kite_index_destroy(s);
    kite_mfq_destroy(&s->cl);
    if (s->lock_fd >= 0) s->io->ops->close(s->io, s->lock_fd); /* releases the flock */
    free(s->wq.v);
    free(s->wbuf);
    free(s->held);
    free(s->db);
    pthread_mutex_destroy(&s->put_mu);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_mutex_destroy(&s->fmu);
    pthread_mutex_destroy(&s->dmu);
    pthread_cond_destroy(&s->fcond);
    pthread_cond_destroy(&s->wcond);
    pthread_cond_destroy(&s->dcond);
    pthread_cond_destroy(&s->dwait);
    pthread_mutex_destroy(&s->cmu);
    pthread_mutex_destroy(&s->round_mu);
    pthread_cond_destroy(&s->ccond);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv);
    free(s);
}

static int exists(kite_io *io, const char *path)
{
    int fd = io->ops->open(io, path, O_RDONLY, 0);
    if (fd >= 0) io->ops->close(io, fd);
    return fd >= 0;
}

static int make_paths(kite_store *s, char *err, size_t errlen)
{
    const char *root = s->o.root_dir;
    int n = 0;
    if (s->o.commitlog_dir[0])
        n |= snprintf(s->cl_dir, sizeof s->cl_dir, "%s", s->o.commitlog_dir) >=
             (int)sizeof s->cl_dir;
    else
        n |= snprintf(s->cl_dir, sizeof s->cl_dir, "%s/commitlog", root) >= (int)sizeof s->cl_dir;
    n |= snprintf(s->cq_dir, sizeof s->cq_dir, "%s/consumequeue", root) >= (int)sizeof s->cq_dir;
    n |= snprintf(s->ckpt_path, sizeof s->ckpt_path, "%s/checkpoint", root) >=
         (int)sizeof s->ckpt_path;
    n |= snprintf(s->abort_path, sizeof s->abort_path, "%s/abort", root) >=
         (int)sizeof s->abort_path;
    n |= snprintf(s->lock_path, sizeof s->lock_path, "%s/lock", root) >= (int)sizeof s->lock_path;
    if (n) snprintf(err, errlen, "store path too long: %s", root);
    return n ? KITE_EINVAL : 0;
}

/* Recovery and start-up on the opening thread; see docs/store-format.md, "Recovery". */
static int open_recover(kite_store *s, char *err, size_t errlen)
{
    kite_io *io = s->io;
    int rc = kite_io_mkdirs(io, s->o.root_dir);
    if (rc == 0) rc = kite_io_mkdirs(io, s->cl_dir);
    if (rc < 0) {
        snprintf(err, errlen, "creating %s: %s", s->cl_dir, kite_strerror(rc));
        return KITE_EIO;
    }
    s->lock_fd = io->ops->open(io, s->lock_path, O_RDWR | O_CREAT, 0644);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s: cannot lock (another broker uses this store?)", s->lock_path);
        return KITE_EAGAIN;
    }
    int crashed = exists(io, s->abort_path);
    rc = kite_ckpt_read(io, s->ckpt_path, &s->ck, err, errlen);
    if (rc == KITE_ENOTFOUND) {
        memset(&s->ck, 0, sizeof s->ck);
    } else if (rc < 0) {
        return rc;
    }
    int short_ok = crashed;
    rc = kite_mfq_load(&s->cl, &short_ok, err, errlen);
    if (rc < 0) return rc;
    if (rc == 0 && !crashed && rc != KITE_ENOTFOUND && s->cl.n > 0 && s->ck.seq == 0) {
        KLOG_WARN("store", "commit log present but no checkpoint: recovering as after a crash");
        crashed = 1;
    }
    int64_t t0 = kite_mono_ms();
    KLOG_INFO("store", "opening %s (%s shutdown, %zu commit log files, checkpoint %lld/%lld)",
              s->o.root_dir, crashed ? "UNCLEAN" : "clean", s->cl.n, (long long)s->ck.cl_flushed,
              (long long)s->ck.cq_dispatched);
    rc = kite_cl_recover(s, crashed, err, errlen);
    if (rc < 0) return rc;
    int64_t end = atomic_load(&s->max_offset);
    int64_t min_phys_end = -1;
    rc = kite_cq_load_all(s, crashed, end, &min_phys_end, err, errlen);
    if (rc < 0) return rc;
    int64_t start = s->ck.cq_dispatched;
    if (start > end) start = end;
    if (min_phys_end >= 0 && min_phys_end < start) start = min_phys_end;
    if (min_phys_end < 0 && s->cl.n) start = kite_mfq_min_offset(&s->cl); /* no queues: rebuild */
    int64_t cl_min = kite_mfq_min_offset(&s->cl);
    int64_t ix_from = end;
    rc = kite_index_load(s, crashed, cl_min < 0 ? 0 : cl_min, end, &ix_from, err, errlen);
    if (rc < 0) return rc;
    if (ix_from < start) start = ix_from;
    if (cl_min > start) start = cl_min;
    if (start < 0) start = 0;
    s->disp_pos = start;
    s->disp_bug_pos = -1;
    atomic_store(&s->dispatched, start);
    if (start < end)
        KLOG_INFO("store", "rebuilding consume queues and index from %lld to %lld",
                  (long long)start, (long long)end);
    rc = kite_dispatch_run(s, end);
    if (rc < 0) {
        snprintf(err, errlen, "rebuilding consume queues stopped at %lld: %s",
                 (long long)s->disp_pos, kite_strerror(rc));
        return rc;
    }
    /* The writer continues every queue where its consume queue ends. */
    pthread_rwlock_rdlock(&s->cqs.lock);
    for (size_t i = 0; i < s->cqs.nbuckets; i++)
        for (kite_cq *c = s->cqs.buckets[i]; c; c = c->next)
            c->put_next = atomic_load(&c->max_index);
    pthread_rwlock_unlock(&s->cqs.lock);
    s->cur = kite_mfq_last(&s->cl);
    atomic_store(&s->cur_start, s->cur ? s->cur->start : -1);
    atomic_store(&s->raw_end, end); /* a replica's unfinished record was cut by recovery */
    if (s->last_store_ts == 0) s->last_store_ts = s->ck.physic_ts;
    rc = kite_ckpt_open(io, s->ckpt_path, &s->ckpt_fd);
    if (rc == 0) rc = io->ops->sync_dir(io, s->o.root_dir);
    if (rc == 0) rc = kite_dispatch_checkpoint(s);
    if (rc == 0) {
        int fd = io->ops->open(io, s->abort_path, O_WRONLY | O_CREAT, 0644);
        rc = fd < 0 ? fd : io->ops->close(io, fd);
    }
    if (rc == 0) rc = io->ops->sync_dir(io, s->o.root_dir);
    if (rc < 0) {
        snprintf(err, errlen, "writing checkpoint/abort marker in %s: %s", s->o.root_dir,
                 kite_strerror(rc));
        return KITE_EIO;
    }
    KLOG_INFO("store", "store open in %lld ms: commit log [%lld, %lld), %zu queues",
              (long long)(kite_mono_ms() - t0), (long long)(cl_min < 0 ? 0 : cl_min),
              (long long)end, s->cqs.count);
    return 0;
}

kite_store *kite_store_open(const kite_store_opts *opts, char *err, size_t errlen)
{
    if (kite_store_opts_check(opts, err, errlen) < 0) return NULL;
    kite_store *s = kite_xcalloc(1, sizeof *s);
    s->o = *opts;
    s->io = opts->io ? opts->io : kite_io_posix();
    s->lock_fd = s->ckpt_fd = -1;
    pthread_mutex_init(&s->put_mu, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_mutex_init(&s->fmu, NULL);
    pthread_mutex_init(&s->dmu, NULL);
    pthread_cond_init(&s->fcond, NULL);
    pthread_cond_init(&s->wcond, NULL);
    pthread_cond_init(&s->dcond, NULL);
    pthread_cond_init(&s->dwait, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    pthread_mutex_init(&s->round_mu, NULL);
    pthread_cond_init(&s->ccond, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    atomic_init(&s->cur_start, -1);
    kite_cqt_init(&s->cqs);
    if (make_paths(s, err, errlen) < 0) {
        free_store(s);
        return NULL;
    }
    kite_index_init(s);
    kite_mfq_init(&s->cl, s->io, s->cl_dir, s->o.cl_file_size);
    if (open_recover(s, err, errlen) < 0) {
        KLOG_ERROR("store", "cannot open store: %s", err);
        free_store(s);
        return NULL;
    }
    if (kite_flush_start(s) != 0) {
        snprintf(err, errlen, "cannot start flush thread");
        free_store(s);
        return NULL;
    }
    if (kite_dispatch_start(s) != 0) {
        kite_flush_stop(s);
        snprintf(err, errlen, "cannot start dispatch thread");
        free_store(s);
        return NULL;
    }
    if (kite_clean_start(s) != 0) {
        kite_dispatch_stop(s);
        kite_flush_stop(s);
        snprintf(err, errlen, "cannot start clean thread");
        free_store(s);
        return NULL;
    }
    if (kite_warm_start(s) != 0)
        KLOG_WARN("store", "cannot start the allocation/warm-up thread; continuing without it");
    s->threads_started = 1;
    return s;
}

void kite_store_close(kite_store *s)
{
    if (!s) return;
    kite_store_kick(s);             /* staged puts are written and answered */
    pthread_mutex_lock(&s->put_mu); /* no put is in flight after this */
    atomic_store(&s->stop, 1);
    pthread_mutex_unlock(&s->put_mu);
    kite_warm_stop(s); /* removes an unused pre-created file */
    kite_clean_stop(s);
    kite_flush_stop(s); /* completes every pending SYNC put */
    kite_dispatch_stop(s);
    int clean = !atomic_load(&s->failed);
    int64_t max = atomic_load(&s->max_offset);
    if (clean && kite_cl_flush(s, max) < 0) clean = 0;
    if (clean && atomic_load(&s->flushed) != max) clean = 0;
    if (clean && kite_dispatch_run(s, max) < 0) clean = 0;
    if (clean && s->disp_pos != max) clean = 0;
    if (clean && kite_dispatch_checkpoint(s) < 0) clean = 0;
    if (clean) {
        int rc = s->io->ops->unlink(s->io, s->abort_path);
        if (rc == 0) rc = s->io->ops->sync_dir(s->io, s->o.root_dir);
        if (rc < 0) clean = 0;
    }
    if (clean)
        KLOG_INFO("store", "store closed cleanly at offset %lld", (long long)max);
    else
        KLOG_WARN("store", "store closed without a clean checkpoint; the next open recovers");
    free_store(s);
}

/* ---- put ---- */

static int topic_ok(const char *t, size_t n)
{
    if (n == 0 || n > KITE_REC_MAX_TOPIC_V1) return 0;
    if ((n == 1 && t[0] == '.') || (n == 2 && t[0] == '.' && t[1] == '.')) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == '/' || c == 0x7F) return 0;
    }
    return 1;
}

static int refuse(kite_put_cb cb, void *arg, kite_put_status st, int err)
{
    kite_put_result r = { st, err, -1, -1, 0, 0 };
    cb(arg, &r);
    return err ? err : KITE_EINVAL;
}

#define STAGE_MAX (1u << 20) /* staged bytes written at once at most (batch_puts) */

/* The callbacks of a written (or failed) batch, run after put_mu is released. */
typedef struct held_batch {
    kite_held_put *v;
    size_t n;
} held_batch;

static void run_held(held_batch *hb)
{
    for (size_t i = 0; i < hb->n; i++) hb->v[i].cb(hb->v[i].arg, &hb->v[i].res);
    free(hb->v);
    hb->v = NULL;
    hb->n = 0;
}

/* Writes the staged records of the current file with one pwrite and moves their callbacks
 * to hb (which must be empty). A failed write stops the store (fail-stop, as a failed
 * sync): the staged records already took queue offsets, so nothing may follow them; their
 * callbacks report SERVICE_NOT_AVAILABLE. Under put_mu. */
static void commit_staged(kite_store *s, held_batch *hb)
{
    if (!s->staged) return;
    kite_mfile *c = s->cur;
    int64_t w = atomic_load_explicit(&c->wrote, memory_order_relaxed);
    ssize_t n = s->io->ops->pwrite(s->io, c->fd, s->wbuf, s->staged, w);
    if (n >= 0) {
        atomic_store_explicit(&c->wrote, w + (int64_t)s->staged, memory_order_release);
        atomic_store_explicit(&s->max_store_ts, s->staged_ts, memory_order_relaxed);
        atomic_store_explicit(&s->max_offset, c->start + w + (int64_t)s->staged,
                              memory_order_release);
        /* SYNC_FLUSH puts now wait for the group sync (in append order, under put_mu as
         * the queue requires); the others are answered by the caller. */
        size_t keep = 0;
        for (size_t i = 0; i < s->nheld; i++) {
            kite_held_put *h = &s->held[i];
            if (!h->wait) {
                s->held[keep++] = *h;
                continue;
            }
            kite_waiter wt = { h->res.phys_offset + h->res.wrote_bytes, h->deadline_ms, h->cb,
                               h->arg, h->res };
            kite_flush_enqueue(s, &wt);
        }
        s->nheld = keep;
    } else {
        int st = (int)n;
        int expected = 0;
        atomic_compare_exchange_strong(&s->failed, &expected, st);
        KLOG_ERROR("store",
                   "writing %zu bytes of records to %s at %lld: %s; the store stops "
                   "accepting writes",
                   s->staged, c->path, (long long)w, kite_strerror((int)n));
        for (size_t i = 0; i < s->nheld; i++)
            s->held[i].res = (kite_put_result){ KITE_PUT_SERVICE_NOT_AVAILABLE, st, -1, -1, 0, 0 };
    }
    s->staged = 0;
    hb->v = s->held;
    hb->n = s->nheld;
    s->held = NULL;
    s->nheld = s->held_cap = 0;
}

/* Makes room for a record of size bytes: blank filler + next file. Staged records are
 * written first (their callbacks go to hb). Under put_mu. */
static int roll(kite_store *s, kite_put_status *st, held_batch *hb)
{
    int64_t now = kite_mono_ms();
    if (atomic_load(&s->disk_full) && now < s->disk_full_retry_at) {
        *st = KITE_PUT_DISK_FULL;
        return KITE_ENOSPC;
    }
    int64_t fs = s->o.cl_file_size, start;
    kite_mfile *c = s->cur;
    if (c) {
        commit_staged(s, hb);
        if (atomic_load(&s->failed)) {
            *st = KITE_PUT_SERVICE_NOT_AVAILABLE;
            return KITE_ESTOPPED;
        }
        int64_t w = atomic_load(&c->wrote);
        if (w < fs) {
            uint8_t blank[KITE_REC_BLANK_MIN]; /* see kite_store_put: pwrite */
            kite_record_write_blank(blank, (uint32_t)(fs - w));
            ssize_t n = s->io->ops->pwrite(s->io, c->fd, blank, sizeof blank, w);
            if (n < 0) {
                KLOG_ERROR("store", "writing the end-of-file filler of %s: %s", c->path,
                           kite_strerror((int)n));
                *st = KITE_PUT_SERVICE_NOT_AVAILABLE;
                return (int)n;
            }
            atomic_store_explicit(&c->wrote, fs, memory_order_release);
            atomic_store_explicit(&s->max_offset, c->start + fs, memory_order_release);
        }
        start = c->start + fs;
    } else {
        int64_t m = atomic_load(&s->max_offset);
        start = m - m % fs;
    }
    kite_mfile *nf = NULL;
    int rc = kite_warm_next_file(s, start, &nf); /* the pre-created file, or a new one */
    if (rc < 0) {
        if (rc == KITE_ENOSPC) {
            if (!atomic_exchange(&s->disk_full, 1))
                KLOG_ERROR("store",
                           "disk full creating commit log file at %lld in %s: writes "
                           "are refused until space is available",
                           (long long)start, s->cl_dir);
            s->disk_full_retry_at = now + s->o.disk_full_retry_ms;
            *st = KITE_PUT_DISK_FULL;
            return KITE_ENOSPC;
        }
        KLOG_ERROR("store", "creating commit log file at %lld: %s", (long long)start,
                   kite_strerror(rc));
        *st = KITE_PUT_CREATE_MAPPED_FILE_FAILED;
        return rc;
    }
    if (atomic_exchange(&s->disk_full, 0))
        KLOG_INFO("store", "disk space available again: accepting writes");
    s->cur = nf;
    return 0;
}

/* kite_record_encode for what the store writes (magic V1, IPv4 hosts, so the layout of
 * docs/store-format.md byte for byte) with the body CRC computed by the caller outside the
 * put lock (kite_store_crc32, several times faster than zlib's). */
static void encode_v1(const kite_record *r, uint32_t body_crc, uint8_t *w, size_t total)
{
    kite_wr_be32(w, (uint32_t)total);
    kite_wr_be32(w + 4, KITE_REC_MAGIC_V1);
    kite_wr_be32(w + 8, body_crc);
    kite_wr_be32(w + 12, (uint32_t)r->queue_id);
    kite_wr_be32(w + 16, (uint32_t)r->flag);
    kite_wr_be64(w + 20, (uint64_t)r->queue_offset);
    kite_wr_be64(w + 28, (uint64_t)r->phys_offset);
    kite_wr_be32(w + 36, (uint32_t)r->sysflag);
    kite_wr_be64(w + 40, (uint64_t)r->born_ts);
    memcpy(w + 48, r->born_addr, 4);
    kite_wr_be32(w + 52, (uint32_t)r->born_port);
    kite_wr_be64(w + 56, (uint64_t)r->store_ts);
    memcpy(w + 64, r->store_addr, 4);
    kite_wr_be32(w + 68, (uint32_t)r->store_port);
    kite_wr_be32(w + 72, (uint32_t)r->reconsume_times);
    kite_wr_be64(w + 76, (uint64_t)r->prepared_tx_offset);
    kite_wr_be32(w + 84, r->body_len);
    w += 88;
    if (r->body_len) memcpy(w, r->body, r->body_len);
    w += r->body_len;
    *w++ = (uint8_t)r->topic_len;
    memcpy(w, r->topic, r->topic_len);
    w += r->topic_len;
    kite_wr_be16(w, (uint16_t)r->props_len);
    if (r->props_len) memcpy(w + 2, r->props, r->props_len);
}

int kite_store_put(kite_store *s, const kite_store_msg *m, kite_put_cb cb, void *arg)
{
    if (s->o.replica) /* a replica's log grows only by kite_store_append_raw */
        return refuse(cb, arg, KITE_PUT_SERVICE_NOT_AVAILABLE, KITE_ESTOPPED);
    if (!topic_ok(m->topic, m->topic_len) || m->body_len > (uint32_t)s->o.max_message_size)
        return refuse(cb, arg, KITE_PUT_MESSAGE_ILLEGAL, KITE_EINVAL);
    if (m->props_len > KITE_REC_MAX_PROPS || (m->props_len && memchr(m->props, 0, m->props_len)))
        return refuse(cb, arg, KITE_PUT_PROPERTIES_SIZE_EXCEEDED, KITE_ETOOBIG);
    int32_t sysflag = m->sysflag & ~(KITE_SYSFLAG_BORNHOST_V6 | KITE_SYSFLAG_STOREHOST_V6);
    size_t size =
        kite_record_size(KITE_REC_MAGIC_V1, sysflag, m->body_len, m->topic_len, m->props_len);
    if (size == 0 || (int64_t)size + KITE_REC_BLANK_MIN > s->o.cl_file_size)
        return refuse(cb, arg, KITE_PUT_MESSAGE_ILLEGAL, KITE_ETOOBIG);
    int failed = atomic_load(&s->failed);
    if (failed) return refuse(cb, arg, KITE_PUT_SERVICE_NOT_AVAILABLE, KITE_ESTOPPED);
    if (atomic_load_explicit(&s->disk_warn, memory_order_relaxed))
        return refuse(cb, arg, KITE_PUT_DISK_FULL, KITE_ENOSPC);

    kite_put_result res;
    int sync = s->o.flush_type == KITE_FLUSH_SYNC && m->wait;
    uint32_t body_crc = kite_store_crc32_masked(m->body, m->body_len); /* outside the lock */
    pthread_mutex_lock(&s->put_mu);
    if (atomic_load(&s->stop) || atomic_load(&s->failed)) {
        pthread_mutex_unlock(&s->put_mu);
        return refuse(cb, arg, KITE_PUT_SERVICE_NOT_AVAILABLE, KITE_ESTOPPED);
    }
    int batch = s->o.batch_puts;
    held_batch hb = { NULL, 0 };
    kite_mfile *c = s->cur;
    if (c && batch && s->staged + size > STAGE_MAX) {
        commit_staged(s, &hb);
        if (atomic_load(&s->failed)) {
            pthread_mutex_unlock(&s->put_mu);
            run_held(&hb);
            return refuse(cb, arg, KITE_PUT_SERVICE_NOT_AVAILABLE, KITE_ESTOPPED);
        }
    }
    if (!c || s->o.cl_file_size - atomic_load(&c->wrote) - (int64_t)s->staged <
                  (int64_t)size + KITE_REC_BLANK_MIN) {
        kite_put_status st;
        int rc = roll(s, &st, &hb);
        if (rc < 0) {
            pthread_mutex_unlock(&s->put_mu);
            run_held(&hb);
            return refuse(cb, arg, st, rc);
        }
        c = s->cur;
    }
    kite_cq *cq = s->last_cq;
    if (!cq || cq->qid != m->queue_id || cq->topic_len != m->topic_len ||
        memcmp(cq->topic, m->topic, m->topic_len) != 0) {
        cq = kite_cqt_get(s, m->topic, m->topic_len, m->queue_id);
        s->last_cq = cq;
    }
    int tx = sysflag & KITE_SYSFLAG_TX_MASK;
    int counted = tx != KITE_SYSFLAG_TX_PREPARED && tx != KITE_SYSFLAG_TX_ROLLBACK;
    int64_t ts = kite_wall_ms();
    if (ts < s->last_store_ts) ts = s->last_store_ts;
    s->last_store_ts = ts;
    int64_t w = atomic_load_explicit(&c->wrote, memory_order_relaxed) + (int64_t)s->staged;
    kite_record r;
    r.magic = KITE_REC_MAGIC_V1;
    r.queue_id = m->queue_id;
    r.flag = m->flag;
    r.queue_offset = counted ? cq->put_next : 0;
    r.phys_offset = c->start + w;
    r.sysflag = sysflag;
    r.born_ts = m->born_ts;
    memcpy(r.born_addr, m->born_ip4, 4);
    r.born_port = m->born_port;
    r.store_ts = ts;
    memcpy(r.store_addr, s->o.store_ip4, 4);
    r.store_port = s->o.store_port;
    r.reconsume_times = m->reconsume_times;
    r.prepared_tx_offset = m->prepared_tx_offset;
    r.body = m->body;
    r.body_len = m->body_len;
    r.topic = m->topic;
    r.topic_len = (uint32_t)m->topic_len;
    r.props = m->props;
    r.props_len = m->props_len;
    /* Records are written with pwrite, never stored into the mapping. A store into a
     * shared mapping first faults the page in, and a fault on a never-written page of a
     * preallocated file reads ahead (zero-fills) a whole read-ahead window in one step:
     * 8 MiB on some disks, ~25 ms of kernel time that nothing can preempt, a latency spike
     * every few MB. It also leaves a writable page-table entry that every sync must
     * write-protect again (with a TLB shoot-down per page) before writing the page back.
     * pwrite fills the page cache in write-sized pieces and the sync only writes pages.
     * Readers still read through the mapping (the same page cache) up to max_offset,
     * which moves only once the bytes are written. Measured: docs/store-format.md,
     * "Performance". With batch_puts, the records of a batch are staged in wbuf and
     * written together by kite_store_commit. */
    size_t at = batch ? s->staged : 0;
    s->wbuf = kite_xgrow(s->wbuf, &s->wbuf_cap, at + size, 1, 4096);
    if (batch) s->held = kite_xgrow(s->held, &s->held_cap, s->nheld + 1, sizeof *s->held, 64);
    encode_v1(&r, body_crc, s->wbuf + at, size);
    if (counted) cq->put_next++;
    res =
        (kite_put_result){ KITE_PUT_OK, KITE_OK, r.phys_offset, r.queue_offset, (int32_t)size, ts };
    if (batch) {
        s->staged += size;
        s->staged_ts = ts;
        s->held[s->nheld++] =
            (kite_held_put){ cb, arg, res, sync ? kite_deadline_ms(s->o.sync_flush_timeout_ms) : 0,
                             sync };
        pthread_mutex_unlock(&s->put_mu);
        run_held(&hb);
        return KITE_OK;
    }
    /* Not batched: hb stayed empty (only staged records fill it). */
    ssize_t n = s->io->ops->pwrite(s->io, c->fd, s->wbuf, size, w);
    if (n < 0) {
        if (counted) cq->put_next--; /* nothing was written: the offset is not taken */
        pthread_mutex_unlock(&s->put_mu);
        KLOG_ERROR("store", "writing a record to %s at %lld: %s", c->path, (long long)w,
                   kite_strerror((int)n));
        return refuse(cb, arg, KITE_PUT_SERVICE_NOT_AVAILABLE, (int)n);
    }
    atomic_store_explicit(&c->wrote, w + (int64_t)size, memory_order_release);
    atomic_store_explicit(&s->max_store_ts, ts, memory_order_relaxed);
    atomic_store_explicit(&s->max_offset, r.phys_offset + (int64_t)size, memory_order_release);
    if (sync) {
        kite_waiter wt = { r.phys_offset + (int64_t)size,
                           kite_deadline_ms(s->o.sync_flush_timeout_ms), cb, arg, res };
        kite_flush_enqueue(s, &wt);
    }
    if (s->append_hook) s->append_hook(s->append_hook_arg); /* under put_mu: see store.h */
    pthread_mutex_unlock(&s->put_mu);
    if (s->o.flush_type == KITE_FLUSH_ASYNC) kite_dispatch_wake(s);
    if (!sync) cb(arg, &res);
    return KITE_OK;
}

void kite_store_commit(kite_store *s)
{
    held_batch hb = { NULL, 0 };
    pthread_mutex_lock(&s->put_mu);
    int64_t before = atomic_load_explicit(&s->max_offset, memory_order_relaxed);
    commit_staged(s, &hb);
    /* Under put_mu, so that kite_store_set_append_hook(NULL) returning means the old hook
     * never runs again; before the callbacks, which a SYNC_MASTER answer waits behind. */
    if (s->append_hook && atomic_load_explicit(&s->max_offset, memory_order_relaxed) != before)
        s->append_hook(s->append_hook_arg);
    pthread_mutex_unlock(&s->put_mu);
    run_held(&hb);
}

void kite_store_set_append_hook(kite_store *s, kite_store_append_fn fn, void *arg)
{
    pthread_mutex_lock(&s->put_mu);
    s->append_hook = fn;
    s->append_hook_arg = arg;
    pthread_mutex_unlock(&s->put_mu);
}

void kite_store_kick(kite_store *s)
{
    kite_store_commit(s);
    kite_dispatch_wake(s);
}

typedef struct put_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    kite_put_result *res;
} put_waiter;

static void put_wait_cb(void *arg, const kite_put_result *r)
{
    put_waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    *w->res = *r;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void kite_store_put_wait(kite_store *s, const kite_store_msg *msg, kite_put_result *res)
{
    put_waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, res };
    kite_store_put(s, msg, put_wait_cb, &w);
    if (s->o.batch_puts) kite_store_kick(s); /* a blocking put is not batched */
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
}

/* ---- reads ---- */

void kite_store_seg_release(kite_store_seg *seg)
{
    if (seg->file) kite_mfile_unref(seg->file);
    seg->file = NULL;
}

int kite_store_get_by_offset(kite_store *s, int64_t phys, kite_store_seg *seg, int64_t *next)
{
    memset(seg, 0, sizeof *seg);
    int64_t limit = kite_cl_readable(s);
    if (phys < 0 || phys >= limit) return KITE_ENOTFOUND;
    kite_mfile *f = kite_cl_file_at(s, phys);
    if (!f) return KITE_ENOTFOUND;
    int64_t rel = phys - f->start, avail = limit - phys;
    if (avail > f->size - rel) avail = f->size - rel;
    kite_record r;
    int len = kite_record_decode(f->base + rel, (size_t)avail, &r, 0, NULL);
    if (len <= 0) {
        if (len == KITE_ENOTFOUND && next) *next = f->start + f->size;
        kite_mfile_unref(f);
        return len == KITE_ENOTFOUND ? KITE_ENOTFOUND : KITE_ECORRUPT;
    }
    seg->data = f->base + rel;
    seg->len = (uint32_t)len;
    seg->phys_offset = phys;
    seg->queue_offset = r.queue_offset;
    seg->fd = f->fd;
    seg->file_off = rel;
    seg->file = f;
    if (next) *next = phys + len;
    return KITE_OK;
}

void kite_get_result_release(kite_get_result *r)
{
    for (size_t i = 0; i < r->count; i++) kite_store_seg_release(&r->segs[i]);
    free(r->segs);
    r->segs = NULL;
    r->count = r->cap = 0;
}

static int tag_match(int64_t tag, const int32_t *tags, size_t n)
{
    if (n == 0) return 1;
    for (size_t i = 0; i < n; i++)
        if ((int32_t)tag == tags[i]) return 1;
    return 0;
}

int kite_store_get_messages(kite_store *s, const char *topic, int32_t qid, int64_t offset,
                            int max_count, size_t max_bytes, const int32_t *tags, size_t ntags,
                            kite_get_result *out)
{
    memset(out, 0, sizeof *out);
    out->last_phys = -1;
    kite_cq *cq = kite_cqt_find(s, topic, strlen(topic), qid);
    if (!cq) {
        out->status = KITE_GET_NO_MATCHED_LOGIC_QUEUE;
        return 0;
    }
    int64_t min = atomic_load_explicit(&cq->min_index, memory_order_acquire);
    int64_t max = atomic_load_explicit(&cq->max_index, memory_order_acquire);
    out->min_offset = min;
    out->max_offset = max;
    if (max == 0) {
        out->status = KITE_GET_NO_MESSAGE_IN_QUEUE;
        return 0;
    }
    if (offset < min) {
        out->status = KITE_GET_OFFSET_TOO_SMALL;
        out->next_begin_offset = min;
        return 0;
    }
    if (offset == max) {
        out->status = KITE_GET_OFFSET_OVERFLOW_ONE;
        out->next_begin_offset = offset;
        return 0;
    }
    if (offset > max) {
        out->status = KITE_GET_OFFSET_OVERFLOW_BADLY;
        out->next_begin_offset = max;
        return 0;
    }
    if (max_count < 1) max_count = 1;
    int64_t scan_max = max_count > 800 ? max_count : 800;
    int64_t i = offset, cl_min = kite_mfq_min_offset(&s->cl);
    int removed = 0;
    kite_mfile *cf = NULL;
    while (i < max && i - offset < scan_max && out->count < (size_t)max_count) {
        int64_t byte = i * KITE_CQ_UNIT;
        if (!cf || byte >= cf->start + cf->size) {
            if (cf) kite_mfile_unref(cf);
            cf = kite_mfq_find(&cq->q, byte);
            if (!cf) {
                if (out->count == 0) {
                    out->status = KITE_GET_OFFSET_FOUND_NULL;
                    out->next_begin_offset =
                        (byte - byte % s->o.cq_file_size + s->o.cq_file_size) / KITE_CQ_UNIT;
                    return 0;
                }
                break;
            }
        }
        const uint8_t *u = cf->base + (byte - cf->start);
        int64_t phys = (int64_t)kite_rd_be64(u);
        int32_t size = (int32_t)kite_rd_be32(u + 8);
        int64_t tag = (int64_t)kite_rd_be64(u + 12);
        out->last_phys = phys;
        if (size <= 0 || size == 0x7FFFFFFF || !tag_match(tag, tags, ntags)) {
            i++;
            continue;
        }
        if (phys < cl_min) {
            removed = 1;
            i++;
            continue;
        }
        if (out->count > 0 && out->bytes + (size_t)size > max_bytes) break;
        kite_store_seg seg;
        if (kite_store_get_by_offset(s, phys, &seg, NULL) != KITE_OK || seg.len != (uint32_t)size) {
            kite_store_seg_release(&seg);
            removed = 1;
            i++;
            continue;
        }
        seg.queue_offset = i;
        out->segs = kite_xgrow(out->segs, &out->cap, out->count + 1, sizeof *out->segs, 32);
        out->segs[out->count++] = seg;
        out->bytes += (size_t)size;
        i++;
    }
    if (cf) kite_mfile_unref(cf);
    out->next_begin_offset = i;
    out->status = out->count ? KITE_GET_FOUND
                  : removed  ? KITE_GET_MESSAGE_WAS_REMOVING
                             : KITE_GET_NO_MATCHED_MESSAGE;
    return 0;
}

int64_t kite_store_min_offset(kite_store *s, const char *topic, int32_t qid)
{
    kite_cq *cq = kite_cqt_find(s, topic, strlen(topic), qid);
    return cq ? atomic_load(&cq->min_index) : 0;
}

int64_t kite_store_max_offset(kite_store *s, const char *topic, int32_t qid)
{
    kite_cq *cq = kite_cqt_find(s, topic, strlen(topic), qid);
    return cq ? atomic_load(&cq->max_index) : 0;
}

/* Store time of the record at queue index idx, or -1 when it cannot be read. */
static int64_t store_ts_at(kite_store *s, kite_cq *cq, int64_t idx)
{
    int64_t phys;
    int32_t size;
    if (kite_cq_unit(cq, idx, &phys, &size, NULL) != 0 || size <= 0 || size == 0x7FFFFFFF)
        return -1;
    kite_store_seg seg;
    if (kite_store_get_by_offset(s, phys, &seg, NULL) != KITE_OK) return -1;
    kite_record r;
    int64_t ts = kite_record_decode(seg.data, seg.len, &r, 0, NULL) > 0 ? r.store_ts : -1;
    kite_store_seg_release(&seg);
    return ts;
}

int64_t kite_store_offset_by_time(kite_store *s, const char *topic, int32_t qid, int64_t ts)
{
    kite_cq *cq = kite_cqt_find(s, topic, strlen(topic), qid);
    if (!cq) return 0;
    int64_t lo = atomic_load(&cq->min_index), hi = atomic_load(&cq->max_index);
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t t = store_ts_at(s, cq, mid);
        if (t >= 0 && t >= ts)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int64_t kite_store_cl_min_offset(kite_store *s)
{
    int64_t m = kite_mfq_min_offset(&s->cl);
    return m < 0 ? atomic_load(&s->max_offset) : m;
}
int64_t kite_store_cl_max_offset(kite_store *s) { return atomic_load(&s->max_offset); }
int64_t kite_store_cl_flushed_offset(kite_store *s) { return atomic_load(&s->flushed); }
int64_t kite_store_dispatched_offset(kite_store *s) { return atomic_load(&s->dispatched); }
int kite_store_failed(kite_store *s) { return atomic_load(&s->failed); }

int kite_store_wait_dispatched(kite_store *s, int timeout_ms)
{
    int64_t deadline = kite_deadline_ms(timeout_ms);
    pthread_mutex_lock(&s->dmu);
    while (atomic_load(&s->dispatched) < kite_cl_readable(s)) {
        int64_t left = kite_deadline_left_ms(deadline);
        if (left == 0) {
            pthread_mutex_unlock(&s->dmu);
            return KITE_ETIMEDOUT;
        }
        pthread_cond_signal(&s->dcond);
        kite_cond_wait_us(&s->dwait, &s->dmu, (left < 2 ? left : 2) * 1000);
    }
    pthread_mutex_unlock(&s->dmu);
    return 0;
}

void kite_store_set_arrival_hook(kite_store *s, kite_store_arrival_fn fn, void *arg)
{
    pthread_mutex_lock(&s->dmu);
    s->hook_arg = arg;
    s->hook = fn;
    pthread_mutex_unlock(&s->dmu);
}
