"""The knowledge base: structure, sources, canonical formatting, and agreement with the real
Debian packages (the parts that can be regenerated from them)."""
import glob
import json
import os
import re

import pytest

import corpus
from librbd_probe import elf, identify
from librbd_probe import knowledge as kn

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "librbd_probe", "knowledge", "data")
FILES = sorted(glob.glob(os.path.join(DATA, "*.json")))


class kb(object):
    """The raw documents, read here from the files (the knowledge layer's records are tested in
    test_knowledge.py; these tests look at the files themselves)."""

    @staticmethod
    def _load(name):
        with open(os.path.join(DATA, name)) as handle:
            return json.load(handle)

    @classmethod
    def releases(cls):
        return cls._load("releases.json")["releases"]

    @classmethod
    def symbols(cls, library):
        return cls._load("{}_symbols.json".format(library))

    @classmethod
    def features(cls):
        return cls._load("features.json")["features"]

    @classmethod
    def capabilities(cls):
        return cls._load("capabilities.json")["capabilities"]


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(p) for p in FILES])
def test_canonical_formatting_and_schema_version(path):
    with open(path) as handle:
        text = handle.read()
    data = json.loads(text)
    if not path.endswith(".schema.json"):
        assert data["schema_version"] == 1
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n", "run tools/kb_from_headers.py (canonical JSON)"


def _facts(entry):
    return {k: v for k, v in entry.items() if isinstance(v, dict) and ("value" in v)}


def test_every_release_fact_has_source_or_says_unverified():
    releases = kb.releases()
    versions = [r["version"] for r in releases]
    assert versions == sorted(versions, key=kn.version_key)
    for rel in releases:
        if rel.get("source_kind") == "unverified":
            assert rel["unverified"]
            continue
        for key, fact in _facts(rel).items():
            assert fact.get("source") or fact.get("unverified"), (rel["version"], key)
            if fact.get("value") is None:
                assert fact.get("unverified") or "no shared libceph-common" in fact.get("source", ""), (rel["version"], key)


def test_named_releases_present():
    names = {r["codename"] for r in kb.releases()}
    assert names >= {"argonaut", "bobtail", "cuttlefish", "dumpling", "emperor", "firefly", "giant", "hammer",
                     "infernalis", "jewel", "kraken", "luminous", "mimic", "nautilus", "octopus", "pacific",
                     "quincy", "reef", "squid", "tentacle"}


@pytest.mark.parametrize("library", ["librbd", "librados"])
def test_symbol_entries_refer_to_known_releases(library):
    versions = {r["version"] for r in kb.releases()}
    doc = kb.symbols(library)
    assert len(doc["symbols"]) > 100
    for name, entry in doc["symbols"].items():
        assert name.startswith("rbd_" if library == "librbd" else "rados_")
        assert entry["first"] in versions and entry["source"]
        for other in entry.get("backports", []) + ([entry["removed"]] if entry.get("removed") else []):
            assert other in versions


def test_features_bits_and_sources():
    features = kb.features()
    assert [f["bit"] for f in features] == list(range(kn.feature_count()))
    assert [f["name"] for f in features][:6] == ["layering", "striping", "exclusive-lock", "object-map",
                                                 "fast-diff", "deep-flatten"]
    for feature in features:
        assert feature["mask"] == 1 << feature["bit"]
        assert feature["source"] and feature["first"]
        assert feature["krbd_since"] is None and feature["krbd_unverified"]  # said, not invented


def test_capabilities_name_real_functions():
    known = set(kb.symbols("librbd")["symbols"])
    for cap in kb.capabilities():
        for alternative in cap["requires"]:
            assert set(alternative) <= known, (cap["id"], set(alternative) - known)


@pytest.mark.parametrize("version", corpus.RELEASES)
def test_debian_exports_match_knowledge_base(version):
    """Regenerable part, checked against the real packages: functions and version triples."""
    for library, soname, prefix, macro in (("librbd", "librbd", "rbd_", "LIBRBD"), ("librados", "librados", "rados_", "LIBRADOS")):
        path = corpus.library(version, soname)
        exported = {s.name for s in elf.read_elf(os.path.realpath(path), name_filter=(prefix.encode(),)).symbols
                    if s.defined and s.type == "FUNC"}
        assert exported == set(identify.expected_functions(kb.symbols(library), version)), library
        header = os.path.join(corpus.release_root(version), "usr/include",
                              "rbd/librbd.h" if library == "librbd" else "rados/librados.h")
        text = open(header).read()
        triple = [int(re.search(r"#define {}_VER_{}\s+(\d+)".format(macro, part), text).group(1))
                  for part in ("MAJOR", "MINOR", "EXTRA")]
        entry = [r for r in kb.releases() if r["version"] == version][0]
        assert entry["{}_version".format("rbd" if library == "librbd" else "rados")]["value"] == triple


def test_debian_symbols_files_agree_where_debian_stamps_exist():
    """Debian's librbd1.symbols stamps a function with the first *Debian* version that had it:
    evidence, not upstream truth -- but a function Debian stamps must exist in our data."""
    path = corpus.symbols_file("16.2.15", "librbd1")
    stamped = set(re.findall(r"^ (rbd_\w+)@Base", open(path).read(), flags=re.M))
    assert stamped and stamped <= set(kb.symbols("librbd")["symbols"])


@pytest.mark.parametrize("library", ["librbd", "librados"])
def test_stored_digests_match_symbol_data(library):
    """The per-release digests are derived data: they must equal the sets the symbols give."""
    doc = kb.symbols(library)
    checked = 0
    for rel in kb.releases():
        if rel.get("source_kind") == "unverified":
            assert library + "_digest" not in rel
            continue
        expected = identify.expected_functions(doc, rel["version"])
        assert rel[library + "_digest"] == identify.set_digest(expected), rel["version"]
        checked += 1
    assert checked > 20
