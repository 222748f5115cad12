#!/usr/bin/env bash
# Stops what scripts/start.sh started: the evserve modules (SIGTERM: they
# finish in-flight records, commit and leave their groups), Prometheus and
# the demo Kafka broker. Data under var/ is kept.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  echo "Usage: scripts/stop.sh   (stops modules, Prometheus and the demo Kafka broker)"
  exit 0
fi
shopt -s nullglob
for pidfile in var/run/*.pid; do
  name="$(basename "$pidfile" .pid)"
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$name did not stop in 30 s; killing it"
      kill -KILL "$pid" || true
    fi
    echo "$name stopped"
  fi
  rm -f "$pidfile"
done
scripts/prometheus.sh stop
scripts/kafka.sh stop --instance demo
