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

# source_key REPO: a hash of what the binary package is built from: the
# files make_source_package takes (tracked ones and untracked ones that
# .gitignore does not exclude), names and contents, but for tests/ and .ci/,
# which the source package carries and the build never reads (debian/rules
# runs only the crates' unit tests). The same key means the same .deb, so a
# .deb built from it can be reused.
source_key() {
    (cd "$1" && git ls-files -z --cached --others --exclude-standard -- . ':!tests' ':!.ci' |
        while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
        LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# The .debs buildd.sh built, kept by suite and source key:
# DEB_CACHE/SUITE/KEY/*.deb (the newest few; see store_deb).
DEB_CACHE=${GANETI_DEB_CACHE:-/var/cache/ganeti-upgrade-tests/toolkit-deb}

# cached_deb SUITE KEY: the cached .deb's path, if there is one.
cached_deb() {
    local d=$DEB_CACHE/$1/$2 f
    [ -s "$d/complete" ] || return 1
    for f in "$d"/*.deb; do [ -f "$f" ] && { echo "$f"; return 0; }; done
    return 1
}

# store_deb SUITE KEY DEB: keep DEB in the cache, and only the 3 newest keys
# of the suite.
store_deb() {
    local d=$DEB_CACHE/$1/$2 old
    rm -rf -- "$d"
    mkdir -p "$d"
    cp -- "$3" "$d/" && date -u +%FT%TZ > "$d/complete"
    # shellcheck disable=SC2012 # our own directory names: hex keys
    for old in $(ls -1t "$DEB_CACHE/$1" | tail -n +4); do rm -rf -- "${DEB_CACHE:?}/$1/$old"; done
}
