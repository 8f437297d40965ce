# debian-mirror.sh -- sourced by the chroot harnesses (tests/packaging/chroot.sh,
# tests/real-ganeti/harness.sh), not run.
# shellcheck shell=bash

# debian_mirror [OVERRIDE]: the Debian archive URL to debootstrap from:
# OVERRIDE if set, else the host's first apt source (deb822 or one-line
# format), else deb.debian.org.
debian_mirror() {
  if [ -n "${1:-}" ]; then echo "$1"; return; fi
  local uri=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '$1 == "URIs:" { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
