/* index.c - the message index: look-up by key (each word of KEYS), by unique id (UNIQ_KEY)
 * and store-time range, in RocketMQ's hash index file format.
 *
 * File <root>/index/<20-digit file number>, numbered from 0 upwards, each
 * 40 + slots*4 + entries*20 bytes (maxHashSlotNum, maxIndexNum), allocated in full when
 * created. Big-endian throughout.
 *
 *   header (40 bytes)
 *     off size field
 *       0   8  beginTimestamp   store time of the first entry
 *       8   8  endTimestamp     store time of the last entry
 *      16   8  beginPhyOffset   commit-log offset of the first entry's record
 *      24   8  endPhyOffset     commit-log offset of the last entry's record
 *      32   4  hashSlotCount    slots in use
 *      36   4  indexCount       next entry number; starts at 1 (entry 0 is never used)
 *   slot table: slots x 4 bytes at 40, slot k = number of the newest entry of its chain
 *     (0 = empty)
 *   entries: entry n at 40 + slots*4 + n*20
 *       0   4  key hash         |Java String.hashCode("<topic>#<key>")| (INT_MIN -> 0)
 *       4   8  phys offset      of the record
 *      12   4  time diff        (storeTimestamp - beginTimestamp) / 1000, seconds, clamped
 *      16   4  prev entry       previous entry of the same slot (0 = end of chain)
 * Slot of a key = hash % slots. Keys of a record: UNIQ_KEY and every non-empty word of KEYS
 * split on ' '; records with transaction type ROLLBACK are not indexed. All keys of one
 * record go into one file (a file is rolled before a record whose keys would not fit).
 * See docs/store-format.md, "Index files".
 *
 * Owns: the index files, their recovery (cut back to the checkpoint's durable state and to
 * the commit log's end, slot table rebuilt from the trusted entries) and queries.
 * Does not own: when records are indexed (dispatch.c), the checkpoint format (ckpt.c).
 * Threads: only the dispatcher (or open/close) writes; an entry and its slot are written
 * before indexCount is published with a release fence, so queries on any thread read only
 * complete entries (they hold file references while reading). The clean thread removes
 * old files under the list's write lock. */
#include "store/store_int.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IX_HDR     KITE_IX_HDR
#define IX_ENT     KITE_IX_ENT
#define KEYBUF_CAP (KITE_REC_MAX_TOPIC_V1 + 1 + KITE_REC_MAX_PROPS + 1)

/* ---- layout helpers ---- */

static uint8_t *slot_p(const kite_index *ix, kite_mfile *f, int64_t k)
{
    (void)ix;
    return f->base + IX_HDR + k * 4;
}
static uint8_t *ent_p(const kite_index *ix, kite_mfile *f, int64_t n)
{
    return f->base + IX_HDR + ix->slots * 4 + n * IX_ENT;
}
static int64_t h_begin_ts(kite_mfile *f) { return (int64_t)kite_rd_be64(f->base); }
static int64_t h_end_ts(kite_mfile *f) { return (int64_t)kite_rd_be64(f->base + 8); }
static int64_t h_begin_phys(kite_mfile *f) { return (int64_t)kite_rd_be64(f->base + 16); }
static int64_t h_end_phys(kite_mfile *f) { return (int64_t)kite_rd_be64(f->base + 24); }
static int32_t h_slots_used(kite_mfile *f) { return (int32_t)kite_rd_be32(f->base + 32); }
static int32_t h_count(kite_mfile *f)
{
    int32_t c = (int32_t)kite_rd_be32(f->base + 36);
    atomic_thread_fence(memory_order_acquire);
    return c;
}
static void h_set(kite_mfile *f, int64_t bts, int64_t ets, int64_t bphys, int64_t ephys,
                  int32_t used, int32_t count)
{
    kite_wr_be64(f->base, (uint64_t)bts);
    kite_wr_be64(f->base + 8, (uint64_t)ets);
    kite_wr_be64(f->base + 16, (uint64_t)bphys);
    kite_wr_be64(f->base + 24, (uint64_t)ephys);
    kite_wr_be32(f->base + 32, (uint32_t)used);
    atomic_thread_fence(memory_order_release);
    kite_wr_be32(f->base + 36, (uint32_t)count);
}

static int32_t key_hash(const char *k, size_t n)
{
    int32_t h = kite_java_hash(k, n);
    if (h == INT32_MIN) return 0;
    return h < 0 ? -h : h;
}

