#!/bin/bash
# lib.sh -- helpers for the ganeti-upgrade end-to-end tests (sourced by run.sh).
#
# A scenario gets a fresh 3-node cluster (tests/cluster) running the fake
# Ganeti (tests/fake-ganeti) 3.0.2, with 3.1.0 installed side by side (under
# /usr/lib/ganeti, or another libdir such as /usr/lib64), and checks the end
# state on every node after running ganeti-upgrade on the master. See README.md.
# shellcheck disable=SC2034  # some globals are only read by run.sh

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$E2E_HERE/../.." && pwd -P)
CL=$REPO/tests/cluster/cluster.sh
MAKE_STAGE=$REPO/tests/fake-ganeti/make-stage
BIN=${E2E_BIN:-$REPO/target/debug}
LAYOUT=$BIN/ganeti-layout
SWITCH=$BIN/ganeti-switch
UPGRADE=$BIN/ganeti-upgrade
PROBE=$E2E_HERE/probe.sh
# The package's boot-time unit and its /etc/default file (unit_resume).
UNIT=$REPO/debian/ganeti-upgrade-toolkit.ganeti-upgrade-resume.service
UNIT_DEFAULTS=$REPO/debian/default/ganeti-upgrade

NODES=(node1 node2 node3)
MASTER=node1
DOMAIN=gnt.test
CLUSTER=cluster.gnt.test
# Directory version -> release and config.data version.
declare -A RELEASE=([3.0]=3.0.2 [3.1]=3.1.0)
declare -A CFGVER=([3.0]=3000000 [3.1]=3010000)
# Daemons expected to run (start-all; kvmd exits at once without kvm).
MASTER_DAEMONS=(ganeti-noded ganeti-confd ganeti-wconfd ganeti-rapi ganeti-luxid ganeti-mond)
NODE_DAEMONS=(ganeti-noded ganeti-confd ganeti-mond)

UP_STEPS=(verify-installed check-target-runs rehearse-config record-health write-intent stop-new-work wait-for-jobs pause-watcher
  stop-master-daemons reverify-installed stop-daemons backup switch-version
  upgrade-config ensure-dirs start-daemons redist-conf restart-daemons check-stale-code resume-work
  unpause-watcher ensure-job-archive post-upgrade verify-cluster finish)
DOWN_STEPS=(verify-installed check-target-runs rehearse-config record-health write-intent stop-new-work wait-for-jobs pause-watcher
  stop-master-daemons reverify-installed stop-daemons backup downgrade-config
  switch-version ensure-dirs start-daemons redist-conf restart-daemons check-stale-code resume-work
  unpause-watcher ensure-job-archive post-upgrade verify-cluster finish)

# The libdir the current cluster's Ganeti was built and laid out for (set by
# cluster_up): its tools are under $LIBDIR/ganeti.
LIBDIR=/usr/lib
# Base directory for everything: stages (cached) and cluster work dirs.
E2E_TMP=${E2E_TMP:-/tmp/ganeti-upgrade-e2e}
W=""        # work dir of the current cluster
LOGDIR=""   # where run.sh keeps the output of every command
PASSED=0
FAILED=0
FAILURES=()
CURRENT=""  # current scenario name, prefixed to results

# --- results ----------------------------------------------------------------

pass() { PASSED=$((PASSED + 1)); printf 'ok   %s%s\n' "${CURRENT:+$CURRENT: }" "$1"; }
fail() {
  FAILED=$((FAILED + 1))
  FAILURES+=("${CURRENT:+$CURRENT: }$1")
  printf 'FAIL %s%s\n' "${CURRENT:+$CURRENT: }" "$1"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | head -n "${E2E_FAIL_LINES:-25}" | sed 's/^/       | /'
}
note() { printf '     %s\n' "$*"; }
# check DESC CMD...: passes if CMD succeeds.
check() {
  local d=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$d"; else fail "$d" "$out"; fi
}
# check_eq DESC EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected: $2"$'\n'"got:      $3"; fi
}
# refused_by_both DESC DRY_RE RUN_RE...: --to 3.1 --dry-run and --to 3.1 both
# exit 1, the dry run's output matching DRY_RE and the run's each RUN_RE.
refused_by_both() {
  local d=$1 dry=$2 re
  shift 2
  run_upgrade --to 3.1 --dry-run
  check_rc "$d: --dry-run refuses" 1
  check "$d: --dry-run says why" grep -q -- "$dry" <<<"$OUT"
  run_upgrade --to 3.1
  check_rc "$d: the run refuses" 1
  for re in "$@"; do check "$d: the run says /$re/" grep -q -- "$re" <<<"$OUT"; done
}
# check_rc DESC EXPECTED_RC: compares with $RC of the last run_upgrade, shows $OUT.
check_rc() {
  if [ "$RC" = "$2" ]; then pass "$1 (exit $RC)"
  else fail "$1: expected exit $2, got $RC" "$(printf '%s\n' "$OUT" | tail -n 25)"; fi
}

