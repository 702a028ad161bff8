/* store.h - the message store facade: what the broker calls.
 *
 * Owns: opening (with recovery) and closing a store directory, put with an asynchronous
 * completion, reads by queue and offset returning references into mapped files, offset
 * look-ups, and the dispatch notification hook. Formats: docs/store-format.md.
 * Does not own: sockets, the wire protocol, response codes (the broker maps the statuses
 * below to RocketMQ codes), topic configuration.
 *
 * Threads:
 *   - kite_store_put / kite_store_get_* may be called from any thread, concurrently.
 *     Puts are serialised by one put lock (physical and queue offsets are assigned there).
 *   - The put callback runs exactly once: inline in the caller when the outcome is known
 *     at once (ASYNC_FLUSH, msg->wait == 0, refusals), in the thread that calls
 *     kite_store_commit/kick (the same, with opts.batch_puts), else on the store's flush thread
 *     (durable, or sync failed) or its timeout watcher thread (FLUSH_DISK_TIMEOUT). A
 *     callback must be quick and must not call kite_store_close.
 *   - The dispatch hook runs on the dispatch (reput) thread.
 *   - The append hook runs on the thread that wrote (kite_store_commit/kick or put), under
 *     the put lock.
 * Store threads: flush (ASYNC interval flush or SYNC group commit), sync-timeout watcher
 * (SYNC only), dispatch (builds consume queues and the index, flushes them, writes the
 * checkpoint), clean (retention: deletes expired files, watches disk use).
 * Queries (kite_store_query_by_key) and kite_store_clean_now may be called from any thread. */
#ifndef KITE_STORE_STORE_H
#define KITE_STORE_STORE_H

#include "store/store_conf.h"
#include <stddef.h>
#include <stdint.h>

typedef struct kite_store kite_store;
struct kite_mfile;

/* A message to append. All pointers are borrowed for the duration of the call. */
typedef struct kite_store_msg {
    const char *topic; /* 1..127 bytes, no '/', NUL or control bytes */
    size_t topic_len;
    int32_t queue_id;
    int32_t flag;
    int32_t sysflag; /* host bits are set by the store (IPv4 only) */
    int64_t born_ts;
    uint8_t born_ip4[4];
    int32_t born_port;
    int32_t reconsume_times;
    int64_t prepared_tx_offset;
    const void *body;
    uint32_t body_len;
    const char *props; /* properties string as it is to be stored */
    uint32_t props_len;
    int wait; /* SYNC_FLUSH: 1 = complete when durable (WAIT != false) */
} kite_store_msg;

typedef enum kite_put_status {
    KITE_PUT_OK = 0,
    KITE_PUT_FLUSH_DISK_TIMEOUT, /* stored, not known durable within syncFlushTimeout */
    KITE_PUT_MESSAGE_ILLEGAL,    /* bad topic, body too large, record larger than a file */
    KITE_PUT_PROPERTIES_SIZE_EXCEEDED,
    KITE_PUT_SERVICE_NOT_AVAILABLE,     /* store closing, or fail-stopped after a sync error */
    KITE_PUT_DISK_FULL,                 /* ENOSPC allocating a file; retried by later puts */
    KITE_PUT_CREATE_MAPPED_FILE_FAILED, /* other error creating a file */
    KITE_PUT_FLUSH_FAILED,              /* the sync failed: NOT durable; store is fail-stopped */
} kite_put_status;

const char *kite_put_status_name(kite_put_status s);

typedef struct kite_put_result {
    kite_put_status status;
    int err;             /* kite_status detail (KITE_OK, KITE_EIO, KITE_ENOSPC, ...) */
    int64_t phys_offset; /* -1 when not appended */
    int64_t queue_offset;
    int32_t wrote_bytes;
    int64_t store_ts;
} kite_put_result;

typedef void (*kite_put_cb)(void *arg, const kite_put_result *res);

