// Scenario 8: cross-check between KiteMQ's C client libkite and ali-ons. (a) libkite sends
// a fixed set of messages (tests/conformance/xcheck/kite_xcheck.c `produce`: tags, two-word
// keys, flag, unicode property names/values, a unicode body with a NUL, 4095/4096-byte
// bodies around the compression threshold, 1 MiB random (sent raw: incompressible), 4 MiB - 1 KiB text (zlib, sysFlag
// 0x301) and 4 MiB - 1 KiB random uncompressed) and an ali-ons push consumer must receive
// each exactly once with identical topic, tags, keys, flag, properties, msg ids, queue/offset
// and body bytes (sha-256). (b) ali-ons sends the same kind of set (no tag = literal "null",
// zlib with sysFlag bit 0 only) and `kite_xcheck consume` (libkite push consumer) must
// receive the same, field by field. Every mismatch is listed in one failure message.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const mq = require('../lib/mq');
const { KITE_BIN } = require('../lib/cluster');
const { useCluster, withDiagnostics, waitSplit } = require('../lib/scenario');

const h = useCluster('xcheck');
const QUEUES = 4;
const KiB = 1024;
const MiB = 1024 * 1024;
const XCHECK = path.join(process.env.KITE_TESTS_BIN ? path.resolve(process.env.KITE_TESTS_BIN) : path.join(KITE_BIN, '..', 'tests'), 'kite_xcheck');

const sha = b => crypto.createHash('sha256').update(b).digest('hex');

// What kite_xcheck.c documents for its "basic" case, written here independently so that
// a unicode mangling on either side shows up.
const BASIC_BODY = 'héllo wörld — 你好，世界 🌍 \u0000 end';
const BASIC_PROPS = {
  color: 'blue',
  名前: 'värde ✓ 中文 😀',
  ключ: 'значение',
  'emoji🎉': '🚀 rocket',
  escaped: 'quote" back\\slash / tab\t',
};
const KITE_CASES = ['basic', 'no-tag', 'below-4k', 'at-4k', 'rand-1m', 'text-4m', 'rand-4m-raw'];

// ---- kite_xcheck runner ----------------------------------------------------------------

const liveChildren = new Set();
process.on('exit', () => { for (const c of liveChildren) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } } });

// Run kite_xcheck; resolves { code, signal, lines (parsed JSON), stderr }. Killed by PID
// when it outlives timeoutMs.
function runXcheck(args, timeoutMs) {
  if (!fs.existsSync(XCHECK)) {
    throw new Error(`${XCHECK} not found: build it with make (tests/CMakeLists.txt target kite_xcheck), or set KITE_TESTS_BIN`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(XCHECK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    liveChildren.add(child);
    const out = [];
    const err = [];
    child.stdout.on('data', d => out.push(d));
    child.stderr.on('data', d => err.push(d));
    let timedOut = false;
    const t = setTimeout(() => { timedOut = true; try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    child.once('error', e => { clearTimeout(t); liveChildren.delete(child); reject(e); });
    child.once('close', (code, signal) => {
      clearTimeout(t);
      liveChildren.delete(child);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const lines = [];
      for (const l of stdout.split('\n').filter(Boolean)) {
        try { lines.push(JSON.parse(l)); } catch { return reject(new Error(`kite_xcheck ${args[0]}: not a JSON line: ${l.slice(0, 300)}\nstderr: ${stderr}`)); }
      }
      resolve({ code, signal, timedOut, lines, stderr, args });
    });
  });
}

function describeRun(r) {
  return `kite_xcheck ${r.args.join(' ')} -> exit ${r.code ?? r.signal}${r.timedOut ? ' (killed: timeout)' : ''}\nstderr:\n${r.stderr.slice(-3000)}`;
}

// ---- field-by-field comparison ---------------------------------------------------------

class Diff {
  constructor() { this.items = []; }
  eq(where, field, expected, actual) {
    if (!Object.is(expected, actual)) this.items.push(`${where}: ${field}: expected ${fmt(expected)}, got ${fmt(actual)}`);
  }
  // Property maps: every name in either map must have the same value in both.
  props(where, expected, actual) {
    for (const k of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      this.eq(where, `properties[${JSON.stringify(k)}]`, expected[k], actual[k]);
    }
  }
  note(msg) { this.items.push(msg); }
  check(title) {
    if (this.items.length) assert.fail(`${title}: ${this.items.length} mismatch(es)\n  ${this.items.join('\n  ')}`);
  }
}
function fmt(v) {
  if (v === undefined) return '(absent)';
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

// ---- bodies for the ali-ons side --------------------------------------------------------

function textBody(n, seed) {
  const parts = [];
  let len = 0;
  for (let line = 0; len < n; line++) {
    const s = `line ${String(line).padStart(7, '0')}: ali-ons cross-check text ${((line * 2654435761 + seed) >>> 0).toString(16)} — ok\n`;
    parts.push(s);
    len += Buffer.byteLength(s);
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

// ---- (a) libkite -> ali-ons -------------------------------------------------------------

test('libkite producer -> ali-ons consumer: every message identical (tags, keys, properties, unicode, 4 MiB)', withDiagnostics(h, async () => {
  const c = h.cluster;
  const TOPIC = 'XcKiteToOns';
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);
  const got = new Map(); // case -> [messages]
  const consumer = await mq.newConsumer(c, {
    group: 'GID_XC_K2A', topic: TOPIC, instanceName: 'xc-k2a',
    handler: async msg => {
      const k = (msg.properties && msg.properties.case) || `(no case) ${msg.msgId}`;
      if (!got.has(k)) got.set(k, []);
      got.get(k).push(msg);
    },
  });
  await waitSplit([consumer], TOPIC, QUEUES, 15000);

  const run = await runXcheck(['produce', c.nameSrv, TOPIC, 'PID_XC_K2A'], 20000);
  const sent = run.lines.filter(l => 'sent' in l);
  const failed = sent.filter(l => !l.sent);
  assert.ok(run.code === 0 && failed.length === 0 && sent.length === KITE_CASES.length,
    `libkite produce failed: ${failed.map(f => `${f.case}: ${f.error} (${f.detail}, broker code ${f.broker_code})`).join('; ') || '(no failed lines)'}; ${sent.length} lines\n${describeRun(run)}`);
  assert.deepEqual(sent.map(s => s.case), KITE_CASES, 'kite_xcheck sent its documented cases in order');

  // what kite_xcheck says it sent must match its documented set (checks the JSON side too)
  const pre = new Diff();
  const basic = sent[0];
  pre.eq('sent basic', 'body_hex', Buffer.from(BASIC_BODY).toString('hex'), basic.body_hex);
  for (const [k, v] of Object.entries(BASIC_PROPS)) pre.eq('sent basic', `properties[${k}]`, v, basic.properties[k]);
  for (const s of sent) {
    pre.eq(`sent ${s.case}`, 'status', 'SEND_OK', s.status);
    pre.eq(`sent ${s.case}`, 'msg_id == properties.UNIQ_KEY', s.msg_id, s.properties.UNIQ_KEY);
  }
  const sizes = { 'below-4k': 4 * KiB - 1, 'at-4k': 4 * KiB, 'rand-1m': MiB, 'text-4m': 4 * MiB - KiB, 'rand-4m-raw': 4 * MiB - KiB };
  for (const [k, n] of Object.entries(sizes)) pre.eq(`sent ${k}`, 'body_len', n, sent.find(s => s.case === k).body_len);
  pre.check('kite_xcheck produce output does not match its documented set');

  const all = await mq.waitFor(() => KITE_CASES.every(k => got.has(k)), 20000);
  if (!all) assert.fail(`ali-ons did not receive: ${KITE_CASES.filter(k => !got.has(k)).join(', ')} within 20 s (received: ${[...got.keys()].join(', ')})`);
  await mq.waitFor(() => false, 500); // let duplicates, if any, show up

  const d = new Diff();
  for (const k of got.keys()) if (!KITE_CASES.includes(k)) d.note(`unexpected message ${k} (${got.get(k).length} deliveries)`);
  for (const s of sent) {
    const list = got.get(s.case);
    const w = s.case;
    d.eq(w, 'deliveries', 1, list.length);
    const m = list[0];
    d.eq(w, 'topic', s.topic, m.topic);
    d.eq(w, 'tags', s.tags, m.tags ?? null);
    d.eq(w, 'keys', s.keys, m.keys ?? null);
    d.eq(w, 'flag', s.flag, m.flag);
    // Received = sent + known additions, each checked, then compared exactly:
    // - ali-ons' decoder starts every property map with TAGS: null (null = absent), and its
    //   split on the trailing \u0002 separator adds an empty name with an empty value;
    // - ali-ons' consumer adds MIN_OFFSET / MAX_OFFSET of the pulled queue (as Java's does);
    // - the broker adds CLUSTER (its cluster name), MSG_REGION and TRACE_ON, as Java's 5.x
    //   broker does.
    const rprops = Object.fromEntries(Object.entries(m.properties).filter(([, v]) => v !== null));
    d.eq(w, 'ali-ons parser artifact properties[""]', '', rprops['']);
    d.eq(w, 'MIN_OFFSET (added by the ali-ons consumer)', true, /^\d+$/.test(rprops.MIN_OFFSET ?? ''));
    d.eq(w, 'MAX_OFFSET > queueOffset (added by the ali-ons consumer)', true, Number(rprops.MAX_OFFSET) > m.queueOffset);
    d.eq(w, 'CLUSTER (added by the broker)', c.clusterName, rprops.CLUSTER);
    d.eq(w, 'MSG_REGION (added by the broker)', 'DefaultRegion', rprops.MSG_REGION);
    d.eq(w, 'TRACE_ON (added by the broker)', 'true', rprops.TRACE_ON);
    for (const k of ['', 'MIN_OFFSET', 'MAX_OFFSET', 'CLUSTER', 'MSG_REGION', 'TRACE_ON']) delete rprops[k];
    d.props(w, s.properties, rprops);
    d.eq(w, 'msgId (ali-ons: store host + commit-log offset) == libkite offset_msg_id', s.offset_msg_id, m.msgId);
    d.eq(w, 'properties.UNIQ_KEY == libkite msg_id', s.msg_id, m.properties.UNIQ_KEY);
    d.eq(w, 'queueId', s.queue_id, m.queueId);
    d.eq(w, 'queueOffset', s.queue_offset, m.queueOffset);
    d.eq(w, 'reconsumeTimes', 0, m.reconsumeTimes);
    d.eq(w, 'sysFlag (libkite: 0x301 when compressed, else 0)', s.compressed ? 0x301 : 0, m.sysFlag);
    d.eq(w, 'body length', s.body_len, m.body ? m.body.length : 0);
    d.eq(w, 'body sha256', s.body_sha256, m.body ? sha(m.body) : sha(Buffer.alloc(0)));
    if (s.body_hex !== undefined) d.eq(w, 'body bytes (hex)', s.body_hex, m.body ? m.body.toString('hex') : '');
  }
  // the unicode texts as ali-ons decoded them
  const mb = got.get('basic')[0];
  d.eq('basic', 'body as UTF-8', BASIC_BODY, mb.body.toString('utf8'));
  for (const [k, v] of Object.entries(BASIC_PROPS)) d.eq('basic', `ali-ons properties[${k}]`, v, mb.properties[k]);
  d.check('libkite -> ali-ons');
}));

// ---- (b) ali-ons -> libkite -------------------------------------------------------------

test('ali-ons producer -> libkite consumer: every message identical (tags, keys, properties, unicode, 4 MiB)', withDiagnostics(h, async () => {
  const c = h.cluster;
  const TOPIC = 'XcOnsToKite';
  const admin = await mq.newAdmin(c);
  await mq.createTopic(admin, c, TOPIC, QUEUES);
  const producer = await mq.newProducer(c);                                      // compresses >= 4 KiB
  const rawProducer = await mq.newProducer(c, { compressMsgBodyOverHowmuch: 64 * MiB }); // never compresses

  const cases = [
    { name: 'basic', tags: 'TagXC', keys: ['order-1', 'user-42'], flag: 7, props: BASIC_PROPS, body: Buffer.from(BASIC_BODY) },
    { name: 'no-tag', body: Buffer.from('no tag given') },
    { name: 'below-4k', tags: 'TagXC', keys: ['k-below', 'second'], body: textBody(4 * KiB - 1, 1) },
    { name: 'at-4k', tags: 'TagXC', keys: ['k-at', 'second'], body: textBody(4 * KiB, 2) },
    { name: 'rand-1m', tags: 'TagBig', keys: ['k-rand1m', 'second'], body: crypto.randomBytes(MiB) },
    { name: 'text-4m', tags: 'TagBig', keys: ['k-text4m', 'second'], body: textBody(4 * MiB - KiB, 3) },
    { name: 'rand-4m-raw', tags: 'TagBig', keys: ['k-rand4m', 'second'], body: crypto.randomBytes(4 * MiB - KiB), raw: true },
  ];
  const expected = [];
  for (const k of cases) {
    const msg = k.tags ? new mq.Message(TOPIC, k.tags, Buffer.from(k.body)) : new mq.Message(TOPIC, Buffer.from(k.body));
    if (k.keys) msg.keys = k.keys;
    if (k.flag) msg.flag = k.flag;
    msg.properties.case = k.name;
    Object.assign(msg.properties, k.props || {});
    // what goes on the wire: ali-ons writes every property as `${name}\x01${value}\x02`, so
    // a missing tag travels as TAGS=null
    const props = Object.fromEntries(Object.entries(msg.properties).map(([n, v]) => [n, String(v)]));
    // hash before sending: ali-ons replaces msg.body by its compressed form
    const e = { name: k.name, props, tags: props.TAGS, keys: props.KEYS ?? null, flag: k.flag || 0,
      len: k.body.length, sha: sha(k.body), hex: k.body.length <= 512 ? k.body.toString('hex') : undefined };
    const r = await (k.raw ? rawProducer : producer).send(msg);
    assert.equal(r.sendStatus, 'SEND_OK', `ali-ons send of ${k.name}`);
    e.result = r;
    expected.push(e);
  }

  const run = await runXcheck(['consume', c.nameSrv, TOPIC, 'GID_XC_A2K', String(cases.length), '20000'], 25000);
  const recv = run.lines.filter(l => l.received);
  assert.ok(run.code === 0, `libkite consumer did not get ${cases.length} messages: got ${recv.map(l => l.properties.case).join(', ')}\n${describeRun(run)}`);

  const byCase = new Map();
  for (const l of recv) {
    const k = l.properties.case || `(no case) ${l.offset_msg_id}`;
    if (!byCase.has(k)) byCase.set(k, []);
    byCase.get(k).push(l);
  }
  const d = new Diff();
  for (const k of byCase.keys()) if (!expected.some(e => e.name === k)) d.note(`unexpected message ${k}`);
  for (const e of expected) {
    const w = e.name;
    const list = byCase.get(w);
    if (!list) { d.note(`${w}: not received`); continue; }
    d.eq(w, 'deliveries', 1, list.length);
    const m = list[0];
    d.eq(w, 'topic', TOPIC, m.topic);
    d.eq(w, 'tags', e.tags, m.tags);
    d.eq(w, 'keys', e.keys, m.keys);
    d.eq(w, 'flag', e.flag, m.flag);
    // received = sent + CLUSTER, MSG_REGION and TRACE_ON, which the broker adds (as Java's
    // 5.x broker does)
    const rprops = Object.assign({}, m.properties);
    d.eq(w, 'CLUSTER (added by the broker)', c.clusterName, rprops.CLUSTER);
    d.eq(w, 'MSG_REGION (added by the broker)', 'DefaultRegion', rprops.MSG_REGION);
    d.eq(w, 'TRACE_ON (added by the broker)', 'true', rprops.TRACE_ON);
    for (const k of ['CLUSTER', 'MSG_REGION', 'TRACE_ON']) delete rprops[k];
    d.props(w, e.props, rprops);
    d.eq(w, 'offset_msg_id == ali-ons send msgId', e.result.msgId, m.offset_msg_id);
    d.eq(w, 'msg_id (no UNIQ_KEY from ali-ons: the offset id)', e.result.msgId, m.msg_id);
    d.eq(w, 'queue_id', Number(e.result.messageQueue.queueId), m.queue_id);
    d.eq(w, 'queue_offset', e.result.queueOffset, m.queue_offset);
    d.eq(w, 'reconsume_times', 0, m.reconsume_times);
    d.eq(w, 'sysflag (compression bit cleared by libkite after inflating)', 0, m.sysflag);
    d.eq(w, 'body_len', e.len, m.body_len);
    d.eq(w, 'body_sha256', e.sha, m.body_sha256);
    if (e.hex !== undefined) d.eq(w, 'body bytes (hex)', e.hex, m.body_hex);
  }
  const basic = byCase.get('basic');
  if (basic) d.eq('basic', 'body as UTF-8', BASIC_BODY, Buffer.from(basic[0].body_hex, 'hex').toString('utf8'));
  const noTag = byCase.get('no-tag');
  if (noTag) d.eq('no-tag', "tags (ali-ons' literal \"null\" for a missing tag)", 'null', noTag[0].tags);
  d.check('ali-ons -> libkite');
}));
