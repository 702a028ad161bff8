/* acl.h - the broker's plain ACL (aclEnable=true): which files hold the accounts, their
 * periodic reload, the request guard, and what each request code needs (acl.c;
 * README "Security", docs/wire.md §14). Loop thread. */
#ifndef KITE_BROKER_ACL_H
#define KITE_BROKER_ACL_H

#include "broker/broker.h"

/* With aclEnable=true: loads the accounts (refusing to start, KITE_EINVAL with the file
 * and line in err, when there is no file or one does not parse) and checks the files for
 * changes every BK_ACL_RELOAD_MS. Else does nothing. Run before the store opens. */
#define BK_ACL_RELOAD_MS 500
int bk_acl_start(kite_broker *b, char *err, size_t errlen);
/* Installs the guard on b->srv (once it exists) when ACL is on. */
void bk_acl_install(kite_broker *b);
void bk_acl_stop(kite_broker *b);
/* Makes c (the name-server / master client) sign as innerClientAuthenticationCredentials
 * when set: KITE_EINVAL with the reason when it is not {"accessKey":..,"secretKey":..}. */
int bk_acl_sign_as(kite_broker *b, kite_rpc_client *c, char *err, size_t errlen);
/* Inside a handler: 1 when the request may use topic with perm (ACL off, a white-listed
 * sender, an admin account without perm lists, or the account's perm); else answers the
 * ACL refusal and returns 0. For codes whose topic is known only once the handler has
 * read the store (END_TRANSACTION: the half message's topic). */
/* 1 when the ACL table has a rule for code (a served code without one is refused while ACL is
 * on; it_broker_codes checks that every served code has one). */
int bk_acl_has_rule(int code);
int bk_acl_allow_topic(kite_broker *b, kite_rpc_req *req, const char *topic, int perm);

#endif
