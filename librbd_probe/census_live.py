"""Start the census child (``children/_census_child.py``) and build the census section (I/O edge).

Only with ``--live --census``: read-only monitor commands, nothing written to the cluster.
"""
from . import census, children

# The census child's modules in load order (it reuses the live child's connection helpers).
# Registered here until children.CHILDREN lists it (requests-h12b.md).
children.CHILDREN.setdefault("census", ("_child_io", "_ctypes_api", "_live_child", "_census_child"))


def run_census(librbd, librados, options, python=None):
    """The JSON 'census' section for the cluster the live options point at."""
    from . import live
    request = {"librbd": librbd, "librados": librados, "conf": options.conf, "client_id": options.client_id,
               "client_name": options.client_name, "keyring": options.keyring,
               "connect_timeout": options.timeout}
    answer, error = children.run("census", request, timeout=options.timeout + 30, python=python)
    if error:
        return {"error": live.connection_message(error, options), "groups": [], "clients": []}
    return census.build((answer or {}).get("census") or {})
