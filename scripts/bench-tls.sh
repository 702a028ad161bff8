#!/usr/bin/env bash
# bench-tls.sh - produce throughput with TLS off and on, in ONE run on this machine: one
# kite-namesrv and one kite-broker, both in tls.server.mode=permissive (plain and TLS clients
# on the same port), certificates made here with the openssl command (a CA and a server
# certificate for 127.0.0.1). Runs alternate plain, TLS, plain, TLS... each on a new broker
# with an empty store (runs back to back on one store get slower in this VM), and each
# figure is the median of RUNS runs of build/bin/kite-bench produce. Owns nothing outside its
# temporary directory; every process it starts is stopped by its PID.
#
#   scripts/bench-tls.sh                    # RUNS=3 SECS=5 C=256 MODE=--async
#   RUNS=5 SECS=10 C=50 MODE=--sync scripts/bench-tls.sh
#
# Knobs: RUNS, SECS (seconds per run), C (in flight with --async, threads with --sync),
# MODE (--async or --sync), SIZE (body bytes, 1024), BUILD (build dir, build).
set -euo pipefail
RUNS=${RUNS:-3}
SECS=${SECS:-5}
C=${C:-256}
MODE=${MODE:---async}
SIZE=${SIZE:-1024}
BUILD=${BUILD:-build}
BIN=$BUILD/bin
command -v openssl >/dev/null || { echo "bench-tls: the openssl command is needed" >&2; exit 2; }
T=$(mktemp -d /tmp/kite-bench-tls.XXXXXX)
NS_PID=""
BK_PID=""
cleanup() {
  [ -n "$BK_PID" ] && kill "$BK_PID" 2>/dev/null && wait "$BK_PID" 2>/dev/null || true
  [ -n "$NS_PID" ] && kill "$NS_PID" 2>/dev/null && wait "$NS_PID" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

(cd "$T" &&
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca &&
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=bench &&
  printf 'subjectAltName=IP:127.0.0.1\n' >server.ext &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 2 -extfile server.ext) >/dev/null 2>&1
TLS_KEYS="tls.server.mode=permissive
tls.server.certPath=$T/server.pem
tls.server.keyPath=$T/server.key"

NS_PORT=$(free_port)
printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s/kv.json\n%s\n' "$NS_PORT" "$T" "$TLS_KEYS" >"$T/ns.conf"
"$BIN/kite-namesrv" -c "$T/ns.conf" >"$T/ns.log" 2>&1 &
NS_PID=$!
wait_port "$NS_PORT"

BK_PORT=$(free_port)
start_broker() {
  rm -rf "$T/store"
  cat >"$T/bk.conf" <<EOF
brokerClusterName=BenchCluster
brokerName=bench-tls
brokerIP1=127.0.0.1
bindAddress=127.0.0.1
listenPort=$BK_PORT
namesrvAddr=127.0.0.1:$NS_PORT
storePathRootDir=$T/store
maxHashSlotNum=100000
maxIndexNum=400000
$TLS_KEYS
EOF
  "$BIN/kite-broker" -c "$T/bk.conf" >>"$T/bk.log" 2>&1 &
  BK_PID=$!
  wait_port "$BK_PORT"
}
stop_broker() { kill "$BK_PID"; wait "$BK_PID" || true; BK_PID=""; }

declare -a plain tls
for i in $(seq 1 "$RUNS"); do
  for kind in plain tls; do
    start_broker
    extra=()
    [ "$kind" = tls ] && extra=(--tls-ca "$T/ca.pem")
    line=$("$BIN/kite-bench" produce -n "127.0.0.1:$NS_PORT" -t BenchTls$i$kind -s "$SIZE" -c "$C" \
      -d "$SECS" "$MODE" --json "${extra[@]}" 2>/dev/null | tail -1)
    tps=$(printf '%s' "$line" | python3 -c 'import json,sys;d=json.load(sys.stdin);print(round(d.get("tps",d.get("msgs_per_s",0))))')
    p99=$(printf '%s' "$line" | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d.get("p99_ms",""))')
    failed=$(printf "%s" "$line" | python3 -c "import json,sys;print(json.load(sys.stdin)[\"failed\"])")
    echo "run $i $kind: $tps msgs/s (p99 $p99 ms, failed $failed)"
    if [ "$kind" = plain ]; then plain+=("$tps"); else tls+=("$tps"); fi
    stop_broker
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mp=$(median "${plain[@]}")
mt=$(median "${tls[@]}")
echo "produce $MODE -c $C -s $SIZE, median of $RUNS: plain $mp msgs/s, TLS $mt msgs/s, TLS/plain $(python3 -c "print(round($mt/$mp,3))")"
