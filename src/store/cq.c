/* cq.c - consume queues: per (topic, queue id) arrays of 20-byte units, and the table
 * that finds them.
 *
 * Unit (big-endian), the entry for queue offset N at byte N*20 of the queue:
 *   off size field
 *     0   8  commit-log offset of the record
 *     8   4  record size (0x7FFFFFFF with offset 0 = placeholder for a gap)
 *    12   8  tag code (Java hash of TAGS, sign-extended; 0 = no tag)
 * Files: <root>/consumequeue/<topic>/<queueId>/<20-digit byte offset>, each
 * mappedFileSizeConsumeQueue bytes. See docs/store-format.md, "Consume queue".
 *
 * Owns: the units, their recovery (valid prefix, cut to the commit log's end), and the
 * queue table. Does not own: deciding what to dispatch (dispatch.c).
 * Threads: only the dispatcher (or open/close) writes units and publishes max_index with
 * release; readers take file references through the mfq read lock. The table is guarded
 * by an rwlock; queues are never freed while the store is open. */
#include "store/store_int.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLACEHOLDER_SIZE 0x7FFFFFFF

void kite_cqt_init(kite_cq_table *t)
{
    memset(t, 0, sizeof *t);
    pthread_rwlock_init(&t->lock, NULL);
    t->nbuckets = 256;
    t->buckets = kite_xcalloc(t->nbuckets, sizeof *t->buckets);
}

void kite_cqt_destroy(kite_cq_table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        kite_cq *c = t->buckets[i];
        while (c) {
            kite_cq *n = c->next;
            kite_mfq_destroy(&c->q);
            free(c->topic);
            free(c);
            c = n;
        }
    }
    free(t->buckets);
    pthread_rwlock_destroy(&t->lock);
}

static uint64_t hash(const char *t, size_t n, int32_t qid)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)t[i]) * 1099511628211ULL;
    h = (h ^ (uint32_t)qid) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static kite_cq *lookup(kite_cq_table *t, const char *topic, size_t tlen, int32_t qid)
{
    kite_cq *c = t->buckets[hash(topic, tlen, qid) & (t->nbuckets - 1)];
    for (; c; c = c->next)
        if (c->qid == qid && c->topic_len == tlen && memcmp(c->topic, topic, tlen) == 0) return c;
    return NULL;
}

kite_cq *kite_cqt_find(kite_store *s, const char *topic, size_t tlen, int32_t qid)
{
    pthread_rwlock_rdlock(&s->cqs.lock);
    kite_cq *c = lookup(&s->cqs, topic, tlen, qid);
    pthread_rwlock_unlock(&s->cqs.lock);
    return c;
}

