#!/usr/bin/env bash
# Whole-tree copies, `offcopy -a` vs `cp -a`, side by side in one run.
#
#   bench/compare_tree.sh [--runs N] [--tree DIR] [--offcopy PATH] [--out FILE]
#                         [--fs "btrfs xfs ext4 tmpfs"] [--jobs "1 2 4 8"]
#                         [--quick]
#
# Loop-mounts the filesystems (scripts/fsfixture.sh; images sized from the
# tree's `du`) and copies the tree (default /usr/share) onto each ONCE with
# `cp -a`, as DIR/<fs>/src; on btrfs a second copy goes into a subvolume
# (DIR/btrfs/srcsv) for the snapshot row.  Then, per run and filesystem, each
# contender copies src to a fresh destination on the same filesystem:
#   cp -a                                     the peer
#   offcopy -a --snapshot=never               offcopy's default -j
#   offcopy -a --snapshot=never -j J          one more per --jobs value
# and on btrfs, from the subvolume:
#   cp -a srcsv                               the peer of the snapshot row
#   offcopy -a --snapshot=always srcsv        the snapshot row
# The order of the contenders flips every run (interleaved), so drift hits
# all alike.  Before each timed copy: its destination removed (a subvolume
# with `btrfs subvolume delete` + `subvolume sync`), `sync`, page cache
# dropped.  Timed: the copy plus `sync -f` of the destination filesystem
# (syncfs: the same flush as `sync` for this filesystem, but not charged
# with unrelated dirty data elsewhere on the machine).
#
# Checks, outside the timing: after every copy its entry count and the total
# apparent size of its non-directory entries are compared with the source's;
# in run 1 each offcopy copy is also compared in full with cp's copy of the
# same run: `diff -rq --no-dereference` (contents, symlink targets) and a
# sorted `find -printf` listing (type, mode, owner, link count, mtime in ns,
# symlink target, size) and a sorted dump of every extended attribute (ACLs
# included).  A non-zero exit or any mismatch marks the cell
# FAILED (with its timings still shown) and is described under the table.
#
# --quick: a generated tree (about 2,000 files, 50 MB, with subdirectories,
# symlinks, hard links, xattrs, ACLs and a sparse file) instead of
# /usr/share, 3 runs, tmpfs and btrfs only (explicit --tree/--runs/--fs
# still win); < 60 s.
#
# Needs root.  Everything lives in one mktemp directory under /tmp, torn down
# by a trap on exit, failure and Ctrl-C.  --out FILE gets the same report.
# Exit status: 0 every copy checked out, 1 a cell FAILED or the setup
# failed, 2 usage error (options, not root, no offcopy with -a).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmdline=$(printf '%q ' "$0" "$@"); cmdline=${cmdline% }

usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }
runs="" tree="" out="" fslist="" jobs="" quick=0 offcopy="$here/build/offcopy"
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?}; shift 2 ;;
    --tree) tree=${2:?}; shift 2 ;;
    --offcopy) offcopy=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --fs) fslist=${2:?}; shift 2 ;;
    --jobs) jobs=${2:?}; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) usage ;;
    *) echo "compare_tree.sh: unknown option $1" >&2; usage ;;
  esac
done
if [ "$quick" = 1 ]; then
  : "${runs:=3}" "${fslist:=tmpfs btrfs}"
else
  : "${runs:=5}" "${fslist:=btrfs xfs ext4 tmpfs}" "${tree:=/usr/share}"
fi
read -ra FS <<<"$fslist"
read -ra JOBS <<<"$jobs"
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "compare_tree.sh: --runs wants a positive number" >&2; exit 2; }
for j in "${JOBS[@]}"; do
  [[ $j =~ ^[1-9][0-9]*$ ]] || { echo "compare_tree.sh: --jobs wants positive numbers, got '$j'" >&2; exit 2; }
done
for fs in "${FS[@]}"; do
  case $fs in btrfs|xfs|ext4|tmpfs) ;; *) echo "compare_tree.sh: unknown filesystem '$fs'" >&2; exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "compare_tree.sh: needs root (loop mounts, drop_caches); run it with sudo" >&2; exit 2; }
