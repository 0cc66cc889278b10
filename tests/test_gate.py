"""Gates on the scan: ``--baseline REPORT.json`` and ``--policy FILE``, and ``require()``.

End to end on the real Debian builds (unpacked --root trees, the installed 16.2.15, stand-ins
compiled from the real symbol lists), then table-driven unit tests of the pure core on
hand-built snapshots: every branch, unknown never passing.
"""
import json

import pytest

import corpus
import librbd_probe
from librbd_probe import gate
from librbd_probe.cli import main
from standin import standin_root


def _scan_json(capsys, root):
    assert main(["--root", root, "--json"]) == 0
    return capsys.readouterr()[0]


def _gate(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [line for line in err.splitlines() if line]


# --- baseline --------------------------------------------------------------------------------

def test_baseline_same_build_passes(capsys, tmp_path):
    root = corpus.release_root("18.2.7")
    base = tmp_path / "base.json"
    base.write_text(_scan_json(capsys, root))
    code, err = _gate(capsys, "--root", root, "--baseline", str(base))
    assert code == 0 and err == []


def test_baseline_older_build_fails_one_line_per_regression(capsys, tmp_path):
    base = tmp_path / "base.json"
    base.write_text(_scan_json(capsys, corpus.release_root("16.2.15")))
    code, err = _gate(capsys, "--root", corpus.release_root("14.2.21"), "--baseline", str(base))
    assert code == 1
    assert all(line.startswith("librbd-probe: error: regression: ") for line in err)
    caps = [line for line in err if " was yes in the baseline, now " in line]
    assert any("api.encryption was yes in the baseline, now no" in line for line in caps)
    gone = [line for line in err if line.endswith(" disappeared")]
    assert "librbd-probe: error: regression: librbd function rbd_encryption_format disappeared" in gone
    # one line per function 14.2.21 lacks (40 librbd + 8 librados, by readelf in test_diff)
    assert len([g for g in gone if " librbd function " in g]) == 40
    assert len([g for g in gone if " librados function " in g]) == 8


def test_baseline_standin_lacking_one_function(capsys, tmp_path):
    real = corpus.release_root("20.2.4")
    base = tmp_path / "base.json"
    base.write_text(_scan_json(capsys, real))
    root = standin_root(tmp_path, real, drop=("rbd_clone4",))
    code, err = _gate(capsys, "--root", root, "--baseline", str(base))
    assert code == 1
    assert "librbd-probe: error: regression: librbd function rbd_clone4 disappeared" in err
    assert any(line.startswith("librbd-probe: error: regression: clone.by-id was yes in the baseline, now no")
               for line in err)


@pytest.mark.parametrize("content,message", [
    ("not json", "--baseline is not JSON"),
    ('{"schema_version": 1}', "not a librbd-probe JSON report"),
    ('{"schema_version": 9, "libraries": {}, "capabilities": {}}', "report schema_version 9"),
])
def test_bad_baseline_is_a_usage_error(capsys, tmp_path, content, message):
    path = tmp_path / "b.json"
    path.write_text(content)
    code, err = _gate(capsys, "--root", corpus.release_root("18.2.7"), "--baseline", str(path))
    assert code == 2 and len(err) == 1 and message in err[0]


def test_missing_baseline_file(capsys, tmp_path):
    code, err = _gate(capsys, "--baseline", str(tmp_path / "nope.json"))
    assert code == 2 and "does not exist" in err[0]


# --- policy ----------------------------------------------------------------------------------

POLICY = """\
# qemu's build root needs these (one line in the spec: librbd-probe --root ... --policy FILE)
require create.options, clone.features
features layering exclusive-lock object-map   # names
features 0x1d                                 # or a mask, as rbd default features takes it
min-release 16.2.0
allow shadowed-copy.* explicit-choice.*
"""


def test_policy_gates_unpacked_root_trees(capsys, tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text(POLICY)
    for version in ("16.2.15", "18.2.7", "20.2.4"):
        code, err = _gate(capsys, "--root", corpus.release_root(version), "--policy", str(policy))
        assert code == 0 and err == [], (version, err)
    code, err = _gate(capsys, "--root", corpus.release_root("14.2.21"), "--policy", str(policy))
    assert code == 1 and err == ["librbd-probe: error: policy: release 14.2.21 is older than min-release 16.2.0"]
    policy.write_text(POLICY + "require clone.by-id api.encryption\n")
    code, err = _gate(capsys, "--root", corpus.release_root("18.2.7"), "--policy", str(policy))
    assert code == 1
    assert err == ["librbd-probe: error: policy: clone.by-id is no: librbd.so.1 does not export rbd_clone4"]


def test_policy_unidentified_release_never_passes(capsys, tmp_path):
    # a stand-in that lost a function matches no release exactly: the scan narrows it to
    # "18.2.7 .. before 19.2.0", which shows >= 18.2.0 but cannot show >= 18.2.8
    root = standin_root(tmp_path, corpus.release_root("18.2.7"), drop=("rbd_diff_iterate3",))
    policy = tmp_path / "p.policy"
    policy.write_text("min-release 18.2.0\nfail-on none\n")
    assert _gate(capsys, "--root", root, "--policy", str(policy)) == (0, [])
    policy.write_text("min-release 18.2.8\nfail-on none\n")
    code, err = _gate(capsys, "--root", root, "--policy", str(policy))
    assert code == 1 and len(err) == 1
    assert err[0].startswith("librbd-probe: error: policy: release is only known as 18.2.7 .. before ")
    assert err[0].endswith(": cannot show it is at least 18.2.8")


def test_policy_problems_fail_unless_allowed(capsys, tmp_path):
    root = standin_root(tmp_path, corpus.release_root("18.2.7"), drop=("rbd_diff_iterate3",))
    policy = tmp_path / "p.policy"
    policy.write_text("require create.options\nfail-on warning\n")
    code, err = _gate(capsys, "--root", root, "--policy", str(policy))
    assert code == 1 and any("policy: problem release.fingerprint (warning)" in line for line in err)
    policy.write_text("require create.options\nfail-on warning\nallow release.*\n")
    code, err = _gate(capsys, "--root", root, "--policy", str(policy))
    assert code == 0 and err == []


@pytest.mark.parametrize("text,message", [
    ("requires create.options\n", "p.policy:1: unknown directive 'requires'"),
    ("\n# c\nrequire create.nothing\n", "p.policy:3: unknown capability create.nothing"),
    ("features warp-drive\n", "p.policy:1: unknown feature 'warp-drive'"),
    ("features 0x100000\n", "p.policy:1: feature mask 0x100000 has bits no known release defines"),
    ("min-release pacific\n", "p.policy:1: min-release takes one upstream version"),
    ("fail-on sometimes\n", "p.policy:1: fail-on takes one of"),
    ("require\n", "p.policy:1: require needs a value"),
])
def test_bad_policy_is_one_line_usage_error(capsys, tmp_path, text, message):
    policy = tmp_path / "p.policy"
    policy.write_text(text)
    code, err = _gate(capsys, "--root", corpus.release_root("18.2.7"), "--policy", str(policy))
    assert code == 2 and len(err) == 1 and message in err[0], err


# --- pure core on hand-built snapshots ---------------------------------------------------------

def _snap(caps=None, release=None, problems=(), librbd=("rbd_a", "rbd_b"), found=True):
    return {"capabilities": {k: {"status": v, "reason": "r-" + k} for k, v in (caps or {}).items()},
            "release": release, "problems": list(problems),
            "libraries": {"librbd": {"found": found, "functions": None if librbd is None else list(librbd),
                                     "functions_from": "x"}}}


@pytest.mark.parametrize("base,current,expected", [
    (_snap({"clone.basic": "yes"}), _snap({"clone.basic": "yes"}), []),
    (_snap({"clone.basic": "yes"}), _snap({"clone.basic": "no"}),
     ["regression: clone.basic was yes in the baseline, now no: r-clone.basic"]),
    (_snap({"clone.basic": "yes"}), _snap({"clone.basic": "unknown"}),
     ["regression: clone.basic was yes in the baseline, now unknown: r-clone.basic"]),
    (_snap({"clone.basic": "yes"}), _snap({}), ["regression: clone.basic was yes in the baseline, now absent"]),
    (_snap({"clone.basic": "no"}), _snap({"clone.basic": "unknown"}), []),
    (_snap(), _snap(librbd=("rbd_a",)), ["regression: librbd function rbd_b disappeared"]),
    (_snap(), _snap(librbd=("rbd_a", "rbd_b", "rbd_c")), []),
    (_snap(), _snap(found=False), ["regression: librbd was found in the baseline, now missing"]),
    (_snap(librbd=None), _snap(),
     ["regression: librbd functions of the baseline unknown (x): cannot show none disappeared"]),
    (_snap(), _snap(librbd=None),
     ["regression: librbd functions of the current unknown (x): cannot show none disappeared"]),
    (_snap(found=False), _snap(found=False), []),
])
def test_baseline_table(base, current, expected):
    assert gate.baseline_regressions(base, current) == expected


@pytest.mark.parametrize("release,minimum,ok", [
    ({"version": "16.2.15"}, "16.2.0", True),
    ({"version": "16.2.15"}, "16.2.15", True),
    ({"version": "16.2.15"}, "16.2.16", False),
    ({"version": None, "min": "18.2.7", "before": "20.2.4"}, "18.2.0", True),
    ({"version": None, "min": "18.2.7", "before": "20.2.4"}, "19.2.0", False),
    ({"version": None, "min": "18.2.7", "before": "19.2.0"}, "19.2.0", False),
    ({"version": None, "min": "18.2.7", "before": None}, "18.2.8", False),
    ({"version": None, "min": None}, "0.48", False),
    (None, "0.48", False),
])
def test_min_release_table(release, minimum, ok):
    policy = gate.parse_policy("min-release {}\n".format(minimum), "p")
    failures = gate.check_policy(policy, _snap(release=release))
    assert (failures == []) is ok, failures


@pytest.mark.parametrize("status,ok", [("yes", True), ("no", False), ("unknown", False), (None, False)])
def test_required_capability_table(status, ok):
    caps = {} if status is None else {"feature.journaling": status}
    policy = gate.parse_policy("features journaling\n", "p")
    failures = gate.check_policy(policy, _snap(caps))
    assert (failures == []) is ok
    if not ok:
        assert failures[0].startswith("policy: feature.journaling is " + (status or "unknown"))


@pytest.mark.parametrize("severity,fail_on,allow,fails", [
    ("error", "error", "", True),
    ("warning", "error", "", False),
    ("warning", "warning", "", True),
    ("info", "warning", "", False),
    ("info", "info", "", True),
    ("error", "none", "", False),
    ("error", "error", "allow shadowed-*\n", False),
    ("error", "error", "allow other.*\n", True),
])
def test_problem_table(severity, fail_on, allow, fails):
    policy = gate.parse_policy("fail-on {}\n{}".format(fail_on, allow), "p")
    problem = {"id": "shadowed-copy.librbd", "severity": severity, "message": "m"}
    assert bool(gate.check_policy(policy, _snap(problems=[problem]))) is fails


def test_feature_mask_expands_like_rbd_default_features():
    policy = gate.parse_policy("features 61\n", "p")
    assert policy["features"] == ["layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten"]


# --- require() ---------------------------------------------------------------------------------

def test_require_on_the_installed_library(installed):
    report = librbd_probe.require("create.options", "create.format2")
    assert report.capability("create.options").status == "yes"
    with pytest.raises(librbd_probe.RequirementError) as info:
        librbd_probe.require("clone.by-id", report=report)
    assert isinstance(info.value, librbd_probe.ProbeError)
    assert str(info.value).startswith("librbd_probe: clone.by-id is no (librbd.so.1 does not export rbd_clone4)")
    assert info.value.failures[0][:2] == ("clone.by-id", "no")
    with pytest.raises(librbd_probe.UsageError):
        librbd_probe.require("clone.nothing", report=report)


def test_require_on_a_root():
    root = corpus.release_root("20.2.4")
    assert librbd_probe.require("clone.by-id", root=root, runtime=False).release["version"] == "20.2.4"
    with pytest.raises(librbd_probe.RequirementError, match="clone.by-id is no"):
        librbd_probe.require("clone.by-id", root=corpus.release_root("18.2.7"), runtime=False)


def test_saved_baseline_outlives_the_scanned_tree(capsys, tmp_path):
    """A package build's baseline is made from the previous build, whose tree is gone by the
    next build: the report (--save-baseline, or --json) keeps the function lists; a report
    without them (an older librbd-probe) makes the gate say the functions are unknown."""
    import shutil
    real = corpus.release_root("20.2.4")
    previous = tmp_path / "previous"
    shutil.copytree(real, str(previous), symlinks=True)
    saved, plain = tmp_path / "saved.json", tmp_path / "plain.json"
    assert main(["--root", str(previous), "--save-baseline", str(saved)]) == 0
    capsys.readouterr()
    plain.write_text(_scan_json(capsys, str(previous)))
    shutil.rmtree(str(previous))
    doc = json.loads(saved.read_text())
    assert "rbd_clone4" in doc["libraries"]["librbd"]["functions"]
    assert "rados_ioctx_pool_stat@LIBRADOS_14.2.0" in doc["libraries"]["librados"]["functions"]
    assert _gate(capsys, "--root", real, "--baseline", str(saved)) == (0, [])
    code, err = _gate(capsys, "--root", corpus.release_root("18.2.7"), "--baseline", str(saved))
    assert code == 1 and "librbd-probe: error: regression: librbd function rbd_clone4 disappeared" in err
    assert _gate(capsys, "--root", real, "--baseline", str(plain)) == (0, [])
    old_style = json.loads(plain.read_text())
    for lib in old_style["libraries"].values():
        lib.pop("functions", None)
    plain.write_text(json.dumps(old_style))
    code, err = _gate(capsys, "--root", real, "--baseline", str(plain))
    assert code == 1 and any("functions of the baseline unknown" in line and " is gone" in line for line in err)
    assert json.loads(saved.read_text()) == json.loads(_scan_json(capsys, real).replace(real, str(previous)))


def test_save_baseline_to_a_directory_is_a_usage_error(capsys, tmp_path):
    code, err = _gate(capsys, "--root", corpus.release_root("18.2.7"), "--save-baseline", str(tmp_path))
    assert code == 2 and err == ["librbd-probe: error: {}: --save-baseline is a directory".format(tmp_path)]


# --- whole lines, several entries (each branch must skip one entry and go on to the next) -------

def test_baseline_lines_for_several_entries():
    base = _snap({"a.one": "no", "a.two": "yes", "a.three": "yes"})
    base["libraries"] = {"librados": {"found": False}, "libcephfs": {"found": True, "functions": ["x"]},
                         "librbd": {"found": True, "functions": ["rbd_a", "rbd_b", "rbd_c"]},
                         "libz": {"found": True, "functions": ["z"]}}
    current = _snap({"a.one": "no", "a.two": "no", "a.three": "unknown"})
    current["libraries"] = {"librbd": {"found": True, "functions": ["rbd_b"]},
                            "libz": {"found": True, "functions": None, "functions_from": None}}
    assert gate.baseline_regressions(base, current) == [
        "regression: a.three was yes in the baseline, now unknown: r-a.three",
        "regression: a.two was yes in the baseline, now no: r-a.two",
        "regression: libcephfs was found in the baseline, now missing",
        "regression: librbd function rbd_a disappeared",
        "regression: librbd function rbd_c disappeared",
        "regression: libz functions of the current unknown (not read): cannot show none disappeared",
    ]


def test_policy_lines_for_several_entries():
    policy = gate.parse_policy("require create.options,clone.basic  # comment # more\nfeatures layering\n"
                               "min-release 18.2.7\nallow keep.*\nfail-on warning\n", "p")
    assert policy == {"require": ["create.options", "clone.basic"], "features": ["layering"], "min_release": "18.2.7",
                      "allow": ["keep.*"], "fail_on": "warning", "source": "p"}


def test_check_policy_whole_lines():
    policy = {"require": ["create.options", "clone.basic", "api.trash"], "features": ["layering", "journaling"],
              "min_release": "18.2.7", "allow": ["keep.*"], "fail_on": "warning", "source": "p"}
    snap = _snap({"create.options": "yes", "clone.basic": "no", "api.trash": "unknown",
                  "feature.layering": "yes", "feature.journaling": "no"},
                 release={"version": None, "min": "18.2.7", "before": None},
                 problems=[{"id": "keep.me", "severity": "error", "message": "kept"},
                           {"id": "info.only", "severity": "info", "message": "i"},
                           {"id": "drop.me", "severity": "warning", "message": "w"},
                           {"id": "odd.one", "severity": "fatal", "message": "f"}])
    snap["capabilities"]["api.trash"]["reason"] = ""
    assert gate.check_policy(policy, snap) == [
        "policy: clone.basic is no: r-clone.basic",
        "policy: api.trash is unknown",
        "policy: feature.journaling is no: r-feature.journaling",
        "policy: problem drop.me (warning): w",
        "policy: problem odd.one (fatal): f",
    ]
    snap["release"] = {"version": None, "min": "18.2.6", "before": None}
    assert "policy: release is only known as 18.2.6 or later: cannot show it is at least 18.2.7" in \
        gate.check_policy(policy, snap)
    snap["release"] = {"version": None, "min": "18.2.6", "before": "18.2.7"}
    assert "policy: release 18.2.6 .. before 18.2.7 is older than min-release 18.2.7" in gate.check_policy(policy, snap)
    snap["release"] = None
    assert "policy: release not identified (unknown never passes min-release 18.2.7)" in gate.check_policy(policy, snap)


def test_unmet_whole_tuples():
    caps = {"a": {"status": "yes", "reason": "ok"}, "b": {"status": "no", "reason": "why"}, "c": {"status": None}}
    assert gate.unmet(caps, ["a", "b", "c", "d"]) == [
        ("b", "no", "why"), ("c", "unknown", ""), ("d", "unknown", "not reported by this scan")]


@pytest.mark.parametrize("text,message", [
    ("requires x\n", "p:1: unknown directive 'requires' (known: require, features, min-release, allow, fail-on)"),
    ("require create.nothing, clone.nothing\n", "p:1: unknown capability create.nothing, clone.nothing"),
    ("require\n", "p:1: require needs a value"),
    ("min-release 16.2 17.2\n", "p:1: min-release takes one upstream version such as 16.2.0"),
    ("fail-on\n", "p:1: fail-on needs a value"),
    ("fail-on x\n", "p:1: fail-on takes one of info, warning, error, none"),
])
def test_policy_parse_messages_whole(text, message):
    with pytest.raises(librbd_probe.UsageError) as info:
        gate.parse_policy(text, "p")
    assert str(info.value) == message


def test_requirement_error_keeps_failures():
    error = gate.RequirementError("m", [("a", "no", "r")])
    assert error.failures == (("a", "no", "r"),) and str(error) == "m"
