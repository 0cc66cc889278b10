"""The Python ``rbd`` and ``rados`` modules an interpreter would import, read without importing.

Importing a binding runs its loader (a Cython module that needs a function the library lacks
dies with ImportError), so nothing is imported: the interpreter is asked only for sys.path and
its module suffixes, and the module file it would pick is read.  A Cython extension module is
an ELF file whose undefined ``rbd_*``/``rados_*`` symbols are what it needs from the libraries;
a ctypes-era ``rbd.py`` is parsed with ``ast`` for the functions it probes with ``hasattr``
and the ones it calls.  Comparing those with a library's exports is ``check``, which is pure.
"""
import ast
import json
import os
import re
import subprocess
import sys

from . import elf
from .errors import ElfError, InputError, UsageError
from .model import Record

MODULES = ("rbd", "rados")
PREFIXES = (b"rbd_", b"rados_")

# Asked of the target interpreter; must run on Python 2.7 too (ctypes-era hosts).
_PROBE = r"""
import sys, json
try:
    import importlib.machinery as m
    ext, src, byte = list(m.EXTENSION_SUFFIXES), list(m.SOURCE_SUFFIXES), list(m.BYTECODE_SUFFIXES)
except Exception:
    import imp
    ext = [s for s, _, t in imp.get_suffixes() if t == imp.C_EXTENSION]
    src, byte = ['.py'], ['.pyc']
sys.stdout.write(json.dumps({"path": sys.path, "ext": ext, "src": src, "byte": byte,
                             "version": list(sys.version_info[:3]), "executable": sys.executable}))
"""

# The Cython binding embeds its signatures (``# cython: embedsignature=True`` in rbd.pyx).
_CREATE_SIGNATURE = re.compile(rb"RBD\.create\(self, ioctx, name, size, order=None, old_format=(True|False)")


class Interpreter(metaclass=Record, fields="executable version path ext src byte"):
    __slots__ = ()


class Binding(
        metaclass=Record,
        fields="module interpreter path kind needs probes calls old_format_default runpath note",
        defaults=((), (), (), None, (), None),
        lines=("note",)):
    """One importable binding module and what it needs."""
    # Fields (immutable):
    #   module: str  # "rbd" | "rados"
    #   interpreter: str
    #   path: Optional[str]  # None when the interpreter would not find the module
    #   kind: str  # "cython" | "ctypes" | "bytecode" | "missing"
    #   needs: Tuple[str, ...] = ()  # undefined rbd_/rados_ symbols (Cython): all bound at import
    #   probes: Tuple[str, ...] = ()  # names tested with hasattr (ctypes): optional, gated
    #   calls: Tuple[str, ...] = ()  # names called (ctypes): resolved at call time
    #   old_format_default: Optional[bool] = None  # RBD.create's default
    #   runpath: Tuple[str, ...] = ()
    #   note: Optional[str] = None
    __slots__ = ()

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._asdict().items()}


#: the answer of a real interpreter is a few KiB (its sys.path); a program named by --python that
#: prints without end is stopped at this much, or at the timeout (memory stays bounded)
_PROBE_OUTPUT = 1 << 20
_PROBE_TIMEOUT = 30.0


class _Unbounded(Exception):
    pass


def _run_bounded(argv, timeout, limit):
    """(stdout, stderr tail) of ``argv``: killed past ``timeout`` s or ``limit`` bytes of stdout."""
    import selectors
    import time
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd="/")
    out, err = bytearray(), bytearray()
    problem = None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, out)
        selector.register(proc.stderr, selectors.EVENT_READ, err)
        while selector.get_map() and problem is None:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = "no answer within {:g} s".format(timeout)
                break
            for key, _ in selector.select(left):
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                key.data.extend(data)
                if len(out) > limit:
                    problem = "more than {} bytes on standard output".format(limit)
                    break
                if len(err) > limit:
                    del err[:-65536]                    # the tail is what a message needs
    if problem is not None:
        proc.kill()
    proc.stdout.close()
    proc.stderr.close()
    proc.wait()
    if problem is not None:
        raise _Unbounded(problem)
    return bytes(out), bytes(err)


