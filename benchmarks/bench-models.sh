#!/bin/sh
# SPDX-License-Identifier: MIT
# The recorded span against models of its pieces, in the host core's two states
# (docs/performance.md, "On a Zen 3 host"): ROUNDS interleaved rounds of the library (bench-span's
# overwrite configuration, nobody reading, one thread), the Tracy model and the three record models
# of bench-record-model.c, each slice counted slow when its store burst took over SLOW_NS per store.
# Prints, per binary and state, the slices and the median of thread CPU time over two rdtsc.
#   benchmarks/bench-models.sh [BUILD [ROUNDS [SLOW_NS]]]
set -eu
build=${1:-build}
rounds=${2:-10}
slow=${3:-0.22}
b=$build/benchmarks
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# One repetition of a bench-span configuration on one thread: its 16 slices, "store ratio" a line
# (the fields after the sample's 13 scalars: stores of worker 0, of worker 1, ratios of worker 0).
span_slices() {
	state=$1
	shift
	env -u RINGTRACE_DISABLE -u RINGTRACE_TRACK_SPANS -u RINGTRACE_MODE -u RINGTRACE_TRACE_FILE "$@" \
		"$b/bench-span" --child "$state" 1 ringtrace |
		awk '{ for (k = 0; k < 16; k++) print $(14 + k), $(46 + k) }'
}

i=0
while [ "$i" -lt "$rounds" ]; do
	span_slices overwrite RINGTRACE_MODE=overwrite >>"$tmp/library"
	span_slices tracy-model >>"$tmp/tracy"
	for m in bench-record-model-direct bench-record-model-single bench-record-model; do
		"$b/$m" 30 "$slow" | grep -v slices >>"$tmp/$m"
	done
	i=$((i + 1))
done

echo "slices slow above $slow ns per store; thread CPU time per span over two rdtsc, medians ($rounds rounds)"
for f in library tracy bench-record-model-direct bench-record-model-single bench-record-model; do
	line=$(printf '%-28s' "$f")
	for state in fast slow; do
		awk -v s="$slow" -v st="$state" '$1 > 0 && ((st == "slow") == ($1 > s)) { print $2 }' "$tmp/$f" |
			sort -g >"$tmp/x"
		n=$(wc -l <"$tmp/x")
		med=$(awk -v n="$n" 'NR == int((n + 1) / 2) { a = $1 } NR == int(n / 2) + 1 { b = $1 }
			END { if (n) printf "%.3f", (a + b) / 2; else printf "-" }' "$tmp/x")
		line="$line  $state: $(printf '%4d' "$n") slices, median $med"
	done
	echo "$line"
done
