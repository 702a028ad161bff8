/* msgprops.c - reading and writing message properties strings (see msgprops.h). */
#include "codec/msgprops.h"
#include "base/err.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int kite_msgprop_next(const char *props, size_t len, size_t *pos, const char **name, size_t *nlen,
                      const char **value, size_t *vlen)
{
    if (!props || !len) return 0; /* no properties (props may be NULL): no pointer arithmetic */
    const char *end = props + len;
    while (*pos < len) {
        const char *p = props + *pos;
        const char *sep = memchr(p, KITE_MSGPROP_VALUE_END, (size_t)(end - p));
        const char *pe = sep ? sep : end;
        const char *eq = memchr(p, KITE_MSGPROP_NAME_END, (size_t)(pe - p));
        *pos = sep ? (size_t)(sep + 1 - props) : len;
        if (eq && eq > p && eq + 1 < pe) { /* Java skips empty names and values */
            *name = p;
            *nlen = (size_t)(eq - p);
            *value = eq + 1;
            *vlen = (size_t)(pe - eq - 1);
            return 1;
        }
    }
    return 0;
}

const char *kite_msgprop_get(const char *props, size_t len, const char *name, size_t *vlen)
{
    size_t want = strlen(name), pos = 0, nl, vl, flen = 0;
    const char *n, *v, *found = NULL;
    while (kite_msgprop_next(props, len, &pos, &n, &nl, &v, &vl)) {
        if (nl == want && memcmp(n, name, nl) == 0) {
            found = v;
            flen = vl;
        }
    }
    if (found && vlen) *vlen = flen;
    return found;
}

void kite_msgprop_scan(const char *props, size_t len, const char *const *names, size_t n,
                       const char **vals, size_t *vlens)
{
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        vlens[i] = 0;
    }
    size_t pos = 0, nl, vl;
    const char *nm, *v;
    while (kite_msgprop_next(props, len, &pos, &nm, &nl, &v, &vl)) {
        for (size_t i = 0; i < n; i++) {
            if (names[i][0] == nm[0] && strlen(names[i]) == nl && memcmp(nm, names[i], nl) == 0) {
                vals[i] = v;
                vlens[i] = vl;
                break;
            }
        }
    }
}

static int has_sep(const char *s, size_t n)
{
    return memchr(s, KITE_MSGPROP_NAME_END, n) || memchr(s, KITE_MSGPROP_VALUE_END, n);
}

/* Length of the NUL-terminated s when it holds no separator, else SIZE_MAX: one pass that
 * measures and checks (the writers run on every send). */
static size_t plain_len(const char *s)
{
    static const char seps[] = { KITE_MSGPROP_NAME_END, KITE_MSGPROP_VALUE_END, 0 };
    size_t n = strcspn(s, seps);
    return s[n] ? SIZE_MAX : n;
}

/* Ends the last property of out with 0x02 when its sender left the separator out. */
static void close_last(kite_buf *out)
{
    if (out->len && out->data[out->len - 1] != KITE_MSGPROP_VALUE_END)
        kite_buf_putc(out, KITE_MSGPROP_VALUE_END);
}

/* Appends a property whose name and value were checked (after a 0x02 when out lacks its
 * last one, as close_last): one reserve, then plain stores. */
static void put(kite_buf *out, const char *name, size_t nlen, const char *value, size_t vlen)
{
    kite_buf_reserve(out, nlen + vlen + 3);
    char *w = out->data + out->len;
    if (out->len && w[-1] != KITE_MSGPROP_VALUE_END) *w++ = KITE_MSGPROP_VALUE_END;
    memcpy(w, name, nlen);
    w += nlen;
    *w++ = KITE_MSGPROP_NAME_END;
    if (vlen) memcpy(w, value, vlen);
    w += vlen;
    *w++ = KITE_MSGPROP_VALUE_END;
    out->len = (size_t)(w - out->data);
}

int kite_msgprop_append(kite_buf *out, const char *name, const char *value, size_t vlen)
{
    size_t nlen = plain_len(name);
    if (nlen == 0 || nlen == SIZE_MAX || has_sep(value, vlen)) return KITE_EINVAL;
    put(out, name, nlen, value, vlen);
    return KITE_OK;
}

int kite_msgprop_append_str(kite_buf *out, const char *name, const char *value)
{
    size_t nlen = plain_len(name), vlen = plain_len(value);
    if (nlen == 0 || nlen == SIZE_MAX || vlen == SIZE_MAX) return KITE_EINVAL;
    put(out, name, nlen, value, vlen);
    return KITE_OK;
}

int kite_msgprop_append_i64(kite_buf *out, const char *name, long long value)
{
    char v[24];
    int n = snprintf(v, sizeof v, "%lld", value);
    return kite_msgprop_append(out, name, v, (size_t)n);
}

void kite_msgprop_copy_without(const char *props, size_t len, const char *const *drop,
                               kite_buf *out)
{
    close_last(out);
    if (!props || !len) return;
    const char *p = props, *end = props + len;
    while (p < end) {
        const char *sep = memchr(p, KITE_MSGPROP_VALUE_END, (size_t)(end - p));
        const char *pe = sep ? sep : end;
        size_t plen = (size_t)(pe - p);
        const char *eq = memchr(p, KITE_MSGPROP_NAME_END, plen);
        int keep = plen > 0;
        if (keep && eq) {
            size_t nlen = (size_t)(eq - p);
            for (size_t k = 0; drop[k] && keep; k++)
                if (strlen(drop[k]) == nlen && memcmp(drop[k], p, nlen) == 0) keep = 0;
        }
        if (keep) {
            kite_buf_append(out, p, plen);
            kite_buf_putc(out, KITE_MSGPROP_VALUE_END);
        }
        p = sep ? sep + 1 : end;
    }
}
