/* bench_repl.c - benchmark (not a test): produce throughput of a master without a slave, of
 * an ASYNC_MASTER followed by a slave, of a SYNC_MASTER followed by a slave, and of the same
 * SYNC_MASTER pair replicating over TLS (haTlsMode=enforcing / haTlsEnable, a certificate made
 * with the openssl command at start; skipped without it), in the same run, and the replication
 * lag under that load. Ends with the median of each mode over the runs.
 *
 * usage: bench_repl [-s size] [-c in_flight] [-d seconds] [-r runs] [-m modes]
 * -m: the modes to run, digits of 0 (no slave), 1 (ASYNC), 2 (SYNC), 3 (SYNC over TLS);
 * default 0123. "-m 23" compares SYNC_MASTER over TLS with plain in more runs.
 * Each run starts kite-namesrv and kite-broker processes ($KITE_BIN, else ./bin) on a random
 * loopback host with fresh stores, drives them with `kite-bench produce --async`, and stops
 * them by PID. With a slave, the commit-log ends of both brokers are sampled every 20 ms
 * (GET_BROKER_RUNTIME_INFO): the lag in bytes, the lag in time (for each sample, how long
 * until the slave held what the master held then; 20 ms resolution) and the time the slave
 * needs to catch up once the load stops. Also the CPU time (user + system, /proc) the master
 * and the slave spend per message sent, over the load and the catch-up. Prints one line per
 * run and mode. */
#include "base/json.h"
#include "kt.h"
#include "kt_broker.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SAMPLE_MS   20
#define MAX_SAMPLES 20000

static int64_t cl_max(const kt_daemon *d)
{
    int fd = kt_connect(d->host, d->port);
    if (fd < 0) return -1;
    kite_cmd r;
    int64_t v = -1;
    if (kb_call(fd, 28, "", NULL, 0, &r) == 0) {
        char err[128];
        kite_json_doc *doc =
            r.code == 0 ? kite_json_parse((const char *)r.body, r.body_len, err, sizeof err) : NULL;
        if (doc) {
            const char *s = kite_json_get_str(kite_json_get(kite_json_root(doc), "table"),
                                              "commitLogMaxOffset", NULL);
            if (s) v = strtoll(s, NULL, 10);
            kite_json_doc_free(doc);
        }
        kite_cmd_free(&r);
    }
    kb_forget_fd(fd);
    close(fd);
    return v;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static long long pct(long long *v, int n, double p)
{
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_ll);
    int i = (int)(p * (n - 1));
    return v[i];
}

static double tps_of(const char *json)
{
    const char *p = strstr(json, "\"tps\":");
    return p ? strtod(p + 6, NULL) : -1;
}

/* CPU time (user + system) a process has used so far, in microseconds; -1 if unknown. */
static long long cpu_us(pid_t pid)
{
    long t = kt_proc_cpu_ticks(pid);
    return t < 0 ? -1 : (long long)t * 1000000LL / sysconf(_SC_CLK_TCK);
}

static double g_mus[4][64], g_sus[4][64]; /* CPU us per message, master / slave, per run */
static int g_run;
static char g_host[32];   /* the masters' address, named by the certificate */
static char g_certs[512]; /* ca.pem, server.pem, server.key; "" = no TLS mode */

/* kt_make_certs for g_host in g_certs. 0, or -1 (no TLS mode). */
static int make_certs(void)
{
    if (!kt_have_openssl()) return -1;
    kt_mkdtemp("bench-repl-certs", g_certs, sizeof g_certs);
    char san[48];
    snprintf(san, sizeof san, "IP:%s", g_host);
    if (kt_make_certs(g_certs, san) != 0) {
        g_certs[0] = 0;
        return -1;
    }
    return 0;
}

static const char *mode_name(int mode)
{
    static const char *n[] = { "no slave", "ASYNC_MASTER + slave", "SYNC_MASTER + slave",
                               "SYNC_MASTER + slave over TLS" };
    return n[mode];
}

static long long t_ms[MAX_SAMPLES], m_end[MAX_SAMPLES], s_end[MAX_SAMPLES], lagb[MAX_SAMPLES],
    lagt[MAX_SAMPLES];

/* One run (mode 0: no slave, 1: ASYNC_MASTER + slave, 2: SYNC_MASTER + slave, 3: the same
 * over TLS): returns the producer's msgs/s; with a slave, prints the lag figures. */
