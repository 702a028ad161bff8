/* store_int.h - internal state of a kite_store shared by the store's own files
 * (store.c, commitlog.c, cq.c, flush.c, dispatch.c, ckpt.c, recover.c). Not for the broker.
 *
 * Owns: the struct layouts and which thread may touch which field (noted per field).
 * Lock order: put_mu -> fmu -> (cq table lock); put_mu -> wmu (warm.c); put_mu -> flush_mu (replica.c,
 * once, when an empty replica's log starts); flush_mu is otherwise taken alone, and is never held
 * while put_mu or fmu is taken. dmu is a leaf. */
#ifndef KITE_STORE_INT_H
#define KITE_STORE_INT_H

#include "codec/record.h"
#include "store/mfile.h"
#include "store/store.h"
#include <pthread.h>
#include <stdatomic.h>

/* ---- consume queue ---- */
#define KITE_CQ_UNIT 20

typedef struct kite_cq {
    char *topic;
    size_t topic_len;
    int32_t qid;
    kite_mfq q;                /* files named by byte offset within the queue */
    _Atomic int64_t max_index; /* units readable (published by the dispatcher) */
    _Atomic int64_t min_index; /* first unit still backed by the commit log */
    int64_t max_phys_end;      /* dispatcher: largest phys+size written */
    int64_t flushed_index;     /* dispatcher: units known durable */
    int64_t put_next;          /* writer (under put_mu): next queue offset */
    struct kite_cq *next;      /* hash chain */
} kite_cq;

typedef struct kite_cq_table {
    pthread_rwlock_t lock;
    kite_cq **buckets;
    size_t nbuckets, count;
} kite_cq_table;

/* ---- checkpoint ---- */
typedef struct kite_ckpt {
    int64_t physic_ts, logics_ts, index_ts; /* RocketMQ's fields (informational) */
    int64_t cl_flushed;                     /* commit log durable and validated below this offset */
    int64_t cq_dispatched; /* consume-queue units for every record below it are durable */
    int64_t seq;           /* slot generation */
    /* index state made durable with this checkpoint (ckpt.c format; -2 = unknown: v1) */
    int64_t ix_file, ix_count, ix_end_phys, ix_end_ts;
} kite_ckpt;

int kite_ckpt_read(kite_io *io, const char *path, kite_ckpt *out, char *err, size_t errlen);
int kite_ckpt_open(kite_io *io, const char *path, int *fd);
int kite_ckpt_write(kite_io *io, int fd, kite_ckpt *ck); /* bumps seq; pwrite + fdatasync */

/* ---- index (index.c) ---- */
typedef struct kite_index {
    int enabled;
    char dir[1100];
    int64_t slots, entries, file_size;
    pthread_rwlock_t lock; /* guards files/n (the array, not the bytes) */
    kite_mfile **files;    /* oldest first; f->start = file number */
    size_t n, cap;
    _Atomic int64_t last_ts;   /* indexLastUpdateTimestamp: end ts of the newest file */
    _Atomic int64_t last_phys; /* indexLastUpdatePhyoffset: its end phys offset */
    _Atomic int64_t ck_file;   /* newest file number recorded in a written checkpoint */
    int64_t done;              /* dispatcher: every record below is indexed */
    int64_t synced_file;       /* dispatcher: files numbered below are durable in full */
    char *keybuf;              /* dispatcher: "topic#key" scratch */
} kite_index;

/* ---- staged puts (opts.batch_puts): answered once written (ASYNC_FLUSH, or SYNC_FLUSH
 * without wait), or queued for the group sync once written (SYNC_FLUSH with wait) ---- */
typedef struct kite_held_put {
    kite_put_cb cb;
    void *arg;
    kite_put_result res;
    int64_t deadline_ms; /* wait: FLUSH_DISK_TIMEOUT after this (monotonic ms) */
    int wait;            /* a SYNC_FLUSH put waiting until durable */
} kite_held_put;

/* ---- SYNC_FLUSH waiters ---- */
typedef struct kite_waiter {
    int64_t target;      /* complete when flushed >= target */
    int64_t deadline_ms; /* monotonic */
    kite_put_cb cb;
    void *arg;
    kite_put_result res;
} kite_waiter;

typedef struct kite_waitq {
    kite_waiter *v;
    size_t cap, head, count;
} kite_waitq;

struct kite_store {
    kite_store_opts o;
    kite_io *io;
    char cl_dir[1100], cq_dir[1100], ckpt_path[1100], abort_path[1100], lock_path[1100];
    int lock_fd, ckpt_fd;
    kite_ckpt ck; /* last written checkpoint (dispatch thread / open / close) */

