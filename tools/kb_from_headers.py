#!/usr/bin/env python3
"""Regenerate the release knowledge base from upstream Ceph sources and Debian packages.

Reads, at each release's tag or release commit in public git mirrors of Ceph:
  src/include/rbd/librbd.h      LIBRBD_VER_*, the rbd_* C functions
  src/include/rados/librados.h  LIBRADOS_VER_*, the rados_* C functions
  src/include/rbd/features.h    RBD_FEATURE_* and RBD_FEATURES_ALL (older: src/include/rbd_types.h)
  src/common/config_opts.h, src/common/options.cc, src/common/options/rbd.yaml.in
                                rbd_default_format / rbd_default_features defaults
  src/librbd/**                 the format-1 refusal ("Format 1 image creation unsupported")
  src/CMakeLists.txt            libceph-common's SOVERSION
and, for the releases Debian ships, the same headers from the unpacked librbd-dev /
librados-dev packages of the corpus (tools/fetch_corpus.py), cross-checked against the
functions their librbd.so.1 / librados.so.2 really export.

Usage: python3 tools/kb_from_headers.py --mirror XinzeChi/ceph=DIR --mirror zenglg/ceph-ci=DIR \
         --mirror A10506/ceph-ci=DIR --mirror denise813/storage-public-ceph=DIR [--corpus DIR] [--check]
Mirrors are bare git directories (the search tool's fetch); nothing of them is committed.
Writes librbd_probe/knowledge/data/{releases,librbd_symbols,librados_symbols}.json; with --check,
compares instead and exits 1 on any difference.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "librbd_probe", "knowledge", "data")
sys.path.insert(0, os.path.dirname(HERE))

# (version, codename, mirror, ref) -- ref is a tag, or "commit:<subject>" for mirrors that
# kept the release commit (subject "X.Y.Z") but not the tag.
UPSTREAM = [
    ("0.48", "argonaut", "XinzeChi/ceph", "v0.48argonaut"),
    ("0.56", "bobtail", "XinzeChi/ceph", "v0.56"),
    ("0.56.7", "bobtail", "XinzeChi/ceph", "v0.56.7"),
    ("0.61", "cuttlefish", "XinzeChi/ceph", "v0.61"),
    ("0.61.3", "cuttlefish", "XinzeChi/ceph", "v0.61.3"),
    ("0.67", "dumpling", "XinzeChi/ceph", "v0.67"),
    ("0.72", "emperor", "XinzeChi/ceph", "v0.72"),
    ("0.80", "firefly", "XinzeChi/ceph", "v0.80"),
    ("0.87", "giant", "XinzeChi/ceph", "v0.87"),
    ("0.94", "hammer", "XinzeChi/ceph", "v0.94"),
    ("9.2.0", "infernalis", "zenglg/ceph-ci", "commit:9.2.0"),
    ("10.2.0", "jewel", "zenglg/ceph-ci", "commit:10.2.0"),
    ("11.2.0", "kraken", "zenglg/ceph-ci", "commit:11.2.0"),
    ("12.2.0", "luminous", "A10506/ceph-ci", "commit:12.2.0"),
    ("13.2.0", "mimic", "A10506/ceph-ci", "commit:13.2.0"),
    ("14.2.0", "nautilus", "denise813/storage-public-ceph", "commit:14.2.0"),
    ("15.2.0", "octopus", "denise813/storage-public-ceph", "commit:15.2.0"),
]
# Point releases reachable in the mirrors, scanned for C API changes inside a series.
POINT_SCAN = {
    "XinzeChi/ceph": ["v0.48.{}argonaut".format(i) for i in (1, 2, 3)]
    + ["v0.56.{}".format(i) for i in range(1, 8)] + ["v0.61.{}".format(i) for i in range(1, 10)]
    + ["v0.67.{}".format(i) for i in range(1, 12)] + ["v0.72.{}".format(i) for i in (1, 2)]
    + ["v0.80.{}".format(i) for i in range(1, 11)] + ["v0.87.{}".format(i) for i in (1, 2)]
    + ["v0.94.{}".format(i) for i in range(1, 4)],
    "zenglg/ceph-ci": ["commit:0.94.{}".format(i) for i in range(4, 10)] + ["commit:9.2.1"]
    + ["commit:10.2.{}".format(i) for i in range(1, 10)],
    "A10506/ceph-ci": ["commit:12.2.{}".format(i) for i in range(1, 10)] + ["commit:13.2.{}".format(i) for i in (1, 2)],
    "denise813/storage-public-ceph": ["commit:15.2.{}".format(i) for i in range(1, 8)],
}
# Releases Debian ships (tools/fetch_corpus.py): the headers of librbd-dev/librados-dev.
DEBIAN = [("14.2.21", "nautilus"), ("16.2.15", "pacific"), ("18.2.7", "reef"), ("20.2.4", "tentacle")]
# Named releases with no reachable source here: listed, every value unverified.
UNREACHABLE = [("16.2.0", "pacific"), ("17.2.0", "quincy"), ("18.2.0", "reef"), ("19.2.0", "squid"),
               ("20.2.0", "tentacle")]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def c_functions(text, prefix):
    """Names of C functions declared in a header (prototypes, not typedefs or macros)."""
    body = strip_comments(text)
    body = re.sub(r"^\s*#.*?(?<!\\)$", " ", body, flags=re.M | re.S)
    names = set()
    for statement in body.split(";"):
        if "typedef" in statement:
            continue
        match = re.search(r"\b(" + prefix + r"\w+)\s*\(", statement)
        if match and "(*" not in statement[:match.start()]:
            names.add(match.group(1))
    return names


def macros(text):
    out = {}
    joined = strip_comments(text).replace("\\\n", " ")
    for match in re.finditer(r"^\s*#\s*define\s+(\w+)[ \t]+([^\n]+)$", joined, flags=re.M):
        out[match.group(1)] = match.group(2).strip()
    return out


def evaluate(name, defs, depth=0):
    if depth > 20 or name not in defs:
        return None
    expr = defs[name]
    expr = re.sub(r"(\d+)U?LL?\b", r"\1", expr)
    def sub(match):
        value = evaluate(match.group(0), defs, depth + 1)
        return str(value) if value is not None else match.group(0)
    expr = re.sub(r"\b[A-Z_][A-Z0-9_]+\b", sub, expr)
    if not re.match(r"^[\d\s()<>|&~+x]+$", expr):
        return None
    try:
        return int(eval(expr, {"__builtins__": {}}))  # digits and bit operators only (checked above)
    except Exception:  # noqa: BLE001 - an expression we cannot evaluate is simply unknown
        return None


class Source(object):
    """Files of one release: a git ref in a mirror, or an unpacked Debian root."""

    def __init__(self, label, git_dir=None, ref=None, root=None):
        self.label, self.git_dir, self.ref, self.root = label, git_dir, ref, root

    def read(self, path):
        if self.root:
            for candidate in [os.path.join(self.root, "usr/include", path.split("src/include/", 1)[-1])]:
                if os.path.exists(candidate):
                    return open(candidate, encoding="utf-8", errors="replace").read()
            return None
        proc = subprocess.run(["git", "-C", self.git_dir, "show", "{}:{}".format(self.ref, path)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else None

    def grep(self, pattern, paths):
        if self.root:
            return []
        proc = subprocess.run(["git", "-C", self.git_dir, "grep", "-n", "-E", pattern, self.ref, "--"] + paths,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return proc.stdout.decode("utf-8", "replace").splitlines()

    def cite(self, path):
        if self.root:
            return "{}: usr/include/{} (librbd-dev/librados-dev)".format(self.label, path.split("src/include/", 1)[-1])
        return "{}: {}".format(self.label, path)


def resolve(git_dir, ref):
    if not ref.startswith("commit:"):
        return ref
    subject = ref.split(":", 1)[1]
    out = subprocess.run(["git", "-C", git_dir, "log", "--all", "--format=%H %s"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    # the oldest commit with that subject is the release commit (later ones are merges of it)
    hits = [line.split(" ", 1)[0] for line in out.splitlines() if line.split(" ", 1)[-1].strip() in (subject, "v" + subject)]
    return hits[-1] if hits else None


def fact(value, source):
    return {"value": value, "source": source}


def unverified(reason):
    return {"value": None, "unverified": reason}


def version_triple(text, prefix, source, path):
    defs = macros(text or "")
    try:
        return fact([int(defs[prefix + "_VER_MAJOR"]), int(defs[prefix + "_VER_MINOR"]),
                     int(defs[prefix + "_VER_EXTRA"])], source.cite(path))
    except (KeyError, ValueError):
        return unverified("{}_VER_* not found in {}".format(prefix, source.cite(path)))


def features_all(source):
    for path in ("src/include/rbd/features.h", "src/include/rbd_types.h"):
        text = source.read(path)
        if text and "RBD_FEATURES_ALL" in text:
            value = evaluate("RBD_FEATURES_ALL", macros(text))
            if value is not None:
                return fact(value, source.cite(path)), macros(text)
    return unverified("RBD_FEATURES_ALL not found at " + source.label), {}


def config_defaults(source):
    """(default_format, default_features, names accepted) from whichever config file exists."""
    text = source.read("src/common/config_opts.h")
    if text:
        path = "src/common/config_opts.h"
        fmt = re.search(r"OPTION\(rbd_default_format,\s*\w+,\s*(\d+)\)", text)
        feat = re.search(r"OPTION\(rbd_default_features,\s*(\w+),\s*([^)]*)\)", text)
        return (fact(int(fmt.group(1)), source.cite(path)) if fmt else
                fact(1, source.cite(path) + " (no rbd_default_format option: rbd_create always makes format 1)"),
                _features_default(feat.group(2) if feat else None, source, path),
                fact(bool(feat and feat.group(1) == "OPT_STR"), source.cite(path)))
    for path in ("src/common/options.cc", "src/common/options/rbd.yaml.in"):
        text = source.read(path)
        if not text or "rbd_default_features" not in text:
            continue
        if path.endswith(".cc"):
            fmt = re.search(r'Option\("rbd_default_format".*?set_default\((\d+)\)', text, re.S)
            feat = re.search(r'Option\("rbd_default_features", Option::TYPE_(\w+).*?set_default\(([^)]*)\)', text, re.S)
            kind = feat.group(1) if feat else None
        else:
            fmt = re.search(r"name: rbd_default_format\n(?:  .*\n)*?  default: (\d+)", text)
            feat = re.search(r"name: rbd_default_features\n((?:  .*\n)*?)", text)
            kind = None
            if feat:
                block = feat.group(1)
                feat = re.search(r"  default: ([^\n]+)", block)
                kind = "STR" if re.search(r"type: str", block) else "UINT"
                if feat:
                    feat = re.match(r"()(.*)", feat.group(1))
        return (fact(int(fmt.group(1)), source.cite(path)) if fmt else unverified("rbd_default_format not parsed in " + source.cite(path)),
                _features_default(feat.group(2) if feat else None, source, path),
                fact(kind == "STR", source.cite(path)) if kind else unverified("option type not parsed"))
    return (unverified("no configuration source at " + source.label),) * 3


# Option defaults that only a loaded library answers (rados_create + rados_conf_get with an empty
# ceph.conf, no connection): what the runtime probe of this tool read on the Debian build installed
# on the machine where the knowledge base was made.  An integer default is compiled into code, so
# .rodata does not carry it.  Re-check: python3 -m librbd_probe --conf /dev/null --json (config).
DEBIAN_RUNTIME = {
    "16.2.15": {"default_format": (2, "runtime probe of the installed Debian 16.2.15+ds-0+deb12u2 librados2: "
                                      "rados_conf_get(\"rbd_default_format\") = \"2\" with an empty ceph.conf "
                                      "(python3 -m librbd_probe --conf /dev/null)")},
}
_DEFAULT_FEATURES_RE = re.compile(rb"\x00((?:layering|striping|exclusive-lock|object-map|fast-diff|deep-flatten|journaling)"
                                  rb"(?:,(?:layering|striping|exclusive-lock|object-map|fast-diff|deep-flatten|journaling))+)\x00")


def debian_config_defaults(version, source):
    """(default_format, default_features, names accepted) of a Debian build, from its binaries.

    rbd_default_features' default is a string in libceph-common's .rodata (options.cc
    ``set_default("layering,...")`` since luminous, rbd.yaml.in since quincy): the one
    comma-separated feature-name list there.  default_format is an integer compiled into code:
    known only where the runtime probe read it (DEBIAN_RUNTIME)."""
    from librbd_probe import elf
    paths = sorted(glob.glob(os.path.join(source.root, "usr/lib/*/ceph/libceph-common.so.*")))
    feat = names = unverified("no libceph-common in the unpacked packages")
    if paths:
        rel = "usr/lib/{}/ceph/{}".format(os.path.basename(os.path.dirname(os.path.dirname(paths[0]))),
                                          os.path.basename(paths[0]))
        found = sorted(set(elf.find_strings(os.path.realpath(paths[0]), _DEFAULT_FEATURES_RE, limit=8)))
        if len(found) == 1:
            where = ("{} {} {} .rodata: \"{}\", the only feature-name list there (rbd_default_features' "
                     "set_default in every upstream options.cc read, 12.2.0-15.2.x)".format(
                         source.label, _kn().packages("libceph-common")["debian"][0], rel, found[0]))
            feat = fact(found[0], where)
            names = fact(True, where + ": a name list, so the option is a string that takes names")
        else:
            feat = names = unverified("{} feature-name lists in {} .rodata: {}".format(len(found), rel, found))
    runtime = DEBIAN_RUNTIME.get(version, {})
    fmt = (fact(*runtime["default_format"]) if "default_format" in runtime else
           unverified("an integer default compiled into code (not in .rodata); no runtime probe of this build here"))
    return fmt, feat, names


def _features_default(raw, source, path):
    if raw is None:
        return unverified("rbd_default_features not found in " + source.cite(path))
    raw = raw.strip().strip('"')
    if re.match(r"^\d+$", raw):
        return fact(int(raw), source.cite(path))
    return fact(raw, source.cite(path))


def format1_policy(source):
    if source.root:
        # The binary carries the refusal's log text and the environment variable's name.
        from librbd_probe import elf
        paths = glob.glob(os.path.join(source.root, "usr/lib/*", _kn().soname("librbd")))
        if not paths:
            return unverified("no librbd.so.1 in the unpacked packages")
        found = elf.find_strings(os.path.realpath(paths[0]), re.compile(
            rb"(Format 1 image creation unsupported|RBD_FORCE_ALLOW_V1)"), limit=4)
        if "Format 1 image creation unsupported" in found:
            return fact("refused-unless-RBD_FORCE_ALLOW_V1" if "RBD_FORCE_ALLOW_V1" in found else "refused",
                        "{} librbd.so.1 .rodata: {}".format(source.label, ", ".join(sorted(found))))
        return unverified("the refusal's text is not in {} librbd.so.1 .rodata".format(source.label))
    hits = source.grep("Format 1 image creation unsupported", ["src/librbd"])
    env = source.grep("RBD_FORCE_ALLOW_V1", ["src/librbd"])
    if hits:
        where = hits[0].split(":", 2)[1]
        return fact("refused-unless-RBD_FORCE_ALLOW_V1" if env else "refused", source.cite(where))
    return fact("allowed", source.cite("src/librbd (no 'Format 1 image creation unsupported')"))


def common_soname(source):
    if source.root:
        found = sorted(glob.glob(os.path.join(source.root, "usr/lib/*/ceph/libceph-common.so.*")))
        if found:
            return fact(os.path.basename(found[0]), "Debian package {} {}".format(
                _kn().packages("libceph-common")["debian"][0], source.label))
        return unverified("libceph-common not in the unpacked packages")
    text = source.read("src/CMakeLists.txt") or ""
    match = re.search(r"set_target_properties\(ceph-common PROPERTIES\s+SOVERSION (\d+)", text)
    if match:
        return fact("libceph-common.so." + match.group(1), source.cite("src/CMakeLists.txt"))
    if "add_library(ceph-common SHARED" in text:
        return unverified("ceph-common is shared but SOVERSION not parsed in " + source.cite("src/CMakeLists.txt"))
    return fact(None, source.cite("src/CMakeLists.txt" if text else "src/Makefile.am") + " (no shared libceph-common)")


def exported(root, soname, prefix):
    from librbd_probe import elf
    paths = glob.glob(os.path.join(root, "usr/lib/*", soname))
    if not paths:
        return None
    info = elf.read_elf(os.path.realpath(paths[0]), name_filter=(prefix.encode(),))
    return {s.name for s in info.symbols if s.defined and s.type == "FUNC"}


def scan_release(version, codename, source, is_debian=False):
    rbd_h = source.read("src/include/rbd/librbd.h")
    rados_h = source.read("src/include/rados/librados.h")
    feats, _ = features_all(source)
    fmt, feat_default, names_ok = config_defaults(source) if not is_debian else debian_config_defaults(version, source)
    entry = {
        "version": version, "codename": codename, "tag": "v" + version, "ref": source.label,
        "source_kind": "debian-package" if is_debian else "upstream-source",
        "rbd_version": version_triple(rbd_h, "LIBRBD", source, "src/include/rbd/librbd.h"),
        "rados_version": version_triple(rados_h, "LIBRADOS", source, "src/include/rados/librados.h"),
        "rbd_features_all": feats,
        "default_format": fmt, "default_features": feat_default, "feature_names_accepted": names_ok,
        "format1_create": format1_policy(source),
        "rbd_create_format": (fact("default-format" if fmt.get("value") is not None and "no rbd_default_format" not in fmt.get("source", "") else "always-1", fmt.get("source"))
                              if fmt.get("value") is not None else unverified("depends on rbd_default_format, not verified here")),
        "libceph_common_soname": common_soname(source),
    }
    return entry, c_functions(rbd_h or "", "rbd_"), c_functions(rados_h or "", "rados_")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", action="append", default=[], metavar="OWNER/NAME=DIR")
    parser.add_argument("--corpus", default=os.environ.get("LIBRBD_PROBE_CORPUS") or os.path.expanduser("~/.cache/librbd_probe/corpus"))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    mirrors = dict(item.split("=", 1) for item in args.mirror)
    releases, rbd_sets, rados_sets = [], {}, {}

    def add(version, codename, source, is_debian=False):
        entry, rbd, rados = scan_release(version, codename, source, is_debian)
        if is_debian:
            manifest = json.load(open(os.path.join(os.path.dirname(source.root), "MANIFEST.json")))
            entry["debian_version"] = manifest["packages"].get(_kn().packages("librbd")["debian"][0])
            rbd_exp = exported(source.root, _kn().soname("librbd"), "rbd_")
            rados_exp = exported(source.root, _kn().soname("librados"), "rados_")
            entry["header_vs_exports"] = {
                "librbd_declared_not_exported": sorted(rbd - rbd_exp), "librbd_exported_not_declared": sorted(rbd_exp - rbd),
                "librados_declared_not_exported": sorted(rados - rados_exp), "librados_exported_not_declared": sorted(rados_exp - rados)}
            # what a caller can bind to is what the library exports
            rbd, rados = rbd_exp, rados_exp
        releases.append(entry)
        rbd_sets[version], rados_sets[version] = rbd, rados
        print("{:8} {:10} rbd_version={} librbd {} functions, librados {}".format(
            version, codename, entry["rbd_version"].get("value"), len(rbd), len(rados)))

    for version, codename, mirror, ref in UPSTREAM:
        if mirror not in mirrors:
            print("{}: mirror {} not given: skipped".format(version, mirror))
            continue
        sha = resolve(mirrors[mirror], ref)
        if not sha:
            print("{}: {} not in {}".format(version, ref, mirror))
            continue
        label = "{} {}".format(mirror, ref if not ref.startswith("commit:") else "release commit {} {}".format(ref[7:], sha[:12]))
        add(version, codename, Source(label, mirrors[mirror], sha))
    # API changes at point releases within a series
    point_changes = []
    for mirror, refs in POINT_SCAN.items():
        if mirror not in mirrors:
            continue
        for ref in refs:
            sha = resolve(mirrors[mirror], ref)
            if not sha:
                continue
            version = re.sub(r"^(commit:|v)", "", ref).replace("argonaut", "")
            source = Source("{} {}".format(mirror, ref if not ref.startswith("commit:") else "release commit {} {}".format(ref[7:], sha[:12])), mirrors[mirror], sha)
            rbd = c_functions(source.read("src/include/rbd/librbd.h") or "", "rbd_")
            rados = c_functions(source.read("src/include/rados/librados.h") or "", "rados_")
            base = max((r for r in rbd_sets if _key(r) <= _key(version) and _key(r)[:2] == _key(version)[:2]), key=_key, default=None)
            base_entry = releases[[r["version"] for r in releases].index(base)] if base else None
            triples = (version_triple(source.read("src/include/rbd/librbd.h"), "LIBRBD", source, "src/include/rbd/librbd.h").get("value"),
                       version_triple(source.read("src/include/rados/librados.h"), "LIBRADOS", source, "src/include/rados/librados.h").get("value"))
            # an entry where the C API or a version triple changes: rados_version() 0.48.0 of 0.48.1-0.48.3
            # tells them from 0.48 (0.44.0), whose functions they share
            if base and (rbd != rbd_sets[base] or rados != rados_sets[base]
                         or triples != (base_entry["rbd_version"].get("value"), base_entry["rados_version"].get("value"))):
                point_changes.append(version)
                add(version, releases[[r["version"] for r in releases].index(base)]["codename"], source)
    for version, codename in DEBIAN:
        root = os.path.join(args.corpus, "debian", "{}_amd64".format(version), "root")
        if not os.path.exists(os.path.join(os.path.dirname(root), "MANIFEST.json")):
            print("{}: corpus missing ({}): run tools/fetch_corpus.py".format(version, root))
            continue
        add(version, codename, Source("Debian " + version, root=root), is_debian=True)
    for version, codename in UNREACHABLE:
        if version in rbd_sets:
            continue
        releases.append({"version": version, "codename": codename, "tag": "v" + version, "source_kind": "unverified",
                         "unverified": "no source for this release was reachable here (no Debian package, no mirror with its tag)"})
    releases.sort(key=lambda r: _key(r["version"]))
    from librbd_probe.identify import expected_functions, set_digest
    symbol_docs = {"librbd": symbols_doc("librbd", rbd_sets, releases),
                   "librados": symbols_doc("librados", rados_sets, releases)}
    for rel in releases:
        if rel["version"] not in rbd_sets:
            continue
        for library, sets in (("librbd", rbd_sets), ("librados", rados_sets)):
            derived = expected_functions(symbol_docs[library], rel["version"])
            # derived: lets identification skip releases that cannot match (tests/test_kb.py checks it)
            rel[library + "_digest"] = set_digest(derived)
            if derived != sets[rel["version"]]:
                # first/removed/backports cannot express a function that disappears and comes back
                print("{} {}: the symbols file cannot express: {}".format(
                    rel["version"], library, sorted(derived ^ sets[rel["version"]])))
    docs = {
        "releases.json": {"schema_version": 1, "releases": releases,
                          "note": "Upstream Ceph versions. Each value carries its source (tag/commit and file, or the Debian package). "
                                  "Values that could not be verified are null with an 'unverified' reason."},
        "features.json": features_doc(args.corpus, mirrors),
        "librbd_symbols.json": symbol_docs["librbd"],
        "librados_symbols.json": symbol_docs["librados"],
    }
    failed = False
    for name, doc in docs.items():
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        path = os.path.join(DATA, name)
        if args.check:
            current = open(path).read() if os.path.exists(path) else ""
            if current != text:
                print("differs: " + path)
                failed = True
        else:
            with open(path, "w") as handle:
                handle.write(text)
            print("wrote " + path)
    return 1 if failed else 0


# Feature names as librbd spells them (RBD_FEATURE_NAME_* in features.h since luminous).
FEATURE_MACROS = [("LAYERING", "layering"), ("STRIPINGV2", "striping"), ("EXCLUSIVE_LOCK", "exclusive-lock"),
                  ("OBJECT_MAP", "object-map"), ("FAST_DIFF", "fast-diff"), ("DEEP_FLATTEN", "deep-flatten"),
                  ("JOURNALING", "journaling"), ("DATA_POOL", "data-pool"), ("OPERATIONS", "operations"),
                  ("MIGRATING", "migrating"), ("NON_PRIMARY", "non-primary"), ("DIRTY_CACHE", "dirty-cache")]


# validate_features(): a create asking for these without their prerequisite fails -EINVAL --
# except fast-diff, which 16.2.15 enables implicitly with object-map (RBD_FEATURES_IMPLICIT_ENABLE)
# and drops when asked for alone (observed in the live trials, tests/test_live.py).
REQUIRES = {"object-map": (["exclusive-lock"], "EINVAL"), "fast-diff": (["object-map"], "dropped"),
            "journaling": (["exclusive-lock"], "EINVAL")}
REQUIRES_SOURCE = {
    "EINVAL": "denise813/storage-public-ceph release commit 15.2.0 src/librbd/image/CreateRequest.cc "
              "validate_features (-EINVAL); confirmed by live trials on Debian 16.2.15",
    "dropped": "live trials on Debian 16.2.15 (rbd_create4 with fast-diff alone: created without it); "
               "15.2.0 CreateRequest.cc validate_features would refuse it with -EINVAL",
}
# Features a caller gets by another request than the bit: data-pool by giving a data pool.
CREATE_VIA = {"data-pool": ("a data pool given at create (rbd_create4 with RBD_IMAGE_OPTION_DATA_POOL; the Cython "
                            "binding's RBD.create(data_pool=))",
                            "zenglg/ceph-ci release commit 11.2.0 f223e27eeb35: src/librbd/image/CreateRequest.cc "
                            "(m_features |= RBD_FEATURE_DATA_POOL when the data pool differs from the image's pool)")}
# Bits librbd sets itself: asking for them at create has them silently dropped (on 16.2.15; per
# release see each feature's effects).
DROPPED = ("data-pool", "operations", "migrating", "non-primary", "dirty-cache")


# What librbd does with a feature mask at create, per release range (knowledge.Effect):
# classified from the source at every release and point release the mirrors hold (EFFECT_RULES),
# plus what the live trials observed on the Debian build installed here (LIVE_EFFECTS).
# Situations: "alone" (asked without the features it requires), "at-create" (an internal bit, or
# data-pool without a data pool, asked for), "with-data-pool" (a data pool given),
# "no-stripe-settings" (the striping bit without stripe unit/count).
LIVE_SOURCE = ("live trials on Debian 16.2.15 (librbd_probe --live against the one-node test cluster, "
               "tests/test_live.py::test_trials_agree_with_the_cluster; striping alone: trial feature.striping, "
               "rbd_create4 format 2 features=2 without stripe unit/count, created with dropped_bits [1])")
LIVE_EFFECTS = {
    ("fast-diff", "alone"): "dropped", ("object-map", "alone"): "EINVAL", ("journaling", "alone"): "EINVAL",
    ("data-pool", "at-create"): "dropped", ("operations", "at-create"): "dropped",
    ("migrating", "at-create"): "dropped", ("non-primary", "at-create"): "dropped",
    ("dirty-cache", "at-create"): "dropped", ("striping", "no-stripe-settings"): "dropped",
}
EFFECT_WORDS = {
    "EINVAL": "the create fails with -EINVAL",
    "dropped": "librbd clears the bit and creates the image without it",
    "kept": "librbd keeps the bit as asked (no check in the create path)",
    "set": "librbd sets the bit itself",
    "removed-rc0": "the create writes the header, logs the refusal, removes the image again and returns the "
                   "previous step's result (0): the caller sees success but no image exists",
}
EFFECT_SUMMARY = {"EINVAL": "fails with -EINVAL", "dropped": "the bit is silently dropped",
                  "kept": "the bit is kept as asked", "set": "librbd sets the bit",
                  "removed-rc0": "the image is removed again, yet the call returns 0"}
_REQ_LOG = {"fast-diff": "cannot use fast diff without object map", "object-map": "cannot use object map without exclusive lock",
            "journaling": "cannot use journaling without exclusive lock"}
_MACRO = dict((name, "RBD_FEATURE_" + macro) for macro, name in
              [("LAYERING", "layering"), ("STRIPINGV2", "striping"), ("EXCLUSIVE_LOCK", "exclusive-lock"),
               ("OBJECT_MAP", "object-map"), ("FAST_DIFF", "fast-diff"), ("DEEP_FLATTEN", "deep-flatten"),
               ("JOURNALING", "journaling"), ("DATA_POOL", "data-pool"), ("OPERATIONS", "operations"),
               ("MIGRATING", "migrating"), ("NON_PRIMARY", "non-primary"), ("DIRTY_CACHE", "dirty-cache")])


def _series(version):
    key = _key(version)
    return key[:2] if key[0] == 0 else key[:1]


def classify_create(source):
    """{(feature, situation): (effect, file)} read from one release's create path."""
    out = {}
    create = source.read("src/librbd/image/CreateRequest.cc")
    if create:
        path = "src/librbd/image/CreateRequest.cc"
        start = create.find("int validate_features")
        validate = create[start:create.find("\n}\n", start)] if start >= 0 else ""
        for name, log in _REQ_LOG.items():
            if re.search(re.escape(log) + r'" << dendl;\s*return -EINVAL', validate):
                out[(name, "alone")] = ("EINVAL", path + " validate_features")
        refuses = r"\) != 0\) \{\s*lderr\(cct\) << \"cannot use internally controlled features\" << dendl;\s*return -EINVAL"
        internal_mask = None
        if re.search(r"\(features & RBD_FEATURES_INTERNAL" + refuses, validate):
            internal_mask = evaluate("RBD_FEATURES_INTERNAL", features_all(source)[1])
        for bit, (_, name) in enumerate(FEATURE_MACROS):
            if name not in ("operations", "migrating", "non-primary", "dirty-cache"):
                continue
            macro = _MACRO[name]
            if re.search(r"\(features & " + macro + refuses, validate):
                out[(name, "at-create")] = ("EINVAL", path + " validate_features")
            elif internal_mask is not None and internal_mask & (1 << bit):
                out[(name, "at-create")] = ("EINVAL", path + " validate_features (RBD_FEATURES_INTERNAL, features.h)")
            elif macro not in create and (internal_mask is not None or "RBD_FEATURES_INTERNAL" not in create):
                out[(name, "at-create")] = ("kept", path + " (neither validate_features nor the constructor mention it)")
        if "m_features &= ~RBD_FEATURE_DATA_POOL" in create:
            out[("data-pool", "at-create")] = ("dropped", path + " (m_features &= ~RBD_FEATURE_DATA_POOL without a data pool)")
        if "m_features |= RBD_FEATURE_DATA_POOL" in create:
            out[("data-pool", "with-data-pool")] = ("set", path + " (m_features |= RBD_FEATURE_DATA_POOL for a data pool "
                                                            "other than the image's pool)")
        if "m_features &= ~RBD_FEATURE_STRIPINGV2" in create:
            out[("striping", "no-stripe-settings")] = ("dropped", path + " (m_features &= ~RBD_FEATURE_STRIPINGV2 for "
                                                                 "default striping)")
        return out
    internal = source.read("src/librbd/internal.cc") or ""
    path = "src/librbd/internal.cc"
    for name, log in _REQ_LOG.items():
        if re.search(re.escape(log) + r'" << dendl;\s*goto err_remove_header', internal):
            out[(name, "alone")] = ("removed-rc0", path + " create() (goto err_remove_header after the header is written)")
    if "STRIPINGV2" in internal and "features &= ~RBD_FEATURE_STRIPINGV2" not in internal:
        out[("striping", "no-stripe-settings")] = ("kept", path + " create() (no clearing of RBD_FEATURE_STRIPINGV2)")
    return out


