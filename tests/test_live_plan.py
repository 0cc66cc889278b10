"""Live mode's pure parts on hand-built evidence: the plan, the judge, the messages, the problems.

No cluster here (tests/test_live.py runs the same code against the real one).  The
expectations restate librbd's create rules as its sources have them: format 1 refused since
13.2.0 unless RBD_FORCE_ALLOW_V1 (librbd/api/Image.cc), object-map and journaling need
exclusive-lock (-EINVAL), internal bits asked at create are dropped.
"""
import errno

import pytest

from librbd_probe import knowledge as kn
from librbd_probe import live
from librbd_probe.identify import Identification
from librbd_probe.knowledge import Fact

ALL_PATHS = frozenset(("rbd_create", "rbd_create2", "rbd_create3", "rbd_create4"))
REFUSED = {"format1_create": Fact("refused unless RBD_FORCE_ALLOW_V1", "src"),
           "rbd_features_all": Fact(0xfff, "src")}
OPTS = live.LiveOptions()


def _release(version=None, facts=REFUSED, candidates=()):
    return Identification(version=version, candidates=candidates, facts=facts)


def _ids(trials):
    return [t["id"] for t in trials]


def test_plan_with_every_create_path():
    trials = live.plan(ALL_PATHS, _release("16.2.15"), OPTS)
    by_id = {t["id"]: t for t in trials}
    assert _ids(trials)[:6] == ["create.default", "create.format1", "create.format1.forced", "create.format2",
                                "create.striping", "create.options"]
    assert by_id["create.format1"] == {"id": "create.format1", "path": "rbd_create4", "format": 1,
                                       "expect": "EINVAL"}
    assert by_id["create.format1.forced"]["force_v1"] is True and by_id["create.format1.forced"]["expect"] == "created"
    assert by_id["create.striping"]["stripe_unit"] == 1 << 16 and by_id["create.striping"]["stripe_count"] == 16
    # a feature that needs others is tried with them ("created") and alone (EINVAL / dropped)
    assert by_id["feature.journaling"]["features"] == 64 | 4 and by_id["feature.journaling"]["expect"] == "created"
    assert by_id["feature.journaling.alone"] == {"id": "feature.journaling.alone", "path": "rbd_create4",
                                                 "features": 64, "expect": "EINVAL", "format": 2}
    assert by_id["feature.fast-diff"]["features"] == 16 | 8 | 4           # object-map needs exclusive-lock
    # 16.2.15: fast-diff asked without object-map is dropped (the live trials on 16.2.15)
    assert by_id["feature.fast-diff.alone"]["expect"] == "dropped"
    # internal bits: asked with layering, expected dropped on 16.2.15
    assert by_id["feature.operations"] == {"id": "feature.operations", "path": "rbd_create4", "features": 1 | 256,
                                           "expect": "dropped", "format": 2}
    assert "create.data-pool" not in by_id
    expected_features = ["feature." + f.name for f in kn.features()]
    assert [i for i in _ids(trials) if i.startswith("feature.") and not i.endswith(".alone")] == expected_features


@pytest.mark.parametrize("versions, expected", [
    # the knowledge layer's per-release effects (features.json "effects", each with its source)
    (("15.2.7",), {"feature.fast-diff.alone": "EINVAL", "feature.object-map.alone": "EINVAL",
                   "feature.operations": "EINVAL", "feature.migrating": "created", "feature.striping": "dropped"}),
    (("10.2.0",), {"feature.fast-diff.alone": None,            # removed-rc0: rc 0, image gone: no expectation
                   "feature.striping": "created"}),
    (("16.2.15",), {"feature.fast-diff.alone": "dropped", "feature.operations": "dropped"}),
    # a point release no source covers: no expectation (unknown), except plain features
    (("14.2.21",), {"feature.fast-diff.alone": None, "feature.operations": None, "feature.layering": "created"}),
    # a span of releases: only an effect that holds for all of them
    (("15.2.7", "16.2.15"), {"feature.object-map.alone": "EINVAL", "feature.fast-diff.alone": None,
                             "feature.operations": None}),
    ((), {"feature.object-map.alone": None, "feature.operations": None, "feature.striping": None,
          "feature.layering": "created"}),
])
def test_plan_expectations_follow_the_release(versions, expected):
    release = _release(versions[0] if len(versions) == 1 else None, {}, versions if len(versions) > 1 else ())
    by_id = {t["id"]: t for t in live.plan(ALL_PATHS, release if versions else None, OPTS)}
    for trial_id, expect in expected.items():
        assert by_id[trial_id]["expect"] == expect, trial_id


