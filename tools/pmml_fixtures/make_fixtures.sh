#!/usr/bin/env bash
# Regenerate evserve's PMML test fixtures (see README.md next to this script).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tools/pmml_fixtures/make_fixtures.sh [--out DIR] [--bench DIR] [--no-verify] [--only NAME...]

Creates (or reuses) the Python venv var/venv-fixtures, installs
tools/pmml_fixtures/requirements.txt into it when they changed, then runs
make_fixtures.py.

  --out DIR      where the fixtures go (default: tests/fixtures/pmml)
  --bench DIR    write the larger benchmark models (bench_logreg, bench_rf,
                 bench_gbm, bench_mlp) into DIR instead of the fixtures
  --no-verify    skip the cross-check of every fixture with JPMML-Evaluator
  --only NAME..  generate only the named fixtures (fixtures.tsv is left alone)
  -h, --help     this text

Environment: PYTHON (default python3, 3.11+) creates the venv; JAVA_HOME, if
set, selects the Java used by the sklearn2pmml converter (default: java on PATH).
Re-running gives byte-identical files on the same machine.
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

out="tests/fixtures/pmml"
bench=""
verify=1
only=()
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out) [ $# -ge 2 ] || { echo "--out needs a directory" >&2; exit 2; }; out="$(abspath "$2")"; shift 2 ;;
    --out=*) out="$(abspath "${1#--out=}")"; shift ;;
    --bench) [ $# -ge 2 ] || { echo "--bench needs a directory" >&2; exit 2; }; bench="$(abspath "$2")"; shift 2 ;;
    --bench=*) bench="$(abspath "${1#--bench=}")"; shift ;;
    --no-verify) verify=0; shift ;;
    --only) shift; while [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; do only+=("$1"); shift; done ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

cd "$root"

if [ -n "${JAVA_HOME:-}" ]; then export PATH="$JAVA_HOME/bin:$PATH"; fi
if ! command -v java >/dev/null 2>&1; then
  echo "error: java not found; sklearn2pmml needs Java 11+ (Debian: apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi

py="${PYTHON:-python3}"
venv="$root/var/venv-fixtures"
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
  echo "installing tools/pmml_fixtures/requirements.txt into var/venv-fixtures (quiet, takes a minute) ..."
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r "$req"
  echo "$want" > "$stamp"
  echo "installed: $("$venv/bin/python" -m pip freeze --disable-pip-version-check | grep -iE '^(scikit-learn|sklearn2pmml|xgboost-cpu|lightgbm|pandas|numpy)==' | tr '\n' ' ')"
fi

# Single-threaded numerics: results (and so the files) do not depend on the core count.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0

args=()
if [ -n "$bench" ]; then args+=(--bench "$bench"); else args+=(--out "$out"); fi
if [ "$verify" = 1 ]; then args+=(--verify); fi
if [ ${#only[@]} -gt 0 ]; then args+=(--only "${only[@]}"); fi
exec "$venv/bin/python" "$here/make_fixtures.py" "${args[@]}"
