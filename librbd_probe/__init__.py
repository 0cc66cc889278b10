"""librbd_probe: what can this host's Ceph RBD client actually do, and why did a binding fail?

Public API::

    import librbd_probe
    report = librbd_probe.capabilities()          # scans the host; immutable Report
    report.capability("create.format2").status    # "yes" | "no" | "unknown"
    report.to_dict()                              # exactly the CLI's --json output

Nothing is read or probed at import time.
"""
__version__ = "0.1.0"
__all__ = ["capabilities", "ProbeError", "ElfError", "LocateError", "UsageError",
           "KnowledgeBaseError", "ChildError", "__version__"]

from .errors import ChildError, ElfError, KnowledgeBaseError, LocateError, ProbeError, UsageError


def capabilities(librbd=None, librados=None, root=None, runtime=True, timeout=15.0):
    """Scan the host (or ``root``) and return an immutable ``Report``.

    ``librbd``/``librados`` override the loader's choice; ``root`` reads a build root or
    unpacked packages statically; ``runtime=False`` never loads a library.
    """
    from .scan import scan
    return scan(librbd=librbd, librados=librados, root=root, runtime=runtime, timeout=timeout)
