# lib.sh -- shared by scenarios.sh and bench.sh (sourced, not run).
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source it

REAL_GANETI_DIR=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
HARNESS=$REAL_GANETI_DIR/harness.sh
TOP=$(cd "$REAL_GANETI_DIR/../.." && pwd)
BIN_DIR=${GANETI_BIN_DIR:-$TOP/target/debug}
# The tree as the harness chooses it (REAL_GANETI_ROOT, or the default of
# the REAL_GANETI_31 variant).
ROOT=$("$HARNESS" root)
# ganeti-switch as installed in the node by `harness.sh install-bin`
SWITCH=/usr/local/sbin/ganeti-switch
# The daemons `daemon-util start-all` leaves running (kvmd exits at once
# without KVM; metad starts on demand).
DAEMONS=(ganeti-noded ganeti-confd ganeti-wconfd ganeti-rapi ganeti-luxid ganeti-mond)

now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }
# seconds with two decimals between two now_us readings
elapsed() { local d=$(( ($2 - $1) / 10000 )); printf '%d.%02d' $((d / 100)) $((d % 100)); }

h() { "$HARNESS" "$@"; }
x() { "$HARNESS" x "$@"; }

# Our three binaries and the probe into the node's /usr/local/sbin.
install_tools() {
  local b
  for b in ganeti-layout ganeti-switch ganeti-upgrade; do
    [ -x "$BIN_DIR/$b" ] || { echo "$BIN_DIR/$b is missing (build it first)" >&2; return 2; }
  done
  h install-bin "$BIN_DIR/ganeti-layout" "$BIN_DIR/ganeti-switch" \
    "$BIN_DIR/ganeti-upgrade" "$REAL_GANETI_DIR/gnt-probe"
}

# probe: the node's state (see gnt-probe) into PROBE; field KEY reads it.
PROBE=""
probe() { PROBE=$(x gnt-probe "${DAEMONS[@]}" 2>&1) || :; }
field() { printf '%s\n' "$PROBE" | sed -n "s/^$1=//p" | head -n 1; }

# The node's commands.log: log_lines now, then log_since THAT_COUNT gives
# what one run of ours logged.
COMMANDS_LOG=/var/log/ganeti/commands.log
log_lines() { x sh -c "if [ -f $COMMANDS_LOG ]; then wc -l < $COMMANDS_LOG; else echo 0; fi"; }
log_since() { x tail -n "+$(($1 + 1))" "$COMMANDS_LOG" 2>/dev/null; }

config_of() { case $1 in 3.0) echo 3000000 ;; 3.1) echo 3010000 ;; esac; }
other() { case $1 in 3.0) echo 3.1 ;; 3.1) echo 3.0 ;; esac; }

# settled_problems VERSION: after probe, what keeps the cluster from being
# settled on VERSION (one short phrase each; nothing = settled). The backups
# are left to the caller.
settled_problems() {
  local v=$1
  [ "$(field links)" = "/usr/lib/ganeti/$v /usr/share/ganeti/$v" ] || echo "links: $(field links)"
  [ "$(field config)" = "$(config_of "$v")" ] || echo "config.data: $(field config)"
  [ "$(field software)" = "$v" ] || echo "code: $(field software)"
  [ -z "$(field down)" ] || echo "down: $(field down)"
  [ "$(field exe)" = "$v" ] || echo "daemon binaries: $(field exe)"
  [ "$(field queue)" = "The drain flag is unset" ] || echo "queue: $(field queue)"
  [ "$(field watcher)" = running ] || echo "watcher: $(field watcher)"
  [ -z "$(field left)" ] || echo "left: $(field left)"
  [ "$(field inst1)" = "inst1 running" ] || echo "inst1: $(field inst1)"
}