def test_plan_follows_the_symbols_and_facts():
    trials = live.plan(frozenset(("rbd_create", "rbd_create2")), _release(facts={"rbd_features_all": Fact(0x7f, "src")}),
                       OPTS)
    ids = _ids(trials)
    assert "create.format1" not in ids and "create.options" not in ids and "create.striping" not in ids
    assert all(t["path"] == "rbd_create2" and "format" not in t for t in trials if t["id"].startswith("feature."))
    assert "feature.journaling" in ids and "feature.data-pool" not in ids   # bit 7 beyond 0x7f
    # format-1 policy unknown: no expectation
    trials = live.plan(ALL_PATHS, None, OPTS)
    assert {t["id"]: t for t in trials}["create.format1"]["expect"] is None
    allowed = live.plan(ALL_PATHS, _release(facts={"format1_create": ("allowed", "src")}), OPTS)
    assert {t["id"]: t for t in allowed}["create.format1"]["expect"] == "created"
    with_pool = live.plan(ALL_PATHS, _release(), live.LiveOptions(data_pool="ec"))
    assert {t["id"]: t for t in with_pool}["create.data-pool"]["data_pool"] == "ec"
    assert live.plan(frozenset(), _release(), OPTS) == []


def _trial(**kw):
    base = {"id": "t", "path": "rbd_create4", "format": 2, "features": 1 | 4, "expect": "created"}
    base.update(kw)
    return base


@pytest.mark.parametrize("trial, answer, error, result, as_expected", [
    (_trial(), {"rc": 0, "got": {"features": 5, "format": 2}}, None, "created", True),
    (_trial(), {"rc": 0, "got": {"features": 1, "format": 2}}, None, "created-different", False),
    (_trial(format=1, expect="created"), {"rc": 0, "got": {"features": 5, "format": 2}}, None,
     "created-different", False),
    (_trial(expect="dropped"), {"rc": 0, "got": {"features": 1, "format": 2}}, None, "created-different", True),
    (_trial(expect="dropped"), {"rc": 0, "got": {"features": 5, "format": 2}}, None, "created", False),
    (_trial(expect=None), {"rc": 0, "got": {"features": 5}}, None, "created", None),
    (_trial(expect="EINVAL"), {"rc": -errno.EINVAL}, None, "refused", True),
    (_trial(expect="created"), {"rc": -errno.EINVAL}, None, "refused", False),
    (_trial(expect=None), {"rc": -errno.ENOSYS}, None, "refused", None),
    (_trial(), None, {"kind": "timeout", "message": "did not answer within 30 s"}, "timeout", False),
    (_trial(), None, {"kind": "crash", "message": "SIGSEGV", "signal": "SIGSEGV"}, "error", False),
    (_trial(), {}, {"kind": "rados", "stage": "pool", "rc": -errno.ENOENT, "message": "m"}, "error", False),
])
def test_judge(trial, answer, error, result, as_expected):
    out = live.judge(trial, answer, error)
    assert out["result"] == result and out["as_expected"] is as_expected
    assert out["id"] == "t" and out["requested"]["features"] == trial["features"]


