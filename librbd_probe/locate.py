"""Where the dynamic loader would find librbd/librados, and every other candidate.

This module follows glibc's search order (elf/dl-load.c, ``_dl_map_object``) for a name
without a slash:

1. DT_RPATH of the requesting object, only when it has no DT_RUNPATH;
2. ``LD_LIBRARY_PATH``;
3. DT_RUNPATH of the requesting object (``$ORIGIN`` expanded);
4. ``/etc/ld.so.cache``;
5. the system directories (Debian multiarch: /lib/<triplet>, /usr/lib/<triplet>, /lib, /usr/lib).

It never opens a library as ELF nor loads one: whether a candidate is usable (right class and
machine) is decided by a callback from the caller, because glibc silently skips a file of the
wrong architecture and tries the next one.  Every path of the target system goes through the
context's ``rootfs.Root``: with a root (a build root or unpacked packages) each one, RUNPATH,
RPATH and ``$ORIGIN`` included, resolves inside that directory, and the host's environment
(LD_LIBRARY_PATH, ``ldconfig -p``) is ignored.
"""
import os
import re
import struct
import sys

from . import knowledge as kn
from .errors import LocateError
from .model import Problem, record
from .rootfs import Root

# glibc's ld.so.cache, new format (elf/cache.c, sysdeps/generic/dl-cache.h).
_CACHE_MAGIC_NEW = b"glibc-ld.so.cache1.1"
_CACHE_MAGIC_OLD = b"ld.so-1.7.0"
_CACHE_NEW_HEADER = struct.Struct("<20sII")          # magic+version, nlibs, len_strings
_CACHE_NEW_HEADER_SIZE = 48                           # + flags, padding, extension offset, unused[3]
_CACHE_NEW_ENTRY = struct.Struct("<iIIIQ")            # flags, key, value, osversion, hwcap
_CACHE_OLD_ENTRY = struct.Struct("<iII")



class SearchContext(record(
        "SearchContext",
        "root ld_library_path cache conf_dirs default_dirs cache_error",
        (None,))):
    """Everything the search depends on, read once per run."""
    # Fields (immutable):
    #   root: rootfs.Root  # Root(None) for the host (None is accepted and means the host)
    #   ld_library_path: Tuple[str, ...]
    #   cache: LdCache or look-alike  # lookup(soname) -> paths; entries() -> [(soname, path)]
    #   conf_dirs: Tuple[str, ...]
    #   default_dirs: Tuple[str, ...]
    #   cache_error: Optional[str] = None
    __slots__ = ()


class Found(record("Found", "path source", ())):
    """A path the loader would consider, in order, with why it is on the list."""
    # Fields (immutable):
    #   path: str  # host path (inside the root when a root is used)
    #   source: str
    __slots__ = ()


def _root(ctx):
    """The context's Root (a hand-built context may carry None or a directory name)."""
    root = ctx.root
    return root if isinstance(root, Root) else Root(root, check=False)


def parse_ld_so_cache(data):
    """Return ``[(soname, path), ...]`` from the bytes of an ld.so.cache, in file order.

    Handles the new format alone and the old format followed by the new one (what
    ldconfig wrote for years).  Raises ValueError on anything else.
    """
    offset = 0
    if data.startswith(_CACHE_MAGIC_OLD):
        nlibs = struct.unpack_from("<I", data, 12)[0]
        offset = 16 + nlibs * _CACHE_OLD_ENTRY.size
        offset = (offset + 7) & ~7           # the new table is aligned like its uint64 members
        if not data.startswith(_CACHE_MAGIC_NEW, offset):
            strings = 16 + nlibs * _CACHE_OLD_ENTRY.size
            return _parse_old_cache(data, nlibs, strings)
    if not data.startswith(_CACHE_MAGIC_NEW, offset):
        raise ValueError("not a glibc ld.so.cache")
    _, nlibs, _ = _CACHE_NEW_HEADER.unpack_from(data, offset)
    base = offset + _CACHE_NEW_HEADER_SIZE
    table = data[base:base + nlibs * _CACHE_NEW_ENTRY.size]
    if len(table) != nlibs * _CACHE_NEW_ENTRY.size:
        raise ValueError("truncated ld.so.cache")
    strings = {}

    def text(at):
        # New-format string offsets count from the new header (the file's start for a pure
        # new-format cache, the aligned table after the old one in ldconfig -c compat; glibc
        # elf/dl-cache.c uses cache_new as the strings' base); sonames repeat (one entry per
        # hwcap/arch), so each string is decoded once.
        if at not in strings:
            strings[at] = _cstring(data, offset + at)
        return strings[at]

    return [(text(key), text(value)) for _, key, value, _, _ in _CACHE_NEW_ENTRY.iter_unpack(table)]


