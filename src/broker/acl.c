/* acl.c - the broker side of plain ACL (acl.h). The accounts, their files and their reload
 * are a kite_acl_watch (src/acl/acl_files.c), polled every BK_ACL_RELOAD_MS.
 * The guard runs before every request, also for codes without a handler. The table below
 * says what each code needs: RocketMQ's list (docs/wire.md §14.4) and
 * KiteMQ's extensions; a code missing from it is refused. Refusals answer SYSTEM_ERROR
 * with RocketMQ's AclException text and our reason, and are logged at most once a second. */
#include "broker/acl.h"
#include "acl/acl.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rule_kind {
    R_SIGNED,      /* a valid account; nothing more */
    R_ADMIN,       /* an admin account */
    R_SEND,        /* topic PUB, or SUB on the group when the topic is %RETRY% */
    R_SEND_V2,     /* the same with one-letter fields b (topic), a (group) */
    R_GROUP,       /* f1 names a group: SUB */
    R_TOPIC,       /* f1 names a topic: perm */
    R_GROUP_TOPIC, /* f1 group SUB, f2 topic SUB (f2 optional when perm is 0) */
    R_HEARTBEAT,   /* body: every consumer group SUB and each subscribed topic SUB */
    R_LOCK,        /* body: consumerGroup SUB and every mqSet topic SUB */
    R_END_TX       /* signed here; the half message's topic PUB in the handler */
};

typedef struct rule {
    int code;
    const char *name;
    int kind;
    const char *f1, *f2;
    int perm;
} rule;

