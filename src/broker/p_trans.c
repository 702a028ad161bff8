/* p_trans.c - END_TRANSACTION (37): a producer commits or rolls back the half message it
 * stored earlier (docs/wire.md §5.5, §10.2).
 *
 * Validation, each failure answered SYSTEM_ERROR with a remark saying what was wrong
 * (oneway requests, the normal case, are never answered): mandatory header fields and
 * numbers; commitOrRollback one of 0 / 8 / 12; the consume-queue entry of the half topic
 * at tranStateTableOffset must point at commitLogOffset (so a forged offset into some
 * body can never pass), the record there must decode, be in RMQ_SYS_TRANS_HALF_TOPIC and
 * carry PGROUP equal to producerGroup.
 * Commit: the message is rebuilt for REAL_TOPIC / REAL_QID (those two, TRAN_MSG and the
 * broker's TRAN_PREPARED_QUEUE_OFFSET removed; sysflag transaction bits = COMMIT;
 * PREPAREDTRANSACTIONOFFSET = the half's commit-log offset; body, flag, born data,
 * reconsume count and other properties kept) and stored through the normal put, so it
 * gets a consume-queue entry; a DELAY property sends it through SCHEDULE_TOPIC_XXXX like
 * any delayed message. Rollback stores nothing. Both then queue the op (trans.c: one op
 * record per read names every half resolved in it). A half already resolved
 * (the resolved set of trans.c) is answered SUCCESS without storing anything again, so
 * a repeated commit never makes a second copy. A check copy (or an immunity re-append)
 * names the first half of its chain in TRAN_PREPARED_QUEUE_OFFSET; ending the copy
 * resolves that half too, once the half there is seen to carry the same PGROUP and
 * UNIQ_KEY (a producer may set the property on its own half). A SUCCESS answer is sent
 * only once the pending op batch is appended (it waits for the loop's pre-write hook
 * when ops are pending), so an answered commit or rollback is in the commit log as
 * before. commitOrRollback 0 is ignored. Puts use wait=0 and complete on the loop thread
 * (the request is oneway: nobody waits for durability). Loop thread. */
#include "base/log.h"
#include "acl/acl.h"
#include "broker/acl.h"
#include "broker/trans.h"
#include "codec/record.h"
#include "proto/codes.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kite_broker *B(void *arg) { return arg; }

static void answer(kite_rpc_req *req, int code, const char *remark)
{
    if (code != RS_SUCCESS)
        KLOG_DEBUG("broker", "END_TRANSACTION from %s refused: %s", kite_conn_peer(req->conn),
                   remark ? remark : "");
    kite_rpc_reply_code(req, code, remark); /* dropped by the server for oneway requests */
}

/* The half record for (qoff, phys). Looked up by commit-log offset (the consume queue
 * may not have the entry yet: producers end a transaction right after the send), then
 * checked field by field; when the half queue already has its entry at qoff, that entry
 * must point at phys too. KITE_OK with *seg and *r filled (release seg), or KITE_ERR
 * after answering (refused). */
static int find_half(kite_broker *b, kite_rpc_req *req, int64_t qoff, int64_t phys,
                     kite_store_seg *seg, kite_record *r)
{
    int64_t next;
    const char *why = "";
    if (qoff < 0 || phys < 0 || kite_store_get_by_offset(b->store, phys, seg, &next) != 0) {
        bk_replyf(req, RS_SYSTEM_ERROR,
                  "Find prepared transaction message failed: no message at commitLogOffset %lld",
                  (long long)phys);
        return KITE_ERR;
    }
    if (kite_record_decode(seg->data, seg->len, r, 0, &why) <= 0 ||
        r->topic_len != strlen(KITE_TOPIC_TRANS_HALF) ||
        memcmp(r->topic, KITE_TOPIC_TRANS_HALF, r->topic_len) != 0) {
        kite_store_seg_release(seg);
        if (!why) why = ""; /* the decoder may clear it on success */
        bk_replyf(
            req, RS_SYSTEM_ERROR,
            "Find prepared transaction message failed: the record at %lld is not a half message%s%s",
            (long long)phys, *why ? ": " : "", why);
        return KITE_ERR;
    }
    if (r->phys_offset != phys) {
        kite_store_seg_release(seg);
        bk_replyf(req, RS_SYSTEM_ERROR, "The commit log offset wrong: the record at %lld says %lld",
                  (long long)phys, (long long)r->phys_offset);
        return KITE_ERR;
    }
    if (r->queue_offset != qoff) {
        kite_store_seg_release(seg);
        bk_replyf(
            req, RS_SYSTEM_ERROR,
            "The transaction state table offset wrong: half message at %lld has queue offset %lld, not %lld",
            (long long)phys, (long long)r->queue_offset, (long long)qoff);
        return KITE_ERR;
    }
    if (qoff < kite_store_max_offset(b->store, KITE_TOPIC_TRANS_HALF, 0)) {
        kite_get_result gr;
        memset(&gr, 0, sizeof gr);
        kite_store_get_messages(b->store, KITE_TOPIC_TRANS_HALF, 0, qoff, 1, 1, NULL, 0, &gr);
        int ok = gr.status == KITE_GET_FOUND && gr.count == 1 && gr.segs[0].queue_offset == qoff &&
                 gr.segs[0].phys_offset == phys;
        kite_get_result_release(&gr);
        if (!ok) {
            kite_store_seg_release(seg);
            bk_replyf(req, RS_SYSTEM_ERROR,
                      "The commit log offset wrong: half queue entry %lld does not point at %lld",
                      (long long)qoff, (long long)phys);
            return KITE_ERR;
        }
    }
    return KITE_OK;
}