static void file_path(const kite_index *ix, int64_t no, char *out, size_t cap)
{
    char name[21];
    kite_mfq_name(no, name);
    snprintf(out, cap, "%s/%s", ix->dir, name);
}

/* ---- lifecycle ---- */

void kite_index_init(kite_store *s)
{
    kite_index *ix = &s->ix;
    memset(ix, 0, sizeof *ix);
    ix->enabled = s->o.index_enable;
    ix->slots = s->o.index_slots;
    ix->entries = s->o.index_entries;
    ix->file_size = IX_HDR + ix->slots * 4 + ix->entries * IX_ENT;
    snprintf(ix->dir, sizeof ix->dir, "%s/index", s->o.root_dir);
    pthread_rwlock_init(&ix->lock, NULL);
    atomic_init(&ix->ck_file, -1);
    ix->keybuf = kite_xmalloc(KEYBUF_CAP);
}

void kite_index_destroy(kite_store *s)
{
    kite_index *ix = &s->ix;
    for (size_t i = 0; i < ix->n; i++) kite_mfile_unref(ix->files[i]);
    free(ix->files);
    free(ix->keybuf);
    pthread_rwlock_destroy(&ix->lock);
}

static void push(kite_index *ix, kite_mfile *f)
{
    pthread_rwlock_wrlock(&ix->lock);
    ix->files = kite_xgrow(ix->files, &ix->cap, ix->n + 1, sizeof *ix->files, 8);
    ix->files[ix->n++] = f;
    pthread_rwlock_unlock(&ix->lock);
}

static kite_mfile *last_file(kite_index *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    kite_mfile *f = ix->n ? ix->files[ix->n - 1] : NULL;
    pthread_rwlock_unlock(&ix->lock);
    return f;
}

static void publish_last(kite_index *ix)
{
    kite_mfile *f = last_file(ix);
    atomic_store(&ix->last_ts, f ? h_end_ts(f) : 0);
    atomic_store(&ix->last_phys, f ? h_end_phys(f) : 0);
}

/* Drops the newest file (recovery only: no reader exists yet). */
static void drop_last(kite_index *ix)
{
    pthread_rwlock_wrlock(&ix->lock);
    kite_mfile *f = ix->files[--ix->n];
    pthread_rwlock_unlock(&ix->lock);
    atomic_store(&f->unlink_on_free, 1);
    kite_mfile_unref(f);
}

/* ---- recovery ---- */

typedef struct nums {
    int64_t *v;
    size_t n, cap;
} nums;

static int collect(void *arg, const char *name, int is_dir)
{
    nums *l = arg;
    if (is_dir || strlen(name) != 20 || strspn(name, "0123456789") != 20) return 0;
    l->v = kite_xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v, 16);
    l->v[l->n++] = strtoll(name, NULL, 10);
    return 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void unlink_no(kite_store *s, int64_t no)
{
    char p[1200];
    file_path(&s->ix, no, p, sizeof p);
    int rc = s->io->ops->unlink(s->io, p);
    if (rc < 0 && rc != KITE_ENOTFOUND)
        KLOG_WARN("store", "index: unlink %s: %s", p, kite_strerror(rc));
}

/* Keeps entries [1, count) of f, which are trusted (durable), and rebuilds everything
 * derived from them: entries after them are zeroed, the slot table and chain links are
 * recomputed, the header rewritten. Then syncs the file. 0 or a kite_status. */
static int cut_file(kite_store *s, kite_mfile *f, int64_t count, int64_t end_phys, int64_t end_ts)
{
    kite_index *ix = &s->ix;
    kite_io *io = s->io;
    int64_t eoff = IX_HDR + ix->slots * 4 + count * IX_ENT;
    int rc = 0;
    if (eoff < f->size) rc = io->ops->zero_range(io, f->fd, eoff, f->size - eoff);
    if (rc < 0) return rc;
    int32_t used = 0;
    /* Recompute the chains aside and store only what differs: after a crash the file is
     * usually already right, and pages left clean make the sync below cheap (rewriting the
     * whole slot table cost ~25 ms of msync per recovery in the benchmark). */
    uint32_t *heads = kite_xcalloc((size_t)ix->slots, sizeof *heads);
    for (int64_t n = 1; n < count; n++) {
        uint8_t *e = ent_p(ix, f, n);
        uint32_t slot = kite_rd_be32(e) % (uint32_t)ix->slots;
        uint32_t head = heads[slot];
        if (head == 0) used++;
        if (kite_rd_be32(e + 16) != head) kite_wr_be32(e + 16, head);
        heads[slot] = (uint32_t)n;
    }
    for (int64_t k = 0; k < ix->slots; k++)
        if (kite_rd_be32(slot_p(ix, f, k)) != heads[k]) kite_wr_be32(slot_p(ix, f, k), heads[k]);
    free(heads);
    int64_t bts = h_begin_ts(f), bphys = h_begin_phys(f);
    if (count <= 1) {
        end_phys = bphys;
        end_ts = bts;
    } else if (end_phys < 0) {
        uint8_t *e = ent_p(ix, f, count - 1);
        end_phys = (int64_t)kite_rd_be64(e + 4);
        end_ts = bts + (int64_t)kite_rd_be32(e + 12) * 1000 + 999;
    }
    h_set(f, bts, end_ts, bphys, end_phys, used, (int32_t)(count < 1 ? 1 : count));
    rc = io->ops->msync(io, f->base, (size_t)(eoff < f->size ? eoff : f->size));
    if (rc == 0) rc = io->ops->datasync(io, f->fd);
    return rc;
}

