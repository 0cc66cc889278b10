"""The knowledge layer (librbd_probe.knowledge): every question of its API, table-driven on
hand-built inputs, the JSON Schemas beside the data files, immutability, one lazy load, and the
facts that real binaries can confirm (readelf, the C compiler on the real headers, dpkg-deb,
strings) checked against them."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import types
import zipfile

import jsonschema
import pytest

import corpus
from conftest import PROJECT, need
from librbd_probe import knowledge as kn
from librbd_probe.errors import KnowledgeBaseError

DATA = os.path.join(PROJECT, "librbd_probe", "knowledge", "data")
DATA_FILES = sorted(p for p in glob.glob(os.path.join(DATA, "*.json")) if not p.endswith(".schema.json"))


# ---------------------------------------------------------------------------------------
# Schemas

@pytest.mark.parametrize("path", DATA_FILES, ids=[os.path.basename(p) for p in DATA_FILES])
def test_every_data_file_has_a_draft7_schema_it_satisfies(path):
    schema_path = path[:-len(".json")] + ".schema.json"
    assert os.path.exists(schema_path), "no schema beside " + path
    with open(schema_path) as handle:
        schema = json.load(handle)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    with open(path) as handle:
        doc = json.load(handle)
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
    assert not errors, [(list(e.path), e.message) for e in errors[:5]]


def _schema(name):
    with open(os.path.join(DATA, name + ".schema.json")) as handle:
        return json.load(handle)


def _doc(name):
    with open(os.path.join(DATA, name + ".json")) as handle:
        return json.load(handle)


def _valid(name, doc):
    return not list(jsonschema.Draft7Validator(_schema(name)).iter_errors(doc))


@pytest.mark.parametrize("name, break_it", [
    ("releases", lambda d: d["releases"][0]["rbd_version"].pop("source")),           # a value without a source
    ("releases", lambda d: d["releases"][0].pop("ref")),                              # verified entry without its ref
    ("releases", lambda d: d["releases"][-1].update(rbd_version={"value": [1, 2, 3], "source": "x"})
     if d["releases"][-1]["source_kind"] == "unverified" else d["releases"][-1].update(tag="16.2.15")),
    ("releases", lambda d: d["releases"][0]["default_format"].update(value=3)),
    ("features", lambda d: d["features"][4]["effects"][0].update(effect="refused")),
    ("features", lambda d: d["features"][4]["effects"][0].pop("source")),
    ("features", lambda d: d["features"][7].pop("create_via_source")),
    ("librbd_symbols", lambda d: d["symbols"].update(rados_connect={"first": "0.48", "source": "x"})),
    ("librados_symbols", lambda d: d["symbols"]["rados_connect"].update(first="argonaut")),
    ("capabilities", lambda d: d["capabilities"][0].update(requires=[[]])),
    ("capabilities", lambda d: d["capabilities"][0].update(release_policy="default_format")),
    ("errors", lambda d: d["bindings"][0].update(kind="swig")),
    ("libraries", lambda d: d["libraries"][0].pop("soname_source")),
    ("libraries", lambda d: d["install_dirs"]["value"].append("relative/dir")),
])
def test_schemas_reject_broken_data(name, break_it):
    doc = _doc(name)
    assert _valid(name, doc)
    break_it(doc)
    assert not _valid(name, doc)


# ---------------------------------------------------------------------------------------
# Versions

@pytest.mark.parametrize("text, key", [
    ("16.2.15", (16, 2, 15)), ("0.48", (0, 48)), ("v0.48argonaut", (0, 48)), ("v16.2.0", (16, 2, 0)),
    ("17.2.6-1234-gabcdef", (17, 2, 6)), ("18.2.4-0ubuntu0.24.04.1", (18, 2, 4)),
    ("16.2.10-208.el9cp", (16, 2, 10)), ("16.2.15+ds-0+deb12u2", (16, 2, 15)), ("2:16.2.15-1", (16, 2, 15)),
    ("abc", (-1,)), ("", (-1,)), (None, (-1,)), (16, (16,)),
])
def test_version_key(text, key):
    assert kn.version_key(text) == key


@pytest.mark.parametrize("lower, higher", [
    ("17.2.0", "17.2.6-1234-gabcdef"), ("17.2.5", "17.2.6-1234-gabcdef"), ("17.2.6-1234-gabcdef", "17.2.7"),
    ("18.2.3", "18.2.4-0ubuntu0.24.04.1"), ("16.2.9", "16.2.10-208.el9cp"), ("16.2.10-208.el9cp", "16.2.11"),
    ("16.2.14", "16.2.15+ds-0+deb12u2"), ("0.94", "9.2.0"), ("0.56", "0.56.5"), ("abc", "0.48"),
])
def test_vendor_suffixes_order_as_their_upstream_version(lower, higher):
    assert kn.version_key(lower) < kn.version_key(higher)


@pytest.mark.parametrize("text, series", [("16.2.15", (16,)), ("9.2.1", (9,)), ("0.48.1", (0, 48)),
                                          ("0.56", (0, 56)), ("x", (-1,))])
def test_series(text, series):
    assert kn.series(text) == series


@pytest.mark.parametrize("text, upstream", [("16.2.15+ds-0+deb12u2", "16.2.15"), ("v0.48argonaut", "0.48"),
                                            ("junk", None)])
def test_upstream_version(text, upstream):
    assert kn.upstream_version(text) == upstream


# ---------------------------------------------------------------------------------------
# Releases

def test_releases_are_sorted_immutable_records():
    rels = kn.releases()
    assert isinstance(rels, tuple) and len(rels) > 30
    assert [r.key for r in rels] == sorted(r.key for r in rels)
    rel = kn.release("16.2.15")
    with pytest.raises(AttributeError):
        rel.codename = "x"
    with pytest.raises(TypeError):
        rel.facts["default_format"] = None
    assert isinstance(rel.facts, types.MappingProxyType)
    assert rel.rbd_version == (1, 16, 0) and isinstance(rel.rbd_version, tuple)
    assert kn.releases() is rels                      # loaded once


@pytest.mark.parametrize("version, exact, belongs, codename, label", [
    ("16.2.15", "16.2.15", "16.2.15", "pacific", "16.2.15 (pacific)"),
    ("16.2.15+ds-0+deb12u2", "16.2.15", "16.2.15", "pacific", "16.2.15+ds-0+deb12u2 (pacific)"),
    ("16.2.7", None, "16.2.0", "pacific", "16.2.7 (pacific)"),
    ("0.87", "0.87", "0.87", "giant", "0.87 (giant)"),
    ("0.87.2", None, "0.87", "giant", "0.87.2 (giant)"),
    ("0.48.2", None, "0.48.1", "argonaut", "0.48.2 (argonaut)"),
    ("15.2.7", None, "15.2.5", "octopus", "15.2.7 (octopus)"),
    ("10.1.0", None, None, None, "10.1.0"),           # a jewel release candidate: before the series' first entry
    ("0.49", None, None, None, "0.49"),               # a development release between argonaut and bobtail
    ("21.2.0", None, None, None, "21.2.0"),           # newer than the newest known series
    ("garbage", None, None, None, "garbage"),
])
def test_release_questions(version, exact, belongs, codename, label):
    assert (kn.release(version).version if kn.release(version) else None) == exact
    assert (kn.release_for(version).version if kn.release_for(version) else None) == belongs
    assert kn.codename(version) == codename
    assert kn.release_label(version) == label


@pytest.mark.parametrize("version, mask", [("16.2.15", 0xfff), ("14.2.21", 0x3ff), ("0.87", 0x3), ("0.48", 0),
                                           ("16.2.7", None), ("21.0.0", None)])
def test_known_mask(version, mask):
    assert kn.known_mask(version) == mask


def test_unverified_placeholders_carry_no_facts():
    for rel in kn.releases():
        if rel.verified:
            assert rel.source and rel.librbd_digest
            continue
        assert rel.unverified and rel.source is None and rel.rbd_version is None
        assert all(f.value is None and f.unverified for f in rel.facts.values())


# ---------------------------------------------------------------------------------------
# Features

def _features_h(version):
    return os.path.join(corpus.release_root(version), "usr/include/rbd/features.h")


def test_feature_names_and_bits_are_the_real_headers():
    """Oracle: RBD_FEATURE_NAME_* / RBD_FEATURE_* of the real features.h (Debian 20.2.4)."""
    text = open(_features_h("20.2.4")).read()
    names = dict(re.findall(r'#define RBD_FEATURE_NAME_(\w+)\s+"([^"]+)"', text))
    bits = {m: int(v) for m, v in re.findall(r"#define RBD_FEATURE_(\w+)\s+\(1ULL<<(\d+)\)", text)}
    assert names and bits
    assert {f.name: f.bit for f in kn.features()} == {names[m]: bits[m] for m in names}
    assert kn.feature_count() == len(names)
    assert [f.macro for f in kn.features()] == ["RBD_FEATURE_" + m for m, _ in sorted(bits.items(), key=lambda i: i[1])]


@pytest.mark.parametrize("version", corpus.RELEASES)
def test_known_mask_is_what_the_compiler_says_of_the_real_header(version, tmp_path):
    """Oracle: the C compiler evaluates RBD_FEATURES_ALL of the release's own features.h."""
    cc = shutil.which("cc")
    need(cc, "no C compiler")
    include = os.path.join(corpus.release_root(version), "usr/include")
    src = tmp_path / "all.c"
    src.write_text('#include <stdio.h>\n#include <rbd/features.h>\nint main(void){printf("%llu", '
                   '(unsigned long long)(RBD_FEATURES_ALL)); return 0;}\n')
    subprocess.check_call([cc, "-I", include, "-o", str(tmp_path / "all"), str(src)])
    value = int(subprocess.check_output([str(tmp_path / "all")]))
    assert kn.known_mask(version) == value


