#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# offcopy-target status over the control socket, on a running target with
# two LUNs: the socket's mode, what status says before and after QEMU
# writes to one LUN (JSON and the table), the errors of a client that
# finds nothing (exit 1, the path and the errno on stderr), a socket that
# another target answers on (exit 2), a stale one left by kill -9
# (replaced), the config file's control_socket, and the socket gone after
# the stop.
#
#   bash status_test.sh BUILD_DIR
#
# Needs qemu-io (qemu-utils, qemu-block-extra: scripts/setup.sh installs
# them) to write through iSCSI, and python3 to read the JSON; without them
# it says why and skips (exit 77), except under OFFCOPY_REQUIRE_TARGET=1
# (CI).  Every control socket is in the test's own directory: never the
# default, which tests run in parallel would share.  The last line is
#   target_status: N passed, M failed
set -u

BUILD=$(realpath -- "${1:?usage: status_test.sh BUILD_DIR}")
TARGET_BIN=$BUILD/offcopy-target
# shellcheck source=../lib.sh
. "$(cd "$(dirname "$0")" && pwd)/../lib.sh"
IQN=iqn.2026-12.org.offcopy:status
require target_status qemu-io python3 "$TARGET_BIN"

T=$(mktemp -d /tmp/offcopy-status.XXXXXX)
PID=
cleanup() {
  kill_now ${PID:+"$PID"}
  rm -rf "$T"
}
trap cleanup EXIT

SOCK=$T/run/control.sock
mkdir "$T/run"

# status ARGS...: offcopy-target status ARGS (at most 20 s); $rc,
# $T/out, $T/err.
status() {
  timeout 20 "$TARGET_BIN" status "$@" >"$T/out" 2>"$T/err" </dev/null
  rc=$?
}

# lun_field LUN FIELD: the field of that LUN of $IQN in the JSON in $T/out.
lun_field() {
  python3 - "$T/out" "$IQN" "$1" "$2" <<'EOF'
import json, sys
path, iqn, lun, field = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
doc = json.load(open(path))
assert doc["version"] == 1, doc["version"]
target = next(t for t in doc["targets"] if t["iqn"] == iqn)
print(next(l for l in target["luns"] if l["lun"] == lun)[field])
EOF
}

start_target --target "$IQN" --lun 0="$T/lun0.img" --lun 1="$T/lun1.img" --create 64M \
  --control "$SOCK"

# --- the socket ------------------------------------------------------------
if [ -S "$SOCK" ] && [ "$(stat -c %a "$SOCK")" = 600 ]; then
  pass "the control socket is a socket of mode 0600"
else
  fail "the control socket: $(ls -l "$SOCK" 2>&1)"
fi
if grep -Fq "control socket $SOCK" "$T/target.log"
then pass "the log names the control socket"
else fail "the log lacks the control socket: $(cat "$T/target.log")"
fi

# --- status --json, before and after a write to LUN 0 -----------------------
status --control "$SOCK" --json
if [ "$rc" = 0 ] && [ "$(lun_field 0 bytes_written)" = 0 ] && [ "$(lun_field 1 bytes_written)" = 0 ] &&
  [ "$(lun_field 0 size_bytes)" = 67108864 ] && [ "$(lun_field 0 path)" = "$T/lun0.img" ]; then
  pass "status --json: both LUNs, 64 MiB, nothing written yet"
else
  fail "status --json before the write: status $rc, $(cat "$T/out" "$T/err")"
fi

url="iscsi://127.0.0.1:$PORT/$IQN/0"
if timeout 30 qemu-io -f raw -c 'write -P 0x5a 0 1M' "$url" >"$T/qemu.out" 2>&1; then
  pass "qemu-io wrote 1 MiB to LUN 0"
else
  fail "qemu-io write to $url: $(cat "$T/qemu.out")"
fi

status --control "$SOCK" --json
written0=$(lun_field 0 bytes_written 2>&1)
written1=$(lun_field 1 bytes_written 2>&1)
if [ "$rc" = 0 ] && [[ "$written0" =~ ^[0-9]+$ ]] && [ "$written0" -ge 1048576 ] &&
  [ "$written1" = 0 ]; then
  pass "status --json: LUN 0 has $written0 bytes written, LUN 1 none"
else
  fail "status --json after the write: status $rc, LUN 0 '$written0', LUN 1 '$written1'"
fi
for field in bytes_read copies bytes_cloned bytes_kernel_copied bytes_host_copied block_size read_only; do
  value=$(lun_field 1 "$field" 2>&1)
  [[ "$value" =~ ^([0-9]+|True|False)$ ]] || fail "status --json: LUN 1 $field is '$value'"
done
if python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); s = d["server"]
assert d["pid"] == int(sys.argv[2]) and d["uptime_seconds"] >= 0 and s["connections"] >= 0' \
  "$T/out" "$PID"
then pass "status --json: the pid, the uptime, the server's counters"
else fail "status --json: pid, uptime or server counters: $(head -c 400 "$T/out")"
fi

