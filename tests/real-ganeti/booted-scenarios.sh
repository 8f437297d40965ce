#!/bin/bash
# booted-scenarios.sh -- reboots in the middle of an upgrade, on real Ganeti
# nodes that boot (booted.sh: systemd, cron, Ganeti's init script or sid's
# units, this toolkit from its .deb), and nobody typing anything afterwards.
#
#   booted-scenarios.sh [ci|long|CASE...]     default: ci
#
# A CASE is POINT.NODE.KIND:
#   POINT  stop-daemons      during stop-daemons
#          switch-version    right after switch-version (held before upgrade-config)
#          upgrade-config    during upgrade-config (the point of no return)
#          start-daemons     during start-daemons
#          restart-daemons   during restart-daemons
#          resume-work       after resume-work (held before unpause-watcher)
#   NODE   master (node1), node2 (a master candidate), node3 (not a candidate)
#   KIND   cut (power cut: the node's processes die at once, its port goes
#          dark; power comes back 3 s later) or reboot (`systemctl reboot`)
# "during S": the node goes down as soon as the master's commands.log says
# S started, plus a delay that lands inside the step (see DURING_DELAY).
# The upgrade is 3.0 -> 3.1 (Debian's 3.0.2 and bookworm-backports' 3.1,
# Ganeti's init script), started by the admin on the master inside a
# transient scope (systemd-run --scope, as a login session is), with
# --verify-ignore ENODESETUP.
#
# Other cases:
#   sid         REAL_GANETI_31=sid: sid's 3.1, whose native systemd units
#               daemon-util drives through systemctl: 3.0 -> 3.1 with the
#               master's power cut during start-daemons, then 3.1 -> 3.0 with
#               the master's power cut during start-daemons
#   late-nodes  the whole cluster loses power during start-daemons; the
#               master comes back first, node2 and node3 LATE_NODES seconds
#               (360) later. Ganeti's own start at boot (ganeti.service)
#               waits first: wconfd and luxid each ask the other nodes for
#               about 80 s, then give up, so the unit starts about 165 s
#               after boot; 360 s is then more than ganeti-upgrade's own
#               --vote-wait (120 s) and within the unit's BOOT_WAIT
#   foreign     an upgrade of Ganeti's own (gnt-cluster upgrade) is pending
#               when the master boots: the unit says so and does not fail
#   watcher     the watcher from cron (every minute) on every node through a
#               whole upgrade held at each step for WATCHER_HOLD seconds (65)
#   unit-stop.before, unit-stop.after
#               systemctl stop ganeti-upgrade-resume while the boot-time
#               resume waits before backup (it rolls back) or before
#               restart-daemons (it ignores the signal and finishes)
#
#   ci    start-daemons.master.cut stop-daemons.master.reboot
#         switch-version.node2.cut sid
#   long  every POINT x {master, node2} x {cut, reboot}, plus
#         start-daemons.node3.cut, switch-version.node3.reboot, late-nodes,
#         foreign, unit-stop.before, unit-stop.after, sid and watcher
#
# After the reboot, the test only waits: for the master's
# ganeti-upgrade-resume.service to end (when the master rebooted) or for
# the admin's run to end (when another node did), at most SETTLE_LIMIT
# seconds (600). Then the cluster must be settled: every node on one
# version (links, config.data, ssconf release, the daemons' binaries),
# every daemon running and STILL the same process 60 s after the unit (or
# the run) ended, the queue takes and runs a job, the watcher not paused
# on any node, no intent file, journal, marker or ganeti-upgrade process,
# gnt-cluster verify -I ENODESETUP clean; and `systemctl is-failed
# ganeti-upgrade-resume` says what is true (not failed: the unit ended
# well). The unit's journal must tell the resume's steps and its report as
# commands.log does.
#
# Prints ok/FAIL and TIME lines, a closing table with one line per case
# (settled or not, on which version, its time to settle: from the node
# going down to the unit's or the run's end), and "N passed, M failed"; exit 1 on a failure; SKIPPED when not root. Logs:
# $REAL_GANETI_ROOT.booted/scenarios/.
set -euo pipefail

HERE=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
BOOTED=$HERE/booted.sh
# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091
. "$HERE/lib.sh"
# shellcheck source=checks.sh source-path=SCRIPTDIR disable=SC1091
. "$HERE/checks.sh"

SETTLE_LIMIT=${SETTLE_LIMIT:-600}
LATE_NODES=${LATE_NODES:-360}
WATCHER_HOLD=${WATCHER_HOLD:-65}
ALIVE_FOR=60
# How long after that inst1 may take to run again (two of cron's minutes).
INST_WAIT=120
POWER_OFF_FOR=3
BRIDGE_NAME=gntbr0
POINTS=(stop-daemons switch-version upgrade-config start-daemons restart-daemons resume-work)
# Seconds after "step S started" in commands.log at which the node goes
# down, to land inside the step (restart-daemons' stop-all and start-all
# take seconds; start-daemons' per-daemon starts about one; cfgupgrade less).
declare -A DURING_DELAY=([stop-daemons]=0 [upgrade-config]=0 [start-daemons]=0.3 [restart-daemons]=1.5)
# What `daemon-util start-all` leaves running, per node.
MASTER_DAEMONS=(ganeti-noded ganeti-confd ganeti-wconfd ganeti-rapi ganeti-luxid ganeti-mond)
NODE_DAEMONS=(ganeti-noded ganeti-confd ganeti-mond)
CI_CASES=(start-daemons.master.cut stop-daemons.master.reboot switch-version.node2.cut sid)

if [ "$(id -u)" != 0 ]; then
  echo "booted scenarios: SKIPPED: needs root (systemd-nspawn, overlay mounts, namespaces)"
  exit 0
fi

b() { "$BOOTED" "$@"; }
bx() { "$BOOTED" x "$@"; }          # bx NODE CMD...
x() { "$BOOTED" x node1 "$@"; }     # the master (lib.sh's probe uses it)

passed=0
failed=0
failures=()
results=()
T_START=$(now_us)
LOGROOT=$(dirname "$("$HARNESS" root)")/$(basename "$("$HARNESS" root)").booted/scenarios

