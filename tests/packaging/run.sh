#!/bin/bash
# run.sh -- the packaging checks: the toolkit's Debian package and the
# maintainer-script helper, on real dpkg.
#
#   1. static: shellcheck of the snippets and these scripts; the cron job's guard
#   2. build, unless GANETI_PKG_DEB names a .deb (buildd.sh builds it in a
#      clean chroot with Debian's rustc and passes it here): the source
#      package of the working tree (lib.sh), dpkg-buildpackage -b -d with
#      the host's cargo (rustup; -d because Debian's rustc-web is not on the
#      host), the cargo target directory cached; then the package's file list
#   3. lintian on the .deb: no errors, no warnings
#   4. in a bookworm minbase chroot (cached, see chroot.sh; an overlay keeps
#      the cache pristine): install the toolkit, use it, then a mock versioned
#      Ganeti built here as a distribution builds it (mock-ganeti.sh:
#      dpkg-buildpackage with `ganeti-packaging debian-install`, dh_strip and
#      dh_compress, the shipped snippets): 3.0, then 3.1 beside it (the links
#      stay on a clustered node and move on a fresh one), refused and allowed
#      removals, broken links repaired, idempotent postinst, a clustered
#      node's dist-upgrade that removes the active version by force; then
#      remove and purge everything and compare the tree with the one before:
#      nothing left.
#
# Prints one PASS/FAIL line per check and ends with "N passed, M failed";
# exits 1 if anything failed. Without root it prints SKIPPED and why.
# As root on Debian it installs what it needs with apt-get.
#
# Environment: GANETI_PKG_DEB (test this .deb instead of building one),
# GANETI_PKG_CACHE (where the package is built and its cargo
# target directory kept between runs; default
# /var/cache/ganeti-upgrade-tests/pkg-build), GANETI_PKG_TARGET_DIR (the cargo
# target directory; default $GANETI_PKG_CACHE/target),
# GANETI_PKG_KEEP=1 (keep the work directory), plus chroot.sh's variables.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=mock-ganeti.sh
. "$HERE/mock-ganeti.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
PACKAGE=ganeti-upgrade-toolkit
TOOLS=(dpkg-dev debhelper lintian debootstrap fakeroot shellcheck git gcc file)

# --- inside the private mount namespace (see chroot_checks) ------------------

