#!/usr/bin/env bash
# GPIO on a real Linux kernel: for amd64 and arm64 (qemu-system, TCG), each with libgpiod 1.6 and 2.x,
# build libEdgeCore and the edgecore tool against that libgpiod, build the rig's own check (vm/demo_test.c),
# EdgeCore's GPIO tests (test_gpio_engine.c) and the tool's (test_gpio_tool.c, which runs the tool) for the
# guest, and run them in one VM boot with gpio-sim (Tests/GPIO/vm/README.md).
# Prints each VM's "vm-ARCH-gpiodN: N passed, N failed"; fails if any fails.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
status=0
for arch in amd64 arm64; do
  Tests/GPIO/vm/prepare.sh "$arch" >/dev/null || { echo "gpio-vm: prepare.sh $arch failed"; status=1; continue; }
  for gen in 1 2; do
    case $arch in
      amd64) make_arch=x86_64; link=() ;;
      arm64) make_arch=aarch64; link=(-Wl,-rpath-link,"$top/.build-sysroot/arm64/usr/lib/aarch64-linux-gnu") ;;
    esac
    libdir=build/$make_arch$([ "$gen" = 2 ] && echo -gpiod2)
    tests=build/gpio-tests/$arch-gpiod$gen
    mkdir -p "$tests"
    # libEdgeCore and the edgecore tool (tools/*.c against that library), as shipped for the guest
    if ! make -s lib tools ARCH="$make_arch" GPIOD="$gen" >/dev/null; then
      echo "gpio-vm: building libEdgeCore and edgecore for $make_arch with libgpiod $gen failed"; status=1; continue
    fi
    Tests/GPIO/vm/build-test.sh "$arch" "$gen" Tests/GPIO/vm/demo_test.c "$tests/rig_check" &&
      Tests/GPIO/vm/build-test.sh "$arch" "$gen" Tests/GPIO/test_gpio_engine.c "$tests/test_gpio_engine" \
        -std=c11 -Wall -Wextra -Werror -Iinclude -L"$libdir" -lEdgeCore -lpthread "${link[@]}" &&
      Tests/GPIO/vm/build-test.sh "$arch" "$gen" Tests/GPIO/test_gpio_tool.c "$tests/test_gpio_tool" \
        -Wall -Wextra -Werror -Iinclude ||
      { echo "gpio-vm: building the $arch libgpiod $gen tests failed"; status=1; continue; }
    EXTRA_LIB_DIRS="$top/$libdir" EXTRA_BINARIES="$top/$libdir/tools/edgecore" \
      Tests/GPIO/vm/run.sh "$arch" "$gen" "$tests/rig_check" "$tests/test_gpio_engine" "$tests/test_gpio_tool" ||
      status=1
  done
done
exit $status
