#!/usr/bin/env bash
# Reliability of offcopy (issue 5): --atomic, --fsync, --verify, signals,
# SIGXFSZ, a source that changes while copied, --copy-contents, and big and
# odd files and filesystems (> 4 GiB sparse files, ENOSPC, a read-only
# destination, permission denied, dangling links, /proc and /sys, FIFOs,
# devices).
#
#   bash reliability_test.sh /path/to/offcopy /path/to/scripts/fsfixture.sh
#
# Everything runs on loop-mounted btrfs, xfs (reflink=1), ext4 and tmpfs:
# the script re-invokes itself under `fsfixture.sh run 1024 -- ...` (see
# tree_test.sh).  Without root or loop devices it says why and exits 77
# (skipped), unless OFFCOPY_REQUIRE_FS=1, where that is a failure.  The last
# line is always
#   reliability: N passed, M failed
# and the exit status is non-zero when anything failed.
#
# What is tested:
#   * Big sparse files on each filesystem: 5 GiB with data around 0, 2^31,
#     2^32 and the end, copied within the filesystem and to the next one
#     (btrfs->xfs->ext4->tmpfs->btrfs): same size and content (compared
#     extent by extent with SEEK_DATA/SEEK_HOLE, since reading 5 GiB of
#     holes through cmp takes too long on a loop device), holes kept (less
#     than 16 MiB allocated).  Files of exactly 2^31, 2^32 and 2^32+1
#     bytes, with data in the first and the last 4097 bytes.
#   * --verify: --stats ends with ", verified X (Y proven shared or holes)";
#     --json has verified_bytes and verify_skipped_bytes per file and in
#     totals; a reflink on btrfs/xfs is proven shared (nothing read), a copy
#     on ext4/tmpfs is read back entirely; the 5 GiB sparse file.
#   * --atomic: a new file; an existing one replaced by rename (a new
#     inode) keeping its mode and owner (without -p); -p; a symlink
#     destination (its target is replaced); -n never replaces; a failure
#     (--reflink=always on ext4) leaves the destination byte-identical with
#     the same inode; -r --atomic; onto /dev/null; under strace, the
#     temporary is .NAME.offcopy-XXXXXXXX beside NAME, created O_EXCL,
#     given its metadata and fsynced before the rename.
#   * --fsync (under strace; skipped with a reason when strace is missing):
#     the file and, for a new name, its directory are fsynced; with
#     --atomic the directory after the rename; with -r every file.
#   * Signals (offcopy started with default dispositions, as from a
#     terminal): SIGINT to `offcopy --sparse=always /dev/zero out` after
#     1 s (the zeros become holes, so nothing fills up) ends it within 1 s,
#     exit 130, the "stopped by SIGINT: N files copied, M stopped or not
#     started" line, no out; the same for /dev/urandom after 0.5 s;
#     SIGTERM (143) while reading a FIFO fed continuously; SIGHUP (129)
#     with --atomic over an existing destination (unchanged, same inode,
#     no temporary); SIGINT while reading a FIFO whose writer is idle, and
#     while opening one that has no writer yet (both must end within 1 s
#     too); a -r tree (ext4 -> xfs, host copy) stopped while a 64 MiB file
#     is being written, by SIGINT, and with --atomic by SIGTERM: every
#     regular file in the copy is complete, no temporaries, no directory
#     left 0700 unless its source is, and "N files copied" is the number of
#     files there.
#   * SIGXFSZ: under `ulimit -f 1024` a 4 MB copy fails with EFBIG ("File
#     too large") naming the file, exit 1 (not killed), partial file
#     removed; with --reflink=never, on btrfs, across filesystems, with
#     --atomic onto an existing file, and -r.
#   * A source that changes while copied: a writer appends 64 KiB records
#     (each starting with its sequence number) to a tmpfs file while it is
#     copied to ext4 with --reflink=never.  Either the copy fails with "the
#     source changed while it was copied, twice" and no destination, or it
#     succeeds and the copy is a prefix of the final source whose size is a
#     whole number of records.  Once with a continuous writer (a record
#     every 2 ms), once with a single append during the copy: then it is
#     copied again once ("retries": 1 in --json) and the copy is the source
#     with that record, unless the append came only after the copy.
#   * ENOSPC on a 64 MiB ext4 of our own (loop device, removed on exit):
#     a new file, --atomic onto an existing file (kept intact), a -r tree:
#     the error names the file and says "No space left on device", partial
#     files are removed.  The same fs remounted read-only, and a read-only
#     bind mount on xfs: "Read-only file system", exit 1.  A block device
#     node of it in a tree: recreated under -r, read as data (equal to the
#     device) under -r --copy-contents.
#   * Permission denied: a tree copied as nobody (setpriv) with one file
#     chmod 000: that file reported, the rest copied, exit 1.
#   * A dangling symlink operand (ENOENT as cp; -r, -a: copied as a link),
#     /proc/version, /proc/cmdline and a /sys file (equal to cat), a FIFO
#     operand with a writer, -r (FIFO and device recreated), -r
#     --copy-contents (FIFO read, /dev/null node -> empty file).
#   * After every failure: the source is unchanged (checksums and mtimes).
#
# Runs in about 40 s.  Everything is made under the fixture's mounts; our
# own small loop filesystem and bind mount are removed by a trap, and
# background writers are stopped.  REL_ONLY="signal_test ..." runs only the
# named test functions (for debugging this script).
set -u

# shellcheck source=tests/cli/lib.sh
. "$(dirname "$(realpath "$0")")/lib.sh"
parse_args reliability "$@"

L=""  # captures and helper scripts (on the tmpfs mount)

# ---------------------------------------------------------------- top level

if [ "$MODE" = top ]; then run_fs_script reliability SEEK_DATA; fi

# ------------------------------------------------------------------ helpers

inode() { stat -c %i "$1"; }

# No offcopy temporary (.NAME.offcopy-XXXXXXXX) anywhere under DIR.
no_temps() { [ -z "$(find "$1" -name '*.offcopy-*' 2>/dev/null | head -n 1)" ]; }

# Types, sizes, modes, owners, mtimes and checksums of everything under
# PATH (or of the file PATH): equal before and after means untouched.
fingerprint() {
  find "$1" -printf '%P %y %s %m %U %T@\n' 2>/dev/null | sort
  find "$1" -type f -print0 2>/dev/null | sort -z | xargs -0 -r md5sum
}

# source_unchanged DESC PATH BEFORE: PATH's fingerprint is still BEFORE.
source_unchanged() {
  local now
  now=$(fingerprint "$2")
  expect "$1: the source is unchanged (checksums, sizes, mtimes)" [ "$now" = "$3" ]
}

