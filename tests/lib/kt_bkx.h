/* kt_bkx.h - more helpers for the kite-broker integration tests (retry, delay, filter,
 * admin): pulls with an expression type, message properties of decoded records, fastjson
 * bodies keyed by MessageQueue objects (parsed with kite_json_parse), KVTable values,
 * and answering a request the broker sent on a client connection. Requests stay raw
 * JSON text (kb_send in kt_broker.h). */
#ifndef KITE_TESTS_KT_BKX_H
#define KITE_TESTS_KT_BKX_H

#include "base/json.h"
#include "kt_broker.h"
#include <stddef.h>
#include <stdint.h>

/* PULL_MESSAGE (11) with the SUBSCRIPTION flag's fields: subscription sub (JSON string
 * text, may hold single quotes) and expressionType etype ("TAG", "SQL92"). */
int kx_pull_expr_send(int fd, const char *group, const char *topic, int qid, int64_t offset,
                      int max_nums, int sysflag, int64_t suspend_ms, const char *sub,
                      const char *etype);
int kx_pull_expr(int fd, const char *group, const char *topic, int qid, int64_t offset,
                 int max_nums, int sysflag, int64_t suspend_ms, const char *sub, const char *etype,
                 kite_cmd *resp);

/* Copies property name of a record into out (NUL-terminated); 1 present, 0 absent. */
int kx_prop(const kite_record *r, const char *name, char *out, size_t cap);

/* Parses a body; NULL (and a message on stderr) when it is not JSON. */
kite_json_doc *kx_parse(const kite_cmd *c);
/* In an object whose keys are MessageQueue objects ({"brokerName","queueId","topic"}),
 * the value for (topic, qid), or NULL. *n_entries (optional) gets the member count. */
const kite_json *kx_mq_value(const kite_json *table, const char *topic, int qid, size_t *n_entries);
/* Reads a string field of a JSON object into out; 0, or -1 when absent/not a string. */
int kx_str(const kite_json *obj, const char *key, char *out, size_t cap);

/* Answers request req (read with kb_server_request) on fd: code, body text (may be NULL). */
int kx_answer(int fd, const kite_cmd *req, int code, const char *body);
/* Waits for the next broker request on fd whose code is `code`, dropping others (e.g.
 * NOTIFY_CONSUMER_IDS_CHANGED). 0 found, -1 none within timeout_ms. */
int kx_wait_request(int fd, int code, kite_cmd *out, int timeout_ms);
/* 1 when fd has bytes to read within ms. */
int kx_readable(int fd, int ms);

#endif
