#!/bin/bash
# harness.sh -- a real, single-node Ganeti cluster built only from Debian
# packages, for the tests that must compare the toolkit with the real thing.
#
# The node is a debootstrap'ed bookworm tree (cached between runs) holding
# bookworm's Ganeti 3.0 and a Ganeti 3.1 side by side (REAL_GANETI_31 below
# says which; bookworm-backports' by default). It runs in
# private net/uts/mount/pid namespaces; its only network is a bridge inside
# its own netns (192.0.2.0/24), so the host's networking is never touched.
#
#   harness.sh setup            build or reuse the cached tree
#   harness.sh start            fresh node state, namespaces, sshd
#   harness.sh init [3.0|3.1]   links + gnt-cluster init (fake hv) + instance inst1
#   harness.sh x CMD...         run CMD in the node; its exit code is passed through
#   harness.sh install-bin F... copy host binaries into the node's /usr/local/sbin
#   harness.sh status           say whether the node runs (exit 0) or not (exit 3)
#   harness.sh stop             kill the node: no process, mount or netns is left
#   harness.sh purge            stop, then delete the cache
#   harness.sh selftest         end-to-end check including a real 3.0 -> 3.1 -> 3.0
#   harness.sh root             print the tree's path (for the suites on top)
#   harness.sh pristine         stop the node or cluster3, put the tree's
#                               mutable paths back (booted.sh does this before
#                               it mounts the tree as its nodes' lowest layer)
#
#   harness.sh cluster3 setup|start|init [V]|stop|status
#   harness.sh cluster3 x NODE CMD...     (NODE: node1, node2, node3)
#   harness.sh cluster3 install-bin F...  (into every node)
#                               the same for a 3-node cluster made from the same
#                               tree (overlays, a switch namespace; node3 is not a
#                               master candidate)
#
# Environment: REAL_GANETI_31 (which 3.1: bpo, the default, is
# bookworm-backports' 3.1.0~rc2-3~bpo12+1, built for bookworm, as a Debian 12
# admin installs it; trixie is trixie's, which brings trixie's libc, OpenSSL
# and OpenSSH along; sid is sid's, whose `ganeti` package ships native
# systemd units, so that daemon-util of both versions goes through systemctl
# on a node booted with systemd), REAL_GANETI_ROOT (the tree, default
# /var/cache/ganeti-upgrade-tests/real-ganeti/VARIANT/root; harness data goes
# next to it in $REAL_GANETI_ROOT.harness), REAL_GANETI_MIRROR (Debian
# archive URL, default: the host's first apt source). Exit code 125 means the
# harness itself failed (for example `x` with no node running). See README.md.
set -euo pipefail

SELF=$(readlink -f -- "${BASH_SOURCE[0]}")
VARIANT=${REAL_GANETI_31:-bpo}
# NEW_APT_OPTS: sid's Haskell binaries need sid's libcurl, whose
# libcurl4-gnutls ships bookworm's libcurl3-gnutls library file (the same
# soname) without declaring Replaces on it: dpkg is told to overwrite it.
NEW_APT_OPTS=()
case $VARIANT in
  bpo)    NEW_SUITE=bookworm-backports ;;
  trixie) NEW_SUITE=trixie ;;
  sid)    NEW_SUITE=sid; NEW_APT_OPTS=(-o Dpkg::Options::=--force-overwrite) ;;
  *) printf 'real-ganeti: error: REAL_GANETI_31=%s: want bpo, trixie or sid\n' "$VARIANT" >&2; exit 125 ;;
esac
export REAL_GANETI_31=$VARIANT
# One tree per variant, so that switching between them rebuilds nothing.
DEFAULT_ROOT=/var/cache/ganeti-upgrade-tests/real-ganeti/$VARIANT/root
ROOT=$(realpath -m -- "${REAL_GANETI_ROOT:-$DEFAULT_ROOT}")
export REAL_GANETI_ROOT=$ROOT         # the internal re-executions use the same tree
META=$ROOT.harness                    # stamp, pristine snapshot, lock, logs
RUNDIR=$META/run                      # holder pid, netns id, node log
STAMP=$META/stamp
PRISTINE=$META/pristine.tar

# What the node is made of. Any change here changes the stamp, so the next
# `setup` rebuilds the tree instead of trusting an old one.
SETUP_REVISION=1
OLD_SUITE=bookworm
OLD_PACKAGES=(ganeti ganeti-3.0 ganeti-haskell-3.0 ganeti-htools-3.0
              openssh-server openssh-client python3 procps psmisc iproute2
              iputils-ping strace)
NEW_PACKAGES=(ganeti-3.1 ganeti-haskell-3.1 ganeti-htools-3.1)
VERSIONS=(3.0 3.1)
# The 3.1 suite stays below bookworm (500) except for what the install asks
# for with -t: 3.0's Python code needs bookworm's Python 3.11 (3.13 has no
# asynchat). (bookworm-backports is at 100 anyway.)
NEW_SUITE_PIN="Package: *
Pin: release n=$NEW_SUITE
Pin-Priority: 100"
# Files and trees that a cluster run changes; `start` puts them back.
MUTABLE=(etc/ganeti etc/ssh etc/default/ganeti etc/hosts etc/hostname
         var/lib/ganeti var/log/ganeti var/backups root srv/ganeti
         usr/local/sbin tmp var/tmp)

