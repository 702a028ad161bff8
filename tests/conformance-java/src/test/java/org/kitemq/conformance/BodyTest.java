// Message bodies and text: bodies over 4 KiB are compressed by the Java producer and
// arrive as sent (stored compressed); a 4 MiB body (the default maxMessageSize) travels
// whole, one byte more is refused by the broker (MESSAGE_ILLEGAL, 13) on a connection that
// stays usable; non-ASCII keys, tags and property names and values arrive unchanged, tag
// subscriptions and key queries work with them.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.security.MessageDigest;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;

class BodyTest extends Base {
    static final int FOUR_MIB = 4 * 1024 * 1024;

    private static byte[] text(int n) {
        StringBuilder sb = new StringBuilder(n);
        int i = 0;
        while (sb.length() < n) {
            sb.append("line ").append(i++).append(" of a compressible body\n");
        }
        return utf8(sb.substring(0, n));
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static byte[] sha(byte[] b) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(b);
    }

    private DefaultMQPushConsumer collect(String group, String topic, String tags, Map<String, MessageExt> into)
            throws Exception {
        DefaultMQPushConsumer c = pushConsumer(group);
        c.subscribe(topic, tags);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> into.put(m.getKeys(), m));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        return c;
    }

    @Test
    void bodiesOver4KiBAreCompressedAndArriveAsSent() throws Exception {
        String topic = uniq("cj_zip");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(uniq("pg_zip"));
        Map<String, MessageExt> got = new ConcurrentHashMap<>();
        collect(uniq("cg_zip"), topic, "*", got);
        byte[] small = text(3000);
        byte[] big = text(64 * 1024);
        byte[] noise = random(20_000, 7);
        p.send(new Message(topic, "Z", "small", small));
        p.send(new Message(topic, "Z", "big", big));
        p.send(new Message(topic, "Z", "noise", noise));
        await("three consumed", () -> got.size() == 3);
        assertArrayEquals(small, got.get("small").getBody());
        assertArrayEquals(big, got.get("big").getBody());
        assertArrayEquals(noise, got.get("noise").getBody());
        // the record's stored size tells the form it was stored in (the 5.x client clears the
        // COMPRESSED sysflag bit once it has inflated the body, 4.x keeps it)
        assertTrue(got.get("small").getStoreSize() > small.length, "under 4 KiB: stored as is");
        assertTrue(got.get("big").getStoreSize() < big.length / 4,
                "over 4 KiB: the stored record is the compressed form: " + got.get("big").getStoreSize());
        // raw pulls decompress the same way
        List<MessageExt> raw = readTopic(topic, 3);
        for (MessageExt m : raw) {
            assertArrayEquals(got.get(m.getKeys()).getBody(), m.getBody(), m.getKeys());
        }
    }

    @Test
    void fourMiBBodyTravelsWholeAndOneByteMoreIsRefused() throws Exception {
        String topic = uniq("cj_4mib");
        createTopic(topic, 1);
        DefaultMQProducer p = new DefaultMQProducer(uniq("pg_4mib"));
        p.setCompressMsgBodyOverHowmuch(Integer.MAX_VALUE);   // send the bytes as they are
        p.setMaxMessageSize(2 * FOUR_MIB);                     // let the broker judge the size
        producer(p);
        Map<String, MessageExt> got = new ConcurrentHashMap<>();
        collect(uniq("cg_4mib"), topic, "*", got);
        byte[] body = random(FOUR_MIB, 42);
        SendResult r = p.send(new Message(topic, "M", "max", body));
        assertEquals(SendStatus.SEND_OK, r.getSendStatus());
        MQBrokerException refused = null;
        try {
            p.send(new Message(topic, "M", "over", random(FOUR_MIB + 1, 43)));
        } catch (MQBrokerException e) {
            refused = e;
        }
        assertTrue(refused != null, "a body over maxMessageSize is refused by the broker");
        assertEquals(13, refused.getResponseCode(), "MESSAGE_ILLEGAL: " + refused.getErrorMessage());
        // compressible 4 MiB with compression on: small on the wire, whole at the consumer
        DefaultMQProducer zp = producer(uniq("pg_4mib_zip"));
        byte[] txt = text(FOUR_MIB);
        assertEquals(SendStatus.SEND_OK, zp.send(new Message(topic, "M", "maxzip", txt)).getSendStatus());
        // the first producer's connection still works
        assertEquals(SendStatus.SEND_OK, p.send(new Message(topic, "M", "after", utf8("after"))).getSendStatus());
        await("the 4 MiB messages and the one after consumed", 60_000,
                () -> got.containsKey("max") && got.containsKey("maxzip") && got.containsKey("after"));
        assertArrayEquals(sha(body), sha(got.get("max").getBody()), "4 MiB random body intact");
        assertEquals(FOUR_MIB, got.get("max").getBody().length);
        assertArrayEquals(sha(txt), sha(got.get("maxzip").getBody()), "4 MiB compressed body intact");
        assertTrue(!got.containsKey("over"));
    }

    @Test
    void unicodeKeysTagsAndPropertiesArriveUnchanged() throws Exception {
        String topic = uniq("cj_unicode");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(uniq("pg_unicode"));
        String tag = "标签🚀";
        String keys = "ключ 鍵🔑";   // two keys, space-separated
        Map<String, String> props = Map.of("名前", "värde ✓ 🚀", "émoji", "😀 — ∑", "plain", "日本語テキスト");
        Map<String, MessageExt> got = new ConcurrentHashMap<>();
        collect(uniq("cg_unicode"), topic, tag + " || 其他", got);
        Message m = new Message(topic, tag, keys, utf8("тело сообщения · 本文 · 🚀"));
        props.forEach(m::putUserProperty);
        long start = System.currentTimeMillis() - 60_000;
        SendResult r = p.send(m);
        Message other = new Message(topic, "标签", "other", utf8("a different tag"));
        p.send(other);
        Message third = new Message(topic, "其他", "其他键", utf8("third"));
        p.send(third);
        await("the two messages of the subscribed tags", () -> got.containsKey(keys) && got.containsKey("其他键"));
        Thread.sleep(300);
        assertEquals(Set.of(keys, "其他键"), got.keySet(), "'标签' is another tag than '标签🚀'");
        MessageExt e = got.get(keys);
        assertEquals(tag, e.getTags());
        assertEquals("тело сообщения · 本文 · 🚀", str(e.getBody()));
        props.forEach((k, v) -> assertEquals(v, e.getUserProperty(k), "property " + k));
        assertEquals(r.getMsgId(), e.getMsgId());
        // both keys are indexed: QUERY_MESSAGE finds the message by either
        for (String k : new String[] {"ключ", "鍵🔑"}) {
            QueryResult q = p.queryMessage(topic, k, 32, start, System.currentTimeMillis() + 60_000);
            List<MessageExt> found = q == null ? Collections.emptyList() : q.getMessageList();
            assertTrue(found.stream().anyMatch(x -> x.getMsgId().equals(r.getMsgId())),
                    "query by key " + k + " finds it: " + describe(found));
            found.forEach(x -> assertTrue(x.getKeys().contains(k), "only messages with that key"));
        }
        // by the offset id (broker address + commit-log offset); a unique-key id would make the
        // client first try it as an address
        MessageExt viewed = p.viewMessage(topic, r.getOffsetMsgId());
        assertEquals(keys, viewed.getKeys());
        assertEquals(props.get("名前"), viewed.getUserProperty("名前"));
    }
}
