#!/usr/bin/env python3
"""Regenerate librbd_probe/knowledge/data/ceph_features.json from upstream Ceph sources.

Reads, at each release's tag or release commit in public git mirrors of Ceph (bare clones
made with the search tool's fetch; nothing of them is committed):
  src/include/ceph_features.h    CEPH_FEATURE_* bits (three historic styles: ``#define
                                 CEPH_FEATURE_X (1ULL<<N)``, ``DEPRECATED_CEPH_FEATURE_X``, and
                                 the DEFINE_CEPH_FEATURE[_DEPRECATED|_RETIRED] macros with
                                 incarnations) and CEPH_FEATURES_ALL, which is what a client
                                 of that release advertises (CEPH_FEATURES_SUPPORTED_DEFAULT)
  src/common/ceph_strings.cc     ceph_release_features(): what the monitor's
                                 ceph_release_from_features() uses to name a client's release
                                 (``ceph features``, the session list's con_features_release)

    python3 tools/ceph_features_from_headers.py --mirror XinzeChi/ceph=DIR \\
        --mirror zenglg/ceph-ci=DIR --mirror A10506/ceph-ci=DIR \\
        --mirror denise813/storage-public-ceph=DIR [--check]

Releases after 15.2 (pacific 16.2 to tentacle 20.2) have no reachable source here (no mirror
with their tags, and Debian's binary packages do not ship ceph_features.h): they are listed
with ``"verified": false`` and no mask, never guessed.
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kb_from_headers  # noqa: E402  (the mirrors' release table, one place)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "librbd_probe", "knowledge", "data", "ceph_features.json")

# The release tags and commits that kb_from_headers.py reads, one per named release (its
# point releases are C API checks, not feature-bit points).
UPSTREAM = [entry for n, entry in enumerate(kb_from_headers.UPSTREAM)
            if entry[1] not in {e[1] for e in kb_from_headers.UPSTREAM[:n]}]
UNREACHABLE = kb_from_headers.UNREACHABLE   # named releases with no reachable source
# Masks seen on the wire from real builds whose header is not reachable here: what their
# clients (and daemons) advertise, as the monitor reports it.  tests/test_census.py checks the
# 16.2.15 entry against the live test cluster (Debian's 16.2.15 mon, osd, mgr and clients).
OBSERVED = [
    ("16.2.15", "pacific", "0x3f01cfbdfffdffff",
     "observed: Debian bookworm 16.2.15+ds-0+deb12u2 (librados2, ceph-mon, ceph-osd, ceph-mgr) on the one-node test "
     "cluster (tests/cluster.py): `ceph features` and every session of `ceph tell mon.a sessions` "
     "(con_features_hex); no bit names (the 16.2 header is not reachable here)"),
]
# ceph_release_features() is read from the newest reachable source (it only grows).
MON_INFERENCE_FROM = "15.2.0"
HEADER = "src/include/ceph_features.h"
STRINGS = "src/common/ceph_strings.cc"


def git_show(git_dir, ref, path):
    proc = subprocess.run(["git", "-C", git_dir, "show", "{}:{}".format(ref, path)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else None


resolve = kb_from_headers.resolve      # a "commit:<subject>" ref -> the release commit


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _shift(expr):
    match = re.fullmatch(r"\(?\s*1U?L?L?\s*<<\s*(\d+)\s*\)?", expr.strip())
    return 1 << int(match.group(1)) if match else None


def parse_header(text):
    """-> (symbols {macro name: int}, bits [{bit, name, incarnation, kind}], features_all int)."""
    code = strip_comments(text).replace("\\\n", " ")
    symbols, bits = {}, []
    incarnations = {}
    for name, expr in re.findall(r"#define\s+CEPH_FEATURE_INCARNATION_(\d+)\s+(.+)", code):
        value = 0
        for shift in re.findall(r"1ull\s*<<\s*(\d+)", expr, flags=re.I):
            value |= 1 << int(shift)
        incarnations[name] = value
    for prefix, name, expr in re.findall(r"#define\s+(DEPRECATED_)?CEPH_FEATURE_(\w+)\s+(\([^)]*\))", code):
        if name.startswith("INCARNATION_"):
            continue
        value = _shift(expr)
        if value is None:
            continue
        symbols[prefix + "CEPH_FEATURE_" + name] = value
        bits.append({"bit": value.bit_length() - 1, "name": name, "incarnation": 1,
                     "kind": "deprecated" if prefix else "feature"})
    for kind, args in re.findall(r"DEFINE_CEPH_FEATURE(_DEPRECATED|_RETIRED)?\s*\(([^)]*)\)", code):
        parts = [p.strip() for p in args.split(",")]
        if not parts[0].isdigit():
            continue                     # the macro's own definition
        bit, inc, name = int(parts[0]), parts[1], parts[2]
        mask = (1 << bit) | incarnations.get(inc, 0)
        if kind == "":
            symbols["CEPH_FEATURE_" + name] = 1 << bit
            symbols["CEPH_FEATUREMASK_" + name] = mask
        elif kind == "_DEPRECATED":
            symbols["DEPRECATED_CEPH_FEATURE_" + name] = 1 << bit
            symbols["DEPRECATED_CEPH_FEATUREMASK_" + name] = mask
        bits.append({"bit": bit, "name": name, "incarnation": int(inc),
                     "kind": {"": "feature", "_DEPRECATED": "deprecated", "_RETIRED": "retired"}[kind]})
    body = re.search(r"#define\s+CEPH_FEATURES_ALL\s+\((.*?)\)\s*\n", code, flags=re.S)
    if not body:
        raise SystemExit("no CEPH_FEATURES_ALL")
    total = 0
    for token in re.findall(r"[A-Za-z_]\w*", body.group(1)):
        if token in ("ULL", "0ULL"):
            continue
        if token not in symbols:
            raise SystemExit("CEPH_FEATURES_ALL names unknown {}".format(token))
        total |= symbols[token]
    bits.sort(key=lambda b: (b["bit"], b["kind"] != "feature", b["name"]))
    return symbols, bits, total


def parse_release_features(text, symbols):
    """ceph_release_features(r) in ceph_strings.cc -> [{"through": codename, "adds": [...], "mask"}]."""
    code = strip_comments(text)
    func = re.search(r"uint64_t\s+ceph_release_features\s*\(int r\)\s*\{(.*?)\n\}", code, flags=re.S)
    if not func:
        raise SystemExit("no ceph_release_features() in " + STRINGS)
    steps, adds = [], []
    for statement in func.group(1).split(";"):
        names = re.findall(r"CEPH_FEATURE(?:MASK)?_\w+", statement)
        if "req |=" in statement:
            adds.extend(names)
        through = re.search(r"if\s*\(r\s*<=\s*CEPH_RELEASE_(\w+)\)", statement)
        if through:
            mask = 0
            for name in adds:
                mask |= symbols[name]
            steps.append({"through": through.group(1).lower(), "adds": sorted(set(adds)),
                          "mask": "0x{:x}".format(mask)})
    return steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", action="append", default=[], metavar="OWNER/NAME=GITDIR")
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args(argv)
    mirrors = dict(item.split("=", 1) for item in args.mirror)
    releases, mon_steps, symbols_at = [], None, {}
    for version, codename, mirror, ref in UPSTREAM:
        if mirror not in mirrors:
            raise SystemExit("need --mirror {}=GITDIR".format(mirror))
        sha = resolve(mirrors[mirror], ref)
        text = git_show(mirrors[mirror], sha, HEADER) if sha else None
        if text is None:
            raise SystemExit("{} {}: no {}".format(mirror, ref, HEADER))
        label = "{} {}".format(mirror, ref if not ref.startswith("commit:")
                               else "release commit {} {}".format(ref[7:], sha[:12]))
        symbols, bits, total = parse_header(text)
        symbols_at[version] = symbols
        releases.append({"version": version, "codename": codename, "verified": True, "source_kind": "header",
                         "features_all": "0x{:x}".format(total), "bits": bits,
                         "source": "{}: {} (CEPH_FEATURES_ALL = CEPH_FEATURES_SUPPORTED_DEFAULT)".format(label, HEADER)})
        if version == MON_INFERENCE_FROM:
            strings = git_show(mirrors[mirror], sha, STRINGS)
            rados_h = git_show(mirrors[mirror], sha, "src/include/rados.h")
            numbers = {name.lower(): int(num) for name, num in
                       re.findall(r"#define\s+CEPH_RELEASE_([A-Z]+)\s+(\d+)", rados_h) if name != "MAX"}
            mon_steps = {"steps": parse_release_features(strings, symbols),
                         "release_numbers": numbers,
                         "source": "{}: {} ceph_release_features(), ceph_release_from_features(); "
                                   "src/include/rados.h CEPH_RELEASE_*".format(label, STRINGS)}
    for version, codename, mask, source in OBSERVED:
        releases.append({"version": version, "codename": codename, "verified": True, "features_all": mask,
                         "bits": [], "source": source, "source_kind": "observed"})
    for version, codename in UNREACHABLE:
        releases.append({"version": version, "codename": codename, "verified": False, "features_all": None,
                         "bits": [], "source": None, "source_kind": "unverified",
                         "unverified": "no source for this release's ceph_features.h was reachable here "
                                       "(no mirror with its tag; Debian's binary packages do not ship the header)"})
    releases.sort(key=lambda r: tuple(int(x) for x in r["version"].split(".")))
    doc = {"schema_version": 1,
           "note": "CEPH_FEATURE_* bits and CEPH_FEATURES_ALL per release, read from upstream sources at release "
                   "tags/commits (tools/ceph_features_from_headers.py). A client of a release advertises "
                   "CEPH_FEATURES_ALL of that release; the monitor names a peer's release with "
                   "ceph_release_from_features() over mon_inference.steps, which stop at luminous, so every "
                   "luminous-or-newer client is called 'luminous' by the monitor.",
           "releases": releases, "mon_inference": mon_steps}
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if args.check:
        with open(OUT) as handle:
            same = handle.read() == text
        print("up to date" if same else "DIFFERS")
        return 0 if same else 1
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as handle:
        handle.write(text)
    print("wrote", OUT, len(releases), "releases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