def interpreter_info(python=None):
    """sys.path and suffixes of ``python`` (default: this interpreter), without importing rbd."""
    if python is None:
        from importlib import machinery
        return Interpreter(sys.executable, list(sys.version_info[:3]), list(sys.path),
                           list(machinery.EXTENSION_SUFFIXES), list(machinery.SOURCE_SUFFIXES),
                           list(machinery.BYTECODE_SUFFIXES))
    from .safeio import one_line
    if not os.path.exists(python):
        raise UsageError("{}: --python does not exist".format(one_line(python)))
    if not os.access(python, os.X_OK) or os.path.isdir(python):
        raise UsageError("{}: --python is not an executable file".format(one_line(python)))
    try:
        out, err = _run_bounded([python, "-c", _PROBE], _PROBE_TIMEOUT, _PROBE_OUTPUT)
    except OSError as exc:
        raise UsageError("{}: cannot run it as a Python interpreter: {}".format(one_line(python), one_line(exc))) from exc
    except _Unbounded as exc:
        raise UsageError("{}: not a Python interpreter ({})".format(one_line(python), exc)) from exc
    stdout = out.decode("utf-8", "surrogateescape")
    stderr = err.decode("utf-8", "replace")
    try:
        data = json.loads(stdout)
        return Interpreter(python, data["version"], [p for p in data["path"] if p], data["ext"],
                           data["src"], data["byte"])
    except (ValueError, KeyError, TypeError) as exc:
        tail = (stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise UsageError("{}: not a Python interpreter ({})".format(one_line(python), one_line(tail[0][:200]))) from exc


def locate_module(name, interp):
    """The file ``import name`` would load (FileFinder order), or None; never imports."""
    for entry in interp.path:
        if not entry or not os.path.isdir(entry):
            continue       # zip archives and missing entries hold no Ceph binding
        package = os.path.join(entry, name)
        if os.path.isdir(package):
            for suffix in interp.ext + interp.src + interp.byte:
                init = os.path.join(package, "__init__" + suffix)
                if os.path.isfile(init):
                    return init
        # FileFinder tries extension modules, then source, then bytecode, in each directory.
        for suffix in interp.ext + interp.src + interp.byte:
            candidate = os.path.join(entry, name + suffix)
            if os.path.isfile(candidate):
                return candidate
    return None


def read_cython(path):
    """(needs, old_format default, runpath) of a Cython extension module."""
    info = elf.read_elf(path, symbols=True, name_filter=PREFIXES)
    needs = sorted({s.name for s in info.symbols if not s.defined and s.name.startswith(("rbd_", "rados_"))})
    found = []
    for section in (".rodata", ".data"):
        try:
            found = elf.find_strings(path, _CREATE_SIGNATURE, section=section, limit=2)
        except ElfError:
            found = []
        if found:
            break
    old_format = {"True": True, "False": False}.get(found[0]) if found else None
    return tuple(needs), old_format, tuple(info.runpath or info.rpath)


class _CtypesVisitor(ast.NodeVisitor):
    """hasattr(<lib>, 'rbd_x') probes and <lib>.rbd_x(...) calls, and RBD.create's default."""

    def __init__(self):
        self.probes = set()
        self.calls = set()
        self.old_format = None
        self._class = []

    def visit_ClassDef(self, node):
        self._class.append(node.name)
        self.generic_visit(node)
        self._class.pop()

    def visit_FunctionDef(self, node):
        if node.name == "create" and self._class[-1:] == ["RBD"]:
            args = node.args.args
            defaults = node.args.defaults
            offset = len(args) - len(defaults)
            for index, arg in enumerate(args):
                name = getattr(arg, "arg", getattr(arg, "id", None))
                if name == "old_format" and index >= offset:
                    value = defaults[index - offset]
                    constant = getattr(value, "value", getattr(value, "id", None))
                    self.old_format = {True: True, False: False, "True": True, "False": False}.get(constant)
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "hasattr" and len(node.args) == 2:
            name = _string(node.args[1])
            if name and name.startswith(("rbd_", "rados_")):
                self.probes.add(name)
        if isinstance(func, ast.Attribute) and func.attr.startswith(("rbd_", "rados_")):
            self.calls.add(func.attr)
        self.generic_visit(node)


def _string(node):
    # Python 3.8+ parses string literals as ast.Constant (.value); 3.6/3.7 as ast.Str (.s,
    # deprecated since 3.8 and gone in 3.14): ask for .s only where there is no .value.
    value = node.value if hasattr(node, "value") else getattr(node, "s", None)
    return value if isinstance(value, str) else None


def read_ctypes(path):
    """(probes, calls, old_format default) of a ctypes-era binding, by parsing its source."""
    from . import safeio
    try:
        source = safeio.read_bytes(path, "source")       # a regular file, at most LIMITS["source"]
    except InputError as exc:
        raise ElfError(str(exc)) from exc
    try:
        tree = ast.parse(source, filename=path)
        visitor = _CtypesVisitor()
        visitor.visit(tree)
        return tuple(sorted(visitor.probes)), tuple(sorted(visitor.calls)), visitor.old_format
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # (3.6's parser answers deep nesting with MemoryError, later ones with RecursionError)
        # Python 2 sources (print statements, u'' on 3.2) still expose their names textually.
        text = source.decode("utf-8", "replace")
        probes = set(re.findall(r"hasattr\(\s*[\w.]+\s*,\s*['\"]((?:rbd|rados)_\w+)['\"]", text))
        calls = set(re.findall(r"\.((?:rbd|rados)_\w+)\s*\(", text))
        match = re.search(r"def create\(self, ioctx, name, size,[^)]*old_format=(True|False)", text)
        return tuple(sorted(probes)), tuple(sorted(calls)), ({"True": True, "False": False}[match.group(1)] if match else None)


def read_binding(name, path, interpreter):
    if path is None:
        return Binding(name, interpreter, None, "missing", note="not importable by this interpreter")
    if path.endswith(".py"):
        try:
            probes, calls, old_format = read_ctypes(path)
        except ElfError as exc:
            return Binding(name, interpreter, path, "unreadable", note=str(exc))
        if not probes and not calls:
            return Binding(name, interpreter, path, "python", old_format_default=old_format,
                           note="pure Python module that calls no rbd_/rados_ function directly")
        return Binding(name, interpreter, path, "ctypes", probes=probes, calls=calls, old_format_default=old_format)
    if path.endswith((".pyc", ".pyo")):
        return Binding(name, interpreter, path, "bytecode", note="only bytecode: not analysed")
    try:
        needs, old_format, runpath = read_cython(path)
    except ElfError as exc:
        return Binding(name, interpreter, path, "unreadable", note=str(exc))
    return Binding(name, interpreter, path, "cython", needs=needs, old_format_default=old_format if name == "rbd" else None,
                   runpath=runpath)


def default_interpreters():
    out = [None]
    system = "/usr/bin/python3"
    if os.path.exists(system) and os.path.realpath(system) != os.path.realpath(sys.executable):
        out.append(system)
    return out


def find_bindings(pythons=None, modules=MODULES):
    """Binding records for each interpreter (None = this one) and module."""
    out = []
    for python in (pythons or default_interpreters()):
        interp = interpreter_info(python)
        for name in modules:
            out.append(read_binding(name, locate_module(name, interp), interp.executable))
    return out


def check(binding, functions):
    """What ``binding`` needs that ``functions`` (the library's exports) lacks.

    Returns a list of {symbol, library, first, consequence}: the library that exports the
    symbol and the release that introduced it, both asked of the knowledge layer.
    """
    from . import knowledge as kn
    missing = []

    def add(symbol, consequence):
        info = kn.function(symbol)
        missing.append({"symbol": symbol, "library": kn.library_of(symbol) or "librbd",
                        "first": info.first if info else None, "consequence": consequence})

    if binding.kind == "cython":
        for symbol in binding.needs:
            if symbol not in functions:
                add(symbol, "ImportError at `import {}`: {}: undefined symbol: {}".format(
                    binding.module, binding.path, symbol))
    elif binding.kind == "ctypes":
        for symbol in binding.probes:
            if symbol not in functions:
                add(symbol, "feature disabled: hasattr() is False, so the binding raises FunctionNotSupported "
                            "when the call that needs it is made")
        for symbol in binding.calls:
            if symbol not in functions and symbol not in binding.probes:
                add(symbol, "AttributeError (undefined symbol: {}) when the binding first calls it".format(symbol))
    return missing
