#!/usr/bin/env bash
# End-to-end `evserve score`: scores the first fixture of fixtures.tsv with the
# real binary and compares the output CSV with the fixture's expected CSV.
# Usage: score_e2e.sh EVSERVE PMML_CONFORMANCE FIXTURES_TSV WORKDIR
# Exit 77 (skipped) when there are no fixtures.
set -euo pipefail
evserve=$1 runner=$2 fixtures=$3 work=$4
if [[ ! -f $fixtures ]]; then
  echo "score_e2e: no fixtures at $fixtures; skipped"
  exit 77
fi
dir=$(cd "$(dirname "$fixtures")" && pwd)
repo=$(cd "$dir/../../.." && pwd)
# One awk, no pipe: under pipefail an early-exiting reader would fail the writer (SIGPIPE).
line=$(awk -F'\t' '!/^#/ && $1 != "name" && NF >= 4 { print; exit }' "$fixtures")
if [[ -z $line ]]; then
  echo "score_e2e: $fixtures has no fixture rows; skipped"
  exit 77
fi
field() { awk -F'\t' -v n="$1" '{ print $n }' <<<"$line"; }
resolve() {
  if [[ $1 == /* ]]; then echo "$1"
  elif [[ -e $dir/$1 ]]; then echo "$dir/$1"
  else echo "$repo/$1"; fi
}
name=$(field 1)
model=$(resolve "$(field 2)")
input=$(resolve "$(field 3)")
expected=$(resolve "$(field 4)")
tol=$(field 5); zero=$(field 6); skip=$(field 7)
[[ -z $tol || $tol == - ]] && tol=1e-9
[[ -z $zero || $zero == - ]] && zero=$tol
mkdir -p "$work"
out="$work/$name.csv"
echo "score_e2e: evserve score --model $model --input $input --output $out"
"$evserve" score --model "$model" --input "$input" --output "$out" --no-progress
args=(--compare-csv "$expected" "$out" --tolerance "$tol" --zero-threshold "$zero")
[[ -n $skip && $skip != - ]] && args+=(--skip "$skip")
"$runner" "${args[@]}"
