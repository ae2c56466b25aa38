#!/usr/bin/env bash
# Functions run through trap and stage() look unreachable to shellcheck.
# shellcheck disable=SC2317
#
# The project's single test command (CI runs it through .ci/run on a fresh
# Debian 12 machine, as root):
#   1. installs the build and test dependencies that are missing;
#   2. builds from a clean autoreconf and runs `make check` (unit tests and
#      the integration tests, which start their own memcached servers);
#   3. installs into a temporary prefix and builds a user program with
#      nothing but pkg-config, then runs it against a real master/slave
#      pair to prove the installed library, header and .pc file work.
# Every memcached started here or by the tests leaves a pidfile in
# $MCREPL_TEST_TMPDIR, so that the EXIT trap can kill what a crash left.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGES=(build-essential autoconf automake libtool pkg-config check
  libmemcached-dev libmemcached-tools memcached keepalived iproute2
  valgrind)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-test.XXXXXX")
export MCREPL_TEST_TMPDIR="$TMP/pids"
mkdir -p "$MCREPL_TEST_TMPDIR"
PREFIX="$TMP/inst"
PASSED=0
FAILED=0

log() { printf '\n==> %s\n' "$*"; }

# Kills pid only while it still is a memcached: a pidfile left by a test
# that died long ago may name a pid that was reused since.
kill_memcached() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == memcached ]]; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

cleanup() {
  local f
  for f in "$MCREPL_TEST_TMPDIR"/*.pid; do
    [[ -e $f ]] && kill_memcached "$(<"$f")"
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# Dependencies. --------------------------------------------------------------

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
    grep -q 'install ok installed'
}

install_deps() {
  local missing=() p sudo=()
  for p in "${PACKAGES[@]}"; do
    is_installed "$p" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "dependencies already installed"
    return 0
  fi
  ((EUID == 0)) || sudo=(sudo)
  log "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends "${missing[@]}"
}

# Build and unit/integration tests. -----------------------------------------

# The prefix is the temporary one because configure writes it into
# mcrepl.pc: `make install prefix=...` alone would install a .pc file
# that points at /usr/local.
build() {
  log "building"
  autoreconf -fi &&
    ./configure --prefix="$PREFIX" &&
    make -j2
}

# The automake harness keeps each test program's output in tests/NAME.log.
print_test_logs() {
  local f
  for f in tests/*.log; do
    [[ -f $f ]] || continue
    log "$f"
    cat "$f"
  done
}

# Adds up Check's "NN%: Checks: N, Failures: F, Errors: E" lines.
count_check_results() {
  local line n f e
  local re='Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+)'
  while read -r line; do
    [[ $line =~ $re ]] || continue
    n=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} e=${BASH_REMATCH[3]}
    PASSED=$((PASSED + n - f - e))
    FAILED=$((FAILED + f + e))
  done < <(cat tests/*.log 2>/dev/null)
}

run_checks() {
  log "make check"
  local rc=0
  make -j2 check || rc=1
  count_check_results
  if ((rc != 0)); then
    print_test_logs
    ((FAILED > 0)) || FAILED=1 # a crash Check could not count
  fi
  return "$rc"
}

# The installed library, used as a user would. ------------------------------

# Starts memcached on a free loopback port; sets MC_PORT. Tries other
# ports when the one picked is taken.
start_memcached() {
  local port pid user=()
  ((EUID == 0)) && user=(-u root)
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 30000))
    memcached -l 127.0.0.1 -p "$port" -U 0 -t 1 "${user[@]}" \
      </dev/null >>"$MCREPL_TEST_TMPDIR/memcached.log" 2>&1 &
    pid=$!
    disown "$pid" # the trap kills it: no "Killed" notice from bash
    echo "$pid" >"$MCREPL_TEST_TMPDIR/script.$pid.pid"
    if wait_memcached "$port" "$pid"; then
      MC_PORT=$port
      return 0
    fi
    kill_memcached "$pid"
  done
  echo "memcached did not start" >&2
  return 1
}

# Up means: answering on port with our pid, within 5 s.
wait_memcached() {
  local port=$1 pid=$2
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 1
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port &&
        printf 'stats\r\nquit\r\n' >&3 && cat <&3" 2>/dev/null |
      grep -q "^STAT pid $pid"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

run_user_program() {
  log "installed library: pkg-config build of tests/pkgconfig/user.c"
  local flags master slave
  make install >/dev/null || return 1
  flags=$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" \
    pkg-config --cflags --libs mcrepl) || return 1
  echo "cc tests/pkgconfig/user.c $flags"
  # $flags is unquoted on purpose: it holds several words.
  # shellcheck disable=SC2086
  cc -o "$TMP/user" tests/pkgconfig/user.c $flags || return 1
  start_memcached || return 1
  master=$MC_PORT
  start_memcached || return 1
  slave=$MC_PORT
  LD_LIBRARY_PATH="$PREFIX/lib" "$TMP/user" "$master" "$slave"
}

# Main. ----------------------------------------------------------------------

stage() {
  if "$@"; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
    return 1
  fi
}

finish() {
  local rc=$1
  log "result"
  printf 'summary: %d passed, %d failed\n' "$PASSED" "$FAILED"
  exit "$rc"
}

# The longer suites, each a script of its own; every one runs even when
# an earlier one failed, so that one CI run shows every failure.
run_suite() {
  log "$*"
  stage "$@" || { echo "FAILED: $*" >&2; return 1; }
}

main() {
  local rc=0
  cd "$ROOT"
  install_deps || { echo "dependency install failed" >&2; finish 1; }
  build || { echo "build failed" >&2; FAILED=1; finish 1; }
  run_checks || rc=1
  stage run_user_program || rc=1
  run_suite bash scripts/bench-smoke.sh tools/mcrepl-bench || rc=1
  run_suite bash tests/failover/run.sh || rc=1
  run_suite bash scripts/hardening.sh || rc=1
  run_suite bash scripts/packaging.sh || rc=1
  finish "$rc"
}

main "$@"
