#!/bin/bash
# booted.sh -- three real Ganeti nodes that BOOT: systemd as PID 1 (in
# systemd-nspawn), Debian's cron running /etc/cron.d/ganeti, Ganeti started
# at boot by its init script (or, with REAL_GANETI_31=sid, by sid's native
# systemd units), and this toolkit installed from its own .deb (its
# ganeti-upgrade-resume.service, cron.d file and /etc/default/ganeti-upgrade).
# Nodes can lose power or reboot cleanly, and boot again.
#
#   booted.sh setup             the tree (harness.sh setup), the toolkit's .deb
#                               (cached by source, else built by
#                               tests/packaging/buildd.sh) and the boot layer
#                               (systemd-sysv, cron, the .deb), each cached
#   booted.sh start [3.0|3.1]   a fresh booted cluster on that version: node
#                               states from the cache of an initialized
#                               cluster (made once: boot, gnt-cluster init,
#                               2 x gnt-node add, inst1, clean power-off),
#                               the 3 nodes booted, Ganeti up on each
#   booted.sh x NODE CMD...     run CMD as root in NODE (node1, node2, node3)
#   booted.sh cut NODE          power cut: the node's port goes dark, all its
#                               processes die at once (no shutdown)
#   booted.sh power-on NODE     boot a node that is off
#   booted.sh reboot NODE       a clean reboot: `systemctl reboot` inside; the
#                               node boots again by itself
#   booted.sh wait-up NODE [S]  wait (at most S seconds, default 180) until
#                               NODE's boot is finished (systemd's
#                               is-system-running no longer "starting")
#   booted.sh boots NODE        how many times NODE booted since start
#   booted.sh status            one line per node; exit 3 unless all run
#   booted.sh stop              every node off, nothing left behind
#
# Each node runs in its own mount namespace (an overlay: the harness's tree,
# the boot layer, the node's own upper directory, which lives across its
# reboots) and, for each boot, a fresh network namespace: a bridge gntbr0
# with the node's address and a veth whose peer is a port of the switch's
# bridge (in a namespace of its own), as harness.sh cluster3 does. The
# host's mounts and network are never changed.
#
# Environment: REAL_GANETI_31 and REAL_GANETI_ROOT as for harness.sh (the
# booted data lives next to the tree, in $REAL_GANETI_ROOT.booted),
# GANETI_DEB_CACHE (tests/packaging/lib.sh), BOOTED_DEB (install this .deb
# instead of the one built from this source), BOOTED_WATCHER_SCHEDULE (the
# minute field of the watcher's plain line in /etc/cron.d/ganeti; default
# "*": every minute, instead of Debian's every thirty). Exit code 125: the harness
# itself failed.
set -euo pipefail

SELF=$(readlink -f -- "${BASH_SOURCE[0]}")
HERE=$(dirname -- "$SELF")
TOP=$(cd "$HERE/../.." && pwd)
HARNESS=$HERE/harness.sh
TREE=$("$HARNESS" root)
B=$TREE.booted
LAYER=$B/layer
RUN=$B/run

# What the boot layer is made of; any change here rebuilds it.
LAYER_REVISION=2
BOOT_PACKAGES=(systemd-sysv cron)
WATCHER_SCHEDULE=${BOOTED_WATCHER_SCHEDULE:-*}
# The initialized clusters' cache; bump when init changes.
INIT_REVISION=3

NODES=(node1.gnt.test node2.gnt.test node3.gnt.test)
IPS=(192.0.2.11 192.0.2.12 192.0.2.13)
CLUSTER=cluster.gnt.test
CLUSTER_IP=192.0.2.100
BRIDGE=gntbr0
SWITCH_BRIDGE=sw0
POOL=2
NODE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# systemd-nspawn's exit code when the container asked for a reboot.
NSPAWN_REBOOT=133

