#!/bin/bash
# scenarios.sh -- our tools against REAL Ganeti (Debian 3.0.2 and the harness's
# 3.1) on the single-node cluster of harness.sh.
#
#   scenarios.sh [1|...|9]...     run all scenarios, or only the ones named
#
# 1  ganeti-layout verify/list and ganeti-switch list/current/check/installed
#    on Debian's real link graph.
# 2  ganeti-upgrade --to 3.1 (our filter in place while it runs), then --to 3.0
#    without --verify-ignore: real cfgupgrade and cfgupgrade --downgrade,
#    exit 3 because this kernel's verify reports ENODESETUP.
# 3  SIGKILL at/in named steps (GANETI_UPGRADE_CRASH_AT/_IN), then --resume;
#    SIGTERM before the point of no return (everything rolled back) and after
#    it (goes on to the end).
# 4  a drain and a watcher pause set before an upgrade are still set after it.
# 5  Ganeti's own gnt-cluster upgrade keeps off a pending upgrade of ours:
#    while ours waits before stop-daemons, the @reboot line of Ganeti's cron
#    file (run as cron runs it) and a colleague's --to exit 1 without acting
#    (our intent file tags its target), then ours finishes.
# 6  the way back stays open: 3.0's dpkg file lists moved aside (a version
#    whose completeness cannot be checked, as a source or RPM install), the
#    upgrade killed right after switch-version, then --abort settles on 3.0.
# 7  the journal's file system turns read-only at upgrade-config (cfgupgrade
#    cannot write its backup and fails, config.data unchanged): the rollback
#    cannot be recorded, so nothing is undone and the run says so; once it is
#    writable again, --abort settles on 3.0 (and, a second time, --resume on
#    3.1). Then the same with the state directory on a small tmpfs that is
#    filled up at upgrade-config: cfgupgrade cannot write, and the journal
#    takes the rollback's records only while its last page has room (which
#    record fails first depends on the journal's size: every outcome must
#    hold); once there is room again, --abort and --resume settle.
# 8  the rehearsal: a configuration the target's cfgupgrade rejects (the
#    pre-2.4 RAPI users file beside rapi/users) is refused by --dry-run and
#    by the run before anything changes (config.data byte-identical, the
#    same daemon processes, no intent, journal, filter or scratch copy);
#    once the stale file is gone the upgrade goes through, and the downgrade
#    back runs 3.1's cfgupgrade --downgrade, then 3.0's load, on the copy.
# 10 the health baseline: without --verify-ignore, this kernel's ENODESETUP
#    is listed by the dry run and the run as there before the upgrade and
#    not counted; inst1's (fake hypervisor) process is removed while the
#    upgrade waits before resume-work: the run exits 3 naming inst1, its
#    state before and now, and not ENODESETUP as a new error. Then the way
#    back, with the old version's confd started by hand (start-stop-daemon,
#    as daemon-util does) and an admin's old gnt-cluster running before
#    check-stale-code: confd is named and restarted on the target, the
#    admin's process named and left running.
# 9  the target would not run here: python3-bitarray removed (3.0 -> 3.1) and
#    libpcre.so.3 gone (3.1 -> 3.0, as Debian 13 has it) are refused by
#    --dry-run and by the run, naming the node, the file and what it misses,
#    with nothing changed; then --max-hold 4s with a 30 s job in the queue
#    rolls back by itself during the job wait; then a node certificate
#    (client.pem) signed with SHA-1 (OpenSSL 3 here rejects it) is refused
#    by --dry-run and the run, naming gnt-cluster renew-crypto, with
#    nothing changed.
#
# Each upgrade is followed by a check of the whole end state inside the node
# (links, config.data version, code version, daemons and the binaries they
# run, drain flag, watcher, filters, intent file, journal, leftovers, inst1,
# backups and their mode, ganeti-switch check). Scenarios chain: one that
# ends on 3.0 hands the cluster to the next; a fresh node (start + init) is
# made only when the next one needs another version or the last one left the
# cluster unsettled.
#
# Prints ok/FAIL lines, TIME lines, and a final "N passed, M failed"; exit 1
# on any failure; SKIPPED (exit 0) when not root. Logs of every tool run go to
# $REAL_GANETI_ROOT.harness/run/scenarios/. The binaries are taken from
# $GANETI_BIN_DIR (default: target/debug of this checkout); they are not built.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=checks.sh source-path=SCRIPTDIR disable=SC1091
. "$(dirname -- "${BASH_SOURCE[0]}")/checks.sh"

LOGDIR=$ROOT.harness/run/scenarios
OPTS=(--verify-ignore ENODESETUP --switch-command "$SWITCH")
WAITDIR=/var/run/ganeti
# A run that hangs is killed after this long (longer than LUXI's 3 min
# receive timeout, so a tool that waits on a hung daemon still reports it).
RUN_LIMIT=${SCENARIO_RUN_LIMIT:-300}
ALL_SCENARIOS=(1 2 3 4 5 6 7 8 9 10)

if [ "$(id -u)" != 0 ]; then
  echo "real-ganeti scenarios: SKIPPED: needs root (debootstrap chroot, unshare/nsenter namespaces)"
  exit 0
fi

passed=0
failed=0
failures=()
SETTLED=none     # the version the cluster is settled on, or none/broken
BACKUPS=0        # backups in /var/backups at the last settled state

T_START=$(now_us)

# fresh_node VERSION: a new node, cluster initialised on VERSION, tools in place
fresh_node() {
  local t rc=0
  t=$(now_us)
  { h start && h init "$1" && install_tools; } >>"$LOGDIR/harness.log" 2>&1 || rc=$?
  printf 'TIME   %-44s %ss\n' "fresh node on $1 (start + init)" "$(elapsed "$t" "$(now_us)")"
  if [ "$rc" != 0 ]; then
    fail "fresh node on $1" "harness exit $rc; see $LOGDIR/harness.log"
    tail -n 5 "$LOGDIR/harness.log" | sed 's/^/       | /'
    SETTLED=broken
    return 1
  fi
  SETTLED=$1
  BACKUPS=0
  # state_is counts backups: keep them all (ganeti-upgrade keeps 5 by
  # default).
  x sh -c 'printf "KEEP_BACKUPS=0\n" >/etc/default/ganeti-upgrade'
}

