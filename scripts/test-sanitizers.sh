#!/usr/bin/env bash
# The tests under the sanitizers.
#
#   scripts/test-sanitizers.sh [thread|address|all]     (default: all)
#
# thread:  the threaded code under ThreadSanitizer: a Debug build with
#   -fsanitize=thread in build-tsan, running the asynchronous engine's
#   tests, the cancellation / progress tests, and the tree copier's tests
#   (walker pool, engine completions, observer) on loop-mounted
#   filesystems; and offcopy-target's unit tests (I/O pool completions
#   reaching connections through the loop's queue, unit attentions).
#   Any data race reported fails the run (halt_on_error=1).
# address: every ctest entry (unit and fault tests, fs_tests, the CLI
#   tests, install_package) under AddressSanitizer + LeakSanitizer +
#   UndefinedBehaviorSanitizer: a Debug build at -O1 with
#   -fsanitize=address,undefined in build-asan.  Any report fails the run:
#   UBSan is built with -fno-sanitize-recover=all (CMakeLists.txt), every
#   report aborts the process (abort_on_error=1, so exit 134, which the
#   tests' exit-status checks catch), and as a backstop the run fails if
#   ASan/LSan wrote a log (log_path) or a test's output holds a UBSan
#   "runtime error:" -- this also catches a report from a process whose
#   exit status a test ignores.  install_package is kept: it links the
#   sanitized libraries, shared and static, into the consumers
#   (install_test.sh adds -fsanitize) and runs them, so it checks the C
#   API end to end too.
#
# The fs tests skip (exit 77) without root or loop devices, unless
# OFFCOPY_REQUIRE_FS=1 (CI) makes that a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
which=${1:-all}
case $which in
  thread|address|all) ;;
  *) echo "usage: $0 [thread|address|all]" >&2; exit 2 ;;
esac

run_thread() {
  cmake -S "$here" -B "$here/build-tsan" -DOFFCOPY_SANITIZE=thread \
        -DCMAKE_BUILD_TYPE=Debug -DOFFCOPY_BUILD_BENCH=OFF >/dev/null
  cmake --build "$here/build-tsan" -j"$(nproc)" --target offcopy_unit_tests offcopy_fs_tests \
    offcopy_target_tests
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    "$here/build-tsan/tests/offcopy_unit_tests" --gtest_filter='Engine*:*Control*:TreeFault*'
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    "$here/build-tsan/tests/offcopy_target_tests" --gtest_brief=1
  local rc=0
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    "$here/scripts/fsfixture.sh" run 1024 -- \
    "$here/build-tsan/tests/offcopy_fs_tests" --gtest_filter='*Tree*' --gtest_brief=1 || rc=$?
  if [ "$rc" = 77 ]; then
    echo "test-sanitizers: tree tests skipped (no loop-mounted filesystems here)"
  elif [ "$rc" != 0 ]; then
    exit "$rc"
  fi
}

run_address() {
  local b=$here/build-asan
  # -O1: at -O0 the tests' own byte-by-byte comparisons (std::mismatch
  # over 40 MiB strings, uninlined iterators) made fs_tests take 10 min.
  cmake -S "$here" -B "$b" -DOFFCOPY_SANITIZE=address,undefined \
        -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
        -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DOFFCOPY_BUILD_BENCH=OFF >/dev/null
  local t0=$SECONDS
  cmake --build "$b" -j"$(nproc)"
  local t1=$SECONDS
  local logs; logs=$(mktemp -d /tmp/offcopy-asan.XXXXXX)
  # GCC links libasan and libubsan separately: UBSan reports always go to
  # stderr, and UBSAN_OPTIONS also sets the common flags (log_path,
  # abort_on_error) that ASan uses, so both variables carry them.
  local common=abort_on_error=1:log_path=$logs/report
  local rc=0
  # The property tests run their full counts in the release build
  # (scripts/test.sh); here a few dozen cases per test reach the same code
  # paths at a fraction of ASan's cost (~70 s -> ~10 s).
  # The load test's two phases are 15 s each here (30 s in the release
  # build), and two tests run at once (those marked RUN_SERIAL alone):
  # the sanitizers see the same paths, CI stays near 25 minutes
  # (292 s -> 216 s for this ctest).
  OFFCOPY_PROPERTY_CASES=${OFFCOPY_PROPERTY_CASES:-60} \
  OFFCOPY_LOAD_SECONDS=${OFFCOPY_LOAD_SECONDS:-30} \
  ASAN_OPTIONS=detect_leaks=1:$common \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:$common \
    ctest --test-dir "$b" --output-on-failure -j2 || rc=$?
  echo "test-sanitizers: address: build $((t1 - t0)) s, ctest $((SECONDS - t1)) s"
  if [ -n "$(ls -A "$logs")" ]; then
    echo "test-sanitizers: ASan/LSan reports:" >&2
    cat "$logs"/* >&2
    rc=1
  fi
  rm -rf "$logs"
  if grep -n -B2 -A12 'runtime error:' "$b/Testing/Temporary/LastTest.log" >&2; then
    echo "test-sanitizers: UBSan reports (above, from $b/Testing/Temporary/LastTest.log)" >&2
    rc=1
  fi
  [ "$rc" = 0 ] || exit "$rc"
}

case $which in
  thread) run_thread ;;
  address) run_address ;;
  all) run_thread; run_address ;;
esac
