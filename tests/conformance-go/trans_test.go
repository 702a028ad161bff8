// Transaction scenarios of the Go client's TransactionProducer on a one-queue topic: a
// committed half becomes visible, a rolled-back half never does, and a half left unknown
// is checked back by the broker (CHECK_TRANSACTION_STATE; run.sh shortens the broker's
// transactionCheckInterval / transactionTimeOut) and becomes visible once the producer's
// CheckLocalTransaction answers commit. A committed sentinel sent after the rollback, on
// the same connection, proves by its queue offset that the rollback stored nothing.
package conformance

import (
	"context"
	"sync"
	"testing"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// txListener answers the local transaction from the message body and records every call.
type txListener struct {
	mu       sync.Mutex
	execute  map[string]primitive.LocalTransactionState // body -> local transaction result
	check    map[string]primitive.LocalTransactionState // body -> check-back answer
	checks   map[string][]*primitive.MessageExt         // body -> the checked messages
	executed map[string]string                          // body -> transaction id at execute
}

func (l *txListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.executed[string(m.Body)] = m.TransactionId
	return l.execute[string(m.Body)]
}

func (l *txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checks[string(m.Body)] = append(l.checks[string(m.Body)], m)
	if s, ok := l.check[string(m.Body)]; ok {
		return s
	}
	return l.execute[string(m.Body)]
}

func (l *txListener) checkCount(body string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.checks[body])
}

