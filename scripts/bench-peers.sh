#!/usr/bin/env bash
# bench-peers.sh - KiteMQ side by side with Apache RocketMQ's own Java broker (5.5.0, started by
# scripts/rocketmq-ref.sh and driven by the same kite-bench load) and two peer brokers (NATS
# JetStream, Redis streams; measured by their own benchmark scripts in $PEERS, which are not
# part of this repository) in ONE run on this machine: 1 KiB messages, servers and load generators
# sharing the CPU, loopback (127.0.0.1) only. Owns nothing outside its temporary directory
# and its results files; every process it starts is stopped by its PID.
#
#   scripts/bench-peers.sh                 # builds with `make daemons`, then about 20-25 minutes
#   RUNS=3 N=300000 SECS=10 scripts/bench-peers.sh
#
# Knobs (environment): RUNS (runs per figure, 3), N (messages for produce-N and drain runs,
# 300000), SECS (seconds of each fixed-rate latency run, 10), PSECS (seconds of each KiteMQ
# closed-loop produce run, 5), RATE (msgs/s of the latency runs, 5000), REDIS_N (messages per
# redis.sh produce run, min(N, 100000): its 50-client unpipelined runs manage ~15,000 msgs/s
# here, and redis.sh's drain always uses its own 1,000,000 backlog), BUILD (build dir,
# build), NO_BUILD=1 (skip `make daemons`), SKIP_PEERS=1 (no NATS/Redis), SKIP_RMQ=1 (no
# Apache RocketMQ), RMQ_HEAPS ("default small": the JVM variants, see below), RMQ_WARMUP (20), PEERS (directory of
# nats.sh/redis.sh; default ../shared/peers next to the repository, else /work/shared/peers),
# NODE_DIR (npm client cache of the peer scripts, kept between runs; default
# ~/.cache/kite-bench-peers/node), RESULTS (JSON lines of every run, rewritten; default
# $BUILD/bench-peers.jsonl - same schema as the peer scripts, so their summarize.py reads it) and
# COMPARE (JSON lines of the final table; default $BUILD/bench-peers-compare.jsonl).
#
# KiteMQ part: one kite-namesrv and one kite-broker on free 127.0.0.1 ports, fresh store,
# small index (maxHashSlotNum/maxIndexNum; the default index file is ~400 MiB), pull answers
# allowed up to 1024 messages / 4 MiB (maxTransferCount/BytesOnMessageInMemory, so a drain
# can use a large pull batch as the peers do). First ASYNC_FLUSH, then SYNC_FLUSH. Every
# measured run starts on a new broker with an empty store, as nats.sh recreates its stream
# before each of its runs (redis.sh deletes its stream). Runs back to back on one store get
# slower in this VM: every run writes ~1 GB of new page cache, and once the memory that
# earlier, deleted files freed is used up, each new page is first touched in the host
# (docs/store-format.md, "Performance"); the ASYNC_FLUSH phase ends with RUNS 256-in-flight
# runs back to back on one store, reported beside the table for that reason.
# Each figure is the median of RUNS runs of build/bin/kite-bench:
#   produce --async -c 256 (256 in flight), ASYNC_FLUSH and SYNC_FLUSH, PSECS seconds;
#   produce --sync -c 50 (50 producers each waiting for its ack), ASYNC_FLUSH and SYNC_FLUSH;
#   drain: produce N to a new topic, then consume -m N --from first with a new group,
#     -p 1024 -b 32 -c 4 (and once more with the client defaults -p 32 -b 1 -c 20);
#   latency: produce --rate RATE for SECS (open loop), ASYNC_FLUSH and SYNC_FLUSH (on one
#     store, the runs would also measure the disk still writing back the fills); p99 from
#     the intended send time (kite-bench's own figure) and from the send call (the way the
#     peers' load generators measure: nats_bench.c and bench.js start the clock at the send);
#   memory: broker RssAnon (anonymous memory, i.e. excluding the mapped commit log) idle and
#     the peak sampled every 0.2 s during the 256-in-flight run;
#   startup: `kite-bench startup` - fork/exec to the first accepted connect() on an empty
#     store (polled every 100 us); the same tool measures nats-server and redis-server.
# Apache RocketMQ: see "Apache RocketMQ" below (JVM options of its scripts: 8 GiB heap,
# pre-touched; small: 256 MiB heap), the same kite-bench commands except the pull32 drain.
# Peers: $PEERS/nats.sh and redis.sh with the same RUNS/N/SECS/RATE (REDIS_N), DATA in the
# temporary directory (their own figures, their own load generators; see their headers).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
BIN=$ROOT/$BUILD/bin
RUNS=${RUNS:-3} N=${N:-300000} SECS=${SECS:-10} PSECS=${PSECS:-5} RATE=${RATE:-5000}
REDIS_N=${REDIS_N:-$((N < 100000 ? N : 100000))}
SIZE=1024
if [ -z "${PEERS:-}" ]; then
  PEERS=$ROOT/../shared/peers; [ -f "$PEERS/lib.sh" ] || PEERS=/work/shared/peers