# --- cluster ----------------------------------------------------------------

# x NODE CMD...: run CMD inside NODE.
x() { "$CL" exec "$W" "$@"; }

have_upgrade() { [ -x "$UPGRADE" ]; }

# stage_dir REL: the cached stage of REL built for $LIBDIR.
stage_dir() {
  if [ "$LIBDIR" = /usr/lib ]; then echo "$E2E_TMP/stages/$1"
  else echo "$E2E_TMP/stages/$1${LIBDIR//\//+}"; fi
}

# Build the two fake stages for $LIBDIR once (cached under $E2E_TMP/stages).
build_stages() {
  local rel dir
  mkdir -p "$E2E_TMP/stages"
  # The cache is keyed by the fake's sources, so a change to them rebuilds it.
  local key
  key=$(cat "$MAKE_STAGE" "$REPO/tests/fake-ganeti/fakeganeti.py" | sha256sum | cut -c1-16)
  for rel in 3.0.2 3.1.0; do
    dir=$(stage_dir "$rel")
    if [ "$(cat "$dir.done" 2>/dev/null)" != "$key" ]; then
      rm -rf "$dir"
      "$MAKE_STAGE" --libdir "$LIBDIR" "$rel" "$dir" >/dev/null || return 1
      echo "$key" >"$dir.done"
    fi
  done
}

# Wait (up to $2 tenths of a second, default 100) until the shell snippet $1 succeeds.
wait_until() {
  local i=0 max=${2:-100}
  until eval "$1"; do
    i=$((i + 1))
    [ "$i" -lt "$max" ] || return 1
    sleep 0.1
  done
}

