#!/bin/bash
# buildd.sh -- builds the toolkit's Debian package as a Debian build daemon
# would, then checks the package it built.
#
#   1. the source package (debian/make-orig-tarballs: the tree and the
#      vendored crates; dpkg-source -b)
#   2. in a clean minbase chroot of the suite (chroot.sh, cached) with only
#      Debian packages, no rustup: build-essential and the Build-Depends
#      installed by `apt-get build-dep` from the suite's main component
#      (bookworm: rustc-web 1.85, the MSRV). That layer is cached too, keyed
#      by the chroot's recipe and the Build-Depends; a warm run checks it
#      with dpkg-checkbuilddeps.
#   3. dpkg-source -x and dpkg-buildpackage -b as an unprivileged user,
#      HOME=/nonexistent, with the network cut (unshare -n), on an overlay
#      that is thrown away
#   4. lintian on the source package and the .deb: no errors, no warnings
#   5. tests/packaging/run.sh on that .deb: install, use, the mock versioned
#      Ganeti, remove and purge in a second clean chroot, nothing left behind
#
# Time budget, on 2 cores: 15 minutes warm (chroot and build-dependency
# layer cached), 25 minutes when it has to build them (cold) or builds in
# more than one suite. It prints each phase's time and the total, and fails
# when the total is over the budget. Measured: packaging/README.md.
#
# Prints one PASS/FAIL line per check and ends with "N passed, M failed";
# exits 1 if anything failed. Without root it prints SKIPPED and why.
#
# Each .deb it builds is kept in $GANETI_DEB_CACHE/SUITE/KEY/ (default
# /var/cache/ganeti-upgrade-tests/toolkit-deb; KEY: a hash of the source,
# lib.sh's source_key), where the booted-node tests take it from instead of
# building it again (tests/real-ganeti/booted.sh).
#
# Environment: GANETI_BUILDD_SUITES (default "bookworm"; "bookworm trixie"
# builds in both), GANETI_BUILDD_CACHE (the build-dependency layers; default
# /var/cache/ganeti-upgrade-tests/pkg-buildd), GANETI_BUILDD_BUDGET (seconds;
# default 900 warm, 1500 cold), GANETI_BUILDD_ONLY_BUILD=1 (steps 1 to 3
# only: build and keep the .deb, no lintian, no run.sh), GANETI_PKG_KEEP=1
# (keep the work directory), plus chroot.sh's variables.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PACKAGE=ganeti-upgrade-toolkit
# Bump when the build-dependency layer's recipe below changes.
LAYER_REVISION=1
# What a buildd chroot has before it installs the Build-Depends.
BUILD_ESSENTIAL=(build-essential)

# --- inside the private mount namespace ---------------------------------------
# __layer WORK LOWER LAYER: install the build dependencies into LAYER (an
# overlay upper directory over LOWER).
# __build WORK LOWERS: build the source package of WORK/src in a throw-away
# overlay over LOWERS (colon-separated, upper first).

