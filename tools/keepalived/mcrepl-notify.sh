#!/usr/bin/env bash
# keepalived notify script for one node of an mcrepl pair: brings a node
# that returns (after a FAULT) up to date from its peer before it may
# serve.
#
# Usage (keepalived appends TYPE NAME STATE PRIORITY):
#   mcrepl-notify.sh --state-dir=DIR --self=HOST:PORT --peer=HOST:PORT
#                    [--cli=PATH] [--wait=SECONDS] [--resync-arg=ARG]...
#                    TYPE NAME STATE [PRIORITY]
#
#   --state-dir  root-only directory for this instance: events.log (one
#                line per event, also sent to syslog), resync.log (the
#                resyncs' output, appended), state, pending,
#                worker.pid/.lock
#   --self       this node's memcached; --peer the pair's other node
#                (spelt as in the clients' --pair)
#   --cli        mcrepl-cli (default: mcrepl-cli in PATH)
#   --wait       how long the worker keeps at it, waiting for both nodes
#                to answer and retrying failed resyncs (3600 s)
#   --resync-arg extra argument for `mcrepl-cli resync` (e.g.
#                --rate=50000)
#   --log        also append the events to this file
#
# What it does:
#   FAULT   the node may lose or miss data: a resync is now pending and
#           a worker is started in the background (unless one runs). The
#           worker waits until both memcached answer and the peer is
#           ready, then runs `mcrepl-cli resync --from=PEER --to=SELF
#           --flush` (retrying with backoff until it succeeds, unless
#           the node refuses items or mcrepl-cli its arguments: then it
#           gives up at once): a node back from FAULT may have missed
#           writes that no marker reports, so it is emptied and copied
#           whole, and again when its check does not pass within 5 s of
#           the copy (a client's stale marker written after the copy
#           began). Meanwhile the node's health check (mcrepl-check.sh)
#           reports it not ready (empty, stale, or resyncing), so it
#           stays in FAULT. A worker that gave up is not started again
#           by keepalived (the node is in FAULT already): once the cause
#           is fixed, run this script by hand with STATE FAULT.
#   BACKUP  starts the worker only when a resync is pending (a FAULT, or
#           a MASTER that had to yield) and none runs: the BACKUP that
#           follows a finished resync starts nothing.
#   MASTER  stops a running worker: never copy into a serving master.
#   STOP    stops a running worker; a pending resync stays pending.
#   DELETED (notify_deleted: the instance left keepalived's
#           configuration on a reload) stops a running worker and
#           starts none: the node is no longer this pair's.
set -euo pipefail
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

CLI=mcrepl-cli
STATE_DIR=
SELF=
PEER=
WAIT_S=3600
LOG_FILE=
RESYNC_ARGS=()
WORKER=0
POS=()

usage() {
  echo "usage: mcrepl-notify.sh --state-dir=DIR --self=HOST:PORT" \
    "--peer=HOST:PORT [--cli=PATH] [--wait=S] [--resync-arg=ARG]..." \
    "TYPE NAME STATE [PRIORITY]" >&2
  exit 2
}

