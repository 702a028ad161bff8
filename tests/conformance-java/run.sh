#!/usr/bin/env bash
# Runs the Java conformance suite for one client version: run.sh rmq4|rmq5 [-Dtest=...].
# Maven (profile rmq4 = rocketmq-client 4.9.8, rmq5 = 5.5.0) compiles the scenarios and runs
# them twice, JSON then ROCKETMQ request headers, each in its own JVM, and TlsTest (tag tls)
# twice more in JVMs with the client's TLS system properties; the scenarios start
# their own kite-namesrv + kite-broker from $KITE_BIN. A missing java or mvn is a failure,
# never a skip. The Maven repository is the default ~/.m2: the first run downloads from
# Maven Central (one run at a time, under a lock), later runs are offline (-o) once a stamp
# says this pom's artifacts are all there. The run is bounded with `timeout`; daemons the
# tests started are killed by PID afterwards if still alive (a killed JVM cannot stop them).
# Passes only when both encodings ran tests (without -Dtest: in the plain and the TLS JVMs
# alike) and none failed, errored or was skipped.
set -u
here=$(cd "$(dirname "$0")" && pwd)
profile=${1:-}
case "$profile" in
rmq4 | rmq5) shift ;;
*) echo "usage: $0 rmq4|rmq5 [maven args...]" >&2; exit 2 ;;
esac
export KITE_BIN="${KITE_BIN:-$here/../../build/bin}"
out="${KITE_CJ_OUT:-$KITE_BIN/../conformance-java/$profile}"
TOTAL_SECS="${KITE_CJ_TIMEOUT:-900}"

fail() { echo "conformance-java $profile: FAIL: $*" >&2; exit 1; }

command -v java >/dev/null 2>&1 || fail "java not found (install a JDK >= 17: scripts/install-deps.sh)"
command -v mvn >/dev/null 2>&1 || fail "mvn not found (install maven: scripts/install-deps.sh)"
command -v timeout >/dev/null 2>&1 || fail "timeout (coreutils) not found"
[ -x "$KITE_BIN/kite-namesrv" ] && [ -x "$KITE_BIN/kite-broker" ] ||
  fail "kite-namesrv/kite-broker not found in KITE_BIN=$KITE_BIN (build with make)"
KITE_BIN=$(cd "$KITE_BIN" && pwd)
mkdir -p "$out" || fail "cannot create $out"
out=$(cd "$out" && pwd)

# fresh per run: reports, client logs, the daemons' directories and the PID list
rm -rf "$out"/reports-* "$out"/client-log-* "$out"/offsets-* "$out"/tls-* "$out/tmp" "$out/daemons.pid"
mkdir -p "$out/tmp"
export KITE_CJ_TMP="$out/tmp" KITE_CJ_PIDFILE="$out/daemons.pid"
kill_leftovers() {
  [ -f "$KITE_CJ_PIDFILE" ] || return 0
  while read -r pid; do
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || continue
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$KITE_BIN/kite-"; then
      echo "conformance-java $profile: killing leftover daemon $pid" >&2
      kill -9 "$pid" 2>/dev/null
    fi
  done <"$KITE_CJ_PIDFILE"
}
trap kill_leftovers EXIT

repo="${KITE_CJ_M2:-$HOME/.m2/repository}"
mkdir -p "$repo"
stamp="$repo/.kite-conformance-java-$profile-$(sha256sum "$here/pom.xml" | cut -c1-16)"
mvn_args=(-B -ntp -Dstyle.color=never -f "$here/pom.xml" "-Dmaven.repo.local=$repo" "-P$profile" "-Dkite.out=$out"
  -Dmaven.test.failure.ignore=true)
log="$out/mvn.log"

run_mvn() {   # $@ = extra maven args; output to the terminal and $log
  timeout --kill-after=15 "$TOTAL_SECS" mvn "${mvn_args[@]}" "$@" test 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | tee "$log"
  return "${PIPESTATUS[0]}"
}

echo "conformance-java $profile: $(java -version 2>&1 | head -1), $(mvn -B -v 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | head -1), KITE_BIN=$KITE_BIN"
if [ -f "$stamp" ]; then
  run_mvn -o "$@"
  rc=$?
  # an artifact missing after all (the stamp is older than a change): once more, online
  if [ $rc -ne 0 ] && grep -q "offline mode" "$log"; then
    rm -f "$stamp"
  fi
fi
if [ ! -f "$stamp" ]; then
  # one downloader at a time: two versions (or a normal and an ASan run) may start together
  exec 9>"$repo/.kite-conformance-java.lock"
  command -v flock >/dev/null 2>&1 && flock -w 900 9
  run_mvn "$@"
  rc=$?
  exec 9>&-
fi
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  fail "did not finish within ${TOTAL_SECS} s (logs under $out)"
fi
[ $rc -eq 0 ] || fail "maven exited with $rc (see $log)"
touch "$stamp"

# the verdict, from surefire's XML reports: per encoding, the plain JVM's and the TLS JVM's
attr() {   # $1 = report, $2 = attribute of its <testsuite>
  local v
  v=$(grep -o '<testsuite [^>]*' "$1" | head -1 | grep -o " $2=\"[0-9]*\"" | grep -o '[0-9][0-9]*')
  echo "${v:-0}"
}
filtered=0   # -Dtest=...: a JVM may have run none of the chosen classes
for a in "$@"; do
  case "$a" in -Dtest=*) filtered=1 ;; esac
done
total_fail=0
total_pass=0
for enc in json rocketmq; do
  enc_tests=0
  for jvm in "" tls-; do
    t=0 f=0 e=0 s=0
    for x in "$out/reports-$jvm$enc"/TEST-*.xml; do
      [ -f "$x" ] || continue
      t=$((t + $(attr "$x" tests))); f=$((f + $(attr "$x" failures)))
      e=$((e + $(attr "$x" errors))); s=$((s + $(attr "$x" skipped)))
    done
    echo "conformance-java $profile $jvm$enc: $t tests, $f failed, $e errors, $s skipped"
    [ "$t" -gt 0 ] || [ $filtered -eq 1 ] || fail "no test ran in the $jvm$enc JVM (reports in $out/reports-$jvm$enc)"
    enc_tests=$((enc_tests + t))
    total_pass=$((total_pass + t - f - e - s))
    total_fail=$((total_fail + f + e + s))
  done
  [ "$enc_tests" -gt 0 ] || fail "no test ran with the $enc encoding"
done
if [ $total_fail -ne 0 ]; then
  grep -E '^\[ERROR\] +[A-Za-z]+Test\.' "$log" | sed 's/^/  /' >&2
  fail "$total_fail scenario run(s) failed or were skipped (client logs and kept daemon dirs under $out)"
fi
rm -rf "$out/tmp" "$out"/tls-*
echo "conformance-java $profile: $total_pass passed, 0 failed"
