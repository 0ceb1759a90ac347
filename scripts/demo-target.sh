#!/usr/bin/env bash
# The target part of the quick-start demonstration (scripts/demo.sh runs
# it; it also runs alone, as any user, after scripts/setup.sh): serve a
# sparse 1 GiB file as an iSCSI LUN on 127.0.0.1 with offcopy-target, then
# use it from real initiators -- iscsi-ls finds it, iscsi-inq describes it,
# qemu-img writes a 64 MiB image to it and reads it back, offcopy-target
# status shows what the LUN did -- and stop the target with SIGTERM (it
# flushes the LUN and exits 0).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
target=$here/build/offcopy-target
iqn=iqn.2026-12.org.offcopy:demo
d=$(mktemp -d /tmp/offcopy-demo-target.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$d"
}
trap cleanup EXIT

step() { echo; echo "\$ $*"; "$@"; }
echo
echo "\$ offcopy-target --listen 127.0.0.1:0 --control $d/control.sock --target $iqn --lun 0=$d/disk0.img --create 1G &"
"$target" --listen 127.0.0.1:0 --port-file "$d/port" --control "$d/control.sock" \
  --target "$iqn" --lun 0="$d/disk0.img" --create 1G </dev/null &
pid=$!
for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
port=$(cat "$d/port")
lun=iscsi://127.0.0.1:$port/$iqn/0
step iscsi-ls -s "iscsi://127.0.0.1:$port"
step iscsi-inq "$lun"
head -c $((64 << 20)) /dev/urandom >"$d/image.raw"
step qemu-img convert -n -O raw "$d/image.raw" "$lun"
step qemu-img convert -O raw "$lun" "$d/back.raw"
cmp <(head -c $((64 << 20)) "$d/back.raw") "$d/image.raw"
# What the LUN has done: the 64 MiB written and read back.
echo
echo "\$ offcopy-target status --control $d/control.sock"
"$target" status --control "$d/control.sock"
echo
echo "demo: 64 MiB written to the LUN by QEMU and read back identical;" \
  "the 1 GiB backing file uses $(du -k "$d/disk0.img" | cut -f1) KiB"
kill -TERM "$pid"
wait "$pid"
pid=
echo "demo: offcopy-target stopped cleanly (SIGTERM: LUN flushed, exit 0)"
