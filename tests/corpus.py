"""The corpus of real Debian Ceph packages (tools/fetch_corpus.py), for static tests.

Missing corpus: under CI (CI=true) the test fails loudly, elsewhere it skips with the
command that fetches it.  Never a silent pass.
"""
import glob
import json
import os

import pytest

CORPUS = os.environ.get("LIBRBD_PROBE_CORPUS") or os.path.expanduser("~/.cache/librbd_probe/corpus")
RELEASES = ("14.2.21", "16.2.15", "18.2.7", "20.2.4")
FOREIGN = (("16.2.15", "arm64"),)
_FILES = {"librbd": "usr/lib/*/librbd.so.1", "librados": "usr/lib/*/librados.so.2",
          "libceph-common": "usr/lib/*/ceph/libceph-common.so.*",
          "rbd-binding": "usr/lib/python3/dist-packages/rbd.cpython-*.so",
          "rados-binding": "usr/lib/python3/dist-packages/rados.cpython-*.so"}


def _missing(what):
    message = "{} (run: python3 tools/fetch_corpus.py)".format(what)
    if os.environ.get("CI") == "true":
        pytest.fail("corpus incomplete in CI: " + message)
    pytest.skip(message)


def release_root(version, arch="amd64"):
    root = os.path.join(CORPUS, "debian", "{}_{}".format(version, arch), "root")
    if not os.path.exists(os.path.join(os.path.dirname(root), "MANIFEST.json")):
        _missing("no unpacked Debian {} {} under {}".format(version, arch, CORPUS))
    return root


def library(version, name, arch="amd64"):
    root = release_root(version, arch)
    found = sorted(glob.glob(os.path.join(root, _FILES[name])))
    if not found:
        _missing("{} not in Debian {} {}".format(name, version, arch))
    return found[0]


def manifest(version, arch="amd64"):
    release_root(version, arch)
    with open(os.path.join(CORPUS, "debian", "{}_{}".format(version, arch), "MANIFEST.json")) as handle:
        return json.load(handle)


def symbols_file(version, package):
    path = os.path.join(CORPUS, "debian-src", version, package + ".symbols")
    if not os.path.exists(path):
        _missing("Debian's {}.symbols for {}".format(package, version))
    return path
