#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo: start the traced example service, attach `ringtrace record` to it while it runs,
# write Chrome JSON and print what was recorded with span statistics. Args: build dir, seconds.
set -eu
build=${1:-build}
seconds=${2:-6}
out=demo-trace.json

echo "== starting examples/demo-service for ${seconds}s"
echo "   discard mode: nothing is recorded until a consumer attaches; the open spans' begin times"
echo "   are still kept (the default), so spans open at attach time get their true begins."
"$build/examples/demo-service" "$seconds" > /dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 1.5
echo "== live traced processes"
"$build/tools/ringtrace" list | awk 'NR == 1 || $NF == "live"'
echo "== attaching to pid $pid at run time: ringtrace record -p $pid -o $out"
"$build/tools/ringtrace" record -p "$pid" -o "$out" --duration "$((seconds - 2))"
wait $pid || true
trap - EXIT
echo
echo "Open $out in https://ui.perfetto.dev (Open trace file) or chrome://tracing (Load)."