static double run(int mode, int size, int inflight, int secs)
{
    int with_slave = mode > 0, tls = mode == 3;
    kt_daemon ns = { 0 }, m = { 0 }, s = { 0 };
    if (kt_namesrv_start(&ns, NULL) != 0) exit(1);
    char nsaddr[64];
    snprintf(nsaddr, sizeof nsaddr, "%s:%d", ns.host, ns.port);
    snprintf(m.host, sizeof m.host, "%s", g_host);
    m.port = kt_free_port(m.host);
    int ha;
    do ha = kt_free_port(m.host);
    while (ha == m.port || ha == m.port - 2);
    char extra[2048], sextra[1024];
    snprintf(extra, sizeof extra,
             "mappedFileSizeCommitLog=134217728\nhaListenPort=%d\nbrokerRole=%s\n", ha,
             mode >= 2 ? "SYNC_MASTER" : "ASYNC_MASTER");
    snprintf(sextra, sizeof sextra,
             "brokerRole=SLAVE\nbrokerId=1\nmappedFileSizeCommitLog=134217728\n");
    if (tls) {
        size_t n = strlen(extra);
        snprintf(extra + n, sizeof extra - n,
                 "haTlsMode=enforcing\ntls.server.certPath=%s/server.pem\n"
                 "tls.server.keyPath=%s/server.key\n",
                 g_certs, g_certs);
        n = strlen(sextra);
        snprintf(sextra + n, sizeof sextra - n,
                 "haTlsEnable=true\ntls.client.trustCertPath=%s/ca.pem\n", g_certs);
    }
    if (kt_broker_start(&m, nsaddr, extra) != 0) exit(1);
    if (with_slave && kt_broker_start(&s, nsaddr, sextra) != 0) exit(1);
    const char *bin = getenv("KITE_BIN");
    char cmd[1024];
    snprintf(
        cmd, sizeof cmd,
        "%s/kite-bench produce -n %s -t BenchRepl -s %d -c %d -d %d --async --json 2>/dev/null",
        bin && *bin ? bin : "./bin", nsaddr, size, inflight, secs);
    if (with_slave) { /* the load starts once the slave is attached (TLS takes a handshake) */
        long long w0 = kt_now_ms();
        while (kb_count_lines(s.log, "connected to master") <= 0 && kt_now_ms() - w0 < 30000)
            usleep(20000);
        usleep(200000); /* its first report reaches the master */
    }
    long long mcpu0 = cpu_us(m.pid), scpu0 = with_slave ? cpu_us(s.pid) : 0;
    FILE *p = popen(cmd, "r");
    int n = 0;
    long long t0 = kt_now_ms(), load_end = -1, caught = -1;
    if (with_slave) {
        /* Sample until the load has stopped and the slave holds everything. */
        int64_t last_m = -1, stable = 0;
        while (n < MAX_SAMPLES) {
            long long now = kt_now_ms() - t0;
            int64_t me = cl_max(&m), se = cl_max(&s);
            t_ms[n] = now;
            m_end[n] = me;
            s_end[n] = se;
            n++;
            if (me == last_m)
                stable++;
            else
                stable = 0;
            if (load_end < 0 && now > secs * 1000 && stable >= 3) load_end = now - 3 * SAMPLE_MS;
            last_m = me;
            if (load_end >= 0 && se == me) {
                caught = now - load_end;
                break;
            }
            usleep(SAMPLE_MS * 1000);
        }
    }
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') snprintf(last, sizeof last, "%s", line);
    pclose(p);
    double tps = tps_of(last);
    /* CPU per message sent, master and slave, over the load and the catch-up after it. */
    const char *sp = strstr(last, "\"sent\":");
    long long sent = sp ? strtoll(sp + 7, NULL, 10) : 0;
    double mus = sent > 0 ? (double)(cpu_us(m.pid) - mcpu0) / (double)sent : 0;
    double sus = sent > 0 && with_slave ? (double)(cpu_us(s.pid) - scpu0) / (double)sent : 0;
    if (with_slave) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (load_end >= 0 && t_ms[i] > load_end) break;
            lagb[k] = m_end[i] - s_end[i];
            long long when = -1;
            for (int j = i; j < n; j++)
                if (s_end[j] >= m_end[i]) {
                    when = t_ms[j] - t_ms[i];
                    break;
                }
            lagt[k++] = when < 0 ? t_ms[n - 1] - t_ms[i] : when;
        }
        long long b50 = pct(lagb, k, 0.5), b99 = pct(lagb, k, 0.99), bmax = pct(lagb, k, 1.0);
        long long t50 = pct(lagt, k, 0.5), t99 = pct(lagt, k, 0.99), tmax = pct(lagt, k, 1.0);
        printf(
            "  %s: %.0f msgs/s; lag under load (%d samples): bytes p50 %lld p99 %lld max %lld; "
            "time p50 %lld ms p99 %lld ms max %lld ms; caught up %lld ms after the load; %lld bytes replicated; "
            "CPU per message: master %.1f us, slave %.1f us\n",
            mode_name(mode), tps, k, b50, b99, bmax, t50, t99, tmax, caught, n ? m_end[n - 1] : 0,
            mus, sus);
    } else {
        printf("  no slave: %.0f msgs/s; CPU per message: %.1f us\n", tps, mus);
    }
    g_mus[mode][g_run] = mus;
    g_sus[mode][g_run] = sus;
    fflush(stdout);
    if (with_slave) kt_stop(s.pid, 10000);
    kt_stop(m.pid, 10000);
    kt_stop(ns.pid, 10000);
    char rm[2048];
    snprintf(rm, sizeof rm, "rm -rf '%s' '%s' '%s'", ns.dir, m.dir, with_slave ? s.dir : ns.dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove the run's directories\n");
    return tps;
}

