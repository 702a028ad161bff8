/* main.c - kite-admin: the mqadmin-style administration tool for KiteMQ clusters (and any
 * RocketMQ 4.9/5.x cluster). Same subcommand names, options and output as Apache
 * RocketMQ's mqadmin for the subcommands it has (docs/admin.md), so scripts written for
 * mqadmin's output keep working.
 *
 *   kite-admin                      the command list
 *   kite-admin help <command>       the command's options
 *   kite-admin <command> [options]  runs it (-n "ip:port;ip:port" or $NAMESRV_ADDR)
 *   kite-admin --tls-config <file> <command> [options]
 *                                   connects with TLS as the file's tls.enable and
 *                                   tls.client.* keys say (or $KITE_TLS_CONFIG_FILE)
 *
 * Requests are signed as a plain-ACL account (docs/admin.md "Accounts") when keys are
 * given: --accessKey K --secretKey S anywhere after the command, else accessKey and
 * secretKey in $ROCKETMQ_HOME/conf/tools.yml, where mqadmin reads them.
 *
 * Owns: the command list, option parsing (commons-cli's POSIX style: "-t T", "-tT",
 * "--topic T"; command names match case-insensitively as in mqadmin) and the exit code:
 * 0 ok, 1 a request failed, 2 unknown command or option, missing required option. */
#include "admin.h"
#include "base/mem.h"
#include "net/tls.h"
#include "base/file.h"
#include "base/props.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* mqadmin's own command order (its help lists them in registration order). */
static const char *const order[] = {
    "updateTopic",    "deleteTopic",        "updateSubGroup",   "deleteSubGroup",  "topicRoute",
    "topicStatus",    "topicClusterList",   "brokerStatus",     "queryMsgById",    "queryMsgByKey",
    "printMsg",       "consumerConnection", "consumerProgress", "clusterList",     "topicList",
    "updateKvConfig", "deleteKvConfig",     "getNamesrvConfig", "getBrokerConfig", NULL,
};

static const ka_opt common_opts[] = {
    { 'h', "help", 0, 0, "Print help" },
    { 'n', "namesrvAddr", 1, 0,
      "Name server address list, eg: '192.168.0.1:9876;192.168.0.2:9876'" },
    { 0, NULL, 0, 0, NULL },
};

static const ka_cmd *find_cmd(const char *name)
{
    const ka_cmd *const tables[] = { ka_cmds_cluster, ka_cmds_topic, ka_cmds_group, ka_cmds_msg };
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const ka_cmd *c = tables[t]; c->name; c++)
            if (!strcasecmp(c->name, name)) return c;
    return NULL;
}

static void print_list(void)
{
    printf("The most commonly used mqadmin commands are:\n");
    for (size_t i = 0; order[i]; i++) {
        const ka_cmd *c = find_cmd(order[i]);
        if (c) printf("   %-20s %s\n", c->name, c->desc);
    }
    printf("\nSee 'mqadmin help <command>' for more information on a specific command.\n");
}

/* All options of a command (its own plus -h, -n), sorted by letter ignoring case, as
 * commons-cli's help formatter sorts them. */
