"""Programs and modules that use librbd/librados: the dynamic loader's verdict for each.

Each consumer's NEEDED closure is built as ld.so builds it and every undefined symbol (C and
C++) and version requirement is bound against it (``loader``).  The failures that concern the
Ceph client libraries are reported in the consumer's own terms: demangled C++ names with a
cause where one can be known (the bufferlist ABI namespace, a changed signature, a first
release), and the message its user sees (an ImportError for a Python extension, QEMU's failed
block module, libvirt's missing rbd backend, fio's rbd engine, a program's "symbol lookup
error" at start or at first call).  Discovery is ``discover``; this module decides nothing
about where to look.
"""
import os
import re

from . import bindings as bindings_mod
from . import demangle, discover, elf, loader, locate
from . import knowledge as kn
from .errors import ElfError, ProbeError
from .model import Record

PREFIXES = (b"rbd_", b"rados_")
CEPH_LIBRARIES = ("librbd", "librados", "libradosstriper", "libceph-common")
_CEPH_SONAME = re.compile(r"^(librbd\.so\.1|librados\.so\.2|libradosstriper\.so\.1|libceph-common\.so\.\d+)$")
_BUFFER_NS = re.compile(r"4ceph6buffer7(v[0-9_]{6})")   # <source-name> 7: "v15_2_0"


class Consumer(
        metaclass=Record,
        fields="path kind needs weak library_paths missing error runpath loads bind_now not_found skipped "
        "versions pairing sees other_failures ceph_ok host_symbols",
        defaults=((), (), (), (), None, (), None, None, (), (), (), (), None, (), None, ()),
        lines=("missing", "error", "not_found", "skipped", "versions", "sees", "other_failures")):
    """One consumer and the loader's verdict on it (its messages one line each: model.line_text)."""
    # Fields (immutable):
    #   path: str
    #   kind: str                 # "Python extension module", "QEMU block module", "program", ...
    #   needs: Tuple[str, ...]    # undefined strong symbols the Ceph libraries are asked for
    #   weak: Tuple[str, ...]     # undefined weak ones: bound to NULL when absent, not an error
    #   library_paths: Tuple[str, ...]  # the Ceph client libraries of its closure (target paths)
    #   missing: Tuple[Dict, ...] # {symbol, demangled, version, library, first, codename, cause,
    #                             #  bound_at, consequence} per unbound Ceph symbol or version
    #   error: Optional[str]      # the consumer could not be read
    #   runpath: Tuple[str, ...]
    #   loads: Optional[bool]     # the loader's verdict on the whole consumer: every NEEDED found,
    #                             #  every version met, every strong symbol bound (None: unread)
    #   bind_now: bool            # DF_BIND_NOW / DF_1_NOW: every symbol bound at start
    #   not_found: Tuple[Dict, ...]   # {name, needed_by, skipped}: NEEDED names with no acceptable file
    #   skipped: Tuple[str, ...]  # candidates the loader rejects ("path: wrong ELF class ...")
    #   versions: Tuple[Dict, ...]    # {version, file}: unmet version requirements on Ceph libraries
    #   pairing: Optional[Dict]   # librbd/librados with their libceph-common: soname, release, unbound
    #   sees: Optional[str]       # what the user sees, first failure
    #   other_failures: Tuple[Dict, ...]  # {symbol, demangled, version, file}: unbound outside the
    #                             #  Ceph libraries (libc versions, libraries absent here, ...)
    #   ceph_ok: Optional[bool]   # no failure that concerns the Ceph client libraries
    #   host_symbols: Tuple[str, ...]  # a loadable module's unversioned non-Ceph names that its
    #                             #  own closure lacks: the program that dlopens it (python3,
    #                             #  qemu, fio, ...) supplies them, so they are not failures
    __slots__ = ()

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._asdict().items()}


