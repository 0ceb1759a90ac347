#!/usr/bin/env bash
# LUN -> LUN copies with `qemu-img convert -C` (EXTENDED COPY), offcopy-target
# against tgtd, side by side, on xfs (reflink=1), btrfs and ext4.
#
#   sudo bench/target_xcopy.sh [--rounds N] [--size SIZE] [--fs LIST]
#                              [--rows LIST] [--offcopy-target PATH]
#                              [--out DIR] [--dir DIR] [--flush]
#                              [--convert-args "ARGS"]
#
#   --rounds N       timed copies per row and filesystem (default 3)
#   --size SIZE      LUN size, K/M/G suffixes (default 1G; 64M for a smoke run)
#   --fs LIST        filesystems, comma-separated (default xfs,btrfs,ext4)
#   --rows LIST      rows, comma-separated, of (default: all four)
#                      offcopy-xcopy  offcopy-target, qemu-img convert -C
#                      tgtd-xcopy     tgtd, qemu-img convert -C
#                      offcopy-host   offcopy-target, qemu-img convert (no -C)
#                      tgtd-host      tgtd, qemu-img convert (no -C)
#   --offcopy-target PATH  (default build/offcopy-target of this repository)
#   --out DIR        results.md, results.jsonl, logs/ (default a new temp dir)
#   --dir DIR        where the filesystem images go (default /var/tmp)
#   --flush          qemu-img -t writeback: it sends SYNCHRONIZE CACHE at the
#                    end, so the time includes making the copy durable
#   --convert-args "ARGS"  more qemu-img convert options for every row, e.g.
#                    "-W" (writes, and so EXTENDED COPYs, out of order: by
#                    default qemu-img issues them one after the other)
#
# For each filesystem: a sparse image of max(1 GiB, 4 x SIZE) in --dir on a
# loop device (--direct-io=on), mkfs (xfs -m reflink=1; ext4 with its inode
# tables and journal initialised up front, so no lazy init writes during the
# copies), mounted (btrfs with nodiscard: no background discards of the
# punched destination during the next copy); on it src.img (SIZE bytes of
# /dev/urandom, written, not sparse) and dst.img (SIZE, sparse).  Both
# targets serve those two files at once, on 127.0.0.1, each on a free port:
#   offcopy-target  LUN 0 = src.img, LUN 1 = dst.img
#   tgtd            LUN 1 = src.img, LUN 2 = dst.img (its LUN 0 is the
#                   controller), rdwr backing store, its own control port
#                   (tgtd -C N, N random, retried), so any other tgtd is
#                   left alone.
#
# How -C behaves (QEMU 7.2, qemu-img.c and block/iscsi.c): qemu-img sends
# EXTENDED COPY (LID1, one block->block segment per 2 MiB chunk) to the
# destination LUN; if one fails, qemu-img SILENTLY falls back to reading
# and writing through itself -- exit status 0, a correct copy.  So the exit
# status proves nothing, and this script reads qemu-img's own trace
# (`qemu-img --trace enable=iscsi_xcopy`, one line per EXTENDED COPY with
# its bytes and return code) after every -C copy:
#   offcopy-xcopy passes only if every EXTENDED COPY returned 0 and they
#     covered SIZE bytes; anything else -- refused, partly refused, never
#     sent -- FAILS the row (a host copy is never reported as an offload).
#     As a cross-check independent of qemu, less than SIZE bytes may have
#     crossed the loopback interface during that copy (a host copy moves
#     2 x SIZE; /proc/net/dev counts every process's traffic, so a busy
#     loopback can fail this check: it says so).
#     Before the timed rounds a 4 MiB probe (`--image-opts` raw slices of
#     both LUNs) checks that the target executes EXTENDED COPY at all; if
#     not, the row is reported as not supported and not timed (each timed
#     run would only be a host copy, which offcopy-host already measures).
#   tgtd-xcopy: tgtd 1.0.85 refuses EXTENDED COPY (ILLEGAL REQUEST, qemu's
#     ret -22), qemu-img falls back; what the trace showed is recorded.
#
# Each timed copy: destination made different from the source (every byte
# of dst.img punched to a hole, i.e. zeros; checked with cmp on its first
# MiB), `sync`, page cache dropped (echo 3 > /proc/sys/vm/drop_caches), so
# both targets start cold, then qemu-img's own program, iscsi module and
# libraries read back into the cache (a cold qemu-img start is ~40 ms here:
# the initiator's cost, which would swamp an offloaded copy, not the
# target's); timed: the wall clock of qemu-img only; then
# dst.img is compared with src.img (cmp of the backing files): a wrong copy
# FAILS loudly.  Rounds rotate the order of the rows.  Also recorded per
# copy: the bytes that crossed the loopback interface meanwhile (every
# process's, from /proc/net/dev: informative; a host copy moves about twice
# SIZE, an offload a few KiB).
#
# Output: a Markdown table per filesystem (median seconds, every run, tgtd
# -C / row) and a summary, printed and in OUT/results.md; one JSON object per
# line in OUT/results.jsonl (kind: env, probe, run, row, end); logs in
# OUT/logs (each qemu-img's output and trace, the targets' logs).
#
# Exit status: 0 every row ran and was right; 1 a copy was wrong, a
# qemu-img failed, or a timed offcopy-xcopy copy was not offloaded although
# the probe found EXTENDED COPY working (a partial fallback, or the
# loopback cross-check); 3 every copy was right but offcopy-target does
# not execute EXTENDED COPY (the probe: refused or never sent); 2 usage or
# set-up error.  Needs root (mount, drop_caches), loop devices,
# mkfs.xfs/mkfs.btrfs/mkfs.ext4, qemu-img with qemu-block-extra (iscsi://),
# tgt (tgtd, tgtadm), python3; iscsi-inq (libiscsi-bin) is optional.
# scripts/setup.sh installs them.  Whatever happens (a failure, Ctrl-C,
# SIGTERM), the trap stops both targets and any qemu-img, unmounts, detaches
# the loop device and removes the image.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")/.." && pwd)

