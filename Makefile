# SPDX-License-Identifier: MIT
# Convenience entry points; the build itself is meson (see meson.build).
#   make demo   install deps if missing, build, run the demo
#   make test   install deps if missing, build, run the tests plain, under ASan+UBSan and TSan, and
#               each fuzz target briefly
#   make bench  run the benchmarks
#   make fuzz   run each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS, one after the other

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
FUZZ_TARGETS ?= record capture segment
FUZZ_SECONDS ?= 60
FUZZ_WORK ?= $(BUILD_FUZZ)/campaign
DEMO_SECONDS ?= 6

.PHONY: all deps build demo test test-plain test-asan test-tsan test-fuzz fuzz bench install clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --werror

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) --werror -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false

$(BUILD_TSAN)/build.ninja:
	meson setup $(BUILD_TSAN) --werror -Db_sanitize=thread -Db_lundef=false -Dbenchmarks=false

# libFuzzer needs clang; clang's warnings differ from gcc's, so this tree is not built with --werror
# (the gcc builds above are the -Werror gate).
$(BUILD_FUZZ)/build.ninja:
	CC=clang meson setup $(BUILD_FUZZ) -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true \
		-Dtests=false -Dbenchmarks=false -Ddocs=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	@./scripts/demo.sh $(BUILD) $(DEMO_SECONDS)

test-plain: build
	meson test -C $(BUILD) --print-errorlogs

test-asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(BUILD_ASAN) --print-errorlogs

# ThreadSanitizer runs the concurrency suite (the overwrite-mode seqlock race is skipped there:
# it is a data race by design, validated by sequence numbers).
test-tsan: deps $(BUILD_TSAN)/build.ninja
	ninja -C $(BUILD_TSAN)
	RT_TSAN=1 TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
		meson test -C $(BUILD_TSAN) --suite concurrency --print-errorlogs

# Each fuzz target briefly (FUZZ_SMOKE_SECONDS, default 20) on its seeds, and every past crash.
test-fuzz: deps $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ)
	meson test -C $(BUILD_FUZZ) --suite fuzz --print-errorlogs

# The longer runs: FUZZ_SECONDS per target, corpora kept in FUZZ_WORK between runs.
fuzz: deps $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ)
	@for t in $(FUZZ_TARGETS); do \
		tests/fuzz/run.sh campaign $(BUILD_FUZZ)/tests/fuzz/fuzz-$$t $$t $(CURDIR)/tests/fuzz $(FUZZ_SECONDS) \
			$(abspath $(FUZZ_WORK)) || exit 1; \
	done

test: test-plain test-asan test-tsan test-fuzz
	@echo "make test: plain, ASan+UBSan, TSan and fuzz smoke suites passed"

bench: build
	@./scripts/bench.sh $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_FUZZ)
