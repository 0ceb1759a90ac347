"""Reports of bench/suite.py: results.json, runs.csv, results.md and plots.

render() works from results.json alone, so `bench/suite.py --render
bench/results/results.json` rebuilds the table and plots of an old run.
"""
import csv
import json
import os
import shutil
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
# One colour per tool in every plot, whichever tools a plot has.
COLORS = {"offcopy": "#1f77b4", "offcopy-j1": "#aec7e8", "cp-auto": "#ff7f0e",
          "cp-never": "#ffbb78", "rsync": "#2ca02c", "python": "#d62728", "rust": "#8c564b",
          "tar": "#9467bd", "bandwidth floor": "#b0b0b0"}


def label(placement):
    return placement.replace(">", "→")


def write_json(results, outdir):
    os.makedirs(outdir, exist_ok=True)
    tmp = os.path.join(outdir, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, os.path.join(outdir, "results.json"))
    with open(os.path.join(outdir, "runs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "placement", "tool", "run", "seconds", "status", "reason",
                    "allocated_bytes"])
        for r in results["runs_list"]:
            w.writerow([r["workload"], r["placement"], r["tool"], r["run"],
                        "" if r["seconds"] is None else f"{r['seconds']:.6f}", r["status"],
                        r["reason"] or "", r.get("allocated_bytes", "")])


# ---- numbers per cell -----------------------------------------------------------

def summarize(results):
    """{(workload, placement, tool): cell}; a cell has the ok runs' median,
    min and max, the failed runs' reasons and the ratio to offcopy."""
    cells = {}
    for r in results["runs_list"]:
        c = cells.setdefault((r["workload"], r["placement"], r["tool"]),
                             {"times": [], "failed": [], "alloc": None})
        if r["status"] == "ok":
            c["times"].append(r["seconds"])
            c["alloc"] = r.get("allocated_bytes", c["alloc"])
        else:
            c["failed"].append((r["run"], r["reason"]))
    for c in cells.values():
        t = sorted(c["times"])
        c["median"] = statistics.median(t) if t else None
        c["min"], c["max"] = (t[0], t[-1]) if t else (None, None)
    for (w, p, tool), c in cells.items():
        ref = cells.get((w, p, "offcopy"), {})
        c["ratio"] = (c["median"] / ref["median"]
                      if c["median"] and ref.get("median") and not ref.get("failed") else None)
    return cells


def floor_seconds(results, workload, placement):
    """The time the physical limits allow a host copy of the workload's data:
    memcpy within tmpfs, the disk's write rate from tmpfs, and between loop
    filesystems the slower of its read and write rates (both run on the same
    disk).  A clone moves no data and can beat it."""
    lim, data = results["limits"], results["workloads"][workload]["data_bytes"]
    src, dst = placement.split(">")[0], placement.split(">")[-1]
    if src == "tmpfs" and dst == "tmpfs":
        return data / lim["memcpy_Bps"]
    if src == "tmpfs":
        return data / lim["disk_write_Bps"]
    return max(data / lim["disk_read_Bps"], data / lim["disk_write_Bps"])


def fmt_s(x):
    if x is None:
        return "–"
    return "<0.001" if x < 0.0005 else f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.1f}"


def fmt_cell(c, runs):
    if c is None:
        return "–"
    if not c["times"]:
        return f"**FAILED** ({len(c['failed'])}/{runs})"
    s = fmt_s(c["median"])
    if len(c["times"]) > 1:
        s += f" ({fmt_s(c['min'])}–{fmt_s(c['max'])})"
    if c["ratio"] is not None:
        s += f" ×{c['ratio']:.2f}"
    if c["failed"]:
        s += f" **{len(c['failed'])}/{runs} FAILED**"
    return s


def fmt_bytes(b):
    for unit, k in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if b >= 1 << k:
            return f"{b / (1 << k):.1f} {unit}"
    return f"{b} B"


# ---- Markdown --------------------------------------------------------------------