mount_root() { # LOWERS UPPER WORKDIR ROOT
    mkdir -p "$2" "$3" "$4"
    mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"
    mount -t proc proc "$4/proc"
    mount -t tmpfs -o mode=1777 tmp "$4/tmp"
}
inroot() { # ROOT CMD...: a clean environment, as a buildd gives its build
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

if [ "${1:-}" = "__layer" ]; then
    WORK=$2 LOWER=$3 LAYER=$4
    ROOT=$WORK/layer-root
    mount_root "$LOWER" "$LAYER" "$WORK/layer-ovl" "$ROOT"
    mkdir -p "$ROOT/tmp/src/debian"
    cp "$WORK/src/tree/debian/control" "$ROOT/tmp/src/debian/control"
    inroot "$ROOT" apt-get update -qq
    inroot "$ROOT" apt-get install -y -qq --no-install-recommends "${BUILD_ESSENTIAL[@]}"
    inroot "$ROOT" apt-get build-dep -y -qq --no-install-recommends /tmp/src
    inroot "$ROOT" apt-get clean
    rm -rf "$ROOT/var/lib/apt/lists/"*_Packages "$ROOT/var/lib/apt/lists/"*_InRelease
    # The unprivileged build user (sbuild's is also a plain user).
    inroot "$ROOT" useradd --system --no-create-home --home-dir /nonexistent --shell /bin/sh builder
    exit 0
fi

if [ "${1:-}" = "__build" ]; then
    WORK=$2 LOWERS=$3
    ROOT=$WORK/build-root
    mount_root "$LOWERS" "$WORK/build-upper" "$WORK/build-ovl" "$ROOT"
    mkdir -p "$ROOT/build"
    cp "$WORK"/src/*.dsc "$WORK"/src/*.tar.* "$ROOT/build/"
    chown -R "$(inroot "$ROOT" id -u builder):$(inroot "$ROOT" id -g builder)" "$ROOT/build"
    # As builder, with the network cut (unshare -n: a network namespace with
    # only a loopback that is down), HOME=/nonexistent as sbuild sets it.
    # dpkg-checkbuilddeps first, with its own exit code.
    # shellcheck disable=SC2016 # expanded by the sh in the chroot
    unshare --net -- chroot --userspec=builder:builder "$ROOT" /usr/bin/env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent LC_ALL=C.UTF-8 \
        DEB_BUILD_OPTIONS="parallel=$(nproc)" \
        sh -c 'set -e; cd /build; dpkg-source -x ./*.dsc src; cd src
               echo "== dpkg-checkbuilddeps"; dpkg-checkbuilddeps || exit 2
               echo "== dpkg-buildpackage -b -us -uc"; dpkg-buildpackage -b -us -uc || exit 3' || exit $?
    mkdir -p "$WORK/out"
    cp "$ROOT"/build/*.deb "$ROOT"/build/*.buildinfo "$ROOT"/build/*.changes "$WORK/out/"
    exit 0
fi

# --- the driver ---------------------------------------------------------------

if [ "$(id -u)" != 0 ]; then
    echo "SKIPPED: tests/packaging/buildd.sh needs root (debootstrap, chroot, overlay mounts, unshare -n)"
    echo "0 passed, 0 failed"
    exit 0
fi

t_start=$SECONDS
# Raised to the cold budget below when a chroot or layer is (re)built.
budget=${GANETI_BUILDD_BUDGET:-900}
cold_budget=${GANETI_BUILDD_BUDGET:-1500}
passed=0
failed=0
say() { printf '== %s\n' "$*"; }
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
finish() {
    local took=$((SECONDS - t_start))
    if [ "$took" -le "$budget" ]; then
        pass "within the time budget: took ${took} s of ${budget} s"
    else
        fail "within the time budget" "took ${took} s, budget ${budget} s"
    fi
    echo "$passed passed, $failed failed"
    if [ "$failed" = 0 ]; then exit 0; else exit 1; fi
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
install_missing debootstrap dpkg-dev lintian python3 xz-utils git
# cargo on the host only runs `cargo vendor` for the orig-vendor tarball.
if [ -x "$HOME/.cargo/bin/cargo" ]; then PATH=$HOME/.cargo/bin:$PATH; fi

WORK=$(mktemp -d /var/tmp/ganeti-buildd-test.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ "${GANETI_PKG_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
echo "work directory: $WORK (GANETI_PKG_KEEP=1 keeps it)"

# 1. The source package.
mkdir -p "$WORK/src"
t0=$SECONDS
key=$(source_key "$REPO")
if dsc=$(make_source_package "$REPO" "$WORK/src"); then
    pass "source package $(basename "$dsc") ($((SECONDS - t0)) s)"
else
    fail "source package"
    finish
fi

cache=${GANETI_BUILDD_CACHE:-/var/cache/ganeti-upgrade-tests/pkg-buildd}
for suite in ${GANETI_BUILDD_SUITES:-bookworm}; do
    export GANETI_PKG_SUITE=$suite
    # 2. The chroot and its build-dependency layer.
    t0=$SECONDS
    # More than one suite, or a tree still to build: the cold budget.
    if [ "$suite" != "${GANETI_BUILDD_SUITES:-bookworm}" ] || ! "$HERE/chroot.sh" stamp >/dev/null 2>&1; then
        budget=$cold_budget
    fi
    if ! "$HERE/chroot.sh" setup; then
        fail "$suite: the minbase chroot" "chroot.sh setup failed"
        continue
    fi
    base=$("$HERE/chroot.sh" path)
    layer=$cache/$suite/layer
    recipe=$(printf 'revision %s\nbase %s\nbuild-essential %s\n' "$LAYER_REVISION" \
        "$("$HERE/chroot.sh" stamp | tr '\n' ' ')" "${BUILD_ESSENTIAL[*]}"
        sed -n '/^Build-Depends/,/^[^ #]/p' "$WORK/src/tree/debian/control" | grep -v '^#')
    if [ -d "$layer" ] && [ "$(cat "$layer.stamp" 2>/dev/null)" = "$recipe" ]; then
        say "$suite: reusing the build-dependency layer $layer"
    else
        budget=$cold_budget
        say "$suite: apt-get build-dep into a new layer (log: $WORK/layer-$suite.log)"
        rm -rf -- "$layer" "$layer.new" "$layer.stamp" "$WORK/layer-ovl" "$WORK/layer-root"
        mkdir -p "$layer.new"
        if unshare --mount --propagation private -- bash "$HERE/buildd.sh" __layer "$WORK" "$base" "$layer.new" \
            >"$WORK/layer-$suite.log" 2>&1; then
            mv -- "$layer.new" "$layer"
            printf '%s\n' "$recipe" >"$layer.stamp"
            pass "$suite: apt-get build-dep installs the Build-Depends from Debian's archive"
        else
            fail "$suite: apt-get build-dep installs the Build-Depends from Debian's archive" "$(tail -n 5 "$WORK/layer-$suite.log" | tr '\n' ' ')"
            continue
        fi
    fi
    say "$suite: chroot ready after $((SECONDS - t0)) s"

    # 3. The build.
    t0=$SECONDS
    rm -rf -- "$WORK/build-upper" "$WORK/build-ovl" "$WORK/build-root" "$WORK/out"
    log=$WORK/build-$suite.log
    say "$suite: dpkg-buildpackage in the chroot, network cut (log: $log)"
    rc=0
    unshare --mount --propagation private -- bash "$HERE/buildd.sh" __build "$WORK" "$layer:$base" >"$log" 2>&1 || rc=$?
    if [ "$rc" = 2 ]; then
        fail "$suite: dpkg-checkbuilddeps in the chroot" "$(tail -n 3 "$log" | tr '\n' ' ')"
        continue
    fi
    if [ "$rc" != 0 ]; then
        fail "$suite: dpkg-buildpackage -b offline as a user" "$(grep -E '^(error|E:|dpkg-)|error\[' "$log" | tail -n 8 | tr '\n' ' ')"
        tail -n 30 "$log"
        continue
    fi
    took=$((SECONDS - t0))
    rustc=$(grep -m1 '^rustc [0-9]' "$log" || echo "rustc ?")
    pass "$suite: dpkg-buildpackage -b offline as a user with Debian's $rustc (${took} s)"
    deb=$(ls "$WORK"/out/"${PACKAGE}"_*.deb)
    if grep -q "running [0-9]* tests" "$log" && ! grep -q "test result: FAILED" "$log"; then
        pass "$suite: dh_auto_test ran the unit tests ($(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log" | awk '{ n += $1 } END { print n }') passed)"
    else
        fail "$suite: dh_auto_test ran the unit tests"
    fi
    built_using=$(dpkg-deb -f "$deb" Static-Built-Using)
    if [[ $built_using == rustc* ]]; then
        pass "$suite: Static-Built-Using names the Rust std ($built_using)"
    else
        fail "$suite: Static-Built-Using names the Rust std" "'$built_using'"
    fi
    if store_deb "$suite" "$key" "$deb"; then
        say "$suite: kept as $(cached_deb "$suite" "$key") (source key $key)"
    else
        fail "$suite: keep the .deb in $DEB_CACHE"
    fi
    [ "${GANETI_BUILDD_ONLY_BUILD:-0}" = 1 ] && continue

    # 4. lintian, on the host (the same lintian for every suite).
    lintian --tag-display-limit 0 --display-info "$dsc" "$deb" >"$WORK/lintian-$suite.log" 2>&1 || true
    grep -E '^[EW]: ' "$WORK/lintian-$suite.log" >"$WORK/lintian.bad" || true
    if [ -s "$WORK/lintian.bad" ]; then
        fail "$suite: lintian on the source and the .deb: no errors, no warnings" "$(tr '\n' ' ' <"$WORK/lintian.bad")"
    else
        pass "$suite: lintian on the source and the .deb: no errors, no warnings ($(grep -c '^[IP]: ' "$WORK/lintian-$suite.log" || true) info tags)"
    fi

    # 5. Install, use, remove and purge that .deb in a second clean chroot.
    t0=$SECONDS
    say "$suite: tests/packaging/run.sh with this .deb"
    while IFS= read -r line; do
        case "$line" in
            "PASS "*) pass "$suite: ${line#PASS }" ;;
            "FAIL "*) fail "$suite: ${line#FAIL }" ;;
            *) echo "$line" ;;
        esac
    done < <(GANETI_PKG_DEB=$deb bash "$HERE/run.sh" 2>&1 | grep -v -E '^[0-9]+ passed, [0-9]+ failed$')
    say "$suite: run.sh took $((SECONDS - t0)) s"
done
finish
