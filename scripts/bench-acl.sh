#!/usr/bin/env bash
# bench-acl.sh - produce throughput with plain ACL off and on, in ONE run: two clusters
# (kite-namesrv + kite-broker each, free 127.0.0.1 ports, fresh stores, ASYNC_FLUSH), the
# second with aclEnable=true and a sub-account allowed PUB on the topic; kite-bench
# produce --async -c 256, 1 KiB messages, alternating off / on, RUNS runs each of SECS
# seconds; prints each run and the medians, and the ratio on/off. The ACL-on client signs
# every request (kite-bench --ak/--sk) and the broker verifies each one. With BASE=<another
# build directory> a third cluster runs that build's kite-broker with ACL on, driven by its
# kite-bench, in the same rotation (off / on / base on): before-and-after figures from one
# run on the same machine. Owns only its temporary directory; every process it starts is
# stopped by its PID.
#   scripts/bench-acl.sh            RUNS=3 SECS=10 BUILD=build by default
#   BASE=/tmp/old/build RUNS=5 scripts/bench-acl.sh
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${BUILD:-$here/build}"
RUNS="${RUNS:-3}"
SECS="${SECS:-10}"
bin="$BUILD/bin"
BASE="${BASE:-}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kite-bench-acl.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }

cat >"$tmp/acl.yml" <<'YML'
accounts:
  - accessKey: benchUser01
    secretKey: benchSecret01
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - BenchAcl=PUB|SUB
  - accessKey: benchAdmin01
    secretKey: benchAdminSecret1
    admin: true
YML

start() { # name extra-broker-conf [bin dir] -> sets NS_<name>
  local d="$tmp/$1" nsp bp b="${3:-$bin}"
  mkdir -p "$d"
  nsp=$(free_port); bp=$(free_port)
  printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s/kv.json\n' "$nsp" "$d" >"$d/ns.conf"
  printf 'brokerClusterName=BenchCluster\nbrokerName=bench-%s\nbrokerIP1=127.0.0.1\nbindAddress=127.0.0.1\nlistenPort=%s\nnamesrvAddr=127.0.0.1:%s\nstorePathRootDir=%s/store\nmaxHashSlotNum=100000\nmaxIndexNum=400000\nflushDiskType=ASYNC_FLUSH\n%s\n' \
    "$1" "$bp" "$nsp" "$d" "$2" >"$d/broker.conf"
  "$b/kite-namesrv" -c "$d/ns.conf" >"$d/ns.log" 2>&1 & pids+=($!)
  wait_port "$nsp"
  "$b/kite-broker" -c "$d/broker.conf" >"$d/broker.log" 2>&1 & pids+=($!)
  wait_port "$bp"
  eval "NS_$1=127.0.0.1:$nsp"
}

start off ""
start on "aclEnable=true
aclFile=$tmp/acl.yml"
"$bin/kite-admin" updateTopic -n "$NS_off" -c BenchCluster -t BenchAcl -r 8 -w 8 >/dev/null || exit 1
"$bin/kite-admin" updateTopic -n "$NS_on" -c BenchCluster -t BenchAcl -r 8 -w 8 \
  --accessKey benchAdmin01 --secretKey benchAdminSecret1 >/dev/null || exit 1
if [ -n "$BASE" ]; then
  start base "aclEnable=true
aclFile=$tmp/acl.yml" "$BASE/bin"
  "$bin/kite-admin" updateTopic -n "$NS_base" -c BenchCluster -t BenchAcl -r 8 -w 8 \
    --accessKey benchAdmin01 --secretKey benchAdminSecret1 >/dev/null || exit 1
fi

run() { # off|on|base -> tps
  local ns keys=() b=$bin
  case $1 in
    on) ns=$NS_on; keys=(--ak benchUser01 --sk benchSecret01) ;;
    base) ns=$NS_base; keys=(--ak benchUser01 --sk benchSecret01); b=$BASE/bin ;;
    *) ns=$NS_off ;;
  esac
  "$b/kite-bench" produce -n "$ns" -t BenchAcl -s 1024 -c 256 --async -d "$SECS" --json "${keys[@]}" 2>/dev/null |
    tail -n 1 | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); assert r["failed"]==0, r; print("%.0f"%r["tps"])'
}

off=(); on=(); base=()
for i in $(seq 1 "$RUNS"); do
  t=$(run off) || exit 1; off+=("$t"); echo "run $i ACL off: $t msgs/s"
  t=$(run on) || exit 1; on+=("$t"); echo "run $i ACL on:  $t msgs/s"
  if [ -n "$BASE" ]; then t=$(run base) || exit 1; base+=("$t"); echo "run $i ACL on, BASE build: $t msgs/s"; fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${off[@]}"); mn=$(median "${on[@]}")
echo "median ACL off: $mo msgs/s, ACL on: $mn msgs/s, on/off: $(python3 -c "print('%.3f' % ($mn/$mo))")"
if [ -n "$BASE" ]; then
  mb=$(median "${base[@]}")
  echo "median ACL on with BASE: $mb msgs/s, on/off: $(python3 -c "print('%.3f' % ($mb/$mo))")"
fi
