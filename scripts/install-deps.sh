#!/bin/sh
# Installs the Debian packages KiteMQ needs to build and test, only those missing.
# Runs apt-get as root (or through sudo when available). Nothing else is downloaded.
set -e
PKGS="build-essential cmake pkg-config zlib1g-dev libssl-dev libyaml-dev openssl libcmocka-dev clang clang-format libclang-rt-14-dev"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# The conformance suite drives the broker with a real Node.js RocketMQ client.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
# The Go conformance suite needs a go toolchain (Debian 12's golang-go is 1.19; the suite's
# go.mod asks for no newer one). tests/conformance-go/run.sh also looks in /usr/local/go.
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || missing="$missing golang-go"
# The Java conformance suite: a JDK >= 17 and Maven (artifacts come from Maven Central).
java_ok() {
  command -v javac >/dev/null 2>&1 || return 1
  v=$(javac -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p')
  [ -n "$v" ] && [ "$v" -ge 17 ]
}
java_ok || missing="$missing default-jdk-headless"
command -v mvn >/dev/null 2>&1 || missing="$missing maven"
# it_repl_netns runs brokers in network namespaces it creates with `ip netns` (iproute2).
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
# The differential test (tests/reference) and scripts/rocketmq-ref.sh are Python 3 (stdlib).
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO=sudo
$SUDO apt-get update -qq || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
