#!/usr/bin/env bash
# Compile a C test for the GPIO rig's guest, against the libgpiod generation the guest will run.
#
#   Tests/GPIO/vm/build-test.sh amd64|arm64 1|2 SRC OUT [extra cc args...]
#
# GPIOD 1: libgpiod 1.6 (bookworm's libgpiod-dev, v1 API), -DGPIOD_V1.
# GPIOD 2: libgpiod 2.x (bookworm-backports' libgpiod-dev, v2 API), -DGPIOD_V2.
# amd64 is built with gcc, arm64 with aarch64-linux-gnu-gcc (the host's cross glibc; the guest gets the
# libc6 .deb of the same Debian release). Needs prepare.sh ARCH first (run here when missing).
# Extra args go after SRC (more sources, -I, -L, -l...); -lgpiod comes last. CC overrides the compiler.
set -euo pipefail
arch=${1:?usage: build-test.sh amd64|arm64 1|2 SRC OUT [cc args]}
gen=${2:?usage: build-test.sh amd64|arm64 1|2 SRC OUT [cc args]}
src=${3:?usage: build-test.sh amd64|arm64 1|2 SRC OUT [cc args]}
outbin=${4:?usage: build-test.sh amd64|arm64 1|2 SRC OUT [cc args]}
shift 4
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
rig=${GPIO_VM_CACHE:-$top/.build-gpio-vm}/$arch
case "$gen" in 1|2) ;; *) echo "build-test: GPIOD must be 1 or 2, not '$gen'" >&2; exit 2 ;; esac
[ -f "$rig/.complete" ] || "$here/prepare.sh" "$arch" >&2
# shellcheck disable=SC1091
. "$rig/rig.env"
host_arch=$(dpkg --print-architecture)
if [ "$arch" = "$host_arch" ]; then default_cc=gcc; else default_cc=$RIG_TRIPLET-gcc; fi
cc=${CC:-$default_cc}
g=$rig/gpiod$gen
libdir=$g/usr/lib/$RIG_TRIPLET
mkdir -p "$(dirname "$outbin")"
"$cc" -std=gnu11 -O2 -g -Wall -Wextra -DGPIOD_V"$gen" -I"$g/usr/include" -o "$outbin" "$src" "$@" \
  -L"$libdir" -Wl,-rpath-link,"$libdir" -lgpiod
