// Produce scenarios: sync, async, oneway, batch and compressed sends of the Go client. Each checks the
// send answers (status, ids, queue, offsets) where the mode has one, then reads the
// messages back with a push consumer and checks every field the producer set (body, tag,
// keys, a unicode property) and that the stored position matches the answer.
package conformance

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

const produceCount = 16

// the Go client writes the UNIQ_KEY in lower-case hex, the broker its offset ids in upper case
var hexID = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)

// testMsg builds message i of a scenario: body "<mode>-<i>", tag, keys and a property
// with non-ASCII text.
func testMsg(topic, mode string, i int) *primitive.Message {
	m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s-%d", mode, i)))
	m.WithTag("Tag" + mode)
	m.WithKeys([]string{fmt.Sprintf("key-%s-%d", mode, i)})
	m.WithProperty("conf_prop", fmt.Sprintf("värde-%d ✓ 消息", i))
	return m
}

// checkFields compares a delivered message with the message testMsg built for its body.
func checkFields(t *testing.T, topic, mode string, m *primitive.MessageExt) {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(string(m.Body), mode+"-%d", &i); err != nil {
		t.Errorf("unexpected body %q", m.Body)
		return
	}
	if m.Topic != topic {
		t.Errorf("%s: topic %q, want %q", m.Body, m.Topic, topic)
	}
	if got := m.GetTags(); got != "Tag"+mode {
		t.Errorf("%s: tag %q", m.Body, got)
	}
	if got, want := m.GetKeys(), fmt.Sprintf("key-%s-%d", mode, i); got != want {
		t.Errorf("%s: keys %q, want %q", m.Body, got, want)
	}
	if got, want := m.GetProperty("conf_prop"), fmt.Sprintf("värde-%d ✓ 消息", i); got != want {
		t.Errorf("%s: property %q, want %q", m.Body, got, want)
	}
	if m.Queue == nil || m.Queue.Topic != topic || m.Queue.BrokerName != brokerName {
		t.Errorf("%s: delivered from queue %+v", m.Body, m.Queue)
	}
	if m.StoreHost != brokerAddr {
		t.Errorf("%s: store host %q, want the broker's address %q", m.Body, m.StoreHost, brokerAddr)
	}
}

// consumeAll reads topic with a fresh group until every body of want arrived, checks the
// fields of each and that each arrived exactly once, and returns the deliveries by body.
func consumeAll(t *testing.T, topic, mode string, want []string) map[string]*primitive.MessageExt {
	t.Helper()
	col := &collector{}
	startConsumer(t, consumerSpec{group: uniq("CG"), topic: topic, name: uniq("cons"), col: col})
	col.waitBodies(t, "", want)
	byBody := map[string]*primitive.MessageExt{}
	for _, r := range col.snapshot() {
		checkFields(t, topic, mode, r.msg)
		if byBody[string(r.msg.Body)] != nil {
			t.Errorf("%s delivered twice to one consumer", r.msg.Body)
		}
		byBody[string(r.msg.Body)] = r.msg
	}
	if len(byBody) != len(want) {
		t.Errorf("delivered %d distinct messages, sent %d: %v", len(byBody), len(want), sortedKeys(byBody))
	}
	return byBody
}

// checkAnswer checks one send answer and that the delivery of its message matches it.
func checkAnswer(t *testing.T, topic string, r *primitive.SendResult, m *primitive.MessageExt) {
	t.Helper()
	if r.Status != primitive.SendOK {
		t.Errorf("%s: send status %v", m.Body, r.Status)
	}
	if !hexID.MatchString(r.MsgID) || !hexID.MatchString(r.OffsetMsgID) {
		t.Errorf("%s: msgId %q / offsetMsgId %q are not 32 hex digits", m.Body, r.MsgID, r.OffsetMsgID)
	}
	if r.MessageQueue == nil || r.MessageQueue.Topic != topic || r.MessageQueue.BrokerName != brokerName {
		t.Fatalf("%s: answered queue %+v", m.Body, r.MessageQueue)
	}
	if m.MsgId != r.MsgID {
		t.Errorf("%s: delivered msgId %s, the send answered %s", m.Body, m.MsgId, r.MsgID)
	}
	if m.OffsetMsgId != r.OffsetMsgID {
		t.Errorf("%s: delivered offsetMsgId %s, the send answered %s", m.Body, m.OffsetMsgId, r.OffsetMsgID)
	}
	if m.Queue.QueueId != r.MessageQueue.QueueId || m.QueueOffset != r.QueueOffset {
		t.Errorf("%s: delivered from queue %d offset %d, the send answered queue %d offset %d",
			m.Body, m.Queue.QueueId, m.QueueOffset, r.MessageQueue.QueueId, r.QueueOffset)
	}
}

