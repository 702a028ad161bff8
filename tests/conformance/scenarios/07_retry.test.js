// Scenario 7: a message whose ali-ons handler fails (returns ACTION_RETRY, then throws) is
// redelivered through the broker's retry path (CONSUMER_SEND_MSG_BACK with delayLevel 0 ->
// %RETRY%group at level 3 + reconsumeTimes) with a rising reconsume count, its origin
// message id and retry topic, and not before the retry delay. Delay levels are shortened
// to 1 s. A failed CONSUMER_SEND_MSG_BACK (ali-ons then sends the copy to %RETRY%group
// itself) fails the test. How late a retry comes is not asserted, only that all three
// attempts come within a generous deadline.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const mq = require('../lib/mq');
const { sleep } = require('../lib/cluster');
const { useCluster, withDiagnostics, waitSplit } = require('../lib/scenario');

const h = useCluster('retry', { messageDelayLevel: Array(18).fill('1s').join(' ') });
const TOPIC = 'ConfRetry';
const GROUP = 'GID_CONF_RETRY';
const QUEUES = 2;
const RETRY_DELAY_MS = 1000;
const DEADLINE_MS = 60000; // generous: redelivery, not speed, is what is checked

test('a failed message is retried with a rising reconsume count', withDiagnostics(h, async () => {
  const c = h.cluster;
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);
  const attempts = [];
  const consumer = await mq.newConsumer(c, {
    group: GROUP, topic: TOPIC, instanceName: 'retry-1',
    handler: async msg => {
      if (msg.body.toString() !== 'fail twice') return undefined;
      attempts.push({ at: Date.now(), reconsumeTimes: msg.reconsumeTimes, topic: msg.topic, msgId: msg.msgId,
        origin: msg.originMessageId, retryTopic: msg.retryTopic, delay: msg.properties.DELAY });
      // ali-ons ignores ACTION_RETRY returned for a message from the retry topic (its
      // %RETRY% wrapper drops the handler's return value), so the second failure throws.
      if (attempts.length === 1) return mq.Consumer.ACTION_RETRY;
      if (attempts.length === 2) throw new Error('conformance: second attempt fails');
      return undefined; // third attempt succeeds
    },
  });
  await waitSplit([consumer], TOPIC, QUEUES, 15000);
  // the retry topic is subscribed too (ali-ons subscribes %RETRY%group for clustering groups)
  await mq.waitFor(() => mq.assignedQueues(consumer, `%RETRY%${GROUP}`).length > 0, 15000);

  const producer = await mq.newProducer(c);
  const sent = await producer.send(new mq.Message(TOPIC, 'TagRetry', 'fail twice'));
  await mq.waitFor(() => attempts.length >= 3, DEADLINE_MS);
  await sleep(3 * RETRY_DELAY_MS); // a fourth attempt after the success would show up by now

  const sendBackErrors = consumer.errors.filter(e => e.name === 'MQClientException');
  const summary = JSON.stringify(attempts.map(a => ({ reconsumeTimes: a.reconsumeTimes, origin: a.origin, retryTopic: a.retryTopic, delay: a.delay })));
  if (sendBackErrors.length) {
    const codes = [...new Set(sendBackErrors.map(e => e.code))];
    assert.fail(`CONSUMER_SEND_MSG_BACK failed ${sendBackErrors.length} time(s), codes ${codes.join(',')} (ali-ons then sends the copy to %RETRY%${GROUP} itself): ${sendBackErrors[0].message}; attempts: ${summary}`);
  }

  assert.deepEqual(attempts.map(a => a.reconsumeTimes), [0, 1, 2], `reconsume counts of the three attempts: ${summary}`);
  assert.equal(attempts[0].msgId, sent.msgId);
  for (const a of attempts.slice(1)) {
    assert.equal(a.topic, TOPIC, 'ali-ons hands the retry to the handler under the original topic');
    assert.equal(a.retryTopic, TOPIC, 'RETRY_TOPIC property is the original topic');
    assert.equal(a.origin, sent.msgId, 'ORIGIN_MESSAGE_ID is the first message id');
  }
  for (let i = 1; i < attempts.length; i++) {
    const gap = attempts[i].at - attempts[i - 1].at;
    assert.ok(gap >= RETRY_DELAY_MS - 50, `retry ${i} came ${gap} ms after the failure, before the ${RETRY_DELAY_MS} ms retry delay`);
  }
}));

test("ali-ons' client-side retry copy (SEND_MESSAGE_V2 to %RETRY%group with reconsumeTimes) is served", withDiagnostics(h, async () => {
  // What MQPushConsumer.sendMessageBack sends itself when CONSUMER_SEND_MSG_BACK fails:
  // a copy to %RETRY%group with RETRY_TOPIC/ORIGIN_MESSAGE_ID, DELAY=0, and the
  // RECONSUME_TIME/MAX_RECONSUME_TIMES properties copied into header fields j and l.
  const c = h.cluster;
  const got = [];
  const consumer = await mq.newConsumer(c, {
    group: 'GID_CONF_RETRY_COPY', topic: TOPIC, instanceName: 'retry-copy',
    // (the new group also reads the earlier test's message from the young topic)
    handler: async msg => { if (msg.body.toString() === 'client-side retry copy') got.push(msg); },
  });
  await mq.waitFor(() => mq.assignedQueues(consumer, '%RETRY%GID_CONF_RETRY_COPY').length > 0, 15000);
  const producer = await mq.newProducer(c);
  const copy = new mq.Message('%RETRY%GID_CONF_RETRY_COPY', '', 'client-side retry copy');
  copy.originMessageId = '7F00000100002A9F0000000000000000';
  copy.retryTopic = TOPIC;
  copy.properties.RECONSUME_TIME = '3';
  copy.properties.MAX_RECONSUME_TIMES = '17';
  copy.delayTimeLevel = 0;
  const r = await producer.send(copy);
  assert.equal(r.sendStatus, 'SEND_OK');
  await mq.waitFor(() => got.length >= 1, 30000);
  await sleep(300);
  assert.equal(got.length, 1, 'the copy is delivered once to the retry subscription');
  const m = got[0];
  assert.equal(m.body.toString(), 'client-side retry copy');
  assert.equal(m.reconsumeTimes, 3, 'RECONSUMETIMES taken from header field j');
  assert.equal(m.topic, TOPIC, 'handed to the handler under RETRY_TOPIC');
  assert.equal(m.originMessageId, '7F00000100002A9F0000000000000000');
  // ali-ons builds the properties string before deleting RECONSUME_TIME/MAX_RECONSUME_TIMES,
  // so they travel both as properties and as header fields j/l; properties are kept as sent.
  assert.equal(m.properties.RECONSUME_TIME, '3', 'RECONSUME_TIME property kept as sent');
  assert.equal(m.properties.MAX_RECONSUME_TIMES, '17', 'MAX_RECONSUME_TIMES property kept as sent');
}));