static int64_t ent_phys(kite_index *ix, kite_mfile *f, int64_t n)
{
    return (int64_t)kite_rd_be64(ent_p(ix, f, n) + 4);
}

/* Removes entries of records at or after cl_end (records about to be re-indexed, or that
 * an ASYNC_FLUSH store lost with its unsynced tail). */
static int cut_to_end(kite_store *s, int64_t cl_end)
{
    kite_index *ix = &s->ix;
    while (ix->n) {
        kite_mfile *f = ix->files[ix->n - 1];
        int64_t c = h_count(f);
        if (c <= 1 || ent_phys(ix, f, c - 1) < cl_end) return 0;
        int64_t lo = 1, hi = c - 1; /* first entry with phys >= cl_end */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (ent_phys(ix, f, mid) >= cl_end)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo == 1 && ix->n > 1) {
            KLOG_WARN("store", "index: %s only indexes records past the commit log's end; removed",
                      f->path);
            drop_last(ix);
            continue;
        }
        KLOG_WARN("store", "index: %s cut from %lld to %lld entries (commit log ends at %lld)",
                  f->path, (long long)c, (long long)lo, (long long)cl_end);
        return cut_file(s, f, lo, -1, 0);
    }
    return 0;
}

int kite_index_load(kite_store *s, int crashed, int64_t cl_min, int64_t cl_end, int64_t *from,
                    char *err, size_t errlen)
{
    kite_index *ix = &s->ix;
    kite_io *io = s->io;
    const kite_ckpt *ck = &s->ck;
    if (cl_min < 0) cl_min = 0;
    if (!ix->enabled) {
        ix->done = cl_end;
        *from = cl_end;
        return 0;
    }
    nums l = { NULL, 0, 0 };
    int rc = io->ops->list_dir(io, ix->dir, collect, &l);
    if (rc < 0 && rc != KITE_ENOTFOUND) {
        snprintf(err, errlen, "listing %s: %s", ix->dir, kite_strerror(rc));
        free(l.v);
        return KITE_EIO;
    }
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp64);
    int64_t tf = ck->ix_file, tc = ck->ix_count;
    int known = ck->seq > 0 && (tf == -1 || (tf >= 0 && tc >= 1 && tc <= ix->entries));
    const char *why = known ? NULL : "the checkpoint holds no index state";
    int64_t start = ck->cq_dispatched < cl_end ? ck->cq_dispatched : cl_end;
    size_t keep = 0;
    if (known && tf >= 0) {
        while (keep < l.n && l.v[keep] <= tf) keep++;
        if (keep == 0 || l.v[keep - 1] != tf) why = "the checkpoint's index file is missing";
        for (size_t i = 1; !why && i < keep; i++)
            if (l.v[i] != l.v[i - 1] + 1) why = "index files are not numbered consecutively";
    }
    if (why) keep = 0;
    /* Files newer than the durable state (or all of them, when rebuilding) go. */
    for (size_t i = keep; i < l.n; i++) unlink_no(s, l.v[i]);
    if (keep < l.n) io->ops->sync_dir(io, ix->dir);
    for (size_t i = 0; i < keep && !why; i++) {
        char p[1200];
        file_path(ix, l.v[i], p, sizeof p);
        int fd = io->ops->open(io, p, O_RDONLY, 0);
        int64_t sz = fd >= 0 ? io->ops->size(io, fd) : fd;
        if (fd >= 0) io->ops->close(io, fd);
        int e = 0;
        kite_mfile *f =
            sz == ix->file_size ? kite_mfile_open(io, p, l.v[i], ix->file_size, 0, &e) : NULL;
        if (!f) {
            why = sz != ix->file_size ? "an index file has the wrong size (maxHashSlotNum or "
                                        "maxIndexNum changed?)"
                                      : "an index file cannot be mapped";
            break;
        }
        push(ix, f);
    }
    if (!why && ix->n) {
        kite_mfile *f = ix->files[ix->n - 1];
        if (crashed || h_count(f) != tc || h_end_phys(f) != ck->ix_end_phys) {
            rc = cut_file(s, f, tc, ck->ix_end_phys, ck->ix_end_ts);
            if (rc < 0) {
                snprintf(err, errlen, "index: truncating %s: %s", f->path, kite_strerror(rc));
                free(l.v);
                return KITE_EIO;
            }
        }
    }
    if (why) {
        if (l.n) KLOG_WARN("store", "index: %s; rebuilding the index from the commit log", why);
        while (ix->n) drop_last(ix);
        for (size_t i = 0; i < keep; i++) unlink_no(s, l.v[i]);
        if (keep) io->ops->sync_dir(io, ix->dir);
        start = cl_min;
    }
    free(l.v);
    if (start < cl_min) start = cl_min;
    /* Entries of records from start on are about to be re-indexed, and records at or past
     * the commit log's end no longer exist: cut both. */
    rc = cut_to_end(s, start);
    if (rc < 0) {
        snprintf(err, errlen, "index: cutting to the commit log's end: %s", kite_strerror(rc));
        return KITE_EIO;
    }
    ix->done = start;
    kite_mfile *last = last_file(ix);
    ix->synced_file = last ? last->start : 0;
    atomic_store(&ix->ck_file, last ? last->start : -1);
    publish_last(ix);
    *from = start;
    return 0;
}

