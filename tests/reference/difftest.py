#!/usr/bin/env python3
"""Differential test: the same request frames to Apache RocketMQ's Java name server + broker
(started by scripts/rocketmq-ref.sh) and to kite-namesrv + kite-broker, the answers compared
field by field (code, remark present or not, extFields keys and values, body structure and
values) after normalising ids, times, addresses and ports. Owns its temporary directory and
the four daemons it starts (stopped by PID).

Every difference found is printed as one line "step [encoding] what: ref=... kite=...". The
lines documented in tests/reference/known-differences.txt (each also explained in
docs/COMPATIBILITY.md, "Differences from the Java broker") are expected; the test fails on a
difference not in that file, and on a listed one that no longer occurs (the list must stay
true). Before the comparison it checks itself: the comparator must report a difference in an
answer that was altered on purpose (the control).

  KITE_BIN=build/bin tests/reference/difftest.py [--keep] [--report FILE]
"""
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KITE_BIN = os.path.abspath(os.environ.get("KITE_BIN", os.path.join(ROOT, "build", "bin")))
REF = os.path.join(ROOT, "scripts", "rocketmq-ref.sh")
KNOWN = os.path.join(HERE, "known-differences.txt")
DEADLINE = float(os.environ.get("KT_DEADLINE_S", "60"))
TOPIC = "DiffT"
GROUP = "DiffG"
PGROUP = "DiffP"
JSON_T, BIN_T = 0, 1
ENC_NAMES = {0: "JSON", 1: "ROCKETMQ"}
LANGS = ["JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS",
         "RUST", "NODE_JS"]


