/* kite-fsck - offline checker for a KiteMQ store directory (the store must not be open).
 *
 * Owns: the report. Checks every commit-log record (the same validation as recovery:
 * magic, lengths, CRC, position, filler at file ends), per-queue queue-offset continuity,
 * that the bytes after the end of data are zero, every consume-queue unit against the record
 * it points to (offset in range, size, topic, queue id, queue offset, tag code), every index
 * entry (reachable from exactly one slot chain of the right slot, links backwards, phys
 * offsets in order, pointing at a record that carries a key with the entry's hash, time
 * difference right, header consistent) and that every key of every record the index covers
 * has its entry, and the checkpoint against the data. Read-only: files are mapped PROT_READ.
 * The index layout (maxHashSlotNum, maxIndexNum) is inferred from the file size when
 * entries = 4 x slots (RocketMQ's defaults keep that ratio), else given with -i S,E.
 * Does not own: repairing anything (the store's recovery does that).
 * Threads: single-threaded. Formats: docs/store-format.md.
 * Usage: kite-fsck [-v] [-i slots,entries] <storePathRootDir>; exit 0 clean, 1 problems
 * found, 2 usage/IO. */
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "codec/record.h"
#include "store/store_int.h"
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct seg {
    int64_t start, size;
    const uint8_t *p;
} seg;
typedef struct segs {
    seg *v;
    size_t n;
} segs;

static long problems;
static int verbose;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    if (problems++ < 50) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "PROBLEM: ");
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
}

static int cmpseg(const void *a, const void *b)
{
    int64_t x = ((const seg *)a)->start, y = ((const seg *)b)->start;
    return x < y ? -1 : x > y;
}

static int load_dir(const char *dir, segs *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return kite_status_from_errno_at(errno, "opendir", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 20 || strspn(e->d_name, "0123456789") != 20) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        int fd = open(p, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
            if (fd >= 0) close(fd);
            continue;
        }
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED) continue;
        out->v = kite_xreallocarray(out->v, out->n + 1, sizeof *out->v);
        out->v[out->n++] = (seg){ strtoll(e->d_name, NULL, 10), st.st_size, m };
    }
    closedir(d);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmpseg);
    return 0;
}

static const seg *find(const segs *s, int64_t off)
{
    for (size_t i = 0; i < s->n; i++)
        if (off >= s->v[i].start && off < s->v[i].start + s->v[i].size) return &s->v[i];
    return NULL;
}

typedef struct qnext {
    char topic[128];
    int32_t qid;
    int64_t next;
} qnext;

/* Keyed records seen in the commit log: (phys, number of index keys). */
typedef struct keyed {
    int64_t phys;
    int nkeys;
} keyed;
static keyed *kv;
static size_t nkv, capkv;

static size_t index_keys(const kite_record *r, kite_keyref *k, size_t max)
{
    if ((r->sysflag & KITE_SYSFLAG_TX_MASK) == KITE_SYSFLAG_TX_ROLLBACK) return 0;
    return kite_index_record_keys(r, k, max);
}