# cluster_up NAME [LIBDIR]: a fresh 3-node cluster on 3.0.2 (3.1.0 installed
# too) in $E2E_TMP/NAME, both built and laid out for LIBDIR (default
# /usr/lib; each node's LIBDIR/ganeti is private); sets W and LIBDIR.
# Returns non-zero (after a FAIL) if setup broke.
cluster_up() {
  local name=$1 n log
  cluster_down
  LIBDIR=${2:-/usr/lib}
  W=$E2E_TMP/$name
  rm -rf "$W"
  mkdir -p "$W"
  log=$LOGDIR/$name.setup.log
  : >"$log"
  build_stages >>"$log" 2>&1 || { fail "setup: make-stage" "$(tail "$log")"; return 1; }
  for n in "${NODES[@]}"; do
    if ! "$LAYOUT" install --libdir "$LIBDIR" --stage "$(stage_dir 3.0.2)" --release 3.0.2 --dest "$W/nodes/$n/root" --activate >>"$log" 2>&1 ||
      ! "$LAYOUT" install --libdir "$LIBDIR" --stage "$(stage_dir 3.1.0)" --release 3.1.0 --dest "$W/nodes/$n/root" --keep-existing >>"$log" 2>&1; then
      fail "setup: ganeti-layout install on $n" "$(tail "$log")"
      return 1
    fi
    mkdir -p "$W/nodes/$n/root/var/backups"
  done
  GNT_LIBDIR=$LIBDIR "$CL" up "$W" "${NODES[@]}" >>"$log" 2>&1 || { fail "setup: cluster.sh up" "$(tail "$log")"; return 1; }
  for n in "${NODES[@]}"; do
    # /var/backups is not private to a node in tests/cluster; give each node its own.
    x "$n" mount --bind "$W/nodes/$n/root/var/backups" /var/backups >>"$log" 2>&1 ||
      { fail "setup: private /var/backups on $n" "$(tail "$log")"; return 1; }
  done
  # The fake's `gnt-cluster init` overwrites /var/lib/ganeti/known_hosts with a
  # fake host key before pushing files, so its pushes fail over real ssh.
  # Keep the real file, put it back, then redistribute and start the nodes.
  cp "$W/nodes/$MASTER/root/var/lib/ganeti/known_hosts" "$W/known_hosts.real"
  # A candidate pool of 2: node3 is not a master candidate, so luxid's
  # watcher pause does not reach it (as on real clusters past 10 nodes).
  x "$MASTER" gnt-cluster init --candidate-pool-size 2 --fake-nodes=node2.$DOMAIN,node3.$DOMAIN "$CLUSTER" >>"$log" 2>&1 ||
    { fail "setup: gnt-cluster init" "$(tail "$log")"; return 1; }
  cp "$W/known_hosts.real" "$W/nodes/$MASTER/root/var/lib/ganeti/known_hosts"
  x "$MASTER" gnt-cluster redist-conf >>"$log" 2>&1 ||
    { fail "setup: gnt-cluster redist-conf" "$(tail "$log")"; return 1; }
  for n in "${NODES[@]}"; do
    [ "$n" = "$MASTER" ] && continue
    x "$n" "$LIBDIR/ganeti/daemon-util" start-all >>"$log" 2>&1 ||
      { fail "setup: daemon-util start-all on $n" "$(tail "$log")"; return 1; }
  done
  E2E_QUIET=1 assert_state 3.0 --no-backup || { fail "setup: cluster is not sound on 3.0"; return 1; }
  # E2E_LENIENT=1: daemons accept a config of an older minor, as the real
  # 3.1 daemons do (the fake is strict by default).
  if [ "${E2E_LENIENT:-0}" = 1 ]; then
    for n in "${NODES[@]}"; do touch "$W/nodes/$n/root/var/lib/ganeti/fake-daemons-lenient"; done
  fi
  # Snapshot of every node's /var/lib/ganeti for fast_reset.
  for n in "${NODES[@]}"; do
    mkdir -p "$W/snap/$n"
    cp -a "$W/nodes/$n/root/var/lib/ganeti" "$W/snap/$n/" || { fail "setup: snapshot of $n"; return 1; }
  done
}

# fresh NAME [LIBDIR]: a clean cluster on 3.0 for the next test. Reuses the
# running cluster through fast_reset when there is one for the same LIBDIR
# (default /usr/lib; E2E_REUSE=0: always new).
fresh() {
  if [ -n "$W" ] && [ "${E2E_REUSE:-1}" = 1 ] && [ "$LIBDIR" = "${2:-/usr/lib}" ] &&
    fast_reset 2>>"$LOGDIR/reset.log"; then
    return 0
  fi
  cluster_up "$@"
}

# fast_reset: back to the state right after cluster_up: stop the daemons,
# kill a left-over ganeti-upgrade, restore /var/lib/ganeti from the snapshot,
# switch back to 3.0, empty /var/backups, start the daemons. About 4 s
# instead of a new cluster. Returns non-zero if the result is not sound.
fast_reset() {
  local n p
  [ -d "$W/snap" ] || return 1
  for p in $(upgrade_pids); do x "$MASTER" kill -KILL "$p"; done
  for n in "${NODES[@]}"; do
    "$CL" node-up "$W" "$n" >/dev/null 2>&1
    x "$n" "$LIBDIR/ganeti/daemon-util" stop-all >/dev/null 2>&1 &
  done
  wait
  for n in "${NODES[@]}"; do
    # In place: these directories are bind mounts inside the node.
    find "$W/nodes/$n/root/var/lib/ganeti" "$W/nodes/$n/root/var/backups" \
      "$W/nodes/$n/root/var/log/ganeti" -mindepth 1 -delete
    cp -a "$W/snap/$n/ganeti/." "$W/nodes/$n/root/var/lib/ganeti/" || return 1
    rm -f "$W/nodes/$n/root/var/run/ganeti/"ganeti-upgrade.* "$W/nodes/$n/root/var/run/ganeti/"ganeti-*.pid
    x "$n" "$SWITCH" --libdir "$LIBDIR" to 3.0 --force >/dev/null 2>&1 ||
      x "$n" "$SWITCH" --libdir "$LIBDIR" repair >/dev/null 2>&1 || return 1
  done
  x "$MASTER" "$LIBDIR/ganeti/daemon-util" start-all >/dev/null 2>&1 || return 1
  for n in "${NODES[@]}"; do
    [ "$n" = "$MASTER" ] || x "$n" "$LIBDIR/ganeti/daemon-util" start-all >/dev/null 2>&1 &
  done
  wait
  E2E_QUIET=1 assert_state 3.0 --no-backup
}