static size_t all_opts(const ka_cmd *c, const ka_opt **out, size_t cap)
{
    size_t n = 0;
    for (const ka_opt *o = common_opts; o->letter && n < cap; o++) out[n++] = o;
    for (const ka_opt *o = c->opts; o && o->letter && n < cap; o++) out[n++] = o;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            int a = out[j - 1]->letter | 32, b = out[j]->letter | 32;
            if (a < b || (a == b && out[j - 1]->letter <= out[j]->letter)) break;
            const ka_opt *t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* commons-cli's HelpFormatter layout (width 110): a usage line with every option
 * (required ones without brackets), then one line per option. */
static void print_help(FILE *f, const ka_cmd *c)
{
    const ka_opt *o[40];
    size_t n = all_opts(c, o, 40);
    char line[4096];
    int len = snprintf(line, sizeof line, "usage: mqadmin %s", c->name);
    int indent = len + 1;
    for (size_t i = 0; i < n; i++) {
        char item[128];
        snprintf(item, sizeof item, "%s-%c%s%s", o[i]->required ? "" : "[", o[i]->letter,
                 o[i]->has_arg ? " <arg>" : "", o[i]->required ? "" : "]");
        if (len + 1 + (int)strlen(item) > 110) {
            fprintf(f, "%s\n", line);
            len = snprintf(line, sizeof line, "%*s%s", indent, "", item);
        } else {
            len += snprintf(line + len, sizeof line - (size_t)len, " %s", item);
        }
    }
    fprintf(f, "%s\n", line);
    size_t w = 0;
    char left[40][128];
    for (size_t i = 0; i < n; i++) {
        snprintf(left[i], sizeof left[i], " -%c,--%s%s", o[i]->letter, o[i]->longname,
                 o[i]->has_arg ? " <arg>" : "");
        if (strlen(left[i]) > w) w = strlen(left[i]);
    }
    for (size_t i = 0; i < n; i++) fprintf(f, "%-*s   %s\n", (int)w, left[i], o[i]->desc);
}

static const ka_opt *find_opt(const ka_cmd *c, char letter, const char *longname)
{
    const ka_opt *const lists[] = { common_opts, c->opts };
    for (size_t l = 0; l < 2; l++)
        for (const ka_opt *o = lists[l]; o && o->letter; o++)
            if (longname ? !strcmp(o->longname, longname) : o->letter == letter) return o;
    return NULL;
}

static int usage_error(const ka_cmd *c, const char *fmt, const char *what)
{
    fprintf(stderr, "kite-admin %s: ", c->name);
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    print_help(stderr, c);
    return KA_USAGE;
}

static int parse(ka_ctx *x, int argc, char **argv)
{
    const ka_cmd *c = x->cmd;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) return usage_error(c, "unexpected argument '%s'", a);
        const ka_opt *o;
        const char *inline_val = NULL;
        if (a[1] == '-') {
            char name[64];
            const char *eq = strchr(a + 2, '=');
            size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            snprintf(name, sizeof name, "%.*s", (int)nl, a + 2);
            o = find_opt(c, 0, name);
            if (eq) inline_val = eq + 1;
        } else {
            o = find_opt(c, a[1], NULL);
            if (a[2]) inline_val = a + 2;
        }
        if (!o) return usage_error(c, "unknown option '%s'", a);
        const char *v = "";
        if (o->has_arg) {
            if (inline_val)
                v = inline_val;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return usage_error(c, "missing argument for option '%s'", a);
        } else if (inline_val) {
            return usage_error(c, "option '%s' takes no argument", a);
        }
        x->val[(unsigned char)o->letter] = v;
    }
    if (ka_opt_val(x, 'h')) {
        print_help(stdout, c);
        exit(0);
    }
    for (const ka_opt *o = c->opts; o && o->letter; o++)
        if (o->required && !ka_opt_val(x, o->letter)) {
            char what[80];
            snprintf(what, sizeof what, "-%c (--%s)", o->letter, o->longname);
            return usage_error(c, "missing required option %s", what);
        }
    const char *ns = ka_opt_val(x, 'n');
    if (!ns) ns = getenv("NAMESRV_ADDR");
    if (ns) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", ns);
        char *save = NULL;
        for (char *t = strtok_r(tmp, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
            while (*t == ' ') t++;
            size_t l = strlen(t);
            while (l && t[l - 1] == ' ') t[--l] = 0;
            if (!l) continue;
            if (x->n_ns == sizeof x->ns / sizeof x->ns[0] || l >= sizeof x->ns[0])
                return usage_error(c, "too many or too long name server addresses in '%s'", ns);
            snprintf(x->ns[x->n_ns++], sizeof x->ns[0], "%s", t);
        }
    }
    return 0;
}

typedef struct admin_tls {
    kite_tls_conf t;
} admin_tls;

static const kite_prop_def admin_tls_props[] = {
    KITE_TLS_CLIENT_PROPS(admin_tls, t),
    { NULL, 0, 0, NULL, NULL },
};

/* The client TLS context from a tls.* properties file; *out NULL when tls.enable is false.
 * 0, or KA_USAGE after printing why. */
static int load_tls(const char *file, kite_tls_ctx **out)
{
    admin_tls a;
    memset(&a, 0, sizeof a);
    kite_config_defaults(admin_tls_props, &a);
    a.t.config_file = kite_xstrdup(file);
    a.t.handshake_timeout_ms = 10000;
    char err[512];
    int rc = kite_tls_conf_settle(admin_tls_props, &a, &a.t, err, sizeof err);
    if (rc == 0 && a.t.client_enable) *out = kite_tls_client_from_conf(&a.t, err, sizeof err);
    if (rc == 0 && a.t.client_enable && !*out) rc = -1;
    free(a.t.config_file);
    kite_config_free(admin_tls_props, &a);
    if (rc != 0) {
        fprintf(stderr, "kite-admin: %s\n", err);
        return KA_USAGE;
    }
    return 0;
}

