"""Programs and modules that call librbd: what each needs that the library it would load lacks.

QEMU's block-rbd module, libvirt's rbd storage backend, fio's rbd engine, tcmu-runner's rbd
handler and the Python bindings are linked against the librbd/librados of the release they
were built for.  Their undefined ``rbd_*``/``rados_*`` symbols are read from the ELF file and
compared with the functions of the library the loader would give them (their own RUNPATH
first, else the host's choice from the scan).  This module is the I/O edge for that and for
the extra evidence ``explain`` needs; the comparison itself is pure (``compare``).
"""
import glob
import os

from . import bindings as bindings_mod
from . import elf, kb
from .errors import ElfError, ProbeError
from .model import record

PREFIXES = (b"rbd_", b"rados_")

# Where distributions put the RBD consumers (Debian/Ubuntu multiarch, Fedora/RHEL/SUSE lib64).
USUAL_PLACES = (
    ("QEMU block-rbd module", ("/usr/lib/*/qemu/block-rbd.so", "/usr/lib64/qemu/block-rbd.so",
                               "/usr/lib/qemu/block-rbd.so")),
    ("libvirt rbd storage backend", ("/usr/lib/*/libvirt/storage-backend/libvirt_storage_backend_rbd.so",
                                     "/usr/lib64/libvirt/storage-backend/libvirt_storage_backend_rbd.so")),
    ("fio rbd engine", ("/usr/lib/*/fio/fio-rbd.so", "/usr/lib64/fio/fio-rbd.so", "/usr/lib/fio/fio-rbd.so")),
    ("tcmu-runner rbd handler", ("/usr/lib/*/tcmu-runner/handler_rbd.so", "/usr/lib64/tcmu-runner/handler_rbd.so",
                                 "/usr/lib/tcmu-runner/handler_rbd.so")),
    ("rbd-nbd", ("/usr/bin/rbd-nbd",)),
)


class Consumer(record(
        "Consumer",
        "path kind needs weak library_paths missing error runpath",
        ((), (), (), (), None, ()))):
    """One consumer and what it lacks."""
    # Fields (immutable):
    #   path: str
    #   kind: str  # what it is ("QEMU block-rbd module", "Python rbd binding (cython)", "given")
    #   needs: Tuple[str, ...] = ()  # undefined strong rbd_/rados_ symbols
    #   weak: Tuple[str, ...] = ()  # undefined weak ones: optional, resolved to NULL when absent
    #   library_paths: Tuple[str, ...] = ()  # the librbd/librados files it would load
    #   missing: Tuple[Dict, ...] = ()  # {symbol, library, first, codename, consequence}
    #   error: Optional[str] = None
    #   runpath: Tuple[str, ...] = ()
    __slots__ = ()

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._asdict().items()}


def library_functions(path):
    """Exported rbd_/rados_ C functions of a library file (as the scan counts them)."""
    info = elf.read_elf(path, symbols=True, name_filter=PREFIXES)
    return frozenset(s.name for s in info.symbols
                     if s.defined and s.type in ("FUNC", "GNU_IFUNC")
                     and s.visibility in ("DEFAULT", "PROTECTED") and not s.version_hidden)


def find_usual(root=None):
    """[(path, kind)] of consumers present in the usual places (under ``root`` if given)."""
    out = []
    seen = set()
    for kind, patterns in USUAL_PLACES:
        for pattern in patterns:
            full = os.path.join(root, pattern.lstrip("/")) if root else pattern
            for path in sorted(glob.glob(full)):
                real = os.path.realpath(path)
                if real not in seen and os.path.isfile(path):
                    seen.add(real)
                    out.append((path, kind))
    return out


def _symbol_docs():
    return {"librbd": kb.symbols("librbd"), "librados": kb.symbols("librados")}


def _release_of(first):
    if not first:
        return None
    from .identify import version_key
    best = None
    for rel in sorted(kb.releases(), key=lambda r: version_key(r["version"])):
        if version_key(rel["version"]) <= version_key(first):
            best = rel.get("codename")
    return best


