/* common.c - kite-admin's shared helpers: requests to the name servers (each address of
 * -n in turn) and to brokers, the one error format (the server's code and remark), cluster
 * and route lookups, and the printing rules mqadmin's output follows (fastjson pretty
 * JSON, Java time formats, Java properties). See admin.h. */
#include "admin.h"
#include "base/props.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define KA_TIMEOUT_MS 5000

static void copy_req(const kite_cmd *req, kite_cmd *out)
{
    kite_cmd_init_request(out, req->code, 0);
    out->serialize = req->serialize;
    for (size_t i = 0; i < req->n_ext; i++)
        kite_cmd_set_ext_n(out, req->ext[i].key, req->ext[i].val, req->ext[i].vlen);
    if (req->body_len) kite_cmd_set_body_copy(out, req->body, req->body_len);
}

int ka_call(ka_ctx *c, const char *addr, const kite_cmd *req, kite_cmd *resp)
{
    kite_cmd r;
    copy_req(req, &r); /* the client takes the copy over (and frees its contents) */
    int st = kite_rpc_call_sync(c->rpc, addr, &r, KA_TIMEOUT_MS, resp);
    if (st != KITE_OK) {
        fprintf(stderr, "kite-admin %s: request %d to %s failed: %s\n", c->cmd->name, req->code,
                addr, kite_strerror(st));
        return -1;
    }
    return 0;
}

int ka_ns_call(ka_ctx *c, const kite_cmd *req, kite_cmd *resp)
{
    if (c->n_ns == 0) {
        fprintf(stderr, "kite-admin %s: no name server address: give -n \"ip:port;ip:port\"\n",
                c->cmd->name);
        return -1;
    }
    for (size_t i = 0; i < c->n_ns; i++)
        if (ka_call(c, c->ns[i], req, resp) == 0) return 0;
    return -1;
}

int ka_check(const kite_cmd *resp, int also_ok, const char *what)
{
    if (resp->code == RS_SUCCESS || resp->code == also_ok) return 0;
    fprintf(stderr, "%s failed, CODE: %d DESC: %s\n", what, resp->code,
            resp->remark ? resp->remark : "");
    return -1;
}

int ka_rpc_ok(ka_ctx *c, const char *addr, const kite_cmd *req, kite_cmd *resp, const char *what)
{
    if ((addr ? ka_call(c, addr, req, resp) : ka_ns_call(c, req, resp)) != 0) return -1;
    if (ka_check(resp, -1, what) != 0) {
        kite_cmd_free(resp);
        return -1;
    }
    return 0;
}

kite_json_doc *ka_parse_body(const kite_cmd *resp, const char *what)
{
    char err[128];
    kite_json_doc *d = kite_json_parse((const char *)resp->body, resp->body_len, err, sizeof err);
    if (!d) fprintf(stderr, "%s: the answer's body does not parse (%s)\n", what, err);
    return d;
}

int ka_cluster_info(ka_ctx *c, kite_cluster_info *ci)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_GET_BROKER_CLUSTER_INFO, 0);
    int rc = ka_rpc_ok(c, NULL, &req, &resp, "GET_BROKER_CLUSTER_INFO");
    kite_cmd_free(&req);
    if (rc != 0) return -1;
    char err[128];
    rc = kite_cluster_decode(ci, (const char *)resp.body, resp.body_len, err, sizeof err);
    kite_cmd_free(&resp);
    if (rc != 0) fprintf(stderr, "cluster info does not decode: %s\n", err);
    return rc == 0 ? 0 : -1;
}

int ka_route(ka_ctx *c, const char *topic, kite_route_data *r, int *code_out)
{
    kite_cmd req, resp;
    kite_cmd_init_request(&req, RC_GET_ROUTEINFO_BY_TOPIC, 0);
    kite_cmd_set_ext(&req, "topic", topic);
    int rc = ka_ns_call(c, &req, &resp);
    kite_cmd_free(&req);
    if (code_out) *code_out = -1;
    if (rc != 0) return -1;
    if (code_out) *code_out = resp.code;
    if (ka_check(&resp, -1, "GET_ROUTEINFO_BY_TOPIC") != 0) {
        kite_cmd_free(&resp);
        return -1;
    }
    char err[128];
    rc = kite_route_decode(r, (const char *)resp.body, resp.body_len, err, sizeof err);
    kite_cmd_free(&resp);
    if (rc != 0) fprintf(stderr, "route of %s does not decode: %s\n", topic, err);
    return rc == 0 ? 0 : -1;
}

const kite_broker_data *ka_broker_by_name(const kite_cluster_info *ci, const char *name)
{
    for (size_t i = 0; i < ci->n_brokers; i++)
        if (!strcmp(ci->brokers[i].broker_name, name)) return &ci->brokers[i];
    return NULL;
}

