"""Release identification: the real Debian builds (static, via --root) and historic stand-ins."""
import json
import os

import pytest

import corpus
import stubs
from librbd_probe import cli, identify
from librbd_probe import knowledge as kn


def _scan(capsys, argv):
    code = cli.main(argv + ["--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("version, arch, codename", [
    ("14.2.21", "amd64", "nautilus"), ("16.2.15", "amd64", "pacific"), ("18.2.7", "amd64", "reef"),
    ("20.2.4", "amd64", "tentacle"), ("16.2.15", "arm64", "pacific")])
def test_debian_builds_identified_statically(capsys, version, arch, codename):
    root = corpus.release_root(version, arch)
    code, data = _scan(capsys, ["--root", root])
    assert code == 0, data["problems"]
    assert data["mode"] == "static" and data["runtime"]["attempted"] is False
    release = data["release"]
    assert release["version"] == version and release["codename"] == codename
    assert release["confidence"] == "high", release
    assert any("exactly the C functions" in e for e in release["evidence"])
    assert any(".rodata" in e for e in release["evidence"])
    assert data["libraries"]["librbd"]["realpath"].startswith(root)
    assert data["libraries"]["libceph-common"]["found"]


UPSTREAM = [r.version for r in kn.releases() if r.source_kind == "upstream-source" and r.key < (16,)]


def test_every_named_release_from_argonaut_to_octopus_is_covered():
    named = {r.codename for r in kn.releases() if r.version in UPSTREAM}
    assert named >= {"argonaut", "bobtail", "cuttlefish", "dumpling", "emperor", "firefly", "giant", "hammer",
                     "infernalis", "jewel", "kraken", "luminous", "mimic", "nautilus", "octopus"}


@pytest.mark.parametrize("version", UPSTREAM)
def test_historic_standin_identified(capsys, version):
    librbd, librados = stubs.build_release_standin(version)
    code, data = _scan(capsys, ["--librbd", librbd, "--librados", librados, "--conf", "/dev/null"])
    assert code == 0, data["runtime"]
    release = data["release"]
    key = identify.version_key(version)
    assert identify.version_key(release["min"]) <= key, release
    assert release["before"] is None or key < identify.version_key(release["before"]), release
    rel = stubs.release_entry(version)
    assert data["runtime"]["rbd_version"] == rel["rbd_version"]["value"]
    assert rel["codename"] in release["codename"].split("/")


def test_mixed_releases_are_reported(capsys):
    code, data = _scan(capsys, ["--no-runtime", "--librbd", corpus.library("14.2.21", "librbd"),
                                "--librados", corpus.library("20.2.4", "librados")])
    mixed = [p for p in data["problems"] if p["id"] == "release.mixed"]
    assert mixed and "different releases" in mixed[0]["message"]


def test_standin_format1_policy_follows_release(capsys):
    for version, expected in (("0.87", "yes"), ("13.2.0", "no")):
        librbd, librados = stubs.build_release_standin(version)
        _, data = _scan(capsys, ["--librbd", librbd, "--librados", librados, "--conf", "/dev/null"])
        assert data["capabilities"]["create.format1"]["status"] == expected, (version, data["capabilities"]["create.format1"])


def test_host_create_format1_is_no(installed, capsys):
    code, data = _scan(capsys, [])
    row = data["capabilities"]["create.format1"]
    assert row["status"] == "no" and "RBD_FORCE_ALLOW_V1" in row["reason"]
    assert data["release"]["version"] == "16.2.15" and data["release"]["confidence"] == "high"