say() { printf 'booted: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 125; }
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }
elapsed() { local d=$(( ($2 - $1) / 10000 )); printf '%d.%02d' $((d / 100)) $((d % 100)); }
need_root() { [ "$(id -u)" = 0 ] || die "needs root (overlay mounts, namespaces, systemd-nspawn)"; }

# shellcheck source-path=SCRIPTDIR source=../packaging/lib.sh
. "$HERE/../packaging/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/netns.sh
. "$HERE/../lib/netns.sh"

# spawn LOG CMD...: CMD in the background, detached (its own session), with
# no descriptor but stdin (/dev/null), stdout and stderr (LOG): the nodes
# outlive the command that started them, and must not keep its lock files
# (flock's, ours) or its caller's pipes open.
spawn() {
  local log=$1 fd
  shift
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || :; fi
    done
    exec setsid "$@" </dev/null >>"$log" 2>&1
  ) &
  SPAWNED=$!
}
SPAWNED=""

# One booted.sh command that changes the cluster at a time (fd 8).
take_lock() {
  mkdir -p "$B"
  exec 8>"$B/lock"
  flock -w 900 8 || die "another booted.sh command holds $B/lock"
}

# ---------------------------------------------------------------- nodes

# node_index NODE: 1..3 from node1, node1.gnt.test or 1
node_index() {
  local n=${1#node}
  n=${n%%.*}
  [[ $n =~ ^[1-3]$ ]] || die "no node $1 (node1, node2, node3)"
  echo "$n"
}
ndir() { echo "$RUN/node$1"; }

# The host pid of the node's init (systemd), if it runs.
init_pid() {
  local d pid
  d=$(ndir "$1")
  [ -s "$d/init.pid" ] || return 1
  read -r pid < "$d/init.pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] || return 1
  echo "$pid"
}

supervisor_pid() {
  local d pid
  d=$(ndir "$1")
  [ -s "$d/supervisor.pid" ] || return 1
  read -r pid < "$d/supervisor.pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "__supervise $1" || return 1
  echo "$pid"
}

switch_pid() {
  local pid
  [ -s "$RUN/switch.pid" ] || return 1
  read -r pid < "$RUN/switch.pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/ns/net")" = "$(cat "$RUN/switch.netns" 2>/dev/null)" ] || return 1
  echo "$pid"
}

# node_exec N CMD...: as root in the node, with a clean environment.
node_exec() {
  local n=$1 pid
  shift
  pid=$(init_pid "$n") || die "node$n is not running"
  nsenter --target "$pid" --mount --uts --ipc --net --pid --cgroup --root --wd \
    env -i PATH="$NODE_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "$@" 8>&-
}

# Runs in the node's own mount namespace for as long as the node has power:
# mounts its root, then boots it again and again while it asks for reboots.
internal_supervise() {
  local n=$1 d lowers rc pid
  d=$(ndir "$n")
  lowers=$LAYER:$TREE
  mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$d/upper,workdir=$d/work" "$d/root"
  while :; do
    echo "$(date -u +%FT%TZ) boot" >> "$d/boots"
    rm -f "$d/init.pid"
    # A fresh network namespace for each boot (as a real node's network
    # stack starts anew); nspawn joins it.
    unshare --net -- "$SELF" __boot "$n" >>"$d/console.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" > "$d/nspawn.pid"
    # The container's init is the child of nspawn that runs systemd in a
    # pid namespace of its own (nspawn's helper children come and go first).
    for _ in $(seq 300); do
      local c
      # shellcheck disable=SC2013 # a list of pids
      for c in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
        if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] &&
           [ "$(readlink "/proc/$c/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
          echo "$c" > "$d/init.pid.new" && mv -f "$d/init.pid.new" "$d/init.pid"
          break 2
        fi
      done
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    rc=0
    wait "$pid" || rc=$?
    echo "$(date -u +%FT%TZ) nspawn exit $rc" >> "$d/boots"
    rm -f "$d/init.pid"
    [ "$rc" = "$NSPAWN_REBOOT" ] || break
  done
  umount "$d/root" || umount -l "$d/root"
}