NODE=node1.gnt.test
NODE_IP=192.0.2.11
CLUSTER=cluster.gnt.test
CLUSTER_IP=192.0.2.100
BRIDGE=gntbr0
NODE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf 'real-ganeti: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 125; }

now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }
# seconds with two decimals between two now_us readings
elapsed() { local d=$(( ($2 - $1) / 10000 )); printf '%d.%02d' $((d / 100)) $((d % 100)); }

# shellcheck source-path=SCRIPTDIR source=../lib/debian-mirror.sh
. "$(dirname -- "$SELF")/../lib/debian-mirror.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/netns.sh
. "$(dirname -- "$SELF")/../lib/netns.sh"
mirror() { debian_mirror "${REAL_GANETI_MIRROR:-}"; }

# Everything the tree depends on, as text; its hash is the stamp.
recipe() {
  printf 'revision %s\nmirror %s\n' "$SETUP_REVISION" "$(mirror)"
  printf 'old %s: %s\n' "$OLD_SUITE" "${OLD_PACKAGES[*]}"
  printf 'new %s: %s %s\n' "$NEW_SUITE" "${NEW_PACKAGES[*]}" "${NEW_APT_OPTS[*]}"
  printf 'pin\n%s\n' "$NEW_SUITE_PIN"
  printf 'mutable %s\n' "${MUTABLE[*]}"
  printf 'node %s %s cluster %s %s\n' "$NODE" "$NODE_IP" "$CLUSTER" "$CLUSTER_IP"
}
recipe_hash() { recipe | sha256sum | cut -d' ' -f1; }

