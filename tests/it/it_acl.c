/* it_acl.c - kite-broker with plain ACL on (aclEnable=true; README "Security",
 * docs/wire.md §14): a real broker, an ACL file written by the test, and requests signed
 * here with OpenSSL's HMAC over our own sort of the fields (never with the broker's
 * signing code), sent from chosen 127/8 source addresses so that the white lists can be
 * exercised. Scenarios: every permission combination (allowed; denied: topic DENY,
 * PUB-only consuming, SUB-only sending, an unlisted topic, a DENY group), wrong
 * signature, tampered body, unknown key, no key, SecurityToken (signed: accepted; changed
 * after signing or left unsigned: refused), an account's white address, the global
 * white list, fields the broker does not know and JSON numbers (signed as printed), the
 * _UNIQUE_KEY_QUERY quirk, admin-only codes refused to a sub-account and allowed to the
 * admin, an unknown code refused; reload when the file changes, a broken file keeping the
 * last good accounts (and logging file:line); rocketmqHome's conf/plain_acl.yml plus
 * every *.yml under conf/acl/; a start refused on a broken file; ACL off lets everything in. Each
 * allowed case has a refused control and the other way round. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "bk_common.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#define ACL_EXC "org.apache.rocketmq.acl.common.AclException: "

/* Source addresses of the test's connections (loopback, no setup needed). */
#define SRC_PLAIN   "127.0.61.10" /* in no white list */
#define SRC_GLOBAL  "127.0.62.10" /* globalWhiteRemoteAddresses: 127.0.62.* */
#define SRC_ACCOUNT "127.0.63.2"  /* subAccount1's whiteRemoteAddress: 127.0.63.{1,2} */
#define SRC_ACC_NOT "127.0.63.3"

static const char *k_acl_v1 = "globalWhiteRemoteAddresses:\n"
                              "  - 127.0.62.*\n"
                              "accounts:\n"
                              "  - accessKey: subAccount1\n"
                              "    secretKey: subSecret1\n"
                              "    whiteRemoteAddress: 127.0.63.{1,2}\n"
                              "    admin: false\n"
                              "    defaultTopicPerm: DENY\n"
                              "    defaultGroupPerm: SUB\n"
                              "    topicPerms:\n"
                              "      - topicPub=PUB\n"
                              "      - topicSub=SUB\n"
                              "      - topicBoth=PUB|SUB\n"
                              "      - topicDeny=DENY\n"
                              "    groupPerms:\n"
                              "      - groupDeny=DENY\n"
                              "  - accessKey: adminAccount\n"
                              "    secretKey: adminSecret1\n"
                              "    admin: true\n";

/* ---- requests signed by the test ---- */

typedef struct fld {
    const char *k, *v;
    int raw; /* 1: sent as a bare JSON token (number, boolean), signed as printed;
              * 2: JSON string text with \u00XX escapes, signed as the bytes it decodes to */
} fld;

/* The value of a raw == 2 field: \u00XX escapes decoded (the only escapes the test writes). */
static void unescape(const char *v, char *out, size_t cap)
{
    size_t o = 0;
    while (*v && o + 1 < cap) {
        if (v[0] == '\\' && v[1] == 'u') {
            out[o++] = (char)strtol((char[]){ v[4], v[5], 0 }, NULL, 16);
            v += 6;
        } else {
            out[o++] = *v++;
        }
    }
    out[o] = 0;
}

static int fld_cmp(const void *a, const void *b)
{
    return strcmp(((const fld *)a)->k, ((const fld *)b)->k);
}

/* extFields text for f (n fields) plus, when ak is set, AccessKey and a Signature made
 * with secret sk (sk NULL: no Signature field). */
static void make_ext(char *out, size_t cap, const fld *f, size_t n, const char *ak, const char *sk,
                     const char *body)
{
    fld all[40];
    assert_true(n + 1 <= 40);
    if (n) memcpy(all, f, n * sizeof *f);
    if (ak) all[n++] = (fld){ "AccessKey", ak, 0 };
    qsort(all, n, sizeof *all, fld_cmp); /* ASCII keys: byte order is Java's order */
    size_t o = 0;
    out[0] = 0;
    char content[8192];
    size_t cl = 0;
    for (size_t i = 0; i < n; i++) {
        int bare = all[i].raw == 1;
        o += (size_t)snprintf(out + o, cap - o, "%s\"%s\":%s%s%s", i ? "," : "", all[i].k,
                              bare ? "" : "\"", all[i].v, bare ? "" : "\"");
        char dec[1024];
        if (all[i].raw == 2) unescape(all[i].v, dec, sizeof dec);
        cl += (size_t)snprintf(content + cl, sizeof content - cl, "%s",
                               all[i].raw == 2 ? dec : all[i].v);
    }
    if (body) cl += (size_t)snprintf(content + cl, sizeof content - cl, "%s", body);
    if (ak && sk) {
        unsigned char mac[20];
        unsigned int ml = sizeof mac;
        assert_non_null(
            HMAC(EVP_sha1(), sk, (int)strlen(sk), (const unsigned char *)content, cl, mac, &ml));
        char b64[32];
        EVP_EncodeBlock((unsigned char *)b64, mac, 20);
        o += (size_t)snprintf(out + o, cap - o, ",\"Signature\":\"%s\"", b64);
    }
    assert_true(o < cap);
}

