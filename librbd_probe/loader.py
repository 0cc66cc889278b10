"""The dynamic loader's rules, for one consumer: its NEEDED closure and every symbol binding.

What glibc's ld.so does, as far as a static reading can tell, and nothing Ceph-specific:

* The closure (elf/dl-deps.c ``_dl_map_object_deps``): breadth-first over DT_NEEDED, an object
  loaded once (a NEEDED name matching an already loaded object's soname or name is that
  object).  Each name is searched (elf/dl-load.c ``_dl_map_object``) in the order
  ``locate.search_order`` gives: the DT_RPATH of the needing object and of its loader chain
  up to the main program (only when the needing object has no DT_RUNPATH), LD_LIBRARY_PATH,
  the needing object's own DT_RUNPATH (never its parents'), ld.so.cache, the default
  directories.  $ORIGIN is the directory of the object whose RPATH/RUNPATH it is.  A
  candidate of another ELF class, byte order or machine, or with an OSABI other than
  SYSV/GNU, is skipped and the search goes on (``open_verify``).
* Version requirements (elf/dl-version.c ``match_symbol``): each DT_VERNEED name must be
  defined by the loaded object of that file name, else "version `V' not found (required by
  F)"; a needed file that has no version definitions only warns; a file that was not found
  is already an error of its own.
* Symbol lookup (elf/dl-lookup.c ``do_lookup_x`` / ``check_match``): the global scope is the
  closure in load order, the main object first.  A definition matches when it is defined,
  GLOBAL/WEAK/GNU_UNIQUE, of an allowed type.  A versioned reference matches an object
  without version tables, the same version, or an unversioned non-hidden definition; an
  unversioned reference takes index 1/2 definitions at once, else the one non-hidden
  default version.  An unresolved WEAK reference is bound to 0, not an error.
* Only names a dynamic relocation uses are looked up (``elf.read_relocations``).  Copy
  relocations (R_*_COPY): data an executable holds a copy of is still looked up, past the
  executable itself, at start.  DT_JMPREL (PLT) entries are the ones bound lazily.
* Binding time: with DF_BIND_NOW / DF_1_NOW (or LD_BIND_NOW) every function is bound at
  start; otherwise a function through the PLT is bound at its first call, data at start.

The closure is data (``Closure``); ``resolve`` is the pure half.
"""
import os

from . import elf, locate, safeio
from .rootfs import Root
from .errors import ElfError
from .model import Record

# glibc's VALID_ELF_OSABI: ELFOSABI_SYSV and ELFOSABI_GNU (sysdeps/gnu/ldsodefs.h).
VALID_OSABI = (0, 3)
_ALLOWED_TYPES = ("NOTYPE", "OBJECT", "FUNC", "COMMON", "TLS", "GNU_IFUNC")
_BINDINGS = ("GLOBAL", "WEAK", "GNU_UNIQUE")


class Loaded(
        metaclass=Record,
        fields="name path target needed_by source soname elf_class byte_order machine"):
    """One object of the closure, in load order."""
    # Fields (immutable):
    #   name: str            # the DT_NEEDED string (the main object: its file name)
    #   path: str            # path on this host
    #   target: str          # path as the target system sees it (differs under --root)
    #   needed_by: Optional[str]   # target path of the first object that needs it
    #   source: str          # main, RPATH, RUNPATH, LD_LIBRARY_PATH, ld.so.cache, default, preload
    #   soname: Optional[str]
    #   elf_class: int; byte_order: str; machine: str
    __slots__ = ()


class NotFound(metaclass=Record, fields="name needed_by skipped fatal", defaults=(None,)):
    """A NEEDED name the loader finds no acceptable file for, or stops at."""
    # Fields (immutable):
    #   name: str
    #   needed_by: str                 # target path of the needing object
    #   skipped: Tuple[str, ...]       # candidates rejected, each "path: reason"
    #   fatal: Optional[str] = None    # "path: ELF file OS ABI invalid": ld.so stops there, it
    #                                  #  does not search on (the whole load fails)
    __slots__ = ()