nfield() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -n 1; }
node_name() { case $1 in master|node1) echo node1 ;; *) echo "$1" ;; esac; }
# (sid's ganeti-confd.service runs only where config.data is: not on node3,
# which is not a master candidate.)
daemons_of() {
  if [ "$1" = node1 ]; then echo "${MASTER_DAEMONS[*]}"
  elif [ "$1" = node3 ] && [ "${REAL_GANETI_31:-}" = sid ]; then echo ganeti-noded ganeti-mond
  else echo "${NODE_DAEMONS[*]}"; fi
}

# The master's commands.log, read on the host through the node's upper
# directory (it is there whether the node runs or not).
RUNDIR_HOST=""
commands_log_host() { echo "$RUNDIR_HOST/node1/upper/var/log/ganeti/commands.log"; }

# ---------------------------------------------------------------- helpers

# install_probe: gnt-probe into every node's /usr/local/sbin (a test tool,
# not part of the toolkit).
install_probe() {
  local n
  for n in node1 node2 node3; do
    bx "$n" sh -c 'cat > /usr/local/sbin/gnt-probe && chmod 0755 /usr/local/sbin/gnt-probe' \
      < "$HERE/gnt-probe" || return 1
  done
}

# daemon_pids NODE: "name pid start-epoch" for each daemon of NODE (pid "-"
# when it does not run). The daemons' command lines name /usr/sbin/NAME.
daemon_pids() {
  local n=$1
  # shellcheck disable=SC2016,SC2046 # expanded by the node's shell; a list of names
  bx "$n" sh -c 'bt=$(awk "/^btime/ { print \$2 }" /proc/stat); hz=$(getconf CLK_TCK)
    for d in "$@"; do
      p=$(pgrep -o -f "/usr/sbin/$d( |\$)") || p=""
      if [ -z "$p" ]; then echo "$d - -"; continue; fi
      st=$(awk "{ print \$22 }" /proc/$p/stat)
      echo "$d $p $((bt + st / hz))"
    done' sh $(daemons_of "$n")
}

# unit_state: ActiveState Result ExecMainStatus of the resume unit on the
# master, and whether its start was attempted in this boot.
unit_show() {
  x systemctl show -p ActiveState -p SubState -p Result -p ExecMainStatus \
    -p ExecMainPID -p ExecMainExitTimestamp -p ConditionResult -p ConditionTimestampMonotonic \
    ganeti-upgrade-resume.service 2>/dev/null
}
ufield() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -n 1; }

# wait_unit_ended: until the master's resume unit was tried in this boot
# and is no longer active; prints its `systemctl show` lines.
wait_unit_ended() {
  local t0=$SECONDS s
  while [ $((SECONDS - t0)) -lt "$SETTLE_LIMIT" ]; do
    s=$(unit_show) || s=""
    if [ -n "$s" ] && [ "$(ufield "$s" ConditionTimestampMonotonic)" != 0 ]; then
      case $(ufield "$s" ActiveState) in
        inactive|failed) printf '%s\n' "$s"; return 0 ;;
      esac
    fi
    sleep 1
  done
  printf '%s\n' "$s"
  return 1
}

# ADMIN_* : the admin's upgrade on the master, in the background.
ADMIN_BG="" ADMIN_LOG="" ADMIN_RC=""
# admin_run NAME [VAR=VALUE...] -- ARGS...: ganeti-upgrade on the master as
# an admin runs it from a login: in a transient scope (a clean reboot stops
# it as it stops a session: SIGTERM, then SIGKILL).
admin_run() {
  local name=$1 envs=()
  shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  ADMIN_LOG=$LOGDIR/$name.log
  ADMIN_RC=""
  bx node1 systemd-run --quiet --scope --unit="admin-upgrade-$RANDOM" -- \
    env "${envs[@]}" ganeti-upgrade "$@" >"$ADMIN_LOG" 2>&1 </dev/null &
  ADMIN_BG=$!
}
admin_wait() {   # [LIMIT]: wait for the admin's run; sets ADMIN_RC
  local limit=${1:-$SETTLE_LIMIT} t0=$SECONDS
  while kill -0 "$ADMIN_BG" 2>/dev/null; do
    if [ $((SECONDS - t0)) -ge "$limit" ]; then return 1; fi
    sleep 0.5
  done
  ADMIN_RC=0
  wait "$ADMIN_BG" || ADMIN_RC=$?
}

# wait_log_step STEP: until the master's commands.log (lines after
# LOG_BASE) says STEP started; 1 if the admin's run ended first.
LOG_BASE=0
wait_log_step() {
  local step=$1 f
  f=$(commands_log_host)
  for _ in $(seq 3000); do
    if tail -n "+$((LOG_BASE + 1))" "$f" 2>/dev/null | grep -q "INFO step $step started"; then return 0; fi
    kill -0 "$ADMIN_BG" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
# wait_waiting STEP: until the admin's run waits before STEP.
wait_waiting() {
  for _ in $(seq 1200); do
    bx node1 test -e "/var/run/ganeti/ganeti-upgrade.waiting-$1" 2>/dev/null && return 0
    kill -0 "$ADMIN_BG" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
release() { bx node1 rm -f "/var/run/ganeti/ganeti-upgrade.waiting-$1"; }

# down NODE KIND: a power cut (power back after POWER_OFF_FOR s) or a clean
# reboot; returns once the node is gone.
down() {
  local n=$1 kind=$2 boots
  case $kind in
    cut)
      b cut "$n"
      ( sleep "$POWER_OFF_FOR"; b power-on "$n" ) >>"$LOGDIR/power.log" 2>&1 &
      POWER_BG=$!
      ;;
    reboot)
      boots=$(b boots "$n")
      # (systemctl also asks logind about inhibitors; there is none here.)
      bx "$n" systemctl reboot 2>>"$LOGDIR/power.log" || :
      # until its new boot began
      for _ in $(seq 600); do [ "$(b boots "$n")" -gt "$boots" ] && break; sleep 0.1; done
      ;;
  esac
}
POWER_BG=""

