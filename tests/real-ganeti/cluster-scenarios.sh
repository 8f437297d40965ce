#!/bin/bash
# cluster-scenarios.sh -- ganeti-upgrade against a REAL 3-node Ganeti
# (harness.sh cluster3: node1 master, node2 master candidate, node3 not a
# candidate; Debian's 3.0.2 and the harness's 3.1 side by side on each).
#
#   cluster-scenarios.sh [a|b|c|d]...   run all scenarios, or only the ones named
#
# a  --to 3.1 --verify-ignore ENODESETUP, then back --to 3.0.
# b  ganeti-watcher run by hand on node3 (as cron runs it) while the upgrade
#    waits between stop-daemons and the switch (at backup): the run must
#    finish and node3 end on the target with the target's daemons.
# c  node3's sshd killed after the point of no return (waiting at
#    ensure-dirs): the run stops with node3 pending; --resume --skip-node
#    node3.gnt.test finishes the rest; sshd back on node3, the commands the
#    tool printed run there and on the master; node3 ends on the target.
# d  a stale pid file on node2 (ganeti-kvmd.pid naming a live, unrelated
#    process that holds no lock on it) while the upgrade waits after
#    stop-daemons: the switch must not take it for a running daemon.
# e  the master's run dies after stop-new-work and the admin fails the
#    master over to node2 (gnt-cluster master-failover --no-voting): on
#    node2, --status shows the pending upgrade and --resume takes it over
#    from the copy of the journal node1 kept there, and finishes it; node1's
#    own --resume then acts on nothing (exit 11, its journal set aside); the
#    master is failed back to node1 and the whole state checked.
#
# After every run the whole end state is checked on all three nodes: links,
# config.data version (none on node3), ssconf release, daemons and the
# version of their binaries, watcher pause, intent file, journal, leftovers,
# ganeti-switch check; on the master also the code version, drain flag,
# filters and inst1, and `gnt-cluster verify -I ENODESETUP`. Scenarios chain
# (a ends on 3.0, c on 3.1, b on 3.0, d on 3.1); a fresh cluster is made
# only when the next one needs another version or the last one left the
# cluster unsettled.
#
# Prints ok/FAIL lines, TIME lines, and a final "N passed, M failed"; exit 1
# on any failure; SKIPPED (exit 0) when not root. Logs go to
# $REAL_GANETI_ROOT.harness/run/cluster-scenarios/. The binaries are taken
# from $GANETI_BIN_DIR (default: target/debug); they are not built.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=checks.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname -- "${BASH_SOURCE[0]}")/checks.sh"

LOGDIR=$ROOT.harness/run/cluster-scenarios
OPTS=(--verify-ignore ENODESETUP --switch-command "$SWITCH")
WAITDIR=/var/run/ganeti
RUN_LIMIT=${SCENARIO_RUN_LIMIT:-300}
ALL_SCENARIOS=(a c b d e)
# what `daemon-util start-all` leaves running on a node that is not the master
NODE_DAEMONS=(ganeti-noded ganeti-confd ganeti-mond)

if [ "$(id -u)" != 0 ]; then
  echo "real-ganeti cluster scenarios: SKIPPED: needs root (overlay mounts, unshare/nsenter namespaces)"
  exit 0
fi

c() { "$HARNESS" cluster3 "$@"; }
cx() { "$HARNESS" cluster3 x "$@"; }          # cx NODE CMD...
x() { "$HARNESS" cluster3 x node1 "$@"; }      # the master (lib.sh's helpers use it)

passed=0
failed=0
failures=()
SETTLED=none
T_START=$(now_us)