fi
NODE_DIR=${NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kite-bench-peers/node}
RESULTS=${RESULTS:-$ROOT/$BUILD/bench-peers.jsonl}
COMPARE=${COMPARE:-$ROOT/$BUILD/bench-peers-compare.jsonl}
TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kite-bench-peers.XXXXXX")
mkfifo "$WORK/tick.fifo"   # the memory sampler waits on it (kmeasure)
NS_PID= BK_PID= SAMPLER=
stop_pid() {  # PID: SIGTERM, then SIGKILL after 30 s; only processes this script started
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$SAMPLER"; stop_pid "$BK_PID"; stop_pid "$NS_PID"
  [ -d "$WORK/rmq" ] && "$ROOT/scripts/rocketmq-ref.sh" down "$WORK/rmq" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[bench-peers $(date +%T)] $*" >&2; }

# ---------- build and checks ----------
if [ "${NO_BUILD:-0}" != 1 ]; then
  log "building: make daemons BUILD=$BUILD"
  make -C "$ROOT" daemons BUILD="$BUILD" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; exit 2; }
fi
for b in kite-namesrv kite-broker kite-bench; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b (run make daemons)" >&2; exit 2; }
done
command -v python3 >/dev/null && [ -x /usr/bin/time ] || { echo "needs python3 and /usr/bin/time" >&2; exit 2; }
mkdir -p "$(dirname "$RESULTS")" "$(dirname "$COMPARE")" "$WORK/logs"
: >"$RESULTS"
log "results: $RESULTS (RUNS=$RUNS N=$N SECS=$SECS PSECS=$PSECS RATE=$RATE); scratch: $WORK"

# ---------- helpers ----------
free_port() {  # a free 127.0.0.1 port P with P-2, P-1 and P+1 free too (a broker's VIP port is P-2, its HA port P+1)
  python3 - <<'PY'
import socket
def free(p):
    s = socket.socket()
    try: s.bind(("127.0.0.1", p)); return True
    except OSError: return False
    finally: s.close()
import random
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(500):
    # below the ephemeral range, so no client connection can take it (or P+1) meanwhile
    p = random.randrange(max(1100, lo - 12000), lo - 2)
    if free(p) and free(p - 1) and free(p - 2) and free(p + 1): print(p); break
PY
}
wait_port() {  # PORT PID: until 127.0.0.1:PORT accepts (30 s), or PID died
  local end=$((SECONDS + 30))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    kill -0 "$2" 2>/dev/null && [ $SECONDS -lt $end ] || return 1
    sleep 0.02
  done
}
wait_route() {  # NSPORT: until the name server has a route for TBW102 (the broker registered; 30 s)
  python3 - "$1" <<'PY'
import json, socket, struct, sys, time
h = json.dumps({"code": 105, "language": "JAVA", "version": 409, "opaque": 1, "flag": 0,
                "extFields": {"topic": "TBW102"}}).encode()
end = time.time() + 30
while time.time() < end:
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
        s.sendall(struct.pack(">II", 4 + len(h), len(h)) + h)
        b = b""
        while len(b) < 8:
            c = s.recv(8 - len(b))
            if not c: raise EOFError
            b += c
        hl = struct.unpack(">I", b[4:8])[0] & 0xFFFFFF
        hb = b""
        while len(hb) < hl:
            c = s.recv(hl - len(hb))
            if not c: raise EOFError
            hb += c
        s.close()
        if json.loads(hb).get("code") == 0: sys.exit(0)
    except (OSError, EOFError, ValueError):
        pass
    time.sleep(0.05)
sys.exit(1)
PY
}
ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

