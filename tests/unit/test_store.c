/* test_store.c - unit tests for the store facade: append/read round trips (by offset and
 * through consume queues), roll-over at exact file boundaries with blank fillers, clean
 * reopen, read statuses and tag filtering, offset by time, refusals, config keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/err.h"
#include "codec/record.h"
#include "store/io.h"
#include "base/crc32.h"
#include "store/store_int.h"
#include "store_testutil.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CL_SIZE (64 * 1024)
#define CQ_SIZE (20 * 100)

static kite_store *open_ok(const kite_store_opts *o)
{
    char err[512] = "";
    kite_store *s = kite_store_open(o, err, sizeof err);
    if (!s) fprintf(stderr, "open failed: %s\n", err);
    assert_non_null(s);
    return s;
}

static void put_ok(kite_store *s, const kite_store_msg *m, kite_put_result *r)
{
    kite_store_put_wait(s, m, r);
    if (r->status != KITE_PUT_OK) fprintf(stderr, "put: %s\n", kite_put_status_name(r->status));
    assert_int_equal(r->status, KITE_PUT_OK);
}

typedef struct sent {
    int64_t phys, qoff;
    int qid;
} sent;

static void check_all(kite_store *s, const sent *v, int n, const char *topic)
{
    for (int i = 0; i < n; i++) {
        kite_store_seg seg;
        assert_int_equal(kite_store_get_by_offset(s, v[i].phys, &seg, NULL), KITE_OK);
        assert_int_equal(kt_msg_check(seg.data, seg.len, (uint64_t)i, topic, v[i].qid, 16, 600), 0);
        kite_store_seg_release(&seg);
        kite_get_result g;
        kite_store_get_messages(s, topic, v[i].qid, v[i].qoff, 1, 1 << 20, NULL, 0, &g);
        assert_int_equal(g.status, KITE_GET_FOUND);
        assert_int_equal(g.count, 1);
        assert_int_equal(g.segs[0].phys_offset, v[i].phys);
        assert_int_equal(g.next_begin_offset, v[i].qoff + 1);
        kite_get_result_release(&g);
    }
}

static void test_roundtrip_and_reopen(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("store-rt");
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL_SIZE, CQ_SIZE);
    kite_store *s = open_ok(&o);
    enum { N = 1500 };
    static sent v[N];
    kt_msg k;
    int64_t next_q[4] = { 0 };
    for (int i = 0; i < N; i++) {
        int qid = i % 4;
        kt_msg_make(&k, (uint64_t)i, "TopicRT", qid, 16, 600);
        kite_put_result r;
        put_ok(s, &k.m, &r);
        assert_int_equal(r.queue_offset, next_q[qid]);
        next_q[qid]++;
        if (i > 0) assert_true(r.phys_offset > v[i - 1].phys);
        /* a record never spans files */
        assert_true(r.phys_offset / CL_SIZE == (r.phys_offset + r.wrote_bytes - 1) / CL_SIZE);
        v[i] = (sent){ r.phys_offset, r.queue_offset, qid };
    }
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    check_all(s, v, N, "TopicRT");
    assert_int_equal(kt_walk_log(s), N);
    for (int q = 0; q < 4; q++) {
        assert_int_equal(kite_store_max_offset(s, "TopicRT", q), next_q[q]);
        assert_int_equal(kite_store_min_offset(s, "TopicRT", q), 0);
    }
    int64_t max = kite_store_cl_max_offset(s);
    kite_store_close(s);
    struct stat sb;
    char path[2048];
    snprintf(path, sizeof path, "%s/abort", dir);
    assert_int_not_equal(stat(path, &sb), 0); /* clean shutdown removes the marker */
    snprintf(path, sizeof path, "%s/commitlog/00000000000000065536", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, CL_SIZE);

    s = open_ok(&o);
    assert_int_equal(kite_store_cl_max_offset(s), max);
    check_all(s, v, N, "TopicRT");
    kt_msg_make(&k, 99999, "TopicRT", 1, 16, 600);
    kite_put_result r;
    put_ok(s, &k.m, &r);
    assert_int_equal(r.queue_offset, next_q[1]);
    assert_int_equal(r.phys_offset, max);
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0); /* kite-fsck: clean */
    free(dir);
}

