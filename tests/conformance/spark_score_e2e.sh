#!/usr/bin/env bash
# End-to-end `evserve score` on a Spark pipeline: the first fixture of
# tests/fixtures/spark/fixtures.tsv, else (no fixtures) spark-3.5's
# LogisticRegressionIris from the corpus. Checks the conventions' output
# against the expected CSV, the --spark-columns header, and that a row that
# cannot be evaluated is N/A + a message naming the row (fatal with --strict).
# Usage: spark_score_e2e.sh EVSERVE PMML_CONFORMANCE FIXTURES_DIR WORKDIR
# (PMML_CONFORMANCE --compare-csv compares the output with the expected CSV.)
# Exit 77 (skipped) when there is neither a fixture nor the corpus.
set -euo pipefail
evserve=$1 runner=$2 fixtures_dir=$3 work=$4
mkdir -p "$work"
repo=$(cd "$(dirname "$0")/../.." && pwd)
model= input= expected= schema= tol=1e-9 zero= skip=

fixtures=$fixtures_dir/fixtures.tsv
if [[ -f $fixtures ]]; then
  # Columns by header name (id|name, model|pipeline, input, expected, schema, tolerance, ...).
  line=$(awk -F'\t' '!/^#/ && NF >= 4 && $1 != "name" && $1 != "id" { print; exit }' "$fixtures")
  header=$(awk -F'\t' '!/^#/ && ($1 == "name" || $1 == "id") { print; exit }' "$fixtures")
  if [[ -n $line && -n $header ]]; then
    col() {  # value of the first header column named one of $@
      local n
      for n in "$@"; do
        awk -F'\t' -v h="$header" -v want="$n" 'BEGIN { k = split(h, names, "\t") }
          { for (i = 1; i <= k; i++) if (names[i] == want) { print $i; exit } }' <<<"$line"
      done | head -n 1
    }
    resolve() {
      if [[ -z $1 || $1 == - ]]; then echo ""
      elif [[ $1 == /* ]]; then echo "$1"
      elif [[ -e $fixtures_dir/$1 ]]; then echo "$fixtures_dir/$1"
      else echo "$repo/$1"; fi
    }
    model=$(resolve "$(col model pipeline)")
    input=$(resolve "$(col input)")
    expected=$(resolve "$(col expected)")
    schema=$(resolve "$(col schema)")
    if [[ -z $model ]]; then  # tools/spark_fixtures rows: files named after the fixture
      name=$(col name id)
      model=$fixtures_dir/$name.zip
      input=$fixtures_dir/$name.input.csv
      expected=$fixtures_dir/$name.expected.csv
      [[ -f $fixtures_dir/$name.schema.json ]] && schema=$fixtures_dir/$name.schema.json
    fi
    t=$(col tolerance); [[ -n $t && $t != - ]] && tol=$t
    z=$(col zero_threshold); [[ -n $z && $z != - ]] && zero=$z
    s=$(col skip_columns skip); [[ -n $s && $s != - ]] && skip=$s
  fi
fi
if [[ -z $model ]]; then
  corpus=${EVS_CORPUS:-}
  if [[ -z $corpus ]]; then
    d=$repo
    for _ in 1 2 3 4 5 6; do
      d=$(dirname "$d")
      if [[ -d $d/shared/corpus ]]; then corpus=$d/shared/corpus; break; fi
    done
  fi
  base=${corpus:+$corpus/sparkml/jpmml-sparkml/spark-3.5}
  if [[ -z $base || ! -f $base/pipeline/LogisticRegressionIris.zip ]]; then
    echo "spark_score_e2e: no Spark fixture and no corpus; skipped"
    exit 77
  fi
  model=$base/pipeline/LogisticRegressionIris.zip
  input=$base/csv/Iris.csv
  expected=$base/csv/LogisticRegressionIris.csv
  schema=$base/schema/Iris.json
  tol=1e-13
fi
[[ -z $zero ]] && zero=$tol

score() {  # score INPUT OUTPUT [more options]
  local in=$1 o=$2
  shift 2
  local a=(score --model "$model" --input "$in" --output "$o" --no-progress)
  [[ -n $schema ]] && a+=(--schema "$schema")
  "$evserve" "${a[@]}" "$@"
}
out=$work/conventions.csv
echo "spark_score_e2e: evserve score --model $model --input $input --output $out ${schema:+--schema $schema}"
score "$input" "$out"
cmp=(--compare-csv "$expected" "$out" --tolerance "$tol" --zero-threshold "$zero")
[[ -n $skip ]] && cmp+=(--skip "$skip")
"$runner" "${cmp[@]}"

# Spark's own columns: a prediction column, one row per input row.
sout=$work/spark_columns.csv
score "$input" "$sout" --spark-columns
first=$(head -n 1 "$sout")
[[ $first == *prediction* ]] || { echo "spark_score_e2e: no prediction column in: $first"; exit 1; }
rows_in=$(($(grep -c '' "$input") - 1))
rows_out=$(($(grep -c '' "$sout") - 1))
[[ $rows_in == "$rows_out" ]] || { echo "spark_score_e2e: $rows_in input rows, $rows_out output rows"; exit 1; }

# A row with a wrong number of fields: N/A cells and a message naming row 2;
# with --strict the run stops with exit 1.
bad=$work/bad.csv
{ head -n 2 "$input"; echo "x"; sed -n 3p "$input"; } >"$bad"
bout=$work/bad_out.csv
score "$bad" "$bout" 2>"$work/bad.err"
grep -q 'row 2' "$work/bad.err" || { echo "spark_score_e2e: no message for row 2:"; cat "$work/bad.err"; exit 1; }
row2=$(sed -n 3p "$bout")
[[ $row2 == N/A* ]] || { echo "spark_score_e2e: row 2 is not N/A: $row2"; exit 1; }
if score "$bad" "$bout" --strict 2>/dev/null; then
  echo "spark_score_e2e: --strict did not fail on the bad row"
  exit 1
fi
echo "spark_score_e2e: ok"