static void call(int fd, int code, const fld *f, size_t n, const char *ak, const char *sk,
                 const char *body, kite_cmd *r)
{
    char ext[8192];
    make_ext(ext, sizeof ext, f, n, ak, sk, body);
    assert_int_equal(kb_call(fd, code, ext, body, body ? strlen(body) : 0, r), 0);
}

static int refused(const kite_cmd *r)
{
    return r->code == 1 && r->remark && strstr(r->remark, ACL_EXC);
}

/* Asserts the call is refused by ACL with RocketMQ's message msg. */
static void expect_refused(int fd, int code, const fld *f, size_t n, const char *ak, const char *sk,
                           const char *body, const char *msg)
{
    kite_cmd r;
    call(fd, code, f, n, ak, sk, body, &r);
    fprintf(stderr, "code %d as %s: %d %s\n", code, ak ? ak : "(none)", r.code,
            r.remark ? r.remark : "");
    assert_true(refused(&r));
    char want[300];
    snprintf(want, sizeof want, ACL_EXC "%s, ", msg);
    assert_non_null(strstr(r.remark, want));
    kite_cmd_free(&r);
}

/* Asserts the call passes ACL; answers its code (want >= 0: asserted). */
static int expect_allowed(int fd, int code, const fld *f, size_t n, const char *ak, const char *sk,
                          const char *body, int want)
{
    kite_cmd r;
    call(fd, code, f, n, ak, sk, body, &r);
    if (refused(&r) || (want >= 0 && r.code != want))
        fprintf(stderr, "code %d as %s: %d %s\n", code, ak ? ak : "(none)", r.code,
                r.remark ? r.remark : "");
    assert_false(refused(&r));
    if (want >= 0) assert_int_equal(r.code, want);
    int c = r.code;
    kite_cmd_free(&r);
    return c;
}

/* SEND_MESSAGE_V2 fields for topic (group PG). */
static size_t send_fields(fld *f, const char *topic, char *ts, size_t tslen)
{
    snprintf(ts, tslen, "%lld", (long long)kb_wall_ms());
    fld s[] = { { "a", "PG", 0 }, { "b", topic, 0 },   { "c", "TBW102", 0 }, { "d", "4", 0 },
                { "e", "0", 0 },  { "f", "0", 0 },     { "g", ts, 0 },       { "h", "0", 0 },
                { "j", "0", 0 },  { "k", "false", 0 }, { "m", "false", 0 } };
    memcpy(f, s, sizeof s);
    return sizeof s / sizeof s[0];
}

static size_t pull_fields(fld *f, const char *group, const char *topic)
{
    fld s[] = { { "consumerGroup", group, 0 }, { "topic", topic, 0 },
                { "queueId", "0", 0 },         { "queueOffset", "0", 0 },
                { "maxMsgNums", "32", 0 },     { "sysFlag", "4", 0 },
                { "commitOffset", "0", 0 },    { "suspendTimeoutMillis", "0", 0 },
                { "subscription", "*", 0 },    { "expressionType", "TAG", 0 },
                { "subVersion", "0", 0 } };
    memcpy(f, s, sizeof s);
    return sizeof s / sizeof s[0];
}

static size_t topic_fields(fld *f, const char *topic)
{
    fld s[] = { { "topic", topic, 0 },
                { "readQueueNums", "4", 0 },
                { "writeQueueNums", "4", 0 },
                { "perm", "6", 0 },
                { "topicFilterType", "SINGLE_TAG", 0 } };
    memcpy(f, s, sizeof s);
    return sizeof s / sizeof s[0];
}

/* A connection from source address src. */
static int conn_from(const kt_daemon *d, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton(AF_INET, src, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)d->port) };
    inet_pton(AF_INET, d->host, &to.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    assert_true(bk_nfds < BK_MAX_FDS);
    bk_fds[bk_nfds++] = fd;
    return fd;
}

/* Waits until GET_MAX_OFFSET (signed) of topic queue 0 reaches want. */
static void wait_max_signed(int fd, const char *topic, const char *ak, const char *sk, int64_t want)
{
    fld f[] = { { "topic", topic, 0 }, { "queueId", "0", 0 } };
    long long t0 = kt_now_ms();
    int64_t got = -1;
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        kite_cmd r;
        call(fd, 30, f, 2, ak, sk, NULL, &r);
        assert_false(refused(&r));
        got = kb_ext_i64(&r, "offset");
        kite_cmd_free(&r);
        if (got >= want) break;
        usleep(5000);
    }
    assert_int_equal(got, want);
}

static void acl_dir(char *dir, size_t len, const char *text)
{
    kt_mkdtemp("acl", dir, len);
    char path[700];
    snprintf(path, sizeof path, "%s/acl.yml", dir);
    kt_write_file(path, text);
}

static kt_daemon *start_acl_broker(const char *dir)
{
    char extra[900];
    snprintf(extra, sizeof extra, "aclEnable=true\naclFile=%s/acl.yml\n", dir);
    return bk_start_broker(NULL, extra);
}

/* Creates the test topics as the admin (allowed), so that sends and pulls reach them. */
static void create_topics(int fd)
{
    static const char *topics[] = { "topicPub", "topicSub", "topicBoth", "topicDeny",
                                    "topicOther" };
    for (size_t i = 0; i < 5; i++) {
        fld f[8];
        size_t n = topic_fields(f, topics[i]);
        expect_allowed(fd, 17, f, n, "adminAccount", "adminSecret1", NULL, 0);
    }
}

