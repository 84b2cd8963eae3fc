#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo: start the traced example service, attach a consumer to it while it runs, and show
# what it recorded. Args: build dir, seconds.
set -eu
build=${1:-build}
seconds=${2:-6}
out=demo-dump.txt

echo "== starting examples/demo-service for ${seconds}s"
echo "   (discard mode: nothing is recorded until a consumer attaches; RINGTRACE_TRACK_SPANS=1 keeps"
echo "    the open spans' true begin times so that the consumer learns them when it attaches)"
RINGTRACE_TRACK_SPANS=1 "$build/examples/demo-service" "$seconds" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 1.5
echo "== live traced processes"
"$build/tools/ringtrace" list | awk 'NR == 1 || $NF == "live"'
echo "== attaching to pid $pid at run time for 2 s"
"$build/tools/ringtrace" dump -p "$pid" --duration 2 > "$out"
wait $pid
trap - EXIT
echo "== $(grep -vc '^#' "$out") records decoded (full dump in $out); by kind:"
grep -v '^#' "$out" | awk '{print $3}' | sort | uniq -c | sort -rn
echo "== first records after attaching (a STACK snapshot shows the spans already open):"
grep -v '^#' "$out" | head -n 12
echo "== a log line with its ID stack:"
grep -m 1 '\[http\]' "$out" || true
