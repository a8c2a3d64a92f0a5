#!/usr/bin/env bash
# Run the C ABI test programs: run.sh ARCH "RUN-PREFIX" PROGRAM...
# RUN-PREFIX is empty natively, or the qemu-user command for cross-built programs. Each program prints
# PASS/FAIL per case; this prints the totals and fails if any case or program failed.
set -u
arch=$1 run=$2
shift 2
passed=0 failed=0
for program in "$@"; do
  log=$(mktemp)
  # shellcheck disable=SC2086  # RUN-PREFIX is a command with arguments
  timeout 600 $run "$program" >"$log" 2>&1
  status=$?
  cat "$log"
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $(basename "$program") exited with status $status"
    failed=$((failed + 1))
  fi
  rm -f "$log"
done
echo "cabi-$arch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
