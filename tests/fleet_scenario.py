"""Fleet reports from REAL scans (no hand-written JSON), shared by the fleet tests and bench.

The article's scenario (shared/seed-article.md): three OpenStack controllers with the same
ceph.conf (``rbd default features = 61``, client.cinder); openstack-con01 and -con03 run the
installed Debian 16.2.15 client (runtime probe), openstack-con02 a 0.87-era client (the
stand-in built from v0.87's headers by tests/stubs.py).  ``corpus_hosts`` adds static scans
(--root) of the unpacked Debian 14.2.21, 18.2.7 and 20.2.4 packages.
"""
import json
import os

import corpus
import stubs
from conftest import INSTALLED, need
from librbd_probe import render, scan

CONF = ("[global]\nfsid = 00000000-0000-0000-0000-000000000000\nmon host = 10.0.0.1\n\n"
        "[client]\nrbd default features = 61\nkeyring = /etc/ceph/ceph.client.cinder.keyring\n")
ADDRESSES = {"openstack-con01": "10.0.0.11", "openstack-con02": "10.0.0.12", "openstack-con03": "10.0.0.13"}


def _write(directory, host, report):
    path = os.path.join(directory, host + ".json")
    with open(path, "w") as handle:
        handle.write(render.to_json(report.to_dict()))    # byte for byte what --json prints
    return path


def article_reports(directory):
    """Write the three controllers' reports (and _hosts.json) into ``directory``; return it."""
    for path in INSTALLED.values():
        need(os.path.exists(path), "{} not installed (apt-get install librbd1 librados2)".format(path))
    os.makedirs(directory, exist_ok=True)
    conf = os.path.join(directory, "ceph.conf.in")
    with open(conf, "w") as handle:
        handle.write(CONF)
    old_librbd, old_librados = stubs.build_release_standin("0.87")
    for host in ("openstack-con01", "openstack-con03"):
        _write(directory, host, scan.scan(conf=conf, client_id="cinder"))
    _write(directory, "openstack-con02", scan.scan(librbd=old_librbd, librados=old_librados, conf=conf,
                                                   client_id="cinder"))
    os.remove(conf)
    index = {"collect_schema": 1, "hosts": {
        host: {"ansible_host": host, "addresses": [address], "hostname": host, "rc": 0,
               "report": host + ".json", "failed": None, "conf": "/etc/ceph/ceph.conf", "client": "cinder"}
        for host, address in ADDRESSES.items()}}
    with open(os.path.join(directory, "_hosts.json"), "w") as handle:
        json.dump(index, handle, indent=2, sort_keys=True)
    return directory


def corpus_reports(directory, versions=("14.2.21", "18.2.7", "20.2.4")):
    """Static scans (--root) of the unpacked Debian packages, one report per release."""
    os.makedirs(directory, exist_ok=True)
    out = {}
    for version in versions:
        root = corpus.release_root(version)
        out[version] = _write(directory, "compute-" + version.replace(".", "-"), scan.scan(root=root))
    return out
