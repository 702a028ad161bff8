/* mfile.c - mapped files and mapped-file queues (see mfile.h for ownership/threads). */
#include "store/mfile.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096

void kite_mfile_ref(kite_mfile *f) { atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed); }

void kite_mfile_unref(kite_mfile *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
    if (f->base) f->io->ops->unmap(f->io, f->base, (size_t)f->size);
    if (f->fd >= 0) f->io->ops->close(f->io, f->fd);
    if (atomic_load(&f->unlink_on_free)) {
        int rc = f->io->ops->unlink(f->io, f->path);
        if (rc < 0 && rc != KITE_ENOTFOUND)
            KLOG_WARN("store", "unlink %s: %s", f->path, kite_strerror(rc));
    }
    free(f->path);
    free(f);
}

int kite_mfile_flush(kite_mfile *f, int64_t upto)
{
    int64_t from = atomic_load_explicit(&f->flushed, memory_order_acquire);
    if (upto > f->size) upto = f->size;
    if (upto <= from) return 0;
    int64_t a = from / PAGE * PAGE;
    int rc = f->io->ops->msync(f->io, f->base + a, (size_t)(upto - a));
    if (rc < 0) return rc;
    atomic_store_explicit(&f->flushed, upto, memory_order_release);
    return 0;
}

void kite_mfq_name(int64_t start, char out[21]) { snprintf(out, 21, "%020lld", (long long)start); }

void kite_mfq_init(kite_mfq *q, kite_io *io, const char *dir, int64_t file_size)
{
    memset(q, 0, sizeof *q);
    q->io = io;
    q->dir = kite_xstrdup(dir);
    q->file_size = file_size;
    pthread_rwlock_init(&q->lock, NULL);
}

void kite_mfq_destroy(kite_mfq *q)
{
    for (size_t i = 0; i < q->n; i++) kite_mfile_unref(q->files[i]);
    free(q->files);
    free(q->dir);
    pthread_rwlock_destroy(&q->lock);
    memset(q, 0, sizeof *q);
}

