/* startup.c - kite-bench startup: starts a server command, measures the time from just
 * before fork() to the first successful connect() to its address, optionally waits while
 * it idles, reads its memory from /proc, then stops it (SIGTERM, SIGKILL after 10 s) and
 * reports how long stopping took.
 *
 *   kite-bench startup -a <ip:port> [-T <timeout ms=10000>] [-w <idle ms=0>] [-o <log>]
 *                      [--json] -- <command> [args...]
 *
 * Owns: the child process it starts, in a process group of its own whose id is the
 * child's pid (so a wrapper such as strace or a shell script is stopped together with
 * what it started), stopped before returning, also on SIGINT/SIGTERM; and the connect()
 * polling: one attempt every 100 us, so the figure has that resolution while leaving the
 * CPU to the starting server. The command gets /dev/null as stdin and the log (default
 * /dev/null) as stdout and stderr. Memory: RssAnon (anonymous
 * resident memory: heaps, stacks - not mapped files), RssFile and VmRSS from
 * /proc/<pid>/status, read after the idle wait. Single-threaded. Loopback or any IPv4. */
#include "startup.h"
#include "bench.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Set by SIGINT/SIGTERM: stop the child and return. A file-scope flag because a signal
 * handler has no other way to reach the measuring loop. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct startup_opts {
    struct sockaddr_in addr;
    const char *addr_text, *log;
    int timeout_ms, idle_ms, json;
    char **cmd;
} startup_opts;

static int parse_addr(const char *text, struct sockaddr_in *a)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof host) return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    long port = strtol(colon + 1, NULL, 10);
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
    return 0;
}

static int parse(startup_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = 10000;
    o->log = "/dev/null";
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--")) break;
        if (!strcmp(a, "--json"))
            o->json = 1;
        else if (!v)
            return -1;
        else if (!strcmp(a, "-a"))
            o->addr_text = v, i++;
        else if (!strcmp(a, "-T"))
            o->timeout_ms = atoi(v), i++;
        else if (!strcmp(a, "-w"))
            o->idle_ms = atoi(v), i++;
        else if (!strcmp(a, "-o"))
            o->log = v, i++;
        else
            return -1;
    }
    if (i + 1 >= argc || !o->addr_text || parse_addr(o->addr_text, &o->addr) != 0 ||
        o->timeout_ms <= 0 || o->idle_ms < 0)
        return -1;
    o->cmd = argv + i + 1;
    return 0;
}

static pid_t spawn(const startup_opts *o)
{
    pid_t pid = fork();
    if (pid > 0) setpgid(pid, pid); /* both sides, so no signal can race the exec */
    if (pid != 0) return pid;
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int in = open("/dev/null", O_RDONLY), out = open(o->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in >= 0) dup2(in, 0);
    if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
    }
    execvp(o->cmd[0], o->cmd);
    _exit(127);
}

static int try_connect(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc = connect(fd, (const struct sockaddr *)a, sizeof *a);
    close(fd);
    return rc;
}

/* Reads "<key>: <n> kB" from /proc/<pid>/status; -1 when absent. */
static long status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* SIGTERM to the child's process group, then SIGKILL to it after 10 s. Returns the
 * child's wait status; *ms = time until the child exited. */
static int stop(pid_t pid, double *ms)
{
    int64_t t0 = kite_bench_now_us(), deadline = t0 + 10000000;
    int st = 0, reaped = 0;
    kill(-pid, SIGTERM);
    for (;;) {
        if (!reaped) {
            pid_t r = waitpid(pid, &st, WNOHANG);
            if (r == pid || r < 0) {
                reaped = 1;
                *ms = (double)(kite_bench_now_us() - t0) / 1000.0;
            }
        }
        if (reaped && kill(-pid, 0) != 0) break; /* nothing of the group left */
        if (kite_bench_now_us() > deadline) {
            kill(-pid, SIGKILL);
            if (!reaped) waitpid(pid, &st, 0);
            if (!reaped) *ms = (double)(kite_bench_now_us() - t0) / 1000.0;
            break;
        }
        kite_bench_sleep_until(kite_bench_now_us() + 1000);
    }
    return st;
}

int kite_bench_run_startup(int argc, char **argv)
{
    startup_opts o;
    if (parse(&o, argc, argv) != 0) {
        fprintf(
            stderr,
            "usage: kite-bench startup -a <ip:port> [-T <timeout ms=10000>] [-w <idle ms=0>] [-o <log>]"
            " [--json] -- <command> [args...]\n");
        return 2;
    }
    if (try_connect(&o.addr) == 0) {
        fprintf(stderr, "kite-bench: %s already accepts connections\n", o.addr_text);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t t0 = kite_bench_now_us();
    pid_t pid = spawn(&o);
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    double startup_ms = -1;
    for (;;) {
        if (try_connect(&o.addr) == 0) {
            startup_ms = (double)(kite_bench_now_us() - t0) / 1000.0;
            break;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "kite-bench: %s exited (status %d) before accepting connections\n",
                    o.cmd[0], st);
            kill(-pid, SIGTERM); /* whatever it left behind in its group */
            return 1;
        }
        if (interrupted || kite_bench_now_us() - t0 > (int64_t)o.timeout_ms * 1000) break;
        kite_bench_sleep_until(kite_bench_now_us() + 100);
    }
    int64_t idle_end = kite_bench_now_us() + (int64_t)o.idle_ms * 1000;
    while (startup_ms >= 0 && !interrupted && kite_bench_now_us() < idle_end)
        kite_bench_sleep_until(kite_bench_now_us() + 10000 < idle_end ? kite_bench_now_us() + 10000
                                                                      : idle_end);
    long anon = status_kb(pid, "RssAnon"), file = status_kb(pid, "RssFile"),
         rss = status_kb(pid, "VmRSS");
    double stop_ms = 0;
    int st = stop(pid, &stop_ms);
    if (interrupted) {
        fprintf(stderr, "kite-bench: interrupted; %s stopped\n", o.cmd[0]);
        return 1;
    }
    if (startup_ms < 0) {
        fprintf(stderr, "kite-bench: %s did not accept connections on %s within %d ms\n", o.cmd[0],
                o.addr_text, o.timeout_ms);
        return 1;
    }
    int exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    if (o.json)
        printf(
            "{\"mode\":\"startup\",\"cmd\":\"%s\",\"addr\":\"%s\",\"startup_ms\":%.3f,\"idle_ms\":%d,"
            "\"rss_anon_kb\":%ld,\"rss_file_kb\":%ld,\"vm_rss_kb\":%ld,\"stop_ms\":%.1f,\"exit\":%d}\n",
            o.cmd[0], o.addr_text, startup_ms, o.idle_ms, anon, file, rss, stop_ms, exit_code);
    else
        printf(
            "startup: %s accepted connections on %s after %.3f ms; after %d ms idle RssAnon %ld kB, RssFile %ld "
            "kB, VmRSS %ld kB; stopped in %.1f ms (exit %d)\n",
            o.cmd[0], o.addr_text, startup_ms, o.idle_ms, anon, file, rss, stop_ms, exit_code);
    return 0;
}
