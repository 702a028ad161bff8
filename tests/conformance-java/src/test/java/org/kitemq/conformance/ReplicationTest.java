// Replication (docs/DESIGN.md "Replication") through the Java client: a SYNC_MASTER with a
// slave answers the producer SEND_OK, the same broker without a slave SLAVE_NOT_AVAILABLE;
// with slaveReadEnable (switched on at run time) a consumer that falls behind is sent to the
// slave, whose per-group statistics count the messages it served (none while it is off);
// after the master is SIGKILLed, a push consumer resumes from the slave and gets every message
// that was answered SEND_OK, and a new group reads them all from the slave; the producer, which
// knows a second broker group by then, sends on to it without a failed send.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReplicationTest extends Base {
    /** Consumed before and after the master's death. */
    static final String TOPIC = "ReplData";
    /** Read from the slave (slaveReadEnable). */
    static final String TOPIC_READ = "ReplRead";

    private DefaultMQProducer producer;
    private DefaultMQAdminExt admin;
    /** Keys of the messages of TOPIC answered SEND_OK. */
    private final Set<String> acked = new TreeSet<>();

    @Override
    protected Map<String, String> brokerConfig() {
        Map<String, String> m = new HashMap<>();
        m.put("brokerRole", "SYNC_MASTER");
        // slaveReadEnable is switched at run time (UPDATE_BROKER_CONFIG); with the ratio 0 every
        // pull that examined a message counts as "slow" (docs/DESIGN.md, "Reading from slaves")
        m.put("remoteConfigUpdateEnable", "true");
        m.put("accessMessageInMemoryMaxRatio", "0");
        return m;
    }

    @Override
    protected boolean withSlave() {
        return true;
    }

    private static long countLines(Path f, String needle) {
        try (Stream<String> s = Files.lines(f, StandardCharsets.ISO_8859_1)) {
            return s.filter(l -> l.contains(needle)).count();
        } catch (IOException | UncheckedIOException e) {
            return -1;
        }
    }

    /**
     * Waits until the slave has copied this class's topics from the master (it does every 10 s;
     * a slave serves pulls only of topics it knows): asks the slave (GET_ALL_TOPIC_CONFIG).
     */
    private void awaitSlaveKnowsTopics() throws InterruptedException {
        var api = producer.getDefaultMQProducerImpl().getmQClientFactory().getMQClientAPIImpl();
        await("the slave copies the topic configuration (every 10 s)", () -> {
            try {
                var table = api.getAllTopicConfig(cluster.slaveAddr(), 3000).getTopicConfigTable();
                return table.containsKey(TOPIC) && table.containsKey(TOPIC_READ);
            } catch (Exception e) {
                return false;
            }
        });
    }

    private DefaultMQAdminExt admin() throws Exception {
        if (admin == null) {
            DefaultMQAdminExt a = configure(new DefaultMQAdminExt());
            a.setAdminExtGroup(uniq("cj_repl_admin"));
            a.start();
            closeLater(a::shutdown);
            admin = a;
        }
        return admin;
    }

    /** Messages of topic@group the broker at addr served (its GROUP_GET_NUMS), 0 when it has none. */
    private long served(String addr, String topic, String group) throws Exception {
        try {
            var d = admin().viewBrokerStatsData(addr, "GROUP_GET_NUMS", topic + "@" + group);
            return d.getStatsDay().getSum();
        } catch (Exception e) {
            if (String.valueOf(e.getMessage()).contains("not exist")) {
                return 0;
            }
            throw e;
        }
    }

    private void slaveRead(boolean on) throws Exception {
        Properties p = new Properties();
        p.setProperty("slaveReadEnable", Boolean.toString(on));
        admin().updateBrokerConfig(cluster.brokerAddr(), p);
        admin().updateBrokerConfig(cluster.slaveAddr(), p);
    }

    private DefaultMQPushConsumer collecting(String group, String topic, Set<String> into, Consumer<String> onEach)
            throws Exception {
        DefaultMQPushConsumer c = pushConsumer(group);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                into.add(m.getKeys());
                onEach.accept(m.getKeys());
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        return c;
    }

    private Set<String> send(String topic, String prefix, int n, SendStatus want) throws Exception {
        Set<String> keys = new TreeSet<>();
        for (int i = 0; i < n; i++) {
            String k = prefix + "-" + i;
            SendResult r = producer.send(new Message(topic, "repl", k, utf8("replicated " + k)));
            assertEquals(want, r.getSendStatus(), "send of " + k + ": " + r);
            keys.add(k);
        }
        return keys;
    }

    @Test
    @Order(1)
    void syncMasterAnswersSendOkWithSlaveAndSlaveNotAvailableWithout() throws Exception {
        createTopic(TOPIC, 4);
        createTopic(TOPIC_READ, 4);
        Path masterLog = cluster.dir.resolve("broker.log");
        await("the slave connects to the master's HA port", () -> countLines(masterLog, "connected: shipping from") > 0);
        producer = producer(uniq("pg_repl"));
        acked.addAll(send(TOPIC, "a", 20, SendStatus.SEND_OK));

        // control: the same SYNC_MASTER configuration without a slave
        try (KiteCluster solo = KiteCluster.start("ReplicationTestSolo", brokerConfig(), false)) {
            DefaultMQProducer p = new DefaultMQProducer(uniq("pg_repl_solo"));
            p.setNamesrvAddr(solo.nameSrv());
            p.setInstanceName(uniq("cj_solo"));
            p.setSendMsgTimeout(10_000);
            p.start();
            try {
                SendResult r = p.send(new Message("ReplSolo", "repl", "solo-0", utf8("no slave")));
                assertEquals(SendStatus.SLAVE_NOT_AVAILABLE, r.getSendStatus(), "send without a slave: " + r);
                // stored all the same: the answer names the message and its place
                assertNotNull(r.getMsgId());
                assertEquals(0, r.getQueueOffset());
            } finally {
                p.shutdown();
            }
        }
    }

    @Test
    @Order(2)
    void slaveReadEnableSendsALaggingConsumerToTheSlave() throws Exception {
        awaitSlaveKnowsTopics();
        String g0 = uniq("cg_repl_master");
        String g1 = uniq("cg_repl_slave");
        // control: slaveReadEnable=false (the default), every pull is answered by the master
        Set<String> first = send(TOPIC_READ, "r", 20, SendStatus.SEND_OK);
        Set<String> got0 = ConcurrentHashMap.newKeySet();
        collecting(g0, TOPIC_READ, got0, k -> { });
        await(g0 + " consumes " + first, () -> got0.containsAll(first));
        Set<String> more = send(TOPIC_READ, "s", 20, SendStatus.SEND_OK);
        await(g0 + " consumes " + more, () -> got0.containsAll(more));
        assertEquals(0, served(cluster.slaveAddr(), TOPIC_READ, g0), "messages the slave served to " + g0);
        assertTrue(served(cluster.brokerAddr(), TOPIC_READ, g0) >= 40, "the master served " + g0);

        slaveRead(true);
        try {
            // a new group starts 40 messages behind: its first pulls (on the master) are "slow"
            // and suggest the slave, which serves the rest
            Set<String> got1 = ConcurrentHashMap.newKeySet();
            collecting(g1, TOPIC_READ, got1, k -> { });
            Set<String> all = new TreeSet<>(first);
            all.addAll(more);
            await(g1 + " consumes the 40 messages", () -> got1.containsAll(all));
            Set<String> last = send(TOPIC_READ, "t", 20, SendStatus.SEND_OK);
            await(g1 + " consumes " + last, () -> got1.containsAll(last));
            long onSlave = served(cluster.slaveAddr(), TOPIC_READ, g1);
            long onMaster = served(cluster.brokerAddr(), TOPIC_READ, g1);
            System.out.println("[ReplicationTest " + encoding() + "] " + g1 + ": master served " + onMaster
                    + ", slave served " + onSlave);
            assertTrue(onSlave > 0, "the slave served " + g1 + " (the master served " + onMaster + ")");
            assertTrue(onMaster + onSlave >= 60, "served to " + g1 + ": master " + onMaster + " + slave " + onSlave);
        } finally {
            slaveRead(false);
        }
    }

    @Test
    @Order(3)
    void masterKilledConsumerKeepsConsumingFromSlave() throws Exception {
        assertEquals(20, acked.size(), "the first scenario's SEND_OK messages");
        producer.setRetryTimesWhenSendFailed(2); // Java's default, stated: a failed attempt goes to another group
        awaitSlaveKnowsTopics();
        Set<String> got = ConcurrentHashMap.newKeySet();
        AtomicBoolean masterDead = new AtomicBoolean();
        AtomicInteger afterKill = new AtomicInteger();
        // deliveries, after the kill, of messages stored on the killed master (the "b" batch)
        DefaultMQPushConsumer c = collecting(uniq("cg_repl"), TOPIC, got, k -> {
            if (masterDead.get() && k.startsWith("b-")) {
                afterKill.incrementAndGet();
            }
        });
        Set<String> before = new TreeSet<>(acked);
        await("the consumer gets the first 20 from the master", () -> got.containsAll(before));
        // no new pulls while the next messages are sent (a long poll under way may still answer)
        c.suspend();
        acked.addAll(send(TOPIC, "b", 30, SendStatus.SEND_OK));
        // a second group (an ASYNC_MASTER without a slave) with the topic; the producer learns
        // it from a route poll: wait until a send lands there
        String group2 = cluster.brokerName + "2";
        Map<String, String> g2 = new HashMap<>();
        g2.put("brokerRole", "ASYNC_MASTER");
        String addr2 = cluster.startSecondGroup(g2);
        admin().createAndUpdateTopicConfig(addr2, new TopicConfig(TOPIC, 4, 4, 6));
        AtomicInteger probe = new AtomicInteger();
        await("the producer sends to " + group2, () -> {
            try {
                String k = "p-" + probe.getAndIncrement();
                SendResult r = producer.send(new Message(TOPIC, "repl", k, utf8("probe " + k)));
                if (r.getSendStatus() == SendStatus.SEND_OK) {
                    acked.add(k);
                }
                return r.getMessageQueue().getBrokerName().equals(group2);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long pid = cluster.killMaster();
        masterDead.set(true);
        // the producer goes on: every send succeeds, on the second group
        for (int i = 0; i < 20; i++) {
            String k = "c-" + i;
            SendResult r = producer.send(new Message(TOPIC, "repl", k, utf8("after the kill " + k)));
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "send of " + k + " after the kill: " + r);
            assertEquals(group2, r.getMessageQueue().getBrokerName(), "send of " + k + " after the kill");
            acked.add(k);
        }
        c.resume();
        await("every SEND_OK message consumed after the master (pid " + pid + ") was killed", 60_000,
                () -> got.containsAll(acked));
        System.out.println("[ReplicationTest " + encoding() + "] " + probe.get() + " send(s) until the second group was used; "
                + afterKill.get() + " deliveries of the dead master's messages after the kill");
        assertTrue(afterKill.get() > 0, "messages of the killed master consumed after its death");
        // a group that never saw the master reads everything from the slave
        Set<String> fresh = ConcurrentHashMap.newKeySet();
        collecting(uniq("cg_repl_new"), TOPIC, fresh, k -> { });
        await("a new group gets every SEND_OK message from the slave", 60_000, () -> fresh.containsAll(acked));
        assertEquals(acked, new TreeSet<>(fresh));
    }
}
