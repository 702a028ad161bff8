/* consumer.c - the libkite push consumer (include/kite/consumer.h): its lifecycle
 * (options, create, subscribe, listeners, start, shutdown, destroy, getters), the
 * heartbeats to the brokers, the I/O thread's periodic timers, and small helpers the
 * other consumer files share (queue keys, broker addresses).
 *
 * Owns: kite_push_consumer itself, its client instance (instance.c: I/O thread,
 * routes), the subscriptions. The other jobs live in the files listed in
 * consumer_int.h, which also describes the threads and the shared data.
 * Threads: create/subscribe/set_*listener/start/shutdown/destroy run on application
 * threads (never on the I/O thread nor a worker); heartbeats, timers and boot run on
 * the I/O thread; shutdown posts the last commits and drops to the I/O thread and
 * waits for them. */
#include "client/consumer_int.h"
#include "base/log.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/time.h"
#include "client/heartbeat.h"
#include "client/msgid.h"
#include "codec/record.h"
#include "codec/systopic.h"
#include "proto/codes.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers shared by the consumer files ---- */

char *kite_pc_mq_key(const char *topic, const char *broker, int32_t qid)
{
    size_t n = strlen(topic) + strlen(broker) + 16;
    char *k = kite_xmalloc(n);
    snprintf(k, n, "%s\001%s\001%d", topic, broker, (int)qid);
    return k;
}

/* Broker address of (topic's route, broker) into out: KITE_OK, or KITE_ENOTFOUND. */
int kite_pc_broker_addr(kite_push_consumer *c, const char *topic, const char *broker, char *out,
                        size_t cap)
{
    kite_pub_route *r = kite_inst_route_cached(c->inst, topic);
    const char *a = r ? kite_route_broker_addr(r, broker) : NULL;
    if (a) snprintf(out, cap, "%s", a);
    kite_pub_route_release(r);
    return a ? KITE_OK : KITE_ENOTFOUND;
}

/* ---- heartbeats (I/O, and the shutdown thread for UNREGISTER) ---- */

/* A subscription as Java's SubscriptionData (heartbeats, CHECK_CLIENT_CONFIG). SQL92:
 * no tags, the broker evaluates subString. */
static void sub_json(kite_jw *w, const sub *s)
{
    kite_jw_obj_begin(w);
    kite_jw_key(w, "classFilterMode");
    kite_jw_bool(w, 0);
    kite_jw_key(w, "codeSet");
    kite_jw_arr_begin(w);
    for (size_t t = 0; t < s->tags.n; t++)
        kite_jw_int(w, kite_java_hash(s->tags.tags[t], strlen(s->tags.tags[t])));
    kite_jw_arr_end(w);
    kite_jw_key(w, "expressionType");
    kite_jw_str(w, expr_type(s));
    kite_jw_key(w, "subString");
    kite_jw_str(w, s->expr);
    kite_jw_key(w, "subVersion");
    kite_jw_int(w, s->version);
    kite_jw_key(w, "tagsSet");
    kite_jw_arr_begin(w);
    for (size_t t = 0; t < s->tags.n; t++) kite_jw_str(w, s->tags.tags[t]);
    kite_jw_arr_end(w);
    kite_jw_key(w, "topic");
    kite_jw_str(w, s->topic);
    kite_jw_obj_end(w);
}

static void heartbeat_body(kite_push_consumer *c, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "clientID");
    kite_jw_str(&w, c->client_id);
    kite_jw_key(&w, "consumerDataSet");
    kite_jw_arr_begin(&w);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "consumeFromWhere");
    kite_jw_str(&w, from_name(c->o.consume_from));
    kite_jw_key(&w, "consumeType");
    kite_jw_str(&w, "CONSUME_PASSIVELY");
    kite_jw_key(&w, "groupName");
    kite_jw_str(&w, c->group);
    kite_jw_key(&w, "messageModel");
    kite_jw_str(&w, model_name(c));
    kite_jw_key(&w, "subscriptionDataSet");
    kite_jw_arr_begin(&w);
    for (size_t i = 0; i < c->nsubs; i++) sub_json(&w, c->subs[i]);
    kite_jw_arr_end(&w);
    kite_jw_key(&w, "unitMode");
    kite_jw_bool(&w, 0);
    kite_jw_obj_end(&w);
    kite_jw_arr_end(&w);
    kite_hb_write_producers(&w, NULL);
    kite_jw_obj_end(&w);
}

