"""The command's process entry (scripts/librbd-probe, ``python -m librbd_probe``).

A runtime scan's probe child is started here, before cli.py (and argparse) is imported, so its
interpreter start overlaps everything this process imports (bench/bench_startup.py); cli.py
hands it the files and the request later (``probe.start_probe``).  Only for a plain command
line that scans with the runtime probe (``_plainargs``); anything else starts nothing here.
"""
import sys


def main():
    from ._plainargs import plain_scan_args
    argv = sys.argv[1:]
    args = plain_scan_args(argv)
    if args is not None and not args.no_runtime and not args.root:
        from . import probe
        probe.prestart(args.timeout)
    from .cli import run_and_exit
    run_and_exit(argv)