# what_was_cut: the master's state at the moment it went down, from its
# upper directory on the host (for the record: where "during" landed).
state_at_cut() {
  local u=$RUNDIR_HOST/node1/upper
  local cfg
  cfg=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$u/var/lib/ganeti/config.data" 2>/dev/null || echo "?")
  echo "links $(readlink "$u/etc/ganeti/lib" 2>/dev/null || echo "(lower)") config $cfg; last steps: $(grep -o 'INFO step [a-z-]* [a-z]*' "$(commands_log_host)" 2>/dev/null | tail -n 2 | sed 's/INFO step //' | paste -sd',' -)"
}

# ---------------------------------------------------------------- settled

# settled LABEL VERSION END_EPOCH UNIT_RAN: the whole end state; the
# daemons must be the same processes ALIVE_FOR s after END_EPOCH.
settled() {
  local label=$1 v=$2 end=$3 unit_ran=$4 bad0=$failed n p cfg rc before after d s
  local -A pids0=()
  for n in node1 node2 node3; do
    pids0[$n]=$(daemon_pids "$n" 2>&1) || :
  done
  # The state, while the 60 s run out.
  probe
  check "$label: node1: links on $v" "/usr/lib/ganeti/$v /usr/share/ganeti/$v" "$(field links)"
  check "$label: node1: config.data version" "$(config_of "$v")" "$(field config)"
  check "$label: node1: gnt-cluster runs $v code" "$v" "$(field software)"
  check "$label: node1: daemons run the $v binaries" "$v" "$(field exe)"
  check "$label: node1: drain flag unset" "The drain flag is unset" "$(field queue)"
  check "$label: node1: watcher not paused" running "$(field watcher)"
  check "$label: node1: no job filter left" "0" "$(field filters)"
  check "$label: node1: no intent file, journal, wait file or ganeti-upgrade process" "" "$(field left)"
  check "$label: node1: no marker" "absent" "$(bx node1 sh -c 'test -e /var/lib/ganeti-upgrade/pending && echo present || echo absent')"
  check "$label: node1: ganeti-switch check" "0 sound: $v is active" "$(field switch_check)"
  for n in node2 node3; do
    p=$(bx "$n" gnt-probe --node "${NODE_DAEMONS[@]}" 2>&1) || :
    cfg=$(config_of "$v")
    [ "$n" = node3 ] && cfg=none
    check "$label: $n: links on $v" "/usr/lib/ganeti/$v /usr/share/ganeti/$v" "$(nfield "$p" links)"
    check "$label: $n: config.data version ($cfg)" "$cfg" "$(nfield "$p" config)"
    check "$label: $n: ssconf release $v" "$v" "$(nfield "$p" release)"
    check "$label: $n: daemons run the $v binaries" "$v" "$(nfield "$p" exe)"
    check "$label: $n: watcher not paused" "not paused" \
      "$(case $(nfield "$p" watcher_pause) in none|expired) echo "not paused" ;; *) nfield "$p" watcher_pause ;; esac)"
    check "$label: $n: nothing of the upgrade left" "" "$(nfield "$p" left)"
    check "$label: $n: ganeti-switch check" "0 sound: $v is active" "$(nfield "$p" switch_check)"
  done
  rc=0
  bx node1 timeout 120 gnt-debug delay 0.1 >"$LOGDIR/$label.job.log" 2>&1 || rc=$?
  check_rc "$label: the queue takes and runs a job (gnt-debug delay)" 0 "$rc" "$LOGDIR/$label.job.log" || :
  if [ "$unit_ran" != no ]; then
    s=$(x systemctl is-failed ganeti-upgrade-resume.service 2>&1) || :
    check "$label: systemctl is-failed ganeti-upgrade-resume (the resume ended well)" inactive "$s"
    x systemctl status --no-pager --lines=0 ganeti-upgrade-resume.service >"$LOGDIR/$label.unit-status.txt" 2>&1 || :
  fi
  # The same daemon processes ALIVE_FOR s after the end.
  d=$(( end + ALIVE_FOR - $(date +%s) ))
  [ "$d" -le 0 ] || sleep "$d"
  # inst1 lost its (fake) hypervisor process if node1 lost power or
  # rebooted; the watcher, run by cron every minute once unpaused, starts
  # it: at its next minute after the end (up to 60 s), plus the watcher's
  # own run. Waited for up to INST_WAIT s, then verify.
  local inst="" waited
  for waited in $(seq 0 5 "$INST_WAIT"); do
    inst=$(bx node1 gnt-instance list --no-headers -o name,status inst1 2>&1 | tr -s ' ')
    [ "$inst" != "inst1 running" ] || break
    sleep 5
  done
  check "$label: inst1 running (the watcher started it; ${waited} s after the ${ALIVE_FOR} s)" "inst1 running" "$inst"
  rc=0
  if [ "${REAL_GANETI_31:-}" = sid ]; then
    # sid's units start luxid beside noded at boot, and luxid's activation
    # of the master IP (an RPC to noded) fails when noded does not answer
    # yet: after the master boots, the master IP is down (ENODENET), with
    # or without an upgrade. Ganeti's packaging, not this tool: noted.
    bx node1 gnt-cluster verify -I ENODESETUP -I ENODENET >"$LOGDIR/$label.verify.log" 2>&1 || rc=$?
    check_rc "$label: gnt-cluster verify -I ENODESETUP -I ENODENET, ${ALIVE_FOR} s after the end" 0 "$rc" "$LOGDIR/$label.verify.log" || :
    if ! bx node1 ip -o addr show "$BRIDGE_NAME" 2>/dev/null | grep -q " 192\.0\.2\.100/"; then
      echo "       note: the master IP is not up on node1 (sid's ganeti-luxid.service starts before ganeti-noded answers)"
    fi
  else
    bx node1 gnt-cluster verify -I ENODESETUP >"$LOGDIR/$label.verify.log" 2>&1 || rc=$?
    check_rc "$label: gnt-cluster verify -I ENODESETUP, ${ALIVE_FOR} s after the end" 0 "$rc" "$LOGDIR/$label.verify.log" || :
  fi
  for n in node1 node2 node3; do
    before=${pids0[$n]}
    after=$(daemon_pids "$n" 2>&1) || :
    printf '%s\n--- %s s later\n%s\n' "$before" "$ALIVE_FOR" "$after" >"$LOGDIR/$label.$n.daemons.txt"
    check "$label: $n: every daemon runs ${ALIVE_FOR} s after the end" "" \
      "$(printf '%s\n' "$after" | awk '$2 == "-" { print $1 }' | paste -sd' ' -)"
    check "$label: $n: the daemons are the processes that ran when it ended (none died since)" "" \
      "$(printf '%s\n' "$after" | awk -v end="$end" '$3 != "-" && $3 > end + 1 { print $1 " started " ($3 - end) " s after the end" }' | paste -sd';' -)"
  done
  [ "$failed" = "$bad0" ]
}

