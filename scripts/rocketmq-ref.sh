#!/usr/bin/env bash
# rocketmq-ref.sh - Apache RocketMQ's own name server and broker (the reference implementation,
# from the Maven Central artifacts named in tools/rocketmq-ref/pom.xml), for the differential test
# and the benchmark. Owns DIR only; every process it starts is recorded in DIR/*.pid and stopped
# by that PID.
#
#   scripts/rocketmq-ref.sh up DIR NSPORT BROKERPORT [broker.conf line...]
#   scripts/rocketmq-ref.sh down DIR
#   scripts/rocketmq-ref.sh classpath          # prints the resolved class path
#
# `up` starts the name server on 127.0.0.1:NSPORT, then one master broker (cluster RefCluster,
# name ref-broker) on 127.0.0.1:BROKERPORT, and returns once the broker's route has reached the
# name server (GET_BROKER_CLUSTER_INFO lists it) - or exits non-zero with the logs' tails. The
# broker also binds BROKERPORT-2 (its "VIP" port) and BROKERPORT+1 (HA). Extra arguments are
# appended to broker.conf (e.g. flushDiskType=SYNC_FLUSH). DIR holds namesrv.conf, broker.conf,
# store/, logs/ (RocketMQ writes its logs under user.home, set to DIR), *.out (stdout/stderr),
# namesrv.pid, broker.pid and startup.json (milliseconds from the broker's exec to its route).
#
# JVM options (RMQ_HEAP): "default" = those of RocketMQ's own bin/runserver.sh and
# bin/runbroker.sh for Java 9 and later (name server -Xms4g -Xmx4g, metaspace 128m/320m; broker
# -Xms8g -Xmx8g -XX:+AlwaysPreTouch -XX:MaxDirectMemorySize=15g -XX:-UseBiasedLocking (already
# off by default from Java 15); both G1 with region 16m,
# reserve 25 %, IHOP 30 %, SoftRefLRUPolicyMSPerMB=0, -XX:-OmitStackTraceInFastThrow,
# -XX:-UseLargePages); "small" (the default of this script) = the same collector settings with
# -Xms/-Xmx 128m for the name server and 256m for the broker, no pre-touch, direct memory 512m;
# anything else is taken as the heap size for both (e.g. RMQ_HEAP=1g). GC logs go to DIR/logs.
# RMQ_JAVA picks the java binary (default: java on PATH; JDK 17 here). RMQ_NAMESRV=HOST:PORT
# starts no name server: the broker registers with that one (NSPORT is then unused), and `up`
# returns once that name server lists the broker's own address 127.0.0.1:BROKERPORT.
#
# The class path is resolved once with `mvn dependency:build-classpath` into the default Maven
# repository (~/.m2, or RMQ_M2) and cached in ~/.cache/kite-rocketmq-ref/ keyed by the pom's
# hash; later runs use Maven offline (-o) or not at all. A missing java or mvn is an error.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POM=$ROOT/tools/rocketmq-ref/pom.xml
JAVA=${RMQ_JAVA:-java}
CACHE=${RMQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kite-rocketmq-ref}
M2=${RMQ_M2:-$HOME/.m2/repository}

die() { echo "rocketmq-ref: $*" >&2; exit 1; }

classpath() {  # prints the class path; resolves it with Maven the first time
  local key cpf
  key=$(sha256sum "$POM" | cut -c1-16)
  cpf=$CACHE/classpath-$key.txt
  if [ -s "$cpf" ] && tr ':' '\n' <"$cpf" | while read -r j; do [ -f "$j" ] || exit 1; done; then
    cat "$cpf"; return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (scripts/install-deps.sh installs maven)"
  mkdir -p "$CACHE" "$M2"
  local log=$CACHE/mvn-$key.log args=(-B -ntp -f "$POM" "-Dmaven.repo.local=$M2" dependency:build-classpath
    "-Dmdep.outputFile=$cpf.tmp")
  # one downloader at a time (a test and the benchmark may start together)
  exec 8>"$CACHE/.lock"
  command -v flock >/dev/null 2>&1 && flock -w 900 8
  if ! mvn -o "${args[@]}" >"$log" 2>&1; then
    mvn "${args[@]}" >"$log" 2>&1 || { tail -20 "$log" >&2; die "maven could not resolve $POM (log: $log)"; }
  fi
  exec 8>&-
  mv "$cpf.tmp" "$cpf"
  cat "$cpf"
}