rounds=3
size_arg=1G
fs_arg=xfs,btrfs,ext4
rows_arg=offcopy-xcopy,tgtd-xcopy,offcopy-host,tgtd-host
target_bin=$here/build/offcopy-target
out=
img_dir=/var/tmp
flush=
convert_args=()

usage() { sed -n '2,/^# For each filesystem/{/^# For each/!p}' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need_arg() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then echo "target_xcopy: $1 needs a value" >&2; exit 2; fi
}
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) need_arg "$@"; rounds=$2; shift 2 ;;
    --size) need_arg "$@"; size_arg=$2; shift 2 ;;
    --fs) need_arg "$@"; fs_arg=$2; shift 2 ;;
    --rows) need_arg "$@"; rows_arg=$2; shift 2 ;;
    --offcopy-target) need_arg "$@"; target_bin=$2; shift 2 ;;
    --out) need_arg "$@"; out=$2; shift 2 ;;
    --dir) need_arg "$@"; img_dir=$2; shift 2 ;;
    --flush) flush=1; shift ;;
    --convert-args) [ $# -ge 2 ] || need_arg "$1"; read -r -a convert_args <<<"$2"; shift 2 ;;
    -h | --help) usage ;;
    *) echo "target_xcopy: unknown argument $1" >&2; usage ;;
  esac
done

die() { echo "target_xcopy: $*" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds: a positive integer, not '$rounds'"
size=$(numfmt --from=iec "$size_arg" 2>/dev/null) || die "--size: not a size: '$size_arg'"
if [ $((size % 1048576)) != 0 ] || [ "$size" -lt $((4 << 20)) ]; then
  die "--size: a whole number of MiB, at least 4M (got $size_arg)"
fi
size_h=$(numfmt --to=iec-i --suffix=B "$size")
IFS=, read -r -a FSES <<<"$fs_arg"
for fs in "${FSES[@]}"; do
  case $fs in xfs | btrfs | ext4) ;; *) die "--fs: xfs, btrfs or ext4, not '$fs'" ;; esac
done
IFS=, read -r -a ROWS <<<"$rows_arg"
for row in "${ROWS[@]}"; do
  case $row in offcopy-xcopy | tgtd-xcopy | offcopy-host | tgtd-host) ;;
    *) die "--rows: offcopy-xcopy, tgtd-xcopy, offcopy-host or tgtd-host, not '$row'" ;;
  esac
done
if [ ${#FSES[@]} = 0 ] || [ ${#ROWS[@]} = 0 ]; then die "--fs and --rows need at least one entry"; fi

[ "$(id -u)" = 0 ] || die "needs root (mount, losetup, drop_caches, tgtd)"
[ -x "$target_bin" ] || die "no offcopy-target at $target_bin (build it, or --offcopy-target PATH)"
target_bin=$(realpath -- "$target_bin")
missing=()
for tool in qemu-img tgtd tgtadm losetup mountpoint mkfs.xfs mkfs.btrfs mkfs.ext4 python3 numfmt fallocate cmp; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} = 0 ] || die "missing ${missing[*]} (scripts/setup.sh installs them)"
qemu-img --trace help 2>/dev/null | grep -qx iscsi_xcopy ||
  die "this qemu-img has no iscsi_xcopy trace event (or no iscsi driver: qemu-block-extra)"
