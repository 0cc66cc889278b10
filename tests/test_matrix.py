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


# ---------------------------------------------------------------------------------------
# The exact sentences (they are the tool's output) and every shape of input

def test_exact_rows():
    runtime = RuntimeReport(attempted=True, loaded=True,
                            symbols={"rbd_create2": {"found": True, "owner": LIB},
                                     "rbd_clone": {"found": True, "owner": "/x/librbd.so.1"}})
    rows, problems = _rows(_evidence(symbols=ALL - {"rbd_clone4"}, runtime=runtime),
                           _release("16.2.15", format1_create="refused-unless-RBD_FORCE_ALLOW_V1", rbd_features_all=0xfff),
                           {"RBD_FORCE_ALLOW_V1": ""})
    assert tuple(rows["create.format2"]) == (
        "create.format2", "yes", "librbd.so.1 exports rbd_create2",
        ("static: librbd.so.1 exports rbd_create2", "runtime: dlsym+dladdr rbd_create2 -> librbd.so.1"),
        kn.capability("create.format2").binding)
    assert tuple(rows["create.options"])[:4] == (
        "create.options", "yes",
        "librbd.so.1 exports rbd_create4 + rbd_image_options_create + rbd_image_options_set_uint64 + "
        "rbd_image_options_set_string",
        ("static: librbd.so.1 exports rbd_create4, rbd_image_options_create, rbd_image_options_set_uint64, "
         "rbd_image_options_set_string",))
    assert tuple(rows["clone.by-id"])[:4] == ("clone.by-id", "no", "librbd.so.1 does not export rbd_clone4",
                                              ("static: librbd.so.1 lacks rbd_clone4",))
    assert tuple(rows["clone.basic"])[:4] == (
        "clone.basic", "unknown", "rbd_clone resolves to /x/librbd.so.1 at run time, not to the chosen librbd",
        ("static: librbd.so.1 exports rbd_clone",))
    assert tuple(rows["create.format1"])[:4] == (
        "create.format1", "no",
        "this release refuses it with -EINVAL (\"Format 1 image creation unsupported\") unless RBD_FORCE_ALLOW_V1 "
        "is set in the client's environment (it is set in this environment)",
        ("static: librbd.so.1 exports rbd_create",
         "release policy format1_create: refused-unless-RBD_FORCE_ALLOW_V1, test fact"))
    assert tuple(rows["api.encryption"])[:4] == (
        "api.encryption", "no", "librbd.so.1 exports rbd_encryption_format but is not linked with libcryptsetup.so*",
        ("static: librbd.so.1 exports rbd_encryption_format, rbd_encryption_load",))
    (problem,) = problems
    assert tuple(problem) == (
        "runtime-disagrees.clone.basic", "warning",
        "clone.basic: rbd_clone resolves to /x/librbd.so.1 at run time, not to the chosen librbd",
        "check LD_PRELOAD and which librbd the process really loads", ("static: librbd.so.1 exports rbd_clone",))
    assert tuple(rows["feature.fast-diff"])[1:4] == (
        "yes", "this librbd can create images with fast-diff; needs object-map too, asked without: the bit is silently "
               "dropped (16.2.15)",
        ("knowledge base: RBD_FEATURES_ALL 0xfff from test fact",
         "knowledge base: fast-diff alone: dropped in 16.2.15: " + kn.feature_effect("fast-diff", "alone", "16.2.15").source))
    assert tuple(rows["feature.operations"])[1:4] == (
        "no", "internal: librbd manages it; asked for at create: the bit is silently dropped (16.2.15)",
        ("knowledge base: RBD_FEATURES_ALL 0xfff from test fact",
         "knowledge base: operations at-create: dropped in 16.2.15: "
         + kn.feature_effect("operations", "at-create", "16.2.15").source))
    assert rows["feature.layering"].reason == "this librbd can create images with layering"


@pytest.mark.parametrize("policy, reason", [
    ("allowed", "librbd.so.1 exports rbd_create; allowed in this release"),
    ("refused", "this release refuses it with -EINVAL (\"Format 1 image creation unsupported\")"),
    ("refused-unless-RBD_FORCE_ALLOW_V1", "this release refuses it with -EINVAL (\"Format 1 image creation "
                                          "unsupported\") unless RBD_FORCE_ALLOW_V1 is set in the client's environment"),
])
def test_exact_policy_reasons(policy, reason):
    rows, _ = _rows(_evidence(), _release("13.2.0", format1_create=policy), {"OTHER": "1"})
    assert rows["create.format1"].reason == reason
    assert rows["create.format1"].evidence[-1] == "release policy format1_create: {}{}".format(
        policy if policy != "allowed" else "allowed", ", test fact")


