"""The command's process entry (scripts/librbd-probe, ``python -m librbd_probe``).

A runtime scan's probe child is started here, before cli.py (and argparse) is imported, so its
interpreter start overlaps everything this process imports (bench/bench_startup.py); cli.py
hands it the files and the request later (``probe.start_probe``).  Only for a plain command
line that scans with the runtime probe (``_plainargs``); anything else starts nothing here.

The installed script starts the interpreter without the site module (scripts/librbd-probe):
anything but a plain scan gets ``site.main()`` here first (the bindings and consumers checks
look for modules and packages on the sys.path site makes, and .pth files run),
so only the scan, which needs nothing of it, starts without.
"""
import sys


def main():
    from ._plainargs import plain_scan_args
    argv = sys.argv[1:]
    args = plain_scan_args(argv)
    if args is None:
        full_site()
    elif not args.no_runtime and not args.root:
        from . import probe
        probe.prestart(args.timeout)
    from .cli import run_and_exit
    run_and_exit(argv)


def full_site():
    """``site.main()`` when the interpreter was started without it (-S) and it has not run."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site
        site.main()
