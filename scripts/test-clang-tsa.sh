#!/usr/bin/env bash
# Clang's thread-safety analysis over the library and the unit tests.
#
#   scripts/test-clang-tsa.sh
#
# The locks of src/ are util::Mutex / the engine's SpinLock, and what they
# guard is annotated (src/util/thread_annotations.h: OFFCOPY_GUARDED_BY,
# OFFCOPY_REQUIRES, ...).  g++ ignores the annotations; this build, with
# clang (Debian 12's, clang 14) and -Wthread-safety -Werror in
# build-clang-tsa, turns any access the analysis cannot prove locked into
# a compile error.  It builds the library (every file of src/) and
# offcopy_unit_tests, then runs those tests, so the clang-built library is
# known to work too; and offcopy-target with its tests (clang's warnings,
# -Werror, over target/ too), which it runs as well.  Installs clang first if it is missing (as root).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
b=$here/build-clang-tsa

if ! command -v clang++ >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
  else
    echo "test-clang-tsa: clang is missing (run as root to install it)" >&2
    exit 1
  fi
fi

t0=$SECONDS
# CC/CXX choose the compiler on the first configure of $b (a build
# directory keeps its compiler).  Debug: the analysis does not depend on
# the optimization level, and -O0 compiles fastest.  No benchmarks and no
# man page (which would need scdoc): neither is built here.
CC=clang CXX=clang++ cmake -S "$here" -B "$b" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="-Wthread-safety -Werror" -DOFFCOPY_BUILD_BENCH=OFF -DOFFCOPY_MAN=OFF \
  >/dev/null
if ! grep -q '^CMAKE_CXX_COMPILER:.*clang++' "$b/CMakeCache.txt"; then
  echo "test-clang-tsa: $b was configured with another compiler; remove it" >&2
  exit 1
fi
cmake --build "$b" -j"$(nproc)" --target offcopy offcopy_unit_tests offcopy-target \
  offcopy_target_tests
t1=$SECONDS
# The property tests run their full counts in the release build
# (scripts/test.sh); here, at -O0, a few dozen cases (35 s -> 0.2 s).
OFFCOPY_PROPERTY_CASES=${OFFCOPY_PROPERTY_CASES:-60} "$b/tests/offcopy_unit_tests" --gtest_brief=1
"$b/tests/offcopy_target_tests" --gtest_brief=1
echo "test-clang-tsa: build $((t1 - t0)) s, unit tests $((SECONDS - t1)) s"