class Unbound(metaclass=Record, fields="symbol version version_file object weak kind bound_at"):
    """One failure the loader reports for an object of the closure."""
    # Fields (immutable):
    #   symbol: Optional[str]   # None for a missing version
    #   version: Optional[str]
    #   version_file: Optional[str]   # the DT_NEEDED file the version is required from
    #   object: str             # target path of the object that needs it
    #   weak: bool              # weak reference: bound to NULL, not an error
    #   kind: str               # "symbol" | "version"
    #   bound_at: str           # "start" | "first call" (lazy PLT function)
    __slots__ = ()


class Closure(metaclass=Record, fields="main objects missing skipped infos", defaults=()):
    """The main object and everything the loader would map for it."""
    # Fields (immutable):
    #   main: Loaded
    #   objects: Tuple[Loaded, ...]      # load order, main first (the global lookup scope)
    #   missing: Tuple[NotFound, ...]
    #   skipped: Tuple[str, ...]         # every rejected candidate, "path: reason"
    #   infos: Mapping[str, ElfInfo]     # host path -> header read (no symbols)
    __slots__ = ()


def _identity_mismatch(info, main):
    """(reason, fatal) for a candidate ld.so rejects (elf/dl-load.c open_verify), else None.

    Another ELF class or machine is skipped and the search goes on; another byte order or
    OS ABI is an error that ends the load ("ELF file OS ABI invalid")."""
    if info.elf_class != main.elf_class:
        return "wrong ELF class: ELFCLASS{}".format(info.elf_class), False
    if info.byte_order != main.byte_order:
        return "ELF file data encoding not {}-endian".format(main.byte_order), True
    if info.machine_code != main.machine_code:
        return "ELF machine {}, the program is {}".format(info.machine, main.machine), False
    return None


def _osabi_problem(path):
    try:
        header = elf.read_link_header(path)
    except ElfError:
        return None
    if header.osabi not in VALID_OSABI:
        return "ELF file OS ABI invalid", True
    return None


