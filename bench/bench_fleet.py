#!/usr/bin/env python3
"""How long `librbd-probe fleet` takes on 10,000 reports (target: a few seconds).

The reports are real scans (tests/fleet_scenario.py: the installed 16.2.15, the 0.87 stand-in,
--root scans of Debian 14.2.21/18.2.7/20.2.4), copied to N host files in a collected
directory (with _hosts.json, as contrib/ansible leaves it).  Measured, median of --runs:
  load   reading and parsing the N files (fleet.load_inputs)
  agg    fleet.aggregate (pure)
  render text, JSON and HTML
  cli    the whole `python -m librbd_probe fleet DIR --json` in a fresh process, and its peak RSS

    python3 bench/bench_fleet.py [--hosts 10000] [--runs 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path[:0] = [PROJECT, os.path.join(PROJECT, "tests")]

import fleet_scenario  # noqa: E402
from librbd_probe import fleet, render_fleet  # noqa: E402


def build(directory, hosts):
    seeds = os.path.join(directory, "seeds")
    fleet_scenario.article_reports(seeds)
    try:
        fleet_scenario.corpus_reports(seeds)
    except BaseException:        # corpus missing: skip those seeds (pytest's skip is a BaseException)
        pass
    texts = []
    for name in sorted(os.listdir(seeds)):
        if name.endswith(".json") and not name.startswith("_"):
            with open(os.path.join(seeds, name)) as handle:
                texts.append((name[:-5], handle.read()))
    out = os.path.join(directory, "reports")
    os.makedirs(out)
    index = {}
    for number in range(hosts):
        # mostly 16.2.15, a few stale and odd ones, like a real fleet
        seed, text = texts[0] if number % 50 else texts[number // 50 % len(texts)]
        host = "host-{:05d}".format(number)
        with open(os.path.join(out, host + ".json"), "w") as handle:
            handle.write(text)
        index[host] = {"ansible_host": host, "addresses": ["10.{}.{}.{}".format(number >> 16, number >> 8 & 255,
                                                                                  number & 255)],
                       "report": host + ".json", "rc": 0}
    with open(os.path.join(out, "_hosts.json"), "w") as handle:
        json.dump({"collect_schema": 1, "hosts": index}, handle)
    return out, [t[0] for t in texts]


def timed(func, runs):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench-fleet-")
    try:
        reports, seeds = build(scratch, args.hosts)
        size = sum(os.path.getsize(os.path.join(reports, n)) for n in os.listdir(reports))
        load, inputs = timed(lambda: fleet.load_inputs([reports]), args.runs)
        agg, result = timed(lambda: fleet.aggregate(inputs), args.runs)
        text, _ = timed(lambda: render_fleet.fleet_text(result), args.runs)
        js, _ = timed(lambda: render_fleet.to_json(result), args.runs)
        page, _ = timed(lambda: render_fleet.fleet_html(result), args.runs)
        env = dict(os.environ, PYTHONPATH=PROJECT)

        def cli():
            return subprocess.run([sys.executable, "-m", "librbd_probe", "fleet", reports, "--json"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env).returncode
        whole, code = timed(cli, args.runs)
        print("fleet bench: {} hosts ({} distinct real reports: {}), {:.0f} MB of JSON, median of {} runs".format(
            args.hosts, len(seeds), ", ".join(seeds), size / 1e6, args.runs))
        print("  load (read + parse)   {:7.2f} s".format(load))
        print("  aggregate             {:7.2f} s".format(agg))
        print("  render text/json/html {:7.2f} / {:.2f} / {:.2f} s".format(text, js, page))
        import resource
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        print("  CLI fleet --json      {:7.2f} s (exit {}, {} flagged), peak RSS {:.0f} MiB".format(
            whole, code, len(result.flagged()), peak))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
