#!/usr/bin/env bash
# Tree copies (offcopy -r / -a / -R / -p / -d ...) against GNU cp, on real
# filesystems.
#
#   bash tree_test.sh /path/to/offcopy /path/to/scripts/fsfixture.sh
#
# Everything here runs on loop-mounted btrfs, xfs (reflink=1), ext4 and
# tmpfs: the script re-invokes itself under `fsfixture.sh run 1024 -- ...`
# (see cli_basic_test.sh).  Without root or loop devices it says why and
# exits 77 (skipped), unless OFFCOPY_REQUIRE_FS=1, where that is a failure.
# The last line is always
#   tree: N passed, M failed
# and the exit status is non-zero when anything failed.
#
# tree_compare.py (next to this script) makes the test tree and compares
# trees.  `tree_compare.py gen DIR` makes every kind of entry: regular files
# of 0, 1, 4097 and ~3 MiB bytes, an 8 MiB sparse file (data at both ends),
# an empty directory, symlinks (absolute, relative, dangling, to a
# directory, one owned by another user), hard-link groups of 2 and 3 links
# (across directories), a FIFO, a character device (1,3), a unix socket,
# 110 nested directories, names with spaces, a newline, invalid UTF-8, a
# leading dash, glob characters and 255 bytes, user.* xattrs on a file and a
# directory, POSIX ACLs (access ACL on a file; access + default ACL on a
# directory whose child has none), modes 04755, 02750, 0000 (file and
# non-empty directory), 01777, 02775, 0555, other owners, and distinct past
# mtimes with nanoseconds on every entry (before 1970 and after 2038 too).
# `tree_compare.py compare A B` checks names, types, all mode bits, owner,
# size, content, symlink targets, rdev, mtime_ns (dirs and symlinks too),
# xattrs/ACLs and the hard-link partition; see its docstring.
#
# What is tested:
#   * offcopy -a against cp -a for all sixteen (source fs, destination fs)
#     pairs of btrfs, xfs, ext4 and tmpfs.  The offcopy copy
#     must equal the cp -a copy, and equal the source wherever the cp -a
#     copy does (what cp -a cannot keep either, e.g. XFS's trusted.SGI_ACL_*
#     view of ACLs on another filesystem, is tolerated there).  The sparse
#     file stays sparse.  Nothing else on stderr unless cp -a also wrote
#     there (metadata the destination refuses is a warning).
#   * --progress: a line on stderr, redrawn and cleared; none on a pipe.
#   * Sockets: cp -a recreates them, but offcopy skips them with a warning
#     on stderr (the issue: "sockets are skipped with a warning").  A skip
#     is deliberate, like -n keeping a file, so it is not an error: the exit
#     status stays 0.  Sockets are left out of every comparison; a separate
#     check asserts that the copy has none and that stderr names it.
#   * offcopy -r / -R against cp -r (contents, types, targets; modes, owners,
#     links and xattrs as cp -r makes them; mtimes not preserved).
#   * Running offcopy -a again onto an existing copy (same command line, and
#     -T onto a copy that was altered) exits 0 and gives the same tree.
#   * One entry that cannot be copied (its destination is a non-empty
#     directory) fails alone: exit 1, a message naming it, the rest copied.
#   * -n, -u, -x (a tmpfs mounted inside the source, against cp -a -x),
#     -L / -P / -H (in the walk and on the command line), -d and -P on a
#     symlink operand, -p, -v (the same lines as cp -v, a directory before
#     its contents), -j 1 / -j 8, SRC/. into an existing directory, a
#     directory into itself, and option sets compared with cp given the
#     same options: -rp, -r --preserve=links|xattr|all,
#     -a --no-preserve=ownership|mode|timestamps|links|xattr,
#     -dR --preserve=mode,timestamps.
#   * --snapshot on btrfs: a 10,000-file subvolume copied with
#     --snapshot=always in under a second, as a read-write subvolume of its
#     own that equals the source and is independent of it; =always fails
#     (exit 1, says "snapshot", leaves nothing) for a plain directory and
#     across filesystems; =never makes a plain copy; =auto with -a takes a
#     snapshot, but -r does not, and a subvolume nested in the source still
#     has its files in the copy (a snapshot would leave an empty directory).
#   * --json: one JSON document; its counts (totals.files, symlinks,
#     hardlinks, directories, specials, errors, where present) match the tree.
#   * The comparator itself: a changed symlink mtime and a broken hard link
#     are differences.
#
# Runs in about a minute.  All files are made under the fixture's mounts
# (captures on its tmpfs); the -x tmpfs and btrfs subvolumes are removed on
# exit.
set -u

# shellcheck source=tests/cli/lib.sh
. "$(dirname "$(realpath "$0")")/lib.sh"
parse_args tree "$@"
CMP=$(dirname "$SELF")/tree_compare.py
[ -f "$CMP" ] || { echo "tree: $CMP is missing" >&2; exit 2; }

L=""  # directory for stdout/stderr captures (on the tmpfs mount)

# ---------------------------------------------------------------- top level

if [ "$MODE" = top ]; then run_fs_script tree listxattr; fi

# ------------------------------------------------------------------ helpers

# expect_same DESCRIPTION A B [compare options]: the trees compare equal.
# Differences (and, on success, differences tolerated by --baseline) are
# listed under the result line.
expect_same() {
  local desc=$1
  shift
  python3 "$CMP" compare "$@" >"$L/cmp" 2>&1
  local c=$?
  if [ "$c" -eq 0 ]; then
    pass=$((pass + 1))
    echo "ok   - $desc"
    sed -n '/^note/{s/^/       /;p}' "$L/cmp" | head -n 10
  else
    fail=$((fail + 1))
    echo "FAIL - $desc"
    echo "       \$ tree_compare.py compare $*   -> exit $c"
    sed -n '1,40s/^/       /p' "$L/cmp"
  fi
}

now_ns() { date +%s%N; }
is_subvolume() { btrfs subvolume show "$1" >/dev/null 2>&1; }
# A file's size in bytes.
size_of() { stat -c %s "$1"; }

# ------------------------------------------------------------------- tests

MOUNTED=()     # our own mounts (the -x test), unmounted on exit
SUBVOLS=()     # btrfs subvolumes we made, deleted on exit
cleanup() {
  local m s
  for m in "${MOUNTED[@]}"; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  for s in "${SUBVOLS[@]}"; do
    [ -d "$s" ] && btrfs subvolume delete "$s" >/dev/null 2>&1
  done
  return 0
}

declare -A M=()
declare -A SRC=()

# One (source fs, destination fs) pair: cp -a and offcopy -a of the same
# tree, compared with each other and with the source.
pair_test() {
  local sfs=$1 dfs=$2
  local S=${SRC[$sfs]}
  local D=${M[$dfs]}/from-$sfs
  mkdir -p "$D"
  echo "# -a: $sfs -> $dfs"
  cp -a "$S" "$D/cp-copy" 2>"$L/cp.err"
  local cp_rc=$?
  [ "$cp_rc" -eq 0 ] || sed 's/^/       cp -a: /' "$L/cp.err" | head -n 10
  oc -a "$S" "$D/oc-copy"
  expect "$sfs->$dfs: offcopy -a exits 0 (cp -a: $cp_rc)" rc_is 0
  cp "$L/err" "$L/err-$sfs-$dfs"
  expect "$sfs->$dfs: the socket is not copied, and stderr names it" \
    eval 'absent "$D/oc-copy/a-socket" && err_has_fixed a-socket'
  # Other messages only where cp -a complained too (metadata the
  # destination refuses: warnings).
  if [ -s "$L/cp.err" ]; then
    echo "       (cp -a wrote to stderr, so warnings from offcopy are allowed)"
  else
    expect "$sfs->$dfs: nothing on stderr but the socket warning" \
      not grep -Fqv a-socket "$L/err"
  fi
  expect "$sfs->$dfs: nothing on stdout" eval '[ ! -s "$L/out" ]'
  expect_same "$sfs->$dfs: offcopy -a copy equals the cp -a copy" \
    "$D/cp-copy" "$D/oc-copy" --skip-socket
  expect_same "$sfs->$dfs: offcopy -a copy equals the source (except where cp -a differs too)" \
    "$S" "$D/oc-copy" --skip-socket --baseline "$D/cp-copy"
  local a s
  a=$(allocated "$D/oc-copy/sparse")
  s=$(size_of "$D/oc-copy/sparse")
  expect "$sfs->$dfs: the sparse file stays sparse ($a bytes allocated of $s; cp -a: $(allocated "$D/cp-copy/sparse"))" \
    [ "$a" -lt "$s" ]
}