#define SUB KITE_ACL_PERM_SUB
#define PUB KITE_ACL_PERM_PUB
#define ANY KITE_ACL_PERM_ANY
static const rule k_rules[] = {
    { RC_SEND_MESSAGE, "SEND_MESSAGE", R_SEND, "topic", "producerGroup", 0 },
    { RC_SEND_MESSAGE_V2, "SEND_MESSAGE_V2", R_SEND_V2, "b", "a", 0 },
    { RC_SEND_BATCH_MESSAGE, "SEND_BATCH_MESSAGE", R_SEND_V2, "b", "a", 0 },
    { RC_CONSUMER_SEND_MSG_BACK, "CONSUMER_SEND_MSG_BACK", R_GROUP, "group", NULL, 0 },
    { RC_PULL_MESSAGE, "PULL_MESSAGE", R_GROUP_TOPIC, "consumerGroup", "topic", SUB },
    { RC_LITE_PULL_MESSAGE, "LITE_PULL_MESSAGE", R_GROUP_TOPIC, "consumerGroup", "topic", SUB },
    { RC_QUERY_MESSAGE, "QUERY_MESSAGE", R_TOPIC, "topic", NULL, SUB },
    { RC_HEART_BEAT, "HEART_BEAT", R_HEARTBEAT, NULL, NULL, 0 },
    { RC_UNREGISTER_CLIENT, "UNREGISTER_CLIENT", R_GROUP, "consumerGroup", NULL, 0 },
    { RC_GET_CONSUMER_LIST_BY_GROUP, "GET_CONSUMER_LIST_BY_GROUP", R_GROUP, "consumerGroup", NULL,
      0 },
    { RC_UPDATE_CONSUMER_OFFSET, "UPDATE_CONSUMER_OFFSET", R_GROUP_TOPIC, "consumerGroup", "topic",
      SUB },
    /* KiteMQ's extensions: the codes RocketMQ's table leaves to "a valid account" */
    { RC_QUERY_CONSUMER_OFFSET, "QUERY_CONSUMER_OFFSET", R_GROUP_TOPIC, "consumerGroup", "topic",
      SUB },
    { RC_END_TRANSACTION, "END_TRANSACTION", R_END_TX, NULL, NULL, 0 },
    { RC_LOCK_BATCH_MQ, "LOCK_BATCH_MQ", R_LOCK, NULL, NULL, 0 },
    { RC_UNLOCK_BATCH_MQ, "UNLOCK_BATCH_MQ", R_LOCK, NULL, NULL, 0 },
    { RC_GET_MAX_OFFSET, "GET_MAX_OFFSET", R_TOPIC, "topic", NULL, SUB },
    { RC_GET_MIN_OFFSET, "GET_MIN_OFFSET", R_TOPIC, "topic", NULL, SUB },
    { RC_GET_EARLIEST_MSG_STORETIME, "GET_EARLIEST_MSG_STORETIME", R_TOPIC, "topic", NULL, SUB },
    { RC_SEARCH_OFFSET_BY_TIMESTAMP, "SEARCH_OFFSET_BY_TIMESTAMP", R_TOPIC, "topic", NULL, SUB },
    { RC_GET_TOPIC_STATS_INFO, "GET_TOPIC_STATS_INFO", R_TOPIC, "topic", NULL, ANY },
    { RC_QUERY_TOPIC_CONSUME_BY_WHO, "QUERY_TOPIC_CONSUME_BY_WHO", R_TOPIC, "topic", NULL, ANY },
    { RC_GET_CONSUME_STATS, "GET_CONSUME_STATS", R_GROUP_TOPIC, "consumerGroup", "topic", 0 },
    { RC_GET_CONSUMER_CONNECTION_LIST, "GET_CONSUMER_CONNECTION_LIST", R_GROUP, "consumerGroup",
      NULL, 0 },
    { RC_CHECK_CLIENT_CONFIG, "CHECK_CLIENT_CONFIG", R_SIGNED, NULL, NULL, 0 },
    { RC_GET_BROKER_RUNTIME_INFO, "GET_BROKER_RUNTIME_INFO", R_SIGNED, NULL, NULL, 0 },
    { RC_VIEW_BROKER_STATS_DATA, "VIEW_BROKER_STATS_DATA", R_SIGNED, NULL, NULL, 0 },
    /* admin-only: RocketMQ's five, then the codes that change state or read every
     * topic's or group's data (metadata copies, messages by id, client internals) */
    { RC_UPDATE_AND_CREATE_TOPIC, "UPDATE_AND_CREATE_TOPIC", R_ADMIN, NULL, NULL, 0 },
    { RC_UPDATE_BROKER_CONFIG, "UPDATE_BROKER_CONFIG", R_ADMIN, NULL, NULL, 0 },
    { RC_DELETE_TOPIC_IN_BROKER, "DELETE_TOPIC_IN_BROKER", R_ADMIN, NULL, NULL, 0 },
    { RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP", R_ADMIN, NULL,
      NULL, 0 },
    { RC_DELETE_SUBSCRIPTIONGROUP, "DELETE_SUBSCRIPTIONGROUP", R_ADMIN, NULL, NULL, 0 },
    { RC_TRIGGER_DELETE_FILES, "TRIGGER_DELETE_FILES", R_ADMIN, NULL, NULL, 0 },
    { RC_INVOKE_BROKER_TO_RESET_OFFSET, "INVOKE_BROKER_TO_RESET_OFFSET", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_BROKER_CONFIG, "GET_BROKER_CONFIG", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_ALL_TOPIC_CONFIG, "GET_ALL_TOPIC_CONFIG", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, "GET_ALL_SUBSCRIPTIONGROUP_CONFIG", R_ADMIN, NULL, NULL,
      0 },
    { RC_GET_ALL_CONSUMER_OFFSET, "GET_ALL_CONSUMER_OFFSET", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_ALL_DELAY_OFFSET, "GET_ALL_DELAY_OFFSET", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_BROKER_CONSUME_STATS, "GET_BROKER_CONSUME_STATS", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_PRODUCER_CONNECTION_LIST, "GET_PRODUCER_CONNECTION_LIST", R_ADMIN, NULL, NULL, 0 },
    { RC_VIEW_MESSAGE_BY_ID, "VIEW_MESSAGE_BY_ID", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_CONSUMER_RUNNING_INFO, "GET_CONSUMER_RUNNING_INFO", R_ADMIN, NULL, NULL, 0 },
    { RC_CONSUME_MESSAGE_DIRECTLY, "CONSUME_MESSAGE_DIRECTLY", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_SYSTEM_TOPIC_LIST_FROM_BROKER, "GET_SYSTEM_TOPIC_LIST_FROM_BROKER", R_ADMIN, NULL,
      NULL, 0 },
    { RC_DELETE_EXPIRED_COMMITLOG, "DELETE_EXPIRED_COMMITLOG", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_TOPIC_CONFIG, "GET_TOPIC_CONFIG", R_TOPIC, "topic", NULL, ANY },
    /* account management: the main (admin) accounts only */
    { RC_UPDATE_AND_CREATE_ACL_CONFIG, "UPDATE_AND_CREATE_ACL_CONFIG", R_ADMIN, NULL, NULL, 0 },
    { RC_DELETE_ACL_CONFIG, "DELETE_ACL_CONFIG", R_ADMIN, NULL, NULL, 0 },
    { RC_GET_BROKER_CLUSTER_ACL_INFO, "GET_BROKER_CLUSTER_ACL_INFO", R_ADMIN, NULL, NULL, 0 },
    { RC_UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, "UPDATE_GLOBAL_WHITE_ADDRS_CONFIG", R_ADMIN, NULL, NULL,
      0 },
};
#undef SUB
#undef PUB
#undef ANY

