#!/usr/bin/env bash
# install_test.sh SOURCE_DIR BUILD_DIR
#
# Installs BUILD_DIR into a scratch prefix (`cmake --install --prefix`),
# then uses the installed package the two ways a consumer would:
#   (a) a C11 program (c_consumer.c) built with gcc and
#       `pkg-config --cflags --libs --static offcopy`;
#   (b) a CMake project (cmake_consumer/) with find_package(offcopy).
# Both run and check the files they copy.  The prefix differs from the one
# the build was configured with, so this also checks that offcopy.pc and
# the CMake package are relocatable.
# Prints "install_test: N passed, M failed"; exits 1 when anything failed.
set -uo pipefail
src=${1:?usage: install_test.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: install_test.sh SOURCE_DIR BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/offcopy-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
passed=0 failed=0

# check NAME COMMAND...: runs COMMAND, logging to $tmp/NAME.log.
check() {
  local name=$1; shift
  if "$@" >"$tmp/$name.log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/    /' "$tmp/$name.log"
  fi
}

# A sanitizer build's archive needs the sanitizer runtime at link time.
sanitize=$(sed -n 's/^OFFCOPY_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt")
case ${sanitize,,} in ""|off|false|no|0) sanitize= ;; esac
san_flags=${sanitize:+-fsanitize=$sanitize}

check install cmake --install "$build" --prefix "$prefix"
pcdir=$(dirname "$(find "$prefix" -name offcopy.pc | head -n1)")
check installed_files test -f "$prefix/include/offcopy/offcopy.h" -a -f "$pcdir/offcopy.pc" \
  -a -n "$(find "$prefix" -name liboffcopy.a)" -a -n "$(find "$prefix" -name offcopyConfig.cmake)"

# The C header alone, strictly, as C11 and as C++.
check header_c11 gcc -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only \
  -I"$prefix/include" -x c "$prefix/include/offcopy/offcopy.h"
check header_cxx g++ -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only \
  -I"$prefix/include" -x c++ "$prefix/include/offcopy/offcopy.h"

# (a) C through pkg-config.
export PKG_CONFIG_PATH=$pcdir
build_c() {
  local flags
  flags=$(pkg-config --cflags --libs --static offcopy) || return 1
  echo "pkg-config: $flags"
  # shellcheck disable=SC2086
  gcc -std=c11 -Wall -Wextra -Werror $san_flags "$here/c_consumer.c" -o "$tmp/c_consumer" $flags
}
run_in_scratch() {  # run_in_scratch NAME PROGRAM
  mkdir -p "$tmp/run-$1" && "$2" "$tmp/run-$1"
}
check pkgconfig_version test "$(pkg-config --modversion offcopy)" = \
  "$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")"
check c_build build_c
check c_run run_in_scratch c "$tmp/c_consumer"

# (b) C++ through find_package(offcopy).
check cmake_configure cmake -S "$here/cmake_consumer" -B "$tmp/cmake-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  ${san_flags:+-DCMAKE_EXE_LINKER_FLAGS=$san_flags}
check cmake_build cmake --build "$tmp/cmake-build"
check cmake_run run_in_scratch cmake "$tmp/cmake-build/consumer"

echo "install_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