# need VERSION: the cluster settled on VERSION, from the last scenario or fresh
need() {
  [ "$SETTLED" = "$1" ] || fresh_node "$1"
}

# state_is LABEL VERSION NEW_BACKUPS [DRAIN WATCHER]: the whole end state.
# NEW_BACKUPS: "none" (no new backup) or "some" (at least one).
state_is() {
  local label=$1 v=$2 newb=$3 drain=${4:-unset} watcher=${5:-running} bad0=$failed n
  probe
  check "$label: links on $v" "/usr/lib/ganeti/$v /usr/share/ganeti/$v" "$(field links)"
  check "$label: config.data version" "$(config_of "$v")" "$(field config)"
  check "$label: gnt-cluster runs $v code" "$v" "$(field software)"
  check "$label: gnt-cluster getmaster" "node1.gnt.test" "$(field master)"
  check "$label: daemon-util check: no daemon down" "" "$(field down)"
  check "$label: every daemon has a process" "" "$(field noproc)"
  check "$label: daemons run the $v binaries" "$v" "$(field exe)"
  check "$label: drain flag $drain" "The drain flag is $drain" "$(field queue)"
  check "$label: watcher $watcher" "$watcher" "$(field watcher)"
  check "$label: no job filter left" "0" "$(field filters)"
  check "$label: no intent file, journal, wait file or process left" "" "$(field left)"
  check "$label: inst1 running" "inst1 running" "$(field inst1)"
  n=$(field backups)
  n=${n:-0}
  if [ "$newb" = none ]; then
    check "$label: no new backup" "$BACKUPS" "$n"
  elif [ "$n" -gt "$BACKUPS" ]; then
    ok "$label: new backup ($BACKUPS -> $n)"
  else
    fail "$label: new backup" "still $n backups"
  fi
  if [ "$n" -gt 0 ]; then check "$label: backups have mode 0600" "600" "$(field backup_modes)"; fi
  check "$label: ganeti-switch check" "0 sound: $v is active" "$(field switch_check)"
  BACKUPS=$n
  if [ "$failed" = "$bad0" ]; then SETTLED=$v; else SETTLED=broken; fi
}

# ------------------------------------------------------------ running the tool

# ------------------------------------------------------------ scenarios

scenario_1() {
  echo "== 1: ganeti-layout and ganeti-switch on Debian's real layout"
  need 3.0 || return 0
  local out rc
  for cmd in "ganeti-layout verify --root /" "ganeti-layout list --root /" \
             "ganeti-switch list" "ganeti-switch current" "ganeti-switch check" \
             "ganeti-switch installed 3.0" "ganeti-switch installed 3.1"; do
    rc=0
    # shellcheck disable=SC2086 # the command is words on purpose
    out=$(x $cmd 2>&1) || rc=$?
    printf '%s\n' "\$ $cmd (exit $rc)" "$out" >> "$LOGDIR/layout.log"
    if [ "$rc" = 0 ]; then
      ok "$cmd (exit 0)"
    else
      fail "$cmd" "exit $rc: $(printf '%s' "$out" | paste -sd'|' -)"
    fi
  done
  out=$(x ganeti-switch current 2>&1) || :
  check "ganeti-switch current says 3.0" "3.0" "$out"
  out=$(x ganeti-switch list 2>&1) || :
  check "ganeti-switch list marks 3.0 active, as ganeti-layout list does" "* 3.0 - dpkg complete" "$(printf '%s\n' "$out" | grep '^\*' | tr -s ' ' | sed 's/ $//')"
  out=$(x ganeti-layout list --root / 2>&1) || :
  check "ganeti-layout list: 3.0 active and complete" "* 3.0 - dpkg complete" \
    "$(printf '%s\n' "$out" | grep '^\*' | tr -s ' ' | sed 's/ $//')"
}

scenario_2() {
  echo "== 2: plain upgrade 3.0 -> 3.1 and downgrade 3.1 -> 3.0"
  need 3.0 || return 0
  local id n mark luxi
  # Up, held once right after the queue was stopped: our filter, no drain.
  mark=$(log_lines)
  if tool_waiting up-3.1 wait-for-jobs --to 3.1 "${OPTS[@]}"; then
    id=$(x sed -n '1s/.*"id":"\([^"]*\)".*/\1/p' /var/lib/ganeti/ganeti-upgrade.journal 2>/dev/null) || id=""
    n=$(x gnt-filter list --no-headers -o action,reason_trail 2>&1 | grep -c "^PAUSE .*ganeti-upgrade:${id:-?}") || :
    check "while running: our PAUSE filter (reason ganeti-upgrade:${id:-?}) holds the queue" 1 "$n"
    check "while running: queue not drained (the filter does it)" "The drain flag is unset" \
      "$(x gnt-cluster queue info 2>&1)"
    tool_continue wait-for-jobs
    check_rc "upgrade --to 3.1" 0 "$RC" "$LOGDIR/up-3.1.log" || :
    check_grep "upgrade --to 3.1 says done" '^done: the cluster runs 3.1$' "$LOGDIR/up-3.1.log"
    state_is "after --to 3.1" 3.1 some
    # Queue and watcher went over LUXI to the real luxid, both sides of the
    # switch (3.0's luxid before it, 3.1's after), never through a fallback.
    log_since "$mark" > "$LOGDIR/up-3.1.commands.log"
    luxi=$({ grep -oE 'LUXI (ReplaceFilter|QueryJobs|SetWatcherPause|QueryFilters|DeleteFilter)[^ ]* .*-> ok' \
      "$LOGDIR/up-3.1.commands.log" || :; } | awk '{ print $2 }' | sed 's/(.*//' | sort -u | paste -sd' ' -)
    check "upgrade --to 3.1 used LUXI for filter, jobs and watcher" \
      "DeleteFilter QueryFilters QueryJobs ReplaceFilter SetWatcherPause" "$luxi"
    check "upgrade --to 3.1 ran no gnt-filter/gnt-job and fell back nowhere" 0 \
      "$(grep -cE 'sbin/gnt-(filter|job) .* -> rc=|command-line tool' "$LOGDIR/up-3.1.commands.log")"
  else
    SETTLED=broken
  fi
  need 3.1 || return 0
  # Down with LUXI turned off: the command-line way still works on the real thing.
  mark=$(log_lines)
  tool down-3.0-noignore GANETI_UPGRADE_NO_LUXI=1 -- --to 3.0 --switch-command "$SWITCH"
  check_rc "downgrade --to 3.0 without --verify-ignore: verify's ENODESETUP was there before, so not counted" 0 "$RC" \
    "$LOGDIR/down-3.0-noignore.log" || :
  check_grep "the end lists ENODESETUP as there before the upgrade" \
    'reports [0-9]+ errors? that (was|were) there before the upgrade \(not counted against it\): .*ENODESETUP node node1\.gnt\.test' \
    "$LOGDIR/down-3.0-noignore.log"
  state_is "after --to 3.0 (ENODESETUP there before)" 3.0 some
  log_since "$mark" > "$LOGDIR/down-3.0-noignore.commands.log"
  check "GANETI_UPGRADE_NO_LUXI=1: no LUXI call" 0 "$(grep -c 'LUXI' "$LOGDIR/down-3.0-noignore.commands.log")"
  # Each change to the filters is looked up again (Ganeti may answer it
  # and not keep it).
  check "GANETI_UPGRADE_NO_LUXI=1: the same calls by gnt-filter, gnt-job and gnt-cluster" \
    "gnt-filter list,gnt-filter add,gnt-filter list,gnt-job list,watcher pause,gnt-filter list,gnt-filter delete,gnt-filter list,watcher continue" \
    "$({ grep -E ' -> rc=' "$LOGDIR/down-3.0-noignore.commands.log" |
      grep -oE 'gnt-filter (add|list|delete)|gnt-job list|watcher (pause|continue)' || :; } | uniq | paste -sd, -)"
}

