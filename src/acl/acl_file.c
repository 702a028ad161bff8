/* acl_file.c - reads RocketMQ's plain_acl.yml shape (acl.h; README "Security"):
 *   globalWhiteRemoteAddresses: [pattern, ...]        (may be empty or absent)
 *   accounts:
 *     - accessKey, secretKey (required), whiteRemoteAddress (one pattern), admin (a YAML
 *       1.1 boolean), defaultTopicPerm / defaultGroupPerm (DENY when absent),
 *       topicPerms / groupPerms: ["name=PERM", ...]
 * Other top-level keys (RocketMQ writes dataVersion) and unknown account keys are
 * warned about and skipped. Every refusal names file:line. The YAML is parsed with libyaml's
 * document loader; aliases are followed, with a budget on the items visited so that
 * aliased lists cannot multiply the work. Threads: any (no shared state). */
#include "acl/acl.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define ACL_FILE_MAX    (4u << 20)
#define ACL_ITEM_BUDGET 1000000

typedef struct ctx {
    kite_acl *acl;
    yaml_document_t *doc;
    const char *file;
    char *err;
    size_t errlen;
    long budget;
} ctx;

kite_acl *kite_acl_new(void) { return kite_xcalloc(1, sizeof(kite_acl)); }

static void unindex_account(kite_acl_account *c)
{
    kite_acl_key_free(c->key);
    c->key = NULL;
    kite_map_free(&c->topic_at, NULL);
    kite_map_free(&c->group_at, NULL);
}

void kite_acl_account_free(kite_acl_account *c)
{
    unindex_account(c);
    free(c->access_key);
    free(c->secret_key);
    kite_acl_addr_free(c->white);
    for (size_t i = 0; i < c->ntopics; i++) free(c->topics[i].name);
    for (size_t i = 0; i < c->ngroups; i++) free(c->groups[i].name);
    free(c->topics);
    free(c->groups);
    free(c->file);
}

void kite_acl_free(kite_acl *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->nglobal; i++) {
        kite_acl_addr_free(a->global_white[i]);
        free(a->global_file[i]);
    }
    free(a->global_white);
    free(a->global_file);
    for (size_t i = 0; i < a->nacc; i++) kite_acl_account_free(&a->acc[i]);
    free(a->acc);
    kite_map_free(&a->acc_at, NULL);
    free(a);
}

static void *slot(size_t i) { return (void *)(uintptr_t)(i + 1); }

static void index_perms(kite_map *m, const kite_acl_perm *p, size_t n)
{
    kite_map_init(m);
    for (size_t i = n; i-- > 0;) kite_map_put(m, p[i].name, slot(i)); /* the first one wins */
}

void kite_acl_reindex(kite_acl *a)
{
    kite_map_free(&a->acc_at, NULL);
    kite_map_init(&a->acc_at);
    for (size_t i = a->nacc; i-- > 0;) {
        kite_acl_account *c = &a->acc[i];
        unindex_account(c);
        c->key = kite_acl_key_new(c->secret_key);
        index_perms(&c->topic_at, c->topics, c->ntopics);
        index_perms(&c->group_at, c->groups, c->ngroups);
        kite_map_put(&a->acc_at, c->access_key, slot(i));
    }
}

const kite_acl_account *kite_acl_find(const kite_acl *a, const char *ak, size_t len)
{
    if (!ak || strlen(ak) != len) return NULL;
    uintptr_t at = (uintptr_t)kite_map_get(&a->acc_at, ak);
    return at ? &a->acc[at - 1] : NULL;
}

int kite_acl_perm_parse(const char *s, int *known)
{
    *known = 1;
    if (!s) return KITE_ACL_PERM_DENY;
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
#define IS(w) (n == strlen(w) && strncmp(s, w, n) == 0)
    if (IS("PUB")) return KITE_ACL_PERM_PUB;
    if (IS("SUB")) return KITE_ACL_PERM_SUB;
    if (IS("PUB|SUB") || IS("SUB|PUB")) return KITE_ACL_PERM_PUB | KITE_ACL_PERM_SUB;
    if (IS("DENY")) return KITE_ACL_PERM_DENY;
#undef IS
    *known = 0;
    return KITE_ACL_PERM_DENY;
}

const char *kite_acl_perm_name(int perm)
{
    if (perm & KITE_ACL_PERM_DENY) return "DENY";
    if ((perm & KITE_ACL_PERM_PUB) && (perm & KITE_ACL_PERM_SUB)) return "PUB|SUB";
    if (perm & KITE_ACL_PERM_PUB) return "PUB";
    if (perm & KITE_ACL_PERM_SUB) return "SUB";
    if (perm & KITE_ACL_PERM_ANY) return "ANY";
    return "none";
}

