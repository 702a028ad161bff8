/* props.c - Java .properties reader and typed configuration tables (see props.h).
 *
 * Owns: the .properties syntax as java.util.Properties.load reads it (logical lines
 * joined by a trailing odd run of backslashes, '#'/'!' comment lines, key ending at the
 * first unescaped '=', ':' or blank, escapes \t \n \r \f \uXXXX and "\x" = x), plus
 * trimming of trailing blanks from values (Java keeps them; RocketMQ users never mean
 * them). Bytes are taken as they are (UTF-8 stays UTF-8; Java would read Latin-1).
 * Not owned: the key tables - each daemon owns its own. Keys: README.md "Configuration";
 * files and -p: docs/ops.md §1-§2.
 * Threads: plain data; no globals (apart from the logger used for warnings). */
#include "base/props.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/log.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kite_props_init(kite_props *p) { memset(p, 0, sizeof *p); }

void kite_props_free(kite_props *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->keys[i]);
        free(p->values[i]);
    }
    free(p->keys);
    free(p->values);
    kite_props_init(p);
}

const char *kite_props_get(const kite_props *p, const char *key)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->keys[i], key) == 0) return p->values[i];
    return NULL;
}

/* Takes ownership of key and value. */
static void props_put(kite_props *p, char *key, char *value)
{
    for (size_t i = 0; i < p->count; i++) {
        if (strcmp(p->keys[i], key) == 0) {
            free(key);
            free(p->values[i]);
            p->values[i] = value;
            return;
        }
    }
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        p->keys = kite_xreallocarray(p->keys, cap, sizeof *p->keys);
        p->values = kite_xreallocarray(p->values, cap, sizeof *p->values);
        p->cap = cap;
    }
    p->keys[p->count] = key;
    p->values[p->count] = value;
    p->count++;
}

void kite_props_set(kite_props *p, const char *key, const char *value)
{
    props_put(p, kite_xstrdup(key), kite_xstrdup(value));
}

/* ---- parsing ---- */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\f'; }

/* Unescapes s[0..n) of one logical line (continuations already joined) into a new
 * string. With trim, trailing unescaped blanks are dropped. A malformed \u keeps the
 * 'u' (Java would throw; this syntax never fails). */
static char *unescape(const char *s, size_t n, int trim)
{
    char *o = kite_xmalloc(n + 1); /* every escape shrinks or keeps the length */
    size_t len = 0, keep = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i++];
        if (c != '\\' || i >= n) {
            o[len++] = c;
            if (!is_blank(c)) keep = len;
            continue;
        }
        c = s[i++];
        switch (c) {
        case 't': o[len++] = '\t'; break;
        case 'n': o[len++] = '\n'; break;
        case 'r': o[len++] = '\r'; break;
        case 'f': o[len++] = '\f'; break;
        case 'u': {
            long cp = kite_hex4(s, i, n);
            if (cp < 0) {
                o[len++] = 'u';
                break;
            }
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo =
                    (i + 1 < n && s[i] == '\\' && s[i + 1] == 'u') ? kite_hex4(s, i + 2, n) : -1;
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            len += kite_utf8_put(o + len, (unsigned long)cp);
            break;
        }
        default: o[len++] = c; break;
        }
        keep = len;
    }
    o[trim ? keep : len] = 0;
    return o;
}

/* Splits one logical line into key and value and stores them. */
static void parse_logical(kite_props *p, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_blank(s[i])) i++;
    if (i == n) return;
    size_t kstart = i;
    while (i < n) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            i += 2;
            continue;
        }
        if (c == '=' || c == ':' || is_blank(c)) break;
        i++;
    }
    if (i > n) i = n;
    size_t kend = i;
    while (i < n && is_blank(s[i])) i++;
    if (i < n && (s[i] == '=' || s[i] == ':')) {
        i++;
        while (i < n && is_blank(s[i])) i++;
    }
    props_put(p, unescape(s + kstart, kend - kstart, 0), unescape(s + i, n - i, 1));
}

/* Number of consecutive backslashes ending right before s[end]. */
static size_t trailing_backslashes(const char *s, size_t start, size_t end)
{
    size_t k = 0;
    while (end > start && s[end - 1] == '\\') {
        end--;
        k++;
    }
    return k;
}

int kite_props_parse(kite_props *p, const char *text, size_t len)
{
    kite_buf line = KITE_BUF_INIT;
    size_t i = 0;
    while (i < len) {
        /* start of a natural line: skip leading blanks, detect blank/comment lines */
        while (i < len && is_blank(text[i])) i++;
        if (i >= len) break;
        if (text[i] == '\n' || text[i] == '\r') {
            i++;
            continue;
        }
        if (text[i] == '#' || text[i] == '!') {
            while (i < len && text[i] != '\n' && text[i] != '\r') i++;
            continue;
        }
        kite_buf_reset(&line);
        for (;;) {
            size_t start = i;
            while (i < len && text[i] != '\n' && text[i] != '\r') i++;
            size_t end = i;
            if (i < len) { /* consume the terminator: \n, \r or \r\n */
                if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') i++;
                i++;
            }
            int cont = trailing_backslashes(text, start, end) % 2 == 1;
            kite_buf_append(&line, text + start, cont ? end - start - 1 : end - start);
            if (!cont || end >= len) break;
            while (i < len && is_blank(text[i])) i++; /* continuation: drop indent */
        }
        parse_logical(p, line.data ? line.data : "", line.len);
    }
    kite_buf_free(&line);
    return 0;
}

