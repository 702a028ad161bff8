/* kite/credentials.h - the account a client signs its requests with when the brokers
 * and name servers have plain ACL on (aclEnable=true; README "Security").
 *
 * With access_key and secret_key set, every request the client sends (to brokers and to
 * name servers) carries the ext fields AccessKey and Signature, plus SecurityToken when
 * security_token is set: the signature is HMAC-SHA1 keyed with secret_key over the values
 * of all the request's ext fields (AccessKey and SecurityToken included) in key order,
 * then the body, Base64 - as RocketMQ's Java client (AclClientRPCHook) computes it, so
 * RocketMQ brokers accept it too (docs/wire.md §14.1, §14.6). The brokers check the token
 * against nothing (RocketMQ's neither): it only enters the signature. Answers the client
 * gives to a broker's own requests (transaction checks, consumer queries) are not signed, as
 * in Java.
 * Both NULL (the default): requests go unsigned. One of the two without the other makes
 * the client's create call fail with KITE_EINVAL. The strings are copied at create. */
#ifndef KITE_CREDENTIALS_H
#define KITE_CREDENTIALS_H

typedef struct kite_credentials {
    const char *access_key;     /* the account's accessKey */
    const char *secret_key;     /* its secretKey (never sent) */
    const char *security_token; /* optional (RocketMQ's SecurityToken); NULL: none */
} kite_credentials;

#endif
