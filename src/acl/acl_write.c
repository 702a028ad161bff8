/* acl_write.c - changes to a loaded kite_acl (account management, codes 50-53) and the YAML
 * text of one of its files (acl.h). The text is what acl_file.c reads back: every string
 * double-quoted with escapes, so keys and patterns never change YAML's meaning; comments of
 * the original file are not kept (RocketMQ does not keep them either). Threads: the
 * caller's; the kite_acl must not be in use elsewhere while it changes. */
#include "acl/acl.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RocketMQ refuses keys of 6 characters or fewer when they come over the wire. */
#define KEY_MIN_LEN 7

static void quoted(kite_buf *b, const char *s)
{
    kite_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            kite_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            kite_buf_printf(b, "\\x%02x", *p);
        else
            kite_buf_putc(b, (char)*p);
    }
    kite_buf_putc(b, '"');
}

static void perms(kite_buf *b, const char *key, const kite_acl_perm *p, size_t n)
{
    kite_buf_printf(b, "    %s:%s\n", key, n ? "" : " []");
    for (size_t i = 0; i < n; i++) {
        char *e = kite_xmalloc(strlen(p[i].name) + 16);
        sprintf(e, "%s=%s", p[i].name, kite_acl_perm_name(p[i].perm));
        kite_buf_puts(b, "      - ");
        quoted(b, e);
        kite_buf_putc(b, '\n');
        free(e);
    }
}

void kite_acl_emit(const kite_acl *a, const char *file, kite_buf *out)
{
    kite_buf_puts(
        out, "# written by kite-broker (account management); RocketMQ's plain_acl.yml format\n");
    kite_buf_puts(out, "globalWhiteRemoteAddresses:");
    size_t n = 0;
    for (size_t i = 0; i < a->nglobal; i++) {
        if (strcmp(a->global_file[i], file) != 0) continue;
        kite_buf_puts(out, n++ ? "\n  - " : "\n  - ");
        quoted(out, kite_acl_addr_text(a->global_white[i]));
    }
    kite_buf_puts(out, n ? "\naccounts:" : " []\naccounts:");
    n = 0;
    for (size_t i = 0; i < a->nacc; i++) {
        const kite_acl_account *c = &a->acc[i];
        if (strcmp(c->file, file) != 0) continue;
        n++;
        kite_buf_puts(out, "\n  - accessKey: ");
        quoted(out, c->access_key);
        kite_buf_puts(out, "\n    secretKey: ");
        quoted(out, c->secret_key);
        if (c->white) {
            kite_buf_puts(out, "\n    whiteRemoteAddress: ");
            quoted(out, kite_acl_addr_text(c->white));
        }
        kite_buf_printf(out,
                        "\n    admin: %s\n    defaultTopicPerm: %s\n    defaultGroupPerm: %s\n",
                        c->admin ? "true" : "false", kite_acl_perm_name(c->default_topic_perm),
                        kite_acl_perm_name(c->default_group_perm));
        if (c->has_perm_lists) {
            perms(out, "topicPerms", c->topics, c->ntopics);
            perms(out, "groupPerms", c->groups, c->ngroups);
        }
        out->len--; /* the newline is written by the next item */
    }
    kite_buf_puts(out, n ? "\n" : " []\n");
}

/* "a=PUB,b=SUB" into a new array: 0, or KITE_EINVAL naming the bad entry. */
static int parse_perm_list(const char *s, kite_acl_perm **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len) {
            if (!eq || eq == p) {
                snprintf(err, errlen, "'%.*s' is not name=PERM", (int)(len > 100 ? 100 : len), p);
                for (size_t i = 0; i < *n; i++) free((*out)[i].name);
                free(*out);
                *out = NULL;
                *n = 0;
                return KITE_EINVAL;
            }
            char *perm = kite_xstrndup(eq + 1, len - (size_t)(eq + 1 - p));
            int known;
            *out = kite_acl_grow(*out, *n, sizeof **out);
            (*out)[*n].name = kite_xstrndup(p, (size_t)(eq - p));
            (*out)[(*n)++].perm = kite_acl_perm_parse(perm, &known);
            free(perm);
        }
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static void free_perms(kite_acl_perm *p, size_t n)
{
    for (size_t i = 0; i < n; i++) free(p[i].name);
    free(p);
}

