"""The real loader's verdict on real consumer packages (tools/fetch_consumers.py) x real builds.

The oracle is glibc's own ld.so in trace mode (what ``ldd -r`` runs: LD_TRACE_LOADED_OBJECTS,
LD_BIND_NOW, LD_WARN) with ``--library-path`` on a directory that holds one build's
librbd.so.1, librados.so.2, libradosstriper.so.1 and libceph-common.so.2 (the corpus), so those
win over the host's (LD_LIBRARY_PATH comes before every RUNPATH except an RPATH).  Everything
else comes from this host, as it would for a user who swapped the Ceph libraries.

The list of consumers comes from outside the code under test too: scanelf (pax-utils) for
DT_NEEDED and ``nm -D --undefined-only`` for undefined rbd_/rados_/librbd::/librados:: names.

Run directly for the figures: ``python3 tests/groundtruth.py``.
"""
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONSUMERS = os.environ.get("LIBRBD_PROBE_CONSUMERS") or os.path.expanduser("~/.cache/librbd_probe/consumers")
CORPUS = os.environ.get("LIBRBD_PROBE_CORPUS") or os.path.expanduser("~/.cache/librbd_probe/corpus")
BUILDS = ("14.2.21", "16.2.15", "18.2.7", "20.2.4")
SUITES = ("bullseye", "bookworm", "trixie", "sid")
CEPH_SONAMES = ("librbd.so.1", "librados.so.2", "libradosstriper.so.1", "libceph-common.so.2", "libceph-common.so.0")
LDSO = "/lib64/ld-linux-x86-64.so.2"
UNDEF_PREFIXES = ("rbd_", "rados_", "_ZN6librbd", "_ZNK6librbd", "_ZN8librados", "_ZNK8librados")
_CEPH_MANGLED = re.compile(r"6librbd|8librados|4ceph|14rados_striper|15RadosStriper")


def suites():
    return [s for s in SUITES if os.path.exists(os.path.join(CONSUMERS, s, "MANIFEST.json"))]


def builds():
    return [b for b in BUILDS if os.path.exists(os.path.join(CORPUS, "debian", b + "_amd64", "MANIFEST.json"))
            and os.path.exists(os.path.join(CONSUMERS, "striper", b, "MANIFEST.json"))]


def suite_root(suite):
    return os.path.join(CONSUMERS, suite, "root")


def build_files(build):
    """soname -> file of one build (corpus root + libradosstriper1)."""
    root = os.path.join(CORPUS, "debian", build + "_amd64", "root")
    striper = os.path.join(CONSUMERS, "striper", build, "root")
    out = {}
    for pattern, base in (("librbd.so.1", root), ("librados.so.2", root), ("ceph/libceph-common.so.?", root),
                          ("libradosstriper.so.1", striper)):
        # libceph-common's soname is .so.0 in 14.x, .so.2 after: the file name says which
        found = sorted(glob.glob(os.path.join(base, "usr/lib/*/" + pattern)))
        if found:
            out[os.path.basename(found[0])] = os.path.realpath(found[0])
    return out


def library_dir(build, scratch):
    """A directory with the build's four libraries under their sonames (symlinks)."""
    directory = os.path.join(scratch, "lib-" + build)
    if not os.path.isdir(directory):
        os.makedirs(directory)
        for soname, path in build_files(build).items():
            os.symlink(path, os.path.join(directory, soname))
    return directory


