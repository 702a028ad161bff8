/* kt_bkx.c - extra kite-broker test helpers (see kt_bkx.h). */
#include "kt_bkx.h"
#include "base/time.h"
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pull_ext(char *ext, size_t cap, const char *group, const char *topic, int qid,
                     int64_t offset, int max_nums, int sysflag, int64_t suspend_ms, const char *sub,
                     const char *etype)
{
    snprintf(
        ext, cap,
        "\"consumerGroup\":\"%s\",\"topic\":\"%s\",\"queueId\":\"%d\",\"queueOffset\":\"%" PRId64
        "\",\"maxMsgNums\":\"%d\",\"sysFlag\":\"%d\",\"commitOffset\":\"0\",\"suspendTimeoutMillis\":\"%" PRId64
        "\",\"subVersion\":\"0\",\"subscription\":\"%s\",\"expressionType\":\"%s\"",
        group, topic, qid, offset, max_nums, sysflag, suspend_ms, sub, etype);
}

int kx_pull_expr_send(int fd, const char *group, const char *topic, int qid, int64_t offset,
                      int max_nums, int sysflag, int64_t suspend_ms, const char *sub,
                      const char *etype)
{
    char ext[2048];
    pull_ext(ext, sizeof ext, group, topic, qid, offset, max_nums, sysflag, suspend_ms, sub, etype);
    return kb_send(fd, 11, 0, ext, NULL, 0);
}

int kx_pull_expr(int fd, const char *group, const char *topic, int qid, int64_t offset,
                 int max_nums, int sysflag, int64_t suspend_ms, const char *sub, const char *etype,
                 kite_cmd *resp)
{
    char ext[2048];
    pull_ext(ext, sizeof ext, group, topic, qid, offset, max_nums, sysflag, suspend_ms, sub, etype);
    return kb_call(fd, 11, ext, NULL, 0, resp);
}

int kx_prop(const kite_record *r, const char *name, char *out, size_t cap)
{
    size_t vlen;
    const char *v = kite_msgprop_get(r->props, r->props_len, name, &vlen);
    if (!v) {
        if (cap) out[0] = 0;
        return 0;
    }
    size_t n = vlen < cap - 1 ? vlen : cap - 1;
    memcpy(out, v, n);
    out[n] = 0;
    return 1;
}

kite_json_doc *kx_parse(const kite_cmd *c)
{
    char err[160];
    kite_json_doc *d = kite_json_parse((const char *)c->body, c->body_len, err, sizeof err);
    if (!d)
        fprintf(stderr, "body is not JSON (%s): %.*s\n", err,
                (int)(c->body_len > 400 ? 400 : c->body_len), (const char *)c->body);
    return d;
}

const kite_json *kx_mq_value(const kite_json *table, const char *topic, int qid, size_t *n_entries)
{
    if (n_entries) *n_entries = table && table->type == KJ_OBJECT ? table->count : 0;
    if (!table || table->type != KJ_OBJECT) return NULL;
    for (size_t i = 0; i < table->count; i++) {
        const kite_json *k = table->members[i].key;
        if (k->type != KJ_OBJECT) continue;
        const char *t = kite_json_get_str(k, "topic", NULL);
        int32_t q = kite_json_get_int32(k, "queueId", -1);
        if (t && strcmp(t, topic) == 0 && q == qid && kite_json_get_str(k, "brokerName", NULL))
            return table->members[i].value;
    }
    return NULL;
}

int kx_str(const kite_json *obj, const char *key, char *out, size_t cap)
{
    const char *s = kite_json_get_str(obj, key, NULL);
    if (!s) return -1;
    snprintf(out, cap, "%s", s);
    return 0;
}

int kx_answer(int fd, const kite_cmd *req, int code, const char *body)
{
    char h[512];
    snprintf(h, sizeof h,
             "{\"code\":%d,\"extFields\":{},\"flag\":1,\"language\":\"JAVA\",\"opaque\":%d,"
             "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}",
             code, req->opaque);
    return kt_send_json(fd, h, body, body ? strlen(body) : 0);
}

int kx_wait_request(int fd, int code, kite_cmd *out, int timeout_ms)
{
    int64_t deadline = kite_deadline_ms(timeout_ms);
    for (;;) {
        int64_t left = kite_deadline_left_ms(deadline);
        if (left == 0) return -1;
        if (kb_server_request(fd, out, (int)left) != 0) return -1;
        if (out->code == code) return 0;
        kite_cmd_free(out);
    }
}

int kx_readable(int fd, int ms)
{
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    return poll(&pf, 1, ms) > 0;
}