# offcopy -r against cp -r: no metadata is preserved beyond cp -r's.
r_test() {
  local fs=$1
  local S=${SRC[$fs]} D=${M[$fs]}/r
  mkdir -p "$D"
  echo "# -r (no -a): $fs"
  local start
  start=$(date +%s)
  cp -r "$S" "$D/cp-r" 2>"$L/cp.err"
  oc -r "$S" "$D/oc-r"
  expect "-r: exit 0" rc_is 0
  expect_same "-r: names, types, contents, symlink targets and devices as cp -r" \
    "$D/cp-r" "$D/oc-r" --skip-socket --only size,content,target,rdev
  expect_same "-r: modes (mode & ~umask), owners, hard links and xattrs as cp -r" \
    "$D/cp-r" "$D/oc-r" --skip-socket --only mode,owner,links,xattrs
  expect "-r: mtimes not preserved (a file, a directory, a symlink and the top are new)" \
    eval '[ "$(stat -c %Y "$D/oc-r/f4097")" -ge "$start" ] &&
          [ "$(stat -c %Y "$D/oc-r/empty_dir")" -ge "$start" ] &&
          [ "$(stat -c %Y "$D/oc-r/links/rel")" -ge "$start" ] &&
          [ "$(stat -c %Y "$D/oc-r")" -ge "$start" ]'
  # -R is -r.
  oc -R "$S" "$D/oc-R"
  expect_same "-R: same as -r" "$D/oc-r" "$D/oc-R" --skip-socket --ignore mtime
}

idempotence_test() {
  local fs=$1
  local S=${SRC[$fs]} D=${M[$fs]}/idem CP=${M[$fs]}/from-$fs/cp-copy
  echo "# copying again onto an existing copy ($fs)"
  mkdir -p "$D"
  oc -a "$S" "$D"
  expect "again: first offcopy -a SRC DIR exits 0" rc_is 0
  oc -a "$S" "$D"
  expect "again: the same command a second time exits 0" rc_is 0
  expect "again: DIR still holds only the one copy" eval '[ "$(ls -A "$D")" = src ]'
  expect_same "again: the copy still equals the source" "$S" "$D/src" --skip-socket --baseline "$CP"
  # Alter the copy (content of one file, a mode), then -T onto it.
  printf 'scribbled' >"$D/src/f4097"
  chmod 0600 "$D/src/modes/setuid"
  oc -a -T "$S" "$D/src"
  expect "again: -a -T onto an altered copy exits 0" rc_is 0
  expect_same "again: -a -T restores the altered copy" "$S" "$D/src" --skip-socket --baseline "$CP"
}

error_test() {
  local fs=$1
  local S=${SRC[$fs]} D=${M[$fs]}/err CP=${M[$fs]}/from-$fs/cp-copy
  echo "# one entry failing does not stop the tree ($fs)"
  mkdir -p "$D/f4097/blocker"
  oc -a -T "$S" "$D"
  expect "error: a file whose destination is a non-empty directory: exit 1" rc_is 1
  expect "error: an 'offcopy: ' line on stderr names f4097" \
    grep -Eq "^offcopy: .*f4097" "$L/err"
  expect "error: the directory in the way is left alone" [ -d "$D/f4097/blocker" ]
  expect_same "error: every other entry is copied, with its metadata" \
    "$S" "$D" --skip-socket --exclude f4097 --baseline "$CP"
}