static int64_t check_commitlog(const segs *cl, long *nrec)
{
    qnext *qs = NULL;
    size_t nq = 0;
    int64_t pos = cl->n ? cl->v[0].start : 0, end = pos;
    for (size_t i = 0; i < cl->n; i++) {
        const seg *f = &cl->v[i];
        if (i > 0 && f->start != cl->v[i - 1].start + cl->v[i - 1].size)
            problem("commit log file %020lld does not follow the previous one",
                    (long long)f->start);
        if (f->size != cl->v[0].size)
            problem("commit log file %020lld has a different size", (long long)f->start);
    }
    for (;;) {
        const seg *f = find(cl, pos);
        if (!f) break;
        int64_t rel = pos - f->start;
        kite_record r;
        const char *why = NULL;
        int rc =
            kite_record_decode(f->p + rel, (size_t)(f->size - rel), &r, KITE_REC_CHECK_CRC, &why);
        if (rc == KITE_ENOTFOUND) {
            pos = f->start + f->size;
            end = pos;
            continue;
        }
        if (rc <= 0) {
            if (!(r.total_size == 0 && r.magic == 0)) {
                problem(
                    "invalid record at commit log offset %lld (file %020lld, position %lld): %s",
                    (long long)pos, (long long)f->start, (long long)rel, why ? why : "?");
            }
            /* Everything after the end must be zero. */
            for (int64_t k = rel; k < f->size; k++)
                if (f->p[k]) {
                    problem("non-zero bytes after the end of data in file %020lld",
                            (long long)f->start);
                    break;
                }
            break;
        }
        if (r.phys_offset != pos)
            problem("record at %lld: PHYSICALOFFSET mismatch", (long long)pos);
        int tx = r.sysflag & KITE_SYSFLAG_TX_MASK;
        if (tx != KITE_SYSFLAG_TX_PREPARED && tx != KITE_SYSFLAG_TX_ROLLBACK) {
            size_t j = 0;
            while (j < nq && !(qs[j].qid == r.queue_id && strlen(qs[j].topic) == r.topic_len &&
                               memcmp(qs[j].topic, r.topic, r.topic_len) == 0))
                j++;
            if (j == nq) {
                qs = kite_xreallocarray(qs, nq + 1, sizeof *qs);
                snprintf(qs[nq].topic, sizeof qs[nq].topic, "%.*s", (int)r.topic_len, r.topic);
                qs[nq].qid = r.queue_id;
                qs[nq].next = r.queue_offset;
                nq++;
            }
            if (r.queue_offset != qs[j].next)
                problem("queue %s/%d: record at %lld has queue offset %lld, expected %lld",
                        qs[j].topic, qs[j].qid, (long long)pos, (long long)r.queue_offset,
                        (long long)qs[j].next);
            qs[j].next = r.queue_offset + 1;
        }
        kite_keyref keys[64];
        size_t nk = index_keys(&r, keys, 64);
        if (nk) {
            kv = kite_xgrow(kv, &capkv, nkv + 1, sizeof *kv, 1024);
            kv[nkv++] = (keyed){ pos, (int)nk };
        }
        (*nrec)++;
        pos += rc;
        end = pos;
    }
    free(qs);
    return end;
}

static long check_queue(const char *dir, const char *topic, int32_t qid, const segs *cl,
                        int64_t cl_end)
{
    segs cq;
    if (load_dir(dir, &cq) < 0) return 0;
    long units = 0;
    int64_t cl_min = cl->n ? cl->v[0].start : 0;
    for (size_t i = 0; i < cq.n; i++) {
        for (int64_t b = 0; b + KITE_CQ_UNIT <= cq.v[i].size; b += KITE_CQ_UNIT) {
            const uint8_t *u = cq.v[i].p + b;
            int64_t phys = (int64_t)kite_rd_be64(u);
            int32_t size = (int32_t)kite_rd_be32(u + 8);
            int64_t tag = (int64_t)kite_rd_be64(u + 12);
            int64_t idx = (cq.v[i].start + b) / KITE_CQ_UNIT;
            if (size == 0) goto done;
            if (size == 0x7FFFFFFF && phys == 0) continue;
            units++;
            if (phys < cl_min) continue; /* commit log already deleted */
            const seg *f = find(cl, phys);
            kite_record r;
            if (!f || phys + size > cl_end ||
                kite_record_decode(f->p + (phys - f->start), (size_t)(f->start + f->size - phys),
                                   &r, 0, NULL) != size) {
                problem("queue %s: unit %lld does not point at a record", dir, (long long)idx);
                continue;
            }
            if (r.queue_id != qid || r.topic_len != strlen(topic) ||
                memcmp(r.topic, topic, r.topic_len) != 0 || r.queue_offset != idx ||
                kite_tag_code(r.props, r.props_len) != tag)
                problem("queue %s: unit %lld disagrees with its record", dir, (long long)idx);
        }
    }
done:
    for (size_t i = 0; i < cq.n; i++) munmap((void *)cq.v[i].p, (size_t)cq.v[i].size);
    free(cq.v);
    return units;
}

/* ---- index ---- */

