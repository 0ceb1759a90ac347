#!/usr/bin/env bash
# Single-file copies, offcopy vs GNU cp, side by side in one run.
#
#   bench/compare_cp.sh [--runs N] [--size MIB] [--offcopy PATH] [--out FILE]
#                       [--cases "ext4 ext4,ext4 xfs"]
#
# Loop-mounts btrfs, xfs (reflink=1), ext4 and tmpfs (scripts/fsfixture.sh),
# writes one random file of SIZE MiB per source filesystem, then for each
# case runs cp and offcopy alternately (the order flips every run so drift
# hits both alike).  Before each timed run: destination removed, `sync`, page
# cache dropped.  Timed: the copy plus `sync`.  After each run the copy is
# compared with the source (cmp); a wrong copy marks the cell FAILED.
# Prints a Markdown table: median (min-max) seconds and offcopy/cp ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=5 size=1024 out="" offcopy="$here/build/offcopy"
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --offcopy) offcopy=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cases) IFS=, read -ra CASES <<<"$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$offcopy" ] || { echo "no offcopy binary at $offcopy (build first)" >&2; exit 2; }

dir=$(mktemp -d /tmp/offcopy-bench.XXXXXX)
trap '"$here/scripts/fsfixture.sh" down "$dir"' EXIT INT TERM
img=$(( size * 3 + 1024 ))
"$here/scripts/fsfixture.sh" up "$dir" "$img" btrfs xfs ext4 tmpfs 2>/dev/null

[ -n "${CASES+x}" ] || CASES=("btrfs btrfs" "xfs xfs" "ext4 ext4" "tmpfs tmpfs" "ext4 xfs")
for fs in btrfs xfs ext4 tmpfs; do
  head -c "$((size << 20))" /dev/urandom >"$dir/$fs/src"
done
sync

timed() {  # cmd... ; prints seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  sync
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

results=$(mktemp)
for ((r = 1; r <= runs; r++)); do
  for c in "${CASES[@]}"; do
    set -- $c
    src=$dir/$1/src dst=$dir/$2/dst
    tools=(cp offcopy)
    (( r % 2 == 0 )) && tools=(offcopy cp)
    for tool in "${tools[@]}"; do
      rm -f "$dst"; sync; echo 3 >/proc/sys/vm/drop_caches
      if [ "$tool" = cp ]; then
        t=$(timed cp --reflink=auto "$src" "$dst")
      else
        t=$(timed "$offcopy" "$src" "$dst")
      fi
      if cmp -s "$src" "$dst"; then
        echo "$1->$2 $tool $t" >>"$results"
      else
        echo "$1->$2 $tool FAILED" >>"$results"
      fi
    done
  done
  rm -f "$dir"/*/dst
done

table=$(python3 - "$results" "$size" "$runs" <<'PY'
import sys, statistics, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    case, tool, t = line.split()
    rows.setdefault(case, {}).setdefault(tool, []).append(t)
size, runs = sys.argv[2], sys.argv[3]
print(f"| {size} MiB file, {runs} runs | cp median (min-max) s | offcopy median (min-max) s | offcopy/cp |")
print("|---|---|---|---|")
def cell(v):
    if "FAILED" in v: return None, "FAILED"
    x = sorted(float(t) for t in v)
    m = statistics.median(x)
    return m, f"{m:.3f} ({x[0]:.3f}-{x[-1]:.3f})"
for case, tools in rows.items():
    mc, sc = cell(tools["cp"]); mo, so = cell(tools["offcopy"])
    ratio = f"{mo/mc:.2f}" if mc and mo else "n/a"
    print(f"| {case} | {sc} | {so} | {ratio} |")
PY
)
rm -f "$results"
echo "$table"
if [ -n "$out" ]; then echo "$table" >"$out"; fi