start_namesrv() {
  NS_PORT=$(free_port)
  mkdir -p "$WORK/namesrv"
  printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s/namesrv/kv.json\n' "$NS_PORT" "$WORK" >"$WORK/namesrv.conf"
  "$BIN/kite-namesrv" -c "$WORK/namesrv.conf" >"$WORK/logs/namesrv.log" 2>&1 </dev/null &
  NS_PID=$!
  wait_port "$NS_PORT" "$NS_PID" || { tail -20 "$WORK/logs/namesrv.log" >&2; exit 1; }
  NS=127.0.0.1:$NS_PORT
}

broker_conf() {  # FILE PORT STOREDIR FLUSH
  cat >"$1" <<CONF
brokerClusterName=BenchCluster
brokerName=broker-bench
brokerId=0
brokerIP1=127.0.0.1
bindAddress=127.0.0.1
listenPort=$2
namesrvAddr=$NS
storePathRootDir=$3
flushDiskType=$4
maxHashSlotNum=100000
maxIndexNum=400000
maxTransferCountOnMessageInMemory=1024
maxTransferBytesOnMessageInMemory=4194304
CONF
}

start_broker() {  # FLUSH
  BK_PORT=$(free_port)
  rm -rf "$WORK/store"
  broker_conf "$WORK/broker-$1.conf" "$BK_PORT" "$WORK/store" "$1"
  "$BIN/kite-broker" -c "$WORK/broker-$1.conf" >"$WORK/logs/broker-$1.log" 2>&1 </dev/null &
  BK_PID=$!
  wait_port "$BK_PORT" "$BK_PID" || { tail -20 "$WORK/logs/broker-$1.log" >&2; exit 1; }
  wait_route "${NS#*:}" || { tail -20 "$WORK/logs/broker-$1.log" >&2; exit 1; }
  log "kite-broker $1 pid $BK_PID on 127.0.0.1:$BK_PORT"
}
stop_broker() { stop_pid "$BK_PID"; BK_PID=; rm -rf "$WORK/store"; }

# kmeasure LABEL kite-bench-args... : runs kite-bench --json, samples the broker's memory
# every 0.2 s, and appends one JSON line in the peer scripts' schema to $RESULTS.
rss_line() {  # PID: "RssAnon VmRSS" in kB, with shell builtins only (no fork)
  local k v u a=0 r=0
  while read -r k v u; do
    case $k in RssAnon:) a=$v ;; VmRSS:) r=$v ;; esac
  done <"/proc/$1/status" 2>/dev/null || true
  echo "$a $r"
}

