/* trans.c - transaction state of kite-broker: the set of resolved half messages, op
 * records, and the check-back service (docs/wire.md §10.3-§10.5; trans.h).
 *
 * Owns: the resolved set (one bit per half-queue offset, from a base that follows the
 * half queue's min offset, so memory is 1 bit per retained half), the op-record writer
 * (the pending batch and the END_TRANSACTION answers waiting for it), the check-back
 * timer and its progress (offsets of group CID_RMQ_SYS_TRANS on the half and op queues,
 * saved with consumerOffset.json).
 * Not owned: storing half messages (p_send.c), END_TRANSACTION (p_trans.c), producer
 * channels (clients.c).
 *
 * Check-back, every transactionCheckInterval (master only). A "pass" walks the half
 * queue from the saved half progress; it runs in slices of at most SLICE_HALVES
 * records or SLICE_MS milliseconds, re-armed 1 ms apart, so the loop never stalls:
 *   1. op records not read yet are read into the resolved set; each one is queued with
 *      the highest half offset it names, and the op progress advances over the ops
 *      that only name halves below the half progress;
 *   2. each half: resolved (itself, or the half named by its TRAN_PREPARED_QUEUE_OFFSET)
 *      -> skip; stored after the pass began -> stop (so the last check copy gets a
 *      whole interval to be answered before it is discarded; Java discards it when
 *      reached in the same pass); TRANSACTION_CHECK_TIMES >= transactionCheckMax, or
 *      stored more than fileReservedTime ago -> copied to TRANS_CHECK_MAX_TIME_TOPIC
 *      and skipped for good; younger than its immunity
 *      (transactionTimeOut, or CHECK_IMMUNITY_TIME_IN_SECONDS when larger) -> stop,
 *      unless it carries that property, then it is re-appended (with
 *      TRAN_PREPARED_QUEUE_OFFSET) so the walk goes on; otherwise a copy with
 *      TRANSACTION_CHECK_TIMES + 1 is appended and CHECK_TRANSACTION_STATE (oneway)
 *      for the copy goes to a producer channel of its PGROUP, round robin (none online:
 *      the copy is still made, so an unanswered half is discarded after the limit).
 * The producer's END_TRANSACTION echoes the copy's offsets, so it resolves the copy;
 * older copies lie below the progress and are normally never looked at again. Every
 * copy also names the first half of its chain (TRAN_PREPARED_QUEUE_OFFSET), which the
 * answer resolves too (p_trans.c), so a walk that meets old copies again - restarted
 * from an older saved progress after a crash - skips them instead of asking twice.
 *
 * Op batches: a resolved half is marked at once and its offset joins the pending op
 * body ("n,n,", RocketMQ 5's batched form); the body is appended as one op record by the
 * loop's pre-write hook (bk_store_prewrite: after the frames of a read, after a task batch,
 * at the end of an iteration), or at once when the next offset would take it past
 * OP_BODY_MAX bytes. An answered END_TRANSACTION is held until every op queued before its
 * answer is appended, so an answer still means "the op is in the commit log"; the held
 * answers leave with the other answers of their read. Oneway ones (the normal case) only
 * join the batch.
 *
 * Durability: the resolved set is memory, rebuilt at start from the op queue (from the
 * op progress, and at most 100,000 op records before it so that duplicate commits of
 * recently resolved halves stay idempotent across restarts). Loop thread only. */
#include "broker/trans.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/record.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLICE_HALVES   256
#define SLICE_MS       10
#define SLICE_OPS      4096
#define REBUILD_WINDOW 100000
#define RSET_MAX_BITS  ((int64_t)1 << 31) /* 256 MiB of bits: far beyond any real backlog */
#define OP_BODY_MAX    4096               /* RocketMQ 5's transactionOpMsgMaxSize */

