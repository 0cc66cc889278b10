#!/usr/bin/env python3
"""Download and unpack the real Debian packages of four Ceph releases (never installed).

The test suite and the knowledge-base tooling scan them statically.  A private apt
configuration (its own sources, lists and cache under the corpus directory) is used, so the
system's apt setup is never changed.  Idempotent: a complete corpus is a fast no-op.

Layout (corpus root: --corpus, else $LIBRBD_PROBE_CORPUS, else ~/.cache/librbd_probe/corpus):
  debian/<upstream>_<arch>/root/       the packages unpacked together, like a build root
  debian/<upstream>_<arch>/debs/       the .deb files
  debian/<upstream>_<arch>/MANIFEST.json
  debian-src/<upstream>/*.symbols      Debian's symbols files from ceph_<ver>.debian.tar.xz
  COMPLETE                             what is there
"""
import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

# suite -> upstream Ceph version Debian ships there (REAL-LIBRARIES.md section 2)
RELEASES = [("bullseye", "14.2.21"), ("bookworm", "16.2.15"), ("trixie", "18.2.7"), ("sid", "20.2.4")]
PACKAGES = ["librbd1", "librados2", "python3-rbd", "python3-rados", "librbd-dev", "librados-dev"]
FOREIGN = [("bookworm", "16.2.15", "arm64", ["librbd1", "librados2", "python3-rbd"])]
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def default_corpus():
    return os.environ.get("LIBRBD_PROBE_CORPUS") or os.path.expanduser("~/.cache/librbd_probe/corpus")


def log(message):
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def mirror_uri():
    """The Debian mirror the system uses (deb822 sources or a classic sources.list)."""
    for path in ["/etc/apt/sources.list.d/debian.sources"] + sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = open(path).read()
        except OSError:
            continue
        for block in text.split("\n\n"):
            if re.search(r"^Suites:.*\bbookworm\b", block, re.M) or re.search(r"^Suites:.*\b(bullseye|trixie|sid)\b", block, re.M):
                match = re.search(r"^URIs:\s*(\S+)", block, re.M)
                if match and "security" not in match.group(1):
                    return match.group(1).rstrip("/")
    try:
        for line in open("/etc/apt/sources.list"):
            match = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", line)
            if match and "security" not in match.group(1):
                return match.group(1).rstrip("/")
    except OSError:
        pass
    raise SystemExit("fetch_corpus: error: no Debian mirror found in /etc/apt/sources.list(.d)")


