/* it_admin.c - kite-admin (the binary in $KITE_BIN) against real kite-namesrv, master and
 * slave processes: each subcommand's output is checked against the daemons' real state,
 * read with raw requests beside the tool (GET_ALL_TOPIC_CONFIG, GET_KV_CONFIG,
 * GET_ALL_SUBSCRIPTIONGROUP_CONFIG, GET_BROKER_RUNTIME_INFO...), and against mqadmin's
 * column formats (docs/admin.md). Every positive check has its control: the same check run
 * before the state exists (topic not created yet, nothing sent, offset not committed,
 * consumer not connected, key not stored) must see the other answer. Error paths: unknown
 * command and option (exit 2), missing required option (2), a broker's refusal (1, its
 * code and remark printed), an address nobody listens on (1), an unknown cluster (1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"
#include <fcntl.h>

typedef struct run {
    int rc;
    char out[65536];
    char err[16384];
} run;

static run R; /* the last kite-admin run */
static char errfile[600];

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* Runs "kite-admin <args>" (bounded by timeout 60); stdout into R.out, stderr into
 * R.err; returns the exit code. */
static int adm(const char *fmt, ...)
{
    const char *bin = getenv("KITE_BIN");
    char args[2048], cmd[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (!errfile[0]) {
        const char *tmp = getenv("KITE_TMP");
        snprintf(errfile, sizeof errfile, "%s/it_admin.%d.err", tmp && *tmp ? tmp : "/tmp",
                 (int)getpid());
        mkdir(tmp && *tmp ? tmp : "/tmp", 0755);
    }
    snprintf(cmd, sizeof cmd, "timeout 60 %s/kite-admin %s 2>%s", bin && *bin ? bin : "./bin", args,
             errfile);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(R.out, 1, sizeof R.out - 1, p);
    R.out[n] = 0;
    int st = pclose(p);
    slurp(errfile, R.err, sizeof R.err);
    R.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return R.rc;
}

static void show(void)
{
    fprintf(stderr, "---- kite-admin exit %d\n---- stdout:\n%s\n---- stderr:\n%s\n", R.rc, R.out,
            R.err);
}

/* queryMsgById writes the body where mqadmin does (/tmp/rocketmq/msgbodys/<id>): removes
 * the file the last run named. */
static void unlink_body(void)
{
    const char *p = strstr(R.out, "Message Body Path:   ");
    char path[512];
    if (p && sscanf(p + 21, "%511s", path) == 1) unlink(path);
}

/* A whole line of text equal to line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == 0)) return 1;
    return 0;
}

static void expect_line(const char *line)
{
    if (!has_line(R.out, line)) {
        show();
        fail_msg("no line \"%s\"", line);
    }
}

static void expect_no_line(const char *line)
{
    if (has_line(R.out, line)) {
        show();
        fail_msg("unexpected line \"%s\"", line);
    }
}

static void expect_rc(int rc)
{
    if (R.rc != rc) {
        show();
        fail_msg("exit %d, want %d", R.rc, rc);
    }
}

static void expect_err(const char *needle)
{
    if (!strstr(R.err, needle)) {
        show();
        fail_msg("stderr lacks \"%s\"", needle);
    }
}

/* The whitespace-separated fields of the first line whose first fields are a, b, c (c may
 * be NULL): up to 12 fields into f (each < 128 bytes). Returns the count, 0 when absent. */
static int row(const char *a, const char *b, const char *c, char f[12][128])
{
    for (const char *p = R.out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        int n = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " ", &save); t && n < 12; t = strtok_r(NULL, " ", &save))
            snprintf(f[n++], 128, "%s", t);
        if (n >= 2 && !strcmp(f[0], a) && !strcmp(f[1], b) && (!c || (n >= 3 && !strcmp(f[2], c))))
            return n;
    }
    return 0;
}

static void daemon_addr(const kt_daemon *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%d", d->host, d->port);
}

/* Polls `kite-admin <args>` until its output has line (KT_DEADLINE_MS). */
static void wait_line(const char *line, const char *fmt, const char *a1, const char *a2)
{
    long long t0 = kt_now_ms();
    do {
        adm(fmt, a1, a2);
        if (R.rc == 0 && has_line(R.out, line)) return;
        usleep(50000);
    } while (kt_now_ms() - t0 < KT_DEADLINE_MS);
    show();
    fail_msg("no line \"%s\" in time", line);
}

