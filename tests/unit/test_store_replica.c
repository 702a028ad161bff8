/* test_store_replica.c - unit tests for the store's replication seam (src/store/replica.c):
 * a master's bytes read with kite_store_read_raw and appended to a replica with
 * kite_store_append_raw in pieces that cut records anywhere give byte-identical commit-log
 * files, the same records at the same offsets and consume queues that serve them; an empty
 * replica starts its log at the master's oldest retained file; a replica closed in the
 * middle of a record resumes from its last complete record; bytes that do not continue the
 * log (wrong offset, a record naming another position, a filler of another file size) are
 * refused without being written; kite_store_put is refused on a replica. A replica's
 * queues start at their first message held, also after a reopen. kite_store_set_aside
 * moves a closed replica's files aside, byte for byte, and the store reopens empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/err.h"
#include "codec/record.h"
#include "store/store.h"
#include "store_testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CL_SIZE (64 * 1024)
#define CQ_SIZE (20 * 100)
#define TOPIC   "TopicRepl"
#define NQ      3

static kite_store *open_ok(const kite_store_opts *o)
{
    char err[512] = "";
    kite_store *s = kite_store_open(o, err, sizeof err);
    if (!s) fprintf(stderr, "open failed: %s\n", err);
    assert_non_null(s);
    return s;
}

static kite_store *open_master(const char *dir, int n)
{
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL_SIZE, CQ_SIZE);
    kite_store *m = open_ok(&o);
    kt_msg k;
    for (int i = 0; i < n; i++) {
        kt_msg_make(&k, (uint64_t)i, TOPIC, i % NQ, 16, 900);
        kite_put_result r;
        kite_store_put_wait(m, &k.m, &r);
        assert_int_equal(r.status, KITE_PUT_OK);
    }
    assert_int_equal(kite_store_wait_dispatched(m, KT_DEADLINE_MS), 0);
    return m;
}

static kite_store *open_replica(const char *dir, int64_t cl_size)
{
    kite_store_opts o;
    kt_opts(&o, dir, 0, cl_size, CQ_SIZE);
    o.replica = 1;
    return open_ok(&o);
}

/* Ships the master's bytes [from, to) to the replica in pieces of the sizes in cuts
 * (cycled), as a replication connection would, however they cut records. */
static void ship(kite_store *m, kite_store *r, int64_t from, int64_t to, const size_t *cuts,
                 size_t ncuts)
{
    size_t ci = 0;
    while (from < to) {
        kite_store_seg seg;
        size_t want = cuts[ci++ % ncuts];
        if ((int64_t)want > to - from) want = (size_t)(to - from);
        assert_int_equal(kite_store_read_raw(m, from, want, &seg), KITE_OK);
        assert_true(seg.len > 0 && seg.len <= want);
        char err[256] = "";
        int rc = kite_store_append_raw(r, from, seg.data, seg.len, err, sizeof err);
        if (rc != 0) fprintf(stderr, "append at %lld: %s\n", (long long)from, err);
        assert_int_equal(rc, 0);
        from += seg.len;
        kite_store_seg_release(&seg);
    }
}

/* 0 when the replica holds exactly the master's bytes in [from, to) (read back through
 * kite_store_compare_raw, which reads the replica's files), else the first differing offset. */
static int64_t first_difference(kite_store *m, kite_store *r, int64_t from, int64_t to)
{
    while (from < to) {
        kite_store_seg seg;
        assert_int_equal(kite_store_read_raw(m, from, 1 << 16, &seg), KITE_OK);
        size_t n = seg.len;
        if ((int64_t)n > to - from) n = (size_t)(to - from);
        int64_t at = -1;
        int rc = kite_store_compare_raw(r, from, seg.data, n, &at);
        kite_store_seg_release(&seg);
        assert_true(rc == 0 || rc == 1);
        if (rc == 1) return at;
        from += (int64_t)n;
    }
    return 0;
}

/* Every queue of the replica serves, offset by offset, the records the master's queue
 * serves, at the same physical offsets; returns the number of messages compared. */
