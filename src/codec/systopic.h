/* systopic.h - the names of RocketMQ's system topics and groups, and their prefixes.
 *
 * Owns: every reserved topic or group name (or name prefix) that KiteMQ's servers and
 * libkite give meaning to, as the Java brokers and clients spell them, and small helpers
 * to test and build the derived names (%RETRY%<group>, %DLQ%<group>,
 * <cluster>_REPLY_TOPIC). Code elsewhere uses these instead of writing the literals.
 * Does not own: what the broker does with each topic (p_send.c, delay.c, trans.c, ...),
 * the permissions and queue counts it creates them with (topics.c).
 * Threads: constants and pure inline functions. */
#ifndef KITE_CODEC_SYSTOPIC_H
#define KITE_CODEC_SYSTOPIC_H

#include <stdio.h>
#include <string.h>

/* ---- per-group topics ---- */
#define KITE_RETRY_PREFIX     "%RETRY%" /* %RETRY%<group>: messages a group consumes again */
#define KITE_RETRY_PREFIX_LEN 7
#define KITE_DLQ_PREFIX       "%DLQ%" /* %DLQ%<group>: dead letters after the last retry */
#define KITE_DLQ_PREFIX_LEN   5

/* ---- topics the broker creates or reserves ---- */
#define KITE_TOPIC_AUTO_CREATE     "TBW102" /* template (and route) of topics created on first send */
#define KITE_TOPIC_SCHEDULE        "SCHEDULE_TOPIC_XXXX" /* delayed messages, queue = level - 1 */
#define KITE_TOPIC_TRANS_HALF      "RMQ_SYS_TRANS_HALF_TOPIC"    /* prepared (half) messages */
#define KITE_TOPIC_TRANS_OP_HALF   "RMQ_SYS_TRANS_OP_HALF_TOPIC" /* commit/rollback records */
#define KITE_TOPIC_TRANS_CHECK_MAX "TRANS_CHECK_MAX_TIME_TOPIC"  /* halves checked too often */
#define KITE_TOPIC_TRACE           "RMQ_SYS_TRACE_TOPIC" /* message traces of Java clients (default) */
#define KITE_TOPIC_SELF_TEST       "SELF_TEST_TOPIC"
#define KITE_TOPIC_OFFSET_MOVED    "OFFSET_MOVED_EVENT"
#define KITE_TOPIC_BENCHMARK       "BenchmarkTest"
/* Prefix of the system topics of newer Java brokers (rmq_sys_...). */
#define KITE_SYS_TOPIC_PREFIX "rmq_sys_"
/* <cluster>_REPLY_TOPIC: request-reply messages of a cluster. The broker also creates a
 * topic named after its cluster and one named after itself (brokerClusterName,
 * brokerName), which name servers answer as the "system topics". */
#define KITE_REPLY_TOPIC_SUFFIX "_REPLY_TOPIC"
/* The prefix admin consoles put before system topic and group names in their listings; a
 * display convention, never stored nor sent by KiteMQ. */
#define KITE_SYS_DISPLAY_PREFIX "%SYS%"

/* ---- groups ---- */
#define KITE_SYS_GROUP_PREFIX            "CID_RMQ_SYS_" /* internal groups; always exist */
#define KITE_SYS_GROUP_PREFIX_LEN        12
#define KITE_GROUP_TRANS                 "CID_RMQ_SYS_TRANS" /* the broker's own progress on the half topics */
#define KITE_GROUP_CLIENT_INNER_PRODUCER "CLIENT_INNER_PRODUCER" /* every client's heartbeat */

static inline int kite_is_retry_topic(const char *topic)
{
    return strncmp(topic, KITE_RETRY_PREFIX, KITE_RETRY_PREFIX_LEN) == 0;
}

static inline int kite_is_dlq_topic(const char *topic)
{
    return strncmp(topic, KITE_DLQ_PREFIX, KITE_DLQ_PREFIX_LEN) == 0;
}

static inline int kite_is_sys_group(const char *group)
{
    return strncmp(group, KITE_SYS_GROUP_PREFIX, KITE_SYS_GROUP_PREFIX_LEN) == 0;
}

/* %RETRY%<group> / %DLQ%<group> / <cluster>_REPLY_TOPIC into out (cap bytes, truncated,
 * NUL-terminated). Return the full length, as snprintf: >= cap means it did not fit. */
static inline int kite_retry_topic(char *out, size_t cap, const char *group)
{
    return snprintf(out, cap, "%s%s", KITE_RETRY_PREFIX, group); /* the prefix holds '%' */
}

static inline int kite_dlq_topic(char *out, size_t cap, const char *group)
{
    return snprintf(out, cap, "%s%s", KITE_DLQ_PREFIX, group);
}

static inline int kite_reply_topic(char *out, size_t cap, const char *cluster)
{
    return snprintf(out, cap, "%s%s", cluster, KITE_REPLY_TOPIC_SUFFIX);
}

#endif