def effects_by_feature(mirrors, firsts):
    """{feature: [effect entries]}: consecutive releases with the same effect form one range."""
    refs = [(version, mirror, ref) for version, _, mirror, ref in UPSTREAM]
    refs += [(re.sub(r"^(commit:|v)", "", ref).replace("argonaut", ""), mirror, ref)
             for mirror, refs_ in POINT_SCAN.items() for ref in refs_]
    refs = sorted(set(refs), key=lambda item: _key(item[0]))
    observed = []      # (version, {(feature, situation): (effect, source)})
    for version, mirror, ref in refs:
        if mirror not in mirrors:
            continue
        sha = resolve(mirrors[mirror], ref)
        if not sha:
            continue
        label = "{} {}".format(mirror, ref if not ref.startswith("commit:") else "release commit {} {}".format(ref[7:], sha[:12]))
        found = classify_create(Source(label, mirrors[mirror], sha))
        observed.append((version, {k: (v[0], "{}: {}".format(label, v[1])) for k, v in found.items()}))
    observed.append(("16.2.15", {k: (v, LIVE_SOURCE) for k, v in LIVE_EFFECTS.items()}))
    observed.sort(key=lambda item: _key(item[0]))
    out = {}
    keys = sorted({k for _, found in observed for k in found})
    blind = [_key(version) for version, _ in UNREACHABLE]
    for feature, situation in keys:
        first = firsts.get(feature)
        runs = []
        previous = None
        for version, found in observed:
            if first is None or _key(version) < _key(first):
                continue
            if previous is not None and (any(_key(previous) < b <= _key(version) for b in blind)
                                         or _series(previous) != _series(version)):
                # never bridge a release nobody read (16.2.0 .. 16.2.14), nor a series boundary:
                # version order is not time order (14.2.21 came out after 15.2.7)
                runs.append(None)
            previous = version
            effect = found.get((feature, situation))
            if effect is None:
                runs.append(None)
                continue
            if runs and runs[-1] is not None and runs[-1]["effect"] == effect[0]:
                runs[-1]["max"] = version
                runs[-1]["_last"] = effect[1]
                runs[-1]["_count"] += 1
            else:
                runs.append({"situation": situation, "effect": effect[0], "min": version, "max": version,
                             "_first": effect[1], "_last": effect[1], "_count": 1})
        for run in runs:
            if run is None:
                continue
            source = run.pop("_first")
            last, count = run.pop("_last"), run.pop("_count")
            if count > 1:
                source += "; ... {} (every release and point release the mirrors hold in between: {})".format(last, count)
            run["source"] = source
            run["verified"] = True
            run["summary"] = EFFECT_SUMMARY[run["effect"]]
            run["note"] = EFFECT_WORDS[run["effect"]] + ("; read in the source, not run" if run["source"] != LIVE_SOURCE else "")
            out.setdefault(feature, []).append(run)
    return out


