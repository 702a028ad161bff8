// ali-ons helpers for the conformance scenarios: producers, push consumers and a bare
// MQClientAPI ("admin") built with ali-ons' own classes, a quiet logger that keeps recent
// lines for failure reports, topic creation through ali-ons' UPDATE_AND_CREATE_TOPIC
// encoding, route waiting, and polling helpers.
'use strict';

const { Producer, Consumer, Message } = require('ali-ons');
const MQClientAPI = require('ali-ons/lib/mq_client_api');
const MQProducer = require('ali-ons/lib/producer/mq_producer');
const { sleep } = require('./cluster');

// ali-ons requires an httpclient even when nameSrv is given; it is only used to look
// name servers up over HTTP, which a nameSrv option skips.
const noHttp = { request() { throw new Error('conformance: no HTTP name-server lookup expected'); } };

// Logger that records warnings/errors (ali-ons is chatty) and prints them only when
// KITE_CONF_VERBOSE is set.
const logLines = [];
function record(level, args) {
  const line = `[${new Date().toISOString()}] ${level} ${args.map(a => (a instanceof Error ? a.stack : typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`;
  logLines.push(line);
  if (logLines.length > 400) logLines.shift();
  if (process.env.KITE_CONF_VERBOSE) process.stderr.write(line + '\n');
}
const logger = {
  info(...a) { if (process.env.KITE_CONF_VERBOSE === '2') record('INFO', a); },
  debug() {},
  warn(...a) { record('WARN', a); },
  error(...a) { record('ERROR', a); },
};
function clientLogTail(n = 30) {
  return `--- last ali-ons warnings/errors ---\n${logLines.slice(-n).join('\n')}`;
}

// Every client created here, closed by closeAll().
const clients = [];

function baseOptions(cluster, extra) {
  return Object.assign({
    httpclient: noHttp,
    nameSrv: cluster.nameSrv,
    clientIP: cluster.host,
    logger,
  }, extra);
}

// Errors emitted by a client, kept on the client as .errors.
function collectErrors(client) {
  client.errors = [];
  client.on('error', err => { client.errors.push(err); record('EMIT', [err]); });
  return client;
}

// ali-ons keeps one MQClient per clientId (IP@pid for producers) and silently ignores a
// second producer of the same group in it, so each producer here gets its own group.
let producerSeq = 0;
async function newProducer(cluster, extra = {}) {
  const group = `PID_CONF_${++producerSeq}`;
  const p = collectErrors(new Producer(baseOptions(cluster, Object.assign({ producerGroup: group }, extra))));
  clients.push(p);
  await p.ready();
  return p;
}

/**
 * Start a push consumer.
 * @param {object} cluster - from startCluster
 * @param {object} o - { group, topic, expr, handler, instanceName, ...ali-ons options }
 */
async function newConsumer(cluster, o) {
  const { group, topic, expr, handler, ...rest } = o;
  const c = collectErrors(new Consumer(baseOptions(cluster, Object.assign({ consumerGroup: group }, rest))));
  clients.push(c);
  c.subscribe(topic, expr || '*', handler);
  await c.ready();
  return c;
}

// A bare ali-ons MQClientAPI: route lookups, createTopic, offsets, raw pulls (extra:
// more ali-ons options, e.g. accessKeyId / accessKeySecret to sign).
async function newAdmin(cluster, extra = {}) {
  const api = new MQClientAPI(baseOptions(cluster, extra));
  collectErrors(api);
  clients.push(api);
  await api.ready();
  return api;
}

// Create a topic on the broker with ali-ons' UPDATE_AND_CREATE_TOPIC encoding, then wait
// until the name server serves its route.
async function createTopic(admin, cluster, topic, queueNums = 8) {
  await admin.createTopic(cluster.brokerAddr, 'TBW102', {
    topicName: topic,
    readQueueNums: queueNums,
    writeQueueNums: queueNums,
    perm: 6,
    topicFilterType: 'SINGLE_TAG',
    topicSysFlag: 0,
    order: false,
  }, 3000);
  return waitRoute(admin, topic, queueNums);
}

async function waitRoute(admin, topic, queueNums, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      const route = await admin.getTopicRouteInfoFromNameServer(topic, 3000);
      if (route && route.queueDatas.length && (!queueNums || route.queueDatas[0].readQueueNums === queueNums)) return route;
    } catch (err) {
      lastErr = err;
    }
    await sleep(100);
  }
  throw new Error(`route of ${topic} not served by the name server within ${timeoutMs} ms (${lastErr ? lastErr.message : 'wrong queue count'})`);
}

// Poll fn() until it returns a truthy value or the time is up; returns the last value.
async function waitFor(fn, timeoutMs, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() >= deadline) return v;
    await sleep(stepMs);
  }
}

// Queue keys a consumer currently pulls for one topic.
function assignedQueues(consumer, topic) {
  const out = [];
  for (const { messageQueue } of consumer.processQueueTable.values()) {
    if (messageQueue.topic === topic) out.push(messageQueue.queueId);
  }
  return out.sort((a, b) => a - b);
}

async function closeAll() {
  // consumers first, then producers and the shared inner producer, then admin APIs
  const order = c => (c instanceof Consumer ? 0 : c instanceof Producer ? 1 : 2);
  const list = clients.splice(0).sort((a, b) => order(a) - order(b));
  for (const c of list) {
    try { await Promise.race([c.close(), sleep(5000)]); } catch { /* best effort */ }
  }
  if (MQProducer.defaultProducer) {
    const d = MQProducer.defaultProducer;
    MQProducer.defaultProducer = null;
    try { await Promise.race([d.close(), sleep(5000)]); } catch { /* best effort */ }
  }
}

module.exports = {
  Message, Consumer, Producer,
  newProducer, newConsumer, newAdmin, createTopic, waitRoute, waitFor, assignedQueues,
  closeAll, clientLogTail, logger,
};
