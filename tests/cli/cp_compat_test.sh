#!/usr/bin/env bash
# CLI tests of cp's own rules, where offcopy must do what GNU cp does:
# the safety rules first (a file is never copied onto itself or through a
# dangling symlink, a copy whose owner is preserved is never readable by
# others half-made), then cp's options (-l, -s, backups, --parents, ...)
# and messages.
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

out_empty() { [ ! -s "$LOGDIR/out" ]; }
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

# ----------------------------------------- 2. a dangling destination link

dangling_tests() {
  local opt
  for opt in "" -f; do
    fresh w && cd w || return
    ln -s no-such dangle && echo hi >f
    # shellcheck disable=SC2086
    oc $opt f dangle
    expect "dangling: offcopy $opt f dangle is refused, exit 1" rc_is 1
    expect "dangling: ... with cp's words" \
      err_has_fixed "not writing through dangling symlink 'dangle'"
    expect "dangling: ... and the link's target is not created" absent no-such
    expect "dangling: ... and the link is left as it was" test "$(readlink dangle)" = no-such
    cd "$T" || return
  done
  # The tree copier's path (-r), into an existing directory holding one.
  fresh w && cd w || return
  mkdir -p src dst && echo hi >src/f && ln -s ../no-such dst/f
  oc -r src/. dst
  expect "dangling: -r into a directory with a dangling link is refused" rc_is 1
  expect "dangling: ... and nothing is created through it" absent no-such
  cd "$T" || return
  # POSIXLY_CORRECT asks for the POSIX behaviour: write through it.
  fresh w && cd w || return
  ln -s no-such dangle && echo hi >f
  last_cmd="POSIXLY_CORRECT=1 offcopy f dangle"
  POSIXLY_CORRECT=1 "$BIN" f dangle >"$LOGDIR/out" 2>"$LOGDIR/err"
  rc=$?
  expect "dangling: POSIXLY_CORRECT=1 writes through the link" content_is no-such hi
  cd "$T" || return
  # A link to itself: refused without -f (it cannot be stat'ed), replaced
  # by the copy with -f, as cp does.
  fresh w && cd w || return
  ln -s loop loop && echo hi >f
  oc f loop
  expect "self-loop: offcopy f loop fails, exit 1" rc_is 1
  expect "self-loop: ... and loop is still the link" test -L loop
  oc -f f loop
  expect "self-loop: offcopy -f f loop replaces the link with the copy, exit 0" rc_is 0
  expect "self-loop: ... loop is now a file with the data" content_is loop hi
  cd "$T" || return
}

# --------------------------------------------- 3. the permission window

