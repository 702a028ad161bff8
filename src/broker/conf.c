/* conf.c - kite-broker configuration keys (RocketMQ's broker.conf names): which are
 * implemented, refused or ignored (the table below; README "Configuration"), the merged
 * table (broker keys + the store's keys) that the daemon applies to one bk_conf, and the
 * settling of configured values into the values in force (shown by -p). */
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "broker/broker.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define F(field)  offsetof(bk_conf, field)
#define NO_POOLS  "one event-loop thread serves every request"
#define NO_QUEUES "requests are not queued: the event loop serves them as they arrive"
#define ONE_ROOT  "the store keeps its files under storePathRootDir"
#define NO_TSP    "no transient store pool in this build"
#define IN_MEMORY \
    "pulls use the maxTransfer*OnMessageInMemory limits whether or not the data is cached"
const kite_prop_def kite_broker_props[] = {
    { "brokerClusterName", KITE_PROP_STR, F(broker_cluster_name), "DefaultCluster",
      "cluster name" },
    { "brokerName", KITE_PROP_STR, F(broker_name), "broker-a",
      "broker group name (master and slaves share it)" },
    { "brokerId", KITE_PROP_LONG, F(broker_id), "0",
      "0 = master (a master's id is set to 0, warned); a slave needs an id > 0" },
    { "brokerRole", KITE_PROP_STR, F(broker_role), "ASYNC_MASTER",
      "ASYNC_MASTER, SYNC_MASTER (a send is answered once a slave holds it) or SLAVE" },
    { "namesrvAddr", KITE_PROP_STR, F(namesrv_addr), NULL, "name servers, ip:port;ip:port" },
    { "brokerIP1", KITE_PROP_STR, F(broker_ip1), NULL,
      "address advertised to clients (default: first non-loopback IPv4)" },
    { "listenPort", KITE_PROP_INT, F(listen_port), "10911",
      "client port; listenPort-2 is the VIP port" },
    { "brokerPermission", KITE_PROP_INT, F(broker_permission), "6",
      "broker permission bits (4 read, 2 write)" },
    { "registerNameServerPeriod", KITE_PROP_LONG, F(register_name_server_period), "30000",
      "ms between registrations" },
    { "registerBrokerTimeoutMills", KITE_PROP_LONG, F(register_broker_timeout_mills), "6000",
      "registration timeout" },
    { "compressedRegister", KITE_PROP_BOOL, F(compressed_register), "false",
      "send compressed registration bodies" },
    { "autoCreateTopicEnable", KITE_PROP_BOOL, F(auto_create_topic_enable), "true",
      "create topics on first send (TBW102)" },
    { "defaultTopicQueueNums", KITE_PROP_INT, F(default_topic_queue_nums), "8",
      "queues of TBW102" },
    { "clusterTopicEnable", KITE_PROP_BOOL, F(cluster_topic_enable), "true",
      "cluster-name topic is writable" },
    { "brokerTopicEnable", KITE_PROP_BOOL, F(broker_topic_enable), "true",
      "broker-name topic is writable" },
    { "autoCreateSubscriptionGroup", KITE_PROP_BOOL, F(auto_create_subscription_group), "true",
      "create groups on first use" },
    { "longPollingEnable", KITE_PROP_BOOL, F(long_polling_enable), "true",
      "hold pulls until messages arrive" },
    { "shortPollingTimeMills", KITE_PROP_LONG, F(short_polling_time_mills), "1000",
      "hold time without long polling" },
    { "flushConsumerOffsetInterval", KITE_PROP_LONG, F(flush_consumer_offset_interval), "5000",
      "ms between offset saves" },
    { "channelExpiredTimeout", KITE_PROP_LONG, F(channel_expired_timeout), "120000",
      "drop clients silent this long (ms)" },
    { "notifyConsumerIdsChangedEnable", KITE_PROP_BOOL, F(notify_consumer_ids_changed_enable),
      "true", "tell consumers when their group changes" },
    { "rejectTransactionMessage", KITE_PROP_BOOL, F(reject_transaction_message), "false",
      "refuse half messages" },
    { "transactionCheckInterval", KITE_PROP_LONG, F(transaction_check_interval), "30000",
      "ms between check-back passes over unresolved half messages" },
    { "transactionTimeOut", KITE_PROP_LONG, F(transaction_timeout), "6000",
      "ms a half message must be unresolved before it is checked" },
    { "transactionCheckMax", KITE_PROP_INT, F(transaction_check_max), "15",
      "checks of a half message before it is discarded to TRANS_CHECK_MAX_TIME_TOPIC" },
    { "rebalanceLockMaxLiveTime", KITE_PROP_LONG, F(rebalance_lock_max_live_time), "60000",
      "ms an unrenewed ordered-consumer queue lock lasts, >= 1000 (KiteMQ; Java: system property rocketmq.broker.rebalance.lockMaxLiveTime)" },
    { "enablePropertyFilter", KITE_PROP_BOOL, F(enable_property_filter), "false",
      "allow SQL92 subscriptions" },
    { "traceOn", KITE_PROP_BOOL, F(trace_on), "true", "TRACE_ON in send answers" },
    { "regionId", KITE_PROP_STR, F(region_id), "DefaultRegion", "MSG_REGION in send answers" },
    { "messageDelayLevel", KITE_PROP_STR, F(message_delay_level),
      "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", "delay levels" },
    { "maxTransferBytesOnMessageInMemory", KITE_PROP_INT,
      F(max_transfer_bytes_on_message_in_memory), "262144", "bytes per pull answer" },
    { "maxTransferCountOnMessageInMemory", KITE_PROP_INT,
      F(max_transfer_count_on_message_in_memory), "32", "messages per pull answer" },
    { "slaveReadEnable", KITE_PROP_BOOL, F(slave_read_enable), "false",
      "pull answers suggest the group's brokerId / whichBrokerWhenConsumeSlowly (else 0)" },
    { "accessMessageInMemoryMaxRatio", KITE_PROP_INT, F(access_message_in_memory_max_ratio), "40",
      "% of RAM: a pull whose last message is further behind the log end is 'consuming slowly'" },
    { "serverChannelMaxIdleTimeSeconds", KITE_PROP_INT, F(server_channel_max_idle_time_seconds),
      "120", "close connections idle this long" },
    { "maxFrameSize", KITE_PROP_LONG, F(max_frame_size), "16777216",
      "largest accepted frame (KiteMQ)" },
    KITE_RPC_LIMIT_PROPS(bk_conf, limits),
    { "adminFromLoopbackOnly", KITE_PROP_BOOL, F(admin_from_loopback_only), "true",
      "state-changing admin requests only from 127.0.0.0/8 while ACL is off (KiteMQ)" },
    { "remoteConfigUpdateEnable", KITE_PROP_BOOL, F(remote_config_update_enable), "false",
      "allow UPDATE_BROKER_CONFIG for the safe keys (KiteMQ)" },
    { "bindAddress", KITE_PROP_STR, F(bind_address), "0.0.0.0",
      "IPv4 address to listen on (KiteMQ)" },
    { "brokerIP2", KITE_PROP_STR, F(broker_ip2), NULL,
      "HA address advertised to slaves (default brokerIP1)" },
    { "haListenPort", KITE_PROP_INT, F(ha_listen_port), "0",
      "master: port slaves replicate from (<= 0: listenPort+1)" },
    { "haBindAddress", KITE_PROP_STR, F(ha_bind_address), NULL,
      "master: IPv4 address the HA port listens on (default bindAddress; KiteMQ)" },
    { "haMasterAddress", KITE_PROP_STR, F(ha_master_address), NULL,
      "slave: the master's HA address ip:port (default: learned from the name server)" },
    { "haSendHeartbeatInterval", KITE_PROP_LONG, F(ha_send_heartbeat_interval), "5000",
      "ms between replication heartbeats and offset reports; a slave's reconnect delay" },
    { "haHousekeepingInterval", KITE_PROP_LONG, F(ha_housekeeping_interval), "20000",
      "ms of silence after which a replication connection is dropped" },
    { "haTransferBatchSize", KITE_PROP_INT, F(ha_transfer_batch_size), "32768",
      "master: largest replication frame in bytes" },
    { "haAuthKeyFile", KITE_PROP_STR, F(ha_auth_key_file), NULL,
      "file holding a key shared by a group's brokers: replication then authenticates both ends and refuses "
      "other peers (KiteMQ; default: RocketMQ's classic protocol, unauthenticated)" },
    { "haTlsMode", KITE_PROP_STR, F(ha_tls_mode), "disabled",
      "master: TLS on the HA port: disabled, permissive (TLS and plain slaves) or enforcing (TLS "
      "only), with the tls.server.* certificate, key and client-certificate keys (KiteMQ; Java "
      "brokers have no TLS there)" },
    { "haTlsEnable", KITE_PROP_BOOL, F(ha_tls_enable), "false",
      "slave: replicate over TLS, with the tls.client.* CA and client-certificate keys (KiteMQ; "
      "the master needs haTlsMode permissive or enforcing)" },
    { "haTlsVerifyServer", KITE_PROP_BOOL, F(ha_tls_verify_server), "true",
      "slave with haTlsEnable: the master's certificate must chain to tls.client.trustCertPath "
      "(system CAs when unset) and name the HA address dialled (KiteMQ)" },
    { "slaveTimeout", KITE_PROP_LONG, F(slave_timeout), "3000",
      "SYNC_MASTER: ms a send waits for a slave before FLUSH_SLAVE_TIMEOUT" },
    { "haSlaveFallbehindMax", KITE_PROP_LONG, F(ha_slave_fallbehind_max), "268435456",
      "SYNC_MASTER: a slave this many bytes behind does not count (SLAVE_NOT_AVAILABLE at once)" },
    { "aclEnable", KITE_PROP_BOOL, F(acl_enable), "false",
      "plain ACL: every request is checked against the accounts in the ACL files (README \"Security\")" },
    { "rocketmqHome", KITE_PROP_STR, F(rocketmq_home), NULL,
      "ACL files: <rocketmqHome>/conf/plain_acl.yml and conf/acl/*.yml (default: env ROCKETMQ_HOME)" },
    { "aclFile", KITE_PROP_STR, F(acl_file), NULL,
      "the one ACL file to load instead of rocketmqHome's (KiteMQ)" },
    { "innerClientAuthenticationCredentials", KITE_PROP_STR, F(inner_credentials), NULL,
      "{\"accessKey\":\"..\",\"secretKey\":\"..\"}: the account this broker signs its requests "
      "to name servers and to its master with (registration, metadata sync)" },
    { "logFile", KITE_PROP_STR, F(log_file), NULL, "also log to this file (KiteMQ)" },
    { "logLevel", KITE_PROP_STR, F(log_level), "info", "debug, info, warn or error (KiteMQ)" },
    KITE_PROP_REFUSE("enableDLegerCommitLog", "false", "no DLedger commit log in this build"),
    KITE_PROP_REFUSE("enableControllerMode", "false",
                     "no controller-based replication in this build"),
    KITE_PROP_REFUSE("authenticationEnabled", "false", "no authentication in this build"),
    KITE_PROP_REFUSE("authorizationEnabled", "false", "no authorization in this build"),
    KITE_TLS_SERVER_PROPS(bk_conf, tls),
    KITE_TLS_CLIENT_PROPS(bk_conf, tls),
    KITE_PROP_IGNORE("offsetCheckInSlave", "a slave keeps the consumer offsets committed to it"),
    KITE_PROP_IGNORE("forceRegister",
                     "every registration carries the whole topic table, as with the default true"),
    KITE_PROP_IGNORE("fetchNamesrvAddrByAddressServer",
                     "no address-server client: set namesrvAddr"),
    KITE_PROP_IGNORE("storePathConsumeQueue", ONE_ROOT),
    KITE_PROP_IGNORE("storePathIndex", ONE_ROOT),
    KITE_PROP_IGNORE("storeCheckpoint", ONE_ROOT),
    KITE_PROP_IGNORE("abortFile", ONE_ROOT),
    KITE_PROP_IGNORE("msgTraceTopicName", "the broker creates no trace topic at start"),
    KITE_PROP_IGNORE("traceTopicEnable", "the broker creates no trace topic at start"),
    KITE_PROP_IGNORE("sendMessageThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("pullMessageThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("queryMessageThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("adminBrokerThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("clientManageThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("consumerManageThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("heartbeatThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("endTransactionThreadPoolNums", NO_POOLS),
    KITE_PROP_IGNORE("serverWorkerThreads", NO_POOLS),
    KITE_PROP_IGNORE("serverSelectorThreads", NO_POOLS),
    KITE_PROP_IGNORE("sendThreadPoolQueueCapacity", NO_QUEUES),
    KITE_PROP_IGNORE("pullThreadPoolQueueCapacity", NO_QUEUES),
    KITE_PROP_IGNORE("waitTimeMillsInSendQueue", NO_QUEUES),
    KITE_PROP_IGNORE("brokerFastFailureEnable", NO_QUEUES),
    KITE_PROP_IGNORE("osPageCacheBusyTimeOutMills", "no page-cache-busy check in this build"),
    KITE_PROP_IGNORE("useReentrantLockWhenPutMessage",
                     "the store's put lock is fixed in this build"),
    KITE_PROP_IGNORE("transientStorePoolEnable", NO_TSP),
    KITE_PROP_IGNORE("transientStorePoolSize", NO_TSP),
    KITE_PROP_IGNORE("commitIntervalCommitLog", NO_TSP),
    KITE_PROP_IGNORE("commitCommitLogLeastPages", NO_TSP),
    KITE_PROP_IGNORE("maxTransferBytesOnMessageInDisk", IN_MEMORY),
    KITE_PROP_IGNORE("maxTransferCountOnMessageInDisk", IN_MEMORY),
    KITE_PROP_IGNORE("transferMsgByHeap",
                     "how a pull answer is copied to the socket is fixed in this build"),
    KITE_PROP_IGNORE("flushCommitLogTimed",
                     "the ASYNC_FLUSH service's wait is fixed in this build"),
    KITE_PROP_IGNORE("flushConsumeQueueLeastPages",
                     "consume queues are checkpointed every flushIntervalConsumeQueue ms"),
    KITE_PROP_IGNORE("flushDelayOffsetInterval",
                     "delay progress is saved every second when it changed"),
    KITE_PROP_IGNORE("destroyMapedFileIntervalForcibly",
                     "a deleted file being read goes when its last reader releases it"),
    KITE_PROP_IGNORE(
        "messageIndexSafe",
        "after a crash the index is cut back to its checkpoint and rebuilt from the commit log"),
    KITE_PROP_IGNORE("duplicationEnable", "not used by this store"),
    { NULL, 0, 0, NULL, NULL },
};
#undef F
#undef REFUSE
#undef IGNORE

kite_prop_def *bk_build_props(void)
{
    size_t nb = 0, ns = 0;
    while (kite_broker_props[nb].key) nb++;
    while (kite_store_conf_defs[ns].key) ns++;
    kite_prop_def *t = kite_xcalloc(nb + ns + 1, sizeof *t);
    memcpy(t, kite_broker_props, nb * sizeof *t);
    for (size_t i = 0; i < ns; i++) {
        t[nb + i] = kite_store_conf_defs[i];
        t[nb + i].offset += offsetof(bk_conf, store);
    }
    return t;
}

/* The first non-loopback IPv4 address into out: KITE_OK, or KITE_ENOTFOUND when there is
 * none (or the interfaces cannot be listed). */
static int first_ipv4(char *out, size_t len)
{
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) != 0) return KITE_ENOTFOUND;
    int rc = KITE_ENOTFOUND;
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, (socklen_t)len);
        rc = KITE_OK;
        break;
    }
    freeifaddrs(ifs);
    return rc;
}

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = kite_xstrdup(v);
}

