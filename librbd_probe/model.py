"""Immutable result records and their ``to_dict()``.

Records are named tuples made by ``record()`` (immutable, cheap, Python 3.6 compatible).
Immutability holds all the way down: the fields a record lists as ``frozen`` are deep-frozen
when it is made (also by ``_replace``): dicts become read-only ``MappingProxyType`` views of a
private copy, lists tuples, sets frozensets; so ``report.release["version"] = "x"`` raises
TypeError and no two records share a mutable default.  The fields a record lists as
``lines`` are messages: made one line when the record is made (``line_text``), so an embedder of
the API gets what the CLI prints.  Nothing else here computes: the JSON shape is simply the
records' fields, recursively (``to_plain``).
"""
import sys

try:
    from _collections_abc import Mapping    # collections.abc without importing collections
except ImportError:                          # pragma: no cover - not CPython
    from collections.abc import Mapping
try:
    from _collections import _tuplegetter    # what namedtuple's fields are (3.8+)
except ImportError:                          # pragma: no cover - Python 3.6/3.7
    from operator import itemgetter as _itemgetter

    def _tuplegetter(index, doc):
        return property(_itemgetter(index), doc=doc)


#: types.MappingProxyType, without importing types (on Python 3.6 it imports functools and collections)
_MappingProxy = MappingProxyType = type(type.__dict__)
#: The shared empty read-only mapping (a safe default: nobody can add to it).
EMPTY = _MappingProxy({})


_SCALAR_TYPES = frozenset((str, bytes, int, float, bool, type(None)))
#: a field not (yet) given a value, in record()'s argument binding
_MISSING = object()