cluster_down() {
  if [ -n "$W" ] && [ -d "$W" ]; then
    "$CL" down "$W" >/dev/null 2>&1 || true
    if [ "${E2E_KEEP:-0}" = 1 ]; then note "kept $W"; else rm -rf "$W"; fi
  fi
  W=""
}

# --- ganeti-upgrade ----------------------------------------------------------

RUN_SEQ=0
# run_upgrade [VAR=VALUE...] [--] ARGS...: run ganeti-upgrade on the master
# (with --switch-command); sets OUT (stdout, then stderr), OUTS (stdout only)
# and RC. ON=NODE runs it on another node.
run_upgrade() {
  local envs=()
  while [ $# -gt 0 ] && [[ $1 == *=* ]] && [[ $1 != -* ]]; do envs+=("$1"); shift; done
  [ "${1:-}" != -- ] || shift
  run_logged "${envs[*]} ganeti-upgrade $*" env "${envs[@]}" "$UPGRADE" --switch-command "$SWITCH" "$@"
}

# unit_resume: run on the master what the boot-time unit runs and nothing
# more: its ExecStart line, with the package's /etc/default file (EXTRA_ARGS
# empty), this tree's binary for /usr/sbin/ganeti-upgrade, systemd's
# environment (PATH only) and no stdin. In particular no --switch-command and
# no path option: a bare --resume must take them from what the run recorded.
# Sets RC, OUT and OUTS as run_upgrade.
unit_resume() {
  local line extra wait w
  local -a words=() more=() argv=()
  line=$(sed -n 's/^ExecStart=//p' "$UNIT")
  # shellcheck source=/dev/null
  extra=$(. "$UNIT_DEFAULTS" && printf '%s' "${EXTRA_ARGS:-}")
  # The file's BOOT_WAIT wins over the unit's Environment= (as systemd does).
  wait=$(sed -n 's/^Environment=BOOT_WAIT=//p' "$UNIT")
  # shellcheck source=/dev/null
  wait=$(. "$UNIT_DEFAULTS" && printf '%s' "${BOOT_WAIT:-$wait}")
  read -ra words <<<"$line"
  for w in "${words[@]}"; do
    case $w in
      /usr/sbin/ganeti-upgrade) argv+=("$UPGRADE") ;;
      # systemd splits an unbraced $VAR into words; empty gives none.
      \$EXTRA_ARGS) read -ra more <<<"$extra"; argv+=("${more[@]}") ;;
      # A braced ${VAR} stays one word.
      --vote-wait=\$\{BOOT_WAIT\}) argv+=("--vote-wait=$wait") ;;
      --node-wait=\$\{BOOT_WAIT\}) argv+=("--node-wait=$wait") ;;
      *\$* | *%*) RC=2 OUT="unit_resume: cannot expand '$w' of $UNIT"; OUTS=$OUT; return ;;
      *) argv+=("$w") ;;
    esac
  done
  run_logged "(as the unit) ${argv[*]}" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin "${argv[@]}" </dev/null
}

