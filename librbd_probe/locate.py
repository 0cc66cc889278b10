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
import struct
import sys

from . import knowledge as kn
from . import safeio
from ._lazy import Pattern
from .errors import InputError, LocateError, ProbeError
from .model import Problem, Record
from .rootfs import Root

# glibc's ld.so.cache (elf/cache.c writes it, elf/dl-cache.c reads it; layouts in
# sysdeps/generic/dl-cache.h).  Three layouts: the new format alone, the old one alone, and the
# old one followed by the new one (what ldconfig -c compat wrote for years).
_CACHE_MAGIC_NEW = b"glibc-ld.so.cache1.1"
_CACHE_MAGIC_OLD = b"ld.so-1.7.0"
_CACHE_NEW_HEADER_SIZE = 48          # magic+version, nlibs, len_strings, flags, pad, ext, unused[3]
_CACHE_OLD_HEADER_SIZE = 16          # magic (11 bytes, padded), nlibs
_CACHE_NEW_ENTRY = struct.Struct("<iIIIQ")            # flags, key, value, osversion, hwcap
_CACHE_OLD_ENTRY = struct.Struct("<iII")               # flags, key, value
_CACHE_FLAGS_AT = 28                 # cache_file_new.flags: endianness in the low two bits
_ENDIAN_LITTLE = 2                   # cache_file_new_flags_endian_little (dl-cache.h)
# glibc compares and copies the strings as C strings; no path ldconfig writes is longer than
# PATH_MAX, so a string is taken up to 4,096 bytes (memory per lookup stays small whatever the file).
_CACHE_STRING_MAX = 4096


class LdCacheError(ProbeError, ValueError):
    """An ld.so.cache that glibc's loader would not use (bad magic, table past the end,
    wrong byte order), in one line."""


class SearchContext(
        metaclass=Record,
        fields="root ld_library_path cache conf_dirs default_dirs cache_error problems",
        defaults=(None, ())):
    """Everything the search depends on, read once per run."""
    # Fields (immutable):
    #   root: rootfs.Root  # Root(None) for the host (None is accepted and means the host)
    #   ld_library_path: Tuple[str, ...]
    #   cache: LdCache or look-alike  # lookup(soname) -> paths; entries() -> [(soname, path)]
    #   conf_dirs: Tuple[str, ...]
    #   default_dirs: Tuple[str, ...]
    #   cache_error: Optional[str] = None
    #   problems: Tuple[Problem, ...] = ()   # what was wrong with ld.so.cache / ld.so.conf
    __slots__ = ()


class Found(metaclass=Record, fields="path source", defaults=()):
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

    Reads every layout ldconfig writes.  Raises only LdCacheError (one line), for a file the
    loader would not use at all; an entry whose strings lie outside the file is left out, as
    the loader never returns it (``LdCache.damage`` counts them).
    """
    return LdCache(data).entries()


def _signed(byte):
    return byte - 256 if byte > 127 else byte       # char is signed on x86 (the C comparison)


def _wrap32(value):
    value &= 0xffffffff
    return value - (1 << 32) if value & 0x80000000 else value


def _libcmp(p1, p2):
    """glibc's ``_dl_cache_libcmp`` on two byte strings (no NUL inside): digit runs compare
    as numbers (``libx.so.10`` after ``libx.so.9``), the rest byte by byte.  The table is
    sorted by it and the loader's binary search relies on that order."""
    i = j = 0
    n1, n2 = len(p1), len(p2)
    while i < n1:
        c1 = p1[i]
        c2 = p2[j] if j < n2 else 0
        if 48 <= c1 <= 57:
            if not 48 <= c2 <= 57:
                return 1
            v1 = v2 = 0
            while i < n1 and 48 <= p1[i] <= 57:
                v1 = _wrap32(v1 * 10 + p1[i] - 48)     # C int arithmetic, never a huge number
                i += 1
            while j < n2 and 48 <= p2[j] <= 57:
                v2 = _wrap32(v2 * 10 + p2[j] - 48)
                j += 1
            if v1 != v2:
                return v1 - v2
        elif 48 <= c2 <= 57:
            return -1
        elif c1 != c2:
            return _signed(c1) - _signed(c2)
        else:
            i += 1
            j += 1
    return -_signed(p2[j]) if j < n2 else 0