/* brokerRole and brokerId (Java's rules: a master's id is 0, a slave's must be > 0). */
static int settle_role(bk_conf *c, char *err, size_t errlen)
{
    const char *r = c->broker_role ? c->broker_role : "";
    if (strcasecmp(r, "ASYNC_MASTER") == 0) {
        set_str(&c->broker_role, "ASYNC_MASTER");
    } else if (strcasecmp(r, "SLAVE") == 0) {
        set_str(&c->broker_role, "SLAVE");
        c->is_slave = 1;
    } else if (strcasecmp(r, "SYNC_MASTER") == 0) {
        set_str(&c->broker_role, "SYNC_MASTER");
        c->is_sync_master = 1;
    } else {
        snprintf(err, errlen, "brokerRole: '%s' is not a role (ASYNC_MASTER, SYNC_MASTER or SLAVE)",
                 r);
        return KITE_EINVAL;
    }
    if (c->is_slave && c->broker_id <= 0) {
        snprintf(err, errlen, "brokerId=%lld: a slave (brokerRole=SLAVE) needs a brokerId > 0",
                 (long long)c->broker_id);
        return KITE_EINVAL;
    }
    if (!c->is_slave && c->broker_id != 0) {
        KLOG_WARN("config", "brokerId=%lld ignored: this broker is a master, id 0",
                  (long long)c->broker_id);
        c->broker_id = 0;
    }
    return 0;
}

