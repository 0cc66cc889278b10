"""JSON Schemas (draft 7) of every ``--json`` output, shipped as package data.

One file per output, ``<name>.schema.json`` (scan, live, diff, and those other parts add:
explain, consumers, fleet ...).  ``names()`` lists them and ``text(name)`` returns one, read
through the package's loader so it works from a wheel, an egg or a zipapp.  The schemas
describe; the outputs keep their own ``schema_version`` rules (adding a key keeps it).
"""
import os
import sys

from ..errors import UsageError

SUFFIX = ".schema.json"


def _loader_and_dir():
    package = sys.modules[__name__]
    return package.__spec__.loader, os.path.dirname(package.__file__)


def names():
    """Sorted schema names (file names without ``.schema.json``)."""
    loader, directory = _loader_and_dir()
    if os.path.isdir(directory):
        files = os.listdir(directory)
    else:                                    # inside a zip (zipapp, egg): ask the archive
        import zipfile
        archive = getattr(loader, "archive", None)
        if not archive or not directory.startswith(archive + os.sep):
            return []
        prefix = directory[len(archive) + 1:].replace(os.sep, "/") + "/"
        with zipfile.ZipFile(archive) as handle:
            files = [n[len(prefix):] for n in handle.namelist() if n.startswith(prefix)]
            files = [n for n in files if "/" not in n]
    return sorted(n[:-len(SUFFIX)] for n in files if n.endswith(SUFFIX))


def text(name):
    """The schema ``name`` as text; UsageError naming the known ones when it does not exist."""
    known = names()
    if name not in known:
        raise UsageError("no schema {!r} (known: {})".format(name, ", ".join(known)))
    loader, directory = _loader_and_dir()
    return loader.get_data(os.path.join(directory, name + SUFFIX)).decode("utf-8")
