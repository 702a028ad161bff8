// Push consumers (DefaultMQPushConsumer): clustering (two members split the queues and each
// message is consumed once), broadcasting (every member gets everything) and orderly
// (MessageListenerOrderly: per-queue order kept, one consumer thread per queue at a time,
// SUSPEND_CURRENT_QUEUE_A_MOMENT redelivers the same message before the next one).
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.Test;

class PushConsumerTest extends Base {

    /** The queues of {@code topic} (not of the group's retry topic) this member pulls. */
    private static Set<MessageQueue> owned(DefaultMQPushConsumer c, String topic) {
        Set<MessageQueue> s = new HashSet<>();
        for (MessageQueue q : c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet()) {
            if (q.getTopic().equals(topic)) {
                s.add(q);
            }
        }
        return s;
    }

    private DefaultMQPushConsumer collecting(String group, String topic, Map<String, List<String>> into, String who)
            throws Exception {
        DefaultMQPushConsumer c = pushConsumer(group);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                into.computeIfAbsent(m.getKeys(), k -> new CopyOnWriteArrayList<>()).add(who + "@" + m.getQueueId());
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        return c;
    }

    @Test
    void clusteringSplitsQueuesAndConsumesEachMessageOnce() throws Exception {
        String topic = uniq("cj_cluster");
        String group = uniq("cg_cluster");
        createTopic(topic, 4);
        DefaultMQProducer p = producer(uniq("pg_cluster"));
        Map<String, List<String>> got = new ConcurrentHashMap<>();
        DefaultMQPushConsumer a = collecting(group, topic, got, "a");
        DefaultMQPushConsumer b = collecting(group, topic, got, "b");
        a.start();
        b.start();
        await("both members own two of the four queues", () -> {
            Set<MessageQueue> qa = owned(a, topic);
            Set<MessageQueue> qb = owned(b, topic);
            Set<MessageQueue> u = new HashSet<>(qa);
            u.addAll(qb);
            return qa.size() == 2 && qb.size() == 2 && u.size() == 4;
        });
        Map<Integer, String> ownerOf = new HashMap<>();
        owned(a, topic).forEach(q -> ownerOf.put(q.getQueueId(), "a"));
        owned(b, topic).forEach(q -> ownerOf.put(q.getQueueId(), "b"));
        int n = 40;
        for (int i = 0; i < n; i++) {
            p.send(new Message(topic, "C", "k" + i, utf8("c" + i)));
        }
        await("all " + n + " consumed", () -> got.size() == n);
        Thread.sleep(500);
        Set<String> who = new HashSet<>();
        for (Map.Entry<String, List<String>> e : got.entrySet()) {
            assertEquals(1, e.getValue().size(), "consumed once: " + e.getKey() + " " + e.getValue());
            String[] f = e.getValue().get(0).split("@");
            assertEquals(ownerOf.get(Integer.parseInt(f[1])), f[0], "consumed by the queue's owner");
            who.add(f[0]);
        }
        assertEquals(Set.of("a", "b"), who, "both members consumed");
    }

    @Test
    void broadcastingDeliversEverythingToEveryMember() throws Exception {
        String topic = uniq("cj_bcast");
        String group = uniq("cg_bcast");
        createTopic(topic, 3);
        DefaultMQProducer p = producer(uniq("pg_bcast"));
        Map<String, List<String>> got = new ConcurrentHashMap<>();
        List<DefaultMQPushConsumer> cs = new ArrayList<>();
        for (String who : new String[] {"a", "b", "c"}) {
            DefaultMQPushConsumer c = collecting(group, topic, got, who);
            messageModel(c, "BROADCASTING");
            c.start();
            cs.add(c);
        }
        await("every member owns every queue", () -> cs.stream().allMatch(c -> owned(c, topic).size() == 3));
        int n = 15;
        for (int i = 0; i < n; i++) {
            p.send(new Message(topic, "B", "k" + i, utf8("b" + i)));
        }
        await("each message consumed by all three", () -> got.size() == n
                && got.values().stream().allMatch(l -> l.size() >= 3));
        Thread.sleep(500);
        for (Map.Entry<String, List<String>> e : got.entrySet()) {
            Set<String> members = new HashSet<>();
            e.getValue().forEach(s -> members.add(s.split("@")[0]));
            assertEquals(3, e.getValue().size(), e.getKey() + " " + e.getValue());
            assertEquals(Set.of("a", "b", "c"), members, e.getKey());
        }
    }

    @Test
    void orderlyKeepsQueueOrderAndRedeliversSuspendedMessageFirst() throws Exception {
        String topic = uniq("cj_orderly");
        String group = uniq("cg_orderly");
        createTopic(topic, 4);
        DefaultMQProducer p = producer(uniq("pg_orderly"));
        int orders = 8;
        int steps = 12;
        List<String> seq = Collections.synchronizedList(new ArrayList<>());
        Map<Integer, AtomicInteger> busy = new ConcurrentHashMap<>();
        AtomicBoolean overlap = new AtomicBoolean();
        AtomicBoolean suspendedOnce = new AtomicBoolean();
        DefaultMQPushConsumer c = pushConsumer(group);
        c.setSuspendCurrentQueueTimeMillis(300);
        c.setConsumeMessageBatchMaxSize(1);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerOrderly) (msgs, ctx) -> {
            MessageExt m = msgs.get(0);
            AtomicInteger b = busy.computeIfAbsent(m.getQueueId(), q -> new AtomicInteger());
            if (b.incrementAndGet() != 1) {
                overlap.set(true);
            }
            try {
                Thread.sleep(2);
                seq.add(str(m.getBody()) + ":" + m.getReconsumeTimes());
                // order 3, step 5: ask for a moment's pause once; it must come back before step 6
                if (str(m.getBody()).equals("3:5") && suspendedOnce.compareAndSet(false, true)) {
                    return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
                }
                return ConsumeOrderlyStatus.SUCCESS;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
            } finally {
                b.decrementAndGet();
            }
        });
        c.start();
        for (int s = 0; s < steps; s++) {
            for (int o = 0; o < orders; o++) {
                p.send(new Message(topic, "O", "o" + o, utf8(o + ":" + s)),
                        (mqs, msg, arg) -> mqs.get((Integer) arg % mqs.size()), o);
            }
        }
        await("every step of every order consumed", () -> seq.size() >= orders * steps + 1);
        Thread.sleep(300);
        assertFalse(overlap.get(), "two threads consumed one queue at the same time");
        assertEquals(orders * steps + 1, seq.size(), "each message once, the suspended one twice: " + seq);
        List<String> copy;
        synchronized (seq) {
            copy = new ArrayList<>(seq);
        }
        // per queue, consumption follows the send order exactly, the suspended message
        // coming back (reconsumeTimes 1) right after its first delivery
        for (int q = 0; q < 4; q++) {
            List<String> want = new ArrayList<>();
            for (int s = 0; s < steps; s++) {
                for (int o = 0; o < orders; o++) {
                    if (o % 4 == q) {
                        want.add(o + ":" + s + ":0");
                        if (o == 3 && s == 5) {
                            want.add("3:5:1");
                        }
                    }
                }
            }
            List<String> have = new ArrayList<>();
            for (String e : copy) {
                if (Integer.parseInt(e.split(":")[0]) % 4 == q) {
                    have.add(e);
                }
            }
            assertEquals(want, have, "consumption order of queue " + q);
        }
    }
}