[ -d "$img_dir" ] || die "--dir $img_dir is not a directory"
# qemu's iscsi module and the libraries it brings (drop_caches reads them back).
WARM_FILES=()
for m in $(dpkg -L qemu-block-extra 2>/dev/null | grep '/block-iscsi\.so$' || true) /usr/lib/*/qemu/block-iscsi.so; do
  if [ -f "$m" ]; then
    WARM_FILES+=("$m")
    while read -r lib; do WARM_FILES+=("$lib"); done < <(ldd "$m" 2>/dev/null | awk '$3 ~ /^\// {print $3}')
    break
  fi
done

if [ -z "$out" ]; then
  out=$(mktemp -d /tmp/offcopy-xcopy-bench.XXXXXX)
else
  mkdir -p "$out"
fi
out=$(realpath -- "$out")
mkdir -p "$out/logs"
jsonl=$out/results.jsonl
md=$out/results.md
: >"$jsonl"
: >"$md"

IQN=iqn.2026-12.org.offcopy:xcopy-bench
IQN_TGT=iqn.2026-12.org.offcopy:xcopy-bench-tgtd

# --- state the trap cleans up -------------------------------------------------
WORK=        # per filesystem: temp dir holding the image and the mount point
IMG=         # the filesystem image
LOOP=        # its loop device
MNT=         # its mount point
OPID=        # offcopy-target
TPID=        # tgtd
QPID=        # a running qemu-img

stop_pid() {  # stop_pid PID SIGNAL TENTHS: SIGNAL, then SIGKILL after TENTHS/10 s
  local pid=$1 sig=$2 limit=$3 n=0
  kill "-$sig" "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  while kill -0 "$pid" 2>/dev/null && [ "$n" -lt "$limit" ]; do sleep 0.1; n=$((n + 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

teardown_fs() {  # idempotent: the trap and the normal path both call it
  if [ -n "$QPID" ]; then kill -KILL "$QPID" 2>/dev/null || true; wait "$QPID" 2>/dev/null || true; QPID=; fi
  # offcopy-target fdatasyncs every LUN on SIGTERM; tgtd ignores SIGTERM
  # while it has targets, so it gets SIGKILL after half a second.
  if [ -n "$OPID" ]; then stop_pid "$OPID" TERM 200; OPID=; fi
  if [ -n "$TPID" ]; then stop_pid "$TPID" TERM 5; TPID=; fi
  if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
      umount "$MNT" 2>/dev/null && break
      if [ "$i" = 10 ]; then echo "target_xcopy: $MNT busy: lazy unmount" >&2; umount -l "$MNT" || true; fi
      sleep 0.3
    done
  fi
  if [ -n "$IMG" ]; then
    # Detach only devices still backed by our image (a freed loop number
    # may already belong to someone else).  A just-unmounted btrfs can hold
    # its device for a moment: retry.
    local i d devs
    for i in 1 2 3 4 5 6 7 8 9 10; do
      devs=$(losetup -j "$IMG" -O NAME -n 2>/dev/null || true)
      [ -z "$devs" ] && break
      for d in $devs; do losetup -d "$d" 2>/dev/null || true; done
      sleep 0.2
    done
    LOOP=
  fi
  if [ -n "$WORK" ]; then
    if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
      echo "target_xcopy: $MNT is still mounted: leaving $WORK" >&2
    else
      rm -rf "$WORK"
    fi
    WORK='' IMG='' MNT=''
  fi
}
# shellcheck disable=SC2317 # called by the trap
on_exit() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  teardown_fs
  exit "$rc"
}
trap on_exit EXIT
trap 'echo "target_xcopy: interrupted" >&2; exit 130' INT
trap 'echo "target_xcopy: terminated" >&2; exit 143' TERM

# --- helpers ---------------------------------------------------------------
json_str() {  # a JSON string of $1
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/ }
  s=${s//$'\r'/}
  printf '"%s"' "$s"
}
jsonl() { printf '%s\n' "$1" >>"$jsonl"; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {  # wait_port PORT PID: true once something listens on PORT, while PID lives
  local _
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
lo_bytes() {  # bytes received on the loopback interface so far
  local name rx rest
  while read -r name rx rest; do
    [ "$name" = lo: ] && { printf '%s\n' "$rx"; return; }
  done </proc/net/dev
  echo 0
}
# drop_caches: the page cache emptied (the LUNs' data cold), then the
# initiator's own program read back in (qemu-img, its iscsi module and that
# module's libraries): a cold qemu-img start costs ~40 ms on this machine,
# as much as the whole budget of an offloaded copy that is to be 100x faster
# than a 4 s one, and it is the initiator's cost, not the target's.
drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
  qemu-img --version >/dev/null
  if [ ${#WARM_FILES[@]} -gt 0 ]; then cat "${WARM_FILES[@]}" >/dev/null; fi
}
errno_name() {
  case $1 in
    -5) echo EIO ;; -13) echo EACCES ;; -16) echo EBUSY ;; -22) echo "EINVAL: CHECK CONDITION, ILLEGAL REQUEST" ;;
    -28) echo ENOSPC ;; -95) echo ENOTSUP ;; -110) echo ETIMEDOUT ;; *) echo "errno $((-$1))" ;;
  esac
}
median() {  # numbers, one a line -> the median (mean of the middle two if even)
  sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) exit
    if (NR % 2) printf "%.3f\n", a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# xcopy_stats FILE: "OK FAILED OK_BYTES RETS" from qemu-img's iscsi_xcopy
# trace lines ("iscsi_xcopy src_lun .. offset .. dst_lun .. offset .. bytes N
# ret R"); RETS are the distinct failure codes, comma-separated, or "-".
xcopy_stats() {
  awk '/iscsi_xcopy/ {
      b = 0; r = ""
      for (i = 1; i < NF; i++) { if ($i == "bytes") b = $(i + 1); if ($i == "ret") r = $(i + 1) }
      if (r == "0") { ok++; okb += b } else { bad++; rets[r] = 1 }
    }
    END {
      s = ""; for (r in rets) s = s (s == "" ? "" : ",") r
      printf "%d %d %d %s\n", ok, bad, okb, (s == "" ? "-" : s)
    }' "$1"
}

# --- offcopy-target's own copy counters -----------------------------------------
# `offcopy-target status --json` on the target's control socket: per-LUN
# bytes_cloned (FICLONERANGE), bytes_kernel_copied (copy_file_range) and
# bytes_host_copied (the target's own read/write).  The deltas around each
# copy say how the target executed it, independently of qemu's trace.
offcopy_counters() {  # stdout: {"bytes_cloned":N,...} summed over all LUNs, or nothing
  local raw
  raw=$("$target_bin" status --json --control "$WORK/control.sock" 2>/dev/null </dev/null) || return 0
  python3 -c '
import json, sys
keys = ("bytes_cloned", "bytes_kernel_copied", "bytes_host_copied")
tot = dict.fromkeys(keys, 0)
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in tot and isinstance(v, int): tot[k] += v
            else: walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
try: walk(json.loads(sys.argv[1]))
except ValueError: sys.exit(0)
print(json.dumps(tot, separators=(",", ":")))' "$raw" 2>/dev/null || true
}
counters_delta() {  # BEFORE AFTER (JSON objects, possibly empty) -> JSON delta or null
  if [ -z "$1" ] || [ -z "$2" ]; then echo null; return; fi
  python3 -c 'import json, sys; a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({k: b[k] - a[k] for k in b}, separators=(",", ":")))' "$1" "$2"
}
# Checks a delta against an offloaded copy of SIZE bytes; prints why not, or nothing.
counters_verdict() {  # DELTA_JSON FS
  [ "$1" = null ] && return 0
  python3 -c 'import json, sys
d, fs, size = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if d.get("bytes_host_copied", 0): print("the target itself copied %d bytes through user space" % d["bytes_host_copied"])
elif d.get("bytes_cloned", 0) + d.get("bytes_kernel_copied", 0) != size:
    print("the target cloned %d and kernel-copied %d bytes, not %d" % (d.get("bytes_cloned", 0), d.get("bytes_kernel_copied", 0), size))
elif fs != "ext4" and d.get("bytes_cloned", 0) != size:
    print("note: on %s only %d bytes were cloned" % (fs, d.get("bytes_cloned", 0)))' "$1" "$2" "$size"
}

# --- targets -------------------------------------------------------------
start_offcopy() {
  rm -f "$WORK/port"
  "$target_bin" --listen 127.0.0.1:0 --port-file "$WORK/port" --control "$WORK/control.sock" \
    --target "$IQN" \
    --lun 0="$MNT/src.img" --lun 1="$MNT/dst.img" -q \
    >"$out/logs/$fs-offcopy-target.log" 2>&1 </dev/null &
  OPID=$!
  local _
  for _ in $(seq 100); do
    [ -s "$WORK/port" ] && break
    kill -0 "$OPID" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$WORK/port" ] || { cat "$out/logs/$fs-offcopy-target.log" >&2; die "offcopy-target did not start"; }
  OPORT=$(cat "$WORK/port")
}
start_tgtd() {
  local _ adm_log=$out/logs/$fs-tgtadm.log
  TPID=
  for _ in 1 2 3 4 5; do
    TPORT=$(free_port)
    TCTL=$((1000 + RANDOM % 8000))
    tgtd -f -C "$TCTL" --iscsi "portal=127.0.0.1:$TPORT" \
      >"$out/logs/$fs-tgtd.log" 2>&1 </dev/null &
    TPID=$!
    wait_port "$TPORT" "$TPID" && break
    stop_pid "$TPID" KILL 0
    TPID=
  done
  [ -n "$TPID" ] || { cat "$out/logs/$fs-tgtd.log" >&2; die "tgtd did not start (5 tries)"; }
  adm() { tgtadm -C "$TCTL" --lld iscsi "$@" >>"$adm_log" 2>&1; }
  if ! { adm --op new --mode target --tid 1 -T "$IQN_TGT" &&
    adm --op new --mode logicalunit --tid 1 --lun 1 -b "$MNT/src.img" &&
    adm --op new --mode logicalunit --tid 1 --lun 2 -b "$MNT/dst.img" &&
    adm --op bind --mode target --tid 1 -I ALL; }; then
    cat "$adm_log" >&2
    die "tgtadm could not configure tgtd"
  fi
}

# row_cmd ROW: sets CMD (the qemu-img argv) and TARGET for ROW.
row_cmd() {
  local src dst c=() t=()
  case $1 in
    offcopy-*) TARGET=offcopy-target
      src=iscsi://127.0.0.1:$OPORT/$IQN/0 dst=iscsi://127.0.0.1:$OPORT/$IQN/1 ;;
    tgtd-*) TARGET=tgtd
      src=iscsi://127.0.0.1:$TPORT/$IQN_TGT/1 dst=iscsi://127.0.0.1:$TPORT/$IQN_TGT/2 ;;
  esac
  case $1 in *-xcopy) c=(-C) ;; esac
  if [ -n "$flush" ]; then t=(-t writeback); fi
  CMD=(qemu-img --trace enable=iscsi_xcopy convert "${c[@]}" "${t[@]}" "${convert_args[@]}" -n -f raw -O raw "$src" "$dst")
}
# The command as the tables show it: ports and IQNs replaced by names.
row_cmd_text() {
  local s=${CMD[*]}
  s=${s//iscsi:\/\/127.0.0.1:$OPORT\/$IQN\/0/SRC}
  s=${s//iscsi:\/\/127.0.0.1:$OPORT\/$IQN\/1/DST}
  s=${s//iscsi:\/\/127.0.0.1:$TPORT\/$IQN_TGT\/1/SRC}
  s=${s//iscsi:\/\/127.0.0.1:$TPORT\/$IQN_TGT\/2/DST}
  printf '%s\n' "$s"
}

# probe TARGET: does TARGET execute EXTENDED COPY?  qemu-img convert -C of
# the first 4 MiB of src onto dst (raw slices of both LUNs), read from its
# trace.  Sets PROBE ("supported", "refused" or "not sent") and PROBE_TEXT.
probe() {
  local name=$1 port iqn l0 l1 log ok bad okb rets three_pc='?' slice=$((4 << 20))
  if [ "$name" = tgtd ]; then port=$TPORT iqn=$IQN_TGT l0=1 l1=2; else port=$OPORT iqn=$IQN l0=0 l1=1; fi
  opts() { echo "driver=raw,offset=0,size=$slice,file.driver=iscsi,file.transport=tcp,file.portal=127.0.0.1:$port,file.target=$iqn,file.lun=$1"; }
  log=$out/logs/$fs-probe-$name.log
  qemu-img --trace enable=iscsi_xcopy convert -C -n --image-opts "$(opts "$l0")" \
    --target-image-opts "$(opts "$l1")" >"$log" 2>&1 </dev/null ||
    { cat "$log" >&2; die "the probe's qemu-img convert -C against $name failed"; }
  cmp -s -n "$slice" "$MNT/src.img" "$MNT/dst.img" || die "the probe's copy on $name is wrong"
  read -r ok bad okb rets <<<"$(xcopy_stats "$log")"
  if command -v iscsi-inq >/dev/null; then
    three_pc=$(iscsi-inq "iscsi://127.0.0.1:$port/$iqn/$l1" 2>/dev/null </dev/null | sed -n 's/^3PC://p')
    three_pc=${three_pc:-?}
  fi
  if [ "$bad" = 0 ] && [ "$ok" -gt 0 ] && [ "$okb" = "$slice" ]; then
    PROBE=supported
    PROBE_TEXT="executes EXTENDED COPY ($ok of $ok commands succeeded; INQUIRY 3PC=$three_pc)"
  elif [ "$ok" = 0 ] && [ "$bad" = 0 ]; then
    PROBE="not sent"
    PROBE_TEXT="qemu-img sent no EXTENDED COPY (no usable designator in VPD page 0x83, or unequal block sizes) and copied through itself; INQUIRY 3PC=$three_pc"
  else
    PROBE=refused
    PROBE_TEXT="refuses EXTENDED COPY: $bad of $((ok + bad)) commands failed (ret $rets, $(errno_name "${rets%%,*}")); qemu-img -C exits 0 after copying through itself; INQUIRY 3PC=$three_pc"
  fi
  echo "   probe: $name $PROBE_TEXT"
  jsonl "{\"kind\":\"probe\",\"fs\":\"$fs\",\"target\":\"$name\",\"result\":$(json_str "$PROBE"),\"xcopy_ok\":$ok,\"xcopy_failed\":$bad,\"xcopy_rets\":$(json_str "$rets"),\"inquiry_3pc\":$(json_str "$three_pc"),\"text\":$(json_str "$PROBE_TEXT")}"
}

# --- one timed copy ----------------------------------------------------------
declare -A TIMES LOOPBACK NOTES STATUS CMDTEXT REFLINK
failures=0      # wrong copies, qemu-img failures, partial offloads
unsupported=0   # offload rows the target did not offload
run_copy() {  # run_copy ROW ROUND
  local row=$1 round=$2 log lo0 lo1 t0 t1 rc secs ok bad okb rets mode verdict="" cdelta=null c0="" c1=""
  row_cmd "$row"
  CMDTEXT[$fs,$row]=$(row_cmd_text)
  log=$out/logs/$fs-$row-$round.log
  # The destination, different from the source: every byte a hole (zeros).
  fallocate --punch-hole --offset 0 --length "$size" "$MNT/dst.img"
  if cmp -s -n 1048576 "$MNT/src.img" "$MNT/dst.img"; then
    die "dst.img still equals src.img after punching it"
  fi
  if [ "$TARGET" = offcopy-target ]; then c0=$(offcopy_counters); fi
  drop_caches
  lo0=$(lo_bytes)
  t0=$EPOCHREALTIME
  "${CMD[@]}" >"$log" 2>&1 </dev/null &
  QPID=$!
  rc=0
  wait "$QPID" || rc=$?
  t1=$EPOCHREALTIME
  QPID=
  lo1=$(lo_bytes)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
  if [ "$TARGET" = offcopy-target ]; then c1=$(offcopy_counters); fi
  if [ -n "$c0" ]; then cdelta=$(counters_delta "$c0" "$c1"); fi
  read -r ok bad okb rets <<<"$(xcopy_stats "$log")"
  local state=ok note=""
  if [ "$rc" != 0 ]; then
    state=failed note="qemu-img exited $rc: $(tail -c 300 "$log" | tr '\n' ' ')"
  elif ! cmp "$MNT/src.img" "$MNT/dst.img" >"$log.cmp" 2>&1; then
    state=failed note="WRONG COPY: dst.img differs from src.img: $(head -c 200 "$log.cmp")"
  fi
  case $row in
    *-xcopy)
      if [ "$ok" -gt 0 ] && [ "$bad" = 0 ] && [ "$okb" = "$size" ]; then
        mode=offloaded
      elif [ "$ok" = 0 ] && [ "$bad" = 0 ]; then
        mode="host copy: no EXTENDED COPY sent"
      elif [ "$ok" = 0 ]; then
        mode="host copy: EXTENDED COPY refused ($bad of $bad, ret $rets)"
      else
        mode="partly offloaded: $ok EXTENDED COPY ok ($okb bytes), $bad failed (ret $rets), the rest copied through qemu-img"
      fi ;;
    *) mode="host copy (no -C)" ;;
  esac
  if [ "$row" = offcopy-xcopy ] && [ "$state" = ok ]; then
    if [ "$mode" != offloaded ]; then
      state=failed note="NOT OFFLOADED: $mode"
    elif [ $((lo1 - lo0)) -ge "$size" ]; then
      # A host copy moves 2 x SIZE through 127.0.0.1, an offload a few KiB.
      state=failed note="NOT OFFLOADED? qemu's trace says so, but $(((lo1 - lo0) >> 20)) MiB crossed 127.0.0.1 during the copy (a host copy of $size_h moves twice that): the data went through the host, or another process used the loopback heavily meanwhile -- rerun on a quiet machine"
    else
      verdict=$(counters_verdict "$cdelta" "$fs")
      case $verdict in
        "") ;;
        note:*) note=$verdict ;;
        *) state=failed note="NOT OFFLOADED by the target's counters: $verdict" ;;
      esac
    fi
  fi
  if [ "$state" = ok ]; then
    TIMES[$fs,$row]+="$secs "
    LOOPBACK[$fs,$row]+="$(((lo1 - lo0) >> 20)) "
  else
    failures=$((failures + 1))
    echo "   FAIL: $fs $row round $round: $note" >&2
  fi
  STATUS[$fs,$row]=${STATUS[$fs,$row]:-ok}
  [ "$state" = ok ] || STATUS[$fs,$row]=failed
  NOTES[$fs,$row]=$mode${note:+ -- $note}
  printf '   %-14s round %d: %7ss  %s%s\n' "$row" "$round" "$secs" "$mode" "${note:+ -- $note}"
  jsonl "{\"kind\":\"run\",\"fs\":\"$fs\",\"row\":\"$row\",\"target\":\"$TARGET\",\"round\":$round,\"size\":$size,\"seconds\":$secs,\"status\":\"$state\",\"copy\":$(json_str "$mode"),\"note\":$(json_str "$note"),\"qemu_img_rc\":$rc,\"xcopy_ok\":$ok,\"xcopy_failed\":$bad,\"xcopy_ok_bytes\":$okb,\"xcopy_rets\":$(json_str "$rets"),\"loopback_bytes\":$((lo1 - lo0)),\"target_counters\":$cdelta,\"command\":$(json_str "${CMD[*]}")}"
}

# --- the environment -----------------------------------------------------------
version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
ocver=$("$target_bin" --version 2>/dev/null | head -1 | awk '{print $NF}')
env_text="$(date -u +%Y-%m-%d), $(nproc) CPUs, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r); qemu-img $(version qemu-utils), tgt $(version tgt), offcopy-target ${ocver:-?} ($target_bin)"
jsonl "{\"kind\":\"env\",\"started\":\"$started\",\"loadavg\":\"$load_start\",\"size\":$size,\"rounds\":$rounds,\"flush\":$([ -n "$flush" ] && echo true || echo false),\"convert_args\":$(json_str "${convert_args[*]}"),\"fs\":$(json_str "$fs_arg"),\"rows\":$(json_str "$rows_arg"),\"machine\":$(json_str "$env_text")}"
echo "target_xcopy: $size_h LUNs, rounds: $rounds, filesystems: $fs_arg; results in $out"
echo "   $env_text"

label() {
  case $1 in
    offcopy-xcopy) echo "offcopy-target, -C" ;;
    tgtd-xcopy) echo "tgtd, -C" ;;
    offcopy-host) echo "offcopy-target, no -C (host copy through the initiator; reference)" ;;
    tgtd-host) echo "tgtd, no -C (host copy; reference)" ;;
  esac
}
median_of() {  # median_of KEY: the median of TIMES[KEY], or nothing
  [ -n "${TIMES[$1]:-}" ] || return 0
  tr ' ' '\n' <<<"${TIMES[$1]}" | grep -v '^$' | median
}
summary=()

for fs in "${FSES[@]}"; do
  echo
  echo "== $fs"
  WORK=$(mktemp -d "$img_dir/offcopy-xcopy-$fs.XXXXXX")
  IMG=$WORK/fs.img
  MNT=$WORK/mnt
  mkdir "$MNT"
  img_size=$((size * 4))
  [ "$img_size" -ge $((1 << 30)) ] || img_size=$((1 << 30))
  truncate -s "$img_size" "$IMG"
  LOOP=$(losetup --direct-io=on --find --show "$IMG")
  case $fs in
    xfs) mkfs.xfs -q -f -m reflink=1 "$LOOP" >/dev/null ;;
    btrfs) mkfs.btrfs -q -f "$LOOP" >/dev/null ;;
    ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP" ;;
  esac
  # btrfs would discard the punched ranges in the background (discard=async,
  # its default on a loop device) while the next copy runs.
  if [ "$fs" = btrfs ]; then mount -o nodiscard "$LOOP" "$MNT"; else mount "$LOOP" "$MNT"; fi
  head -c "$size" /dev/urandom >"$MNT/src.img"
  truncate -s "$size" "$MNT/dst.img"
  sync
  # Written, not sparse: every block allocated.
  alloc=$(($(stat -c '%b * %B' "$MNT/src.img")))
  [ "$alloc" -ge "$size" ] || die "src.img is sparse ($alloc of $size bytes allocated)"
  reflink=no
  if cp --reflink=always "$MNT/src.img" "$MNT/reflink-check" 2>/dev/null; then reflink=yes; fi
  rm -f "$MNT/reflink-check"
  REFLINK[$fs]=$reflink
  echo "   $(findmnt -n -o FSTYPE,OPTIONS "$MNT") on $LOOP; reflink: $reflink"
  start_offcopy
  start_tgtd
  echo "   offcopy-target on 127.0.0.1:$OPORT (LUN 0 src, 1 dst); tgtd on 127.0.0.1:$TPORT, control port $TCTL (LUN 1 src, 2 dst)"

  # The probes (untimed), and the rows that are timed.
  run_rows=()
  for row in "${ROWS[@]}"; do
    case $row in
      tgtd-xcopy) probe tgtd ;;
      offcopy-xcopy)
        probe offcopy-target
        if [ "$PROBE" != supported ]; then
          row_cmd "$row"
          CMDTEXT[$fs,$row]=$(row_cmd_text)
          STATUS[$fs,$row]=unsupported
          NOTES[$fs,$row]="NOT OFFLOADED: offcopy-target $PROBE_TEXT"
          unsupported=$((unsupported + 1))
          echo "   FAIL: offcopy-target ($target_bin) does not execute EXTENDED COPY;" \
            "qemu-img convert -C would silently copy through the host. Row offcopy-xcopy not timed on $fs." >&2
          continue
        fi ;;
    esac
    run_rows+=("$row")
  done

  n=${#run_rows[@]}
  for ((r = 0; r < rounds; r++)); do
    for ((i = 0; i < n; i++)); do
      run_copy "${run_rows[(i + r) % n]}" $((r + 1))
    done
  done
  teardown_fs

  # The table for this filesystem: every row against tgtd -C (or, without
  # that row, tgtd without -C).
  base='' base_name=
  for b in tgtd-xcopy tgtd-host; do
    base=$(median_of "$fs,$b")
    if [ -n "$base" ]; then
      base_name=tgtd
      if [ "$b" = tgtd-xcopy ]; then base_name="tgtd -C"; fi
      break
    fi
  done
  {
    echo "### $fs, $size_h LUNs, rounds: $rounds (reflink: $reflink)"
    echo
    echo "| row | command | median s | runs s | ${base_name:-tgtd} ÷ row | loopback MiB | how the copy went |"
    echo "|---|---|---|---|---|---|---|"
    for row in "${ROWS[@]}"; do
      m=$(median_of "$fs,$row")
      runs=$(sed 's/ $//; s/ /, /g' <<<"${TIMES[$fs,$row]:-}")
      ratio=
      if [ -n "$m" ] && [ -n "$base" ]; then ratio=$(awk -v a="$base" -v b="$m" 'BEGIN {printf "%.1f", a / b}'); fi
      st=${STATUS[$fs,$row]:-none}
      case $st in
        ok) shown=$m ;;
        unsupported) shown="NOT SUPPORTED" ;;
        *) shown="FAILED${m:+ (median of the good runs: $m)}" ;;
      esac
      lo=
      if [ -n "${LOOPBACK[$fs,$row]:-}" ]; then lo=$(tr ' ' '\n' <<<"${LOOPBACK[$fs,$row]}" | grep -v '^$' | median | cut -d. -f1); fi
      echo "| $(label "$row") | \`${CMDTEXT[$fs,$row]:-}\` | $shown | $runs | ${ratio:+$ratio×} | $lo | ${NOTES[$fs,$row]:-} |"
      jsonl "{\"kind\":\"row\",\"fs\":\"$fs\",\"row\":\"$row\",\"status\":\"$st\",\"median_s\":${m:-null},\"runs_s\":[$(sed 's/ $//; s/ /,/g' <<<"${TIMES[$fs,$row]:-}")],\"baseline\":$(json_str "$base_name"),\"ratio_baseline_over_row\":${ratio:-null},\"command\":$(json_str "${CMDTEXT[$fs,$row]:-}"),\"copy\":$(json_str "${NOTES[$fs,$row]:-}")}"
    done
    echo
    echo "SRC, DST: the two LUNs' iscsi:// URLs on 127.0.0.1 (offcopy-target LUN 0 and 1, tgtd LUN 1 and 2: the same two files on $fs)." \
      "Loopback MiB: what crossed 127.0.0.1 during the copy (median; every process's traffic, from /proc/net/dev)."
    echo
  } >"$out/table-$fs.md"
  cat "$out/table-$fs.md"

  # Its line in the summary.
  om=$(median_of "$fs,offcopy-xcopy")
  tm=$(median_of "$fs,tgtd-xcopy")
  ratio='' goal=
  case ${STATUS[$fs,offcopy-xcopy]:-none} in
    unsupported) om="NOT SUPPORTED" ;;
    failed) om="FAILED" ;;
  esac
  if [[ $om =~ ^[0-9.]+$ ]] && [ -n "$tm" ]; then
    ratio=$(awk -v a="$tm" -v b="$om" 'BEGIN {printf "%.1f×", a / b}')
    # The goal (issue 18): >= 100x where the LUNs' filesystem reflinks,
    # faster than tgtd where it cannot.
    if [ "${REFLINK[$fs]:-no}" = yes ]; then
      goal=$(awk -v a="$tm" -v b="$om" 'BEGIN {print (a / b >= 100) ? "yes (>= 100x)" : "no (< 100x)"}')
    else
      goal=$(awk -v a="$tm" -v b="$om" 'BEGIN {print (a / b > 1) ? "yes (> 1x)" : "no (<= 1x)"}')
    fi
  fi
  summary+=("| $fs | ${om:--} | ${tm:--} | ${ratio:--} | ${goal:--} |")
done

summary_head=("| fs | offcopy-target -C, median s | tgtd -C, median s | tgtd ÷ offcopy-target | goal met (≥ 100× with reflink, faster without) |" "|---|---|---|---|---|")
{
  echo "## qemu-img convert -C, LUN to LUN, $size_h: offcopy-target vs tgtd"
  echo
  printf '%s\n' "${summary_head[@]}" "${summary[@]}"
  echo
  echo -n "$env_text. Medians of $rounds rounds, rows rotated each round; page cache dropped before every copy; "
  if [ -n "$flush" ]; then
    echo -n "time: qemu-img's wall clock, with -t writeback (SYNCHRONIZE CACHE at the end)"
  else
    echo -n "time: qemu-img's wall clock (its default cache mode for convert sends no SYNCHRONIZE CACHE)"
  fi
  echo "; every copy compared with its source (cmp). Load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  for fs in "${FSES[@]}"; do cat "$out/table-$fs.md"; rm -f "$out/table-$fs.md"; done
} >"$md"
echo
echo "== summary"
printf '%s\n' "${summary_head[@]}" "${summary[@]}"
echo
jsonl "{\"kind\":\"end\",\"finished\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
echo "target_xcopy: load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs; much above 1 per CPU, other work shared them)"
echo "target_xcopy: tables in $md, one JSON object a line in $jsonl, logs in $out/logs"
if [ "$failures" -gt 0 ]; then
  echo "target_xcopy: FAILED: copies wrong, failed or not offloaded: $failures (see FAIL above)" >&2
  exit 1
fi
if [ "$unsupported" -gt 0 ]; then
  echo "target_xcopy: FAILED: offcopy-target did not execute EXTENDED COPY (on $unsupported of ${#FSES[@]} filesystems); every copy made was right" >&2
  exit 3
fi
exit 0