static long check_index(const char *root, const segs *cl, int64_t cl_end, int64_t slots,
                        int64_t entries, int ck_has_index)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/index", root);
    segs ix;
    long nent = 0;
    if (load_dir(dir, &ix) < 0 || ix.n == 0) {
        if (ck_has_index) problem("the checkpoint names an index file but %s has none", dir);
        free(ix.v);
        return 0;
    }
    if (slots <= 0) {
        int64_t body = ix.v[0].size - KITE_IX_HDR;
        if (body > 0 && body % 84 == 0) {
            slots = body / 84;
            entries = slots * 4;
        } else {
            problem("index: cannot infer maxHashSlotNum/maxIndexNum from the file size %lld; "
                    "pass -i slots,entries",
                    (long long)ix.v[0].size);
            goto out;
        }
    }
    int64_t cl_min = cl->n ? cl->v[0].start : 0, checked = 0, lo = -1, hi = -1;
    uint8_t *seen = NULL;
    entries = entries < 2 ? 2 : entries;
    for (size_t i = 0; i < ix.n; i++) {
        const seg *f = &ix.v[i];
        const uint8_t *b = f->p;
        if (f->size != KITE_IX_HDR + slots * 4 + entries * KITE_IX_ENT) {
            problem("index file %020lld: size %lld does not match %lld slots, %lld entries",
                    (long long)f->start, (long long)f->size, (long long)slots, (long long)entries);
            continue;
        }
        if (i > 0 && f->start != ix.v[i - 1].start + 1)
            problem("index file %020lld does not follow %020lld", (long long)f->start,
                    (long long)ix.v[i - 1].start);
        int64_t bts = (int64_t)kite_rd_be64(b), ets = (int64_t)kite_rd_be64(b + 8);
        int64_t bphys = (int64_t)kite_rd_be64(b + 16), ephys = (int64_t)kite_rd_be64(b + 24);
        int64_t used = (int32_t)kite_rd_be32(b + 32), count = (int32_t)kite_rd_be32(b + 36);
        (void)ets;
        if (count < 1 || count > entries) {
            problem("index file %020lld: indexCount %lld out of range", (long long)f->start,
                    (long long)count);
            continue;
        }
        const uint8_t *ent = b + KITE_IX_HDR + slots * 4;
        seen = kite_xrealloc(seen, (size_t)count);
        memset(seen, 0, (size_t)count);
        int64_t nused = 0;
        for (int64_t sl = 0; sl < slots; sl++) {
            int64_t k = kite_rd_be32(b + KITE_IX_HDR + sl * 4);
            if (k) nused++;
            while (k > 0) {
                if (k >= count || seen[k]) {
                    problem("index file %020lld: slot %lld chain reaches entry %lld %s",
                            (long long)f->start, (long long)sl, (long long)k,
                            k >= count ? "past indexCount" : "twice");
                    break;
                }
                seen[k] = 1;
                const uint8_t *e = ent + k * KITE_IX_ENT;
                if ((int64_t)(kite_rd_be32(e) % (uint32_t)slots) != sl)
                    problem("index file %020lld: entry %lld is in the chain of the wrong slot",
                            (long long)f->start, (long long)k);
                int64_t prev = kite_rd_be32(e + 16);
                if (prev >= k) {
                    problem("index file %020lld: entry %lld links forward to %lld",
                            (long long)f->start, (long long)k, (long long)prev);
                    break;
                }
                k = prev;
            }
        }
        if (nused != used)
            problem("index file %020lld: hashSlotCount %lld, %lld slots in use",
                    (long long)f->start, (long long)used, (long long)nused);
        int64_t last = -1;
        for (int64_t n = 1; n < count; n++) {
            const uint8_t *e = ent + n * KITE_IX_ENT;
            int32_t h = (int32_t)kite_rd_be32(e);
            int64_t phys = (int64_t)kite_rd_be64(e + 4);
            int64_t td = kite_rd_be32(e + 12);
            if (!seen[n])
                problem("index file %020lld: entry %lld is in no slot chain", (long long)f->start,
                        (long long)n);
            if (phys < last)
                problem("index file %020lld: entry %lld goes back to offset %lld",
                        (long long)f->start, (long long)n, (long long)phys);
            last = phys;
            nent++;
            if (n == 1 && phys != bphys)
                problem("index file %020lld: beginPhyOffset %lld, first entry %lld",
                        (long long)f->start, (long long)bphys, (long long)phys);
            if (phys < cl_min) continue; /* commit log already deleted */
            if (lo < 0) lo = phys;
            const seg *c = find(cl, phys);
            kite_record r;
            if (!c || phys >= cl_end ||
                kite_record_decode(c->p + (phys - c->start), (size_t)(c->start + c->size - phys),
                                   &r, 0, NULL) <= 0) {
                problem("index file %020lld: entry %lld (offset %lld) does not point at a record",
                        (long long)f->start, (long long)n, (long long)phys);
                continue;
            }
            kite_keyref keys[64];
            size_t nk = index_keys(&r, keys, 64), j = 0;
            while (j < nk && kite_index_hash(r.topic, r.topic_len, keys[j].p, keys[j].n) != h) j++;
            if (j == nk)
                problem("index file %020lld: entry %lld: no key of the record at %lld has its hash",
                        (long long)f->start, (long long)n, (long long)phys);
            int64_t want = (r.store_ts - bts) / 1000;
            want = want < 0 ? 0 : want > INT32_MAX ? INT32_MAX : want;
            if (td != want)
                problem("index file %020lld: entry %lld: time difference %lld, expected %lld",
                        (long long)f->start, (long long)n, (long long)td, (long long)want);
            checked++;
        }
        if (count > 1 && ephys != last)
            problem("index file %020lld: endPhyOffset %lld, last entry %lld", (long long)f->start,
                    (long long)ephys, (long long)last);
        if (count > 1) hi = last;
    }
    /* Completeness: every key of every record in [lo, hi] has an entry. */
    if (lo >= 0) {
        int64_t want = 0;
        for (size_t i = 0; i < nkv; i++)
            if (kv[i].phys >= lo && kv[i].phys <= hi) want += kv[i].nkeys;
        if (want != checked)
            problem("index: %lld entries for records in [%lld, %lld], the records carry %lld keys",
                    (long long)checked, (long long)lo, (long long)hi, (long long)want);
    }
    free(seen);
    if (verbose)
        printf("index: %zu files, %ld entries, %lld checked against records\n", ix.n, nent,
               (long long)checked);