# --- the table --------------------------------------------------------------
status --control "$SOCK"
if [ "$rc" = 0 ] && grep -Fq "$T/lun0.img" "$T/out" && grep -Fq "$T/lun1.img" "$T/out" &&
  grep -q "^offcopy-target .*, pid $PID, up " "$T/out" && grep -q "WRITTEN" "$T/out" &&
  grep -q "^$IQN " "$T/out" && grep -Fq " 1 MiB " "$T/out" && [ ! -s "$T/err" ]; then
  pass "status: a table naming both backing files, LUN 0's 1 MiB written"
else
  fail "status: status $rc, $(cat "$T/out" "$T/err")"
fi

# --- a client that finds nothing -------------------------------------------
status --control "$T/run/nothing.sock"
if [ "$rc" = 1 ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" = 1 ] &&
  grep -Fq "'$T/run/nothing.sock'" "$T/err" && grep -Fq "No such file or directory" "$T/err"; then
  pass "status on a missing socket: exit 1, one line naming the path and the errno"
else
  fail "status on a missing socket: status $rc, $(cat "$T/out" "$T/err")"
fi
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' \
  "$T/run/stale.sock"
status --control "$T/run/stale.sock" --json
if [ "$rc" = 1 ] && grep -Fq "'$T/run/stale.sock'" "$T/err" && grep -Fq "Connection refused" "$T/err"
then pass "status on a socket nothing listens on: exit 1, 'Connection refused'"
else fail "status on a stale socket: status $rc, $(cat "$T/err")"
fi
status --control "$SOCK" --lun 0=/x
if [ "$rc" = 2 ] && grep -Fq "option '--lun' is not one of 'offcopy-target status'" "$T/err"
then pass "status with a serving option: a usage error, exit 2"
else fail "status --lun: status $rc, $(cat "$T/err")"
fi
status --control none
if [ "$rc" = 2 ] && grep -Fq "turned off" "$T/err"
then pass "status --control none: nothing to ask, exit 2"
else fail "status --control none: status $rc, $(cat "$T/err")"
fi

# --- a socket another target answers on -------------------------------------
truncate -s 1M "$T/other.img"
timeout 20 "$TARGET_BIN" --listen 127.0.0.1:0 --port-file "$T/other.port" --control "$SOCK" \
  --target "$IQN:other" --lun 0="$T/other.img" >"$T/other.log" 2>&1 </dev/null
rc=$?
if [ "$rc" = 2 ] && grep -Fq "the control socket '$SOCK' is in use" "$T/other.log" &&
  [ ! -e "$T/other.port" ]; then
  pass "a second target on a live control socket: exit 2, nothing served"
else
  fail "a second target on a live control socket: status $rc, $(cat "$T/other.log")"
fi
status --control "$SOCK" --json
if [ "$rc" = 0 ] && [ "$(lun_field 0 path)" = "$T/lun0.img" ]
then pass "the first target still answers on its socket"
else fail "the first target no longer answers: status $rc, $(cat "$T/err")"
fi

# --- the stop removes the socket -------------------------------------------
stop_target 10
if [ ! -e "$SOCK" ]
then pass "the control socket is gone after the stop"
else fail "the control socket outlived the stop: $(ls -l "$SOCK")"
fi

# --- a stale socket (kill -9) is replaced; control_socket in the config -----
cat >"$T/target.toml" <<EOF
control_socket = "$T/run/from-config.sock"
[[target]]
iqn = "$IQN"
  [[target.lun]]
  lun = 0
  path = "$T/lun0.img"
EOF
# start_from_config: the target of $T/target.toml alone, without
# start_target's --control, which would win over the file's key.
start_from_config() {
  rm -f "$T/port"
  "$TARGET_BIN" --listen 127.0.0.1:0 --port-file "$T/port" --config "$T/target.toml" \
    >"$T/target.log" 2>&1 </dev/null &
  PID=$!
  for _ in $(seq 100); do
    [ -s "$T/port" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  fail "the target of $T/target.toml did not start: $(cat "$T/target.log")"
  return 1
}
if start_from_config; then
  if [ -S "$T/run/from-config.sock" ]
  then pass "control_socket in the config file is served"
  else fail "control_socket in the config file: no socket; $(cat "$T/target.log")"
  fi
  kill -KILL "$PID"
  wait "$PID" 2>/dev/null
  PID=
  if [ -S "$T/run/from-config.sock" ] && start_from_config; then
    if grep -Fq "replacing a stale socket" "$T/target.log"; then
      pass "a socket left by kill -9 is replaced at the next start"
    else
      fail "a stale socket: $(cat "$T/target.log")"
    fi
    status --config "$T/target.toml" --json
    if [ "$rc" = 0 ] && [ "$(lun_field 0 bytes_written)" = 0 ]
    then pass "status --config FILE asks the file's control_socket"
    else fail "status --config FILE: status $rc, $(cat "$T/out" "$T/err")"
    fi
    stop_target 10
  else
    fail "kill -9 left no socket, or the target did not start again"
  fi
fi

echo "target_status: $passed passed, $failed failed"
[ "$failed" = 0 ]
