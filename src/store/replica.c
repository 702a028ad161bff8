/* replica.c - the store's side of replication: a master's commit-log bytes read by offset,
 * and a replica's log grown by appending the master's bytes at exactly their offsets.
 *
 * Owns: kite_store_read_raw (master), kite_store_append_raw / kite_store_raw_end /
 * kite_store_compare_raw (replica), kite_store_set_aside (a replica's files moved aside
 * before it starts again empty), and the record-boundary tracking that makes appended
 * records readable only once complete. Does not own: sockets or the wire protocol
 * (src/repl/), dispatch (dispatch.c builds the replica's queues and index as on a master).
 * Threads: reads from any thread; appends from one thread at a time, under the put lock
 * (a replica has no other writer: kite_store_put refuses). docs/store-format.md,
 * "Replication". */
#include "store/store_int.h"
#include "store/io.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int kite_store_read_raw(kite_store *s, int64_t offset, size_t max, kite_store_seg *seg)
{
    memset(seg, 0, sizeof *seg);
    if (offset < 0) return KITE_ENOTFOUND;
    int64_t end = atomic_load_explicit(&s->max_offset, memory_order_acquire);
    if (offset >= end) return KITE_EAGAIN;
    kite_mfile *f = kite_cl_file_at(s, offset);
    if (!f) return KITE_ENOTFOUND; /* below the oldest file (deleted) */
    int64_t rel = offset - f->start, n = end - offset;
    if (n > f->size - rel) n = f->size - rel;
    if (n > (int64_t)max) n = (int64_t)max;
    if (n > UINT32_MAX) n = UINT32_MAX;
    seg->data = f->base + rel;
    seg->len = (uint32_t)n;
    seg->phys_offset = offset;
    seg->queue_offset = -1;
    seg->fd = f->fd;
    seg->file_off = rel;
    seg->file = f;
    return KITE_OK;
}

int64_t kite_store_raw_end(kite_store *s)
{
    if (s->o.replica) return atomic_load_explicit(&s->raw_end, memory_order_acquire);
    return atomic_load_explicit(&s->max_offset, memory_order_acquire);
}

int kite_store_compare_raw(kite_store *s, int64_t offset, const void *data, size_t len,
                           int64_t *diff_at)
{
    const uint8_t *d = data;
    uint8_t buf[16384];
    while (len) {
        if (offset + (int64_t)len > kite_store_raw_end(s)) return KITE_ENOTFOUND;
        kite_mfile *f = kite_cl_file_at(s, offset);
        if (!f) return KITE_ENOTFOUND;
        int64_t rel = offset - f->start;
        size_t n = len < sizeof buf ? len : sizeof buf;
        if ((int64_t)n > f->size - rel) n = (size_t)(f->size - rel);
        ssize_t r = s->io->ops->pread(s->io, f->fd, buf, n, rel);
        kite_mfile_unref(f);
        if (r < 0) return (int)r;
        if ((size_t)r != n) return KITE_EIO;
        if (memcmp(buf, d, n) != 0) {
            size_t i = 0;
            while (buf[i] == d[i]) i++;
            *diff_at = offset + (int64_t)i;
            return 1;
        }
        offset += (int64_t)n;
        d += n;
        len -= n;
    }
    return 0;
}

/* Bytes [pos, pos + n) of the current file, taken from the chunk being appended (which
 * holds [at, at + len)) where it covers them, else from the file (bytes appended by an
 * earlier call). Under put_mu. 0 or a status. */
static int bytes_at(kite_store *s, kite_mfile *c, int64_t pos, uint8_t *out, size_t n,
                    const uint8_t *chunk, int64_t at, size_t len)
{
    size_t from_file = pos < at ? (size_t)(at - pos) : 0;
    if (from_file > n) from_file = n;
    if (from_file) {
        ssize_t r = s->io->ops->pread(s->io, c->fd, out, from_file, pos - c->start);
        if (r < 0) return (int)r;
        if ((size_t)r != from_file) return KITE_EIO;
    }
    if (n > from_file) {
        int64_t p = pos + (int64_t)from_file;
        if (p + (int64_t)(n - from_file) > at + (int64_t)len) return KITE_EINVAL;
        memcpy(out + from_file, chunk + (p - at), n - from_file);
    }
    return 0;
}

/* Walks the records that the chunk [at, at + len) of file c completes, from the current
 * record boundary (max_offset): each must be a record or the end-of-file filler that fits
 * where it stands. *end gets the new boundary (the end of the last complete record),
 * *last_ts the store time of the last complete record (unchanged when none). Under
 * put_mu, before the chunk is written. 0, KITE_EINVAL with err, or an I/O status. */
