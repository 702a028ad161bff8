/* test_store_index.c - the message index: look-ups by key, unique key and time range,
 * collisions and other topics filtered, index file roll-over, clean reopen, rebuild after
 * the index directory is deleted, recovery after a power cut (through the fault seam),
 * kite-fsck catching a damaged entry, and messageIndexEnable=false. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/err.h"
#include "codec/record.h"
#include "store/io.h"
#include "store/store.h"
#include "store_testutil.h"
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CL_SIZE (32 * 1024)
#define CQ_SIZE (20 * 200)
#define N       1200

typedef struct put {
    int64_t phys, ts;
} put;
static put puts_[N];

static kite_store *open_ok(const kite_store_opts *o)
{
    char err[512] = "";
    kite_store *s = kite_store_open(o, err, sizeof err);
    if (!s) fprintf(stderr, "open failed: %s\n", err);
    assert_non_null(s);
    return s;
}

/* Message i of topic: UNIQ_KEY "U<i>", KEYS "k<i> grp<i%7>". */
static void put_keyed(kite_store *s, const char *topic, int i, put *out)
{
    char v[64];
    kite_buf props = KITE_BUF_INIT;
    snprintf(v, sizeof v, "U%d", i);
    kite_msgprop_append_str(&props, "UNIQ_KEY", v);
    snprintf(v, sizeof v, "k%d grp%d", i, i % 7);
    kite_msgprop_append_str(&props, "KEYS", v);
    kite_msgprop_append_str(&props, "TAGS", "t");
    char body[64];
    int bl = snprintf(body, sizeof body, "body-%d", i);
    kite_store_msg m;
    memset(&m, 0, sizeof m);
    m.topic = topic;
    m.topic_len = strlen(topic);
    m.queue_id = i % 3;
    m.body = body;
    m.body_len = (uint32_t)bl;
    m.props = props.data;
    m.props_len = (uint32_t)props.len;
    m.wait = 1;
    kite_put_result r;
    kite_store_put_wait(s, &m, &r);
    kite_buf_free(&props);
    assert_int_equal(r.status, KITE_PUT_OK);
    if (out) *out = (put){ r.phys_offset, r.store_ts };
}

