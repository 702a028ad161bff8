/* io_fault.c - the fault-injecting implementation of the store's I/O seam (tests).
 *
 * Owns: per-file volatile images ("page cache"), the mapping of fds and mapped addresses
 * to them, injected-error rules, sync delays, the sync-disabled control mode, power cuts.
 * Does not own: the durable bytes - those are the real files under the test directory.
 * Threads: all bookkeeping is under one mutex; the store writes into mapped images
 * without it, exactly as it writes into real mappings. The model is described in io.h
 * and docs/store-format.md ("The I/O seam"). */
#include "store/io.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct shadow {
    char *path;       /* NULL once unlinked */
    uint8_t *mem;     /* anonymous mapping of cap bytes, page-aligned */
    size_t cap, size; /* capacity and file size */
    int nfd, nmap;
    int unsynced_create;          /* created since its directory was last fsynced */
    int64_t poison_lo, poison_hi; /* bytes a failed sync dropped: never made durable */
    struct shadow *next;
} shadow;

typedef struct fdent {
    int fd;
    shadow *sh;
} fdent;
typedef struct mapent {
    uint8_t *addr;
    size_t len;
    shadow *sh;
} mapent;

typedef struct rule {
    int active;
    long after;
    int err;
    long count;
} rule;

typedef struct fault_io {
    kite_io base;
    pthread_mutex_t mu;
    shadow *list;
    fdent *fds;
    size_t nfds, capfds;
    mapent *maps;
    size_t nmaps, capmaps;
    rule rules[KITE_IO_OP_COUNT];
    long calls[KITE_IO_OP_COUNT];
    int sync_delay_ms;
    int sync_disabled;
    int cut;
    int usage_set; /* fs_usage answers used/total below (retention tests) */
    uint64_t usage_used, usage_total;
} fault_io;

static fault_io *F(kite_io *io) { return (fault_io *)io; }

/* Counts a call and applies the rule for op; returns 0 or the injected kite_status.
 * Caller holds mu. */
static int check(fault_io *f, kite_io_op op)
{
    f->calls[op]++;
    if (f->cut) return KITE_EIO;
    rule *r = &f->rules[op];
    if (!r->active) return 0;
    if (r->after > 0) {
        r->after--;
        return 0;
    }
    if (r->count == 0) return 0;
    if (r->count > 0) r->count--;
    return kite_status_from_errno(r->err);
}

static shadow *find_path(fault_io *f, const char *path)
{
    for (shadow *s = f->list; s; s = s->next)
        if (s->path && strcmp(s->path, path) == 0) return s;
    return NULL;
}

static shadow *find_fd(fault_io *f, int fd)
{
    for (size_t i = 0; i < f->nfds; i++)
        if (f->fds[i].fd == fd) return f->fds[i].sh;
    return NULL;
}

static int grow(shadow *s, size_t size)
{
    if (size <= s->cap) {
        if (size > s->size) memset(s->mem + s->size, 0, size - s->size);
        s->size = size;
        return 0;
    }
    if (s->nmap > 0) return KITE_EINVAL; /* would move a live mapping; the store never does it */
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t cap = (size + pg - 1) / pg * pg;
    uint8_t *m = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return kite_status_from_errno(errno);
    if (s->mem) {
        memcpy(m, s->mem, s->size);
        munmap(s->mem, s->cap);
    }
    memset(m + s->size, 0, cap - s->size);
    s->mem = m;
    s->cap = cap;
    s->size = size;
    return 0;
}

static void free_shadow(fault_io *f, shadow *s)
{
    for (shadow **pp = &f->list; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (s->mem) munmap(s->mem, s->cap);
    free(s->path);
    free(s);
}

static void maybe_free(fault_io *f, shadow *s)
{
    if (!s->path && s->nfd == 0 && s->nmap == 0) free_shadow(f, s);
}

static int fo_open(kite_io *io, const char *path, int flags, int mode)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_OPEN);
    if (rc < 0) goto out;
    struct stat st;
    int existed = stat(path, &st) == 0;
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = kite_status_from_errno(errno);
        goto out;
    }
    shadow *s = find_path(f, path);
    if (!s) {
        s = kite_xcalloc(1, sizeof *s);
        s->path = kite_xstrdup(path);
        s->unsynced_create = !existed;
        s->next = f->list;
        f->list = s;
        struct stat fs;
        fstat(fd, &fs);
        if (fs.st_size > 0) {
            grow(s, (size_t)fs.st_size);
            size_t done = 0;
            while (done < s->size) {
                ssize_t n = pread(fd, s->mem + done, s->size - done, (off_t)done);
                if (n <= 0) break;
                done += (size_t)n;
            }
        }
    }
    if (flags & O_TRUNC) s->size = 0; /* the real open truncated the durable file too */
    f->fds = kite_xgrow(f->fds, &f->capfds, f->nfds + 1, sizeof *f->fds, 16);
    f->fds[f->nfds++] = (fdent){ fd, s };
    s->nfd++;
    rc = fd;