# journal_matches LABEL: the unit's journal tells what commands.log tells of
# the unit's run (its lines with the unit's main pid): the same steps
# started, the same messages, the same report, the same end. Left out: the
# command records (NODE: COMMAND -> rc=N (T ms); the journal has each
# node's ok or failure instead) and three lines meant for the log alone:
# the resume decision as data ("resume of upgrade ID: Forward {...}", which
# the journal says in words), the master's own switch record, and closing
# the ssh connections.
journal_matches() {
  local label=$1 pid jl cl a b line missing=""
  pid=$(x systemctl show -p ExecMainPID --value ganeti-upgrade-resume.service 2>/dev/null) || pid=""
  jl=$LOGDIR/$label.unit-journal.txt
  cl=$LOGDIR/$label.unit-commands.txt
  x journalctl -b -u ganeti-upgrade-resume.service -o cat --no-pager >"$jl" 2>&1 || :
  grep -F "ganeti-upgrade pid=$pid INFO " "$(commands_log_host)" | sed 's/^.* INFO //' >"$cl" 2>/dev/null || :
  if [ ! -s "$cl" ]; then fail "$label: commands.log has lines of the unit's run (pid $pid)"; return; fi
  a=$(grep -c '^step [a-z-]* started$' "$cl" || :)
  b=$(grep -cE '^\[[0-9]+/[0-9]+\] ' "$jl" || :)
  check "$label: the unit's journal shows each step commands.log has started ($a)" "$a" "$b"
  a=$(sed -n 's/^\(report: [0-9]* step(s) in\) [0-9.]* s,/\1 T s,/p' "$cl")
  b=$(sed -n 's/^\(report: [0-9]* step(s) in\) [0-9.]* s,/\1 T s,/p' "$jl")
  check "$label: the unit's journal has commands.log's report" "$a" "$b"
  while IFS= read -r line; do
    case $line in
      "step "*" started"|"step "*" failed: "*|report:*|"resume of upgrade "*|"closed the ssh connections"*) continue ;;
      "end (exit "*) line=${line#end (exit *): }; line=${line%% | *} ;;
    esac
    if [[ $line =~ \ -\>\ [^\(\)]*\ \([0-9]+\ ms\) ]] || [[ $line =~ ^[^\ ]+:\ ganeti-switch\ to\  ]]; then continue; fi
    grep -qF -- "$line" "$jl" || missing="$missing${missing:+ | }$line"
  done <"$cl"
  check "$label: every message and the end of the run in commands.log are in the unit's journal" "" "$missing"
  check "$label: commands.log has the run's end" 1 "$(grep -c '^end (exit ' "$cl")"
}

# ---------------------------------------------------------------- cases

fresh() {   # VERSION [VARIANT]
  local t rc=0
  t=$(now_us)
  { b setup && b start "$1" && install_probe; } >>"$LOGDIR/harness.log" 2>&1 || rc=$?
  printf 'TIME   %-50s %ss\n' "booted cluster on $1 (${REAL_GANETI_31:-bpo})" "$(elapsed "$t" "$(now_us)")"
  if [ "$rc" != 0 ]; then
    fail "booted cluster on $1" "exit $rc; see $LOGDIR/harness.log"
    tail -n 8 "$LOGDIR/harness.log" | sed 's/^/       | /'
    return 1
  fi
  RUNDIR_HOST="$(dirname "$("$HARNESS" root)")/$(basename "$("$HARNESS" root)").booted/run"
  LOG_BASE=$(wc -l < "$(commands_log_host)" 2>/dev/null || echo 0)
  revert_fix || return 1
}

# BOOTED_REVERT: take back one fix of the unit on the master before the case
# (for showing that the checks fail without it): killmode (systemd's
# default KillMode), wait (ganeti-upgrade's own --vote-wait and --node-wait,
# 120 s and 300 s, instead of BOOT_WAIT's 900), success (only exit 11
# counts as done, as before).
revert_fix() {
  local dropin=/etc/systemd/system/ganeti-upgrade-resume.service.d
  case ${BOOTED_REVERT:-} in
    "") return 0 ;;
    killmode) bx node1 sh -c "mkdir -p $dropin && printf '[Service]\nKillMode=control-group\n' > $dropin/revert.conf && systemctl daemon-reload" ;;
    wait) bx node1 sh -c "mkdir -p $dropin && printf '[Service]\\nExecStart=\\nExecStart=/usr/sbin/ganeti-upgrade --resume \$EXTRA_ARGS\\n' > $dropin/revert.conf && systemctl daemon-reload" ;;
    success) bx node1 sh -c "mkdir -p $dropin && printf '[Service]\nSuccessExitStatus=\nSuccessExitStatus=11\n' > $dropin/revert.conf && systemctl daemon-reload" ;;
    *) fail "BOOTED_REVERT=$BOOTED_REVERT: want killmode, wait or success"; return 1 ;;
  esac
  echo "       reverted on node1: $BOOTED_REVERT"
}

