#!/bin/bash
# `make run`: starts a name server on 127.0.0.1:9876 and, once it exists, a broker on
# 10911 advertising 127.0.0.1, with all data under ./data. Ctrl-C stops both (by PID).
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/data"
mkdir -p "$data/namesrv" "$data/broker" "$data/logs"
cat > "$data/namesrv.conf" <<CONF
listenPort=9876
kvConfigPath=$data/namesrv/kvConfig.json
logFile=$data/logs/namesrv.log
CONF
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait; exit 0; }
trap stop INT TERM
"$root/$build/bin/kite-namesrv" -c "$data/namesrv.conf" & pids+=($!)
if [ -x "$root/$build/bin/kite-broker" ]; then
  cat > "$data/broker.conf" <<CONF
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=0
namesrvAddr=127.0.0.1:9876
brokerIP1=127.0.0.1
listenPort=10911
storePathRootDir=$data/broker
CONF
  sleep 0.2
  "$root/$build/bin/kite-broker" -c "$data/broker.conf" & pids+=($!)
else
  echo "run: kite-broker is not built yet; only the name server is running"
fi
echo "run: started ${pids[*]}; Ctrl-C to stop"
wait
