#!/usr/bin/env bash
# offcopy-target's libFuzzer targets (fuzz/, docs/target.md "Fuzzing"),
# each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS]      (default 60 per target)
#
# Builds build-fuzz with clang and -DOFFCOPY_FUZZ=ON (every library with
# libFuzzer's coverage, ASan and UBSan), then runs fuzz_iscsi_pdu,
# fuzz_iscsi_connection and fuzz_scsi_cdb one after the other, each for
# SECONDS, starting from its committed seeds (fuzz/corpus/<target>/,
# copied: the inputs a run finds stay in a temporary directory, the
# repository is not changed).  Prints each target's executions and
# coverage; exits non-zero if any target crashed, leaked, timed out or
# broke an invariant, printing the input (base64) so that it can be
# replayed: `build-fuzz/fuzz/<target> FILE`.
#
# Installs nothing: clang and libFuzzer's runtime come from scripts/setup.sh
# (Debian packages clang and libclang-rt-14-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
case $seconds in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
b=$here/build-fuzz
targets=(fuzz_iscsi_pdu fuzz_iscsi_connection fuzz_scsi_cdb)

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is missing: apt-get install clang (scripts/setup.sh installs it)" >&2
  exit 1
fi
runtime=$(clang++ -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a
if [ ! -f "$runtime" ]; then
  echo "fuzz: libFuzzer's runtime ($runtime) is missing: apt-get install libclang-rt-14-dev" \
       "(for Debian 12's clang 14; scripts/setup.sh installs it)" >&2
  exit 1
fi

t0=$SECONDS
# -O2 -g without -DNDEBUG: fast, with the code's own assertions and
# readable stack traces.  No tests, benchmarks or man page: only fuzz/.
CC=clang CXX=clang++ cmake -S "$here" -B "$b" -DOFFCOPY_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" -DOFFCOPY_BUILD_TESTS=OFF \
  -DOFFCOPY_BUILD_BENCH=OFF -DOFFCOPY_MAN=OFF >/dev/null
if ! grep -q '^CMAKE_CXX_COMPILER:.*clang++' "$b/CMakeCache.txt"; then
  echo "fuzz: $b was configured with another compiler; remove it" >&2
  exit 1
fi
cmake --build "$b" -j"$(nproc)" --target "${targets[@]}"
t1=$SECONDS

work=$(mktemp -d /tmp/offcopy-fuzz.XXXXXX)
failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp "$here/fuzz/corpus/$t/"* "$work/$t/corpus/"
  dict=()
  case $t in fuzz_iscsi_*) dict=(-dict="$here/fuzz/iscsi.dict") ;; esac
  echo "fuzz: $t for ${seconds} s"
  rc=0
  # -timeout: one input running 10 s is a hang (a completion that never
  # came); -rss_limit_mb: and 2 GiB of memory, a leak or a runaway buffer.
  "$b/fuzz/$t" "$work/$t/corpus" "${dict[@]}" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/$t/artifacts/" >"$work/$t/log" 2>&1 || rc=$?
  # The last status line: "#EXECS DONE cov: N ft: N corp: N/SIZE ...".
  last=$(grep -E '^#[0-9]+' "$work/$t/log" | tail -1 || true)
  execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
  summary+=("$(printf '%-22s %10s execs  cov %5s  features %6s  corpus %5s  %s' "$t" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$([ "$rc" = 0 ] && echo ok || echo FAILED)")")
  if [ "$rc" != 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); its log:" >&2
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse)' "$work/$t/log" | tail -60 >&2
    for a in "$work/$t/artifacts/"*; do
      [ -f "$a" ] || continue
      echo "fuzz: input $(basename "$a") (base64; replay: base64 -d > FILE;" \
           "build-fuzz/fuzz/$t FILE):" >&2
      base64 -w0 "$a" >&2
      echo >&2
    done
  fi
done

echo "fuzz: build $((t1 - t0)) s, fuzzing $((SECONDS - t1)) s (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (logs and inputs in $work)" >&2
  exit 1
fi
rm -rf "$work"
