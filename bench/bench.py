#!/usr/bin/env python3
"""Speed and memory of the static scan, as ratios against peers run in the same invocation.

1. Wall time of ``python -m librbd_probe --no-runtime --json`` on this host's librbd+librados
   against ``readelf -W --dyn-syms -V -d`` on the same two files (median of N runs each).
2. In-process: ``elf.read_elf`` on both files against pyelftools listing the same dynamic
   symbols and symbol versions (pyelftools is installed for the bench only).
3. Peak RSS of the CLI static run against a bare interpreter (``python -c pass``), read with
   GNU time (package ``time``).

Usage: python3 bench/bench.py [--runs N] [--python PATH] [--librbd PATH] [--librados PATH]
The interpreter defaults to /usr/bin/python3 (what an operator's host runs); pyenv builds
with heavy site-packages start several times slower, which is the interpreter, not the tool.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path.insert(0, PROJECT)

TARGETS = {"cli_vs_readelf": 0.7, "inprocess_speedup_vs_pyelftools": 30.0, "peak_rss_delta_mib": 10.0}


def _time_command(argv, runs, env=None):
    """Median wall time of ``argv`` over ``runs`` runs, each started with posix_spawn.

    posix_spawn (vfork + exec) costs the same small, constant amount for both sides of a
    comparison, unlike fork() of this benchmark's own interpreter or a shell loop.
    """
    import shutil
    path = argv[0] if os.path.sep in argv[0] else shutil.which(argv[0])
    environ = dict(os.environ if env is None else env)
    samples = []
    if not hasattr(os, "posix_spawn"):          # Python < 3.8: subprocess, same for both sides
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ, check=True)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]  # novermin
    try:
        for _ in range(runs):
            start = time.perf_counter()
            pid = os.posix_spawn(path, list(argv), environ, file_actions=actions)  # novermin
            _, status = os.waitpid(pid, 0)
            samples.append(time.perf_counter() - start)
            if status != 0:
                raise SystemExit("bench: {} failed (status {})".format(" ".join(argv), status))
    finally:
        os.close(devnull)
    return statistics.median(samples)


def _peak_rss_mib(argv, env=None):
    """Peak RSS of one run, from GNU time's %M.

    GNU time is a small C program: the measured process starts from its few hundred KiB, not
    from a fork of this benchmark's interpreter (a fork's copied pages would count as the
    child's peak and hide the difference being measured).
    """
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + list(argv), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, universal_newlines=True, check=True)
    return int(proc.stderr.strip().splitlines()[-1]) / 1024.0


def _time_call(func, runs):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _pyelftools_listing(paths):
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerSymSection
    out = []
    for path in paths:
        with open(path, "rb") as handle:
            elffile = ELFFile(handle)
            dynsym = elffile.get_section_by_name(".dynsym")
            versym = None
            for section in elffile.iter_sections():
                if isinstance(section, GNUVerSymSection):
                    versym = section
            verdef = elffile.get_section_by_name(".gnu.version_d")
            names = {}
            if verdef is not None:
                for vd, aux in verdef.iter_versions():
                    names[vd.entry["vd_ndx"]] = next(aux).name
            for index, sym in enumerate(dynsym.iter_symbols()):
                version = None
                if versym is not None:
                    ndx = versym.get_symbol(index).entry["ndx"]
                    if isinstance(ndx, int):
                        version = names.get(ndx & 0x7FFF)
                out.append((sym.name, sym.entry["st_shndx"], version))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)
    parser.add_argument("--librbd", default="/usr/lib/x86_64-linux-gnu/librbd.so.1")
    parser.add_argument("--librados", default="/usr/lib/x86_64-linux-gnu/librados.so.2")
    args = parser.parse_args()
    paths = [os.path.realpath(args.librbd), os.path.realpath(args.librados)]
    env = dict(os.environ, PYTHONPATH=PROJECT)
    # An installed package has its .pyc files (pip compiles them); this checkout may run
    # with PYTHONDONTWRITEBYTECODE set, which would time the compiler instead of the tool.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cli = [args.python, "-m", "librbd_probe", "--no-runtime", "--json",
           "--librbd", args.librbd, "--librados", args.librados]
    readelf = ["readelf", "-W", "--dyn-syms", "-V", "-d"] + paths

    # warm the page cache and .pyc files for both sides before timing
    _time_command(cli, 3, env)
    _time_command(readelf, 3)
    cli_time = _time_command(cli, args.runs, env)
    readelf_time = _time_command(readelf, args.runs)
    bare_time = _time_command([args.python, "-c", "pass"], args.runs)

    from librbd_probe import elf
    ours = _time_call(lambda: [elf.read_elf(p) for p in paths], args.runs)
    try:
        theirs = _time_call(lambda: _pyelftools_listing(paths), max(3, args.runs // 5))
    except ImportError:
        theirs = None

    rss_cli = _peak_rss_mib(cli, env)
    rss_bare = _peak_rss_mib([args.python, "-c", "pass"])

    results = {
        "cli_vs_readelf": cli_time / readelf_time,
        "inprocess_speedup_vs_pyelftools": (theirs / ours) if theirs else None,
        "peak_rss_delta_mib": rss_cli - rss_bare,
    }
    print("interpreter: {}".format(args.python))
    print("files: {}".format(", ".join(paths)))
    print("CLI static run   {:8.1f} ms   readelf {:8.1f} ms   bare interpreter {:6.1f} ms".format(
        cli_time * 1e3, readelf_time * 1e3, bare_time * 1e3))
    print("in-process scan  {:8.2f} ms   pyelftools {}".format(
        ours * 1e3, "{:8.1f} ms".format(theirs * 1e3) if theirs else "not installed (pip install pyelftools)"))
    print("peak RSS CLI     {:8.1f} MiB  bare interpreter {:6.1f} MiB".format(rss_cli, rss_bare))
    failed = False
    for key, value in results.items():
        target = TARGETS[key]
        if value is None:
            print("{:34s} n/a".format(key))
            continue
        ok = value >= target if key.startswith("inprocess") else value <= target
        failed |= not ok
        print("{:34s} {:7.2f}  target {} {}  {}".format(
            key, value, ">=" if key.startswith("inprocess") else "<=", target, "ok" if ok else "MISSED"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
