/* json.c - tolerant JSON reader (DOM in one arena per document) and compact writer.
 *
 * Owns: the grammar accepted by kite_json_parse() (RFC 8259 plus the fastjson
 * extensions listed in json.h: bare numeric/identifier keys, object and array keys,
 * single-quoted strings, trailing commas), the node arena, and the writer's escaping.
 * Not owned: what any particular body means (src/proto/bodies.c, hdr_json.c).
 * Formats: docs/wire.md §1.4 (headers) and §2.1 (fastjson's quirks).
 * Threads: a document or writer belongs to one thread; there are no globals.
 *
 * Memory: every node, string and member/item array of a document lives in a chain of
 * arena blocks; the first block is allocated together with the doc itself, so a small
 * header costs one malloc. While a container is being parsed its children are pushed
 * on a temporary pointer stack (kept by the parser) and copied into the arena when the
 * container closes. Recursion depth is bounded by KITE_JSON_MAX_DEPTH. */
#include "base/json.h"
#include "base/err.h"
#include "base/mem.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

typedef struct arena_block {
    struct arena_block *next;
    size_t cap, used;
    char data[];
} arena_block;

struct kite_json_doc {
    kite_json *root;
    arena_block *cur;          /* block being filled; older blocks follow through next */
    arena_block *inline_block; /* allocated with the doc; not freed separately */
};

#define ARENA_MAX_BLOCK ((size_t)1 << 20)
#define ARENA_ALIGN     8

static void *arena_alloc(kite_json_doc *d, size_t n, size_t align)
{
    arena_block *b = d->cur;
    uintptr_t base = (uintptr_t)b->data;
    size_t off = (size_t)(((base + b->used + (align - 1)) & ~(uintptr_t)(align - 1)) - base);
    if (off <= b->cap && n <= b->cap - off) {
        b->used = off + n;
        return b->data + off;
    }
    size_t cap = b->cap * 2;
    if (cap > ARENA_MAX_BLOCK) cap = ARENA_MAX_BLOCK;
    if (cap < n + align) cap = n + align;
    arena_block *nb = kite_xmalloc(sizeof *nb + cap);
    nb->next = b;
    nb->cap = cap;
    nb->used = 0;
    d->cur = nb;
    base = (uintptr_t)nb->data;
    off = (size_t)(((base + (align - 1)) & ~(uintptr_t)(align - 1)) - base);
    nb->used = off + n;
    return nb->data + off;
}

static kite_json_doc *doc_new(size_t input_len)
{
    size_t cap = 1024 + input_len * 4; /* a typical header fits in this one block */
    if (cap > 65536) cap = 65536;
    kite_json_doc *d = kite_xmalloc(sizeof *d + sizeof(arena_block) + cap);
    arena_block *b = (arena_block *)(void *)(d + 1);
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    d->root = NULL;
    d->cur = b;
    d->inline_block = b;
    return d;
}

void kite_json_doc_free(kite_json_doc *doc)
{
    if (!doc) return;
    arena_block *b = doc->cur;
    while (b) {
        arena_block *next = b->next;
        if (b != doc->inline_block) free(b);
        b = next;
    }
    free(doc);
}

const kite_json *kite_json_root(const kite_json_doc *doc) { return doc ? doc->root : NULL; }

/* ---- parser ---- */

typedef struct parser {
    const char *s;
    size_t len, pos;
    kite_json_doc *doc;
    char *err;
    size_t errlen;
    int failed;
    kite_json **stack; /* children of open containers (objects push key, value) */
    size_t top, cap;
    kite_json *inline_stack[64];
} parser;

static kite_json *fail(parser *p, size_t at, const char *why)
{
    if (!p->failed) {
        p->failed = 1;
        if (p->err && p->errlen) snprintf(p->err, p->errlen, "offset %zu: %s", at, why);
    }
    return NULL;
}

static kite_json *new_node(parser *p, kite_json_type t)
{
    kite_json *n = arena_alloc(p->doc, sizeof *n, ARENA_ALIGN);
    memset(n, 0, sizeof *n);
    n->type = t;
    n->text = "";
    return n;
}