/* Every broker address (masters and slaves) of the subscribed topics' routes. */
static char **broker_addrs(kite_push_consumer *c, size_t *n)
{
    kite_map seen = KITE_MAP_INIT;
    for (size_t i = 0; i < c->nsubs; i++) {
        kite_pub_route *r = kite_inst_route_cached(c->inst, c->subs[i]->topic);
        for (size_t b = 0; r && b < r->rd.n_brokers; b++)
            for (size_t j = 0; j < r->rd.brokers[b].n_addrs; j++) {
                const char *a = r->rd.brokers[b].addrs[j].addr;
                if (a && *a && !kite_map_get(&seen, a)) kite_map_put(&seen, a, (void *)1);
            }
        kite_pub_route_release(r);
    }
    const char **keys = kite_map_sorted_keys(&seen, n);
    char **out = kite_xcalloc(*n ? *n : 1, sizeof *out);
    for (size_t i = 0; i < *n; i++) out[i] = kite_xstrdup(keys[i]);
    free(keys);
    kite_map_free(&seen, NULL);
    return out;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void on_heartbeat(int status, kite_cmd *resp, void *arg)
{
    kite_push_consumer *c = arg;
    if (stopping(c)) return;
    if (status != KITE_OK || resp->code != RS_SUCCESS)
        KLOG_DEBUG("client", "consumer %s: heartbeat failed: %s", c->group,
                   status != KITE_OK ? kite_strerror(status)
                   : resp->remark    ? resp->remark
                                     : "refused");
}

void kite_pc_heartbeat_all(kite_push_consumer *c)
{
    if (stopping(c)) return;
    size_t n = 0;
    char **addrs = broker_addrs(c, &n);
    kite_buf body = KITE_BUF_INIT;
    heartbeat_body(c, &body);
    for (size_t i = 0; i < n; i++) {
        kite_cmd req;
        kite_cmd_init_request(&req, RC_HEART_BEAT, 0);
        kite_cmd_set_body_copy(&req, body.data, body.len);
        kite_rpc_call_async(rpc(c), addrs[i], &req, c->o.rpc_timeout_ms, on_heartbeat, c);
    }
    kite_buf_free(&body);
    free_strs(addrs, n);
}

/* ---- timers (I/O) ---- */

static void on_hb_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    kite_pc_heartbeat_all(arg);
}

static void on_rb_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    kite_pc_rebalance_all(arg);
}

static void on_commit_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    kite_push_consumer *c = arg;
    if (!stopping(c)) kite_pc_commit_all(c);
}

/* Topics without a route (not created yet, or a retry topic the broker has not
 * registered yet) are looked up every second rather than every rebalance period. */
static void on_missing_timer(kite_ev *e, kite_ev_timer *t, void *arg)
{
    (void)e;
    (void)t;
    kite_push_consumer *c = arg;
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i]->missing) kite_pc_rebalance_topic(c, c->subs[i]);
}