static kite_json_doc *raw_json(const kt_daemon *d, int code, const char *ext)
{
    int fd = bk_conn(d);
    kite_cmd r;
    assert_int_equal(kb_call(fd, code, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    kite_json_doc *doc = kx_parse(&r);
    assert_non_null(doc);
    kite_cmd_free(&r);
    bk_close(fd);
    return doc;
}

/* ---- usage: no daemons needed ---- */

static void test_usage(void **st)
{
    (void)st;
    assert_int_equal(adm(""), 0);
    expect_line("The most commonly used mqadmin commands are:");
    expect_line("   topicStatus          Examine topic Status info");
    expect_line("   consumerProgress     Query consumers's progress, speed");
    expect_line("See 'mqadmin help <command>' for more information on a specific command.");
    const char *names[] = { "updateTopic",      "deleteTopic",    "updateSubGroup",
                            "deleteSubGroup",   "topicRoute",     "topicStatus",
                            "topicClusterList", "brokerStatus",   "queryMsgById",
                            "queryMsgByKey",    "printMsg",       "consumerConnection",
                            "consumerProgress", "clusterList",    "topicList",
                            "updateKvConfig",   "deleteKvConfig", "getNamesrvConfig",
                            "getBrokerConfig" };
    char want[64];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(want, sizeof want, "   %-20s ", names[i]);
        assert_non_null(strstr(R.out, want));
    }
    snprintf(want, sizeof want, "   %-20s ", "resetOffsetByTime");
    assert_null(strstr(R.out, want)); /* control: one it does not have */
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        /* each command has its help, with -h and -n added to its own options */
        assert_int_equal(adm("help %s", names[i]), 0);
        snprintf(want, sizeof want, "usage: mqadmin %s ", names[i]);
        assert_non_null(strstr(R.out, want));
        assert_non_null(strstr(R.out, " -n,--namesrvAddr <arg> "));
        assert_non_null(strstr(R.out, " -h,--help "));
    }
    assert_int_equal(adm("help consumerProgress"), 0);
    assert_non_null(strstr(R.out, " -g,--groupName <arg> "));
    assert_null(strstr(R.out, " -t,--topic <arg> ")); /* control: not another command's */
    assert_int_equal(adm("topicRoute -h"), 0);
    assert_non_null(strstr(R.out, "usage: mqadmin topicRoute [-h] [-l] [-n <arg>] -t <arg>"));

    /* errors: exit 2 with a message naming the problem */
    assert_int_equal(adm("noSuchCommand -n 127.0.0.1:1"), 2);
    expect_err("The sub command noSuchCommand not exist.");
    assert_int_equal(adm("help noSuchCommand"), 2);
    assert_int_equal(adm("topicRoute -n 127.0.0.1:1 -t T -Z"), 2);
    expect_err("unknown option '-Z'");
    assert_int_equal(adm("topicRoute -n 127.0.0.1:1 --nosuch T"), 2);
    expect_err("unknown option '--nosuch'");
    assert_int_equal(adm("topicRoute -n 127.0.0.1:1"), 2);
    expect_err("missing required option -t (--topic)");
    assert_int_equal(adm("topicRoute -n 127.0.0.1:1 -t"), 2);
    expect_err("missing argument");
    assert_int_equal(adm("updateTopic -n 127.0.0.1:1 -t T"), 2); /* neither -b nor -c */
    assert_int_equal(adm("updateTopic -n 127.0.0.1:1 -b 127.0.0.1:1 -t T -r x"), 2);
    /* control: the same command with valid options gets past parsing (and then fails on
     * the unreachable address, exit 1, not 2) */
    assert_int_equal(adm("topicRoute -n 127.0.0.1:1 -t T"), 1);
    assert_null(strstr(R.err, "unknown option"));
}

/* ---- cluster, broker and name-server views (master + slave) ---- */

