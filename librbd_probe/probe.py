"""The runtime probe: what the chosen librbd/librados say about themselves when loaded.

The parent never loads a Ceph library itself: ``probe_libraries`` sends the request to the
probe child (``children/_probe_child.py``) through ``children.run``, which bounds it in time
and turns a crash, hang, early exit or stray output into one error record (the shape is
documented in ``librbd_probe/children/__init__.py``).
"""
from . import children

DEFAULT_TIMEOUT = children.DEFAULT_TIMEOUT


def probe_libraries(librbd, librados, symbols, feature_masks=(), config=None,
                    timeout=DEFAULT_TIMEOUT, python=None):
    """Load the chosen files in a child and return (answer, error).

    ``answer`` is None when nothing valid came back; with a load failure it still holds what
    the child learnt (``loaded`` False, ``loaded_objects``) and ``error`` says why.
    """
    request = {"librbd": librbd, "librados": librados, "symbols": sorted(symbols),
               "feature_masks": list(feature_masks), "config": config}
    return children.run("probe", request, timeout=timeout, python=python)
