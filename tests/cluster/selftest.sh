#!/bin/bash
# selftest.sh -- checks tests/cluster/cluster.sh end to end: brings up a
# 3-node cluster in a temporary WORKDIR, checks ssh with Ganeti's options,
# per-node private directories and overlays, node-down/node-up, then tears
# everything down and checks that nothing is left on the host; then a 1-node
# cluster with GNT_LIBDIR=/usr/lib64.
# Needs root; as non-root it says it is skipped and exits 0.
# Prints "N passed, M failed" last; exits 1 if anything failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
CL=$HERE/cluster.sh
NODES=(node1 node2 node3)
CLUSTER=cluster.gnt.test
PASSED=0
FAILED=0

if [ "$(id -u)" != 0 ]; then
  echo "SKIPPED: cluster selftest needs root (uid is $(id -u)): it creates network," \
    "mount, UTS and PID namespaces, mounts, and runs sshd"
  echo "0 passed, 0 failed"
  exit 0
fi

pass() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
fail() {
  FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$1"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/       | /' | head -n 20
}
# check DESC CMD...: passes if CMD succeeds.
check() {
  local d=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$d"; else fail "$d" "$out"; fi
}
# check_not DESC CMD...: passes if CMD fails.
check_not() {
  local d=$1 out
  shift
  if out=$("$@" 2>&1); then fail "$d (unexpectedly succeeded)" "$out"; else pass "$d"; fi
}
# check_eq DESC EXPECTED CMD...: passes if CMD succeeds and prints EXPECTED.
check_eq() {
  local d=$1 want=$2 out rc=0
  shift 2
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" = 0 ] && [ "$out" = "$want" ]; then pass "$d"
  else fail "$d" "expected '$want' (rc 0), got rc $rc: $out"; fi
}

now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }

W=$(mktemp -d /tmp/gnt-cluster-selftest.XXXXXX)
W64=$W-lib64
cleanup() {
  "$CL" down "$W" >/dev/null 2>&1 || true
  "$CL" down "$W64" >/dev/null 2>&1 || true
  rm -rf "$W" "$W64"
}
trap cleanup EXIT

x() { "$CL" exec "$W" "$@"; }
# gssh FROM TO CMD...: ssh from node FROM to node TO the way Ganeti does.
gssh() {
  local from=$1 to=$2
  shift 2
  x "$from" ssh -oGlobalKnownHostsFile=/var/lib/ganeti/known_hosts \
    -oUserKnownHostsFile=/dev/null -oHostKeyAlias="$CLUSTER" \
    -oStrictHostKeyChecking=yes -oBatchMode=yes -oConnectTimeout=5 \
    "root@$to.gnt.test" "$@"
}

# Host state before, to compare after down.
host_links() { ip -o link show | sed 's/^[0-9]*: //; s/[:@].*//' | sort; }
host_netns() { ip netns list 2>/dev/null | sort; }
host_hostname=$(hostname)
host_hosts_sum=$(md5sum </etc/hosts)
host_sbin_sum=$(find /usr/sbin /usr/bin -maxdepth 1 -printf '%f\n' | sort | md5sum)
links_before=$(host_links)
netns_before=$(host_netns)

# A file placed in a node root before `up` must show up in that node.
for n in "${NODES[@]}"; do
  mkdir -p "$W/nodes/$n/root/usr/sbin"
  printf '#!/bin/sh\necho %s\n' "$n" >"$W/nodes/$n/root/usr/sbin/gnt-selftest-$n"
  chmod 755 "$W/nodes/$n/root/usr/sbin/gnt-selftest-$n"
done

echo "# up ${NODES[*]} in $W"
t0=$(now_ms)
if "$CL" up "$W" "${NODES[@]}"; then
  t_up=$(( $(now_ms) - t0 ))
  pass "up 3 nodes (${t_up} ms)"
  if [ "$t_up" -lt 10000 ]; then pass "up took < 10 s"; else fail "up took ${t_up} ms (>= 10 s)"; fi
else
  fail "up 3 nodes"
  echo "$PASSED passed, $FAILED failed"
  exit 1
fi

check "status reports all nodes up" "$CL" status "$W"
for n in "${NODES[@]}"; do
  check "pid file of $n names a live process" kill -0 "$(cat "$W/nodes/$n/pid")"
  check_eq "$n: UTS hostname" "$n.gnt.test" x "$n" hostname
done
check_eq "host hostname unchanged" "$host_hostname" hostname

# exec passes stdin, stdout and the exit code through.
out=$(echo piped | x node2 sh -c 'cat; exit 7') && rc=0 || rc=$?
if [ "$rc" = 7 ] && [ "$out" = piped ]; then pass "exec passes stdin/stdout/exit code"
else fail "exec passes stdin/stdout/exit code" "rc=$rc out=$out"; fi