def test_version_finder_equals_its_regex_on_real_libraries():
    import glob
    finder = identify.version_string_pattern()
    paths = glob.glob(os.path.join(corpus.CORPUS, "debian", "*", "root", "usr/lib/*/ceph/libceph-common.so.*"))
    paths.append("/usr/lib/x86_64-linux-gnu/ceph/libceph-common.so.2")
    checked = 0
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path, "rb") as handle:
            data = handle.read()
        ours = [(m.start(), m.group(1)) for m in finder.finditer(data)]
        assert ours == [(m.start(), m.group(1)) for m in finder.REGEX.finditer(data)], path
        checked += 1
    synthetic = b"\x0016.2.15\x00x116.2.15\x00\x001.2.3\x00\x0012.34.567\x00\x001.2.3456\x00.1.2\x00"
    assert [m.group(1) for m in finder.finditer(synthetic)] == [m.group(1) for m in finder.REGEX.finditer(synthetic)]
    assert checked >= 5


# ---------------------------------------------------------------------------------------
# The core on hand-built evidence (no host needed).  The function sets come from the data
# files through tests/stubs.py's own reading of them, not from the package's.

def _obs(rbd=None, rados=None, **kw):
    """An Observation whose librbd/librados export exactly the functions of releases rbd/rados."""
    return identify.Observation(
        librbd_functions=frozenset(stubs.functions_of("librbd", rbd)) if rbd else kw.pop("librbd_functions", None),
        librados_functions=frozenset(stubs.functions_of("librados", rados or rbd)) if (rados or rbd) else None, **kw)


IDENTIFY_TABLE = [
    # (id, observation kwargs, expected fields, problem ids, evidence fragments)
    ("debian-14.2.21-exact", dict(rbd="14.2.21", version_string="14.2.21", rbd_version=(1, 12, 0),
                                  common_soname="libceph-common.so.0"),
     dict(version="14.2.21", codename="nautilus", min="14.2.21", before="15.2.0", confidence="high",
          label="14.2.21 (nautilus)"),
     (), ("librados needs libceph-common.so.0, as the identified release ships",)),
    ("soname-disagrees", dict(rbd="14.2.21", version_string="14.2.21", common_soname="libceph-common.so.2"),
     dict(version="14.2.21", confidence="high"), ("release.common-soname",),
     ("librados needs libceph-common.so.2; the identified release ships libceph-common.so.0",)),
    ("argonaut-no-common", dict(rbd="0.48", rados_version=(0, 44, 0), common_soname="libceph-common.so.2"),
     dict(min="0.48", before="0.48.1", codename="argonaut"), ("release.common-soname",),
     ("narrows the match to 0.48", "the identified release ships no shared libceph-common")),
    ("argonaut-0.48.1", dict(rbd="0.48.1", rados_version=(0, 48, 0)),
     dict(min="0.48.1", before="0.56", candidates=("0.48.1",), label="0.48.1 to before 0.56 (argonaut)"), (),
     ("rados_version() = 0.48.0 narrows the match to 0.48.1",)),
    ("rados-version-disagrees", dict(rbd="0.87", rados_version=(9, 9, 9)), dict(min="0.87"),
     ("release.rados-version",), ("rados_version() = 9.9.9",)),
    ("octopus-ruled-out-pacific", dict(rbd="15.2.5", rbd_version=(1, 15, 0)),
     dict(min="15.2.5", before="16.2.0", codename="octopus", confidence="medium",
          label="15.2.5 to before 16.2.0 (octopus)"), (),
     ("rbd_version() 1.15.0 is octopus's, not pacific's (16.2.15 reports 1.16.0): not pacific, so the range ends "
      "before 16.2.0",)),
    ("octopus-without-rbd-version", dict(rbd="15.2.5"),
     dict(min="15.2.5", before="16.2.0", codename="octopus", confidence="low"), (),
     ("16.2.0 (pacific) has no symbol data (sources not reachable): a build from 16.2.0 on is not ruled out "
      "(rbd_version() not observed)",)),
    ("rbd-version-disagrees", dict(rbd="15.2.5", rbd_version=(1, 16, 0)), dict(min="15.2.5", confidence="low"),
     ("release.rbd-version",), ("a build from 16.2.0 on is not ruled out",)),
    ("vendor-suffix-debian", dict(rbd="16.2.15", version_string="16.2.15+ds-0+deb12u2"),
     dict(version="16.2.15+ds-0+deb12u2", codename="pacific", confidence="high"), (), ()),
    ("vendor-suffix-git", dict(rbd="18.2.7", version_string="18.2.7-1234-gabcdef"),
     dict(codename="reef", confidence="high", min="18.2.7", before="19.2.0"), (), ()),
    ("vendor-in-unverified-stretch", dict(rbd="16.2.15", version_string="16.2.10-208.el9cp"),
     dict(codename="pacific", confidence="medium"), (),
     ("16.2.10-208.el9cp lies in 16.2.0 (pacific)'s unverified stretch before 16.2.15",)),
    ("exact-disagrees", dict(rbd="0.87", version_string="16.2.15", version_source="libceph-common"),
     dict(version="16.2.15", confidence="low"), ("release.disagree",),
     ("libceph-common reports 16.2.15",)),
    ("mixed", dict(rbd="14.2.21", rados="20.2.4"), dict(min="14.2.21"), ("release.mixed",), ()),
    ("nothing", dict(), dict(version=None, min=None, confidence="none", label=None, candidates=()), (), ()),
    ("version-only", dict(version_string="17.2.6", release_name="quincy"),
     dict(version="17.2.6", codename="quincy", confidence="medium", label="17.2.6 (quincy)"), (), ()),
    ("git-sha", dict(rbd="16.2.15", git_sha="618f44"), dict(min="16.2.15"), (),
     ("libceph-common carries ceph_ver__618f44",)),
]


