#!/bin/bash
# Self-test of the fake Ganeti: builds stages 3.0.2 and 3.1.0, installs them
# by hand into two temporary node roots (node1 = master, node2), with a fake
# ssh between them, and exercises the behaviour the upgrade toolkit relies on.
# No root, namespaces or network needed.  Prints "N passed, M failed".
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fake-ganeti-selftest.XXXXXX")
N1=node1.test
N2=node2.test
pass=0
fail=0

cleanup() {
    local pidf pid
    # Stop only the daemons this test started, found through its pid files.
    for pidf in "$tmp"/nodes/*/var/run/ganeti/ganeti-*.pid; do
        [[ -f $pidf ]] || continue
        pid=$(<"$pidf")
        if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == ganeti-* ]]; then
            kill "$pid" 2>/dev/null
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
    pass=$((pass + 1))
    printf 'ok   %s\n' "$1"
}
nok() {
    fail=$((fail + 1))
    printf 'FAIL %s\n' "$1"
    if [[ -s $tmp/out ]]; then sed 's/^/     | /' "$tmp/out" | tail -n 15; fi
}
# check NAME CMD...: CMD succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else nok "$name"; fi
}
# expect RC NAME CMD...: CMD exits with RC; its output is left in $tmp/out.
expect() {
    local want=$1 name=$2 rc
    shift 2
    "$@" >"$tmp/out" 2>&1
    rc=$?
    if [[ $rc -eq $want ]]; then ok "$name"; else nok "$name (rc $rc, want $want)"; fi
}
# saw REGEX NAME: the last output matches REGEX.
saw() {
    if grep -Eq -- "$1" "$tmp/out"; then ok "$2"; else nok "$2"; fi
}

root_of() { printf '%s/nodes/%s' "$tmp" "$1"; }
# on NODE REL-PATH ARGS...: run a program of NODE's active stage as NODE.
on() {
    local node=$1 rel=$2 r
    shift 2
    r=$(root_of "$node")
    GANETI_FAKE_ROOT=$r GANETI_FAKE_PROGROOT=$r/active GANETI_FAKE_HOSTNAME=$node \
        GANETI_FAKE_SSH=$tmp/fake-ssh "$r/active/$rel" "$@"
}
gc() { on "$1" usr/sbin/gnt-cluster "${@:2}"; }
du() { on "$1" usr/lib/ganeti/daemon-util "${@:2}"; }
cfgupgrade() { on "$1" usr/lib/ganeti/tools/cfgupgrade "${@:2}"; }
job() { on "$N1" usr/sbin/gnt-job "$@"; }
flt() { on "$N1" usr/sbin/gnt-filter "$@"; }
delay() { on "$N1" usr/sbin/gnt-debug delay "$@"; }
# switch NODE RELEASE: what the link switch does, for a hand-made install.
switch() { ln -sfn "$tmp/stage-$2" "$(root_of "$1")/active"; }
data() { printf '%s/var/lib/ganeti/%s' "$(root_of "$1")" "$2"; }
cfgver() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "${1:-$(data "$N1" config.data)}"; }
running() { [[ -n $(du "$1" check "$2" >/dev/null 2>&1 && echo y) ]]; }
release_of() { cat "$(root_of "$1")/var/run/ganeti/$2.release" 2>/dev/null; }
job_field() { job list --no-headers --separator='|' -o "$2" "$1" 2>/dev/null; }
# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
job_status_is() { [[ $(job_field "$1" status) == "$2" ]]; }
executed_by_is() { [[ $(job_field "$1" executed_by) == "$2" ]]; }
mode_of() { stat -c %a "$1"; }

echo "# stages"
for rel in 3.0.2 3.1.0; do
    expect 0 "make-stage $rel" "$here/make-stage" "$rel" "$tmp/stage-$rel"
done
expect 0 "make-stage 3.0.2 again" "$here/make-stage" 3.0.2 "$tmp/again"
tar_of() { tar --sort=name --numeric-owner -C "$1" -cf - . | sha256sum; }
check "stage output is reproducible" [ "$(tar_of "$tmp/stage-3.0.2")" == "$(tar_of "$tmp/again")" ]
check "mtimes are fixed" [ "$(stat -c %Y "$tmp/stage-3.0.2/usr/sbin/gnt-cluster")" == 0 ]
check "hail links to htools inside the stage" \
    [ "$(readlink -f "$tmp/stage-3.1.0/usr/lib/ganeti/iallocators/hail")" == "$(readlink -f "$tmp/stage-3.1.0/usr/bin/htools")" ]
check "release is baked into the programs" grep -q '^RELEASE = "3.1.0"$' "$tmp/stage-3.1.0/usr/lib/ganeti/daemon-util"
check "python package carries the release" grep -q 'RELEASE_VERSION = "3.0.2"' "$tmp/stage-3.0.2/usr/lib/python3/dist-packages/ganeti/version.py"
check "man pages are gzipped" gzip -t "$tmp/stage-3.0.2/usr/share/man/man8/gnt-cluster.8.gz"
expect 0 "make-stage 3.1.0~rc2" "$here/make-stage" '3.1.0~rc2' "$tmp/rc"
check "rc release keeps its suffix, directory version is 3.1" \
    grep -q '^RELEASE = "3.1.0~rc2"$' "$tmp/rc/usr/sbin/gnt-cluster"
check "rc version.py" grep -qx 'DIR_VERSION = "3.1"' "$tmp/rc/usr/lib/python3/dist-packages/ganeti/version.py"
expect 1 "make-stage rejects a bad release" "$here/make-stage" 'x.y' "$tmp/bad"

cat >"$tmp/fake-ssh" <<EOF
#!/bin/bash
# Fake ssh: runs the command as the named node of this self-test.
printf '%s\n' "\$*" >>"$tmp/ssh.log"
cmd=\${!#}
target=\${*: -2:1}
node=\${target#root@}
root="$tmp/nodes/\$node"
[[ -d \$root ]] || { echo "ssh: connect to host \$node: No route to host" >&2; exit 255; }
export GANETI_FAKE_ROOT=\$root GANETI_FAKE_PROGROOT=\$root/active GANETI_FAKE_HOSTNAME=\$node
exec bash -c "\$cmd"
EOF
chmod +x "$tmp/fake-ssh"
# A node "with the package installed": /etc/ganeti exists, links on 3.0.
for n in "$N1" "$N2"; do
    mkdir -p "$(root_of "$n")/etc/ganeti"
    switch "$n" 3.0.2
done

echo "# cluster init and daemon-util"
expect 0 "gnt-cluster init" gc "$N1" init --fake-nodes="$N2" --fake-no-start cluster.test
check "config version is 3.0" [ "$(cfgver)" == 3000000 ]
check "ssconf release_version" [ "$(<"$(data "$N1" ssconf_release_version)")" == 3.0.2 ]
check "ssconf online_nodes" [ "$(<"$(data "$N1" ssconf_online_nodes)")" == "$N1"$'\n'"$N2" ]
check "init pushed config to node2" [ -f "$(data "$N2" config.data)" ] && [ -f "$(data "$N2" ssconf_master_node)" ]
check "push went over ssh as root with Ganeti's options" \
    grep -q -- '-oHostKeyAlias=cluster.test -q -oBatchMode=yes -oStrictHostKeyChecking=yes -4 root@node2.test' "$tmp/ssh.log"
expect 0 "daemon-util list-start-daemons" du "$N1" list-start-daemons
check "start order" [ "$(tr '\n' ' ' <"$tmp/out")" == "ganeti-noded ganeti-confd ganeti-wconfd ganeti-rapi ganeti-luxid ganeti-kvmd ganeti-mond " ]
expect 0 "daemon-util list-stop-daemons" du "$N1" list-stop-daemons
check "stop order" [ "$(tr '\n' ' ' <"$tmp/out")" == "ganeti-metad ganeti-mond ganeti-kvmd ganeti-luxid ganeti-rapi ganeti-wconfd ganeti-confd ganeti-noded " ]
expect 0 "check-exitcode 11 is ok" du "$N1" check-exitcode 11
expect 1 "check-exitcode 1 is not" du "$N1" check-exitcode 1
expect 0 "check-config in a cluster" du "$N1" check-config
mkdir -p "$tmp/nodes/empty.test"
switch empty.test 3.0.2
expect 1 "check-config outside a cluster" du empty.test check-config
expect 1 "unknown daemon-util command" du "$N1" frobnicate
expect 1 "daemon-util rejects underscores" du "$N1" list_start_daemons

echo "# daemons"
expect 0 "start-all on the master" du "$N1" start-all
for d in ganeti-noded ganeti-confd ganeti-wconfd ganeti-rapi ganeti-luxid ganeti-mond; do
    check "$d runs 3.0.2 on $N1" [ "$(release_of "$N1" "$d")" == 3.0.2 ]
done
check "kvmd exits when KVM is not enabled" bash -c "! [ -e '$(root_of "$N1")/var/run/ganeti/ganeti-kvmd.pid' ]"
check "daemon processes are named after the daemon" \
    [ "$(cat "/proc/$(<"$(root_of "$N1")/var/run/ganeti/ganeti-luxid.pid")/comm")" == ganeti-luxid ]
check "start ran ensure-dirs without --full-run" grep -q '3.0.2 full-run=no' "$(root_of "$N1")/var/log/ganeti/fake-ensure-dirs.log"
expect 0 "ensure-dirs --full-run" on "$N1" usr/lib/ganeti/ensure-dirs --full-run
check "ensure-dirs recorded --full-run" grep -q '3.0.2 full-run=yes' "$(root_of "$N1")/var/log/ganeti/fake-ensure-dirs.log"
expect 0 "start-all on a non-master (master daemons say 11)" du "$N2" start-all
check "node2 runs noded but no luxid" bash -c "[ -f '$(root_of "$N2")/var/run/ganeti/ganeti-noded.pid' ] && ! [ -f '$(root_of "$N2")/var/run/ganeti/ganeti-luxid.pid' ]"
expect 11 "wconfd on a non-master exits 11" on "$N2" usr/sbin/ganeti-wconfd
expect 0 "verify on a healthy cluster" gc "$N1" verify
expect 1 "CLI on a non-master is refused" gc "$N2" queue info
saw "not the master node" "non-master message"

echo "# jobs and filters"
expect 0 "gnt-debug delay --submit" delay --submit 0.2
saw '^JobID: [0-9]+$' "prints JobID"
j1=$(sed -n 's/^JobID: //p' "$tmp/out")
check "job $j1 finishes" wait_for 10 job_status_is "$j1" success
check "job records the executing release" [ "$(job_field "$j1" executed_by)" == 3.0.2 ]
expect 0 "gnt-debug delay waits for the job" delay 0.1
expect 0 "gnt-filter add --action=PAUSE" flt add --action=PAUSE --reason=upgrade
f1=$(<"$tmp/out")
check "filter add printed a UUID" grep -Eqx '[0-9a-f-]{36}' "$tmp/out"
expect 0 "gnt-filter list" flt list --no-headers -o uuid,action,reason_trail
check "filter listed" grep -q "^$f1 PAUSE .*\"gnt:user\", \"upgrade\"" "$tmp/out"
expect 0 "gnt-filter info" flt info "$f1"
delay --submit 0 >"$tmp/out" 2>&1
j2=$(sed -n 's/^JobID: //p' "$tmp/out")
sleep 1.2
check "paused job stays queued" job_status_is "$j2" queued
expect 0 "gnt-filter delete" flt delete "$f1"
check "job runs once the filter is gone" wait_for 10 job_status_is "$j2" success
flt add --action=REJECT --reason=no >"$tmp/out" 2>&1
f2=$(<"$tmp/out")
delay --submit 0 >"$tmp/out" 2>&1
j3=$(sed -n 's/^JobID: //p' "$tmp/out")
check "REJECT filter cancels the job" wait_for 10 job_status_is "$j3" canceled
flt delete "$f2" >/dev/null 2>&1
expect 2 "gnt-filter add rejects unknown options" flt add --bogus
expect 1 "gnt-filter add rejects a bad action" flt add --action=MAYBE --reason=x

echo "# queue drain and watcher pause"
expect 0 "queue drain" gc "$N1" queue drain
check "drain file exists" [ -f "$(data "$N1" queue/drain)" ]
expect 0 "queue info" gc "$N1" queue info
saw '^The drain flag is set$' "drain flag reported"
expect 1 "submission refused while drained" delay --submit 0
saw 'Job queue is drained, refusing job' "drained message"
expect 1 "redist-conf without --yes-do-it refused while drained" gc "$N1" redist-conf
expect 0 "redist-conf --yes-do-it works while drained" gc "$N1" redist-conf --yes-do-it
expect 0 "queue undrain" gc "$N1" queue undrain
gc "$N1" queue info >"$tmp/out" 2>&1
saw '^The drain flag is unset$' "drain flag unset"
now=$(date +%s)
expect 0 "watcher pause 1h" gc "$N1" watcher pause 1h
wp=$(data "$N1" watcher.pause)
check "watcher.pause holds epoch+3600 and a newline" \
    python3 -c 'import sys; t=open(sys.argv[1]).read(); assert t.endswith("\n") and len(t)==11 and abs(int(t)-int(sys.argv[2])-3600)<=2' "$wp" "$now"
check "watcher.pause is 0644" [ "$(mode_of "$wp")" == 644 ]
expect 0 "watcher info" gc "$N1" watcher info
saw '^The watcher is paused until ' "watcher paused reported"
du "$N1" stop ganeti-noded >/dev/null 2>&1
expect 0 "paused watcher runs" on "$N1" usr/sbin/ganeti-watcher
check "paused watcher did not restart noded" bash -c "! [ -f '$(root_of "$N1")/var/run/ganeti/ganeti-noded.pid' ]"
expect 0 "watcher continue" gc "$N1" watcher continue
check "watcher.pause removed" bash -c "! [ -e '$wp' ]"
expect 0 "unpaused watcher runs" on "$N1" usr/sbin/ganeti-watcher
check "watcher restarted noded" [ "$(release_of "$N1" ganeti-noded)" == 3.0.2 ]

echo "# pid files: a daemon runs while its pid file is locked"
pf=$(root_of "$N1")/var/run/ganeti/ganeti-noded.pid
expect 1 "a running daemon holds an fcntl lock on its pid file" \
    python3 -c 'import fcntl, sys; fcntl.lockf(open(sys.argv[1]), fcntl.LOCK_SH | fcntl.LOCK_NB)' "$pf"
expect 1 "a second noded refuses to start" on "$N1" usr/sbin/ganeti-noded
saw 'already running' "already-running message"
p1=$(<"$pf")
mv "$pf" "$pf.old" && echo "$p1" >"$pf"
check "noded exits once its pid file is taken over" wait_for 5 bash -c "! kill -0 $p1 2>/dev/null"
rm -f "$pf" "$pf.old"
# A pid file nobody locks is stale, even if its pid is alive and named like
# the daemon (a pid reused after a crash or a reboot).
cp "$(command -v sleep)" "$tmp/ganeti-noded"
"$tmp/ganeti-noded" 300 &
impostor=$!
echo "$impostor" >"$pf"
check "the impostor is named ganeti-noded" [ "$(cat "/proc/$impostor/comm")" == ganeti-noded ]
expect 1 "an unlocked pid file naming a live ganeti-noded is stale" du "$N1" check ganeti-noded
expect 0 "start takes over the stale pid file" du "$N1" start ganeti-noded
p2=$(<"$pf")
check "the pid file names the new daemon" [ "$p2" != "$impostor" ]
check "the new daemon is ganeti-noded" [ "$(cat "/proc/$p2/comm")" == ganeti-noded ]
kill "$impostor"
wait "$impostor" 2>/dev/null
# A symlink is never followed, not even to a locked pid file.
du "$N1" stop ganeti-noded >/dev/null 2>&1
ln -s "$(root_of "$N1")/var/run/ganeti/ganeti-luxid.pid" "$pf"
expect 1 "a symlinked pid file is not followed" du "$N1" check ganeti-noded
rm -f "$pf"
expect 0 "noded starts again" du "$N1" start ganeti-noded

echo "# verify"
echo ENODESETUP >"$(data "$N1" fake-verify-errors)"
expect 1 "verify fails on an injected error" gc "$N1" verify
saw "ERROR: node $N1: " "error line"
expect 1 "verify --error-codes" gc "$N1" verify --error-codes
saw "ERROR:ENODESETUP:node:$N1:" "error-codes line"
expect 0 "verify -I ENODESETUP" gc "$N1" verify -I ENODESETUP
rm -f "$(data "$N1" fake-verify-errors)"
du "$N2" stop ganeti-noded >/dev/null 2>&1
expect 1 "verify fails when node2's noded is down" gc "$N1" verify --error-codes
saw "ERROR:ENODERPC:node:$N2:" "ENODERPC for node2"
du "$N2" start ganeti-noded >/dev/null 2>&1
expect 0 "gnt-node modify -O yes" on "$N1" usr/sbin/gnt-node modify -O yes "$N2"
check "node2 in ssconf_offline_nodes" grep -qx "$N2" "$(data "$N1" ssconf_offline_nodes)"
check "node2 not in ssconf_online_nodes" bash -c "! grep -qx '$N2' '$(data "$N1" ssconf_online_nodes)'"
expect 0 "gnt-node modify -O no" on "$N1" usr/sbin/gnt-node modify -O no "$N2"
check "node2 online again" grep -qx "$N2" "$(data "$N1" ssconf_online_nodes)"
expect 1 "master cannot go offline" on "$N1" usr/sbin/gnt-node modify -O yes "$N1"
expect 0 "gnt-node list" on "$N1" usr/sbin/gnt-node list --no-headers -o name,role
check "node list shows roles" grep -q "^$N1 M" "$tmp/out"

echo "# cfgupgrade on the same version"
expect 0 "cfgupgrade -f (same version)" cfgupgrade "$N1" -f
saw '^No changes necessary$' "No changes necessary"
b=
for f in "$(data "$N1" config.data.backup-)"*; do
    [[ ${f##*/} =~ ^config\.data\.backup-[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}\.[A-Za-z0-9]{8}$ ]] && b=${f##*/}
done
check "backup written" [ -n "$b" ]
check "backup is 0600" [ "$(mode_of "$(data "$N1" "$b")")" == 600 ]
check "config.data written 0600" [ "$(mode_of "$(data "$N1" config.data)")" == 600 ]
expect 1 "cfgupgrade on a non-master" env GANETI_FAKE_ROOT="$(root_of "$N1")" GANETI_FAKE_HOSTNAME=other.test "$(root_of "$N1")/active/usr/lib/ganeti/tools/cfgupgrade" -f
expect 0 "cfgupgrade --ignore-hostname on a non-master" cfgupgrade "$N2" -f --ignore-hostname
expect 1 "cfgupgrade without -f and no answer" cfgupgrade "$N1" </dev/null

echo "# upgrade 3.0 -> 3.1 by hand"
expect 0 "stop-all on the master" du "$N1" stop-all
check "no daemon left on the master" bash -c "! ls '$(root_of "$N1")'/var/run/ganeti/*.pid 2>/dev/null"
switch "$N1" 3.1.0
expect 1 "3.1 start-all refuses the 3.0 config" du "$N1" start-all
saw 'refusing to start' "refusal message"
check "refusing noded did not start" bash -c "! [ -f '$(root_of "$N1")/var/run/ganeti/ganeti-noded.pid' ]"
touch "$(data "$N1" fake-fail-cfgupgrade)"
expect 1 "injected cfgupgrade failure" cfgupgrade "$N1" -f
rm -f "$(data "$N1" fake-fail-cfgupgrade)"
echo 3.0 >"$(data "$N1" fake-fail-cfgupgrade)"
expect 0 "fault file limited to other versions is ignored" cfgupgrade "$N1" -f --dry-run
rm -f "$(data "$N1" fake-fail-cfgupgrade)"
check "dry run left the config alone" [ "$(cfgver)" == 3000000 ]
expect 0 "3.1 cfgupgrade -f" cfgupgrade "$N1" -f
check "config is now 3.1" [ "$(cfgver)" == 3010000 ]
saw 'successfully upgraded to version 3.1.0' "upgrade message"
expect 0 "start-all on 3.1" du "$N1" start-all
check "luxid runs 3.1.0" [ "$(release_of "$N1" ganeti-luxid)" == 3.1.0 ]
expect 1 "3.0 CLI against 3.1 luxid" env GANETI_FAKE_ROOT="$(root_of "$N1")" GANETI_FAKE_HOSTNAME="$N1" "$tmp/stage-3.0.2/usr/sbin/gnt-cluster" queue info
saw 'LUXI version mismatch' "LUXI mismatch message"
expect 1 "verify sees node2 still on 3.0" gc "$N1" verify --error-codes
saw "ERROR:ENODEVERSION:node:$N2:" "ENODEVERSION for node2"
expect 0 "stop-all on node2" du "$N2" stop-all
switch "$N2" 3.1.0
expect 0 "node2 starts on its stale 3.0 config (redist-conf brings the new one)" du "$N2" start-all
expect 0 "redist-conf pushes the 3.1 config" gc "$N1" redist-conf
check "node2 got the 3.1 config" [ "$(cfgver "$(data "$N2" config.data)")" == 3010000 ]
check "node2 ssconf_release_version is 3.1.0" [ "$(<"$(data "$N2" ssconf_release_version)")" == 3.1.0 ]
expect 0 "node2 start-all on 3.1" du "$N2" start-all
expect 0 "verify after the upgrade" gc "$N1" verify
delay --submit 0 >"$tmp/out" 2>&1
j4=$(sed -n 's/^JobID: //p' "$tmp/out")
check "job after the upgrade ran on 3.1.0" wait_for 10 executed_by_is "$j4" 3.1.0

echo "# downgrade 3.1 -> 3.0 by hand"
for n in "$N1" "$N2"; do du "$n" stop-all >/dev/null 2>&1; done
expect 0 "3.1 cfgupgrade --downgrade -f" cfgupgrade "$N1" --downgrade -f
check "config is 3.0 again" [ "$(cfgver)" == 3000000 ]
expect 0 "downgrade is idempotent" cfgupgrade "$N1" --downgrade -f
check "config still 3.0" [ "$(cfgver)" == 3000000 ]
copy=$tmp/copy
mkdir -p "$copy"
for f in config.data server.pem known_hosts ssconf_master_node; do cp "$(data "$N1" "$f")" "$copy/"; done
chmod u+w "$copy"/*
switch "$N1" 3.0.2
expect 0 "3.0 downgrade goes to 2.16" cfgupgrade "$N1" --downgrade -f --path="$copy"
check "copy is 2.16" [ "$(cfgver "$copy/config.data")" == 2160000 ]
expect 1 "3.1 refuses to downgrade a 2.16 config" env GANETI_FAKE_ROOT="$(root_of "$N1")" GANETI_FAKE_HOSTNAME="$N1" \
    "$tmp/stage-3.1.0/usr/lib/ganeti/tools/cfgupgrade" --downgrade -f --path="$copy"
expect 0 "3.0 upgrades 2.16" cfgupgrade "$N1" -f --path="$copy"
check "copy is 3.0" [ "$(cfgver "$copy/config.data")" == 3000000 ]
python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); c["version"]=3010000; json.dump(c, open(p,"w"))' "$copy/config.data"
expect 1 "3.0 refuses a 3.1 config" cfgupgrade "$N1" -f --path="$copy"
saw 'not supported by this tool' "unsupported-version message"
expect 0 "start-all back on 3.0" du "$N1" start-all
check "luxid runs 3.0.2 again" [ "$(release_of "$N1" ganeti-luxid)" == 3.0.2 ]

echo "# post-upgrade and the call log"
expect 1 "post-upgrade without arguments" on "$N1" usr/lib/ganeti/tools/post-upgrade
expect 1 "post-upgrade with two arguments" on "$N1" usr/lib/ganeti/tools/post-upgrade 3.0.2 3.1.0
expect 0 "post-upgrade 3.1.0" on "$N1" usr/lib/ganeti/tools/post-upgrade 3.1.0
check "post-upgrade logged" grep -q '3.0.2 from=3.1.0 actions=0 rc=0' "$(root_of "$N1")/var/log/ganeti/fake-post-upgrade.log"
expect 0 "post-upgrade from 2.11" on "$N1" usr/lib/ganeti/tools/post-upgrade 2.11.0
check "old versions get renew-crypto" [ "$(wc -l <"$(root_of "$N1")/var/log/ganeti/fake-renew-crypto.log")" == 2 ]
calls=$(root_of "$N1")/var/log/ganeti/fake-calls.log
check "call log names the release" grep -q '^[0-9.]* 3.1.0 cfgupgrade -f$' "$calls"
check "call log keeps the order" bash -c "grep -n -e ' 3.1.0 cfgupgrade -f\$' -e ' 3.1.0 daemon-util start-all\$' '$calls' | tail -n 2 | cut -d' ' -f2- | tr '\n' '|' | grep -qx '3.1.0 cfgupgrade -f|3.1.0 daemon-util start-all|'"

echo "# a stage built with --libdir /usr/lib64 (RPM-style)"
# Its programs live under usr/lib64/ganeti and run each other from there:
# nothing is under usr/lib/ganeti, so a path not following the stage fails.
L=lib64.test
expect 0 "make-stage --libdir /usr/lib gives the default stage" "$here/make-stage" --libdir /usr/lib 3.0.2 "$tmp/libdir-default"
check "... byte for byte" [ "$(tar_of "$tmp/stage-3.0.2")" == "$(tar_of "$tmp/libdir-default")" ]
for rel in 3.0.2 3.1.0; do
    expect 0 "make-stage --libdir /usr/lib64 $rel" "$here/make-stage" --libdir /usr/lib64 "$rel" "$tmp/stage-lib64-$rel"
done
check "its tools are under usr/lib64/ganeti" [ -x "$tmp/stage-lib64-3.1.0/usr/lib64/ganeti/tools/cfgupgrade" ]
check "nothing under usr/lib/ganeti" [ ! -e "$tmp/stage-lib64-3.1.0/usr/lib/ganeti" ]
check "the libdir is baked into the programs" grep -q '^DAEMON_UTIL = PROGROOT + "/usr/lib64/ganeti/daemon-util"$' "$tmp/stage-lib64-3.1.0/usr/sbin/gnt-cluster"
check "hail links to htools inside the lib64 stage" \
    [ "$(readlink -f "$tmp/stage-lib64-3.1.0/usr/lib64/ganeti/iallocators/hail")" == "$(readlink -f "$tmp/stage-lib64-3.1.0/usr/bin/htools")" ]
expect 1 "make-stage rejects a relative --libdir" "$here/make-stage" --libdir usr/lib64 3.0.2 "$tmp/bad-libdir"
expect 1 "make-stage rejects --libdir with .." "$here/make-stage" --libdir /usr/../lib64 3.0.2 "$tmp/bad-libdir"
mkdir -p "$(root_of "$L")/etc/ganeti"
switch "$L" lib64-3.0.2
l64du() { on "$L" usr/lib64/ganeti/daemon-util "$@"; }
expect 0 "gnt-cluster init starts the daemons through usr/lib64's daemon-util" gc "$L" init lib64.cluster.test
check "luxid runs 3.0.2 on the lib64 node" [ "$(release_of "$L" ganeti-luxid)" == 3.0.2 ]
check "daemon-util ran usr/lib64's ensure-dirs" grep -q '3.0.2 full-run=no' "$(root_of "$L")/var/log/ganeti/fake-ensure-dirs.log"
l64du stop ganeti-noded >/dev/null 2>&1
expect 0 "the watcher runs usr/lib64's daemon-util" on "$L" usr/sbin/ganeti-watcher
check "the watcher restarted noded" [ "$(release_of "$L" ganeti-noded)" == 3.0.2 ]
expect 0 "stop-all (lib64)" l64du stop-all
switch "$L" lib64-3.1.0
expect 0 "3.1 cfgupgrade -f from usr/lib64/ganeti/tools" on "$L" usr/lib64/ganeti/tools/cfgupgrade -f
check "the lib64 node's config is 3.1" [ "$(cfgver "$(data "$L" config.data)")" == 3010000 ]
expect 0 "start-all on 3.1 (lib64)" l64du start-all
check "luxid runs 3.1.0 on the lib64 node" [ "$(release_of "$L" ganeti-luxid)" == 3.1.0 ]
expect 0 "verify on the lib64 node" gc "$L" verify
expect 0 "stop-all on 3.1 (lib64)" l64du stop-all

echo "# cleanup"
expect 0 "stop-all on node1" du "$N1" stop-all
expect 0 "stop-all on node2" du "$N2" stop-all
check "no daemons left" bash -c "! ls '$tmp'/nodes/*/var/run/ganeti/*.pid 2>/dev/null"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
