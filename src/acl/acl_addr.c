/* acl_addr.c - the address patterns of RocketMQ's plain ACL (acl.h; docs/wire.md §14.2):
 *   "*", "*.*.*.*", "*:*:*:*:*:*:*:*"   any address
 *   192.168.0.1, ::1, 1050:0:0:0:5:600:300c:326b   one address (IPv6 compared as 128 bits)
 *   192.168.0.1,192.168.0.2               a comma list of addresses
 *   192.168.1.{1,2,3}, 1050::5:600:{1,2}  a list in the last group, written once
 *   192.168.1.*, 192.168.*.*, 10.1.1.1-20, 10.1.5-9.*, 1050:0:0:0:5:600:300c:1-ff
 *                                         a range (lo-hi) or * in one group, * after it
 * Anything else (a bad number, a range that runs backwards, * before an exact group) is
 * refused with the reason. IPv4-mapped IPv6 peers (::ffff:a.b.c.d) match IPv4 patterns. */
#include "acl/acl.h"
#include "base/mem.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_ANY, P_LIST, P_RANGE };

typedef struct one_ip {
    int v6; /* 0: 4 bytes used */
    uint8_t b[16];
} one_ip;

struct kite_acl_addr {
    char *text; /* the pattern as written (blanks around it removed) */
    int kind;
    one_ip *ips; /* P_LIST */
    size_t nips;
    int v6, ngroups, idx; /* P_RANGE: groups before idx exact, idx in [lo, hi], rest any */
    uint32_t groups[8], lo, hi;
};

static int parse_ip(const char *s, one_ip *out)
{
    struct in_addr a4;
    struct in6_addr a6;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memcpy(out->b, &a4, 4);
        return 1;
    }
    if (inet_pton(AF_INET6, s, &a6) != 1) return 0;
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (memcmp(a6.s6_addr, mapped, 12) == 0) {
        memcpy(out->b, a6.s6_addr + 12, 4);
        return 1;
    }
    out->v6 = 1;
    memcpy(out->b, a6.s6_addr, 16);
    return 1;
}

static void add_ip(kite_acl_addr *p, const one_ip *ip)
{
    p->ips = kite_xrealloc(p->ips, (p->nips + 1) * sizeof *p->ips);
    p->ips[p->nips++] = *ip;
}

/* A number of one group: decimal 0..255 (IPv4) or hex 0..ffff (IPv6). */
static int group_num(const char *s, size_t n, int v6, uint32_t *out)
{
    if (n == 0 || n > (v6 ? 4u : 3u)) return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (v6 ? !isxdigit(c) : !isdigit(c)) return 0;
        v = v * (v6 ? 16 : 10) + (uint32_t)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
    }
    if (v > (v6 ? 0xffffu : 255u)) return 0;
    *out = v;
    return 1;
}

/* Splits a range pattern into its groups, expanding one "::" (IPv6). */
static int split_groups(const char *s, int v6, char parts[8][16], int *n)
{
    char sep = v6 ? ':' : '.';
    int want = v6 ? 8 : 4;
    char tmp[8][16];
    int cnt = 0, gap = -1;
    const char *p = s;
    if (v6 && strncmp(p, "::", 2) == 0) {
        gap = 0;
        p += 2;
    }
    while (*p) {
        const char *e = strchr(p, sep);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0) {
            if (!v6 || gap >= 0) return 0;
            gap = cnt;
            p = e + 1;
            continue;
        }
        if (cnt >= 8 || len >= 16) return 0;
        memcpy(tmp[cnt], p, len);
        tmp[cnt++][len] = 0;
        if (!e) break;
        p = e + 1;
        if (!*p) return 0; /* trailing separator */
    }
    if (gap >= 0) {
        if (cnt >= want) return 0;
        int fill = want - cnt, o = 0;
        for (int i = 0; i < gap; i++) strcpy(parts[o++], tmp[i]);
        for (int i = 0; i < fill; i++) strcpy(parts[o++], "0");
        for (int i = gap; i < cnt; i++) strcpy(parts[o++], tmp[i]);
        cnt = want;
    } else {
        if (cnt != want) return 0;
        for (int i = 0; i < cnt; i++) strcpy(parts[i], tmp[i]);
    }
    *n = cnt;
    return 1;
}