@pytest.mark.parametrize("case", IDENTIFY_TABLE, ids=[c[0] for c in IDENTIFY_TABLE])
def test_identify_table(case):
    _, kwargs, expected, problem_ids, fragments = case
    result, problems = identify.identify(_obs(**kwargs))
    assert isinstance(result, identify.Identification)
    for key, value in expected.items():
        assert getattr(result, key) == value, (key, result)
    assert tuple(p.id for p in problems) == problem_ids
    for fragment in fragments:
        assert any(fragment in line for line in result.evidence), (fragment, result.evidence)


def test_fingerprint_mismatch_names_the_closest_release():
    names = frozenset(stubs.functions_of("librbd", "16.2.15")) - {"rbd_encryption_format"} | {"rbd_vendor_extra"}
    result, problems = identify.identify(identify.Observation(librbd_functions=names))
    assert [p.id for p in problems] == ["release.fingerprint"]
    assert "closest is 16.2.15 (pacific), with 1 missing (rbd_encryption_format)" in problems[0].message
    assert result.candidates == ("16.2.15",)


FACT_TABLE = [
    # observation, key, value (None: undetermined), source fragment
    (dict(rbd="15.2.5", rbd_version=(1, 15, 0)), "format1_create", "refused-unless-RBD_FORCE_ALLOW_V1", "15.2.5"),
    (dict(rbd="15.2.5"), "format1_create", None, "16.2.0: no source for this release was reachable"),
    (dict(rbd="0.87"), "format1_create", "allowed", "0.87"),
    (dict(rbd="0.48", rados_version=(0, 44, 0)), "libceph_common_soname", None, "no shared libceph-common"),
    (dict(rbd="14.2.21", version_string="14.2.21"), "libceph_common_soname", "libceph-common.so.0", "14.2.21"),
    (dict(rbd="16.2.15", version_string="16.2.15"), "default_features", 61, ".rodata"),
    (dict(rbd="16.2.15", version_string="16.2.15"), "default_format", 2, "runtime probe"),
    (dict(rbd="18.2.7", version_string="18.2.7"), "default_format", None, "not in .rodata"),
    (dict(rbd="0.94"), "default_features", 3, "config_opts.h"),
    (dict(rbd="16.2.15", version_string="16.2.7"), "rbd_features_all", None, "16.2.0"),
    (dict(), "rbd_features_all", None, "release not identified"),
    (dict(version_string="21.2.0"), "rbd_features_all", None, "no knowledge-base entry for the 21 series"),
]