// checkQueueOffsets: the answers of each queue hold the offsets 0..n-1, each once.
func checkQueueOffsets(t *testing.T, results []*primitive.SendResult, queues int) {
	t.Helper()
	perQueue := map[int]map[int64]bool{}
	for _, r := range results {
		q := r.MessageQueue.QueueId
		if q < 0 || q >= queues {
			t.Errorf("answered queue id %d of a %d-queue topic", q, queues)
			continue
		}
		if perQueue[q] == nil {
			perQueue[q] = map[int64]bool{}
		}
		if perQueue[q][r.QueueOffset] {
			t.Errorf("queue %d: offset %d answered twice", q, r.QueueOffset)
		}
		perQueue[q][r.QueueOffset] = true
	}
	for q, offs := range perQueue {
		for o := int64(0); o < int64(len(offs)); o++ {
			if !offs[o] {
				t.Errorf("queue %d: offsets %v are not 0..%d", q, offs, len(offs)-1)
				break
			}
		}
	}
	if len(perQueue) != queues {
		t.Errorf("round-robin sends used %d of %d queues", len(perQueue), queues)
	}
}

func TestProduceSync(t *testing.T) {
	topic := uniq("GoSync")
	createTopic(t, topic, 4)
	p := startProducer(t)
	results := map[string]*primitive.SendResult{}
	var all []*primitive.SendResult
	var want []string
	for i := 0; i < produceCount; i++ {
		m := testMsg(topic, "sync", i)
		r, err := p.SendSync(context.Background(), m)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		results[string(m.Body)] = r
		all = append(all, r)
		want = append(want, string(m.Body))
	}
	checkQueueOffsets(t, all, 4)
	got := consumeAll(t, topic, "sync", want)
	for body, r := range results {
		if m := got[body]; m != nil {
			checkAnswer(t, topic, r, m)
		}
	}
}

func TestProduceAsync(t *testing.T) {
	topic := uniq("GoAsync")
	createTopic(t, topic, 4)
	p := startProducer(t)
	var mu sync.Mutex
	results := map[string]*primitive.SendResult{}
	calls := map[string]int{}
	var want []string
	for i := 0; i < produceCount; i++ {
		m := testMsg(topic, "async", i)
		body := string(m.Body)
		want = append(want, body)
		err := p.SendAsync(context.Background(), func(ctx context.Context, r *primitive.SendResult, err error) {
			mu.Lock()
			defer mu.Unlock()
			calls[body]++
			if err != nil {
				t.Errorf("async send of %s: %v", body, err)
				return
			}
			results[body] = r
		}, m)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	waitUntil(t, "every async callback", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) == produceCount
	})
	got := consumeAll(t, topic, "async", want)
	mu.Lock()
	defer mu.Unlock()
	var all []*primitive.SendResult
	for body, n := range calls {
		if n != 1 {
			t.Errorf("%s: callback called %d times", body, n)
		}
	}
	for body, r := range results {
		all = append(all, r)
		if m := got[body]; m != nil {
			checkAnswer(t, topic, r, m)
		}
	}
	checkQueueOffsets(t, all, 4)
}