class LdCache(object):
    """The bytes of an ld.so.cache, searched by name without decoding every entry.

    A scan asks for three sonames; decoding all ~1,000 strings of a typical cache would cost
    more than the rest of the lookup.  ``entries()`` gives the full parse when wanted.
    """

    def __init__(self, data):
        self.data = data
        self.offset = 0
        if data.startswith(_CACHE_MAGIC_OLD):
            nlibs = struct.unpack_from("<I", data, 12)[0]
            self.offset = (16 + nlibs * _CACHE_OLD_ENTRY.size + 7) & ~7
        if not data.startswith(_CACHE_MAGIC_NEW, self.offset):
            self.table = None
            self._entries = parse_ld_so_cache(data)        # old format only: parse it all
            return
        _, nlibs, _ = _CACHE_NEW_HEADER.unpack_from(data, self.offset)
        base = self.offset + _CACHE_NEW_HEADER_SIZE
        self.table = data[base:base + nlibs * _CACHE_NEW_ENTRY.size]
        if len(self.table) != nlibs * _CACHE_NEW_ENTRY.size:
            raise ValueError("truncated ld.so.cache")
        self._entries = None

    def lookup(self, soname):
        """Paths the cache lists for ``soname``, in cache order."""
        if self.table is None:
            return [path for name, path in self._entries if name == soname]
        key = soname.encode("utf-8", "surrogateescape") + b"\0"
        starts, base = self.data.startswith, self.offset
        return [_cstring(self.data, base + value) for _, k, value, _, _ in _CACHE_NEW_ENTRY.iter_unpack(self.table)
                if starts(key, base + k)]

    def entries(self):
        if self._entries is None:
            self._entries = parse_ld_so_cache(self.data)
        return self._entries


class _ListCache(object):
    """An LdCache look-alike over ``ldconfig -p`` output or nothing."""

    def __init__(self, entries):
        self._entries = list(entries)

    def lookup(self, soname):
        return [path for name, path in self._entries if name == soname]

    def entries(self):
        return self._entries


def _parse_old_cache(data, nlibs, strings):
    entries = []
    for i in range(nlibs):
        _, key, value = _CACHE_OLD_ENTRY.unpack_from(data, 16 + i * _CACHE_OLD_ENTRY.size)
        entries.append((_cstring(data, strings + key), _cstring(data, strings + value)))
    return entries


def _cstring(data, offset):
    end = data.index(b"\0", offset)
    return data[offset:end].decode("utf-8", "surrogateescape")


