#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# offcopy-target under load, with misbehaving clients beside it (issue 17):
# 64 sessions x 32 commands in flight, random 4-64 KiB reads and writes of
# their own slices of a LUN, 2% of the commands aborted (ABORT TASK) soon
# after they are sent, every byte checked as it is read and the whole LUN
# read back and checked at the end (bench/iscsi_load.cc, --mode verify);
# the target's memory bounded; and misbehaving clients that do not slow
# the others.
#
#   bash load_test.sh BUILD_DIR
#
# Two phases of OFFCOPY_LOAD_SECONDS / 2 each (default 60: 2 x 30 s), each
# on a fresh sparse 512 MiB LUN (so an unwritten block must read as zeros):
#   1. the load alone: the baseline;
#   2. the same load while tests/target/load/misbehave.py (one Python
#      process, one thread) runs, 4 of each: half a login header then
#      silence; a login whose first request is answered and then nothing;
#      a session that sends half a SCSI command header then nothing; a
#      login trickled one byte every 2 s; plus 2 sessions flooding NOP-Outs
#      (pings, and ITT 0xffffffff) as fast as they can while reading the
#      answers, and 2 that never read: one sends 4 Mi pings, one 768 READs
#      of 1 MiB.  On a 2-core machine the flood takes about a core, which
#      the load then lacks too: the bar below (half the baseline) allows
#      for that.
# Checks: both phases complete with 0 mismatches, 0 failed and 0
# unanswered commands, aborts sent and answered both ways; phase 2's
# commands/s >= OFFCOPY_LOAD_MIN_RATIO (0.5) x phase 1's; in each phase
# every session completed commands, the slowest >= 0.2 x the median (none
# starved); the target's peak RSS (VmHWM) < OFFCOPY_LOAD_RSS_MIB (512): the
# load's own data in flight is at most 64 x 32 x 64 KiB = 128 MiB (held
# twice at most: the PDU and the command's buffer), the target's baseline
# a few MiB -- a deaf client must not add more than a bounded queue; under
# the sanitizers (OFFCOPY_SANITIZE, set by tests/CMakeLists.txt) the RSS
# is only printed (ASan's quarantine and shadow memory) and the clients
# that never read stay home.  The misbehaving
# connections are dropped as docs/target.md says: a login not finished in
# 30 s (half a header, a stalled login, a trickled one), a session that
# does not answer a NOP-In (nop_interval is 5 s here, so within ~11 s).
# Afterwards the target answers iscsi-inq, and SIGTERM ends it with 0.
#
# Needs libiscsi-bin (iscsi-inq) and python3; without them, or without the
# binaries, it says why and skips (exit 77), except under
# OFFCOPY_REQUIRE_TARGET=1 (CI), where that is a failure.  Every process it
# starts is killed on exit, whatever happens.
set -u

