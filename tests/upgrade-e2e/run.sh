#!/bin/bash
# shellcheck disable=SC2317 # scenario functions are called as "s_$name"
# run.sh [SCENARIO...] -- end-to-end tests of ganeti-upgrade on a 3-node
# namespaced cluster running the fake Ganeti 3.0.2 / 3.1.0. See README.md.
# Scenarios (name or number): 1 updown, 2 crash, 3 sigterm, 4 preserve,
# 5 jobs, 6 nodes, 7 concurrent, 8 resume, 9 verify, 10 partial, 11 signals,
# 12 plan, 13 lib64; also `harness` (checks the helpers without ganeti-upgrade).
# Default: 1-13.
# Prints "N passed, M failed" last; exits 1 if anything failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

if [ "$(id -u)" != 0 ]; then
  echo "SKIPPED: needs root (namespaces)"
  exit 0
fi

ALL=(updown crash sigterm preserve jobs nodes concurrent resume verify stale rounds partial signals plan lib64 restore)

# --- 0: the helpers themselves ----------------------------------------------

s_harness() {
  fresh harness || return
  assert_state 3.0 --no-backup --label "fresh cluster"
  check "verify is clean on the fresh cluster" x "$MASTER" gnt-cluster verify
  if manual_change 3.1 >"$LOGDIR/harness.manual-up.log" 2>&1; then pass "manual upgrade by hand"
  else fail "manual upgrade by hand" "$(tail "$LOGDIR/harness.manual-up.log")"; fi
  assert_state 3.1 --label "by hand"
  if manual_change 3.0 >"$LOGDIR/harness.manual-down.log" 2>&1; then pass "manual downgrade by hand"
  else fail "manual downgrade by hand" "$(tail "$LOGDIR/harness.manual-down.log")"; fi
  assert_state 3.0 --label "by hand"
  # The assertions must catch a broken state.
  x "$MASTER" gnt-cluster queue drain >/dev/null
  if E2E_QUIET=1 assert_state 3.0 2>/dev/null; then fail "assert_state misses a drained queue"
  else pass "assert_state notices a drained queue"; fi
  x "$MASTER" gnt-cluster queue undrain >/dev/null
  x node3 /usr/lib/ganeti/daemon-util stop ganeti-mond >/dev/null 2>&1
  if E2E_QUIET=1 assert_state 3.0 2>/dev/null; then fail "assert_state misses a stopped daemon"
  else pass "assert_state notices a stopped daemon on node3"; fi
  x node3 /usr/lib/ganeti/daemon-util start ganeti-mond >/dev/null 2>&1
  x node2 ln -sfn /usr/lib/ganeti/3.1 /etc/ganeti/lib
  if E2E_QUIET=1 assert_state 3.0 2>/dev/null; then fail "assert_state misses mixed links"
  else pass "assert_state notices mixed links on node2"; fi
  x node2 ln -sfn /usr/lib/ganeti/3.0 /etc/ganeti/lib
  assert_state 3.0 --label "restored"
}

# --- 1: upgrade, downgrade, --dry-run, --json --------------------------------

s_updown() {
  fresh updown || return
  local before after s missing=()
  # The job queue is left out: the dry run runs gnt-cluster verify, whose
  # job the queue keeps, as any verify's.
  before=$(md5sum "$W/nodes/"*/root/var/lib/ganeti/config.data; find "$W/nodes" -path '*/var/lib/ganeti/*' ! -path '*/var/lib/ganeti/queue/*' -newer "$W/cluster.env" -type f | sort)
  run_upgrade --to 3.1 --dry-run
  check_rc "--dry-run --to 3.1" 0
  for s in "${UP_STEPS[@]}"; do grep -q -- "$s" <<<"$OUT" || missing+=("$s"); done
  if [ "${#missing[@]}" = 0 ]; then pass "--dry-run lists every step id"
  else fail "--dry-run does not list steps: ${missing[*]}" "$OUT"; fi
  if grep -q 'on all 3 online nodes (master last): .*daemon-util' <<<"$OUT" && ! grep -q 'node2.gnt.test, node3.gnt.test' <<<"$OUT"; then
    pass "--dry-run shows per-node commands by count (on all 3 online nodes: daemon-util), no wall of names"
  else fail "--dry-run shows no per-node commands" "$OUT"; fi
  after=$(md5sum "$W/nodes/"*/root/var/lib/ganeti/config.data; find "$W/nodes" -path '*/var/lib/ganeti/*' ! -path '*/var/lib/ganeti/queue/*' -newer "$W/cluster.env" -type f | sort)
  check_eq "--dry-run changed no file under /var/lib/ganeti (but verify's job in the queue)" "$before" "$after"
  assert_state 3.0 --no-backup --label "after --dry-run"

  run_upgrade --to 3.1 --dry-run --json
  check_rc "--dry-run --json" 0
  json_lines "--dry-run --json"

  # The target's cfgupgrade rejects the copy: refused before anything
  # changes, by the dry run and by the run.
  : >"$W/nodes/$MASTER/root/var/lib/ganeti/fake-fail-cfgupgrade-copy"
  refused_by_both "a rejected rehearsal" "3.1's cfgupgrade rejects this cluster's configuration" \
    'fake failure injected'
  rm -f "$W/nodes/$MASTER/root/var/lib/ganeti/fake-fail-cfgupgrade-copy"
  assert_state 3.0 --no-backup --label "after a rejected rehearsal"
  check_eq "a rejected rehearsal left no scratch copy" "" \
    "$(find "$W/nodes/$MASTER/root/var/lib/ganeti-upgrade/" -maxdepth 1 -name 'rehearsal-*' 2>/dev/null)"

  run_upgrade --to 3.1
  check_rc "--to 3.1" 0
  assert_state 3.1 --label "upgraded"
  # The design's ensure-dirs --full-run is split: plain ensure-dirs while
  # new jobs are held, the job archive's walk once they run again.
  check "the report: ensure-dirs in the hold window" grep -qE 'ensure-dirs +[0-9.]+ s  held' <<<"$OUT"
  check "the report: ensure-job-archive after it" grep -qE 'ensure-job-archive +[0-9.]+ s *$' <<<"$OUT"
  # ... on the master candidates, which hold the archive (the master is
  # one; the fake writes no ssconf_master_candidates).
  local cands n
  cands=$(cat "$W/nodes/$MASTER/root/var/lib/ganeti/ssconf_master_candidates" 2>/dev/null)
  for n in "${NODES[@]}"; do
    if [ "$n" = "$MASTER" ] || grep -qx "${n}[.a-z]*" <<<"$cands"; then
      check "$n (a candidate): 3.1's ensure-dirs --full-run ran there" \
        grep -q '3.1.0 full-run=yes' "$W/nodes/$n/root/var/log/ganeti/fake-ensure-dirs.log"
    else
      # shellcheck disable=SC2016 # $1 is the inner shell's
      check "$n (not a candidate): no ensure-dirs --full-run there" \
        bash -c '! grep -q "3.1.0 full-run=yes" "$1"' _ "$W/nodes/$n/root/var/log/ganeti/fake-ensure-dirs.log"
    fi
  done
  check "gnt-cluster verify clean after the upgrade" x "$MASTER" gnt-cluster verify
  check_eq "post-upgrade ran with the old release" "from=3.0.2" \
    "$(grep -o 'from=[^ ]*' "$W/nodes/$MASTER/root/var/log/ganeti/fake-post-upgrade.log" 2>/dev/null | tail -n 1)"

  run_upgrade --to 3.0 --json
  check_rc "--to 3.0 --json (downgrade)" 0
  json_lines "--to 3.0 --json"
  assert_state 3.0 --label "downgraded"
  check_eq "post-upgrade after the downgrade got 3.1.0" "from=3.1.0" \
    "$(grep -o 'from=[^ ]*' "$W/nodes/$MASTER/root/var/log/ganeti/fake-post-upgrade.log" 2>/dev/null | tail -n 1)"
  check_eq "cfgupgrade ran once up (3.1) and once --downgrade (3.1)" "3.1.0 upgrade,3.1.0 downgrade" \
    "$(grep -v ' on-copy$' "$W/nodes/$MASTER/root/var/log/ganeti/fake-cfgupgrade.log" 2>/dev/null | awk '{print $2 " " $3}' | paste -sd,)"
  check_eq "the rehearsals ran on copies: 3.1 up; 3.1 --downgrade, then 3.0's load" "3.1.0 upgrade,3.1.0 downgrade,3.0.2 noop" \
    "$(grep ' on-copy$' "$W/nodes/$MASTER/root/var/log/ganeti/fake-cfgupgrade.log" 2>/dev/null | tail -n 3 | awk '{print $2 " " $3}' | paste -sd,)"

  run_upgrade --to 3.0
  check_rc "--to 3.0 on 3.0 (same version)" 0
  assert_state 3.0 --label "same version"

  run_upgrade --to 2.16
  if [ "$RC" = 1 ] || [ "$RC" = 2 ]; then pass "--to 2.16 refused (exit $RC)"
  else fail "--to 2.16: expected exit 1 or 2, got $RC" "$OUT"; fi
  run_upgrade --to 3.5
  if [ "$RC" = 1 ] || [ "$RC" = 2 ]; then pass "--to 3.5 (not installed) refused (exit $RC)"
  else fail "--to 3.5: expected exit 1 or 2, got $RC" "$OUT"; fi
  run_upgrade --frobnicate
  check_rc "unknown option" 2
  run_upgrade
  check_rc "neither --to nor --resume" 2
  assert_state 3.0 --label "after refused runs"
}