typedef struct bk_trans {
    kite_broker *b;
    /* resolved set: bit (q - base) of w */
    int64_t base;
    uint64_t *w;
    size_t nw;
    /* progress */
    int64_t half_progress, op_progress, op_cursor;
    /* ops read at or after op_progress: their offset and the highest half they name */
    int64_t *fo_off, *fo_max;
    size_t fo_head, fo_n, fo_cap;
    /* passes */
    int in_pass;
    int64_t pass_start; /* wall ms */
    kite_ev_timer *timer, *cont;
    unsigned rr; /* round robin over producer channels */
    int64_t checks, discards;
    /* op batch: offsets resolved but not appended yet, and the answers waiting for them */
    char op_body[OP_BODY_MAX];
    size_t op_len;
    int op_n;
    kite_rpc_req **held;
    size_t nheld, capheld;
    int64_t op_records, op_halves;
} bk_trans;

/* ---- the resolved set ---- */

static int rset_has(const bk_trans *t, int64_t q)
{
    if (q < t->base) return 0;
    int64_t bit = q - t->base;
    size_t i = (size_t)(bit >> 6);
    return i < t->nw && ((t->w[i] >> (bit & 63)) & 1);
}

static void rset_set(bk_trans *t, int64_t q, int on)
{
    if (q < t->base) return;
    int64_t bit = q - t->base;
    if (bit >= RSET_MAX_BITS) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                     "half offset %lld is too far ahead of the half queue (base %lld); not tracked",
                     (long long)q, (long long)t->base);
        return;
    }
    size_t i = (size_t)(bit >> 6);
    if (i >= t->nw) {
        if (!on) return;
        size_t n = t->nw ? t->nw * 2 : 64;
        while (n <= i) n *= 2;
        uint64_t *w = kite_xreallocarray(t->w, n, sizeof *w);
        memset(w + t->nw, 0, (n - t->nw) * sizeof *w);
        t->w = w;
        t->nw = n;
    }
    if (on)
        t->w[i] |= (uint64_t)1 << (bit & 63);
    else
        t->w[i] &= ~((uint64_t)1 << (bit & 63));
}

/* Forgets offsets below min_q (whole words only). */
static void rset_prune(bk_trans *t, int64_t min_q)
{
    if (min_q <= t->base + 64) return;
    size_t drop = (size_t)((min_q - t->base) >> 6);
    if (drop > t->nw) drop = t->nw;
    memmove(t->w, t->w + drop, (t->nw - drop) * sizeof *t->w);
    memset(t->w + (t->nw - drop), 0, drop * sizeof *t->w);
    t->base += (int64_t)drop * 64;
}

int bk_trans_is_resolved(kite_broker *b, int64_t qoff)
{
    return b->trans && rset_has(b->trans, qoff);
}

void bk_trans_mark(kite_broker *b, int64_t qoff, int on)
{
    if (b->trans) rset_set(b->trans, qoff, on);
}

/* ---- op records ---- */

int bk_trans_parse_op_body(const uint8_t *body, size_t len, void (*fn)(void *arg, int64_t qoff),
                           void *arg)
{
    /* Validate first, then call: a malformed body resolves nothing. */
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i = 0;
        n = 0;
        while (i < len) {
            size_t j = i;
            int64_t v = 0;
            while (j < len && body[j] >= '0' && body[j] <= '9') {
                if (v > (INT64_MAX - 9) / 10) return KITE_ECORRUPT;
                v = v * 10 + (body[j] - '0');
                j++;
            }
            if (j == i || (j < len && body[j] != ',')) return KITE_ECORRUPT;
            if (pass == 1) fn(arg, v);
            n++;
            i = j < len ? j + 1 : j;
        }
        if (n == 0) return KITE_ECORRUPT;
    }
    return n;
}

static void put_local(kite_broker *b, kite_store_msg *m, const char *topic, int32_t qid)
{
    memset(m, 0, sizeof *m);
    m->topic = topic;
    m->topic_len = strlen(topic);
    m->queue_id = qid;
    m->born_ts = kite_wall_ms();
    memcpy(m->born_ip4, b->ip4, 4);
    m->born_port = b->port;
    m->wait = 0; /* completes inline on the loop; durable with the next flush */
}

