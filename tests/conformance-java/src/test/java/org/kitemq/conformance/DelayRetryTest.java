// Delay levels, consumer retries and the dead-letter queue, with the broker's levels
// shortened (level 2 = 3 s, every other level 1 s): a delayed message comes no earlier than
// its delay and after an undelayed message sent later; RECONSUME_LATER brings a message back
// through %RETRY%<group> with reconsumeTimes rising; past maxReconsumeTimes it lands in
// %DLQ%<group>, whole.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;

class DelayRetryTest extends Base {

    @Override
    protected Map<String, String> brokerConfig() {
        Map<String, String> m = super.brokerConfig();
        m.put("messageDelayLevel", "1s 3s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s");
        return m;
    }

    /** One delivery as the listener saw it. */
    record Seen(String key, int reconsumeTimes, long at, String topic, String msgId, String body) {
    }

    private DefaultMQPushConsumer recording(String group, String topic, List<Seen> into,
            java.util.function.Predicate<MessageExt> later) throws Exception {
        DefaultMQPushConsumer c = pushConsumer(group);
        c.subscribe(topic, "*");
        c.setConsumeMessageBatchMaxSize(1);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            MessageExt m = msgs.get(0);
            into.add(new Seen(m.getKeys(), m.getReconsumeTimes(), System.currentTimeMillis(), m.getTopic(),
                    m.getMsgId(), str(m.getBody())));
            return later.test(m) ? ConsumeConcurrentlyStatus.RECONSUME_LATER
                    : ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        return c;
    }

    @Test
    void delayedMessageWaitsItsLevel() throws Exception {
        String topic = uniq("cj_delay");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(uniq("pg_delay"));
        List<Seen> seen = Collections.synchronizedList(new ArrayList<>());
        recording(uniq("cg_delay"), topic, seen, m -> false);
        Message d = new Message(topic, "D", "delayed", utf8("later"));
        d.setDelayTimeLevel(2);   // 3 s here
        long before = System.currentTimeMillis();
        SendResult r = p.send(d);
        p.send(new Message(topic, "D", "now", utf8("now")));
        await("both delivered", () -> seen.size() >= 2);
        Thread.sleep(300);
        assertEquals(2, seen.size(), seen.toString());
        assertEquals("now", seen.get(0).key(), "the undelayed message, sent later, comes first");
        Seen late = seen.get(1);
        assertEquals("delayed", late.key());
        assertEquals(topic, late.topic(), "delivered in its real topic");
        assertEquals(r.getMsgId(), late.msgId());
        assertEquals("later", late.body());
        assertTrue(late.at() - before >= 3000, "not before its 3 s delay: " + (late.at() - before) + " ms");
    }

    @Test
    void reconsumeLaterRedeliversWithRisingReconsumeTimes() throws Exception {
        String topic = uniq("cj_retry");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(uniq("pg_retry"));
        List<Seen> seen = Collections.synchronizedList(new ArrayList<>());
        // fail "r1" twice, then accept it; "ok" succeeds at once
        DefaultMQPushConsumer c = recording(uniq("cg_retry"), topic, seen,
                m -> m.getKeys().equals("r1") && m.getReconsumeTimes() < 2);
        awaitRetryQueue(c);
        SendResult r = p.send(new Message(topic, "R", "r1", utf8("retry me")));
        p.send(new Message(topic, "R", "ok", utf8("fine")));
        await("r1 accepted on its third delivery",
                () -> seen.stream().filter(s -> s.key().equals("r1")).count() >= 3);
        Thread.sleep(2500);   // longer than a retry delay: no fourth delivery
        List<Seen> r1 = new ArrayList<>();
        synchronized (seen) {
            seen.stream().filter(s -> s.key().equals("r1")).forEach(r1::add);
            assertEquals(1, seen.stream().filter(s -> s.key().equals("ok")).count(), "ok consumed once");
        }
        assertEquals(3, r1.size(), r1.toString());
        for (int i = 0; i < 3; i++) {
            Seen s = r1.get(i);
            assertEquals(i, s.reconsumeTimes(), "reconsumeTimes of delivery " + i);
            assertEquals(topic, s.topic(), "a retried message shows its original topic");
            assertEquals(r.getMsgId(), s.msgId(), "and its original id");
            assertEquals("retry me", s.body());
            if (i > 0) {
                assertTrue(s.at() - r1.get(i - 1).at() >= 900, "retry waits its delay level (1 s here)");
            }
        }
    }

    @Test
    void exhaustedRetriesLandInTheDeadLetterQueue() throws Exception {
        String topic = uniq("cj_dlq");
        String group = uniq("cg_dlq");
        createTopic(topic, 1);
        DefaultMQProducer p = producer(uniq("pg_dlq"));
        List<Seen> seen = Collections.synchronizedList(new ArrayList<>());
        DefaultMQPushConsumer c = pushConsumer(group);
        c.setMaxReconsumeTimes(2);
        c.setConsumeMessageBatchMaxSize(1);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            MessageExt m = msgs.get(0);
            seen.add(new Seen(m.getKeys(), m.getReconsumeTimes(), System.currentTimeMillis(), m.getTopic(),
                    m.getMsgId(), str(m.getBody())));
            return ConsumeConcurrentlyStatus.RECONSUME_LATER;
        });
        c.start();
        awaitRetryQueue(c);
        Message m = new Message(topic, "X", "dead", utf8("never accepted"));
        m.putUserProperty("origin", "conformance");
        SendResult r = p.send(m);
        String dlq = "%DLQ%" + group;
        List<MessageExt> dead = readTopic(dlq, l -> !l.isEmpty());
        assertEquals(1, dead.size());
        MessageExt d = dead.get(0);
        assertEquals("never accepted", str(d.getBody()));
        assertEquals("dead", d.getKeys());
        assertEquals("X", d.getTags());
        assertEquals("conformance", d.getUserProperty("origin"));
        assertEquals(r.getMsgId(), d.getMsgId(), "the dead letter keeps the message id");
        assertEquals(3, d.getReconsumeTimes(), "one past its last delivery (2), like every sent-back copy");
        Thread.sleep(2000);   // no further delivery once dead
        List<Integer> times = new ArrayList<>();
        synchronized (seen) {
            seen.forEach(s -> times.add(s.reconsumeTimes()));
        }
        assertEquals(List.of(0, 1, 2), times, "deliveries before the DLQ");
    }
}