sanity_check_root_path() {
  case $ROOT in
    /*/*) ;;
    *) die "REAL_GANETI_ROOT=$ROOT: want an absolute path at least two levels deep" ;;
  esac
  [[ $ROOT != *[[:space:]]* ]] || die "REAL_GANETI_ROOT must not contain white space"
}

need_root() { [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, namespaces)"; }

# Install host tools that are missing; only Debian packages, only when needed.
ensure_host_tools() {
  local want=() tool pkg
  for tool in debootstrap:debootstrap ip:iproute2 unshare:util-linux \
              nsenter:util-linux setsid:util-linux flock:util-linux mount:mount; do
    pkg=${tool#*:}
    command -v "${tool%%:*}" >/dev/null || want+=("$pkg")
  done
  [ ${#want[@]} -eq 0 ] && return 0
  say "installing on the host: ${want[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null
  }
}

# One harness command at a time per tree (fd 9; children never keep it).
take_lock() {
  mkdir -p "$META"
  exec 9>"$META/lock"
  flock -w 900 9 || die "another harness command holds $META/lock"
}

# ---------------------------------------------------------------- the tree

mounts_below_root() {   # [DIR]: default the tree
  awk -v r="${1:-$ROOT}" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo
}

remove_tree() {
  if [ -n "$(mounts_below_root)" ]; then
    die "refusing to delete $ROOT: something is mounted below it: $(mounts_below_root | tr '\n' ' ')"
  fi
  rm -rf --one-file-system -- "$ROOT"
}

# Reasons why the cached tree cannot be reused, one per line; none = intact.
tree_defects() {
  if [ ! -s "$STAMP" ]; then echo "no stamp"; return; fi
  [ "$(head -n1 "$STAMP")" = "recipe $(recipe_hash)" ] || echo "stamp is for another recipe"
  [ -s "$PRISTINE" ] || echo "no pristine snapshot"
  local f v
  for f in usr/bin/apt-get usr/bin/python3 usr/sbin/sshd usr/bin/ssh; do
    [ -x "$ROOT/$f" ] || echo "missing /$f"
  done
  for v in "${VERSIONS[@]}"; do
    for f in "usr/share/ganeti/$v/gnt-cluster" "usr/share/ganeti/$v/cfgupgrade" \
             "usr/lib/ganeti/$v/usr/sbin/ganeti-wconfd" \
             "usr/lib/ganeti/$v/usr/lib/ganeti/daemon-util"; do
      [ -f "$ROOT/$f" ] || echo "missing /$f"
    done
  done
  for f in usr/sbin/gnt-cluster usr/lib/ganeti/default usr/share/ganeti/default; do
    [ -L "$ROOT/$f" ] || echo "missing link /$f"
  done
  [ -x "$ROOT/usr/bin/dpkg-query" ] || { echo "no dpkg"; return; }
  # shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
  chroot "$ROOT" dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' \
      "${OLD_PACKAGES[@]}" "${NEW_PACKAGES[@]}" 2>&1 \
    | awk '$2 != "ii" { print "package not installed: " $0 }'
}

# Runs inside `unshare --mount --pid --fork` (see in_build_namespace): the
# mounts and any process a maintainer script leaves behind die with it.
internal_build_ns() {
  mount -t proc proc "$ROOT/proc"
  mount -t sysfs sysfs "$ROOT/sys"
  mount --rbind /dev "$ROOT/dev"
  chroot "$ROOT" /usr/bin/env -i PATH="$NODE_PATH" HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
in_build_namespace() {
  unshare --mount --pid --fork --propagation private -- "$SELF" __build-ns "$@" 9>&-
}

configure_tree_for_build() {
  # Package scripts must not start daemons while we build.
  printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
  chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  # The archive may be a frozen snapshot: do not reject old Release files.
  cat > "$ROOT/etc/apt/apt.conf.d/90real-ganeti-harness" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
EOF
  echo "deb $(mirror) $NEW_SUITE main" > "$ROOT/etc/apt/sources.list.d/$NEW_SUITE.list"
  printf '%s\n' "$NEW_SUITE_PIN" > "$ROOT/etc/apt/preferences.d/$NEW_SUITE-low"
}

configure_node_identity() {
  # Ganeti wants the node name on a real (non-loopback) address it owns, and
  # the cluster address unused until init; both live in the node's netns.
  cat > "$ROOT/etc/hosts" <<EOF
127.0.0.1	localhost
$NODE_IP	$NODE ${NODE%%.*}
$CLUSTER_IP	$CLUSTER ${CLUSTER%%.*}
EOF
  echo "$NODE" > "$ROOT/etc/hostname"
}

take_snapshot() {
  local p present=()
  for p in "${MUTABLE[@]}"; do
    if [ -e "$ROOT/$p" ] || [ -L "$ROOT/$p" ]; then present+=("$p"); fi
  done
  tar -C "$ROOT" --numeric-owner -cpf "$PRISTINE.new" -- "${present[@]}"
  mv -f "$PRISTINE.new" "$PRISTINE"
}

# Files the suites write into the tree that it never had: removed when the
# tree is put back (not in the recipe: adding one must not rebuild the tree).
# scenarios.sh writes /etc/default/ganeti-upgrade (KEEP_BACKUPS=0); left
# in the tree, the booted nodes' dpkg -i of the toolkit met it as a
# conffile of the admin's and stopped at the prompt.
SUITE_MADE=(etc/default/ganeti-upgrade)

restore_snapshot() {
  local p
  for p in "${MUTABLE[@]}" "${SUITE_MADE[@]}"; do rm -rf --one-file-system -- "${ROOT:?}/$p"; done
  tar -C "$ROOT" --numeric-owner -xpf "$PRISTINE"
}

build_tree() {
  local log=$META/setup.log t0
  : > "$log"
  rm -f "$STAMP" "$PRISTINE"
  remove_tree
  mkdir -p "$(dirname "$ROOT")"
  t0=$(now_us)
  say "debootstrap --variant=minbase $OLD_SUITE $ROOT (log: $log)"
  # Not --include=ganeti: debootstrap's resolver cannot satisfy virtual
  # packages such as python3-cffi-backend-api-*, so apt installs it later.
  debootstrap --variant=minbase "$OLD_SUITE" "$ROOT" "$(mirror)" >>"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; die "debootstrap failed"; }
  say "debootstrap done after $(elapsed "$t0" "$(now_us)")s"
  configure_tree_for_build
  configure_node_identity
  say "installing Ganeti ${VERSIONS[0]} from $OLD_SUITE and ${VERSIONS[1]} from $NEW_SUITE"
  {
    in_build_namespace apt-get update -q &&
    in_build_namespace apt-get install -y -q "${OLD_PACKAGES[@]}" &&
    in_build_namespace apt-get install -y -q "${NEW_APT_OPTS[@]}" -t "$NEW_SUITE" "${NEW_PACKAGES[@]}" &&
    in_build_namespace apt-get clean
  } >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "package installation failed"; }
  local py
  py=$(chroot "$ROOT" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [ "$py" = 3.11 ] || die "python3 in the tree is $py; Ganeti 3.0 needs bookworm's 3.11 (check the $NEW_SUITE pin)"
  # The 3.1 postinst relinked /etc/ganeti/{lib,share} (no cluster yet); that
  # is the state we snapshot, and `init` chooses the version explicitly.
  take_snapshot
  printf 'recipe %s\nbuilt %s\n' "$(recipe_hash)" "$(date -u +%FT%TZ)" > "$STAMP.new"
  recipe >> "$STAMP.new"
  mv -f "$STAMP.new" "$STAMP"
  say "tree built in $(elapsed "$t0" "$(now_us)")s"
}

cmd_setup() {
  need_root
  sanity_check_root_path
  ensure_host_tools
  local defects
  defects=$(tree_defects)
  if [ -z "$defects" ]; then
    say "reusing $ROOT (stamp $(head -n1 "$STAMP" | cut -c8-19)...)"
    return 0
  fi
  if [ -d "$ROOT" ]; then
    say "rebuilding $ROOT: $(echo "$defects" | head -n3 | paste -sd';' -)"
  fi
  if holder_pid >/dev/null; then stop_node; fi
  build_tree
}

# ---------------------------------------------------------------- the node

# The node the node functions act on: its root as its processes see it
# (NROOT), its run directory (NRUN: holder pid, netns id, log), its name and
# address. The single node is the tree itself; `cluster3` nodes select theirs
# with select_cnode.
NROOT=$ROOT
NRUN=$RUNDIR
CNODE=""          # 1..3 for a cluster3 node, empty for the single node

# Host pid of the namespace holder (pid 1 of the node), if it is running.
holder_pid() {
  local pid
  [ -s "$NRUN/holder.pid" ] || return 1
  read -r pid < "$NRUN/holder.pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$NROOT" ] || return 1
  echo "$pid"
}

# Run a command in the node, as if logged in as root there.
node_exec() {
  local pid
  pid=$(holder_pid) || die "the node ${CNODE:+node$CNODE }is not running (harness.sh ${CNODE:+cluster3 }start)"
  nsenter --target "$pid" --mount --uts --net --pid --root --wd \
    env -i PATH="$NODE_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "$@" 9>&-
}

# Runs as pid 1 of fresh net/uts/mount/pid namespaces, before the chroot.
# For a cluster3 node ($1 = its number, $2 = the switch's host pid) the root
# is first mounted here, in the node's own mount namespace: an overlay of
# the tree (read-only below) and the node's upper directory.
internal_node_init() {
  local host_pid sw=${2:-}
  [ -z "${1:-}" ] || select_cnode "$1"
  # /proc is still the host's here, so /proc/self/stat shows our host pid.
  read -r host_pid _ < /proc/self/stat
  if [ -n "$CNODE" ]; then
    mount -t overlay overlay \
      -o "lowerdir=$ROOT,upperdir=$NRUN/upper,workdir=$NRUN/work" "$NROOT"
  fi
  mount -t proc -o nosuid,nodev,noexec proc "$NROOT/proc"
  mount -t sysfs -o nosuid,nodev,noexec sysfs "$NROOT/sys"
  # A small /dev of its own instead of the host's.
  mount -t tmpfs -o nosuid,mode=0755 devtmp "$NROOT/dev"
  local n
  for n in null zero full random urandom tty; do
    : > "$NROOT/dev/$n"
    mount --bind "/dev/$n" "$NROOT/dev/$n"
  done
  mkdir -m 0755 "$NROOT/dev/pts"
  mkdir -m 1777 "$NROOT/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$NROOT/dev/pts"
  mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$NROOT/dev/shm"
  ln -s pts/ptmx "$NROOT/dev/ptmx"
  ln -s /proc/self/fd "$NROOT/dev/fd"
  ln -s /proc/self/fd/0 "$NROOT/dev/stdin"
  ln -s /proc/self/fd/1 "$NROOT/dev/stdout"
  ln -s /proc/self/fd/2 "$NROOT/dev/stderr"
  mount -t tmpfs -o nosuid,nodev,mode=0755 run "$NROOT/run"
  mkdir -p "$NROOT/run/lock" "$NROOT/run/sshd"
  echo "$NODE" > "$NROOT/proc/sys/kernel/hostname"
  # Network: the node address sits on a bridge (Ganeti's nic link and
  # master netdev must be a bridge); a veth end enslaved to it gives carrier.
  # On a cluster3 node the veth's other end is a port of the switch's bridge
  # (created straight in the switch's netns, so never in the host's).
  if [ -n "$CNODE" ]; then
    netns_node_link "$sw" "n$CNODE" "$SWITCH_BRIDGE" "$BRIDGE" "$NODE_IP/24"
  else
    ip link set lo up
    ip link add "$BRIDGE" type bridge
    ip link add gnt0 type veth peer name gnt1
    ip link set gnt0 up
    ip link set gnt1 master "$BRIDGE"
    ip addr add "$NODE_IP/24" dev "$BRIDGE"
    for n in "$BRIDGE" gnt1; do ip link set "$n" up; done
  fi
  echo "$host_pid" > "$NRUN/holder.pid.new"
  mv -f "$NRUN/holder.pid.new" "$NRUN/holder.pid"
  # Stay as the namespace's init: sleep, and reap daemons' orphans.
  exec chroot "$NROOT" /usr/bin/env -i PATH="$NODE_PATH" /bin/bash -c \
    'trap "" HUP INT TERM; while :; do sleep 86400 & wait $! || :; done'
}

stop_node() {
  local pid netns="" p
  [ -s "$NRUN/netns" ] && netns=$(cat "$NRUN/netns")
  if pid=$(holder_pid); then
    # Killing pid 1 of a pid namespace kills everything in it.
    kill -KILL "$pid"
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    say "node$CNODE stopped (holder $pid)"
  fi
  # Leftovers (none expected): processes chrooted into the tree or still in
  # the node's netns (the unshare parent lives there until its child dies).
  for _ in $(seq 50); do
    [ -z "$(tree_processes "$netns")" ] && break
    sleep 0.1
  done
  for p in $(tree_processes "$netns"); do
    say "killing leftover process $p ($(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null))"
    kill -KILL "$p" 2>/dev/null || :
  done
  rm -f "$NRUN/holder.pid" "$NRUN/netns"
  if [ -n "$(mounts_below_root "$NROOT")" ]; then
    say "unmounting leftovers below $NROOT"
    mounts_below_root "$NROOT" | sort -r | while read -r m; do umount -l "$m" || :; done
  fi
}

# Host pids of processes whose root is the node's or whose netns is NETNS.
tree_processes() {
  local netns=$1 d r
  for d in /proc/[0-9]*; do
    r=$(readlink "$d/root" 2>/dev/null) || continue
    if [ "$r" = "$NROOT" ] || [[ $r == "$NROOT"/* ]] ||
       { [ -n "$netns" ] && [ "$(readlink "$d/ns/net" 2>/dev/null)" = "$netns" ]; }; then
      echo "${d#/proc/}"
    fi
  done
}

cmd_start() {
  need_root
  sanity_check_root_path
  ensure_host_tools
  local defects
  defects=$(tree_defects)
  [ -z "$defects" ] || die "no usable tree ($(echo "$defects" | head -n1)); run: harness.sh setup"
  if holder_pid >/dev/null; then
    say "a node is already running; stopping it for a fresh start"
    stop_node
  fi
  # The cluster3 nodes have the tree as their lower layer, which start rewrites.
  if c3_running; then say "stopping cluster3"; c3_stop; fi
  local t0 pid=""
  t0=$(now_us)
  restore_snapshot
  mkdir -p "$RUNDIR"
  rm -f "$RUNDIR/holder.pid" "$RUNDIR/netns"
  setsid unshare --net --uts --mount --pid --fork --propagation private -- \
    "$SELF" __node-init </dev/null >"$RUNDIR/node.log" 2>&1 9>&- &
  local unshare_pid=$!
  for _ in $(seq 150); do
    if pid=$(holder_pid); then break; fi
    if ! kill -0 "$unshare_pid" 2>/dev/null; then
      cat "$RUNDIR/node.log" >&2
      die "the node's namespace setup failed"
    fi
    sleep 0.1
  done
  [ -n "$pid" ] || { cat "$RUNDIR/node.log" >&2; die "the node did not come up"; }
  readlink "/proc/$pid/ns/net" > "$RUNDIR/netns"
  # Every Ganeti node command goes through `ssh root@node`, even on one node.
  node_exec /usr/sbin/sshd || die "sshd did not start in the node"
  say "node $NODE ($NODE_IP) running, holder pid $pid, started in $(elapsed "$t0" "$(now_us)")s"
}

write_noop_os() {
  # The smallest OS definition Ganeti accepts; it lets a fake instance exist.
  local d=$ROOT/srv/ganeti/os/noop s
  mkdir -p "$d"
  echo 20 > "$d/ganeti_api_version"
  echo default > "$d/variants.list"
  : > "$d/parameters.list"
  for s in create export import rename verify; do
    printf '#!/bin/sh\nexit 0\n' > "$d/$s"
    chmod 0755 "$d/$s"
  done
}

cmd_init() {
  local version=${1:-${VERSIONS[0]}} t0 t1 status log=$RUNDIR/init.log
  [[ " ${VERSIONS[*]} " == *" $version "* ]] || die "init: unknown version $version (have: ${VERSIONS[*]})"
  holder_pid >/dev/null || die "the node is not running (harness.sh start)"
  [ ! -e "$ROOT/var/lib/ganeti/config.data" ] || die "already a cluster; run start again for a fresh node"
  : > "$log"
  failed() { tail -n 20 "$log" >&2; die "$1 (log: $log)"; }
  t0=$(now_us)
  # What the `ganeti` postinst does on a node outside a cluster.
  node_exec ln -s -f -n -T "/usr/lib/ganeti/$version" /etc/ganeti/lib
  node_exec ln -s -f -n -T "/usr/share/ganeti/$version" /etc/ganeti/share
  write_noop_os
  node_exec gnt-cluster init --enabled-hypervisors=fake \
    --enabled-disk-templates=diskless --master-netdev="$BRIDGE" \
    --nic-parameters=link="$BRIDGE" --no-etc-hosts "$CLUSTER" >>"$log" 2>&1 \
    || failed "gnt-cluster init failed"
  t1=$(now_us)
  node_exec gnt-instance add -t diskless -o noop+default --no-name-check \
    --no-ip-check -n "$NODE" inst1 >>"$log" 2>&1 || failed "gnt-instance add inst1 failed"
  status=$(node_exec gnt-instance list --no-headers -o name,status inst1 2>>"$log") || status=""
  [ "$(echo "$status" | tr -s ' ')" = "inst1 running" ] || failed "inst1 is not running: $status"
  say "cluster $CLUSTER on Ganeti $version, inst1 running (init $(elapsed "$t0" "$t1")s, total $(elapsed "$t0" "$(now_us)")s)"
}

cmd_install_bin() {
  [ $# -gt 0 ] || die "install-bin: no file given"
  holder_pid >/dev/null || die "the node is not running; start it first (start resets /usr/local/sbin)"
  local f
  for f in "$@"; do
    [ -f "$f" ] || die "install-bin: $f is not a file"
    install -m 0755 -- "$f" "$ROOT/usr/local/sbin/"
    say "installed /usr/local/sbin/$(basename -- "$f")"
  done
}

cmd_status() {
  local pid
  if pid=$(holder_pid); then
    echo "running: holder pid $pid, $(cat "$RUNDIR/netns" 2>/dev/null), tree $ROOT"
  else
    echo "not running (tree $ROOT)"
    return 3
  fi
}

cmd_purge() {
  need_root
  sanity_check_root_path
  stop_node
  c3_stop
  remove_tree
  rm -rf --one-file-system -- "$META"
  # Drop the default cache directories too when they are left empty.
  if [ "$ROOT" = "$DEFAULT_ROOT" ]; then
    rmdir --ignore-fail-on-non-empty -p "$(dirname "$ROOT")" 2>/dev/null || :
  fi
  say "purged $ROOT"
}

# ---------------------------------------------------------------- cluster3
#
# Three nodes made from the one tree: each mounts an overlay (the tree below,
# its own upper directory in $C3DIR/nodeN/upper) in its own mount namespace,
# and runs in its own net/uts/pid namespaces. Each node's bridge gntbr0 holds
# its address and one end of a veth pair whose other end is a port of the
# bridge sw0 in a namespace of its own (the switch). The tree's mutable
# paths are restored first and the tree is not written while the nodes run.

C3DIR=$META/cluster3
C3_NODES=(node1.gnt.test node2.gnt.test node3.gnt.test)
C3_IPS=(192.0.2.11 192.0.2.12 192.0.2.13)
C3_POOL=2          # candidate pool: node1 (master) and node2; node3 is not a candidate
SWITCH_BRIDGE=sw0

# select_cnode N|nodeN|nodeN.gnt.test: the node the node functions act on
select_cnode() {
  local n=${1#node}
  n=${n%%.*}
  [[ $n =~ ^[1-3]$ ]] || die "cluster3: no node $1 (node1, node2, node3)"
  CNODE=$n
  NRUN=$C3DIR/node$n
  NROOT=$NRUN/root
  NODE=${C3_NODES[n - 1]}
  NODE_IP=${C3_IPS[n - 1]}
}

c3_hosts() {
  local i
  printf '127.0.0.1\tlocalhost\n'
  for i in 0 1 2; do printf '%s\t%s %s\n' "${C3_IPS[i]}" "${C3_NODES[i]}" "${C3_NODES[i]%%.*}"; done
  printf '%s\t%s %s\n' "$CLUSTER_IP" "$CLUSTER" "${CLUSTER%%.*}"
}

switch_pid() {
  local pid
  [ -s "$C3DIR/switch.pid" ] || return 1
  read -r pid < "$C3DIR/switch.pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/ns/net")" = "$(cat "$C3DIR/switch.netns" 2>/dev/null)" ] || return 1
  echo "$pid"
}

# Runs as pid 1 of the switch's fresh net/pid namespaces.
internal_switch_init() { netns_switch_body "$SWITCH_BRIDGE" "$C3DIR/switch.pid"; }

c3_running() { local i; for i in 1 2 3; do (select_cnode "$i"; holder_pid >/dev/null) && return 0; done; switch_pid >/dev/null; }

c3_stop() {
  local i pid netns="" p
  for i in 1 2 3; do (select_cnode "$i"; stop_node); done
  [ -s "$C3DIR/switch.netns" ] && netns=$(cat "$C3DIR/switch.netns")
  if pid=$(switch_pid); then
    kill -KILL "$pid"
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  fi
  if [ -n "$netns" ]; then
    for _ in $(seq 50); do
      p=$(for d in /proc/[0-9]*; do
            if [ "$(readlink "$d/ns/net" 2>/dev/null)" = "$netns" ]; then echo "${d#/proc/}"; fi
          done)
      [ -z "$p" ] && break
      # shellcheck disable=SC2086 # a list of pids
      kill -KILL $p 2>/dev/null || :
      sleep 0.1
    done
  fi
  rm -f "$C3DIR/switch.pid" "$C3DIR/switch.netns"
}

c3_start() {
  need_root
  sanity_check_root_path
  ensure_host_tools
  local defects i t0 pid sw up
  defects=$(tree_defects)
  [ -z "$defects" ] || die "no usable tree ($(echo "$defects" | head -n1)); run: harness.sh setup"
  # The single node writes into the tree itself: it must not run below an overlay.
  if holder_pid >/dev/null; then say "stopping the single node"; stop_node; fi
  if c3_running; then say "cluster3 is running; stopping it for a fresh start"; c3_stop; fi
  t0=$(now_us)
  # The lower layer is the tree as `setup` left it (the single node's runs
  # change its mutable paths).
  restore_snapshot
  mkdir -p "$C3DIR"
  rm -f "$C3DIR/switch.pid" "$C3DIR/switch.netns"
  setsid unshare --net --pid --fork -- "$SELF" __switch-init </dev/null >"$C3DIR/switch.log" 2>&1 9>&- &
  for _ in $(seq 100); do
    sw=$(cat "$C3DIR/switch.pid" 2>/dev/null) && [ -n "$sw" ] && break
    sleep 0.05
  done
  [ -n "${sw:-}" ] || { cat "$C3DIR/switch.log" >&2; die "the switch namespace did not come up"; }
  readlink "/proc/$sw/ns/net" > "$C3DIR/switch.netns"
  for i in 1 2 3; do
    select_cnode "$i"
    rm -rf --one-file-system -- "$NRUN"
    mkdir -p "$NROOT" "$NRUN/upper/etc" "$NRUN/work"
    # Each node's identity, in its upper layer before the mount.
    c3_hosts > "$NRUN/upper/etc/hosts"
    echo "$NODE" > "$NRUN/upper/etc/hostname"
    setsid unshare --net --uts --mount --pid --fork --propagation private -- \
      "$SELF" __node-init "$i" "$sw" </dev/null >"$NRUN/node.log" 2>&1 9>&- &
    up=$!
    pid=""
    for _ in $(seq 150); do
      if pid=$(holder_pid); then break; fi
      if ! kill -0 "$up" 2>/dev/null; then cat "$NRUN/node.log" >&2; die "node$i: namespace setup failed"; fi
      sleep 0.1
    done
    [ -n "$pid" ] || { cat "$NRUN/node.log" >&2; die "node$i did not come up"; }
    readlink "/proc/$pid/ns/net" > "$NRUN/netns"
    node_exec /usr/sbin/sshd || die "sshd did not start in node$i"
  done
  for i in 2 3; do
    select_cnode 1
    node_exec ping -c 1 -W 5 "${C3_IPS[i - 1]}" >/dev/null || die "node1 cannot reach node$i"
  done
  say "cluster3: ${C3_NODES[*]} running, switch pid $sw, started in $(elapsed "$t0" "$(now_us)")s"
}

# The smallest OS definition Ganeti accepts, written inside a node.
# shellcheck disable=SC2016 # expanded by the node's shell
NOOP_OS_SCRIPT='d=/srv/ganeti/os/noop; mkdir -p $d; echo 20 > $d/ganeti_api_version
echo default > $d/variants.list; : > $d/parameters.list
for s in create export import rename verify; do printf "#!/bin/sh\nexit 0\n" > $d/$s; chmod 0755 $d/$s; done'

c3_init() {
  local version=${1:-${VERSIONS[0]}} t0 t1 i log=$C3DIR/init.log pub roles status
  [[ " ${VERSIONS[*]} " == *" $version "* ]] || die "init: unknown version $version (have: ${VERSIONS[*]})"
  : > "$log"
  failed() { tail -n 20 "$log" >&2; die "$1 (log: $log)"; }
  t0=$(now_us)
  for i in 1 2 3; do
    select_cnode "$i"
    holder_pid >/dev/null || die "node$i is not running (harness.sh cluster3 start)"
    node_exec sh -c "ln -sfnT /usr/lib/ganeti/$version /etc/ganeti/lib &&
      ln -sfnT /usr/share/ganeti/$version /etc/ganeti/share && $NOOP_OS_SCRIPT" || die "node$i: links"
  done
  select_cnode 1
  node_exec test ! -e /var/lib/ganeti/config.data || die "already a cluster; run cluster3 start again"
  node_exec gnt-cluster init --enabled-hypervisors=fake \
    --enabled-disk-templates=diskless --master-netdev="$BRIDGE" \
    --nic-parameters=link="$BRIDGE" --no-etc-hosts --candidate-pool-size="$C3_POOL" \
    "$CLUSTER" >>"$log" 2>&1 </dev/null || failed "gnt-cluster init failed"
  t1=$(now_us)
  # gnt-node add logs in to the new node as root with the master's key
  # (as an admin would have set up before adding it).
  pub=$(node_exec sh -c 'cat /root/.ssh/id_*.pub') || die "node1 has no root ssh key after init"
  for i in 2 3; do
    select_cnode "$i"
    printf '%s\n' "$pub" | node_exec sh -c 'umask 077; mkdir -p /root/.ssh; cat >> /root/.ssh/authorized_keys' \
      || die "node$i: authorized_keys"
  done
  select_cnode 1
  for i in 2 3; do
    node_exec gnt-node add --no-ssh-key-check "${C3_NODES[i - 1]}" >>"$log" 2>&1 </dev/null \
      || failed "gnt-node add ${C3_NODES[i - 1]} failed"
  done
  node_exec gnt-instance add -t diskless -o noop+default --no-name-check \
    --no-ip-check -n "${C3_NODES[0]}" inst1 >>"$log" 2>&1 </dev/null || failed "gnt-instance add inst1 failed"
  status=$(node_exec gnt-instance list --no-headers -o name,status inst1 2>>"$log") || status=""
  [ "$(echo "$status" | tr -s ' ')" = "inst1 running" ] || failed "inst1 is not running: $status"
  roles=$(node_exec gnt-node list --no-headers -o name,role 2>>"$log" | awk '{ print $2 }' | paste -sd' ' -)
  [ "$roles" = "M C R" ] || failed "node roles are '$roles', expected 'M C R'"
  say "cluster3: $CLUSTER on Ganeti $version, roles $roles, inst1 running (init $(elapsed "$t0" "$t1")s, total $(elapsed "$t0" "$(now_us)")s)"
}

c3_install_bin() {
  [ $# -gt 0 ] || die "install-bin: no file given"
  local f i dest
  for f in "$@"; do [ -f "$f" ] || die "install-bin: $f is not a file"; done
  for i in 1 2 3; do
    select_cnode "$i"
    for f in "$@"; do
      # The node's files exist only in its mount namespace: write them there.
      dest=/usr/local/sbin/$(basename -- "$f")
      node_exec sh -c "cat > '$dest.new' && chmod 0755 '$dest.new' && mv -f '$dest.new' '$dest'" < "$f" \
        || die "node$i: install-bin $f"
    done
  done
  say "installed $(for f in "$@"; do basename -- "$f"; done | paste -sd' ' -) in /usr/local/sbin on node1..3"
}

c3_status() {
  local i pid rc=0
  for i in 1 2 3; do
    select_cnode "$i"
    if pid=$(holder_pid); then echo "node$i: running, holder pid $pid"; else echo "node$i: not running"; rc=3; fi
  done
  if pid=$(switch_pid); then echo "switch: running, pid $pid"; else echo "switch: not running"; rc=3; fi
  return "$rc"
}

cmd_cluster3() {
  local sub=${1:-}
  [ $# -gt 0 ] && shift
  case $sub in
    setup)       take_lock; cmd_setup ;;
    start)       take_lock; c3_start ;;
    init)        take_lock; c3_init "$@" ;;
    stop)        need_root; take_lock; c3_stop ;;
    x)           [ $# -gt 1 ] || die "cluster3 x: NODE CMD..."
                 select_cnode "$1"; shift; rc=0; node_exec "$@" || rc=$?; exit "$rc" ;;
    install-bin) c3_install_bin "$@" ;;
    status)      c3_status ;;
    *) say "cluster3: unknown command: $sub"; usage ;;
  esac
}

# ---------------------------------------------------------------- selftest

cmd_selftest() {
  if [ "$(id -u)" != 0 ]; then
    echo "real-ganeti selftest: SKIPPED: needs root (debootstrap, chroot, unshare/nsenter namespaces)"
    exit 0
  fi
  local passed=0 failed=0 t0 netns
  ok()   { passed=$((passed + 1)); printf 'ok     %s\n' "$1"; }
  fail() { failed=$((failed + 1)); printf 'FAIL   %s%s\n' "$1" "${2:+: $2}"; }
  # check NAME EXPECTED CMD...: the command's output (trimmed) must equal EXPECTED
  check() {
    local name=$1 expected=$2 got
    shift 2
    got=$("$@" 2>&1) || :
    got=$(echo "$got" | tr -s ' \t' ' ' | sed 's/^ //; s/ $//')
    if [ "$got" = "$expected" ]; then ok "$name"; else fail "$name" "got '$got', expected '$expected'"; fi
  }
  check_rc() {
    local name=$1 rc=0
    shift
    "$@" >/dev/null 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then ok "$name"; else fail "$name" "exit code $rc"; fi
  }
  step() {   # step NAME CMD...: run a harness step, timed; stop the selftest on failure
    local name=$1 t rc=0
    shift
    t=$(now_us)
    "$@" || rc=$?
    printf 'TIME   %-28s %ss\n' "$name" "$(elapsed "$t" "$(now_us)")"
    if [ "$rc" = 0 ]; then ok "$name"; return 0; fi
    fail "$name" "exit code $rc"
    return 1
  }
  h() { "$SELF" "$@"; }
  config_version() { h x python3 -c 'import json; print(json.load(open("/var/lib/ganeti/config.data"))["version"])'; }
  links() { h x readlink /etc/ganeti/lib /etc/ganeti/share | paste -sd' ' -; }
  instance() { h x gnt-instance list --no-headers -o name,status inst1; }
  intent() { if h x test -e /var/lib/ganeti/intent-to-upgrade; then echo present; else echo absent; fi; }
  verify_error_codes() {
    h x gnt-cluster verify --error-codes | sed -n 's/.* - ERROR:\([A-Z0-9_]*\):.*/\1/p' | sort -u | paste -sd' ' -
  }
  code_version() { h x gnt-cluster version | sed -n 's/^Software version: *\([0-9]*\.[0-9]*\).*/\1/p'; }
  state_is() {   # state_is VERSION CONFIG_VERSION
    check "links on $1" "/usr/lib/ganeti/$1 /usr/share/ganeti/$1" links
    check "config.data version $2" "$2" config_version
    check "gnt-cluster runs $1 code" "$1" code_version
    check "inst1 running on $1" "inst1 running" instance
    check_rc "verify -I ENODESETUP on $1" h x gnt-cluster verify -I ENODESETUP
  }
  upgrade() {    # upgrade TARGET: a real gnt-cluster upgrade; exit 1 is expected
    local log=$RUNDIR/selftest-upgrade-$1.log t rc=0
    t=$(now_us)
    h x gnt-cluster upgrade --to="$1" >"$log" 2>&1 || rc=$?
    printf 'TIME   %-28s %ss (exit %s, log %s)\n' "upgrade --to=$1" "$(elapsed "$t" "$(now_us)")" "$rc" "$log"
    # On a kernel without /proc/sysrq-trigger the upgrade's closing verify
    # reports ENODESETUP and the command exits 1 although every step worked.
    if [ "$rc" = 0 ] || { [ "$rc" = 1 ] && grep -q 'ERROR: node [^:]*: node setup error' "$log"; }; then
      ok "upgrade --to=$1 ran (exit $rc)"
    else
      fail "upgrade --to=$1 ran" "exit $rc; $(tail -n 3 "$log" | paste -sd'|' -)"
    fi
    check "no intent file after upgrade --to=$1" absent intent
  }
  trap '"$SELF" stop >/dev/null 2>&1 || :' EXIT
  t0=$(now_us)
  if step setup h setup && step start h start && step "init (start..inst1 running)" h init; then
    state_is 3.0 3000000
    check "plain verify: ENODESETUP is the only error" "ENODESETUP" verify_error_codes
    upgrade 3.1
    state_is 3.1 3010000
    upgrade 3.0
    state_is 3.0 3000000
    check_rc "x passes exit codes through" sh -c "\"$SELF\" x sh -c 'exit 7'; [ \$? = 7 ]"
  fi
  netns=$(cat "$RUNDIR/netns" 2>/dev/null || :)
  step stop h stop || :
  trap - EXIT
  check "nothing runs in the tree or the netns" "" tree_processes "$netns"
  check "nothing mounted below the tree" "" mounts_below_root
  check "node reported stopped" "not running (tree $ROOT)" h status
  printf 'TIME   %-28s %ss\n' "selftest total" "$(elapsed "$t0" "$(now_us)")"
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}

# ---------------------------------------------------------------- dispatch

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  setup)       take_lock; cmd_setup ;;
  start)       take_lock; cmd_start ;;
  init)        take_lock; cmd_init "$@" ;;
  stop)        need_root; take_lock; stop_node ;;
  purge)       take_lock; cmd_purge ;;
  x)           [ $# -gt 0 ] || die "x: no command given"; rc=0; node_exec "$@" || rc=$?; exit "$rc" ;;
  install-bin) cmd_install_bin "$@" ;;
  status)      cmd_status ;;
  selftest)    cmd_selftest ;;
  root)        echo "$ROOT" ;;
  pristine)    need_root; take_lock
               [ -z "$(tree_defects)" ] || die "no usable tree; run: harness.sh setup"
               stop_node; c3_stop; restore_snapshot ;;
  __build-ns)  internal_build_ns "$@" ;;
  __node-init) internal_node_init "$@" ;;
  __switch-init) internal_switch_init ;;
  cluster3)    cmd_cluster3 "$@" ;;
  -h|--help|help|"") usage ;;
  *) say "unknown command: $cmd"; usage ;;
esac