/* Body length that makes the record exactly n bytes for topic "B" and no properties. */
static void exact_msg(kite_store_msg *m, uint8_t *body, size_t n)
{
    memset(m, 0, sizeof *m);
    m->topic = "B";
    m->topic_len = 1;
    m->body = body;
    m->body_len = (uint32_t)(n - 91 - 1);
}

static void test_rollover_exact(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("store-roll");
    kite_store_opts o;
    kt_opts(&o, dir, 0, 4096, CQ_SIZE);
    kite_store *s = open_ok(&o);
    static uint8_t body[4096];
    memset(body, 'x', sizeof body);
    kite_store_msg m;
    kite_put_result r;
    /* File 0: 4088 bytes of record leave exactly the 8-byte blank: fits. */
    exact_msg(&m, body, 4088);
    put_ok(s, &m, &r);
    assert_int_equal(r.phys_offset, 0);
    assert_int_equal(r.wrote_bytes, 4088);
    /* Next record rolls: blank of 8 bytes at 4088. */
    exact_msg(&m, body, 200);
    put_ok(s, &m, &r);
    assert_int_equal(r.phys_offset, 4096);
    /* File 1: 4096 - 200 = 3896 left; a 3889-byte record leaves 7 < 8: rolls. */
    exact_msg(&m, body, 3889);
    put_ok(s, &m, &r);
    assert_int_equal(r.phys_offset, 8192);
    /* 207 bytes are left in file 2: a 199-byte record leaves exactly 8 and stays. */
    exact_msg(&m, body, 199);
    put_ok(s, &m, &r);
    assert_int_equal(r.phys_offset, 8192 + 3889);
    /* Now exactly the blank's 8 bytes remain: even a minimal record rolls. */
    exact_msg(&m, body, 92);
    put_ok(s, &m, &r);
    assert_int_equal(r.phys_offset, 12288);
    /* A record that can never fit a file is refused. */
    exact_msg(&m, body, 4089);
    kite_store_put_wait(s, &m, &r);
    assert_int_equal(r.status, KITE_PUT_MESSAGE_ILLEGAL);
    /* Blank fillers are reported with the next file's offset. */
    kite_store_seg seg;
    int64_t next = 0;
    assert_int_equal(kite_store_get_by_offset(s, 4088, &seg, &next), KITE_ENOTFOUND);
    assert_int_equal(next, 4096);
    assert_int_equal(kite_store_get_by_offset(s, 4096 + 200, &seg, &next), KITE_ENOTFOUND);
    assert_int_equal(next, 8192);
    assert_int_equal(kite_store_get_by_offset(s, 12288 - 8, &seg, &next), KITE_ENOTFOUND);
    assert_int_equal(next, 12288);
    assert_int_equal(kt_walk_log(s), 5);
    kite_store_close(s);
    /* The blank marker is on disk with TOTALSIZE = rest of the file. */
    char path[2048];
    snprintf(path, sizeof path, "%s/commitlog/00000000000000004096", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t b[8];
    fseek(f, 200, SEEK_SET);
    assert_int_equal(fread(b, 1, 8, f), 8);
    fclose(f);
    assert_int_equal(kite_rd_be32(b), 4096 - 200);
    assert_int_equal(kite_rd_be32(b + 4), KITE_REC_MAGIC_BLANK);
    s = open_ok(&o);
    assert_int_equal(kt_walk_log(s), 5);
    assert_int_equal(kite_store_max_offset(s, "B", 0), 5);
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0); /* kite-fsck: clean */
    free(dir);
}

