// Base of every scenario class: one KiteMQ cluster per class (broker keys from
// brokerConfig()), unique topic and group names, Java clients configured for that cluster
// and shut down together when the class ends, waits with generous deadlines, a raw reader of a topic
// (DefaultMQPullConsumer from offset 0) and the few calls whose signatures differ between
// the 4.x and 5.x clients (createTopic, MessageModel), made by reflection.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.apache.rocketmq.client.ClientConfig;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.consumer.PullStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.RPCHook;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(Base.Watch.class)
abstract class Base {
    /** Generous deadline for anything that should happen "soon". */
    static final long WAIT_MS = 30_000;

    private static final AtomicInteger SEQ = new AtomicInteger();

    protected KiteCluster cluster;
    /** Further clusters the class started (startAnotherCluster), stopped with the class's own. */
    private final List<KiteCluster> others = Collections.synchronizedList(new ArrayList<>());
    /** The class's raw reader (readTopic) and topic creator (createTopic), started on first use. */
    private DefaultMQPullConsumer reader;
    private DefaultMQProducer admin;
    private final List<AutoCloseable> open = Collections.synchronizedList(new ArrayList<>());

    /** Extra broker configuration keys for this class's cluster. */
    protected Map<String, String> brokerConfig() {
        return new HashMap<>();
    }

    /**
     * The RPC hook of the class's own topic creator and raw reader: none by default; a class
     * whose broker checks ACL gives its admin account's AclClientRPCHook.
     */
    protected RPCHook adminHook() {
        return null;
    }

    /** Whether this class's cluster has a slave (brokerId 1) besides the master. */
    protected boolean withSlave() {
        return false;
    }

    /**
     * Adjusts the keys of this class's daemons once the cluster's address is chosen (nothing by
     * default; TlsTest adds certificates naming the address).
     */
    protected void prepareCluster(KiteCluster c, Map<String, String> brokerKeys, Map<String, String> namesrvKeys)
            throws Exception {
    }

    @BeforeAll
    void startCluster() throws Exception {
        cluster = KiteCluster.start(getClass().getSimpleName(), brokerConfig(), withSlave(), this::prepareCluster);
    }

    /**
     * Starts another cluster for this class (configure(client, it) points clients at it); it is
     * stopped when the class ends, after the clients, like the class's own.
     */
    protected KiteCluster startAnotherCluster(String name, Map<String, String> brokerKeys, KiteCluster.Prepare prepare)
            throws Exception {
        KiteCluster k = KiteCluster.start(name, brokerKeys, false, prepare);
        others.add(k);
        return k;
    }

    private static void closeAll(List<AutoCloseable> all) throws Exception {
        List<Thread> ts = new ArrayList<>();
        List<Exception> errs = Collections.synchronizedList(new ArrayList<>());
        for (AutoCloseable c : all) {
            Thread t = new Thread(() -> {
                try {
                    c.close();
                } catch (Exception e) {
                    errs.add(e);
                }
            });
            t.start();
            ts.add(t);
        }
        for (Thread t : ts) {
            t.join();
        }
        if (!errs.isEmpty()) {
            throw errs.get(0);
        }
    }

    /**
     * Shuts every client of the class down at once, then the daemons. Clients live until the
     * class ends (their topics and groups are the test's own): a 5.x client's shutdown waits
     * ~3 s for its event thread, so shutting them down test by test would add up.
     */
    @AfterAll
    void stopCluster() throws Exception {
        List<AutoCloseable> all;
        synchronized (open) {
            all = new ArrayList<>(open);
            open.clear();
        }
        List<AutoCloseable> clusters = new ArrayList<>(others);
        if (cluster != null) {
            clusters.add(cluster);
        }
        try {
            closeAll(all);
        } finally {
            closeAll(clusters);
        }
    }

    /** On a failure, print the daemons' log tails and keep the cluster's directory. */
    static final class Watch implements TestWatcher {
        @Override
        public void testFailed(ExtensionContext ctx, Throwable cause) {
            ctx.getTestInstance().ifPresent(t -> {
                List<KiteCluster> all = new ArrayList<>(((Base) t).others);
                all.add(0, ((Base) t).cluster);
                for (KiteCluster c : all) {
                    if (c == null) {
                        continue;
                    }
                    c.markFailed();
                    System.err.println("[" + ctx.getDisplayName() + " failed; client " + System.getenv("KITE_CJ_CLIENT")
                            + ", encoding " + encoding() + ", logs in " + c.dir + "]\n" + c.logTail(40));
                }
            });
        }
    }

    static String encoding() {
        return System.getProperty("kite.encoding", "JSON");
    }