typedef struct bk_acl {
    kite_acl_watch w; /* the accounts in force, their files and version */
    kite_ev_timer *t_check;
    kite_log_limit log_limit; /* refusals: one line a second, then a count */
} bk_acl;

static const rule *find_rule(int code)
{
    for (size_t i = 0; i < sizeof k_rules / sizeof k_rules[0]; i++)
        if (k_rules[i].code == code) return &k_rules[i];
    return NULL;
}

int bk_acl_has_rule(int code) { return find_rule(code) != NULL; }

static const char *home_dir(const kite_broker *b)
{
    if (b->cfg.rocketmq_home && *b->cfg.rocketmq_home) return b->cfg.rocketmq_home;
    const char *h = getenv("ROCKETMQ_HOME");
    return h && *h ? h : NULL;
}

static void t_check(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    kite_broker *b = arg;
    kite_acl_watch_poll(&b->acl->w);
}

/* ---- the guard ---- */

typedef struct needs {
    kite_acl_need *v;
    size_t n, cap;
    kite_acl_need inl[4];
} needs;

static void need_add(needs *s, const char *name, int is_group, int perm)
{
    if (!name || !*name) return;
    if (!is_group && kite_is_retry_topic(name)) { /* RocketMQ checks %RETRY%g as group g */
        name += KITE_RETRY_PREFIX_LEN;
        is_group = 1;
        perm = KITE_ACL_PERM_SUB;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        kite_acl_need *v = kite_xmalloc(cap * sizeof *v);
        memcpy(v, s->v, s->n * sizeof *v);
        if (s->v != s->inl) free(s->v);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (kite_acl_need){ name, is_group, perm };
}

/* The resources of a request; body-based rules parse the body into *doc (freed by the
 * caller). 0, or -1 when a body the rule needs does not parse (refused). */
static int collect(const rule *ru, const kite_cmd *c, needs *s, kite_json_doc **doc)
{
    const char *f1 = ru->f1 ? kite_cmd_ext(c, ru->f1) : NULL;
    const char *f2 = ru->f2 ? kite_cmd_ext(c, ru->f2) : NULL;
    switch (ru->kind) {
    case R_SEND:
    case R_SEND_V2:
        if (f1 && kite_is_retry_topic(f1))
            need_add(s, f2 ? f2 : "", 1, KITE_ACL_PERM_SUB);
        else
            need_add(s, f1, 0, KITE_ACL_PERM_PUB);
        break;
    case R_GROUP: need_add(s, f1, 1, KITE_ACL_PERM_SUB); break;
    case R_TOPIC: need_add(s, f1, 0, ru->perm); break;
    case R_GROUP_TOPIC:
        need_add(s, f1, 1, KITE_ACL_PERM_SUB);
        need_add(s, f2, 0, KITE_ACL_PERM_SUB);
        break;
    case R_HEARTBEAT:
    case R_LOCK: {
        char err[128];
        if (!c->body_len) return ru->kind == R_LOCK ? -1 : 0;
        *doc = kite_json_parse((const char *)c->body, c->body_len, err, sizeof err);
        if (!*doc) return -1;
        const kite_json *root = kite_json_root(*doc);
        if (ru->kind == R_LOCK) {
            need_add(s, kite_json_get_str(root, "consumerGroup", NULL), 1, KITE_ACL_PERM_SUB);
            const kite_json *set = kite_json_get(root, "mqSet");
            for (size_t i = 0; set && set->type == KJ_ARRAY && i < set->count; i++)
                need_add(s, kite_json_get_str(set->items[i], "topic", NULL), 0, KITE_ACL_PERM_SUB);
            break;
        }
        const kite_json *cds = kite_json_get(root, "consumerDataSet");
        for (size_t i = 0; cds && cds->type == KJ_ARRAY && i < cds->count; i++) {
            const kite_json *cd = cds->items[i];
            need_add(s, kite_json_get_str(cd, "groupName", NULL), 1, KITE_ACL_PERM_SUB);
            const kite_json *ss = kite_json_get(cd, "subscriptionDataSet");
            for (size_t j = 0; ss && ss->type == KJ_ARRAY && j < ss->count; j++)
                need_add(s, kite_json_get_str(ss->items[j], "topic", NULL), 0, KITE_ACL_PERM_SUB);
        }
        break;
    }
    default: break;
    }
    return 0;
}

/* A refusal: RocketMQ's remark (control characters of the request's values become '?', so
 * the log line stays one line) and at most one log line a second. */
static void refuse(kite_broker *b, kite_rpc_req *req, char *msg, char *why)
{
    bk_acl *A = b->acl;
    char remark[1400]; /* prefix + msg (512) + why (768) */
    kite_acl_refusal_remark(remark, sizeof remark, msg, why);
    kite_log_limited(&A->log_limit, KITE_LOG_WARN, "acl", "%s", why);
    kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
}

static int check(kite_broker *b, kite_rpc_req *req, const rule *ru, needs *s, int bad_body)
{
    const kite_cmd *c = &req->cmd;
    kite_acl_field inl[32], *fs = c->n_ext <= 32 ? inl : kite_xmalloc(c->n_ext * sizeof *fs);
    for (size_t i = 0; i < c->n_ext; i++)
        fs[i] = (kite_acl_field){ c->ext[i].key, c->ext[i].val, c->ext[i].vlen };
    char ip[64];
    kite_acl_peer_ip(kite_conn_peer(req->conn), ip, sizeof ip);
    kite_acl_req r = {
        .ip = ip,
        .code = c->code,
        .code_name = ru ? ru->name : NULL,
        .fields = fs,
        .nfields = c->n_ext,
        .body = c->body,
        .body_len = c->body_len,
        .admin_only = ru && ru->kind == R_ADMIN,
        .unknown = ru == NULL,
        .bad_body = bad_body,
        .need = s->v,
        .nneed = s->n,
        .explain = kite_log_get_level() <= KITE_LOG_DEBUG,
    };
    const kite_acl_account *acc;
    char msg[512], why[768];
    int d = kite_acl_check(b->acl->w.acl, &r, &acc, msg, sizeof msg, why, sizeof why);
    if (fs != inl) free(fs);
    if (d == KITE_ACL_ALLOW) {
        req->auth = acc;
        KLOG_DEBUG("acl", "%s", why);
        return 1;
    }
    refuse(b, req, msg, why);
    return 0;
}

static int guard(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    const rule *ru = find_rule(req->cmd.code);
    needs s = { .v = NULL, .n = 0, .cap = 4 };
    s.v = s.inl;
    kite_json_doc *doc = NULL;
    int bad_body = ru && collect(ru, &req->cmd, &s, &doc) != 0;
    int ok = check(b, req, ru, &s, bad_body);
    if (s.v != s.inl) free(s.v);
    kite_json_doc_free(doc);
    return ok;
}

int bk_acl_allow_topic(kite_broker *b, kite_rpc_req *req, const char *topic, int perm)
{
    if (!b->acl || !req->auth) return 1; /* ACL off, or let in by a white list */
    needs s = { .v = NULL, .n = 0, .cap = 4 };
    s.v = s.inl;
    need_add(&s, topic, 0, perm);
    const rule *ru = find_rule(req->cmd.code);
    int ok = check(b, req, ru, &s, 0);
    if (s.v != s.inl) free(s.v);
    return ok;
}

/* Reads innerClientAuthenticationCredentials: 0 with ak/sk (NULL when the key is unset;
 * doc freed by the caller), or KITE_EINVAL with the reason. */
static int inner_credentials(const kite_broker *b, kite_json_doc **doc, const char **ak,
                             const char **sk, char *err, size_t errlen)
{
    const char *text = b->cfg.inner_credentials;
    *doc = NULL;
    *ak = *sk = NULL;
    if (!text || !*text) return KITE_OK;
    char jerr[128] = "";
    *doc = kite_json_parse(text, strlen(text), jerr, sizeof jerr);
    const kite_json *root = *doc ? kite_json_root(*doc) : NULL;
    *ak = root ? kite_json_get_str(root, "accessKey", NULL) : NULL;
    *sk = root ? kite_json_get_str(root, "secretKey", NULL) : NULL;
    if (*ak && **ak && *sk && **sk) return KITE_OK;
    snprintf(
        err, errlen,
        "innerClientAuthenticationCredentials must be {\"accessKey\":\"..\",\"secretKey\":\"..\"}%s%s",
        jerr[0] ? ": " : "", jerr);
    return KITE_EINVAL;
}

int bk_acl_start(kite_broker *b, char *err, size_t errlen)
{
    kite_json_doc *doc;
    const char *ak, *sk;
    int rc = inner_credentials(b, &doc, &ak, &sk, err, errlen); /* checked before any port opens */
    kite_json_doc_free(doc);
    if (rc != KITE_OK) return rc;
    if (!b->cfg.acl_enable) return KITE_OK;
    bk_acl *A = kite_xcalloc(1, sizeof *A);
    if (kite_acl_watch_start(&A->w, b->cfg.acl_file, home_dir(b), "broker.conf", err, errlen) !=
        KITE_OK) {
        free(A);
        return KITE_EINVAL;
    }
    b->acl = A;
    A->t_check = kite_ev_timer_add(b->ev, BK_ACL_RELOAD_MS, BK_ACL_RELOAD_MS, t_check, b);
    return KITE_OK;
}

/* ---- account management (codes 50-53) ---- */

/* Where new accounts and the default global white list go: aclFile, else
 * <rocketmqHome>/conf/plain_acl.yml. */
static int main_file(const kite_broker *b, char *out, size_t len)
{
    const kite_acl_watch *w = &b->acl->w;
    if (w->acl_file) return snprintf(out, len, "%s", w->acl_file) < (int)len;
    const char *home = w->home;
    return home && snprintf(out, len, "%s/conf/plain_acl.yml", home) < (int)len;
}

/* The accounts as the files hold them now (the change applies to these, not to what is in
 * force, so a file edited meanwhile is not overwritten with older content): NULL with err
 * when they do not load. */
static kite_acl *fresh(kite_broker *b, kite_acl_paths *l, char *err, size_t errlen)
{
    kite_acl_paths_find(&b->acl->w, l);
    char lerr[600];
    kite_acl *n = kite_acl_paths_load(&b->acl->w, l, lerr, sizeof lerr);
    if (!n) snprintf(err, errlen, "the ACL files do not load (%s); fix them first", lerr);
    return n;
}

/* Writes file from n (atomically: a temporary file, fsync, rename) after checking that the
 * text reads back, then puts n in force. Takes n. */
static int persist(kite_broker *b, kite_acl *n, const char *file, char *err, size_t errlen)
{
    kite_buf text = KITE_BUF_INIT;
    kite_acl_emit(n, file, &text);
    kite_acl *chk = kite_acl_new();
    int rc = kite_acl_parse(chk, file, text.data, text.len, err, errlen);
    kite_acl_free(chk);
    if (rc == KITE_OK && (rc = kite_mkdirs_for(file)) == KITE_OK)
        rc = kite_file_write_atomic(file, text.data, text.len);
    else if (rc == KITE_OK)
        snprintf(err, errlen, "cannot create the directory of %s", file);
    if (rc != KITE_OK && !err[0]) snprintf(err, errlen, "cannot write %s", file);
    kite_buf_free(&text);
    if (rc != KITE_OK) {
        kite_acl_free(n);
        return rc;
    }
    kite_acl_watch_replace(&b->acl->w, n);
    return KITE_OK;
}

static void h_acl_update(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    const kite_cmd *c = &req->cmd;
    kite_acl_update u = {
        .access_key = kite_cmd_ext(c, "accessKey"),
        .secret_key = kite_cmd_ext(c, "secretKey"),
        .white = kite_cmd_ext(c, "whiteRemoteAddress"),
        .default_topic_perm = kite_cmd_ext(c, "defaultTopicPerm"),
        .default_group_perm = kite_cmd_ext(c, "defaultGroupPerm"),
        .topic_perms = kite_cmd_ext(c, "topicPerms"),
        .group_perms = kite_cmd_ext(c, "groupPerms"),
        .admin = kite_cmd_ext_bool(c, "admin", 0),
    };
    char err[700] = "", mf[1024];
    kite_acl_paths l = { 0 };
    const char *file;
    kite_acl *n = fresh(b, &l, err, sizeof err);
    int rc = n ? KITE_OK : KITE_EINVAL;
    if (n && !main_file(b, mf, sizeof mf)) {
        snprintf(err, sizeof err, "no file for new accounts: set rocketmqHome or aclFile");
        rc = KITE_EINVAL;
    }
    if (rc == KITE_OK && (rc = kite_acl_upsert(n, &u, mf, &file, err, sizeof err)) == KITE_OK) {
        char *f = kite_xstrdup(file);
        rc = persist(b, n, f, err, sizeof err);
        n = NULL;
        if (rc == KITE_OK)
            KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "acl",
                         "account '%s' created or updated in %s by a request from %s", u.access_key,
                         f, kite_conn_peer(req->conn));
        free(f);
    }
    kite_acl_free(n);
    kite_acl_paths_free(&l);
    if (rc == KITE_OK)
        kite_rpc_reply_code(req, RS_SUCCESS, NULL);
    else
        bk_replyf(req, RS_UPDATE_AND_CREATE_ACL_CONFIG_FAILED, "%s", err);
}