/* ---- dispatcher writes ---- */

typedef kite_keyref keyref;
static size_t record_keys(const kite_record *r, keyref *out, size_t max);

int32_t kite_index_hash(const char *topic, size_t tl, const char *key, size_t kl)
{
    char small[512];
    char *b = tl + 1 + kl <= sizeof small ? small : kite_xmalloc(tl + 1 + kl);
    memcpy(b, topic, tl);
    b[tl] = '#';
    memcpy(b + tl + 1, key, kl);
    int32_t h = key_hash(b, tl + 1 + kl);
    if (b != small) free(b);
    return h;
}

size_t kite_index_record_keys(const kite_record *r, kite_keyref *out, size_t max)
{
    return record_keys(r, out, max);
}

/* Keys of a record (UNIQ_KEY first, then KEYS words); at most max. */
static size_t record_keys(const kite_record *r, keyref *out, size_t max)
{
    static const char *const names[2] = { "UNIQ_KEY", "KEYS" };
    const char *vals[2];
    size_t lens[2], n = 0;
    kite_msgprop_scan(r->props, r->props_len, names, 2, vals,
                      lens); /* one pass: runs per message */
    if (vals[0] && lens[0] && n < max) out[n++] = (keyref){ vals[0], lens[0] };
    const char *v = vals[1];
    size_t vl = lens[1];
    size_t i = 0;
    while (v && i < vl && n < max) {
        size_t j = i;
        while (j < vl && v[j] != ' ') j++;
        if (j > i) out[n++] = (keyref){ v + i, j - i };
        i = j + 1;
    }
    return n;
}

static int roll(kite_store *s, kite_mfile **out)
{
    kite_index *ix = &s->ix;
    kite_mfile *prev = last_file(ix);
    int64_t no = prev ? prev->start + 1 : 0;
    int rc = kite_io_mkdirs(s->io, ix->dir);
    if (rc < 0) return rc;
    char p[1200];
    file_path(ix, no, p, sizeof p);
    int e = 0;
    kite_mfile *f = kite_mfile_open(s->io, p, no, ix->file_size, 1, &e);
    if (!f) return e;
    int64_t ts = prev ? h_end_ts(prev) : 0, phys = prev ? h_end_phys(prev) : 0;
    h_set(f, ts, ts, phys, phys, 0, 1);
    rc = s->io->ops->sync_dir(s->io, ix->dir);
    if (rc == 0) push(ix, f);
    if (rc < 0) {
        atomic_store(&f->unlink_on_free, 1);
        kite_mfile_unref(f);
        return rc;
    }
    *out = f;
    return 0;
}

