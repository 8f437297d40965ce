#!/bin/bash
# cluster-bench.sh -- wall time and control-plane downtime of real upgrades
# 3.0 -> 3.1 and 3.1 -> 3.0 on the 3-node cluster of `harness.sh cluster3`:
# Ganeti's own `gnt-cluster upgrade --to=V` ("theirs") against
# `ganeti-upgrade --to V --verify-ignore ENODESETUP` ("ours").
#
#   cluster-bench.sh        BENCH_ROUNDS (default 2) rounds
#
# One round is a 3.0 -> 3.1 -> 3.0 round trip by each tool; which tool goes
# first alternates from round to round. Downtime, the same way for both: on
# the master, luxi-probe submits a trivial job (OP_TEST_DELAY duration 0, as
# `gnt-debug delay 0`, at most one in flight) every 250 ms from 1 s before
# the run to 2 s after it, and reports the longest span in which no
# submitted job completed. Every run is judged by the end state on all three
# nodes (links, config.data, code, daemons and their binaries, drain flag,
# watcher, intent file, inst1), not by its exit code (theirs exits 1 on this
# kernel: ENODESETUP). Prints each run, min/median/max per tool and
# direction, the ratios ours/theirs of the medians (targets: wall <= 0.5,
# downtime <= 0.5; a miss is printed, it does not fail the suite) and a
# per-step breakdown of both tools from the master's commands.log. Exit 1 if
# a run left the cluster unsettled; SKIPPED (exit 0) when not root.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-2}
TARGET_WALL=0.5
TARGET_DOWN=0.5
LOGDIR=$ROOT.harness/run/cluster-bench
STOP=/tmp/luxi-probe.stop
NODE_DAEMONS=(ganeti-noded ganeti-confd ganeti-mond)

if [ "$(id -u)" != 0 ]; then
  echo "real-ganeti cluster bench: SKIPPED: needs root (overlay mounts, unshare/nsenter namespaces)"
  exit 0
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2; }

c() { "$HARNESS" cluster3 "$@"; }
cx() { "$HARNESS" cluster3 x "$@"; }
x() { "$HARNESS" cluster3 x node1 "$@"; }

bad=0
declare -A WALL=() DOWN=()   # "tool to" -> values, space separated

# node_problems VERSION: nodes 2 and 3 settled on VERSION? (one phrase per problem)
node_problems() {
  local v=$1 i p
  for i in 2 3; do
    p=$(cx "node$i" gnt-probe --node "${NODE_DAEMONS[@]}" 2>&1) || :
    grep -qx "links=/usr/lib/ganeti/$v /usr/share/ganeti/$v" <<<"$p" || echo "node$i links"
    grep -qx "release=$v" <<<"$p" || echo "node$i release"
    grep -qx "down=" <<<"$p" || echo "node$i daemons down"
    grep -qx "exe=$v" <<<"$p" || echo "node$i daemon binaries"
    grep -qx "left=" <<<"$p" || echo "node$i leftovers"
  done
}

# run TOOL TO ROUND: one upgrade with the probe running, then its end state
run() {
  local tool=$1 to=$2 round=$3 from t secs rc=0 log problems mark pb gap probe_out
  from=$(other "$to")
  log=$LOGDIR/$round-$tool-to-$to.log
  mark=$(log_lines)
  x rm -f "$STOP"
  x luxi-probe "$STOP" >"$log.probe" 2>&1 &
  pb=$!
  sleep 1
  t=$(now_us)
  case $tool in
    theirs) x gnt-cluster upgrade --to="$to" >"$log" 2>&1 || rc=$? ;;
    ours) x ganeti-upgrade --to "$to" --verify-ignore ENODESETUP --switch-command "$SWITCH" >"$log" 2>&1 || rc=$? ;;
  esac
  secs=$(elapsed "$t" "$(now_us)")
  sleep 2
  x touch "$STOP"
  wait "$pb" || :
  probe_out=$(tail -n 1 "$log.probe")
  gap=$(sed -n 's/.*longest_gap=\([0-9.]*\).*/\1/p' <<<"$probe_out")
  log_since "$mark" > "$log.commands"
  probe
  problems=$(settled_problems "$to"; node_problems "$to")
  if [ -z "$problems" ] && [ -n "$gap" ]; then
    WALL["$tool $to"]+=" $secs"
    DOWN["$tool $to"]+=" $gap"
    printf 'run    round %s  %-6s %s -> %s  wall %6ss  downtime %6ss  (exit %s, probe: %s) settled\n' \
      "$round" "$tool" "$from" "$to" "$secs" "$gap" "$rc" "$probe_out"
  else
    bad=$((bad + 1))
    printf 'FAIL   round %s  %-6s %s -> %s  %ss (exit %s) not settled: %s; probe: %s; log %s\n' \
      "$round" "$tool" "$from" "$to" "$secs" "$rc" "$(printf '%s' "$problems" | paste -sd';' -)" "$probe_out" "$log"
    return 1
  fi
}

stats() {   # min median max of the values on stdin
  tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "- - -"; exit }
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.2f %.2f %.2f\n", a[1], m, a[NR] }'
}
median() { stats | awk '{ print $2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else print "nan" }'; }
sum2() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "nan" && r <= t) ? "met" : "MISSED" }'; }