def _ldconfig_cache():
    """Fallback when the cache file cannot be parsed: ask ``ldconfig -p`` (C locale)."""
    import subprocess  # only on this rare path: keeps the static scan's start-up short
    env = dict(os.environ, LC_ALL="C")
    for ldconfig in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        try:
            out = subprocess.run([ldconfig, "-p"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=env, universal_newlines=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        entries = []
        for line in out.splitlines():
            match = re.match(r"\s+(\S+) \(.*\) => (\S+)$", line)
            if match:
                entries.append((match.group(1), match.group(2)))
        return entries
    return []


def parse_ld_so_conf(lines, include_resolver):
    """Directories named by ld.so.conf lines; ``include`` globs go through include_resolver."""
    dirs = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include ") or line.startswith("include\t"):
            for pattern in line.split()[1:]:
                dirs.extend(include_resolver(pattern))
        elif line.startswith("hwcap "):
            continue                      # obsolete directive, ignored by modern ldconfig
        else:
            for item in re.split(r"[:,\s]+", line):
                if item:
                    dirs.append(item)
    return dirs


def _read_conf_dirs(root, conf="/etc/ld.so.conf", depth=0):
    """ld.so.conf's directories; ``root`` is a Root and ``conf`` a target path."""
    try:
        with root.open(conf, encoding="utf-8", errors="replace") as handle:
            lines = handle.readlines()
    except OSError:
        return []

    def include(pattern):
        if depth > 8:
            return []
        if not pattern.startswith("/"):
            pattern = os.path.join(os.path.dirname(conf), pattern)
        out = []
        for match in _glob_files(root.host(pattern)):
            out.extend(_read_conf_dirs(root, root.target(match), depth + 1))
        return out

    return parse_ld_so_conf(lines, include)


def _glob_files(pattern):
    """glob.glob for ld.so.conf's ``include dir/*.conf`` (wildcards in the last part only).

    The glob module costs a measurable share of the command line's start-up; ld.so.conf
    includes only ever put the wildcard in the file name.
    """
    import fnmatch
    directory, name = os.path.split(pattern)
    if any(c in directory for c in "*?["):
        import glob
        return sorted(glob.glob(pattern))
    try:
        entries = os.listdir(directory or ".")
    except OSError:
        return []
    return sorted(os.path.join(directory, e) for e in entries if fnmatch.fnmatch(e, name) and not e.startswith("."))


def _multiarch_triplets(root):
    """Debian multiarch directories present in a root (``/usr/lib/<triplet>``)."""
    return [os.path.basename(path) for path in root.glob("/usr/lib/*-linux-gnu*")
            if os.path.isdir(root.realpath(path))]


def _host_triplet():
    # CPython records its multiarch triplet (x86_64-linux-gnu) at build time; sysconfig has
    # it too, but importing sysconfig costs a millisecond on every run.
    triplet = getattr(sys.implementation, "_multiarch", None)
    if not triplet:
        import sysconfig
        triplet = sysconfig.get_config_var("MULTIARCH")
    return triplet or None


def search_context(root=None, environ=None):
    """Read what the loader reads: LD_LIBRARY_PATH, ld.so.cache, ld.so.conf.

    ``root`` is a ``rootfs.Root``, a directory name or None (the host); a name that is not a
    directory raises LocateError.
    """
    environ = os.environ if environ is None else environ
    root = Root.of(root)
    if not root.is_host:
        triplets = _multiarch_triplets(root)
        ld_library_path = ()
    else:
        host = _host_triplet()
        triplets = [host] if host else []
        ld_library_path = tuple(p for p in environ.get("LD_LIBRARY_PATH", "").replace(";", ":").split(":")
                                if p)
    default_dirs = []
    for triplet in triplets:
        default_dirs += ["/lib/" + triplet, "/usr/lib/" + triplet]
    default_dirs += ["/lib", "/usr/lib"]
    cache = _ListCache(())
    cache_error = None
    cache_path = root.realpath(root.host("/etc/ld.so.cache"))
    try:
        with open(cache_path, "rb") as handle:
            cache = LdCache(handle.read())
    except FileNotFoundError:
        cache_error = "no ld.so.cache"
    except (OSError, ValueError, struct.error) as exc:
        cache_error = "{}: unreadable ({}); used ldconfig -p".format(cache_path, exc)
        if root.is_host:
            cache = _ListCache(_ldconfig_cache())
    return SearchContext(root=root, ld_library_path=ld_library_path, cache=cache,
                         conf_dirs=tuple(_read_conf_dirs(root)), default_dirs=tuple(default_dirs),
                         cache_error=cache_error)


def expand_origin(entry, origin_dir):
    """Expand $ORIGIN / ${ORIGIN} (ld.so(8)); $LIB and $PLATFORM are left for the caller."""
    return entry.replace("${ORIGIN}", origin_dir).replace("$ORIGIN", origin_dir)


def search_order(name, ctx, runpath=(), rpath=(), origin_dir=None):
    """Every existing path for ``name`` in the loader's order, with the reason for each.

    ``runpath``/``rpath`` are those of the object that needs ``name`` (empty for a dlopen
    from the interpreter); ``origin_dir`` is that object's directory on this host.  Under a
    root every entry, ``$ORIGIN`` expansions included, is a path of the target system and
    resolves inside the root; only LD_LIBRARY_PATH (empty under a root) is a host path.
    """
    root = _root(ctx)
    seen = set()
    found = []
    origin_target = None
    if origin_dir:
        # $ORIGIN is expanded as the target sees it, so "$ORIGIN/../.." stays in the root.
        origin_target = root.target(origin_dir) if root.contains(origin_dir) else None

    def add(directory, source, host_path=False):
        if not directory:
            return
        if not host_path:
            directory = root.host(directory)
        path = os.path.join(directory, name)
        key = os.path.normpath(path)
        if key in seen:
            return
        seen.add(key)
        if os.path.lexists(path):
            found.append(Found(path, source))

    def add_dynamic(entries, source):
        for entry in entries:
            if "$ORIGIN" in entry or "${ORIGIN}" in entry:
                if origin_target is not None:
                    add(expand_origin(entry, origin_target), source)
                elif origin_dir:                     # an object outside the root: a host file
                    add(expand_origin(entry, origin_dir), source, host_path=True)
            else:
                add(entry, source)

    if not runpath:
        add_dynamic(rpath, "RPATH")
    for entry in ctx.ld_library_path:
        add(entry, "LD_LIBRARY_PATH", host_path=True)
    add_dynamic(runpath, "RUNPATH")
    for path in ctx.cache.lookup(name):
        add(os.path.dirname(path), "ld.so.cache")
    for directory in ctx.default_dirs:
        add(directory, "default")
    # Not searched by the loader at run time, but where ldconfig would put a copy in the
    # cache next time it runs: worth showing as a candidate.
    for directory in ctx.conf_dirs:
        add(directory, "ld.so.conf")
    return found


def sorted_listdir(directory):
    return sorted(os.listdir(directory))


def other_copies(stem, ctx, known=(), listdir=sorted_listdir, resolve=os.path.realpath):
    """Files named ``stem*`` (e.g. ``librbd.so``) anywhere the loader or distros look.

    ``listdir`` (returning sorted names) and ``resolve`` let a caller that asks for several
    stems list and resolve each directory once; the stem's names are then found by bisection
    in a library directory of thousands of entries.
    """
    import bisect
    root = _root(ctx)
    dirs = list(ctx.ld_library_path) if root.is_host else []
    # Where distributions put libraries that the default search does not reach (knowledge:
    # libraries.json install_dirs): reported as extra candidates, never chosen.
    dirs += [root.host(d) for d in ctx.conf_dirs + ctx.default_dirs + tuple(kn.install_dirs().value)]
    known_real = {os.path.normpath(k) for k in known}
    out = []
    seen = set()
    seen_dirs = set()
    for directory in dirs:
        real_dir = resolve(directory)
        if real_dir in seen_dirs:          # /lib is /usr/lib on merged-/usr systems
            continue
        seen_dirs.add(real_dir)
        try:
            listing = listdir(directory)
        except OSError:
            continue
        names = []
        for index in range(bisect.bisect_left(listing, stem), len(listing)):
            if not listing[index].startswith(stem):
                break
            names.append(listing[index])
        for entry in names:
            path = os.path.join(directory, entry)
            norm = os.path.normpath(path)
            if norm in seen or norm in known_real or not os.path.isfile(path):
                continue
            seen.add(norm)
            out.append(Found(path, "extra"))
    return out


def file_version(realpath, soname):
    """``librbd.so.1.16.0`` -> ``1.16.0``; None when the file name carries no version."""
    base = os.path.basename(realpath)
    stem = soname.split(".so", 1)[0] + ".so."
    if base.startswith(stem):
        version = base[len(stem):]
        if re.match(r"^\d+(\.\d+)*$", version):
            return version
    return None


def check_explicit(path, what):
    """Validate a user-given library path; raise LocateError with a one-line reason."""
    if os.path.islink(path) and not os.path.exists(path):
        raise LocateError("{}: {} is a broken symbolic link (-> {})".format(path, what, os.readlink(path)))
    if not os.path.exists(path):
        raise LocateError("{}: {} does not exist".format(path, what))
    if os.path.isdir(path):
        raise LocateError("{}: {} is a directory, not a library file".format(path, what))
    return path


def choose(found, accept):
    """First entry the loader would accept, per ``accept(path) -> (ok, note)``."""
    notes = {}
    chosen = None
    for item in found:
        ok, note = accept(item.path)
        notes[item.path] = (ok, note)
        if ok and chosen is None and item.source not in ("ld.so.conf", "extra"):
            chosen = item
    return chosen, notes


def shadow_problems(lib):
    """A compatible copy of another version that the loader passes over, or that wins (pure).

    ``lib`` is a model.LibraryReport with its candidates; returns a list of Problem.
    """
    problems = []
    chosen = [c for c in lib.candidates if c.chosen]
    if not chosen:
        return problems
    winner = chosen[0]
    for cand in lib.candidates:
        if cand.chosen or not cand.compatible:
            continue
        if winner.source == "explicit":
            if cand.source not in ("extra", "ld.so.conf"):
                problems.append(Problem(
                    "explicit-choice." + lib.name, "info",
                    "{} was chosen explicitly ({}); the loader itself would use {} ({})".format(
                        lib.name, winner.realpath, cand.realpath, cand.file_version or "unversioned"),
                    None, ("loader candidate {} via {}".format(cand.path, cand.source),)))
                break
            continue
        if cand.file_version == winner.file_version and cand.source == "extra":
            continue
        where = "on the loader's path ({})".format(cand.source) if cand.source != "extra" else "outside the loader's path"
        problems.append(Problem(
            "shadowed-copy." + lib.name, "warning",
            "{} {} ({}) is {}; the loader uses {} ({})".format(
                lib.name, cand.realpath, cand.file_version or "unversioned", where,
                winner.realpath, winner.file_version or "unversioned"),
            "remove the stale copy or make sure every consumer loads the same one "
            "(LD_LIBRARY_PATH, RPATH/RUNPATH, ldconfig)",
            ("candidate {} via {}".format(cand.path, cand.source),
             "chosen {} via {}".format(winner.path, winner.source))))
    return problems


def resolution_problems(libraries, rados_needed, root=None, librbd_readable=True):
    """Problems of the static resolution (pure): librbd or librados not found, a library
    unreadable, shadowed copies.  ``libraries`` maps name -> model.LibraryReport."""
    problems = []
    rbd = libraries["librbd"]
    if not rbd.found:
        packages = "; ".join("{}: {}".format(distro, " ".join(names))
                             for distro, names in sorted(kn.packages("librbd").items()))
        problems.append(Problem("librbd-missing", "error",
                                "no {} found where the loader looks".format(kn.soname("librbd"))
                                + (" under {}".format(root) if root else ""),
                                "install the Ceph RBD client library ({}) or point --librbd at it".format(packages)))
    elif librbd_readable and not libraries["librados"].found:
        problems.append(Problem("librados-missing", "error",
                                "librbd needs {} but the loader would not find it".format(rados_needed),
                                "install {}, or fix LD_LIBRARY_PATH / RUNPATH".format(
                                    " or ".join(" ".join(n) for _, n in sorted(kn.packages("librados").items())))))
    for lib in libraries.values():
        if lib.error:
            problems.append(Problem("unreadable." + lib.name, "error", lib.error))
        problems.extend(shadow_problems(lib))
    return problems
