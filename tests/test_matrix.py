"""The capability matrix on hand-built evidence (no host needed): symbols, DT_NEEDED, the
runtime view, the release policy, and the feature rows with their per-release effects.

Inputs are hand-made symbol sets and facts; expected outcomes are what librbd does (the
release facts' sources say where that was read)."""
import pytest

import stubs
from librbd_probe import identify, matrix
from librbd_probe import knowledge as kn
from librbd_probe.model import RuntimeReport

LIB = "/lib/librbd.so.1"
ALL = frozenset(name for cap in kn.capabilities() for alt in cap.requires for name in alt)
STATIC = RuntimeReport(attempted=False)


def _evidence(symbols=ALL, found=True, needed=("librados.so.2",), runtime=STATIC, unreadable=None):
    return matrix.Evidence(librbd_found=found, librbd_name="librbd.so.1", librbd_realpath=LIB,
                           librbd_symbols=symbols, librbd_needed=needed, runtime=runtime,
                           unreadable_reason=unreadable)


def _facts(**values):
    out = {key: kn.Fact(None, None, "not in this test") for key in identify.FACT_KEYS}
    for key, value in values.items():
        out[key] = kn.Fact(value, "test fact", None)
    return out


def _rows(evidence, release=None, environ=None):
    rows, problems = matrix.build(evidence, release, environ)
    return {r.id: r for r in rows}, problems


def _release(version, **facts):
    """An Identification of exactly ``version`` with the given facts (hand-built)."""
    return identify.Identification(version=version, facts=identify.Facts(_facts(**facts), (version,)),
                                   confidence="high")


def test_every_row_once_in_definition_order():
    rows, problems = matrix.build(_evidence(), _release("16.2.15", rbd_features_all=0xfff))
    assert [r.id for r in rows] == [c.id for c in kn.capabilities()] + ["feature." + f.name for f in kn.features()]
    assert problems == ()


@pytest.mark.parametrize("evidence, reason", [
    (_evidence(found=False), "no librbd found on this host"),
    (_evidence(symbols=None, unreadable="truncated ELF"), "librbd could not be read: truncated ELF"),
    (_evidence(symbols=None), "librbd could not be read: unknown error"),
])
def test_without_a_readable_librbd_everything_is_unknown(evidence, reason):
    rows, problems = matrix.build(evidence, _release("16.2.15", rbd_features_all=0xfff, format1_create="allowed"))
    assert {r.status for r in rows} == {"unknown"} and {r.reason for r in rows} == {reason}
    assert problems == ()


def test_missing_functions_make_no_and_name_the_closest_alternative():
    rows, _ = _rows(_evidence(symbols=ALL - {"rbd_create3", "rbd_image_options_set_uint64"}))
    row = rows["create.striping"]
    assert row.status == "no"
    assert row.reason == "librbd.so.1 does not export rbd_create3"      # the one-function alternative is closest
    assert row.evidence == ("static: librbd.so.1 lacks rbd_create3",)
    assert rows["create.format2"].status == "yes"


def test_second_alternative_satisfies():
    rows, _ = _rows(_evidence(symbols=ALL - {"rbd_create2"}))
    assert rows["create.format2"].status == "yes" and rows["create.format2"].reason == "librbd.so.1 exports rbd_create4"


@pytest.mark.parametrize("needed, status", [(("librados.so.2",), "no"), (("librados.so.2", "libcryptsetup.so.12"), "yes")])
def test_needs_library(needed, status):
    rows, _ = _rows(_evidence(needed=needed))
    assert rows["api.encryption"].status == status
    if status == "no":
        assert "not linked with libcryptsetup.so*" in rows["api.encryption"].reason
    else:
        assert "static: DT_NEEDED libcryptsetup.so.12" in rows["api.encryption"].evidence


@pytest.mark.parametrize("seen, reason", [
    ({"found": False}, "dlsym did not find rbd_create2 although the file exports it"),
    ({"found": True, "owner": "/opt/other/librbd.so.1"}, "rbd_create2 resolves to /opt/other/librbd.so.1 at run time"),
])
def test_runtime_disagreement_is_unknown_and_a_problem(seen, reason):
    runtime = RuntimeReport(attempted=True, loaded=True, symbols={"rbd_create2": seen})
    rows, problems = _rows(_evidence(runtime=runtime))
    assert rows["create.format2"].status == "unknown" and reason in rows["create.format2"].reason
    assert [p.id for p in problems] == ["runtime-disagrees.create.format2"]


def test_runtime_agreement_adds_evidence():
    runtime = RuntimeReport(attempted=True, loaded=True, symbols={"rbd_create2": {"found": True, "owner": LIB}})
    rows, problems = _rows(_evidence(runtime=runtime))
    assert rows["create.format2"].status == "yes" and problems == ()
    assert "runtime: dlsym+dladdr rbd_create2 -> librbd.so.1" in rows["create.format2"].evidence


@pytest.mark.parametrize("policy, environ, status, fragment", [
    ("allowed", {}, "yes", "allowed in this release"),
    ("refused-unless-RBD_FORCE_ALLOW_V1", {}, "no", "unless RBD_FORCE_ALLOW_V1 is set in the client's environment"),
    ("refused-unless-RBD_FORCE_ALLOW_V1", {"RBD_FORCE_ALLOW_V1": "1"}, "no", "(it is set in this environment)"),
    ("refused", {}, "no", "refuses it with -EINVAL"),
    (None, {}, "unknown", "whether this release still allows it is not known"),
])
def test_format1_policy_in_the_same_pass(policy, environ, status, fragment):
    release = _release("13.2.0", format1_create=policy) if policy else _release("13.2.0")
    rows, _ = _rows(_evidence(), release, environ)
    assert rows["create.format1"].status == status and fragment in rows["create.format1"].reason
    assert any(line.startswith("release policy format1_create") for line in rows["create.format1"].evidence)


