// Broker-side filtering: tag expressions ("TagA || TagC") and SQL92 property selectors
// (enablePropertyFilter=true), through push and lite pull consumers; an unparsable SQL92
// expression is refused when the consumer starts (CHECK_CLIENT_CONFIG).
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.MessageSelector;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.Message;
import org.junit.jupiter.api.Test;

class FilterTest extends Base {

    @Override
    protected Map<String, String> brokerConfig() {
        Map<String, String> m = super.brokerConfig();
        m.put("enablePropertyFilter", "true");
        return m;
    }

    private DefaultMQPushConsumer collect(String group, String topic, MessageSelector sel, String tags,
            Set<String> into) throws Exception {
        DefaultMQPushConsumer c = pushConsumer(group);
        if (sel != null) {
            c.subscribe(topic, sel);
        } else {
            c.subscribe(topic, tags);
        }
        c.registerMessageListener(keysInto(into));
        c.start();
        return c;
    }

    @Test
    void tagExpressionSelectsTags() throws Exception {
        String topic = uniq("cj_tags");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(uniq("pg_tags"));
        Set<String> got = ConcurrentHashMap.newKeySet();
        Set<String> all = ConcurrentHashMap.newKeySet();
        collect(uniq("cg_tags"), topic, null, "TagA || TagC", got);
        collect(uniq("cg_tags_all"), topic, null, "*", all);
        Set<String> want = new TreeSet<>();
        String[] tags = {"TagA", "TagB", "TagC", "TagAB", "tagA"};
        for (int i = 0; i < 25; i++) {
            String tag = tags[i % tags.length];
            p.send(new Message(topic, tag, tag + "-" + i, utf8(tag)));
            if (tag.equals("TagA") || tag.equals("TagC")) {
                want.add(tag + "-" + i);
            }
        }
        await("the '*' group got all 25", () -> all.size() == 25);
        await("the tag group got its " + want.size(), () -> got.size() >= want.size());
        Thread.sleep(300);
        assertEquals(want, new TreeSet<>(got));
    }

    @Test
    void sql92SelectsByProperties() throws Exception {
        String topic = uniq("cj_sql");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(uniq("pg_sql"));
        Set<String> got = ConcurrentHashMap.newKeySet();
        Set<String> gotTags = ConcurrentHashMap.newKeySet();
        Set<String> all = ConcurrentHashMap.newKeySet();
        String sql = "(a BETWEEN 3 AND 6 AND b = 'x') OR c IS NOT NULL";
        collect(uniq("cg_sql"), topic, MessageSelector.bySql(sql), null, got);
        collect(uniq("cg_sql_tags"), topic, MessageSelector.bySql("TAGS IN ('T1', 'T3') AND a > 5"), null, gotTags);
        collect(uniq("cg_sql_all"), topic, MessageSelector.bySql("TRUE"), null, all);
        Set<String> want = new TreeSet<>();
        Set<String> wantTags = new TreeSet<>();
        int n = 30;
        for (int i = 0; i < n; i++) {
            int a = i % 10;
            String b = i % 3 == 0 ? "x" : "y";
            String tag = "T" + (i % 4);
            Message m = new Message(topic, tag, "k" + i, utf8("sql " + i));
            if (i % 7 != 6) {
                m.putUserProperty("a", Integer.toString(a));   // every 7th has no a at all
            }
            m.putUserProperty("b", b);
            if (i == 13) {
                m.putUserProperty("c", "present");
            }
            p.send(m);
            boolean hasA = i % 7 != 6;
            if ((hasA && a >= 3 && a <= 6 && b.equals("x")) || i == 13) {
                want.add("k" + i);
            }
            if (hasA && a > 5 && (tag.equals("T1") || tag.equals("T3"))) {
                wantTags.add("k" + i);
            }
        }
        await("the TRUE group got all " + n, () -> all.size() == n);
        await("the SQL group got its " + want.size(), () -> got.size() >= want.size());
        await("the TAGS group got its " + wantTags.size(), () -> gotTags.size() >= wantTags.size());
        Thread.sleep(300);
        assertEquals(want, new TreeSet<>(got), sql);
        assertEquals(wantTags, new TreeSet<>(gotTags));

        // the same selector through a lite pull consumer: only matching records come back
        DefaultLitePullConsumer lite = litePull(uniq("cg_sql_lite"));
        lite.subscribe(topic, MessageSelector.bySql(sql));
        lite.start();
        List<String> pulled = new ArrayList<>();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (pulled.size() < want.size() && System.currentTimeMillis() < deadline) {
            lite.poll(500).forEach(m -> pulled.add(m.getKeys()));
        }
        lite.poll(500).forEach(m -> pulled.add(m.getKeys()));
        assertEquals(want, new TreeSet<>(pulled), "lite pull with the selector");
        assertEquals(want.size(), pulled.size());
    }

    @Test
    void unparsableSqlIsRefusedAtStart() throws Exception {
        String topic = uniq("cj_badsql");
        createTopic(topic, 1);
        DefaultMQProducer p = producer(uniq("pg_badsql"));
        DefaultMQPushConsumer c = pushConsumer(uniq("cg_badsql"));
        c.subscribe(topic, MessageSelector.bySql("a >< 3 AND"));
        c.registerMessageListener(
                (MessageListenerConcurrently) (msgs, ctx) -> ConsumeConcurrentlyStatus.CONSUME_SUCCESS);
        assertThrows(Exception.class, c::start, "the broker refuses the expression");
    }
}
