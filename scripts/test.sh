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
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"
PACKAGES=(build-essential autoconf automake libtool pkg-config check
  libmemcached-dev libmemcached-tools memcached keepalived iproute2
  valgrind)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-test.XXXXXX")
export MCREPL_TEST_TMPDIR="$TMP/pids"
mkdir -p "$MCREPL_TEST_TMPDIR"
PREFIX="$TMP/inst"
PASSED=0
FAILED=0

cleanup() {
  kill_pidfiles
  rm -rf "$TMP"
}
trap cleanup EXIT

# Dependencies. --------------------------------------------------------------

install_deps() {
  install_packages "${PACKAGES[@]}"
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

# Every tests/check_*.c is a suite that must have run: without Check,
# configure builds none of them and `make check` passes on nothing.
all_suites_ran() {
  local src name lacking=0
  for src in tests/check_*.c; do
    name=${src%.c}
    if ! grep -qs 'Checks:' "$name.log"; then
      echo "suite $name did not run" >&2
      lacking=1
    fi
  done
  return "$lacking"
}

run_checks() {
  log "make check"
  local rc=0
  make -j2 check || rc=1
  all_suites_ran || rc=1
  count_check_results
  if ((rc != 0)); then
    print_test_logs
    ((FAILED > 0)) || FAILED=1 # a crash Check could not count
  fi
  return "$rc"
}

# The installed library, used as a user would. ------------------------------

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
  start_memcached script || return 1
  master=$MC_PORT
  start_memcached script || return 1
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
  run_suite bash tests/shell/common-sh.sh || rc=1
  run_suite bash scripts/bench-smoke.sh tools/mcrepl-bench || rc=1
  run_suite bash tests/failover/check-script.sh || rc=1
  run_suite bash tests/failover/notify-script.sh || rc=1
  run_suite bash tests/failover/run.sh || rc=1
  run_suite bash scripts/hardening.sh || rc=1
  run_suite bash scripts/packaging.sh || rc=1
  finish "$rc"
}

main "$@"