static void push(parser *p, kite_json *n)
{
    if (p->top == p->cap) {
        size_t cap = p->cap * 2;
        kite_json **st;
        if (p->stack == p->inline_stack) {
            st = kite_xreallocarray(NULL, cap, sizeof *st);
            memcpy(st, p->stack, p->top * sizeof *st);
        } else {
            st = kite_xreallocarray(p->stack, cap, sizeof *st);
        }
        p->stack = st;
        p->cap = cap;
    }
    p->stack[p->top++] = n;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}
static int is_ident(char c) { return is_ident_start(c) || is_digit(c); }

/* Decodes the escapes of s[i..end) into o (which has room for end - i bytes: every
 * escape shrinks). Returns the output length, or (size_t)-1 after fail(). */
static size_t decode_escapes(parser *p, size_t i, size_t end, char *o)
{
    const char *s = p->s;
    size_t n = 0;
    while (i < end) {
        char c = s[i];
        if (c != '\\') {
            o[n++] = c;
            i++;
            continue;
        }
        /* the closing-quote scan guarantees a byte after the backslash */
        char e = s[i + 1];
        switch (e) {
        case '"':
        case '\\':
        case '/':
        case '\'':
            o[n++] = e;
            i += 2;
            continue;
        case 'b':
            o[n++] = '\b';
            i += 2;
            continue;
        case 'f':
            o[n++] = '\f';
            i += 2;
            continue;
        case 'n':
            o[n++] = '\n';
            i += 2;
            continue;
        case 'r':
            o[n++] = '\r';
            i += 2;
            continue;
        case 't':
            o[n++] = '\t';
            i += 2;
            continue;
        case 'u': break;
        default: fail(p, i, "invalid escape"); return (size_t)-1;
        }
        long cp = kite_hex4(s, i + 2, end);
        if (cp < 0) {
            fail(p, i, "invalid \\u escape");
            return (size_t)-1;
        }
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo =
                (i + 1 < end && s[i] == '\\' && s[i + 1] == 'u') ? kite_hex4(s, i + 2, end) : -1;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else {
                cp = 0xFFFD;
            }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        n += kite_utf8_put(o + n, (unsigned long)cp);
    }
    return n;
}

static kite_json *parse_string(parser *p)
{
    const char *s = p->s;
    char q = s[p->pos];
    size_t start = p->pos + 1, i = start;
    int esc = 0;
    for (;;) {
        if (i >= p->len) return fail(p, p->pos, "unterminated string");
        char c = s[i];
        if (c == q) break;
        if (c == '\\') {
            esc = 1;
            i += 2;
        } else {
            i++;
        }
    }
    size_t end = i;
    kite_json *n = new_node(p, KJ_STRING);
    char *o = arena_alloc(p->doc, end - start + 1, 1);
    size_t olen;
    if (!esc) {
        olen = end - start;
        memcpy(o, s + start, olen);
    } else {
        olen = decode_escapes(p, start, end, o);
        if (olen == (size_t)-1) return NULL;
    }
    o[olen] = 0;
    n->text = o;
    n->len = olen;
    p->pos = end + 1;
    return n;
}

static kite_json *text_node(parser *p, kite_json_type t, size_t start)
{
    kite_json *n = new_node(p, t);
    size_t len = p->pos - start;
    char *o = arena_alloc(p->doc, len + 1, 1);
    memcpy(o, p->s + start, len);
    o[len] = 0;
    n->text = o;
    n->len = len;
    return n;
}

/* -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?  (leading zeros tolerated) */
static kite_json *parse_number(parser *p)
{
    const char *s = p->s;
    size_t start = p->pos, i = p->pos;
    if (i < p->len && s[i] == '-') i++;
    size_t d = i;
    while (i < p->len && is_digit(s[i])) i++;
    if (i == d) return fail(p, start, "invalid number");
    if (i < p->len && s[i] == '.') {
        d = ++i;
        while (i < p->len && is_digit(s[i])) i++;
        if (i == d) return fail(p, start, "invalid number");
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        d = i;
        while (i < p->len && is_digit(s[i])) i++;
        if (i == d) return fail(p, start, "invalid number");
    }
    p->pos = i;
    return text_node(p, KJ_NUMBER, start);
}

