# SPDX-License-Identifier: MIT
# Convenience entry points; the build itself is meson (see meson.build).
#   make demo   install deps if missing, build, run the demo
#   make test   install deps if missing, build, run the tests plain, under ASan+UBSan and TSan
#   make bench  run the benchmarks

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
DEMO_SECONDS ?= 6

.PHONY: all deps build demo test test-plain test-asan test-tsan bench install clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --werror

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) --werror -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false

$(BUILD_TSAN)/build.ninja:
	meson setup $(BUILD_TSAN) --werror -Db_sanitize=thread -Db_lundef=false -Dbenchmarks=false

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

test: test-plain test-asan test-tsan
	@echo "make test: plain, ASan+UBSan and TSan suites passed"

bench: build
	@./scripts/bench.sh $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN)