# crash_case KIND STEP FROM: SIGKILL at (after done) or in (after start) STEP
# of FROM -> other, then --resume; the cluster must end settled on the target.
crash_case() {
  local kind=$1 step=$2 from=$3 to name out
  to=$(other "$from")
  name=crash-${kind,,}-$step-to-$to
  echo "-- SIGKILL $kind $step, $from -> $to, then --resume"
  need "$from" || return 0
  tool "$name" "GANETI_UPGRADE_CRASH_$kind=$step" -- --to "$to" "${OPTS[@]}"
  check_rc "$name: killed" 137 "$RC" "$LOGDIR/$name.log" || :
  if x test -e /var/lib/ganeti/intent-to-upgrade; then ok "$name: intent file left"; else fail "$name: intent file left"; fi
  out=$(x ganeti-upgrade --status 2>&1) || :
  case $out in
    *"pending"*) ok "$name: --status shows the pending upgrade" ;;
    *) fail "$name: --status shows the pending upgrade" "$(printf '%s' "$out" | head -n 3 | paste -sd'|' -)" ;;
  esac
  SETTLED=broken
  tool "$name-resume" -- --resume "${OPTS[@]}"
  check_rc "$name: --resume" 0 "$RC" "$LOGDIR/$name-resume.log" || :
  state_is "$name: after --resume" "$to" some
  # Once settled, another --resume must find nothing to do (when not settled
  # it would only repeat the failure, at the cost of its timeouts).
  if [ "$SETTLED" = "$to" ]; then
    tool "$name-resume2" -- --resume "${OPTS[@]}"
    check_rc "$name: 2nd --resume has nothing to do" 0 "$RC" "$LOGDIR/$name-resume2.log" || :
    check_grep "$name: 2nd --resume says so" '^no upgrade pending$' "$LOGDIR/$name-resume2.log"
  fi
}

scenario_3() {
  echo "== 3: interrupted upgrades"
  # Alternating directions, so each case starts where the last one ended.
  crash_case AT stop-master-daemons 3.0
  crash_case AT backup              3.1
  crash_case AT switch-version      3.0
  crash_case AT downgrade-config    3.1
  crash_case IN switch-version      3.0
  crash_case AT start-daemons       3.1
  crash_case IN upgrade-config      3.0
  crash_case AT resume-work         3.1
  crash_case AT upgrade-config      3.0
  crash_case AT post-upgrade        3.1

  term_case before stop-daemons 1 'rolled back' 3.0 none
  term_case after start-daemons 0 'ignoring the signal' 3.1 some
  halfstop_case
}

# halfstop_case: SIGKILL about 0.1 s into "Stopping daemons on the master
# node" of 3.1 -> 3.0 (some daemons stopped, some still running), then
# --resume must settle the cluster (daemon-util start-all alone aborts at
# the first daemon still running).
halfstop_case() {
  echo "-- SIGKILL 0.1 s into stop-master-daemons, 3.1 -> 3.0, then --resume"
  need 3.1 && tool_waiting halfstop stop-master-daemons --to 3.0 "${OPTS[@]}" || return 0
  x rm -f "$WAITDIR/ganeti-upgrade.waiting-stop-master-daemons"
  sleep 0.1
  x kill -KILL "$WAIT_PID" 2>/dev/null || :
  RC=0
  wait "$BG" || RC=$?
  if [ "$RC" != 0 ]; then ok "halfstop: killed (exit $RC)"; else fail "halfstop: killed" "it finished before the kill"; fi
  SETTLED=broken
  tool halfstop-resume -- --resume "${OPTS[@]}"
  check_rc "halfstop: --resume" 0 "$RC" "$LOGDIR/halfstop-resume.log" || :
  state_is "halfstop: after --resume" 3.0 some
}

# term_case WHEN STEP RC PATTERN VERSION BACKUPS: SIGTERM to a 3.0 -> 3.1
# upgrade waiting at STEP (WHEN the point of no return); it must exit RC,
# say PATTERN, and leave the cluster settled on VERSION.
term_case() {
  local when=$1 step=$2 rc=$3 pattern=$4 version=$5 backups=$6
  echo "-- SIGTERM $when the point of no return (waiting at $step), 3.0 -> 3.1"
  need 3.0 && tool_waiting "term-$when" "$step" --to 3.1 "${OPTS[@]}" || return 0
  x kill -TERM "$WAIT_PID"
  tool_continue "$step"
  check_rc "SIGTERM at $step: exit" "$rc" "$RC" "$LOGDIR/term-$when.log" || :
  check_grep "SIGTERM at $step: says '$pattern'" "$pattern" "$LOGDIR/term-$when.log"
  state_is "SIGTERM at $step: settled on $version" "$version" "$backups"
}

