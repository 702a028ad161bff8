/* store_crash.c - kill -9 cycle driver (see store_crash.h). */
#include "store_crash.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/time.h"
#include "store_testutil.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPIC "KillTopic"
#define NQ    3
#define MINB  16
#define MAXB  700

typedef struct ack {
    int64_t seq, phys, qoff;
} ack;

typedef struct child_w {
    kite_store *s;
    int64_t seq;
    int wfd;
} child_w;

static void *child_writer(void *arg)
{
    child_w *w = arg;
    kt_msg *k = kite_xmalloc(sizeof *k);
    for (int64_t seq = w->seq;; seq++) {
        kt_msg_make(k, (uint64_t)seq, TOPIC, (int32_t)(seq % NQ), MINB, MAXB);
        kite_put_result r;
        kite_store_put_wait(w->s, &k->m, &r);
        if (r.status != KITE_PUT_OK) _exit(5);
        ack a = { seq, r.phys_offset, r.queue_offset };
        if (write(w->wfd, &a, sizeof a) != sizeof a) _exit(6); /* atomic: < PIPE_BUF */
    }
    return NULL;
}

static void child(const char *dir, int64_t seq, int wfd)
{
    kite_store_opts o;
    kt_opts(&o, dir, 1, 64 * 1024, 20 * 128);
    o.warm_files = seq % 2 == 0; /* half the children run the allocation/warm-up service */
    char err[512];
    kite_store *s = kite_store_open(&o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "child open: %s\n", err);
        _exit(3);
    }
    ack hello = { -1, 0, 0 };
    if (write(wfd, &hello, sizeof hello) != sizeof hello) _exit(4);
    child_w w[2] = { { s, seq, wfd }, { s, seq + 500000000, wfd } };
    pthread_t t;
    pthread_create(&t, NULL, child_writer, &w[1]);
    child_writer(&w[0]);
    _exit(7);
}

static int verify(const char *dir, const ack *acks, size_t n, int64_t *next_seq)
{
    kite_store_opts o;
    kt_opts(&o, dir, 1, 64 * 1024, 20 * 128);
    char err[512];
    kite_store *s = kite_store_open(&o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "verify: open failed: %s\n", err);
        return 1;
    }
    int bad = 0;
    kite_store_wait_dispatched(s, KT_DEADLINE_MS);
    for (size_t i = 0; i < n; i++) {
        const ack *a = &acks[i];
        int32_t qid = (int32_t)(a->seq % NQ);
        kite_store_seg seg;
        if (kite_store_get_by_offset(s, a->phys, &seg, NULL) != KITE_OK) {
            fprintf(stderr, "acked seq %lld at %lld missing\n", (long long)a->seq,
                    (long long)a->phys);
            bad++;
            continue;
        }
        if (kt_msg_check(seg.data, seg.len, (uint64_t)a->seq, TOPIC, qid, MINB, MAXB) != 0) bad++;
        kite_store_seg_release(&seg);
        kite_get_result g;
        kite_store_get_messages(s, TOPIC, qid, a->qoff, 1, 1 << 20, NULL, 0, &g);
        if (g.status != KITE_GET_FOUND || g.segs[0].phys_offset != a->phys) {
            fprintf(stderr, "acked seq %lld: queue %d offset %lld -> %s\n", (long long)a->seq, qid,
                    (long long)a->qoff, kite_get_status_name(g.status));
            bad++;
        }
        kite_get_result_release(&g);
    }
    long recs = kt_walk_log(s);
    if (recs < (long)n) {
        fprintf(stderr, "walk found %ld records, %zu acknowledged\n", recs, n);
        bad++;
    }
    kite_store_seg seg;
    if (kite_store_get_by_offset(s, kite_store_cl_max_offset(s), &seg, NULL) != KITE_ENOTFOUND)
        bad++;
    int64_t total = 0;
    for (int q = 0; q < NQ; q++) total += kite_store_max_offset(s, TOPIC, q);
    if (total != recs) {
        fprintf(stderr, "queues hold %lld units, commit log %ld records\n", (long long)total, recs);
        bad++;
    }
    /* Unacknowledged survivors are fine; the next child continues after all of them. */
    *next_seq += recs + 1000000;
    kite_store_close(s);
    return bad;
}

int kt_kill_cycles(const char *name, int cycles, unsigned seed)
{
    kt_quiet_logs();
    srand(seed);
    char *dir = kt_tmpdir(name);
    size_t cap = 1 << 16, n = 0;
    ack *acks = kite_xmalloc(cap * sizeof *acks);
    int64_t seq = 0;
    int problems = 0;
    for (int c = 0; c < cycles && problems == 0; c++) {
        int p[2];
        if (pipe(p) != 0) return 1;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child(dir, seq, p[1]);
        }
        close(p[1]);
        int64_t kill_at = -1, deadline = kite_deadline_ms(20000);
        int delay = rand() % 120;
        if (rand() % 5 == 0) kill_at = kite_mono_ms() + rand() % 15; /* during open/recovery */
        ack buf[256];
        size_t have = 0; /* bytes of a partial record carried over */
        char *raw = (char *)buf;
        for (;;) {
            int64_t now = kite_mono_ms();
            if (kill_at >= 0 && now >= kill_at) break;
            if (kite_deadline_left_ms(deadline) == 0) {
                fprintf(stderr, "cycle %d: child never started\n", c);
                problems++;
                break;
            }
            struct pollfd pf = { p[0], POLLIN, 0 };
            poll(&pf, 1, 1);
            if (!(pf.revents & (POLLIN | POLLHUP))) continue;
            ssize_t r = read(p[0], raw + have, sizeof buf - have);
            if (r <= 0) {
                if (kill_at >= 0) break;
                fprintf(stderr, "cycle %d: child exited early\n", c);
                problems++;
                break;
            }
            have += (size_t)r;
            size_t whole = have / sizeof(ack);
            for (size_t i = 0; i < whole; i++) {
                if (buf[i].seq < 0) {
                    if (kill_at < 0) kill_at = kite_mono_ms() + delay;
                    continue;
                }
                acks = kite_xgrow(acks, &cap, n + 1, sizeof *acks, 0);
                acks[n++] = buf[i];
            }
            memmove(raw, raw + whole * sizeof(ack), have - whole * sizeof(ack));
            have -= whole * sizeof(ack);
        }
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        /* Acknowledgements already in the pipe count: the child saw them durable. */
        for (;;) {
            ssize_t r = read(p[0], raw + have, sizeof buf - have);
            if (r <= 0) break;
            have += (size_t)r;
            size_t whole = have / sizeof(ack);
            for (size_t i = 0; i < whole; i++) {
                if (buf[i].seq < 0) continue;
                acks = kite_xgrow(acks, &cap, n + 1, sizeof *acks, 0);
                acks[n++] = buf[i];
            }
            memmove(raw, raw + whole * sizeof(ack), have - whole * sizeof(ack));
            have -= whole * sizeof(ack);
        }
        close(p[0]);
        if (WIFEXITED(st)) {
            fprintf(stderr, "cycle %d: child exited with %d\n", c, WEXITSTATUS(st));
            problems++;
        }
        problems += verify(dir, acks, n, &seq);
    }
    fprintf(stderr, "%s: %d kill cycles, %zu acknowledged messages checked, %d problems\n", name,
            cycles, n, problems);
    free(acks);
    if (problems == 0 && kt_fsck(dir) != 0) problems++; /* the store the cycles left */
    if (problems == 0) kt_rmrf(dir);
    free(dir);
    return problems;
}
