# shellcheck shell=bash
# mock-ganeti.sh -- the mock versioned Ganeti of the packaging test, sourced
# by run.sh: built the way a distribution builds Ganeti, then taken through
# dpkg in the chroot.
#
# mock_build HELPER MAKE_STAGE OUT (on the host): two source packages from
# the fake Ganeti (make-stage --elf --plain-man: ELF daemons with debug
# information, uncompressed man pages), each built with dpkg-buildpackage:
# ganeti-packaging debian-install splits the stage into the farm package and
# the trees package, then debhelper runs its own passes over them: dh_strip
# strips the ELF programs after the manifest was written, dh_compress
# compresses the man pages in the trees (the override renames their farm
# links, in the other package, as dh_compress does within one). OUT gets
# ganeti-mock.deb (the farm, from 3.0.2), ganeti-mock-3.0.deb and
# ganeti-mock-3.1.deb. Returns 1 (with the build log's tail on stderr) on a
# failure.
#
# mock_chroot_checks (inside run.sh's namespace, with its helpers): the
# packages through install, side-by-side install, refused and allowed
# removal, broken links, a clustered node's Debian dist-upgrade that removes
# the active version by force, and purge.

# mock_source RELEASE FARM-PACKAGE DIR HELPER MAKE_STAGE: a source package.
mock_source() {
    local release=$1 farm=$2 dir=$3 helper=$4 make_stage=$5
    local dv=${release%.*} trees
    trees=ganeti-mock-$dv
    mkdir -p "$dir/debian/source"
    echo '3.0 (native)' >"$dir/debian/source/format"
    cat >"$dir/debian/changelog" <<EOF
ganeti-mock-$dv ($release-1) unstable; urgency=medium

  * Mock Ganeti $release for the toolkit's packaging test.

 -- Ganeti upgrade toolkit tests <tests@example.org>  Thu, 01 Jan 2026 00:00:00 +0000
EOF
    cat >"$dir/debian/control" <<EOF
Source: ganeti-mock-$dv
Section: admin
Priority: optional
Maintainer: Ganeti upgrade toolkit tests <tests@example.org>
Build-Depends: debhelper-compat (= 13)
Standards-Version: 4.6.2
Rules-Requires-Root: no

Package: $farm
Architecture: all
Depends: \${misc:Depends}
Description: mock Ganeti link farm (version-independent, for tests)
 The farm links through default, the fixed default links, docs, conffiles.

Package: $trees
Architecture: any
Depends: ganeti-upgrade-toolkit, \${misc:Depends}, \${shlibs:Depends}
Description: mock Ganeti $dv trees (fake programs, for tests)
 The version trees of a fake Ganeti $release.
EOF
    # Recipe lines need tabs.
    sed 's/^        /\t/' >"$dir/debian/rules" <<EOF
#!/usr/bin/make -f
%:
	dh \$@

override_dh_auto_configure override_dh_auto_build override_dh_auto_test override_dh_auto_clean:

# The build's own release is read from the stage: no --release.
override_dh_auto_install:
        rm -rf debian/stage
        $make_stage --elf --plain-man $release debian/stage
        $helper debian-install --stage debian/stage --destdir debian/tmp \\
            --farm-package $farm --trees-package $trees

# The pages are in the trees package, their farm links in the farm package,
# which dh_compress cannot follow across packages: dh_compress compresses the
# pages, and their links get the new names as dh_compress gives them within
# one package.
override_dh_compress:
        dh_compress
        dh_compress -p$trees \$\$(cd debian/$trees && find usr/share/ganeti/$dv/root -type f -name '*.[0-9]')
        cd debian/$farm && for l in \$\$(find usr/share/man -type l ! -name '*.gz'); do \\
            ln -s "\$\$(readlink \$\$l).gz" "\$\$l.gz" && rm "\$\$l"; done
EOF
    chmod 0755 "$dir/debian/rules"
    local script
    for script in postinst prerm postrm; do
        "$helper" snippet "$script" "$dv" >"$dir/debian/$trees.$script" || return 1
    done
}

