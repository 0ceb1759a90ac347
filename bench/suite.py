#!/usr/bin/env python3
"""offcopy side by side with the copy tools people use, in one run.

    sudo bench/suite.py [--quick] [--all] [--runs N] [--offcopy PATH] [--out DIR]
                        [--workloads LIST] [--placements LIST] [--tools LIST]
                        [--tree DIR] [--timeout S] [--plan] [--render JSON]

Sets up loop-mounted btrfs, xfs (reflink=1), ext4 and tmpfs with
scripts/fsfixture.sh (torn down on exit, failure and Ctrl-C), measures the
machine's physical limits (memcpy bandwidth; sequential O_DIRECT write and
read next to the loop images' backing files), then for each workload makes
its source on every source filesystem and runs every tool on every placement
of the plan, interleaved: in run r each placement's tools go in an order
rotated by r, so drift hits all alike.  Per run:

    destination removed, sync, page cache dropped (echo 3 > drop_caches)
    TIMED: the tool's command (process start included) + syncfs(2) of the
           destination filesystem (`sync -f`: its writeback is part of the
           copy; dirty data elsewhere on the machine is not)
    check: the copy against the source (bench/digest.c: XXH3-128 of every
           file's content, types, sizes, symlink targets); a tool that exits
           non-zero, times out or leaves a wrong copy gets a FAILED run, not
           a time

Writes results.json (every run, the machine, the limits), results.md
(Markdown tables: median (min-max) and ratio to offcopy per cell) and one
PNG per workload (gnuplot, bench/plot.gp) to --out (default bench/results/).

--plan prints the plan and its time estimate and exits.  --quick: tiny
sizes, one run, three placements: a smoke test of ~1.5 minutes.  --all: every
workload on every placement (~3 h, see --plan --all).  Without either, the
default plan (DEFAULT_PLAN below) fits in 20 minutes on a 2-core machine.

Exit status: 0 every offcopy run checked out; 1 an offcopy run failed or
the suite could not run; 2 usage.  Failed runs of the other tools are
reported in the tables, not in the exit status (they are not ours to fix).
"""
import argparse
import ctypes
import json
import os
import random
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import suite_report  # noqa: E402  (lives next to this file)

# ---- what is measured ------------------------------------------------------

WORKLOADS = {
    "file1g": "one 1 GiB file of random data",
    "sparse8g": "one 8 GiB sparse file, 10% data in ~800 scattered extents",
    "usrshare": "a copy of /usr/share (files, directories, symlinks)",
    "small100k": "100,000 files of 4 KiB in directories of 1,000",
}
FILE_WORKLOADS = ("file1g", "sparse8g")

# "a>b": the source on a, the copy on b; a lone name: both on that filesystem.
PLACEMENTS = ["btrfs", "xfs", "ext4", "tmpfs", "ext4>xfs", "tmpfs>btrfs"]

TOOLS = ["offcopy", "offcopy-j1", "cp-auto", "cp-never", "rsync", "python", "rust", "tar"]

# The full run: what fits in 20 minutes on the project's 2-core machine
# (`--plan` prints the estimate).  The complete matrix (`--all`) takes ~3 h:
# five runs of eight tools cost ~4-18 minutes per tree cell and ~6-9 per
# sparse-file cell (the tools that write holes out write 8 GiB each run),
# so each workload gets the one placement where its result says the most:
#   file1g    ext4->xfs: a host copy between two disks (no clone possible)
#   sparse8g  xfs: clones, and who keeps the holes when copying the data
#   usrshare  tmpfs: per-file cost with no device in the way
#   small100k tmpfs: the same with nothing but small files
# Other cells: --workloads/--placements, in runs of their own.
DEFAULT_PLAN = {
    "file1g": ["ext4>xfs"],
    "sparse8g": ["xfs"],
    "usrshare": ["tmpfs"],
    "small100k": ["tmpfs"],
}
# --quick: all four filesystems, within (a clone) and across (both host
# copies the issue names), one run of tiny sizes: ~1.5 minutes.
QUICK_PLACEMENTS = ["xfs", "ext4>xfs", "tmpfs>btrfs"]
# Never the 8 GiB sparse file within tmpfs: the tools that write holes out
# would put 8 GiB into RAM.
NEVER = {("sparse8g", "tmpfs")}

FULL = dict(runs=5, file_bytes=1 << 30, sparse_bytes=8 << 30, sparse_fraction=0.10,
            small_files=100_000, small_size=4096, tree_files=57_000, raw_io_mib=1024,
            membw_mib=256, membw_seconds=1.0)
QUICK = dict(runs=1, file_bytes=32 << 20, sparse_bytes=128 << 20, sparse_fraction=0.10,
             small_files=2_000, small_size=4096, tree_files=1_000, raw_io_mib=64,
             membw_mib=64, membw_seconds=0.3)

