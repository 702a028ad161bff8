/* commitlog.c - the commit log's durable end: flushing, locating records, and recovery.
 *
 * Owns: advancing the flushed (durable) offset only after a successful sync, and the
 * commit-log half of recovery (validate from the checkpoint, refuse on corruption of
 * durable data, truncate a torn tail). The append itself is in store.c (under the put
 * lock, together with queue offsets). Record format: codec/record.h.
 * Does not own: consume queues (cq.c), when to flush (flush.c).
 * Threads: kite_cl_flush is serialised by flush_mu and may run on the flush thread, the
 * watcher-free close path, or open; recovery runs on the opening thread before any
 * other thread exists. Recovery algorithm: docs/store-format.md, "Recovery". */
#include "store/store_int.h"
#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include <stdio.h>
#include <string.h>

int64_t kite_cl_readable(kite_store *s)
{
    if (s->o.flush_type == KITE_FLUSH_SYNC)
        return atomic_load_explicit(&s->flushed, memory_order_acquire);
    return atomic_load_explicit(&s->max_offset, memory_order_acquire);
}

kite_mfile *kite_cl_file_at(kite_store *s, int64_t phys) { return kite_mfq_find(&s->cl, phys); }

int kite_cl_flush(kite_store *s, int64_t upto)
{
    pthread_mutex_lock(&s->flush_mu);
    int64_t pos = atomic_load(&s->flushed);
    int rc = 0;
    while (pos < upto) {
        kite_mfile *f = kite_mfq_find(&s->cl, pos);
        if (!f) break; /* the writer has moved past a blank but not yet created the file */
        int64_t wrote = atomic_load_explicit(&f->wrote, memory_order_acquire);
        int64_t rel = upto - f->start;
        if (rel > wrote) rel = wrote;
        rc = kite_mfile_flush(f, rel);
        int64_t next = rel == f->size ? f->start + f->size : f->start + rel;
        kite_mfile_unref(f);
        if (rc < 0 || next <= pos) break;
        pos = next;
    }
    if (rc == 0 && pos > atomic_load(&s->flushed)) {
        atomic_store_explicit(&s->flushed, pos, memory_order_release);
        atomic_fetch_add_explicit(&s->syncs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->flush_mu);
    return rc;
}

/* Scans records from pos. Phase 1 (pos < trusted): every record must validate, or the
 * store refuses to open. Phase 2: the first invalid record ends the log. Returns the
 * valid end in *end, or KITE_ECORRUPT with err naming the file and offset. */
static int scan(kite_store *s, int64_t pos, int64_t trusted, int64_t *end, int64_t *last_ts,
                char *err, size_t errlen)
{
    /* The body CRC is checked here with kite_store_crc32 (PCLMULQDQ), not by the decoder. */
    int check_crc = s->o.check_crc_on_recover;
    int64_t scanned = 0, t0 = kite_mono_ms(), next_log = 1LL << 30, prev_ts = 0;
    for (;;) {
        kite_mfile *f = kite_mfq_find(&s->cl, pos);
        if (!f) break;
        int64_t rel = pos - f->start;
        const char *why = NULL;
        kite_record r;
        int rc = kite_record_decode(f->base + rel, (size_t)(f->size - rel), &r, 0, &why);
        if (rc == KITE_ENOTFOUND) { /* blank filler: the file is complete */
            int64_t n = f->start + f->size;
            kite_mfile_unref(f);
            scanned += n - pos;
            pos = n;
            continue;
        }
        if (rc > 0 && check_crc && kite_store_crc32_masked(r.body, r.body_len) != r.body_crc) {
            rc = KITE_ECORRUPT;
            why = "body CRC mismatch";
        }
        if (rc > 0 && r.phys_offset != pos) {
            rc = KITE_ECORRUPT;
            why = "PHYSICALOFFSET does not match the record's position";
        }
        if (rc > 0 && r.store_ts < prev_ts) {
            rc = KITE_ECORRUPT;
            why = "store timestamp goes backwards";
        }
        if (rc > 0 && (int64_t)r.total_size + KITE_REC_BLANK_MIN > f->size - rel) {
            rc = KITE_ECORRUPT;
            why = "record leaves no room for the end-of-file filler";
        }
        if (rc <= 0) {
            if (pos < trusted) {
                snprintf(err, errlen,
                         "commit log corrupt before the checkpoint: file %s, offset %lld "
                         "(file position %lld): %s; durable data is damaged, refusing to start "
                         "(run kite-fsck)",
                         f->path, (long long)pos, (long long)rel, why ? why : "invalid record");
                kite_mfile_unref(f);
                return KITE_ECORRUPT;
            }
            if (!(rc == KITE_ECORRUPT && r.total_size == 0 && r.magic == 0))
                KLOG_WARN("store", "recovery: torn tail at offset %lld in %s: %s; truncating",
                          (long long)pos, f->path, why ? why : "invalid record");
            kite_mfile_unref(f);
            break;
        }
        kite_mfile_unref(f);
        prev_ts = r.store_ts;
        pos += rc;
        scanned += rc;
        if (scanned >= next_log) {
            int64_t ms = kite_mono_ms() - t0;
            KLOG_INFO("store", "recovery: scanned %lld MiB, at offset %lld (%lld MB/s)",
                      (long long)(scanned >> 20), (long long)pos,
                      ms > 0 ? (long long)(scanned / 1000 / ms) : 0LL);
            next_log += 1LL << 30;
        }
    }
    if (pos < trusted) {
        snprintf(err, errlen,
                 "commit log ends at %lld, before the checkpoint's durable end %lld "
                 "(files missing or short?)",
                 (long long)pos, (long long)trusted);
        return KITE_ECORRUPT;
    }
    *end = pos;
    *last_ts = prev_ts;
    int64_t ms = kite_mono_ms() - t0;
    KLOG_INFO("store", "recovery: validated %lld bytes in %lld ms, valid end %lld",
              (long long)scanned, (long long)ms, (long long)pos);
    return 0;
}

/* Sets file positions so that [.., end) is written and [.., durable) flushed. */
static void set_positions(kite_store *s, int64_t end, int64_t durable)
{
    pthread_rwlock_rdlock(&s->cl.lock);
    for (size_t i = 0; i < s->cl.n; i++) {
        kite_mfile *f = s->cl.files[i];
        int64_t w = end - f->start, d = durable - f->start;
        w = w < 0 ? 0 : w > f->size ? f->size : w;
        d = d < 0 ? 0 : d > w ? w : d;
        atomic_store(&f->wrote, w);
        atomic_store(&f->flushed, d);
    }
    pthread_rwlock_unlock(&s->cl.lock);
}

int kite_cl_recover(kite_store *s, int crashed, char *err, size_t errlen)
{
    int64_t min = kite_mfq_min_offset(&s->cl);
    kite_mfile *last = kite_mfq_last(&s->cl);
    int64_t trusted = s->ck.cl_flushed;
    if (!last) {
        if (trusted > 0) {
            snprintf(err, errlen,
                     "commit log directory %s is empty but the checkpoint says "
                     "%lld bytes were durable",
                     s->cl_dir, (long long)trusted);
            return KITE_ECORRUPT;
        }
        atomic_store(&s->max_offset, 0);
        atomic_store(&s->flushed, 0);
        return 0;
    }
    int64_t top = last->start + last->size;
    if (trusted < min) trusted = min;
    if (trusted > top) {
        snprintf(err, errlen,
                 "checkpoint durable end %lld is past the last commit log file "
                 "(%s ends at %lld)",
                 (long long)trusted, last->path, (long long)top);
        return KITE_ECORRUPT;
    }
    int64_t end = trusted, last_ts = 0;
    if (!crashed) {
        /* Clean shutdown: the checkpoint is the end. Sanity check that nothing valid
         * follows; if it does, fall back to crash recovery. */
        kite_mfile *f = kite_mfq_find(&s->cl, trusted);
        if (f) {
            kite_record r;
            int64_t rel = trusted - f->start;
            int rc = kite_record_decode(f->base + rel, (size_t)(f->size - rel), &r, 0, NULL);
            kite_mfile_unref(f);
            if (rc > 0 || rc == KITE_ENOTFOUND) {
                KLOG_WARN("store",
                          "clean shutdown marker but data follows offset %lld; "
                          "recovering as after a crash",
                          (long long)trusted);
                crashed = 1;
            }
        }
    }
    if (crashed) {
        /* Validate from the start of the file holding the durable end: any damage before
         * the checkpoint's offset is corruption, after it a torn tail. */
        int64_t from = trusted - (trusted - min) % s->cl.file_size;
        if (from == trusted && from > min && from == top) from -= s->cl.file_size;
        KLOG_INFO("store",
                  "recovery after a crash: scanning from %lld (checkpoint %lld, "
                  "last file ends at %lld)",
                  (long long)from, (long long)trusted, (long long)top);
        int rc = scan(s, from, trusted, &end, &last_ts, err, errlen);
        if (rc < 0) return rc;
    }
    set_positions(s, end, crashed ? s->ck.cl_flushed : end);
    int rc = kite_mfq_truncate(&s->cl, end);
    if (rc < 0) {
        snprintf(err, errlen, "truncating the commit log at %lld: %s", (long long)end,
                 kite_strerror(rc));
        return KITE_EIO;
    }
    atomic_store(&s->max_offset, end);
    atomic_store(&s->flushed, crashed ? (s->ck.cl_flushed < end ? s->ck.cl_flushed : end) : end);
    if (crashed) {
        /* Bytes found after a process crash may still be only in the page cache. */
        if (s->ck.cl_flushed < min) atomic_store(&s->flushed, min);
        rc = kite_cl_flush(s, end);
        if (rc < 0) {
            snprintf(err, errlen, "syncing the recovered commit log: %s", kite_strerror(rc));
            return KITE_EIO;
        }
    }
    s->last_store_ts = last_ts;
    atomic_store(&s->max_store_ts, last_ts);
    return 0;
}
