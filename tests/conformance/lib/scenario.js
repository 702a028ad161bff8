// Per-file scaffolding for the conformance scenarios: one cluster per test file (started
// in before(), stopped by PID in after() even when a test failed), a wrapper that appends
// the broker log tail and recent ali-ons errors to any failure, and a few shared checks.
'use strict';

const { before, after } = require('node:test');
const { startCluster } = require('./cluster');
const mq = require('./mq');

/**
 * Register before/after hooks that run one kite-namesrv + kite-broker for this file.
 * @param {string} name - label for the temp dir
 * @param {object} [brokerConf] - extra broker keys
 * @return {{ cluster: object }} holder whose .cluster is set once started
 */
function useCluster(name, brokerConf) {
  const holder = { cluster: null };
  before(async () => {
    holder.cluster = await startCluster({ name, broker: brokerConf });
  });
  after(async () => {
    try {
      await mq.closeAll();
      if (holder.cluster) {
        const problems = await holder.cluster.stop();
        // a daemon that crashed or did not exit cleanly (ASan reports, hangs) fails the file
        if (problems.length) throw new Error(`daemon shutdown problems:\n${problems.join('\n')}`);
      }
    } finally {
      // ali-ons' scheduled tasks sleep up to 30 s between runs and cannot be cancelled, so
      // the file's process is ended shortly after the last hook (run.sh also passes
      // --test-force-exit where node supports it).
      setTimeout(() => process.exit(), 3000).unref();
    }
  });
  return holder;
}

// Run fn; on failure add the broker/name-server log tails and ali-ons' recent errors.
function withDiagnostics(holder, fn) {
  return async t => {
    try {
      await fn(t);
    } catch (err) {
      const extra = `\n${holder.cluster ? holder.cluster.logTail(40) : '(no cluster)'}\n${mq.clientLogTail(15)}`;
      // the reporter prints the stack, which holds the message as it was when thrown
      if (err && typeof err === 'object') {
        try { err.stack = `${err.stack || err.message}${extra}`; } catch { /* read-only */ }
        return Promise.reject(err);
      }
      throw new Error(`${String(err)}${extra}`);
    }
  };
}

// Send many messages with bounded concurrency; returns the send results in order.
async function sendAll(producer, msgs, concurrency = 8) {
  const results = new Array(msgs.length);
  let next = 0;
  async function worker() {
    while (next < msgs.length) {
      const i = next++;
      results[i] = await producer.send(msgs[i]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, msgs.length) }, worker));
  return results;
}

// Wait until the consumers of one clustering group hold every queue of `topic` exactly
// once between them (ali-ons rebalances on a 10 s timer); returns the allocation.
async function waitSplit(consumers, topic, queueNums, timeoutMs, requireEach = true) {
  let alloc;
  const ok = await mq.waitFor(() => {
    alloc = consumers.map(c => mq.assignedQueues(c, topic));
    const all = alloc.flat();
    return all.length === queueNums && new Set(all).size === queueNums &&
      (!requireEach || alloc.every(a => a.length > 0));
  }, timeoutMs, 200);
  if (!ok) throw new Error(`queues of ${topic} not split among ${consumers.length} consumer(s) within ${timeoutMs} ms: ${JSON.stringify(alloc)}`);
  return alloc;
}

// Wait until the broker's committed offset of `group` (QUERY_CONSUMER_OFFSET) equals
// `want[q]` for every queue q of `want` (ali-ons persists offsets every 5 s, oneway);
// returns { ok, stored } with the last answers.
async function waitOffsetsStored(admin, cluster, topic, group, want, timeoutMs = 30000) {
  let stored;
  const ok = await mq.waitFor(async () => {
    stored = {};
    for (const q of Object.keys(want)) {
      try {
        stored[q] = await admin.queryConsumerOffset(cluster.brokerAddr, { topic, consumerGroup: group, queueId: Number(q) }, 3000);
      } catch (err) {
        stored[q] = `error ${err.code}: ${err.message}`;
      }
    }
    return Object.keys(want).every(q => stored[q] === want[q]);
  }, timeoutMs, 500);
  return { ok, stored };
}

module.exports = { useCluster, withDiagnostics, sendAll, waitSplit, waitOffsetsStored };