static kite_json *parse_value(parser *p, int depth);

static int literal(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return 0;
    if (p->pos + n < p->len && is_ident(p->s[p->pos + n])) return 0;
    p->pos += n;
    return 1;
}

static kite_json *parse_key(parser *p, int depth)
{
    if (p->pos >= p->len) return fail(p, p->pos, "unexpected end of input, expected a key");
    char c = p->s[p->pos];
    if (c == '"' || c == '\'') return parse_string(p);
    if (c == '{' || c == '[') return parse_value(p, depth);
    kite_json *k = NULL;
    if (c == '-' || is_digit(c)) {
        k = parse_number(p);
    } else if (is_ident_start(c)) {
        size_t start = p->pos;
        while (p->pos < p->len && is_ident(p->s[p->pos])) p->pos++;
        k = text_node(p, KJ_STRING, start);
    } else {
        return fail(p, p->pos, "expected a key");
    }
    if (k) k->bare = 1;
    return k;
}

/* Copies stack[base..top) into the arena and pops it. */
static kite_json **take_stack(parser *p, size_t base)
{
    size_t n = p->top - base;
    kite_json **arr = arena_alloc(p->doc, n * sizeof *arr, ARENA_ALIGN);
    memcpy(arr, p->stack + base, n * sizeof *arr);
    p->top = base;
    return arr;
}

static kite_json *parse_object(parser *p, int depth)
{
    kite_json *obj = new_node(p, KJ_OBJECT);
    size_t base = p->top;
    p->pos++; /* '{' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return obj;
    }
    for (;;) {
        kite_json *k = parse_key(p, depth + 1);
        if (!k) return NULL;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, p->pos, "expected ':'");
        p->pos++;
        skip_ws(p);
        kite_json *v = parse_value(p, depth + 1);
        if (!v) return NULL;
        push(p, k);
        push(p, v);
        skip_ws(p);
        if (p->pos >= p->len) return fail(p, p->pos, "unterminated object");
        char c = p->s[p->pos++];
        if (c == '}') break;
        if (c != ',') return fail(p, p->pos - 1, "expected ',' or '}'");
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == '}') { /* trailing comma */
            p->pos++;
            break;
        }
    }
    size_t count = (p->top - base) / 2;
    kite_json_member *m = arena_alloc(p->doc, count * sizeof *m, ARENA_ALIGN);
    for (size_t i = 0; i < count; i++) {
        m[i].key = p->stack[base + 2 * i];
        m[i].value = p->stack[base + 2 * i + 1];
    }
    p->top = base;
    obj->members = m;
    obj->count = count;
    return obj;
}

static kite_json *parse_array(parser *p, int depth)
{
    kite_json *arr = new_node(p, KJ_ARRAY);
    size_t base = p->top;
    p->pos++; /* '[' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return arr;
    }
    for (;;) {
        kite_json *v = parse_value(p, depth + 1);
        if (!v) return NULL;
        push(p, v);
        skip_ws(p);
        if (p->pos >= p->len) return fail(p, p->pos, "unterminated array");
        char c = p->s[p->pos++];
        if (c == ']') break;
        if (c != ',') return fail(p, p->pos - 1, "expected ',' or ']'");
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ']') { /* trailing comma */
            p->pos++;
            break;
        }
    }
    arr->count = p->top - base;
    arr->items = take_stack(p, base);
    return arr;
}

/* depth = nesting level of the value being parsed (root = 1). */
static kite_json *parse_value(parser *p, int depth)
{
    if (p->pos >= p->len) return fail(p, p->pos, "unexpected end of input, expected a value");
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (depth > KITE_JSON_MAX_DEPTH) return fail(p, p->pos, "nesting too deep");
        return c == '{' ? parse_object(p, depth) : parse_array(p, depth);
    }
    if (c == '"' || c == '\'') return parse_string(p);
    if (c == '-' || is_digit(c)) return parse_number(p);
    size_t at = p->pos;
    if (literal(p, "true")) {
        kite_json *n = new_node(p, KJ_BOOL);
        n->boolean = 1;
        return n;
    }
    if (literal(p, "false")) return new_node(p, KJ_BOOL);
    if (literal(p, "null")) return new_node(p, KJ_NULL);
    return fail(p, at, "unexpected character");
}

