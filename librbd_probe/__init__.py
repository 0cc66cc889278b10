"""librbd_probe: what can this host's Ceph RBD client actually do, and why did a binding fail?

Public API::

    import librbd_probe
    report = librbd_probe.capabilities()          # scans the host; immutable Report
    report.capability("create.format2").status    # "yes" | "no" | "unknown"
    report.to_dict()                              # exactly the CLI's --json output

Nothing is read or probed at import time.
"""
__version__ = "0.1.0"
__all__ = ["capabilities", "require", "RequirementError", "ProbeError", "ElfError", "LocateError", "UsageError",
           "KnowledgeBaseError", "ChildError", "__version__"]

from .errors import ChildError, ElfError, KnowledgeBaseError, LocateError, ProbeError, RequirementError, UsageError


def capabilities(librbd=None, librados=None, root=None, runtime=True, timeout=15.0):
    """Scan the host (or ``root``) and return an immutable ``Report``.

    ``librbd``/``librados`` override the loader's choice; ``root`` reads a build root or
    unpacked packages statically; ``runtime=False`` never loads a library.
    """
    from .scan import scan
    return scan(librbd=librbd, librados=librados, root=root, runtime=runtime, timeout=timeout)


def require(*required, **options):
    """Raise ``RequirementError`` unless every capability id in ``required`` is ``yes``.

    ``report=`` checks a Report already made; otherwise the host (or ``root=``, ``librbd=``,
    ``librados=``, ``runtime=``, ``timeout=``) is scanned as ``capabilities()`` does.  An
    unknown id raises ``UsageError``; ``unknown`` never passes.  Returns the report.
    """
    from .gate import check_known, unmet
    report = options.pop("report", None)
    check_known(required)
    if report is None:
        report = capabilities(**options)
    elif options:
        raise UsageError("require(): give report= or scan options, not both")
    caps = {c.id: {"status": c.status, "reason": c.reason} for c in report.capabilities}
    failures = unmet(caps, required)
    if failures:
        librbd = report.libraries.get("librbd")
        where = librbd.realpath if librbd is not None and librbd.found else "no librbd found"
        from .model import line_text        # the path may hold a newline: one line for a log
        raise RequirementError("librbd_probe: " + line_text("; ".join(
            "{} is {}{}".format(cap_id, status, " ({})".format(reason) if reason else "")
            for cap_id, status, reason in failures) + " [{}]".format(where)), failures)
    return report