# Python helpers, written to $L/rel.py by fs_tests:
#   mksparse PATH SIZE OFF:LEN...   sparse file, random data at OFF
#   same PATH PATH                  same size and content, extent by extent
#   grow PATH NREC PAUSE CAP        the appending writer (see change_test)
#   prefix SRC DST INITIAL          DST is a record-aligned prefix of SRC
write_helpers() {
  cat >"$L/rel.py" <<'EOF'
import os, struct, sys, time
REC = 65536

def extents(fd, size):
    out, off = [], 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        out.append((d, h))
        off = h
    return out

def same(a, b):
    fa, fb = os.open(a, os.O_RDONLY), os.open(b, os.O_RDONLY)
    sa, sb = os.fstat(fa).st_size, os.fstat(fb).st_size
    if sa != sb:
        print("sizes differ: %d and %d" % (sa, sb))
        return 1
    regions = sorted(extents(fa, sa) + extents(fb, sb))
    merged = []
    for s, e in regions:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    for s, e in merged:  # outside these both files are holes (zeros)
        off = s
        while off < e:
            n = min(1 << 20, e - off)
            if os.pread(fa, n, off) != os.pread(fb, n, off):
                print("content differs in [%d, %d)" % (off, off + n))
                return 1
            off += n
    return 0

def mksparse(path, size, specs):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, size)
    for sp in specs:
        off, n = (int(x) for x in sp.split(":"))
        os.pwrite(fd, os.urandom(n), off)
    os.close(fd)
    return 0

def rec(i):
    return struct.pack("<Q", i) + bytes([i % 251]) * (REC - 8)

def grow(path, nrec, pause, cap):
    # nrec > 0: write records up to nrec and exit; else append until
    # PATH.stop exists or the file has cap records.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    i = os.fstat(fd).st_size // REC
    if nrec > 0:
        while i < nrec:
            os.write(fd, b"".join(rec(j) for j in range(i, min(i + 256, nrec))))
            i = min(i + 256, nrec)
        return 0
    stop = path + ".stop"
    while not os.path.exists(stop) and i < cap:
        os.write(fd, rec(i))
        i += 1
        if pause:
            time.sleep(pause)
    return 0

