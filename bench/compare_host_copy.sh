#!/usr/bin/env bash
# Host copies across filesystems, where copy_file_range says EXDEV: which
# way of moving the bytes is fastest.  offcopy's splice rung (default), the
# same with a 1 MiB pipe, offcopy with splice turned off (its io_uring
# rung), GNU cp (read/write), Python's shutil.copyfile (sendfile) and, when
# rustc is installed, Rust's std::fs::copy (sendfile after EXDEV).
#
#   bench/compare_host_copy.sh [--runs N] [--size MIB] [--from FS] [--to FS]
#
# Loop-mounts FROM and TO (default ext4 -> xfs) with scripts/fsfixture.sh,
# writes one random SIZE MiB file (default 1024), then per run and contender,
# in an order rotated every run: a fresh destination directory (as
# bench/suite.py makes one per tool), sync, page cache dropped; timed: the
# copy, then `sync -f` of the destination.  Each copy is compared with the
# source (cmp).  Prints per contender the median (min-max) of the total and
# of the copy before the sync.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=7 size=1024 from=ext4 to=xfs offcopy="$here/build/offcopy"
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    --to) to=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$offcopy" ] || { echo "no offcopy binary at $offcopy (build first)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (loop mounts, drop_caches)" >&2; exit 2; }

dir=$(mktemp -d /tmp/offcopy-hostcopy.XXXXXX)
trap '"$here/scripts/fsfixture.sh" down "$dir"; rm -rf "$dir"' EXIT INT TERM
"$here/scripts/fsfixture.sh" up "$dir" $(( size * 4 + 2048 )) "$from" "$to" >/dev/null
src="$dir/$from/src"
head -c "$((size << 20))" /dev/urandom >"$src"
sync

contenders=(offcopy offcopy-pipe1m offcopy-uring cp python)
if command -v rustc >/dev/null || [ -x ~/.cargo/bin/rustc ]; then
  rustc=$(command -v rustc || echo ~/.cargo/bin/rustc)
  "$rustc" -O -o "$dir/rust_copy" "$here/bench/rust_copy.rs"
  contenders+=(rust)
fi

copy() {  # contender dst
  case $1 in
    offcopy) "$offcopy" "$src" "$2" ;;
    offcopy-pipe1m) OFFCOPY_TUNE=splice_pipe=1048576 "$offcopy" "$src" "$2" ;;
    offcopy-uring) OFFCOPY_TUNE=splice_min=1099511627776 "$offcopy" "$src" "$2" ;;
    cp) cp "$src" "$2" ;;
    python) python3 -c 'import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])' "$src" "$2" ;;
    rust) "$dir/rust_copy" "$src" "$2" ;;
  esac
}

log="$dir/times"
n=${#contenders[@]}
for r in $(seq "$runs"); do
  for i in $(seq 0 $((n - 1))); do
    c=${contenders[$(( (i + r) % n ))]}
    rm -rf "$dir/$to"/dst-*
    mkdir "$dir/$to/dst-$c"
    dst="$dir/$to/dst-$c/file"
    sync
    echo 3 >/proc/sys/vm/drop_caches
    t0=$(date +%s.%N)
    copy "$c" "$dst"
    t1=$(date +%s.%N)
    sync -f "$dst"
    t2=$(date +%s.%N)
    cmp -s "$src" "$dst" || { echo "$c: run $r: WRONG COPY" >&2; exit 1; }
    echo "$c $(echo "$t2 - $t0" | bc) $(echo "$t1 - $t0" | bc)" >>"$log"
  done
done

echo "$size MiB $from -> $to, $runs runs, median (min-max) s"
echo
echo "| contender | copy + sync -f | copy before the sync |"
echo "|---|---|---|"
python3 - "$log" "${contenders[@]}" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for c in sys.argv[2:]:
    tot = sorted(float(r[1]) for r in rows if r[0] == c)
    pre = sorted(float(r[2]) for r in rows if r[0] == c)
    f = lambda v: f"{statistics.median(v):.2f} ({v[0]:.2f}-{v[-1]:.2f})"
    print(f"| {c} | {f(tot)} | {f(pre)} |")
EOF