static long same_queues(kite_store *m, kite_store *r)
{
    long n = 0;
    for (int q = 0; q < NQ; q++) {
        int64_t min = kite_store_min_offset(r, TOPIC, q), max = kite_store_max_offset(r, TOPIC, q);
        assert_int_equal(max, kite_store_max_offset(m, TOPIC, q));
        for (int64_t off = min; off < max; off++) {
            kite_get_result gm, gr;
            kite_store_get_messages(m, TOPIC, q, off, 1, 1 << 20, NULL, 0, &gm);
            kite_store_get_messages(r, TOPIC, q, off, 1, 1 << 20, NULL, 0, &gr);
            assert_int_equal(gr.status, KITE_GET_FOUND);
            assert_int_equal(gm.status, KITE_GET_FOUND);
            assert_int_equal(gr.segs[0].phys_offset, gm.segs[0].phys_offset);
            assert_int_equal(gr.segs[0].len, gm.segs[0].len);
            assert_memory_equal(gr.segs[0].data, gm.segs[0].data, gm.segs[0].len);
            kite_get_result_release(&gm);
            kite_get_result_release(&gr);
            n++;
        }
    }
    return n;
}

/* Scenario: an empty replica joins a master holding several files; shipping starts at the
 * master's second file (as if the first were already deleted) in pieces of 1 byte to
 * 64 KiB; the replica's log starts there, is byte-identical, its queues serve the same
 * records from the first one it holds, and it passes kite-fsck after a clean close.
 * Control: one flipped byte in the replica is found at its exact offset. */
static void test_empty_replica_copies_history(void **st)
{
    (void)st;
    char *md = kt_tmpdir("repl-master"), *rd = kt_tmpdir("repl-replica");
    kite_store *m = open_master(md, 1200);
    int64_t end = kite_store_cl_max_offset(m);
    assert_true(end > 4 * CL_SIZE); /* several files of history */
    kite_store *r = open_replica(rd, CL_SIZE);
    assert_int_equal(kite_store_raw_end(r), 0);
    static const size_t cuts[] = { 1, 7, 91, 1000, 4093, 65536, 13, 30000 };
    char err[256];
    /* A start that is not a file boundary is refused: the log could not be read from it. */
    uint8_t junk[16] = { 0 };
    assert_int_equal(kite_store_append_raw(r, CL_SIZE + 100, junk, sizeof junk, err, sizeof err),
                     KITE_EINVAL);
    assert_int_equal(kite_store_raw_end(r), 0);
    ship(m, r, CL_SIZE, end, cuts, sizeof cuts / sizeof cuts[0]);
    assert_int_equal(kite_store_raw_end(r), end);
    assert_int_equal(kite_store_cl_max_offset(r), end);
    assert_int_equal(kite_store_cl_min_offset(r), CL_SIZE);
    assert_int_equal(first_difference(m, r, CL_SIZE, end), 0);
    assert_int_equal(kite_store_wait_dispatched(r, KT_DEADLINE_MS), 0);
    long n = same_queues(m, r);
    assert_true(n > 900 && n < 1200); /* all but the first file's messages */
    assert_true(kt_walk_log(r) == n);
    for (int q = 0; q < NQ; q++) assert_true(kite_store_min_offset(r, TOPIC, q) > 0);

    /* Control: a byte changed in the replica's copy is found where it was changed. */
    int64_t at = CL_SIZE + 3 * 4096 + 17, diff = -1;
    kite_store_seg seg;
    assert_int_equal(kite_store_read_raw(m, at, 1, &seg), KITE_OK);
    uint8_t other = (uint8_t)(seg.data[0] ^ 0x5A);
    assert_int_equal(kite_store_compare_raw(r, at, &other, 1, &diff), 1);
    assert_int_equal(diff, at);
    kite_store_seg_release(&seg);

    /* Nothing written on a replica but what the master sent. */
    kt_msg k;
    kt_msg_make(&k, 1, TOPIC, 0, 16, 900);
    kite_put_result pr;
    kite_store_put_wait(r, &k.m, &pr);
    assert_int_equal(pr.status, KITE_PUT_SERVICE_NOT_AVAILABLE);
    assert_int_equal(kite_store_raw_end(r), end);
    kite_store_close(r);
    /* Reopened, the log still starts at the second file and every queue at its first
     * message held. */
    r = open_replica(rd, CL_SIZE);
    assert_int_equal(kite_store_cl_min_offset(r), CL_SIZE);
    assert_int_equal(kite_store_raw_end(r), end);
    assert_int_equal(same_queues(m, r), n);
    for (int q = 0; q < NQ; q++) assert_true(kite_store_min_offset(r, TOPIC, q) > 0);
    kite_store_close(r);
    kite_store_close(m);
    assert_int_equal(kt_fsck_rmrf(rd), 0);
    assert_int_equal(kt_fsck_rmrf(md), 0);
    free(md);
    free(rd);
}