int main(int argc, char **argv)
{
    int size = 1024, inflight = 256, secs = 5, runs = 3;
    const char *want = "0123";
    int o;
    while ((o = getopt(argc, argv, "s:c:d:r:m:")) != -1) {
        if (o == 's')
            size = atoi(optarg);
        else if (o == 'c')
            inflight = atoi(optarg);
        else if (o == 'd')
            secs = atoi(optarg);
        else if (o == 'r')
            runs = atoi(optarg);
        else if (o == 'm')
            want = optarg;
        else {
            fprintf(
                stderr,
                "usage: bench_repl [-s size] [-c in_flight] [-d seconds] [-r runs] [-m modes]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    kt_random_host(g_host, sizeof g_host);
    int on[4];
    for (int mode = 0; mode < 4; mode++) on[mode] = strchr(want, '0' + mode) != NULL;
    if (on[3] && make_certs() != 0) {
        printf("no openssl command: the TLS mode is skipped\n");
        on[3] = 0;
    }
    static double tps[4][64];
    if (runs > 64) runs = 64;
    for (int r = 0; r < runs; r++) {
        printf("run %d: %d-byte messages, %d in flight, %d s\n", r + 1, size, inflight, secs);
        g_run = r;
        for (int mode = 0; mode < 4; mode++)
            if (on[mode]) tps[mode][r] = run(mode, size, inflight, secs);
    }
    printf("medians over %d run(s):\n", runs);
    long long med[4] = { 0 };
    for (int mode = 0; mode < 4; mode++) {
        if (!on[mode]) continue;
        long long v[64];
        for (int r = 0; r < runs; r++) v[r] = (long long)tps[mode][r];
        med[mode] = pct(v, runs, 0.5);
        long long mu[64], su[64]; /* in tenths of a microsecond */
        for (int r = 0; r < runs; r++) {
            mu[r] = (long long)(g_mus[mode][r] * 10);
            su[r] = (long long)(g_sus[mode][r] * 10);
        }
        char ratio[64] = "";
        if (on[0] && med[0] > 0)
            snprintf(ratio, sizeof ratio, " (%.2f of no slave)",
                     (double)med[mode] / (double)med[0]);
        if (mode == 0)
            printf("  %s: %lld msgs/s%s; CPU per message: %.1f us\n", mode_name(mode), med[mode],
                   ratio, (double)pct(mu, runs, 0.5) / 10);
        else
            printf("  %s: %lld msgs/s%s; CPU per message: master %.1f us, slave %.1f us\n",
                   mode_name(mode), med[mode], ratio, (double)pct(mu, runs, 0.5) / 10,
                   (double)pct(su, runs, 0.5) / 10);
    }
    if (on[2] && on[3] && med[2] > 0)
        printf("  SYNC_MASTER over TLS / plain: %.2f\n", (double)med[3] / (double)med[2]);
    if (g_certs[0]) {
        char rm[700];
        snprintf(rm, sizeof rm, "rm -rf '%s'", g_certs);
        if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", g_certs);
    }
    return 0;
}