n_u_test() {
  local fs=$1
  local S=${SRC[$fs]} D=${M[$fs]}
  echo "# -n and -u ($fs)"
  mkdir -p "$D/n"
  printf 'keep me' >"$D/n/f4097"
  oc -a -n -T "$S" "$D/n"
  expect "-n: exit 0" rc_is 0
  expect "-n: the existing file keeps its content" eval '[ "$(cat "$D/n/f4097")" = "keep me" ]'
  expect "-n: the missing entries are copied" \
    eval 'cmp -s "$S/big" "$D/n/big" && [ -L "$D/n/links/rel" ] && [ -d "$D/n/deep/d/d" ]'

  mkdir -p "$D/u"
  printf 'newer' >"$D/u/f4097"  # mtime now: newer than the source (2017)
  printf 'older' >"$D/u/one_byte"
  touch -d '2001-01-01 00:00:00' "$D/u/one_byte"
  oc -a -u -T "$S" "$D/u"
  expect "-u: exit 0" rc_is 0
  expect "-u: a destination newer than the source is kept" \
    eval '[ "$(cat "$D/u/f4097")" = newer ]'
  expect "-u: a destination older than the source is replaced (content and mtime)" \
    eval 'cmp -s "$S/one_byte" "$D/u/one_byte" &&
          [ "$(stat -c %y "$S/one_byte")" = "$(stat -c %y "$D/u/one_byte")" ]'
  expect "-u: missing entries are copied" eval 'cmp -s "$S/big" "$D/u/big"'

  # -i: two existing files of one directory (read by one walker, so the
  # questions come in its order); the first answer is y, the second n.
  mkdir -p "$D/i"
  printf 'old one' >"$D/i/f4097"
  printf 'old two' >"$D/i/one_byte"
  printf 'y\nn\n' | oc -a -i -T "$S" "$D/i"
  local replaced=0 kept=0 f
  for f in f4097 one_byte; do
    if cmp -s "$S/$f" "$D/i/$f"; then replaced=$((replaced + 1)); fi
    case $(cat "$D/i/$f") in "old "*) kept=$((kept + 1)) ;; esac
  done
  expect "-i: exit 0, two questions on stderr" \
    eval 'rc_is 0 && [ "$(grep -o "overwrite '"'"'[^'"'"']*'"'"'?" "$LOGDIR/err" | wc -l)" = 2 ]'
  expect "-i: the file answered y is replaced, the one answered n kept" \
    eval '[ $replaced = 1 ] && [ $kept = 1 ]'
  expect "-i: entries not there are copied without a question" \
    eval 'cmp -s "$S/big" "$D/i/big" && [ -L "$D/i/links/rel" ] && not err_has "big'"'"'\?"'
}

x_test() {
  local fs=$1
  local D=${M[$fs]}/xtest
  echo "# -x: a tmpfs mounted inside the source ($fs)"
  mkdir -p "$D/src/mnt" "$D/src/sub"
  echo a >"$D/src/a"
  echo b >"$D/src/sub/b"
  if ! mount -t tmpfs -o size=1m,mode=0710 tmpfs "$D/src/mnt"; then
    skip_test "-x: cannot mount a tmpfs inside the source"
    return
  fi
  MOUNTED+=("$D/src/mnt")
  echo inner >"$D/src/mnt/inner"
  mkdir "$D/src/mnt/innerdir"
  cp -a -x "$D/src" "$D/cp-x"
  oc -a -x "$D/src" "$D/oc-x"
  expect "-x: exit 0" rc_is 0
  expect "-x: the mount point is made in the copy, empty" \
    eval '[ -d "$D/oc-x/mnt" ] && [ -z "$(ls -A "$D/oc-x/mnt")" ]'
  expect "-x: the rest is copied" eval 'cmp -s "$D/src/a" "$D/oc-x/a" && cmp -s "$D/src/sub/b" "$D/oc-x/sub/b"'
  expect_same "-x: the copy equals cp -a -x's" "$D/cp-x" "$D/oc-x"
  oc -a "$D/src" "$D/oc-nox"
  expect "without -x: the mounted filesystem's files are copied" \
    eval 'rc_is 0 && cmp -s "$D/src/mnt/inner" "$D/oc-nox/mnt/inner"'
  umount "$D/src/mnt" && MOUNTED=()
}