kite_mfile *kite_mfile_open(kite_io *io, const char *path, int64_t start, int64_t size, int create,
                            int *err)
{
    int fd = io->ops->open(io, path, O_RDWR | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (fd < 0) {
        *err = fd;
        return NULL;
    }
    kite_mfile *f = kite_xcalloc(1, sizeof *f);
    f->path = kite_xstrdup(path);
    f->start = start;
    f->size = size;
    f->fd = fd;
    f->io = io;
    atomic_init(&f->refs, 1);
    int rc = 0;
    int64_t sz = io->ops->size(io, fd);
    if (sz < 0)
        rc = (int)sz;
    else if (create || sz < size)
        rc = io->ops->allocate(io, fd, size);
    if (rc == 0) {
        void *base = NULL;
        rc = io->ops->map(io, fd, (size_t)size, &base);
        f->base = base;
    }
    if (rc < 0) {
        *err = rc;
        io->ops->close(io, fd);
        if (create) io->ops->unlink(io, path);
        free(f->path);
        free(f);
        return NULL;
    }
    return f;
}

static kite_mfile *open_file(kite_mfq *q, int64_t start, int create, int *err)
{
    char name[21], path[4096];
    kite_mfq_name(start, name);
    snprintf(path, sizeof path, "%s/%s", q->dir, name);
    return kite_mfile_open(q->io, path, start, q->file_size, create, err);
}

static void push_file(kite_mfq *q, kite_mfile *f)
{
    pthread_rwlock_wrlock(&q->lock);
    q->files = kite_xgrow(q->files, &q->cap, q->n + 1, sizeof *q->files, 8);
    q->files[q->n++] = f;
    pthread_rwlock_unlock(&q->lock);
}

typedef struct name_list {
    int64_t *v;
    size_t n, cap;
    const char *dir;
} name_list;

static int collect(void *arg, const char *name, int is_dir)
{
    name_list *l = arg;
    if (is_dir) return 0;
    size_t len = strlen(name);
    int ok = len == 20;
    for (size_t i = 0; ok && i < len; i++) ok = name[i] >= '0' && name[i] <= '9';
    if (!ok) {
        if (!(len > 4 && strcmp(name + len - 4, ".tmp") == 0))
            KLOG_WARN("store", "ignoring %s/%s: not a 20-digit file name", l->dir, name);
        return 0;
    }
    l->v = kite_xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v, 16);
    l->v[l->n++] = strtoll(name, NULL, 10);
    return 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int kite_mfq_load(kite_mfq *q, int *last_short_ok, char *err, size_t errlen)
{
    name_list l = { NULL, 0, 0, q->dir };
    int rc = q->io->ops->list_dir(q->io, q->dir, collect, &l);
    if (rc == KITE_ENOTFOUND) return 0;
    if (rc < 0) {
        snprintf(err, errlen, "cannot list %s: %s", q->dir, kite_strerror(rc));
        return KITE_EIO;
    }
    q->dir_made = 1;
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp64);
    int allow_short = last_short_ok && *last_short_ok;
    if (last_short_ok) *last_short_ok = 0;
    for (size_t i = 0; i < l.n; i++) {
        int64_t start = l.v[i];
        char name[21];
        kite_mfq_name(start, name);
        if (start % q->file_size != 0 || (i > 0 && start != l.v[i - 1] + q->file_size)) {
            snprintf(err, errlen, "%s/%s: file does not follow the previous one (size %lld)",
                     q->dir, name, (long long)q->file_size);
            free(l.v);
            return KITE_ECORRUPT;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", q->dir, name);
        int fd = q->io->ops->open(q->io, path, O_RDONLY, 0);
        int64_t sz = fd >= 0 ? q->io->ops->size(q->io, fd) : fd;
        if (fd >= 0) q->io->ops->close(q->io, fd);
        if (sz < 0) {
            snprintf(err, errlen, "%s: %s", path, kite_strerror((int)sz));
            free(l.v);
            return KITE_EIO;
        }
        if (sz != q->file_size) {
            if (!(allow_short && i == l.n - 1 && sz < q->file_size)) {
                snprintf(err, errlen, "%s: size %lld, expected %lld", path, (long long)sz,
                         (long long)q->file_size);
                free(l.v);
                return KITE_ECORRUPT;
            }
            KLOG_WARN("store", "%s: short file (%lld of %lld bytes) after a crash; extending", path,
                      (long long)sz, (long long)q->file_size);
            *last_short_ok = 2;
        }
        int e = 0;
        kite_mfile *f = open_file(q, start, 0, &e);
        if (!f) {
            snprintf(err, errlen, "%s: cannot open/map: %s", path, kite_strerror(e));
            free(l.v);
            return e == KITE_ENOSPC ? KITE_ENOSPC : KITE_EIO;
        }
        /* Loaded files count as written and durable in full until recovery says otherwise. */
        atomic_store(&f->wrote, q->file_size);
        atomic_store(&f->flushed, q->file_size);
        push_file(q, f);
    }
    free(l.v);
    return 0;
}

kite_mfile *kite_mfq_last(kite_mfq *q)
{
    pthread_rwlock_rdlock(&q->lock);
    kite_mfile *f = q->n ? q->files[q->n - 1] : NULL;
    pthread_rwlock_unlock(&q->lock);
    return f;
}

kite_mfile *kite_mfq_find(kite_mfq *q, int64_t offset)
{
    kite_mfile *f = NULL;
    pthread_rwlock_rdlock(&q->lock);
    if (q->n && offset >= q->files[0]->start) {
        size_t i = (size_t)((offset - q->files[0]->start) / q->file_size);
        if (i < q->n) {
            f = q->files[i];
            kite_mfile_ref(f);
        }
    }
    pthread_rwlock_unlock(&q->lock);
    return f;
}

int kite_mfq_precreate(kite_mfq *q, int64_t start, kite_mfile **out)
{
    if (!q->dir_made) {
        int rc = kite_io_mkdirs(q->io, q->dir);
        if (rc < 0) return rc;
        q->dir_made = 1;
    }
    int e = 0;
    kite_mfile *f = open_file(q, start, 1, &e);
    if (!f) return e;
    int rc = q->io->ops->sync_dir(q->io, q->dir);
    if (rc < 0) {
        atomic_store(&f->unlink_on_free, 1);
        kite_mfile_unref(f);
        return rc;
    }
    *out = f;
    return 0;
}

void kite_mfq_push(kite_mfq *q, kite_mfile *f) { push_file(q, f); }

int kite_mfq_create(kite_mfq *q, int64_t start, kite_mfile **out)
{
    kite_mfile *f = NULL;
    int rc = kite_mfq_precreate(q, start, &f);
    if (rc == 0) {
        kite_mfq_push(q, f);
        *out = f;
    }
    return rc;
}

int kite_mfq_truncate(kite_mfq *q, int64_t end)
{
    int removed = 0;
    pthread_rwlock_wrlock(&q->lock);
    while (q->n && q->files[q->n - 1]->start >= end) {
        kite_mfile *f = q->files[--q->n];
        atomic_store(&f->unlink_on_free, 1);
        kite_mfile_unref(f);
        removed = 1;
    }
    kite_mfile *last = q->n ? q->files[q->n - 1] : NULL;
    pthread_rwlock_unlock(&q->lock);
    int rc = 0;
    if (removed) rc = q->io->ops->sync_dir(q->io, q->dir);
    if (last && end >= last->start && end <= last->start + last->size) {
        int64_t rel = end - last->start;
        if (rel < last->size) {
            int zr = q->io->ops->zero_range(q->io, last->fd, rel, last->size - rel);
            if (zr == 0) zr = q->io->ops->datasync(q->io, last->fd);
            if (zr < 0 && rc == 0) rc = zr;
        }
        atomic_store(&last->wrote, rel);
        if (atomic_load(&last->flushed) > rel) atomic_store(&last->flushed, rel);
    }
    return rc;
}

int64_t kite_mfq_min_offset(kite_mfq *q)
{
    pthread_rwlock_rdlock(&q->lock);
    int64_t v = q->n ? q->files[0]->start : -1;
    pthread_rwlock_unlock(&q->lock);
    return v;
}

size_t kite_mfq_count(kite_mfq *q)
{
    pthread_rwlock_rdlock(&q->lock);
    size_t n = q->n;
    pthread_rwlock_unlock(&q->lock);
    return n;
}

int kite_mfq_delete_first(kite_mfq *q)
{
    pthread_rwlock_wrlock(&q->lock);
    if (!q->n) {
        pthread_rwlock_unlock(&q->lock);
        return KITE_ENOTFOUND;
    }
    kite_mfile *f = q->files[0];
    memmove(q->files, q->files + 1, (q->n - 1) * sizeof *q->files);
    q->n--;
    pthread_rwlock_unlock(&q->lock);
    atomic_store(&f->unlink_on_free, 1);
    kite_mfile_unref(f);
    return 0;
}
