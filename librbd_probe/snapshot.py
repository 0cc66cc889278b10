"""One side of a comparison, as plain data: what ``diff`` and the gates compare.

A side is a library file, a ``--root`` tree (a build root, unpacked packages), a saved JSON
report (``librbd-probe --json``) or a scan just made.  This module is the I/O edge: it reads
the files and runs the static scan; ``diff`` and ``gate`` only compare the snapshots.

A snapshot is a dict (JSON-ready, so a test can build one by hand)::

    {"source": str, "kind": "library" | "root" | "report" | "scan",
     "release": {...} | None,                   # the report's release section
     "capabilities": {id: {"status", "reason"}},
     "problems": [{"id", "severity", "message"}],
     "libraries": {name: {"found", "path", "soname", "needed", "runpath", "rpath",
                          "version_definitions", "build_id", "functions", "functions_from"}}}

``functions`` is the sorted list of exported ``rbd_*``/``rados_*`` C functions, each written
``name`` (unversioned, "Base" in dpkg's words) or ``name@NODE`` (a GNU symbol version), or
None when they could not be read: unknown, never an empty list.
"""
import errno
import os

from . import elf, safeio, savedjson
from . import knowledge as kn
from .errors import ElfError, InputError, LocateError, ProbeError, UsageError
from .savedjson import NONE, Map

LIBRARY_NAMES = ("librbd", "librados")
_LIBRARY_KEYS = ("found", "soname", "arch", "needed", "runpath", "rpath", "version_definitions", "build_id")


class SnapshotError(ProbeError, ValueError):
    """A side of a comparison could not be read (exit 3 in ``diff``)."""


_STR = (str, NONE)
_STRS = ([str], NONE)
#: the fields of a saved report that the snapshot, ``diff`` and the gates read (savedjson.problem)
REPORT_SHAPE = {
    "schema_version": (int, float, str, NONE),
    "root": _STR,
    "libraries": Map(({"found": (bool, int, NONE), "path": _STR, "realpath": _STR, "soname": _STR, "arch": _STR,
                       "needed": _STRS, "runpath": _STRS, "rpath": _STRS, "version_definitions": _STRS,
                       "build_id": _STR, "functions": _STRS}, NONE)),
    "capabilities": (Map(({"status": _STR, "reason": _STR}, NONE)), NONE),
    "problems": ([{"id": _STR, "severity": _STR, "message": _STR}], NONE),
    "release": ({"version": _STR, "min": _STR, "before": _STR, "codename": _STR}, NONE),
}


def function_key(symbol):
    """``name`` or ``name@NODE`` for one defined symbol (dpkg writes the first ``name@Base``)."""
    return symbol.name if not symbol.version else "{}@{}".format(symbol.name, symbol.version)


def api_functions(info):
    """Sorted keys of the exported C API functions of an ElfInfo (hidden base versions too)."""
    return sorted({function_key(s) for s in info.symbols
                   if s.defined and s.type in ("FUNC", "GNU_IFUNC")
                   and s.binding in ("GLOBAL", "WEAK") and s.visibility in ("DEFAULT", "PROTECTED")
                   and kn.is_api_function(s.name)})


def read_functions(path):
    """api_functions of the file at ``path``; ElfError when it is not a readable ELF file."""
    return api_functions(elf.read_elf(path, symbols=True, name_filter=kn.api_prefixes_bytes(), defined_only=True))


def _target_path(path, root):
    if root and path and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")):]
    return path


def from_report_dict(doc, source, kind="report"):
    """Snapshot of a parsed ``--json`` report.  Functions come from the report
    (``libraries.<name>.functions``, written by the scan), else -- a report of an older
    librbd-probe -- from the library file it names when that file is still there with the
    same build id (said in ``functions_from``), else they are unknown (None)."""
    name = safeio.one_line(source)
    if not isinstance(doc, dict) or not isinstance(doc.get("libraries"), dict) or "capabilities" not in doc:
        raise SnapshotError("{}: not a librbd-probe JSON report (no 'libraries'/'capabilities')".format(name))
    if doc.get("schema_version") != 1 or isinstance(doc.get("schema_version"), bool):
        raise SnapshotError("{}: report schema_version {}, this librbd-probe reads 1".format(
            name, safeio.one_line(repr(doc.get("schema_version")))[:40]))
    wrong = savedjson.problem(doc, REPORT_SHAPE)
    if wrong:
        raise SnapshotError("{}: not a librbd-probe JSON report: {}".format(name, wrong))
    libraries = {}
    for name in LIBRARY_NAMES:
        lib = doc["libraries"].get(name) or {"found": False}
        out = {key: lib.get(key) for key in _LIBRARY_KEYS}
        out["found"] = bool(lib.get("found"))
        out["path"] = _target_path(lib.get("realpath") or lib.get("path"), doc.get("root"))
        for key in ("needed", "runpath", "rpath", "version_definitions"):
            out[key] = list(out[key] or [])
        out["functions"], out["functions_from"] = _report_functions(lib, source)
        libraries[name] = out
    caps = {}
    for cap_id, cap in (doc.get("capabilities") or {}).items():
        cap = cap or {}
        caps[cap_id] = {"status": cap.get("status"), "reason": cap.get("reason")}
    problems = [{"id": p.get("id"), "severity": p.get("severity"), "message": p.get("message")}
                for p in doc.get("problems") or []]
    return {"source": source, "kind": kind, "release": doc.get("release"), "capabilities": caps,
            "problems": problems, "libraries": libraries}


