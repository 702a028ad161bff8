// Scenario 4: tag filtering. An ali-ons consumer subscribed to 'TagA || TagB' receives
// only TagA and TagB messages of a TagA/TagB/TagC mix. ali-ons also filters by tag on its
// side, so the test records what the broker itself returned (PULL_MESSAGE answers) and
// also checks the broker's filter with raw ali-ons pulls (subscription flag set).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const mq = require('../lib/mq');
const PullSysFlag = require('ali-ons/lib/utils/pull_sys_flag');
const { sleep } = require('../lib/cluster');
const { useCluster, withDiagnostics, sendAll, waitSplit } = require('../lib/scenario');

const h = useCluster('tags');
const TOPIC = 'ConfTags';
const QUEUES = 4;
const PER_TAG = 40;

function mix() {
  const msgs = [];
  for (let i = 0; i < PER_TAG; i++) {
    for (const tag of ['TagA', 'TagB', 'TagC']) msgs.push(new mq.Message(TOPIC, tag, `${tag} #${i}`));
  }
  return msgs;
}

test("a consumer subscribed to 'TagA || TagB' gets only TagA and TagB", withDiagnostics(h, async () => {
  const c = h.cluster;
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);

  const got = [];
  const consumer = await mq.newConsumer(c, {
    group: 'GID_CONF_TAGS', topic: TOPIC, expr: 'TagA || TagB', instanceName: 'tag-1',
    handler: async msg => { got.push(msg); },
  });
  // record what the broker answered before ali-ons' own tag check
  const fromBroker = [];
  const pull = consumer._mqClient.pullMessage.bind(consumer._mqClient);
  consumer._mqClient.pullMessage = async (addr, header, timeout) => {
    const r = await pull(addr, header, timeout);
    if (header.topic === TOPIC) for (const m of r.msgFoundList) fromBroker.push(m.tags);
    return r;
  };
  await waitSplit([consumer], TOPIC, QUEUES, 15000);

  const producer = await mq.newProducer(c);
  const msgs = mix();
  await sendAll(producer, msgs);
  const want = msgs.filter(m => m.tags !== 'TagC').map(m => m.body.toString()).sort();
  await mq.waitFor(() => got.length >= want.length, 20000);
  await sleep(1500);
  assert.deepEqual(got.map(m => m.body.toString()).sort(), want, 'exactly the TagA and TagB messages, once each');
  assert.ok(got.every(m => m.tags === 'TagA' || m.tags === 'TagB'), 'tags kept');
  assert.equal(fromBroker.filter(t => t === 'TagC').length, 0,
    `the broker returned ${fromBroker.filter(t => t === 'TagC').length} TagC message(s) in PULL_MESSAGE answers (ali-ons dropped them itself)`);
}));

test('raw ali-ons pulls with a subscription are filtered by the broker', withDiagnostics(h, async () => {
  const c = h.cluster;
  const admin = await mq.newAdmin(c);
  const seen = { TagA: 0, TagB: 0, TagC: 0 };
  const codes = new Set();
  for (let q = 0; q < QUEUES; q++) {
    const max = await admin.getMaxOffset(c.brokerAddr, TOPIC, q, 3000);
    let offset = 0;
    for (let guard = 0; offset < max && guard < 100; guard++) {
      const r = await admin.pullMessage(c.brokerAddr, {
        consumerGroup: 'GID_CONF_TAGS_RAW',
        topic: TOPIC,
        queueId: q,
        queueOffset: offset,
        maxMsgNums: 32,
        sysFlag: PullSysFlag.buildSysFlag(false, false, true, false), // subscription, no suspend
        commitOffset: 0,
        suspendTimeoutMillis: 0,
        subscription: 'TagA || TagB',
        subVersion: Date.now(),
      }, 5000);
      codes.add(r.pullStatus);
      for (const m of r.msgFoundList) seen[m.tags] = (seen[m.tags] || 0) + 1;
      assert.ok(r.nextBeginOffset > offset || r.pullStatus === 'NO_NEW_MSG', `pull on queue ${q} at ${offset} made progress (${r.pullStatus}, next ${r.nextBeginOffset})`);
      offset = r.nextBeginOffset;
    }
    assert.equal(offset, max, `queue ${q} walked to its max offset ${max}`);
  }
  assert.deepEqual(seen, { TagA: PER_TAG, TagB: PER_TAG, TagC: 0 }, `tags returned by the broker (pull statuses ${[...codes]})`);
}));