def library_functions(path):
    """Exported rbd_/rados_ C functions of a library file (as the scan counts them)."""
    info = elf.read_elf(path, symbols=True, name_filter=PREFIXES)
    return frozenset(s.name for s in info.symbols
                     if s.defined and s.type in ("FUNC", "GNU_IFUNC")
                     and s.visibility in ("DEFAULT", "PROTECTED") and not s.version_hidden)


def is_ceph_library(soname):
    return bool(soname and _CEPH_SONAME.match(soname))


def is_ceph_symbol(name):
    return kn.library_of(name) is not None


# --- what the user sees ------------------------------------------------------------------------

def classify(path, info, symbols=()):
    """The kind of consumer, from where it lives and what it defines."""
    base = os.path.basename(path)
    parts = path.split(os.sep)
    if base == "block-rbd.so" or ("qemu" in parts and base.startswith("block-")):
        return "QEMU block module"
    if base.startswith("libvirt_storage_backend_"):
        return "libvirt storage backend"
    if base in ("fio", "gfio") or base == "fio-rbd.so" or "fio" in parts:
        return "fio (rbd engine)" if info.interpreter else "fio engine module"
    if base == "handler_rbd.so":
        return "tcmu-runner handler"
    if base == "bs_rbd.so":
        return "tgt backing store"
    # where it lives first (QEMU loads block-rbd.so whatever it is), then what it defines
    if any(s.startswith("PyInit_") and s_defined for s, s_defined in symbols) or (
            base.endswith(".so") and ("site-packages" in parts or "dist-packages" in parts)):
        return "Python extension module"
    if info.interpreter or info.file_type == "EXEC":
        return "program"
    if info.soname and info.soname.startswith("lib"):
        return "shared library"
    return "loadable module"


def what_user_sees(kind, target, item, bind_now):
    """The message the user of a ``kind`` consumer meets for one unbound item."""
    if item.get("symbol") is None:
        # ld.so: "prog: /usr/lib/.../librados.so.2: version `X' not found (required by prog)"
        text = "{}: {}: version `{}' not found (required by {})".format(
            target, item.get("file_path") or item.get("file") or "?", item["version"], target)
    else:
        text = "{}: undefined symbol: {}{}".format(target, item["symbol"],
                                                   ", version " + item["version"] if item.get("version") else "")
    if kind == "Python extension module":
        return "ImportError: " + text + " (at import; CPython dlopens extensions with RTLD_NOW)"
    if kind == "QEMU block module":
        return ("QEMU cannot load its rbd block module (\"Failed to open module: " + text + "\"); "
                "rbd: drives then fail with \"Unknown protocol 'rbd'\"")
    if kind == "libvirt storage backend":
        return ("libvirt does not register its rbd storage backend (\"Failed to load module ... " + text + "\"); "
                "rbd pools then fail with \"missing backend for pool type 9 (rbd)\"")
    if kind == "fio engine module":
        return "fio cannot load the rbd engine (\"" + text + "\"): \"fio: engine rbd not loadable\""
    when = "at start" if bind_now or item.get("bound_at") == "start" else "at the first call of it"
    prefix = "{}: symbol lookup error: ".format(os.path.basename(target)) if item.get("symbol") else ""
    if kind == "fio (rbd engine)":
        return ("fio's built-in rbd engine is unavailable: \"" + prefix + text + "\" " + when +
                " (fio jobs with ioengine=rbd)")
    if kind in ("program",):
        return "\"" + prefix + text + "\" " + when
    return "dlopen() of it fails: \"" + text + "\"" + (
        "" if item.get("bound_at") == "start" or bind_now else " (or, loaded lazily, the process dies at first call)")


# --- causes for missing symbols ----------------------------------------------------------------

def _qualified(demangled):
    """'ns::Class::method' of 'ns::Class::method(args) const' (None when it is no function)."""
    if not demangled or "(" not in demangled:
        return None
    depth = 0
    for i, ch in enumerate(demangled):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            return demangled[:i]
    return None


_SOURCE_NAME = re.compile(r"(\d+)")


