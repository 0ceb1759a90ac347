#!/usr/bin/env bash
# The offcopy command of this tree against another revision's, side by
# side: a small file (start-up and one tiny copy), a 64 MiB file and a tree
# of 2,000 small files, copied on tmpfs (/dev/shm) so that the disk does
# not blur what the binaries do.  hyperfine alternates nothing itself, so
# each workload runs base, this, base, this, ... in rounds of its own, and
# the medians over all runs are compared.
#
#   bench/compare_cli.sh [--base REV] [--rounds N] [--runs N]
#
# --base    the revision to compare with (default: HEAD~1), built in a
#           temporary git worktree that is removed at the end
# --rounds  alternations (default 5); --runs  runs per binary per round
#           (default 20)
# Prints one line per workload: both medians (ms) and this/base.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
base=HEAD~1 rounds=5 runs=20
while [ $# -gt 0 ]; do
  case $1 in
    --base) base=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--base REV] [--rounds N] [--runs N]" >&2; exit 2 ;;
  esac
done
command -v hyperfine >/dev/null || { echo "compare_cli: hyperfine is needed (scripts/setup.sh)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/offcopy-cmpcli.XXXXXX)
work=$(mktemp -d /dev/shm/offcopy-cmpcli.XXXXXX)
cleanup() {
  git -C "$here" worktree remove --force "$tmp/base-src" >/dev/null 2>&1 || true
  rm -rf "$tmp" "$work"
}
trap cleanup EXIT

echo "compare_cli: building $base ..." >&2
git -C "$here" worktree add --detach "$tmp/base-src" "$base" >/dev/null 2>&1
cmake -S "$tmp/base-src" -B "$tmp/base-build" -DCMAKE_BUILD_TYPE=Release \
  -DOFFCOPY_BUILD_TESTS=OFF -DOFFCOPY_BUILD_BENCH=OFF -DOFFCOPY_MAN=OFF >/dev/null
cmake --build "$tmp/base-build" -j"$(nproc)" --target offcopy-cli >/dev/null
cmake --build "$here/build" -j"$(nproc)" --target offcopy-cli >/dev/null
declare -A bin=([base]="$tmp/base-build/offcopy" [this]="$here/build/offcopy")

head -c 4096 /dev/urandom >"$work/small"
head -c $((64 << 20)) /dev/urandom >"$work/big"
mkdir "$work/tree"
for i in $(seq 1 2000); do head -c $((i % 7 * 512 + 100)) /dev/urandom >"$work/tree/f$i"; done

# workload name -> arguments (the destination is $work/out)
declare -A args=([small]="$work/small" [64MiB]="$work/big" [tree]="-r $work/tree")
for w in small 64MiB tree; do
  for r in $(seq 1 "$rounds"); do
    for which in base this; do
      # shellcheck disable=SC2086  # the arguments are words
      hyperfine -N --runs "$runs" --warmup 2 --prepare "rm -rf $work/out" \
        --export-json "$tmp/$w-$which-$r.json" "${bin[$which]} ${args[$w]} $work/out" \
        >/dev/null 2>&1
    done
  done
  python3 - "$tmp" "$w" <<'PY'
import glob, json, statistics, sys
tmp, w = sys.argv[1], sys.argv[2]
med = {}
for which in ("base", "this"):
    times = []
    for f in glob.glob(f"{tmp}/{w}-{which}-*.json"):
        times += json.load(open(f))["results"][0]["times"]
    med[which] = statistics.median(times) * 1000
print(f"{w:6s}  base {med['base']:8.2f} ms  this {med['this']:8.2f} ms  this/base {med['this'] / med['base']:.3f}")
PY
done
