/* consumer_requests.c - the requests brokers send to a push consumer:
 * NOTIFY_CONSUMER_IDS_CHANGED (rebalance now), RESET_CONSUMER_CLIENT_OFFSET (the
 * queues restart from the given offsets), GET_CONSUMER_RUNNING_INFO (a small JSON
 * report) and CONSUME_MESSAGE_DIRECTLY (the listener runs on the given message and the
 * answer says what it returned).
 *
 * Owns: the handlers and their answers.
 * Threads: the handlers run on the I/O thread; CONSUME_MESSAGE_DIRECTLY is answered
 * by a worker (kite_pc_run_direct), as the listener must not run on the I/O thread. */
#include "client/consumer_int.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "proto/codes.h"
#include <stdlib.h>
#include <string.h>

/* ---- requests from brokers (I/O) ---- */

static void h_notify(kite_rpc_req *req, void *arg)
{
    kite_push_consumer *c = arg;
    KLOG_DEBUG("client", "consumer %s: the broker says the group changed; rebalancing", c->group);
    if (!stopping(c)) kite_pc_rebalance_all(c);
    kite_rpc_done(req);
}

static void reset_one(kite_push_consumer *c, const char *topic, const char *broker, int32_t qid,
                      int64_t off)
{
    char *key = kite_pc_mq_key(topic, broker, qid);
    pq *q = kite_map_get(&c->pqs, key);
    if (q) {
        q->no_commit = 1;
        kite_pc_drop_pq(c, q, 0);
        if (clustering(c)) {
            /* The broker stored it already; sent again so a late commit cannot win. */
            char addr[128];
            if (kite_pc_broker_addr(c, topic, broker, addr, sizeof addr) == 0) {
                kite_cmd req;
                kite_cmd_init_request(&req, RC_UPDATE_CONSUMER_OFFSET, 0);
                kite_cmd_set_ext(&req, "consumerGroup", c->group);
                kite_cmd_set_ext(&req, "topic", topic);
                set_i64(&req, "queueId", qid);
                set_i64(&req, "commitOffset", off);
                kite_rpc_oneway(rpc(c), addr, &req);
            }
        }
    }
    if (!clustering(c)) kite_pc_local_set(c, key, off);
    free(key);
}

/* RESET_CONSUMER_CLIENT_OFFSET: body ResetOffsetBody (object keys) or ResetOffsetBodyForC
 * (a list), docs/wire.md §2.10. The queues restart from the new offsets at once. */
static void h_reset(kite_rpc_req *req, void *arg)
{
    kite_push_consumer *c = arg;
    const char *group = kite_cmd_ext(&req->cmd, "group");
    char err[160];
    kite_json_doc *doc = req->cmd.body_len ? kite_json_parse((const char *)req->cmd.body,
                                                             req->cmd.body_len, err, sizeof err)
                                           : NULL;
    const kite_json *t = doc ? kite_json_get(kite_json_root(doc), "offsetTable") : NULL;
    if (stopping(c) || (group && strcmp(group, c->group) != 0) || !t) {
        if (doc) kite_json_doc_free(doc);
        kite_rpc_done(req);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++) {
        const kite_json *mq = NULL;
        int64_t off;
        if (t->type == KJ_OBJECT) {
            mq = t->members[i].key;
            if (mq->type != KJ_OBJECT || kite_json_int64(t->members[i].value, &off) != 0) continue;
        } else if (t->type == KJ_ARRAY) {
            mq = t->items[i];
            if (mq->type != KJ_OBJECT || kite_json_int64(kite_json_get(mq, "offset"), &off) != 0)
                continue;
        } else {
            break;
        }
        const char *topic = kite_json_get_str(mq, "topic", NULL),
                   *broker = kite_json_get_str(mq, "brokerName", NULL);
        int32_t qid = kite_json_get_int32(mq, "queueId", -1);
        if (!topic || !broker || qid < 0) continue;
        reset_one(c, topic, broker, qid, off);
        n++;
    }
    KLOG_INFO("client", "consumer %s: offsets of %zu queue(s) reset by the broker", c->group, n);
    kite_json_doc_free(doc);
    if (!clustering(c)) kite_pc_local_save(c);
    kite_rpc_done(req);
    kite_pc_rebalance_all(c);
}

