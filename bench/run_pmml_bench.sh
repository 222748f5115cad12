#!/usr/bin/env bash
# PMML engine vs JPMML-Evaluator: builds pmml_bench (release) and the
# JPMML-Evaluator twin in bench/jpmml (Maven), makes the benchmark models when
# they are missing, runs both tools on each model one after the other (same
# PMML files, same rows), prints a side-by-side table, saves it under
# bench/results/ and regenerates the "PMML engine" block of docs/benchmarks.md.
set -euo pipefail

PROG=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
MODELS_DEFAULT="$ROOT/build/bench-models"
ALL_MODELS="bench_logreg bench_rf bench_gbm bench_mlp"

usage() {
  cat <<EOF
Usage: bench/$PROG [--models DIR] [--only NAME[,NAME...]] [--quick] [--nice N] [--no-build] [--no-docs]

Single-thread per-record latency (p50, p99) and throughput of the PMML engine
(build/release/bin/pmml_bench, modes: slots = inputs set as doubles, record =
from an already parsed JSON object (evs::Record), json = each record parsed
from JSON text with simdjson) next to JPMML-Evaluator
(bench/jpmml, modes: raw = argument maps of plain values, prepared = maps of
values already prepared by InputField.prepare), on the same models and rows.

  --models DIR   directory with NAME.pmml, NAME.input.csv and NAME.expected.csv
                 for NAME in: $ALL_MODELS
                 (default: build/bench-models, made with
                 tools/pmml_fixtures/make_fixtures.sh --bench DIR when missing)
  --only LIST    run only these models (comma-separated names)
  --quick        short warm-up and runs (~1 minute); the table is printed and
                 saved, docs/benchmarks.md is left alone
  --nice N       run both tools under 'nice -n N' (e.g. -10 as root, so that
                 other work on a shared machine takes less of their core)
  --no-build     use the existing build/release/bin/pmml_bench and
                 bench/jpmml/target/jpmml-bench.jar
  --no-docs      do not touch docs/benchmarks.md (the result is still saved)
  -h, --help     show this help

Both tools check their first pass against NAME.expected.csv (relative 1e-6)
and fail rather than time a model that gives wrong results.
Results: bench/results/pmml-<UTC time>.txt; docs/benchmarks.md between the
'<!-- BEGIN pmml-bench' / '<!-- END pmml-bench -->' markers (full runs only).
Environment: JAVA (default: java), JAVA_OPTS (default: -Xms1g -Xmx1g).
EOF
}

models_dir=""
only=""
quick=0
nice_n=""
build=1
docs=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) [[ $# -ge 2 ]] || { echo "$PROG: --models needs a value" >&2; exit 2; }; models_dir=$2; shift ;;
    --models=*) models_dir=${1#*=} ;;
    --only) [[ $# -ge 2 ]] || { echo "$PROG: --only needs a value" >&2; exit 2; }; only=$2; shift ;;
    --only=*) only=${1#*=} ;;
    --quick) quick=1 ;;
    --nice) [[ $# -ge 2 ]] || { echo "$PROG: --nice needs a value" >&2; exit 2; }; nice_n=$2; shift ;;
    --nice=*) nice_n=${1#*=} ;;
    --no-build) build=0 ;;
    --no-docs) docs=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$PROG: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $quick -eq 1 ]] && docs=0

cd "$ROOT"
BIN="$ROOT/build/release/bin/pmml_bench"
JAR="$ROOT/bench/jpmml/target/jpmml-bench.jar"
JAVA=${JAVA:-java}
read -r -a JAVA_OPTS <<<"${JAVA_OPTS:--Xms1g -Xmx1g}"