# json_lines DESC: every non-empty stdout line of the last run is a JSON object.
json_lines() {
  local res
  if res=$(printf '%s\n' "$OUTS" | python3 -c '
import json, sys
n = bad = 0
for line in sys.stdin:
    if not line.strip():
        continue
    n += 1
    try:
        ok = isinstance(json.loads(line), dict)
    except ValueError:
        ok = False
    if not ok:
        bad += 1
        print("not a JSON object: " + line.rstrip()[:200])
print("%d lines, %d bad" % (n, bad))
sys.exit(1 if bad or not n else 0)'); then pass "$1: stdout is one JSON object per line (${res##*$'\n'})"
  else fail "$1: stdout is not one JSON object per line" "$res"; fi
}

# --- 2: SIGKILL at / in every step, then --resume ----------------------------

# crash_one MODE STEP FROM TO: crash the run FROM->TO with CRASH_MODE=STEP,
# check the journal, --resume, check the end state. Returns 1 if the cluster
# is not in a clean end state afterwards (the caller then resets it).
crash_one() {
  local mode=$1 step=$2 from=$3 to=$4 steps i want last ok=1 end probs
  if [ "$to" = 3.1 ]; then steps=("${UP_STEPS[@]}"); else steps=("${DOWN_STEPS[@]}"); fi
  local lbl="CRASH_$mode=$step ($from->$to)"
  run_upgrade "GANETI_UPGRADE_CRASH_$mode=$step" --to "$to"
  if [ "$RC" != 137 ]; then
    fail "$lbl: expected SIGKILL (exit 137), got $RC" "$(tail -n 15 <<<"$OUT")"
    ok=0
  fi
  # The journal must end with the step (AT) or the step before it (IN).
  want=""
  for i in "${!steps[@]}"; do
    if [ "${steps[$i]}" = "$step" ]; then
      if [ "$mode" = AT ]; then want=$step; elif [ "$i" -gt 0 ]; then want=${steps[$((i - 1))]}; fi
    fi
  done
  last=$(journal_steps | tail -n 1)
  if [ "$RC" = 137 ] && [ "$last" != "$want" ] && ! { [ "$step" = finish ] && [ -z "$last" ]; }; then
    fail "$lbl: journal's last completed step is '$last', want '$want'" "journal: $(journal_steps | tr '\n' ' ')"
    ok=0
  fi
  run_upgrade --resume
  if [ "$RC" != 0 ]; then
    fail "$lbl: --resume: expected exit 0, got $RC" "$(tail -n 15 <<<"$OUT")"
    ok=0
  fi
  # Killed before the intent file was surely written: nothing is pending, and
  # the cluster may stay where it was.
  end=$to
  if { [ "$step" = verify-installed ] || [ "$step" = check-target-runs ] || [ "$step" = rehearse-config ] || [ "$step" = record-health ] || { [ "$mode" = IN ] && [ "$step" = write-intent ]; }; } &&
    [ "$(readlink "$W/nodes/$MASTER/root/etc/ganeti/lib")" = "$LIBDIR/ganeti/$from" ]; then
    end=$from
  fi
  local bk=()
  [ "$end" = "$from" ] && [ "$from" = 3.0 ] && bk=(--no-backup)
  if probs=$(E2E_QUIET=1 assert_state "$end" "${bk[@]}" 2>&1 >/dev/null); then
    [ "$ok" = 1 ] && pass "$lbl, --resume: end state on $end"
  else
    fail "$lbl, --resume: end state on $end" "$probs"
    return 1
  fi
  [ "$end" = "$to" ] || return 2
}

# Downgrade crash points, used as the way back from 3.1 after some of the
# upgrade crash points (the others go back with fast_reset).
DOWN_CRASH=(AT:backup AT:downgrade-config AT:switch-version AT:start-daemons AT:finish
  IN:downgrade-config IN:switch-version IN:restart-daemons)

# crash_worker K N: the upgrade crash points i with i % N == K, each from a
# clean 3.0 cluster of its own.
crash_worker() {
  local k=$1 nw=$2 i=0 j=0 mode step pt r ndown=0 nup=0
  local -a points=() sel=()
  if [ -n "${E2E_CRASH_STEPS:-}" ]; then read -ra sel <<<"$E2E_CRASH_STEPS"; fi
  # E2E_CRASH_IN_STEPS limits the "inside a step" kills to the given steps
  # (the long ones), keeping a kill after every step.
  local -a insel=()
  if [ -n "${E2E_CRASH_IN_STEPS:-}" ]; then read -ra insel <<<"$E2E_CRASH_IN_STEPS"; fi
  for mode in AT IN; do
    for step in "${UP_STEPS[@]}"; do
      if [ "${#sel[@]}" -gt 0 ] && [[ " ${sel[*]} " != *" $step "* ]]; then continue; fi
      if [ "$mode" = IN ] && [ "${#insel[@]}" -gt 0 ] && [[ " ${insel[*]} " != *" $step "* ]]; then continue; fi
      points+=("$mode:$step")
    done
  done
  CURRENT=crash-$k
  W=""
  trap 'cluster_down' EXIT
  fresh "crash-$k" || return
  for pt in "${points[@]}"; do
    i=$((i + 1))
    [ $(((i - 1) % nw)) = "$k" ] || continue
    mode=${pt%%:*}
    step=${pt#*:}
    nup=$((nup + 1))
    r=0
    crash_one "$mode" "$step" 3.0 3.1 || r=$?
    if [ "$r" = 0 ] && [ "${#sel[@]}" = 0 ] && [ $(((i - 1) / nw)) -lt "${#DOWN_CRASH[@]}" ] && [ $(((i - 1) % 2)) = 0 ]; then
      pt=${DOWN_CRASH[$((j % ${#DOWN_CRASH[@]}))]}
      j=$((j + 1))
      ndown=$((ndown + 1))
      crash_one "${pt%%:*}" "${pt#*:}" 3.1 3.0 && continue
    fi
    [ "$r" = 2 ] && continue # still on 3.0, clean
    fresh "crash-$k" || return
  done
  echo "CRASHCOUNT $nup $ndown"
}

# In a background subshell: its own counters, reported as lines for s_crash.
crash_worker_main() {
  PASSED=0 FAILED=0 FAILURES=()
  crash_worker "$1" "$2"
  echo "WORKER $PASSED $FAILED"
  printf 'FAILURE %s\n' "${FAILURES[@]}"
}

s_crash() {
  local nw=${E2E_JOBS:-3} k line p=0 f=0 nup=0 ndown=0
  local t0=$SECONDS
  # Before the workers start, so they do not build the stages concurrently.
  build_stages >>"$LOGDIR/crash.setup.log" 2>&1 || { fail "setup: make-stage"; return; }
  for k in $(seq 0 $((nw - 1))); do
    crash_worker_main "$k" "$nw" >"$LOGDIR/crash-worker-$k.out" 2>&1 &
  done
  wait
  for k in $(seq 0 $((nw - 1))); do
    grep -v '^\(WORKER\|FAILURE\|CRASHCOUNT\) ' "$LOGDIR/crash-worker-$k.out"
    while read -r _ a b; do p=$((p + a)); f=$((f + b)); done < <(grep '^WORKER ' "$LOGDIR/crash-worker-$k.out")
    while read -r _ a b; do nup=$((nup + a)); ndown=$((ndown + b)); done < <(grep '^CRASHCOUNT ' "$LOGDIR/crash-worker-$k.out")
    while IFS= read -r line; do [ -n "$line" ] && FAILURES+=("$line"); done < <(sed -n 's/^FAILURE //p' "$LOGDIR/crash-worker-$k.out")
    grep -q '^WORKER ' "$LOGDIR/crash-worker-$k.out" || { f=$((f + 1)); FAILURES+=("crash worker $k died"); }
  done
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  note "crash points tested: $((nup + ndown)) ($nup while upgrading, $ndown while downgrading; $nw clusters in parallel, $((SECONDS - t0)) s)"
  if [ "$nup" -gt 0 ]; then pass "crash points tested: $((nup + ndown))"; else fail "no crash point tested"; fi
}

# --- 3: SIGTERM / SIGINT before and after the point of no return -------------

# term_at STEP SIGNAL TARGET: run --to TARGET, signal it while it waits before STEP.
term_at() {
  bg_upgrade "GANETI_UPGRADE_WAIT_AT=$1" --to "$3"
  if ! wait_at "$1" 60; then
    bg_wait 5
    fail "WAIT_AT=$1: the run never waited before $1 (exit $RC)" "$(tail -n 15 <<<"$OUT")"
    return 1
  fi
  signal_upgrade "$2" || fail "no ganeti-upgrade process to signal"
  sleep 0.3
  release_wait "$1"
  bg_wait 120
}

s_sigterm() {
  fresh sigterm || return
  local step
  for step in pause-watcher stop-daemons switch-version upgrade-config; do
    term_at "$step" TERM 3.1 || { fresh sigterm || return; continue; }
    check_rc "SIGTERM before $step: rolled back" 1
    if grep -qi 'roll' <<<"$OUT"; then pass "SIGTERM before $step: message says it rolled back"
    else fail "SIGTERM before $step: message does not mention the rollback" "$(tail -n 5 <<<"$OUT")"; fi
    if [ "$step" = switch-version ] || [ "$step" = upgrade-config ]; then
      assert_state 3.0 --label "after SIGTERM before $step"
    else
      assert_state 3.0 --no-backup --label "after SIGTERM before $step"
    fi
    # Clean up backups so the next run's expectations are simple.
    rm -f "$W/nodes/$MASTER/root/var/backups/"ganeti-upgrade-*.tar
  done
  term_at stop-master-daemons INT 3.1 || { fresh sigterm || return; }
  check_rc "SIGINT before stop-master-daemons: rolled back" 1
  assert_state 3.0 --no-backup --label "after SIGINT"

  term_at start-daemons TERM 3.1 || return
  check_rc "SIGTERM before start-daemons (after the point of no return) is ignored" 0
  assert_state 3.1 --label "after SIGTERM past the point of no return"

  # Downgrade direction: before the config step, and after it.
  term_at downgrade-config TERM 3.0 || return
  check_rc "downgrade, SIGTERM before downgrade-config: rolled back" 1
  assert_state 3.1 --label "downgrade rolled back"
  term_at ensure-dirs TERM 3.0 || return
  check_rc "downgrade, SIGTERM before ensure-dirs is ignored" 0
  assert_state 3.0 --label "downgrade completed despite SIGTERM"
}

# --- 4: drain, admin filter and watcher pause survive -------------------------

s_preserve() {
  fresh preserve || return
  local pause_before pause_after
  check "admin drains the queue" x "$MASTER" gnt-cluster queue drain
  check "admin adds a REJECT filter" x "$MASTER" gnt-filter add --action=REJECT --reason=admin
  check "admin pauses the watcher for 2h" x "$MASTER" gnt-cluster watcher pause 2h
  pause_before=$(tr -dc 0-9 <"$W/nodes/$MASTER/root/var/lib/ganeti/watcher.pause")
  run_upgrade --to 3.1
  check_rc "--to 3.1 with drain, filter and pause set" 0
  assert_state 3.1 --drain --watcher-paused --filters 1 --label "kept admin's settings"
  check_eq "the admin's filter is the one left" "REJECT	admin" "$(filters)"
  pause_after=$(tr -dc 0-9 <"$W/nodes/$MASTER/root/var/lib/ganeti/watcher.pause" 2>/dev/null)
  if [ -n "$pause_after" ] && [ "$pause_after" -ge "$pause_before" ]; then
    pass "watcher pause not shortened ($pause_before -> $pause_after)"
  else fail "watcher pause shortened or lost: $pause_before -> ${pause_after:-none}"; fi
  run_upgrade --to 3.0
  check_rc "--to 3.0 with drain, filter and pause set" 0
  assert_state 3.0 --drain --watcher-paused --filters 1 --label "kept admin's settings (downgrade)"
  check "admin undrains" x "$MASTER" gnt-cluster queue undrain
  check "admin resumes the watcher" x "$MASTER" gnt-cluster watcher continue
}

# --- 5: jobs across the upgrade -------------------------------------------------

job_field() { # job_field ID FIELD (from the master's queue file)
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' \
    "$W/nodes/$MASTER/root/var/lib/ganeti/queue/job-$1" "$2" 2>/dev/null
}

s_jobs() {
  fresh jobs || return
  local j1 j2
  j1=$(x "$MASTER" gnt-debug delay --submit --print-jobid 3 2>&1) || fail "submit a running job" "$j1"
  bg_upgrade GANETI_UPGRADE_WAIT_AT=pause-watcher --to 3.1
  if ! wait_at pause-watcher 60; then
    bg_wait 5; fail "never waited before pause-watcher (exit $RC)" "$(tail -n 15 <<<"$OUT")"; return
  fi
  check_eq "job $j1 (running before) finished before pause-watcher" success "$(job_field "$j1" status)"
  j2=$(x "$MASTER" gnt-debug delay --submit --print-jobid 2 2>&1)
  if [[ $j2 =~ ^[0-9]+$ ]]; then pass "a job can be submitted after stop-new-work (id $j2)"
  else fail "submitting a job after stop-new-work" "$j2"; fi
  sleep 1
  check_eq "job $j2 stays queued while work is stopped" queued "$(job_field "$j2" status)"
  release_wait pause-watcher
  bg_wait 120
  check_rc "--to 3.1 with a job submitted mid-run" 0
  assert_state 3.1 --label "with jobs"
  wait_until "[ \"\$(job_field $j2 status)\" = success ]" 100
  check_eq "job $j2 ran after the upgrade" success "$(job_field "$j2" status)"
  check_eq "job $j2 executed_by the new release" 3.1.0 "$(job_field "$j2" executed_by)"
  check_eq "job $j1 executed_by the old release" 3.0.2 "$(job_field "$j1" executed_by)"
  # --max-hold: a job that keeps the queue busy past the budget; the run
  # rolls back by itself before the configuration change, and says why.
  local j3
  j3=$(x "$MASTER" gnt-debug delay --submit --print-jobid 15 2>&1) || fail "submit a long job" "$j3"
  run_upgrade --to 3.0 --max-hold 3s --json
  check_rc "--to 3.0 --max-hold 3s with a 15 s job running" 1
  check "--max-hold: the end names the budget" grep -q 'longer than --max-hold allows before the configuration change (3 s)' <<<"$OUT"
  check "--max-hold: the step lines carry how long jobs were held" grep -q '"held_seconds":' <<<"$OUT"
  check "--max-hold: the end says rolled back" grep -q '"result":"rolled-back"' <<<"$OUT"
  assert_state 3.1 --label "after --max-hold ran out"
  wait_until "[ \"\$(job_field $j3 status)\" = success ]" 200
  check_eq "job $j3 ran on (the hold was released)" success "$(job_field "$j3" status)"
  local rc=0
  "$UPGRADE" --to 3.0 --max-hold 5x --dry-run >/dev/null 2>&1 || rc=$?
  check_eq "--max-hold 5x is bad usage (exit 2)" 2 "$rc"
  # Killed at stop-daemons, resumed 3 s later: the resume's report counts
  # the hold from the first run's stop-new-work (the queue stayed held).
  run_upgrade GANETI_UPGRADE_CRASH_AT=stop-daemons --to 3.0
  sleep 3
  run_upgrade --resume
  check_rc "--resume after a kill at stop-daemons" 0
  check "the resume's report: the hold since the first run's stop-new-work" \
    grep -q "new jobs held for [0-9]* s (from the first run's stop-new-work to resume-work)" <<<"$OUT"
  assert_state 3.0 --label "resumed after a kill at stop-daemons"
}

# --- 6: offline node, unreachable node, failing cfgupgrade ----------------------

s_nodes() {
  fresh nodes || return
  # (a) node3 marked offline while the upgrade waits.
  bg_upgrade GANETI_UPGRADE_WAIT_AT=stop-master-daemons --to 3.1
  if wait_at stop-master-daemons 60; then
    check "mark node3 offline mid-run" x "$MASTER" gnt-node modify -O yes node3.gnt.test
    release_wait stop-master-daemons
    bg_wait 120
    check_rc "--to 3.1 with node3 marked offline mid-run" 0
    assert_state 3.1 --nodes "node1 node2" --label "node3 offline"
    check_eq "offline node3 untouched (links)" /usr/lib/ganeti/3.0 "$(readlink "$W/nodes/node3/root/etc/ganeti/lib")"
  else
    bg_wait 5; fail "never waited before stop-master-daemons (exit $RC)" "$(tail -n 15 <<<"$OUT")"
  fi

  # (b) ssh to an online node fails before the point of no return. The node
  # does not come back: no --node-wait (the wait for a node that reboots
  # mid-upgrade is the booted nodes' business, tests/real-ganeti/booted-scenarios.sh).
  fresh nodes || return
  node_cut node3
  run_upgrade --to 3.1 --node-wait 0
  check_rc "node3 unreachable from the start: refused" 1
  node_uncut node3
  assert_state 3.0 --no-backup --label "unreachable at start"
  bg_upgrade GANETI_UPGRADE_WAIT_AT=stop-daemons --to 3.1 --node-wait 0
  if wait_at stop-daemons 60; then
    node_cut node3
    release_wait stop-daemons
    bg_wait 180
    check_rc "node3 unreachable before stop-daemons: rolled back" 1
    node_uncut node3
    # The rollback cannot restart node3's daemons while it is unreachable; the
    # tool may then keep its journal. Once node3 is back, --resume must end
    # in a clean state.
    if [ -e "$W/nodes/$MASTER/root/var/lib/ganeti/ganeti-upgrade.journal" ]; then
      note "rollback incomplete, journal kept: $(grep -i 'rollback did not' <<<"$OUT")"
      # --resume finishes the rollback (not the upgrade the admin stopped).
      run_upgrade --resume --node-wait 0
      check_rc "--resume after an incomplete rollback" 0
      assert_state 3.0 --no-backup --label "after --resume finished the rollback"
    else
      assert_state 3.0 --no-backup --label "rolled back after node3 went down"
    fi
  else
    bg_wait 5; fail "never waited before stop-daemons (exit $RC)" "$(tail -n 15 <<<"$OUT")"
    node_uncut node3
  fi

  # (c) cfgupgrade fails and leaves config.data unchanged: everything is
  # rolled back (the cluster runs 3.0 again, not stopped); once the fault is
  # gone, the same --to succeeds.
  fresh nodes || return
  touch "$W/nodes/$MASTER/root/var/lib/ganeti/fake-fail-cfgupgrade"
  run_upgrade --to 3.1
  check_rc "--to 3.1 with cfgupgrade failing" 1
  if grep -q 'left the configuration unchanged' <<<"$OUT" && grep -q 'rolled back' <<<"$OUT"; then
    pass "the message says the configuration was unchanged and everything was rolled back"
  else fail "the message does not say it rolled back" "$(tail -n 5 <<<"$OUT")"; fi
  assert_state 3.0 --label "rolled back after cfgupgrade failed"
  rm -f "$W/nodes/$MASTER/root/var/lib/ganeti/fake-fail-cfgupgrade"
  run_upgrade --resume
  check_rc "--resume after the rollback: nothing pending" 0
  run_upgrade --to 3.1
  check_rc "--to 3.1 again once cfgupgrade works" 0
  assert_state 3.1 --label "upgraded after cfgupgrade was fixed"

  # (d) a Ganeti command that hangs after the point of no return: killed at
  # --command-timeout, the error names it, and --resume finishes the job.
  fresh nodes || return
  echo 600 > "$W/nodes/$MASTER/root/var/lib/ganeti/fake-sleep-redist-conf"
  local t0=$SECONDS
  run_upgrade --to 3.1 --command-timeout 3
  check_rc "--to 3.1 with redist-conf hanging, --command-timeout 3" 1
  if [ $((SECONDS - t0)) -lt 60 ]; then pass "the hung command was given up after its timeout ($((SECONDS - t0)) s)"
  else fail "the hung command held the upgrade $((SECONDS - t0)) s"; fi
  if grep -q 'redist-conf.*killed after 3 s (--command-timeout)' <<<"$OUT" && grep -q -- '--resume' <<<"$OUT"; then
    pass "the message names the command, the timeout and --resume"
  else fail "the message does not name the timeout" "$(tail -n 5 <<<"$OUT")"; fi
  if x "$MASTER" pgrep -f 'gnt-cluster redist-con[f]' >/dev/null; then
    fail "the hung redist-conf still runs"
  else pass "the hung redist-conf was killed"; fi
  rm -f "$W/nodes/$MASTER/root/var/lib/ganeti/fake-sleep-redist-conf"
  run_upgrade --resume
  check_rc "--resume once redist-conf works again" 0
  assert_state 3.1 --label "resumed after the hung redist-conf"

  # (e) the target would not start on node3: a Python module its scripts
  # import is gone there (as a distribution upgrade takes one away). The
  # dry run and the run name node3, the file and the module; nothing
  # changes; once the module is back, the upgrade passes.
  fresh nodes || return
  local mod
  mod=$(x node3 /usr/bin/python3 -c 'import shlex; print(shlex.__file__)')
  printf 'raise ModuleNotFoundError("No module named %s (removed by the test)")\n' "'shlex'" >"$E2E_TMP/gone.py"
  check "hide shlex on node3" x node3 mount --bind "$E2E_TMP/gone.py" "$mod"
  refused_by_both "the target's Python module gone on node3" \
    "node3.gnt.test: target does not run: .*No module named 'shlex'" \
    'Ganeti 3.1 would not run on these nodes' \
    "No module named 'shlex' (removed by the test) (in [0-9]* files: /usr/lib/ganeti/3.1/"
  assert_state 3.0 --no-backup --label "nothing changed when the target would not run"
  check "node3: shlex back" x node3 umount "$mod"
  run_upgrade --to 3.1
  check_rc "--to 3.1 once the module is back" 0
}

# --- 7: a second concurrent run ------------------------------------------------

s_concurrent() {
  fresh concurrent || return
  local intent t0
  bg_upgrade GANETI_UPGRADE_WAIT_AT=stop-daemons --to 3.1
  if ! wait_at stop-daemons 60; then
    bg_wait 5; fail "never waited before stop-daemons (exit $RC)" "$(tail -n 15 <<<"$OUT")"; return
  fi
  intent=$(cat "$W/nodes/$MASTER/root/var/lib/ganeti/intent-to-upgrade" 2>/dev/null)
  # Ganeti's format, the target tagged so that Ganeti's own resume keeps off.
  if [[ $intent =~ ^3\.0\.2,ganeti-upgrade:3\.1,[0-9]+$ ]]; then pass "intent file: $intent"
  else fail "intent file is not 3.0.2,ganeti-upgrade:3.1,PID" "$intent"; fi
  t0=$SECONDS
  run_upgrade --to 3.1
  check_rc "a second --to 3.1 while one runs" 1
  if [ $((SECONDS - t0)) -le 5 ]; then pass "refused at once ($((SECONDS - t0)) s)"
  else fail "refusal took $((SECONDS - t0)) s"; fi
  run_upgrade --resume
  check_rc "a --resume while one runs" 1
  check_eq "intent file untouched by the refused runs" "$intent" \
    "$(cat "$W/nodes/$MASTER/root/var/lib/ganeti/intent-to-upgrade" 2>/dev/null)"
  run_upgrade --status
  check_rc "--status while one runs" 0
  release_wait stop-daemons
  bg_wait 120
  check_rc "the first run" 0
  assert_state 3.1 --label "after the concurrent attempt"

  # Another upgrade process takes the intent file over while ours waits
  # (as Ganeti's own gnt-cluster upgrade does): ours stops before the next
  # step, touching nothing more, says who, and a --resume finishes.
  fresh concurrent || return
  bg_upgrade GANETI_UPGRADE_WAIT_AT=stop-daemons --to 3.1
  if ! wait_at stop-daemons 60; then
    bg_wait 5; fail "never waited before stop-daemons (exit $RC)" "$(tail -n 15 <<<"$OUT")"; return
  fi
  printf '3.0.2,3.1,4242' >"$W/nodes/$MASTER/root/var/lib/ganeti/intent-to-upgrade"
  release_wait stop-daemons
  bg_wait 120
  check_rc "a run whose intent file another process rewrote" 1
  if grep -q "another upgrade process is acting on this cluster: pid 4242" <<<"$OUT"; then pass "it names the other process"
  else fail "it names the other process" "$(tail -n 5 <<<"$OUT")"; fi
  if journal_steps | grep -qx stop-daemons; then fail "it went on with stop-daemons" "$(journal_steps | tr '\n' ' ')"
  else pass "it stopped before stop-daemons"; fi
  run_upgrade --resume
  check_rc "--resume once the other process is gone" 0
  assert_state 3.1 --label "after the intent was taken over"
}

# --- 8: --resume semantics --------------------------------------------------------

s_resume() {
  fresh resume || return
  printf '3.0.2,3.1,4242' >"$W/nodes/node2/root/var/lib/ganeti/intent-to-upgrade"
  ON=node2 run_upgrade --resume
  check_rc "--resume on a non-master" 11
  if [ ! -e "$W/nodes/node2/root/var/lib/ganeti/intent-to-upgrade" ]; then
    pass "--resume on a non-master removed the stale intent file"
  else fail "--resume on a non-master left the stale intent file"; fi
  run_upgrade --resume
  check_rc "--resume with nothing pending" 0
  assert_state 3.0 --no-backup --label "nothing pending"

  run_upgrade GANETI_UPGRADE_CRASH_AT=backup --to 3.1
  check_rc "crash after backup" 137
  run_upgrade --status
  check_rc "--status while an upgrade is pending" 0
  if grep -q '3\.1' <<<"$OUT"; then pass "--status mentions the target 3.1"
  else fail "--status does not mention 3.1" "$OUT"; fi
  run_upgrade --to 3.0
  if [ "$RC" = 1 ] || [ "$RC" = 2 ]; then pass "a different --to while one is pending is refused (exit $RC)"
  else fail "a different --to while one is pending: expected exit 1 or 2, got $RC" "$(tail -n 10 <<<"$OUT")"; fi
  if grep -q -- '--resume' <<<"$OUT"; then pass "the refusal points to --resume"
  else fail "the refusal does not mention --resume" "$(tail -n 5 <<<"$OUT")"; fi
  run_upgrade --resume
  check_rc "--resume of the pending upgrade" 0
  assert_state 3.1 --label "resumed"
  run_upgrade --resume
  check_rc "--resume again: nothing pending" 0
}

# --- 9: gnt-cluster verify errors ----------------------------------------------------

s_verify() {
  fresh verify || return
  local data=$W/nodes/$MASTER/root/var/lib/ganeti
  echo "ENODESETUP fake node setup problem" >"$data/fake-verify-errors"
  printf 'inst1 running\ninst2 ADMIN_down\n' >"$data/fake-instances"
  run_upgrade --to 3.1
  check_rc "--to 3.1 with ENODESETUP there before the upgrade (not counted)" 0
  check "the dry run and record-health list the error there before" \
    grep -q "gnt-cluster verify reports 1 error before the upgrade; it will not count against the upgrade: ENODESETUP" <<<"$OUT"
  check "the end lists it as there before" \
    grep -q "reports 1 error that was there before the upgrade (not counted against it): ENODESETUP node ${MASTER}[.a-z]*: fake node setup problem" <<<"$OUT"
  assert_state 3.1 --label "upgraded; the error there before listed"
  # During the upgrade a new error appears and inst1 falls into an error
  # state: exit 3 names both, and only them.
  bg_upgrade GANETI_UPGRADE_WAIT_AT=resume-work --to 3.0
  if wait_at resume-work; then
    echo "ENODEHV fake hypervisor problem" >>"$data/fake-verify-errors"
    printf 'inst1 ERROR_down\ninst2 ADMIN_down\n' >"$data/fake-instances"
    release_wait resume-work
  fi
  bg_wait
  check_rc "--to 3.0 with a new error and inst1 down (upgraded, exit 3)" 3
  check "exit 3 names the new error" grep -q "ERROR: ENODEHV node ${MASTER}[.a-z]*: fake hypervisor problem" <<<"$OUT"
  check "... and inst1, with its states and the fix" \
    grep -q "instance inst1 was running before the upgrade and is ERROR_down now; hint: gnt-instance info inst1, then gnt-instance start inst1" <<<"$OUT"
  # shellcheck disable=SC2016 # $1 is the inner shell's
  check "... not the error there before" bash -c '! grep -q "ERROR: ENODESETUP" <<<"$1"' _ "$OUT"
  check "... which is listed as there before" grep -q "that was there before the upgrade (not counted against it): ENODESETUP" <<<"$OUT"
  assert_state 3.0 --label "downgraded despite the new error"
  printf 'inst1 running\ninst2 ADMIN_down\n' >"$data/fake-instances"
  # An error an upgrade should not start on: refused by the dry run and
  # the run, before anything changed; --verify-ignore ECLUSTERCFG goes on.
  echo "ECLUSTERCFG fake duplicate IP address" >>"$data/fake-verify-errors"
  refused_by_both "verify: ECLUSTERCFG" "ECLUSTERCFG cluster [^ ]*: fake duplicate IP address" \
    "ECLUSTERCFG cluster [^ ]*: fake duplicate IP address" "add --verify-ignore ECLUSTERCFG" "nothing had been changed yet, the cluster runs 3.0 as before" "report: [0-9]* step(s) in [0-9.]* s, stopped before any change, on 3.0"
  assert_state 3.0 --label "refused: nothing changed"
  run_upgrade --to 3.1 --verify-ignore ECLUSTERCFG
  check_rc "--to 3.1 --verify-ignore ECLUSTERCFG (the others there before)" 0
  assert_state 3.1 --label "ECLUSTERCFG ignored"
  # --verify-ignore of a code that refuses lifts only the refusal: its
  # errors are still compared (a configuration the conversion broke would
  # show); the other codes are ignored by verify itself.
  run_upgrade --to 3.0 --verify-ignore ENODESETUP --verify-ignore ENODEHV --verify-ignore ECLUSTERCFG
  check_rc "--to 3.0 with every error given with --verify-ignore" 0
  check "only ECLUSTERCFG is listed as there before" \
    grep -q "reports 1 error that was there before the upgrade (not counted against it): ECLUSTERCFG cluster" <<<"$OUT"
}

# --- 9b: no stale code before the queue reopens ---------------------------------

# old_process NODE ARGV0: a process on NODE whose command line starts with
# ARGV0 (as a Python script's does), sleeping 600 s; prints its pid there.
old_process() {
  # shellcheck disable=SC2016 # expanded by the node's shell
  x "$1" bash -c 'setsid bash -c "exec -a \"$1\" sleep 600" </dev/null >/dev/null 2>&1 & echo $!' _ "$2"
}

s_stale() {
  fresh stale || return
  local p2 p3 out rc=0
  bg_upgrade GANETI_UPGRADE_WAIT_AT=check-stale-code --to 3.1
  if wait_at check-stale-code; then
    # node2: a Python daemon of the old tree started by hand (python3
    # running a ganeti-rapi script there; node2's own pid file does not
    # name it); node3: an admin's long gnt-instance command of the old
    # tree (its argv as Python shows it).
    x node2 sh -c 'mkdir -p /usr/share/ganeti/3.0/e2e && printf "import time\ntime.sleep(600)\n" >/usr/share/ganeti/3.0/e2e/ganeti-rapi'
    # shellcheck disable=SC2016 # expanded by the node's shell
    p2=$(x node2 sh -c 'setsid python3 /usr/share/ganeti/3.0/e2e/ganeti-rapi </dev/null >/dev/null 2>&1 & echo $!')
    p3=$(old_process node3 /usr/share/ganeti/3.0/gnt-instance)
    sleep 0.5
    release_wait check-stale-code
  else
    fail "the run never waited before check-stale-code"
  fi
  bg_wait
  check_rc "--to 3.1 with 3.0's code running on node2 and node3" 0
  check "node2's old rapi is named and restarted" \
    grep -qE "node2[.a-z]*: pid $p2 \(python3 /usr/share/ganeti/3.0/e2e/ganeti-rapi\): its script /usr/share/ganeti/3.0/e2e/ganeti-rapi is 3.0's; ending it" <<<"$OUT"
  x node2 rm -rf /usr/share/ganeti/3.0/e2e
  check "node3's old gnt-instance is named and left running" \
    grep -q "node3[.a-z]*: pid $p3 (/usr/share/ganeti/3.0/gnt-instance 600): its script /usr/share/ganeti/3.0/gnt-instance is 3.0's; not a Ganeti daemon, so it is left running" <<<"$OUT"
  check "node2's old rapi is gone" x node2 sh -c "! kill -0 $p2 2>/dev/null"
  check "node3's process still runs" x node3 kill -0 "$p3"
  x node3 kill "$p3" || :
  assert_state 3.1 --label "stale code restarted"
  check "ganeti-switch stale 3.1 finds nothing on node2 now" x node2 "$SWITCH" stale 3.1
  out=$(x node2 "$SWITCH" stale 3.0) || rc=$?
  check_eq "ganeti-switch stale 3.0 on node2: exit 1" 1 "$rc"
  check "... naming its daemons as 3.1's" grep -q "ganeti-noded.*is 3.1's" <<<"$out"
}

# --- 9c: the first daemon round starts only what redist-conf needs -------------

# running_daemons NODE: the Ganeti daemons that run on NODE, by name (the
# fake noded's status RPC, which asks each daemon's locked pid file)
running_daemons() {
  x "$1" /usr/sbin/ganeti-noded --fake-rpc=status |
    python3 -c 'import json, sys; print(" ".join(sorted(d for d, r in json.load(sys.stdin)["daemons"].items() if r)))'
}

s_rounds() {
  fresh rounds || return
  local node3_data=$W/nodes/node3/root/var/lib/ganeti
  bg_upgrade GANETI_UPGRADE_WAIT_AT=redist-conf --to 3.1
  if wait_at redist-conf; then
    check_eq "round 1 on the master: noded, wconfd, luxid" "ganeti-luxid ganeti-noded ganeti-wconfd" "$(running_daemons "$MASTER")"
    check_eq "round 1 on node2: noded only" "ganeti-noded" "$(running_daemons node2)"
    # node3's noded dies before redist-conf: its copies fail (Ganeti only
    # warns); the step starts its noded and redistributes again.
    x node3 /usr/lib/ganeti/daemon-util stop ganeti-noded
    release_wait redist-conf
  else
    fail "the run never waited before redist-conf"
  fi
  bg_wait
  check_rc "--to 3.1 with node3's noded gone at redist-conf" 0
  check "the missed copies are named, and node3's noded started again" \
    grep -qE "redist-conf's copies did not reach node3[.a-z]*: starting ganeti-noded there and redistributing again" <<<"$OUT"
  assert_state 3.1 --label "node3 redistributed to after its noded was started again"
  # The same, but node3's noded cannot start: pending at redist-conf naming
  # node3, the queue still held; --resume once it can.
  bg_upgrade GANETI_UPGRADE_WAIT_AT=redist-conf --to 3.0
  if wait_at redist-conf; then
    x node3 /usr/lib/ganeti/daemon-util stop ganeti-noded
    : >"$node3_data/fake-fail-start-ganeti-noded"
    release_wait redist-conf
  else
    fail "the run never waited before redist-conf"
  fi
  bg_wait
  check_rc "--to 3.0 with node3's noded unable to start at redist-conf (pending)" 1
  check "pending at redist-conf, naming node3's missed copy and its failed start" \
    grep -qE "node3[.a-z]*: Copy of file .* to node node3[.a-z]* failed: .*; and starting its noded failed: .*fake failure injected" <<<"$OUT"
  check "... with --skip-node node3 as the way past it" grep -qE -- "--resume --skip-node node3" <<<"$OUT"
  rm -f "$node3_data/fake-fail-start-ganeti-noded"
  run_upgrade --resume
  check_rc "--resume once node3's noded can start" 0
  assert_state 3.0 --label "resumed past redist-conf"
  # No room for the backup: refused at verify-installed, before new jobs
  # are held, not at the backup inside the hold.
  x "$MASTER" mount -t tmpfs -o size=4k tmpfs /var/backups
  run_upgrade --to 3.1
  check_rc "--to 3.1 with no room for the backup (refused)" 1
  check "... naming what the backup needs and what is free" \
    grep -qE "the backup needs [0-9.]+ [KMG]?i?B in /var/backups \(.*\), [0-9.]+ [KMG]?i?B are free" <<<"$OUT"
  check "... and how much more to free there" grep -qE "hint: free [0-9.]+ [KMG]?i?B more there" <<<"$OUT"
  # shellcheck disable=SC2016 # $1 is the inner shell's
  check "... before new jobs were held" bash -c '! grep -q "Stopping new work" <<<"$1"' _ "$OUT"
  x "$MASTER" umount /var/backups
  assert_state 3.0 --label "refused for the backup's room: nothing changed"
}

# --- 10: a partial failure across nodes is undone, or stays pending ------------

# hide_switch NODE / show_switch NODE: ganeti-switch missing on NODE only (a
# bind mount over it in that node's private mount namespace; exec fails).
hide_switch() { x "$1" mount --bind /dev/null "$SWITCH"; }
show_switch() { x "$1" umount "$SWITCH"; }

# node_lib NODE: where NODE's /etc/ganeti/lib points.
node_lib() { readlink "$W/nodes/$1/root/etc/ganeti/lib"; }

# at_switch CAUSE: run --to 3.1, and while it waits before switch-version make
# node3 fail its switch with CAUSE (hide | cut | daemon | stale).
at_switch() {
  # (--node-wait 0: a node cut off here does not come back during the run.)
  bg_upgrade GANETI_UPGRADE_WAIT_AT=switch-version --to 3.1 --node-wait 0
  if ! wait_at switch-version 60; then
    bg_wait 5; fail "never waited before switch-version (exit $RC)" "$(tail -n 15 <<<"$OUT")"; return 1
  fi
  case $1 in
    hide) hide_switch node3 ;;
    cut) node_cut node3 ;;
    # As a watcher run would: noded started again, holding its pid file lock.
    daemon) x node3 /usr/lib/ganeti/daemon-util start ganeti-noded >/dev/null 2>&1 ;;
    # The watcher's cron run on node3, a non-candidate (luxid's pause does
    # not reach it).
    watcher) x node3 /usr/sbin/ganeti-watcher >/dev/null 2>&1 ;;
    # A crashed daemon's pid file naming a live process that holds no lock.
    stale) x node3 sh -c 'setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! >/var/run/ganeti/ganeti-noded.pid' ;;
  esac
  release_wait switch-version
  bg_wait 240
}

s_partial() {
  local cause
  # A switch that fails on node3 for good: the rollback cannot switch node3
  # back, so it stays pending as a rollback; node2, switched, is back on 3.0
  # (never left on 3.1 under a "rolled back"); --resume finishes it.
  for cause in hide cut; do
    fresh partial || return
    at_switch "$cause" || continue
    check_rc "node3's switch fails ($cause): not done" 1
    check_eq "node3's switch fails ($cause): node2 switched back" /usr/lib/ganeti/3.0 "$(node_lib node2)"
    if grep -q 'rollback did not complete' <<<"$OUT" && grep -q -- '--resume' <<<"$OUT"; then
      pass "node3's switch fails ($cause): the message says the rollback is pending and how to finish it"
    else fail "node3's switch fails ($cause): the message does not say the rollback is pending" "$(tail -n 8 <<<"$OUT")"; fi
    if [ -e "$W/nodes/$MASTER/root/var/lib/ganeti/intent-to-upgrade" ] && [ -e "$W/nodes/$MASTER/root/var/lib/ganeti/ganeti-upgrade.journal" ]; then
      pass "node3's switch fails ($cause): intent file and journal kept"
    else fail "node3's switch fails ($cause): intent file or journal removed while the rollback is pending"; fi
    if [ "$cause" = hide ]; then show_switch node3; else node_uncut node3; fi
    run_upgrade --resume
    check_rc "node3's switch fails ($cause): --resume once it is back" 0
    if grep -q 'rollback is finished' <<<"$OUT"; then pass "node3's switch fails ($cause): --resume says the rollback is finished"
    else fail "node3's switch fails ($cause): --resume does not say what it did" "$(tail -n 5 <<<"$OUT")"; fi
    assert_state 3.0 --label "node3's switch failed ($cause), rollback finished"
  done

  # A daemon running on node3 again (the watcher) or a stale pid file: the
  # switch there stops the daemons and goes on, or is not blocked at all.
  for cause in daemon stale watcher; do
    fresh partial || return
    at_switch "$cause" || continue
    check_rc "node3 at switch-version ($cause): upgraded" 0
    assert_state 3.1 --label "node3 at switch-version ($cause)"
    x node3 pkill -f 'sleep 600' 2>/dev/null
  done
  if grep -q 'paused until' "$W/nodes/node3/root/var/log/ganeti/fake-watcher.log" 2>/dev/null; then
    pass "node3's watcher (not a master candidate) found the pause and did nothing"
  else fail "node3's watcher was not paused" "$(tail -n 3 "$W/nodes/node3/root/var/log/ganeti/fake-watcher.log" 2>/dev/null)"; fi
  if [ -e "$W/nodes/node3/root/var/lib/ganeti/watcher.pause" ]; then
    fail "the watcher pause written on node3 was left behind"
  else pass "the watcher pause written on node3 was removed"; fi

  # The backup holds the configuration, never the intent file or our journal
  # (restoring it must not redo the upgrade at the next boot).
  local tarf list
  tarf=$(find "$W/nodes/$MASTER/root/var/backups" -name 'ganeti-upgrade-*.tar' -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)
  if [ -n "$tarf" ] && list=$(tar -tf "$tarf"); then
    if grep -qx 'var/lib/ganeti/config.data' <<<"$list"; then pass "the backup holds config.data"
    else fail "the backup lacks config.data" "$(head <<<"$list")"; fi
    if grep -Eq 'intent-to-upgrade|ganeti-upgrade\.journal' <<<"$list"; then fail "the backup holds the intent file or the journal" "$(grep -E 'intent|journal' <<<"$list")"
    else pass "the backup holds neither the intent file nor the journal"; fi
  else fail "no backup to list"; fi

  # cfgupgrade fails (config unchanged: rollback at the point of no return)
  # and node3 cannot switch back: the rollback stays pending; --resume
  # finishes it as a rollback, never by going forward.
  fresh partial || return
  touch "$W/nodes/$MASTER/root/var/lib/ganeti/fake-fail-cfgupgrade"
  bg_upgrade GANETI_UPGRADE_WAIT_AT=upgrade-config --to 3.1
  if wait_at upgrade-config 60; then
    hide_switch node3
    release_wait upgrade-config
    bg_wait 240
    check_rc "cfgupgrade fails, node3 cannot switch back" 1
    if grep -q 'rollback did not complete' <<<"$OUT"; then pass "cfgupgrade fails, node3 cannot switch back: rollback pending"
    else fail "cfgupgrade fails, node3 cannot switch back: message" "$(tail -n 8 <<<"$OUT")"; fi
    show_switch node3
    rm -f "$W/nodes/$MASTER/root/var/lib/ganeti/fake-fail-cfgupgrade"
    run_upgrade --resume
    check_rc "--resume finishes that rollback" 0
    assert_state 3.0 --label "rollback at the point of no return finished"
  else
    bg_wait 5; fail "never waited before upgrade-config (exit $RC)" "$(tail -n 15 <<<"$OUT")"
  fi

  # post-upgrade fails after the queue runs again; a user's job runs; the
  # resume goes on at post-upgrade and stops no daemon (the job finishes).
  fresh partial || return
  echo 3.1.0 >"$W/nodes/$MASTER/root/var/lib/ganeti/fake-fail-post-upgrade"
  run_upgrade --to 3.1
  check_rc "post-upgrade fails: still pending" 1
  rm -f "$W/nodes/$MASTER/root/var/lib/ganeti/fake-fail-post-upgrade"
  local j mark
  j=$(x "$MASTER" gnt-debug delay --submit --print-jobid 8 2>&1)
  wait_until "[ \"\$(job_field $j status)\" = running ]" 50
  mark=$(wc -l <"$W/nodes/$MASTER/root/var/log/ganeti/commands.log")
  run_upgrade --resume
  check_rc "--resume after post-upgrade failed" 0
  if tail -n +"$((mark + 1))" "$W/nodes/$MASTER/root/var/log/ganeti/commands.log" | grep -q 'daemon-util stop-all'; then
    fail "the resume stopped daemons under a running job" "$(tail -n +"$((mark + 1))" "$W/nodes/$MASTER/root/var/log/ganeti/commands.log" | grep stop-all | head -3)"
  else pass "the resume stopped no daemon (the queue was running again)"; fi
  wait_until "[ \"\$(job_field $j status)\" = success ]" 150
  check_eq "the user's job $j ran to its end" success "$(job_field "$j" status)"
  assert_state 3.1 --label "resumed at post-upgrade"

  # node3 dies after the point of no return: --resume waits for it in vain;
  # --resume --skip-node finishes without it and prints what brings it up to
  # date, which works once it is back.
  fresh partial || return
  run_upgrade GANETI_UPGRADE_CRASH_AT=upgrade-config --to 3.1
  check_rc "crash after upgrade-config" 137
  node_cut node3
  run_upgrade --resume --node-wait 0
  check_rc "--resume with node3 dead: still pending" 1
  if grep -q -- '--skip-node' <<<"$OUT"; then :; else note "the message does not mention --skip-node: $(tail -n 3 <<<"$OUT")"; fi
  run_upgrade --resume --skip-node node3.gnt.test
  # gnt-cluster verify rightly reports node3 down: exit 3 (upgraded).
  check_rc "--resume --skip-node node3 (upgraded; verify names node3)" 3
  local cmds master_cmds
  cmds=$(sed -n 's/.*node3.gnt.test (skipped) is not brought to 3.1: once it is back, before it runs anything, run on it: \(.*\); then on the master: .*/\1/p' <<<"$OUT" | head -n 1)
  master_cmds=$(sed -n 's/.*node3.gnt.test (skipped) is not brought to 3.1: .*; then on the master: \(.*\)/\1/p' <<<"$OUT" | head -n 1)
  if [ -n "$cmds" ] && [ -n "$master_cmds" ]; then pass "the commands for node3 are printed"
  else fail "no commands for node3" "$(tail -n 8 <<<"$OUT")"; fi
  assert_state 3.1 --nodes "node1 node2" --label "upgraded without node3"
  node_uncut node3
  # The admin runs what was printed (ganeti-switch by its path on the nodes).
  x node3 sh -c "$cmds" >"$LOGDIR/partial.node3-cmds.log" 2>&1 || fail "the printed commands failed on node3" "$(tail -n 5 "$LOGDIR/partial.node3-cmds.log")"
  x "$MASTER" sh -c "$master_cmds" >>"$LOGDIR/partial.node3-cmds.log" 2>&1 || fail "the printed master command failed" "$(tail -n 5 "$LOGDIR/partial.node3-cmds.log")"
  assert_state 3.1 --label "node3 brought up to date by the printed commands"
}

# --- 11: SIGHUP, a closed stdout, Ctrl-C of a resume -------------------------------

s_signals() {
  fresh signals || return
  # The admin's ssh session drops after the point of no return: goes on.
  term_at start-daemons HUP 3.1 || return
  check_rc "SIGHUP before start-daemons (after the point of no return) is ignored" 0
  assert_state 3.1 --label "after SIGHUP past the point of no return"
  # ... and before it: rolled back.
  term_at stop-daemons HUP 3.0 || return
  check_rc "SIGHUP before stop-daemons: rolled back" 1
  assert_state 3.1 --label "after SIGHUP before the point of no return"

  # stdout closed early (| head -n1): the run goes on to the end.
  local first
  first=$(x "$MASTER" sh -c "$UPGRADE --switch-command $SWITCH --to 3.0 | head -n 1")
  if [ -n "$first" ]; then pass "| head -n1 printed the first line ($first)"; else fail "| head -n1 printed nothing"; fi
  wait_until "! x $MASTER pgrep -x ganeti-upgrade >/dev/null" 300
  assert_state 3.0 --label "after | head -n1"

  # Ctrl-C of a resume after a crash at pause-watcher: everything undone,
  # including what the crashed run had set (filter, watcher pause).
  rm -f "$W/nodes/$MASTER/root/var/backups/"ganeti-upgrade-*.tar
  run_upgrade GANETI_UPGRADE_CRASH_AT=pause-watcher --to 3.1
  check_rc "crash after pause-watcher" 137
  bg_upgrade GANETI_UPGRADE_WAIT_AT=stop-master-daemons --resume
  if wait_at stop-master-daemons 60; then
    signal_upgrade INT || fail "no ganeti-upgrade process to signal"
    sleep 0.3
    release_wait stop-master-daemons
    bg_wait 120
    check_rc "Ctrl-C of the resume: rolled back" 1
    assert_state 3.0 --no-backup --label "no filter, drain or watcher pause left after Ctrl-C of a resume"
  else
    bg_wait 5; fail "the resume never waited before stop-master-daemons (exit $RC)" "$(tail -n 15 <<<"$OUT")"
  fi
}

# --- 12: the plan asks the nodes; --abort; live progress with a slow node ----

s_plan() {
  fresh plan || return
  local before after
  before=$(md5sum "$W/nodes/"*/root/var/lib/ganeti/config.data)
  hide_switch node3
  run_upgrade --to 3.1 --dry-run
  check_rc "--dry-run with ganeti-switch missing on node3: would be refused" 1
  if grep -q 'node3.*: no ganeti-switch: ' <<<"$OUT" && grep -q -- '--switch-command' <<<"$OUT"; then
    pass "--dry-run names node3, the missing ganeti-switch and --switch-command"
  else fail "--dry-run does not name the missing ganeti-switch" "$(head -n 20 <<<"$OUT")"; fi
  show_switch node3
  run_upgrade --to 3.5 --dry-run
  check_rc "--dry-run --to 3.5 (installed nowhere): would be refused" 1
  if grep -q 'not completely installed' <<<"$OUT"; then pass "--dry-run says 3.5 is not installed"
  else fail "--dry-run does not say 3.5 is missing" "$(head -n 20 <<<"$OUT")"; fi
  run_upgrade --to 3.1 --dry-run
  check_rc "--dry-run on a ready cluster" 0
  if grep -q 'Nodes: all 3 online ready for 3.1' <<<"$OUT"; then pass "--dry-run: the ready nodes, by count"
  else fail "--dry-run: no node table" "$(head -n 12 <<<"$OUT")"; fi
  after=$(md5sum "$W/nodes/"*/root/var/lib/ganeti/config.data)
  check_eq "--dry-run changed no configuration" "$before" "$after"
  assert_state 3.0 --no-backup --label "after the dry runs"

  # --abort before the point of no return: everything undone, exit 0.
  run_upgrade GANETI_UPGRADE_CRASH_AT=stop-daemons --to 3.1
  check_rc "crash after stop-daemons" 137
  run_upgrade --abort
  check_rc "--abort before the point of no return" 0
  assert_state 3.0 --no-backup --label "aborted"
  run_upgrade --abort
  check_rc "--abort with nothing pending" 0
  # ... and after it: refused, and --resume still finishes.
  run_upgrade GANETI_UPGRADE_CRASH_AT=upgrade-config --to 3.1
  check_rc "crash after upgrade-config" 137
  run_upgrade --abort
  check_rc "--abort after the point of no return: refused" 1
  if grep -q 'can only go forward' <<<"$OUT"; then pass "--abort says the upgrade can only go forward"
  else fail "--abort refusal" "$(tail -n 4 <<<"$OUT")"; fi
  run_upgrade --resume
  check_rc "--resume after the refused --abort" 0
  assert_state 3.1 --label "resumed after a refused --abort"

  # A slow node: the others' results come at once, and the run says whom it
  # waits for; the end-of-run report follows.
  # (Stopping noded takes 12 s on node3, once: in restart-daemons, with 3.0.)
  echo "12 3.0.2" >"$W/nodes/node3/root/var/lib/ganeti/fake-sleep-stop-ganeti-noded"
  run_upgrade --to 3.0
  rm -f "$W/nodes/node3/root/var/lib/ganeti/fake-sleep-stop-ganeti-noded"
  check_rc "--to 3.0 with noded slow to stop on node3" 0
  if grep -q 'still waiting for 1 node(s) after 1[0-9] s: node3' <<<"$OUT"; then pass "the slow node is named while the others are done"
  else fail "no word about the slow node" "$(grep -A4 'Restarting' <<<"$OUT")"; fi
  if grep -q '^report: .* step(s) in .* s, on 3.0; new jobs held for' <<<"$OUT"; then pass "an end-of-run report with the time new jobs were held"
  else fail "no end-of-run report" "$(tail -n 25 <<<"$OUT")"; fi
  assert_state 3.0 --label "after the slow node"

  # The cluster's root SSH keys are DSA (ssh_key_type), and the master's
  # OpenSSH is 9.9, which has no DSA: refused by the dry run and the run,
  # naming renew-crypto; nothing changes.
  local cfg=$W/nodes/$MASTER/root/var/lib/ganeti/config.data ssh99=$E2E_TMP/ssh-9.9
  # shellcheck disable=SC2016 # the wrapper's own "$@"
  printf '#!/bin/sh\n[ "$1" = -V ] && { echo "OpenSSH_9.9p1 Debian-1, OpenSSL 3.4.0" >&2; exit 0; }\nexec ssh "$@"\n' >"$ssh99"
  chmod +x "$ssh99"
  key_type() { # key_type TYPE|-: sets (or removes) the cluster's ssh_key_type
    python3 - "$cfg" "$1" <<'PY'
import json, sys
path, kind = sys.argv[1], sys.argv[2]
cfg = json.load(open(path))
if kind == "-":
    cfg["cluster"].pop("ssh_key_type", None)
else:
    cfg["cluster"]["ssh_key_type"] = kind
json.dump(cfg, open(path, "w"))
PY
  }
  key_type dsa
  run_upgrade --to 3.1 --dry-run --ssh-command "$ssh99"
  check_rc "--dry-run with DSA keys and OpenSSH 9.9" 1
  check "--dry-run names renew-crypto" grep -q 'gnt-cluster renew-crypto --new-ssh-keys --ssh-key-type=rsa' <<<"$OUT"
  run_upgrade --to 3.1 --ssh-command "$ssh99"
  check_rc "--to 3.1 with DSA keys and OpenSSH 9.9" 1
  check "the run says OpenSSH 9.9 has no DSA" grep -q 'OpenSSH 9.9 here has no DSA' <<<"$OUT"
  run_upgrade --to 3.1 --dry-run
  check_rc "--dry-run with DSA keys and this machine's OpenSSH (older than 9.8)" 0
  key_type -
  assert_state 3.0 --label "after the DSA refusals"
}

# --- 13: an RPM-style (lib64) cluster killed after the config step, finished
# by the boot-time unit's bare --resume -------------------------------------

# marker_field KEY: KEY of the run's settings in the master's marker, as JSON.
marker_field() {
  x "$MASTER" cat /var/lib/ganeti-upgrade/pending 2>/dev/null |
    python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)[sys.argv[1]]))' "$1" 2>&1
}

