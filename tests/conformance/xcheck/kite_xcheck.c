/* kite_xcheck.c - the libkite side of the libkite <-> ali-ons cross-check
 * (tests/conformance/scenarios/08_libkite_crosscheck.test.js). Uses only the public
 * libkite API (<kite/kite.h>) plus OpenSSL's SHA-256 for body hashes.
 *
 *   kite_xcheck produce <namesrv> <topic> [group]
 *       Sends the fixed set of messages below (sync sends) and prints one JSON line per
 *       message with what was sent: {"sent":true,"case","status","msg_id"(UNIQ_KEY),
 *       "offset_msg_id","broker_name","queue_id","queue_offset","topic","tags","keys",
 *       "flag","compressed"(body at or above the producer's compress threshold and
 *       smaller once compressed - libkite sends incompressible bodies raw),
 *       "properties"{every property of the message after the send, in order: TAGS, KEYS,
 *       WAIT, UNIQ_KEY and the user ones},"body_len","body_sha256","body_hex"(bodies of
 *       at most 512 bytes)}. A failed send prints {"sent":false,"case","error",...} and
 *       the program exits 1 after the remaining cases.
 *   kite_xcheck consume <namesrv> <topic> <group> <expected-count> <timeout-ms>
 *       Push consumer (CLUSTERING, CONSUME_FROM_FIRST_OFFSET, subscription "*"). Prints
 *       one JSON line per delivered message: {"received":true,"topic","tags","keys",
 *       "msg_id","offset_msg_id","broker_name","queue_id","queue_offset","flag",
 *       "sysflag","reconsume_times","born_timestamp","store_timestamp","properties"{...},
 *       "body_len","body_sha256","body_hex"(<= 512 bytes)}, every delivery including
 *       duplicates; then {"done":true,"deliveries":n,"distinct":d}. Exits 0 once
 *       <expected-count> distinct messages (by offset_msg_id) arrived, 2 on timeout.
 *
 * The fixed produce set (every message has property "case" = its name; all bodies are
 * deterministic; "random" ones come from a xorshift64 generator seeded per case):
 *   basic        tags "TagXC", keys "order-1 user-42", flag 7, user properties with
 *                unicode names and values ("名前", "ключ", "emoji🎉"), a value with a
 *                quote, backslash, slash and tab; body: UTF-8 text with an embedded NUL.
 *   no-tag       no tags, no keys, one user property; body "no tag given".
 *   below-4k     tags "TagXC", keys "k-below second", 4095-byte text body (not compressed).
 *   at-4k        tags "TagXC", keys "k-at second", 4096-byte text body (compressed: the
 *                threshold is inclusive).
 *   rand-1m      tags "TagBig", keys "k-rand1m second", 1 MiB of random bytes (sent raw: zlib would not shrink it).
 *   text-4m      tags "TagBig", keys "k-text4m second", 4 MiB - 1 KiB of compressible text
 *                (compressed).
 *   rand-4m-raw  tags "TagBig", keys "k-rand4m second", 4 MiB - 1 KiB of random bytes, from
 *                a second producer with compress_threshold 0 (sent uncompressed: zlib
 *                output of random data is larger than its input, and a compressed 4 MiB -
 *                1 KiB random body would exceed the broker's 4 MiB limit).
 */
#include <kite/kite.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define KIB     1024u
#define MIB     (1024u * 1024u)
#define HEX_MAX 512

/* ---- JSON output ---- */

static void json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f); /* UTF-8 passes through */
    }
    fputc('"', f);
}

static void json_kv_str(FILE *f, const char *k, const char *v)
{
    fprintf(f, ",\"%s\":", k);
    json_str(f, v);
}

static void json_body(FILE *f, const void *body, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(body, n, md, &mdlen, EVP_sha256(), NULL)) mdlen = 0;
    fprintf(f, ",\"body_len\":%zu,\"body_sha256\":\"", n);
    for (unsigned int i = 0; i < mdlen; i++) fprintf(f, "%02x", md[i]);
    fputc('"', f);
    if (n <= HEX_MAX) {
        fputs(",\"body_hex\":\"", f);
        for (size_t i = 0; i < n; i++) fprintf(f, "%02x", ((const unsigned char *)body)[i]);
        fputc('"', f);
    }
}

/* ---- bodies ---- */

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Out of memory ends the tool, as it ends libkite (kite.h). */
static void *body_alloc(size_t n)
{
    void *b = malloc(n);
    if (!b) {
        fputs("kite_xcheck: out of memory\n", stderr);
        abort();
    }
    return b;
}