out:
    for (size_t i = 0; i < ix.n; i++) munmap((void *)ix.v[i].p, (size_t)ix.v[i].size);
    free(ix.v);
    return nent;
}

int main(int argc, char **argv)
{
    int a = 1;
    long long islots = 0, ientries = 0;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
            printf(
                "usage: kite-fsck [-v] [-i slots,entries] <storePathRootDir>\n"
                "  checks every commit-log record, every consume-queue unit against the commit log,\n"
                "  and the index; prints a report; exit 0 clean, 1 problems found, 2 usage/IO\n"
                "  -v  list every problem      -i  index layout when not inferable (slots,entries)\n");
            return 0;
        }
        if (strcmp(argv[a], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[a], "-i") == 0 && a + 1 < argc &&
                 sscanf(argv[a + 1], "%lld,%lld", &islots, &ientries) == 2 && islots > 0 &&
                 ientries > 1)
            a++;
        else {
            fprintf(stderr, "kite-fsck: unknown option '%s' (try -h)\n", argv[a]);
            return 2;
        }
    }
    if (a + 1 != argc) {
        fprintf(stderr, "usage: kite-fsck [-v] [-i slots,entries] <storePathRootDir>\n");
        return 2;
    }
    const char *root = argv[a];
    char p[4096];
    snprintf(p, sizeof p, "%s/commitlog", root);
    segs cl;
    int rc = load_dir(p, &cl);
    if (rc < 0) {
        fprintf(stderr, "kite-fsck: cannot read %s: %s\n", p, kite_strerror(rc));
        return 2;
    }
    long nrec = 0;
    int64_t end = check_commitlog(&cl, &nrec);
    snprintf(p, sizeof p, "%s/checkpoint", root);
    kite_ckpt ck;
    char err[256];
    rc = kite_ckpt_read(kite_io_posix(), p, &ck, err, sizeof err);
    if (rc == 0 && ck.cl_flushed > end)
        problem("checkpoint says %lld bytes were durable, data ends at %lld",
                (long long)ck.cl_flushed, (long long)end);
    snprintf(p, sizeof p, "%s/consumequeue", root);
    long units = 0, queues = 0;
    DIR *d = opendir(p);
    struct dirent *t;
    while (d && (t = readdir(d)) != NULL) {
        if (t->d_name[0] == '.') continue;
        char td[4400];
        snprintf(td, sizeof td, "%s/%.200s", p, t->d_name);
        DIR *qd = opendir(td);
        struct dirent *q;
        while (qd && (q = readdir(qd)) != NULL) {
            if (q->d_name[0] == '.') continue;
            char qdir[4500];
            snprintf(qdir, sizeof qdir, "%s/%.20s", td, q->d_name);
            units += check_queue(qdir, t->d_name, (int32_t)atoi(q->d_name), &cl, end);
            queues++;
        }
        if (qd) closedir(qd);
    }
    if (d) closedir(d);
    long ixent = check_index(root, &cl, end, islots, ientries, rc == 0 && ck.ix_file >= 0);
    free(kv);
    snprintf(p, sizeof p, "%s/abort", root);
    int unclean = access(p, F_OK) == 0;
    printf("%s: %zu commit log files, %ld records, data ends at %lld; %ld queues, %ld units; "
           "%ld index entries; %s; %s\n",
           root, cl.n, nrec, (long long)end, queues, units, ixent,
           unclean ? "abort marker present (last shutdown was not clean)" : "clean shutdown",
           problems ? "PROBLEMS FOUND" : "OK");
    if (problems > 50) printf("(%ld problems, first 50 shown)\n", problems);
    for (size_t i = 0; i < cl.n; i++) munmap((void *)cl.v[i].p, (size_t)cl.v[i].size);
    free(cl.v);
    return problems ? 1 : 0;
}