# reboot_case POINT NODE KIND [FROM TO]
reboot_case() {
  local point=$1 who=$2 kind=$3 from=${4:-3.0} to=${5:-3.1} n label envs=() t_down t_end
  local unit_ran=no settle v s expect ok0=$failed
  label="$point.$who.$kind${REAL_GANETI_31:+.$REAL_GANETI_31}"
  [ "$from" = 3.0 ] || label="$label.down"
  n=$(node_name "$who")
  echo "== $label: $from -> $to, $n $( [ "$kind" = cut ] && echo "loses power" || echo "reboots cleanly") at $point"
  fresh "$from" || { results+=("$label FAIL (no cluster)"); return 0; }
  case $point in
    switch-version) envs=(GANETI_UPGRADE_WAIT_AT=upgrade-config) ;;
    resume-work)    envs=(GANETI_UPGRADE_WAIT_AT=unpause-watcher) ;;
    *)              envs=(GANETI_UPGRADE_POLL_INTERVAL=1) ;;
  esac
  admin_run "$label.admin" "${envs[@]}" -- --to "$to" --verify-ignore ENODESETUP
  case $point in
    switch-version|resume-work)
      local hold=upgrade-config
      [ "$point" = resume-work ] && hold=unpause-watcher
      if ! wait_waiting "$hold"; then
        admin_wait 5 || :
        fail "$label: the upgrade reached $point" "exit ${ADMIN_RC:-?}; log $ADMIN_LOG"
        results+=("$label FAIL (never reached $point)"); return 0
      fi
      ;;
    *)
      if ! wait_log_step "$point"; then
        admin_wait 5 || :
        fail "$label: the upgrade reached $point" "exit ${ADMIN_RC:-?}; log $ADMIN_LOG"
        results+=("$label FAIL (never reached $point)"); return 0
      fi
      sleep "${DURING_DELAY[$point]}"
      ;;
  esac
  t_down=$(now_us)
  down "$n" "$kind"
  echo "       $n went down at $point: $(state_at_cut)"
  if [ "$n" = node1 ]; then
    # Nobody types anything: the master boots and its unit does the rest.
    unit_ran=yes
    if [ "$kind" = cut ]; then wait "$POWER_BG" || :; fi
    b wait-up node1 300 >>"$LOGDIR/harness.log" 2>&1 || fail "$label: node1 boots again"
    admin_wait 30 || :
    if ! s=$(wait_unit_ended); then
      fail "$label: the master's ganeti-upgrade-resume ended within ${SETTLE_LIMIT}s" "$(printf '%s' "$s" | paste -sd' ' -)"
      results+=("$label FAIL (unit did not end)"); return 0
    fi
    # Skipped: nothing was pending at boot (the admin's run, stopped by the
    # shutdown with SIGTERM, rolled back before the node went down).
    if [ "$(ufield "$s" ConditionResult)" = no ]; then unit_ran=skipped; fi
  else
    # The admin's run goes on; the node comes back by itself.
    if [ "$kind" = cut ]; then wait "$POWER_BG" || :; fi
    b wait-up "$n" 300 >>"$LOGDIR/harness.log" 2>&1 || fail "$label: $n boots again"
    case $point in switch-version) release upgrade-config ;; resume-work) release unpause-watcher ;; esac
    if ! admin_wait; then
      fail "$label: the admin's run ended within ${SETTLE_LIMIT}s"
      results+=("$label FAIL (run did not end)"); return 0
    fi
    echo "       the admin's run ended: exit $ADMIN_RC ($(grep -E '^(done|ganeti-upgrade)' "$ADMIN_LOG" | tail -n 1 | cut -c1-150))"
  fi
  t_end=$(now_us)
  settle=$(elapsed "$t_down" "$t_end")
  if [ "$unit_ran" = skipped ]; then
    echo "       the resume unit was skipped: nothing pending at boot; the admin's run ended: $(grep -E '^(Everything done|done|ganeti-upgrade)' "$ADMIN_LOG" | tail -n 1 | cut -c1-150)"
  elif [ "$unit_ran" = yes ]; then
    echo "       the resume unit ended: $(printf '%s\n' "$s" | grep -E '^(ActiveState|Result|ExecMainStatus)=' | paste -sd' ' -)"
    x journalctl -b -u ganeti-upgrade-resume.service -o short-monotonic --no-pager >"$LOGDIR/$label.unit-journal-full.txt" 2>&1 || :
  fi
  # The version the cluster settled on: where the master's links are.
  v=$(bx node1 readlink /etc/ganeti/lib 2>/dev/null | sed 's|.*/||') || v="?"
  expect=$to
  case $point.$n.$kind in
    stop-daemons.node1.reboot|switch-version.node1.reboot|stop-daemons.node?.*|switch-version.node?.*)
      # Before the point of no return: a clean reboot of the master sends
      # the admin's run SIGTERM (it rolls back, or the resume finishes the
      # rollback); another node going away fails the run's step (rolled
      # back). Either end is settled; the version is the one it says.
      [ "$v" = "$from" ] && expect=$from
      check "$label: the cluster settled on $to or, rolled back, on $from" "$expect" "$v" ;;
    upgrade-config.node1.reboot)
      # The shutdown's SIGTERM reaches cfgupgrade too. Killed before it
      # wrote, it leaves the configuration at the source: not past the
      # point of no return after all, and the admin's run rolls back
      # (saying so). Written first, the run goes on (or the resume does).
      if [ "$v" = "$from" ] && grep -q 'left the configuration unchanged' "$ADMIN_LOG" 2>/dev/null; then
        expect=$from
      fi
      check "$label: the cluster settled on $to or, cfgupgrade killed before it wrote, rolled back to $from" "$expect" "$v" ;;
    *)
      # A power cut of the master before the point of no return leaves the
      # upgrade pending, and the resume redoes it; at it or after it the
      # upgrade can only go forward.
      check "$label: the cluster settled on $to" "$to" "$v" ;;
  esac
  if settled "$label" "$expect" "$(date +%s)" "$unit_ran"; then :; fi
  [ "$unit_ran" = yes ] && journal_matches "$label"
  record_result "$label" "$ok0" "$v" "$settle"
  b stop >>"$LOGDIR/harness.log" 2>&1 || :
}

case_sid() {
  local saved=${REAL_GANETI_31:-}
  export REAL_GANETI_31=sid
  echo "== sid: sid's Ganeti 3.1 (native systemd units; daemon-util through systemctl)"
  reboot_case start-daemons master cut 3.0 3.1
  reboot_case start-daemons master cut 3.1 3.0
  if [ -n "$saved" ]; then export REAL_GANETI_31=$saved; else unset REAL_GANETI_31; fi
}