static void test_cluster_and_config(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, NULL);
    char nsa[64], ma[64], sa[64], line[512], f[12][128];
    daemon_addr(ns, nsa, sizeof nsa);
    daemon_addr(m, ma, sizeof ma);

    /* mqadmin's header, printed with its format */
    char header[512];
    snprintf(header, sizeof header, "%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s",
             "#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS(LOAD)",
             "#OutTPS(LOAD)", "#PCWait(ms)", "#Hour", "#SPACE");
    long long t0 = kt_now_ms();
    while (adm("clusterList -n %s", nsa) == 0 && !row("TestCluster", "broker-t", "0", f) &&
           kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(50000);
    expect_rc(0);
    expect_line(header);
    assert_true(row("TestCluster", "broker-t", "0", f) >= 6);
    assert_string_equal(f[3], ma);
    assert_string_equal(f[4], "V4_9_8");
    assert_int_equal(row("TestCluster", "broker-t", "1", f), 0); /* control: no slave yet */

    kt_daemon *s = rp_start_slave(ns, 1, NULL);
    daemon_addr(s, sa, sizeof sa);
    t0 = kt_now_ms();
    while (adm("clusterList -n %s", nsa) == 0 && !row("TestCluster", "broker-t", "1", f) &&
           kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(50000);
    if (!row("TestCluster", "broker-t", "1", f)) show();
    assert_true(row("TestCluster", "broker-t", "1", f) >= 6);
    assert_string_equal(f[3], sa);
    assert_true(row("TestCluster", "broker-t", "0", f) >= 6); /* the master still listed */
    /* -i: the table again every interval until stopped (here by timeout(1) after 6 s: at
     * least two tables even on a slow machine) */
    {
        const char *bin = getenv("KITE_BIN");
        char cmd[600], buf[4096];
        snprintf(cmd, sizeof cmd, "timeout 6 %s/kite-admin clusterList -n %s -i 1",
                 bin && *bin ? bin : "./bin", nsa);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        int headers = 0;
        while (fgets(buf, sizeof buf, p))
            if (!strncmp(buf, header, strlen(header))) headers++;
        int st = pclose(p);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 124); /* still running when stopped */
        assert_true(headers >= 2);
    }
    /* -n with a dead name server first: the next one answers */
    assert_int_equal(adm("clusterList -n '127.0.0.1:1;%s'", nsa), 0);
    assert_true(row("TestCluster", "broker-t", "1", f) >= 6);

    /* brokerStatus: the broker's runtime table, "%-32s: %s" sorted by key */
    assert_int_equal(adm("brokerStatus -n %s -b %s", nsa, ma), 0);
    snprintf(line, sizeof line, "%-32s: %s", "brokerVersionDesc", "V4_9_8");
    expect_line(line);
    snprintf(line, sizeof line, "%-32s: %lld", "commitLogMaxOffset",
             (long long)rp_runtime(m, "commitLogMaxOffset"));
    expect_line(line);
    const char *b = strstr(R.out, "bootTimestamp"), *v = strstr(R.out, "brokerVersionDesc");
    assert_true(b && v && b < v); /* sorted */
    assert_int_equal(adm("brokerStatus -n %s -c TestCluster", nsa), 0);
    snprintf(line, sizeof line, "%-24s %-32s: %s", ma, "brokerVersionDesc", "V4_9_8");
    expect_line(line);
    snprintf(line, sizeof line, "%-24s %-32s: %s", sa, "brokerVersionDesc", "V4_9_8");
    expect_line(line);

    /* getBrokerConfig: the brokers' own configuration */
    assert_int_equal(adm("getBrokerConfig -n %s -b %s", nsa, sa), 0);
    snprintf(line, sizeof line, "============%s============", sa);
    expect_line(line);
    snprintf(line, sizeof line, "%-50s=  %s", "brokerId", "1");
    expect_line(line);
    snprintf(line, sizeof line, "%-50s=  %d", "listenPort", s->port);
    expect_line(line);
    assert_int_equal(adm("getBrokerConfig -n %s -c TestCluster", nsa), 0);
    snprintf(line, sizeof line, "============Master: %s============", ma);
    expect_line(line);
    snprintf(line, sizeof line, "============My Master: %s=====Slave: %s============", ma, sa);
    expect_line(line);
    snprintf(line, sizeof line, "%-50s=  %s", "brokerId", "0");
    expect_line(line);
    assert_true(strstr(R.out, "Master: ") < strstr(R.out, "Slave: "));

    /* getNamesrvConfig */
    assert_int_equal(adm("getNamesrvConfig -n %s", nsa), 0);
    snprintf(line, sizeof line, "============%s============", nsa);
    expect_line(line);
    snprintf(line, sizeof line, "%-50s=  %d", "listenPort", ns->port);
    expect_line(line);

    /* updateKvConfig / deleteKvConfig, read back with GET_KV_CONFIG */
    int fd = bk_conn(ns);
    const char *ext = "\"namespace\":\"AdmNs\",\"key\":\"k1\"";
    assert_int_equal(kb_call_code(fd, 101, ext, NULL, 0), 22); /* control: absent */
    assert_int_equal(adm("updateKvConfig -n %s -s AdmNs -k k1 -v value-1", nsa), 0);
    expect_line("create or update kv config to namespace success.");
    kite_cmd r;
    assert_int_equal(kb_call(fd, 101, ext, NULL, 0, &r), 0);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "value"), "value-1");
    kite_cmd_free(&r);
    assert_int_equal(adm("deleteKvConfig -n %s -s AdmNs -k k1", nsa), 0);
    expect_line("delete kv config from namespace success.");
    assert_int_equal(kb_call_code(fd, 101, ext, NULL, 0), 22);
    assert_int_equal(adm("updateKvConfig -n %s -s AdmNs -k k1", nsa), 2); /* no -v */

    /* an unknown cluster */
    assert_int_equal(adm("brokerStatus -n %s -c NoSuchCluster", nsa), 1);
    expect_line("[error] Make sure the specified clusterName exists or the name server connected "
                "to is correct.");
}

/* ---- topics ---- */

static void expect_status_row(int qid, long long min, long long max, int updated)
{
    char f[12][128], q[16];
    snprintf(q, sizeof q, "%d", qid);
    int n = row("broker-t", q, NULL, f);
    if (n < 4) show();
    assert_true(n >= 4);
    assert_int_equal(atoll(f[2]), min);
    assert_int_equal(atoll(f[3]), max);
    if (updated) assert_true(n >= 6); /* "yyyy-MM-dd HH:mm:ss,SSS": two more fields */
}

static const kite_json *topic_config(kite_json_doc *d, const char *topic)
{
    return kite_json_get(kite_json_get(kite_json_root(d), "topicConfigTable"), topic);
}

