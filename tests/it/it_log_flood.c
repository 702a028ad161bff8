/* it_log_flood.c - log lines a peer can cause by repeating a request are rate-limited
 * (base/log.h kite_log_limited; README "Security", docs/DESIGN.md "Hostile clients").
 * A name server is sent 2,000 registrations with a wrong body CRC, 2,000 with a body that
 * does not decode (the two refusal lines: at most one a second each) and 500 registrations
 * of new brokers (a change a peer asked for: at most KLOG_CHANGES lines a second); a broker
 * is sent 2,000 UPDATE_BROKER_CONFIG requests while remote updates are off. After the
 * flood, one more request of each kind in the next second writes a line that carries the
 * count of the lines held back: written lines plus held-back counts add up to the requests
 * sent, so nothing goes unaccounted. Control: the same daemons started with
 * KITE_LOG_NO_LIMIT=1 write one line per request (thousands). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "kt.h"
#include "proto/codes.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_BAD    2000 /* refused registrations of each kind, refused config updates */
#define N_NEW    500  /* new brokers registered */
#define PER_SEC  20   /* KLOG_CHANGES */
#define MAX_PIDS 4

static pid_t g_pids[MAX_PIDS];
static int g_npids;

static int teardown(void **st)
{
    (void)st;
    int rc = 0;
    while (g_npids) {
        pid_t p = g_pids[--g_npids];
        if (kt_stop(p, 5000) != 0) {
            fprintf(stderr, "daemon %d did not exit cleanly\n", (int)p);
            rc = -1;
        }
    }
    return rc;
}

static int setup(void **st)
{
    (void)st;
    signal(SIGPIPE, SIG_IGN);
    g_npids = 0;
    return 0;
}

/* Starts a name server (kind 'n') or a broker ('b'), with every line let through when
 * unlimited (the environment is inherited by the daemon and restored here). */
static void start(kt_daemon *d, char kind, int unlimited)
{
    memset(d, 0, sizeof *d);
    if (unlimited) setenv("KITE_LOG_NO_LIMIT", "1", 1);
    int r = kind == 'n' ? kt_namesrv_start(d, NULL) : kt_broker_start(d, NULL, NULL);
    unsetenv("KITE_LOG_NO_LIMIT");
    assert_int_equal(r, 0);
    assert_true(g_npids < MAX_PIDS);
    g_pids[g_npids++] = d->pid;
}

/* Request + answer code (the answer is freed). */
static int call_code(int fd, int code, const char *ext, const void *body, size_t blen)
{
    static int opaque = 100;
    char h[1024];
    snprintf(h, sizeof h,
             "{\"code\":%d,\"extFields\":{%s},\"flag\":0,\"language\":\"JAVA\",\"opaque\":%d,"
             "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":409}",
             code, ext, ++opaque);
    kite_cmd r;
    assert_int_equal(kt_call(fd, h, body, blen, &r), 0);
    int c = r.code;
    kite_cmd_free(&r);
    return c;
}

/* Lines of log containing needle, and the held-back counts they carry. */
static void count_lines(const char *log, const char *needle, long *lines, long *held)
{
    *lines = *held = 0;
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, needle)) continue;
        (*lines)++;
        const char *p = strstr(line, " similar line(s) not logged)");
        if (!p) continue;
        while (p > line && p[-1] >= '0' && p[-1] <= '9') p--;
        *held += atol(p);
    }
    fclose(f);
}

/* Sleeps into the next second of the monotonic clock (the limiters' second). */
static void next_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    usleep((useconds_t)((1000000000L - ts.tv_nsec) / 1000 + 20000));
}

#define REG_EXT                                                                            \
    "\"bodyCrc32\":\"%s\",\"brokerAddr\":\"%s\",\"brokerId\":\"0\",\"brokerName\":\"%s\"," \
    "\"clusterName\":\"Flood\",\"compressed\":\"false\",\"haServerAddr\":\"\""

static int reg(int fd, const char *crc, const char *addr, const char *name, const char *body)
{
    char ext[512];
    snprintf(ext, sizeof ext, REG_EXT, crc, addr, name);
    return call_code(fd, RC_REGISTER_BROKER, ext, body, body ? strlen(body) : 0);
}

/* The name server flood; n counts of the log lines (CRC, undecodable, new broker) and the
 * held-back counts in h; secs the seconds it took. */
