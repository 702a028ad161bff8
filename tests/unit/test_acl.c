/* test_acl.c - unit tests for plain ACL: the signature (src/codec/acl_sign.c) against
 * vectors computed outside our code (RFC 2202's HMAC-SHA1 case 2, and the `openssl dgst`
 * command run by the test), Java's key order, every address pattern (src/acl/acl_addr.c),
 * the accounts file parser with good and broken files (src/acl/acl_file.c), the decision
 * order and messages (src/acl/acl_check.c), and libkite's signing with a SecurityToken
 * (src/rpc/sign.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "acl/acl.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "kt.h"
#include "rpc/client.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- signature ---- */

/* RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?") is
 * effcdf6ae5eb2fa2d27416d5f184df9c259a7c79; its Base64 (worked out by hand from those 20
 * bytes) is 7/zfauXrL6LSdBbV8YTfnCWafHk=. Split over two fields and a body, in an order
 * that only sorting puts right. */
static void test_sign_rfc2202(void **st)
{
    (void)st;
    kite_acl_field f[] = {
        { "b", "want ", 5 },
        { "Signature", "ignored", 7 },
        { "a", "what do ya ", 11 },
    };
    char sig[KITE_ACL_SIG_LEN];
    const char *body = "for nothing?";
    kite_acl_sign(f, 3, "Signature", body, strlen(body), "Jefe", sig);
    assert_string_equal(sig, "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    assert_true(kite_acl_sig_equal(sig, "7/zfauXrL6LSdBbV8YTfnCWafHk=", 28));
    /* control: the skipped field counts when not skipped, a flipped byte differs */
    kite_acl_sign(f, 3, NULL, body, strlen(body), "Jefe", sig);
    assert_string_not_equal(sig, "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    assert_false(
        kite_acl_sig_equal("7/zfauXrL6LSdBbV8YTfnCWafHk=", "7/zfauXrL6LSdBbV8YTfnCWafHj=", 28));
    assert_false(
        kite_acl_sig_equal("7/zfauXrL6LSdBbV8YTfnCWafHk=", "7/zfauXrL6LSdBbV8YTfnCWafHk", 27));
}

/* The openssl command computes HMAC-SHA1 of the content we expect RocketMQ clients to sign
 * (values of the key-sorted fields, upper case before lower case, then the body). */
static int openssl_sig(const char *content, const char *key, char *out, size_t cap)
{
    char path[] = "/tmp/kite-acl-sig-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    fputs(content, f);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "openssl dgst -sha1 -hmac '%s' -binary < %s | base64", key, path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int ok = fgets(out, (int)cap, p) != NULL;
    int st = pclose(p);
    unlink(path);
    if (!ok || st != 0) return -1;
    out[strcspn(out, "\n")] = 0;
    return 0;
}

static void test_sign_openssl_vector(void **st)
{
    (void)st;
    char want[64];
    /* AccessKey < SecurityToken < b < consumerGroup < queueId < topic (byte order) */
    if (openssl_sig("RocketMQtokenPGconsumer-17TopicA{\"k\":1}", "12345678", want, sizeof want)) {
        fprintf(stderr, "openssl command not available\n");
        skip();
    }
    kite_acl_field f[] = {
        { "topic", "TopicA", 6 },       { "queueId", "17", 2 }, { "consumerGroup", "consumer-", 9 },
        { "AccessKey", "RocketMQ", 8 }, { "b", "PG", 2 },       { "SecurityToken", "token", 5 },
        { "Signature", "xx", 2 },
    };
    char sig[KITE_ACL_SIG_LEN];
    kite_acl_sign(f, 7, "Signature", "{\"k\":1}", 7, "12345678", sig);
    assert_string_equal(sig, want);
    /* control: a different secret gives another signature */
    kite_acl_sign(f, 7, "Signature", "{\"k\":1}", 7, "12345679", sig);
    assert_string_not_equal(sig, want);
}

/* RFC 2202 test case 6: a key longer than SHA-1's block (80 bytes of 0xaa) is hashed first;
 * the digest is aa4ae5e15272d00e95705637ce8a3b55ed402112, in Base64
 * qkrl4VJy0A6VcFY3zoo7Ve1AIRI=. */
static void test_sign_long_key(void **st)
{
    (void)st;
    char key[81];
    memset(key, 0xaa, 80);
    key[80] = 0;
    kite_acl_field f[] = { { "k", "Test Using Larger Than Block-Size Key - Hash Key First", 54 } };
    char sig[KITE_ACL_SIG_LEN];
    kite_acl_sign(f, 1, NULL, NULL, 0, key, sig);
    assert_string_equal(sig, "qkrl4VJy0A6VcFY3zoo7Ve1AIRI=");
    key[79] = 0x55; /* control: another key */
    kite_acl_sign(f, 1, NULL, NULL, 0, key, sig);
    assert_string_not_equal(sig, "qkrl4VJy0A6VcFY3zoo7Ve1AIRI=");
}

/* A prepared key signs what OpenSSL's one-shot HMAC() computes over the values joined in
 * key order, for field counts on both sides of the insertion-sort limit and values that
 * fill, cross and exceed the 512-byte gathering buffer; several keys used alternately
 * (one thread's working context serves them all). */
static void test_sign_prepared_matches_hmac(void **st)
{
    (void)st;
    static char vals[48][1200];
    static char keys[48][16];
    static unsigned char content[48 * 1200 + 100];
    static const char *secrets[] = { "s3cret-one", "another-secret-2", "" };
    kite_acl_key *pk[3];
    for (int s = 0; s < 3; s++) pk[s] = kite_acl_key_new(secrets[s]);
    unsigned seed = 7;
    for (size_t n = 0; n <= 48; n += (n < 34 ? 1 : 7)) {
        kite_acl_field f[48];
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t len = (seed >> 8) % 5 == 0 ? 520 + (seed >> 4) % 600 : (seed >> 12) % 40;
            for (size_t j = 0; j < len; j++) vals[i][j] = (char)('a' + (i + j) % 26);
            /* distinct keys in scrambled order: "k" + two digits, reversed half the time */
            snprintf(keys[i], sizeof keys[i], "%c%02zu", (seed >> 20) & 1 ? 'K' : 'k', 47 - i);
            f[i] = (kite_acl_field){ keys[i], vals[i], len };
        }
        kite_acl_sort(f, n);
        size_t cl = 0;
        for (size_t i = 0; i < n; i++) {
            if (i) assert_true(kite_acl_key_cmp(f[i - 1].key, f[i].key) < 0);
            memcpy(content + cl, f[i].val, f[i].vlen);
            cl += f[i].vlen;
        }
        memcpy(content + cl, "the body", 8);
        cl += 8;
        for (int s = 0; s < 3; s++) {
            unsigned char mac[20];
            unsigned int ml = sizeof mac;
            assert_non_null(
                HMAC(EVP_sha1(), secrets[s], (int)strlen(secrets[s]), content, cl, mac, &ml));
            char want[KITE_ACL_SIG_LEN], got[KITE_ACL_SIG_LEN];
            EVP_EncodeBlock((unsigned char *)want, mac, 20);
            kite_acl_mac(pk[s], f, n, NULL, "the body", 8, got);
            assert_string_equal(got, want);
        }
        if (n > 1) { /* control: the same values in another order sign differently */
            kite_acl_field t = f[0];
            f[0] = f[n - 1];
            f[n - 1] = t;
            char got[KITE_ACL_SIG_LEN], want[KITE_ACL_SIG_LEN];
            unsigned char mac[20];
            unsigned int ml = sizeof mac;
            HMAC(EVP_sha1(), secrets[0], (int)strlen(secrets[0]), content, cl, mac, &ml);
            EVP_EncodeBlock((unsigned char *)want, mac, 20);
            kite_acl_mac(pk[0], f, n, NULL, "the body", 8, got);
            if (f[0].vlen + f[n - 1].vlen &&
                (f[0].vlen != f[n - 1].vlen || memcmp(f[0].val, f[n - 1].val, f[0].vlen)))
                assert_string_not_equal(got, want);
        }
    }
    for (int s = 0; s < 3; s++) kite_acl_key_free(pk[s]);
}

