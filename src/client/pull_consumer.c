/* pull_consumer.c - the simple pull consumer (include/kite/pull_consumer.h): blocking
 * calls on the caller's thread over the instance's RPC client (the I/O thread does
 * the network work). Routes come from instance.c (cached, refreshed; fetch_queues asks a
 * name server every time).
 * Which broker of a group: a pull goes to the broker id the last pull answer of that
 * queue suggested (suggestWhichBrokerId, docs/wire.md §12.7) when the route has it, else
 * to the master, else to a slave (the master is gone from the route). A call that cannot
 * reach the broker it chose (connection refused or closed, no answer) asks for a fresh
 * route and is made once more on another address of the same group, so a consumer whose
 * cached route still names a dead master reads from its slave at once.
 * Owns: kite_pull_consumer; the messages of a result (kite_rmsg, received.c); the table of
 * suggested broker ids.
 * Threads: every call blocks the caller and is safe from many threads; state (started
 * or not, calls in progress) is guarded by mu so shutdown waits for calls in progress;
 * the suggestion table by its own mutex. */
#include "client/instance.h"
#include "client/received.h"
#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"
#include "codec/systopic.h"
#include "kite/pull_consumer.h"
#include "kite/status.h"
#include "proto/codes.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kite_pull_consumer {
    char *group, *ns;
    kite_pull_consumer_opts o;
    kite_inst *inst;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
    int calls;
    pthread_mutex_t sug_mu;
    kite_map suggested; /* "topic\x01broker\x01qid" -> broker id + 1 (as a pointer) */
};

void kite_pull_consumer_opts_init(kite_pull_consumer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->tls.verify_server = 1;
    o->rpc_timeout_ms = 3000;
    o->poll_namesrv_interval_ms = 30000;
}

void kite_pull_result_free(kite_pull_result *r)
{
    if (!r) return;
    /* msgs is the kite_rmsg array of the pull (see pull below), shown as its public part. */
    kite_rmsgs_free((kite_rmsg **)(void *)r->msgs, r->n);
    r->msgs = NULL;
    r->n = 0;
}

void kite_mq_list_free(kite_mq_list *l)
{
    if (!l) return;
    free(l->mqs);
    l->mqs = NULL;
    l->n = 0;
}

int kite_pull_consumer_create(kite_pull_consumer **out, const char *group,
                              const kite_pull_consumer_opts *opts)
{
    if (!out) return KITE_EINVAL;
    *out = NULL;
    kite_pull_consumer_opts o;
    if (opts)
        o = *opts;
    else
        kite_pull_consumer_opts_init(&o);
    if (!group || !*group || strlen(group) > 255 || o.rpc_timeout_ms <= 0 ||
        o.poll_namesrv_interval_ms < 10)
        return KITE_EINVAL;
    kite_pull_consumer *c = kite_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_init(&c->sug_mu, NULL);
    kite_map_init(&c->suggested);
    c->group = kite_xstrdup(group);
    c->ns = o.namesrv_addr ? kite_xstrdup(o.namesrv_addr) : NULL;
    c->o = o;
    c->o.namesrv_addr = c->ns;
    kite_inst_opts io = {
        .namesrv_addr = c->ns,
        .rpc_timeout_ms = o.rpc_timeout_ms,
        .poll_interval_ms = o.poll_namesrv_interval_ms,
        .create_topic_key = KITE_TOPIC_AUTO_CREATE,
        .default_topic_queue_nums = 4,
        .tls = &o.tls,
        .cred = o.credentials,
    };
    char err[256];
    if (!(c->inst = kite_inst_new(&io, err, sizeof err))) {
        KLOG_WARN("client", "pull consumer %s: %s", group, err);
        kite_pull_consumer_destroy(c);
        return KITE_EINVAL;
    }
    *out = c;
    return KITE_OK;
}

