# netns.sh -- the namespaced network of the real-Ganeti nodes, shared by
# tests/real-ganeti/harness.sh (cluster3) and tests/real-ganeti/booted.sh
# (sourced, not run). A switch is a bridge in a net+pid namespace of its
# own; each node's network namespace holds a bridge with the node's address
# (Ganeti's master netdev and nic link must be a bridge) and one end of a
# veth pair whose other end, created straight in the switch's namespace, is
# a port of the switch's bridge. Nothing is created in the host's namespace.
# shellcheck shell=bash

# netns_switch_body BRIDGE PIDFILE: the body of the switch, run as pid 1 of
# fresh net and pid namespaces: brings up the bridge, writes its host pid to
# PIDFILE (atomically), then sleeps for ever as the namespaces' holder.
netns_switch_body() {
  local bridge=$1 pidfile=$2 host_pid
  # /proc is still the host's here: /proc/self/stat holds the host pid.
  read -r host_pid _ < /proc/self/stat
  ip link set lo up
  ip link add "$bridge" type bridge
  ip link set "$bridge" up
  echo "$host_pid" > "$pidfile.new"
  mv -f "$pidfile.new" "$pidfile"
  trap "" HUP INT TERM
  while :; do sleep 86400 & wait $! || :; done
}

# netns_node_link SWITCH_PID PORT SWITCH_BRIDGE BRIDGE ADDRESS/PREFIX: in the
# current (the node's) network namespace: lo, BRIDGE holding ADDRESS, and
# the veth gnt1 enslaved to it whose peer PORT is a port of SWITCH_BRIDGE in
# the switch's namespace. A PORT left from an earlier namespace of the same
# node (the kernel drops a dead namespace's links a little later) is
# removed first.
netns_node_link() {
  local sw=$1 port=$2 sw_bridge=$3 bridge=$4 address=$5
  ip link set lo up
  ip link add "$bridge" type bridge
  nsenter --net="/proc/$sw/ns/net" ip link del "$port" 2>/dev/null || :
  ip link add gnt1 type veth peer name "$port" netns "/proc/$sw/ns/net"
  nsenter --net="/proc/$sw/ns/net" ip link set "$port" master "$sw_bridge" up
  ip link set gnt1 master "$bridge"
  ip addr add "$address" dev "$bridge"
  ip link set "$bridge" up
  ip link set gnt1 up
}
