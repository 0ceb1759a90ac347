#!/usr/bin/env python3
"""offcopy-target against tgtd, side by side, in one run.

    sudo bench/target_vs_tgtd.py [--build DIR] [--dir DIR] [--runs N]
                                 [--seconds S] [--out DIR] [--quick]

Both targets serve the same 1 GiB backing file (in --dir, default
/var/tmp) on 127.0.0.1; one load program drives both the same way
(build/iscsi-load, on libiscsi: each row is one session, commands in
flight as the row says).  Rows:

    seq-read   1 GiB at 1 MiB transfers, 8 in flight
    seq-write  1 GiB at 1 MiB transfers, 8 in flight
    rand-read  4 KiB random reads, 32 in flight, --seconds
    rand-write 4 KiB random writes, 32 in flight, --seconds

Runs alternate: in run r the targets go in an order rotated by r, so that
drift (page cache, CPU frequency) hits both alike; the tables give the
median of --runs (min-max).  The machine's loopback TCP limit is measured
too (iperf3 on 127.0.0.1, one stream of 1 MiB writes, best of three 3 s
runs) and the sequential rows say what share of it they reach.

Writes results.json and results.md to --out (default
bench/results/target), and prints the Markdown table.  Exit status 0 when
every run completed without an I/O error; 1 otherwise; 2 usage.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

IQN_OURS = "iqn.2026-12.org.offcopy:bench"
IQN_TGT = "iqn.2026-12.org.offcopy:bench-tgtd"
ROWS = [
    ("seq-read", ["--mode", "seq-read", "--bs", "1M", "--qd", "8", "--bytes", "1G"], "MiB/s"),
    ("seq-write", ["--mode", "seq-write", "--bs", "1M", "--qd", "8", "--bytes", "1G"], "MiB/s"),
    ("rand-read", ["--mode", "rand-read", "--bs", "4K", "--qd", "32"], "IOPS"),
    ("rand-write", ["--mode", "rand-write", "--bs", "4K", "--qd", "32"], "IOPS"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Targets:
    """Starts offcopy-target and tgtd on the same file; stops both."""

    def __init__(self, build, image):
        self.procs = []
        self.build = build
        self.image = image
        self.ours_port = None
        self.tgt_port = free_port()
        self.tgt_control = 100 + os.getpid() % 800  # tgtd's control port number

    def start(self):
        with tempfile.TemporaryDirectory() as d:
            port_file = os.path.join(d, "port")
            p = subprocess.Popen(
                [os.path.join(self.build, "offcopy-target"), "--listen", "127.0.0.1:0",
                 "--port-file", port_file, "--target", IQN_OURS, "--lun", "0=" + self.image, "-q",
                 # No control socket: the benchmark asks no status, and must
                 # not collide with a target serving the default one.
                 "--control", "none"],
                stdin=subprocess.DEVNULL)
            self.procs.append(p)
            for _ in range(100):
                if os.path.exists(port_file) and open(port_file).read().strip():
                    break
                time.sleep(0.1)
            self.ours_port = int(open(port_file).read())
        p = subprocess.Popen(
            ["tgtd", "-f", "-C", str(self.tgt_control), "--iscsi",
             "portal=127.0.0.1:%d" % self.tgt_port],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        if not wait_port(self.tgt_port):
            raise RuntimeError("tgtd did not start")
        adm = ["tgtadm", "-C", str(self.tgt_control), "--lld", "iscsi"]
        subprocess.run(adm + ["--op", "new", "--mode", "target", "--tid", "1", "-T", IQN_TGT],
                       check=True)
        # tgtd's LUN 0 is its controller; the disk is LUN 1.
        subprocess.run(adm + ["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1",
                              "-b", self.image], check=True)
        subprocess.run(adm + ["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"],
                       check=True)

    def urls(self):
        return {
            "offcopy-target": "iscsi://127.0.0.1:%d/%s/0" % (self.ours_port, IQN_OURS),
            "tgtd": "iscsi://127.0.0.1:%d/%s/1" % (self.tgt_port, IQN_TGT),
        }

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


def loopback_mib_s(seconds=3, tries=3):
    """The best of `tries` one-stream iperf3 runs on 127.0.0.1, 1 MiB writes
    (the transfer size of the sequential rows): the machine's loopback TCP
    limit."""
    best = 0.0
    for _ in range(tries):
        port = free_port()
        server = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)  # not a probe connection: -1 serves one client only
            out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t",
                                  str(seconds), "-l", "1M", "-J"],
                                 capture_output=True, text=True, check=True).stdout
            bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
            best = max(best, bps / 8 / 2**20)
        finally:
            server.kill()
            server.wait()
    return best


def run_row(load, url, args, seconds):
    cmd = [load] + args + (["--seconds", str(seconds)] if "rand" in args[1] else []) + [url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return json.loads(r.stdout.strip().splitlines()[-1]), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--out", default="bench/results/target")
    ap.add_argument("--quick", action="store_true", help="1 run, 1 s random rows")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.seconds = 1, 1
    load = os.path.join(a.build, "iscsi-load")
    for tool in [load, os.path.join(a.build, "offcopy-target")]:
        if not os.access(tool, os.X_OK):
            print("target_vs_tgtd: %s is missing (build it first)" % tool, file=sys.stderr)
            return 2
    os.makedirs(a.out, exist_ok=True)
    image = tempfile.mktemp(prefix="offcopy-bench-lun-", suffix=".img", dir=a.dir)
    with open(image, "wb") as f:  # written, not sparse: both read real data
        block = os.urandom(1 << 20)
        for _ in range(1024):
            f.write(block)
    targets = Targets(a.build, image)
    results = {"runs": a.runs, "seconds": a.seconds, "dir": a.dir, "rows": {}}
    failed = False
    try:
        targets.start()
        results["loopback_mib_s"] = loopback_mib_s()
        urls = targets.urls()
        names = list(urls)
        for r in range(a.runs):
            order = names[r % 2:] + names[:r % 2]
            for row, args, unit in ROWS:
                for name in order:
                    res, err = run_row(load, urls[name], args, a.seconds)
                    cell = results["rows"].setdefault(row, {}).setdefault(name, [])
                    if res is None:
                        failed = True
                        print("%s %s run %d failed: %s" % (name, row, r + 1, err), file=sys.stderr)
                        continue
                    cell.append(res["mib_per_s"] if unit == "MiB/s" else res["iops"])
    finally:
        targets.stop()
        os.unlink(image)

    lines = ["| row | offcopy-target | tgtd | ratio | share of loopback |",
             "|---|---|---|---|---|"]
    for row, args, unit in ROWS:
        cells = results["rows"].get(row, {})
        ours, theirs = cells.get("offcopy-target", []), cells.get("tgtd", [])
        if not ours or not theirs:
            lines.append("| %s | failed | | | |" % row)
            continue
        mo, mt = statistics.median(ours), statistics.median(theirs)

        def fmt(v, vs):
            return "%.0f %s (%.0f-%.0f)" % (v, unit, min(vs), max(vs))
        share = "%.2f" % (mo / results["loopback_mib_s"]) if unit == "MiB/s" else ""
        lines.append("| %s | %s | %s | %.2fx | %s |" % (row, fmt(mo, ours), fmt(mt, theirs),
                                                      mo / mt, share))
    lines.append("")
    lines.append("Loopback TCP (iperf3, one stream, 1 MiB writes, best of 3): %.0f MiB/s. "
                 "Medians of %d alternated runs; "
                 "backing file in %s." % (results["loopback_mib_s"], a.runs, a.dir))
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(table + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