const char *ka_master_addr(const kite_broker_data *b)
{
    for (size_t i = 0; i < b->n_addrs; i++)
        if (b->addrs[i].id == 0) return b->addrs[i].addr;
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t ka_cluster_addrs(const kite_cluster_info *ci, const char *cluster, int all, const char **out,
                        size_t cap)
{
    const kite_cluster_entry *e = NULL;
    for (size_t i = 0; i < ci->n_clusters; i++)
        if (!strcmp(ci->clusters[i].cluster, cluster)) e = &ci->clusters[i];
    if (!e) {
        printf("[error] Make sure the specified clusterName exists or the name server connected "
               "to is correct.\n");
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < e->n_names; i++) {
        const kite_broker_data *b = ka_broker_by_name(ci, e->broker_names[i]);
        if (!b) continue;
        for (size_t j = 0; j < b->n_addrs && n < cap; j++)
            if (all || b->addrs[j].id == 0) out[n++] = b->addrs[j].addr;
    }
    qsort(out, n, sizeof *out, cmp_str);
    return n;
}

const char *ka_front(const char *s, size_t size, char *buf, size_t cap)
{
    size_t n = strlen(s);
    if (n <= size) return s;
    if (size >= cap) size = cap - 1;
    memcpy(buf, s, size);
    buf[size] = 0;
    return buf;
}

const char *ka_time_ms(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d,%03d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

const char *ka_time_s(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static void indent(int depth)
{
    for (int i = 0; i < depth; i++) putchar('\t');
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] < '0' || s[i] > '9') && !(i == 0 && s[i] == '-' && n > 1)) return 0;
    return 1;
}

static void print_scalar(const kite_json *v)
{
    kite_buf b;
    kite_buf_init(&b);
    if (v->type == KJ_STRING)
        kite_json_quote(&b, v->text, v->len, 0);
    else
        kite_json_scalar_text(v, &b);
    if (v->type == KJ_NULL) kite_buf_puts(&b, "null");
    fwrite(b.data, 1, b.len, stdout);
    kite_buf_free(&b);
}

/* fastjson's pretty format: an object or array opens on the current line; every member or
 * item goes on its own line one tab deeper; the closing bracket on a line of its own.
 * Maps (objects whose keys are all numbers) keep all their entries on the opening line,
 * separated by bare commas (`{0:"a",1:"b"`), as fastjson's map writer does. Empty containers print as {} and []. */
static int dropped(const kite_json *key, const char *const *drop)
{
    for (; drop && *drop; drop++)
        if (strlen(*drop) == key->len && !memcmp(*drop, key->text, key->len)) return 1;
    return 0;
}

static void pretty(const kite_json *v, int depth, const char *const *drop)
{
    if (v->type == KJ_ARRAY) {
        if (v->count == 0) {
            fputs("[]", stdout);
            return;
        }
        putchar('[');
        for (size_t i = 0; i < v->count; i++) {
            if (i) putchar(',');
            putchar('\n');
            indent(depth + 1);
            pretty(v->items[i], depth + 1, drop);
        }
        putchar('\n');
        indent(depth);
        putchar(']');
    } else if (v->type == KJ_OBJECT) {
        if (v->count == 0) {
            fputs("{}", stdout);
            return;
        }
        int map = 1;
        for (size_t i = 0; i < v->count; i++)
            if (!all_digits(v->members[i].key->text, v->members[i].key->len)) map = 0;
        putchar('{');
        for (size_t i = 0, n = 0; i < v->count; i++) {
            const kite_json_member *m = &v->members[i];
            if (!map && dropped(m->key, drop)) continue;
            if (n++) putchar(',');
            if (!map) {
                putchar('\n');
                indent(depth + 1);
            }
            if (map)
                fwrite(m->key->text, 1, m->key->len, stdout);
            else
                print_scalar(m->key);
            putchar(':');
            pretty(m->value, depth + 1, drop);
        }
        putchar('\n');
        indent(depth);
        putchar('}');
    } else {
        print_scalar(v);
    }
}

void ka_print_pretty(const kite_json *v, const char *const *drop) { pretty(v, 0, drop); }

void ka_print_properties(const kite_cmd *resp)
{
    kite_props p;
    kite_props_init(&p);
    kite_props_parse(&p, (const char *)resp->body, resp->body_len);
    for (size_t i = 0; i < p.count; i++) printf("%-50s=  %s\n", p.keys[i], p.values[i]);
    kite_props_free(&p);
}

int ka_bool(const char *s) { return s && !strcasecmp(s, "true"); }