mock_build() {
    local helper=$1 make_stage=$2 out=$3 builds release farm dv
    builds=$(mktemp -d)
    mkdir -p "$out"
    for release in 3.0.2 3.1.0; do
        dv=${release%.*}
        farm=ganeti-mock
        [ "$dv" = 3.0 ] || farm=unused-farm-$dv
        mock_source "$release" "$farm" "$builds/ganeti-mock-$dv" "$helper" "$make_stage" || return 1
        if ! (cd "$builds/ganeti-mock-$dv" && dpkg-buildpackage -b -d -us -uc) >"$builds/build-$dv.log" 2>&1; then
            tail -n 25 "$builds/build-$dv.log" >&2
            return 1
        fi
        cp "$builds"/ganeti-mock-"${dv}"_"$release"-1_*.deb "$out/ganeti-mock-$dv.deb"
    done
    cp "$builds"/ganeti-mock_3.0.2-1_all.deb "$out/ganeti-mock.deb"
    cp "$builds"/build-*.log "$out/" 2>/dev/null || true
    rm -rf -- "$builds"
}

mock_chroot_checks() {
    : "${ROOT:?run.sh sets it}" "${WORK:?run.sh sets it}"
    local debs=/tmp/debs
    check "mock: install ganeti-mock + ganeti-mock-3.0 on a fresh node" dpkg -i $debs/ganeti-mock.deb $debs/ganeti-mock-3.0.deb
    active_is "mock: 3.0 is active" 3.0
    check "mock: the layout verifies" ganeti-layout verify
    # dh_strip and dh_compress ran after the manifest was written.
    check "mock: the stripped, compressed 3.0 is completely installed" ganeti-switch installed 3.0
    if run ganeti-layout list --json; then pass "mock: ganeti-layout list"; else fail "mock: ganeti-layout list"; fi
    expect_output "mock: ... reports the stripped programs as changed" "(stripped?)"
    expect_output "mock: ... and the compressed pages" "(compressed after the install)"
    if [ -L "$ROOT/usr/share/man/man8/gnt-cluster.8.gz" ] && [ -f "$ROOT/usr/share/ganeti/3.0/root/usr/share/man/man8/gnt-cluster.8.gz" ]; then
        pass "mock: the pages and their farm links carry .gz"
    else
        fail "mock: the pages and their farm links carry .gz"
    fi
    if run /var/lib/dpkg/info/ganeti-mock-3.0.postinst configure 3.0.2-1; then pass "mock: postinst runs again"; else fail "mock: postinst runs again"; fi
    expect_output "mock: ... and says 3.0 is already active" "already active"
    active_is "mock: still 3.0 after the re-run" 3.0

    mkdir -p "$ROOT/var/lib/ganeti" && touch "$ROOT/var/lib/ganeti/server.pem"
    if run dpkg -i $debs/ganeti-mock-3.1.deb; then pass "mock: install 3.1 beside 3.0 on a clustered node"; else fail "mock: install 3.1 beside 3.0 on a clustered node"; fi
    expect_output "mock: ... and it names the upgrade command" "ganeti-upgrade --to 3.1"
    active_is "mock: the clustered node stays on 3.0" 3.0
    refused "mock: removing the active 3.0 is refused" dpkg -r ganeti-mock-3.0
    expect_output "mock: ... with the command that switches first" "ganeti-upgrade --to 3.1"
    if installed ganeti-mock-3.0; then pass "mock: 3.0 is still installed"; else fail "mock: 3.0 is still installed"; fi
    active_is "mock: and still active" 3.0
    check "mock: removing the inactive 3.1 works" dpkg -r ganeti-mock-3.1
    active_is "mock: 3.0 stays active" 3.0
    check "mock: the layout verifies after removing 3.1" ganeti-layout verify

    rm "$ROOT/var/lib/ganeti/server.pem"
    check "mock: install 3.1 on a fresh node" dpkg -i $debs/ganeti-mock-3.1.deb
    active_is "mock: the fresh node moves to 3.1" 3.1
    if run /var/lib/dpkg/info/ganeti-mock-3.0.postinst configure 3.0.2-1; then pass "mock: configuring the older 3.0 again"; else fail "mock: configuring the older 3.0 again"; fi
    active_is "mock: ... keeps the newer 3.1" 3.1
    check "mock: removing the now inactive 3.0 works" dpkg -r ganeti-mock-3.0
    active_is "mock: 3.1 stays active" 3.1

    touch "$ROOT/var/lib/ganeti/server.pem"
    ln -sfn /usr/lib/ganeti/9.9 "$ROOT/etc/ganeti/lib"
    check "mock: postinst repairs dangling links, even in a cluster" /var/lib/dpkg/info/ganeti-mock-3.1.postinst configure 3.1.0-1
    active_is "mock: ... back on 3.1" 3.1
    check "mock: the layout verifies after the repair" ganeti-layout verify
    refused "mock: removing the last version of a clustered node is refused" dpkg -r ganeti-mock-3.1
    rm "$ROOT/var/lib/ganeti/server.pem"
    check "mock: removing the last version of a fresh node works" dpkg -r ganeti-mock-3.1
    if [ ! -e "$ROOT/etc/ganeti/lib" ] && [ ! -L "$ROOT/etc/ganeti/lib" ] && [ ! -L "$ROOT/etc/ganeti/share" ]; then
        pass "mock: postrm dropped the switch links"
    else
        fail "mock: postrm dropped the switch links"
    fi

    # A clustered node's Debian dist-upgrade from 3.0 to 3.1 that removes
    # the active 3.0 by force (issue 12, item 6): the configuration stays at
    # 3.0.2 (ssconf), so nothing may run 3.1 on it before ganeti-upgrade.
    check "dist-upgrade: a clustered node on 3.0" dpkg -i $debs/ganeti-mock-3.0.deb
    active_is "dist-upgrade: 3.0 is active" 3.0
    touch "$ROOT/var/lib/ganeti/server.pem"
    printf '3.0.2\n' >"$ROOT/var/lib/ganeti/ssconf_release_version"
    check "dist-upgrade: 3.1 is installed beside it" dpkg -i $debs/ganeti-mock-3.1.deb
    active_is "dist-upgrade: the node stays on 3.0" 3.0
    if run env GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL=yes dpkg -r ganeti-mock-3.0; then
        pass "dist-upgrade: the administrator forces the removal of 3.0"
    else
        fail "dist-upgrade: the administrator forces the removal of 3.0"
    fi
    expect_output "dist-upgrade: ... prerm warns that the cluster needs 3.0 until an upgrade" "this node is in a cluster"
    expect_output "dist-upgrade: ... postrm names reinstalling 3.0 and the upgrade" "reinstall Ganeti 3.0, then run on the master: ganeti-upgrade --to 3.1"
    if grep -q "ganeti-switch to 3.1" "$WORK/last.out"; then
        fail "dist-upgrade: ... and no bare ganeti-switch to 3.1"
    else
        pass "dist-upgrade: ... and no bare ganeti-switch to 3.1"
    fi
    if run /var/lib/dpkg/info/ganeti-mock-3.1.postinst configure 3.1.0-1; then pass "dist-upgrade: 3.1's postinst runs again"; else fail "dist-upgrade: 3.1's postinst runs again"; fi
    expect_output "dist-upgrade: ... and leaves the links alone" "so the links were left alone"
    if [ "$(readlink "$ROOT/etc/ganeti/lib")" = /usr/lib/ganeti/3.0 ]; then
        pass "dist-upgrade: the node was not flipped to 3.1"
    else
        fail "dist-upgrade: the node was not flipped to 3.1" "lib -> $(readlink "$ROOT/etc/ganeti/lib")"
    fi
    check "dist-upgrade: the fix the messages name: reinstall 3.0" dpkg -i $debs/ganeti-mock-3.0.deb
    active_is "dist-upgrade: ... the node is on 3.0 again" 3.0
    check "dist-upgrade: ... and 3.1 is ready for ganeti-upgrade --to 3.1" ganeti-switch installed 3.1
    check "dist-upgrade: ... the node is sound" ganeti-switch check
    rm -f "$ROOT/var/lib/ganeti/server.pem" "$ROOT/var/lib/ganeti/ssconf_release_version"

    # 3.1 first: 3.0 is active, and the last version of a node outside a
    # cluster may go only once no other could take over.
    check "mock: purge everything" dpkg -P ganeti-mock-3.1 ganeti-mock-3.0 ganeti-mock
}
