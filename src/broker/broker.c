/* broker.c - kite-broker wiring: address resolution, store open, metadata load,
 * listeners (listenPort and the VIP port listenPort-2), handlers, timers
 * (registration, offset persistence, client expiry), and the orderly shutdown.
 * Start/stop run on the thread that owns the event loop. */
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "broker/broker.h"
#include "broker/acl.h"
#include "broker/trans.h"
#include "net/sock.h"
#include "repl/ha.h"
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_conn_close(kite_conn *c, void *arg)
{
    kite_broker *b = arg;
    bk_pull_on_close(b, c);
    bk_clients_on_close(b, c);
}

typedef struct arrival {
    kite_broker *b;
    int32_t qid;
    int64_t max_offset;
    char topic[];
} arrival;

static void run_arrival(void *arg)
{
    arrival *a = arg;
    bk_pull_on_arrival(a->b, a->topic, a->qid, a->max_offset);
    free(a);
}

/* Dispatch thread: hand the news to the loop, which owns the held pulls. */
static void on_arrival(void *arg, const char *topic, size_t topic_len, int32_t qid,
                       int64_t max_offset)
{
    kite_broker *b = arg;
    if (atomic_load(&b->n_holds) == 0) return; /* nobody waits: no need to wake the loop */
    arrival *a = kite_xmalloc(sizeof *a + topic_len + 1);
    a->b = b;
    a->qid = qid;
    a->max_offset = max_offset;
    memcpy(a->topic, topic, topic_len);
    a->topic[topic_len] = 0;
    kite_ev_post(b->ev, run_arrival, a);
}

static void t_register(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    bk_register_all(arg, 0);
}

static void t_offsets(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_broker *b = arg;
    (void)ev;
    (void)t;
    if (b->offsets_dirty) bk_save_offsets(b);
}

static void t_stats(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)ev;
    (void)t;
    bk_stats_tick(arg);
}

static void t_scan(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    (void)t;
    bk_clients_scan(arg, kite_ev_now(ev));
}

static void parse_namesrvs(kite_broker *b)
{
    const char *s = b->cfg.namesrv_addr;
    if (!s || !*s) s = getenv("NAMESRV_ADDR");
    if (!s || !*s) return;
    char *copy = kite_xstrdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        b->namesrvs = kite_xreallocarray(b->namesrvs, b->n_namesrvs + 1, sizeof *b->namesrvs);
        b->namesrvs[b->n_namesrvs++] = kite_xstrdup(tok);
    }
    free(copy);
}

/* The slave's log ends before the oldest offset its master retains (ha_slave.c logged
 * both offsets). Replication thread: stop the loop; kite_broker_stop sets the store aside. */
static void on_behind(void *arg, int64_t slave_end, int64_t master_oldest)
{
    kite_broker *b = arg;
    (void)slave_end;
    (void)master_oldest;
    atomic_store(&b->restart_empty, 1);
    kite_ev_stop(b->ev);
}

/* A master serves slaves on haListenPort; a slave follows its master (haMasterAddress, or
 * the address the name server names in its registration answers: register.c). Returns
 * KITE_OK, or a status with err: haAuthKeyFile unreadable (its status) or empty
 * (KITE_EINVAL), or kite_ha_master_start's / kite_ha_slave_start's. */