int bk_conf_settle(bk_conf *c, char *err, size_t errlen)
{
    if (settle_role(c, err, errlen) != 0) return KITE_EINVAL;
    if (!c->broker_ip1 || !*c->broker_ip1) {
        char ip[64];
        if (first_ipv4(ip, sizeof ip) != KITE_OK) snprintf(ip, sizeof ip, "127.0.0.1");
        set_str(&c->broker_ip1, ip);
    }
    if (!c->broker_ip2 || !*c->broker_ip2) set_str(&c->broker_ip2, c->broker_ip1);
    if (!c->ha_bind_address || !*c->ha_bind_address) set_str(&c->ha_bind_address, c->bind_address);
    if (c->ha_listen_port <= 0) c->ha_listen_port = c->listen_port + 1;
    if (c->ha_listen_port > 65535 || c->ha_listen_port == c->listen_port) {
        snprintf(err, errlen, "haListenPort=%d: not a free port next to listenPort=%d",
                 (int)c->ha_listen_port, (int)c->listen_port);
        return KITE_EINVAL;
    }
    if (c->ha_send_heartbeat_interval < 10 ||
        c->ha_housekeeping_interval <= c->ha_send_heartbeat_interval) {
        snprintf(
            err, errlen,
            "haSendHeartbeatInterval=%lld / haHousekeepingInterval=%lld: the heartbeat must be at "
            "least 10 ms and shorter than the housekeeping interval",
            (long long)c->ha_send_heartbeat_interval, (long long)c->ha_housekeeping_interval);
        return KITE_EINVAL;
    }
    if (c->slave_timeout <= 0 || c->ha_slave_fallbehind_max <= 0) {
        snprintf(err, errlen,
                 "slaveTimeout=%lld / haSlaveFallbehindMax=%lld: both must be positive",
                 (long long)c->slave_timeout, (long long)c->ha_slave_fallbehind_max);
        return KITE_EINVAL;
    }
    if (c->access_message_in_memory_max_ratio < 0 || c->access_message_in_memory_max_ratio > 100) {
        snprintf(err, errlen, "accessMessageInMemoryMaxRatio=%d: must be between 0 and 100",
                 (int)c->access_message_in_memory_max_ratio);
        return KITE_EINVAL;
    }
    if (c->ha_transfer_batch_size < 1024 || c->ha_transfer_batch_size > (64 << 20)) {
        snprintf(err, errlen, "haTransferBatchSize=%d: must be between 1024 and 67108864 bytes",
                 (int)c->ha_transfer_batch_size);
        return KITE_EINVAL;
    }
    int64_t p = c->register_name_server_period;
    if (p < BK_REGISTER_PERIOD_MIN_MS || p > BK_REGISTER_PERIOD_MAX_MS) {
        c->register_name_server_period =
            p < BK_REGISTER_PERIOD_MIN_MS ? BK_REGISTER_PERIOD_MIN_MS : BK_REGISTER_PERIOD_MAX_MS;
        KLOG_WARN("config", "registerNameServerPeriod=%lld is outside [%d, %d] ms; using %lld",
                  (long long)p, BK_REGISTER_PERIOD_MIN_MS, BK_REGISTER_PERIOD_MAX_MS,
                  (long long)c->register_name_server_period);
    }
    if (c->flush_consumer_offset_interval <= 0) {
        KLOG_WARN("config", "flushConsumerOffsetInterval=%lld is not positive; using %d",
                  (long long)c->flush_consumer_offset_interval, BK_FLUSH_OFFSETS_DEFAULT_MS);
        c->flush_consumer_offset_interval = BK_FLUSH_OFFSETS_DEFAULT_MS;
    }
    if (c->rebalance_lock_max_live_time < BK_LOCK_LIVE_MIN_MS) {
        KLOG_WARN("config", "rebalanceLockMaxLiveTime=%lld is below %d ms; using %d",
                  (long long)c->rebalance_lock_max_live_time, BK_LOCK_LIVE_MIN_MS,
                  BK_LOCK_LIVE_DEFAULT_MS);
        c->rebalance_lock_max_live_time = BK_LOCK_LIVE_DEFAULT_MS;
    }
    return 0;
}