/* Appends the pending op body as one record, then answers the held requests. */
static void flush_ops(bk_trans *t)
{
    kite_broker *b = t->b;
    if (t->op_n > 0) {
        kite_buf props = KITE_BUF_INIT;
        kite_msgprop_append_str(&props, "TAGS", "d"); /* op records are tagged "d", as Java's */
        kite_store_msg m;
        put_local(b, &m, KITE_TOPIC_TRANS_OP_HALF, 0);
        m.body = t->op_body;
        m.body_len = (uint32_t)t->op_len;
        m.props = props.data;
        m.props_len = (uint32_t)props.len;
        kite_put_result res;
        kite_store_put_wait(b->store, &m, &res);
        kite_buf_free(&props);
        if (res.status != KITE_PUT_OK && res.status != KITE_PUT_FLUSH_DISK_TIMEOUT) {
            int shown = (int)(t->op_len > 200 ? 200 : t->op_len);
            KLOG_LIMITED(
                1, KITE_LOG_WARN, "broker",
                "op record for %d half message(s) (%.*s) refused by the store (%s): they may be checked again "
                "after a restart",
                t->op_n, shown, t->op_body, kite_put_status_name(res.status));
        } else {
            t->op_records++;
            t->op_halves += t->op_n;
        }
        t->op_len = 0;
        t->op_n = 0;
    }
    /* Answered whatever the store said (the commit itself was stored), as before. */
    size_t n = t->nheld;
    t->nheld = 0;
    for (size_t i = 0; i < n; i++) kite_rpc_reply_code(t->held[i], RS_SUCCESS, NULL);
}

void bk_trans_flush_ops(kite_broker *b)
{
    if (b->trans) flush_ops(b->trans);
}

void bk_trans_queue_op(kite_broker *b, int64_t qoff)
{
    bk_trans *t = b->trans;
    if (!t || qoff < 0) return;
    rset_set(t, qoff, 1);
    char num[24];
    int n = snprintf(num, sizeof num, "%lld,", (long long)qoff);
    if (t->op_len + (size_t)n > sizeof t->op_body) flush_ops(t);
    memcpy(t->op_body + t->op_len, num, (size_t)n);
    t->op_len += (size_t)n;
    t->op_n++;
    kite_ev_prewrite_arm(b->ev); /* bk_store_prewrite appends the batch */
}

void bk_trans_answer_after_ops(kite_broker *b, kite_rpc_req *req)
{
    bk_trans *t = b->trans;
    if (!t || (t->op_n == 0 && t->nheld == 0) || kite_cmd_is_oneway(&req->cmd)) {
        kite_rpc_reply_code(req, RS_SUCCESS, NULL); /* a oneway request is only finished */
        return;
    }
    if (t->nheld == t->capheld) {
        t->capheld = t->capheld ? t->capheld * 2 : 64;
        t->held = kite_xreallocarray(t->held, t->capheld, sizeof *t->held);
    }
    t->held[t->nheld++] = req;
}

typedef struct op_scan {
    bk_trans *t;
    int64_t max;
} op_scan;

static void op_seen(void *arg, int64_t q)
{
    op_scan *s = arg;
    rset_set(s->t, q, 1);
    if (q > s->max) s->max = q;
}

static void fifo_push(bk_trans *t, int64_t off, int64_t max)
{
    if (t->fo_head > 0 && t->fo_head * 2 >= t->fo_n) {
        memmove(t->fo_off, t->fo_off + t->fo_head, (t->fo_n - t->fo_head) * sizeof *t->fo_off);
        memmove(t->fo_max, t->fo_max + t->fo_head, (t->fo_n - t->fo_head) * sizeof *t->fo_max);
        t->fo_n -= t->fo_head;
        t->fo_head = 0;
    }
    if (t->fo_n == t->fo_cap) {
        t->fo_cap = t->fo_cap ? t->fo_cap * 2 : 256;
        t->fo_off = kite_xreallocarray(t->fo_off, t->fo_cap, sizeof *t->fo_off);
        t->fo_max = kite_xreallocarray(t->fo_max, t->fo_cap, sizeof *t->fo_max);
    }
    t->fo_off[t->fo_n] = off;
    t->fo_max[t->fo_n] = max;
    t->fo_n++;
}

