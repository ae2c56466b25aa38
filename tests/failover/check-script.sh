#!/usr/bin/env bash
# tools/keepalived/mcrepl-check.sh on its own, with stand-ins for
# mcrepl-cli: its exit code is the CLI's verdict, a verdict is logged
# once, not at every run, and a state directory it cannot write to
# never turns a ready node into a failed check.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHECK=$ROOT/tools/keepalived/mcrepl-check.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-check-sh.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILED=0

cli() { # cli NAME EXIT: a stand-in mcrepl-cli that says NAME
  printf '#!/bin/sh\necho %s\nexit %s\n' "$1" "$2" >"$TMP/$1"
  chmod +x "$TMP/$1"
}

expect() { # expect WANT WHAT ARGS...: runs the check, compares its exit
  local want=$1 what=$2 rc=0
  shift 2
  bash "$CHECK" "$@" 127.0.0.1:11211 127.0.0.1:11212 >/dev/null 2>&1 ||
    rc=$?
  if ((rc == want)); then
    echo "ok - $what"
  else
    echo "FAIL - $what: exit $rc, want $want"
    FAILED=1
  fi
}

cli ready 0
cli stale 1
mkdir -p "$TMP/state" "$TMP/blocked/check.last"
expect 0 "ready node: exit 0" "--cli=$TMP/ready" "--state-dir=$TMP/state"
expect 0 "same verdict again" "--cli=$TMP/ready" "--state-dir=$TMP/state"
n=$(grep -c 'ready' "$TMP/state/events.log" || true)
if [[ $n == 1 ]]; then
  echo "ok - the verdict is logged once"
else
  echo "FAIL - events.log holds $n lines for one verdict"
  FAILED=1
fi
expect 1 "stale node: exit 1" "--cli=$TMP/stale" "--state-dir=$TMP/state"
expect 0 "ready node, unwritable state: exit 0" "--cli=$TMP/ready" \
  "--state-dir=$TMP/blocked"
expect 1 "stale node, unwritable state: exit 1" "--cli=$TMP/stale" \
  "--state-dir=$TMP/blocked"
expect 2 "an unknown option: usage, exit 2" "--cli=$TMP/ready" --bogus
exit "$FAILED"
