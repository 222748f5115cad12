#!/usr/bin/env bash
# Usage: bench/replace_docs_section.sh NAME SECTION_FILE
# Puts SECTION_FILE (a generated benchmark section that starts with the line
# "<!-- BEGIN NAME (...) -->" and ends with "<!-- END NAME -->") into
# docs/benchmarks.md: in place of the block between those markers when the
# doc has one, else at the end. Hand-written text outside the markers stays.
# Shared by the bench/run_*.sh scripts.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -eq 2 && -f $2 ]] || { echo "usage: $0 NAME SECTION_FILE" >&2; exit 2; }
name=$1
section=$2
doc="$ROOT/docs/benchmarks.md"
begin="<!-- BEGIN $name "
end="<!-- END $name -->"
if [[ -f $doc ]] && grep -qF -- "$begin" "$doc"; then
  # The first BEGIN line starts the block and the next END line closes it;
  # END lines elsewhere (left from older layouts) are dropped.
  awk -v sec="$section" -v b="$begin" -v e="$end" '
    index($0, b) == 1 && !done { while ((getline line < sec) > 0) print line; skip = 1; done = 1; next }
    $0 == e { skip = 0; next }
    !skip { print }
  ' "$doc" >"$doc.tmp"
  mv "$doc.tmp" "$doc"
else
  mkdir -p "$ROOT/docs"
  [[ -f $doc ]] || printf '# Benchmarks\n\n' >"$doc"
  { echo; cat "$section"; } >>"$doc"
fi
