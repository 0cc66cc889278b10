#!/usr/bin/env python3
"""Regenerate librbd_probe/knowledge/data/cxx_exports.json from the real Debian builds.

Which Debian build of librbd.so.1 / librados.so.2 (corpus: tools/fetch_corpus.py) exports each
librbd:: / librados:: C++ symbol.  The first build that has it is the first *Debian build*
seen here, not the upstream first release: the data says so (``exact: false``).

    python3 tools/cxx_exports_from_corpus.py [--corpus DIR] [--check]
"""
import argparse
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from librbd_probe import elf  # noqa: E402

BUILDS = ("14.2.21", "16.2.15", "18.2.7", "20.2.4")
OUT = os.path.join(os.path.dirname(HERE), "librbd_probe", "knowledge", "data", "cxx_exports.json")
LIBS = (("librbd", "librbd.so.1", "6librbd"), ("librados", "librados.so.2", "8librados"))


def build(corpus):
    symbols = {}
    sources = {}
    for version in BUILDS:
        root = os.path.join(corpus, "debian", version + "_amd64", "root")
        manifest = json.load(open(os.path.join(os.path.dirname(root), "MANIFEST.json")))
        for library, soname, marker in LIBS:
            (path,) = glob.glob(os.path.join(root, "usr/lib/*/" + soname))
            sources[version] = "Debian {} packages librbd1={}, librados2={}: dynamic symbol tables".format(
                manifest["suite"], manifest["packages"]["librbd1"], manifest["packages"]["librados2"])
            for sym in elf.read_elf(path, defined_only=True).symbols:
                if (sym.name.startswith("_Z") and marker in sym.name and sym.binding in ("GLOBAL", "WEAK")
                        and sym.visibility in ("DEFAULT", "PROTECTED") and not sym.version_hidden):
                    present = symbols.setdefault(sym.name, [])
                    if version not in present:
                        present.append(version)
    return {"schema_version": 1,
            "note": "librbd::/librados:: C++ exports: symbol -> the real Debian builds (of these four) that "
                    "export it; the first of them is the first Debian build seen, not a verified upstream "
                    "first release",
            "builds": list(BUILDS), "sources": sources, "symbols": symbols}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.environ.get("LIBRBD_PROBE_CORPUS") or
                        os.path.expanduser("~/.cache/librbd_probe/corpus"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from a rebuild")
    args = parser.parse_args(argv)
    text = json.dumps(build(args.corpus), indent=2, sort_keys=True) + "\n"
    if args.check:
        return 0 if open(OUT).read() == text else 1
    with open(OUT, "w") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