static void test_reads_and_filters(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("store-read");
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL_SIZE, CQ_SIZE);
    kite_store *s = open_ok(&o);
    kite_get_result g;
    kite_store_get_messages(s, "TR", 0, 0, 32, 1 << 20, NULL, 0, &g);
    assert_int_equal(g.status, KITE_GET_NO_MATCHED_LOGIC_QUEUE);
    kt_msg k;
    int64_t t_mid = 0;
    for (int i = 0; i < 300; i++) {
        kt_msg_make(&k, (uint64_t)i, "TR", 0, 16, 100);
        kite_put_result r;
        put_ok(s, &k.m, &r);
        if (i == 150) t_mid = r.store_ts;
    }
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    /* bounds */
    kite_store_get_messages(s, "TR", 0, 300, 32, 1 << 20, NULL, 0, &g);
    assert_int_equal(g.status, KITE_GET_OFFSET_OVERFLOW_ONE);
    assert_int_equal(g.next_begin_offset, 300);
    kite_store_get_messages(s, "TR", 0, 301, 32, 1 << 20, NULL, 0, &g);
    assert_int_equal(g.status, KITE_GET_OFFSET_OVERFLOW_BADLY);
    assert_int_equal(g.next_begin_offset, 300);
    /* count and bytes caps; the first record always comes back */
    kite_store_get_messages(s, "TR", 0, 10, 32, 1 << 20, NULL, 0, &g);
    assert_int_equal(g.status, KITE_GET_FOUND);
    assert_int_equal(g.count, 32);
    assert_int_equal(g.next_begin_offset, 42);
    for (size_t i = 0; i < g.count; i++) {
        assert_int_equal(g.segs[i].queue_offset, 10 + (int64_t)i);
        assert_int_equal(kt_msg_check(g.segs[i].data, g.segs[i].len, 10 + i, "TR", 0, 16, 100), 0);
    }
    kite_get_result_release(&g);
    kite_store_get_messages(s, "TR", 0, 10, 32, 1, NULL, 0, &g);
    assert_int_equal(g.count, 1);
    assert_int_equal(g.next_begin_offset, 11);
    kite_get_result_release(&g);
    /* tag filter: Tag1 = seq % 3 == 1; scanning skips the others */
    int32_t tag1 = kite_java_hash("Tag1", 4);
    kite_store_get_messages(s, "TR", 0, 0, 10, 1 << 20, &tag1, 1, &g);
    assert_int_equal(g.status, KITE_GET_FOUND);
    assert_int_equal(g.count, 10);
    for (size_t i = 0; i < g.count; i++) assert_int_equal(g.segs[i].queue_offset % 3, 1);
    assert_int_equal(g.next_begin_offset, 29);
    kite_get_result_release(&g);
    int32_t nomatch = kite_java_hash("TagZ", 4);
    kite_store_get_messages(s, "TR", 0, 0, 10, 1 << 20, &nomatch, 1, &g);
    assert_int_equal(g.status, KITE_GET_NO_MATCHED_MESSAGE);
    assert_int_equal(g.next_begin_offset, 300);
    /* offset by time */
    int64_t off = kite_store_offset_by_time(s, "TR", 0, t_mid);
    assert_true(off <= 150);
    kite_store_get_messages(s, "TR", 0, off, 1, 1 << 20, NULL, 0, &g);
    kite_record rec;
    assert_true(kite_record_decode(g.segs[0].data, g.segs[0].len, &rec, 0, NULL) > 0);
    assert_true(rec.store_ts >= t_mid);
    kite_get_result_release(&g);
    assert_int_equal(kite_store_offset_by_time(s, "TR", 0, 0), 0);
    assert_int_equal(kite_store_offset_by_time(s, "TR", 0, INT64_MAX), 300);
    /* past the end */
    kite_store_seg seg;
    assert_int_equal(kite_store_get_by_offset(s, kite_store_cl_max_offset(s), &seg, NULL),
                     KITE_ENOTFOUND);
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0); /* kite-fsck: clean */
    free(dir);
}

