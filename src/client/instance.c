/* instance.c - name-server list with failover, topic route cache and refresh, and the
 * RPC client whose loop is the client's I/O thread (see instance.h).
 *
 * Name servers: the list comes from "a;b;c"; the current one starts at a random index
 * and moves to the next when a call to it fails (transport error or an answer other than
 * SUCCESS / TOPIC_NOT_EXIST). A fetch tries each name server at most once.
 * Routes: GET_ROUTEINFO_BY_TOPIC (105) with acceptStandardJsonOnly=true (our request
 * version is >= 401 too), so name servers answer standard JSON; kite_route_decode reads
 * both forms anyway. Publish queues per docs/wire.md §12.2: orderTopicConf when present,
 * else every QueueData with WRITE permission whose broker has a master (id 0), sorted
 * by broker name, ids 0..writeQueueNums-1. TOPIC_NOT_EXIST (17) falls back to the
 * route of create_topic_key with each broker's queue count capped at
 * default_topic_queue_nums, so the broker auto-creates the topic on first send.
 * Threads: see instance.h. `stopping` is set before the RPC client is freed so that
 * callbacks failed by the shutdown never start new calls. */
#include "client/instance.h"
#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/systopic.h"
#include "kite/status.h"
#include "net/tls.h"
#include "proto/codes.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kite_inst {
    kite_inst_opts o;
    char *create_topic_key;
    char **ns;
    size_t n_ns;
    atomic_size_t ns_cur;
    kite_rpc_client *rpc;
    kite_tls_ctx *tls; /* client TLS context when opts.tls->enable */
    atomic_int stopping;
    pthread_mutex_t mu;    /* guards routes */
    kite_map routes;       /* topic -> kite_pub_route* (one reference held by the map) */
    char *ak, *sk, *token; /* copies of o.cred */
};

void kite_pub_route_release(kite_pub_route *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    kite_route_free(&r->rd);
    free(r->mqs);
    free(r->topic);
    free(r);
}

static kite_pub_route *route_ref(kite_pub_route *r)
{
    atomic_fetch_add(&r->refs, 1);
    return r;
}

const char *kite_pub_route_master(const kite_pub_route *r, const char *broker_name)
{
    for (size_t i = 0; i < r->rd.n_brokers; i++) {
        const kite_broker_data *b = &r->rd.brokers[i];
        if (!b->broker_name || strcmp(b->broker_name, broker_name) != 0) continue;
        for (size_t j = 0; j < b->n_addrs; j++)
            if (b->addrs[j].id == 0) return b->addrs[j].addr;
    }
    return NULL;
}

kite_inst *kite_inst_new(const kite_inst_opts *o, char *err, size_t errlen)
{
    if (!o->namesrv_addr || !*o->namesrv_addr) {
        snprintf(err, errlen, "no name server address configured (namesrv_addr)");
        return NULL;
    }
    const kite_credentials *cr = &o->cred;
    if (!cr->access_key != !cr->secret_key || (cr->access_key && !*cr->access_key)) {
        snprintf(err, errlen, "credentials need both access_key and secret_key");
        return NULL;
    }
    kite_inst *in = kite_xcalloc(1, sizeof *in);
    pthread_mutex_init(&in->mu, NULL);
    in->ak = cr->access_key ? kite_xstrdup(cr->access_key) : NULL;
    in->sk = cr->secret_key ? kite_xstrdup(cr->secret_key) : NULL;
    in->token = cr->access_key && cr->security_token ? kite_xstrdup(cr->security_token) : NULL;
    kite_map_init(&in->routes);
    in->o = *o;
    in->o.tls = NULL;
    if (o->tls && o->tls->enable) {
        char terr[384];
        in->tls =
            kite_tls_client_new(o->tls->ca_file, o->tls->cert_file, o->tls->key_file,
                                o->tls->key_password, o->tls->verify_server, terr, sizeof terr);
        if (!in->tls) {
            snprintf(err, errlen, "TLS: %s", terr);
            kite_inst_free(in);
            return NULL;
        }
    }
    in->o.cred = (kite_credentials){ in->ak, in->sk, in->token };
    const char *ctk = o->create_topic_key ? o->create_topic_key : KITE_TOPIC_AUTO_CREATE;
    in->create_topic_key = kite_xstrdup(ctk);
    char *list = kite_xstrdup(o->namesrv_addr);
    char *save = NULL;
    for (char *t = strtok_r(list, ";, ", &save); t; t = strtok_r(NULL, ";, ", &save)) {
        const char *colon = strrchr(t, ':');
        if (!colon || colon == t || !colon[1] || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535) {
            snprintf(err, errlen, "name server address '%s' is not host:port", t);
            free(list);
            kite_inst_free(in);
            return NULL;
        }
        in->ns = kite_xreallocarray(in->ns, in->n_ns + 1, sizeof *in->ns);
        in->ns[in->n_ns++] = kite_xstrdup(t);
    }
    free(list);
    if (!in->n_ns) {
        snprintf(err, errlen, "no name server address in '%s'", o->namesrv_addr);
        kite_inst_free(in);
        return NULL;
    }
    /* Random start (Java picks one at random too), so clients spread over name servers. */
    atomic_init(&in->ns_cur, (size_t)(kite_mono_ns() ^ getpid()) % in->n_ns);
    return in;
}