int bk_conf_settle_ha_tls(bk_conf *c, char *err, size_t errlen)
{
    for (char *p = c->ha_tls_mode; p && *p; p++) *p = (char)tolower((unsigned char)*p);
    const char *m = c->ha_tls_mode && *c->ha_tls_mode ? c->ha_tls_mode : "disabled";
    if (strcmp(m, "disabled") && strcmp(m, "permissive") && strcmp(m, "enforcing")) {
        snprintf(err, errlen, "haTlsMode: '%s' is not one of disabled, permissive, enforcing", m);
        return KITE_EINVAL;
    }
    int on = strcmp(m, "disabled") != 0;
    if (c->is_slave) {
        if (on)
            KLOG_WARN("config",
                      "haTlsMode=%s has no effect on a slave (it has no HA port); a slave "
                      "replicates over TLS with haTlsEnable=true",
                      m);
        if (c->ha_tls_enable && !c->ha_tls_verify_server)
            KLOG_WARN("config", "haTlsVerifyServer=false: this slave encrypts replication but "
                                "does not check who answers at its master's address");
        return 0;
    }
    if (c->ha_tls_enable)
        KLOG_WARN("config", "haTlsEnable=true has no effect on a master (it does not connect "
                            "to an HA port); a master's side is haTlsMode");
    if (!on) return 0;
    const kite_tls_conf *t = &c->tls;
    if (!t->server_cert_path || !*t->server_cert_path || !t->server_key_path ||
        !*t->server_key_path) {
        snprintf(err, errlen, "haTlsMode=%s needs tls.server.certPath and tls.server.keyPath", m);
        return KITE_EINVAL;
    }
    const char *a = t->server_client_auth ? t->server_client_auth : "none";
    if (strcmp(a, "none") && (!t->server_trust_path || !*t->server_trust_path)) {
        snprintf(err, errlen, "tls.server.need.client.auth=%s needs tls.server.trustCertPath", a);
        return KITE_EINVAL;
    }
    return 0;
}
