/* role.c - what a slave (brokerRole=SLAVE) refuses. Its commit log is its master's, byte
 * for byte (src/repl/), so nothing may write to it here: sends answer SERVICE_NOT_AVAILABLE
 * (14) as a 4.x slave does, which Java and libkite producers retry on another broker;
 * END_TRANSACTION answers SLAVE_NOT_AVAILABLE (11), as in 4.x; a consumer's send-back
 * answers SYSTEM_ERROR, upon which a consumer re-sends the message through a master; the
 * admin requests that change topics, groups or offsets answer NO_PERMISSION. The guards
 * replace the ordinary handlers of those codes, so no handler needs to know the role; the
 * replica store refuses puts as well (a second line of defence). */
#include "base/log.h"
#include "broker/broker.h"
#include "proto/codes.h"
#include <stdatomic.h>

static void h_refuse_send(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    bk_replyf(
        req, RS_SERVICE_NOT_AVAILABLE,
        "service not available now: broker %.100s (id %lld) is a slave (brokerRole=SLAVE); messages "
        "are put to the master of its group",
        b->cfg.broker_name, (long long)b->cfg.broker_id);
}

static void h_refuse_send_back(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    bk_replyf(
        req, RS_SYSTEM_ERROR,
        "SERVICE_NOT_AVAILABLE: broker %.100s (id %lld) is a slave; send the message back through the "
        "master of its group",
        b->cfg.broker_name, (long long)b->cfg.broker_id);
}

static void h_refuse_end_tx(kite_rpc_req *req, void *arg)
{
    static _Atomic int64_t refused;
    kite_broker *b = arg;
    if (atomic_fetch_add(&refused, 1) % 10000 == 0)
        KLOG_WARN("broker",
                  "END_TRANSACTION refused: this broker is a slave (brokerRole=SLAVE); producers "
                  "must end transactions on the master of %s",
                  b->cfg.broker_name);
    bk_replyf(
        req, RS_SLAVE_NOT_AVAILABLE,
        "broker %.100s (id %lld) is a slave: transactions are ended on the master of its group",
        b->cfg.broker_name, (long long)b->cfg.broker_id);
}

static void h_refuse_admin(kite_rpc_req *req, void *arg)
{
    kite_broker *b = arg;
    bk_replyf(
        req, RS_NO_PERMISSION,
        "broker %.100s (id %lld) is a slave (brokerRole=SLAVE): topics, subscription groups and "
        "offsets are changed on the master of its group (request code %d refused)",
        b->cfg.broker_name, (long long)b->cfg.broker_id, req->cmd.code);
}

void bk_register_slave_guards(kite_broker *b)
{
    if (!b->cfg.is_slave) return;
    static const struct {
        int code;
        kite_rpc_handler fn;
    } table[] = {
        { RC_SEND_MESSAGE, h_refuse_send },
        { RC_SEND_MESSAGE_V2, h_refuse_send },
        { RC_SEND_BATCH_MESSAGE, h_refuse_send },
        { RC_CONSUMER_SEND_MSG_BACK, h_refuse_send_back },
        { RC_END_TRANSACTION, h_refuse_end_tx },
        { RC_UPDATE_AND_CREATE_TOPIC, h_refuse_admin },
        { RC_DELETE_TOPIC_IN_BROKER, h_refuse_admin },
        { RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, h_refuse_admin },
        { RC_DELETE_SUBSCRIPTIONGROUP, h_refuse_admin },
        { RC_INVOKE_BROKER_TO_RESET_OFFSET, h_refuse_admin },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        kite_rpc_server_handle(b->srv, table[i].code, table[i].fn, b);
}
