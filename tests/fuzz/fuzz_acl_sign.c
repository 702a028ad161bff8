/* fuzz_acl_sign.c - libFuzzer target for the signature check: the input is a remoting
 * frame (kite_cmd_decode); its extFields and body go through kite_acl_check against a
 * fixed set of accounts, as the broker's guard passes them (src/broker/acl.c), with a
 * topic and a group taken from the fields as the needed resources. A frame whose
 * AccessKey is known and whose Signature is right must never be refused for its
 * signature. Seeds: tests/fuzz/corpus/fuzz_acl_sign. */
#include "acl/acl.h"
#include "base/log.h"
#include "proto/cmd.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static kite_acl *acl(void)
{
    static kite_acl *a;
    if (a) return a;
    kite_log_set_stderr(0);
    static const char text[] = "globalWhiteRemoteAddresses: ['10.9.*.*']\n"
                               "accounts:\n"
                               "  - accessKey: RocketMQ\n"
                               "    secretKey: '12345678'\n"
                               "    whiteRemoteAddress: 10.8.0.{1,2}\n"
                               "    defaultGroupPerm: SUB\n"
                               "    topicPerms: [topicA=PUB, topicB=SUB, topicC=PUB|SUB]\n"
                               "  - accessKey: admin123\n"
                               "    secretKey: '12345678'\n"
                               "    admin: true\n";
    char err[256];
    a = kite_acl_new();
    if (kite_acl_parse(a, "fuzz", text, sizeof text - 1, err, sizeof err) != 0) abort();
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kite_acl *a = acl();
    kite_cmd c;
    char err[256];
    if (kite_cmd_decode(&c, data, size, 1u << 20, err, sizeof err) != 0) return 0;
    kite_acl_field *f = malloc((c.n_ext + 1) * sizeof *f);
    if (!f) abort();
    for (size_t i = 0; i < c.n_ext; i++)
        f[i] = (kite_acl_field){ c.ext[i].key, c.ext[i].val, c.ext[i].vlen };
    kite_acl_need need[2];
    size_t nn = 0;
    const char *t = kite_cmd_ext(&c, "topic"), *g = kite_cmd_ext(&c, "consumerGroup");
    if (t) need[nn++] = (kite_acl_need){ t, 0, KITE_ACL_PERM_PUB };
    if (g) need[nn++] = (kite_acl_need){ g, 1, KITE_ACL_PERM_SUB };
    static const char *ips[] = { "10.7.0.1", "10.8.0.2", "10.9.1.1" };
    for (int k = 0; k < 3; k++) {
        kite_acl_req r = { .ip = ips[k],
                           .code = c.code,
                           .fields = f,
                           .nfields = c.n_ext,
                           .body = c.body,
                           .body_len = c.body_len,
                           .admin_only = c.code == 17,
                           .unknown = c.code == 9999,
                           .need = need,
                           .nneed = nn };
        char msg[512], why[768];
        (void)kite_acl_check(a, &r, NULL, msg, sizeof msg, why, sizeof why);
    }
    /* re-signed with the right secret (Signature replaced), the check must not fail on it */
    const char *ak = kite_cmd_ext(&c, "AccessKey");
    if (ak && (!strcmp(ak, "RocketMQ") || !strcmp(ak, "admin123"))) {
        size_t n = 0;
        for (size_t i = 0; i < c.n_ext; i++)
            if (strcmp(c.ext[i].key, "Signature") != 0)
                f[n++] = (kite_acl_field){ c.ext[i].key, c.ext[i].val, c.ext[i].vlen };
        char sig[KITE_ACL_SIG_LEN];
        kite_acl_field *tmp = malloc((n + 1) * sizeof *tmp);
        if (!tmp) abort();
        memcpy(tmp, f, n * sizeof *f);
        kite_acl_sign(tmp, n, NULL, c.body, c.body_len, "12345678", sig);
        free(tmp);
        f[n++] = (kite_acl_field){ "Signature", sig, strlen(sig) };
        kite_acl_req r = { .ip = "10.7.0.1",
                           .code = c.code,
                           .fields = f,
                           .nfields = n,
                           .body = c.body,
                           .body_len = c.body_len };
        char msg[512], why[768];
        int dup = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) dup |= !strcmp(f[i].key, f[j].key);
        if (kite_acl_check(a, &r, NULL, msg, sizeof msg, why, sizeof why) == KITE_ACL_DENY &&
            strstr(msg, "Check signature failed") && !dup)
            abort();
    }
    free(f);
    kite_cmd_free(&c);
    return 0;
}