static int walk_records(kite_store *s, kite_mfile *c, const uint8_t *chunk, int64_t at, size_t len,
                        int64_t *end, int64_t *last_ts, char *err, size_t errlen)
{
    int64_t pos = atomic_load_explicit(&s->max_offset, memory_order_relaxed);
    int64_t fend = c->start + c->size, avail = at + (int64_t)len;
    uint8_t h[80];
    while (avail - pos >= 8) {
        int rc = bytes_at(s, c, pos, h, 8, chunk, at, len);
        if (rc < 0) return rc;
        uint32_t total = kite_rd_be32(h), magic = kite_rd_be32(h + 4);
        if (magic == KITE_REC_MAGIC_BLANK) {
            if ((int64_t)total != fend - pos) {
                snprintf(
                    err, errlen,
                    "the end-of-file filler at %lld covers %u bytes, but this "
                    "replica's file ends %lld bytes later (does mappedFileSizeCommitLog differ "
                    "from the master's?)",
                    (long long)pos, total, (long long)(fend - pos));
                return KITE_EINVAL;
            }
            if (avail < fend) break; /* the file's last bytes are still to come */
            pos = fend;
            break;
        }
        if (magic != KITE_REC_MAGIC_V1 && magic != KITE_REC_MAGIC_V2) {
            snprintf(err, errlen,
                     "no record starts at %lld (magic 0x%08x): the bytes received "
                     "do not continue this commit log",
                     (long long)pos, magic);
            return KITE_EINVAL;
        }
        if (total < KITE_REC_FIXED_V1 || pos + (int64_t)total + KITE_REC_BLANK_MIN > fend) {
            snprintf(err, errlen,
                     "the record at %lld claims %u bytes, which does not fit its file "
                     "(ends at %lld)",
                     (long long)pos, total, (long long)fend);
            return KITE_EINVAL;
        }
        if (avail - pos < (int64_t)total) break; /* not complete yet */
        rc = bytes_at(s, c, pos, h, sizeof h, chunk, at, len);
        if (rc < 0) return rc;
        int64_t phys = (int64_t)kite_rd_be64(h + 28);
        if (phys != pos) {
            snprintf(err, errlen,
                     "the record at %lld says it was stored at %lld: the bytes "
                     "received do not continue this commit log",
                     (long long)pos, (long long)phys);
            return KITE_EINVAL;
        }
        uint32_t sysflag = kite_rd_be32(h + 36);
        int born = sysflag & KITE_SYSFLAG_BORNHOST_V6 ? 20 : 8;
        *last_ts = (int64_t)kite_rd_be64(h + 48 + born);
        pos += total;
    }
    *end = pos;
    return 0;
}

/* Starts an empty replica's log with a file at start. Under put_mu. */
static int start_log(kite_store *s, int64_t start, char *err, size_t errlen)
{
    if (start < 0 || start % s->o.cl_file_size != 0) {
        snprintf(err, errlen,
                 "cannot start the commit log at %lld: not a multiple of "
                 "mappedFileSizeCommitLog (%lld)",
                 (long long)start, (long long)s->o.cl_file_size);
        return KITE_EINVAL;
    }
    kite_mfile *nf = NULL;
    int rc = kite_warm_next_file(s, start, &nf);
    if (rc < 0) {
        snprintf(err, errlen, "creating commit log file at %lld: %s", (long long)start,
                 kite_strerror(rc));
        return rc;
    }
    s->cur = nf;
    atomic_store(&s->max_offset, start);
    atomic_store(&s->raw_end, start);
    pthread_mutex_lock(&s->flush_mu); /* nothing was durable below start: nothing is there */
    atomic_store(&s->flushed, start);
    pthread_mutex_unlock(&s->flush_mu);
    KLOG_INFO("store", "replica: commit log starts at %lld", (long long)start);
    return 0;
}

