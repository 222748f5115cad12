#!/usr/bin/env bash
# Installs the Debian 12 packages evserve needs to build, test and run its
# demo (Kafka broker, Prometheus, kcat). Idempotent: when every package is
# already installed it does not touch apt at all.
set -euo pipefail

# ---------------------------------------------------------------------------
# The one list of packages. Add new ones here (one per line, sorted by role).
# ---------------------------------------------------------------------------
PACKAGES=(
  # toolchain
  build-essential
  cmake
  ninja-build
  pkg-config
  # C++ libraries
  librdkafka-dev
  libsimdjson-dev
  libpugixml-dev
  libyaml-cpp-dev
  libspdlog-dev
  libfmt-dev
  libcli11-dev
  libcpp-httplib-dev
  libcurl4-openssl-dev
  libabsl-dev
  libsnappy-dev
  libzstd-dev
  libzip-dev
  nlohmann-json3-dev
  libssl-dev
  zlib1g-dev
  libgoogle-perftools-dev
  # tests and benchmarks
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  # runtime tooling: local Kafka broker (Java + Maven), kcat, Prometheus
  openjdk-17-jre-headless
  maven
  kcat
  prometheus
  curl
  python3
  # tests and demo: venvs for the model servers (tools/model_servers/setup.sh)
  python3-venv
  # tests: the Parquet reader's corpus test unpacks the Spark pipeline zips
  unzip
)

PROG=$(basename "$0")

usage() {
  cat <<EOF
Usage: $PROG [--fuzz] [--check] [--list] [--help]

Installs the Debian packages evserve needs (build toolchain, C++ libraries,
Java + Maven for the local Kafka broker, kcat, Prometheus, curl, python3).

Without options: installs whatever is missing. When everything is already
installed, apt is not called at all. Uses sudo when not run as root.
Services shipped by packages (e.g. prometheus) are prevented from being
started during installation; scripts/prometheus.sh runs Prometheus itself.

Options:
  --fuzz    also install clang-14 and libFuzzer (for the fuzz preset)
  --check   only report missing packages; exit 1 if any are missing
  --list    print the package list and exit
  -h, --help  show this help
EOF
}

mode=install
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fuzz) PACKAGES+=(clang-14 libclang-rt-14-dev libfuzzer-14-dev) ;;
    --check) mode=check ;;
    --list) mode=list ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$PROG: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $mode == list ]]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "$PROG: dpkg-query not found; this script supports Debian 12 only" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ $status != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$PROG: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "$PROG: missing ${#missing[@]} package(s): ${missing[*]}"
if [[ $mode == check ]]; then
  exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "$PROG: not root and sudo is not available; install as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

# Keep package maintainer scripts from starting services (prometheus ships
# one). invoke-rc.d honours /usr/sbin/policy-rc.d; exit code 101 means
# "action forbidden", which makes it skip the start without failing. Only
# installed when no policy exists yet, and removed again afterwards.
POLICY=/usr/sbin/policy-rc.d
policy_added=0
cleanup() {
  if [[ $policy_added -eq 1 ]]; then
    "${SUDO[@]}" rm -f "$POLICY" || true
  fi
}
trap cleanup EXIT
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\n# temporary, added by evserve scripts/install-deps.sh\nexit 101\n' |
    "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  policy_added=1
fi

export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)

echo "$PROG: apt-get update"
"${APT[@]}" update -q
echo "$PROG: apt-get install ${missing[*]}"
"${APT[@]}" install -y -q --no-install-recommends "${missing[@]}"

# Verify.
still=()
for pkg in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || still+=("$pkg")
done
if [[ ${#still[@]} -gt 0 ]]; then
  echo "$PROG: still not installed after apt-get: ${still[*]}" >&2
  exit 1
fi
echo "$PROG: installed ${#missing[@]} package(s); all ${#PACKAGES[@]} present"
