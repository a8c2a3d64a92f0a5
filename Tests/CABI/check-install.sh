#!/usr/bin/env bash
# `make install` into a scratch prefix, then build examples/ring_demo.c the way a firmware project would
# (pkg-config only, no paths into this repo) and run it against the installed library.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
passed=0 failed=0
result() { if [ "$1" -eq 0 ]; then echo "PASS $2"; passed=$((passed + 1)); else echo "FAIL $2"; failed=$((failed + 1)); fi; }

make -C "$top" install PREFIX="$prefix" >/dev/null
result $? "make install PREFIX=..."
for f in include/edgecore.h lib/libEdgeCore.a lib/libEdgeCore.so lib/pkgconfig/edgecore.pc; do
  [ -e "$prefix/$f" ]; result $? "installed $f"
done
soname_link=$(readlink "$prefix/lib/libEdgeCore.so")
[ -e "$prefix/lib/$soname_link" ] && [[ "$soname_link" == libEdgeCore.so.[0-9]* ]]
result $? "libEdgeCore.so -> $soname_link (soname link)"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion edgecore)" = "$(sed -n 's/^#define EDGECORE_VERSION_STRING "\(.*\)"/\1/p' "$top/include/edgecore.h")" ]
result $? "pkg-config --modversion edgecore matches the header"

demo=$prefix/ring_demo
# shellcheck disable=SC2046  # pkg-config output is a list of flags
gcc -std=c11 -Wall -Wextra -Werror -pedantic "$top/examples/ring_demo.c" $(pkg-config --cflags --libs edgecore) \
  -lpthread -Wl,-rpath,"$prefix/lib" -o "$demo"
result $? "examples/ring_demo.c builds with pkg-config --cflags --libs edgecore"
output=$(timeout 60 "$demo" 12)
status=$?
[ $status -eq 0 ] && echo "$output" | grep -q '^published 12 drained 12 dropped 0 rejected 0$' &&
  [ "$(echo "$output" | grep -c '^channel ')" -eq 12 ] && echo "$output" | grep -q 'channel 3 seq 3 timeout'
result $? "ring_demo runs against the installed .so and reports 12 readings"

# shellcheck disable=SC2046  # static: the libraries EdgeCore uses come from Requires.private/Libs.private
gcc -std=c11 "$top/examples/ring_demo.c" -static-libgcc $(pkg-config --cflags edgecore) "$prefix/lib/libEdgeCore.a" \
  $(pkg-config --static --libs edgecore | sed 's/-lEdgeCore//') -lpthread -o "$demo-static"
result $? "examples/ring_demo.c links statically with libEdgeCore.a (pkg-config --static)"
timeout 60 "$demo-static" 6 | grep -q '^published 6 drained 6 dropped 0 rejected 0$'
result $? "statically linked ring_demo runs"

# The tool, the gateway and what comes with them: no build-tree rpath, they run against the installed library.
for f in bin/edgecore bin/edgecore-gateway share/edgecore/profiles/eastron-sdm630.yaml share/man/man1/edgecore.1 \
         share/man/man3/edgecore.h.3 share/bash-completion/completions/edgecore \
         lib/systemd/system/edgecore-gateway.service lib/sysusers.d/edgecore-tools.conf etc/default/edgecore-gateway; do
  [ -e "$prefix/$f" ]; result $? "installed $f"
done
for b in edgecore edgecore-gateway; do
  ! readelf -d "$prefix/bin/$b" | grep -qE 'R(UN)?PATH'
  result $? "bin/$b carries no rpath"
done
[ "$(LD_LIBRARY_PATH=$prefix/lib "$prefix/bin/edgecore" --version)" = "edgecore $(pkg-config --modversion edgecore) (libEdgeCore $(pkg-config --modversion edgecore))" ]
result $? "installed edgecore --version runs against the installed library"
LD_LIBRARY_PATH=$prefix/lib "$prefix/bin/edgecore-gateway" --version >/dev/null
result $? "installed edgecore-gateway --version runs"
grep -q "^ExecStart=$prefix/bin/edgecore-gateway " "$prefix/lib/systemd/system/edgecore-gateway.service"
result $? "the unit runs the installed gateway"
warnings=$(for page in "$prefix"/share/man/man*/*; do LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1; done)
[ -z "$warnings" ] && man -l "$prefix/share/man/man1/edgecore.1" 2>/dev/null | grep -q 'EXIT STATUS'
result $? "installed man pages render without groff warnings${warnings:+: $warnings}"
echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