/* Appends one chunk that lies within the current file. Under put_mu. */
static int append_chunk(kite_store *s, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    kite_mfile *c = s->cur;
    int64_t w = atomic_load_explicit(&c->wrote, memory_order_relaxed), at = c->start + w;
    int64_t end = 0, last_ts = -1;
    int rc = walk_records(s, c, p, at, n, &end, &last_ts, err, errlen);
    if (rc < 0) return rc;
    ssize_t wr = s->io->ops->pwrite(s->io, c->fd, p, n, w);
    if (wr < 0 || (size_t)wr != n) {
        rc = wr < 0 ? (int)wr : KITE_EIO;
        int expected = 0;
        atomic_compare_exchange_strong(&s->failed, &expected, rc);
        snprintf(err, errlen, "writing %zu replicated bytes to %s at %lld: %s; the store stops", n,
                 c->path, (long long)w, kite_strerror(rc));
        return rc;
    }
    atomic_store_explicit(&c->wrote, w + (int64_t)n, memory_order_release);
    atomic_store_explicit(&s->raw_end, at + (int64_t)n, memory_order_release);
    if (last_ts >= 0) {
        if (last_ts > s->last_store_ts) s->last_store_ts = last_ts;
        atomic_store_explicit(&s->max_store_ts, s->last_store_ts, memory_order_relaxed);
    }
    atomic_store_explicit(&s->max_offset, end, memory_order_release);
    return 0;
}

int kite_store_append_raw(kite_store *s, int64_t offset, const void *data, size_t len, char *err,
                          size_t errlen)
{
    if (!s->o.replica) {
        snprintf(err, errlen, "the store is not a replica");
        return KITE_EINVAL;
    }
    const uint8_t *p = data;
    int rc = 0;
    pthread_mutex_lock(&s->put_mu);
    if (atomic_load(&s->stop) || atomic_load(&s->failed)) {
        snprintf(err, errlen, "the store is closing or stopped after a failure");
        rc = KITE_ESTOPPED;
    } else if (!s->cur) {
        rc = start_log(s, offset, err, errlen);
    } else if (offset != atomic_load(&s->raw_end)) {
        snprintf(err, errlen,
                 "bytes for offset %lld do not continue this commit log, which ends at "
                 "%lld",
                 (long long)offset, (long long)atomic_load(&s->raw_end));
        rc = KITE_EINVAL;
    }
    while (rc == 0 && len) {
        kite_mfile *c = s->cur;
        int64_t w = atomic_load_explicit(&c->wrote, memory_order_relaxed);
        if (w == c->size) { /* this file is full: its filler closed it (walk_records) */
            kite_mfile *nf = NULL;
            rc = kite_warm_next_file(s, c->start + c->size, &nf);
            if (rc < 0) {
                snprintf(err, errlen, "creating commit log file at %lld: %s",
                         (long long)(c->start + c->size), kite_strerror(rc));
                break;
            }
            s->cur = nf;
            continue;
        }
        size_t n = len;
        if ((int64_t)n > c->size - w) n = (size_t)(c->size - w);
        rc = append_chunk(s, p, n, err, errlen);
        p += n;
        len -= n;
    }
    pthread_mutex_unlock(&s->put_mu);
    if (rc == 0) {
        kite_dispatch_wake(s);
        if (s->o.flush_type == KITE_FLUSH_SYNC) pthread_cond_signal(&s->fcond);
    }
    return rc;
}

int kite_store_set_aside(const char *root, const char *cl_dir, char *out, size_t cap, char *err,
                         size_t errlen)
{
    kite_io *io = kite_io_posix();
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    struct stat st;
    int free_name = 0;
    for (int i = 1; i <= 100 && !free_name; i++) {
        if (i == 1)
            snprintf(out, cap, "%s/aside-%s", root, stamp);
        else
            snprintf(out, cap, "%s/aside-%s-%d", root, stamp, i);
        free_name = stat(out, &st) != 0 && errno == ENOENT;
    }
    int rc = free_name ? io->ops->mkdir(io, out) : KITE_EIO;
    if (rc != 0) {
        snprintf(err, errlen, "creating %s: %s", out,
                 free_name ? kite_strerror(rc) : "no free name");
        return rc;
    }
    const char *names[] = { "commitlog", "consumequeue", "index", "checkpoint", "abort" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char from[1200], to[1200];
        if (i == 0 && cl_dir && *cl_dir)
            snprintf(from, sizeof from, "%s", cl_dir);
        else
            snprintf(from, sizeof from, "%s/%s", root, names[i]);
        snprintf(to, sizeof to, "%s/%s", out, names[i]);
        if (stat(from, &st) != 0) continue; /* not there (no index, a clean close's abort) */
        if ((rc = io->ops->rename(io, from, to)) != 0) {
            snprintf(err, errlen, "moving %s to %s: %s", from, to, kite_strerror(rc));
            return rc;
        }
    }
    if ((rc = io->ops->sync_dir(io, out)) != 0 || (rc = io->ops->sync_dir(io, root)) != 0) {
        snprintf(err, errlen, "syncing %s: %s", out, kite_strerror(rc));
        return rc;
    }
    KLOG_WARN("store", "replica: commit log, consume queues, index and checkpoint moved to %s",
              out);
    return KITE_OK;
}
