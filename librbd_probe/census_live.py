"""Start the census child (``_census_child.py``) and build the census section (I/O edge).

Only with ``--live --census``: read-only monitor commands, nothing written to the cluster.
"""
import os

from . import census

CENSUS_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_census_child.py")


def run_census(librbd, librados, options, python=None):
    """The JSON 'census' section for the cluster the live options point at."""
    from . import live, probe
    request = {"librbd": librbd, "librados": librados, "conf": options.conf, "client_id": options.client_id,
               "client_name": options.client_name, "keyring": options.keyring,
               "connect_timeout": options.timeout}
    answer, error = probe.run_child(request, timeout=options.timeout + 30, python=python, script=CENSUS_CHILD)
    if error:
        return {"error": error.get("message") or error.get("kind"), "groups": [], "clients": []}
    if answer.get("error"):
        return {"error": live.connection_message(answer["error"], options), "groups": [], "clients": []}
    return census.build(answer.get("census") or {})