class LdCache(object):
    """The bytes of an ld.so.cache, searched by name the way glibc's loader searches it.

    The header is checked as ``_dl_load_cache_lookup`` (elf/dl-cache.c, glibc 2.36) checks it:
    the magic, then that the entry table fits in the file ("check for corruption, avoiding
    overflow"), then the byte order flag; a file failing these is not used at all
    (LdCacheError here; the loader then goes on with the default directories, elf/dl-load.c
    ``_dl_map_object`` "Finally, try the default path").  A lookup is glibc's ``search_cache``:
    a binary search with ``_dl_cache_libcmp``; a key offset outside the string table met on the
    way ends the lookup with nothing ("make sure string table indices are not bogus"), an entry
    whose value is outside is skipped.  So a truncated or damaged cache gives the answers the
    real loader gets from it (checked against the real ld.so in tests/test_hostile_locate.py).

    A scan asks for three sonames; nothing is decoded beyond the entries the search visits.
    ``entries()`` gives the full list, ``damage()`` what is wrong inside an accepted file.
    """

    def __init__(self, data):
        data = bytes(data)
        self.data = data
        size = len(data)
        entry = _CACHE_NEW_ENTRY
        if data.startswith(_CACHE_MAGIC_NEW):
            if size <= _CACHE_NEW_HEADER_SIZE:
                raise LdCacheError("truncated ld.so.cache")
            nlibs = struct.unpack_from("<I", data, 20)[0]
            if (size - _CACHE_NEW_HEADER_SIZE) // entry.size < nlibs:
                raise LdCacheError("truncated ld.so.cache")
            self._check_endian(0)
            table, strings, limit = _CACHE_NEW_HEADER_SIZE, 0, size
        elif data.startswith(_CACHE_MAGIC_OLD):
            if size <= _CACHE_OLD_HEADER_SIZE:
                raise LdCacheError("truncated ld.so.cache")
            nlibs = struct.unpack_from("<I", data, 12)[0]
            if (size - _CACHE_OLD_HEADER_SIZE) // _CACHE_OLD_ENTRY.size < nlibs:
                raise LdCacheError("truncated ld.so.cache")
            old_end = _CACHE_OLD_HEADER_SIZE + nlibs * _CACHE_OLD_ENTRY.size
            new = (old_end + 7) & ~7           # ALIGN_CACHE: the new table is 8-byte aligned
            if size >= new + _CACHE_NEW_HEADER_SIZE and data.startswith(_CACHE_MAGIC_NEW, new):
                self._check_endian(new)
                nlibs = struct.unpack_from("<I", data, new + 20)[0]
                # glibc 2.36 checks neither this table against the file size nor its string
                # offsets against more than the whole file's size: what lies past the end is
                # read from the mapping (zeros to the end of the page).  This reader does the
                # same (zeros past the end) and damage() says so.
                table, strings, limit = new + _CACHE_NEW_HEADER_SIZE, new, size
            else:
                entry, table, strings = _CACHE_OLD_ENTRY, _CACHE_OLD_HEADER_SIZE, old_end
                limit = size - old_end
        else:
            raise LdCacheError("not a glibc ld.so.cache")
        # New-format string offsets count from the new header (the file's start for a pure
        # new-format cache, the aligned table after the old one in compat files: glibc uses
        # cache_new as the strings' base); old-format ones from the end of the old table.
        self.nlibs = nlibs
        self._entry = entry
        self._table = table
        self._strings = strings
        self._limit = limit              # glibc's string_table_size: offsets below it are "valid"
        self._zero = (0,) * len(entry.unpack(b"\0" * entry.size))
        self._entries = None

    def _check_endian(self, header):
        flags = self.data[header + _CACHE_FLAGS_AT]
        # cache_file_new_matches_endian: 0 (unknown) or this host's order (little-endian: this
        # reader, like the x86-64/arm64 loaders it stands for, reads little-endian tables).
        if flags != 0 and (flags & 3) != _ENDIAN_LITTLE:
            raise LdCacheError("ld.so.cache has the wrong byte order (flags 0x{:x}; a big-endian "
                               "target's cache)".format(flags))

    def _record(self, index):
        at = self._table + index * self._entry.size
        if at + self._entry.size > len(self.data):
            return self._zero            # past the end of the file: zeros in the loader's mapping
        return self._entry.unpack_from(self.data, at)

    def _present(self):
        """How many entries lie wholly inside the file (all but in a truncated compat file)."""
        return max(0, min(self.nlibs, (len(self.data) - self._table) // self._entry.size))

    def _string(self, offset, need_nul=False):
        """The C string at a string-table offset, or None when the offset is outside the file
        (glibc's _dl_cache_verify_ptr) or, with ``need_nul``, no NUL ends it within bounds.
        Without ``need_nul`` an unterminated string ends at the end of the file, as the loader
        reads it from its mapping (the rest of the last page is zeros)."""
        if offset >= self._limit:
            return None                  # _dl_cache_verify_ptr fails
        start = self._strings + offset
        if start >= len(self.data):
            return b""                   # past the end of the file: zeros in the loader's mapping
        end = self.data.find(b"\0", start, start + _CACHE_STRING_MAX)
        if end < 0:
            if need_nul:
                return None
            end = min(len(self.data), start + _CACHE_STRING_MAX)
        return self.data[start:end]

    def _search(self, name):
        """Indexes of the entries glibc's search_cache walks for ``name`` (bytes)."""
        left, right = 0, _wrap32(self.nlibs - 1)       # C ints, as in search_cache
        while left <= right:
            total = _wrap32(left + right)
            middle = -(-total // 2) if total < 0 else total // 2
            if middle < 0:
                return []                # the real loader would read before its table
            key = self._string(self._record(middle)[1])
            if key is None:
                return []                            # a bogus index: the lookup ends, no answer
            cmp = _libcmp(name, key)
            if cmp == 0:
                first = middle
                while first > 0:
                    before = self._string(self._record(first - 1)[1])
                    if before is None or _libcmp(name, before) != 0:
                        break
                    first -= 1
                out = [first]
                index = first + 1
                while index <= right:
                    after = self._string(self._record(index)[1])
                    if after is None or _libcmp(name, after) != 0:
                        break
                    out.append(index)
                    index += 1
                return out
            if cmp < 0:                 # ldconfig sorts the table in descending libcmp order
                left = middle + 1
            else:
                right = middle - 1
        return []

    def lookup(self, soname):
        """Paths the cache gives for ``soname``, in cache order (every arch/hwcap entry; the
        caller's accept test skips the ones of another machine as the loader's flags test does)."""
        name = soname.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]
        out = []
        for index in self._search(name):
            value = self._string(self._record(index)[2])
            if value is not None:
                out.append(value.decode("utf-8", "surrogateescape"))
        return out

    def entries(self):
        """Every usable (soname, path) in file order (entries with an offset outside the file
        left out, as the loader skips them)."""
        if self._entries is None:
            out = []
            for index in range(self._present()):
                record_ = self._record(index)
                key = self._string(record_[1])
                value = self._string(record_[2])
                if key is not None and value is not None:
                    out.append((key.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")))
            self._entries = out
        return self._entries

    def damage(self):
        """One line on what is wrong inside a cache the loader accepts, or None.

        Counts entries whose name or path lies outside the file (a truncated or overwritten
        table): the loader skips those, and a lookup that meets one on its binary search finds
        nothing at all.  Costs two max() over the table's words (about 30 microseconds for the
        614 entries of this host's cache).
        """
        limit = len(self.data) - self._strings
        present = self._present()
        # the table as 32-bit words (entries are 12 or 24 bytes: flags, key, value, ...), so
        # the common case (every offset inside) is two max() calls, not a loop in Python
        # (a memoryview, not array.array: importing array imports collections, 1 ms of a start)
        raw = self.data[self._table:self._table + present * self._entry.size]
        step = self._entry.size // 4
        words = memoryview(raw).cast("I") if sys.byteorder == "little" and len(raw) % 4 == 0 else None
        if words is not None and words.itemsize == 4:
            keys, values = words[1::step], words[2::step]
        else:
            records = list(self._entry.iter_unpack(raw))
            keys, values = [r[1] for r in records], [r[2] for r in records]
        highest = max(max(keys, default=-1), max(values, default=-1))
        bad = []
        if highest >= limit:
            bad = [index for index in range(present) if keys[index] >= limit or values[index] >= limit]
            highest = max((max(k, v) for k, v in zip(keys, values) if k < limit and v < limit), default=-1)
        problems = []
        if present < self.nlibs:
            problems.append("the new-format table claims {} entries, {} fit in the file (truncated); the "
                            "loader reads on past the end".format(self.nlibs, present))
        if bad:
            problems.append("{} of {} entries point outside the file (first: entry {}); the loader skips "
                            "them and a lookup meeting one finds nothing".format(len(bad), self.nlibs, bad[0]))
        if highest >= 0 and self.data.find(b"\0", self._strings + highest) < 0:
            # every string at a lower offset ends at a NUL before it or runs into this one, so
            # the string that starts last is the only one that can lack an end
            problems.append("the last string runs to the end of the file without a NUL (truncated)")
        return "; ".join(problems) or None


class _ListCache(object):
    """An LdCache look-alike over ``ldconfig -p`` output or nothing."""

    def __init__(self, entries):
        self._entries = list(entries)

    def lookup(self, soname):
        return [path for name, path in self._entries if name == soname]

    def entries(self):
        return self._entries


def _ldconfig_cache(limit=200000):
    """Fallback when this reader fails on a cache (a bug here, not a cache the loader refuses):
    ask ``ldconfig -p`` (C locale).  At most ``limit`` lines are read: ldconfig -p trusts the
    header's count and prints on past the table of a corrupt file."""
    import subprocess  # only on this rare path: keeps the static scan's start-up short
    env = dict(os.environ, LC_ALL="C")
    for ldconfig in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        try:
            proc = subprocess.Popen([ldconfig, "-p"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL, env=env)
        except OSError:
            continue
        entries = []
        cut = False
        try:
            for count, raw in enumerate(proc.stdout):
                if count >= limit:
                    cut = True
                    break
                match = _LDCONFIG_P_LINE.match(raw.decode("utf-8", "surrogateescape").rstrip("\n"))
                if match:
                    entries.append((match.group(1), match.group(2)))
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()
        return entries if proc.returncode == 0 and not cut else []
    return []


def _is_directive(line, word, fold=False):
    """ldconfig's test (elf/ldconfig.c parse_conf): the word, then a blank (space or tab)."""
    head = line[:len(word)]
    return (head.lower() if fold else head) == word and line[len(word):len(word) + 1] in (" ", "\t")


_C_SPACE = " \t\n\v\f\r"            # C isspace() in the C locale


def parse_ld_so_conf(lines, include_resolver):
    """Directories named by ld.so.conf lines; ``include`` globs go through include_resolver.

    Never raises: a line that is not text is decoded with replacement, and a resolver that
    fails (an ``OSError``, ``ValueError`` or ``ProbeError``) contributes nothing.  Lines are
    read as glibc's ldconfig reads them (elf/ldconfig.c ``parse_conf`` and ``add_dir_1``, the
    same from 2.17 to 2.36): ``#`` ends a line, leading blanks are skipped, ``include`` and
    (case-insensitive, ignored) ``hwcap`` must be followed by a blank, include patterns are
    split on spaces and tabs; any other line is ONE directory, cut at a ``=`` (the old
    ``dir=libc6`` type suffix), trailing whitespace and slashes removed (so ``/`` is dropped,
    as 2.36 drops it).  Only ldconfig reads
    this file; the loader at run time reads ld.so.cache alone (elf/dl-load.c), so these
    directories are shown as candidates, never chosen.
    """
    dirs = []
    try:
        iterator = iter(lines)
    except TypeError:
        return dirs
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            break
        except (OSError, ValueError, ProbeError):
            break                          # a reader that fails mid-file: what was read counts
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        elif not isinstance(raw, str):
            continue
        if raw.endswith("\n"):
            raw = raw[:-1]                # getline's newline (a "\r" stays, as in ldconfig)
        line = raw.split("#", 1)[0].lstrip(_C_SPACE)
        if not line:
            continue
        if _is_directive(line, "include"):
            for pattern in line[8:].replace("\t", " ").split(" "):     # re.split("[ \t]+"): empties skipped
                if not pattern:
                    continue
                try:
                    dirs.extend(include_resolver(pattern))
                except (OSError, ValueError, ProbeError):
                    continue
        elif _is_directive(line, "hwcap", fold=True):
            continue                      # "hwcap directive ignored" (glibc 2.37 and later)
        else:
            path = line.split("=", 1)[0].rstrip(_C_SPACE).rstrip("/")
            if path:                      # add_dir_1: nothing left ("/" included) is dropped
                dirs.append(path)
    return dirs


# Bounds of the include graph.  ldconfig itself keeps no visited set (parse_conf_include calls
# parse_conf for every glob match, again and again in a cycle, until fopen fails with EMFILE);
# this reader reads each file once (by real path), de-duplicates glob matches, and stops at
# these bounds with a stated problem.  Real configurations: one level, a few dozen files.
MAX_CONF_DEPTH = 32
MAX_CONF_FILES = 1024
MAX_CONF_DIRS = 10000


class _ConfReader(object):
    """ld.so.conf and its includes, read inside a Root, every file through safeio."""

    def __init__(self, root):
        self.root = root
        self.visited = set()          # paths and (st_dev, st_ino) of the files read (or refused)
        self.skipped = []             # "target path: reason"
        self.files = 0
        self.stopped = None

    def skip(self, target, reason):
        if len(self.skipped) < 20:
            self.skipped.append("{}: {}".format(safeio.one_line(target), reason))
        elif len(self.skipped) == 20:
            self.skipped.append("... (more skipped)")

    def read(self, conf, depth=0):
        """Directories of target file ``conf`` and what it includes."""
        # on the host the kernel follows the links; under a root they resolve inside it
        real = conf if self.root.is_host else self.root.realpath(self.root.host(conf))
        if real in self.visited:
            return []
        self.visited.add(real)
        try:
            info = os.stat(real)
        except FileNotFoundError:
            return []                 # ldconfig: a missing file is skipped without a word (ENOENT)
        except OSError as exc:
            self.skip(conf, safeio.os_reason(exc, real))
            return []
        if (info.st_dev, info.st_ino) in self.visited:
            return []                 # read once (the same file by any name): a cycle adds nothing
        self.visited.add((info.st_dev, info.st_ino))
        if self.files >= MAX_CONF_FILES:
            self.stopped = self.stopped or "more than {} configuration files".format(MAX_CONF_FILES)
            return []
        self.files += 1
        problem = safeio.kind_problem(info.st_mode)
        if problem:
            # never opened: a FIFO would block open() (ldconfig's fopen blocks on one), a
            # device could stream for ever
            self.skip(conf, problem)
            return []

        def include(pattern):
            if depth + 1 > MAX_CONF_DEPTH:
                self.stopped = self.stopped or "includes nested deeper than {} levels".format(MAX_CONF_DEPTH)
                return []
            if not pattern.startswith("/"):
                # ldconfig: relative to the including file's directory (with -r it refuses a
                # relative include outright; here it is taken the same way inside the root)
                pattern = os.path.join(os.path.dirname(conf), pattern)
            out = []
            for match in self.glob(pattern):
                out.extend(self.read(match, depth + 1))
                if len(out) > 4 * MAX_CONF_DIRS:       # repeats are dropped later: some slack
                    break
            return out

        try:
            lines = safeio.iter_lines(real, "ld.so.conf")
            return parse_ld_so_conf(_guarded(lines, self, conf), include)[:4 * MAX_CONF_DIRS]
        except InputError as exc:       # raised before the first line: too big, swapped file
            self.skip(conf, _reason(exc, "ld.so.conf", real))
            return []

    def glob(self, pattern):
        """Target paths matching an include pattern, sorted and de-duplicated (glob64 order)."""
        directory, name = os.path.split(pattern)
        if any(c in directory for c in "*?["):
            matches = [self.root.target(p) for p in self.root.glob(pattern)]
        elif not any(c in name for c in "*?["):
            matches = [pattern]
        else:
            from .rootfs import name_matches
            matches = []
            try:
                # the directory resolved inside the root: /etc/ld.so.conf.d -> /x stays in it;
                # scandir, so a directory of a million names is not listed whole
                with os.scandir(self.root.realpath(self.root.host(directory or "/"))) as entries:
                    for entry in entries:
                        if name_matches(entry.name, name) and not entry.name.startswith("."):
                            matches.append(os.path.join(directory, entry.name))
                            if len(matches) > MAX_CONF_FILES:
                                self.stopped = self.stopped or "more than {} files match {}".format(
                                    MAX_CONF_FILES, safeio.one_line(pattern))
                                break
            except OSError:
                return []
        return sorted(set(matches))


def _reason(exc, what, path):
    """An InputError's reason without its "what path: " prefix (the caller names the file)."""
    text = str(exc)
    prefix = "{} {}: ".format(what, safeio.one_line(path))
    return text[len(prefix):] if text.startswith(prefix) else text


def _guarded(lines, reader, conf):
    """iter_lines, with an error in the middle of the file recorded and ending the file."""
    try:
        for line in lines:
            yield line
    except InputError as exc:
        reader.skip(conf, _reason(exc, "ld.so.conf", conf))


def _read_conf_dirs(root, conf="/etc/ld.so.conf"):
    """(ld.so.conf's directories, problems); ``root`` is a Root and ``conf`` a target path."""
    reader = _ConfReader(root)
    dirs = []
    seen = set()
    for directory in reader.read(conf):          # ldconfig drops repeats too (add_single_dir)
        if directory not in seen:
            seen.add(directory)
            dirs.append(directory)
    if len(dirs) > MAX_CONF_DIRS:
        reader.stopped = reader.stopped or "more than {} directories".format(MAX_CONF_DIRS)
        dirs = dirs[:MAX_CONF_DIRS]
    problems = []
    count = len([s for s in reader.skipped if not s.startswith("... ")])
    parts = (["{} configuration file(s) of its include graph skipped".format(count)] if count else []) + \
        (["reading stopped: {}".format(reader.stopped)] if reader.stopped else [])
    if parts:
        evidence = tuple(reader.skipped)
        if reader.stopped:
            evidence += ("stopped: {}".format(reader.stopped),)
        problems.append(Problem(
            "locate.ld-so-conf-skipped", "info",
            "{}: {}; their directories are not listed as ld.so.conf candidates".format(conf, "; ".join(parts)),
            "ldconfig warns about these too (\"ignoring configuration file that cannot be opened\"); "
            "replace them with regular files or remove the include",
            evidence))
    return dirs, problems


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
    cache, cache_error, problems = _read_cache(root, default_dirs)
    conf_dirs, conf_problems = _read_conf_dirs(root)
    return SearchContext(root=root, ld_library_path=ld_library_path, cache=cache,
                         conf_dirs=tuple(conf_dirs), default_dirs=tuple(default_dirs),
                         cache_error=cache_error, problems=tuple(problems + conf_problems))


_CACHE_FIX = ("rebuild it with ldconfig{} (the loader ignores a cache it cannot use and searches only "
              "the default directories: {})")


def _read_cache(root, default_dirs=()):
    """(cache, cache_error, problems) of the target's /etc/ld.so.cache.

    The file is read through safeio (a regular file, at most LIMITS["ld.so.cache"], never a
    FIFO opened: the loader's own open() of a FIFO cache would block).  A cache the loader
    would not use is replaced by an empty one, so the search goes on with the default
    directories, as elf/dl-load.c does when _dl_load_cache_lookup finds nothing; the reason is
    a stated problem either way.
    """
    target = "/etc/ld.so.cache"
    cache_path = root.realpath(root.host(target))
    shown = safeio.one_line(cache_path)
    fix = _CACHE_FIX.format(" -r ROOT" if not root.is_host else "",
                            ", ".join(default_dirs) or "/lib, /usr/lib")
    try:
        data = safeio.read_bytes(cache_path, "ld.so.cache")
    except InputError as exc:
        if isinstance(exc.__cause__, FileNotFoundError) and not os.path.islink(cache_path):
            return _ListCache(()), "no ld.so.cache", []
        reason = _reason(exc, "ld.so.cache", cache_path)
        return _ListCache(()), "{}: {}".format(shown, reason), [Problem(
            "locate.ldcache-unreadable", "warning",
            "{} cannot be read ({}); the search goes on without it".format(shown, reason), fix,
            ("path {}".format(shown), "reason {}".format(reason)))]
    try:
        cache = LdCache(data)
        damage = cache.damage()
    except LdCacheError as exc:
        reason = safeio.one_line(str(exc))
        return _ListCache(()), "{}: {}".format(shown, reason), [Problem(
            "locate.ldcache-corrupt", "warning",
            "{} is not a cache the loader can use ({}); the search goes on with the default "
            "directories".format(shown, reason), fix,
            ("path {}".format(shown), "reason {}".format(reason), "size {} bytes".format(len(data))))]
    except (ValueError, struct.error) as exc:
        # a failure of this reader, not of the file: ldconfig -p reads it for us on the host
        cache_error = "{}: unreadable ({}); used ldconfig -p".format(shown, safeio.one_line(str(exc)))
        return (_ListCache(_ldconfig_cache()) if root.is_host else _ListCache(())), cache_error, []
    if damage is None:
        return cache, None, []
    return cache, "{}: {}".format(shown, damage), [Problem(
        "locate.ldcache-corrupt", "warning",
        "{} is damaged: {}".format(shown, damage), fix,
        ("path {}".format(shown), "reason {}".format(damage), "size {} bytes".format(len(data))))]


def context_problems(ctx):
    """Problems of the search context itself (ld.so.cache, ld.so.conf): a tuple of Problem."""
    return tuple(getattr(ctx, "problems", ()) or ())


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


def _dotted(text):
    r"""``re.match(r"^\d+(\.\d+)*$", text)`` (``$`` also before a final newline), without re."""
    text = text[:-1] if text.endswith("\n") else text
    return all(part.isdecimal() for part in text.split("."))


_LDCONFIG_P_LINE = Pattern(r"\s+(\S+) \(.*\) => (\S+)$")


def file_version(realpath, soname):
    """``librbd.so.1.16.0`` -> ``1.16.0``; None when the file name carries no version."""
    base = os.path.basename(realpath)
    stem = soname.split(".so", 1)[0] + ".so."
    if base.startswith(stem):
        version = base[len(stem):]
        if _dotted(version):
            return version
    return None


# What a user-named path must be, by the option that named it (the wording of the errors).
_EXPLICIT_KINDS = {
    "--conf": "configuration file",
    "--keyring": "keyring file",
    "consumer": "program or library file",
    "--consumer": "program, library or JSON file",
    "--baseline": "JSON report file",
    "--policy": "policy file",
}


def _explicit_kind(what):
    kind = _EXPLICIT_KINDS.get(what)
    if kind:
        return kind
    return "library file" if "librbd" in what.lower() or "librados" in what.lower() else "file"


def check_explicit(path, what):
    """Validate a user-given path; raise LocateError with a one-line reason.

    ``what`` names the option or variable (``--librbd``, ``LIBRBD_PROBE_LIBRBD``, ``--conf``);
    the path, the option and a link target are escaped (safeio.one_line), so a newline in a
    value cannot start a second line.  A FIFO, socket or device is refused without opening it.
    """
    shown, label = safeio.one_line(path), safeio.one_line(what)
    kind = _explicit_kind(what)
    if "\0" in os.fsdecode(path):
        # Python 3.6's os.path.islink/exists raise ValueError on it instead of answering
        raise LocateError("{}: {}: not a valid path (NUL byte)".format(shown, label))
    if os.path.islink(path) and not os.path.exists(path):
        try:
            link = os.readlink(path)
        except OSError:
            link = "?"
        raise LocateError("{}: {} is a broken symbolic link (-> {})".format(shown, label, safeio.one_line(link)))
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise LocateError("{}: {} does not exist".format(shown, label)) from exc
    except OSError as exc:
        raise LocateError("{}: {}: {}".format(shown, label, safeio.os_reason(exc, path))) from exc
    if os.path.isdir(path):
        raise LocateError("{}: {} is a directory, not a {}".format(shown, label, kind))
    problem = safeio.kind_problem(info.st_mode)
    if problem:
        raise LocateError("{}: {} {}".format(shown, label, problem))
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


_1 = safeio.one_line      # every path or value from the scanned system goes into a message escaped


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
                        lib.name, _1(winner.realpath), _1(cand.realpath), cand.file_version or "unversioned"),
                    None, ("loader candidate {} via {}".format(_1(cand.path), cand.source),)))
                break
            continue
        if cand.file_version == winner.file_version and cand.source == "extra":
            continue
        where = "on the loader's path ({})".format(cand.source) if cand.source != "extra" else "outside the loader's path"
        problems.append(Problem(
            "shadowed-copy." + lib.name, "warning",
            "{} {} ({}) is {}; the loader uses {} ({})".format(
                lib.name, _1(cand.realpath), cand.file_version or "unversioned", where,
                _1(winner.realpath), winner.file_version or "unversioned"),
            "remove the stale copy or make sure every consumer loads the same one "
            "(LD_LIBRARY_PATH, RPATH/RUNPATH, ldconfig)",
            ("candidate {} via {}".format(_1(cand.path), cand.source),
             "chosen {} via {}".format(_1(winner.path), winner.source))))
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
                                + (" under {}".format(_1(root)) if root else ""),
                                "install the Ceph RBD client library ({}) or point --librbd at it".format(packages)))
    elif librbd_readable and not libraries["librados"].found:
        problems.append(Problem("librados-missing", "error",
                                "librbd needs {} but the loader would not find it".format(_1(rados_needed)),
                                "install {}, or fix LD_LIBRARY_PATH / RUNPATH".format(
                                    " or ".join(" ".join(n) for _, n in sorted(kn.packages("librados").items())))))
    for lib in libraries.values():
        if lib.error:
            problems.append(Problem("unreadable." + lib.name, "error", _1(lib.error)))
        problems.extend(shadow_problems(lib))
    return problems
