/* repl_common.h - shared fixture of the replication tests (it_repl_*.c): a name server, a
 * master and slaves of group broker-t on random loopback hosts (bk_common.h starts and stops
 * them by PID), small commit-log files so that a few MB make several files, the commit-log
 * comparison that reads both brokers' files from disk, catching up measured with
 * GET_BROKER_RUNTIME_INFO, pulls compared byte for byte, single sends and SYNC_MASTER
 * warm-up, and load from kite-bench running beside the test. Hosts are random loopback ones
 * unless the test sets them first (it_repl_netns: addresses in its namespaces). Include
 * after <cmocka.h>. */
#ifndef KITE_TESTS_REPL_COMMON_H
#define KITE_TESTS_REPL_COMMON_H

#include "bk_common.h"
#include "cf_common.h"
#include "kt_bkx.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#define RP_FILE    (256 * 1024) /* mappedFileSizeCommitLog of these tests */
#define RP_HA_KEYS "haSendHeartbeatInterval=300\nhaHousekeepingInterval=5000\n"

static char rp_nsaddr[64];

/* A name server on host (NULL: a random loopback host); rp_nsaddr names it. */
static inline kt_daemon *rp_start_ns_at(const char *host)
{
    kt_daemon *ns = bk_start_ns_at(host);
    snprintf(rp_nsaddr, sizeof rp_nsaddr, "%s:%d", ns->host, ns->port);
    return ns;
}

static inline kt_daemon *rp_start_ns(void) { return rp_start_ns_at(NULL); }

/* (Re)starts a master in d (store kept when d was used before) with its HA port *ha
 * (chosen on the first start, on d->host when set beforehand, else on a random loopback
 * host), registering with the name servers nsaddrs ("a:p;b:p"). */
static inline void rp_launch_master_at(kt_daemon *d, const char *nsaddrs, int *ha,
                                       const char *extra)
{
    if (d->port <= 0) {
        if (!d->host[0]) kt_random_host(d->host, sizeof d->host);
        d->port = kt_free_port(d->host);
        do *ha = kt_free_port(d->host);
        while (*ha == d->port || *ha == d->port - 2);
    }
    char conf[2048];
    snprintf(conf, sizeof conf, "mappedFileSizeCommitLog=%d\nhaListenPort=%d\n" RP_HA_KEYS "%s",
             RP_FILE, *ha, extra ? extra : "");
    bk_launch_at(d, nsaddrs, conf);
}

/* The same with the one name server ns. */
static inline void rp_launch_master(kt_daemon *d, const kt_daemon *ns, int *ha, const char *extra)
{
    char nsaddr[64];
    snprintf(nsaddr, sizeof nsaddr, "%s:%d", ns->host, ns->port);
    rp_launch_master_at(d, nsaddr, ha, extra);
}

static inline kt_daemon *rp_start_master(const kt_daemon *ns, int *ha, const char *extra)
{
    kt_daemon *d = bk_slot(1);
    rp_launch_master(d, ns, ha, extra);
    return d;
}

/* (Re)starts slave `id` of group broker-t (extra may name another group) in d, registering
 * with the name servers nsaddrs. */
static inline void rp_launch_slave_at(kt_daemon *d, const char *nsaddrs, int id, const char *extra)
{
    char conf[2048];
    snprintf(conf, sizeof conf,
             "brokerRole=SLAVE\nbrokerId=%d\nmappedFileSizeCommitLog=%d\n" RP_HA_KEYS "%s", id,
             RP_FILE, extra ? extra : "");
    bk_launch_at(d, nsaddrs, conf);
}

/* The same with the one name server ns. */
static inline void rp_launch_slave(kt_daemon *d, const kt_daemon *ns, int id, const char *extra)
{
    char nsaddr[64];
    snprintf(nsaddr, sizeof nsaddr, "%s:%d", ns->host, ns->port);
    rp_launch_slave_at(d, nsaddr, id, extra);
}

