/* slave_sync.c - a slave copies its master's metadata, as a 4.x slave does: the topic
 * configuration (GET_ALL_TOPIC_CONFIG, 21) and the subscription groups
 * (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 201), 3 s after start and then every 10 s, adopting
 * the master's table and data version whenever the version differs (topics.c, groups.c).
 * Without the topics a slave could not serve pulls of the topics its replicated queues
 * hold. Consumer offsets and delay offsets are not copied yet (DESIGN.md, "Replication").
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

#define FIRST_MS 3000
#define EVERY_MS 10000
#define CALL_TIMEOUT_MS 5000

typedef struct addr_task {
    kite_broker *b;
    char addr[128];
} addr_task;

typedef struct answer {
    kite_broker *b;
    int code;                /* request code */
    int status;              /* 0, or the call's error */
    int resp_code;
    char master[128];
    char *body;
    size_t len;
} answer;

static void set_addr(void *arg)
{
    addr_task *t = arg;
    kite_broker *b = t->b;
    if (strcmp(b->master_addr, t->addr) != 0) {
        snprintf(b->master_addr, sizeof b->master_addr, "%s", t->addr);
        KLOG_INFO("broker", "master of group %s: %s (metadata is copied from it)", b->cfg.broker_name, t->addr);
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

static void adopt(void *arg)
{
    answer *a = arg;
    kite_broker *b = a->b;
    if (!b->store) goto done;   /* the broker stopped meanwhile */
    if (a->status != 0 || a->resp_code != RS_SUCCESS) {
        KLOG_WARN("broker", "copying metadata (request %d) from master %s failed: %s", a->code, a->master,
                  a->status ? "no answer" : "refused");
        goto done;
    }
    const char *what = a->code == RC_GET_ALL_TOPIC_CONFIG ? "topic configuration" : "subscription groups";
    int changed = 0;
    if (a->code == RC_GET_ALL_TOPIC_CONFIG) {
        kite_register_body body;
        char err[160];
        if (kite_register_body_decode(&body, (const uint8_t *)a->body, a->len, 0, 0, err, sizeof err) != 0) {
            KLOG_WARN("broker", "master %s sent an unreadable topic configuration: %s", a->master, err);
            goto done;
        }
        changed = bk_topics_adopt(b, &body);
        kite_register_body_free(&body);
    } else {
        char err[160];
        kite_json_doc *doc = kite_json_parse(a->body, a->len, err, sizeof err);
        if (!doc) {
            KLOG_WARN("broker", "master %s sent unreadable subscription groups: %s", a->master, err);
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
