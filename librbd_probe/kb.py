"""Load and validate the knowledge base shipped in ``librbd_probe/data``.

The data files hold every Ceph fact this package uses; this module only reads them (through
the package's loader like ``pkgutil.get_data``, so it works from a zip or an egg) and checks
their shape.  A malformed file is a packaging bug and raises KnowledgeBaseError naming the
file.
"""
import functools
import json
import os
import sys

from .errors import KnowledgeBaseError

SCHEMA_VERSION = 1
FILES = ("capabilities.json", "releases.json", "librbd_symbols.json", "librados_symbols.json",
         "features.json", "errors.json")


@functools.lru_cache(maxsize=None)
def load(name):
    """Return the parsed data file ``name`` (cached; treat the result as read-only)."""
    try:
        raw = _get_data("data/" + name)
    except OSError as exc:
        raise KnowledgeBaseError("data/{}: cannot be read: {}".format(name, exc)) from exc
    if raw is None:
        raise KnowledgeBaseError("data/{}: not shipped with the package".format(name))
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise KnowledgeBaseError("data/{}: invalid JSON: {}".format(name, exc)) from exc
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise KnowledgeBaseError("data/{}: schema_version must be {}".format(name, SCHEMA_VERSION))
    return doc


def _get_data(resource):
    """``pkgutil.get_data(__package__, resource)``, done the same way without importing pkgutil.

    Asks the package's own loader (zip- and egg-safe, like pkgutil); pkgutil itself pulls in
    typing on Python 3.11+, several milliseconds on every command-line run.
    """
    package = sys.modules[__package__]
    loader = package.__spec__.loader
    path = os.path.join(os.path.dirname(package.__file__), *resource.split("/"))
    return loader.get_data(path)


def capabilities():
    """The capability definitions, in display order."""
    doc = load("capabilities.json")
    caps = doc.get("capabilities")
    if not isinstance(caps, list):
        raise KnowledgeBaseError("data/capabilities.json: 'capabilities' must be a list")
    for cap in caps:
        if not (isinstance(cap.get("id"), str) and isinstance(cap.get("requires"), list)
                and all(isinstance(alt, list) and alt for alt in cap["requires"])
                and cap.get("source")):
            raise KnowledgeBaseError("data/capabilities.json: malformed entry {!r}".format(cap.get("id")))
    return caps


def symbol_prefixes():
    """Name prefixes of the C functions this package reasons about."""
    return (b"rbd_", b"rados_")


def releases():
    """Release entries sorted by version (upstream Ceph versions)."""
    doc = load("releases.json")
    entries = doc.get("releases")
    if not isinstance(entries, list) or not all(isinstance(e.get("version"), str) for e in entries):
        raise KnowledgeBaseError("data/releases.json: 'releases' must be a list of entries with a version")
    return entries


def symbols(library):
    """The symbols document of 'librbd' or 'librados'."""
    doc = load("{}_symbols.json".format(library))
    if not isinstance(doc.get("symbols"), dict):
        raise KnowledgeBaseError("data/{}_symbols.json: 'symbols' must be an object".format(library))
    return doc


def features():
    """Feature bits 0-11 with name, mask, first release and class flags."""
    doc = load("features.json")
    entries = doc.get("features")
    if not isinstance(entries, list) or not all(isinstance(e.get("bit"), int) and e.get("name") for e in entries):
        raise KnowledgeBaseError("data/features.json: 'features' must be a list of bits with names")
    return entries


def error_signatures():
    """Error signatures for ``explain`` (data/errors.json)."""
    doc = load("errors.json")
    entries = doc.get("signatures")
    if not isinstance(entries, list):
        raise KnowledgeBaseError("data/errors.json: 'signatures' must be a list")
    return entries