jvm_opts() {  # ROLE (namesrv|broker) DIR: prints the JVM options, one per line
  local role=$1 dir=$2 heap=${RMQ_HEAP:-small}
  case "$heap:$role" in
  default:namesrv) printf '%s\n' -server -Xms4g -Xmx4g -XX:MetaspaceSize=128m -XX:MaxMetaspaceSize=320m ;;
  default:broker) printf '%s\n' -server -Xms8g -Xmx8g -XX:+AlwaysPreTouch -XX:MaxDirectMemorySize=15g \
    -XX:-UseBiasedLocking -XX:+IgnoreUnrecognizedVMOptions ;;
  small:namesrv) printf '%s\n' -server -Xms128m -Xmx128m -XX:MetaspaceSize=64m -XX:MaxMetaspaceSize=160m ;;
  small:broker) printf '%s\n' -server -Xms256m -Xmx256m -XX:MaxDirectMemorySize=512m ;;
  *) printf '%s\n' -server "-Xms$heap" "-Xmx$heap" ;;
  esac
  printf '%s\n' -XX:+UseG1GC -XX:G1HeapRegionSize=16m -XX:G1ReservePercent=25 \
    -XX:InitiatingHeapOccupancyPercent=30 -XX:SoftRefLRUPolicyMSPerMB=0 \
    "-Xlog:gc*:file=$dir/logs/${role}_gc.log:time,tags:filecount=2,filesize=10M" \
    -XX:-OmitStackTraceInFastThrow -XX:-UseLargePages \
    "-Duser.home=$dir" "-Drocketmq.home.dir=$dir" -Drocketmq.client.logUseSlf4j=true
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

stop_pidfile() {  # FILE: SIGTERM the recorded java process, SIGKILL after 30 s
  local f=$1 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'org.apache.rocketmq'; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$f"
}