# The host's cgroup2 hierarchy: /sys/fs/cgroup/unified on a hybrid host
# (cgroup v1 controllers), /sys/fs/cgroup on a unified one.
cgroup2_root() {
  local d
  for d in /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [ "$(stat -f -c %T "$d" 2>/dev/null)" = cgroup2fs ]; then echo "$d"; return 0; fi
  done
  return 1
}
# Each node's own cgroup: with --keep-unit, nspawn makes the cgroup it runs
# in the container's root, and three containers sharing one would remove
# each other's unit cgroups (systemd then fails to start a unit: "Failed to
# attach to cgroup ...: No such file or directory").
node_cgroup() { echo "$(cgroup2_root)/ganeti-booted/$(basename "$(dirname "$TREE")")-node$1"; }
# The same cgroup in the name=systemd v1 hierarchy of a hybrid host (nspawn
# takes the container's cgroup path from there), if there is one.
node_cgroup_v1() {
  [ "$(stat -f -c %T /sys/fs/cgroup/systemd 2>/dev/null)" = cgroupfs ] || return 1
  echo "/sys/fs/cgroup/systemd/ganeti-booted/$(basename "$(dirname "$TREE")")-node$1"
}

# rmdir_tree DIR: a cgroup and the ones below it, deepest first (a dead
# container leaves its units' empty cgroups behind).
rmdir_tree() {
  local d
  [ -d "$1" ] || return 0
  for d in "$1"/*/; do [ -d "$d" ] && rmdir_tree "${d%/}"; done
  rmdir "$1" 2>/dev/null || :
}

# Runs in a fresh network namespace: the node's network, then nspawn.
internal_boot() {
  local n=$1 sw cg
  sw=$(switch_pid) || { echo "no switch"; exit 1; }
  cg=$(node_cgroup "$n") || { echo "no cgroup2 hierarchy on this host"; exit 1; }
  rmdir_tree "$cg"
  mkdir -p "$cg"
  echo $$ > "$cg/cgroup.procs"
  if cg=$(node_cgroup_v1 "$n"); then
    rmdir_tree "$cg"
    mkdir -p "$cg"
    echo $$ > "$cg/cgroup.procs"
  fi
  netns_node_link "$sw" "n$n" "$SWITCH_BRIDGE" "$BRIDGE" "${IPS[n - 1]}/24"
  # The container's systemd on the unified cgroup hierarchy (a subtree of
  # the host's cgroup2 mount), as on Debian 12 and later: on this host's
  # hybrid hierarchy nspawn would give it cgroup v1, where systemd 252 loses
  # races between a oneshot's runs ("Failed to attach to cgroup
  # /system.slice/ganeti-common.service: No such file or directory", seen
  # with sid's units).
  export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
  exec systemd-nspawn --quiet --keep-unit --register=no --boot \
    --directory="$(ndir "$n")/root" --hostname="${NODES[n - 1]}" \
    --network-namespace-path=/proc/self/ns/net --capability=CAP_NET_ADMIN \
    --link-journal=no --resolv-conf=off --timezone=off --console=pipe
}

power_on() {
  local n=$1 d
  d=$(ndir "$n")
  if supervisor_pid "$n" >/dev/null; then die "node$n is already on"; fi
  rm -f "$d/init.pid" "$d/supervisor.pid"
  spawn "$d/supervisor.log" unshare --mount --propagation private -- "$SELF" __supervise "$n"
  echo "$SPAWNED" > "$d/supervisor.pid"
  for _ in $(seq 300); do
    init_pid "$n" >/dev/null && return 0
    # (Not supervisor_pid: until it has exec'd, the spawned process does not
    # show the supervisor's command line yet.)
    kill -0 "$SPAWNED" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$d/supervisor.log" "$d/console.log" >&2 2>/dev/null || :
  die "node$n did not start (see $d/supervisor.log and $d/console.log)"
}

# A power cut: the switch port goes dark first (nothing the dying node
# sends gets out, as with a real power loss), then every process of the
# node dies at once with its init.
power_cut() {
  local n=$1 pid sw sup
  sw=$(switch_pid) || :
  [ -z "$sw" ] || nsenter --net="/proc/$sw/ns/net" ip link set "n$n" down 2>/dev/null || :
  pid=$(init_pid "$n") || :
  [ -z "$pid" ] || kill -KILL "$pid"
  sup=$(supervisor_pid "$n") || :
  if [ -z "$pid" ] && [ -n "$sup" ]; then
    # No init known (the node is still coming up): its nspawn and whatever
    # runs below it.
    # shellcheck disable=SC2046 # a list of pids
    kill -KILL $(descendants "$sup") 2>/dev/null || :
  fi
  for _ in $(seq 200); do
    if [ -z "$sup" ] || [ ! -d "/proc/$sup" ]; then break; fi
    sleep 0.05
  done
  if [ -n "$sup" ] && [ -d "/proc/$sup" ]; then die "node$n: its supervisor $sup did not end"; fi
  rm -f "$(ndir "$n")/init.pid" "$(ndir "$n")/supervisor.pid"
}

# descendants PID: the host pids of PID's children, grandchildren, ...
descendants() {
  local c
  # shellcheck disable=SC2013 # a list of pids
  for c in $(cat "/proc/$1/task/"*/children 2>/dev/null); do
    echo "$c"
    descendants "$c"
  done
}