s_lib64() {
  fresh lib64 /usr/lib64 || return
  # Every node runs Ganeti from /usr/lib64/ganeti; /usr/lib/ganeti does not
  # exist in the nodes, so a tool run from there fails.
  check "no /usr/lib/ganeti on the nodes" x "$MASTER" test ! -e /usr/lib/ganeti
  echo "ENODESETUP fake node setup problem" >"$W/nodes/$MASTER/root/var/lib/ganeti/fake-verify-errors"
  run_logged "gnt-cluster verify" gnt-cluster verify
  check_rc "verify reports ENODESETUP" 1
  run_upgrade GANETI_UPGRADE_CRASH_AT=upgrade-config --to 3.1 --libdir /usr/lib64 --verify-ignore ENODESETUP
  check_rc "--to 3.1 --libdir /usr/lib64 --verify-ignore ENODESETUP, killed after upgrade-config" 137
  check_eq "the journal's last completed step" upgrade-config "$(journal_steps | tail -n 1)"
  check_eq "the marker records --libdir" '"/usr/lib64"' "$(marker_field libdir)"
  check_eq "the marker records --verify-ignore" '["ENODESETUP"]' "$(marker_field verify_ignore)"
  local mark
  mark=$(wc -l <"$W/nodes/$MASTER/root/var/log/ganeti/commands.log")
  unit_resume
  check_rc "a bare --resume, as the boot-time unit runs it" 0
  # commands.log says how it ended, as its output does (at boot: its journal).
  if tail -n +"$((mark + 1))" "$W/nodes/$MASTER/root/var/log/ganeti/commands.log" | grep -q 'INFO end (exit 0): done: the cluster runs 3\.1$'; then
    pass "commands.log has the resume's end: exit 0, done: the cluster runs 3.1"
  else fail "commands.log has the resume's end" "$(tail -n 3 "$W/nodes/$MASTER/root/var/log/ganeti/commands.log")"; fi
  if grep -q -- 'using the options the upgrade was started with:.*--libdir /usr/lib64 .*--verify-ignore ENODESETUP' <<<"$OUT"; then
    pass "the resume says it uses the recorded --libdir and --verify-ignore"
  else fail "the resume does not say it uses the recorded options" "$(tail -n 25 <<<"$OUT")"; fi
  assert_state 3.1 --label "resumed"
  check "no /usr/lib/ganeti on the nodes afterwards" x "$MASTER" test ! -e /usr/lib/ganeti
  check "no marker left" x "$MASTER" test ! -e /var/lib/ganeti-upgrade/pending
}