deref_test() {
  local fs=$1
  local D=${M[$fs]}/deref
  echo "# -L, -P, -H, -d ($fs)"
  mkdir -p "$D/lsrc/dir"
  echo f >"$D/lsrc/f"
  echo g >"$D/lsrc/dir/g"
  ln -s f "$D/lsrc/lf"
  ln -s dir "$D/lsrc/ld"
  ln -s lsrc "$D/ltop"
  oc -r -L "$D/lsrc" "$D/L"
  expect "-r -L: a symlink to a file becomes a regular file with its content" \
    eval 'rc_is 0 && [ -f "$D/L/lf" ] && [ ! -L "$D/L/lf" ] && cmp -s "$D/lsrc/f" "$D/L/lf"'
  expect "-r -L: a symlink to a directory becomes a directory" \
    eval '[ -d "$D/L/ld" ] && [ ! -L "$D/L/ld" ] && cmp -s "$D/lsrc/dir/g" "$D/L/ld/g"'
  oc -r "$D/lsrc" "$D/Pdef"
  expect "-r (-P by default): symlinks are copied as symlinks" \
    eval 'rc_is 0 && [ "$(readlink "$D/Pdef/lf")" = f ] && [ "$(readlink "$D/Pdef/ld")" = dir ]'
  oc -r -P "$D/lsrc" "$D/P"
  expect "-r -P: symlinks are copied as symlinks" \
    eval 'rc_is 0 && [ "$(readlink "$D/P/lf")" = f ]'
  oc -r -H "$D/ltop" "$D/H"
  expect "-r -H: the command-line symlink is followed" \
    eval 'rc_is 0 && [ -d "$D/H" ] && [ ! -L "$D/H" ]'
  expect "-r -H: symlinks found in the walk are not followed" \
    eval '[ "$(readlink "$D/H/lf")" = f ] && [ "$(readlink "$D/H/ld")" = dir ]'
  oc -r "$D/ltop" "$D/Ptop"
  expect "-r: a command-line symlink is copied as a symlink" \
    eval 'rc_is 0 && [ "$(readlink "$D/Ptop")" = lsrc ]'
  oc -d "$D/lsrc/lf" "$D/d-link"
  expect "-d: a symlink operand is copied as a symlink" \
    eval 'rc_is 0 && [ "$(readlink "$D/d-link")" = f ]'
  oc -P "$D/lsrc/lf" "$D/P-link"
  expect "-P: a symlink operand is copied as a symlink" \
    eval 'rc_is 0 && [ "$(readlink "$D/P-link")" = f ]'
  oc "$D/lsrc/lf" "$D/plain-link"
  expect "no option: a symlink operand is followed (a regular file)" \
    eval 'rc_is 0 && [ -f "$D/plain-link" ] && [ ! -L "$D/plain-link" ]'
}

