// Push-consumer scenarios: clustering (two consumers of one group split the queues and
// every message is consumed once, by the owner of its queue), broadcasting (each consumer
// of the group gets every message) and orderly (per-queue order kept, with a producer-side
// queue selector, through LOCK_BATCH_MQ and a suspended-then-redelivered message), and a
// retry through the group's %RETRY% topic.
package conformance

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// sendToQueue sends body to queue q of topic through a producer built with the manual
// queue selector.
func sendToQueue(t *testing.T, p rocketmq.Producer, topic string, q int, body string) {
	t.Helper()
	m := primitive.NewMessage(topic, []byte(body))
	m.Queue = &primitive.MessageQueue{Topic: topic, BrokerName: brokerName, QueueId: q}
	r, err := p.SendSync(context.Background(), m)
	if err != nil {
		t.Fatalf("send %s: %v", body, err)
	}
	if r.MessageQueue.QueueId != q {
		t.Fatalf("send %s to queue %d stored it in queue %d", body, q, r.MessageQueue.QueueId)
	}
}

// settleOwners sends rounds of probes (one per queue) until two rounds in a row were each
// delivered once per probe, by the same owner per queue, and every consumer of `names`
// owns a queue: the group's rebalancing has settled. Returns queue id -> consumer.
func settleOwners(t *testing.T, p rocketmq.Producer, col *collector, topic string, queues int,
	names []string) map[int]string {
	t.Helper()
	var prev map[int]string
	for round := 0; ; round++ {
		var want []string
		for q := 0; q < queues; q++ {
			body := fmt.Sprintf("probe-%d-%d", round, q)
			sendToQueue(t, p, topic, q, body)
			want = append(want, body)
		}
		col.waitBodies(t, "", want)
		owners := map[int]string{}
		clean := true
		byBody := map[string][]string{}
		for _, r := range col.snapshot() {
			byBody[string(r.msg.Body)] = append(byBody[string(r.msg.Body)], r.consumer)
		}
		for q, body := range want {
			if len(byBody[body]) != 1 {
				clean = false
				continue
			}
			owners[q] = byBody[body][0]
		}
		seen := map[string]bool{}
		for _, c := range owners {
			seen[c] = true
		}
		clean = clean && len(seen) == len(names)
		if clean && prev != nil && fmt.Sprint(prev) == fmt.Sprint(owners) {
			t.Logf("rebalancing settled after %d probe rounds: %v", round+1, owners)
			return owners
		}
		if clean {
			prev = owners
		} else {
			prev = nil
		}
		if round > 200 {
			t.Fatalf("rebalancing never settled; last owners %v, deliveries %v", owners, byBody)
		}
	}
}

func TestConsumeClustering(t *testing.T) {
	const queues, n = 4, 40
	topic := uniq("GoClustering")
	createTopic(t, topic, queues)
	group := uniq("CG")
	col := &collector{}
	a, b := uniq("consA"), uniq("consB")
	startConsumer(t, consumerSpec{group: group, topic: topic, name: a, col: col})
	startConsumer(t, consumerSpec{group: group, topic: topic, name: b, col: col})
	p := startProducer(t, producer.WithQueueSelector(producer.NewManualQueueSelector()))

	owners := settleOwners(t, p, col, topic, queues, []string{a, b})
	perConsumer := map[string]int{}
	for _, c := range owners {
		perConsumer[c]++
	}
	if perConsumer[a] != queues/2 || perConsumer[b] != queues/2 {
		t.Errorf("averaging allocation gave %v, want %d queues each", perConsumer, queues/2)
	}

	var want []string
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("cl-%d", i)
		sendToQueue(t, p, topic, i%queues, body)
		want = append(want, body)
	}
	col.waitBodies(t, "", want)
	got := map[string][]received{}
	for _, r := range col.snapshot() {
		if body := string(r.msg.Body); len(body) > 3 && body[:3] == "cl-" {
			got[body] = append(got[body], r)
		}
	}
	deliveredTo := map[string]int{}
	for _, body := range want {
		rs := got[body]
		if len(rs) != 1 {
			t.Errorf("%s consumed %d times, want once", body, len(rs))
			continue
		}
		q := rs[0].msg.Queue.QueueId
		if rs[0].consumer != owners[q] {
			t.Errorf("%s of queue %d consumed by %s, the queue's owner is %s", body, q,
				rs[0].consumer, owners[q])
		}
		deliveredTo[rs[0].consumer]++
	}
	if len(got) != n {
		t.Errorf("%d distinct messages consumed, sent %d", len(got), n)
	}
	if deliveredTo[a] == 0 || deliveredTo[b] == 0 {
		t.Errorf("one consumer got everything: %v", deliveredTo)
	}
}

