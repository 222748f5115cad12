#!/usr/bin/env bash
# Runs the whole evserve demo on this machine: installs what is missing,
# builds, starts Kafka (localhost:9092), creates the topics, starts the
# modules of deploy/demo/evserve.yaml and Prometheus (localhost:9090), and
# prints how to send an event and read the result.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG="${EVS_DEMO_CONFIG:-deploy/demo/evserve.yaml}"

usage() {
  cat <<USAGE
Usage: scripts/start.sh [--no-build] [--config FILE]

Starts Kafka (KRaft, localhost:9092), the evserve modules of the demo config
(input-adapter :9101, pmml job :9103, spark job :9104, service job :9105,
output-adapter :9102; each serves /metrics /healthz /readyz /status), the
MLServer model server the service job calls (127.0.0.1:9500, installed into a
Python venv from PyPI by tools/model_servers/setup.sh) and Prometheus
(localhost:9090).
Stop everything with scripts/stop.sh. Logs: var/log/. PIDs: var/run/.
USAGE
}
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --config) CONFIG="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "start.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\n==> %s\n' "$*"; }

step "Installing missing system packages"
scripts/install-deps.sh
if [[ $BUILD == 1 ]]; then
  step "Building"
  scripts/build.sh
fi
EVS="$ROOT/build/bin/evserve"
[[ -x "$EVS" ]] || { echo "start.sh: $EVS is missing; run scripts/build.sh" >&2; exit 1; }

step "Starting Kafka"
scripts/kafka.sh start --instance demo

step "Validating the config and creating topics"
"$EVS" config validate "$CONFIG"
"$EVS" topics create -c "$CONFIG" >/dev/null

step "Loading the demo models into the registry (evs.models)"
# Added once; a running or restarted job loads them from the topic (the pmml
# job the PMML models, the spark job its Spark pipeline).
registry=$("$EVS" model list -c "$CONFIG")
for m in "iris-tree|pmml|tests/fixtures/pmml/iris_tree.pmml" "iris-forest|pmml|tests/fixtures/pmml/iris_forest.pmml" \
         "tweets_sentiment|spark|tests/fixtures/spark/tweets_sentiment.zip"; do
  IFS='|' read -r model format file <<<"$m"
  if grep -q "^$model " <<<"$registry"; then
    echo "$model already in the registry"
  else
    "$EVS" model add "$model" --format "$format" --file "$file" -c "$CONFIG" --no-wait
  fi
done

mkdir -p var/log var/run var/prometheus
# module name (for logs/pids), evserve arguments, admin port
MODULES=(
  "input-adapter|input-adapter -c $CONFIG|9101"
  "pmml-job|pmml-job -c $CONFIG --job pmml|9103"
  "spark-job|spark-job -c $CONFIG --job spark|9104"
  "output-adapter|output-adapter -c $CONFIG|9102"
)

step "Starting the model server for the service job (MLServer, 127.0.0.1:9500)"
SERVICE=0
if [[ -f var/run/mlserver.pid ]] && kill -0 "$(cat var/run/mlserver.pid)" 2>/dev/null; then
  echo "mlserver already running (pid $(cat var/run/mlserver.pid))"
  SERVICE=1
elif tools/model_servers/setup.sh --only mlserver; then
  setsid nohup tools/model_servers/serve.sh mlserver 9500 9501 9502 >>var/log/mlserver.log 2>&1 </dev/null &
  echo $! >var/run/mlserver.pid
  for _ in $(seq 1 120); do
    if curl -sf http://127.0.0.1:9500/v2/models/iris/ready >/dev/null; then SERVICE=1; break; fi
    kill -0 "$(cat var/run/mlserver.pid)" 2>/dev/null || break
    sleep 0.5
  done
  if [[ $SERVICE == 1 ]]; then
    echo "mlserver ready on :9500 (pid $(cat var/run/mlserver.pid), log var/log/mlserver.log)"
  else
    echo "start.sh: MLServer did not come up (see var/log/mlserver.log); the service job is not started" >&2
  fi
else
  echo "start.sh: MLServer could not be installed (no package registry?); the service job is not started," >&2
  echo "          everything else is. Events on events.service wait in Kafka until it runs." >&2
fi
if [[ $SERVICE == 1 ]]; then
  MODULES+=("service-job|service-job -c $CONFIG --job service|9105")
fi
step "Starting modules"
targets="["
for m in "${MODULES[@]}"; do
  IFS='|' read -r name args port <<<"$m"
  pidfile="var/run/$name.pid"
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$pidfile"))"
  else
    # shellcheck disable=SC2086
    setsid nohup "$EVS" $args >>"var/log/$name.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    echo "$name started (pid $!, log var/log/$name.log)"
  fi
  targets+="{\"targets\":[\"127.0.0.1:$port\"],\"labels\":{\"instance_name\":\"$name\"}},"
done
targets="${targets%,}]"
echo "$targets" >var/prometheus/targets.json

step "Waiting for the modules to be ready"
for m in "${MODULES[@]}"; do
  IFS='|' read -r name _ port <<<"$m"
  ok=0
  for _ in $(seq 1 60); do
    if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then ok=1; break; fi
    if ! kill -0 "$(cat "var/run/$name.pid")" 2>/dev/null; then break; fi
    sleep 0.5
  done
  if [[ $ok == 1 ]]; then
    echo "$name ready on :$port"
  else
    echo "start.sh: $name did not become ready; last log lines:" >&2
    tail -n 20 "var/log/$name.log" >&2
    exit 1
  fi
done

step "Starting Prometheus"
scripts/prometheus.sh start --targets var/prometheus/targets.json

cat <<TOUR

evserve is running.
  Kafka:       localhost:9092
  Prometheus:  http://localhost:9090  (targets: http://localhost:9090/targets)
  Modules:     input-adapter http://127.0.0.1:9101/status
               pmml job      http://127.0.0.1:9103/status
               spark job     http://127.0.0.1:9104/status
               service job   http://127.0.0.1:9105/status  (MLServer on :9500)
               output-adapter http://127.0.0.1:9102/status

Send an event:
  build/bin/evserve send -t events.iris -k flower-1 \\
    '{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}'
Read the prediction (id, model, version, variant, species):
  build/bin/evserve tail -t predictions.iris --from-beginning -n 1
  (or with kcat: kcat -b localhost:9092 -C -t predictions.iris -o beginning -c 1 -f '%k %s\\n')
Send a tweet (plain text) and read its sentiment (id, text, sentiment):
  build/bin/evserve send -t events.tweets -k tweet-1 'I like this battery' 'the screen was pretty disappointing'
  build/bin/evserve tail -t predictions.tweets --from-beginning -n 2
Send iris fields to the model behind MLServer (service job) and read the answer (id, prediction, species):
  build/bin/evserve send -t events.service -k flower-2 \\
    '{"sepal_length":6.7,"sepal_width":3.0,"petal_length":5.2,"petal_width":2.3}'
  build/bin/evserve tail -t predictions.service --from-beginning -n 1
Models: list, update, roll back (the job swaps versions online):
  build/bin/evserve model list -c $CONFIG
  build/bin/evserve model update iris-tree tests/fixtures/pmml/iris_forest.pmml -c $CONFIG
  build/bin/evserve model rollback iris-tree -c $CONFIG
Dead letters (bad events, with the reason in headers):
  build/bin/evserve tail -t evs.dlq --from-beginning --headers --timeout 5
Change the config online (e.g. edit the weights in a copy, then):
  build/bin/evserve config push my.yaml && build/bin/evserve config get -c $CONFIG
Stop everything:
  scripts/stop.sh
TOUR