def features_doc(corpus, mirrors):
    """Bits 0-11: mask, name, first release whose RBD_FEATURES_ALL has it, class macros."""
    newest = os.path.join(corpus, "debian", "20.2.4_amd64", "root")
    sources = []
    for version, codename, mirror, ref in UPSTREAM:
        if mirror in mirrors:
            sha = resolve(mirrors[mirror], ref)
            if sha:
                sources.append((version, Source("{} {}".format(mirror, ref), mirrors[mirror], sha)))
    for version, _ in DEBIAN:
        root = os.path.join(corpus, "debian", "{}_amd64".format(version), "root")
        if os.path.isdir(root):
            sources.append((version, Source("Debian {} librbd-dev".format(version), root=root)))
    sources.sort(key=lambda item: _key(item[0]))
    first = {}
    for version, source in sources:
        value, _ = features_all(source)
        if value.get("value") is None:
            continue
        for bit in range(len(FEATURE_MACROS)):
            if value["value"] & (1 << bit) and bit not in first:
                first[bit] = (version, value["source"])
    defs = {}
    classes = {}
    if os.path.isdir(newest):
        text = Source("Debian 20.2.4 librbd-dev", root=newest).read("src/include/rbd/features.h") or ""
        defs = macros(text)
        for cls in ("INTERNAL", "IMPLICIT_ENABLE", "MUTABLE", "MUTABLE_INTERNAL", "SINGLE_CLIENT", "DISABLE_ONLY"):
            classes[cls] = evaluate("RBD_FEATURES_" + cls, defs) or 0
    effects = effects_by_feature(mirrors, {FEATURE_MACROS[bit][1]: version for bit, (version, _) in first.items()})
    features = []
    for bit, (macro, name) in enumerate(FEATURE_MACROS):
        mask = evaluate("RBD_FEATURE_" + macro, defs) if defs else None
        entry = {"bit": bit, "name": name, "mask": 1 << bit, "macro": "RBD_FEATURE_" + macro,
                 "krbd_since": None,
                 "krbd_unverified": "the kernel's drivers/block/rbd.c history was not reachable here; "
                                    "this tool reads the running kernel's /sys/bus/rbd/supported_features instead"}
        if mask is not None and mask != 1 << bit:
            raise SystemExit("features.h disagrees on {}: {}".format(macro, mask))
        if bit in first:
            entry["first"] = first[bit][0]
            entry["source"] = first[bit][1] + " (RBD_FEATURES_ALL)"
        else:
            entry["first"] = None
            entry["unverified"] = "not in RBD_FEATURES_ALL of any release read here"
            entry["source"] = None
        if classes:
            entry["internal"] = bool(classes["INTERNAL"] & (1 << bit))
            entry["implicit"] = bool(classes["IMPLICIT_ENABLE"] & (1 << bit))
            entry["mutable"] = bool((classes["MUTABLE"] | classes["MUTABLE_INTERNAL"]) & (1 << bit))
            entry["single_client"] = bool(classes["SINGLE_CLIENT"] & (1 << bit))
            entry["class_source"] = "Debian 20.2.4 librbd-dev usr/include/rbd/features.h (RBD_FEATURES_INTERNAL, _IMPLICIT_ENABLE, _MUTABLE, _MUTABLE_INTERNAL, _SINGLE_CLIENT)"
        if name in REQUIRES:
            entry["requires"], entry["requires_effect"] = REQUIRES[name]
            entry["requires_source"] = REQUIRES_SOURCE[entry["requires_effect"]]
        entry["effects"] = effects.get(name, [])
        if name in CREATE_VIA:
            entry["create_via"], entry["create_via_source"] = CREATE_VIA[name]
        entry["dropped_at_create"] = name in DROPPED
        entry["dropped_source"] = ("observed on Debian 16.2.15 librbd (shared/REAL-LIBRARIES.md section 3): "
                                   "internal bits are silently dropped at create")
        features.append(entry)
    return {"schema_version": 1, "features": features,
            "note": "first: the first release in releases.json whose RBD_FEATURES_ALL contains the bit. "
                    "internal/implicit: librbd sets these itself. effects: what a create asking for the bit does, "
                    "per release range min..max (inclusive, each end a release read); outside every range: unknown."}