static void h_acl_delete(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    const char *ak = bk_need(req, "accessKey");
    if (!ak) return;
    char err[700] = "";
    kite_acl_paths l = { 0 };
    kite_acl *n = fresh(b, &l, err, sizeof err);
    int rc = n ? KITE_OK : KITE_EINVAL;
    char *file = NULL;
    if (n && kite_acl_remove(n, ak, &file) != KITE_OK) {
        snprintf(err, sizeof err, "No acl config for %s", ak);
        rc = KITE_ENOTFOUND;
    }
    if (rc == KITE_OK) {
        rc = persist(b, n, file, err, sizeof err);
        n = NULL;
        if (rc == KITE_OK)
            KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "acl",
                         "account '%s' deleted from %s by a request from %s", ak, file,
                         kite_conn_peer(req->conn));
    }
    free(file);
    kite_acl_free(n);
    kite_acl_paths_free(&l);
    if (rc == KITE_OK)
        kite_rpc_reply_code(req, RS_SUCCESS, NULL);
    else
        bk_replyf(req, RS_DELETE_ACL_CONFIG_FAILED, "%s", err);
}

static void h_acl_global(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    const char *addrs = kite_cmd_ext_raw(&req->cmd, "globalWhiteAddrs");
    const char *path = kite_cmd_ext(&req->cmd, "aclFileFullPath");
    char err[700] = "", mf[1024];
    kite_acl_paths l = { 0 };
    kite_acl *n = fresh(b, &l, err, sizeof err);
    int rc = n ? KITE_OK : KITE_EINVAL;
    if (n && !addrs) {
        snprintf(err, sizeof err, "globalWhiteAddrs is required (\"\" empties the list)");
        rc = KITE_EINVAL;
    } else if (n && path) { /* only a file the broker loads: never a path of the caller's choice */
        rc = KITE_EINVAL;
        for (size_t i = 0; i < l.n; i++)
            if (!strcmp(l.p[i], path)) rc = KITE_OK;
        if (rc != KITE_OK) snprintf(err, sizeof err, "%s is not one of the ACL files", path);
        snprintf(mf, sizeof mf, "%s", path);
    } else if (n && !main_file(b, mf, sizeof mf)) {
        snprintf(err, sizeof err, "no ACL file: set rocketmqHome or aclFile");
        rc = KITE_EINVAL;
    }
    if (rc == KITE_OK && (rc = kite_acl_set_global(n, mf, addrs, err, sizeof err)) == KITE_OK) {
        rc = persist(b, n, mf, err, sizeof err);
        n = NULL;
        if (rc == KITE_OK)
            KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "acl",
                         "globalWhiteRemoteAddresses of %s set to [%s] by a request from %s", mf,
                         addrs ? addrs : "", kite_conn_peer(req->conn));
    }
    kite_acl_free(n);
    kite_acl_paths_free(&l);
    if (rc == KITE_OK)
        kite_rpc_reply_code(req, RS_SUCCESS, NULL);
    else
        bk_replyf(req, RS_UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED, "%s", err);
}

