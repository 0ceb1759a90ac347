#!/usr/bin/env bash
# Measures the io_uring pipeline's queue depth and buffer size, and compares
# it with pread/pwrite, for a cross-filesystem copy (where copy_file_range
# says EXDEV and a host copy is the only way):
#   1. tmpfs -> tmpfs (two mounts): no device, so only the CPU cost of the
#      pipeline shows;
#   2. ext4 -> xfs on loop devices, page cache dropped, sync timed.
#   bench/tune_uring.sh [--runs N] [--size MIB]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=5 size=1024 bin=$here/build/offcopy
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
dir=$(mktemp -d /tmp/offcopy-tune.XXXXXX)
trap '"$here/scripts/fsfixture.sh" down "$dir"' EXIT INT TERM
"$here/scripts/fsfixture.sh" up "$dir" $((size * 2 + 1024)) ext4 xfs tmpfs
mkdir -p "$dir/tmpfs2"; mount -t tmpfs -o size=$((size * 2))m tmpfs "$dir/tmpfs2"
echo "mount $dir/tmpfs2" >>"$dir/state"
head -c $((size << 20)) /dev/urandom >"$dir/tmpfs/src"
cp "$dir/tmpfs/src" "$dir/ext4/src"; sync

CONFIGS=(
  "read_write,256K:uring_min=1099511627776,rw_buffer=262144"
  "read_write,1M:uring_min=1099511627776,rw_buffer=1048576"
  "uring,1x1M:uring_depth=1,uring_buffer=1048576"
  "uring,2x1M:uring_depth=2,uring_buffer=1048576"
  "uring,4x256K:uring_depth=4,uring_buffer=262144"
  "uring,4x1M:uring_depth=4,uring_buffer=1048576"
  "uring,8x1M:uring_depth=8,uring_buffer=1048576"
  "uring,4x4M:uring_depth=4,uring_buffer=4194304"
)
res=$(mktemp)
for ((r = 1; r <= runs; r++)); do
  for c in "${CONFIGS[@]}"; do
    name=${c%%:*} tune=${c#*:}
    for pair in "tmpfs tmpfs2" "ext4 xfs"; do
      set -- $pair
      rm -f "$dir/$2/dst"; sync
      [ "$1" = ext4 ] && echo 3 >/proc/sys/vm/drop_caches
      t0=$(date +%s%N)
      OFFCOPY_TUNE=$tune "$bin" "$dir/$1/src" "$dir/$2/dst"
      [ "$1" = ext4 ] && sync
      t1=$(date +%s%N)
      cmp -s "$dir/$1/src" "$dir/$2/dst" || { echo "WRONG COPY $name" >&2; exit 1; }
      echo "$1->$2 $name $(( (t1 - t0) / 1000000 ))" >>"$res"
    done
  done
done
python3 - "$res" "$size" "$runs" <<'PY'
import sys, statistics, collections
d = collections.OrderedDict()
for line in open(sys.argv[1]):
    case, name, ms = line.split()
    d.setdefault(name, {}).setdefault(case, []).append(int(ms))
print(f"| {sys.argv[2]} MiB, median of {sys.argv[3]} (ms) | tmpfs->tmpfs (CPU only) | ext4->xfs (cold, sync) |")
print("|---|---|---|")
for name, cases in d.items():
    cells = [f"{statistics.median(v):.0f} ({min(v)}-{max(v)})" for v in cases.values()]
    print(f"| {name} | " + " | ".join(cells) + " |")
PY
rm -f "$res"
