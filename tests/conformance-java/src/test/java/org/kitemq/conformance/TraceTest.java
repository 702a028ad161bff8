// Message tracing (enableMsgTrace): a traced producer and a traced push consumer write
// their Pub / SubBefore / SubAfter records to RMQ_SYS_TRACE_TOPIC (auto-created by the
// first trace send), and the records name the traced message.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;

class TraceTest extends Base {
    static final String TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC";

    /** Every trace record (fields split on \u0001, records on \u0002) that mentions msgId. */
    private static List<List<String>> records(List<MessageExt> traces, String msgId) {
        List<List<String>> out = new ArrayList<>();
        for (MessageExt t : traces) {
            for (String rec : str(t.getBody()).split("\u0002")) {
                List<String> f = Arrays.asList(rec.split("\u0001", -1));
                if (f.contains(msgId)) {
                    out.add(f);
                }
            }
        }
        return out;
    }

    private static boolean has(List<List<String>> recs, String type) {
        return recs.stream().anyMatch(f -> f.get(0).equals(type));
    }

    @Test
    void producerAndConsumerTracesLandInTheTraceTopic() throws Exception {
        String topic = uniq("cj_trace");
        String pgroup = uniq("pg_trace");
        String cgroup = uniq("cg_trace");
        createTopic(topic, 2);
        DefaultMQProducer p = producer(new DefaultMQProducer(pgroup, true, null));
        Set<String> consumed = ConcurrentHashMap.newKeySet();
        DefaultMQPushConsumer c = pushConsumer(new DefaultMQPushConsumer(cgroup, true, null));
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> consumed.add(m.getMsgId()));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        Message m = new Message(topic, "TraceTag", "trace-key", utf8("traced body"));
        SendResult r = p.send(m);
        assertEquals(SendStatus.SEND_OK, r.getSendStatus());
        String id = r.getMsgId();
        await("the traced message consumed", () -> consumed.contains(id));
        List<MessageExt> traces = readTopic(TRACE_TOPIC, l -> {
            List<List<String>> recs = records(l, id);
            return has(recs, "Pub") && has(recs, "SubBefore") && has(recs, "SubAfter");
        });
        List<List<String>> recs = records(traces, id);
        List<String> pub = recs.stream().filter(f -> f.get(0).equals("Pub")).findFirst().get();
        assertTrue(pub.contains(pgroup), "Pub names the producer group: " + pub);
        assertTrue(pub.contains(topic), "Pub names the topic: " + pub);
        assertTrue(pub.contains("TraceTag") && pub.contains("trace-key"), "Pub has tag and keys: " + pub);
        assertTrue(pub.contains(r.getOffsetMsgId()), "Pub has the offset message id: " + pub);
        assertTrue(pub.stream().anyMatch(f -> f.startsWith(cluster.host + ":")), "Pub names the broker: " + pub);
        List<String> before = recs.stream().filter(f -> f.get(0).equals("SubBefore")).findFirst().get();
        assertTrue(before.contains(cgroup), "SubBefore names the consumer group: " + before);
        // the trace messages themselves carry the traced message id among their keys
        MessageExt carrier = traces.stream().filter(t -> str(t.getBody()).contains(id)).findFirst().get();
        assertNotNull(carrier.getKeys());
        assertTrue(carrier.getKeys().contains(id), "trace message keys: " + carrier.getKeys());
    }
}