kmeasure() {
  local label=$1; shift
  local tag; tag=$(echo "$label" | tr -c 'A-Za-z0-9\n' _)
  local samp=$WORK/logs/$tag.rss out=$WORK/logs/$tag.json err=$WORK/logs/$tag.log
  : >"$samp"
  # Memory is sampled every 0.2 s only during the 256-in-flight runs (the peak under load is
  # reported from them), elsewhere once after the run as the peer scripts do; the sampler uses
  # builtins only and waits on a FIFO nobody writes (read -t), so it never forks. (It used
  # awk + sleep: two fork/execs per sample raised the p99 at 5,000 msgs/s from ~0.4 ms to
  # 3-4 ms on this two-core VM.)
  if [[ $label == *"produce async256"* ]]; then
    ( exec 3<>"$WORK/tick.fifo"
      while kill -0 "$BK_PID" 2>/dev/null; do
        rss_line "$BK_PID" >>"$samp"
        read -r -t 0.2 -u 3 || true
      done ) &
    SAMPLER=$!
  fi
  local k0 t0 k1 t1 rc=0
  k0=$(ticks "$BK_PID"); t0=$(date +%s.%N)
  /usr/bin/time -f 'TIMECPU %U %S' timeout 900 "$BIN/kite-bench" "$@" --json >"$out" 2>"$err" || rc=$?
  t1=$(date +%s.%N); k1=$(ticks "$BK_PID")
  stop_pid "$SAMPLER"; SAMPLER=
  [ -s "$samp" ] || rss_line "$BK_PID" >>"$samp"
  [ $rc = 0 ] || { log "$label: kite-bench exit $rc"; grep -v '^\[' "$err" | tail -5 >&2; }
  python3 - "$label" "$out" "$err" "$samp" "$t0" "$t1" "$((k1 - k0))" "$TCK" "$SIZE" "${SYSTEM:-kitemq}" <<'PY' | tee -a "$RESULTS"
import json, sys
label, out, err, samp, t0, t1, dt, tck, size, system = sys.argv[1:]
wall = float(t1) - float(t0); size = int(size)
lines = [l for l in open(out) if l.strip()]
try: k = json.loads(lines[-1])
except Exception: k = {}
ccpu = 0.0
for l in open(err):
    if l.startswith("TIMECPU"): ccpu = float(l.split()[1]) + float(l.split()[2])
rss = [tuple(map(int, l.split())) for l in open(samp) if len(l.split()) == 2]
d = {"label": label, "system": system}
if k.get("mode") == "consume":
    d.update(mode="consume", n=k.get("consumed"), secs=k.get("drain_s"), msgs_per_s=round(k.get("drain_tps", 0)),
             first_msg_s=k.get("first_msg_s"), pull_batch=k.get("pull_batch"), threads=k.get("threads"))
elif k:
    d.update(mode=k["mode"], n=k["sent"], failed=k["failed"], window=k["concurrency"], secs=k["seconds"])
    if k.get("rate"): d["rate"] = k["rate"]
    d["msgs_per_s"] = round(k["tps"])
    for q in ("p50", "p90", "p99", "p999", "max"):
        d[q + "_us"] = round(k[q + "_ms"] * 1000)
        if ("call_" + q + "_ms") in k: d["call_" + q + "_us"] = round(k["call_" + q + "_ms"] * 1000)
else:
    d["error"] = "no summary from kite-bench"
if d.get("msgs_per_s"): d["MB_per_s"] = round(d["msgs_per_s"] * size / 1e6, 1)
d["server_cpu_pct"] = round(int(dt) / int(tck) / wall * 100) if wall > 0 else 0
d["client_cpu_pct"] = round(ccpu / wall * 100) if wall > 0 else 0
if rss:
    d["server_rss_anon_mb"] = round(max(r[0] for r in rss) / 1024, 1)
    d["server_rss_mb"] = round(max(r[1] for r in rss) / 1024, 1)
d["wall_s"] = round(wall, 2)
print(json.dumps(d))
PY
}

# startup LABEL PORT log -- command... : kite-bench startup (1 s idle, then memory), one JSON line
startup() {
  local label=$1 port=$2 logf=$3; shift 4
  local out
  out=$("$BIN/kite-bench" startup -a "127.0.0.1:$port" -w 1000 -o "$logf" --json -- "$@") || { log "$label failed"; return 0; }
  python3 - "$label" "$out" <<'PY' | tee -a "$RESULTS"
import json, sys
k = json.loads(sys.argv[2])
print(json.dumps({"label": sys.argv[1], "startup_ms": k["startup_ms"], "startup_s": round(k["startup_ms"] / 1000, 3),
                  "server_rss_anon_mb": round(k["rss_anon_kb"] / 1024, 1), "server_rss_mb": round(k["vm_rss_kb"] / 1024, 1),
                  "stop_ms": k["stop_ms"]}))
PY
}

idle_rss() {  # LABEL: the running broker's memory after a quiet second
  sleep 1
  awk -v l="$1" '/^RssAnon:/{a=$2} /^VmRSS:/{v=$2}
    END{printf "{\"label\":\"%s\",\"server_rss_anon_mb\":%.1f,\"server_rss_mb\":%.1f}\n", l, a/1024, v/1024}' \
    "/proc/$BK_PID/status" | tee -a "$RESULTS"
}

# ---------- KiteMQ ----------
start_namesrv
log "kite-namesrv pid $NS_PID on $NS"
for r in $(seq 1 "$RUNS"); do
  port=$(free_port); rm -rf "$WORK/st"
  broker_conf "$WORK/st.conf" "$port" "$WORK/st" ASYNC_FLUSH
  startup "kite startup r$r" "$port" "$WORK/logs/startup.log" -- "$BIN/kite-broker" -c "$WORK/st.conf"
done
rm -rf "$WORK/st"

fresh() { stop_broker; start_broker "$1"; }   # FLUSH: a new broker on an empty store

start_broker ASYNC_FLUSH
idle_rss "kite idle ASYNC_FLUSH"
for r in $(seq 1 "$RUNS"); do
  fresh ASYNC_FLUSH
  kmeasure "kite produce async256 ASYNC_FLUSH r$r" produce -n "$NS" -t BenchA -s $SIZE -c 256 -d "$PSECS" --async
