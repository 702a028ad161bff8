/* received.c - received messages, tag expressions and readable queues (see received.h). */
#include "client/received.h"
#include "base/mem.h"
#include "codec/record.h"
#include "kite/status.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_INFLATED (256u * 1024u * 1024u) /* refuse bodies that inflate beyond this */

/* ---- tag expressions ---- */

static char *trim_dup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (!n) return NULL;
    char *d = kite_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

int kite_tagset_parse(kite_tagset *t, const char *expr)
{
    memset(t, 0, sizeof *t);
    const char *e = expr ? expr : "";
    while (*e == ' ' || *e == '\t') e++;
    if (!*e || strcmp(e, "*") == 0) {
        t->all = 1;
        return KITE_OK;
    }
    for (const char *p = e; *p;) {
        const char *sep = strstr(p, "||");
        size_t n = sep ? (size_t)(sep - p) : strlen(p);
        char *tag = trim_dup(p, n);
        if (tag) {
            t->tags = kite_xreallocarray(t->tags, t->n + 1, sizeof *t->tags);
            t->tags[t->n++] = tag;
        }
        p += n;
        if (sep) p += 2;
    }
    if (!t->n) return KITE_EINVAL;
    return KITE_OK;
}

void kite_tagset_free(kite_tagset *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->tags[i]);
    free(t->tags);
    memset(t, 0, sizeof *t);
}

int kite_tagset_match(const kite_tagset *t, const char *tag)
{
    if (t->all) return 1;
    if (!tag) return 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->tags[i], tag) == 0) return 1;
    return 0;
}

/* ---- message ext accessors (public) ---- */

const char *kite_message_ext_property(const kite_message_ext *m, const char *name)
{
    if (!m || !name) return NULL;
    const kite_rmsg *r = (const kite_rmsg *)m;
    const char *found = NULL;
    for (size_t i = 0; i < m->property_count; i++) /* the last duplicate wins (Java) */
        if (strcmp(r->props[2 * i], name) == 0) found = r->props[2 * i + 1];
    return found;
}

int kite_message_ext_property_at(const kite_message_ext *m, size_t i, const char **name,
                                 const char **value)
{
    if (!m || i >= m->property_count) return KITE_ENOTFOUND;
    const kite_rmsg *r = (const kite_rmsg *)m;
    if (name) *name = r->props[2 * i];
    if (value) *value = r->props[2 * i + 1];
    return KITE_OK;
}

/* ---- decoding ---- */

/* KITE_OK, or KITE_ECORRUPT when the body does not inflate: bad or truncated data, more
 * than MAX_INFLATED bytes, or zlib could not start (its own memory). */
static int inflate_body(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen)
{
    size_t cap = n * 4 + 64;
    uint8_t *buf = kite_xmalloc(cap);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) {
        free(buf);
        return KITE_ECORRUPT;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    int rc;
    for (;;) {
        zs.next_out = buf + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) break;
        if (zs.avail_out == 0) {
            if (cap >= MAX_INFLATED) {
                rc = Z_MEM_ERROR;
                break;
            }
            size_t ncap = cap * 2 > MAX_INFLATED ? MAX_INFLATED : cap * 2;
            buf = kite_xrealloc(buf, ncap);
            cap = ncap;
        } else if (rc == Z_BUF_ERROR) {
            break; /* truncated input */
        }
    }
    size_t total = zs.total_out;
    inflateEnd(&zs);
    if (rc == Z_STREAM_END && total == cap) buf = kite_xrealloc(buf, cap + 1);
    if (rc != Z_STREAM_END) {
        free(buf);
        return KITE_ECORRUPT;
    }
    buf[total] = 0; /* a NUL after the body, not counted */
    *out = buf;
    *outlen = total;
    return KITE_OK;
}

static void hex(char *dst, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[p[i] >> 4];
        dst[2 * i + 1] = digits[p[i] & 15];
    }
    dst[2 * n] = 0;
}

/* Offset message id (docs/wire.md §9.5): store address, port (4 bytes), commit-log offset
 * (8 bytes). */
static void offset_msg_id(const kite_record *r, char out[KITE_ID_MAX])
{
    uint8_t raw[28];
    size_t a = (r->sysflag & KITE_SYSFLAG_STOREHOST_V6) ? 16 : 4;
    memcpy(raw, r->store_addr, a);
    raw[a] = (uint8_t)(r->store_port >> 24);
    raw[a + 1] = (uint8_t)(r->store_port >> 16);
    raw[a + 2] = (uint8_t)(r->store_port >> 8);
    raw[a + 3] = (uint8_t)r->store_port;
    for (int i = 0; i < 8; i++)
        raw[a + 4 + i] = (uint8_t)((uint64_t)r->phys_offset >> (56 - 8 * i));
    hex(out, raw, a + 12);
}