static void test_refusals(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("store-refuse");
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL_SIZE, CQ_SIZE);
    o.max_message_size = 1000;
    kite_store *s = open_ok(&o);
    kt_msg k;
    kite_put_result r;
    kt_msg_make(&k, 1, "T", 0, 1001, 1001);
    kite_store_put_wait(s, &k.m, &r);
    assert_int_equal(r.status, KITE_PUT_MESSAGE_ILLEGAL);
    kt_msg_make(&k, 1, "a/b", 0, 16, 16);
    kite_store_put_wait(s, &k.m, &r);
    assert_int_equal(r.status, KITE_PUT_MESSAGE_ILLEGAL);
    kt_msg_make(&k, 1, "..", 0, 16, 16);
    kite_store_put_wait(s, &k.m, &r);
    assert_int_equal(r.status, KITE_PUT_MESSAGE_ILLEGAL);
    char longt[130];
    memset(longt, 'a', 128);
    longt[128] = 0;
    kt_msg_make(&k, 1, "T", 0, 16, 16);
    k.m.topic = longt;
    k.m.topic_len = 128;
    kite_store_put_wait(s, &k.m, &r);
    assert_int_equal(r.status, KITE_PUT_MESSAGE_ILLEGAL);
    k.m.topic_len = 127;
    put_ok(s, &k.m, &r);
    /* a second store on the same directory is refused */
    char err[512];
    assert_null(kite_store_open(&o, err, sizeof err));
    assert_non_null(strstr(err, "lock"));
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0); /* kite-fsck: clean */
    free(dir);
}

typedef struct hook_ctx {
    int calls;
    int64_t last_max;
} hook_ctx;
static void on_arrival(void *arg, const char *topic, size_t tl, int32_t qid, int64_t max)
{
    (void)topic;
    (void)tl;
    (void)qid;
    hook_ctx *h = arg;
    h->calls++;
    h->last_max = max;
}

static void test_sync_flush_and_hook(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("store-sync");
    kite_store_opts o;
    kt_opts(&o, dir, 1, CL_SIZE, CQ_SIZE);
    kite_store *s = open_ok(&o);
    hook_ctx h = { 0, 0 };
    kite_store_set_arrival_hook(s, on_arrival, &h);
    kt_msg k;
    for (int i = 0; i < 50; i++) {
        kt_msg_make(&k, (uint64_t)i, "TS", 2, 16, 300);
        kite_put_result r;
        put_ok(s, &k.m, &r);
        /* acknowledged SYNC puts are durable */
        assert_true(kite_store_cl_flushed_offset(s) >= r.phys_offset + r.wrote_bytes);
    }
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    assert_int_equal(kite_store_max_offset(s, "TS", 2), 50);
    assert_true(h.calls >= 1);
    assert_int_equal(h.last_max, 50);
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0); /* kite-fsck: clean */
    free(dir);
}

static void test_conf_table(void **st)
{
    (void)st;
    const char *keys[] = {
        "storePathRootDir",           "storePathCommitLog",    "mappedFileSizeCommitLog",
        "mappedFileSizeConsumeQueue", "flushDiskType",         "flushIntervalCommitLog",
        "flushCommitLogLeastPages",   "syncFlushTimeout",      "deleteWhen",
        "fileReservedTime",           "diskMaxUsedSpaceRatio", "maxMessageSize"
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int found = 0;
        for (const kite_prop_def *d = kite_store_conf_defs; d->key; d++)
            if (strcmp(d->key, keys[i]) == 0) found = 1;
        assert_true(found);
    }
    kite_store_conf c;
    memset(&c, 0, sizeof c);
    c.store_path_root_dir = "/tmp/x";
    c.store_path_commit_log = "";
    c.mapped_file_size_commit_log = 1 << 20;
    c.mapped_file_size_consume_queue = 6000010;
    c.flush_disk_type = "SYNC_FLUSH";
    c.flush_interval_commit_log = 500;
    c.flush_commit_log_least_pages = 4;
    c.flush_commit_log_thorough_interval = 10000;
    c.flush_interval_consume_queue = 1000;
    c.sync_flush_timeout = 5000;
    c.delete_when = "04";
    c.file_reserved_time = 48;
    c.disk_max_used_space_ratio = 75;
    c.max_message_size = 4194304;
    c.check_crc_on_recover = 1;
    kite_store_opts o;
    kite_store_opts_default(&o);
    char err[256];
    assert_int_equal(kite_store_conf_resolve(&c, &o, err, sizeof err), 0);
    assert_int_equal(o.flush_type, KITE_FLUSH_SYNC);
    assert_int_equal(o.cq_file_size, 6000000);
    assert_string_equal(o.root_dir, "/tmp/x");
    c.flush_disk_type = "SOMETIMES";
    assert_int_equal(kite_store_conf_resolve(&c, &o, err, sizeof err), KITE_EINVAL);
    assert_non_null(strstr(err, "flushDiskType"));
    c.flush_disk_type = "ASYNC_FLUSH";
    c.mapped_file_size_commit_log = 1000;
    assert_int_equal(kite_store_conf_resolve(&c, &o, err, sizeof err), KITE_EINVAL);
    assert_non_null(strstr(err, "mappedFileSizeCommitLog"));
}

