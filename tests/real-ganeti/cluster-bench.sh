#!/bin/bash
# cluster-bench.sh -- wall time and control-plane downtime of real upgrades
# 3.0 -> 3.1 and 3.1 -> 3.0: Ganeti's own `gnt-cluster upgrade --to=V`
# ("theirs") against `ganeti-upgrade --to V --verify-ignore ENODESETUP`
# ("ours"), on the 3-node cluster of `harness.sh cluster3` or on the one
# node of `harness.sh`.
#
#   cluster-bench.sh        BENCH_ROUNDS (default 2) rounds on BENCH_NODES
#                           (3, the default, or 1) nodes; with
#                           BENCH_ARCHIVE=N (default 0), N archived jobs are
#                           put in the job archive of every master candidate
#                           first (as Ganeti's queue stores them)
#
# One round is a 3.0 -> 3.1 -> 3.0 round trip by each tool; which tool goes
# first alternates from round to round. Downtime, the same way for both, by
# luxi-probe on the master from 1 s before the run to 2 s after it: until
# jobs are accepted again (the longest span in which no job submission was
# accepted: luxid down, or the queue drained) and until jobs run again (the
# longest span in which no submitted job completed); see luxi-probe. Every
# run is judged by the end state on all nodes (links, config.data, code,
# daemons and their binaries, drain flag, watcher, intent file, inst1), not
# by its exit code (theirs exits 1 on this kernel: ENODESETUP). Prints each
# run, min/median/max per tool and direction, the ratios ours/theirs of the
# medians (targets: wall <= 0.5 on 3 nodes and 0.8 on one, downtime <= 0.5;
# a miss is printed, it does not fail the suite), a per-step breakdown of
# both tools from the master's commands.log with ours' hold window (from
# stop-new-work to resume-work) marked, ensure-dirs' share of it and the
# job archive's walk (ensure-job-archive) after it. Exit 1
# if a run left the cluster unsettled; SKIPPED (exit 0) when not root.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-2}
NODES=${BENCH_NODES:-3}
ARCHIVE=${BENCH_ARCHIVE:-0}
TARGET_DOWN=0.5
LOGDIR=$ROOT.harness/run/cluster-bench-$NODES-$ARCHIVE
STOP=/tmp/luxi-probe.stop
NODE_DAEMONS=(ganeti-noded ganeti-confd ganeti-mond)

if [ "$(id -u)" != 0 ]; then
  echo "real-ganeti cluster bench: SKIPPED: needs root (overlay mounts, unshare/nsenter namespaces)"
  exit 0
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2; }
[[ $ARCHIVE =~ ^[0-9]+$ ]] || { echo "BENCH_ARCHIVE must be a number of jobs" >&2; exit 2; }
case $NODES in
  3) TARGET_WALL=0.5
     c() { "$HARNESS" cluster3 "$@"; }
     cx() { "$HARNESS" cluster3 x "$@"; }
     x() { "$HARNESS" cluster3 x node1 "$@"; }
     CANDIDATES=(node1 node2) OTHERS=(2 3) ;;
  1) TARGET_WALL=0.8
     c() { "$HARNESS" "$@"; }
     cx() { shift; "$HARNESS" x "$@"; }
     x() { "$HARNESS" x "$@"; }
     CANDIDATES=(node1) OTHERS=() ;;
  *) echo "BENCH_NODES must be 3 or 1" >&2; exit 2 ;;
esac

bad=0
declare -A WALL=() DOWN=() ACCEPT=() NOWAIT=()   # "tool to" -> values, space separated

