#!/usr/bin/env bash
# package.sh [BUILD_DIR]: builds the Debian packages -- offcopy, liboffcopy0
# and liboffcopy-dev (cmake/deb.cmake) -- with CPack in BUILD_DIR (default
# build-deb: a Release build for /usr, without tests or benchmarks), then
# checks them with lintian, which must report no error.  Prints lintian's
# tags, then the paths of the .debs.  tests/install/deb_test.sh installs them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-deb}
# The same sources make the same packages: the man page's and the
# changelog's dates are the last commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DOFFCOPY_BUILD_TESTS=OFF -DOFFCOPY_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB >/dev/null)
# Errors fail; warnings and infos are printed.  Expected: every package
# initial-upload-closes-no-bugs (its changelog closes no Debian bug: these
# packages are not uploaded to Debian) and liboffcopy0
# maintscript-calls-ldconfig (CPack's postinst/postrm; the trigger is there).
lintian --fail-on error --display-info "$build"/*.deb
ls "$build"/*.deb