def build_closure(main_path, ctx, preload=(), read=elf.read_header):
    """Closure of ``main_path`` (a host path) under the search context ``ctx``.

    ``preload`` are host paths loaded right after the main object (LD_PRELOAD order), as
    the harness or an explicit --librbd choice does.  Raises ElfError if the main object
    itself cannot be read.
    """
    rootmap = Root(ctx.root)
    problem = _not_regular(main_path)
    if problem:
        raise ElfError("{}: {}".format(safeio.one_line(rootmap.target(main_path)), problem))
    main_info = read(main_path)
    infos = {main_path: main_info}
    main = Loaded(os.path.basename(main_path), main_path, rootmap.target(main_path), None, "main",
                  main_info.soname, main_info.elf_class, main_info.byte_order, main_info.machine)
    objects = [main]
    by_name = {}          # NEEDED strings and sonames already loaded -> Loaded
    by_real = {}          # realpath -> Loaded (the loader compares dev/inode)
    missing = []
    skipped = []
    # rpath chain: the RPATHs (expanded, as target paths) of an object and its loaders.
    chains = {main_path: _expanded(main_info.rpath, main.target) if not main_info.runpath else ()}

    def remember(obj, info):
        by_name[obj.name] = obj
        if info.soname:
            by_name[info.soname] = obj
        by_real[os.path.realpath(obj.path)] = obj

    remember(main, main_info)
    for path in preload:
        problem = _not_regular(path)
        if problem:
            skipped.append("{}: {} (cannot be preloaded: ignored)".format(safeio.one_line(rootmap.target(path)),
                                                                         problem))
            continue
        try:
            info = read(path)
        except ElfError as exc:
            skipped.append("{}: {} (cannot be preloaded: ignored)".format(safeio.one_line(rootmap.target(path)),
                                                                         safeio.one_line(str(exc))))
            continue
        problem = _identity_mismatch(info, main_info) or _osabi_problem(path)
        if problem:
            # ld.so: "object '...' from LD_PRELOAD cannot be preloaded (...): ignored."
            skipped.append("{}: {} (cannot be preloaded: ignored)".format(safeio.one_line(rootmap.target(path)),
                                                                         problem[0]))
            continue
        obj = Loaded(os.path.basename(path), path, rootmap.target(path), main.target, "preload",
                     info.soname, info.elf_class, info.byte_order, info.machine)
        infos[path] = info
        objects.append(obj)
        remember(obj, info)
        chains[path] = ()
    queue = [main] + objects[1:]
    while queue:
        parent = queue.pop(0)
        pinfo = infos[parent.path]
        parent_chain = chains.get(parent.path, ())
        for name in pinfo.needed:
            if name in by_name:
                continue
            origin = os.path.dirname(parent.target)
            runpath = _expanded(pinfo.runpath, parent.target)
            # DT_RPATH is used only when the needing object has no DT_RUNPATH; then the
            # RPATHs of its loader chain follow its own (dl-load.c, "l_loader" walk).
            rpath = () if pinfo.runpath else tuple(_expanded(pinfo.rpath, parent.target)) + tuple(parent_chain)
            chosen = None
            fatal = None
            rejected = []
            if "/" in name:
                candidates = [locate.Found(rootmap.host(name) if name.startswith("/")
                                           else os.path.join(os.path.dirname(parent.path), name), "path")]
            else:
                candidates = [c for c in locate.search_order(name, ctx, runpath=runpath, rpath=rpath,
                                                             origin_dir=origin)
                              if c.source != "ld.so.conf"]
            for cand in candidates:
                real = rootmap.realpath(cand.path)
                if real in by_real:
                    chosen = (cand, None, by_real[real])
                    break
                problem = _not_regular(real)
                if problem:
                    # never opened: a FIFO in a --root would block open() (ld.so's own open
                    # would too); the search goes on as after any file that cannot be used
                    rejected.append("{}: {}".format(safeio.one_line(rootmap.target(cand.path)), problem))
                    continue
                try:
                    info = read(real)
                except ElfError as exc:
                    rejected.append("{}: {}".format(safeio.one_line(rootmap.target(cand.path)),
                                                    safeio.one_line(str(exc))))
                    continue
                problem = _identity_mismatch(info, main_info) or _osabi_problem(real)
                if problem:
                    rejected.append("{}: {}".format(safeio.one_line(rootmap.target(cand.path)), problem[0]))
                    if problem[1]:
                        fatal = rejected[-1]
                        break
                    continue
                chosen = (cand, info, None)
                break
            else:
                fatal = None
            skipped.extend(rejected)
            if chosen is None:
                missing.append(NotFound(name, parent.target, tuple(rejected), fatal))
                continue
            cand, info, existing = chosen
            if existing is not None:
                by_name[name] = existing
                continue
            real = rootmap.realpath(cand.path)
            obj = Loaded(name, real, rootmap.target(cand.path), parent.target, cand.source, info.soname,
                         info.elf_class, info.byte_order, info.machine)
            infos[real] = info
            objects.append(obj)
            remember(obj, info)
            chains[real] = (() if info.runpath else tuple(_expanded(info.rpath, obj.target))) + tuple(rpath)
            queue.append(obj)
    return Closure(main, tuple(objects), tuple(missing), tuple(skipped), infos)


def _not_regular(path):
    """Why ``path`` is not read as a library (a FIFO, device, directory, missing), else None.

    A stat only (safeio.kind_problem), so nothing that is not a regular file is ever opened."""
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        return safeio.os_reason(exc, path) if isinstance(exc, OSError) else "not a valid path"
    return safeio.kind_problem(info.st_mode)


def _expanded(entries, target_path):
    origin = os.path.dirname(target_path)
    return tuple(locate.expand_origin(e, origin) for e in entries)


# --- symbols -----------------------------------------------------------------------------------

class Definitions(object):
    """The dynamic definitions of one object: name -> [(version, hidden, index)]."""

    __slots__ = ("versioned", "table", "version_names")

    def __init__(self, info):
        self.versioned = bool(info.version_definitions) or any(s.version for s in info.symbols if s.defined)
        names = info.version_definitions
        self.version_names = frozenset(names)
        index = {}
        for i, name in enumerate(names):
            index.setdefault(name, i + 1)      # vd_ndx follows file order (base version = 1)
        table = {}
        for sym in info.symbols:
            if (not sym.defined or sym.binding not in _BINDINGS or sym.type not in _ALLOWED_TYPES
                    or sym.visibility in ("HIDDEN", "INTERNAL")):
                continue
            ndx = index.get(sym.version, 1) if sym.version else 1
            table.setdefault(sym.name, []).append((sym.version, sym.version_hidden, ndx))
        self.table = table

    def match(self, name, version):
        """True if a reference (name, version or None) binds here (check_match)."""
        defs = self.table.get(name)
        if not defs:
            return False
        if version is not None:
            if not self.versioned:
                return True
            for def_version, hidden, _ in defs:
                if def_version == version or (def_version is None and not hidden):
                    return True
            return False
        defaults = 0
        for def_version, hidden, ndx in defs:
            if not self.versioned or def_version is None or ndx <= 2:
                return True
            if not hidden:
                defaults += 1
        return defaults == 1