/* Up to 32 records of queue 0 of topic from *cursor into gr (release it after use). A
 * cursor below the queue's minimum (cleaned files) or far beyond its end moves to where the
 * store says reading can go on. Returns 1 with records, 0 when there are none (caught up). */
static int fetch_at(kite_broker *b, const char *topic, int64_t *cursor, kite_get_result *gr)
{
    for (;;) {
        memset(gr, 0, sizeof *gr);
        kite_store_get_messages(b->store, topic, 0, *cursor, 32, 1 << 20, NULL, 0, gr);
        if (gr->status == KITE_GET_OFFSET_TOO_SMALL ||
            gr->status == KITE_GET_OFFSET_OVERFLOW_BADLY) {
            *cursor = gr->next_begin_offset;
            kite_get_result_release(gr);
            continue;
        }
        if (gr->status == KITE_GET_FOUND) return 1;
        kite_get_result_release(gr);
        return 0;
    }
}

/* Reads at most limit op records from the cursor. Returns 1 when caught up. */
static int read_ops(bk_trans *t, int limit)
{
    kite_broker *b = t->b;
    while (limit > 0) {
        kite_get_result gr;
        if (!fetch_at(b, KITE_TOPIC_TRANS_OP_HALF, &t->op_cursor, &gr)) return 1;
        for (size_t i = 0; i < gr.count; i++) {
            kite_record r;
            const char *why;
            op_scan s = { t, -1 };
            if (kite_record_decode(gr.segs[i].data, gr.segs[i].len, &r, 0, &why) <= 0 ||
                bk_trans_parse_op_body(r.body, r.body_len, op_seen, &s) < 0)
                KLOG_WARN("broker", "op record at queue offset %lld is unreadable; ignored",
                          (long long)gr.segs[i].queue_offset);
            if (gr.segs[i].queue_offset >= t->op_progress)
                fifo_push(t, gr.segs[i].queue_offset, s.max);
            t->op_cursor = gr.segs[i].queue_offset + 1;
            limit--;
        }
        kite_get_result_release(&gr);
    }
    return 0;
}

/* Op progress: the first op that still names a half at or above the half progress. */
static void advance_op_progress(bk_trans *t)
{
    while (t->fo_head < t->fo_n && t->fo_max[t->fo_head] < t->half_progress) t->fo_head++;
    t->op_progress = t->fo_head < t->fo_n ? t->fo_off[t->fo_head] : t->op_cursor;
}

static void save_progress(bk_trans *t)
{
    bk_offset_set(t->b, KITE_TOPIC_TRANS_HALF, KITE_GROUP_TRANS, 0, t->half_progress);
    bk_offset_set(t->b, KITE_TOPIC_TRANS_OP_HALF, KITE_GROUP_TRANS, 0, t->op_progress);
}

/* ---- the check-back walk ---- */

static int prop_i64(const kite_record *r, const char *name, int64_t *out)
{
    size_t vl;
    const char *v = kite_msgprop_get(r->props, r->props_len, name, &vl);
    if (!v || vl == 0 || vl > 19) return 0;
    int64_t x = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 1;
}

/* Copies r into topic/qid with props (r's other fields kept). KITE_OK, or KITE_EIO when
 * the store refused the put (res->status says why). */
static int put_copy(kite_broker *b, const kite_record *r, const char *topic, int32_t qid,
                    const kite_buf *props, kite_put_result *res)
{
    kite_store_msg m;
    bk_msg_from_record(&m, r, topic, qid, props);
    kite_store_put_wait(b->store, &m, res);
    return res->status == KITE_PUT_OK || res->status == KITE_PUT_FLUSH_DISK_TIMEOUT ? KITE_OK
                                                                                    : KITE_EIO;
}