@pytest.mark.parametrize("kwargs, key, value, fragment", FACT_TABLE)
def test_release_facts_table(kwargs, key, value, fragment):
    result, _ = identify.identify(_obs(**kwargs))
    fact = result.facts[key]
    assert fact.value == value
    text = fact.source if value is not None or key == "libceph_common_soname" and fact.unverified is None else fact.unverified
    assert fragment in (text or ""), fact


def test_verified_none_is_a_value():
    """argonaut has no shared libceph-common: a verified None, not an unknown."""
    result, _ = identify.identify(_obs(rbd="0.48", rados_version=(0, 44, 0)))
    fact = result.facts["libceph_common_soname"]
    assert fact.value is None and fact.unverified is None and "no shared libceph-common" in fact.source
    assert result.to_dict()["facts"]["libceph_common_soname"]["source"] == fact.source


def test_identification_is_immutable_and_to_dict_is_a_copy():
    result, _ = identify.identify(_obs(rbd="16.2.15", version_string="16.2.15"))
    with pytest.raises(AttributeError):
        result.version = "x"
    with pytest.raises(TypeError):
        result.facts["default_format"] = None
    with pytest.raises(AttributeError):
        result.facts.versions = ()
    plain = result.to_dict()
    plain["version"] = "x"
    plain["facts"]["default_format"]["value"] = 1
    assert result.version == "16.2.15" and result.to_dict()["facts"]["default_format"]["value"] == 2
    assert result["version"] == "16.2.15" and result.get("codename") == "pacific" and result.get("nope") is None
    assert "facts" in result and result.facts.versions == ("16.2.15",)
    with pytest.raises(KeyError):
        result["nope"]
    assert set(plain) == {"version", "codename", "min", "before", "confidence", "evidence", "candidates", "facts", "label"}


def test_present_in_accepts_old_dict_entries():
    assert identify.present_in({"first": "11.2.0", "backports": ["10.2.6"]}, "10.2.7")
    assert not identify.present_in({"first": "11.2.0", "backports": ["10.2.6"]}, "10.2.5")
    assert not identify.present_in({"first": "0.48", "removed": "12.2.0"}, "12.2.0")
    assert identify.expected_functions("librbd", "0.48") == frozenset(stubs.functions_of("librbd", "0.48"))


# ---------------------------------------------------------------------------------------
# The corrections in the tool's output: stand-ins (built from the data) and real builds

def test_octopus_point_release_standin_stops_before_pacific(capsys):
    librbd, librados = stubs.build_release_standin("15.2.7")
    _, data = _scan(capsys, ["--librbd", librbd, "--librados", librados, "--conf", "/dev/null"])
    release = data["release"]
    assert (release["min"], release["before"], release["codename"]) == ("15.2.5", "16.2.0", "octopus"), release
    assert release["label"] == "15.2.5 to before 16.2.0 (octopus)"
    assert any("not pacific" in e for e in release["evidence"])
    assert data["capabilities"]["create.format1"]["status"] == "no"
    assert "RBD_FORCE_ALLOW_V1" in data["capabilities"]["create.format1"]["reason"]
    assert "fails with -EINVAL (15.2.0..15.2.7)" in data["capabilities"]["feature.fast-diff"]["reason"]
    assert data["capabilities"]["feature.non-primary"]["status"] == "yes"          # kept as asked in 15.2.x
    assert "kept as asked (15.2.0..15.2.7)" in data["capabilities"]["feature.non-primary"]["reason"]


