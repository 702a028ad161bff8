#!/bin/bash
# Runs every libFuzzer target in <build>/fuzz for <secs> seconds each, seeded from the
# committed corpus tests/fuzz/corpus/<target>/ (the frame and body seeds there are copies
# of tests/golden files).
# New inputs go to a scratch directory, never into the committed corpus.
# Fails (exit 1) when a target of tests/fuzz/fuzz_*.c was not built, so a build without
# fuzzers (no clang, KITE_FUZZ off) can never pass as "nothing to fuzz".
set -u
if [ $# -lt 1 ]; then echo "usage: fuzz.sh <build dir> [seconds]" >&2; exit 2; fi
build=$1; secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
sources=("$root"/tests/fuzz/fuzz_*.c)
if [ ${#sources[@]} -eq 0 ]; then echo "fuzz: FAIL: no fuzz targets in $root/tests/fuzz" >&2; exit 1; fi
targets=(); missing=()
for src in "${sources[@]}"; do
  name=$(basename "$src" .c)
  if [ -x "$build/fuzz/$name" ]; then targets+=("$build/fuzz/$name"); else missing+=("$name"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: FAIL: target(s) not built in $build/fuzz: ${missing[*]} (needs clang and -DKITE_FUZZ=ON: make fuzz)" >&2
  exit 1
fi
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