def _last_source_name(symbol):
    """The mangled <source-name> of the last name component of a function ("8aio_read")."""
    text = demangle.demangle(symbol)
    q = _qualified(text)
    if not q:
        return None, None
    last = q.rsplit("::", 1)[-1]
    if "<" in last or not last.replace("_", "a").isalnum():
        return q, None
    return q, "{}{}".format(len(last), last)


class LibraryIndex(object):
    """The exported names of each library file, read once (shared by every consumer)."""

    def __init__(self):
        self._names = {}
        self._same = {}
        self._namespaces = {}

    def exports(self, path):
        if path not in self._names:
            self._names[path] = frozenset(loader.read_definitions(path).table)
        return self._names[path]

    def same_function(self, path, symbol):
        """Exports of ``path`` with the qualified name of ``symbol`` and other parameters:
        only names containing its last <source-name> are demangled."""
        key = (path, symbol)
        if key in self._same:
            return self._same[key]
        q, needle = _last_source_name(symbol)
        out = []
        if q and needle:
            for name in self.exports(path):
                if needle in name and name != symbol and name.startswith("_Z"):
                    text = demangle.demangle(name)
                    if text and _qualified(text) == q:
                        out.append(text)
        self._same[key] = sorted(out)
        return self._same[key]

    def buffer_namespaces(self, path):
        """The ceph::buffer ABI namespaces (v14_2_0, v15_2_0, ...) the exports of ``path`` use."""
        if path not in self._namespaces:
            found = set()
            for name in self.exports(path):
                match = _BUFFER_NS.search(name)
                if match:
                    found.add(match.group(1))
            self._namespaces[path] = tuple(sorted(found))
        return self._namespaces[path]


def cause_of(symbol, library_paths, index):
    """Why a Ceph symbol is missing, where it can be known."""
    if symbol.startswith("_Z"):
        match = _BUFFER_NS.search(symbol)
        if match:
            for path in library_paths:
                names = index.exports(path)
                for other in index.buffer_namespaces(path):
                    if other != match.group(1) and symbol.replace(match.group(1), other) in names:
                        return ("the bufferlist ABI namespace changed: the library exports it with "
                                "ceph::buffer::{} instead of ceph::buffer::{}".format(other, match.group(1)))
        for path in library_paths:
            alternatives = index.same_function(path, symbol)
            if alternatives:
                return "signature changed: the library has " + "; ".join(alternatives[:3])
        builds = _cxx_builds(symbol)
        if builds:
            return _builds_text(builds)
        return "not exported by this build (nor by any Debian build known here)"
    func = kn.function(symbol)
    if func is not None:
        return kn.first_release_text(symbol)
    return "not exported by this build (unknown to the knowledge base)"


def _cxx_exports():
    """{mangled: [Debian builds exporting it]} from the knowledge data (cxx_exports.json)."""
    question = getattr(kn, "cxx_exports", None)      # the knowledge layer's own question, once it has one
    if question is not None:
        return question()
    try:
        return kn.load("cxx_exports.json").get("symbols", {})
    except Exception:                                   # noqa: BLE001  an absent data file is no cause
        return {}


def _cxx_builds(symbol):
    return tuple(_cxx_exports().get(symbol) or ())


def _builds_text(builds):
    """Honest wording from the Debian builds that export a C++ symbol."""
    try:
        known = tuple(kn.load("cxx_exports.json").get("builds") or ())
    except Exception:                                   # noqa: BLE001
        known = ()
    first = builds[0]
    text = "first seen in the {} Debian build (exact first release unverified)".format(kn.release_label(first))
    if known and first == known[0]:
        text = "exported by the {} Debian build, the oldest known here".format(kn.release_label(first))
    if known and builds[-1] != known[-1]:
        later = [b for b in known if kn.version_key(b) > kn.version_key(builds[-1])]
        if later:
            text += "; gone from the {} build on".format(later[0])
    return text