def test_octopus_standin_without_runtime_keeps_the_end_open(capsys):
    librbd, librados = stubs.build_release_standin("15.2.7")
    _, data = _scan(capsys, ["--no-runtime", "--librbd", librbd, "--librados", librados])
    release = data["release"]
    assert release["before"] == "16.2.0" and release["confidence"] == "low"
    assert any("not ruled out" in e for e in release["evidence"])
    assert data["capabilities"]["create.format1"]["status"] == "unknown"


@pytest.mark.parametrize("version, before, rados", [("0.48", "0.48.1", [0, 44, 0]), ("0.48.1", "0.56", [0, 48, 0])])
def test_argonaut_standins_told_apart_by_rados_version(capsys, version, before, rados):
    librbd, librados = stubs.build_release_standin(version)
    _, data = _scan(capsys, ["--librbd", librbd, "--librados", librados, "--conf", "/dev/null"])
    assert data["runtime"]["rados_version"] == rados
    assert (data["release"]["min"], data["release"]["before"]) == (version, before), data["release"]


def test_jewel_standin_reports_the_cleanup_that_returns_zero(capsys):
    librbd, librados = stubs.build_release_standin("10.2.6")
    _, data = _scan(capsys, ["--librbd", librbd, "--librados", librados, "--conf", "/dev/null"])
    assert "removed again, yet the call returns 0 (10.2.0..10.2.9)" in data["capabilities"]["feature.fast-diff"]["reason"]
    assert "kept as asked (10.2.0..10.2.9)" in data["capabilities"]["feature.striping"]["reason"]


@pytest.mark.parametrize("version, fast_diff", [("14.2.21", "unknown for 14.2.21"), ("18.2.7", "unknown for 18.2.7"),
                                                ("16.2.15", "silently dropped (16.2.15)")])
def test_debian_builds_show_per_release_effects_and_defaults(capsys, version, fast_diff):
    _, data = _scan(capsys, ["--root", corpus.release_root(version)])
    assert fast_diff in data["capabilities"]["feature.fast-diff"]["reason"]
    facts = data["release"]["facts"]
    assert facts["default_features"]["value"] == 61 and ".rodata" in facts["default_features"]["source"]
    assert facts["feature_names_accepted"]["value"] is True


def test_exact_problem_sentences():
    rbd = frozenset(stubs.functions_of("librbd", "16.2.15"))
    rados = frozenset(stubs.functions_of("librados", "16.2.15"))
    missing = sorted(rbd)[:4]
    _, problems = identify.identify(identify.Observation(librbd_functions=rbd - set(missing) | {"rbd_zz_unknown", "rbd_clone4"}))
    (p,) = problems
    assert tuple(p)[:4] == (
        "release.fingerprint", "warning",
        "librbd's exported functions match no known release exactly: closest is 16.2.15 (pacific), with 4 missing "
        "({}, ...) and 1 extra (rbd_clone4) (a vendor backport or a patched build)".format(", ".join(missing[:3])),
        "compare with the distribution's changelog; capabilities follow the symbols, not the version")
    assert p.evidence == tuple("missing " + m for m in missing) + ("extra rbd_clone4",)
    result, problems = identify.identify(identify.Observation(
        librbd_functions=frozenset(stubs.functions_of("librbd", "14.2.21")),
        librados_functions=frozenset(stubs.functions_of("librados", "20.2.4"))))
    assert tuple(problems[0])[:4] == (
        "release.mixed", "error", "librbd looks like 14.2.21 but librados like 18.2.7 .. 20.2.4: they come from different releases",
        "install librbd and librados from the same Ceph release (one package version)")
    assert result.evidence[0] == "librbd exports exactly the C functions of 14.2.21"
    _, problems = identify.identify(identify.Observation(librbd_functions=rbd, librados_functions=rados,
                                                         rbd_version=(1, 15, 0)))
    assert tuple(problems[0])[:4] == (
        "release.rbd-version", "warning",
        "rbd_version() says 1.15.0 but the releases matching librbd's symbols report 1.16.0",
        "the library may be patched; trust the symbol-based capabilities")
    _, problems = identify.identify(identify.Observation(librbd_functions=rbd, librados_functions=rados,
                                                         rados_version=(2, 0, 0)))
    assert tuple(problems[0])[:3] == (
        "release.rados-version", "warning",
        "rados_version() says 2.0.0 but the releases matching the symbols report 3.0.0")
    _, problems = identify.identify(identify.Observation(librbd_functions=rbd, version_string="14.2.21"))
    assert tuple(problems[0])[:4] == (
        "release.disagree", "warning", "the library says Ceph 14.2.21 but librbd's functions match 16.2.15 .. before 17.2.0",
        "a vendor backport or mixed packages: check which package owns each library file")
    last = frozenset(stubs.functions_of("librbd", "20.2.4"))
    _, problems = identify.identify(identify.Observation(librbd_functions=last, version_string="18.2.7",
                                                         version_source="ceph_version_to_str()"))
    assert problems[0].message == "ceph_version_to_str() says Ceph 18.2.7 but librbd's functions match 20.2.4 or later"
    _, problems = identify.identify(identify.Observation(librbd_functions=rbd, version_string="16.2.15",
                                                         common_soname="libceph-common.so.0"))
    assert tuple(problems[0])[:4] == (
        "release.common-soname", "warning",
        "librados needs libceph-common.so.0 but the identified release ships libceph-common.so.2 "
        "(Debian package librados2 Debian 16.2.15 (16.2.15))",
        "librados and libceph-common may come from different builds: check which package owns each file")


