// Shared harness of the Go-client conformance suite: reads the addresses of the cluster
// that run.sh started (KITE_NAMESRV, KITE_BROKER_ADDR, KITE_BROKER_NAME), sends the
// client's log to a file in the run's temp dir, and gives the scenarios helpers: unique
// names, topic creation through the client's admin API (confirmed through the name
// server's route), started producers and push consumers that shut down with the test,
// a thread-safe message collector, and waits with generous deadlines (no upper bounds
// on latency are asserted anywhere).
package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// A wait that would take longer than this has failed; nothing asserts it was faster.
const deadline = 60 * time.Second

var (
	nameSrv    string
	brokerAddr string
	brokerName string
	nameSeq    int64
)

func TestMain(m *testing.M) {
	nameSrv = os.Getenv("KITE_NAMESRV")
	brokerAddr = os.Getenv("KITE_BROKER_ADDR")
	brokerName = os.Getenv("KITE_BROKER_NAME")
	if nameSrv == "" || brokerAddr == "" || brokerName == "" {
		fmt.Fprintln(os.Stderr, "KITE_NAMESRV, KITE_BROKER_ADDR and KITE_BROKER_NAME must be set: "+
			"run the suite through tests/conformance-go/run.sh")
		os.Exit(1)
	}
	if dir := os.Getenv("KITE_CONF_GO_DIR"); dir != "" {
		if err := rlog.SetOutputPath(filepath.Join(dir, "client.log")); err != nil {
			fmt.Fprintln(os.Stderr, "client log:", err)
			os.Exit(1)
		}
	}
	rlog.SetLogLevel("warn")
	os.Exit(m.Run())
}

// uniq returns prefix_<pid>_<n>: topic, group and instance names no other run shares.
func uniq(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), atomic.AddInt64(&nameSeq, 1))
}

func resolver() primitive.NsResolver {
	return primitive.NewPassthroughResolver([]string{nameSrv})
}

// waitUntil polls cond every 20 ms until it holds, failing the test after `deadline`.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up after %v waiting for %s", deadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createTopic creates topic with `queues` read and write queues on the broker through the
// client's admin API (UPDATE_AND_CREATE_TOPIC) and waits until the name server's route
// shows exactly that many writable queues of this broker.
func createTopic(t *testing.T, topic string, queues int) {
	t.Helper()
	adm, err := admin.NewAdmin(admin.WithResolver(resolver()))
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = adm.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(brokerAddr),
		admin.WithReadQueueNums(queues), admin.WithWriteQueueNums(queues))
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	waitUntil(t, fmt.Sprintf("route of %s with %d queues", topic, queues), func() bool {
		mqs, err := adm.FetchPublishMessageQueues(context.Background(), topic)
		if err != nil || len(mqs) != queues {
			return false
		}
		for _, mq := range mqs {
			if mq.BrokerName != brokerName || mq.Topic != topic {
				t.Fatalf("route of %s names %+v", topic, mq)
			}
		}
		return true
	})
}

// startProducer starts a producer of a fresh group (own client instance) that shuts down
// when the test ends.
func startProducer(t *testing.T, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	all := append([]producer.Option{
		producer.WithNsResolver(resolver()),
		producer.WithGroupName(uniq("PG")),
		producer.WithInstanceName(uniq("prod")),
		producer.WithRetry(2),
	}, opts...)
	p, err := rocketmq.NewProducer(all...)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start producer: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(); err != nil {
			t.Errorf("producer shutdown: %v", err)
		}
	})
	return p
}

// received is one delivery to a consumer.
type received struct {
	consumer string
	msg      *primitive.MessageExt
}

// collector records every delivery, in delivery order, from any number of consumers.
type collector struct {
	mu   sync.Mutex
	msgs []received
}

func (c *collector) add(consumer string, msgs ...*primitive.MessageExt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.msgs = append(c.msgs, received{consumer, m})
	}
}

func (c *collector) snapshot() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.msgs...)
}

// bodies: how many times each body was delivered (to consumer `who`, or to anyone if "").
func (c *collector) bodies(who string) map[string]int {
	n := map[string]int{}
	for _, r := range c.snapshot() {
		if who == "" || r.consumer == who {
			n[string(r.msg.Body)]++
		}
	}
	return n
}

// waitBodies waits until every body of want was delivered (to `who`, or to anyone).
func (c *collector) waitBodies(t *testing.T, who string, want []string) {
	t.Helper()
	var missing []string
	end := time.Now().Add(deadline)
	for {
		got := c.bodies(who)
		missing = missing[:0]
		for _, b := range want {
			if got[b] == 0 {
				missing = append(missing, b)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(end) {
			n := len(missing)
			if n > 10 {
				missing = append(missing[:10], "...")
			}
			t.Fatalf("gave up after %v waiting for %d messages (consumer %q): %d missing: %v",
				deadline, len(want), who, n, missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consumerSpec describes one push consumer of startConsumer.
type consumerSpec struct {
	group string
	topic string
	name  string // instance name; also the collector's consumer label
	opts  []consumer.Option
	col   *collector
	// handle, when set, decides the result for each delivery (after it is collected)
	handle func(msgs []*primitive.MessageExt) consumer.ConsumeResult
}

// startConsumer starts a push consumer (from the first offset, tag "*") that records each
// delivery in spec.col and shuts down when the test ends (or earlier through the returned
// stop function, which is safe to call twice).
func startConsumer(t *testing.T, spec consumerSpec) (stop func()) {
	t.Helper()
	all := append([]consumer.Option{
		consumer.WithNsResolver(resolver()),
		consumer.WithGroupName(spec.group),
		consumer.WithInstance(spec.name),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}, spec.opts...)
	c, err := rocketmq.NewPushConsumer(all...)
	if err != nil {
		t.Fatalf("new consumer %s: %v", spec.name, err)
	}
	err = c.Subscribe(spec.topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"},
		func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			spec.col.add(spec.name, msgs...)
			if spec.handle != nil {
				return spec.handle(msgs), nil
			}
			return consumer.ConsumeSuccess, nil
		})
	if err != nil {
		t.Fatalf("subscribe %s: %v", spec.name, err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("start consumer %s: %v", spec.name, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := c.Shutdown(); err != nil {
				t.Errorf("consumer %s shutdown: %v", spec.name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// sortedKeys returns the keys of m in order (for stable failure messages).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
