#!/usr/bin/env bash
# Creates (or reuses) the Python environments of the real model servers the
# service job is tested and demonstrated against, and the iris model they
# serve:
#   var/venv-mlserver  MLServer + its scikit-learn runtime (Open Inference Protocol v2)
#   var/venv-kserve    KServe's Python model server (v1, TensorFlow-Serving-style REST)
#   var/model-servers/iris/  model.joblib (scikit-learn LogisticRegression on
#                      iris), model-settings.json (MLServer), iris.csv (the
#                      150 rows with the model's own predictions)
# Idempotent: a venv is rebuilt only when its pinned requirements change.
# Exit status 1 with a plain message when a package cannot be installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/model_servers"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  echo "Options: --only mlserver|kserve   set up one server only (start.sh needs MLServer only)."
  echo "Environment: PYTHON (default python3, 3.10+)."
  exit 0
fi
py="${PYTHON:-python3}"
out="$ROOT/var/model-servers"
mkdir -p "$out"

# make_venv NAME REQUIREMENTS-FILE
make_venv() {
  local venv="$ROOT/var/$1" req="$2"
  local want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && -f "$venv/.requirements.sha256" && "$(cat "$venv/.requirements.sha256")" == "$want" ]]; then
    return 0
  fi
  echo "model servers: installing $(basename "$req" .txt) into var/$1 (about a minute)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"; then
    echo "model servers: could not install the packages of $req into var/$1" >&2
    rm -rf "$venv"
    return 1
  fi
  echo "$want" > "$venv/.requirements.sha256"
}

only="all"
if [[ "${1:-}" == "--only" ]]; then only="${2:?--only mlserver|kserve}"; fi
[[ "$only" == all || "$only" == mlserver ]] && make_venv venv-mlserver "$HERE/requirements-mlserver.txt"
[[ "$only" == all || "$only" == kserve ]] && make_venv venv-kserve "$HERE/requirements-kserve.txt"

if [[ ! -f "$out/iris/model.joblib" || "$HERE/train_iris.py" -nt "$out/iris/model.joblib" ]]; then
  # Trained with the scikit-learn both venvs pin, so either server loads it.
  trainer="$ROOT/var/venv-mlserver/bin/python"
  [[ -x "$trainer" ]] || trainer="$ROOT/var/venv-kserve/bin/python"
  "$trainer" "$HERE/train_iris.py" "$out/iris"
fi
echo "model servers: ready ($only; model in var/model-servers/iris)"