def test_judge_details():
    out = live.judge(_trial(features=1 | 256, expect="dropped"), {"rc": 0, "got": {"features": 1}, "remove_rc": -16})
    assert out["dropped_bits"] == [8] and out["added_bits"] == [] and out["remove_rc"] == -16
    out = live.judge(_trial(expect="EINVAL"), {"rc": -errno.EINVAL})
    assert out["errno"] == "EINVAL" and out["decoded"] == "-22 (EINVAL: Invalid argument)"
    out = live.judge(_trial(), None, {"kind": "rados", "stage": "pool", "rc": -2, "message": "m"})
    assert out["rc"] == -2 and out["note"] == "m"


@pytest.mark.parametrize("error, words", [
    ({"stage": "connect", "rc": -errno.EACCES}, ["permission denied (-13 EACCES)", "client.admin"]),
    ({"stage": "connect", "rc": -errno.ETIMEDOUT}, ["no monitor answered within 30 s (-110 ETIMEDOUT)"]),
    ({"stage": "connect", "rc": -errno.ENOENT}, ["(-2 ENOENT)", "--keyring"]),
    ({"stage": "pool", "rc": -errno.ENOENT}, ["pool rbd does not exist (-2 ENOENT)"]),
    ({"stage": "pool", "rc": -errno.EACCES}, ["no access to pool rbd (-13 EACCES)"]),
    ({"stage": "conf", "rc": -errno.ENOENT}, ["cannot read the configuration the default ceph.conf (-2 ENOENT)"]),
    ({"stage": "connect", "rc": -errno.EIO, "message": "rados_connect returned -5"},
     ["connect failed: rados_connect returned -5"]),
    ({"stage": "connect", "rc": -errno.EIO}, ["connect failed: -5 (EIO: Input/output error)"]),
    ({"kind": "timeout", "message": "the library did not answer"}, ["the library did not answer"]),
])
def test_connection_message(error, words):
    message = live.connection_message(error, OPTS)
    for word in words:
        assert word in message
    assert "\n" not in message


def test_live_problems():
    assert [p.id for p in live.live_problems({"error": {"message": "permission denied"}}, None)] == ["live.connect"]
    section = {"cluster": {"require_min_compat_client": "quincy"},
               "trials": [{"id": "feature.x", "path": "rbd_create4", "expect": "created", "as_expected": False,
                           "decoded": "ok", "result": "created-different"},
                          {"id": "feature.y", "as_expected": None}]}
    problems = live.live_problems(section, {"codename": "pacific"})
    assert [p.id for p in problems] == ["live.min-compat-client", "live.unexpected.feature.x"]
    assert "at least quincy" in problems[0].message
    assert live.live_problems(dict(section, trials=[]), {"codename": "reef"}) == []
    assert live.live_problems(dict(section, trials=[]), None) == []
    assert live.codename_order()[:3] == ["argonaut", "bobtail", "cuttlefish"]


def test_scratch_names_and_host_tag():
    import re
    assert re.match(r"^[0-9a-f]{8}$", live.host_tag())
    assert live.PREFIX == "librbd-probe-"


def test_plan_create_rows_in_full():
    release = _release("16.2.15")
    trials = live.plan(ALL_PATHS, release, live.LiveOptions(data_pool="ec"))
    assert trials[:7] == [
        {"id": "create.default", "path": "rbd_create", "expect": None,
         "note": "rbd_create makes the format rbd_default_format says (format 1 only before 0.56.7/0.61.3)"},
        {"id": "create.format1", "path": "rbd_create4", "format": 1, "expect": "EINVAL"},
        {"id": "create.format1.forced", "path": "rbd_create4", "format": 1, "force_v1": True, "expect": "created"},
        {"id": "create.format2", "path": "rbd_create2", "features": 1, "expect": "created"},
        {"id": "create.striping", "path": "rbd_create3", "features": 3, "stripe_unit": 65536, "stripe_count": 16,
         "expect": "created"},
        {"id": "create.options", "path": "rbd_create4", "format": 2, "features": 1, "expect": "created"},
        {"id": "create.data-pool", "path": "rbd_create4", "format": 2, "features": 1, "data_pool": "ec",
         "expect": "created"}]
    assert trials[7] == {"id": "feature.layering", "path": "rbd_create4", "features": 1, "expect": "created",
                         "format": 2}