kite_json_doc *kite_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    parser p;
    memset(&p, 0, offsetof(parser, inline_stack));
    p.s = text ? text : "";
    p.len = text ? len : 0;
    p.err = err;
    p.errlen = errlen;
    p.stack = p.inline_stack;
    p.cap = sizeof p.inline_stack / sizeof p.inline_stack[0];
    if (p.len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0) p.pos = 3; /* UTF-8 BOM */
    skip_ws(&p);
    if (p.pos >= p.len) {
        fail(&p, p.pos, "empty input");
        return NULL;
    }
    p.doc = doc_new(p.len);
    kite_json *root = parse_value(&p, 1);
    if (root) {
        skip_ws(&p);
        if (p.pos < p.len) root = fail(&p, p.pos, "unexpected data after the value");
    }
    if (p.stack != p.inline_stack) free(p.stack);
    if (!root) {
        kite_json_doc_free(p.doc);
        return NULL;
    }
    p.doc->root = root;
    return p.doc;
}

/* ---- accessors ---- */

static int key_is(const kite_json *k, const char *key, size_t klen)
{
    if (k->type != KJ_STRING && k->type != KJ_NUMBER) return 0;
    return k->len == klen && memcmp(k->text, key, klen) == 0;
}

const kite_json *kite_json_get(const kite_json *obj, const char *key)
{
    if (!obj || obj->type != KJ_OBJECT || !key) return NULL;
    size_t klen = strlen(key);
    for (size_t i = obj->count; i-- > 0;)
        if (key_is(obj->members[i].key, key, klen)) return obj->members[i].value;
    return NULL;
}

const kite_json *kite_json_at(const kite_json *arr, size_t i)
{
    if (!arr || arr->type != KJ_ARRAY || i >= arr->count) return NULL;
    return arr->items[i];
}

/* Decimal integer with an optional sign (s[0..len)); 0 or KITE_EINVAL. */
static int parse_int64(const char *s, size_t len, int allow_plus, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '-' || (allow_plus && s[i] == '+'))) neg = s[i++] == '-';
    if (i == len) return KITE_EINVAL;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (!is_digit(s[i])) return KITE_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) return KITE_EINVAL;
        v = v * 10 + d;
    }
    if (!neg)
        *out = (int64_t)v;
    else
        *out = v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
    return 0;
}

int kite_json_int64(const kite_json *v, int64_t *out)
{
    if (!v || (v->type != KJ_NUMBER && v->type != KJ_STRING)) return KITE_EINVAL;
    int64_t x;
    if (parse_int64(v->text, v->len, v->type == KJ_STRING, &x)) return KITE_EINVAL;
    *out = x;
    return 0;
}

int kite_json_int32(const kite_json *v, int32_t *out)
{
    int64_t x;
    if (kite_json_int64(v, &x) || x < INT32_MIN || x > INT32_MAX) return KITE_EINVAL;
    *out = (int32_t)x;
    return 0;
}

int kite_json_bool(const kite_json *v, int *out)
{
    if (!v) return KITE_EINVAL;
    if (v->type == KJ_BOOL) {
        *out = v->boolean ? 1 : 0;
        return 0;
    }
    if (v->type == KJ_STRING) {
        if (v->len == 4 && memcmp(v->text, "true", 4) == 0) {
            *out = 1;
            return 0;
        }
        if (v->len == 5 && memcmp(v->text, "false", 5) == 0) {
            *out = 0;
            return 0;
        }
        return KITE_EINVAL;
    }
    if (v->type == KJ_NUMBER && v->len == 1 && (v->text[0] == '0' || v->text[0] == '1')) {
        *out = v->text[0] == '1';
        return 0;
    }
    return KITE_EINVAL;
}

const char *kite_json_str(const kite_json *v, size_t *len)
{
    if (!v || v->type != KJ_STRING) return NULL;
    if (len) *len = v->len;
    return v->text;
}

