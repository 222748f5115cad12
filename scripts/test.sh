#!/usr/bin/env bash
# Builds everything and runs every test: unit tests, then the end-to-end
# tests against a real Kafka broker started here (localhost:19092, fresh
# data, stopped at the end), so a running demo on :9092 is never touched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  cat <<USAGE
Usage: scripts/test.sh [ctest arguments...]
Installs missing packages, builds the release preset, starts the test broker
(scripts/kafka.sh --instance test --reset), runs ctest, stops the broker.
Example: scripts/test.sh -R Config
PMML conformance only: scripts/test.sh -L conformance (pmml_conformance: the
corpus items on tests/conformance/pmml_passing.txt must pass; the corpus is read
from \$EVS_CORPUS or ../shared/corpus and the test is skipped without it;
pmml_fixtures: every row of tests/fixtures/pmml/fixtures.tsv; pmml_score_e2e:
evserve score end to end). See docs/conformance.md.
USAGE
  exit 0
fi
scripts/install-deps.sh
scripts/build.sh
# Real model servers for the service job's tests (Python venvs from PyPI).
tools/model_servers/setup.sh
export EVS_MODEL_SERVERS="$ROOT/var/model-servers"
scripts/kafka.sh start --instance test --reset
cleanup() { scripts/kafka.sh stop --instance test || true; }
trap cleanup EXIT
export EVS_TEST_BOOTSTRAP=localhost:19092
export EVS_TEST_TMP="$ROOT/var/test-tmp"
rm -rf "$EVS_TEST_TMP" && mkdir -p "$EVS_TEST_TMP"
# Unit tests in parallel; e2e tests share the broker and hold a resource lock.
ctest --test-dir build/release --output-on-failure -j2 --timeout 600 "$@"
