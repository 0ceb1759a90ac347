#!/usr/bin/env bash
# CLI tests for offcopy: cp-compatible operands and options, exit codes,
# error messages, and the --debug / --stats / --json reports.
#
#   bash cli_basic_test.sh /path/to/offcopy /path/to/scripts/fsfixture.sh
#
# Part one runs anywhere, in a fresh directory under /tmp.  Part two needs
# root and loop devices: the script re-invokes itself under
# `fsfixture.sh run 1024 -- ...`, which loop-mounts btrfs, xfs, ext4 and
# tmpfs, and checks which mechanism each copy between them used.  When part
# two cannot run it says why and is skipped (unless OFFCOPY_REQUIRE_FS=1,
# where that is a failure).  The last line is always
#   cli_basic: N passed, M failed
# and the exit status is non-zero when anything failed.
set -u

# shellcheck source=tests/cli/lib.sh
. "$(dirname "$(realpath "$0")")/lib.sh"
parse_args cli_basic "$@"

T=$(mktemp -d /tmp/offcopy-cli.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T" || exit 2
LOGDIR=$T


# ---------------------------------------------------------------- helpers


out_has() { grep -Eq -- "$1" "$T/out"; }
# The source basenames of the --debug header lines in $T/out, in order.
source_order() {
  sed -n "s|^'[^']*/\([^'/]*\)' -> .*|\1|p" "$T/out" | tr '\n' ' ' | sed 's/ $//'
}
out_empty() { [ ! -s "$T/out" ]; }
err_empty() { [ ! -s "$T/err" ]; }
out_is() { [ "$(cat "$T/out")" = "$1" ]; }

# Every fixed string must appear in stderr.
err_has_all() {
  local s
  for s in "$@"; do grep -Fq -- "$s" "$T/err" || return 1; done
}

# The --debug lines "  <mech> used <N> bytes ..." of $T/out (or $1).
used_bytes_sum() {
  awk '$2 == "used" { s += $3 } END { print s + 0 }' "${1:-$T/out}"
}
used_line() {  # mech bytes: "  <mech>  used  <bytes> bytes"
  grep -Eq "^  $1 +used +$2 bytes" "$T/out"
}
skipped_because() {  # mech regex
  grep -Eq "^  $1 +skipped +[0-9]+ bytes +.*$2" "$T/out"
}

# The rungs named in --debug lines appear in ladder order.
debug_in_ladder_order() {
  local order
  order=$(awk '/^  [a-z_]+ +(used|skipped|failed) / { print $1 }' "$T/out" | tr '\n' ' ')
  local rank=0 m r
  for m in $order; do
    case $m in
      snapshot) r=0 ;; clone) r=1 ;; kernel_copy) r=2 ;; splice) r=3 ;; uring) r=4 ;;
      read_write) r=5 ;; device) r=6 ;; *) return 1 ;;
    esac
    [ "$r" -ge "$rank" ] || return 1
    rank=$r
  done
}

HAVE_PY=0
python3 -c 'import json' >/dev/null 2>&1 && HAVE_PY=1

# Deterministic content (no /dev/urandom needed for reproducing failures).
make_file() {  # path bytes seed
  python3 -c '
import random, sys
r = random.Random(int(sys.argv[3]))
sys.stdout.buffer.write(r.randbytes(int(sys.argv[2])))' "$1" "$2" "$3" >"$1" 2>/dev/null ||
    head -c "$2" /dev/urandom >"$1"
}

# A sparse file: size MiB, data blocks written at the given MiB offsets.
make_sparse() {  # path size_mib offset_mib...
  local p=$1 size=$2
  shift 2
  rm -f "$p"
  truncate -s "${size}M" "$p"
  local o
  for o in "$@"; do
    head -c 65536 /dev/urandom | dd of="$p" bs=1M seek="$o" conv=notrunc status=none
  done
}

# ---------------------------------------------------------- part one: basic

