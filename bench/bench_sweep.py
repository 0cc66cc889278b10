#!/usr/bin/env python3
"""Discovery sweep of a tree vs ``scanelf -R -q -F '%F %n' TREE`` (Debian pax-utils), same
warm tree, same invocation.  Both read every file's ELF header and dynamic section; scanelf is
C.  Prints the median of N alternating runs of each and the ratio (goal: <= 1.5).

    python3 bench/bench_sweep.py [--tree /usr] [--runs 5]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from librbd_probe import discover  # noqa: E402


def run_scanelf(tree):
    start = time.perf_counter()
    out = subprocess.run(["scanelf", "-R", "-q", "-F", "%F %n", tree], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=False).stdout
    return time.perf_counter() - start, out.count(b"\n")


def run_sweep(tree):
    start = time.perf_counter()
    found = discover.discover(None, progress=False, trees=(tree,), skip=())
    return time.perf_counter() - start, len(found)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default="/usr")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if not shutil.which("scanelf"):
        sys.stderr.write("bench_sweep: error: scanelf not found (apt-get install pax-utils)\n")
        return 2
    run_scanelf(args.tree)               # warm the page and dentry caches for both
    run_sweep(args.tree)
    scan_times, sweep_times = [], []
    for _ in range(args.runs):
        t, elves = run_scanelf(args.tree)
        scan_times.append(t)
        t, consumers = run_sweep(args.tree)
        sweep_times.append(t)
    scan, sweep = statistics.median(scan_times), statistics.median(sweep_times)
    print("tree {}: scanelf {:.3f} s ({} ELF files listed), discovery {:.3f} s ({} consumers); "
          "ratio {:.2f} (median of {} alternating runs)".format(args.tree, scan, elves, sweep, consumers,
                                                                sweep / scan, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
