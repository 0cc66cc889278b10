"""The few knowledge-layer questions the build gate asks (diff, gate, symbols), in one place.

A thin adapter over ``librbd_probe.knowledge``: the gate's modules ask these, so the exact
wording of a question lives here once.  Nothing here holds a Ceph fact.
"""
from . import knowledge as kn
from .errors import KnowledgeBaseError

version_key = kn.version_key           # the one upstream version order
is_api_function = kn.is_api_function   # the one exported-function filter
api_prefixes_bytes = kn.api_prefixes_bytes


def function_first(name):
    """(first release, exact, backports) of a C function; (None, False, ()) when the
    knowledge base lacks it.  ``exact`` is False when only the first build that had it is
    known; ``backports`` are point releases of older series that gained it."""
    func = kn.function(name)
    if func is None:
        return None, False, ()
    return func.first, bool(func.exact), tuple(func.backports)


def first_release_text(name):
    """The knowledge base's honest wording of when a function appeared."""
    return kn.first_release_text(name)


def debian_package(library):
    """The Debian binary package shipping ``library`` (librbd1, librados2), or None."""
    names = kn.packages(library).get("debian") or ()
    return names[0] if names else None


def version_node_first(node):
    """(first release, source) of a GNU symbol version node, or (None, None)."""
    entry = kn.load("symbol_versions.json").get("versions", {}).get(node)
    if not entry:
        return None, None
    return entry["first"], entry["source"]


def capability_ids():
    """Every capability id and ``feature.<name>`` row id the scan reports."""
    return tuple(c.id for c in kn.capabilities()) + tuple("feature." + f.name for f in kn.features())


def feature_names(token):
    """Features given by name or by mask (as ``rbd default features`` takes them: ``61``,
    ``0x3d``) -> tuple of names; KnowledgeBaseError for an unknown name or bit."""
    known = {f.name for f in kn.features()}
    if token in known:
        return (token,)
    try:
        mask = int(token, 0)
    except ValueError:
        raise KnowledgeBaseError("unknown feature {!r} (known: {})".format(token, ", ".join(sorted(known))))
    all_bits = kn.feature_mask(sorted(known))
    if mask <= 0 or mask & ~all_bits:
        raise KnowledgeBaseError("feature mask {} has bits no known release defines (known mask 0x{:x})".format(
            token, all_bits))
    return kn.feature_names(mask)


def release_label(version):
    """'16.2.15 (pacific)' when the knowledge base knows the release, else the version."""
    return kn.release_label(version)