basic_tests() {
  local SIZE=3000000  # not a multiple of any block size
  make_file a "$SIZE" 1
  printf 'hello\n' >small
  mkdir -p srcdir d1 d2 d3 d4

  echo "# operands"
  oc a b
  expect "SRC DST: exit 0" rc_is 0
  expect "SRC DST: identical content" same a b
  expect "SRC DST: nothing on stdout or stderr" eval 'out_empty && err_empty'

  make_file long 5000000 2
  oc small long
  expect "SRC DST over a longer file: exit 0" rc_is 0
  expect "SRC DST over a longer file: destination truncated to the source" same small long

  oc a small d1
  expect "SRC... DIR: exit 0" rc_is 0
  expect "SRC... DIR: every source copied into DIR" eval 'same a d1/a && same small d1/small'

  oc a d3/
  expect "SRC DIR/ (trailing slash): copied into DIR" eval 'rc_is 0 && same a d3/a'

  oc -t d2 a small
  expect "-t DIR SRC...: exit 0" rc_is 0
  expect "-t DIR SRC...: every source copied into DIR" eval 'same a d2/a && same small d2/small'

  oc -T small tfile
  expect "-T SRC DST (new file): copied" eval 'rc_is 0 && same small tfile'

  oc -T a d4
  expect "-T SRC DIR (existing directory as DEST): exit 1" rc_is 1
  expect "-T SRC DIR: error names the directory" err_has "'d4'"
  expect "-T SRC DIR: DIR still a directory, nothing copied into it" \
    eval '[ -d d4 ] && [ -z "$(ls -A d4)" ]'

  oc a small nodir_target
  expect "two sources, last operand not a directory: exit 1" rc_is 1
  expect "two sources, last operand not a directory: says so" err_has "not a directory"

  oc -t nosuchdir a
  expect "-t with a missing directory: exit 1" rc_is 1
  expect "-t with a missing directory: says No such file or directory" \
    err_has "target directory 'nosuchdir': No such file or directory"

  oc a trailing_slash/
  expect "DST with a trailing slash that is not a directory: exit 1" rc_is 1
  expect "DST with a trailing slash: Not a directory" err_has "Not a directory"
  expect "DST with a trailing slash: nothing created" absent trailing_slash

  mkdir -p same1 same2 samedir
  echo one >same1/f
  echo two >same2/f
  oc same1/f same2/f samedir
  expect "two sources with one name into a DIR: exit 1" rc_is 1
  expect "two sources with one name: the first is copied, not overwritten" \
    eval '[ "$(cat samedir/f)" = one ]'
  expect "two sources with one name: cp's 'will not overwrite just-created'" \
    err_has "will not overwrite just-created"

  echo "# directories are not copied without -r"
  oc srcdir x_dir
  expect "directory source: exit 1" rc_is 1
  expect "directory source: message mentions -r" err_has "-r"
  expect "directory source: message names the directory" err_has "srcdir"
  expect "directory source: no destination created" absent x_dir
  oc srcdir a d4
  expect "directory among sources: exit 1, the file is still copied" \
    eval 'rc_is 1 && same a d4/a'

  echo "# usage errors (exit 2, nothing copied)"
  oc
  expect "no operand: exit 1 (as cp)" rc_is 1
  expect "no operand: 'missing file operand'" err_has "missing file operand"
  oc a
  expect "one operand: exit 1 (as cp)" rc_is 1
  expect "one operand: 'missing destination file operand'" err_has "missing destination file operand"
  oc --reflink=bogus a u1
  expect "--reflink=bogus: exit 1 (as cp)" rc_is 1
  expect "--reflink=bogus: names the bad value" err_has "bogus"
  expect "--reflink=bogus: nothing copied" absent u1
  oc --sparse=sometimes a u1
  expect "--sparse=sometimes: exit 1 (as cp)" rc_is 1
  oc --offload=maybe a u1
  expect "--offload=maybe: exit 1 (as cp)" rc_is 1
  oc --no-such-option a u1
  expect "unknown option: exit 1 (as cp)" rc_is 1
  oc --reflink=always --sparse=never a u1
  expect "--reflink=always --sparse=never: exit 1 (as cp)" rc_is 1
  expect "--reflink=always --sparse=never: nothing copied" absent u1
  oc --reflink=always --sparse=always a u1
  expect "--reflink=always --sparse=always: exit 1 (as cp)" rc_is 1
  oc -t d2 -T a u1
  expect "-t with -T: exit 1 (as cp)" rc_is 1
  oc -T a small u1
  expect "-T with three operands: exit 1 (as cp)" rc_is 1
  oc --help
  expect "--help: exit 0 and usage on stdout" eval 'rc_is 0 && out_has "^Usage: offcopy"'
  oc --version
  expect "--version: exit 0" eval 'rc_is 0 && out_has "^offcopy "'

  echo "# same file"
  cp a same_f
  local sum_before
  sum_before=$(cksum <same_f)
  oc same_f same_f
  expect "same file: exit 1" rc_is 1
  expect "same file: 'are the same file'" err_has "are the same file"
  expect "same file: file unchanged" [ "$(cksum <same_f)" = "$sum_before" ]
  ln -f same_f same_link
  oc same_f same_link
  expect "same file through a hard link: exit 1, 'are the same file', unchanged" \
    eval 'rc_is 1 && err_has "are the same file" && [ "$(cksum <same_f)" = "$sum_before" ]'

  echo "# -n, -f, -v"
  printf 'keep me\n' >kept
  oc -n a kept
  expect "-n: exit 0" rc_is 0
  expect "-n: existing destination unchanged" [ "$(cat kept)" = "keep me" ]
  oc -n small n_new
  expect "-n: a missing destination is still copied" eval 'rc_is 0 && same small n_new'

  echo "# -i"
  printf 'keep me\n' >ikept
  printf 'n\n' | oc -i a ikept
  expect "-i, answered n: exit 0, kept, cp's question on stderr" \
    eval 'rc_is 0 && [ "$(cat ikept)" = "keep me" ] && err_is_fixed "offcopy: overwrite '"'"'ikept'"'"'? "'
  printf ' Y\n' | oc -i a ikept
  expect "-i, answered ' Y': replaced" eval 'rc_is 0 && same a ikept'
  printf 'keep me\n' >ikept
  oc -i a ikept </dev/null
  expect "-i at end of input: no, kept" eval 'rc_is 0 && [ "$(cat ikept)" = "keep me" ]'
  oc -i small i_new </dev/null
  expect "-i: a missing destination is copied without a question" \
    eval 'rc_is 0 && same small i_new && [ ! -s "$LOGDIR/err" ]'
  printf 'y\n' | oc -i -n a ikept
  expect "-n after -i: no question, kept" \
    eval 'rc_is 0 && [ "$(cat ikept)" = "keep me" ] && not err_has overwrite'
  printf 'y\n' | oc -n -i a ikept
  expect "-i after -n: asked, y replaces" eval 'rc_is 0 && same a ikept && err_has overwrite'

  force_tests

  oc -v small v_dst
  expect "-v: prints \"'small' -> 'v_dst'\"" out_is "'small' -> 'v_dst'"
  expect "-v: copied" same small v_dst
  oc -v small d1
  expect "-v into DIR: prints the full destination path" out_is "'small' -> 'd1/small'"

  echo "# --debug"
  oc --debug a dbg
  expect "--debug: exit 0, identical" eval 'rc_is 0 && same a dbg'
  expect "--debug: header line with bytes moved" \
    out_has "^'a' -> 'dbg': copied, $SIZE bytes moved, [0-9]+ bytes of holes$"
  expect "--debug: one line per rung, bytes of the 'used' lines add up to the size" \
    [ "$(used_bytes_sum)" = "$SIZE" ]
  expect "--debug: every skipped rung gives a reason" \
    not grep -Eq '^  [a-z_]+ +skipped +[0-9]+ bytes *$' "$T/out"

  oc --debug --reflink=never a dbg_never
  expect "--reflink=never: identical" same a dbg_never
  expect "--reflink=never --debug: clone skipped, reason --reflink=never" \
    skipped_because clone "--reflink=never"
  expect "--reflink=never --debug: kernel_copy skipped too (copy_file_range may clone)" \
    skipped_because kernel_copy "--reflink=never"
  expect "--reflink=never --debug: the kernel splices all $SIZE bytes (a host copy, no shared extents)" \
    used_line splice "$SIZE"

  oc --debug --sparse=never a dbg_sn
  expect "--sparse=never: identical" same a dbg_sn
  expect "--sparse=never --debug: clone and kernel_copy skipped, reason --sparse=never" \
    eval 'skipped_because clone --sparse=never && skipped_because kernel_copy --sparse=never'

  oc --debug --sparse=always a dbg_sa
  expect "--sparse=always: identical" same a dbg_sa
  expect "--sparse=always --debug: kernel_copy, splice and uring skipped, reason --sparse=always" \
    eval 'skipped_because kernel_copy --sparse=always && skipped_because splice --sparse=always &&
          skipped_because uring --sparse=always'
  expect "--sparse=always --debug: rungs listed in ladder order (copy.h: steps in ladder order)" \
    debug_in_ladder_order

  echo "# --stats"
  oc --stats a st_dst
  expect "--stats: exit 0, identical" eval 'rc_is 0 && same a st_dst'
  expect "--stats: one summary line on stdout" [ "$(wc -l <"$T/out")" -eq 1 ]
  expect "--stats: summary counts files, bytes, time and every mechanism" \
    out_has '^offcopy: 1 copied, 0 skipped, 0 failed; [0-9.]+ [KMGT]?i?B in [0-9.]+ s \(.*/s\): cloned .*, kernel-copied .*, io_uring .*, read/write .*, holes .*$'
  oc --stats small nosuch_src d1
  expect "--stats with a failure: '1 copied, 0 skipped, 1 failed', exit 1" \
    eval 'rc_is 1 && out_has "^offcopy: 1 copied, 0 skipped, 1 failed;"'

  echo "# --json"
  if [ "$HAVE_PY" = 1 ]; then
    oc --json a js_dst
    expect "--json: exit 0, identical" eval 'rc_is 0 && same a js_dst'
    expect "--json: stdout is exactly one JSON document" json_ok 'pass'
    expect "--json: per-file bytes, bytes_by (all six rungs, summing to bytes) and steps" json_ok "
f = d['files'][0]
assert f['source'] == 'a' and f['destination'] == 'js_dst' and f['status'] == 'copied'
assert f['bytes'] == $SIZE, f['bytes']
assert set(f['bytes_by']) == {'snapshot','clone','kernel_copy','splice','uring','read_write','device'}
assert sum(f['bytes_by'].values()) == f['bytes']
assert isinstance(f['steps'], list) and f['steps']
for s in f['steps']:
    assert set(s) >= {'mechanism','outcome','bytes','errno','reason'}, s
    assert s['outcome'] in ('used','skipped','failed')
assert sum(s['bytes'] for s in f['steps'] if s['outcome'] == 'used') == $SIZE
assert d['totals']['files'] == 1 and d['totals']['failed'] == 0
assert d['totals']['bytes'] == $SIZE
"
    oc --json -v a js_v
    expect "--json -v: stdout still only JSON" eval 'rc_is 0 && json_ok pass'
    expect "--json -v: the -v line goes to stderr" err_has "^'a' -> 'js_v'\$"
    oc --json --stats --debug a js_all
    expect "--json --stats --debug: stdout still only JSON" eval 'rc_is 0 && json_ok pass'
    oc --json a nodir/js
    expect "--json with an error: exit 1" rc_is 1
    expect "--json with an error: error object with errno, name, op and path" json_ok "
f = d['files'][0]
assert f['status'] == 'failed'
e = f['error']
assert e['errno'] == 2 and e['error'] == 'ENOENT' and e['op'] == 'open', e
assert e['path'] == 'nodir/js', e
assert 'No such file or directory' in e['message'], e
assert d['totals']['failed'] == 1
"
  else
    skip_test "--json checks: python3 not installed"
  fi

  echo "# errors: cp's words; --debug adds the step and the errno's name"
  oc a nodir/x
  expect "dst in a missing directory: exit 1" rc_is 1
  expect "dst in a missing directory: cp's words" \
    err_is_fixed "offcopy: cannot create regular file 'nodir/x': No such file or directory"
  oc --debug a nodir/x
  expect "dst in a missing directory, --debug: the step and the errno's name too" \
    err_has_all "nodir/x" "open" "(ENOENT)"
  oc no_such_src ns_dst
  expect "missing source: exit 1, cp's words" \
    eval 'rc_is 1 && err_is_fixed "offcopy: cannot stat '"'"'no_such_src'"'"': No such file or directory"'
  expect "missing source: no destination created" absent ns_dst
  oc small no_such_src d3
  expect "one missing source among two: exit 1, the other copied" \
    eval 'rc_is 1 && same small d3/small'
  if [ -c /dev/full ] && [ -w /dev/full ]; then
    oc small /dev/full
    expect "write to /dev/full: exit 1, cp's words" \
      eval 'rc_is 1 && err_is_fixed "offcopy: error writing '"'"'/dev/full'"'"': No space left on device"'
    oc --debug small /dev/full
    expect "write to /dev/full, --debug: the step and ENOSPC" \
      eval 'rc_is 1 && err_has_all /dev/full write "(ENOSPC)"'
    expect "write to /dev/full: /dev/full left alone" [ -c /dev/full ]
  else
    skip_test "/dev/full checks: no writable /dev/full"
  fi

  echo "# special sources and edge cases"
  oc /proc/version pv
  expect "/proc/version: exit 0 and identical (size 0 in stat, read until EOF)" \
    eval 'rc_is 0 && same /proc/version pv'
  oc --debug /proc/version pv_dbg
  expect "/proc/version --debug: clone and kernel_copy skipped (size 0), read_write used" \
    eval 'skipped_because clone "reports size 0" && skipped_because kernel_copy "reports size 0" &&
          out_has "^  read_write +used +[1-9][0-9]* bytes"'

  make_sparse sp 8 1 5
  oc sp sp_dst
  expect "sparse source: exit 0, identical" eval 'rc_is 0 && same sp sp_dst'

  : >empty
  oc empty empty_dst
  expect "empty file: exit 0, empty destination" eval 'rc_is 0 && [ -f empty_dst ] && [ ! -s empty_dst ]'
  oc --offload=require empty empty_req
  expect "--offload=require on an empty file: exit 0 (no data needs moving)" rc_is 0
  expect "--offload=require on an empty file: empty destination exists" \
    eval '[ -f empty_req ] && [ ! -s empty_req ]'

  oc --reflink=always /proc/version pv_always
  expect "--reflink=always on /proc/version (cannot be cloned): exit 1" rc_is 1
  expect "--reflink=always on /proc/version: no destination left" absent pv_always
}