@pytest.mark.parametrize("mask, names", [
    (0, ()), (1, ("layering",)), (61, ("layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten")),
    (1 << 12, ("bit 12",)), ((1 << 40) | 2, ("striping", "bit 40")),
])
def test_feature_names(mask, names):
    assert kn.feature_names(mask) == names


@pytest.mark.parametrize("names, mask", [
    ("layering,exclusive-lock,object-map,fast-diff,deep-flatten", 61), ("layering+striping", 3),
    (["layering", 4], 5), (("journaling",), 64), (61, 61), ("61", 61), (["bit 12"], 1 << 12), ("", 0), ([], 0),
])
def test_feature_mask(names, mask):
    assert kn.feature_mask(names) == mask


@pytest.mark.parametrize("bad", ["layering,bogus", ["Layering"], ["bit x"]])
def test_feature_mask_rejects_unknown_names(bad):
    with pytest.raises(KnowledgeBaseError) as info:
        kn.feature_mask(bad)
    assert "unknown RBD feature name" in str(info.value)


def test_feature_mask_and_names_round_trip():
    for feat in kn.features():
        assert kn.feature_mask(kn.feature_names(feat.mask)) == feat.mask
        assert kn.feature(feat.name) is feat and kn.feature(feat.bit) is feat
    assert kn.feature("nope") is None and kn.feature(63) is None