# ssh with Ganeti's options from node1 to every node.
for n in "${NODES[@]}"; do
  check_eq "ssh node1 -> $n (Ganeti known_hosts, HostKeyAlias, BatchMode)" "$n.gnt.test" \
    gssh node1 "$n" hostname
done
check_eq "ssh node3 -> node1" "node1.gnt.test" gssh node3 node1 hostname
check_not "ssh with a HostKeyAlias not in known_hosts fails" \
  x node1 ssh -oGlobalKnownHostsFile=/var/lib/ganeti/known_hosts \
  -oUserKnownHostsFile=/dev/null -oHostKeyAlias=other.gnt.test \
  -oStrictHostKeyChecking=yes -oBatchMode=yes root@node2.gnt.test true

# Per-node private directories: a marker per node root, read back over ssh.
for n in "${NODES[@]}"; do
  echo "marker-$n" >"$W/nodes/$n/root/etc/ganeti/marker"
  echo "lib-$n" >"$W/nodes/$n/root/var/lib/ganeti/marker"
done
for n in "${NODES[@]}"; do
  check_eq "$n sees its own /etc/ganeti (over ssh)" "marker-$n" gssh node1 "$n" cat /etc/ganeti/marker
  check_eq "$n sees its own /var/lib/ganeti" "lib-$n" gssh node1 "$n" cat /var/lib/ganeti/marker
  check_eq "$n runs its own /usr/sbin overlay entry (over ssh)" "$n" gssh node1 "$n" "gnt-selftest-$n"
done
check_not "node2 does not see node3's /usr/sbin entry" gssh node1 node2 test -e /usr/sbin/gnt-selftest-node3
check "host files stay visible in a node's /usr/sbin and /usr/bin" \
  x node2 test -x /usr/sbin/sshd -a -x /usr/bin/ssh
check "a node's /usr/share/man/man8 shows host pages" x node2 sh -c 'ls /usr/share/man/man8 | grep -q .'
# Writes inside a node land in that node's root and nowhere else.
check "node2 can create /usr/sbin/gnt-written and /run/ganeti/x" \
  x node2 sh -c 'echo w >/usr/sbin/gnt-written && echo r >/run/ganeti/x && ln -s /usr/lib/ganeti/3.0 /etc/ganeti/lib'
check "... which land in node2's root dir" \
  test -f "$W/nodes/node2/root/usr/sbin/gnt-written" -a -f "$W/nodes/node2/root/var/run/ganeti/x" \
  -a -L "$W/nodes/node2/root/etc/ganeti/lib"
check_not "... and not in the host's /usr/sbin" test -e /usr/sbin/gnt-written
check_not "... nor in node1" x node1 test -e /usr/sbin/gnt-written
check_not "host /usr/sbin has no selftest entries" test -e /usr/sbin/gnt-selftest-node1
check "/root/.ssh is private per node" \
  x node1 sh -c 'touch /root/.ssh/only-node1 && test -e /root/.ssh/id_rsa'
check_not "... node2 does not see node1's /root/.ssh file" x node2 test -e /root/.ssh/only-node1
check_not "... nor does the host" test -e /root/.ssh/only-node1

# Generated files.
check_eq "ssconf_master_node" "node1.gnt.test" x node3 cat /var/lib/ganeti/ssconf_master_node
check_eq "ssconf_node_list" "$(printf 'node1.gnt.test\nnode2.gnt.test\nnode3.gnt.test')" \
  x node2 cat /var/lib/ganeti/ssconf_node_list
check_eq "ssconf_cluster_name" "$CLUSTER" cat "$W/nodes/node2/root/var/lib/ganeti/ssconf_cluster_name"
check_eq "ssconf_primary_ip_family" "2" cat "$W/nodes/node3/root/var/lib/ganeti/ssconf_primary_ip_family"
check "ssconf_offline_nodes is empty" test -f "$W/nodes/node1/root/var/lib/ganeti/ssconf_offline_nodes" \
  -a ! -s "$W/nodes/node1/root/var/lib/ganeti/ssconf_offline_nodes"
check "known_hosts lists the host key under the cluster name" \
  grep -q "^$CLUSTER ssh-" "$W/nodes/node2/root/var/lib/ganeti/known_hosts"
check "/etc/hosts in a node names every node" \
  x node3 sh -c 'grep -q "^192.0.2.11[[:space:]]node1.gnt.test" /etc/hosts && grep -q "^192.0.2.13[[:space:]]node3.gnt.test" /etc/hosts'
check_eq "node2 has 192.0.2.12" "192.0.2.12" x node2 sh -c "ip -o -4 addr show | awk '\$4 ~ /^192\\.0\\.2\\./ {sub(\"/.*\", \"\", \$4); print \$4}'"