# ------------------------------------------------------------------ build
if [[ $build -eq 1 ]]; then
  # The bench targets exist only with EVS_BUILD_BENCH=ON.
  if [[ -f build/release/CMakeCache.txt ]] && ! grep -q '^EVS_BUILD_BENCH:BOOL=ON' build/release/CMakeCache.txt; then
    echo "$PROG: enabling EVS_BUILD_BENCH in build/release"
    cmake -DEVS_BUILD_BENCH=ON build/release >/dev/null
  fi
  "$ROOT/scripts/build.sh" --preset release --target pmml_bench
  # Offline first (no registry round trips once ~/.m2 has everything).
  mvnlog=$(mktemp /tmp/evs-jpmml-mvn.XXXXXX.log)
  if ! mvn -q -B -o -Dstyle.color=never -f bench/jpmml/pom.xml package >"$mvnlog" 2>&1; then
    echo "$PROG: resolving JPMML-Evaluator with Maven (first build)"
    if ! mvn -q -B -Dstyle.color=never -f bench/jpmml/pom.xml package >"$mvnlog" 2>&1; then
      tail -n 30 "$mvnlog" >&2
      echo "$PROG: Maven could not build bench/jpmml (full output: $mvnlog)" >&2
      exit 1
    fi
  fi
  rm -f "$mvnlog"
fi
[[ -x $BIN ]] || { echo "$PROG: $BIN missing (run without --no-build)" >&2; exit 1; }
[[ -f $JAR ]] || { echo "$PROG: $JAR missing (run without --no-build)" >&2; exit 1; }

