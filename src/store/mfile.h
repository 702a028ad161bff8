/* mfile.h - one memory-mapped store file and the ordered queue of them (commit log or
 * one consume queue).
 *
 * Owns: a file's fd and mapping, its write and flush positions, and a reference count
 * that keeps the mapping alive while readers (pulls being sent) hold it; the queue's
 * list of files named by their 20-digit start offset, creating the next file (allocated
 * in full up front, so a full disk is ENOSPC at creation and never SIGBUS on a write),
 * finding the file of an offset, truncating and deleting files.
 * Does not own: what the bytes mean (commitlog.c, cq.c) or when to flush (flush.c).
 * Threads: one writer per queue appends and rolls; readers find files under the queue's
 * rwlock and take references; positions are atomics (wrote published with release).
 * File naming and sizes: docs/store-format.md, "Files on disk". */
#ifndef KITE_STORE_MFILE_H
#define KITE_STORE_MFILE_H

#include "store/io.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kite_mfile {
    char *path;
    int64_t start; /* offset of byte 0 in the queue's address space */
    int64_t size;
    int fd;
    uint8_t *base; /* mapping of [0, size) */
    kite_io *io;
    _Atomic int64_t wrote;   /* bytes written (relative to start) */
    _Atomic int64_t flushed; /* bytes known durable (relative) */
    _Atomic int refs;        /* the queue's reference + one per holder */
    _Atomic int unlink_on_free;
} kite_mfile;

/* Adds / drops a reference; the last drop unmaps, closes (and unlinks if the file was
 * deleted from its queue) and frees. */
void kite_mfile_ref(kite_mfile *f);
/* Opens (create: O_CREAT|O_EXCL), allocates to size when created or short, and maps path;
 * start is the caller's label for byte 0. One reference is held. NULL with *err = a status;
 * a file this call created is removed again on failure. */
kite_mfile *kite_mfile_open(kite_io *io, const char *path, int64_t start, int64_t size, int create,
                            int *err);
void kite_mfile_unref(kite_mfile *f);
/* Makes [flushed, upto) durable (msync from the page below flushed). On success the flush
 * position becomes upto; on failure it does not move. Returns 0 or a kite_status. */
int kite_mfile_flush(kite_mfile *f, int64_t upto);

typedef struct kite_mfq {
    kite_io *io;
    char *dir;
    int64_t file_size;
    pthread_rwlock_t lock; /* guards files/n */
    kite_mfile **files;
    size_t n, cap;
    int dir_made;
} kite_mfq;

void kite_mfq_init(kite_mfq *q, kite_io *io, const char *dir, int64_t file_size);
/* Drops the queue's references to every file (files stay on disk). */
void kite_mfq_destroy(kite_mfq *q);
/* Opens and maps every file of the directory (names that are not 20 digits are
 * ignored with a warning). A file of the wrong size fails with KITE_ECORRUPT naming it,
 * unless it is the last one and *last_short_ok: then it is extended (allocated) to the
 * full size and *last_short_ok is set to 2. Returns 0 or a kite_status; err gets text. */
int kite_mfq_load(kite_mfq *q, int *last_short_ok, char *err, size_t errlen);
/* Last file (no reference taken: for the queue's single writer) or NULL. */
kite_mfile *kite_mfq_last(kite_mfq *q);
/* File holding offset, with a reference taken (kite_mfile_unref it), or NULL. */
kite_mfile *kite_mfq_find(kite_mfq *q, int64_t offset);
/* Creates, allocates and maps the file starting at start (must be file-size aligned and
 * follow the last file), fsyncs the directory, appends it. Returns 0 or a kite_status;
 * a half-created file is removed. */
int kite_mfq_create(kite_mfq *q, int64_t start, kite_mfile **out);
/* The two halves of kite_mfq_create, for the allocation service (warm.c): precreate makes
 * the file (created, allocated, mapped, directory fsynced) without adding it to the queue;
 * push appends it (it must follow the last file). dir_made is only touched by the queue's
 * single creator at a time. */
int kite_mfq_precreate(kite_mfq *q, int64_t start, kite_mfile **out);
void kite_mfq_push(kite_mfq *q, kite_mfile *f);
/* Drops everything at and after offset end: later files are unlinked, the file holding
 * end gets zeros from end to its end (synced) and positions = end. Returns 0 or a
 * kite_status. */
int kite_mfq_truncate(kite_mfq *q, int64_t end);
int64_t kite_mfq_min_offset(kite_mfq *q); /* start of the first file, -1 if none */
size_t kite_mfq_count(kite_mfq *q);
/* Removes the first file from the queue and from disk (unlinked once unreferenced). */
int kite_mfq_delete_first(kite_mfq *q);
/* Name for a start offset: 20 zero-padded digits. */
void kite_mfq_name(int64_t start, char out[21]);

#endif
