// Transactional producer (TransactionMQProducer): a committed local transaction delivers
// its message, a rolled back one never does, and a half left undecided by a producer that
// then stops is resolved by the broker's check-back (CHECK_TRANSACTION_STATE) answered by a
// restarted producer of the same group. The broker checks every second here.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;

class TransactionTest extends Base {

    @Override
    protected Map<String, String> brokerConfig() {
        Map<String, String> m = super.brokerConfig();
        m.put("transactionCheckInterval", "1000");
        m.put("transactionTimeOut", "1000");
        return m;
    }

    /** Decides by the message's key: "commit-*" commit, "rollback-*" roll back, else unknown. */
    static final class ByKey implements TransactionListener {
        final Set<String> executed = ConcurrentHashMap.newKeySet();
        final Map<String, Integer> checked = new ConcurrentHashMap<>();
        final LocalTransactionState onCheck;

        ByKey(LocalTransactionState onCheck) {
            this.onCheck = onCheck;
        }

        @Override
        public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
            executed.add(msg.getKeys());
            if (msg.getKeys().startsWith("commit-")) {
                return LocalTransactionState.COMMIT_MESSAGE;
            }
            if (msg.getKeys().startsWith("rollback-")) {
                return LocalTransactionState.ROLLBACK_MESSAGE;
            }
            return LocalTransactionState.UNKNOW;
        }

        @Override
        public LocalTransactionState checkLocalTransaction(MessageExt msg) {
            checked.merge(msg.getKeys(), 1, Integer::sum);
            if (onCheck != null) {
                return onCheck;
            }
            return msg.getKeys().startsWith("later-commit") ? LocalTransactionState.COMMIT_MESSAGE
                    : msg.getKeys().startsWith("later-rollback") ? LocalTransactionState.ROLLBACK_MESSAGE
                    : LocalTransactionState.UNKNOW;
        }
    }

    /**
     * A transaction producer that heartbeats every second. It must know a broker to greet it
     * (and so to be asked to check): the 4.x client learns the brokers from TBW102's route at
     * start; the 5.x client only from the topics it is given (setTopics), as 5.x users do.
     */
    private TransactionMQProducer txProducer(String group, TransactionListener l, String topic) throws Exception {
        TransactionMQProducer p = new TransactionMQProducer(group);
        p.setTransactionListener(l);
        p.setHeartbeatBrokerInterval(1000);
        for (Method m : p.getClass().getMethods()) {
            if (m.getName().equals("setTopics") && m.getParameterCount() == 1) {
                m.invoke(p, List.of(topic));
            }
        }
        return startTransactional(p);
    }

    private static boolean committed(MessageExt m) {
        return (m.getSysFlag() & 0xC) == 0x8;   // TRANSACTION_COMMIT_TYPE
    }

    @Test
    void commitDeliversAndRollbackDoesNot() throws Exception {
        String topic = uniq("cj_tx");
        String group = uniq("pg_tx");
        ByKey l = new ByKey(LocalTransactionState.UNKNOW);
        createTopic(topic, 1);
        TransactionMQProducer p = txProducer(group, l, topic);
        TransactionSendResult c =
                p.sendMessageInTransaction(new Message(topic, "T", "commit-1", utf8("committed")), null);
        assertEquals(SendStatus.SEND_OK, c.getSendStatus());
        assertEquals(LocalTransactionState.COMMIT_MESSAGE, c.getLocalTransactionState());
        TransactionSendResult r =
                p.sendMessageInTransaction(new Message(topic, "T", "rollback-1", utf8("rolled back")), null);
        assertEquals(SendStatus.SEND_OK, r.getSendStatus());
        assertEquals(LocalTransactionState.ROLLBACK_MESSAGE, r.getLocalTransactionState());
        // a plain message after both: once it is readable, both decisions have been applied
        SendResult marker = p.send(new Message(topic, "T", "marker", utf8("marker")));
        assertEquals(SendStatus.SEND_OK, marker.getSendStatus());
        List<MessageExt> got = readTopic(topic, l2 -> l2.stream().anyMatch(m -> "marker".equals(m.getKeys()))
                && l2.stream().anyMatch(m -> "commit-1".equals(m.getKeys())));
        assertEquals(2, got.size(), "the committed message and the marker only: " + describe(got));
        MessageExt m = got.stream().filter(x -> "commit-1".equals(x.getKeys())).findFirst().get();
        assertEquals("committed", str(m.getBody()));
        assertEquals(c.getMsgId(), m.getMsgId(), "the committed message keeps its id");
        assertTrue(committed(m), "sysflag says committed: " + m.getSysFlag());
        assertEquals(null, m.getProperty("TRAN_MSG"), "the prepared mark is gone");
        assertTrue(l.executed.contains("commit-1") && l.executed.contains("rollback-1"));
        // both decided at once: nothing to check; and a rolled back message stays gone
        Thread.sleep(2500);
        assertTrue(l.checked.isEmpty(), "decided halves are not checked: " + l.checked);
        List<MessageExt> again = readTopic(topic, x -> true);
        assertEquals(2, again.size(), describe(again));
    }

    @Test
    void undecidedHalfIsResolvedByCheckAfterProducerRestart() throws Exception {
        String topic = uniq("cj_txcheck");
        String group = uniq("pg_txcheck");
        ByKey first = new ByKey(LocalTransactionState.UNKNOW);
        createTopic(topic, 2);
        TransactionMQProducer p1 = txProducer(group, first, topic);
        TransactionSendResult a =
                p1.sendMessageInTransaction(new Message(topic, "T", "later-commit", utf8("A")), null);
        TransactionSendResult b =
                p1.sendMessageInTransaction(new Message(topic, "T", "later-rollback", utf8("B")), null);
        assertEquals(LocalTransactionState.UNKNOW, a.getLocalTransactionState());
        assertEquals(LocalTransactionState.UNKNOW, b.getLocalTransactionState());
        p1.shutdown();
        // nothing is delivered while undecided
        assertTrue(readTopic(topic, x -> true).isEmpty());

        ByKey second = new ByKey(null);
        txProducer(group, second, topic);
        await("check-back of both halves reaching the restarted producer",
                () -> second.checked.containsKey("later-commit") && second.checked.containsKey("later-rollback"));
        readTopic(topic, l -> !l.isEmpty());
        Thread.sleep(2500);   // more check rounds: nothing else may appear
        List<MessageExt> got = readTopic(topic, x -> true);
        assertEquals(1, got.size(), "only the half the check committed: " + describe(got));
        MessageExt m = got.get(0);
        assertEquals("later-commit", m.getKeys());
        assertEquals("A", str(m.getBody()));
        assertEquals(a.getMsgId(), m.getMsgId());
        assertTrue(committed(m), "sysflag says committed: " + m.getSysFlag());
        assertFalse(second.executed.contains("later-commit"), "the restarted producer only answered checks");
        // resolved halves are checked no more
        Map<String, Integer> seen = Map.copyOf(second.checked);
        Thread.sleep(2500);
        assertEquals(seen, Map.copyOf(second.checked), "no checks after the decision");
    }
}
