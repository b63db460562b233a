#!/bin/bash
# Builds a Debian 11 chroot with BVLC Caffe (Debian's python3-caffe, CPU) and OpenBLAS: a reference
# Caffe to compute new cases with and to replay ../shared/fixtures. Needs root, debootstrap and
# network access to a Debian mirror: the one this machine's apt uses (first `URIs:` of
# /etc/apt/sources.list.d/*.sources or `deb` line of /etc/apt/sources.list), or $DEBIAN_MIRROR.
# Usage: scripts/caffe-oracle/setup.sh [ROOT]
set -euo pipefail
ROOT=${1:-${CAFFE_ORACLE_ROOT:-/tmp/caffe-oracle}}
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
mirror() {
  # The machine's own Debian archive (not its security suite), so nothing here names a host.
  local m
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' | grep -v -- '-security' | head -n 1)
  [ -n "$m" ] || m=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{ print $2 }' | grep -v -- '-security' | head -n 1)
  echo "$m"
}
MIRROR=${DEBIAN_MIRROR:-$(mirror)}
[ -n "$MIRROR" ] || { echo "no Debian mirror in /etc/apt sources; set DEBIAN_MIRROR" >&2; exit 1; }
if [ ! -x "$ROOT/usr/bin/python3" ]; then
  debootstrap --variant=minbase bullseye "$ROOT" "$MIRROR"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
chroot "$ROOT" apt-get update -qq
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  python3-caffe caffe python3-numpy libopenblas0-pthread python3-pydot
mkdir -p "$ROOT/oracle"
echo "Caffe oracle ready in $ROOT"
