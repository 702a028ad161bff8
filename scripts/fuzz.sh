#!/bin/bash
# Runs every libFuzzer target in <build>/fuzz for <secs> seconds each, seeded from the
# committed corpus tests/fuzz/corpus/<target>/ (plus tests/golden for frame targets).
# New inputs go to a scratch directory, never into the committed corpus.
set -u
build=$1; secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
targets=("$build"/fuzz/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then echo "fuzz: no targets built"; exit 0; fi
n=${#targets[@]}
per=$(( secs / n )); [ $per -lt 10 ] && per=10
rc=0
for t in "${targets[@]}"; do
  name=$(basename "$t")
  scratch=$(mktemp -d)
  seeds=()
  [ -d "$root/tests/fuzz/corpus/$name" ] && seeds+=("$root/tests/fuzz/corpus/$name")
  echo "fuzz: $name for ${per}s (seeds: ${seeds[*]:-none})"
  if ! "$t" -max_total_time=$per -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz/$name-" "$scratch" "${seeds[@]}" >"$build/fuzz/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -40 "$build/fuzz/$name.log"; rc=1
  else
    grep -E 'stat::number_of_executed_units|Done' "$build/fuzz/$name.log" | tail -2
  fi
  rm -rf "$scratch"
done
exit $rc