static void version_json(kite_jw *w, int64_t counter, int64_t ms)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "counter");
    kite_jw_int(w, counter);
    kite_jw_key(w, "stateVersion");
    kite_jw_int(w, 0);
    kite_jw_key(w, "timestamp");
    kite_jw_int(w, ms);
    kite_jw_obj_end(w);
}

static void h_acl_info(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    bk_acl *A = b->acl;
    kite_buf v = KITE_BUF_INIT, all = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &v, 0);
    version_json(&w, A->w.version, A->w.version_ms);
    kite_acl_paths l = { 0 };
    kite_acl_paths_find(&A->w, &l);
    kite_jw_init(&w, &all, 0);
    kite_jw_obj_begin(&w);
    for (size_t i = 0; i < l.n; i++) {
        kite_jw_key(&w, l.p[i]);
        version_json(&w, A->w.version, A->w.version_ms);
    }
    kite_jw_obj_end(&w);
    kite_acl_paths_free(&l);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_cmd_set_ext_n(&resp, "version", v.data, v.len);
    kite_cmd_set_ext_n(&resp, "allAclFileVersion", all.data, all.len);
    kite_cmd_set_ext(&resp, "brokerName", b->cfg.broker_name);
    kite_cmd_set_ext(&resp, "brokerAddr", b->addr);
    kite_cmd_set_ext(&resp, "clusterName", b->cfg.broker_cluster_name);
    kite_buf_free(&v);
    kite_buf_free(&all);
    kite_rpc_reply(req, &resp);
}