func TestConsumeBroadcasting(t *testing.T) {
	const queues, n = 4, 20
	topic := uniq("GoBroadcast")
	createTopic(t, topic, queues)
	group := uniq("CG")
	col := &collector{}
	names := []string{uniq("bcA"), uniq("bcB")}
	for _, name := range names {
		startConsumer(t, consumerSpec{group: group, topic: topic, name: name, col: col,
			opts: []consumer.Option{consumer.WithConsumerModel(consumer.BroadCasting)}})
	}
	p := startProducer(t)
	var want []string
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("bc-%d", i)
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(body))); err != nil {
			t.Fatalf("send %s: %v", body, err)
		}
		want = append(want, body)
	}
	for _, name := range names {
		col.waitBodies(t, name, want)
	}
	for _, name := range names {
		got := col.bodies(name)
		for _, body := range want {
			if got[body] != 1 {
				t.Errorf("%s got %s %d times, want once", name, body, got[body])
			}
		}
		if len(got) != n {
			t.Errorf("%s got %d distinct messages, sent %d", name, len(got), n)
		}
		queuesSeen := map[int]bool{}
		for _, r := range col.snapshot() {
			if r.consumer == name {
				queuesSeen[r.msg.Queue.QueueId] = true
			}
		}
		if len(queuesSeen) != queues {
			t.Errorf("%s consumed from %d of %d queues", name, len(queuesSeen), queues)
		}
	}
}

// orderSelector puts every message of one order (property "order") in queue order % n.
type orderSelector struct{}

func (orderSelector) Select(m *primitive.Message, mqs []*primitive.MessageQueue, _ string) *primitive.MessageQueue {
	sorted := append([]*primitive.MessageQueue(nil), mqs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].QueueId < sorted[j].QueueId })
	k, _ := strconv.Atoi(m.GetProperty("order"))
	return sorted[k%len(sorted)]
}

func TestConsumeOrderly(t *testing.T) {
	const queues, orders, steps = 4, 8, 10
	// the first delivery of this message is answered SUSPEND_CURRENT_QUEUE_A_MOMENT: it must
	// come again before anything after it in its queue
	const suspendOrder, suspendStep = 3, 4
	topic := uniq("GoOrderly")
	createTopic(t, topic, queues)
	col := &collector{}
	var mu sync.Mutex
	suspended := false
	startConsumer(t, consumerSpec{group: uniq("CG"), topic: topic, name: uniq("ord"), col: col,
		opts: []consumer.Option{consumer.WithConsumerOrder(true)},
		handle: func(msgs []*primitive.MessageExt) consumer.ConsumeResult {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				if string(m.Body) == fmt.Sprintf("o%d-s%d", suspendOrder, suspendStep) && !suspended {
					suspended = true
					return consumer.SuspendCurrentQueueAMoment
				}
			}
			return consumer.ConsumeSuccess
		}})
	p := startProducer(t, producer.WithQueueSelector(orderSelector{}))
	var want []string
	for s := 0; s < steps; s++ {
		for o := 0; o < orders; o++ {
			body := fmt.Sprintf("o%d-s%d", o, s)
			m := primitive.NewMessage(topic, []byte(body))
			m.WithProperty("order", strconv.Itoa(o))
			m.WithProperty("step", strconv.Itoa(s))
			r, err := p.SendSync(context.Background(), m)
			if err != nil {
				t.Fatalf("send %s: %v", body, err)
			}
			if r.MessageQueue.QueueId != o%queues {
				t.Fatalf("%s stored in queue %d, the selector chose %d", body, r.MessageQueue.QueueId, o%queues)
			}
			want = append(want, body)
		}
	}
	col.waitBodies(t, "", want)

	stepsOf := map[int][]int{}
	lastOffset := map[int]int64{}
	for _, r := range col.snapshot() {
		m := r.msg
		o, _ := strconv.Atoi(m.GetProperty("order"))
		s, _ := strconv.Atoi(m.GetProperty("step"))
		stepsOf[o] = append(stepsOf[o], s)
		q := m.Queue.QueueId
		if q != o%queues {
			t.Errorf("%s delivered from queue %d, sent to %d", m.Body, q, o%queues)
		}
		// within a queue, deliveries never go back (a redelivery repeats the same offset)
		if last, ok := lastOffset[q]; ok && m.QueueOffset < last {
			t.Errorf("queue %d: offset %d delivered after %d", q, m.QueueOffset, last)
		}
		lastOffset[q] = m.QueueOffset
	}
	for o := 0; o < orders; o++ {
		var wantSteps []int
		for s := 0; s < steps; s++ {
			wantSteps = append(wantSteps, s)
			if o == suspendOrder && s == suspendStep {
				wantSteps = append(wantSteps, s)
			}
		}
		if fmt.Sprint(stepsOf[o]) != fmt.Sprint(wantSteps) {
			t.Errorf("order %d delivered as steps %v, want %v", o, stepsOf[o], wantSteps)
		}
	}
	if !suspended {
		t.Errorf("the message to suspend was never delivered")
	}
}

