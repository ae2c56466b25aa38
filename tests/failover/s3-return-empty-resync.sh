#!/usr/bin/env bash
# Scenario 3: the old master returns empty and is resynced before it may
# serve or take the VIP.
#
# A fresh pair (both nodes empty) must elect a master (bed_up). Under
# continuous writes (every 4th key with a TTL, flags on every key) the
# master M's memcached dies; the VIP moves to S; M's memcached comes back
# empty. M's health check must report it not ready until the resync that
# the notify script starts has finished (keepalived keeps it in FAULT;
# nopreempt keeps the VIP on S); writes made during the resync must reach
# M; afterwards M must hold every live key of S with its value, flags and
# remaining TTL; exactly one resync must have run.
set -euo pipefail
SCENARIO=${SCENARIO:-s3}
# shellcheck source-path=SCRIPTDIR source=bed.sh
source "$(dirname "${BASH_SOURCE[0]}")/bed.sh"

# Watches M until it is a resynced BACKUP, every 100 ms: "T_NS 1" when
# its health check passed, "T_NS 0" when not, "T_NS vip" / "T_NS master"
# when it held the VIP / was keepalived's master.
watch_return() {
  local end=$(($(now_ns) + 60000000000)) t
  while (($(now_ns) < end)); do
    t=$(now_ns)
    if node_check "$M"; then echo "$t 1"; else echo "$t 0"; fi
    has_vip "$M" && echo "$t vip"
    [[ $(ka_state "$M") == MASTER ]] && echo "$t master"
    wait_backup_synced "$M" 0 && return 0
    sleep 0.1
  done
  return 1
}

judge_return() {
  local log=$1 t_kill=$2 t_back=$3 t_start t_done t_backup starts early
  local held again
  t_start=$(event_time "$M" "$t_back" "resync start")
  t_done=$(event_time "$M" "$t_back" "resync done")
  t_backup=$(event_time "$M" "$t_back" "state FAULT -> BACKUP")
  [[ -n $t_start && -n $t_done ]] || die "no resync of ${M^^} ran"
  figure resync_ms "$(resync_ms "$M")"
  figure ready_after_resync_ms $(((${t_backup:-$t_done} - t_done) / 1000000))
  # The check may pass once the resync has set M's ready marker, before
  # the notify script logs "resync done": between the two, the resync
  # drops its lock, mcrepl-cli prints and exits and the script logs,
  # which took 142 ms on a loaded machine (a few ms on a quiet one). A
  # check that passed for any other reason would pass during the copy,
  # which takes a second here.
  early=$(awk -v d=$((t_done - 300000000)) '$2 == "1" && $1 < d' "$log" |
    wc -l)
  held=$(awk -v d="$t_done" '($2 == "vip" || $2 == "master") && $1 < d' \
    "$log" | wc -l)
  figure early_ready_checks "$early"
  ((early == 0)) || fail "${M^^}'s check passed $early times before" \
    "its resync finished"
  ((held == 0)) || fail "${M^^} held the VIP before its resync finished"
  if [[ -n $t_backup ]] && ((t_backup < t_start)); then
    fail "keepalived made ${M^^} BACKUP before its resync started"
  fi
  # Since the kill: M's FAULT started one worker, which ran one resync
  # once M answered; S, the master, was never resynced. A second one
  # only when the first left M not ready: the clients found M back as
  # another process and marked it stale, and that dirt was sampled
  # after the first copy began, which therefore did not cover it.
  starts=$(count_events "$M" "$t_kill" "resync start")
  again=$(count_events "$M" "$t_kill" "still not ready")
  figure resyncs_of_returning "$starts"
  figure resyncs_of_master "$(count_events "$S" "$t_kill" "resync start")"
  ((starts == 1 || (starts == 2 && again == 1))) ||
    fail "$starts resyncs of ${M^^} ran ($again after one that left it" \
      "not ready), not 1"
  (($(count_events "$S" "$t_kill" "resync start") == 0)) ||
    fail "${S^^}, the master, was resynced"
}

# mcrepl-cli status must show S behind the VIP and both nodes ready.
check_status() {
  local out=$BED/c/status.out
  ip netns exec "$NS_C" "$FO_CLI" status "--config=$PAIR" >"$out" 2>&1 ||
    fail "mcrepl-cli status failed: $(cat "$out")"
  grep -q "$(addr_of "$S") .*ready.*<- vip" "$out" ||
    fail "status does not show ${S^^} ready behind the VIP: $(cat "$out")"
  grep "$(addr_of "$M") " "$out" | grep -q ' ready ' ||
    fail "status does not show ${M^^} ready: $(cat "$out")"
}

main() {
  local t_kill t_back
  bed_up
  load_start s3 "--rate=${FO_RATE:-2000}" --ttl-every=4 --ttl=600
  sleep 3
  fail_over vrrp_switch_ms "$M" "$S"
  t_kill=${KILLS[0]}
  sleep 1
  t_back=$(now_ns)
  mc_start "$M"
  log "${M^^}'s memcached is back, empty"
  watch_return >"$BED/c/return.log" ||
    die "${M^^} did not become a resynced BACKUP within 60 s" \
      "(state $(ka_state "$M"))"
  judge_return "$BED/c/return.log" "$t_kill" "$t_back"
  sleep 2
  load_stop s3
  [[ $(vip_holder) == "$S" ]] ||
    fail "the VIP left ${S^^} (on: '$(vip_holder)')"
  check_status
  client compare "--src=$(addr_of "$S")" "--dst=$(addr_of "$M")" \
    >"$BED/c/compare.out" 2>&1 ||
    fail "${M^^} does not hold all of ${S^^}'s items"
  report "$BED/c/compare.out" src_keys checked missing value_mismatch \
    flags_mismatch ttl_mismatch
  ((FAILURES == 0)) || exit 1
  log "PASS"
}

main "$@"