static void test_acl_matrix(void **st)
{
    (void)st;
    char dir[512];
    acl_dir(dir, sizeof dir, k_acl_v1);
    kt_daemon *b = start_acl_broker(dir);
    int fd = conn_from(b, SRC_PLAIN);
    fld f[40];
    size_t n;
    char ts[32];

    /* admin-only: refused to the sub-account, allowed to the admin */
    n = topic_fields(f, "topicBoth");
    expect_refused(fd, 17, f, n, "subAccount1", "subSecret1", NULL,
                   "Need admin permission for request code=17, but accessKey=subAccount1 is not");
    create_topics(fd);
    fld dg[] = { { "groupName", "someGroup", 0 } };
    expect_refused(fd, 207, dg, 1, "subAccount1", "subSecret1", NULL,
                   "Need admin permission for request code=207, but accessKey=subAccount1 is not");
    expect_allowed(fd, 207, dg, 1, "adminAccount", "adminSecret1", NULL, 0);

    /* sending: PUB and PUB|SUB allowed; SUB-only, DENY, unlisted (default DENY) refused */
    n = send_fields(f, "topicPub", ts, sizeof ts);
    expect_allowed(fd, 310, f, n, "subAccount1", "subSecret1", "m1", 0);
    n = send_fields(f, "topicBoth", ts, sizeof ts);
    expect_allowed(fd, 310, f, n, "subAccount1", "subSecret1", "m2", 0);
    n = send_fields(f, "topicSub", ts, sizeof ts);
    expect_refused(fd, 310, f, n, "subAccount1", "subSecret1", "m3",
                   "No default permission for topic:topicSub");
    n = send_fields(f, "topicDeny", ts, sizeof ts);
    expect_refused(fd, 310, f, n, "subAccount1", "subSecret1", "m4",
                   "No default permission for topic:topicDeny");
    n = send_fields(f, "topicOther", ts, sizeof ts);
    expect_refused(fd, 310, f, n, "subAccount1", "subSecret1", "m5",
                   "No default permission for topic:topicOther");
    /* the admin (no perm lists) sends anywhere */
    n = send_fields(f, "topicDeny", ts, sizeof ts);
    expect_allowed(fd, 310, f, n, "adminAccount", "adminSecret1", "m6", 0);
    /* the trace topic takes any signed account's sends */
    n = send_fields(f, "RMQ_SYS_TRACE_TOPIC", ts, sizeof ts);
    expect_allowed(fd, 310, f, n, "subAccount1", "subSecret1", "trace", -1);

    /* consuming: SUB and PUB|SUB allowed (the message sent above comes back);
     * PUB-only, DENY, a DENY group refused */
    wait_max_signed(fd, "topicBoth", "subAccount1", "subSecret1", 1);
    fld mo[] = { { "topic", "topicPub", 0 }, { "queueId", "0", 0 } }; /* GET_MAX_OFFSET: SUB */
    expect_refused(fd, 30, mo, 2, "subAccount1", "subSecret1", NULL,
                   "No default permission for topic:topicPub");
    n = pull_fields(f, "groupA", "topicBoth");
    kite_cmd r;
    call(fd, 11, f, n, "subAccount1", "subSecret1", NULL, &r);
    assert_int_equal(r.code, 0);
    kite_record rec[4];
    assert_int_equal(kb_records(r.body, r.body_len, rec, 4), 1);
    kite_cmd_free(&r);
    n = pull_fields(f, "groupA", "topicSub");
    expect_allowed(fd, 11, f, n, "subAccount1", "subSecret1", NULL, -1);
    n = pull_fields(f, "groupA", "topicPub");
    expect_refused(fd, 11, f, n, "subAccount1", "subSecret1", NULL,
                   "No default permission for topic:topicPub");
    n = pull_fields(f, "groupA", "topicDeny");
    expect_refused(fd, 11, f, n, "subAccount1", "subSecret1", NULL,
                   "No default permission for topic:topicDeny");
    n = pull_fields(f, "groupDeny", "topicBoth");
    expect_refused(fd, 11, f, n, "subAccount1", "subSecret1", NULL,
                   "No default permission for group:groupDeny");
    /* a heartbeat subscribing to a PUB-only topic is refused, to a SUB topic allowed */
    char hb[2048];
    kb_heartbeat_java(hb, sizeof hb, "cid-1", "groupA", "topicPub", "*");
    expect_refused(fd, 34, NULL, 0, "subAccount1", "subSecret1", hb,
                   "No default permission for topic:topicPub");
    kb_heartbeat_java(hb, sizeof hb, "cid-1", "groupA", "topicSub", "*");
    expect_allowed(fd, 34, NULL, 0, "subAccount1", "subSecret1", hb, 0);
    /* committing an offset: group SUB and topic SUB */
    fld uo[] = { { "consumerGroup", "groupA", 0 },
                 { "topic", "topicSub", 0 },
                 { "queueId", "0", 0 },
                 { "commitOffset", "0", 0 } };
    expect_allowed(fd, 15, uo, 4, "subAccount1", "subSecret1", NULL, 0);
    uo[1].v = "topicPub";
    expect_refused(fd, 15, uo, 4, "subAccount1", "subSecret1", NULL,
                   "No default permission for topic:topicPub");

    /* signatures: wrong secret, tampered body, no signature, unknown key, no key */
    n = send_fields(f, "topicPub", ts, sizeof ts);
    expect_refused(fd, 310, f, n, "subAccount1", "wrongSecret", "m7",
                   "Check signature failed for accessKey=subAccount1");
    {
        char ext[4096];
        make_ext(ext, sizeof ext, f, n, "subAccount1", "subSecret1", "signed-body");
        kite_cmd t;
        assert_int_equal(kb_call(fd, 310, ext, "other-body", 10, &t), 0);
        assert_true(refused(&t));
        assert_non_null(strstr(t.remark, "Check signature failed for accessKey=subAccount1"));
        kite_cmd_free(&t);
    }
    expect_refused(fd, 310, f, n, "subAccount1", NULL, "m8",
                   "Check signature failed for accessKey=subAccount1");
    expect_refused(fd, 310, f, n, "nobodyAtAll", "x", "m9", "No acl config for nobodyAtAll");
    expect_refused(fd, 310, f, n, NULL, NULL, "m10", "No accessKey is configured");
    /* a key with a newline is one log line (control characters shown as '?'); the log
     * keeps one refusal line a second, so this one comes first in its second */
    usleep(1100 * 1000);
    expect_refused(fd, 310, f, n, "bad\\nkey", "x", "m10b", "No acl config for bad?key");
    assert_int_equal(kb_count_lines(b->log, "accessKey 'bad?key' is not in the ACL files"), 1);

    /* a field the broker does not know is signed like the others; a JSON number is signed
     * as it was printed (control: signed as another spelling of the same number) */
    n = send_fields(f, "topicPub", ts, sizeof ts);
    f[n++] = (fld){ "zzClientExtra", "anything", 0 };
    expect_allowed(fd, 310, f, n, "subAccount1", "subSecret1", "m11", 0);
    n = send_fields(f, "topicPub", ts, sizeof ts);
    f[4] = (fld){ "e", "1", 1 }; /* "e":1 */
    expect_allowed(fd, 310, f, n, "subAccount1", "subSecret1", "m12", 0);
    {
        char ext[4096];
        make_ext(ext, sizeof ext, f, n, "subAccount1", "subSecret1", "m13");
        char *p = strstr(ext, "\"e\":1");
        assert_non_null(p);
        char alt[4200];
        snprintf(alt, sizeof alt, "%.*s\"e\":1.0%s", (int)(p - ext), ext, p + 5);
        kite_cmd t;
        assert_int_equal(kb_call(fd, 310, alt, "m13", 3, &t), 0);
        assert_true(refused(&t));
        kite_cmd_free(&t);
    }
    /* SecurityToken (a Java client's session credentials may carry one): RocketMQ's broker
     * checks it against nothing, and it is signed like every other field - accepted when
     * signed, refused when changed after signing, refused when sent but left out of the
     * signed content */
    n = send_fields(f, "topicPub", ts, sizeof ts);
    f[n++] = (fld){ "SecurityToken", "sts-token-0001", 0 };
    expect_allowed(fd, 310, f, n, "subAccount1", "subSecret1", "tok1", 0);
    {
        char ext[4096], alt[4200];
        make_ext(ext, sizeof ext, f, n, "subAccount1", "subSecret1", "tok2");
        char *p = strstr(ext, "sts-token-0001");
        assert_non_null(p);
        snprintf(alt, sizeof alt, "%.*ssts-token-0002%s", (int)(p - ext), ext, p + 14);
        kite_cmd t;
        assert_int_equal(kb_call(fd, 310, alt, "tok2", 4, &t), 0);
        fprintf(stderr, "tampered SecurityToken: %d %s\n", t.code, t.remark ? t.remark : "");
        assert_true(refused(&t));
        assert_non_null(strstr(t.remark, "Check signature failed for accessKey=subAccount1"));
        kite_cmd_free(&t);
        make_ext(ext, sizeof ext, f, n - 1, "subAccount1", "subSecret1", "tok3");
        snprintf(alt, sizeof alt, "%s,\"SecurityToken\":\"sts-token-0001\"", ext);
        assert_int_equal(kb_call(fd, 310, alt, "tok3", 4, &t), 0);
        assert_true(refused(&t));
        kite_cmd_free(&t);
        /* control: the same text without the token added afterwards passes */
        assert_int_equal(kb_call(fd, 310, ext, "tok3", 4, &t), 0);
        assert_false(refused(&t));
        assert_int_equal(t.code, 0);
        kite_cmd_free(&t);
    }
    /* QUERY_MESSAGE with _UNIQUE_KEY_QUERY: signed with it (Java client) or without it
     * (what RocketMQ's broker computes) - both pass */
    fld q[] = { { "topic", "topicSub", 0 },
                { "key", "k", 0 },
                { "maxNum", "16", 0 },
                { "beginTimestamp", "0", 0 },
                { "endTimestamp", "9999999999999", 0 },
                { "_UNIQUE_KEY_QUERY", "true", 0 } };
    expect_allowed(fd, 12, q, 6, "subAccount1", "subSecret1", NULL, -1);
    {
        char ext[2048], ext2[2100];
        make_ext(ext, sizeof ext, q, 5, "subAccount1", "subSecret1", NULL);
        snprintf(ext2, sizeof ext2, "%s,\"_UNIQUE_KEY_QUERY\":\"true\"", ext);
        kite_cmd t;
        assert_int_equal(kb_call(fd, 12, ext2, NULL, 0, &t), 0);
        assert_false(refused(&t));
        kite_cmd_free(&t);
    }

    /* LOCK_BATCH_MQ names its group and topics in the body: one that does not parse is
     * refused (after the signature); a body naming a denied topic too */
    expect_refused(fd, 41, NULL, 0, "subAccount1", "subSecret1", "{not json",
                   "The request body is not valid");
    expect_refused(fd, 41, NULL, 0, "subAccount1", "subSecret1",
                   "{\"consumerGroup\":\"groupA\",\"clientId\":\"c1\",\"mqSet\":[{\"topic\":"
                   "\"topicSub\",\"brokerName\":\"broker-t\",\"queueId\":0},{\"topic\":"
                   "\"topicDeny\",\"brokerName\":\"broker-t\",\"queueId\":0}]}",
                   "No default permission for topic:topicDeny");
    expect_allowed(fd, 41, NULL, 0, "subAccount1", "subSecret1",
                   "{\"consumerGroup\":\"groupA\",\"clientId\":\"c1\",\"mqSet\":[{\"topic\":"
                   "\"topicSub\",\"brokerName\":\"broker-t\",\"queueId\":0}]}",
                   0);
    /* a code without an ACL rule is refused, even to the admin */
    expect_refused(fd, 9999, NULL, 0, "adminAccount", "adminSecret1", NULL,
                   "No acl rule for request code=9999");

    /* the account's white address: no signature needed, perms skipped; control: the
     * neighbour address */
    int fa = conn_from(b, SRC_ACCOUNT);
    n = send_fields(f, "topicDeny", ts, sizeof ts);
    expect_allowed(fa, 310, f, n, "subAccount1", NULL, "w1", 0);
    int fn = conn_from(b, SRC_ACC_NOT);
    expect_refused(fn, 310, f, n, "subAccount1", NULL, "w2",
                   "Check signature failed for accessKey=subAccount1");
    /* a white-listed account address still needs the key: without one it is refused */
    expect_refused(fa, 310, f, n, NULL, NULL, "w3", "No accessKey is configured");

    /* the global white list: no key at all, admin codes too */
    int fg = conn_from(b, SRC_GLOBAL);
    expect_allowed(fg, 310, f, n, NULL, NULL, "g1", 0);
    expect_allowed(fg, 41, NULL, 0, NULL, NULL, "{not json",
                   -1); /* white: the body is the handler's */
    n = topic_fields(f, "topicFromWhite");
    expect_allowed(fg, 17, f, n, NULL, NULL, NULL, 0);
    bk_stop_clean(b);
}