/* Opens (creating if needed) and recovers the store; starts its threads. Returns NULL
 * with a message in err (for corruption: the file and offset). The opts are copied. */
kite_store *kite_store_open(const kite_store_opts *opts, char *err, size_t errlen);
/* Stops the threads, flushes, writes the checkpoint and, when the store is healthy and
 * the dispatch caught up, removes the abort marker (clean shutdown). Pending SYNC puts
 * complete first. Frees the store. */
void kite_store_close(kite_store *s);

/* Appends msg. cb(arg, result) is called exactly once (see Threads above). Returns KITE_OK
 * when the message was appended (the callback may still be pending), otherwise the
 * refusal status (the callback has already run). */
int kite_store_put(kite_store *s, const kite_store_msg *msg, kite_put_cb cb, void *arg);
/* Blocking convenience for tools and tests: waits for the callback. */
void kite_store_put_wait(kite_store *s, const kite_store_msg *msg, kite_put_result *res);
/* Writes the staged puts (opts.batch_puts) with one pwrite and runs their callbacks on the
 * calling thread. Any thread; not from inside a put callback. */
void kite_store_commit(kite_store *s);
/* kite_store_commit, then wakes the dispatch thread. Needed after a batch of puts when
 * opts.batch_puts is set; harmless otherwise. */
void kite_store_kick(kite_store *s);

/* A contiguous stored record inside a mapped file. Holds a file reference: the bytes
 * stay valid (and mapped) until kite_store_seg_release. fd/file_off allow sendfile. */
typedef struct kite_store_seg {
    const uint8_t *data;
    uint32_t len;
    int64_t phys_offset;
    int64_t queue_offset;
    int fd;
    int64_t file_off;
    struct kite_mfile *file;
} kite_store_seg;

void kite_store_seg_release(kite_store_seg *seg);

/* Record at a commit-log offset (< the readable end). Returns KITE_OK with *seg filled,
 * KITE_ENOTFOUND when nothing readable is there (past the end, deleted, or a blank
 * filler: then *next is the next file's start), KITE_ECORRUPT for bytes that are not a
 * record. */
int kite_store_get_by_offset(kite_store *s, int64_t phys, kite_store_seg *seg, int64_t *next);

typedef enum kite_get_status {
    KITE_GET_FOUND = 0,
    KITE_GET_NO_MATCHED_MESSAGE,
    KITE_GET_MESSAGE_WAS_REMOVING,
    KITE_GET_OFFSET_FOUND_NULL,
    KITE_GET_OFFSET_OVERFLOW_BADLY,
    KITE_GET_OFFSET_OVERFLOW_ONE,
    KITE_GET_OFFSET_TOO_SMALL,
    KITE_GET_NO_MATCHED_LOGIC_QUEUE,
    KITE_GET_NO_MESSAGE_IN_QUEUE,
} kite_get_status;

const char *kite_get_status_name(kite_get_status s);

typedef struct kite_get_result {
    kite_get_status status;
    int64_t next_begin_offset;
    int64_t min_offset, max_offset;
    size_t count; /* segments in segs */
    size_t bytes;
    kite_store_seg *segs; /* owned; each holds a file reference */
    size_t cap;
    /* commit-log offset of the last consume-queue entry examined (matched or not); -1 when
     * none was (the broker's "probably not in page cache" test, DESIGN.md "Replication") */
    int64_t last_phys;
} kite_get_result;

/* Messages of (topic, queue) from offset: at most max_count records and max_bytes bytes
 * (the first record is always returned), skipping records whose tag code is not in
 * tags[0..ntags) (ntags == 0: no filter). Release with kite_get_result_release. */
int kite_store_get_messages(kite_store *s, const char *topic, int32_t queue_id, int64_t offset,
                            int max_count, size_t max_bytes, const int32_t *tags, size_t ntags,
                            kite_get_result *out);
void kite_get_result_release(kite_get_result *r);

