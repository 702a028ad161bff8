// Scenario 6: a message sent by ali-ons with delayTimeLevel (property DELAY) is delivered,
// not before its delay and after an undelayed control message sent after it, with its real
// topic restored. Delay levels are shortened for the test (level 2 = 3 s). How late it
// comes is not asserted (a loaded machine delays everything); only that it comes within a
// generous deadline.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const mq = require('../lib/mq');
const { useCluster, withDiagnostics, waitSplit } = require('../lib/scenario');

const LEVELS = '1s 3s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h';
const h = useCluster('delay', { messageDelayLevel: LEVELS });
const TOPIC = 'ConfDelay';
const QUEUES = 4;
const LEVEL = 2;
const DELAY_MS = 3000;
const EARLY_SLACK_MS = 50;   // clock granularity
const DEADLINE_MS = 60000;   // generous: delivery, not speed, is what is checked

test('a delayed message arrives after its delay and after a later undelayed one', withDiagnostics(h, async () => {
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
  assert.equal(r.sendStatus, 'SEND_OK');
  const rc = await producer.send(new mq.Message(TOPIC, 'TagDelay', 'control')); // no delay
  assert.equal(rc.sendStatus, 'SEND_OK');

  await mq.waitFor(() => got.has('delayed') && got.has('control'), DEADLINE_MS);
  assert.ok(got.has('control'), `the undelayed control message was not consumed within ${DEADLINE_MS} ms`);
  if (!got.has('delayed')) {
    const parked = await admin.getMaxOffset(c.brokerAddr, 'SCHEDULE_TOPIC_XXXX', LEVEL - 1, 3000).catch(() => -1);
    assert.fail(`delayed message not delivered within ${DEADLINE_MS} ms (SCHEDULE_TOPIC_XXXX queue ${LEVEL - 1} max offset ${parked})`);
  }
  const { msg, at } = got.get('delayed');
  assert.ok(at - t0 >= DELAY_MS - EARLY_SLACK_MS, `arrived early: ${at - t0} ms after the send, level ${LEVEL} is ${DELAY_MS} ms`);
  assert.ok(got.get('control').at <= at, `the delayed message (${at - t0} ms) came before the undelayed control sent after it`);
  assert.equal(msg.topic, TOPIC, 'real topic restored');
  assert.equal(msg.tags, 'TagDelay');
}));
