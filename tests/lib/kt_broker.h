/* kt_broker.h - helpers for the kite-broker integration tests: requests whose JSON
 * headers are written as text here (printf templates, never our encoder), a call that
 * matches the answer by opaque while keeping the requests the broker sends on the same
 * connection (NOTIFY_CONSUMER_IDS_CHANGED) aside, and decoding of the stored records of a
 * pull/view body with kite_record_decode (docs/wire.md §5.1, §6.2, §9.1). */
#ifndef KITE_TESTS_KT_BROKER_H
#define KITE_TESTS_KT_BROKER_H

#include "codec/record.h"
#include "kt.h"
#include <stddef.h>
#include <stdint.h>

/* Sends one request {"code":..,"extFields":{<ext>},"flag":..,...}; returns its opaque
 * (> 0) or -1 when the write failed. Signed (AccessKey, Signature) after kb_sign_as. */
int kb_send(int fd, int code, int flag, const char *ext, const void *body, size_t blen);
/* Every request kb_send writes from now on is signed as the plain-ACL account ak / sk, with
 * OpenSSL's HMAC-SHA1 over the values of ext in key order and the body, computed here
 * (docs/wire.md §14.1; ASCII keys only). NULL: unsigned again. Process-wide. */
void kb_sign_as(const char *ak, const char *sk);
/* Reads frames until the response carrying opaque arrives (0), or timeout/close (-1/-2).
 * Requests from the broker read meanwhile are kept for kb_server_request. Responses with
 * another opaque are an error (-3). */
int kb_wait_response(int fd, int opaque, kite_cmd *resp, int timeout_ms);
/* kb_send + kb_wait_response (5 s). */
int kb_call(int fd, int code, const char *ext, const void *body, size_t blen, kite_cmd *resp);
/* The answer code of a call (-100 - error when there was no answer); frees the answer. */
int kb_call_code(int fd, int code, const char *ext, const void *body, size_t blen);
/* Next request the broker sent on fd (kept ones first). 0, or -1 none within timeout. */
int kb_server_request(int fd, kite_cmd *out, int timeout_ms);
/* Drops the kept broker requests of fd (call before closing it). */
void kb_forget_fd(int fd);

/* SEND_MESSAGE_V2 (310) with one-letter names: producer group "PG", default topic
 * TBW102, 4 queues, sysFlag 0, flag 0. props_json is the properties string as JSON
 * string text (escapes like \u0001 written by the caller), may be NULL. */
int kb_send_v2(int fd, const char *topic, int qid, const char *props_json, const void *body,
               size_t blen, kite_cmd *resp);
/* The request of kb_send_v2 sent without waiting (answers are matched by opaque with
 * kb_wait_response): its opaque (> 0) or -1 when the write failed. */
int kb_send_v2_start(int fd, const char *topic, int qid, const char *props_json, const void *body,
                     size_t blen);
/* The extFields text of a pull request (11 or 361); sub == NULL: no subscription. */
void kb_pull_ext(char *ext, size_t cap, const char *group, const char *topic, int qid,
                 int64_t offset, int max_nums, int sysflag, int64_t commit_offset,
                 int64_t suspend_ms, const char *sub);
/* PULL_MESSAGE (11). sub == NULL: no subscription/expressionType fields. Returns the
 * opaque of the sent request (kb_pull_send) or the kb_call result (kb_pull). */
int kb_pull_send(int fd, const char *group, const char *topic, int qid, int64_t offset,
                 int max_nums, int sysflag, int64_t commit_offset, int64_t suspend_ms,
                 const char *sub);
int kb_pull(int fd, const char *group, const char *topic, int qid, int64_t offset, int max_nums,
            int sysflag, int64_t commit_offset, int64_t suspend_ms, const char *sub,
            kite_cmd *resp);
/* Java-shaped HeartbeatData with one consumer group subscribed to topic with expr (and
 * %RETRY%group with "*"), and producer group CLIENT_INNER_PRODUCER. */
void kb_heartbeat_java(char *out, size_t cap, const char *client_id, const char *group,
                       const char *topic, const char *expr);
/* GET_MAX_OFFSET-style lookups (30, 31, 32, 29): the named extField of the answer, or
 * INT64_MIN when the call failed or was not code 0. */
int64_t kb_lookup(int fd, int code, const char *topic, int qid, const char *extra_ext,
                  const char *answer_key);

/* Integer extField of an answer; INT64_MIN when absent or not a number. */
int64_t kb_ext_i64(const kite_cmd *c, const char *key);
/* Decodes the records of a body, each checked with the body CRC. Returns how many
 * (at most max), or -1 when a record does not decode or bytes are left over. */
int kb_records(const uint8_t *body, size_t len, kite_record *out, int max);
/* JSON string text for raw bytes (control bytes as \u00XX); out gets NUL-terminated. */
void kb_json_escape(const char *raw, size_t n, char *out, size_t cap);
/* Wall-clock milliseconds since the epoch. */
int64_t kb_wall_ms(void);
/* Counts lines of the file that contain needle (e.g. "ERROR"); -1 if unreadable. */
int kb_count_lines(const char *path, const char *needle);

#endif