def read_definitions(path, cache=None):
    """Definitions of one library file (cached by path)."""
    if cache is not None and path in cache:
        return cache[path]
    value = Definitions(elf.read_elf(path, symbols=True, defined_only=True))
    if cache is not None:
        cache[path] = value
    return value


def resolve(closure, objects=None, cache=None, bind_now=None, read=elf.read_elf):
    """[Unbound] for the objects of ``closure`` (default: the main object only).

    ``cache`` (a dict) keeps what was read of each file across calls; pass the same one for
    many consumers of one run.

    Every undefined reference of each object is looked up in the whole scope in load order;
    every version requirement is checked against the loaded object of that file name.
    """
    cache = {} if cache is None else cache
    scope = closure.objects
    wanted = scope[:1] if objects is None else objects
    out = []
    by_name = {}
    for obj in scope:
        by_name.setdefault(obj.name, obj)
        if obj.soname:
            by_name.setdefault(obj.soname, obj)
    missing_names = {m.name for m in closure.missing}
    for obj in wanted:
        key = ("object", obj.path)
        if key not in cache:
            try:
                relocs = elf.read_relocations(obj.path)
            except ElfError:
                relocs = None
            try:
                header = elf.read_link_header(obj.path)
            except ElfError:
                header = None
            cache[key] = (read(obj.path, symbols=True), relocs, header)
        info, relocs, header = cache[key]
        now = bind_now if bind_now is not None else bool(header and header.bind_now)
        failed_versions = set()
        for filename, names in info.version_requirements:
            target = by_name.get(filename)
            if target is None or filename in missing_names:
                continue
            defs = read_definitions(target.path, cache)
            if not defs.version_names:
                continue                      # "no version information available": a warning
            for name in names:
                if name not in defs.version_names:
                    failed_versions.add((name, filename))
                    out.append(Unbound(None, name, filename, obj.target, False, "version", "start"))
        if relocs is None:
            # relocation numbers unknown for this machine: every undefined name counts, every
            # function as if called through the PLT
            referenced, copies, plt = None, frozenset(), _plt_functions(info)
        else:
            referenced, copies, plt = relocs.referenced, relocs.copies, relocs.plt
        for sym in info.symbols:
            copy = sym.defined and sym.name in copies
            if (sym.defined and not copy) or sym.binding == "LOCAL" or not sym.name:
                continue
            if referenced is not None and sym.name not in referenced:
                continue                  # no relocation names it: the loader never looks it up
            bound = False
            for lib in scope:
                if copy and lib.path == obj.path:
                    continue              # a copy relocation is looked up past the executable
                if lib.path == obj.path:
                    defs = _own_definitions(info, cache, obj.path)
                else:
                    defs = read_definitions(lib.path, cache)
                if defs.match(sym.name, sym.version):
                    bound = True
                    break
            if bound:
                continue
            lazy = not copy and not now and sym.name in plt
            out.append(Unbound(sym.name, sym.version, sym.version_file, obj.target, sym.binding == "WEAK",
                               "symbol", "first call" if lazy else "start"))
    return out


def _own_definitions(info, cache, path):
    key = ("own", path)
    if key not in cache:
        cache[key] = Definitions(info)
    return cache[key]


def _plt_functions(info):
    """Names that may be bound lazily.  Without relocation tables at hand every undefined
    function is taken as called through the PLT (what compilers emit without -fno-plt)."""
    return frozenset(s.name for s in info.symbols if not s.defined and s.type in ("FUNC", "NOTYPE"))