parse_args() {
  local a
  for a in "$@"; do
    case $a in
      --cli=*) CLI=${a#*=} ;;
      --state-dir=*) STATE_DIR=${a#*=} ;;
      --self=*) SELF=${a#*=} ;;
      --peer=*) PEER=${a#*=} ;;
      --wait=*) WAIT_S=${a#*=} ;;
      --log=*) LOG_FILE=${a#*=} ;;
      --resync-arg=*) RESYNC_ARGS+=("${a#*=}") ;;
      --worker) WORKER=1 ;;
      -*) usage ;;
      *) POS+=("$a") ;;
    esac
  done
  [[ -n $STATE_DIR && -n $SELF && -n $PEER ]] || usage
  [[ $WAIT_S =~ ^[0-9]+$ ]] || usage
  ((WORKER == 1 || ${#POS[@]} >= 3)) || usage
}

# Best effort, as every write to the state directory here: under set -e
# a full disk or an unwritable directory would otherwise end the script
# before it acts (a MASTER would not stop the worker copying into it).
log() {
  local line
  line="$(date '+%F %T.%N') mcrepl-notify[$$]: $*"
  printf '%s\n' "$line" 2>/dev/null >>"$STATE_DIR/events.log" || true
  if [[ -n $LOG_FILE ]]; then
    printf '%s\n' "$line" 2>/dev/null >>"$LOG_FILE" || true
  fi
  logger -t mcrepl-notify -- "$*" 2>/dev/null || true
}

# Does memcached at HOST:PORT answer "version"? (reachability only; the
# health check is mcrepl-cli's business)
answers() {
  local host=${1%:*} port=${1##*:}
  host=${host#[}
  host=${host%]}
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "version\r\n" >&3
    IFS= read -r -t 2 line <&3 || exit 1
    [[ $line == VERSION* ]]' "$host" "$port" 2>/dev/null
}

worker_running() {
  ! flock -n "$STATE_DIR/worker.lock" true
}

start_worker() {
  local out=$STATE_DIR/resync.log
  if worker_running; then
    log "$1: a resync is already running"
    return 0
  fi
  log "$1: starting a resync of $SELF from $PEER in the background"
  # Without its log the worker still runs: a failed redirection would
  # silently leave the node without a resync.
  { : >>"$out"; } 2>/dev/null || out=/dev/null
  setsid "$0" --worker "--cli=$CLI" "--state-dir=$STATE_DIR" \
    "--self=$SELF" "--peer=$PEER" "--wait=$WAIT_S" \
    ${LOG_FILE:+"--log=$LOG_FILE"} \
    "${RESYNC_ARGS[@]/#/--resync-arg=}" \
    </dev/null >>"$out" 2>&1 8>&- &
}

stop_worker() {
  local pid
  worker_running || return 0
  pid=$(cat "$STATE_DIR/worker.pid" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  log "$1: stopping the resync worker $pid"
  kill -TERM -- "-$pid" 2>/dev/null || true
}

# After a resync: does the node's own health check pass? A client that
# found SELF's data lost (it restarted) marks it stale on PEER; when it
# samples that after the resync began, the resync does not cover it and
# the node would stay out for good. Covered dirt is taken back by its
# client within a tick or two: a few seconds' wait tells them apart.
ready_after_resync() {
  local i
  for i in 1 2 3 4 5; do
    why=$("$CLI" check "--node=$SELF" "--peer=$PEER" \
      --options=--read-only 2>&1) && return 0
    ((i == 5)) || sleep 1
  done
  return 1
}

# The worker's pause between tries: 2 s, doubling up to 30 s (pause is
# the worker's own variable).
backoff() {
  sleep "$pause"
  pause=$((pause * 2 > 30 ? 30 : pause * 2))
}

# The background worker: one at a time (worker.lock), retries until the
# resync succeeds or --wait runs out.
worker() {
  local deadline=$((SECONDS + WAIT_S)) pause=2 rc waiting='' t0 why state
  exec 9>>"$STATE_DIR/worker.lock"
  flock -n 9 || exit 0
  echo "$$" 2>/dev/null >"$STATE_DIR/worker.pid" || true
  trap 'rm -f "$STATE_DIR/worker.pid"' EXIT
  trap 'log "worker stopped"; exit 143' TERM
  while ((SECONDS < deadline)); do
    if ! answers "$SELF" || ! answers "$PEER"; then
      [[ -n $waiting ]] || log "waiting for $SELF and $PEER to answer"
      waiting=1
      sleep 1
      continue
    fi
    waiting=''
    # Only a peer that holds the pair's data is a source.
    if ! why=$("$CLI" check "--node=$PEER" "--peer=$SELF" \
      --options=--read-only 2>&1); then
      log "waiting for $PEER to be ready: ${why//$'\n'/ }"
      sleep 1
      continue
    fi
    # A MASTER (or STOP) transition between our start and our lock found
    # no worker to stop: the state it wrote before looking tells.
    state=$(cat "$STATE_DIR/state" 2>/dev/null || true)
    if [[ $state == MASTER || $state == STOP || $state == DELETED ]]; then
      log "no resync: $SELF is in state $state now"
      exit 0
    fi
    log "resync start: $PEER -> $SELF ${RESYNC_ARGS[*]}"
    t0=$(date +%s%N)
    rc=0
    # A node back from FAULT may have missed writes that no marker
    # reports (a client that died with them queued): it is emptied and
    # copied whole, so that no deleted or overwritten value comes back.
    "$CLI" resync "--from=$PEER" "--to=$SELF" --flush "${RESYNC_ARGS[@]}" ||
      rc=$?
    if ((rc == 0)); then
      log "resync done: $PEER -> $SELF in" \
        "$((($(date +%s%N) - t0) / 1000000)) ms"
      if ready_after_resync; then
        rm -f "$STATE_DIR/pending" 2>/dev/null || true
        exit 0
      fi
      log "$SELF is still not ready (${why//$'\n'/ }): resyncing again" \
        "in $pause s"
      backoff
      continue
    fi
    if ((rc == 4)); then
      # Copying it all again would meet the same refusals, and load the
      # serving master for nothing: the node stays out until an operator
      # gives it the peer's -I and -m.
      log "gave up: $SELF refuses items that $PEER holds (see" \
        "resync.log); give it the same -I and -m as $PEER, then run" \
        "this script with STATE FAULT"
      exit 1
    fi
    if ((rc == 2)); then
      # A usage error (a bad --resync-arg, SELF and PEER one server)
      # does not go away by waiting.
      log "gave up: mcrepl-cli refused the resync's arguments (see" \
        "resync.log); fix them, then run this script with STATE FAULT"
      exit 1
    fi
    log "resync failed (exit $rc); retrying in $pause s"
    backoff
  done
  log "gave up: no resync of $SELF within $WAIT_S s; run this script" \
    "with STATE FAULT to try again"
  exit 1
}

# One transition. Transitions are handled one at a time (notify.lock).
transition() {
  local state=$1 prev=INIT
  # The lock and the state files are best effort too (see log()).
  { exec 8>>"$STATE_DIR/notify.lock"; } 2>/dev/null || true
  flock -w 10 8 2>/dev/null || true
  if [[ -f $STATE_DIR/state ]]; then
    prev=$(<"$STATE_DIR/state") 2>/dev/null || prev=INIT
  fi
  printf '%s\n' "$state" 2>/dev/null >"$STATE_DIR/state" || true
  log "state $prev -> $state"
  case $state in
    FAULT)
      if worker_running; then
        log "FAULT: a resync is already running"
      else
        touch "$STATE_DIR/pending" 2>/dev/null || true
        start_worker FAULT
      fi
      ;;
    BACKUP)
      if [[ $prev == MASTER ]]; then
        touch "$STATE_DIR/pending" 2>/dev/null || true
      fi
      if [[ $prev == MASTER || -f $STATE_DIR/pending ]]; then
        start_worker BACKUP
      fi
      ;;
    MASTER)
      stop_worker MASTER
      rm -f "$STATE_DIR/pending" 2>/dev/null || true
      ;;
    STOP) stop_worker STOP ;;
    DELETED) stop_worker DELETED ;;
  esac
}

main() {
  parse_args "$@"
  mkdir -p "$STATE_DIR"
  if ((WORKER == 1)); then
    worker
  else
    transition "${POS[2]}"
  fi
}

main "$@"