# ------------------------------------------------------------------ models
names=${only//,/ }
names=${names:-$ALL_MODELS}
dir=${models_dir:-$MODELS_DEFAULT}
missing=0
for m in $names; do
  [[ -f $dir/$m.pmml && -f $dir/$m.input.csv ]] || missing=1
done
if [[ $missing -eq 1 ]]; then
  if [[ -n $models_dir ]]; then
    echo "$PROG: $dir lacks some of: $names (NAME.pmml, NAME.input.csv)" >&2
    exit 1
  fi
  gen="$ROOT/tools/pmml_fixtures/make_fixtures.sh"
  [[ -x $gen ]] || { echo "$PROG: no models in $dir and no $gen to make them" >&2; exit 1; }
  echo "$PROG: making the benchmark models in ${dir#"$ROOT"/}"
  "$gen" --bench "$dir"
fi

# ------------------------------------------------------------------ run
if [[ $quick -eq 1 ]]; then
  cpp_args=(--warmup-seconds 0.5 --latency-records 20000 --throughput-seconds 1)
  java_args=(--warmup-seconds 3 --latency-records 20000 --throughput-seconds 1)
else
  cpp_args=(--warmup-seconds 2 --latency-records 200000 --throughput-seconds 3)
  java_args=(--warmup-seconds 10 --latency-records 100000 --throughput-seconds 5)
fi

stamp=$(date -u +%Y%m%d-%H%M%S)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# What else was using the CPU (a 1 s sample, top's second frame).
top_before=$(top -b -n 2 -d 1 -o %CPU -w 200 2>/dev/null | awk '/^top -/ { n++ }
  n == 2 && /^ *[0-9]+ / && $9 + 0 >= 5 { c++; if (c <= 5) printf "%s%s %s%%", (c > 1 ? ", " : ""), $12, $9 }')
top_before=${top_before:-none above 5%}
run=()
[[ -z $nice_n ]] || run=(nice -n "$nice_n")
lines=$(mktemp /tmp/evs-pmml-bench.XXXXXX.tsv)
trap 'rm -f "$lines"' EXIT
for m in $names; do
  exp=()
  if [[ -f $dir/$m.expected.csv ]]; then
    exp=(--expected "$dir/$m.expected.csv")
  else
    echo "$PROG: warning: no $m.expected.csv, results are not checked" >&2
  fi
  echo "$PROG: $m: evserve" >&2
  "${run[@]}" "$BIN" --model "$dir/$m.pmml" --input "$dir/$m.input.csv" "${exp[@]}" --name "$m" \
    "${cpp_args[@]}" | tee -a "$lines"
  echo "$PROG: $m: JPMML-Evaluator" >&2
  "${run[@]}" "$JAVA" "${JAVA_OPTS[@]}" -jar "$JAR" --model "$dir/$m.pmml" --input "$dir/$m.input.csv" \
    "${exp[@]}" --name "$m" "${java_args[@]}" | tee -a "$lines"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ table
# Latencies as ns / µs; throughput ratios against JPMML's faster mode.
table=$(awk -F'\t' -v names="$names" '
  function get(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
  function t(ns) { if (ns == "") return "-"; if (ns < 1000) return sprintf("%.0f ns", ns); if (ns < 100000) return sprintf("%.2f µs", ns / 1000); return sprintf("%.0f µs", ns / 1000) }
  function r(x) { if (x == "") return "-"; if (x >= 1e6) return sprintf("%.2fM", x / 1e6); if (x >= 1e3) return sprintf("%.1fk", x / 1e3); return sprintf("%.0f", x) }
  function th(key) { return (key in wall) ? r(wall[key]) " / " r(tput[key]) : "-" }
  function lat(key) { return (key in p50) ? t(p50[key]) " / " t(p99[key]) (batch[key] > 1 ? " ¹" : "") : "-" }
  $1 == "result" {
    key = get("model") SUBSEP get("tool") SUBSEP get("mode")
    p50[key] = get("p50_ns"); p99[key] = get("p99_ns"); wall[key] = get("tput_rps"); batch[key] = get("batch")
    tput[key] = get("cpu_rps"); if (tput[key] == "") tput[key] = wall[key]
  }
  END {
    print "| model | evserve slots p50 / p99 | rec/s wall / CPU | evserve record p50 / p99 | rec/s wall / CPU | evserve JSON p50 / p99 | rec/s wall / CPU | JPMML raw p50 / p99 | rec/s wall / CPU | JPMML prepared p50 / p99 | rec/s wall / CPU | slots ÷ JPMML | record ÷ JPMML | JSON ÷ JPMML |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    n = split(names, ms, " ")
    for (i = 1; i <= n; i++) {
      m = ms[i]
      s = m SUBSEP "evserve" SUBSEP "slots"; c = m SUBSEP "evserve" SUBSEP "record"; j = m SUBSEP "evserve" SUBSEP "json"
      a = m SUBSEP "jpmml" SUBSEP "raw"; b = m SUBSEP "jpmml" SUBSEP "prepared"
      best = tput[a] + 0; if (tput[b] + 0 > best) best = tput[b] + 0
      rs = (best > 0 && tput[s] != "") ? sprintf("%.1f×", tput[s] / best) : "-"
      rc = (best > 0 && tput[c] != "") ? sprintf("%.1f×", tput[c] / best) : "-"
      rj = (best > 0 && tput[j] != "") ? sprintf("%.1f×", tput[j] / best) : "-"
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m, lat(s), th(s), lat(c), th(c), lat(j), th(j), lat(a), th(a), lat(b), th(b), rs, rc, rj
    }
    print ""
    print "Targets (slots mode; throughput ratios per CPU-second, against the faster JPMML mode):"
    for (i = 1; i <= n; i++) {
      m = ms[i]; s = m SUBSEP "evserve" SUBSEP "slots"
      a = m SUBSEP "jpmml" SUBSEP "raw"; b = m SUBSEP "jpmml" SUBSEP "prepared"
      best = tput[a] + 0; if (tput[b] + 0 > best) best = tput[b] + 0
      if (!(s in p50) || best == 0) { printf "- %s: not measured\n", m; continue }
      x = tput[s] / best
      line = sprintf("- %s: throughput %.1f× JPMML (target ≥ 20×): %s", m, x, x >= 20 ? "met" : sprintf("MISSED (%.0f%% of the target)", 100 * x / 20))
      if (m == "bench_rf") line = line sprintf("; p50 %s (target ≤ 3 µs): %s", t(p50[s]), p50[s] <= 3000 ? "met" : sprintf("MISSED by %.2f µs", (p50[s] - 3000) / 1000))
      if (m == "bench_logreg") line = line sprintf("; p50 %s (target ≤ 150 ns): %s", t(p50[s]), p50[s] <= 150 ? "met" : sprintf("MISSED by %.0f ns", p50[s] - 150))
      print line
    }
  }' "$lines")

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
if [[ -n $(git status --porcelain -- src bench 2>/dev/null) ]]; then dirty=" (plus uncommitted changes)"; fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
jver=$("$JAVA" -version 2>&1 | head -n1)
cmdline="bench/run_pmml_bench.sh$([[ $quick -eq 1 ]] && echo ' --quick' || true)${nice_n:+ --nice $nice_n}${only:+ --only $only}${models_dir:+ --models $models_dir}"
mkdir -p bench/results
result="bench/results/pmml-$stamp.txt"
{
  echo "#### $when - \`$cmdline\`"
  echo
  echo "evserve at commit $commit$dirty; $(nproc) cores shared with other work ($cpu);"
  echo "load average before $load_before, after $load_after; processes using the CPU just before the run: $top_before."
  echo "Both tools ran ${nice_n:+under nice -n $nice_n, }one after the other."
  echo "JPMML-Evaluator $(sed -n 's:.*<jpmml.version>\(.*\)</jpmml.version>.*:\1:p' bench/jpmml/pom.xml) on $jver, ${JAVA_OPTS[*]}."
  echo
  echo "$table"
  echo
  echo "¹ batch of 64 records per latency sample (the percentiles are of 64-record means)."
  echo
  echo '```'
  cat "$lines"
  echo '```'
} >"$result"
echo
echo "$table"
echo
echo "$PROG: saved $result"

[[ $docs -eq 1 ]] || exit 0

# ------------------------------------------------------------------ docs
# Regenerate the block of docs/benchmarks.md between the markers; the latest
# full run first, then up to two earlier ones.
section=$(mktemp /tmp/evs-pmml-bench-section.XXXXXX.md)
{
  echo "<!-- BEGIN pmml-bench (generated by bench/run_pmml_bench.sh; edit the script, not this block) -->"
  cat <<'EOF'
## PMML engine

Question (issue #3 acceptance): per-record latency (p50, p99) and
single-thread throughput of the native PMML engine (`src/pmml`) for a
logistic regression, a 100-tree random forest (depth about 10), a
gradient-boosted ensemble of 100+ trees and an MLP, from bound slots and from
a parsed JSON object, next to JPMML-Evaluator on the same models and rows.
Targets: random forest p50 ≤ 3 µs, logistic regression p50 ≤ 150 ns, and at
least 20× JPMML's throughput on each model.

Run it: `bench/run_pmml_bench.sh` (full, ~5 minutes after the builds) or
`bench/run_pmml_bench.sh --quick` (about a minute; not written here). It
builds `pmml_bench` (release preset, RelWithDebInfo = -O2) and
`bench/jpmml` (`mvn package`; JPMML-Evaluator from Maven Central into
~/.m2), makes the models with `tools/pmml_fixtures/make_fixtures.sh --bench
build/bench-models` when they are missing, runs the two tools one after the
other on each model, saves the table in `bench/results/pmml-*.txt` and
rewrites this block.

### Method

- **Models and rows**: `bench_logreg` (RegressionModel, logit),
  `bench_rf` (MiningModel of 100 TreeModels, depth 10), `bench_gbm`
  (boosted MiningModel, 100+ trees), `bench_mlp` (NeuralNetwork), each with
  about 1000 input rows and the expected outputs. Both tools score the same
  PMML file and the same rows, cycling through the rows.
- **Correctness first**: each tool scores every row once and compares every
  target/output column of `NAME.expected.csv` (relative 1e-6); a mismatch
  aborts the run, so no figure comes from a model that computes something
  else.
- **evserve modes** (`bench/pmml_bench.cc`, one thread, one reused
  `EvalContext`): *slots*: values parsed to doubles beforehand; per record
  `EvaluateNumbers(ctx, row, n)` when every input of the row is a number
  (the API for a caller that holds a record of numbers; otherwise
  `BeginRecord`, `SetInput(ctx, i, ...)` for each bound input, `Evaluate`),
  then read every output. *record*: each row decoded beforehand by
  `codec::JsonDecoder` into an `evs::Record` (the server's parsed event);
  per record its fields are matched to the bound inputs by name (scan
  starting after the previous match), then `SetInput` / `Evaluate` / read
  outputs. *JSON*: each row serialized beforehand as
  a JSON object with every CSV column; per record a reused simdjson DOM
  parser (as in `codec::JsonDecoder`) parses it, each key is looked up among
  the bound inputs, then `SetInput` / `Evaluate` / read outputs (parse
  included).
- **JPMML modes** (`bench/jpmml`, JPMML-Evaluator, one thread, JVM flags
  below): *raw*: one `Map<String, Object>` of plain Doubles per row built
  beforehand; per record `evaluate(map)` (JPMML prepares the values inside)
  and every target/output value decoded (`EvaluatorUtil.decode`). *prepared*:
  the maps hold values already prepared with `InputField.prepare` (JPMML's
  best case; preparation excluded). The JIT is warmed up for 10 s per mode
  (at least 20,000 records) before anything is timed.
- **Latency**: after the warm-up, each record is timed on its own with the
  monotonic clock (`steady_clock` / `System.nanoTime`) — unless a record
  takes under 250 ns on average, then batches of 64 records are timed and
  divided (marked ¹; the percentiles are then of 64-record means, which
  hides tail outliers). The choice is made on the first mode (slots / raw)
  and kept for the tool's other modes. 200,000 timed records per evserve mode, 100,000 per
  JPMML mode.
- **Throughput**: a separate loop over records with the clock read every 1024
  records, 3 s (evserve) / 5 s (JPMML) per mode, one thread. Two figures:
  records per wall-clock second, and records per second of the process's CPU
  time (`CLOCK_PROCESS_CPUTIME_ID`; for the JVM `getProcessCpuTime()`, which
  includes its GC and JIT threads, so JPMML pays for its garbage). On a
  loaded shared machine the wall figure mostly measures how often the
  scheduler ran us; the CPU figure does not (cache pollution from the other
  work still counts). The ratio columns and the targets use the CPU figure
  and divide evserve's throughput by the *faster* of the two JPMML modes.

### Caveats

- A shared **2-core** VM: other developers' builds and tests may run at the
  same time. The load average and the busiest processes before the run are
  recorded with each result; absolute numbers move by tens of percent
  between runs on this machine.
- Single-thread figures: neither tool is given a second core; the JVM's JIT
  and GC threads do run on the other core.
- evserve is linked with tcmalloc (as the server); numeric models should not
  allocate per record anyway.

### Results

EOF
  n=0
  while IFS= read -r f; do
    [[ $n -lt 3 ]] || break
    grep -q -- '--quick' <(head -n1 "$f") && continue
    if [[ $n -eq 0 ]]; then echo "Latest run:"; echo; fi
    if [[ $n -eq 1 ]]; then echo "Earlier runs, newest first:"; echo; fi
    n=$((n + 1))
    cat "$f"
    echo
  done < <(ls -1 "$ROOT"/bench/results/pmml-*.txt 2>/dev/null | sort -r)
  echo "<!-- END pmml-bench -->"
} >"$section"

"$ROOT/bench/replace_docs_section.sh" pmml-bench "$section"
rm -f "$section"
echo "$PROG: updated docs/benchmarks.md"
