// Producer scenarios: sync, async, oneway, batch and ordered (MessageQueueSelector) sends,
// each read back from the broker and compared field by field.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.Test;

class ProducerTest extends Base {

    @Test
    void syncSendIsStoredAsSent() throws Exception {
        String topic = uniq("cj_sync");
        createTopic(topic, 4);
        DefaultMQProducer p = producer(uniq("pg_sync"));
        Map<String, SendResult> sent = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            Message m = new Message(topic, "Tag" + (i % 3), "key-" + i, utf8("sync body " + i));
            m.putUserProperty("seq", Integer.toString(i));
            SendResult r = p.send(m);
            assertEquals(SendStatus.SEND_OK, r.getSendStatus());
            assertNotNull(r.getMsgId());
            assertNotNull(r.getOffsetMsgId());
            assertEquals(topic, r.getMessageQueue().getTopic());
            sent.put("key-" + i, r);
        }
        List<MessageExt> got = readTopic(topic, 20);
        for (MessageExt m : got) {
            SendResult r = sent.get(m.getKeys());
            assertNotNull(r, "unexpected message " + m);
            int i = Integer.parseInt(m.getUserProperty("seq"));
            assertEquals("sync body " + i, str(m.getBody()));
            assertEquals("Tag" + (i % 3), m.getTags());
            assertEquals(r.getMsgId(), m.getMsgId(), "UNIQ_KEY is the msgId");
            assertEquals(r.getOffsetMsgId(), ((MessageClientExt) m).getOffsetMsgId(), "offset message id");
            assertEquals(r.getMessageQueue().getQueueId(), m.getQueueId());
            assertEquals(r.getQueueOffset(), m.getQueueOffset());
            assertEquals(topic, m.getTopic());
            assertTrue(m.getStoreTimestamp() >= m.getBornTimestamp() - 1000, "store time follows birth");
        }
        // the offset message id locates the message on its own
        MessageExt viewed = p.viewMessage(topic, sent.get("key-7").getOffsetMsgId());
        assertEquals("sync body 7", str(viewed.getBody()));
    }

    @Test
    void asyncSendCallsBackOncePerMessage() throws Exception {
        String topic = uniq("cj_async");
        createTopic(topic, 4);
        DefaultMQProducer p = producer(uniq("pg_async"));
        int n = 50;
        CountDownLatch done = new CountDownLatch(n);
        Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
        List<Throwable> errors = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String key = "async-" + i;
            calls.put(key, new AtomicInteger());
            p.send(new Message(topic, "A", key, utf8("async " + i)), new SendCallback() {
                @Override
                public void onSuccess(SendResult r) {
                    if (r.getSendStatus() != SendStatus.SEND_OK) {
                        synchronized (errors) {
                            errors.add(new AssertionError(key + ": " + r.getSendStatus()));
                        }
                    }
                    calls.get(key).incrementAndGet();
                    done.countDown();
                }

                @Override
                public void onException(Throwable e) {
                    synchronized (errors) {
                        errors.add(e);
                    }
                    calls.get(key).incrementAndGet();
                    done.countDown();
                }
            });
        }
        assertTrue(done.await(WAIT_MS, TimeUnit.MILLISECONDS), "every callback within the deadline");
        assertTrue(errors.isEmpty(), "async errors: " + errors);
        Thread.sleep(200);
        calls.forEach((k, v) -> assertEquals(1, v.get(), "callbacks for " + k));
        List<MessageExt> got = readTopic(topic, n);
        Set<String> keys = new HashSet<>();
        for (MessageExt m : got) {
            keys.add(m.getKeys());
        }
        assertEquals(calls.keySet(), keys);
    }

    @Test
    void onewaySendArrives() throws Exception {
        String topic = uniq("cj_oneway");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(uniq("pg_oneway"));
        for (int i = 0; i < 20; i++) {
            p.sendOneway(new Message(topic, "O", "ow-" + i, utf8("oneway " + i)));
        }
        List<MessageExt> got = readTopic(topic, 20);
        Set<String> bodies = new HashSet<>();
        for (MessageExt m : got) {
            bodies.add(str(m.getBody()));
            assertEquals("O", m.getTags());
        }
        for (int i = 0; i < 20; i++) {
            assertTrue(bodies.contains("oneway " + i), "oneway " + i + " stored");
        }
    }

    @Test
    void batchIsStoredContiguouslyInOneQueue() throws Exception {
        String topic = uniq("cj_batch");
        createTopic(topic, 4);
        DefaultMQProducer p = producer(uniq("pg_batch"));
        List<Message> batch = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            Message m = new Message(topic, "B", "batch-" + i, utf8("batch body " + i));
            m.putUserProperty("i", Integer.toString(i));
            batch.add(m);
        }
        SendResult r = p.send(batch);
        assertEquals(SendStatus.SEND_OK, r.getSendStatus());
        String[] ids = r.getMsgId().split(",");
        assertEquals(10, ids.length, "one message id per batch member: " + r.getMsgId());
        List<MessageExt> got = readTopic(topic, 10);
        got.sort((a, b) -> Long.compare(a.getQueueOffset(), b.getQueueOffset()));
        for (int i = 0; i < 10; i++) {
            MessageExt m = got.get(i);
            assertEquals(r.getMessageQueue().getQueueId(), m.getQueueId(), "the whole batch in one queue");
            assertEquals(r.getQueueOffset() + i, m.getQueueOffset(), "consecutive offsets in send order");
            assertEquals("batch body " + i, str(m.getBody()));
            assertEquals(Integer.toString(i), m.getUserProperty("i"));
            assertEquals("batch-" + i, m.getKeys());
            assertEquals(ids[i], m.getMsgId());
        }
        // a batch may not mix topics: the client refuses it before sending
        List<Message> mixed = new ArrayList<>();
        mixed.add(new Message(topic, utf8("x")));
        mixed.add(new Message(topic + "_other", utf8("y")));
        boolean refused = false;
        try {
            p.send(mixed);
        } catch (Exception e) {
            refused = true;
        }
        assertTrue(refused, "a batch of two topics is refused");
    }

    @Test
    void selectorKeepsEachOrderInOneQueueInOrder() throws Exception {
        String topic = uniq("cj_ordered");
        createTopic(topic, 4);
        DefaultMQProducer p = producer(uniq("pg_ordered"));
        int orders = 6;
        int steps = 15;
        Map<Integer, Integer> queueOf = new HashMap<>();
        for (int s = 0; s < steps; s++) {
            for (int o = 0; o < orders; o++) {
                Message m = new Message(topic, "S", "order-" + o, utf8(o + ":" + s));
                SendResult r = p.send(m, (mqs, msg, arg) -> mqs.get((Integer) arg % mqs.size()), o);
                assertEquals(SendStatus.SEND_OK, r.getSendStatus());
                MessageQueue mq = r.getMessageQueue();
                assertEquals(o % 4, mq.getQueueId(), "the selector's queue");
                Integer before = queueOf.put(o, mq.getQueueId());
                assertTrue(before == null || before == mq.getQueueId());
            }
        }
        List<MessageExt> got = readTopic(topic, orders * steps);
        got.sort((a, b) -> a.getQueueId() != b.getQueueId() ? Integer.compare(a.getQueueId(), b.getQueueId())
                : Long.compare(a.getQueueOffset(), b.getQueueOffset()));
        Map<Integer, Integer> next = new HashMap<>();
        for (MessageExt m : got) {
            String[] f = str(m.getBody()).split(":");
            int o = Integer.parseInt(f[0]);
            int s = Integer.parseInt(f[1]);
            assertEquals(queueOf.get(o).intValue(), m.getQueueId(), "order " + o + " stays in its queue");
            assertEquals(next.getOrDefault(o, 0).intValue(), s, "order " + o + " step order in queue offsets");
            next.put(o, s + 1);
        }
        for (int o = 0; o < orders; o++) {
            assertEquals(steps, next.get(o).intValue());
        }
    }
}