scenario_4() {
  echo "== 4: a drain and a watcher pause set before the upgrade stay"
  local from=3.1 to
  [ "$SETTLED" = 3.0 ] && from=3.0
  to=$(other "$from")
  need "$from" || return 0
  x gnt-cluster queue drain >/dev/null 2>&1 || fail "gnt-cluster queue drain"
  x gnt-cluster watcher pause 1h >/dev/null 2>&1 || fail "gnt-cluster watcher pause 1h"
  tool "drained-to-$to" -- --to "$to" "${OPTS[@]}"
  check_rc "drained and paused cluster: --to $to" 0 "$RC" "$LOGDIR/drained-to-$to.log" || :
  state_is "drained and paused cluster: after --to $to" "$to" some set paused
  SETTLED=broken    # drained and paused: not a state to hand on
}

scenario_5() {
  echo "== 5: Ganeti's own gnt-cluster upgrade keeps off a pending upgrade of ours"
  local intent after reboot_line out
  need 3.0 && tool_waiting fenced stop-daemons --to 3.1 "${OPTS[@]}" || return 0
  intent=$(x cat /var/lib/ganeti/intent-to-upgrade 2>/dev/null) || :
  if [[ $intent =~ ^3\.0\.2,ganeti-upgrade:3\.1,[0-9]+$ ]]; then ok "fenced: intent file $intent"
  else fail "fenced: intent file" "'$intent', expected 3.0.2,ganeti-upgrade:3.1,PID"; fi
  # The @reboot line exactly as Debian's /etc/cron.d/ganeti has it, run as
  # cron runs it (sh -c, cron's PATH).
  reboot_line=$(x sed -n 's/^@reboot[[:space:]]\{1,\}root[[:space:]]\{1,\}//p' /etc/cron.d/ganeti)
  check "fenced: Debian's cron file has Ganeti's @reboot resume" \
    "[ -x /usr/sbin/gnt-cluster ] && /usr/sbin/gnt-cluster upgrade --resume" "$reboot_line"
  RC=0
  out=$(x env PATH=/sbin:/bin:/usr/sbin:/usr/bin sh -c "$reboot_line" 2>&1) || RC=$?
  check "fenced: Ganeti's @reboot gnt-cluster upgrade --resume exits 1 without acting (output: '$out')" 1 "$RC"
  RC=0
  out=$(x gnt-cluster upgrade --to=3.1 2>&1) || RC=$?
  check "fenced: a colleague's gnt-cluster upgrade --to=3.1 refuses" 1 "$RC"
  if grep -q "An upgrade from 3.0.2 to ganeti-upgrade:3.1 is in progress; use --resume to finish it first" <<<"$out"; then
    ok "fenced: it says an upgrade is in progress"
  else fail "fenced: it says an upgrade is in progress" "$out"; fi
  after=$(x cat /var/lib/ganeti/intent-to-upgrade 2>/dev/null) || :
  check "fenced: our intent file untouched" "$intent" "$after"
  check "fenced: links still on 3.0" "/usr/lib/ganeti/3.0" "$(x readlink /etc/ganeti/lib)"
  tool_continue stop-daemons
  check_rc "fenced: our upgrade goes on" 0 "$RC" "$LOGDIR/fenced.log" || :
  state_is "fenced: after our upgrade" 3.1 some
}

# ------------------------------------------------------------ main

selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${ALL_SCENARIOS[@]}")
for s in "${selected[@]}"; do
  case " ${ALL_SCENARIOS[*]} " in
    *" $s "*) ;;
    *) echo "usage: $0 [${ALL_SCENARIOS[*]}]... (no argument: all of them)" >&2; exit 2 ;;
  esac
done

scenario_6() {
  echo "== 6: the way back to a version without dpkg lists stays open"
  need 3.0 || return 0
  local lists="ganeti-3.0 ganeti-haskell-3.0 ganeti-htools-3.0" p
  for p in $lists; do x mv "/var/lib/dpkg/info/$p.list" "/var/lib/dpkg/info/$p.list.aside"; done
  tool wayback-dry -- --to 3.1 --dry-run "${OPTS[@]}"
  check_rc "no dpkg lists for 3.0: --dry-run" 0 "$RC" "$LOGDIR/wayback-dry.log" || :
  tool wayback "GANETI_UPGRADE_CRASH_AT=switch-version" -- --to 3.1 "${OPTS[@]}"
  check_rc "no dpkg lists for 3.0: killed after switch-version" 137 "$RC" "$LOGDIR/wayback.log" || :
  SETTLED=broken
  check "no dpkg lists for 3.0: 3.1 active when killed" "/usr/lib/ganeti/3.1" "$(x readlink /etc/ganeti/lib)"
  tool wayback-abort -- --abort "${OPTS[@]}"
  check_rc "no dpkg lists for 3.0: --abort" 0 "$RC" "$LOGDIR/wayback-abort.log" || :
  for p in $lists; do x mv "/var/lib/dpkg/info/$p.list.aside" "/var/lib/dpkg/info/$p.list"; done
  state_is "no dpkg lists for 3.0: after --abort" 3.0 some
}