void bk_acl_install(kite_broker *b)
{
    if (!b->acl || !b->srv) return;
    kite_rpc_server_set_guard(b->srv, guard, b);
    kite_rpc_server_handle(b->srv, RC_UPDATE_AND_CREATE_ACL_CONFIG, h_acl_update, b);
    kite_rpc_server_handle(b->srv, RC_DELETE_ACL_CONFIG, h_acl_delete, b);
    kite_rpc_server_handle(b->srv, RC_GET_BROKER_CLUSTER_ACL_INFO, h_acl_info, b);
    kite_rpc_server_handle(b->srv, RC_UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, h_acl_global, b);
}

int bk_acl_sign_as(kite_broker *b, kite_rpc_client *c, char *err, size_t errlen)
{
    kite_json_doc *doc;
    const char *ak, *sk;
    int rc = inner_credentials(b, &doc, &ak, &sk, err, errlen);
    if (rc == KITE_OK && ak) {
        kite_rpc_client_set_credentials(c, ak, sk, NULL);
        KLOG_INFO("acl", "requests to name servers and the master are signed as '%s'", ak);
    }
    kite_json_doc_free(doc);
    return rc;
}

void bk_acl_stop(kite_broker *b)
{
    bk_acl *A = b->acl;
    if (!A) return;
    if (A->t_check) kite_ev_timer_cancel(b->ev, A->t_check);
    if (b->srv) kite_rpc_server_set_guard(b->srv, NULL, NULL);
    kite_acl_watch_stop(&A->w);
    free(A);
    b->acl = NULL;
}
