#!/bin/bash
# cluster.sh -- a throw-away multi-node "Ganeti cluster" on one machine, for tests.
#
# Every node is a long-lived init process in its own network, mount, UTS, IPC
# and PID namespaces, with its own sshd. Nodes share the host filesystem except
# for per-node bind mounts and overlays (see README.md). Nothing here changes
# the host's network, /etc/hosts, /usr/sbin, ... : all mounts live in the
# nodes' private mount namespaces and all links in private network namespaces.
#
# Usage (as root):
#   cluster.sh up WORKDIR NODE...        start nodes (node i gets 192.0.2.(10+i))
#   cluster.sh exec WORKDIR NODE CMD...  run CMD inside NODE (stdio and exit code pass through)
#   cluster.sh node-down WORKDIR NODE    stop NODE's sshd (node becomes unreachable by ssh)
#   cluster.sh node-up WORKDIR NODE      start NODE's sshd again
#   cluster.sh refresh WORKDIR           drop the kernel's dentry caches so files added to or
#                                        removed from a node root's usr/sbin etc. *directly*
#                                        (not through the node) become visible in the node
#   cluster.sh status WORKDIR            show nodes; exit 0 all up, 1 partly up, 3 down
#   cluster.sh down WORKDIR              kill all nodes and the switch (idempotent)
#
# Environment (read by `up`; remembered in WORKDIR/cluster.env):
#   GNT_CLUSTER_NAME  cluster name used as HostKeyAlias (default cluster.gnt.test)
#   GNT_DOMAIN        node domain (default gnt.test): node FQDN = NAME.GNT_DOMAIN
#   GNT_KEY_TYPE      ssh key type for host and root keys: rsa (default, 2048 bits),
#                     ed25519 or ecdsa
#   GNT_NODE_BRIDGE   bridge inside each node carrying the node IP (default gntbr0;
#                     empty: put the IP directly on the node's eth0)
#   GNT_OVERLAY       auto (default) | 0: 0 forces the symlink-farm fallback
#                     instead of overlayfs for /usr/sbin, /usr/bin, man pages
#   GNT_NO_INSTALL=1  never apt-get install missing tools, fail instead
#   GNT_LIBDIR        the libdir whose ganeti/ is private to each node (default
#                     /usr/lib; /usr/lib64 for an RPM-style layout)
set -euo pipefail

PROG=$(readlink -f "${BASH_SOURCE[0]}")
SUBNET=192.0.2
CLUSTER_IP=$SUBNET.100
SWITCH_BRIDGE=gntsw0
NODE_MARK=gnt-cluster-node
SWITCH_MARK=gnt-cluster-switch
MAX_NODES=80
SBIN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Private per-node directories: "dir-in-node-root:mount-point". set_libdir
# LIBDIR sets them for a libdir (whose ganeti/ is private; /usr/lib/ganeti
# then is not, so a path that does not follow the libdir finds nothing).
set_libdir() {
  LIBDIR=$1
  BIND_DIRS=(
    etc/ganeti:/etc/ganeti
    "${LIBDIR#/}/ganeti:$LIBDIR/ganeti"
    usr/share/ganeti:/usr/share/ganeti
    var/lib/ganeti:/var/lib/ganeti
    var/log/ganeti:/var/log/ganeti
    var/run/ganeti:/run/ganeti
    root/.ssh:/root/.ssh
  )
}
set_libdir /usr/lib
# Link-farm directories: host dir is the lower layer, node root dir the upper.
OVERLAY_DIRS=(/usr/sbin /usr/bin /usr/share/man/man1 /usr/share/man/man7 /usr/share/man/man8)

die() { printf 'cluster.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'cluster.sh: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$PROG" >&2; exit 2; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (namespaces, mounts, sshd)"; }

now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }

# --- dependencies -----------------------------------------------------------