/* libkite's signing (kite_rpc_sign) as RocketMQ's AclClientRPCHook does it: AccessKey and
 * SecurityToken added to the fields and signed with them - content computed here by hand
 * in Java's key order (AccessKey < SecurityToken < lower-case keys), MAC by OpenSSL's
 * HMAC(); without a token the field is absent and not signed. */
static void test_rpc_sign_security_token(void **st)
{
    (void)st;
    kite_acl_key *k = kite_acl_key_new("appSecret01");
    for (int with = 0; with < 2; with++) {
        kite_cmd c;
        kite_cmd_init_request(&c, 310, 0);
        kite_cmd_set_ext(&c, "topic", "AclOk");
        kite_cmd_set_ext(&c, "b", "PG");
        kite_cmd_set_body_ref(&c, "hello", 5);
        kite_rpc_sign(&c, "appUser01", k, with ? "sts-token-1" : NULL);
        const char *content = with ? "appUser01sts-token-1PGAclOkhello" : "appUser01PGAclOkhello";
        unsigned char mac[20];
        unsigned int ml = sizeof mac;
        assert_non_null(HMAC(EVP_sha1(), "appSecret01", 11, (const unsigned char *)content,
                             strlen(content), mac, &ml));
        char want[KITE_ACL_SIG_LEN];
        EVP_EncodeBlock((unsigned char *)want, mac, 20);
        assert_string_equal(kite_cmd_ext(&c, "AccessKey"), "appUser01");
        if (with)
            assert_string_equal(kite_cmd_ext(&c, "SecurityToken"), "sts-token-1");
        else
            assert_null(kite_cmd_ext_raw(&c, "SecurityToken"));
        assert_string_equal(kite_cmd_ext(&c, "Signature"), want);
        kite_cmd_free(&c);
    }
    kite_acl_key_free(k);
}

