"""Shared fixtures.  Real libraries first: the installed Debian librbd1/librados2 (16.2.15).

When a real binary a test needs is absent, the test fails under CI (CI=true) and skips with
the reason elsewhere: it never passes silently.
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

LIBDIR = "/usr/lib/x86_64-linux-gnu"
INSTALLED = {
    "librbd": os.path.join(LIBDIR, "librbd.so.1"),
    "librados": os.path.join(LIBDIR, "librados.so.2"),
    "libceph-common": os.path.join(LIBDIR, "ceph", "libceph-common.so.2"),
}


def need(condition, reason):
    """Fail under CI, skip elsewhere, when a real prerequisite is missing."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("prerequisite missing in CI: " + reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def installed():
    for path in INSTALLED.values():
        need(os.path.exists(path), "{} not installed (apt-get install librbd1 librados2)".format(path))
    return dict(INSTALLED)


def run_cli(args, env=None, timeout=120):
    """Run ``python -m librbd_probe`` in a subprocess (for behaviour that needs a real process)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = PROJECT + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "librbd_probe"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=full_env, timeout=timeout)