typedef struct piece {
    const char *name, *value;
    size_t nl, vl;
} piece;

/* Splits a properties string with Java's rules (codec/msgprops); returns the count and
 * fills out with the first cap pieces. */
static size_t split_props(const char *p, size_t len, piece *out, size_t cap)
{
    size_t n = 0, pos = 0, nl, vl;
    const char *name, *value;
    while (kite_msgprop_next(p, len, &pos, &name, &nl, &value, &vl)) {
        if (out && n < cap) out[n] = (piece){ .name = name, .value = value, .nl = nl, .vl = vl };
        n++;
    }
    return n;
}

static const piece *find_piece(const piece *v, size_t n, const char *name)
{
    size_t nl = strlen(name);
    const piece *f = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i].nl == nl && memcmp(v[i].name, name, nl) == 0) f = &v[i];
    return f;
}

/* Builds one message from a decoded record. NULL with *why on failure. */
static kite_rmsg *build(const kite_record *rec, const char *broker_name, const char *retry_topic,
                        const kite_tagset *filter, int *filtered, const char **why)
{
    *filtered = 0;
    piece stack[32], *pv = stack;
    size_t np = split_props(rec->props, rec->props_len, NULL, 0);
    if (np > 32) pv = kite_xmalloc(np * sizeof *pv);
    split_props(rec->props, rec->props_len, pv, np);
    kite_rmsg *m = NULL;
    const piece *tags = find_piece(pv, np, "TAGS");
    if (filter && !filter->all) {
        int ok = 0;
        for (size_t i = 0; tags && i < filter->n; i++)
            ok |= strlen(filter->tags[i]) == tags->vl &&
                  memcmp(filter->tags[i], tags->value, tags->vl) == 0;
        if (!ok) {
            *filtered = 1;
            goto out;
        }
    }
    const piece *rt = NULL;
    if (retry_topic && rec->topic_len == strlen(retry_topic) &&
        memcmp(rec->topic, retry_topic, rec->topic_len) == 0)
        rt = find_piece(pv, np, "RETRY_TOPIC");
    const char *topic = rt ? rt->value : rec->topic;
    size_t tl = rt ? rt->vl : rec->topic_len;

    uint8_t *inflated = NULL;
    size_t inflated_len = 0;
    int32_t sysflag = rec->sysflag;
    int ctype = (rec->sysflag >> 8) & 7;
    if ((rec->sysflag & KITE_SYSFLAG_COMPRESSED) && (ctype == 0 || ctype == 3)) {
        if (inflate_body(rec->body, rec->body_len, &inflated, &inflated_len) != KITE_OK) {
            *why = "a compressed body does not inflate";
            goto out;
        }
        sysflag &= ~(KITE_SYSFLAG_COMPRESSED | 0x700);
    }
    size_t bl = strlen(broker_name);
    size_t text = tl + 1 + KITE_ID_MAX + bl + 1 + (inflated ? 0 : rec->body_len + 1);
    for (size_t i = 0; i < np; i++) text += pv[i].nl + pv[i].vl + 2;
    size_t head = sizeof *m + 2 * np * sizeof(char *);
    m = kite_xmalloc(head + text);
    memset(m, 0, sizeof *m);
    m->props = (const char **)(void *)((char *)m + sizeof *m);
    char *w = (char *)m + head;
    for (size_t i = 0; i < np; i++) {
        m->props[2 * i] = w;
        memcpy(w, pv[i].name, pv[i].nl);
        w += pv[i].nl;
        *w++ = 0;
        m->props[2 * i + 1] = w;
        memcpy(w, pv[i].value, pv[i].vl);
        w += pv[i].vl;
        *w++ = 0;
    }
    m->m.property_count = np;
    m->m.topic = w;
    memcpy(w, topic, tl);
    w += tl;
    *w++ = 0;
    offset_msg_id(rec, w);
    m->m.offset_msg_id = w;
    w += KITE_ID_MAX;
    m->m.broker_name = w;
    memcpy(w, broker_name, bl + 1);
    w += bl + 1;
    if (inflated) {
        m->body_own = inflated;
        m->m.body = inflated;
        m->m.body_len = inflated_len;
    } else {
        memcpy(w, rec->body, rec->body_len);
        w[rec->body_len] = 0; /* a NUL after the body, not counted */
        m->m.body = w;
        m->m.body_len = rec->body_len;
    }
    m->m.tags = kite_message_ext_property(&m->m, "TAGS");
    m->m.keys = kite_message_ext_property(&m->m, "KEYS");
    const char *uniq = kite_message_ext_property(&m->m, "UNIQ_KEY");
    m->m.msg_id = uniq ? uniq : m->m.offset_msg_id;
    m->m.queue_id = rec->queue_id;
    m->m.queue_offset = rec->queue_offset;
    m->m.commit_log_offset = rec->phys_offset;
    m->m.flag = rec->flag;
    m->m.sysflag = sysflag;
    m->m.reconsume_times = rec->reconsume_times;
    m->m.born_timestamp = rec->born_ts;
    m->m.store_timestamp = rec->store_ts;
    m->stored_len = rec->total_size;
out:
    if (pv != stack) free(pv);
    return m;
}