# --- one consumer ------------------------------------------------------------------------------

def _release_of_common(path):
    try:
        from . import identify
        found = elf.find_strings(path, identify.version_string_pattern())
    except (ElfError, OSError, ImportError):
        return None
    return found[0] if found else None


def pairing(closure, cache):
    """librados (else librbd) and the libceph-common it NEEDs, as the closure pairs them: the
    object loaded for that NEEDED name, its soname and release, and how many of the client
    libraries' symbols it leaves unbound (a private ABI: another release's copy fails)."""
    ceph = [o for o in closure.objects[1:] if is_ceph_library(o.soname or o.name)]
    clients = [o for o in ceph if not (o.soname or o.name).startswith("libceph-common")]
    if not clients:
        return None
    by_name = {}
    for obj in closure.objects:
        by_name.setdefault(obj.name, obj)
        if obj.soname:
            by_name.setdefault(obj.soname, obj)
    wanted = None
    for client in sorted(clients, key=lambda o: not (o.soname or o.name).startswith("librados")):
        for name in closure.infos[client.path].needed:
            if name.startswith("libceph-common"):
                wanted = (client, name)
                break
        if wanted:
            break
    if wanted is None:
        return None
    client, name = wanted
    common = by_name.get(name)
    key = ("pairing", tuple(o.path for o in closure.objects))
    if key not in cache:
        cache[key] = loader.resolve(closure, objects=clients, cache=cache, bind_now=True)
    unbound = cache[key]
    private = [u for u in unbound if not u.weak and u.symbol is not None and kn.library_of(u.symbol) == "libceph-common"]
    private += [u for u in unbound if u.kind == "version" and (u.version_file or "").startswith("libceph-common")]
    loaded = sorted({o.target for o in ceph if (o.soname or o.name).startswith("libceph-common")})
    out = {"needed": name, "needed_by": client.target,
           "libceph_common": common.target if common else None,
           "soname": common.soname if common else None,
           "release": _release_of_common(common.path) if common else None,
           "loaded": loaded,
           "unbound": len(private),
           "examples": [demangle.display(u.symbol) for u in private[:3] if u.symbol]}
    out["ok"] = common is not None and not private
    return out


_INDEX = LibraryIndex()


def _loaded_path(closure, name):
    for obj in closure.objects:
        if name in (obj.name, obj.soname):
            return obj.target
    return None


