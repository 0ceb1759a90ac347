#!/usr/bin/env bash
# Runs every test: builds (installing packages if needed), then ctest.  The
# real-filesystem tests need root and loop devices; set OFFCOPY_REQUIRE_FS=1
# (CI does) to make their absence a failure rather than a skip.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here/build"
# A test per core at once; those marked RUN_SERIAL (the target's long
# ones, the loop-mounted filesystems') run alone.
ctest --output-on-failure -j"$(nproc)" "$@"
