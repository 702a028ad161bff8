/* kt_broker.c - kite-broker test helpers (see kt_broker.h). */
#include "kt_broker.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/time.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KB_STASH 64

static struct {
    int fd;
    kite_cmd cmd;
} stash[KB_STASH];
static int nstash;
static int kb_opaque = 5000;

static char kb_ak[128], kb_sk[128]; /* kb_sign_as; "" = unsigned */

void kb_sign_as(const char *ak, const char *sk)
{
    snprintf(kb_ak, sizeof kb_ak, "%s", ak && sk ? ak : "");
    snprintf(kb_sk, sizeof kb_sk, "%s", ak && sk ? sk : "");
}

typedef struct kb_kv {
    const char *k;
    kite_buf v;
} kb_kv;

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const kb_kv *)a)->k, ((const kb_kv *)b)->k); /* ASCII keys: Java's order */
}

/* ext followed by AccessKey and a Signature computed here (OpenSSL's HMAC over the values
 * in key order, then the body), as a new string. */
static char *sign_ext(const char *ext, const void *body, size_t blen)
{
    kite_buf obj = KITE_BUF_INIT, content = KITE_BUF_INIT;
    kite_buf_puts(&obj, "{");
    kite_buf_puts(&obj, ext);
    kite_buf_puts(&obj, "}");
    char err[128];
    kite_json_doc *doc = kite_json_parse(obj.data, obj.len, err, sizeof err);
    if (!doc) {
        fprintf(stderr, "kb_send: cannot sign extFields {%s}: %s\n", ext, err);
        abort();
    }
    const kite_json *root = kite_json_root(doc);
    size_t n = root->count;
    kb_kv *kv = kite_xcalloc(n + 1, sizeof *kv);
    for (size_t i = 0; i < n; i++) {
        kv[i].k = root->members[i].key->text;
        kite_json_scalar_text(root->members[i].value, &kv[i].v);
    }
    kv[n].k = "AccessKey";
    kite_buf_puts(&kv[n].v, kb_ak);
    qsort(kv, n + 1, sizeof *kv, kv_cmp);
    for (size_t i = 0; i <= n; i++) {
        kite_buf_append(&content, kv[i].v.data, kv[i].v.len);
        kite_buf_free(&kv[i].v);
    }
    if (blen) kite_buf_append(&content, body, blen);
    unsigned char mac[20];
    unsigned int ml = sizeof mac;
    char sig[32];
    if (!HMAC(EVP_sha1(), kb_sk, (int)strlen(kb_sk), (const unsigned char *)content.data,
              content.len, mac, &ml))
        abort();
    EVP_EncodeBlock((unsigned char *)sig, mac, 20);
    size_t cap = obj.len + strlen(kb_ak) + 80;
    char *out = kite_xmalloc(cap);
    snprintf(out, cap, "%s%s\"AccessKey\":\"%s\",\"Signature\":\"%s\"", ext, *ext ? "," : "", kb_ak,
             sig);
    free(kv);
    kite_json_doc_free(doc);
    kite_buf_free(&obj);
    kite_buf_free(&content);
    return out;
}

int kb_send(int fd, int code, int flag, const char *ext, const void *body, size_t blen)
{
    char *sext = kb_ak[0] ? sign_ext(ext ? ext : "", body, blen) : NULL;
    if (sext) ext = sext;
    size_t cap = (ext ? strlen(ext) : 0) + 256;
    char *h = kite_xmalloc(cap);
    int op = ++kb_opaque;
    snprintf(h, cap,
             "{\"code\":%d,\"extFields\":{%s},\"flag\":%d,\"language\":\"JAVA\",\"opaque\":%d,"
             "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":401}",
             code, ext ? ext : "", flag, op);
    int r = kt_send_json(fd, h, body, blen);
    free(h);
    free(sext);
    return r == 0 ? op : -1;
}