def freeze(value):
    """A deep read-only copy: mappings -> MappingProxyType, lists -> tuples, sets -> frozensets.

    Records (named tuples) and other immutable values are returned as they are.
    """
    if value is None or isinstance(value, (str, bytes, int, float, bool)) or hasattr(value, "_fields"):
        return value
    if isinstance(value, Mapping):
        return _MappingProxy({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        if all(map(_SCALAR_TYPES.__contains__, map(type, value))):
            return tuple(value)         # (a list of names: no Python call per element)
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(v) for v in value)
    return value


def line_text(value):
    """A message field as one line: in a str every control character but tab is escaped as
    ``safeio.one_line`` escapes it, so a newline or ESC from a path, a file, the environment or
    the library can neither split an embedder's log line nor drive its terminal (the CLI's
    writer does the same to everything it prints: escaping twice changes nothing).  Tuples,
    lists and mappings element-wise; anything else as it is."""
    if value is None:
        return value
    if isinstance(value, str):
        if value.isprintable():
            return value
        from .textout import line
        return line(value)
    if isinstance(value, (tuple, list)):
        return tuple(line_text(v) for v in value)
    if isinstance(value, Mapping):
        return {k: line_text(v) for k, v in value.items()}
    return value


def record(typename, field_names, defaults=(), frozen=(), lines=()):
    """An immutable record class: a named tuple with trailing defaults.

    Behaves as ``collections.namedtuple(typename, field_names)`` with ``__new__.__defaults__``
    set to ``defaults`` (tests/test_model.py compares the two on every operation), but is made
    without importing collections (which the scan would otherwise import for this alone) and
    without namedtuple's ``eval`` of a ``__new__`` per class: together 3-5 ms of every run of
    the command line (bench/bench_startup.py).  Used instead of ``typing.NamedTuple`` because
    importing typing costs about 3 ms more.  The fields named in ``frozen`` are deep frozen
    (``freeze``) whenever a record is made, ``_make`` and ``_replace`` included; the fields named
    in ``lines`` are messages, made one line (``line_text``) the same way.
    """
    return type(typename, (tuple,), _record_namespace(typename, field_names, defaults, frozen, lines, _caller_module()))


def _caller_module():
    try:
        return sys._getframe(2).f_globals.get("__name__", "__main__")
    except (AttributeError, ValueError):        # pragma: no cover - no frames
        return None


class Record(type):
    """The metaclass of the package's records: ``class X(metaclass=Record, fields=..., defaults=...,
    frozen=..., lines=...)`` is ``class X(record("X", fields, defaults, frozen, lines))`` made as one
    class, not a record class and a subclass of it (a class costs some 60,000 instructions to make;
    there are 42 of them).  The class body (its docstring, ``__slots__ = ()``, methods and
    properties) is laid over the record's namespace, as a subclass's would override; the class
    made is a plain ``type`` (a tuple subclass) like ``record``'s."""

    def __new__(mcls, name, bases, namespace, fields, defaults=(), frozen=(), lines=()):
        if bases:
            raise TypeError("record class {}: no bases (it is a tuple)".format(name))
        made = _record_namespace(name, fields, defaults, frozen, lines, namespace.get("__module__"))
        made["__doc__"] = None                  # as a subclass without a docstring has
        made.update(namespace)
        return type.__new__(type, name, (tuple,), made)


def _record_namespace(typename, field_names, defaults, frozen, lines, module):
    """The class namespace of a record (``record``, ``Record``)."""
    fields = tuple(field_names.replace(",", " ").split()) if isinstance(field_names, str) else tuple(field_names)
    for name in fields:                 # as namedtuple: every field can be bound by keyword
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError("record {}: bad field name {!r}".format(typename, name))
    count = len(fields)
    defaults = tuple(defaults)
    first_default = count - len(defaults)
    positions = {name: index for index, name in enumerate(fields)}
    freeze_at = tuple(positions[name] for name in frozen)
    line_at = tuple(positions[name] for name in lines)
    tuple_new = tuple.__new__

    binder = []
    missing = _MISSING

    def bind(args, kwargs):
        # Keywords or omitted defaults.  A call that binds (every field once, no unknown name,
        # not too many positions) is bound here, by position; any other call goes to Python's
        # own argument binding, a function with the fields as parameters compiled on its first
        # need, so the TypeError is Python's word for word.  (Compiling that function for every
        # class used with keywords cost about 1 ms of a scan: bench/bench_startup.py.)
        given = len(args)
        if given <= count:
            values = list(args)
            values.extend([missing] * (count - given))
            get = positions.get
            for name, value in kwargs.items():
                index = get(name, -1)
                if index < given:           # not a field (-1), or given by position too
                    break
                values[index] = value
            else:
                for index in range(given, count):
                    if values[index] is missing:
                        if index < first_default:
                            break           # a required field left out
                        values[index] = defaults[index - first_default]
                else:
                    return values
        return python_bind(args, kwargs)

    def python_bind(args, kwargs):
        if not binder:
            namespace = {}
            params = []
            for index, name in enumerate(fields):
                if index >= first_default:
                    namespace["_d{}".format(index)] = defaults[index - first_default]
                    name = "{}=_d{}".format(name, index)
                params.append(name)
            exec("def __new__({}):\n    return [{}]\n".format(", ".join(params), ", ".join(fields)), namespace)
            binder.append(namespace["__new__"])
        return binder[0](*args, **kwargs)

    if freeze_at or line_at:
        def __new__(cls, *args, **kwargs):
            values = list(args) if len(args) == count and not kwargs else bind(args, kwargs)
            for index in line_at:
                values[index] = line_text(values[index])
            for index in freeze_at:
                values[index] = freeze(values[index])
            return tuple_new(cls, values)
    else:
        def __new__(cls, *args, **kwargs):
            if len(args) == count and not kwargs:
                return tuple_new(cls, args)
            return tuple_new(cls, bind(args, kwargs))

    __new__.__doc__ = "Create new instance of {}({})".format(typename, ", ".join(fields))

    def _make(cls, iterable):
        values = tuple(iterable)
        if len(values) != count:
            raise TypeError("Expected {} arguments, got {}".format(count, len(values)))
        return cls(*values) if freeze_at or line_at else tuple_new(cls, values)

    namespace = {
        "__doc__": "{}({})".format(typename, ", ".join(fields)),
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": dict(zip(fields[first_default:], defaults)),
        "__new__": __new__,
        "_make": classmethod(_make),
        "_replace": _record_replace,
        "__repr__": _record_repr,
        "_asdict": _record_asdict,
        "__getnewargs__": _record_getnewargs,
        "__match_args__": fields,
    }
    if module is not None:
        namespace["__module__"] = module
    while len(_GETTERS) < count:
        _GETTERS.append(_tuplegetter(len(_GETTERS), "Alias for field number {}".format(len(_GETTERS))))
    namespace.update(zip(fields, _GETTERS))
    return namespace


# What every record class shares (made for each class, they cost some 50,000 instructions per
# class at import, for some thirty classes on every run): the field getters by position
# (read-only descriptors: the same for field N of any record) and the methods below, which
# read the instance's own class.
_GETTERS = []


def _record_replace(self, **kwargs):
    values = [kwargs.pop(name, value) for name, value in zip(self._fields, self)]
    if kwargs:
        raise ValueError("Got unexpected field names: {!r}".format(list(kwargs)))
    return self._make(values)


def _record_repr(self):
    return self.__class__.__name__ + "(" + ", ".join(
        "{}=%r".format(name) for name in self._fields) % tuple(self) + ")"


def _record_asdict(self):
    return dict(zip(self._fields, self))


def _record_getnewargs(self):
    return tuple(self)


#: Bumped when a key is removed or renamed in the JSON output; adding keys keeps it.
SCHEMA_VERSION = 1


def to_plain(value):
    """Turn records, tuples and mappings into JSON-ready builtins (sorted later by json)."""
    kind = type(value)
    # the exact builtin types first: most values of a report are scalars, for which the two
    # failed hasattr() below (an AttributeError made and dropped each) and the ABC isinstance
    # cost about a tenth of a static --json run (bench/bench_startup.py)
    if kind in _SCALAR_TYPES:
        return value
    if kind is dict or kind is _MappingProxy:
        return {str(k): to_plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_plain(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "_asdict"):
        return {k: to_plain(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        items = [to_plain(v) for v in value]
        if isinstance(value, (frozenset, set)):
            items.sort()
        return items
    return value


class Candidate(
        metaclass=Record,
        fields="path realpath source file_version arch compatible chosen note",
        defaults=(None,),
        lines=("note",)):
    """One file the loader could pick for a library name."""
    # Fields (immutable):
    #   path: str
    #   realpath: str
    #   source: str  # explicit, env, LD_LIBRARY_PATH, RUNPATH, RPATH, ld.so.cache, ld.so.conf, default, extra
    #   file_version: Optional[str]  # from the real file name, e.g. librbd.so.1.16.0 -> 1.16.0
    #   arch: Optional[str]
    #   compatible: bool  # same ELF class and machine as the interpreter that would load it
    #   chosen: bool
    #   note: Optional[str] = None
    __slots__ = ()

    def to_dict(self):
        return dict(self._asdict())


class LibraryReport(
        metaclass=Record,
        fields="name found path realpath chosen_by soname arch elf_class byte_order "
        "size build_id needed runpath rpath version_definitions defined_symbols "
        "candidates error functions",
        defaults=(None, None, None, None, None, None, None, None, None, (), (), (), (), 0, (), None, ()),
        frozen=("needed", "runpath", "rpath", "version_definitions", "candidates", "functions"),
        lines=("error",)):
    """What is known about one library (librbd, librados or libceph-common) on this host."""
    # Fields (immutable):
    #   name: str
    #   found: bool
    #   path: Optional[str] = None
    #   realpath: Optional[str] = None
    #   chosen_by: Optional[str] = None
    #   soname: Optional[str] = None
    #   arch: Optional[str] = None
    #   elf_class: Optional[int] = None
    #   byte_order: Optional[str] = None
    #   size: Optional[int] = None
    #   build_id: Optional[str] = None
    #   needed: Tuple[str, ...] = ()
    #   runpath: Tuple[str, ...] = ()
    #   rpath: Tuple[str, ...] = ()
    #   version_definitions: Tuple[str, ...] = ()
    #   defined_symbols: int = 0  # count of exported rbd_*/rados_* C functions
    #   candidates: Tuple[Candidate, ...] = ()
    #   error: Optional[str] = None
    #   functions: Tuple[str, ...] = ()  # exported C API functions, sorted: "name" (unversioned or the
    #                                    # base version) or "name@NODE" (GNU version), hidden ones too
    __slots__ = ()

    def to_dict(self):
        return to_plain(dict(self._asdict()))


class RuntimeReport(
        metaclass=Record,
        fields="attempted loaded skipped error rbd_version rados_version ceph_version "
        "ceph_release loaded_objects symbols features_check config",
        defaults=(False, None, None, None, None, None, None, (), EMPTY, None, None),
        frozen=("error", "loaded_objects", "symbols", "features_check", "config"),
        lines=("skipped", "error")):
    """What the isolated child learned by loading the libraries."""
    # Fields (immutable):
    #   attempted: bool
    #   loaded: bool = False
    #   skipped: Optional[str] = None  # why the runtime probe did not run
    #   error: Optional[Mapping[str, Any]] = None  # the error record {kind, message, ...} of children
    #   rbd_version: Optional[Tuple[int, int, int]] = None
    #   rados_version: Optional[Tuple[int, int, int]] = None
    #   ceph_version: Optional[str] = None
    #   ceph_release: Optional[str] = None
    #   loaded_objects: Tuple[str, ...] = ()  # Ceph libraries actually mapped in the child
    #   symbols: Mapping[str, Any] = {}  # name -> {"found": bool, "owner": realpath|None}; read-only
    #   features_check: Optional[Mapping[str, Any]] = None  # read-only
    #   config: Optional[Mapping[str, Any]] = None  # read-only
    __slots__ = ()

    def to_dict(self):
        return to_plain(dict(self._asdict()))


class Capability(
        metaclass=Record,
        fields="id status reason evidence binding",
        defaults=((), None),
        frozen=("evidence",),
        lines=("reason", "evidence")):
    """One row of the capability matrix."""
    # Fields (immutable):
    #   id: str
    #   status: str  # "yes" | "no" | "unknown"
    #   reason: str
    #   evidence: Tuple[str, ...] = ()
    #   binding: Optional[str] = None  # which binding call this backs
    __slots__ = ()

    def to_dict(self):
        return {"status": self.status, "reason": self.reason,
                "evidence": list(self.evidence), "binding": self.binding}


class Problem(
        metaclass=Record,
        fields="id severity message fix evidence",
        defaults=(None, ()),
        frozen=("evidence",),
        lines=("message", "fix", "evidence")):
    """Something the operator should know or fix (message, fix and evidence: one line each)."""
    # Fields (immutable):
    #   id: str
    #   severity: str  # "error" | "warning" | "info"
    #   message: str
    #   fix: Optional[str] = None
    #   evidence: Tuple[str, ...] = ()
    __slots__ = ()

    def to_dict(self):
        return to_plain(dict(self._asdict()))


class Report(
        metaclass=Record,
        fields="mode root libraries runtime capabilities problems release config krbd "
        "live",
        defaults=(None, None, None, None),
        frozen=("libraries", "capabilities", "problems", "release", "config", "krbd", "live")):
    """The whole answer for one host (or build root)."""
    # Fields (immutable):
    #   mode: str  # "runtime" | "static"
    #   root: Optional[str]
    #   libraries: Mapping[str, LibraryReport]  # read-only (MappingProxyType)
    #   runtime: RuntimeReport
    #   capabilities: Tuple[Capability, ...]
    #   problems: Tuple[Problem, ...]
    #   release: Optional[identify.Identification] = None  # an immutable record (to_dict())
    #   config: Optional[Mapping[str, Any]] = None  # read-only, nested mappings/tuples too
    #   krbd: Optional[Mapping[str, Any]] = None  # read-only
    #   live: Optional[Mapping[str, Any]] = None  # read-only
    __slots__ = ()

    def capability(self, cap_id):
        for cap in self.capabilities:
            if cap.id == cap_id:
                return cap
        raise KeyError(cap_id)

    def to_dict(self):
        out = {
            "schema_version": SCHEMA_VERSION,
            "mode": self.mode,
            "root": self.root,
            "libraries": {k: v.to_dict() for k, v in self.libraries.items()},
            "runtime": self.runtime.to_dict(),
            "capabilities": {c.id: c.to_dict() for c in self.capabilities},
            "problems": [p.to_dict() for p in self.problems],
            "release": to_plain(self.release),
            "config": to_plain(self.config),
            "krbd": to_plain(self.krbd),
        }
        if self.live is not None:
            out["live"] = to_plain(self.live)
        return out
