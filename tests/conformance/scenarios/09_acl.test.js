// Scenario 9: plain ACL. The broker runs with aclEnable=true and an accounts file written
// here; ali-ons signs its requests when given accessKeyId / accessKeySecret (adding its
// OnsChannel field, which the broker does not know but checks as signed). A sub-account
// sends to and consumes from its PUB|SUB topic; it is refused on its DENY topic; a wrong
// secret and an unsigned producer are refused, each with RocketMQ's AclException text.
// Controls: the admin account creates the topics and stores on the DENY topic.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const assert = require('node:assert/strict');
const mq = require('../lib/mq');
const { useCluster, withDiagnostics, sendAll } = require('../lib/scenario');

const aclDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-conf-acl-'));
const aclFile = path.join(aclDir, 'plain_acl.yml');
fs.writeFileSync(aclFile, [
  'accounts:',
  '  - accessKey: confUser01',
  '    secretKey: confSecret01',
  '    admin: false',
  '    defaultTopicPerm: DENY',
  '    defaultGroupPerm: SUB',
  '    topicPerms:',
  '      - ConfAclOk=PUB|SUB',
  '      - ConfAclDeny=DENY',
  '  - accessKey: confAdmin01',
  '    secretKey: confAdminSecret1',
  '    admin: true',
  '',
].join('\n'));

const h = useCluster('acl', { aclEnable: true, aclFile });
const USER = { accessKeyId: 'confUser01', accessKeySecret: 'confSecret01' };
const ADMIN = { accessKeyId: 'confAdmin01', accessKeySecret: 'confAdminSecret1' };
const N = 40;
let seq = 0;
const inst = () => `acl-${++seq}`;

const adminApi = c => mq.newAdmin(c, ADMIN);

// ali-ons retries a SYSTEM_ERROR answer and then throws a generic "Send [n] times, still
// failed": the broker's answer is read from the errors of its per-attempt send call.
async function refusedSend(producer, topic, pattern) {
  const seen = [];
  const orig = producer.sendKernelImpl;
  producer.sendKernelImpl = async function(...args) {
    try {
      return await orig.apply(this, args);
    } catch (err) {
      seen.push(err);
      throw err;
    }
  };
  try {
    await assert.rejects(producer.send(new mq.Message(topic, 'T', 'refused')), /still failed/);
  } finally {
    producer.sendKernelImpl = orig;
  }
  assert.ok(seen.length > 0, 'the broker answered the attempts');
  for (const err of seen) {
    assert.equal(err.code, 1, `SYSTEM_ERROR, as RocketMQ's plain ACL answers: ${err.message}`);
    assert.match(String(err.message), /org\.apache\.rocketmq\.acl\.common\.AclException: /);
    assert.match(String(err.message), pattern);
  }
}

test('a sub-account sends and consumes on its topic; refused on a DENY topic, with a wrong secret, unsigned',
  withDiagnostics(h, async () => {
    const c = h.cluster;
    const admin = await adminApi(c);
    await mq.createTopic(admin, c, 'ConfAclOk', 4);
    await mq.createTopic(admin, c, 'ConfAclDeny', 4);

    const got = new Set();
    const consumer = await mq.newConsumer(c, Object.assign({
      group: 'GID_CONF_ACL', topic: 'ConfAclOk', instanceName: inst(), consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      handler: async msg => { got.add(msg.body.toString()); },
    }, USER));
    const producer = await mq.newProducer(c, Object.assign({ instanceName: inst() }, USER));
    const msgs = [];
    for (let i = 0; i < N; i++) msgs.push(new mq.Message('ConfAclOk', 'T', `acl #${i}`));
    const results = await sendAll(producer, msgs);
    assert.ok(results.every(r => r.sendStatus === 'SEND_OK'), 'every send stored');
    await mq.waitFor(() => got.size >= N, 30000);
    assert.equal(got.size, N, 'the sub-account consumed every message');
    assert.equal(consumer.errors.filter(e => /AclException/.test(String(e && e.message))).length, 0);

    await refusedSend(producer, 'ConfAclDeny', /ConfAclDeny/);
    const adminProducer = await mq.newProducer(c, Object.assign({ instanceName: inst() }, ADMIN));
    const r = await adminProducer.send(new mq.Message('ConfAclDeny', 'T', 'by the admin'));
    assert.equal(r.sendStatus, 'SEND_OK', 'control: the admin stores on the DENY topic');

    const wrong = await mq.newProducer(c, { instanceName: inst(), accessKeyId: 'confUser01', accessKeySecret: 'notTheSecret' });
    await refusedSend(wrong, 'ConfAclOk', /Check signature failed for accessKey=confUser01/);
    const anon = await mq.newProducer(c, { instanceName: inst() });
    await refusedSend(anon, 'ConfAclOk', /No accessKey is configured/);
  }));