wait_up() {
  local n=$1 limit=${2:-180} t0 state=""
  t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$limit" ]; do
    if init_pid "$n" >/dev/null; then
      state=$(node_exec "$n" systemctl is-system-running 2>/dev/null) || :
      case $state in running|degraded) return 0 ;; esac
    fi
    sleep 0.5
  done
  die "node$n did not finish booting in ${limit}s (systemctl is-system-running: ${state:-no answer})"
}

boots() { grep -c ' boot$' "$(ndir "$1")/boots" 2>/dev/null || echo 0; }

stop_all() {
  local i pid p
  for i in 1 2 3; do
    if supervisor_pid "$i" >/dev/null || init_pid "$i" >/dev/null; then power_cut "$i"; fi
  done
  if pid=$(switch_pid); then
    kill -KILL "$pid"
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.05; done
  fi
  rm -f "$RUN/switch.pid" "$RUN/switch.netns"
  for i in 1 2 3; do
    rmdir_tree "$(node_cgroup "$i")"
    if p=$(node_cgroup_v1 "$i"); then rmdir_tree "$p"; fi
  done
  rmdir "$(dirname "$(node_cgroup 1)")" 2>/dev/null || :
  if p=$(node_cgroup_v1 1); then rmdir "$(dirname "$p")" 2>/dev/null || :; fi
  # Nothing may be left with a root below the nodes.
  for _ in $(seq 50); do
    p=$(leftover_processes)
    [ -z "$p" ] && break
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL $p 2>/dev/null || :
    sleep 0.1
  done
}

leftover_processes() {
  local d r
  for d in /proc/[0-9]*; do
    r=$(readlink "$d/root" 2>/dev/null) || continue
    if [[ $r == "$RUN/"* ]]; then echo "${d#/proc/}"; fi
    tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -q -- "$SELF __" && echo "${d#/proc/}"
  done | sort -u | grep -v "^$$\$" || :
}

start_switch() {
  local sw=""
  rm -f "$RUN/switch.pid" "$RUN/switch.netns"
  : > "$RUN/switch.log"
  spawn "$RUN/switch.log" unshare --net --pid --fork -- "$SELF" __switch
  for _ in $(seq 100); do
    sw=$(cat "$RUN/switch.pid" 2>/dev/null) && [ -n "$sw" ] && break
    sleep 0.05
  done
  [ -n "$sw" ] || die "the switch namespace did not come up ($RUN/switch.log)"
  readlink "/proc/$sw/ns/net" > "$RUN/switch.netns"
}

internal_switch() { netns_switch_body "$SWITCH_BRIDGE" "$RUN/switch.pid"; }