int kite_index_put(kite_store *s, const kite_record *r, int64_t pos, int64_t len)
{
    kite_index *ix = &s->ix;
    if (!ix->enabled || pos < ix->done) return 0;
    keyref keys[64];
    size_t nk = 0;
    if ((r->sysflag & KITE_SYSFLAG_TX_MASK) != KITE_SYSFLAG_TX_ROLLBACK) {
        size_t max = sizeof keys / sizeof keys[0];
        if ((int64_t)max > ix->entries - 1) max = (size_t)(ix->entries - 1);
        nk = record_keys(r, keys, max);
    }
    if (nk == 0) {
        ix->done = pos + len;
        return 0;
    }
    kite_mfile *f = last_file(ix);
    if (!f || h_count(f) + (int64_t)nk > ix->entries) {
        int rc = roll(s, &f);
        if (rc < 0) return rc;
    }
    int32_t count = h_count(f), used = h_slots_used(f);
    int64_t bts = h_begin_ts(f), bphys = h_begin_phys(f);
    if (count <= 1) {
        bts = r->store_ts;
        bphys = pos;
    }
    int64_t td = (r->store_ts - bts) / 1000;
    if (td < 0) td = 0;
    if (td > INT32_MAX) td = INT32_MAX;
    char *kb = ix->keybuf;
    memcpy(kb, r->topic, r->topic_len);
    kb[r->topic_len] = '#';
    for (size_t i = 0; i < nk; i++) {
        memcpy(kb + r->topic_len + 1, keys[i].p, keys[i].n);
        int32_t h = key_hash(kb, r->topic_len + 1 + keys[i].n);
        int64_t slot = h % ix->slots;
        uint32_t head = kite_rd_be32(slot_p(ix, f, slot));
        if (head == 0 || (int64_t)head >= count) {
            head = 0;
            used++;
        }
        uint8_t *e = ent_p(ix, f, count);
        kite_wr_be32(e, (uint32_t)h);
        kite_wr_be64(e + 4, (uint64_t)pos);
        kite_wr_be32(e + 12, (uint32_t)td);
        kite_wr_be32(e + 16, head);
        atomic_thread_fence(memory_order_release);
        kite_wr_be32(slot_p(ix, f, slot), (uint32_t)count);
        count++;
    }
    h_set(f, bts, r->store_ts, bphys, pos, used, count);
    atomic_store(&ix->last_ts, r->store_ts);
    atomic_store(&ix->last_phys, pos);
    ix->done = pos + len;
    return 0;
}