def test_exact_evidence_and_labels():
    rbd = frozenset(stubs.functions_of("librbd", "0.87"))
    result, _ = identify.identify(identify.Observation(librbd_functions=rbd, rbd_version=(0, 1, 8)))
    assert result.evidence == ("librbd exports exactly the C functions of 0.67.10 .. 0.87", "rbd_version() = 0.1.8")
    assert (result.min, result.before, result.codename, result.label, result.confidence) == (
        "0.67.10", "0.94", "dumpling/firefly/giant", "0.67.10 to before 0.94 (dumpling/firefly/giant)", "low")
    result, _ = identify.identify(identify.Observation(librbd_functions=rbd, version_string="0.87.2",
                                                       release_name="giant-custom"))
    assert (result.codename, result.label, result.confidence) == ("giant-custom", "0.87.2 (giant-custom)", "high")
    last = frozenset(stubs.functions_of("librbd", "20.2.4"))
    result, _ = identify.identify(identify.Observation(librbd_functions=last))
    assert (result.min, result.before, result.label) == ("20.2.4", None, "20.2.4 or later (tentacle)")
    result, _ = identify.identify(identify.Observation(librbd_functions=frozenset(stubs.functions_of("librbd", "16.2.15"))))
    assert result.evidence == (
        "librbd exports exactly the C functions of 16.2.15",
        "17.2.0 (quincy) has no symbol data (sources not reachable): a build from 17.2.0 on is not ruled out "
        "(rbd_version() not observed)",
        "16.2.0 (pacific) has no symbol data (sources not reachable): builds from it up to 16.2.15 may export the "
        "same functions")
    assert result.confidence == "low"
    result, _ = identify.identify(identify.Observation(version_string="16.2.15"))
    assert (result.label, result.confidence, result.evidence) == ("16.2.15 (pacific)", "medium",
                                                                  ("the library reports 16.2.15",))
    result, _ = identify.identify(identify.Observation(version_string="99.1.0"))
    assert (result.codename, result.label) == (None, "99.1.0")