def fail(msg):
    print("difftest: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# ---------------- frames (docs/wire.md §1.2, §1.4, §1.5) ----------------
def encode(code, ext, body=b"", enc=JSON_T, opaque=1, flag=0, remark=None, version=409):
    if enc == JSON_T:
        h = {"code": code, "extFields": ext, "flag": flag, "language": "JAVA", "opaque": opaque,
             "serializeTypeCurrentRPC": "JSON", "version": version}
        if remark is not None:
            h["remark"] = remark
        hb = json.dumps(h, separators=(",", ":")).encode()
    else:
        r = (remark or "").encode()
        e = b""
        for k, v in ext.items():
            kb, vb = k.encode(), str(v).encode()
            e += struct.pack(">H", len(kb)) + kb + struct.pack(">I", len(vb)) + vb
        hb = struct.pack(">HBHii", code, 0, version, opaque, flag) + struct.pack(">I", len(r)) + r + \
            struct.pack(">I", len(e)) + e
    return struct.pack(">II", 4 + len(hb) + len(body), (enc << 24) | len(hb)) + hb + body


def decode_header(enc, hb):
    if enc == JSON_T:
        h = json.loads(hb.decode("utf-8"))
        lang = h.get("language")
        return {"code": h.get("code"), "language": lang if isinstance(lang, str) else LANGS[lang],
                "version": h.get("version"), "opaque": h.get("opaque"), "flag": h.get("flag"),
                "remark": h.get("remark"), "ext": {k: str(v) for k, v in (h.get("extFields") or {}).items()}}
    code, lang, version, opaque, flag = struct.unpack(">HBHii", hb[:13])
    rl = struct.unpack(">I", hb[13:17])[0]
    remark = hb[17:17 + rl].decode() if rl else None
    p = 17 + rl
    el = struct.unpack(">I", hb[p:p + 4])[0]
    p += 4
    end = p + el
    ext = {}
    while p < end:
        kl = struct.unpack(">H", hb[p:p + 2])[0]
        k = hb[p + 2:p + 2 + kl].decode()
        p += 2 + kl
        vl = struct.unpack(">I", hb[p:p + 4])[0]
        ext[k] = hb[p + 4:p + 4 + vl].decode()
        p += 4 + vl
    return {"code": code, "language": LANGS[lang] if lang < len(LANGS) else lang, "version": version,
            "opaque": opaque, "flag": flag, "remark": remark, "ext": ext}


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)

    def close(self):
        self.s.close()

    def _read(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def call(self, frame, timeout=8.0):
        """Sends one frame; returns the answer as a dict, or {"closed": True} / {"timeout": True}."""
        self.s.settimeout(timeout)
        try:
            self.s.sendall(frame)
            while True:
                total = struct.unpack(">I", self._read(4))[0]
                f = self._read(total)
                word = struct.unpack(">I", f[:4])[0]
                enc, hl = word >> 24, word & 0xFFFFFF
                h = decode_header(enc, f[4:4 + hl])
                if not h["flag"] & 1:
                    continue  # a request from the broker (not expected here)
                h["enc"] = enc
                h["body"] = f[4 + hl:]
                return h
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return {"closed": True}
        except socket.timeout:
            return {"timeout": True}


# ---------------- daemons ----------------
_handed_out = set()  # ports free_port gave this process (P-2..P+1 each): never given twice


def free_port():
    """A free port P with P-2, P-1 (a broker's VIP port) and P+1 (its HA port) free too, below
    the ephemeral range so that no outgoing connection takes one of them meanwhile, and none
    of the four handed out before by this process (daemons bind theirs only seconds later)."""
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for _ in range(500):
        p = random.randrange(max(1100, lo - 12000), lo - 2)
        ok = not _handed_out.intersection(range(p - 2, p + 2))
        for q in (p - 2, p - 1, p, p + 1):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok and p > 1100:
            _handed_out.update(range(p - 2, p + 2))
            return p
    fail("no free port")


def ref_up(d, *lines, env=None):
    """rocketmq-ref.sh up on new free ports: (returncode, output, ns_port, bk_port). A JVM binds
    its ports seconds after they were found free; when another process took one meanwhile
    ("Address already in use"), the attempt is stopped and made again on other ports (3 at
    most)."""
    for attempt in range(3):
        ns, bk = free_port(), free_port()
        r = subprocess.run([REF, "up", d, str(ns), str(bk)] + list(lines), capture_output=True, text=True,
                           timeout=600, env=env)
        out = r.stdout + r.stderr
        if r.returncode == 0 or "Address already in use" not in out or attempt == 2:
            return r.returncode, out, ns, bk
        print(f"difftest: a port of the Java daemons was taken meanwhile (ports {ns}, {bk}); again on others")
        subprocess.run([REF, "down", d], capture_output=True, timeout=180)
        shutil.rmtree(d, ignore_errors=True)


def wait_port(port, proc, secs):
    end = time.time() + secs
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Kite:
    def __init__(self, work):
        self.dir = os.path.join(work, "kite")
        os.makedirs(self.dir)
        self.ns_port, self.bk_port = free_port(), free_port()
        with open(os.path.join(self.dir, "namesrv.conf"), "w") as f:
            f.write(f"listenPort={self.ns_port}\nbindAddress=127.0.0.1\nkvConfigPath={self.dir}/kv.json\n")
        with open(os.path.join(self.dir, "broker.conf"), "w") as f:
            f.write("\n".join([
                "brokerClusterName=RefCluster", "brokerName=ref-broker", "brokerId=0", "brokerIP1=127.0.0.1",
                "bindAddress=127.0.0.1", f"listenPort={self.bk_port}", f"namesrvAddr=127.0.0.1:{self.ns_port}",
                f"storePathRootDir={self.dir}/store", "flushDiskType=ASYNC_FLUSH", "maxHashSlotNum=10000",
                "maxIndexNum=40000", ""]))
        self.procs = []
        for name in ("namesrv", "broker"):
            log = open(os.path.join(self.dir, name + ".log"), "w")
            p = subprocess.Popen([os.path.join(KITE_BIN, "kite-" + name), "-c", os.path.join(self.dir, name + ".conf")],
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.procs.append(p)
            port = self.ns_port if name == "namesrv" else self.bk_port
            if not wait_port(port, p, DEADLINE):
                self.stop()
                fail(f"kite-{name} did not start (log: {log.name})")

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Ref:
    def __init__(self, work):
        self.dir = os.path.join(work, "ref")
        self.ns_port = self.bk_port = None
        self.rc = None
        self.out = ""

    def start(self):
        self.rc, self.out, self.ns_port, self.bk_port = ref_up(self.dir)

    def stop(self):
        subprocess.run([REF, "down", self.dir], capture_output=True, timeout=120)


# ---------------- normalisation and comparison ----------------
ADDR = re.compile(r"\b127\.0\.0\.1:\d+\b|\b\d+\.\d+\.\d+\.\d+:\d+\b")
HEX_ID = re.compile(r"\b[0-9A-F]{32}\b")
IP = re.compile(r"\b\d+\.\d+\.\d+\.\d+\b")


def norm_scalar(v, key=""):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        if v > 10 ** 12:
            return "<time>"
        if key in ("brokerVersion",):
            return "<version>"
        return v
    s = str(v)
    if re.fullmatch(r"-?\d+", s):
        return "<time>" if int(s) > 10 ** 12 else s
    s = ADDR.sub("<addr>", s)
    s = HEX_ID.sub("<id>", s)
    s = IP.sub("<ip>", s)
    return s


class Loose:
    """A JSON reader that also takes what fastjson writes (docs/wire.md §2.1): bare keys, and
    objects as map keys (rewritten as their compact JSON text, keys sorted)."""

    def __init__(self, t):
        self.t, self.p = t, 0

    def ws(self):
        while self.p < len(self.t) and self.t[self.p] in " \t\r\n":
            self.p += 1

    def value(self):
        self.ws()
        c = self.t[self.p]
        if c == "{":
            self.p += 1
            d = {}
            self.ws()
            if self.t[self.p] == "}":
                self.p += 1
                return d
            while True:
                self.ws()
                c = self.t[self.p]
                if c in "{[\"":
                    k = self.value()
                    if not isinstance(k, str):
                        k = json.dumps(k, sort_keys=True, separators=(",", ":"))
                else:
                    m = re.compile(r"[A-Za-z0-9_%\-.]+").match(self.t, self.p)
                    k = m.group(0)
                    self.p = m.end()
                self.ws()
                if self.t[self.p] != ":":
                    raise ValueError("':' expected at %d" % self.p)
                self.p += 1
                d[k] = self.value()
                self.ws()
                c = self.t[self.p]
                self.p += 1
                if c == "}":
                    return d
                if c != ",":
                    raise ValueError("',' expected at %d" % self.p)
        if c == "[":
            self.p += 1
            a = []
            self.ws()
            if self.t[self.p] == "]":
                self.p += 1
                return a
            while True:
                a.append(self.value())
                self.ws()
                c = self.t[self.p]
                self.p += 1
                if c == "]":
                    return a
                if c != ",":
                    raise ValueError("',' expected at %d" % self.p)
        v, end = json.JSONDecoder().raw_decode(self.t, self.p)
        self.p = end
        return v

    def parse(self):
        v = self.value()
        self.ws()
        if self.p != len(self.t):
            raise ValueError("trailing text")
        return v


def parse_body(body):
    """('json', value) / ('text', str) / ('bin', bytes) / ('empty', None)."""
    if not body:
        return "empty", None
    try:
        t = body.decode("utf-8")
    except UnicodeDecodeError:
        return "bin", body
    try:
        return "json", Loose(t).parse()
    except (ValueError, IndexError, AttributeError):
        return "text", t


def decode_messages(b):
    """Stored records of a pull answer (docs/wire.md §9.1) -> list of dicts of comparable fields."""
    out, p = [], 0
    try:
        while p + 4 <= len(b):
            size = struct.unpack(">i", b[p:p + 4])[0]
            r = b[p:p + size]
            q = 8
            crc, qid, flag, qoff, phys, sysflag, born_ts = struct.unpack(">iiiqqiq", r[q:q + 44])
            q += 44
            bh_len = 16 if sysflag & 0x10 else 4
            q += bh_len + 4
            q += 8  # store timestamp
            sh_len = 16 if sysflag & 0x20 else 4
            q += sh_len + 4
            recon, prep = struct.unpack(">iq", r[q:q + 12])
            q += 12
            bl = struct.unpack(">i", r[q:q + 4])[0]
            body = r[q + 4:q + 4 + bl]
            q += 4 + bl
            tl = r[q]
            topic = r[q + 1:q + 1 + tl].decode()
            q += 1 + tl
            pl = struct.unpack(">h", r[q:q + 2])[0]
            props = r[q + 2:q + 2 + pl].decode()
            pairs = {}
            for kv in props.split("\x02"):
                if "\x01" in kv:
                    k, v = kv.split("\x01", 1)
                    pairs[k] = norm_scalar(v, k)
            out.append({"storeSize": size, "queueId": qid, "flag": flag, "queueOffset": qoff,
                        "physicalOffset": phys, "sysFlag": sysflag, "reconsumeTimes": recon,
                        "preparedTransactionOffset": prep, "body": body.decode(errors="replace"), "topic": topic,
                        "properties": pairs})
            p += size
    except (struct.error, IndexError):
        out.append({"undecodable": True})
    return out


def compare_values(path, a, b, diffs):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in b:
                diffs.append(f"{path}.{k}: only in ref")
            elif k not in a:
                diffs.append(f"{path}.{k}: only in kite")
            else:
                compare_values(f"{path}.{k}", a[k], b[k], diffs)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{path}: list length ref={len(a)} kite={len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            compare_values(f"{path}[{i}]", x, y, diffs)
        return
    key = path.rsplit(".", 1)[-1]
    na, nb = norm_scalar(a, key), norm_scalar(b, key)
    if type(a) != type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        diffs.append(f"{path}: type ref={type(a).__name__} kite={type(b).__name__}")
    elif na != nb:
        diffs.append(f"{path}: ref={na!r} kite={nb!r}")


IGNORED_BODY_KEYS = set()


def compare(step, r, k):
    """Differences between the reference's answer r and KiteMQ's k, as strings."""
    d = []
    for what in ("closed", "timeout"):
        if r.get(what) or k.get(what):
            if bool(r.get(what)) != bool(k.get(what)):
                d.append(f"{what}: ref={bool(r.get(what))} kite={bool(k.get(what))}")
            return d
    if r["code"] != k["code"]:
        d.append(f"code: ref={r['code']} kite={k['code']}")
    if (r["remark"] is None) != (k["remark"] is None):
        d.append(f"remark present: ref={r['remark'] is not None} kite={k['remark'] is not None}")
    if step.get("pull") and r["code"] in (0, 19, 20, 21) and r["remark"] != k["remark"]:
        d.append(f"remark: ref={r['remark']!r} kite={k['remark']!r}")  # the store's status name
    if r["enc"] != k["enc"]:
        d.append(f"answer encoding: ref={ENC_NAMES[r['enc']]} kite={ENC_NAMES[k['enc']]}")
    compare_values("ext", r["ext"], k["ext"], d)
    br, bk = parse_body(r["body"]), parse_body(k["body"])
    if step.get("pull") and r["body"] and k["body"]:
        compare_values("body", decode_messages(r["body"]), decode_messages(k["body"]), d)
    elif br[0] != bk[0]:
        d.append(f"body kind: ref={br[0]} kite={bk[0]}")
    elif br[0] == "json":
        sub = []
        if step.get("topics") and isinstance(br[1], dict) and isinstance(bk[1], dict):
            tr, tk = br[1].get("topicConfigTable", {}), bk[1].get("topicConfigTable", {})
            for who, names in (("ref", sorted(set(tr) - set(tk))), ("kite", sorted(set(tk) - set(tr)))):
                if names:
                    d.append(f"body.topicConfigTable: topics only in {who}: " + ",".join(names))
            common = set(tr) & set(tk)
            br = (br[0], dict(br[1], topicConfigTable={n: tr[n] for n in common}))
            bk = (bk[0], dict(bk[1], topicConfigTable={n: tk[n] for n in common}))
        compare_values("body", br[1], bk[1], sub)
        d += [x for x in sub if not any(x.startswith(p) for p in step.get("ignore", ()))]
    elif br[0] in ("text", "bin") and br[1] != bk[1] and not step.get("ignore_body"):
        d.append(f"body: ref={br[1][:60]!r} kite={bk[1][:60]!r}")
    return d


# ---------------- the requests ----------------
def now_ms():
    return int(time.time() * 1000)


def send_v1(topic, qid, body, props="UNIQ_KEY\x01AC110001000018B4AAC2000000000001\x02WAIT\x01true\x02TAGS\x01TagA\x02KEYS\x01k1\x02"):
    return {"producerGroup": PGROUP, "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
            "queueId": str(qid), "sysFlag": "0", "bornTimestamp": str(now_ms()), "flag": "0",
            "properties": props, "reconsumeTimes": "0", "unitMode": "false", "batch": "false"}


def send_v2(topic, qid, body, props="UNIQ_KEY\x01AC110001000018B4AAC2000000000002\x02WAIT\x01true\x02TAGS\x01TagB\x02"):
    v1 = send_v1(topic, qid, body, props)
    names = ["producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag",
             "bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode", None, "batch"]
    return {chr(ord("a") + i): v1[n] for i, n in enumerate(names) if n}


def pull(topic, qid, off, n=32, sub="*", sysflag=4):
    return {"consumerGroup": GROUP, "topic": topic, "queueId": str(qid), "queueOffset": str(off),
            "maxMsgNums": str(n), "sysFlag": str(sysflag), "commitOffset": "0", "suspendTimeoutMillis": "0",
            "subscription": sub, "subVersion": "0", "expressionType": "TAG"}


def heartbeat_body(cid):
    return json.dumps({"clientID": cid, "producerDataSet": [{"groupName": PGROUP}],
                       "consumerDataSet": [{"groupName": GROUP, "consumeType": "CONSUME_PASSIVELY",
                                            "messageModel": "CLUSTERING",
                                            "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                                            "subscriptionDataSet": [{"topic": TOPIC, "subString": "*",
                                                                     "tagsSet": [], "codeSet": [],
                                                                     "subVersion": 1, "classFilterMode": False,
                                                                     "expressionType": "TAG"}],
                                            "unitMode": False}]}).encode()


def steps():
    """(name, target 'ns'|'bk', code, extFields, body, options) in order; both encodings each."""
    S = []

    def add(name, target, code, ext, body=b"", **opt):
        S.append(dict(name=name, target=target, code=code, ext=ext, body=body, **opt))
    create = {"topic": TOPIC, "defaultTopic": "TBW102", "readQueueNums": "4", "writeQueueNums": "4", "perm": "6",
              "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}
    add("UPDATE_AND_CREATE_TOPIC", "bk", 17, create)
    add("UPDATE_AND_CREATE_TOPIC bad name", "bk", 17, dict(create, topic="bad topic!"))
    add("UPDATE_AND_CREATE_TOPIC no readQueueNums", "bk", 17, {k: v for k, v in create.items() if k != "readQueueNums"})
    add("wait for route", "ns", 105, {"topic": TOPIC}, wait_route=True, ignore=("body.brokerDatas", "body.queueDatas"))
    add("GET_ROUTEINFO_BY_TOPIC", "ns", 105, {"topic": TOPIC})
    add("GET_ROUTEINFO_BY_TOPIC unknown topic", "ns", 105, {"topic": "NoSuchTopic"})
    add("GET_ROUTEINFO_BY_TOPIC no topic field", "ns", 105, {})
    add("GET_BROKER_CLUSTER_INFO", "ns", 106, {})
    add("GET_ALL_TOPIC_LIST_FROM_NAMESERVER", "ns", 206, {}, ignore=("body.topicList",))
    add("namesrv unknown code 9999", "ns", 9999, {})
    add("SEND_MESSAGE v1 queue 0", "bk", 10, send_v1(TOPIC, 0, b"hello-1"), b"hello-1")
    add("SEND_MESSAGE_V2 queue 0", "bk", 310, send_v2(TOPIC, 0, b"hello-2"), b"hello-2")
    add("SEND_MESSAGE_V2 queue 9 (out of range)", "bk", 310, send_v2(TOPIC, 9, b"x"), b"x")
    add("SEND_MESSAGE_V2 no topic field", "bk", 310, {k: v for k, v in send_v2(TOPIC, 0, b"x").items() if k != "b"}, b"x")
    add("SEND_MESSAGE_V2 bad queueId", "bk", 310, dict(send_v2(TOPIC, 0, b"x"), e="zero"), b"x")
    add("SEND_MESSAGE_V2 to system topic TBW102", "bk", 310, send_v2("TBW102", 0, b"x"), b"x")
    add("PULL_MESSAGE found", "bk", 11, pull(TOPIC, 0, 0), pull=True)
    add("PULL_MESSAGE tag filter miss", "bk", 11, pull(TOPIC, 0, 0, sub="TagZ"), pull=True)
    add("PULL_MESSAGE offset overflow", "bk", 11, pull(TOPIC, 0, 100), pull=True)
    add("PULL_MESSAGE empty queue", "bk", 11, pull(TOPIC, 2, 0), pull=True)
    add("PULL_MESSAGE no subscription (no heartbeat)", "bk", 11, pull(TOPIC, 0, 0, sysflag=0), pull=True)
    add("PULL_MESSAGE unknown topic", "bk", 11, pull("NoSuchTopic", 0, 0), pull=True)
    add("QUERY_CONSUMER_OFFSET new group", "bk", 14, {"consumerGroup": GROUP, "topic": TOPIC, "queueId": "0"})
    add("UPDATE_CONSUMER_OFFSET", "bk", 15, {"consumerGroup": GROUP, "topic": TOPIC, "queueId": "0", "commitOffset": "1"})
    add("QUERY_CONSUMER_OFFSET after update", "bk", 14, {"consumerGroup": GROUP, "topic": TOPIC, "queueId": "0"})
    add("GET_MAX_OFFSET", "bk", 30, {"topic": TOPIC, "queueId": "0"})
    add("GET_MAX_OFFSET unknown topic", "bk", 30, {"topic": "NoSuchTopic", "queueId": "0"})
    add("GET_MIN_OFFSET", "bk", 31, {"topic": TOPIC, "queueId": "0"})
    add("SEARCH_OFFSET_BY_TIMESTAMP 0", "bk", 29, {"topic": TOPIC, "queueId": "0", "timestamp": "0"})
    add("SEARCH_OFFSET_BY_TIMESTAMP future", "bk", 29, {"topic": TOPIC, "queueId": "0", "timestamp": str(2 ** 62)})
    add("GET_EARLIEST_MSG_STORETIME", "bk", 32, {"topic": TOPIC, "queueId": "0"})
    add("HEART_BEAT", "bk", 34, {}, heartbeat_body("127.0.0.1@difftest"))
    add("GET_CONSUMER_LIST_BY_GROUP", "bk", 38, {"consumerGroup": GROUP})
    add("GET_CONSUMER_LIST_BY_GROUP unknown group", "bk", 38, {"consumerGroup": "NoSuchGroup"})
    add("PULL_MESSAGE with heartbeat subscription", "bk", 11, pull(TOPIC, 0, 0, sysflag=0), pull=True)
    add("VIEW_MESSAGE_BY_ID offset 0", "bk", 33, {"offset": "0"}, ignore_body=True, pull=True)
    add("VIEW_MESSAGE_BY_ID bad offset", "bk", 33, {"offset": "99999999"})
    add("GET_ALL_TOPIC_CONFIG", "bk", 21, {}, topics=True, ignore=("body.dataVersion",))
    add("GET_BROKER_RUNTIME_INFO", "bk", 28, {}, runtime=True)
    # rates (msgs/s over the last minute) depend on timing: not compared
    add("GET_TOPIC_STATS_INFO", "bk", 202, {"topic": TOPIC}, ignore=("body.topicPutTps",))
    add("GET_CONSUME_STATS", "bk", 208, {"consumerGroup": GROUP, "topic": TOPIC}, ignore=("body.consumeTps",))
    add("broker unknown code 9999", "bk", 9999, {})
    add("SEND_MESSAGE_V2 empty body", "bk", 310, send_v2(TOPIC, 1, b""), b"")  # last: Java refuses it
    add("broker oneway unknown code", "bk", 9999, {}, flag=2, timeout=2.0)
    return S


def run_step(conn, step, enc, opaque):
    f = encode(step["code"], step["ext"], step["body"], enc, opaque=opaque, flag=step.get("flag", 0))
    return conn.call(f, timeout=step.get("timeout", 8.0))


def runtime_keys(a):
    """GET_BROKER_RUNTIME_INFO: compare the key sets only (values are live statistics); a
    store path in a key name becomes <path>."""
    k = parse_body(a.get("body", b""))
    keys = (k[1] or {}).get("table", {}) if k[0] == "json" else {}
    return {re.sub(r"_/.*$", "_<path>", x) for x in keys}


def malformed():
    """Frames that do not decode, or headers with fields of the wrong type: (name, frame)."""
    def jh(obj):
        hb = json.dumps(obj).encode()
        return struct.pack(">II", 4 + len(hb), len(hb)) + hb
    return [
        ("JSON header that is not JSON", struct.pack(">II", 4 + 5, 5) + b"{nope"),
        ("header length past the frame", struct.pack(">II", 4 + 2, 100) + b"{}"),
        ("unknown serialize type 7", struct.pack(">II", 4 + 2, (7 << 24) | 2) + b"{}"),
        ("binary header cut short", struct.pack(">II", 4 + 5, (1 << 24) | 5) + b"\x00\x69\x00\x01\xdf"),
        ("binary extFields length past the header",
         struct.pack(">II", 4 + 21, (1 << 24) | 21) + struct.pack(">HBHiiII", 30, 0, 409, 5, 0, 0, 1000)),
        ("JSON code as text", jh({"code": "abc", "flag": 0, "language": "JAVA", "opaque": 5, "version": 409})),
        ("JSON extFields as a string", jh({"code": 30, "extFields": "x", "flag": 0, "language": "JAVA", "opaque": 5,
                                           "version": 409})),
        ("JSON header without code", jh({"flag": 0, "language": "JAVA", "opaque": 5, "version": 409})),
        ("JSON unknown language name", jh({"code": 30, "extFields": {"topic": TOPIC, "queueId": "0"}, "flag": 0,
                                           "language": "COBOL", "opaque": 5, "version": 409})),
    ]


def outcome(a):
    if a.get("closed"):
        return "connection closed"
    if a.get("timeout"):
        return "no answer, connection open"
    return f"code {a['code']}"


def main():
    keep = "--keep" in sys.argv
    report = None
    if "--report" in sys.argv:
        report = sys.argv[sys.argv.index("--report") + 1]
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            fail(f"{tool} not found (scripts/install-deps.sh installs it)")
    for b in ("kite-namesrv", "kite-broker"):
        if not os.access(os.path.join(KITE_BIN, b), os.X_OK):
            fail(f"{b} not in KITE_BIN={KITE_BIN}")

    # the control: the comparator must see an altered answer
    base = {"code": 0, "remark": None, "enc": 0, "ext": {"queueOffset": "3", "msgId": "7F00000100002A9F0000000000000000"},
            "body": b'{"a":1,"b":[1,2]}'}
    alt = dict(base, ext={"queueOffset": "4", "msgId": "7F00000100002A9F0000000000000000"})
    alt2 = dict(base, body=b'{"a":1,"b":[1]}')
    if compare({}, base, dict(base)) or not compare({}, base, alt) or not compare({}, base, alt2):
        fail("control: the comparator does not tell an altered answer from the original")
    print("difftest: control: an altered queueOffset and an altered body list are reported, an equal answer is not")

    work = tempfile.mkdtemp(prefix="kite-difftest.")
    ref = Ref(work)
    t = threading.Thread(target=ref.start)
    t.start()
    kite = None
    try:
        kite = Kite(work)
        t.join()
        if ref.rc != 0:
            fail("the Java name server + broker did not start:\n" + ref.out[-3000:])
        print("difftest: " + ref.out.strip().splitlines()[-1])
        sides = {"ref": ref, "kite": kite}
        conns = {s: {"ns": Conn(d.ns_port), "bk": Conn(d.bk_port)} for s, d in sides.items()}
        found = []
        enc_diff, nsteps = {}, {}
        opaque = 100
        for step in steps():
            for enc, ename in ((JSON_T, "json"), (BIN_T, "rocketmq")):
                if step.get("wait_route"):
                    if enc == BIN_T:
                        continue
                    end = time.time() + DEADLINE
                    for s in sides:
                        while True:
                            a = run_step(conns[s]["ns"], step, enc, opaque)
                            if a.get("code") == 0:
                                break
                            if time.time() > end:
                                fail(f"{s}: no route for {TOPIC} after {DEADLINE} s")
                            time.sleep(0.2)
                    continue
                opaque += 1
                ans = {}
                for s in sides:
                    ans[s] = run_step(conns[s][step["target"]], step, enc, opaque)
                    if ans[s].get("closed") or ans[s].get("timeout"):
                        conns[s][step["target"]].close()
                        d = sides[s]
                        conns[s][step["target"]] = Conn(d.ns_port if step["target"] == "ns" else d.bk_port)
                if step.get("runtime"):
                    only_r = sorted(runtime_keys(ans["ref"]) - runtime_keys(ans["kite"]))
                    only_k = sorted(runtime_keys(ans["kite"]) - runtime_keys(ans["ref"]))
                    ans["ref"] = dict(ans["ref"], body=b"")
                    ans["kite"] = dict(ans["kite"], body=b"")
                    diffs = compare(step, ans["ref"], ans["kite"])
                    if only_r:
                        diffs.append("body.table: only in ref: " + ",".join(only_r))
                    if only_k:
                        diffs.append("body.table: only in kite: " + ",".join(only_k))
                else:
                    diffs = compare(step, ans["ref"], ans["kite"])
                for x in diffs:
                    if x.startswith("answer encoding: "):
                        enc_diff.setdefault(x, []).append(f"{step['name']} [{ename}]")
                        continue
                    found.append(f"{step['name']} [{ename}] {x}")
                if all("code" in a for a in ans.values()):
                    nsteps[ename] = nsteps.get(ename, 0) + 1
                if os.environ.get("DIFFTEST_VERBOSE"):
                    for s in sides:
                        a = ans[s]
                        print(f"  {s} {step['name']} [{ename}]: code={a.get('code')} remark={a.get('remark')!r} "
                              f"ext={a.get('ext')} body={a.get('body', b'')[:300]!r}")
        for name, frame in malformed():
            res = {}
            for s, d in sides.items():
                c = Conn(d.bk_port)
                res[s] = outcome(c.call(frame, timeout=5.0))
                c.close()
            if os.environ.get("DIFFTEST_VERBOSE"):
                print(f"  malformed {name}: ref: {res['ref']}; kite: {res['kite']}")
            if res["ref"] != res["kite"]:
                found.append(f"malformed: {name}: ref={res['ref']} kite={res['kite']}")
        # one line per kind of encoding difference: "every ROCKETMQ request" or the steps
        for x, where in enc_diff.items():
            encs = {w.rsplit(" [", 1)[1].rstrip("]") for w in where}
            if len(encs) == 1 and len(where) == nsteps[encs.pop()]:
                found.append(f"every request in {where[0].rsplit(' [', 1)[1].rstrip(']').upper()} encoding: {x}")
            else:
                found += [f"{w} {x}" for w in where]
        # dedupe, keep order
        seen, uniq = set(), []
        for x in found:
            if x not in seen:
                seen.add(x)
                uniq.append(x)
        known = []
        if os.path.exists(KNOWN):
            known = [l.rstrip("\n") for l in open(KNOWN) if l.strip() and not l.startswith("#")]
        new = [x for x in uniq if x not in known]
        gone = [x for x in known if x not in seen]
        print(f"difftest: {len(uniq)} difference(s) between the Java broker and KiteMQ "
              f"({len(uniq) - len(new)} documented, {len(new)} new; {len(gone)} documented but not seen)")
        for x in uniq:
            print(("  NEW " if x in new else "  known ") + x)
        for x in gone:
            print("  GONE " + x)
        if report:
            with open(report, "w") as f:
                f.write("\n".join(uniq) + "\n")
        npass = 1 + (1 if not new else 0) + (1 if not gone else 0)
        nfail = 3 - npass
        print(f"{npass} passed, {nfail} failed")
        return 1 if nfail else 0
    finally:
        ref.stop()
        if kite:
            kite.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("difftest: kept " + work)


if __name__ == "__main__":
    sys.exit(main())
