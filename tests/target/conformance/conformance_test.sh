#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# libiscsi's conformance suite, iscsi-test-cu, against offcopy-target and
# against tgtd on the same machine in the same run, one table of both.
#
#   bash conformance_test.sh BUILD_DIR [--markdown FILE]
#
# Both targets serve a fresh sparse 256 MiB file on 127.0.0.1 (a free
# port each; tgtd with its own control port, so it leaves any other tgtd
# alone), and each gets the same runs: the iSCSI family and the SCSI
# family, both with --dataloss (-d).  The table -- family, target, tests
# run, passed, failed, skipped, the failed tests' names -- goes to the log
# and, with --markdown, to FILE as Markdown (for README.md and
# docs/target.md).  Skipped tests are those that logged a [SKIPPED] of
# their own before passing (tests/target/lib.sh says how they are told
# apart from the notes between tests); "passed" excludes them.
#
# Asserted, for offcopy-target only: each family runs to its end without
# hanging the target; the iSCSI family has 0 failures; the SCSI family has
# 0 failures; the target answers iscsi-inq afterwards and exits 0 on
# SIGTERM.  tgtd's counts are only reported.
#
# tgtd's half is skipped in a sanitizer build (OFFCOPY_SANITIZE, set by
# tests/CMakeLists.txt): tgtd is not ours and not sanitized, and CI runs
# ctest in the release build too, where its half runs -- so it runs once
# per CI run.  OFFCOPY_CONFORMANCE_TGTD=0/1 forces it off or on.
#
# Needs libiscsi-bin (iscsi-test-cu, iscsi-inq) and, for tgtd's half, tgt
# (tgtd, tgtadm) and root; scripts/setup.sh installs them.  Without the
# first it skips (exit 77); without tgtd the table says why it is missing.
# Under OFFCOPY_REQUIRE_TARGET=1 (CI) either is a failure instead.  Every
# server it starts is stopped on exit, whatever happens.
set -u

BUILD=$(realpath -- "${1:?usage: conformance_test.sh BUILD_DIR [--markdown FILE]}")
shift
MARKDOWN=
while [ $# -gt 0 ]; do
  case $1 in
    --markdown) MARKDOWN=${2:?--markdown FILE}; shift 2 ;;
    *) echo "conformance: unknown argument $1" >&2; exit 2 ;;
  esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
TARGET_BIN=$BUILD/offcopy-target
IQN=iqn.2026-12.org.offcopy:conformance
IQN_TGT=iqn.2026-12.org.offcopy:conformance-tgtd
SIZE=256M
REQUIRE=${OFFCOPY_REQUIRE_TARGET:-0}

