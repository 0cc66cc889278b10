"""The runtime probe: what the chosen librbd/librados say about themselves when loaded.

The parent never loads a Ceph library itself: ``probe_libraries`` sends the request to the
probe child (``children/_probe_child.py``) through ``children.run``, which bounds it in time
and turns a crash, hang, early exit or stray output into one error record (the shape is
documented in ``librbd_probe/children/__init__.py``).
"""
import os

from .model import Problem, RuntimeReport

DEFAULT_TIMEOUT = 15.0          # seconds (children.DEFAULT_TIMEOUT)


def probe_libraries(librbd, librados, symbols, feature_masks=(), config=None,
                    timeout=DEFAULT_TIMEOUT, python=None):
    """Load the chosen files in a child and return (answer, error).

    ``answer`` is None when nothing valid came back; with a load failure it still holds what
    the child learnt (``loaded`` False, ``loaded_objects``) and ``error`` says why.
    """
    from . import children      # posix_spawn, marshal: only when something is really loaded
    request = {"librbd": librbd, "librados": librados, "symbols": sorted(symbols),
               "feature_masks": list(feature_masks), "config": config}
    return children.run("probe", request, timeout=timeout, python=python)


def start_probe(librbd, librados, timeout=DEFAULT_TIMEOUT, python=None):
    """Start the probe child now, for these files only (it dlopens them while the caller reads
    the rest); ``finish_probe`` sends the whole request and returns what ``probe_libraries`` does.

    The returned ``children.Pending`` carries ``key``: what the child was started for (the
    files, timeout and interpreter), so a caller can tell whether it fits the probe it makes.
    """
    from . import children      # posix_spawn, marshal: only when something is really loaded
    files = {"librbd": librbd, "librados": librados}
    pending = children.take_prestarted("probe", timeout, python)
    if pending is None:
        pending = children.start("probe", files, timeout=timeout, python=python, preload=True)
    else:
        pending.send(files)
    pending.key = probe_key(librbd, librados, timeout, python)
    return pending


def prestart(timeout=DEFAULT_TIMEOUT, python=None):
    """Start the probe child's interpreter now, before anything is known (the command line,
    before it imports the scan); ``start_probe`` then hands it the files."""
    from . import children
    children.prestart("probe", timeout, python)


def probe_key(librbd, librados, timeout=DEFAULT_TIMEOUT, python=None):
    """What a started probe child was started for (``start_probe``'s ``key``)."""
    return (librbd, librados, timeout, python)


def finish_probe(pending, librbd, librados, symbols, feature_masks=(), config=None, meanwhile=None):
    """(answer, error) of a child from ``start_probe`` for the whole request.  ``meanwhile``
    (a callable) runs after the request is sent, while the child works: on a second core the
    two overlap (bench/bench_startup.py)."""
    request = {"librbd": librbd, "librados": librados, "symbols": sorted(symbols),
               "feature_masks": list(feature_masks), "config": config}
    if meanwhile is not None:
        pending.complete(request)
        meanwhile()
    return pending.finish(rest=request)


def _triple(value):
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


def runtime_report(answer, error):
    """The RuntimeReport of one probe child run (``answer``, ``error`` from probe_libraries)."""
    if answer is None:
        return RuntimeReport(attempted=True, loaded=False, error=error)
    return RuntimeReport(
        attempted=True, loaded=bool(answer.get("loaded")), error=error,
        rbd_version=_triple(answer.get("rbd_version")), rados_version=_triple(answer.get("rados_version")),
        ceph_version=answer.get("ceph_version"), ceph_release=answer.get("ceph_release"),
        loaded_objects=tuple(answer.get("loaded_objects") or ()), symbols=answer.get("symbols") or {},
        features_check=answer.get("features_check"), config=answer.get("config"))


def runtime_problems(report, libraries):
    """Problems of the runtime probe: it failed, or the loader mapped another copy than the
    static search chose (pure)."""
    problems = []
    if report.error:
        problems.append(Problem("runtime-failed", "error",
                                "runtime probe failed: " + report.error.get("message", "?"),
                                "see the static report; the library may be broken or hostile"))
    if not report.loaded:
        return problems
    loaded = {os.path.basename(p).split(".so")[0]: p for p in report.loaded_objects}
    for lib in libraries.values():
        if not lib.found or not lib.realpath:
            continue
        mapped = loaded.get(lib.name)
        if mapped and os.path.realpath(mapped) != lib.realpath:
            problems.append(Problem(
                "loader-disagrees." + lib.name, "warning",
                "the loader mapped {} but the static search chose {}".format(mapped, lib.realpath),
                "check LD_LIBRARY_PATH, LD_PRELOAD and RUNPATH of the requesting library"))
    return problems