/* 1 when both records carry the same value of the property, or both lack it. */
static int same_prop(const kite_record *a, const kite_record *b, const char *name)
{
    size_t al = 0, bl = 0;
    const char *av = kite_msgprop_get(a->props, a->props_len, name, &al);
    const char *bv = kite_msgprop_get(b->props, b->props_len, name, &bl);
    if (!av || !bv) return !av && !bv;
    return al == bl && memcmp(av, bv, al) == 0;
}

/* 1 when the half at queue offset orig is the first of r's chain: same PGROUP (r's was
 * checked against the request) and UNIQ_KEY. A half no longer stored is never walked
 * again, so it needs no op. */
static int chain_head_ok(kite_broker *b, int64_t orig, const kite_record *r)
{
    kite_get_result gr;
    memset(&gr, 0, sizeof gr);
    kite_store_get_messages(b->store, KITE_TOPIC_TRANS_HALF, 0, orig, 1, 1, NULL, 0, &gr);
    int ok = 0;
    kite_record h;
    const char *why;
    if (gr.status == KITE_GET_FOUND && gr.count == 1 && gr.segs[0].queue_offset == orig &&
        kite_record_decode(gr.segs[0].data, gr.segs[0].len, &h, 0, &why) > 0)
        ok = same_prop(&h, r, "PGROUP") && same_prop(&h, r, "UNIQ_KEY");
    kite_get_result_release(&gr);
    if (!ok)
        KLOG_DEBUG(
            "broker",
            "END_TRANSACTION: TRAN_PREPARED_QUEUE_OFFSET %lld does not name a half of the same "
            "transaction; ignored",
            (long long)orig);
    return ok;
}

/* Stores the committed copy. KITE_OK, or with a remark KITE_ECORRUPT (the half has no
 * valid destination) or KITE_EIO (the store refused the put). */
static int commit(kite_broker *b, const kite_record *r, char *remark, size_t rlen)
{
    size_t tl, ql, vl;
    const char *rt = kite_msgprop_get(r->props, r->props_len, "REAL_TOPIC", &tl);
    const char *rq = kite_msgprop_get(r->props, r->props_len, "REAL_QID", &ql);
    char topic[300], qbuf[16];
    if (!rt || !rq || tl >= sizeof topic || ql >= sizeof qbuf) {
        snprintf(remark, rlen, "the half message has no valid REAL_TOPIC/REAL_QID");
        return KITE_ECORRUPT;
    }
    memcpy(topic, rt, tl);
    topic[tl] = 0;
    memcpy(qbuf, rq, ql);
    qbuf[ql] = 0;
    char *end;
    long qid = strtol(qbuf, &end, 10);
    if (!bk_topic_name_ok(topic) || end == qbuf || *end || qid < 0 || qid > 65535) {
        snprintf(remark, rlen, "the half message has no valid REAL_TOPIC/REAL_QID");
        return KITE_ECORRUPT;
    }
    static const char *const drop[] = { "REAL_TOPIC", "REAL_QID", "TRAN_MSG",
                                        "TRAN_PREPARED_QUEUE_OFFSET", NULL };
    kite_buf props = KITE_BUF_INIT;
    kite_msgprop_copy_without(r->props, r->props_len, drop, &props);
    const char *store_topic = topic;
    int32_t store_qid = (int32_t)qid;
    const char *d = kite_msgprop_get(props.data, props.len, "DELAY", &vl);
    int level = d ? atoi(d) : 0;
    if (level > 0) {
        int max = bk_delay_levels(b);
        if (level > max) level = max;
        kite_msgprop_append_str(&props, "REAL_TOPIC", topic);
        kite_msgprop_append_i64(&props, "REAL_QID", qid);
        store_topic = KITE_TOPIC_SCHEDULE;
        store_qid = level - 1;
    }
    kite_store_msg m;
    bk_msg_from_record(&m, r, store_topic, store_qid, &props);
    m.sysflag = (m.sysflag & ~KITE_SYSFLAG_TX_MASK) | KITE_SYSFLAG_TX_COMMIT;
    m.prepared_tx_offset = r->phys_offset;
    kite_put_result res;
    kite_store_put_wait(b->store, &m, &res);
    kite_buf_free(&props);
    if (res.status != KITE_PUT_OK && res.status != KITE_PUT_FLUSH_DISK_TIMEOUT) {
        snprintf(remark, rlen, "storing the committed message failed: %s",
                 kite_put_status_name(res.status));
        return KITE_EIO;
    }
    atomic_fetch_add(&b->put_total, 1);
    bk_stat_add(b, "TOPIC_PUT_NUMS", topic, 1);
    bk_stat_add(b, "TOPIC_PUT_SIZE", topic, r->body_len);
    return KITE_OK;
}