# ro_case END VERSION: the data directory turns read-only while the upgrade
# waits at upgrade-config; then, writable again, END (--abort or --resume)
# must settle the cluster on VERSION.
ro_case() {
  local end=$1 v=$2 name="readonly-${1#--}"
  echo "-- the journal's file system read-only at upgrade-config, then $end"
  need 3.0 && tool_waiting "$name" upgrade-config --to 3.1 "${OPTS[@]}" || return 0
  x mount --bind /var/lib/ganeti /var/lib/ganeti
  x mount -o remount,ro,bind /var/lib/ganeti
  tool_continue upgrade-config
  x umount /var/lib/ganeti || :
  SETTLED=broken
  check_rc "$name: the run" 1 "$RC" "$LOGDIR/$name.log" || :
  check_grep "$name: it says the rollback cannot be recorded" 'cannot be recorded in the journal' "$LOGDIR/$name.log"
  check_grep "$name: and that nothing was undone" 'so nothing was undone' "$LOGDIR/$name.log"
  check "$name: nothing undone (3.1 still active)" "/usr/lib/ganeti/3.1" "$(x readlink /etc/ganeti/lib)"
  check "$name: config.data unchanged" "$(config_of 3.0)" "$(x python3 -c 'import json; print(json.load(open("/var/lib/ganeti/config.data"))["version"])')"
  tool "$name-end" -- "$end" "${OPTS[@]}"
  check_rc "$name: $end once writable" 0 "$RC" "$LOGDIR/$name-end.log" || :
  state_is "$name: after $end" "$v" some
}

# full_case END VERSION: /var/lib/ganeti on a tmpfs holding a copy of it
# (no daemon runs at upgrade-config; every file there is opened by path),
# filled up before cfgupgrade runs; then room again, and END.
full_case() {
  local end=$1 v=$2 name="full-${1#--}" kb
  echo "-- the journal's file system full at upgrade-config, then $end"
  need 3.0 && tool_waiting "$name" upgrade-config --to 3.1 "${OPTS[@]}" || return 0
  kb=$(x du -sk /var/lib/ganeti | cut -f1)
  x sh -c "mkdir -p /run/gu-full && mount -t tmpfs -o size=$((kb + 2048))k,mode=0755 gu-full /run/gu-full \
    && cp -a /var/lib/ganeti/. /run/gu-full/ && mount --move /run/gu-full /var/lib/ganeti"
  x sh -c 'dd if=/dev/zero of=/var/lib/ganeti/filler bs=4k 2>/dev/null; sync' || :
  check "$name: the state directory is full" "0" "$(x df --output=avail /var/lib/ganeti | tail -n 1 | tr -d ' ')"
  tool_continue upgrade-config
  x tail -n 80 /var/log/ganeti/commands.log >"$LOGDIR/$name.commands.log" 2>&1 || :
  SETTLED=broken
  if [ "$RC" = 0 ]; then
    fail "$name: the run fails" "exit 0; log $LOGDIR/$name.log"
  else
    ok "$name: the run fails (exit $RC)"
  fi
  if grep -qE '^done' "$LOGDIR/$name.log"; then
    fail "$name: it never says done" "$LOGDIR/$name.log"
  else
    ok "$name: it never says done"
  fi
  check_grep "$name: it says what to run next" 'ganeti-upgrade --(resume|abort)' "$LOGDIR/$name.log"
  check "$name: config.data unchanged" "$(config_of 3.0)" "$(x python3 -c 'import json; print(json.load(open("/var/lib/ganeti/config.data"))["version"])')"
  # Where --resume goes is what the run promised: on when nothing could be
  # recorded (and so nothing was undone), else back (a rollback recorded,
  # finished or under way).
  if [ "$end" = --resume ] && ! grep -q 'so nothing was undone' "$LOGDIR/$name.log"; then
    v=3.0
  fi
  x rm -f /var/lib/ganeti/filler
  tool "$name-end" -- "$end" "${OPTS[@]}"
  check_rc "$name: $end once there is room" 0 "$RC" "$LOGDIR/$name-end.log" || :
  state_is "$name: after $end" "$v" some
}

# daemon_pids: "name pid" of each Ganeti daemon in the node, sorted.
daemon_pids() {
  # shellcheck disable=SC2016 # expanded by the node's shell
  x sh -c 'for f in /var/run/ganeti/ganeti-*.pid; do [ -e "$f" ] && echo "${f##*/} $(cat "$f")"; done' | sort
}

