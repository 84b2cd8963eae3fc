#!/bin/sh
# SPDX-License-Identifier: MIT
# Install into a scratch prefix and build a program against the installed ringtrace.pc, shared
# and static; check that only rt_ symbols are exported. Args: build dir, source dir.
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --no-rebuild >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
libdir=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"][0])')
root="$tmp$prefix"
pc=$(dirname "$(find "$root" -name ringtrace.pc | head -n 1)")
[ -n "$pc" ] || { echo "install-check: ringtrace.pc not installed" >&2; exit 1; }
test -f "$root/include/ringtrace/ringtrace.h"
test -f "$root/include/ringtrace/version.h"
test -f "$root/$libdir/libringtrace.a"
ls "$root/$libdir"/libringtrace.so.* >/dev/null
cflags=$(PKG_CONFIG_SYSROOT_DIR="$tmp" PKG_CONFIG_PATH="$pc" pkg-config --cflags ringtrace)
libs=$(PKG_CONFIG_SYSROOT_DIR="$tmp" PKG_CONFIG_PATH="$pc" pkg-config --libs ringtrace)
cc $cflags -Wall -Wextra -Werror "$src/examples/demo-service.c" -o "$tmp/demo-shared" $libs
cc $cflags -Wall -Wextra -Werror "$src/examples/demo-service.c" -o "$tmp/demo-static" "$root/$libdir/libringtrace.a" -lpthread
LD_LIBRARY_PATH="$root/$libdir" RINGTRACE_DISABLE=1 "$tmp/demo-shared" 0.2 >/dev/null
RINGTRACE_DISABLE=1 "$tmp/demo-static" 0.2 >/dev/null
# Exported symbols: the public API plus the versioned fast-path internals, nothing else.
bad=$(nm -D --defined-only "$root/$libdir"/libringtrace.so.* | awk '{print $3}' | grep -v '^rt_' | grep -v '^rt__' || true)
[ -z "$bad" ] || { echo "install-check: unexpected exported symbols: $bad" >&2; exit 1; }
echo "install-check: ok"