def header(results):
    m, lim = results["machine"], results["limits"]
    v = m["versions"]
    gib = m["memory_kib"] / 2**20
    lines = [
        f"Command: `{results['command']}` — {m['date']}, "
        f"{results.get('elapsed_s', 0) / 60:.1f} min (estimated {results['estimate_s'] / 60:.1f}).",
        "",
        f"**Machine.** {m['cpu']}, {m['cpus']} CPUs, {gib:.1f} GiB, {m['os']}, kernel "
        f"{m['kernel']}. Loop filesystems (`losetup --direct-io=on`) on image files on "
        f"{m['backing']}; tmpfs in RAM. " + "; ".join(f"{fs}: `{o}`" for fs, o in m["mounts"].items()),
        "",
        "**Versions.** " + "; ".join(f"{k}: {val}" for k, val in v.items()),
        "",
        f"**Physical limits, measured by this run.** memcpy {lim['memcpy_Bps'] / 1e9:.2f} GB/s "
        f"(one thread; the limit of a copy within tmpfs); the loop images' disk: sequential "
        f"write {lim['disk_write_Bps'] / 1e6:.0f} MB/s, read {lim['disk_read_Bps'] / 1e6:.0f} MB/s "
        f"(O_DIRECT, {lim['raw_io_mib']} MiB: {lim['how']['disk']}). The *bandwidth floor* row "
        "is the workload's data bytes at these rates: memcpy within tmpfs, the write rate from "
        "tmpfs to a disk, the slower of read and write between loop filesystems (one disk). "
        "Clones move no data and can beat it; per-file costs come on top of it.",
        "",
        f"**Method.** {results['runs']} run{'s' * (results['runs'] > 1)} per cell, interleaved: "
        "in each run every placement's tools go in an order rotated by one, so drift hits all "
        "alike. Before "
        "each run: the previous copy removed, `sync`, page cache dropped (`echo 3 > "
        "/proc/sys/vm/drop_caches`; a tmpfs source stays in memory, it is the filesystem). "
        "**Timed: the command (process start included) plus `syncfs` of the destination "
        "filesystem** (`sync -f`). After each run the copy is checked against the source: "
        "every entry's type, size, symlink target and an XXH3-128 hash of its content "
        "(`bench/digest.c`; holes read as zeros, metadata not compared). A run that exits "
        "non-zero, times out or leaves a wrong copy is FAILED and not timed.",
        "",
        "Cells: median seconds (min–max) and ×ratio of the median to offcopy's in the same "
        "column (×2.00: takes twice as long as offcopy; below 1: faster than offcopy).",
        "",
        "**Tools.**",
        "",
    ] + [f"- {t}: {d}" for t, d in results.get("tool_notes", {}).items() if t in results["tools"]]
    notes = results["notes"] + results.get("plot_notes", [])
    if notes:
        lines += ["", "**Notes.**", ""] + ["- " + n for n in notes]
    return lines


def workload_table(results, cells, w):
    info = results["workloads"][w]
    places = results["plan"][w]
    tools = [t for t in results["tools"] if any((w, p, t) in cells for p in places)]
    runs = results["runs"]
    size = (f"{info['files']:,} files, {info['entries']:,} entries, "
            f"{fmt_bytes(info['data_bytes'])} of data" if info["entries"] > 1 else
            f"{fmt_bytes(info['logical_bytes'])}, {fmt_bytes(info['data_bytes'])} allocated")
    out = [f"## {w}: {info['description']}", "", f"Source: {size}.", "",
           "| tool | " + " | ".join(label(p) for p in places) + " |",
           "|---|" + "---|" * len(places)]
    for t in tools:
        out.append(f"| {t} | " + " | ".join(fmt_cell(cells.get((w, p, t)), runs)
                                            for p in places) + " |")
    out.append("| *bandwidth floor* | " + " | ".join(
        fmt_s(floor_seconds(results, w, p)) for p in places) + " |")
    if info["entries"] == 1 and info["data_bytes"] < 0.9 * info["logical_bytes"]:
        out += ["", "Space the copy allocates (`st_blocks`, last good run; a clone shares it "
                "with the source):", "",
                "| tool | " + " | ".join(label(p) for p in places) + " |",
                "|---|" + "---|" * len(places)]
        for t in tools:
            out.append(f"| {t} | " + " | ".join(
                fmt_bytes(c["alloc"]) if (c := cells.get((w, p, t))) and c["alloc"] is not None
                else "–" for p in places) + " |")
    if "plots" in results and w in results["plots"]:
        out += ["", f"![{w}]({results['plots'][w]})"]
    return out