scenario_8() {
  local sum0 pids0 cl
  echo "== 8: the configuration change rehearsed on a copy before anything changes"
  # A cluster that lived since Ganeti 2.3 keeps the pre-2.4 RAPI users file
  # beside the one an admin later made by hand: every cfgupgrade since 2.4
  # refuses to rename it then, so the real conversion fails at the point of
  # no return, and 3.0 runs all the same.
  need 3.0 || return 0
  x sh -c 'printf "admin secret write\n" >/var/lib/ganeti/rapi_users; mkdir -p /var/lib/ganeti/rapi; printf "admin secret write\n" >/var/lib/ganeti/rapi/users'
  sum0=$(x sha256sum /var/lib/ganeti/config.data)
  pids0=$(daemon_pids)
  tool rehearsal-dry -- --to 3.1 --dry-run "${OPTS[@]}"
  check_rc "rehearsal: --dry-run refuses" 1 "$RC" "$LOGDIR/rehearsal-dry.log" || :
  check_grep "rehearsal: --dry-run names the converter's refusal" "3\.1's cfgupgrade rejects this cluster's configuration" "$LOGDIR/rehearsal-dry.log"
  check_grep "rehearsal: --dry-run quotes cfgupgrade's own message" 'Found pre-2\.4 RAPI users file' "$LOGDIR/rehearsal-dry.log"
  tool rehearsal-run -- --to 3.1 "${OPTS[@]}"
  check_rc "rehearsal: the run refuses" 1 "$RC" "$LOGDIR/rehearsal-run.log" || :
  check_grep "rehearsal: the run quotes cfgupgrade's own message" 'Found pre-2\.4 RAPI users file' "$LOGDIR/rehearsal-run.log"
  check_grep "rehearsal: and how to reproduce it" 'cfgupgrade --path /root/rehearsal' "$LOGDIR/rehearsal-run.log"
  check "rehearsal: config.data byte-identical" "$sum0" "$(x sha256sum /var/lib/ganeti/config.data)"
  check "rehearsal: the daemons untouched (the same processes)" "$pids0" "$(daemon_pids)"
  check "rehearsal: 3.0 still active" "/usr/lib/ganeti/3.0" "$(x readlink /etc/ganeti/lib)"
  check "rehearsal: no intent file, journal, filter, drain or scratch copy" "none 0 unset" \
    "$(x sh -c 'ls /var/lib/ganeti/intent-to-upgrade /var/lib/ganeti/ganeti-upgrade.journal /var/lib/ganeti-upgrade/rehearsal-* 2>/dev/null | wc -l | sed "s/^0$/none/"; gnt-filter list --no-headers | wc -l; gnt-cluster queue info | sed -n "s/.*drain flag is //p"' | paste -sd' ')"
  check "rehearsal: both RAPI users files as they were" "2" "$(x sh -c 'ls /var/lib/ganeti/rapi_users /var/lib/ganeti/rapi/users | wc -l')"
  # The admin removes the stale file: the same upgrade goes through.
  x rm -f /var/lib/ganeti/rapi_users
  tool rehearsal-fixed -- --to 3.1 "${OPTS[@]}"
  check_rc "rehearsal: once fixed, the upgrade" 0 "$RC" "$LOGDIR/rehearsal-fixed.log" || :
  state_is "rehearsal: after the upgrade" 3.1 some
  # The downgrade: 3.1's cfgupgrade --downgrade on the copy, then 3.0's own
  # cfgupgrade loads and verifies the result.
  tool rehearsal-down -- --to 3.0 "${OPTS[@]}"
  check_rc "rehearsal: the downgrade" 0 "$RC" "$LOGDIR/rehearsal-down.log" || :
  cl=$(x grep -E 'cfgupgrade --path /var/lib/ganeti-upgrade/rehearsal-' /var/log/ganeti/commands.log | tail -n 2)
  check "rehearsal: the downgrade ran 3.1's --downgrade, then 3.0's load, on the copy" "3.1 --downgrade; 3.0 load" \
    "$(printf '%s\n' "$cl" | sed -E 's|.*/usr/share/ganeti/([0-9.]+)/cfgupgrade .*-f( --downgrade)? -> rc=0.*|\1\2|' | sed 's/ --downgrade/ --downgrade;/; s/^3\.0$/3.0 load/' | paste -sd' ')"
  state_is "rehearsal: after the downgrade" 3.0 some
  # The upgrade left rapi_users as a link to rapi/users (Ganeti's own
  # compatibility link): the copy keeps it a link, so the next upgrade's
  # rehearsal does not take it for a stale pre-2.4 file.
  check "rehearsal: rapi_users is Ganeti's link now" "/var/lib/ganeti/rapi/users" "$(x readlink /var/lib/ganeti/rapi_users)"
  tool rehearsal-again -- --to 3.1 --dry-run "${OPTS[@]}"
  check_rc "rehearsal: the next upgrade's dry run (rapi_users a link)" 0 "$RC" "$LOGDIR/rehearsal-again.log" || :
}

# no_change LABEL SUM PIDS: nothing changed on the node since SUM (config.data's
# sha256sum) and PIDS (daemon_pids): the same daemons, no intent file,
# journal, filter, drain or scratch copy.
no_change() {
  check "$1: config.data byte-identical" "$2" "$(x sha256sum /var/lib/ganeti/config.data)"
  check "$1: the daemons untouched (the same processes)" "$3" "$(daemon_pids)"
  check "$1: no intent file, journal, filter, drain or scratch copy" "none 0 unset" \
    "$(x sh -c 'ls /var/lib/ganeti/intent-to-upgrade /var/lib/ganeti/ganeti-upgrade.journal /var/lib/ganeti-upgrade/rehearsal-* 2>/dev/null | wc -l | sed "s/^0$/none/"; gnt-filter list --no-headers | wc -l; gnt-cluster queue info | sed -n "s/.*drain flag is //p"' | paste -sd' ')"
}