static void discard(bk_trans *t, const kite_record *r, int64_t q, int64_t times)
{
    kite_broker *b = t->b;
    if (!bk_topic_get(b, KITE_TOPIC_TRANS_CHECK_MAX))
        bk_topic_put(b, KITE_TOPIC_TRANS_CHECK_MAX, 1, 1, KITE_PERM_READ | KITE_PERM_WRITE, 0,
                     "SINGLE_TAG", 0);
    kite_buf props = KITE_BUF_INIT;
    kite_buf_append(&props, r->props, r->props_len);
    kite_put_result res;
    if (put_copy(b, r, KITE_TOPIC_TRANS_CHECK_MAX, 0, &props, &res) != KITE_OK)
        KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                     "half %lld: copy to %s refused by the store (%s); dropped", (long long)q,
                     KITE_TOPIC_TRANS_CHECK_MAX, kite_put_status_name(res.status));
    kite_buf_free(&props);
    size_t gl;
    const char *g = kite_msgprop_get(r->props, r->props_len, "PGROUP", &gl);
    KLOG_LIMITED(KLOG_CHANGES, KITE_LOG_INFO, "broker",
                 "half message %lld of group %.*s discarded to %s after %lld check(s)",
                 (long long)q, g ? (int)gl : 1, g ? g : "?", KITE_TOPIC_TRANS_CHECK_MAX,
                 (long long)times);
    t->discards++;
}

/* Re-appends an immune half so the walk can pass it. KITE_OK, or KITE_EIO when the store
 * refused it. */
static int reappend(bk_trans *t, const kite_record *r, int64_t q)
{
    int64_t orig;
    if (!prop_i64(r, "TRAN_PREPARED_QUEUE_OFFSET", &orig)) orig = q;
    static const char *const drop[] = { "TRAN_PREPARED_QUEUE_OFFSET", NULL };
    kite_buf props = KITE_BUF_INIT;
    kite_msgprop_copy_without(r->props, r->props_len, drop, &props);
    kite_msgprop_append_i64(&props, "TRAN_PREPARED_QUEUE_OFFSET", orig);
    kite_put_result res;
    int rc = put_copy(t->b, r, KITE_TOPIC_TRANS_HALF, 0, &props, &res);
    kite_buf_free(&props);
    return rc;
}

/* The CHECK_TRANSACTION_STATE body: the copy as one V1 record in its real topic/queue.
 * KITE_OK, or KITE_ETOOBIG when it cannot be one record. */
static int encode_check_body(kite_broker *b, const kite_record *r, const kite_put_result *res,
                             const kite_buf *props, const char *topic, size_t topic_len,
                             int32_t qid, kite_buf *out)
{
    kite_record e;
    memset(&e, 0, sizeof e);
    e.magic = KITE_REC_MAGIC_V1;
    e.queue_id = qid;
    e.flag = r->flag;
    e.queue_offset = res->queue_offset;
    e.phys_offset = res->phys_offset;
    e.sysflag = r->sysflag & ~(KITE_SYSFLAG_BORNHOST_V6 | KITE_SYSFLAG_STOREHOST_V6);
    e.born_ts = r->born_ts;
    memcpy(e.born_addr, r->born_addr, 4);
    e.born_port = r->born_port;
    e.store_ts = res->store_ts;
    memcpy(e.store_addr, b->ip4, 4);
    e.store_port = b->port;
    e.reconsume_times = r->reconsume_times;
    e.body = r->body;
    e.body_len = r->body_len;
    e.topic = topic;
    e.topic_len = (uint32_t)topic_len;
    e.props = props->data ? props->data : "";
    e.props_len = (uint32_t)props->len;
    size_t size = kite_record_size(KITE_REC_MAGIC_V1, e.sysflag, e.body_len, topic_len, props->len);
    if (size == 0) return KITE_ETOOBIG;
    kite_buf_reserve(out, size);
    size_t n = kite_record_encode(&e, (uint8_t *)out->data, size);
    if (n != size) return KITE_ETOOBIG;
    out->len = n;
    return KITE_OK;
}