def failures(results):
    seen, out = set(), []
    for r in results["runs_list"]:
        if r["status"] == "ok":
            continue
        key = (r["workload"], r["placement"], r["tool"], r["reason"][:60])
        if key in seen:
            continue
        seen.add(key)
        n = sum(1 for x in results["runs_list"] if x["status"] != "ok" and
                (x["workload"], x["placement"], x["tool"]) == key[:3])
        out.append(f"- {r['workload']} {label(r['placement'])} {r['tool']} "
                   f"({n} of {results['runs']} runs): {r['reason']}")
    return out


def markdown(results, cells):
    lines = ["# offcopy and the copy tools people use, side by side", ""] + header(results)
    for w in results["plan"]:
        if w in results["workloads"]:
            lines += [""] + workload_table(results, cells, w)
    fails = failures(results)
    if fails:
        lines += ["", "## Failed runs", ""] + fails
    return "\n".join(lines) + "\n"


# ---- plots ----------------------------------------------------------------------

def plot(results, cells, outdir):
    """One PNG per workload (SVG if gnuplot has no cairo): grouped bars of
    the median per tool and placement, whiskers min-max, log scale."""
    gnuplot = shutil.which("gnuplot")
    results["plot_notes"] = notes = []   # anew on every render
    if not gnuplot:
        notes.append("plots: skipped, gnuplot not installed (apt-get install gnuplot-nox)")
        return {}
    made = {}
    for w, places in results["plan"].items():
        if w not in results["workloads"]:
            continue
        # gnuplot refuses a column without a single number: a tool that
        # failed everywhere gets no bars (the table says FAILED).
        tools = [t for t in results["tools"]
                 if any(cells.get((w, p, t), {}).get("times") for p in places)]
        dat = os.path.join(outdir, f"{w}.dat")
        values = []
        with open(dat, "w") as f:
            f.write('"placement" ' + " ".join(f'"{t}" "min" "max"' for t in tools) +
                    ' "bandwidth floor" "min" "max"\n')
            for p in places:
                row = []
                for t in tools:
                    c = cells.get((w, p, t))
                    row += [c["median"], c["min"], c["max"]] if c and c["times"] else [None] * 3
                fl = floor_seconds(results, w, p)
                row += [fl, fl, fl]
                values += [x for x in row if x]
                f.write(f'"{label(p)}" ' + " ".join("NaN" if x is None else f"{x:.6f}"
                                                    for x in row) + "\n")
        lo, hi = min(values) / 2, max(values) * 2
        runs = results["runs"]
        title = f"{w}: {results['workloads'][w]['description']} — {runs} run{'s' * (runs > 1)}"
        gone = [t for t in results["tools"] if t not in tools and
                any((w, p, t) in cells for p in places)]
        if gone:
            title += " — no bars (every run failed): " + ", ".join(gone)
        colors = " ".join(COLORS.get(t, "#000000") for t in tools + ["bandwidth floor"])
        title = title.replace("'", "’")  # it goes into a gnuplot string in single quotes
        for term, ext in (("pngcairo", "png"), ("svg", "svg")):
            out = os.path.join(outdir, f"{w}.{ext}")
            args = (f"datafile='{dat}'; outfile='{out}'; plottitle='{title}'; "
                    f"ntools={len(tools) + 1}; term='{term}'; ymin={lo}; ymax={hi}; "
                    f"colors='{colors}'")
            r = subprocess.run([gnuplot, "-e", args, os.path.join(HERE, "plot.gp")],
                               capture_output=True, text=True)
            if r.returncode == 0:
                made[w] = os.path.basename(out)
                break
            if os.path.exists(out):  # gnuplot opens its output before it fails
                os.unlink(out)
        else:
            notes.append(f"plot {w}: gnuplot failed: {r.stderr.strip()[:200]}")
    return made


def render(results, outdir, echo=False):
    """Writes results.md and the plots; returns the exit status: 1 if an
    offcopy run failed or a planned workload never ran."""
    cells = summarize(results)
    results["plots"] = plot(results, cells, outdir)
    md = markdown(results, cells)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(md)
    write_json(results, outdir)
    if echo:
        print("\n" + md)
        print(f"Written: {outdir}/results.md, results.json, runs.csv" +
              "".join(f", {p}" for p in results["plots"].values()))
    bad = [r for r in results["runs_list"] if r["tool"].startswith("offcopy") and r["status"] != "ok"]
    missing = [w for w in results["plan"] if w not in results["workloads"]]
    return 1 if bad or missing else 0