class PrivateApt(object):
    """apt-get/apt-cache with sources, lists and cache of their own."""

    def __init__(self, state_dir, uri):
        self.dir = state_dir
        for sub in ("lists/partial", "cache/archives/partial", "parts", "prefs"):
            os.makedirs(os.path.join(state_dir, sub), exist_ok=True)
        self.sources = os.path.join(state_dir, "sources.list")
        lines = []
        for suite, _ in RELEASES:
            lines.append("deb [arch=amd64,arm64 signed-by={}] {} {} main".format(KEYRING, uri, suite))
            lines.append("deb-src [signed-by={}] {} {} main".format(KEYRING, uri, suite))
        with open(self.sources, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def options(self):
        return ["-o", "Dir::Etc::SourceList=" + self.sources,
                "-o", "Dir::Etc::SourceParts=" + os.path.join(self.dir, "parts"),
                "-o", "Dir::Etc::Preferences=" + os.path.join(self.dir, "prefs", "none"),
                "-o", "Dir::Etc::PreferencesParts=" + os.path.join(self.dir, "prefs"),
                "-o", "Dir::State::Lists=" + os.path.join(self.dir, "lists"),
                "-o", "Dir::Cache=" + os.path.join(self.dir, "cache"),
                "-o", "Dir::State::status=/dev/null",
                "-o", "APT::Architecture=amd64",
                "-o", "APT::Architectures::=amd64", "-o", "APT::Architectures::=arm64",
                "-o", "Acquire::Languages=none", "-o", "Debug::NoLocking=1"]

    def run(self, tool, args, cwd=None):
        proc = subprocess.run([tool] + self.options() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, cwd=cwd)
        if proc.returncode != 0:
            raise SystemExit("fetch_corpus: error: {} {} failed: {}".format(
                tool, " ".join(args), (proc.stderr.strip().splitlines() or ["?"])[-1]))
        return proc.stdout

    def update(self):
        self.run("apt-get", ["update", "-qq"])

    def versions(self, package, arch):
        """Debian versions of package:arch known to the private lists (madison lines)."""
        out = self.run("apt-cache", ["madison", "{}:{}".format(package, arch)])
        found = []
        for line in out.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 3:
                found.append((parts[1], parts[2]))
        return found


def debian_version_for(apt, package, arch, upstream):
    for version, where in apt.versions(package, arch):
        if re.match(r"^(\d+:)?" + re.escape(upstream) + r"\b", version) and "Sources" not in where:
            return version
    return None


def fetch_release(apt, corpus, suite, upstream, arch, packages):
    dest = os.path.join(corpus, "debian", "{}_{}".format(upstream, arch))
    manifest_path = os.path.join(dest, "MANIFEST.json")
    if os.path.exists(manifest_path):
        return json.load(open(manifest_path))
    debs = os.path.join(dest, "debs")
    root = os.path.join(dest, "root")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(debs)
    os.makedirs(root)
    got = {}
    for package in packages:
        version = debian_version_for(apt, package, arch, upstream)
        if version is None:
            raise SystemExit("fetch_corpus: error: {}:{} {} not in the {} lists".format(package, arch, upstream, suite))
        apt.run("apt-get", ["download", "-qq", "{}:{}={}".format(package, arch, version)], cwd=debs)
        got[package] = version
    for deb in sorted(glob.glob(os.path.join(debs, "*.deb"))):
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    manifest = {"upstream": upstream, "suite": suite, "arch": arch, "packages": got,
                "debian_version": got.get("librbd1")}
    with open(manifest_path, "w") as handle:
        handle.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log("  {} {} {}: {}".format(suite, upstream, arch, ", ".join("{}={}".format(k, v) for k, v in sorted(got.items()))))
    return manifest


def fetch_symbols(apt, corpus, upstream, debian_version):
    dest = os.path.join(corpus, "debian-src", upstream)
    if glob.glob(os.path.join(dest, "*.symbols")) or os.path.exists(os.path.join(dest, "UNAVAILABLE")):
        return
    os.makedirs(dest, exist_ok=True)
    source_version = debian_version.split(":", 1)[-1]
    out = apt.run("apt-get", ["source", "--print-uris", "-qq", "ceph={}".format(source_version)])
    for line in out.splitlines():
        match = re.match(r"^'(\S+\.debian\.tar\.\w+)' (\S+) (\d+) (\w+):(\w+)", line)
        if not match:
            continue
        url, name, size, algo, digest = match.groups()
        target = os.path.join(dest, name)
        try:
            urllib.request.urlretrieve(url, target)
        except OSError as exc:
            # The mirror's Sources index can name a file its pool no longer has (sid moves
            # fast).  Record why, so tests that need it say so instead of passing silently.
            reason = "{}: {}".format(url, exc)
            with open(os.path.join(dest, "UNAVAILABLE"), "w") as handle:
                handle.write(reason + "\n")
            log("  symbols of {}: unavailable ({})".format(upstream, reason))
            return
        data = open(target, "rb").read()
        if len(data) != int(size) or hashlib.new(algo.lower().replace("-", ""), data).hexdigest() != digest:
            os.unlink(target)
            raise SystemExit("fetch_corpus: error: {} does not match its size/{} from the Sources index".format(name, algo))
        with tarfile.open(target) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.startswith("debian/") and member.name.endswith(".symbols"):
                    member.name = os.path.basename(member.name)
                    tar.extract(member, dest)
        os.unlink(target)
        return
    raise SystemExit("fetch_corpus: error: no debian.tar for ceph {} in the Sources index".format(source_version))


def wanted():
    out = [(suite, upstream, "amd64", PACKAGES) for suite, upstream in RELEASES]
    return out + [(suite, upstream, arch, pkgs) for suite, upstream, arch, pkgs in FOREIGN]


def complete(corpus):
    for _, upstream, arch, _ in wanted():
        if not os.path.exists(os.path.join(corpus, "debian", "{}_{}".format(upstream, arch), "MANIFEST.json")):
            return False
    for _, upstream in RELEASES:
        src = os.path.join(corpus, "debian-src", upstream)
        if not glob.glob(os.path.join(src, "*.symbols")) and not os.path.exists(os.path.join(src, "UNAVAILABLE")):
            return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fetch the real Debian Ceph client packages for static tests.")
    parser.add_argument("--corpus", default=default_corpus())
    parser.add_argument("--check", action="store_true", help="only report whether the corpus is complete")
    args = parser.parse_args(argv)
    corpus = os.path.abspath(args.corpus)
    if complete(corpus):
        log("corpus complete: {}".format(corpus))
        return 0
    if args.check:
        log("corpus incomplete: {} (run python3 tools/fetch_corpus.py)".format(corpus))
        return 1
    start = time.time()
    apt = PrivateApt(os.path.join(corpus, "apt"), mirror_uri())
    log("apt-get update of {} (private lists)".format(", ".join(s for s, _ in RELEASES)))
    apt.update()
    manifests = {}
    for suite, upstream, arch, packages in wanted():
        manifests[(upstream, arch)] = fetch_release(apt, corpus, suite, upstream, arch, packages)
    for _, upstream in RELEASES:
        fetch_symbols(apt, corpus, upstream, manifests[(upstream, "amd64")]["debian_version"])
    with open(os.path.join(corpus, "COMPLETE"), "w") as handle:
        handle.write("".join("{}_{}\n".format(u, a) for _, u, a, _ in wanted()))
    shutil.rmtree(os.path.join(corpus, "apt", "cache"), ignore_errors=True)
    log("corpus complete: {} in {:.0f} s".format(corpus, time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
