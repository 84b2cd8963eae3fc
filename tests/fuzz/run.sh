#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one libFuzzer target: `smoke` (make test: every past crash once, then a short run on the
# committed seeds) or `campaign` (make fuzz: a longer run that keeps its corpus in a work directory).
#
#   run.sh smoke    FUZZER NAME SRCDIR SECONDS
#   run.sh campaign FUZZER NAME SRCDIR SECONDS WORKDIR
#
# SRCDIR holds NAME.options (libFuzzer flags, one per line: limits on memory, time and input size),
# corpus/NAME/ (seeds, never written to) and crashes/NAME/ (every input that ever failed). New
# inputs go to a scratch directory (smoke) or WORKDIR/corpus/NAME (campaign); a failing input is
# left in WORKDIR/artifacts/NAME/ (campaign) or a kept scratch directory (smoke), named in the output.
set -eu

mode=$1 fuzzer=$2 name=$3 src=$4 seconds=$5
# make test-fuzz FUZZ_SMOKE_SECONDS=N overrides the smoke time the build was configured with.
[ "$mode" = smoke ] && seconds=${FUZZ_SMOKE_SECONDS:-$seconds}
# Dictionaries are named relative to SRCDIR.
opts=$(grep -v '^#' "$src/$name.options" | sed "s|^-dict=|-dict=$src/|" | tr '\n' ' ')
seeds="$src/corpus/$name"
crashes="$src/crashes/$name"
# Read-only corpus directories that exist (git keeps no empty crashes/NAME/).
dirs=""
for d in "$seeds" "$crashes"; do
	[ -d "$d" ] && dirs="$dirs $d"
done
# One process fuzzing in place: libFuzzer's default (any -jobs, even 1, forks workers that log to
# fuzz-N.log in the current directory instead).
common="-print_final_stats=1 ${FUZZ_FLAGS:-}" # FUZZ_FLAGS: more libFuzzer flags (e.g. -len_control=0)

case $mode in
smoke)
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/rt-fuzz-$name.XXXXXX")
	# Every past crash, each once: a regression test.
	set -- "$crashes"/*
	if [ -e "$1" ]; then
		echo "== $name: $# past crash inputs"
		# shellcheck disable=SC2086
		if ! "$fuzzer" $opts "-artifact_prefix=$scratch/" "$@"; then
			echo "$name: a past crash input fails again (see above); scratch kept in $scratch" >&2
			exit 1
		fi
	fi
	# A regression test, not a search: the same seed every time (FUZZ_SMOKE_SEED to vary it) and at
	# most NAME.options' "# smoke-runs: N" inputs, so a faster machine does not go further along the
	# sequence than the runs that passed here; `make fuzz` is the search.
	runs=$(sed -n 's/^# smoke-runs: *//p' "$src/$name.options")
	echo "== $name: at most $seconds s and ${runs:-unlimited} inputs on the seeds, seed ${FUZZ_SMOKE_SEED:-1}"
	mkdir "$scratch/corpus"
	# shellcheck disable=SC2086
	if ! "$fuzzer" $opts $common "-seed=${FUZZ_SMOKE_SEED:-1}" ${runs:+"-runs=$runs"} "-max_total_time=$seconds" \
		"-artifact_prefix=$scratch/" "$scratch/corpus" $dirs; then
		echo "$name: new failing input in $scratch (copy it to $crashes/ with the fix)" >&2
		exit 1
	fi
	rm -rf "$scratch"
	;;
campaign)
	work=$6
	mkdir -p "$work/corpus/$name" "$work/artifacts/$name"
	echo "== $name: $seconds s, corpus $work/corpus/$name, log $work/$name.log"
	# shellcheck disable=SC2086
	if ! "$fuzzer" $opts $common "-max_total_time=$seconds" "-artifact_prefix=$work/artifacts/$name/" \
		"$work/corpus/$name" $dirs >"$work/$name.log" 2>&1; then
		tail -n 40 "$work/$name.log"
		echo "$name: failing input in $work/artifacts/$name/ (copy it to $crashes/ with the fix)" >&2
		exit 1
	fi
	# Executions and coverage (cov = edges, ft = features) of this run.
	grep -aE '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/$name.log" || true
	;;
*)
	echo "usage: run.sh smoke|campaign FUZZER NAME SRCDIR SECONDS [WORKDIR]" >&2
	exit 2
	;;
esac