/* GET_CONSUMER_RUNNING_INFO: a small ConsumerRunningInfo (properties, subscriptionSet,
 * mqTable with ProcessQueueInfo-like entries, statusTable empty). */
static void h_running_info(kite_rpc_req *req, void *arg)
{
    kite_push_consumer *c = arg;
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "jstack");
    kite_jw_str(&w, "");
    kite_jw_key(&w, "mqTable");
    kite_jw_obj_begin(&w);
    size_t n = 0;
    const char **keys = kite_map_sorted_keys(&c->pqs, &n);
    for (size_t i = 0; keys && i < n; i++) {
        pq *q = kite_map_get(&c->pqs, keys[i]);
        size_t cnt, bytes;
        kite_pc_pq_counts(q, &cnt, &bytes);
        kite_jw_key_obj_begin(&w);
        kite_jw_key(&w, "brokerName");
        kite_jw_str(&w, q->broker);
        kite_jw_key(&w, "queueId");
        kite_jw_int(&w, q->qid);
        kite_jw_key(&w, "topic");
        kite_jw_str(&w, q->s->topic);
        kite_jw_key_obj_end(&w);
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "cachedMsgCount");
        kite_jw_int(&w, (int64_t)cnt);
        kite_jw_key(&w, "cachedMsgSizeInMiB");
        kite_jw_int(&w, (int64_t)(bytes >> 20));
        kite_jw_key(&w, "commitOffset");
        kite_jw_int(&w, q->state == PQ_RUN ? kite_pc_pq_offset(q) : -1);
        kite_jw_key(&w, "droped");
        kite_jw_bool(&w, 0);
        kite_jw_key(&w, "lastPullTimestamp");
        kite_jw_int(&w, q->last_pull_ms);
        pthread_mutex_lock(&q->mu);
        int64_t lc = q->last_consume_ms;
        pthread_mutex_unlock(&q->mu);
        kite_jw_key(&w, "lastConsumeTimestamp");
        kite_jw_int(&w, lc);
        kite_jw_key(&w, "locked");
        kite_jw_bool(&w, locking(c) ? kite_pc_lock_valid(q) : 0);
        kite_jw_obj_end(&w);
    }
    free(keys);
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "properties");
    kite_jw_obj_begin(&w);
    kite_jw_kv(&w, "PROP_CLIENT_VERSION", kite_version());
    kite_jw_kv(&w, "PROP_CONSUMEORDERLY", orderly(c) ? "true" : "false");
    kite_jw_kv_numstr(&w, "PROP_CONSUMER_START_TIMESTAMP", c->start_wall_ms);
    kite_jw_kv(&w, "PROP_CONSUME_TYPE", "CONSUME_PASSIVELY");
    kite_jw_kv(&w, "PROP_NAMESERVER_ADDR", c->o.namesrv_addr);
    kite_jw_kv_numstr(&w, "PROP_THREADPOOL_CORE_SIZE", c->o.consume_threads);
    kite_jw_kv(&w, "consumeFromWhere", from_name(c->o.consume_from));
    kite_jw_kv_numstr(&w, "consumeMessageBatchMaxSize", c->o.consume_batch_size);
    kite_jw_kv_numstr(&w, "consumeThreadMin", c->o.consume_threads);
    kite_jw_kv(&w, "consumerGroup", c->group);
    kite_jw_kv_numstr(&w, "maxReconsumeTimes", c->o.max_reconsume_times);
    kite_jw_kv(&w, "messageModel", model_name(c));
    kite_jw_kv_numstr(&w, "pullBatchSize", c->o.pull_batch_size);
    kite_jw_kv_numstr(&w, "pullThresholdForQueue", c->o.pull_threshold_for_queue);
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "statusTable");
    kite_jw_obj_begin(&w);
    kite_jw_obj_end(&w);
    kite_jw_key(&w, "subscriptionSet");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < c->nsubs; i++) {
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "expressionType");
        kite_jw_str(&w, expr_type(c->subs[i]));
        kite_jw_key(&w, "subString");
        kite_jw_str(&w, c->subs[i]->expr);
        kite_jw_key(&w, "subVersion");
        kite_jw_int(&w, c->subs[i]->version);
        kite_jw_key(&w, "topic");
        kite_jw_str(&w, c->subs[i]->topic);
        kite_jw_obj_end(&w);
    }
    kite_jw_arr_end(&w);
    kite_jw_obj_end(&w);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    size_t len = 0;
    char *p = kite_buf_steal(&out, &len);
    kite_cmd_set_body_own(&resp, p, len);
    kite_rpc_reply(req, &resp);
}

