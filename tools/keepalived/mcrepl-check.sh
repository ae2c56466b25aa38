#!/usr/bin/env bash
# keepalived track_script for one node of an mcrepl pair.
#
# Usage: mcrepl-check.sh [--cli=PATH] [--state-dir=DIR] NODE [PEER]
#   NODE, PEER  HOST:PORT of this node's memcached and of the pair's other
#               node, spelt exactly as in the clients' --pair
#   --cli       mcrepl-cli to run (default: mcrepl-cli in PATH)
#   --state-dir where to remember the last verdict, so that a change is
#               logged once (to syslog and DIR/events.log), not every
#               second
#
# Exits 0 when `mcrepl-cli check --node=NODE --peer=PEER` says the node may
# be its pair's master (it answers, no resync is filling it, it is not
# stale, it is not empty while its peer holds the data), 1 otherwise, 2 on
# a usage error (keepalived counts both as a failed check).
# keepalived runs it without a shell, as root, every `interval` seconds.
set -euo pipefail
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

CLI=mcrepl-cli
STATE_DIR=
NODE=
PEER=

usage() {
  echo "usage: mcrepl-check.sh [--cli=PATH] [--state-dir=DIR] NODE [PEER]" >&2
  exit 2
}

parse_args() {
  local a
  for a in "$@"; do
    case $a in
      --cli=*) CLI=${a#--cli=} ;;
      --state-dir=*) STATE_DIR=${a#--state-dir=} ;;
      -*) usage ;;
      *)
        if [[ -z $NODE ]]; then
          NODE=$a
        elif [[ -z $PEER ]]; then
          PEER=$a
        else
          usage
        fi
        ;;
    esac
  done
  [[ -n $NODE ]] || usage
}

log() {
  logger -t mcrepl-check -- "$*" 2>/dev/null || true
  if [[ -n $STATE_DIR && -d $STATE_DIR ]]; then
    printf '%s mcrepl-check: %s\n' "$(date '+%F %T.%N')" "$*" \
      >>"$STATE_DIR/events.log" 2>/dev/null || true
  fi
}

# Logs the verdict when it differs from the previous one. Best effort:
# a full or read-only disk must not turn the verdict into a failure.
remember() {
  local verdict=$1 file old=
  [[ -n $STATE_DIR && -d $STATE_DIR ]] || return 0
  file=$STATE_DIR/check.last
  if [[ -f $file ]]; then old=$(<"$file") || old=; fi
  if [[ $verdict != "$old" ]]; then
    printf '%s\n' "$verdict" 2>/dev/null >"$file" || true
    log "$NODE: $verdict"
  fi
}

main() {
  local out rc=0 args
  parse_args "$@"
  args=(check "--node=$NODE")
  [[ -n $PEER ]] && args+=("--peer=$PEER")
  out=$("$CLI" "${args[@]}" 2>&1) || rc=$?
  out=${out//$'\n'/ }
  if ((rc == 0)); then
    remember "ready: ${out:-ok}"
    exit 0
  fi
  remember "not ready (exit $rc): ${out:-no answer}"
  exit 1
}

main "$@"