static void test_topics(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    kt_daemon *br = bk_start_broker(ns, NULL);
    char nsa[64], ba[64], line[512], f[12][128];
    daemon_addr(ns, nsa, sizeof nsa);
    daemon_addr(br, ba, sizeof ba);
    wait_line("TestCluster", "topicClusterList -n %s -t %s", nsa, "TBW102");

    assert_int_equal(adm("topicList -n %s", nsa), 0);
    expect_line("TBW102");
    expect_no_line("AdmTopic"); /* control */
    assert_int_equal(adm("updateTopic -n %s -c TestCluster -t AdmTopic -r 3 -w 3", nsa), 0);
    snprintf(line, sizeof line, "create topic to %s success.", ba);
    expect_line(line);
    expect_line("TopicConfig [topicName=AdmTopic, readQueueNums=3, writeQueueNums=3, perm=RW-, "
                "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]");
    kite_json_doc *d = raw_json(br, 21, "");
    const kite_json *tc = topic_config(d, "AdmTopic");
    assert_non_null(tc);
    assert_int_equal(kite_json_get_int32(tc, "readQueueNums", -1), 3);
    assert_int_equal(kite_json_get_int32(tc, "perm", -1), 6);
    kite_json_doc_free(d);
    wait_line("AdmTopic", "topicList -n %s%s", nsa, "");
    assert_int_equal(adm("topicList -n %s -c", nsa), 0);
    snprintf(line, sizeof line, "%-20s  %-48s  %-48s", "#Cluster Name", "#Topic",
             "#Consumer Group");
    expect_line(line);
    assert_true(row("TestCluster", "AdmTopic", NULL, f) == 2);

    /* topicRoute: fastjson's pretty layout; the numbers are the broker's */
    assert_int_equal(adm("topicRoute -n %s -t AdmTopic", nsa), 0);
    assert_int_equal(strncmp(R.out, "{\n\t\"brokerDatas\":[\n\t\t{\n", 23), 0);
    char err[128];
    kite_json_doc *route = kite_json_parse(R.out, strlen(R.out), err, sizeof err);
    if (!route) show();
    assert_non_null(route);
    const kite_json *q = kite_json_at(kite_json_get(kite_json_root(route), "queueDatas"), 0);
    assert_int_equal(kite_json_get_int32(q, "readQueueNums", -1), 3);
    assert_int_equal(kite_json_get_int32(q, "writeQueueNums", -1), 3);
    assert_int_equal(kite_json_get_int32(q, "perm", -1), 6);
    const kite_json *bd = kite_json_at(kite_json_get(kite_json_root(route), "brokerDatas"), 0);
    assert_string_equal(kite_json_get_str(kite_json_get(bd, "brokerAddrs"), "0", ""), ba);
    kite_json_doc_free(route);
    assert_int_equal(adm("topicRoute -n %s -t AdmTopic -l", nsa), 0);
    assert_int_equal(row("TestCluster", "broker-t", NULL, f), 6);
    snprintf(line, sizeof line, "{0=%s}", ba);
    assert_string_equal(f[2], line);
    assert_string_equal(f[3], "3");
    assert_string_equal(f[4], "3");
    assert_string_equal(f[5], "6");
    assert_int_equal(row("Total:", "1", NULL, f), 4);
    assert_int_equal(adm("topicClusterList -n %s -t AdmTopic", nsa), 0);
    assert_string_equal(R.out, "TestCluster\n");

    /* topicStatus: max offsets follow the sends */
    assert_int_equal(adm("topicStatus -n %s -t AdmTopic", nsa), 0);
    snprintf(line, sizeof line, "%-32s  %-4s  %-20s  %-20s    %s", "#Broker Name", "#QID",
             "#Min Offset", "#Max Offset", "#Last Updated");
    expect_line(line);
    for (int i = 0; i < 3; i++) expect_status_row(i, 0, 0, 0); /* control: nothing sent */
    int fd = bk_conn(br);
    for (int i = 0; i < 5; i++) bk_send_ok(fd, "AdmTopic", 0, "", "m0", NULL);
    for (int i = 0; i < 2; i++) bk_send_ok(fd, "AdmTopic", 2, "", "m2", NULL);
    bk_wait_max(fd, "AdmTopic", 0, 5);
    bk_wait_max(fd, "AdmTopic", 2, 2);
    assert_int_equal(adm("topicStatus -n %s -t AdmTopic", nsa), 0);
    expect_status_row(0, 0, 5, 1);
    expect_status_row(1, 0, 0, 0);
    expect_status_row(2, 0, 2, 1);
    assert_int_equal(row("broker-t", "3", NULL, f), 0);

    /* an ordered topic: ORDER_TOPIC_CONFIG on the name server */
    int nfd = bk_conn(ns);
    const char *okext = "\"namespace\":\"ORDER_TOPIC_CONFIG\",\"key\":\"AdmOrd\"";
    assert_int_equal(kb_call_code(nfd, 101, okext, NULL, 0), 22); /* control */
    assert_int_equal(adm("updateTopic -n %s -b %s -t AdmOrd -w 4 -o true", nsa, ba), 0);
    snprintf(
        line, sizeof line,
        "set broker orderConf. isOrder=true, orderConf=[broker-t:4]create topic to %s success.\n",
        ba);
    assert_int_equal(strncmp(R.out, line, strlen(line)), 0);
    assert_non_null(strstr(R.out, "writeQueueNums=4, perm=RW-, topicFilterType=SINGLE_TAG, "
                                  "topicSysFlag=0, order=true]"));
    kite_cmd kv;
    assert_int_equal(kb_call(nfd, 101, okext, NULL, 0, &kv), 0);
    assert_int_equal(kv.code, 0);
    assert_string_equal(kite_cmd_ext(&kv, "value"), "broker-t:4");
    kite_cmd_free(&kv);

    /* updating: more write queues */
    assert_int_equal(adm("updateTopic -n %s -b %s -t AdmTopic -r 3 -w 5 -p 4", nsa, ba), 0);
    expect_line("TopicConfig [topicName=AdmTopic, readQueueNums=3, writeQueueNums=5, perm=R--, "
                "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]");
    long long t0 = kt_now_ms();
    do {
        adm("topicRoute -n %s -t AdmTopic -l", nsa);
        if (row("TestCluster", "broker-t", NULL, f) == 6 && !strcmp(f[4], "5")) break;
        usleep(50000);
    } while (kt_now_ms() - t0 < KT_DEADLINE_MS);
    assert_string_equal(f[4], "5");
    assert_string_equal(f[5], "4");

    /* refusals: the broker's code and remark, exit 1 */
    kite_cmd r;
    const char *bad_ext =
        "\"topic\":\"bad topic!\",\"defaultTopic\":\"TBW102\",\"readQueueNums\":\"8\","
        "\"writeQueueNums\":\"8\",\"perm\":\"6\",\"topicFilterType\":\"SINGLE_TAG\","
        "\"topicSysFlag\":\"0\",\"order\":\"false\"";
    assert_int_equal(kb_call(fd, 17, bad_ext, NULL, 0, &r), 0);
    assert_true(r.code != 0);
    snprintf(line, sizeof line, "UPDATE_AND_CREATE_TOPIC failed, CODE: %d DESC: %s", r.code,
             r.remark ? r.remark : "");
    kite_cmd_free(&r);
    assert_int_equal(adm("updateTopic -n %s -b %s -t 'bad topic!'", nsa, ba), 1);
    expect_err(line);
    int dead = kt_free_port(br->host);
    assert_int_equal(adm("updateTopic -n %s -b %s:%d -t AdmOther", nsa, br->host, dead), 1);
    snprintf(line, sizeof line, "request 17 to %s:%d failed", br->host, dead);
    expect_err(line);
    assert_int_equal(adm("deleteTopic -n %s -c NoSuchCluster -t AdmTopic", nsa), 1);
    assert_int_equal(adm("topicRoute -n %s -t NoSuchTopic", nsa), 1);
    expect_err("GET_ROUTEINFO_BY_TOPIC failed, CODE: 17 DESC: ");

    /* deleteTopic: gone from the broker and the name server */
    assert_int_equal(adm("deleteTopic -n %s -c TestCluster -t AdmTopic", nsa), 0);
    expect_line("delete topic [AdmTopic] from cluster [TestCluster] success.");
    expect_line("delete topic [AdmTopic] from NameServer success.");
    d = raw_json(br, 21, "");
    assert_null(topic_config(d, "AdmTopic"));
    assert_non_null(topic_config(d, "TBW102")); /* control: the table is the right one */
    kite_json_doc_free(d);
    assert_int_equal(adm("topicList -n %s", nsa), 0);
    expect_no_line("AdmTopic");
    expect_line("TBW102");
    assert_int_equal(adm("topicRoute -n %s -t AdmTopic", nsa), 1);
    expect_err("CODE: 17");
}