done
for r in $(seq 1 "$RUNS"); do
  fresh ASYNC_FLUSH
  kmeasure "kite produce sync50 ASYNC_FLUSH r$r" produce -n "$NS" -t BenchS -s $SIZE -c 50 -d "$PSECS" --sync
done
for r in $(seq 1 "$RUNS"); do
  fresh ASYNC_FLUSH
  kmeasure "kite fill $N async256 r$r" produce -n "$NS" -t "Drain$r" -s $SIZE -c 256 -m "$N" -d 600 --async
  kmeasure "kite drain $N pull1024 r$r" consume -n "$NS" -t "Drain$r" -g "drainL$r" -m "$N" --from first -p 1024 -b 32 -c 4
  kmeasure "kite drain $N pull32 defaults r$r" consume -n "$NS" -t "Drain$r" -g "drainS$r" -m "$N" --from first
done
for r in $(seq 1 "$RUNS"); do
  fresh ASYNC_FLUSH
  kmeasure "kite latency $RATE/s ASYNC_FLUSH r$r" produce -n "$NS" -t BenchL -s $SIZE --rate "$RATE" -d "$SECS" --async
done
fresh ASYNC_FLUSH   # for comparison only: RUNS 256-in-flight runs back to back on one store
for r in $(seq 1 "$RUNS"); do
  kmeasure "kite produce async256 ASYNC_FLUSH one store r$r" produce -n "$NS" -t BenchA -s $SIZE -c 256 -d "$PSECS" --async
done
stop_broker

start_broker SYNC_FLUSH
idle_rss "kite idle SYNC_FLUSH"
for r in $(seq 1 "$RUNS"); do
  fresh SYNC_FLUSH
  kmeasure "kite produce async256 SYNC_FLUSH r$r" produce -n "$NS" -t BenchA -s $SIZE -c 256 -d "$PSECS" --async
done
for r in $(seq 1 "$RUNS"); do
  fresh SYNC_FLUSH
  kmeasure "kite produce sync50 SYNC_FLUSH r$r" produce -n "$NS" -t BenchS -s $SIZE -c 50 -d "$PSECS" --sync
done
for r in $(seq 1 "$RUNS"); do
  fresh SYNC_FLUSH
  kmeasure "kite latency $RATE/s SYNC_FLUSH r$r" produce -n "$NS" -t BenchL -s $SIZE --rate "$RATE" -d "$SECS" --async
done
stop_broker
stop_pid "$NS_PID"; NS_PID=

# ---------- Apache RocketMQ (the Java name server and broker, same kite-bench load) ----------
# rmq_up HEAP FLUSH: a new name server + broker (scripts/rocketmq-ref.sh) on an empty store,
# with the same pull allowance as the KiteMQ broker; BK_PID = the broker's java process.
# Unlike KiteMQ (a new broker for every run), one Java broker per heap variant and flush type
# serves every measurement back to back (produce, sync50, latency, then fill + drain): a JVM
# start costs 15-40 s here, and each start is followed by RMQ_WARMUP (20) s of unmeasured
# 256-in-flight sends to another topic (the JIT's warm-up: a cold broker manages ~1,000
# msgs/s here; KiteMQ needs none). Its start-up time (exec of the
# broker's JVM to its port accepting, and to its route at the name server) and its idle
# memory (1 s after the route appeared) are recorded at every start.
rmq_up() {
  local heap=$1 flush=$2 nsp bkp
  rmq_down
  nsp=$(free_port); bkp=$(free_port)
  RMQ_HEAP=$heap "$ROOT/scripts/rocketmq-ref.sh" up "$WORK/rmq" "$nsp" "$bkp" "flushDiskType=$flush" \
    maxTransferCountOnMessageInMemory=1024 maxTransferBytesOnMessageInMemory=4194304 \
    >"$WORK/logs/rmq-up.log" 2>&1 || { tail -20 "$WORK/logs/rmq-up.log" >&2; return 1; }
  BK_PID=$(cat "$WORK/rmq/broker.pid"); NS=127.0.0.1:$nsp
  sleep 1
  RMQ_STARTS=$((${RMQ_STARTS:-0} + 1))
  python3 - "rmq-$heap startup r$RMQ_STARTS" "$WORK/rmq/startup.json" "$BK_PID" <<'PY' | tee -a "$RESULTS"
import json, sys
k = json.load(open(sys.argv[2]))
st = {}
for l in open(f"/proc/{sys.argv[3]}/status"):
    p = l.split()
    if p and p[0] in ("RssAnon:", "VmRSS:"): st[p[0]] = int(p[1])
print(json.dumps({"label": sys.argv[1], "system": "rocketmq", "startup_ms": k["broker_port_ms"],
                  "route_ms": k["broker_registered_ms"], "server_rss_anon_mb": round(st["RssAnon:"] / 1024, 1),
                  "server_rss_mb": round(st["VmRSS:"] / 1024, 1)}))
PY
  log "rocketmq ($heap heap, $flush) broker pid $BK_PID, name server $NS"
  # JIT warm-up, not measured: RMQ_WARMUP (20) s of 256-in-flight sends to another topic
  "$BIN/kite-bench" produce -n "$NS" -t Warmup -s $SIZE -c 256 -d "${RMQ_WARMUP:-20}" --async >/dev/null 2>&1 || true
}
rmq_down() {
  [ -d "$WORK/rmq" ] || return 0
  "$ROOT/scripts/rocketmq-ref.sh" down "$WORK/rmq" || true
  BK_PID=; rm -rf "$WORK/rmq"
}

