#!/usr/bin/env bash
# grow-header.sh IN OUT: write OUT, a copy of the header IN in which every struct the caller allocates
# (all but struct edgecore_reading, which never changes) has gained a trailing field, as a later version of
# libEdgeCore would add one: `uint64_t test_growth`. Size assertions of the grown structs are dropped (their
# field offsets stay asserted), and EDGECORE_TEST_GROWN_HEADER is defined so a test can tell.
# Used twice by `make abi-growth-test`: to build a library whose structs grew (EDGECORE_TEST_GROWN=1), and
# to build test programs against the grown header.
set -euo pipefail
in=$1 out=$2
mkdir -p "$(dirname "$out")"
awk '
  /^#define EDGECORE_H$/ { print; print "#define EDGECORE_TEST_GROWN_HEADER 1"; next }
  /^struct edgecore_[a-z0-9_]+ \{$/ { name = $2; grow = (name != "edgecore_reading") }
  /^\};$/ && grow { print "    uint64_t test_growth;  /* test build: a field a later version added */"; grow = 0 }
  /^EDGECORE_ASSERT_SIZE_\(edgecore_[a-z0-9_]+,/ {
    s = $0; sub(/^EDGECORE_ASSERT_SIZE_\(/, "", s); sub(/,.*/, "", s)
    if (s != "edgecore_reading") next
  }
  { print }
' "$in" > "$out.tmp"
mv "$out.tmp" "$out"