# --- main ------------------------------------------------------------------------

# The whole main part is one function, so bash has read all of it before it
# runs (editing run.sh during a run cannot break the run).
# --- 14: the backup, restored by hand as the run printed it --------------------

# run_on NODES CMDS: each "; "-separated command of CMDS on each node.
run_on() {
  local nodes=$1 cmds=$2 node cmd
  for node in $nodes; do
    while IFS= read -r cmd; do
      [ -n "$cmd" ] || continue
      x "$node" sh -c "$cmd" >/dev/null 2>&1 || { echo "$node: $cmd"; return 1; }
    done <<<"${cmds//; /$'\n'}"
  done
}

s_restore() {
  fresh restore || return
  run_upgrade --to 3.1
  check_rc "--to 3.1" 0
  local recipe every1 master every2 after all="node1 node2 node3"
  recipe=$(grep -o 'to go back to this backup by hand.*' <<<"$OUT" | head -n 1)
  if [ -z "$recipe" ]; then fail "the run printed no way back to its backup" "$(tail -n 20 <<<"$OUT")"; return; fi
  pass "the run printed how to go back to its backup"
  every1=$(sed -n 's/.*: on every node: \(.*\); on the master: .*/\1/p' <<<"$recipe" | sed 's/; on every node: .*//')
  master=$(sed -n 's/.*; on the master: \(.*\); on every node: .*/\1/p' <<<"$recipe")
  every2=$(sed -n 's/.*; on every node: \(.*\); then on the master: .*/\1/p' <<<"$recipe")
  after=$(sed -n 's/.*; then on the master: \(.*\)$/\1/p' <<<"$recipe")
  local failed=""
  failed=$(run_on "$all" "$every1") && failed=$(run_on "$MASTER" "$master") \
    && failed=$(run_on "$all" "$every2") && failed=$(run_on "$MASTER" "$after")
  if [ -z "$failed" ]; then pass "the printed commands run as printed"
  else fail "a printed command failed" "$failed"; return; fi
  assert_state 3.0 --label "the backup restored as printed"
  local j
  j=$(x "$MASTER" gnt-debug delay --submit --print-jobid 1 2>&1)
  wait_until "[ \"\$(job_field $j status)\" = success ]" 60
  check_eq "a job runs on the restored cluster (the upgrade's hold released)" success "$(job_field "$j" status)"
}