int kite_props_load_file(kite_props *p, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return kite_status_from_errno(e);
    }
    kite_buf b = KITE_BUF_INIT;
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) kite_buf_append(&b, tmp, n);
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(e));
        kite_buf_free(&b);
        return kite_status_from_errno(e ? e : EIO);
    }
    kite_props_parse(p, b.data ? b.data : "", b.len);
    kite_buf_free(&b);
    return 0;
}

/* ---- typed tables ---- */

static const kite_prop_def *find_def(const kite_prop_def *defs, const char *key)
{
    for (; defs->key; defs++)
        if (strcmp(defs->key, key) == 0) return defs;
    return NULL;
}

/* Decimal integer, optional sign, surrounding blanks ignored.
 * Returns 0, KITE_EINVAL when not a number, KITE_ETOOBIG when outside [min, max]. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    while (is_blank(*s)) s++;
    size_t n = strlen(s);
    while (n && (is_blank(s[n - 1]) || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == n) return KITE_EINVAL;
    uint64_t v = 0;
    int over = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return KITE_EINVAL;
        if (v > (UINT64_MAX - 9) / 10)
            over = 1;
        else
            v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (over) return KITE_ETOOBIG;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return KITE_ETOOBIG;
        int64_t x = v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
        if (x < min) return KITE_ETOOBIG;
        *out = x;
    } else {
        if (v > (uint64_t)max) return KITE_ETOOBIG;
        *out = (int64_t)v;
    }
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    while (is_blank(*s)) s++;
    size_t n = strlen(s);
    while (n && (is_blank(s[n - 1]) || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
    if (n == 4 && strncasecmp(s, "true", 4) == 0) {
        *out = 1;
        return 0;
    }
    if (n == 5 && strncasecmp(s, "false", 5) == 0) {
        *out = 0;
        return 0;
    }
    return KITE_EINVAL;
}

/* A REFUSED key accepts only its default (what this build does): 0, or KITE_EINVAL with err. */
static int check_refused(const kite_prop_def *d, const char *value, char *err, size_t errlen)
{
    const char *only = d->dflt ? d->dflt : "";
    while (is_blank(*value)) value++;
    size_t n = strlen(value);
    while (n && (is_blank(value[n - 1]) || value[n - 1] == '\r' || value[n - 1] == '\n')) n--;
    if (n == strlen(only) && strncasecmp(value, only, n) == 0) return 0;
    if (err && errlen)
        snprintf(err, errlen, "%s=%.*s is not supported yet (%s); remove the key or %s%s", d->key,
                 (int)n, value, d->help ? d->help : "not implemented",
                 *only ? "set it to " : "leave it empty", only);
    return KITE_EINVAL;
}

/* Stores value into the field of d; KITE_EINVAL with err on a malformed value. */
static int set_field(const kite_prop_def *d, void *cfg, const char *value, char *err, size_t errlen)
{
    char *field = (char *)cfg + d->offset;
    int64_t v;
    int rc, b;
    switch (d->type) {
    case KITE_PROP_IGNORED: return 0;
    case KITE_PROP_REFUSED: return check_refused(d, value, err, errlen);
    case KITE_PROP_STR: {
        char **sp = (char **)(void *)field;
        free(*sp);
        *sp = kite_xstrdup(value);
        return 0;
    }
    case KITE_PROP_INT:
        rc = parse_int(value, INT32_MIN, INT32_MAX, &v);
        if (rc == 0) {
            *(int32_t *)(void *)field = (int32_t)v;
            return 0;
        }
        if (err && errlen)
            snprintf(err, errlen,
                     rc == KITE_ETOOBIG ? "%s: '%s' is out of range for a 32-bit integer"
                                        : "%s: '%s' is not an integer",
                     d->key, value);
        return KITE_EINVAL;
    case KITE_PROP_LONG:
        rc = parse_int(value, INT64_MIN, INT64_MAX, &v);
        if (rc == 0) {
            *(int64_t *)(void *)field = v;
            return 0;
        }
        if (err && errlen)
            snprintf(err, errlen,
                     rc == KITE_ETOOBIG ? "%s: '%s' is out of range for a 64-bit integer"
                                        : "%s: '%s' is not an integer",
                     d->key, value);
        return KITE_EINVAL;
    case KITE_PROP_BOOL:
        if (parse_bool(value, &b) == 0) {
            *(int *)(void *)field = b;
            return 0;
        }
        if (err && errlen)
            snprintf(err, errlen, "%s: '%s' is not a boolean (true/false)", d->key, value);
        return KITE_EINVAL;
    }
    return KITE_EINVAL;
}

