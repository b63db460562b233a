#!/bin/bash
# Builds a Debian 11 chroot with BVLC Caffe (Debian's python3-caffe, CPU) and OpenBLAS: a reference
# Caffe to compute new cases with and to replay ../shared/fixtures. Needs root, debootstrap and
# network access to deb.debian.org. Usage: scripts/caffe-oracle/setup.sh [ROOT]
set -euo pipefail
ROOT=${1:-${CAFFE_ORACLE_ROOT:-/tmp/caffe-oracle}}
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
if [ ! -x "$ROOT/usr/bin/python3" ]; then
  debootstrap --variant=minbase bullseye "$ROOT" http://deb.debian.org/debian
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
chroot "$ROOT" apt-get update -qq
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  python3-caffe caffe python3-numpy libopenblas0-pthread
mkdir -p "$ROOT/oracle"
echo "Caffe oracle ready in $ROOT"