static int parse_range(kite_acl_addr *p, const char *s, char *err, size_t errlen)
{
    int v6 = strchr(s, ':') != NULL;
    char parts[8][16];
    int n;
    if (!split_groups(s, v6, parts, &n)) {
        snprintf(err, errlen, "'%s': not %d groups of an %s address", s, v6 ? 8 : 4,
                 v6 ? "IPv6" : "IPv4");
        return 0;
    }
    p->kind = P_RANGE;
    p->v6 = v6;
    p->ngroups = n;
    p->idx = -1;
    for (int i = 0; i < n; i++) {
        const char *g = parts[i];
        if (p->idx >= 0) {
            if (strcmp(g, "*") != 0) {
                snprintf(err, errlen, "'%s': only * may follow a range or a * (group %d is '%s')",
                         s, i + 1, g);
                return 0;
            }
            continue;
        }
        const char *dash = strchr(g, '-');
        if (strcmp(g, "*") == 0) {
            p->idx = i;
            p->lo = 0;
            p->hi = v6 ? 0xffff : 255;
        } else if (dash) {
            if (!group_num(g, (size_t)(dash - g), v6, &p->lo) ||
                !group_num(dash + 1, strlen(dash + 1), v6, &p->hi) || p->lo > p->hi) {
                snprintf(err, errlen, "'%s': '%s' is not a range low-high of %s numbers", s, g,
                         v6 ? "hex 0-ffff" : "0-255");
                return 0;
            }
            p->idx = i;
        } else if (!group_num(g, strlen(g), v6, &p->groups[i])) {
            snprintf(err, errlen, "'%s': '%s' is not a number %s", s, g,
                     v6 ? "(hex 0-ffff)" : "0-255");
            return 0;
        }
    }
    if (p->idx < 0) {
        snprintf(err, errlen, "'%s': not an address", s);
        return 0;
    }
    return 1;
}

static int parse_list(kite_acl_addr *p, const char *prefix, const char *items, char *err,
                      size_t errlen, const char *whole)
{
    p->kind = P_LIST;
    const char *q = items;
    for (;;) {
        const char *e = strchr(q, ',');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        char buf[128];
        one_ip ip;
        if (len == 0 || strlen(prefix) + len >= sizeof buf) {
            snprintf(err, errlen, "'%s': an empty or overlong entry in the list", whole);
            return 0;
        }
        snprintf(buf, sizeof buf, "%s%.*s", prefix, (int)len, q);
        if (!parse_ip(buf, &ip)) {
            snprintf(err, errlen, "'%s': '%s' is not an IP address", whole, buf);
            return 0;
        }
        add_ip(p, &ip);
        if (!e) break;
        q = e + 1;
    }
    return 1;
}

kite_acl_addr *kite_acl_addr_parse(const char *pattern, char *err, size_t errlen)
{
    while (*pattern == ' ' || *pattern == '\t') pattern++;
    size_t len = strlen(pattern);
    while (len && (pattern[len - 1] == ' ' || pattern[len - 1] == '\t')) len--;
    if (len == 0 || len > 4096) {
        snprintf(err, errlen, "an empty or overlong address pattern");
        return NULL;
    }
    char *s = kite_xstrndup(pattern, len);
    kite_acl_addr *p = kite_xcalloc(1, sizeof *p);
    int ok;
    char *brace = strchr(s, '{');
    if (!strcmp(s, "*") || !strcmp(s, "*.*.*.*") || !strcmp(s, "*:*:*:*:*:*:*:*")) {
        p->kind = P_ANY;
        ok = 1;
    } else if (brace) {
        char *close = strchr(brace, '}');
        char last = brace > s ? brace[-1] : 0;
        if (!close || close[1] || (last != '.' && last != ':')) {
            snprintf(err, errlen, "'%s': a {list} must close the pattern, after '.' or ':'", s);
            ok = 0;
        } else {
            *close = 0;
            *brace = 0;
            ok = parse_list(p, s, brace + 1, err, errlen, pattern);
        }
    } else if (strchr(s, ',')) {
        ok = parse_list(p, "", s, err, errlen, pattern);
    } else if (strchr(s, '-') || strchr(s, '*')) {
        ok = parse_range(p, s, err, errlen);
    } else {
        ok = parse_list(p, "", s, err, errlen, pattern);
    }
    free(s);
    if (!ok) {
        kite_acl_addr_free(p);
        return NULL;
    }
    p->text = kite_xstrndup(pattern, len);
    return p;
}

const char *kite_acl_addr_text(const kite_acl_addr *p) { return p ? p->text : NULL; }

int kite_acl_addr_match(const kite_acl_addr *p, const char *ip)
{
    if (!p || !ip) return 0;
    if (p->kind == P_ANY) return 1;
    one_ip a;
    if (!parse_ip(ip, &a)) return 0;
    if (p->kind == P_LIST) {
        for (size_t i = 0; i < p->nips; i++)
            if (p->ips[i].v6 == a.v6 && memcmp(p->ips[i].b, a.b, a.v6 ? 16 : 4) == 0) return 1;
        return 0;
    }
    if (p->v6 != a.v6) return 0;
    for (int i = 0; i <= p->idx; i++) {
        uint32_t g = a.v6 ? (uint32_t)(a.b[2 * i] << 8 | a.b[2 * i + 1]) : a.b[i];
        if (i < p->idx ? g != p->groups[i] : (g < p->lo || g > p->hi)) return 0;
    }
    return 1;
}

void kite_acl_addr_free(kite_acl_addr *p)
{
    if (!p) return;
    free(p->text);
    free(p->ips);
    free(p);
}