/* The dispatcher reads the commit log with pread in pieces of 1 MiB (dispatch.c): records
 * larger than a piece, records cut by a piece's end and the blank filler at a file's end
 * all get their consume-queue units and tags, and each unit points at its own record. */
static void test_dispatch_reads_large_records(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("store-bigdisp");
    kite_store_opts o;
    kt_opts(&o, dir, 0, 8 << 20, CQ_SIZE);
    o.max_message_size = 4 << 20;
    kite_store *s = open_ok(&o);
    enum { N = 48 };
    uint32_t len[N];
    int64_t phys[N], qoff[N];
    uint8_t *body = malloc(3 << 20);
    assert_non_null(body);
    for (int i = 0; i < N; i++) {
        /* every third record is 1-3 MiB, the others 100 B-30 KiB */
        len[i] = i % 3 == 0 ? (1u << 20) + (uint32_t)i * 40000u + 13u : 100u + (uint32_t)i * 641u;
        memset(body, 'a' + i % 26, len[i]);
        char props[32];
        int pl = snprintf(props, sizeof props, "TAGS\001t%d\002", i % 2);
        kite_store_msg m;
        memset(&m, 0, sizeof m);
        m.topic = "BIG";
        m.topic_len = 3;
        m.queue_id = i % 2;
        m.body = body;
        m.body_len = len[i];
        m.props = props;
        m.props_len = (uint32_t)pl;
        kite_put_result r;
        put_ok(s, &m, &r);
        phys[i] = r.phys_offset;
        qoff[i] = r.queue_offset;
    }
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    assert_true(kite_store_cl_max_offset(s) > 3 * (8 << 20)); /* several files, several fillers */
    for (int i = 0; i < N; i++) {
        const char *tp = i % 2 ? "TAGS\001t1\002" : "TAGS\001t0\002";
        int32_t tag = (int32_t)kite_tag_code(tp, strlen(tp));
        kite_get_result g;
        kite_store_get_messages(s, "BIG", i % 2, qoff[i], 1, 8 << 20, &tag, 1, &g);
        assert_int_equal(g.status, KITE_GET_FOUND);
        assert_int_equal(g.count, 1);
        assert_int_equal(g.segs[0].phys_offset, phys[i]);
        kite_record rec;
        assert_true(
            kite_record_decode(g.segs[0].data, g.segs[0].len, &rec, KITE_REC_CHECK_CRC, NULL) > 0);
        assert_int_equal(rec.body_len, len[i]);
        assert_int_equal(rec.body[len[i] - 1], 'a' + i % 26);
        kite_get_result_release(&g);
    }
    free(body);
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0);
    free(dir);
}