def test_judge_in_full():
    trial = {"id": "t", "path": "rbd_create4", "format": 2, "features": 5, "expect": "created", "stripe_unit": 65536,
             "stripe_count": 16, "data_pool": "ec", "force_v1": True, "name": "n", "size": 4}
    assert live.judge(trial, {"rc": 0, "got": {"features": 5, "format": 2}}) == {
        "id": "t", "path": "rbd_create4", "expect": "created",
        "requested": {"format": 2, "features": 5, "stripe_unit": 65536, "stripe_count": 16, "data_pool": "ec",
                      "force_v1": True},
        "rc": 0, "errno": None, "decoded": "ok", "got": {"features": 5, "format": 2}, "dropped_bits": [],
        "added_bits": [], "result": "created", "as_expected": True}
    assert live.judge(dict(trial, features=1), {"rc": 0, "got": {"features": 1 | 2 | 8}})["added_bits"] == [1, 3]
    out = live.judge(trial, None, {"kind": "timeout", "message": "m"})
    assert out == {"id": "t", "path": "rbd_create4", "expect": "created", "requested": out["requested"],
                   "result": "timeout", "rc": None, "note": "m", "as_expected": False}


def test_live_problem_records():
    section = {"cluster": {"require_min_compat_client": "quincy"},
               "trials": [{"id": "feature.x", "path": "rbd_create4", "expect": "created", "as_expected": False,
                           "result": "created-different", "dropped_bits": [4], "requested": {"format": 2},
                           "got": {"format": 2}},
                          {"id": "create.format1", "path": "rbd_create4", "expect": "created", "as_expected": False,
                           "result": "created-different", "dropped_bits": [], "requested": {"format": 1},
                           "got": {"format": 2}},
                          {"id": "feature.y", "path": "rbd_create2", "expect": "EINVAL", "as_expected": False,
                           "result": "refused", "decoded": "-38 (ENOSYS: Function not implemented)"},
                          {"id": "feature.z", "path": "rbd_create2", "expect": "EINVAL", "as_expected": False,
                           "result": "timeout"}]}
    assert [tuple(p) for p in live.live_problems(section, {"codename": "pacific"})] == [
        ("live.min-compat-client", "error",
         "the cluster requires clients of at least quincy (require_min_compat_client) but this client is pacific",
         "upgrade librbd1/librados2 on this host to quincy or later", ()),
        ("live.unexpected.feature.x", "warning",
         "feature.x via rbd_create4: expected created, the cluster gave created without bits 4", None, ()),
        ("live.unexpected.create.format1", "warning",
         "create.format1 via rbd_create4: expected created, the cluster gave created as format 2", None, ()),
        ("live.unexpected.feature.y", "warning",
         "feature.y via rbd_create2: expected EINVAL, the cluster gave -38 (ENOSYS: Function not implemented)",
         None, ()),
        ("live.unexpected.feature.z", "warning", "feature.z via rbd_create2: expected EINVAL, the cluster gave timeout",
         None, ())]
    assert [tuple(p) for p in live.live_problems({"error": {"message": "permission denied"}}, None)] == [
        ("live.connect", "error", "permission denied", None, ())]
    # a client codename spelled "a/b" (a range): its newest part is compared
    assert live.live_problems({"cluster": {"require_min_compat_client": "quincy"}}, {"codename": "pacific/quincy"}) == []
    assert live.live_problems({"cluster": {"require_min_compat_client": "unknown-name"}}, {"codename": "pacific"}) == []
