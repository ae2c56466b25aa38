#!/usr/bin/env bash
# tools/keepalived/mcrepl-notify.sh on its own: a MASTER transition must
# stop a running resync worker (it would empty the node now serving)
# even when the state directory cannot be written, and exit 0.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NOTIFY=$ROOT/tools/keepalived/mcrepl-notify.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-notify-sh.XXXXXX")
export MCREPL_TEST_TMPDIR=$TMP/pids
mkdir -p "$MCREPL_TEST_TMPDIR"
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"
WORKER=
cleanup() {
  [[ -z $WORKER ]] || kill -TERM -- "-$WORKER" 2>/dev/null || true
  kill_pidfiles
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

# A target that refuses items (mcrepl-cli resync exits 4) is a matter of
# its configuration: copying it all again every 30 s for an hour would
# only load the serving master. The worker tries once and gives up.
# As root, memcached as root too: a container that maps one user id
# alone cannot switch to "nobody".
start_memcached self
P1=$MC_PORT
start_memcached peer
P2=$MC_PORT
D=$TMP/refused
mkdir -p "$D"
FAKE_CLI=$TMP/fake-cli
cat >"$FAKE_CLI" <<END
#!/usr/bin/env bash
[[ \$1 == resync ]] || exit 0 # check: the peer is ready
echo x >>"$D/resyncs"
echo "resync: the target refused 1 copy" >&2
exit 4
END
chmod +x "$FAKE_CLI"
rc=0
timeout 15 bash "$NOTIFY" --worker "--cli=$FAKE_CLI" "--state-dir=$D" \
  "--self=127.0.0.1:$P1" "--peer=127.0.0.1:$P2" --wait=12 \
  >/dev/null 2>&1 || rc=$?
n=$(wc -l <"$D/resyncs" 2>/dev/null || echo 0)
say "$([[ $n == 1 ]] && echo yes || echo no)" \
  "a target that refuses items is resynced once (got $n)"
say "$([[ $rc == 1 ]] && echo yes || echo no)" \
  "the worker then gives up with exit 1 (got $rc)"
say "$(grep -q 'refuses items' "$D/events.log" && echo yes || echo no)" \
  "and says why"
((FAILED == 0)) || sed 's/^/# events.log: /' "$D/events.log" || true

exit "$FAILED"