def check_path(path, kind, ctx, preload=(), cache=None, index=None):
    """Consumer record for one ELF file under the search context ``ctx``."""
    cache = {} if cache is None else cache
    index = index or _INDEX
    try:
        info = elf.read_elf(path, symbols=True)
        closure = loader.build_closure(path, ctx, preload=preload)
        header = elf.read_link_header(path)
    except ElfError as exc:
        return Consumer(path, kind or "given", error=str(exc))
    symbols = [(s.name, s.defined) for s in info.symbols if s.name.startswith("PyInit_")]
    if not kind or kind == "given":
        kind = classify(path, info, symbols)
    undefined = [s for s in info.symbols if not s.defined and s.binding != "LOCAL" and is_ceph_symbol(s.name)]
    needs = tuple(sorted({s.name for s in undefined if s.binding != "WEAK"}))
    weak = tuple(sorted({s.name for s in undefined if s.binding == "WEAK"}))
    try:
        unbound = loader.resolve(closure, cache=cache)
    except ElfError as exc:           # a library of the closure whose symbol tables are corrupt
        return Consumer(path, kind or "given", error=str(exc))
    ceph_objects = [o for o in closure.objects[1:] if is_ceph_library(o.soname or o.name)]
    ceph_paths = tuple(o.path for o in ceph_objects)
    missing, versions, other, host = [], [], [], []
    # a module (no PT_INTERP) is dlopened by a program whose own symbols it may use
    module = not info.interpreter and info.file_type == "DYN"
    for u in unbound:
        if u.weak:
            continue
        if u.kind == "version":
            if is_ceph_library(u.version_file):
                item = {"symbol": None, "demangled": None, "version": u.version, "file": u.version_file,
                        "file_path": _loaded_path(closure, u.version_file),
                        "library": kn.library_of_soname(u.version_file) if hasattr(kn, "library_of_soname") else
                        u.version_file.split(".so")[0],
                        "first": None, "codename": None, "bound_at": "start",
                        "cause": "the library defines no symbol version {}".format(u.version)}
                versions.append({"version": u.version, "file": u.version_file})
                missing.append(item)
            else:
                other.append({"symbol": None, "demangled": None, "version": u.version, "file": u.version_file})
            continue
        library = kn.library_of(u.symbol)
        if library is None and not is_ceph_library(u.version_file) and module and u.version is None:
            host.append(u.symbol)
            continue
        if library is None and not is_ceph_library(u.version_file):
            other.append({"symbol": u.symbol, "demangled": demangle.demangle(u.symbol), "version": u.version,
                          "file": u.version_file, "bound_at": u.bound_at})
            continue
        func = kn.function(u.symbol)
        first = func.first if func is not None else None
        item = {"symbol": u.symbol, "demangled": demangle.demangle(u.symbol) if u.symbol.startswith("_Z") else None,
                "version": u.version, "file": u.version_file, "library": library or "?", "first": first,
                "codename": kn.codename(first) if first else None, "bound_at": u.bound_at,
                "cause": cause_of(u.symbol, ceph_paths, index)}
        missing.append(item)
    not_found = tuple({"name": m.name, "needed_by": m.needed_by, "skipped": list(m.skipped),
                       "ceph": is_ceph_library(m.name), "fatal": m.fatal} for m in closure.missing)
    ceph_not_found = [m for m in closure.missing if is_ceph_library(m.name)]
    for item in missing:
        item["consequence"] = what_user_sees(kind, closure.main.target, item, header.bind_now)
    sees = missing[0]["consequence"] if missing else None
    fatal = [m for m in closure.missing if m.fatal]
    if fatal:
        # ld.so stops at the first such file: nothing of the program runs
        sees = "{}: error while loading shared libraries: {}".format(closure.main.target, fatal[0].fatal)
    elif ceph_not_found:
        m = ceph_not_found[0]
        reason = "; ".join(m.skipped) if m.skipped else "No such file or directory"
        sees = "{}: error while loading shared libraries: {}: cannot open shared object file: {}".format(
            closure.main.target, m.name, "No such file or directory") + (
            " (skipped: " + reason + ")" if m.skipped else "")
    ceph_ok = not missing and not ceph_not_found
    loads = ceph_ok and not other and not closure.missing
    if sees is None and other:
        item = dict(other[0])
        sees = what_user_sees(kind, closure.main.target, item, header.bind_now)
    elif sees is None and closure.missing:
        m = closure.missing[0]
        sees = "{}: error while loading shared libraries: {}: cannot open shared object file: No such file or " \
               "directory".format(closure.main.target, m.name)
    return Consumer(path, kind, needs, weak, tuple(o.target for o in ceph_objects), tuple(missing), None,
                    tuple(info.runpath or info.rpath), loads, header.bind_now, not_found, closure.skipped,
                    tuple(versions), pairing(closure, cache) if ceph_objects else None, sees, tuple(other),
                    ceph_ok, tuple(sorted(host)))


def search_setup(report, root=None, environ=None):
    """(ctx, preload): the loader's search context, with an explicit --librbd/--librados
    choice taken the way a user makes it (LD_LIBRARY_PATH on its directory, the ``ceph``
    subdirectory included, so libceph-common comes from the same tree, not the host)."""
    ctx = locate.search_context(root, environ)
    preload, extra = [], []
    for name in ("librbd", "librados"):
        lib = report.libraries.get(name) if report is not None else None
        if lib is None or not lib.found or not lib.realpath or lib.chosen_by not in ("explicit", "env"):
            continue
        preload.append(lib.realpath)
        for directory in (os.path.dirname(lib.path or lib.realpath), os.path.dirname(lib.realpath)):
            for candidate in (directory, os.path.join(directory, "ceph")):
                if os.path.isdir(candidate) and candidate not in extra:
                    extra.append(candidate)
    if extra:
        ctx = ctx._replace(ld_library_path=tuple(extra) + tuple(ctx.ld_library_path))
    return ctx, tuple(preload)