fresh_cluster() {
  local t rc=0
  t=$(now_us)
  { c start && c init "$1" &&
    c install-bin "$BIN_DIR/ganeti-layout" "$BIN_DIR/ganeti-switch" \
      "$BIN_DIR/ganeti-upgrade" "$REAL_GANETI_DIR/gnt-probe"; } >>"$LOGDIR/harness.log" 2>&1 || rc=$?
  printf 'TIME   %-44s %ss\n' "fresh 3-node cluster on $1 (start + init)" "$(elapsed "$t" "$(now_us)")"
  if [ "$rc" != 0 ]; then
    fail "fresh 3-node cluster on $1" "harness exit $rc; see $LOGDIR/harness.log"
    tail -n 5 "$LOGDIR/harness.log" | sed 's/^/       | /'
    SETTLED=broken
    return 1
  fi
  SETTLED=$1
}
need() { [ "$SETTLED" = "$1" ] || fresh_cluster "$1"; }

# nfield TEXT KEY: KEY's value in a gnt-probe output
nfield() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -n 1; }

# cluster_is LABEL VERSION: the whole end state on all three nodes
cluster_is() {
  local label=$1 v=$2 bad0=$failed i n p cfg rc=0
  probe
  check "$label: node1: links on $v" "/usr/lib/ganeti/$v /usr/share/ganeti/$v" "$(field links)"
  check "$label: node1: config.data version" "$(config_of "$v")" "$(field config)"
  check "$label: node1: gnt-cluster runs $v code" "$v" "$(field software)"
  check "$label: node1: gnt-cluster getmaster" "node1.gnt.test" "$(field master)"
  check "$label: node1: no daemon down, each has a process" "|" "$(field down)|$(field noproc)"
  check "$label: node1: daemons run the $v binaries" "$v" "$(field exe)"
  check "$label: node1: drain flag unset" "The drain flag is unset" "$(field queue)"
  check "$label: node1: watcher running (not paused)" running "$(field watcher)"
  check "$label: node1: no job filter left" "0" "$(field filters)"
  check "$label: node1: no intent file, journal, wait file or process left" "" "$(field left)"
  check "$label: node1: inst1 running" "inst1 running" "$(field inst1)"
  check "$label: node1: ganeti-switch check" "0 sound: $v is active" "$(field switch_check)"
  for i in 2 3; do
    n=node$i
    p=$(cx "$n" gnt-probe --node "${NODE_DAEMONS[@]}" 2>&1) || :
    cfg=$(config_of "$v")
    [ "$i" = 3 ] && cfg=none      # not a master candidate: no config.data
    check "$label: $n: links on $v" "/usr/lib/ganeti/$v /usr/share/ganeti/$v" "$(nfield "$p" links)"
    check "$label: $n: config.data version ($cfg)" "$cfg" "$(nfield "$p" config)"
    check "$label: $n: ssconf release $v" "$v" "$(nfield "$p" release)"
    check "$label: $n: no daemon down, each has a process" "|" "$(nfield "$p" down)|$(nfield "$p" noproc)"
    check "$label: $n: daemons run the $v binaries" "$v" "$(nfield "$p" exe)"
    check "$label: $n: watcher not paused" "not paused" \
      "$(case $(nfield "$p" watcher_pause) in none|expired) echo "not paused" ;; *) nfield "$p" watcher_pause ;; esac)"
    check "$label: $n: nothing of the upgrade left" "" "$(nfield "$p" left)"
    check "$label: $n: ganeti-switch check" "0 sound: $v is active" "$(nfield "$p" switch_check)"
  done
  cx node1 gnt-cluster verify -I ENODESETUP >"$LOGDIR/verify.log" 2>&1 || rc=$?
  check_rc "$label: gnt-cluster verify -I ENODESETUP" 0 "$rc" "$LOGDIR/verify.log" || :
  if [ "$failed" = "$bad0" ]; then SETTLED=$v; else SETTLED=broken; fi
}


# ------------------------------------------------------------ scenarios

scenario_a() {
  echo "== a: 3 nodes, --to 3.1 and back --to 3.0"
  need 3.0 || return 0
  tool a-up-3.1 -- --to 3.1 "${OPTS[@]}"
  check_rc "a: --to 3.1" 0 "$RC" "$LOGDIR/a-up-3.1.log" || :
  check_grep "a: --to 3.1 reached all three nodes" 'node3\.gnt\.test: ok' "$LOGDIR/a-up-3.1.log"
  cluster_is "a: after --to 3.1" 3.1
  need 3.1 || return 0
  tool a-down-3.0 -- --to 3.0 "${OPTS[@]}"
  check_rc "a: --to 3.0" 0 "$RC" "$LOGDIR/a-down-3.0.log" || :
  cluster_is "a: after --to 3.0" 3.0
}

