#!/usr/bin/env python3
"""Start-up of the single-file build against the installed package, same invocation.

For each command line (``--version``; a static scan ``--no-runtime --json``; the full runtime
scan ``--json``) the median wall time of N runs of
  installed   PYTHON -m librbd_probe ARGS   the package installed into a venv with pip
                                             (``pip install .``), its bytecode compiled first
  pyz         PYTHON librbd-probe.pyz ARGS   tools/build_pyz.py, sources only (portable)
  pyz+pyc     PYTHON librbd-probe.pyz ARGS   tools/build_pyz.py --compile PYTHON
and the ratios pyz / installed (the three run in turn, so a shared machine's load falls on all).  PYTHONDONTWRITEBYTECODE may be set in the environment: the
installed side is compiled before timing (compileall), so both sides read what they would
read on a host.  A zip cannot cache bytecode: the plain pyz compiles the package on every run.

Usage: python3 bench/bench_pyz.py [--runs N] [--python /usr/bin/python3] [--installed VENV_PYTHON]
``--installed`` reuses an interpreter that already has the package (else a scratch venv is
made and removed).  If the installed package cannot run a command (exit status != 0) the row
says so instead of timing a failure.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
COMMANDS = (("--version",), ("--no-runtime", "--json"), ("--json",))


def _interleaved_medians(argvs, runs, env, cwd):
    """Median wall time of each argv, the argvs run in turn (A B C A B C ...) so that the load of
    a shared machine falls on every side alike; (None, status) for one that fails."""
    samples = [[] for _ in argvs]
    failed = [None] * len(argvs)
    for _ in range(runs):
        for i, argv in enumerate(argvs):
            if failed[i] is not None:
                continue
            start = time.perf_counter()
            proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
            samples[i].append(time.perf_counter() - start)
            if proc.returncode != 0:
                failed[i] = proc.returncode
    return [(None, failed[i]) if failed[i] is not None else (statistics.median(samples[i]), 0)
            for i in range(len(argvs))]


def _make_venv(python, where):
    venv = os.path.join(where, "venv")
    subprocess.run([python, "-m", "venv", venv], check=True)
    vpy = os.path.join(venv, "bin", "python")
    subprocess.run([vpy, "-m", "pip", "install", "-q", "--disable-pip-version-check", PROJECT], check=True,
                   stdout=subprocess.DEVNULL, cwd=where)
    return vpy


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench_pyz.py")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--installed", metavar="VENV_PYTHON",
                        help="interpreter of a venv where the package is installed (default: make one)")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="bench_pyz.")
    try:
        build = os.path.join(PROJECT, "tools", "build_pyz.py")
        plain = os.path.join(scratch, "librbd-probe.pyz")
        compiled = os.path.join(scratch, "librbd-probe-pyc.pyz")
        subprocess.run([sys.executable, build, "-o", plain], check=True, stdout=subprocess.DEVNULL)
        if subprocess.run([sys.executable, build, "-o", compiled, "--compile", args.python],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            compiled = None         # --compile needs Python >= 3.7 (hash-based pycs)
        installed = args.installed or _make_venv(args.python, scratch)
        site = subprocess.run([installed, "-c", "import librbd_probe, os; print(os.path.dirname(librbd_probe.__file__))"],
                              check=True, stdout=subprocess.PIPE, universal_newlines=True, cwd=scratch).stdout.strip()
        subprocess.run([installed, "-m", "compileall", "-q", site], check=True, stdout=subprocess.DEVNULL)
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PYTHONPATH"))
        cwd = scratch
        print("interpreter {} ({}), {} runs each, median wall time; PYTHONDONTWRITEBYTECODE={}".format(
            args.python, subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                                        stdout=subprocess.PIPE, universal_newlines=True).stdout.strip(),
            args.runs, os.environ.get("PYTHONDONTWRITEBYTECODE", "unset")))
        print("installed package: {}".format(site))
        print("{:<22} {:>10} {:>10} {:>10} {:>9} {:>9}".format("command", "installed", "pyz", "pyz+pyc",
                                                                "pyz/inst", "pyc/inst"))
        for command in COMMANDS:
            heads = [[installed, "-m", "librbd_probe"], [args.python, plain]]
            if compiled:
                heads.append([args.python, compiled])
            argvs = [head + list(command) for head in heads]
            for argv_ in argvs:         # one warm-up run each (page cache), not timed
                subprocess.run(argv_, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
            rows = _interleaved_medians(argvs, args.runs, env, cwd)
            if not compiled:
                rows.append((None, "n/a"))
            cells = []
            for value, status in rows:
                cells.append("{:.1f} ms".format(value * 1000) if value is not None else
                             status if status == "n/a" else "exit {}".format(status))
            ratios = []
            for value, _ in rows[1:]:
                ratios.append("{:.2f}".format(value / rows[0][0]) if value is not None and rows[0][0] else "-")
            print("{:<22} {:>10} {:>10} {:>10} {:>9} {:>9}".format(" ".join(command), *(cells + ratios)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
