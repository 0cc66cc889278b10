#!/usr/bin/env python3
"""Download and unpack real Debian packages that USE librbd/librados (never installed).

The ground-truth test (tests/test_groundtruth.py) checks every ELF file of these packages
against the real librbd/librados builds of the corpus (tools/fetch_corpus.py) with the real
dynamic loader, and asserts that the tool's verdict is the loader's.  Same private apt
configuration as the corpus (its lists are reused when present), so the system's apt setup
is never changed.  Idempotent: a complete set is a fast no-op.

Layout (under --dest, else $LIBRBD_PROBE_CONSUMERS, else ~/.cache/librbd_probe/consumers):
  <suite>/root/            the consumer packages of one Debian suite unpacked together
  <suite>/MANIFEST.json    package -> Debian version
  striper/<upstream>/root  libradosstriper1 of each Ceph release (the corpus lacks it)
  COMPLETE
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetch_corpus  # noqa: E402  (same private apt setup; tools/ is not a package)

# Left out on purpose: ceph-test (hundreds of MB, its test programs add no new kind of case),
# samba-vfs-modules (its ceph module links libcephfs, not librbd/librados).
CEPH_OWN = ["rbd-nbd", "rbd-fuse", "rbd-mirror", "ceph-common"]
THIRD_PARTY = ["qemu-block-extra", "libvirt-daemon-driver-storage-rbd", "fio", "gfio", "tcmu-runner",
               "tgt-rbd", "uwsgi-plugin-rados", "nfs-ganesha-rados-grace", "ctdb", "libxrdcephposix0"]
SUITES = {
    "bullseye": CEPH_OWN + THIRD_PARTY,
    "bookworm": CEPH_OWN + THIRD_PARTY,
    "trixie": CEPH_OWN + ["qemu-block-extra", "fio", "tgt-rbd", "libxrdcephposix0", "uwsgi-plugin-rados"],
    "sid": CEPH_OWN,
}


def default_dest():
    return os.environ.get("LIBRBD_PROBE_CONSUMERS") or os.path.expanduser("~/.cache/librbd_probe/consumers")


def suite_version(apt, package, suite):
    for version, where in apt.versions(package, "amd64"):
        if " {}/".format(suite) in where:
            return version
    return None


def fetch_set(apt, dest, packages, pick):
    """Download ``packages`` (version chosen by ``pick(package)``) into dest/debs, unpack into
    dest/root, write dest/MANIFEST.json.  A missing package is recorded, not fatal."""
    manifest_path = os.path.join(dest, "MANIFEST.json")
    if os.path.exists(manifest_path):
        return False
    shutil.rmtree(dest, ignore_errors=True)
    debs = os.path.join(dest, "debs")
    root = os.path.join(dest, "root")
    os.makedirs(debs)
    os.makedirs(root)
    got, absent = {}, []
    for package in packages:
        version = pick(package)
        if version is None:
            absent.append(package)
            continue
        apt.run("apt-get", ["download", "-qq", "{}:amd64={}".format(package, version)], cwd=debs)
        got[package] = version
    for deb in sorted(glob.glob(os.path.join(debs, "*.deb"))):
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    shutil.rmtree(debs)
    with open(manifest_path, "w") as handle:
        handle.write(json.dumps({"packages": got, "absent": absent}, indent=2, sort_keys=True) + "\n")
    return True


def complete(dest):
    wanted = [os.path.join(dest, s, "MANIFEST.json") for s in SUITES]
    wanted += [os.path.join(dest, "striper", u, "MANIFEST.json") for _, u in fetch_corpus.RELEASES]
    return all(os.path.exists(p) for p in wanted)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fetch real Debian packages that use librbd/librados.")
    parser.add_argument("--dest", default=default_dest())
    parser.add_argument("--corpus", default=fetch_corpus.default_corpus())
    parser.add_argument("--check", action="store_true", help="only report whether the set is complete")
    args = parser.parse_args(argv)
    dest = os.path.abspath(args.dest)
    if complete(dest):
        fetch_corpus.log("consumers complete: {}".format(dest))
        return 0
    if args.check:
        fetch_corpus.log("consumers incomplete: {} (run python3 tools/fetch_consumers.py)".format(dest))
        return 1
    start = time.time()
    apt = fetch_corpus.PrivateApt(os.path.join(os.path.abspath(args.corpus), "apt"), fetch_corpus.mirror_uri())
    if not glob.glob(os.path.join(apt.dir, "lists", "*Packages*")):
        fetch_corpus.log("apt-get update (private lists)")
        apt.update()
    for suite, packages in sorted(SUITES.items()):
        if fetch_set(apt, os.path.join(dest, suite), packages, lambda p, s=suite: suite_version(apt, p, s)):
            fetch_corpus.log("  {}: {}".format(suite, ", ".join(packages)))
    for suite, upstream in fetch_corpus.RELEASES:
        pick = lambda p, u=upstream: fetch_corpus.debian_version_for(apt, p, "amd64", u)  # noqa: E731
        if fetch_set(apt, os.path.join(dest, "striper", upstream), ["libradosstriper1"], pick):
            fetch_corpus.log("  libradosstriper1 {}".format(upstream))
    with open(os.path.join(dest, "COMPLETE"), "w") as handle:
        handle.write("".join(s + "\n" for s in sorted(SUITES)))
    shutil.rmtree(os.path.join(apt.dir, "cache"), ignore_errors=True)
    fetch_corpus.log("consumers complete: {} in {:.0f} s".format(dest, time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