# /usr/share on Debian 12 (a build machine), regular files by size:
# bit_length(size) -> number of files.  The generated tree (no /usr/share,
# or --quick) draws its file sizes from this.
USRSHARE_SIZES = {0: 143, 1: 1, 2: 12, 3: 11, 4: 24, 5: 131, 6: 691, 7: 569, 8: 2105,
                  9: 5389, 10: 11680, 11: 15903, 12: 8571, 13: 4403, 14: 3474, 15: 2833,
                  16: 1510, 17: 1163, 18: 582, 19: 222, 20: 91, 21: 19, 22: 15, 23: 7,
                  24: 1, 25: 1, 27: 1}
USRSHARE_DIRS_PER_FILE = 4693 / 59552
USRSHARE_LINKS_PER_FILE = 4123 / 59552


def src_fs(placement):
    return placement.split(">")[0]


def dst_fs(placement):
    return placement.split(">")[-1]


def label(placement):
    return placement.replace(">", "→")


def tools_for(workload, tools):
    # -j is how many files offcopy copies at once: one file is one job, so
    # offcopy -j1 would repeat offcopy's row on the single-file workloads.
    if workload in FILE_WORKLOADS:
        return [t for t in tools if t != "offcopy-j1"]
    return list(tools)


def rotated(items, r):
    k = r % len(items)
    return items[k:] + items[:k]


# ---- the time estimate ------------------------------------------------------
# Only for the estimate printed before a run.  The rates come from
# docs/benchmarks.md (1 GiB copies, /usr/share with offcopy and cp, the
# disk's dd rates) and from --quick runs for the other tools' per-file cost.

COPY_BW = {"btrfs": 0.45e9, "xfs": 0.45e9, "ext4": 0.45e9, "tmpfs": 1.5e9,
           "ext4>xfs": 0.42e9, "tmpfs>btrfs": 0.5e9}      # bytes/s, sync included
PER_ENTRY = {"offcopy": 25e-6, "offcopy-j1": 35e-6, "cp-auto": 40e-6, "cp-never": 45e-6,
             "rsync": 90e-6, "python": 140e-6, "rust": 40e-6, "tar": 55e-6}  # s, on tmpfs
FS_FACTOR = {"tmpfs": 1.0, "btrfs": 2.5, "xfs": 2.4, "ext4": 3.5, "ext4>xfs": 3.5,
             "tmpfs>btrfs": 2.2}                           # per-entry cost vs tmpfs
DROP_S = 0.5  # sync + drop_caches before each run, measured: 0.4-0.5 s
REF_DISK_WRITE = 486e6  # the disk's O_DIRECT write rate behind COPY_BW (docs/bench/history.md)


def clones(tool, placement):
    """Whether the tool's copy is a reflink there (no data moves)."""
    return placement in ("btrfs", "xfs") and tool in ("offcopy", "offcopy-j1", "cp-auto", "rust")


def keeps_holes(tool, placement):
    # rust: copy_file_range keeps holes only as a clone; python (sendfile),
    # rsync -a (no -S) and tar (no -S) write them out as zeros.
    return clones(tool, placement) or tool in ("offcopy", "offcopy-j1", "cp-auto", "cp-never")


def shape(workload, sz):
    """(entries, logical bytes, data bytes) of a workload at sizes sz."""
    if workload == "file1g":
        return 1, sz["file_bytes"], sz["file_bytes"]
    if workload == "sparse8g":
        return 1, sz["sparse_bytes"], int(sz["sparse_bytes"] * sz["sparse_fraction"])
    if workload == "small100k":
        n = sz["small_files"]
        return n + n // 1000 + 1, n * sz["small_size"], n * sz["small_size"]
    n = sz["tree_files"]  # usrshare: counted when copied, else ~14.5 kB per file
    entries = sz.get("tree_entries") or int(n * (1 + USRSHARE_DIRS_PER_FILE + USRSHARE_LINKS_PER_FILE))
    data = sz.get("tree_bytes") or n * 14_500
    return entries, data, data


def estimate_run(workload, placement, tool, sz, disk=1.0):
    """disk: this machine's disk rate relative to REF_DISK_WRITE."""
    entries, logical, data = shape(workload, sz)
    clone = clones(tool, placement)
    moved = 0 if clone else data if keeps_holes(tool, placement) else logical
    copy = 0.03 + moved / (COPY_BW[placement] * (1 if placement == "tmpfs" else disk))
    if workload not in FILE_WORKLOADS:
        copy += entries * PER_ENTRY[tool] * FS_FACTOR[placement]
    disk_dst = dst_fs(placement) != "tmpfs"
    cached = not clone or not disk_dst       # is the copy in the page cache for the check?
    check = ((moved or data) / (2.4e9 if cached else 0.8e9) + entries * (5e-6 if cached else 60e-6)
             + (logical - (moved or data)) / 10e9)   # holes are hashed as zeros, not read
    remove = 0.05 + entries * (25e-6 if disk_dst else 5e-6)
    drop = DROP_S + (entries * 10e-6 if disk_dst else 0)   # + writeback of the removal
    return copy + check + remove + drop


