/* admin.h - kite-admin, the mqadmin-style command-line tool: the command table entry,
 * the parsed options of one run and the helpers every subcommand uses (RPC to the name
 * servers and brokers, error reporting, cluster lookups, printing). docs/admin.md lists
 * each subcommand's requests and output format.
 *
 * Owns: nothing beyond one run. Single-threaded; the RPC client runs its own loop thread.
 * Exit codes: 0 ok, 1 a request failed (the server's code and remark are printed),
 * 2 usage error (unknown command or option, missing required option). */
#ifndef KITE_TOOLS_ADMIN_H
#define KITE_TOOLS_ADMIN_H

#include "proto/bodies.h"
#include "proto/cmd.h"
#include "rpc/client.h"
#include <stddef.h>
#include <stdint.h>

#define KA_OK    0
#define KA_FAIL  1
#define KA_USAGE 2

/* One option of a subcommand, as mqadmin declares it. */
typedef struct ka_opt {
    char letter;
    const char *longname;
    int has_arg;
    int required;
    const char *desc;
} ka_opt;

typedef struct ka_ctx ka_ctx;

typedef struct ka_cmd {
    const char *name, *desc;
    const ka_opt *opts; /* ends with letter 0; -h and -n are added to every command */
    int (*run)(ka_ctx *c);
} ka_cmd;

struct ka_ctx {
    const ka_cmd *cmd;
    kite_rpc_client *rpc;
    const char *val[128]; /* option values by letter (flags: "") ; NULL = absent */
    size_t n_ns;
    char ns[8][128]; /* name server addresses from -n "a:p;b:p" */
};

/* Option value by letter, or NULL. */
static inline const char *ka_opt_val(const ka_ctx *c, char letter)
{
    return c->val[(unsigned char)letter & 127];
}

/* ---- requests (common.c) ---- */
/* Sends a copy of req (req stays the caller's) to addr and waits (timeout 5 s). 0 with
 * *resp filled (caller frees), or -1 after printing the transport error. */
int ka_call(ka_ctx *c, const char *addr, const kite_cmd *req, kite_cmd *resp);
/* The same to the name servers of -n, each in turn until one answers. -1 also when -n
 * was not given (printed). */
int ka_ns_call(ka_ctx *c, const kite_cmd *req, kite_cmd *resp);
/* 0 when resp->code is 0 (or `also_ok`, -1 for none); otherwise prints
 * "<what> failed, CODE: <code> DESC: <remark>" and returns -1. */
int ka_check(const kite_cmd *resp, int also_ok, const char *what);
/* Request + check in one: 0 with *resp (code 0) or -1 (resp freed). ns: addr NULL. */
int ka_rpc_ok(ka_ctx *c, const char *addr, const kite_cmd *req, kite_cmd *resp, const char *what);
/* Parses a JSON body; NULL (printed) when it does not parse. */
kite_json_doc *ka_parse_body(const kite_cmd *resp, const char *what);

/* ---- name-server lookups ---- */
int ka_cluster_info(ka_ctx *c, kite_cluster_info *ci);
/* Route of a topic: 0, or -1 (printed; *code_out = the server's code when it answered). */
int ka_route(ka_ctx *c, const char *topic, kite_route_data *r, int *code_out);
/* Master addresses (brokerId 0) of a cluster, sorted; all = every address instead.
 * Returns the count (0 prints mqadmin's "[error] ..." line when the cluster is unknown);
 * strings live in ci's arena. */
size_t ka_cluster_addrs(const kite_cluster_info *ci, const char *cluster, int all, const char **out,
                        size_t cap);
/* The broker data of a broker name, or NULL. */
const kite_broker_data *ka_broker_by_name(const kite_cluster_info *ci, const char *name);
/* Address of broker id 0 of b, or NULL. */
const char *ka_master_addr(const kite_broker_data *b);

/* ---- printing ---- */
/* mqadmin's UtilAll.frontStringAtLeast: the first `size` bytes of s. */
const char *ka_front(const char *s, size_t size, char *buf, size_t cap);
/* "yyyy-MM-dd HH:mm:ss,SSS" (local time) into buf. */
const char *ka_time_ms(int64_t ms, char *buf, size_t cap);
/* "yyyy-MM-dd HH:mm:ss" (local time). */
const char *ka_time_s(int64_t ms, char *buf, size_t cap);
/* Prints a JSON tree the way fastjson's pretty format does (tabs, no spaces, numeric map
 * keys bare), leaving out the members named in drop (NULL-terminated, may be NULL). */
void ka_print_pretty(const kite_json *v, const char *const *drop);
/* Prints a Java properties text body as "%-50s=  %s" lines. */
void ka_print_properties(const kite_cmd *resp);
/* Java Boolean.parseBoolean. */
int ka_bool(const char *s);

/* deleteTopic's work, also used by deleteSubGroup -c: DELETE_TOPIC_IN_BROKER to every
 * master of the cluster, then DELETE_TOPIC_IN_NAMESRV to every name server (cmd_topic.c). */
int ka_delete_topic(ka_ctx *c, const kite_cluster_info *ci, const char *cluster, const char *topic);

/* ---- subcommand tables (one file per family) ---- */
extern const ka_cmd ka_cmds_cluster[]; /* cmd_cluster.c: cluster, broker, name-server config */
extern const ka_cmd ka_cmds_topic[];   /* cmd_topic.c */
extern const ka_cmd ka_cmds_group[];   /* cmd_group.c: subscription groups, consumers */
extern const ka_cmd ka_cmds_msg[];     /* cmd_msg.c: messages */

#endif