@pytest.mark.parametrize("name, situation, versions, effect", [
    # fast-diff without object-map: internal.cc jumps to cleanup (9.2-10.2), validate_features -EINVAL
    # (11.2.0-15.2.7), dropped on 16.2.15 (live trials), unknown where nobody read it
    ("fast-diff", "alone", "9.2.0", "removed-rc0"), ("fast-diff", "alone", "10.2.6", "removed-rc0"),
    ("fast-diff", "alone", "11.2.0", "EINVAL"), ("fast-diff", "alone", "15.2.7", "EINVAL"),
    ("fast-diff", "alone", ["13.2.0", "13.2.2"], "EINVAL"), ("fast-diff", "alone", ["12.2.5", "13.2.2"], "EINVAL"),
    ("fast-diff", "alone", "14.2.21", None),                      # nautilus after 14.2.0: nobody read it
    ("fast-diff", "alone", ["10.2.9", "11.2.0"], None),           # the two disagree
    ("fast-diff", "alone", "15.2.8", None), ("fast-diff", "alone", "16.2.0", None),
    ("fast-diff", "alone", "16.2.15", "dropped"), ("fast-diff", "alone", "18.2.7", None),
    ("fast-diff", "alone", ["15.2.7", "16.2.15"], None),
    ("object-map", "alone", "16.2.15", "EINVAL"), ("journaling", "alone", "12.2.0", "EINVAL"),
    ("operations", "at-create", "13.2.0", "kept"), ("operations", "at-create", "13.2.1", "EINVAL"),
    ("operations", "at-create", "16.2.15", "dropped"), ("operations", "at-create", "12.2.0", None),
    ("migrating", "at-create", "15.2.5", "kept"), ("dirty-cache", "at-create", "16.2.15", "dropped"),
    ("data-pool", "at-create", "12.2.0", "dropped"), ("data-pool", "with-data-pool", "15.2.0", "set"),
    ("striping", "no-stripe-settings", "0.87", "kept"), ("striping", "no-stripe-settings", "12.2.0", "dropped"),
    ("striping", "no-stripe-settings", "16.2.15", "dropped"), ("striping", "no-stripe-settings", "0.48", None),
    ("striping", "no-stripe-settings", "18.2.7", None),
    ("layering", "alone", "16.2.15", None), ("nope", "alone", "16.2.15", None), ("fast-diff", "alone", [], None),
])
def test_feature_effect_per_release_range(name, situation, versions, effect):
    found = kn.feature_effect(name, situation, versions)
    assert (found.effect if found else None) == effect
    if found:
        assert found.source and found.summary and found.verified


def test_effect_ranges_never_bridge_an_unread_release():
    blind = [r.key for r in kn.releases() if not r.verified]
    for feat in kn.features():
        for effect in feat.effects:
            lo, hi = kn.version_key(effect.min), kn.version_key(effect.max)
            assert lo <= hi
            assert not any(lo < b <= hi for b in blind), (feat.name, effect)
            assert kn.series(effect.min) == kn.series(effect.max), (feat.name, effect)
            assert kn.version_key(feat.first_release) <= lo, (feat.name, effect)


def test_data_pool_special_case_is_data():
    via = [f for f in kn.features() if f.create_via]
    assert [f.name for f in via] == ["data-pool"]
    assert "RBD_IMAGE_OPTION_DATA_POOL" in via[0].create_via and "CreateRequest.cc" in via[0].create_via_source


# ---------------------------------------------------------------------------------------
# Functions

@pytest.mark.parametrize("name, library, first, exact, backports, text", [
    ("rbd_clone3", "librbd", "10.2.0", True, (), "first released in 10.2.0"),
    ("rbd_create", "librbd", "0.48", False, (), "present in 0.48, the oldest release known"),
    ("rados_connect", "librados", "0.48", False, (), "present in 0.48, the oldest release known"),
    ("rbd_write_zeroes", "librbd", "16.2.15", False, ("14.2.21", "15.2.5"),
     "first seen in 16.2.15 (Debian build; exact first release unverified) (backported to 15.2.5, 14.2.21)"),
    ("rbd_clone4", "librbd", "20.2.4", False, (), "first seen in 20.2.4 (Debian build; exact first release unverified)"),
    ("rbd_invalidate_cache", "librbd", "0.87", True, ("0.67.10", "0.80.6"),
     "first released in 0.87 (backported to 0.80.6, 0.67.10)"),
    ("rados_clone_range", "librados", "0.48", False, (), "present in 0.48, the oldest release known, removed in 12.2.0"),
])
def test_function_records_and_honest_wording(name, library, first, exact, backports, text):
    func = kn.function(name)
    assert (func.library, func.first, func.exact, func.backports) == (library, first, exact, backports)
    assert kn.first_release_text(name) == text


def test_unknown_function():
    assert kn.function("rbd_nonexistent") is None
    assert kn.first_release_text("rbd_nonexistent") == "not in the knowledge base"
    assert kn.present_in("rbd_nonexistent", "16.2.15") is None
    with pytest.raises(KnowledgeBaseError):
        kn.functions("libfoo")


@pytest.mark.parametrize("name, version, present", [
    ("rbd_write_zeroes", "15.2.0", False), ("rbd_write_zeroes", "15.2.5", True), ("rbd_write_zeroes", "15.2.7", True),
    ("rbd_write_zeroes", "14.2.0", False), ("rbd_write_zeroes", "14.2.21", True), ("rbd_write_zeroes", "16.2.15", True),
    ("rados_clone_range", "11.2.0", True), ("rados_clone_range", "12.2.0", False),
    ("rbd_create", "0.48", True), ("rbd_clone3", "9.2.1", False), ("rbd_aio_flush", "0.56.5", True),
    ("rbd_aio_flush", "0.56", False),
])
def test_present_in_with_backports_and_removal(name, version, present):
    assert kn.present_in(name, version) is present


