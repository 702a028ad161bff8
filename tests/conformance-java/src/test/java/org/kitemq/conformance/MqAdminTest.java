// Apache RocketMQ's own mqadmin (rocketmq-tools, MQAdminStartup.main0, in this JVM) against
// a KiteMQ name server, master and slave: 32 subcommands (the "mqadmin subcommands" table of
// docs/COMPATIBILITY.md) are run and each one's effect checked on the daemons (their files, a Java client's view, the messages a consumer
// receives), not just its output; the subcommands KiteMQ does not serve must fail with the
// broker's clear refusal. Each subcommand's output, normalised (addresses, times, ids and
// directories replaced), is written to $kite.mqadmin.out/<client>-<encoding>/ — the
// reference outputs in tests/conformance-java/mqadmin-golden/ are copies of those.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.tools.command.MQAdminStartup;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MqAdminTest extends Base {
    static final int N = 8;
    static final String DATA = "MqaData";
    static final String PGROUP = "MqaProducerGroup";
    static final String CGROUP = "MqaConsumerGroup";
    static final boolean RMQ5 = "rmq5".equals(System.getenv("KITE_CJ_CLIENT"));

    private DefaultMQProducer producer;
    private DefaultMQPushConsumer consumer;
    private final List<SendResult> sent = new ArrayList<>();
    private final Map<String, AtomicInteger> deliveries = new ConcurrentHashMap<>();
    private long beforeSend;

    @Override
    protected boolean withSlave() {
        return true;
    }

    @Override
    protected Map<String, String> brokerConfig() {
        Map<String, String> m = new HashMap<>();
        m.put("remoteConfigUpdateEnable", "true"); // updateBrokerConfig, for the safe keys only
        return m;
    }

    // ---- running mqadmin in this JVM ----

    /** What a subcommand printed. */
    record Out(String out, String err) {
        String all() {
            return out + err;
        }
    }

    /** Routes System.out/err of the thread running mqadmin into its buffers; others pass through. */
    private static final ThreadLocal<ByteArrayOutputStream[]> CAPTURE = new ThreadLocal<>();
    private static boolean routed;

    private static final class Router extends OutputStream {
        private final PrintStream orig;
        private final int which;

        Router(PrintStream orig, int which) {
            this.orig = orig;
            this.which = which;
        }

        @Override
        public void write(int b) {
            ByteArrayOutputStream[] c = CAPTURE.get();
            if (c != null) {
                c[which].write(b);
            } else {
                orig.write(b);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) {
            ByteArrayOutputStream[] c = CAPTURE.get();
            if (c != null) {
                c[which].write(b, off, len);
            } else {
                orig.write(b, off, len);
            }
        }

        @Override
        public void flush() {
            orig.flush();
        }
    }

    private static synchronized void route() {
        if (!routed) {
            // mqadmin calls System.exit on a command line it cannot parse: that becomes an
            // exception here (printed to the subcommand's stderr), not the end of this JVM
            System.setSecurityManager(new SecurityManager() {
                @Override
                public void checkPermission(java.security.Permission p) {
                }

                @Override
                public void checkExit(int status) {
                    if (CAPTURE.get() != null) {
                        throw new SecurityException("mqadmin called System.exit(" + status + ")");
                    }
                }
            });
            System.setOut(new PrintStream(new Router(System.out, 0), true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(new Router(System.err, 1), true, StandardCharsets.UTF_8));
            routed = true;
        }
    }

    /** Runs {@code mqadmin <args> -n <name server>} and saves its normalised output as {@code name}. */
    private Out mqadmin(String name, String... args) throws IOException {
        route();
        List<String> a = new ArrayList<>(Arrays.asList(args));
        if (!a.isEmpty()) {
            a.add("-n");
            a.add(cluster.nameSrv());
        }
        ByteArrayOutputStream[] bufs = {new ByteArrayOutputStream(), new ByteArrayOutputStream()};
        CAPTURE.set(bufs);
        long t0 = System.nanoTime();
        try {
            MQAdminStartup.main0(a.toArray(new String[0]), null);
        } finally {
            System.out.flush();
            System.err.flush();
            CAPTURE.remove();
        }
        Out o = new Out(bufs[0].toString(StandardCharsets.UTF_8), bufs[1].toString(StandardCharsets.UTF_8));
        if (System.getenv("KITE_CJ_MQADMIN_TIMES") != null) {
            System.err.printf("mqadmin %s: %d ms%n", name, (System.nanoTime() - t0) / 1_000_000);
        }
        save(name, a, o);
        return o;
    }

    /** A subcommand that must succeed: nothing on stderr (mqadmin prints a failure's stack trace there). */
    private Out ok(String name, String... args) throws IOException {
        Out o = mqadmin(name, args);
        assertEquals("", o.err(), "mqadmin " + String.join(" ", args) + " failed:\n" + o.all());
        return o;
    }

    private void save(String name, List<String> args, Out o) throws IOException {
        String dir = System.getProperty("kite.mqadmin.out");
        if (dir == null || dir.isEmpty()) {
            return;
        }
        Path d = Paths.get(dir, System.getenv().getOrDefault("KITE_CJ_CLIENT", "none") + "-" + encoding());
        Files.createDirectories(d);
        StringBuilder sb = new StringBuilder("$ mqadmin ").append(String.join(" ", args)).append('\n');
        sb.append(o.out());
        if (!o.out().isEmpty() && !o.out().endsWith("\n")) {
            sb.append('\n');
        }
        if (!o.err().isEmpty()) {
            // stack frames outside mqadmin (the test's, JUnit's, the JDK's) left out
            sb.append("--- stderr ---\n");
            for (String l : o.err().split("\n")) {
                if (!l.startsWith("\tat ") || l.contains("org.apache.rocketmq.")) {
                    sb.append(l).append('\n');
                }
            }
        }
        Files.write(d.resolve(name + ".txt"), normalise(sb.toString()).getBytes(StandardCharsets.UTF_8));
    }

    private static final Pattern TIME = Pattern.compile("\\d{4}-\\d{2}-\\d{2}[ #]\\d{2}:\\d{2}:\\d{2}([,.:]\\d{3})?");
    private static final Pattern EPOCH_MS = Pattern.compile("\\b1\\d{12}\\b");
    private static final Pattern MSG_ID = Pattern.compile("\\b[0-9A-F]{32,}\\b");
    private static final Pattern CLIENT_ID = Pattern.compile("\\b\\d+\\.\\d+\\.\\d+\\.\\d+@[\\w.#-]+");
    private static final Pattern ADDR = Pattern.compile("\\b\\d+\\.\\d+\\.\\d+\\.\\d+:\\d+\\b");

    /** Addresses, directories, client ids, message ids, times and instants replaced by names. */
    String normalise(String s) {
        s = s.replace(cluster.dir.toString(), "<DIR>");
        s = s.replace(cluster.nameSrv(), "<NAMESRV>");
        s = s.replace(cluster.slaveAddr(), "<SLAVE>");
        s = s.replace(cluster.host + ":" + (cluster.brokerPort + 1), "<MASTER_HA>");
        s = s.replace(cluster.brokerAddr(), "<MASTER>");
        s = CLIENT_ID.matcher(s).replaceAll("<CLIENT_ID>");
        s = ADDR.matcher(s).replaceAll("<ADDR>");
        s = s.replace(cluster.host, "<HOST>");
        s = TIME.matcher(s).replaceAll("<TIME>");
        s = EPOCH_MS.matcher(s).replaceAll("<MS>");
        s = MSG_ID.matcher(s).replaceAll("<MSGID>");
        return s;
    }

    // ---- parsing helpers ----

    /** The whitespace-separated columns of the output lines whose first column is {@code first}. */
    static List<String[]> rows(Out o, String first) {
        List<String[]> r = new ArrayList<>();
        for (String l : o.out().split("\n")) {
            String[] c = l.trim().split("\\s+");
            if (c.length > 0 && c[0].equals(first)) {
                r.add(c);
            }
        }
        return r;
    }

    /** The value of a "key : value" / "key = value" line. */
    static String value(Out o, String key) {
        for (String l : o.out().split("\n")) {
            Matcher m = Pattern.compile("^\\s*" + Pattern.quote(key) + "\\s*[:=]\\s*(.*?)\\s*$").matcher(l);
            if (m.find()) {
                return m.group(1);
            }
        }
        return null;
    }

    private Path masterStore() {
        return cluster.dir.resolve("store");
    }

    private String file(Path p) {
        try {
            return Files.exists(p) ? new String(Files.readAllBytes(p), StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "";
        }
    }

    private String topicsJson() {
        return file(masterStore().resolve("config").resolve("topics.json"));
    }

    private String groupsJson() {
        return file(masterStore().resolve("config").resolve("subscriptionGroup.json"));
    }

    /** Whether the master's topics.json gives topic perm 4 (read only); the entry may hold
     *  one level of nested objects ("attributes":{}). */
    private boolean perm4(String topic) {
        Matcher m = Pattern.compile("\"" + topic + "\"\\s*:\\s*\\{((?:[^{}]|\\{[^{}]*\\})*)\\}").matcher(topicsJson());
        return m.find() && m.group(1).replaceAll("\\s", "").contains("\"perm\":4");
    }

    /** The route's perm for topic on the name server, as a Java client reads it. */
    private int routePerm(String topic) throws Exception {
        var api = producer.getDefaultMQProducerImpl().getmQClientFactory().getMQClientAPIImpl();
        return api.getTopicRouteInfoFromNameServer(topic, 5000).getQueueDatas().get(0).getPerm();
    }

    // ---- the cluster's data: a topic with N messages, a producer and a consumer that read them ----

    @BeforeAll
    void data() throws Exception {
        createTopic(DATA, 4);
        producer = producer(PGROUP);
        beforeSend = System.currentTimeMillis() - 1000;
        for (int i = 0; i < N; i++) {
            SendResult r = producer.send(new Message(DATA, "TagA", "mqa-key-" + i, utf8("mqa body " + i)));
            assertEquals(SendStatus.SEND_OK, r.getSendStatus());
            sent.add(r);
        }
        consumer = pushConsumer(CGROUP);
        consumer.setPersistConsumerOffsetInterval(1000);
        consumer.subscribe(DATA, "*");
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> deliveries.computeIfAbsent(m.getMsgId(), k -> new AtomicInteger()).incrementAndGet());
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        await("all " + N + " messages consumed", () -> deliveries.size() == N);
        // the slave is registered and has copied the master's commit log
        await("the slave registered and caught up", () -> {
            try {
                Out o = mqadmin("brokerStatus-slave", "brokerStatus", "-b", cluster.slaveAddr());
                Out m = mqadmin("brokerStatus", "brokerStatus", "-b", cluster.brokerAddr());
                String so = value(o, "commitLogMaxOffset");
                return so != null && so.equals(value(m, "commitLogMaxOffset"));
            } catch (IOException e) {
                return false;
            }
        });
    }

    // ---- cluster ----

    @Test
    @Order(1)
    void clusterListShowsTheGroupWithMasterAndSlave() throws Exception {
        // mqadmin without a subcommand lists them all (saved for reference, -n is ignored)
        assertTrue(ok("help", new String[0]).out().contains("clusterList"));
        Out o = ok("clusterList", "clusterList");
        List<String[]> r = rows(o, cluster.clusterName);
        assertEquals(2, r.size(), "two brokers in the cluster:\n" + o.out());
        // #Cluster Name #Broker Name #BID #Addr ...
        assertEquals(cluster.brokerName, r.get(0)[1]);
        assertEquals("0", r.get(0)[2]);
        assertEquals(cluster.brokerAddr(), r.get(0)[3]);
        assertEquals(cluster.brokerName, r.get(1)[1]);
        assertEquals("1", r.get(1)[2]);
        assertEquals(cluster.slaveAddr(), r.get(1)[3]);
    }

    @Test
    @Order(2)
    void brokerStatusOfMasterAndSlave() throws Exception {
        Out m = ok("brokerStatus", "brokerStatus", "-b", cluster.brokerAddr());
        assertEquals("ASYNC_MASTER", value(m, "brokerRole"), m.out());
        assertTrue(Long.parseLong(value(m, "msgPutTotalTodayNow")) >= N, m.out());
        Out s = ok("brokerStatus-slave", "brokerStatus", "-b", cluster.slaveAddr());
        assertEquals("SLAVE", value(s, "brokerRole"), s.out());
        assertEquals(value(m, "commitLogMaxOffset"), value(s, "commitLogMaxOffset"), "the slave holds the master's log");
    }

    // ---- topics ----

    @Test
    @Order(3)
    void topicLifecycle() throws Exception {
        String t1 = "MqaTopicB";
        String t2 = "MqaTopicC";
        Out o = ok("updateTopic-b", "updateTopic", "-b", cluster.brokerAddr(), "-t", t1, "-r", "3", "-w", "3");
        assertTrue(o.out().contains("success"), o.out());
        assertTrue(topicsJson().contains("\"" + t1 + "\""), "the master's topics.json has " + t1);
        await(t1 + " routed with 3 queues", () -> {
            try {
                return producer.fetchPublishMessageQueues(t1).size() == 3;
            } catch (Exception e) {
                return false;
            }
        });
        ok("updateTopic-c", "updateTopic", "-c", cluster.clusterName, "-t", t2, "-r", "2", "-w", "2", "-p", "4");
        assertTrue(topicsJson().contains("\"" + t2 + "\""), "the master's topics.json has " + t2);
        await(t2 + " routed read-only", () -> {
            try {
                return routePerm(t2) == 4;
            } catch (Exception e) {
                return false;
            }
        });

        Out list = ok("topicList", "topicList");
        List<String> names = Arrays.asList(list.out().split("\n"));
        assertTrue(names.contains(t1) && names.contains(t2) && names.contains(DATA), list.out());
        Out listc = ok("topicList-c", "topicList", "-c");
        assertEquals(1, rows(listc, cluster.clusterName).stream().filter(c -> c[1].equals(t1)).count(), listc.out());
        assertTrue(rows(listc, cluster.clusterName).stream().anyMatch(c -> c[1].equals(DATA) && c.length > 2
                && c[2].equals(CGROUP)), "topicList -c names the group consuming " + DATA + ":\n" + listc.out());

        Out route = ok("topicRoute", "topicRoute", "-t", t1);
        String r = route.out().replaceAll("\\s", "");
        assertTrue(r.contains("\"brokerAddrs\":{0:\"" + cluster.brokerAddr() + "\",1:\"" + cluster.slaveAddr() + "\"}"), r);
        assertTrue(r.contains("\"readQueueNums\":3") && r.contains("\"writeQueueNums\":3") && r.contains("\"perm\":6"), r);

        Out perm = ok("updateTopicPerm", "updateTopicPerm", "-b", cluster.brokerAddr(), "-t", t1, "-p", "4");
        assertTrue(perm.out().contains("success"), perm.out());
        assertTrue(perm4(t1), "the master's topics.json has " + t1 + " read-only: " + topicsJson());
        ok("updateTopicPerm-back", "updateTopicPerm", "-b", cluster.brokerAddr(), "-t", t1, "-p", "6");

        Out tc = ok("topicClusterList", "topicClusterList", "-t", t1);
        assertEquals(cluster.clusterName, tc.out().trim());

        Out del = ok("deleteTopic", "deleteTopic", "-c", cluster.clusterName, "-t", t2);
        assertTrue(del.out().contains("success"), del.out());
        assertFalse(topicsJson().contains("\"" + t2 + "\""), "gone from the master's topics.json");
        Out after = ok("topicList-after-delete", "topicList");
        assertFalse(Arrays.asList(after.out().split("\n")).contains(t2), after.out());
    }

    @Test
    @Order(4)
    void topicStatusCountsTheMessagesPerQueue() throws Exception {
        Out o = ok("topicStatus", "topicStatus", "-t", DATA);
        List<String[]> r = rows(o, cluster.brokerName);
        assertEquals(4, r.size(), o.out());
        long[] want = new long[4];
        sent.forEach(s -> want[s.getMessageQueue().getQueueId()]++);
        for (String[] c : r) { // #Broker Name #QID #Min Offset #Max Offset #Last Updated
            int q = Integer.parseInt(c[1]);
            assertEquals("0", c[2]);
            assertEquals(Long.toString(want[q]), c[3], "max offset of queue " + q + ":\n" + o.out());
        }
    }

    @Test
    @Order(5)
    void writePermWipedAndAdded() throws Exception {
        Out w = ok("wipeWritePerm", "wipeWritePerm", "-b", cluster.brokerName);
        assertTrue(w.out().contains("OK"), w.out());
        assertEquals(4, routePerm(DATA), "read-only on the name server");
        Out a = ok("addWritePerm", "addWritePerm", "-b", cluster.brokerName);
        assertTrue(a.out().contains("OK"), a.out());
        assertEquals(6, routePerm(DATA), "writable again");
    }

    // ---- groups ----

    @Test
    @Order(6)
    void subscriptionGroupCreatedAndDeleted() throws Exception {
        String g = "MqaGroupB";
        Out o = ok("updateSubGroup", "updateSubGroup", "-b", cluster.brokerAddr(), "-g", g, "-r", "5");
        assertTrue(o.out().contains("success"), o.out());
        String j = groupsJson().replaceAll("\\s", "");
        assertTrue(j.contains("\"groupName\":\"" + g + "\""), "subscriptionGroup.json has " + g + ": " + j);
        assertTrue(Pattern.compile("\"groupName\":\"" + g + "\"[^}]*\"retryMaxTimes\":5|\"retryMaxTimes\":5[^}]*\"groupName\":\"" + g + "\"")
                .matcher(j).find(), "with retryMaxTimes 5: " + j);
        Out d = ok("deleteSubGroup", "deleteSubGroup", "-b", cluster.brokerAddr(), "-g", g);
        assertTrue(d.out().contains("success"), d.out());
        assertFalse(groupsJson().contains("\"" + g + "\""), "gone from subscriptionGroup.json");
    }

    // ---- configuration ----

    @Test
    @Order(7)
    void brokerConfigReadAndUpdated() throws Exception {
        Out o = ok("getBrokerConfig", "getBrokerConfig", "-b", cluster.brokerAddr());
        assertEquals(cluster.brokerName, value(o, "brokerName"), o.out());
        assertEquals(cluster.clusterName, value(o, "brokerClusterName"), o.out());
        assertEquals("80000", value(o, "maxIndexNum"), o.out());
        Out u = ok("updateBrokerConfig", "updateBrokerConfig", "-b", cluster.brokerAddr(), "-k",
                "flushConsumerOffsetInterval", "-v", "4321");
        assertTrue(u.out().contains("success"), u.out());
        assertEquals("4321", value(ok("getBrokerConfig-after", "getBrokerConfig", "-b", cluster.brokerAddr()),
                "flushConsumerOffsetInterval"));
        // a key that cannot change at run time: refused by name, nothing changed
        Out bad = mqadmin("updateBrokerConfig-refused", "updateBrokerConfig", "-b", cluster.brokerAddr(), "-k",
                "listenPort", "-v", "1");
        assertTrue(bad.err().contains("CODE: 16") && bad.err().contains("listenPort"), bad.all());
        assertEquals(Integer.toString(cluster.brokerPort),
                value(ok("getBrokerConfig-after-refused", "getBrokerConfig", "-b", cluster.brokerAddr()), "listenPort"));
    }

    @Test
    @Order(8)
    void nameServerConfigAndKv() throws Exception {
        Out o = ok("getNamesrvConfig", "getNamesrvConfig");
        assertEquals(Integer.toString(cluster.namesrvPort), value(o, "listenPort"), o.out());
        Path kv = cluster.dir.resolve("namesrv").resolve("kvConfig.json");
        assertEquals(kv.toString(), value(o, "kvConfigPath"), o.out());
        ok("updateKvConfig", "updateKvConfig", "-s", "MqaNamespace", "-k", "mqaKey", "-v", "mqaValue");
        assertTrue(file(kv).contains("mqaValue"), "kvConfig.json holds the value: " + file(kv));
        ok("deleteKvConfig", "deleteKvConfig", "-s", "MqaNamespace", "-k", "mqaKey");
        assertFalse(file(kv).contains("mqaKey"), "kvConfig.json lost the key: " + file(kv));
    }

    // ---- messages ----

    @Test
    @Order(9)
    void messagesFoundByIdKeyAndOffset() throws Exception {
        SendResult s = sent.get(3);
        // 5.x takes the topic (-t) and either id; 4.x has no -t and takes the offset id only
        Out id = RMQ5 ? ok("queryMsgById", "queryMsgById", "-t", DATA, "-i", s.getMsgId())
                : ok("queryMsgById", "queryMsgById", "-i", s.getOffsetMsgId());
        assertEquals("[mqa-key-3]", value(id, "Keys"), id.out());
        assertEquals(DATA, value(id, "Topic"), id.out());
        assertEquals(s.getOffsetMsgId(), value(id, "OffsetID"), id.out());
        assertEquals(Long.toString(s.getQueueOffset()), value(id, "Queue Offset"), id.out());
        // the body mqadmin saved is the message's
        Path body = Paths.get(value(id, "Message Body Path"));
        assertEquals("mqa body 3", file(body));
        Files.deleteIfExists(body);

        Out key = ok("queryMsgByKey", "queryMsgByKey", "-t", DATA, "-k", "mqa-key-5");
        List<String[]> r = rows(key, sent.get(5).getMsgId());
        assertEquals(1, r.size(), key.out());
        assertEquals(Integer.toString(sent.get(5).getMessageQueue().getQueueId()), r.get(0)[1]);
        assertEquals(Long.toString(sent.get(5).getQueueOffset()), r.get(0)[2]);

        Out uk = ok("queryMsgByUniqueKey", "queryMsgByUniqueKey", "-t", DATA, "-i", sent.get(6).getMsgId());
        assertEquals("[mqa-key-6]", value(uk, "Keys"), uk.out());
        Files.deleteIfExists(Paths.get(value(uk, "Message Body Path")));

        SendResult s7 = sent.get(7);
        Out off = ok("queryMsgByOffset", "queryMsgByOffset", "-t", DATA, "-b", cluster.brokerName, "-i",
                Integer.toString(s7.getMessageQueue().getQueueId()), "-o", Long.toString(s7.getQueueOffset()));
        assertEquals("[mqa-key-7]", value(off, "Keys"), off.out());
        assertEquals(s7.getOffsetMsgId(), value(off, "OffsetID"), off.out());
        Path b7 = Paths.get(value(off, "Message Body Path"));
        assertEquals("mqa body 7", file(b7));
        Files.deleteIfExists(b7);

        // sendMessage: one message into a topic of its own, read back by a Java client
        String st = "MqaSendTopic";
        createTopic(st, 1);
        Out sm = ok("sendMessage", "sendMessage", "-t", st, "-p", "sent by mqadmin", "-k", "mqa-sent", "-c", "TagS");
        assertTrue(sm.out().contains("SEND_OK"), sm.out());
        var got = readTopic(st, 1).get(0);
        assertEquals("sent by mqadmin", str(got.getBody()));
        assertEquals("mqa-sent", got.getKeys());
        assertEquals("TagS", got.getTags());

        Out p = ok("printMsg", "printMsg", "-t", DATA);
        for (int i = 0; i < N; i++) {
            assertTrue(p.out().contains("MSGID: " + sent.get(i).getMsgId()) && p.out().contains("BODY: mqa body " + i),
                    "printMsg shows message " + i + ":\n" + p.out());
        }
    }

    // ---- consumers and producers ----

    @Test
    @Order(10)
    void consumerProgressConnectionsAndStats() throws Exception {
        // the consumer's committed offsets, as the broker reports them
        AtomicInteger total = new AtomicInteger();
        Out[] last = new Out[1];
        await("consumerProgress shows all " + N + " messages committed", () -> {
            try {
                last[0] = mqadmin("consumerProgress", "consumerProgress", "-g", CGROUP);
                if (!last[0].err().isEmpty()) {
                    return false; // 206 until the consumer's first offsets are committed
                }
                long sum = 0;
                boolean ends = true;
                for (String[] c : rows(last[0], DATA)) { // #Topic #Broker Name #QID #Broker Offset #Consumer Offset
                    sum += Long.parseLong(c[4]);
                    ends &= c[3].equals(c[4]);
                }
                total.set((int) sum);
                return ends && sum == N && rows(last[0], DATA).size() == 4;
            } catch (IOException e) {
                return false;
            }
        });
        assertTrue(last[0].out().contains("Diff Total: 0"), last[0].out());

        Out cc = ok("consumerConnection", "consumerConnection", "-g", CGROUP);
        assertTrue(cc.out().contains(consumer.buildMQClientId()), "lists the consumer:\n" + cc.out());
        assertTrue(rows(cc, DATA).stream().anyMatch(c -> c[1].equals("*")), "with its subscription:\n" + cc.out());
        assertEquals("CONSUME_PASSIVELY", value(cc, "ConsumeType"), cc.out());
        assertEquals("CLUSTERING", value(cc, "MessageModel"), cc.out());

        Out pc = ok("producerConnection", "producerConnection", "-g", PGROUP, "-t", DATA);
        assertTrue(pc.out().contains(producer.buildMQClientId()), "lists the producer:\n" + pc.out());

        Out bcs = ok("brokerConsumeStats", "brokerConsumeStats", "-b", cluster.brokerAddr());
        List<String[]> r = rows(bcs, DATA);
        assertEquals(4, r.stream().filter(c -> c[1].equals(CGROUP)).count(), bcs.out());
        assertTrue(bcs.out().contains("Diff Total: 0"), bcs.out());

        Out st = ok("statsAll", "statsAll", "-t", DATA);
        List<String[]> sr = rows(st, DATA);
        assertEquals(1, sr.size(), st.out());
        assertEquals(CGROUP, sr.get(0)[1], st.out());
        assertEquals("0", sr.get(0)[2], "accumulation 0:\n" + st.out());
    }

    @Test
    @Order(11)
    void resetOffsetByTimeRedeliversEverything() throws Exception {
        Out o = ok("resetOffsetByTime", "resetOffsetByTime", "-g", CGROUP, "-t", DATA, "-s", Long.toString(beforeSend));
        List<String[]> r = rows(o, cluster.brokerName); // #brokerName #queueId #offset
        assertEquals(4, r.size(), "one line per queue:\n" + o.out());
        assertTrue(r.stream().allMatch(c -> c[2].equals("0")), "every queue back to 0:\n" + o.out());
        await("every message delivered a second time", () -> deliveries.values().stream().allMatch(c -> c.get() >= 2));
    }

    // ---- store maintenance, metadata export and what KiteMQ does not serve ----

    @Test
    @Order(12)
    void storeMaintenanceAndExport() throws Exception {
        Out d = ok("deleteExpiredCommitLog", "deleteExpiredCommitLog", "-b", cluster.brokerAddr());
        assertTrue(d.out().contains("success"), d.out());

        Path exp = cluster.dir.resolve("export");
        ok("exportMetadata-t", "exportMetadata", "-b", cluster.brokerAddr(), "-t", "-f", exp.toString());
        String j = file(exp.resolve("topic.json")).replaceAll("\\s", "");
        assertTrue(j.contains("\"" + DATA + "\""), "the user topic is exported: " + j);
        assertFalse(j.contains("\"SCHEDULE_TOPIC_XXXX\"") || j.contains("\"TBW102\"") || j.contains("\"" + cluster.brokerName + "\""),
                "system topics (GET_SYSTEM_TOPIC_LIST_FROM_BROKER) are not: " + j);

        // not served: a clear refusal naming the request code
        Out cq = mqadmin("cleanExpiredCQ", "cleanExpiredCQ", "-b", cluster.brokerAddr());
        assertTrue(cq.err().contains("request type 306 not supported"), cq.all());
        Out ut = mqadmin("cleanUnusedTopic", "cleanUnusedTopic", "-b", cluster.brokerAddr());
        assertTrue(ut.err().contains("request type 316 not supported"), ut.all());
    }
}