static void send_check(bk_trans *t, const kite_record *r, const kite_put_result *res,
                       const kite_buf *props)
{
    kite_broker *b = t->b;
    size_t gl, tl, ql, ul;
    const char *g = kite_msgprop_get(r->props, r->props_len, "PGROUP", &gl);
    const char *rt = kite_msgprop_get(r->props, r->props_len, "REAL_TOPIC", &tl);
    const char *rq = kite_msgprop_get(r->props, r->props_len, "REAL_QID", &ql);
    const char *uniq = kite_msgprop_get(r->props, r->props_len, "UNIQ_KEY", &ul);
    char group[300];
    snprintf(group, sizeof group, "%.*s", g ? (int)(gl < 299 ? gl : 299) : 0, g ? g : "");
    bk_producer_group *pg = kite_map_get(&b->producers, group);
    if (!pg || pg->nch == 0) {
        KLOG_DEBUG("broker", "no producer of group %s online: check of half %lld skipped", group,
                   (long long)res->queue_offset);
        return;
    }
    char qbuf[16];
    snprintf(qbuf, sizeof qbuf, "%.*s", rq ? (int)(ql < 15 ? ql : 15) : 0, rq ? rq : "");
    kite_buf body = KITE_BUF_INIT;
    if (encode_check_body(b, r, res, props, rt, tl, (int32_t)atoi(qbuf), &body) != KITE_OK) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "broker", "half %lld cannot be encoded for a check; skipped",
                     (long long)res->queue_offset);
        kite_buf_free(&body);
        return;
    }
    bk_channel *ch = &pg->ch[t->rr++ % pg->nch];
    char id[33];
    bk_offset_msg_id(b, res->phys_offset, id);
    kite_cmd req;
    kite_cmd_init_request(&req, RC_CHECK_TRANSACTION_STATE, 0);
    kite_cmd_set_ext_i64(&req, "tranStateTableOffset", res->queue_offset);
    kite_cmd_set_ext_i64(&req, "commitLogOffset", res->phys_offset);
    if (uniq) {
        kite_cmd_set_ext_n(&req, "msgId", uniq, ul);
        size_t xl;
        const char *x = kite_msgprop_get(r->props, r->props_len, "__transactionId__", &xl);
        if (x)
            kite_cmd_set_ext_n(&req, "transactionId", x, xl);
        else
            kite_cmd_set_ext_n(&req, "transactionId", uniq, ul);
    }
    kite_cmd_set_ext(&req, "offsetMsgId", id);
    kite_cmd_set_ext(&req, "topic", KITE_TOPIC_TRANS_HALF);
    kite_cmd_set_ext(&req, "bname", b->cfg.broker_name);
    size_t blen;
    char *bp = kite_buf_steal(&body, &blen);
    kite_cmd_set_body_own(&req, bp, blen);
    /* logged first: a failed write closes the connection at once, which frees ch */
    KLOG_DEBUG("broker", "checking half %lld (copy of %lld) with %s of group %s",
               (long long)res->queue_offset, (long long)r->queue_offset, ch->client_id, group);
    t->checks++;
    kite_rpc_server_call(b->srv, ch->conn, &req, 0, NULL, NULL); /* oneway */
}

/* Appends the next check copy of the half and asks a producer about it. The copy names
 * the first half of its chain in TRAN_PREPARED_QUEUE_OFFSET, so the answer resolves that
 * half too (p_trans.c) and every older copy of it is skipped even when a walk meets them
 * again: after a restart from an older saved progress, or when the producer's own
 * END_TRANSACTION for the half arrives after a check. KITE_OK, or KITE_EIO when the store
 * refused the copy (the pass stops; retried next pass). */
static int check(bk_trans *t, const kite_record *r, int64_t times)
{
    static const char *const drop[] = { "TRANSACTION_CHECK_TIMES", "TRAN_PREPARED_QUEUE_OFFSET",
                                        NULL };
    int64_t orig;
    if (!prop_i64(r, "TRAN_PREPARED_QUEUE_OFFSET", &orig)) orig = r->queue_offset;
    kite_buf props = KITE_BUF_INIT;
    kite_msgprop_copy_without(r->props, r->props_len, drop, &props);
    kite_msgprop_append_i64(&props, "TRANSACTION_CHECK_TIMES", times + 1);
    kite_msgprop_append_i64(&props, "TRAN_PREPARED_QUEUE_OFFSET", orig);
    kite_put_result res;
    int rc = put_copy(t->b, r, KITE_TOPIC_TRANS_HALF, 0, &props, &res);
    if (rc != KITE_OK) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                     "check copy of half %lld refused by the store (%s)",
                     (long long)r->queue_offset, kite_put_status_name(res.status));
        kite_buf_free(&props);
        return rc;
    }
    send_check(t, r, &res, &props);
    kite_buf_free(&props);
    return KITE_OK;
}

