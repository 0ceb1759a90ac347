#!/usr/bin/env bash
# Runs GNU coreutils 9.1's own tests of cp twice -- once with coreutils' cp,
# once with cp replaced by offcopy -- and prints the two sets of results side
# by side.
#
# Why: offcopy claims to be cp-compatible.  coreutils' test suite is the most
# thorough description of what cp does (option parsing, messages, exit codes,
# backups, links, permissions, races, sparse files, xattrs, ACLs), so each
# test that real cp passes and offcopy does not is a compatibility bug.
#
# How (see docs/coreutils-tests.md):
#   1. Installs the packages it needs (Debian 12, as root).
#   2. Downloads Debian bookworm's coreutils source package with apt-get
#      source, through a deb-src list and apt state of its own (nothing in
#      /etc/apt is touched), unpacks the upstream release tarball inside it
#      (configure is already generated; Debian's three patches touch who, dd
#      and id only, so they are not applied), and builds it once.  The build
#      is cached in $OFFCOPY_COREUTILS_CACHE (default
#      /var/cache/offcopy-coreutils) and reused while its stamp matches.
#   3. Runs the selected tests with the coreutils harness (make check-TESTS)
#      -- as root, except the few that skip as root (skip_if_root_), which
#      run as the unprivileged user offcopy-test, so every test can run --
#      with the built src/cp, then with src/cp a symlink named cp to a copy
#      of offcopy taken when this script starts, then puts the real cp back
#      (also on error or interruption, and at the next start if this script
#      was killed outright).
#   4. Compares: one line per test whose results differ, a summary of both
#      runs, and a last line "N passed, M failed" for offcopy over the tests
#      real cp passes.  Exits non-zero when offcopy fails a test that real cp
#      passes and that the baseline (tests/coreutils/baseline.tsv) does not
#      list.
#
# Usage: tests/coreutils/run.sh [--offcopy PATH] [--tests "tests/cp/a.sh ..."]
#          [--baseline FILE|none] [--out DIR] [--no-expensive] [--jobs N]
#   --offcopy PATH   the binary to test (default: <repo>/build/offcopy)
#   --tests LIST     run only these tests (paths as tests/cp/foo.sh)
#   --baseline FILE  tests offcopy is known to fail (default:
#                    tests/coreutils/baseline.tsv; "none": no baseline)
#   --out DIR        where results.tsv and the logs go (default: a new
#                    directory /tmp/offcopy-coreutils-results.XXXXXX)
#   --no-expensive   leave RUN_EXPENSIVE_TESTS / RUN_VERY_EXPENSIVE_TESTS
#                    unset: skips link-heap.sh and perm.sh (~30 s each)
#   --jobs N         tests run at once (default: nproc)
#   --write-baseline FILE  write the tests real cp passes and offcopy does
#                    not to FILE (tests not run this time keep their lines;
#                    a cause already written for a test is kept)
# Environment: OFFCOPY_COREUTILS_CACHE (cache directory),
#   OFFCOPY_COREUTILS_TIMEOUT (seconds per test, default 300).
set -euo pipefail
umask 022

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

CU_VERSION=9.1
CACHE=${OFFCOPY_COREUTILS_CACHE:-/var/cache/offcopy-coreutils}
SRC="$CACHE/coreutils-$CU_VERSION"          # source and build tree (in-tree build)
CONFIGURE_FLAGS=(--quiet --disable-nls --without-selinux)
# The stamp records what the cached build was made from; change it (or the
# flags) and the next run rebuilds from scratch.
BUILD_RECIPE="coreutils $CU_VERSION upstream tarball from Debian bookworm; configure ${CONFIGURE_FLAGS[*]}; recipe 1"
NON_ROOT_USER=offcopy-test
TEST_TIMEOUT=${OFFCOPY_COREUTILS_TIMEOUT:-300}