def estimate_setup(workload, placements, sz):
    entries, logical, data = shape(workload, sz)
    sources = sorted({src_fs(p) for p in placements})
    make = data / 0.4e9 + entries * 40e-6           # urandom, file creation
    per_copy = min(data / COPY_BW[s] + entries * 40e-6 * FS_FACTOR[s] for s in sources)
    check = data / 2e9 + entries * 10e-6
    return make + (len(sources) - 1) * per_copy + len(sources) * check + 1


def estimate(plan, tools, runs, sz, disk=1.0):
    """Seconds: (total, {workload: (setup, runs_seconds, number_of_runs)})."""
    per = {}
    for wl, pls in plan.items():
        ts = tools_for(wl, tools)
        run_s = runs * sum(estimate_run(wl, p, t, sz, disk) for p in pls for t in ts)
        per[wl] = (estimate_setup(wl, pls, sz), run_s, runs * len(pls) * len(ts))
    fixed = 20 + 2 * sz["raw_io_mib"] / 450 + sz["membw_seconds"]  # fixture, limits, builds
    return fixed + sum(s + r for s, r, _ in per.values()), per


def fs_size_mib(plan, tools, sz):
    """Image size for scripts/fsfixture.sh: one source plus one copy, with the
    copy written out in full when a tool does not keep holes; all four
    filesystems get the same size (tmpfs's is only a cap)."""
    need = 0
    for wl, pls in plan.items():
        entries, logical, data = shape(wl, sz)
        for p in pls:
            dense = any(not keeps_holes(t, p) for t in tools_for(wl, tools))
            on_dst = (logical if dense else data) + (data if src_fs(p) == dst_fs(p) else 0)
            need = max(need, on_dst + entries * 4096)
    return max(512, int(need * 1.25 / 2**20) + 1024)


def print_plan(plan, tools, runs, sz, quick):
    total, per = estimate(plan, tools, runs, sz)
    print(f"Plan ({'--quick' if quick else 'full'}): {runs} run{'s' * (runs > 1)} per cell; "
          f"tools: {', '.join(tools)}")
    for wl, pls in plan.items():
        setup, run_s, n = per[wl]
        print(f"  {wl:<10} on {', '.join(label(p) for p in pls):<34} {n:4d} runs, "
              f"~{(setup + run_s) / 60:5.1f} min (sources {setup:.0f} s)")
    print(f"  filesystems: {fs_size_mib(plan, tools, sz)} MiB each")
    print("Method: before each run the previous copy is removed, then sync and "
          "echo 3 > /proc/sys/vm/drop_caches;\n  timed: the command plus syncfs(2) of the "
          "destination filesystem (sync -f); each copy is then checked against the source")
    print(f"Estimated time: ~{total / 60:.1f} min ({total:.0f} s)", flush=True)
    return total


# ---- helpers: compiled programs, processes, caches ---------------------------

def build_helpers(bindir, want_rust):
    """Compiles digest, membw and (if rustc is there) rust_copy.  Returns
    {name: path or None} and notes on what was skipped."""
    bins, notes = {}, []
    if not os.path.exists("/usr/include/xxhash.h"):
        raise SystemExit("suite: bench/digest.c needs xxhash.h: apt-get install libxxhash-dev")
    for name in ("digest", "membw"):
        out = os.path.join(bindir, name)
        sh(["cc", "-O2", "-o", out, os.path.join(HERE, name + ".c")])
        bins[name] = out
    bins["rust_copy"] = None
    if want_rust:
        rustc = shutil.which("rustc") or shutil.which(os.path.expanduser("~/.cargo/bin/rustc"))
        if rustc:
            out = os.path.join(bindir, "rust_copy")
            sh([rustc, "-O", "-o", out, os.path.join(HERE, "rust_copy.rs")],
               stdout=subprocess.DEVNULL)
            bins["rust_copy"] = out
            bins["rustc"] = rustc
        else:
            notes.append("rust: skipped, no rustc installed (rustup or Debian's rustc)")
    return bins, notes


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "?"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


_libc = ctypes.CDLL(None, use_errno=True)