static int start_replication(kite_broker *b, char *err, size_t errlen)
{
    char *key = NULL;
    const char *kf = b->cfg.ha_auth_key_file;
    if (kf && *kf) { /* the key itself never appears in the configuration (-p, GET_BROKER_CONFIG) */
        size_t len = 0;
        int rc = kite_file_read_all(kf, 4096, &key, &len);
        while (rc == 0 && len &&
               (key[len - 1] == '\n' || key[len - 1] == '\r' || key[len - 1] == ' '))
            key[--len] = 0;
        if (rc != KITE_OK || len == 0) {
            snprintf(err, errlen, "haAuthKeyFile=%s: %s", kf,
                     rc ? kite_strerror(rc) : "the file is empty");
            free(key);
            return rc != KITE_OK ? rc : KITE_EINVAL;
        }
    }
    const char *tm = b->cfg.ha_tls_mode ? b->cfg.ha_tls_mode : "disabled";
    kite_ha_opts ho = {
        .heartbeat_ms = b->cfg.ha_send_heartbeat_interval,
        .housekeeping_ms = b->cfg.ha_housekeeping_interval,
        .batch_bytes = b->cfg.ha_transfer_batch_size,
        .fallbehind_max = b->cfg.ha_slave_fallbehind_max,
        .auth_key = key,
        .tls = b->ha_tls,
        .tls_mode = !strcmp(tm, "enforcing")    ? KITE_TLS_ENFORCING
                    : !strcmp(tm, "permissive") ? KITE_TLS_PERMISSIVE
                                                : KITE_TLS_DISABLED,
        .tls_handshake_ms = b->cfg.tls.handshake_timeout_ms,
        .on_behind = on_behind,
        .on_behind_arg = b,
    };
    if (b->cfg.is_slave) {
        int rc =
            kite_ha_slave_start(b->store, b->cfg.ha_master_address, &ho, &b->ha_slave, err, errlen);
        free(key);
        return rc;
    }
    int rc = kite_ha_master_start(b->store, b->cfg.ha_bind_address, b->cfg.ha_listen_port, &ho,
                                  &b->ha_master, err, errlen);
    free(key);
    if (rc != KITE_OK) return rc;
    snprintf(b->ha_addr, sizeof b->ha_addr, "%s:%d", b->cfg.broker_ip2, (int)b->cfg.ha_listen_port);
    return KITE_OK;
}