main() {
  local -A BYNUM=([1]=updown [2]=crash [3]=sigterm [4]=preserve [5]=jobs [6]=nodes [7]=concurrent [8]=resume [9]=verify [10]=partial [11]=signals [12]=plan [13]=lib64 [14]=restore [0]=harness)
  want=()
  for a in "$@"; do
    [ -n "${BYNUM[$a]:-}" ] && a=${BYNUM[$a]}
    if ! declare -F "s_$a" >/dev/null; then echo "unknown scenario: $a (known: harness ${ALL[*]})" >&2; exit 2; fi
    want+=("$a")
  done
  [ "${#want[@]}" -gt 0 ] || want=("${ALL[@]}")

  mkdir -p "$E2E_TMP"
  LOGDIR=$E2E_TMP/logs
  rm -rf "$LOGDIR"
  mkdir -p "$LOGDIR"
  trap 'cluster_down' EXIT
  trap 'exit 130' INT TERM

  T0=$SECONDS
  for s in "${want[@]}"; do
    CURRENT=$s
    echo "# $s"
    ts=$SECONDS
    if [ "$s" != harness ] && ! have_upgrade; then
      fail "ganeti-upgrade is not built ($UPGRADE)"
      continue
    fi
    "s_$s"
    [ "${E2E_REUSE:-1}" = 1 ] || cluster_down
    echo "# $s: $((SECONDS - ts)) s"
  done
  # shellcheck disable=SC2034 # read by pass/fail in lib.sh
  CURRENT=""
  echo "# total $((SECONDS - T0)) s; logs in $LOGDIR"
  if [ "$FAILED" -gt 0 ]; then
    echo "failures:"
    printf '  %s\n' "${FAILURES[@]}"
  fi
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}

main "$@"
exit