if [ "${SKIP_RMQ:-0}" != 1 ]; then
  export SYSTEM=rocketmq
  for heap in ${RMQ_HEAPS:-default small}; do
    h=rmq-$heap
    for flush in ASYNC_FLUSH SYNC_FLUSH; do
      rmq_up "$heap" "$flush" || continue
      for r in $(seq 1 "$RUNS"); do
        kmeasure "$h produce async256 $flush r$r" produce -n "$NS" -t BenchA -s $SIZE -c 256 -d "$PSECS" --async
      done
      for r in $(seq 1 "$RUNS"); do
        kmeasure "$h produce sync50 $flush r$r" produce -n "$NS" -t BenchS -s $SIZE -c 50 -d "$PSECS" --sync
      done
      for r in $(seq 1 "$RUNS"); do
        kmeasure "$h latency $RATE/s $flush r$r" produce -n "$NS" -t BenchL -s $SIZE --rate "$RATE" -d "$SECS" --async
      done
      if [ "$flush" = ASYNC_FLUSH ]; then
        for r in $(seq 1 "$RUNS"); do
          kmeasure "$h fill $N async256 r$r" produce -n "$NS" -t "Drain$r" -s $SIZE -c 256 -m "$N" -d 600 --async
          kmeasure "$h drain $N pull1024 r$r" consume -n "$NS" -t "Drain$r" -g "drainL$r" -m "$N" --from first -p 1024 -b 32 -c 4
        done
      fi
    done
    rmq_down
  done
  unset SYSTEM
fi

# ---------- peers ----------
if [ "${SKIP_PEERS:-0}" != 1 ]; then
  for p in nats redis; do
    log "peer: $PEERS/$p.sh"
    pn=$N; [ $p = redis ] && pn=$REDIS_N
    ( export DATA="$WORK/peers" RESULTS RUNS N="$pn" SECS RATE NODE_DIR WINDOW=256 N_ALWAYS="$pn" N_ONE="${N_ONE:-2000}"
      timeout "${PEER_TIMEOUT:-900}" bash "$PEERS/$p.sh" ) >"$WORK/logs/peer-$p.log" 2>&1 ||
      { log "$p.sh failed:"; tail -15 "$WORK/logs/peer-$p.log" >&2; }
  done
  for r in $(seq 1 "$RUNS"); do
    if command -v nats-server >/dev/null; then
      port=$(free_port); rm -rf "$WORK/nst"; mkdir -p "$WORK/nst"
      startup "nats startup (kite-bench) r$r" "$port" "$WORK/logs/nats-startup.log" -- \
        nats-server -a 127.0.0.1 -p "$port" -js -sd "$WORK/nst"
    fi
    if command -v redis-server >/dev/null; then
      port=$(free_port); rm -rf "$WORK/rst"; mkdir -p "$WORK/rst"
      startup "redis startup (kite-bench) r$r" "$port" "$WORK/logs/redis-startup.log" -- \
        redis-server --bind 127.0.0.1 --port "$port" --dir "$WORK/rst" --save '' --appendonly yes \
        --appendfsync everysec --daemonize no
    fi
  done
fi

