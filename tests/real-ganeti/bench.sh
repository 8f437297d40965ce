#!/bin/bash
# bench.sh -- wall time of real upgrades 3.0 -> 3.1 and 3.1 -> 3.0 on the
# node of harness.sh: Ganeti's own `gnt-cluster upgrade --to=V` ("theirs")
# against `ganeti-upgrade --to V --verify-ignore ENODESETUP` ("ours").
#
#   bench.sh            BENCH_ROUNDS (default 5) rounds
#
# One round is a 3.0 -> 3.1 -> 3.0 round trip by each tool; which tool goes
# first alternates from round to round, so a drift in the machine's load hits
# both alike. Every run is judged by the end state it leaves (links,
# config.data version, code, daemons and their binaries, drain flag, watcher,
# intent file, inst1), not by its exit code: the real `gnt-cluster upgrade`
# exits 1 on this kernel because its closing verify reports ENODESETUP (no
# /proc/sysrq-trigger). Prints each run's time, the medians per direction and
# the ratios ours/theirs (target: at most 0.8). Exit 1 if a run did not
# settle the cluster (the ratio alone does not fail it); SKIPPED (exit 0)
# when not root.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
TARGET_RATIO=0.8
LOGDIR=$ROOT.harness/run/bench

if [ "$(id -u)" != 0 ]; then
  echo "real-ganeti bench: SKIPPED: needs root (debootstrap chroot, unshare/nsenter namespaces)"
  exit 0
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2; }

bad=0
declare -A TIMES=()   # "tool to" -> seconds, space separated

# run TOOL TO ROUND: one upgrade, timed, then its end state checked
run() {
  local tool=$1 to=$2 round=$3 from t secs rc=0 log problems mark inside=""
  from=$(other "$to")
  log=$LOGDIR/$round-$tool-to-$to.log
  mark=$(log_lines)
  t=$(now_us)
  case $tool in
    theirs) x gnt-cluster upgrade --to="$to" >"$log" 2>&1 || rc=$? ;;
    ours) x ganeti-upgrade --to "$to" --verify-ignore ENODESETUP --switch-command "$SWITCH" >"$log" 2>&1 || rc=$? ;;
  esac
  secs=$(elapsed "$t" "$(now_us)")
  probe
  problems=$(settled_problems "$to")
  if [ "$tool" = ours ]; then
    # Where our time went: the Ganeti commands (and LUXI calls) we ran,
    # from commands.log; on one node they run one after another.
    inside=$(log_since "$mark" \
      | sed -n 's/.*(\([0-9]*\) ms).*/\1/p' | awk '{ s += $1 } END { printf "%.2f", s / 1000 }')
    inside=", ${inside}s of it in Ganeti's commands"
  fi
  if [ -z "$problems" ]; then
    TIMES["$tool $to"]+=" $secs"
    printf 'run    round %s  %-6s %s -> %s  %7ss  (exit %s) settled%s\n' "$round" "$tool" "$from" "$to" "$secs" "$rc" "$inside"
  else
    bad=$((bad + 1))
    printf 'FAIL   round %s  %-6s %s -> %s  %7ss  (exit %s) not settled: %s; log %s\n' \
      "$round" "$tool" "$from" "$to" "$secs" "$rc" "$(printf '%s' "$problems" | paste -sd';' -)" "$log"
    return 1
  fi
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "nan") printf "%.2f", a / b; else print "nan" }'; }

rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
trap 'h stop >/dev/null 2>&1 || :' EXIT
t0=$(now_us)
if ! { h setup && h start && h init 3.0 && install_tools; } >"$LOGDIR/harness.log" 2>&1; then
  tail -n 5 "$LOGDIR/harness.log" >&2
  echo "bench: the harness failed; see $LOGDIR/harness.log"
  exit 1
fi
printf 'TIME   node on 3.0 (setup + start + init)  %ss\n' "$(elapsed "$t0" "$(now_us)")"

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order=(theirs ours); else order=(ours theirs); fi
  for tool in "${order[@]}"; do
    if ! { run "$tool" 3.1 "$round" && run "$tool" 3.0 "$round"; }; then break 2; fi
  done
done

h stop >>"$LOGDIR/harness.log" 2>&1 || :
trap - EXIT

echo
printf '%-12s %-44s %8s\n' direction "runs theirs | ours (s)" median
for to in 3.1 3.0; do
  from=$(other "$to")
  for tool in theirs ours; do
    printf '%-12s %-6s %-37s %8s\n' "$from -> $to" "$tool" "${TIMES["$tool $to"]:-}" \
      "$(median <<<"${TIMES["$tool $to"]:-}")"
  done
done
up_t=$(median <<<"${TIMES["theirs 3.1"]:-}")
up_o=$(median <<<"${TIMES["ours 3.1"]:-}")
down_t=$(median <<<"${TIMES["theirs 3.0"]:-}")
down_o=$(median <<<"${TIMES["ours 3.0"]:-}")
r_up=$(ratio "$up_o" "$up_t")
r_down=$(ratio "$down_o" "$down_t")
r_all=$(ratio "$(awk -v a="$up_o" -v b="$down_o" 'BEGIN { print a + b }')" \
              "$(awk -v a="$up_t" -v b="$down_t" 'BEGIN { print a + b }')")
verdict=$(awk -v r="$r_all" -v t="$TARGET_RATIO" 'BEGIN { print (r != "nan" && r <= t) ? "met" : "MISSED" }')
echo
echo "ratio ours/theirs (medians): 3.0 -> 3.1 $r_up, 3.1 -> 3.0 $r_down, round trip $r_all (target <= $TARGET_RATIO: $verdict)"
printf 'TIME   bench total  %ss\n' "$(elapsed "$t0" "$(now_us)")"
echo "logs: $LOGDIR"
[ "$bad" = 0 ]
