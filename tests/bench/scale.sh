#!/bin/bash
# Scale benchmark of ganeti-upgrade's fan-out: one real (namespaced) master
# running the fake Ganeti, plus 0, 9 or 99 simulated nodes reached through
# tests/bench/fake-ssh, which adds 100 ms to every remote command. Prints the
# wall time of a full upgrade per cluster size and the ratio T(100)/T(1)
# (target <= 2; a sequential fan-out would be far above), with the tool's
# default --parallel unless PARALLEL is set. The simulated nodes must all be
# reached (checked), so that every run covers the size it claims.
# Needs root (namespaces). Usage: tests/bench/scale.sh [SIZES...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
bin=${E2E_BIN:-$repo/target/debug}
if [ "$(id -u)" != 0 ]; then
    echo "SKIPPED: the scale benchmark needs root (network and mount namespaces)"
    exit 0
fi
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(1 10 100)
work=$(mktemp -d /tmp/ganeti-scale.XXXXXX)
cl=$repo/tests/cluster/cluster.sh
cleanup() { "$cl" down "$work" >/dev/null 2>&1 || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
for rel in 3.0.2 3.1.0; do
    "$repo/tests/fake-ganeti/make-stage" "$rel" "$work/stage-$rel" >/dev/null
done
root=$work/nodes/node1/root
"$bin/ganeti-layout" install --stage "$work/stage-3.0.2" --release 3.0.2 --dest "$root" --activate >/dev/null
"$bin/ganeti-layout" install --stage "$work/stage-3.1.0" --release 3.1.0 --dest "$root" >/dev/null
mkdir -p "$root/var/backups"
"$cl" up "$work" node1 >/dev/null
x() { "$cl" exec "$work" node1 "$@"; }
x mount --bind "$root/var/backups" /var/backups
x gnt-cluster init cluster.gnt.test >/dev/null
# The fake Ganeti's own node-to-node calls (redist-conf, verify) go to a
# stub with no delay: only ganeti-upgrade's remote commands are timed.
printf '#!/bin/sh\nexit 0\n' >"$work/quick-ssh"
chmod +x "$work/quick-ssh"

declare -A took
read -r -a extra <<<"${SCALE_ARGS:-}"
for n in "${sizes[@]}"; do
    {
        echo node1.gnt.test
        for i in $(seq 2 "$n"); do printf 'sim%03d.gnt.test\n' "$i"; done
    } >"$work/nodes.txt"
    total=0
    for to in 3.1 3.0; do
        # Before each run: the fake's redist-conf rewrites ssconf from its
        # configuration, which knows node1 only.
        for f in ssconf_node_list ssconf_online_nodes; do
            cp "$work/nodes.txt" "$root/var/lib/ganeti/$f"
        done
        start=$(date +%s.%N)
        rc=0
        x env GANETI_FAKE_SSH="$work/quick-ssh" "$bin/ganeti-upgrade" --to "$to" \
            --ssh-command "$here/fake-ssh" --switch-command "$bin/ganeti-switch" \
            --verify-ignore ENODESSH --verify-ignore ENODERPC --verify-ignore ENODEVERSION ${PARALLEL:+--parallel "$PARALLEL"} "${extra[@]}" >"$work/out-$n-$to" 2>&1 || rc=$?
        end=$(date +%s.%N)
        if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
            echo "upgrade to $to with $n nodes failed (exit $rc):"
            tail -20 "$work/out-$n-$to"
            exit 1
        fi
        # Every simulated node must have been reached (a run on fewer
        # nodes would time something else); above 20 nodes the run folds
        # its ok lines into "N of M nodes ok".
        if [ "$n" -gt 1 ] && ! grep -q "sim$(printf '%03d' "$n").gnt.test: ok" "$work/out-$n-$to" &&
            ! grep -qx "  $n of $n nodes ok" "$work/out-$n-$to"; then
            echo "upgrade to $to with $n nodes did not reach sim$(printf '%03d' "$n"):"
            tail -20 "$work/out-$n-$to"
            exit 1
        fi
        t=$(echo "$end - $start" | bc)
        total=$(echo "$total + $t" | bc)
        printf '%4d nodes: --to %s took %6.2f s\n' "$n" "$to" "$t"
    done
    took[$n]=$(echo "$total / 2" | bc -l)
done
echo "scale benchmark (100 ms added to every remote command, --parallel ${PARALLEL:-default}):"
for n in "${sizes[@]}"; do printf '  %4d nodes: %6.2f s per upgrade (mean of up and down)\n' "$n" "${took[$n]}"; done
first=${sizes[0]}
last=${sizes[${#sizes[@]}-1]}
printf '  ratio T(%d)/T(%d) = %.2f (target <= 2)\n' "$last" "$first" "$(echo "${took[$last]} / ${took[$first]}" | bc -l)"