    /* commit log */
    kite_mfq cl;
    pthread_mutex_t put_mu;     /* the single writer */
    kite_mfile *cur;            /* put_mu: current file */
    kite_cq *last_cq;           /* put_mu: cache of the previous put's queue */
    int64_t last_store_ts;      /* put_mu */
    int64_t disk_full_retry_at; /* put_mu: monotonic ms */
    uint8_t *wbuf;              /* put_mu: records are encoded here, then written (pwrite) */
    size_t wbuf_cap;
    size_t staged;       /* put_mu: bytes in wbuf not yet written (batch_puts) */
    int64_t staged_ts;   /* put_mu: store time of the last staged record */
    kite_held_put *held; /* put_mu: callbacks of the staged records */
    size_t nheld, held_cap;
    _Atomic int64_t max_offset;       /* end of written records (release after the bytes) */
    _Atomic int64_t raw_end;          /* replica: end of appended bytes, >= max_offset (put_mu) */
    kite_store_append_fn append_hook; /* put_mu: told when the written end moved */
    void *append_hook_arg;
    _Atomic int64_t flushed;      /* durable end; only advanced after a successful sync */
    _Atomic int64_t max_store_ts; /* store time of the last written record */
    pthread_mutex_t flush_mu;     /* serialises kite_cl_flush */
    _Atomic int64_t syncs;        /* kite_cl_flush calls that advanced flushed (statistics) */

    /* state */
    _Atomic int stop;
    _Atomic int failed; /* kite_status of the failed sync; fail-stop */
    _Atomic int disk_full;

    /* flush service */
    pthread_mutex_t fmu;
    pthread_cond_t fcond; /* wakes the flush thread */
    pthread_cond_t wcond; /* wakes the watcher */
    kite_waitq wq;        /* fmu */
    size_t fl_want;       /* fmu: the sync thread waits for this many queued puts */
    pthread_t flush_thr, watch_thr;
    int threads_started;

    /* consume queues and dispatch */
    kite_cq_table cqs;
    _Atomic int64_t dispatched; /* records below are in consume queues */
    pthread_mutex_t dmu;
    pthread_cond_t dcond; /* wakes the dispatcher */
    pthread_cond_t dwait; /* wakes kite_store_wait_dispatched */
    _Atomic int disp_sleeping;
    pthread_t disp_thr;
    int64_t disp_pos;     /* dispatcher-owned */
    int64_t disp_bug_pos; /* dispatcher-owned: last unreadable record logged (-1) */
    uint8_t *db;          /* dispatcher-owned: commit-log bytes read for dispatch */
    size_t db_cap;
    int64_t db_start, db_len; /* db holds [db_start, db_start + db_len) */
    int64_t last_ckpt_ms;     /* dispatcher-owned */
    kite_store_arrival_fn hook;
    void *hook_arg;

    /* allocation and warm-up service (warm.c) */
    int warm_on; /* the service runs (opts.warm_files resolved) */
    pthread_t warm_thr;
    pthread_mutex_t wmu;          /* guards spare; held while any commit-log file is created */
    pthread_cond_t wcv;           /* wakes the warm thread (roll took the spare, stop) */
    kite_mfile *spare;            /* wmu: the next commit-log file, created but not in cl */
    _Atomic int64_t cur_start;    /* start of the current file (-1: none); set under put_mu */
    _Atomic int64_t warm_creates; /* statistics: files created by the service */

    /* index */
    kite_index ix;

    /* retention (clean.c) */
    pthread_mutex_t cmu;      /* guards manual_rounds and the clean thread's sleep */
    pthread_cond_t ccond;     /* wakes the clean thread (stop, manual trigger) */
    pthread_mutex_t round_mu; /* one retention round at a time */
    pthread_t clean_thr;
    int clean_started;
    int manual_rounds;             /* cmu: rounds left with deletion enabled by a trigger */
    _Atomic int disk_warn;         /* disk use above the warning ratio: puts refused */
    _Atomic int64_t ck_cl_flushed; /* last written checkpoint's values, for the clean thread */
    _Atomic int64_t ck_dispatched;
};

/* commitlog.c */
int64_t kite_cl_readable(kite_store *s); /* SYNC: flushed, ASYNC: max_offset */
int kite_cl_flush(kite_store *s, int64_t upto);
/* Locates the record at phys: returns a referenced file and the relative offset, or NULL. */
kite_mfile *kite_cl_file_at(kite_store *s, int64_t phys);
int kite_cl_recover(kite_store *s, int crashed, char *err, size_t errlen);

