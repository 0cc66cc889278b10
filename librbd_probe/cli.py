"""Command line: ``python -m librbd_probe`` / ``librbd-probe``.

Exit codes (also in README.md):
  0  report produced, every --require satisfied
  1  a --require'd capability is not ``yes``
  2  usage error: bad option, or a path given on the command line that cannot be used
  3  could not determine: no librbd found, librbd unreadable, or the runtime probe failed
  4  explain: the text matched no known error signature
consumers: 0 all satisfied, 1 a consumer lacks functions, 3 a consumer or the library unreadable.
fleet: 0 every host uniform and at target, 1 a host flagged, 2 bad input, 3 no host scanned.
"""
import argparse
import os
import sys

from . import __version__
from .errors import LocateError, ProbeError, UsageError

DEFAULT_TIMEOUT = 15.0     # seconds; probe.DEFAULT_TIMEOUT, not imported to keep start-up lean

EXIT_OK = 0
EXIT_REQUIREMENT = 1
EXIT_USAGE = 2
EXIT_UNDETERMINED = 3

PROG = "librbd-probe"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and lets main() return 2."""

    def error(self, message):
        raise UsageError("{} (see {} --help)".format(message, self.prog))

    def _get_formatter(self):
        # argparse builds a formatter for every add_argument(); without an explicit width it
        # imports shutil (and bz2, lzma) to ask the terminal: milliseconds on every run.
        try:
            width = int(os.environ.get("COLUMNS", "")) - 2
        except ValueError:
            width = 78
        return self.formatter_class(prog=self.prog, width=max(width, 40))


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number: {!r}".format(text))
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0: {!r}".format(text))
    return value


def _add_library_options(parser):
    group = parser.add_argument_group("which libraries")
    group.add_argument("--librbd", metavar="PATH",
                       help="use this librbd file (env LIBRBD_PROBE_LIBRBD) instead of the loader's choice")
    group.add_argument("--librados", metavar="PATH",
                       help="use this librados file (env LIBRBD_PROBE_LIBRADOS)")
    group.add_argument("--root", metavar="DIR",
                       help="treat DIR as the file system root (build root, unpacked packages); static only")
    group.add_argument("--no-runtime", action="store_true",
                       help="do not load the libraries; read their ELF files only")
    group.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help="bound for the isolated runtime probe (default %(default)s)")
    conf = parser.add_argument_group("client configuration (read, never connected)")
    conf.add_argument("--conf", metavar="PATH",
                      help="ceph.conf to read (default: $CEPH_CONF, /etc/ceph/ceph.conf, ~/.ceph/ceph.conf, ./ceph.conf)")
    who = conf.add_mutually_exclusive_group()
    who.add_argument("--id", dest="client_id", metavar="ID", help="client id (section [client.ID]; default admin)")
    who.add_argument("--name", dest="client_name", metavar="TYPE.ID", help="client name, e.g. client.cinder")
    conf.add_argument("--sysfs", default="/sys", metavar="DIR",
                      help="where sysfs is mounted, for the kernel client's supported features (default /sys)")


def build_parser():
    parser = _Parser(prog=PROG, description="What can this host's Ceph RBD client do?")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    _add_library_options(parser)
    live = parser.add_argument_group("live mode (connects to the cluster; never without --live)")
    live.add_argument("--live", action="store_true",
                      help="read cluster facts and try each create path on scratch images in --pool")
    live.add_argument("--keyring", metavar="PATH", help="keyring for the client (default: from ceph.conf)")
    live.add_argument("--pool", default="rbd", help="pool for scratch images (default %(default)s)")
    live.add_argument("--namespace", metavar="NS", help="RBD namespace inside the pool")
    live.add_argument("--data-pool", metavar="POOL", help="also try rbd_create4 with this data pool")
    live.add_argument("--dry-run", action="store_true", help="with --live: print the plan, touch nothing")
    live.add_argument("--trial-timeout", type=_positive_float, default=30.0, metavar="SECONDS",
                      help="bound for each trial (default %(default)s)")
    live.add_argument("--census", action="store_true",
                      help="with --live: also list the clients the monitors see, decoded into releases by feature bits")
    out = parser.add_argument_group("output")
    fmt = out.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable report (schema_version, sorted keys)")
    fmt.add_argument("--markdown", action="store_true", help="capability matrix as a Markdown table")
    out.add_argument("--require", action="append", default=[], metavar="CAPABILITY",
                     help="exit 1 unless CAPABILITY is 'yes' (repeatable; e.g. create.format2)")
    out.add_argument("--prometheus", metavar="FILE",
                     help="also write the result as node_exporter textfile metrics to FILE (atomically)")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return SUBCOMMANDS[argv[0]](argv[1:])
        return _main(argv)
    except ProbeError as exc:
        code = EXIT_USAGE if isinstance(exc, (UsageError, LocateError)) else EXIT_UNDETERMINED
        _error(str(exc))
        return code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:
        # live mode's SIGINT/SIGTERM arrive here after its scratch images were removed
        from .live import Interrupted
        if isinstance(exc, Interrupted):
            _error("interrupted by {}; scratch images of this run were removed".format(exc))
            return 128 + exc.signum
        raise


def _error(message):
    sys.stderr.write("{}: error: {}\n".format(PROG, message))


def _main(argv):
    from . import render, scan

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # --help / --version
        return int(exc.code or 0)
    from . import knowledge as kn
    known = {c.id for c in kn.capabilities()} | {"feature." + f.name for f in kn.features()}
    unknown = [r for r in args.require if r not in known]
    if unknown:
        raise UsageError("unknown capability {} (known: {})".format(", ".join(unknown), ", ".join(sorted(known))))
    if args.live and (args.root or args.no_runtime):
        raise UsageError("--live loads the library and connects: it cannot go with --root or --no-runtime")
    if not args.live and (args.dry_run or args.keyring or args.namespace or args.data_pool or args.census):
        raise UsageError("--dry-run, --keyring, --namespace, --data-pool and --census need --live")
    if args.keyring:
        from .locate import check_explicit
        check_explicit(args.keyring, "--keyring")
    if args.prometheus:
        from .prometheus import check_path
        check_path(args.prometheus)
    report = scan.scan(librbd=args.librbd, librados=args.librados, root=args.root,
                       runtime=not args.no_runtime, timeout=args.timeout, conf=args.conf,
                       client_id=args.client_id, client_name=args.client_name, sysfs=args.sysfs)
    if args.live:
        report = _with_live(report, args)
    if args.json:
        sys.stdout.write(render.to_json(report.to_dict()))
    elif args.markdown:
        sys.stdout.write(render.report_markdown(report))
    else:
        sys.stdout.write(render.report_text(report))
    code = exit_code(report, args.require)
    if args.prometheus:
        import time
        from .prometheus import write_textfile
        write_textfile(args.prometheus, report.to_dict(), time.time(), exit_code=code)
    if code == EXIT_UNDETERMINED:
        _error(undetermined_reason(report))
    elif code == EXIT_REQUIREMENT:
        failed = [r for r in args.require if report.capability(r).status != "yes"]
        _error("requirement not met: " + ", ".join(
            "{} is {}".format(r, report.capability(r).status) for r in failed))
    return code


def _with_live(report, args):
    """Run live mode for the scanned library and fold its section and problems into the report."""
    from . import live
    librbd = report.libraries["librbd"]
    if not librbd.found or report.runtime.error or not report.runtime.loaded:
        return report
    options = live.LiveOptions(conf=report.config.get("file") if report.config else args.conf,
                               client_id=args.client_id, client_name=args.client_name, keyring=args.keyring,
                               pool=args.pool, namespace=args.namespace, data_pool=args.data_pool,
                               dry_run=args.dry_run, timeout=args.timeout, trial_timeout=args.trial_timeout)
    symbols = frozenset(n for n, v in report.runtime.symbols.items() if v.get("found"))
    rados = report.libraries["librados"]
    section = live.run_live(librbd.path, rados.path if rados.chosen_by == "explicit" else None, symbols,
                            report.release, options)
    problems = live.live_problems(section, report.release)
    if args.census and not args.dry_run and section.get("connected"):
        from . import census_live
        section = dict(section, census=census_live.run_census(
            librbd.path, rados.path if rados.chosen_by == "explicit" else None, options))
    return report._replace(live=section, problems=report.problems + tuple(problems))


def undetermined_reason(report):
    """One line: why the report could not determine what the client can do."""
    librbd = report.libraries["librbd"]
    if not librbd.found:
        return "no librbd.so.1 found" + (" under " + report.root if report.root else " where the loader looks")
    if librbd.error:
        return librbd.error
    if report.live is not None and report.live.get("error"):
        return "live mode: " + report.live["error"].get("message", "?")
    return "runtime probe failed: " + (report.runtime.error or {}).get("message", "?")


def exit_code(report, required=()):
    librbd = report.libraries["librbd"]
    if not librbd.found or librbd.error or (report.runtime.attempted and report.runtime.error):
        return EXIT_UNDETERMINED
    if report.live is not None and report.live.get("error"):
        return EXIT_UNDETERMINED
    for cap_id in required:
        if report.capability(cap_id).status != "yes":
            return EXIT_REQUIREMENT
    return EXIT_OK


# --- subcommands ------------------------------------------------------------------------
# Each takes the argv after its name and returns an exit code; the scan (no subcommand) is
# _main above.


#: explain: the text matched no known error signature (README "Exit codes").
EXIT_NO_MATCH = 4

_MAX_INPUT = 256 * 1024 * 1024     # bytes; only this much of a larger log is read


def _explain_parser():
    parser = _Parser(prog=PROG + " explain",
                     description="Find known Ceph RBD client errors in TEXT, --file LOG or standard input "
                                 "and explain each against this host: cause, evidence here, fix.")
    parser.add_argument("text", nargs="*", metavar="TEXT", help="the message (words are joined by spaces)")
    parser.add_argument("--file", "-f", metavar="LOG", help="read a log file ('-' for standard input)")
    parser.add_argument("--python", action="append", default=[], metavar="PATH",
                        help="interpreter whose rbd binding to examine (default: this one and /usr/bin/python3)")
    _add_library_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output (schema_version, sorted keys)")
    return parser


def _decode_input(data, what):
    """Text of a log, or UsageError for empty or binary input (one line, naming it)."""
    if not data.strip():
        raise UsageError("{}: empty input, nothing to explain".format(what))
    head = data[:65536]
    if b"\x00" in head:
        raise UsageError("{}: binary data, not a text log".format(what))
    text = data.decode("utf-8", "replace")
    sample = text[:65536]
    odd = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\r\n\t\f\x1b"))
    if odd > max(8, len(sample) // 20):
        raise UsageError("{}: binary data, not a text log".format(what))
    return text


def _read_explain_input(args):
    if args.text and args.file:
        raise UsageError("give TEXT or --file, not both")
    if args.text:
        return " ".join(args.text), "argument"
    if args.file and args.file != "-":
        path = args.file
        if not os.path.exists(path):
            raise UsageError("{}: --file does not exist".format(path))
        if os.path.isdir(path):
            raise UsageError("{}: --file is a directory".format(path))
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_INPUT)
        except OSError as exc:
            raise UsageError("{}: --file cannot be read: {}".format(path, exc.strerror or exc)) from exc
        return _decode_input(data, path), path
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    if args.file is None and hasattr(sys.stdin, "isatty") and sys.stdin.isatty():
        raise UsageError("nothing to explain: give TEXT, --file LOG, or pipe a log into standard input")
    try:
        data = stdin.read(_MAX_INPUT)
    except (OSError, ValueError) as exc:
        raise UsageError("standard input cannot be read: {}".format(exc)) from exc
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return _decode_input(data, "standard input"), "standard input"


def _scan_for_subcommand(args):
    from . import scan
    return scan.scan(librbd=args.librbd, librados=args.librados, root=args.root,
                     runtime=not args.no_runtime, timeout=args.timeout, conf=args.conf,
                     client_id=args.client_id, client_name=args.client_name, sysfs=args.sysfs)


def _explain(argv):
    """``explain [TEXT]``: exit 0 when something was explained, 4 when nothing matched."""
    parser = _explain_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # --help
        return int(exc.code or 0)
    text, source = _read_explain_input(args)
    from . import consumers, explain, render
    report = _scan_for_subcommand(args)
    context = consumers.explain_context(report, pythons=args.python or None)
    result = explain.explain(report, text, source=source, context=context)
    if args.json:
        sys.stdout.write(render.to_json(result.to_dict()))
    else:
        sys.stdout.write(render.explain_text(result))
    return EXIT_OK if result.matched else EXIT_NO_MATCH


def _consumers_parser():
    parser = _Parser(prog=PROG + " consumers",
                     description="For each program or module that calls librbd (the ELF files given, or "
                                 "QEMU, libvirt, fio, tcmu-runner and the Python bindings found in the usual "
                                 "places), list the rbd_*/rados_* functions it needs that the library it would "
                                 "load lacks.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="ELF files to check (default: the usual places)")
    parser.add_argument("--python", action="append", default=[], metavar="PATH",
                        help="interpreter whose bindings to check (default: this one and /usr/bin/python3)")
    _add_library_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output (schema_version, sorted keys)")
    return parser


def _consumers(argv):
    """``consumers [PATH ...]``: exit 0 when every consumer is satisfied, 1 when one lacks
    functions, 3 when a consumer or the library could not be read."""
    parser = _consumers_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    for path in args.paths:
        from .locate import check_explicit
        check_explicit(path, "consumer")
    from . import consumers, render
    report = _scan_for_subcommand(args)
    results = consumers.check_all(report, args.paths, pythons=args.python or None, root=args.root)
    if args.json:
        from .model import SCHEMA_VERSION
        sys.stdout.write(render.to_json({"schema_version": SCHEMA_VERSION,
                                         "libraries": {k: v.realpath for k, v in report.libraries.items()},
                                         "release": report.release,
                                         "consumers": [c.to_dict() for c in results]}))
    else:
        sys.stdout.write(render.consumers_text(report, results))
    if any(c.error for c in results) or not report.libraries["librbd"].found:
        return EXIT_UNDETERMINED
    return EXIT_REQUIREMENT if any(c.missing for c in results) else EXIT_OK


#: fleet: a host is flagged (stale, below a target, differs, could not be scanned, ...).
EXIT_FLAGGED = 1


def _fleet_parser():
    parser = _Parser(prog=PROG + " fleet",
                     description="One table of every client host: the reports of librbd-probe --json (files, a "
                                 "directory collected by contrib/ansible, or ansible-playbook's json callback "
                                 "output). Flags the hosts whose client differs from the majority or from a target, "
                                 "with the fix per host.")
    parser.add_argument("reports", nargs="+", metavar="REPORTS", help="report files, directories, Ansible JSON output")
    parser.add_argument("--target-release", metavar="VERSION",
                        help="flag hosts older than this Ceph version (default: the cluster's "
                             "require_min_compat_client and daemon versions from a live report, if any)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable (schemas/fleet.schema.json)")
    fmt.add_argument("--markdown", action="store_true", help="Markdown tables")
    fmt.add_argument("--html", metavar="FILE", help="write a self-contained HTML page to FILE ('-': standard output)")
    return parser


def _fleet(argv):
    """``fleet REPORTS...``: 0 every host uniform and at target, 1 a host is flagged, 2 bad input,
    3 no host could be scanned."""
    parser = _fleet_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    from . import fleet, render_fleet
    result = fleet.aggregate(fleet.load_inputs(args.reports), target_release=args.target_release)
    if args.html:
        page = render_fleet.fleet_html(result)
        if args.html == "-":
            sys.stdout.write(page)
        else:
            try:
                with open(args.html, "w", encoding="utf-8") as handle:
                    handle.write(page)
            except OSError as exc:
                raise UsageError("{}: --html cannot be written: {}".format(args.html, exc.strerror or exc)) from exc
            sys.stdout.write(render_fleet.fleet_text(result))
    elif args.json:
        sys.stdout.write(render_fleet.to_json(result))
    elif args.markdown:
        sys.stdout.write(render_fleet.fleet_markdown(result))
    else:
        sys.stdout.write(render_fleet.fleet_text(result))
    if all(h.status == "failed" for h in result.hosts):
        _error("no host could be scanned")
        return EXIT_UNDETERMINED
    flagged = result.flagged()
    if flagged:
        _error("{} of {} hosts flagged: {}".format(len(flagged), len(result.hosts),
                                                   ", ".join(h.name for h in flagged[:10]) +
                                                   (" ..." if len(flagged) > 10 else "")))
        return EXIT_FLAGGED
    return EXIT_OK


SUBCOMMANDS = {"explain": _explain, "consumers": _consumers, "fleet": _fleet}