preserve_test() {
  local fs=$1
  local S=${SRC[$fs]} D=${M[$fs]}/preserve
  echo "# -p, --no-preserve, -j 1 ($fs)"
  mkdir -p "$D"
  oc -p "$S/owned" "$D/owned"
  expect "-p FILE: owner, mode and mtime preserved" \
    eval 'rc_is 0 && [ "$(stat -c "%u:%g %a %y" "$S/owned")" = "$(stat -c "%u:%g %a %y" "$D/owned")" ]'
  oc -p "$S/modes/setuid" "$D/setuid"
  expect "-p FILE: a setuid file owned by another user keeps 04755 and its owner" \
    eval 'rc_is 0 && [ "$(stat -c "%u:%g %a" "$D/setuid")" = "1234:1234 4755" ]'
  cp -a --no-preserve=ownership "$S" "$D/cp-noown" 2>/dev/null
  oc -a --no-preserve=ownership "$S" "$D/oc-noown"
  expect "-a --no-preserve=ownership: exit 0" rc_is 0
  expect_same "-a --no-preserve=ownership: equals cp's" "$D/cp-noown" "$D/oc-noown" --skip-socket
  # Other option sets, against cp with the same options (mtimes compared
  # only where timestamps are preserved).
  local opts cflags i=0 entry
  for entry in "-rp|" "-r --preserve=links|--ignore mtime" "-r --preserve=xattr|--ignore mtime" \
               "-r --preserve=all|" "-a --no-preserve=mode|" \
               "-a --no-preserve=timestamps|--ignore mtime" "-a --no-preserve=links|" \
               "-a --no-preserve=xattr|" "-dR --preserve=mode,timestamps|"; do
    opts=${entry%%|*}
    cflags=${entry#*|}
    i=$((i + 1))
    # shellcheck disable=SC2086
    cp $opts "$S" "$D/cp-$i" 2>"$L/cp.err"
    local cp_rc=$?
    # shellcheck disable=SC2086
    oc $opts "$S" "$D/oc-$i"
    expect "$opts: exit $cp_rc, as cp $opts" rc_is "$cp_rc"
    # shellcheck disable=SC2086
    expect_same "$opts: equals cp $opts${cflags:+ ($cflags)}" "$D/cp-$i" "$D/oc-$i" --skip-socket $cflags
  done
  # SRC/. copies the contents of SRC into an existing directory.
  mkdir -p "$D/cp-dot" "$D/oc-dot"
  cp -a "$S/." "$D/cp-dot"
  oc -a "$S/." "$D/oc-dot"
  expect "-a SRC/. DIR: exit 0" rc_is 0
  expect_same "-a SRC/. DIR: the contents of SRC merged into DIR, as cp" \
    "$D/cp-dot" "$D/oc-dot" --skip-socket
  # A directory into itself.
  mkdir -p "$D/self/sub"
  oc -r "$D/self" "$D/self/sub"
  expect "-r DIR DIR/sub (into itself): exit 1, 'into itself'" \
    eval 'rc_is 1 && err_has "into itself"'

  oc -a -j 1 "$S" "$D/oc-j1"
  expect "-a -j 1: exit 0" rc_is 0
  expect_same "-a -j 1: equals the source (except where cp -a differs too)" \
    "$S" "$D/oc-j1" --skip-socket --baseline "${M[$fs]}/from-$fs/cp-copy"
  oc -a -j 8 "$S" "$D/oc-j8"
  expect_same "-a -j 8: equals the source (except where cp -a differs too)" \
    "$S" "$D/oc-j8" --skip-socket --baseline "${M[$fs]}/from-$fs/cp-copy"
}

# The comparator must see differences (it is what every other check uses).
comparator_test() {
  local fs=$1
  local S=${SRC[$fs]} D=${M[$fs]}/cmpcheck
  echo "# the comparator itself ($fs)"
  cp -a "$S" "$D"
  touch -h -d @1500000000.5 "$D/links/rel"
  python3 "$CMP" compare "$S" "$D" >"$L/cmp" 2>&1
  local c=$?
  expect "comparator: a symlink's changed mtime is a difference" \
    eval '[ "$c" -ne 0 ] && grep -q "links/rel (symlink): mtime" "$L/cmp"'
  rm -rf "$D"
  cp -a "$S" "$D"
  rm "$D/hard/a2" && cp -p "$D/hard/a1" "$D/hard/a2" && touch -r "$S/hard" "$D/hard"
  python3 "$CMP" compare "$S" "$D" >"$L/cmp" 2>&1
  c=$?
  expect "comparator: a broken hard link is a difference" \
    eval '[ "$c" -ne 0 ] && grep -q "hard/a1 (file): links" "$L/cmp"'
  rm -rf "$D"
}

# -v: one line per entry, as cp -v; a directory's line before its contents'.
verbose_test() {
  local fs=$1
  local D=${M[$fs]}/verbose
  echo "# -v ($fs)"
  mkdir -p "$D/vsrc/d/e"
  echo a >"$D/vsrc/a"
  echo b >"$D/vsrc/d/b"
  echo c >"$D/vsrc/d/e/c"
  ln -s a "$D/vsrc/l"
  mkfifo "$D/vsrc/d/p"
  (cd "$D" && cp -av vsrc cp-v) >"$L/cp.out" 2>&1
  sed 's/cp-v/dst/' "$L/cp.out" | sort >"$L/cp.sorted"
  # Relative operands, as a user would type them: run in $D.
  cd "$D" || return
  oc -av vsrc oc-v
  cd / || return
  sed 's/oc-v/dst/' "$L/out" | sort >"$L/oc.sorted"
  expect "-v: exit 0" rc_is 0
  expect "-v: one line 'SRC' -> 'DST' per entry, the same lines as cp -v" \
    cmp -s "$L/cp.sorted" "$L/oc.sorted"
  expect "-v: a directory's line comes before the lines of its contents, as in cp -v" \
    python3 -c '
import sys
seen = set()
for line in open(sys.argv[1]):
    src = line.split(" -> ")[0].strip("\x27")
    parent = src.rsplit("/", 1)[0] if "/" in src else None
    if parent is not None and parent not in seen:
        sys.exit(1)
    seen.add(src)' "$L/out"
}

# --progress draws a line on stderr (carriage returns, "files") and clears
# it; without it, on a pipe, stderr stays empty.
progress_test() {
  local fs=$1
  local S=${SRC[$fs]} D=${M[$fs]}/progress
  echo "# --progress ($fs)"
  mkdir -p "$D"
  oc -a --progress "$S" "$D/forced"
  expect "--progress: exit 0" rc_is 0
  expect "--progress: a progress line on stderr, redrawn with CR and cleared" \
    grep -q $'\r.*files.*\r\033\[K' "$LOGDIR/err"
  oc -a "$S" "$D/piped"
  expect "no --progress, stderr not a terminal: no progress line" \
    bash -c '! grep -q $'"'"'\r'"'"' "$1"' _ "$LOGDIR/err"
  oc -a --progress --no-progress "$S" "$D/off"
  expect "--no-progress after --progress: no progress line" \
    bash -c '! grep -q $'"'"'\r'"'"' "$1"' _ "$LOGDIR/err"
}

json_test() {
  local fs=$1
  local S=${SRC[$fs]} D=${M[$fs]}/json
  echo "# --json ($fs)"
  python3 "$CMP" count "$S" --skip-socket >"$L/count"
  oc -a --json "$S" "$D"
  expect "--json: exit 0" rc_is 0
  expect "--json: stdout is one JSON document" \
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$L/out"
  # The counts: "files" (and "symlinks", "hardlinks", "errors",
  # "directories" (the top one included), "specials" (FIFOs and devices)
  # when present) as integers at the top level or in "totals".
  python3 - "$L/out" "$L/count" >"$L/jsoncheck" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
def find(key):
    for c in (d, d.get("totals")):
        if isinstance(c, dict) and isinstance(c.get(key), int) and not isinstance(c.get(key), bool):
            return c[key]
    return None
bad = []
checked = []
for key, exp in (("files", want["regular_inodes"]), ("symlinks", want["symlinks"]),
                 ("hardlinks", want["hardlinks"]), ("errors", 0),
                 ("directories", want["directories"]),
                 ("specials", want["fifos"] + want["devices"])):
    got = find(key)
    if got is None:
        continue
    checked.append(key)
    if got != exp:
        bad.append("%s: %d in the JSON, %d expected" % (key, got, exp))
if "files" not in checked:
    bad.append("no integer 'files' count found (top level or totals)")
print("checked: " + " ".join(checked))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
  # shellcheck disable=SC2034  # used by the eval below
  local jc=$?
  expect "--json: counts match the tree ($(head -n 1 "$L/jsoncheck"); $(tr -d '\n' <"$L/count"))" \
    eval '[ "$jc" -eq 0 ] || { sed "s/^/       /" "$L/jsoncheck"; false; }'
  expect_same "--json: the copy equals the source (except where cp -a differs too)" \
    "$S" "$D" --skip-socket --baseline "${M[$fs]}/from-$fs/cp-copy"
}

snapshot_test() {
  local B=${M[btrfs]} X=${M[xfs]}
  echo "# --snapshot (btrfs)"
  if ! command -v btrfs >/dev/null; then
    skip_test "--snapshot: btrfs-progs not installed"
    return
  fi
  if ! btrfs subvolume create "$B/sv" >/dev/null; then
    echo "FAIL - --snapshot: btrfs subvolume create failed"
    fail=$((fail + 1))
    return
  fi
  SUBVOLS+=("$B/sv")
  python3 "$CMP" fill "$B/sv" 10000
  mkdir -p "$B/plain"
  echo p >"$B/plain/p"
  sync -f "$B/sv"  # the timing is the snapshot's, not writeback's
  local t0 t1 ms
  t0=$(now_ns)
  oc -a --snapshot=always --json "$B/sv" "$B/sv-copy"
  t1=$(now_ns)
  ms=$(((t1 - t0) / 1000000))
  [ -d "$B/sv-copy" ] && SUBVOLS=("$B/sv-copy" "${SUBVOLS[@]}")
  expect "--snapshot=always subvolume -> same btrfs: exit 0" rc_is 0
  expect "--snapshot=always: 10,000 files in under 1 s (took $ms ms)" [ "$ms" -lt 1000 ]
  expect "--snapshot=always: --json stdout is one JSON document" \
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$L/out"
  expect "--snapshot=always: --json counts one snapshot (if it has totals.snapshots)" \
    python3 -c '
import json, sys
t = json.load(open(sys.argv[1])).get("totals", {})
assert t.get("snapshots", 1) == 1, t' "$L/out"
  expect "--snapshot=always: the copy is a subvolume (btrfs subvolume show)" \
    is_subvolume "$B/sv-copy"
  expect_same "--snapshot=always: the copy equals the source (root's own fields aside)" \
    "$B/sv" "$B/sv-copy" --ignore-root
  echo new >"$B/sv-copy/new-file" 2>/dev/null
  printf 'changed' >"$B/sv-copy/d000/f00003" 2>/dev/null
  expect "--snapshot=always: the copy is writable, and writing to it leaves the source alone" \
    eval '[ -f "$B/sv-copy/new-file" ] && absent "$B/sv/new-file" &&
          [ "$(cat "$B/sv-copy/d000/f00003")" = changed ] &&
          [ "$(cat "$B/sv/d000/f00003")" = "file 3" ]'

  oc -a --snapshot=always "$B/plain" "$B/plain-snap"
  expect "--snapshot=always from a plain directory: exit 1, message says snapshot" \
    eval 'rc_is 1 && err_has "[Ss]napshot"'
  expect "--snapshot=always from a plain directory: no destination left" absent "$B/plain-snap"
  oc -a --snapshot=always "$B/sv" "$X/sv-other"
  expect "--snapshot=always to another filesystem: exit 1, message says snapshot" \
    eval 'rc_is 1 && err_has "[Ss]napshot"'
  expect "--snapshot=always to another filesystem: no destination left" absent "$X/sv-other"

  oc -a --snapshot=never "$B/sv" "$B/sv-never"
  expect "--snapshot=never: exit 0, a plain directory (not a subvolume)" \
    eval 'rc_is 0 && [ -d "$B/sv-never" ] && not is_subvolume "$B/sv-never"'
  expect_same "--snapshot=never: the copy equals the source" "$B/sv" "$B/sv-never"
  oc -a --snapshot=auto "$B/sv" "$B/sv-auto"
  is_subvolume "$B/sv-auto" && SUBVOLS=("$B/sv-auto" "${SUBVOLS[@]}")
  expect "--snapshot=auto: exit 0" rc_is 0
  expect_same "--snapshot=auto: the copy equals the source (root's own fields aside)" \
    "$B/sv" "$B/sv-auto" --ignore-root
  expect "--snapshot=auto, -a, a new path on the same btrfs: taken as a snapshot (--help: auto when it equals the copy)" \
    is_subvolume "$B/sv-auto"
  local start
  # shellcheck disable=SC2034  # used by the eval below
  start=$(date +%s)
  oc -r "$B/sv" "$B/sv-r"
  expect "-r (no -a) of a subvolume: exit 0, not a snapshot (it would keep mtimes)" \
    eval 'rc_is 0 && not is_subvolume "$B/sv-r" && [ "$(stat -c %Y "$B/sv-r/d000/f00002")" -ge "$start" ]'
  # A subvolume inside the source: a snapshot would have an empty
  # directory in its place, a copy (cp -a) has its files.
  if btrfs subvolume create "$B/sv/nested" >/dev/null; then
    SUBVOLS=("$B/sv/nested" "${SUBVOLS[@]}")
    echo nested >"$B/sv/nested/file"
    oc -a "$B/sv" "$B/sv-auto2"
    is_subvolume "$B/sv-auto2" && SUBVOLS=("$B/sv-auto2" "${SUBVOLS[@]}")
    expect "--snapshot=auto with a nested subvolume: exit 0" rc_is 0
    expect_same "--snapshot=auto with a nested subvolume: its files are copied too, as cp -a does" \
      "$B/sv" "$B/sv-auto2" --ignore-root
  fi
}

fs_tests() {
  local fs
  setup_fs_half || return

  if ! "$BIN" --help 2>&1 | grep -q -- --archive; then
    echo "FAIL - offcopy --help does not mention --archive: no tree copies in this build"
    fail=$((fail + 1))
    return
  fi

  echo "# generating the test tree on each filesystem"
  for fs in btrfs xfs ext4 tmpfs; do
    mkdir -p "${M[$fs]}/gen"
    SRC[$fs]=${M[$fs]}/gen/src
    if ! python3 "$CMP" gen "${SRC[$fs]}" >"$L/gen-$fs" 2>&1; then
      echo "FAIL - generating the tree on $fs"
      sed 's/^/       /' "$L/gen-$fs"
      fail=$((fail + 1))
      return
    fi
    echo "       $fs: $(tr '\n' ' ' <"$L/gen-$fs")"
  done
  grep -q '^acl=yes' "$L/gen-ext4" || skip_test "ACLs: $(grep '^acl=' "$L/gen-ext4")"

  local a b
  for a in btrfs xfs ext4 tmpfs; do  # every (source, destination) pair
    for b in btrfs xfs ext4 tmpfs; do
      pair_test "$a" "$b"
    done
  done

  comparator_test ext4
  r_test xfs
  idempotence_test ext4
  error_test xfs
  n_u_test ext4
  x_test ext4
  deref_test btrfs
  preserve_test ext4
  verbose_test ext4
  json_test ext4
  progress_test tmpfs
  snapshot_test
}

fs_tests
cleanup
finish_fs_half tree