def test_notes_never_contradict_backports():
    """'absent at X' in a note must be a release the function is really absent from."""
    for library in kn.SYMBOL_LIBRARIES:
        for func in kn.functions(library).values():
            for absent in re.findall(r"absent at ([\d.]+)", func.note or ""):
                assert not kn.present_in(func, absent), (func.name, func.note)


@pytest.mark.parametrize("version", corpus.RELEASES)
def test_expected_functions_are_what_the_real_builds_export(version):
    """Oracle: readelf --dyn-syms of the Debian build (defined FUNC rbd_*/rados_*)."""
    for library, soname in (("librbd", "librbd"), ("librados", "librados")):
        out = subprocess.check_output(["readelf", "--dyn-syms", "-W", corpus.library(version, soname)],
                                      universal_newlines=True)
        defined = {f[7].split("@")[0] for f in (line.split() for line in out.splitlines())
                   if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND" and kn.is_api_function(f[7])}
        assert kn.expected_functions(library, version) == defined, library


# ---------------------------------------------------------------------------------------
# Libraries, sonames, packages, symbol attribution

@pytest.mark.parametrize("symbol, library", [
    ("rbd_open", "librbd"), ("rbd_clone4@@LIBRBD", "librbd"), ("rados_connect", "librados"),
    ("rados_ioctx_pool_stat@@LIBRADOS_14.2.0", "librados"), ("rados_striper_create", "libradosstriper"),
    ("_ZN6librbd5Image4sizeEPm", "librbd"), ("_ZNK6librbd5Image8featuresEPm", "librbd"),
    ("_ZTVN6librbd5ImageE", "librbd"), ("_ZN8librados7v14_2_05IoCtx4readERKSt7string", "librados"),
    ("_ZN4ceph6buffer7v15_2_04list5c_strEv@@LIBRADOS_14.2.0", "libceph-common"),
    ("_ZN4ceph6common11CephContextC1Ej", "libceph-common"), ("ceph_ver__618f440892089921", "libceph-common"),
    ("_ZN15libradosstriper12RadosStriperC1Ev", "libradosstriper"), (b"rbd_open", "librbd"),
    ("_ZNSt6vectorIiSaIiEE", None), ("malloc", None), ("rbdx", None), ("_Z3foov", None),
])
def test_library_of(symbol, library):
    assert kn.library_of(symbol) == library


_LIBRARY_OF_CASES = ["rbd_open", "rbd_clone4@@LIBRBD", "rados_connect", "rados_striper_create", "rados_striper_",
                     "rados_striper", "rados_", "rbd_", "rbd", "ceph_ver__618f", "ceph_ver_", "_ZN6librbd5Image4sizeEPm",
                     "_ZN4ceph6common11CephContextC1Ej", "_ZN15libradosstriper12RadosStriperC1Ev", b"rbd_open",
                     b"rados_striper_x", "malloc", "", "_Z3foov", "rados_striper_x@LIBRADOS", "rbd_x@", "@rbd_x"]


@pytest.mark.parametrize("library", ["librbd", "librados", "libradosstriper", "libceph-common", "nothing"])
def test_names_of_is_library_of_over_a_set(library):
    """names_of (one pass per prefix) gives the names library_of gives to the library: on the
    cases above, every function the installed librbd and librados export, and all together."""
    from librbd_probe import elf
    real = set()
    for path in ("/usr/lib/x86_64-linux-gnu/librbd.so.1", "/usr/lib/x86_64-linux-gnu/librados.so.2"):
        real |= {s.name for s in elf.read_elf(path).symbols}
    assert len(real) > 1000
    for names in (_LIBRARY_OF_CASES, sorted(real), sorted(real, key=str)[::-1] + _LIBRARY_OF_CASES, []):
        assert kn.names_of(names, library) == frozenset(n for n in names if kn.library_of(n) == library)
    if library in ("librbd", "librados"):
        assert len(kn.names_of(real, library)) > 200


def _dynsyms(path):
    out = subprocess.check_output(["readelf", "--dyn-syms", "-W", path], universal_newlines=True)
    defined, undefined = set(), set()
    for fields in (line.split() for line in out.splitlines()):
        if len(fields) >= 8 and fields[0].endswith(":") and fields[7] != "":
            name = fields[7].split("@")[0]
            (undefined if fields[6] == "UND" else defined).add(name)
    return defined, undefined


@pytest.mark.parametrize("version", ("16.2.15", "20.2.4"))
def test_library_of_agrees_with_who_really_defines_the_symbol(version):
    """Oracle: readelf.  Every symbol librbd imports that library_of attributes to librados or
    libceph-common is defined there; every C/C++ API symbol a library defines is attributed to it."""
    libs = {"librbd": corpus.library(version, "librbd"), "librados": corpus.library(version, "librados"),
            "libceph-common": corpus.library(version, "libceph-common")}
    tables = {name: _dynsyms(path) for name, path in libs.items()}
    rbd_undefined = tables["librbd"][1]
    attributed = 0
    for symbol in rbd_undefined:
        owner = kn.library_of(symbol)
        if owner in ("librados", "libceph-common"):
            assert symbol in tables[owner][0], (symbol, owner)
            attributed += 1
    assert attributed > 50
    for name in ("librbd", "librados"):
        for symbol in tables[name][0]:
            if kn.is_api_function(symbol) or symbol.startswith("_ZN" + ("6librbd" if name == "librbd" else "8librados")):
                assert kn.library_of(symbol) == name, symbol


@pytest.mark.parametrize("name, ok", [("rbd_open", True), ("rados_connect", True), (b"rbd_x", True),
                                      ("_ZN6librbd5ImageC1Ev", False), ("ceph_ver__x", False), ("rbdopen", False),
                                      (None, False)])
def test_is_api_function(name, ok):
    assert kn.is_api_function(name) is ok


@pytest.mark.parametrize("version", corpus.RELEASES)
def test_sonames_are_the_real_dt_sonames(version):
    """Oracle: readelf -d of each Debian build."""
    for name in ("librbd", "librados", "libceph-common"):
        out = subprocess.check_output(["readelf", "-d", corpus.library(version, name)], universal_newlines=True)
        real = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out).group(1)
        assert kn.soname(name, version) == real
        if name != "libceph-common" or version != "14.2.21":
            assert kn.soname(name) == real