# ---------- table ----------
echo
echo "All runs (median, min-max):"
python3 "$PEERS/summarize.py" "$RESULTS" 2>/dev/null || true
echo
python3 - "$RESULTS" "$COMPARE" "$N" "$RATE" <<'PY'
import json, re, sys, statistics as st
res, cmp_path, n, rate = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
groups = {}
for l in open(res):
    if l.strip():
        d = json.loads(l); groups.setdefault(re.sub(r" r\d+$", "", d["label"]), []).append(d)
def med(label, field, agg=st.median):
    vals = [d[field] for d in groups.get(label, []) if d.get(field) is not None]
    return (agg(vals), len(vals)) if vals else (None, 0)
R = rate
RD = ("Apache RocketMQ 5.5.0, JVM options of its scripts", "rmq-default")
RS = ("Apache RocketMQ 5.5.0, small heap", "rmq-small")
def rmq(label_rest, field, variants=(RD, RS)):
    return [(name, f"{pre} {label_rest}", field) for name, pre in variants]
rows = [  # (what, unit, kite label, kite field, [(peer, peer label, peer field, agg)])
 ("produce, 256 in flight, async flush", "msgs/s", "kite produce async256 ASYNC_FLUSH", "msgs_per_s",
  rmq("produce async256 ASYNC_FLUSH", "msgs_per_s") +
  [("NATS JetStream, 256 in flight", "nats produce", "msgs_per_s"),
   ("Redis everysec, 16 clients x pipeline 16", "redis-everysec produce pipelined c16xP16", "msgs_per_s")]),
 ("produce, 256 in flight, sync flush", "msgs/s", "kite produce async256 SYNC_FLUSH", "msgs_per_s",
  rmq("produce async256 SYNC_FLUSH", "msgs_per_s") +
  [("Redis always, 16 clients x pipeline 16", "redis-always produce pipelined c16xP16", "msgs_per_s")]),
 ("produce, 50 producers waiting for acks, async flush", "msgs/s", "kite produce sync50 ASYNC_FLUSH", "msgs_per_s",
  rmq("produce sync50 ASYNC_FLUSH", "msgs_per_s", (RD,)) +
  [("Redis everysec, 50 clients unpipelined", "redis-everysec produce unpipelined c50", "msgs_per_s")]),
 ("produce, 50 producers waiting for acks, sync flush", "msgs/s", "kite produce sync50 SYNC_FLUSH", "msgs_per_s",
  rmq("produce sync50 SYNC_FLUSH", "msgs_per_s", (RD,)) +
  [("Redis always, 50 clients unpipelined", "redis-always produce unpipelined c50", "msgs_per_s")]),
 (f"drain of {n} queued (pull batch 1024)", "msgs/s", f"kite drain {n} pull1024", "msgs_per_s",
  rmq(f"drain {n} pull1024", "msgs_per_s") +
  [("NATS pull consumer, batch 1000", "nats consume", "msgs_per_s"),
   ("Redis XREAD COUNT 1000 (1M backlog)", "redis consume (XREAD COUNT 1000)", "msgs_per_s")]),
 (f"drain of {n} queued (client defaults: pull 32)", "msgs/s", f"kite drain {n} pull32 defaults", "msgs_per_s",
  [("NATS pull consumer, batch 1000", "nats consume", "msgs_per_s")]),
 (f"p99 latency at {R} msgs/s, async flush, from the send call (as the peers measure)", "us",
  f"kite latency {R}/s ASYNC_FLUSH", "call_p99_us",
  rmq(f"latency {R}/s ASYNC_FLUSH", "call_p99_us") +
  [("NATS JetStream", f"nats latency {R}/s", "p99_us"), ("Redis everysec", f"redis-everysec latency {R}/s", "p99_us")]),
 (f"p99 latency at {R} msgs/s, async flush, KiteMQ from the intended send time", "us",
  f"kite latency {R}/s ASYNC_FLUSH", "p99_us",
  rmq(f"latency {R}/s ASYNC_FLUSH", "p99_us") +
  [("NATS JetStream", f"nats latency {R}/s", "p99_us"), ("Redis everysec", f"redis-everysec latency {R}/s", "p99_us")]),
 (f"p99 latency at {R} msgs/s, sync flush, from the send call", "us", f"kite latency {R}/s SYNC_FLUSH", "call_p99_us",
  rmq(f"latency {R}/s SYNC_FLUSH", "call_p99_us") + [("Redis always", f"redis-always latency {R}/s", "p99_us")]),
 (f"p99 latency at {R} msgs/s, sync flush, KiteMQ from the intended send time", "us",
  f"kite latency {R}/s SYNC_FLUSH", "p99_us",
  rmq(f"latency {R}/s SYNC_FLUSH", "p99_us") + [("Redis always", f"redis-always latency {R}/s", "p99_us")]),
 ("RSS idle after start, anonymous (kite-bench startup, empty store, 1 s idle)", "MB", "kite startup", "server_rss_anon_mb",
  rmq("startup", "server_rss_anon_mb") +
  [("NATS JetStream (same tool)", "nats startup (kite-bench)", "server_rss_anon_mb"),
   ("Redis (same tool)", "redis startup (kite-bench)", "server_rss_anon_mb")]),
 ("RSS under load: KiteMQ RssAnon peak at 256 in flight; peers VmRSS after produce", "MB",
  "kite produce async256 ASYNC_FLUSH", "server_rss_anon_mb",
  rmq("produce async256 ASYNC_FLUSH", "server_rss_anon_mb") +
  [("NATS JetStream (VmRSS)", "nats produce", "server_rss_mb"),
   ("Redis everysec (VmRSS)", "redis-everysec produce pipelined c16xP16", "server_rss_mb")]),
 ("startup to accepting connections, empty store", "ms", "kite startup", "startup_ms",
  rmq("startup", "startup_ms") +
  [("NATS JetStream (same tool)", "nats startup (kite-bench)", "startup_ms"),
   ("Redis (same tool)", "redis startup (kite-bench)", "startup_ms")]),
 ("startup to the route at the name server (RocketMQ: broker JVM exec to GET_BROKER_CLUSTER_INFO listing it)", "ms",
  "kite route (not measured)", "startup_ms", rmq("startup", "route_ms")),
]
def f(v, unit):
    if v is None: return "-"
    return f"{v:,.1f}" if unit in ("MB",) or (unit == "ms" and v < 100) else f"{v:,.0f}"