static unsigned char *random_body(size_t n, uint64_t seed)
{
    unsigned char *b = body_alloc(n);
    uint64_t s = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(xorshift64(&s) >> 56);
    return b;
}

/* Compressible text: numbered lines with a little varying content. */
static unsigned char *text_body(size_t n, uint64_t seed)
{
    unsigned char *b = body_alloc(n + 128);
    size_t off = 0;
    uint64_t s = seed;
    for (unsigned line = 0; off < n; line++) {
        off += (size_t)snprintf((char *)b + off, 128,
                                "line %07u: KiteMQ cross-check text %016llx \xe2\x80\x94 ok\n",
                                line, (unsigned long long)xorshift64(&s) & 0xffffull);
    }
    return b; /* only the first n bytes are used */
}

/* ---- produce ---- */

typedef struct xcase {
    const char *name;
    const char *tags;
    const char *keys;
    int flag;
    int raw_producer; /* 1: the producer with compression off */
    const char *text; /* literal body ... */
    size_t text_len;
    size_t gen_len; /* ... or a generated one of this size */
    int gen_random; /* 1 random, 0 text */
} xcase;

/* "héllo wörld — 你好，世界 🌍 <NUL> end" */
static const char BASIC_BODY[] =
    "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c "
    "\xf0\x9f\x8c\x8d \0 end";

static const xcase CASES[] = {
    { "basic", "TagXC", "order-1 user-42", 7, 0, BASIC_BODY, sizeof BASIC_BODY - 1, 0, 0 },
    { "no-tag", NULL, NULL, 0, 0, "no tag given", 12, 0, 0 },
    { "below-4k", "TagXC", "k-below second", 0, 0, NULL, 0, 4 * KIB - 1, 0 },
    { "at-4k", "TagXC", "k-at second", 0, 0, NULL, 0, 4 * KIB, 0 },
    { "rand-1m", "TagBig", "k-rand1m second", 0, 0, NULL, 0, MIB, 1 },
    { "text-4m", "TagBig", "k-text4m second", 0, 0, NULL, 0, 4 * MIB - KIB, 0 },
    { "rand-4m-raw", "TagBig", "k-rand4m second", 0, 1, NULL, 0, 4 * MIB - KIB, 1 },
};

/* user properties of "basic" (UTF-8 written out) */
static const char *const BASIC_PROPS[][2] = {
    { "color", "blue" },
    { "\xe5\x90\x8d\xe5\x89\x8d",
      "v\xc3\xa4rde \xe2\x9c\x93 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80" }, /* 名前 = värde ✓ 中文 😀 */
    { "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87",
      "\xd0\xb7\xd0\xbd\xd0\xb0\xd1\x87\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5" }, /* ключ = значение */
    { "emoji\xf0\x9f\x8e\x89", "\xf0\x9f\x9a\x80 rocket" }, /* emoji🎉 = 🚀 rocket */
    { "escaped", "quote\" back\\slash / tab\t" },
};

static void print_props_msg(FILE *f, const kite_message *m)
{
    fputs(",\"properties\":{", f);
    const char *k, *v;
    for (size_t i = 0; kite_message_property_at(m, i, &k, &v) == KITE_OK; i++) {
        if (i) fputc(',', f);
        json_str(f, k);
        fputc(':', f);
        json_str(f, v);
    }
    fputc('}', f);
}

/* libkite sends a body compressed only when zlib (level 5, the producer default here)
 * makes it smaller; otherwise raw. Mirror that rule to say what was sent. */
static int shrinks(const void *body, size_t n)
{
    uLongf cap = compressBound((uLong)n);
    unsigned char *out = malloc(cap);
    if (!out) return 0;
    int ok = compress2(out, &cap, body, (uLong)n, 5) == Z_OK && cap < n;
    free(out);
    return ok;
}

