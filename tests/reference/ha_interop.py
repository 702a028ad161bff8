#!/usr/bin/env python3
"""Replication interop with Apache RocketMQ's own broker (the migration path, both ways), over
the classic HA byte protocol (docs/wire.md, replication section):

  1. Java master -> KiteMQ slave. The Java name server + broker (scripts/rocketmq-ref.sh) run as
     SYNC_MASTER (inSyncReplicas=2) with small commit-log files; messages sent before any slave
     exists are answered FLUSH_SLAVE_TIMEOUT (control: the Java master waits for a slave), the
     backlog is sent with WAIT=false. A kite-broker SLAVE of the same brokerName registers with the Java name server, learns the HA address from the
     registration answer and follows: its commit-log files must become byte-identical to the
     Java master's, live sends are answered SEND_OK (the Java master counts our acknowledgements),
     PULL_MESSAGE to the KiteMQ slave returns the same bytes as the Java master. With the KiteMQ
     slave stopped, sends are answered FLUSH_SLAVE_TIMEOUT again (control). A fresh slave is
     sent the log from the start of the master's last file on (Java's choice), so the KiteMQ
     slave holds the master's files from that one on, each identical. A second KiteMQ slave
     whose store is seeded with copies of the master's completed files recovers them, resumes
     from their end and holds the whole log (files identical from offset 0; pulls of the early
     history equal the master's).
  2. KiteMQ master -> Java slave (the way back). kite-namesrv + kite-broker SYNC_MASTER, messages
     sent (SLAVE_NOT_AVAILABLE: no slave yet, control), then a Java broker brokerRole=SLAVE
     registering with kite-namesrv, which names our HA address: the Java slave's commit-log
     files must become byte-identical to ours, live sends are answered SEND_OK (our master
     counts the Java slave's acknowledgements), and not SEND_OK once it is stopped (control).

The file comparison checks itself first on a copy with one byte changed (control). Owns its
temporary directory and every daemon it starts (stopped by PID). Missing java or mvn fails.

  KITE_BIN=build/bin tests/reference/ha_interop.py [--keep]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest  # noqa: E402
from difftest import (Conn, encode, free_port, wait_port, send_v2, pull, heartbeat_body,  # noqa: E402
                      KITE_BIN, REF, DEADLINE)

FILE = 256 * 1024  # mappedFileSizeCommitLog on both sides: a few MB make several files
TOPIC = "InteropT"
SEND_OK, SLAVE_NOT_AVAILABLE, FLUSH_SLAVE_TIMEOUT = 0, 11, 12
KEEP = "--keep" in sys.argv
procs = []   # kite daemons started here
refs = []    # rocketmq-ref.sh directories started here


def log(msg):
    print("ha_interop: " + msg, flush=True)


def fail(msg):
    print("ha_interop: FAIL: " + msg, file=sys.stderr, flush=True)
    cleanup()
    sys.exit(1)


def cleanup():
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for d in refs:
        subprocess.run([REF, "down", d], capture_output=True, timeout=180)
    refs.clear()


def ref_up(d, *lines, namesrv=None):
    """Java name server + broker (only a broker registering with `namesrv` when given) on free
    ports: returns (name server port, broker port)."""
    refs.append(d)
    env = dict(os.environ)
    if namesrv:
        env["RMQ_NAMESRV"] = namesrv
    rc, out, ns, bk = difftest.ref_up(d, *lines, env=env)
    if rc != 0:
        fail(f"rocketmq-ref.sh up {d} failed:\n{out}")
    return ns, bk


def kite_start(name, d, conf):
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name + ".conf")
    with open(path, "w") as f:
        f.write("\n".join(conf) + "\n")
    out = open(os.path.join(d, name + ".log"), "w")
    p = subprocess.Popen([os.path.join(KITE_BIN, "kite-" + name), "-c", path], stdout=out,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(p)
    port = next(int(c.split("=", 1)[1]) for c in conf if c.startswith("listenPort="))
    if not wait_port(port, p, DEADLINE):
        fail(f"kite-{name} did not start (log: {out.name})")
    return p


def kite_stop(p, name):
    """SIGTERM; a KiteMQ daemon must stop cleanly (status 0; a sanitizer report would not)."""
    if p.poll() is None:
        p.terminate()
    rc = p.wait(60)
    if rc != 0:
        fail(f"{name} exited with status {rc} (log: {p.args[-1].rsplit('.', 1)[0]}.log)")


# ---------------- sends and pulls ----------------
def body_of(i):
    n = 5000 + i % 700 if i % 9 == 0 else 100 + (i * 37) % 1500  # every 9th > 4 KiB
    return (f"m{i:06d}-" * (n // 8 + 1)).encode()[:n]


def send_batch(port, first, n, wait=True):
    """Sends messages first..first+n-1 to queue i % 4 (property WAIT = wait); returns
    {code: count} and, per queue, the queue offsets the answers gave."""
    c = Conn(port)
    codes, qoffs = {}, {}
    for i in range(first, first + n):
        qid = i % 4
        props = f"UNIQ_KEY\x01{i:032X}\x02WAIT\x01{'true' if wait else 'false'}\x02TAGS\x01T{i % 3}\x02KEYS\x01k{i}\x02"
        ext = send_v2(TOPIC, qid, b"", props)
        ext["a"] = "InteropP"
        r = c.call(encode(310, ext, body_of(i), opaque=i + 1), timeout=30)
        if "code" not in r:
            c.close()
            fail(f"send {i} to port {port}: {r}")
        codes[r["code"]] = codes.get(r["code"], 0) + 1
        if r["code"] in (SEND_OK, SLAVE_NOT_AVAILABLE, FLUSH_SLAVE_TIMEOUT) and "queueOffset" in r["ext"]:
            qoffs.setdefault(qid, []).append(int(r["ext"]["queueOffset"]))
        elif r["code"] not in (SEND_OK, SLAVE_NOT_AVAILABLE, FLUSH_SLAVE_TIMEOUT):
            c.close()
            fail(f"send {i} to port {port}: code {r['code']} remark {r.get('remark')}")
    c.close()
    return codes, qoffs


def pull_raw(port, qid, off, n=32):
    c = Conn(port)
    c.call(encode(34, {}, heartbeat_body("interop@1")))  # HEART_BEAT: registers the group
    r = c.call(encode(11, pull(TOPIC, qid, off, n), opaque=7), timeout=15)
    c.close()
    return r


# ---------------- commit-log files ----------------
def cl_files(d):
    return sorted(f for f in os.listdir(d) if f.isdigit() and len(f) == 20) if os.path.isdir(d) else []


def written_files(d):
    f = cl_files(d)
    while f and not any(open(os.path.join(d, f[-1]), "rb").read()):
        f.pop()
    return f


def compare_logs(master_dir, slave_dir):
    """None when every file of the slave equals the master's file of the same name, the slave
    holds every master file from its own first one on, and the files have the same size; else
    the first difference as text."""
    # Java creates its next file ahead of need, empty: trailing all-zero files are not compared
    m, s = written_files(master_dir), written_files(slave_dir)
    if not s:
        return "the slave has no commit-log file"
    if s[0] not in m:
        return f"slave file {s[0]} not on the master"
    want = m[m.index(s[0]):]
    if s != want:
        return f"files differ: master {want} slave {s}"
    for name in s:
        a = open(os.path.join(master_dir, name), "rb").read()
        b = open(os.path.join(slave_dir, name), "rb").read()
        if len(a) != len(b):
            return f"{name}: size master {len(a)} slave {len(b)}"
        if a != b:
            k = next(i for i in range(len(a)) if a[i] != b[i])
            return f"{name}: first differing byte at {k} (offset {int(name) + k})"
    return None


def wait_identical(master_dir, slave_dir, what):
    end = time.time() + max(DEADLINE, 120)
    why = None
    while time.time() < end:
        why = compare_logs(master_dir, slave_dir)
        if why is None:
            return
        time.sleep(0.2)
    fail(f"{what}: commit logs not identical after the deadline: {why}")


def comparator_control(work, master_dir):
    """The comparison must see one changed byte."""
    a, b = os.path.join(work, "ctl-a"), os.path.join(work, "ctl-b")
    shutil.copytree(master_dir, a)
    shutil.copytree(master_dir, b)
    name = cl_files(b)[-1]
    with open(os.path.join(b, name), "r+b") as f:
        f.seek(100)
        x = f.read(1)
        f.seek(100)
        f.write(bytes([x[0] ^ 0x5A]))
    if compare_logs(a, a) is not None or compare_logs(a, b) is None:
        fail("control: the commit-log comparison does not see a changed byte")
    shutil.rmtree(a)
    shutil.rmtree(b)
    log("control: the comparison reports a changed byte")


def kite_conf(d, ns_port, bk_port, role, broker_id, *extra):
    return ["brokerClusterName=RefCluster", "brokerName=ref-broker", f"brokerId={broker_id}",
            f"brokerRole={role}", "brokerIP1=127.0.0.1", "bindAddress=127.0.0.1", f"listenPort={bk_port}",
            f"namesrvAddr=127.0.0.1:{ns_port}", f"storePathRootDir={d}/store",
            f"mappedFileSizeCommitLog={FILE}", "flushDiskType=ASYNC_FLUSH", "maxHashSlotNum=10000",
            "maxIndexNum=40000", "registerNameServerPeriod=10000"] + list(extra)


def compare_pulls(master_port, slave_port, qoffs, what):
    # the slave learns the topic when it copies the master's metadata (GET_ALL_TOPIC_CONFIG, a
    # few seconds after its start): until then it answers TOPIC_NOT_EXIST (17)
    qid, offs = min(qoffs.items())
    end = time.time() + max(DEADLINE, 60)
    while pull_raw(slave_port, qid, offs[0]).get("code") == 17:
        if time.time() > end:
            fail(f"{what}: the slave never learned topic {TOPIC} from the master's metadata")
        time.sleep(0.5)
    n = 0
    for qid, offs in sorted(qoffs.items()):
        for off in offs[:: max(1, len(offs) // 4)]:
            rm, rs = pull_raw(master_port, qid, off), pull_raw(slave_port, qid, off)
            if rm.get("code") != 0 or rs.get("code") != 0:
                fail(f"{what}: pull q{qid}@{off}: master {rm.get('code')} {rm.get('remark')} "
                     f"slave {rs.get('code')} {rs.get('remark')}")
            if not rm["body"] or rm["body"] != rs["body"]:
                fail(f"{what}: pull q{qid}@{off}: bodies differ ({len(rm['body'])} / {len(rs['body'])} bytes)")
            n += 1
    log(f"{what}: {n} pulls from the slave returned the master's bytes")


# ---------------- scenarios ----------------
def java_master_kite_slave(work):
    rd = os.path.join(work, "java-master")
    # Java 5.x counts the master itself in inSyncReplicas (default 1): a SYNC_MASTER waits for
    # one slave's acknowledgement only with inSyncReplicas=2, and then, without a slave, answers
    # FLUSH_SLAVE_TIMEOUT after slaveTimeout (never SLAVE_NOT_AVAILABLE).
    ns, bk = ref_up(rd, "brokerRole=SYNC_MASTER", "brokerIP2=127.0.0.1", "inSyncReplicas=2", "slaveTimeout=3000",
           f"mappedFileSizeCommitLog={FILE}")
    mdir = os.path.join(rd, "store", "commitlog")
    codes, _ = send_batch(bk, 0, 3, wait=True)
    log(f"java master, no slave: 3 sends (WAIT=true) answered {codes}")
    if codes.get(FLUSH_SLAVE_TIMEOUT, 0) != 3:
        fail(f"control: a Java SYNC_MASTER without slave must answer FLUSH_SLAVE_TIMEOUT, got {codes}")
    codes, _ = send_batch(bk, 3, 1997, wait=False)  # the backlog: WAIT=false does not wait for a slave
    log(f"java master, no slave: 1997 sends (WAIT=false) answered {codes}")
    if codes.get(SEND_OK, 0) != 1997:
        fail(f"java master: WAIT=false sends: {codes}")
    comparator_control(work, mdir)
    m_at_connect = written_files(mdir)
    sd = os.path.join(work, "kite-slave")
    sport = free_port()
    slave = kite_start("broker", sd, kite_conf(sd, ns, sport, "SLAVE", 1, "haSendHeartbeatInterval=1000"))
    sdir = os.path.join(sd, "store", "commitlog")
    t0 = time.time()
    wait_identical(mdir, sdir, "java master -> kite slave (catch-up)")
    got = cl_files(sdir)
    log(f"kite slave caught up in {time.time() - t0:.1f} s: files {got[0]}..{got[-1]} "
        f"({len(got)} of the master's {len(m_at_connect)} at connect time)")
    codes, qoffs = send_batch(bk, 2000, 1500)
    log(f"java master with kite slave: 1500 sends answered {codes}")
    if codes.get(SEND_OK, 0) != 1500:
        fail(f"java SYNC_MASTER with a kite slave: expected 1500 SEND_OK, got {codes}")
    wait_identical(mdir, sdir, "java master -> kite slave (live)")
    log(f"kite slave identical after live sends: {len(cl_files(sdir))} files")
    compare_pulls(bk, sport, qoffs, "java master -> kite slave")
    kite_stop(slave, "kite slave")
    codes, _ = send_batch(bk, 3500, 3)
    log(f"java master, kite slave stopped: 3 sends answered {codes}")
    if codes.get(FLUSH_SLAVE_TIMEOUT, 0) != 3:
        fail(f"control: a Java SYNC_MASTER whose slave is stopped must answer FLUSH_SLAVE_TIMEOUT: {codes}")
    # the whole history: a second KiteMQ slave whose store starts with copies of the master's
    # completed files (all but the last written one) resumes from their end
    s2 = os.path.join(work, "kite-slave2")
    os.makedirs(os.path.join(s2, "store", "commitlog"))
    done = written_files(mdir)[:-1]
    for name in done:
        shutil.copyfile(os.path.join(mdir, name), os.path.join(s2, "store", "commitlog", name))
    port2 = free_port()
    slave2 = kite_start("broker", s2, kite_conf(s2, ns, port2, "SLAVE", 2, "haSendHeartbeatInterval=1000"))
    wait_identical(mdir, os.path.join(s2, "store", "commitlog"), "java master -> seeded kite slave")
    got = cl_files(os.path.join(s2, "store", "commitlog"))
    if got[0] != "0" * 20:
        fail(f"seeded kite slave starts at {got[0]}")
    codes, _ = send_batch(bk, 3503, 200)
    if codes.get(SEND_OK, 0) != 200:
        fail(f"java SYNC_MASTER with the seeded kite slave: expected 200 SEND_OK, got {codes}")
    wait_identical(mdir, os.path.join(s2, "store", "commitlog"), "java master -> seeded kite slave (live)")
    log(f"seeded kite slave ({len(done)} files copied before its start): all {len(got)} files identical "
        f"from offset 0, 200 live sends SEND_OK")
    compare_pulls(bk, port2, {q: [0, 100, 400] for q in range(4)}, "java master -> seeded kite slave (history)")
    kite_stop(slave2, "seeded kite slave")
    subprocess.run([REF, "down", rd], capture_output=True, timeout=180)
    refs.remove(rd)


def kite_master_java_slave(work):
    kd = os.path.join(work, "kite-master")
    kns, kbk, kha = free_port(), free_port(), free_port()
    kns_p = kite_start("namesrv", kd, [f"listenPort={kns}", "bindAddress=127.0.0.1", f"kvConfigPath={kd}/kv.json"])
    kbk_p = kite_start("broker", kd, kite_conf(kd, kns, kbk, "SYNC_MASTER", 0, f"haListenPort={kha}",
                                       "autoCreateTopicEnable=true"))
    mdir = os.path.join(kd, "store", "commitlog")
    codes, _ = send_batch(kbk, 0, 2000)
    log(f"kite master, no slave: 2000 sends answered {codes}")
    if codes.get(SLAVE_NOT_AVAILABLE, 0) != 2000:
        fail(f"control: a kite SYNC_MASTER without slave must answer SLAVE_NOT_AVAILABLE, got {codes}")
    jd = os.path.join(work, "java-slave")
    t0 = time.time()
    # Java 5.5 ignores haMasterAddress here (its HA client stays at "master null"): the Java
    # slave registers with kite-namesrv and learns our HA address from the answer
    ref_up(jd, "brokerRole=SLAVE", "brokerIP2=127.0.0.1", "brokerId=1", f"mappedFileSizeCommitLog={FILE}",
           namesrv=f"127.0.0.1:{kns}")
    sdir = os.path.join(jd, "store", "commitlog")
    wait_identical(mdir, sdir, "kite master -> java slave (catch-up)")
    got = cl_files(sdir)
    log(f"java slave identical {time.time() - t0:.1f} s after its start: files {got[0]}..{got[-1]}")
    codes, _ = send_batch(kbk, 2000, 1500)
    log(f"kite master with java slave: 1500 sends answered {codes}")
    if codes.get(SEND_OK, 0) != 1500:
        fail(f"kite SYNC_MASTER with a java slave: expected 1500 SEND_OK, got {codes}")
    wait_identical(mdir, sdir, "kite master -> java slave (live)")
    log(f"java slave identical after live sends: {len(cl_files(sdir))} files")
    subprocess.run([REF, "down", jd], capture_output=True, timeout=180)
    refs.remove(jd)
    codes, _ = send_batch(kbk, 3500, 3)
    log(f"kite master, java slave stopped: 3 sends answered {codes}")
    if codes.get(SEND_OK, 0) != 0:
        fail(f"control: SEND_OK from a kite SYNC_MASTER whose Java slave is stopped: {codes}")
    kite_stop(kbk_p, "kite master")
    kite_stop(kns_p, "kite-namesrv")


def main():
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            fail(f"{tool} not found (scripts/install-deps.sh installs it)")
    work = tempfile.mkdtemp(prefix="kite-ha-interop-")
    only = os.environ.get("HA_INTEROP_ONLY", "")
    try:
        if only in ("", "1"):
            java_master_kite_slave(work)
        if only in ("", "2"):
            kite_master_java_slave(work)
    except SystemExit:
        raise
    except BaseException as e:
        fail(f"{type(e).__name__}: {e}")
    finally:
        cleanup()
        if not KEEP:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    log("PASS")
    sys.exit(0)


if __name__ == "__main__":
    main()