int kb_wait_response(int fd, int opaque, kite_cmd *resp, int timeout_ms)
{
    int64_t deadline = kite_deadline_ms(timeout_ms);
    for (;;) {
        int64_t left = kite_deadline_left_ms(deadline);
        if (left == 0) return -1;
        kite_cmd c;
        int r = kt_read_frame(fd, &c, (int)left);
        if (r) return r;
        if (!(c.flag & KITE_FLAG_RESPONSE)) {
            if (nstash < KB_STASH) {
                stash[nstash].fd = fd;
                stash[nstash].cmd = c;
                nstash++;
            } else {
                kite_cmd_free(&c);
            }
            continue;
        }
        if (c.opaque != opaque) {
            fprintf(stderr, "kb_wait_response: answer with opaque %d while waiting for %d\n",
                    c.opaque, opaque);
            kite_cmd_free(&c);
            return -3;
        }
        *resp = c;
        return 0;
    }
}

int kb_call(int fd, int code, const char *ext, const void *body, size_t blen, kite_cmd *resp)
{
    int op = kb_send(fd, code, 0, ext, body, blen);
    if (op < 0) return -1;
    return kb_wait_response(fd, op, resp, KT_DEADLINE_MS);
}

int kb_call_code(int fd, int code, const char *ext, const void *body, size_t blen)
{
    kite_cmd r;
    int rc = kb_call(fd, code, ext, body, blen, &r);
    if (rc) return -100 + rc;
    int c = r.code;
    if (c != 0 && r.remark) fprintf(stderr, "  (code %d answered %d: %s)\n", code, c, r.remark);
    kite_cmd_free(&r);
    return c;
}

int kb_server_request(int fd, kite_cmd *out, int timeout_ms)
{
    for (int i = 0; i < nstash; i++) {
        if (stash[i].fd != fd) continue;
        *out = stash[i].cmd;
        memmove(&stash[i], &stash[i + 1], (size_t)(nstash - i - 1) * sizeof stash[0]);
        nstash--;
        return 0;
    }
    int64_t deadline = kite_deadline_ms(timeout_ms);
    for (;;) {
        int64_t left = kite_deadline_left_ms(deadline);
        if (left == 0) return -1;
        kite_cmd c;
        if (kt_read_frame(fd, &c, (int)left) != 0) return -1;
        if (!(c.flag & KITE_FLAG_RESPONSE)) {
            *out = c;
            return 0;
        }
        fprintf(stderr, "kb_server_request: unexpected answer opaque %d\n", c.opaque);
        kite_cmd_free(&c);
    }
}

void kb_forget_fd(int fd)
{
    for (int i = 0; i < nstash;) {
        if (stash[i].fd == fd) {
            kite_cmd_free(&stash[i].cmd);
            memmove(&stash[i], &stash[i + 1], (size_t)(nstash - i - 1) * sizeof stash[0]);
            nstash--;
        } else {
            i++;
        }
    }
}

int64_t kb_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kb_send_v2_start(int fd, const char *topic, int qid, const char *props_json, const void *body,
                     size_t blen)
{
    size_t cap = (props_json ? strlen(props_json) : 0) + strlen(topic) + 512;
    char *ext = kite_xmalloc(cap);
    snprintf(
        ext, cap,
        "\"a\":\"PG\",\"b\":\"%s\",\"c\":\"TBW102\",\"d\":\"4\",\"e\":\"%d\",\"f\":\"0\",\"g\":\"%" PRId64
        "\",\"h\":\"0\",\"i\":\"%s\",\"j\":\"0\",\"k\":\"false\",\"m\":\"false\"",
        topic, qid, kb_wall_ms(), props_json ? props_json : "");
    int op = kb_send(fd, 310, 0, ext, body, blen);
    free(ext);
    return op;
}

int kb_send_v2(int fd, const char *topic, int qid, const char *props_json, const void *body,
               size_t blen, kite_cmd *resp)
{
    int op = kb_send_v2_start(fd, topic, qid, props_json, body, blen);
    if (op < 0) return -1;
    return kb_wait_response(fd, op, resp, KT_DEADLINE_MS);
}

void kb_pull_ext(char *ext, size_t cap, const char *group, const char *topic, int qid,
                 int64_t offset, int max_nums, int sysflag, int64_t commit_offset,
                 int64_t suspend_ms, const char *sub)
{
    char subf[600] = "";
    if (sub)
        snprintf(subf, sizeof subf, ",\"subscription\":\"%s\",\"expressionType\":\"TAG\"", sub);
    snprintf(
        ext, cap,
        "\"consumerGroup\":\"%s\",\"topic\":\"%s\",\"queueId\":\"%d\",\"queueOffset\":\"%" PRId64
        "\",\"maxMsgNums\":\"%d\",\"sysFlag\":\"%d\",\"commitOffset\":\"%" PRId64
        "\",\"suspendTimeoutMillis\":\"%" PRId64 "\",\"subVersion\":\"0\"%s",
        group, topic, qid, offset, max_nums, sysflag, commit_offset, suspend_ms, subf);
}

