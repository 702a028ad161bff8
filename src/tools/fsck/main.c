/* kite-fsck - offline checker for a KiteMQ store directory (the store must not be open).
 *
 * Owns: the report. Checks every commit-log record (the same validation as recovery:
 * magic, lengths, CRC, position, filler at file ends), per-queue queue-offset continuity,
 * that the bytes after the end of data are zero, every consume-queue unit against the record
 * it points to (offset in range, size, topic, queue id, queue offset, tag code), and the
 * checkpoint against the data. Read-only: files are mapped PROT_READ.
 * Does not own: repairing anything (the store's recovery does that).
 * Threads: single-threaded. Formats: docs/store-format.md.
 * Usage: kite-fsck [-v] <storePathRootDir>; exit 0 clean, 1 problems found, 2 usage/IO. */
#include "base/buf.h"
#include "base/err.h"
#include "codec/record.h"
#include "store/store_int.h"
#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct seg { int64_t start, size; const uint8_t *p; } seg;
typedef struct segs { seg *v; size_t n; } segs;

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
    if (!d) return -1;
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
        out->v = realloc(out->v, (out->n + 1) * sizeof *out->v);
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

typedef struct qnext { char topic[128]; int32_t qid; int64_t next; } qnext;

static int64_t check_commitlog(const segs *cl, long *nrec)
{
    qnext *qs = NULL;
    size_t nq = 0;
    int64_t pos = cl->n ? cl->v[0].start : 0, end = pos;
    for (size_t i = 0; i < cl->n; i++) {
        const seg *f = &cl->v[i];
        if (i > 0 && f->start != cl->v[i - 1].start + cl->v[i - 1].size)
            problem("commit log file %020lld does not follow the previous one", (long long)f->start);
        if (f->size != cl->v[0].size) problem("commit log file %020lld has a different size", (long long)f->start);
    }
    for (;;) {
        const seg *f = find(cl, pos);
        if (!f) break;
        int64_t rel = pos - f->start;
        kite_record r;
        const char *why = NULL;
        int rc = kite_record_decode(f->p + rel, (size_t)(f->size - rel), &r, KITE_REC_CHECK_CRC, &why);
        if (rc == KITE_ENOTFOUND) {
            pos = f->start + f->size;
            end = pos;
            continue;
        }
        if (rc <= 0) {
            if (!(r.total_size == 0 && r.magic == 0)) {
                problem("invalid record at commit log offset %lld (file %020lld, position %lld): %s",
                        (long long)pos, (long long)f->start, (long long)rel, why ? why : "?");
            }
            /* Everything after the end must be zero. */
            for (int64_t k = rel; k < f->size; k++)
                if (f->p[k]) {
                    problem("non-zero bytes after the end of data in file %020lld", (long long)f->start);
                    break;
                }
            break;
        }
        if (r.phys_offset != pos) problem("record at %lld: PHYSICALOFFSET mismatch", (long long)pos);
        int tx = r.sysflag & KITE_SYSFLAG_TX_MASK;
        if (tx != KITE_SYSFLAG_TX_PREPARED && tx != KITE_SYSFLAG_TX_ROLLBACK) {
            size_t j = 0;
            while (j < nq && !(qs[j].qid == r.queue_id && strlen(qs[j].topic) == r.topic_len &&
                               memcmp(qs[j].topic, r.topic, r.topic_len) == 0))
                j++;
            if (j == nq) {
                qs = realloc(qs, (nq + 1) * sizeof *qs);
                snprintf(qs[nq].topic, sizeof qs[nq].topic, "%.*s", (int)r.topic_len, r.topic);
                qs[nq].qid = r.queue_id;
                qs[nq].next = r.queue_offset;
                nq++;
            }
            if (r.queue_offset != qs[j].next)
                problem("queue %s/%d: record at %lld has queue offset %lld, expected %lld", qs[j].topic, qs[j].qid, (long long)pos, (long long)r.queue_offset, (long long)qs[j].next);
            qs[j].next = r.queue_offset + 1;
        }
        (*nrec)++;
        pos += rc;
        end = pos;
    }
    free(qs);
    return end;
}

static long check_queue(const char *dir, const char *topic, int32_t qid, const segs *cl, int64_t cl_end)
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
            if (phys < cl_min) continue;   /* commit log already deleted */
            const seg *f = find(cl, phys);
            kite_record r;
            if (!f || phys + size > cl_end ||
                kite_record_decode(f->p + (phys - f->start), (size_t)(f->start + f->size - phys), &r, 0, NULL) != size) {
                problem("queue %s: unit %lld does not point at a record", dir, (long long)idx);
                continue;
            }
            if (r.queue_id != qid || r.topic_len != strlen(topic) || memcmp(r.topic, topic, r.topic_len) != 0 ||
                r.queue_offset != idx || kite_tag_code(r.props, r.props_len) != tag)
                problem("queue %s: unit %lld disagrees with its record", dir, (long long)idx);
        }
    }
done:
    for (size_t i = 0; i < cq.n; i++) munmap((void *)cq.v[i].p, (size_t)cq.v[i].size);
    free(cq.v);
    return units;
}

int main(int argc, char **argv)
{
    int a = 1;
    if (a < argc && strcmp(argv[a], "-v") == 0) {
        verbose = 1;
        a++;
    }
    if (a + 1 != argc) {
        fprintf(stderr, "usage: kite-fsck [-v] <storePathRootDir>\n");
        return 2;
    }
    const char *root = argv[a];
    char p[4096];
    snprintf(p, sizeof p, "%s/commitlog", root);
    segs cl;
    if (load_dir(p, &cl) < 0) {
        fprintf(stderr, "kite-fsck: cannot read %s\n", p);
        return 2;
    }
    long nrec = 0;
    int64_t end = check_commitlog(&cl, &nrec);
    snprintf(p, sizeof p, "%s/checkpoint", root);
    kite_ckpt ck;
    char err[256];
    int rc = kite_ckpt_read(kite_io_posix(), p, &ck, err, sizeof err);
    if (rc == 0 && ck.cl_flushed > end)
        problem("checkpoint says %lld bytes were durable, data ends at %lld", (long long)ck.cl_flushed, (long long)end);
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
    snprintf(p, sizeof p, "%s/abort", root);
    int unclean = access(p, F_OK) == 0;
    printf("%s: %zu commit log files, %ld records, data ends at %lld; %ld queues, %ld units; %s; %s\n",
           root, cl.n, nrec, (long long)end, queues, units,
           unclean ? "abort marker present (last shutdown was not clean)" : "clean shutdown",
           problems ? "PROBLEMS FOUND" : "OK");
    if (problems > 50) printf("(%ld problems, first 50 shown)\n", problems);
    for (size_t i = 0; i < cl.n; i++) munmap((void *)cl.v[i].p, (size_t)cl.v[i].size);
    free(cl.v);
    return problems ? 1 : 0;
}
