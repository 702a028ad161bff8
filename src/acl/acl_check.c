/* acl_check.c - one request's decision under plain ACL (acl.h), in RocketMQ's order
 * (docs/wire.md §14.3). RocketMQ's messages go to msg (the daemon wraps them as RocketMQ's
 * remark); why says in a sentence what was refused (or allowed) and why. Threads: any;
 * reads the kite_acl only. */
#include "acl/acl.h"
#include "codec/systopic.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIQUE_KEY_QUERY "_UNIQUE_KEY_QUERY"

/* The request's fields, sorted and with repeats merged, and the three the check reads. */
typedef struct merged {
    const kite_acl_field *ak, *sig, *uniq; /* AccessKey, Signature, _UNIQUE_KEY_QUERY */
    int conflict;                          /* a key came with two different values */
} merged;

static int is(const kite_acl_field *f, const char *key)
{
    return f->key[0] == key[0] && strcmp(f->key, key) == 0;
}

/* Java's broker reads extFields into a map, so a key sent twice counts once: a Java client
 * that sends binary (ROCKETMQ) headers through its ACL hook sends the fields of a "fast"
 * header (SEND_MESSAGE_V2, PULL_MESSAGE...) twice, with the same values, and signs each once.
 * Sorts the fields and drops the repeats of a key with the same value (r->nfields shrinks);
 * a key that comes with two different values is a conflict (refused: which one a handler
 * would read is not defined). */
static void merge_fields(kite_acl_req *r, merged *m)
{
    kite_acl_sort(r->fields, r->nfields);
    memset(m, 0, sizeof *m);
    size_t k = 0;
    for (size_t i = 0; i < r->nfields; i++) {
        const kite_acl_field *f = &r->fields[i];
        if (k > 0 && is(f, r->fields[k - 1].key)) {
            const kite_acl_field *kept = &r->fields[k - 1];
            if (kept->vlen != f->vlen || (f->vlen && memcmp(kept->val, f->val, f->vlen) != 0))
                m->conflict = 1;
            continue;
        }
        r->fields[k++] = *f;
    }
    r->nfields = k;
    for (size_t i = 0; i < k; i++) { /* after the compaction: the pointers stay valid */
        const kite_acl_field *f = &r->fields[i];
        if (is(f, "AccessKey"))
            m->ak = f;
        else if (is(f, "Signature"))
            m->sig = f;
        else if (is(f, UNIQUE_KEY_QUERY))
            m->uniq = f;
    }
}

static int signature_ok(const kite_acl_req *r, const merged *m, const kite_acl_account *acc)
{
    if (!m->sig) return 0;
    char want[KITE_ACL_SIG_LEN];
    kite_acl_mac(acc->key, r->fields, r->nfields, "Signature", r->body, r->body_len, want);
    if (kite_acl_sig_equal(want, m->sig->val, m->sig->vlen)) return 1;
    /* RocketMQ's broker leaves _UNIQUE_KEY_QUERY out while its Java client signs it:
     * either signature is accepted */
    if (!m->uniq) return 0;
    kite_acl_field skip[256];
    size_t n = 0;
    if (r->nfields > sizeof skip / sizeof skip[0]) return 0;
    for (size_t i = 0; i < r->nfields; i++)
        if (&r->fields[i] != m->uniq) skip[n++] = r->fields[i];
    kite_acl_mac(acc->key, skip, n, "Signature", r->body, r->body_len, want);
    return kite_acl_sig_equal(want, m->sig->val, m->sig->vlen);
}

static const kite_acl_perm *find_perm(const kite_map *at, const kite_acl_perm *p, const char *name)
{
    uintptr_t i = (uintptr_t)kite_map_get(at, name);
    return i ? &p[i - 1] : NULL;
}

static int trace_pub_only(const kite_acl_req *r)
{
    if (r->nneed == 0) return 0;
    for (size_t i = 0; i < r->nneed; i++)
        if (r->need[i].is_group || r->need[i].perm != KITE_ACL_PERM_PUB ||
            strcmp(r->need[i].name, KITE_TOPIC_TRACE) != 0)
            return 0;
    return 1;
}

static const char *code_text(const kite_acl_req *r, char *buf, size_t n)
{
    if (r->code_name)
        snprintf(buf, n, "%s(%d)", r->code_name, r->code);
    else
        snprintf(buf, n, "request code %d", r->code);
    return buf;
}

/* An ALLOW; why says which rule let it in only when the caller asked (r->explain): the
 * check runs for every request, and the line is for debug logs. */