# run_logged DESC CMD...: run CMD on the master (ON=NODE: on NODE), logged
# under $LOGDIR; sets OUT, OUTS and RC.
run_logged() {
  local desc=$1 log
  shift
  RUN_SEQ=$((RUN_SEQ + 1))
  log=$LOGDIR/${CURRENT:-x}.run$RUN_SEQ.log
  printf '# %s\n' "$desc" >"$log"
  RC=0
  local t0
  t0=$(date +%s%N)
  OUTS=$(x "${ON:-$MASTER}" "$@" 2>"$log.err") || RC=$?
  OUT=$OUTS
  if [ -s "$log.err" ]; then OUT+=$'\n'$(cat "$log.err"); fi
  printf '%s\n# exit %s after %s ms\n' "$OUT" "$RC" "$((($(date +%s%N) - t0) / 1000000))" >>"$log"
  rm -f "$log.err"
}

# bg_upgrade [VAR=VALUE...] [--] ARGS...: same, in the background; sets BG_PID
# (host pid of the exec wrapper) and BG_LOG. Collect with bg_wait.
bg_upgrade() {
  local envs=()
  while [ $# -gt 0 ] && [[ $1 == *=* ]] && [[ $1 != -* ]]; do envs+=("$1"); shift; done
  [ "${1:-}" != -- ] || shift
  RUN_SEQ=$((RUN_SEQ + 1))
  BG_LOG=$LOGDIR/${CURRENT:-x}.run$RUN_SEQ.log
  printf '# (background) %s ganeti-upgrade %s\n' "${envs[*]}" "$*" >"$BG_LOG"
  x "$MASTER" env "${envs[@]}" "$UPGRADE" --switch-command "$SWITCH" "$@" >>"$BG_LOG" 2>&1 </dev/null &
  BG_PID=$!
}
# bg_wait [TIMEOUT_S]: wait for the background run; sets RC and OUT (RC=124 on timeout).
bg_wait() {
  local t=${1:-120} i=0
  while kill -0 "$BG_PID" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt $((t * 10)) ]; then
      upgrade_pids | while read -r p; do x "$MASTER" kill -KILL "$p"; done
      wait "$BG_PID" 2>/dev/null
      RC=124
      OUT="$(cat "$BG_LOG")"$'\n(timed out)'
      return
    fi
    sleep 0.1
  done
  RC=0
  wait "$BG_PID" || RC=$?
  OUT=$(tail -n +2 "$BG_LOG")
  printf '# exit %s\n' "$RC" >>"$BG_LOG"
}

# Pids (inside the master's pid namespace) of running ganeti-upgrade processes.
upgrade_pids() {
  # shellcheck disable=SC2016 # expanded by the node's shell
  x "$MASTER" sh -c 'for p in /proc/[0-9]*; do
      [ "$(cat "$p/comm" 2>/dev/null)" = ganeti-upgrade ] && echo "${p#/proc/}"; done; true'
}
# signal_upgrade SIG: send SIG to the running ganeti-upgrade on the master.
signal_upgrade() {
  local p ps
  ps=$(upgrade_pids)
  [ -n "$ps" ] || return 1
  for p in $ps; do x "$MASTER" kill "-$1" "$p"; done
}
# Path (on the host) of the WAIT_AT marker for step $1 on the master.
waitfile() { echo "$W/nodes/$MASTER/root/var/run/ganeti/ganeti-upgrade.waiting-$1"; }
# wait_at STEP [TIMEOUT_S]: wait until the background run waits before STEP.
wait_at() {
  local f
  f=$(waitfile "$1")
  wait_until "[ -e '$f' ] || ! kill -0 $BG_PID 2>/dev/null" $((${2:-60} * 10)) && [ -e "$f" ]
}
release_wait() { rm -f "$(waitfile "$1")"; }

# Journal step ids recorded done so far (host side), in order.
journal_steps() {
  python3 - "$W/nodes/$MASTER/root/var/lib/ganeti/ganeti-upgrade.journal" <<'EOF' 2>/dev/null
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    line = line.strip()
    if not line:
        continue
    try:
        rec = json.loads(line)
    except ValueError:
        print("UNPARSABLE:%d" % i)
        continue
    # Records: {"record": "header"|"started"|"done"|"rolled-back", "step": ...}
    if rec.get("record", "done") != "done" or "step" not in rec:
        continue
    print(rec["step"])
EOF
}

