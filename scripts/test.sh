#!/usr/bin/env bash
# The test command of the README and of CI: installs what is missing (Debian packages), then builds and
# runs every test: the Swift unit tests, the Embedded library's checks and C ABI tests natively and, cross-
# built, under qemu-user for aarch64 and armv7, the install/pkg-config check, and the Modbus integration
# tests against libmodbus and pymodbus peers (pytest in a venv under .build-venv), and GPIO on a real kernel
# under qemu (amd64 and arm64, libgpiod 1.6 and 2.x).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The Swift toolchain is not a Debian package: use the one on PATH, else the usual /opt/swift install.
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH; fi
command -v swift >/dev/null || { echo "test: the Swift 6.3 toolchain is not on PATH (see README)"; exit 1; }

scripts/install-deps.sh || { echo "test: could not install dependencies"; exit 1; }
status=0
make check 2>&1 | tee "$log" || status=1

# One closing line over every runner: Swift Testing's summary and the stage totals (cabi-ARCH,
# library-ARCH, fuzz-TARGET, install, deb, tool-installed: the tool's pytest run on the installed package); each C test program's own line is part of its cabi-ARCH total.
read -r passed failed < <(awk '/^(cabi-[a-z0-9_]+|library-[a-z0-9_]+|vm-[a-z0-9_]+-gpiod[12]|fuzz-[a-z0-9_]+|gateway-[a-z0-9_]+|install|deb|tool-installed): [0-9]+ passed, [0-9]+ failed$/ { p += $2; f += $4 }
                                END { print p + 0, f + 0 }' "$log")
swift_tests=$(sed -nE 's/.*Test run with ([0-9]+) tests? in .* passed.*/\1/p' "$log" | tail -1)
swift_failed=$(grep -cE 'Test run with [0-9]+ tests? .* failed' "$log")
# pytest's closing line: "N passed[, N failed][, ...] in Ts".
pytest_passed=$(sed -nE 's/^=* ?(([0-9]+) failed, )?([0-9]+) passed.* in [0-9.]+s.*/\3/p' "$log" | tail -1)
pytest_failed=$(sed -nE 's/^=* ?([0-9]+) failed.* in [0-9.]+s.*/\1/p' "$log" | tail -1)
passed=$(( ${passed:-0} + ${swift_tests:-0} + ${pytest_passed:-0} ))
failed=$(( ${failed:-0} + swift_failed + ${pytest_failed:-0} ))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1   # a stage broke before it could count
echo
echo "edgecore: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