/* Removes --accessKey / --secretKey (with a value, "--k v" or "--k=v") from argv into
 * ak / sk; returns the new argc, or -1 when a value is missing. */
static int take_keys(int argc, char **argv, char ak[256], char sk[256])
{
    static const char *const names[] = { "--accessKey", "--secretKey" };
    char *dst[] = { ak, sk };
    int out = 0;
    for (int i = 0; i < argc; i++) {
        int hit = -1;
        const char *v = NULL;
        for (int k = 0; k < 2; k++) {
            size_t n = strlen(names[k]);
            if (!strncmp(argv[i], names[k], n) && (argv[i][n] == 0 || argv[i][n] == '=')) {
                hit = k;
                v = argv[i][n] ? argv[i] + n + 1 : (i + 1 < argc ? argv[++i] : NULL);
            }
        }
        if (hit < 0) {
            argv[out++] = argv[i];
            continue;
        }
        if (!v) return -1;
        snprintf(dst[hit], 256, "%s", v);
    }
    return out;
}

/* One value of tools.yml ("key: value", quotes around the value dropped). */
static void tools_value(const kite_props *p, const char *key, char out[256])
{
    const char *v = kite_props_get(p, key);
    if (!v || out[0]) return;
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
        snprintf(out, 256, "%.*s", (int)(n - 2), v + 1);
    else
        snprintf(out, 256, "%s", v);
}

/* Keys not given as flags: from $ROCKETMQ_HOME/conf/tools.yml, as mqadmin. */
static void tools_file_keys(char ak[256], char sk[256])
{
    const char *home = getenv("ROCKETMQ_HOME");
    if ((ak[0] && sk[0]) || !home || !*home) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/conf/tools.yml", home);
    char *text = NULL;
    size_t len = 0;
    if (kite_file_read_all(path, 1 << 20, &text, &len) != KITE_OK) return;
    kite_props p;
    kite_props_init(&p);
    kite_props_parse(&p, text, len);
    tools_value(&p, "accessKey", ak);
    tools_value(&p, "secretKey", sk);
    kite_props_free(&p);
    free(text);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *tls_file = getenv("KITE_TLS_CONFIG_FILE");
    if (argc >= 3 && !strcmp(argv[1], "--tls-config")) {
        tls_file = argv[2];
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    if (argc < 2) {
        print_list();
        return 0;
    }
    if (!strcmp(argv[1], "help")) {
        if (argc != 3) {
            print_list();
            return argc == 2 ? 0 : KA_USAGE;
        }
        const ka_cmd *c = find_cmd(argv[2]);
        if (!c) {
            fprintf(stderr, "The sub command %s not exist.\n", argv[2]);
            return KA_USAGE;
        }
        print_help(stdout, c);
        return 0;
    }
    const ka_cmd *c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "The sub command %s not exist.\n", argv[1]);
        fprintf(stderr, "See 'kite-admin' for the command list.\n");
        return KA_USAGE;
    }
    static ka_ctx x; /* ~1 KiB of option values and addresses; one per run */
    x.cmd = c;
    char ak[256] = "", sk[256] = "";
    int nargs = take_keys(argc - 2, argv + 2, ak, sk);
    if (nargs < 0) return usage_error(c, "%s", "missing argument for --accessKey / --secretKey");
    int rc = parse(&x, nargs, argv + 2);
    if (rc != 0) return rc;
    tools_file_keys(ak, sk);
    if (!ak[0] != !sk[0])
        return usage_error(c, "%s", "an account needs both accessKey and secretKey");
    kite_tls_ctx *tls = NULL;
    if (tls_file && *tls_file && (rc = load_tls(tls_file, &tls)) != 0) return rc;
    kite_rpc_client_opts ro = { .tls = tls };
    x.rpc = kite_rpc_client_new(&ro);
    kite_tls_ctx_free(tls); /* the client holds its own reference */
    if (ak[0]) kite_rpc_client_set_credentials(x.rpc, ak, sk, NULL);
    rc = c->run(&x);
    kite_rpc_client_free(x.rpc);
    fflush(stdout);
    return rc;
}
