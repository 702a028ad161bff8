// TLS on the remoting ports (docs/wire.md §15) with Apache RocketMQ's own Java clients. The
// client takes its TLS settings (TlsSystemConfig) from system properties read once per JVM,
// so this class runs in JVMs of its own (the pom's tls-json / tls-rocketmq executions, tag
// "tls"), whose properties say: tls.enable=true (every client defaults to useTLS),
// tls.test.mode.enable=false, tls.client.authServer=true with tls.client.trustCertPath = this
// run's CA, tls.client.certPath / keyPath = a client certificate of that CA, all under
// kite.tls.dir, made here with openssl before the first client starts. The class's cluster is
// enforcing with need.client.auth=require on both daemons (the broker registers over TLS and
// checks the name server's certificate); a second one is permissive. Controls: a client with
// setUseTLS(false), one without a certificate and one trusting another CA are refused; a
// plain client beside a TLS one on the permissive cluster has no TLS session.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.handler.ssl.SslHandler;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSession;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.RemotingClient;
import org.apache.rocketmq.remoting.netty.NettyRemotingClient;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

@Tag("tls")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TlsTest extends Base {
    static final String CA_CN = "kite-cj-test-ca";
    static final String SERVER_CN = "kite-cj-server";
    static final String CLIENT_CN = "kite-cj-java-client";
    /** What the daemons log when they close a plain connection in enforcing mode. */
    static final String PLAIN_REFUSED = "a plain connection while tls.server.mode is enforcing";

    private static boolean certsMade;
    private DefaultMQProducer tlsProducer;

    /** This JVM's certificate directory (the pom's kite.tls.dir). */
    static Path tlsDir() {
        String d = System.getProperty("kite.tls.dir");
        if (d == null || d.isEmpty()) {
            throw new IllegalStateException("TlsTest runs in the pom's tls-* executions, which set kite.tls.dir and"
                    + " the client's tls.* system properties");
        }
        return Paths.get(d);
    }

    static String tlsFile(String name) {
        return tlsDir().resolve(name).toString();
    }

    static void openssl(Path cwd, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add("openssl");
        cmd.addAll(Arrays.asList(args));
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IllegalStateException("the openssl command is needed (scripts/install-deps.sh installs it): " + e, e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", cmd) + " failed:\n" + out);
        }
    }

    /** A P-256 key {@code name}.key and a certificate {@code name}.pem for {@code cn} from {@code ca}. */
    static void issue(String name, String cn, String ca, String extensions) throws Exception {
        Path d = tlsDir();
        Files.write(d.resolve(name + ".ext"), (extensions + "\n").getBytes(StandardCharsets.UTF_8));
        openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
                "-out", name + ".csr", "-subj", "/CN=" + cn);
        openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
                "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext");
    }

    static void selfSignedCa(String name, String cn) throws Exception {
        openssl(tlsDir(), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + cn);
    }

    /**
     * The run's CA (ca), another CA (other-ca) and a client certificate of the first (client),
     * once per JVM; checks that the JVM's tls.* properties name them.
     */
    static synchronized void makeCerts() throws Exception {
        if (certsMade) {
            return;
        }
        Files.createDirectories(tlsDir());
        selfSignedCa("ca", CA_CN);
        selfSignedCa("other-ca", "kite-cj-other-ca");
        issue("client", CLIENT_CN, "ca", "extendedKeyUsage=clientAuth");
        Map<String, String> want = clientTlsProperties();
        want.put("tls.enable", "true");
        want.put("tls.test.mode.enable", "false");
        for (Map.Entry<String, String> e : want.entrySet()) {
            assertEquals(e.getValue(), System.getProperty(e.getKey()), "system property " + e.getKey() + " of this JVM");
        }
        certsMade = true;
    }

    /** The client TLS settings this JVM starts with (its system properties). */
    static Map<String, String> clientTlsProperties() {
        Map<String, String> m = new HashMap<>();
        m.put("tls.client.authServer", "true");
        m.put("tls.client.trustCertPath", tlsFile("ca.pem"));
        m.put("tls.client.certPath", tlsFile("client.pem"));
        m.put("tls.client.keyPath", tlsFile("client.key"));
        return m;
    }

    /** A server certificate of the run's CA naming the cluster's address; the keys that use it. */
    static Map<String, String> serverTls(KiteCluster c, String mode, String clientAuth) throws Exception {
        makeCerts();
        String name = "server-" + c.host;
        issue(name, SERVER_CN, "ca", "subjectAltName=IP:" + c.host + "\nextendedKeyUsage=serverAuth");
        Map<String, String> m = new HashMap<>();
        m.put("tls.server.mode", mode);
        m.put("tls.server.certPath", tlsFile(name + ".pem"));
        m.put("tls.server.keyPath", tlsFile(name + ".key"));
        m.put("tls.server.need.client.auth", clientAuth);
        m.put("tls.server.trustCertPath", tlsFile("ca.pem"));
        return m;
    }

    /** The class's cluster: both daemons enforcing and requiring a client certificate of the CA. */
    @Override
    protected void prepareCluster(KiteCluster c, Map<String, String> broker, Map<String, String> namesrv) throws Exception {
        Map<String, String> tls = serverTls(c, "enforcing", "require");
        namesrv.putAll(tls);
        broker.putAll(tls);
        // the broker registers over TLS, checks the name server's certificate and shows one
        broker.put("tls.enable", "true");
        broker.putAll(clientTlsProperties());
    }

    /**
     * Runs {@code start} (which starts clients) with the JVM's client TLS settings changed by
     * {@code keys}: the client re-reads the file named by tls.config.file each time it builds
     * its SSL context (when a client starts) and keeps what it read, so the file is written, the
     * clients started, and the JVM's own settings written back and read by one more build.
     */
    <T> T withClientTls(Map<String, String> keys, Callable<T> start) throws Exception {
        Path file = Paths.get(System.getProperty("tls.config.file"));
        writeProperties(file, keys);
        try {
            return start.call();
        } finally {
            writeProperties(file, clientTlsProperties());
            DefaultMQProducer probe = producer(uniq("pg_tls_restore"));
            Files.delete(file);
            // the restored settings work again
            assertEquals(0, call(probe, cluster.brokerAddr(), maxOffsetRequest("TBW102")).getCode());
        }
    }

    static void writeProperties(Path file, Map<String, String> kv) throws IOException {
        StringBuilder sb = new StringBuilder("# written by TlsTest\n");
        kv.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
        Files.write(file, sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    static RemotingClient remoting(DefaultMQProducer p) {
        return p.getDefaultMQProducerImpl().getMqClientFactory().getMQClientAPIImpl().getRemotingClient();
    }

    /** GET_MAX_OFFSET of queue 0 of {@code topic}: a request any broker answers. */
    static RemotingCommand maxOffsetRequest(String topic) {
        RemotingCommand r = RemotingCommand.createRequestCommand(30, null);
        r.addExtField("topic", topic);
        r.addExtField("queueId", "0");
        return r;
    }

    /** GET_ROUTEINFO_BY_TOPIC, for a name server. */
    static RemotingCommand routeRequest(String topic) {
        RemotingCommand r = RemotingCommand.createRequestCommand(105, null);
        r.addExtField("topic", topic);
        return r;
    }

    /** One request on {@code p}'s own connection to {@code addr}. */
    static RemotingCommand call(DefaultMQProducer p, String addr, RemotingCommand req) throws Exception {
        return remoting(p).invokeSync(addr, req, 5000);
    }

    /**
     * The TLS session of {@code p}'s connection to {@code addr}, null when that connection is
     * plain; fails when the client has no connection there.
     */
    static SSLSession session(DefaultMQProducer p, String addr) throws Exception {
        Field f = NettyRemotingClient.class.getDeclaredField("channelTables");
        f.setAccessible(true);
        Map<?, ?> table = (Map<?, ?>) f.get(remoting(p));
        Object wrapper = table.get(addr);
        assertNotNull(wrapper, "the client's connections: " + table.keySet() + ", none to " + addr);
        Method m = wrapper.getClass().getMethod("getChannelFuture");
        m.setAccessible(true);
        Channel ch = ((ChannelFuture) m.invoke(wrapper)).channel();
        SslHandler h = ch.pipeline().get(SslHandler.class);
        return h == null ? null : h.engine().getSession();
    }

    static String cn(X509Certificate c) {
        return c.getSubjectX500Principal().getName();
    }

    /** The session shows the daemon's certificate from the run's CA and presented ours. */
    static void assertVerifiedSession(SSLSession s, String addr) throws Exception {
        assertNotNull(s, "a TLS connection to " + addr);
        assertTrue(s.getProtocol().startsWith("TLSv1."), s.getProtocol());
        X509Certificate peer = (X509Certificate) s.getPeerCertificates()[0];
        assertEquals("CN=" + SERVER_CN, cn(peer), "the certificate " + addr + " showed");
        assertEquals("CN=" + CA_CN, peer.getIssuerX500Principal().getName(), "its issuer");
        assertNotNull(s.getLocalCertificates(), "the client presented its certificate to " + addr);
        assertEquals("CN=" + CLIENT_CN, cn((X509Certificate) s.getLocalCertificates()[0]));
    }

    static Set<String> keys(List<MessageExt> l) {
        Set<String> s = new TreeSet<>();
        for (MessageExt m : l) {
            s.add(m.getKeys());
        }
        return s;
    }

    /** A push consumer of every message of {@code topic} on cluster {@code k}; its keys go to {@code got}. */
    DefaultMQPushConsumer pushInto(KiteCluster k, String topic, Set<String> got, boolean tls) throws Exception {
        DefaultMQPushConsumer c = configure(pushConsumer(uniq("cg_tls_push")), k);
        c.setUseTLS(tls);
        c.subscribe(topic, "*");
        c.registerMessageListener(keysInto(got));
        c.start();
        return c;
    }

    /** A lite pull consumer (subscribe, from the first offset) polled until it has {@code want}. */
    Set<String> litePullAll(KiteCluster k, String topic, Set<String> want, boolean tls) throws Exception {
        DefaultLitePullConsumer c = configure(litePull(uniq("cg_tls_lite")), k);
        c.setUseTLS(tls);
        c.subscribe(topic, "*");
        c.start();
        Set<String> got = new TreeSet<>();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (!got.containsAll(want) && System.currentTimeMillis() < deadline) {
            got.addAll(keys(c.poll()));
        }
        assertEquals(want, got, "what the lite pull consumer read from " + topic);
        return got;
    }

    DefaultMQProducer producerOn(KiteCluster k, String group, boolean tls) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(uniq(group));
        p.setUseTLS(tls);
        p.setRetryTimesWhenSendFailed(0);
        return producer(p, k);
    }

    @Test
    @Order(1)
    void producerPushAndLitePullOverVerifiedTls() throws Exception {
        assertTrue(new DefaultMQProducer("unstarted").isUseTLS(), "tls.enable=true: clients default to TLS");
        String topic = uniq("cj_tls");
        createTopic(topic, 4);
        tlsProducer = producer(uniq("pg_tls"));
        Set<String> sent = new TreeSet<>();
        for (int i = 0; i < 8; i++) {
            Message m = new Message(topic, "tls", "tls-" + i, utf8("over TLS " + i));
            assertEquals(SendStatus.SEND_OK, tlsProducer.send(m).getSendStatus());
            sent.add("tls-" + i);
        }
        // the push consumer runs while the lite pull consumer reads
        Set<String> pushed = ConcurrentHashMap.newKeySet();
        pushInto(cluster, topic, pushed, true);
        litePullAll(cluster, topic, sent, true);
        await("the TLS push consumer gets " + sent, () -> pushed.containsAll(sent));
        assertEquals(sent, new TreeSet<>(pushed));
        // the producer's connections: TLS, the daemons' certificate checked, ours shown
        assertVerifiedSession(session(tlsProducer, cluster.brokerAddr()), cluster.brokerAddr());
        assertVerifiedSession(session(tlsProducer, cluster.nameSrv()), cluster.nameSrv());
    }

    /**
     * Runs {@code attempt}, which must fail, again (each time on a new connection) until the
     * daemon log {@code log} of {@code k} has one more line with {@code reason}: the daemons let
     * one line a second through for failures peers cause, so a refusal right after another may
     * go unlogged.
     */
    static void refusedAndLogged(KiteCluster k, String log, String reason, Call attempt) throws Exception {
        long before = k.countLogLines(log, reason);
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            assertThrows(Exception.class, attempt::run, "refused: expected " + reason);
            if (k.countLogLines(log, reason) > before) {
                return;
            }
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out after " + WAIT_MS + " ms waiting for \"" + reason + "\" in " + log);
            }
            Thread.sleep(300);
        }
    }

    @Test
    @Order(2)
    void plainClientRefusedByEnforcingDaemons() throws Exception {
        DefaultMQProducer tls = tlsProducer != null ? tlsProducer : producer(uniq("pg_tls"));
        DefaultMQProducer plain = producerOn(cluster, "pg_plain", false);
        assertFalse(plain.isUseTLS());
        // the same requests: answered on the TLS client's connections, refused on the plain one's
        assertEquals(0, call(tls, cluster.brokerAddr(), maxOffsetRequest("TBW102")).getCode());
        assertEquals(0, call(tls, cluster.nameSrv(), routeRequest("TBW102")).getCode());
        refusedAndLogged(cluster, "broker.log", PLAIN_REFUSED,
                () -> call(plain, cluster.brokerAddr(), maxOffsetRequest("TBW102")));
        refusedAndLogged(cluster, "namesrv.log", PLAIN_REFUSED,
                () -> call(plain, cluster.nameSrv(), routeRequest("TBW102")));
        // and so it cannot send: no route
        assertThrows(Exception.class, () -> plain.send(new Message("TBW102", utf8("plain"))));
    }

    @Test
    @Order(3)
    void permissiveServesTlsAndPlainClients() throws Exception {
        KiteCluster perm = startAnotherCluster("TlsPermissive", new HashMap<>(), (c, broker, namesrv) -> {
            Map<String, String> tls = serverTls(c, "permissive", "none");
            namesrv.putAll(tls);
            broker.putAll(tls);
        });
        DefaultMQProducer tls = producerOn(perm, "pg_perm_tls", true);
        DefaultMQProducer plain = producerOn(perm, "pg_perm_plain", false);
        String topic = uniq("cj_tls_perm");
        createTopic(tls, topic, 4);
        Set<String> sent = new TreeSet<>();
        for (int i = 0; i < 4; i++) {
            assertEquals(SendStatus.SEND_OK, tls.send(new Message(topic, "t", "tls-" + i, utf8("tls"))).getSendStatus());
            assertEquals(SendStatus.SEND_OK,
                    plain.send(new Message(topic, "t", "plain-" + i, utf8("plain"))).getSendStatus());
            sent.add("tls-" + i);
            sent.add("plain-" + i);
        }
        SSLSession s = session(tls, perm.brokerAddr());
        assertNotNull(s, "the TLS producer's connection to the permissive broker is TLS");
        assertEquals("CN=" + SERVER_CN, cn((X509Certificate) s.getPeerCertificates()[0]));
        assertNull(session(plain, perm.brokerAddr()), "the plain producer's connection has no TLS");
        assertNull(session(plain, perm.nameSrv()), "nor its name-server connection");
        Set<String> pushed = ConcurrentHashMap.newKeySet();
        pushInto(perm, topic, pushed, false);
        litePullAll(perm, topic, sent, true);
        await("the plain push consumer gets " + sent, () -> pushed.containsAll(sent));
        assertEquals(sent, new TreeSet<>(pushed));
    }

    @Test
    @Order(4)
    void clientWithoutCertificateRefused() throws Exception {
        Map<String, String> noCert = clientTlsProperties();
        noCert.put("tls.client.certPath", "");
        noCert.put("tls.client.keyPath", "");
        DefaultMQProducer p = withClientTls(noCert, () -> producer(uniq("pg_tls_nocert")));
        // the broker asked for a certificate and got none (need.client.auth=require)
        refusedAndLogged(cluster, "broker.log", "TLS handshake failed: peer did not return a certificate",
                () -> call(p, cluster.brokerAddr(), maxOffsetRequest("TBW102")));
    }

    @Test
    @Order(5)
    void serverOfAnotherCaRefusedByTheClient() throws Exception {
        Map<String, String> otherCa = clientTlsProperties();
        otherCa.put("tls.client.trustCertPath", tlsFile("other-ca.pem"));
        DefaultMQProducer p = withClientTls(otherCa, () -> producer(uniq("pg_tls_otherca")));
        // the client turned the broker's certificate down (its alert ends the handshake)
        refusedAndLogged(cluster, "broker.log", "alert certificate unknown",
                () -> call(p, cluster.brokerAddr(), maxOffsetRequest("TBW102")));
    }
}