enum { ADVANCE, STOP };

static int examine(bk_trans *t, const kite_store_seg *seg, int64_t now)
{
    kite_broker *b = t->b;
    kite_record r;
    const char *why;
    if (kite_record_decode(seg->data, seg->len, &r, 0, &why) <= 0) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                     "half record at queue offset %lld is unreadable (%s); skipped",
                     (long long)seg->queue_offset, why);
        return ADVANCE;
    }
    int64_t q = seg->queue_offset, x;
    r.queue_offset = q;
    if (rset_has(t, q)) return ADVANCE;
    if (prop_i64(&r, "TRAN_PREPARED_QUEUE_OFFSET", &x) && rset_has(t, x)) return ADVANCE;
    /* Stored during this pass (our own copies among them): next pass. Tested before the
     * discard rule so that the last check copy gets a whole interval to be answered. */
    if (r.store_ts >= t->pass_start) return STOP;
    int64_t times = 0;
    prop_i64(&r, "TRANSACTION_CHECK_TIMES", &times);
    size_t vl;
    int64_t reserved_ms = (int64_t)b->cfg.store.file_reserved_time * 3600000LL;
    if (times >= b->cfg.transaction_check_max ||
        !kite_msgprop_get(r.props, r.props_len, "REAL_TOPIC", &vl) ||
        (reserved_ms > 0 && now - r.store_ts > reserved_ms)) {
        discard(t, &r, q, times);
        return ADVANCE;
    }
    int64_t age = now - r.born_ts, immunity = b->cfg.transaction_timeout, secs;
    int has_imm = prop_i64(&r, "CHECK_IMMUNITY_TIME_IN_SECONDS", &secs);
    if (has_imm && secs < INT64_MAX / 1000 && secs * 1000 > immunity) immunity = secs * 1000;
    if (age >= 0 && age < immunity) {
        if (!has_imm) return STOP; /* everything after it is younger still */
        return reappend(t, &r, q) == KITE_OK ? ADVANCE : STOP;
    }
    return check(t, &r, times) == KITE_OK ? ADVANCE : STOP;
}

/* One slice of the walk. Returns 1 when the pass is over. */
static int walk(bk_trans *t, int64_t deadline)
{
    kite_broker *b = t->b;
    int budget = SLICE_HALVES;
    for (;;) {
        if (budget <= 0 || kite_deadline_left_ms(deadline) == 0) return 0;
        kite_get_result gr;
        if (!fetch_at(b, KITE_TOPIC_TRANS_HALF, &t->half_progress, &gr)) return 1;
        int stop = 0;
        int64_t now = kite_wall_ms();
        for (size_t i = 0; i < gr.count && budget > 0; i++, budget--) {
            if (examine(t, &gr.segs[i], now) == STOP) {
                stop = 1;
                break;
            }
            t->half_progress = gr.segs[i].queue_offset + 1;
        }
        kite_get_result_release(&gr);
        if (stop) return 1;
    }
}

static void t_cont(kite_ev *ev, kite_ev_timer *tm, void *arg);

static void run_slice(bk_trans *t)
{
    kite_broker *b = t->b;
    int64_t deadline = kite_deadline_ms(SLICE_MS);
    if (!t->in_pass) {
        t->in_pass = 1;
        t->pass_start = kite_wall_ms();
    }
    int done = read_ops(t, SLICE_OPS) && walk(t, deadline);
    advance_op_progress(t);
    save_progress(t);
    int64_t min = kite_store_min_offset(b->store, KITE_TOPIC_TRANS_HALF, 0);
    if (min > t->half_progress) min = t->half_progress;
    rset_prune(t, min);
    if (done) {
        t->in_pass = 0;
        return;
    }
    t->cont = kite_ev_timer_add(b->ev, 1, 0, t_cont, t); /* more to do: next slice soon */
}

