#!/usr/bin/env bash
# Runs the Debian-packaged Prometheus (/usr/bin/prometheus) as a plain
# background process for evserve (not via systemd / the init script).
set -euo pipefail

PROG=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

PROMETHEUS=/usr/bin/prometheus
LISTEN=127.0.0.1:9090
URL="http://$LISTEN"
TEMPLATE="$ROOT/deploy/prometheus/prometheus.yml.in"
VAR="$ROOT/var/prometheus"
CONFIG="$VAR/prometheus.yml"
DATA="$VAR/data"
PIDFILE="$VAR/prometheus.pid"
LOG="$VAR/prometheus.log"
DEFAULT_TARGETS="$VAR/targets.json"
RETENTION=2d
START_TIMEOUT=30
STOP_TIMEOUT=30

usage() {
  cat <<EOF
Usage: $PROG start|stop|restart|status|reload [--targets FILE]

Runs $PROMETHEUS in the background, listening on $URL, with
  --config.file=var/prometheus/prometheus.yml   (generated from
                                                 deploy/prometheus/prometheus.yml.in)
  --storage.tsdb.path=var/prometheus/data       (retention $RETENTION)
Scrape interval 5s; jobs: 'prometheus' (itself) and 'evserve' (file_sd).

Commands:
  start    start and wait (up to ${START_TIMEOUT}s) for $URL/-/ready; when already
           running, re-renders the config and reloads it if it changed.
           If $LISTEN is held by another Prometheus (e.g. the Debian
           service the package starts), that one is stopped first.
  stop     SIGTERM, wait up to ${STOP_TIMEOUT}s, then SIGKILL; no-op when not running
  restart  stop, then start
  status   running/stopped plus a target summary; exit 0 running, 3 stopped
  reload   re-render the config and send SIGHUP

Options:
  --targets FILE  file_sd targets file (default var/prometheus/targets.json),
                  a JSON list such as
                  [{"targets":["127.0.0.1:9101"],"labels":{"module":"input-adapter"}}]
                  Created as [] when absent. Prometheus re-reads it on change.
  -h, --help      show this help

Files: var/prometheus/{prometheus.yml,prometheus.pid,prometheus.log,data/}
EOF
}