static int send_case(kite_producer *p, const xcase *c, const char *topic, size_t compress_threshold)
{
    kite_message *m = kite_message_new(topic);
    unsigned char *gen = NULL;
    const void *body = c->text;
    size_t n = c->text_len;
    int rc = m ? KITE_OK : KITE_EINVAL; /* kite_message_new: NULL only for an empty topic */
    if (rc == KITE_OK && c->gen_len) {
        uint64_t seed =
            0x9e3779b97f4a7c15ull ^ (uint64_t)c->gen_len ^ ((uint64_t)(c - CASES) << 40);
        gen = c->gen_random ? random_body(c->gen_len, seed) : text_body(c->gen_len, seed);
        body = gen;
        n = c->gen_len;
    }
    if (rc == KITE_OK && c->tags) rc = kite_message_set_tags(m, c->tags);
    if (rc == KITE_OK && c->keys) rc = kite_message_set_keys(m, c->keys);
    if (rc == KITE_OK) kite_message_set_flag(m, c->flag);
    if (rc == KITE_OK) rc = kite_message_set_property(m, "case", c->name);
    if (rc == KITE_OK && !strcmp(c->name, "basic")) {
        for (size_t i = 0; rc == KITE_OK && i < sizeof BASIC_PROPS / sizeof BASIC_PROPS[0]; i++)
            rc = kite_message_set_property(m, BASIC_PROPS[i][0], BASIC_PROPS[i][1]);
    }
    if (rc == KITE_OK) rc = kite_message_set_body_ref(m, body, n);
    kite_send_result r;
    memset(&r, 0, sizeof r);
    if (rc == KITE_OK) rc = kite_producer_send(p, m, &r);

    FILE *f = stdout;
    fprintf(f, "{\"sent\":%s", rc == KITE_OK ? "true" : "false");
    json_kv_str(f, "case", c->name);
    if (rc != KITE_OK) {
        json_kv_str(f, "error", kite_strerror(rc));
        json_kv_str(f, "detail", r.error);
        fprintf(f, ",\"broker_code\":%d", r.broker_code);
    } else {
        json_kv_str(f, "status", kite_send_status_name(r.status));
        json_kv_str(f, "msg_id", r.msg_id);
        json_kv_str(f, "offset_msg_id", r.offset_msg_id);
        json_kv_str(f, "broker_name", r.broker_name);
        fprintf(f, ",\"queue_id\":%d,\"queue_offset\":%lld,\"attempts\":%d", r.queue_id,
                (long long)r.queue_offset, r.attempts);
    }
    if (m) {
        json_kv_str(f, "topic", kite_message_topic(m));
        json_kv_str(f, "tags", kite_message_tags(m));
        json_kv_str(f, "keys", kite_message_keys(m));
        fprintf(f, ",\"flag\":%d", (int)kite_message_flag(m));
        print_props_msg(f, m);
    }
    fprintf(f, ",\"compressed\":%s",
            compress_threshold && n >= compress_threshold && shrinks(body, n) ? "true" : "false");
    if (body) json_body(f, body, n);
    fputs("}\n", f);
    fflush(f);
    kite_message_destroy(m);
    free(gen);
    return rc;
}

static int start_producer(kite_producer **p, const char *group, const char *ns, size_t threshold)
{
    kite_producer_opts o;
    kite_producer_opts_init(&o);
    o.namesrv_addr = ns;
    o.send_timeout_ms = 10000;
    o.compress_threshold = threshold;
    int rc = kite_producer_create(p, group, &o);
    if (rc == KITE_OK) rc = kite_producer_start(*p);
    if (rc != KITE_OK) fprintf(stderr, "kite_xcheck: producer %s: %s\n", group, kite_strerror(rc));
    return rc;
}

static int do_produce(const char *ns, const char *topic, const char *group)
{
    char raw_group[300];
    snprintf(raw_group, sizeof raw_group, "%s_RAW", group);
    kite_producer *p = NULL, *raw = NULL;
    kite_producer_opts d;
    kite_producer_opts_init(&d);
    if (start_producer(&p, group, ns, d.compress_threshold) != KITE_OK ||
        start_producer(&raw, raw_group, ns, 0) != KITE_OK) {
        kite_producer_destroy(p);
        kite_producer_destroy(raw);
        return 1;
    }
    int failed = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const xcase *c = &CASES[i];
        if (send_case(c->raw_producer ? raw : p, c, topic,
                      c->raw_producer ? 0 : d.compress_threshold) != KITE_OK)
            failed++;
    }
    kite_producer_destroy(p);
    kite_producer_destroy(raw);
    return failed ? 1 : 0;
}

/* ---- consume ---- */

#define SEEN_MAX 4096

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char *seen[SEEN_MAX];
static size_t n_seen, n_deliveries;

