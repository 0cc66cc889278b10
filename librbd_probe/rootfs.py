"""The one mapping between paths of the target system and paths on this host.

A scan reads either the host itself or a tree that stands for another system: a build root,
a container image, unpacked Debian packages (``--root DIR``).  Every module that turns a path
of the target system (``/usr/lib/x86_64-linux-gnu/librbd.so.1``, a RUNPATH entry,
``/etc/ceph/ceph.conf``) into a file to open asks a ``Root``; none joins paths itself.
This is the ``root_dir`` pattern of the ``distro`` package (``distro.LinuxDistribution(
root_dir=...)``), decided once: a ``Root`` is made from ``--root`` when the run starts and
handed down.

Two kinds of path appear and the method names say which one they take:

- a *target* path is what the target system would see (``/usr/lib/librbd.so.1``);
- a *host* path is where that file is on this machine (``<root>/usr/lib/librbd.so.1``).

For the host (``Root(None)``) both are the same and every method is the plain ``os``
function.  Under a root, absolute symlinks and ``..`` are resolved *inside* the root, the way
``chroot`` would: a build root's ``/usr/lib/librbd.so.1 -> /usr/lib/librbd.so.1.16.0`` never
reaches the host's ``/usr/lib``.
"""
import os

from .errors import LocateError

# The kernel gives up with ELOOP after 40 symbolic links in one lookup (fs/namei.c,
# MAXSYMLINKS); so does this resolver.
MAX_SYMLINKS = 40


