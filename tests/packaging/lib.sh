# lib.sh -- sourced by tests/packaging/run.sh and buildd.sh, not run.
# shellcheck shell=bash

# install_missing PACKAGE...: installs with apt-get those of the Debian
# packages that are not installed (nothing without apt-get).
install_missing() {
    command -v apt-get >/dev/null || return 0
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    printf '== installing from the Debian archive: %s\n' "${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# make_source_package REPO OUTDIR: the Debian source package of the working
# tree as a developer or CI has it (tracked files and untracked ones that
# .gitignore does not exclude): both upstream tarballs from
# debian/make-orig-tarballs, then dpkg-source -b of the tree they unpack to
# plus debian/. Leaves OUTDIR/*.dsc, the tarballs, and the unpacked tree in
# OUTDIR/tree; prints the .dsc's path. Needs cargo (for `cargo vendor`,
# which reads cargo's download cache or crates.io), dpkg-dev, python3, xz.
make_source_package() {
    local repo=$1 out=$2 tree
    tree=$out/tree
    rm -rf -- "$tree"
    mkdir -p "$tree/vendor"
    (cd "$repo" && debian/make-orig-tarballs "$out") >"$out/tarballs" || return 1
    tar -xJf "$(sed -n 1p "$out/tarballs")" -C "$tree" --strip-components=1 || return 1
    tar -xJf "$(sed -n 2p "$out/tarballs")" -C "$tree/vendor" --strip-components=1 || return 1
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard -- debian |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null --no-recursion -T - -cf - | tar -xf - -C "$tree") || return 1
    # dpkg-source names the .dsc after the changelog's version.
    (cd "$out" && dpkg-source -b tree) >"$out/dpkg-source.log" 2>&1 || { cat "$out/dpkg-source.log" >&2; return 1; }
    ls "$out"/*.dsc
}
