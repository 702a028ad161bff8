/* acl.h - RocketMQ's plain ACL ("ACL 1.0"): the accounts file, address patterns and the
 * per-request decision, shared by the daemons that check requests.
 *
 * Owns: parsing plain_acl.yml-shaped YAML (libyaml) into a kite_acl; the address patterns
 * (acl_addr.c); the validation order and the messages RocketMQ's broker answers
 * (acl_check.c); the files of a daemon and their reload (acl_files.c). Not owned: which
 * resources a request code needs (the daemon: src/broker/acl.c, src/namesrv/acl.c), the
 * signature itself (codec/acl_sign.h).
 * File format, patterns, order and messages: docs/wire.md §14, README "Security".
 * Threads: a kite_acl is immutable once loaded; one thread (the loop) swaps it on reload. */
#ifndef KITE_ACL_ACL_H
#define KITE_ACL_ACL_H

#include "base/map.h"
#include "codec/acl_sign.h"
#include <stddef.h>
#include <stdint.h>

/* Permission bits, RocketMQ's values. A perm holding DENY grants nothing. */
enum {
    KITE_ACL_PERM_DENY = 1,
    KITE_ACL_PERM_ANY = 2,
    KITE_ACL_PERM_PUB = 4,
    KITE_ACL_PERM_SUB = 8
};

/* One address pattern: "*", exact IPv4/IPv6, a.b.c.*, a.b.c.1-5 (a range or * in one
 * position, * after it), a.b.c.{1,2} and comma lists of addresses. */
typedef struct kite_acl_addr kite_acl_addr;

typedef struct kite_acl_perm {
    char *name; /* topic or group name */
    int perm;
} kite_acl_perm;

typedef struct kite_acl_account {
    char *access_key, *secret_key;
    kite_acl_addr *white; /* whiteRemoteAddress, NULL when absent */
    int admin;
    int default_topic_perm, default_group_perm; /* DENY when absent */
    kite_acl_perm *topics, *groups;
    size_t ntopics, ngroups;
    int has_perm_lists; /* topicPerms or groupPerms present (an admin without lists passes all) */
    char *file;         /* where it was defined (logs) */
    int line;
    /* made by kite_acl_reindex: */
    kite_acl_key *key;           /* secret_key prepared for signing */
    kite_map topic_at, group_at; /* name -> index + 1 in topics / groups */
} kite_acl_account;

typedef struct kite_acl {
    kite_acl_addr **global_white;
    char **global_file; /* the file each global entry came from */
    size_t nglobal;
    kite_acl_account *acc;
    size_t nacc;
    kite_map acc_at; /* accessKey -> index + 1 in acc (kite_acl_reindex) */
} kite_acl;

/* Room for element n of an array that grows to 8, then by doubling (the one growth rule of
 * every kite_acl array, so parsing and changes may add to the same arrays). */
void *kite_acl_grow(void *p, size_t n, size_t elem);

kite_acl *kite_acl_new(void);
void kite_acl_free(kite_acl *a);
/* Frees what one account holds (not the account itself: it is an element of kite_acl.acc). */
void kite_acl_account_free(kite_acl_account *c);
/* Rebuilds what the check looks up (the accounts by accessKey, each account's perms by name,
 * its prepared secret) after the accounts changed: every function here that adds, changes
 * or removes accounts calls it before returning. */
void kite_acl_reindex(kite_acl *a);
/* The account of accessKey ak (len bytes; NULL when none or ak holds a NUL). */
const kite_acl_account *kite_acl_find(const kite_acl *a, const char *ak, size_t len);

/* Parses one file's text (name used in messages) and adds its white list and accounts to
 * a. 0, or KITE_ECORRUPT/KITE_EINVAL with "file:line: why" in err (a is then partly
 * filled: discard it). An accessKey already in a is an error. Unknown permission words
 * parse as DENY, as RocketMQ does, with a warning. */
int kite_acl_parse(kite_acl *a, const char *name, const char *text, size_t len, char *err,
                   size_t errlen);
/* Reads and parses one file (kite_acl_parse). */
int kite_acl_load_file(kite_acl *a, const char *path, char *err, size_t errlen);

/* Address patterns (acl_addr.c). Parse: NULL with err when the pattern is not one
 * RocketMQ accepts. Match: ip is the peer's address as text (IPv4 dotted or IPv6). */
kite_acl_addr *kite_acl_addr_parse(const char *pattern, char *err, size_t errlen);
int kite_acl_addr_match(const kite_acl_addr *p, const char *ip);
const char *kite_acl_addr_text(const kite_acl_addr *p); /* as written */
void kite_acl_addr_free(kite_acl_addr *p);

/* "DENY", "PUB", "SUB", "PUB|SUB" / "SUB|PUB" (surrounding blanks ignored); anything else
 * is DENY and *known = 0. */
int kite_acl_perm_parse(const char *s, int *known);
const char *kite_acl_perm_name(int perm);
/* RocketMQ's check: an owned perm with DENY fails; needing ANY is met by PUB or SUB;
 * else a needed bit must be owned. */
int kite_acl_perm_ok(int needed, int owned);

/* One resource a request needs: a topic, or a group (checked as RocketMQ checks its
 * %RETRY% topic, against groupPerms / defaultGroupPerm). */
typedef struct kite_acl_need {
    const char *name;
    int is_group;
    int perm;
} kite_acl_need;

