/* register.c - registration with every name server: at start, every
 * registerNameServerPeriod, and soon after any topic change (coalesced into one
 * registration per loop iteration). Calls are asynchronous, so a name server that is
 * down never delays the others; on shutdown the broker unregisters from all of them.
 * A master advertises its HA address; a slave takes its master's from the answers
 * (they arrive on the name-server client's thread; kite_ha_slave_set_master is
 * thread-safe), registering again soon while none has named it yet. */
#include "base/crc32.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include "proto/codes.h"
#include "repl/ha.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reg_ctx {
    kite_broker *b;
    char ns[128];
} reg_ctx;

static void reg_done(int status, kite_cmd *resp, void *arg)
{
    reg_ctx *c = arg;
    if (status != 0) {
        KLOG_WARN("broker", "registration with name server %s failed: %s", c->ns,
                  kite_strerror(status));
    } else if (resp->code != RS_SUCCESS) {
        KLOG_WARN("broker", "name server %s refused the registration: code %d %s", c->ns,
                  resp->code, resp->remark ? resp->remark : "");
    } else {
        KLOG_DEBUG("broker", "registered with name server %s", c->ns);
        /* A slave learns its master's HA address here (unless haMasterAddress pins it). */
        const char *ha = kite_cmd_ext(resp, "haServerAddr");
        if (c->b->ha_slave && ha && *ha) kite_ha_slave_set_master(c->b->ha_slave, ha);
        const char *master = kite_cmd_ext(resp, "masterAddr");
        bk_slave_master_addr(c->b, master); /* metadata copy */
        if (master && *master) atomic_store(&c->b->master_known, 1);
    }
    free(c);
}

static void build_body(kite_broker *b, kite_buf *out)
{
    /* RegisterBrokerBody: the topic wrapper plus an empty filter server list. When the
     * broker's own permission lacks read or write, every topic carries that permission. */
    kite_register_body body;
    memset(&body, 0, sizeof body);
    body.dv = b->topics_dv;
    body.has_dv = 1;
    size_t n;
    const char **names = kite_map_sorted_keys(&b->topics, &n);
    body.topics = kite_xcalloc(n ? n : 1, sizeof *body.topics);
    int restrict_perm = (b->cfg.broker_permission & (KITE_PERM_READ | KITE_PERM_WRITE)) !=
                        (KITE_PERM_READ | KITE_PERM_WRITE);
    for (size_t i = 0; i < n; i++) {
        const bk_topic *t = kite_map_get(&b->topics, names[i]);
        kite_topic_config *c = &body.topics[body.n_topics++];
        c->topic_name = t->name;
        c->read_queue_nums = t->read_queue_nums;
        c->write_queue_nums = t->write_queue_nums;
        c->perm = restrict_perm ? b->cfg.broker_permission : t->perm;
        c->topic_sys_flag = t->topic_sys_flag;
        c->topic_filter_type = t->filter_type;
        c->order = t->order;
    }
    kite_register_body_encode(&body, b->cfg.compressed_register, out);
    free(body.topics);
    free(names);
}

void bk_register_all(kite_broker *b, int oneway)
{
    if (!b->n_namesrvs) return;
    kite_buf body = KITE_BUF_INIT;
    build_body(b, &body);
    char crc[16];
    snprintf(crc, sizeof crc, "%u", kite_crc32_masked(body.data, body.len));
    for (size_t i = 0; i < b->n_namesrvs; i++) {
        kite_cmd req;
        kite_cmd_init_request(&req, RC_REGISTER_BROKER, 0);
        kite_cmd_set_ext(&req, "brokerName", b->cfg.broker_name);
        kite_cmd_set_ext(&req, "brokerAddr", b->addr);
        kite_cmd_set_ext(&req, "clusterName", b->cfg.broker_cluster_name);
        /* Where this group's slaves replicate from: brokerIP2:haListenPort on a master; a
         * slave serves no replication, so it advertises none. */
        kite_cmd_set_ext(&req, "haServerAddr", b->ha_addr);
        kite_cmd_set_ext_i64(&req, "brokerId", b->cfg.broker_id);
        kite_cmd_set_ext(&req, "compressed", b->cfg.compressed_register ? "true" : "false");
        kite_cmd_set_ext(&req, "bodyCrc32", crc);
        kite_cmd_set_body_copy(&req, body.data, body.len);
        if (oneway) {
            kite_rpc_oneway(b->ns_client, b->namesrvs[i], &req);
            continue;
        }
        reg_ctx *c = kite_xcalloc(1, sizeof *c);
        c->b = b;
        snprintf(c->ns, sizeof c->ns, "%s", b->namesrvs[i]);
        kite_rpc_call_async(b->ns_client, b->namesrvs[i], &req,
                            b->cfg.register_broker_timeout_mills, reg_done, c);
    }
    kite_buf_free(&body);
}

static void register_now(void *arg)
{
    kite_broker *b = arg;
    b->register_pending = 0;
    bk_register_all(b, 0);
}

void bk_register_soon(kite_broker *b)
{
    if (b->register_pending || !b->n_namesrvs || !b->ns_client) return;
    b->register_pending = 1;
    kite_ev_post(b->ev, register_now, b);
}

/* Called after the broker loop stopped, from the main thread: waits (briefly) for
 * every name server's answer so the unregistration is really sent. */
void bk_unregister_all(kite_broker *b)
{
    for (size_t i = 0; i < b->n_namesrvs; i++) {
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_UNREGISTER_BROKER, 0);
        kite_cmd_set_ext(&req, "brokerName", b->cfg.broker_name);
        kite_cmd_set_ext(&req, "brokerAddr", b->addr);
        kite_cmd_set_ext(&req, "clusterName", b->cfg.broker_cluster_name);
        kite_cmd_set_ext_i64(&req, "brokerId", b->cfg.broker_id);
        if (kite_rpc_call_sync(b->ns_client, b->namesrvs[i], &req, 1000, &resp) == 0)
            kite_cmd_free(&resp);
        else
            KLOG_WARN("broker", "could not unregister from name server %s", b->namesrvs[i]);
    }
}

static void t_find_master(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_broker *b = arg;
    (void)t;
    b->t_find_master = NULL; /* a one-shot timer's handle is invalid from here on */
    if (atomic_load(&b->master_known)) return;
    KLOG_DEBUG("broker", "no name server has named this group's master yet: registering again");
    bk_register_all(b, 0);
    int64_t period = b->cfg.register_name_server_period;
    b->find_master_ms = b->find_master_ms * 2 < period ? b->find_master_ms * 2 : period;
    b->t_find_master = kite_ev_timer_add(ev, b->find_master_ms, 0, t_find_master, b);
}

void bk_find_master_start(kite_broker *b)
{
    if (!b->cfg.is_slave || !b->n_namesrvs) return;
    b->find_master_ms = 1000;
    b->t_find_master = kite_ev_timer_add(b->ev, b->find_master_ms, 0, t_find_master, b);
}

void bk_find_master_stop(kite_broker *b)
{
    if (b->t_find_master) kite_ev_timer_cancel(b->ev, b->t_find_master);
    b->t_find_master = NULL;
}
