/* netns_common.h - network namespaces an integration test creates for itself (CI runs as
 * root): kt<pid>n holds a bridge, the name server and the test process itself (it moves
 * there with setns), kt<pid>m and kt<pid>s each hold one broker plugged into that bridge,
 * and a direct veth pair between m and s carries replication only and can be cut
 * (nn_link), or cut one way (nn_oneway). Daemons are started inside a namespace by entering it around the fork
 * (nn_enter), so their PIDs are the test's children as everywhere else. At exit (atexit,
 * and SIGINT/SIGTERM/SIGHUP) every process left in these namespaces is stopped by PID and
 * the namespaces are deleted (their veths go with them); leftovers of a run that was
 * killed (SIGKILL) are removed the same way at the next start. Without `ip netns` (not
 * root, no CAP_SYS_ADMIN, no bridge/veth support) nn_setup names why, for a skip. The
 * addresses below exist only inside these namespaces. Include after <cmocka.h>. */
#ifndef KITE_TESTS_NETNS_COMMON_H
#define KITE_TESTS_NETNS_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NN_NS_IP   "10.231.1.1" /* the bridge in n: name server and test process */
#define NN_M_IP    "10.231.1.2" /* m's side of the bridge: the master's listenPort */
#define NN_S_IP    "10.231.1.3" /* s's side of the bridge: the slave's listenPort */
#define NN_M_HA_IP "10.231.2.2" /* m's end of the replication link (brokerIP2) */
#define NN_S_HA_IP "10.231.2.3" /* s's end of the replication link */

enum { NN_N, NN_M, NN_S };
static const char nn_suffix[3] = { 'n', 'm', 's' };
static char nn_name[3][32];
static int nn_fd[3] = { -1, -1, -1 };
static int nn_made; /* namespaces created (cleanup deletes exactly these) */

/* Runs an `ip` command line quietly; its exit status (-1 when it could not run). */
static inline int nn_ip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int nn_ip(const char *fmt, ...)
{
    char cmd[512], line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "ip %s >/dev/null 2>&1", cmd);
    int st = system(line);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* SIGKILLs every process in namespace name (ours: started inside it by this test or a
 * killed run of it), by PID. */
static inline void nn_kill_pids(const char *name)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ip netns pids %s 2>/dev/null", name);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char line[64];
    while (fgets(line, sizeof line, p)) {
        pid_t pid = (pid_t)strtol(line, NULL, 10);
        if (pid > 1 && pid != getpid()) kill(pid, SIGKILL);
    }
    pclose(p);
}

/* Leaves the namespaces, stops what runs in them, deletes them. Idempotent. */
static inline void nn_cleanup(void)
{
    if (!nn_made) return;
    for (int i = 0; i < 3; i++) {
        if (nn_fd[i] >= 0) close(nn_fd[i]);
        nn_fd[i] = -1;
    }
    for (int i = 0; i < nn_made; i++) nn_kill_pids(nn_name[i]);
    usleep(100000); /* killed processes release the namespaces' sockets */
    for (int i = 0; i < nn_made; i++) nn_ip("netns del %s", nn_name[i]);
    nn_made = 0;
}

static inline void nn_on_signal(int sig)
{
    nn_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Removes namespaces kt<pid>{n,m,s} whose test process no longer exists. */
static inline void nn_remove_stale(void)
{
    DIR *d = opendir("/run/netns");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (strncmp(s, "kt", 2) != 0) continue;
        char *end;
        long pid = strtol(s + 2, &end, 10);
        if (end == s + 2 || pid <= 1 || !strchr("nms", end[0]) || end[1]) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        fprintf(stderr, "removing namespace %s left by a killed run\n", s);
        nn_kill_pids(s);
        nn_ip("netns del %s", s);
    }
    closedir(d);
}

/* Moves the test process into namespace `which` (processes it forks start there). */
static inline void nn_enter(int which)
{
    if (setns(nn_fd[which], CLONE_NEWNET) != 0) {
        fprintf(stderr, "setns %s: %s\n", nn_name[which], strerror(errno));
        abort();
    }
}

