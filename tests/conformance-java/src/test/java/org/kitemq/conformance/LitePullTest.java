// DefaultLitePullConsumer: subscribe mode (rebalanced queues, offsets committed to the
// broker and honoured by the next member of the group) and assign mode (only the assigned
// queues, from the offset sought; committed offsets read back).
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
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

    /** "queue@offset" of each message, in poll order. */
    private static List<String> positions(List<MessageExt> l) {
        List<String> r = new ArrayList<>();
        l.forEach(m -> r.add(m.getQueueId() + "@" + m.getQueueOffset()));
        return r;
    }

    private static List<String> range(int queue, int from, int to) {
        List<String> r = new ArrayList<>();
        for (int o = from; o < to; o++) {
            r.add(queue + "@" + o);
        }
        return r;
    }

    /** Seeks only once the consumer has read all there is: a seek during a pull races in the client. */
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
        int q1 = all.get(1).getQueueId();
        int q2 = all.get(2).getQueueId();
        c.assign(List.of(all.get(1), all.get(2)));
        // a new group starts at offset 0: queues 1 and 2 whole, in order, nothing else
        List<MessageExt> got = pollUntil(c, 20);
        got.addAll(c.poll(500));
        for (MessageExt m : got) {
            assertTrue(str(m.getBody()).startsWith("q" + m.getQueueId() + "-"), "queue selector kept");
        }
        List<String> have = positions(got);
        List<String> want = new ArrayList<>(range(q1, 0, 10));
        want.addAll(range(q2, 0, 10));
        assertEquals(new TreeSet<>(want), new TreeSet<>(have), "only the assigned queues");
        assertEquals(20, have.size(), "each message once: " + have);
        for (int q : new int[] {q1, q2}) {
            List<String> inQueue = new ArrayList<>();
            have.stream().filter(x -> x.startsWith(q + "@")).forEach(inQueue::add);
            assertEquals(range(q, 0, 10), inQueue, "queue " + q + " in offset order");
        }
        // seek queue 2 back to offset 6: offsets 6..9 again, nothing from queue 1
        seeking(() -> c.seek(all.get(2), 6));
        List<MessageExt> again = pollUntil(c, 4);
        again.addAll(c.poll(500));
        assertEquals(range(q2, 6, 10), positions(again), "from the offset sought");
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
        seeking(() -> c.seekToBegin(all.get(1)));
        List<MessageExt> begin = pollUntil(c, 10);
        begin.addAll(c.poll(500));
        assertEquals(range(q1, 0, 10), positions(begin), "seekToBegin reads queue 1 again from 0");
    }
}