typedef struct kite_acl_req {
    const char *ip; /* peer address, text (kite_acl_peer_ip) */
    int code;
    const char *code_name;  /* for messages; may be NULL */
    kite_acl_field *fields; /* every extFields entry as received (reordered by the check,
                             * which also drops repeats of a key with the same value) */
    size_t nfields;
    const void *body;
    size_t body_len;
    int admin_only; /* the code needs an admin account */
    int unknown;    /* the code has no entry in the daemon's table: denied */
    int bad_body;   /* the resources are in a body that does not parse: denied (after the
                     * white lists, the signature and the admin check) */
    const kite_acl_need *need;
    size_t nneed;
    int explain; /* 1: on ALLOW, why says which rule let it in (daemons: when debug logging is
                  * on); 0: why is "" on ALLOW, saving a formatted line per request */
} kite_acl_req;

/* The address part of a connection's "ip:port" peer text (as kite_conn_peer gives it). */
void kite_acl_peer_ip(const char *peer, char *ip, size_t cap);

enum { KITE_ACL_ALLOW = 0, KITE_ACL_DENY = 1 };

/* The answer's remark for a refusal, as RocketMQ words it: "<AclException class>: msg, why".
 * Control characters in msg and why (they may quote request fields) become '?' in place,
 * so both are also safe to log. */
void kite_acl_refusal_remark(char *remark, size_t n, char *msg, char *why);

/* The decision, in RocketMQ's order (docs/wire.md §14.3): global white list; AccessKey
 * present and known; the account's white list; signature (accepted computed with or
 * without _UNIQUE_KEY_QUERY); a PUB-only request on the trace topic; admin-only codes;
 * each needed resource. On DENY, msg gets RocketMQ's message ("No accessKey is
 * configured", ...) and why a sentence naming what was refused and why. On ALLOW, why
 * says which rule let it in when r->explain is set. account (may be NULL) gets the account
 * used, if any. a must be indexed (kite_acl_reindex; the functions that load or change
 * accounts do it). */
int kite_acl_check(const kite_acl *a, const kite_acl_req *r, const kite_acl_account **account,
                   char *msg, size_t msglen, char *why, size_t whylen);

/* ---- the files of a daemon and their reload (acl_files.c) ---- */

/* The accounts in force and where they come from: acl_file (that file only) when set,
 * else <home>/conf/plain_acl.yml plus every *.yml under <home>/conf/acl/. */
typedef struct kite_acl_watch {
    kite_acl *acl; /* in force */
    char *acl_file, *home;
    const char *conf_name;        /* "broker.conf", ... (messages) */
    uint64_t stamp, failed_stamp; /* identity of the files in force / of a set that failed */
    int64_t version, version_ms;  /* DataVersion of the accounts: +1 per load or change */
} kite_acl_watch;

typedef struct kite_acl_paths {
    char **p;
    size_t n;
} kite_acl_paths;

/* Loads the accounts (KITE_EINVAL with "aclEnable=true: file:line: why" in err when there
 * is no file or one does not parse). */
int kite_acl_watch_start(kite_acl_watch *w, const char *acl_file, const char *home,
                         const char *conf_name, char *err, size_t errlen);
/* Reloads when the files changed (logged; a set that does not load keeps the last good
 * accounts and is reported once). Call periodically. */
void kite_acl_watch_poll(kite_acl_watch *w);
/* Puts n (taken) in force after the daemon wrote it to the files. */
void kite_acl_watch_replace(kite_acl_watch *w, kite_acl *n);
void kite_acl_watch_stop(kite_acl_watch *w);
/* The current file set, and all of it loaded (NULL with err when a file does not parse). */
void kite_acl_paths_find(const kite_acl_watch *w, kite_acl_paths *l);
kite_acl *kite_acl_paths_load(const kite_acl_watch *w, const kite_acl_paths *l, char *err,
                              size_t errlen);
void kite_acl_paths_free(kite_acl_paths *l);

/* ---- changes and writing (acl_write.c): account management, codes 50-53 ---- */

/* An account as UPDATE_AND_CREATE_ACL_CONFIG (50) carries it: NULL fields are left as
 * they are on an existing account (admin is always taken, as RocketMQ does); perms are
 * "name=PERM" entries separated by commas. */
typedef struct kite_acl_update {
    const char *access_key, *secret_key, *white, *default_topic_perm, *default_group_perm,
        *topic_perms, *group_perms;
    int admin;
} kite_acl_update;

/* Creates (in file new_file) or updates the account: 0, or KITE_EINVAL with the reason
 * (keys of 6 characters or fewer, a bad address pattern, a malformed perm entry). *file
 * gets the file that holds the account now. */
int kite_acl_upsert(kite_acl *a, const kite_acl_update *u, const char *new_file, const char **file,
                    char *err, size_t errlen);
/* Removes an account: 0 with *file its file, or KITE_ENOTFOUND. */
int kite_acl_remove(kite_acl *a, const char *access_key, char **file);
/* Replaces the global white list entries of file with patterns (comma separated; "" or
 * NULL: none): 0, or KITE_EINVAL with the bad pattern in err. */
int kite_acl_set_global(kite_acl *a, const char *file, const char *patterns, char *err,
                        size_t errlen);
/* The YAML text of everything a holds from file (its global entries and accounts). */
struct kite_buf;
void kite_acl_emit(const kite_acl *a, const char *file, struct kite_buf *out);

#endif