def _report_functions(lib, source):
    if not lib.get("found") or lib.get("error"):
        return None, None
    if isinstance(lib.get("functions"), list):
        return sorted(lib["functions"]), "the report"
    real = lib.get("realpath")
    if not real or not os.path.isfile(real):
        return None, "{} lists no functions and {} is gone".format(source, real)
    if os.path.realpath(real).startswith(("/proc/", "/sys/", "/dev/")):
        # a path a saved report names is input too: no pseudo-file (/proc/kcore) is read for it
        return None, "{} lists no functions and names {}, not a library file".format(source, real)
    try:
        info = elf.read_elf(real, symbols=True, name_filter=kn.api_prefixes_bytes(), defined_only=True)
    except ElfError as exc:
        return None, "{} lists no functions and {} is unreadable: {}".format(source, real, exc)
    if lib.get("build_id") and info.build_id != lib.get("build_id"):
        return None, "{} lists no functions and {} changed since (build id {} != {})".format(
            source, real, info.build_id, lib.get("build_id"))
    return api_functions(info), "re-read from {} (build id {})".format(real, info.build_id or "absent")


def from_report(report, source="scan"):
    """Snapshot of a Report just made (functions read from the libraries it chose)."""
    doc = report.to_dict()
    snap = from_report_dict(doc, source, kind="scan")
    for name in LIBRARY_NAMES:
        lib = report.libraries.get(name)
        if lib is None or not lib.found or lib.error:
            continue
        try:
            snap["libraries"][name]["functions"] = read_functions(lib.realpath)
            snap["libraries"][name]["functions_from"] = lib.realpath
        except ElfError as exc:
            snap["libraries"][name]["functions"] = None
            snap["libraries"][name]["functions_from"] = str(exc)
    return snap


def report_document(report):
    """``report.to_dict()`` with each found library's ``functions`` (a baseline file that
    does not need the scanned files any more).  The scan lists them itself now; this fills
    them in only for a report made without (kept so a baseline never lacks them)."""
    doc = report.to_dict()
    for name in LIBRARY_NAMES:
        lib = report.libraries.get(name)
        if lib is None or not lib.found or lib.error or "functions" in doc["libraries"][name]:
            continue
        try:
            doc["libraries"][name]["functions"] = read_functions(lib.realpath)
        except ElfError:
            pass                    # no list: a gate on this baseline says the functions are unknown
    return doc


def _scan(**kwargs):
    from . import scan
    return scan.scan(**kwargs)


def from_path(path):
    """Snapshot of whatever ``path`` is: a directory (a root), an ELF library, a JSON report.

    LocateError (usage, exit 2) when the path cannot be used at all; SnapshotError or
    ElfError (exit 3) when it cannot be read as what it looks like.
    """
    try:
        return _from_path(path)
    except (UsageError, InputError, SnapshotError):
        raise
    except LocateError as exc:
        raise InputError(str(exc)) from exc
    except ProbeError as exc:           # ElfError of a library side, a scan's own errors
        raise SnapshotError(safeio.one_line(str(exc))) from exc


def _from_path(path):
    name = safeio.one_line(path)
    if "\0" in os.fsdecode(path):
        raise InputError("{}: a path cannot hold a NUL character".format(name))
    if os.path.islink(path) and not os.path.exists(path):
        raise InputError("{}: is a broken symbolic link (-> {})".format(name, safeio.one_line(os.readlink(path))))
    try:
        info = os.stat(path)
    except OSError as exc:
        reason = "does not exist" if exc.errno == errno.ENOENT else safeio.os_reason(exc, path)
        raise InputError("{}: {}".format(name, reason)) from exc
    if os.path.isdir(path):
        snap = _with_kind(from_report(_scan(root=path), source=path), "root")
        if not any(lib.get("found") for lib in snap["libraries"].values()):
            raise SnapshotError("{}: no librbd.so.1 or librados.so.2 under this root".format(name))
        return snap
    problem = safeio.kind_problem(info.st_mode)
    if problem:
        raise InputError("{}: {}".format(name, problem))
    handle, _size = safeio.open_regular(path, "", limit=None)
    with handle:
        try:
            head = handle.read(4)
        except OSError as exc:
            raise SnapshotError("{}: cannot be read: {}".format(name, safeio.os_reason(exc))) from exc
    if head == b"\x7fELF":
        return _from_library(path)
    doc = savedjson.read(path, "", error=SnapshotError, not_json="neither an ELF library, a directory nor a JSON report")
    return from_report_dict(doc, path)


def _absent():
    return {"found": False, "path": None, "soname": None, "arch": None, "needed": [], "runpath": [], "rpath": [],
            "version_definitions": [], "build_id": None, "functions": None, "functions_from": None}


def _with_kind(snap, kind):
    snap["kind"] = kind
    return snap


def _from_library(path):
    """A library file: librbd is scanned statically (with the librados next to it when there
    is one, so two trees never mix); librados alone gives its library facts only."""
    info = elf.read_elf(path, symbols=True, name_filter=kn.api_prefixes_bytes(), defined_only=True)
    soname = info.soname or os.path.basename(path)
    if soname.startswith("librbd."):
        sibling = os.path.join(os.path.dirname(os.path.abspath(path)), "librados.so.2")
        report = _scan(librbd=path, librados=sibling if os.path.exists(sibling) else None, runtime=False)
        return _with_kind(from_report(report, source=path), "library")
    if soname.startswith("librados."):
        lib = {"found": True, "path": os.path.abspath(path), "soname": info.soname, "arch": info.machine,
               "needed": list(info.needed), "runpath": list(info.runpath), "rpath": list(info.rpath),
               "version_definitions": list(info.version_definitions), "build_id": info.build_id,
               "functions": api_functions(info), "functions_from": path}
        return {"source": path, "kind": "library", "release": None, "capabilities": {}, "problems": [],
                "libraries": {"librbd": _absent(), "librados": lib}}
    raise UsageError("{}: soname {} is neither librbd nor librados".format(safeio.one_line(path), safeio.one_line(soname)))