# The whole cluster loses power during start-daemons; the master comes
# back first, the others LATE_NODES s later.
case_late_nodes() {
  local label=late-nodes${REAL_GANETI_31:+.$REAL_GANETI_31} t_down s ok0=$failed v i
  echo "== $label: every node loses power during start-daemons; node2 and node3 come back ${LATE_NODES} s after node1"
  fresh 3.0 || { results+=("$label FAIL (no cluster)"); return 0; }
  admin_run "$label.admin" -- --to 3.1 --verify-ignore ENODESETUP
  if ! wait_log_step start-daemons; then
    admin_wait 5 || :
    fail "$label: the upgrade reached start-daemons" "exit ${ADMIN_RC:-?}; log $ADMIN_LOG"
    results+=("$label FAIL (never reached start-daemons)"); return 0
  fi
  sleep "${DURING_DELAY[start-daemons]}"
  t_down=$(now_us)
  for i in 3 2 1; do b cut "node$i"; done
  echo "       all nodes went down: $(state_at_cut)"
  admin_wait 30 || :
  sleep "$POWER_OFF_FOR"
  b power-on node1 >>"$LOGDIR/harness.log" 2>&1
  ( sleep "$LATE_NODES"; b power-on node2; b power-on node3 ) >>"$LOGDIR/power.log" 2>&1 &
  POWER_BG=$!
  b wait-up node1 300 >>"$LOGDIR/harness.log" 2>&1 || fail "$label: node1 boots again"
  if ! s=$(wait_unit_ended); then
    fail "$label: the master's ganeti-upgrade-resume ended within ${SETTLE_LIMIT}s" "$(printf '%s' "$s" | paste -sd' ' -)"
    results+=("$label FAIL (unit did not end)"); wait "$POWER_BG" || :; return 0
  fi
  wait "$POWER_BG" || :
  for i in 2 3; do b wait-up "node$i" 300 >>"$LOGDIR/harness.log" 2>&1 || fail "$label: node$i boots again"; done
  echo "       the resume unit ended: $(printf '%s\n' "$s" | grep -E '^(ActiveState|Result|ExecMainStatus)=' | paste -sd' ' -)"
  x journalctl -b -u ganeti-upgrade-resume.service -o short-monotonic --no-pager >"$LOGDIR/$label.unit-journal-full.txt" 2>&1 || :
  check_grep "$label: the unit says which nodes it waits for" 'waiting for node2\.gnt\.test, node3\.gnt\.test to answer the master vote' "$LOGDIR/$label.unit-journal-full.txt"
  v=$(bx node1 readlink /etc/ganeti/lib 2>/dev/null | sed 's|.*/||') || v="?"
  check "$label: the cluster settled on 3.1" 3.1 "$v"
  local settle
  settle=$(elapsed "$t_down" "$(now_us)")
  settled "$label" 3.1 "$(date +%s)" yes || :
  journal_matches "$label"
  record_result "$label" "$ok0" "$v" "$settle"
  b stop >>"$LOGDIR/harness.log" 2>&1 || :
}

# An upgrade of Ganeti's own (gnt-cluster upgrade --to=3.1, killed once its
# intent file is written) is pending when the master loses power: at boot
# the unit says so and counts it as done (exit 12); Ganeti's @reboot line
# from /etc/cron.d/ganeti finishes that upgrade.
case_foreign() {
  local label=foreign${REAL_GANETI_31:+.$REAL_GANETI_31} t_down s ok0=$failed v pid
  echo "== $label: Ganeti's own gnt-cluster upgrade pending when the master loses power"
  fresh 3.0 || { results+=("$label FAIL (no cluster)"); return 0; }
  bx node1 gnt-cluster upgrade --to=3.1 >"$LOGDIR/$label.gnt-upgrade.log" 2>&1 </dev/null &
  ADMIN_BG=$!
  for _ in $(seq 600); do
    [ -e "$RUNDIR_HOST/node1/upper/var/lib/ganeti/intent-to-upgrade" ] && break
    sleep 0.05
  done
  pid=$(bx node1 pgrep -f 'gnt-cluster upgrade --to=3.1' | head -n 1) || pid=""
  [ -n "$pid" ] && bx node1 kill -KILL "$pid"
  admin_wait 30 || :
  check "$label: Ganeti's intent file is there, and no journal of ours" "3.0.2,3.1 none" \
    "$(cut -d, -f1,2 "$RUNDIR_HOST/node1/upper/var/lib/ganeti/intent-to-upgrade" 2>&1) $(test -e "$RUNDIR_HOST/node1/upper/var/lib/ganeti/ganeti-upgrade.journal" && echo journal || echo none)"
  t_down=$(now_us)
  down node1 cut
  wait "$POWER_BG" || :
  b wait-up node1 300 >>"$LOGDIR/harness.log" 2>&1 || fail "$label: node1 boots again"
  if ! s=$(wait_unit_ended); then
    fail "$label: the master's ganeti-upgrade-resume ended" "$(printf '%s' "$s" | paste -sd' ' -)"
    results+=("$label FAIL (unit did not end)"); return 0
  fi
  echo "       the resume unit ended: $(printf '%s\n' "$s" | grep -E '^(ActiveState|Result|ExecMainStatus)=' | paste -sd' ' -)"
  check "$label: the unit's exit status is 12 (Ganeti's own upgrade pending)" 12 "$(ufield "$s" ExecMainStatus)"
  check "$label: systemctl is-failed ganeti-upgrade-resume" inactive "$(x systemctl is-failed ganeti-upgrade-resume.service 2>&1)"
  x journalctl -b -u ganeti-upgrade-resume.service -o cat --no-pager >"$LOGDIR/$label.unit-journal.txt" 2>&1 || :
  check_grep "$label: the unit's journal says Ganeti's own upgrade is pending" 'started by gnt-cluster upgrade is pending' "$LOGDIR/$label.unit-journal.txt"
  check_grep "$label: commands.log says so too" 'INFO end \(exit 12\): .*started by gnt-cluster upgrade is pending' "$(commands_log_host)"
  # Ganeti's own @reboot resume (cron) finishes its upgrade.
  for _ in $(seq 300); do
    [ -e "$RUNDIR_HOST/node1/upper/var/lib/ganeti/intent-to-upgrade" ] || break
    sleep 1
  done
  for _ in $(seq 120); do bx node1 pgrep -f 'gnt-cluster upgrade' >/dev/null 2>&1 || break; sleep 1; done
  bx node1 journalctl -b -u cron -o cat --no-pager >"$LOGDIR/$label.cron-journal.txt" 2>&1 || :
  check_grep "$label: cron ran Ganeti's @reboot resume" 'gnt-cluster upgrade --resume' "$LOGDIR/$label.cron-journal.txt"
  v=$(bx node1 readlink /etc/ganeti/lib 2>/dev/null | sed 's|.*/||') || v="?"
  check "$label: Ganeti's own resume finished its upgrade (on 3.1)" 3.1 "$v"
  local settle
  settle=$(elapsed "$t_down" "$(now_us)")
  settled "$label" 3.1 "$(date +%s)" no || :
  record_result "$label" "$ok0" "$v" "$settle"
  b stop >>"$LOGDIR/harness.log" 2>&1 || :
}

