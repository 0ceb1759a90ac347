#!/usr/bin/env bash
# The target part of the quick-start demonstration (scripts/demo.sh runs
# it with its loop-mounted xfs; it also runs alone, as any user, after
# scripts/setup.sh, in a temporary directory):
#
#   scripts/demo-target.sh [DIR]
#
# serve two sparse 1 GiB files in DIR as iSCSI LUNs on 127.0.0.1 with
# offcopy-target, then use them from real initiators -- iscsi-ls finds
# them, iscsi-inq describes one, qemu-img writes a 64 MiB image to LUN 0
# and reads it back, then copies LUN 0 to LUN 1 with -C: a device copy
# (EXTENDED COPY), which the target does as a reflink on xfs or btrfs and
# copy_file_range elsewhere -- offcopy-target status shows which, and
# what each LUN did -- and stop the target with SIGTERM (it flushes the
# LUNs and exits 0).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
target=$here/build/offcopy-target
iqn=iqn.2026-12.org.offcopy:demo
d=$(mktemp -d /tmp/offcopy-demo-target.XXXXXX)
luns=${1:-$d}
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -f "$luns/disk0.img" "$luns/disk1.img"
  rm -rf "$d"
}
trap cleanup EXIT

step() { echo; echo "\$ $*"; "$@"; }
echo
echo "\$ offcopy-target --listen 127.0.0.1:0 --control $d/control.sock --target $iqn" \
  "--lun 0=$luns/disk0.img --lun 1=$luns/disk1.img --create 1G &"
"$target" --listen 127.0.0.1:0 --port-file "$d/port" --control "$d/control.sock" \
  --target "$iqn" --lun 0="$luns/disk0.img" --lun 1="$luns/disk1.img" --create 1G </dev/null &
pid=$!
for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
port=$(cat "$d/port")
lun0=iscsi://127.0.0.1:$port/$iqn/0
lun1=iscsi://127.0.0.1:$port/$iqn/1
step iscsi-ls -s "iscsi://127.0.0.1:$port"
step iscsi-inq "$lun0"
head -c $((64 << 20)) /dev/urandom >"$d/image.raw"
step qemu-img convert -n -O raw "$d/image.raw" "$lun0"
step qemu-img convert -O raw "$lun0" "$d/back.raw"
cmp <(head -c $((64 << 20)) "$d/back.raw") "$d/image.raw"
# The device copy: QEMU asks the target to copy LUN 0 to LUN 1 (-C).
t0=$(date +%s%N)
step qemu-img convert -C -n -O raw "$lun0" "$lun1"
t1=$(date +%s%N)
echo
echo "\$ offcopy-target status --control $d/control.sock"
"$target" status --control "$d/control.sock"
kill -TERM "$pid"
wait "$pid"
pid=
cmp "$luns/disk0.img" "$luns/disk1.img"
echo
echo "demo: 64 MiB written to LUN 0 by QEMU and read back identical; LUN 0" \
  "copied to LUN 1 by the target itself in $(((t1 - t0) / 1000000)) ms," \
  "identical ($(df --output=fstype "$luns" | tail -1) under the LUNs)"
echo "demo: offcopy-target stopped cleanly (SIGTERM: LUNs flushed, exit 0)"
