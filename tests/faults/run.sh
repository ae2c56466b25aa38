#!/usr/bin/env bash
# Builds the fault-injection tests against a library build and runs them,
# each against real memcached servers on loopback (tests/servers.c) and
# within a time limit.
#
#   tests/faults/run.sh              # every test, against this tree's build
#   tests/faults/run.sh t_fork t_stall
#
# Environment: MCREPL_BUILD, a configured and built tree (default: the one
# holding this script; it needs lib/.libs/libmcrepl.so); CC (default cc)
# and FAULTS_CFLAGS, which must carry the sanitizer flags the library was
# built with; FAULTS_TIMEOUT, seconds per test (default 180);
# FAULTS_WRAP, a command to run each test under (e.g. valgrind ...);
# FAULTS_MD, where t_badinput writes its table as markdown.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${MCREPL_BUILD:-$ROOT}" && pwd)
OUT="$BUILD/tests/faults/build"
CC=${CC:-cc}
read -r -a EXTRA <<<"${FAULTS_CFLAGS:-}"
read -r -a WRAP <<<"${FAULTS_WRAP:-}"
LIBDIR="$BUILD/lib/.libs"
ALL=(t_badinput t_stall t_slave_kill t_master_kill t_fake t_overflow
  t_fork t_destroy t_concurrency t_dns t_skew t_trickle)

build() {
  local t=$1 srcs
  srcs=("$HERE/$t.c" "$HERE/common.c" "$HERE/fakesrv.c"
    "$ROOT/tests/servers.c")
  mkdir -p "$OUT"
  "$CC" -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "${EXTRA[@]}" \
    -I"$ROOT/include" -I"$ROOT/tests" -I"$HERE" -o "$OUT/$t" "${srcs[@]}" \
    -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lmcrepl -lpthread
}

main() {
  local tests=("$@") t rc passed=0 failed=0 start args
  ((${#tests[@]})) || tests=("${ALL[@]}")
  [[ -e $LIBDIR/libmcrepl.so ]] || {
    echo "no $LIBDIR/libmcrepl.so: build the library first" >&2
    exit 2
  }
  for t in "${tests[@]}"; do
    build "$t"
  done
  for t in "${tests[@]}"; do
    start=$SECONDS
    rc=0
    args=()
    [[ $t == t_badinput && -n ${FAULTS_MD:-} ]] && args=("$FAULTS_MD")
    timeout --kill-after=10 "${FAULTS_TIMEOUT:-180}" "${WRAP[@]}" \
      "$OUT/$t" "${args[@]}" || rc=$?
    if ((rc == 0)); then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "FAIL $t: exit $rc"
    fi
    echo "   ($t: $((SECONDS - start)) s)"
  done
  echo "faults: $passed passed, $failed failed"
  ((failed == 0))
}

main "$@"