    static String uniq(String prefix) {
        return prefix + "_" + encoding() + "_" + SEQ.incrementAndGet();
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String str(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Settings shared by every client: this cluster, its own client instance, quick route polls. */
    protected <T extends ClientConfig> T configure(T c) {
        return configure(c, cluster);
    }

    /** The same settings for another cluster {@code k} a class starts itself. */
    protected static <T extends ClientConfig> T configure(T c, KiteCluster k) {
        c.setNamesrvAddr(k.nameSrv());
        c.setInstanceName("cj" + k.brokerPort + "_" + SEQ.incrementAndGet());
        c.setPollNameServerInterval(1000);
        return c;
    }

    /** Shuts {@code c} down when the class ends, with the class's clients. */
    protected void closeLater(AutoCloseable c) {
        open.add(c);
    }

    protected DefaultMQProducer producer(String group) throws Exception {
        return producer(new DefaultMQProducer(group));
    }

    protected <P extends DefaultMQProducer> P producer(P p) throws Exception {
        return producer(p, cluster);
    }

    /** A producer of cluster {@code k}, started. */
    protected <P extends DefaultMQProducer> P producer(P p, KiteCluster k) throws Exception {
        configure(p, k);
        p.setSendMsgTimeout(10_000);
        p.start();
        open.add(p::shutdown);
        return p;
    }

    protected TransactionMQProducer startTransactional(TransactionMQProducer p) throws Exception {
        return producer(p);
    }

    /** A push consumer, configured but not started: subscribe and register a listener first. */
    protected DefaultMQPushConsumer pushConsumer(String group) {
        return pushConsumer(new DefaultMQPushConsumer(group));
    }

    protected DefaultMQPushConsumer pushConsumer(DefaultMQPushConsumer c) {
        configure(c);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        open.add(c::shutdown);
        return c;
    }

    /** A listener that adds the keys of every message it gets to {@code into} and consumes it. */
    static MessageListenerConcurrently keysInto(Set<String> into) {
        return (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                into.add(m.getKeys());
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        };
    }

    protected DefaultLitePullConsumer litePull(String group) {
        DefaultLitePullConsumer c = configure(new DefaultLitePullConsumer(group));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setPollTimeoutMillis(1000);
        open.add(c::shutdown);
        return c;
    }

    /**
     * Creates a topic with {@code queues} queues through the broker (UPDATE_AND_CREATE_TOPIC, the
     * client's createTopic) and waits for its route. Create topics before the clients that use
     * them start: a client that looks a missing topic up caches TBW102's queue count for it.
     */
    protected void createTopic(String topic, int queues) throws Exception {
        DefaultMQProducer p;
        synchronized (this) {
            if (admin == null) {
                admin = producer(new DefaultMQProducer(uniq("pg_admin"), adminHook()));
            }
            p = admin;
        }
        createTopic(p, topic, queues);
    }

    /**
     * Creates {@code topic} through producer {@code p}'s broker(s) and waits for its route; tried
     * again while the name server has no route for TBW102 yet (a broker still registering).
     */
    protected void createTopic(DefaultMQProducer p, String topic, int queues) throws Exception {
        Method m3 = null;
        Method m4 = null;
        for (Method m : DefaultMQProducer.class.getMethods()) {
            if (!m.getName().equals("createTopic")) {
                continue;
            }
            Class<?>[] t = m.getParameterTypes();
            if (t.length == 3 && t[2] == int.class) {
                m3 = m;
            } else if (t.length == 4 && t[2] == int.class && t[3] == Map.class) {
                m4 = m;
            }
        }
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            try {
                if (m3 != null) {
                    m3.invoke(p, "TBW102", topic, queues);
                } else {
                    m4.invoke(p, "TBW102", topic, queues, new HashMap<String, String>());
                }
                break;
            } catch (InvocationTargetException e) {
                // the client finds the brokers through TBW102's route: right after the cluster
                // starts, the broker may not have registered with the name server yet (17)
                if (!topicNotExist(e.getCause()) || System.currentTimeMillis() > deadline) {
                    throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
                }
                Thread.sleep(100);
            }
        }
        await("route of " + topic + " with " + queues + " queues", () -> {
            try {
                return p.fetchPublishMessageQueues(topic).size() == queues;
            } catch (Exception e) {
                return false;
            }
        });
    }

    private static boolean topicNotExist(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof MQClientException && ((MQClientException) t).getResponseCode() == 17) {
                return true;
            }
        }
        return false;
    }

    /**
     * Waits until a clustering push consumer pulls its group's retry queue: the client learns
     * %RETRY%group (created by the broker on its first heartbeat) from a later route poll and
     * takes it at the next rebalance, which can be its 20 s periodic one.
     */
    protected void awaitRetryQueue(DefaultMQPushConsumer c) throws InterruptedException {
        await("the consumer pulls %RETRY%" + c.getConsumerGroup(), () -> c.getDefaultMQPushConsumerImpl()
                .getRebalanceImpl().getProcessQueueTable().keySet().stream()
                .anyMatch(q -> q.getTopic().startsWith("%RETRY%")));
    }

    /** A client call that may throw. */
    interface Call {
        void run() throws Exception;
    }

    /**
     * Runs a DefaultLitePullConsumer seek (seek, seekToBegin), retried: the 5.x client's seek
     * interrupts the queue's pull task in the middle of its request, and the client then closes
     * the connection that every request to that broker shares, so a seek (or any call) right
     * after another can fail to send.
     */
    protected static void seeking(Call seek) throws Exception {
        for (int attempt = 1;; attempt++) {
            try {
                seek.run();
                return;
            } catch (Exception e) {
                if (attempt >= 5 || !sendFailure(e)) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
    }

    private static boolean sendFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getClass().getSimpleName().equals("RemotingSendRequestException")
                    || t.getClass().getSimpleName().equals("RemotingConnectException")) {
                return true;
            }
        }
        return false;
    }

    /** setMessageModel: the enum moved from org.apache.rocketmq.common.protocol (4.x) to .remoting.protocol (5.x). */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static void messageModel(Object consumer, String model) throws Exception {
        for (Method m : consumer.getClass().getMethods()) {
            if (m.getName().equals("setMessageModel") && m.getParameterCount() == 1) {
                Class<? extends Enum> e = (Class<? extends Enum>) m.getParameterTypes()[0];
                m.invoke(consumer, Enum.valueOf(e, model));
                return;
            }
        }
        throw new IllegalStateException("no setMessageModel on " + consumer.getClass());
    }

    /** Waits until {@code cond} holds, failing with {@code what} after WAIT_MS. */
    protected void await(String what, BooleanSupplier cond) throws InterruptedException {
        await(what, WAIT_MS, cond);
    }

    protected void await(String what, long timeoutMs, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (!cond.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out after " + timeoutMs + " ms waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    /**
     * Reads every queue of {@code topic} from offset 0 with raw pulls until {@code done} holds for
     * everything read so far (re-reading from the start each round), or WAIT_MS passes.
     */
    protected List<MessageExt> readTopic(String topic, Predicate<List<MessageExt>> done) throws Exception {
        DefaultMQPullConsumer c;
        synchronized (this) {
            if (reader == null) {
                DefaultMQPullConsumer r = configure(new DefaultMQPullConsumer(uniq("cj_reader"), adminHook()));
                r.start();
                open.add(r::shutdown);
                reader = r;
            }
            c = reader;
        }
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            List<MessageExt> all = new ArrayList<>();
            Set<MessageQueue> mqs = Collections.emptySet();
            try {
                mqs = new TreeSet<>(c.fetchSubscribeMessageQueues(topic));
            } catch (Exception e) {
                // no route yet
            }
            for (MessageQueue mq : mqs) {
                long off = 0;
                while (true) {
                    PullResult r = c.pull(mq, "*", off, 32, 3000);
                    if (r.getPullStatus() != PullStatus.FOUND) {
                        break;
                    }
                    all.addAll(r.getMsgFoundList());
                    off = r.getNextBeginOffset();
                }
            }
            if (done.test(all)) {
                return all;
            }
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out reading " + topic + ": " + all.size() + " messages: "
                        + describe(all));
            }
            Thread.sleep(100);
        }
    }

    protected List<MessageExt> readTopic(String topic, int count) throws Exception {
        List<MessageExt> all = readTopic(topic, l -> l.size() >= count);
        assertEquals(count, all.size(), "messages in " + topic + ": " + describe(all));
        return all;
    }

    static String describe(List<MessageExt> l) {
        StringBuilder sb = new StringBuilder("[");
        for (MessageExt m : l) {
            if (sb.length() > 1) {
                sb.append(", ");
            }
            if (sb.length() > 2000) {
                sb.append("...");
                break;
            }
            sb.append(m.getQueueId()).append('@').append(m.getQueueOffset()).append(' ').append(m.getKeys())
                    .append('/').append(m.getTags());
        }
        return sb.append(']').toString();
    }

    static void assertBetween(long lo, long v, long hi, String what) {
        assertTrue(v >= lo && v <= hi, what + ": " + v + " not in [" + lo + ", " + hi + "]");
    }
}
