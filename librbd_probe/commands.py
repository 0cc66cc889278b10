"""The subcommands of the command line (explain, consumers, diff, symbols, schema, fleet).

Each takes the argv after its name and returns an exit code; cli.py imports this module only
when the first argument names one (``cli.SUBCOMMAND_NAMES``), so a plain scan never loads their
code (start-up: bench/bench_startup.py).  The scan itself, the one writer and the shared option
and file helpers are cli.py's.
"""
import os
import sys

from .cli import (EXIT_FLAGGED, EXIT_NO_MATCH, EXIT_OK, EXIT_REQUIREMENT, EXIT_UNDETERMINED, PROG, _Parser,
                  _add_library_options, _check_output, _error, _read_named, _write, _write_file)
from .errors import UsageError


def _explain_parser():
    parser = _Parser(prog=PROG + " explain",
                     description="Find known Ceph RBD client errors in TEXT, --file LOG or standard input "
                                 "and explain each against this host: cause, evidence here, confidence, fix. "
                                 "Logs of any size are read incrementally; gzip, xz and bzip2 logs are "
                                 "decompressed on the fly.")
    parser.add_argument("text", nargs="*", metavar="TEXT", help="the message (words are joined by spaces)")
    parser.add_argument("--file", "-f", metavar="LOG", help="read a log file, plain or .gz/.xz/.bz2 ('-' for standard input)")
    return _with_host_options(parser, "interpreter whose rbd binding to examine")


def _with_host_options(parser, python_help):
    """The options explain and consumers share: --python, the library options, --json."""
    parser.add_argument("--python", action="append", default=[], metavar="PATH",
                        help=python_help + " (default: this one and /usr/bin/python3)")
    _add_library_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output (schema_version, sorted keys)")
    return parser


def _read_explain_input(args):
    """An opened explain.Source (checked: not empty, not binary), or UsageError."""
    from . import explain
    if args.text and args.file:
        raise UsageError("give TEXT or --file, not both")
    if args.text:
        return explain.open_text(" ".join(args.text), "argument")
    if args.file and args.file != "-":
        return explain.open_path(args.file)
    if args.file is None and hasattr(sys.stdin, "isatty") and sys.stdin.isatty():
        raise UsageError("nothing to explain: give TEXT, --file LOG, or pipe a log into standard input")
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    return explain.open_stream(_BinaryStdin(stdin), "standard input")


class _BinaryStdin(object):
    """Standard input as bytes even when a test replaced sys.stdin with a text stream."""

    def __init__(self, stream):
        self._stream = stream

    def read(self, size=-1):
        data = self._stream.read(size)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        return data


def _scan_for_subcommand(args):
    from . import scan
    return scan.scan(librbd=args.librbd, librados=args.librados, root=args.root,
                     runtime=not args.no_runtime, timeout=args.timeout, conf=args.conf,
                     client_id=args.client_id, client_name=args.client_name, sysfs=args.sysfs)


def _explain(argv):
    """``explain [TEXT]``: exit 0 when something was explained, 4 when nothing matched."""
    parser = _explain_parser()
    args = parser.parse_args(argv)
    source = _read_explain_input(args)
    from . import consumers, explain, render
    from .explain import hostinfo
    try:
        report = _scan_for_subcommand(args)
        context = hostinfo.gather(report, consumers.explain_context(report, pythons=args.python or None))
        result = explain.explain_source(report, source, context=context)
    finally:
        source.close()
    if args.json:
        _write(render.to_json(result.to_dict()))
    else:
        _write(render.explain_text(result))
    return EXIT_OK if result.matched else EXIT_NO_MATCH