/* Sets the replication link m<->s up or down (m's end: the carrier drops on both ends, and
 * nothing is sent or received on it: a silent cut, no FIN, no RST). */
static inline void nn_link(int up)
{
    if (nn_ip("-n %s link set ha0 %s", nn_name[NN_M], up ? "up" : "down") != 0) {
        fprintf(stderr, "cannot set the replication link %s\n", up ? "up" : "down");
        abort();
    }
}

/* A one-way cut on the replication link: a blackhole route in namespace `from` (NN_M or
 * NN_S) drops every packet it sends to the other end (TCP takes the local refusal as a soft
 * error and keeps retrying; the other end hears nothing), while packets the other way still
 * arrive. on = 0 removes it; returns the ip command's status. */
static inline int nn_oneway(int from, int on)
{
    return nn_ip("-n %s route %s blackhole %s/32", nn_name[from], on ? "add" : "del",
                 from == NN_M ? NN_S_HA_IP : NN_M_HA_IP);
}

/* Creates the namespaces and links and enters kt<pid>n. NULL, or why it cannot (skip). */
static inline const char *nn_setup(void)
{
    if (geteuid() != 0) return "network namespaces need root (CAP_SYS_ADMIN)";
    if (nn_ip("-V") != 0) return "the ip command (iproute2) is not installed";
    nn_remove_stale();
    for (int i = 0; i < 3; i++)
        snprintf(nn_name[i], sizeof nn_name[i], "kt%d%c", (int)getpid(), nn_suffix[i]);
    atexit(nn_cleanup);
    signal(SIGINT, nn_on_signal);
    signal(SIGTERM, nn_on_signal);
    signal(SIGHUP, nn_on_signal);
    for (int i = 0; i < 3; i++) {
        if (nn_ip("netns add %s", nn_name[i]) != 0) {
            nn_cleanup();
            return "ip netns add failed (no CAP_SYS_ADMIN here?)";
        }
        nn_made = i + 1;
        if (nn_ip("-n %s link set lo up", nn_name[i]) != 0) {
            nn_cleanup();
            return "cannot set lo up in a network namespace";
        }
    }
    const char *n = nn_name[NN_N], *m = nn_name[NN_M], *s = nn_name[NN_S];
    if (nn_ip("-n %s link add br0 type bridge forward_delay 0", n) != 0 ||
        nn_ip("-n %s addr add %s/24 dev br0", n, NN_NS_IP) != 0 ||
        nn_ip("-n %s link set br0 up", n) != 0) {
        nn_cleanup();
        return "cannot create a bridge in a network namespace";
    }
    const char *ip[2] = { NN_M_IP, NN_S_IP }, *ns[2] = { m, s }, *port[2] = { "vm", "vs" };
    for (int i = 0; i < 2; i++) {
        if (nn_ip("-n %s link add eth0 type veth peer name %s netns %s", ns[i], port[i], n) != 0 ||
            nn_ip("-n %s addr add %s/24 dev eth0", ns[i], ip[i]) != 0 ||
            nn_ip("-n %s link set eth0 up", ns[i]) != 0 ||
            nn_ip("-n %s link set %s master br0 up", n, port[i]) != 0) {
            nn_cleanup();
            return "cannot create veth pairs in network namespaces";
        }
    }
    if (nn_ip("-n %s link add ha0 type veth peer name ha0 netns %s", m, s) != 0 ||
        nn_ip("-n %s addr add %s/24 dev ha0", m, NN_M_HA_IP) != 0 ||
        nn_ip("-n %s addr add %s/24 dev ha0", s, NN_S_HA_IP) != 0 ||
        nn_ip("-n %s link set ha0 up", m) != 0 || nn_ip("-n %s link set ha0 up", s) != 0) {
        nn_cleanup();
        return "cannot create the replication veth pair";
    }
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "/run/netns/%s", nn_name[i]);
        nn_fd[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (nn_fd[i] < 0) {
            nn_cleanup();
            return "cannot open /run/netns/<name>";
        }
    }
    nn_enter(NN_N);
    return NULL;
}

#endif