/* Waits until a send of topic by subAccount1 gets the wanted verdict (1 = allowed). */
static int wait_send_verdict(int fd, const char *topic, const char *ak, const char *sk, int allowed)
{
    long long t0 = kt_now_ms();
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        fld f[16];
        char ts[32];
        size_t n = send_fields(f, topic, ts, sizeof ts);
        kite_cmd r;
        call(fd, 310, f, n, ak, sk, "x", &r);
        int ok = !refused(&r) && r.code == 0;
        kite_cmd_free(&r);
        if (ok == allowed) return 1;
        usleep(50000);
    }
    return 0;
}

static void test_acl_reload(void **st)
{
    (void)st;
    char dir[512], path[700];
    acl_dir(dir, sizeof dir, k_acl_v1);
    snprintf(path, sizeof path, "%s/acl.yml", dir);
    kt_daemon *b = start_acl_broker(dir);
    int fd = conn_from(b, SRC_PLAIN);
    create_topics(fd);
    /* before: topicDeny refused, the new account unknown */
    assert_true(wait_send_verdict(fd, "topicDeny", "subAccount1", "subSecret1", 0));
    assert_true(wait_send_verdict(fd, "topicPub", "newAccount1", "newSecret1", 0));

    /* the file changes: topicDeny becomes PUB, a second account appears */
    char v2[2048];
    snprintf(
        v2, sizeof v2,
        "%s  - accessKey: newAccount1\n    secretKey: newSecret1\n    topicPerms: [topicPub=PUB]\n",
        k_acl_v1);
    char *p = strstr(v2, "topicDeny=DENY");
    memcpy(p, "topicDeny=PUB ", 14);
    kt_write_file(path, v2);
    assert_true(wait_send_verdict(fd, "topicDeny", "subAccount1", "subSecret1", 1));
    assert_true(wait_send_verdict(fd, "topicPub", "newAccount1", "newSecret1", 1));

    /* a broken file: logged with file and line; the last good accounts stay */
    char broken[2300];
    snprintf(
        broken, sizeof broken,
        "%s  - accessKey: thirdAccount\n    secretKey: thirdSecret\n    whiteRemoteAddress: 10.1.1\n",
        v2);
    kt_write_file(path, broken);
    char want[800];
    snprintf(want, sizeof want, "%s:", path);
    long long t0 = kt_now_ms();
    while (kb_count_lines(b->log, "were not taken") < 1 && kt_now_ms() - t0 < KT_DEADLINE_MS)
        usleep(50000);
    assert_int_equal(kb_count_lines(b->log, "were not taken"), 1);
    assert_true(kb_count_lines(b->log, want) >= 1);
    assert_true(kb_count_lines(b->log, "whiteRemoteAddress '10.1.1'") >= 1);
    assert_true(wait_send_verdict(fd, "topicDeny", "subAccount1", "subSecret1", 1));
    assert_true(wait_send_verdict(fd, "topicPub", "newAccount1", "newSecret1", 1));
    assert_true(wait_send_verdict(fd, "topicPub", "thirdAccount", "thirdSecret", 0));
    usleep(1500 * 1000); /* three reload checks (500 ms each) */
    assert_int_equal(kb_count_lines(b->log, "were not taken"), 1); /* once per change */

    /* fixed: taken again (the third account works, topicDeny is DENY again) */
    kt_write_file(path, k_acl_v1);
    assert_true(wait_send_verdict(fd, "topicDeny", "subAccount1", "subSecret1", 0));
    assert_true(wait_send_verdict(fd, "topicPub", "newAccount1", "newSecret1", 0));
    bk_stop_clean(b);
}

