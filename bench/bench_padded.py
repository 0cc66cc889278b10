#!/usr/bin/env python3
"""A 1 GiB padded copy of librbd scans as fast as the original (issue 13, item 8).

The copy is the real librbd with 1 GiB of zeros appended, made sparse with truncate (what a
careless copy or a filesystem image with a grown file looks like; nothing in the headers
points at the padding, so readelf and the loader see the same library).  The bench runs
``python -m librbd_probe --librbd FILE --no-runtime --json`` on the original and on the copy,
alternating, each started with posix_spawn (bench/bench.py's _time_command), and reports the
median wall time of each, their ratio (goal: at most 1.2) and the peak RSS of one run of each
(GNU time's %M).  The two JSON reports must agree except for the library's path and size
(and the note that the loader itself would choose the original, not the copy).

``--inserted`` puts the hole inside the file instead (before the last PT_LOAD segment, every
later offset moved; readelf and the loader accept that copy too).

Usage: python3 bench/bench_padded.py [--runs N] [--python PATH] [--librbd PATH] [--json] [--inserted]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench import _peak_rss_mib, _time_command  # noqa: E402  (bench/ is not a package)

GIB = 1 << 30
TARGET_RATIO = 1.2


def make_padded(original, directory):
    """Copy ``original`` into ``directory`` and append 1 GiB of zeros as a sparse hole."""
    path = os.path.join(directory, os.path.basename(original))
    shutil.copyfile(original, path)
    os.truncate(path, os.path.getsize(original) + GIB)
    return path


def make_inserted(original, directory):
    """Copy ``original`` with a 1 GiB sparse hole INSIDE it, before its last PT_LOAD segment.

    Every program header and section header at or past the insertion point (the last
    segment's p_offset, after the end of the previous segment's file image) moves 1 GiB
    further in the file; virtual addresses stay, and p_offset keeps its congruence with
    p_vaddr modulo the page size (1 GiB is a multiple of it), so readelf reads the copy and
    the loader loads it.  (64-bit LSB only.)
    """
    import struct
    with open(original, "rb") as handle:
        data = bytearray(handle.read())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("bench_padded: {} is not a 64-bit little-endian ELF file".format(original))
    e_phoff, e_shoff = struct.unpack_from("<QQ", data, 32)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 54)
    phdrs = [e_phoff + i * e_phentsize for i in range(e_phnum)]
    loads = sorted(struct.unpack_from("<Q", data, at + 8)[0] for at in phdrs
                   if struct.unpack_from("<I", data, at)[0] == 1)
    ends = [struct.unpack_from("<Q", data, at + 8)[0] + struct.unpack_from("<Q", data, at + 32)[0] for at in phdrs
            if struct.unpack_from("<I", data, at)[0] == 1 and struct.unpack_from("<Q", data, at + 8)[0] < loads[-1]]
    cut = loads[-1]
    if max(ends) > cut:
        raise SystemExit("bench_padded: the PT_LOAD segments of {} overlap in the file".format(original))
    for at in phdrs:
        p_offset = struct.unpack_from("<Q", data, at + 8)[0]
        if p_offset >= cut:
            struct.pack_into("<Q", data, at + 8, p_offset + GIB)
    for i in range(e_shnum):
        at = e_shoff + i * e_shentsize
        sh_offset = struct.unpack_from("<Q", data, at + 24)[0]
        if sh_offset >= cut:
            struct.pack_into("<Q", data, at + 24, sh_offset + GIB)
    if e_shoff >= cut:
        struct.pack_into("<Q", data, 40, e_shoff + GIB)
    path = os.path.join(directory, os.path.basename(original))
    with open(path, "wb") as handle:
        handle.write(data[:cut])
        handle.seek(cut + GIB)
        handle.write(data[cut:])
    return path


def _strip(report, path):
    """The report with the things that must differ (the library's path and size) removed."""
    text = json.dumps(report, sort_keys=True).replace(path, "<librbd>")
    out = json.loads(text)
    for lib in (out.get("libraries") or {}).values():
        lib.pop("size", None)
        lib.pop("candidates", None)
    # the copy lives in another directory, so the loader would choose the original: a note
    out["problems"] = [p for p in out.get("problems") or () if not p["id"].startswith("explicit-choice.")]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--librbd", default="/usr/lib/x86_64-linux-gnu/librbd.so.1")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--inserted", action="store_true",
                        help="put the 1 GiB hole before the last PT_LOAD segment instead of at the end")
    args = parser.parse_args(argv)
    original = os.path.realpath(args.librbd)
    env = dict(os.environ, PYTHONPATH=PROJECT)
    env.pop("LIBRBD_PROBE_LIBRBD", None)
    workdir = tempfile.mkdtemp(prefix="bench-padded-")
    try:
        padded = (make_inserted if args.inserted else make_padded)(original, workdir)
        allocated = os.stat(padded).st_blocks * 512

        def argv_for(path):
            return [args.python, "-m", "librbd_probe", "--librbd", path, "--no-runtime", "--json"]

        reports = {}
        for name, path in (("original", original), ("padded", padded)):
            proc = subprocess.run(argv_for(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  universal_newlines=True, cwd=PROJECT)
            if proc.returncode != 0:
                raise SystemExit("bench_padded: {} exited {}: {}".format(name, proc.returncode, proc.stderr.strip()))
            reports[name] = _strip(json.loads(proc.stdout), path)
        same = reports["original"] == reports["padded"]
        _time_command(argv_for(original), 2, env=env)                   # warm the page cache
        samples = {"original": [], "padded": []}
        for _ in range(args.runs):
            samples["original"].append(_time_command(argv_for(original), 1, env=env))
            samples["padded"].append(_time_command(argv_for(padded), 1, env=env))
        med = {k: statistics.median(v) for k, v in samples.items()}
        rss = {"original": _peak_rss_mib(argv_for(original), env=env),
               "padded": _peak_rss_mib(argv_for(padded), env=env)}
        figures = {
            "runs": args.runs, "python": args.python, "librbd": original,
            "padding": "inserted before the last PT_LOAD" if args.inserted else "appended",
            "original_bytes": os.path.getsize(original), "padded_bytes": os.path.getsize(padded),
            "padded_allocated_bytes": allocated,
            "original_ms": round(med["original"] * 1000, 1), "padded_ms": round(med["padded"] * 1000, 1),
            "ratio": round(med["padded"] / med["original"], 3), "target_ratio": TARGET_RATIO,
            "original_peak_rss_mib": round(rss["original"], 1), "padded_peak_rss_mib": round(rss["padded"], 1),
            "reports_agree": same,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=True))
    else:
        print("librbd {} ({} bytes) and a copy with 1 GiB of zeros {} ({} bytes, {} allocated)".format(
            original, figures["original_bytes"], figures["padding"], figures["padded_bytes"],
            figures["padded_allocated_bytes"]))
        print("  CLI --no-runtime --json, median of {}: original {} ms, padded {} ms: ratio {} (goal <= {})".format(
            args.runs, figures["original_ms"], figures["padded_ms"], figures["ratio"], TARGET_RATIO))
        print("  peak RSS: original {} MiB, padded {} MiB; reports agree: {}".format(
            figures["original_peak_rss_mib"], figures["padded_peak_rss_mib"], same))
    ok = figures["ratio"] <= TARGET_RATIO and same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
