#!/usr/bin/env bash
# The threaded code under ThreadSanitizer: a Debug build with
# -fsanitize=thread in build-tsan, running the asynchronous engine's tests,
# the cancellation / progress tests, and the tree copier's tests (walker
# pool, engine completions, observer) on loop-mounted filesystems.  Any data
# race reported fails the run (halt_on_error=1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$here" -B "$here/build-tsan" -DOFFCOPY_SANITIZE=thread \
      -DCMAKE_BUILD_TYPE=Debug -DOFFCOPY_BUILD_BENCH=OFF >/dev/null
cmake --build "$here/build-tsan" -j"$(nproc)" --target offcopy_unit_tests offcopy_fs_tests
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
"$here/build-tsan/tests/offcopy_unit_tests" --gtest_filter='Engine*:*Control*'
# The fixture exits 77 (skipped) without root or loop devices, unless
# OFFCOPY_REQUIRE_FS=1 makes that a failure.
rc=0
"$here/scripts/fsfixture.sh" run 1024 -- \
  "$here/build-tsan/tests/offcopy_fs_tests" --gtest_filter='*Tree*' --gtest_brief=1 || rc=$?
if [ "$rc" = 77 ]; then
  echo "test-sanitizers: tree tests skipped (no loop-mounted filesystems here)"
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi
