/* filter.c - SQL92 property filter: recursive-descent parser to a small tree, and a
 * three-valued evaluator over a message's properties (see filter.h for the language).
 * Depth is bounded so hostile expressions cannot exhaust the stack. */
#include "broker/filter.h"
#include "base/mem.h"
#include "codec/record.h"
#include "kite/status.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 64
#define MAX_SET   256

typedef enum { N_OR, N_AND, N_NOT, N_CMP, N_BETWEEN, N_IN, N_ISNULL, N_STR, N_CONST } ntype;
typedef enum { V_IDENT, V_STR, V_NUM, V_BOOL } vtype;
typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } cmpop;
typedef enum { S_CONTAINS, S_STARTS, S_ENDS } strop;

typedef struct operand {
    vtype t;
    char *s; /* ident name or string value */
    double num;
    int b;
} operand;

typedef struct node {
    ntype t;
    int neg; /* NOT BETWEEN / NOT IN / IS NOT NULL / NOT CONTAINS */
    int op;
    struct node *l, *r;
    operand a, b, c; /* operands */
    operand *set;
    size_t nset;
    int konst;
} node;

struct bk_filter {
    node *root;
};

typedef struct parser {
    const char *p;
    char *err;
    size_t errlen;
    int depth;
    int failed;
} parser;

static void fail(parser *ps, const char *msg)
{
    if (!ps->failed) snprintf(ps->err, ps->errlen, "SQL92 expression: %s near '%.20s'", msg, ps->p);
    ps->failed = 1;
}

static void ws(parser *ps)
{
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

/* Case-insensitive keyword followed by a non-identifier character. */
static int kw(parser *ps, const char *k)
{
    ws(ps);
    size_t n = strlen(k);
    if (strncasecmp(ps->p, k, n) != 0) return 0;
    char c = ps->p[n];
    if (isalnum((unsigned char)c) || c == '_' || c == '$' || c == '.') return 0;
    ps->p += n;
    return 1;
}

static int sym(parser *ps, const char *s)
{
    ws(ps);
    size_t n = strlen(s);
    if (strncmp(ps->p, s, n) != 0) return 0;
    ps->p += n;
    return 1;
}

static void op_free(operand *o) { free(o->s); }

static void node_free(node *n)
{
    if (!n) return;
    node_free(n->l);
    node_free(n->r);
    op_free(&n->a);
    op_free(&n->b);
    op_free(&n->c);
    for (size_t i = 0; i < n->nset; i++) op_free(&n->set[i]);
    free(n->set);
    free(n);
}

static node *new_node(ntype t)
{
    node *n = kite_xcalloc(1, sizeof *n);
    n->t = t;
    return n;
}

static int is_reserved(const char *s, size_t n)
{
    static const char *const words[] = { "AND",        "OR",       "NOT",  "BETWEEN", "IN",
                                         "IS",         "NULL",     "TRUE", "FALSE",   "CONTAINS",
                                         "STARTSWITH", "ENDSWITH", NULL };
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && strncasecmp(words[i], s, n) == 0) return 1;
    return 0;
}

/* KITE_OK, or KITE_EINVAL after fail() recorded why. */
static int parse_operand(parser *ps, operand *o)
{
    ws(ps);
    memset(o, 0, sizeof *o);
    const char *p = ps->p;
    if (*p == '\'') {
        size_t cap = 16, len = 0;
        char *s = kite_xmalloc(cap);
        p++;
        for (;;) {
            if (!*p) {
                free(s);
                fail(ps, "unterminated string");
                return KITE_EINVAL;
            }
            if (*p == '\'') {
                if (p[1] == '\'')
                    p++;
                else
                    break;
            }
            if (len + 2 > cap) {
                cap *= 2;
                s = kite_xrealloc(s, cap);
            }
            s[len++] = *p++;
        }
        s[len] = 0;
        ps->p = p + 1;
        o->t = V_STR;
        o->s = s;
        return KITE_OK;
    }
    if (isdigit((unsigned char)*p) ||
        ((*p == '-' || *p == '+') && (isdigit((unsigned char)p[1]) || p[1] == '.')) ||
        (*p == '.' && isdigit((unsigned char)p[1]))) {
        char *end;
        o->num = strtod(p, &end);
        if (end == p) {
            fail(ps, "bad number");
            return KITE_EINVAL;
        }
        if (*end == 'L' || *end == 'l' || *end == 'D' || *end == 'd' || *end == 'F' || *end == 'f')
            end++;
        ps->p = end;
        o->t = V_NUM;
        return KITE_OK;
    }
    if (kw(ps, "TRUE")) {
        o->t = V_BOOL;
        o->b = 1;
        return KITE_OK;
    }
    if (kw(ps, "FALSE")) {
        o->t = V_BOOL;
        return KITE_OK;
    }
    if (isalpha((unsigned char)*p) || *p == '_' || *p == '$') {
        const char *s = p;
        while (isalnum((unsigned char)*p) || *p == '_' || *p == '$' || *p == '.') p++;
        if (is_reserved(s, (size_t)(p - s))) {
            fail(ps, "a property name was expected");
            return KITE_EINVAL;
        }
        o->t = V_IDENT;
        o->s = kite_xstrndup(s, (size_t)(p - s));
        ps->p = p;
        return KITE_OK;
    }
    fail(ps, "an operand was expected");
    return KITE_EINVAL;
}

static node *parse_or(parser *ps);

static node *parse_predicate(parser *ps)
{
    ws(ps);
    if (sym(ps, "(")) {
        node *n = parse_or(ps);
        if (!n) return NULL;
        if (!sym(ps, ")")) {
            node_free(n);
            fail(ps, "')' expected");
            return NULL;
        }
        return n;
    }
    operand a;
    if (parse_operand(ps, &a) != KITE_OK) return NULL;
    node *n = NULL;
    int neg = 0;
    if (kw(ps, "IS")) {
        n = new_node(N_ISNULL);
        n->neg = kw(ps, "NOT");
        if (!kw(ps, "NULL")) {
            fail(ps, "NULL expected after IS");
            goto bad;
        }
        n->a = a;
        return n;
    }
    const char *save = ps->p;
    if (kw(ps, "NOT")) neg = 1;
    if (kw(ps, "BETWEEN")) {
        n = new_node(N_BETWEEN);
        n->neg = neg;
        n->a = a;
        if (parse_operand(ps, &n->b) != KITE_OK) goto bad;
        if (!kw(ps, "AND")) {
            fail(ps, "AND expected in BETWEEN");
            goto bad;
        }
        if (parse_operand(ps, &n->c) != KITE_OK) goto bad;
        return n;
    }
    if (kw(ps, "IN")) {
        n = new_node(N_IN);
        n->neg = neg;
        n->a = a;
        if (!sym(ps, "(")) {
            fail(ps, "'(' expected after IN");
            goto bad;
        }
        n->set = kite_xcalloc(MAX_SET, sizeof *n->set);
        do {
            if (n->nset == MAX_SET) {
                fail(ps, "too many values in IN");
                goto bad;
            }
            if (parse_operand(ps, &n->set[n->nset]) != KITE_OK) goto bad;
            n->nset++;
        } while (sym(ps, ","));
        if (!sym(ps, ")")) {
            fail(ps, "')' expected after the IN list");
            goto bad;
        }
        return n;
    }
    static const struct {
        const char *k;
        strop op;
    } sops[] = { { "CONTAINS", S_CONTAINS }, { "STARTSWITH", S_STARTS }, { "ENDSWITH", S_ENDS } };
    for (int i = 0; i < 3; i++) {
        if (kw(ps, sops[i].k)) {
            n = new_node(N_STR);
            n->neg = neg;
            n->op = sops[i].op;
            n->a = a;
            if (parse_operand(ps, &n->b) != KITE_OK) goto bad;
            return n;
        }
    }
    if (neg) ps->p = save;
    static const struct {
        const char *s;
        cmpop op;
    } cops[] = { { "<>", OP_NE }, { "!=", OP_NE }, { "<=", OP_LE }, { ">=", OP_GE },
                 { "=", OP_EQ },  { "<", OP_LT },  { ">", OP_GT } };
    for (int i = 0; i < 7; i++) {
        if (sym(ps, cops[i].s)) {
            n = new_node(N_CMP);
            n->op = cops[i].op;
            n->a = a;
            if (parse_operand(ps, &n->b) != KITE_OK) goto bad;
            return n;
        }
    }
    if (a.t == V_BOOL) {
        n = new_node(N_CONST);
        n->konst = a.b;
        return n;
    }
    fail(ps, "a comparison was expected");
bad:
    if (n) {
        if (n->a.s != a.s) op_free(&a);
        node_free(n);
    } else {
        op_free(&a);
    }
    return NULL;
}