out:
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_close(kite_io *io, int fd)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nfds; i++) {
        if (f->fds[i].fd == fd) {
            shadow *s = f->fds[i].sh;
            f->fds[i] = f->fds[--f->nfds];
            s->nfd--;
            maybe_free(f, s);
            break;
        }
    }
    close(fd);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static int fo_allocate(kite_io *io, int fd, int64_t len)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_ALLOCATE);
    shadow *s = find_fd(f, fd);
    if (rc == 0 && !s) rc = KITE_EINVAL;
    if (rc == 0) {
        rc = kite_status_from_errno(posix_fallocate(fd, 0, (off_t)len));
    }
    if (rc == 0 && (size_t)len > s->size) rc = grow(s, (size_t)len);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_truncate(kite_io *io, int fd, int64_t len)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_ALLOCATE);
    shadow *s = find_fd(f, fd);
    if (rc == 0 && !s) rc = KITE_EINVAL;
    if (rc == 0 && ftruncate(fd, (off_t)len) != 0) rc = kite_status_from_errno(errno);
    if (rc == 0) {
        if ((size_t)len > s->size)
            rc = grow(s, (size_t)len);
        else
            s->size = (size_t)len;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int64_t fo_size(kite_io *io, int fd)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    shadow *s = find_fd(f, fd);
    int64_t rc = f->cut ? KITE_EIO : s ? (int64_t)s->size : KITE_EINVAL;
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_map(kite_io *io, int fd, size_t len, void **addr)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_MAP);
    shadow *s = find_fd(f, fd);
    if (rc == 0 && !s) rc = KITE_EINVAL;
    if (rc == 0 && len > s->size) rc = KITE_EINVAL; /* the store maps only allocated files */
    if (rc == 0) {
        f->maps = kite_xgrow(f->maps, &f->capmaps, f->nmaps + 1, sizeof *f->maps, 16);
        f->maps[f->nmaps++] = (mapent){ s->mem, len, s };
        s->nmap++;
        *addr = s->mem;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_unmap(kite_io *io, void *addr, size_t len)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nmaps; i++) {
        if (f->maps[i].addr == addr && f->maps[i].len == len) {
            shadow *s = f->maps[i].sh;
            f->maps[i] = f->maps[--f->nmaps];
            s->nmap--;
            maybe_free(f, s);
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static ssize_t fo_pwrite(kite_io *io, int fd, const void *buf, size_t len, int64_t off)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    ssize_t rc = check(f, KITE_IO_WRITE);
    shadow *s = find_fd(f, fd);
    if (rc == 0 && !s) rc = KITE_EINVAL;
    if (rc == 0 && (size_t)off + len > s->size) rc = grow(s, (size_t)off + len);
    if (rc == 0) {
        memcpy(s->mem + off, buf, len);
        rc = (ssize_t)len;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static ssize_t fo_pread(kite_io *io, int fd, void *buf, size_t len, int64_t off)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    ssize_t rc = check(f, KITE_IO_READ);
    shadow *s = find_fd(f, fd);
    if (rc == 0 && !s) rc = KITE_EINVAL;
    if (rc == 0) {
        size_t n = (size_t)off >= s->size ? 0 : s->size - (size_t)off;
        if (n > len) n = len;
        memcpy(buf, s->mem + off, n);
        rc = (ssize_t)n;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_zero_range(kite_io *io, int fd, int64_t off, int64_t len)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_WRITE);
    shadow *s = find_fd(f, fd);
    if (rc == 0 && !s) rc = KITE_EINVAL;
    if (rc == 0 && (size_t)(off + len) > s->size) rc = grow(s, (size_t)(off + len));
    if (rc == 0) memset(s->mem + off, 0, (size_t)len);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* Copies [lo, hi) of the volatile image into the durable file, skipping poison. */
static int make_durable(shadow *s, size_t lo, size_t hi)
{
    if (!s->path) return 0; /* unlinked: nothing durable to update */
    int fd = open(s->path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return kite_status_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size < s->size && ftruncate(fd, (off_t)s->size) != 0) {
        int e = errno;
        close(fd);
        return kite_status_from_errno(e);
    }
    if (hi > s->size) hi = s->size;
    for (size_t p = lo; p < hi;) {
        size_t e = hi;
        if (s->poison_hi > s->poison_lo) {
            if ((int64_t)p >= s->poison_lo && (int64_t)p < s->poison_hi) {
                p = (size_t)s->poison_hi;
                continue;
            }
            if ((int64_t)p < s->poison_lo && (int64_t)e > s->poison_lo) e = (size_t)s->poison_lo;
        }
        ssize_t n = pwrite(fd, s->mem + p, e - p, (off_t)p);
        if (n <= 0) {
            close(fd);
            return KITE_EIO;
        }
        p += (size_t)n;
    }
    close(fd);
    return 0;
}

static void poison(shadow *s, size_t lo, size_t hi)
{
    if (s->poison_hi <= s->poison_lo) {
        s->poison_lo = (int64_t)lo;
        s->poison_hi = (int64_t)hi;
        return;
    }
    if ((int64_t)lo < s->poison_lo) s->poison_lo = (int64_t)lo;
    if ((int64_t)hi > s->poison_hi) s->poison_hi = (int64_t)hi;
}

static int do_sync(fault_io *f, shadow *s, size_t lo, size_t hi)
{
    int delay = f->sync_delay_ms;
    if (delay > 0) kite_sleep_ms(delay); /* outside the lock: other syncs may overlap */
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_SYNC);
    if (rc < 0 && !f->cut) poison(s, lo, hi);
    if (rc == 0 && !f->sync_disabled) rc = make_durable(s, lo, hi);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_datasync(kite_io *io, int fd)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    shadow *s = find_fd(f, fd);
    size_t size = s ? s->size : 0;
    pthread_mutex_unlock(&f->mu);
    if (!s) return KITE_EINVAL;
    return do_sync(f, s, 0, size);
}

static int fo_msync(kite_io *io, void *addr, size_t len)
{
    fault_io *f = F(io);
    uint8_t *a = addr;
    pthread_mutex_lock(&f->mu);
    shadow *s = NULL;
    size_t off = 0;
    for (size_t i = 0; i < f->nmaps; i++) {
        mapent *m = &f->maps[i];
        if (a >= m->addr && a + len <= m->addr + m->len) {
            s = m->sh;
            off = (size_t)(a - m->addr);
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (!s) return KITE_EINVAL;
    return do_sync(f, s, off, off + len);
}

static void dir_of(const char *path, char *out, size_t cap)
{
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(out, cap, ".");
        return;
    }
    n = (size_t)(slash - path);
    if (n >= cap) n = cap - 1;
    memcpy(out, path, n);
    out[n] = 0;
}

static int fo_sync_dir(kite_io *io, const char *dir)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_SYNCDIR);
    if (rc == 0 && !f->sync_disabled) {
        char d[4096];
        for (shadow *s = f->list; s; s = s->next) {
            if (!s->path) continue;
            dir_of(s->path, d, sizeof d);
            if (strcmp(d, dir) == 0) s->unsynced_create = 0;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_rename(kite_io *io, const char *from, const char *to)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_NAMEOP);
    if (rc == 0 && rename(from, to) != 0) rc = kite_status_from_errno(errno);
    if (rc == 0) {
        shadow *old = find_path(f, to);
        if (old) {
            free(old->path);
            old->path = NULL;
            maybe_free(f, old);
        }
        shadow *s = find_path(f, from);
        if (s) {
            free(s->path);
            s->path = kite_xstrdup(to);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_unlink(kite_io *io, const char *path)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_NAMEOP);
    if (rc == 0 && unlink(path) != 0) rc = kite_status_from_errno(errno);
    if (rc == 0) {
        shadow *s = find_path(f, path);
        if (s) {
            free(s->path);
            s->path = NULL;
            maybe_free(f, s);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fo_mkdir(kite_io *io, const char *path)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = check(f, KITE_IO_NAMEOP);
    pthread_mutex_unlock(&f->mu);
    if (rc < 0) return rc;
    return kite_io_posix()->ops->mkdir(kite_io_posix(), path);
}

static int fo_list_dir(kite_io *io, const char *dir, kite_io_dir_cb cb, void *arg)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int rc = f->cut ? KITE_EIO : 0;
    pthread_mutex_unlock(&f->mu);
    if (rc < 0) return rc;
    return kite_io_posix()->ops->list_dir(kite_io_posix(), dir, cb, arg);
}

static int fo_fs_usage(kite_io *io, const char *path, uint64_t *used, uint64_t *total)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    int set = f->usage_set;
    *used = f->usage_used;
    *total = f->usage_total;
    pthread_mutex_unlock(&f->mu);
    if (set) return 0;
    return kite_io_posix()->ops->fs_usage(kite_io_posix(), path, used, total);
}

void kite_io_fault_set_fs_usage(kite_io *io, uint64_t used, uint64_t total)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    f->usage_set = total > 0;
    f->usage_used = used;
    f->usage_total = total;
    pthread_mutex_unlock(&f->mu);
}

static void fo_destroy(kite_io *io) { kite_io_fault_free(io); }

static const kite_io_ops fault_ops = {
    fo_open,   fo_close, fo_allocate,   fo_truncate, fo_size,    fo_map,      fo_unmap,
    fo_pwrite, fo_pread, fo_zero_range, fo_datasync, fo_msync,   fo_sync_dir, fo_rename,
    fo_unlink, fo_mkdir, fo_list_dir,   fo_fs_usage, fo_destroy,
};

kite_io *kite_io_fault_new(void)
{
    fault_io *f = kite_xcalloc(1, sizeof *f);
    f->base.ops = &fault_ops;
    pthread_mutex_init(&f->mu, NULL);
    return &f->base;
}

void kite_io_fault_free(kite_io *io)
{
    if (!io) return;
    fault_io *f = F(io);
    while (f->list) free_shadow(f, f->list);
    for (size_t i = 0; i < f->nfds; i++) close(f->fds[i].fd);
    free(f->fds);
    free(f->maps);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void kite_io_fault_inject(kite_io *io, kite_io_op op, long after, int err, long count)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    f->rules[op] = (rule){ 1, after, err, count };
    pthread_mutex_unlock(&f->mu);
}

void kite_io_fault_clear(kite_io *io)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    memset(f->rules, 0, sizeof f->rules);
    f->sync_delay_ms = 0;
    pthread_mutex_unlock(&f->mu);
}

long kite_io_fault_calls(kite_io *io, kite_io_op op)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    long n = f->calls[op];
    pthread_mutex_unlock(&f->mu);
    return n;
}

void kite_io_fault_set_sync_delay_ms(kite_io *io, int ms)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    f->sync_delay_ms = ms;
    pthread_mutex_unlock(&f->mu);
}

void kite_io_fault_set_sync_disabled(kite_io *io, int disabled)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    f->sync_disabled = disabled;
    pthread_mutex_unlock(&f->mu);
}

void kite_io_fault_power_cut(kite_io *io)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    f->cut = 1;
    pthread_mutex_unlock(&f->mu);
}

void kite_io_fault_restart(kite_io *io)
{
    fault_io *f = F(io);
    pthread_mutex_lock(&f->mu);
    shadow *s = f->list;
    while (s) {
        shadow *next = s->next;
        if (s->nfd || s->nmap) {
            KLOG_WARN("io-fault", "restart with %s still open (%d fds, %d maps)",
                      s->path ? s->path : "(unlinked)", s->nfd, s->nmap);
        } else {
            if (s->path && s->unsynced_create) unlink(s->path);
            free_shadow(f, s);
        }
        s = next;
    }
    memset(f->rules, 0, sizeof f->rules);
    f->sync_delay_ms = 0;
    f->cut = 0;
    pthread_mutex_unlock(&f->mu);
}