def compare(needs, functions, consequence, docs=None):
    """Pure: [{symbol, library, first, codename, consequence}] for each need not in ``functions``."""
    docs = docs or _symbol_docs()
    out = []
    for symbol in needs:
        if symbol in functions:
            continue
        library = "librados" if symbol.startswith("rados_") else "librbd"
        entry = (docs.get(library) or {}).get("symbols", {}).get(symbol)
        first = entry.get("first") if entry else None
        out.append({"symbol": symbol, "library": library, "first": first, "codename": _release_of(first),
                    "consequence": consequence.format(symbol=symbol)})
    return out


def _own_copy(info, name):
    """A librbd/librados the object's RUNPATH/RPATH would give it ahead of the system's."""
    origin = os.path.dirname(os.path.realpath(info.path))
    for directory in tuple(info.rpath) + tuple(info.runpath):
        directory = directory.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _consequence(info, kind):
    if kind.startswith("Python"):
        return "ImportError at import: " + info.path + ": undefined symbol: {symbol}"
    if info.interpreter:
        return ("the program fails with \"symbol lookup error: " + info.path + ": undefined symbol: {symbol}\" "
                "at start (BIND_NOW) or when it first calls it")
    return "loading it fails: \"" + info.path + ": undefined symbol: {symbol}\" (dlopen, module load)"


def check_path(path, kind, report, cache=None):
    """Consumer record for one ELF file against the libraries of ``report``."""
    cache = {} if cache is None else cache
    try:
        info = elf.read_elf(path, symbols=True, name_filter=PREFIXES)
    except ElfError as exc:
        return Consumer(path, kind, error=str(exc))
    undefined = [s for s in info.symbols if not s.defined and s.name.startswith(("rbd_", "rados_"))]
    needs = tuple(sorted({s.name for s in undefined if s.binding != "WEAK"}))
    weak = tuple(sorted({s.name for s in undefined if s.binding == "WEAK"}))
    libraries = []
    for name, soname in (("librbd", "librbd.so.1"), ("librados", "librados.so.2")):
        own = _own_copy(info, soname)
        lib = report.libraries.get(name)
        chosen = own or (lib.realpath if lib is not None and lib.found else None)
        if chosen:
            libraries.append(os.path.realpath(chosen))
    functions = set()
    errors = []
    for lib_path in libraries:
        if lib_path not in cache:
            try:
                cache[lib_path] = library_functions(lib_path)
            except ElfError as exc:
                cache[lib_path] = exc
        value = cache[lib_path]
        if isinstance(value, ElfError):
            errors.append(str(value))
        else:
            functions |= value
    if not libraries:
        return Consumer(path, kind, needs, weak, (), (), "no librbd/librados to compare with", tuple(info.runpath or info.rpath))
    missing = compare(needs, functions, _consequence(info, kind))
    return Consumer(path, kind, needs, weak, tuple(libraries), tuple(missing),
                    "; ".join(errors) or None, tuple(info.runpath or info.rpath))


def check_all(report, paths=(), pythons=None, root=None):
    """Consumers given by path, or (none given) the usual places plus the Python bindings."""
    cache = {}
    if paths:
        return [check_path(p, "given", report, cache) for p in paths]
    out = [check_path(p, kind, report, cache) for p, kind in find_usual(root)]
    if root is None:
        for binding in bindings_mod.find_bindings(pythons):
            if binding.kind == "cython":
                out.append(check_path(binding.path, "Python {} binding (cython, {})".format(
                    binding.module, binding.interpreter), report, cache))
            elif binding.kind == "ctypes":
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
    missing = bindings_mod.check(binding, functions, _symbol_docs())
    for item in missing:
        item["codename"] = _release_of(item.get("first"))
    return Consumer(binding.path, "Python {} binding (ctypes, {})".format(binding.module, binding.interpreter),
                    tuple(sorted(set(binding.calls) | set(binding.probes))), (), tuple(paths), tuple(missing))


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