/* CONSUME_MESSAGE_DIRECTLY: the record goes to a worker, which answers. */
static void h_direct(kite_rpc_req *req, void *arg)
{
    kite_push_consumer *c = arg;
    kite_rmsg **msgs = NULL;
    size_t n = 0;
    char err[200] = "";
    const char *bn = kite_cmd_ext(&req->cmd, "brokerName");
    int rc = kite_rmsg_decode_all(req->cmd.body, req->cmd.body_len, bn ? bn : "", c->retry_topic,
                                  NULL, &msgs, &n, err, sizeof err);
    if (stopping(c) || rc != KITE_OK || n != 1) {
        kite_rmsgs_free(msgs, n);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                            stopping(c) ? "the consumer is shutting down"
                            : err[0]    ? err
                                        : "the body must hold exactly one message");
        return;
    }
    creq *r = kite_xcalloc(1, sizeof *r);
    r->msgs = msgs;
    r->n = 1;
    r->direct = req;
    kite_pc_wq_push_list(c, r, r, 1);
}

/* ---- CONSUME_MESSAGE_DIRECTLY, answered by a worker ---- */

void kite_pc_run_direct(kite_push_consumer *c, creq *r)
{
    int64_t t0 = kite_mono_ms();
    const kite_message_ext *m = &r->msgs[0]->m;
    kite_consume_status st;
    if (c->ocb)
        st = c->ocb(&m, 1, c->ocb_arg) == KITE_ORDERLY_SUCCESS ? KITE_CONSUME_SUCCESS
                                                               : KITE_RECONSUME_LATER;
    else
        st = c->cb(&m, 1, c->cb_arg);
    kite_buf out = KITE_BUF_INIT;
    kite_jw w;
    kite_jw_init(&w, &out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "autoCommit");
    kite_jw_bool(&w, 1);
    kite_jw_key(&w, "consumeResult");
    kite_jw_str(&w, st == KITE_CONSUME_SUCCESS ? "CR_SUCCESS" : "CR_LATER");
    kite_jw_key(&w, "order");
    kite_jw_bool(&w, c->ocb != NULL);
    kite_jw_key(&w, "remark");
    kite_jw_str(&w,
                st == KITE_CONSUME_SUCCESS ? "consumed" : "the listener returned RECONSUME_LATER");
    kite_jw_key(&w, "spentTimeMills");
    kite_jw_int(&w, kite_mono_ms() - t0);
    kite_jw_obj_end(&w);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &r->direct->cmd, RS_SUCCESS, NULL);
    size_t len = 0;
    char *p = kite_buf_steal(&out, &len);
    kite_cmd_set_body_own(&resp, p, len);
    kite_rpc_reply(r->direct, &resp);
    r->direct = NULL;
    kite_pc_creq_free(r);
}

void kite_pc_requests_register(kite_push_consumer *c)
{
    kite_rpc_client_handle(rpc(c), RC_NOTIFY_CONSUMER_IDS_CHANGED, h_notify, c);
    kite_rpc_client_handle(rpc(c), RC_RESET_CONSUMER_CLIENT_OFFSET, h_reset, c);
    kite_rpc_client_handle(rpc(c), RC_GET_CONSUMER_RUNNING_INFO, h_running_info, c);
    kite_rpc_client_handle(rpc(c), RC_CONSUME_MESSAGE_DIRECTLY, h_direct, c);
}