func TestTransactions(t *testing.T) {
	const (
		commitBody   = "tx-commit"
		rollbackBody = "tx-rollback"
		unknownBody  = "tx-unknown"
		sentinelBody = "tx-sentinel"
	)
	topic := uniq("GoTrans")
	createTopic(t, topic, 1)
	l := &txListener{
		execute: map[string]primitive.LocalTransactionState{
			commitBody:   primitive.CommitMessageState,
			rollbackBody: primitive.RollbackMessageState,
			unknownBody:  primitive.UnknowState,
			sentinelBody: primitive.CommitMessageState,
		},
		check:    map[string]primitive.LocalTransactionState{unknownBody: primitive.CommitMessageState},
		checks:   map[string][]*primitive.MessageExt{},
		executed: map[string]string{},
	}

	// the consumer records, for the unknown message, whether the check came before it
	col := &collector{}
	var mu sync.Mutex
	checkedBeforeDelivery := false
	startConsumer(t, consumerSpec{group: uniq("CG"), topic: topic, name: uniq("txc"), col: col,
		handle: func(msgs []*primitive.MessageExt) consumer.ConsumeResult {
			for _, m := range msgs {
				if string(m.Body) == unknownBody && l.checkCount(unknownBody) > 0 {
					mu.Lock()
					checkedBeforeDelivery = true
					mu.Unlock()
				}
			}
			return consumer.ConsumeSuccess
		}})

	tp, err := rocketmq.NewTransactionProducer(l,
		producer.WithNsResolver(resolver()),
		producer.WithGroupName(uniq("TXG")),
		producer.WithInstanceName(uniq("txp")),
		producer.WithRetry(2))
	if err != nil {
		t.Fatalf("new transaction producer: %v", err)
	}
	if err := tp.Start(); err != nil {
		t.Fatalf("start transaction producer: %v", err)
	}
	t.Cleanup(func() {
		if err := tp.Shutdown(); err != nil {
			t.Errorf("transaction producer shutdown: %v", err)
		}
	})

	results := map[string]*primitive.TransactionSendResult{}
	for _, body := range []string{commitBody, rollbackBody, unknownBody, sentinelBody} {
		m := primitive.NewMessage(topic, []byte(body))
		m.WithKeys([]string{"key-" + body})
		m.WithProperty("conf_prop", "ü-"+body)
		r, err := tp.SendMessageInTransaction(context.Background(), m)
		if err != nil {
			t.Fatalf("send %s in a transaction: %v", body, err)
		}
		if r.SendResult.Status != primitive.SendOK {
			t.Fatalf("half %s: status %v", body, r.SendResult.Status)
		}
		if r.State != l.execute[body] {
			t.Errorf("%s: result state %v, the local transaction answered %v", body, r.State, l.execute[body])
		}
		if !hexID.MatchString(r.SendResult.MsgID) || l.executed[body] != r.SendResult.MsgID {
			t.Errorf("%s: transaction id %q at execute, the send answered %q", body, l.executed[body],
				r.SendResult.MsgID)
		}
		results[body] = r
	}

	col.waitBodies(t, "", []string{commitBody, sentinelBody, unknownBody})
	delivered := map[string][]*primitive.MessageExt{}
	offsets := map[int64]string{}
	for _, r := range col.snapshot() {
		body := string(r.msg.Body)
		delivered[body] = append(delivered[body], r.msg)
		offsets[r.msg.QueueOffset] = body
	}

	t.Run("commit_visible", func(t *testing.T) {
		for _, body := range []string{commitBody, sentinelBody, unknownBody} {
			ms := delivered[body]
			if len(ms) != 1 {
				t.Errorf("%s delivered %d times, want once", body, len(ms))
				continue
			}
			m := ms[0]
			if m.Topic != topic || m.GetKeys() != "key-"+body || m.GetProperty("conf_prop") != "ü-"+body {
				t.Errorf("%s: delivered topic %q keys %q property %q", body, m.Topic, m.GetKeys(),
					m.GetProperty("conf_prop"))
			}
			if m.MsgId != results[body].SendResult.MsgID {
				t.Errorf("%s: delivered msgId %s, the half was %s", body, m.MsgId, results[body].SendResult.MsgID)
			}
			// the committed copy: commit type in the sysflag, no TRAN_MSG property
			if m.SysFlag&int32(primitive.TransactionRollbackType) != int32(primitive.TransactionCommitType) {
				t.Errorf("%s: sysflag %#x, want the commit type", body, m.SysFlag)
			}
			if v := m.GetProperty(primitive.PropertyTransactionPrepared); v != "" {
				t.Errorf("%s: committed message still has TRAN_MSG=%q", body, v)
			}
		}
		// the real topic holds the commits in the order the broker stored them
		if offsets[0] != commitBody || offsets[1] != sentinelBody || offsets[2] != unknownBody {
			t.Errorf("queue holds %v, want 0:%s 1:%s 2:%s", offsets, commitBody, sentinelBody, unknownBody)
		}
	})

	t.Run("rollback_never_visible", func(t *testing.T) {
		// its END_TRANSACTION went before the sentinel's on the same connection: had the
		// rollback stored anything, it would sit before the sentinel in the queue
		if n := len(delivered[rollbackBody]); n != 0 {
			t.Errorf("rolled-back %s delivered %d times", rollbackBody, n)
		}
		if len(offsets) != 3 {
			t.Errorf("queue offsets delivered: %v, want exactly 0..2", offsets)
		}
	})

	t.Run("unknown_checked_then_committed", func(t *testing.T) {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, body := range []string{commitBody, rollbackBody, sentinelBody} {
			if n := len(l.checks[body]); n != 0 {
				t.Errorf("resolved %s was checked back %d times", body, n)
			}
		}
		checks := l.checks[unknownBody]
		if len(checks) == 0 {
			t.Fatalf("%s was delivered without a check-back", unknownBody)
		}
		mu.Lock()
		if !checkedBeforeDelivery {
			t.Errorf("%s was delivered before its check-back", unknownBody)
		}
		mu.Unlock()
		// the checked message is the half as sent: real topic, properties, transaction id
		c := checks[0]
		if c.Topic != topic || c.GetKeys() != "key-"+unknownBody || c.GetProperty("conf_prop") != "ü-"+unknownBody {
			t.Errorf("checked message: topic %q keys %q property %q", c.Topic, c.GetKeys(), c.GetProperty("conf_prop"))
		}
		if c.TransactionId != results[unknownBody].SendResult.MsgID {
			t.Errorf("checked transaction id %q, the half was %q", c.TransactionId,
				results[unknownBody].SendResult.MsgID)
		}
	})
}