/* rocketmqHome: conf/plain_acl.yml plus every *.yml under conf/acl/ (here a nested one);
 * ROCKETMQ_HOME when rocketmqHome is not set. */
static void test_acl_home(void **st)
{
    (void)st;
    char home[512], path[800];
    kt_mkdtemp("aclhome", home, sizeof home);
    snprintf(path, sizeof path, "%s/conf", home);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/conf/acl", home);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/conf/acl/team", home);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/conf/plain_acl.yml", home);
    kt_write_file(path, "accounts:\n  - accessKey: mainAccount1\n    secretKey: mainSecret1\n"
                        "    admin: true\n");
    snprintf(path, sizeof path, "%s/conf/acl/team/team-b.yml", home);
    kt_write_file(path, "accounts:\n  - accessKey: teamAccount1\n    secretKey: teamSecret1\n"
                        "    defaultTopicPerm: PUB\n");
    snprintf(path, sizeof path, "%s/conf/acl/notes.txt", home);
    kt_write_file(path, "not yaml: [\n"); /* not *.yml: not read */
    for (int env = 0; env < 2; env++) {
        char extra[700];
        if (env) {
            setenv("ROCKETMQ_HOME", home, 1);
            snprintf(extra, sizeof extra, "aclEnable=true\n");
        } else {
            snprintf(extra, sizeof extra, "aclEnable=true\nrocketmqHome=%s\n", home);
        }
        kt_daemon *b = bk_start_broker(NULL, extra);
        if (env) unsetenv("ROCKETMQ_HOME");
        int fd = conn_from(b, SRC_PLAIN);
        fld f[16];
        size_t n = topic_fields(f, "homeTopic");
        expect_allowed(fd, 17, f, n, "mainAccount1", "mainSecret1", NULL, 0);
        char ts[32];
        n = send_fields(f, "homeTopic", ts, sizeof ts);
        expect_allowed(fd, 310, f, n, "teamAccount1", "teamSecret1", "h", 0);
        expect_refused(fd, 310, f, n, "teamAccount1", "mainSecret1", "h",
                       "Check signature failed for accessKey=teamAccount1");
        bk_stop_clean(b);
        bk_ndaemons = 0;
    }
}

