# KiteMQ top-level Makefile: drives CMake/CTest. The targets are the whole user interface:
#   make / make run / make cluster / make test / make asan / make fuzz / make test-long /
#   make bench / make format / make format-check
# Dependencies are Debian packages, installed on demand by scripts/install-deps.sh.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
# Tests mostly wait on daemons (user CPU is about a third of wall time), so ctest runs one
# more test at a time than there are build jobs.
TEST_JOBS  ?= $(shell echo $$(( $(JOBS) + 1 )))
FUZZ_SECS  ?= 60
CTEST_ARGS ?=

.PHONY: all deps configure daemons run cluster cluster-down test asan fuzz test-long bench format \
	format-check clean

all: deps configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

configure: $(BUILD)/CMakeCache.txt
$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

daemons: deps configure
	cmake --build $(BUILD) -j $(JOBS) --target kite-namesrv kite-broker kite-fsck kite-bench kite-admin example_producer example_consumer

run: daemons
	scripts/run.sh $(BUILD)

# 2 name servers and 2 broker groups (master + slave each) on 127.0.0.1, under ./cluster.
cluster: daemons
	scripts/cluster.sh up $(BUILD)

cluster-down:
	scripts/cluster.sh down $(BUILD)

# Test daemons keep their stores under <build>/testtmp; each run starts from an empty one.
test: all
	rm -rf $(BUILD)/testtmp
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) -LE long $(CTEST_ARGS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKITE_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	rm -rf $(ASAN_BUILD)/testtmp
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(TEST_JOBS) -LE 'long|reference' $(CTEST_ARGS)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKITE_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECS)

test-long: all
	rm -rf $(BUILD)/testtmp
	cd $(BUILD) && ctest --output-on-failure -L long $(CTEST_ARGS)

bench: all
	@echo "benchmarks are in $(BUILD)/tests/bench_* and $(BUILD)/bin; see README, Performance"

# C formatting: .clang-format (clang-format 14, Debian 12); CI runs the check.
format: deps
	scripts/check-format.sh --fix

format-check: deps
	scripts/check-format.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
