# checks.sh -- what scenarios.sh and cluster-scenarios.sh share: the check
# helpers (ok/FAIL lines, counted in passed/failed/failures) and running
# ganeti-upgrade on the master, in the foreground or waiting at a step.
# Sourced after lib.sh; uses the caller's x (the master), LOGDIR, RUN_LIMIT,
# OPTS and WAITDIR, and sets SETTLED=broken when a run never reached its wait.
# shellcheck shell=bash disable=SC2034

ok()   { passed=$((passed + 1)); printf 'ok     %s\n' "$1"; }
fail() {
  failed=$((failed + 1)); failures+=("$1")
  printf 'FAIL   %s%s\n' "$1" "${2:+: $2}"
}
# check NAME EXPECTED GOT
check() { if [ "$3" = "$2" ]; then ok "$1"; else fail "$1" "got '$3', expected '$2'"; fi; }
# check_rc NAME EXPECTED_RC RC [LOG]: on a mismatch, show the log's tail
check_rc() {
  if [ "$3" = "$2" ]; then ok "$1 (exit $3)"; return 0; fi
  fail "$1" "exit $3, expected $2${4:+; log $4}"
  [ -z "${4:-}" ] || tail -n 8 "$4" | sed 's/^/       | /'
  return 1
}
# check_grep NAME PATTERN FILE
check_grep() {
  if grep -qE -- "$2" "$3"; then ok "$1"; else fail "$1" "no /$2/ in $3"; fi
}

RC=0
# tool LOGNAME [VAR=VALUE...] -- ARGS...: ganeti-upgrade in the node, timed
tool() {
  local log=$LOGDIR/$1.log envs=() t
  shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  t=$(now_us)
  RC=0
  x timeout -k 5 "$RUN_LIMIT" env "${envs[@]}" ganeti-upgrade "$@" >"$log" 2>&1 || RC=$?
  printf 'TIME   %-44s %ss (exit %s)\n' "ganeti-upgrade $* ${envs[*]}" "$(elapsed "$t" "$(now_us)")" "$RC" \
    | sed "s| ${OPTS[*]}||"
}

# tool_waiting LOGNAME STEP ARGS...: start ganeti-upgrade with WAIT_AT=STEP in
# the background; returns when it waits (WAIT_PID = its pid in the node,
# BG = the host job) or fails.
BG="" WAIT_PID="" BG_T0=0 BG_WHAT=""
tool_waiting() {
  local name=$1 step=$2 i
  shift 2
  RC=0
  BG_T0=$(now_us)
  BG_WHAT="ganeti-upgrade $* GANETI_UPGRADE_WAIT_AT=$step"
  x timeout -k 5 "$RUN_LIMIT" env GANETI_UPGRADE_WAIT_AT="$step" ganeti-upgrade "$@" \
    >"$LOGDIR/$name.log" 2>&1 &
  BG=$!
  WAIT_PID=""
  for i in $(seq 600); do
    WAIT_PID=$(x cat "$WAITDIR/ganeti-upgrade.waiting-$step" 2>/dev/null) && break
    kill -0 "$BG" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$WAIT_PID" ] && return 0
  SETTLED=broken
  kill -0 "$BG" 2>/dev/null || { wait "$BG" || RC=$?; }
  fail "$name: reached the wait at $step" "after ${i}x0.2s; exit $RC; log $LOGDIR/$name.log"
  return 1
}
# tool_continue STEP: let a waiting run go on and collect its exit code in RC
tool_continue() {
  x rm -f "$WAITDIR/ganeti-upgrade.waiting-$1"
  RC=0
  wait "$BG" || RC=$?
  printf 'TIME   %-44s %ss (exit %s, including the wait)\n' "$BG_WHAT" "$(elapsed "$BG_T0" "$(now_us)")" "$RC" \
    | sed "s| ${OPTS[*]}||"
}

