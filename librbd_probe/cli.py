"""Command line: ``python -m librbd_probe`` / ``librbd-probe``.

Exit codes (also in README.md):
  0  report produced, every --require satisfied
  1  a --require'd capability is not ``yes``
  2  usage error: bad option, or a path given on the command line that cannot be used
  3  could not determine: no librbd found, librbd unreadable, or the runtime probe failed
  4  explain: the text matched no known error signature
  3  also: an internal error (a bug: one line "internal error: ..."; LIBRBD_PROBE_DEBUG=1 shows
     the traceback instead)
  141 standard output closed early (``| head``): nothing more is written
consumers: 0 all satisfied, 1 a consumer lacks functions, 3 a consumer or the library unreadable.
fleet: 0 every host uniform and at target, 1 a host flagged, 2 bad input, 3 no host scanned.
"""
import os
import sys

from . import __version__
from ._lazy import memo
from .errors import InputError, LocateError, ProbeError, UsageError

DEFAULT_TIMEOUT = 15.0     # seconds; probe.DEFAULT_TIMEOUT, not imported to keep start-up lean

EXIT_OK = 0
EXIT_REQUIREMENT = 1
EXIT_USAGE = 2
EXIT_UNDETERMINED = 3

PROG = "librbd-probe"


class _ParserExit(Exception):
    """--help / --version printed: main() returns ``status`` (every parser, one place)."""

    def __init__(self, status):
        Exception.__init__(self, status)
        self.status = status


def _Parser(**options):
    """An argparse parser that reports a usage error in one line and lets main() return 2.
    argparse (with re, gettext and enum) is imported only by a command line that needs it:
    a plain scan is parsed by ``_plainargs`` (bench/bench_startup.py)."""
    return _parser_class()(**options)


@memo
def _parser_class():
    import argparse

    class Parser(argparse.ArgumentParser):
        __doc__ = _Parser.__doc__

        def error(self, message):
            raise UsageError("{} (see {} --help)".format(message, self.prog))

        def exit(self, status=0, message=None):
            if message:
                _write(message, sys.stderr)
            raise _ParserExit(int(status or 0))

        def _print_message(self, message, file=None):
            if message:
                _write(message, file or sys.stderr)

        def _get_formatter(self):
            # argparse builds a formatter for every add_argument(); without an explicit width it
            # imports shutil (and bz2, lzma) to ask the terminal: milliseconds on every run.
            try:
                width = int(os.environ.get("COLUMNS", "")) - 2
            except ValueError:
                width = 78
            return self.formatter_class(prog=self.prog, width=max(width, 40))

    return Parser


def _positive_float(text):
    import argparse
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
    _add_gate_options(out)              # issue 11
    out.add_argument("--prometheus", metavar="FILE",
                     help="also write the result as node_exporter textfile metrics to FILE (atomically)")
    return parser


def _parse_scan_args(argv):
    """``build_parser().parse_args(argv)``, without building the parser when every argument is
    a plain form (``_plainargs``); anything else (abbreviations, ``--opt=value``, ``--help``,
    an error) goes to argparse, which parses or rejects it with its usual message."""
    from ._plainargs import plain_scan_args
    return plain_scan_args(argv) or build_parser().parse_args(argv)


def main(argv=None):
    code = _guarded(sys.argv[1:] if argv is None else list(argv))
    try:
        _flush()            # a reader gone (| head) shows here, not in the interpreter's exit
    except BrokenPipeError:
        return _stdout_gone()
    return code


def _guarded(argv):
    """The command, every exception turned into one line and an exit code (README "Exit codes")."""
    try:
        if argv and argv[0] in SUBCOMMAND_NAMES:
            from .commands import SUBCOMMANDS
            return SUBCOMMANDS[argv[0]](argv[1:])
        return _main(argv)
    except _ParserExit as exc:
        return exc.status
    except ProbeError as exc:
        code = EXIT_USAGE if isinstance(exc, (UsageError, LocateError, InputError)) else EXIT_UNDETERMINED
        _error(str(exc))
        return code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        return _stdout_gone()
    except Exception as exc:
        # live mode's SIGINT/SIGTERM arrive here after its scratch images were removed
        from .live import Interrupted
        if isinstance(exc, Interrupted):
            _error("interrupted by {}; scratch images of this run were removed".format(exc))
            return 128 + exc.signum
        return _internal_error(exc)


#: the reader of standard output went away (``librbd-probe --json | head``): 128 + SIGPIPE, silent.
EXIT_STDOUT_GONE = 141


