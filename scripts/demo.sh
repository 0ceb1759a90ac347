#!/usr/bin/env bash
# The quick-start demonstration: build offcopy, loop-mount btrfs, xfs and
# ext4, and copy a 256 MiB file within btrfs (a reflink), from btrfs to
# ext4 (across filesystems: a host copy), within ext4 (copy_file_range) and
# a sparse file to xfs, each with --debug so every byte is accounted for;
# then a directory tree with -a: within btrfs, to xfs, and as a snapshot.
# Last, offcopy-target serves two LUNs on the xfs that real initiators
# use, and copies one to the other when QEMU asks it to (a reflink;
# scripts/demo-target.sh).  Everything is unmounted and removed afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
bin=$here/build/offcopy
if [ "$(id -u)" != 0 ]; then
  echo "demo: not root, so no loop mounts: copying within $TMPDIR instead" >&2
  d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
  head -c $((64 << 20)) /dev/urandom >"$d/src"
  "$bin" --debug --stats "$d/src" "$d/copy" && cmp "$d/src" "$d/copy" && echo "demo: copy verified"
  exec "$here/scripts/demo-target.sh"
fi
"$here/scripts/fsfixture.sh" run 1024 -- bash -euc '
  declare -A M; for kv in $OFFCOPY_TEST_MOUNTS; do M[${kv%%=*}]=${kv#*=}; done
  bin='"$bin"'
  head -c $((256 << 20)) /dev/urandom >"${M[btrfs]}/disk.img"
  truncate -s 1G "${M[btrfs]}/sparse.img"
  printf "data in the middle" | dd of="${M[btrfs]}/sparse.img" bs=1 seek=$((512 << 20)) conv=notrunc 2>/dev/null
  step() { echo; echo "\$ offcopy $*"; "$bin" "$@"; }
  step --debug --stats "${M[btrfs]}/disk.img" "${M[btrfs]}/disk-copy.img"
  step --debug --stats "${M[btrfs]}/disk.img" "${M[ext4]}/disk.img"
  step --debug --stats "${M[ext4]}/disk.img" "${M[ext4]}/disk-copy.img"
  step --debug --stats "${M[btrfs]}/sparse.img" "${M[xfs]}/sparse.img"
  for f in "${M[btrfs]}/disk-copy.img" "${M[ext4]}/disk.img" "${M[ext4]}/disk-copy.img"; do
    cmp "${M[btrfs]}/disk.img" "$f"
  done
  cmp "${M[btrfs]}/sparse.img" "${M[xfs]}/sparse.img"
  # A tree: /usr/share/doc onto btrfs, then -a within btrfs (reflinks, in
  # parallel), to xfs (across filesystems), and as a subvolume snapshot.
  btrfs subvolume create "${M[btrfs]}/docs" >/dev/null
  tree=/usr/share/doc; [ -d "$tree" ] || tree=/usr/include  # slim images drop docs
  cp -a "$tree/." "${M[btrfs]}/docs/"
  step -a --stats --snapshot=never "${M[btrfs]}/docs" "${M[btrfs]}/docs-copy"
  step -a --stats "${M[btrfs]}/docs" "${M[xfs]}/docs"
  step -a --stats --debug "${M[btrfs]}/docs" "${M[btrfs]}/docs-snap"
  for d in "${M[btrfs]}/docs-copy" "${M[xfs]}/docs" "${M[btrfs]}/docs-snap"; do
    diff -r --no-dereference "${M[btrfs]}/docs" "$d"
  done
  echo; echo "demo: all copies verified with cmp and diff -r; sparse copy uses $(du -k "${M[xfs]}/sparse.img" | cut -f1) KiB on disk for a 1 GiB file"
  # The target, its LUNs on the xfs: a device copy between them is a reflink.
  "'"$here"'/scripts/demo-target.sh" "${M[xfs]}"
'
