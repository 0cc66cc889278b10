"""Deprecated shim: the raw data documents of the knowledge layer (``librbd_probe.knowledge``).

Kept only until every module asks ``librbd_probe.knowledge`` (records and questions); it hands
out the parsed JSON of ``librbd_probe/knowledge/data`` exactly as before.  Treat the results as
read-only.  New code: ``from librbd_probe import knowledge as kn``.
"""
from . import knowledge as _kn
from .errors import KnowledgeBaseError

SCHEMA_VERSION = _kn.SCHEMA_VERSION
FILES = _kn.FILES
load = _kn.load


def capabilities():
    """The capability definitions (raw dicts), in display order."""
    _kn.capabilities()                      # validates
    return _kn.load("capabilities.json")["capabilities"]


def symbol_prefixes():
    """Name prefixes (bytes) of the C functions this package reasons about."""
    return _kn.api_prefixes_bytes()


def releases():
    """Release entries (raw dicts) sorted by version."""
    _kn.releases()
    return sorted(_kn.load("releases.json")["releases"], key=lambda e: _kn.version_key(e["version"]))


def symbols(library):
    """The symbols document of 'librbd' or 'librados' (raw)."""
    _kn.functions(library)
    return _kn.load("{}_symbols.json".format(library))


def features():
    """Feature bits (raw dicts) with name, mask, first release and class flags."""
    _kn.features()
    return _kn.load("features.json")["features"]


def error_signatures():
    """Error signatures for ``explain`` (raw dicts)."""
    _kn.error_signatures()
    return _kn.load("errors.json")["signatures"]


__all__ = ["KnowledgeBaseError", "SCHEMA_VERSION", "FILES", "load", "capabilities", "symbol_prefixes",
           "releases", "symbols", "features", "error_signatures"]