static inline kt_daemon *rp_start_slave(const kt_daemon *ns, int id, const char *extra)
{
    kt_daemon *d = bk_slot(1);
    rp_launch_slave(d, ns, id, extra);
    return d;
}

/* A field of GET_BROKER_RUNTIME_INFO (28) into out ("" when it cannot be read). */
static inline void rp_runtime_str(const kt_daemon *d, const char *key, char *out, size_t cap)
{
    out[0] = 0;
    int fd = kt_connect(d->host, d->port);
    if (fd < 0) return;
    kite_cmd r;
    if (kb_call(fd, 28, "", NULL, 0, &r) == 0) {
        kite_json_doc *doc = r.code == 0 ? kx_parse(&r) : NULL;
        if (doc) {
            const char *s =
                kite_json_get_str(kite_json_get(kite_json_root(doc), "table"), key, NULL);
            if (s) snprintf(out, cap, "%s", s);
            kite_json_doc_free(doc);
        }
        kite_cmd_free(&r);
    }
    kb_forget_fd(fd);
    close(fd);
}

/* A field of GET_BROKER_RUNTIME_INFO (28) as a number; INT64_MIN when it cannot be read. */
static inline int64_t rp_runtime(const kt_daemon *d, const char *key)
{
    char v[64];
    rp_runtime_str(d, key, v, sizeof v);
    return v[0] ? strtoll(v, NULL, 10) : INT64_MIN;
}

static inline int64_t rp_cl_max(const kt_daemon *d) { return rp_runtime(d, "commitLogMaxOffset"); }

/* Waits until the slave's commit log ends where the master's does (the master idle);
 * returns that offset. Fails the test at KT_DEADLINE_MS. */
static inline int64_t rp_wait_caught_up(const kt_daemon *m, const kt_daemon *s)
{
    long long t0 = kt_now_ms();
    int64_t me = -1, se = -2;
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        me = rp_cl_max(m);
        se = rp_cl_max(s);
        if (me >= 0 && me == se) return me;
        usleep(20000);
    }
    fprintf(stderr, "slave did not catch up: master ends at %lld, slave at %lld\n", (long long)me,
            (long long)se);
    bk_dump_log(s);
    fail();
    return -1;
}

/* The commit-log directory of a broker started by kt_broker_start. */
static inline void rp_cl_dir(const kt_daemon *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s/store/commitlog", d->dir);
}

/* Bytes [off, off + n) of commit-log directory dir into buf; how many were read (short at
 * a missing file or its end). */