static void t_cont(kite_ev *ev, kite_ev_timer *tm, void *arg)
{
    (void)ev;
    (void)tm;
    bk_trans *t = arg;
    t->cont = NULL;
    run_slice(t);
}

static void t_check(kite_ev *ev, kite_ev_timer *tm, void *arg)
{
    (void)ev;
    (void)tm;
    bk_trans *t = arg;
    if (t->cont) return; /* a pass is still running in slices */
    run_slice(t);
}

/* ---- lifecycle ---- */

static int64_t saved_or(kite_broker *b, const char *topic, int64_t dflt)
{
    int64_t v = bk_offset_get(b, topic, KITE_GROUP_TRANS, 0);
    return v >= 0 ? v : dflt;
}

int bk_trans_start(kite_broker *b, char *err, size_t errlen)
{
    if (b->cfg.transaction_check_interval <= 0 || b->cfg.transaction_timeout < 0 ||
        b->cfg.transaction_check_max < 1) {
        snprintf(
            err, errlen,
            "transactionCheckInterval must be > 0, transactionTimeOut >= 0 and transactionCheckMax >= 1");
        return KITE_EINVAL;
    }
    bk_trans *t = kite_xcalloc(1, sizeof *t);
    t->b = b;
    b->trans = t;
    if (kite_store_wait_dispatched(b->store, 10000) != 0)
        KLOG_WARN(
            "broker",
            "consume queues still being rebuilt: transaction state may miss the newest records");
    int64_t hmin = kite_store_min_offset(b->store, KITE_TOPIC_TRANS_HALF, 0);
    int64_t omin = kite_store_min_offset(b->store, KITE_TOPIC_TRANS_OP_HALF, 0);
    int64_t omax = kite_store_max_offset(b->store, KITE_TOPIC_TRANS_OP_HALF, 0);
    t->half_progress = saved_or(b, KITE_TOPIC_TRANS_HALF, hmin);
    if (t->half_progress < hmin) t->half_progress = hmin;
    t->op_progress = saved_or(b, KITE_TOPIC_TRANS_OP_HALF, omin);
    if (t->op_progress < omin) t->op_progress = omin;
    t->base = hmin & ~(int64_t)63;
    int64_t from = t->op_progress;
    if (omax - REBUILD_WINDOW < from) from = omax - REBUILD_WINDOW;
    if (from < omin) from = omin;
    t->op_cursor = from;
    int64_t t0 = kite_mono_ms();
    read_ops(t, INT32_MAX);
    advance_op_progress(t);
    KLOG_INFO(
        "broker",
        "transactions: %lld op record(s) read in %lld ms; half progress %lld, op progress %lld",
        (long long)(t->op_cursor - from), (long long)(kite_mono_ms() - t0),
        (long long)t->half_progress, (long long)t->op_progress);
    int64_t every = b->cfg.transaction_check_interval;
    if (!b->cfg.is_slave) /* check-back is the master's: a slave writes nothing */
        t->timer = kite_ev_timer_add(b->ev, every, every, t_check, t);
    return KITE_OK;
}

void bk_trans_stop(kite_broker *b)
{
    bk_trans *t = b->trans;
    if (!t) return;
    if (t->timer) kite_ev_timer_cancel(b->ev, t->timer);
    if (t->cont) kite_ev_timer_cancel(b->ev, t->cont);
    flush_ops(t); /* normally empty: the pre-write hook flushes every batch */
    save_progress(t);
    KLOG_INFO(
        "broker",
        "transactions: %lld check(s) sent, %lld half message(s) discarded, %lld op record(s) for %lld resolved "
        "half message(s) written since start",
        (long long)t->checks, (long long)t->discards, (long long)t->op_records,
        (long long)t->op_halves);
    free(t->held);
    free(t->w);
    free(t->fo_off);
    free(t->fo_max);
    free(t);
    b->trans = NULL;
}