static size_t query(kite_store *s, const char *topic, const char *key, int max, int64_t b,
                    int64_t e, kite_get_result *g)
{
    assert_int_equal(kite_store_query_by_key(s, topic, key, max, b, e, g, NULL, NULL), 0);
    return g->count;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void check_queries(kite_store *s)
{
    kite_get_result g;
    char key[32];
    /* unique keys and single keys: exactly the one message */
    for (int i = 0; i < N; i += 97) {
        snprintf(key, sizeof key, "U%d", i);
        assert_int_equal(query(s, "TI", key, 8, 0, INT64_MAX, &g), 1);
        assert_int_equal(g.status, KITE_GET_FOUND);
        assert_int_equal(g.segs[0].phys_offset, puts_[i].phys);
        kite_record r;
        assert_true(
            kite_record_decode(g.segs[0].data, g.segs[0].len, &r, KITE_REC_CHECK_CRC, NULL) > 0);
        char body[64];
        int bl = snprintf(body, sizeof body, "body-%d", i);
        assert_int_equal(r.body_len, bl);
        assert_memory_equal(r.body, body, (size_t)bl);
        kite_get_result_release(&g);
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(query(s, "TI", key, 8, 0, INT64_MAX, &g), 1);
        assert_int_equal(g.segs[0].phys_offset, puts_[i].phys);
        kite_get_result_release(&g);
    }
    /* a shared key: every message of the group, newest first, only this topic */
    int want = 0;
    for (int i = 0; i < N; i++) want += i % 7 == 3;
    assert_int_equal(query(s, "TI", "grp3", 10000, 0, INT64_MAX, &g), (size_t)want);
    for (size_t j = 0; j < g.count; j++) {
        int i = N - 1 - (int)(N - 1 - 3) % 7 - 7 * (int)j; /* newest i with i % 7 == 3, then back */
        assert_int_equal(g.segs[j].phys_offset, puts_[i].phys);
    }
    kite_get_result_release(&g);
    assert_int_equal(query(s, "TI", "grp3", 5, 0, INT64_MAX, &g), 5);
    kite_get_result_release(&g);
    /* time range: exactly the group members stored in [t(300), t(800)] */
    int64_t b = puts_[300].ts, e = puts_[800].ts;
    want = 0;
    for (int i = 0; i < N; i++) want += i % 7 == 3 && puts_[i].ts >= b && puts_[i].ts <= e;
    assert_int_equal(query(s, "TI", "grp3", 10000, b, e, &g), (size_t)want);
    kite_get_result_release(&g);
    /* other topic, unknown key, prefix of a key */
    assert_int_equal(query(s, "TOther", "grp3", 10000, 0, INT64_MAX, &g), 20);
    kite_get_result_release(&g);
    assert_int_equal(query(s, "TI", "nope", 10, 0, INT64_MAX, &g), 0);
    assert_int_equal(g.status, KITE_GET_NO_MATCHED_MESSAGE);
    assert_int_equal(query(s, "TI", "grp", 10, 0, INT64_MAX, &g), 0);
    assert_int_equal(query(s, "NoTopic", "k1", 10, 0, INT64_MAX, &g), 0);
}

static void fill(kite_store *s)
{
    for (int i = 0; i < N; i++) {
        put_keyed(s, "TI", i, &puts_[i]);
        if (i % 60 == 0) put_keyed(s, "TOther", i / 60 * 7 + 3, NULL); /* grp3 in another topic */
    }
}

static void test_index_lookups(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("ix-look");
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL_SIZE, CQ_SIZE);
    kite_store *s = open_ok(&o);
    kite_get_result g;
    int64_t lts = -1, lphys = -1;
    assert_int_equal(kite_store_query_by_key(s, "TI", "k1", 4, 0, INT64_MAX, &g, &lts, &lphys), 0);
    assert_int_equal(g.count, 0);
    assert_int_equal(lphys, 0);
    assert_int_equal(kite_store_query_by_key(s, "TI", "", 4, 0, INT64_MAX, &g, NULL, NULL),
                     KITE_EINVAL);
    fill(s);
    put last;
    put_keyed(s, "TI", N + 5, &last);
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    assert_int_equal(kite_store_query_by_key(s, "TI", "k1", 4, 0, INT64_MAX, &g, &lts, &lphys), 0);
    kite_get_result_release(&g);
    assert_int_equal(lphys, last.phys); /* indexLastUpdatePhyoffset */
    assert_int_equal(lts, last.ts);     /* indexLastUpdateTimestamp */
    check_queries(s);
    kite_store_close(s);
    /* 1220 messages x 3 keys in files of 1999 entries: the index rolled over */
    char p[2100];
    snprintf(p, sizeof p, "%s/index", dir);
    assert_true(count_files(p) >= 2);
    s = open_ok(&o); /* clean reopen: the same answers */
    check_queries(s);
    put_keyed(s, "TI", N + 6, &last); /* and the index keeps growing */
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    assert_int_equal(query(s, "TI", "U1206", 4, 0, INT64_MAX, &g), 1);
    kite_get_result_release(&g);
    kite_store_close(s);
    assert_int_equal(kt_fsck(dir), 0);
    /* The index is derived data: deleting it rebuilds it from the commit log. */
    kt_rmrf(p);
    s = open_ok(&o);
    check_queries(s);
    assert_int_equal(query(s, "TI", "U1206", 4, 0, INT64_MAX, &g), 1);
    kite_get_result_release(&g);
    kite_store_close(s);
    assert_true(count_files(p) >= 2);
    assert_int_equal(kt_fsck(dir), 0);
    /* kite-fsck notices a damaged entry (the check can fail). */
    char f0[2200];
    snprintf(f0, sizeof f0, "%s/00000000000000000000", p);
    FILE *f = fopen(f0, "r+b");
    assert_non_null(f);
    long eoff = 40 + 500 * 4 + 10 * 20; /* entry 10's hash */
    uint8_t b4[4];
    fseek(f, eoff, SEEK_SET);
    assert_int_equal(fread(b4, 1, 4, f), 4);
    b4[3] ^= 1;
    fseek(f, eoff, SEEK_SET);
    assert_int_equal(fwrite(b4, 1, 4, f), 4);
    fclose(f);
    assert_int_equal(kt_fsck(dir), 1);
    kt_rmrf(dir);
    free(dir);
}