/* Queue bounds: min is the first offset still backed by data, max is one past the last
 * dispatched message (0/0 for an unknown queue). */
int64_t kite_store_min_offset(kite_store *s, const char *topic, int32_t queue_id);
int64_t kite_store_max_offset(kite_store *s, const char *topic, int32_t queue_id);
/* First queue offset whose store timestamp is >= ts (max offset if none). */
int64_t kite_store_offset_by_time(kite_store *s, const char *topic, int32_t queue_id, int64_t ts);
/* Commit-log bounds: min physical offset, max written offset, durable offset, and the
 * offset up to which consume queues are built. */
int64_t kite_store_cl_min_offset(kite_store *s);
int64_t kite_store_cl_max_offset(kite_store *s);
int64_t kite_store_cl_flushed_offset(kite_store *s);
int64_t kite_store_dispatched_offset(kite_store *s);
/* Waits (up to timeout_ms) until every readable message is dispatched; 0 or KITE_ETIMEDOUT. */
int kite_store_wait_dispatched(kite_store *s, int timeout_ms);
/* Non-zero after a failed sync (fail-stop: writes refused until restart). */
int kite_store_failed(kite_store *s);

/* ---- index (docs/store-format.md, "Index files") ---- */

/* Messages of topic whose KEYS (any space-separated word) or UNIQ_KEY equals key and whose
 * store time is in [begin_ts, end_ts], newest first, at most max_num, as segments (release
 * with kite_get_result_release). Hash collisions are filtered out: every returned record
 * really carries the key. status is FOUND or NO_MATCHED_MESSAGE. *last_update_ts and
 * *last_update_phys (may be NULL) get the index's indexLastUpdateTimestamp and
 * indexLastUpdatePhyoffset for the QUERY_MESSAGE response header. Returns 0, or KITE_EINVAL
 * for an empty/oversized topic or key. With messageIndexEnable=false nothing
 * is found. */
int kite_store_query_by_key(kite_store *s, const char *topic, const char *key, int max_num,
                            int64_t begin_ts, int64_t end_ts, kite_get_result *out,
                            int64_t *last_update_ts, int64_t *last_update_phys);

/* ---- retention (docs/store-format.md, "Retention") ---- */

typedef struct kite_clean_stats {
    int cl_deleted; /* commit-log files deleted */
    int cq_deleted; /* consume-queue files deleted */
    int ix_deleted; /* index files deleted */
    int disk_ratio; /* percent used of the commit log's file system (-1 unknown) */
    int forced;     /* unexpired files were deleted because the disk is nearly full */
} kite_clean_stats;

/* Runs one retention round now on the calling thread (the clean thread runs one every
 * cleanResourceInterval): deletion happens when the hour (of the store's clock) is in
 * deleteWhen, disk use passes diskMaxUsedSpaceRatio, or a trigger is pending. Fills *st
 * (may be NULL). Returns 0. */
int kite_store_clean_now(kite_store *s, kite_clean_stats *st);
/* Enables deletion of expired files for the next 20 rounds whatever the hour
 * (TRIGGER_DELETE_FILES) and wakes the clean thread. */
void kite_store_trigger_delete(kite_store *s);
/* Non-zero while disk use is above diskSpaceWarningLevelRatio (puts get DISK_FULL). */
int kite_store_disk_warning(kite_store *s);

/* ---- replication (docs/store-format.md, "Replication") ----
 * The store knows nothing of the wire protocol (src/repl/ does): a master reads its
 * commit log's bytes by offset and ships them; a replica (opts.replica) appends them at
 * exactly the same offsets, so both logs are byte-identical, and builds its own consume
 * queues and index from them. A replica refuses kite_store_put (SERVICE_NOT_AVAILABLE):
 * its commit log grows only through kite_store_append_raw. */