# ---------------------------------------------------------------- setup

# The toolkit's .deb for the current source: cached, or built now.
toolkit_deb() {
  local key deb
  if [ -n "${BOOTED_DEB:-}" ]; then
    [ -f "$BOOTED_DEB" ] || die "BOOTED_DEB=$BOOTED_DEB is not a file"
    echo "$BOOTED_DEB"; return 0
  fi
  key=$(source_key "$TOP")
  if deb=$(cached_deb bookworm "$key"); then echo "$deb"; return 0; fi
  say "no .deb of this source (key $key) in $DEB_CACHE; building it with tests/packaging/buildd.sh"
  GANETI_BUILDD_ONLY_BUILD=1 GANETI_BUILDD_SUITES=bookworm bash "$TOP/tests/packaging/buildd.sh" >&2 \
    || die "tests/packaging/buildd.sh failed"
  cached_deb bookworm "$key" || die "buildd.sh left no .deb for key $key in $DEB_CACHE"
}

layer_recipe() {   # DEB
  printf 'revision %s\ntree %s\npackages %s\ndeb %s\nwatcher-schedule %s\n' \
    "$LAYER_REVISION" "$(head -n1 "$TREE.harness/stamp")" "${BOOT_PACKAGES[*]}" \
    "$(sha256sum < "$1" | cut -c1-16)" "$WATCHER_SCHEDULE"
}

# Runs in a private mount namespace: the layer over the tree, at $B/mnt.
internal_build_layer() {
  local deb=$1 m=$B/mnt
  mkdir -p "$m" "$LAYER.new" "$B/layer-work"
  mount -t overlay overlay -o "lowerdir=$TREE,upperdir=$LAYER.new,workdir=$B/layer-work" "$m"
  mount -t proc proc "$m/proc"
  mount -t sysfs sysfs "$m/sys"
  mount --rbind /dev "$m/dev"
  mount -t tmpfs tmp "$m/tmp"
  inroot() {
    chroot "$m" /usr/bin/env -i PATH="$NODE_PATH" HOME=/root LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive "$@"
  }
  cp -L /etc/resolv.conf "$m/etc/resolv.conf"
  inroot apt-get update -q
  # From bookworm (500), whichever 3.1 suite the tree has at 100.
  inroot apt-get install -y -q "${BOOT_PACKAGES[@]}"
  cp -- "$deb" "$m/tmp/toolkit.deb"
  inroot dpkg -i /tmp/toolkit.deb
  inroot apt-get clean
  # The watcher as Debian's cron runs it, more often: only the schedule of
  # its plain line (every 30 minutes as shipped) changes, not what cron
  # runs. (Not the every-5-minutes line: it passes --no-strict, which the
  # 3.1 package's cron file has and 3.0's ganeti-watcher refuses, so on a
  # cluster running 3.0 it never runs.)
  sed -i "s|^\\*/30 \\* \\* \\* \\* root \\(.*/usr/sbin/ganeti-watcher\\)\$|$WATCHER_SCHEDULE * * * * root \\1|" "$m/etc/cron.d/ganeti"
  grep -qxF "$WATCHER_SCHEDULE * * * * root [ -x /usr/sbin/ganeti-watcher ] && /usr/sbin/ganeti-watcher" "$m/etc/cron.d/ganeti" \
    || { echo "the watcher line of /etc/cron.d/ganeti was not found"; exit 1; }
  # sid's Ganeti ships native units: enabled as its postinst does on sid
  # (deb-systemd-helper of this bookworm base skips them: it does not read
  # their "WantedBy = ..." lines, with blanks around "=").
  if [ -f "$m/usr/lib/systemd/system/ganeti.target" ]; then
    inroot systemctl enable ganeti.target ganeti-node.target ganeti-master.target \
      ganeti-noded.service ganeti-confd.service ganeti-luxid.service ganeti-wconfd.service \
      ganeti-rapi.service ganeti-mond.service ganeti-kvmd.service
  fi
  # No console login on the nspawn console.
  inroot systemctl mask console-getty.service getty@.service container-getty@.service
  # The enablement the package scripts did under policy-rc.d, checked.
  inroot systemctl is-enabled ganeti-upgrade-resume.service ssh.service cron.service
  rm -f "$m/etc/resolv.conf"
  umount -R "$m"
}