static inline size_t rp_read_cl(const char *dir, int64_t off, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int64_t at = off + (int64_t)got, start = at - at % RP_FILE;
        char path[1024];
        snprintf(path, sizeof path, "%s/%020lld", dir, (long long)start);
        int fd = open(path, O_RDONLY);
        if (fd < 0) break;
        size_t want = n - got;
        if ((int64_t)want > start + RP_FILE - at) want = (size_t)(start + RP_FILE - at);
        ssize_t r = pread(fd, buf + got, want, at - start);
        close(fd);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

/* Compares the commit logs in directories a and b over [from, to): -1 when byte-identical,
 * else the first offset where they differ or where one of them has no file. */
static inline int64_t rp_first_diff(const char *a, const char *b, int64_t from, int64_t to)
{
    static uint8_t x[1 << 16], y[1 << 16];
    while (from < to) {
        size_t n = sizeof x;
        if ((int64_t)n > to - from) n = (size_t)(to - from);
        size_t na = rp_read_cl(a, from, x, n), nb = rp_read_cl(b, from, y, n);
        size_t k = na < nb ? na : nb;
        for (size_t i = 0; i < k; i++)
            if (x[i] != y[i]) return from + (int64_t)i;
        if (k < n) return from + (int64_t)k;
        from += (int64_t)n;
    }
    return -1;
}

/* Copies commit-log directory src to a new directory (for controls that alter a copy). */
static inline void rp_copy_dir(const char *src, char *dst, size_t cap)
{
    kt_mkdtemp("repl-copy", dst, cap);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *e;
    static uint8_t buf[1 << 16];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sp[1400], dp[1400];
        snprintf(sp, sizeof sp, "%s/%s", src, e->d_name);
        snprintf(dp, sizeof dp, "%s/%s", dst, e->d_name);
        int in = open(sp, O_RDONLY), out = open(dp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(in >= 0 && out >= 0);
        ssize_t r;
        while ((r = read(in, buf, sizeof buf)) > 0) assert_int_equal(write(out, buf, (size_t)r), r);
        close(in);
        close(out);
    }
    closedir(d);
}

/* Pulls every message of topic (queues 0..nq-1) from the master and from the slave, 32 at a
 * time, and asserts both answer the same records, byte for byte (so at the same physical
 * offsets: each record carries its own). Returns the number of messages compared. */
static inline long rp_same_pulls(const kt_daemon *m, const kt_daemon *s, const char *topic, int nq)
{
    int mfd = bk_conn(m), sfd = bk_conn(s);
    long total = 0;
    for (int q = 0; q < nq; q++) {
        int64_t max = kb_lookup(mfd, 30, topic, q, NULL, "offset");
        assert_true(max >= 0);
        /* The slave builds its queues from the bytes after they arrive: wait for them. */
        long long t0 = kt_now_ms();
        while (kb_lookup(sfd, 30, topic, q, NULL, "offset") < max &&
               kt_now_ms() - t0 < KT_DEADLINE_MS)
            usleep(20000);
        int64_t smax = kb_lookup(sfd, 30, topic, q, NULL, "offset");
        if (smax != max) { /* what the slave's store says of itself, and its log */
            kite_cmd ri;
            assert_int_equal(kb_call(sfd, 28, "", NULL, 0, &ri), 0);
            fprintf(stderr, "%s/%d: master max %lld, slave max %lld; slave runtime info: %s\n",
                    topic, q, (long long)max, (long long)smax, kt_body(&ri));
            kite_cmd_free(&ri);
            kt_dump_log(s->log, 65536);
        }
        assert_int_equal(smax, max);
        int64_t off = 0;
        while (off < max) {
            kite_cmd rm, rs;
            assert_int_equal(kb_pull(mfd, "ReplCheck", topic, q, off, 32, 4, 0, 0, "*", &rm), 0);
            assert_int_equal(kb_pull(sfd, "ReplCheck", topic, q, off, 32, 4, 0, 0, "*", &rs), 0);
            if (rs.code != 0)
                fprintf(stderr, "slave pull %s/%d@%lld: %d %s\n", topic, q, (long long)off, rs.code,
                        rs.remark ? rs.remark : "");
            assert_int_equal(rm.code, 0);
            assert_int_equal(rs.code, 0);
            assert_int_equal(rs.body_len, rm.body_len);
            assert_memory_equal(rs.body, rm.body, rm.body_len);
            kite_record rec[32];
            int n = kb_records(rs.body, rs.body_len, rec, 32);
            assert_true(n > 0);
            assert_int_equal(kb_ext_i64(&rs, "nextBeginOffset"),
                             kb_ext_i64(&rm, "nextBeginOffset"));
            off = kb_ext_i64(&rs, "nextBeginOffset");
            total += n;
            kite_cmd_free(&rm);
            kite_cmd_free(&rs);
        }
    }
    bk_close(mfd);
    bk_close(sfd);
    return total;
}

/* Sends one message to queue 0 of topic; returns the answer code, its commit-log offset in
 * *phys (-1 without msgId). */
static inline int rp_send_one(int fd, const char *topic, const char *body, int64_t *phys)
{
    kite_cmd r;
    assert_int_equal(kb_send_v2(fd, topic, 0, NULL, body, strlen(body), &r), 0);
    const char *id = kite_cmd_ext(&r, "msgId");
    *phys = id && strlen(id) == 32 ? (int64_t)strtoull(id + 16, NULL, 16) : -1;
    int code = r.code;
    if (code != 0) fprintf(stderr, "send: %d %s\n", code, r.remark ? r.remark : "");
    kite_cmd_free(&r);
    return code;
}

/* Creates the one-queue topic on the master behind fd (UPDATE_AND_CREATE_TOPIC, 17). */
static inline void rp_create_topic(int fd, const char *topic)
{
    char ext[256];
    snprintf(ext, sizeof ext,
             "\"topic\":\"%s\",\"readQueueNums\":\"1\",\"writeQueueNums\":\"1\",\"perm\":\"6\"",
             topic);
    bk_expect(fd, 17, ext, NULL, 0, 0);
}

/* SYNC_MASTER: sends warm-up messages to topic until one is answered SEND_OK (a slave is
 * attached); asserts that happens within KT_DEADLINE_MS. */
static inline void rp_await_slave(int fd, const char *topic, int64_t *phys)
{
    long long t0 = kt_now_ms();
    int code;
    while ((code = rp_send_one(fd, topic, "warm-up", phys)) != 0 &&
           kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(100000);
    assert_int_equal(code, 0);
}

/* Waits until the slave knows topic (a pull no longer answers TOPIC_NOT_EXIST): it copies
 * the master's topic configuration 3 s after start and every 10 s. */
static inline void rp_wait_slave_topic(const kt_daemon *s, const char *topic)
{
    int fd = bk_conn(s);
    long long t0 = kt_now_ms();
    int code = -1;
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        kite_cmd r;
        assert_int_equal(kb_pull(fd, "ReplCheck", topic, 0, 0, 1, 4, 0, 0, "*", &r), 0);
        code = r.code;
        kite_cmd_free(&r);
        if (code != 17) break; /* TOPIC_NOT_EXIST until the metadata copy */
        usleep(50000);
    }
    bk_close(fd);
    if (code == 17) bk_dump_log(s);
    assert_int_not_equal(code, 17);
}

/* SIGSTOP, then waits until every thread of the process is stopped (the signal is delivered
 * asynchronously: a request answered right after kill() could still be served). */
static inline void rp_sigstop(pid_t pid)
{
    kill(pid, SIGSTOP);
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    long long t0 = kt_now_ms();
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        DIR *d = opendir(dir);
        assert_non_null(d);
        int running = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[400], st[512];
            snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            size_t n = fread(st, 1, sizeof st - 1, f);
            fclose(f);
            st[n] = 0;
            const char *p = strrchr(st, ')'); /* "pid (comm) S ..." */
            if (p && p[1] == ' ' && p[2] != 'T' && p[2] != 't') running = 1;
        }
        closedir(d);
        if (!running) return;
        usleep(1000);
    }
    fail_msg("process %d did not stop", (int)pid);
}

/* Starts kite-bench producing to topic through the name server; pclose it to wait. */
static inline FILE *rp_bench_start(const char *topic, int secs, int size)
{
    const char *bin = getenv("KITE_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "timeout 150 %s/kite-bench produce -n %s -t %s -s %d -c 32 -d %d --async --json",
             bin && *bin ? bin : "./bin", rp_nsaddr, topic, size, secs);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    return p;
}

/* Waits for kite-bench; asserts it exited 0 with no failed send; returns the messages sent. */
static inline long rp_bench_wait(FILE *p)
{
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') snprintf(last, sizeof last, "%s", line);
    int st = pclose(p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *f = strstr(last, "\"failed\":"), *s = strstr(last, "\"sent\":");
    assert_non_null(f);
    assert_non_null(s);
    assert_int_equal(strtol(f + 9, NULL, 10), 0);
    return strtol(s + 7, NULL, 10);
}

#endif