if [ "${1:-}" = "__in-namespace" ]; then
    WORK=$2
    ROOT=$WORK/root
    RESULTS=$WORK/results
    LOG=$WORK/chroot.log
    pass() { echo "PASS $1" >>"$RESULTS"; }
    fail() { echo "FAIL $1${2:+: $2}" >>"$RESULTS"; }
    inroot() {
        chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    }
    # check NAME CMD...: CMD in the chroot must succeed.
    check() {
        local name=$1
        shift
        echo "== $name: $*" >>"$LOG"
        if inroot "$@" >>"$LOG" 2>&1; then pass "$name"; else fail "$name" "see $LOG"; fi
    }
    # refused NAME CMD...: CMD must fail; its output goes to $WORK/last.out.
    refused() {
        local name=$1
        shift
        echo "== $name (must fail): $*" >>"$LOG"
        if inroot "$@" >"$WORK/last.out" 2>&1; then
            fail "$name" "succeeded"
        else
            pass "$name"
        fi
        cat "$WORK/last.out" >>"$LOG"
    }
    # run CMD...: output to $WORK/last.out and the log, exit code returned.
    run() {
        echo "== $*" >>"$LOG"
        local rc=0
        inroot "$@" >"$WORK/last.out" 2>&1 || rc=$?
        cat "$WORK/last.out" >>"$LOG"
        return "$rc"
    }
    expect_output() { # NAME PATTERN: the last output holds PATTERN
        if grep -q -- "$2" "$WORK/last.out"; then pass "$1"; else fail "$1" "no '$2' in: $(tr '\n' ' ' <"$WORK/last.out")"; fi
    }
    active_is() { # NAME VERSION ("none": no switch links)
        local got
        if ! got=$(inroot ganeti-switch current 2>&1); then got="error: $got"; fi
        if [ "$got" = "$2" ]; then pass "$1"; else fail "$1" "ganeti-switch current says '$got', expected '$2'"; fi
    }
    installed() { # PACKAGE: is it installed?
        # shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
        # "deinstall ok installed" after a refused dpkg -r: still there.
        [[ "$(inroot dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == *" ok installed" ]]
    }
    # Every path of the tree with its type, mode, size and link target (no
    # size for directories: the overlay's copies of them have other sizes);
    # dpkg's and the kernel's own bookkeeping and the scratch areas left out.
    snapshot() {
        (cd "$ROOT" && find . -xdev \
            \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp -o -path ./run \
               -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache/debconf \
               -o -path ./var/cache/ldconfig -o -path ./root \) -prune \
            -o -type d -printf '%p d %m\n' -o -printf '%p %y %m %s %l\n' | sort)
    }

    lower=$(cat "$WORK/lower")
    mkdir -p "$ROOT" "$WORK/upper" "$WORK/ovl"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT"
    mount -t proc proc "$ROOT/proc"
    mount -t tmpfs -o mode=1777 tmp "$ROOT/tmp"
    mount -t tmpfs -o mode=0755 run "$ROOT/run"
    mkdir -p "$ROOT/tmp/debs"
    cp "$WORK"/debs/*.deb "$ROOT/tmp/debs/"
    snapshot >"$WORK/before"

    # The toolkit itself.
    check "chroot: dpkg -i the toolkit" dpkg -i "/tmp/debs/$(basename "$(cat "$WORK/deb")")"
    check "chroot: ganeti-layout demo runs" ganeti-layout demo --dir /tmp/demo
    check "chroot: ganeti-switch flips the demo to 3.1" ganeti-switch --root /tmp/demo/root to 3.1
    check "chroot: the demo verifies after the switch" ganeti-layout verify --root /tmp/demo/root
    check "chroot: ganeti-upgrade --help" ganeti-upgrade --help
    check "chroot: ganeti-upgrade --version" ganeti-upgrade --version
    check "chroot: man pages are installed" test -s /usr/share/man/man8/ganeti-switch.8.gz -a -s /usr/share/man/man8/ganeti-upgrade.8.gz -a -s /usr/share/man/man8/ganeti-packaging-postinst.8.gz
    # shellcheck disable=SC2016 # expanded by the bash in the chroot
    check "chroot: the bash completions load" bash -c 'for f in /usr/share/bash-completion/completions/ganeti-*; do . "$f"; done; complete -p ganeti-switch ganeti-layout ganeti-upgrade ganeti-packaging'
    check "chroot: the resume unit is enabled for boot" test -L /etc/systemd/system/multi-user.target.wants/ganeti-upgrade-resume.service
    # The installed cron job, with a fake ganeti-upgrade that records its
    # arguments: it resumes only without systemd, when the marker or the
    # intent file says an upgrade is pending, and as /etc/default says.
    cat >"$ROOT/tmp/fake-upgrade" <<'EOF'
#!/bin/sh
echo "$@" >/tmp/fake-upgrade.ran
EOF
    chmod 0755 "$ROOT/tmp/fake-upgrade"
    cron_cmd=$(sed -n 's/^@reboot root //p' "$ROOT/etc/cron.d/$PACKAGE" | sed 's|exec /usr/sbin/ganeti-upgrade|exec /tmp/fake-upgrade|')
    cron_runs() { # NAME EXPECTED ("" = must not run)
        rm -f "$ROOT/tmp/fake-upgrade.ran"
        run sh -c "$cron_cmd" || true
        local got
        got=$(cat "$ROOT/tmp/fake-upgrade.ran" 2>/dev/null || true)
        if [ "$got" = "$2" ]; then pass "$1"; else fail "$1" "ran with '$got', expected '$2'"; fi
    }
    cron_runs "cron: nothing pending, no resume" ""
    mkdir -p "$ROOT/var/lib/ganeti" && touch "$ROOT/var/lib/ganeti/intent-to-upgrade"
    cron_runs "cron: intent file without systemd: resume" "--resume --vote-wait=900 --node-wait=900"
    mkdir -p "$ROOT/run/systemd/system"
    cron_runs "cron: under systemd the unit does it" ""
    rmdir "$ROOT/run/systemd/system"
    rm -rf "$ROOT/var/lib/ganeti"
    mkdir -p "$ROOT/var/lib/ganeti-upgrade" && touch "$ROOT/var/lib/ganeti-upgrade/pending"
    cron_runs "cron: ganeti-upgrade's marker (any --localstatedir): resume" "--resume --vote-wait=900 --node-wait=900"
    cp "$ROOT/etc/default/ganeti-upgrade" "$WORK/default.orig"
    sed -i 's/^EXTRA_ARGS=.*/EXTRA_ARGS="--command-timeout 7200"/' "$ROOT/etc/default/ganeti-upgrade"
    cron_runs "cron: EXTRA_ARGS from /etc/default/ganeti-upgrade" "--resume --vote-wait=900 --node-wait=900 --command-timeout 7200"
    sed -i 's/^BOOT_WAIT=.*/BOOT_WAIT=60/' "$ROOT/etc/default/ganeti-upgrade"
    cron_runs "cron: BOOT_WAIT from /etc/default/ganeti-upgrade" "--resume --vote-wait=60 --node-wait=60 --command-timeout 7200"
    sed -i 's/^RESUME_AT_BOOT=.*/RESUME_AT_BOOT=no/' "$ROOT/etc/default/ganeti-upgrade"
    cron_runs "cron: RESUME_AT_BOOT=no leaves it to the admin" ""
    cp "$WORK/default.orig" "$ROOT/etc/default/ganeti-upgrade"
    rm -rf "$ROOT/var/lib/ganeti-upgrade"

    # A mock versioned Ganeti, as a distribution builds and splits it.
    mock_chroot_checks

    check "chroot: dpkg -r the toolkit" dpkg -r "$PACKAGE"
    if [ ! -e "$ROOT/usr/sbin/ganeti-switch" ]; then pass "chroot: the binaries are gone"; else fail "chroot: the binaries are gone"; fi
    check "chroot: dpkg -P the toolkit" dpkg -P "$PACKAGE"
    snapshot >"$WORK/after"
    if diff -u "$WORK/before" "$WORK/after" >"$WORK/leftovers.diff"; then
        pass "chroot: install, use, remove and purge leave nothing behind"
    else
        fail "chroot: install, use, remove and purge leave nothing behind" "$(grep '^[-+][^-+]' "$WORK/leftovers.diff" | head -n 10 | tr '\n' ' ')"
    fi
    exit 0
fi

# --- the driver ---------------------------------------------------------------

if [ "$(id -u)" != 0 ]; then
    echo "SKIPPED: tests/packaging needs root (dpkg-buildpackage, debootstrap, chroot, mounts)"
    echo "0 passed, 0 failed"
    exit 0
fi

say() { printf '== %s\n' "$*"; }
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
finish() {
    echo "$passed passed, $failed failed"
    if [ "$failed" = 0 ]; then exit 0; else exit 1; fi
}

install_missing "${TOOLS[@]}"
if [ -x "$HOME/.cargo/bin/cargo" ]; then PATH=$HOME/.cargo/bin:$PATH; fi
if [ -z "${GANETI_PKG_DEB:-}" ] && ! command -v cargo >/dev/null; then
    fail "cargo is available" "install Rust 1.85 or newer (rustup, or Debian 12's rustc-web and cargo-web)"
    finish
fi

WORK=$(mktemp -d /var/tmp/ganeti-pkg-test.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ "${GANETI_PKG_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
echo "work directory: $WORK (GANETI_PKG_KEEP=1 keeps it)"

# 1. Static checks.
if shellcheck -s sh "$REPO"/packaging/snippets/postinst.in "$REPO"/packaging/snippets/prerm.in "$REPO"/packaging/snippets/postrm.in; then
    pass "shellcheck: the maintainer-script snippets"
else
    fail "shellcheck: the maintainer-script snippets"
fi
if shellcheck -x "$HERE"/run.sh "$HERE"/chroot.sh "$HERE"/mock-ganeti.sh; then pass "shellcheck: tests/packaging"; else fail "shellcheck: tests/packaging"; fi
cron_line=$(grep '^@reboot' "$REPO/debian/$PACKAGE.cron.d" | sed 's/^@reboot root //')
if sh -n -c "$cron_line" && [[ $cron_line == "[ -x /usr/sbin/ganeti-upgrade ] && [ ! -d /run/systemd/system ]"* ]]; then
    pass "cron.d: guarded by [ -x ... ] and skipped under systemd"
else
    fail "cron.d: guarded by [ -x ... ] and skipped under systemd"
fi

# 2. Build the source package of the working tree, unless given a .deb. The
# unpacked tree is always at the same path and its files get the working
# tree's mtimes back (the tarballs give them all the changelog's date), so
# that cargo's cache in the target directory stays valid between runs: it
# fingerprints workspace crates by path and mtime (vendored crates by
# version).
if [ -n "${GANETI_PKG_DEB:-}" ]; then
    deb=$(realpath -- "$GANETI_PKG_DEB")
    echo "testing $deb (GANETI_PKG_DEB)"
else
    cache=${GANETI_PKG_CACHE:-/var/cache/ganeti-upgrade-tests/pkg-build}
    rm -rf -- "$cache"/*.deb "$cache"/*.ddeb "$cache"/*.changes "$cache"/*.buildinfo "$cache"/*.dsc "$cache"/*.tar.*
    mkdir -p "$cache"
    if ! make_source_package "$REPO" "$cache" >/dev/null; then
        fail "the source package"
        finish
    fi
    (cd "$cache/tree" && find . \( -path ./vendor -o -path ./debian \) -prune -o -type f -print0 |
        while IFS= read -r -d '' f; do touch -r "$REPO/$f" "$f"; done)
    target=${GANETI_PKG_TARGET_DIR:-$cache/target}
    mkdir -p "$target"
    say "dpkg-buildpackage -b -d -us -uc in $cache/tree (CARGO_TARGET_DIR=$target; log: $WORK/build.log)"
    t0=$SECONDS
    if (cd "$cache/tree" && CARGO_TARGET_DIR=$target dpkg-buildpackage -b -d -us -uc) >>"$WORK/build.log" 2>&1; then
        pass "dpkg-buildpackage -b -d -us -uc with the host's cargo ($((SECONDS - t0)) s)"
    else
        fail "dpkg-buildpackage -b -d -us -uc with the host's cargo" "$(tail -n 15 "$WORK/build.log")"
        finish
    fi
    deb=$(ls "$cache/${PACKAGE}"_*.deb)
fi
echo "$deb" >"$WORK/deb"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$WORK/contents"
missing_files=()
for f in /usr/sbin/ganeti-layout /usr/sbin/ganeti-switch /usr/sbin/ganeti-upgrade /usr/sbin/ganeti-packaging \
    /usr/share/man/man8/ganeti-layout.8.gz /usr/share/man/man8/ganeti-switch.8.gz \
    /usr/share/man/man8/ganeti-upgrade.8.gz /usr/share/man/man8/ganeti-packaging.8.gz \
    /usr/share/man/man8/ganeti-switch-to.8.gz /usr/share/man/man8/ganeti-packaging-prerm.8.gz \
    /usr/share/bash-completion/completions/ganeti-layout /usr/share/bash-completion/completions/ganeti-switch \
    /usr/share/bash-completion/completions/ganeti-upgrade /usr/share/bash-completion/completions/ganeti-packaging \
    /etc/cron.d/$PACKAGE /etc/default/ganeti-upgrade \
    /usr/share/ganeti-upgrade-toolkit/maintscripts/postinst.in /usr/share/doc/$PACKAGE/README.packaging.md.gz; do
    grep -qx -- "$f" "$WORK/contents" || missing_files+=("$f")
done
if [ "${#missing_files[@]}" = 0 ]; then pass "the package holds binaries, man pages, completions, unit, cron job, snippets"; else fail "the package holds binaries, man pages, completions, unit, cron job, snippets" "missing: ${missing_files[*]}"; fi
if grep -q ganeti-toolkit-docs "$WORK/contents"; then fail "the build-time docs tool is not shipped"; else pass "the build-time docs tool is not shipped"; fi
# The admin's text (dh_installdocs installs debian/README.Debian; dh_compress
# may compress it).
if grep -qE "^/usr/share/doc/$PACKAGE/README\.Debian(\.gz)?\$" "$WORK/contents"; then pass "the package holds the admin's README.Debian"; else fail "the package holds the admin's README.Debian"; fi

# 3. lintian.
lintian --tag-display-limit 0 --display-info "$deb" >"$WORK/lintian.log" 2>&1 || true
grep -E '^[EW]: ' "$WORK/lintian.log" >"$WORK/lintian.bad" || true
if [ -s "$WORK/lintian.bad" ]; then
    fail "lintian: no errors, no warnings" "$(tr '\n' ' ' <"$WORK/lintian.bad")"
else
    pass "lintian: no errors, no warnings ($(grep -c '^[IP]: ' "$WORK/lintian.log" || true) info tags)"
fi

# 4a. The mock versioned Ganeti, built with the shipped ganeti-packaging.
mkdir -p "$WORK/debs" "$WORK/mock" "$WORK/shipped"
cp "$deb" "$WORK/debs/"
dpkg-deb -x "$deb" "$WORK/shipped"

# The boot-time resume unit as installed, booting nothing: systemd-analyze
# verify in a root made of the package, the host's systemd units and a
# shell (nothing may be printed), then the settings the package relies on.
unit=
for u in usr/lib/systemd/system/ganeti-upgrade-resume.service lib/systemd/system/ganeti-upgrade-resume.service; do
    if [ -f "$WORK/shipped/$u" ]; then unit=$u; fi
done
if [ -z "$unit" ]; then
    fail "the resume unit is in the package"
elif ! command -v systemd-analyze >/dev/null || [ ! -d /usr/lib/systemd/system ]; then
    echo "note: no systemd-analyze or systemd units on this host: unit not verified"
else
    sa=$WORK/sa-root
    mkdir -p "$sa/usr/lib/systemd" "$sa/usr/sbin" "$sa/bin"
    cp -a /usr/lib/systemd/system "$sa/usr/lib/systemd/"
    cp "$WORK/shipped/$unit" "$sa/usr/lib/systemd/system/"
    cp "$WORK/shipped/usr/sbin/ganeti-upgrade" "$sa/usr/sbin/"
    cp /bin/sh "$sa/bin/sh"
    if out=$(systemd-analyze verify --man=no --root="$sa" ganeti-upgrade-resume.service 2>&1) && [ -z "$out" ]; then
        pass "systemd-analyze verify: the resume unit"
    else
        fail "systemd-analyze verify: the resume unit" "$out"
    fi
fi
unit_has() { # NAME LINE: the installed unit has LINE
    if [ -n "$unit" ] && grep -qxF -- "$2" "$WORK/shipped/$unit"; then pass "$1"; else fail "$1" "no '$2'"; fi
}
unit_has "unit: starts before cron (Ganeti's @reboot resume)" "Before=cron.service"
unit_has "unit: Type=exec, so boot does not wait for the resume" "Type=exec"
unit_has "unit: reads /etc/default/ganeti-upgrade" "EnvironmentFile=-/etc/default/ganeti-upgrade"
# shellcheck disable=SC2016 # systemd's $EXTRA_ARGS, not the shell's
unit_has "unit: passes the boot-time wait for nodes and EXTRA_ARGS" 'ExecStart=/usr/sbin/ganeti-upgrade --resume --vote-wait=${BOOT_WAIT} --node-wait=${BOOT_WAIT} $EXTRA_ARGS'
unit_has "unit: the wait's default when /etc/default says none" "Environment=BOOT_WAIT=900"
unit_has "unit: leaves the daemons the resume started running" "KillMode=process"
unit_has "unit: after time sync and Ganeti's own start (init script or native units)" "After=network-online.target time-sync.target ssh.service ganeti.service ganeti.target"
unit_has "unit: done for verify errors, 'not the master', Ganeti's own pending upgrade" "SuccessExitStatus=3 11 12"
unit_has "unit: honours RESUME_AT_BOOT=no" "ExecCondition=/bin/sh -c 'test \"\$\${RESUME_AT_BOOT:-yes}\" != no'"
unit_has "unit: starts for ganeti-upgrade's marker (any --localstatedir)" "ConditionPathExists=|/var/lib/ganeti-upgrade/pending"
unit_has "unit: starts for Ganeti's intent file" "ConditionPathExists=|/var/lib/ganeti/intent-to-upgrade"
if [ -n "$unit" ] && ! grep -q '^TimeoutStartSec=infinity' "$WORK/shipped/$unit"; then pass "unit: no infinite start timeout"; else fail "unit: no infinite start timeout"; fi
if dpkg-deb -I "$deb" conffiles 2>/dev/null | grep -qx /etc/default/ganeti-upgrade; then
    pass "/etc/default/ganeti-upgrade is a conffile"
else
    fail "/etc/default/ganeti-upgrade is a conffile"
fi
helper=$WORK/shipped/usr/sbin/ganeti-packaging
say "the mock versioned Ganeti: dpkg-buildpackage of 3.0.2 and 3.1.0 (logs in $WORK/debs)"
if mock_build "$helper" "$REPO/tests/fake-ganeti/make-stage" "$WORK/debs"; then
    pass "mock: dpkg-buildpackage (debian-install, dh_strip, dh_compress) of 3.0 and 3.1"
else
    fail "mock: dpkg-buildpackage (debian-install, dh_strip, dh_compress) of 3.0 and 3.1"
    finish
fi
# Listings into files: grep -q on a pipe would kill dpkg-deb with SIGPIPE.
dpkg-deb -c "$WORK/debs/ganeti-mock-3.0.deb" >"$WORK/mock/trees.list"
dpkg-deb -c "$WORK/debs/ganeti-mock.deb" >"$WORK/mock/farm.list"
if grep -q './usr/lib/ganeti/3.0/' "$WORK/mock/trees.list" &&
    ! grep -q ' \./usr/sbin/' "$WORK/mock/trees.list" &&
    grep -q './usr/sbin/gnt-cluster -> ../share/ganeti/default/gnt-cluster' "$WORK/mock/farm.list"; then
    pass "mock: debian-install splits trees (ganeti-mock-3.0) from the farm (ganeti-mock)"
else
    fail "mock: debian-install splits trees (ganeti-mock-3.0) from the farm (ganeti-mock)"
    finish
fi
mkdir -p "$WORK/mock/elf"
dpkg-deb -x "$WORK/debs/ganeti-mock-3.0.deb" "$WORK/mock/elf"
if file "$WORK/mock/elf/usr/lib/ganeti/3.0/usr/sbin/ganeti-confd" | grep -q ', stripped'; then
    pass "mock: dh_strip stripped the ELF daemon after debian-install"
else
    fail "mock: dh_strip stripped the ELF daemon after debian-install" "$(file "$WORK/mock/elf/usr/lib/ganeti/3.0/usr/sbin/ganeti-confd")"
fi

# 4b. The chroot.
if ! "$HERE/chroot.sh" setup; then
    fail "the bookworm chroot" "chroot.sh setup failed"
    finish
fi
"$HERE/chroot.sh" path >"$WORK/lower"
: >"$WORK/results"
say "chroot checks (log: $WORK/chroot.log)"
unshare --mount --propagation private -- bash "$HERE/run.sh" __in-namespace "$WORK" || fail "chroot checks ran to the end"
while read -r status name; do
    if [ "$status" = PASS ]; then pass "$name"; else fail "$name"; fi
done <"$WORK/results"
if [ "$failed" -gt 0 ] && [ "${GANETI_PKG_KEEP:-0}" != 1 ]; then
    echo "--- chroot log (last 40 lines) ---"
    tail -n 40 "$WORK/chroot.log" || true
fi
finish