# The watcher from cron (every minute) on every node through a whole
# upgrade held WATCHER_HOLD s before each step: at each hold, no node may
# be mixed (a daemon on another version than the node's links), and from
# stop-daemons to start-daemons no daemon runs anywhere.
case_watcher() {
  local label=watcher${REAL_GANETI_31:+.$REAL_GANETI_31} ok0=$failed t0 step steps n p links exe noproc holds=0 v
  local -a all=(verify-installed check-target-runs rehearse-config write-intent stop-new-work wait-for-jobs pause-watcher stop-master-daemons
                reverify-installed stop-daemons backup switch-version upgrade-config ensure-dirs start-daemons
                redist-conf restart-daemons resume-work unpause-watcher post-upgrade verify-cluster finish)
  echo "== $label: cron's watcher on every node, the upgrade held ${WATCHER_HOLD} s before each step"
  fresh 3.0 || { results+=("$label FAIL (no cluster)"); return 0; }
  t0=$(now_us)
  steps=$(IFS=,; echo "${all[*]}")
  admin_run "$label.admin" "GANETI_UPGRADE_WAIT_AT=$steps" -- --to 3.1 --verify-ignore ENODESETUP
  local stopped=no
  while :; do
    step=""
    for _ in $(seq 1200); do
      step=$(bx node1 sh -c 'ls /var/run/ganeti/ganeti-upgrade.waiting-* 2>/dev/null' | sed -n 's|.*waiting-||p' | head -n 1) || step=""
      [ -n "$step" ] && break
      kill -0 "$ADMIN_BG" 2>/dev/null || break
      sleep 0.2
    done
    [ -n "$step" ] || break
    holds=$((holds + 1))
    sleep "$WATCHER_HOLD"
    [ "$step" = start-daemons ] && stopped=no
    for n in node1 node2 node3; do
      p=$(bx "$n" gnt-probe --node "${MASTER_DAEMONS[@]}" 2>&1) || :
      links=$(nfield "$p" links | sed 's|^/usr/lib/ganeti/\([^ ]*\) .*|\1|')
      exe=$(nfield "$p" exe)
      if [ -n "$exe" ] && [ "$exe" != "$links" ]; then
        fail "$label: before $step, $n is mixed" "links $links, daemons of $exe"
      fi
      if [ "$stopped" = yes ]; then
        noproc=$(nfield "$p" noproc)
        local running
        running=$(for d in $(daemons_of "$n"); do [[ " $noproc " == *" $d "* ]] || echo "$d"; done | paste -sd' ' -)
        [ -z "$running" ] || fail "$label: before $step, $n runs daemons the upgrade stopped" "$running"
      fi
    done
    [ "$step" = backup ] && stopped=yes
    release "$step"
  done
  admin_wait 60 || :
  check_rc "$label: the upgrade held at every step" 0 "${ADMIN_RC:-?}" "$ADMIN_LOG" || :
  check "$label: it was held before each of its ${#all[@]} steps" "${#all[@]}" "$holds"
  for n in node1 node2 node3; do
    check "$label: cron ran the watcher on $n during the upgrade" yes \
      "$(bx "$n" journalctl -u cron -o cat --no-pager 2>/dev/null | grep -c 'CMD (\[ -x /usr/sbin/ganeti-watcher \] && /usr/sbin/ganeti-watcher)' | awk -v h="$holds" '{ print ($1 >= h ? "yes" : "no: " $1 " runs") }')"
  done
  v=$(bx node1 readlink /etc/ganeti/lib 2>/dev/null | sed 's|.*/||') || v="?"
  check "$label: the cluster settled on 3.1" 3.1 "$v"
  settled "$label" 3.1 "$(date +%s)" no || :
  record_result "$label" "$ok0" "$v" "$(elapsed "$t0" "$(now_us)")"
  b stop >>"$LOGDIR/harness.log" 2>&1 || :
}

