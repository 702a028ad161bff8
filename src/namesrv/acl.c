/* acl.c - the name server's plain ACL (aclEnable=true in its config; README "Security",
 * docs/wire.md §14.6). RocketMQ's name server checks nothing; KiteMQ's, with ACL on,
 * guards every code that changes its state - broker registration, unregistration and
 * heartbeats, write permission, topic routes, the KV table, its config - and reading its
 * config: each needs a request signed by an admin account, or a sender in a white list,
 * in the broker's validation order (src/acl). Route and cluster queries stay open, as
 * every client needs them and they carry no secret. Accounts: the same files and reload
 * as the broker's (kite_acl_watch), polled every NS_ACL_RELOAD_MS. Refusals answer
 * SYSTEM_ERROR with RocketMQ's AclException text, logged at most once a second. */
#include "acl/acl.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "namesrv/namesrv.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_ACL_RELOAD_MS 500

struct ns_acl {
    kite_acl_watch w;
    kite_ev_timer *t_check;
    kite_log_limit log_limit; /* refusals: one line a second, then a count */
};

static const struct {
    int code;
    const char *name;
} k_guarded[] = {
    { RC_REGISTER_BROKER, "REGISTER_BROKER" },
    { RC_UNREGISTER_BROKER, "UNREGISTER_BROKER" },
    { RC_BROKER_HEARTBEAT, "BROKER_HEARTBEAT" },
    { RC_WIPE_WRITE_PERM_OF_BROKER, "WIPE_WRITE_PERM_OF_BROKER" },
    { RC_ADD_WRITE_PERM_OF_BROKER, "ADD_WRITE_PERM_OF_BROKER" },
    { RC_DELETE_TOPIC_IN_NAMESRV, "DELETE_TOPIC_IN_NAMESRV" },
    { RC_REGISTER_TOPIC_IN_NAMESRV, "REGISTER_TOPIC_IN_NAMESRV" },
    { RC_PUT_KV_CONFIG, "PUT_KV_CONFIG" },
    { RC_DELETE_KV_CONFIG, "DELETE_KV_CONFIG" },
    { RC_UPDATE_NAMESRV_CONFIG, "UPDATE_NAMESRV_CONFIG" },
    { RC_GET_NAMESRV_CONFIG, "GET_NAMESRV_CONFIG" },
};

static const char *guarded(int code)
{
    for (size_t i = 0; i < sizeof k_guarded / sizeof k_guarded[0]; i++)
        if (k_guarded[i].code == code) return k_guarded[i].name;
    return NULL;
}

int ns_acl_guarded(int code) { return guarded(code) != NULL; }

static int guard(kite_rpc_req *req, void *arg)
{
    kite_namesrv *ns = arg;
    struct ns_acl *A = ns->acl;
    const kite_cmd *c = &req->cmd;
    const char *name = guarded(c->code);
    if (!name) return 1;
    kite_acl_field inl[32], *fs = c->n_ext <= 32 ? inl : kite_xmalloc(c->n_ext * sizeof *fs);
    for (size_t i = 0; i < c->n_ext; i++)
        fs[i] = (kite_acl_field){ c->ext[i].key, c->ext[i].val, c->ext[i].vlen };
    char ip[64];
    kite_acl_peer_ip(kite_conn_peer(req->conn), ip, sizeof ip);
    kite_acl_req r = {
        .ip = ip,
        .code = c->code,
        .code_name = name,
        .fields = fs,
        .nfields = c->n_ext,
        .body = c->body,
        .body_len = c->body_len,
        .admin_only = 1,
        .explain = kite_log_get_level() <= KITE_LOG_DEBUG,
    };
    const kite_acl_account *acc;
    char msg[512], why[768];
    int d = kite_acl_check(A->w.acl, &r, &acc, msg, sizeof msg, why, sizeof why);
    if (fs != inl) free(fs);
    if (d == KITE_ACL_ALLOW) {
        KLOG_DEBUG("acl", "%s", why);
        return 1;
    }
    char remark[1400]; /* prefix + msg (512) + why (768) */
    kite_acl_refusal_remark(remark, sizeof remark, msg, why);
    kite_log_limited(&A->log_limit, KITE_LOG_WARN, "acl", "%s", why);
    kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
    return 0;
}

static void t_check(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    kite_namesrv *ns = arg;
    kite_acl_watch_poll(&ns->acl->w);
}

int ns_acl_start(kite_namesrv *ns, char *err, size_t errlen)
{
    if (!ns->cfg.acl_enable) return KITE_OK;
    const char *home = ns->cfg.rocketmq_home;
    if (!home || !*home) home = getenv("ROCKETMQ_HOME");
    struct ns_acl *A = kite_xcalloc(1, sizeof *A);
    if (kite_acl_watch_start(&A->w, ns->cfg.acl_file, home, "namesrv.conf", err, errlen) !=
        KITE_OK) {
        free(A);
        return KITE_EINVAL;
    }
    ns->acl = A;
    A->t_check = kite_ev_timer_add(ns->ev, NS_ACL_RELOAD_MS, NS_ACL_RELOAD_MS, t_check, ns);
    return KITE_OK;
}

void ns_acl_install(kite_namesrv *ns)
{
    if (ns->acl && ns->srv) kite_rpc_server_set_guard(ns->srv, guard, ns);
}

void ns_acl_stop(kite_namesrv *ns)
{
    struct ns_acl *A = ns->acl;
    if (!A) return;
    if (A->t_check) kite_ev_timer_cancel(ns->ev, A->t_check);
    if (ns->srv) kite_rpc_server_set_guard(ns->srv, NULL, NULL);
    kite_acl_watch_stop(&A->w);
    free(A);
    ns->acl = NULL;
}