BUILD=$(realpath -- "${1:?usage: load_test.sh BUILD_DIR}")
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET_BIN=$BUILD/offcopy-target
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
LOAD_BIN=$BUILD/iscsi-load
IQN=iqn.2026-12.org.offcopy:load
SECONDS_TOTAL=${OFFCOPY_LOAD_SECONDS:-60}
PHASE=$(((SECONDS_TOTAL + 1) / 2))
MIN_RATIO=${OFFCOPY_LOAD_MIN_RATIO:-0.5}
MIN_SHARE=0.2
RSS_MIB=${OFFCOPY_LOAD_RSS_MIB:-512}
NOP_INTERVAL=5
missing=()
for tool in iscsi-inq python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -x "$TARGET_BIN" ] || missing+=("$TARGET_BIN")
[ -x "$LOAD_BIN" ] || missing+=("$LOAD_BIN")
if [ ${#missing[@]} -gt 0 ]; then
  echo "load: cannot run without ${missing[*]} (scripts/setup.sh installs them)"
  [ "${OFFCOPY_REQUIRE_TARGET:-0}" = 1 ] && exit 1
  exit 77
fi

# The LUNs on tmpfs when there is room (SIGTERM's fdatasync of 1 GiB is
# then instant), else in /tmp.
dir=/tmp
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
  [ "$(df -Pm /dev/shm | awk 'NR == 2 {print $4}')" -gt 3072 ]; then
  dir=/dev/shm
fi
T=$(mktemp -d "$dir/offcopy-load.XXXXXX")
PID=
BAD_PID=
cleanup() {
  kill_now $BAD_PID $PID
  rm -rf "$T"
}
trap cleanup EXIT

# json FILE EXPR: a value of the JSON object in FILE (EXPR in Python, on j).
json() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# ge A B: A >= B, as numbers.
ge() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }
hwm_mib() { awk '/^VmHWM:/ {printf "%d", $2 / 1024}' "/proc/$PID/status"; }

printf 'nop_interval = %d\n' $NOP_INTERVAL >"$T/target.toml"
start_target --config "$T/target.toml" \
  --target "$IQN" --lun 0="$T/lun0.img" --lun 1="$T/lun1.img" --create 512M
url() { echo "iscsi://127.0.0.1:$PORT/$IQN/$1"; }

# load LUN OUT: the well-behaved load for $PHASE seconds; its JSON in OUT.
load() {
  timeout $((PHASE + 120)) "$LOAD_BIN" --mode verify --bs 4K --bs-max 64K --qd 32 --sessions 64 \
    --seconds "$PHASE" --abort-pct 2 --zeroed "$(url "$1")" >"$2" 2>"$2.err"
  local rc=$?
  tail -n 1 "$2" >"$2.json"
  return $rc
}

# check_phase NAME OUT RC: the load's own verdicts.
check_phase() {
  local name=$1 out=$2.json rc=$3
  if [ "$rc" != 0 ] || ! json "$out" 'j["commands"]' >/dev/null 2>&1; then
    fail "$name: iscsi-load exit $rc: $(tail -c 600 "$2.err") $(cat "$2")"
    return
  fi
  local summary
  summary=$(json "$out" '"%d commands (%.0f/s, %.0f MiB/s) by %d sessions x %d in flight; aborts: %d sent, %d complete, %d no task; %d aborted writes, %d units read back landed; %.0f MiB checked" % (j["commands"], j["iops"], j["mib_per_s"], j["sessions"], j["qd"], j["aborts"]["sent"], j["aborts"]["complete"], j["aborts"]["no_task"], j["aborts"]["writes_uncertain"], j["aborts"]["units_landed"], j["verified_bytes"] / 2**20)')
  if [ "$(json "$out" 'j["mismatches"] + j["failures"] + j["unanswered"] + j["aborts"]["anomalies"] + j["aborts"]["other"]')" = 0 ]; then
    pass "$name: every byte right, no command failed or went unanswered: $summary"
  else
    fail "$name: $(json "$out" '"mismatches %d, failures %d, unanswered %d, abort anomalies %d, other abort answers %d" % (j["mismatches"], j["failures"], j["unanswered"], j["aborts"]["anomalies"], j["aborts"]["other"])'): $summary"
    head -20 "$2.err" | sed 's/^/     /'
  fi
  if [ "$(json "$out" 'int(j["aborts"]["complete"] > 0 and j["aborts"]["no_task"] > 0)')" = 1 ]; then
    pass "$name: aborts met commands both running (Function complete) and done (Task does not exist)"
  else
    fail "$name: aborts never $(json "$out" '"met a running command" if j["aborts"]["complete"] == 0 else "found a command done"')"
  fi
  local min med max
  read -r min med max <<<"$(json "$out" '"%d %d %d" % (j["sessions_ops"]["min"], j["sessions_ops"]["median"], j["sessions_ops"]["max"])')"
  if [ "$min" -gt 0 ] && ge "$min" "$(python3 -c "print($MIN_SHARE * $med)")"; then
    pass "$name: no session starved: commands per session min $min / median $med / max $max"
  else
    fail "$name: a session starved: commands per session min $min / median $med / max $max (want min >= $MIN_SHARE x median)"
  fi
}

echo "load: $PHASE s per phase, LUNs in $dir"
# --- phase 1: the load alone ---------------------------------------------
load 0 "$T/base"
check_phase "baseline" "$T/base" $?
hwm_base=$(hwm_mib)

# --- phase 2: the same load beside misbehaving clients -------------------
# They run until the 30 s login timeout has passed even if the phase is
# shorter, to see those connections dropped.
bad_seconds=$((PHASE + 3 > 36 ? PHASE + 3 : 36))
# Under the sanitizers RSS is not bounded, so the clients that only pile
# up memory (deaf-nop, deaf-read) are left out.
deaf=()
[ -n "${OFFCOPY_SANITIZE:-}" ] && deaf=(--deaf-pings 0 --deaf-reads 0)
python3 "$HERE/misbehave.py" --port "$PORT" --target "$IQN" --seconds $bad_seconds "${deaf[@]}" \
  --ready "$T/bad.ready" --report "$T/misbehave.json" >"$T/bad.out" 2>&1 &
BAD_PID=$!
for _ in $(seq 100); do
  [ -s "$T/bad.ready" ] && break
  kill -0 "$BAD_PID" 2>/dev/null || break
  sleep 0.1
done
[ -s "$T/bad.ready" ] || fail "the misbehaving clients did not start: $(cat "$T/bad.out")"
load 1 "$T/bad"
check_phase "with misbehaving clients" "$T/bad" $?
wait "$BAD_PID"
bad_rc=$?
BAD_PID=

base_iops=$(json "$T/base.json" 'j["iops"]' 2>/dev/null || echo 0)
bad_iops=$(json "$T/bad.json" 'j["iops"]' 2>/dev/null || echo 0)
ratio=$(python3 -c "print('%.2f' % ($bad_iops / $base_iops if $base_iops else 0))")
if ge "$ratio" "$MIN_RATIO"; then
  pass "the misbehaving clients did not slow the others: $bad_iops commands/s beside them, $base_iops alone (x$ratio, want >= $MIN_RATIO)"
else
  fail "the misbehaving clients slowed the others: $bad_iops commands/s beside them, $base_iops alone (x$ratio, want >= $MIN_RATIO)"
fi

# What became of the misbehaving connections.
if [ "$bad_rc" != 0 ] || [ ! -s "$T/misbehave.json" ]; then
  fail "misbehave.py exit $bad_rc: $(tail -c 600 "$T/bad.out")"
else
  echo "     misbehaving clients: $(cat "$T/misbehave.json")"
  # dropped KIND WITHIN WHAT: every connection of KIND closed by the target
  # within WITHIN seconds.
  dropped() {
    local times
    times=$(json "$T/misbehave.json" '" ".join("open" if t is None else str(t) for t in j["kinds"]["'"$1"'"]["closed_at"])')
    if [ "$(json "$T/misbehave.json" 'int(all(t is not None and t <= '"$2"' for t in j["kinds"]["'"$1"'"]["closed_at"]))')" = 1 ]; then
      pass "$3: dropped by the target (after $times s)"
    else
      fail "$3: not dropped within $2 s (closed after: $times s)"
    fi
  }
  dropped half-bhs 33 "half a login header, then silence"
  dropped login-stall 33 "a login answered once, then silence"
  dropped half-pdu $((2 * NOP_INTERVAL + 3)) "half a SCSI command header in a session, then silence (NOP-In unanswered)"
  dropped trickle 33 "a login trickled a byte every 2 s (docs/target.md: a login that does not finish in 30 s is dropped)"
  read -r pings nop_ins <<<"$(json "$T/misbehave.json" '"%d %d" % (j["kinds"]["flood"]["pings"], j["kinds"]["flood"]["nop_ins"])')"
  if [ "$nop_ins" -gt 0 ] && ge "$nop_ins" "$(python3 -c "print(0.9 * $pings)")"; then
    pass "NOP-Out floods: $pings pings (and as many NOP-Outs with ITT 0xffffffff) in $bad_seconds s, $nop_ins answered"
  else
    fail "NOP-Out floods: $pings pings, only $nop_ins answered"
  fi
fi

# --- memory -------------------------------------------------------------
hwm=$(hwm_mib)
if [ -n "${OFFCOPY_SANITIZE:-}" ]; then
  pass "peak RSS (VmHWM) $hwm_base MiB after the baseline, $hwm MiB in all (a sanitizer build: not bounded)"
elif [ "$hwm" -lt "$RSS_MIB" ]; then
  pass "memory bounded: peak RSS (VmHWM) $hwm_base MiB after the baseline, $hwm MiB in all (< $RSS_MIB MiB)"
else
  fail "memory: peak RSS (VmHWM) $hwm MiB (after the baseline: $hwm_base MiB), over $RSS_MIB MiB -- the clients that never read (misbehave.py deaf-nop, deaf-read) made the target queue what it could not send?"
fi

# --- the target is healthy ------------------------------------------------
if kill -0 "$PID" 2>/dev/null && timeout 20 iscsi-inq "$(url 0)" 2>&1 | grep -q "Vendor:OFFCOPY"; then
  pass "the target answers iscsi-inq afterwards"
else
  fail "the target does not answer afterwards (alive: $(kill -0 "$PID" 2>/dev/null && echo yes || echo no))"
  tail -20 "$T/target.log" | sed 's/^/     /'
fi
stop_target 30

echo "load: $passed passed, $failed failed"
[ $failed = 0 ]
