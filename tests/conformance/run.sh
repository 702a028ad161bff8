#!/usr/bin/env bash
# Runs the ali-ons conformance scenarios (tests/conformance/scenarios/*.test.js) against
# kite-namesrv + kite-broker from $KITE_BIN (default ../../build/bin). A missing node,
# npm or ali-ons is a failure, never a skip. Installs the pinned packages with `npm ci`
# when node_modules is missing or older than package-lock.json, bounds the whole run with
# `timeout`, and exits non-zero on any failure. Usage: run.sh [scenario files...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 1
export KITE_BIN="${KITE_BIN:-$here/../../build/bin}"
TOTAL_SECS="${KITE_CONF_TIMEOUT:-300}"

fail() { echo "conformance: FAIL: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node not found (install Node.js >= 18 with npm)"
command -v npm >/dev/null 2>&1 || fail "npm not found (install npm)"
command -v timeout >/dev/null 2>&1 || fail "timeout (coreutils) not found"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || fail "node $(node --version) is too old; node:test needs >= 18"
[ -x "$KITE_BIN/kite-namesrv" ] && [ -x "$KITE_BIN/kite-broker" ] ||
  fail "kite-namesrv/kite-broker not found in KITE_BIN=$KITE_BIN (build with make)"

# npm ci when node_modules is missing or stale (lockfile newer than the install stamp)
stamp=node_modules/.package-lock.json
stale() { [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -f node_modules/ali-ons/package.json ]; }
if stale; then
  # one installer at a time (a normal and an ASan ctest run may share this source tree)
  exec 9>"${TMPDIR:-/tmp}/kite-conformance-npm.lock"
  command -v flock >/dev/null 2>&1 && flock -w 600 9
  if stale; then
    echo "conformance: npm ci"
    ci_log=$(mktemp "${TMPDIR:-/tmp}/kite-conformance-npm.XXXXXX")
    timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$ci_log" 2>&1 ||
      { cat "$ci_log" >&2; rm -f "$ci_log"; fail "npm ci failed"; }
    rm -f "$ci_log"
  fi
  exec 9>&-
fi
node -e 'require("ali-ons")' 2>/dev/null || fail "ali-ons cannot be loaded from $here/node_modules"
echo "conformance: ali-ons $(node -p 'require("ali-ons/package.json").version'), node $(node --version), KITE_BIN=$KITE_BIN"

if [ $# -gt 0 ]; then files=("$@"); else files=(scenarios/*.test.js); fi
[ -e "${files[0]}" ] || fail "no scenario files"

args=(--test --test-reporter=spec)
# flags newer nodes have: one file at a time, and exit once the tests are done
node --help 2>/dev/null | grep -q -- '--test-concurrency' && args+=(--test-concurrency=1)
node --help 2>/dev/null | grep -q -- '--test-force-exit' && args+=(--test-force-exit)

# the harness puts each cluster's data and daemon logs under $TMPDIR: one dir per run,
# removed when everything passed
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/kite-conformance.XXXXXX") || fail "mktemp failed"
export TMPDIR="$run_tmp"

# timeout puts node, its test-file processes and the daemons in one process group and
# signals the whole group when the time is up; the harness also kills its daemons by PID.
timeout --kill-after=15 "$TOTAL_SECS" node "${args[@]}" "${files[@]}" 2>&1 | tee "$run_tmp/run.log"
rc=${PIPESTATUS[0]}
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  for log in "$run_tmp"/*/broker.log; do
    [ -f "$log" ] && { echo "--- tail of $log ---"; tail -n 30 "$log"; } >&2
  done
  fail "scenarios did not finish within ${TOTAL_SECS} s (logs under $run_tmp)"
fi
[ $rc -eq 0 ] || fail "scenario run exited with $rc (kept logs, if any, under $run_tmp)"
# a todo or skipped scenario passes node's runner but proves nothing: count it as a failure
if grep -Eq '^ℹ (todo|skipped) [1-9]' "$run_tmp/run.log"; then
  fail "todo or skipped scenarios: $(grep -E '^ℹ (todo|skipped) ' "$run_tmp/run.log" | tr '\n' ' ')"
fi
rm -rf "$run_tmp"
echo "conformance: all scenarios passed"
