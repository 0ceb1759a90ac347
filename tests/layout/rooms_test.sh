#!/usr/bin/env bash
# The rooms of src/ depend downwards only (docs/design.md, "Rooms"):
#   util, sys  <-  mech, meta  <-  ladder  <-  engine  <-  tree  <-  capi
# A file in a room may include its own room and the rooms below it, and
# the public headers; never a room above it.  A rung in src/mech/ that
# reached up into the ladder, the engine or the tree copier would make
# the mechanisms impossible to test or reuse on their own.
#
#   tests/layout/rooms_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: rooms_test.sh SOURCE_DIR}/src
fail=0
# room: the rooms it must not include
check() {
  local room=$1; shift
  local bad
  for above in "$@"; do
    bad=$(grep -rn "#include \"$above/" "$src/$room" || true)
    if [ -n "$bad" ]; then
      echo "src/$room must not include $above/ (a room above it):" >&2
      echo "$bad" >&2
      fail=1
    fi
  done
}
check util sys mech meta ladder engine tree capi
check sys mech meta ladder engine tree capi
check mech meta ladder engine tree capi
check meta mech ladder engine tree capi
check ladder engine tree capi
check engine tree capi
check tree capi
[ "$fail" = 0 ] && echo "rooms: every include points down"
exit "$fail"
