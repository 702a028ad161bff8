/* p_pull.c - PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361) with long polling.
 *
 * A pull resolves the group, topic, queue and subscription (from the request when the
 * SUBSCRIPTION flag is set, else from the group's heartbeat: SUBSCRIPTION_NOT_EXIST
 * when there is none), reads from the store by tag hash, and answers with the stored
 * records straight from the mapped commit log (segments released when written). When
 * nothing is new and the request allows suspending, the request is held: it is
 * re-executed when the dispatch thread reports new messages for that queue, or when
 * its suspend time runs out, whichever is first. A held request whose connection
 * closes is dropped at once. docs/wire.md §6.1-§6.3. Loop thread (arrivals are posted). */
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "broker/filter.h"
#include "codec/record.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PULL_COMMIT       0x1
#define PULL_SUSPEND      0x2
#define PULL_SUBSCRIPTION 0x4

struct bk_hold {
    bk_hold *next, *prev;
    kite_broker *b;
    kite_rpc_req *req;
    char key[300];
    int64_t offset;
    kite_ev_timer *timer;
};

static kite_broker *B(void *arg) { return arg; }

static void reply_offsets(kite_rpc_req *req, int64_t suggest, int code, const char *remark,
                          int64_t next, int64_t min, int64_t max, const kite_seg *segs, size_t nseg)
{
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, code, remark);
    kite_cmd_set_ext_i64(&resp, "suggestWhichBrokerId", suggest);
    kite_cmd_set_ext_i64(&resp, "nextBeginOffset", next);
    kite_cmd_set_ext_i64(&resp, "minOffset", min);
    kite_cmd_set_ext_i64(&resp, "maxOffset", max);
    kite_rpc_reply_segs(req, &resp, segs, nseg);
}

static void hold(kite_broker *b, kite_rpc_req *req, const char *topic, int32_t qid, int64_t offset,
                 int64_t timeout_ms);

/* Bytes of physical memory (read once; loop thread). */
static int64_t ram_bytes(void)
{
    static int64_t ram = -1;
    if (ram < 0) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        ram = pages > 0 && psz > 0 ? (int64_t)pages * psz : 0;
    }
    return ram;
}

/* suggestWhichBrokerId of a pull answer (DESIGN.md "Replication"): 0 (the master) unless
 * slaveReadEnable; then the group's whichBrokerWhenConsumeSlowly when the last examined
 * message lies more than RAM x accessMessageInMemoryMaxRatio % behind the commit-log end
 * (probably no longer in the page cache), else the group's brokerId. With a ratio of 0 every
 * pull that examined a message counts as slow (the distance is at least that message). The
 * same rule on a slave: with slaveReadEnable=false it still answers what it found, and
 * suggests the master. */
static int64_t suggest_broker(kite_broker *b, const bk_group *g, const kite_get_result *gr)
{
    if (!b->cfg.slave_read_enable) return 0;
    if (gr->last_phys >= 0) {
        int64_t behind = kite_store_cl_max_offset(b->store) - gr->last_phys;
        int64_t in_memory = ram_bytes() / 100 * b->cfg.access_message_in_memory_max_ratio;
        if (behind > in_memory) return g->which_broker_when_consume_slowly;
    }
    return g->broker_id;
}

enum { PULL_FIRST = 1, PULL_EXPIRED = 0, PULL_WOKEN = 2 };

/* Executes a pull. mode PULL_FIRST: the request may commit its offset and may be
 * suspended; PULL_EXPIRED: a held request whose time ran out (answer whatever there
 * is); PULL_WOKEN: a held request woken by an arrival - when nothing matches its
 * subscription it stays held (returns 0 without answering). Returns 1 when finished. */