/* Scenario: a replica closed with the last record half received reopens at its last
 * complete record, resumes from there, and ends byte-identical; a replica killed the same
 * way (abort marker left) recovers to the same point. */
static void test_replica_resumes_after_restart(void **st)
{
    (void)st;
    char *md = kt_tmpdir("repl-master"), *rd = kt_tmpdir("repl-replica");
    kite_store *m = open_master(md, 700);
    int64_t end = kite_store_cl_max_offset(m);
    kite_store *r = open_replica(rd, CL_SIZE);
    static const size_t cuts[] = { 333, 4096, 77 };
    int64_t cut = end / 2 + 45; /* somewhere inside a record */
    ship(m, r, 0, cut, cuts, 3);
    int64_t complete = kite_store_cl_max_offset(r);
    assert_true(complete < cut); /* the half-received record is not readable */
    assert_int_equal(kite_store_raw_end(r), cut);
    kite_store_close(r);

    r = open_replica(rd, CL_SIZE);
    assert_int_equal(kite_store_raw_end(r), complete);
    assert_int_equal(kite_store_cl_max_offset(r), complete);
    char err[256];
    uint8_t b = 0;
    /* Bytes for an offset other than the end are refused and change nothing. */
    assert_int_equal(kite_store_append_raw(r, cut, &b, 1, err, sizeof err), KITE_EINVAL);
    assert_int_equal(kite_store_raw_end(r), complete);
    ship(m, r, complete, end, cuts, 3);
    assert_int_equal(first_difference(m, r, 0, end), 0);
    assert_int_equal(kite_store_wait_dispatched(r, KT_DEADLINE_MS), 0);
    assert_int_equal(same_queues(m, r), 700);
    kite_store_close(r);
    assert_int_equal(kt_fsck_rmrf(rd), 0);
    kite_store_close(m);
    assert_int_equal(kt_fsck_rmrf(md), 0);
    free(md);
    free(rd);
}

/* Scenario: bytes that cannot continue the replica's log are refused and nothing of them
 * is written: a record whose PHYSICALOFFSET names another position (the logs diverged), a
 * filler that ends the master's file where the replica's file does not end (another
 * mappedFileSizeCommitLog). Control: the same bytes unaltered are accepted. */
static void test_replica_refuses_foreign_bytes(void **st)
{
    (void)st;
    char *md = kt_tmpdir("repl-master"), *rd = kt_tmpdir("repl-replica"),
         *rd2 = kt_tmpdir("repl-replica2");
    kite_store *m = open_master(md, 300);
    int64_t end = kite_store_cl_max_offset(m);
    kite_store *r = open_replica(rd, CL_SIZE);
    kite_store_seg seg;
    assert_int_equal(kite_store_read_raw(m, 0, 4096, &seg), KITE_OK);
    uint8_t buf[4096];
    memcpy(buf, seg.data, seg.len);
    size_t n = seg.len;
    kite_store_seg_release(&seg);
    buf[28 + 7] ^= 0x40; /* the first record's PHYSICALOFFSET */
    char err[256] = "";
    assert_int_equal(kite_store_append_raw(r, 0, buf, n, err, sizeof err), KITE_EINVAL);
    fprintf(stderr, "refused: %s\n", err);
    assert_non_null(strstr(err, "says it was stored at"));
    assert_int_equal(kite_store_cl_max_offset(r), 0);
    buf[28 + 7] ^= 0x40; /* control: the true bytes are accepted */
    assert_int_equal(kite_store_append_raw(r, 0, buf, n, err, sizeof err), 0);
    assert_true(kite_store_cl_max_offset(r) > 0);
    kite_store_close(r);

    /* A replica with twice the file size meets the master's first filler mid-file. */
    kite_store *r2 = open_replica(rd2, 2 * CL_SIZE);
    int64_t pos = 0, refused_at = -1;
    while (pos < end && refused_at < 0) {
        assert_int_equal(kite_store_read_raw(m, pos, 8192, &seg), KITE_OK);
        int rc = kite_store_append_raw(r2, pos, seg.data, seg.len, err, sizeof err);
        if (rc != 0) {
            assert_int_equal(rc, KITE_EINVAL);
            refused_at = pos;
        } else {
            pos += seg.len;
        }
        kite_store_seg_release(&seg);
    }
    fprintf(stderr, "refused at %lld: %s\n", (long long)refused_at, err);
    assert_true(refused_at >= 0 && refused_at < CL_SIZE);
    assert_non_null(strstr(err, "mappedFileSizeCommitLog"));
    assert_true(kite_store_cl_max_offset(r2) < CL_SIZE);
    kite_store_close(r2);
    kite_store_close(m);
    kt_rmrf(rd2);
    kt_rmrf(rd);
    kt_rmrf(md);
    free(md);
    free(rd);
    free(rd2);
}