cmd_setup() {
  need_root
  "$HARNESS" setup >&2 || die "harness.sh setup failed"
  command -v systemd-nspawn >/dev/null || {
    say "installing systemd-container on the host (systemd-nspawn)"
    install_missing systemd-container >&2
  }
  local deb want t0
  deb=$(toolkit_deb)
  want=$(layer_recipe "$deb")
  if [ -d "$LAYER" ] && [ "$(cat "$LAYER.stamp" 2>/dev/null)" = "$want" ]; then
    say "reusing the boot layer $LAYER ($(basename "$deb"))"
    return 0
  fi
  stop_all
  t0=$(now_us)
  say "building the boot layer: ${BOOT_PACKAGES[*]} and $(basename "$deb") (log: $B/layer.log)"
  "$HARNESS" pristine >&2 || die "harness.sh pristine failed"
  rm -rf --one-file-system -- "$LAYER" "$LAYER.new" "$LAYER.stamp" "$B/layer-work" "$B"/cluster-*.tar "$B"/cluster-*.stamp
  unshare --mount --propagation private -- "$SELF" __build-layer "$deb" >"$B/layer.log" 2>&1 \
    || { tail -n 20 "$B/layer.log" >&2; die "building the boot layer failed (log: $B/layer.log)"; }
  rm -rf --one-file-system -- "$B/layer-work"
  mv -- "$LAYER.new" "$LAYER"
  printf '%s\n' "$want" > "$LAYER.stamp"
  say "boot layer built in $(elapsed "$t0" "$(now_us)")s"
}

# ---------------------------------------------------------------- start

# The smallest OS definition Ganeti accepts, written inside a node.
# shellcheck disable=SC2016 # expanded by the node's shell
NOOP_OS_SCRIPT='d=/srv/ganeti/os/noop; mkdir -p $d; echo 20 > $d/ganeti_api_version
echo default > $d/variants.list; : > $d/parameters.list
for s in create export import rename verify; do printf "#!/bin/sh\nexit 0\n" > $d/$s; chmod 0755 $d/$s; done'

hosts_file() {
  local i
  printf '127.0.0.1\tlocalhost\n'
  for i in 0 1 2; do printf '%s\t%s %s\n' "${IPS[i]}" "${NODES[i]}" "${NODES[i]%%.*}"; done
  printf '%s\t%s %s\n' "$CLUSTER_IP" "$CLUSTER" "${CLUSTER%%.*}"
}

fresh_uppers() {
  local i d
  for i in 1 2 3; do
    d=$(ndir "$i")
    rm -rf --one-file-system -- "$d"
    mkdir -p "$d/upper/etc" "$d/work" "$d/root"
    hosts_file > "$d/upper/etc/hosts"
    echo "${NODES[i - 1]}" > "$d/upper/etc/hostname"
  done
}

boot_all() {
  local i
  for i in 1 2 3; do power_on "$i"; done
  for i in 1 2 3; do wait_up "$i" 300; done
}

