#!/usr/bin/env bash
# Runs one model server in the foreground (exec: the PID is the server's, so
# a signal reaches it directly), serving var/model-servers/iris as "iris".
#   serve.sh mlserver HTTP_PORT GRPC_PORT METRICS_PORT   Open Inference Protocol v2
#   serve.sh kserve HTTP_PORT GRPC_PORT                  v1 (TensorFlow-Serving-style REST)
# Run tools/model_servers/setup.sh first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/model_servers"
model="$ROOT/var/model-servers/iris"
kind="${1:-}"
case "$kind" in
  mlserver)
    [[ $# -eq 4 ]] || { echo "usage: serve.sh mlserver HTTP_PORT GRPC_PORT METRICS_PORT" >&2; exit 2; }
    [[ -x "$ROOT/var/venv-mlserver/bin/mlserver" && -f "$model/model.joblib" ]] ||
      { echo "serve.sh: run tools/model_servers/setup.sh first" >&2; exit 1; }
    # A server directory per port: settings.json plus the model's folder.
    dir="$ROOT/var/model-servers/mlserver-$2"
    rm -rf "$dir" && mkdir -p "$dir"
    ln -s "$model" "$dir/iris"
    # parallel_workers 0: inference in the server process (MLServer 1.7's
    # worker pool does not start under uvloop on Python 3.11).
    printf '{"http_port": %s, "grpc_port": %s, "metrics_port": %s, "parallel_workers": 0, "debug": false}\n' \
      "$2" "$3" "$4" > "$dir/settings.json"
    cd "$dir"
    exec "$ROOT/var/venv-mlserver/bin/mlserver" start .
    ;;
  kserve)
    [[ $# -eq 3 ]] || { echo "usage: serve.sh kserve HTTP_PORT GRPC_PORT" >&2; exit 2; }
    [[ -x "$ROOT/var/venv-kserve/bin/python" && -f "$model/model.joblib" ]] ||
      { echo "serve.sh: run tools/model_servers/setup.sh first" >&2; exit 1; }
    exec "$ROOT/var/venv-kserve/bin/python" "$HERE/kserve_iris.py" --model_name iris \
      --model_path "$model/model.joblib" --http_port "$2" --grpc_port "$3"
    ;;
  *)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    [[ "$kind" == "-h" || "$kind" == "--help" ]] && exit 0
    exit 2
    ;;
esac