/* Bytes [0, n) of file path into buf; how many were read. */
static size_t read_file_head(const char *path, uint8_t *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    return got;
}

/* Scenario: a replica that must start again empty (behind its master's retention) has its
 * closed store set aside: the commit log, queues and checkpoint are renamed into
 * <root>/aside-<stamp>/ byte for byte, nothing is left in place, and the store reopens
 * empty and accepts the master's bytes from a later file. Control: the first file in the
 * aside directory is the master's, the reopened store holds nothing. */
static void test_replica_set_aside(void **st)
{
    (void)st;
    char *md = kt_tmpdir("repl-master"), *rd = kt_tmpdir("repl-replica");
    kite_store *m = open_master(md, 700);
    int64_t end = kite_store_cl_max_offset(m);
    assert_true(end > 2 * CL_SIZE);
    kite_store *r = open_replica(rd, CL_SIZE);
    static const size_t cuts[] = { 4096 };
    ship(m, r, 0, CL_SIZE + 100, cuts, 1);
    assert_int_equal(kite_store_wait_dispatched(r, KT_DEADLINE_MS), 0);
    kite_store_close(r);
    char out[1024], err[512], a[1200], b[1200];
    assert_int_equal(kite_store_set_aside(rd, NULL, out, sizeof out, err, sizeof err), KITE_OK);
    snprintf(a, sizeof a, "%s/aside-", rd);
    assert_int_equal(strncmp(out, a, strlen(a)), 0);
    static uint8_t x[CL_SIZE], y[CL_SIZE];
    snprintf(a, sizeof a, "%s/commitlog/%020d", md, 0);
    snprintf(b, sizeof b, "%s/commitlog/%020d", out, 0);
    assert_int_equal(read_file_head(a, x, CL_SIZE), CL_SIZE);
    assert_int_equal(read_file_head(b, y, CL_SIZE), CL_SIZE);
    assert_memory_equal(x, y, CL_SIZE);
    struct stat sb;
    snprintf(a, sizeof a, "%s/checkpoint", out);
    assert_int_equal(stat(a, &sb), 0);
    snprintf(a, sizeof a, "%s/consumequeue", out);
    assert_int_equal(stat(a, &sb), 0);
    snprintf(a, sizeof a, "%s/commitlog", rd);
    assert_int_not_equal(stat(a, &sb), 0);
    snprintf(a, sizeof a, "%s/consumequeue", rd);
    assert_int_not_equal(stat(a, &sb), 0);

    r = open_replica(rd, CL_SIZE); /* empty: starts where the master's bytes start */
    assert_int_equal(kite_store_raw_end(r), 0);
    ship(m, r, 2 * CL_SIZE, end, cuts, 1);
    assert_int_equal(kite_store_cl_min_offset(r), 2 * CL_SIZE);
    assert_int_equal(first_difference(m, r, 2 * CL_SIZE, end), 0);
    kite_store_close(r);
    kt_rmrf(out); /* the aside copy is not part of the store kite-fsck checks */
    assert_int_equal(kt_fsck_rmrf(rd), 0);
    kite_store_close(m);
    assert_int_equal(kt_fsck_rmrf(md), 0);
    free(md);
    free(rd);
}

int main(void)
{
    kt_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_replica_copies_history),
        cmocka_unit_test(test_replica_resumes_after_restart),
        cmocka_unit_test(test_replica_refuses_foreign_bytes),
        cmocka_unit_test(test_replica_set_aside),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