def test_closest_release_prefers_fewer_missing_functions():
    base = frozenset(stubs.functions_of("librbd", "15.2.0"))
    newer = frozenset(stubs.functions_of("librbd", "15.2.5"))
    extra = sorted(newer - base)
    assert extra
    # one function of 15.2.5 over 15.2.0, and one of 15.2.0 removed: 15.2.0 is 1 missing + 1 extra,
    # 15.2.5 is (len(extra)-1 + 1) missing ... the nearest by count wins, ties go to fewer missing
    observed = (base | {extra[0]}) - {sorted(base)[0]}
    result, problems = identify.identify(identify.Observation(librbd_functions=observed))
    assert problems[0].id == "release.fingerprint" and result.candidates == ("15.2.0",)
    assert "with 1 missing ({}) and 1 extra ({})".format(sorted(base)[0], extra[0]) in problems[0].message


@pytest.mark.parametrize("key, value, out", [
    ("default_features", "layering,exclusive-lock", 5), ("default_features", "layering,some-vendor-bit", "layering,some-vendor-bit"),
    ("default_features", 61, 61), ("default_format", "2", "2")])
def test_default_features_become_a_mask(key, value, out):
    assert identify._normalised(key, value) == out


def test_record_defaults_and_read_only_facts():
    empty = identify.Identification()
    assert (empty.version, empty.min, empty.confidence, empty.evidence, empty.candidates, empty.label) == (
        None, None, "none", (), (), None)
    assert dict(empty.facts) == {} and empty.facts.versions == ()
    facts = identify.Facts({"a": 1}, ("1.0",))
    with pytest.raises(AttributeError) as info:
        facts.versions = ("2.0",)
    assert str(info.value) == "Facts is read-only"
    assert repr(facts) == "Facts({'a': 1}, versions=('1.0',))"
    assert len(facts) == 1 and list(facts) == ["a"] and facts["a"] == 1
    result, _ = identify.identify(_obs(rbd="16.2.15", version_string="16.2.15"))
    plain = result.to_dict()
    assert plain["evidence"] == list(result.evidence) and isinstance(plain["evidence"], list)
    assert plain["candidates"] == ["16.2.15"] and isinstance(plain["candidates"], list)
    assert set(result.facts) == set(identify.FACT_KEYS) == {
        "rbd_features_all", "default_format", "default_features", "feature_names_accepted", "format1_create",
        "rbd_create_format", "libceph_common_soname"}
    assert plain["facts"]["rbd_features_all"] == {"value": 4095, "source": result.facts["rbd_features_all"].source}


def test_set_digest_is_the_stored_one():
    for version in ("0.48", "12.2.0", "16.2.15"):
        rel = kn.release(version)
        assert identify.set_digest(kn.expected_functions("librbd", version)) == rel.librbd_digest
        assert identify.set_digest(kn.expected_functions("librados", version)) == rel.librados_digest
    assert identify.set_digest([]) == "00000000" and len(identify.set_digest(["rbd_open"])) == 8
    doc = {"symbols": {"rbd_a": {"first": "1.0"}, "rbd_b": {"first": "2.0", "removed": "3.0"}}}
    assert identify.expected_functions(doc, "2.5") == {"rbd_a", "rbd_b"}
    assert identify.expected_functions(doc, "3.0") == {"rbd_a"}


def test_a_removed_function_is_absent_from_the_release_that_removed_it():
    # rados_clone_range was removed in 12.2.0: luminous's librados matches only without it
    result, problems = identify.identify(_obs(rbd="12.2.0"))
    assert result.candidates == ("12.2.0",) and problems == ()
    assert "librados's functions agree (12.2.0)" in result.evidence


def test_an_exact_version_needs_no_word_about_placeholders():
    result, _ = identify.identify(_obs(rbd="18.2.7", version_string="18.2.7"))
    assert result.evidence == ("librbd exports exactly the C functions of 18.2.7",
                               "librados's functions agree (18.2.7 .. 20.2.4)", "the library reports 18.2.7")
    assert result.confidence == "high" and result.facts["format1_create"].value == "refused-unless-RBD_FORCE_ALLOW_V1"


