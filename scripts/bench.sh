#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the benchmarks from build dir $1 and print their tables.
set -eu
build=${1:-build}
"$build/benchmarks/bench-span"
echo
"$build/benchmarks/bench-consumer" "$build/tools/ringtrace"
