// DefaultLitePullConsumer: subscribe mode (rebalanced queues, offsets committed to the
// broker and honoured by the next member of the group) and assign mode (only the assigned
// queues, from the offset sought; committed offsets read back).
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.Test;

class LitePullTest extends Base {

    private static List<MessageExt> pollUntil(DefaultLitePullConsumer c, int n) {
        List<MessageExt> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (got.size() < n && System.currentTimeMillis() < deadline) {
            got.addAll(c.poll(500));
        }
        return got;
    }

    private static Set<String> keys(Collection<MessageExt> l) {
        Set<String> s = new TreeSet<>();
        l.forEach(m -> s.add(m.getKeys()));
        return s;
    }

    @Test
    void subscribeCommitsOffsetsForTheGroup() throws Exception {
        String topic = uniq("cj_lsub");
        String group = uniq("cg_lsub");
        createTopic(topic, 4);
        DefaultMQProducer p = producer(uniq("pg_lsub"));
        Set<String> first = new TreeSet<>();
        for (int i = 0; i < 30; i++) {
            p.send(new Message(topic, "L", "first-" + i, utf8("f" + i)));
            first.add("first-" + i);
        }
        DefaultLitePullConsumer c1 = litePull(group);
        c1.setAutoCommit(false);
        c1.subscribe(topic, "*");
        c1.start();
        List<MessageExt> got = pollUntil(c1, 30);
        assertEquals(first, keys(got), "the first batch, each once");
        assertEquals(30, got.size());
        c1.commitSync();
        c1.shutdown();

        Set<String> second = new TreeSet<>();
        for (int i = 0; i < 10; i++) {
            p.send(new Message(topic, "L", "second-" + i, utf8("s" + i)));
            second.add("second-" + i);
        }
        DefaultLitePullConsumer c2 = litePull(group);
        c2.subscribe(topic, "*");
        c2.start();
        List<MessageExt> got2 = pollUntil(c2, 10);
        // a little longer: nothing of the first batch may come back
        got2.addAll(c2.poll(1000));
        assertEquals(second, keys(got2), "the group resumes at its committed offsets");
        assertEquals(10, got2.size());
    }

    @Test
    void assignReadsOnlyItsQueuesFromTheSoughtOffset() throws Exception {
        String topic = uniq("cj_lassign");
        createTopic(topic, 4);
        DefaultMQProducer p = producer(uniq("pg_lassign"));
        for (int i = 0; i < 40; i++) {
            int q = i % 4;
            p.send(new Message(topic, "L", "k" + i, utf8("q" + q + "-" + i)),
                    (mqs, msg, arg) -> mqs.get((Integer) arg), q);
        }
        readTopic(topic, 40);   // all dispatched to their queues (the broker's max offsets)
        DefaultLitePullConsumer c = litePull(uniq("cg_lassign"));
        c.setAutoCommit(false);
        c.start();
        List<MessageQueue> all = new ArrayList<>(c.fetchMessageQueues(topic));
        assertEquals(4, all.size());
        all.sort(null);
        List<MessageQueue> mine = List.of(all.get(1), all.get(2));
        c.assign(mine);
        seeking(() -> c.seek(all.get(1), 0));
        seeking(() -> c.seek(all.get(2), 6));
        // queue 1: offsets 0..9, queue 2: offsets 6..9
        List<MessageExt> got = pollUntil(c, 14);
        got.addAll(c.poll(500));
        assertEquals(14, got.size(), describe(got));
        Set<String> seen = new HashSet<>();
        for (MessageExt m : got) {
            assertTrue(m.getQueueId() == all.get(1).getQueueId() || m.getQueueId() == all.get(2).getQueueId(),
                    "only assigned queues: " + m.getQueueId());
            if (m.getQueueId() == all.get(2).getQueueId()) {
                assertTrue(m.getQueueOffset() >= 6, "from the offset sought: " + m.getQueueOffset());
            }
            assertTrue(str(m.getBody()).startsWith("q" + m.getQueueId() + "-"), "queue selector kept");
            assertTrue(seen.add(m.getQueueId() + "@" + m.getQueueOffset()), "no duplicate");
        }
        // commit and read the committed offsets back from the broker
        Map<MessageQueue, Long> offs = new HashMap<>();
        offs.put(all.get(1), 10L);
        offs.put(all.get(2), 8L);
        c.commitSync(offs, true);
        await("committed offsets stored", () -> {
            try {
                return c.committed(all.get(1)) == 10L && c.committed(all.get(2)) == 8L;
            } catch (Exception e) {
                return false;
            }
        });
        // seekToBegin goes back to the queue's first offset
        seeking(() -> c.seekToBegin(all.get(2)));
        List<MessageExt> again = pollUntil(c, 10);
        assertTrue(again.stream().anyMatch(m -> m.getQueueId() == all.get(2).getQueueId() && m.getQueueOffset() == 0),
                "seekToBegin reads offset 0 again: " + describe(again));
    }
}