class Root(object):
    """The file system a scan reads: the host (``Root(None)``) or a directory tree."""

    __slots__ = ("path",)

    def __init__(self, path=None, check=True):
        """``check=False`` skips the directory test (to display paths of a stored report)."""
        if path is None:
            self.path = None
            return
        if isinstance(path, Root):
            self.path = path.path
            return
        if not isinstance(path, str) or not path:
            from .safeio import one_line
            raise LocateError("{}: --root must be a directory name".format(one_line(repr(path))))
        if check and not os.path.isdir(path):
            from .safeio import one_line
            raise LocateError("{}: --root is not a directory".format(one_line(path)))
        self.path = os.path.abspath(path)

    @classmethod
    def of(cls, value):
        """``value`` as a Root: a Root is returned as is, None or a directory name wrapped."""
        return value if isinstance(value, Root) else cls(value)

    @property
    def is_host(self):
        return self.path is None

    def __repr__(self):
        return "Root({!r})".format(self.path)

    def __eq__(self, other):
        return isinstance(other, Root) and other.path == self.path

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((Root, self.path))

    # -- mapping -------------------------------------------------------------------------
    def host(self, target_path):
        """Host path of a target path: ``/usr/lib/x.so`` -> ``<root>/usr/lib/x.so``.

        Identity for the host.  Under a root, ``..`` cannot climb above the root (as in a
        chroot) and a relative path is taken from the root's top.
        """
        if self.path is None:
            return target_path
        inside = os.path.normpath("/" + target_path)       # "/../x" -> "/x": clamped at the top
        if inside.startswith("//"):                         # POSIX keeps a leading "//"
            inside = "/" + inside.lstrip("/")
        if inside == "/":
            return self.path
        return os.path.join(self.path, inside.lstrip("/"))

    def contains(self, host_path):
        """Whether ``host_path`` lies inside the root (always True for the host)."""
        if self.path is None:
            return True
        path = os.path.abspath(host_path)
        return path == self.path or path.startswith(self.path.rstrip("/") + "/")

    def target(self, host_path):
        """Target path of a host path (for display): ``<root>/usr/lib/x.so`` -> ``/usr/lib/x.so``.

        Identity for the host, and for a host path outside the root (a file given
        explicitly on the command line), which is shown as it is.
        """
        if self.path is None or host_path is None:
            return host_path
        path = os.path.abspath(host_path)
        if path == self.path:
            return "/"
        prefix = self.path.rstrip("/")
        if prefix and path.startswith(prefix + "/"):
            return path[len(prefix):]
        if not prefix:                                       # Root("/")
            return path
        return host_path

    def realpath(self, host_path):
        """``os.path.realpath`` with absolute symlink targets and ``..`` resolved inside the root.

        A host path outside the root (an explicit file) is resolved on the host.  After
        ``MAX_SYMLINKS`` links the path reached so far is returned, as ``realpath`` would
        fail with ELOOP there.
        """
        if self.path is None or not self.contains(host_path):
            return os.path.realpath(host_path)
        root = self.path
        rel = os.path.relpath(os.path.abspath(host_path), root)
        parts = [p for p in rel.split(os.sep) if p not in ("", ".")]
        resolved = root
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved != root:
                    resolved = os.path.dirname(resolved)
                continue
            candidate = os.path.join(resolved, part)
            if os.path.islink(candidate):
                hops += 1
                if hops > MAX_SYMLINKS:
                    return candidate
                link = os.readlink(candidate)
                if link.startswith("/"):
                    resolved = root
                parts = [p for p in link.split("/") if p not in ("", ".")] + parts
                continue
            resolved = candidate
        return resolved

    # -- file system questions, on target paths ------------------------------------------
    def exists(self, target_path):
        return os.path.exists(self.realpath(self.host(target_path)))

    def lexists(self, target_path):
        return os.path.lexists(self.host(target_path))

    def isdir(self, target_path):
        return os.path.isdir(self.realpath(self.host(target_path)))

    def isfile(self, target_path):
        return os.path.isfile(self.realpath(self.host(target_path)))

    def listdir(self, target_path):
        """Sorted entry names of a target directory (raises OSError like os.listdir)."""
        return sorted(os.listdir(self.realpath(self.host(target_path))))

    def open(self, target_path, mode="r", what="", limit=None, encoding="utf-8", errors="replace"):
        """Open a target file for reading (symlinks resolved inside the root) through
        ``safeio.open_regular``: a FIFO, device or directory is refused without being opened,
        a file over ``limit`` (default ``safeio.LIMITS[what]``) too; InputError, one line."""
        if any(c in mode for c in "wax+"):
            raise ValueError("Root.open reads only (mode {!r})".format(mode))
        import io
        from . import safeio
        handle, _ = safeio.open_regular(self.realpath(self.host(target_path)), what, limit)
        if "b" in mode:
            return handle
        return io.TextIOWrapper(handle, encoding=encoding, errors=errors)

    def glob(self, pattern):
        """Host paths matching a target pattern, sorted (wildcards in any component)."""
        parts = [p for p in os.path.normpath("/" + pattern).split("/") if p]
        paths = [self.host("/")]
        for part in parts:
            nxt = []
            for base in paths:
                if any(c in part for c in "*?["):
                    try:
                        names = sorted(os.listdir(self.realpath(base)))
                    except OSError:
                        continue
                    nxt.extend(os.path.join(base, n) for n in names
                               if name_matches(n, part) and (part.startswith(".") or not n.startswith(".")))
                else:
                    candidate = os.path.join(base, part)
                    if os.path.lexists(self.realpath(candidate)) or os.path.lexists(candidate):
                        nxt.append(candidate)
            paths = nxt
        return sorted(paths)


HOST = Root(None)


def name_matches(name, pattern):
    """``fnmatch.fnmatch(name, pattern)`` on POSIX; a pattern whose only wildcard is ``*`` (the
    ``*.conf`` of ld.so.conf includes) is matched without fnmatch's regular expression."""
    if "?" in pattern or "[" in pattern:
        import fnmatch
        return fnmatch.fnmatch(name, pattern)
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return name == pattern
    head, tail = pieces[0], pieces[-1]
    if len(name) < len(head) + len(tail) or not name.startswith(head) or not name.endswith(tail):
        return False
    pos, end = len(head), len(name) - len(tail)
    for piece in pieces[1:-1]:
        found = name.find(piece, pos, end)
        if found < 0:
            return False
        pos = found + len(piece)
    return True
