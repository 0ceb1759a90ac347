#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# EXTENDED COPY from a real initiator: QEMU's iSCSI driver sends it for
# `qemu-img convert -C` between two LUNs.  On loop-mounted xfs and btrfs
# the copy must be a reflink (offcopy-target status: every byte cloned,
# the two files sharing their extents); on ext4, which cannot reflink,
# copy_file_range (kernel-copied).  Either way the destination equals the
# source and the source is unchanged.
#
#   bash xcopy_test.sh BUILD_DIR
#
# Needs root (loop devices, mount), mkfs.xfs, mkfs.btrfs, mkfs.ext4,
# qemu-img with iscsi:// and python3; without them it says why and skips
# (exit 77), except under OFFCOPY_REQUIRE_FS=1 or OFFCOPY_REQUIRE_TARGET=1
# (CI), where that is a failure.  Every mount, loop device and server is
# undone on exit, whatever happens.
set -u

BUILD=$(realpath -- "${1:?usage: xcopy_test.sh BUILD_DIR}")
TARGET_BIN=$BUILD/offcopy-target
# shellcheck source=../lib.sh
. "$(cd "$(dirname "$0")" && pwd)/../lib.sh"
IQN=iqn.2026-12.org.offcopy:xcopy
SIZE_MIB=64

why=
[ "$(id -u)" = 0 ] || why="not root (loop devices and mounts)"
for tool in qemu-img mkfs.xfs mkfs.btrfs mkfs.ext4 losetup python3 filefrag; do
  command -v "$tool" >/dev/null || why="${why:+$why; }no $tool"
done
[ -x "$TARGET_BIN" ] || why="${why:+$why; }no $TARGET_BIN"
if [ -n "$why" ]; then
  echo "xcopy: cannot run: $why (scripts/setup.sh installs the tools; run as root)"
  if [ "${OFFCOPY_REQUIRE_FS:-0}" = 1 ] || [ "${OFFCOPY_REQUIRE_TARGET:-0}" = 1 ]; then exit 1; fi
  exit 77
fi

T=$(mktemp -d /tmp/offcopy-xcopy.XXXXXX)
PID=
MNT=
cleanup() {
  kill_now "$PID"
  if [ -n "$MNT" ]; then umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT

# json_field FILE LUN FIELD: a LUN's counter from `status --json`.
json_field() {
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
status = json.load(open(sys.argv[1]))
for target in status["targets"]:
    for lun in target["luns"]:
        if lun["lun"] == int(sys.argv[2]):
            print(lun[sys.argv[3]])
EOF
}

# copy_on FS MKFS...: two LUNs on a fresh FS, QEMU copies 0 to 1 with -C.
copy_on() {
  local fs=$1
  shift
  truncate -s 1G "$T/$fs.img"
  if ! "$@" "$T/$fs.img" >"$T/mkfs.log" 2>&1; then
    fail "$fs: mkfs: $(tail -1 "$T/mkfs.log")"
    return
  fi
  mkdir -p "$T/mnt-$fs"
  # mount -o loop detaches its loop device at umount.
  if ! mount -o loop "$T/$fs.img" "$T/mnt-$fs"; then
    fail "$fs: mount"
    return
  fi
  MNT=$T/mnt-$fs
  head -c ${SIZE_MIB}M /dev/urandom >"$MNT/src.img"
  truncate -s ${SIZE_MIB}M "$MNT/dst.img"
  local before
  before=$(md5sum <"$MNT/src.img")
  start_target --target "$IQN" --lun 0="$MNT/src.img" --lun 1="$MNT/dst.img"
  local base=iscsi://127.0.0.1:$PORT/$IQN
  if qemu-img convert -C -n -f raw -O raw "$base/0" "$base/1" 2>"$T/qemu.log"; then
    pass "$fs: qemu-img convert -C between two LUNs"
  else
    fail "$fs: qemu-img convert -C: $(tr '\n' ' ' <"$T/qemu.log")"
  fi
  "$TARGET_BIN" status --control "$T/control.sock" --json >"$T/status.json"
  stop_target 10
  PID=
  if cmp -s "$MNT/src.img" "$MNT/dst.img"; then
    pass "$fs: the destination equals the source"
  else
    fail "$fs: the destination differs from the source"
  fi
  if [ "$(md5sum <"$MNT/src.img")" = "$before" ]; then
    pass "$fs: the source is unchanged"
  else
    fail "$fs: the source changed"
  fi
  local bytes=$((SIZE_MIB << 20)) cloned kernel host copies
  cloned=$(json_field "$T/status.json" 1 bytes_cloned)
  kernel=$(json_field "$T/status.json" 1 bytes_kernel_copied)
  host=$(json_field "$T/status.json" 1 bytes_host_copied)
  copies=$(json_field "$T/status.json" 1 copies)
  echo "     $fs: status of LUN 1: $copies copies; cloned $cloned, kernel-copied $kernel, host-copied $host"
  if [ "${copies:-0}" -gt 0 ]; then
    pass "$fs: status counts the copies"
  else
    fail "$fs: status shows no copy on LUN 1"
  fi
  case $fs in
    xfs | btrfs)
      if [ "$cloned" = "$bytes" ] && [ "$host" = 0 ]; then
        pass "$fs: every byte cloned"
      else
        fail "$fs: not every byte cloned ($cloned of $bytes)"
      fi
      if filefrag -v "$MNT/dst.img" | grep -q shared; then
        pass "$fs: the files share extents"
      else
        fail "$fs: the destination shares no extent"
      fi
      ;;
    ext4)
      if [ "$cloned" = 0 ] && [ "$kernel" = "$bytes" ]; then
        pass "$fs: every byte kernel-copied"
      else
        fail "$fs: expected $bytes kernel-copied, got cloned $cloned kernel $kernel host $host"
      fi
      ;;
  esac
  umount "$MNT" && MNT=
}

copy_on xfs mkfs.xfs -q -f -m reflink=1
copy_on btrfs mkfs.btrfs -q -f
copy_on ext4 mkfs.ext4 -q -F

echo "xcopy: $passed passed, $failed failed"
[ "$failed" = 0 ]
