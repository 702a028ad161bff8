#!/bin/bash
# `make cluster` / scripts/cluster.sh up|down|status [build]: a small RocketMQ-shaped cluster
# on 127.0.0.1 to try replication: 2 name servers (9876, 9877) and 2 broker groups, each a
# master and a slave (broker-a: master 10911, slave 10921; broker-b: master 10931, slave
# 10941; every master's HA port is listenPort+1). Data, generated configs, logs and PID
# files live under ./cluster; `down` stops the processes by their PID files. Clients use
# NAMESRV_ADDR=127.0.0.1:9876;127.0.0.1:9877.
set -u
cmd=${1:-status}
build=${2:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/cluster"
bin="$root/$build/bin"
ns="127.0.0.1:9876;127.0.0.1:9877"

# name  kind     port   extra config lines
members=(
  "namesrv-1 namesrv 9876"
  "namesrv-2 namesrv 9877"
  "broker-a-master broker 10911 brokerName=broker-a brokerId=0 brokerRole=ASYNC_MASTER"
  "broker-a-slave broker 10921 brokerName=broker-a brokerId=1 brokerRole=SLAVE"
  "broker-b-master broker 10931 brokerName=broker-b brokerId=0 brokerRole=ASYNC_MASTER"
  "broker-b-slave broker 10941 brokerName=broker-b brokerId=1 brokerRole=SLAVE"
)

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {   # name kind port extra...
  local name=$1 kind=$2 port=$3
  shift 3
  local conf="$dir/conf/$name.conf"
  if [ "$kind" = namesrv ]; then
    printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s\nlogFile=%s\n' \
      "$port" "$dir/data/$name/kvConfig.json" "$dir/logs/$name.log" > "$conf"
  else
    printf 'brokerClusterName=KiteCluster\nnamesrvAddr=%s\nbrokerIP1=127.0.0.1\nbindAddress=127.0.0.1\n' "$ns" > "$conf"
    printf 'listenPort=%s\nstorePathRootDir=%s\nlogFile=%s\nmappedFileSizeCommitLog=67108864\n' \
      "$port" "$dir/data/$name" "$dir/logs/$name.log" >> "$conf"
    for kv in "$@"; do echo "$kv" >> "$conf"; done
  fi
  echo "$conf"
}

up() {
  for b in kite-namesrv kite-broker; do
    [ -x "$bin/$b" ] || { echo "cluster: $bin/$b is not built (make daemons)"; exit 1; }
  done
  mkdir -p "$dir/conf" "$dir/logs" "$dir/pids" "$dir/data"
  for m in "${members[@]}"; do
    set -- $m
    local name=$1 kind=$2 port=$3 pidf="$dir/pids/$1.pid"
    if alive "$pidf"; then echo "cluster: $name already running (pid $(cat "$pidf"))"; continue; fi
    mkdir -p "$dir/data/$name"
    local conf
    conf=$(write_conf "$@")
    "$bin/kite-$kind" -c "$conf" >> "$dir/logs/$name.out" 2>&1 &
    echo $! > "$pidf"
    # masters before slaves, name servers before brokers: wait for the port
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      kill -0 "$(cat "$pidf")" 2>/dev/null || { echo "cluster: $name did not start, see $dir/logs/$name.out"; exit 1; }
      sleep 0.1
    done
    echo "cluster: $name ($kind) on 127.0.0.1:$port, pid $(cat "$pidf")"
  done
  echo "cluster: up. NAMESRV_ADDR='$ns'; 'scripts/cluster.sh status' or 'make cluster-down'"
}

down() {
  local n
  for ((n = ${#members[@]} - 1; n >= 0; n--)); do   # slaves and masters first, name servers last
    set -- ${members[$n]}
    local pidf="$dir/pids/$1.pid"
    if alive "$pidf"; then
      local pid
      pid=$(cat "$pidf")
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "cluster: stopped $1 (pid $pid)"
    fi
    rm -f "$pidf"
  done
}

status() {
  for m in "${members[@]}"; do
    set -- $m
    local pidf="$dir/pids/$1.pid" state=stopped
    alive "$pidf" && state="running, pid $(cat "$pidf")"
    printf '%-16s %-8s 127.0.0.1:%-6s %s\n' "$1" "$2" "$3" "$state"
  done
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: scripts/cluster.sh up|down|status [build-dir]"; exit 2 ;;
esac
