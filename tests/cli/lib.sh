# shellcheck shell=bash
# Shared by the tests/cli/*_test.sh scripts (sourced, not run): their
# arguments, the re-run of the script under scripts/fsfixture.sh, running
# offcopy with its output captured, ok/FAIL/skip lines with counts, and
# the predicates every script checks with.
# The sourcing script calls parse_args first, sets LOGDIR (where out/err
# go) and reads $pass, $fail, $skip at the end (finish).
pass=0
fail=0
skip=0
rc=0
last_cmd=""

# ------------------------------------------------- arguments and top level

# parse_args NAME ARGS...: the arguments of every script,
#   [--fs] /path/to/offcopy /path/to/fsfixture.sh
# Sets MODE (fs with --fs: the half run under the fixture; else top), BIN,
# FIXTURE and SELF (this script), all absolute.  Exits 2 on a usage error
# or when BIN is not executable (NAME starts that message).
# shellcheck disable=SC2034  # MODE is read by the sourcing script
parse_args() {
  local name=$1
  shift
  MODE=top
  if [ "${1:-}" = --fs ]; then MODE=fs; shift; fi
  if [ $# -lt 2 ]; then
    echo "usage: $0 /path/to/offcopy /path/to/fsfixture.sh" >&2
    exit 2
  fi
  BIN=$(realpath "$1")
  FIXTURE=$(realpath "$2")
  SELF=$(realpath "$0")
  [ -x "$BIN" ] || { echo "$name: $BIN is not executable" >&2; exit 2; }
}

# finish NAME: the last line, "NAME: N passed, M failed" (after a note of
# the skipped checks, if any).
finish() {
  [ "$skip" -gt 0 ] && echo "($skip checks skipped; see 'skip' lines)"
  echo "$1: $pass passed, $fail failed"
}

# run_fs_half LABEL COUNTS [PYTHON_ATTR]: runs this script again as
# `SELF --fs BIN FIXTURE` under `fsfixture.sh run 1024` (loop-mounted
# btrfs, xfs, ext4 and tmpfs) and adds the counts that half leaves in the
# file COUNTS (see finish_fs_half) to ours.  Without root, loop devices or
# (when named) python3 with os.PYTHON_ATTR, or when the fixture exits 77,
# "skip - LABEL: why" (with OFFCOPY_REQUIRE_FS=1 the missing piece is a
# failure instead).  Returns 77 when skipped, else 0; a fixture that fails
# without leaving counts is a failure.
run_fs_half() {
  local label=$1 counts=$2 attr=${3:-} why="" fs_rc p f s
  if [ "$(id -u)" != 0 ]; then
    why="not root: cannot mount loop filesystems"
  elif [ ! -e /dev/loop-control ]; then
    why="no /dev/loop-control: loop devices unavailable"
  elif [ -n "$attr" ] && ! python3 -c "import os; os.$attr" >/dev/null 2>&1; then
    why="python3 (with os.$attr) not available"
  fi
  if [ -n "$why" ]; then
    if [ "${OFFCOPY_REQUIRE_FS:-0}" = 1 ]; then
      echo "FAIL - $label: $why (OFFCOPY_REQUIRE_FS=1)"
      fail=$((fail + 1))
      return 0
    fi
    skip_test "$label: $why"
    return 77
  fi
  OFFCOPY_FS_COUNTS=$counts bash "$FIXTURE" run 1024 -- bash "$SELF" --fs "$BIN" "$FIXTURE"
  fs_rc=$?
  if [ -s "$counts" ]; then
    read -r p f s <"$counts"
    pass=$((pass + p))
    fail=$((fail + f))
    skip=$((skip + s))
  elif [ "$fs_rc" -eq 77 ]; then
    skip_test "$label: fsfixture.sh skipped (exit 77; see its message above)"
    return 77
  else
    echo "FAIL - $label did not run: fsfixture.sh exited $fs_rc"
    fail=$((fail + 1))
  fi
  return 0
}

# run_fs_script NAME PYTHON_ATTR: the whole top level of a script whose
# checks all run on the loop mounts: run_fs_half "NAME tests", then the
# "NAME: N passed, M failed" line.  Exits 77 when skipped, else non-zero
# when anything failed.
run_fs_script() {
  local name=$1 st
  fs_counts=$(mktemp "/tmp/offcopy-$name-counts.XXXXXX")
  trap 'rm -f "$fs_counts"' EXIT
  run_fs_half "$name tests" "$fs_counts" "$2"
  st=$?
  finish "$name"
  [ "$st" -eq 77 ] && exit 77
  [ "$fail" -eq 0 ]
  exit
}

# finish_fs_half NAME: the end of the --fs half: "NAME (loop mounts): N
# passed, M failed", and the counts for run_fs_half.  Fails when anything
# failed.
finish_fs_half() {
  finish "$1 (loop mounts)"
  if [ -n "${OFFCOPY_FS_COUNTS:-}" ]; then
    echo "$pass $fail $skip" >"$OFFCOPY_FS_COUNTS"
  fi
  [ "$fail" -eq 0 ]
}

# setup_fs_half: the start of a --fs half that uses all four mounts: the
# fixture's OFFCOPY_TEST_MOUNTS into the caller's associative array M (fs
# -> mount point), where a missing btrfs, xfs, ext4 or tmpfs is a failure
# (returns 1); then L (= LOGDIR), a fresh directory for captures on the
# tmpfs; the script's own `cleanup` on exit; umask 022.
setup_fs_half() {
  local p fs
  for p in ${OFFCOPY_TEST_MOUNTS:-}; do M[${p%%=*}]=${p#*=}; done
  for fs in btrfs xfs ext4 tmpfs; do
    if [ -z "${M[$fs]:-}" ]; then
      echo "FAIL - OFFCOPY_TEST_MOUNTS has no $fs mount"
      fail=$((fail + 1))
      return 1
    fi
  done
  L=$(mktemp -d "${M[tmpfs]}/logs.XXXXXX")
  LOGDIR=$L
  trap cleanup EXIT
  umask 022
}

# ------------------------------------------------------- running and checks

# Runs offcopy; stdout -> $LOGDIR/out, stderr -> $LOGDIR/err, status -> $rc.
oc() {
  last_cmd="offcopy $*"
  "$BIN" "$@" >"$LOGDIR/out" 2>"$LOGDIR/err"
  rc=$?
}

# Runs a helper command, quietly; status -> $rc, output in $LOGDIR/aux.
aux() {
  last_cmd="$*"
  "$@" >"$LOGDIR/aux" 2>&1
  rc=$?
}

show_last() {
  echo "       \$ $last_cmd   -> exit $rc"
  sed -n '1,25s/^/       stdout| /p' "$LOGDIR/out"
  sed -n '1,25s/^/       stderr| /p' "$LOGDIR/err"
}

# expect DESCRIPTION COMMAND...: passes when COMMAND succeeds.
expect() {
  local desc=$1
  shift
  if "$@"; then
    pass=$((pass + 1))
    echo "ok   - $desc"
  else
    fail=$((fail + 1))
    echo "FAIL - $desc"
    show_last
  fi
}

skip_test() {
  skip=$((skip + 1))
  echo "skip - $1"
}

rc_is() { [ "$rc" -eq "$1" ]; }
not() { ! "$@"; }
err_has() { grep -Eq -- "$1" "$LOGDIR/err"; }
err_has_fixed() { grep -Fq -- "$1" "$LOGDIR/err"; }
err_is_fixed() { [ "$(cat "$LOGDIR/err")" = "$1" ]; }
absent() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
# Same content.  Not `cmp -s`: it trusts st_size, which is 0 for /proc files.
same() { cmp -- "$1" "$2" >/dev/null 2>&1; }
# Bytes allocated to a file (st_blocks, in 512-byte units).
allocated() { echo $(($(stat -c %b "$1") * 512)); }

# json_ok PYTHON: $LOGDIR/out must be exactly one JSON document (json.load
# rejects anything before or after it); PYTHON runs with it as `d` and
# fails the check by raising (assert).
json_ok() {
  python3 - "$LOGDIR/out" "$1" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    d = json.load(f)
exec(sys.argv[2])
PY
}
