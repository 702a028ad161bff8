/* p_lock.c - LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42): queue locks for ordered
 * consumers. A queue is granted when unlocked, already held by the same clientId
 * (refreshed), or its lock was not renewed for rebalanceLockMaxLiveTime (60 s by
 * default, as Java's rocketmq.broker.rebalance.lockMaxLiveTime; values below 1 s are
 * refused at start with a warning and the default is kept). Bodies:
 * {"consumerGroup","clientId","mqSet":[{"brokerName","queueId","topic"}]}; answer
 * {"lockOKMQSet":[...]}.
 * docs/wire.md §6.6, §2.5. Loop thread; locks live in memory only, as in Java. */
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lock_ent {
    char *client_id;
    int64_t last_ms;
} lock_ent;

struct bk_locks {
    kite_map groups; /* group -> kite_map* ("topic@brokerName@qid" -> lock_ent*) */
};

static kite_broker *B(void *arg) { return arg; }

static void ent_free(void *p)
{
    lock_ent *e = p;
    free(e->client_id);
    free(e);
}

static void group_free(void *p)
{
    kite_map_free(p, ent_free);
    free(p);
}

void bk_locks_free(kite_broker *b)
{
    if (!b->locks) return;
    kite_map_free(&b->locks->groups, group_free);
    free(b->locks);
    b->locks = NULL;
}

static kite_map *group_locks(kite_broker *b, const char *group)
{
    if (!b->locks) {
        b->locks = kite_xcalloc(1, sizeof *b->locks);
    }
    kite_map *m = kite_map_get(&b->locks->groups, group);
    if (!m) {
        m = kite_xcalloc(1, sizeof *m);
        kite_map_put(&b->locks->groups, group, m);
    }
    return m;
}

static void write_mq(kite_jw *w, const kite_json *mq)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "brokerName");
    kite_jw_str(w, kite_json_get_str(mq, "brokerName", ""));
    kite_jw_key(w, "queueId");
    kite_jw_int(w, kite_json_get_int32(mq, "queueId", 0));
    kite_jw_key(w, "topic");
    kite_jw_str(w, kite_json_get_str(mq, "topic", ""));
    kite_jw_obj_end(w);
}

static void mq_key(const kite_json *mq, char *out, size_t len)
{
    snprintf(out, len, "%s@%s@%d", kite_json_get_str(mq, "topic", ""),
             kite_json_get_str(mq, "brokerName", ""), kite_json_get_int32(mq, "queueId", 0));
}

static void handle(kite_rpc_req *req, kite_broker *b, int lock)
{
    char err[160];
    kite_json_doc *doc = req->cmd.body_len ? kite_json_parse((const char *)req->cmd.body,
                                                             req->cmd.body_len, err, sizeof err)
                                           : NULL;
    if (!doc) {
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, "malformed lock request body");
        return;
    }
    const kite_json *root = kite_json_root(doc);
    const char *group = kite_json_get_str(root, "consumerGroup", NULL);
    const char *cid = kite_json_get_str(root, "clientId", NULL);
    const kite_json *set = kite_json_get(root, "mqSet");
    if (!group || !cid || !set || set->type != KJ_ARRAY) {
        kite_json_doc_free(doc);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                            "lock request body needs consumerGroup, clientId and mqSet");
        return;
    }
    kite_map *m = group_locks(b, group);
    int64_t live = b->cfg.rebalance_lock_max_live_time; /* >= 1000: bk_conf_settle */
    int64_t now = kite_ev_now(b->ev);
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "lockOKMQSet");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < set->count; i++) {
        char key[400];
        mq_key(set->items[i], key, sizeof key);
        lock_ent *e = kite_map_get(m, key);
        if (lock) {
            if (!e) {
                e = kite_xcalloc(1, sizeof *e);
                e->client_id = kite_xstrdup(cid);
                kite_map_put(m, key, e);
            } else if (strcmp(e->client_id, cid) != 0) {
                if (now - e->last_ms <= live) continue; /* held by another live client */
                KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker",
                             "queue lock %s of group %s expired: moves from %s to %s", key, group,
                             e->client_id, cid);
                free(e->client_id);
                e->client_id = kite_xstrdup(cid);
            }
            e->last_ms = now;
            write_mq(&w, set->items[i]);
        } else if (e && strcmp(e->client_id, cid) == 0) {
            ent_free(kite_map_del(m, key));
        }
    }
    kite_jw_arr_end(&w);
    kite_jw_obj_end(&w);
    kite_json_doc_free(doc);
    if (lock) {
        bk_reply_body(req, RS_SUCCESS, &out);
    } else {
        kite_buf_free(&out);
        kite_rpc_reply_code(req, RS_SUCCESS, NULL);
    }
}

static void h_lock(kite_rpc_req *req, void *arg) { handle(req, B(arg), 1); }
static void h_unlock(kite_rpc_req *req, void *arg) { handle(req, B(arg), 0); }

void bk_register_lock_handlers(kite_broker *b)
{
    if (b->cfg.rebalance_lock_max_live_time !=
        BK_LOCK_LIVE_DEFAULT_MS) { /* settled: >= the minimum */
        KLOG_INFO("broker",
                  "queue locks expire %lld ms after their last renewal (rebalanceLockMaxLiveTime)",
                  (long long)b->cfg.rebalance_lock_max_live_time);
    }
    kite_rpc_server_handle(b->srv, RC_LOCK_BATCH_MQ, h_lock, b);
    kite_rpc_server_handle(b->srv, RC_UNLOCK_BATCH_MQ, h_unlock, b);
}
