#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the benchmarks from build dir $1 and print their tables.
set -eu
build=${1:-build}
# The library linked statically and as libringtrace.so (as applications link it), same rounds.
"$build/benchmarks/bench-span" "$build/tools/ringtrace" --compare "$build/benchmarks/bench-span-so"
echo
"$build/benchmarks/bench-sharing"
echo
"$build/benchmarks/bench-consumer" "$build/tools/ringtrace"
if [ -x "$build/tests/ws-driver" ]; then
	echo
	RT_WS_DRIVER="$build/tests/ws-driver" RT_TOOL="$build/tools/ringtrace" RT_BENCH_PRODUCER="$build/benchmarks/bench-consumer" node "$(dirname "$0")/../benchmarks/bench-ws.mjs"
fi
