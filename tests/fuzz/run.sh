#!/usr/bin/env bash
# Builds (once, again only when a source changed) and runs libFuzzer
# targets for a bounded time; fails on any crash, leak, hang or sanitizer
# report, and prints how many inputs each run executed.
#
#   tests/fuzz/run.sh TARGET SECONDS   # one of: fuzz_config fuzz_proto
#                                      # fuzz_reply fuzz_keys, or "all"
#   tests/fuzz/run.sh all 600          # the longer run
#
# Environment: FUZZ_BUILD_DIR (default tests/fuzz/build, git-ignored)
# holds the binaries, the corpora they grow and crash artifacts; the
# seeds in tests/fuzz/corpus/TARGET are only read. FUZZ_PARALLEL (default
# nproc) is how many targets "all" runs at once. CC (default clang).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGETS=(fuzz_config fuzz_proto fuzz_reply fuzz_keys)
BUILD=${FUZZ_BUILD_DIR:-$HERE/build}
CC=${CC:-clang}
# Sanitizer reports must stop the run, and so must a leak.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

usage() {
  local IFS='|'
  echo "usage: $0 {${TARGETS[*]}|all} SECONDS" >&2
  exit 2
}

# The library files each target links; fuzz_config needs ring.c (a
# pair's share of the ring), fuzz_proto only proto.c (the parsers and
# the metadump decoder do no I/O), fuzz_keys the public API and so all
# of lib.
sources() {
  case $1 in
  fuzz_config) echo "$ROOT/lib/config.c $ROOT/lib/ring.c" ;;
  fuzz_reply) echo "$ROOT/lib/conn.c $ROOT/lib/resolve.c $ROOT/lib/proto.c" ;;
  fuzz_proto) echo "$ROOT/lib/proto.c" ;;
  fuzz_keys) echo "$ROOT"/lib/*.c ;;
  *) return 1 ;;
  esac
}

needs_build() {
  local bin=$1 f
  shift
  [[ -x $bin ]] || return 0
  for f in "$@" "$ROOT"/lib/*.h "$ROOT"/include/mcrepl/*.h; do
    [[ $f -nt $bin ]] && return 0
  done
  return 1
}

build() {
  local t=$1 bin="$BUILD/bin/$1" srcs libs
  read -r -a srcs <<<"$(sources "$t")"
  srcs=("$HERE/$t.c" "${srcs[@]}")
  needs_build "$bin" "${srcs[@]}" || return 0
  mkdir -p "$BUILD/bin"
  libs=()
  if [[ $t == fuzz_keys ]]; then
    read -r -a libs <<<"$(pkg-config --libs libmemcached) -lhashkit"
  elif [[ $t == fuzz_config ]]; then
    libs=(-lhashkit) # ring.c's MD5, for the weights' shares
  fi
  echo "building $t"
  "$CC" -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$ROOT/include" -I"$ROOT/lib" -o "$bin" "${srcs[@]}" \
    "${libs[@]}" -lpthread
}

# Runs one target; its full log stays in $BUILD/logs.
run_one() {
  local t=$1 secs=$2 log="$BUILD/logs/$1.log" rc=0 execs
  mkdir -p "$BUILD/corpus/$t" "$BUILD/logs" "$BUILD/crashes"
  # -timeout: one input running 10 s is a hang. The outer timeout only
  # guards against libFuzzer itself not stopping.
  timeout --kill-after=10 $((secs + 60)) "$BUILD/bin/$t" \
    -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix="$BUILD/crashes/$t-" \
    "$BUILD/corpus/$t" "$HERE/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if ((rc != 0)); then
    echo "FAIL $t: exit $rc after ${execs:-?} executions; log $log"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" |
      head -20 || true
    return 1
  fi
  printf 'fuzz %-12s %10s executions in %ss, corpus %s files\n' \
    "$t" "${execs:-?}" "$secs" "$(find "$BUILD/corpus/$t" -type f | wc -l)"
}

main() {
  if (($# != 2)) || ! [[ $2 =~ ^[0-9]+$ ]]; then
    usage
  fi
  local which=$1 secs=$2 t list=() pids=() failed=0 par i
  if [[ $which == all ]]; then
    list=("${TARGETS[@]}")
  else
    sources "$which" >/dev/null || usage
    list=("$which")
  fi
  for t in "${list[@]}"; do
    build "$t"
  done
  par=${FUZZ_PARALLEL:-$(nproc)}
  # Batches of $par targets at a time, each on its own core.
  for ((i = 0; i < ${#list[@]}; i += par)); do
    pids=()
    for t in "${list[@]:i:par}"; do
      run_one "$t" "$secs" &
      pids+=($!)
    done
    for t in "${pids[@]}"; do
      wait "$t" || failed=1
    done
  done
  return "$failed"
}

main "$@"
