/* it_admin_golden.c - kite-admin's output compared with Apache RocketMQ mqadmin 4.9.8's for
 * the same cluster: the reference files tests/conformance-java/mqadmin-golden/rmq4/ files
 * (written by MqAdminTest, see tests/conformance-java/README.md). A cluster set up as that
 * test's (name server, master and slave of broker-cj in CjCluster, topic MqaData with 4
 * queues and 8 messages with the Java producer's properties, group MqaConsumerGroup with a
 * JAVA V4_9_8 member and all offsets committed) goes through the same steps in the same
 * order; at each step kite-admin runs with the reference file's own arguments (its first
 * line, placeholders put back), its output is normalised as MqAdminTest normalises
 * mqadmin's and compared line by line and column by column (docs/admin.md, "Compared with
 * mqadmin"). The differences that remain by design are named in the table below, each with
 * its mode. Control: a reference changed in memory (one column a space wider, one value
 * different) must be reported with its line and column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "repl_common.h"
#include "base/mem.h"
#include <ctype.h>
#include <regex.h>

#define CJ_KEYS  "brokerClusterName=CjCluster\nbrokerName=broker-cj\n"
#define OUT_CAP  (256 * 1024)
#define MAX_TOK  96
#define MAX_LINE 2048

static char NS[64], MA[64], SA[64], MHA[64], HOST[32];
static char MSG3[33]; /* offset message id of the fourth message (queryMsgById) */
static char *OUT;     /* normalised "$ mqadmin ..." + stdout + stderr of the last run */
static int RC;

/* How a reference file is compared. */
enum mode {
    M_EXACT,  /* every line, token and column */
    M_SET,    /* the first line exact, the others as a set (mqadmin prints a hash set) */
    M_KV,     /* "%-32s: %s" lines: same keys, format; values of the stable keys */
    M_CONF,   /* "%-50s=  %s" lines after the "====addr====" line: format only */
    M_SUBSET, /* every line of kite-admin's is one of mqadmin's (a subset of commands) */
    M_BLOCKS, /* M_EXACT on blocks (each ending with a line of dashes) sorted by first line:
                 mqadmin walks a hash set of queues */
};

/* ---- running and normalising ---- */

static void put_back(const char *in, char *out, size_t cap)
{
    /* a reference's command line with the placeholders replaced by this cluster's values */
    static const struct {
        const char *ph;
        const char *val;
    } m[] = { { "<NAMESRV>", NS }, { "<MASTER>", MA }, { "<SLAVE>", SA }, { "<MSGID>", MSG3 } };
    size_t o = 0;
    for (const char *p = in; *p && o + 64 < cap;) {
        int hit = 0;
        for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
            size_t n = strlen(m[i].ph);
            if (!strncmp(p, m[i].ph, n)) {
                o += (size_t)snprintf(out + o, cap - o, "%s", m[i].val);
                p += n;
                hit = 1;
                break;
            }
        }
        if (!hit) out[o++] = *p++;
    }
    out[o] = 0;
}

/* Replaces every occurrence of s in buf (cap bytes) by r. */
static void repl_str(char *buf, size_t cap, const char *s, const char *r)
{
    size_t ls = strlen(s), lr = strlen(r);
    if (!ls) return;
    for (char *p = strstr(buf, s); p; p = strstr(p + lr, s)) {
        size_t tail = strlen(p + ls);
        if ((size_t)(p - buf) + lr + tail + 1 > cap) return;
        memmove(p + lr, p + ls, tail + 1);
        memcpy(p, r, lr);
    }
}

