// Scenario 3: a broadcasting group (ali-ons isBroadcast: offsets kept in client memory,
// start at GET_MAX_OFFSET) where every one of three members receives every message once.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const mq = require('../lib/mq');
const { sleep } = require('../lib/cluster');
const { useCluster, withDiagnostics, sendAll } = require('../lib/scenario');

const h = useCluster('broadcast');
const TOPIC = 'ConfBroadcast';
const GROUP = 'GID_CONF_BROADCAST';
const QUEUES = 4;
const N = 200;

test('every member of a broadcasting group gets every message', withDiagnostics(h, async () => {
  const c = h.cluster;
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);

  const names = ['bc-1', 'bc-2', 'bc-3'];
  const got = Object.fromEntries(names.map(n => [n, []]));
  const consumers = [];
  for (const name of names) {
    consumers.push(await mq.newConsumer(c, {
      group: GROUP, topic: TOPIC, instanceName: name, isBroadcast: true,
      handler: async msg => { got[name].push(msg.body.toString()); },
    }));
  }
  // broadcasting: every member pulls every queue (from the current max offset)
  const full = await mq.waitFor(() => consumers.every(k => mq.assignedQueues(k, TOPIC).length === QUEUES), 15000);
  assert.ok(full, `each broadcasting member holds all ${QUEUES} queues: ${JSON.stringify(consumers.map(k => mq.assignedQueues(k, TOPIC)))}`);

  const producer = await mq.newProducer(c);
  const msgs = Array.from({ length: N }, (_, i) => new mq.Message(TOPIC, 'TagBC', `broadcast #${i}`));
  await sendAll(producer, msgs);
  await mq.waitFor(() => names.every(n => got[n].length >= N), 20000);
  await sleep(1000);
  const expected = msgs.map(m => m.body.toString()).sort();
  for (const n of names) {
    assert.equal(got[n].length, N, `${n} got ${got[n].length} of ${N}`);
    assert.deepEqual(got[n].slice().sort(), expected, `${n} got every message exactly once`);
  }
}));
