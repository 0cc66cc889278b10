"""The few knowledge-base questions the build gate asks (diff, gate, symbols), in one place.

A thin adapter: today over ``kb.py``; it switches to the ``knowledge`` package (one layer for
the whole project) without its callers changing.  Nothing here holds a Ceph fact.
"""
from . import kb
from .errors import KnowledgeBaseError
from .identify import version_key  # noqa: F401  (re-exported: the one upstream version order)

try:                                   # the knowledge layer (issue 8), once merged
    from . import knowledge as _knowledge
except ImportError:                    # pragma: no cover - before the merge
    _knowledge = None

_LIBRARY_DOCS = ("librbd", "librados")


def _entry(name):
    for library in _LIBRARY_DOCS:
        entry = kb.symbols(library)["symbols"].get(name)
        if entry is not None:
            return library, entry
    return None, None


def function_first(name):
    """(first release, exact, backports) of a C function; (None, False, ()) when the
    knowledge base lacks it.

    ``exact`` is False when the knowledge base only knows the first build that had it;
    ``backports`` are point releases of older series that gained it.
    """
    if _knowledge is not None:
        func = _knowledge.function(name)
        if func is None:
            return None, False, ()
        return func.first, bool(func.exact), tuple(func.backports)
    _, entry = _entry(name)
    if entry is None:
        return None, False, ()
    exact = not entry.get("note") and not entry["source"].startswith("Debian ")
    return entry["first"], exact, tuple(entry.get("backports") or ())


def function_library(name):
    library, _ = _entry(name)
    return library


def debian_package(library):
    """The Debian binary package shipping ``library`` (librbd1, librados2), or None when the
    knowledge base does not say."""
    if _knowledge is None:
        return None
    names = _knowledge.packages(library).get("debian") or ()
    return names[0] if names else None


def version_node_first(node):
    """(first release, source) of a GNU symbol version node, or (None, None)."""
    doc = kb.load("symbol_versions.json")
    entry = doc.get("versions", {}).get(node)
    if not entry:
        return None, None
    return entry["first"], entry["source"]


def capability_ids():
    """Every capability id and ``feature.<name>`` row id the scan reports."""
    return tuple(c["id"] for c in kb.capabilities()) + tuple("feature." + f["name"] for f in kb.features())


def feature_names(token):
    """Features given by name or by mask (as ``rbd default features`` takes them: ``61``,
    ``0x3d``) -> tuple of names; KnowledgeBaseError for an unknown name or bit."""
    features = kb.features()
    by_name = {f["name"]: f for f in features}
    if token in by_name:
        return (token,)
    try:
        mask = int(token, 0)
    except ValueError:
        raise KnowledgeBaseError("unknown feature {!r} (known: {})".format(token, ", ".join(sorted(by_name))))
    names = tuple(f["name"] for f in sorted(features, key=lambda f: f["bit"]) if mask & f["mask"])
    known = 0
    for feat in features:
        known |= feat["mask"]
    if mask <= 0 or mask & ~known:
        raise KnowledgeBaseError("feature mask {} has bits no known release defines (known mask 0x{:x})".format(
            token, known))
    return names


def release_label(version):
    """'16.2.15 (pacific)' when the knowledge base knows the release, else the version."""
    best = None
    for rel in kb.releases():
        if version_key(rel["version"]) <= version_key(version):
            best = rel
    if best is None or not best.get("codename"):
        return version
    return "{} ({})".format(version, best["codename"])