scenario_b() {
  local from=3.1 to p rc=0
  [ "$SETTLED" = 3.0 ] && from=3.0
  to=$(other "$from")
  echo "== b: ganeti-watcher on node3 (not a candidate) between stop-daemons and the switch, $from -> $to"
  need "$from" || return 0
  tool_waiting b-watcher backup --to "$to" "${OPTS[@]}" || return 0
  p=$(cx node3 gnt-probe --node "${NODE_DAEMONS[@]}" 2>&1) || :
  check "b: node3's daemons stopped while waiting" "ganeti-noded ganeti-confd ganeti-mond" "$(nfield "$p" noproc)"
  check "b: node3's own watcher pause file says paused" paused "$(nfield "$p" watcher_pause)"
  # As cron runs it (/etc/cron.d/ganeti), with cron's clean environment.
  cx node3 /usr/sbin/ganeti-watcher >"$LOGDIR/b-watcher-node3.log" 2>&1 || rc=$?
  echo "ganeti-watcher on node3: exit $rc" >>"$LOGDIR/b-watcher-node3.log"
  p=$(cx node3 gnt-probe --node "${NODE_DAEMONS[@]}" 2>&1) || :
  check "b: the watcher on node3 started no daemon" "ganeti-noded ganeti-confd ganeti-mond" "$(nfield "$p" noproc)"
  check "b: node3 still on $from before the switch" "/usr/lib/ganeti/$from /usr/share/ganeti/$from" "$(nfield "$p" links)"
  tool_continue backup
  check_rc "b: --to $to with the watcher run on node3" 0 "$RC" "$LOGDIR/b-watcher.log" || :
  cluster_is "b: after --to $to" "$to"
}