/* A broken file at start: the broker does not start, says where, creates no store; -p
 * shows the ACL keys in force. */
static void test_acl_start_refused(void **st)
{
    (void)st;
    char dir[512];
    acl_dir(dir, sizeof dir,
            "accounts:\n  - accessKey: a1234567\n    secretKey: s1234567\n"
            "    whiteRemoteAddress: 300.1.1.1\n");
    kt_daemon d;
    memset(&d, 0, sizeof d);
    kt_mkdtemp("broker", d.dir, sizeof d.dir);
    kt_random_host(d.host, sizeof d.host);
    snprintf(d.conf, sizeof d.conf, "%s/broker.conf", d.dir);
    snprintf(d.log, sizeof d.log, "%s/broker.log", d.dir);
    char text[2048];
    snprintf(text, sizeof text,
             "brokerIP1=%s\nbindAddress=%s\nlistenPort=%d\nstorePathRootDir=%s/store\n"
             "aclEnable=true\naclFile=%s/acl.yml\n",
             d.host, d.host, kt_free_port(d.host), d.dir, dir);
    kt_write_file(d.conf, text);
    pid_t pid = kt_spawn("kite-broker", d.conf, d.log);
    int status = -1;
    long long t0 = kt_now_ms();
    while (kt_now_ms() - t0 < KT_DEADLINE_MS) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        usleep(20000);
    }
    if (!WIFEXITED(status)) kt_stop(pid, 5000);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    char want[700];
    snprintf(want, sizeof want, "aclEnable=true: %s/acl.yml:4: whiteRemoteAddress '300.1.1.1'",
             dir);
    if (kb_count_lines(d.log, want) != 1) bk_dump_log(&d);
    assert_int_equal(kb_count_lines(d.log, want), 1);
    char store[700];
    snprintf(store, sizeof store, "%s/store", d.dir);
    assert_int_not_equal(access(store, F_OK), 0);
}

/* ACL off (the default): unsigned requests, garbage keys and admin codes from anywhere on
 * loopback all pass - the same requests the matrix saw refused. */