int64_t kite_json_get_int64(const kite_json *obj, const char *key, int64_t dflt)
{
    int64_t x;
    return kite_json_int64(kite_json_get(obj, key), &x) ? dflt : x;
}

int32_t kite_json_get_int32(const kite_json *obj, const char *key, int32_t dflt)
{
    int32_t x;
    return kite_json_int32(kite_json_get(obj, key), &x) ? dflt : x;
}

int kite_json_get_bool(const kite_json *obj, const char *key, int dflt)
{
    int x;
    return kite_json_bool(kite_json_get(obj, key), &x) ? dflt : x;
}

const char *kite_json_get_str(const kite_json *obj, const char *key, const char *dflt)
{
    const char *s = kite_json_str(kite_json_get(obj, key), NULL);
    return s ? s : dflt;
}

int kite_json_scalar_text(const kite_json *v, kite_buf *out)
{
    if (!v) return KITE_EINVAL;
    switch (v->type) {
    case KJ_STRING:
    case KJ_NUMBER: kite_buf_append(out, v->text, v->len); return 0;
    case KJ_BOOL: kite_buf_puts(out, v->boolean ? "true" : "false"); return 0;
    case KJ_NULL: return 0;
    default: return KITE_EINVAL;
    }
}

/* ---- writer ---- */

static const char hexdig[] = "0123456789abcdef";

static void put_u16(kite_buf *out, unsigned v)
{
    char t[6] = {
        '\\',          'u', hexdig[(v >> 12) & 15], hexdig[(v >> 8) & 15], hexdig[(v >> 4) & 15],
        hexdig[v & 15]
    };
    kite_buf_append(out, t, 6);
}

/* Length of the well-formed UTF-8 sequence at s[0..n) and its code point; 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned long *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned long v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else
        return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Bytes that can be copied verbatim (not '"', '\\', control characters; bytes >= 0x80
 * are verbatim unless KITE_JW_ASCII asks for \uXXXX escapes). */
static const unsigned char plain_tab[256] = {
    /* 0 escape, 1 ASCII verbatim, 2 non-ASCII */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

void kite_json_quote(kite_buf *out, const char *s, size_t n, int flags)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char ascii_only =
        (flags & KITE_JW_ASCII) ? 1 : 3; /* mask: 2 counts as plain unless ASCII */
    kite_buf_reserve(out, n + 2);
    out->data[out->len++] = '"';
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    size_t i = 0;
    while (i < n) {
        while (i < n && (plain_tab[u[i]] & ascii_only)) i++;
        if (i > run) kite_buf_append(out, s + run, i - run);
        if (i >= n) break;
        unsigned char c = u[i];
        if (c >= 0x80) {
            unsigned long cp;
            size_t len = utf8_seq(u + i, n - i, &cp);
            if (!len) {
                cp = 0xFFFD;
                len = 1;
            }
            if (cp >= 0x10000) {
                cp -= 0x10000;
                put_u16(out, (unsigned)(0xD800 + (cp >> 10)));
                put_u16(out, (unsigned)(0xDC00 + (cp & 0x3FF)));
            } else {
                put_u16(out, (unsigned)cp);
            }
            i += len;
        } else {
            char e = 0;
            switch (c) {
            case '"': e = '"'; break;
            case '\\': e = '\\'; break;
            case '\b': e = 'b'; break;
            case '\f': e = 'f'; break;
            case '\n': e = 'n'; break;
            case '\r': e = 'r'; break;
            case '\t': e = 't'; break;
            default: break;
            }
            if (e) {
                char t[2] = { '\\', e };
                kite_buf_append(out, t, 2);
            } else {
                put_u16(out, c);
            }
            i++;
        }
        run = i;
    }
    kite_buf_putc(out, '"');
}

void kite_jw_init(kite_jw *w, kite_buf *out, int flags)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->flags = flags;
}

/* Level index of the innermost tracked container, or -1 (top level or past the limit). */
static int level(const kite_jw *w)
{
    return (w->depth > 0 && w->depth <= KITE_JSON_MAX_DEPTH) ? w->depth - 1 : -1;
}

