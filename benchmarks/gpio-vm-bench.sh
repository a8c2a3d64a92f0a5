#!/usr/bin/env bash
# The GPIO edge-rate benchmark (benchmarks/gpio_edges.c) in the real-kernel VM of Tests/GPIO/vm, for
# amd64 and arm64 with libgpiod 1.6 and 2.x. Prints the BENCH lines. Needs `make check`'s GPIO set-up
# (scripts/install-deps.sh); builds what it needs.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
for arch in amd64 arm64; do
  Tests/GPIO/vm/prepare.sh "$arch" >/dev/null || exit 1
  for gen in 1 2; do
    case $arch in
      amd64) make_arch=x86_64; link=() ;;
      arm64) make_arch=aarch64; link=(-Wl,-rpath-link,"$top/.build-sysroot/arm64/usr/lib/aarch64-linux-gnu") ;;
    esac
    libdir=build/$make_arch$([ "$gen" = 2 ] && echo -gpiod2)
    out=build/gpio-tests/$arch-gpiod$gen
    mkdir -p "$out"
    make -s lib ARCH="$make_arch" GPIOD="$gen" >/dev/null || exit 1
    Tests/GPIO/vm/build-test.sh "$arch" "$gen" benchmarks/gpio_edges.c "$out/gpio_edges" -std=c11 -O2 -Iinclude \
      -L"$libdir" -lEdgeCore -lpthread "${link[@]}" || exit 1
    EXTRA_LIB_DIRS="$top/$libdir" VERBOSE=1 Tests/GPIO/vm/run.sh "$arch" "$gen" "$out/gpio_edges" 2>&1 | grep '^BENCH'
  done
done