static void test_acl_off(void **st)
{
    (void)st;
    kt_daemon *b = bk_start_broker(NULL, NULL);
    int fd = conn_from(b, SRC_PLAIN);
    fld f[16];
    char ts[32];
    size_t n = topic_fields(f, "topicDeny");
    expect_allowed(fd, 17, f, n, "subAccount1", "subSecret1", NULL, -1);
    n = send_fields(f, "topicDeny", ts, sizeof ts);
    expect_allowed(fd, 310, f, n, NULL, NULL, "o1", 0);
    expect_allowed(fd, 310, f, n, "nobodyAtAll", "x", "o2", 0);
    expect_allowed(fd, 310, f, n, "subAccount1", "wrongSecret", "o3", 0);
    bk_wait_max(fd, "topicDeny", 0, 3);
    n = pull_fields(f, "groupDeny", "topicDeny");
    expect_allowed(fd, 11, f, n, NULL, NULL, NULL, 0);
    bk_stop_clean(b);
}

/* A half message sent (signed) to topic by ak: its queue offset in the half topic and its
 * commit-log offset. */
static void send_half(int fd, const char *ak, const char *sk, const char *topic, const char *uniq,
                      int64_t *qoff, int64_t *phys)
{
    char ts[32], pj[256];
    fld f[16];
    size_t n = send_fields(f, topic, ts, sizeof ts);
    f[5].v = "4"; /* sysFlag: transaction prepared */
    snprintf(pj, sizeof pj, "TRAN_MSG\\u0001true\\u0002PGROUP\\u0001PG\\u0002UNIQ_KEY\\u0001%s",
             uniq);
    f[n++] = (fld){ "i", pj, 2 };
    kite_cmd r;
    call(fd, 310, f, n, ak, sk, "half", &r);
    if (r.code != 0) fprintf(stderr, "half: %d %s\n", r.code, r.remark ? r.remark : "");
    assert_int_equal(r.code, 0);
    *phys = (int64_t)strtoull(kite_cmd_ext(&r, "msgId") + 16, NULL, 16);
    *qoff = kb_ext_i64(&r, "queueOffset");
    kite_cmd_free(&r);
}

static size_t end_fields(fld *f, char *q, char *p, int64_t qoff, int64_t phys, const char *uniq)
{
    snprintf(q, 24, "%lld", (long long)qoff);
    snprintf(p, 24, "%lld", (long long)phys);
    fld s[] = { { "producerGroup", "PG", 0 },
                { "tranStateTableOffset", q, 0 },
                { "commitLogOffset", p, 0 },
                { "commitOrRollback", "8", 0 },
                { "fromTransactionCheck", "false", 0 },
                { "msgId", uniq, 0 },
                { "transactionId", uniq, 0 } };
    memcpy(f, s, sizeof s);
    return sizeof s / sizeof s[0];
}

/* END_TRANSACTION carries no topic: the broker checks PUB on the half message's topic once it
 * has read it. A sub-account commits its own half on a PUB topic; it may not commit a half
 * that the admin sent to a topic it is denied, which the admin then commits. */
static void test_acl_end_transaction(void **st)
{
    (void)st;
    char dir[512];
    acl_dir(dir, sizeof dir, k_acl_v1);
    kt_daemon *b = start_acl_broker(dir);
    int fd = conn_from(b, SRC_PLAIN);
    create_topics(fd);
    int64_t qoff, phys;
    char q[24], p[24];
    fld f[8];
    send_half(fd, "subAccount1", "subSecret1", "topicPub", "UNIQ-ACL-1", &qoff, &phys);
    size_t n = end_fields(f, q, p, qoff, phys, "UNIQ-ACL-1");
    expect_allowed(fd, 37, f, n, "subAccount1", "subSecret1", NULL, 0);
    send_half(fd, "adminAccount", "adminSecret1", "topicDeny", "UNIQ-ACL-2", &qoff, &phys);
    n = end_fields(f, q, p, qoff, phys, "UNIQ-ACL-2");
    expect_refused(fd, 37, f, n, "subAccount1", "subSecret1", NULL,
                   "No default permission for topic:topicDeny");
    expect_allowed(fd, 37, f, n, "adminAccount", "adminSecret1", NULL, 0);
    bk_stop_clean(b);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *t = calloc(1, 65536);
    size_t n = fread(t, 1, 65535, f);
    t[n] = 0;
    fclose(f);
    return t;
}

/* Account management by the main (admin) account: codes 50-53 change the file atomically
 * and take effect at once; a sub-account is refused; bad input changes nothing; a path of
 * the caller's choice is never written; a restart keeps the changes. */