int kite_acl_perm_ok(int needed, int owned)
{
    if (owned & KITE_ACL_PERM_DENY) return 0;
    if (needed & KITE_ACL_PERM_ANY) return (owned & (KITE_ACL_PERM_PUB | KITE_ACL_PERM_SUB)) != 0;
    return (needed & owned) != 0;
}

void *kite_acl_grow(void *p, size_t n, size_t elem)
{
    if (n >= 8 ? (n & (n - 1)) != 0 : n != 0) return p;
    return kite_xrealloc(p, (n >= 8 ? n * 2 : 8) * elem);
}

static int fail(ctx *c, const yaml_node_t *n, const char *fmt, const char *a, const char *b)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    snprintf(c->err, c->errlen, "%s:%lu: %s", c->file,
             n ? (unsigned long)n->start_mark.line + 1 : 0, msg);
    return KITE_EINVAL;
}

static yaml_node_t *node(ctx *c, yaml_node_item_t i)
{
    if (--c->budget < 0) return NULL;
    return yaml_document_get_node(c->doc, i);
}

/* Scalar text, or NULL for null / empty / ~ (and for non-scalars: *bad set). */
static const char *scalar(const yaml_node_t *n, int *bad)
{
    *bad = 0;
    if (!n) return NULL;
    if (n->type != YAML_SCALAR_NODE) {
        *bad = 1;
        return NULL;
    }
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL")))
        return NULL;
    if (strlen(v) != n->data.scalar.length) { /* a NUL inside: not text we can use */
        *bad = 1;
        return NULL;
    }
    return v;
}

static int bool_word(const char *v, int *out)
{
    static const char *t[] = { "true", "yes", "on" }, *f[] = { "false", "no", "off" };
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(v, t[i])) return *out = 1, 1;
        if (!strcasecmp(v, f[i])) return *out = 0, 1;
    }
    return 0;
}

static int perms_list(ctx *c, const yaml_node_t *seq, const char *what, kite_acl_perm **out,
                      size_t *n)
{
    if (seq->type == YAML_SCALAR_NODE) {
        int bad;
        if (!scalar(seq, &bad) && !bad) return 0; /* empty */
    }
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(c, seq, "%s must be a list of name=PERM entries%s", what, NULL);
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *e = node(c, *it);
        if (!e) return fail(c, seq, "%s: too many items (aliases?)%s", what, NULL);
        int bad;
        const char *v = scalar(e, &bad);
        if (!v) continue;
        const char *eq = strchr(v, '=');
        if (!eq || eq == v) return fail(c, e, "%s entry '%s' is not name=PERM", what, v);
        int known;
        int perm = kite_acl_perm_parse(eq + 1, &known);
        if (!known)
            KLOG_WARN("acl", "%s:%lu: %s entry '%s': unknown permission, taken as DENY", c->file,
                      (unsigned long)e->start_mark.line + 1, what, v);
        *out = kite_acl_grow(*out, *n, sizeof **out);
        (*out)[*n].name = kite_xstrndup(v, (size_t)(eq - v));
        (*out)[(*n)++].perm = perm;
    }
    return 0;
}

static int account(ctx *c, const yaml_node_t *m, kite_acl_account *acc)
{
    if (m->type != YAML_MAPPING_NODE)
        return fail(c, m, "an account must be a mapping%s%s", NULL, NULL);
    acc->file = kite_xstrdup(c->file);
    acc->line = (int)m->start_mark.line + 1;
    acc->default_topic_perm = acc->default_group_perm = KITE_ACL_PERM_DENY;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        if (!k || !v) return fail(c, m, "too many items (aliases?)%s%s", NULL, NULL);
        int bad;
        const char *key = scalar(k, &bad), *val;
        if (!key) return fail(c, k, "an account key must be text%s%s", NULL, NULL);
        int rc = 0;
        if (!strcmp(key, "topicPerms")) {
            acc->has_perm_lists = 1;
            rc = perms_list(c, v, "topicPerms", &acc->topics, &acc->ntopics);
        } else if (!strcmp(key, "groupPerms")) {
            acc->has_perm_lists = 1;
            rc = perms_list(c, v, "groupPerms", &acc->groups, &acc->ngroups);
        } else {
            val = scalar(v, &bad);
            if (bad) return fail(c, v, "%s must be a single value%s", key, NULL);
            if (!strcmp(key, "accessKey")) {
                free(acc->access_key);
                acc->access_key = val ? kite_xstrdup(val) : NULL;
            } else if (!strcmp(key, "secretKey")) {
                free(acc->secret_key);
                acc->secret_key = val ? kite_xstrdup(val) : NULL;
            } else if (!strcmp(key, "whiteRemoteAddress")) {
                kite_acl_addr_free(acc->white);
                acc->white = NULL;
                if (val) {
                    char e[256];
                    acc->white = kite_acl_addr_parse(val, e, sizeof e);
                    if (!acc->white) return fail(c, v, "whiteRemoteAddress %s%s", e, NULL);
                }
            } else if (!strcmp(key, "admin")) {
                if (val && !bool_word(val, &acc->admin))
                    return fail(c, v, "admin: '%s' is not true or false%s", val, NULL);
                if (!val) acc->admin = 0;
            } else if (!strcmp(key, "defaultTopicPerm") || !strcmp(key, "defaultGroupPerm")) {
                int known;
                int perm = kite_acl_perm_parse(val, &known);
                if (val && !known)
                    KLOG_WARN("acl", "%s:%lu: %s '%s': unknown permission, taken as DENY", c->file,
                              (unsigned long)v->start_mark.line + 1, key, val);
                *(key[7] == 'T' ? &acc->default_topic_perm : &acc->default_group_perm) = perm;
            } else {
                KLOG_WARN("acl", "%s:%lu: unknown account key '%s' skipped", c->file,
                          (unsigned long)k->start_mark.line + 1, key);
            }
        }
        if (rc) return rc;
    }
    if (!acc->access_key || !acc->secret_key)
        return fail(c, m, "an account needs an accessKey and a secretKey%s%s", NULL, NULL);
    for (size_t i = 0; i < c->acl->nacc; i++)
        if (!strcmp(c->acl->acc[i].access_key, acc->access_key))
            return fail(c, m, "accessKey '%s' is already defined (%s)", acc->access_key,
                        c->acl->acc[i].file);
    return 0;
}