static void rehash(kite_cq_table *t)
{
    size_t nb = t->nbuckets * 2;
    kite_cq **b = kite_xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < t->nbuckets; i++) {
        kite_cq *c = t->buckets[i];
        while (c) {
            kite_cq *n = c->next;
            size_t k = hash(c->topic, c->topic_len, c->qid) & (nb - 1);
            c->next = b[k];
            b[k] = c;
            c = n;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
}

kite_cq *kite_cqt_get(kite_store *s, const char *topic, size_t tlen, int32_t qid)
{
    kite_cq *c = kite_cqt_find(s, topic, tlen, qid);
    if (c) return c;
    pthread_rwlock_wrlock(&s->cqs.lock);
    c = lookup(&s->cqs, topic, tlen, qid);
    if (!c) {
        c = kite_xcalloc(1, sizeof *c);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%.*s/%d", s->cq_dir, (int)tlen, topic, (int)qid);
        kite_mfq_init(&c->q, s->io, dir, s->o.cq_file_size);
        c->topic = kite_xstrndup(topic, tlen);
        c->topic_len = tlen;
        c->qid = qid;
        kite_cq_table *t = &s->cqs;
        if (t->count >= t->nbuckets) rehash(t);
        size_t k = hash(topic, tlen, qid) & (t->nbuckets - 1);
        c->next = t->buckets[k];
        t->buckets[k] = c;
        t->count++;
    }
    pthread_rwlock_unlock(&s->cqs.lock);
    return c;
}

void kite_cqt_each(kite_store *s, void (*fn)(kite_store *, kite_cq *, void *), void *arg)
{
    pthread_rwlock_rdlock(&s->cqs.lock);
    for (size_t i = 0; i < s->cqs.nbuckets; i++)
        for (kite_cq *c = s->cqs.buckets[i]; c; c = c->next) fn(s, c, arg);
    pthread_rwlock_unlock(&s->cqs.lock);
}

int kite_cq_unit(kite_cq *cq, int64_t idx, int64_t *phys, int32_t *size, int64_t *tag)
{
    kite_mfile *f = kite_mfq_find(&cq->q, idx * KITE_CQ_UNIT);
    if (!f) return KITE_ENOTFOUND;
    const uint8_t *u = f->base + (idx * KITE_CQ_UNIT - f->start);
    *phys = (int64_t)kite_rd_be64(u);
    *size = (int32_t)kite_rd_be32(u + 8);
    if (tag) *tag = (int64_t)kite_rd_be64(u + 12);
    kite_mfile_unref(f);
    return 0;
}

/* ---- recovery ---- */

typedef struct load_ctx {
    kite_store *s;
    const char *topic;
    int crashed;
    int64_t cl_end, cl_min;
    int64_t min_phys_end; /* smallest max_phys_end over queues (re-dispatch start) */
    int rc;
    char *err;
    size_t errlen;
} load_ctx;

static int unit_ok(const uint8_t *u, int64_t prev_phys, int64_t cl_end)
{
    int64_t phys = (int64_t)kite_rd_be64(u);
    int32_t size = (int32_t)kite_rd_be32(u + 8);
    if (size == PLACEHOLDER_SIZE && phys == 0) return 1;
    return size > 0 && phys >= 0 && phys > prev_phys && phys + size <= cl_end;
}

/* Number of valid units from the start of the queue's files. */
static int64_t find_end(kite_cq *cq, int crashed, int64_t cl_end)
{
    kite_mfq *q = &cq->q;
    if (q->n == 0) return 0;
    int64_t per = q->file_size / KITE_CQ_UNIT;
    if (!crashed) {
        /* Clean: units are a dense prefix of the last file; binary search the first hole,
         * then step back over units the commit log does not cover. */
        kite_mfile *f = q->files[q->n - 1];
        int64_t lo = 0, hi = per;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if ((int32_t)kite_rd_be32(f->base + mid * KITE_CQ_UNIT + 8) != 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        int64_t idx = f->start / KITE_CQ_UNIT + lo;
        while (idx > q->files[0]->start / KITE_CQ_UNIT) {
            int64_t phys;
            int32_t size;
            if (kite_cq_unit(cq, idx - 1, &phys, &size, NULL) != 0) break;
            if ((size == PLACEHOLDER_SIZE && phys == 0) || phys + size <= cl_end) break;
            idx--;
        }
        return idx;
    }
    int64_t prev = -1;
    for (size_t i = 0; i < q->n; i++) {
        kite_mfile *f = q->files[i];
        for (int64_t k = 0; k < per; k++) {
            const uint8_t *u = f->base + k * KITE_CQ_UNIT;
            if (!unit_ok(u, prev, cl_end)) return f->start / KITE_CQ_UNIT + k;
            int64_t phys = (int64_t)kite_rd_be64(u);
            if (!((int32_t)kite_rd_be32(u + 8) == PLACEHOLDER_SIZE && phys == 0)) prev = phys;
        }
    }
    return q->files[q->n - 1]->start / KITE_CQ_UNIT + per;
}

static int load_queue(load_ctx *c, const char *topic, int32_t qid)
{
    kite_store *s = c->s;
    kite_cq *cq = kite_cqt_get(s, topic, strlen(topic), qid);
    int short_ok = c->crashed;
    int rc = kite_mfq_load(&cq->q, &short_ok, c->err, c->errlen);
    if (rc < 0) return rc;
    int64_t end = find_end(cq, c->crashed, c->cl_end);
    int64_t first = cq->q.n ? cq->q.files[0]->start / KITE_CQ_UNIT : 0;
    if (end < first) end = first;
    /* Positions: everything before end written; in a crash the bytes may be only in the
     * page cache, so they count as not yet flushed. */
    int64_t bytes = end * KITE_CQ_UNIT;
    for (size_t i = 0; i < cq->q.n; i++) {
        kite_mfile *f = cq->q.files[i];
        int64_t w = bytes - f->start;
        w = w < 0 ? 0 : w > f->size ? f->size : w;
        atomic_store(&f->wrote, w);
        atomic_store(&f->flushed, c->crashed ? 0 : w);
    }
    if (c->crashed) {
        rc = kite_mfq_truncate(&cq->q, bytes);
        if (rc < 0) {
            snprintf(c->err, c->errlen, "truncating consume queue %s/%d: %s", topic, qid,
                     kite_strerror(rc));
            return KITE_EIO;
        }
    }
    atomic_store(&cq->max_index, end);
    cq->flushed_index = c->crashed ? first : end;
    /* The min offset: the first unit whose record the commit log still holds. Leading
     * placeholders (a queue that starts inside its first file) are skipped too. */
    int64_t min = first;
    int64_t phys = 0;
    int32_t size = 0;
    while (min < end && kite_cq_unit(cq, min, &phys, &size, NULL) == 0 &&
           ((size == PLACEHOLDER_SIZE && phys == 0) || phys < c->cl_min))
        min++;
    atomic_store(&cq->min_index, min);
    cq->max_phys_end = 0;
    for (int64_t i = end - 1; i >= first; i--) {
        if (kite_cq_unit(cq, i, &phys, &size, NULL) != 0) break;
        if (size == PLACEHOLDER_SIZE && phys == 0) continue;
        cq->max_phys_end = phys + size;
        break;
    }
    cq->put_next = end;
    if (cq->max_phys_end < c->min_phys_end) c->min_phys_end = cq->max_phys_end;
    return 0;
}

static int each_qid(void *arg, const char *name, int is_dir)
{
    load_ctx *c = arg;
    if (!is_dir) return 0;
    char *endp;
    long q = strtol(name, &endp, 10);
    if (*endp || q < 0 || q > 0x7FFFFFFF) {
        KLOG_WARN("store", "ignoring consume queue directory %s/%s", c->topic, name);
        return 0;
    }
    c->rc = load_queue(c, c->topic, (int32_t)q);
    return c->rc < 0;
}

static int each_topic(void *arg, const char *name, int is_dir)
{
    load_ctx *c = arg;
    if (!is_dir) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", c->s->cq_dir, name);
    c->topic = name;
    int rc = c->s->io->ops->list_dir(c->s->io, dir, each_qid, c);
    if (rc < 0 && c->rc == 0) {
        snprintf(c->err, c->errlen, "listing %s: %s", dir, kite_strerror(rc));
        c->rc = KITE_EIO;
    }
    return c->rc < 0;
}

int kite_cq_load_all(kite_store *s, int crashed, int64_t cl_end, int64_t *min_phys_end, char *err,
                     size_t errlen)
{
    int64_t cl_min = kite_mfq_min_offset(&s->cl);
    load_ctx c = { s, NULL, crashed, cl_end, cl_min < 0 ? 0 : cl_min, INT64_MAX, 0, err, errlen };
    int rc = s->io->ops->list_dir(s->io, s->cq_dir, each_topic, &c);
    if (rc < 0 && rc != KITE_ENOTFOUND) {
        snprintf(err, errlen, "listing %s: %s", s->cq_dir, kite_strerror(rc));
        return KITE_EIO;
    }
    if (c.rc < 0) return c.rc;
    *min_phys_end = c.min_phys_end == INT64_MAX ? -1 : c.min_phys_end;
    return 0;
}

/* ---- dispatcher writes ---- */

static int write_unit(kite_cq *cq, int64_t idx, int64_t phys, int32_t size, int64_t tag)
{
    int64_t byte = idx * KITE_CQ_UNIT;
    kite_mfile *f = kite_mfq_find(&cq->q, byte);
    if (!f) {
        kite_mfile *last = kite_mfq_last(&cq->q);
        int64_t start = last ? last->start + last->size : byte - byte % cq->q.file_size;
        if (byte < start || byte >= start + cq->q.file_size) return KITE_EINVAL;
        kite_mfile *nf;
        int rc = kite_mfq_create(&cq->q, start, &nf);
        if (rc < 0) return rc;
        f = nf;
        kite_mfile_ref(f);
    }
    uint8_t *u = f->base + (byte - f->start);
    kite_wr_be64(u, (uint64_t)phys);
    kite_wr_be32(u + 8, (uint32_t)size);
    kite_wr_be64(u + 12, (uint64_t)tag);
    int64_t w = byte - f->start + KITE_CQ_UNIT;
    if (w > atomic_load(&f->wrote)) atomic_store_explicit(&f->wrote, w, memory_order_release);
    kite_mfile_unref(f);
    return 0;
}

int kite_cq_put(kite_store *s, kite_cq *cq, int64_t qoff, int64_t phys, int32_t size, int64_t tag)
{
    (void)s;
    if (phys + size <= cq->max_phys_end) return 0; /* re-dispatch of a known record */
    int64_t idx = atomic_load_explicit(&cq->max_index, memory_order_relaxed);
    if (qoff < idx) {
        KLOG_ERROR("store",
                   "consume queue %s/%d: record at %lld claims queue offset %lld but "
                   "the queue already has %lld units; skipped",
                   cq->topic, cq->qid, (long long)phys, (long long)qoff, (long long)idx);
        cq->max_phys_end = phys + size;
        return 0;
    }
    if (qoff > idx && idx == 0 && kite_mfq_count(&cq->q) == 0) {
        /* A new queue whose first record is not its first message: a replica that copied
         * the master's log from a later file. The queue starts in the file holding qoff;
         * units before qoff in that file are placeholders and the min offset is qoff. */
        int64_t per = cq->q.file_size / KITE_CQ_UNIT;
        idx = qoff - qoff % per;
        cq->flushed_index = idx;
        atomic_store_explicit(&cq->min_index, qoff, memory_order_release);
        KLOG_INFO("store", "consume queue %s/%d starts at queue offset %lld (the record at %lld)",
                  cq->topic, cq->qid, (long long)qoff, (long long)phys);
    } else if (qoff > idx) {
        KLOG_WARN("store", "consume queue %s/%d: gap %lld..%lld filled with placeholders",
                  cq->topic, cq->qid, (long long)idx, (long long)qoff);
    }
    if (qoff > idx) {
        for (int64_t i = idx; i < qoff; i++) {
            int rc = write_unit(cq, i, 0, PLACEHOLDER_SIZE, 0);
            if (rc < 0) return rc;
        }
    }
    int rc = write_unit(cq, qoff, phys, size, tag);
    if (rc < 0) return rc;
    cq->max_phys_end = phys + size;
    atomic_store_explicit(&cq->max_index, qoff + 1, memory_order_release);
    return 0;
}

static void flush_one(kite_store *s, kite_cq *cq, void *arg)
{
    (void)s;
    int *rc = arg;
    int64_t max = atomic_load(&cq->max_index);
    if (cq->flushed_index >= max) return;
    int64_t pos = cq->flushed_index * KITE_CQ_UNIT, upto = max * KITE_CQ_UNIT;
    while (pos < upto) {
        kite_mfile *f = kite_mfq_find(&cq->q, pos);
        if (!f) break;
        int64_t rel = upto - f->start;
        if (rel > f->size) rel = f->size;
        int r = kite_mfile_flush(f, rel);
        pos = f->start + rel;
        kite_mfile_unref(f);
        if (r < 0) {
            if (*rc == 0) *rc = r;
            return;
        }
    }
    cq->flushed_index = pos / KITE_CQ_UNIT;
}

int kite_cq_flush_all(kite_store *s)
{
    int rc = 0;
    kite_cqt_each(s, flush_one, &rc);
    return rc;
}
