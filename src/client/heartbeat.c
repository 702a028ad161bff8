/* heartbeat.c - producer heartbeats (see heartbeat.h).
 *
 * Body (HeartbeatData, docs/wire.md §2.4; keys in fastjson's alphabetical order):
 *   {"clientID":"<id>","consumerDataSet":[],"heartbeatFingerprint":0,
 *    "producerDataSet":[{"groupName":"<group>"},{"groupName":"CLIENT_INNER_PRODUCER"}],
 *    "withoutSub":false}
 * Built once at start. Failures are logged at debug level and retried by the next
 * scan or period; nothing waits for an answer.
 * Threads: `greeted` and the timers belong to the I/O thread; touches from other threads
 * go through a small mutex-guarded list drained by one posted task at a time. */
#include "client/heartbeat.h"
#include "base/json.h"
#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/time.h"
#include "client/msgid.h"
#include "codec/systopic.h"
#include "kite/status.h"
#include "proto/codes.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HB_TIMEOUT_MS 3000

struct kite_prod_hb {
    kite_inst *in;
    char *group, *client_id, *warm_topic;
    int interval_ms;
    kite_buf body;
    kite_map greeted; /* I/O thread: addr -> (void *)1 */
    atomic_int stopping;
    pthread_mutex_t mu; /* guards pending, posted */
    char **pending;
    size_t npending;
    int posted;
};

static int stopped(kite_prod_hb *h) { return atomic_load(&h->stopping) || !kite_inst_rpc(h->in); }

static void on_answer(int status, kite_cmd *resp, void *arg)
{
    kite_prod_hb *h = arg;
    if (status != KITE_OK || resp->code != RS_SUCCESS)
        KLOG_DEBUG("client", "producer %s: heartbeat failed: %s", h->group,
                   status != KITE_OK ? kite_strerror(status)
                   : resp->remark    ? resp->remark
                                     : "refused");
}

static void greet(kite_prod_hb *h, const char *addr)
{
    if (stopped(h)) return;
    kite_cmd req;
    kite_cmd_init_request(&req, RC_HEART_BEAT, 0);
    kite_cmd_set_body_copy(&req, h->body.data, h->body.len);
    kite_rpc_call_async(kite_inst_rpc(h->in), addr, &req, HB_TIMEOUT_MS, on_answer, h);
    if (!kite_map_get(&h->greeted, addr)) kite_map_put(&h->greeted, addr, (void *)1);
}

/* Greets the brokers of the routes; all of them (and forgets vanished ones) when all. */
static void scan(kite_prod_hb *h, int all)
{
    if (stopped(h)) return;
    size_t n = 0;
    char **addrs = kite_inst_master_addrs(h->in, &n);
    if (all) {
        kite_map_free(&h->greeted, NULL);
        kite_map_init(&h->greeted);
    }
    for (size_t i = 0; i < n; i++) {
        if (all || !kite_map_get(&h->greeted, addrs[i])) greet(h, addrs[i]);
        free(addrs[i]);
    }
    free(addrs);
}

static void on_scan(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    scan(arg, 0);
}

static void on_period(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    scan(arg, 1);
}

static void boot(void *arg)
{
    kite_prod_hb *h = arg;
    if (stopped(h)) return;
    kite_ev *ev = kite_rpc_client_ev(kite_inst_rpc(h->in));
    kite_ev_timer_add(ev, 1000, 1000, on_scan, h); /* both die with the loop */
    kite_ev_timer_add(ev, h->interval_ms, h->interval_ms, on_period, h);
    if (h->warm_topic)
        kite_inst_route_fetch(h->in, h->warm_topic, NULL,
                              NULL); /* cached, then greeted by a scan */
    scan(h, 0);
}

static void drain(void *arg)
{
    kite_prod_hb *h = arg;
    pthread_mutex_lock(&h->mu);
    char **p = h->pending;
    size_t n = h->npending;
    h->pending = NULL;
    h->npending = 0;
    h->posted = 0;
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        if (!stopped(h) && !kite_map_get(&h->greeted, p[i])) greet(h, p[i]);
        free(p[i]);
    }
    free(p);
}

void kite_prod_hb_touch(kite_prod_hb *h, const char *addr)
{
    if (!h || !addr || !*addr || stopped(h)) return;
    char *copy = kite_xstrdup(addr);
    pthread_mutex_lock(&h->mu);
    h->pending = kite_xreallocarray(h->pending, h->npending + 1, sizeof *h->pending);
    h->pending[h->npending++] = copy;
    int post = !h->posted;
    h->posted = 1;
    pthread_mutex_unlock(&h->mu);
    if (post) kite_ev_post(kite_rpc_client_ev(kite_inst_rpc(h->in)), drain, h);
}

static void build_body(kite_prod_hb *h)
{
    kite_jw w;
    kite_jw_init(&w, &h->body, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "clientID");
    kite_jw_str(&w, h->client_id);
    kite_jw_key(&w, "consumerDataSet");
    kite_jw_arr_begin(&w);
    kite_jw_arr_end(&w);
    kite_hb_write_producers(&w, h->group);
    kite_jw_obj_end(&w);
}

void kite_hb_write_producers(kite_jw *w, const char *group)
{
    kite_jw_key(w, "heartbeatFingerprint");
    kite_jw_int(w, 0);
    kite_jw_key(w, "producerDataSet");
    kite_jw_arr_begin(w);
    if (group) {
        kite_jw_obj_begin(w);
        kite_jw_key(w, "groupName");
        kite_jw_str(w, group);
        kite_jw_obj_end(w);
    }
    kite_jw_obj_begin(w); /* Java clients always announce their inner producer too */
    kite_jw_key(w, "groupName");
    kite_jw_str(w, KITE_GROUP_CLIENT_INNER_PRODUCER);
    kite_jw_obj_end(w);
    kite_jw_arr_end(w);
    kite_jw_key(w, "withoutSub");
    kite_jw_bool(w, 0);
}

kite_prod_hb *kite_prod_hb_start(kite_inst *in, const char *group, const char *warm_topic,
                                 int interval_ms)
{
    kite_prod_hb *h = kite_xcalloc(1, sizeof *h);
    h->in = in;
    h->interval_ms = interval_ms > 0 ? interval_ms : 30000;
    uint8_t ip[4];
    kite_local_ipv4(ip);
    char cid[160];
    snprintf(cid, sizeof cid, "%u.%u.%u.%u@%d#%lld", ip[0], ip[1], ip[2], ip[3], (int)getpid(),
             (long long)kite_mono_ns());
    h->group = kite_xstrdup(group);
    h->client_id = kite_xstrdup(cid);
    h->warm_topic = warm_topic ? kite_xstrdup(warm_topic) : NULL;
    kite_buf_init(&h->body);
    kite_map_init(&h->greeted);
    pthread_mutex_init(&h->mu, NULL);
    atomic_init(&h->stopping, 0);
    build_body(h);
    kite_ev_post(kite_rpc_client_ev(kite_inst_rpc(in)), boot, h);
    return h;
}

void kite_prod_hb_stop(kite_prod_hb *h)
{
    if (h) atomic_store(&h->stopping, 1);
}

const char *kite_prod_hb_client_id(const kite_prod_hb *h) { return h ? h->client_id : NULL; }

void kite_prod_hb_free(kite_prod_hb *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->npending; i++) free(h->pending[i]);
    free(h->pending);
    kite_map_free(&h->greeted, NULL);
    kite_buf_free(&h->body);
    pthread_mutex_destroy(&h->mu);
    free(h->group);
    free(h->client_id);
    free(h->warm_topic);
    free(h);
}