static int do_pull_mode(kite_broker *b, kite_rpc_req *req, int mode)
{
    int first = mode == PULL_FIRST;
    const char *group, *topic;
    int32_t qid, max_nums, sysflag;
    int64_t offset, commit_offset = 0, suspend_ms = 0;
    if (!(group = bk_need(req, "consumerGroup")) || !(topic = bk_need(req, "topic")) ||
        bk_need_i32(req, "queueId", &qid) || bk_need_i64(req, "queueOffset", &offset) ||
        bk_need_i32(req, "maxMsgNums", &max_nums) || bk_need_i32(req, "sysFlag", &sysflag))
        return 1;
    kite_cmd_ext_i64(&req->cmd, "commitOffset", &commit_offset);
    kite_cmd_ext_i64(&req->cmd, "suspendTimeoutMillis", &suspend_ms);
    char remark[400];
    if (!(b->cfg.broker_permission & KITE_PERM_READ)) {
        snprintf(remark, sizeof remark, "the broker[%.100s] pulling message is forbidden",
                 b->cfg.broker_name);
        kite_rpc_reply_code(req, RS_NO_PERMISSION, remark);
        return 1;
    }
    bk_group *g = bk_group_get_or_create(b, group);
    if (!g) {
        snprintf(remark, sizeof remark, "subscription group [%.200s] does not exist", group);
        kite_rpc_reply_code(req, RS_SUBSCRIPTION_GROUP_NOT_EXIST, remark);
        return 1;
    }
    if (!g->consume_enable) {
        snprintf(remark, sizeof remark, "subscription group no permission, %.200s", group);
        kite_rpc_reply_code(req, RS_NO_PERMISSION, remark);
        return 1;
    }
    bk_topic *t = bk_topic_get(b, topic);
    if (!t) {
        snprintf(remark, sizeof remark, "topic[%.200s] not exist, apply first please!", topic);
        kite_rpc_reply_code(req, RS_TOPIC_NOT_EXIST, remark);
        return 1;
    }
    if (!(t->perm & KITE_PERM_READ) || strcmp(topic, KITE_TOPIC_TRANS_HALF) == 0 ||
        strcmp(topic, KITE_TOPIC_TRANS_OP_HALF) == 0) {
        snprintf(remark, sizeof remark, "the topic[%.200s] pulling message is forbidden", topic);
        kite_rpc_reply_code(req, RS_NO_PERMISSION, remark);
        return 1;
    }
    if (qid < 0 || qid >= t->read_queue_nums) {
        snprintf(
            remark, sizeof remark,
            "queueId[%d] is illegal, topic:[%.200s] topicConfig.readQueueNums:[%d] consumer:[%s]",
            qid, topic, t->read_queue_nums, kite_conn_peer(req->conn));
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR, remark);
        return 1;
    }
    bk_sub *own = NULL;
    const bk_sub *sub;
    const char *etype = kite_cmd_ext(&req->cmd, "expressionType");
    if (sysflag & PULL_SUBSCRIPTION) {
        char err[200];
        if (etype && strcmp(etype, "SQL92") == 0 && !b->cfg.enable_property_filter) {
            kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                                "The broker does not support consumer to filter message by SQL92");
            return 1;
        }
        int64_t ver = 0;
        kite_cmd_ext_i64(&req->cmd, "subVersion", &ver);
        own = bk_sub_parse(topic, kite_cmd_ext(&req->cmd, "subscription"), etype, ver, err,
                           sizeof err);
        if (!own) {
            kite_rpc_reply_code(req, RS_SUBSCRIPTION_PARSE_FAILED, err);
            return 1;
        }
        sub = own;
    } else {
        sub = bk_sub_find(b, group, topic);
        if (!sub) {
            snprintf(remark, sizeof remark,
                     "the consumer's subscription not exist, group: %.150s topic: %.150s", group,
                     topic);
            kite_rpc_reply_code(req, RS_SUBSCRIPTION_NOT_EXIST, remark);
            return 1;
        }
    }
    if (sub->sql && !b->cfg.enable_property_filter) {
        bk_sub_free(own);
        kite_rpc_reply_code(req, RS_SYSTEM_ERROR,
                            "The broker does not support consumer to filter message by SQL92");
        return 1;
    }
    /* A slave keeps no offsets from pulls (as 4.x): its table follows its master's. */
    if (first && (sysflag & PULL_COMMIT) && commit_offset >= 0 && !b->cfg.is_slave)
        bk_offset_set(b, topic, group, qid, commit_offset);

    int max_count = max_nums;
    if (max_count > b->cfg.max_transfer_count_on_message_in_memory)
        max_count = b->cfg.max_transfer_count_on_message_in_memory;
    if (max_count <= 0) max_count = 1;
    kite_get_result gr;
    memset(&gr, 0, sizeof gr);
    kite_store_get_messages(b->store, topic, qid, offset, max_count,
                            (size_t)b->cfg.max_transfer_bytes_on_message_in_memory,
                            sub->all ? NULL : sub->codes, sub->all ? 0 : sub->ntags, &gr);
    /* The queue is one the topic declares (checked above) but was never written: Java creates
     * its consume queue on this look-up and answers NO_MESSAGE_IN_QUEUE (docs/wire.md §6.2). */
    if (gr.status == KITE_GET_NO_MATCHED_LOGIC_QUEUE) gr.status = KITE_GET_NO_MESSAGE_IN_QUEUE;
    if ((sub->sql || !sub->all) && gr.status == KITE_GET_FOUND) {
        /* SQL92: keep only records whose properties match. Tags: the store matched the
         * hash; confirm the exact tag so a hash collision is never delivered. Records
         * dropped here count as examined (nextBeginOffset moves past them). */
        size_t k = 0;
        for (size_t i = 0; i < gr.count; i++) {
            kite_record r;
            const char *why;
            int keep = kite_record_decode(gr.segs[i].data, gr.segs[i].len, &r, 0, &why) > 0 &&
                       (sub->sql ? bk_filter_match(sub->sql, r.props, r.props_len)
                                 : bk_sub_match_tag(sub, &r));
            if (keep)
                gr.segs[k++] = gr.segs[i];
            else
                kite_store_seg_release(&gr.segs[i]);
        }
        gr.count = k;
        if (k == 0) gr.status = KITE_GET_NO_MATCHED_MESSAGE;
    }
    bk_sub_free(own);
    const char *sname = kite_get_status_name(gr.status);
    int64_t sug = suggest_broker(b, g, &gr);
    switch (gr.status) {
    case KITE_GET_FOUND: {
        size_t n;
        kite_seg *segs = bk_segs_take(&gr, &n);
        atomic_fetch_add(&b->get_total, (int64_t)n);
        char sk[600];
        snprintf(sk, sizeof sk, "%s@%s", topic, group);
        bk_stat_add(b, "GROUP_GET_NUMS", sk, (int64_t)n);
        reply_offsets(req, sug, RS_SUCCESS, sname, gr.next_begin_offset, gr.min_offset,
                      gr.max_offset, segs, n);
        free(segs);
        break;
    }
    case KITE_GET_NO_MATCHED_MESSAGE:
        if (mode == PULL_WOKEN) { /* new messages, none for this subscription: keep waiting */
            kite_get_result_release(&gr);
            return 0;
        }
        reply_offsets(req, sug, RS_PULL_RETRY_IMMEDIATELY, sname, gr.next_begin_offset,
                      gr.min_offset, gr.max_offset, NULL, 0);
        break;
    case KITE_GET_MESSAGE_WAS_REMOVING:
        reply_offsets(req, sug, RS_PULL_RETRY_IMMEDIATELY, sname, gr.next_begin_offset,
                      gr.min_offset, gr.max_offset, NULL, 0);
        break;
    case KITE_GET_NO_MATCHED_LOGIC_QUEUE:
    case KITE_GET_NO_MESSAGE_IN_QUEUE:
        if (offset != 0) {
            reply_offsets(req, sug, RS_PULL_OFFSET_MOVED, sname, 0, gr.min_offset, gr.max_offset,
                          NULL, 0);
            break;
        }
        /* an empty queue at offset 0 waits like "nothing new" */
        __attribute__((fallthrough));
    case KITE_GET_OFFSET_OVERFLOW_ONE:
    case KITE_GET_OFFSET_FOUND_NULL:
        if (mode == PULL_WOKEN) {
            kite_get_result_release(&gr);
            return 0;
        }
        if (first && (sysflag & PULL_SUSPEND)) {
            int64_t ms = b->cfg.long_polling_enable ? suspend_ms : b->cfg.short_polling_time_mills;
            if (ms > 0) {
                kite_get_result_release(&gr);
                hold(b, req, topic, qid, offset, ms);
                return 1;
            }
        }
        reply_offsets(req, sug, RS_PULL_NOT_FOUND, sname,
                      gr.status == KITE_GET_OFFSET_FOUND_NULL ? gr.next_begin_offset : offset,
                      gr.min_offset, gr.max_offset, NULL, 0);
        break;
    case KITE_GET_OFFSET_TOO_SMALL:
    case KITE_GET_OFFSET_OVERFLOW_BADLY:
    default:
        reply_offsets(req, sug, RS_PULL_OFFSET_MOVED, sname, gr.next_begin_offset, gr.min_offset,
                      gr.max_offset, NULL, 0);
        break;
    }
    kite_get_result_release(&gr);
    return 1;
}

static void do_pull(kite_broker *b, kite_rpc_req *req, int first)
{
    do_pull_mode(b, req, first ? PULL_FIRST : PULL_EXPIRED);
}

static void h_pull(kite_rpc_req *req, void *arg) { do_pull(B(arg), req, 1); }

/* ---- holds ---- */

static void unlink_hold(kite_broker *b, bk_hold *h)
{
    atomic_fetch_sub(&b->n_holds, 1);
    if (h->prev) {
        h->prev->next = h->next;
    } else {
        if (h->next)
            kite_map_put(&b->holds, h->key, h->next);
        else
            kite_map_del(&b->holds, h->key);
    }
    if (h->next) h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

static void hold_expired(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    bk_hold *h = arg;
    (void)ev;
    (void)t;
    h->timer = NULL; /* one-shot: freed by the loop */
    unlink_hold(h->b, h);
    do_pull(h->b, h->req, 0);
    free(h);
}

static void hold(kite_broker *b, kite_rpc_req *req, const char *topic, int32_t qid, int64_t offset,
                 int64_t timeout_ms)
{
    bk_hold *h = kite_xcalloc(1, sizeof *h);
    kite_rpc_req_park(req); /* parked pulls do not hold back the connection's other requests */
    h->b = b;
    h->req = req;
    h->offset = offset;
    snprintf(h->key, sizeof h->key, "%s@%d", topic, qid);
    bk_hold *head = kite_map_get(&b->holds, h->key);
    h->next = head;
    if (head) head->prev = h;
    kite_map_put(&b->holds, h->key, h);
    atomic_fetch_add(&b->n_holds, 1);
    h->timer = kite_ev_timer_add(b->ev, timeout_ms, 0, hold_expired, h);
    /* A message dispatched between our read and the count above was not announced:
     * look once more, so it never waits for the timeout. */
    int64_t max = kite_store_max_offset(b->store, topic, qid);
    if (max > offset) bk_pull_on_arrival(b, topic, qid, max);
}

void bk_pull_on_arrival(kite_broker *b, const char *topic, int32_t qid, int64_t max_offset)
{
    char key[300];
    snprintf(key, sizeof key, "%s@%d", topic, qid);
    bk_hold *h = kite_map_get(&b->holds, key);
    while (h) {
        bk_hold *next = h->next;
        if (max_offset > h->offset) {
            if (do_pull_mode(b, h->req, PULL_WOKEN)) {
                unlink_hold(b, h);
                kite_ev_timer_cancel(b->ev, h->timer);
                free(h);
            } else {
                h->offset = max_offset; /* nothing it wants yet: wait for later arrivals */
            }
        }
        h = next;
    }
}

void bk_pull_on_close(kite_broker *b, kite_conn *conn)
{
    size_t it = 0;
    void *v;
    bk_hold **drop = NULL;
    size_t n = 0;
    while (kite_map_next(&b->holds, &it, NULL, &v)) {
        for (bk_hold *h = v; h; h = h->next) {
            if (h->req->conn != conn) continue;
            drop = kite_xreallocarray(drop, n + 1, sizeof *drop);
            drop[n++] = h;
        }
    }
    for (size_t i = 0; i < n; i++) {
        unlink_hold(b, drop[i]);
        kite_ev_timer_cancel(b->ev, drop[i]->timer);
        kite_rpc_done(drop[i]->req);
        free(drop[i]);
    }
    free(drop);
}

void bk_pull_free_holds(kite_broker *b)
{
    size_t it = 0;
    void *v;
    while (kite_map_next(&b->holds, &it, NULL, &v)) {
        bk_hold *h = v;
        while (h) {
            bk_hold *next = h->next;
            atomic_fetch_sub(&b->n_holds, 1);
            kite_ev_timer_cancel(b->ev, h->timer);
            kite_rpc_done(h->req);
            free(h);
            h = next;
        }
    }
    kite_map_free(&b->holds, NULL);
}

void bk_register_pull_handlers(kite_broker *b)
{
    kite_rpc_server_handle(b->srv, RC_PULL_MESSAGE, h_pull, b);
    kite_rpc_server_handle(b->srv, RC_LITE_PULL_MESSAGE, h_pull, b);
}
