#!/usr/bin/env bash
# Runs the Go-client conformance scenarios (tests/conformance-go/*_test.go, the module
# github.com/apache/rocketmq-client-go/v2 pinned in go.mod / go.sum) against one
# kite-namesrv + kite-broker from $KITE_BIN (default ../../build/bin), started here on a
# random 127.0.0.x address with free ports and a temp store, and stopped by PID on every
# exit path (trap). A missing go toolchain or daemon is a failure, never a skip. The whole
# run is bounded by `timeout` (KITE_CONF_GO_TIMEOUT, default 420 s: the first run also
# downloads and compiles the client; later runs reuse the Go module and build caches).
# Usage: run.sh [go test flags, e.g. -run Trans] (always verbose: a skip must show)
set -u
here=$(cd "$(dirname "$0")" && pwd)
KITE_BIN="${KITE_BIN:-$here/../../build/bin}"
case "$KITE_BIN" in /*) ;; *) KITE_BIN="$(pwd)/$KITE_BIN" ;; esac   # relative to the caller
export KITE_BIN
cd "$here" || exit 1
TOTAL_SECS="${KITE_CONF_GO_TIMEOUT:-420}"

fail() { echo "conformance-go: FAIL: $*" >&2; exit 1; }

# go: on PATH, else the usual install places (Debian's golang-go, the upstream tarball)
GO=$(command -v go 2>/dev/null)
for g in /usr/lib/go/bin/go /usr/local/go/bin/go; do
  [ -n "$GO" ] && break
  [ -x "$g" ] && GO=$g
done
[ -n "$GO" ] || fail "go not found (scripts/install-deps.sh installs Debian's golang-go)"
command -v timeout >/dev/null 2>&1 || fail "timeout (coreutils) not found"
[ -x "$KITE_BIN/kite-namesrv" ] && [ -x "$KITE_BIN/kite-broker" ] ||
  fail "kite-namesrv/kite-broker not found in KITE_BIN=$KITE_BIN (build with make)"
# module downloads go to the default GOMODCACHE (kept between runs); go.sum is committed,
# so a changed dependency fails instead of being fetched silently
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
export GOTOOLCHAIN=local
# without HOME, go has no default cache directories: keep them under the temp dir root
if [ -z "${HOME:-}" ]; then
  export GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/kite-go-cache}" GOPATH="${GOPATH:-${TMPDIR:-/tmp}/kite-go-path}"
fi

run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/kite-conformance-go.XXXXXX") || fail "mktemp failed"
pids=()
problems=""
# stop the daemons by PID: SIGTERM, then SIGKILL after 5 s; a daemon that had already
# died, did not stop in time or exited non-zero (e.g. a sanitizer report) is a problem
stop_all() {
  local p i rc
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || problems="$problems pid $p had died before the stop;"
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { problems="$problems pid $p ignored SIGTERM for 5 s;"; kill -KILL "$p"; }
    wait "$p" 2>/dev/null
    rc=$?
    [ $rc -eq 0 ] || problems="$problems pid $p exited with $rc;"
  done
  pids=()
}
trap stop_all EXIT
trap 'stop_all; exit 129' HUP
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
# wait until $1:$2 accepts connections while pid $3 lives (20 s)
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    kill -0 "$3" 2>/dev/null || return 1
    port_busy "$1" "$2" && return 0
    sleep 0.1
  done
  return 1
}

# start both daemons on a random 127.0.0.x; a port taken between the check and the bind
# makes a daemon exit, and the next attempt takes another address
started=0
for attempt in 1 2 3 4 5; do
  host="127.0.0.$((2 + RANDOM % 249))"
  bport=$((20000 + RANDOM % 30000)); nport=$((bport + 10))
  busy=0
  for p in $((bport - 2)) $((bport - 1)) $bport $((bport + 1)) $nport; do
    port_busy "$host" "$p" && busy=1
  done
  [ $busy -eq 0 ] || continue
  dir="$run_tmp/cluster$attempt"
  mkdir -p "$dir"
  cat >"$dir/namesrv.conf" <<EOF
# written by tests/conformance-go/run.sh
listenPort=$nport
bindAddress=$host
kvConfigPath=$dir/namesrv/kvConfig.json
EOF
  # transactionCheckInterval / transactionTimeOut are short so that an unknown local
  # transaction is checked back within seconds, every delay level (retries) is 1 s; the
  # small index keeps the store small
  cat >"$dir/broker.conf" <<EOF
# written by tests/conformance-go/run.sh
brokerClusterName=ConfGoCluster
brokerName=broker-confgo
brokerIP1=$host
bindAddress=$host
listenPort=$bport
namesrvAddr=$host:$nport
storePathRootDir=$dir/store
mappedFileSizeCommitLog=67108864
maxHashSlotNum=20000
maxIndexNum=80000
flushDiskType=ASYNC_FLUSH
transactionCheckInterval=1000
transactionTimeOut=2000
messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s
logLevel=info
EOF
  "$KITE_BIN/kite-namesrv" -c "$dir/namesrv.conf" >"$dir/namesrv.log" 2>&1 &
  pids+=($!)
  if ! wait_port "$host" "$nport" "${pids[-1]}"; then
    echo "conformance-go: name server did not start on $host:$nport:"; tail -n 5 "$dir/namesrv.log"
    stop_all; problems=""; continue
  fi
  "$KITE_BIN/kite-broker" -c "$dir/broker.conf" >"$dir/broker.log" 2>&1 &
  pids+=($!)
  if ! wait_port "$host" "$bport" "${pids[-1]}"; then
    echo "conformance-go: broker did not start on $host:$bport:"; tail -n 5 "$dir/broker.log"
    stop_all; problems=""; continue
  fi
  started=1
  pids_started=("${pids[@]}")
  break
done
[ $started -eq 1 ] || fail "could not start kite-namesrv + kite-broker (logs under $run_tmp)"

export KITE_NAMESRV="$host:$nport" KITE_BROKER_ADDR="$host:$bport"
export KITE_BROKER_NAME=broker-confgo
export KITE_CONF_GO_DIR="$run_tmp"
echo "conformance-go: $("$GO" version), name server $KITE_NAMESRV, broker $KITE_BROKER_ADDR"

# the client writes its log and broadcasting offsets under the run's temp dir, not $HOME
# (the offset directory is read from an environment variable whose name has dots)
timeout --kill-after=15 "$TOTAL_SECS" env "rocketmq.client.localOffsetStoreDir=$run_tmp/offsets" \
  "$GO" test -v -count=1 -timeout "$((TOTAL_SECS - 30))s" "$@" . 2>&1 | tee "$run_tmp/run.log"
rc=${PIPESTATUS[0]}
# a skipped scenario proves nothing: count it as a failure
if grep -Eq -- '^ *--- SKIP' "$run_tmp/run.log"; then
  echo "conformance-go: skipped scenarios: $(grep -E -- '^ *--- SKIP' "$run_tmp/run.log" | tr '\n' ' ')" >&2
  [ $rc -eq 0 ] && rc=1
fi
stop_all
if [ -n "$problems" ]; then
  echo "conformance-go: daemons (namesrv ${pids_started[0]}, broker ${pids_started[1]}):$problems" >&2
  [ $rc -eq 0 ] && rc=1
fi
if [ $rc -ne 0 ]; then
  for log in "$dir/broker.log" "$dir/namesrv.log"; do
    echo "--- tail of $log ---" >&2; tail -n 40 "$log" >&2
  done
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && fail "scenarios did not finish within ${TOTAL_SECS} s (logs under $run_tmp)"
  fail "go test exited with $rc, or a daemon failed (logs under $run_tmp)"
fi
rm -rf "$run_tmp"
echo "conformance-go: all scenarios passed"