/* Master: written commit-log bytes from offset, as a segment of one file (release with
 * kite_store_seg_release): at most max bytes, never past the written end nor past the end
 * of the file holding offset (the next call continues in the next file). seg->fd and
 * seg->file_off allow sendfile. Returns KITE_OK, KITE_EAGAIN when nothing is written at
 * offset yet (offset >= the written end), KITE_ENOTFOUND when offset is below the oldest
 * byte retained (deleted) or negative. Any thread. */
int kite_store_read_raw(kite_store *s, int64_t offset, size_t max, kite_store_seg *seg);
/* Replica: appends len bytes received from the master at exactly offset, byte for byte.
 * offset must be kite_store_raw_end(s) or, when the store holds no commit-log file yet, a
 * multiple of mappedFileSizeCommitLog: the log then starts there (an empty replica copies
 * the master's history from its oldest retained file). The bytes may begin and end inside
 * records; a record becomes readable (and is dispatched into consume queues and the index)
 * once its last byte is appended. Each record is checked as it completes: a known magic,
 * a size that fits its file with room for the end-of-file filler, and PHYSICALOFFSET
 * equal to its position; a filler must end its file exactly. Bytes that fail a check are
 * not written: KITE_EINVAL with the reason in err (the master's log is not this log's
 * continuation: diverged, or a different mappedFileSizeCommitLog). A write error is
 * returned as its status and stops the store (fail-stop, as for a failed put). One
 * caller thread at a time. */
int kite_store_append_raw(kite_store *s, int64_t offset, const void *data, size_t len, char *err,
                          size_t errlen);
/* End of the commit-log bytes held: on a replica, what kite_store_append_raw appended (may
 * lie inside a record not yet complete, which a restart drops); on a master, the written
 * end (kite_store_cl_max_offset). */
int64_t kite_store_raw_end(kite_store *s);
/* Replica: compares data with the held bytes [offset, offset + len), which must lie within
 * [kite_store_cl_min_offset, kite_store_raw_end). Returns 0 when identical, 1 when they
 * differ (*diff_at = offset of the first differing byte), KITE_ENOTFOUND when the range is
 * not held, or an I/O status. */
int kite_store_compare_raw(kite_store *s, int64_t offset, const void *data, size_t len,
                           int64_t *diff_at);
/* A replica that can no longer continue its log (it ends before the oldest offset its
 * master retains) is started again empty; its old files are kept. For a CLOSED store with
 * root directory root and commit-log directory cl_dir (NULL or "": <root>/commitlog):
 * creates <root>/aside-<UTC YYYYMMDDTHHMMSSZ> (a suffix -2, -3... when taken) and renames
 * into it the commit log (as commitlog/), consumequeue/, index/, checkpoint and abort, those
 * that exist. Nothing is
 * deleted or copied; config/ (topics, offsets) and the lock stay; both directories are
 * fsynced (POSIX kite_io). The directory is written to out. KITE_OK, or the failed call's
 * status with err (e.g. a commit log on another file system: rename's EXDEV) - the entries
 * already moved stay in the directory. */
int kite_store_set_aside(const char *root, const char *cl_dir, char *out, size_t cap, char *err,
                         size_t errlen);
/* Called on the writer's thread, under the put lock, each time records were written and
 * the written end moved: a master's replication service wakes up to ship them. It must be
 * quick and must not call the store. Once kite_store_set_append_hook returns, the previous
 * hook is not running and never runs again (NULL removes it). */
typedef void (*kite_store_append_fn)(void *arg);
void kite_store_set_append_hook(kite_store *s, kite_store_append_fn fn, void *arg);

/* Called on the dispatch thread after new messages of (topic, queue) become readable;
 * max_offset is the queue's new max offset. */
typedef void (*kite_store_arrival_fn)(void *arg, const char *topic, size_t topic_len,
                                      int32_t queue_id, int64_t max_offset);
void kite_store_set_arrival_hook(kite_store *s, kite_store_arrival_fn fn, void *arg);

#endif
