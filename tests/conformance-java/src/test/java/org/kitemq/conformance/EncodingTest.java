// Header encoding: this JVM's client really uses the encoding the run asked for
// (rocketmq.serialize.type), and the name server and broker answer a request built and
// parsed by the client's own RemotingCommand in the same encoding.
package org.kitemq.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.apache.rocketmq.remoting.protocol.SerializeType;
import org.junit.jupiter.api.Test;

class EncodingTest extends Base {

    private static SerializeType expected() {
        return SerializeType.valueOf(encoding());
    }

    @Test
    void clientUsesTheRequestedEncoding() {
        assertEquals(encoding(), System.getProperty("rocketmq.serialize.type"));
        RemotingCommand cmd = RemotingCommand.createRequestCommand(105, null);
        assertEquals(expected(), cmd.getSerializeTypeCurrentRPC());
        ByteBuffer frame = cmd.encode();
        // the header-length word: its high byte is the serialize type (0 JSON, 1 ROCKETMQ)
        int word = frame.getInt(4);
        assertEquals(expected().getCode(), (byte) (word >>> 24));
    }

    private RemotingCommand roundTrip(String host, int port, RemotingCommand req) throws Exception {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 5000);
            s.setSoTimeout(10_000);
            ByteBuffer b = req.encode();
            byte[] out = new byte[b.remaining()];
            b.get(out);
            OutputStream os = s.getOutputStream();
            os.write(out);
            os.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            int len = in.readInt();
            byte[] rest = new byte[len];
            in.readFully(rest);
            RemotingCommand resp = RemotingCommand.decode(ByteBuffer.wrap(rest));
            assertTrue(resp.isResponseType(), "a response");
            assertEquals(req.getOpaque(), resp.getOpaque(), "opaque echoed");
            assertEquals(expected(), resp.getSerializeTypeCurrentRPC(), "answered in the request's encoding");
            return resp;
        }
    }

    @Test
    void daemonsAnswerInTheRequestEncoding() throws Exception {
        String topic = uniq("cj_enc");
        createTopic(topic, 3);
        DefaultMQProducer p = producer(uniq("pg_enc"));
        // GET_ROUTEINFO_BY_TOPIC to the name server
        RemotingCommand route = RemotingCommand.createRequestCommand(105, null);
        route.addExtField("topic", topic);
        RemotingCommand r1 = roundTrip(cluster.host, cluster.namesrvPort, route);
        assertEquals(0, r1.getCode());
        String body = str(r1.getBody());
        assertTrue(body.contains(cluster.brokerAddr()) && body.contains("\"readQueueNums\":3"), body);
        // GET_MAX_OFFSET to the broker, and an unknown topic's route (code 17, TOPIC_NOT_EXIST)
        RemotingCommand max = RemotingCommand.createRequestCommand(30, null);
        max.addExtField("topic", topic);
        max.addExtField("queueId", "1");
        RemotingCommand r2 = roundTrip(cluster.host, cluster.brokerPort, max);
        assertEquals(0, r2.getCode());
        assertNotNull(r2.getExtFields());
        assertEquals("0", r2.getExtFields().get("offset"));
        RemotingCommand none = RemotingCommand.createRequestCommand(105, null);
        none.addExtField("topic", uniq("cj_no_such_topic"));
        assertEquals(17, roundTrip(cluster.host, cluster.namesrvPort, none).getCode());
    }
}
