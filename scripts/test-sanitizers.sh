#!/usr/bin/env bash
# The engine under ThreadSanitizer: a Debug build with -fsanitize=thread in
# build-tsan, running the asynchronous engine's tests and the cancellation /
# progress tests (the code that shares state between threads).  Any data
# race reported fails the run (halt_on_error=1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$here" -B "$here/build-tsan" -DOFFCOPY_SANITIZE=thread \
      -DCMAKE_BUILD_TYPE=Debug -DOFFCOPY_BUILD_BENCH=OFF >/dev/null
cmake --build "$here/build-tsan" -j"$(nproc)" --target offcopy_unit_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  "$here/build-tsan/tests/offcopy_unit_tests" --gtest_filter='Engine*:*Control*'
