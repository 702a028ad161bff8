/* slave_sync.c - a slave copies its master's metadata, as a 4.x slave does, 3 s after start
 * and then every 10 s: the topic configuration (GET_ALL_TOPIC_CONFIG, 21) and the
 * subscription groups (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 201), adopted whenever the data
 * version differs (topics.c, groups.c) - without the topics a slave could not serve pulls of
 * the queues it replicates -, the consumer offsets (GET_ALL_CONSUMER_OFFSET, 43) and the
 * delay progress (GET_ALL_DELAY_OFFSET, 45). Unlike 4.x, an offset a consumer committed to
 * this slave beyond the master's (while the master was away) is not overwritten: it is sent
 * to the master (UPDATE_CONSUMER_OFFSET, 15, oneway), which adopts it (offsets.c,
 * bk_offsets_adopt). DESIGN.md, "Replication".
 * With ACL on the master, the requests (copies and offsets sent back alike) are signed as
 * innerClientAuthenticationCredentials when broker.conf has it (the RPC client's
 * credentials, src/broker/acl.c bk_acl_sign_as); a refused or unanswered copy is logged at
 * most once a second, with the master's answer and, for an ACL refusal, what to configure.
 *
 * Threads: the timer and the adoption run on the loop thread, which owns the tables. The
 * master's address comes with the name server's registration answers, on the name-server
 * client's thread: bk_slave_master_addr posts it to the loop. The calls go through that
 * same RPC client; their answers are posted to the loop, and dropped if the broker has
 * stopped meanwhile. */
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "proto/codes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_MS        3000
#define EVERY_MS        10000
#define CALL_TIMEOUT_MS 5000

typedef struct addr_task {
    kite_broker *b;
    char addr[128];
} addr_task;

typedef struct answer {
    kite_broker *b;
    int code;   /* request code */
    int status; /* 0, or the call's error */
    int resp_code;
    char master[128];
    char remark[600]; /* the master's, on a refusal */
    char *body;
    size_t len;
} answer;

/* Failed copies: the same four requests fail together every 10 s while the master is away
 * or refuses them (ACL): one line a second at most. */
static kite_log_limit g_fail_log = KITE_LOG_LIMIT_INIT;

static const char *code_name(int code)
{
    switch (code) {
    case RC_GET_ALL_TOPIC_CONFIG: return "GET_ALL_TOPIC_CONFIG";
    case RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG: return "GET_ALL_SUBSCRIPTIONGROUP_CONFIG";
    case RC_GET_ALL_CONSUMER_OFFSET: return "GET_ALL_CONSUMER_OFFSET";
    default: return "GET_ALL_DELAY_OFFSET";
    }
}

static void set_addr(void *arg)
{
    addr_task *t = arg;
    kite_broker *b = t->b;
    if (strcmp(b->master_addr, t->addr) != 0) {
        snprintf(b->master_addr, sizeof b->master_addr, "%s", t->addr);
        KLOG_INFO("broker", "master of group %s: %s (metadata is copied from it)",
                  b->cfg.broker_name, t->addr);
    }
    free(t);
}

void bk_slave_master_addr(kite_broker *b, const char *addr)
{
    if (!b->cfg.is_slave || !addr || !*addr) return;
    addr_task *t = kite_xcalloc(1, sizeof *t);
    t->b = b;
    snprintf(t->addr, sizeof t->addr, "%s", addr);
    kite_ev_post(b->ev, set_addr, t);
}

/* An offset committed to this slave beyond the master's: the master adopts it. */
static void push_offset(void *arg, const char *topic, const char *group, int32_t qid, int64_t off)
{
    kite_broker *b = arg;
    kite_cmd req;
    kite_cmd_init_request(&req, RC_UPDATE_CONSUMER_OFFSET, 0);
    kite_cmd_set_ext(&req, "consumerGroup", group);
    kite_cmd_set_ext(&req, "topic", topic);
    kite_cmd_set_ext_i64(&req, "queueId", qid);
    kite_cmd_set_ext_i64(&req, "commitOffset", off);
    kite_rpc_oneway(b->ns_client, b->master_addr, &req);
}