static void test_acl_accounts(void **st)
{
    (void)st;
    char dir[512], path[700], evil[700];
    acl_dir(dir, sizeof dir, k_acl_v1);
    snprintf(path, sizeof path, "%s/acl.yml", dir);
    snprintf(evil, sizeof evil, "%s/evil.yml", dir);
    kt_daemon *b = start_acl_broker(dir);
    int fd = conn_from(b, SRC_PLAIN);
    create_topics(fd);
    fld acc[] = { { "accessKey", "teamSubAcct", 0 },
                  { "secretKey", "teamSubSecret", 0 },
                  { "admin", "false", 0 },
                  { "defaultTopicPerm", "DENY", 0 },
                  { "topicPerms", "topicPub=PUB,topicSub=SUB", 0 } };
    expect_refused(fd, 50, acc, 5, "subAccount1", "subSecret1", NULL,
                   "Need admin permission for request code=50, but accessKey=subAccount1 is not");
    assert_true(wait_send_verdict(fd, "topicPub", "teamSubAcct", "teamSubSecret", 0));
    expect_allowed(fd, 50, acc, 5, "adminAccount", "adminSecret1", NULL, 0);
    char *t = slurp(path);
    assert_non_null(strstr(t, "\"teamSubAcct\""));
    assert_non_null(strstr(t, "\"subAccount1\"")); /* the other accounts are kept */
    free(t);
    /* in force at once: the first send after the answer */
    char ts[32];
    fld f[16];
    size_t n = send_fields(f, "topicPub", ts, sizeof ts);
    expect_allowed(fd, 310, f, n, "teamSubAcct", "teamSubSecret", "a1", 0);
    n = send_fields(f, "topicSub", ts, sizeof ts);
    expect_refused(fd, 310, f, n, "teamSubAcct", "teamSubSecret", "a2",
                   "No default permission for topic:topicSub");
    /* an update replaces the lists */
    acc[4].v = "topicPub=DENY";
    expect_allowed(fd, 50, acc, 5, "adminAccount", "adminSecret1", NULL, 0);
    n = send_fields(f, "topicPub", ts, sizeof ts);
    expect_refused(fd, 310, f, n, "teamSubAcct", "teamSubSecret", "a3",
                   "No default permission for topic:topicPub");
    /* bad input: 209 and the file unchanged */
    char *before = slurp(path);
    fld shortk[] = { { "accessKey", "abc", 0 }, { "secretKey", "teamSubSecret", 0 } };
    kite_cmd r;
    call(fd, 50, shortk, 2, "adminAccount", "adminSecret1", NULL, &r);
    assert_int_equal(r.code, 209);
    kite_cmd_free(&r);
    fld badw[] = { { "accessKey", "teamOther1", 0 },
                   { "secretKey", "teamSubSecret", 0 },
                   { "whiteRemoteAddress", "1.2.3", 0 } };
    call(fd, 50, badw, 3, "adminAccount", "adminSecret1", NULL, &r);
    assert_int_equal(r.code, 209);
    assert_non_null(strstr(r.remark, "whiteRemoteAddress"));
    kite_cmd_free(&r);
    char *after = slurp(path);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* the cluster ACL info */
    call(fd, 52, NULL, 0, "adminAccount", "adminSecret1", NULL, &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(kite_cmd_ext(&r, "version"), "\"counter\""));
    assert_non_null(strstr(kite_cmd_ext(&r, "allAclFileVersion"), path));
    assert_string_equal(kite_cmd_ext(&r, "brokerName"), "broker-t");
    kite_cmd_free(&r);
    expect_refused(fd, 52, NULL, 0, "subAccount1", "subSecret1", NULL,
                   "Need admin permission for request code=52, but accessKey=subAccount1 is not");
    /* the global white list: a new sender address passes without a key */
    int fw = conn_from(b, "127.0.64.5");
    n = send_fields(f, "topicDeny", ts, sizeof ts);
    expect_refused(fw, 310, f, n, NULL, NULL, "g0", "No accessKey is configured");
    fld gw[] = { { "globalWhiteAddrs", "127.0.62.*,127.0.64.*", 0 } };
    expect_allowed(fd, 53, gw, 1, "adminAccount", "adminSecret1", NULL, 0);
    expect_allowed(fw, 310, f, n, NULL, NULL, "g1", 0);
    /* never a file the broker does not load */
    fld ge[] = { { "globalWhiteAddrs", "*", 0 }, { "aclFileFullPath", evil, 0 } };
    call(fd, 53, ge, 2, "adminAccount", "adminSecret1", NULL, &r);
    assert_int_equal(r.code, 211);
    kite_cmd_free(&r);
    assert_int_not_equal(access(evil, F_OK), 0);
    /* delete */
    fld del[] = { { "accessKey", "teamSubAcct", 0 } };
    expect_allowed(fd, 51, del, 1, "adminAccount", "adminSecret1", NULL, 0);
    n = send_fields(f, "topicPub", ts, sizeof ts);
    expect_refused(fd, 310, f, n, "teamSubAcct", "teamSubSecret", "d1",
                   "No acl config for teamSubAcct");
    call(fd, 51, del, 1, "adminAccount", "adminSecret1", NULL, &r);
    assert_int_equal(r.code, 210);
    kite_cmd_free(&r);
    /* the timer sees the written file as it is in force: no reload failure logged */
    usleep(1500 * 1000);
    assert_int_equal(kb_count_lines(b->log, "were not taken"), 0);
    /* a restart reads the changes back */
    bk_stop_clean(b);
    bk_close(fd);
    bk_close(fw);
    char extra[900];
    snprintf(extra, sizeof extra, "aclEnable=true\naclFile=%s/acl.yml\n", dir);
    bk_launch(b, NULL, extra);
    fw = conn_from(b, "127.0.64.5");
    expect_allowed(fw, 310, f, n, NULL, NULL, "g2", 0);
    fd = conn_from(b, SRC_PLAIN);
    expect_refused(fd, 310, f, n, "teamSubAcct", "teamSubSecret", "d2",
                   "No acl config for teamSubAcct");
    n = send_fields(f, "topicPub", ts, sizeof ts);
    expect_allowed(fd, 310, f, n, "subAccount1", "subSecret1", "d3", 0);
    bk_stop_clean(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acl_matrix, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_acl_reload, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_acl_home, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_acl_start_refused, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_acl_end_transaction, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_acl_accounts, bk_setup, bk_teardown),
        cmocka_unit_test_setup_teardown(test_acl_off, bk_setup, bk_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