def _consumers_parser():
    parser = _Parser(prog=PROG + " consumers",
                     description="For each program or module that uses librbd/librados (the ELF files given, "
                                 "or every one found by content under bin, sbin, libexec, lib, lib64, the "
                                 "plugin directories and the Python site/dist-packages), the dynamic loader's "
                                 "verdict: every C and C++ symbol and symbol version it needs from the Ceph "
                                 "libraries of its NEEDED closure, and what its user would see.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="ELF files to check (default: every consumer found by content)")
    return _with_host_options(parser, "interpreter whose bindings to check")


def _consumers(argv):
    """``consumers [PATH ...]``: exit 0 when every consumer is satisfied, 1 when one lacks
    functions, 3 when a consumer or the library could not be read."""
    parser = _consumers_parser()
    args = parser.parse_args(argv)
    for path in args.paths:
        from .locate import check_explicit
        check_explicit(path, "consumer")
    from . import consumers, render
    report = _scan_for_subcommand(args)
    results = consumers.check_all(report, args.paths, pythons=args.python or None, root=args.root)
    if args.json:
        from .model import SCHEMA_VERSION
        _write(render.to_json({"schema_version": SCHEMA_VERSION,
                                         "libraries": {k: v.realpath for k, v in report.libraries.items()},
                                         "release": report.release,
                                         "consumers": [c.to_dict() for c in results]}))
    else:
        _write(render.consumers_text(report, results))
    if any(c.error for c in results) or (not args.paths and not report.libraries["librbd"].found):
        return EXIT_UNDETERMINED
    return EXIT_REQUIREMENT if any(c.loads is False for c in results) else EXIT_OK


SUBCOMMANDS = {"explain": _explain, "consumers": _consumers}   # cli.SUBCOMMAND_NAMES lists them all

def _diff_parser():
    parser = _Parser(prog=PROG + " diff",
                     description="Compare two Ceph client builds: each a library file, a --root style tree "
                                 "(directory) or a saved --json report. Exit bitfield like abidiff: 0 no change, "
                                 "4 compatible changes, 12 (4|8) incompatible, 2 usage, 3 could not read/compare.")
    parser.add_argument("old", metavar="OLD")
    parser.add_argument("new", metavar="NEW")
    parser.add_argument("--consumer", action="append", default=[], metavar="PATH",
                        help="an ELF program/module (or a 'consumers --json' file) whose needed functions "
                             "must not be removed (repeatable)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable output (schema: diff)")
    fmt.add_argument("--markdown", action="store_true", help="a Markdown table for build logs and tickets")
    return parser


#: the part of a 'consumers --json' report that diff --consumer reads (savedjson.problem)
_CONSUMERS_SHAPE = {"consumers": [{"path": str, "needs": [str]}]}


def _diff_consumers(paths):
    from . import elf, safeio, savedjson
    out = []
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError("{}: --consumer does not exist".format(safeio.one_line(path)))
        handle, _size = safeio.open_regular(path, "--consumer", limit=None)
        with handle:
            head = handle.read(4)
        if head != b"\x7fELF":
            not_report = "{}: --consumer is neither an ELF file nor a 'consumers --json' report".format(
                safeio.one_line(path))
            try:
                doc = savedjson.loads(_read_named(path, "--consumer"), path, "--consumer", UsageError)
            except UsageError as exc:
                raise UsageError("{} ({})".format(not_report, str(exc).split(": ", 1)[-1])) from exc
            wrong = savedjson.problem(doc, _CONSUMERS_SHAPE)
            if wrong or "consumers" not in doc:
                raise UsageError("{} ({})".format(not_report, wrong or "no 'consumers'"))
            out.extend({"path": c.get("path"), "needs": list(c.get("needs") or ())} for c in doc["consumers"]
                       if c.get("path"))
            continue
        from . import knowledge
        info = elf.read_elf(path, symbols=True, name_filter=knowledge.api_prefixes_bytes())
        out.append({"path": path, "needs": sorted({s.name for s in info.symbols
                                                   if not s.defined and s.binding != "WEAK"})})
    return out


def _diff(argv):
    """``diff OLD NEW``: the exit code is diff.compare's bitfield."""
    parser = _diff_parser()
    args = parser.parse_args(argv)
    from . import diff, render, snapshot
    consumers = _diff_consumers(args.consumer)
    result = diff.compare(snapshot.from_path(args.old), snapshot.from_path(args.new), consumers)
    if args.json:
        _write(render.to_json(result))
    elif args.markdown:
        _write(diff.to_markdown(result))
    else:
        _write(diff.to_text(result))
    if result["exit_code"] == diff.EXIT_UNDETERMINED:
        _error("; ".join(result["changes"]["unknown"]))
    return result["exit_code"]


def _symbols_parser():
    parser = _Parser(prog=PROG + " symbols",
                     description="Write a dpkg-gensymbols symbols file (or, with --plain, a plain list for RPM "
                                 "builds) of the chosen librbd or librados, every C function stamped with the "
                                 "upstream Ceph release that first had it.")
    parser.add_argument("library", nargs="?", default="librbd", choices=("librbd", "librados"))
    parser.add_argument("--plain", action="store_true", help="plain 'name[@node] release' lines (RPM builds)")
    parser.add_argument("--package", metavar="NAME", help="binary package name (default: Debian's, e.g. librbd1)")
    parser.add_argument("--build-depends", metavar="NAME",
                        help="the -dev package for '* Build-Depends-Package:' (default: none)")
    parser.add_argument("--release", metavar="VERSION",
                        help="upstream release of this build (default: the identified one)")
    group = parser.add_argument_group("which libraries")
    group.add_argument("--librbd", metavar="PATH", help="this librbd file")
    group.add_argument("--librados", metavar="PATH", help="this librados file")
    group.add_argument("--root", metavar="DIR", help="the build root or unpacked packages")
    return parser


def _symbols(argv):
    """``symbols [librbd|librados]``: 0 written, 3 library missing/unreadable or release unknown."""
    parser = _symbols_parser()
    args = parser.parse_args(argv)
    from . import _kn, elf, scan, symbols_file
    if args.release and not all(p.isdigit() for p in args.release.split(".")):
        raise UsageError("--release takes an upstream version such as 18.2.7, not {!r}".format(args.release))
    report = scan.scan(librbd=args.librbd, librados=args.librados, root=args.root, runtime=False)
    lib = report.libraries[args.library]
    if not lib.found or lib.error:
        _error("{}: {}".format(args.library, lib.error or "not found" + (" under " + args.root if args.root else "")))
        return EXIT_UNDETERMINED
    release = args.release or (report.release or {}).get("version")
    if not release:
        _error("the release of {} was not identified exactly; give --release VERSION".format(lib.realpath))
        return EXIT_UNDETERMINED
    package = args.package or _kn.debian_package(args.library)
    if not package and not args.plain:
        raise UsageError("--package NAME is needed (the knowledge base names no Debian package)")
    info = elf.read_elf(lib.realpath, symbols=True, defined_only=True)
    source = lib.realpath
    if report.root and source.startswith(report.root.rstrip("/") + "/"):
        source = source[len(report.root.rstrip("/")):]
    if args.plain:
        _write(symbols_file.plain_list(info.symbols, lib.soname, release, source))
    else:
        _write(symbols_file.dpkg_symbols(info.symbols, lib.soname, package, release, source,
                                                   build_depends=args.build_depends))
    return EXIT_OK


def _schema(argv):
    """``schema [NAME]``: list the shipped JSON Schemas, or print one (2: unknown name)."""
    parser = _Parser(prog=PROG + " schema", description="List the JSON Schemas of the --json outputs, or print one.")
    parser.add_argument("name", nargs="?", metavar="NAME")
    args = parser.parse_args(argv)
    from . import schemas
    if args.name is None:
        for name in schemas.names():
            _write(name + "\n")
    else:
        _write(schemas.text(args.name))
    return EXIT_OK


SUBCOMMANDS.update({"diff": _diff, "symbols": _symbols, "schema": _schema})
# --- end of issue 11 ---


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
    args = parser.parse_args(argv)
    from . import fleet, render_fleet
    if args.html and args.html != "-":
        _check_output(args.html, "--html")
    result = fleet.aggregate(fleet.load_inputs(args.reports), target_release=args.target_release)
    if args.html:
        page = render_fleet.fleet_html(result)
        if args.html == "-":
            _write(page)
        else:
            _write_file(args.html, page, "--html")
            _write(render_fleet.fleet_text(result))
    elif args.json:
        _write(render_fleet.to_json(result))
    elif args.markdown:
        _write(render_fleet.fleet_markdown(result))
    else:
        _write(render_fleet.fleet_text(result))
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


SUBCOMMANDS["fleet"] = _fleet
