// Scenario 5: cross-checks of what ali-ons sends against what comes back: tags, keys, user
// properties (unicode, JSON-escaped characters), flag, unicode bodies, msgId/queue/offset
// from the send answer, store host, timestamps and body CRC; the tag-less "null" tag
// quirk; compressed (zlib, sysFlag bit 0) and raw large bodies of 1 MiB and 4 MiB - 1 KiB;
// an oversize body answered MESSAGE_ILLEGAL (13) with the connection still usable; and a
// producer with ONS access keys (extra AccessKey/Signature/OnsChannel header fields).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const mq = require('../lib/mq');
const { sleep } = require('../lib/cluster');
const { useCluster, withDiagnostics, waitSplit } = require('../lib/scenario');

const h = useCluster('props');
const TOPIC = 'ConfProps';
const QUEUES = 4;
const MiB = 1024 * 1024;

const sha = b => crypto.createHash('sha256').update(b).digest('hex');
// zlib.crc32 exists from node 20.15; a table version for older nodes
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = zlib.crc32 || (buf => {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
});
let consumer;
const got = new Map(); // case name -> message

async function setup() {
  const c = h.cluster;
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);
  consumer = await mq.newConsumer(c, {
    group: 'GID_CONF_PROPS', topic: TOPIC, instanceName: 'props-1',
    handler: async msg => { got.set(msg.properties.case || `(no case) ${msg.msgId}`, msg); },
  });
  await waitSplit([consumer], TOPIC, QUEUES, 15000);
}

async function receive(name, timeoutMs = 15000) {
  const ok = await mq.waitFor(() => got.has(name), timeoutMs);
  assert.ok(ok, `message '${name}' was not consumed within ${timeoutMs} ms`);
  return got.get(name);
}

test('tags, keys, user properties, flag and a unicode body round-trip', withDiagnostics(h, async () => {
  await setup();
  const c = h.cluster;
  const producer = await mq.newProducer(c);
  const body = 'héllo wörld — 你好，世界 🌍 \u0000 end';
  const msg = new mq.Message(TOPIC, 'TagProps', body);
  msg.keys = ['order-1', 'user-42'];
  msg.flag = 7;
  msg.properties.case = 'basic';
  msg.properties.color = 'blue';
  msg.properties.unicode = 'värde ✓ 中文 😀';
  msg.properties.escaped = 'quote" back\\slash / tab\t';
  const t0 = Date.now();
  const r = await producer.send(msg);
  const t1 = Date.now();
  assert.equal(r.sendStatus, 'SEND_OK');
  assert.match(r.msgId, /^[0-9A-F]{32}$/, 'msgId is 32 upper-case hex characters');

  const m = await receive('basic');
  assert.equal(m.body.toString('utf8'), body, 'unicode body byte-exact');
  assert.equal(m.tags, 'TagProps');
  assert.equal(m.keys, 'order-1 user-42', 'keys joined with a space, as ali-ons sends them');
  assert.equal(m.properties.color, 'blue');
  assert.equal(m.properties.unicode, 'värde ✓ 中文 😀', 'unicode property value byte-exact');
  assert.equal(m.properties.escaped, 'quote" back\\slash / tab\t', 'property with JSON-escaped characters');
  assert.equal(m.flag, 7, 'flag kept');
  assert.equal(m.reconsumeTimes, 0);
  assert.equal(m.topic, TOPIC);
  assert.equal(m.msgId, r.msgId, 'consumed msgId (store host + commit-log offset) equals the send answer');
  assert.equal(m.queueId, Number(r.messageQueue.queueId), 'queue id of the send answer');
  assert.equal(m.queueOffset, r.queueOffset, 'queue offset of the send answer');
  assert.equal(m.storeHost, c.brokerAddr, 'store host is the advertised address and port');
  assert.ok(m.bornTimestamp >= t0 - 5 && m.bornTimestamp <= t1 + 5, `bornTimestamp ${m.bornTimestamp} within the send call [${t0}, ${t1}]`);
  assert.ok(m.storeTimestamp >= t0 - 1000 && m.storeTimestamp <= t1 + 1000, `storeTimestamp ${m.storeTimestamp} near the send`);
  assert.equal(m.bodyCRC, crc32(Buffer.from(body)) & 0x7fffffff, 'BODYCRC is crc32(body) & 0x7fffffff');
  assert.match(m.bornHost, /^127\.0\.0\.\d+:\d+$/, `bornHost ${m.bornHost}`);
}));