def prefix(src, dst, initial):
    sd, ss = os.path.getsize(dst), os.path.getsize(src)
    if sd % REC:
        print("copy size %d is not a whole number of records" % sd)
        return 1
    if sd < initial or sd > ss:
        print("copy size %d outside [%d, %d]" % (sd, initial, ss))
        return 1
    with open(src, "rb") as a, open(dst, "rb") as b:
        for i in range(sd // REC):
            x, y = a.read(REC), b.read(REC)
            if x != y or y != rec(i):
                print("record %d differs" % i)
                return 1
    print("copy: %d records of %d in the final source" % (sd // REC, ss // REC))
    return 0

def append(src, dst, ready):
    open(ready, "w").close()
    while not os.path.exists(dst):
        time.sleep(0.0005)
    with open(src, "ab") as f:
        f.write(rec(f.tell() // REC))
    print("%.6f" % time.time())
    return 0

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "append":
    sys.exit(append(*args))
if cmd == "same":
    sys.exit(same(*args))
if cmd == "mksparse":
    sys.exit(mksparse(args[0], int(args[1]), args[2:]))
if cmd == "grow":
    sys.exit(grow(args[0], int(args[1]), float(args[2]), int(args[3])))
if cmd == "prefix":
    sys.exit(prefix(args[0], args[1], int(args[2])))
sys.exit(2)
EOF
}

# sparse_same A B: same size and content; differences in $L/aux.
sparse_same() {
  python3 "$L/rel.py" same "$1" "$2" >"$L/same" 2>&1 && return 0
  sed "s|^|       $1 vs $2: |" "$L/same"
  return 1
}
mksparse() { python3 "$L/rel.py" mksparse "$@"; }

# A file of N bytes of random data.
randfile() { head -c "$2" /dev/urandom >"$1"; }

# ---- background runs (signals)

# Background jobs of a non-interactive shell start with SIGINT ignored;
# give offcopy the default dispositions, as a terminal would.
DEFSIG=()
if env --default-signal=INT true 2>/dev/null; then
  # shellcheck disable=SC2054  # one argument with commas
  DEFSIG=(env --default-signal=INT,TERM,HUP)
fi

# bg_oc ARGS...: offcopy in the background; pid -> $bgpid.
bg_oc() {
  last_cmd="offcopy $* (in the background)"
  "${DEFSIG[@]}" "$BIN" "$@" >"$L/out" 2>"$L/err" &
  bgpid=$!
}

# alive PID: running, not a zombie (builtins only: this is polled).
alive() {
  local st
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

# Milliseconds, without a fork.
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}

# stop_with SIGNAL: sends it to $bgpid and waits for it to end, up to 2 s
# (then SIGTERM twice, then SIGKILL: nothing is left running).  Elapsed
# milliseconds -> $stop_ms, status -> $rc, hung=1 when it had to be killed.
stop_with() {
  local t0 t
  t0=$(now_ms)
  kill -"$1" "$bgpid" 2>/dev/null
  while alive "$bgpid"; do
    t=${EPOCHREALTIME/[.,]/}
    [ $((t / 1000 - t0)) -ge 2000 ] && break
    sleep 0.005
  done
  stop_ms=$(($(now_ms) - t0))
  hung=0
  if alive "$bgpid"; then
    hung=1
    kill -TERM "$bgpid" 2>/dev/null
    sleep 0.3
    kill -TERM "$bgpid" 2>/dev/null
    sleep 0.3
    alive "$bgpid" && kill -KILL "$bgpid" 2>/dev/null
  fi
  wait "$bgpid"
  rc=$?
  local how="ended after $stop_ms ms"
  [ "$hung" = 1 ] && how="still running after $stop_ms ms, so stopped with SIGTERM twice"
  last_cmd="$last_cmd, then SIG$1: $how"
}

# Waits (up to 5 s) for PATH to exist.
wait_for() {
  local i=0
  while [ ! -e "$1" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
  [ -e "$1" ]
}

# stop_after SECONDS SIGNAL ARGS...: offcopy ARGS in the background, sent
# SIGNAL after SECONDS (see bg_oc, stop_with).
stop_after() {
  local delay=$1 sig=$2
  shift 2
  bg_oc "$@"
  sleep "$delay"
  stop_with "$sig"
}

# stopped_in_time [CODE]: the run stop_with stopped ended by itself within
# 1 s (with exit status CODE, when given).
stopped_in_time() {
  [ "$hung" = 0 ] && [ "$stop_ms" -lt 1000 ] && { [ $# -eq 0 ] || rc_is "$1"; }
}

# end_job PID: a background helper of ours killed and reaped, quietly.
end_job() {
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

# -------------------------------------------------------------- cleanup

MOUNTED=()  # our own mounts, unmounted on exit (last first)
OWN_FS=()   # our own `fsfixture.sh up` directories, taken down after that
cleanup() {
  local i p
  # Background helpers of ours still running (jobs not yet waited for).
  for p in $(jobs -p); do kill "$p" 2>/dev/null; done
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
  done
  for p in "${OWN_FS[@]}"; do bash "$FIXTURE" down "$p"; done
  MOUNTED=() OWN_FS=()
  return 0
}

declare -A M=()
declare -A NEXT_FS=([btrfs]=xfs [xfs]=ext4 [ext4]=tmpfs [tmpfs]=btrfs)

# ------------------------------------------------------------------- tests

G=$((1 << 30))
# The 5 GiB file: 64 KiB at 0, across 2^31, across 2^32, at the end.
BIG_SPECS="0:65536 $((2 * G - 32768)):65536 $((4 * G - 32768)):65536 $((5 * G - 65536)):65536"

big_sparse_test() {
  local fs=$1 D=${M[$1]}/big
  local N=${M[${NEXT_FS[$1]}]}/big-from-$1
  echo "# big sparse files ($fs)"
  mkdir -p "$D" "$N"
  # shellcheck disable=SC2086
  mksparse "$D/s5g" $((5 * G)) $BIG_SPECS
  oc "$D/s5g" "$D/s5g.copy"
  expect "$fs: 5 GiB sparse file (data at 0, 2^31, 2^32, end) copied: exit 0" rc_is 0
  expect "$fs: 5 GiB copy has the same size and content (extent by extent)" \
    sparse_same "$D/s5g" "$D/s5g.copy"
  expect "$fs: 5 GiB copy keeps its holes ($(allocated "$D/s5g.copy") bytes allocated)" \
    [ "$(allocated "$D/s5g.copy")" -lt $((16 << 20)) ]
  oc "$D/s5g" "$N/s5g"
  expect "$fs->${NEXT_FS[$fs]}: 5 GiB sparse file: exit 0, same size and content" \
    eval 'rc_is 0 && sparse_same "$D/s5g" "$N/s5g"'
  expect "$fs->${NEXT_FS[$fs]}: 5 GiB copy keeps its holes ($(allocated "$N/s5g") bytes allocated)" \
    [ "$(allocated "$N/s5g")" -lt $((16 << 20)) ]
  local size name
  for size in $((2 * G)) $((4 * G)) $((4 * G + 1)); do
    name=f$size
    mksparse "$D/$name" "$size" 0:4097 "$((size - 4097)):4097"
    oc "$D/$name" "$D/$name.copy"
    expect "$fs: a file of exactly $size bytes (sparse, data at both ends): exit 0, same size and content, sparse" \
      eval 'rc_is 0 && sparse_same "$D/$name" "$D/$name.copy" &&
            [ "$(allocated "$D/$name.copy")" -lt $((16 << 20)) ]'
  done
  oc "$D/f$((4 * G + 1))" "$N/f$((4 * G + 1))"
  expect "$fs->${NEXT_FS[$fs]}: 2^32+1 bytes: exit 0, same size and content" \
    eval 'rc_is 0 && sparse_same "$D/f$((4 * G + 1))" "$N/f$((4 * G + 1))"'
  if [ "$fs" = ext4 ]; then
    oc --reflink=never "$D/s5g" "$D/s5g.never"
    expect "ext4 --reflink=never (host copy): 5 GiB sparse: exit 0, same content, holes kept" \
      eval 'rc_is 0 && sparse_same "$D/s5g" "$D/s5g.never" &&
            [ "$(allocated "$D/s5g.never")" -lt $((16 << 20)) ]'
  fi
}

# verify_reports FS D OF SHARED JSON_SAYS PYTHON: after `--verify --stats`
# of D/src, the --stats line ends "verified 4.77 MiB (SHARED proven shared
# or holes)"; then D/src copied with --verify --json, PYTHON holds (with f
# the file's report, t the totals).  OF qualifies the copy in the check
# names ("" or " of a reflinked copy"), JSON_SAYS is what PYTHON checks.
verify_reports() {
  local fs=$1 D=$2 of=$3 shared=$4
  expect "$fs: --verify --stats$of: 'verified 4.77 MiB ($shared proven shared or holes)'" \
    grep -q "verified 4[.]77 MiB (${shared//./[.]} proven shared or holes)\$" "$L/out"
  oc --verify --json "$D/src" "$D/json"
  expect "$fs: --verify --json$of: $5, per file and in totals" \
    json_ok "f, t = d['files'][0], d['totals']
$6"
}

# --verify reports.  verified_bytes: read back and compared;
# verify_skipped_bytes: proven shared or holes; together the file's size.
verify_test() {
  local fs D SIZE=5000000
  echo "# --verify"
  for fs in btrfs xfs ext4 tmpfs; do
    D=${M[$fs]}/verify
    mkdir -p "$D"
    randfile "$D/src" $SIZE
    oc --verify --stats "$D/src" "$D/stats"
    expect "$fs: --verify --stats: exit 0, identical" eval 'rc_is 0 && same "$D/src" "$D/stats"'
    expect "$fs: --verify --stats line ends with ', verified X (Y proven shared or holes)'" \
      grep -Eq ', verified [0-9.]+ [KMGT]?i?B \([0-9.]+ [KMGT]?i?B proven shared or holes\)$' "$L/out"
    case $fs in
      btrfs | xfs)
        verify_reports "$fs" "$D" " of a reflinked copy" "4.77 MiB" \
          "proven shared (verify_skipped_bytes == $SIZE, verified_bytes == 0)" "
assert f['bytes_by']['clone'] == $SIZE, f['bytes_by']
for x in (f, t):
    assert x['verify_skipped_bytes'] == $SIZE and x['verified_bytes'] == 0, x"
        ;;
      *)
        verify_reports "$fs" "$D" "" "0 B" \
          "everything read back (verified_bytes == $SIZE, verify_skipped_bytes == 0)" "
for x in (f, t):
    assert x['verified_bytes'] == $SIZE and x['verify_skipped_bytes'] == 0, x"
        ;;
    esac
  done
  # Across filesystems: nothing shared, everything read.
  oc --verify --json "${M[ext4]}/verify/src" "${M[xfs]}/verify/from-ext4"
  expect "ext4->xfs --verify --json: exit 0, verified_bytes == $SIZE" \
    eval 'rc_is 0 && json_ok "assert d[\"totals\"][\"verified_bytes\"] == $SIZE, d[\"totals\"]"'
  # A sparse file: holes in both are proven, not read (on ext4, FIEMAP).
  local E=${M[ext4]}/verify
  mksparse "$E/sparse" $((64 << 20)) 0:65536 $((32 << 20)):65536
  oc --verify --json "$E/sparse" "$E/sparse.copy"
  expect "ext4 --verify --json, a 64 MiB sparse file: exit 0, verified_bytes + verify_skipped_bytes == size, holes not read (verified_bytes < 1 MiB)" \
    eval 'rc_is 0 && json_ok "
t = d[\"totals\"]
assert t[\"verified_bytes\"] + t[\"verify_skipped_bytes\"] == 64 << 20, t
assert t[\"verified_bytes\"] < 1 << 20, t"'
  oc --verify --json "${M[btrfs]}/big/s5g" "${M[btrfs]}/big/s5g.verify"
  expect "btrfs --verify --json, the 5 GiB sparse file: exit 0, all of it proven shared or holes" \
    eval 'rc_is 0 && json_ok "
t = d[\"totals\"]
assert t[\"verify_skipped_bytes\"] == 5 << 30 and t[\"verified_bytes\"] == 0, t"'
  oc --verify --json "${M[ext4]}/big/s5g" "${M[xfs]}/big/s5g.verify"
  expect "ext4->xfs --verify --json, the 5 GiB sparse file: exit 0, data read (256 KiB), holes proven" \
    eval 'rc_is 0 && json_ok "
t = d[\"totals\"]
assert t[\"verified_bytes\"] == 4 * 65536, t
assert t[\"verified_bytes\"] + t[\"verify_skipped_bytes\"] == 5 << 30, t"'
  # A tree.
  local T=${M[ext4]}/verify/tree
  mkdir -p "$T/sub"
  randfile "$T/a" 100000
  randfile "$T/sub/b" 3000000
  : >"$T/empty"
  oc -r --verify --json "$T" "${M[tmpfs]}/verify-tree"
  expect "ext4->tmpfs -r --verify --json: exit 0, totals verified_bytes == 3100000, and per file" \
    eval 'rc_is 0 && json_ok "
t = d[\"totals\"]
assert t[\"verified_bytes\"] + t[\"verify_skipped_bytes\"] == 3100000, t
assert t[\"verified_bytes\"] == 3100000, t
import os
assert len(d[\"files\"]) == 3, len(d[\"files\"])
for f in d[\"files\"]:
    assert f[\"verified_bytes\"] == os.path.getsize(f[\"source\"]) and f[\"verify_skipped_bytes\"] == 0, f"'
}

atomic_test() {
  local fs=$1 D=${M[$1]}/atomic
  echo "# --atomic ($fs)"
  mkdir -p "$D"
  cd "$D" || return
  randfile src 300000
  chmod 0644 src
  touch -d '2001-02-03 04:05:06.789' src
  oc --atomic src new
  expect "$fs --atomic, new file: exit 0, identical, no temporary left" \
    eval 'rc_is 0 && same src new && no_temps .'

  printf 'old contents\n' >existing
  chmod 0640 existing
  chown 65534:65534 existing
  local ino
  ino=$(inode existing)
  oc --atomic src existing
  expect "$fs --atomic over an existing file: exit 0, identical, no temporary left" \
    eval 'rc_is 0 && same src existing && no_temps .'
  expect "$fs --atomic over an existing file: a new inode (renamed over it, not rewritten)" \
    [ "$(inode existing)" != "$ino" ]
  expect "$fs --atomic over an existing file: keeps its mode 0640 and owner 65534 (no -p)" \
    [ "$(stat -c '%a %u:%g' existing)" = "640 65534:65534" ]

  printf 'old\n' >pdst
  chmod 0600 pdst
  chown 65534:65534 src
  oc --atomic -p src pdst
  expect "$fs --atomic -p over an existing file: exit 0, identical, source's mode, owner and mtime" \
    eval 'rc_is 0 && same src pdst &&
          [ "$(stat -c "%a %u:%g %y" pdst)" = "$(stat -c "%a %u:%g %y" src)" ]'
  chown 0:0 src

  printf 'target\n' >target
  chmod 0604 target
  ln -sf target link
  oc --atomic src link
  expect "$fs --atomic onto a symlink: exit 0, the link is kept, its target replaced" \
    eval 'rc_is 0 && [ -L link ] && [ "$(readlink link)" = target ] && same src target && no_temps .'
  expect "$fs --atomic onto a symlink: the target keeps its mode 0604" \
    [ "$(stat -c %a target)" = 604 ]

  printf 'keep me\n' >kept
  ino=$(inode kept)
  oc --atomic -n src kept
  expect "$fs --atomic -n onto an existing file: exit 0, not replaced (content, inode), no temporary" \
    eval 'rc_is 0 && [ "$(cat kept)" = "keep me" ] && [ "$(inode kept)" = "$ino" ] && no_temps .'

  if [ "$fs" = ext4 ]; then
    local before
    before=$(fingerprint src)
    printf 'precious\n' >prec
    ino=$(inode prec)
    oc --atomic --reflink=always src prec
    expect "ext4 --atomic --reflink=always (impossible) onto an existing file: exit 1, names it" \
      eval 'rc_is 1 && err_has_fixed "prec"'
    expect "ext4 --atomic failure: the destination is byte-identical, same inode, no temporary" \
      eval '[ "$(cat prec)" = precious ] && [ "$(inode prec)" = "$ino" ] && no_temps .'
    source_unchanged "ext4 --atomic failure" src "$before"
    oc --debug --reflink=always src created
    expect "ext4 --reflink=always (no --atomic), new file: exit 1, \"removed 'created', which this copy had created\", nothing left" \
      eval 'rc_is 1 && err_has_fixed "removed '"'"'created'"'"', which this copy had created" && absent created'
    oc --atomic src /dev/null
    expect "--atomic onto /dev/null: exit 0, /dev/null still a character device" \
      eval 'rc_is 0 && [ -c /dev/null ]'
  fi

  mkdir -p tree/sub
  randfile tree/a 10000
  randfile tree/sub/b 2000000
  mkdir -p tcopy/sub
  printf 'old b\n' >tcopy/sub/b
  oc -r --atomic -T tree tcopy
  expect "$fs -r --atomic into an existing tree: exit 0, identical, no temporary left" \
    eval 'rc_is 0 && same tree/a tcopy/a && same tree/sub/b tcopy/sub/b && no_temps tcopy'
  cd / || return
}

# Under strace: where the temporary is, in which order things happen.
strace_test() {
  # LeakSanitizer cannot run under ptrace (the ASan build of CI): leaks
  # are looked for in every other run.
  local strace="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace"
  local D=${M[ext4]}/strace
  echo "# --atomic and --fsync under strace"
  if ! command -v strace >/dev/null; then
    skip_test "--atomic/--fsync system call checks: strace is not installed (the lead can add it)"
    return
  fi
  mkdir -p "$D/tree/sub"
  cd "$D" || return
  randfile src 200000
  chown 65534:65534 src
  chmod 0604 src
  printf 'old\n' >dst
  local S="$L/strace"
  last_cmd="strace -f -y offcopy --atomic -p src dst"
  $strace -f -qq -y -o "$S" -e trace=openat,fsync,fdatasync,rename,renameat,renameat2,fchown,fchmod,fchmodat,utimensat,fsetxattr \
    "$BIN" --atomic -p src dst >"$L/out" 2>"$L/err"
  rc=$?
  expect "strace --atomic -p: exit 0, identical" eval 'rc_is 0 && same src dst'
  # shellcheck disable=SC2016
  aux python3 - "$S" "$D" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
d = sys.argv[2]
tmp = re.compile(r'"(\.dst\.offcopy-[^"/]{8})", O_WRONLY\|O_CREAT\|O_EXCL')
names = [m.group(1) for l in lines for m in [tmp.search(l)] if m]
assert names, "no openat of .dst.offcopy-XXXXXXXX with O_CREAT|O_EXCL"
t = names[0]
ren = [i for i, l in enumerate(lines) if re.search(r'rename(at2?)?\(.*"%s".*"dst"' % re.escape(t), l)]
assert len(ren) == 1, "no single rename of %s to dst" % t
r = ren[0]
fs = [i for i, l in enumerate(lines) if re.search(r'f(data)?sync\(\d+<%s/%s>' % (re.escape(d), re.escape(t)), l)]
assert fs and fs[0] < r, "the temporary is not fsynced before the rename"
meta = [i for i, l in enumerate(lines) if re.match(r'(\[pid +\d+\] |\d+ +)?(fchown|fchmod|utimensat|fsetxattr)\(\d+<', l)]
assert meta, "no metadata call on a descriptor"
late = [lines[i] for i in meta if i > r]
assert not late, "metadata after the rename: %s" % late
print("temporary %s; fsync, metadata, then rename" % t)
EOF
  expect "strace --atomic -p: a temporary .dst.offcopy-XXXXXXXX beside dst, O_EXCL; metadata and fsync on it, then the rename over dst" \
    eval 'rc_is 0 || { sed "s/^/       /" "$L/aux"; false; }'

  last_cmd="strace -f -y offcopy --fsync src fsynced"
  $strace -f -qq -y -o "$S" -e trace=fsync,fdatasync "$BIN" --fsync src fsynced >"$L/out" 2>"$L/err"
  rc=$?
  expect "strace --fsync, new name: exit 0; the file and its directory fsynced" \
    eval 'rc_is 0 && grep -Eq "f(data)?sync\([0-9]+<$D/fsynced>" "$S" && grep -Eq "fsync\([0-9]+<$D>" "$S"'
  last_cmd="strace -f -y offcopy --fsync --atomic src fsynced"
  $strace -f -qq -y -o "$S" -e trace=fsync,fdatasync,rename,renameat,renameat2 "$BIN" --fsync --atomic src fsynced >"$L/out" 2>"$L/err"
  rc=$?
  aux python3 - "$S" "$D" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
d = sys.argv[2]
r = [i for i, l in enumerate(lines) if re.search(r'rename(at2?)?\(.*"fsynced"', l)]
assert len(r) == 1, "no single rename over fsynced"
f = [i for i, l in enumerate(lines) if re.search(r'f(data)?sync\(\d+<%s/\.fsynced\.offcopy-' % re.escape(d), l)]
ds = [i for i, l in enumerate(lines) if re.search(r'fsync\(\d+<%s>' % re.escape(d), l)]
assert f and f[0] < r[0], "the temporary is not fsynced before the rename"
assert ds and ds[-1] > r[0], "the directory is not fsynced after the rename"
EOF
  expect "strace --fsync --atomic: temporary fsynced, renamed, then the directory fsynced" \
    eval 'rc_is 0 || { sed "s/^/       /" "$L/aux"; false; }'
  randfile tree/a 1000
  randfile tree/sub/b 1000
  randfile tree/sub/c 1000
  last_cmd="strace -f -y offcopy -r --fsync tree tcopy"
  $strace -f -qq -y -o "$S" -e trace=fsync,fdatasync "$BIN" -r --fsync tree tcopy >"$L/out" 2>"$L/err"
  rc=$?
  expect "strace -r --fsync: exit 0; every file and every directory with a new name fsynced" \
    eval 'rc_is 0 && grep -Eq "f(data)?sync\([0-9]+<$D/tcopy/a>" "$S" &&
          grep -Eq "f(data)?sync\([0-9]+<$D/tcopy/sub/b>" "$S" &&
          grep -Eq "f(data)?sync\([0-9]+<$D/tcopy/sub/c>" "$S" &&
          grep -Eq "fsync\([0-9]+<$D/tcopy>" "$S" && grep -Eq "fsync\([0-9]+<$D/tcopy/sub>" "$S"'
  cd / || return
}

# The "stopped by SIG" line.
stopped_line() { grep -Eq "^offcopy: stopped by SIG$1: [0-9]+ files? copied, [0-9]+ stopped or not started" "$L/err"; }

signal_test() {
  local D=${M[tmpfs]}/sig
  echo "# signals"
  mkdir -p "$D"
  [ ${#DEFSIG[@]} -eq 0 ] && echo "       (env --default-signal missing: offcopy starts with SIGINT ignored)"

  # /dev/zero never ends; --sparse=always turns the zeros into holes, so
  # it fills nothing in the meantime.
  stop_after 1 INT --sparse=always /dev/zero "$D/zero"
  expect "SIGINT to 'offcopy --sparse=always /dev/zero out' after 1 s: ended within 1 s ($stop_ms ms)" \
    stopped_in_time
  expect "SIGINT: exit 130" rc_is 130
  expect "SIGINT: 'offcopy: stopped by SIGINT: N files copied, M stopped or not started' on stderr" stopped_line INT
  expect "SIGINT: no 'out' left, no temporary" eval 'absent "$D/zero" && no_temps "$D"'

  # Without --sparse=always: /dev/urandom (never ends, slow enough not to
  # fill the tmpfs in half a second).
  stop_after 0.5 INT /dev/urandom "$D/random"
  expect "SIGINT to 'offcopy /dev/urandom out' after 0.5 s: ended within 1 s ($stop_ms ms), exit 130" \
    stopped_in_time 130
  expect "SIGINT, /dev/urandom: the partial 'out' removed, 'stopped by SIGINT' line" \
    eval 'absent "$D/random" && stopped_line INT'

  # A FIFO fed continuously (1 MiB every 5 ms): SIGTERM.
  mkfifo "$D/feed"
  python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    while True:
        os.write(fd, b"x" * 1048576)
        time.sleep(0.005)
except OSError:
    pass' "$D/feed" 2>/dev/null &
  local feeder=$!
  stop_after 0.7 TERM "$D/feed" "$D/fed"
  expect "SIGTERM while copying a FIFO fed continuously: ended within 1 s ($stop_ms ms), exit 143" \
    stopped_in_time 143
  expect "SIGTERM: 'stopped by SIGTERM' line, the partial file removed" \
    eval 'stopped_line TERM && absent "$D/fed"'
  end_job "$feeder"

  # SIGHUP, --atomic over an existing destination.
  randfile "$D/keep" 100000
  local sum ino
  sum=$(md5sum <"$D/keep")
  ino=$(inode "$D/keep")
  stop_after 0.5 HUP --atomic --sparse=always /dev/zero "$D/keep"
  expect "SIGHUP to --atomic over an existing file: ended within 1 s ($stop_ms ms), exit 129" \
    stopped_in_time 129
  expect "SIGHUP --atomic: the destination is byte-identical, same inode, no temporary left" \
    eval '[ "$(md5sum <"$D/keep")" = "$sum" ] && [ "$(inode "$D/keep")" = "$ino" ] && no_temps "$D"'
  expect "SIGHUP: 'stopped by SIGHUP' line" stopped_line HUP

  # A FIFO whose writer holds it open but writes nothing more: offcopy is
  # blocked in read().  A stop must not wait for the writer.
  mkfifo "$D/idle"
  (exec 3>"$D/idle"; printf 'some data\n' >&3; exec sleep 4) &
  local idler=$!
  stop_after 1 INT "$D/idle" "$D/idle.out"
  expect "SIGINT while reading a FIFO whose writer is idle: ended within 1 s ($stop_ms ms), exit 130" \
    stopped_in_time 130
  # If it only stopped once the writer closed, the copy may be complete.
  expect "SIGINT, idle FIFO: no partial file left (none, or all the writer wrote)" \
    eval 'absent "$D/idle.out" || [ "$(cat "$D/idle.out")" = "some data" ]' 
  end_job "$idler"

  # A FIFO with no writer at all: offcopy is blocked in open().
  mkfifo "$D/nowriter"
  stop_after 0.5 INT "$D/nowriter" "$D/nowriter.out"
  expect "SIGINT while opening a FIFO that has no writer: ended within 1 s ($stop_ms ms), exit 130" \
    stopped_in_time 130
  expect "SIGINT, FIFO without writer: no destination" absent "$D/nowriter.out"
  # Unblock whatever is left of it.
  (exec 3>"$D/nowriter") 2>/dev/null &
  local opener=$!
  sleep 0.2
  end_job "$opener"
}

# Every regular file in DST is complete (equal to its source under SRC).
all_complete() {
  local src=$1 dst=$2 f n=0 bad=0
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    if ! cmp -s "$f" "$src/${f#"$dst"/}"; then
      bad=$((bad + 1))
      echo "       incomplete: $f ($(stat -c %s "$f") bytes)"
    fi
  done < <(find "$dst" -type f -print0)
  complete_count=$n
  [ "$bad" -eq 0 ]
}

# No directory of DST is 0700 unless its source is.
no_stray_0700() {
  local src=$1 dst=$2 d bad=0
  while IFS= read -r -d '' d; do
    if [ "$(stat -c %a "$src/${d#"$dst"}")" != 700 ]; then
      echo "       left 0700: $d"
      bad=1
    fi
  done < <(find "$dst" -type d -perm 0700 -print0)
  [ "$bad" -eq 0 ]
}

tree_interrupt_test() {
  local S=${M[ext4]}/itree D=${M[xfs]}/itree
  echo "# a tree copy interrupted (ext4 -> xfs, host copy)"
  mkdir -p "$D"
  python3 - "$S" <<'EOF'
import os, sys
root = sys.argv[1]
for d in ("d1", "d2", "d3", "d4"):
    os.makedirs(os.path.join(root, d, "sub"), exist_ok=True)
    for i in range(40):
        with open(os.path.join(root, d, "f%d" % i), "wb") as f:
            f.write(os.urandom(262144))
for p in ("d1/big1", "d3/sub/big2"):
    with open(os.path.join(root, p), "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
os.chmod(os.path.join(root, "d4", "sub"), 0o700)
EOF
  sync -f "$S"
  local before
  before=$(fingerprint "$S")
  local run opts dst n sig code
  for run in plain atomic; do
    opts=(--reflink=never)
    sig=INT code=130
    [ "$run" = atomic ] && opts+=(--atomic) && sig=TERM code=143
    dst=$D/$run
    bg_oc -r "${opts[@]}" "$S" "$dst"
    # Signal as soon as the 64 MiB d1/big1 is being written (under its
    # own name, or as a temporary with --atomic): mid-copy.
    local i=0
    while [ $i -lt 1000 ] && alive "$bgpid" && [ ! -e "$dst/d1/big1" ] &&
      ! compgen -G "$dst/d1/.big1.offcopy-*" >/dev/null; do
      sleep 0.005
      i=$((i + 1))
    done
    if ! alive "$bgpid"; then
      wait "$bgpid"
      skip_test "-r ${opts[*]} interrupted: the copy finished before the signal (exit $?)"
      continue
    fi
    stop_with $sig
    if [ "$rc" -eq 0 ] && [ "$hung" = 0 ] && all_complete "$S" "$dst" >/dev/null &&
      [ "$complete_count" -eq 162 ]; then
      skip_test "-r ${opts[*]} interrupted: the copy finished as the signal came (exit 0, all 162 files)"
      continue
    fi
    expect "-r ${opts[*]}, SIG$sig mid-copy: ended within 1 s ($stop_ms ms), exit $code" \
      stopped_in_time "$code"
    expect "-r ${opts[*]}, SIG$sig: every regular file in the copy is complete (cmp with its source)" \
      all_complete "$S" "$dst"
    expect "-r ${opts[*]}, SIG$sig: no .offcopy- temporary left" no_temps "$dst"
    expect "-r ${opts[*]}, SIG$sig: no directory left 0700 unless its source is (d4/sub is)" \
      no_stray_0700 "$S" "$dst"
    n=$(sed -n "s/^offcopy: stopped by SIG$sig: \([0-9]*\) files\{0,1\} copied.*/\1/p" "$L/err")
    expect "-r ${opts[*]}, SIG$sig: 'stopped by SIG$sig: N files copied' with N = the $complete_count files in the copy" \
      [ "${n:-x}" = "$complete_count" ]
  done
  source_unchanged "-r interrupted" "$S" "$before"
}

xfsz_test() {
  local E=${M[ext4]}/xfsz B=${M[btrfs]}/xfsz X=${M[xfs]}/xfsz
  echo "# SIGXFSZ: RLIMIT_FSIZE below the file size"
  mkdir -p "$E" "$B" "$X"
  randfile "$E/src" 4000000
  cp "$E/src" "$B/src"
  printf 'existing\n' >"$E/existing"
  mkdir -p "$E/tree"
  cp "$E/src" "$E/tree/big"
  printf 'small\n' >"$E/tree/small"
  local before bbefore tbefore
  before=$(fingerprint "$E/src")
  bbefore=$(fingerprint "$B/src")
  tbefore=$(fingerprint "$E/tree")
  local spec args dst what
  for spec in "plain|$E/src|$E/fz1" "--reflink=never|$E/src|$E/fz2" "btrfs|$B/src|$B/fz3" \
              "ext4->xfs|$E/src|$X/fz4"; do
    what=${spec%%|*}
    args=${spec#*|}
    dst=${args#*|}
    args=${args%%|*}
    local extra=()
    [ "$what" = --reflink=never ] && extra=(--reflink=never)
    last_cmd="(ulimit -f 1024; offcopy ${extra[*]} $args $dst)"
    (ulimit -f 1024; exec "$BIN" "${extra[@]}" "$args" "$dst") >"$L/out" 2>"$L/err"
    rc=$?
    expect "ulimit -f 1024, 4 MB file ($what): exit 1, not killed by SIGXFSZ" rc_is 1
    expect "ulimit -f 1024 ($what): 'File too large' (EFBIG), naming the file" \
      eval 'err_has_fixed "File too large" && err_has_fixed "$dst"'
    expect "ulimit -f 1024 ($what): the partial file removed" absent "$dst"
  done
  last_cmd="(ulimit -f 1024; offcopy --atomic src existing)"
  (ulimit -f 1024; exec "$BIN" --atomic "$E/src" "$E/existing") >"$L/out" 2>"$L/err"
  rc=$?
  expect "ulimit -f 1024, --atomic over an existing file: exit 1, EFBIG, the file intact, no temporary" \
    eval 'rc_is 1 && err_has_fixed "File too large" && [ "$(cat "$E/existing")" = existing ] && no_temps "$E"'
  last_cmd="(ulimit -f 1024; offcopy -r tree tcopy)"
  (ulimit -f 1024; exec "$BIN" -r "$E/tree" "$E/tcopy") >"$L/out" 2>"$L/err"
  rc=$?
  expect "ulimit -f 1024, -r: exit 1, EFBIG naming tree/big, the small file copied, big removed" \
    eval 'rc_is 1 && err_has_fixed "File too large" && err_has_fixed "tcopy/big" &&
          same "$E/tree/small" "$E/tcopy/small" && absent "$E/tcopy/big"'
  source_unchanged "ulimit -f (ext4)" "$E/src" "$before"
  source_unchanged "ulimit -f (btrfs)" "$B/src" "$bbefore"
  source_unchanged "ulimit -f (-r)" "$E/tree" "$tbefore"
}

# A writer appends 64 KiB records to a tmpfs file while it is copied.
change_test() {
  local S=${M[tmpfs]}/grow D=${M[ext4]}/grow
  echo "# a source that changes while it is copied (tmpfs -> ext4, --reflink=never)"
  mkdir -p "$S" "$D"
  local INITIAL=1024 sz i=0
  python3 "$L/rel.py" grow "$S/src" $INITIAL 0 0
  python3 "$L/rel.py" grow "$S/src" 0 0.002 4096 &
  local writer=$!
  # Wait for the writer to be appending.
  while sz=$(stat -c %s "$S/src") && [ "$sz" -le $((INITIAL * 65536)) ] && [ $i -lt 500 ]; do
    sleep 0.01
    i=$((i + 1))
  done
  oc --reflink=never --json "$S/src" "$D/copy"
  touch "$S/src.stop"
  wait "$writer"
  local verdict
  if [ "$rc" -eq 0 ]; then
    verdict="succeeded"
    aux python3 "$L/rel.py" prefix "$S/src" "$D/copy" $((INITIAL * 65536))
    expect "continuous writer: the copy succeeded: it is a record-aligned prefix of the final source (a state the source had; $(cat "$L/aux"))" \
      rc_is 0
  else
    verdict="failed (exit $rc)"
    expect "continuous writer: the copy failed: exit 1, 'the source changed while it was copied, twice', naming it" \
      eval 'rc_is 1 && err_has_fixed "the source changed while it was copied, twice" && err_has_fixed "$S/src"'
    expect "continuous writer: the copy failed: no destination left" absent "$D/copy"
  fi
  echo "       (continuous writer: the copy $verdict)"
  expect "continuous writer: --json is one document with 'retries' (1: copied again once)" \
    json_ok "assert d['files'][0]['retries'] in (0, 1), d['files'][0]['retries']"
  rm -f "$S/src" "$S/src.stop" "$D/copy"

  # One append during the copy: copied again once, then it succeeds.  The
  # appender (started first, so that its start-up does not count) appends
  # one record as soon as the destination appears.
  python3 "$L/rel.py" grow "$S/src" 2048 0 0
  rm -f "$S/ready"
  python3 "$L/rel.py" append "$S/src" "$D/copy1" "$S/ready" >"$L/append" &
  local appender=$!
  wait_for "$S/ready"
  local t_start=$EPOCHREALTIME
  oc --reflink=never --json "$S/src" "$D/copy1"
  cp "$L/out" "$L/append.json"
  wait "$appender"
  expect "one append during the copy: exit 0" rc_is 0
  aux python3 "$L/rel.py" prefix "$S/src" "$D/copy1" $((2048 * 65536))
  expect "one append during the copy: the copy is a state the source had ($(cat "$L/aux"))" rc_is 0
  # The file's copy ended at the latest at t_start + its "seconds".
  aux python3 - "$L/append.json" "$L/append" "${t_start/,/.}" "$D/copy1" <<'EOF2'
import json, os, sys
f = json.load(open(sys.argv[1]))["files"][0]
retries = f["retries"]
t_append = float(open(sys.argv[2]).read().split()[0])
early = float(sys.argv[3]) + f["seconds"] - t_append
size = os.path.getsize(sys.argv[4]) // 65536
print("retries %d; appended %.0f ms before the file's copy ended; copy of %d records" % (retries, early * 1000, size))
if retries == 1:
    assert size == 2049, "copied again, yet not the source as it is now"
else:
    assert retries == 0 and size == 2048, "retries %d, %d records" % (retries, size)
    assert early < 0.02, "the append came before the end, yet no second copy"
EOF2
  expect "one append during the copy: copied again once (then the copy is the new source), unless the append came after it ($(tail -n 1 "$L/aux"))" \
    rc_is 0
  rm -f "$S/src" "$D/copy1"
}

# Our own 64 MiB ext4 (`fsfixture.sh up`, on a loop device), for ENOSPC
# and a read-only filesystem.
small_fs_test() {
  local own=${M[tmpfs]}/small E=${M[ext4]}/small-src
  local mnt=$own/ext4 dev
  echo "# ENOSPC and EROFS on a 64 MiB ext4 of our own"
  mkdir -p "$E"
  OWN_FS+=("$own")
  if ! bash "$FIXTURE" up "$own" 64 ext4 >"$L/aux" 2>&1 ||
    ! dev=$(findmnt -n -o SOURCE --mountpoint "$mnt"); then
    skip_test "ENOSPC/EROFS: cannot make a small loop filesystem"
    return
  fi
  randfile "$E/big100" 100000000
  randfile "$E/big40" 40000000
  mkdir -p "$E/tree"
  cp "$E/big40" "$E/tree/a"
  cp "$E/big40" "$E/tree/b"
  printf 'small\n' >"$E/tree/c"
  local before
  before=$(fingerprint "$E")

  oc "$E/big100" "$mnt/x"
  expect "ENOSPC, 100 MB into 64 MiB: exit 1, 'No space left on device', naming the file" \
    eval 'rc_is 1 && err_has_fixed "No space left on device" && err_has_fixed "$mnt/x"'
  expect "ENOSPC: the partial file removed ('removed the partly written')" \
    eval 'absent "$mnt/x" && err_has_fixed "removed the partly written '"'"'$mnt/x'"'"'"'
  randfile "$mnt/keep" 25000000
  local sum ino
  # shellcheck disable=SC2034  # used by the evals below
  sum=$(md5sum <"$mnt/keep")
  ino=$(inode "$mnt/keep")
  oc --atomic "$E/big40" "$mnt/keep"
  expect "ENOSPC --atomic over an existing 25 MB file: exit 1, 'No space left on device', naming it" \
    eval 'rc_is 1 && err_has_fixed "No space left on device" && err_has_fixed "$mnt/keep"'
  expect "ENOSPC --atomic: the existing file intact (checksum, inode), no temporary left" \
    eval '[ "$(md5sum <"$mnt/keep")" = "$sum" ] && [ "$(inode "$mnt/keep")" = "$ino" ] && no_temps "$mnt"'
  oc -r "$E/tree" "$mnt/tree"
  expect "ENOSPC -r: exit 1, 'No space left on device' naming a file of the tree" \
    eval 'rc_is 1 && err_has "No space left on device" && err_has "$mnt/tree/[ab]"'
  expect "ENOSPC -r: the small file copied; every file left in the copy complete" \
    eval 'same "$E/tree/c" "$mnt/tree/c" && all_complete "$E/tree" "$mnt/tree"'
  source_unchanged "ENOSPC" "$E" "$before"
  rm -rf "$mnt/tree"

  # Read-only.
  if ! mount -o remount,ro "$mnt"; then
    skip_test "EROFS: cannot remount the small filesystem read-only"
  else
    oc --debug "$E/tree/c" "$mnt/new"
    expect "read-only fs: new file: exit 1, 'Read-only file system' (EROFS) under --debug" \
      eval 'rc_is 1 && err_has_fixed "Read-only file system" && err_has_fixed EROFS && absent "$mnt/new"'
    oc --atomic "$E/tree/c" "$mnt/keep"
    expect "read-only fs: --atomic over an existing file: exit 1, EROFS, the file intact" \
      eval 'rc_is 1 && err_has_fixed "Read-only file system" && [ "$(md5sum <"$mnt/keep")" = "$sum" ]'
    oc -r "$E/tree" "$mnt/tree"
    expect "read-only fs: -r: exit 1, EROFS, nothing made" \
      eval 'rc_is 1 && err_has_fixed "Read-only file system" && absent "$mnt/tree"'
  fi
  local X=${M[xfs]}
  mkdir -p "$X/robase" "$X/romnt"
  if mount --bind "$X/robase" "$X/romnt"; then
    MOUNTED+=("$X/romnt")
    if mount -o remount,bind,ro "$X/romnt"; then
      oc --debug "$E/tree/c" "$X/romnt/c"
      expect "read-only bind mount: exit 1, 'Read-only file system' (EROFS) under --debug, naming the file" \
        eval 'rc_is 1 && err_has_fixed "Read-only file system (EROFS)" && err_has_fixed "$X/romnt/c"'
    else
      skip_test "EROFS: cannot make the bind mount read-only"
    fi
  else
    skip_test "EROFS: cannot bind-mount"
  fi
  source_unchanged "EROFS" "$E" "$before"

  # A block device under -r: recreated as a node; with --copy-contents
  # read as data (this 64 MiB filesystem, mounted read-only by now).
  local B=${M[tmpfs]}/blk
  mkdir -p "$B/tree"
  if mknod "$B/tree/disk" b "$((0x$(stat -c %t "$dev")))" "$((0x$(stat -c %T "$dev")))"; then
    oc -r "$B/tree" "$B/nodes"
    expect "-r: a block device is recreated as a block device with the same numbers" \
      eval 'rc_is 0 && [ -b "$B/nodes/disk" ] && [ "$(stat -c %t:%T "$B/nodes/disk")" = "$(stat -c %t:%T "$dev")" ]'
    oc -r --copy-contents "$B/tree" "$B/contents"
    expect "-r --copy-contents: a block device is read as data (64 MiB, equal to the device)" \
      eval 'rc_is 0 && [ -f "$B/contents/disk" ] && [ "$(stat -c %s "$B/contents/disk")" = $((64 << 20)) ] &&
            cmp -s "$dev" "$B/contents/disk"'
    rm -rf "$B"
  else
    skip_test "block device: mknod failed"
  fi
  cleanup
}

perm_test() {
  local D=${M[tmpfs]}/perm
  echo "# permission denied inside a tree (as nobody)"
  local run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  if ! command -v setpriv >/dev/null || ! "${run_as[@]}" test -x "$BIN" 2>/dev/null; then
    skip_test "permission denied: cannot run offcopy as nobody (setpriv)"
    return
  fi
  mkdir -p "$D/src/sub"
  printf 'a\n' >"$D/src/a"
  printf 'b\n' >"$D/src/sub/b"
  printf 'secret\n' >"$D/src/sub/locked"
  randfile "$D/src/sub/big" 3000000
  chown -R 65534:65534 "$D"
  chmod 000 "$D/src/sub/locked"
  local before
  before=$(fingerprint "$D/src")
  # Relative paths: the fixture's directory above the mounts is 0700.
  cd "$D" || return
  last_cmd="(as nobody) offcopy -r src dst"
  "${run_as[@]}" "$BIN" -r src dst >"$L/out" 2>"$L/err"
  rc=$?
  cd / || return
  expect "as nobody, -r with one file chmod 000: exit 1" rc_is 1
  expect "as nobody: 'Permission denied' naming src/sub/locked" \
    eval 'err_has_fixed "Permission denied" && err_has_fixed "sub/locked"'
  expect "as nobody: only that file is reported (one line on stderr)" [ "$(wc -l <"$L/err")" -eq 1 ]
  expect "as nobody: the rest is copied, the unreadable file is not" \
    eval 'same "$D/src/a" "$D/dst/a" && same "$D/src/sub/b" "$D/dst/sub/b" &&
          same "$D/src/sub/big" "$D/dst/sub/big" && absent "$D/dst/sub/locked"'
  source_unchanged "permission denied" "$D/src" "$before"
}

special_test() {
  local D=${M[tmpfs]}/special
  echo "# dangling symlinks, /proc, /sys, FIFOs, devices"
  mkdir -p "$D"
  cd "$D" || return
  ln -s nowhere dangling
  oc dangling d1
  expect "dangling symlink operand, no -r: exit 1, 'No such file or directory' (as cp), nothing made" \
    eval 'rc_is 1 && err_has_fixed "No such file or directory" && err_has_fixed dangling && absent d1'
  oc -r dangling d2
  expect "dangling symlink operand, -r: exit 0, copied as a dangling link" \
    eval 'rc_is 0 && [ -L d2 ] && [ "$(readlink d2)" = nowhere ]'
  oc -a dangling d3
  expect "dangling symlink operand, -a: exit 0, copied as a dangling link" \
    eval 'rc_is 0 && [ -L d3 ] && [ "$(readlink d3)" = nowhere ]'

  local f n
  for f in /proc/version /proc/cmdline /sys/kernel/mm/transparent_hugepage/enabled; do
    if [ ! -r "$f" ]; then
      skip_test "$f: not present"
      continue
    fi
    n=$(basename "$f")
    cat "$f" >"cat-$n"
    oc "$f" "oc-$n"
    expect "$f: exit 0, non-empty, equal to what cat gives" \
      eval 'rc_is 0 && [ -s "oc-$n" ] && same "cat-$n" "oc-$n"'
  done

  mkfifo fifo
  (printf 'through the fifo\n' >fifo) &
  local w=$!
  oc fifo fifo.copy
  end_job "$w"
  expect "FIFO operand (no -r) with a writer: exit 0, a regular file with what was written" \
    eval 'rc_is 0 && [ -f fifo.copy ] && [ "$(cat fifo.copy)" = "through the fifo" ]'

  mkdir -p tree
  mkfifo tree/fifo
  mknod tree/null c 1 3
  printf 'x\n' >tree/x
  oc -r tree t1
  expect "-r: the FIFO is recreated as a FIFO, the device as a device (1,3)" \
    eval 'rc_is 0 && [ -p t1/fifo ] && [ -c t1/null ] && [ "$(stat -c %t,%T t1/null)" = 1,3 ] && same tree/x t1/x'
  (printf 'fifo data\n' >tree/fifo) &
  w=$!
  oc -r --copy-contents tree t2
  expect "-r --copy-contents: exit 0, the FIFO read into a regular file (with a writer)" \
    eval 'rc_is 0 && [ -f t2/fifo ] && [ ! -p t2/fifo ] && [ "$(cat t2/fifo)" = "fifo data" ]'
  expect "-r --copy-contents: the /dev/null node (1,3) copied to an empty regular file" \
    eval '[ -f t2/null ] && [ ! -c t2/null ] && [ ! -s t2/null ] && same tree/x t2/x'
  end_job "$w"
  cd / || return
}

fs_tests() {
  local fs
  setup_fs_half || return
  write_helpers

  if ! "$BIN" --help 2>&1 | grep -q -- --atomic; then
    echo "FAIL - offcopy --help does not mention --atomic: not this build"
    fail=$((fail + 1))
    return
  fi

  local t0=$SECONDS
  # REL_ONLY="signal_test ..." runs only those (for debugging this script;
  # verify_test needs big_sparse_test's files).
  if [ -n "${REL_ONLY:-}" ]; then
    local t
    for t in $REL_ONLY; do $t ext4; done
  else
    for fs in btrfs xfs ext4 tmpfs; do big_sparse_test "$fs"; done
    verify_test
    atomic_test ext4
    atomic_test xfs
    strace_test
    signal_test
    tree_interrupt_test
    xfsz_test
    change_test
    small_fs_test
    perm_test
    special_test
  fi
  echo "# ran in $((SECONDS - t0)) s"
}

fs_tests
cleanup
finish_fs_half reliability