def _kn():
    """The knowledge layer (sonames, package names) of the package being regenerated."""
    from librbd_probe import knowledge
    return knowledge


def _key(version):
    from librbd_probe import knowledge
    return knowledge.version_key(version)


def symbols_doc(library, sets, releases):
    """first / removed / backports per function from the per-release sets."""
    order = sorted(sets, key=_key)
    label = {r["version"]: r.get("ref") or ("Debian " + r["version"]) for r in releases}
    header = "src/include/rbd/librbd.h" if library == "librbd" else "src/include/rados/librados.h"
    symbols = {}
    names = set().union(*sets.values()) if sets else set()
    mainline = [v for v in order if not _is_point(v, order)]
    for name in sorted(names):
        present = [v for v in order if name in sets[v]]
        first_main = next((v for v in mainline if name in sets[v]), None)
        entry = {}
        if first_main is not None:
            entry["first"] = first_main
            backports = [v for v in present if _key(v) < _key(first_main)]
            backports = [v for v in backports if not any(_key(b)[:2] == _key(v)[:2] and _key(b) < _key(v) for b in backports)]
            if backports:
                entry["backports"] = backports
        else:
            entry["first"] = present[0]
        gone = [v for v in mainline if _key(v) > _key(entry["first"]) and name not in sets[v]]
        later = [v for v in mainline if gone and _key(v) > _key(gone[0]) and name in sets[v]]
        if gone and not later:
            entry["removed"] = gone[0]
        src = label.get(entry["first"], entry["first"])
        entry["source"] = ("{}: {}".format(src, header) if not src.startswith("Debian") else
                           "{} package {}: exported by {}".format(src, _kn().packages(library)["debian"][0],
                                                                  _kn().soname(library)))
        absent = [v for v in order if _key(v) < _key(entry["first"]) and name not in sets[v]]
        if src.startswith("Debian") and absent:
            carriers = [v for v in order if _key(absent[-1]) < _key(v) < _key(entry["first"]) and name in sets[v]]
            entry["note"] = "absent at {}, present at {}{}: the exact first release in between is not verified".format(
                absent[-1], entry["first"],
                " (and as a backport at {})".format(", ".join(carriers)) if carriers else "")
        symbols[name] = entry
    return {"schema_version": 1, "library": library, "symbols": symbols,
            "note": "first: the first release in releases.json whose header declares (upstream) or whose library exports (Debian) the function; "
                    "backports: point releases of older series that gained it; removed: the first release without it."}


def _is_point(version, order):
    """A point release of a series that also has an earlier entry (a backport carrier)."""
    key = _key(version)
    return any(_key(v)[:2] == key[:2] and _key(v) < key for v in order)


if __name__ == "__main__":
    sys.exit(main())
