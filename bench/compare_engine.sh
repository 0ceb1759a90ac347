#!/usr/bin/env bash
# The engine's per-job overhead of this tree against another revision,
# measured side by side: both release builds of offcopy_engine_bench are
# run in turn (base, this, base, this, ...) and each variant's median over
# the rounds is printed with its ratio to the same binary's synchronous
# loop.
#
#   bench/compare_engine.sh [--base REV] [--rounds N] [--reps N]
#
# --base   the revision to compare with (default: HEAD~1); it is built in a
#          temporary git worktree, removed at the end
# --rounds alternations (default 5); --reps repetitions per run (default 8)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
base=HEAD~1 rounds=5 reps=8
while [ $# -gt 0 ]; do
  case $1 in
    --base) base=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    *) echo "usage: $0 [--base REV] [--rounds N] [--reps N]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/offcopy-compare-engine.XXXXXX)
cleanup() {
  git -C "$here" worktree remove --force "$work/base" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
git -C "$here" worktree add --detach "$work/base" "$base" >/dev/null
for tree in "$work/base" "$here"; do
  cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$tree/build" -j"$(nproc)" --target offcopy_engine_bench >/dev/null
done
for r in $(seq 1 "$rounds"); do
  for which in base this; do
    bin=$here/build/bench/offcopy_engine_bench
    [ "$which" = base ] && bin=$work/base/build/bench/offcopy_engine_bench
    "$bin" --benchmark_repetitions="$reps" --benchmark_min_time=0.5 \
      --benchmark_enable_random_interleaving=true \
      --benchmark_report_aggregates_only=true --benchmark_format=csv 2>/dev/null |
      grep median | sed "s/^/$which,$r,/" >>"$work/runs.csv"
  done
  echo "compare_engine: round $r of $rounds done" >&2
done
python3 - "$work/runs.csv" "$base" <<'EOF'
import collections, csv, statistics, sys
runs = collections.defaultdict(list)
for row in csv.reader(open(sys.argv[1])):
    name = row[2].replace("/real_time_median", "").replace("BM_", "")
    runs[(row[0], name)].append(float(row[-1]) * 1e6)  # per_job, µs
names = sorted({n for _, n in runs}, key=lambda n: ("file" in n, "engine" in n, n))
print(f"| per job (µs), median of rounds | {sys.argv[2]} | this tree | this tree, ratio per round |")
print("|---|---|---|---|")
for n in names:
    sync = "sync_copy_file" if "file" in n else "sync_copy_range"
    cells = []
    for which in ("base", "this"):
        m, s = statistics.median(runs[(which, n)]), statistics.median(runs[(which, sync)])
        cells.append(f"{m:.2f}" if n == sync else f"{m:.2f} ({m / s:.2f}×)")
    # Each round's ratio to the same round's synchronous loop.
    per = "" if n == sync else ", ".join(
        f"{a / b:.3f}" for a, b in sorted(zip(runs[("this", n)], runs[("this", sync)]),
                                          key=lambda ab: ab[0] / ab[1]))
    print(f"| {n} | {cells[0]} | {cells[1]} | {per} |")
EOF
