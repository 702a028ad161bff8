/* kt.c - integration-test helpers (see kt.h). */
#include "kt.h"
#include "base/mem.h"
#include "base/time.h"
#include "net/sock.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int kt_any_skipped; /* test process only */

void kt_skipped(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("SKIPPED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    kt_any_skipped = 1;
}

int kt_exit_code(int failed) { return failed ? 1 : kt_any_skipped ? KT_SKIP_EXIT : 0; }

void kt_random_host(char *out, size_t len)
{
    static int seeded; /* test process only */
    if (!seeded) {
        srand((unsigned)(time(NULL) ^ getpid()));
        seeded = 1;
    }
    snprintf(out, len, "127.0.0.%d", 2 + rand() % 249);
}

void kt_random_host_pair(char *a, char *b, size_t len)
{
    kt_random_host(a, len);
    do kt_random_host(b, len);
    while (!strcmp(a, b));
}

int kt_free_port(const char *host)
{
    char err[128];
    int port = 0;
    int fd = kite_sock_listen(host, 0, &port, err, sizeof err);
    if (fd < 0) return -1;
    close(fd);
    return port;
}

void kt_mkdtemp(const char *tag, char *out, size_t len)
{
    const char *base = getenv("KITE_TMP");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0755);
    snprintf(out, len, "%s/%s-XXXXXX", base, tag);
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        abort();
    }
}

void kt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

pid_t kt_spawn(const char *bin, const char *conf, const char *log)
{
    const char *dir = getenv("KITE_BIN");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "./bin", bin);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(path, bin, "-c", conf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int kt_wait_port(const char *host, int port, pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        int st;
        if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid) return -1;
        int fd = kt_connect(host, port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(20000);
    }
    return -1;
}

int kt_stop(pid_t pid, int timeout_ms)
{
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0) return -1;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int kt_namesrv_start(kt_daemon *d, const char *extra_conf)
{
    if (!d->dir[0]) kt_mkdtemp("namesrv", d->dir, sizeof d->dir);
    if (!d->host[0]) kt_random_host(d->host, sizeof d->host);
    if (d->port <= 0) d->port = kt_free_port(d->host); /* a restart keeps its address */
    if (d->port < 0) return -1;
    snprintf(d->conf, sizeof d->conf, "%s/namesrv.conf", d->dir);
    snprintf(d->log, sizeof d->log, "%s/namesrv.log", d->dir);
    char text[4096];
    snprintf(text, sizeof text,
             "listenPort=%d\nbindAddress=%s\nkvConfigPath=%s/kvConfig.json\n%s\n", d->port, d->host,
             d->dir, extra_conf ? extra_conf : "");
    kt_write_file(d->conf, text);
    d->pid = kt_spawn("kite-namesrv", d->conf, d->log);
    if (kt_wait_port(d->host, d->port, d->pid, KT_DEADLINE_MS) != 0) {
        fprintf(stderr, "kite-namesrv did not start; log %s\n", d->log);
        return -1;
    }
    return 0;
}

int kt_broker_start(kt_daemon *d, const char *namesrv, const char *extra_conf)
{
    if (!d->dir[0]) kt_mkdtemp("broker", d->dir, sizeof d->dir);
    if (!d->host[0]) kt_random_host(d->host, sizeof d->host);
    if (d->port <= 0) d->port = kt_free_port(d->host); /* a restart keeps its address */
    if (d->port < 0) return -1;
    snprintf(d->conf, sizeof d->conf, "%s/broker.conf", d->dir);
    snprintf(d->log, sizeof d->log, "%s/broker.log", d->dir);
    char text[8192];
    snprintf(
        text, sizeof text,
        "brokerClusterName=TestCluster\nbrokerName=broker-t\nbrokerId=0\nbrokerIP1=%s\nbindAddress=%s\n"
        "listenPort=%d\nstorePathRootDir=%s/store\nmappedFileSizeCommitLog=4194304\n"
        "mappedFileSizeConsumeQueue=60000\nmaxHashSlotNum=1000\nmaxIndexNum=4000\n%s%s%s\n%s\n",
        d->host, d->host, d->port, d->dir, namesrv ? "namesrvAddr=" : "", namesrv ? namesrv : "",
        namesrv ? "\n" : "", extra_conf ? extra_conf : "");
    kt_write_file(d->conf, text);
    d->pid = kt_spawn("kite-broker", d->conf, d->log);
    if (kt_wait_port(d->host, d->port, d->pid, KT_DEADLINE_MS) != 0) {
        fprintf(stderr, "kite-broker did not start; log %s\n", d->log);
        return -1;
    }
    return 0;
}