static void test_index_power_cut(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("ix-cut");
    kite_io *io = kite_io_fault_new();
    kite_store_opts o;
    kt_opts(&o, dir, 1, CL_SIZE, CQ_SIZE);
    o.io = io;
    o.cq_flush_interval_ms = 20;
    kite_store *s = open_ok(&o);
    for (int i = 0; i < 400; i++) put_keyed(s, "TI", i, &puts_[i]);
    usleep(100 * 1000); /* a checkpoint covers part of the index */
    for (int i = 400; i < 700; i++) put_keyed(s, "TI", i, &puts_[i]); /* acknowledged: durable */
    kite_io_fault_power_cut(io);
    kite_store_close(s);
    kite_io_fault_restart(io);
    s = open_ok(&o);
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    kite_get_result g;
    char key[32];
    for (int i = 0; i < 700; i++) {
        snprintf(key, sizeof key, "U%d", i);
        assert_int_equal(query(s, "TI", key, 4, 0, INT64_MAX, &g), 1);
        assert_int_equal(g.segs[0].phys_offset, puts_[i].phys);
        kite_get_result_release(&g);
    }
    kite_store_close(s);
    kite_io_fault_free(io);
    assert_int_equal(kt_fsck_rmrf(dir), 0);
    free(dir);
}

static void test_index_disabled(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("ix-off");
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL_SIZE, CQ_SIZE);
    o.index_enable = 0;
    kite_store *s = open_ok(&o);
    for (int i = 0; i < 50; i++) put_keyed(s, "TI", i, &puts_[i]);
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    kite_get_result g;
    assert_int_equal(query(s, "TI", "U3", 4, 0, INT64_MAX, &g), 0);
    kite_store_close(s);
    char p[2100];
    snprintf(p, sizeof p, "%s/index", dir);
    assert_int_equal(count_files(p), 0);
    /* turning it on later builds it from the commit log */
    o.index_enable = 1;
    s = open_ok(&o);
    assert_int_equal(query(s, "TI", "U3", 4, 0, INT64_MAX, &g), 1);
    assert_int_equal(g.segs[0].phys_offset, puts_[3].phys);
    kite_get_result_release(&g);
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0);
    free(dir);
}

typedef struct qctx {
    kite_store *s;
    _Atomic int stop;
    long found;
} qctx;

static void *querier(void *arg)
{
    qctx *q = arg;
    char key[32];
    for (int i = 0; !atomic_load(&q->stop); i = (i + 13) % N) {
        kite_get_result g;
        snprintf(key, sizeof key, "U%d", i);
        kite_store_query_by_key(q->s, "TI", key, 2, 0, INT64_MAX, &g, NULL, NULL);
        for (size_t j = 0; j < g.count; j++) {
            kite_record r;
            if (kite_record_decode(g.segs[j].data, g.segs[j].len, &r, KITE_REC_CHECK_CRC, NULL) <=
                0)
                abort();
        }
        q->found += (long)g.count;
        kite_get_result_release(&g);
    }
    return NULL;
}

/* Queries run while the dispatcher writes entries and rolls files. */
static void test_index_concurrent(void **st)
{
    (void)st;
    char *dir = kt_tmpdir("ix-conc");
    kite_store_opts o;
    kt_opts(&o, dir, 0, CL_SIZE, CQ_SIZE);
    kite_store *s = open_ok(&o);
    qctx q = { s, 0, 0 };
    pthread_t t;
    pthread_create(&t, NULL, querier, &q);
    fill(s);
    assert_int_equal(kite_store_wait_dispatched(s, KT_DEADLINE_MS), 0);
    atomic_store(&q.stop, 1);
    pthread_join(t, NULL);
    assert_true(q.found > 0);
    check_queries(s);
    kite_store_close(s);
    assert_int_equal(kt_fsck_rmrf(dir), 0);
    free(dir);
}

int main(void)
{
    kt_quiet_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_lookups),
        cmocka_unit_test(test_index_power_cut),
        cmocka_unit_test(test_index_disabled),
        cmocka_unit_test(test_index_concurrent),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
