#!/usr/bin/env bash
# Debian's real Ganeti 3.0.2 packages (bookworm: ganeti, ganeti-3.0,
# ganeti-haskell-3.0, ganeti-htools-3.0), unpacked into a scratch root with
# their dpkg file lists and status stanzas, as dpkg leaves them. Debian
# splits one version in three and only the link-farm package depends on all
# of them, so `apt install ganeti-3.0 ganeti-htools-3.0` gives a 3.0 whose
# every listed file is there and that has no luxid, wconfd or confd. The
# toolkit must call that version incomplete, name the daemons its own build
# says it has and the package dpkg knows that ships them; with that package
# unpacked too, complete.
#
# The .debs are downloaded once (apt-get download with a private apt
# configuration, the host's sources untouched) and cached in
#   ${DEBIAN_SPLIT_CACHE:-/var/cache/ganeti-upgrade-tests/debian-split}
# Needs apt-get, dpkg-deb and the Debian archive; says SKIPPED without them.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/debian-mirror.sh
. tests/lib/debian-mirror.sh

CACHE=${DEBIAN_SPLIT_CACHE:-/var/cache/ganeti-upgrade-tests/debian-split}
SUITE=bookworm
PACKAGES=(ganeti ganeti-3.0 ganeti-haskell-3.0 ganeti-htools-3.0)
failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=1; }

for tool in apt-get dpkg-deb tar; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIPPED debian-split: $tool is not installed"
        exit 0
    fi
done

fetch() {
    local have=1 p
    for p in "${PACKAGES[@]}"; do
        compgen -G "$CACHE/debs/${p}_*.deb" >/dev/null || have=0
    done
    [ "$have" = 1 ] && return 0
    mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial" "$CACHE/debs"
    # apt downloads as _apt where it can.
    chown _apt "$CACHE/debs" 2>/dev/null || true
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror "${DEBIAN_MIRROR:-}") $SUITE main" \
        >"$CACHE/apt/sources.list"
    local apt=(apt-get -q -o Dir::Etc::SourceList="$CACHE/apt/sources.list"
        -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$CACHE/apt/lists"
        -o Dir::Cache="$CACHE/apt/cache" -o APT::Architecture=amd64)
    "${apt[@]}" update >/dev/null
    (cd "$CACHE/debs" && "${apt[@]}" download "${PACKAGES[@]}" >/dev/null)
}
if ! fetch; then
    echo "SKIPPED debian-split: cannot download ${PACKAGES[*]} from the Debian archive"
    exit 0
fi

cargo build -q -p ganeti-layout -p ganeti-switch
SWITCH=$PWD/target/debug/ganeti-switch
LAYOUT=$PWD/target/debug/ganeti-layout

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root

# unpack PACKAGE: its files, its dpkg file list, its status stanza.
unpack() {
    local deb
    deb=$(compgen -G "$CACHE/debs/${1}_*.deb" | head -n 1)
    dpkg-deb -x "$deb" "$ROOT"
    mkdir -p "$ROOT/var/lib/dpkg/info"
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's#^\./$#/.#' -e 's#^\.##' -e 's#/$##' \
        >"$ROOT/var/lib/dpkg/info/$1.list"
    {
        dpkg-deb -f "$deb" Package
        echo "Status: install ok installed"
        dpkg-deb -f "$deb" Version Architecture Depends
        echo
    } >>"$ROOT/var/lib/dpkg/status"
}

mkdir -p "$ROOT/etc/ganeti" "$ROOT/var/lib/dpkg"
: >"$ROOT/var/lib/dpkg/status"
for p in ganeti ganeti-3.0 ganeti-htools-3.0; do unpack "$p"; done
# What ganeti's postinst does on a node outside a cluster.
ln -s /usr/lib/ganeti/3.0 "$ROOT/etc/ganeti/lib"
ln -s /usr/share/ganeti/3.0 "$ROOT/etc/ganeti/share"

out=$("$SWITCH" --root "$ROOT" installed 3.0 2>&1) && rc=0 || rc=$?
echo "${out//$ROOT/ROOT}"
if [ "$rc" = 1 ]; then pass "without ganeti-haskell-3.0, 3.0 is not completely installed"; else fail "installed 3.0 exits $rc without ganeti-haskell-3.0"; fi
for daemon in ganeti-luxid ganeti-wconfd ganeti-confd; do
    if grep -q "^$daemon: missing, but 3.0's own build" <<<"$out"; then pass "names $daemon"; else fail "does not name $daemon"; fi
done
if grep -q 'Debian ships it in ganeti-haskell-3.0' <<<"$out" &&
    grep -q 'apt-get install ganeti-haskell-3.0' <<<"$out"; then
    pass "names the package dpkg knows (ganeti's Depends) and its install"
else
    fail "does not name ganeti-haskell-3.0"
fi
if "$LAYOUT" --root "$ROOT" list | grep -q '3.0 .*INCOMPLETE'; then pass "list: INCOMPLETE"; else fail "list does not say INCOMPLETE"; fi
if "$SWITCH" --root "$ROOT" to 3.0 --force >/dev/null 2>&1; then fail "a switch to the incomplete 3.0 went through"; else pass "a switch to it is refused"; fi

unpack ganeti-haskell-3.0
out=$("$SWITCH" --root "$ROOT" installed 3.0 2>&1) && rc=0 || rc=$?
echo "${out//$ROOT/ROOT}"
if [ "$rc" = 0 ]; then pass "with ganeti-haskell-3.0, 3.0 is completely installed"; else fail "installed 3.0 exits $rc with all three packages"; fi
if "$LAYOUT" --root "$ROOT" list | grep -q '3.0 .*dpkg *complete'; then pass "list: complete"; else fail "list does not say complete"; fi

if [ "$failed" = 0 ]; then echo "debian-split: all passed"; else echo "debian-split: FAILED"; fi
exit "$failed"