static int wordc(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Replaces the matches of the extended regex re by r; with word=1 only matches with a
 * word boundary (Java's \b) at both ends. */
static void repl_re(char *buf, size_t cap, const char *re, const char *r, int word)
{
    regex_t x;
    assert_int_equal(regcomp(&x, re, REG_EXTENDED), 0);
    size_t lr = strlen(r);
    char *p = buf;
    regmatch_t mt;
    while (*p && regexec(&x, p, 1, &mt, p == buf ? 0 : REG_NOTBOL) == 0) {
        char *s = p + mt.rm_so, *e = p + mt.rm_eo;
        if (e == s) break;
        if (word &&
            ((s > buf && wordc(s[-1]) == wordc(s[0])) || (*e && wordc(e[-1]) == wordc(*e)))) {
            p = s + 1;
            continue;
        }
        size_t tail = strlen(e);
        if ((size_t)(s - buf) + lr + tail + 1 > cap) break;
        memmove(s + lr, e, tail + 1);
        memcpy(s, r, lr);
        p = s + lr;
    }
    regfree(&x);
}

/* MqAdminTest's normalisation, in its order. */
static void normalise(char *b, size_t cap)
{
    repl_str(b, cap, NS, "<NAMESRV>");
    repl_str(b, cap, SA, "<SLAVE>");
    repl_str(b, cap, MHA, "<MASTER_HA>");
    repl_str(b, cap, MA, "<MASTER>");
    repl_re(b, cap, "[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+@[A-Za-z0-9_.#-]+", "<CLIENT_ID>", 1);
    repl_re(b, cap, "[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+:[0-9]+", "<ADDR>", 1);
    repl_str(b, cap, HOST, "<HOST>");
    repl_re(b, cap, "[0-9]{4}-[0-9]{2}-[0-9]{2}[ #][0-9]{2}:[0-9]{2}:[0-9]{2}([,.:][0-9]{3})?",
            "<TIME>", 0);
    repl_re(b, cap, "1[0-9]{12}", "<MS>", 1);
    repl_re(b, cap, "[0-9A-F]{32,}", "<MSGID>", 1);
}

static void slurp_into(FILE *f, char *buf, size_t cap, size_t *len)
{
    size_t n;
    while (*len + 1 < cap && (n = fread(buf + *len, 1, cap - 1 - *len, f)) > 0) *len += n;
    buf[*len] = 0;
}

/* Runs kite-admin with args, OUT = "$ mqadmin <args>\n" + stdout (+ "--- stderr ---\n" +
 * stderr), normalised. */
static void run_admin(const char *args)
{
    const char *bin = getenv("KITE_BIN"), *tmp = getenv("KITE_TMP");
    char errf[512], cmd[4096];
    snprintf(errf, sizeof errf, "%s/it_admin_golden.%d.err", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    snprintf(cmd, sizeof cmd, "timeout 60 %s/kite-admin %s 2>%s", bin && *bin ? bin : "./bin", args,
             errf);
    size_t len = (size_t)snprintf(OUT, OUT_CAP, "$ mqadmin %s\n", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    slurp_into(p, OUT, OUT_CAP / 2, &len);
    int st = pclose(p);
    RC = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *e = fopen(errf, "r");
    if (e) {
        char eb[16384];
        size_t el = 0;
        slurp_into(e, eb, sizeof eb, &el);
        fclose(e);
        if (el) len += (size_t)snprintf(OUT + len, OUT_CAP / 2 - len, "--- stderr ---\n%s", eb);
    }
    unlink(errf);
    normalise(OUT, OUT_CAP);
}

/* ---- the comparison ---- */

typedef struct {
    int col;
    char text[512];
} tok;

static int tokens(const char *line, tok *t)
{
    int n = 0;
    for (int i = 0; line[i] && n < MAX_TOK;) {
        if (line[i] == ' ') {
            i++;
            continue;
        }
        int s = i;
        while (line[i] && line[i] != ' ') i++;
        t[n].col = s;
        snprintf(t[n].text, sizeof t[n].text, "%.*s", i - s, line + s);
        n++;
    }
    return n;
}

/* mqadmin prints property maps in hash order: "{A=1, B=2}" items sorted, both sides. */
static void sort_props(char *line)
{
    for (char *p = strstr(line, "properties={"); p || (p = strstr(line, "Properties:"));) {
        char *o = strchr(p, '{'), *c = o ? strchr(o, '}') : NULL;
        if (!o || !c) return;
        char items[64][128];
        int n = 0;
        char body[4096];
        snprintf(body, sizeof body, "%.*s", (int)(c - o - 1), o + 1);
        char *save = NULL;
        for (char *it = strtok_r(body, ",", &save); it && n < 64; it = strtok_r(NULL, ",", &save)) {
            while (*it == ' ') it++;
            snprintf(items[n++], sizeof items[0], "%s", it);
        }
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && strcmp(items[j - 1], items[j]) > 0; j--) {
                char t[128];
                memcpy(t, items[j], sizeof t);
                memcpy(items[j], items[j - 1], sizeof t);
                memcpy(items[j - 1], t, sizeof t);
            }
        char out[4096];
        size_t k = 0;
        for (int i = 0; i < n; i++)
            k += (size_t)snprintf(out + k, sizeof out - k, "%s%s", i ? ", " : "", items[i]);
        if (k != (size_t)(c - o - 1)) return; /* same length by construction */
        memcpy(o + 1, out, k);
        return;
    }
}

typedef struct spec {
    const char *file;
    enum mode mode;
    const char *var;  /* ERE: tokens matching it on both sides may differ (full token) */
    int var_from;     /* ... from this token index on; M_SET: the first line of the set */
    const char *keep; /* M_KV: keys whose values must be equal ("|k|k|") */
} spec;

static int full_match(const char *re, const char *s)
{
    if (!re) return 0;
    regex_t x;
    char anchored[512];
    snprintf(anchored, sizeof anchored, "^(%s)$", re);
    assert_int_equal(regcomp(&x, anchored, REG_EXTENDED | REG_NOSUB), 0);
    int r = regexec(&x, s, 0, NULL, 0) == 0;
    regfree(&x);
    return r;
}

static char REPORT[8192];

#define DIFF(...)                                     \
    do {                                              \
        snprintf(REPORT, sizeof REPORT, __VA_ARGS__); \
        return 1;                                     \
    } while (0)

/* Placeholder deltas of a file: the raw text behind "<MASTER>" differs in length between
 * the two clusters, so what follows it in a padded column moves by the same amount on
 * every line of the file. */
typedef struct {
    char ph[512];
    int delta;
} delta;

static int cmp_line(const spec *sp, int ln, const char *want, const char *got, delta *d, int *nd)
{
    tok *a = kite_xcalloc(MAX_TOK, sizeof *a), *b = kite_xcalloc(MAX_TOK, sizeof *b);
    char wl[MAX_LINE], gl[MAX_LINE];
    snprintf(wl, sizeof wl, "%s", want);
    snprintf(gl, sizeof gl, "%s", got);
    sort_props(wl);
    sort_props(gl);
    int na = tokens(wl, a), nb = tokens(gl, b), rc = 0, shift = 0, alt = INT32_MIN;
    for (int i = 0; i < na && i < nb && !rc; i++) {
        int var = (sp->mode == M_EXACT || sp->mode == M_BLOCKS) && i >= sp->var_from &&
                  full_match(sp->var, a[i].text) && full_match(sp->var, b[i].text);
        if (!var && strcmp(a[i].text, b[i].text)) {
            snprintf(
                REPORT, sizeof REPORT,
                "%s line %d column %d: mqadmin has \"%s\", kite-admin \"%s\"\n  mqadmin:    %s\n"
                "  kite-admin: %s",
                sp->file, ln, a[i].col + 1, a[i].text, b[i].text, want, got);
            rc = 1;
            break;
        }
        /* after a variable value, what follows may keep its column (padded field) or move
         * with the value's end (unpadded text) */
        int ok =
            a[i].col + shift == b[i].col || a[i].col + alt == b[i].col ||
            (var && a[i].col + (int)strlen(a[i].text) + shift == b[i].col + (int)strlen(b[i].text));
        if (!ok) {
            snprintf(REPORT, sizeof REPORT,
                     "%s line %d: \"%s\" at column %d in mqadmin's output, %d in kite-admin's\n"
                     "  mqadmin:    %s\n  kite-admin: %s",
                     sp->file, ln, a[i].text, a[i].col + 1, b[i].col + 1 - shift, want, got);
            rc = 1;
            break;
        }
        shift = b[i].col - a[i].col;
        alt = var ? (b[i].col + (int)strlen(b[i].text)) - (a[i].col + (int)strlen(a[i].text))
                  : INT32_MIN;
        /* a token ending in a placeholder followed by padding: learn or check its delta */
        const char *lt = strrchr(a[i].text, '<');
        if (lt && a[i].text[strlen(a[i].text) - 1] == '>' && i + 1 < na && i + 1 < nb) {
            int dd = (b[i + 1].col - shift) - a[i + 1].col, k;
            for (k = 0; k < *nd && strcmp(d[k].ph, a[i].text); k++) {
            }
            if (k == *nd && *nd < 16) {
                snprintf(d[k].ph, sizeof d[k].ph, "%s", a[i].text);
                d[k].delta = dd;
                (*nd)++;
            }
            shift += k < *nd ? d[k].delta : dd;
        }
    }
    if (!rc && na != nb)
        snprintf(REPORT, sizeof REPORT,
                 "%s line %d: %d fields in mqadmin's output, %d in kite-admin's\n  mqadmin:    %s\n"
                 "  kite-admin: %s",
                 sp->file, ln, na, nb, want, got),
            rc = 1;
    free(a);
    free(b);
    return rc;
}

static int split_lines(char *s, char **l, int max)
{
    int n = 0;
    for (char *p = s; *p && n < max;) {
        l[n++] = p;
        char *e = strchr(p, '\n');
        if (!e) break;
        *e = 0;
        p = e + 1;
    }
    return n;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Reorders lines 1.. of l: blocks ending with a line of dashes, sorted by their first line. */
static void block_sort(char **l, int n)
{
    char ***starts = kite_xcalloc((size_t)n + 1, sizeof *starts);
    int *lens = kite_xcalloc((size_t)n + 1, sizeof *lens), nb = 0;
    for (int i = 1; i < n;) {
        int s = i;
        while (i < n && strncmp(l[i], "-----", 5)) i++;
        if (i < n) i++;
        starts[nb] = l + s;
        lens[nb++] = i - s;
    }
    for (int i = 1; i < nb; i++)
        for (int j = i; j > 0 && strcmp(starts[j - 1][0], starts[j][0]) > 0; j--) {
            char **t = starts[j];
            int tl = lens[j];
            starts[j] = starts[j - 1];
            lens[j] = lens[j - 1];
            starts[j - 1] = t;
            lens[j - 1] = tl;
        }
    char **copy = kite_xcalloc((size_t)n + 1, sizeof *copy);
    int k = 1;
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < lens[b]; i++) copy[k++] = starts[b][i];
    for (int i = 1; i < k; i++) l[i] = copy[i];
    free(copy);
    free(starts);
    free(lens);
}

/* Compares a reference text with kite-admin's; 0 when they agree, else REPORT says where. */
static int compare(const spec *sp, const char *ref, const char *mine)
{
    char *rb = kite_xstrdup(ref), *mb = kite_xstrdup(mine);
    char **rl = kite_xcalloc(4096, sizeof *rl), **ml = kite_xcalloc(4096, sizeof *ml);
    int nr = split_lines(rb, rl, 4096), nm = split_lines(mb, ml, 4096), rc = 0;
    delta d[16];
    int nd = 0;
    REPORT[0] = 0;
    if (sp->mode == M_SET) {
        int f = sp->var_from;
        qsort(rl + f, nr > f ? (size_t)(nr - f) : 0, sizeof *rl, cmp_str);
        qsort(ml + f, nm > f ? (size_t)(nm - f) : 0, sizeof *ml, cmp_str);
    }
    if (sp->mode == M_BLOCKS) {
        block_sort(rl, nr);
        block_sort(ml, nm);
    }
    if (sp->mode == M_SUBSET) {
        for (int i = 1; i < nm && !rc; i++) {
            int found = 0;
            for (int j = 1; j < nr && !found; j++) found = !strcmp(ml[i], rl[j]);
            if (!found)
                snprintf(REPORT, sizeof REPORT, "%s: kite-admin's line %d is not mqadmin's: %s",
                         sp->file, i + 1, ml[i]),
                    rc = 1;
        }
    } else if (sp->mode == M_KV || sp->mode == M_CONF) {
        /* the format of every line; the values of the kept keys */
        const char *sep = sp->mode == M_KV ? ": " : "=  ";
        int width = sp->mode == M_KV ? 32 : 50;
        int first = sp->mode == M_KV ? 1 : 2;
        if (sp->mode == M_CONF && (nr < 2 || nm < 2 || strcmp(rl[1], ml[1])))
            snprintf(REPORT, sizeof REPORT, "%s line 2: mqadmin \"%s\", kite-admin \"%s\"",
                     sp->file, nr > 1 ? rl[1] : "", nm > 1 ? ml[1] : ""),
                rc = 1;
        for (int i = first; i < nm && !rc; i++) {
            if (!ml[i][0]) continue;
            const char *s = strstr(ml[i], sep);
            int k = s ? (int)(s - ml[i]) : -1;
            int keylen = k;
            while (keylen > 0 && ml[i][keylen - 1] == ' ') keylen--;
            if (k < 0 || (k != width && !(keylen > width && k == keylen)) ||
                (keylen < width && k != width))
                snprintf(REPORT, sizeof REPORT,
                         "%s: kite-admin's line %d is not \"%%-%ds%s%%s\": %s", sp->file, i + 1,
                         width, sep, ml[i]),
                    rc = 1;
        }
        /* the keys each side has that the other has not */
        for (int pass = 0; pass < 2 && !rc; pass++) {
            char **x = pass ? ml : rl, **y = pass ? rl : ml;
            int nx = pass ? nm : nr, ny = pass ? nr : nm;
            for (int j = first; j < nx; j++) {
                const char *s = strstr(x[j], sep);
                if (!s) continue;
                size_t kl = (size_t)(s - x[j]);
                int found = 0;
                for (int i = first; i < ny && !found; i++)
                    found = !strncmp(x[j], y[i], kl) && !strncmp(y[i] + kl, sep, strlen(sep));
                if (!found)
                    fprintf(stderr, "note: %s: key only in %s's output: %.*s\n", sp->file,
                            pass ? "kite-admin" : "mqadmin", (int)kl, x[j]);
            }
        }
        for (int j = first; j < nr && !rc && sp->keep; j++) {
            char key[128], pat[140];
            const char *s = strstr(rl[j], sep);
            if (!s) continue;
            snprintf(key, sizeof key, "%.*s", (int)(s - rl[j]), rl[j]);
            for (char *e = key + strlen(key); e > key && e[-1] == ' ';) *--e = 0;
            snprintf(pat, sizeof pat, "|%s|", key);
            int found = 0;
            for (int i = first; i < nm && !found; i++) found = !strcmp(rl[j], ml[i]);
            if (strstr(sp->keep, pat) && !found)
                snprintf(REPORT, sizeof REPORT,
                         "%s line %d: mqadmin's \"%s\" is not in kite-admin's output", sp->file,
                         j + 1, rl[j]),
                    rc = 1;
        }
    } else {
        for (int i = 1; i < nr && i < nm && !rc; i++)
            rc = cmp_line(sp, i + 1, rl[i], ml[i], d, &nd);
        if (!rc && nr != nm)
            snprintf(REPORT, sizeof REPORT, "%s: %d lines in mqadmin's output, %d in kite-admin's",
                     sp->file, nr, nm),
                rc = 1;
    }
    if (rc == 0 && REPORT[0]) rc = 1;
    free(rb);
    free(mb);
    free(rl);
    free(ml);
    return rc;
}

static char *read_ref(const char *name)
{
    const char *src = getenv("KITE_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance-java/mqadmin-golden/rmq4/%s.txt",
             src && *src ? src : "..", name);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot read %s", path);
    char *b = kite_xmalloc(OUT_CAP);
    size_t n = 0;
    slurp_into(f, b, OUT_CAP, &n);
    fclose(f);
    return b;
}

/* ---- the scenario ---- */

#define RATE "[0-9]+\\.[0-9]+(\\([0-9]+,[0-9]+ms\\))?|[0-9]+"
#define STATS                                                                      \
    "|brokerActive|brokerRole|brokerVersion|brokerVersionDesc|commitLogMinOffset|" \
    "dispatchBehindBytes|flushDiskType|msgPutTotalTodayNow|"                       \
    "msgGetTotalTodayNow|"

static const spec SPECS[] = {
    { "help", M_SUBSET, NULL, 0, NULL },
    /* #InTPS(LOAD) #OutTPS(LOAD) #PCWait(ms) #Hour #SPACE: rates, ages, disk use */
    { "clusterList", M_EXACT, RATE, 5, NULL },
    { "brokerStatus", M_KV, NULL, 0, STATS },
    { "brokerStatus-slave", M_KV, NULL, 0, STATS },
    { "updateTopic-b", M_EXACT, NULL, 0, NULL },
    { "updateTopic-c", M_EXACT, NULL, 0, NULL },
    { "topicList", M_SET, NULL, 1, NULL },
    { "topicList-c", M_SET, NULL, 2, NULL },
    { "topicRoute", M_EXACT, NULL, 0, NULL },
    { "topicClusterList", M_EXACT, NULL, 0, NULL },
    { "deleteTopic", M_EXACT, NULL, 0, NULL },
    { "topicList-after-delete", M_SET, NULL, 1, NULL },
    { "topicStatus", M_EXACT, NULL, 0, NULL },
    { "updateSubGroup", M_EXACT, NULL, 0, NULL },
    { "deleteSubGroup", M_EXACT, NULL, 0, NULL },
    { "getBrokerConfig", M_CONF, NULL, 0, NULL },
    { "getNamesrvConfig", M_CONF, NULL, 0, NULL },
    { "updateKvConfig", M_EXACT, NULL, 0, NULL },
    { "deleteKvConfig", M_EXACT, NULL, 0, NULL },
    /* the commit-log offset: records of another size (docs/admin.md) */
    { "queryMsgById", M_EXACT, "[0-9]{3,}", 2, NULL },
    { "queryMsgByKey", M_EXACT, NULL, 0, NULL },
    { "printMsg", M_BLOCKS, "(storeSize|commitLogOffset)=[0-9]+,", 0, NULL },
    /* Consume TPS */
    { "consumerProgress", M_EXACT, "[0-9]+\\.[0-9]{2}", 2, NULL },
    { "consumerConnection", M_EXACT, NULL, 0, NULL },
};

static int NDIFF;

static const spec *spec_of(const char *name)
{
    for (size_t i = 0; i < sizeof SPECS / sizeof *SPECS; i++)
        if (!strcmp(SPECS[i].file, name)) return &SPECS[i];
    fail_msg("no spec for %s", name);
    return NULL;
}

/* Runs the reference's command, compares; a difference is printed and counted. */
static void step(const char *name)
{
    char *ref = read_ref(name), args[2048];
    const char *e = strchr(ref, '\n');
    char first[2048];
    snprintf(first, sizeof first, "%.*s", (int)(e ? e - ref : 0), ref);
    assert_true(!strncmp(first, "$ mqadmin ", 10));
    put_back(first + 10, args, sizeof args);
    run_admin(args);
    if (compare(spec_of(name), ref, OUT)) {
        fprintf(stderr, "DIFF %s\n---- kite-admin (exit %d):\n%s\n", REPORT, RC, OUT);
        NDIFF++;
    } else {
        fprintf(stderr, "same: %s\n", name);
    }
    free(ref);
}

/* Polls kite-admin with args until its output has needle. */
static void wait_out(const char *args, const char *needle)
{
    long long t0 = kt_now_ms();
    do {
        run_admin(args);
        if (RC == 0 && strstr(OUT, needle)) return;
        usleep(100000);
    } while (kt_now_ms() - t0 < KT_DEADLINE_MS);
    fail_msg("kite-admin %s: no \"%s\" in time:\n%s", args, needle, OUT);
}

/* A heartbeat as a 4.9.8 Java push consumer sends it (header version 409). */
static void heartbeat(int fd)
{
    char body[2048], h[256];
    snprintf(
        body, sizeof body,
        "{\"clientID\":\"127.0.0.1@mqa#1\",\"consumerDataSet\":[{\"consumeFromWhere\":"
        "\"CONSUME_FROM_FIRST_OFFSET\",\"consumeType\":\"CONSUME_PASSIVELY\",\"groupName\":"
        "\"MqaConsumerGroup\",\"messageModel\":\"CLUSTERING\",\"subscriptionDataSet\":[{"
        "\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"TAG\",\"subString\":\"*\","
        "\"subVersion\":1700000000000,\"tagsSet\":[],\"topic\":\"MqaData\"},{\"classFilterMode\":"
        "false,\"codeSet\":[],\"expressionType\":\"TAG\",\"subString\":\"*\",\"subVersion\":"
        "1700000000001,\"tagsSet\":[],\"topic\":\"%%RETRY%%MqaConsumerGroup\"}],\"unitMode\":false}],"
        "\"producerDataSet\":[{\"groupName\":\"CLIENT_INNER_PRODUCER\"}]}");
    snprintf(h, sizeof h,
             "{\"code\":34,\"extFields\":{},\"flag\":0,\"language\":\"JAVA\",\"opaque\":77,"
             "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":409}");
    assert_int_equal(kt_send_json(fd, h, body, strlen(body)), 0);
    kite_cmd r;
    assert_int_equal(kb_wait_response(fd, 77, &r, KT_DEADLINE_MS), 0);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
}

static void test_against_mqadmin(void **st)
{
    (void)st;
    kt_daemon *ns = rp_start_ns();
    int ha = 0;
    kt_daemon *m = rp_start_master(ns, &ha, CJ_KEYS);
    kt_daemon *s = rp_start_slave(ns, 1, CJ_KEYS);
    snprintf(NS, sizeof NS, "%s:%d", ns->host, ns->port);
    snprintf(MA, sizeof MA, "%s:%d", m->host, m->port);
    snprintf(SA, sizeof SA, "%s:%d", s->host, s->port);
    snprintf(MHA, sizeof MHA, "%s:%d", m->host, ha);
    snprintf(HOST, sizeof HOST, "%s", m->host);
    char args[512];
    snprintf(args, sizeof args, "clusterList -n %s", NS);
    wait_out(args, "<SLAVE>");

    /* the data: MqaData, 4 queues, message i (key mqa-key-i) in queue (i + 2) % 4, as the
     * reference's producer placed them, with the properties a Java producer sends */
    snprintf(args, sizeof args, "updateTopic -b %s -t MqaData -r 4 -w 4 -n %s", MA, NS);
    run_admin(args);
    assert_int_equal(RC, 0);
    int fd = bk_conn(m);
    for (int i = 0; i < 8; i++) {
        char props[512], body[32];
        snprintf(props, sizeof props,
                 "KEYS\\u0001mqa-key-%d\\u0002UNIQ_KEY\\u00017F000001%08X%016X\\u0002WAIT\\u0001"
                 "true\\u0002TAGS\\u0001TagA\\u0002",
                 i, (unsigned)getpid(), i);
        snprintf(body, sizeof body, "mqa body %d", i);
        int64_t phys;
        bk_send_ok(fd, "MqaData", (i + 2) % 4, props, body, &phys);
        if (i == 3) bk_expect_msgid(m, phys, MSG3);
    }
    /* a consumer: JAVA 4.9.8 heartbeat, pulls everything, commits 2 in every queue */
    int cons = bk_conn(m);
    heartbeat(cons);
    for (int q = 0; q < 4; q++) {
        bk_wait_max(fd, "MqaData", q, 2);
        kite_cmd r;
        assert_int_equal(kb_pull(cons, "MqaConsumerGroup", "MqaData", q, 0, 32, 0, 0, 0, "*", &r),
                         0);
        assert_int_equal(r.code, 0);
        kite_cmd_free(&r);
        char ext[256];
        snprintf(ext, sizeof ext,
                 "\"consumerGroup\":\"MqaConsumerGroup\",\"topic\":\"MqaData\",\"queueId\":\"%d\","
                 "\"commitOffset\":\"2\"",
                 q);
        bk_expect(cons, 15, ext, NULL, 0, 0);
    }
    /* ... and its retry queue's offset 0, as a push consumer commits it */
    bk_expect(cons, 15,
              "\"consumerGroup\":\"MqaConsumerGroup\",\"topic\":\"%RETRY%MqaConsumerGroup\","
              "\"queueId\":\"0\",\"commitOffset\":\"0\"",
              NULL, 0, 0);
    rp_wait_caught_up(m, s);

    step("help");
    step("clusterList");
    step("brokerStatus");
    step("brokerStatus-slave");
    step("updateTopic-b");
    step("updateTopic-c");
    step("topicList");
    step("topicList-c");
    step("topicRoute");
    step("topicClusterList");
    step("deleteTopic");
    step("topicList-after-delete");
    step("topicStatus");
    step("updateSubGroup");
    step("deleteSubGroup");
    step("getBrokerConfig");
    step("getNamesrvConfig");
    step("updateKvConfig");
    step("deleteKvConfig");
    step("queryMsgById");
    step("queryMsgByKey");
    step("printMsg");
    step("consumerProgress");
    step("consumerConnection");
    bk_close(cons);
    bk_close(fd);
    assert_int_equal(NDIFF, 0);
}

/* Control: the comparison finds a column one wider and a changed value, by line and
 * column; an unchanged reference passes. */
static void test_control(void **st)
{
    (void)st;
    const spec *sp = spec_of("topicStatus");
    const char *ref = "$ mqadmin topicStatus -t MqaData -n <NAMESRV>\n"
                      "#Broker Name                      #QID  #Min Offset           #Max Offset"
                      "             #Last Updated\n"
                      "broker-cj                         0     0                     2           "
                      "            <TIME>\n";
    const char *wider =
        "$ mqadmin topicStatus -t MqaData -n <NAMESRV>\n"
        "#Broker Name                       #QID  #Min Offset           #Max Offset"
        "             #Last Updated\n"
        "broker-cj                          0     0                     2           "
        "            <TIME>\n";
    const char *value = "$ mqadmin topicStatus -t MqaData -n <NAMESRV>\n"
                        "#Broker Name                      #QID  #Min Offset           #Max Offset"
                        "             #Last Updated\n"
                        "broker-cj                         0     0                     3           "
                        "            <TIME>\n";
    assert_int_equal(compare(sp, ref, ref), 0);
    assert_int_equal(compare(sp, ref, wider), 1);
    fprintf(stderr, "control (width): %s\n", REPORT);
    assert_non_null(strstr(REPORT, "topicStatus line 2: \"#QID\" at column 35"));
    assert_int_equal(compare(sp, ref, value), 1);
    fprintf(stderr, "control (value): %s\n", REPORT);
    assert_non_null(
        strstr(REPORT, "topicStatus line 3 column 63: mqadmin has \"2\", kite-admin \"3\""));
    /* placeholders: a longer address moves the columns after it on every line alike */
    const spec *cl = spec_of("clusterList");
    assert_int_equal(compare(cl, "$ x\na  <MASTER>   b\nc  <MASTER>   d\n",
                             "$ x\na  <MASTER>     b\nc  <MASTER>     d\n"),
                     0);
    assert_int_equal(compare(cl, "$ x\na  <MASTER>   b\nc  <MASTER>   d\n",
                             "$ x\na  <MASTER>     b\nc  <MASTER>      d\n"),
                     1);
    fprintf(stderr, "control (placeholder): %s\n", REPORT);
}

int main(void)
{
    OUT = kite_xmalloc(OUT_CAP);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control),
        cmocka_unit_test_setup_teardown(test_against_mqadmin, bk_setup, bk_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(OUT);
    return kt_exit_code(failed);
}