static void h_end_transaction(kite_rpc_req *req, void *arg)
{
    kite_broker *b = B(arg);
    const char *group;
    int64_t qoff, phys;
    int32_t type;
    if (!(group = bk_need(req, "producerGroup")) ||
        bk_need_i64(req, "tranStateTableOffset", &qoff) ||
        bk_need_i64(req, "commitLogOffset", &phys) || bk_need_i32(req, "commitOrRollback", &type))
        return;
    int from_check = kite_cmd_ext_bool(&req->cmd, "fromTransactionCheck", 0);
    if (type == KITE_SYSFLAG_TX_NOT) {
        KLOG_DEBUG("broker",
                   "END_TRANSACTION UNKNOWN for half %lld of %s%s: left for the check-back",
                   (long long)qoff, group, from_check ? " (check answer)" : "");
        answer(req, RS_SUCCESS, NULL);
        return;
    }
    if (type != KITE_SYSFLAG_TX_COMMIT && type != KITE_SYSFLAG_TX_ROLLBACK) {
        bk_replyf(req, RS_SYSTEM_ERROR, "commitOrRollback must be 0, 8 or 12, not %d", (int)type);
        return;
    }
    if (!(b->cfg.broker_permission & KITE_PERM_WRITE)) {
        bk_replyf(req, RS_NO_PERMISSION, "the broker[%.100s] sending message is forbidden",
                  b->cfg.broker_name);
        return;
    }
    kite_store_seg seg;
    kite_record r;
    if (find_half(b, req, qoff, phys, &seg, &r) != KITE_OK) return;
    size_t gl;
    const char *pg = kite_msgprop_get(r.props, r.props_len, "PGROUP", &gl);
    if (!pg || gl != strlen(group) || memcmp(pg, group, gl) != 0) {
        bk_replyf(req, RS_SYSTEM_ERROR,
                  "The producer group wrong: half message %lld belongs to group %.*s, not %.200s",
                  (long long)qoff, pg ? (int)(gl > 200 ? 200 : gl) : 6, pg ? pg : "(none)", group);
        kite_store_seg_release(&seg);
        return;
    }
    if (b->acl) { /* ACL: the half message's topic needs PUB (its topic is known only now) */
        size_t tl;
        const char *rt = kite_msgprop_get(r.props, r.props_len, "REAL_TOPIC", &tl);
        char topic[256];
        snprintf(topic, sizeof topic, "%.*s", rt ? (int)(tl > 255 ? 255 : tl) : 0, rt ? rt : "");
        if (!bk_acl_allow_topic(b, req, topic, KITE_ACL_PERM_PUB)) {
            kite_store_seg_release(&seg);
            return;
        }
    }
    /* A check copy, or a copy re-appended during its immunity, names the first half. */
    int64_t orig = -1;
    size_t ol;
    const char *o = kite_msgprop_get(r.props, r.props_len, "TRAN_PREPARED_QUEUE_OFFSET", &ol);
    if (o && ol > 0 && ol < 20) {
        char ob[24];
        memcpy(ob, o, ol);
        ob[ol] = 0;
        char *end;
        long long v = strtoll(ob, &end, 10);
        if (!*end && v >= 0) orig = v;
    }
    int has_orig = orig >= 0 && orig != qoff && chain_head_ok(b, orig, &r);
    if (bk_trans_is_resolved(b, qoff) || (has_orig && bk_trans_is_resolved(b, orig))) {
        KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker",
                     "END_TRANSACTION %s for half %lld of %s: already resolved, nothing stored",
                     type == KITE_SYSFLAG_TX_COMMIT ? "COMMIT" : "ROLLBACK", (long long)qoff,
                     group);
        kite_store_seg_release(&seg);
        bk_trans_answer_after_ops(b, req); /* its op may still be in the pending batch */
        return;
    }
    char remark[256];
    if (type == KITE_SYSFLAG_TX_COMMIT && commit(b, &r, remark, sizeof remark) != KITE_OK) {
        kite_store_seg_release(&seg);
        answer(req, RS_SYSTEM_ERROR, remark);
        return;
    }
    kite_store_seg_release(&seg);
    bk_trans_queue_op(b, qoff);
    if (has_orig) bk_trans_queue_op(b, orig);
    KLOG_DEBUG("broker", "END_TRANSACTION %s for half %lld of %s%s",
               type == KITE_SYSFLAG_TX_COMMIT ? "COMMIT" : "ROLLBACK", (long long)qoff, group,
               from_check ? " (check answer)" : "");
    bk_trans_answer_after_ops(b, req);
}

void bk_register_trans_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_END_TRANSACTION, h_end_transaction, b);
}
