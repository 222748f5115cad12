#!/usr/bin/env bash
# Runs a local single-node Kafka broker (KRaft) for evserve: jars resolved by
# Maven from deploy/kafka/pom.xml, config from deploy/kafka/server.properties.in.
set -euo pipefail

PROG=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

DEPLOY_DIR="$ROOT/deploy/kafka"
POM="$DEPLOY_DIR/pom.xml"
TEMPLATE="$DEPLOY_DIR/server.properties.in"
LOG4J_CONF="$DEPLOY_DIR/log4j2.properties"
KAFKA_VAR="$ROOT/var/kafka"
LIBS="$KAFKA_VAR/libs"
HOST=localhost
# JVM settings as Kafka's own start scripts use them (kafka-server-start.sh,
# kafka-run-class.sh): a fixed 1 GiB heap (a growing heap means more young
# collections while the broker warms up) and G1 with short pauses.
read -r -a HEAP <<<"${EVS_KAFKA_HEAP:--Xmx1g -Xms1g}"
read -r -a JVM_OPTS <<<"${EVS_KAFKA_JVM_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent}"
START_TIMEOUT=90
STOP_TIMEOUT=30

usage() {
  cat <<EOF
Usage: $PROG COMMAND [--instance demo|test] [options]

Local single-node Kafka 4 broker (KRaft, broker+controller in one JVM).

Commands:
  start      start the broker in the background and wait (up to ${START_TIMEOUT}s) until
             it answers a metadata request; no-op when already running
  stop       SIGTERM, wait up to ${STOP_TIMEOUT}s, then SIGKILL; no-op when not running
  restart    stop, then start
  status     print running/stopped; exit 0 when running, 3 when stopped
  logs       print the last lines of the broker log (-n N, -f to follow)
  topics     list topics (name and partition count)
  topics create NAME [--partitions N] [--compact] [--config KEY=VALUE]...
  topics describe [NAME]
  topics delete NAME

Options:
  --instance NAME  demo (default): localhost:9092, controller 9093,
                   data in var/kafka/demo, kept across restarts
                   test: localhost:19092, controller 19093, var/kafka/test
  --reset          with start: stop the instance and wipe its data first;
                   with stop: wipe its data after stopping
  -n, --lines N    logs: number of lines (default 100)
  -f, --follow     logs: follow the log
  -h, --help       show this help

Files (per instance, var/kafka/INSTANCE/): server.properties (generated),
cluster.id, data/ (log.dirs), broker.pid, broker.log (stdout/stderr: warnings
and lifecycle), logs/server.log (INFO). Jars: var/kafka/libs, resolved by
Maven once and again whenever deploy/kafka/pom.xml changes.
Environment: EVS_KAFKA_HEAP (default "-Xmx1g -Xms1g"), EVS_KAFKA_JVM_OPTS (default
Kafka's own: "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent").
EOF
}

die() { echo "${PROG}[${INSTANCE}]: error: $*" >&2; exit 1; }
say() { echo "${PROG}[${INSTANCE}]: $*"; }

# ---------------------------------------------------------------- arguments
INSTANCE=demo
RESET=0
LINES=100
FOLLOW=0
PARTITIONS=""
COMPACT=0
TOPIC_CONFIGS=()
POSITIONAL=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance) [[ $# -ge 2 ]] || { echo "$PROG: --instance needs a value" >&2; exit 2; }; INSTANCE=$2; shift ;;
    --instance=*) INSTANCE=${1#*=} ;;
    --reset) RESET=1 ;;
    -n|--lines) [[ $# -ge 2 ]] || { echo "$PROG: $1 needs a value" >&2; exit 2; }; LINES=$2; shift ;;
    -f|--follow) FOLLOW=1 ;;
    --partitions) [[ $# -ge 2 ]] || { echo "$PROG: --partitions needs a value" >&2; exit 2; }; PARTITIONS=$2; shift ;;
    --compact) COMPACT=1 ;;
    --config) [[ $# -ge 2 ]] || { echo "$PROG: --config needs a value" >&2; exit 2; }; TOPIC_CONFIGS+=("$2"); shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "$PROG: unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) POSITIONAL+=("$1") ;;
  esac
  shift
done
[[ ${#POSITIONAL[@]} -ge 1 ]] || { usage >&2; exit 2; }
CMD=${POSITIONAL[0]}
ARGS=("${POSITIONAL[@]:1}")

case "$INSTANCE" in
  demo) PORT=9092; CONTROLLER_PORT=9093; NODE_ID=1 ;;
  test) PORT=19092; CONTROLLER_PORT=19093; NODE_ID=1 ;;
  *) echo "$PROG: unknown instance '$INSTANCE' (demo or test)" >&2; exit 2 ;;
esac
[[ $LINES =~ ^[0-9]+$ ]] || { echo "$PROG: bad line count '$LINES'" >&2; exit 2; }

INST_DIR="$KAFKA_VAR/$INSTANCE"
DATA_DIR="$INST_DIR/data"
PROPS="$INST_DIR/server.properties"
PIDFILE="$INST_DIR/broker.pid"
LOG="$INST_DIR/broker.log"
CLUSTER_ID_FILE="$INST_DIR/cluster.id"
BOOTSTRAP="$HOST:$PORT"

# ---------------------------------------------------------------- helpers
ensure_tools() {
  local need=0
  for tool in java mvn kcat; do
    command -v "$tool" >/dev/null 2>&1 || need=1
  done
  if [[ $need -eq 1 ]]; then
    say "java, mvn or kcat missing: running scripts/install-deps.sh"
    "$SCRIPT_DIR/install-deps.sh"
  fi
  local ver
  ver=$(java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n1)
  if [[ -z $ver || $ver -lt 17 ]]; then
    die "Kafka 4 needs Java 17 or newer; 'java' is version '${ver:-unknown}' (install openjdk-17-jre-headless or fix update-alternatives)"
  fi
}

# Resolves the broker jars into var/kafka/libs (under a lock, so two
# instances starting at once do not race). Re-resolves when the pom changed.
ensure_libs() {
  mkdir -p "$KAFKA_VAR"
  local want
  want=$(sha256sum "$POM" | cut -d' ' -f1)
  exec 9>"$KAFKA_VAR/.libs.lock"
  flock 9
  if [[ -f "$LIBS/.pom.sha256" && $(cat "$LIBS/.pom.sha256") == "$want" ]] &&
     compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    flock -u 9; exec 9>&-
    return 0
  fi
  if [[ -d $LIBS ]]; then
    say "deploy/kafka/pom.xml changed since the jars were resolved: resolving again"
  else
    say "resolving Kafka jars with Maven into var/kafka/libs (first run only)"
  fi
  local tmp="$KAFKA_VAR/libs.new" mvnlog="$KAFKA_VAR/libs.mvn.log"
  rm -rf "$tmp"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvnlog" 2>&1; then
    tail -n 30 "$mvnlog" >&2
    die "Maven could not resolve the Kafka jars (full output: ${mvnlog#"$ROOT"/})"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null ||
    die "Maven finished but no kafka_2.13 jar in $tmp (see ${mvnlog#"$ROOT"/})"
  cp "$POM" "$tmp/.pom.xml"
  echo "$want" >"$tmp/.pom.sha256"
  local other opid
  for other in demo test; do
    opid=$(cat "$KAFKA_VAR/$other/broker.pid" 2>/dev/null || true)
    if [[ $opid =~ ^[0-9]+$ ]] && alive "$opid"; then
      say "warning: the $other broker (pid $opid) runs on the old jars; restart it: scripts/kafka.sh restart --instance $other"
    fi
  done
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  rm -f "$mvnlog"
  say "resolved $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1))"
  flock -u 9; exec 9>&-
}

# run_tool CLASS ARGS...: a small-heap JVM running a Kafka tool, with the
# same log4j2 config as the broker.
run_tool() {
  mkdir -p "$INST_DIR/logs/tools"
  java -Xmx256m -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$LOG4J_CONF" "-Dkafka.logs.dir=$INST_DIR/logs/tools" \
    -cp "$LIBS/*" "$@"
}

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

render_config() {
  [[ -f $TEMPLATE ]] || die "template missing: $TEMPLATE"
  mkdir -p "$INST_DIR" "$DATA_DIR" "$INST_DIR/logs"
  sed -e "s|@NODE_ID@|$NODE_ID|g" \
      -e "s|@QUORUM_VOTERS@|$NODE_ID@$HOST:$CONTROLLER_PORT|g" \
      -e "s|@HOST@|$HOST|g" \
      -e "s|@PORT@|$PORT|g" \
      -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@LOG_DIRS@|$(sed_escape "$DATA_DIR")|g" \
      "$TEMPLATE" >"$PROPS.tmp"
  if grep -q '@[A-Z_]*@' "$PROPS.tmp"; then
    die "unsubstituted placeholder in $TEMPLATE: $(grep -o '@[A-Z_]*@' "$PROPS.tmp" | head -n1)"
  fi
  mv "$PROPS.tmp" "$PROPS"
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    if [[ ! -f $CLUSTER_ID_FILE ]]; then
      sed -n 's/^cluster\.id=//p' "$DATA_DIR/meta.properties" >"$CLUSTER_ID_FILE"
    fi
    return 0
  fi
  local id
  if [[ -s $CLUSTER_ID_FILE ]]; then
    id=$(cat "$CLUSTER_ID_FILE")
  else
    id=$(run_tool kafka.tools.StorageTool random-uuid 2>>"$LOG" | tail -n1)
    [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "could not generate a cluster id (got '$id'); see ${LOG#"$ROOT"/}"
    echo "$id" >"$CLUSTER_ID_FILE"
  fi
  say "formatting storage (cluster id $id)"
  if ! run_tool kafka.tools.StorageTool format -t "$id" -c "$PROPS" >>"$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    die "kafka storage format failed"
  fi
}

# alive PID: the process exists and is not a zombie (an exited child that
# the container's init has not reaped yet still answers kill -0).
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
  [[ -n $state && $state != Z ]]
}

read_pid() {
  if [[ -f $PIDFILE ]]; then cat "$PIDFILE" 2>/dev/null || true; fi
}

# Running = pid file names a live process that is our broker for this instance.
is_running() {
  local pid
  pid=$(read_pid)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $cmdline == *kafka.Kafka* && $cmdline == *"$PROPS"* ]]
}

answers() {
  timeout 10 kcat -b "$BOOTSTRAP" -L -m 5 >/dev/null 2>&1
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_ready() {
  local pid=$1 start=$SECONDS next=5
  while true; do
    if ! alive "$pid"; then
      echo "---- last lines of ${LOG#"$ROOT"/} ----" >&2
      tail -n 40 "$LOG" >&2 || true
      rm -f "$PIDFILE"
      die "broker exited during startup"
    fi
    if answers; then
      say "running (pid $pid, listener $BOOTSTRAP) - ready after $((SECONDS - start))s"
      return 0
    fi
    local elapsed=$((SECONDS - start))
    if [[ $elapsed -ge $START_TIMEOUT ]]; then
      echo "---- last lines of ${LOG#"$ROOT"/} ----" >&2
      tail -n 40 "$LOG" >&2 || true
      say "stopping the unresponsive broker"
      stop_broker >/dev/null || true
      die "broker did not answer a metadata request on $BOOTSTRAP within ${START_TIMEOUT}s"
    fi
    if [[ $elapsed -ge $next ]]; then
      say "waiting for the broker on $BOOTSTRAP ... ${elapsed}s"
      next=$((next + 5))
    fi
    sleep 1
  done
}

stop_broker() {
  if ! is_running; then
    if [[ -f $PIDFILE ]]; then
      rm -f "$PIDFILE"
      say "not running (removed stale pid file)"
    else
      say "not running"
    fi
    return 0
  fi
  local pid
  pid=$(read_pid)
  say "stopping broker (pid $pid, SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while alive "$pid"; do
    if [[ $waited -ge $STOP_TIMEOUT ]]; then
      say "still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 1
    waited=$((waited + 1))
    if ((waited % 5 == 0)); then say "waiting for shutdown ... ${waited}s"; fi
  done
  rm -f "$PIDFILE"
  say "stopped"
}

wipe_data() {
  if [[ -d $INST_DIR ]]; then
    say "--reset: wiping ${INST_DIR#"$ROOT"/}"
    rm -rf "$INST_DIR"
  fi
}

# ---------------------------------------------------------------- commands
cmd_start() {
  if [[ $RESET -eq 1 ]]; then
    if is_running; then stop_broker; fi
    wipe_data
  fi
  if is_running; then
    local pid
    pid=$(read_pid)
    if answers; then
      say "already running (pid $pid, listener $BOOTSTRAP)"
      return 0
    fi
    say "already started (pid $pid) but not answering yet: waiting"
    wait_ready "$pid"
    return 0
  fi
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_in_use "$p"; then
      die "port $p is already in use by another process (another Kafka? check with: ss -ltnp 'sport = :$p')"
    fi
  done

  ensure_tools
  ensure_libs
  mkdir -p "$INST_DIR"
  if [[ -f $LOG ]]; then mv -f "$LOG" "$LOG.1"; fi
  render_config
  format_storage

  say "starting broker (listener $BOOTSTRAP, controller $HOST:$CONTROLLER_PORT, data ${DATA_DIR#"$ROOT"/})"
  local cmd=(java "${HEAP[@]}" "${JVM_OPTS[@]}" -Djava.awt.headless=true
       "-Dlog4j2.configurationFile=$LOG4J_CONF" "-Dkafka.logs.dir=$INST_DIR/logs"
       -cp "$LIBS/*" kafka.Kafka "$PROPS")
  rm -f "$PIDFILE"
  (
    cd "$INST_DIR"
    # bash writes its own pid, then execs java: the pid file names the JVM.
    # shellcheck disable=SC2016 # $$, $0 and $@ belong to the inner bash
    nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" "${cmd[@]}" \
      >>"$LOG" 2>&1 </dev/null &
  )
  local pid=""
  for _ in $(seq 1 50); do
    pid=$(read_pid)
    [[ -n $pid ]] && break
    sleep 0.1
  done
  [[ -n $pid ]] || die "broker did not start (no pid file); see ${LOG#"$ROOT"/}"
  wait_ready "$pid"
}

cmd_stop() {
  stop_broker
  if [[ $RESET -eq 1 ]]; then
    wipe_data
  fi
}

cmd_status() {
  if is_running; then
    local pid
    pid=$(read_pid)
    if answers; then
      echo "${PROG}[${INSTANCE}]: running (pid $pid, listener $BOOTSTRAP)"
    else
      echo "${PROG}[${INSTANCE}]: running (pid $pid, listener $BOOTSTRAP) but NOT answering metadata requests"
    fi
    return 0
  fi
  echo "${PROG}[${INSTANCE}]: stopped (listener $BOOTSTRAP)"
  return 3
}

cmd_logs() {
  [[ -f $LOG ]] || die "no log yet (${LOG#"$ROOT"/})"
  if [[ $FOLLOW -eq 1 ]]; then
    exec tail -n "$LINES" -F "$LOG"
  fi
  tail -n "$LINES" "$LOG"
}

require_answering() {
  is_running || die "broker is not running (start it with: scripts/kafka.sh start --instance $INSTANCE)"
  answers || die "broker (pid $(read_pid)) does not answer on $BOOTSTRAP"
}

cmd_topics() {
  local sub=${ARGS[0]:-list}
  case "$sub" in
    list)
      require_answering
      kcat -b "$BOOTSTRAP" -L -m 5 2>/dev/null |
        sed -n 's/^ *topic "\([^"]*\)" with \([0-9]*\) partitions.*/\1 \2/p' | sort |
        awk 'BEGIN { n = 0 } { printf "%-40s partitions=%s\n", $1, $2; n++ }
             END { if (n == 0) print "(no topics)" }'
      ;;
    create)
      local name=${ARGS[1]:-}
      [[ -n $name ]] || die "usage: $PROG topics create NAME [--partitions N] [--compact] [--config K=V]..."
      require_answering
      local tool=(org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP"
                  --create --if-not-exists --topic "$name" --replication-factor 1)
      if [[ -n $PARTITIONS ]]; then tool+=(--partitions "$PARTITIONS"); fi
      if [[ $COMPACT -eq 1 ]]; then tool+=(--config cleanup.policy=compact); fi
      local c
      for c in "${TOPIC_CONFIGS[@]}"; do tool+=(--config "$c"); done
      run_tool "${tool[@]}"
      ;;
    describe)
      require_answering
      local tool=(org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --describe)
      if [[ -n ${ARGS[1]:-} ]]; then tool+=(--topic "${ARGS[1]}"); fi
      run_tool "${tool[@]}"
      ;;
    delete)
      local name=${ARGS[1]:-}
      [[ -n $name ]] || die "usage: $PROG topics delete NAME"
      require_answering
      run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
        --delete --if-exists --topic "$name"
      ;;
    *) die "unknown topics subcommand '$sub' (list, create, describe, delete)" ;;
  esac
}

if [[ $RESET -eq 1 && $CMD != start && $CMD != stop && $CMD != restart ]]; then
  echo "$PROG: --reset only applies to start, stop and restart" >&2
  exit 2
fi

case "$CMD" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) stop_broker; cmd_start ;;
  status) cmd_status ;;
  logs) cmd_logs ;;
  topics) cmd_topics ;;
  help) usage ;;
  *) echo "$PROG: unknown command '$CMD' (see --help)" >&2; exit 2 ;;
esac