static kite_consume_status on_msgs(const kite_message_ext *const *msgs, size_t n, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n; i++) {
        const kite_message_ext *m = msgs[i];
        FILE *f = stdout;
        fputs("{\"received\":true", f);
        json_kv_str(f, "topic", m->topic);
        json_kv_str(f, "tags", m->tags);
        json_kv_str(f, "keys", m->keys);
        json_kv_str(f, "msg_id", m->msg_id);
        json_kv_str(f, "offset_msg_id", m->offset_msg_id);
        json_kv_str(f, "broker_name", m->broker_name);
        fprintf(
            f,
            ",\"queue_id\":%d,\"queue_offset\":%lld,\"flag\":%d,\"sysflag\":%d,\"reconsume_times\":%d",
            (int)m->queue_id, (long long)m->queue_offset, (int)m->flag, (int)m->sysflag,
            (int)m->reconsume_times);
        fprintf(f, ",\"born_timestamp\":%lld,\"store_timestamp\":%lld",
                (long long)m->born_timestamp, (long long)m->store_timestamp);
        fputs(",\"properties\":{", f);
        const char *k, *v;
        for (size_t j = 0; kite_message_ext_property_at(m, j, &k, &v) == KITE_OK; j++) {
            if (j) fputc(',', f);
            json_str(f, k);
            fputc(':', f);
            json_str(f, v);
        }
        fputc('}', f);
        json_body(f, m->body, m->body_len);
        fputs("}\n", f);
        fflush(f);
        n_deliveries++;
        int dup = 0;
        for (size_t j = 0; j < n_seen && m->offset_msg_id; j++)
            dup |= !strcmp(seen[j], m->offset_msg_id);
        if (!dup && n_seen < SEEN_MAX && m->offset_msg_id &&
            (seen[n_seen] = strdup(m->offset_msg_id)) != NULL)
            n_seen++;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return KITE_CONSUME_SUCCESS;
}

static int do_consume(const char *ns, const char *topic, const char *group, long expected,
                      long timeout_ms)
{
    kite_push_consumer_opts o;
    kite_push_consumer_opts_init(&o);
    o.namesrv_addr = ns;
    o.message_model = KITE_CLUSTERING;
    o.consume_from = KITE_CONSUME_FROM_FIRST_OFFSET;
    o.consume_threads = 2;
    o.consume_batch_size = 1;
    kite_push_consumer *c = NULL;
    int rc = kite_push_consumer_create(&c, group, &o);
    if (rc == KITE_OK) rc = kite_push_consumer_subscribe(c, topic, "*");
    if (rc == KITE_OK) rc = kite_push_consumer_set_listener(c, on_msgs, NULL);
    if (rc == KITE_OK) rc = kite_push_consumer_start(c);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite_xcheck: consumer %s on %s: %s\n", group, topic, kite_strerror(rc));
        kite_push_consumer_destroy(c);
        return 1;
    }
    fprintf(stderr, "kite_xcheck: consuming %s as %s (%s)\n", topic, group,
            kite_push_consumer_client_id(c));
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while ((long)n_seen < expected) {
        if (pthread_cond_timedwait(&cv, &mu, &dl) != 0) break;
    }
    size_t got = n_seen;
    pthread_mutex_unlock(&mu);
    kite_push_consumer_destroy(c); /* commits offsets; the listener no longer runs */
    printf("{\"done\":true,\"deliveries\":%zu,\"distinct\":%zu,\"expected\":%ld}\n", n_deliveries,
           got, expected);
    fflush(stdout);
    for (size_t i = 0; i < n_seen; i++) free(seen[i]);
    if ((long)got < expected) {
        fprintf(stderr, "kite_xcheck: timeout after %ld ms: %zu of %ld messages\n", timeout_ms, got,
                expected);
        return 2;
    }
    return 0;
}

static int usage(void)
{
    fputs("usage: kite_xcheck produce <namesrv> <topic> [group]\n"
          "       kite_xcheck consume <namesrv> <topic> <group> <expected-count> <timeout-ms>\n",
          stderr);
    return 64;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "produce"))
        return do_produce(argv[2], argv[3], argc == 5 ? argv[4] : "PID_KITE_XCHECK");
    if (argc == 7 && !strcmp(argv[1], "consume")) {
        long expected = strtol(argv[5], NULL, 10), timeout_ms = strtol(argv[6], NULL, 10);
        if (expected <= 0 || timeout_ms <= 0) return usage();
        return do_consume(argv[2], argv[3], argv[4], expected, timeout_ms);
    }
    return usage();
}