# `systemctl stop ganeti-upgrade-resume` while the boot-time resume works:
# before the point of no return (held before backup, then released), the
# resume rolls back and the cluster runs 3.0; after it (held before
# restart-daemons), it ignores the signal and finishes. Either way the
# daemons it started keep running (KillMode=process: only ganeti-upgrade is
# signalled), and nothing is left half done.
case_unit_stop() {
  local where=$1 hold label ok0=$failed v s t0 dropin=/etc/systemd/system/ganeti-upgrade-resume.service.d
  case $where in
    before) hold=backup; v=3.0 ;;
    after) hold=restart-daemons; v=3.1 ;;
  esac
  label=unit-stop.$where${REAL_GANETI_31:+.$REAL_GANETI_31}
  echo "== $label: systemctl stop ganeti-upgrade-resume while the boot-time resume waits before $hold"
  fresh 3.0 || { results+=("$label FAIL (no cluster)"); return 0; }
  # Pending: the master loses power before the point of no return (before
  # backup) or after it (before start-daemons).
  if [ "$where" = before ]; then
    admin_run "$label.admin" GANETI_UPGRADE_WAIT_AT=backup -- --to 3.1 --verify-ignore ENODESETUP
    wait_waiting backup || { fail "$label: the upgrade reached backup"; results+=("$label FAIL"); return 0; }
  else
    admin_run "$label.admin" GANETI_UPGRADE_WAIT_AT=start-daemons -- --to 3.1 --verify-ignore ENODESETUP
    wait_waiting start-daemons || { fail "$label: the upgrade reached start-daemons"; results+=("$label FAIL"); return 0; }
  fi
  b cut node1
  admin_wait 30 || :
  # The boot-time resume is held before $hold (a test hook, in a drop-in
  # written on the node's disk while it is off).
  mkdir -p "$RUNDIR_HOST/node1/upper$dropin"
  printf '[Service]\nEnvironment=GANETI_UPGRADE_WAIT_AT=%s\n' "$hold" >"$RUNDIR_HOST/node1/upper$dropin/hold.conf"
  b power-on node1 >>"$LOGDIR/harness.log" 2>&1
  b wait-up node1 300 >>"$LOGDIR/harness.log" 2>&1 || fail "$label: node1 boots again"
  for _ in $(seq 600); do bx node1 test -e "/var/run/ganeti/ganeti-upgrade.waiting-$hold" 2>/dev/null && break; sleep 0.2; done
  check "$label: the resume waits before $hold" active "$(x systemctl is-active ganeti-upgrade-resume.service 2>&1)"
  t0=$(now_us)
  x systemctl stop --no-block ganeti-upgrade-resume.service
  sleep 2
  check "$label: after systemctl stop, the unit is stopping, ganeti-upgrade still runs" "deactivating yes" \
    "$(x systemctl is-active ganeti-upgrade-resume.service 2>&1) $(bx node1 pgrep -x ganeti-upgrade >/dev/null && echo yes || echo no)"
  release "$hold"
  for _ in $(seq 600); do
    case $(x systemctl is-active ganeti-upgrade-resume.service 2>&1) in active|deactivating|activating) sleep 0.5 ;; *) break ;; esac
  done
  s=$(unit_show)
  echo "       the unit stopped after $(elapsed "$t0" "$(now_us)") s: $(printf '%s\n' "$s" | grep -E '^(ActiveState|Result|ExecMainStatus)=' | paste -sd' ' -)"
  rm -f "$RUNDIR_HOST/node1/upper$dropin/hold.conf"
  x systemctl daemon-reload
  x journalctl -b -u ganeti-upgrade-resume.service -o cat --no-pager >"$LOGDIR/$label.unit-journal.txt" 2>&1 || :
  if [ "$where" = before ]; then
    check_grep "$label: the resume rolled back on SIGTERM" 'rolled back; the cluster runs 3\.0 again' "$LOGDIR/$label.unit-journal.txt"
  else
    check_grep "$label: the resume ignored SIGTERM past the point of no return" 'ignoring the signal' "$LOGDIR/$label.unit-journal.txt"
    check_grep "$label: and finished" 'upgraded, but (gnt-cluster verify reported errors|with problems that were not there before it)|done: the cluster runs 3\.1' "$LOGDIR/$label.unit-journal.txt"
  fi
  check "$label: the cluster runs $v" "$v" "$(bx node1 readlink /etc/ganeti/lib 2>/dev/null | sed 's|.*/||')"
  local settle
  settle=$(elapsed "$t0" "$(now_us)")
  settled "$label" "$v" "$(date +%s)" no || :
  record_result "$label" "$ok0" "$v" "$settle"
  b stop >>"$LOGDIR/harness.log" 2>&1 || :
}

# record_result LABEL FAILED_BEFORE VERSION SECONDS
record_result() {
  if [ "$failed" = "$2" ]; then
    results+=("$(printf '%-34s ok    settled on %s in %6ss' "$1" "$3" "$4")")
  else
    results+=("$(printf '%-34s FAIL  (%s on %s after %ss)' "$1" "$((failed - $2)) checks" "$3" "$4")")
  fi
  # Said at once too, so that a run cut short keeps each case's figure.
  echo "RESULT ${results[-1]}"
}

run_case() {
  local c=$1 point who kind t
  t=$(now_us)
  case $c in
    sid) case_sid ;;
    late-nodes) case_late_nodes ;;
    foreign) case_foreign ;;
    watcher) case_watcher ;;
    unit-stop.before) case_unit_stop before ;;
    unit-stop.after) case_unit_stop after ;;
    *.*.*)
      point=${c%%.*}; kind=${c##*.}; who=${c#*.}; who=${who%.*}
      [[ " ${POINTS[*]} " == *" $point "* ]] || { echo "unknown point $point" >&2; exit 2; }
      case $who in master|node2|node3) ;; *) echo "unknown node $who" >&2; exit 2 ;; esac
      case $kind in cut|reboot) ;; *) echo "unknown kind $kind" >&2; exit 2 ;; esac
      reboot_case "$point" "$who" "$kind"
      ;;
    *) echo "unknown case: $c" >&2; exit 2 ;;
  esac
  printf 'TIME   %-50s %ss\n' "case $c" "$(elapsed "$t" "$(now_us)")"
}

long_cases() {
  local p w k
  for p in "${POINTS[@]}"; do for w in master node2; do for k in cut reboot; do
    echo "$p.$w.$k"
  done; done; done
  echo start-daemons.node3.cut
  echo switch-version.node3.reboot
  echo late-nodes
  echo foreign
  echo unit-stop.before
  echo unit-stop.after
  echo sid
  echo watcher
}

# ---------------------------------------------------------------- main

# All of main in one function: bash has read it before it runs, so editing
# this file during a run cannot break the run.
main() {
  args=("$@")
  [ ${#args[@]} -gt 0 ] || args=(ci)
  cases=()
  for a in "${args[@]}"; do
    case $a in
      ci) cases+=("${CI_CASES[@]}") ;;
      long) mapfile -t -O "${#cases[@]}" cases < <(long_cases) ;;
      *) cases+=("$a") ;;
    esac
  done

  LOGDIR=$LOGROOT
  rm -rf "$LOGDIR"
  mkdir -p "$LOGDIR"
  trap 'b stop >/dev/null 2>&1 || :; REAL_GANETI_31=sid b stop >/dev/null 2>&1 || :' EXIT
  trap 'exit 143' TERM INT
  for c in "${cases[@]}"; do run_case "$c"; done
  b stop >>"$LOGDIR/harness.log" 2>&1 || fail "booted.sh stop"
  trap - EXIT
  echo
  echo "case                               result"
  printf '%s\n' "${results[@]}"
  printf 'TIME   %-50s %ss\n' "booted scenarios total" "$(elapsed "$T_START" "$(now_us)")"
  echo "logs: $LOGDIR"
  if [ "$failed" -gt 0 ]; then
    echo "failed checks:"
    printf '  %s\n' "${failures[@]}"
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}
main "$@"
exit $?