# steps FILE...: per-step durations from the master's commands.log excerpts
# of one tool's runs, in order, mean over the runs. Both tools log there
# with Ganeti's date format: ours "step S started" for each step, Ganeti's
# `gnt-cluster upgrade` one "cli:N INFO <message>" line per phase. A step
# lasts from its line to the next one (the last to the excerpt's last line).
steps() {
  awk '
    function t(line) {   # seconds since midnight of "YYYY-MM-DD HH:MM:SS,mmm"
      return substr(line, 12, 2) * 3600 + substr(line, 15, 2) * 60 + substr(line, 18, 2) + substr(line, 21, 3) / 1000
    }
    function close_step(now) { if (cur != "") { d[cur] += now - since } }
    FNR == 1 { if (NR > 1) close_step(lastt); cur = ""; files++ }
    / step [a-z-]+ started$/ {
      close_step(t($0)); match($0, / step [a-z-]+ started$/)
      cur = substr($0, RSTART + 6, RLENGTH - 14); since = t($0)
      if (!(cur in seen)) { seen[cur] = 1; order[++n] = cur }
    }
    / cli:[0-9]+ INFO / {
      close_step(t($0)); cur = $0; sub(/.* cli:[0-9]+ INFO /, "", cur); since = t($0)
      sub(/ as \/var\/backups\/.*/, "", cur)
      if (!(cur in seen)) { seen[cur] = 1; order[++n] = cur }
    }
    /^[0-9][0-9][0-9][0-9]-/ { lastt = t($0) }
    END {
      close_step(lastt)
      for (i = 1; i <= n; i++) { printf "  %7.2fs  %s\n", d[order[i]] / files, order[i]; sum += d[order[i]] }
      printf "  %7.2fs  (all steps, mean of %d run(s))\n", sum / files, files
    }' "$@"
}

rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
trap 'c stop >/dev/null 2>&1 || :' EXIT
# timeout(1) sends TERM: leave through the EXIT trap, which stops the nodes
trap 'exit 143' TERM INT
t0=$(now_us)
if ! { c setup && c start && c init 3.0 &&
       c install-bin "$BIN_DIR/ganeti-layout" "$BIN_DIR/ganeti-switch" "$BIN_DIR/ganeti-upgrade" \
         "$REAL_GANETI_DIR/gnt-probe" "$REAL_GANETI_DIR/luxi-probe"; } >"$LOGDIR/harness.log" 2>&1; then
  tail -n 5 "$LOGDIR/harness.log" >&2
  echo "cluster bench: the harness failed; see $LOGDIR/harness.log"
  exit 1
fi
printf 'TIME   3-node cluster on 3.0 (setup + start + init)  %ss\n' "$(elapsed "$t0" "$(now_us)")"

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order=(theirs ours); else order=(ours theirs); fi
  for tool in "${order[@]}"; do
    if ! { run "$tool" 3.1 "$round" && run "$tool" 3.0 "$round"; }; then break 2; fi
  done
done

c stop >>"$LOGDIR/harness.log" 2>&1 || :
trap - EXIT

echo
printf '%-12s %-6s %-22s %-22s\n' direction tool "wall min/med/max (s)" "downtime min/med/max (s)"
for to in 3.1 3.0; do
  for tool in theirs ours; do
    printf '%-12s %-6s %-22s %-22s\n' "$(other "$to") -> $to" "$tool" \
      "$(stats <<<"${WALL["$tool $to"]:-}" | tr ' ' /)" "$(stats <<<"${DOWN["$tool $to"]:-}" | tr ' ' /)"
  done
done
declare -A M=()
for k in "theirs 3.1" "ours 3.1" "theirs 3.0" "ours 3.0"; do
  M["wall $k"]=$(median <<<"${WALL[$k]:-}")
  M["down $k"]=$(median <<<"${DOWN[$k]:-}")
done
echo
for f in wall down; do
  r_up=$(ratio "${M["$f ours 3.1"]}" "${M["$f theirs 3.1"]}")
  r_down=$(ratio "${M["$f ours 3.0"]}" "${M["$f theirs 3.0"]}")
  r_all=$(ratio "$(sum2 "${M["$f ours 3.1"]}" "${M["$f ours 3.0"]}")" "$(sum2 "${M["$f theirs 3.1"]}" "${M["$f theirs 3.0"]}")")
  if [ "$f" = wall ]; then target=$TARGET_WALL; name="wall time"; else target=$TARGET_DOWN; name="downtime "; fi
  echo "ratio ours/theirs, $name (medians): 3.0 -> 3.1 $r_up, 3.1 -> 3.0 $r_down, both $r_all (target <= $target: $(verdict "$r_all" "$target"))"
done
for to in 3.1 3.0; do
  for tool in theirs ours; do
    echo
    echo "steps of $tool, $(other "$to") -> $to, from the master's commands.log:"
    files=()
    for f in "$LOGDIR"/*-"$tool"-to-"$to".log.commands; do [ -e "$f" ] && files+=("$f"); done
    if [ "${#files[@]}" -gt 0 ]; then steps "${files[@]}"; fi
  done
done
printf 'TIME   cluster bench total  %ss\n' "$(elapsed "$t0" "$(now_us)")"
echo "logs: $LOGDIR"
[ "$bad" = 0 ]
