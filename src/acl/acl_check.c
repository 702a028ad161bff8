/* acl_check.c - one request's decision under plain ACL (acl.h), in RocketMQ's order
 * (docs/wire.md §14.3). RocketMQ's messages go to msg (the daemon wraps them as RocketMQ's
 * remark); why says in a sentence what was refused (or allowed) and why. Threads: any;
 * reads the kite_acl only. */
#include "acl/acl.h"
#include "codec/systopic.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIQUE_KEY_QUERY "_UNIQUE_KEY_QUERY"

static const kite_acl_account *find_account(const kite_acl *a, const char *ak)
{
    for (size_t i = 0; i < a->nacc; i++)
        if (!strcmp(a->acc[i].access_key, ak)) return &a->acc[i];
    return NULL;
}

static const kite_acl_field *field(const kite_acl_req *r, const char *key)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (!strcmp(r->fields[i].key, key)) return &r->fields[i];
    return NULL;
}

static int field_cmp(const void *a, const void *b)
{
    return kite_acl_key_cmp(((const kite_acl_field *)a)->key, ((const kite_acl_field *)b)->key);
}

/* Java's broker reads extFields into a map, so a key sent twice counts once: a Java client
 * that sends binary (ROCKETMQ) headers through its ACL hook sends the fields of a "fast"
 * header (SEND_MESSAGE_V2, PULL_MESSAGE...) twice, with the same values, and signs each once.
 * Sorts the fields and drops the repeats of a key with the same value (r->nfields shrinks);
 * returns 1 when a key comes with two different values (refused: which one a handler would
 * read is not defined). */
static int merge_duplicate_keys(kite_acl_req *r)
{
    if (r->nfields > 1) qsort(r->fields, r->nfields, sizeof *r->fields, field_cmp);
    size_t k = 0;
    int conflict = 0;
    for (size_t i = 0; i < r->nfields; i++) {
        const kite_acl_field *f = &r->fields[i];
        if (k > 0 && !strcmp(r->fields[k - 1].key, f->key)) {
            const kite_acl_field *kept = &r->fields[k - 1];
            if (kept->vlen != f->vlen || (f->vlen && memcmp(kept->val, f->val, f->vlen) != 0))
                conflict = 1;
            continue;
        }
        r->fields[k++] = *f;
    }
    r->nfields = k;
    return conflict;
}

static int signature_ok(const kite_acl_req *r, const kite_acl_account *acc)
{
    const kite_acl_field *sf = field(r, "Signature");
    if (!sf) return 0;
    kite_acl_field sig_copy = *sf, *sig = &sig_copy; /* signing reorders the fields */
    char want[KITE_ACL_SIG_LEN];
    /* RocketMQ's broker leaves _UNIQUE_KEY_QUERY out while its Java client signs it:
     * either signature is accepted */
    kite_acl_sign(r->fields, r->nfields, "Signature", r->body, r->body_len, acc->secret_key, want);
    if (kite_acl_sig_equal(want, sig->val, sig->vlen)) return 1;
    if (!field(r, UNIQUE_KEY_QUERY)) return 0;
    kite_acl_field skip[256];
    size_t n = 0;
    if (r->nfields > sizeof skip / sizeof skip[0]) return 0;
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp(r->fields[i].key, UNIQUE_KEY_QUERY) != 0) skip[n++] = r->fields[i];
    kite_acl_sign(skip, n, "Signature", r->body, r->body_len, acc->secret_key, want);
    return kite_acl_sig_equal(want, sig->val, sig->vlen);
}

static const kite_acl_perm *find_perm(const kite_acl_perm *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(p[i].name, name)) return &p[i];
    return NULL;
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

int kite_acl_check(const kite_acl *a, const kite_acl_req *r, const kite_acl_account **account,
                   char *msg, size_t msglen, char *why, size_t whylen)
{
    char code[96];
    if (r->code_name)
        snprintf(code, sizeof code, "%s(%d)", r->code_name, r->code);
    else
        snprintf(code, sizeof code, "request code %d", r->code);
    if (account) *account = NULL;
    msg[0] = 0;
    kite_acl_req merged = *r;
    int conflict = merge_duplicate_keys(&merged);
    r = &merged;
    const char *ip = r->ip ? r->ip : "";
    for (size_t i = 0; i < a->nglobal; i++) {
        if (kite_acl_addr_match(a->global_white[i], ip)) {
            snprintf(why, whylen,
                     "%s from %s allowed: the address is in globalWhiteRemoteAddresses", code, ip);
            return KITE_ACL_ALLOW;
        }
    }
    const kite_acl_field *akf = field(r, "AccessKey");
    if (!akf || akf->vlen == 0) {
        snprintf(msg, msglen, "No accessKey is configured");
        snprintf(why, whylen,
                 "%s from %s refused: the request carries no AccessKey and the address is in no "
                 "white list",
                 code, ip);
        return KITE_ACL_DENY;
    }
    const kite_acl_account *acc = strlen(akf->val) == akf->vlen ? find_account(a, akf->val) : NULL;
    if (!acc) {
        snprintf(msg, msglen, "No acl config for %.*s", (int)(akf->vlen > 200 ? 200 : akf->vlen),
                 akf->val);
        snprintf(why, whylen, "%s from %s refused: accessKey '%.*s' is not in the ACL files", code,
                 ip, (int)(akf->vlen > 200 ? 200 : akf->vlen), akf->val);
        return KITE_ACL_DENY;
    }
    if (account) *account = acc;
    if (acc->white && kite_acl_addr_match(acc->white, ip)) {
        snprintf(why, whylen, "%s from %s allowed: the address is in whiteRemoteAddress of '%s'",
                 code, ip, acc->access_key);
        return KITE_ACL_ALLOW;
    }
    int dup = conflict;
    if (dup || !signature_ok(r, acc)) {
        snprintf(msg, msglen, "Check signature failed for accessKey=%s", acc->access_key);
        snprintf(why, whylen, "%s from %s refused: %s for accessKey '%s'", code, ip,
                 dup                     ? "an extFields key appears twice with different values"
                 : field(r, "Signature") ? "the signature does not match the secretKey"
                                         : "the request carries no Signature",
                 acc->access_key);
        return KITE_ACL_DENY;
    }
    if (trace_pub_only(r)) {
        snprintf(why, whylen, "%s from %s allowed: sending to the trace topic %s", code, ip,
                 KITE_TOPIC_TRACE);
        return KITE_ACL_ALLOW;
    }
    if (r->unknown) {
        snprintf(msg, msglen, "No acl rule for request code=%d", r->code);
        snprintf(why, whylen,
                 "%s from %s refused: KiteMQ has no ACL rule for this code, and a code without "
                 "one is refused while ACL is on",
                 code, ip);
        return KITE_ACL_DENY;
    }
    if (r->admin_only && !acc->admin) {
        snprintf(msg, msglen, "Need admin permission for request code=%d, but accessKey=%s is not",
                 r->code, acc->access_key);
        snprintf(why, whylen,
                 "%s from %s refused: the code needs an admin account and '%s' has no admin: true",
                 code, ip, acc->access_key);
        return KITE_ACL_DENY;
    }
    if (r->bad_body) {
        snprintf(msg, msglen, "The request body is not valid");
        snprintf(why, whylen,
                 "%s from %s refused: its body does not parse, so the topics and groups it uses "
                 "are unknown",
                 code, ip);
        return KITE_ACL_DENY;
    }
    if (!(acc->admin && !acc->has_perm_lists)) {
        for (size_t i = 0; i < r->nneed; i++) {
            const kite_acl_need *nd = &r->need[i];
            const kite_acl_perm *p = nd->is_group ? find_perm(acc->groups, acc->ngroups, nd->name)
                                                  : find_perm(acc->topics, acc->ntopics, nd->name);
            int owned = p              ? p->perm
                        : nd->is_group ? acc->default_group_perm
                                       : acc->default_topic_perm;
            if (kite_acl_perm_ok(nd->perm, owned)) continue;
            const char *kind = nd->is_group ? "group" : "topic";
            snprintf(msg, msglen, "No default permission for %s:%s", kind, nd->name);
            snprintf(why, whylen,
                     "%s from %s refused: it needs %s on %s '%s' and accessKey '%s' has %s (%s)",
                     code, ip, kite_acl_perm_name(nd->perm), kind, nd->name, acc->access_key,
                     kite_acl_perm_name(owned),
                     p ? (nd->is_group ? "groupPerms" : "topicPerms")
                       : (nd->is_group ? "defaultGroupPerm" : "defaultTopicPerm"));
            return KITE_ACL_DENY;
        }
    }
    snprintf(why, whylen, "%s from %s allowed for accessKey '%s'", code, ip, acc->access_key);
    return KITE_ACL_ALLOW;
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
