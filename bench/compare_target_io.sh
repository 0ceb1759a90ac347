#!/usr/bin/env bash
# How offcopy-target should run its backing-file I/O: measured, variants
# side by side on one 1 GiB LUN, alternated, medians.
#
#   bench/compare_target_io.sh [--rounds N] [--dir DIR] VARIANT...
#
# A VARIANT is NAME=COMMAND: COMMAND (words, env assignments allowed) is
# run with the target's flags appended, e.g.
#   pool4="build/offcopy-target --io-threads 4"
#   inline="env OFFCOPY_IO_INLINE=1 /work/wt-inline/b/offcopy-target"
# (the second is a patched build that runs each command's I/O on the event
# loop thread: the lower bound of dispatch cost that io_uring could reach
# for page-cache hits; docs/bench/history.md, 2026-12-06).
# Rows: 4 KiB random reads and writes at 32 in flight (3 s), 1 MiB
# sequential reads and writes at 8 in flight (1 GiB), by build/iscsi-load.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=3
dir=/var/tmp
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--rounds N] [--dir DIR] NAME=COMMAND..." >&2; exit 2; }
load=$here/build/iscsi-load
iqn=iqn.2026-12.org.offcopy:bench-io
t=$(mktemp -d "$dir/offcopy-bench-io.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
head -c 1G /dev/urandom >"$t/lun.img"

rows=("rand-read --bs 4K --qd 32 --seconds 3" "rand-write --bs 4K --qd 32 --seconds 3"
      "seq-read --bs 1M --qd 8 --bytes 1G" "seq-write --bs 1M --qd 8 --bytes 1G")
declare -A results
variants=("$@")
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    v=${variants[(i + r) % ${#variants[@]}]}  # rotated each round
    name=${v%%=*}
    read -r -a cmd <<<"${v#*=}"
    rm -f "$t/port"
    "${cmd[@]}" -q --listen 127.0.0.1:0 --port-file "$t/port" --target "$iqn" \
      --lun 0="$t/lun.img" </dev/null &
    pid=$!
    for _ in $(seq 100); do [ -s "$t/port" ] && break; sleep 0.1; done
    url=iscsi://127.0.0.1:$(cat "$t/port")/$iqn/0
    for row in "${rows[@]}"; do
      read -r -a args <<<"$row"
      out=$("$load" --mode "${args[@]}" "$url")
      case ${args[0]} in
        seq-*) value=$(grep -o '"mib_per_s":[0-9.]*' <<<"$out" | cut -d: -f2) ;;
        *) value=$(grep -o '"iops":[0-9.]*' <<<"$out" | cut -d: -f2) ;;
      esac
      results[$name,${args[0]}]+="$value "
    done
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '| variant | rand-read IOPS | rand-write IOPS | seq-read MiB/s | seq-write MiB/s |\n'
printf '|---|---|---|---|---|\n'
for v in "${variants[@]}"; do
  name=${v%%=*}
  printf '| %s' "$name"
  for m in rand-read rand-write seq-read seq-write; do
    printf ' | %s' "$(median <<<"${results[$name,$m]}")"
  done
  printf ' |\n'
done
echo
echo "medians of $rounds rounds, variants rotated each round; LUN: 1 GiB in $dir"