case $offcopy in /*) ;; *) offcopy=$(command -v "$offcopy" || echo "$PWD/$offcopy") ;; esac
[ -x "$offcopy" ] || { echo "compare_tree.sh: no offcopy binary at $offcopy (build first)" >&2; exit 2; }
help=$("$offcopy" --help 2>&1 || true)
grep -q -- --archive <<<"$help" \
  || { echo "compare_tree.sh: $offcopy has no -a/--archive yet (see its --help)" >&2; exit 2; }
if [ -n "$tree" ]; then
  [ -d "$tree" ] || { echo "compare_tree.sh: --tree $tree is not a directory" >&2; exit 2; }
  tree=$(cd "$tree" && pwd -P)
fi
for t in python3 diff find; do
  command -v "$t" >/dev/null || { echo "compare_tree.sh: $t not installed" >&2; exit 2; }
done

dir=$(mktemp -d /tmp/offcopy-tree.XXXXXX)
cleanup() {
  trap - EXIT INT TERM
  cd /
  "$here/scripts/fsfixture.sh" down "$dir" || true
  # "down" removes DIR only if "up" got as far as its state file.
  if [ -d "$dir" ] && ! grep -q " $dir/" /proc/mounts; then rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'echo "compare_tree.sh: interrupted, tearing down" >&2; exit 130' INT
trap 'exit 143' TERM
start=$(date +%s)
say() { echo "compare_tree.sh [$(( $(date +%s) - start ))s]: $*" >&2; }

# ---- the tree -----------------------------------------------------------
if [ -z "$tree" ]; then
  tree=$dir/gen/tree
  mkdir -p "$dir/gen"
  python3 - "$tree" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(20261125)
dirs = [root]
os.makedirs(root)
for i in range(120):                       # nested up to 4 deep
    parent = rnd.choice([d for d in dirs if d.count(os.sep) - root.count(os.sep) < 4])
    name = rnd.choice(["d%03d" % i, "dir %03d" % i, "répertoire-%03d" % i])
    path = os.path.join(parent, name)
    os.mkdir(path)
    dirs.append(path)
files = []
def write(path, size):
    with open(path, "wb") as f:
        f.write(rnd.randbytes(size) if size < 65536 else os.urandom(size))
    files.append(path)
sizes = ([rnd.randint(0, 8192) for _ in range(1840)] +          # ~7 MB
         [rnd.randint(65536, 262144) for _ in range(150)] +     # ~25 MB
         [rnd.randint(2 << 20, 5 << 20) for _ in range(5)])     # ~17 MB
rnd.shuffle(sizes)
for i, size in enumerate(sizes):
    write(os.path.join(rnd.choice(dirs), "f%04d%s" % (i, rnd.choice(["", ".txt", ".bin", " x"]))), size)
# a sparse file: 1 MiB data, 64 MiB hole, 1 MiB data
sp = os.path.join(root, "sparse.img")
with open(sp, "wb") as f:
    f.write(os.urandom(1 << 20)); f.seek(65 << 20); f.write(os.urandom(1 << 20))
files.append(sp)
for i in range(30):                        # hard links (some across dirs)
    src = rnd.choice(files)
    os.link(src, os.path.join(rnd.choice(dirs), "hl%02d" % i))
for i in range(60):                        # symlinks: to files, to dirs, dangling
    d = rnd.choice(dirs)
    kind = i % 4
    target = (os.path.relpath(rnd.choice(files), d) if kind < 2 else
              os.path.relpath(rnd.choice(dirs), d) if kind == 2 else
              "no-such-target-%d" % i)
    os.symlink(target, os.path.join(d, "ln%02d" % i))
for i in range(5):
    os.mkdir(os.path.join(rnd.choice(dirs), "empty%d" % i))
for p in rnd.sample(files, 200):           # modes
    os.chmod(p, rnd.choice([0o600, 0o644, 0o755, 0o444, 0o4755]))
for i, p in enumerate(rnd.sample(files, 20) + rnd.sample(dirs[1:], 3)):   # xattrs
    os.setxattr(p, "user.offcopy.bench", b"value %d" % i)
    if i % 3 == 0:
        os.setxattr(p, "user.second", rnd.randbytes(rnd.randint(1, 200)))
for p in rnd.sample(files, 3):             # POSIX ACLs (system.posix_acl_access)
    os.system("setfacl -m u:65534:r '%s' 2>/dev/null" % p.replace("'", "'\\''"))
for d in reversed(dirs):                   # mtimes, deepest first
    for name in os.listdir(d):
        p = os.path.join(d, name)
        t = rnd.randint(10**9, 17 * 10**8) * 10**9 + rnd.randint(0, 10**9 - 1)
        os.utime(p, ns=(t, t), follow_symlinks=False)
    os.chmod(d, rnd.choice([0o755, 0o750, 0o700]))
PY
  tree_desc="generated tree (--quick)"
else
  tree_desc=$tree
fi
read -r tree_entries tree_bytes tree_kinds < <(find "$tree" -printf '%y %s\n' | awk '
  {n++; k[$1]++; if ($1 != "d") s += $2}
  END {printf "%d %d %d_files,_%d_directories,_%d_symlinks\n", n, s, k["f"], k["d"], k["l"]}')
tree_kinds=${tree_kinds//_/ }
tree_mib=$(du -sm "$tree" | cut -f1)
# Each filesystem holds at most the source, cp's copy and one offcopy copy
# at a time; btrfs also the subvolume source: 4x the tree plus slack.
img=$(( tree_mib * 4 + 1024 )); [ "$img" -ge 512 ] || img=512
say "tree $tree_desc: $tree_entries entries, $tree_mib MiB; filesystems ${FS[*]} ($img MiB each)"
"$here/scripts/fsfixture.sh" up "$dir" "$img" "${FS[@]}" >/dev/null 2>"$dir/fixture.err" \
  || { cat "$dir/fixture.err" >&2; say "could not set up the filesystems"; exit 1; }

has_btrfs=0
for fs in "${FS[@]}"; do
  say "copying the tree onto $fs"
  cp -a "$tree" "$dir/$fs/src"
  if [ "$fs" = btrfs ]; then
    has_btrfs=1
    btrfs subvolume create "$dir/btrfs/srcsv" >/dev/null
    cp -a "$tree/." "$dir/btrfs/srcsv/"
  fi
done
sync

# ---- helpers --------------------------------------------------------------
fingerprint() {  # dir -> "entries bytes" (bytes: apparent size of non-directories)
  find "$1" -printf '%y %s\n' | awk '{n++; if ($1 != "d") s += $2} END {printf "%d %d\n", n, s}'
}
listing() {  # dir -> sorted metadata of every entry, paths relative to dir
  (cd "$1" && find . \( -type d -printf '%P|%y|%m|%U|%G|%n|%T@||-\n' \) -o \
                     -printf '%P|%y|%m|%U|%G|%n|%T@|%l|%s\n' | LC_ALL=C sort)
}
xattrs() {  # dir -> sorted "path|name|hex value" of every extended attribute
  python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    for name in ([None] if d == root else []) + dirs + files:
        p = d if name is None else os.path.join(d, name)
        rel = os.path.relpath(p, root)
        try:
            names = os.listxattr(p, follow_symlinks=False)
        except OSError as e:
            out.append(f"{rel}|listxattr failed: {e.strerror}|"); continue
        for a in names:
            out.append(f"{rel}|{a}|{os.getxattr(p, a, follow_symlinks=False).hex()}")
out.sort()
sys.stdout.write("".join(l + "\n" for l in out))
PY
}
remove() {  # path (a destination under $dir)
  case $1 in "$dir"/*) ;; *) say "refusing to remove $1"; exit 1 ;; esac
  [ -e "$1" ] || [ -L "$1" ] || return 0
  if [ "$(stat -f -c %T "$1")" = btrfs ] && [ "$(stat -c %i "$1")" = 256 ]; then
    btrfs subvolume delete -c "$1" >/dev/null
    btrfs subvolume sync "$(dirname "$1")" >/dev/null   # let the cleaner finish
  else
    rm -rf "$1"
  fi
}
T="" RC=0
timed() {  # mnt errfile cmd... ; sets T (seconds) and RC
  local mnt=$1 err=$2 t0 t1; shift 2
  t0=$(date +%s%N)
  RC=0; "$@" >/dev/null 2>"$err" || RC=$?
  sync -f "$mnt"
  t1=$(date +%s%N)
  T=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", (b - a) / 1e9}')
}
results=$dir/results notes=$dir/notes
: >"$results"; : >"$notes"
note() { echo "$*" >>"$notes"; }

# contender name -> command in CMD (src dst appended)
CMD=()
cmd_of() {
  case $1 in
    cp|snap-cp) CMD=(cp -a) ;;
    offcopy) CMD=("$offcopy" -a --snapshot=never) ;;
    offcopy-j*) CMD=("$offcopy" -a --snapshot=never -j "${1#offcopy-j}") ;;
    snap-offcopy) CMD=("$offcopy" -a --snapshot=always) ;;
  esac
}

# One timed copy plus its checks.  case: row group (btrfs, btrfs-snapshot...)
run_one() {  # r fs case contender src ref_fingerprint
  local r=$1 fs=$2 case=$3 who=$4 src=$5 ref=$6 dst status=ok got
  dst=$dir/$fs/dst-$who
  remove "$dst"
  sync; echo 3 >/proc/sys/vm/drop_caches
  cmd_of "$who"
  timed "$dir/$fs" "$dir/err" "${CMD[@]}" "$src" "$dst"
  if [ "$RC" != 0 ]; then
    status=FAILED:exit
    note "$case $who run $r: exit status $RC: $(head -c 600 "$dir/err" | tr '\n' ' ')"
  elif [ ! -d "$dst" ]; then
    status=FAILED:missing
    note "$case $who run $r: no destination directory"
  else
    got=$(fingerprint "$dst")
    if [ "$got" != "$ref" ]; then
      status=FAILED:count
      note "$case $who run $r: entries/bytes $got, source has $ref"
    fi
  fi
  printf 'time\t%s\t%s\t%s\t%s\t%s\n' "$case" "$who" "$r" "$T" "$status" >>"$results"
  say "run $r/$runs $case $who: ${T}s $status"
}

full_check() {  # case contender ref_dst dst
  local case=$1 who=$2 ref=$3 dst=$4 status=ok
  [ -d "$dst" ] && [ -d "$ref" ] || return 0
  if ! diff -rq --no-dereference "$ref" "$dst" >"$dir/diff.out" 2>&1; then
    status=FAILED:diff
    note "$case $who: diff -rq --no-dereference vs cp's copy: $(wc -l <"$dir/diff.out") lines, first:"
    head -5 "$dir/diff.out" | sed "s|$dir/||g; s/^/    /" >>"$notes"
  fi
  listing "$ref" >"$dir/list.cp"; listing "$dst" >"$dir/list.oc"
  if ! cmp -s "$dir/list.cp" "$dir/list.oc"; then
    [ "$status" = ok ] && status=FAILED:meta
    note "$case $who: metadata listing (path|type|mode|uid|gid|nlink|mtime|link|size) differs from cp's copy, first lines (< cp, > offcopy):"
    { diff "$dir/list.cp" "$dir/list.oc" | grep '^[<>]' | LC_ALL=C sort -s -k1.3 | head -6 | sed 's/^/    /' >>"$notes"; } || true
  fi
  xattrs "$ref" >"$dir/xa.cp"; xattrs "$dst" >"$dir/xa.oc"
  if ! cmp -s "$dir/xa.cp" "$dir/xa.oc"; then
    [ "$status" = ok ] && status=FAILED:xattr
    note "$case $who: extended attributes (ACLs included) differ from cp's copy, first lines (< cp, > offcopy):"
    { diff "$dir/xa.cp" "$dir/xa.oc" | grep '^[<>]' | LC_ALL=C sort -s -k1.3 | head -6 | cut -c1-160 | sed 's/^/    /' >>"$notes"; } || true
  fi
  printf 'check\t%s\t%s\t0\t-\t%s\n' "$case" "$who" "$status" >>"$results"
  say "full check $case $who: $status"
}

# ---- the runs ---------------------------------------------------------------
CONT=(cp offcopy)
for j in "${JOBS[@]}"; do CONT+=("offcopy-j$j"); done
declare -A REF
for fs in "${FS[@]}"; do REF[$fs]=$(fingerprint "$dir/$fs/src"); done
[ "$has_btrfs" = 1 ] && REF[srcsv]=$(fingerprint "$dir/btrfs/srcsv")

reverse() { local i rev=(); for ((i = $#; i > 0; i--)); do rev+=("${!i}"); done; echo "${rev[@]}"; }
for ((r = 1; r <= runs; r++)); do
  for fs in "${FS[@]}"; do
    order=("${CONT[@]}")
    (( r % 2 == 0 )) && read -ra order <<<"$(reverse "${CONT[@]}")"
    for who in "${order[@]}"; do
      run_one "$r" "$fs" "$fs" "$who" "$dir/$fs/src" "${REF[$fs]}"
      # Run 1 goes cp first: keep cp's copy to compare each offcopy copy with.
      if [ "$r" = 1 ] && [ "$who" != cp ]; then
        full_check "$fs" "$who" "$dir/$fs/dst-cp" "$dir/$fs/dst-$who"
      fi
      if [ "$r" != 1 ] || [ "$who" != cp ]; then remove "$dir/$fs/dst-$who"; fi
    done
    remove "$dir/$fs/dst-cp"
    if [ "$fs" = btrfs ]; then
      order=(snap-cp snap-offcopy)
      (( r % 2 == 0 )) && order=(snap-offcopy snap-cp)
      for who in "${order[@]}"; do
        run_one "$r" btrfs btrfs-snapshot "$who" "$dir/btrfs/srcsv" "${REF[srcsv]}"
        [ "$r" = 1 ] && [ "$who" = snap-offcopy ] \
          && full_check btrfs-snapshot "$who" "$dir/btrfs/dst-snap-cp" "$dir/btrfs/dst-snap-offcopy"
        if [ "$r" != 1 ] || [ "$who" != snap-cp ]; then remove "$dir/btrfs/dst-$who"; fi
      done
      remove "$dir/btrfs/dst-snap-cp"
    fi
  done
done
elapsed=$(( $(date +%s) - start ))

# ---- the report -------------------------------------------------------------
{
  echo "Command: \`$cmdline\`"
  echo
  echo "Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); kernel $(uname -r); $(nproc) CPUs;" \
       "$(cp --version | head -1); offcopy: $offcopy"
  echo
  echo "Tree: $tree_desc: $tree_entries entries ($tree_kinds), $tree_bytes bytes in non-directories" \
       "(apparent sizes), $tree_mib MiB on disk." \
       "$runs interleaved runs; per run: destination removed, sync, caches dropped; timed: copy + sync -f." \
       "Wall time of the whole benchmark: ${elapsed}s."
  echo
  python3 - "$results" "$notes" <<'PY'
import sys, statistics, collections
times = collections.defaultdict(list)     # (case, who) -> [seconds]
bad = collections.defaultdict(set)        # (case, who) -> {reasons}
cases, whos = [], collections.defaultdict(list)
for line in open(sys.argv[1]):
    kind, case, who, run, t, status = line.rstrip("\n").split("\t")
    if case not in cases: cases.append(case)
    if who not in whos[case]: whos[case].append(who)
    if kind == "time": times[(case, who)].append(float(t))
    if status != "ok": bad[(case, who)].add(status.split(":", 1)[1])
def cell(key):
    x = sorted(times.get(key, []))
    if not x: return None, "n/a"
    m = statistics.median(x)
    s = f"{m:.3f} ({x[0]:.3f}–{x[-1]:.3f})"
    if bad[key]:
        return None, "FAILED (" + ",".join(sorted(bad[key])) + ") " + s
    return m, s
def label(case, who):
    if case.endswith("-snapshot"):
        return f"{case[:-9]} snapshot of a subvolume (--snapshot=always)"
    return case + (f" -j {who[9:]}" if who.startswith("offcopy-j") else "")
print("| case | cp -a median s (min–max) | offcopy -a median s (min–max) | ratio offcopy/cp | goal |")
print("|---|---|---|---|---|")
for case in cases:
    peer = "snap-cp" if case.endswith("-snapshot") else "cp"
    mc, sc = cell((case, peer))
    for who in whos[case]:
        if who == peer: continue
        mo, so = cell((case, who))
        ratio = "n/a" if not (mc and mo) else f"{mo / mc:.2f}" if mo / mc >= 0.1 else f"{mo / mc:.3f}"
        if case.endswith("-snapshot"):
            goal = "< 0.1 s: " + ("n/a" if mo is None else "yes" if mo < 0.1 else "no")
        elif case == "tmpfs":
            goal = "≤ 1.00: " + ("n/a" if ratio == "n/a" else "yes" if mo <= mc else "no")
        else:
            goal = "≤ 0.67: " + ("n/a" if ratio == "n/a" else "yes" if mo * 1.5 <= mc else "no")
        print(f"| {label(case, who)} | {sc} | {so} | {ratio} | {goal} |")
notes = open(sys.argv[2]).read().rstrip("\n")
if notes:
    print("\nFailures:\n")
    for l in notes.split("\n"):
        print(("- " + l) if not l.startswith("    ") else l)
PY
} >"$dir/report"
cat "$dir/report"
if [ -n "$out" ]; then cp "$dir/report" "$out"; fi
if grep -q FAILED "$dir/results"; then exit 1; fi