missing=()
for tool in iscsi-test-cu iscsi-inq; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -x "$TARGET_BIN" ] || missing+=("$TARGET_BIN")
if [ ${#missing[@]} -gt 0 ]; then
  echo "conformance: cannot run without ${missing[*]} (scripts/setup.sh installs them)"
  [ "$REQUIRE" = 1 ] && exit 1
  exit 77
fi
# Whether tgtd's half runs, and if not, why.
tgtd_why=
if [ -n "${OFFCOPY_CONFORMANCE_TGTD:-}" ]; then
  [ "$OFFCOPY_CONFORMANCE_TGTD" = 1 ] || tgtd_why="OFFCOPY_CONFORMANCE_TGTD=0"
elif [ -n "${OFFCOPY_SANITIZE:-}" ]; then
  tgtd_why="a sanitizer build (OFFCOPY_SANITIZE=$OFFCOPY_SANITIZE): tgtd runs in the release build's ctest"
fi
if [ -z "$tgtd_why" ]; then
  if ! command -v tgtd >/dev/null || ! command -v tgtadm >/dev/null; then
    tgtd_why="tgtd/tgtadm missing (package tgt; scripts/setup.sh installs it)"
  elif [ "$(id -u)" != 0 ]; then
    tgtd_why="tgtd needs root"
  fi
fi

T=$(mktemp -d /tmp/offcopy-conformance.XXXXXX)
PID=
TGTD_PID=
cleanup() {
  kill_now $PID $TGTD_PID
  rm -rf "$T"
}
trap cleanup EXIT

wait_port() {  # wait_port PORT: true once something listens on it (10 s at most)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

rows=()  # "family|target|run|passed|failed|skipped|failed tests"
# cu TARGET_NAME FAMILY URL...: runs the family; adds its row; sets $cu_rc,
# $cu_ran, $cu_failed.  The SCSI family gets the LUN's URL twice: two
# sessions to one LUN are the two paths its MultipathIO tests need.
cu() {
  local name=$1 family=$2 out
  shift 2
  out="$T/cu-$name-$family.txt"
  local t0=$SECONDS
  timeout 1200 iscsi-test-cu -d -t "$family" "$@" >"$out" 2>&1
  cu_rc=$?
  local took=$((SECONDS - t0))
  local p s
  read -r cu_ran p cu_failed s <<<"$(cu_counts "$out")"
  local names
  names=$(cu_failed "$out" | tr '\n' ' ' | sed 's/ $//; s/ /, /g')
  [ $cu_rc = 124 ] && names="TIMED OUT after 1200 s${names:+; }$names"
  rows+=("$family|$name|$cu_ran|$p|$cu_failed|$s|$names")
  echo "     $name, $family family ($took s): $cu_ran run, $p passed, $cu_failed failed, $s skipped${names:+ (failed: $names)}"
}

# --- offcopy-target -------------------------------------------------------
t0=$SECONDS
truncate -s $SIZE "$T/offcopy.img" "$T/offcopy-ro.img"
# LUN 1 is write-protected, for the one test that needs that (ReadOnly).
printf '[[target]]\niqn = "%s"\n[[target.lun]]\nlun = 0\npath = "%s"\n[[target.lun]]\nlun = 1\npath = "%s"\nread_only = true\n' \
  "$IQN" "$T/offcopy.img" "$T/offcopy-ro.img" >"$T/target.toml"
start_target --config "$T/target.toml"
URL="iscsi://127.0.0.1:$PORT/$IQN/0"
cu offcopy-target iSCSI "$URL"
if [ $cu_rc != 124 ] && [ "$cu_ran" != "?" ] && [ "$cu_failed" = 0 ]; then
  pass "offcopy-target: iscsi-test-cu iSCSI family: $cu_ran tests, 0 failed"
else
  fail "offcopy-target: iscsi-test-cu iSCSI family (exit $cu_rc): $cu_ran tests, $cu_failed failed"
  grep -B1 -A3 FAILED "$T/cu-offcopy-target-iSCSI.txt" | head -40 | sed 's/^/     /'
fi
cu offcopy-target SCSI "$URL" "$URL"
if [ $cu_rc != 124 ] && [ "$cu_ran" != "?" ] && [ "$cu_failed" = 0 ]; then
  pass "offcopy-target: iscsi-test-cu SCSI family --dataloss: $cu_ran tests, 0 failed"
else
  fail "offcopy-target: iscsi-test-cu SCSI family --dataloss (exit $cu_rc): $cu_ran tests, $cu_failed failed"
  grep -B1 -A3 FAILED "$T/cu-offcopy-target-SCSI.txt" | head -60 | sed 's/^/     /'
fi
# The SCSI family's ReadOnly test skips on a writable LUN: it runs here on
# the write-protected one (every write command must get WRITE PROTECTED).
RO_URL="iscsi://127.0.0.1:$PORT/$IQN/1"
timeout 300 iscsi-test-cu -d -t SCSI.ReadOnly "$RO_URL" >"$T/cu-readonly.txt" 2>&1
read -r ro_ran ro_p ro_failed ro_s <<<"$(cu_counts "$T/cu-readonly.txt")"
if [ "$ro_ran" != "?" ] && [ "$ro_ran" -gt 0 ] && [ "$ro_failed" = 0 ] && [ "$ro_s" = 0 ]; then
  pass "offcopy-target: SCSI.ReadOnly on a write-protected LUN: $ro_ran run, $ro_p passed"
else
  fail "offcopy-target: SCSI.ReadOnly on a write-protected LUN: $ro_ran run, $ro_failed failed, $ro_s skipped"
  grep -B1 -A3 -E "FAILED|SKIPPED" "$T/cu-readonly.txt" | head -30 | sed 's/^/     /'
fi
if kill -0 "$PID" 2>/dev/null && timeout 20 iscsi-inq "$URL" >/dev/null 2>&1; then
  pass "offcopy-target answers after both families"
else
  fail "offcopy-target does not answer after the suite (alive: $(kill -0 "$PID" 2>/dev/null && echo yes || echo no))"
  tail -20 "$T/target.log" | sed 's/^/     /'
fi
stop_target
t_offcopy=$((SECONDS - t0))

# --- tgtd ---------------------------------------------------------------
t0=$SECONDS
t_tgtd=
if [ -z "$tgtd_why" ]; then
  truncate -s $SIZE "$T/tgtd.img"
  tgt_port=$(free_port)
  # Its own control port (tgtadm -C), so another tgtd (the benchmark's, a
  # system one) is left alone; the next one if that is taken.
  started=
  for control in $((1000 + RANDOM % 8000)) $((1000 + RANDOM % 8000)) $((1000 + RANDOM % 8000)); do
    tgtd -f -C "$control" --iscsi "portal=127.0.0.1:$tgt_port" >"$T/tgtd.log" 2>&1 </dev/null &
    TGTD_PID=$!
    if wait_port "$tgt_port" && kill -0 "$TGTD_PID" 2>/dev/null; then
      started=1
      break
    fi
    kill -KILL "$TGTD_PID" 2>/dev/null
    wait "$TGTD_PID" 2>/dev/null
    TGTD_PID=
  done
  adm() { tgtadm -C "$control" --lld iscsi "$@" >>"$T/tgtadm.log" 2>&1; }
  # tgtd's LUN 0 is its controller; the disk is LUN 1.
  if [ -n "$started" ] &&
    adm --op new --mode target --tid 1 -T "$IQN_TGT" &&
    adm --op new --mode logicalunit --tid 1 --lun 1 -b "$T/tgtd.img" &&
    adm --op bind --mode target --tid 1 -I ALL; then
    TGT_URL="iscsi://127.0.0.1:$tgt_port/$IQN_TGT/1"
    cu tgtd iSCSI "$TGT_URL"
    cu tgtd SCSI "$TGT_URL" "$TGT_URL"
  else
    tgtd_why="tgtd did not start or take its configuration: $(tail -c 300 "$T/tgtd.log" "$T/tgtadm.log" 2>/dev/null | tr '\n' ' ')"
  fi
  if [ -n "$TGTD_PID" ]; then
    kill -TERM "$TGTD_PID" 2>/dev/null
    sleep 0.5
    kill -KILL "$TGTD_PID" 2>/dev/null
    wait "$TGTD_PID" 2>/dev/null
    TGTD_PID=
  fi
  t_tgtd=$((SECONDS - t0))
fi
if [ -n "$tgtd_why" ]; then
  echo "     tgtd: not run: $tgtd_why"
  case $tgtd_why in
    *"sanitizer build"* | OFFCOPY_CONFORMANCE_TGTD=0) ;;
    *) [ "$REQUIRE" = 1 ] && fail "tgtd's half did not run: $tgtd_why" ;;
  esac
fi

# --- the table ------------------------------------------------------------
version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
{
  echo "| family | target | run | passed | failed | skipped | failed tests |"
  echo "|---|---|---|---|---|---|---|"
  for family in iSCSI SCSI; do
    for row in "${rows[@]}"; do
      IFS='|' read -r f name ran p fl s names <<<"$row"
      [ "$f" = "$family" ] || continue
      [ "$f" = SCSI ] && f="SCSI (--dataloss)"
      echo "| $f | $name | $ran | $p | $fl | $s | ${names:--} |"
    done
  done
  echo
  echo -n "libiscsi $(version libiscsi-bin) iscsi-test-cu, each target on a fresh sparse $SIZE file, "
  echo -n "same run, same machine: offcopy-target $("$TARGET_BIN" --version 2>/dev/null | head -1 | awk '{print $NF}') (${t_offcopy} s)"
  if [ -n "$t_tgtd" ] && [ -z "$tgtd_why" ]; then
    echo ", tgtd $(version tgt) (${t_tgtd} s)."
  else
    echo "; tgtd not run ($tgtd_why)."
  fi
  echo "Skipped: the test logged [SKIPPED] and passed; passed excludes those."
} >"$T/table.md"
echo
cat "$T/table.md"
echo
if [ -n "$MARKDOWN" ]; then
  cp "$T/table.md" "$MARKDOWN" && echo "conformance: the table is in $MARKDOWN"
fi

echo "conformance: $passed passed, $failed failed"
[ $failed = 0 ]