ensure_deps() {
  local missing=() c pkg
  for c in unshare:util-linux nsenter:util-linux setsid:util-linux ip:iproute2 \
           /usr/sbin/sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client \
           mount:mount; do
    pkg=${c#*:}; c=${c%%:*}
    if [[ $c == /* ]]; then [ -x "$c" ] && continue; else command -v "$c" >/dev/null && continue; fi
    [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${GNT_NO_INSTALL:-0}" = 1 ] || ! command -v apt-get >/dev/null; then
    die "missing packages: ${missing[*]} (install them, e.g. apt-get install ${missing[*]})"
  fi
  say "installing ${missing[*]} with apt-get"
  # Idempotent: apt-get install is a no-op for installed packages.
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

# --- workdir and state -------------------------------------------------------

# Canonical absolute WORKDIR (created if the second argument is "create").
workdir() {
  local w=${1:?WORKDIR missing}
  if [ "${2:-}" = create ]; then mkdir -p "$w"; fi
  [ -d "$w" ] || die "no such WORKDIR: $w"
  w=$(cd "$w" && pwd -P)
  case $w/ in
    /|/run/*|/var/run/*|/proc/*|/sys/*|/dev/*|/usr/*|/etc/*|/root/*)
      die "WORKDIR $w is hidden or replaced inside the nodes; use e.g. /tmp/..." ;;
  esac
  echo "$w"
}

# Load WORKDIR/cluster.env written by `up` (sets CLUSTER_NAME DOMAIN KEY_TYPE NODE_BRIDGE NODES LIBDIR).
load_env() {
  local w=$1
  [ -f "$w/cluster.env" ] || die "$w is not a cluster workdir (no cluster.env; run up first)"
  # shellcheck source=/dev/null
  . "$w/cluster.env"
  set_libdir "${LIBDIR:-/usr/lib}"  # a cluster.env from before GNT_LIBDIR has none
}

node_index() {  # prints 1-based index of $2 among NODES
  local i=1 n
  for n in "${NODES[@]}"; do
    [ "$n" = "$1" ] && { echo "$i"; return 0; }
    i=$((i + 1))
  done
  die "unknown node '$1' (nodes: ${NODES[*]})"
}

# Host PID of a live holder process recorded in FILE whose argv[0] starts with
# MARK (or, while it is still setting up, whose command line contains ALT).
live_pid() {
  local file=$1 mark=$2 alt=${3:-} pid cmd
  [ -s "$file" ] || return 1
  read -r pid <"$file" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == "$mark"* ]] || { [ -n "$alt" ] && [[ $cmd == *"$alt"* ]]; } || return 1
  echo "$pid"
}

node_pid() { live_pid "$1/nodes/$2/pid" "$NODE_MARK" " __node $1 $2 "; }
switch_pid() { live_pid "$1/switch.pid" "$SWITCH_MARK" " __switch $1"; }

# Run a command inside a node's namespaces with a clean root environment.
nsexec() {
  local w=$1 node=$2 pid
  shift 2
  pid=$(node_pid "$w" "$node") || die "node $node is not running"
  nsenter -t "$pid" -m -u -n -p -i -r -w -- env -i PATH="$SBIN_PATH" HOME=/root \
    USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
}

# --- inside a node (runs as PID 1 of the new namespaces) ---------------------

# Make directory $1 exist inside this node's mount namespace without touching
# the host: if missing, its parent is overlaid (upper layer in the node's
# .scratch) unless the parent is already writable privately.
WRITABLE=(/run)
ensure_dir() {
  local d=$1 p s
  [ -d "$d" ] && return 0
  p=$(dirname "$d")
  ensure_dir "$p"
  for s in "${WRITABLE[@]}"; do
    if [ "$p" = "$s" ] || [[ $p == "$s"/* ]]; then mkdir -p "$d"; return 0; fi
  done
  s=${p#/}
  s=$SCRATCH/parent/${s//\//+}
  mkdir -p "$s/upper" "$s/work"
  if mount -t overlay overlay -o "lowerdir=$p,upperdir=$s/upper,workdir=$s/work" "$p"; then
    WRITABLE+=("$p")
  else
    # e.g. the host root is itself an overlay (container) and stacking fails
    echo "warning: cannot overlay $p; creating the mount point $d on the host" >&2
    echo "$d" >>"$SCRATCH/host-mkdirs"
  fi
  mkdir -p "$d"  # may exist in the upper layer from an earlier run
}

# Overlay-less replacement for one link-farm dir: populate the node root dir
# with symlinks to the host's entries (recorded for removal by `down`), then
# bind it over the directory.
farm_fallback() {
  local dir=$1 upper=$2 hostview=/run/gnt-host$1 list
  list=${dir#/}
  list=$SCRATCH/farm/${list//\//+}.list
  mkdir -p "$hostview" "$(dirname "$list")"
  mount --bind "$dir" "$hostview"
  # Record what we are about to add (host entries the node root lacks), then
  # add links to the host view (cp -s links every entry, symlinks included).
  comm -23 <(find "$hostview" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort) \
    <(find "$upper" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort) >>"$list"
  cp -a -s -n "$hostview/." "$upper/" 2>/dev/null || true
  mount --bind "$upper" "$dir"
}

node_init() {
  local w=$1 name=$2 fqdn=$3 use_overlay=$4 nd k v hostpid="" pair src dst
  nd=$w/nodes/$name
  SCRATCH=$nd/.scratch
  # Our host PID: the host's /proc is still mounted, so NSpid lists it first.
  while read -r k v _; do
    if [ "$k" = NSpid: ]; then hostpid=$v; break; fi
  done </proc/self/status
  [ -n "$hostpid" ] || { echo "cannot determine host pid" >&2; exit 1; }
  cd /
  # Record the pid first so that `down` can kill a half-started node.
  echo "$hostpid" >"$nd/pid"
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t tmpfs -o mode=0755,size=64m tmpfs /run
  mkdir -p /run/sshd /run/lock /run/ganeti
  chmod 1777 /run/lock
  hostname "$fqdn"
  load_env "$w"
  for pair in "${BIND_DIRS[@]}"; do
    dst=${pair#*:}
    ensure_dir "$dst"
  done
  for pair in "${BIND_DIRS[@]}"; do
    src=$nd/root/${pair%%:*} dst=${pair#*:}
    mount --bind "$src" "$dst"
  done
  if [ ! -L /var/run ]; then  # old layout: /var/run is not a link to /run
    ensure_dir /var/run/ganeti
    mount --bind "$nd/root/var/run/ganeti" /var/run/ganeti
  fi
  for dst in "${OVERLAY_DIRS[@]}"; do
    ensure_dir "$dst"
    src=$nd/root${dst}
    if [ "$use_overlay" = 1 ]; then
      v=${dst#/}
      v=$SCRATCH/work/${v//\//+}
      mkdir -p "$v"
      if ! mount -t overlay overlay -o "lowerdir=$dst,upperdir=$src,workdir=$v" "$dst"; then
        echo "warning: overlayfs failed for $dst; using a symlink farm instead" >&2
        farm_fallback "$dst" "$src"
      fi
    else
      farm_fallback "$dst" "$src"
    fi
  done
  mount --bind "$w/hosts" /etc/hosts
  : >"$nd/ready"
  # Stay alive as the namespace init; reap orphans (bash waits for any child).
  exec -a "${NODE_MARK}[$name]" /bin/bash -c \
    'trap : TERM INT HUP; while :; do sleep 3600 & wait $!; done'
}

switch_init() {
  local w=$1
  ip link set lo up
  ip link add "$SWITCH_BRIDGE" type bridge
  ip link set "$SWITCH_BRIDGE" up
  echo "$$" >"$w/switch.pid"
  exec -a "$SWITCH_MARK" sleep infinity
}

# --- up ----------------------------------------------------------------------

write_if_missing() {  # FILE CONTENT (no trailing newline, like Ganeti's ssconf)
  [ -e "$1" ] || printf '%s' "$2" >"$1"
}

append_line_once() {  # FILE LINE
  touch "$1"
  grep -qxF -- "$2" "$1" || printf '%s\n' "$2" >>"$1"
}

UP_DONE=0
UP_W=""
KEY_PID=""
up_cleanup() {
  if [ "$UP_DONE" != 1 ] && [ -n "$UP_W" ]; then
    [ -z "$KEY_PID" ] || wait "$KEY_PID" 2>/dev/null || true
    say "up failed; tearing down"
    cmd_down "$UP_W" >&2 || true
  fi
}

cmd_up() {
  need_root
  [ $# -ge 2 ] || usage
  local w t0 n i nd ip pid key_pid="" use_overlay=1 hostkey userkey f log pair dst k1 k2
  t0=$(now_ms)
  w=$(workdir "$1" create); shift
  local -a nodes=("$@") starters=()
  [ ${#nodes[@]} -le $MAX_NODES ] || die "at most $MAX_NODES nodes"
  for n in "${nodes[@]}"; do
    [[ $n =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "bad node name '$n' (use [a-z][a-z0-9-]*, no dots)"
  done
  [ "$(printf '%s\n' "${nodes[@]}" | sort | uniq -d)" = "" ] || die "duplicate node names"
  if [ -d "$w/nodes" ]; then
    for nd in "$w"/nodes/*/; do
      node_pid "$w" "$(basename "$nd")" >/dev/null && die "$w is already up (run down first)"
    done
  fi
  switch_pid "$w" >/dev/null && die "$w is already up (run down first)"
  ensure_deps

  CLUSTER_NAME=${GNT_CLUSTER_NAME:-cluster.gnt.test}
  DOMAIN=${GNT_DOMAIN:-gnt.test}
  KEY_TYPE=${GNT_KEY_TYPE:-rsa}
  NODE_BRIDGE=${GNT_NODE_BRIDGE-gntbr0}
  NODES=("${nodes[@]}")
  set_libdir "${GNT_LIBDIR:-/usr/lib}"
  [[ $LIBDIR == /?* && $LIBDIR != */ ]] || die "GNT_LIBDIR must be an absolute path without a trailing /, like /usr/lib64"
  case $KEY_TYPE in rsa|ed25519|ecdsa) ;; *) die "GNT_KEY_TYPE must be rsa, ed25519 or ecdsa" ;; esac
  if [ "${GNT_OVERLAY:-auto}" = 0 ]; then
    use_overlay=0
  elif ! grep -qw overlay /proc/filesystems; then
    modprobe overlay 2>/dev/null || true
    grep -qw overlay /proc/filesystems || use_overlay=0
  fi
  [ "$use_overlay" = 1 ] || say "overlayfs not used: falling back to symlink farms bound over /usr/sbin etc. (see README)"
  {
    printf 'CLUSTER_NAME=%q\nDOMAIN=%q\nKEY_TYPE=%q\nNODE_BRIDGE=%q\nUSE_OVERLAY=%q\nLIBDIR=%q\n' \
      "$CLUSTER_NAME" "$DOMAIN" "$KEY_TYPE" "$NODE_BRIDGE" "$use_overlay" "$LIBDIR"
    printf 'NODES=(%s)\n' "${NODES[*]}"
  } >"$w/cluster.env"
  UP_W=$w
  trap up_cleanup EXIT

  # Keys (kept across down/up): one host key shared by all nodes, one root key.
  mkdir -p "$w/keys"
  hostkey=$w/keys/ssh_host_${KEY_TYPE}_key
  userkey=$w/keys/id_$KEY_TYPE
  local -a bits=()
  [ "$KEY_TYPE" != rsa ] || bits=(-b 2048)  # Ganeti's default RSA size
  if [ ! -s "$hostkey" ] || [ ! -s "$userkey" ]; then
    rm -f "$hostkey" "$hostkey.pub" "$userkey" "$userkey.pub"
    (
      ssh-keygen -q -t "$KEY_TYPE" "${bits[@]}" -N '' -C "root@$CLUSTER_NAME" -f "$hostkey" &
      ssh-keygen -q -t "$KEY_TYPE" "${bits[@]}" -N '' -C "root@$CLUSTER_NAME" -f "$userkey" &
      wait
    ) </dev/null &
    key_pid=$!
    KEY_PID=$key_pid
  fi

  # Hosts file shown as /etc/hosts in every node.
  {
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
    i=1
    for n in "${NODES[@]}"; do
      printf '%s.%s\t%s.%s %s\n' "$SUBNET" $((10 + i)) "$n" "$DOMAIN" "$n"
      i=$((i + 1))
    done
    printf '%s\t%s %s\n' "$CLUSTER_IP" "$CLUSTER_NAME" "${CLUSTER_NAME%%.*}"
  } >"$w/hosts"

  # Node roots and per-node sshd config.
  i=1
  for n in "${NODES[@]}"; do
    nd=$w/nodes/$n
    rm -f "$nd/pid" "$nd/ready" "$nd/sshd.pid"
    for pair in "${BIND_DIRS[@]}"; do mkdir -p "$nd/root/${pair%%:*}"; done
    for dst in "${OVERLAY_DIRS[@]}"; do mkdir -p "$nd/root$dst"; done
    chmod 700 "$nd/root/root/.ssh"
    mkdir -p "$nd/.scratch"
    cat >"$nd/sshd_config" <<EOF
# generated by cluster.sh for $n.$DOMAIN
Port 22
ListenAddress $SUBNET.$((10 + i))
AddressFamily inet
HostKey $hostkey
PidFile $nd/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
StrictModes yes
AuthorizedKeysFile .ssh/authorized_keys
AcceptEnv LANG LC_*
MaxStartups 100:30:200
LogLevel INFO
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    i=$((i + 1))
  done

  # Start the switch and the nodes (in parallel).
  local -A launcher=()
  setsid unshare --net -- /bin/bash "$PROG" __switch "$w" </dev/null >"$w/switch.log" 2>&1 &
  launcher[__switch]=$!
  disown
  for n in "${NODES[@]}"; do
    setsid unshare --net --uts --mount --pid --ipc --fork --propagation private -- \
      /bin/bash "$PROG" __node "$w" "$n" "$n.$DOMAIN" "$use_overlay" \
      </dev/null >"$w/nodes/$n/init.log" 2>&1 &
    launcher[$n]=$!
    disown
  done
  local deadline ready
  deadline=$(( $(now_ms) + (use_overlay ? 15000 : 90000) ))
  while :; do
    ready=1
    for n in __switch "${NODES[@]}"; do
      if [ "$n" = __switch ]; then f=$w/switch.pid log=$w/switch.log
      else f=$w/nodes/$n/ready log=$w/nodes/$n/init.log; fi
      [ -e "$f" ] && continue
      ready=0
      if ! kill -0 "${launcher[$n]}" 2>/dev/null; then
        sleep 0.1
        [ -e "$f" ] && continue
        cat "$log" >&2
        die "${n/__switch/switch} failed to start"
      fi
    done
    [ $ready = 1 ] && break
    [ "$(now_ms)" -lt "$deadline" ] || die "timeout waiting for nodes to start"
    sleep 0.02
  done

  for n in "${NODES[@]}"; do
    grep -h '^warning:' "$w/nodes/$n/init.log" | sed "s/^/cluster.sh: $n: /" >&2 || true
  done

  # Network: bridge in the switch netns, one veth per node; node IP on a
  # bridge inside the node (Ganeti wants a bridge as master netdev/nic link).
  local swpid batch
  swpid=$(switch_pid "$w") || die "switch died"
  batch=""
  i=1
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$w" "$n") || die "node $n died"
    batch+="link add gv$i type veth peer name eth0 netns $pid"$'\n'
    batch+="link set gv$i master $SWITCH_BRIDGE"$'\n'
    batch+="link set gv$i up"$'\n'
    i=$((i + 1))
  done
  printf '%s' "$batch" | nsenter -t "$swpid" -n ip -batch -
  i=1
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$w" "$n")
    ip=$SUBNET.$((10 + i))
    if [ -n "$NODE_BRIDGE" ]; then
      printf '%s\n' "link set lo up" "link add $NODE_BRIDGE type bridge" \
        "link set eth0 master $NODE_BRIDGE" "addr add $ip/24 dev $NODE_BRIDGE" \
        "link set eth0 up" "link set $NODE_BRIDGE up"
    else
      printf '%s\n' "link set lo up" "addr add $ip/24 dev eth0" "link set eth0 up"
    fi | nsenter -t "$pid" -n ip -batch -
    i=$((i + 1))
  done

  # ssh keys, Ganeti known_hosts, ssconf.
  [ -z "$key_pid" ] || wait "$key_pid" || die "ssh-keygen failed"
  local hostline userpub
  read -r k1 k2 _ <"$hostkey.pub"
  hostline="$CLUSTER_NAME $k1 $k2"
  userpub=$(cat "$userkey.pub")
  local nodelist
  nodelist=$(printf "%s.$DOMAIN\n" "${NODES[@]}")
  for n in "${NODES[@]}"; do
    nd=$w/nodes/$n/root
    install -m 600 "$userkey" "$nd/root/.ssh/id_$KEY_TYPE"
    install -m 644 "$userkey.pub" "$nd/root/.ssh/id_$KEY_TYPE.pub"
    append_line_once "$nd/root/.ssh/authorized_keys" "$userpub"
    chmod 600 "$nd/root/.ssh/authorized_keys"
    append_line_once "$nd/var/lib/ganeti/known_hosts" "$hostline"
    write_if_missing "$nd/var/lib/ganeti/ssconf_cluster_name" "$CLUSTER_NAME"
    write_if_missing "$nd/var/lib/ganeti/ssconf_master_node" "${NODES[0]}.$DOMAIN"
    write_if_missing "$nd/var/lib/ganeti/ssconf_node_list" "$nodelist"
    write_if_missing "$nd/var/lib/ganeti/ssconf_online_nodes" "$nodelist"
    write_if_missing "$nd/var/lib/ganeti/ssconf_offline_nodes" ""
    write_if_missing "$nd/var/lib/ganeti/ssconf_primary_ip_family" "2"
  done

  for n in "${NODES[@]}"; do
    start_sshd "$w" "$n" &
    starters+=($!)
  done
  wait "${starters[@]}" || die "starting sshd failed"
  wait_sshd "$w" "${NODES[@]}"

  UP_DONE=1
  trap - EXIT
  say "up: ${#NODES[@]} node(s) in $(( $(now_ms) - t0 )) ms ($w)"
}

start_sshd() {
  local w=$1 n=$2 nd=$1/nodes/$2
  # sshd logs to -E; its own stdout/stderr (before daemonizing) go to sshd.out
  nsexec "$w" "$n" /usr/sbin/sshd -f "$nd/sshd_config" -E "$nd/sshd.log" \
    </dev/null >>"$nd/sshd.out" 2>&1
}

# Wait until each node's sshd wrote its pid file (it does so after binding).
wait_sshd() {
  local w=$1 n deadline ok
  shift
  deadline=$(( $(now_ms) + 10000 ))
  while :; do
    ok=1
    for n in "$@"; do [ -s "$w/nodes/$n/sshd.pid" ] || ok=0; done
    [ $ok = 1 ] && return 0
    if [ "$(now_ms)" -ge "$deadline" ]; then
      for n in "$@"; do
        [ -s "$w/nodes/$n/sshd.pid" ] || { tail -n 20 "$w/nodes/$n/sshd.log" >&2; die "sshd on $n did not start"; }
      done
    fi
    sleep 0.02
  done
}

sshd_running() {  # W NODE -> 0 if the node's sshd listener runs
  local w=$1 n=$2 spid
  [ -s "$w/nodes/$n/sshd.pid" ] || return 1
  read -r spid <"$w/nodes/$n/sshd.pid" || return 1
  nsexec "$w" "$n" kill -0 "$spid" 2>/dev/null
}

# --- node-down / node-up --------------------------------------------------------

cmd_node_down() {
  need_root
  [ $# -eq 2 ] || usage
  local w n=$2 spid i
  w=$(workdir "$1"); load_env "$w"; node_index "$n" >/dev/null
  if sshd_running "$w" "$n"; then
    read -r spid <"$w/nodes/$n/sshd.pid"
    nsexec "$w" "$n" kill -TERM "$spid"
    for i in $(seq 100); do
      nsexec "$w" "$n" kill -0 "$spid" 2>/dev/null || break
      sleep 0.05
    done
    [ "$i" -lt 100 ] || die "sshd on $n did not stop"
  fi
  rm -f "$w/nodes/$n/sshd.pid"
  say "node-down: sshd on $n stopped"
}

cmd_node_up() {
  need_root
  [ $# -eq 2 ] || usage
  local w n=$2
  w=$(workdir "$1"); load_env "$w"; node_index "$n" >/dev/null
  node_pid "$w" "$n" >/dev/null || die "node $n is not running (use up)"
  if ! sshd_running "$w" "$n"; then
    rm -f "$w/nodes/$n/sshd.pid"
    start_sshd "$w" "$n"
    wait_sshd "$w" "$n"
  fi
  say "node-up: sshd on $n running"
}

# overlayfs caches lookups (also negative ones); writing to an upper layer
# behind its back is only picked up once the dentries are dropped.
cmd_refresh() {
  need_root
  [ $# -eq 1 ] || usage
  sync
  echo 2 >/proc/sys/vm/drop_caches
}

# --- exec / status / down --------------------------------------------------------

cmd_exec() {
  need_root
  [ $# -ge 3 ] || usage
  local w n=$2
  w=$(workdir "$1"); load_env "$w"; node_index "$n" >/dev/null
  shift 2
  nsexec "$w" "$n" "$@"
}

cmd_status() {
  need_root
  [ $# -eq 1 ] || usage
  local w n i=1 pid up=0 total=0 sw
  [ -f "$1/cluster.env" ] || { echo "cluster $1: not set up"; return 3; }
  w=$(workdir "$1")
  load_env "$w"
  if sw=$(switch_pid "$w"); then sw="running (pid $sw)"; else sw=down; fi
  echo "cluster $CLUSTER_NAME in $w; switch: $sw"
  for n in "${NODES[@]}"; do
    total=$((total + 1))
    if pid=$(node_pid "$w" "$n"); then
      up=$((up + 1))
      if sshd_running "$w" "$n"; then s=running; else s=stopped; fi
      printf '%-12s %-24s %-14s init pid %-8s sshd %s\n' "$n" "$n.$DOMAIN" "$SUBNET.$((10 + i))" "$pid" "$s"
    else
      printf '%-12s %-24s %-14s down\n' "$n" "$n.$DOMAIN" "$SUBNET.$((10 + i))"
    fi
    i=$((i + 1))
  done
  [ "$up" = "$total" ] && [ "$sw" != down ] && return 0
  [ "$up" = 0 ] && [ "$sw" = down ] && return 3
  return 1
}

# Print "pid" of every process whose net or mnt namespace is one of the given ids.
procs_in_ns() {
  local pat=() id
  for id in "$@"; do
    id=${id//\[/\\[}
    pat+=(-o -lname "${id//\]/\\]}")
  done
  [ ${#pat[@]} -gt 0 ] || return 0
  find /proc/[0-9]*/ns -maxdepth 1 \( -name net -o -name mnt \) \( "${pat[@]:1}" \) \
    -printf '%h\n' 2>/dev/null | cut -d/ -f3 | sort -u
}

cmd_down() {
  need_root
  [ $# -eq 1 ] || usage
  local w nd pid name f t0 i
  local -a ids=() pids=()
  t0=$(now_ms)
  [ -d "$1" ] || { say "down: $1 does not exist, nothing to do"; return 0; }
  w=$(workdir "$1")
  for nd in "$w"/nodes/*/; do
    [ -d "$nd" ] || continue
    name=$(basename "$nd")
    if pid=$(node_pid "$w" "$name"); then
      ids+=("$(readlink "/proc/$pid/ns/net")" "$(readlink "/proc/$pid/ns/mnt")")
      pids+=("$pid")
    fi
  done
  if pid=$(switch_pid "$w"); then
    ids+=("$(readlink "/proc/$pid/ns/net")")
    pids+=("$pid")
  fi
  # Killing a PID-namespace init makes the kernel kill everything inside it.
  [ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
  # Stragglers that entered a node's net/mnt namespace without its PID namespace.
  for i in $(seq 200); do
    mapfile -t pids < <(procs_in_ns "${ids[@]}")
    [ ${#pids[@]} -eq 0 ] && break
    [ $((i % 10)) = 1 ] && { kill -KILL "${pids[@]}" 2>/dev/null || true; }
    sleep 0.02
  done
  [ ${#pids[@]} -eq 0 ] || die "processes still in cluster namespaces: ${pids[*]}"
  # Remove runtime state and fallback symlink farms; keep node roots.
  for nd in "$w"/nodes/*/; do
    [ -d "$nd" ] || continue
    rm -f "$nd/pid" "$nd/ready" "$nd/sshd.pid"
    rm -rf "$nd/.scratch/work"
    for f in "$nd"/.scratch/farm/*.list; do
      [ -f "$f" ] || continue
      name=$(basename "$f" .list)
      name=${name//+//}
      # remove the links we added that are still symlinks
      if [ -d "$nd/root/$name" ]; then
        (cd "$nd/root/$name" && comm -12 <(sort "$f") \
          <(find . -mindepth 1 -maxdepth 1 -type l -printf '%f\n' | sort) \
          | xargs -d '\n' -r rm -f --)
      fi
      rm -f "$f"
    done
  done
  rm -f "$w/switch.pid"
  say "down: $w stopped in $(( $(now_ms) - t0 )) ms"
}

# --- main ----------------------------------------------------------------------

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    exec) cmd_exec "$@" ;;
    status) cmd_status "$@" ;;
    refresh) cmd_refresh "$@" ;;
    node-down) cmd_node_down "$@" ;;
    node-up) cmd_node_up "$@" ;;
    __node) node_init "$@" ;;
    __switch) switch_init "$@" ;;
    -h|--help|help) usage ;;
    *) usage ;;
  esac
}

main "$@"
