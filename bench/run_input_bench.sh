#!/usr/bin/env bash
# Builds evserve and evs_input_bench (release), starts the test broker when it
# is not running (unless --bootstrap names another broker), runs the input
# adapter vs plain-copy benchmark, saves the
# result under bench/results/ and regenerates the "Input adapter vs plain
# librdkafka copy" section of docs/benchmarks.md. Stops the broker if it
# started it.
set -euo pipefail

PROG=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

usage() {
  cat <<EOF
Usage: bench/$PROG [--events N] [--bootstrap HOST:PORT] [--no-build] [--no-docs] [-- BENCH_ARGS...]

  --events N    events per throughput run (default 2000000; smaller = quick run)
  --bootstrap HOST:PORT
                use this (running) broker; no broker is started or stopped
  --no-build    use the existing build/release binaries
  --no-docs     do not save the result or touch docs/benchmarks.md
                (the table is still printed)
  -- ARGS       passed to evs_input_bench as they are (e.g. --latency-seconds 5)
  -h, --help    show this help

Broker: without --bootstrap, the 'test' instance of scripts/kafka.sh
(localhost:19092). When it is not running it is started with --reset and
stopped (and wiped) at the end; a running one is used as it is and left
running. With --bootstrap the given broker is used and left alone.
Results: bench/results/input-<UTC time>.md, and docs/benchmarks.md between
the '<!-- BEGIN input-adapter-bench -->' / '<!-- END input-adapter-bench -->'
markers (text outside them is kept).
EOF
}

events=2000000
bootstrap=""
build=1
docs=1
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) [[ $# -ge 2 ]] || { echo "$PROG: --events needs a value" >&2; exit 2; }; events=$2; shift ;;
    --events=*) events=${1#*=} ;;
    --bootstrap) [[ $# -ge 2 ]] || { echo "$PROG: --bootstrap needs a value" >&2; exit 2; }; bootstrap=$2; shift ;;
    --bootstrap=*) bootstrap=${1#*=} ;;
    --no-build) build=0 ;;
    --no-docs) docs=0 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$PROG: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $events =~ ^[1-9][0-9]*$ ]] || { echo "$PROG: bad event count '$events'" >&2; exit 2; }

cd "$ROOT"
KAFKA="$ROOT/scripts/kafka.sh"
BOOTSTRAP=${bootstrap:-localhost:19092}
BIN_DIR="$ROOT/build/release/bin"

# ------------------------------------------------------------------ build
if [[ $build -eq 1 ]]; then
  # The bench target exists only with EVS_BUILD_BENCH=ON; an existing
  # release tree may have been configured without it.
  if [[ -f build/release/CMakeCache.txt ]] && ! grep -q '^EVS_BUILD_BENCH:BOOL=ON' build/release/CMakeCache.txt; then
    echo "$PROG: enabling EVS_BUILD_BENCH in build/release"
    cmake -DEVS_BUILD_BENCH=ON build/release >/dev/null
  fi
  "$ROOT/scripts/build.sh" --preset release --target evserve --target evs_input_bench
fi
for b in evserve evs_input_bench; do
  [[ -x $BIN_DIR/$b ]] || { echo "$PROG: $BIN_DIR/$b missing (run without --no-build)" >&2; exit 1; }
done

# ------------------------------------------------------------------ broker
started=0
stop_broker() {
  if [[ $started -eq 1 ]]; then
    echo "$PROG: stopping the test broker (started by this script)"
    "$KAFKA" stop --instance test --reset || true
    started=0
  fi
}
trap stop_broker EXIT
trap 'exit 130' INT TERM
if [[ -n $bootstrap ]]; then
  echo "$PROG: using the broker at $BOOTSTRAP (--bootstrap; not started or stopped here)"
elif "$KAFKA" status --instance test >/dev/null 2>&1; then
  echo "$PROG: using the running test broker at $BOOTSTRAP (left running)"
else
  "$KAFKA" start --instance test --reset
  started=1
fi

# ------------------------------------------------------------------ run
stamp=$(date -u +%Y%m%d-%H%M%S)
fragment=$(mktemp /tmp/evs-input-bench.XXXXXX.md)
rc=0
# The test broker's CPU per run goes into the table (not for --bootstrap).
broker_pid=()
if [[ -z $bootstrap && -s var/kafka/test/broker.pid ]]; then broker_pid=(--broker-pid "$(cat var/kafka/test/broker.pid)"); fi
"$BIN_DIR/evs_input_bench" --bootstrap "$BOOTSTRAP" --events "$events" --evserve "$BIN_DIR/evserve" \
  --out "$fragment" --rounds 3 "${broker_pid[@]}" "${extra[@]}" || rc=$?
