/* fuzz_acl_file.c - libFuzzer target for the plain-ACL accounts file (src/acl/acl_file.c)
 * and the address patterns it holds (src/acl/acl_addr.c): the input is parsed as a file;
 * a file that loads has its white lists matched against a few addresses, and the input is
 * also tried as one address pattern. Seeds: tests/fuzz/corpus/fuzz_acl_file. */
#include "acl/acl.h"
#include "base/log.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        kite_log_set_stderr(0);
        quiet = 1;
    }
    static const char *ips[] = { "127.0.0.1", "10.1.2.3", "::1", "1050::5:600:300c:326b" };
    kite_acl *a = kite_acl_new();
    char err[512];
    if (kite_acl_parse(a, "fuzz.yml", (const char *)data, size, err, sizeof err) == 0) {
        for (size_t i = 0; i < a->nglobal; i++)
            for (size_t j = 0; j < 4; j++) (void)kite_acl_addr_match(a->global_white[i], ips[j]);
        for (size_t i = 0; i < a->nacc; i++)
            for (size_t j = 0; j < 4; j++) (void)kite_acl_addr_match(a->acc[i].white, ips[j]);
    } else if (!err[0]) {
        abort(); /* a refusal always says why */
    }
    kite_acl_free(a);
    char *pat = malloc(size + 1);
    if (!pat) return 0;
    memcpy(pat, data, size);
    pat[size] = 0;
    kite_acl_addr *p = kite_acl_addr_parse(pat, err, sizeof err);
    if (p) {
        for (size_t j = 0; j < 4; j++) (void)kite_acl_addr_match(p, ips[j]);
        kite_acl_addr_free(p);
    }
    free(pat);
    return 0;
}
