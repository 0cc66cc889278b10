"""librbd-probe fleet: real scans in, the stale host out, in every output format.

Reports come from real scans (tests/fleet_scenario.py): the installed Debian 16.2.15, the 0.87
stand-in of the article's openstack-con02, and --root scans of the unpacked Debian 14.2.21,
18.2.7 and 20.2.4 packages.  Unit tests of the pure core (targets from a live section, release
ranges) use hand-built report fragments.
"""
import json
import os
import shutil

import jsonschema
import pytest

import fleet_scenario
from conftest import PROJECT, need
from librbd_probe import cli, fleet

SCHEMA = os.path.join(PROJECT, "librbd_probe", "schemas", "fleet.schema.json")


@pytest.fixture(scope="module")
def article(tmp_path_factory):
    return fleet_scenario.article_reports(str(tmp_path_factory.mktemp("article")))


@pytest.fixture(scope="module")
def computes(tmp_path_factory):
    return fleet_scenario.corpus_reports(str(tmp_path_factory.mktemp("computes")))


def run(capsys, *argv):
    code = cli.main(["fleet"] + list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def schema_check(data):
    with open(SCHEMA) as handle:
        jsonschema.validate(data, json.load(handle))


def test_article_scenario_json(article, capsys):
    code, out, err = run(capsys, article, "--json")
    assert code == 1 and "1 of 3 hosts flagged: openstack-con02" in err
    data = json.loads(out)
    schema_check(data)
    assert data["flagged"] == ["openstack-con02"]
    hosts = {h["name"]: h for h in data["hosts"]}
    con02 = hosts["openstack-con02"]
    assert con02["status"] == "stale" and "problems" in con02["flags"]
    assert "giant" in con02["release_label"]
    assert data["majority"]["label"] == "16.2.15 (pacific)" and data["majority"]["hosts"] == 2
    assert con02["fixes"][0] == "upgrade librbd1/librados2 on openstack-con02 to 16.2.15 (pacific) or later"
    assert any("rbd default features = 1" in f for f in con02["fixes"])
    assert con02["config_unknown"] == ["exclusive-lock", "object-map", "fast-diff", "deep-flatten"]
    assert any("FunctionNotSupported: error creating image" in r for r in con02["reasons"])
    for name in ("openstack-con01", "openstack-con03"):
        assert hosts[name]["status"] == "ok" and hosts[name]["fixes"] == []
        assert hosts[name]["capabilities"]["feature.exclusive-lock"] == "yes"
    assert con02["capabilities"]["feature.exclusive-lock"] == "no"
    assert hosts["openstack-con02"]["addresses"] == ["10.0.0.12"]       # from _hosts.json
    nonuni = {c["id"]: c for c in data["non_uniform"]}
    assert nonuni["create.format1"]["hosts"]["yes"] == ["openstack-con02"]
    assert nonuni["feature.exclusive-lock"]["hosts"]["no"] == ["openstack-con02"]
    assert "create.format2" not in nonuni and "feature.layering" not in nonuni


def test_article_scenario_text_and_markdown(article, capsys):
    code, out, _ = run(capsys, article)
    assert code == 1
    line = [l for l in out.splitlines() if l.strip().startswith("openstack-con02")][0]
    assert "STALE" in line and "config.unknown-features" in line
    assert "fix: upgrade librbd1/librados2 on openstack-con02 to 16.2.15 (pacific) or later" in out
    assert [l for l in out.splitlines() if l.strip().startswith("openstack-con01")][0].split()[1] == "ok"
    code, md, _ = run(capsys, article, "--markdown")
    row = [l for l in md.splitlines() if l.startswith("| openstack-con02 |")][0]
    assert "**STALE**" in row and "upgrade librbd1/librados2 on openstack-con02" in row
    assert "### openstack-con02 (STALE)" in md


def test_same_bytes_twice(article, capsys):
    assert run(capsys, article, "--json")[1] == run(capsys, article, "--json")[1]


def test_target_release_and_corpus_hosts(article, computes, capsys):
    code, out, _ = run(capsys, article, os.path.dirname(computes["14.2.21"]), "--target-release", "16.2.0", "--json")
    data = json.loads(out)
    schema_check(data)
    hosts = {h["name"]: h for h in data["hosts"]}
    assert hosts["compute-14-2-21"]["status"] == "below-target"
    assert hosts["compute-14-2-21"]["release_label"] == "14.2.21 (nautilus)"
    assert hosts["openstack-con02"]["status"] == "below-target"
    assert hosts["compute-18-2-7"]["status"] == "differs" and hosts["compute-18-2-7"]["fixes"] == []
    assert hosts["compute-20-2-4"]["capabilities"]["clone.by-id"] == "yes"
    assert hosts["compute-18-2-7"]["capabilities"]["clone.by-id"] == "no"
    assert {"clone.by-id", "api.encryption"} <= {c["id"] for c in data["non_uniform"]}
    assert hosts["compute-14-2-21"]["mode"] == "static"
    # a uniform fleet at its target passes
    code, out, err = run(capsys, computes["18.2.7"], "--target-release", "18.2.0")
    assert code == 0 and err == ""


def test_ansible_json_callback_output(article, tmp_path, capsys):
    # The stock json callback's shape (h12-contract.md section 2), carrying real report text.
    hosts = {}
    for name in ("openstack-con01", "openstack-con02"):
        with open(os.path.join(article, name + ".json")) as handle:
            hosts[name] = {"rc": 0, "stdout": handle.read(), "stderr": "", "changed": True}
    hosts["openstack-con03"] = {"rc": 127, "stdout": "", "stderr": "/usr/bin/env: 'python3': No such file or directory",
                                "msg": "non-zero return code", "failed": True}
    doc = {"plays": [{"play": {"name": "scan"}, "tasks": [
        {"task": {"name": "push the pyz"}, "hosts": {n: {"changed": False} for n in hosts}},
        {"task": {"name": fleet.SCAN_TASK}, "hosts": hosts}]}], "stats": {}}
    path = tmp_path / "ansible.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(capsys, str(path), "--json")
    data = json.loads(out)
    schema_check(data)
    by = {h["name"]: h for h in data["hosts"]}
    assert by["openstack-con03"]["status"] == "failed"
    assert "python3': No such file or directory" in by["openstack-con03"]["reasons"][0]
    assert by["openstack-con02"]["status"] == "stale"
    assert data["hosts"][0]["name"] == "openstack-con03"          # worst first
    assert code == 1


def test_collected_directory_with_failures(article, tmp_path, capsys):
    target = tmp_path / "reports"
    shutil.copytree(article, str(target))
    (target / "broken-host.json").write_text('{"schema_version": 1, "libr')
    (target / "down-host.failed.json").write_text(json.dumps(
        {"collect_schema": 1, "host": "down-host", "rc": None, "stderr": "", "stdout": "",
         "msg": "Failed to connect to the host via ssh"}))
    code, out, _ = run(capsys, str(target), "--json")
    by = {h["name"]: h for h in json.loads(out)["hosts"]}
    assert by["broken-host"]["status"] == "failed" and "not valid JSON" in by["broken-host"]["error"]
    assert by["down-host"]["status"] == "failed" and "ssh" in by["down-host"]["reasons"][0]
    assert by["openstack-con01"]["status"] == "ok"


@pytest.mark.parametrize("make, message", [
    (lambda d: str(d / "nope"), "does not exist"),
    (lambda d: (d / "x.json").write_text("{]") and str(d / "x.json"), "is not valid JSON"),
    (lambda d: (d / "y.json").write_text('{"a": 1}') and str(d / "y.json"), "not a librbd-probe report"),
    (lambda d: (d / "empty").mkdir() or str(d / "empty"), "no *.json reports"),
    (lambda d: (d / "p.json").write_text('{"plays": []}') and str(d / "p.json"), "without a task named"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, make, message):
    path = make(tmp_path)
    code, out, err = run(capsys, path)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_html_to_an_unwritable_place(article, tmp_path, capsys):
    code, _, err = run(capsys, article, "--html", str(tmp_path / "no" / "such" / "dir.html"))
    assert code == 2 and "--html cannot be written" in err and err.count("\n") == 1


def test_duplicate_host_and_bad_target(article, capsys):
    code, _, err = run(capsys, article, os.path.join(article, "openstack-con01.json"))
    assert code == 2 and "openstack-con01 given more than once" in err
    code, _, err = run(capsys, article, "--target-release", "pacific")
    assert code == 2 and "not a Ceph version" in err


def test_no_host_scanned_is_exit_3(tmp_path, capsys):
    (tmp_path / "a.failed.json").write_text(json.dumps({"collect_schema": 1, "host": "a", "rc": 2, "stderr": "boom"}))
    code, _, err = run(capsys, str(tmp_path))
    assert code == 3 and "no host could be scanned" in err


# --- pure core on hand-built fragments ------------------------------------------------------
def _report(version=None, low=None, before=None, codename=None, live=None):
    rep = {"schema_version": 1, "libraries": {}, "capabilities": {"create.format2": {"status": "yes"}},
           "problems": [], "mode": "static",
           "release": {"version": version, "min": low or version, "before": before, "codename": codename}}
    if live is not None:
        rep["live"] = live
    return rep


def test_targets_from_a_live_section():
    live = {"cluster": {"require_min_compat_client": "luminous", "versions": {"overall": {
        "ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)": 3,
        "ceph version 15.2.17 (8a82819d84cf884bd39c17e3236e0632ac146dc4) octopus (stable)": 1}}}}
    inputs = [fleet.HostInput("mon-host", _report("16.2.15", codename="pacific", live=live)),
              fleet.HostInput("old", _report(low="11.2.0", before="12.2.0", codename="kraken")),
              fleet.HostInput("mid", _report("14.2.21", codename="nautilus"))]
    result = fleet.aggregate(inputs)
    kinds = {t["kind"]: t for t in result.targets}
    assert kinds["require_min_compat_client"]["version"] == "12.2.0"
    assert kinds["daemons"]["version"] == "15.2.0"          # the oldest daemons' series: octopus
    by = {h.name: h for h in result.hosts}
    assert by["old"].status == "below-target"
    assert "upgrade librbd1/librados2 on old to 16.2.15 (pacific) or later" in by["old"].fixes
    assert by["mid"].status == "stale" and "behind-daemons" in by["mid"].flags
    assert by["mon-host"].status == "ok"


def test_range_boundaries_and_unknown_release():
    inputs = [fleet.HostInput("a", _report("16.2.15")), fleet.HostInput("b", _report("16.2.15")),
              fleet.HostInput("c", _report(low="16.2.0", before="16.2.15")),      # older than 16.2.15 for sure
              fleet.HostInput("d", _report(low="16.2.15", before="18.2.7")),      # may be 16.2.15 itself
              fleet.HostInput("e", _report()),
              fleet.HostInput("f", _report(low="16.2.0", before="18.2.7"))]
    by = {h.name: h for h in fleet.aggregate(inputs).hosts}
    assert by["c"].status == "stale" and by["d"].status == "differs"
    assert by["e"].status == "unknown" and "unknown never passes" in by["e"].reasons[0]
    by = {h.name: h for h in fleet.aggregate(inputs, target_release="16.2.15").hosts}
    assert by["d"].status == "differs"               # at least 16.2.15 for sure: meets the target
    assert by["f"].status == "below-target"          # 16.2.0 .. 18.2.6: not known to be at least it
    assert "not known to be at least 16.2.15" in by["f"].reasons[0]
    assert by["a"].status == "ok"


def test_census_cross_reference_by_address():
    live = {"census": {"clients": [
        {"entity": "client.cinder", "address": "10.0.0.12", "text": "client.cinder at 10.0.0.12 speaks giant"},
        {"entity": "client.glance", "address": "10.0.0.99", "text": "client.glance at 10.0.0.99 speaks jewel"}]}}
    inputs = [fleet.HostInput("mon", _report("16.2.15", live=live), addresses=("10.0.0.1",)),
              fleet.HostInput("openstack-con02", _report("0.87"), addresses=("10.0.0.12",))]
    result = fleet.aggregate(inputs)
    by = {h.name: h for h in result.hosts}
    assert by["openstack-con02"].cluster_view == ("client.cinder at 10.0.0.12 speaks giant",)
    assert [c["entity"] for c in result.unmatched_clients] == ["client.glance"]
    assert result.census == {"clients": 2, "matched": 1}


# --- end to end: collected by contrib/ansible over real ssh, then fleet ------------------------
def test_article_scenario_collected_by_ansible(tmp_path, capsys):
    import ansible_targets
    import stubs
    reason = ansible_targets.missing()
    need(reason is None, reason or "")
    conf = tmp_path / "ceph.conf"
    conf.write_text(fleet_scenario.CONF)
    old_librbd, old_librados = stubs.build_release_standin("0.87")
    common = {"librbd_probe_conf": str(conf), "librbd_probe_client": "cinder"}
    hosts = [("openstack-con01", "127.0.0.2", dict(common)),
             ("openstack-con02", "127.0.0.3", dict(common, librbd_probe_args=["--librbd", old_librbd,
                                                                             "--librados", old_librados])),
             ("openstack-con03", "127.0.0.4", dict(common))]
    reports, proc = ansible_targets.collect(str(tmp_path / "collect"), hosts)
    assert proc.returncode == 0, proc.stderr[-2000:]
    callback = tmp_path / "callback.json"
    callback.write_text(proc.stdout)
    for source in (reports, str(callback)):
        code, out, err = run(capsys, source, "--json")
        data = json.loads(out)
        schema_check(data)
        assert code == 1 and data["flagged"] == ["openstack-con02"], (source, err)
        con02 = [h for h in data["hosts"] if h["name"] == "openstack-con02"][0]
        assert con02["status"] == "stale" and "giant" in con02["release_label"]
        assert con02["fixes"][0] == "upgrade librbd1/librados2 on openstack-con02 to 16.2.15 (pacific) or later"
    # the directory's _hosts.json gives each host's addresses (hostname -I on the target)
    by = {h["name"]: h for h in json.loads(run(capsys, reports, "--json")[1])["hosts"]}
    assert all(by[name]["addresses"] for name in by)


def test_census_sees_an_older_client_than_the_scan():
    # the host's scan says 16.2.15, but a connection from its address speaks jewel: a process that
    # was not restarted after the upgrade (or loads another copy)
    live = {"census": {"clients": [
        {"entity": "client.cinder", "address": "10.0.0.12", "text": "client.cinder at 10.0.0.12 speaks jewel",
         "decoded": {"relation": "exact", "release": "jewel", "version": "10.2.0"}},
        {"entity": "client.nova", "address": "10.0.0.13", "text": "client.nova at 10.0.0.13 ...",
         "decoded": {"relation": "partial", "release": "jewel"}},
        {"entity": "client.admin", "address": "10.0.0.1", "text": "client.admin at 10.0.0.1 speaks pacific",
         "decoded": {"relation": "exact", "release": "pacific", "version": "16.2.15"}}]}}
    inputs = [fleet.HostInput("mon", _report("16.2.15", codename="pacific", live=live), addresses=("10.0.0.1",)),
              fleet.HostInput("con02", _report("16.2.15", codename="pacific"), addresses=("10.0.0.12",)),
              fleet.HostInput("compute", _report("16.2.15", codename="pacific"), addresses=("10.0.0.13",))]
    by = {h.name: h for h in fleet.aggregate(inputs).hosts}
    assert by["con02"].status == "running-older"
    assert "speaking jewel, older than the 16.2.15 (pacific) scanned here" in by["con02"].reasons[0]
    assert by["con02"].fixes[0].startswith("restart the processes on con02 that connect as client.cinder")
    assert by["compute"].status == "ok"            # a kernel client's bits are not comparable
    assert by["mon"].status == "ok"


def test_exact_host_at_a_range_majority_differs_not_stale():
    # two hosts known only as "16.2.15 .. before 18.2.7" and one exactly 16.2.15: not older
    inputs = [fleet.HostInput("r1", _report(low="16.2.15", before="18.2.7")),
              fleet.HostInput("r2", _report(low="16.2.15", before="18.2.7")),
              fleet.HostInput("x", _report("16.2.15")), fleet.HostInput("y", _report("14.2.21"))]
    by = {h.name: h for h in fleet.aggregate(inputs).hosts}
    assert by["x"].status == "differs" and by["y"].status == "stale" and by["r1"].status == "ok"


def test_capability_missing_on_a_host_is_not_uniform_and_info_fixes_stay_out():
    old = _report("16.2.15")
    old["capabilities"] = {}                                     # e.g. a report that lacks the row
    info = _report("16.2.15")
    info["problems"] = [{"id": "explicit-choice.librbd", "severity": "info", "message": "m", "fix": "never shown"},
                        {"id": "config.x", "severity": "warning", "message": "w", "fix": "shown"}]
    result = fleet.aggregate([fleet.HostInput("a", _report("16.2.15")), fleet.HostInput("b", old),
                              fleet.HostInput("c", info)])
    assert [c["id"] for c in result.non_uniform] == ["create.format2"]
    by = {h.name: h for h in result.hosts}
    assert by["c"].fixes == ("shown",) and by["c"].status == "ok"
