/* sign.c - signs an outgoing request as a plain-ACL account (client.h kite_rpc_sign;
 * docs/wire.md §14.6). What goes in: every ext field the request carries - the header
 * fields, AccessKey and SecurityToken - except Signature, then the body. RocketMQ's Java
 * client signs its header fields plus those two; as KiteMQ clients put nothing else in
 * the ext fields, signing all of them is the same content, and it is what the broker
 * verifies. The fields are sorted on the stack and hashed in place (acl_sign.h). */
#include "base/mem.h"
#include "rpc/client.h"
#include <stdlib.h>
#include <string.h>

void kite_rpc_sign(kite_cmd *req, const char *access_key, const kite_acl_key *secret,
                   const char *security_token)
{
    kite_cmd_set_ext(req, "AccessKey", access_key);
    if (security_token) kite_cmd_set_ext(req, "SecurityToken", security_token);
    kite_acl_field inl[32];
    kite_acl_field *f = req->n_ext <= 32 ? inl : kite_xmalloc(req->n_ext * sizeof *f);
    for (size_t i = 0; i < req->n_ext; i++)
        f[i] = (kite_acl_field){ req->ext[i].key, req->ext[i].val, req->ext[i].vlen };
    kite_acl_sort(f, req->n_ext);
    char sig[KITE_ACL_SIG_LEN];
    kite_acl_mac(secret, f, req->n_ext, "Signature", req->body, req->body_len, sig);
    if (f != inl) free(f);
    kite_cmd_set_ext(req, "Signature", sig);
}