static int allow(const kite_acl_req *r, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int allow(const kite_acl_req *r, char *why, size_t whylen, const char *fmt, ...)
{
    if (whylen) why[0] = 0;
    if (!r->explain) return KITE_ACL_ALLOW;
    char code[96];
    int n = snprintf(why, whylen, "%s from %s allowed", code_text(r, code, sizeof code), r->ip);
    if (n >= 0 && (size_t)n < whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why + n, whylen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return KITE_ACL_ALLOW;
}

int kite_acl_check(const kite_acl *a, const kite_acl_req *req, const kite_acl_account **account,
                   char *msg, size_t msglen, char *why, size_t whylen)
{
    char code[96]; /* filled by code_text on a refusal */
    if (account) *account = NULL;
    msg[0] = 0;
    kite_acl_req copy = *req;
    kite_acl_req *r = &copy;
    if (!r->ip) r->ip = "";
    merged m;
    merge_fields(r, &m);
    const char *ip = r->ip;
    for (size_t i = 0; i < a->nglobal; i++)
        if (kite_acl_addr_match(a->global_white[i], ip))
            return allow(r, why, whylen, ": the address is in globalWhiteRemoteAddresses");
    const kite_acl_field *akf = m.ak;
    if (!akf || akf->vlen == 0) {
        snprintf(msg, msglen, "No accessKey is configured");
        snprintf(why, whylen,
                 "%s from %s refused: the request carries no AccessKey and the address is in no "
                 "white list",
                 code_text(r, code, sizeof code), ip);
        return KITE_ACL_DENY;
    }
    const kite_acl_account *acc = kite_acl_find(a, akf->val, akf->vlen);
    if (!acc) {
        snprintf(msg, msglen, "No acl config for %.*s", (int)(akf->vlen > 200 ? 200 : akf->vlen),
                 akf->val);
        snprintf(why, whylen, "%s from %s refused: accessKey '%.*s' is not in the ACL files",
                 code_text(r, code, sizeof code), ip, (int)(akf->vlen > 200 ? 200 : akf->vlen),
                 akf->val);
        return KITE_ACL_DENY;
    }
    if (account) *account = acc;
    if (acc->white && kite_acl_addr_match(acc->white, ip))
        return allow(r, why, whylen, ": the address is in whiteRemoteAddress of '%s'",
                     acc->access_key);
    if (m.conflict || !signature_ok(r, &m, acc)) {
        snprintf(msg, msglen, "Check signature failed for accessKey=%s", acc->access_key);
        snprintf(why, whylen, "%s from %s refused: %s for accessKey '%s'",
                 code_text(r, code, sizeof code), ip,
                 m.conflict ? "an extFields key appears twice with different values"
                 : m.sig    ? "the signature does not match the secretKey"
                            : "the request carries no Signature",
                 acc->access_key);
        return KITE_ACL_DENY;
    }
    if (trace_pub_only(r))
        return allow(r, why, whylen, ": sending to the trace topic %s", KITE_TOPIC_TRACE);
    if (r->unknown) {
        snprintf(msg, msglen, "No acl rule for request code=%d", r->code);
        snprintf(why, whylen,
                 "%s from %s refused: KiteMQ has no ACL rule for this code, and a code without "
                 "one is refused while ACL is on",
                 code_text(r, code, sizeof code), ip);
        return KITE_ACL_DENY;
    }
    if (r->admin_only && !acc->admin) {
        snprintf(msg, msglen, "Need admin permission for request code=%d, but accessKey=%s is not",
                 r->code, acc->access_key);
        snprintf(why, whylen,
                 "%s from %s refused: the code needs an admin account and '%s' has no admin: true",
                 code_text(r, code, sizeof code), ip, acc->access_key);
        return KITE_ACL_DENY;
    }
    if (r->bad_body) {
        snprintf(msg, msglen, "The request body is not valid");
        snprintf(why, whylen,
                 "%s from %s refused: its body does not parse, so the topics and groups it uses "
                 "are unknown",
                 code_text(r, code, sizeof code), ip);
        return KITE_ACL_DENY;
    }
    if (!(acc->admin && !acc->has_perm_lists)) {
        for (size_t i = 0; i < r->nneed; i++) {
            const kite_acl_need *nd = &r->need[i];
            const kite_acl_perm *p = nd->is_group
                                         ? find_perm(&acc->group_at, acc->groups, nd->name)
                                         : find_perm(&acc->topic_at, acc->topics, nd->name);
            int owned = p              ? p->perm
                        : nd->is_group ? acc->default_group_perm
                                       : acc->default_topic_perm;
            if (kite_acl_perm_ok(nd->perm, owned)) continue;
            const char *kind = nd->is_group ? "group" : "topic";
            snprintf(msg, msglen, "No default permission for %s:%s", kind, nd->name);
            snprintf(why, whylen,
                     "%s from %s refused: it needs %s on %s '%s' and accessKey '%s' has %s (%s)",
                     code_text(r, code, sizeof code), ip, kite_acl_perm_name(nd->perm), kind,
                     nd->name, acc->access_key, kite_acl_perm_name(owned),
                     p ? (nd->is_group ? "groupPerms" : "topicPerms")
                       : (nd->is_group ? "defaultGroupPerm" : "defaultTopicPerm"));
            return KITE_ACL_DENY;
        }
    }
    return allow(r, why, whylen, " for accessKey '%s'", acc->access_key);
}

void kite_acl_peer_ip(const char *peer, char *ip, size_t cap)
{
    if (!cap) return;
    const char *colon = peer ? strrchr(peer, ':') : NULL;
    size_t n = colon ? (size_t)(colon - peer) : 0;
    if (!n || n >= cap) {
        snprintf(ip, cap, "?");
        return;
    }
    memcpy(ip, peer, n); /* once per request: no formatting */
    ip[n] = 0;
}

static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

void kite_acl_refusal_remark(char *remark, size_t n, char *msg, char *why)
{
    printable(msg);
    printable(why);
    snprintf(remark, n, "org.apache.rocketmq.acl.common.AclException: %s, %s", msg, why);
}