static void ns_flood(int unlimited, long n[3], long h[3], long *secs)
{
    kt_daemon d;
    start(&d, 'n', unlimited);
    int fd = kt_connect(d.host, d.port);
    assert_true(fd >= 0);
    const char *body = "{\"topicConfigSerializeWrapper\":{}}", *junk = "{{{ not json";
    long long t0 = kt_now_ms();
    for (int i = 0; i <= N_BAD; i++) {
        if (i == N_BAD) next_second(); /* the last one carries the count */
        assert_int_equal(reg(fd, "12345", "10.9.0.1:10911", "flood", body), RS_SYSTEM_ERROR);
        assert_int_equal(reg(fd, "0", "10.9.0.1:10911", "flood", junk), RS_SYSTEM_ERROR);
    }
    for (int i = 0; i <= N_NEW; i++) {
        if (i == N_NEW) next_second();
        char addr[64], name[32];
        snprintf(addr, sizeof addr, "10.9.%d.%d:10911", i / 200, i % 200 + 1);
        snprintf(name, sizeof name, "flood-%d", i);
        assert_int_equal(reg(fd, "0", addr, name, NULL), 0);
    }
    *secs = (kt_now_ms() - t0 + 999) / 1000;
    close(fd);
    usleep(100 * 1000);
    count_lines(d.log, "rejected: body CRC mismatch", &n[0], &h[0]);
    count_lines(d.log, "rejected: ", &n[1], &h[1]);
    n[1] -= n[0];
    h[1] -= h[0];
    count_lines(d.log, "broker registered: cluster=Flood", &n[2], &h[2]);
    fprintf(stderr,
            "name server%s, %ld s: CRC refusals %ld lines + %ld held back, undecodable %ld + "
            "%ld, new brokers %ld + %ld\n",
            unlimited ? " (no limit)" : "", *secs, n[0], h[0], n[1], h[1], n[2], h[2]);
}

static void test_namesrv_flood(void **st)
{
    (void)st;
    long n[3], h[3], secs;
    ns_flood(0, n, h, &secs);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(n[k] + h[k], N_BAD + 1); /* every refusal written or counted */
        assert_true(n[k] >= 2 && n[k] <= secs + 1);
    }
    assert_int_equal(n[2] + h[2], N_NEW + 1);
    assert_true(n[2] <= PER_SEC * (secs + 1));
    assert_true(h[2] > 0);
}

/* Control: without the limit every request writes its line. */
static void test_namesrv_flood_unlimited(void **st)
{
    (void)st;
    long n[3], h[3], secs;
    ns_flood(1, n, h, &secs);
    assert_int_equal(n[0], N_BAD + 1);
    assert_int_equal(n[1], N_BAD + 1);
    assert_int_equal(n[2], N_NEW + 1);
    assert_int_equal(h[0] + h[1] + h[2], 0);
}

static void broker_flood(int unlimited, long *n, long *h, long *secs)
{
    kt_daemon d;
    start(&d, 'b', unlimited);
    int fd = kt_connect(d.host, d.port);
    assert_true(fd >= 0);
    const char *props = "brokerPermission=6\n";
    long long t0 = kt_now_ms();
    for (int i = 0; i <= N_BAD; i++) {
        if (i == N_BAD) next_second();
        assert_int_equal(call_code(fd, RC_UPDATE_BROKER_CONFIG, "", props, strlen(props)),
                         RS_NO_PERMISSION);
    }
    *secs = (kt_now_ms() - t0 + 999) / 1000;
    close(fd);
    usleep(100 * 1000);
    count_lines(d.log, "refused UPDATE_BROKER_CONFIG from", n, h);
    fprintf(stderr, "broker%s, %ld s: config refusals %ld lines + %ld held back\n",
            unlimited ? " (no limit)" : "", *secs, *n, *h);
}

static void test_broker_flood(void **st)
{
    (void)st;
    long n, h, secs;
    broker_flood(0, &n, &h, &secs);
    assert_int_equal(n + h, N_BAD + 1);
    assert_true(n >= 2 && n <= secs + 1);
}

static void test_broker_flood_unlimited(void **st)
{
    (void)st;
    long n, h, secs;
    broker_flood(1, &n, &h, &secs);
    assert_int_equal(n, N_BAD + 1);
    assert_int_equal(h, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_namesrv_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namesrv_flood_unlimited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_flood_unlimited, setup, teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