# The tests that exercise cp.  Chosen as: every tests/cp/*.sh (there is no
# tests/cp/*.pl), plus every other test whose print_ver_ line names cp (the
# harness prints the versions of the programs a test is about) and that
# invokes cp itself -- tests/mv/{childproof,dup-source,hard-2,hard-3,i-2,
# part-symlink,update}.sh, tests/misc/xattr.sh and tests/misc/selinux.sh --
# plus the tests found by grepping for cp invocations whose subject is cp
# behaviour rather than cp as a helper: tests/mv/trailing-slash.sh (loops
# over 'mv' and 'cp -r'), tests/ln/misc.sh (loops over ln cp mv ginstall)
# and tests/misc/close-stdout.sh (cp's write errors on stdout).  Tests that
# only use cp to set up their files (du/basic, install/basic-1, misc/csplit,
# head-c, od-j, wc-proc, tac-2-nonseekable, tail-2/tail-c) and the tests of
# every program at once (misc/help-version*, usage_vs_getopt, invalid-opt)
# are left out.
CP_TESTS_FIXED=(
  tests/misc/xattr.sh
  tests/misc/selinux.sh
  tests/misc/close-stdout.sh
  tests/ln/misc.sh
  tests/mv/childproof.sh
  tests/mv/dup-source.sh
  tests/mv/hard-2.sh
  tests/mv/hard-3.sh
  tests/mv/i-2.sh
  tests/mv/part-symlink.sh
  tests/mv/trailing-slash.sh
  tests/mv/update.sh
)

PKGS=(
  dpkg-dev xz-utils                   # apt-get source, unpacking
  build-essential                     # gcc, make
  libacl1-dev libattr1-dev libcap-dev # cp's ACL, xattr and capability support
  attr acl libcap2-bin                # getfattr/setfattr, getfacl/setfacl, getcap/setcap used by tests
  e2fsprogs util-linux                # mkfs, filefrag, mount -o loop, fallocate
  perl python3 strace valgrind        # test helpers (valgrind: link-heap.sh)
)

usage() { sed -n '/^# Usage:/,/^# Environment:/p' "$0" | sed 's/^# \{0,1\}//'; }
log()  { printf '%s\n' "coreutils-cp: $*" >&2; }
die()  { log "error: $*"; exit 2; }

# ---------------------------------------------------------------- options
offcopy_bin="$repo/build/offcopy"
tests_arg=""
baseline="$here/baseline.tsv"
out=""
expensive=yes
jobs=$(nproc)
write_baseline=""
while [ $# -gt 0 ]; do
  case "$1" in
    --offcopy) offcopy_bin=$2; shift 2 ;;
    --tests) tests_arg=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-expensive) expensive=no; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --write-baseline) write_baseline=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ "$baseline" = none ] && baseline=""
[ "$(id -u)" = 0 ] || die "must run as root (tests need loop mounts, chroot --user, chown)"
[ -x "$offcopy_bin" ] || die "no offcopy binary at $offcopy_bin (build it: scripts/setup.sh)"

start_time=$(date +%s)
work=$(mktemp -d /tmp/offcopy-coreutils.XXXXXX)
if [ -z "$out" ]; then out=$(mktemp -d /tmp/offcopy-coreutils-results.XXXXXX); fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The binary under test, copied now so that a rebuild of build/offcopy while
# the tests run does not change what is tested.
cp "$offcopy_bin" "$work/offcopy"