/* ---- subscription groups and consumers ---- */

static void commit(int fd, const char *group, const char *topic, int qid, long long off)
{
    char ext[512];
    snprintf(
        ext, sizeof ext,
        "\"consumerGroup\":\"%s\",\"topic\":\"%s\",\"queueId\":\"%d\",\"commitOffset\":\"%lld\"",
        group, topic, qid, off);
    bk_expect(fd, 15, ext, NULL, 0, 0);
}

static const kite_json *sub_group(kite_json_doc *d, const char *name)
{
    return kite_json_get(kite_json_get(kite_json_root(d), "subscriptionGroupTable"), name);
}

static void test_groups_and_consumers(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    kt_daemon *br = bk_start_broker(ns, NULL);
    char nsa[64], ba[64], line[512], f[12][128], body[4096];
    daemon_addr(ns, nsa, sizeof nsa);
    daemon_addr(br, ba, sizeof ba);
    wait_line("TestCluster", "topicClusterList -n %s -t %s", nsa, "TBW102");

    /* updateSubGroup / deleteSubGroup, read back with GET_ALL_SUBSCRIPTIONGROUP_CONFIG */
    kite_json_doc *d = raw_json(br, 201, "");
    assert_null(sub_group(d, "AdmSG")); /* control */
    kite_json_doc_free(d);
    assert_int_equal(adm("updateSubGroup -n %s -b %s -g AdmSG -r 7 -q 2 -m true", nsa, ba), 0);
    snprintf(line, sizeof line, "create subscription group to %s success.", ba);
    expect_line(line);
    assert_non_null(strstr(R.out, "SubscriptionGroupConfig [groupName=AdmSG, consumeEnable=true, "
                                  "consumeFromMinEnable=true, consumeBroadcastEnable=false, "
                                  "retryQueueNums=2, retryMaxTimes=7, brokerId=0, "
                                  "whichBrokerWhenConsumeSlowly=1, "
                                  "notifyConsumerIdsChangedEnable=true]"));
    d = raw_json(br, 201, "");
    const kite_json *g = sub_group(d, "AdmSG");
    assert_non_null(g);
    assert_int_equal(kite_json_get_int32(g, "retryMaxTimes", -1), 7);
    assert_int_equal(kite_json_get_int32(g, "retryQueueNums", -1), 2);
    assert_int_equal(kite_json_get_bool(g, "consumeFromMinEnable", 0), 1);
    kite_json_doc_free(d);
    assert_int_equal(adm("deleteSubGroup -n %s -b %s -g AdmSG", nsa, ba), 0);
    snprintf(line, sizeof line, "delete subscription group [AdmSG] from broker [%s] success.", ba);
    expect_line(line);
    d = raw_json(br, 201, "");
    assert_null(sub_group(d, "AdmSG"));
    kite_json_doc_free(d);

    /* a topic with a backlog: 3 messages in queue 0, 4 in queue 1 */
    assert_int_equal(adm("updateTopic -n %s -c TestCluster -t AdmCT -r 2 -w 2", nsa), 0);
    int fd = bk_conn(br);
    int64_t phys[3];
    for (int i = 0; i < 3; i++)
        bk_send_ok(fd, "AdmCT", 0, "TAGS\\u0001TagA\\u0002", "c0", &phys[i]);
    for (int i = 0; i < 4; i++) bk_send_ok(fd, "AdmCT", 1, "TAGS\\u0001TagB\\u0002", "c1", NULL);
    bk_wait_max(fd, "AdmCT", 0, 3);
    bk_wait_max(fd, "AdmCT", 1, 4);

    /* controls: the group does not exist yet */
    assert_int_equal(adm("consumerProgress -n %s -g AdmCG", nsa), 1);
    expect_err("CODE: 17"); /* no route for %RETRY%AdmCG */
    assert_int_equal(adm("consumerProgress -n %s", nsa), 0);
    assert_int_equal(row("AdmCG", "1", NULL, f), 0);

    /* a consumer connects (its heartbeat creates %RETRY%AdmCG) and commits */
    int cons = bk_conn(br);
    kb_heartbeat_java(body, sizeof body, "127.0.0.1@adm#1", "AdmCG", "AdmCT", "TagA || TagB");
    bk_expect(cons, 34, "", body, strlen(body), 0);
    assert_true(bk_wait_route(ns, "%RETRY%AdmCG", KT_DEADLINE_MS, body, sizeof body) >= 0);
    commit(cons, "AdmCG", "AdmCT", 0, 1);
    commit(cons, "AdmCG", "AdmCT", 1, 4);

    assert_int_equal(adm("consumerProgress -n %s -g AdmCG", nsa), 0);
    snprintf(line, sizeof line, "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s", "#Topic",
             "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime");
    expect_line(line);
    assert_true(row("AdmCT", "broker-t", "0", f) >= 7);
    assert_string_equal(f[3], "3"); /* broker offset */
    assert_string_equal(f[4], "1"); /* committed */
    assert_string_equal(f[5], "2"); /* diff */
    assert_true(row("AdmCT", "broker-t", "1", f) >= 7);
    assert_string_equal(f[3], "4");
    assert_string_equal(f[4], "4");
    assert_string_equal(f[5], "0");
    expect_line("Diff Total: 2");
    /* the group consumes the topic: topicList -c names it; a message past the committed
     * offset is NOT_CONSUME_YET, one before it CONSUMED */
    assert_int_equal(adm("topicList -n %s -c", nsa), 0);
    assert_int_equal(row("TestCluster", "AdmCT", "AdmCG", f), 3);
    char mid[33];
    bk_expect_msgid(br, phys[2], mid);
    assert_int_equal(adm("queryMsgById -n %s -i %s", nsa, mid), 0);
    unlink_body();
    assert_non_null(strstr(R.out,
                           "\n\nMessageTrack [consumerGroup=AdmCG, trackType=NOT_CONSUME_YET, "
                           "exceptionDesc=null]"));
    bk_expect_msgid(br, phys[0], mid);
    assert_int_equal(adm("queryMsgById -n %s -i %s", nsa, mid), 0);
    unlink_body();
    assert_non_null(strstr(R.out, "MessageTrack [consumerGroup=AdmCG, trackType=CONSUMED, "));
    /* control: the diff follows the committed offset */
    commit(cons, "AdmCG", "AdmCT", 0, 3);
    bk_expect_msgid(br, phys[2], mid);
    assert_int_equal(adm("queryMsgById -n %s -i %s", nsa, mid), 0);
    unlink_body();
    assert_non_null(strstr(R.out, "MessageTrack [consumerGroup=AdmCG, trackType=CONSUMED, "));
    assert_int_equal(adm("consumerProgress -n %s -g AdmCG", nsa), 0);
    expect_line("Diff Total: 0");
    expect_no_line("Diff Total: 2");
    assert_int_equal(adm("consumerProgress -n %s -g AdmCG -s true", nsa), 0);
    assert_true(row("AdmCT", "broker-t", "0", f) >= 8);
    assert_string_equal(f[5], "N/A"); /* client IP column */

    /* the list of groups: one PUSH/CLUSTERING member, version 401 of its heartbeat header */
    assert_int_equal(adm("consumerProgress -n %s", nsa), 0);
    snprintf(line, sizeof line, "%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s", "#Group", "#Count",
             "#Version", "#Type", "#Model", "#TPS", "#Diff Total");
    expect_line(line);
    assert_int_equal(row("AdmCG", "1", NULL, f), 7);
    assert_string_equal(f[2], "V4_9_4");
    assert_string_equal(f[3], "PUSH");
    assert_string_equal(f[4], "CLUSTERING");
    assert_string_equal(f[6], "0");

    assert_int_equal(adm("consumerConnection -n %s -g AdmCG", nsa), 0);
    snprintf(line, sizeof line, "%-36s %-22s %-10s %s", "#ClientId", "#ClientAddr", "#Language",
             "#Version");
    expect_line(line);
    const char *p = strstr(R.out, "\n127.0.0.1@adm#1 ");
    assert_non_null(p);
    char cid[64], addr[64], lang[32], ver[32], want[64];
    assert_int_equal(sscanf(p, "%63s %63s %31s %31s", cid, addr, lang, ver), 4);
    assert_string_equal(lang, "JAVA");
    assert_string_equal(ver, "V4_9_4");
    uint8_t ip[4];
    int port;
    bk_local_addr(cons, ip, &port);
    snprintf(want, sizeof want, "%u.%u.%u.%u:%d", ip[0], ip[1], ip[2], ip[3], port);
    assert_string_equal(addr, want); /* the consumer connection's own address */
    expect_line("Below is subscription:");
    snprintf(line, sizeof line, "%-20s %s", "AdmCT", "TagA || TagB");
    expect_line(line);
    expect_line("ConsumeType: CONSUME_PASSIVELY");
    expect_line("MessageModel: CLUSTERING");
    expect_line("ConsumeFromWhere: CONSUME_FROM_LAST_OFFSET");

    /* the consumer goes away: 206 from the broker, exit 1 */
    bk_close(cons);
    long long t0 = kt_now_ms();
    while (adm("consumerConnection -n %s -g AdmCG", nsa) == 0 && kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(50000);
    expect_rc(1);
    expect_err("CODE: 206");
    assert_int_equal(adm("consumerProgress -n %s", nsa), 0);
    assert_int_equal(row("AdmCG", "0", NULL, f), 5); /* group, count 0, OFFLINE, tps, diff */
    assert_string_equal(f[2], "OFFLINE");
    assert_int_equal(adm("queryMsgById -n %s -i %s", nsa, mid), 0);
    unlink_body();
    assert_non_null(strstr(R.out, "MessageTrack [consumerGroup=AdmCG, trackType=NOT_ONLINE, "
                                  "exceptionDesc=CODE:206 DESC:"));

    /* groups across the cluster: -c creates on every master; deleting with -c also removes
     * the group's retry and dead-letter topics */
    assert_int_equal(adm("updateSubGroup -n %s -c TestCluster -g AdmSG2", nsa), 0);
    snprintf(line, sizeof line, "create subscription group to %s success.", ba);
    expect_line(line);
    d = raw_json(br, 201, "");
    assert_non_null(sub_group(d, "AdmSG2"));
    kite_json_doc_free(d);
    assert_int_equal(adm("topicRoute -n %s -t %%RETRY%%AdmCG", nsa), 0); /* control */
    assert_int_equal(adm("deleteSubGroup -n %s -c TestCluster -g AdmCG", nsa), 0);
    snprintf(line, sizeof line,
             "delete subscription group [AdmCG] from broker [%s] in cluster [TestCluster] success.",
             ba);
    expect_line(line);
    expect_line("delete topic [%RETRY%AdmCG] from cluster [TestCluster] success.");
    expect_line("delete topic [%DLQ%AdmCG] from NameServer success.");
    assert_int_equal(adm("topicRoute -n %s -t %%RETRY%%AdmCG", nsa), 1);
    expect_err("CODE: 17");
    d = raw_json(br, 21, "");
    assert_null(
        kite_json_get(kite_json_get(kite_json_root(d), "topicConfigTable"), "%RETRY%AdmCG"));
    kite_json_doc_free(d);
}

/* ---- messages ---- */

static void test_messages(void **st)
{
    (void)st;
    kt_daemon *ns = bk_start_ns();
    kt_daemon *br = bk_start_broker(ns, NULL);
    char nsa[64], ba[64], line[512], f[12][128], id[33], id2[33];
    daemon_addr(ns, nsa, sizeof nsa);
    daemon_addr(br, ba, sizeof ba);
    wait_line("TestCluster", "topicClusterList -n %s -t %s", nsa, "TBW102");
    assert_int_equal(adm("updateTopic -n %s -b %s -t AdmMT -r 1 -w 1", nsa, ba), 0);
    int fd = bk_conn(br);

    /* control: the key is not stored yet */
    assert_int_equal(adm("queryMsgByKey -n %s -t AdmMT -k k2", nsa), 0);
    snprintf(line, sizeof line, "%-50s %4s %40s", "#Message ID", "#QID", "#Offset");
    expect_line(line);
    assert_string_equal(strchr(R.out, '\n'), "\n");

    int64_t phys, phys2;
    bk_send_ok(fd, "AdmMT", 0, "TAGS\\u0001TA\\u0002KEYS\\u0001k1 k2\\u0002", "hello-admin", &phys);
    bk_send_ok(fd, "AdmMT", 0,
               "KEYS\\u0001k3\\u0002UNIQ_KEY\\u00010A0B0C0D00002A9F0000000000000001\\u0002",
               "second", &phys2);
    bk_wait_max(fd, "AdmMT", 0, 2);
    bk_expect_msgid(br, phys, id);
    bk_expect_msgid(br, phys2, id2);

    assert_int_equal(adm("queryMsgById -n %s -i %s", nsa, id), 0);
    snprintf(line, sizeof line, "%-20s %s", "OffsetID:", id);
    expect_line(line);
    expect_line("Topic:               AdmMT");
    expect_line("Tags:                [TA]");
    expect_line("Keys:                [k1 k2]");
    expect_line("Queue ID:            0");
    expect_line("Queue Offset:        0");
    snprintf(line, sizeof line, "%-20s %lld", "CommitLog Offset:", (long long)phys);
    expect_line(line);
    snprintf(line, sizeof line, "%-20s %s", "Store Host:", ba);
    expect_line(line);
    const char *path = strstr(R.out, "Message Body Path:   ");
    assert_non_null(path);
    char file[512], content[64];
    assert_int_equal(sscanf(path + 21, "%511s", file), 1);
    slurp(file, content, sizeof content);
    assert_string_equal(content, "hello-admin");
    unlink(file);
    assert_non_null(strstr(R.out, "\n\nWARN: No Consumer"));

    /* the second message: Java's message id is its UNIQ_KEY, the offset id is separate */
    assert_int_equal(adm("queryMsgById -n %s -i %s", nsa, id2), 0);
    expect_line("Tags:                [null]");
    expect_line("Queue Offset:        1");
    assert_non_null(strstr(R.out, "/0A0B0C0D00002A9F0000000000000001\n"));
    unlink("/tmp/rocketmq/msgbodys/0A0B0C0D00002A9F0000000000000001");

    assert_int_equal(adm("queryMsgByKey -n %s -t AdmMT -k k2", nsa), 0);
    assert_int_equal(row(id, "0", NULL, f), 3);
    assert_string_equal(f[2], "0");
    assert_int_equal(row("0A0B0C0D00002A9F0000000000000001", "0", NULL, f), 0); /* not k2 */
    assert_int_equal(adm("queryMsgByKey -n %s -t AdmMT -k k3", nsa), 0);
    assert_int_equal(row("0A0B0C0D00002A9F0000000000000001", "0", NULL, f), 3);
    assert_string_equal(f[2], "1");
    assert_int_equal(row(id, "0", NULL, f), 0);
    assert_int_equal(adm("queryMsgByKey -n %s -t AdmMT -k k", nsa), 0); /* whole keys only */
    assert_string_equal(strchr(R.out, '\n'), "\n");

    /* printMsg: every message of every queue, filtered by tag like a pull consumer */
    assert_int_equal(adm("printMsg -n %s -t AdmMT", nsa), 0);
    expect_line("minOffset=0, maxOffset=2, MessageQueue [topic=AdmMT, brokerName=broker-t, "
                "queueId=0]");
    expect_line("--------------------------------------------------------");
    snprintf(line, sizeof line, "MSGID: %s MessageExt [brokerName=broker-t, queueId=0, ", id);
    assert_non_null(strstr(R.out, line));
    assert_non_null(strstr(R.out, "MSGID: 0A0B0C0D00002A9F0000000000000001 MessageExt ["));
    snprintf(line, sizeof line, "msgId=%s, commitLogOffset=%lld,", id, (long long)phys);
    assert_non_null(strstr(R.out, line));
    assert_non_null(strstr(R.out, "MIN_OFFSET=0, MAX_OFFSET=2}, body=[104, 101, 108, 108, 111, "));
    assert_non_null(strstr(R.out, "transactionId='null'}] BODY: hello-admin\n"));
    assert_non_null(strstr(R.out, "] BODY: second\n"));
    assert_int_equal(adm("printMsg -n %s -t AdmMT -s 'TA || TB'", nsa), 0);
    assert_non_null(strstr(R.out, "BODY: hello-admin\n"));
    assert_null(strstr(R.out, "BODY: second")); /* no tag: filtered out */
    assert_int_equal(adm("printMsg -n %s -t AdmMT -s TZ", nsa), 0);
    assert_null(strstr(R.out, "MSGID: ")); /* control: nothing matches */
    expect_line("--------------------------------------------------------");
    assert_int_equal(adm("printMsg -n %s -t AdmMT -d false", nsa), 0);
    assert_non_null(strstr(R.out, "BODY: NOT PRINT BODY\n"));
    assert_null(strstr(R.out, "BODY: hello-admin"));
    assert_int_equal(adm("printMsg -n %s -t AdmMT -b notatime", nsa), 2);

    /* errors: not an offset id; an offset where no message starts */
    assert_int_equal(adm("queryMsgById -n %s -i nothex", nsa), 1);
    expect_err("is not an offset message id");
    id[31] = id[31] == '1' ? '2' : '1';
    assert_int_equal(adm("queryMsgById -n %s -i %s", nsa, id), 1);
    expect_err("VIEW_MESSAGE_BY_ID failed, CODE: ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test_setup_teardown(test_cluster_and_config, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_topics, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_groups_and_consumers, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_messages, bk_setup, bk_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (errfile[0]) unlink(errfile);
    return kt_exit_code(failed);
}