int kite_rmsg_decode_all(const uint8_t *p, size_t len, const char *broker_name,
                         const char *retry_topic, const kite_tagset *filter, kite_rmsg ***out,
                         size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0, pos = 0;
    int status = KITE_OK;
    while (pos < len) {
        kite_record rec;
        const char *why = NULL;
        int rl = kite_record_decode(p + pos, len - pos, &rec, 0, &why);
        if (rl <= 0) {
            snprintf(err, errlen, "record at byte %zu of %zu: %s", pos, len,
                     why                 ? why
                     : rl == KITE_EAGAIN ? "truncated"
                                         : "not a message record");
            status = KITE_ECORRUPT;
            break;
        }
        pos += (size_t)rl;
        int filtered = 0;
        kite_rmsg *m = build(&rec, broker_name, retry_topic, filter, &filtered, &why);
        if (filtered) continue;
        if (!m) {
            snprintf(err, errlen, "record at offset %lld: %s", (long long)rec.queue_offset, why);
            status = KITE_ECORRUPT;
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            *out = kite_xreallocarray(*out, cap, sizeof **out);
        }
        (*out)[(*n)++] = m;
    }
    return status;
}

void kite_rmsg_free(kite_rmsg *m)
{
    if (!m) return;
    free(m->body_own);
    free(m);
}

void kite_rmsgs_free(kite_rmsg **v, size_t n)
{
    for (size_t i = 0; i < n; i++) kite_rmsg_free(v[i]);
    free(v);
}

/* ---- queues ---- */

int kite_mq_cmp(const void *a, const void *b)
{
    const kite_mq *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c) return c;
    c = strcmp(x->broker_name, y->broker_name);
    if (c) return c;
    return (x->queue_id > y->queue_id) - (x->queue_id < y->queue_id);
}

const char *kite_route_broker_addr_id(const kite_pub_route *r, const char *broker_name, int64_t id)
{
    for (size_t i = 0; i < r->rd.n_brokers; i++) {
        const kite_broker_data *b = &r->rd.brokers[i];
        if (!b->broker_name || strcmp(b->broker_name, broker_name) != 0) continue;
        for (size_t j = 0; j < b->n_addrs; j++)
            if (b->addrs[j].addr && b->addrs[j].id == id) return b->addrs[j].addr;
    }
    return NULL;
}

const char *kite_route_broker_addr(const kite_pub_route *r, const char *broker_name)
{
    const char *m = kite_pub_route_master(r, broker_name);
    if (m) return m;
    const char *best = NULL;
    int64_t best_id = 0;
    for (size_t i = 0; i < r->rd.n_brokers; i++) {
        const kite_broker_data *b = &r->rd.brokers[i];
        if (!b->broker_name || strcmp(b->broker_name, broker_name) != 0) continue;
        for (size_t j = 0; j < b->n_addrs; j++)
            if (b->addrs[j].addr && (!best || b->addrs[j].id < best_id)) {
                best = b->addrs[j].addr;
                best_id = b->addrs[j].id;
            }
    }
    return best;
}

void kite_route_read_queues(const kite_pub_route *r, kite_mq **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (r->via_default) return;
    size_t total = 0;
    for (size_t i = 0; i < r->rd.n_queues; i++) {
        const kite_queue_data *q = &r->rd.queues[i];
        if ((q->perm & KITE_PERM_READ) && q->read_queue_nums > 0 && q->broker_name &&
            kite_route_broker_addr(r, q->broker_name))
            total += (size_t)q->read_queue_nums;
    }
    if (!total) return;
    kite_mq *v = kite_xcalloc(total, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < r->rd.n_queues; i++) {
        const kite_queue_data *q = &r->rd.queues[i];
        if (!((q->perm & KITE_PERM_READ) && q->read_queue_nums > 0 && q->broker_name &&
              kite_route_broker_addr(r, q->broker_name)))
            continue;
        for (int32_t id = 0; id < q->read_queue_nums; id++) {
            v[k].topic = r->topic;
            v[k].broker_name = q->broker_name;
            v[k].queue_id = id;
            k++;
        }
    }
    qsort(v, k, sizeof *v, kite_mq_cmp);
    *out = v;
    *n = k;
}
