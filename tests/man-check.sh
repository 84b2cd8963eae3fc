#!/bin/sh
# SPDX-License-Identifier: MIT
# The manual pages render with `man -l` at 80 columns without warnings, document every subcommand,
# record option, public function and environment variable, and install where `man` finds them.
# Args: build dir, source dir, ringtrace.1, ringtrace.3.
set -eu
build=$1
src=$2
page1=$3
page3=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

render() {
	MANWIDTH=80 MANPAGER=cat MAN_KEEP_FORMATTING= man --warnings -l "$1" >"$tmp/out" 2>"$tmp/err" || {
		echo "man-check: man -l $1 failed" >&2; cat "$tmp/err" >&2; exit 1; }
	if [ -s "$tmp/err" ]; then
		echo "man-check: man -l $1 warns:" >&2; cat "$tmp/err" >&2; exit 1
	fi
	col -b <"$tmp/out" >"$2"
}

# Each argument after the file is a line (fixed string) that must be in it.
need() {
	f=$1
	shift
	for want in "$@"; do
		if ! grep -qF -- "$want" "$f"; then
			echo "man-check: $(basename "$f" .txt) lacks: $want" >&2
			fail=1
		fi
	done
}

render "$page1" "$tmp/ringtrace.1.txt"
render "$page3" "$tmp/ringtrace.3.txt"
need "$tmp/ringtrace.1.txt" NAME SYNOPSIS DESCRIPTION COMMANDS OUTPUTS ENVIRONMENT "EXIT STATUS" FILES EXAMPLES \
	"   ringtrace list" "   ringtrace record" "   ringtrace convert" "   ringtrace dump" "   ringtrace clean" \
	"   ringtrace help" "   ringtrace serve" "   ringtrace stats" "   ringtrace top" "   ringtrace diff" \
	-p, --pid --all --output --raw --duration --max-backlog --poll-us --quiet --version --stats-file --listen \
	--fail-on-regression --window
need "$tmp/ringtrace.3.txt" NAME SYNOPSIS DESCRIPTION FUNCTIONS "THREAD AND SIGNAL SAFETY" ENVIRONMENT EXAMPLES

# Every public function of the installed headers, and every variable the library and the tool read.
for fn in $(cat "$src"/libtrace/include/ringtrace/*.h | sed -n 's/^\(RT_API\|__attribute__((visibility("default")))\) [^(]*[ *]\(rt_[a-z][a-z_]*\)(.*/\2/p'); do
	need "$tmp/ringtrace.3.txt" "$fn("
done
for var in $(grep -rhoE 'getenv\("RINGTRACE_[A-Z_]+' "$src/libtrace/src" "$src/consumer" "$src/tools" | sed 's/getenv("//' | sort -u); do
	need "$tmp/ringtrace.1.txt" "$var"
	need "$tmp/ringtrace.3.txt" "$var"
done

# Installed where man looks: share/man/man1 and man3 under the prefix.
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --tags man >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
mandir=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="mandir"][0])')
MANPAGER=cat MANWIDTH=80 man -M "$tmp/root$prefix/$mandir" 1 ringtrace | grep -q "ringtrace record" || {
	echo "man-check: 'man ringtrace' does not find the installed page" >&2; fail=1; }
MANPAGER=cat MANWIDTH=80 man -M "$tmp/root$prefix/$mandir" 3 ringtrace | grep -q "rt_span_begin" || {
	echo "man-check: 'man 3 ringtrace' does not find the installed page" >&2; fail=1; }
[ "$fail" = 0 ] && echo "man-check: ok"
exit "$fail"