void kt_kill9(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int kt_connect(const char *host, int port)
{
    char addr[64], err[128];
    snprintf(addr, sizeof addr, "%s:%d", host, port);
    return kite_sock_connect_blocking(addr, 1000, err, sizeof err);
}

int kt_send_raw(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int kt_send_json(int fd, const char *header_json, const void *body, size_t body_len)
{
    size_t h = strlen(header_json);
    size_t total = 8 + h + body_len;
    char *buf = kite_xmalloc(total);
    kite_wr_be32(buf, (uint32_t)(4 + h + body_len));
    kite_wr_be32(buf + 4, (uint32_t)h);
    memcpy(buf + 8, header_json, h);
    if (body_len) memcpy(buf + 8 + h, body, body_len);
    int r = kt_send_raw(fd, buf, total);
    free(buf);
    return r;
}

static int read_full(int fd, void *p, size_t n, int timeout_ms)
{
    char *c = p;
    while (n) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        int r = poll(&pf, 1, timeout_ms);
        if (r <= 0) return -1;
        ssize_t got = read(fd, c, n);
        if (got == 0) return -2;
        if (got < 0) {
            if (errno == EINTR) continue;
            return errno == ECONNRESET ? -2 : -1;
        }
        c += got;
        n -= (size_t)got;
    }
    return 0;
}

int kt_read_frame(int fd, kite_cmd *out, int timeout_ms)
{
    uint8_t lenb[4];
    int r = read_full(fd, lenb, 4, timeout_ms);
    if (r) return r;
    uint32_t n = kite_rd_be32(lenb);
    if (n > (64u << 20)) return -1;
    uint8_t *frame = kite_xmalloc(n + 4);
    memcpy(frame, lenb, 4);
    r = read_full(fd, frame + 4, n, timeout_ms);
    if (r) {
        free(frame);
        return r;
    }
    char err[256];
    r = kite_cmd_decode(out, frame, n + 4, 64u << 20, err, sizeof err);
    free(frame);
    if (r) fprintf(stderr, "kt_read_frame: %s\n", err);
    return r ? -1 : 0;
}

int kt_call(int fd, const char *header_json, const void *body, size_t body_len, kite_cmd *resp)
{
    if (kt_send_json(fd, header_json, body, body_len) != 0) return -1;
    return kt_read_frame(fd, resp, KT_DEADLINE_MS);
}

int kt_peer_closed(int fd, int timeout_ms)
{
    char b[256];
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        if (poll(&pf, 1, 10) > 0) {
            ssize_t n = read(fd, b, sizeof b);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) return 1;
        }
    }
    return 0;
}

const char *kt_body(const kite_cmd *c)
{
    static char buf[1 << 20]; /* test helper: one body at a time */
    size_t n = c->body_len < sizeof buf - 1 ? c->body_len : sizeof buf - 1;
    if (n) memcpy(buf, c->body, n);
    buf[n] = 0;
    return buf;
}

int kt_closed_silently(int fd, int timeout_ms)
{
    int64_t deadline = kite_deadline_ms(timeout_ms);
    for (;;) {
        int64_t left = kite_deadline_left_ms(deadline);
        if (left == 0) return 0;
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        int r = poll(&pf, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        char b[64];
        ssize_t n = read(fd, b, sizeof b);
        if (n > 0) return -1;
        if (n == 0 || errno == ECONNRESET) return 1;
        if (errno != EINTR && errno != EAGAIN) return 1;
    }
}

int kt_read_raw_frame(int fd, uint8_t **frame, size_t *len, int timeout_ms)
{
    uint8_t lenb[4];
    int r = read_full(fd, lenb, 4, timeout_ms);
    if (r) return r;
    uint32_t n = kite_rd_be32(lenb);
    if (n > (64u << 20)) return -1;
    uint8_t *f = kite_xmalloc(n + 4);
    memcpy(f, lenb, 4);
    r = read_full(fd, f + 4, n, timeout_ms);
    if (r) {
        free(f);
        return r;
    }
    *frame = f;
    *len = n + 4;
    return 0;
}

void kt_dump_log(const char *path, long max_bytes)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kt_dump_log: cannot open %s\n", path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > max_bytes ? size - max_bytes : 0;
    fseek(f, from, SEEK_SET);
    fprintf(stderr, "---- %s (last %ld of %ld bytes) ----\n", path, size - from, size);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of %s ----\n", path);
    fclose(f);
}

long kt_proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
        return -1;
    return ut + st;
}

int kt_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

int kt_have_openssl(void)
{
    if (system("command -v openssl >/dev/null 2>&1") == 0) return 1;
    kt_skipped("the openssl command is not installed (scripts/install-deps.sh adds it)");
    return 0;
}

int kt_make_certs(const char *dir, const char *san)
{
    const char *d = dir, *q = "2>/dev/null";
    if (kt_sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
              "-days 2 -subj /CN=kite-test-ca %s",
              d, q) ||
        kt_sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout other_ca.key "
              "-out other_ca.pem -days 2 -subj /CN=kite-other-ca %s",
              d, q) ||
        kt_sh("cd %s && printf 'subjectAltName=%s\\n' > server.ext && "
              "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
              "-subj /CN=kite-server %s && openssl x509 -req -in server.csr -CA ca.pem -CAkey "
              "ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext %s",
              d, san, q, q) ||
        kt_sh("cd %s && openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
              "-subj /CN=kite-client %s && openssl x509 -req -in client.csr -CA ca.pem -CAkey "
              "ca.key -CAcreateserial -out client.pem -days 2 %s",
              d, q, q) ||
        kt_sh("cd %s && openssl req -newkey rsa:2048 -nodes -keyout other_client.key "
              "-out other_client.csr -subj /CN=kite-other-client %s && openssl x509 -req -in "
              "other_client.csr -CA other_ca.pem -CAkey other_ca.key -CAcreateserial "
              "-out other_client.pem -days 2 %s",
              d, q, q))
        return -1;
    return 0;
}

long long kt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kt_wait_route(const kt_daemon *d, const char *topic, int timeout_ms)
{
    int64_t deadline = kite_deadline_ms(timeout_ms);
    char hdr[512];
    snprintf(
        hdr, sizeof hdr,
        "{\"code\":105,\"extFields\":{\"topic\":\"%s\"},\"flag\":0,\"language\":\"JAVA\",\"opaque\":1,"
        "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}",
        topic);
    while (kite_deadline_left_ms(deadline) > 0) {
        int fd = kt_connect(d->host, d->port);
        if (fd >= 0) {
            kite_cmd r;
            int ok = 0;
            if (kt_call(fd, hdr, NULL, 0, &r) == 0) {
                ok = r.code == 0;
                kite_cmd_free(&r);
            }
            close(fd);
            if (ok) return 0;
        }
        usleep(50 * 1000);
    }
    return -1;
}
