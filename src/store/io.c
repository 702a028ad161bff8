/* io.c - the real POSIX implementation of the store's I/O seam, and helpers built on
 * the seam (mkdir -p, atomic file replace, read whole file).
 * Owns: nothing but the thin system-call wrappers. Does not own: fault injection
 * (io_fault.c). Threads: stateless, callable from any thread. See io.h. */
#include "store/io.h"
#include "base/err.h"
#include "base/mem.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The status of the failed system call op on what (a path, or "" for an fd). */
static int st_of(int e, const char *op, const char *what)
{
    return kite_status_from_errno_at(e ? e : EIO, op, what);
}
static int fail(const char *op, const char *what) { return st_of(errno, op, what); }

static int px_open(kite_io *io, const char *path, int flags, int mode)
{
    (void)io;
    int fd;
    do {
        fd = open(path, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? fail("open", path) : fd;
}

static int px_close(kite_io *io, int fd)
{
    (void)io;
    return close(fd) == 0 ? 0 : fail("close", "");
}

static int px_allocate(kite_io *io, int fd, int64_t len)
{
    (void)io;
    int rc = posix_fallocate(fd, 0, (off_t)len);
    return rc == 0 ? 0 : st_of(rc, "fallocate", "");
}

static int px_truncate(kite_io *io, int fd, int64_t len)
{
    (void)io;
    return ftruncate(fd, (off_t)len) == 0 ? 0 : fail("ftruncate", "");
}

static int64_t px_size(kite_io *io, int fd)
{
    (void)io;
    struct stat st;
    return fstat(fd, &st) == 0 ? (int64_t)st.st_size : fail("fstat", "");
}

static int px_map(kite_io *io, int fd, size_t len, void **addr)
{
    (void)io;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return fail("mmap", "");
    *addr = p;
    return 0;
}

static int px_unmap(kite_io *io, void *addr, size_t len)
{
    (void)io;
    return munmap(addr, len) == 0 ? 0 : fail("munmap", "");
}

static ssize_t px_pwrite(kite_io *io, int fd, const void *buf, size_t len, int64_t off)
{
    (void)io;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + (int64_t)done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("pwrite", "");
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static ssize_t px_pread(kite_io *io, int fd, void *buf, size_t len, int64_t off)
{
    (void)io;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + (int64_t)done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("pread", "");
        }
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int px_zero_range(kite_io *io, int fd, int64_t off, int64_t len)
{
    if (len <= 0) return 0;
    if (fallocate(fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) == 0) return 0;
    static const char zeros[65536];
    while (len > 0) {
        size_t n = len > (int64_t)sizeof zeros ? sizeof zeros : (size_t)len;
        ssize_t w = px_pwrite(io, fd, zeros, n, off);
        if (w < 0) return (int)w;
        off += (int64_t)n;
        len -= (int64_t)n;
    }
    return 0;
}

static int px_datasync(kite_io *io, int fd)
{
    (void)io;
    return fdatasync(fd) == 0 ? 0 : fail("fdatasync", "");
}

static int px_msync(kite_io *io, void *addr, size_t len)
{
    (void)io;
    if (len == 0) return 0;
    return msync(addr, len, MS_SYNC) == 0 ? 0 : fail("msync", "");
}

static int px_sync_dir(kite_io *io, const char *dir)
{
    (void)io;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail("open", dir);
    int rc = fsync(fd) == 0 ? 0 : fail("fsync", dir);
    close(fd);
    return rc;
}

static int px_rename(kite_io *io, const char *from, const char *to)
{
    (void)io;
    return rename(from, to) == 0 ? 0 : fail("rename", from);
}

static int px_unlink(kite_io *io, const char *path)
{
    (void)io;
    return unlink(path) == 0 ? 0 : fail("unlink", path);
}

static int px_mkdir(kite_io *io, const char *path)
{
    (void)io;
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
    return fail("mkdir", path);
}

static int px_list_dir(kite_io *io, const char *dir, kite_io_dir_cb cb, void *arg)
{
    (void)io;
    DIR *d = opendir(dir);
    if (!d) return fail("opendir", dir);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            char p[4096];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            is_dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (cb(arg, e->d_name, is_dir)) break;
    }
    closedir(d);
    return rc;
}

static int px_fs_usage(kite_io *io, const char *path, uint64_t *used, uint64_t *total)
{
    (void)io;
    struct statvfs sv;
    if (statvfs(path, &sv) != 0) return fail("statvfs", path);
    *total = (uint64_t)sv.f_blocks * sv.f_frsize;
    *used = *total - (uint64_t)sv.f_bfree * sv.f_frsize;
    return 0;
}

static void px_destroy(kite_io *io) { (void)io; }

static const kite_io_ops posix_ops = {
    px_open,   px_close, px_allocate,   px_truncate, px_size,    px_map,      px_unmap,
    px_pwrite, px_pread, px_zero_range, px_datasync, px_msync,   px_sync_dir, px_rename,
    px_unlink, px_mkdir, px_list_dir,   px_fs_usage, px_destroy,
};

/* Immutable singleton: the POSIX seam has no state, so one shared instance is enough. */
static kite_io posix_io = { &posix_ops };

kite_io *kite_io_posix(void) { return &posix_io; }

static void parent_dir(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == out)
        out[1] = 0;
    else
        *slash = 0;
}

int kite_io_mkdirs(kite_io *io, const char *path)
{
    char p[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) return KITE_EINVAL;
    memcpy(p, path, n + 1);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    struct stat st;
    if (stat(p, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : st_of(ENOTDIR, "mkdir", p);
    char parent[4096];
    parent_dir(p, parent, sizeof parent);
    if (strcmp(parent, p) != 0) {
        int rc = kite_io_mkdirs(io, parent);
        if (rc < 0) return rc;
    }
    int rc = io->ops->mkdir(io, p);
    if (rc < 0) return rc;
    return io->ops->sync_dir(io, parent);
}

int kite_io_write_atomic(kite_io *io, const char *path, const void *data, size_t len)
{
    char tmp[4096], dir[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) return KITE_EINVAL;
    int fd = io->ops->open(io, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fd;
    ssize_t w = io->ops->pwrite(io, fd, data, len, 0);
    int rc = w < 0 ? (int)w : 0;
    if (rc == 0) rc = io->ops->datasync(io, fd);
    io->ops->close(io, fd);
    if (rc == 0) rc = io->ops->rename(io, tmp, path);
    if (rc < 0) {
        io->ops->unlink(io, tmp);
        return rc;
    }
    parent_dir(path, dir, sizeof dir);
    return io->ops->sync_dir(io, dir);
}

int kite_io_read_all(kite_io *io, const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = io->ops->open(io, path, O_RDONLY, 0);
    if (fd < 0) return fd;
    int64_t sz = io->ops->size(io, fd);
    if (sz < 0) {
        io->ops->close(io, fd);
        return (int)sz;
    }
    char *b = kite_xmalloc((size_t)sz + 1);
    ssize_t r = io->ops->pread(io, fd, b, (size_t)sz, 0);
    io->ops->close(io, fd);
    if (r < 0) {
        free(b);
        return (int)r;
    }
    b[r] = 0;
    *out = b;
    *len = (size_t)r;
    return 0;
}
