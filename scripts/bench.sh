#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the benchmarks from build dir $1 and print their tables.
set -eu
build=${1:-build}
"$build/benchmarks/bench-span" "$build/tools/ringtrace"
echo
"$build/benchmarks/bench-consumer" "$build/tools/ringtrace"