static void free_route_val(void *v) { kite_pub_route_release(v); }

void kite_inst_free(kite_inst *in)
{
    if (!in) return;
    kite_inst_stop(in);
    kite_tls_ctx_free(in->tls);
    pthread_mutex_destroy(&in->mu);
    kite_map_free(&in->routes, free_route_val);
    for (size_t i = 0; i < in->n_ns; i++) free(in->ns[i]);
    free(in->ns);
    free(in->create_topic_key);
    free(in->ak);
    free(in->sk);
    free(in->token);
    free(in);
}

kite_rpc_client *kite_inst_rpc(kite_inst *in) { return in->rpc; }
const char *kite_inst_namesrv(kite_inst *in) { return in->ns[atomic_load(&in->ns_cur) % in->n_ns]; }

int kite_inst_on_io_thread(kite_inst *in)
{
    return in->rpc && kite_ev_in_loop(kite_rpc_client_ev(in->rpc));
}

/* ---- the refresh timer (I/O thread) ---- */

static void refresh_all(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_inst *in = arg;
    (void)ev;
    (void)t;
    pthread_mutex_lock(&in->mu);
    size_t n = 0;
    const char **keys = kite_map_sorted_keys(&in->routes, &n);
    char **topics = kite_xcalloc(n, sizeof *topics);
    for (size_t i = 0; i < n; i++) topics[i] = kite_xstrdup(keys[i]);
    pthread_mutex_unlock(&in->mu);
    free(keys);
    for (size_t i = 0; i < n; i++) {
        kite_inst_route_fetch(in, topics[i], NULL, NULL);
        free(topics[i]);
    }
    free(topics);
}

static void add_timer(void *arg)
{
    kite_inst *in = arg;
    int64_t every = in->o.poll_interval_ms > 0 ? in->o.poll_interval_ms : 30000;
    kite_ev_timer_add(kite_rpc_client_ev(in->rpc), every, every, refresh_all, in);
}

int kite_inst_start(kite_inst *in)
{
    if (in->rpc) return KITE_OK;
    kite_rpc_client_opts ro = { .tls = in->tls };
    in->rpc = kite_rpc_client_new(&ro);
    if (!in->rpc) return KITE_ENOMEM; /* no event loop or thread from the system */
    if (in->ak) kite_rpc_client_set_credentials(in->rpc, in->ak, in->sk, in->token);
    atomic_store(&in->stopping, 0);
    kite_ev_post(kite_rpc_client_ev(in->rpc), add_timer, in); /* the timer dies with the loop */
    return KITE_OK;
}

void kite_inst_stop(kite_inst *in)
{
    if (!in->rpc) return;
    atomic_store(&in->stopping, 1);
    kite_rpc_client_free(in->rpc);
    in->rpc = NULL;
}

void kite_inst_close_all(kite_inst *in)
{
    if (!in->rpc) return;
    for (size_t i = 0; i < in->n_ns; i++) kite_rpc_client_close_addr(in->rpc, in->ns[i]);
    pthread_mutex_lock(&in->mu);
    size_t it = 0;
    void *v;
    while (kite_map_next(&in->routes, &it, NULL, &v)) {
        kite_pub_route *r = v;
        for (size_t i = 0; i < r->rd.n_brokers; i++)
            for (size_t j = 0; j < r->rd.brokers[i].n_addrs; j++)
                if (r->rd.brokers[i].addrs[j].addr)
                    kite_rpc_client_close_addr(in->rpc, r->rd.brokers[i].addrs[j].addr);
    }
    pthread_mutex_unlock(&in->mu);
}

/* ---- routes ---- */

kite_pub_route *kite_inst_route_cached(kite_inst *in, const char *topic)
{
    pthread_mutex_lock(&in->mu);
    kite_pub_route *r = kite_map_get(&in->routes, topic);
    if (r) route_ref(r);
    pthread_mutex_unlock(&in->mu);
    return r;
}

static int cmp_qd(const void *a, const void *b)
{
    const kite_queue_data *x = a, *y = b;
    return strcmp(x->broker_name, y->broker_name);
}

static void add_mq(kite_pub_route *r, size_t *cap, const char *broker, int qid)
{
    if (r->n_mq == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        r->mqs = kite_xreallocarray(r->mqs, *cap, sizeof *r->mqs);
    }
    r->mqs[r->n_mq].topic = r->topic;
    r->mqs[r->n_mq].broker_name = broker;
    r->mqs[r->n_mq].queue_id = qid;
    r->n_mq++;
}