static void before_value(kite_jw *w)
{
    int l = level(w);
    if (l < 0) return;
    if (w->is_obj[l]) {
        if (w->after_key[l])
            w->after_key[l] = 0;
        else
            w->error = 1; /* a value in an object needs a key first */
        return;
    }
    if (w->count[l]) kite_buf_putc(w->out, ',');
    w->count[l] = 1;
}

static void before_key(kite_jw *w)
{
    int l = level(w);
    if (l < 0) {
        if (w->depth == 0) w->error = 1;
        return;
    }
    if (!w->is_obj[l] || w->after_key[l]) w->error = 1;
    if (w->count[l]) kite_buf_putc(w->out, ',');
    w->count[l] = 1;
}

static void end_key(kite_jw *w)
{
    kite_buf_putc(w->out, ':');
    int l = level(w);
    if (l >= 0) w->after_key[l] = 1;
}

static void open_container(kite_jw *w, char c, int obj, int as_key)
{
    if (as_key)
        before_key(w);
    else
        before_value(w);
    kite_buf_putc(w->out, c);
    if (w->depth >= KITE_JSON_MAX_DEPTH) {
        w->error = 1; /* keep writing, but commas are no longer tracked */
        if (w->depth < INT_MAX) w->depth++;
        return;
    }
    int l = w->depth++;
    w->count[l] = 0;
    w->is_obj[l] = (unsigned char)obj;
    w->after_key[l] = 0;
    w->key_obj[l] = (unsigned char)as_key;
}

static void close_container(kite_jw *w, char c, int obj)
{
    if (w->depth == 0) {
        w->error = 1;
        return;
    }
    int l = level(w);
    kite_buf_putc(w->out, c);
    if (l < 0) {
        w->depth--;
        return;
    }
    if (w->is_obj[l] != obj || w->after_key[l]) w->error = 1;
    int as_key = w->key_obj[l];
    w->depth--;
    if (as_key) end_key(w);
}

void kite_jw_obj_begin(kite_jw *w) { open_container(w, '{', 1, 0); }
void kite_jw_obj_end(kite_jw *w) { close_container(w, '}', 1); }
void kite_jw_arr_begin(kite_jw *w) { open_container(w, '[', 0, 0); }
void kite_jw_arr_end(kite_jw *w) { close_container(w, ']', 0); }
void kite_jw_key_obj_begin(kite_jw *w) { open_container(w, '{', 1, 1); }

void kite_jw_key_obj_end(kite_jw *w)
{
    int l = level(w);
    if (l >= 0 && !w->key_obj[l]) w->error = 1;
    close_container(w, '}', 1);
}

void kite_jw_key_n(kite_jw *w, const char *k, size_t n)
{
    before_key(w);
    kite_json_quote(w->out, k, n, w->flags);
    end_key(w);
}

void kite_jw_key(kite_jw *w, const char *k) { kite_jw_key_n(w, k, strlen(k)); }