# Runs a command under strace: LeakSanitizer cannot work under ptrace, so
# a sanitized offcopy is told not to try (as reliability_test.sh does).
traced() { env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@"; }

# The mode a new destination is created with, from strace (openat with
# O_CREAT).  Empty when strace is missing.
created_mode() {
  local f=$1
  shift
  traced strace -f -qq -e trace=openat,open -o "$T/trace" "$BIN" "$@" >/dev/null 2>&1
  grep -E "O_CREAT" "$T/trace" | grep -F "$f" | sed -nE 's/.*O_CREAT[^)]*, (0[0-7]+)\).*/\1/p' |
    head -n1
}

perm_race_tests() {
  if ! command -v strace >/dev/null; then
    skip_test "permission window: strace not installed"
    return
  fi
  fresh w && cd w || return
  echo secret >f && chmod 644 f
  local m
  for opt in -p -a --preserve=ownership; do
    rm -f g
    m=$(created_mode g "$opt" f g)
    expect "permission window: offcopy $opt creates the copy owner-only (mode $m)" \
      test "$m" = 0600
    expect "permission window: ... and ends with the source's mode" \
      test "$(stat -c %a g)" = 644
  done
  rm -f g
  m=$(created_mode g f g)
  expect "permission window: plain offcopy creates with the source's mode ($m)" test "$m" = 0644
  # Atomic copies: the temporary is owner-only as well.
  rm -f g
  m=$(created_mode .g. --atomic -p f g)
  expect "permission window: --atomic -p creates its temporary owner-only ($m)" test "$m" = 0600
  expect "permission window: ... and the result has the source's mode" \
    test "$(stat -c %a g)" = 644
  # A directory copied with -a is filled while it is 0700.
  mkdir -p d && echo s >d/x && chmod 755 d
  rm -rf e
  traced strace -f -qq -e trace=mkdir,mkdirat -o "$T/trace" "$BIN" -a d e >/dev/null 2>&1
  expect "permission window: -a makes a directory 0700 while it is filled" \
    grep -Eq 'mkdir(at)?\(.*"e", 0700\)' "$T/trace"
  expect "permission window: ... and it ends 755" test "$(stat -c %a e)" = 755
  cd "$T" || return
}

# ---------------------------------------------- 4. cp's options and words

options_tests() {
  fresh w && cd w || return
  echo a >a && echo b >b
  oc -l a hard
  expect "-l: a hard link to the source" eval 'rc_is 0 && [ "$(stat -c %i a)" = "$(stat -c %i hard)" ]'
  oc -s "$PWD/a" soft
  expect "-s: a symlink to the absolute source" eval 'rc_is 0 && [ "$(readlink soft)" = "$PWD/a" ]'
  mkdir sub
  oc -s a sub/rel
  expect "-s: a relative source into another directory is refused in cp's words" \
    eval 'rc_is 1 && err_is_fixed "offcopy: sub/rel: can make relative symbolic links only in current directory"'
  oc -l -s a x
  expect "-l with -s: refused" eval 'rc_is 1 && err_has_fixed "cannot make both hard and symbolic links"'
  oc --backup=numbered b a
  oc --backup=numbered b a
  expect "--backup=numbered: a.~1~ and a.~2~, a is b's copy" \
    eval 'content_is a.~1~ a && content_is a.~2~ b && content_is a b'
  echo c >c
  oc -b c a
  expect "-b (existing): numbered, as a has numbered backups" content_is a.~3~ b
  oc -S .bak c b
  expect "-S .bak: b.bak is the old b" eval 'content_is b.bak b && content_is b c'
  last_cmd="VERSION_CONTROL=simple SIMPLE_BACKUP_SUFFIX=.old offcopy -b a c"
  VERSION_CONTROL=simple SIMPLE_BACKUP_SUFFIX=.old "$BIN" -b a c >"$LOGDIR/out" 2>"$LOGDIR/err"
  rc=$?
  expect "VERSION_CONTROL / SIMPLE_BACKUP_SUFFIX: c.old" eval 'rc_is 0 && content_is c.old c'
  oc -b -n a c
  expect "--backup with -n: refused" eval 'rc_is 1 && err_has_fixed "mutually exclusive"'
  echo old >a && ln a a2
  oc --remove-destination b a
  expect "--remove-destination: a replaced, its other hard link keeps the old data" \
    eval 'rc_is 0 && content_is a c && content_is a2 old'
  mkdir -p x/y/z dd && echo q >x/y/z/f && chmod 750 x/y
  oc --parents -p x/y/z/f dd
  expect "--parents -p: dd/x/y/z/f made, x/y keeps mode 750" \
    eval 'rc_is 0 && content_is dd/x/y/z/f q && [ "$(stat -c %a dd/x/y)" = 750 ]'
  oc --parents x/y/z/f a
  expect "--parents without a directory: refused" \
    eval 'rc_is 1 && err_has_fixed "with --parents, the destination must be a directory"'
  mkdir sl && oc -r --strip-trailing-slashes x/ sl/copy
  expect "--strip-trailing-slashes: copied" test -f sl/copy/y/z/f
  oc --reflink=nev --sparse=alw a ab
  expect "abbreviated values: --reflink=nev --sparse=alw" eval 'rc_is 0 && content_is ab c'
  oc --sparse=a a ab
  expect "ambiguous value: refused in cp's words" \
    eval 'rc_is 1 && err_has_fixed "ambiguous argument '"'"'a'"'"' for '"'"'--sparse'"'"'"'
  oc --sparse=always --reflink a ab
  expect "--sparse=always --reflink: refused as cp refuses it" \
    eval 'rc_is 1 && err_has_fixed "--reflink can be used only with --sparse=auto"'
  oc a a sub/
  expect "a a DIR/: warns 'specified more than once', exit 0" \
    eval 'rc_is 0 && err_is_fixed "offcopy: warning: source file '"'"'a'"'"' specified more than once" && content_is sub/a c'
  oc --preserve=context a ctx
  expect "--preserve=context: no SELinux, refused as cp refuses it" \
    eval 'rc_is 1 && err_has_fixed "cannot preserve security context without an SELinux-enabled kernel"'
  oc -Z a ctx
  expect "-Z: ignored without SELinux" eval 'rc_is 0 && content_is ctx c'
  echo data >ao_src && chmod 640 ao_src && echo old >ao_old
  oc --attributes-only -p ao_src ao_new
  expect "--attributes-only -p: an empty file with the source's mode" \
    eval 'rc_is 0 && [ "$(stat -c "%s %a" ao_new)" = "0 640" ]'
  oc --attributes-only ao_src ao_old
  expect "--attributes-only: an existing file keeps its data" content_is ao_old old
  oc -n -f ao_src ao_old
  expect "-n -f: -f does not undo -n (cp 9.1)" eval 'rc_is 0 && content_is ao_old old'
  # Backups and one name given twice, as cp 9.1.
  mkdir -p bk/a bk/b bk/c && echo A >bk/a/f && echo B >bk/b/f
  oc --backup=numbered bk/a/f bk/b/f bk/c
  expect "--backup=numbered A/f B/f DIR: the first copy backed up (f.~1~)" \
    eval 'rc_is 0 && content_is bk/c/f B && content_is bk/c/f.~1~ A'
  rm -f bk/c/*
  oc --backup bk/a/f bk/b/f bk/c
  expect "--backup (existing) A/f B/f DIR: will not overwrite just-created" \
    eval 'rc_is 1 && err_has_fixed "will not overwrite just-created"'
  echo F >F
  oc --force --backup=simple --suffix=.b F F
  expect "-bf F F: F copied to its backup name F.b" eval 'rc_is 0 && content_is F.b F && content_is F F'
  echo a >bs && echo b >bs~
  oc --backup=simple bs~ bs
  expect "backing up DST would destroy the source: refused" \
    eval 'rc_is 1 && err_has_fixed "backing up '"'"'bs'"'"' might destroy source;  '"'"'bs~'"'"' not copied"'
  echo h >h1 && ln h1 h2
  oc -sf h1 h2
  expect "-sf FILE ITS-HARDLINK: the same file, refused" eval 'rc_is 1 && [ ! -L h2 ]'
  # Hard links into an existing tree (-au), and through -L.
  mkdir -p hl/s hl/t/s && echo x >hl/s/f && ln hl/s/f hl/s/g && cp -p hl/s/f hl/t/s/f
  touch -d '+1 hour' hl/t/s/f
  (cd hl && "$BIN" -au s t) >"$LOGDIR/out" 2>"$LOGDIR/err"
  rc=$?
  expect "-au into a tree whose f is newer: g is linked to the kept f" \
    eval 'rc_is 0 && [ "$(stat -c %i hl/t/s/f)" = "$(stat -c %i hl/t/s/g)" ]'
  mkdir -p pl && echo p >pl/a && ln -s a pl/b && mkdir pl/c
  (cd pl && "$BIN" --preserve=links -R -H a b c) >"$LOGDIR/out" 2>"$LOGDIR/err"
  rc=$?
  expect "--preserve=links -H FILE LINK-TO-IT: one hard-linked pair" \
    eval 'rc_is 0 && [ "$(stat -c %i pl/c/a)" = "$(stat -c %i pl/c/b)" ]'
  # Output: stdout errors, -v and -i as cp 9.1.
  last_cmd="offcopy -v ao_src vv >&-"
  "$BIN" -v ao_src vv >&- 2>"$LOGDIR/err"
  rc=$?
  expect "-v with stdout closed: write error, exit 1" eval 'rc_is 1 && err_has_fixed "write error"'
  if [ -w /dev/full ]; then
    last_cmd="offcopy -v ao_src vv2 >/dev/full"
    "$BIN" -v ao_src vv2 >/dev/full 2>"$LOGDIR/err"
    rc=$?
    expect "-v onto /dev/full: write error, exit 1" \
      eval 'rc_is 1 && err_has_fixed "write error: No space left on device"'
  fi
  echo keep >ro && chmod 0 ro
  last_cmd="echo n | offcopy -i ao_src ro"
  echo n | "$BIN" -i ao_src ro >"$LOGDIR/out" 2>"$LOGDIR/err"
  rc=$?
  if [ "$(id -u)" = 0 ]; then
    expect "-i onto a file root may write: the plain question" err_has_fixed "overwrite 'ro'? "
  else
    expect "-i onto an unwritable file: cp's question about its mode" \
      err_has_fixed "unwritable 'ro' (mode 0000, ---------); try anyway? "
  fi
  echo y >vi && echo n | "$BIN" -vi ao_src vi >"$LOGDIR/out" 2>/dev/null
  expect "-vi answered n: nothing on stdout (cp 9.1)" out_empty
  ln -s "$BIN" cp
  last_cmd="./cp nosuch x"
  ./cp nosuch x >"$LOGDIR/out" 2>"$LOGDIR/err"
  rc=$?
  expect "invoked as cp: says cp: in cp's words" \
    eval 'rc_is 1 && err_is_fixed "cp: cannot stat '"'"'nosuch'"'"': No such file or directory"'
  oc -x
  expect "usage error: exit 1, as cp" rc_is 1
  cd "$T" || return
}

# ----------------------------------------------------------------- driver

same_file_tests
dangling_tests
perm_race_tests
options_tests

finish cp_compat
[ "$fail" -eq 0 ]