stop_broker

if [[ ! -s $fragment ]]; then
  echo "$PROG: the benchmark produced no result (exit $rc)" >&2
  exit 1
fi
if [[ $docs -eq 0 ]]; then
  rm -f "$fragment"
  exit "$rc"
fi

# ------------------------------------------------------------------ results
mkdir -p "$ROOT/bench/results"
result="$ROOT/bench/results/input-$stamp.md"
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
if [[ -n $(git -C "$ROOT" status --porcelain -- src 2>/dev/null) ]]; then dirty=" (plus uncommitted changes in src/)"; fi
cmdline="bench/run_input_bench.sh --events $events${bootstrap:+ --bootstrap $bootstrap}${extra[*]:+ -- ${extra[*]}}"
{
  echo "#### $(date -u '+%Y-%m-%d %H:%M UTC') - \`$cmdline\`"
  echo
  echo "evserve at commit $commit$dirty."
  echo
  cat "$fragment"
} >"$result"
rm -f "$fragment"
echo "$PROG: saved $result"

# Regenerate the section of docs/benchmarks.md between the markers.
section=$(mktemp /tmp/evs-input-bench-section.XXXXXX.md)
{
  echo "<!-- BEGIN input-adapter-bench (generated by bench/run_input_bench.sh; edit the script, not this block) -->"
  cat <<'EOF'
## Input adapter vs plain librdkafka copy

Question (issue acceptance): how many 200-byte JSON events per second does
`evserve input-adapter` move with a 3-route config, and at what latency,
compared with the simplest possible librdkafka consume -> produce copy on the
same broker? Target: the adapter moves at least 70% of the copy's events/s.
A third contender, the same copy stamping the eight headers evserve's wire
format puts on every request record, shows how much of the gap the headers
alone cost (context; the target is against the header-less copy).

Run it: `bench/run_input_bench.sh` (full size, ~3 minutes after the build) or
`bench/run_input_bench.sh --events 50000 --no-docs -- --latency-seconds 3`
(quick check). It builds release (`scripts/build.sh`), starts the `test`
broker (`scripts/kafka.sh start --instance test --reset`, localhost:19092)
unless it is running, runs `build/release/bin/evs_input_bench`, saves the
result in `bench/results/` and rewrites this block; it stops (and wipes) the
broker if it started it. `--bootstrap HOST:PORT` uses another running broker
instead and leaves it alone.

### Method

- **Events**: `{"id":N,"user":"u123","amount":12.5,"country":"US","ts":<µs>,"device":...,"page":...,"pad":"xx..."}`,
  exactly 200 bytes, key `u<id mod 1000>`, no headers; `amount` is always > 0.
- **Topics**: fresh source and destination topics per run, 4 partitions
  each (`--partitions`), replication 1. Destinations are created with
  `message.timestamp.type=LogAppendTime`.
- **Throughput** (after unreported 200,000-event runs of both copies that
  warm up the broker JVM; then the contenders run one after another, in
  rounds: plain copy, plain copy + evserve headers, then per round evserve,
  plain copy, plain copy + evserve headers, so drift between the runs shows;
  the script runs 3 rounds and each ratio is the median of the rounds'
  ratios, each round's adapter run against the mean of the copy runs before
  and after it): N events (default 2,000,000; with 500,000 a single stall of
  half a second moved a run's rate by a third) are produced to the source
  topic and flushed *before* the contender starts; the bench polls the destination's high watermarks every
  50 ms until it holds N records, then stops the contender.
  `events/s = N / (append time of the newest destination record - append
  time of the oldest)`, read from the first and last record of each
  destination partition. Startup, group join and partition assignment happen
  before the first record and are excluded; the "wall from start" column
  includes them. LogAppendTime rather than CreateTime: CreateTime is stamped
  when the contender hands a record to librdkafka, and the plain copy can
  hand over ~100k records (librdkafka's local queue) before any of them reach
  the broker, which inflated its rate in trial runs.
- **Plain copy** (in-process thread of the bench binary): librdkafka
  high-level consumer (group, subscribe, `auto.offset.reset=earliest`,
  `enable.auto.commit=true`, `enable.auto.offset.store=false`, and
  evserve's consumer default `queued.min.messages=1000000`: with librdkafka's
  100,000 every contender idled most of each second behind librdkafka 2.0's
  fixed 1 s fetch back-off, and all three moved a third of what they move
  now) -> producer
  with evserve's defaults (`linger.ms=5`, `enable.idempotence=true`), copying
  key, value and headers verbatim (`RD_KAFKA_MSG_F_COPY`, no parsing). A
  source offset is stored once the copy of that record and of every earlier
  record of its partition is delivered (the same at-least-once bookkeeping as
  evserve's StreamRunner); auto-commit sends the stored offsets. Its queue
  bound is librdkafka's (`queue.buffering.max.messages` 100,000); evserve
  pauses its input at `max_in_flight` (default 100,000) with a local queue
  of at least 100,000.
- **Plain copy + evserve headers**: the same copy, but every produced record
  carries the eight headers evserve's input adapter writes on each request
  record, with values built per record as the adapter builds them: `evs-id`
  and `evs-src` = `<source topic>/<partition>/<offset>`, `evs-ts` = current
  ms (coarse real-time clock, as evserve), and constant `evs-route`
  `payments`, `evs-model` `m-a`, `evs-variant` `a`, `evs-shadow` `false`,
  `evs-config` `0`; built with `rd_kafka_headers_new` + `rd_kafka_header_add`
  and passed with `RD_KAFKA_V_HEADERS`, as evserve's `kafka::Produce` does.
  No JSON decode, no predicate, no transform: the value is still copied
  verbatim. It is the ceiling for any implementation of this wire format
  with librdkafka on this broker.
- **evserve**: `evserve input-adapter -c <config>` spawned as a child process
  (logs in /tmp/evs-input-bench/), `guarantee: at-least-once`, unique topic
  names, three routes: `clicks` (`when: "amount > 100"`) and `views`
  (`select`) on two other topics that stay empty, and `payments` on the
  source topic with `when: "amount > 0"`, `cast: {amount: double}`,
  `derive: {amount_x2: "amount * 2"}` and two variants 90/10 on one echo job;
  destination `<requests_prefix>echo`. Stopped with SIGTERM.
- **CPU** columns: the evserve child's user+sys time from `wait4` (includes
  its startup); for the two copies the bench process's CPU time between
  start and stop (the copy thread and its librdkafka threads, plus the
  bench's watermark polling). Broker CPU is not included.
- **Latency**: per contender, fresh topics, after a `sync` (the page cache's
  writeback of earlier runs came in bursts that stalled the broker for up to a
  second in whichever row was running); the contender is started and
  warmed up (events with `"id":-1` until one arrives, then 2 s more); then one
  producer thread (`linger.ms=1`) sends events at a fixed rate: half of the
  plain copy's and half of the adapter's measured throughput, then both
  copies at the adapter's half rate; the send time in µs goes into `"ts"` just before
  `rd_kafka_producev`. A consumer on the destination (in the bench process)
  records `now - ts` for every record: p50 / p99 / p99.9 / max. The copy
  keeps `ts` verbatim; the adapter re-serializes it through its transform
  (an integer below 2^53 survives exactly). Includes both producers'
  batching (`linger.ms` 1 and 5) and two broker round trips.

### Caveats

- Everything shares one **2-core** VM: the single Kafka broker (JVM), the
  contender, the bench's producer/consumers, and anything else running at the
  time (other developers' brokers and tests). The load average is printed
  with each run. Absolute numbers are small-machine numbers; the ratio is the
  point, and even it moves by tens of percent between runs (compare the two
  runs of each copy in a table).
- The two copies run inside the bench process; evserve is a separate
  process. The bench's watermark polling (4 requests / 50 ms) is negligible.
- The bench binary (both copies) uses glibc malloc; evserve is linked with
  tcmalloc. The header copy is allocator-bound (librdkafka allocates every
  header), so with glibc it understates the header ceiling; see the
  hand-written notes below.
- A burst from a pre-filled topic measures drain capacity; "half of it" is
  not necessarily sustainable when a producer runs at the same time on the
  same two cores, so latency rows with a high rate can show queueing.
- One adapter run and two runs of each copy per invocation; see the
  earlier runs for spread. Runs before 2026-11-27 01:43 UTC have no
  header contender (the bench had only plain, evserve, plain then).

### Results

EOF
  n=0
  while IFS= read -r f; do
    if [[ $n -eq 0 ]]; then echo "Latest run:"; echo; fi
    if [[ $n -eq 1 ]]; then echo "Earlier runs, newest first:"; echo; fi
    n=$((n + 1))
    cat "$f"
    echo
  done < <(ls -1 "$ROOT"/bench/results/input-*.md 2>/dev/null | sort -r)
  echo "<!-- END input-adapter-bench -->"
} >"$section"

"$ROOT/bench/replace_docs_section.sh" input-adapter-bench "$section"
rm -f "$section"
echo "$PROG: updated docs/benchmarks.md"
grep -E '^\*\*Target' "$result" || true
exit "$rc"