print("KiteMQ vs peers (medians; ratio = KiteMQ / peer: above 1 is better for msgs/s, below 1 is better for us, MB, ms)")
print()
print("| measurement | unit | KiteMQ | peer | peer figure | ratio |")
print("|---|---|---|---|---|---|")
with open(cmp_path, "w") as out:
    for what, unit, kl, kf, peers in rows:
        kv, kn = med(kl, kf)
        for i, (pname, pl, pf) in enumerate(peers):
            pv, pn = med(pl, pf)
            ratio = kv / pv if kv is not None and pv else None
            print(f"| {what if i == 0 else ''} | {unit if i == 0 else ''} | {f(kv, unit) if i == 0 else ''} | {pname} | "
                  f"{f(pv, unit)} | {'-' if ratio is None else (f'{ratio:.2f}' if ratio >= 0.1 else f'{ratio:.3f}')} |")
            out.write(json.dumps({"measurement": what, "unit": unit, "kitemq": kv, "kitemq_runs": kn, "peer": pname,
                                  "peer_value": pv, "peer_runs": pn, "ratio": None if ratio is None else round(ratio, 3)}) + "\n")
extra = []
for label, field, unit in (("kite idle ASYNC_FLUSH", "server_rss_anon_mb", "MB RssAnon"),
                           ("kite idle ASYNC_FLUSH", "server_rss_mb", "MB VmRSS"),
                           ("kite produce async256 ASYNC_FLUSH", "server_rss_mb", "MB VmRSS peak (mapped commit log included)"),
                           (f"kite latency {R}/s ASYNC_FLUSH", "p999_us", "us p99.9"),
                           (f"kite latency {R}/s SYNC_FLUSH", "p999_us", "us p99.9"),
                           ("kite produce async256 ASYNC_FLUSH", "p99_us", "us p99 (closed loop)"),
                           ("kite produce async256 ASYNC_FLUSH one store", "msgs_per_s",
                            "msgs/s at 256 in flight, runs back to back on one store"),
                           ("kite produce sync50 SYNC_FLUSH", "p99_us", "us p99 (closed loop)")):
    v, _ = med(label, field)
    if v is not None: extra.append(f"{label}: {v:,.1f} {unit}")
print()
print("KiteMQ also: " + "; ".join(extra))
PY
echo
log "done; JSON lines in $RESULTS and $COMPARE"
