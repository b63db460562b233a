#!/bin/bash
# Runs one of this folder's Python scripts inside the Caffe chroot (setup.sh), with the repo's
# ../shared mounted at /shared and OUT (a host folder) at /out. OpenBLAS is pinned to its Haswell
# kernels: with them this Caffe reproduces ../shared/fixtures' layer cases bit for bit.
#   run.sh SCRIPT.py ARGS...          e.g. run.sh replay.py /shared/fixtures/layers/relu/default/test
#                                     (with OUT=DIR set, DIR is mounted and /out in ARGS names it)
#   run.sh --specs SPECS.py OUT       every spec line of SPECS.py through gen-net-cases.py into OUT
#   run.sh --solver-specs SPECS.py OUT   the same through gen-solver-cases.py
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${CAFFE_ORACLE_ROOT:-/tmp/caffe-oracle}
SHARED=${SHARED:-$(cd "$HERE/../../.." && pwd)/shared}
[ -x "$ROOT/usr/bin/python3" ] || { echo "no Caffe chroot at $ROOT: run setup.sh first" >&2; exit 2; }
mount_once() { mkdir -p "$2"; mountpoint -q "$2" || mount --bind "$1" "$2"; }
# Each run binds its output folder at its own /out.<pid> (runs may overlap) and releases it at exit;
# scripts see it as $OUTM.
OUTM=/out.$$
mount_out() {
  mkdir -p "$ROOT$OUTM"; mount --bind "$1" "$ROOT$OUTM"
  trap 'umount "$ROOT$OUTM" 2>/dev/null; rmdir "$ROOT$OUTM" 2>/dev/null || true' EXIT
}
mount_once /proc "$ROOT/proc"
[ -d "$SHARED" ] && mount_once "$SHARED" "$ROOT/shared"
mkdir -p "$ROOT/oracle/bin"; cp "$HERE"/*.py "$ROOT/oracle/bin/"; cp -r "$HERE/legacy" "$ROOT/oracle/bin/"
inside() { chroot "$ROOT" env OPENBLAS_CORETYPE=Haswell GLOG_minloglevel=3 python3 "$@"; }
case "${1:-}" in
  --specs|--solver-specs)
    gen=gen-net-cases.py; [ "$1" = --solver-specs ] && gen=gen-solver-cases.py
    out=$(realpath -m "$3"); mkdir -p "$out"; mount_out "$out"
    (cd "$(dirname "$2")" && SHARED="$SHARED" python3 "$(basename "$2")") | while IFS= read -r spec; do
      name=$(printf '%s' "$spec" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')
      inside "/oracle/bin/$gen" "$OUTM" "$spec" >/dev/null 2>"$ROOT/oracle/last.$$.err" \
        || echo "Caffe refused $name: $(grep -m1 -E '^F[0-9]|Error' "$ROOT/oracle/last.$$.err" | cut -c1-200)"
    done ;;
  *)
    if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; mount_out "$(realpath "$OUT")"; fi
    script=$1; shift
    args=()   # an argument /out or /out/... names this run's output folder
    for a in "$@"; do if [[ $a == /out || $a == /out/* ]]; then a="$OUTM${a#/out}"; fi; args+=("$a"); done
    inside "/oracle/bin/$script" "${args[@]}" ;;
esac