int kite_broker_start(kite_broker *b, kite_ev *ev, char *err, size_t errlen)
{
    b->ev = ev;
    kite_ev_set_prewrite(ev, bk_store_prewrite, b); /* writes the staged store puts */
    /* Identity and addresses (the configuration was settled: bk_conf_settle). */
    const char *ip = b->cfg.broker_ip1;
    struct in_addr ia;
    if (inet_pton(AF_INET, ip, &ia) != 1) {
        snprintf(err, errlen, "brokerIP1 '%s' is not an IPv4 address", ip);
        return KITE_EINVAL;
    }
    memcpy(b->ip4, &ia.s_addr, 4);
    b->port = b->cfg.listen_port;
    snprintf(b->addr, sizeof b->addr, "%s:%d", ip, b->port);
    int rc = bk_acl_start(b, err, errlen); /* before anything is created on disk */
    if (rc != KITE_OK) return rc;

    /* Store. */
    kite_store_opts so;
    kite_store_opts_default(&so);
    rc = kite_store_conf_resolve(&b->cfg.store, &so, err, errlen);
    if (rc != KITE_OK) return rc;
    memcpy(so.store_ip4, b->ip4, 4);
    so.store_port = b->port;
    so.batch_puts = 1;            /* bk_store_put commits the batch once per loop batch */
    so.replica = b->cfg.is_slave; /* a slave's log grows only by replication */
    snprintf(b->store_root, sizeof b->store_root, "%s", so.root_dir);
    snprintf(b->store_cl_dir, sizeof b->store_cl_dir, "%s", so.commitlog_dir);
    KLOG_INFO("broker", "opening store at %s", b->store_root);
    b->store = kite_store_open(&so, err, errlen);
    if (!b->store) return KITE_EIO; /* the reason (I/O, corruption) is in err */

    /* Metadata. */
    kite_map_init(&b->topics);
    kite_map_init(&b->groups);
    kite_map_init(&b->offsets);
    kite_map_init(&b->slave_commits);
    kite_map_init(&b->holds);
    kite_map_init(&b->stat_items);
    pthread_mutex_init(&b->stats_mu, NULL);
    bk_clients_init(b);
    if ((rc = bk_topics_load(b, err, errlen)) != KITE_OK ||
        (rc = bk_groups_load(b, err, errlen)) != KITE_OK ||
        (rc = bk_offsets_load(b, err, errlen)) != KITE_OK)
        return rc;
    bk_topics_create_system(b);

    /* Network. */
    kite_rpc_server_opts o = {
        .max_frame = (size_t)b->cfg.max_frame_size,
        .idle_timeout_ms = b->cfg.server_channel_max_idle_time_seconds * 1000,
        .on_close = on_conn_close,
        .cb_arg = b,
        .tls = b->tls_server,
    };
    kite_rpc_limits_apply(&b->cfg.limits, &o);
    b->srv = kite_rpc_server_new(ev, &o);
    bk_register_send_handlers(b);
    bk_register_pull_handlers(b);
    bk_register_client_handlers(b);
    bk_register_admin_handlers(b);
    bk_register_retry_handlers(b);
    bk_register_lock_handlers(b);
    bk_register_stats_handlers(b);
    bk_register_group_handlers(b);
    bk_register_offset_admin_handlers(b);
    bk_register_config_handlers(b);
    bk_register_query_handlers(b);
    bk_register_trans_handlers(b);
    bk_register_slave_guards(b);
    bk_acl_install(b);
    if ((rc = bk_delay_start(b, err, errlen)) != KITE_OK ||
        (rc = bk_trans_start(b, err, errlen)) != KITE_OK)
        return rc;
    if ((rc = kite_rpc_server_listen(b->srv, b->cfg.bind_address, b->port, err, errlen)) < 0)
        return rc;
    if (b->port > 2) {
        char verr[256];
        b->vip_port =
            kite_rpc_server_listen(b->srv, b->cfg.bind_address, b->port - 2, verr, sizeof verr);
        if (b->vip_port < 0)
            KLOG_WARN(
                "broker",
                "VIP port %d not available (%s); old clients with vipChannelEnabled will fail",
                b->port - 2, verr);
    }
    kite_store_set_arrival_hook(b->store, on_arrival, b);
    if ((rc = start_replication(b, err, errlen)) != KITE_OK) return rc;

    /* Name servers. */
    parse_namesrvs(b);
    kite_rpc_client_opts co = { .connect_timeout_ms = 3000, .tls = b->tls_client };
    b->ns_client = kite_rpc_client_new(&co);
    if (!b->ns_client) {
        snprintf(err, errlen, "cannot start the name server client");
        return KITE_ENOMEM; /* no event loop or thread from the system */
    }
    if ((rc = bk_acl_sign_as(b, b->ns_client, err, errlen)) != KITE_OK) return rc;
    if (!b->n_namesrvs)
        KLOG_WARN("broker", "namesrvAddr is empty: clients cannot find this broker");
    bk_register_all(b, 0);
    bk_find_master_start(b);
    bk_slave_sync_start(b);
    int64_t period = b->cfg.register_name_server_period;
    b->t_register = kite_ev_timer_add(ev, period, period, t_register, b);
    int64_t fo = b->cfg.flush_consumer_offset_interval;
    b->t_offsets = kite_ev_timer_add(ev, fo, fo, t_offsets, b);
    b->t_scan = kite_ev_timer_add(ev, 10000, 10000, t_scan, b);
    b->t_stats = kite_ev_timer_add(ev, 1000, 1000, t_stats, b);
    b->boot_ms = kite_wall_ms();
    KLOG_INFO(
        "broker",
        "broker %s (cluster %s, id %lld, %s) listening on %s:%d (VIP port %d), advertised address %s",
        b->cfg.broker_name, b->cfg.broker_cluster_name, (long long)b->cfg.broker_id,
        b->cfg.broker_role, b->cfg.bind_address, b->port, b->vip_port, b->addr);
    return KITE_OK;
}