def syncfs(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs " + path)
    finally:
        os.close(fd)


def drop_caches():
    # A global sync first: other processes' dirty data would otherwise be
    # written back during the next timed copy, on the same disk.
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def run_timed(cmd, sync_path, timeout):
    """Runs cmd, then syncfs(sync_path); returns (seconds, error or None)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except BaseException as e:  # timeout or Ctrl-C: kill the whole pipeline
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:  # it had just finished
            pass
        p.communicate()
        if isinstance(e, subprocess.TimeoutExpired):
            return None, f"timed out after {timeout:.0f} s"
        raise
    syncfs(sync_path)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        msg = err.decode(errors="replace").strip().replace("\n", " | ")
        return None, f"exit status {p.returncode}: {msg[:300]}"
    return t, None


def remove(path):
    if os.path.lexists(path):
        sh(["rm", "-rf", "--one-file-system", path])


# ---- the tools --------------------------------------------------------------

def command(tool, tree, src, dst, bins, offcopy):
    """The command line that copies src to dst (dst does not exist yet)."""
    py = sys.executable
    if tool == "offcopy":
        return [offcopy, "-a", src, dst] if tree else [offcopy, src, dst]
    if tool == "offcopy-j1":
        return [offcopy, "-a", "-j1", src, dst]
    if tool in ("cp-auto", "cp-never"):
        return ["cp"] + (["-a"] if tree else []) + ["--reflink=" + tool[3:], src, dst]
    if tool == "rsync":
        return ["rsync", "-a", src + "/", dst + "/"] if tree else ["rsync", "-a", src, dst]
    if tool == "python":
        call = ("shutil.copytree(sys.argv[1], sys.argv[2], symlinks=True)" if tree
                else "shutil.copyfile(sys.argv[1], sys.argv[2])")
        return [py, "-c", "import shutil, sys; " + call, src, dst]
    if tool == "rust":
        return [bins["rust_copy"], src, dst]
    if tool == "tar":
        pipe = 'set -o pipefail; tar -C "$1" -cf - "$2" | tar -C "$3" -xf -'
        return ["bash", "-c", pipe, "tar", os.path.dirname(src), os.path.basename(src),
                os.path.dirname(dst)]
    raise ValueError(tool)


TOOL_NOTES = {
    "offcopy": "`offcopy SRC DST`; trees `offcopy -a` (its default -j: one thread per CPU)",
    "offcopy-j1": "`offcopy -a -j1` (trees only: -j is how many files are copied at once, "
                  "so it changes nothing for one file)",
    "cp-auto": "GNU `cp --reflink=auto` (its default); trees `cp -a --reflink=auto`",
    "cp-never": "GNU `cp --reflink=never` (read/write, holes kept); trees `cp -a --reflink=never`",
    "rsync": "`rsync -a SRC DST`; trees `rsync -a SRC/ DST/` (no -S: holes are written out)",
    "python": "`shutil.copyfile` (sendfile); trees `shutil.copytree(symlinks=True)` (copy2: "
              "content, mode, times, xattrs)",
    "rust": "`std::fs::copy` (bench/rust_copy.rs, rustc -O); trees: a recursive walk calling "
            "it per file, symlinks recreated (no times, owners, xattrs)",
    "tar": "`tar -C SRCDIR -cf - NAME | tar -C DSTDIR -xf -` (no -S: holes are written out)",
}


# ---- workloads: making the sources -------------------------------------------

def source_name(workload):
    return {"file1g": "file1g.bin", "sparse8g": "sparse8g.img", "usrshare": "share",
            "small100k": "small"}[workload]


def write_random(path, size):
    with open(path, "wb") as f:
        while size > 0:
            n = min(size, 1 << 20)
            f.write(os.urandom(n))
            size -= n


def make_sparse(path, size, fraction, rnd):
    """~fraction of size as data, in extents of 64 KiB-2 MiB (1 MiB on
    average), one at a random place in each of size/extents stripes."""
    align = 64 << 10
    extents = max(4, round(size * fraction / (1 << 20)))
    stripe = size // extents
    mean = size * fraction / extents
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(extents):
            length = max(align, int(rnd.uniform(0.06, 1.94) * mean) // align * align)
            length = min(length, (stripe - align) // align * align)
            base = -(-i * stripe // align) * align
            off = base + rnd.randrange(0, max(1, stripe - length - align)) // align * align
            f.seek(off)
            f.write(os.urandom(length))


def make_small(root, files, size):
    for i in range(files):
        d = os.path.join(root, "d%03d" % (i // 1000))
        if i % 1000 == 0:
            os.makedirs(d)
        with open(os.path.join(d, "f%04d" % (i % 1000)), "wb") as f:
            f.write(os.urandom(size))


def make_tree(root, files, rnd):
    """A tree with /usr/share's file size distribution, directory and
    symlink counts: for machines without /usr/share, and for --quick."""
    buckets, weights = zip(*USRSHARE_SIZES.items())
    dirs, paths = [root], []
    os.makedirs(root)
    for i in range(max(1, int(files * USRSHARE_DIRS_PER_FILE))):
        parent = rnd.choice(dirs[-50:] + dirs[:1])    # deep and broad
        dirs.append(os.path.join(parent, "dir%04d" % i))
        os.mkdir(dirs[-1])
    for i in range(files):
        b = rnd.choices(buckets, weights)[0]
        size = 0 if b == 0 else rnd.randrange(1 << (b - 1), 1 << b)
        paths.append(os.path.join(rnd.choice(dirs), "file%05d.dat" % i))
        write_random(paths[-1], size)
    for i in range(int(files * USRSHARE_LINKS_PER_FILE)):
        d = rnd.choice(dirs)
        os.symlink(os.path.relpath(rnd.choice(paths), d), os.path.join(d, "link%04d" % i))


def make_source(workload, path, sz, tree_src):
    rnd = random.Random(20261125)
    if workload == "file1g":
        write_random(path, sz["file_bytes"])
    elif workload == "sparse8g":
        make_sparse(path, sz["sparse_bytes"], sz["sparse_fraction"], rnd)
    elif workload == "small100k":
        make_small(path, sz["small_files"], sz["small_size"])
    elif tree_src:
        sh(["cp", "-a", "--reflink=never", tree_src, path])
    else:
        make_tree(path, sz["tree_files"], rnd)


# ---- checking copies -----------------------------------------------------------

def digest(bins, path, tree):
    """A file: (size, allocated bytes, hash).  A tree: sorted entry lines."""
    out = subprocess.run([bins["digest"]] + (["-r"] if tree else []) + [path],
                         capture_output=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.decode(errors="replace").strip()[:300])
    if tree:
        return sorted(out.stdout.split(b"\n")[:-1])
    size, alloc, h = out.stdout.split()
    return int(size), int(alloc), h.decode()


def compare(ref, got, tree):
    """None if got is a right copy of ref, else why not."""
    if not tree:
        if (got[0], got[2]) == (ref[0], ref[2]):
            return None
        return f"wrong copy: size {got[0]} hash {got[2]}, source size {ref[0]} hash {ref[2]}"
    if got == ref:
        return None
    missing, extra = sorted(set(ref) - set(got)), sorted(set(got) - set(ref))
    if not missing and not extra:
        return f"wrong copy: {len(got)} entries, the source has {len(ref)}"
    first = (missing or extra)[0].decode(errors="replace").replace("\t", " ")
    return (f"wrong copy: {len(missing)} source entries missing or different, {len(extra)} "
            f"unexpected; first: {'-' if missing else '+'} {first[:200]}")


# ---- the inner run (under scripts/fsfixture.sh) ---------------------------------

def log(start, msg):
    print(f"[{time.time() - start:6.0f}s] {msg}", flush=True)


def machine_info(cfg, mounts, fixture_dir):
    def first(path, key):
        try:
            for line in open(path):
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"
    osname = "?"
    if os.path.exists("/etc/os-release"):
        osname = dict(l.rstrip("\n").split("=", 1) for l in open("/etc/os-release")
                      if "=" in l).get("PRETTY_NAME", "?").strip('"')
    backing = subprocess.run(["df", "--output=source,fstype", fixture_dir], capture_output=True,
                             text=True).stdout.splitlines()[-1].split()
    mopts = {}
    for line in open("/proc/mounts"):
        dev, mnt, fstype, opts = line.split()[:4]
        for fs, m in mounts.items():
            if mnt == m:
                mopts[fs] = f"{fstype} {opts}" + (f" on {dev}" if dev.startswith("/dev/") else "")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "kernel": os.uname().release, "os": osname,
        "cpu": first("/proc/cpuinfo", "model name"), "cpus": os.cpu_count(),
        "memory_kib": int(first("/proc/meminfo", "MemTotal").split()[0]),
        "backing": " ".join(backing), "mounts": mopts,
        "versions": {
            "offcopy": version([cfg["offcopy"], "--version"]),
            "cp": version(["cp", "--version"]), "rsync": version(["rsync", "--version"]),
            "tar": version(["tar", "--version"]), "python": sys.version.split()[0],
            "rustc": version([cfg["bins"]["rustc"], "--version"]) if cfg["bins"].get("rustc")
            else "not installed",
            "btrfs-progs": version(["mkfs.btrfs", "--version"]),
            "xfsprogs": version(["mkfs.xfs", "-V"]), "e2fsprogs": version(["mke2fs", "-V"]),
        },
    }


def dd_rate(args):
    """Runs dd, returns bytes per second from its last line."""
    err = subprocess.run(["dd"] + args, capture_output=True, text=True, check=True).stderr
    m = re.search(r"^(\d+) bytes .* copied, ([\d.]+) s", err, re.M)
    return int(m.group(1)) / float(m.group(2))


def measure_limits(cfg, mounts, fixture_dir):
    """The physical limits: memcpy (tmpfs copies) and sequential O_DIRECT
    write and read of a file beside the loop images (host copies)."""
    sz = cfg["sizes"]
    membw = float(subprocess.run([cfg["bins"]["membw"], str(sz["membw_mib"]),
                                  str(sz["membw_seconds"])], capture_output=True, text=True,
                                 check=True).stdout)
    # Random data from tmpfs, so a disk that compresses or dedups zeros cannot
    # flatter the write; the scratch file sits beside the images, on their disk.
    pattern, scratch = os.path.join(mounts["tmpfs"], "raw.pattern"), os.path.join(fixture_dir, "raw.test")
    n = sz["raw_io_mib"]
    write_random(pattern, n << 20)
    try:
        write = dd_rate([f"if={pattern}", f"of={scratch}", "bs=1M", f"count={n}",
                         "oflag=direct", "conv=fsync"])
        drop_caches()
        read = dd_rate([f"if={scratch}", "of=/dev/null", "bs=1M", "iflag=direct"])
    finally:
        for p in (pattern, scratch):
            if os.path.exists(p):
                os.unlink(p)
    return {"memcpy_Bps": membw, "disk_write_Bps": write, "disk_read_Bps": read,
            "raw_io_mib": n,
            "how": {"memcpy": f"bench/membw.c: memcpy of {sz['membw_mib']} MiB, best pass, one thread",
                    "disk": f"dd bs=1M count={n} oflag=direct conv=fsync, then iflag=direct, "
                            f"on a file beside the loop images ({fixture_dir})"}}


def setup_sources(workload, placements, cfg, mounts, start):
    """Makes the source on each source filesystem; returns ({fs: path},
    the reference digest, the source's counts for the report)."""
    sz, bins, tree = cfg["sizes"], cfg["bins"], workload not in FILE_WORKLOADS
    paths, ref = {}, None
    for fs in sorted({src_fs(p) for p in placements}, key=lambda f: f != "tmpfs"):
        os.makedirs(os.path.join(mounts[fs], "src"), exist_ok=True)
        path = os.path.join(mounts[fs], "src", source_name(workload))
        if not paths:
            log(start, f"{workload}: making the source on {fs}")
            make_source(workload, path, sz, cfg["tree_source"] if workload == "usrshare" else None)
        else:  # the same bytes on the next filesystem
            sh(["cp", "-a", "--reflink=never", next(iter(paths.values())), path])
        paths[fs] = path
        # Digest every source copy: proves they are alike, and reads each once
        # (relatime then leaves atimes alone, so copies do not dirty sources).
        d = digest(bins, path, tree)
        if ref is not None and compare(ref, d, tree):
            raise RuntimeError(f"{workload}: the source on {fs} differs from the first")
        ref = ref or d
    if tree:
        sizes = [int(l.split(b"\t")[1]) for l in ref if l.startswith(b"f\t")]
        shape_ = {"entries": len(ref), "files": len(sizes), "data_bytes": sum(sizes),
                  "logical_bytes": sum(sizes)}
    else:  # data: what the first source (tmpfs when there is one) allocates
        shape_ = {"entries": 1, "files": 1, "data_bytes": ref[1], "logical_bytes": ref[0]}
    return paths, ref, shape_


def one_run(workload, placement, tool, r, src, ref, cfg, mounts):
    tree = workload not in FILE_WORKLOADS
    dst_dir = os.path.join(mounts[dst_fs(placement)], "dst-" + tool)
    dst = os.path.join(dst_dir, source_name(workload))
    t0 = time.perf_counter()
    remove(dst_dir)
    os.mkdir(dst_dir)
    drop_caches()
    cmd = command(tool, tree, src, dst, cfg["bins"], cfg["offcopy"])
    t1 = time.perf_counter()
    seconds, err = run_timed(cmd, dst_dir, cfg["timeout"])
    rec = {"workload": workload, "placement": placement, "tool": tool, "run": r,
           "seconds": seconds, "status": "ok", "reason": None}
    t2 = time.perf_counter()
    if err is None:
        try:
            got = digest(cfg["bins"], dst, tree)
            err = compare(ref, got, tree)
            if not tree:
                rec["allocated_bytes"] = got[1]
        except RuntimeError as e:
            err = f"wrong copy: cannot read it: {e}"
    if err is not None:
        rec.update(seconds=None, status="failed", reason=err)
    t3 = time.perf_counter()
    remove(dst_dir)
    # Where the time outside the timed region goes: for the estimate's model.
    rec["overhead_s"] = {"prepare": t1 - t0, "check": t3 - t2,
                         "remove": time.perf_counter() - t3}
    return rec


def inner(cfg_path):
    cfg = json.load(open(cfg_path))
    start = cfg["start"]
    mounts = dict(kv.split("=", 1) for kv in os.environ["OFFCOPY_TEST_MOUNTS"].split())
    fixture_dir = os.path.dirname(mounts["btrfs"])
    out = {"command": cfg["command"], "started": start, "quick": cfg["quick"], "runs": cfg["runs"],
           "plan": cfg["plan"], "tools": cfg["tools"], "notes": cfg["notes"],
           "estimate_s": cfg["estimate_s"], "sizes": cfg["sizes"], "tool_notes": TOOL_NOTES,
           "machine": machine_info(cfg, mounts, fixture_dir), "workloads": {}, "runs_list": []}
    log(start, "measuring the physical limits (memcpy, O_DIRECT write and read)")
    out["limits"] = measure_limits(cfg, mounts, fixture_dir)
    lim = out["limits"]
    log(start, f"memcpy {lim['memcpy_Bps'] / 1e9:.1f} GB/s, disk write "
               f"{lim['disk_write_Bps'] / 1e6:.0f} MB/s, read {lim['disk_read_Bps'] / 1e6:.0f} MB/s")
    # The estimate assumed the disk of docs/bench/history.md (2026-11-25);
    # a busy or slower disk stretches every disk-bound run, so say what to expect now.
    disk = lim["disk_write_Bps"] / REF_DISK_WRITE
    if not cfg["quick"] and abs(disk - 1) > 0.15:
        total, _ = estimate(cfg["plan"], cfg["tools"], cfg["runs"], cfg["sizes"], disk)
        log(start, f"the disk writes at {disk:.2f}x the rate the estimate assumed: "
                   f"expect ~{total / 60:.1f} min in all")
    try:
        for workload, placements in cfg["plan"].items():
            run_workload(workload, placements, cfg, mounts, out)
            out["elapsed_s"] = time.time() - start
            suite_report.write_json(out, cfg["out"])
    finally:  # stopped or failed: keep what was measured, for the report
        out["elapsed_s"] = time.time() - start
        suite_report.write_json(out, cfg["out"])
    return 0


def run_workload(workload, placements, cfg, mounts, out):
    start = cfg["start"]
    paths, ref, shape_ = setup_sources(workload, placements, cfg, mounts, start)
    out["workloads"][workload] = dict(shape_, description=cfg["descriptions"][workload])
    tools = tools_for(workload, cfg["tools"])
    for r in range(1, cfg["runs"] + 1):
        for p in placements:
            for tool in rotated(tools, r - 1):
                rec = one_run(workload, p, tool, r, paths[src_fs(p)], ref, cfg, mounts)
                out["runs_list"].append(rec)
                t = f"{rec['seconds']:.3f} s" if rec["seconds"] is not None else rec["reason"]
                log(start, f"{workload} {label(p)} run {r}/{cfg['runs']} {tool}: {t}")
    for path in paths.values():
        remove(os.path.dirname(path))


# ---- the outer run ------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 run: a smoke test")
    ap.add_argument("--all", action="store_true", help="every workload on every placement")
    ap.add_argument("--runs", type=int, help="runs per cell (default 5, --quick 1)")
    ap.add_argument("--offcopy", default=os.path.join(ROOT, "build", "offcopy"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    ap.add_argument("--workloads", help="comma list of " + ",".join(WORKLOADS))
    ap.add_argument("--placements", help="comma list of " +
                    ",".join(p.replace(">", ":") for p in PLACEMENTS) + " (a:b: from a to b)")
    ap.add_argument("--tools", help="comma list of " + ",".join(TOOLS))
    ap.add_argument("--tree", help="the usrshare source (default /usr/share; 'generate': a "
                                   "generated tree with its size distribution)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run (default 300)")
    ap.add_argument("--plan", action="store_true", help="print the plan and estimate, exit")
    ap.add_argument("--render", metavar="JSON", help="only rebuild results.md and plots from JSON")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.runs is not None and a.runs < 1:
        ap.error("--runs wants a positive number")
    if a.placements:  # "ext4:xfs" (or ext4-xfs, ext4→xfs): no '>' to quote in a shell
        a.placements = re.sub(r"[:→-]", ">", a.placements)
    for opt, allowed in (("workloads", WORKLOADS), ("placements", PLACEMENTS), ("tools", TOOLS)):
        val = getattr(a, opt)
        if val:
            bad = [v for v in val.split(",") if v not in allowed]
            if bad:
                ap.error(f"--{opt}: unknown {', '.join(bad)}")
    return a


def make_plan(a):
    if a.all:
        plan = {w: list(PLACEMENTS) for w in WORKLOADS}
    elif a.quick:
        plan = {w: list(QUICK_PLACEMENTS) for w in WORKLOADS}
    else:
        plan = {w: list(p) for w, p in DEFAULT_PLAN.items()}
    if a.workloads:
        plan = {w: plan.get(w, list(PLACEMENTS)) for w in a.workloads.split(",")}
    if a.placements:
        keep = a.placements.split(",")
        plan = {w: ([p for p in PLACEMENTS if p in keep]) for w in plan}
    plan = {w: [p for p in ps if (w, p) not in NEVER] for w, ps in plan.items()}
    return {w: ps for w, ps in plan.items() if ps}


def count_tree(path):
    """(files, entries, bytes) of a tree, for the estimate."""
    files = entries = size = 0
    for d, dirs, names in os.walk(path):
        entries += len(dirs) + len(names)
        for n in names:
            st = os.lstat(os.path.join(d, n))
            if stat.S_ISREG(st.st_mode):
                files, size = files + 1, size + st.st_size
    return files, entries, size


def tree_source(a):
    if a.quick and not a.tree:
        return None, f"generated: {QUICK['tree_files']} files with /usr/share's size distribution"
    t = a.tree or "/usr/share"
    if t == "generate" or not os.path.isdir(t):
        why = "" if t == "generate" else f" ({t} is absent)"
        return None, f"generated{why}: {FULL['tree_files']} files with /usr/share's size distribution"
    return os.path.realpath(t), f"a copy of {os.path.realpath(t)}"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv):
    # SIGTERM (a CI timeout, kill) takes Ctrl-C's path: the running tool is
    # killed and scripts/fsfixture.sh tears the filesystems down.
    signal.signal(signal.SIGTERM, _interrupt)
    a = parse_args(argv)
    if a.inner:
        return inner(a.inner)
    if a.render:
        return suite_report.render(json.load(open(a.render)), os.path.dirname(a.render) or ".")
    sz = dict(QUICK if a.quick else FULL)
    runs = a.runs or sz["runs"]
    plan = make_plan(a)
    tree_src, tree_desc = tree_source(a)
    if tree_src and "usrshare" in plan:
        sz["tree_files"], sz["tree_entries"], sz["tree_bytes"] = count_tree(tree_src)
    tools = a.tools.split(",") if a.tools else list(TOOLS)
    if not plan:
        print("suite: nothing to run (no placement left for these workloads)", file=sys.stderr)
        return 2
    est = print_plan(plan, tools, runs, sz, a.quick)
    if a.plan:
        return 0
    if os.geteuid() != 0:
        print("suite: needs root (loop mounts, drop_caches): run it with sudo", file=sys.stderr)
        return 2
    offcopy = os.path.abspath(a.offcopy)
    if not os.access(offcopy, os.X_OK):
        print(f"suite: no offcopy binary at {offcopy} (build it first, or --offcopy)",
              file=sys.stderr)
        return 2
    notes = []
    if "rsync" in tools and not shutil.which("rsync"):
        tools.remove("rsync")
        notes.append("rsync: skipped, not installed (apt-get install rsync)")
    work = tempfile.mkdtemp(prefix="offcopy-suite.")
    try:
        bins, more = build_helpers(work, "rust" in tools)
        notes += more
        if bins["rust_copy"] is None and "rust" in tools:
            tools.remove("rust")
        for n in notes:
            print("note: " + n)
        desc = dict(WORKLOADS, usrshare=f"{tree_desc} (files, directories, symlinks)")
        if a.quick:
            desc = quick_descriptions(desc, sz)
        cfg = {"command": "bench/suite.py " + " ".join(shlex.quote(x) for x in argv),
               "quick": a.quick, "runs": runs, "plan": plan, "tools": tools, "notes": notes,
               "sizes": sz, "bins": bins, "offcopy": offcopy, "out": os.path.abspath(a.out),
               "timeout": a.timeout, "tree_source": tree_src, "descriptions": desc,
               "estimate_s": est, "start": time.time()}
        os.makedirs(cfg["out"], exist_ok=True)
        cfg_path = os.path.join(work, "config.json")
        json.dump(cfg, open(cfg_path, "w"))
        size = fs_size_mib(plan, tools, sz)
        fixture = [os.path.join(ROOT, "scripts", "fsfixture.sh"), "run", str(size), "--",
                   sys.executable, os.path.abspath(__file__), "--inner", cfg_path]
        rc = run_fixture(fixture)
        results = load_results(cfg)
        if results is None:
            print(f"suite: no results (status {rc})", file=sys.stderr)
            return 1
        status = suite_report.render(results, cfg["out"], echo=True)
        if rc != 0:
            print(f"suite: the run stopped early (status {rc}); the report above has what it "
                  "measured", file=sys.stderr)
        return 1 if rc != 0 else status
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_fixture(cmd):
    """Runs cmd and waits for it, through Ctrl-C too: subprocess.run would
    SIGKILL scripts/fsfixture.sh on the first Ctrl-C, before its trap has
    unmounted and detached anything."""
    p = subprocess.Popen(cmd)
    while True:
        try:
            return p.wait()
        except KeyboardInterrupt:
            print("suite: interrupted: waiting for the filesystems to be torn down",
                  file=sys.stderr, flush=True)


def load_results(cfg):
    """This run's results.json (after every finished workload), or None."""
    try:
        results = json.load(open(os.path.join(cfg["out"], "results.json")))
    except (OSError, ValueError):
        return None
    return results if results.get("started") == cfg["start"] else None


def quick_descriptions(desc, sz):
    mib = lambda b: f"{b / 2**20:.0f} MiB"
    return dict(desc,
                file1g=f"one {mib(sz['file_bytes'])} file of random data (--quick)",
                sparse8g=f"one {mib(sz['sparse_bytes'])} sparse file, 10% data in scattered "
                         "extents (--quick)",
                small100k=f"{sz['small_files']:,} files of 4 KiB (--quick)")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("suite: interrupted", file=sys.stderr)
        sys.exit(130)
