"""Symbols files for packagers: dpkg's ``deb-symbols(5)`` and a plain list for RPM builds.

Pure: the dynamic symbols of one library (``elf.Symbol`` records) and the build's release in,
text out.  Every C function is stamped with the UPSTREAM Ceph release that first had it, from
the knowledge base, raised to the first release of its GNU symbol version node when it has
one (a binary bound to ``rados_ioctx_pool_stat@LIBRADOS_14.2.0`` needs 14.2.0 whatever the
function's own age).  Debian's own files stamp the first *Debian* version instead, and miss
functions in places (trixie's 18.2.7 librbd1.symbols lacks ``rbd_diff_iterate3``, which the
binary exports).  The C++ API and compiler-generated symbols (names starting with ``_``) are
covered by one pattern stamped with the build's own release: nothing upstream dates them.
"""
from . import _kn
from .textout import join_lines

_EXPORTED_BINDINGS = ("GLOBAL", "WEAK", "GNU_UNIQUE")


def exported(symbols):
    """Sorted (name, node) of the symbols a consumer can bind to, as dpkg-gensymbols lists
    them (node None for unversioned and for the base version: dpkg's ``@Base``)."""
    out = set()
    for sym in symbols:
        if sym.defined and sym.binding in _EXPORTED_BINDINGS and sym.visibility in ("DEFAULT", "PROTECTED"):
            out.add((sym.name, sym.version))
    return sorted(out, key=lambda item: (item[0], item[1] or ""))


def _max_version(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a if _kn.version_key(a) >= _kn.version_key(b) else b


def function_stamp(name, build_release):
    """(release, note) a consumer of C function ``name`` needs, for a build of ``build_release``.

    The first release, unless this build's series got the function as a backport (then the
    backport's point release), and never later than the build itself: a build that exports
    a function the knowledge base dates later is stamped with its own release, and says so.
    """
    first, exact, backports = _kn.function_first(name)
    if first is None:
        return build_release, "not in the knowledge base: stamped with this build's release"
    key = _kn.version_key(build_release)
    note = None if exact else _kn.first_release_text(name)
    if key >= _kn.version_key(first):
        return first, note
    for backport in sorted(backports, key=_kn.version_key):
        if _kn.version_key(backport)[:2] == key[:2] and _kn.version_key(backport) <= key:
            return backport, "backported to the {} series in {}".format(".".join(backport.split(".")[:2]), backport)
    return build_release, "exported by this build although the knowledge base dates it to {}".format(first)


def stamp(name, node, build_release):
    """(version, note) for one symbol: the release a consumer of it needs at least."""
    node_first, _ = _kn.version_node_first(node) if node else (None, None)
    node_note = None
    if node and node_first is None:
        node_first = build_release
        node_note = "version node {} unknown to the knowledge base: stamped with this build".format(node)
    if name == node:                       # the node's own definition symbol
        return node_first, node_note
    if _kn.is_api_function(name):
        first, note = function_stamp(name, build_release)
        version = _max_version(first, node_first)
        if version != first:                # the node decides: the function's own age does not matter
            note = None
        return version, node_note or note
    return _max_version(build_release, node_first), node_note


def dpkg_symbols(symbols, soname, package, build_release, source, build_depends=None, tool="librbd-probe"):
    """The text of a deb-symbols(5) file for one library."""
    entries = exported(symbols)
    lines = [
        "# {} symbols file for {} ({}), written by {} from {}".format(package, soname, build_release, tool, source),
        "# Versions are UPSTREAM Ceph releases (the first release that exported each function, from",
        "# the librbd_probe knowledge base), not Debian package versions; a versioned symbol is",
        "# stamped at least with the first release of its version node.",
        "{} {} #MINVER#".format(soname, package),
    ]
    if build_depends:
        lines.append("* Build-Depends-Package: {}".format(build_depends))
    if any(name.startswith("_") for name, _ in entries):
        lines.append("# C++ API and compiler-generated symbols: not dated upstream, stamped with this build")
        lines.append(' (regex)"^_" {}'.format(build_release))
    for name, node in entries:
        if name.startswith("_"):
            continue
        version, note = stamp(name, node, build_release)
        if note:
            lines.append("# {}: {}".format(name, note))
        lines.append(" {}@{} {}".format(name, node or "Base", version))
    return join_lines(lines)


def plain_list(symbols, soname, build_release, source, tool="librbd-probe"):
    """The exported C functions, one ``name[@NODE] first-release`` per line (for RPM builds)."""
    lines = ["# {} C functions ({}), written by {} from {}".format(soname, build_release, tool, source),
             "# name[@version-node] first-upstream-Ceph-release"]
    for name, node in exported(symbols):
        if not _kn.is_api_function(name) or name == node:
            continue
        version, _ = stamp(name, node, build_release)
        lines.append("{}{} {}".format(name, "@" + node if node else "", version))
    return join_lines(lines)