static node *parse_not(parser *ps)
{
    if (++ps->depth > MAX_DEPTH) {
        fail(ps, "expression nested too deeply");
        return NULL;
    }
    node *r;
    if (kw(ps, "NOT")) {
        node *x = parse_not(ps);
        if (!x) {
            ps->depth--;
            return NULL;
        }
        r = new_node(N_NOT);
        r->l = x;
    } else {
        r = parse_predicate(ps);
    }
    ps->depth--;
    return r;
}

static node *parse_and(parser *ps)
{
    node *l = parse_not(ps);
    while (l && kw(ps, "AND")) {
        node *r = parse_not(ps);
        if (!r) {
            node_free(l);
            return NULL;
        }
        node *n = new_node(N_AND);
        n->l = l;
        n->r = r;
        l = n;
    }
    return l;
}

static node *parse_or(parser *ps)
{
    if (++ps->depth > MAX_DEPTH) {
        fail(ps, "expression nested too deeply");
        return NULL;
    }
    node *l = parse_and(ps);
    while (l && kw(ps, "OR")) {
        node *r = parse_and(ps);
        if (!r) {
            node_free(l);
            l = NULL;
            break;
        }
        node *n = new_node(N_OR);
        n->l = l;
        n->r = r;
        l = n;
    }
    ps->depth--;
    return l;
}

bk_filter *bk_filter_parse(const char *expr, char *err, size_t errlen)
{
    parser ps = { expr ? expr : "", err, errlen, 0, 0 };
    ws(&ps);
    if (!*ps.p) {
        snprintf(err, errlen, "SQL92 expression is empty");
        return NULL;
    }
    node *root = parse_or(&ps);
    ws(&ps);
    if (root && *ps.p) {
        fail(&ps, "unexpected text");
        node_free(root);
        root = NULL;
    }
    if (!root) return NULL;
    bk_filter *f = kite_xmalloc(sizeof *f);
    f->root = root;
    return f;
}

void bk_filter_free(bk_filter *f)
{
    if (!f) return;
    node_free(f->root);
    free(f);
}

/* ---- evaluation: 1 true, 0 false, -1 unknown ---- */

typedef struct value {
    int present;
    vtype t;
    const char *s;
    size_t len;
    double num;
    int is_num;
    int b;
} value;

/* 1 when s (len bytes) reads as a number (into *out), else 0. */
static int parse_num(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof tmp) return 0;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    char *end;
    *out = strtod(tmp, &end);
    return *end == 0;
}

static value resolve(const operand *o, const char *props, size_t plen)
{
    value v;
    memset(&v, 0, sizeof v);
    v.present = 1;
    v.t = o->t;
    switch (o->t) {
    case V_IDENT: {
        size_t vl;
        const char *p = kite_msgprop_get(props, plen, o->s, &vl);
        if (!p) {
            v.present = 0;
            return v;
        }
        v.t = V_STR;
        v.s = p;
        v.len = vl;
        v.is_num = parse_num(p, vl, &v.num);
        if (vl == 4 && strncasecmp(p, "true", 4) == 0) v.b = 1;
        break;
    }
    case V_STR:
        v.s = o->s;
        v.len = strlen(o->s);
        v.is_num = parse_num(v.s, v.len, &v.num);
        break;
    case V_NUM:
        v.num = o->num;
        v.is_num = 1;
        break;
    case V_BOOL: v.b = o->b; break;
    }
    return v;
}

/* Compares a with b into *out (<0, 0, >0): 1, or 0 when they do not compare (a number
 * against text that is not one). */
