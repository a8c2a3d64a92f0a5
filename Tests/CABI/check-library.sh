#!/usr/bin/env bash
# Check a built libEdgeCore: check-library.sh ARCH OUTDIR [TOOLPREFIX]
#  - the .so exports exactly the functions include/edgecore.h declares, and so does the .a (globally);
#  - NEEDED names no Swift runtime library, only the C libraries EdgeCore is allowed to use;
#  - the soname is libEdgeCore.so.MAJOR; no text relocations;
#  - prints the stripped size.
set -u
arch=$1 out=$2 tp=${3:-}
# This version's library (a build folder may still hold an earlier version's next to it).
so="$out/libEdgeCore.so.$(sed -n 's/^#define EDGECORE_VERSION_STRING "\(.*\)"/\1/p' include/edgecore.h)"
passed=0 failed=0
result() { if [ "$1" -eq 0 ]; then echo "PASS $2"; passed=$((passed + 1)); else echo "FAIL $2"; failed=$((failed + 1)); fi; }

expected=$(cat "$out/exports.txt")
exported=$("${tp}nm" -D --defined-only "$so" | awk '{print $3}' | sort -u)
diff <(echo "$expected") <(echo "$exported") >/dev/null
result $? "$arch: .so exports exactly the header's $(echo "$expected" | wc -l) functions"
[ "$expected" = "$exported" ] || diff <(echo "$expected") <(echo "$exported") | sed 's/^/  /'

archived=$("${tp}nm" -g --defined-only "$out/libEdgeCore.a" | awk 'NF == 3 {print $3}' | sort -u)
[ "$expected" = "$archived" ]
result $? "$arch: .a defines exactly the header's functions as globals"

needed=$("${tp}readelf" -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "  NEEDED: $(echo $needed)"
! echo "$needed" | grep -qi swift
result $? "$arch: NEEDED has no Swift runtime"
unexpected=$(echo "$needed" | grep -vE '^(libc\.so\.6|ld-linux[-a-z0-9_.]*\.so\.[0-9]+|libmodbus\.so\.5|libgpiod\.so\.[23]|libyaml-0\.so\.2|libm\.so\.6)$')
[ -z "$unexpected" ]
result $? "$arch: NEEDED lists only libc, libmodbus, libgpiod, libyaml${unexpected:+ (unexpected: $unexpected)}"

soname=$("${tp}readelf" -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
major=$(sed -n 's/^#define EDGECORE_VERSION_MAJOR \([0-9]*\)/\1/p' include/edgecore.h)
[ "$soname" = "libEdgeCore.so.$major" ]
result $? "$arch: soname is libEdgeCore.so.$major ($soname)"

! "${tp}readelf" -d "$so" | grep -q TEXTREL
result $? "$arch: no text relocations"

stripped=$(mktemp)
"${tp}strip" --strip-unneeded -o "$stripped" "$so"
echo "  stripped size of $(basename "$so") for $arch: $(stat -c %s "$stripped") bytes"
rm -f "$stripped"
echo "library-$arch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