def _flush():
    for stream in (sys.stdout, sys.stderr):
        flush = getattr(stream, "flush", None)
        if flush is not None:
            flush()


def _stdout_gone():
    """Point fd 1 at /dev/null so the interpreter's final flush does not print a second error."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_STDOUT_GONE


def _internal_error(exc):
    """An exception no input should cause: a bug.  One line and exit 3, unless
    LIBRBD_PROBE_DEBUG=1 asks for the traceback (README "Exit codes")."""
    if os.environ.get("LIBRBD_PROBE_DEBUG") == "1":
        raise exc
    where = ""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = " at {}:{}".format(os.path.basename(tb.tb_frame.f_code.co_filename), tb.tb_lineno)
    _error("internal error: {}: {}{} (a bug of librbd-probe {}: please report it; LIBRBD_PROBE_DEBUG=1 "
           "shows the traceback)".format(type(exc).__name__, str(exc)[:500], where, __version__))
    return EXIT_UNDETERMINED


def _clean(text):
    """Text as it may leave the process: cephx keys (their shape, and every keyring secret read
    so far: safeio.known_secrets) redacted, control characters escaped except newline and tab
    (so no value from a file or a name can move the cursor, colour the terminal or forge a line
    of its own inside a line)."""
    from . import safeio, textout
    text = safeio.redact(text, safeio.known_secrets())
    if not textout.has_other_control(text):
        return text
    return "\n".join("\t".join(safeio.one_line(part) for part in line.split("\t")) for line in text.split("\n"))


def _write(text, stream=None):
    """The one writer of everything the CLI prints: standard output unless ``stream``."""
    (stream or sys.stdout).write(_clean(text))


def run_and_exit(argv=None):
    """The command's process entry (scripts/librbd-probe, ``python -m librbd_probe``): ``main``,
    then the process ends without the interpreter's tear-down, which frees every module and
    object one by one (3-5 ms of a 40 ms static scan: bench/bench_startup.py).  Standard output
    and error are flushed and the atexit functions run first (a child still running is killed),
    so nothing written or started is lost; if a flush fails, the interpreter's own exit handles
    it as it always did.

    The cyclic garbage collector runs after 20,000 net allocations instead of 700: a scan then
    collects never instead of 17 times (2-3 ms); it still collects on long runs (explain over a
    large log), only less often.
    """
    import gc
    gc.set_threshold(20000, 10, 10)
    code = main(argv)
    code = 0 if code is None else code
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        import atexit
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:                   # noqa: BLE001 - the normal exit reports it
        sys.exit(code)
    os._exit(code)


def _error(message):
    """One line on standard error, whatever the message holds (a path, a value from a file)."""
    from . import safeio
    _write("{}: error: {}\n".format(PROG, safeio.one_line(message)), sys.stderr)


def _check_output(path, what):
    """Refuse, before scanning, an output FILE that exists and is not a regular file (a FIFO
    would block the write, a device would be written to or, by --prometheus' rename, replaced)."""
    from . import safeio
    try:
        info = os.stat(path)
    except OSError:
        return                          # created on write; an unwritable directory fails then
    problem = safeio.kind_problem(info.st_mode)
    if problem:
        raise UsageError("{}: {} {}".format(safeio.one_line(path), what, problem))


def _write_file(path, text, what):
    """Write ``text`` (through the CLI's cleaning) to the regular file ``path``; never blocks."""
    _check_output(path, what)
    from . import safeio
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            if safeio.kind_problem(os.fstat(handle.fileno()).st_mode):
                raise OSError(0, "not a regular file")
            handle.write(_clean(text))
    except OSError as exc:
        raise UsageError("{}: {} cannot be written: {}".format(
            safeio.one_line(path), what, exc.strerror or exc)) from exc


def _main(argv):
    args = _parse_scan_args(argv)
    if not args.no_runtime and not args.root:
        from . import probe             # the probe child's interpreter starts while the scan is imported
        probe.prestart(args.timeout)
    from . import scan
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
    gates = _prepare_gates(args)        # issue 11: read --baseline/--policy before scanning
    if args.prometheus:
        from .prometheus import check_path
        check_path(args.prometheus)
    report = scan.scan(librbd=args.librbd, librados=args.librados, root=args.root,
                       runtime=not args.no_runtime, timeout=args.timeout, conf=args.conf,
                       client_id=args.client_id, client_name=args.client_name, sysfs=args.sysfs,
                       keyring=args.keyring)
    if args.live:
        report = _with_live(report, args)
    if args.json:
        from ._jsonout import to_json          # (render.to_json: the text renderers not imported)
        _write(to_json(report.to_dict()))
    elif args.markdown:
        from . import render
        _write(render.report_markdown(report))
    else:
        from . import render
        _write(render.report_text(report))
    code = exit_code(report, args.require)
    if args.prometheus:
        import time
        from .prometheus import write_textfile
        write_textfile(args.prometheus, report.to_dict(), time.time(), exit_code=code, clean=_clean)
    if code == EXIT_UNDETERMINED:
        _error(undetermined_reason(report))
    elif code == EXIT_REQUIREMENT:
        failed = [r for r in args.require if report.capability(r).status != "yes"]
        _error("requirement not met: " + ", ".join(
            "{} is {}".format(r, report.capability(r).status) for r in failed))
    if code != EXIT_UNDETERMINED and gates:
        code = _run_gates(gates, report) or code     # issue 11
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
                            report.release, options,
                            keyring_fifos=tuple((report.config or {}).get("keyring_fifos") or ()))
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
# librbd_probe/commands.py (imported only for a subcommand: a plain scan never loads their code).