int kite_index_flush(kite_store *s, kite_ckpt *ck)
{
    kite_index *ix = &s->ix;
    ck->ix_file = ix->enabled ? -1 : -2; /* -2: no index state (rebuilt when enabled) */
    ck->ix_count = ck->ix_end_phys = ck->ix_end_ts = 0;
    if (!ix->enabled) return 0;
    int rc = 0;
    pthread_rwlock_rdlock(&ix->lock);
    kite_mfile *last = ix->n ? ix->files[ix->n - 1] : NULL;
    for (size_t i = 0; i < ix->n && rc == 0; i++) {
        kite_mfile *f = ix->files[i];
        if (f->start < ix->synced_file) continue;
        int64_t used = IX_HDR + ix->slots * 4 + (int64_t)h_count(f) * IX_ENT;
        if (used > f->size) used = f->size;
        rc = s->io->ops->msync(s->io, f->base, (size_t)used);
    }
    if (rc == 0 && last) {
        ix->synced_file = last->start;
        ck->ix_file = last->start;
        ck->ix_count = h_count(last);
        ck->ix_end_phys = h_end_phys(last);
        ck->ix_end_ts = h_end_ts(last);
    }
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int kite_index_clean(kite_store *s, int64_t cl_min)
{
    kite_index *ix = &s->ix;
    int n = 0;
    int64_t ckf = atomic_load(&ix->ck_file);
    for (;;) {
        pthread_rwlock_wrlock(&ix->lock);
        kite_mfile *f = NULL;
        if (ix->n > 1 && ix->files[0]->start < ckf && h_end_phys(ix->files[0]) < cl_min) {
            f = ix->files[0];
            memmove(ix->files, ix->files + 1, (ix->n - 1) * sizeof *ix->files);
            ix->n--;
        }
        pthread_rwlock_unlock(&ix->lock);
        if (!f) break;
        KLOG_INFO("store", "retention: deleting index file %s (last entry at %lld < %lld)", f->path,
                  (long long)h_end_phys(f), (long long)cl_min);
        atomic_store(&f->unlink_on_free, 1);
        kite_mfile_unref(f);
        n++;
    }
    if (n) s->io->ops->sync_dir(s->io, ix->dir);
    return n;
}

/* ---- queries ---- */

static int key_in(const kite_record *r, const char *key, size_t kl)
{
    keyref keys[64];
    size_t n = record_keys(r, keys, sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < n; i++)
        if (keys[i].n == kl && memcmp(keys[i].p, key, kl) == 0) return 1;
    return 0;
}

static void add_seg(kite_get_result *out, const kite_store_seg *seg)
{
    out->segs = kite_xgrow(out->segs, &out->cap, out->count + 1, sizeof *out->segs, 16);
    out->segs[out->count++] = *seg;
    out->bytes += seg->len;
}

/* Verifies a candidate against the record it points to and adds it. */
static void consider(kite_store *s, int64_t phys, const char *topic, size_t tl, const char *key,
                     size_t kl, int64_t begin, int64_t end, kite_get_result *out)
{
    for (size_t i = 0; i < out->count; i++)
        if (out->segs[i].phys_offset == phys) return;
    kite_store_seg seg;
    if (kite_store_get_by_offset(s, phys, &seg, NULL) != KITE_OK) return;
    kite_record r;
    if (kite_record_decode(seg.data, seg.len, &r, 0, NULL) != (int)seg.len || r.topic_len != tl ||
        memcmp(r.topic, topic, tl) != 0 || r.store_ts < begin || r.store_ts > end ||
        !key_in(&r, key, kl))
        kite_store_seg_release(&seg);
    else
        add_seg(out, &seg);
}

int kite_store_query_by_key(kite_store *s, const char *topic, const char *key, int max_num,
                            int64_t begin_ts, int64_t end_ts, kite_get_result *out,
                            int64_t *last_update_ts, int64_t *last_update_phys)
{
    memset(out, 0, sizeof *out);
    out->status = KITE_GET_NO_MATCHED_MESSAGE;
    kite_index *ix = &s->ix;
    if (last_update_ts) *last_update_ts = atomic_load(&ix->last_ts);
    if (last_update_phys) *last_update_phys = atomic_load(&ix->last_phys);
    size_t tl = strlen(topic), kl = strlen(key);
    if (!ix->enabled || tl == 0 || tl > KITE_REC_MAX_TOPIC_V1 || kl == 0 || kl > KITE_REC_MAX_PROPS)
        return ix->enabled ? KITE_EINVAL : 0;
    if (max_num < 1) max_num = 1;
    int32_t h = kite_index_hash(topic, tl, key, kl);
    /* Snapshot the file list with references; search newest to oldest. */
    pthread_rwlock_rdlock(&ix->lock);
    size_t n = ix->n;
    kite_mfile **fs = kite_xcalloc(n, sizeof *fs);
    for (size_t i = 0; i < n; i++) {
        fs[i] = ix->files[i];
        kite_mfile_ref(fs[i]);
    }
    pthread_rwlock_unlock(&ix->lock);
    for (size_t i = n; i-- > 0 && out->count < (size_t)max_num;) {
        kite_mfile *f = fs[i];
        int64_t count = h_count(f);
        int64_t fb = h_begin_ts(f), fe = h_end_ts(f);
        if (count <= 1 || fb > end_ts || fe < begin_ts) continue;
        int64_t k = kite_rd_be32(slot_p(ix, f, h % ix->slots));
        atomic_thread_fence(memory_order_acquire);
        while (k > 0 && k < count && out->count < (size_t)max_num) {
            const uint8_t *e = ent_p(ix, f, k);
            int64_t ts = fb + (int64_t)kite_rd_be32(e + 12) * 1000;
            if (ts + 999 < begin_ts) break; /* chains run newest to oldest */
            if ((int32_t)kite_rd_be32(e) == h && ts <= end_ts)
                consider(s, (int64_t)kite_rd_be64(e + 4), topic, tl, key, kl, begin_ts, end_ts,
                         out);
            int64_t prev = kite_rd_be32(e + 16);
            if (prev >= k) break;
            k = prev;
        }
    }
    for (size_t i = 0; i < n; i++) kite_mfile_unref(fs[i]);
    free(fs);
    if (out->count) out->status = KITE_GET_FOUND;
    return 0;
}