@pytest.mark.parametrize("version", ("14.2.21", "16.2.15"))
def test_packages_ship_their_libraries(version):
    """Oracle: dpkg-deb -c of the real Debian packages in the corpus."""
    debs = glob.glob(os.path.join(corpus.CORPUS, "debian", "{}_amd64".format(version), "debs", "*.deb"))
    need(debs and shutil.which("dpkg-deb"), "no Debian packages or no dpkg-deb")
    for name in ("librbd", "librados", "libceph-common"):
        soname = kn.soname(name, version)
        packages = kn.packages(name)["debian"]
        owners = []
        for deb in debs:
            package = os.path.basename(deb).split("_")[0]
            listing = subprocess.check_output(["dpkg-deb", "-c", deb], universal_newlines=True)
            if re.search(r"/" + re.escape(soname) + r"( |$)", listing, flags=re.M):
                owners.append(package)
        assert owners and set(owners) <= set(packages), (name, owners, packages)


def test_library_records_and_errors():
    assert [lib.name for lib in kn.libraries()] == ["librbd", "librados", "libradosstriper", "libceph-common"]
    assert kn.soname("libradosstriper") == "libradosstriper.so.1"
    with pytest.raises(KnowledgeBaseError):
        kn.library("libfoo")
    with pytest.raises(TypeError):
        kn.packages("librbd")["debian"] = ("x",)
    dirs = kn.install_dirs()
    assert "/usr/lib64" in dirs.value and dirs.source and all(d.startswith("/") for d in dirs.value)
    assert kn.api_prefixes() == ("rbd_", "rados_") and kn.api_prefixes_bytes() == (b"rbd_", b"rados_")


# ---------------------------------------------------------------------------------------
# Capabilities, errors

def test_capabilities_and_signatures_are_records():
    caps = kn.capabilities()
    assert caps and all(isinstance(c.requires, tuple) and all(isinstance(a, tuple) for a in c.requires) for c in caps)
    assert kn.capability("create.format1").release_policy == "format1_create"
    assert kn.capability("nope") is None
    for cap in caps:
        for alt in cap.requires:
            assert all(kn.function(name) is not None for name in alt), cap.id
    sigs = kn.error_signatures()
    assert sigs and all(isinstance(s.patterns, tuple) and s.source for s in sigs)
    assert kn.errno_info(-110).number == 110 and kn.errno_info(2).meaning
    assert kn.errno_info(99999) is None
    assert kn.cluster_features() and all(f.names for f in kn.cluster_features())
    assert kn.callers() and kn.binding_kinds()


def test_binding_eras_follow_the_sources():
    """rbd.py (ctypes) shipped through infernalis 9.2.x; rbd.pyx first in jewel 10.2.0."""
    kinds = {b.kind: b for b in kn.binding_kinds()}
    assert kinds["ctypes"].last == "9.2.1" and kinds["cython"].first == "10.2.0"
    assert "0.94 hammer" not in kinds["ctypes"].note and "9.2" in kinds["ctypes"].source
    assert kn.version_key(kinds["ctypes"].last) < kn.version_key(kinds["cython"].first)
    # the ctypes-era RBD.clone called only rbd_clone
    assert "rbd_clone2" not in kn.capability("clone.basic").binding
    assert "no Python binding calls rbd_clone2" in kn.capability("clone.features").binding


# ---------------------------------------------------------------------------------------
# Debian rows: option defaults read from the real binaries

@pytest.mark.parametrize("version", corpus.RELEASES)
def test_debian_default_features_are_in_libceph_common_rodata(version):
    """Oracle: `strings` over the real libceph-common (binutils), not this package's ELF reader."""
    need(shutil.which("strings"), "binutils strings")
    rel = kn.release(version)
    fact = rel.facts["default_features"]
    assert fact.value == "layering,exclusive-lock,object-map,fast-diff,deep-flatten" and ".rodata" in fact.source
    out = subprocess.check_output(["strings", "-n", "8", corpus.library(version, "libceph-common")],
                                  universal_newlines=True).splitlines()
    lists = {s for s in out if re.match(r"^(layering|striping|exclusive-lock)(,[a-z-]+)+$", s)}
    assert lists == {fact.value}
    assert rel.feature_names_accepted is True
    if version == "16.2.15":
        assert rel.default_format == 2 and "runtime probe" in rel.facts["default_format"].source
    else:
        assert rel.default_format is None and rel.facts["default_format"].unverified


def test_default_format_of_16_2_15_is_what_the_installed_library_says(installed):
    """Oracle: the real installed librados (rados_conf_get with an empty configuration)."""
    code = ("import ctypes; r=ctypes.CDLL('librados.so.2'); c=ctypes.c_void_p(); "
            "assert r.rados_create(ctypes.byref(c), None)==0; r.rados_conf_read_file(c, b'/dev/null'); "
            "b=ctypes.create_string_buffer(64); assert r.rados_conf_get(c, b'rbd_default_format', b, 64)==0; "
            "print(b.value.decode())")
    out = subprocess.check_output([sys.executable, "-c", code], universal_newlines=True).strip()
    assert int(out) == kn.release("16.2.15").default_format


