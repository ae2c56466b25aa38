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
WORKERS=() # every stand-in worker started: each is stopped at exit
cleanup() {
  local w
  for w in "${WORKERS[@]}"; do
    kill -TERM -- "-$w" 2>/dev/null || true
  done
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
  WORKERS+=("$WORKER")
}

master() { # master STATE_DIR [STATE]: runs a MASTER (or STATE)
  local rc=0 # transition, prints its exit
  bash "$NOTIFY" --cli=/bin/false "--state-dir=$1" --self=127.0.0.1:1 \
    --peer=127.0.0.1:2 INSTANCE VI_1 "${2:-MASTER}" 100 >/dev/null 2>&1 ||
    rc=$?
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

# notify_deleted: the instance left the configuration on a reload. Its
# worker would empty a node that is no longer this pair's.
D=$TMP/deleted
mkdir -p "$D"
fake_worker "$D"
rc=$(master "$D" DELETED)
say "$([[ $rc == 0 ]] && echo yes || echo no)" "DELETED exits 0 (got $rc)"
say "$(stopped "$WORKER")" "DELETED stops the running worker"
say "$([[ ! -e $D/pending ]] && echo yes || echo no)" \
  "DELETED starts no resync"

D=$TMP/blocked
mkdir -p "$D/events.log" "$D/state" # files it cannot write
fake_worker "$D"
rc=$(master "$D")
say "$([[ $rc == 0 ]] && echo yes || echo no)" \
  "unwritable state: MASTER exits 0 (got $rc)"
say "$(stopped "$WORKER")" "unwritable state: the worker is still stopped"

# A target that refuses items (mcrepl-cli resync exits 4) is a matter of
# its configuration: copying it all again every 30 s for an hour would
# only load the serving master. The worker tries once and gives up.
# As root, memcached as root too: a container that maps one user id
# alone cannot switch to "nobody".
start_memcached self
P1=$MC_PORT
start_memcached peer
P2=$MC_PORT

# gives_up NAME EXIT WHY: a worker whose resync exits EXIT runs it once,
# then gives up with exit 1 and logs WHY.
gives_up() {
  local name=$1 code=$2 why=$3 rc=0 n
  D=$TMP/$name
  mkdir -p "$D"
  cat >"$TMP/cli-$name" <<END
#!/usr/bin/env bash
[[ \$1 == resync ]] || exit 0 # check: the peer is ready
echo x >>"$D/resyncs"
echo "resync: failed" >&2
exit $code
END
  chmod +x "$TMP/cli-$name"
  timeout 15 bash "$NOTIFY" --worker "--cli=$TMP/cli-$name" \
    "--state-dir=$D" "--self=127.0.0.1:$P1" "--peer=127.0.0.1:$P2" \
    --wait=12 >/dev/null 2>&1 || rc=$?
  n=$(wc -l <"$D/resyncs" 2>/dev/null || echo 0)
  say "$([[ $n == 1 ]] && echo yes || echo no)" \
    "$name: resynced once (got $n)"
  say "$([[ $rc == 1 ]] && echo yes || echo no)" \
    "$name: the worker then gives up with exit 1 (got $rc)"
  say "$(grep -q "$why" "$D/events.log" && echo yes || echo no)" \
    "$name: and says why"
  ((FAILED == 0)) || sed 's/^/# events.log: /' "$D/events.log" || true
}

# A resync that succeeds but leaves SELF not ready (a client's dirt
# sampled after the copy began: the copy does not cover it) is run again,
# and the resync stays pending until SELF is ready.
D=$TMP/again
mkdir -p "$D"
cat >"$TMP/cli-again" <<END
#!/usr/bin/env bash
if [[ \$1 == resync ]]; then echo x >>"$D/resyncs"; exit 0; fi
[[ \$2 == --node=127.0.0.1:$P1 ]] || exit 0 # the peer is ready
n=\$(wc -l <"$D/resyncs" 2>/dev/null || echo 0)
((n >= 2)) && exit 0
echo "127.0.0.1:$P1 is stale"
exit 1
END
chmod +x "$TMP/cli-again"
touch "$D/pending"
rc=0
timeout 40 bash "$NOTIFY" --worker "--cli=$TMP/cli-again" "--state-dir=$D" \
  "--self=127.0.0.1:$P1" "--peer=127.0.0.1:$P2" --wait=30 \
  >/dev/null 2>&1 || rc=$?
n=$(wc -l <"$D/resyncs" 2>/dev/null || echo 0)
say "$([[ $rc == 0 && $n == 2 ]] && echo yes || echo no)" \
  "not ready after a resync: resynced again, then done (exit $rc, $n)"
say "$(grep -q 'still not ready' "$D/events.log" && [[ ! -e $D/pending ]] &&
  echo yes || echo no)" "and says why; the resync is no longer pending"
((FAILED == 0)) || sed 's/^/# events.log: /' "$D/events.log" || true

# A MASTER transition in the worker's first milliseconds, before it
# holds its lock, finds no worker to stop; the worker must see the state
# that transition wrote and copy nothing into the node now serving.
D=$TMP/late
mkdir -p "$D"
cat >"$TMP/cli-late" <<END
#!/usr/bin/env bash
[[ \$1 == resync ]] && echo x >>"$D/resyncs"
exit 0
END
chmod +x "$TMP/cli-late"
echo MASTER >"$D/state"
touch "$D/pending"
rc=0
timeout 15 bash "$NOTIFY" --worker "--cli=$TMP/cli-late" "--state-dir=$D" \
  "--self=127.0.0.1:$P1" "--peer=127.0.0.1:$P2" --wait=10 \
  >/dev/null 2>&1 || rc=$?
n=0
[[ ! -f $D/resyncs ]] || n=$(wc -l <"$D/resyncs")
say "$([[ $rc == 0 && $n == 0 ]] && echo yes || echo no)" \
  "a worker late for a MASTER copies nothing (exit $rc, $n resyncs)"
say "$(grep -q 'no resync: .* in state MASTER' "$D/events.log" && echo yes ||
  echo no)" "and says why"

gives_up refused 4 'refuses items'
# A usage error (SELF and PEER one server, a bad --resync-arg) does not
# go away by waiting either.
gives_up usage 2 'refused the resync.s arguments'

exit "$FAILED"