// TestConsumeRetry: a message answered RECONSUME_LATER goes back to the broker
// (CONSUMER_SEND_MSG_BACK) and comes again through the group's %RETRY% topic with
// reconsumeTimes 1, its own topic, id and properties (run.sh shortens the delay levels).
func TestConsumeRetry(t *testing.T) {
	const n = 4
	topic := uniq("GoRetry")
	createTopic(t, topic, 2)
	group := uniq("CG")
	// as for a group that ran before: the client reads the retry topic's route only at
	// start and then every 30 s, and the broker creates it at the first heartbeat
	createTopic(t, "%RETRY%"+group, 1)
	col := &collector{}
	var mu sync.Mutex
	seen := map[string]int{}
	startConsumer(t, consumerSpec{group: group, topic: topic, name: uniq("retry"), col: col,
		handle: func(msgs []*primitive.MessageExt) consumer.ConsumeResult {
			mu.Lock()
			defer mu.Unlock()
			result := consumer.ConsumeSuccess
			for _, m := range msgs {
				seen[string(m.Body)]++
				if seen[string(m.Body)] == 1 {
					result = consumer.ConsumeRetryLater
				}
			}
			return result
		}})
	p := startProducer(t)
	ids := map[string]string{}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("retry-%d", i)
		m := primitive.NewMessage(topic, []byte(body))
		m.WithTag("TagRetry")
		m.WithProperty("conf_prop", "ü-"+body)
		r, err := p.SendSync(context.Background(), m)
		if err != nil {
			t.Fatalf("send %s: %v", body, err)
		}
		ids[body] = r.MsgID
	}
	waitUntil(t, "every message delivered twice", func() bool {
		got := col.bodies("")
		for i := 0; i < n; i++ {
			if got[fmt.Sprintf("retry-%d", i)] < 2 {
				return false
			}
		}
		return true
	})
	deliveries := map[string][]*primitive.MessageExt{}
	for _, r := range col.snapshot() {
		deliveries[string(r.msg.Body)] = append(deliveries[string(r.msg.Body)], r.msg)
	}
	for body, ms := range deliveries {
		first, again := ms[0], ms[1]
		if first.ReconsumeTimes != 0 || first.Queue.Topic != topic {
			t.Errorf("%s: first delivery from %s with reconsumeTimes %d", body, first.Queue.Topic, first.ReconsumeTimes)
		}
		if again.Queue.Topic != "%RETRY%"+group {
			t.Errorf("%s: redelivered from %q, want the group's retry topic", body, again.Queue.Topic)
		}
		if again.ReconsumeTimes != 1 {
			t.Errorf("%s: redelivered with reconsumeTimes %d, want 1", body, again.ReconsumeTimes)
		}
		if again.Topic != topic || again.GetTags() != "TagRetry" || again.GetProperty("conf_prop") != "ü-"+body {
			t.Errorf("%s: redelivered as topic %q tag %q property %q", body, again.Topic, again.GetTags(),
				again.GetProperty("conf_prop"))
		}
		if again.MsgId != ids[body] {
			t.Errorf("%s: redelivered with msgId %s, sent as %s", body, again.MsgId, ids[body])
		}
		if again.StoreTimestamp < first.StoreTimestamp {
			t.Errorf("%s: the retry copy was stored before the original", body)
		}
	}
}
