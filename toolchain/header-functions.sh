#!/usr/bin/env bash
# Print the names of the functions include/edgecore.h declares, one per line, sorted. The header is run
# through the C preprocessor first, so names mentioned in comments do not count.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
${CC:-gcc} -std=c11 -E -P "$top/include/edgecore.h" |
  grep -oE '\bedgecore_[a-z0-9_]+[[:space:]]*\(' | tr -d '( \t' | sort -u
