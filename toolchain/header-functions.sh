#!/usr/bin/env bash
# Print the names of the functions libEdgeCore exports, one per line, sorted: every function
# include/edgecore.h (or the header given as $1) declares, except its static inline wrappers (they live in the caller's program and call
# the exported edgecore_..._sized functions). The header is run through the C preprocessor first, so names
# mentioned in comments do not count.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
text=$(${CC:-gcc} -std=c11 -E -P "${1:-$top/include/edgecore.h}" | tr '\n' ' ')
comm -23 <(grep -oE '\bedgecore_[a-z0-9_]+[[:space:]]*\(' <<<"$text" | tr -d '( \t' | sort -u) \
         <(grep -oE 'static inline [a-z0-9_ ]+[ *]edgecore_[a-z0-9_]+[[:space:]]*\(' <<<"$text" |
           grep -oE 'edgecore_[a-z0-9_]+' | sort -u)