# archive N: N archived jobs in every master candidate's job archive, as
# Ganeti keeps them (queue/archive/ID/10000/job-ID, JSON, owned by masterd),
# copied from a real job that `gnt-job archive` put there; their ids lie far
# above the queue's serial, so no new job meets one.
archive() {
  local n=$1 node id
  id=$(x gnt-debug delay --submit 0.01 2>&1 | sed -n "s/^JobID: *//p")
  x gnt-job wait "$id" >/dev/null
  x gnt-job archive "$id" >/dev/null
  for node in "${CANDIDATES[@]}"; do
    cx "$node" python3 - "$id" "$n" <<'PY'
import json, os, sys
src_id, n = int(sys.argv[1]), int(sys.argv[2])
base = "/var/lib/ganeti/queue/archive"
src = os.path.join(base, str(src_id // 10000), "job-%d" % src_id)
for _ in range(100):   # the candidates get it as the master archives it
    if os.path.exists(src):
        break
    __import__("time").sleep(0.1)
job = json.load(open(src))
st = os.stat(src)
for i in range(n):
    jid = 9000000 + i
    d = os.path.join(base, str(jid // 10000))
    os.makedirs(d, mode=0o750, exist_ok=True)
    os.chown(d, st.st_uid, st.st_gid)
    job["id"] = jid
    path = os.path.join(d, "job-%d" % jid)
    with open(path, "w") as f:
        json.dump(job, f)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, st.st_mode & 0o777)
print("archive: %d jobs like %s" % (n, src))
PY
  done
}

# node_problems VERSION: the other nodes settled on VERSION? (one phrase per problem)
node_problems() {
  local v=$1 i p
  for i in "${OTHERS[@]}"; do
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
  local tool=$1 to=$2 round=$3 from t secs rc=0 log problems mark pb gap agap probe_out waited
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
  agap=$(sed -n 's/.*accept_gap=\([0-9.]*\).*/\1/p' <<<"$probe_out")
  log_since "$mark" > "$log.commands"
  probe
  problems=$(settled_problems "$to"; node_problems "$to")
  if [ -z "$problems" ] && [ -n "$gap" ] && [ -n "$agap" ]; then
    WALL["$tool $to"]+=" $secs"
    DOWN["$tool $to"]+=" $gap"
    ACCEPT["$tool $to"]+=" $agap"
    waited=$(wait_secs "$log.commands")
    NOWAIT["$tool $to"]+=" $(awk -v g="$gap" -v w="$waited" 'BEGIN { printf "%.2f", g - w }')"
    printf 'run    round %s  %-6s %s -> %s  wall %6ss  no jobs accepted %6ss  run %6ss  (exit %s, probe: %s) settled\n' \
      "$round" "$tool" "$from" "$to" "$secs" "$agap" "$gap" "$rc" "$probe_out"
  else
    bad=$((bad + 1))
    printf 'FAIL   round %s  %-6s %s -> %s  %ss (exit %s) not settled: %s; probe: %s; log %s\n' \
      "$round" "$tool" "$from" "$to" "$secs" "$rc" "$(printf '%s' "$problems" | paste -sd';' -)" "$probe_out" "$log"
    return 1
  fi
}

# wait_secs FILE: how long one run waited for running jobs, from its
# commands.log excerpt: ours' step wait-for-jobs, theirs' "Draining queue"
# phase (Ganeti drains, then polls every 10 s while a job runs:
# UPGRADE_QUEUE_POLL_INTERVAL), each until the next step's line.
wait_secs() {
  awk '
    function t(line) { return substr(line, 12, 2) * 3600 + substr(line, 15, 2) * 60 + substr(line, 18, 2) + substr(line, 21, 3) / 1000 }
    / step [a-z-]+ started$/ || / cli:[0-9]+ INFO / {
      if (since != "") { printf "%.2f\n", t($0) - since; done = 1; exit }
      if ($0 ~ / step wait-for-jobs started$/ || $0 ~ / INFO Draining queue$/) since = t($0)
    }
    END { if (!done) print 0 }' "$1"
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
      for (i = 1; i <= n; i++) {
        s = order[i]
        if (s == "stop-new-work") hold = 1
        printf "  %7.2fs  %s%s\n", d[s] / files, hold ? "[hold] " : "", s; sum += d[s]
        if (hold) held += d[s]
        if (s == "ensure-dirs") ed = d[s]
        if (s == "ensure-job-archive") ea = d[s]
        if (s == "resume-work") hold = 0
      }
      printf "  %7.2fs  (all steps, mean of %d run(s))\n", sum / files, files
      if (held > 0) printf "  %7.2fs  (the hold window, stop-new-work to resume-work; ensure-dirs %.2fs of it, %.0f%%; ensure-job-archive %.2fs after it)\n", held / files, ed / files, 100 * ed / held, ea / files
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
printf 'TIME   %s-node cluster on 3.0 (setup + start + init)  %ss\n' "$NODES" "$(elapsed "$t0" "$(now_us)")"
if [ "$ARCHIVE" != 0 ]; then
  t=$(now_us)
  if ! archive "$ARCHIVE" >>"$LOGDIR/harness.log" 2>&1; then
    tail -n 5 "$LOGDIR/harness.log" >&2
    echo "cluster bench: could not fill the job archive; see $LOGDIR/harness.log"
    exit 1
  fi
  printf 'TIME   %s archived jobs on %s  %ss\n' "$ARCHIVE" "${CANDIDATES[*]}" "$(elapsed "$t" "$(now_us)")"
fi

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order=(theirs ours); else order=(ours theirs); fi
  for tool in "${order[@]}"; do
    if ! { run "$tool" 3.1 "$round" && run "$tool" 3.0 "$round"; }; then break 2; fi
  done
done

c stop >>"$LOGDIR/harness.log" 2>&1 || :
trap - EXIT

echo
printf '%-12s %-6s %-20s %-20s %-20s %-20s\n' direction tool "wall" "no jobs accepted" "jobs not run" "not run, less wait"
for to in 3.1 3.0; do
  for tool in theirs ours; do
    printf '%-12s %-6s %-20s %-20s %-20s %-20s\n' "$(other "$to") -> $to" "$tool" \
      "$(stats <<<"${WALL["$tool $to"]:-}" | tr ' ' /)" "$(stats <<<"${ACCEPT["$tool $to"]:-}" | tr ' ' /)" \
      "$(stats <<<"${DOWN["$tool $to"]:-}" | tr ' ' /)" "$(stats <<<"${NOWAIT["$tool $to"]:-}" | tr ' ' /)"
  done
done
declare -A M=()
for k in "theirs 3.1" "ours 3.1" "theirs 3.0" "ours 3.0"; do
  M["wall $k"]=$(median <<<"${WALL[$k]:-}")
  M["down $k"]=$(median <<<"${DOWN[$k]:-}")
  M["accept $k"]=$(median <<<"${ACCEPT[$k]:-}")
  M["nowait $k"]=$(median <<<"${NOWAIT[$k]:-}")
done
echo "(seconds, min/median/max over the rounds)"
echo
echo "$NODES node(s), $ARCHIVE archived jobs, $ROUNDS round(s):"
for f in wall accept down nowait; do
  r_up=$(ratio "${M["$f ours 3.1"]}" "${M["$f theirs 3.1"]}")
  r_down=$(ratio "${M["$f ours 3.0"]}" "${M["$f theirs 3.0"]}")
  r_all=$(ratio "$(sum2 "${M["$f ours 3.1"]}" "${M["$f ours 3.0"]}")" "$(sum2 "${M["$f theirs 3.1"]}" "${M["$f theirs 3.0"]}")")
  case $f in
    wall) target=$TARGET_WALL; name="wall time" ;;
    accept) target=$TARGET_DOWN; name="downtime until jobs are accepted" ;;
    down) target=$TARGET_DOWN; name="downtime until jobs run" ;;
    nowait) target=$TARGET_DOWN; name="downtime until jobs run, less each run's wait for running jobs" ;;
  esac
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