def check_all(report, paths=(), pythons=None, root=None, progress=None):
    """Consumers given by path, or (none given) every consumer discovery finds."""
    ctx, preload = search_setup(report, root)
    cache = {}
    index = LibraryIndex()
    if paths:
        return [check_path(p, "given", ctx, preload, cache, index) for p in paths]
    out = []
    for found in discover.discover(root, pythons=pythons, progress=progress):
        out.append(check_path(found.path, None, ctx, preload, cache, index))
    if root is None:
        for binding in bindings_mod.find_bindings(pythons):
            if binding.kind == "ctypes":
                out.append(_check_ctypes(binding, report, cache))
    return out


def _check_ctypes(binding, report, cache):
    functions = set()
    paths = []
    for name in ("librbd", "librados"):
        lib = report.libraries.get(name)
        if lib is not None and lib.found and lib.realpath:
            if lib.realpath not in cache:
                try:
                    cache[lib.realpath] = library_functions(lib.realpath)
                except ElfError as exc:
                    cache[lib.realpath] = exc
            if not isinstance(cache[lib.realpath], ElfError):
                functions |= cache[lib.realpath]
                paths.append(lib.realpath)
    missing = bindings_mod.check(binding, functions)
    for item in missing:
        item["codename"] = kn.codename(item["first"]) if item.get("first") else None
        item.setdefault("demangled", None)
        item.setdefault("version", None)
        item.setdefault("file", None)
        item.setdefault("bound_at", "first call")      # ctypes looks a function up when it is used
        item.setdefault("cause", kn.first_release_text(item["symbol"]) if kn.function(item["symbol"]) else
                        "not exported by this build")
    return Consumer(binding.path, "Python {} binding (ctypes, {})".format(binding.module, binding.interpreter),
                    tuple(sorted(set(binding.calls) | set(binding.probes))), (), tuple(paths), tuple(missing),
                    loads=not missing, sees=missing[0]["consequence"] if missing else None)


# --- evidence for explain ---------------------------------------------------------------------

def explain_context(report, pythons=None, with_bindings=True):
    """HostContext for explain.explain: symbol sets of the chosen libraries and every other
    copy, the running kernel's release, and the Python bindings (read, never imported)."""
    from .explain import HostContext
    functions = {}
    copies = {}
    for name in ("librbd", "librados"):
        lib = report.libraries.get(name)
        if lib is None or not lib.found or lib.error:
            continue
        try:
            functions[name] = library_functions(lib.realpath)
        except ElfError:
            pass
        for cand in lib.candidates:
            if cand.chosen or cand.realpath in copies:
                continue
            try:
                copies[cand.realpath] = library_functions(cand.realpath)
            except (ElfError, OSError):
                copies[cand.realpath] = None
    kernel = None
    if report.root is None and hasattr(os, "uname"):
        kernel = os.uname().release
    found = ()
    if with_bindings and report.root is None:
        try:
            found = tuple(b.to_dict() for b in bindings_mod.find_bindings(pythons, modules=("rbd",)))
        except (ProbeError, OSError) as exc:     # a broken interpreter must not hide the explanation
            found = ({"module": "rbd", "kind": "unreadable", "note": str(exc)},)
    return HostContext(functions=functions, copies=copies, kernel_release=kernel,
                       bindings=tuple({"module": b.get("module"), "path": b.get("path"), "kind": b.get("kind"),
                                       "old_format_default": b.get("old_format_default")} for b in found))
