// Consuming from a point in time: SEARCH_OFFSET_BY_TIMESTAMP through the lite pull
// consumer's offsetForTimestamp (then seek) finds exactly the messages stored after the
// instant; a push consumer with CONSUME_FROM_TIMESTAMP in a new group starts at offset 0 on
// queues whose first message is still stored (the broker answers QUERY_CONSUMER_OFFSET with
// 0 there, as Apache RocketMQ's does), so it sees everything.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.Test;

class TimestampTest extends Base {

    @Test
    void offsetForTimestampFindsTheFirstLaterMessage() throws Exception {
        String topic = uniq("cj_ts");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(uniq("pg_ts"));
        Set<String> before = new TreeSet<>();
        for (int i = 0; i < 9; i++) {
            p.send(new Message(topic, "T", "before-" + i, utf8("b" + i)));
            before.add("before-" + i);
        }
        List<MessageExt> stored = readTopic(topic, 9);
        long lastStore = stored.stream().mapToLong(MessageExt::getStoreTimestamp).max().getAsLong();
        Map<Integer, Long> beforePerQueue = new HashMap<>();
        stored.forEach(m -> beforePerQueue.merge(m.getQueueId(), 1L, Long::sum));
        // the instant: the next whole second after the last stored message
        long t = (lastStore / 1000 + 1) * 1000;
        while (System.currentTimeMillis() < t + 50) {
            Thread.sleep(20);
        }
        Set<String> after = new TreeSet<>();
        for (int i = 0; i < 7; i++) {
            p.send(new Message(topic, "T", "after-" + i, utf8("a" + i)));
            after.add("after-" + i);
        }
        readTopic(topic, 16);

        DefaultLitePullConsumer c = litePull(uniq("cg_ts"));
        c.setAutoCommit(false);
        c.start();
        List<MessageQueue> mqs = new ArrayList<>(c.fetchMessageQueues(topic));
        Map<MessageQueue, Long> from = new HashMap<>();
        for (MessageQueue mq : mqs) {
            long off = c.offsetForTimestamp(mq, t);
            assertEquals(beforePerQueue.getOrDefault(mq.getQueueId(), 0L).longValue(), off,
                    "offset for the instant in queue " + mq.getQueueId());
            from.put(mq, off);
        }
        // read everything first: a seek while a pull is under way races in the client
        c.assign(mqs);
        Set<String> everything = new TreeSet<>(before);
        everything.addAll(after);
        Set<String> seen = new TreeSet<>();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (seen.size() < everything.size() && System.currentTimeMillis() < deadline) {
            c.poll(500).forEach(m -> seen.add(m.getKeys()));
        }
        assertEquals(everything, seen);
        for (MessageQueue mq : mqs) {
            seeking(() -> c.seek(mq, from.get(mq)));
        }
        Set<String> got = new TreeSet<>();
        deadline = System.currentTimeMillis() + WAIT_MS;
        while (got.size() < after.size() && System.currentTimeMillis() < deadline) {
            for (MessageExt m : c.poll(500)) {
                assertTrue(m.getStoreTimestamp() >= t, "stored at or after the instant: " + m.getKeys());
                got.add(m.getKeys());
            }
        }
        for (MessageExt m : c.poll(500)) {
            assertTrue(m.getStoreTimestamp() >= t, "stored at or after the instant: " + m.getKeys());
            got.add(m.getKeys());
        }
        assertEquals(after, got);

        // a push consumer from that instant, in a new group, on young queues: everything
        String stamp = new SimpleDateFormat("yyyyMMddHHmmss").format(new Date(t));
        Set<String> pushed = ConcurrentHashMap.newKeySet();
        DefaultMQPushConsumer pc = pushConsumer(uniq("cg_ts_push"));
        pc.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_TIMESTAMP);
        pc.setConsumeTimestamp(stamp);
        pc.subscribe(topic, "*");
        pc.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> pushed.add(m.getKeys()));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        pc.start();
        await("all 16 pushed", () -> pushed.size() >= 16);
        assertEquals(everything, new TreeSet<>(pushed));
    }
}