int kite_acl_upsert(kite_acl *a, const kite_acl_update *u, const char *new_file, const char **file,
                    char *err, size_t errlen)
{
    if (!u->access_key || strlen(u->access_key) < KEY_MIN_LEN || !u->secret_key ||
        strlen(u->secret_key) < KEY_MIN_LEN) {
        snprintf(err, errlen,
                 "the accessKey and the secretKey must both be longer than 6 characters");
        return KITE_EINVAL;
    }
    kite_acl_addr *white = NULL;
    if (u->white && *u->white) {
        char e[256];
        if (!(white = kite_acl_addr_parse(u->white, e, sizeof e))) {
            snprintf(err, errlen, "whiteRemoteAddress %s", e);
            return KITE_EINVAL;
        }
    }
    kite_acl_perm *tp = NULL, *gp = NULL;
    size_t ntp = 0, ngp = 0;
    if ((u->topic_perms && parse_perm_list(u->topic_perms, &tp, &ntp, err, errlen)) ||
        (u->group_perms && parse_perm_list(u->group_perms, &gp, &ngp, err, errlen))) {
        free_perms(tp, ntp);
        kite_acl_addr_free(white);
        return KITE_EINVAL;
    }
    kite_acl_account *c = NULL;
    for (size_t i = 0; i < a->nacc && !c; i++)
        if (!strcmp(a->acc[i].access_key, u->access_key)) c = &a->acc[i];
    if (!c) {
        a->acc = kite_acl_grow(a->acc, a->nacc, sizeof *a->acc);
        c = &a->acc[a->nacc++];
        memset(c, 0, sizeof *c);
        c->access_key = kite_xstrdup(u->access_key);
        c->file = kite_xstrdup(new_file);
        c->default_topic_perm = c->default_group_perm = KITE_ACL_PERM_DENY;
    }
    free(c->secret_key);
    c->secret_key = kite_xstrdup(u->secret_key);
    if (u->white) {
        kite_acl_addr_free(c->white);
        c->white = white;
    }
    c->admin = u->admin;
    int known;
    if (u->default_topic_perm)
        c->default_topic_perm = kite_acl_perm_parse(u->default_topic_perm, &known);
    if (u->default_group_perm)
        c->default_group_perm = kite_acl_perm_parse(u->default_group_perm, &known);
    if (u->topic_perms) {
        free_perms(c->topics, c->ntopics);
        c->topics = tp;
        c->ntopics = ntp;
        c->has_perm_lists = 1;
    }
    if (u->group_perms) {
        free_perms(c->groups, c->ngroups);
        c->groups = gp;
        c->ngroups = ngp;
        c->has_perm_lists = 1;
    }
    kite_acl_reindex(a);
    *file = c->file;
    return 0;
}

int kite_acl_remove(kite_acl *a, const char *access_key, char **file)
{
    for (size_t i = 0; i < a->nacc; i++) {
        kite_acl_account *c = &a->acc[i];
        if (strcmp(c->access_key, access_key) != 0) continue;
        *file = c->file;
        c->file = NULL;
        kite_acl_account_free(c);
        memmove(c, c + 1, (a->nacc - i - 1) * sizeof *c);
        a->nacc--;
        kite_acl_reindex(a);
        return 0;
    }
    return KITE_ENOTFOUND;
}

int kite_acl_set_global(kite_acl *a, const char *file, const char *patterns, char *err,
                        size_t errlen)
{
    kite_acl_addr **nw = NULL;
    size_t n = 0;
    const char *p = patterns ? patterns : "";
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len) {
            char *pat = kite_xstrndup(p, len);
            char ae[256];
            kite_acl_addr *ap = kite_acl_addr_parse(pat, ae, sizeof ae);
            free(pat);
            if (!ap) {
                snprintf(err, errlen, "globalWhiteRemoteAddresses %s", ae);
                for (size_t i = 0; i < n; i++) kite_acl_addr_free(nw[i]);
                free(nw);
                return KITE_EINVAL;
            }
            nw = kite_xrealloc(nw, (n + 1) * sizeof *nw);
            nw[n++] = ap;
        }
        if (!e) break;
        p = e + 1;
    }
    kite_acl_addr **gw = NULL;
    char **gf = NULL;
    size_t o = 0;
    for (size_t i = 0; i < a->nglobal; i++) {
        if (!strcmp(a->global_file[i], file)) {
            kite_acl_addr_free(a->global_white[i]);
            free(a->global_file[i]);
            continue;
        }
        gw = kite_acl_grow(gw, o, sizeof *gw);
        gf = kite_acl_grow(gf, o, sizeof *gf);
        gw[o] = a->global_white[i];
        gf[o++] = a->global_file[i];
    }
    for (size_t i = 0; i < n; i++) {
        gw = kite_acl_grow(gw, o, sizeof *gw);
        gf = kite_acl_grow(gf, o, sizeof *gf);
        gw[o] = nw[i];
        gf[o++] = kite_xstrdup(file);
    }
    free(a->global_white);
    free(a->global_file);
    a->global_white = gw;
    a->global_file = gf;
    a->nglobal = o;
    free(nw);
    return 0;
}
