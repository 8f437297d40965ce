#!/bin/bash
# probe.sh [SWITCH [LIBDIR]] -- runs INSIDE a node (cluster.sh exec) and prints
# the node's Ganeti state as KEY=VALUE lines, one fact per line, for lib.sh to
# compare. It changes nothing. SWITCH is the ganeti-switch binary used for
# `ganeti-switch check` (skipped when empty), LIBDIR the node's libdir
# (default /usr/lib).
set -u
SWITCH=${1:-}
LIBDIR=${2:-/usr/lib}
D=/var/lib/ganeti
R=/var/run/ganeti

echo "host=$(hostname)"
echo "lib=$(readlink /etc/ganeti/lib 2>/dev/null || echo MISSING)"
echo "share=$(readlink /etc/ganeti/share 2>/dev/null || echo MISSING)"
cv=$(python3 -c 'import json,sys
try:
    print(json.load(open(sys.argv[1]))["version"])
except Exception:
    print("MISSING")' "$D/config.data" 2>/dev/null)
echo "config_version=$cv"
echo "master=$(tr -d '\n' <"$D/ssconf_master_node" 2>/dev/null)"
echo "offline_nodes=$(tr '\n' ' ' <"$D/ssconf_offline_nodes" 2>/dev/null)"
# daemon=<name> <release> <alive|dead>: one line per pid file.
for pf in "$R"/ganeti-*.pid; do
  [ -e "$pf" ] || continue
  d=$(basename "$pf" .pid)
  pid=$(tr -dc 0-9 <"$pf")
  rel=$(cat "${pf%.pid}.release" 2>/dev/null || echo none)
  state=dead
  if [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "${d:0:15}" ]; then
    state=alive
  fi
  echo "daemon=$d $rel $state"
done
# Processes named ganeti-* that are alive, whatever the pid files say.
for p in /proc/[0-9]*; do
  c=$(cat "$p/comm" 2>/dev/null) || continue
  case $c in ganeti-upgrade | ganeti-switch) echo "proc=$c ${p#/proc/}" ;; esac
done
if [ -e "$D/queue/drain" ]; then echo drain=yes; else echo drain=no; fi
wp=no
if [ -f "$D/watcher.pause" ]; then
  until=$(tr -dc 0-9 <"$D/watcher.pause")
  if [ -n "$until" ] && [ "$until" -gt "$(date +%s)" ]; then wp=yes; fi
fi
echo "watcher_paused=$wp"
if [ -e "$D/intent-to-upgrade" ]; then echo "intent=$(cat "$D/intent-to-upgrade")"; else echo intent=none; fi
if [ -e "$D/ganeti-upgrade.journal" ]; then echo journal=yes; else echo journal=no; fi
for w in "$R"/ganeti-upgrade.waiting-*; do
  [ -e "$w" ] && echo "waiting=${w##*waiting-}"
done
for b in /var/backups/ganeti-upgrade-*.tar; do
  [ -e "$b" ] && echo "backup=$(stat -c '%a' "$b") $b"
done
if [ -n "$SWITCH" ]; then
  out=$("$SWITCH" --libdir "$LIBDIR" check 2>&1)
  echo "switch_check=$? $(printf '%s' "$out" | tr '\n' ' ')"
fi
exit 0
