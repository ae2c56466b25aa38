#!/usr/bin/env bash
# Hardening: the checks that look for what the normal tests cannot see.
# One command; exits non-zero when any stage fails, after running all of
# them (so that one failure does not hide the others).
#
#   1. ASan+UBSan build: `make check`, and the fault tests that are not
#      about timing (tests/faults) under it;
#   2. TSan build: `make check`, and the concurrency, destroy and fake
#      server fault tests under it;
#   3. plain -O1 build: the unit tests under valgrind (CK_FORK=no), a
#      small application against real servers under valgrind, every
#      fault-injection test, and the soak (tests/soak);
#   4. libFuzzer targets (tests/fuzz), each for a bounded time.
#
# Every build happens in a copy of the working tree under a temporary
# directory, so the main build is never touched. As root it installs
# what it lacks (clang, libclang-rt-14-dev, valgrind, ...) with apt-get.
#
# Environment: HARDENING_FUZZ_SECONDS (per target, default 45),
# SOAK_SECONDS (default 120), HARDENING_KEEP=1 keeps the temporary
# directory (logs, builds, fuzz corpora) for a look afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"
FUZZ_SECONDS=${HARDENING_FUZZ_SECONDS:-45}
SOAK=${SOAK_SECONDS:-120}
PACKAGES=(build-essential autoconf automake libtool pkg-config check
  libmemcached-dev memcached clang libclang-rt-14-dev valgrind)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-hardening.XXXXXX")
export MCREPL_TEST_TMPDIR="$TMP/pids"
mkdir -p "$MCREPL_TEST_TMPDIR"
ASAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all"
TSAN_FLAGS="-fsanitize=thread"
# A report stops the process: nothing is only printed and forgotten.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
TSAN_OPTIONS+=":suppressions=$ROOT/tests/fuzz/tsan.supp"
RESULTS=()
FAILED=0
T0=$SECONDS

cleanup() {
  kill_pidfiles
  if [[ ${HARDENING_KEEP:-} == 1 ]]; then
    echo "kept $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT

install_deps() {
  install_packages "${PACKAGES[@]}"
}

# build NAME CC CFLAGS: a configured and built copy in $TMP/NAME.
build() {
  local name=$1 cc=$2 flags=$3 dir="$TMP/$1"
  copy_tree "$dir"
  # Chained with &&: errexit does not apply inside a `... || ...`.
  # -Werror is for the project's own compiler; these builds look for
  # sanitizer reports, not for clang's opinions. `make check TESTS=`
  # builds the tests and runs none.
  (cd "$dir" && autoreconf -fi &&
    ./configure -q --disable-werror CC="$cc" \
      CFLAGS="-g -O1 -fno-omit-frame-pointer $flags" LDFLAGS="$flags" &&
    make -j2 && make -j2 check TESTS=) >"$TMP/build-$name.log" 2>&1 || {
    tail -30 "$TMP/build-$name.log"
    return 1
  }
  instrumented "$dir" "$flags"
}

# The library of build $1 calls the sanitizer its flags $2 name: a build
# that linked stale plain objects would pass every test and prove nothing.
instrumented() {
  local lib="$1/lib/.libs/libmcrepl.so" sym="" syms
  case $2 in
  *address*) sym=__asan_init ;;
  *thread*) sym=__tsan_init ;;
  esac
  [[ -z $sym ]] && return 0
  # Read whole first: grep -q would stop nm mid-way, and pipefail would
  # take its SIGPIPE for a failure.
  syms=$(nm -D "$lib") || return 1
  grep -qw "$sym" <<<"$syms" && return 0
  echo "$lib has no $sym: not built with $2"
  return 1
}

# `make check` in build $1; fails on a failed test or any report.
check_suite() {
  local dir="$TMP/$1" rc=0
  (cd "$dir" && make -j2 check >"$TMP/check-$1.log" 2>&1) || rc=1
  grep -h 'Checks:' "$dir"/tests/*.log || true
  if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: Thr' \
    "$dir"/tests/*.log; then
    echo "sanitizer report in the files above"
    rc=1
  fi
  if ((rc != 0)); then
    grep -hE ':[FE]:|Sanitizer|runtime error' "$dir"/tests/*.log |
      head -40 || true
  fi
  return "$rc"
}

# faults BUILD CC CFLAGS TEST...: tests/faults against build BUILD.
faults() {
  local dir="$TMP/$1" cc=$2 flags=$3
  shift 3
  MCREPL_BUILD="$dir" CC="$cc" FAULTS_CFLAGS="$flags" \
    FAULTS_MD="$TMP/bad-input.md" "$dir/tests/faults/run.sh" "$@"
}

valgrind_units() {
  local t dir="$TMP/plain" rc=0
  local vg=(valgrind -q --error-exitcode=1 --leak-check=full
    '--errors-for-leak-kinds=definite,indirect')
  for t in check_config check_ring check_queue check_proto check_batch \
    check_decide; do
    echo "valgrind tests/$t"
    CK_FORK=no "${vg[@]}" "$dir/tests/$t" || rc=1
  done
  MCREPL_BUILD="$dir" FAULTS_WRAP="${vg[*]}" \
    "$dir/tests/faults/run.sh" vg_smoke || rc=1
  return "$rc"
}

faults_tsan() {
  CONC_SECONDS=10 faults tsan clang "$TSAN_FLAGS" t_concurrency t_destroy \
    t_fake t_dns
}

soak() {
  MCREPL_BUILD="$TMP/plain" SOAK_SECONDS="$SOAK" \
    "$TMP/plain/tests/soak/run.sh"
}

fuzz() {
  FUZZ_BUILD_DIR="$TMP/fuzz" FUZZ_PARALLEL=2 CC=clang \
    "$TMP/plain/tests/fuzz/run.sh" all "$FUZZ_SECONDS"
}

# stage NAME COMMAND...: runs it, logs its output, records the outcome.
stage() {
  local name=$1 start=$SECONDS rc=0
  shift
  log "$name"
  "$@" 2>&1 | tee -a "$TMP/stages.log" || rc=$?
  if ((rc == 0)); then
    RESULTS+=("pass  $(printf '%4d' $((SECONDS - start)))s  $name")
  else
    RESULTS+=("FAIL  $(printf '%4d' $((SECONDS - start)))s  $name")
    FAILED=$((FAILED + 1))
  fi
}

main() {
  cd "$ROOT"
  install_deps
  stage "build: ASan+UBSan" build asan clang "$ASAN_FLAGS"
  stage "build: TSan" build tsan clang "$TSAN_FLAGS"
  stage "build: plain -O1" build plain cc ""
  stage "make check, ASan+UBSan" check_suite asan
  stage "make check, TSan" check_suite tsan
  stage "valgrind: unit tests and an application" valgrind_units
  stage "faults, plain build" faults plain cc ""
  stage "faults, ASan+UBSan" faults asan clang "$ASAN_FLAGS" t_badinput \
    t_fake t_master_kill t_slave_kill t_fork t_destroy t_dns
  stage "faults, TSan" faults_tsan
  stage "soak, ${SOAK}s" soak
  stage "fuzz, ${FUZZ_SECONDS}s per target" fuzz

  log "results ($((SECONDS - T0)) s in all)"
  printf '%s\n' "${RESULTS[@]}"
  [[ -e $TMP/bad-input.md ]] && echo "bad-input table: $TMP/bad-input.md"
  printf 'hardening: %d passed, %d failed\n' \
    $((${#RESULTS[@]} - FAILED)) "$FAILED"
  ((FAILED == 0))
}

main "$@"
