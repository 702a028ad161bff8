/* p_query.c - QUERY_MESSAGE (12): messages by KEYS word or UNIQ_KEY through the
 * store's hash index, answered with the stored records back to back (sent from the
 * mapped commit log) plus indexLastUpdateTimestamp / indexLastUpdatePhyoffset;
 * QUERY_NOT_FOUND (22) when nothing matches. With _UNIQUE_KEY_QUERY=true the result is
 * capped at 32 like Java's defaultQueryMaxNum. Also TRIGGER_DELETE_FILES (27) and
 * DELETE_EXPIRED_COMMITLOG (329, mqadmin deleteExpiredCommitLog), which Java serves alike:
 * one cleaning pass of expired files now.
 * docs/wire.md §6.8. Loop thread. */
#include "broker/broker.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void h_query_message(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    const char *topic, *key;
    int32_t max_num;
    int64_t begin, end;
    if (!(topic = bk_need(req, "topic")) || !(key = bk_need(req, "key")) ||
        bk_need_i32(req, "maxNum", &max_num) || bk_need_i64(req, "beginTimestamp", &begin) ||
        bk_need_i64(req, "endTimestamp", &end))
        return;
    if (kite_cmd_ext_bool(&req->cmd, "_UNIQUE_KEY_QUERY", 0) && (max_num <= 0 || max_num > 32))
        max_num = 32;
    if (max_num <= 0) max_num = 32;
    if (max_num > 64 * 1024) max_num = 64 * 1024;
    kite_get_result gr;
    memset(&gr, 0, sizeof gr);
    int64_t last_ts = 0, last_phys = 0;
    kite_store_query_by_key(b->store, topic, key, max_num, begin, end, &gr, &last_ts, &last_phys);
    if (gr.count == 0) {
        kite_get_result_release(&gr);
        kite_rpc_reply_code(req, RS_QUERY_NOT_FOUND,
                            "can not find message, maybe time range not correct");
        return;
    }
    size_t n;
    kite_seg *segs = bk_segs_take(&gr, &n);
    kite_get_result_release(&gr);
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, RS_SUCCESS, NULL);
    kite_cmd_set_ext_i64(&resp, "indexLastUpdateTimestamp", last_ts);
    kite_cmd_set_ext_i64(&resp, "indexLastUpdatePhyoffset", last_phys);
    kite_rpc_reply_segs(req, &resp, segs, n);
    free(segs);
}

static void h_trigger_delete(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    if (!bk_admin_allowed(b, req)) return;
    kite_store_trigger_delete(b->store);
    kite_rpc_reply_code(req, RS_SUCCESS, NULL);
}

void bk_register_query_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_QUERY_MESSAGE, h_query_message, b);
    kite_rpc_server_handle(b->srv, RC_TRIGGER_DELETE_FILES, h_trigger_delete, b);
    kite_rpc_server_handle(b->srv, RC_DELETE_EXPIRED_COMMITLOG, h_trigger_delete, b);
}
