#!/usr/bin/env python3
"""Start-up of the INSTALLED CLI, as ratios against peers timed in the same invocation.

1. static scan: ``librbd-probe --no-runtime --json`` (the console script of a venv where the
   package is pip-installed, non-editable, bytecode compiled) against ``readelf -W --dyn-syms
   -V -d`` on the same two files (this host's librbd.so.1 and librados.so.2, as the scan found
   them);
2. runtime run: ``librbd-probe`` (the default: text report, the isolated child loads the
   libraries; ``--json`` is printed too) against a bare
   ``python3 -c "import ctypes; ctypes.CDLL('librbd.so.1')"`` in a fresh interpreter;
3. for scale (no target): ``python -c pass``, ``python -I -S -c pass``, the text default of
   the static scan, and ``python -m librbd_probe`` (runpy) on the same venv; the bare commands
   also with /usr/bin/python3 itself (its system site-packages run first).

The bare peers run the venv's interpreter (``--python`` without the system site-packages): what
an operator's venv runs; on a host whose system site has costly .pth files (this machine's has a
sandbox hook) /usr/bin/python3 itself starts slower, which would flatter the ratio.

Every command is started with posix_spawn (as bench/bench.py does); the runs of all commands
are interleaved round-robin (one run of each per round, the order rotated every round) so a load
swing on the shared machine hits every side alike; each figure is the median of ``--runs``.

The venv: ``--venv DIR`` uses an existing one; otherwise one is made in a temporary directory
with ``--python`` (default /usr/bin/python3, what an operator's host runs) as its base, the
checkout installed with ``pip install --no-deps --no-build-isolation`` (what the README's
``pip install .`` does, offline) and ``python -m compileall`` run over it.  PYTHONDONTWRITEBYTECODE
is removed from every child's environment (with it and no .pyc files each run would compile).

``--compare-with REV`` (a git revision of this checkout, e.g. ``HEAD~3`` or ``main``) first
checks that the reports are byte-identical between that revision and the work tree: static JSON,
static text, runtime JSON, and a static ``--root`` scan of a corpus build
(~/.cache/librbd_probe/corpus) when present.  A start-up change must not change a report.

Usage: nice -n 10 python3 bench/bench_startup.py [--runs N] [--venv DIR] [--compare-with REV]
Exit 0 when every target holds (PASS), 1 when one is missed (MISS).
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

#: ratio limits (ours / peer): issue 13 item 8
TARGETS = {"static_vs_readelf": 0.6, "runtime_vs_bare_cdll": 2.0}

LIBRBD = "librbd.so.1"
CDLL_SNIPPET = "import ctypes; ctypes.CDLL('librbd.so.1')"


def _clean_env(extra=None):
    env = dict(os.environ)
    for key in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
                "LIBRBD_PROBE_LIBRBD", "LIBRBD_PROBE_LIBRADOS"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def make_venv(python, directory):
    """A venv with the checkout pip-installed (non-editable) and compiled; returns its path."""
    subprocess.run([python, "-m", "venv", directory], check=True)
    pip = os.path.join(directory, "bin", "pip")
    build = tempfile.mkdtemp(prefix="librbd-probe-bench-src-")
    try:
        # a copy without build/ or egg-info leftovers, so pip installs exactly the checkout
        src = os.path.join(build, "src")
        shutil.copytree(PROJECT, src, ignore=shutil.ignore_patterns(
            ".git", ".tox", "build", "*.egg-info", "__pycache__", "tests", "bench", "contrib"))
        subprocess.run([pip, "install", "-q", "--no-deps", "--no-build-isolation", src], check=True,
                       env=_clean_env(), stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    compile_venv(directory)
    return directory


def compile_venv(directory):
    subprocess.run([os.path.join(directory, "bin", "python"), "-m", "compileall", "-q", directory],
                   check=True, env=_clean_env(), stdout=subprocess.DEVNULL)


def spawn_once(argv, env, devnull):
    """Wall time of one posix_spawn + waitpid of ``argv`` (stdout/stderr to /dev/null)."""
    path = argv[0] if os.path.sep in argv[0] else shutil.which(argv[0])
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]  # novermin
    start = time.perf_counter()
    pid = os.posix_spawn(path, list(argv), env, file_actions=actions)  # novermin
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit("bench: {} failed (status {})".format(" ".join(argv), status))
    # CPU of the process and of the children it waited for (the probe child): what a second idle
    # core can overlap, and what a loaded machine serialises
    return elapsed, usage.ru_utime + usage.ru_stime


def time_interleaved(commands, runs, env, warmup=3):
    """({name: median wall seconds}, {name: median CPU seconds}): one run of every command per
    round, the order rotated."""
    names = list(commands)
    samples = {name: [] for name in names}
    cpu = {name: [] for name in names}
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for _ in range(warmup):
            for name in names:
                spawn_once(commands[name], env, devnull)
        for round_no in range(runs):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                wall, used = spawn_once(commands[name], env, devnull)
                samples[name].append(wall)
                cpu[name].append(used)
    finally:
        os.close(devnull)
    time_interleaved.minimum = {name: min(values) for name, values in samples.items()}
    return ({name: statistics.median(values) for name, values in samples.items()},
            {name: statistics.median(values) for name, values in cpu.items()})


def found_libraries(cli, env):
    """The realpaths of librbd and librados the static scan chose (readelf reads the same)."""
    import json
    out = subprocess.run(cli + ["--no-runtime", "--json"], stdout=subprocess.PIPE, env=env, check=True).stdout
    libs = json.loads(out.decode("utf-8"))["libraries"]
    return [libs["librbd"]["realpath"], libs["librados"]["realpath"]]


def _outputs(run_cli, corpus_roots):
    lib = "/usr/lib/x86_64-linux-gnu/"
    cases = [["--no-runtime", "--json"], ["--no-runtime"], ["--json"], [], ["--no-runtime", "--markdown"],
             ["--json", "--librbd", lib + "librbd.so.1", "--librados", lib + "librados.so.2"],
             ["--json", "--librbd", "/nonexistent/librbd.so.1"], ["--json", "--require", "create.format2"]]
    for root in corpus_roots:
        cases.append(["--root", root, "--json"])
        cases.append(["--root", root])
    out = {}
    for args in cases:
        proc = run_cli(args)
        out[" ".join(args)] = (proc.returncode, proc.stdout, proc.stderr)
    return out


def _corpus_roots():
    """The unpacked Debian builds of the corpus (tests/corpus.py's layout), those present."""
    base = os.path.expanduser(os.environ.get("LIBRBD_PROBE_CORPUS", "~/.cache/librbd_probe/corpus"))
    roots = [os.path.join(base, "debian", name, "root") for name in ("14.2.21_amd64", "18.2.7_amd64", "16.2.15_arm64")]
    return [root for root in roots if os.path.isdir(root)]


def compare_reports(rev, python, env):
    """Byte-compare the reports of git revision ``rev`` and of the work tree; returns problems."""
    old = tempfile.mkdtemp(prefix="librbd-probe-bench-old-")
    try:
        archive = subprocess.run(["git", "-C", PROJECT, "archive", rev, "librbd_probe"],
                                 stdout=subprocess.PIPE, check=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        corpus = _corpus_roots()
        results = []
        for tree in (old, PROJECT):
            def run_cli(args, tree=tree):
                return subprocess.run([python, "-m", "librbd_probe"] + args, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, cwd=tempfile.gettempdir(),
                                      env=dict(env, PYTHONPATH=tree))
            results.append(_outputs(run_cli, corpus))
        problems = []
        for case in results[0]:
            if results[0][case] != results[1][case]:
                problems.append("`{}`: output differs between {} and the work tree".format(case, rev))
        return problems, sorted(results[0]), corpus
    finally:
        shutil.rmtree(old, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
                        help="the venv's base interpreter, also the bare peers' (default /usr/bin/python3)")
    parser.add_argument("--venv", help="an existing venv with the package installed (default: make one)")
    parser.add_argument("--compare-with", metavar="REV", help="first check the reports are byte-identical to REV's")
    args = parser.parse_args()
    env = _clean_env()

    if args.compare_with:
        problems, cases, corpus = compare_reports(args.compare_with, args.python, env)
        print("reports vs {}: {} cases, {} corpus roots{}".format(
            args.compare_with, len(cases), len(corpus), "" if corpus else " (no corpus found)"))
        for line in problems:
            print("  DIFFERS: " + line)
        print("reports byte-identical: {}".format("PASS" if not problems else "MISS"))
        if problems:
            return 1

    tmp = None
    if args.venv:
        venv = args.venv
    else:
        tmp = tempfile.mkdtemp(prefix="librbd-probe-bench-venv-")
        venv = make_venv(args.python, os.path.join(tmp, "venv"))
    try:
        cli = [os.path.join(venv, "bin", "librbd-probe")]
        vpython = os.path.join(venv, "bin", "python")
        paths = found_libraries(cli, env)
        commands = {
            "static_json": cli + ["--no-runtime", "--json"],
            "readelf": ["readelf", "-W", "--dyn-syms", "-V", "-d"] + paths,
            "runtime_default": cli,
            "runtime_json": cli + ["--json"],
            "bare_cdll": [vpython, "-c", CDLL_SNIPPET],
            "sys_cdll": [args.python, "-c", CDLL_SNIPPET],
            "bare_pass": [vpython, "-c", "pass"],
            "bare_pass_IS": [vpython, "-I", "-S", "-c", "pass"],
            "sys_pass": [args.python, "-c", "pass"],
            "static_text": cli + ["--no-runtime"],
            "static_json_m": [vpython, "-m", "librbd_probe", "--no-runtime", "--json"],
        }
        t, cpu = time_interleaved(commands, args.runs, env)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    ms = {k: v * 1e3 for k, v in t.items()}
    print("interpreter: {} (the venv's base); venv: {}".format(args.python, venv if args.venv else "temporary"))
    print("peers: 'python' is the venv's interpreter: /usr/bin/python3 without the system site-packages, whose")
    print("  .pth files (on this machine a sandbox hook importing tempfile, typing, random) an operator's host lacks")
    print("files: {}".format(", ".join(paths)))
    print("median of {} interleaved runs each (posix_spawn):".format(args.runs))
    labels = [
        ("static_json", "librbd-probe --no-runtime --json"),
        ("static_text", "librbd-probe --no-runtime (text)"),
        ("static_json_m", "python -m librbd_probe --no-runtime --json"),
        ("readelf", "readelf -W --dyn-syms -V -d (both files)"),
        ("runtime_default", "librbd-probe (the default: text, runtime child)"),
        ("runtime_json", "librbd-probe --json (runtime child)"),
        ("bare_cdll", "python -c \"import ctypes; ctypes.CDLL('librbd.so.1')\""),
        ("bare_pass", "python -c pass"),
        ("bare_pass_IS", "python -I -S -c pass"),
        ("sys_cdll", "/usr/bin/python3 -c \"import ctypes; ...CDLL\" (system site)"),
        ("sys_pass", "/usr/bin/python3 -c pass (system site)"),
    ]
    print("  {:52s} {:>8s}    {:>8s}".format("", "wall", "CPU"))
    for key, text in labels:
        print("  {:52s} {:8.1f} ms {:8.1f} ms".format(text, ms[key], cpu[key] * 1e3))
    results = {
        "static_vs_readelf": t["static_json"] / t["readelf"],
        "runtime_vs_bare_cdll": t["runtime_default"] / t["bare_cdll"],
    }
    print("  (static text / readelf {:.2f}; runtime --json / bare CDLL {:.2f}; static minus bare python {:+.1f} ms;"
          " runtime minus bare CDLL {:+.1f} ms)".format(
              t["static_text"] / t["readelf"], t["runtime_json"] / t["bare_cdll"], ms["static_json"] - ms["bare_pass"],
              ms["runtime_default"] - ms["bare_cdll"]))
    print("  (CPU ratios, the same pairs: static {:.2f}, runtime {:.2f}; a loaded machine serialises the"
          " runtime run's two processes, an idle second core overlaps them)".format(
              cpu["static_json"] / cpu["readelf"], cpu["runtime_default"] / cpu["bare_cdll"]))
    low = time_interleaved.minimum
    print("  (fastest run of each, the closest to an idle machine: static {:.2f}, runtime {:.2f})".format(
        low["static_json"] / low["readelf"], low["runtime_default"] / low["bare_cdll"]))
    failed = False
    for key, value in results.items():
        ok = value <= TARGETS[key]
        failed |= not ok
        print("{:24s} {:6.2f}  target <= {}  {}".format(key, value, TARGETS[key], "PASS" if ok else "MISS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
