// Plain ACL (docs/wire.md §14) through Apache RocketMQ's own signing hook: clients built with
// AclClientRPCHook + SessionCredentials against a broker with aclEnable=true and an accounts
// file this class writes. A sub-account sends and consumes on its topic and group, is refused
// a DENY topic and admin requests; a wrong secret, an unknown key and an unsigned client are
// refused; an admin account creates a topic with DefaultMQAdminExt. Last, the file is
// rewritten (the broker reloads it): 127.0.0.1 joins globalWhiteRemoteAddresses and the DENY
// topic becomes PUB, and the clients refused before now succeed, unchanged.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.apache.rocketmq.acl.common.AclClientRPCHook;
import org.apache.rocketmq.acl.common.SessionCredentials;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.remoting.RPCHook;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AclTest extends Base {
    static final String ADMIN_AK = "cjAdminKey";
    static final String ADMIN_SK = "cjAdminSecret1";
    static final String USER_AK = "cjUserKey";
    static final String USER_SK = "cjUserSecret1";
    /** The sub-account's topics: PUB|SUB, and DENY (PUB after the reload). */
    static final String OPEN = "AclOpen";
    static final String DENIED = "AclDenied";
    /** The sub-account's consumer group (SUB). */
    static final String GROUP = "AclConsumers";
    static final String ACL_EXCEPTION = "org.apache.rocketmq.acl.common.AclException";

    private Path aclDir;
    private Path aclFile;
    /** Producers refused before the reload, sent with again after it. */
    private DefaultMQProducer userProducer;
    private DefaultMQProducer wrongSecretProducer;
    private DefaultMQProducer unsignedProducer;

    static RPCHook hook(String ak, String sk) {
        return new AclClientRPCHook(new SessionCredentials(ak, sk));
    }

    @Override
    protected RPCHook adminHook() {
        return hook(ADMIN_AK, ADMIN_SK);
    }

    /** The accounts file: before the reload, and after it ({@code opened}). */
    static String aclYaml(boolean opened) {
        StringBuilder sb = new StringBuilder("# written by AclTest\n");
        if (opened) {
            sb.append("globalWhiteRemoteAddresses:\n  - 127.0.0.1\n");
        }
        sb.append("accounts:\n");
        sb.append("  - accessKey: ").append(ADMIN_AK).append('\n');
        sb.append("    secretKey: ").append(ADMIN_SK).append('\n');
        sb.append("    admin: true\n");
        sb.append("  - accessKey: ").append(USER_AK).append('\n');
        sb.append("    secretKey: ").append(USER_SK).append('\n');
        sb.append("    admin: false\n");
        sb.append("    defaultTopicPerm: DENY\n");
        sb.append("    defaultGroupPerm: DENY\n");
        sb.append("    topicPerms:\n");
        sb.append("      - ").append(OPEN).append("=PUB|SUB\n");
        sb.append("      - ").append(DENIED).append(opened ? "=PUB\n" : "=DENY\n");
        sb.append("    groupPerms:\n");
        sb.append("      - ").append(GROUP).append("=SUB\n");
        return sb.toString();
    }

    @Override
    protected Map<String, String> brokerConfig() {
        try {
            String tmp = System.getenv("KITE_CJ_TMP");
            Path root = tmp != null && !tmp.isEmpty() ? Paths.get(tmp) : Paths.get(System.getProperty("java.io.tmpdir"));
            Files.createDirectories(root);
            aclDir = Files.createTempDirectory(root, "kite-cj-acl-");
            aclFile = aclDir.resolve("plain_acl.yml");
            Files.write(aclFile, aclYaml(false).getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, String> m = new HashMap<>();
        m.put("aclEnable", "true");
        m.put("aclFile", aclFile.toString());
        return m;
    }

    @AfterAll
    void removeAclDir() throws IOException {
        if (aclDir != null && System.getenv("KITE_CJ_KEEP") == null) {
            try (Stream<Path> s = Files.walk(aclDir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private DefaultMQProducer producerWith(RPCHook h, String group) throws Exception {
        DefaultMQProducer p = producer(new DefaultMQProducer(uniq(group), h));
        p.setRetryTimesWhenSendFailed(0);
        return p;
    }

    private DefaultMQAdminExt adminExt(RPCHook h) throws Exception {
        DefaultMQAdminExt a = configure(new DefaultMQAdminExt(h));
        a.setAdminExtGroup(uniq("cj_acl_admin"));
        a.start();
        closeLater(a::shutdown);
        return a;
    }

    /**
     * The broker's refusal somewhere in {@code e}'s causes: "code|remark" of the innermost
     * MQBrokerException, else of an MQClientException that carries a response code (the
     * admin client's form).
     */
    static String refusal(Throwable e) {
        String found = null;
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof MQBrokerException) {
                MQBrokerException b = (MQBrokerException) t;
                found = b.getResponseCode() + "|" + b.getErrorMessage();
            } else if (found == null && t instanceof MQClientException
                    && ((MQClientException) t).getResponseCode() > 0 && t.getCause() == null) {
                MQClientException c = (MQClientException) t;
                found = c.getResponseCode() + "|" + c.getErrorMessage();
            }
        }
        return found != null ? found : "no broker answer in " + e;
    }

    /** The broker refused {@code call} with SYSTEM_ERROR (1) and an AclException naming {@code what}. */
    static void assertRefused(String what, Call call) {
        Exception e = assertThrows(Exception.class, call::run, "expected the broker to refuse: " + what);
        String r = refusal(e);
        assertTrue(r.startsWith("1|" + ACL_EXCEPTION), "refusal (code|remark) of " + what + ": " + r);
        assertTrue(r.contains(what), "refusal should say \"" + what + "\": " + r);
    }

    static Message msg(String topic, String key) {
        return new Message(topic, "acl", key, utf8("acl body " + key));
    }

    @Test
    @Order(1)
    void subAccountSendsAndConsumesOnItsTopicAndGroup() throws Exception {
        createTopic(OPEN, 4);
        createTopic(DENIED, 4);
        userProducer = producerWith(hook(USER_AK, USER_SK), "pg_acl_user");
        Set<String> sent = new TreeSet<>();
        for (int i = 0; i < 8; i++) {
            SendResult r = userProducer.send(msg(OPEN, "open-" + i));
            assertEquals(SendStatus.SEND_OK, r.getSendStatus());
            sent.add("open-" + i);
        }
        Set<String> got = ConcurrentHashMap.newKeySet();
        DefaultMQPushConsumer c = pushConsumer(
                new DefaultMQPushConsumer(GROUP, hook(USER_AK, USER_SK), new AllocateMessageQueueAveragely()));
        c.subscribe(OPEN, "*");
        c.registerMessageListener(keysInto(got));
        c.start();
        await("the sub-account's push consumer gets " + sent, () -> got.containsAll(sent));
        assertEquals(sent, new TreeSet<>(got));
    }

    @Test
    @Order(2)
    void sendToDenyTopicRefused() throws Exception {
        DefaultMQProducer p = userProducer != null ? userProducer : producerWith(hook(USER_AK, USER_SK), "pg_acl_user");
        assertRefused("No default permission for topic:" + DENIED, () -> p.send(msg(DENIED, "denied-0")));
        // the connection and the account still work for the topic it may send to
        assertEquals(SendStatus.SEND_OK, p.send(msg(OPEN, "open-after-deny")).getSendStatus());
    }

    @Test
    @Order(3)
    void wrongSecretUnknownKeyAndUnsignedRefused() throws Exception {
        wrongSecretProducer = producerWith(hook(USER_AK, "notTheSecret1"), "pg_acl_wrong");
        assertRefused("Check signature failed for accessKey=" + USER_AK,
                () -> wrongSecretProducer.send(msg(OPEN, "wrong-0")));
        DefaultMQProducer unknown = producerWith(hook("cjNobodyKey", USER_SK), "pg_acl_unknown");
        assertRefused("No acl config for cjNobodyKey", () -> unknown.send(msg(OPEN, "unknown-0")));
        unsignedProducer = producerWith(null, "pg_acl_unsigned");
        assertRefused("No accessKey is configured", () -> unsignedProducer.send(msg(OPEN, "unsigned-0")));
    }

    @Test
    @Order(4)
    void adminAccountCreatesTopicSubAccountRefused() throws Exception {
        DefaultMQAdminExt user = adminExt(hook(USER_AK, USER_SK));
        assertRefused("Need admin permission for request code=17",
                () -> user.createAndUpdateTopicConfig(cluster.brokerAddr(), new TopicConfig("AclBySub", 4, 4, 6)));
        DefaultMQAdminExt admin = adminExt(adminHook());
        admin.createAndUpdateTopicConfig(cluster.brokerAddr(), new TopicConfig("AclByAdmin", 3, 3, 6));
        await("route of AclByAdmin", () -> {
            try {
                return admin.examineTopicRouteInfo("AclByAdmin").getQueueDatas().get(0).getWriteQueueNums() == 3;
            } catch (Exception e) {
                return false;
            }
        });
        // registered after the refused one would have been: the refused topic never reached the name server
        Exception e = assertThrows(Exception.class, () -> admin.examineTopicRouteInfo("AclBySub"));
        assertTrue(refusal(e).startsWith("17|"), "route of AclBySub: " + refusal(e));
        assertNotNull(admin.examineTopicRouteInfo("AclByAdmin"));
    }

    @Test
    @Order(5)
    void reloadWhiteListsLoopbackAndGrantsPub() throws Exception {
        if (unsignedProducer == null || wrongSecretProducer == null || userProducer == null) {
            fail("the earlier scenarios of this class did not run");
        }
        long before = cluster.countLogLines("broker.log", "ACL reloaded");
        Path tmp = aclDir.resolve("plain_acl.yml.tmp");
        Files.write(tmp, aclYaml(true).getBytes(StandardCharsets.UTF_8));
        Files.move(tmp, aclFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        await("the broker reloads " + aclFile, () -> cluster.countLogLines("broker.log", "ACL reloaded") > before);
        // the same clients, unchanged: white-listed (unsigned, wrong secret) and granted PUB
        assertEquals(SendStatus.SEND_OK, unsignedProducer.send(msg(OPEN, "unsigned-1")).getSendStatus());
        assertEquals(SendStatus.SEND_OK, wrongSecretProducer.send(msg(OPEN, "wrong-1")).getSendStatus());
        assertEquals(SendStatus.SEND_OK, userProducer.send(msg(DENIED, "denied-1")).getSendStatus());
        // only the message sent after the grant is in the DENY topic
        assertEquals("denied-1", readTopic(DENIED, 1).get(0).getKeys());
    }
}