/* Takes rd over. cap_queues > 0 limits each broker's queue count (TBW102 routes). */
static kite_pub_route *build_route(kite_route_data *rd, const char *topic, int via_default,
                                   int cap_queues)
{
    kite_pub_route *r = kite_xcalloc(1, sizeof *r);
    r->topic = kite_xstrdup(topic);
    atomic_init(&r->refs, 1);
    r->rd = *rd;
    memset(rd, 0, sizeof *rd);
    r->via_default = via_default;
    r->fetched_ms = kite_mono_ms();
    size_t cap = 0;
    const char *otc = r->rd.order_topic_conf;
    if (otc && *otc && !via_default) {
        /* "brokerName:queueNum;brokerName:queueNum": exactly these queues, in this order. */
        for (size_t i = 0; i < r->rd.n_queues; i++) {
            const char *bn = r->rd.queues[i].broker_name;
            size_t bl = strlen(bn);
            for (const char *p = otc; (p = strstr(p, bn)) != NULL; p += bl) {
                if ((p != otc && p[-1] != ';') || p[bl] != ':') continue;
                int n = atoi(p + bl + 1);
                for (int q = 0; q < n; q++) add_mq(r, &cap, bn, q);
                break;
            }
        }
        return r;
    }
    qsort(r->rd.queues, r->rd.n_queues, sizeof *r->rd.queues, cmp_qd);
    for (size_t i = 0; i < r->rd.n_queues; i++) {
        const kite_queue_data *q = &r->rd.queues[i];
        if (!(q->perm & KITE_PERM_WRITE) || !kite_pub_route_master(r, q->broker_name)) continue;
        int n = q->write_queue_nums;
        if (cap_queues > 0 && n > cap_queues) n = cap_queues;
        for (int k = 0; k < n; k++) add_mq(r, &cap, q->broker_name, k);
    }
    return r;
}

static void publish(kite_inst *in, kite_pub_route *r)
{
    route_ref(r);
    pthread_mutex_lock(&in->mu);
    kite_pub_route *old = kite_map_put(&in->routes, r->topic, r);
    pthread_mutex_unlock(&in->mu);
    kite_pub_route_release(old);
}

typedef struct fetch {
    kite_inst *in;
    char *topic;
    kite_route_cb cb;
    void *arg;
    int phase;    /* 0: the topic; 1: create_topic_key (the topic does not exist) */
    size_t tried; /* name servers asked in this phase */
    size_t ns_idx;
    int last_status;
    char err[300];
} fetch;

static void fetch_send(fetch *f);

static void fetch_finish(fetch *f, int status, kite_pub_route *r)
{
    if (f->cb)
        f->cb(status, r, status == KITE_OK ? NULL : f->err, f->arg);
    else
        kite_pub_route_release(r);
    if (status != KITE_OK && !f->cb && !atomic_load(&f->in->stopping))
        KLOG_DEBUG("client", "route refresh of %s failed: %s", f->topic, f->err);
    free(f->topic);
    free(f);
}

/* The current name server failed: move on to the next (unless another call already did). */
static void ns_failed(fetch *f)
{
    size_t cur = f->ns_idx;
    atomic_compare_exchange_strong(&f->in->ns_cur, &cur, (f->ns_idx + 1) % f->in->n_ns);
}

static void fetch_next_ns(fetch *f, int status)
{
    f->last_status = status;
    ns_failed(f);
    f->tried++;
    if (f->tried >= f->in->n_ns || atomic_load(&f->in->stopping)) {
        fetch_finish(f, status, NULL);
        return;
    }
    f->ns_idx = (f->ns_idx + 1) % f->in->n_ns;
    fetch_send(f);
}

