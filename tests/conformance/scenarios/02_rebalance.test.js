// Scenario 2: two ali-ons consumers of one clustering group split the queues of a topic;
// a third joining makes all three rebalance (ali-ons ignores NOTIFY_CONSUMER_IDS_CHANGED
// and rebalances on its 10 s timer, so this waits for that). Every message is consumed,
// each consumer gets some, and GET_CONSUMER_LIST_BY_GROUP lists exactly the members.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const mq = require('../lib/mq');
const { sleep } = require('../lib/cluster');
const { useCluster, withDiagnostics, sendAll, waitSplit, waitOffsetsStored } = require('../lib/scenario');

const h = useCluster('rebalance');
const TOPIC = 'ConfRebalance';
const GROUP = 'GID_CONF_REBALANCE';
const QUEUES = 8;
const REBALANCE_WAIT = 45000; // ali-ons' rebalance timer is 10 s; two rounds, generously

test('two consumers split the queues, a third joining rebalances, nothing is lost', withDiagnostics(h, async () => {
  const c = h.cluster;
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);
  const producer = await mq.newProducer(c);

  const got = { 'rb-1': [], 'rb-2': [], 'rb-3': [] };
  const start = name => mq.newConsumer(c, {
    group: GROUP, topic: TOPIC, instanceName: name,
    handler: async msg => { got[name].push(msg.body.toString()); },
  });

  const c1 = await start('rb-1');
  const c2 = await start('rb-2');
  const split2 = await waitSplit([c1, c2], TOPIC, QUEUES, REBALANCE_WAIT);
  assert.deepEqual(split2.map(a => a.length), [4, 4], `AllocateMessageQueueAveragely gives 4+4: ${JSON.stringify(split2)}`);

  const ids = (await admin.getConsumerIdListByGroup(c.brokerAddr, GROUP, 3000)).slice().sort();
  assert.deepEqual(ids, [`${c.host}@rb-1`, `${c.host}@rb-2`], 'GET_CONSUMER_LIST_BY_GROUP lists both members');

  const batch1 = Array.from({ length: 300 }, (_, i) => new mq.Message(TOPIC, 'TagR', `batch1 #${i}`));
  await sendAll(producer, batch1);
  await mq.waitFor(() => got['rb-1'].length + got['rb-2'].length >= batch1.length, 20000);
  assert.equal(got['rb-1'].length + got['rb-2'].length, batch1.length, 'batch 1 fully consumed by the two members');
  assert.ok(got['rb-1'].length > 0 && got['rb-2'].length > 0, `both members consumed: ${got['rb-1'].length}/${got['rb-2'].length}`);
  // the queues move with current offsets: wait until the broker has them (ali-ons persists
  // every 5 s) rather than sleeping one round
  const maxOffsets = {};
  for (let q = 0; q < QUEUES; q++) maxOffsets[q] = await admin.getMaxOffset(c.brokerAddr, TOPIC, q, 3000);
  const { ok: persisted, stored } = await waitOffsetsStored(admin, c, TOPIC, GROUP, maxOffsets);
  assert.ok(persisted, `QUERY_CONSUMER_OFFSET ${JSON.stringify(stored)} should equal max offsets ${JSON.stringify(maxOffsets)}`);

  const c3 = await start('rb-3');
  const ids3 = (await admin.getConsumerIdListByGroup(c.brokerAddr, GROUP, 3000)).slice().sort();
  assert.deepEqual(ids3, [`${c.host}@rb-1`, `${c.host}@rb-2`, `${c.host}@rb-3`], 'GET_CONSUMER_LIST_BY_GROUP lists three members');
  const split3 = await waitSplit([c1, c2, c3], TOPIC, QUEUES, REBALANCE_WAIT);
  assert.deepEqual(split3.map(a => a.length), [3, 3, 2], `AllocateMessageQueueAveragely gives 3+3+2: ${JSON.stringify(split3)}`);

  const before = { 'rb-1': got['rb-1'].length, 'rb-2': got['rb-2'].length, 'rb-3': got['rb-3'].length };
  const batch2 = Array.from({ length: 300 }, (_, i) => new mq.Message(TOPIC, 'TagR', `batch2 #${i}`));
  await sendAll(producer, batch2);
  const total = () => got['rb-1'].length + got['rb-2'].length + got['rb-3'].length;
  await mq.waitFor(() => total() >= batch1.length + batch2.length, 20000);
  await sleep(1000);

  const all = [...got['rb-1'], ...got['rb-2'], ...got['rb-3']];
  const expected = [...batch1, ...batch2].map(m => m.body.toString());
  const missing = expected.filter(b => !all.includes(b));
  assert.deepEqual(missing, [], 'every message consumed');
  const dups = all.filter((b, i) => all.indexOf(b) !== i);
  assert.deepEqual(dups, [], 'no message consumed twice (batches were sent only after the group settled)');
  for (const name of Object.keys(got)) {
    assert.ok(got[name].length - before[name] > 0, `${name} consumed part of batch 2 (got ${got[name].length - before[name]})`);
  }
}));
