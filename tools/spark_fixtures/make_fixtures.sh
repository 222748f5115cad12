#!/usr/bin/env bash
# Regenerate evserve's Spark ML test fixtures (see README.md next to this script).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: tools/spark_fixtures/make_fixtures.sh [--out DIR] [--bench DIR] [--only NAME...] [--list]

Creates (or reuses) the Python venv var/venv-spark, installs
tools/spark_fixtures/requirements.txt (pinned PySpark 4.x) into it when it
changed, then runs make_fixtures.py: one local[1] Spark session trains every
fixture pipeline, saves it, and writes NAME.zip, NAME.input.csv,
NAME.schema.json, NAME.expected.csv, NAME.spark.csv and fixtures.tsv.

  --out DIR      where the fixtures go (default: tests/fixtures/spark)
  --bench DIR    write the benchmark pipelines (bench_logreg, bench_rf; 10,000
                 rows each, not committed) into DIR instead of the fixtures;
                 time PySpark on them with tools/spark_fixtures/pyspark_bench.py
  --only NAME..  generate only the named fixtures (only their fixtures.tsv rows change)
  --list         print the fixture names
  --no-verify    accepted for symmetry with the PMML script; every fixture is
                 always re-loaded from its saved directory before scoring
  -h, --help     this text

Environment: PYTHON (default python3, 3.10+) creates the venv; JAVA_HOME, if
set, selects the Java (17 or 21) that PySpark starts (default: java on PATH).
Re-running gives byte-identical files on the same machine.
USAGE
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

out="tests/fixtures/spark"
bench=""
list=0
only=()
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out) [ $# -ge 2 ] || { echo "--out needs a directory" >&2; exit 2; }; out="$(abspath "$2")"; shift 2 ;;
    --out=*) out="$(abspath "${1#--out=}")"; shift ;;
    --bench) [ $# -ge 2 ] || { echo "--bench needs a directory" >&2; exit 2; }; bench="$(abspath "$2")"; shift 2 ;;
    --bench=*) bench="$(abspath "${1#--bench=}")"; shift ;;
    --no-verify) shift ;;
    --list) list=1; shift ;;
    --only) shift; while [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; do only+=("$1"); shift; done ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

cd "$root"

if [ -n "${JAVA_HOME:-}" ]; then export PATH="$JAVA_HOME/bin:$PATH"; fi
if ! command -v java >/dev/null 2>&1; then
  echo "error: java not found; PySpark 4 needs Java 17 or 21 (Debian: apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
if [ -z "${JAVA_HOME:-}" ]; then
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  export JAVA_HOME
fi

py="${PYTHON:-python3}"
venv="$root/var/venv-spark"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

if [ ! -x "$venv/bin/python" ]; then
  echo "creating venv $venv"
  mkdir -p "$root/var"
  "$py" -m venv "$venv"
fi
want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  echo "installing tools/spark_fixtures/requirements.txt into var/venv-spark (quiet; PySpark is ~450 MB) ..."
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r "$req"
  echo "$want" > "$stamp"
  echo "installed: $("$venv/bin/python" -m pip freeze --disable-pip-version-check | grep -iE '^(pyspark|py4j|numpy)==' | tr '\n' ' ')"
fi

# One thread for numerics and a fixed hash seed: the files do not depend on the machine's cores.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
export PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python"
# Keep Spark's log4j chatter out of the progress lines (errors still show).
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"

args=()
if [ "$list" = 1 ]; then args+=(--list);
elif [ -n "$bench" ]; then args+=(--bench "$bench"); else args+=(--out "$out"); fi
if [ ${#only[@]} -gt 0 ]; then args+=(--only "${only[@]}"); fi
exec "$venv/bin/python" "$here/make_fixtures.py" "${args[@]}" 2> >(grep -vE '^(Using Spark.s default log4j|To adjust logging level|[0-9/]+ [0-9:]+ WARN )' >&2)