int kite_broker_tls_setup(kite_broker *b, char *err, size_t errlen)
{
    if (kite_tls_conf_mode(&b->cfg.tls) != KITE_TLS_DISABLED) {
        b->tls_server = kite_tls_server_new(&b->cfg.tls, err, errlen);
        if (!b->tls_server) return KITE_EINVAL;
    }
    if (b->cfg.tls.client_enable) {
        b->tls_client = kite_tls_client_from_conf(&b->cfg.tls, err, errlen);
        if (!b->tls_client) return KITE_EINVAL;
    }
    /* Replication: its own contexts from the same files (bk_conf_settle_ha_tls checked the
     * keys); a slave verifies by haTlsVerifyServer, not tls.client.authServer. */
    const char *tm = b->cfg.ha_tls_mode ? b->cfg.ha_tls_mode : "disabled";
    if (!b->cfg.is_slave && strcmp(tm, "disabled")) {
        b->ha_tls = kite_tls_server_new(&b->cfg.tls, err, errlen);
        if (!b->ha_tls) return KITE_EINVAL;
    } else if (b->cfg.is_slave && b->cfg.ha_tls_enable) {
        kite_tls_conf c = b->cfg.tls; /* read only: the strings stay b->cfg's */
        c.client_auth_server = b->cfg.ha_tls_verify_server;
        b->ha_tls = kite_tls_client_from_conf(&c, err, errlen);
        if (!b->ha_tls) return KITE_EINVAL;
    }
    return 0;
}

/* Run after the loop stopped: unregister, persist, close everything. */
void kite_broker_stop(kite_broker *b)
{
    if (b->t_register) kite_ev_timer_cancel(b->ev, b->t_register);
    if (b->t_offsets) kite_ev_timer_cancel(b->ev, b->t_offsets);
    if (b->t_scan) kite_ev_timer_cancel(b->ev, b->t_scan);
    if (b->t_stats) kite_ev_timer_cancel(b->ev, b->t_stats);
    b->t_register = b->t_offsets = b->t_scan = b->t_stats = NULL;
    bk_find_master_stop(b);
    bk_slave_sync_stop(b);
    if (b->ns_client) {
        bk_unregister_all(b);
        kite_rpc_client_free(b->ns_client);
        b->ns_client = NULL;
    }
    kite_ha_master_stop(b->ha_master); /* before the store closes: both read or write it */
    kite_ha_slave_stop(b->ha_slave);
    b->ha_master = NULL;
    b->ha_slave = NULL;
    if (b->store) kite_store_set_arrival_hook(b->store, NULL, NULL);
    bk_delay_stop(b);
    bk_trans_stop(b);
    bk_pull_free_holds(b);
    bk_locks_free(b);
    bk_acl_stop(b);
    if (b->srv) kite_rpc_server_free(b->srv); /* closes connections: clients are cleaned up */
    b->srv = NULL;
    if (b->topics.cap) bk_save_offsets(b);
    bk_clients_free(b);
    if (b->store) kite_store_close(b->store);
    if (b->store && atomic_load(&b->restart_empty)) {
        char err[1400];
        if (kite_store_set_aside(b->store_root, b->store_cl_dir, b->aside_dir, sizeof b->aside_dir,
                                 err, sizeof err) == KITE_OK) {
            KLOG_ERROR("broker",
                       "this slave's commit log, consume queues, index and checkpoint are set "
                       "aside in %s (kept); exiting with status %d: restarted, it copies the "
                       "master's log from its oldest retained offset",
                       b->aside_dir, KITE_BROKER_EXIT_RESTART);
        } else {
            b->aside_dir[0] = 0;
            KLOG_ERROR("broker", "cannot set this slave's store aside: %s", err);
        }
    }
    b->store = NULL;
    bk_topics_free(b);
    bk_groups_free(b);
    bk_offsets_free(b);
    bk_stats_free(b);
    for (size_t i = 0; i < b->n_namesrvs; i++) free(b->namesrvs[i]);
    free(b->namesrvs);
    b->namesrvs = NULL;
    b->n_namesrvs = 0;
}
