#!/bin/sh
# SPDX-License-Identifier: MIT
# `ringtrace top` in a real terminal: tmux runs it attached to a traced program; the test reads the
# screen (capture-pane), presses m (merge), s (sort) and q (quit), and checks the rows each time.
# Args: the ringtrace command, the traced test program.
set -eu
tool=$1
producer=$2
command -v tmux >/dev/null 2>&1 || { echo "top-tmux: tmux is missing (scripts/install-deps.sh installs it)"; exit 1; }
dir=$(mktemp -d /tmp/rt-top-XXXXXX)
sock="rt-top-$$"
prod=""
cleanup() {
	status=$?
	tmux -L "$sock" kill-server 2>/dev/null || true
	if [ -n "$prod" ]; then
		kill "$prod" 2>/dev/null || true
		wait "$prod" 2>/dev/null || true
		# Killed, it left its segments (under this test's RINGTRACE_SHM_PREFIX): remove them.
		"$tool" clean -q >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	exit $status
}
trap cleanup EXIT

fail() {
	echo "top-tmux: $*"
	echo "--- the screen:"
	cat "$dir/pane" 2>/dev/null || true
	exit 1
}

# Wait (at most 30 s) until the screen has a line matching the extended regex $1.
screen_has() {
	i=0
	while [ $i -lt 150 ]; do
		tmux -L "$sock" capture-pane -p -t top > "$dir/pane" 2>/dev/null || true
		grep -Eq -- "$1" "$dir/pane" && return 0
		sleep 0.2
		i=$((i + 1))
	done
	fail "no line matching '$1' on the screen"
}

"$producer" --threads 2 --spans 20 --forever --ready "$dir/ready" &
prod=$!
i=0
while [ ! -e "$dir/ready" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$dir/ready" ] || fail "the traced program did not start"

# Another consumer on this shared machine (a `record -a`) may hold the program: try a few times.
attempt=0
while :; do
	attempt=$((attempt + 1))
	rm -f "$dir/status"
	tmux -L "$sock" -f /dev/null new-session -d -s top -x 160 -y 40 \
		"$tool top -p $prod 2> $dir/err; echo \$? > $dir/status; sleep 600"
	i=0
	while [ $i -lt 100 ] && [ ! -e "$dir/status" ]; do
		tmux -L "$sock" capture-pane -p -t top > "$dir/pane" 2>/dev/null || true
		grep -q '^work ' "$dir/pane" && break
		sleep 0.2
		i=$((i + 1))
	done
	if [ -e "$dir/status" ] && grep -q "another consumer" "$dir/err" && [ $attempt -lt 5 ]; then
		tmux -L "$sock" kill-server 2>/dev/null || true
		sleep 1
		continue
	fi
	break
done

# Full screen: the header, the column titles, a row per span name with this pid.
screen_has "^ringtrace top  pid $prod "
screen_has "^span +pid +rate/s +busy +p50 +p99 +max +count +p50 all +p99 all +flagged"
screen_has "^work +$prod +[0-9.]+ +[0-9.]+% "
screen_has "^inner +$prod +[0-9.]+ +[0-9.]+% "
# m: one row per name over processes (pid shown as *).
tmux -L "$sock" send-keys -t top m
screen_has "^work +\* +[0-9.]+ "
# s: the next sort key.
tmux -L "$sock" send-keys -t top s
screen_has "sort count"
# q: quits with status 0 and leaves the last frame on the normal screen.
tmux -L "$sock" send-keys -t top q
i=0
while [ ! -e "$dir/status" ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
[ -e "$dir/status" ] || fail "q did not quit"
[ "$(cat "$dir/status")" = 0 ] || fail "exit status $(cat "$dir/status"): $(cat "$dir/err")"
screen_has "^work +\* +"
grep -q '\[q\]uit' "$dir/pane" && fail "the last frame still offers keys"
echo "top-tmux: ok"