int kite_pull_consumer_start(kite_pull_consumer *c)
{
    if (!c) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = c->started ? KITE_OK : kite_inst_start(c->inst);
    if (rc == KITE_OK) c->started = 1;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int kite_pull_consumer_shutdown(kite_pull_consumer *c)
{
    if (!c) return KITE_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (!c->started) {
        pthread_mutex_unlock(&c->mu);
        return KITE_OK;
    }
    c->started = 0; /* new calls are refused; the ones in progress end within their timeout */
    while (c->calls > 0) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    kite_inst_stop(c->inst);
    return KITE_OK;
}

void kite_pull_consumer_destroy(kite_pull_consumer *c)
{
    if (!c) return;
    kite_pull_consumer_shutdown(c);
    kite_inst_free(c->inst);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->sug_mu);
    kite_map_free(&c->suggested, NULL);
    free(c->group);
    free(c->ns);
    free(c);
}

static int call_begin(kite_pull_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    int ok = c->started;
    if (ok) c->calls++;
    pthread_mutex_unlock(&c->mu);
    return ok ? KITE_OK : KITE_ESTOPPED;
}

static int call_end(kite_pull_consumer *c, int rc)
{
    pthread_mutex_lock(&c->mu);
    if (--c->calls == 0) pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void sug_key(const kite_mq *mq, char *out, size_t cap)
{
    snprintf(out, cap, "%s\x01%s\x01%d", mq->topic, mq->broker_name, mq->queue_id);
}

/* The broker id the last pull answer of mq suggested (0 when none). */
static int64_t suggested_id(kite_pull_consumer *c, const kite_mq *mq)
{
    char k[400];
    sug_key(mq, k, sizeof k);
    pthread_mutex_lock(&c->sug_mu);
    intptr_t v = (intptr_t)kite_map_get(&c->suggested, k);
    pthread_mutex_unlock(&c->sug_mu);
    return v > 0 ? (int64_t)(v - 1) : 0;
}

static void set_suggested(kite_pull_consumer *c, const kite_mq *mq, int64_t id)
{
    if (id < 0 || id > 1000000) return;
    char k[400];
    sug_key(mq, k, sizeof k);
    pthread_mutex_lock(&c->sug_mu);
    if (id == 0)
        kite_map_del(&c->suggested, k);
    else
        kite_map_put(&c->suggested, k, (void *)(intptr_t)(id + 1));
    pthread_mutex_unlock(&c->sug_mu);
}

/* Address of mq's broker from the (cached or fetched) route: broker id `want` when the
 * route has it, else the master, else the slave with the lowest id. failed_addr (may be "")
 * is an address that just failed: another address of the group is taken instead, and
 * KITE_ENOTFOUND returned when there is none. */
static int mq_addr(kite_pull_consumer *c, const kite_mq *mq, int64_t want, const char *failed_addr,
                   char *out, size_t cap)
{
    if (!mq || !mq->topic || !mq->broker_name || mq->queue_id < 0) return KITE_EINVAL;
    kite_pub_route *r = NULL;
    char err[300];
    int rc = kite_inst_route_get(c->inst, mq->topic, &r, err, sizeof err);
    if (rc != KITE_OK) return rc;
    const char *a = want != 0 ? kite_route_broker_addr_id(r, mq->broker_name, want) : NULL;
    if (!a) a = kite_route_broker_addr(r, mq->broker_name);
    if (a && *failed_addr && strcmp(a, failed_addr) == 0) {
        a = NULL;
        for (size_t i = 0; i < r->rd.n_brokers && !a; i++) {
            const kite_broker_data *b = &r->rd.brokers[i];
            if (!b->broker_name || strcmp(b->broker_name, mq->broker_name) != 0) continue;
            for (size_t j = 0; j < b->n_addrs && !a; j++)
                if (b->addrs[j].addr && strcmp(b->addrs[j].addr, failed_addr) != 0)
                    a = b->addrs[j].addr;
        }
    }
    if (!a) {
        /* Maybe a broker that joined since: one fresh look. */
        kite_pub_route_release(r);
        kite_inst_route_stale(c->inst, mq->topic);
        return KITE_ENOTFOUND;
    }
    snprintf(out, cap, "%s", a);
    kite_pub_route_release(r);
    return KITE_OK;
}

/* Transport failures after which the call is made once more on another address. */
static int unreachable(int rc)
{
    return rc == KITE_ECLOSED || rc == KITE_ETIMEDOUT || rc == KITE_EIO;
}

static void set_i64(kite_cmd *cmd, const char *k, int64_t v) { kite_cmd_set_ext_i64(cmd, k, v); }

/* A request about one queue: PULL_MESSAGE, or an offset call. */
typedef struct req_spec {
    int code;
    const kite_mq *mq;
    int64_t offset; /* pull: queueOffset; UPDATE_CONSUMER_OFFSET: commitOffset */
    int max, sql;   /* pull */
    const char *expression;
} req_spec;

static void build_req(kite_pull_consumer *c, const req_spec *s, kite_cmd *req)
{
    const kite_mq *mq = s->mq;
    kite_cmd_init_request(req, s->code, 0);
    if (s->code == RC_PULL_MESSAGE || s->code == RC_QUERY_CONSUMER_OFFSET ||
        s->code == RC_UPDATE_CONSUMER_OFFSET)
        kite_cmd_set_ext(req, "consumerGroup", c->group);
    kite_cmd_set_ext(req, "topic", mq->topic);
    set_i64(req, "queueId", mq->queue_id);
    if (s->code == RC_UPDATE_CONSUMER_OFFSET) set_i64(req, "commitOffset", s->offset);
    if (s->code == RC_PULL_MESSAGE) {
        set_i64(req, "queueOffset", s->offset);
        set_i64(req, "maxMsgNums", s->max);
        set_i64(req, "sysFlag", 0x4); /* SUBSCRIPTION, no suspend */
        set_i64(req, "commitOffset", 0);
        set_i64(req, "suspendTimeoutMillis", 0);
        kite_cmd_set_ext(req, "subscription",
                         s->expression && *s->expression ? s->expression : "*");
        set_i64(req, "subVersion", 0);
        kite_cmd_set_ext(req, "expressionType", s->sql ? "SQL92" : "TAG");
    }
    kite_cmd_set_ext(req, "bname", mq->broker_name);
}

/* Sends the request s to its queue's broker (broker id `want` first, see mq_addr) and waits
 * for the answer; when that address cannot be reached, refreshes the route and makes the
 * call once more on another address of the group. */
static int call_group(kite_pull_consumer *c, const req_spec *s, int64_t want, kite_cmd *resp)
{
    const kite_mq *mq = s->mq;
    char addr[128];
    int rc = mq_addr(c, mq, want, "", addr, sizeof addr);
    if (rc != KITE_OK) return rc;
    kite_cmd req;
    build_req(c, s, &req);
    rc = kite_rpc_call_sync(kite_inst_rpc(c->inst), addr, &req, c->o.rpc_timeout_ms, resp);
    if (!unreachable(rc)) return rc;
    KLOG_DEBUG("client", "pull consumer %s: broker %s of %s unreachable (%s), trying another",
               c->group, addr, mq->broker_name, kite_strerror(rc));
    kite_inst_route_stale(c->inst, mq->topic);
    char other[128];
    if (mq_addr(c, mq, want, addr, other, sizeof other) != KITE_OK) return rc;
    build_req(c, s, &req);
    return kite_rpc_call_sync(kite_inst_rpc(c->inst), other, &req, c->o.rpc_timeout_ms, resp);
}

typedef struct route_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
    kite_pub_route *r;
} route_wait;

static void on_route(int status, kite_pub_route *r, const char *err, void *arg)
{
    (void)err;
    route_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->r = r;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int kite_pull_consumer_fetch_queues(kite_pull_consumer *c, const char *topic, kite_mq_list *out)
{
    if (!c || !topic || !*topic || !out) return KITE_EINVAL;
    out->n = 0;
    out->mqs = NULL;
    int rc = call_begin(c);
    if (rc != KITE_OK) return rc;
    if (kite_inst_on_io_thread(c->inst)) return call_end(c, KITE_EINVAL);
    route_wait w = { .done = 0 };
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    kite_inst_route_fetch(c->inst, topic, on_route, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    if (w.status != KITE_OK) return call_end(c, w.status);
    if (w.r->via_default) {
        kite_pub_route_release(w.r);
        return call_end(c, KITE_ENOTFOUND);
    }
    kite_mq *v = NULL;
    size_t n = 0;
    kite_route_read_queues(w.r, &v, &n);
    if (n) {
        /* One allocation: the array, then the strings. */
        size_t text = strlen(topic) + 1;
        for (size_t i = 0; i < n; i++) text += strlen(v[i].broker_name) + 1;
        kite_mq *all = kite_xmalloc(n * sizeof *all + text);
        char *s = (char *)(all + n);
        strcpy(s, topic);
        const char *t = s;
        s += strlen(topic) + 1;
        for (size_t i = 0; i < n; i++) {
            all[i].topic = t;
            all[i].queue_id = v[i].queue_id;
            strcpy(s, v[i].broker_name);
            all[i].broker_name = s;
            s += strlen(s) + 1;
        }
        out->mqs = all;
        out->n = n;
    }
    free(v);
    kite_pub_route_release(w.r);
    return call_end(c, rc);
}

/* One PULL_MESSAGE; sql: expression is an SQL92 filter the broker evaluates (no tag
 * filtering here). */
static int pull(kite_pull_consumer *c, const kite_mq *mq, const char *expression, int sql,
                int64_t offset, int max, kite_pull_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    if (!c || !res || max < 1 || max > 1024 || offset < 0) return KITE_EINVAL;
    if (sql && (!expression || !expression[strspn(expression, " \t\r\n")])) return KITE_EINVAL;
    kite_tagset tags = { .all = 1 };
    int rc = sql ? KITE_OK : kite_tagset_parse(&tags, expression);
    if (rc != KITE_OK) return rc;
    if ((rc = call_begin(c)) != KITE_OK) {
        kite_tagset_free(&tags);
        return rc;
    }
    if (!mq || !mq->topic || !mq->broker_name || mq->queue_id < 0) {
        kite_tagset_free(&tags);
        return call_end(c, KITE_EINVAL);
    }
    kite_cmd resp;
    req_spec spec = { .code = RC_PULL_MESSAGE,
                      .mq = mq,
                      .offset = offset,
                      .max = max,
                      .sql = sql,
                      .expression = expression };
    rc = call_group(c, &spec, suggested_id(c, mq), &resp);
    if (rc != KITE_OK) {
        kite_tagset_free(&tags);
        return call_end(c, rc);
    }
    int code = resp.code;
    int64_t sug;
    if (kite_cmd_ext_i64(&resp, "suggestWhichBrokerId", &sug) == 0) set_suggested(c, mq, sug);
    if (code != RS_SUCCESS && code != RS_PULL_NOT_FOUND && code != RS_PULL_RETRY_IMMEDIATELY &&
        code != RS_PULL_OFFSET_MOVED) {
        KLOG_DEBUG("client", "pull consumer %s: pull of %s answered %d %s", c->group, mq->topic,
                   code, resp.remark ? resp.remark : "");
        rc = code == RS_TOPIC_NOT_EXIST ? KITE_ENOTFOUND : KITE_ERR;
    } else if (kite_cmd_ext_i64(&resp, "nextBeginOffset", &res->next_begin_offset) != 0) {
        rc = KITE_EPROTO;
    } else {
        kite_cmd_ext_i64(&resp, "minOffset", &res->min_offset);
        kite_cmd_ext_i64(&resp, "maxOffset", &res->max_offset);
        res->status = code == RS_SUCCESS                  ? KITE_PULL_FOUND
                      : code == RS_PULL_NOT_FOUND         ? KITE_PULL_NO_NEW_MSG
                      : code == RS_PULL_RETRY_IMMEDIATELY ? KITE_PULL_NO_MATCHED_MSG
                                                          : KITE_PULL_OFFSET_ILLEGAL;
        if (code == RS_SUCCESS) {
            kite_rmsg **v = NULL;
            size_t n = 0;
            char err[200];
            int drc = kite_rmsg_decode_all(resp.body, resp.body_len, mq->broker_name, NULL, &tags,
                                           &v, &n, err, sizeof err);
            if (drc != KITE_OK)
                KLOG_WARN("client", "pull consumer %s: %s (%zu messages kept)", c->group, err, n);
            res->n = n;
            res->msgs = (const kite_message_ext *const *)(void *)
                v; /* kite_rmsg starts with the public struct */
            if (n == 0) res->status = KITE_PULL_NO_MATCHED_MSG;
        }
    }
    kite_cmd_free(&resp);
    kite_tagset_free(&tags);
    return call_end(c, rc);
}

int kite_pull_consumer_pull(kite_pull_consumer *c, const kite_mq *mq, const char *expression,
                            int64_t offset, int max, kite_pull_result *res)
{
    return pull(c, mq, expression, 0, offset, max, res);
}

int kite_pull_consumer_pull_sql92(kite_pull_consumer *c, const kite_mq *mq, const char *expression,
                                  int64_t offset, int max, kite_pull_result *res)
{
    return pull(c, mq, expression, 1, offset, max, res);
}

/* A call answered with code 0 (and optionally an "offset" field). */
static int simple_call(kite_pull_consumer *c, const kite_mq *mq, int code, int64_t commit,
                       int64_t *offset)
{
    int rc = call_begin(c);
    if (rc != KITE_OK) return rc;
    if (!mq || !mq->topic || !mq->broker_name || mq->queue_id < 0) return call_end(c, KITE_EINVAL);
    kite_cmd resp;
    req_spec spec = { .code = code, .mq = mq, .offset = commit };
    rc = call_group(c, &spec, 0, &resp); /* offsets: the master, else a slave */
    if (rc != KITE_OK) return call_end(c, rc);
    if (resp.code == RS_QUERY_NOT_FOUND)
        rc = KITE_ENOTFOUND;
    else if (resp.code != RS_SUCCESS)
        rc = KITE_ERR;
    else if (offset && kite_cmd_ext_i64(&resp, "offset", offset) != 0)
        rc = KITE_EPROTO;
    kite_cmd_free(&resp);
    return call_end(c, rc);
}

int kite_pull_consumer_commit_offset(kite_pull_consumer *c, const kite_mq *mq, int64_t offset)
{
    if (!c || offset < 0) return KITE_EINVAL;
    return simple_call(c, mq, RC_UPDATE_CONSUMER_OFFSET, offset, NULL);
}

int kite_pull_consumer_fetch_offset(kite_pull_consumer *c, const kite_mq *mq, int64_t *offset)
{
    if (!c || !offset) return KITE_EINVAL;
    /* setZeroIfNotFound is not sent: brokers may still answer 0 for a young queue
     * (docs/wire.md §6.4). */
    return simple_call(c, mq, RC_QUERY_CONSUMER_OFFSET, 0, offset);
}

int kite_pull_consumer_max_offset(kite_pull_consumer *c, const kite_mq *mq, int64_t *offset)
{
    if (!c || !offset) return KITE_EINVAL;
    return simple_call(c, mq, RC_GET_MAX_OFFSET, 0, offset);
}

int kite_pull_consumer_min_offset(kite_pull_consumer *c, const kite_mq *mq, int64_t *offset)
{
    if (!c || !offset) return KITE_EINVAL;
    return simple_call(c, mq, RC_GET_MIN_OFFSET, 0, offset);
}