int kb_pull_send(int fd, const char *group, const char *topic, int qid, int64_t offset,
                 int max_nums, int sysflag, int64_t commit_offset, int64_t suspend_ms,
                 const char *sub)
{
    char ext[2048];
    kb_pull_ext(ext, sizeof ext, group, topic, qid, offset, max_nums, sysflag, commit_offset,
                suspend_ms, sub);
    return kb_send(fd, 11, 0, ext, NULL, 0);
}

int kb_pull(int fd, const char *group, const char *topic, int qid, int64_t offset, int max_nums,
            int sysflag, int64_t commit_offset, int64_t suspend_ms, const char *sub, kite_cmd *resp)
{
    char ext[2048];
    kb_pull_ext(ext, sizeof ext, group, topic, qid, offset, max_nums, sysflag, commit_offset,
                suspend_ms, sub);
    return kb_call(fd, 11, ext, NULL, 0, resp);
}

void kb_heartbeat_java(char *out, size_t cap, const char *client_id, const char *group,
                       const char *topic, const char *expr)
{
    snprintf(
        out, cap,
        "{\"clientID\":\"%s\",\"consumerDataSet\":[{\"consumeFromWhere\":\"CONSUME_FROM_LAST_OFFSET\","
        "\"consumeType\":\"CONSUME_PASSIVELY\",\"groupName\":\"%s\",\"messageModel\":\"CLUSTERING\","
        "\"subscriptionDataSet\":[{\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"TAG\","
        "\"subString\":\"%s\",\"subVersion\":1700000000000,\"tagsSet\":[],\"topic\":\"%s\"},"
        "{\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"TAG\",\"subString\":\"*\","
        "\"subVersion\":1700000000001,\"tagsSet\":[],\"topic\":\"%%RETRY%%%s\"}],\"unitMode\":false}],"
        "\"heartbeatFingerprint\":0,\"producerDataSet\":[{\"groupName\":\"CLIENT_INNER_PRODUCER\"}],"
        "\"withoutSub\":false}",
        client_id, group, expr, topic, group);
}

int64_t kb_lookup(int fd, int code, const char *topic, int qid, const char *extra_ext,
                  const char *answer_key)
{
    char ext[1024];
    snprintf(ext, sizeof ext, "\"topic\":\"%s\",\"queueId\":\"%d\"%s", topic, qid,
             extra_ext ? extra_ext : "");
    kite_cmd r;
    if (kb_call(fd, code, ext, NULL, 0, &r) != 0) return INT64_MIN;
    int64_t v = r.code == 0 ? kb_ext_i64(&r, answer_key) : INT64_MIN;
    kite_cmd_free(&r);
    return v;
}

int64_t kb_ext_i64(const kite_cmd *c, const char *key)
{
    int64_t v;
    return kite_cmd_ext_i64(c, key, &v) == 0 ? v : INT64_MIN;
}

int kb_records(const uint8_t *body, size_t len, kite_record *out, int max)
{
    int n = 0;
    size_t pos = 0;
    while (pos < len) {
        if (n >= max) return -1;
        const char *why = NULL;
        int r = kite_record_decode(body + pos, len - pos, &out[n], KITE_REC_CHECK_CRC, &why);
        if (r <= 0) {
            fprintf(stderr, "kb_records: record %d at %zu does not decode (%d: %s)\n", n, pos, r,
                    why ? why : "");
            return -1;
        }
        pos += (size_t)r;
        n++;
    }
    return n;
}

void kb_json_escape(const char *raw, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 7 < cap; i++) {
        unsigned char ch = (unsigned char)raw[i];
        if (ch < 0x20 || ch == '"' || ch == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        else
            out[o++] = (char)ch;
    }
    out[o] = 0;
}

int kb_count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    fclose(f);
    return n;
}