say() { echo "$PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

TARGETS=""
POSITIONAL=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --targets) [[ $# -ge 2 ]] || { echo "$PROG: --targets needs a value" >&2; exit 2; }; TARGETS=$2; shift ;;
    --targets=*) TARGETS=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "$PROG: unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) POSITIONAL+=("$1") ;;
  esac
  shift
done
[[ ${#POSITIONAL[@]} -eq 1 ]] || { usage >&2; exit 2; }
CMD=${POSITIONAL[0]}

if [[ -z $TARGETS ]]; then
  TARGETS=$DEFAULT_TARGETS
elif [[ $TARGETS != /* ]]; then
  TARGETS="$PWD/$TARGETS" # relative to the caller's directory
fi

SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

# ---------------------------------------------------------------- helpers
read_pid() {
  if [[ -f $PIDFILE ]]; then cat "$PIDFILE" 2>/dev/null || true; fi
}

cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# Ours = the pid file names a live prometheus using our config file.
is_running() {
  local pid
  pid=$(read_pid)
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  [[ $(cmdline_of "$pid") == *"--config.file=$CONFIG"* ]]
}

is_ready() { curl -sf -m 3 "$URL/-/ready" >/dev/null 2>&1; }

port_in_use() { (exec 3<>"/dev/tcp/${LISTEN%:*}/${LISTEN##*:}") 2>/dev/null; }

# Prometheus processes that are not ours (by process name).
foreign_pids() {
  local ours p
  ours=$(read_pid)
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$ours" ]] && continue
    [[ $(cat "/proc/$p/comm" 2>/dev/null || true) == prometheus ]] || continue
    alive "$p" && echo "$p"
  done
  return 0
}

# alive PID: the process exists and is not a zombie.
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
  [[ -n $state && $state != Z ]]
}

ensure_binary() {
  if [[ ! -x $PROMETHEUS ]]; then
    say "$PROMETHEUS missing: running scripts/install-deps.sh"
    "$SCRIPT_DIR/install-deps.sh"
  fi
  [[ -x $PROMETHEUS ]] || die "$PROMETHEUS still missing (Debian package 'prometheus')"
}

ensure_targets() {
  if [[ ! -f $TARGETS ]]; then
    mkdir -p "$(dirname "$TARGETS")"
    echo '[]' >"$TARGETS"
    say "created empty targets file ${TARGETS#"$ROOT"/}"
  fi
  if command -v python3 >/dev/null 2>&1; then
    local n
    if n=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list), "top level must be a list"
for g in d:
    assert isinstance(g.get("targets"), list), "each group needs a \"targets\" list"
print(sum(len(g["targets"]) for g in d))' "$TARGETS" 2>&1); then
      say "targets file ${TARGETS#"$ROOT"/}: $n target(s)"
    else
      say "warning: ${TARGETS#"$ROOT"/} is not a valid file_sd list: ${n##*$'\n'}"
    fi
  fi
}

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# Renders the config into $CONFIG; returns 0 if the file changed.
render_config() {
  [[ -f $TEMPLATE ]] || die "template missing: $TEMPLATE"
  mkdir -p "$VAR" "$DATA"
  sed -e "s|@LISTEN@|$LISTEN|g" \
      -e "s|@TARGETS_FILE@|$(sed_escape "$TARGETS")|g" \
      "$TEMPLATE" >"$CONFIG.tmp"
  if grep -q '@[A-Z_]*@' "$CONFIG.tmp"; then
    die "unsubstituted placeholder in $TEMPLATE: $(grep -o '@[A-Z_]*@' "$CONFIG.tmp" | head -n1)"
  fi
  if command -v promtool >/dev/null 2>&1; then
    local out
    # --syntax-only: a bad targets file is reported by ensure_targets (and
    # by Prometheus in its log) but must not block a start.
    if ! out=$(promtool check config --syntax-only "$CONFIG.tmp" 2>&1); then
      echo "$out" >&2
      rm -f "$CONFIG.tmp"
      die "generated config is invalid (template ${TEMPLATE#"$ROOT"/})"
    fi
  fi
  if [[ -f $CONFIG ]] && cmp -s "$CONFIG.tmp" "$CONFIG"; then
    rm -f "$CONFIG.tmp"
    return 1
  fi
  mv "$CONFIG.tmp" "$CONFIG"
  return 0
}

# Frees $LISTEN when another Prometheus (typically the Debian service that
# the package starts) holds it. Anything else on the port is reported.
free_port() {
  port_in_use || return 0
  local pids
  pids=$(foreign_pids | tr '\n' ' ')
  if [[ -z ${pids// /} ]]; then
    die "$LISTEN is in use by a process that is not Prometheus; free it (ss -ltnp 'sport = :${LISTEN##*:}') and retry"
  fi
  say "$LISTEN is served by another Prometheus (pid ${pids% }), probably the Debian 'prometheus' service: stopping it"
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    say "running: systemctl stop prometheus (to keep it from starting at boot: systemctl disable prometheus)"
    "${SUDO[@]}" systemctl stop prometheus.service 2>/dev/null || true
  elif [[ -x /etc/init.d/prometheus ]] && command -v service >/dev/null 2>&1; then
    say "running: service prometheus stop"
    "${SUDO[@]}" service prometheus stop >/dev/null 2>&1 || true
  fi
  local p waited=0
  for p in $pids; do
    for _ in 1 2 3 4 5; do alive "$p" || break; sleep 1; done
    if alive "$p"; then
      say "sending SIGTERM to prometheus pid $p ($(cmdline_of "$p" | cut -c1-100))"
      "${SUDO[@]}" kill -TERM "$p" 2>/dev/null || true
    fi
  done
  while port_in_use; do
    if [[ $waited -ge 15 ]]; then
      die "$LISTEN is still in use after stopping the other Prometheus (pids: ${pids% }); stop it by hand"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "the other Prometheus is stopped; $LISTEN is free"
}

wait_ready() {
  local pid=$1 start=$SECONDS next=5
  while true; do
    if ! alive "$pid"; then
      echo "---- last lines of ${LOG#"$ROOT"/} ----" >&2
      tail -n 30 "$LOG" >&2 || true
      rm -f "$PIDFILE"
      die "prometheus exited during startup"
    fi
    if is_ready; then
      say "running (pid $pid, $URL) - ready after $((SECONDS - start))s"
      return 0
    fi
    local elapsed=$((SECONDS - start))
    if [[ $elapsed -ge $START_TIMEOUT ]]; then
      echo "---- last lines of ${LOG#"$ROOT"/} ----" >&2
      tail -n 30 "$LOG" >&2 || true
      stop_prometheus >/dev/null || true
      die "prometheus did not become ready on $URL within ${START_TIMEOUT}s (stopped it)"
    fi
    if [[ $elapsed -ge $next ]]; then
      say "waiting for $URL/-/ready ... ${elapsed}s"
      next=$((next + 5))
    fi
    sleep 1
  done
}

stop_prometheus() {
  if ! is_running; then
    if [[ -f $PIDFILE ]]; then
      rm -f "$PIDFILE"
      say "not running (removed stale pid file)"
    else
      say "not running"
    fi
    return 0
  fi
  local pid waited=0
  pid=$(read_pid)
  say "stopping prometheus (pid $pid, SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if [[ $waited -ge $STOP_TIMEOUT ]]; then
      say "still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$PIDFILE"
  say "stopped"
}

targets_summary() {
  command -v python3 >/dev/null 2>&1 || return 0
  curl -sf -m 3 "$URL/api/v1/targets?state=active" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)["data"]["activeTargets"]
except Exception:
    sys.exit(0)
jobs = {}
for t in d:
    j = jobs.setdefault(t["labels"].get("job", "?"), [0, 0])
    j[1] += 1
    if t.get("health") == "up":
        j[0] += 1
for name, (up, n) in sorted(jobs.items()):
    print(f"  job {name}: {up}/{n} targets up")
if not jobs:
    print("  no active targets")' || true
}

# ---------------------------------------------------------------- commands
cmd_start() {
  ensure_binary
  mkdir -p "$VAR"
  if is_running; then
    local pid
    pid=$(read_pid)
    ensure_targets
    if render_config; then
      kill -HUP "$pid"
      say "already running (pid $pid); config changed: reloaded"
    else
      say "already running (pid $pid, $URL)"
    fi
    is_ready || wait_ready "$pid"
    return 0
  fi
  rm -f "$PIDFILE"
  free_port
  ensure_targets
  render_config || true
  if [[ -f $LOG ]]; then mv -f "$LOG" "$LOG.1"; fi
  local cmd=("$PROMETHEUS"
    "--config.file=$CONFIG"
    "--storage.tsdb.path=$DATA"
    "--storage.tsdb.retention.time=$RETENTION"
    "--web.listen-address=$LISTEN"
    --web.enable-lifecycle
    --log.level=info)
  say "starting prometheus on $URL (config ${CONFIG#"$ROOT"/}, targets ${TARGETS#"$ROOT"/})"
  (
    cd "$VAR"
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
  [[ -n $pid ]] || die "prometheus did not start (no pid file); see ${LOG#"$ROOT"/}"
  wait_ready "$pid"
}

cmd_status() {
  if is_running; then
    local pid
    pid=$(read_pid)
    if is_ready; then
      echo "$PROG: running (pid $pid, $URL, config ${CONFIG#"$ROOT"/})"
      targets_summary
    else
      echo "$PROG: running (pid $pid, $URL) but NOT ready"
    fi
    return 0
  fi
  if port_in_use; then
    local others
    others=$(foreign_pids | tr '\n' ' ')
    echo "$PROG: stopped (but $LISTEN is served by another process${others:+: prometheus pid ${others% }})"
  else
    echo "$PROG: stopped"
  fi
  return 3
}

cmd_reload() {
  is_running || die "not running (start it with: scripts/prometheus.sh start)"
  ensure_targets
  render_config || true
  kill -HUP "$(read_pid)"
  say "sent SIGHUP to pid $(read_pid): config reloaded"
}

case "$CMD" in
  start) cmd_start ;;
  stop) stop_prometheus ;;
  restart) stop_prometheus; cmd_start ;;
  status) cmd_status ;;
  reload) cmd_reload ;;
  help) usage ;;
  *) echo "$PROG: unknown command '$CMD' (see --help)" >&2; exit 2 ;;
esac
