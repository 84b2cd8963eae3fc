#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages and npm modules ringtrace builds and tests with; does nothing when
# everything is present.
set -eu
cd "$(dirname "$0")/.."

# Build: compiler, meson, the libraries. Tests: cmocka, python3, clang + its sanitizer runtimes
# (libFuzzer), chromium (the live page), man-db (man -l), scdoc (man pages), zlib (.json.gz),
# libbenchmark-tools + python3-scipy (Google Benchmark's compare.py reads the statistics export), tmux
# (drives `ringtrace top` in a terminal).
PACKAGES="build-essential meson ninja-build pkg-config liburcu-dev libmsgpack-dev libwebsockets-dev libcmocka-dev
zlib1g-dev scdoc python3 clang libclang-rt-14-dev chromium man-db procps util-linux libbenchmark-tools python3-scipy tmux"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Node.js runs the viewers the tests check output with (DevTools trace engine, speedscope) and a
# websocket client; any Node.js >= 18 will do, Debian's included.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

SUDO=""
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root (or sudo) to install:$missing" >&2; exit 1; }
		SUDO=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# npm modules, exactly as locked, into tests/js/node_modules (not committed).
if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
	echo "install-deps: npm ci in tests/js"
	(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
	touch tests/js/node_modules
fi
