#!/usr/bin/env bash
# Failover tests with real keepalived: runs every scenario of
# tests/failover, each in a fresh test bed (network namespaces, two
# memcached, two keepalived, a client), and prints a table of figures.
#
# Usage: tests/failover/run.sh [--prefix=DIR] [--keep] [SCENARIO...]
#   --prefix  test the library, header, pkg-config file and mcrepl-cli
#             installed in DIR (default: the build tree, after make)
#   --keep    keep every bed's directory (logs) under /run/mcrepl-fo.*
#   SCENARIO  s1 ... s6 (default: all)
#
# Needs root. Exit status: 0 all passed; 1 a failure; 77 skipped, which
# happens only for a developer without root: in CI (CI=true) or as root a
# test that cannot run is a failure.
set -euo pipefail

FO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCENARIO=run
# shellcheck source-path=SCRIPTDIR source=bed.sh
source "$FO_DIR/bed.sh"

SCENARIO_TIMEOUT=${FO_SCENARIO_TIMEOUT:-180}
WORK=
declare -a NAMES=() RESULTS=() TIMES=()

usage() {
  sed -n '5,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

cleanup_work() {
  [[ -n $WORK ]] && rm -rf "$WORK"
  return 0
}

scenario_file() {
  local f
  for f in "$FO_DIR/$1"-*.sh; do
    [[ -f $f ]] && echo "$f" && return 0
  done
  die "no scenario $1"
}

# Runs one scenario in its own shell (and bed); records PASS/FAIL.
run_one() {
  local name=$1 file t0 rc=0
  file=$(scenario_file "$name")
  printf '\n==> %s: %s\n' "$name" "$(basename "$file" .sh)"
  t0=$(now_ns)
  SCENARIO=$name timeout -k 10 "$SCENARIO_TIMEOUT" bash "$file" 2>&1 |
    tee "$WORK/$name.log" || rc=${PIPESTATUS[0]}
  NAMES+=("$(basename "$file" .sh)")
  TIMES+=("$(( ($(now_ns) - t0) / 1000000000 ))s")
  case $rc in
    0) RESULTS+=(PASS) ;;
    124) RESULTS+=("FAIL (timeout ${SCENARIO_TIMEOUT}s)") ;;
    77) RESULTS+=("FAIL (skipped)") ;;
    *) RESULTS+=("FAIL (exit $rc)") ;;
  esac
}

print_summary() {
  local i name short failed=0
  printf '\n==> failover summary\n'
  for i in "${!NAMES[@]}"; do
    name=${NAMES[i]}
    short=${name%%-*}
    printf '%-32s %-6s %s\n' "$name" "${TIMES[i]}" "${RESULTS[i]}"
    awk -v s="$short" '$1 == s { printf "    %-30s %s\n", $2, $3 }' \
      "$FO_RESULTS"
    grep -h 'FAIL' "$WORK/$short.log" 2>/dev/null | sed 's/^/    /' || true
    [[ ${RESULTS[i]} == PASS ]] || failed=$((failed + 1))
  done
  printf 'failover: %d passed, %d failed\n' $((${#NAMES[@]} - failed)) \
    "$failed"
  ((failed == 0))
}

main() {
  local a list=() s t0
  for a in "$@"; do
    case $a in
      --prefix=*) FO_PREFIX=${a#*=} && export FO_PREFIX ;;
      --keep) export FO_KEEP=1 ;;
      -h | --help) usage ;;
      s[1-6]) list+=("$a") ;;
      *) usage ;;
    esac
  done
  ((${#list[@]} > 0)) || list=(s1 s2 s3 s4 s5 s6)
  require_bed
  find_cli
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-fo-run.XXXXXX")
  trap cleanup_work EXIT
  FO_CLIENT=$WORK/fo-client
  build_client "$FO_CLIENT"
  export FO_CLIENT FO_CLI FO_RESULTS=$WORK/figures
  : >"$FO_RESULTS"
  log "mcrepl-cli: $FO_CLI; fo-client linked with ${FO_LDPATH}"
  t0=$(now_ns)
  for s in "${list[@]}"; do
    run_one "$s"
  done
  log "total $(( ($(now_ns) - t0) / 1000000000 )) s"
  print_summary
}

main "$@"
