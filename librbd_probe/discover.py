"""Find every program and module that uses librbd/librados, by content, on a host or under a root.

No list of known places: the executable and library trees (bin, sbin, libexec, lib, lib64 and
their multiarch and plugin subdirectories, every Python site/dist-packages, /opt) are walked
and every ELF file is kept that NEEDs librbd, librados or libradosstriper, or has an undefined
rbd_/rados_/librbd::/librados:: symbol.  Each file costs one open and, for ELF files, a read
of its dynamic section and string table (``elf.sweep_dynamic``); only files whose string
table mentions a Ceph name have their symbols read.
"""
import os
import sys
import time

from . import elf
from .model import Record
from .rootfs import Root

NEEDED = ("librbd.so.1", "librados.so.2", "libradosstriper.so.1")
# Ceph's own client libraries need each other: they are what is checked, not consumers.
_CEPH_SONAME_PREFIXES = ("librbd.so.", "librados.so.", "libradosstriper.so.", "libceph-common.so.")
MARKERS = (b"rbd_", b"rados_", b"_ZN6librbd", b"_ZNK6librbd", b"_ZN8librados", b"_ZNK8librados")
_MARKER_STR = tuple(m.decode("ascii") for m in MARKERS)
# Trees of the target system that hold executables and loadable objects.
TREES = ("/usr/bin", "/usr/sbin", "/usr/libexec", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32",
         "/usr/local", "/bin", "/sbin", "/lib", "/lib64", "/opt")
# Never descended into: data, not code (and large).
_SKIP = frozenset(("/usr/lib/debug", "/usr/lib/firmware", "/lib/firmware", "/usr/lib/modules", "/lib/modules",
                   "/usr/local/share", "/usr/lib/locale"))


class Found(metaclass=Record, fields="path target reason"):
    """One consumer: host path, target path, why it was kept."""
    # Fields (immutable):
    #   path: str    # host path
    #   target: str  # as the target system names it
    #   reason: str  # "NEEDED librbd.so.1" or "undefined rbd_open"
    __slots__ = ()


class _Progress(object):
    """A one-line counter on stderr, only when it is a terminal."""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = 0.0

    def __call__(self, files, found, where):
        if not self.enabled:
            return
        now = time.time()
        if now - self.last < 0.2:
            return
        self.last = now
        self.stream.write("\r\033[Kscanning: {} files, {} consumers, {}".format(files, found, where[-50:]))
        self.stream.flush()

    def done(self):
        if self.enabled and self.last:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _undefined_ceph(path):
    """The first undefined Ceph-prefixed symbol of ``path``, else None."""
    info = elf.read_elf(path, symbols=True, name_filter=MARKERS)
    for sym in info.symbols:
        if not sym.defined and sym.binding != "LOCAL":
            return sym.name
    return None


def classify_file(path):
    """Reason ``path`` is a consumer, None if it is not (or is no ELF file)."""
    try:
        result = elf.sweep_dynamic(path, MARKERS)
    except elf.ElfError:
        return None
    if result is None:
        return None
    needed, marked, soname = result
    if soname and soname.startswith(_CEPH_SONAME_PREFIXES):
        return None
    for name in needed:
        if name in NEEDED:
            return "NEEDED " + name
    if marked:
        try:
            name = _undefined_ceph(path)
        except elf.ElfError:
            return None
        if name:
            return "undefined " + name
    return None


def python_dirs(pythons=None):
    """site/dist-packages of this interpreter (host only: others are reached by the walk)."""
    out = []
    for entry in sys.path:
        if entry and (entry.endswith("site-packages") or entry.endswith("dist-packages")) and os.path.isdir(entry):
            out.append(entry)
    return out


def walk(directories, on_file, progress=None, skip=frozenset()):
    """Call ``on_file(path)`` for each regular file under ``directories`` (no symlinked dirs
    followed, each inode once)."""
    seen_dirs = set()
    seen_files = set()
    count = 0
    stack = list(reversed(directories))
    while stack:
        directory = stack.pop()
        if directory in skip:
            continue
        try:
            st = os.stat(directory)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            # d_type and d_ino come with the directory listing: no stat per file (a sweep of
            # /usr is tens of thousands of files; a syscall each is most of its cost)
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.path)
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                fkey = (st.st_dev, entry.inode())
            except OSError:
                continue
            if fkey in seen_files:
                continue
            seen_files.add(fkey)
            count += 1
            on_file(entry.path)
        if progress is not None:
            progress(count, None, directory)
        stack.extend(sorted(subdirs, reverse=True))
    return count


def discover(root=None, pythons=None, progress=None, trees=TREES, skip=_SKIP):
    """[Found] of every consumer under the trees of ``root`` (None: this host), sorted."""
    rootmap = Root(root)
    bar = _Progress() if progress is None else progress
    skip = frozenset(rootmap.host(p) for p in skip)
    dirs = []
    for tree in trees:
        host = rootmap.host(tree)
        if os.path.islink(host):          # merged /usr: /bin -> usr/bin is walked once
            continue
        dirs.append(host)
    if rootmap.is_host:
        dirs.extend(python_dirs(pythons))
    found = []

    def on_file(path):
        reason = classify_file(path)
        if reason:
            found.append(Found(path, rootmap.target(path), reason))

    def report(count, _, where):
        if callable(bar):
            bar(count, len(found), where)

    walk(dirs, on_file, report, skip)
    if hasattr(bar, "done"):
        bar.done()
    unique = {}
    for item in found:
        unique.setdefault(os.path.realpath(item.path), item)
    return sorted(unique.values(), key=lambda f: f.target)