# A new cluster on VERSION, on freshly booted nodes.
init_cluster() {
  local v=$1 log=$RUN/init.log i pub roles status
  : > "$log"
  failed() { tail -n 20 "$log" >&2; die "$1 (log: $log)"; }
  for i in 1 2 3; do
    node_exec "$i" sh -c "ln -sfnT /usr/lib/ganeti/$v /etc/ganeti/lib &&
      ln -sfnT /usr/share/ganeti/$v /etc/ganeti/share && $NOOP_OS_SCRIPT" || die "node$i: links"
    # sid's native units start at boot on a node outside any cluster:
    # ganeti-mond finds no hmac.key, exits, is restarted, and after five
    # quick restarts systemd refuses to start it for a while, so that
    # init's or node add's daemon-util start (a systemctl start) fails when
    # it comes within that window. Stopped and forgotten first, as Ganeti's
    # own node-daemon-setup stops every daemon before it starts them.
    # (Debian's packaging, not this toolkit; with the init script there are
    # no such units: nothing to stop.)
    node_exec "$i" sh -c 'systemctl stop "ganeti-*.service" 2>/dev/null; systemctl reset-failed "ganeti-*" 2>/dev/null; :' ||
      die "node$i: systemctl stop/reset-failed"
  done
  # cron runs the watcher every minute here: once init (or node add) has
  # written ssconf, a watcher run starts the daemons while init's own
  # daemon-util start-all does (start-stop-daemon then refuses confd's pid
  # file: "matching only on non-root pidfile ... is insecure"). cron is
  # stopped on every node until the cluster is made (a watcher.pause file
  # would not do: init refuses a data directory with files in it).
  for i in 1 2 3; do
    node_exec "$i" systemctl stop cron.service || die "node$i: systemctl stop cron"
  done
  node_exec 1 gnt-cluster init --enabled-hypervisors=fake \
    --enabled-disk-templates=diskless --master-netdev="$BRIDGE" \
    --nic-parameters=link="$BRIDGE" --no-etc-hosts --candidate-pool-size="$POOL" \
    "$CLUSTER" >>"$log" 2>&1 </dev/null || failed "gnt-cluster init failed"
  pub=$(node_exec 1 sh -c 'cat /root/.ssh/id_*.pub') || die "node1 has no root ssh key after init"
  for i in 2 3; do
    printf '%s\n' "$pub" | node_exec "$i" sh -c 'umask 077; mkdir -p /root/.ssh; cat >> /root/.ssh/authorized_keys' \
      || die "node$i: authorized_keys"
  done
  for i in 2 3; do
    node_exec 1 gnt-node add --no-ssh-key-check "${NODES[i - 1]}" >>"$log" 2>&1 </dev/null \
      || failed "gnt-node add ${NODES[i - 1]} failed"
  done
  node_exec 1 gnt-instance add -t diskless -o noop+default --no-name-check \
    --no-ip-check -n "${NODES[0]}" inst1 >>"$log" 2>&1 </dev/null || failed "gnt-instance add inst1 failed"
  status=$(node_exec 1 gnt-instance list --no-headers -o name,status inst1 2>>"$log") || status=""
  [ "$(echo "$status" | tr -s ' ')" = "inst1 running" ] || failed "inst1 is not running: $status"
  roles=$(node_exec 1 gnt-node list --no-headers -o name,role 2>>"$log" | awk '{ print $2 }' | paste -sd' ' -)
  [ "$roles" = "M C R" ] || failed "node roles are '$roles', expected 'M C R'"
  for i in 1 2 3; do
    node_exec "$i" systemctl start cron.service || die "node$i: systemctl start cron"
  done
}

# Every node powered off cleanly (their init stops Ganeti), then off.
poweroff_all() {
  local i
  for i in 1 2 3; do node_exec "$i" systemctl poweroff 2>/dev/null || :; done
  for i in 1 2 3; do
    for _ in $(seq 600); do supervisor_pid "$i" >/dev/null || break; sleep 0.1; done
    supervisor_pid "$i" >/dev/null && die "node$i did not power off"
  done
  rm -f "$RUN"/node?/supervisor.pid
}

cluster_ready() {   # VERSION: Ganeti answers on the master, every node on VERSION
  local v=$1 t0=$SECONDS out
  while [ $((SECONDS - t0)) -lt 180 ]; do
    out=$(node_exec 1 gnt-node list --no-headers -o name,role 2>/dev/null | awk '{ print $2 }' | paste -sd' ' -) || out=""
    [ "$out" = "M C R" ] && return 0
    sleep 1
  done
  die "the cluster on $v did not answer gnt-node list in 180s (got '$out')"
}