def test_format1_policy_never_turns_a_missing_function_into_yes():
    rows, _ = _rows(_evidence(symbols=ALL - {"rbd_create"}), _release("0.87", format1_create="allowed"))
    assert rows["create.format1"].status == "no"


@pytest.mark.parametrize("version, all_mask, check, name, status, fragment", [
    ("15.2.7", 0x7ff, None, "fast-diff", "yes", "asked without: fails with -EINVAL (15.2.0..15.2.7)"),
    ("10.2.6", 0x7f, None, "fast-diff", "yes", "the image is removed again, yet the call returns 0 (10.2.0..10.2.9)"),
    ("16.2.15", 0xfff, None, "fast-diff", "yes", "the bit is silently dropped (16.2.15)"),
    ("18.2.7", 0xfff, None, "fast-diff", "yes", "asked without: unknown for 18.2.7"),
    ("13.2.0", 0x1ff, None, "operations", "yes", "kept as asked (13.2.0)"),
    ("13.2.2", 0x1ff, None, "operations", "no", "fails with -EINVAL (13.2.1..13.2.2)"),
    ("16.2.15", 0xfff, None, "operations", "no", "silently dropped (16.2.15)"),
    ("18.2.7", 0xfff, None, "operations", "unknown", "unknown for 18.2.7"),
    ("15.2.5", 0x7ff, None, "non-primary", "yes", "kept as asked (15.2.0..15.2.7)"),
    ("12.2.0", 0xff, None, "data-pool", "yes", "set by librbd for a data pool given at create"),
    ("12.2.0", 0xff, None, "striping", "yes", "without stripe unit/count: the bit is silently dropped (12.2.0..12.2.9)"),
    ("0.87", 0x3, None, "striping", "yes", "without stripe unit/count: the bit is kept as asked (0.87..0.87.2)"),
    ("0.87", 0x3, None, "exclusive-lock", "no", "does not know exclusive-lock (bit 2): any create asking for it fails"),
    ("0.87", None, None, "layering", "unknown", "cannot tell which features this librbd knows"),
    ("16.2.15", None, {"1": {"rc": -34}}, "layering", "yes", "can create images with layering"),
    ("16.2.15", None, {"256": {"rc": -22}}, "operations", "no", "does not know operations"),
])
def test_feature_rows(version, all_mask, check, name, status, fragment):
    facts = {"rbd_features_all": all_mask} if all_mask is not None else {}
    runtime = RuntimeReport(attempted=True, loaded=True, features_check=check) if check else STATIC
    rows, problems = _rows(_evidence(runtime=runtime), _release(version, **facts))
    row = rows["feature." + name]
    assert row.status == status, row
    assert fragment in row.reason, row.reason
    assert problems == ()


def test_the_librarys_own_answer_wins_and_the_disagreement_is_a_problem():
    runtime = RuntimeReport(attempted=True, loaded=True, features_check={"2048": {"rc": -22}, "1": {"rc": -34}})
    rows, problems = _rows(_evidence(runtime=runtime), _release("16.2.15", rbd_features_all=0xfff))
    assert rows["feature.dirty-cache"].status == "no"
    assert [p.id for p in problems] == ["feature-disagrees.dirty-cache"]
    assert "the library itself says it does not" in problems[0].message


def test_effect_needs_every_candidate_of_a_range_to_agree():
    range_id = identify.Identification(min="10.2.0", before="10.2.1", candidates=("10.2.0", "11.2.0"),
                                       facts=identify.Facts(_facts(rbd_features_all=0xff), ("10.2.0", "11.2.0")))
    rows, _ = _rows(_evidence(), range_id)
    assert "unknown for 10.2.0, 11.2.0" in rows["feature.fast-diff"].reason


def test_unidentified_release():
    rows, _ = _rows(_evidence(), None)
    assert rows["feature.layering"].status == "unknown"
    assert "release not identified" in rows["feature.layering"].reason
    assert rows["create.format1"].status == "unknown"


def test_facts_may_come_as_the_old_pairs_or_a_plain_mapping():
    pairs = {"format1_create": ("allowed", "old"), "rbd_features_all": (3, "old")}
    rows, _ = _rows(_evidence(), pairs)
    assert rows["create.format1"].status == "yes" and rows["feature.layering"].status == "yes"
    rows, _ = _rows(_evidence(), {"format1_create": {"value": "refused", "source": "dict"}})
    assert rows["create.format1"].status == "no"


def test_built_from_a_real_identification_end_to_end_on_data():
    """identify -> matrix on a 15.2.5 function set read from the data files by the stand-in builder."""
    obs = identify.Observation(librbd_functions=frozenset(stubs.functions_of("librbd", "15.2.5")),
                               librados_functions=frozenset(stubs.functions_of("librados", "15.2.5")),
                               rbd_version=(1, 15, 0))
    release, _ = identify.identify(obs)
    rows, problems = _rows(_evidence(symbols=obs.librbd_functions), release)
    assert rows["create.format1"].status == "no" and rows["api.encryption"].status == "no"
    assert rows["feature.dirty-cache"].status == "no" and "does not know dirty-cache" in rows["feature.dirty-cache"].reason
    assert problems == ()


def test_known_symbol_names_cover_every_capability():
    names = matrix.known_symbol_names()
    assert names == ALL and "rbd_create" in names


def test_rows_are_immutable():
    rows, _ = matrix.build(_evidence(), None)
    with pytest.raises(AttributeError):
        rows[0].status = "yes"
    with pytest.raises(TypeError):
        rows[0].evidence[0] = "x"