/* The store's CRC (PCLMULQDQ folding, crc.c) equals zlib's for every length and alignment. */
static void test_crc_matches_zlib(void **st)
{
    (void)st;
    static uint8_t b[20000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof b; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
    }
    for (size_t len = 0; len <= 1200; len++)
        for (size_t off = 0; off < 17; off += 5)
            assert_int_equal(kite_store_crc32(b + off, len), kite_crc32(b + off, len));
    for (size_t len = 1201; len + 64 < sizeof b; len += 997)
        assert_int_equal(kite_store_crc32(b + 3, len), kite_crc32(b + 3, len));
    memset(b, 0xFF, 4096);
    assert_int_equal(kite_store_crc32_masked(b, 4096), kite_crc32_masked(b, 4096));
}

/* The store's own record encoder writes exactly what kite_record_encode writes. */
static void test_encode_matches_codec(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("store-enc");
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL_SIZE, CQ_SIZE);
    kite_store *s = open_ok(&o);
    kt_msg k;
    for (int i = 0; i < 50; i++) {
        kt_msg_make(&k, (uint64_t)i, "TopicEnc", i % 3, 0, 3000);
        k.m.flag = i * 7;
        k.m.sysflag = i % 2 ? 0x1 : 0; /* compressed flag: opaque to the store */
        k.m.reconsume_times = i;
        k.m.prepared_tx_offset = i * 1000;
        kite_put_result r;
        put_ok(s, &k.m, &r);
        kite_store_seg seg;
        assert_int_equal(kite_store_get_by_offset(s, r.phys_offset, &seg, NULL), KITE_OK);
        kite_record rec;
        assert_int_equal(kite_record_decode(seg.data, seg.len, &rec, KITE_REC_CHECK_CRC, NULL),
                         (int)seg.len);
        uint8_t *again = malloc(seg.len);
        assert_int_equal(kite_record_encode(&rec, again, seg.len), seg.len);
        assert_memory_equal(again, seg.data, seg.len);
        free(again);
        kite_store_seg_release(&seg);
    }
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0);
    free(dir);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The allocation/warm-up service (forced on with small files): many roll-overs racing the
 * pre-creation, both flush modes; every message intact, no spare file left after close. */
static void test_warm_service(void **st)
{
    (void)st;
    for (int sync = 0; sync < 2; sync++) {
        char *dir = kt_tmpdir("store-warm");
        kite_store_opts o;
        kt_opts(&o, dir, sync, CL_SIZE, CQ_SIZE);
        o.warm_files = 1;
        kite_store *s = open_ok(&o);
        enum { N = 3000 };
        static sent v[N];
        kt_msg k;
        for (int i = 0; i < N; i++) {
            kt_msg_make(&k, (uint64_t)i, "TopicW", i % 4, 16, 600);
            kite_put_result r;
            put_ok(s, &k.m, &r);
            v[i] = (sent){ r.phys_offset, r.queue_offset, i % 4 };
            if (i % 500 == 0) usleep(20000); /* let the service catch up now and then */
        }
        assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
        check_all(s, v, N, "TopicW");
        assert_int_equal(kt_walk_log(s), N);
        int64_t max = kite_store_cl_max_offset(s);
        kite_store_close(s);
        char cl[2048];
        snprintf(cl, sizeof cl, "%s/commitlog", dir);
        assert_int_equal(count_files(cl), (int)((max + CL_SIZE - 1) / CL_SIZE));
        s = open_ok(&o);
        assert_int_equal(kite_store_cl_max_offset(s), max);
        check_all(s, v, N, "TopicW");
        kite_store_close(s);
        assert_int_equal(kt_fsck_rmrf(dir), 0);
        free(dir);
    }
}

int main(void)
{
    kt_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_reopen),
        cmocka_unit_test(test_rollover_exact),
        cmocka_unit_test(test_reads_and_filters),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_sync_flush_and_hook),
        cmocka_unit_test(test_conf_table),
        cmocka_unit_test(test_crc_matches_zlib),
        cmocka_unit_test(test_dispatch_reads_large_records),
        cmocka_unit_test(test_encode_matches_codec),
        cmocka_unit_test(test_warm_service),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