test("a message without a tag carries ali-ons' literal tag 'null'", withDiagnostics(h, async () => {
  const producer = await mq.newProducer(h.cluster);
  const msg = new mq.Message(TOPIC, 'no tag given');
  msg.properties.case = 'no-tag';
  await producer.send(msg);
  const m = await receive('no-tag');
  assert.equal(m.body.toString(), 'no tag given');
  assert.equal(m.tags, 'null', 'ali-ons serialises a missing tag as TAGS=null and the broker keeps it');
}));

test('1 MiB bodies, compressible and random, are zlib-compressed by ali-ons and come back intact', withDiagnostics(h, async () => {
  const producer = await mq.newProducer(h.cluster);
  const text = Buffer.from('KiteMQ conformance — compressible line\n'.repeat(Math.ceil(MiB / 40))).subarray(0, MiB);
  const rand = crypto.randomBytes(MiB);
  for (const [name, body] of [['text-1m', text], ['rand-1m', rand]]) {
    const msg = new mq.Message(TOPIC, 'TagBig', Buffer.from(body));
    msg.properties.case = name;
    const r = await producer.send(msg);
    assert.equal(r.sendStatus, 'SEND_OK', `${name} sent`);
  }
  for (const [name, body] of [['text-1m', text], ['rand-1m', rand]]) {
    const m = await receive(name);
    assert.equal(m.sysFlag & 1, 1, `${name}: stored with the compressed flag`);
    assert.equal(m.body.length, MiB, `${name}: decompressed length`);
    assert.equal(sha(m.body), sha(body), `${name}: body intact`);
  }
}));

test('an uncompressed 4 MiB - 1 KiB body is accepted and consumed intact', withDiagnostics(h, async () => {
  const producer = await mq.newProducer(h.cluster, { compressMsgBodyOverHowmuch: 64 * MiB });
  const body = crypto.randomBytes(4 * MiB - 1024);
  const msg = new mq.Message(TOPIC, 'TagBig', Buffer.from(body));
  msg.properties.case = 'rand-4m';
  const r = await producer.send(msg);
  assert.equal(r.sendStatus, 'SEND_OK');
  const m = await receive('rand-4m', 20000);
  assert.equal(m.sysFlag & 1, 0, 'not compressed');
  assert.equal(m.body.length, body.length);
  assert.equal(sha(m.body), sha(body), 'body intact');
  assert.equal(m.bodyCRC, crc32(body) & 0x7fffffff, 'BODYCRC of the large body');
}));

test('a body over 4 MiB is refused with MESSAGE_ILLEGAL (13) and the producer keeps working', withDiagnostics(h, async () => {
  const producer = await mq.newProducer(h.cluster, { compressMsgBodyOverHowmuch: 64 * MiB });
  const msg = new mq.Message(TOPIC, 'TagBig', crypto.randomBytes(4 * MiB + 1));
  msg.properties.case = 'too-big';
  await assert.rejects(producer.send(msg), err => {
    assert.equal(err.name, 'MQClientException', `error ${err.name}: ${err.message}`);
    assert.equal(err.code, 13, `response code ${err.code} (${err.message})`);
    return true;
  });
  const ok = new mq.Message(TOPIC, 'TagProps', 'after the oversize one');
  ok.properties.case = 'after-too-big';
  assert.equal((await producer.send(ok)).sendStatus, 'SEND_OK', 'next send on the same producer works');
  await receive('after-too-big');
  await sleep(500);
  assert.ok(!got.has('too-big'), 'the refused message was never delivered');
}));

test('a producer with ONS access keys (AccessKey/Signature/OnsChannel fields) is served', withDiagnostics(h, async () => {
  const producer = await mq.newProducer(h.cluster, { accessKeyId: 'conf-ak', accessKeySecret: 'conf-sk' });
  const msg = new mq.Message(TOPIC, 'TagProps', 'signed request');
  msg.properties.case = 'signed';
  const r = await producer.send(msg);
  assert.equal(r.sendStatus, 'SEND_OK');
  const m = await receive('signed');
  assert.equal(m.body.toString(), 'signed request');
  assert.equal(m.properties.AccessKey, undefined, 'header auth fields do not leak into message properties');
}));