static void boot(void *arg)
{
    kite_push_consumer *c = arg;
    if (stopping(c)) return;
    kite_pc_heartbeat_all(c);
    kite_pc_rebalance_all(c);
    c->t_hb = kite_ev_timer_add(ev(c), c->o.heartbeat_interval_ms, c->o.heartbeat_interval_ms,
                                on_hb_timer, c);
    c->t_rb = kite_ev_timer_add(ev(c), c->o.rebalance_interval_ms, c->o.rebalance_interval_ms,
                                on_rb_timer, c);
    c->t_commit = kite_ev_timer_add(ev(c), c->o.persist_offset_interval_ms,
                                    c->o.persist_offset_interval_ms, on_commit_timer, c);
    if (locking(c))
        c->t_lock = kite_ev_timer_add(ev(c), c->o.lock_interval_ms, c->o.lock_interval_ms,
                                      kite_pc_on_lock_timer, c);
    int64_t m = c->o.rebalance_interval_ms < 1000 ? c->o.rebalance_interval_ms : 1000;
    c->t_missing = kite_ev_timer_add(ev(c), m, m, on_missing_timer, c);
}

/* ---- lifecycle ---- */

void kite_push_consumer_opts_init(kite_push_consumer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->tls.verify_server = 1;
    o->message_model = KITE_CLUSTERING;
    o->consume_from = KITE_CONSUME_FROM_LAST_OFFSET;
    o->consume_threads = 20;
    o->consume_batch_size = 1;
    o->pull_batch_size = 32;
    o->pull_threshold_for_queue = 1000;
    o->pull_threshold_size_for_queue_mib = 100;
    o->max_reconsume_times = 16;
    o->persist_offset_interval_ms = 5000;
    o->heartbeat_interval_ms = 30000;
    o->rebalance_interval_ms = 20000;
    o->poll_namesrv_interval_ms = 30000;
    o->suspend_timeout_ms = 15000;
    o->pull_timeout_ms = 30000;
    o->rpc_timeout_ms = 3000;
    o->suspend_current_queue_ms = 1000;
    o->lock_interval_ms = 20000; /* rocketmq.client.rebalance.lockInterval */
    o->lock_live_ms = 30000;     /* rocketmq.client.rebalance.lockMaxLiveTime */
}

/* A subscription; NULL for a bad expression (a tag expression without a tag, an SQL92
 * expression that is empty). */
static sub *sub_new(kite_push_consumer *c, const char *topic, const char *expr, int sql,
                    int is_retry)
{
    sub *s = kite_xcalloc(1, sizeof *s);
    s->c = c;
    s->is_retry = is_retry;
    s->sql = sql;
    s->topic = kite_xstrdup(topic);
    s->expr = kite_xstrdup(expr && *expr ? expr : "*");
    s->version = kite_wall_ms();
    int ok;
    if (sql) {
        s->tags.all = 1; /* the broker evaluates the expression; nothing to match here */
        ok = expr && expr[strspn(expr, " \t\r\n")] != 0;
    } else {
        ok = kite_tagset_parse(&s->tags, s->expr) == KITE_OK;
    }
    if (!ok) {
        free(s->topic);
        free(s->expr);
        kite_tagset_free(&s->tags);
        free(s);
        return NULL;
    }
    return s;
}

static void sub_free(sub *s)
{
    if (!s) return;
    kite_tagset_free(&s->tags);
    free(s->topic);
    free(s->expr);
    free(s);
}

