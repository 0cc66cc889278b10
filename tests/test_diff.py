"""``librbd-probe diff`` on the real Debian builds (14.2.21 -> 16.2.15 -> 18.2.7 -> 20.2.4).

The oracle for added/removed functions is readelf on the two files (tests/standin.py), the
named functions are the ones the issue cites, and the stand-ins are compiled from the real
libraries' symbol lists minus what a test removes.
"""
import json
import os
import shutil

import pytest

import corpus
from conftest import need
from librbd_probe import diff
from librbd_probe.cli import main
from standin import LIBDIR, readelf_functions, standin_root

CHAIN = list(zip(corpus.RELEASES, corpus.RELEASES[1:]))


def _run(capsys, *argv):
    code = main(["diff"] + list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _lib(version, name):
    return os.path.join(corpus.release_root(version), LIBDIR, {"librbd": "librbd.so.1", "librados": "librados.so.2"}[name])


@pytest.mark.parametrize("old,new", CHAIN)
def test_upgrade_chain_lists_real_additions_with_the_compatible_code(capsys, old, new):
    code, out, err = _run(capsys, corpus.release_root(old), corpus.release_root(new), "--json")
    result = json.loads(out)
    assert code == diff.EXIT_CHANGE == 4 and result["verdict"] == "compatible", err
    for name in ("librbd", "librados"):
        before, after = readelf_functions(_lib(old, name)), readelf_functions(_lib(new, name))
        funcs = result["libraries"][name]["functions"]
        got_added = {f["function"] + ("@" + f["node"] if f["node"] else "") for f in funcs["added"]}
        assert got_added == after - before
        assert funcs["removed"] == [] and not (before - after)
        assert (funcs["old_count"], funcs["new_count"]) == (len(before), len(after))
    assert result["release"] == {"old": result["old"]["release"], "new": result["new"]["release"],
                                 "changed": True, "direction": "upgrade"}
    assert result["old"]["release"].startswith(old) and result["new"]["release"].startswith(new)


def test_named_additions_and_capability_rows(capsys):
    code, out, _ = _run(capsys, corpus.release_root("14.2.21"), corpus.release_root("16.2.15"), "--json")
    result = json.loads(out)
    added = {f["function"]: f for f in result["libraries"]["librbd"]["functions"]["added"]}
    assert "rbd_encryption_format" in added and added["rbd_encryption_format"]["first"] == "16.2.15"
    rows = {r["id"]: r for r in result["capabilities"]}
    assert rows["api.encryption"]["old"] == "no" and rows["api.encryption"]["new"] == "yes"
    assert rows["api.encryption"]["change"] == "gained"
    # libcryptsetup arrived with encryption: a NEEDED change the diff reports
    assert "libcryptsetup.so.12" in result["libraries"]["librbd"]["needed"]["added"]
    code, out, _ = _run(capsys, corpus.release_root("18.2.7"), corpus.release_root("20.2.4"))
    assert code == 4
    assert "+ rbd_clone4" in out and "clone.by-id                no -> yes" in out
    assert "Result: compatible changes only (exit 4)" in out


def test_downgrade_is_incompatible_and_names_what_goes(capsys):
    code, out, err = _run(capsys, corpus.release_root("20.2.4"), corpus.release_root("18.2.7"))
    assert code & diff.EXIT_INCOMPATIBLE and code == 12
    assert "- rbd_clone4" in out and "clone.by-id                yes -> no   REGRESSED" in out


def test_standin_lacking_a_function_is_incompatible_and_named(capsys, tmp_path):
    real = corpus.release_root("18.2.7")
    root = standin_root(tmp_path, real, drop=("rbd_diff_iterate3",))
    code, out, err = _run(capsys, real, root, "--json")
    result = json.loads(out)
    assert code == 12 and code & diff.EXIT_INCOMPATIBLE, err
    removed = [f["function"] for f in result["libraries"]["librbd"]["functions"]["removed"]]
    assert removed == ["rbd_diff_iterate3"]
    assert "librbd: function rbd_diff_iterate3 removed" in result["changes"]["incompatible"]
    # the same pair as text and Markdown
    code, out, _ = _run(capsys, real, root, "--markdown")
    assert code == 12 and "| removed | librbd | `rbd_diff_iterate3` | |" in out and "INCOMPATIBLE" in out


def test_library_files_and_version_nodes(capsys, installed):
    old = _lib("14.2.21", "librados")
    code, out, _ = _run(capsys, old, installed["librados"], "--json")
    result = json.loads(out)
    assert code == 4
    lib = result["libraries"]["librados"]
    assert "soname" not in lib          # librados.so.2 on both sides
    assert "libceph-common.so.2" in lib["needed"]["added"] and "libceph-common.so.0" in lib["needed"]["removed"]
    # librados is versioned: a node-qualified function is compared as such (readelf: name@@NODE)
    assert "rados_ioctx_pool_stat@LIBRADOS_14.2.0" in readelf_functions(old)
    code, out, _ = _run(capsys, installed["librados"], old, "--json")
    result = json.loads(out)
    removed = {(f["function"], f["node"]) for f in result["libraries"]["librados"]["functions"]["removed"]}
    assert ("rados_aio_create_completion2", None) in removed
    assert code == 12


def test_saved_reports_as_sides(capsys, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert main(["--root", corpus.release_root("16.2.15"), "--json"]) == 0
    old.write_text(capsys.readouterr()[0])
    assert main(["--root", corpus.release_root("20.2.4"), "--json"]) == 0
    new.write_text(capsys.readouterr()[0])
    code, out, _ = _run(capsys, str(old), str(new), "--json")
    result = json.loads(out)
    assert code == 4 and result["old"]["kind"] == "report"
    assert "rbd_clone4" in {f["function"] for f in result["libraries"]["librbd"]["functions"]["added"]}
    # the report lists its functions: it is compared from the file alone
    assert "functions" in json.loads(old.read_text())["libraries"]["librbd"]
    # a report without them (an older librbd-probe) whose library file changed since (the build
    # id differs) cannot be compared: exit 3
    doc = json.loads(old.read_text())
    del doc["libraries"]["librbd"]["functions"]
    doc["libraries"]["librbd"]["build_id"] = "00" * 20
    old.write_text(json.dumps(doc))
    code, out, err = _run(capsys, str(old), str(new))
    assert code == 3 and "changed since (build id" in err and "functions: unknown" in out


def test_consumer_needing_a_removed_function(capsys):
    need(shutil.which("readelf") is not None, "readelf not installed")
    binding = corpus.library("16.2.15", "rbd-binding")
    code, out, _ = _run(capsys, corpus.release_root("16.2.15"), corpus.release_root("14.2.21"),
                        "--consumer", binding, "--json")
    result = json.loads(out)
    assert code == 12
    (row,) = result["consumers"]
    assert row["path"] == binding and "rbd_encryption_format" in row["needs_removed"]
    # REAL-LIBRARIES.md: the 16.2.15 binding imports 34 rbd_* functions 14.2.21 lacks
    assert len([n for n in row["needs_removed"] if n.startswith("rbd_")]) == 34


def test_identical_sides_no_change(capsys):
    root = corpus.release_root("18.2.7")
    code, out, _ = _run(capsys, root, root)
    assert code == 0 and "Result: no change (exit 0)" in out


def _truncated_copy(directory):
    path = directory / "librbd.so.1"
    with open(_lib("18.2.7", "librbd"), "rb") as handle:
        path.write_bytes(handle.read(200000))
    return str(path)


@pytest.mark.parametrize("make,expected_code,message", [
    (lambda d: str(d / "missing"), 2, "does not exist"),
    (lambda d: (d / "x.txt").write_text("hello") and str(d / "x.txt"), 3, "neither an ELF library"),
    (lambda d: (d / "x.json").write_text('{"a": 1}') and str(d / "x.json"), 3, "not a librbd-probe JSON report"),
    (lambda d: "/bin/sh", 2, "neither librbd nor librados"),
    (lambda d: str(d), 3, "no librbd.so.1 or librados.so.2 under this root"),
    (lambda d: _truncated_copy(d), 3, "truncated or corrupt"),
])
def test_bad_sides_are_one_line(capsys, tmp_path, make, expected_code, message):
    path = make(tmp_path)
    code, out, err = _run(capsys, path, corpus.release_root("18.2.7"))
    assert code == expected_code and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_usage_error(capsys):
    code, _, err = _run(capsys, "only-one")
    assert code == 2 and "diff" in err


# --- the pure core on hand-built snapshots: every kind of change and its bit ------------------

def _side(**lib):
    base = {"found": True, "soname": "librbd.so.1", "needed": ["librados.so.2"], "runpath": [], "rpath": [],
            "version_definitions": [], "functions": ["rbd_a", "rbd_b"], "functions_from": "x"}
    base.update(lib)
    return {"source": "s", "kind": "library", "release": {"version": "18.2.7"},
            "capabilities": {"clone.basic": {"status": "yes", "reason": ""}}, "libraries": {"librbd": base}}


@pytest.mark.parametrize("change,code,line", [
    ({}, 0, None),
    ({"functions": ["rbd_a", "rbd_b", "rbd_c"]}, 4, "librbd: function rbd_c added"),
    ({"functions": ["rbd_a"]}, 12, "librbd: function rbd_b removed"),
    ({"functions": ["rbd_a", "rbd_b@NODE_1"]}, 12, "librbd: function rbd_b removed"),
    ({"soname": "librbd.so.2"}, 12, "librbd: soname librbd.so.1 -> librbd.so.2"),
    ({"needed": ["librados.so.2", "libnbd.so.0"]}, 4, "librbd: NEEDED libnbd.so.0 added"),
    ({"needed": []}, 4, "librbd: NEEDED librados.so.2 removed"),
    ({"runpath": ["/opt/ceph/lib"]}, 4, "librbd: RUNPATH none -> /opt/ceph/lib"),
    ({"rpath": ["/x"]}, 4, "librbd: RPATH none -> /x"),
    ({"version_definitions": ["LIBRBD_1"]}, 4, "librbd: version node LIBRBD_1 added"),
    ({"found": False}, 12, "librbd: present in the old side, missing in the new one"),
    ({"functions": None}, 3, "librbd: functions of the new side unknown (x)"),
])
def test_compare_table(change, code, line):
    result = diff.compare(_side(), _side(**change))
    assert result["exit_code"] == code and result["verdict"] == diff.verdict(code)
    changes = result["changes"]["compatible"] + result["changes"]["incompatible"] + result["changes"]["unknown"]
    assert (line in changes) if line else changes == []


def test_compare_reverse_node_removed_and_library_new():
    old = _side(version_definitions=["LIBRBD_1"])
    assert "librbd: version node LIBRBD_1 removed" in diff.compare(old, _side())["changes"]["incompatible"]
    absent = _side(found=False)
    result = diff.compare(absent, _side())
    assert result["exit_code"] == 4 and result["changes"]["compatible"] == ["librbd: new in the new side"]


@pytest.mark.parametrize("before,after,change,code", [
    ("yes", "no", "regressed", 12), ("yes", "unknown", "regressed", 12), ("yes", None, "regressed", 12),
    ("no", "yes", "gained", 4), ("unknown", "yes", "gained", 4), ("no", "unknown", "changed", 4),
    (None, "yes", "gained", 4),
])
def test_capability_table(before, after, change, code):
    old, new = _side(), _side()
    old["capabilities"] = {} if before is None else {"x.y": {"status": before, "reason": ""}}
    new["capabilities"] = {} if after is None else {"x.y": {"status": after, "reason": ""}}
    result = diff.compare(old, new)
    assert result["exit_code"] == code and result["capabilities"][0]["change"] == change


@pytest.mark.parametrize("old,new,direction", [
    ({"version": "16.2.15"}, {"version": "18.2.7"}, "upgrade"),
    ({"version": "18.2.7"}, {"version": "16.2.15"}, "downgrade"),
    ({"version": None, "min": "18.2.7", "before": "19.2.0"}, {"version": "18.2.7"}, "same"),
    (None, {"version": "18.2.7"}, "unknown"),
])
def test_release_direction(old, new, direction):
    a, b = _side(), _side()
    a["release"], b["release"] = old, new
    result = diff.compare(a, b)
    assert result["release"]["direction"] == direction and result["exit_code"] == 4


def test_consumer_rows():
    consumers = [{"path": "/q", "needs": ["rbd_b", "rbd_x"]}, {"path": "/r", "needs": ["rbd_a"]}]
    result = diff.compare(_side(), _side(functions=["rbd_a"]), consumers)
    assert result["consumers"] == [{"path": "/q", "needs_removed": ["rbd_b"], "needs": 2},
                                   {"path": "/r", "needs_removed": [], "needs": 1}]
    assert "consumer /q needs removed function rbd_b" in result["changes"]["incompatible"]


def test_consumer_from_a_consumers_report(capsys, tmp_path):
    binding = corpus.library("16.2.15", "rbd-binding")
    # exit 1: in a tree of Ceph packages alone the loader finds no libc.so.6 for the binding
    # (consumers says so); the report still lists what the binding needs from librbd
    assert main(["consumers", "--json", "--root", corpus.release_root("16.2.15"), binding]) in (0, 1)
    report = tmp_path / "consumers.json"
    report.write_text(capsys.readouterr()[0])
    code, out, _ = _run(capsys, corpus.release_root("16.2.15"), corpus.release_root("14.2.21"),
                        "--consumer", str(report), "--json")
    rows = json.loads(out)["consumers"]
    assert code == 12 and [r["path"] for r in rows] == [binding] and "rbd_encryption_format" in rows[0]["needs_removed"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"consumers": 1}')
    code, _, err = _run(capsys, corpus.release_root("16.2.15"), corpus.release_root("14.2.21"), "--consumer", str(bad))
    assert code == 2 and "--consumer is neither an ELF file nor a 'consumers --json' report" in err


def _render_case():
    old = _side()
    old["source"] = "old/root"
    old["libraries"]["librados"] = {"found": True, "soname": "librados.so.2", "functions": ["rados_x"],
                                    "functions_from": "x"}
    old["libraries"]["libz"] = {"found": True, "soname": "libz.so.1", "needed": ["libc.so.6"], "rpath": ["/r"],
                                "version_definitions": ["Z_1"], "functions": ["z"]}
    new = _side(soname="librbd.so.2", needed=["librados.so.2", "libnbd.so.0"], runpath=["/opt/ceph"],
                version_definitions=["LIBRBD_2"], functions=["rbd_a", "rbd_clone4@LIBRBD_2"])
    new["source"], new["release"] = "new/root", {"version": "20.2.4"}
    new["capabilities"] = {"clone.basic": {"status": "no", "reason": "gone"},
                           "feature.layering": {"status": "yes", "reason": ""}}
    new["libraries"]["librados"] = {"found": True, "soname": "librados.so.2", "functions": None,
                                    "functions_from": "gone.json"}
    new["libraries"]["libz"] = {"found": False}
    return diff.compare(old, new, [{"path": "/q", "needs": ["rbd_b"]}])


def _since(name):
    from librbd_probe import knowledge as kn
    func = kn.function(name)
    return "since {}{}".format(func.first, "" if func.exact else ", first seen in a Debian build")


def test_text_rendering_whole():
    assert diff.to_text(_render_case()) == "\n".join([
        "librbd-probe diff",
        "  old: old/root (18.2.7 (reef))",
        "  new: new/root (20.2.4 (tentacle))",
        "Release: 18.2.7 (reef) -> 20.2.4 (tentacle) (upgrade)",
        "librados:",
        "  functions: unknown",
        "librbd:",
        "  soname librbd.so.1 -> librbd.so.2",
        "  NEEDED + libnbd.so.0",
        "  version node + LIBRBD_2",
        "  RUNPATH none -> /opt/ceph",
        "  functions: 2 -> 2 (1 added, 1 removed)",
        "    + rbd_clone4@LIBRBD_2                          " + _since("rbd_clone4"),
        "    - rbd_b",
        "libz:",
        "  found: old True -> new False",
        "Capabilities and feature rows:",
        "  clone.basic                yes -> no   REGRESSED",
        "  feature.layering           absent -> yes",
        "Consumer /q: needs removed rbd_b",
        "Unknown: librados: functions of the new side unknown (gone.json)",
        "Result: could not compare completely (exit 3)",
    ]) + "\n"


def test_markdown_rendering_whole():
    assert diff.to_markdown(_render_case()) == "\n".join([
        "### librbd-probe diff: old/root (18.2.7 (reef)) -> new/root (20.2.4 (tentacle))",
        "",
        "**Result:** could not compare completely (exit 3)",
        "",
        "| change | library | item | since |",
        "|---|---|---|---|",
        "| removed | librbd | `rbd_b` | |",
        "| added | librbd | `rbd_clone4@LIBRBD_2` | {} |".format(_since("rbd_clone4").split()[1].rstrip(",")),
        "| added | librbd | NEEDED `libnbd.so.0` | |",
        "| added | librbd | version node `LIBRBD_2` | |",
        "| regressed | | `clone.basic`: yes -> no | |",
        "| gained | | `feature.layering`: absent -> yes | |",
        "| consumer | | consumer /q needs removed function rbd_b | |",
        "| unknown | | librados: functions of the new side unknown (gone.json) | |",
    ]) + "\n"


def test_text_rendering_removed_items_and_verdicts():
    old = _side(needed=["librados.so.2", "libssl.so.3"], version_definitions=["LIBRBD_1"], rpath=["/x"])
    new = _side(functions=["rbd_a", "rbd_b", "rbd_new"])
    result = diff.compare(old, new)
    text = diff.to_text(result)
    assert "  NEEDED - libssl.so.3\n  version node - LIBRBD_1\n  RPATH /x -> none\n" in text
    assert text.endswith("Result: INCOMPATIBLE (exit 12: bits 4|8)\n")
    markdown = diff.to_markdown(result)
    assert "| removed | librbd | NEEDED `libssl.so.3` | |" in markdown
    assert "| removed | librbd | version node `LIBRBD_1` | |" in markdown
    assert "| added | librbd | `rbd_new` | ? |" in markdown
    assert diff.to_text(diff.compare(_side(), _side())).endswith("Release: unchanged, 18.2.7 (reef)\n"
                                                                   "librbd:\n  functions: 2 -> 2 (0 added, 0 removed)\n"
                                                                   "Result: no change (exit 0)\n")
    assert "+ rbd_new                                      not in the knowledge base" in text


@pytest.mark.parametrize("release,text", [
    (None, "unknown"),
    ({}, "unknown"),
    ({"version": "16.2.15"}, "16.2.15 (pacific)"),
    ({"version": None, "min": "18.2.7", "before": "19.2.0"}, "18.2.7 .. before 19.2.0"),
    ({"version": None, "min": "18.2.7", "before": None}, "18.2.7 or later"),
    ({"version": None, "min": None}, "not identified"),
])
def test_release_text(release, text):
    assert diff.release_text(release) == text


def test_json_result_whole():
    """The --json shape of a hand-built comparison, key by key (what a consumer of the JSON reads)."""
    from librbd_probe import knowledge as kn
    result = _render_case()
    clone4 = kn.function("rbd_clone4")
    assert result["capabilities"] == [
        {"change": "regressed", "id": "clone.basic", "kind": "capability", "new": "no", "old": "yes", "reason": "gone"},
        {"change": "gained", "id": "feature.layering", "kind": "feature", "new": "yes", "old": None, "reason": ""}]
    assert result["changes"] == {
        "compatible": ["librbd: NEEDED libnbd.so.0 added", "librbd: version node LIBRBD_2 added",
                       "librbd: RUNPATH none -> /opt/ceph", "librbd: function rbd_clone4@LIBRBD_2 added",
                       "release 18.2.7 (reef) -> 20.2.4 (tentacle)", "capability feature.layering: absent -> yes"],
        "incompatible": ["librbd: soname librbd.so.1 -> librbd.so.2", "librbd: function rbd_b removed",
                         "libz: present in the old side, missing in the new one", "capability clone.basic: yes -> no",
                         "consumer /q needs removed function rbd_b"],
        "unknown": ["librados: functions of the new side unknown (gone.json)"]}
    assert result["libraries"] == {
        "librados": {"found": {"new": True, "old": True}, "functions": None},
        "librbd": {"found": {"new": True, "old": True},
                   "functions": {"added": [{"first": clone4.first, "first_exact": clone4.exact, "function": "rbd_clone4",
                                            "node": "LIBRBD_2"}],
                                 "new_count": 2, "old_count": 2,
                                 "removed": [{"first": None, "first_exact": False, "function": "rbd_b", "node": None}]},
                   "needed": {"added": ["libnbd.so.0"], "removed": []},
                   "runpath": {"new": ["/opt/ceph"], "old": []},
                   "soname": {"new": "librbd.so.2", "old": "librbd.so.1"},
                   "version_definitions": {"added": ["LIBRBD_2"], "removed": []}},
        "libz": {"found": {"new": False, "old": True}}}
    assert result["old"] == {"kind": "library", "release": "18.2.7 (reef)", "source": "old/root"}
    assert result["new"] == {"kind": "library", "release": "20.2.4 (tentacle)", "source": "new/root"}
    assert result["release"] == {"changed": True, "direction": "upgrade", "new": "20.2.4 (tentacle)",
                                 "old": "18.2.7 (reef)"}
    assert (result["schema_version"], result["exit_code"], result["verdict"]) == (1, 3, "undetermined")
    both = _side(functions=None)
    assert diff.compare(both, _side(functions=None))["changes"]["unknown"] == [
        "librbd: functions of the old and new side unknown (x)"]


def test_architecture_change_is_incompatible(capsys):
    """The same release built for arm64: same functions, but nothing built for x86-64 loads it."""
    code, out, _ = _run(capsys, corpus.release_root("16.2.15"), corpus.release_root("16.2.15", "arm64"), "--json")
    result = json.loads(out)
    assert code == 12
    for name in ("librbd", "librados"):
        lib = result["libraries"][name]
        assert lib["arch"] == {"old": "x86-64", "new": "aarch64"}
        assert lib["functions"]["added"] == [] and lib["functions"]["removed"] == []
        assert "{}: architecture x86-64 -> aarch64".format(name) in result["changes"]["incompatible"]
    code, out, _ = _run(capsys, corpus.release_root("16.2.15"), corpus.release_root("16.2.15", "arm64"))
    assert "  architecture x86-64 -> aarch64\n" in out