static void test_key_order_is_java(void **st)
{
    (void)st;
    assert_true(kite_acl_key_cmp("AccessKey", "a") < 0);
    assert_true(kite_acl_key_cmp("Signature", "SecurityToken") > 0);
    assert_true(kite_acl_key_cmp("topic", "topicA") < 0);
    assert_int_equal(kite_acl_key_cmp("x", "x"), 0);
    /* U+FFFD (EF BF BD) vs U+1F600 (F0 9F 98 80): UTF-16 puts the surrogate pair first */
    assert_true(kite_acl_key_cmp("\xef\xbf\xbd", "\xf0\x9f\x98\x80") > 0);
    assert_true(kite_acl_key_cmp("\xf0\x9f\x98\x80", "\xef\xbf\xbd") < 0);
    /* below U+E000 UTF-8 and UTF-16 agree: U+00E9 (C3 A9) < U+1F600 */
    assert_true(kite_acl_key_cmp("\xc3\xa9", "\xf0\x9f\x98\x80") < 0);
}

/* ---- address patterns ---- */

static void test_addr_patterns(void **st)
{
    (void)st;
    static const struct {
        const char *pat, *ip;
        int want;
    } c[] = {
        { "*", "10.1.2.3", 1 },
        { "*", "::1", 1 },
        { "*.*.*.*", "192.168.0.1", 1 },
        { "*:*:*:*:*:*:*:*", "fe80::1", 1 },
        { "192.168.0.1", "192.168.0.1", 1 },
        { "192.168.0.1", "192.168.0.2", 0 },
        { "192.168.0.1", "::ffff:192.168.0.1", 1 },
        { "192.168.0.*", "192.168.0.255", 1 },
        { "192.168.0.*", "192.168.1.1", 0 },
        { "192.168.*.*", "192.168.77.3", 1 },
        { "192.*.*.*", "192.1.1.1", 1 },
        { "192.*.*.*", "193.1.1.1", 0 },
        { "10.1.1.1-20", "10.1.1.1", 1 },
        { "10.1.1.1-20", "10.1.1.20", 1 },
        { "10.1.1.1-20", "10.1.1.21", 0 },
        { "10.1.1.1-20", "10.1.1.0", 0 },
        { "10.1.5-9.*", "10.1.7.200", 1 },
        { "10.1.5-9.*", "10.1.10.1", 0 },
        { "192.168.1.{1,2,3}", "192.168.1.2", 1 },
        { "192.168.1.{1,2,3}", "192.168.1.4", 0 },
        { "192.168.1.1,10.0.0.1", "10.0.0.1", 1 },
        { "192.168.1.1,10.0.0.1", "10.0.0.2", 0 },
        { " 127.0.0.1 ", "127.0.0.1", 1 },
        { "::1", "::1", 1 },
        { "::1", "0:0:0:0:0:0:0:1", 1 },
        { "1050:0000:0000:0000:0005:0600:300c:326b", "1050::5:600:300c:326b", 1 },
        { "1050::5:600:300c:326b", "1050::5:600:300c:326c", 0 },
        { "1050:0:0:0:5:600:300c:*", "1050::5:600:300c:abcd", 1 },
        { "1050:0:0:0:5:600:300c:*", "1050::5:600:300d:1", 0 },
        { "1050::5:600:300c:1-ff", "1050::5:600:300c:ff", 1 },
        { "1050::5:600:300c:1-ff", "1050::5:600:300c:100", 0 },
        { "1050::5:600:{1,2}", "1050::5:600:2", 1 },
        { "1050::5:600:{1,2}", "1050::5:600:3", 0 },
        { "fe80::1,::1", "::1", 1 },
        { "10.1.1.*", "fe80::1", 0 },
        { "10.1.1.*", "garbage", 0 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char err[256];
        kite_acl_addr *p = kite_acl_addr_parse(c[i].pat, err, sizeof err);
        if (!p) fprintf(stderr, "'%s': %s\n", c[i].pat, err);
        assert_non_null(p);
        if (kite_acl_addr_match(p, c[i].ip) != c[i].want)
            fprintf(stderr, "'%s' vs %s: want %d\n", c[i].pat, c[i].ip, c[i].want);
        assert_int_equal(kite_acl_addr_match(p, c[i].ip), c[i].want);
        kite_acl_addr_free(p);
    }
    static const char *bad[] = { "",
                                 "256.1.1.1",
                                 "10.1.1",
                                 "10.1.1.1.1",
                                 "10.1.1.20-1",
                                 "10.*.1.1",
                                 "10.1.1.{1,x}",
                                 "10.1.1.{1,2",
                                 "10.1.1.1,",
                                 "10.1.{1,2}.3",
                                 "1050::5::1",
                                 "10.1.1.a-b",
                                 "1:2:3:4:5:6:7:8:9-a",
                                 "{1,2}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        kite_acl_addr *p = kite_acl_addr_parse(bad[i], err, sizeof err);
        if (p) fprintf(stderr, "'%s' was accepted\n", bad[i]);
        assert_null(p);
        assert_true(err[0] != 0);
    }
}

/* ---- the file ---- */

static const char *k_good = "globalWhiteRemoteAddresses:\n"
                            "  - 10.10.103.*\n"
                            "  - 192.168.0.{1,2}\n"
                            "accounts:\n"
                            "  - accessKey: RocketMQ\n"
                            "    secretKey: 12345678\n"
                            "    whiteRemoteAddress:\n"
                            "    admin: false\n"
                            "    defaultTopicPerm: DENY\n"
                            "    defaultGroupPerm: SUB\n"
                            "    topicPerms:\n"
                            "      - topicA=DENY\n"
                            "      - topicB=PUB|SUB\n"
                            "      - topicC=SUB\n"
                            "      - topicD=SUB|PUB\n"
                            "      - topicE=WRITE\n"
                            "    groupPerms:\n"
                            "      - groupA=DENY\n"
                            "      - groupB=PUB|SUB\n"
                            "  - accessKey: rocketmq2\n"
                            "    secretKey: \"12345678\"\n"
                            "    whiteRemoteAddress: 192.168.1.*\n"
                            "    admin: yes\n"
                            "dataVersion:\n"
                            "  - counter: 1\n"
                            "    timestamp: 1\n";

static void test_parse_good(void **st)
{
    (void)st;
    kite_acl *a = kite_acl_new();
    char err[512];
    int rc = kite_acl_parse(a, "good.yml", k_good, strlen(k_good), err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(a->nglobal, 2);
    assert_true(kite_acl_addr_match(a->global_white[0], "10.10.103.7"));
    assert_true(kite_acl_addr_match(a->global_white[1], "192.168.0.2"));
    assert_false(kite_acl_addr_match(a->global_white[1], "192.168.0.3"));
    assert_int_equal(a->nacc, 2);
    const kite_acl_account *c = &a->acc[0];
    assert_string_equal(c->access_key, "RocketMQ");
    assert_string_equal(c->secret_key, "12345678");
    assert_null(c->white);
    assert_false(c->admin);
    assert_int_equal(c->default_topic_perm, KITE_ACL_PERM_DENY);
    assert_int_equal(c->default_group_perm, KITE_ACL_PERM_SUB);
    assert_int_equal(c->ntopics, 5);
    assert_string_equal(c->topics[1].name, "topicB");
    assert_int_equal(c->topics[0].perm, KITE_ACL_PERM_DENY);
    assert_int_equal(c->topics[1].perm, KITE_ACL_PERM_PUB | KITE_ACL_PERM_SUB);
    assert_int_equal(c->topics[2].perm, KITE_ACL_PERM_SUB);
    assert_int_equal(c->topics[3].perm, KITE_ACL_PERM_PUB | KITE_ACL_PERM_SUB);
    assert_int_equal(c->topics[4].perm, KITE_ACL_PERM_DENY); /* unknown word: DENY */
    assert_int_equal(c->ngroups, 2);
    assert_string_equal(c->groups[0].name, "groupA");
    assert_int_equal(c->line, 5);
    c = &a->acc[1];
    assert_true(c->admin);
    assert_false(c->has_perm_lists);
    assert_int_equal(c->default_topic_perm, KITE_ACL_PERM_DENY); /* absent: DENY */
    assert_true(kite_acl_addr_match(c->white, "192.168.1.9"));
    kite_acl_free(a);

    /* an empty file, and empty lists, hold nothing */
    a = kite_acl_new();
    assert_int_equal(kite_acl_parse(a, "e.yml", "", 0, err, sizeof err), 0);
    const char *empty = "globalWhiteRemoteAddresses:\naccounts:\n";
    assert_int_equal(kite_acl_parse(a, "e2.yml", empty, strlen(empty), err, sizeof err), 0);
    assert_int_equal(a->nacc, 0);
    assert_int_equal(a->nglobal, 0);
    kite_acl_free(a);
}

static void test_parse_broken(void **st)
{
    (void)st;
    static const struct {
        const char *text, *want; /* want: in the error, with file:line */
    } c[] = {
        { "accounts:\n  - accessKey: a\n    secretKey: [1, 2\n", "b.yml:" },
        { "accounts:\n  - accessKey: abcdefg\n    admin: false\n",
          "b.yml:2: an account needs an accessKey and a secretKey" },
        { "globalWhiteRemoteAddresses:\n  - 10.1.1\n",
          "b.yml:2: globalWhiteRemoteAddresses '10.1.1'" },
        { "accounts:\n  - accessKey: abcdefg\n    secretKey: s\n    whiteRemoteAddress: 1.2.3.300\n",
          "b.yml:4: whiteRemoteAddress" },
        { "accounts:\n  - accessKey: abcdefg\n    secretKey: s\n  - accessKey: abcdefg\n    secretKey: t\n",
          "b.yml:4: accessKey 'abcdefg' is already defined" },
        { "accounts:\n  - accessKey: abcdefg\n    secretKey: s\n    topicPerms: topicA=PUB\n",
          "b.yml:4: topicPerms must be a list" },
        { "accounts:\n  - accessKey: abcdefg\n    secretKey: s\n    topicPerms:\n      - topicA\n",
          "b.yml:5: topicPerms entry 'topicA' is not name=PERM" },
        { "accounts:\n  - accessKey: abcdefg\n    secretKey: s\n    admin: maybe\n",
          "b.yml:4: admin: 'maybe'" },
        { "accounts: yes\n", "b.yml:1: accounts must be a list" },
        { "- a\n- b\n", "b.yml:1: the file must be a mapping" },
        { "accounts:\n  - just-a-string\n", "b.yml:2: an account must be a mapping" },
        { "accounts:\n  - accessKey: abcdefg\n    secretKey: {a: 1}\n",
          "b.yml:3: secretKey must be a single value" },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        kite_acl *a = kite_acl_new();
        char err[512] = "";
        int rc = kite_acl_parse(a, "b.yml", c[i].text, strlen(c[i].text), err, sizeof err);
        if (rc == 0 || !strstr(err, c[i].want))
            fprintf(stderr, "case %zu: rc %d err '%s', want '%s'\n", i, rc, err, c[i].want);
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(err, c[i].want));
        kite_acl_free(a);
    }
}

/* Aliases do not multiply the work without bound: a file of many references to a big
 * list hits the budget and is refused instead of running for minutes. */
static void test_parse_alias_budget(void **st)
{
    (void)st;
    size_t cap = 4 << 20;
    char *t = malloc(cap);
    size_t n = (size_t)snprintf(t, cap, "x: &l [");
    for (int i = 0; i < 20000; i++) n += (size_t)snprintf(t + n, cap - n, "t%d=PUB,", i);
    n += (size_t)snprintf(t + n, cap - n, "t=PUB]\naccounts:\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(t + n, cap - n,
                              "  - accessKey: key%06d\n    secretKey: s\n    topicPerms: *l\n", i);
    kite_acl *a = kite_acl_new();
    char err[512];
    int rc = kite_acl_parse(a, "alias.yml", t, n, err, sizeof err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "too many items"));
    kite_acl_free(a);
    free(t);
}

