#!/usr/bin/env bash
# install_test.sh SOURCE_DIR BUILD_DIR
#
# Installs BUILD_DIR into a scratch prefix (`cmake --install --prefix`),
# checks what is there (the shared library's SONAME and that it exports the
# public API only), then uses the installed package the two ways a consumer
# would, each against the shared and against the static library:
#   (a) a C11 program (c_consumer.c) built with gcc and
#       `pkg-config --cflags --libs offcopy`, and for liboffcopy.a with
#       `-Wl,-Bstatic $(pkg-config --static --libs offcopy) -Wl,-Bdynamic`;
#   (b) a CMake project (cmake_consumer/) with find_package(offcopy):
#       offcopy::offcopy and offcopy::offcopy_static.
# All run and check the files they copy.  The prefix differs from the one
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

# shellcheck source=tests/install/check.sh
. "$here/check.sh"

# A sanitizer build's libraries need the sanitizer runtime at link time.
sanitize=$(sed -n 's/^OFFCOPY_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt")
case ${sanitize,,} in ""|off|false|no|0) sanitize= ;; esac
san_flags=${sanitize:+-fsanitize=$sanitize}
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")

check install cmake --install "$build" --prefix "$prefix"
pcdir=$(dirname "$(find "$prefix" -name offcopy.pc | head -n1)")
libdir=$(dirname "$pcdir")
man=$(sed -n 's/^OFFCOPY_MAN:BOOL=//p' "$build/CMakeCache.txt")
check installed_files test -f "$prefix/include/offcopy/offcopy.h" -a -f "$pcdir/offcopy.pc" \
  -a -f "$libdir/liboffcopy.a" -a -f "$libdir/liboffcopy.so.$version" \
  -a -L "$libdir/liboffcopy.so" -a -n "$(find "$prefix" -name offcopyConfig.cmake)" \
  -a -f "$prefix/share/bash-completion/completions/offcopy" \
  -a \( "$man" = OFF -o -f "$prefix/share/man/man1/offcopy.1.gz" \)

# needs PROGRAM LIB: PROGRAM's dynamic section asks for LIB.
needs() {
  readelf -d "$1" | grep -F "(NEEDED)" | tee /dev/stderr | grep -qF "[$2]"
}
check soname sh -c "readelf -d '$libdir/liboffcopy.so' | grep -F '(SONAME)' | grep -F '[liboffcopy.so.0]'"

# The .so exports the public API and nothing else: the C functions of
# offcopy.h (all of them) and C++ names of namespace offcopy -- its
# functions and the members of its classes, as declared in include/offcopy/
# -- never a name from an internal namespace (offcopy::engine::,
# offcopy::sys::, ...) or a class's private Impl, nor std:: instances.
check_exports() {
  local syms bad f
  syms=$(nm -D --defined-only "$1" | awk '{print $3}' | c++filt) || return 1
  echo "$syms"
  bad=$(grep -vE '^offcopy_[a-z_]+$|^offcopy::([a-z_]+|[A-Z][A-Za-z]*::~?[A-Za-z_]+)(\[abi:cxx11\])?\(' <<<"$syms")
  if [ -n "$bad" ]; then echo "not public API:"; echo "$bad"; return 1; fi
  for f in $(grep -oE '\boffcopy_[a-z_]+\(' "$prefix/include/offcopy/offcopy.h" | tr -d '(' | sort -u); do
    grep -qx "$f" <<<"$syms" || { echo "not exported: $f"; return 1; }
  done
  # Every C++ function a header marks OFFCOPY_API (cmake/liboffcopy.map
  # lists them by name: one added to a header must be added there).
  for f in $(cat "$prefix"/include/offcopy/{copy,engine,result,tree}.h |
             tr '\n' ' ' | grep -oE 'OFFCOPY_API [^;{(]*\b[a-z_]+\(' |
             grep -oE '[a-z_]+\($' | tr -d '(' | sort -u); do
    grep -q "^offcopy::$f(" <<<"$syms" || { echo "not exported: offcopy::$f"; return 1; }
  done
}
check exports check_exports "$libdir/liboffcopy.so"

# The C header alone, strictly, as C11 and as C++.
check header_c11 gcc -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only \
  -I"$prefix/include" -x c "$prefix/include/offcopy/offcopy.h"
check header_cxx g++ -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only \
  -I"$prefix/include" -x c++ "$prefix/include/offcopy/offcopy.h"

run_in_scratch() {  # run_in_scratch NAME PROGRAM
  mkdir -p "$tmp/run-$1" && "$2" "$tmp/run-$1"
}

# (a) C through pkg-config.  The shared build finds the library through
# its RUNPATH, as the prefix is not in the loader's path.
export PKG_CONFIG_PATH=$pcdir
build_c() {  # build_c shared|static
  local cflags libs
  cflags=$(pkg-config --cflags offcopy) || return 1
  if [ "$1" = shared ]; then
    libs="$(pkg-config --libs offcopy) -Wl,-rpath,$(pkg-config --variable=libdir offcopy)"
  else
    libs="-Wl,-Bstatic $(pkg-config --static --libs offcopy) -Wl,-Bdynamic"
  fi || return 1
  echo "flags: $cflags $libs"
  # shellcheck disable=SC2086
  gcc -std=c11 -Wall -Wextra -Werror $san_flags $cflags "$here/c_consumer.c" \
    -o "$tmp/c_$1" $libs
}
check pkgconfig_version test "$(pkg-config --modversion offcopy)" = "$version"
check c_shared_build build_c shared
check c_shared_links needs "$tmp/c_shared" liboffcopy.so.0
check c_shared_run run_in_scratch c_shared "$tmp/c_shared"
check c_static_build build_c static
check c_static_links sh -c "! readelf -d '$tmp/c_static' | grep -F '[liboffcopy'"
check c_static_run run_in_scratch c_static "$tmp/c_static"

# (b) C++ through find_package(offcopy).
check cmake_configure cmake -S "$here/cmake_consumer" -B "$tmp/cmake-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  ${san_flags:+-DCMAKE_EXE_LINKER_FLAGS=$san_flags}
check cmake_build cmake --build "$tmp/cmake-build"
check cmake_shared_links needs "$tmp/cmake-build/consumer" liboffcopy.so.0
check cmake_shared_run run_in_scratch cmake "$tmp/cmake-build/consumer"
check cmake_static_links sh -c "! readelf -d '$tmp/cmake-build/consumer_static' | grep -F '[liboffcopy'"
check cmake_static_run run_in_scratch cmake_static "$tmp/cmake-build/consumer_static"

echo "install_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