static void on_route(int status, kite_cmd *resp, void *arg)
{
    fetch *f = arg;
    kite_inst *in = f->in;
    const char *ns = in->ns[f->ns_idx];
    if (status != KITE_OK) {
        snprintf(f->err, sizeof f->err, "name server %s: %s", ns, kite_strerror(status));
        fetch_next_ns(f, status);
        return;
    }
    if (resp->code == RS_TOPIC_NOT_EXIST) {
        if (f->phase == 0) {
            f->phase = 1;
            fetch_send(f); /* same name server: it answered */
            return;
        }
        snprintf(
            f->err, sizeof f->err,
            "no route for topic %s on name server %s, and none for %s either (is autoCreateTopicEnable off?)",
            f->topic, ns, in->create_topic_key);
        fetch_finish(f, KITE_ENOTFOUND, NULL);
        return;
    }
    if (resp->code != RS_SUCCESS) {
        snprintf(f->err, sizeof f->err, "name server %s answered code %d: %s", ns, resp->code,
                 resp->remark ? resp->remark : "");
        fetch_next_ns(f, KITE_ERR);
        return;
    }
    kite_route_data rd;
    char err[200];
    if (kite_route_decode(&rd, (const char *)resp->body, resp->body_len, err, sizeof err) != 0) {
        snprintf(f->err, sizeof f->err, "name server %s sent an undecodable route for %s: %s", ns,
                 f->topic, err);
        kite_route_free(&rd);
        fetch_next_ns(f, KITE_ECORRUPT);
        return;
    }
    kite_pub_route *r = build_route(&rd, f->topic, f->phase == 1,
                                    f->phase == 1 ? in->o.default_topic_queue_nums : 0);
    /* A TBW102-derived route never replaces a real one (another fetch may have won). */
    kite_pub_route *cur = f->phase == 1 ? kite_inst_route_cached(in, f->topic) : NULL;
    if (!cur || cur->via_default) publish(in, r);
    kite_pub_route_release(cur);
    fetch_finish(f, KITE_OK, r);
}

static void fetch_send(fetch *f)
{
    kite_inst *in = f->in;
    if (atomic_load(&in->stopping) || !in->rpc) {
        snprintf(f->err, sizeof f->err, "client is shutting down");
        fetch_finish(f, KITE_ECLOSED, NULL);
        return;
    }
    kite_cmd req;
    kite_cmd_init_request(&req, RC_GET_ROUTEINFO_BY_TOPIC, 0);
    kite_cmd_set_ext(&req, "topic", f->phase == 0 ? f->topic : in->create_topic_key);
    kite_cmd_set_ext(&req, "acceptStandardJsonOnly", "true");
    int64_t to = in->o.rpc_timeout_ms > 0 ? in->o.rpc_timeout_ms : 3000;
    kite_rpc_call_async(in->rpc, in->ns[f->ns_idx], &req, to, on_route, f);
}

void kite_inst_route_fetch(kite_inst *in, const char *topic, kite_route_cb cb, void *arg)
{
    fetch *f = kite_xcalloc(1, sizeof *f);
    f->topic = kite_xstrdup(topic);
    f->in = in;
    f->cb = cb;
    f->arg = arg;
    f->ns_idx = atomic_load(&in->ns_cur) % in->n_ns;
    fetch_send(f);
}

void kite_inst_route_stale(kite_inst *in, const char *topic)
{
    kite_pub_route *r = kite_inst_route_cached(in, topic);
    if (!r) return;
    int old = kite_mono_ms() - r->fetched_ms >= 1000;
    kite_pub_route_release(r);
    if (old && !atomic_load(&in->stopping)) kite_inst_route_fetch(in, topic, NULL, NULL);
}

typedef struct route_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
    kite_pub_route *r;
    char *err;
    size_t errlen;
} route_wait;

static void on_route_sync(int status, kite_pub_route *r, const char *err, void *arg)
{
    route_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->r = r;
    if (err) snprintf(w->err, w->errlen, "%s", err);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int kite_inst_route_get(kite_inst *in, const char *topic, kite_pub_route **out, char *err,
                        size_t errlen)
{
    if ((*out = kite_inst_route_cached(in, topic)) != NULL) return KITE_OK;
    if (kite_inst_on_io_thread(in)) {
        snprintf(err, errlen, "blocking route lookup on the I/O thread (from a callback)");
        return KITE_EINVAL;
    }
    route_wait w = { .done = 0, .err = err, .errlen = errlen };
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    kite_inst_route_fetch(in, topic, on_route_sync, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu); /* RPC timeouts bound the wait */
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    *out = w.r;
    return w.status;
}

char **kite_inst_master_addrs(kite_inst *in, size_t *n)
{
    kite_map seen = KITE_MAP_INIT;
    pthread_mutex_lock(&in->mu);
    size_t it = 0;
    void *v;
    while (kite_map_next(&in->routes, &it, NULL, &v)) {
        const kite_pub_route *r = v;
        for (size_t i = 0; i < r->rd.n_brokers; i++)
            for (size_t j = 0; j < r->rd.brokers[i].n_addrs; j++) {
                const char *a = r->rd.brokers[i].addrs[j].addr;
                if (r->rd.brokers[i].addrs[j].id == 0 && a && *a && !kite_map_get(&seen, a))
                    kite_map_put(&seen, a, (void *)1);
            }
    }
    const char **keys = kite_map_sorted_keys(&seen, n);
    char **out = kite_xcalloc(*n ? *n : 1, sizeof *out);
    for (size_t i = 0; i < *n; i++) out[i] = kite_xstrdup(keys[i]);
    pthread_mutex_unlock(&in->mu); /* the keys point into route strings: copied under the lock */
    free(keys);
    kite_map_free(&seen, NULL);
    return out;
}