def test_argonaut_point_releases_report_rados_version_0_48():
    assert kn.release("0.48").rados_version == (0, 44, 0)
    assert kn.release("0.48.1").rados_version == (0, 48, 0)
    assert kn.release_for("0.48.3").version == "0.48.1"
    assert kn.expected_functions("librados", "0.48") == kn.expected_functions("librados", "0.48.1")


# ---------------------------------------------------------------------------------------
# Loading: lazily, once, from a zip

def _run(code, path=PROJECT):
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, cwd="/")


def test_nothing_is_read_at_import_and_each_file_once():
    code = ("import librbd_probe.knowledge as kn\n"
            "reads = []\n"
            "real = kn._get_data\n"
            "kn._get_data = lambda r: reads.append(r) or real(r)\n"
            "import librbd_probe, librbd_probe.identify, librbd_probe.matrix\n"
            "assert reads == [], reads\n"
            "kn.release_label('16.2.15'); kn.releases(); kn.codename('0.87'); kn.feature_names(3); kn.features()\n"
            "print(' '.join(sorted(reads)))\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    reads = proc.stdout.split()
    # each data file once, and once its compiled form (knowledge.compile_data), where shipped
    assert [r for r in reads if not r.endswith(".marshal")] == ["data/features.json", "data/releases.json"]
    assert [r for r in reads if r.endswith(".marshal")] == ["data/features.json.marshal", "data/releases.json.marshal"]


def test_loads_from_a_zip(tmp_path):
    archive = tmp_path / "app.pyz"
    with zipfile.ZipFile(str(archive), "w") as zf:
        for root, _, files in os.walk(os.path.join(PROJECT, "librbd_probe")):
            for name in files:
                if name.endswith((".py", ".json")):
                    full = os.path.join(root, name)
                    zf.write(full, os.path.relpath(full, PROJECT))
    proc = _run("import librbd_probe.knowledge as kn; assert '.pyz' in kn.__file__; "
                "print(kn.release_label('16.2.15'), kn.feature_count(), len(kn.capabilities()))", str(archive))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["16.2.15", "(pacific)", "12", str(len(kn.capabilities()))]


def test_malformed_file_is_a_one_line_knowledge_base_error(monkeypatch):
    # (the compiled tables too: an installed package, as tox tests it, has them for features.json)
    kn.load.cache_clear()
    kn.features.cache_clear()
    kn._compiled_tables.cache_clear()
    try:
        monkeypatch.setattr(kn, "_get_data", lambda resource: b'{"schema_version": 2}')
        with pytest.raises(KnowledgeBaseError) as info:
            kn.features()
        assert str(info.value) == "data/features.json: schema_version must be 1"
        kn.load.cache_clear()
        monkeypatch.setattr(kn, "_get_data", lambda resource: b"{not json")
        with pytest.raises(KnowledgeBaseError) as info:
            kn.load("features.json")
        assert "invalid JSON" in str(info.value) and "\n" not in str(info.value)
        kn.load.cache_clear()
        monkeypatch.setattr(kn, "_get_data", lambda resource: b'{"schema_version": 1, "features": [{"bit": 1, "name": "x", '
                                                                b'"mask": 4, "source": "s"}]}')
        with pytest.raises(KnowledgeBaseError) as info:
            kn.features()
        assert "malformed feature" in str(info.value)
    finally:
        kn.load.cache_clear()
        kn.features.cache_clear()
        kn._features_by_name.cache_clear()
        kn._compiled_tables.cache_clear()


def test_files_lists_every_shipped_data_file():
    assert sorted(kn.FILES) == sorted(os.path.basename(p) for p in DATA_FILES)
    for name in kn.FILES:
        assert kn.load(name)["schema_version"] == kn.SCHEMA_VERSION == 1


@pytest.mark.parametrize("fact, verified", [
    (kn.Fact(1, "src", None), True), (kn.Fact(None, "src", None), True), (kn.Fact(None, None, "why"), False),
    (kn.Fact(2, "src", "why"), False), (kn.Fact(2, None, None), False)])
def test_fact_verified(fact, verified):
    assert fact.verified is verified


@pytest.fixture
def fake_data(monkeypatch):
    """Serve hand-made data files; every cache is cleared before and after."""
    def caches():
        for name in dir(kn):
            obj = getattr(kn, name)
            if hasattr(obj, "cache_clear"):
                obj.cache_clear()
    files = {}

    def get_data(resource):
        name = resource.split("/", 1)[1]
        if name not in files:
            raise FileNotFoundError(2, "No such file or directory")
        value = files[name]
        return None if value is None else json.dumps(value).encode() if not isinstance(value, bytes) else value
    caches()
    monkeypatch.setattr(kn, "_get_data", get_data)
    yield files
    caches()


@pytest.mark.parametrize("name, content, call, message", [
    ("releases.json", "missing", kn.releases, "data/releases.json: cannot be read: [Errno 2] No such file or directory"),
    ("releases.json", None, kn.releases, "data/releases.json: not shipped with the package"),
    ("releases.json", {"schema_version": 1}, kn.releases, "data/releases.json: 'releases' must be a list"),
    ("releases.json", {"schema_version": 1, "releases": [{"codename": "x"}]}, kn.releases,
     "data/releases.json: every release needs a version string"),
    ("releases.json", {"schema_version": 1, "releases": [{"version": "1.2.3", "rbd_version": 5}]}, kn.releases,
     "data/releases.json: release 1.2.3 field 'rbd_version' must be an object with a value"),
    ("releases.json", {"schema_version": 1, "releases": [{"version": "1.2.3", "rbd_version": {"value": [1, 2, 3]}}]},
     kn.releases, "data/releases.json: release 1.2.3 field 'rbd_version' has a value without a source"),
    ("librbd_symbols.json", {"schema_version": 1, "symbols": []}, lambda: kn.functions("librbd"),
     "data/librbd_symbols.json: 'symbols' must be an object"),
    ("librbd_symbols.json", {"schema_version": 1, "symbols": {"rbd_x": {"first": "1.0"}}}, lambda: kn.functions("librbd"),
     "data/librbd_symbols.json: malformed entry 'rbd_x'"),
    ("features.json", {"schema_version": 1, "features": [{"bit": 0, "name": "a", "mask": 1, "source": "s",
                                                          "effects": [{"situation": "alone"}]}]}, kn.features,
     "data/features.json: feature 'a': malformed effect {'situation': 'alone'}"),
    ("features.json", {"schema_version": 1, "features": [{"bit": 0, "name": "a", "mask": 1, "source": "s",
                                                          "effects": [{"situation": "alone", "effect": "EINVAL",
                                                                       "source": "s", "min": "1.0"}]}]}, kn.features,
     "data/features.json: feature 'a': effect without min/max"),
    ("capabilities.json", {"schema_version": 1, "capabilities": [{"id": "x", "requires": [[]], "source": "s"}]},
     kn.capabilities, "data/capabilities.json: malformed entry 'x'"),
    ("capabilities.json", {"schema_version": 1, "capabilities": ["x"]}, kn.capabilities,
     "data/capabilities.json: malformed entry 'x'"),
    ("errors.json", {"schema_version": 1, "signatures": [{"id": "e", "patterns": "p", "source": "s"}]},
     kn.error_signatures, "data/errors.json: malformed signature 'e'"),
    ("libraries.json", {"schema_version": 1, "libraries": [{"name": "librbd"}]}, kn.libraries,
     "data/libraries.json: malformed library 'librbd'"),
    ("libraries.json", {"schema_version": 1, "libraries": [], "install_dirs": {"value": "/x", "source": "s"}},
     kn.install_dirs, "data/libraries.json: 'install_dirs' must be an object with a value list and a source"),
])
def test_malformed_data_is_named(fake_data, name, content, call, message):
    if content != "missing":
        fake_data[name] = content
    if name != "releases.json":
        fake_data["releases.json"] = {"schema_version": 1, "releases": [{"version": "0.48"}]}
    with pytest.raises(KnowledgeBaseError) as info:
        call()
    assert str(info.value) == message


def test_minimal_entries_get_empty_defaults(fake_data):
    fake_data["releases.json"] = {"schema_version": 1, "releases": [
        {"version": "2.0", "codename": "b", "source_kind": "upstream-source", "ref": "r"},
        {"version": "1.0", "codename": "a", "source_kind": "unverified", "unverified": "no source"}]}
    first, second = kn.releases()
    assert (first.version, first.verified, first.source, first.unverified) == ("1.0", False, None, "no source")
    assert (second.version, second.verified, second.source) == ("2.0", True, "r")
    assert second.header_vs_exports == {} and isinstance(second.header_vs_exports, types.MappingProxyType)
    assert second.facts["rbd_version"] == kn.Fact(None, None, "not recorded")
    fake_data["features.json"] = {"schema_version": 1, "features": [{"bit": 0, "name": "a", "mask": 1, "source": "s"}]}
    (feat,) = kn.features()
    assert (feat.requires, feat.effects, feat.internal, feat.first_release, feat.create_via) == ((), (), False, None, None)
    fake_data["librbd_symbols.json"] = {"schema_version": 1, "symbols": {
        "rbd_a": {"first": "1.0", "source": "Debian 1.0 package"}, "rbd_b": {"first": "1.0", "source": "hdr"},
        "rbd_c": {"first": "2.0", "source": "hdr", "backports": ["1.5", "1.2"]}}}
    funcs = kn.functions("librbd")
    assert (funcs["rbd_a"].exact, funcs["rbd_b"].exact, funcs["rbd_c"].exact) == (False, False, True)
    assert funcs["rbd_c"].backports == ("1.2", "1.5")
    fake_data["errors.json"] = {"schema_version": 1, "signatures": [{"id": "e", "patterns": ["p"], "source": "s"}],
                                "errno": {"5": {"meaning": "io"}}, "bindings": [{"kind": "k"}]}
    (sig,) = kn.error_signatures()
    assert (sig.patterns, sig.symbols, sig.capability) == (("p",), (), None)
    assert kn.errno_info(-5) == kn.ErrnoInfo(5, "io", ())
    assert kn.binding_kinds() == (kn.BindingKind("k", None, None, None, None, None),)
    assert kn.cluster_features() == () and kn.callers() == ()


def test_unverified_facts_keep_their_reason():
    assert kn.release("18.2.7").facts["default_format"] == kn.Fact(
        None, None, "an integer default compiled into code (not in .rodata); no runtime probe of this build here")
    assert kn.release("16.2.0").facts["rbd_version"] == kn.Fact(None, None, "not recorded")
    assert kn.release("0.48").facts["libceph_common_soname"].unverified is None


def test_fact_shapes(fake_data):
    fake_data["releases.json"] = {"schema_version": 1, "releases": [{"version": "1.0", "ref": "r",
        "rbd_version": {"value": [1, 2, 3], "source": "s", "unverified": "doubt"},
        "rados_version": {"value": None, "source": "s"},
        "rbd_features_all": {"value": None, "unverified": "why"},
        "default_format": {"value": None}}]}
    (rel,) = kn.releases()
    assert rel.facts["rbd_version"] == kn.Fact((1, 2, 3), "s", "doubt")
    assert rel.facts["rados_version"] == kn.Fact(None, "s", None)
    assert rel.facts["rbd_features_all"] == kn.Fact(None, None, "why")
    assert rel.facts["default_format"] == kn.Fact(None, None, "not recorded")
    assert rel.rbd_version == (1, 2, 3)


def _plainify(value):
    if isinstance(value, tuple):
        return [_plainify(v) for v in value]
    if isinstance(value, types.MappingProxyType):
        return {k: _plainify(v) for k, v in value.items()}
    return value


def test_records_carry_every_field_of_the_files():
    """Round trip: each record field is the file's value (the loader drops or renames nothing)."""
    rename = {"first_release": "first"}
    by_version = {e["version"]: e for e in _doc("releases")["releases"]}
    for rel in kn.releases():
        entry = by_version[rel.version]
        assert (rel.codename, rel.source_kind, rel.tag, rel.unverified) == (
            entry["codename"], entry["source_kind"], entry["tag"], entry.get("unverified"))
        assert (rel.librbd_digest, rel.librados_digest, rel.debian_version) == (
            entry.get("librbd_digest"), entry.get("librados_digest"), entry.get("debian_version"))
        assert rel.source == entry.get("ref") and rel.verified is (entry["source_kind"] != "unverified")
        assert _plainify(rel.header_vs_exports) == entry.get("header_vs_exports", {})
        for key in kn.RELEASE_FACTS:
            field = entry.get(key)
            if field is not None:
                assert _plainify(getattr(rel, key)) == field["value"]
                assert rel.facts[key].source == field.get("source")
    by_name = {e["name"]: e for e in _doc("features")["features"]}
    for feat in kn.features():
        entry = by_name[feat.name]
        for field in feat._fields:
            if field == "effects":
                assert [dict(e._asdict()) for e in feat.effects] == entry["effects"]
                continue
            value = entry.get(rename.get(field, field))
            if field in ("internal", "implicit", "mutable", "single_client", "dropped_at_create"):
                value = bool(value)
            if field == "requires":
                value = value or []
            assert _plainify(getattr(feat, field)) == value, (feat.name, field)
    for lib in kn.libraries():
        entry = [e for e in _doc("libraries")["libraries"] if e["name"] == lib.name][0]
        assert {f: _plainify(getattr(lib, f)) for f in lib._fields} == entry
    for cap in kn.capabilities():
        entry = [e for e in _doc("capabilities")["capabilities"] if e["id"] == cap.id][0]
        assert {f: _plainify(getattr(cap, f)) for f in cap._fields if getattr(cap, f) is not None} == entry
    for sig in kn.error_signatures():
        entry = [e for e in _doc("errors")["signatures"] if e["id"] == sig.id][0]
        got = {f: _plainify(getattr(sig, f)) for f in sig._fields if getattr(sig, f) is not None}
        assert got == dict(entry, symbols=entry.get("symbols", []))


@pytest.mark.parametrize("names, mask", [(["layering", "4"], 5), (["striping", "bit 12"], 4098), ("3,4", 7)])
def test_feature_mask_accumulates(names, mask):
    assert kn.feature_mask(names) == mask


def test_exact_error_sentences(fake_data):
    fake_data["features.json"] = {"schema_version": 1, "features": [{"bit": 1, "name": "x", "mask": 4, "source": "s"}]}
    with pytest.raises(KnowledgeBaseError) as info:
        kn.features()
    assert str(info.value) == "data/features.json: malformed feature 'x'"


def test_an_effect_may_lack_a_source_only_when_unverified(fake_data):
    effect = {"situation": "alone", "effect": "EINVAL", "verified": False, "min": "1.0", "max": "1.0"}
    fake_data["features.json"] = {"schema_version": 1, "features": [{"bit": 0, "name": "a", "mask": 1, "source": "s",
                                                                      "effects": [effect]}]}
    (feat,) = kn.features()
    assert feat.effects == (kn.Effect("alone", "EINVAL", "1.0", "1.0", False, None, None, "EINVAL"),)
    kn.load.cache_clear()
    kn.features.cache_clear()
    effect["verified"] = True
    with pytest.raises(KnowledgeBaseError) as info:
        kn.features()
    assert str(info.value).startswith("data/features.json: feature 'a': malformed effect")


def test_exact_unknown_name_message():
    with pytest.raises(KnowledgeBaseError) as info:
        kn.feature_mask("layering,bogus")
    assert str(info.value) == "unknown RBD feature name 'bogus' (known: {})".format(
        ", ".join(f.name for f in kn.features()))
    assert ", ".join(f.name for f in kn.features()).startswith("layering, striping, exclusive-lock")


def test_release_for_is_none_outside_known_series():
    assert kn.release_for("0.49") is None and kn.release_for("junk") is None and kn.codename("0.49") is None


def test_effect_verified_default_and_invalid_json(fake_data):
    fake_data["features.json"] = {"schema_version": 1, "features": [{"bit": 0, "name": "a", "mask": 1, "source": "s",
                                  "effects": [{"situation": "alone", "effect": "EINVAL", "source": "s",
                                               "min": "1.0", "max": "2.0"}]}]}
    (feat,) = kn.features()
    assert feat.effects[0].verified is True and feat.effects[0].covers("1.5") and not feat.effects[0].covers("2.1")
    kn.load.cache_clear()
    fake_data["features.json"] = b"{not json"
    with pytest.raises(KnowledgeBaseError) as info:
        kn.load("features.json")
    assert str(info.value).startswith("data/features.json: invalid JSON: Expecting property name")
