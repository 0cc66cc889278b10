"""Bench ``explain`` on a generated log against ``grep -E`` with the same signatures.

    python3 bench/bench_explain.py [--size-mib 1024] [--dir /tmp] [--keep]

Generates a log of the given size in ``--dir`` (Ceph client/OSD lines, syslog and kernel lines,
Cinder lines with ERROR and failed lines, and one real error message every ~10,000 lines),
then times on the same file, each in a fresh process:
- ``grep -E -c -f PATTERNS LOG``: every signature pattern of errors.json translated to ERE
  (named and non-capturing groups to plain groups, \\d \\w \\s \\b to classes), one per line;
- ``python3 -m librbd_probe explain --no-runtime --json --file LOG``;
- the bare interpreter (``python3 -c pass``) for the RSS baseline.
Reports wall time, throughput and peak RSS (ru_maxrss of each child), then deletes the log
(unless --keep).  Standard library only.
"""
import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path.insert(0, PROJECT)

_FILLER = (
    "{d} {t}.{u:06d} 7f{x:x} 20 librbd::ImageCtx: 0x55{y:x} perf counters registered",
    "{d}T{t}.{u:06d}+0000 7f{x:x} 1 osd.{n} pg_epoch: {y} pg[2.{n}( v {y}'1 ) active+clean] do_op "
    "osd_op(client.4{n}.0:{y} 2.{n} rbd_data.1234.{y:016x} [write 0~4096] snapc 0=[] ondisk+write e{y}) v8",
    "Mar  1 {t} node{n} kernel: [{y}.123456] EXT4-fs (sda{n}): mounted filesystem with ordered data mode. Opts: (null)",
    "{d} {t}.{u:03d} {x} INFO cinder.volume.manager [req-{x:x}-{y}] Created volume successfully.",
    "Mar  1 {t} node{n} systemd[1]: Started Session {y} of user root.",
    "{d} {t}.{u:03d} {x} ERROR oslo_messaging.rpc.server [req-{x:x}-{y}] Exception during message handling: "
    "MessagingTimeout: Timed out waiting for a reply to message ID {y:x}",
    "{d} {t}.{u:03d} {x} WARNING nova.compute.manager [req-{x:x}] Instance {y:x} failed to spawn, retrying",
)
_ERRORS = (
    "rbd.FunctionNotSupported: [errno 38] RBD function not supported (error creating image)",
    "ImportError: /usr/lib/python3/dist-packages/rbd.cpython-311-x86_64-linux-gnu.so: undefined symbol: rbd_encryption_format",
    "{d} {t}.{u:06d} 7f{x:x}  0 librados: client.admin authentication error (13) Permission denied",
    "[{y}.123456] libceph: mon0 10.0.0.{n}:6789 feature set mismatch, my 106b84a842a42 < server's 40106b84a842a42, "
    "missing 400000000000000",
    "rbd: map failed: (6) No such device or address",
    "modprobe: FATAL: Module rbd not found in directory /lib/modules/5.4.0-{n}-generic",
)


def generate(path, size):
    rng = random.Random(10)
    written = 0
    with open(path, "w") as handle:
        lines = []
        while written < size:
            fields = {"d": "2024-03-01", "t": "10:{:02d}:{:02d}".format(rng.randrange(60), rng.randrange(60)),
                      "u": rng.randrange(1000000), "x": rng.randrange(1 << 24), "y": rng.randrange(1 << 30),
                      "n": rng.randrange(100)}
            template = _ERRORS[rng.randrange(len(_ERRORS))] if rng.randrange(10000) == 0 else \
                _FILLER[rng.randrange(len(_FILLER))]
            line = template.format(**fields) + "\n"
            lines.append(line)
            written += len(line)
            if len(lines) >= 20000:
                handle.write("".join(lines))
                lines = []
        handle.write("".join(lines))


