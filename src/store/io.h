/* io.h - the store's one I/O seam: every file operation the store performs.
 *
 * Owns: the kite_io vtable, the real POSIX implementation (kite_io_posix) and the
 * fault-injecting implementation used by tests (kite_io_fault_*): errors on the Nth call
 * of a kind, slow syncs, syncs that silently do nothing (control runs), power cuts, and a
 * made-up file-system usage (retention thresholds).
 * Does not own: which files exist or what is in them (mfile.c, ckpt.c, ...).
 * Threads: every operation may be called from any thread; implementations are
 * thread-safe. The fault seam serialises its bookkeeping with one mutex.
 *
 * Errors: every operation returns 0 (or a non-negative count/fd) on success and a negative
 * kite_status on failure: the seam converts errno where it makes the system call
 * (kite_status_from_errno: ENOSPC/EDQUOT give KITE_ENOSPC, ENOENT KITE_ENOTFOUND, ...).
 * An errno without a code of its own (EACCES, EMFILE, EROFS, ...) gives KITE_EIO, and the
 * POSIX seam logs its text with the operation and path, so the cause is not lost.
 *
 * How the fault seam models memory-mapped writes (see docs/store-format.md, "The I/O
 * seam"): each file has a volatile image (what a page cache would hold) and a durable
 * image (the real file on disk). map() returns memory backed by the volatile image, so
 * the store writes into it with plain stores, exactly as into a real mapping; pwrite and
 * pread use it too. msync(range) and fdatasync(fd) copy the volatile bytes of that range
 * (or of the whole file) into the durable image. A power cut discards every volatile image,
 * so every byte not synced is lost; files created since their directory was last fsynced
 * disappear. A sync that fails (injected) leaves its range "poisoned": later syncs skip
 * it, as Linux drops dirty pages after a failed writeback, so a retried fsync "succeeds"
 * without the data. Size changes (allocate, truncate), renames and unlinks are durable
 * at once (a simplification: the store fsyncs directories anyway). */
#ifndef KITE_STORE_IO_H
#define KITE_STORE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum kite_io_op {
    KITE_IO_OPEN = 0,
    KITE_IO_ALLOCATE, /* allocate (fallocate) and truncate */
    KITE_IO_MAP,
    KITE_IO_WRITE, /* pwrite, zero_range */
    KITE_IO_READ,
    KITE_IO_SYNC, /* fdatasync, msync */
    KITE_IO_SYNCDIR,
    KITE_IO_NAMEOP, /* rename, unlink, mkdir */
    KITE_IO_OP_COUNT
} kite_io_op;

typedef struct kite_io kite_io;

/* Callback for list_dir: called once per entry (not "." or ".."); return non-zero to stop. */
typedef int (*kite_io_dir_cb)(void *arg, const char *name, int is_dir);

typedef struct kite_io_ops {
    /* open(2) flags; returns fd or a kite_status. */
    int (*open)(kite_io *io, const char *path, int flags, int mode);
    int (*close)(kite_io *io, int fd);
    /* Reserves [0, len) on disk (posix_fallocate), so later writes cannot hit ENOSPC. */
    int (*allocate)(kite_io *io, int fd, int64_t len);
    int (*truncate)(kite_io *io, int fd, int64_t len);
    int64_t (*size)(kite_io *io, int fd); /* file size or a kite_status */
    /* Shared read-write mapping of [0, len) in *addr. */
    int (*map)(kite_io *io, int fd, size_t len, void **addr);
    int (*unmap)(kite_io *io, void *addr, size_t len);
    ssize_t (*pwrite)(kite_io *io, int fd, const void *buf, size_t len, int64_t off);
    ssize_t (*pread)(kite_io *io, int fd, void *buf, size_t len, int64_t off);
    /* Writes zeros over [off, off+len) (hole punch or explicit zeros). */
    int (*zero_range)(kite_io *io, int fd, int64_t off, int64_t len);
    int (*datasync)(kite_io *io, int fd);
    /* Makes [addr, addr+len) of a mapping durable; addr must be page-aligned. */
    int (*msync)(kite_io *io, void *addr, size_t len);
    int (*sync_dir)(kite_io *io, const char *dir);
    int (*rename)(kite_io *io, const char *from, const char *to);
    int (*unlink)(kite_io *io, const char *path);
    int (*mkdir)(kite_io *io, const char *path); /* EEXIST is success */
    int (*list_dir)(kite_io *io, const char *dir, kite_io_dir_cb cb, void *arg);
    /* Used and total bytes of the file system holding path (for retention thresholds). */
    int (*fs_usage)(kite_io *io, const char *path, uint64_t *used, uint64_t *total);
    void (*destroy)(kite_io *io);
} kite_io_ops;

struct kite_io {
    const kite_io_ops *ops;
};

/* The process-wide POSIX implementation (stateless; never destroyed). */
kite_io *kite_io_posix(void);

/* Creates every missing directory of path (like mkdir -p) and fsyncs each parent whose
 * entry was created. Returns 0 or a kite_status. */
int kite_io_mkdirs(kite_io *io, const char *path);
/* Writes len bytes to path atomically: path.tmp is written and fdatasync'ed, renamed over
 * path, and the directory fsynced. Returns 0 or a kite_status; the old content survives a
 * failure. */
int kite_io_write_atomic(kite_io *io, const char *path, const void *data, size_t len);
/* Reads the whole file into a malloc'ed buffer (*out, free with free()). 0 or a kite_status. */
int kite_io_read_all(kite_io *io, const char *path, char **out, size_t *len);

/* ---- fault-injecting implementation (tests) ---- */

/* New fault seam over the real file system; free with kite_io_fault_free(). */
kite_io *kite_io_fault_new(void);
void kite_io_fault_free(kite_io *io);
/* After `after` more successful calls of kind op, the next `count` calls fail as the system
 * call would with errno err, i.e. with kite_status_from_errno(err) (count < 0: every later
 * call until cleared). Replaces the previous rule for op. */
void kite_io_fault_inject(kite_io *io, kite_io_op op, long after, int err, long count);
void kite_io_fault_clear(kite_io *io);
/* Number of calls of kind op so far (successful or not). */
long kite_io_fault_calls(kite_io *io, kite_io_op op);
/* Every sync sleeps this long first (0 = no delay). */
void kite_io_fault_set_sync_delay_ms(kite_io *io, int ms);
/* Control runs: syncs report success but make nothing durable. */
void kite_io_fault_set_sync_disabled(kite_io *io, int disabled);
/* File-system usage that fs_usage reports from now on (total 0: the real one again). */
void kite_io_fault_set_fs_usage(kite_io *io, uint64_t used, uint64_t total);
/* The power goes out now: the durable images are frozen; from now on every operation
 * except close/unmap fails with KITE_EIO until kite_io_fault_restart(). */
void kite_io_fault_power_cut(kite_io *io);
/* The machine boots again (call after the store is closed): volatile images are dropped,
 * files whose directory entry was never synced are removed, operations work again. */
void kite_io_fault_restart(kite_io *io);

#endif