func TestProduceOneway(t *testing.T) {
	topic := uniq("GoOneway")
	createTopic(t, topic, 4)
	p := startProducer(t)
	var want []string
	for i := 0; i < produceCount; i++ {
		m := testMsg(topic, "oneway", i)
		if err := p.SendOneWay(context.Background(), m); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		want = append(want, string(m.Body))
	}
	// a oneway send has no answer: the deliveries are the only proof
	got := consumeAll(t, topic, "oneway", want)
	queues := map[int]bool{}
	for _, m := range got {
		queues[m.Queue.QueueId] = true
		if !hexID.MatchString(m.MsgId) {
			t.Errorf("%s: msgId %q", m.Body, m.MsgId)
		}
	}
	if len(queues) != 4 {
		t.Errorf("round-robin oneway sends reached %d of 4 queues", len(queues))
	}
}

func TestProduceBatch(t *testing.T) {
	const n = 10
	topic := uniq("GoBatch")
	createTopic(t, topic, 4)
	p := startProducer(t)
	var msgs []*primitive.Message
	var want []string
	for i := 0; i < n; i++ {
		m := testMsg(topic, "batch", i)
		msgs = append(msgs, m)
		want = append(want, string(m.Body))
	}
	r, err := p.SendSync(context.Background(), msgs...)
	if err != nil {
		t.Fatalf("batch send: %v", err)
	}
	if r.Status != primitive.SendOK || r.MessageQueue == nil || r.MessageQueue.Topic != topic {
		t.Fatalf("batch answer: %+v", r)
	}
	// the broker answers one offset message id per message of the batch, in order
	ids := strings.Split(r.OffsetMsgID, ",")
	if len(ids) != n {
		t.Fatalf("batch answer msgId %q: %d ids, want %d", r.OffsetMsgID, len(ids), n)
	}
	got := consumeAll(t, topic, "batch", want)
	for i, body := range want {
		m := got[body]
		if m == nil {
			continue
		}
		// one queue, consecutive offsets from the answered one, in the batch's order
		if m.Queue.QueueId != r.MessageQueue.QueueId || m.QueueOffset != r.QueueOffset+int64(i) {
			t.Errorf("%s: stored in queue %d offset %d, want queue %d offset %d", body,
				m.Queue.QueueId, m.QueueOffset, r.MessageQueue.QueueId, r.QueueOffset+int64(i))
		}
		if m.OffsetMsgId != ids[i] {
			t.Errorf("%s: offsetMsgId %s, the batch answer lists %s", body, m.OffsetMsgId, ids[i])
		}
	}
}

// TestProduceCompressed: the Go client zlib-compresses bodies of 4 KiB and more (sysflag
// bit 0x1) whether or not that shrinks them; the broker stores them as sent and the
// consumer gets the original bytes back.
func TestProduceCompressed(t *testing.T) {
	topic := uniq("GoCompressed")
	createTopic(t, topic, 2)
	p := startProducer(t)
	text := []byte(strings.Repeat("KiteMQ compressible line ✓\n", 64<<10/28))
	noise := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(noise)
	bodies := map[string][]byte{"text": text, "noise": noise}
	ids := map[string]string{}
	for name, body := range bodies {
		m := primitive.NewMessage(topic, body)
		m.WithKeys([]string{name})
		r, err := p.SendSync(context.Background(), m)
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %s (%d bytes): %v %v", name, len(body), err, r)
		}
		ids[name] = r.MsgID
	}
	col := &collector{}
	startConsumer(t, consumerSpec{group: uniq("CG"), topic: topic, name: uniq("cons"), col: col})
	waitUntil(t, "both large messages", func() bool { return len(col.snapshot()) >= len(bodies) })
	for _, r := range col.snapshot() {
		name := r.msg.GetKeys()
		want, ok := bodies[name]
		if !ok {
			t.Errorf("unexpected message with keys %q", name)
			continue
		}
		if !bytes.Equal(r.msg.Body, want) {
			t.Errorf("%s: delivered %d bytes differ from the %d sent", name, len(r.msg.Body), len(want))
		}
		if r.msg.MsgId != ids[name] {
			t.Errorf("%s: msgId %s, sent %s", name, r.msg.MsgId, ids[name])
		}
	}
}
