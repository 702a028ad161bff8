/* conf.c - kite-broker configuration keys (RocketMQ's broker.conf names) and the merged
 * table (broker keys + the store's keys) that the daemon applies to one bk_conf. */
#include "broker/broker.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(bk_conf, field)
#define IGN_S(k) { k, KITE_PROP_NONE, 0, NULL, "accepted for compatibility" }
#define IGN_N(k, d) { k, KITE_PROP_NONE, 0, d, "accepted for compatibility" }
const kite_prop_def kite_broker_props[] = {
    { "brokerClusterName", KITE_PROP_STR, F(broker_cluster_name), "DefaultCluster", "cluster name" },
    { "brokerName", KITE_PROP_STR, F(broker_name), "broker-a", "broker group name (master and slaves share it)" },
    { "brokerId", KITE_PROP_LONG, F(broker_id), "0", "0 = master, > 0 = slave" },
    { "brokerRole", KITE_PROP_STR, F(broker_role), "ASYNC_MASTER", "ASYNC_MASTER, SYNC_MASTER or SLAVE" },
    { "namesrvAddr", KITE_PROP_STR, F(namesrv_addr), NULL, "name servers, ip:port;ip:port" },
    { "brokerIP1", KITE_PROP_STR, F(broker_ip1), NULL, "address advertised to clients (default: first non-loopback IPv4)" },
    { "brokerIP2", KITE_PROP_STR, F(broker_ip2), NULL, "address advertised for replication (default brokerIP1)" },
    { "listenPort", KITE_PROP_INT, F(listen_port), "10911", "client port; listenPort-2 is the VIP port" },
    { "haListenPort", KITE_PROP_INT, F(ha_listen_port), "0", "replication port (0 = listenPort+1)" },
    { "brokerPermission", KITE_PROP_INT, F(broker_permission), "6", "broker permission bits (4 read, 2 write)" },
    { "registerNameServerPeriod", KITE_PROP_LONG, F(register_name_server_period), "30000", "ms between registrations" },
    { "registerBrokerTimeoutMills", KITE_PROP_LONG, F(register_broker_timeout_mills), "6000", "registration timeout" },
    { "compressedRegister", KITE_PROP_BOOL, F(compressed_register), "false", "send compressed registration bodies" },
    { "forceRegister", KITE_PROP_BOOL, F(force_register), "true", "always send full registrations" },
    { "autoCreateTopicEnable", KITE_PROP_BOOL, F(auto_create_topic_enable), "true", "create topics on first send (TBW102)" },
    { "defaultTopicQueueNums", KITE_PROP_INT, F(default_topic_queue_nums), "8", "queues of TBW102" },
    { "clusterTopicEnable", KITE_PROP_BOOL, F(cluster_topic_enable), "true", "cluster-name topic is writable" },
    { "brokerTopicEnable", KITE_PROP_BOOL, F(broker_topic_enable), "true", "broker-name topic is writable" },
    { "autoCreateSubscriptionGroup", KITE_PROP_BOOL, F(auto_create_subscription_group), "true", "create groups on first use" },
    { "longPollingEnable", KITE_PROP_BOOL, F(long_polling_enable), "true", "hold pulls until messages arrive" },
    { "shortPollingTimeMills", KITE_PROP_LONG, F(short_polling_time_mills), "1000", "hold time without long polling" },
    { "flushConsumerOffsetInterval", KITE_PROP_LONG, F(flush_consumer_offset_interval), "5000", "ms between offset saves" },
    { "channelExpiredTimeout", KITE_PROP_LONG, F(channel_expired_timeout), "120000", "drop clients silent this long (ms)" },
    { "notifyConsumerIdsChangedEnable", KITE_PROP_BOOL, F(notify_consumer_ids_changed_enable), "true",
      "tell consumers when their group changes" },
    { "rejectTransactionMessage", KITE_PROP_BOOL, F(reject_transaction_message), "false", "refuse half messages" },
    { "transactionCheckInterval", KITE_PROP_LONG, F(transaction_check_interval), "30000",
      "ms between check-back passes over unresolved half messages" },
    { "transactionTimeOut", KITE_PROP_LONG, F(transaction_timeout), "6000",
      "ms a half message must be unresolved before it is checked" },
    { "transactionCheckMax", KITE_PROP_INT, F(transaction_check_max), "15",
      "checks of a half message before it is discarded to TRANS_CHECK_MAX_TIME_TOPIC" },
    { "rebalanceLockMaxLiveTime", KITE_PROP_LONG, F(rebalance_lock_max_live_time), "60000",
      "ms an unrenewed ordered-consumer queue lock lasts, >= 1000 (KiteMQ; Java: system property rocketmq.broker.rebalance.lockMaxLiveTime)" },
    { "enablePropertyFilter", KITE_PROP_BOOL, F(enable_property_filter), "false", "allow SQL92 subscriptions" },
    { "traceOn", KITE_PROP_BOOL, F(trace_on), "true", "TRACE_ON in send answers" },
    { "regionId", KITE_PROP_STR, F(region_id), "DefaultRegion", "MSG_REGION in send answers" },
    { "messageDelayLevel", KITE_PROP_STR, F(message_delay_level), "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
      "delay levels" },
    { "maxTransferBytesOnMessageInMemory", KITE_PROP_INT, F(max_transfer_bytes_on_message_in_memory), "262144",
      "bytes per pull answer" },
    { "maxTransferCountOnMessageInMemory", KITE_PROP_INT, F(max_transfer_count_on_message_in_memory), "32",
      "messages per pull answer" },
    { "serverChannelMaxIdleTimeSeconds", KITE_PROP_INT, F(server_channel_max_idle_time_seconds), "120",
      "close connections idle this long" },
    { "maxFrameSize", KITE_PROP_LONG, F(max_frame_size), "16777216", "largest accepted frame (KiteMQ)" },
    { "adminFromLoopbackOnly", KITE_PROP_BOOL, F(admin_from_loopback_only), "true",
      "state-changing admin requests only from 127.0.0.0/8 while ACL is off (KiteMQ)" },
    { "remoteConfigUpdateEnable", KITE_PROP_BOOL, F(remote_config_update_enable), "false",
      "allow UPDATE_BROKER_CONFIG for the safe keys (KiteMQ)" },
    { "bindAddress", KITE_PROP_STR, F(bind_address), "0.0.0.0", "IPv4 address to listen on (KiteMQ)" },
    { "logFile", KITE_PROP_STR, F(log_file), NULL, "also log to this file (KiteMQ)" },
    { "logLevel", KITE_PROP_STR, F(log_level), "info", "debug, info, warn or error (KiteMQ)" },
    IGN_S("rocketmqHome"), IGN_S("storePathConsumeQueue"), IGN_S("storePathIndex"), IGN_S("storeCheckpoint"),
    IGN_S("abortFile"), IGN_S("msgTraceTopicName"), IGN_S("haMasterAddress"),
    IGN_N("sendMessageThreadPoolNums", "4"), IGN_N("pullMessageThreadPoolNums", "20"),
    IGN_N("queryMessageThreadPoolNums", "10"), IGN_N("adminBrokerThreadPoolNums", "16"),
    IGN_N("clientManageThreadPoolNums", "32"), IGN_N("consumerManageThreadPoolNums", "32"),
    IGN_N("heartbeatThreadPoolNums", "2"), IGN_N("endTransactionThreadPoolNums", "12"),
    IGN_N("serverWorkerThreads", "8"), IGN_N("serverSelectorThreads", "3"),
    IGN_N("sendThreadPoolQueueCapacity", "10000"), IGN_N("pullThreadPoolQueueCapacity", "100000"),
    IGN_N("waitTimeMillsInSendQueue", "200"), IGN_N("osPageCacheBusyTimeOutMills", "1000"),
    IGN_N("transientStorePoolSize", "5"), IGN_N("maxTransferBytesOnMessageInDisk", "65536"),
    IGN_N("maxTransferCountOnMessageInDisk", "8"), IGN_N("accessMessageInMemoryMaxRatio", "40"),
    IGN_N("flushConsumeQueueLeastPages", "2"),
    IGN_N("commitIntervalCommitLog", "200"), IGN_N("commitCommitLogLeastPages", "4"),
    IGN_N("destroyMapedFileIntervalForcibly", "120000"),
    IGN_N("haSendHeartbeatInterval", "5000"), IGN_N("haHousekeepingInterval", "20000"),
    IGN_N("haTransferBatchSize", "32768"), IGN_N("haSlaveFallbehindMax", "268435456"),
    IGN_N("slaveTimeout", "3000"), IGN_N("flushDelayOffsetInterval", "10000"),
    { "aclEnable", KITE_PROP_NONE, 0, "false", "accepted; ACL is not implemented yet" },
    { "slaveReadEnable", KITE_PROP_NONE, 0, "false", "accepted for compatibility" },
    { "transferMsgByHeap", KITE_PROP_NONE, 0, "true", "accepted for compatibility" },
    { "brokerFastFailureEnable", KITE_PROP_NONE, 0, "true", "accepted for compatibility" },
    { "transientStorePoolEnable", KITE_PROP_NONE, 0, "false", "accepted for compatibility" },
    { "messageIndexSafe", KITE_PROP_NONE, 0, "false", "accepted for compatibility" },
    { "duplicationEnable", KITE_PROP_NONE, 0, "false", "accepted for compatibility" },
    { "offsetCheckInSlave", KITE_PROP_NONE, 0, "false", "accepted for compatibility" },
    { "flushCommitLogTimed", KITE_PROP_NONE, 0, "true", "accepted for compatibility" },
    { "useReentrantLockWhenPutMessage", KITE_PROP_NONE, 0, "true", "accepted for compatibility" },
    { "enableDLegerCommitLog", KITE_PROP_NONE, 0, "false", "accepted for compatibility" },
    { "traceTopicEnable", KITE_PROP_NONE, 0, "false", "accepted for compatibility" },
    { "fetchNamesrvAddrByAddressServer", KITE_PROP_NONE, 0, "false", "accepted for compatibility" },
    { NULL, 0, 0, NULL, NULL },
};
#undef F

kite_prop_def *bk_build_props(void)
{
    size_t nb = 0, ns = 0;
    while (kite_broker_props[nb].key) nb++;
    while (kite_store_conf_defs[ns].key) ns++;
    kite_prop_def *t = calloc(nb + ns + 1, sizeof *t);
    if (!t) abort();
    memcpy(t, kite_broker_props, nb * sizeof *t);
    for (size_t i = 0; i < ns; i++) {
        t[nb + i] = kite_store_conf_defs[i];
        t[nb + i].offset += offsetof(bk_conf, store);
    }
    return t;
}