static void adopt(void *arg)
{
    answer *a = arg;
    kite_broker *b = a->b;
    if (!b->store) goto done; /* the broker stopped meanwhile */
    if (a->status != 0) {
        kite_log_limited(&g_fail_log, KITE_LOG_WARN, "broker",
                         "copying metadata (%s, %d) from master %s failed: no answer",
                         code_name(a->code), a->code, a->master);
        goto done;
    }
    if (a->resp_code != RS_SUCCESS) {
        int acl = strstr(a->remark, "AclException") != NULL;
        kite_log_limited(&g_fail_log, KITE_LOG_WARN, "broker",
                         "copying metadata (%s, %d) from master %s failed: it answered %d (%s)%s",
                         code_name(a->code), a->code, a->master, a->resp_code, a->remark,
                         acl ? "; the master has ACL on: give this broker an admin account of "
                               "its ACL files in innerClientAuthenticationCredentials, or list "
                               "this broker's address in its globalWhiteRemoteAddresses"
                             : "");
        goto done;
    }
    const char *what =
        a->code == RC_GET_ALL_TOPIC_CONFIG ? "topic configuration" : "subscription groups";
    int changed = 0;
    if (a->code == RC_GET_ALL_CONSUMER_OFFSET || a->code == RC_GET_ALL_DELAY_OFFSET) {
        char err[160];
        kite_json_doc *doc = kite_json_parse(a->body ? a->body : "", a->len, err, sizeof err);
        if (!doc) {
            KLOG_WARN("broker", "master %s sent an unreadable offset table (request %d): %s",
                      a->master, a->code, err);
            goto done;
        }
        if (a->code == RC_GET_ALL_DELAY_OFFSET) {
            bk_delay_adopt(b, kite_json_root(doc));
        } else {
            size_t n = bk_offsets_adopt(b, kite_json_root(doc), push_offset, b);
            if (n)
                KLOG_INFO(
                    "broker",
                    "sent %zu consumer offset(s) committed here, newer than master %s's, to it", n,
                    a->master);
        }
        kite_json_doc_free(doc);
        goto done;
    }
    if (a->code == RC_GET_ALL_TOPIC_CONFIG) {
        kite_register_body body;
        char err[160];
        if (kite_register_body_decode(&body, (const uint8_t *)a->body, a->len, 0, 0, err,
                                      sizeof err) != 0) {
            KLOG_WARN("broker", "master %s sent an unreadable topic configuration: %s", a->master,
                      err);
            goto done;
        }
        changed = bk_topics_adopt(b, &body);
        kite_register_body_free(&body);
    } else {
        char err[160];
        kite_json_doc *doc = kite_json_parse(a->body, a->len, err, sizeof err);
        if (!doc) {
            KLOG_WARN("broker", "master %s sent unreadable subscription groups: %s", a->master,
                      err);
            goto done;
        }
        changed = bk_groups_adopt(b, kite_json_root(doc));
        kite_json_doc_free(doc);
    }
    if (changed) KLOG_INFO("broker", "copied the %s of master %s", what, a->master);
done:
    free(a->body);
    free(a);
}

static void call_done(int status, kite_cmd *resp, void *arg)
{
    answer *a = arg;
    a->status = status;
    if (status == 0) {
        a->resp_code = resp->code;
        if (resp->code != RS_SUCCESS && resp->remark) {
            snprintf(a->remark, sizeof a->remark, "%s", resp->remark);
            for (char *p = a->remark; *p; p++) /* the master's text stays one log line */
                if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        }
        if (resp->body_len) {
            a->body = kite_xmalloc(resp->body_len + 1);
            memcpy(a->body, resp->body, resp->body_len);
            a->body[resp->body_len] = 0;
            a->len = resp->body_len;
        }
    }
    kite_ev_post(a->b->ev, adopt, a);
}

static void ask(kite_broker *b, int code)
{
    kite_cmd req;
    kite_cmd_init_request(&req, code, 0);
    answer *a = kite_xcalloc(1, sizeof *a);
    a->b = b;
    a->code = code;
    snprintf(a->master, sizeof a->master, "%s", b->master_addr);
    kite_rpc_call_async(b->ns_client, b->master_addr, &req, CALL_TIMEOUT_MS, call_done, a);
}

static void t_sync(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    kite_broker *b = arg;
    if (!b->master_addr[0] || !b->ns_client) return;
    ask(b, RC_GET_ALL_TOPIC_CONFIG);
    ask(b, RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG);
    ask(b, RC_GET_ALL_CONSUMER_OFFSET);
    ask(b, RC_GET_ALL_DELAY_OFFSET);
}

void bk_slave_sync_start(kite_broker *b)
{
    if (!b->cfg.is_slave) return;
    b->t_slave_sync = kite_ev_timer_add(b->ev, FIRST_MS, EVERY_MS, t_sync, b);
}

void bk_slave_sync_stop(kite_broker *b)
{
    if (b->t_slave_sync) kite_ev_timer_cancel(b->ev, b->t_slave_sync);
    b->t_slave_sync = NULL;
}
