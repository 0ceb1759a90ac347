#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# offcopy-target under real initiators, on 127.0.0.1: libiscsi's iscsi-ls
# and iscsi-inq, QEMU's iSCSI driver (qemu-img convert both ways, qemu-io
# for the write cache and FUA), and many concurrent sessions doing random
# reads and writes with every byte checked (iscsi-load --mode verify).
# libiscsi's conformance suite (iscsi-test-cu) runs in
# tests/target/conformance (beside tgtd), the long load with aborts and
# misbehaving clients in tests/target/load.
#
#   bash initiators_test.sh BUILD_DIR
#
# Needs libiscsi-bin, qemu-utils, qemu-block-extra and strace (scripts/
# setup.sh installs them); without them it says why and skips (exit 77),
# except under OFFCOPY_REQUIRE_TARGET=1 (CI), where that is a failure.
# Every server it starts is stopped on exit, whatever happens.
set -u

BUILD=$(realpath -- "${1:?usage: initiators_test.sh BUILD_DIR}")
TARGET_BIN=$BUILD/offcopy-target
# shellcheck source=../lib.sh
. "$(cd "$(dirname "$0")" && pwd)/../lib.sh"
LOAD_BIN=$BUILD/iscsi-load
IQN=iqn.2026-12.org.offcopy:initiators
IQN_CHAP=iqn.2026-12.org.offcopy:initiators-chap
SECRET=correct-horse-battery
require initiators iscsi-ls iscsi-inq qemu-img qemu-io strace "$TARGET_BIN" "$LOAD_BIN"

T=$(mktemp -d /tmp/offcopy-initiators.XXXXXX)
PID=
cleanup() {
  kill_now $PID
  rm -rf "$T"
}
trap cleanup EXIT


url() { echo "iscsi://127.0.0.1:$PORT/$IQN/$1"; }

start_target --target "$IQN" --lun 0="$T/lun0.img" --lun 1="$T/lun1.img" --create 256M \
  --target "$IQN_CHAP" --lun 0="$T/chap.img" --chap "alice:$SECRET" \
  --allow iqn.2026-12.org.offcopy:allowed

# --- discovery and inquiry ------------------------------------------------
out=$(timeout 20 iscsi-ls -s "iscsi://127.0.0.1:$PORT" 2>&1)
if grep -q "Target:$IQN Portal:127.0.0.1:$PORT,1" <<<"$out" &&
  [ "$(grep -c 'Lun:[01] *Type:DIRECT_ACCESS (Size:255M)' <<<"$out")" = 2 ]; then
  pass "iscsi-ls lists the target at its portal with both LUNs (256 MiB)"
else
  fail "iscsi-ls: $out"
fi
out=$(timeout 20 iscsi-inq "$(url 0)" 2>&1)
grep -q "Vendor:OFFCOPY" <<<"$out" && grep -q "Peripheral Device Type:DIRECT_ACCESS" <<<"$out" &&
  pass "iscsi-inq: a direct-access device by OFFCOPY" || fail "iscsi-inq: $out"
# (iscsi-inq takes the page in decimal: 131 is 0x83.)
naa() { timeout 20 iscsi-inq -e 1 -c 131 "$(url "$1")" 2>&1 | grep -a -A1 'Designator Type:(3) NAA' | grep -a 'Designator:' | od -An -tx1 | tr -d ' \n'; }
naa0=$(naa 0)
naa1=$(naa 1)
[ -n "$naa0" ] && [ "$naa0" != "$naa1" ] &&
  pass "iscsi-inq VPD 0x83: an NAA designator per LUN, different for each" ||
  fail "iscsi-inq VPD 0x83: '$naa0' vs '$naa1'"

# --- CHAP and the initiator ACL, with libiscsi's own login code ----------
chap_url() { echo "iscsi://alice%$1@127.0.0.1:$PORT/$IQN_CHAP/0"; }
allowed=iqn.2026-12.org.offcopy:allowed
if timeout 20 iscsi-inq -i $allowed "$(chap_url "$SECRET")" >/dev/null 2>&1; then
  pass "CHAP: the allowed initiator with the right secret logs in"
else
  fail "CHAP: the allowed initiator with the right secret was refused"
fi
out=$(timeout 20 iscsi-inq -i $allowed "$(chap_url wrong-secret-here)" 2>&1) &&
  fail "CHAP: a wrong secret logged in" ||
  { grep -qi "authentication failure" <<<"$out" && pass "CHAP: a wrong secret is an authentication failure" ||
      fail "CHAP: a wrong secret: $out"; }
out=$(timeout 20 iscsi-inq -i $allowed "iscsi://127.0.0.1:$PORT/$IQN_CHAP/0" 2>&1) &&
  fail "CHAP: no credentials logged in" || pass "CHAP: no credentials, no login"
out=$(timeout 20 iscsi-inq -i iqn.2026-12.org.offcopy:stranger "$(chap_url "$SECRET")" 2>&1) &&
  fail "ACL: an initiator not in the list logged in" ||
  { grep -qi "authorization failure" <<<"$out" && pass "ACL: another initiator is refused (authorization failure), even with the secret" ||
      fail "ACL: a stranger: $out"; }
listed=$(timeout 20 iscsi-ls "iscsi://127.0.0.1:$PORT" 2>&1)
if grep -q "$IQN " <<<"$listed" && ! grep -q "$IQN_CHAP" <<<"$listed"; then
  pass "discovery lists only the targets whose ACL admits the initiator"