def oracle_consumers(root):
    """ELF files under ``root`` that NEED a Ceph client library or have an undefined Ceph
    name: scanelf for the NEEDED lists, nm for the undefined names."""
    out = subprocess.run(["scanelf", "-R", "-q", "-F", "%F %n", root], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout
    found = set()
    elves = []
    for line in out.splitlines():
        path, _, needed = line.partition(" ")
        if not path:
            continue
        elves.append(path)
        if any(n in CEPH_SONAMES[:3] for n in needed.split(",")):
            found.add(path)
    for path in elves:
        if path in found:
            continue
        nm = subprocess.run(["nm", "-D", "--undefined-only", path], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout
        for line in nm.splitlines():
            name = line.split()[-1] if line.split() else ""
            if name.startswith(UNDEF_PREFIXES):
                found.add(path)
                break
    return sorted(found)


def ceph_domain(build_sets):
    """A name filter applied to BOTH sides: a name some Ceph library of some build exports,
    or one of the Ceph prefixes.  Failures outside it (libc versions, GUI libraries absent
    from this host) are the same for every build and say nothing about librbd."""
    exported = set()
    for files in build_sets:
        for path in files.values():
            out = subprocess.run(["nm", "-D", "--defined-only", path], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout
            for line in out.splitlines():
                parts = line.split()
                if parts:
                    exported.add(parts[-1].split("@")[0])

    def inside(name):
        return name in exported or name.startswith(("rbd_", "rados_")) or bool(_CEPH_MANGLED.search(name))
    return inside


_UNDEF = re.compile(r"^\s*undefined symbol: (\S+?)(?:, version (\S+))?\s+\((.+)\)\s*$")
_VERSION = re.compile(r"^\s*(?:\S+: )?(\S+): version `([^']+)' not found \(required by (.+)\)\s*$")
_NOTFOUND = re.compile(r"^\s*(\S+) => not found\s*$")
_MAPPED = re.compile(r"^\s*(\S+) => (/\S+) \(0x[0-9a-f]+\)\s*$")


def trace(consumer, libdir, timeout=60):
    """The loader's verdict: {"symbols": {(name, version)}, "versions": {(version, file)},
    "not_found": {name}} for failures of ``consumer`` itself."""
    env = {"PATH": "/usr/bin:/bin", "LD_TRACE_LOADED_OBJECTS": "1", "LD_BIND_NOW": "1", "LD_WARN": "1"}
    proc = subprocess.run([LDSO, "--library-path", libdir, consumer], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, universal_newlines=True, timeout=timeout,
                          check=False)
    symbols, versions, not_found = set(), set(), set()
    mapping = {}
    real = os.path.realpath(consumer)
    for line in proc.stdout.splitlines():
        match = _MAPPED.match(line)
        if match:
            mapping[match.group(1)] = os.path.realpath(match.group(2))
            continue
        match = _UNDEF.match(line)
        if match:
            name, version, where = match.groups()
            if os.path.realpath(where) == real:
                symbols.add((name, version))
            continue
        match = _VERSION.match(line)
        if match:
            filename, version, where = match.groups()
            if os.path.realpath(where) == real:
                versions.add((version, os.path.basename(filename)))
            continue
        match = _NOTFOUND.match(line)
        if match:
            not_found.add(match.group(1))
    return {"symbols": symbols, "versions": versions, "not_found": not_found, "mapping": mapping,
            "output": proc.stdout}


def restrict(verdict, inside):
    return (frozenset(s for s in verdict["symbols"] if inside(s[0])),
            frozenset(v for v in verdict["versions"] if v[1] in CEPH_SONAMES))


def tool_verdict(consumer, libdir, cache):
    """The code under test as a user runs it (consumers.check_path, what ``librbd-probe
    consumers`` prints), on the same setup: host search context with LD_LIBRARY_PATH=libdir."""
    from librbd_probe import consumers, loader, locate
    ctx = locate.search_context(None, {"LD_LIBRARY_PATH": libdir})
    result = consumers.check_path(consumer, "given", ctx, cache=cache)
    closure = loader.build_closure(consumer, ctx)
    # ld.so itself is never searched for (it is already there): left out on both sides
    mapping = {o.name: os.path.realpath(o.path) for o in closure.objects[1:] if not o.name.startswith("ld-linux")}
    items = list(result.missing) + list(result.other_failures)
    symbols = {(m["symbol"], m["version"]) for m in items if m["symbol"] is not None}
    symbols |= {(name, None) for name in result.host_symbols}
    versions = {(m["version"], m["file"]) for m in items if m["symbol"] is None}
    return {"symbols": symbols, "versions": versions, "not_found": {m["name"] for m in result.not_found},
            "mapping": mapping, "record": result}


def compare_all(scratch, limit=None, log=None):
    """[(suite, consumer, build, loader, tool)] over every pair."""
    sets = [build_files(b) for b in builds()]
    inside = ceph_domain(sets)
    rows = []
    cache = {}
    for suite in suites():
        for consumer in oracle_consumers(suite_root(suite))[:limit]:
            for build in builds():
                libdir = library_dir(build, scratch)
                truth = restrict(trace(consumer, libdir), inside)
                mine = restrict(tool_verdict(consumer, libdir, cache), inside)
                rows.append((suite, consumer, build, truth, mine))
                if log:
                    log(suite, consumer, build, truth, mine)
    return rows


def is_cxx(name):
    return name.startswith("_Z")


def figures(rows):
    """Agreement figures: pairs, and pairs with C / C++ failures per the loader."""
    agree = sum(1 for r in rows if r[3] == r[4])
    c_pairs = [r for r in rows if any(not is_cxx(s[0]) for s in r[3][0] | r[4][0]) or r[3][1] | r[4][1]]
    cxx_pairs = [r for r in rows if any(is_cxx(s[0]) for s in r[3][0] | r[4][0])]
    return {"pairs": len(rows), "agree": agree,
            "c_failing_pairs": len(c_pairs), "c_agree": sum(1 for r in c_pairs if r[3] == r[4]),
            "cxx_failing_pairs": len(cxx_pairs), "cxx_agree": sum(1 for r in cxx_pairs if r[3] == r[4]),
            "consumers": len({(r[0], r[1]) for r in rows}), "builds": len({r[2] for r in rows})}


if __name__ == "__main__":
    import tempfile
    sys.path.insert(0, os.path.dirname(HERE))
    scratch = tempfile.mkdtemp(prefix="h9-gt-")

    def show(suite, consumer, build, truth, mine):
        if truth != mine:
            print("DIFF", suite, consumer.split("/root/", 1)[-1], build)
            print("   loader-only", sorted(truth[0] - mine[0])[:5], sorted(truth[1] - mine[1]))
            print("   tool-only  ", sorted(mine[0] - truth[0])[:5], sorted(mine[1] - truth[1]))
            sys.stdout.flush()
    result = compare_all(scratch, limit=int(sys.argv[1]) if len(sys.argv) > 1 else None, log=show)
    print(json.dumps(figures(result), indent=1, sort_keys=True))