def test_exact_unknown_policy_and_effect_sentences():
    rows, _ = _rows(_evidence(), identify.Identification(
        facts=identify.Facts({"format1_create": kn.Fact(None, None, "16.2.0: not read")}, ("16.2.7",))))
    assert rows["create.format1"].reason == ("librbd.so.1 exports rbd_create, but whether this release still allows it "
                                             "is not known (16.2.0: not read)")
    assert rows["create.format1"].evidence[-1] == "release policy format1_create: 16.2.0: not read"
    assert rows["feature.layering"].reason == "cannot tell which features this librbd knows (release not identified)"
    rows, _ = _rows(_evidence(), identify.Identification(
        facts=identify.Facts({"rbd_features_all": kn.Fact(0xfff, "s", None)}, ())))
    assert rows["feature.fast-diff"].reason.endswith("asked without: unknown for an unidentified release")
    assert rows["feature.fast-diff"].evidence[-1] == ("knowledge base: fast-diff alone: no source read covers "
                                                      "an unidentified release")
    rows, _ = _rows(_evidence(), _release("18.2.7", rbd_features_all=0xfff))
    assert rows["feature.striping"].evidence[-1] == ("knowledge base: striping no-stripe-settings: no source read "
                                                     "covers 18.2.7")


def test_every_fact_shape_gives_the_same_rows():
    ident, _ = identify.identify(identify.Observation(
        librbd_functions=frozenset(stubs.functions_of("librbd", "15.2.5")),
        librados_functions=frozenset(stubs.functions_of("librados", "15.2.5")), rbd_version=(1, 15, 0)))
    evidence = _evidence(symbols=ident and frozenset(stubs.functions_of("librbd", "15.2.5")))
    expected = matrix.build(evidence, ident)
    assert matrix.build(evidence, ident.facts) == expected                         # Facts carry the versions
    plain = dict(ident.facts)                                                      # a plain mapping: no versions
    rows = {r.id: r for r in matrix.build(evidence, plain)[0]}
    assert rows["create.format1"] == {r.id: r for r in expected[0]}["create.format1"]
    assert "unknown for an unidentified release" in rows["feature.fast-diff"].reason
    unverified = {"format1_create": kn.Fact(None, None, "not read here")}
    assert "(not read here)" in {r.id: r for r in matrix.build(evidence, unverified)[0]}["create.format1"].reason
    odd = {"format1_create": ("allowed", "pair", "extra"), "rbd_features_all": 3}
    rows = {r.id: r for r in matrix.build(evidence, odd)[0]}
    assert rows["create.format1"].status == "unknown" and rows["feature.layering"].status == "unknown"


def test_runtime_entries_missing_or_runtime_absent():
    runtime = RuntimeReport(attempted=True, loaded=True, symbols={})
    rows, problems = _rows(_evidence(runtime=runtime))
    assert rows["create.format2"].evidence == ("static: librbd.so.1 exports rbd_create2",) and problems == ()
    rows, problems = _rows(_evidence(runtime=None))
    assert rows["create.format2"].status == "yes" and problems == ()
    runtime = RuntimeReport(attempted=True, loaded=False, symbols={"rbd_create2": {"found": False}})
    rows, problems = _rows(_evidence(runtime=runtime))
    assert rows["create.format2"].status == "yes" and problems == ()
    runtime = RuntimeReport(attempted=True, loaded=True, symbols={"rbd_create2": {"found": True, "owner": None}})
    rows, _ = _rows(_evidence(runtime=runtime))
    assert rows["create.format2"].evidence[-1] == "runtime: dlsym+dladdr rbd_create2 -> ?"
    ev = _evidence(runtime=RuntimeReport(attempted=True, loaded=True,
                                         symbols={"rbd_create2": {"found": True, "owner": "/y/librbd.so.1"}}))
    rows, _ = _rows(ev._replace(librbd_realpath=None))
    assert rows["create.format2"].status == "yes"
