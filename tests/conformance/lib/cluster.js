// Test harness for the ali-ons conformance suite: starts one kite-namesrv and one
// kite-broker from $KITE_BIN on a random 127.0.0.x address with free ports and data in
// a temp dir, waits for their ports, and stops them by PID (also on failure, on signals
// and at process exit). Daemon stderr goes to files in the temp dir; logTail() reads them.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');

const KITE_BIN = path.resolve(process.env.KITE_BIN || path.join(__dirname, '..', '..', '..', 'build', 'bin'));

// Every daemon started by this process, so that exit and signal handlers can stop them.
const live = new Set();

function killAllSync() {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}
// Clusters still running, so that a signal (run.sh's timeout) can show their logs.
const running = new Set();

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    for (const c of running) {
      try { process.stderr.write(`\n[cluster] ${sig} while running; logs in ${c.dir}\n${c.logTail(30)}\n`); } catch { /* ignore */ }
    }
    killAllSync();
    process.exit(128 + (os.constants.signals[sig] || 15));
  });
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

// True when `port` can be bound on `host` right now.
function portFree(host, port) {
  return new Promise(resolve => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

// A random loopback address 127.0.0.x (x in 2..250) and a port p with p-2..p+1 free on it
// (the broker also listens on the VIP port listenPort-2).
async function pickAddress() {
  for (let attempt = 0; attempt < 200; attempt++) {
    const host = `127.0.0.${2 + Math.floor(Math.random() * 249)}`;
    const base = 20000 + Math.floor(Math.random() * 40000);
    const ports = [base - 2, base - 1, base, base + 1, base + 10];
    let ok = true;
    for (const p of ports) {
      if (!(await portFree(host, p))) { ok = false; break; }
    }
    if (ok) return { host, brokerPort: base, namesrvPort: base + 10 };
  }
  throw new Error('cluster: no free loopback address/port found');
}

function waitPort(host, port, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`cluster: ${child.kiteName} exited (${child.exitCode ?? child.signalCode}) before listening on ${host}:${port}`));
        return;
      }
      const sock = net.connect({ host, port });
      sock.once('connect', () => { sock.destroy(); resolve(); });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`cluster: ${child.kiteName} not listening on ${host}:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function startDaemon(name, bin, conf, logFile) {
  const exe = path.join(KITE_BIN, bin);
  if (!fs.existsSync(exe)) throw new Error(`cluster: ${exe} not found (set KITE_BIN to the directory holding ${bin})`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(exe, ['-c', conf], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.kiteName = name;
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

function writeConf(file, kv) {
  fs.writeFileSync(file, `# written by tests/conformance/lib/cluster.js\n${Object.entries(kv).map(([k, v]) => `${k}=${v}`).join('\n')}\n`);
}

// Stop one child by PID: SIGTERM, then SIGKILL after graceMs. Returns a problem
// description, or null when it had been running and exited 0 on SIGTERM.
async function stopChild(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return `${child.kiteName} (pid ${child.pid}) had already exited before stop: ${child.exitCode ?? child.signalCode}`;
  }
  const exited = new Promise(r => child.once('exit', (code, sig) => r({ code, sig })));
  try { process.kill(child.pid, 'SIGTERM'); } catch { return `${child.kiteName} (pid ${child.pid}) vanished`; }
  let killed = false;
  const t = setTimeout(() => { killed = true; try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  const { code, sig } = await exited;
  clearTimeout(t);
  live.delete(child);
  if (killed) return `${child.kiteName} (pid ${child.pid}) did not stop within ${graceMs} ms of SIGTERM; killed`;
  if (code !== 0) return `${child.kiteName} (pid ${child.pid}) exited with ${code ?? sig} on SIGTERM`;
  return null;
}

function tailFile(file, lines) {
  try {
    const all = fs.readFileSync(file, 'utf8').split('\n');
    return all.slice(-lines - 1).join('\n');
  } catch (err) {
    return `(cannot read ${file}: ${err.message})`;
  }
}

/**
 * Start a name server and a broker.
 * @param {object} [opts]
 * @param {string} [opts.name] label used for the temp dir
 * @param {object} [opts.broker] extra broker config keys (e.g. messageDelayLevel)
 * @return {Promise<object>} { host, nameSrv, brokerAddr, brokerName, clusterName, dir, stop(), logTail(n), brokerLog, namesrvLog }
 */
async function startCluster(opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kite-conf-${opts.name || 'x'}-`));
  const { host, brokerPort, namesrvPort } = await pickAddress();
  const brokerName = opts.brokerName || 'broker-conf';
  const clusterName = 'ConfCluster';
  const namesrvLog = path.join(dir, 'namesrv.log');
  const brokerLog = path.join(dir, 'broker.log');

  writeConf(path.join(dir, 'namesrv.conf'), {
    listenPort: namesrvPort,
    bindAddress: host,
    kvConfigPath: path.join(dir, 'namesrv', 'kvConfig.json'),
  });
  writeConf(path.join(dir, 'broker.conf'), Object.assign({
    brokerClusterName: clusterName,
    brokerName,
    brokerIP1: host,
    bindAddress: host,
    listenPort: brokerPort,
    namesrvAddr: `${host}:${namesrvPort}`,
    storePathRootDir: path.join(dir, 'store'),
    mappedFileSizeCommitLog: 64 * 1024 * 1024,
    // A small index: the default index file (5M slots, 20M entries) is ~400 MiB per store.
    maxHashSlotNum: 20000,
    maxIndexNum: 80000,
    flushDiskType: 'ASYNC_FLUSH',
    logLevel: 'info',
  }, opts.broker || {}));

  const children = [];
  const cluster = {
    host,
    dir,
    brokerName,
    clusterName,
    nameSrv: `${host}:${namesrvPort}`,
    brokerAddr: `${host}:${brokerPort}`,
    namesrvLog,
    brokerLog,
    logTail(n = 40) {
      return `--- tail of ${brokerLog} ---\n${tailFile(brokerLog, n)}\n--- tail of ${namesrvLog} ---\n${tailFile(namesrvLog, Math.ceil(n / 4))}`;
    },
    // Stops both daemons by PID; returns a list of problems (abnormal exits), and keeps
    // the temp dir when there were any (or KITE_CONF_KEEP is set).
    async stop() {
      running.delete(cluster);
      const problems = [];
      for (const c of children.slice().reverse()) {
        const p = await stopChild(c);
        if (p) problems.push(p);
      }
      if (problems.length) problems.push(`logs kept in ${dir}`, cluster.logTail(60));
      else if (!process.env.KITE_CONF_KEEP) fs.rmSync(dir, { recursive: true, force: true });
      return problems;
    },
  };
  running.add(cluster);
  try {
    const ns = startDaemon('kite-namesrv', 'kite-namesrv', path.join(dir, 'namesrv.conf'), namesrvLog);
    children.push(ns);
    await waitPort(host, namesrvPort, ns, 10000);
    const br = startDaemon('kite-broker', 'kite-broker', path.join(dir, 'broker.conf'), brokerLog);
    children.push(br);
    await waitPort(host, brokerPort, br, 15000);
  } catch (err) {
    err.message += `\n${cluster.logTail()}`;
    await cluster.stop();
    throw err;
  }
  return cluster;
}

module.exports = { startCluster, sleep, KITE_BIN };