else
  fail "discovery: $listed"
fi
if grep -q -- "$SECRET\|wrong-secret-here" "$T/target.log"; then
  fail "a secret reached the target's log"
else
  pass "no secret in the target's log"
fi

# --- QEMU: 256 MiB to the LUN and back, byte for byte --------------------
head -c 256M /dev/urandom >"$T/image.raw"
if timeout 120 qemu-img convert -n -O raw "$T/image.raw" "$(url 0)" 2>"$T/qemu.err" &&
  timeout 120 qemu-img convert -O raw "$(url 0)" "$T/back.raw" 2>>"$T/qemu.err" &&
  cmp -s "$T/image.raw" "$T/back.raw" && cmp -s "$T/image.raw" "$T/lun0.img"; then
  pass "qemu-img convert of 256 MiB to iscsi:// and back: identical (and in the backing file)"
else
  fail "qemu-img convert: $(cat "$T/qemu.err")"
fi

# --- many sessions, every byte checked ----------------------------------
if out=$(timeout 120 "$LOAD_BIN" --mode verify --bs 4K --qd 16 --sessions 16 --seconds 5 \
  "$(url 1)" 2>&1); then
  pass "16 sessions x 16 in flight, random 4K reads and writes for 5 s: every byte right ($(grep -o '"commands":[0-9]*' <<<"$out"))"
else
  fail "iscsi-load --mode verify: $out"
fi

# --- a misbehaving client does not disturb the others --------------------
# While 8 sessions read and write (every byte checked), raw connections
# send garbage, a PDU claiming a 16 MiB data segment, half a header and
# then silence, and a login PDU with nonsense keys: each is refused or
# dropped, and the sessions finish with nothing wrong.
"$LOAD_BIN" --mode verify --bs 4K --qd 8 --sessions 8 --seconds 4 "$(url 1)" >"$T/load.out" 2>&1 &
load_pid=$!
python3 - "$PORT" <<'PY'
import os, socket, struct, sys, time
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s
for _ in range(20):  # garbage
    s = conn(); s.sendall(os.urandom(4096)); s.close()
s = conn()  # a SCSI command before login, with a 16 MiB data segment
bhs = bytearray(48); bhs[0] = 0x01; bhs[5:8] = (0xff, 0xff, 0xff)
s.sendall(bytes(bhs)); time.sleep(0.2); s.close()
idle = conn(); idle.sendall(b"\x43\x87" + b"\0" * 10)  # half a login header, then nothing
s = conn()  # a login with nonsense keys
text = b"InitiatorName=x\0TargetName=\xff\xfe\0Bogus\0"
bhs = bytearray(48); bhs[0] = 0x43; bhs[1] = 0x81
bhs[5:8] = len(text).to_bytes(3, "big")
s.sendall(bytes(bhs) + text + b"\0" * (-len(text) % 4))
s.settimeout(5)
try:
    s.recv(4096)
except OSError:
    pass
s.close()
time.sleep(3)
idle.close()
PY
if wait $load_pid && grep -q '"mismatches":0' "$T/load.out" && kill -0 "$PID" 2>/dev/null; then
  pass "garbage, oversized and half-sent PDUs on other connections: 8 sessions unaffected ($(grep -o '"commands":[0-9]*' "$T/load.out"))"
else
  fail "a misbehaving client disturbed the others: $(cat "$T/load.out")"
fi

# --- durability: what reaches fdatasync ---------------------------------
# The target's writes and syncs while qemu-io runs, as a string: W for a
# pwrite, S for an fdatasync, in the order the kernel saw them.  Cached
# writes are not synced one by one (QEMU flushes once as it closes);
# writethrough writes carry FUA, each synced before the next is sent; a
# flush is a SYNCHRONIZE CACHE, synced.
io_pattern() {  # io_pattern QEMU-IO-ARGS...
  strace -f -qq -e trace=pwrite64,pwritev,fdatasync -o "$T/strace" -p "$PID" &
  local tracer=$!
  sleep 0.5
  timeout 30 qemu-io "$@" >/dev/null 2>&1
  sleep 0.3
  kill -INT $tracer
  wait $tracer 2>/dev/null
  sed -n 's/^[0-9]* *\(pwrite64\|pwritev\|fdatasync\)(.*/\1/p' "$T/strace" |
    sed 's/^pwrite.*/W/; s/^fdatasync/S/' | tr -d '\n'
}
cached=$(io_pattern -f raw -t writeback -c 'write -P 1 0 4k' -c 'write -P 2 4k 4k' -c 'write -P 3 8k 4k' "$(url 1)")
fua=$(io_pattern -f raw -t writethrough -c 'write -P 4 0 4k' -c 'write -P 5 4k 4k' -c 'write -P 6 8k 4k' "$(url 1)")
if [[ $cached == WWW* ]] && [[ $fua == WSWSWS* ]]; then
  pass "durability: cached writes $cached (synced once, at QEMU's closing flush); FUA writes $fua (each synced before GOOD)"
else
  fail "durability: cached writes gave '$cached' (want WWW then syncs), FUA writes '$fua' (want WSWSWS...)"
fi

stop_target
echo "initiators: $passed passed, $failed failed"
[ $failed = 0 ]
