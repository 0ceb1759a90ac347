#!/usr/bin/env bash
# CLI tests of cp's own rules, where offcopy must do what GNU cp does:
# the safety rules first (a file is never copied onto itself or through a
# dangling symlink, a copy whose owner is preserved is never readable by
# others half-made), then cp's options and messages.
#
#   bash cp_compat_test.sh /path/to/offcopy /path/to/scripts/fsfixture.sh
#
# Runs anywhere, in a fresh directory under /tmp (and /dev/shm, a second
# filesystem, where there is one).  The last line is always
#   cp_compat: N passed, M failed
set -u

# shellcheck source=tests/cli/lib.sh
. "$(dirname "$(realpath "$0")")/lib.sh"
parse_args cp_compat "$@"

T=$(mktemp -d /tmp/offcopy-cpcompat.XXXXXX)
S=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then S=$(mktemp -d /dev/shm/offcopy-cpcompat.XXXXXX); fi
trap 'cd /; rm -rf "$T" ${S:+"$S"}' EXIT
cd "$T" || exit 2
LOGDIR=$T
umask 022

content_is() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# fresh DIR: an empty directory (removed and made again).
fresh() { rm -rf "$1" && mkdir -p "$1"; }

# ------------------------------------------------------ 1. the same file

same_file_tests() {
  local opt
  # cp -d LINK FILE, LINK -> FILE: replacing FILE by a copy of LINK would
  # leave FILE a link to itself, its data gone.
  for opt in -d -a -P "-P -R" --no-dereference; do
    fresh w && cd w || return
    echo data >f && ln -s f s
    # shellcheck disable=SC2086  # word splitting of opt is intended
    oc $opt s f
    expect "same file: offcopy $opt LINK FILE is refused, exit 1" rc_is 1
    expect "same file: offcopy $opt LINK FILE keeps FILE's data" content_is f data
    expect "same file: offcopy $opt LINK FILE says cp's words" \
      err_has_fixed "'s' and 'f' are the same file"
    cd "$T" || return
  done
  # Across filesystems: the link's target is on the other one.
  if [ -n "$S" ]; then
    fresh "$S/x" && echo data >"$S/x/f" && ln -s "$S/x/f" "$T/lnk"
    oc -d "$T/lnk" "$S/x/f"
    expect "same file: -d LINK FILE across filesystems is refused" rc_is 1
    expect "same file: ... and FILE keeps its data" content_is "$S/x/f" data
    rm -f "$T/lnk"
  else
    skip_test "same file across filesystems: no writable /dev/shm"
  fi
  # The plain forms cp refuses too: a file onto itself, onto a link to it,
  # and through two hard links of one file.
  fresh w && cd w || return
  echo data >f && ln -s f s && ln f h
  oc f f
  expect "same file: offcopy f f is refused" rc_is 1
  oc f s
  expect "same file: offcopy FILE LINK-TO-FILE is refused" rc_is 1
  expect "same file: ... and the link is still a link to FILE" \
    test "$(readlink s)" = f
  oc f h
  expect "same file: offcopy FILE HARDLINK is refused" rc_is 1
  oc -a f h
  expect "same file: offcopy -a FILE HARDLINK is refused" rc_is 1
  expect "same file: f keeps its data through it all" content_is f data
  # Two links to one file, copied as links: not the same file, the
  # destination link is replaced (cp does this).
  ln -s f s2
  oc -d s s2
  expect "two distinct links to one file: -d replaces the second, exit 0" rc_is 0
  expect "... which still points to f" test "$(readlink s2)" = f
  cd "$T" || return
}

# ----------------------------------------------------------------- driver

same_file_tests

finish cp_compat
[ "$fail" -eq 0 ]
