// Scenario 6: a message sent by ali-ons with delayTimeLevel (property DELAY) arrives
// neither early nor late, with its real topic restored. Delay levels are shortened for
// the test (level 2 = 3 s). While the broker only parks such messages in
// SCHEDULE_TOPIC_XXXX (no schedule service yet), the test reports as TODO, not as a pass.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const mq = require('../lib/mq');
const { useCluster, withDiagnostics, todoFail, waitSplit } = require('../lib/scenario');

const LEVELS = '1s 3s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h';
const h = useCluster('delay', { messageDelayLevel: LEVELS });
const TOPIC = 'ConfDelay';
const QUEUES = 4;
const LEVEL = 2;
const DELAY_MS = 3000;
const EARLY_SLACK_MS = 50;   // clock granularity
const LATE_SLACK_MS = 2000;  // schedule scan period and pull latency

test('a delayed message arrives neither early nor late', withDiagnostics(h, async t => {
  const c = h.cluster;
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);
  const got = new Map();
  const consumer = await mq.newConsumer(c, {
    group: 'GID_CONF_DELAY', topic: TOPIC, instanceName: 'delay-1',
    handler: async msg => { got.set(msg.body.toString(), { msg, at: Date.now() }); },
  });
  await waitSplit([consumer], TOPIC, QUEUES, 15000);
  const producer = await mq.newProducer(c);

  const delayed = new mq.Message(TOPIC, 'TagDelay', 'delayed');
  delayed.delayTimeLevel = LEVEL;
  const t0 = Date.now();
  const r = await producer.send(delayed);
  const t1 = Date.now();
  assert.equal(r.sendStatus, 'SEND_OK');
  await producer.send(new mq.Message(TOPIC, 'TagDelay', 'control')); // no delay: arrives at once

  await mq.waitFor(() => got.has('delayed'), DELAY_MS + LATE_SLACK_MS + 1000);
  assert.ok(got.has('control'), 'the undelayed control message was consumed');
  if (!got.has('delayed')) {
    const parked = await admin.getMaxOffset(c.brokerAddr, 'SCHEDULE_TOPIC_XXXX', LEVEL - 1, 3000).catch(() => -1);
    if (parked > 0) {
      todoFail(t, 'broker feature missing: delay delivery',
        `message parked in SCHEDULE_TOPIC_XXXX queue ${LEVEL - 1} (max offset ${parked}) and not delivered within ${DELAY_MS + LATE_SLACK_MS + 1000} ms`);
    }
    assert.fail(`delayed message not delivered within ${DELAY_MS + LATE_SLACK_MS + 1000} ms (SCHEDULE_TOPIC_XXXX queue ${LEVEL - 1} max offset ${parked})`);
  }
  const { msg, at } = got.get('delayed');
  assert.ok(at - t0 >= DELAY_MS - EARLY_SLACK_MS, `arrived early: ${at - t0} ms after the send, level ${LEVEL} is ${DELAY_MS} ms`);
  assert.ok(at - t1 <= DELAY_MS + LATE_SLACK_MS, `arrived late: ${at - t1} ms after the send answer`);
  assert.equal(msg.topic, TOPIC, 'real topic restored');
  assert.equal(msg.tags, 'TagDelay');
}));
