// Scenario 1: 1,000 messages sent by ali-ons are consumed exactly once by one clustering
// push consumer (count, no duplicate msgId or body, per-queue offsets contiguous), the
// consumed offsets reach the broker (UPDATE_CONSUMER_OFFSET oneway, QUERY_CONSUMER_OFFSET),
// and a restarted member of the group resumes without redelivery. Also: the "young queue"
// rule lets a brand-new group with CONSUME_FROM_LAST_OFFSET start from offset 0.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const mq = require('../lib/mq');
const { sleep } = require('../lib/cluster');
const { useCluster, withDiagnostics, sendAll, waitSplit, waitOffsetsStored } = require('../lib/scenario');

const h = useCluster('exactly-once');
const TOPIC = 'ConfExactlyOnce';
const GROUP = 'GID_CONF_EXACTLY_ONCE';
const N = 1000;
const QUEUES = 8;

test('1,000 messages are consumed exactly once in clustering mode', withDiagnostics(h, async () => {
  const c = h.cluster;
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);

  const got = [];
  const consumer = await mq.newConsumer(c, {
    group: GROUP, topic: TOPIC, instanceName: 'eo-1',
    handler: async msg => { got.push(msg); },
  });
  await waitSplit([consumer], TOPIC, QUEUES, 15000);

  const producer = await mq.newProducer(c);
  const msgs = Array.from({ length: N }, (_, i) => new mq.Message(TOPIC, 'TagEO', `exactly-once #${i}`));
  const sent = await sendAll(producer, msgs);
  assert.equal(sent.filter(r => r.sendStatus === 'SEND_OK').length, N, 'every send answered SEND_OK');
  const sentIds = new Set(sent.map(r => r.msgId));
  assert.equal(sentIds.size, N, 'send answers carry distinct msgIds');

  await mq.waitFor(() => got.length >= N, 30000);
  await sleep(1500); // give stray duplicates a chance to show up
  assert.equal(got.length, N, `consumed ${got.length} messages, expected ${N}`);
  const bodies = new Set(got.map(m => m.body.toString()));
  assert.equal(bodies.size, N, 'no duplicate bodies');
  const ids = new Set(got.map(m => m.msgId));
  assert.equal(ids.size, N, 'no duplicate msgIds');
  assert.deepEqual([...ids].sort(), [...sentIds].sort(), 'consumed msgIds are the msgIds the broker answered on send');
  for (let i = 0; i < N; i++) assert.ok(bodies.has(`exactly-once #${i}`), `message #${i} consumed`);

  // per queue: queue offsets 0..n-1, each queue used by the producer's round robin
  const perQueue = new Map();
  for (const m of got) {
    if (!perQueue.has(m.queueId)) perQueue.set(m.queueId, []);
    perQueue.get(m.queueId).push(m.queueOffset);
  }
  assert.equal(perQueue.size, QUEUES, 'messages spread over all queues');
  const maxOffsets = {};
  for (const [qid, offs] of perQueue) {
    offs.sort((a, b) => a - b);
    assert.deepEqual(offs, offs.map((_, i) => i), `queue ${qid} offsets contiguous from 0`);
    maxOffsets[qid] = offs.length;
    const brokerMax = await admin.getMaxOffset(c.brokerAddr, TOPIC, qid, 3000);
    assert.equal(brokerMax, offs.length, `GET_MAX_OFFSET of queue ${qid}`);
  }

  // consumed offsets reach the broker (ali-ons persists every 5 s, oneway)
  const { ok: persisted, stored } = await waitOffsetsStored(admin, c, TOPIC, GROUP, maxOffsets);
  assert.ok(persisted, `QUERY_CONSUMER_OFFSET ${JSON.stringify(stored)} should equal max offsets ${JSON.stringify(maxOffsets)}`);

  // a new member of the group, after the first left, gets no redelivery and only new messages
  await consumer.close();
  const got2 = [];
  const consumer2 = await mq.newConsumer(c, {
    group: GROUP, topic: TOPIC, instanceName: 'eo-2',
    handler: async msg => { got2.push(msg); },
  });
  await waitSplit([consumer2], TOPIC, QUEUES, 15000);
  await sleep(2000);
  assert.equal(got2.length, 0, `restarted consumer got ${got2.length} already-consumed message(s)`);
  const more = Array.from({ length: 16 }, (_, i) => new mq.Message(TOPIC, 'TagEO', `after-restart #${i}`));
  await sendAll(producer, more);
  await mq.waitFor(() => got2.length >= more.length, 15000);
  await sleep(500);
  assert.deepEqual(got2.map(m => m.body.toString()).sort(), more.map(m => m.body.toString()).sort());
}));

test('a new group on a young queue starts at offset 0 even with CONSUME_FROM_LAST_OFFSET', withDiagnostics(h, async () => {
  const c = h.cluster;
  const topic = 'ConfYoungQueue';
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, topic, 4);
  const producer = await mq.newProducer(c);
  const msgs = Array.from({ length: 20 }, (_, i) => new mq.Message(topic, 'TagY', `young #${i}`));
  await sendAll(producer, msgs);

  const got = [];
  await mq.newConsumer(c, {
    group: 'GID_CONF_YOUNG', topic, instanceName: 'young-1', // default consumeFromWhere: CONSUME_FROM_LAST_OFFSET
    handler: async msg => { got.push(msg.body.toString()); },
  });
  await mq.waitFor(() => got.length >= msgs.length, 15000);
  await sleep(300);
  assert.deepEqual(got.sort(), msgs.map(m => m.body.toString()).sort(),
    'QUERY_CONSUMER_OFFSET for a new group on a young queue should answer 0 (Java), so all earlier messages are consumed');
}));