scenario_c() {
  local from=3.0 to=3.1 pids line on_node on_master rc
  echo "== c: node3's sshd dies after the point of no return, --resume --skip-node, then the printed commands"
  need "$from" || return 0
  # --node-wait 5: the run waits that long for node3 to answer again (as
  # for a node that reboots), says so, then stops.
  tool_waiting c-up ensure-dirs --to "$to" "${OPTS[@]}" --node-wait 5 || return 0
  # Every sshd process of node3 (the listener, and the sessions our run
  # keeps open: sshd-session since OpenSSH 9.8), by pid, inside node3's own
  # pid namespace.
  pids=$(cx node3 pgrep '^sshd' | paste -sd' ' -) || pids=""
  # shellcheck disable=SC2086 # a list of pids
  [ -n "$pids" ] && cx node3 kill -KILL $pids
  check "c: node3's sshd is gone" "" "$(cx node3 pgrep -l '^sshd' | paste -sd' ' -)"
  tool_continue ensure-dirs
  check_rc "c: the run stops with node3 unreachable" 1 "$RC" "$LOGDIR/c-up.log" || :
  check_grep "c: it names node3" 'node3\.gnt\.test' "$LOGDIR/c-up.log"
  check_grep "c: it waited for node3 to answer again first" 'node3\.gnt\.test stopped answering \(ssh exit 255\); waiting up to [0-9]+ s' "$LOGDIR/c-up.log"
  check_grep "c: the upgrade is pending after the configuration change" 'after the configuration change|pending|--resume' "$LOGDIR/c-up.log"
  SETTLED=broken
  tool c-skip -- --resume --skip-node node3.gnt.test "${OPTS[@]}"
  # verify reports the node that was left out: 3 (or 0 if it does not)
  case $RC in
    0|3) ok "c: --resume --skip-node node3.gnt.test finished (exit $RC)" ;;
    *) check_rc "c: --resume --skip-node node3.gnt.test" 3 "$RC" "$LOGDIR/c-skip.log" || : ;;
  esac
  line=$(grep -m1 'node3\.gnt\.test (skipped) is not brought to' "$LOGDIR/c-skip.log") || line=""
  if [ -z "$line" ]; then
    fail "c: --skip-node prints the commands for node3" "no such line in $LOGDIR/c-skip.log"
    return 0
  fi
  ok "c: --skip-node prints the commands for node3"
  # "... run on it: CMD; CMD; ...; then on the master: CMD", each command
  # shell-quoted by the tool: the list is one shell command line as it is.
  on_node=${line#*run on it: }
  on_node=${on_node%%; then on the master: *}
  on_master=${line##*; then on the master: }
  # node3 back: sshd again, then what the tool said, in order.
  cx node3 /usr/sbin/sshd || fail "c: sshd restarted on node3"
  rc=0
  printf '%s\n' "\$ (node3) $on_node" > "$LOGDIR/c-later.log"
  cx node3 sh -ec "$on_node" >>"$LOGDIR/c-later.log" 2>&1 || rc=$?
  check_rc "c: the printed commands on node3" 0 "$rc" "$LOGDIR/c-later.log" || :
  rc=0
  echo "\$ (node1) $on_master" >>"$LOGDIR/c-later.log"
  x sh -c "$on_master" >>"$LOGDIR/c-later.log" 2>&1 || rc=$?
  check_rc "c: the printed command on the master" 0 "$rc" "$LOGDIR/c-later.log" || :
  # This includes node3's watcher pause: the printed command removes it
  # only if it holds the value the --resume wrote on the other nodes, while
  # node3 kept the one the first run wrote (see the report of issue 11,
  # item 7: a bug of ganeti-upgrade that this check catches).
  cluster_is "c: node3 brought up to date later" "$to"
}

scenario_d() {
  local from=3.0 to sleeper p rc=0
  [ "$SETTLED" = 3.1 ] && from=3.1
  to=$(other "$from")
  echo "== d: a stale pid file on node2 (a live, unrelated pid, no lock), $from -> $to"
  need "$from" || return 0
  tool_waiting d-stale backup --to "$to" "${OPTS[@]}" || return 0
  # After stop-daemons, as after a crash and a reused pid: kvmd's pid file
  # names a live process that holds no lock on it. (kvmd, not mond:
  # daemon-util start runs start-stop-daemon with --pidfile alone, so it
  # would itself take the live pid for a running mond and never start it;
  # kvmd exits at once here anyway, without KVM.)
  sleeper=$(cx node2 sh -c 'setsid sleep 3600 </dev/null >/dev/null 2>&1 & echo $!')
  cx node2 sh -c "echo $sleeper > $WAITDIR/ganeti-kvmd.pid"
  check "d: node2's ganeti-kvmd.pid names a live process" 0 \
    "$(cx node2 sh -c "kill -0 \$(cat $WAITDIR/ganeti-kvmd.pid)" >/dev/null 2>&1; echo $?)"
  tool_continue backup
  check_rc "d: --to $to with the stale pid file on node2" 0 "$RC" "$LOGDIR/d-stale.log" || :
  check "d: the unrelated process on node2 still runs" 0 "$(cx node2 kill -0 "$sleeper" >/dev/null 2>&1; echo $?)"
  cx node2 kill -KILL "$sleeper" 2>/dev/null || rc=$?
  cx node2 rm -f "$WAITDIR/ganeti-kvmd.pid"
  cluster_is "d: after --to $to" "$to"
}

scenario_e() {
  local out rc=0
  echo "== e: the master fails over to node2 mid-upgrade; node2 takes the upgrade over"
  need 3.0 || return 0
  tool_waiting e-up wait-for-jobs --to 3.1 "${OPTS[@]}" || return 0
  # The master's run dies where it stands (after stop-new-work).
  x kill -KILL "$WAIT_PID"
  wait "$BG" || :
  x rm -f "$WAITDIR/ganeti-upgrade.waiting-wait-for-jobs"
  SETTLED=broken
  cx node2 gnt-cluster master-failover --no-voting --yes-do-it >"$LOGDIR/e-failover.log" 2>&1 || rc=$?
  check_rc "e: gnt-cluster master-failover --no-voting on node2" 0 "$rc" "$LOGDIR/e-failover.log" || return 0
  out=$(cx node2 ganeti-upgrade --status 2>&1) || :
  printf '%s\n' "$out" >"$LOGDIR/e-status-node2.log"
  check_grep "e: --status on node2 shows the pending upgrade" 'pending' "$LOGDIR/e-status-node2.log"
  check_grep "e: --status on node2 says --resume there takes it over" 'takes the upgrade over' "$LOGDIR/e-status-node2.log"
  rc=0
  cx node2 timeout -k 5 "$RUN_LIMIT" ganeti-upgrade --resume "${OPTS[@]}" >"$LOGDIR/e-resume-node2.log" 2>&1 || rc=$?
  check_rc "e: --resume on node2" 0 "$rc" "$LOGDIR/e-resume-node2.log" || :
  check_grep "e: node2 says it takes the upgrade over" 'taking over upgrade' "$LOGDIR/e-resume-node2.log"
  rc=0
  x ganeti-upgrade --resume "${OPTS[@]}" >"$LOGDIR/e-resume-node1.log" 2>&1 || rc=$?
  check_rc "e: --resume on node1, no longer the master" 11 "$rc" "$LOGDIR/e-resume-node1.log" || :
  check "e: node1's journal set aside" "" "$(x sh -c 'ls /var/lib/ganeti/ganeti-upgrade.journal 2>/dev/null')"
  rc=0
  x gnt-cluster master-failover >"$LOGDIR/e-failback.log" 2>&1 || rc=$?
  check_rc "e: master-failover back to node1" 0 "$rc" "$LOGDIR/e-failback.log" || :
  cluster_is "e: after the take-over on node2 and the failback" 3.1
}

# ------------------------------------------------------------ main

selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${ALL_SCENARIOS[@]}")
for s in "${selected[@]}"; do
  case $s in a|b|c|d|e) ;; *) echo "usage: $0 [a|b|c|d|e]..." >&2; exit 2 ;; esac