# node-down makes ssh fail, node-up restores it.
check "node-down node3" "$CL" node-down "$W" node3
check_not "ssh node1 -> node3 fails while node3 is down" gssh node1 node3 true
check "ssh node1 -> node2 still works" gssh node1 node2 true
out=$("$CL" status "$W" 2>&1 || true)
if grep -q 'node3.*sshd stopped' <<<"$out"; then pass "status shows node3's sshd stopped"
else fail "status shows node3's sshd stopped" "$out"; fi
check "node-down again is harmless" "$CL" node-down "$W" node3
check "node-up node3" "$CL" node-up "$W" node3
check_eq "ssh node1 -> node3 works again" "node3.gnt.test" gssh node1 node3 hostname

# A long-running process inside a node must die with down.
x node2 sh -c 'sleep 1000 </dev/null >/dev/null 2>&1 &'
pids=()
for n in "${NODES[@]}"; do pids+=("$(cat "$W/nodes/$n/pid")"); done
netids=()
for p in "${pids[@]}"; do netids+=("$(readlink "/proc/$p/ns/net")"); done

echo "# down"
t0=$(now_ms)
check "down" "$CL" down "$W"
t_down=$(( $(now_ms) - t0 ))
echo "# down took ${t_down} ms"
check "down again (idempotent)" "$CL" down "$W"
out=$("$CL" status "$W" 2>&1) && rc=0 || rc=$?
if [ "$rc" = 3 ]; then pass "status says down (exit 3)"; else fail "status says down (exit 3)" "rc=$rc $out"; fi

# Nothing left on the host.
left=""
for p in "${pids[@]}"; do
  [ -d "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && left+=" $p"
done
if [ -z "$left" ]; then pass "node init processes are gone"; else fail "node init processes are gone" "$left"; fi
sleep 0.2
left=$(for p in /proc/[0-9]*; do
  id=$(readlink "$p/ns/net" 2>/dev/null) || continue
  for n in "${netids[@]}"; do
    if [ "$id" = "$n" ]; then echo "${p#/proc/}"; fi
  done
done)
if [ -z "$left" ]; then pass "no process left in the nodes' network namespaces"
else fail "no process left in the nodes' network namespaces" "$left"; fi
# Only this run's processes: other clusters may be running on the machine.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  left=$(ps -eo stat=,pid=,args= | awk -v w="$W" '$1 !~ /^Z/ && index($0, w)' | grep -v awk || true)
  [ -z "$left" ] && break
  sleep 0.3
done
if [ -z "$left" ]; then pass "no process mentions the workdir"; else fail "no process mentions the workdir" "$left"; fi
left=$(grep -F "$W" /proc/self/mountinfo || true)
if [ -z "$left" ]; then pass "no mounts of the workdir on the host"; else fail "no mounts of the workdir on the host" "$left"; fi
check_eq "host network namespaces unchanged" "$netns_before" host_netns
check_eq "host network links unchanged" "$links_before" host_links
check_eq "host /etc/hosts unchanged" "$host_hosts_sum" md5sum </etc/hosts
check_eq "host /usr/sbin and /usr/bin listings unchanged" "$host_sbin_sum" \
  sh -c "find /usr/sbin /usr/bin -maxdepth 1 -printf '%f\n' | sort | md5sum"
check "node roots are kept after down" test -f "$W/nodes/node2/root/etc/ganeti/marker" \
  -a -f "$W/nodes/node2/root/usr/sbin/gnt-written"

# GNT_LIBDIR: an RPM-style node whose private pkglibdir is /usr/lib64/ganeti.
echo "# GNT_LIBDIR=/usr/lib64"
check_not "GNT_LIBDIR must be absolute" env GNT_LIBDIR=usr/lib64 "$CL" up "$W64" node1
host_lib64=$(find /usr/lib64 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort | md5sum)
check "up with GNT_LIBDIR=/usr/lib64" env GNT_LIBDIR=/usr/lib64 "$CL" up "$W64" node1
check "cluster.env records LIBDIR" grep -qx 'LIBDIR=/usr/lib64' "$W64/cluster.env"
check "the node writes /usr/lib64/ganeti into its own root" \
  "$CL" exec "$W64" node1 sh -c 'echo 64 >/usr/lib64/ganeti/lib64-marker'
check "... which is in root/usr/lib64/ganeti" test -f "$W64/nodes/node1/root/usr/lib64/ganeti/lib64-marker"
if [ ! -e /usr/lib/ganeti ]; then
  check_not "no /usr/lib/ganeti in the node (not private, missing on the host)" \
    "$CL" exec "$W64" node1 test -e /usr/lib/ganeti
fi
check "down (GNT_LIBDIR)" "$CL" down "$W64"
check_eq "host /usr/lib64 unchanged" "$host_lib64" \
  sh -c "find /usr/lib64 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort | md5sum"

echo "# timing: up ${t_up} ms, down ${t_down} ms"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