static size_t fmt_int(char *buf, int64_t v)
{
    char t[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        t[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t o = 0;
    if (v < 0) buf[o++] = '-';
    while (n) buf[o++] = t[--n];
    return o;
}

void kite_jw_key_int(kite_jw *w, int64_t k, int quoted)
{
    char t[24];
    size_t n = fmt_int(t, k);
    before_key(w);
    if (quoted) kite_buf_putc(w->out, '"');
    kite_buf_append(w->out, t, n);
    if (quoted) kite_buf_putc(w->out, '"');
    end_key(w);
}

void kite_jw_str_n(kite_jw *w, const char *s, size_t n)
{
    before_value(w);
    kite_json_quote(w->out, s, n, w->flags);
}

void kite_jw_str(kite_jw *w, const char *s) { kite_jw_str_n(w, s, strlen(s)); }

void kite_jw_int(kite_jw *w, int64_t v)
{
    char t[24];
    size_t n = fmt_int(t, v);
    before_value(w);
    kite_buf_append(w->out, t, n);
}

/* Shortest decimal digits that round-trip: digits (no dot) into dig, returns their count
 * and the decimal exponent of the first digit in *exp10. v is finite and non-zero. */
static int shortest_digits(double v, char *dig, int *exp10)
{
    char t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*e", prec - 1, v);
        if (prec == 17 || strtod(t, NULL) == v) break;
    }
    /* t = "d[.ddd]e[+-]XX" (v is positive here) */
    int n = 0;
    const char *q = t;
    for (; *q && *q != 'e'; q++)
        if (is_digit(*q)) dig[n++] = *q;
    *exp10 = *q == 'e' ? atoi(q + 1) : 0;
    while (n > 1 && dig[n - 1] == '0') n--;
    return n;
}

void kite_jw_double(kite_jw *w, double v)
{
    if (isnan(v) || isinf(v)) {
        kite_jw_null(w);
        return;
    }
    char out[64];
    size_t o = 0;
    if (signbit(v)) {
        out[o++] = '-';
        v = -v;
    }
    if (v == 0) {
        out[o++] = '0';
    } else {
        char dig[20];
        int x;
        int n = shortest_digits(v, dig, &x);
        if (x >= 0 && x < 21) {
            for (int i = 0; i <= x || i < n; i++) {
                if (i == x + 1) out[o++] = '.';
                out[o++] = i < n ? dig[i] : '0';
            }
        } else if (x < 0 && x > -7) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = -1; i > x; i--) out[o++] = '0';
            for (int i = 0; i < n; i++) out[o++] = dig[i];
        } else {
            out[o++] = dig[0];
            if (n > 1) out[o++] = '.';
            for (int i = 1; i < n; i++) out[o++] = dig[i];
            o += (size_t)snprintf(out + o, sizeof out - o, "e%c%d", x < 0 ? '-' : '+',
                                  x < 0 ? -x : x);
        }
    }
    before_value(w);
    kite_buf_append(w->out, out, o);
}

void kite_jw_bool(kite_jw *w, int v)
{
    before_value(w);
    kite_buf_puts(w->out, v ? "true" : "false");
}

void kite_jw_null(kite_jw *w)
{
    before_value(w);
    kite_buf_append(w->out, "null", 4);
}

void kite_jw_raw(kite_jw *w, const char *json, size_t n)
{
    before_value(w);
    kite_buf_append(w->out, json, n);
}

static void write_node(kite_jw *w, const kite_json *node, int as_key);

static void write_members(kite_jw *w, const kite_json *node)
{
    for (size_t i = 0; i < node->count; i++) {
        const kite_json *k = node->members[i].key;
        if (k->type == KJ_OBJECT || k->type == KJ_ARRAY) {
            write_node(w, k, 1);
        } else if (k->bare) {
            before_key(w);
            kite_buf_append(w->out, k->text, k->len);
            end_key(w);
        } else {
            kite_jw_key_n(w, k->text, k->len);
        }
        write_node(w, node->members[i].value, 0);
    }
}

static void write_node(kite_jw *w, const kite_json *node, int as_key)
{
    switch (node->type) {
    case KJ_NULL: kite_jw_null(w); break;
    case KJ_BOOL: kite_jw_bool(w, node->boolean); break;
    case KJ_NUMBER: kite_jw_raw(w, node->text, node->len); break;
    case KJ_STRING: kite_jw_str_n(w, node->text, node->len); break;
    case KJ_ARRAY:
        open_container(w, '[', 0, as_key);
        for (size_t i = 0; i < node->count; i++) write_node(w, node->items[i], 0);
        close_container(w, ']', 0);
        break;
    case KJ_OBJECT:
        open_container(w, '{', 1, as_key);
        write_members(w, node);
        close_container(w, '}', 1);
        break;
    }
}

void kite_jw_node(kite_jw *w, const kite_json *node)
{
    if (!node) {
        kite_jw_null(w);
        return;
    }
    write_node(w, node, 0);
}

void kite_jw_kv(kite_jw *w, const char *k, const char *v)
{
    kite_jw_key(w, k);
    kite_jw_str(w, v);
}

void kite_jw_kv_numstr(kite_jw *w, const char *k, int64_t v)
{
    char t[24];
    kite_jw_key(w, k);
    kite_jw_str_n(w, t, kite_fmt_i64(t, v));
}
