/* acl_files.c - where a daemon's accounts are and keeping them current (acl.h
 * kite_acl_watch): aclFile when set (that file only), else <home>/conf/plain_acl.yml plus
 * every *.yml under <home>/conf/acl/ (depth-first, sorted, at most 8 levels). A set is
 * identified by its files' names, inodes, sizes and mtimes (ns); a poll that sees another
 * identity reloads them all, and a set that does not load leaves the last good accounts in
 * force (logged once per change, with file and line). Shared by kite-broker and
 * kite-namesrv. */
#include "acl/acl.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void list_add(kite_acl_paths *l, const char *path)
{
    l->p = kite_xrealloc(l->p, (l->n + 1) * sizeof *l->p);
    l->p[l->n++] = kite_xstrdup(path);
}

void kite_acl_paths_free(kite_acl_paths *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->p[i]);
    free(l->p);
    l->p = NULL;
    l->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_dir(kite_acl_paths *l, const char *dir, int depth)
{
    if (depth > 8) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    kite_acl_paths here = { 0 };
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        size_t n = strlen(e->d_name);
        if (S_ISDIR(st.st_mode))
            scan_dir(l, path, depth + 1);
        else if (S_ISREG(st.st_mode) && n > 4 && strcmp(e->d_name + n - 4, ".yml") == 0)
            list_add(&here, path);
    }
    closedir(d);
    if (here.n) qsort(here.p, here.n, sizeof *here.p, cmp_str);
    for (size_t i = 0; i < here.n; i++) list_add(l, here.p[i]);
    kite_acl_paths_free(&here);
}

void kite_acl_paths_find(const kite_acl_watch *w, kite_acl_paths *l)
{
    if (w->acl_file && *w->acl_file) {
        list_add(l, w->acl_file);
        return;
    }
    if (!w->home) return;
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/conf/plain_acl.yml", w->home);
    if (stat(path, &st) == 0) list_add(l, path);
    snprintf(path, sizeof path, "%s/conf/acl", w->home);
    scan_dir(l, path, 0);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static uint64_t paths_stamp(const kite_acl_paths *l)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < l->n; i++) {
        struct stat st;
        memset(&st, 0, sizeof st);
        h = fnv(h, l->p[i], strlen(l->p[i]) + 1);
        if (stat(l->p[i], &st) == 0) {
            int64_t v[4] = { (int64_t)st.st_ino, (int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                             (int64_t)st.st_mtim.tv_nsec };
            h = fnv(h, v, sizeof v);
        }
    }
    return h;
}

kite_acl *kite_acl_paths_load(const kite_acl_watch *w, const kite_acl_paths *l, char *err,
                              size_t errlen)
{
    if (l->n == 0) {
        if (w->home)
            snprintf(err, errlen,
                     "no ACL file: neither %s/conf/plain_acl.yml nor %s/conf/acl/*.yml", w->home,
                     w->home);
        else
            snprintf(err, errlen,
                     "no ACL file: set rocketmqHome (or ROCKETMQ_HOME) or aclFile in %s",
                     w->conf_name);
        return NULL;
    }
    kite_acl *a = kite_acl_new();
    for (size_t i = 0; i < l->n; i++) {
        if (kite_acl_load_file(a, l->p[i], err, errlen) != 0) {
            kite_acl_free(a);
            return NULL;
        }
    }
    return a;
}

static void describe(const kite_acl *a, const kite_acl_paths *l, char *out, size_t len)
{
    size_t admins = 0;
    for (size_t i = 0; i < a->nacc; i++) admins += a->acc[i].admin != 0;
    int o = snprintf(out, len, "%zu account(s) (%zu admin), %zu global white-list entr%s from",
                     a->nacc, admins, a->nglobal, a->nglobal == 1 ? "y" : "ies");
    for (size_t i = 0; i < l->n && o > 0 && (size_t)o < len; i++)
        o += snprintf(out + o, len - (size_t)o, " %s", l->p[i]);
}

int kite_acl_watch_start(kite_acl_watch *w, const char *acl_file, const char *home,
                         const char *conf_name, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->acl_file = acl_file && *acl_file ? kite_xstrdup(acl_file) : NULL;
    w->home = home && *home ? kite_xstrdup(home) : NULL;
    w->conf_name = conf_name;
    kite_acl_paths l = { 0 };
    kite_acl_paths_find(w, &l);
    w->stamp = paths_stamp(&l);
    char lerr[900];
    w->acl = kite_acl_paths_load(w, &l, lerr, sizeof lerr);
    if (!w->acl) {
        snprintf(err, errlen, "aclEnable=true: %s", lerr);
        kite_acl_paths_free(&l);
        kite_acl_watch_stop(w);
        return KITE_EINVAL;
    }
    char d[1024];
    describe(w->acl, &l, d, sizeof d);
    KLOG_INFO("acl", "ACL on: %s", d);
    kite_acl_paths_free(&l);
    w->version = 1;
    w->version_ms = kite_wall_ms();
    return KITE_OK;
}

void kite_acl_watch_poll(kite_acl_watch *w)
{
    kite_acl_paths l = { 0 };
    kite_acl_paths_find(w, &l);
    uint64_t st = paths_stamp(&l);
    if (st == w->stamp || st == w->failed_stamp) {
        kite_acl_paths_free(&l);
        return;
    }
    char err[512];
    kite_acl *n = kite_acl_paths_load(w, &l, err, sizeof err);
    if (!n) {
        w->failed_stamp = st;
        KLOG_WARN("acl",
                  "ACL files changed but were not taken: %s; the last good accounts stay in force",
                  err);
    } else {
        kite_acl_free(w->acl);
        w->acl = n;
        w->stamp = st;
        w->failed_stamp = 0;
        w->version++;
        w->version_ms = kite_wall_ms();
        char d[1024];
        describe(n, &l, d, sizeof d);
        KLOG_INFO("acl", "ACL reloaded: %s", d);
    }
    kite_acl_paths_free(&l);
}

void kite_acl_watch_replace(kite_acl_watch *w, kite_acl *n)
{
    kite_acl_free(w->acl);
    w->acl = n;
    kite_acl_paths l = { 0 };
    kite_acl_paths_find(w, &l);
    w->stamp = paths_stamp(&l);
    w->failed_stamp = 0;
    w->version++;
    w->version_ms = kite_wall_ms();
    kite_acl_paths_free(&l);
}

void kite_acl_watch_stop(kite_acl_watch *w)
{
    kite_acl_free(w->acl);
    free(w->acl_file);
    free(w->home);
    memset(w, 0, sizeof *w);
}