#: explain: the text matched no known error signature (README "Exit codes").
EXIT_NO_MATCH = 4
#: fleet: a host is flagged (stale, below a target, differs, could not be scanned, ...).
EXIT_FLAGGED = 1
SUBCOMMAND_NAMES = ("explain", "consumers", "diff", "symbols", "schema", "fleet")


# --- issue 11: distro build gate (diff, symbols, schema; --baseline/--policy of the scan) ---
# The logic lives in snapshot.py, diff.py, gate.py, symbols_file.py and schemas/; this block
# only parses arguments and maps results to exit codes.

def _add_gate_options(group):
    group.add_argument("--baseline", metavar="REPORT.json",
                       help="exit 1 (one stderr line per regression) when a capability that was yes in this "
                            "saved --json report is now no/unknown, or a function disappeared")
    group.add_argument("--policy", metavar="FILE",
                       help="exit 1 unless the policy FILE holds (required capabilities, feature bits, "
                            "min-release, allowed problems; format in README)")
    group.add_argument("--save-baseline", metavar="FILE",
                       help="also write the --json report (it lists each library's exported functions) to FILE: "
                            "a baseline for --baseline that stays usable once the scanned tree is gone")


def _read_named(path, what):
    """The bytes of a saved input named on the command line (--baseline, --policy, --consumer):
    a regular file of at most safeio.LIMITS["report"], never opened when it is not one."""
    from . import safeio
    if not os.path.lexists(path):
        raise UsageError("{}: {} does not exist".format(safeio.one_line(path), what))
    return safeio.read_bytes(path, what, limit=safeio.LIMITS["report"])


def _read_text(path, what):
    from . import safeio
    data = _read_named(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError("{}: {} is not UTF-8 text (byte 0x{:02x} at offset {})".format(
            safeio.one_line(path), what, data[exc.start], exc.start)) from exc


def _prepare_gates(args):
    """(baseline snapshot or None, policy or None); bad files are usage errors (exit 2)."""
    baseline = policy = None
    if args.baseline:
        from . import savedjson, snapshot
        doc = savedjson.loads(_read_named(args.baseline, "--baseline"), args.baseline, "--baseline",
                              UsageError, not_json="is not JSON")
        try:
            baseline = snapshot.from_report_dict(doc, args.baseline)
        except snapshot.SnapshotError as exc:
            raise UsageError(str(exc)) from exc
    if args.policy:
        from . import gate, safeio
        policy = gate.parse_policy(_read_text(args.policy, "--policy"), safeio.one_line(args.policy))
    if args.save_baseline and os.path.isdir(args.save_baseline):
        from . import safeio
        raise UsageError("{}: --save-baseline is a directory".format(safeio.one_line(args.save_baseline)))
    if args.save_baseline:
        _check_output(args.save_baseline, "--save-baseline")
    return (baseline, policy, args.save_baseline) if (baseline or policy or args.save_baseline) else None


def _run_gates(gates, report):
    """Exit 1 with one stderr line per regression or policy failure, else None."""
    from . import gate, render, snapshot
    baseline, policy, save = gates
    if save:
        _write_file(save, render.to_json(snapshot.report_document(report)), "--save-baseline")
    current = snapshot.from_report(report)
    lines = []
    if baseline is not None:
        lines.extend(gate.baseline_regressions(baseline, current))
    if policy is not None:
        lines.extend(gate.check_policy(policy, current))
    for line in lines:
        _error(line)
    return EXIT_REQUIREMENT if lines else None