done
for b in ganeti-layout ganeti-switch ganeti-upgrade; do
  [ -x "$BIN_DIR/$b" ] || { echo "cluster scenarios: $BIN_DIR/$b is missing (build it first)" >&2; exit 2; }
done

rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
trap 'c stop >/dev/null 2>&1 || :' EXIT
# timeout(1) sends TERM: leave through the EXIT trap, which stops the nodes
trap 'exit 143' TERM INT
t=$(now_us)
if c setup >>"$LOGDIR/harness.log" 2>&1; then
  printf 'TIME   %-44s %ss\n' "harness setup" "$(elapsed "$t" "$(now_us)")"
  for s in "${selected[@]}"; do
    t=$(now_us)
    "scenario_$s"
    printf 'TIME   %-44s %ss\n' "scenario $s" "$(elapsed "$t" "$(now_us)")"
  done
else
  fail "harness setup" "see $LOGDIR/harness.log"
fi
c stop >>"$LOGDIR/harness.log" 2>&1 || fail "harness stop"
trap - EXIT
# stop must leave nothing behind
left=$(for d in /proc/[0-9]*; do
         r=$(readlink "$d/root" 2>/dev/null) || continue
         if [[ $r == "$ROOT.harness/cluster3/"* ]]; then echo "${d#/proc/}"; fi
       done | paste -sd' ' -)
check "after stop: no process left in the nodes" "" "$left"
check "after stop: nothing mounted below the nodes" "" \
  "$(awk -v r="$ROOT.harness/cluster3/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo)"
printf 'TIME   %-44s %ss\n' "cluster scenarios total" "$(elapsed "$T_START" "$(now_us)")"
echo "logs: $LOGDIR"
if [ "$failed" -gt 0 ]; then
  echo "failed checks:"
  printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