int kite_push_consumer_create(kite_push_consumer **out, const char *group,
                              const kite_push_consumer_opts *opts)
{
    if (!out) return KITE_EINVAL;
    *out = NULL;
    kite_push_consumer_opts o;
    if (opts)
        o = *opts;
    else
        kite_push_consumer_opts_init(&o);
    if (!group || !*group || strlen(group) > 255 ||
        (o.message_model != KITE_CLUSTERING && o.message_model != KITE_BROADCASTING) ||
        (o.consume_from != KITE_CONSUME_FROM_LAST_OFFSET &&
         o.consume_from != KITE_CONSUME_FROM_FIRST_OFFSET &&
         o.consume_from != KITE_CONSUME_FROM_TIMESTAMP) ||
        o.consume_threads < 1 || o.consume_threads > 1000 || o.consume_batch_size < 1 ||
        o.consume_batch_size > 1024 || o.pull_batch_size < 1 || o.pull_batch_size > 1024 ||
        o.pull_threshold_for_queue < 1 || o.pull_threshold_size_for_queue_mib < 1 ||
        o.max_reconsume_times < 0 || o.persist_offset_interval_ms < 10 ||
        o.heartbeat_interval_ms < 10 || o.rebalance_interval_ms < 10 ||
        o.poll_namesrv_interval_ms < 10 || o.suspend_timeout_ms < 0 ||
        o.pull_timeout_ms <= o.suspend_timeout_ms || o.rpc_timeout_ms < 1 ||
        o.suspend_current_queue_ms < 0 || o.lock_interval_ms < 10 || o.lock_live_ms < 1)
        return KITE_EINVAL;
    kite_push_consumer *c = kite_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->wq_mu, NULL);
    pthread_cond_init(&c->wq_cv, NULL);
    c->task_ns = 4 * SHORT_TASK_NS; /* start as if tasks were long: parallel until measured */
    kite_map_init(&c->pqs);
    kite_map_init(&c->offsets);
    kite_map_init(&c->releasing);
    c->o = o;
    c->group = kite_xstrdup(group);
    c->ns_copy = o.namesrv_addr ? kite_xstrdup(o.namesrv_addr) : NULL;
    c->inst_copy = o.instance_name ? kite_xstrdup(o.instance_name) : NULL;
    const char *home = getenv("HOME");
    char dflt[512];
    snprintf(dflt, sizeof dflt, "%s/.kite_offsets", home && *home ? home : "/tmp");
    c->dir_copy = kite_xstrdup(o.offset_store_dir ? o.offset_store_dir : dflt);
    size_t rl = KITE_RETRY_PREFIX_LEN + strlen(group) + 1;
    c->retry_topic = kite_xmalloc(rl);
    kite_retry_topic(c->retry_topic, rl, group);
    c->o.namesrv_addr = c->ns_copy;
    c->o.instance_name = c->inst_copy;
    c->o.offset_store_dir = c->dir_copy;
    /* client id: ip@instance (Java: an unnamed instance becomes pid#nanotime). */
    uint8_t ip[4];
    kite_local_ipv4(ip);
    char inst[160];
    if (c->inst_copy)
        snprintf(inst, sizeof inst, "%s", c->inst_copy);
    else
        snprintf(inst, sizeof inst, "%d#%lld", (int)getpid(), (long long)kite_mono_ns());
    char cid[256];
    snprintf(cid, sizeof cid, "%u.%u.%u.%u@%s", ip[0], ip[1], ip[2], ip[3], inst);
    c->client_id = kite_xstrdup(cid);
    if (o.message_model == KITE_BROADCASTING) {
        size_t n =
            strlen(c->dir_copy) + strlen(group) + (c->inst_copy ? strlen(c->inst_copy) : 0) + 32;
        c->offset_file = kite_xmalloc(n);
        if (c->inst_copy)
            snprintf(c->offset_file, n, "%s/%s/%s/offsets.json", c->dir_copy, c->inst_copy, group);
        else
            snprintf(c->offset_file, n, "%s/%s/offsets.json", c->dir_copy, group);
    }
    kite_inst_opts io = {
        .namesrv_addr = c->ns_copy,
        .rpc_timeout_ms = o.rpc_timeout_ms,
        .poll_interval_ms = o.poll_namesrv_interval_ms,
        .create_topic_key = KITE_TOPIC_AUTO_CREATE,
        .default_topic_queue_nums = 4,
        .tls = &o.tls,
        .cred = o.credentials,
    };
    char err[256];
    c->inst = kite_inst_new(&io, err, sizeof err);
    if (!c->inst) {
        KLOG_WARN("client", "consumer %s: %s", group, err);
        kite_push_consumer_destroy(c);
        return KITE_EINVAL;
    }
    *out = c;
    return KITE_OK;
}