/* ---- changes and the written text (acl_write.c) ---- */

/* What kite_acl_emit writes reads back to the same accounts; upsert, remove and the global
 * list change only what they name; odd characters survive the quoting. */
static void test_write_roundtrip(void **st)
{
    (void)st;
    kite_acl *a = kite_acl_new();
    char err[512];
    assert_int_equal(kite_acl_parse(a, "good.yml", k_good, strlen(k_good), err, sizeof err), 0);
    const char *file;
    kite_acl_update u = { .access_key = "we\"ird: key#1",
                          .secret_key = "s3cret\\x\n",
                          .white = "10.1.1.{1,2}",
                          .topic_perms = "t1=PUB,t2=SUB|PUB",
                          .default_group_perm = "SUB",
                          .admin = 0 };
    assert_int_equal(kite_acl_upsert(a, &u, "good.yml", &file, err, sizeof err), 0);
    /* the lookups follow the changes: the new account, its perms, its secret */
    const kite_acl_account *nu = kite_acl_find(a, u.access_key, strlen(u.access_key));
    assert_non_null(nu);
    assert_string_equal(nu->secret_key, "s3cret\\x\n");
    assert_int_equal((uintptr_t)kite_map_get(&nu->topic_at, "t2"), 2);
    assert_null(kite_acl_find(a, "rocketmq", 8)); /* control: lookups are exact */
    assert_null(kite_acl_find(a, "RocketMQ", 7));
    const kite_acl_account *old = kite_acl_find(a, "rocketmq2", 9);
    assert_non_null(old);
    kite_acl_field sf[] = { { "AccessKey", "rocketmq2", 9 } };
    char sig_before[KITE_ACL_SIG_LEN], sig_after[KITE_ACL_SIG_LEN];
    kite_acl_mac(old->key, sf, 1, NULL, NULL, 0, sig_before);
    kite_acl_update chg = { .access_key = "rocketmq2", .secret_key = "a-new-secret" };
    assert_int_equal(kite_acl_upsert(a, &chg, "good.yml", &file, err, sizeof err), 0);
    old = kite_acl_find(a, "rocketmq2", 9);
    kite_acl_mac(old->key, sf, 1, NULL, NULL, 0, sig_after);
    assert_string_not_equal(sig_before, sig_after);
    kite_acl_sign(sf, 1, NULL, NULL, 0, "a-new-secret", sig_before);
    assert_string_equal(sig_before, sig_after);
    kite_acl_update bad = { .access_key = "short", .secret_key = "long-enough" };
    assert_int_not_equal(kite_acl_upsert(a, &bad, "good.yml", &file, err, sizeof err), 0);
    kite_acl_update badp = { .access_key = "long-enough",
                             .secret_key = "long-enough",
                             .topic_perms = "t1" };
    assert_int_not_equal(kite_acl_upsert(a, &badp, "good.yml", &file, err, sizeof err), 0);
    assert_int_equal(kite_acl_set_global(a, "good.yml", "10.0.0.*,::1", err, sizeof err), 0);
    assert_int_not_equal(kite_acl_set_global(a, "good.yml", "10.0.0", err, sizeof err), 0);
    char *gone;
    assert_int_equal(kite_acl_remove(a, "rocketmq2", &gone), 0);
    free(gone);
    assert_int_equal(kite_acl_remove(a, "rocketmq2", &gone), KITE_ENOTFOUND);
    assert_null(kite_acl_find(a, "rocketmq2", 9));
    assert_non_null(kite_acl_find(a, u.access_key, strlen(u.access_key))); /* moved down */
    kite_buf out = KITE_BUF_INIT;
    kite_acl_emit(a, "good.yml", &out);
    kite_acl *b = kite_acl_new();
    int rc = kite_acl_parse(b, "good.yml", out.data, out.len, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n%.*s\n", err, (int)out.len, out.data);
    assert_int_equal(rc, 0);
    assert_int_equal(b->nacc, 2);
    assert_int_equal(b->nglobal, 2);
    assert_true(kite_acl_addr_match(b->global_white[1], "::1"));
    assert_string_equal(b->acc[0].access_key, "RocketMQ");
    assert_int_equal(b->acc[0].ntopics, 5);
    assert_int_equal(b->acc[0].topics[1].perm, KITE_ACL_PERM_PUB | KITE_ACL_PERM_SUB);
    assert_int_equal(b->acc[0].default_group_perm, KITE_ACL_PERM_SUB);
    const kite_acl_account *c = &b->acc[1];
    assert_string_equal(c->access_key, "we\"ird: key#1");
    assert_string_equal(c->secret_key, "s3cret\\x\n");
    assert_true(kite_acl_addr_match(c->white, "10.1.1.2"));
    assert_int_equal(c->ntopics, 2);
    assert_int_equal(c->topics[1].perm, KITE_ACL_PERM_PUB | KITE_ACL_PERM_SUB);
    assert_int_equal(c->default_group_perm, KITE_ACL_PERM_SUB);
    assert_int_equal(c->default_topic_perm, KITE_ACL_PERM_DENY);
    kite_buf_free(&out);
    kite_acl_free(b);
    kite_acl_free(a);
}

/* ---- the decision ---- */

static kite_acl *k_acl;

static int setup_acl(void **st)
{
    (void)st;
    const char *text = "globalWhiteRemoteAddresses: ['10.9.*.*']\n"
                       "accounts:\n"
                       "  - accessKey: subAccount\n"
                       "    secretKey: subSecret\n"
                       "    whiteRemoteAddress: 10.8.0.{1,2}\n"
                       "    defaultGroupPerm: SUB\n"
                       "    topicPerms: [tPub=PUB, tSub=SUB, tBoth=PUB|SUB, tDeny=DENY]\n"
                       "    groupPerms: [gDeny=DENY]\n"
                       "  - accessKey: adminAccount\n"
                       "    secretKey: adminSecret\n"
                       "    admin: true\n"
                       "  - accessKey: adminLists\n"
                       "    secretKey: adminSecret\n"
                       "    admin: true\n"
                       "    topicPerms: [tOnly=PUB]\n";
    k_acl = kite_acl_new();
    char err[256];
    return kite_acl_parse(k_acl, "t.yml", text, strlen(text), err, sizeof err);
}

static int teardown_acl(void **st)
{
    (void)st;
    kite_acl_free(k_acl);
    return 0;
}

typedef struct reqb {
    kite_acl_field f[16];
    size_t n;
    kite_acl_need need[4];
    size_t nneed;
    kite_acl_req r;
} reqb;

static void rq(reqb *b, const char *ip, int code, const char *ak, const char *secret,
               const char *body)
{
    memset(b, 0, sizeof *b);
    if (ak) b->f[b->n++] = (kite_acl_field){ "AccessKey", ak, strlen(ak) };
    b->f[b->n++] = (kite_acl_field){ "topic", "whatever", 8 };
    b->r.ip = ip;
    b->r.code = code;
    b->r.body = body;
    b->r.body_len = body ? strlen(body) : 0;
    if (secret) {
        static char sig[KITE_ACL_SIG_LEN];
        kite_acl_field tmp[16];
        memcpy(tmp, b->f, b->n * sizeof tmp[0]);
        kite_acl_sign(tmp, b->n, NULL, body, b->r.body_len, secret, sig);
        b->f[b->n++] = (kite_acl_field){ "Signature", sig, strlen(sig) };
    }
    b->r.fields = b->f;
    b->r.nfields = b->n;
    b->r.need = b->need;
    b->r.explain = 1; /* decide() prints why, allowed or not */
}

static void need(reqb *b, const char *name, int is_group, int perm)
{
    b->need[b->nneed++] = (kite_acl_need){ name, is_group, perm };
    b->r.nneed = b->nneed;
}

static int decide(reqb *b, char *msg)
{
    char why[512];
    int d = kite_acl_check(k_acl, &b->r, NULL, msg, 512, why, sizeof why);
    fprintf(stderr, "  %s | %s\n", msg, why);
    return d;
}

static void test_check_order(void **st)
{
    (void)st;
    reqb b;
    char msg[512];
    /* 1. global white list: no key needed, even for a denied topic */
    rq(&b, "10.9.3.4", 10, NULL, NULL, NULL);
    need(&b, "tDeny", 0, KITE_ACL_PERM_PUB);
    assert_int_equal(decide(&b, msg), KITE_ACL_ALLOW);
    /* control: elsewhere, no key */
    rq(&b, "10.7.3.4", 10, NULL, NULL, NULL);
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    assert_string_equal(msg, "No accessKey is configured");
    /* 2. unknown key */
    rq(&b, "10.7.3.4", 10, "nobody", "x", NULL);
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    assert_string_equal(msg, "No acl config for nobody");
    /* 3. the account's white list: no signature, no perms */
    rq(&b, "10.8.0.2", 10, "subAccount", NULL, NULL);
    need(&b, "tDeny", 0, KITE_ACL_PERM_PUB);
    assert_int_equal(decide(&b, msg), KITE_ACL_ALLOW);
    rq(&b, "10.8.0.3", 10, "subAccount", NULL, NULL); /* control */
    need(&b, "tDeny", 0, KITE_ACL_PERM_PUB);
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    assert_string_equal(msg, "Check signature failed for accessKey=subAccount");
    /* 4. signature with the wrong secret; the right one passes; the body is signed */
    rq(&b, "10.7.0.1", 10, "subAccount", "wrong", "body");
    need(&b, "tPub", 0, KITE_ACL_PERM_PUB);
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    assert_string_equal(msg, "Check signature failed for accessKey=subAccount");
    rq(&b, "10.7.0.1", 10, "subAccount", "subSecret", "body");
    need(&b, "tPub", 0, KITE_ACL_PERM_PUB);
    assert_int_equal(decide(&b, msg), KITE_ACL_ALLOW);
    b.r.body = "bodx";
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    /* a duplicate key is refused even when the signature matches */
    rq(&b, "10.7.0.1", 10, "subAccount", NULL, NULL);
    b.f[b.n++] = (kite_acl_field){ "topic", "other", 5 };
    {
        static char sig[KITE_ACL_SIG_LEN];
        kite_acl_field tmp[16];
        memcpy(tmp, b.f, b.n * sizeof tmp[0]);
        kite_acl_sign(tmp, b.n, NULL, NULL, 0, "subSecret", sig);
        b.f[b.n++] = (kite_acl_field){ "Signature", sig, strlen(sig) };
        b.r.nfields = b.n;
    }
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    /* the same key twice with the same value (a Java client's binary "fast" header through
     * its ACL hook) counts once: signed over the distinct fields, it passes */
    rq(&b, "10.7.0.1", 310, "subAccount", "subSecret", "body");
    need(&b, "tPub", 0, KITE_ACL_PERM_PUB);
    b.f[b.n++] = (kite_acl_field){ "topic", "whatever", 8 };
    b.f[b.n++] = (kite_acl_field){ "AccessKey", "subAccount", 10 };
    b.r.nfields = b.n;
    assert_int_equal(decide(&b, msg), KITE_ACL_ALLOW);
    /* control: signed over every value as sent (the repeats included), it does not */
    rq(&b, "10.7.0.1", 310, "subAccount", NULL, "body");
    need(&b, "tPub", 0, KITE_ACL_PERM_PUB);
    b.f[b.n++] = (kite_acl_field){ "topic", "whatever", 8 };
    {
        static char sig[KITE_ACL_SIG_LEN];
        kite_acl_field tmp[16];
        memcpy(tmp, b.f, b.n * sizeof tmp[0]);
        kite_acl_sign(tmp, b.n, NULL, "body", 4, "subSecret", sig);
        b.f[b.n++] = (kite_acl_field){ "Signature", sig, strlen(sig) };
        b.r.nfields = b.n;
    }
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    assert_string_equal(msg, "Check signature failed for accessKey=subAccount");
    /* 5. the trace topic, PUB only, whatever the perms */
    rq(&b, "10.7.0.1", 10, "subAccount", "subSecret", NULL);
    need(&b, "RMQ_SYS_TRACE_TOPIC", 0, KITE_ACL_PERM_PUB);
    assert_int_equal(decide(&b, msg), KITE_ACL_ALLOW);
    rq(&b, "10.7.0.1", 11, "subAccount", "subSecret", NULL); /* control: SUB on it */
    need(&b, "RMQ_SYS_TRACE_TOPIC", 0, KITE_ACL_PERM_SUB);
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    /* 6. admin-only codes */
    rq(&b, "10.7.0.1", 17, "subAccount", "subSecret", NULL);
    b.r.admin_only = 1;
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
    assert_string_equal(
        msg, "Need admin permission for request code=17, but accessKey=subAccount is not");
    rq(&b, "10.7.0.1", 17, "adminAccount", "adminSecret", NULL);
    b.r.admin_only = 1;
    assert_int_equal(decide(&b, msg), KITE_ACL_ALLOW);
    /* codes without a rule are refused, admin or not */
    rq(&b, "10.7.0.1", 9999, "adminAccount", "adminSecret", NULL);
    b.r.unknown = 1;
    assert_int_equal(decide(&b, msg), KITE_ACL_DENY);
}

static void test_check_perms(void **st)
{
    (void)st;
    static const struct {
        const char *ak, *name;
        int is_group, perm, want;
    } c[] = {
        { "subAccount", "tPub", 0, KITE_ACL_PERM_PUB, KITE_ACL_ALLOW },
        { "subAccount", "tPub", 0, KITE_ACL_PERM_SUB, KITE_ACL_DENY },
        { "subAccount", "tSub", 0, KITE_ACL_PERM_SUB, KITE_ACL_ALLOW },
        { "subAccount", "tSub", 0, KITE_ACL_PERM_PUB, KITE_ACL_DENY },
        { "subAccount", "tBoth", 0, KITE_ACL_PERM_PUB, KITE_ACL_ALLOW },
        { "subAccount", "tBoth", 0, KITE_ACL_PERM_SUB, KITE_ACL_ALLOW },
        { "subAccount", "tDeny", 0, KITE_ACL_PERM_SUB, KITE_ACL_DENY },
        { "subAccount", "tDeny", 0, KITE_ACL_PERM_ANY, KITE_ACL_DENY },
        { "subAccount", "tPub", 0, KITE_ACL_PERM_ANY, KITE_ACL_ALLOW },
        { "subAccount", "unlisted", 0, KITE_ACL_PERM_PUB, KITE_ACL_DENY },  /* default DENY */
        { "subAccount", "anyGroup", 1, KITE_ACL_PERM_SUB, KITE_ACL_ALLOW }, /* default SUB */
        { "subAccount", "gDeny", 1, KITE_ACL_PERM_SUB, KITE_ACL_DENY },
        { "adminAccount", "anything", 0, KITE_ACL_PERM_PUB, KITE_ACL_ALLOW }, /* no lists */
        { "adminAccount", "gDeny", 1, KITE_ACL_PERM_SUB, KITE_ACL_ALLOW },
        { "adminLists", "tOnly", 0, KITE_ACL_PERM_PUB, KITE_ACL_ALLOW },
        { "adminLists", "other", 0, KITE_ACL_PERM_PUB, KITE_ACL_DENY }, /* lists: checked */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        reqb b;
        char msg[512];
        rq(&b, "10.7.0.1", 10, c[i].ak, c[i].ak[0] == 's' ? "subSecret" : "adminSecret", NULL);
        need(&b, c[i].name, c[i].is_group, c[i].perm);
        int d = decide(&b, msg);
        if (d != c[i].want)
            fprintf(stderr, "case %zu: %s %s want %d\n", i, c[i].ak, c[i].name, c[i].want);
        assert_int_equal(d, c[i].want);
        if (d == KITE_ACL_DENY) {
            char want[128];
            snprintf(want, sizeof want, "No default permission for %s:%s",
                     c[i].is_group ? "group" : "topic", c[i].name);
            assert_string_equal(msg, want);
        }
    }
}

/* RocketMQ's brokers leave _UNIQUE_KEY_QUERY out of the content while Java clients sign
 * it: both signatures pass. */
static void test_check_unique_key_query(void **st)
{
    (void)st;
    for (int with = 0; with < 2; with++) {
        reqb b;
        char msg[512];
        rq(&b, "10.7.0.1", 12, "subAccount", NULL, NULL);
        b.f[b.n++] = (kite_acl_field){ "_UNIQUE_KEY_QUERY", "true", 4 };
        static char sig[KITE_ACL_SIG_LEN];
        kite_acl_field tmp[16];
        memcpy(tmp, b.f, b.n * sizeof tmp[0]);
        kite_acl_sign(tmp, b.n - (with ? 0 : 1), NULL, NULL, 0, "subSecret", sig);
        b.f[b.n++] = (kite_acl_field){ "Signature", sig, strlen(sig) };
        b.r.nfields = b.n;
        need(&b, "tSub", 0, KITE_ACL_PERM_SUB);
        assert_int_equal(decide(&b, msg), KITE_ACL_ALLOW);
    }
}

int main(void)
{
    kite_log_set_stderr(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_rfc2202),
        cmocka_unit_test(test_sign_openssl_vector),
        cmocka_unit_test(test_sign_long_key),
        cmocka_unit_test(test_sign_prepared_matches_hmac),
        cmocka_unit_test(test_rpc_sign_security_token),
        cmocka_unit_test(test_key_order_is_java),
        cmocka_unit_test(test_addr_patterns),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_broken),
        cmocka_unit_test(test_parse_alias_budget),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test_setup_teardown(test_check_order, setup_acl, teardown_acl),
        cmocka_unit_test_setup_teardown(test_check_perms, setup_acl, teardown_acl),
        cmocka_unit_test_setup_teardown(test_check_unique_key_query, setup_acl, teardown_acl),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