void kite_config_defaults(const kite_prop_def *defs, void *cfg)
{
    char err[256];
    for (const kite_prop_def *d = defs; d->key; d++) {
        if (d->type == KITE_PROP_IGNORED || d->type == KITE_PROP_REFUSED) continue; /* no field */
        char *field = (char *)cfg + d->offset;
        if (d->type == KITE_PROP_STR) *(char **)(void *)field = NULL; /* nothing to free yet */
        const char *dv = d->dflt;
        if (!dv) dv = d->type == KITE_PROP_STR ? "" : d->type == KITE_PROP_BOOL ? "false" : "0";
        if (set_field(d, cfg, dv, err, sizeof err) != 0) {
            /* a broken table is a programmer error; keep running with zero */
            KLOG_ERROR("config", "bad default in key table: %s", err);
            set_field(d, cfg, d->type == KITE_PROP_BOOL ? "false" : "0", err, sizeof err);
        }
    }
}

void kite_config_free(const kite_prop_def *defs, void *cfg)
{
    for (const kite_prop_def *d = defs; d->key; d++) {
        if (d->type != KITE_PROP_STR) continue;
        char **sp = (char **)(void *)((char *)cfg + d->offset);
        free(*sp);
        *sp = NULL;
    }
}

int kite_config_set(const kite_prop_def *defs, void *cfg, const char *key, const char *value,
                    char *err, size_t errlen)
{
    const kite_prop_def *d = find_def(defs, key);
    if (!d) return 1;
    if (d->type == KITE_PROP_IGNORED) return 2;
    return set_field(d, cfg, value ? value : "", err, errlen);
}

int kite_config_apply(const kite_prop_def *defs, void *cfg, const kite_props *p, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < p->count; i++) {
        int rc = kite_config_set(defs, cfg, p->keys[i], p->values[i], err, errlen);
        if (rc < 0) return rc;
        if (rc == 1)
            KLOG_WARN("config", "unknown key '%s' ignored (value '%s')", p->keys[i], p->values[i]);
        if (rc == 2) {
            const char *why = find_def(defs, p->keys[i])->help;
            KLOG_WARN("config",
                      "%s=%s has no effect: accepted for compatibility but not implemented (%s)",
                      p->keys[i], p->values[i], why ? why : "no reason given");
        }
    }
    return 0;
}

static void field_text(const kite_prop_def *d, const void *cfg, kite_buf *out)
{
    const char *field = (const char *)cfg + d->offset;
    switch (d->type) {
    case KITE_PROP_STR: {
        const char *s = *(char *const *)(const void *)field;
        /* Secrets (tls.*.keyPassword) are never shown: -p output and config answers. */
        if (s && *s && strstr(d->key, "Password"))
            kite_buf_puts(out, "********");
        else
            kite_buf_puts(out, s ? s : "");
        break;
    }
    case KITE_PROP_INT:
        kite_buf_printf(out, "%" PRId32, *(const int32_t *)(const void *)field);
        break;
    case KITE_PROP_LONG:
        kite_buf_printf(out, "%" PRId64, *(const int64_t *)(const void *)field);
        break;
    case KITE_PROP_BOOL:
        kite_buf_puts(out, *(const int *)(const void *)field ? "true" : "false");
        break;
    case KITE_PROP_REFUSED: kite_buf_puts(out, d->dflt ? d->dflt : ""); break;
    case KITE_PROP_IGNORED: break;
    }
}

static void print_pairs(const kite_prop_def *defs, const void *cfg, int refused, kite_buf *out)
{
    for (const kite_prop_def *d = defs; d->key; d++) {
        if (d->type == KITE_PROP_IGNORED || (d->type == KITE_PROP_REFUSED) != refused) continue;
        kite_buf_puts(out, d->key);
        kite_buf_putc(out, '=');
        field_text(d, cfg, out);
        kite_buf_putc(out, '\n');
    }
}

void kite_config_print(const kite_prop_def *defs, const void *cfg, kite_buf *out)
{
    int nref = 0, nign = 0;
    for (const kite_prop_def *d = defs; d->key; d++) {
        nref += d->type == KITE_PROP_REFUSED;
        nign += d->type == KITE_PROP_IGNORED;
    }
    print_pairs(defs, cfg, 0, out);
    if (nref) {
        kite_buf_puts(
            out,
            "# Only the value shown is supported by this build; any other value refuses the start.\n");
        print_pairs(defs, cfg, 1, out);
    }
    if (!nign) return;
    kite_buf_puts(
        out,
        "# Accepted for compatibility, not implemented: a value set for these has no effect.\n");
    for (const kite_prop_def *d = defs; d->key; d++)
        if (d->type == KITE_PROP_IGNORED)
            kite_buf_printf(out, "#%s: %s\n", d->key, d->help ? d->help : "");
}

int kite_config_get(const kite_prop_def *defs, const void *cfg, const char *key, kite_buf *out)
{
    const kite_prop_def *d = find_def(defs, key);
    if (!d || d->type == KITE_PROP_IGNORED) return KITE_ENOTFOUND;
    field_text(d, cfg, out);
    return 0;
}