static int topic_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > 127) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '%' || ch == '|' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int add_sub(kite_push_consumer *c, const char *topic, const char *expr, int sql,
                   int is_retry)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i]->topic, topic) == 0) {
            sub *s = sub_new(c, topic, expr, sql, is_retry);
            if (!s) return KITE_EINVAL;
            sub_free(c->subs[i]);
            c->subs[i] = s;
            return KITE_OK;
        }
    sub *s = sub_new(c, topic, expr, sql, is_retry);
    if (!s) return KITE_EINVAL;
    c->subs = kite_xreallocarray(c->subs, c->nsubs + 1, sizeof *c->subs);
    c->subs[c->nsubs++] = s;
    return KITE_OK;
}

static int subscribe(kite_push_consumer *c, const char *topic, const char *expression, int sql)
{
    if (!c || !topic_ok(topic)) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = c->state != C_CREATED ? KITE_ESTOPPED : add_sub(c, topic, expression, sql, 0);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int kite_push_consumer_subscribe(kite_push_consumer *c, const char *topic, const char *expression)
{
    return subscribe(c, topic, expression, 0);
}

int kite_push_consumer_subscribe_sql92(kite_push_consumer *c, const char *topic,
                                       const char *expression)
{
    return subscribe(c, topic, expression, 1);
}

int kite_push_consumer_set_listener(kite_push_consumer *c, kite_consume_cb cb, void *arg)
{
    if (!c || !cb) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = KITE_OK;
    if (c->state != C_CREATED)
        rc = KITE_ESTOPPED;
    else
        c->cb = cb, c->cb_arg = arg, c->ocb = NULL, c->ocb_arg = NULL;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int kite_push_consumer_set_orderly_listener(kite_push_consumer *c, kite_consume_orderly_cb cb,
                                            void *arg)
{
    if (!c || !cb) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = KITE_OK;
    if (c->state != C_CREATED)
        rc = KITE_ESTOPPED;
    else
        c->ocb = cb, c->ocb_arg = arg, c->cb = NULL, c->cb_arg = NULL;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* Start, after the routes: every broker of an SQL92 subscription's route is asked
 * whether it takes the expression (CHECK_CLIENT_CONFIG); one that refuses (SQL92 off,
 * or a syntax error) fails the start with KITE_ERR, as Java's start fails. A broker
 * that cannot be reached is only logged: its pulls will say more. */
static int check_sql92(kite_push_consumer *c)
{
    int rc = KITE_OK;
    for (size_t i = 0; i < c->nsubs && rc == KITE_OK; i++) {
        const sub *s = c->subs[i];
        if (!s->sql) continue;
        kite_pub_route *r = kite_inst_route_cached(c->inst, s->topic);
        kite_buf body = KITE_BUF_INIT;
        kite_jw w;
        kite_jw_init(&w, &body, 0);
        kite_jw_obj_begin(&w);
        kite_jw_key(&w, "clientId");
        kite_jw_str(&w, c->client_id);
        kite_jw_key(&w, "group");
        kite_jw_str(&w, c->group);
        kite_jw_key(&w, "subscriptionData");
        sub_json(&w, s);
        kite_jw_obj_end(&w);
        for (size_t b = 0; r && b < r->rd.n_brokers && rc == KITE_OK; b++) {
            const char *bn = r->rd.brokers[b].broker_name;
            const char *addr = bn ? kite_route_broker_addr(r, bn) : NULL;
            if (!addr) continue;
            kite_cmd req, resp;
            kite_cmd_init_request(&req, RC_CHECK_CLIENT_CONFIG, 0);
            kite_cmd_set_body_copy(&req, body.data, body.len);
            int crc = kite_rpc_call_sync(rpc(c), addr, &req, c->o.rpc_timeout_ms, &resp);
            if (crc != KITE_OK) {
                KLOG_WARN("client",
                          "consumer %s: SQL92 subscription of %s not checked with %s (%s): %s",
                          c->group, s->topic, bn, addr, kite_strerror(crc));
                continue;
            }
            if (resp.code != RS_SUCCESS) {
                KLOG_ERROR(
                    "client",
                    "consumer %s: broker %s (%s) refuses the SQL92 subscription of %s (\"%s\"): %d %s",
                    c->group, bn, addr, s->topic, s->expr, resp.code,
                    resp.remark ? resp.remark : "");
                rc = KITE_ERR;
            }
            kite_cmd_free(&resp);
        }
        kite_buf_free(&body);
        kite_pub_route_release(r);
    }
    return rc;
}

int kite_push_consumer_start(kite_push_consumer *c)
{
    if (!c) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->state != C_CREATED) {
        int st = c->state;
        pthread_mutex_unlock(&c->mu);
        return st == C_STARTED ? KITE_OK : KITE_ESTOPPED;
    }
    if ((!c->cb && !c->ocb) || c->nsubs == 0) {
        pthread_mutex_unlock(&c->mu);
        KLOG_WARN("client", "consumer %s: start needs a listener and at least one subscription",
                  c->group);
        return KITE_EINVAL;
    }
    int rc = KITE_OK;
    if (clustering(c) && (rc = add_sub(c, c->retry_topic, "*", 0, 1)) != KITE_OK) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    if (!clustering(c)) kite_pc_local_load(c);
    c->start_wall_ms = kite_wall_ms();
    if ((rc = kite_inst_start(c->inst)) != KITE_OK) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    /* No connection exists yet, so no broker request can race these registrations. */
    kite_pc_requests_register(c);
    c->workers = kite_xcalloc((size_t)c->o.consume_threads, sizeof *c->workers);
    for (int i = 0; i < c->o.consume_threads; i++) {
        if (pthread_create(&c->workers[i], NULL, kite_pc_worker_main, c) != 0) break;
        c->nworkers++;
    }
    c->state = C_STARTED;
    pthread_mutex_unlock(&c->mu);
    /* Routes first (blocking, bounded): heartbeats go to the brokers they name. */
    for (size_t i = 0; i < c->nsubs; i++) {
        kite_pub_route *r = NULL;
        char err[300];
        if (kite_inst_route_get(c->inst, c->subs[i]->topic, &r, err, sizeof err) != KITE_OK)
            KLOG_WARN("client", "consumer %s: %s", c->group, err);
        kite_pub_route_release(r);
    }
    if ((rc = check_sql92(c)) != KITE_OK) {
        kite_push_consumer_shutdown(c);
        return rc;
    }
    kite_ev_post(ev(c), boot, c);
    return KITE_OK;
}

typedef struct io_wait {
    kite_push_consumer *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} io_wait;

/* I/O: the last commits, then every pq is dropped and every timer cancelled. */
static void final_task(void *arg)
{
    io_wait *w = arg;
    kite_push_consumer *c = w->c;
    kite_ev *e = ev(c);
    if (c->t_hb) kite_ev_timer_cancel(e, c->t_hb);
    if (c->t_rb) kite_ev_timer_cancel(e, c->t_rb);
    if (c->t_commit) kite_ev_timer_cancel(e, c->t_commit);
    if (c->t_missing) kite_ev_timer_cancel(e, c->t_missing);
    if (c->t_lock) kite_ev_timer_cancel(e, c->t_lock);
    c->t_hb = c->t_rb = c->t_commit = c->t_missing = c->t_lock = NULL;
    kite_pc_commit_all(c);
    c->final_drop = 1; /* the workers are joined: unlock every queue now */
    size_t it = 0;
    void *v;
    pq **all = NULL;
    size_t n = 0;
    while (kite_map_next(&c->pqs, &it, NULL, &v)) {
        all = kite_xreallocarray(all, n + 1, sizeof *all);
        all[n++] = v;
    }
    for (size_t i = 0; i < n; i++) kite_pc_drop_pq(c, all[i], 0);
    free(all);
    /* Dropped orderly queues whose task the shutdown freed: unlock them now. */
    it = 0;
    n = 0;
    all = NULL;
    while (kite_map_next(&c->releasing, &it, NULL, &v)) {
        all = kite_xreallocarray(all, n + 1, sizeof *all);
        all[n++] = v;
    }
    for (size_t i = 0; i < n; i++) {
        kite_map_del(&c->releasing, all[i]->key);
        if (locking(c)) kite_pc_release_lock(c, all[i]);
        kite_pc_pq_release(all[i]);
    }
    free(all);
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int kite_push_consumer_shutdown(kite_push_consumer *c)
{
    if (!c) return KITE_EINVAL;
    if (c->inst && kite_inst_on_io_thread(c->inst)) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->state != C_STARTED) {
        if (c->state == C_CREATED) c->state = C_STOPPED;
        pthread_mutex_unlock(&c->mu);
        return KITE_OK;
    }
    for (int i = 0; i < c->nworkers; i++)
        if (pthread_equal(pthread_self(), c->workers[i])) { /* from a listener */
            pthread_mutex_unlock(&c->mu);
            return KITE_EINVAL;
        }
    c->state = C_STOPPING;
    pthread_mutex_unlock(&c->mu);

    atomic_store(&c->stopping, 1); /* no new pulls, rebalances or heartbeats */
    pthread_mutex_lock(&c->wq_mu);
    c->wq_stop = 1;
    pthread_cond_broadcast(&c->wq_cv);
    pthread_mutex_unlock(&c->wq_mu);
    for (int i = 0; i < c->nworkers; i++) pthread_join(c->workers[i], NULL);
    free(c->workers);
    c->workers = NULL;
    c->nworkers = 0;
    kite_pc_free_queued(c);

    io_wait w = { .c = c, .done = 0 };
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    kite_ev_post(ev(c), final_task, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);

    size_t n = 0;
    char **addrs = broker_addrs(c, &n);
    for (size_t i = 0; i < n; i++) {
        kite_cmd req, resp;
        kite_cmd_init_request(&req, RC_UNREGISTER_CLIENT, 0);
        kite_cmd_set_ext(&req, "clientID", c->client_id);
        kite_cmd_set_ext(&req, "consumerGroup", c->group);
        if (kite_rpc_call_sync(rpc(c), addrs[i], &req, c->o.rpc_timeout_ms, &resp) == KITE_OK)
            kite_cmd_free(&resp);
    }
    free_strs(addrs, n);
    kite_inst_stop(c->inst);
    pthread_mutex_lock(&c->mu);
    c->state = C_STOPPED;
    pthread_mutex_unlock(&c->mu);
    return KITE_OK;
}

static void free_off(void *v) { free(v); }

void kite_push_consumer_destroy(kite_push_consumer *c)
{
    if (!c) return;
    kite_push_consumer_shutdown(c);
    kite_inst_free(c->inst);
    kite_map_free(&c->pqs, NULL); /* empty after shutdown */
    kite_map_free(&c->offsets, free_off);
    kite_map_free(&c->releasing, NULL); /* empty after shutdown */
    for (size_t i = 0; i < c->nsubs; i++) sub_free(c->subs[i]);
    free(c->subs);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->wq_mu);
    pthread_cond_destroy(&c->wq_cv);
    free(c->group);
    free(c->retry_topic);
    free(c->client_id);
    free(c->ns_copy);
    free(c->dir_copy);
    free(c->inst_copy);
    free(c->offset_file);
    free(c);
}

const char *kite_push_consumer_group(const kite_push_consumer *c) { return c ? c->group : NULL; }
const char *kite_push_consumer_client_id(const kite_push_consumer *c)
{
    return c ? c->client_id : NULL;
}
size_t kite_push_consumer_queue_count(const kite_push_consumer *c)
{
    return c ? atomic_load(&((kite_push_consumer *)c)->nqueues) : 0;
}
