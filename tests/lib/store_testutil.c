/* store_testutil.c - see store_testutil.h. */
#include "store_testutil.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "codec/record.h"
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void kt_rmrf(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

char *kt_tmpdir(const char *name)
{
    static int counter; /* test processes are single-threaded when they make dirs */
    const char *base = getenv("KITE_TMP");
    if (!base) base = "/tmp";
    mkdir(base, 0755);
    char *p = kite_xmalloc(4096);
    snprintf(p, 4096, "%s/%s-%d-%d", base, name, (int)getpid(), counter++);
    kt_rmrf(p);
    mkdir(p, 0755);
    return p;
}

void kt_opts(kite_store_opts *o, const char *dir, int sync, int64_t cl_size, int64_t cq_size)
{
    kite_store_opts_default(o);
    snprintf(o->root_dir, sizeof o->root_dir, "%s", dir);
    o->cl_file_size = cl_size;
    o->cq_file_size = cq_size;
    o->flush_type = sync ? KITE_FLUSH_SYNC : KITE_FLUSH_ASYNC;
    o->flush_interval_ms = 20;
    o->cq_flush_interval_ms = 50;
    o->disk_full_retry_ms = 0;
    o->index_slots = 500; /* small index files: several per test, cheap on the fault seam */
    o->index_entries = 2000;
    o->store_ip4[0] = 10;
    o->store_ip4[1] = 0;
    o->store_ip4[2] = 0;
    o->store_ip4[3] = 7;
    o->store_port = 10911;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int body_len_for(uint64_t seq, int min_len, int max_len)
{
    return min_len + (int)(mix(seq) % (uint64_t)(max_len - min_len + 1));
}

static void fill_body(uint8_t *b, int len, uint64_t seq)
{
    int n = snprintf((char *)b, (size_t)len + 1 > 32 ? 32 : (size_t)len + 1, "%016llx",
                     (unsigned long long)seq);
    (void)n;
    uint64_t x = mix(seq + 1);
    for (int i = 16; i < len; i++) {
        if ((i & 7) == 0) x = mix(x);
        b[i] = (uint8_t)(1 + (x >> ((i & 7) * 8)) % 255); /* never zero */
    }
}

void kt_msg_make(kt_msg *k, uint64_t seq, const char *topic, int32_t qid, int min_len, int max_len)
{
    if (min_len < 16) min_len = 16;
    if (max_len > (int)sizeof k->body) max_len = (int)sizeof k->body;
    memset(&k->m, 0, sizeof k->m);
    snprintf(k->topic, sizeof k->topic, "%s", topic);
    int len = body_len_for(seq, min_len, max_len);
    fill_body(k->body, len, seq);
    char tag[16];
    snprintf(tag, sizeof tag, "Tag%d", (int)(seq % 3));
    char key[32];
    snprintf(key, sizeof key, "k%llu", (unsigned long long)seq);
    kite_buf props = KITE_BUF_INIT;
    kite_msgprop_append_str(&props, "TAGS", tag);
    kite_msgprop_append_str(&props, "KEYS", key);
    size_t pos = props.len < sizeof k->props ? props.len : 0; /* 30 bytes: always fits */
    memcpy(k->props, props.data, pos);
    kite_buf_free(&props);
    k->m.topic = k->topic;
    k->m.topic_len = strlen(k->topic);
    k->m.queue_id = qid;
    k->m.flag = (int32_t)(seq & 0xFF);
    k->m.born_ts = 1700000000000LL + (int64_t)seq;
    k->m.born_ip4[0] = 192;
    k->m.born_ip4[1] = 168;
    k->m.born_ip4[3] = 9;
    k->m.born_port = 4242;
    k->m.body = k->body;
    k->m.body_len = (uint32_t)len;
    k->m.props = k->props;
    k->m.props_len = (uint32_t)pos;
    k->m.wait = 1;
}

int kt_msg_check(const uint8_t *rec, uint32_t len, uint64_t seq, const char *topic, int32_t qid,
                 int min_len, int max_len)
{
    kt_msg *k = kite_xmalloc(sizeof *k);
    kt_msg_make(k, seq, topic, qid, min_len, max_len);
    kite_record r;
    const char *why = NULL;
    int rc = kite_record_decode(rec, len, &r, KITE_REC_CHECK_CRC, &why);
    int bad = rc != (int)len || r.body_len != k->m.body_len ||
              memcmp(r.body, k->body, r.body_len) != 0 || r.topic_len != k->m.topic_len ||
              memcmp(r.topic, topic, r.topic_len) != 0 || r.queue_id != qid ||
              r.props_len != k->m.props_len || memcmp(r.props, k->props, r.props_len) != 0 ||
              r.born_ts != k->m.born_ts || r.flag != k->m.flag;
    if (bad)
        fprintf(stderr, "kt_msg_check: seq %llu mismatch (rc %d, why %s)\n",
                (unsigned long long)seq, rc, why ? why : "-");
    free(k);
    return bad ? -1 : 0;
}

long kt_walk_log(kite_store *s)
{
    int64_t pos = kite_store_cl_min_offset(s);
    int64_t end = kite_store_cl_max_offset(s);
    long n = 0;
    while (pos < end) {
        kite_store_seg seg;
        int64_t next = -1;
        int rc = kite_store_get_by_offset(s, pos, &seg, &next);
        if (rc == 0) {
            kite_record r;
            if (kite_record_decode(seg.data, seg.len, &r, KITE_REC_CHECK_CRC, NULL) !=
                    (int)seg.len ||
                r.phys_offset != pos) {
                fprintf(stderr, "kt_walk_log: bad record at %lld\n", (long long)pos);
                kite_store_seg_release(&seg);
                return -1;
            }
            kite_store_seg_release(&seg);
            n++;
            pos = next;
        } else if (rc == -9 /* KITE_ENOTFOUND */ && next > pos) {
            pos = next;
        } else {
            fprintf(stderr, "kt_walk_log: rc %d at %lld (end %lld)\n", rc, (long long)pos,
                    (long long)end);
            return -1;
        }
    }
    return n;
}

int kt_fsck(const char *dir)
{
    const char *bin = getenv("KITE_BIN");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s/kite-fsck %s '%s' > '%s.fsck' 2>&1", bin ? bin : "bin",
             getenv("KITE_TEST_VERBOSE") ? "-v" : "", dir, dir);
    int st = system(cmd);
    int rc = st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
    char rp[4200];
    snprintf(rp, sizeof rp, "%s.fsck", dir);
    if (rc != 0) {
        fprintf(stderr, "kite-fsck %s: exit %d\n", dir, rc);
        FILE *f = fopen(rp, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) fputs(line, stderr);
        if (f) fclose(f);
    }
    remove(rp);
    return rc;
}

int kt_fsck_rmrf(const char *dir)
{
    int rc = kt_fsck(dir);
    if (rc == 0) kt_rmrf(dir);
    return rc;
}

void kt_quiet_logs(void)
{
    if (!getenv("KITE_TEST_VERBOSE")) kite_log_set_level(KITE_LOG_ERROR);
}