static int top(ctx *c, const yaml_node_t *root)
{
    if (!root) return 0; /* an empty file: nothing */
    if (root->type == YAML_SCALAR_NODE) {
        int bad;
        if (!scalar(root, &bad) && !bad) return 0;
    }
    if (root->type != YAML_MAPPING_NODE)
        return fail(c, root,
                    "the file must be a mapping (globalWhiteRemoteAddresses, accounts)%s%s", NULL,
                    NULL);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        if (!k || !v) return fail(c, root, "too many items (aliases?)%s%s", NULL, NULL);
        int bad;
        const char *key = scalar(k, &bad);
        if (!key) return fail(c, k, "a key must be text%s%s", NULL, NULL);
        int is_white = !strcmp(key, "globalWhiteRemoteAddresses");
        if (!is_white && strcmp(key, "accounts") != 0) {
            if (strcmp(key, "dataVersion") != 0)
                KLOG_WARN("acl", "%s:%lu: unknown key '%s' skipped", c->file,
                          (unsigned long)k->start_mark.line + 1, key);
            continue;
        }
        if (v->type == YAML_SCALAR_NODE && !scalar(v, &bad) && !bad) continue; /* empty */
        if (v->type != YAML_SEQUENCE_NODE) return fail(c, v, "%s must be a list%s", key, NULL);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *e = node(c, *it);
            if (!e) return fail(c, v, "%s: too many items (aliases?)%s", key, NULL);
            if (is_white) {
                const char *pat = scalar(e, &bad);
                if (bad) return fail(c, e, "%s entries must be address patterns%s", key, NULL);
                if (!pat) continue;
                char ae[256];
                kite_acl_addr *ap = kite_acl_addr_parse(pat, ae, sizeof ae);
                if (!ap) return fail(c, e, "globalWhiteRemoteAddresses %s%s", ae, NULL);
                c->acl->global_white =
                    kite_acl_grow(c->acl->global_white, c->acl->nglobal, sizeof(void *));
                c->acl->global_file =
                    kite_acl_grow(c->acl->global_file, c->acl->nglobal, sizeof(void *));
                c->acl->global_file[c->acl->nglobal] = kite_xstrdup(c->file);
                c->acl->global_white[c->acl->nglobal++] = ap;
            } else {
                kite_acl_account acc;
                memset(&acc, 0, sizeof acc);
                int rc = account(c, e, &acc);
                if (rc) {
                    kite_acl_account_free(&acc);
                    return rc;
                }
                c->acl->acc = kite_acl_grow(c->acl->acc, c->acl->nacc, sizeof acc);
                c->acl->acc[c->acl->nacc++] = acc;
            }
        }
    }
    return 0;
}

int kite_acl_parse(kite_acl *a, const char *name, const char *text, size_t len, char *err,
                   size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: cannot start the YAML parser", name);
        return KITE_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%lu: YAML: %s%s%s", name,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unreadable", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return KITE_ECORRUPT;
    }
    ctx c = { a, &doc, name, err, errlen, ACL_ITEM_BUDGET };
    int rc = top(&c, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    kite_acl_reindex(a);
    return rc;
}

int kite_acl_load_file(kite_acl *a, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc = kite_file_read_all(path, ACL_FILE_MAX, &text, &len);
    if (rc != KITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 rc == KITE_ENOTFOUND ? "no such file"
                 : rc == KITE_ETOOBIG ? "larger than 4 MiB"
                                      : "cannot be read");
        return rc;
    }
    rc = kite_acl_parse(a, path, text, len, err, errlen);
    free(text);
    return rc;
}