# ---------------------------------------------------------------- cleanup
swapped=no
harness_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$harness_pid" ]; then   # interrupted while tests run: stop them
    stop_session "$harness_pid"
    wait "$harness_pid" 2>/dev/null || true
  fi
  [ "$swapped" = yes ] && restore_real_cp
  rm -rf "$work"
  exit "$rc"
}
# The harness runs in a session of its own (setsid); timeout(1) puts each
# test in a process group of its own, so the session, not a process group,
# is what holds all of them.
stop_session() {
  local sid=$1 pids
  pids=$(ps -e -o pid=,sid= | awk -v s="$sid" '$2 == s {print $1}')
  # shellcheck disable=SC2086  # one pid a word
  [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- setup
install_packages() {
  local missing=() p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
}

ensure_user() {
  id "$NON_ROOT_USER" >/dev/null 2>&1 && return
  log "creating the unprivileged user $NON_ROOT_USER"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$NON_ROOT_USER"
}

# apt-get source through a sources list, lists and cache of our own.
fetch_source() {
  local aptdir="$CACHE/apt" dl="$CACHE/download"
  rm -rf "$aptdir" "$dl"
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$dl"
  # The mirror apt already uses on this machine.
  local mirror
  mirror=$("$repo/scripts/debian-mirror.sh" bookworm) || die "no Debian bookworm source in /etc/apt"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
    >"$aptdir/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache")
  # apt downloads as the _apt user where it can write
  id _apt >/dev/null 2>&1 && chown _apt "$dl" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
  log "apt-get source coreutils (bookworm)"
  apt-get "${opts[@]}" -qq update </dev/null
  (cd "$dl" && apt-get "${opts[@]}" -qq source --download-only coreutils/bookworm </dev/null >/dev/null)
  [ -f "$dl/coreutils_$CU_VERSION.orig.tar.xz" ] ||
    die "bookworm's coreutils source is not $CU_VERSION: $(ls "$dl")"
  rm -rf "$aptdir"
}

# Build once; the stamp holds BUILD_RECIPE.  The real cp is kept beside the
# tree (cp.real) so that it can always be put back.
build_coreutils() {
  if [ -f "$CACHE/build.stamp" ] && [ "$(cat "$CACHE/build.stamp")" = "$BUILD_RECIPE" ] &&
     [ -f "$CACHE/cp.real" ]; then
    log "reusing the build in $SRC"
    return
  fi
  log "building coreutils $CU_VERSION in $SRC (once; cached)"
  rm -f "$CACHE/build.stamp"
  rm -rf "$SRC" "$CACHE/cp.real"
  fetch_source
  tar -xJf "$CACHE/download/coreutils_$CU_VERSION.orig.tar.xz" -C "$CACHE"
  local t0=$SECONDS
  (cd "$SRC" &&
   FORCE_UNSAFE_CONFIGURE=1 ./configure "${CONFIGURE_FLAGS[@]}" >"$CACHE/build.log" 2>&1 &&
   make -j"$(nproc)" >>"$CACHE/build.log" 2>&1) </dev/null ||
    { tail -30 "$CACHE/build.log" >&2; die "coreutils build failed; see $CACHE/build.log"; }
  cp -p "$SRC/src/cp" "$CACHE/cp.real"
  echo "$BUILD_RECIPE" >"$CACHE/build.stamp"
  log "built in $((SECONDS - t0)) s"
}

restore_real_cp() {
  rm -f "$SRC/src/cp" "$SRC/src/offcopy-under-test"
  cp -p "$CACHE/cp.real" "$SRC/src/cp"
  swapped=no
}

# cp -> offcopy-under-test, both in src/ where the non-root user can reach
# them; invoked through PATH as "cp", so argv[0] is "cp".  The copy gets a
# current mtime, so make never thinks src/cp is out of date.
swap_in_offcopy() {
  swapped=yes
  rm -f "$SRC/src/cp"
  cp "$work/offcopy" "$SRC/src/offcopy-under-test"
  chmod 755 "$SRC/src/offcopy-under-test"
  ln -s offcopy-under-test "$SRC/src/cp"
}

# ---------------------------------------------------------------- tests
select_tests() {
  if [ -n "$tests_arg" ]; then
    # shellcheck disable=SC2086
    printf '%s\n' $tests_arg
    return
  fi
  (cd "$SRC" && ls tests/cp/*.sh && { ls tests/cp/*.pl 2>/dev/null || true; })
  printf '%s\n' "${CP_TESTS_FIXED[@]}"
}

# make check-TESTS for the tests given, as root or (with "user" first) as
# $NON_ROOT_USER.  Test failures make make fail: that is the normal case.
harness() {
  local as=$1 log=$2; shift 2
  [ $# -gt 0 ] || return 0
  local run=()
  [ "$as" = user ] && run=(runuser -u "$NON_ROOT_USER" -- env HOME=/nonexistent)
  # check-TESTS (not check): runs the listed tests without remaking the
  # programs; each test under a timeout so that a hang cannot stall CI.
  # VERBOSE=yes makes each test's log a shell trace (set -x): the triage
  # needs to see which command failed.  COREUTILS_GROUPS: root can chgrp to
  # any group, which is all existing-perm-race.sh needs two groups for.
  # In the background, in a session of its own (setsid), and waited for: a
  # signal to this script then runs the trap at once, which stops the whole
  # session and puts the real cp back.
  (cd "$SRC" && exec 9>&- &&
   exec setsid "${run[@]}" make -k -j"$jobs" check-TESTS SUBDIRS=. VERBOSE=yes \
     TESTS="$*" \
     NON_ROOT_USERNAME="$NON_ROOT_USER" \
     COREUTILS_GROUPS="0 $(id -g "$NON_ROOT_USER")" \
     RUN_EXPENSIVE_TESTS="$expensive" \
     RUN_VERY_EXPENSIVE_TESTS="$expensive" \
     SH_LOG_COMPILER="timeout -k 10 $TEST_TIMEOUT \$(SHELL)" \
     PL_LOG_COMPILER="timeout -k 10 $TEST_TIMEOUT \$(TESTSUITE_PERL) \$(TESTSUITE_PERL_OPTIONS)" \
  ) </dev/null >>"$log" 2>&1 &
  harness_pid=$!
  wait "$harness_pid" || true
  harness_pid=""
}

# Runs the tests with whatever src/cp is now; copies each .log into
# $out/<label>/ and writes "<test>\t<result>" lines to $out/<label>.results.
run_suite() {
  local label=$1; shift
  local t tests=("$@") dest="$out/$label" as_root=() as_user=()
  mkdir -p "$dest"
  : >"$dest/make.log"
  for t in "${tests[@]}"; do
    rm -f "$SRC/${t%.*}.log" "$SRC/${t%.*}.trs"
    # a test that skips as root runs as the unprivileged user, as upstream's
    # "make check" (as a user) + "make check-root" (as root) would run it
    if grep -q '^ *skip_if_root_' "$SRC/$t"; then as_user+=("$t"); else as_root+=("$t"); fi
  done
  log "running ${#tests[@]} tests with $label (${#as_user[@]} of them as $NON_ROOT_USER)"
  local t0=$SECONDS
  harness root "$dest/make.log" "${as_root[@]}"
  harness user "$dest/make.log" "${as_user[@]}"
  log "$label: $((SECONDS - t0)) s"
  : >"$out/$label.results"
  for t in "${tests[@]}"; do
    local base="${t%.*}" r
    r=$(sed -n 's/^:test-result: *//p' "$SRC/$base.trs" 2>/dev/null | head -1)
    [ -n "$r" ] || r=MISSING
    mkdir -p "$dest/$(dirname "$t")"
    cp "$SRC/$base.log" "$dest/$base.log" 2>/dev/null || true
    printf '%s\t%s\n' "$t" "$r" >>"$out/$label.results"
  done
}

# ---------------------------------------------------------------- report
# baseline.tsv: "test<TAB>offcopy's result<TAB>cause", '#' comments.
write_baseline_file() {
  local tsv=$1 file=$2 tmp="$work/baseline.new"
  {
    echo "# coreutils 9.1 tests of cp that real cp passes and offcopy does not."
    echo "# Written by tests/coreutils/run.sh --write-baseline; the causes by hand"
    echo "# (docs/coreutils-tests.md).  run.sh fails on any such test not listed here."
    printf '# test\toffcopy\tcause\n'
    awk -F'\t' '
      FNR == 1 { f++ }
      f == 1 && !/^#/ && NF { res[$1] = $2; old[$1] = $3; next }       # the old baseline
      f == 2 && FNR > 1 { ran[$1] = 1; if ($2 == "PASS" && $3 != "PASS") print $1 "\t" $3 "\t" (($1 in old) ? old[$1] : "untriaged") }
      END { for (t in old) if (!(t in ran)) print t "\t" res[t] "\t" old[t] }
    ' <( [ -f "$file" ] && cat "$file"; echo "#" ) "$tsv" | sort
  } >"$tmp"
  mv "$tmp" "$file"
  echo "baseline written: $file"
}

count() {  # count RESULT-FILE WORD...: lines whose result is one of WORDs
  local f=$1; shift
  local pat; pat=$(IFS='|'; echo "$*")
  awk -F'\t' -v pat="^($pat)\$" '$2 ~ pat' "$f" | wc -l
}

report() {
  local real="$out/real-cp.results" off="$out/offcopy.results" tsv="$out/results.tsv"
  printf 'test\treal\toffcopy\n' >"$tsv"
  paste "$real" "$off" | awk -F'\t' 'BEGIN{OFS="\t"} {print $1, $2, $4}' >>"$tsv"

  local known=""
  if [ -n "$baseline" ] && [ -f "$baseline" ]; then
    # awk alone: grep -v would fail (pipefail) on a baseline of comments only.
    known=$(awk -F'\t' '!/^#/ && NF && $1 != "test" {print $1}' "$baseline")
  fi
  local regressions=0 t r o
  while IFS=$'\t' read -r t r o; do
    [ "$t" = test ] && continue
    local listed=no note=""
    grep -qxF "$t" <<<"$known" && listed=yes
    if [ "$r" = PASS ] && [ "$o" != PASS ]; then
      if [ "$listed" = yes ]; then note="(in the baseline)"
      else note="(NEW: not in the baseline)"; regressions=$((regressions + 1)); fi
    fi
    if [ "$r" != "$o" ]; then
      printf '%-36s real cp: %-5s offcopy: %-5s %s\n' "$t" "$r" "$o" "$note"
    fi
    if [ "$listed" = yes ] && [ "$o" = PASS ]; then
      printf 'note: %s now passes with offcopy: remove it from %s\n' "$t" "$baseline"
    fi
  done <"$tsv"

  local rp rf rs op of os
  rp=$(count "$real" PASS XFAIL); rf=$(count "$real" FAIL ERROR XPASS MISSING); rs=$(count "$real" SKIP)
  op=$(count "$off" PASS XFAIL);  of=$(count "$off" FAIL ERROR XPASS MISSING);  os=$(count "$off" SKIP)
  local n m
  n=$(awk -F'\t' '$2 == "PASS" && $3 == "PASS"' "$tsv" | wc -l)
  m=$(awk -F'\t' '$2 == "PASS" && $3 != "PASS"' "$tsv" | wc -l)
  [ -z "$write_baseline" ] || write_baseline_file "$tsv" "$write_baseline"
  echo "results: $tsv (logs: $out/real-cp/, $out/offcopy/)"
  echo "time: $(( $(date +%s) - start_time )) s"
  echo "coreutils-cp: real cp: $rp passed, $rf failed, $rs skipped; offcopy: $op passed, $of failed, $os skipped"
  [ "$regressions" -eq 0 ] || echo "coreutils-cp: $regressions test(s) fail with offcopy that real cp passes and the baseline does not list"
  echo "$n passed, $m failed"
  [ "$regressions" -eq 0 ]
}

# ---------------------------------------------------------------- main
main() {
  install_packages
  ensure_user
  mkdir -p "$CACHE"
  chmod 755 "$CACHE"
  # one run at a time per cache: the runs swap src/cp in the shared tree
  exec 9>"$CACHE/lock"
  flock -w 3600 9 || die "another run holds $CACHE/lock"
  build_coreutils
  # the tests run as $NON_ROOT_USER write their logs and temporary
  # directories into the tree
  [ "$(stat -c %U "$SRC")" = "$NON_ROOT_USER" ] || chown -R "$NON_ROOT_USER:" "$SRC"
  # a run killed outright (SIGKILL) may have left offcopy in place
  cmp -s "$SRC/src/cp" "$CACHE/cp.real" || restore_real_cp

  local tests=() t
  while read -r t; do
    [ -f "$SRC/$t" ] || die "no such test: $t"
    tests+=("$t")
  done < <(select_tests)

  run_suite real-cp "${tests[@]}"
  swap_in_offcopy
  run_suite offcopy "${tests[@]}"
  restore_real_cp
  report
}

main
