/* bench_acl.c - micro-benchmark (not a test): the CPU cost of plain ACL per request, on one
 * thread, without sockets. Two loops over the request kite-bench sends (SEND_MESSAGE_V2:
 * 13 header fields, AccessKey, a 1 KiB body):
 *  - client: kite_rpc_sign on a fresh command (what libkite does before encoding it);
 *  - broker: kite_acl_check of the signed fields against an accounts file of 2 accounts, as
 *    the broker's guard calls it (PUB needed on the topic).
 *
 * usage: bench_acl [-n calls] [-r runs] [-b body bytes]
 * Prints the time per call of each run and the medians. */
#include "acl/acl.h"
#include "base/log.h"
#include "base/time.h"
#include "proto/cmd.h"
#include "rpc/client.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *k_acl = "accounts:\n"
                           "  - accessKey: benchUser01\n"
                           "    secretKey: benchSecret01\n"
                           "    defaultTopicPerm: DENY\n"
                           "    defaultGroupPerm: SUB\n"
                           "    topicPerms:\n"
                           "      - BenchAcl=PUB|SUB\n"
                           "  - accessKey: benchAdmin01\n"
                           "    secretKey: benchAdminSecret1\n"
                           "    admin: true\n";

/* The header fields of kite-bench's send, in the order libkite adds them. */
static void fill(kite_cmd *c, const uint8_t *body, size_t n)
{
    kite_cmd_init_request(c, 310, 0);
    static const char *kv[][2] = {
        { "a", "BenchProducerGroup" },
        { "b", "BenchAcl" },
        { "c", "TBW102" },
        { "d", "4" },
        { "e", "3" },
        { "f", "0" },
        { "g", "1733570000000" },
        { "h", "0" },
        { "i", "UNIQ_KEY\0017F0000010A2B18B4AAC21A2B3C4D0000\002WAIT\001true\002" },
        { "j", "0" },
        { "k", "false" },
        { "l", "0" },
        { "m", "false" },
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        kite_cmd_add_ext_ref(c, kv[i][0], kv[i][1], strlen(kv[i][1]));
    kite_cmd_set_body_ref(c, body, n);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long calls = 200000;
    int runs = 5;
    size_t blen = 1024;
    int o;
    while ((o = getopt(argc, argv, "n:r:b:")) != -1) {
        if (o == 'n')
            calls = atol(optarg);
        else if (o == 'r')
            runs = atoi(optarg);
        else if (o == 'b')
            blen = (size_t)atol(optarg);
        else {
            fprintf(stderr, "usage: bench_acl [-n calls] [-r runs] [-b body bytes]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 99 || calls < 1) return 2;
    kite_log_set_stderr(0);
    kite_acl *a = kite_acl_new();
    char err[256];
    if (kite_acl_parse(a, "bench.yml", k_acl, strlen(k_acl), err, sizeof err) != KITE_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    uint8_t *body = malloc(blen ? blen : 1);
    memset(body, 'x', blen);
    kite_acl_key *key = kite_acl_key_new("benchSecret01");

    /* one signed command, kept for the broker loop */
    kite_cmd signed_cmd;
    fill(&signed_cmd, body, blen);
    kite_rpc_sign(&signed_cmd, "benchUser01", key, NULL);
    size_t nf = signed_cmd.n_ext;
    kite_acl_field *f = malloc(nf * sizeof *f);
    kite_acl_need need = { "BenchAcl", 0, KITE_ACL_PERM_PUB };

    double cl[99], bk[99];
    for (int r = 0; r < runs; r++) {
        int64_t t0 = kite_mono_ns();
        for (long i = 0; i < calls; i++) {
            kite_cmd c;
            fill(&c, body, blen);
            kite_rpc_sign(&c, "benchUser01", key, NULL);
            kite_cmd_free(&c);
        }
        int64_t t1 = kite_mono_ns();
        long denied = 0;
        for (long i = 0; i < calls; i++) {
            for (size_t k = 0; k < nf; k++)
                f[k] = (kite_acl_field){ signed_cmd.ext[k].key, signed_cmd.ext[k].val,
                                         signed_cmd.ext[k].vlen };
            kite_acl_req q = { .ip = "127.0.0.1",
                               .code = 310,
                               .code_name = "SEND_MESSAGE_V2",
                               .fields = f,
                               .nfields = nf,
                               .body = body,
                               .body_len = blen,
                               .need = &need,
                               .nneed = 1 };
            const kite_acl_account *acc;
            char msg[512], why[768];
            denied += kite_acl_check(a, &q, &acc, msg, sizeof msg, why, sizeof why) != 0;
        }
        int64_t t2 = kite_mono_ns();
        if (denied) {
            fprintf(stderr, "the check refused the signed request\n");
            return 1;
        }
        cl[r] = (double)(t1 - t0) / 1e3 / (double)calls;
        bk[r] = (double)(t2 - t1) / 1e3 / (double)calls;
        printf("run %d: client sign %.3f us, broker check %.3f us per request\n", r + 1, cl[r],
               bk[r]);
    }
    qsort(cl, (size_t)runs, sizeof cl[0], cmp_d);
    qsort(bk, (size_t)runs, sizeof bk[0], cmp_d);
    printf("median of %d runs (%ld calls, %zu-byte body): client sign %.3f us, broker check "
           "%.3f us\n",
           runs, calls, blen, cl[runs / 2], bk[runs / 2]);
    kite_cmd_free(&signed_cmd);
    kite_acl_key_free(key);
    kite_acl_free(a);
    free(f);
    free(body);
    return 0;
}