# refused_before_anything LABEL TO DRY_RE RUN_RE [UNDO...]: --dry-run and the
# run of --to TO are both refused (exit 1), the dry run's output matching
# DRY_RE, the run's "would not run" and RUN_RE; then UNDO (a command on the
# node that puts back what the case took away, so that Ganeti's own tools
# answer the checks) and nothing changed on the node.
refused_before_anything() {
  local label=$1 to=$2 sum0 pids0 log
  log=$(printf '%s' "$label" | tr -c 'a-z0-9' -)
  sum0=$(x sha256sum /var/lib/ganeti/config.data)
  pids0=$(daemon_pids)
  tool "$log-dry" -- --to "$to" --dry-run "${OPTS[@]}"
  check_rc "$label: --dry-run refuses" 1 "$RC" "$LOGDIR/$log-dry.log" || :
  check_grep "$label: --dry-run names the node and what is missing" "$3" "$LOGDIR/$log-dry.log"
  tool "$log-run" -- --to "$to" "${OPTS[@]}"
  check_rc "$label: the run refuses" 1 "$RC" "$LOGDIR/$log-run.log" || :
  check_grep "$label: the run says where $to would not run" "Ganeti ${to//./\\.} would not run on these nodes" "$LOGDIR/$log-run.log"
  check_grep "$label: ... what is missing, once, with the files" "$4" "$LOGDIR/$log-run.log"
  [ $# -le 4 ] || x "${@:5}" || fail "$label: putting it back: ${*:5}"
  no_change "$label" "$sum0" "$pids0"
}

scenario_9() {
  local mod lib j
  echo "== 9: a target that would not run here, and a hold on new jobs past --max-hold"
  need 3.0 || return 0
  # (a) python3-bitarray removed (an autoremove after a dependency change):
  # every Ganeti entry script imports it. Hidden by a module that raises.
  mod=$(x /usr/bin/python3 -c 'import bitarray; print(bitarray.__file__)')
  # shellcheck disable=SC2016 # expanded by the node's shell
  x sh -c 'printf "raise ModuleNotFoundError(\"No module named %s (python3-bitarray removed)\")\n" "'"'"'bitarray'"'"'" >/run/bitarray-gone.py; mount --bind /run/bitarray-gone.py "$1"' sh "$mod"
  refused_before_anything "runs (bitarray)" 3.1 \
    "node1\.gnt\.test: target does not run: .*No module named 'bitarray'" \
    "import fails under /usr/bin/python3: ModuleNotFoundError: No module named 'bitarray' \(python3-bitarray removed\) \(in [0-9]+ files: /usr/(lib|share)/ganeti/3\.1/" \
    umount "$mod"
  tool runs-fixed -- --to 3.1 "${OPTS[@]}"
  check_rc "runs: once bitarray is back, the upgrade" 0 "$RC" "$LOGDIR/runs-fixed.log" || :
  state_is "runs: after the upgrade" 3.1 some
  # (b) libpcre3 gone (Debian 13 no longer has it): 3.0's Haskell daemons
  # link libpcre.so.3, 3.1's do not; the downgrade is refused. Hidden by an
  # overlay whose whiteouts remove the library's names.
  lib=$(x readlink -f /usr/lib/x86_64-linux-gnu/libpcre.so.3)
  # shellcheck disable=SC2016 # expanded by the node's shell
  x sh -c 'mkdir -p /run/ov/up /run/ov/work && mknod /run/ov/up/libpcre.so.3 c 0 0 && mknod "/run/ov/up/${1##*/}" c 0 0 && mount -t overlay overlay -o lowerdir=/usr/lib/x86_64-linux-gnu,upperdir=/run/ov/up,workdir=/run/ov/work /usr/lib/x86_64-linux-gnu' sh "$lib"
  refused_before_anything "runs (libpcre3)" 3.0 \
    "node1\.gnt\.test: target does not run: .*the loader does not find libpcre\.so\.3" \
    "the loader does not find libpcre\.so\.3 \(in [0-9]+ files: /usr/lib/ganeti/3\.0/usr/" \
    umount -l /usr/lib/x86_64-linux-gnu
  x rm -rf /run/ov || :
  # (c) --max-hold: a job keeps the queue busy for 30 s; the budget (4 s)
  # runs out during the wait, and the run rolls back by itself.
  # --print-jobid prints "JobID: N".
  # The job is submitted once record-health is done: that step's gnt-cluster
  # verify waits, as any verify does, for the locks a running job holds
  # (before new jobs are held, so no budget is spent there).
  j=""
  if tool_waiting max-hold write-intent --to 3.0 --max-hold 4s "${OPTS[@]}"; then
    j=$(x gnt-debug delay --submit --print-jobid 30 2>&1 | grep -oE '[0-9]+$' | tail -n 1)
    # Running before the queue is held (a job still queued then would be
    # held by the filter, not waited for).
    for _ in $(seq 50); do
      x sh -c "gnt-job list --no-headers -o status $j" | grep -q running && break
      sleep 0.2
    done
    tool_continue write-intent
  fi
  check_rc "max-hold: --to 3.0 --max-hold 4s with a 30 s job" 1 "$RC" "$LOGDIR/max-hold.log" || :
  check_grep "max-hold: rolled back, naming the budget" "longer than --max-hold allows before the configuration change \(4 s\)" "$LOGDIR/max-hold.log"
  check_grep "max-hold: the wait says how long jobs are held" "new jobs held [0-9]+ s of --max-hold 4 s" "$LOGDIR/max-hold.log"
  check_grep "max-hold: the cluster runs 3.1 again" "the cluster runs 3\.1 again" "$LOGDIR/max-hold.log"
  check "max-hold: the job is not held (it runs or ran)" "yes" \
    "$(x sh -c "gnt-job list --no-headers -o status $j" | grep -qE 'running|success' && echo yes || echo no)"
  x gnt-job wait "$j" >/dev/null 2>&1 || :
  state_is "max-hold: after the rollback" 3.1 none
  # (d) the node certificate (client.pem, signed by the cluster
  # certificate) signed with SHA-1, as older tools made them, and OpenSSL
  # 3.0 here, which rejects such signatures: refused by the dry run and
  # the run, naming renew-crypto; nothing changed. (A self-signed SHA-1
  # server.pem is not refused: OpenSSL does not check a trust anchor's own
  # signature.)
  local sum0 pids0
  sum0=$(x sha256sum /var/lib/ganeti/config.data)
  pids0=$(daemon_pids)
  x sh -c 'cd /run && cp -p /var/lib/ganeti/client.pem /run/client.pem.orig &&
    openssl req -new -newkey rsa:2048 -nodes -subj /CN=node1.gnt.test -keyout ck.pem -out c.csr 2>/dev/null &&
    openssl x509 -req -in c.csr -CA /var/lib/ganeti/server.pem -CAkey /var/lib/ganeti/server.pem -set_serial 9 -days 30 -sha1 -out cc.pem 2>/dev/null &&
    cat ck.pem cc.pem >/var/lib/ganeti/client.pem' || fail "cert: making a SHA-1 client.pem"
  tool cert-dry -- --to 3.0 --dry-run "${OPTS[@]}"
  check_rc "cert: --dry-run with a SHA-1 client.pem refuses" 1 "$RC" "$LOGDIR/cert-dry.log" || :
  check_grep "cert: --dry-run names the node, the certificate and why" \
    "node1\.gnt\.test: /var/lib/ganeti/client\.pem is signed with sha1WithRSAEncryption \(by .*\), which OpenSSL 3\.[0-9.]+ here rejects" "$LOGDIR/cert-dry.log"
  check_grep "cert: ... and the fix" "fix: renew first, on the master: gnt-cluster renew-crypto --new-node-certificates, then run again" "$LOGDIR/cert-dry.log"
  tool cert-run -- --to 3.0 "${OPTS[@]}"
  check_rc "cert: the run refuses" 1 "$RC" "$LOGDIR/cert-run.log" || :
  check_grep "cert: the run names the certificate and renew-crypto" \
    "client\.pem is signed with sha1WithRSAEncryption.*|gnt-cluster renew-crypto --new-node-certificates" "$LOGDIR/cert-run.log"
  x sh -c 'cp -p /run/client.pem.orig /var/lib/ganeti/client.pem; cd /run && rm -f client.pem.orig ck.pem c.csr cc.pem' || fail "cert: putting client.pem back"
  no_change "cert" "$sum0" "$pids0"
  state_is "cert: after the refusals" 3.1 none
}

scenario_10() {
  local to=3.1
  echo "== 10: the health baseline: an error there before, an instance the upgrade left down"
  case $SETTLED in
    3.0) to=3.1 ;;
    3.1) to=3.0 ;;
    *) need 3.0 || return 0 ;;
  esac
  tool health-dry -- --to "$to" --dry-run --switch-command "$SWITCH"
  check_rc "health: --dry-run without --verify-ignore" 0 "$RC" "$LOGDIR/health-dry.log" || :
  check_grep "health: the dry run lists ENODESETUP as not counted" \
    'gnt-cluster verify reports [0-9]+ errors? before the upgrade; (it|they) will not count against the upgrade: .*ENODESETUP node node1\.gnt\.test' \
    "$LOGDIR/health-dry.log"
  if tool_waiting health-run resume-work --to "$to" --switch-command "$SWITCH"; then
    # The fake hypervisor's instance is a file; without it inst1 is
    # ERROR_down (as a crashed VM's would be).
    x sh -c 'rm -f /var/run/ganeti/fake-hypervisor/inst1' || fail "health: removing inst1's fake process"
    tool_continue resume-work
    check_rc "health: upgraded, inst1 left down: exit 3" 3 "$RC" "$LOGDIR/health-run.log" || :
    check_grep "health: inst1 named, with its state before and now and the fix" \
      'instance inst1 was running before the upgrade and is ERROR_down now; hint: gnt-instance info inst1, then gnt-instance start inst1' \
      "$LOGDIR/health-run.log"
    check_grep "health: ENODESETUP listed as there before" \
      'that (was|were) there before the upgrade \(not counted against it\): .*ENODESETUP' "$LOGDIR/health-run.log"
    check "health: ENODESETUP is not among the new errors" 0 \
      "$(grep -c '^ERROR: ENODESETUP' "$LOGDIR/health-run.log" || :)"
    x gnt-instance start inst1 >/dev/null 2>&1 || fail "health: gnt-instance start inst1"
    state_is "health: after the upgrade and gnt-instance start inst1" "$to" some
  else
    SETTLED=broken
    return 0
  fi
  # No stale code before resume-work: once the daemons run the target,
  # confd is replaced by the old version's, started by hand as daemon-util
  # starts it (as a watcher or an admin working from the old tree would),
  # and an admin's long gnt-cluster command of the old tree runs (its
  # argv as Python shows it; the process itself is a sleep).
  local from=$to fre
  if [ "$from" = 3.1 ]; then to=3.0; else to=3.1; fi
  fre=${from//./[.]}
  if tool_waiting stale-run check-stale-code --to "$to" "${OPTS[@]}"; then
    # shellcheck disable=SC2016 # expanded by the node's shell
    x sh -c 'p=$(cat /var/run/ganeti/ganeti-confd.pid); kill "$p"; while [ -e "/proc/$p" ]; do sleep 0.1; done
      start-stop-daemon --start --quiet --pidfile /var/run/ganeti/ganeti-confd.pid --chuid gnt-confd:gnt-confd --startas "/usr/lib/ganeti/$1/usr/sbin/ganeti-confd"
      setsid bash -c "exec -a /usr/share/ganeti/$1/gnt-cluster sleep 600" </dev/null >/dev/null 2>&1 &' sh "$from" \
      || fail "stale: starting $from's confd by hand"
    sleep 1
    # shellcheck disable=SC2016 # expanded by the node's shell
    check "stale: confd runs $from's program before the check" "$from" \
      "$(x sh -c 'readlink "/proc/$(cat /var/run/ganeti/ganeti-confd.pid)/exe"' | cut -d/ -f5)"
    tool_continue check-stale-code
    check_rc "stale: --to $to with $from's confd started by hand" 0 "$RC" "$LOGDIR/stale-run.log" || :
    check_grep "stale: the old confd is named and restarted" \
      "node1\.gnt\.test: pid [0-9]+ \(/usr/lib/ganeti/$fre/usr/sbin/ganeti-confd\): its program /usr/lib/ganeti/$fre/usr/sbin/ganeti-confd is $fre's; ending it \(and starting the daemon again" \
      "$LOGDIR/stale-run.log"
    check_grep "stale: the admin's old gnt-cluster is named and left running" \
      "node1\.gnt\.test: pid [0-9]+ \(/usr/share/ganeti/$fre/gnt-cluster 600\): its script /usr/share/ganeti/$fre/gnt-cluster is $fre's; not a Ganeti daemon, so it is left running" \
      "$LOGDIR/stale-run.log"
    # shellcheck disable=SC2016 # expanded by the node's shell
    check "stale: the admin's process still runs" 1 \
      "$(x sh -c 'pgrep -f "^/usr/share/ganeti/$1/gnt-cluster 600" | wc -l' sh "$from")"
    # shellcheck disable=SC2016 # expanded by the node's shell
    x sh -c 'pkill -f "^/usr/share/ganeti/$1/gnt-cluster 600"' sh "$from" || :
    state_is "stale: after the upgrade" "$to" some
  else
    SETTLED=broken
  fi
}