cmd_start() {
  local v=${1:-3.0} t0 cache stamp want i
  case $v in 3.0|3.1) ;; *) die "start: version 3.0 or 3.1, not $v" ;; esac
  need_root
  if [ ! -d "$LAYER" ] || [ ! -s "$LAYER.stamp" ]; then die "no boot layer; run: booted.sh setup"; fi
  t0=$(now_us)
  stop_all
  "$HARNESS" pristine >&2 || die "harness.sh pristine failed"
  mkdir -p "$RUN"
  cache=$B/cluster-$v.tar
  want=$(printf 'init %s\n%s\n' "$INIT_REVISION" "$(cat "$LAYER.stamp")" | sha256sum | cut -c1-16)
  stamp=$(cat "$cache.stamp" 2>/dev/null || :)
  start_switch
  if [ -s "$cache" ] && [ "$stamp" = "$want" ]; then
    fresh_uppers
    tar -C "$RUN" --numeric-owner -xpf "$cache"
    boot_all
  else
    say "no initialized cluster on $v in the cache: booting fresh nodes and running gnt-cluster init"
    rm -f "$cache" "$cache.stamp"
    fresh_uppers
    boot_all
    init_cluster "$v"
    poweroff_all
    # The nodes' own states, as a clean power-off left them.
    tar -C "$RUN" --numeric-owner -cpf "$cache.new" node1/upper node2/upper node3/upper
    mv -f "$cache.new" "$cache"
    echo "$want" > "$cache.stamp"
    for i in 1 2 3; do rm -rf --one-file-system -- "$(ndir "$i")/work"; mkdir -p "$(ndir "$i")/work"; done
    : > "$RUN/node1/boots"; : > "$RUN/node2/boots"; : > "$RUN/node3/boots"
    boot_all
  fi
  cluster_ready "$v"
  # The fake hypervisor's instances do not survive a boot (nor do a real
  # one's): start inst1 as the watcher would within its period.
  if [ "$(node_exec 1 gnt-instance list --no-headers -o status inst1 2>/dev/null | tr -d ' ')" != running ]; then
    node_exec 1 gnt-instance start inst1 >/dev/null 2>&1 </dev/null || die "gnt-instance start inst1 failed"
  fi
  say "booted cluster on $v: ${NODES[*]} up in $(elapsed "$t0" "$(now_us)")s"
}

cmd_status() {
  local i rc=0 pid
  for i in 1 2 3; do
    if pid=$(init_pid "$i"); then echo "node$i: running, init pid $pid, $(boots "$i") boot(s)"
    elif supervisor_pid "$i" >/dev/null; then echo "node$i: booting"; rc=3
    else echo "node$i: off"; rc=3; fi
  done
  if pid=$(switch_pid); then echo "switch: pid $pid"; else echo "switch: not running"; rc=3; fi
  return "$rc"
}

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  setup)    take_lock; cmd_setup ;;
  start)    take_lock; cmd_start "$@" ;;
  stop)     need_root; take_lock; stop_all ;;
  x)        [ $# -gt 1 ] || die "x: NODE CMD..."
            n=$(node_index "$1"); shift; rc=0; node_exec "$n" "$@" || rc=$?; exit "$rc" ;;
  cut)      need_root; power_cut "$(node_index "${1:-}")" ;;
  power-on) need_root; power_on "$(node_index "${1:-}")" ;;
  reboot)   n=$(node_index "${1:-}"); node_exec "$n" systemctl reboot ;;
  wait-up)  wait_up "$(node_index "${1:-}")" "${2:-180}" ;;
  boots)    boots "$(node_index "${1:-}")" ;;
  status)   cmd_status ;;
  __supervise)   internal_supervise "$@" ;;
  __boot)        internal_boot "$@" ;;
  __switch)      internal_switch ;;
  __build-layer) internal_build_layer "$@" ;;
  -h|--help|help|"") usage ;;
  *) say "unknown command: $cmd"; usage ;;
esac