# node_cut NODE: make NODE unreachable over ssh. `cluster.sh node-down` stops
# only the listening sshd; ganeti-upgrade reuses ssh connections
# (ControlMaster), whose sshd session processes would survive it, so kill
# those too (by pid, inside the node).
node_cut() {
  "$CL" node-down "$W" "$1" >/dev/null 2>&1
  # shellcheck disable=SC2016 # expanded by the node's shell
  x "$1" sh -c 'for p in /proc/[0-9]*; do
      [ "$(cat "$p/comm" 2>/dev/null)" = sshd ] && kill -KILL "${p#/proc/}"; done; true'
}
node_uncut() { "$CL" node-up "$W" "$1" >/dev/null 2>&1; }

# --- state -------------------------------------------------------------------

# probe NODE: the node's state lines (see probe.sh).
probe() { x "$1" "$PROBE" "$SWITCH" "$LIBDIR"; }
# pv KEY <<< PROBE_OUTPUT: value(s) of KEY.
pv() { sed -n "s/^$1=//p"; }

# Filters in the master's config.data: one line "ACTION<TAB>REASON" each.
filters() {
  python3 - "$W/nodes/$MASTER/root/var/lib/ganeti/config.data" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
for f in (cfg.get("filters") or {}).values():
    reason = ", ".join(str(r[1]) for r in f.get("reason_trail", []))
    print("%s\t%s" % (f.get("action"), reason))
EOF
}

# online_nodes: nodes not marked offline in the master's config.
online_nodes() {
  python3 - "$W/nodes/$MASTER/root/var/lib/ganeti/config.data" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
for name, n in sorted(cfg.get("nodes", {}).items()):
    if not n.get("offline"):
        print(name.split(".")[0])
EOF
}

# assert_state VERSION [options]: the end state on every node, as FAIL/ok lines
# (the version trees are those of the cluster's $LIBDIR).
#   --drain / --watcher-paused   expect these to be set (default: not set)
#   --no-backup                  expect no backup tar (default: >= 1, all 0600)
#   --nodes "node1 node2"        only these nodes (default: the online nodes)
#   --filters N                  expect exactly N filters (default 0) and none of ours
#   --label TEXT                 prefix for the check names
# With E2E_QUIET=1 it only returns the status (no ok lines, no counting).
assert_state() {
  local v=$1 drain=no wp=no backup=yes nfilt=0 label="" nodes="" n p rel want_cfg
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --drain) drain=yes ;;
      --watcher-paused) wp=yes ;;
      --no-backup) backup=no ;;
      --nodes) nodes=$2; shift ;;
      --filters) nfilt=$2; shift ;;
      --label) label="$2: "; shift ;;
      *) echo "assert_state: bad option $1" >&2; return 2 ;;
    esac
    shift
  done
  [ -n "$nodes" ] || nodes=$(online_nodes 2>/dev/null | tr '\n' ' ')
  [ -n "$nodes" ] || nodes=${NODES[*]}
  rel=${RELEASE[$v]}
  want_cfg=${CFGVER[$v]}
  local problems=() d daemons got
  for n in $nodes; do
    p=$(probe "$n")
    [ "$(pv lib <<<"$p")" = "$LIBDIR/ganeti/$v" ] || problems+=("$n: /etc/ganeti/lib -> $(pv lib <<<"$p"), want $LIBDIR/ganeti/$v")
    [ "$(pv share <<<"$p")" = "/usr/share/ganeti/$v" ] || problems+=("$n: /etc/ganeti/share -> $(pv share <<<"$p"), want /usr/share/ganeti/$v")
    [ "$(pv config_version <<<"$p")" = "$want_cfg" ] || problems+=("$n: config.data version $(pv config_version <<<"$p"), want $want_cfg")
    got=$(pv switch_check <<<"$p")
    [ "${got%% *}" = 0 ] || problems+=("$n: ganeti-switch check: $got")
    if [ "$n" = "$MASTER" ]; then daemons=("${MASTER_DAEMONS[@]}"); else daemons=("${NODE_DAEMONS[@]}"); fi
    for d in "${daemons[@]}"; do
      grep -qx "daemon=$d $rel alive" <<<"$p" || problems+=("$n: $d not running $rel: $(grep "^daemon=$d " <<<"$p" || echo 'no pid file')")
    done
    while read -r got; do
      [ -n "$got" ] && problems+=("$n: daemon of another release alive: $got")
    done < <(pv daemon <<<"$p" | grep ' alive$' | grep -v " $rel alive$")
    if [ "$n" = "$MASTER" ]; then
      [ "$(pv drain <<<"$p")" = "$drain" ] || problems+=("$n: queue drained=$(pv drain <<<"$p"), want $drain")
      [ "$(pv watcher_paused <<<"$p")" = "$wp" ] || problems+=("$n: watcher paused=$(pv watcher_paused <<<"$p"), want $wp")
      got=$(pv proc <<<"$p")
      [ -z "$got" ] || problems+=("$n: still running: $got")
      [ -z "$(pv waiting <<<"$p")" ] || problems+=("$n: wait marker left: $(pv waiting <<<"$p")")
      if [ "$backup" = yes ]; then
        got=$(pv backup <<<"$p")
        if [ -z "$got" ]; then problems+=("$n: no /var/backups/ganeti-upgrade-*.tar")
        elif grep -qv '^600 ' <<<"$got"; then problems+=("$n: backup mode not 0600: $got"); fi
      else
        [ -z "$(pv backup <<<"$p")" ] || problems+=("$n: unexpected backup: $(pv backup <<<"$p")")
      fi
      local fl
      fl=$(filters 2>&1)
      [ "$(grep -c . <<<"$fl")" = "$nfilt" ] || problems+=("$n: $(grep -c . <<<"$fl") filters, want $nfilt: $fl")
      ! grep -qi 'upgrade' <<<"$fl" || problems+=("$n: a filter of ganeti-upgrade is left: $fl")
    fi
    # Every node: no intent file, no journal (also a stale one on a non-master).
    [ "$(pv intent <<<"$p")" = none ] || problems+=("$n: intent file left: $(pv intent <<<"$p")")
    [ "$(pv journal <<<"$p")" = no ] || problems+=("$n: journal left")
  done
  if [ "${E2E_QUIET:-0}" = 1 ]; then
    [ "${#problems[@]}" = 0 ] || { printf '%s\n' "${problems[@]}" >&2; return 1; }
    return 0
  fi
  if [ "${#problems[@]}" = 0 ]; then
    pass "${label}end state on $v on every node ($nodes)"
  else
    fail "${label}end state on $v on every node ($nodes)" "$(printf '%s\n' "${problems[@]}")"
    return 1
  fi
}