/* cq.c */
void kite_cqt_init(kite_cq_table *t);
void kite_cqt_destroy(kite_cq_table *t);
kite_cq *kite_cqt_find(kite_store *s, const char *topic, size_t tlen, int32_t qid);
kite_cq *kite_cqt_get(kite_store *s, const char *topic, size_t tlen, int32_t qid); /* creates */
/* Calls fn for every queue (under the table's read lock). */
void kite_cqt_each(kite_store *s, void (*fn)(kite_store *, kite_cq *, void *), void *arg);
int kite_cq_load_all(kite_store *s, int crashed, int64_t cl_end, int64_t *min_phys_end, char *err,
                     size_t errlen);
/* Dispatcher: writes the unit for queue offset qoff. 0, or a kite_status (retry later). */
int kite_cq_put(kite_store *s, kite_cq *cq, int64_t qoff, int64_t phys, int32_t size, int64_t tag);
int kite_cq_flush_all(kite_store *s);
/* Reads unit idx (idx < max_index). 0 or KITE_ENOTFOUND. */
int kite_cq_unit(kite_cq *cq, int64_t idx, int64_t *phys, int32_t *size, int64_t *tag);

/* index.c (file layout in index.c's header comment) */
#define KITE_IX_HDR 40
#define KITE_IX_ENT 20
typedef struct kite_keyref {
    const char *p;
    size_t n;
} kite_keyref;
/* Index keys of a record: UNIQ_KEY, then every non-empty word of KEYS; at most max. */
size_t kite_index_record_keys(const kite_record *r, kite_keyref *out, size_t max);
/* |Java hash of "<topic>#<key>"| as stored in an entry (INT_MIN -> 0). */
int32_t kite_index_hash(const char *topic, size_t tl, const char *key, size_t kl);
void kite_index_init(kite_store *s);
void kite_index_destroy(kite_store *s);
/* Recovery: loads the index files, cuts them back to the checkpoint's durable state and to
 * the commit log's end [cl_min, cl_end); *from gets the offset from which records must be
 * re-indexed (ix.done). 0 or a kite_status with err. */
int kite_index_load(kite_store *s, int crashed, int64_t cl_min, int64_t cl_end, int64_t *from,
                    char *err, size_t errlen);
/* Dispatcher: indexes the keys of record r at pos (skipped when pos < ix.done). 0 or a
 * kite_status (nothing of this record was inserted: retry later). */
int kite_index_put(kite_store *s, const kite_record *r, int64_t pos, int64_t len);
/* Dispatcher/close: makes every index byte written so far durable and fills the ix_* fields
 * of ck. 0 or a kite_status. */
int kite_index_flush(kite_store *s, kite_ckpt *ck);
/* Retention: deletes index files whose every entry points below cl_min (never the newest,
 * nor one the last checkpoint still names). Returns the number deleted. */
int kite_index_clean(kite_store *s, int64_t cl_min);

/* clean.c */
int kite_clean_start(kite_store *s);
void kite_clean_stop(kite_store *s);

/* flush.c */
int kite_flush_start(kite_store *s);
void kite_flush_stop(kite_store *s);
/* Called under put_mu for SYNC puts. */
void kite_flush_enqueue(kite_store *s, const kite_waiter *w);
void kite_flush_fail(kite_store *s, int status);

/* crc.c: CRC-32 identical to kite_crc32 (zlib), faster (PCLMULQDQ). */
uint32_t kite_store_crc32(const void *data, size_t len);
uint32_t kite_store_crc32_masked(const void *data, size_t len);

/* warm.c */
int kite_warm_start(kite_store *s);
/* Stops the service and removes an unused spare file (close). */
void kite_warm_stop(kite_store *s);
/* Under put_mu: the file starting at start, from the spare if it is that one, else created
 * now. 0 or a kite_status (as kite_mfq_create). */
int kite_warm_next_file(kite_store *s, int64_t start, kite_mfile **out);

/* dispatch.c */
int kite_dispatch_start(kite_store *s);
void kite_dispatch_stop(kite_store *s);
/* Dispatches readable records up to limit on the calling thread; returns 0 or an error. */
int kite_dispatch_run(kite_store *s, int64_t limit);
int kite_dispatch_checkpoint(kite_store *s);
void kite_dispatch_wake(kite_store *s);

#endif
