#!/usr/bin/env bash
# tools/keepalived/mcrepl-notify.sh on its own: a MASTER transition must
# stop a running resync worker (it would empty the node now serving)
# even when the state directory cannot be written, and exit 0.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NOTIFY=$ROOT/tools/keepalived/mcrepl-notify.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-notify-sh.XXXXXX")
WORKER=
cleanup() {
  [[ -z $WORKER ]] || kill -TERM -- "-$WORKER" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
FAILED=0

say() { # say OK WHAT
  if [[ $1 == yes ]]; then echo "ok - $2"; else echo "FAIL - $2"; FAILED=1; fi
}

# A stand-in worker: holds the worker lock and leaves its pid, as the
# script's own --worker does, in a session of its own.
fake_worker() {
  setsid bash -c 'exec 9>>"$0/worker.lock"; flock -n 9 || exit 1
    echo $$ >"$0/worker.pid"; exec sleep 60' "$1" </dev/null >/dev/null \
    2>&1 &
  for _ in $(seq 50); do [[ -s $1/worker.pid ]] && break; sleep 0.1; done
  WORKER=$(<"$1/worker.pid")
}

master() { # master STATE_DIR: runs a MASTER transition, prints its exit
  local rc=0
  bash "$NOTIFY" --cli=/bin/false "--state-dir=$1" --self=127.0.0.1:1 \
    --peer=127.0.0.1:2 INSTANCE VI_1 MASTER 100 >/dev/null 2>&1 || rc=$?
  echo "$rc"
}

stopped() { # stopped PID: yes when it is gone within 3 s
  for _ in $(seq 30); do
    kill -0 "$1" 2>/dev/null || { echo yes; return; }
    sleep 0.1
  done
  echo no
}

D=$TMP/ok
mkdir -p "$D"
fake_worker "$D"
rc=$(master "$D")
say "$([[ $rc == 0 ]] && echo yes || echo no)" "MASTER exits 0 (got $rc)"
say "$(stopped "$WORKER")" "MASTER stops the running worker"
say "$(grep -q 'state INIT -> MASTER' "$D/events.log" && echo yes ||
  echo no)" "the transition is logged"

D=$TMP/blocked
mkdir -p "$D/events.log" "$D/state" # files it cannot write
fake_worker "$D"
rc=$(master "$D")
say "$([[ $rc == 0 ]] && echo yes || echo no)" \
  "unwritable state: MASTER exits 0 (got $rc)"
say "$(stopped "$WORKER")" "unwritable state: the worker is still stopped"
WORKER=

exit "$FAILED"
