/* fuzz_props.c - libFuzzer target for configuration files: the .properties reader
 * (base/props, also what reads tls.config.file), the typed key table it is applied
 * through (numbers, booleans, refused and ignored keys), the TLS keys' checks
 * (kite_tls_conf_settle without a file) and the connection-limit keys. What was applied
 * is printed and read back: the printed text must parse again. */
#include "base/buf.h"
#include "base/log.h"
#include "base/props.h"
#include "net/tls.h"
#include "rpc/server.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fz_conf {
    char *s;
    int32_t i;
    int64_t l;
    int b;
    kite_tls_conf tls;
    kite_rpc_limits_conf limits;
} fz_conf;

#define F(x) offsetof(fz_conf, x)
static const kite_prop_def k_defs[] = {
    { "str", KITE_PROP_STR, F(s), "x", "a string" },
    { "int", KITE_PROP_INT, F(i), "7", "an int" },
    { "long", KITE_PROP_LONG, F(l), "-1", "a long" },
    { "bool", KITE_PROP_BOOL, F(b), "true", "a boolean" },
    KITE_TLS_SERVER_PROPS(fz_conf, tls),
    KITE_TLS_CLIENT_PROPS(fz_conf, tls),
    KITE_RPC_LIMIT_PROPS(fz_conf, limits),
    KITE_PROP_REFUSE("refused", "false", "refused unless false"),
    KITE_PROP_IGNORE("ignored", "ignored with a warning"),
    { NULL, 0, 0, NULL, NULL },
};
#undef F

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        kite_log_set_level(KITE_LOG_OFF);
        quiet = 1;
    }
    kite_props p;
    kite_props_init(&p);
    if (kite_props_parse(&p, (const char *)data, size) != 0) {
        kite_props_free(&p);
        return 0;
    }
    fz_conf c;
    memset(&c, 0, sizeof c);
    kite_config_defaults(k_defs, &c);
    char err[512];
    if (kite_config_apply(k_defs, &c, &p, err, sizeof err) == 0) {
        free(c.tls.config_file); /* no file reads here: only the values' checks */
        c.tls.config_file = NULL;
        if (kite_tls_conf_settle(k_defs, &c, &c.tls, err, sizeof err) == 0)
            (void)kite_tls_conf_mode(&c.tls);
        kite_rpc_server_opts o;
        memset(&o, 0, sizeof o);
        kite_rpc_limits_apply(&c.limits, &o);
        if (o.max_conns < 0 || o.max_inflight < 0 || o.frame_timeout_ms < 0) abort();
        kite_buf out = KITE_BUF_INIT;
        kite_config_print(k_defs, &c, &out);
        kite_props q;
        kite_props_init(&q);
        if (kite_props_parse(&q, out.data ? out.data : "", out.len) != 0) abort();
        kite_props_free(&q);
        kite_buf_free(&out);
    }
    kite_config_free(k_defs, &c);
    kite_props_free(&p);
    return 0;
}
