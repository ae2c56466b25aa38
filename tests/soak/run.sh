#!/usr/bin/env bash
# Builds the soak test against a library build and runs it.
#
#   tests/soak/run.sh                    # 10 minutes (SOAK_SECONDS=600)
#   SOAK_SECONDS=120 tests/soak/run.sh   # what CI runs
#
# Environment: MCREPL_BUILD, a configured and built tree (default: the one
# holding this script); CC (default cc) and SOAK_CFLAGS, which must carry
# the sanitizer flags the library was built with, if any.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${MCREPL_BUILD:-$ROOT}" && pwd)
OUT="$BUILD/tests/soak/build"
LIBDIR="$BUILD/lib/.libs"
export SOAK_SECONDS=${SOAK_SECONDS:-600}
read -r -a EXTRA <<<"${SOAK_CFLAGS:-}"

[[ -e $LIBDIR/libmcrepl.so ]] || {
  echo "no $LIBDIR/libmcrepl.so: build the library first" >&2
  exit 2
}
mkdir -p "$OUT"
"${CC:-cc}" -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
  "${EXTRA[@]}" -I"$ROOT/include" -I"$ROOT/tests" -I"$ROOT/tests/faults" \
  -o "$OUT/soak" "$HERE/soak.c" "$ROOT/tests/faults/common.c" \
  "$ROOT/tests/servers.c" -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lmcrepl \
  -lpthread
# The soak stops itself; the limit only catches a hang.
exec timeout --kill-after=10 $((SOAK_SECONDS + 120)) "$OUT/soak"