@pytest.mark.parametrize("kwargs, evidence", [
    (dict(rbd="0.56", rados_version=(0, 48, 0)),
     ("librbd exports exactly the C functions of 0.56", "librados's functions agree (0.56)", "rados_version() = 0.48.0")),
    (dict(rbd="0.48.1", rados_version=(0, 48, 0)),
     ("librbd exports exactly the C functions of 0.48 .. 0.48.1", "librados's functions agree (0.48 .. 0.48.1)",
      "rados_version() = 0.48.0 narrows the match to 0.48.1")),
    (dict(rbd="16.2.15", version_string="16.2.15", git_sha="618f44"),
     ("librbd exports exactly the C functions of 16.2.15", "librados's functions agree (16.2.15)",
      "the library reports 16.2.15", "libceph-common carries ceph_ver__618f44")),
])
def test_exact_evidence_lines(kwargs, evidence):
    result, _ = identify.identify(_obs(**kwargs))
    assert result.evidence == evidence


def test_same_codename_named_once():
    result, _ = identify.identify(_obs(rbd="0.48"))
    assert result.candidates == ("0.48", "0.48.1") and result.codename == "argonaut" and result.confidence == "medium"


@pytest.mark.parametrize("kwargs, key, reason", [
    (dict(), "format1_create", "release not identified"),
    (dict(version_string="0.49"), "format1_create", "no knowledge-base entry for the 0.49 series"),
    (dict(rbd="15.2.5"), "format1_create",
     "undetermined: 16.2.0: no source for this release was reachable here (no Debian package, no mirror with its tag)"),
    (dict(rbd="16.2.15", version_string="16.2.7"), "format1_create",
     "16.2.0: no source for this release was reachable here (no Debian package, no mirror with its tag)"),
])
def test_exact_undetermined_reasons(kwargs, key, reason):
    result, _ = identify.identify(_obs(**kwargs))
    assert result.facts[key] == kn.Fact(None, None, reason)


def test_closest_evidence_line_and_evidence_cap():
    rbd = frozenset(stubs.functions_of("librbd", "16.2.15"))
    gone = sorted(rbd)[:7]
    result, problems = identify.identify(identify.Observation(librbd_functions=rbd - set(gone)))
    assert result.evidence[0] == "librbd's functions match no release exactly; closest 16.2.15 (7 missing, 0 extra)"
    assert problems[0].evidence == tuple("missing " + m for m in gone[:5])


def test_exact_soname_and_placeholder_evidence():
    result, _ = identify.identify(_obs(rbd="14.2.21", version_string="14.2.21", common_soname="libceph-common.so.0"))
    assert result.evidence[-1] == "librados needs libceph-common.so.0, as the identified release ships"
    result, _ = identify.identify(_obs(rbd="14.2.21", version_string="14.2.21", common_soname="libceph-common.so.2"))
    assert result.evidence[-1] == "librados needs libceph-common.so.2; the identified release ships libceph-common.so.0"
    result, _ = identify.identify(_obs(rbd="15.2.5", rbd_version=(1, 16, 0)))
    assert "16.2.0 (pacific) has no symbol data (sources not reachable): a build from 16.2.0 on is not ruled out" in \
        result.evidence
    result, _ = identify.identify(_obs(rbd="15.2.5", rbd_version=(1, 15, 0)))
    assert ("16.2.0 (pacific) has no symbol data (sources not reachable); rbd_version() 1.15.0 is octopus's, not "
            "pacific's (16.2.15 reports 1.16.0): not pacific, so the range ends before 16.2.0") in result.evidence
    result, problems = identify.identify(_obs(rbd="0.87", rados_version=(9, 9, 9)))
    assert problems[0].message == "rados_version() says 9.9.9 but the releases matching the symbols report 0.69.0"
    assert problems[0].fix == "the library may be patched; trust the symbol-based capabilities"