# -f replaces a destination that cannot be opened for writing.  Root can
# open a 0444 file, so as root the check runs as 'nobody' (setpriv) when
# possible; otherwise it is skipped.
force_tests() {
  local run_as=()
  local nb="$T/nb"
  if [ "$(id -u)" != 0 ]; then
    nb="$T"
  elif command -v setpriv >/dev/null &&
      setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$BIN" 2>/dev/null; then
    run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    chmod 755 "$T"
    mkdir -p "$nb"
    chown 65534:65534 "$nb"
  else
    skip_test "-f on a 0444 destination: root, and cannot run as nobody (setpriv)"
    return
  fi
  printf 'new content\n' >"$nb/f_src"
  printf 'old\n' >"$nb/f_dst"
  chmod 0444 "$nb/f_dst"
  [ ${#run_as[@]} -gt 0 ] && chown 65534:65534 "$nb/f_src" "$nb/f_dst"
  last_cmd="offcopy f_src f_dst (0444${run_as:+, as nobody})"
  (cd "$nb" && "${run_as[@]}" "$BIN" f_src f_dst) >"$T/out" 2>"$T/err"
  rc=$?
  expect "no -f, 0444 destination: exit 1, 'Permission denied', unchanged" \
    eval 'rc_is 1 && err_has "Permission denied" && [ "$(cat "$nb/f_dst")" = old ]'
  last_cmd="offcopy -f f_src f_dst (0444${run_as:+, as nobody})"
  (cd "$nb" && "${run_as[@]}" "$BIN" -f f_src f_dst) >"$T/out" 2>"$T/err"
  rc=$?
  expect "-f, 0444 destination: exit 0, replaced" eval 'rc_is 0 && same "$nb/f_src" "$nb/f_dst"'
}

# ------------------------------------------------- part two: loop mounts

fs_tests() {
  local p
  local -A M=()
  for p in ${OFFCOPY_TEST_MOUNTS:-}; do M[${p%%=*}]=${p#*=}; done
  local fs
  for fs in btrfs xfs ext4; do
    if [ -z "${M[$fs]:-}" ]; then
      echo "cli_basic: OFFCOPY_TEST_MOUNTS has no $fs mount" >&2
      fail=$((fail + 1))
      return
    fi
  done
  local B=${M[btrfs]} X=${M[xfs]} E=${M[ext4]} TM=${M[tmpfs]:-}
  local SIZE=5000000
  for fs in btrfs xfs ext4 ${TM:+tmpfs}; do
    make_file "${M[$fs]}/src" "$SIZE" 3
    make_file "${M[$fs]}/src2" 70000 4
  done

  echo "# clone where the filesystem shares extents"
  oc --debug "$B/src" "$B/dst"
  expect "btrfs->btrfs: exit 0, identical" eval 'rc_is 0 && same "$B/src" "$B/dst"'
  expect "btrfs->btrfs --debug: clone used for all $SIZE bytes" used_line clone "$SIZE"
  oc --debug "$X/src" "$X/dst"
  expect "xfs->xfs: exit 0, identical" eval 'rc_is 0 && same "$X/src" "$X/dst"'
  expect "xfs->xfs --debug: clone used for all $SIZE bytes" used_line clone "$SIZE"
  if [ "$HAVE_PY" = 1 ]; then
    oc --json "$X/src" "$X/dst_json"
    expect "xfs->xfs --json: bytes_by.clone == $SIZE" \
      json_ok "assert d['files'][0]['bytes_by']['clone'] == $SIZE"
  fi
  oc --stats "$B/src" "$B/dst_stats"
  expect "btrfs->btrfs --stats: cloned bytes counted" out_has "cloned 4\.77 MiB"

  echo "# across filesystems: EXDEV, host copy"
  oc --debug "$E/src" "$X/from_ext4"
  expect "ext4->xfs: exit 0, identical" eval 'rc_is 0 && same "$E/src" "$X/from_ext4"'
  expect "ext4->xfs --debug: clone skipped with EXDEV" skipped_because clone EXDEV
  expect "ext4->xfs --debug: kernel_copy skipped with EXDEV" skipped_because kernel_copy EXDEV
  expect "ext4->xfs --debug: splice moved the bytes (in-kernel host copy)" \
    used_line splice "$SIZE"
  # The engine copies files in parallel (one per worker): files started
  # after the first copy learned EXDEV reuse the cached verdict.
  mkdir -p "$X/many"
  for i in 1 2 3 4 5 6; do cp "$E/src2" "$E/many$i"; done
  oc --debug "$E/src" "$E/src2" "$E"/many? "$X/many/"
  expect "ext4->xfs, eight files: all identical" \
    eval 'rc_is 0 && same "$E/src" "$X/many/src" && same "$E/src2" "$X/many/src2" &&
          same "$E/many6" "$X/many/many6"'
  expect "ext4->xfs, eight files: later ones reuse the cached EXDEV verdict" \
    out_has "probed before for this pair"
  expect "ext4->xfs, eight files: reported in operand order" \
    eval '[ "$(source_order)" = "src src2 many1 many2 many3 many4 many5 many6" ]'
  if [ -n "$TM" ]; then
    oc --debug "$TM/src" "$E/from_tmpfs"
    expect "tmpfs->ext4: identical, kernel_copy skipped with EXDEV" \
      eval 'rc_is 0 && same "$TM/src" "$E/from_tmpfs" && skipped_because kernel_copy EXDEV'
  fi
  oc --debug "$E/src" "$E/dst"
  expect "ext4->ext4: identical, clone skipped (EOPNOTSUPP), kernel_copy used" \
    eval 'rc_is 0 && same "$E/src" "$E/dst" && skipped_because clone EOPNOTSUPP &&
          used_line kernel_copy $SIZE'

  echo "# --offload=require"
  oc --offload=require "$E/src" "$X/req"
  expect "--offload=require ext4->xfs: exit 3" rc_is 3
  expect "--offload=require ext4->xfs: no destination file" absent "$X/req"
  expect "--offload=require ext4->xfs: message names --offload=require" err_has "--offload=require"
  oc --offload=require --debug "$E/src" "$X/req_dbg"
  expect "--offload=require ext4->xfs --debug: says why offload failed (EXDEV)" out_has EXDEV
  mkdir -p "$X/mixed"
  oc --offload=require "$E/src" "$E/no_such_src" "$X/mixed"
  expect "--offload=require with another, ordinary failure: exit 1, not 3" rc_is 1
  oc --offload=require "$B/src" "$B/req"
  expect "--offload=require btrfs->btrfs: exit 0 (clone), identical" \
    eval 'rc_is 0 && same "$B/src" "$B/req"'
  oc --offload=require "$E/src" "$E/req"
  expect "--offload=require ext4->ext4: exit 0 (in-kernel copy), identical" \
    eval 'rc_is 0 && same "$E/src" "$E/req"'

  echo "# --reflink=always"
  oc --reflink=always "$E/src" "$E/always"
  expect "--reflink=always ext4->ext4: exit 1" rc_is 1
  expect "--reflink=always ext4->ext4: no destination left" absent "$E/always"
  oc --reflink=always "$E/src" "$X/always"
  expect "--reflink=always ext4->xfs: exit 1, no destination" eval 'rc_is 1 && absent "$X/always"'
  oc --reflink=always --debug "$X/src" "$X/always"
  expect "--reflink=always xfs->xfs: exit 0, identical, cloned" \
    eval 'rc_is 0 && same "$X/src" "$X/always" && used_line clone $SIZE'

  echo "# sparse files"
  make_sparse "$E/sparse" 16 2 9
  oc --debug "$E/sparse" "$X/sparse"
  expect "sparse ext4->xfs: identical" eval 'rc_is 0 && same "$E/sparse" "$X/sparse"'
  expect "sparse ext4->xfs: holes reported" out_has "bytes moved, [1-9][0-9]* bytes of holes"
  expect "sparse ext4->xfs: destination stays sparse (< 1 MiB allocated of 16 MiB)" \
    [ "$(allocated "$X/sparse")" -lt 1048576 ]
  make_sparse "$X/sparse2" 16 2 9
  oc "$X/sparse2" "$X/sparse2_dst"
  expect "sparse xfs->xfs (clone): identical and sparse" \
    eval 'rc_is 0 && same "$X/sparse2" "$X/sparse2_dst" &&
          [ "$(allocated "$X/sparse2_dst")" -lt 1048576 ]'

  echo "# /proc/version onto each filesystem"
  for fs in btrfs xfs ext4 ${TM:+tmpfs}; do
    oc /proc/version "${M[$fs]}/version"
    expect "/proc/version -> $fs: exit 0, identical" \
      eval 'rc_is 0 && same /proc/version "${M[$fs]}/version"'
  done
}

# ----------------------------------------------------------------- driver

if [ "$MODE" = fs ]; then
  fs_tests
  finish_fs_half cli_basic
  exit
fi

echo "# part one: $(df -T . 2>/dev/null | awk 'NR == 2 { print $2 }') under /tmp"
basic_tests

echo "# part two: loop-mounted btrfs, xfs, ext4, tmpfs"
run_fs_half "loop-mount tests" "$T/fs_counts"

finish cli_basic
[ "$fail" -eq 0 ]
