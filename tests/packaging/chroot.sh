#!/bin/bash
# chroot.sh -- the cached Debian minbase trees (Debian 12 bookworm by
# default) that the packaging tests install into and build in.
#
#   chroot.sh setup     build the tree, or reuse the cached one if its stamp matches
#   chroot.sh path      print the tree's path
#   chroot.sh stamp     print the recipe the tree was built from
#   chroot.sh purge     delete the cache
#
# The tree is never changed by the tests: run.sh mounts an overlay over it
# (inside a private mount namespace), so every test run starts from the same
# pristine system and whatever a package leaves behind shows up in the
# overlay's upper directory.
#
# Environment: GANETI_PKG_SUITE (bookworm, the default, or trixie),
# GANETI_PKG_CHROOT (default /var/cache/ganeti-upgrade-tests/pkg-chroot/root
# for bookworm, .../pkg-chroot-SUITE/root for another suite),
# GANETI_PKG_MIRROR (Debian archive URL; default: the host's first apt
# source, else deb.debian.org). Only the suite's main component: no
# security or updates suites, so that a build in it sees the suite's own
# packages (for bookworm, rustc-web 1.85, the MSRV).
set -euo pipefail

SUITE=${GANETI_PKG_SUITE:-bookworm}
case "$SUITE" in
    bookworm) default_root=/var/cache/ganeti-upgrade-tests/pkg-chroot/root ;;
    trixie) default_root=/var/cache/ganeti-upgrade-tests/pkg-chroot-trixie/root ;;
    *) echo "chroot.sh: GANETI_PKG_SUITE must be bookworm or trixie, not '$SUITE'" >&2; exit 2 ;;
esac
ROOT=$(realpath -m -- "${GANETI_PKG_CHROOT:-$default_root}")
STAMP=$ROOT.stamp
# Bump when the recipe below changes: the stamp then no longer matches and
# the next `setup` rebuilds the tree.
RECIPE_REVISION=1

say() { printf 'pkg-chroot: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# shellcheck source-path=SCRIPTDIR source=../lib/debian-mirror.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../lib/debian-mirror.sh"
mirror() { debian_mirror "${GANETI_PKG_MIRROR:-}"; }

recipe() {
    printf 'revision %s\nsuite %s\nvariant minbase\nmirror %s\narch %s\n' \
        "$RECIPE_REVISION" "$SUITE" "$(mirror)" "$(dpkg --print-architecture)"
}

stamp_ok() {
    [ -s "$STAMP" ] && [ -x "$ROOT/usr/bin/dpkg" ] && [ "$(cat "$STAMP")" = "$(recipe)" ]
}

setup() {
    [ "$(id -u)" = 0 ] || die "needs root (debootstrap)"
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    if stamp_ok; then
        say "reusing $ROOT"
        return 0
    fi
    local log
    log=$(dirname "$ROOT")/debootstrap.log
    mkdir -p "$(dirname "$ROOT")"
    rm -rf -- "$ROOT" "$STAMP" "$ROOT.new"
    say "debootstrap --variant=minbase $SUITE $ROOT $(mirror) (log: $log)"
    if ! debootstrap --variant=minbase "$SUITE" "$ROOT.new" "$(mirror)" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "debootstrap failed"
    fi
    # Nothing in the tree may start services while packages are installed.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT.new/usr/sbin/policy-rc.d"
    chmod 0755 "$ROOT.new/usr/sbin/policy-rc.d"
    rm -rf "$ROOT.new/var/cache/apt/archives/"*.deb "$ROOT.new/var/lib/apt/lists/"*_Packages 2>/dev/null || true
    mv -- "$ROOT.new" "$ROOT"
    recipe >"$STAMP"
    say "ready: $ROOT"
}

case "${1:-}" in
    setup) setup ;;
    path) echo "$ROOT" ;;
    stamp) cat "$STAMP" ;;
    purge) rm -rf -- "$ROOT" "$ROOT.new" "$STAMP" ;;
    *) echo "usage: chroot.sh setup|path|stamp|purge" >&2; exit 2 ;;
esac