# Short dump of every node's state (for failures).
dump_state() {
  local n
  for n in "${NODES[@]}"; do
    echo "== $n"
    probe "$n" | grep -v '^host='
  done
}

# --- by hand (helpers' self-test without ganeti-upgrade) ---------------------

# manual_change V: what the upgrade does, done by hand (3.0 <-> 3.1).
manual_change() {
  local v=$1 n down=0
  [ "$v" = 3.0 ] && down=1
  local lib=$LIBDIR/ganeti
  for n in "${NODES[@]}"; do x "$n" "$lib/daemon-util" stop-all || return 1; done
  if [ "$down" = 1 ]; then x "$MASTER" "$lib/tools/cfgupgrade" --downgrade -f || return 1; fi
  for n in "${NODES[@]}"; do x "$n" "$SWITCH" --libdir "$LIBDIR" to "$v" || return 1; done
  if [ "$down" = 0 ]; then x "$MASTER" "$lib/tools/cfgupgrade" -f || return 1; fi
  for n in "${NODES[@]}"; do x "$n" "$lib/ensure-dirs" --full-run || return 1; done
  x "$MASTER" "$lib/daemon-util" start-all || return 1
  x "$MASTER" gnt-cluster redist-conf --yes-do-it || return 1
  for n in "${NODES[@]}"; do
    [ "$n" = "$MASTER" ] && continue
    x "$n" "$lib/daemon-util" start-all || return 1
  done
  mkdir -p "$W/nodes/$MASTER/root/var/backups"
  tar -C "$W/nodes/$MASTER/root" -cf "$W/nodes/$MASTER/root/var/backups/ganeti-upgrade-$(date +%s).tar" var/lib/ganeti
  chmod 600 "$W/nodes/$MASTER/root/var/backups/"ganeti-upgrade-*.tar
}
