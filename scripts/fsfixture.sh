#!/usr/bin/env bash
# Loop-mounted test filesystems: btrfs, xfs (reflink=1), ext4 and tmpfs.
#
#   scripts/fsfixture.sh up   DIR [SIZE_MIB] [FS...]   create and mount under DIR
#   scripts/fsfixture.sh down DIR                      unmount, detach, remove
#   scripts/fsfixture.sh run  [SIZE_MIB] -- CMD...     up in a fresh temp dir,
#        export OFFCOPY_TEST_MOUNTS="btrfs=/m/btrfs xfs=/m/xfs ...", run CMD,
#        and always tear down (trap), returning CMD's status.
#
# Each filesystem is mounted at DIR/<fs>; its image is DIR/<fs>.img.  "down"
# only touches what DIR's own state file lists, so it never disturbs a mount
# that another run made.  Needs root and loop devices; without them "up"
# fails with a message saying which one is missing (exit 77 = skip).
set -euo pipefail

ALL_FS=(btrfs xfs ext4 tmpfs)

# Exit 77 tells ctest "skipped"; CI sets OFFCOPY_REQUIRE_FS=1 so that a
# machine that cannot mount fails instead of skipping silently.
die_skip() {
  echo "fsfixture: $*" >&2
  if [ "${OFFCOPY_REQUIRE_FS:-0}" = 1 ]; then echo "fsfixture: OFFCOPY_REQUIRE_FS=1: failing" >&2; exit 1; fi
  exit 77
}

check_env() {
  [ "$(id -u)" = 0 ] || die_skip "not root: cannot mount loop filesystems"
  [ -e /dev/loop-control ] || die_skip "no /dev/loop-control: loop devices unavailable"
  for t in mkfs.btrfs mkfs.xfs mkfs.ext4 losetup; do
    command -v "$t" >/dev/null || die_skip "$t not installed (run scripts/setup.sh)"
  done
}

make_fs() {  # fs dir size_mib
  local fs=$1 dir=$2 size=$3 mnt=$2/$1 img=$2/$1.img dev
  mkdir -p "$mnt"
  if [ "$fs" = tmpfs ]; then
    mount -t tmpfs -o "size=${size}m" tmpfs "$mnt"
    echo "mount $mnt" >>"$dir/state"
    return
  fi
  truncate -s "${size}M" "$img"
  case $fs in
    btrfs) mkfs.btrfs -q -f "$img" >/dev/null ;;
    xfs) mkfs.xfs -q -f -m reflink=1 "$img" >/dev/null ;;
    ext4) mkfs.ext4 -q -F "$img" ;;
  esac
  # Direct I/O to the backing file: no second page cache under the loop
  # device, so timings and memory use are those of the filesystem itself.
  dev=$(losetup --direct-io=on --find --show "$img")
  echo "loop $dev" >>"$dir/state"
  mount "$dev" "$mnt"
  echo "mount $mnt" >>"$dir/state"
}

up() {  # dir size fs...
  local dir=$1 size=$2; shift 2
  local list=("$@"); [ ${#list[@]} -gt 0 ] || list=("${ALL_FS[@]}")
  check_env
  mkdir -p "$dir"; : >"$dir/state"
  local mounts=""
  for fs in "${list[@]}"; do
    make_fs "$fs" "$dir" "$size"
    mounts+="$fs=$dir/$fs "
  done
  echo "${mounts% }" >"$dir/mounts"
}

down() {  # dir
  local dir=$1
  [ -f "$dir/state" ] || return 0
  # Unmount first (reverse order), then detach loops, then remove files.
  tac "$dir/state" | while read -r kind what; do
    if [ "$kind" = mount ]; then
      umount "$what" 2>/dev/null || umount -l "$what" 2>/dev/null || true
    fi
  done
  tac "$dir/state" | while read -r kind what; do
    # A just-unmounted btrfs may hold its device for a moment: retry.
    if [ "$kind" = loop ]; then
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        losetup -d "$what" 2>/dev/null || true
        losetup "$what" >/dev/null 2>&1 || break
        sleep 0.2
      done
    fi
  done
  rm -rf "$dir"
  return 0
}

run() {
  local size=1024
  if [ "${1:-}" != -- ]; then size=$1; shift; fi
  [ "${1:-}" = -- ] && shift
  [ "$size" -ge 512 ] || size=512  # mkfs.xfs needs more than 300 MB
  local dir; dir=$(mktemp -d /tmp/offcopy-fs.XXXXXX)
  trap 'down "'"$dir"'"' EXIT INT TERM
  ( check_env ) || { rc=$?; rm -rf "$dir"; trap - EXIT; return $rc; }
  up "$dir" "$size"
  export OFFCOPY_TEST_MOUNTS; OFFCOPY_TEST_MOUNTS=$(cat "$dir/mounts")
  set +e; "$@"; local rc=$?; set -e
  return $rc
}

cmd=${1:-}; shift || true
case $cmd in
  up) up "$1" "${2:-1024}" "${@:3}" ;;
  down) down "$1" ;;
  run) run "$@" ;;
  *) echo "usage: $0 up DIR [SIZE_MIB] [FS...] | down DIR | run [SIZE_MIB] -- CMD..." >&2; exit 2 ;;
esac
