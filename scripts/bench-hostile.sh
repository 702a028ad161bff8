#!/usr/bin/env bash
# bench-hostile.sh - the normal producer's p99 send latency under the hostile-client attack
# of it_hostile (test_attack: 4,004 hostile connections against one broker) against quiet
# phases of the same run, RUNS times; prints each run with the machine's load average at
# its start, then the medians of the quiet p99, the attack p99 and the ratio. The test
# binary starts and stops its own daemons (by PID) under $BUILD/testtmp.
#   scripts/bench-hostile.sh            RUNS=7 BUILD=build by default
#   BIN=DIR scripts/bench-hostile.sh    the daemons from DIR (another build's bin/), the test
#                                       from BUILD: compares brokers under the same test
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${BUILD:-$here/build}"
RUNS="${RUNS:-7}"
BIN="${BIN:-$BUILD/bin}"
test_bin="$BUILD/tests/it_hostile"
[ -x "$test_bin" ] || { echo "no $test_bin: build first" >&2; exit 1; }
mkdir -p "$BUILD/testtmp"
out=$(mktemp "${TMPDIR:-/tmp}/kite-bench-hostile.XXXXXX")
trap 'rm -f "$out"' EXIT

median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

quiet=() attack=() ratio=()
for i in $(seq 1 "$RUNS"); do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  KT_ONLY=test_attack KITE_BIN="$BIN" KITE_SRC="$here" KITE_TMP="$BUILD/testtmp" \
    "$test_bin" >"$out" 2>&1
  line=$(grep 'producer p99 send latency' "$out")
  if [ -z "$line" ] || ! grep -q '\[  PASSED  \]' "$out"; then
    echo "run $i failed:" >&2; cat "$out" >&2; exit 1
  fi
  q=$(sed -E 's/.*latency quiet ([0-9]+) us.*/\1/' <<<"$line")
  a=$(sed -E 's/.*under attack ([0-9]+) us.*/\1/' <<<"$line")
  r=$(sed -E 's/.*\(ratio ([0-9.]+)\).*/\1/' <<<"$line")
  quiet+=("$q") attack+=("$a") ratio+=("$r")
  printf 'run %d (load %s): quiet p99 %s us, attack p99 %s us, ratio %s\n' "$i" "$load" "$q" "$a" "$r"
done
printf 'median of %d: quiet p99 %s us, attack p99 %s us, ratio %s\n' "$RUNS" \
  "$(printf '%s\n' "${quiet[@]}" | median)" "$(printf '%s\n' "${attack[@]}" | median)" \
  "$(printf '%s\n' "${ratio[@]}" | median)"