def ere(pattern):
    """A Python signature pattern as a POSIX ERE for grep -E (same alternatives, same classes)."""
    out = pattern
    out = re.sub(r"\(\?P<\w+>", "(", out)
    out = out.replace("(?:", "(")
    out = re.sub(r"(\{\d+,\d+\}|\+|\*)\?", r"\1", out)      # lazy quantifiers: grep has none
    for python, posix in ((r"\d", "[0-9]"), (r"\w", "[A-Za-z0-9_]"), (r"\s", "[[:space:]]"), (r"\S", "[^[:space:]]")):
        out = out.replace(python, posix)
    out = out.replace('\\"', '"').replace("\\'", "'")
    # inside bracket expressions a backslash is literal in ERE: drop the escapes of ] [ ' " /
    out = re.sub(r"\[([^\]]*)\]", lambda m: "[" + m.group(1).replace("\\\\", "\\").replace("\\", "") + "]"
                 if "[:" not in m.group(1) else m.group(0), out)
    return out


def patterns_file(path):
    from librbd_probe import knowledge as kn
    with open(path, "w") as handle:
        for sig in kn.error_signatures():
            for pattern in sig.patterns:
                handle.write(ere(pattern) + "\n")


_WRAPPER = ("import resource, subprocess, sys\n"
            "proc = subprocess.run(sys.argv[1:], stdout=sys.stdout.buffer)\n"
            "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "sys.stderr.write('\\nRSS %d CPU %.3f\\n' % (usage.ru_maxrss, usage.ru_utime + usage.ru_stime))\n"
            "sys.exit(proc.returncode)\n")


def timed(argv):
    """(wall seconds, peak RSS KiB, CPU seconds, completed process) of one command, measured in its
    own wrapper process (RUSAGE_CHILDREN of a wrapper holds exactly that command's peak and CPU)."""
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, PYTHONPATH=PROJECT))
    wall = time.time() - start
    rss, cpu = re.findall(rb"RSS (\d+) CPU ([\d.]+)", proc.stderr)[-1]
    return wall, int(rss), float(cpu), proc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    log = os.path.join(args.dir, "librbd_probe_bench_explain.log")
    pats = os.path.join(args.dir, "librbd_probe_bench_explain.ere")
    try:
        start = time.time()
        generate(log, args.size_mib * 1024 * 1024)
        size = os.path.getsize(log)
        patterns_file(pats)
        print("generated {} ({:.0f} MiB) in {:.1f} s".format(log, size / 1048576.0, time.time() - start))
        subprocess.run(["cat", log], stdout=subprocess.DEVNULL)          # warm the page cache for both
        bare_wall, bare_rss, _, _ = timed([sys.executable, "-c", "pass"])
        grep_wall, grep_rss, grep_cpu, grep = timed(["grep", "-E", "-c", "-f", pats, log])
        if grep.returncode not in (0, 1):
            raise SystemExit("grep failed: " + grep.stderr.decode(errors="replace")[:300])
        ours_wall, ours_rss, ours_cpu, ours = timed([sys.executable, "-m", "librbd_probe", "explain", "--no-runtime", "--json",
                                           "--file", log])
        if ours.returncode not in (0, 4):
            raise SystemExit("explain failed: " + ours.stderr.decode(errors="replace")[:300])
        doc = json.loads(ours.stdout.decode())
        occurrences = sum(f["count"] for f in doc["findings"]) + sum(
            len(f["related"]) for f in doc["findings"])
        result = {
            "log_bytes": size, "lines": doc["lines"],
            "load_average": os.getloadavg()[0],
            "grep": {"wall_s": round(grep_wall, 2), "cpu_s": round(grep_cpu, 2), "mib_per_s": round(size / 1048576.0 / grep_wall, 1),
                     "matching_lines": int(grep.stdout.decode().strip() or 0), "peak_rss_kib": grep_rss},
            "explain": {"wall_s": round(ours_wall, 2), "cpu_s": round(ours_cpu, 2), "mib_per_s": round(size / 1048576.0 / ours_wall, 1),
                        "findings": len(doc["findings"]), "occurrences": occurrences, "peak_rss_kib": ours_rss,
                        "notices": doc["notices"]},
            "bare_interpreter_rss_kib": bare_rss,
            "ratio_to_grep": round(ours_wall / grep_wall, 1),
            "cpu_ratio_to_grep": round(ours_cpu / grep_cpu, 1) if grep_cpu else None,
            "rss_over_bare_mib": round((ours_rss - bare_rss) / 1024.0, 1),
        }
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    finally:
        if not args.keep:
            for path in (log, pats):
                if os.path.exists(path):
                    os.remove(path)


if __name__ == "__main__":
    sys.exit(main())
