#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Token copy (SBC-3's POPULATE TOKEN / WRITE USING TOKEN, what Windows
# calls ODX) against offcopy-target, through libiscsi: token_copy
# (token_copy.cc, beside this script) sends the commands as raw CDBs and
# checks every answer and every byte copied.  Two targets: tokens-a with
# LUN 0 (the source) and LUN 1 (the destination), tokens-b with LUN 0 (a
# session that must not reach tokens-a's LUNs), each LUN a 64 MiB file.
#
#   bash token_test.sh BUILD_DIR [TOKEN_COPY]
#
# TOKEN_COPY defaults to BUILD_DIR/tests/token_copy.  The whole program
# runs twice: with the LUN files on a loop-mounted xfs with reflink=1,
# where the target keeps a token's data as a reflinked snapshot (so
# `--pit snapshot`: a write to a token's ranges leaves the token's data as
# it was), and on a loop-mounted ext4, which cannot reflink (`--pit
# revoke`: the write revokes the token).  Those need root, loop devices,
# mkfs.xfs and mkfs.ext4; without them the script says why, skips both and
# runs the program once in /tmp with `--pit any` (either behaviour, never
# the new data) -- unless OFFCOPY_REQUIRE_FS=1 (CI), where a missing piece
# is a failure.  Without offcopy-target or token_copy it skips (exit 77),
# a failure under OFFCOPY_REQUIRE_TARGET=1.  Every server, mount and loop
# device it makes is undone on exit, whatever happens.  The last line is
#   tokens: N passed, M failed
# and the exit status is non-zero when anything failed.
set -u

BUILD=$(realpath -- "${1:?usage: token_test.sh BUILD_DIR [TOKEN_COPY]}")
TARGET_BIN=$BUILD/offcopy-target
TOKEN_BIN=${2:-$BUILD/tests/token_copy}
# shellcheck source=../lib.sh
. "$(cd "$(dirname "$0")" && pwd)/../lib.sh"
IQN_A=iqn.2026-12.org.offcopy:tokens-a
IQN_B=iqn.2026-12.org.offcopy:tokens-b

require tokens "$TARGET_BIN" "$TOKEN_BIN"

T=$(mktemp -d /tmp/offcopy-tokens.XXXXXX)
PID=
MOUNTS=()  # mount points, in the order made
LOOPS=()   # loop devices, in the order attached
cleanup() {
  local i
  if [ -n "$PID" ]; then kill_now "$PID"; fi
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null
  done
  for ((i = ${#LOOPS[@]} - 1; i >= 0; i--)); do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      losetup -d "${LOOPS[i]}" 2>/dev/null
      losetup "${LOOPS[i]}" >/dev/null 2>&1 || break
      sleep 0.2
    done
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fs_missing: why the loop-mounted runs cannot happen here ("" if they can).
fs_missing() {
  local tool
  if [ "$(id -u)" != 0 ]; then
    echo "not root: cannot mount loop filesystems"
    return
  fi
  if [ ! -e /dev/loop-control ]; then
    echo "no /dev/loop-control: loop devices unavailable"
    return
  fi
  for tool in mkfs.xfs mkfs.ext4 losetup mount umount; do
    if ! command -v "$tool" >/dev/null; then
      echo "$tool not installed (scripts/setup.sh installs it)"
      return
    fi
  done
}

# mount_fs FS: a fresh FS (xfs with reflink, or ext4) on a loop device,
# mounted at $T/FS; its image is a sparse 512 MiB file in $T (mkfs.xfs
# wants 300 MB at least).  Run in this shell, not $(...): MOUNTS and LOOPS
# must reach the trap.  Returns 1 with the reason in $why if it cannot.
mount_fs() {
  local fs=$1 img=$T/$1.img mnt=$T/$1 dev
  mkdir -p "$mnt"
  truncate -s 512M "$img"
  case $fs in
    xfs) mkfs.xfs -q -f -m reflink=1 "$img" >"$T/mkfs.err" 2>&1 ;;
    ext4) mkfs.ext4 -q -F "$img" >"$T/mkfs.err" 2>&1 ;;
  esac || {
    why="mkfs.$fs failed: $(head -3 "$T/mkfs.err")"
    return 1
  }
  if ! dev=$(losetup --find --show "$img" 2>"$T/mkfs.err"); then
    why="losetup failed: $(head -3 "$T/mkfs.err")"
    return 1
  fi
  LOOPS+=("$dev")
  if ! mount "$dev" "$mnt" 2>"$T/mkfs.err"; then
    why="mount of $fs on $dev failed: $(head -3 "$T/mkfs.err")"
    return 1
  fi
  MOUNTS+=("$mnt")
}

# unmount_last: the last mount and loop device undone (the trap does the
# same for whatever is left).
unmount_last() {
  local n=${#MOUNTS[@]} l=${#LOOPS[@]}
  if [ "$n" -gt 0 ]; then
    umount "${MOUNTS[n - 1]}" || umount -l "${MOUNTS[n - 1]}"
    unset 'MOUNTS[n - 1]'
  fi
  if [ "$l" -gt 0 ]; then
    losetup -d "${LOOPS[l - 1]}"
    unset 'LOOPS[l - 1]'
  fi
}

# run_tokens LABEL DIR PIT: the target with its LUN files in DIR, then
# token_copy --pit PIT against it; one check for the program's whole run
# (its own lines are shown as they come), one for the target's stop.
run_tokens() {
  local label=$1 dir=$2 pit=$3 rc summary
  rm -f "$dir"/a0.img "$dir"/a1.img "$dir"/b0.img
  start_target --target "$IQN_A" --lun 0="$dir/a0.img" --lun 1="$dir/a1.img" \
    --target "$IQN_B" --lun 0="$dir/b0.img" --create 64M
  echo "# $label: token_copy --pit $pit (LUN files on $(df --output=fstype "$dir" | tail -1))"
  timeout 300 "$TOKEN_BIN" --pit "$pit" "iscsi://127.0.0.1:$PORT/$IQN_A/0" \
    "iscsi://127.0.0.1:$PORT/$IQN_A/1" "iscsi://127.0.0.1:$PORT/$IQN_B/0" 2>&1 |
    tee "$T/token_copy.out"
  rc=${PIPESTATUS[0]}
  summary=$(tail -1 "$T/token_copy.out")
  if [ "$rc" = 0 ]; then
    pass "$label: $summary"
  else
    fail "$label: token_copy exited $rc: $summary"
    echo "     the target's log, last 20 lines:"
    tail -20 "$T/target.log" | sed 's/^/     /'
  fi
  stop_target 10
}

why=$(fs_missing)
if [ -z "$why" ]; then
  for run in xfs:snapshot ext4:revoke; do
    fs=${run%%:*}
    if mount_fs "$fs"; then
      run_tokens "$fs" "$T/$fs" "${run#*:}"
      unmount_last
    else
      fail "$fs: $why"
    fi
  done
else
  if [ "${OFFCOPY_REQUIRE_FS:-0}" = 1 ]; then
    fail "loop-mounted xfs and ext4: $why (OFFCOPY_REQUIRE_FS=1)"
  else
    echo "skip - loop-mounted xfs (--pit snapshot) and ext4 (--pit revoke): $why"
  fi
  run_tokens "/tmp" "$T" any
fi

echo "tokens: $passed passed, $failed failed"
[ "$failed" = 0 ]
