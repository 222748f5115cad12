#!/usr/bin/env bash
# Configures (once) and builds evserve with a CMake preset, then points
# build/bin/evserve at the release binary.
set -euo pipefail

PROG=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

usage() {
  cat <<EOF
Usage: $PROG [--preset release|debug|fuzz|ci] [--target T]... [-j N] [--reconfigure] [--no-deps]

Builds evserve from $ROOT.

  --preset P      CMake preset (default: release). Build tree: build/P
  --target T      build only target T (repeatable; default: all)
  -j, --jobs N    parallel jobs (default: 2)
  --reconfigure   run 'cmake --preset P' even if build/P/build.ninja exists
  --no-deps       do not run scripts/install-deps.sh first
  -h, --help      show this help

Steps: scripts/install-deps.sh (no-op when everything is installed),
'cmake --preset P' when build/P/build.ninja is missing, then
'cmake --build --preset P -jN'. After a release build, build/bin/evserve is
a relative symlink to build/release/bin/evserve; for other presets the
binary path is printed and the symlink is left alone.
EOF
}

preset=release
targets=()
jobs=2
reconfigure=0
deps=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) [[ $# -ge 2 ]] || { echo "$PROG: --preset needs a value" >&2; exit 2; }; preset=$2; shift ;;
    --preset=*) preset=${1#*=} ;;
    --target) [[ $# -ge 2 ]] || { echo "$PROG: --target needs a value" >&2; exit 2; }; targets+=("$2"); shift ;;
    --target=*) targets+=("${1#*=}") ;;
    -j|--jobs) [[ $# -ge 2 ]] || { echo "$PROG: $1 needs a value" >&2; exit 2; }; jobs=$2; shift ;;
    -j*) jobs=${1#-j} ;;
    --jobs=*) jobs=${1#*=} ;;
    --reconfigure) reconfigure=1 ;;
    --no-deps) deps=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$PROG: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

case "$preset" in
  release|debug|fuzz|ci) ;;
  *) echo "$PROG: unknown preset '$preset' (release, debug, fuzz, ci)" >&2; exit 2 ;;
esac
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "$PROG: bad job count '$jobs'" >&2; exit 2; }

cd "$ROOT"

if [[ $deps -eq 1 ]]; then
  "$SCRIPT_DIR/install-deps.sh"
else
  for tool in cmake ninja; do
    command -v "$tool" >/dev/null 2>&1 ||
      { echo "$PROG: $tool not found; run scripts/install-deps.sh" >&2; exit 1; }
  done
fi

start=$SECONDS
build_dir="build/$preset"

if [[ $reconfigure -eq 1 || ! -f "$build_dir/build.ninja" ]]; then
  echo "$PROG: configuring: cmake --preset $preset"
  cmake --preset "$preset"
fi

build_cmd=(cmake --build --preset "$preset" "-j$jobs")
if [[ ${#targets[@]} -gt 0 ]]; then
  build_cmd+=(--target "${targets[@]}")
fi
echo "$PROG: building: ${build_cmd[*]}"
"${build_cmd[@]}"

binary="$build_dir/bin/evserve"
link_note=""
if [[ $preset == release ]]; then
  if [[ -x $binary ]]; then
    mkdir -p build/bin
    ln -sfn ../release/bin/evserve build/bin/evserve
    link_note=" -> build/bin/evserve"
  else
    link_note=" (no $binary yet; build/bin/evserve not updated)"
  fi
elif [[ -x $binary ]]; then
  link_note=" -> $binary"
fi

tgt_desc=${targets[*]:-all}
echo "$PROG: OK preset=$preset targets=$tgt_desc in $((SECONDS - start))s$link_note"
