#!/usr/bin/env bash
# Smoke test of the benchmark, for CI:
#   scripts/bench-smoke.sh [PATH-TO-mcrepl-bench]   (default: the built
#   tools/mcrepl-bench of this tree)
# runs `mcrepl-bench --quick` (every mode, one short round, on memcached
# servers it starts itself on loopback) and fails when it exits non-zero:
# a mode that could not run, or a slave that misses keys it should hold.
# The figures are not judged: a CI machine is too noisy for that, and the
# targets are informational anyway.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${1:-$ROOT/tools/mcrepl-bench}
# A hung run must not hold CI for its whole budget; SIGTERM lets the
# bench kill the servers it started.
LIMIT_S=300

if [[ ! -x $BENCH ]]; then
  echo "bench-smoke: $BENCH is not built (run make)" >&2
  exit 1
fi
if ! command -v memcached >/dev/null; then
  echo "bench-smoke: memcached is not installed" >&2
  exit 1
fi

# Usage errors: exit 2 at once, before any server starts. Each of these
# once ran something else (a mode silently dropped, a size wrapped round
# to 1K, a list entry run twice) or exited 1.
for args in "--modes=write-through --threads=4" "--modes=" \
  "--master=foo --slave=bar" "--sizes=18014398509481985K" \
  "--threads=1,1" "--sizes=100,100" "--rounds=0" "--json --csv"; do
  rc=0
  # shellcheck disable=SC2086 # one word per option
  timeout 10 "$BENCH" $args >/dev/null 2>&1 || rc=$?
  if ((rc != 2)); then
    echo "bench-smoke: FAILED: mcrepl-bench $args exited $rc, not 2" >&2
    exit 1
  fi
done
echo "bench-smoke: usage errors exit 2"

echo "==> $BENCH --quick"
rc=0
timeout --kill-after=10 "$LIMIT_S" "$BENCH" --quick || rc=$?
if ((rc != 0)); then
  echo "bench-smoke: FAILED: mcrepl-bench --quick exited $rc" >&2
  exit 1
fi
echo "bench-smoke: OK"