scenario_7() {
  echo "== 7: a read-only or full journal at the rollback"
  ro_case --abort 3.0
  ro_case --resume 3.1
  full_case --abort 3.0
  full_case --resume 3.1
}

for b in ganeti-layout ganeti-switch ganeti-upgrade; do
  [ -x "$BIN_DIR/$b" ] || { echo "scenarios: $BIN_DIR/$b is missing (build it first)" >&2; exit 2; }
done

rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
trap 'h stop >/dev/null 2>&1 || :' EXIT
t=$(now_us)
if h setup >>"$LOGDIR/harness.log" 2>&1; then
  printf 'TIME   %-44s %ss\n' "harness setup" "$(elapsed "$t" "$(now_us)")"
  for s in "${selected[@]}"; do
    t=$(now_us)
    "scenario_$s"
    printf 'TIME   %-44s %ss\n' "scenario $s" "$(elapsed "$t" "$(now_us)")"
  done
else
  fail "harness setup" "see $LOGDIR/harness.log"
fi
h stop >>"$LOGDIR/harness.log" 2>&1 || fail "harness stop"
trap - EXIT
printf 'TIME   %-44s %ss\n' "scenarios total" "$(elapsed "$T_START" "$(now_us)")"
echo "logs: $LOGDIR"
if [ "$failed" -gt 0 ]; then
  echo "failed checks:"
  printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