static int cmp_values(const value *a, const value *b, int *out)
{
    if (a->t == V_NUM || b->t == V_NUM) { /* numeric context */
        if (!a->is_num || !b->is_num) return 0;
        *out = a->num < b->num ? -1 : a->num > b->num;
        return 1;
    }
    if (a->t == V_BOOL || b->t == V_BOOL) {
        int x = a->t == V_BOOL ? a->b : (a->len == 4 && strncasecmp(a->s, "true", 4) == 0);
        int y = b->t == V_BOOL ? b->b : (b->len == 4 && strncasecmp(b->s, "true", 4) == 0);
        *out = x - y;
        return 1;
    }
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, n);
    *out = c ? (c < 0 ? -1 : 1) : (a->len < b->len ? -1 : a->len > b->len);
    return 1;
}

/* SQL's three truth values: 1 true, 0 false, UNKNOWN when a property is missing or the
 * sides do not compare (NOT UNKNOWN is UNKNOWN; only true matches). */
#define UNKNOWN (-1)

static int eval(const node *n, const char *props, size_t plen)
{
    int x, y, c;
    switch (n->t) {
    case N_CONST: return n->konst;
    case N_OR:
        x = eval(n->l, props, plen);
        if (x == 1) return 1;
        y = eval(n->r, props, plen);
        return y == 1 ? 1 : (x == UNKNOWN || y == UNKNOWN) ? UNKNOWN : 0;
    case N_AND:
        x = eval(n->l, props, plen);
        if (x == 0) return 0;
        y = eval(n->r, props, plen);
        return y == 0 ? 0 : (x == UNKNOWN || y == UNKNOWN) ? UNKNOWN : 1;
    case N_NOT: x = eval(n->l, props, plen); return x == UNKNOWN ? UNKNOWN : !x;
    case N_ISNULL: {
        value a = resolve(&n->a, props, plen);
        return n->neg ? a.present : !a.present;
    }
    case N_CMP: {
        value a = resolve(&n->a, props, plen), b = resolve(&n->b, props, plen);
        if (!a.present || !b.present || !cmp_values(&a, &b, &c)) return UNKNOWN;
        switch ((cmpop)n->op) {
        case OP_EQ: return c == 0;
        case OP_NE: return c != 0;
        case OP_LT: return c < 0;
        case OP_LE: return c <= 0;
        case OP_GT: return c > 0;
        case OP_GE: return c >= 0;
        }
        return UNKNOWN;
    }
    case N_BETWEEN: {
        value a = resolve(&n->a, props, plen), lo = resolve(&n->b, props, plen),
              hi = resolve(&n->c, props, plen);
        int c1, c2;
        if (!a.present || !lo.present || !hi.present || !cmp_values(&a, &lo, &c1) ||
            !cmp_values(&a, &hi, &c2))
            return UNKNOWN;
        int in = c1 >= 0 && c2 <= 0;
        return n->neg ? !in : in;
    }
    case N_IN: {
        value a = resolve(&n->a, props, plen);
        if (!a.present) return UNKNOWN;
        int found = 0;
        for (size_t i = 0; i < n->nset && !found; i++) {
            value b = resolve(&n->set[i], props, plen);
            if (b.present && cmp_values(&a, &b, &c) && c == 0) found = 1;
        }
        return n->neg ? !found : found;
    }
    case N_STR: {
        value a = resolve(&n->a, props, plen), b = resolve(&n->b, props, plen);
        if (!a.present || !b.present || a.t == V_NUM || b.t == V_NUM || a.t == V_BOOL ||
            b.t == V_BOOL)
            return UNKNOWN;
        int r = 0;
        if (b.len <= a.len) {
            switch ((strop)n->op) {
            case S_CONTAINS:
                for (size_t i = 0; i + b.len <= a.len && !r; i++)
                    r = memcmp(a.s + i, b.s, b.len) == 0;
                break;
            case S_STARTS: r = memcmp(a.s, b.s, b.len) == 0; break;
            case S_ENDS: r = memcmp(a.s + a.len - b.len, b.s, b.len) == 0; break;
            }
        }
        return n->neg ? !r : r;
    }
    }
    return UNKNOWN;
}

int bk_filter_match(const bk_filter *f, const char *props, size_t props_len)
{
    return eval(f->root, props ? props : "", props ? props_len : 0) == 1;
}