cluster_has_broker() {  # NSADDR [NEEDLE]: exit 0 once GET_BROKER_CLUSTER_INFO contains NEEDLE (ref-broker)
  python3 - "$1" "${2:-ref-broker}" <<'PY'
import json, socket, struct, sys
h = json.dumps({"code": 106, "language": "JAVA", "version": 0, "opaque": 1, "flag": 0,
                "extFields": {}}).encode()
try:
    host, _, port = sys.argv[1].rpartition(":")
    s = socket.create_connection((host or "127.0.0.1", int(port)), timeout=3)
    s.sendall(struct.pack(">II", 4 + len(h), len(h)) + h)
    def rd(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c: raise EOFError
            b += c
        return b
    total = struct.unpack(">I", rd(4))[0]; frame = rd(total)
    hl = struct.unpack(">I", frame[:4])[0] & 0xFFFFFF
    body = frame[4 + hl:]
    sys.exit(0 if sys.argv[2].encode() in body else 1)
except Exception:
    sys.exit(1)
PY
}

wait_port() {  # PORT PID SECS
  local end=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    alive "$2" && [ $SECONDS -lt $end ] || return 1
    sleep 0.05
  done
}

up() {
  [ $# -ge 3 ] || die "usage: $0 up DIR NSPORT BROKERPORT [broker.conf line...]"
  local dir=$1 nsport=$2 bport=$3; shift 3
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (scripts/install-deps.sh installs a JDK)"
  mkdir -p "$dir/logs" "$dir/store"
  dir=$(cd "$dir" && pwd)
  stop_pidfile "$dir/broker.pid"; stop_pidfile "$dir/namesrv.pid"
  local cp; cp=$(classpath)
  local nsaddr=${RMQ_NAMESRV:-127.0.0.1:$nsport} needle=ref-broker
  [ -n "${RMQ_NAMESRV:-}" ] && needle=127.0.0.1:$bport
  {
    printf '%s\n' brokerClusterName=RefCluster brokerName=ref-broker brokerId=0 brokerRole=ASYNC_MASTER \
      brokerIP1=127.0.0.1 bindAddress=127.0.0.1 "listenPort=$bport" "namesrvAddr=$nsaddr" \
      "storePathRootDir=$dir/store" "storePathCommitLog=$dir/store/commitlog" \
      deleteWhen=04 fileReservedTime=48 flushDiskType=ASYNC_FLUSH autoCreateTopicEnable=true
    local l; for l in "$@"; do printf '%s\n' "$l"; done
  } >"$dir/broker.conf"
  local opts
  if [ -z "${RMQ_NAMESRV:-}" ]; then
    printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s/namesrv-kv.json\n' "$nsport" "$dir" >"$dir/namesrv.conf"
    mapfile -t opts < <(jvm_opts namesrv "$dir")
    ( cd "$dir" && exec "$JAVA" "${opts[@]}" -cp "$cp" org.apache.rocketmq.namesrv.NamesrvStartup \
        -c "$dir/namesrv.conf" >"$dir/namesrv.out" 2>&1 </dev/null ) &
    echo $! >"$dir/namesrv.pid"
    wait_port "$nsport" "$(cat "$dir/namesrv.pid")" 120 ||
      { tail -20 "$dir/namesrv.out" >&2; stop_pidfile "$dir/namesrv.pid"; die "name server did not start"; }
  fi
  mapfile -t opts < <(jvm_opts broker "$dir")
  local t0; t0=$(date +%s%N)
  ( cd "$dir" && exec "$JAVA" "${opts[@]}" -cp "$cp" org.apache.rocketmq.broker.BrokerStartup \
      -c "$dir/broker.conf" >"$dir/broker.out" 2>&1 </dev/null ) &
  local bpid=$!
  echo $bpid >"$dir/broker.pid"
  local end=$((SECONDS + ${RMQ_START_SECS:-180})) port_ms=
  until cluster_has_broker "$nsaddr" "$needle"; do
    if [ -z "$port_ms" ] && (exec 3<>"/dev/tcp/127.0.0.1/$bport") 2>/dev/null; then
      port_ms=$((($(date +%s%N) - t0) / 1000000))
    fi
    if ! alive "$bpid" || [ $SECONDS -ge $end ]; then
      tail -20 "$dir/broker.out" >&2
      stop_pidfile "$dir/broker.pid"; stop_pidfile "$dir/namesrv.pid"
      die "broker did not register with the name server"
    fi
    sleep 0.05
  done
  local reg_ms=$((($(date +%s%N) - t0) / 1000000))
  [ -n "$port_ms" ] || port_ms=$reg_ms
  printf '{"broker_port_ms": %s, "broker_registered_ms": %s}\n' "$port_ms" "$reg_ms" >"$dir/startup.json"
  echo "rocketmq-ref: name server ${RMQ_NAMESRV:+$RMQ_NAMESRV (not started here)}$([ -f "$dir/namesrv.pid" ] && echo "pid $(cat "$dir/namesrv.pid") on 127.0.0.1:$nsport"), broker pid $bpid on 127.0.0.1:$bport (registered after $reg_ms ms)" >&2
}

down() {
  [ $# -ge 1 ] || die "usage: $0 down DIR"
  stop_pidfile "$1/broker.pid"
  stop_pidfile "$1/namesrv.pid"
}

cmd=${1:-}
shift || true
case "$cmd" in
up) up "$@" ;;
down) down "$@" ;;
classpath) classpath ;;
*) die "usage: $0 up DIR NSPORT BROKERPORT [conf lines] | down DIR | classpath" ;;
esac
