#!/usr/bin/env bash
# Regenerates tests/fixtures/parquet/ (Parquet files and their expected rows)
# with pyarrow from PyPI in var/venv-parquet (git-ignored). Run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/var/venv-parquet"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import pyarrow" 2>/dev/null || "$venv/bin/pip" install -q pyarrow
out="$root/tests/fixtures/parquet"
rm -rf "$out"
mkdir -p "$out"
"$venv/bin/python" "$root/tools/parquet_fixtures/make_parquet_fixtures.py" "$out"
echo "pyarrow $("$venv/bin/python" -c 'import pyarrow; print(pyarrow.__version__)')" > "$out/GENERATOR"
du -sh "$out"
