"""The cluster's own view: monitor sessions decoded into releases by feature bits.

Oracles from outside the decoder: release names real monitors printed for real masks (a Ceph
blog post and a public tool's README, tests/data/census/), and the real one-node test cluster
(tests/cluster.py) whose own `ceph features` / `ceph tell mon.a sessions` (the real ceph CLI)
must agree with what --live --census reports.
"""
import json
import os
import subprocess

import jsonschema
import pytest

import fleet_scenario
from conftest import HERE, PROJECT, need
from librbd_probe import census, cli, fleet

DATA = os.path.join(PROJECT, "librbd_probe", "knowledge", "data")
TABLE = os.path.join(DATA, "ceph_features.json")


def _load(path):
    with open(path) as handle:
        return json.load(handle)


# --- the knowledge table ------------------------------------------------------------------
def test_table_schema_canonical_and_sourced():
    with open(TABLE) as handle:
        text = handle.read()
    doc = json.loads(text)
    jsonschema.validate(doc, _load(os.path.join(DATA, "ceph_features.schema.json")))
    assert text == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    verified = [r for r in doc["releases"] if r["verified"]]
    assert [r["codename"] for r in verified][:3] == ["argonaut", "bobtail", "cuttlefish"]
    for rel in verified:
        if rel["source_kind"] == "header":
            assert "src/include/ceph_features.h" in rel["source"] and rel["bits"]
        else:
            assert rel["source"].startswith("observed: ") and not rel["bits"]
    for rel in doc["releases"]:
        if not rel["verified"]:
            assert rel["features_all"] is None and "no source" in rel["unverified"]
    assert "ceph_strings.cc" in doc["mon_inference"]["source"]


@pytest.mark.skipif(not os.environ.get("LIBRBD_PROBE_MIRRORS"),
                    reason="regeneration check needs bare clones of the Ceph mirrors: set LIBRBD_PROBE_MIRRORS to "
                           "'owner/name=DIR,...' (see tools/ceph_features_from_headers.py)")
def test_table_regenerates_from_the_mirrors():
    args = []
    for item in os.environ["LIBRBD_PROBE_MIRRORS"].split(","):
        args += ["--mirror", item]
    proc = subprocess.run(["python3", os.path.join(PROJECT, "tools", "ceph_features_from_headers.py"), "--check"]
                          + args, stdout=subprocess.PIPE, universal_newlines=True)
    assert proc.stdout.strip() == "up to date"


# --- decoding, against what real monitors printed -------------------------------------------
EXAMPLES = _load(os.path.join(HERE, "data", "census", "feature_examples.json"))["examples"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["mask"] for e in EXAMPLES])
def test_monitor_rule_matches_real_monitors(example):
    assert census.monitor_rule(int(example["mask"], 16)) == example["monitor_release"]


def test_decode_masks_seen_in_the_wild():
    # a 12.2.0 cluster's mask (Ceph blog) is exactly 12.2.0's CEPH_FEATURES_ALL from its release commit
    got = census.decode(0x1ffddff8eea4fffb)
    assert (got["relation"], got["version"], got["release"]) == ("exact", "12.2.0", "luminous")
    # a luminous point release with CEPHX_V2 (bit 61, sent by 14.2.0 here)
    got = census.decode(0x3ffddff8eea4fffb)
    assert got["relation"] == "at-least" and got["release"] == "luminous" and got["extra_bits"] == [61]
    assert "CEPHX_V2" in got["text"]
    # a kernel client: no release's whole set; the monitor's reading is all there is
    got = census.decode(0x7010fb86aa42ada)
    assert got["relation"] == "partial" and got["release"] == "jewel"


def test_decode_newer_than_anything_known():
    # every bit of the observed 16.2.15 mask plus a bit none sends (as a 17.2+ client would)
    pacific = [r for r in census.table()["releases"] if r[0] == "16.2.15"][0][2]
    spare = [b for b in range(62) if not pacific >> b & 1][0]
    got = census.decode(pacific | 1 << spare)
    assert got["relation"] == "newer" and got["release"] == "pacific" and got["extra_bits"] == [spare]
    assert "newer than pacific (16.2.15)" in got["text"]


def test_decode_finer_than_the_monitor():
    # the monitor's steps stop at luminous: 14.2.0's mask is "luminous" to it, nautilus here
    nautilus = int([r for r in _load(TABLE)["releases"] if r["version"] == "14.2.0"][0]["features_all"], 16)
    got = census.decode(nautilus)
    assert got["monitor_rule"] == "luminous" and got["release"] == "nautilus" and got["relation"] == "exact"
    giant = int([r for r in _load(TABLE)["releases"] if r["version"] == "0.87"][0]["features_all"], 16)
    assert census.decode(giant)["release"] == "giant" and census.decode(giant)["monitor_rule"] == "firefly"


@pytest.mark.parametrize("text, expected", [
    ("10.0.0.12:0", ("10.0.0.12", 0)), ("127.0.0.1:6800", ("127.0.0.1", 6800)),
    ("[::1]:3300", ("::1", 3300)), ("(unrecognized address family 0)", (None, None)), ("", (None, None)),
    ("10.0.0.5:0/3123", ("10.0.0.5", 0)), ("fe80::1", ("fe80::1", None)),
])
def test_split_address(text, expected):
    assert census.split_address(text) == expected


def test_build_on_the_test_clusters_real_answers():
    # what the monitor of tests/cluster.py really answered (captured with python3-rados)
    captured = _load(os.path.join(HERE, "data", "census", "test-cluster-answers.json"))
    raw = {"features_rc": 0, "features": captured["features"],
           "sessions": {"a": {"rc": 0, "text": captured["sessions"]}}}
    section = census.build(raw)
    real = json.loads(captured["sessions"])
    # only client connections (not mon.0, osd.0, mgr.4106), each once: the provisional
    # "client.?" entry and the final "client.NNNN" of one connection are one client
    expected = {(s["entity_name"], s["socket_addr"]["nonce"]) for s in real if s["con_type"] == "client"}
    assert {(c["entity"], c["nonce"]) for c in section["clients"]} == expected
    admin = [c for c in section["clients"] if c["entity"] == "client.admin"]
    final = [s["name"] for s in real if s["entity_name"] == "client.admin" and not s["name"].endswith("?")]
    assert len(admin) == 1 and [admin[0]["session"]] == final
    assert {g["type"] for g in section["groups"]} == {"mon", "osd", "mgr", "client"}
    assert all(g["agrees"] for g in section["groups"]) and all(c["agrees"] for c in section["clients"])


def test_build_reports_monitor_errors():
    section = census.build({"features_rc": -13, "features": None, "sessions": {"a": {"rc": -1, "status": "EPERM"}}})
    assert "rc -13" in section["error"] and section["session_errors"][0]["monitor"] == "a"


# --- the real cluster ------------------------------------------------------------------------
def test_live_census_agrees_with_the_real_ceph_cli(tmp_path, capsys):
    import cluster as cluster_mod
    for tool in cluster_mod.TOOLS:
        need(cluster_mod._which(tool), "{} not installed (apt-get install ceph-mon ceph-osd ceph-mgr ceph-common)".format(tool))
    handle = cluster_mod.Cluster(str(tmp_path / "cluster"))
    try:
        try:
            handle.start()
        except cluster_mod.ClusterError as exc:
            need(False, "test cluster did not start: {}".format(exc))
        real_features = json.loads(handle.ceph("features", "--format", "json").stdout)
        capsys.readouterr()
        code = cli.main(["--live", "--census", "--conf", handle.conf_path, "--keyring", handle.admin_keyring,
                         "--json"])
        out = capsys.readouterr().out
        real_sessions = json.loads(handle.ceph("tell", "mon.a", "sessions", "--format", "json").stdout)
    finally:
        handle.stop()
    assert code == 0
    report = json.loads(out)
    section = report["live"]["census"]
    assert section["error"] is None and section["monitors"] == ["a"]
    # groups: the same masks and monitor release names as the real `ceph features`
    ours = sorted((g["type"], g["mask"], g["monitor_release"]) for g in section["groups"])
    theirs = sorted((kind, item["features"], item["release"]) for kind, items in real_features.items()
                    for item in (items if isinstance(items, list) else [items]))
    assert ours == theirs
    assert all(g["agrees"] for g in section["groups"])      # our reading of the monitor's rule = the monitor
    # clients: every one we list is in the real CLI's session list with the same mask and release
    real = {(s["entity_name"], s["con_features_hex"], s["con_features_release"]) for s in real_sessions
            if s["con_type"] == "client"}
    assert section["clients"]
    for client in section["clients"]:
        assert (client["entity"], client["mask"][2:], client["monitor_release"]) in real
        assert client["address"] == "127.0.0.1"
    admin = [c for c in section["clients"] if c["entity"] == "client.admin"]
    assert admin, "our own connection (client.admin) is missing from the census"
    decoded = admin[0]["decoded"]
    # this host's client is Debian's 16.2.15: the mask the knowledge base records as observed for
    # 16.2.15 must be what the real client sends (else the data is wrong), while the monitor's own
    # rule calls it luminous
    assert report["release"]["version"] == "16.2.15"
    assert (decoded["relation"], decoded["version"], decoded["release"]) == ("exact", "16.2.15", "pacific")
    assert admin[0]["monitor_release"] == "luminous"
    assert admin[0]["text"] == "client.admin at 127.0.0.1 speaks pacific (the mask 16.2.15 builds send, as observed)"
    # it holds every bit of 15.2.0's header mask: newer than octopus by the upstream table alone
    octopus = [r for r in census.table()["releases"] if r[0] == "15.2.0"][0][2]
    assert int(admin[0]["mask"], 16) & octopus == octopus

    # the fleet: this live report as host "vm" (address 127.0.0.1) beside the article's controllers
    reports = fleet_scenario.article_reports(str(tmp_path / "reports"))
    with open(os.path.join(reports, "vm.json"), "w") as handle_out:
        handle_out.write(out)
    index_path = os.path.join(reports, "_hosts.json")
    index = _load(index_path)
    index["hosts"]["vm"] = {"ansible_host": "127.0.0.1", "addresses": ["127.0.0.1"], "report": "vm.json", "rc": 0}
    with open(index_path, "w") as handle_out:
        json.dump(index, handle_out)
    result = fleet.aggregate(fleet.load_inputs([reports]))
    by = {h.name: h for h in result.hosts}
    assert any(v.startswith("client.admin at 127.0.0.1 speaks pacific") for v in by["vm"].cluster_view)
    kinds = {t["kind"]: t for t in result.targets}
    cluster = report["live"]["cluster"]
    assert kinds["require_min_compat_client"]["codename"] == cluster["require_min_compat_client"]
    assert kinds["daemons"]["version"] == "16.2.0" and "16.2.15" in kinds["daemons"]["why"]
    assert by["openstack-con02"].status == "below-target"
    assert by["vm"].status == "ok" and by["openstack-con01"].status == "ok"


def test_census_needs_live(capsys):
    code = cli.main(["--census", "--no-runtime"])
    err = capsys.readouterr().err
    assert code == 2 and "and --census need --live" in err and err.count("\n") == 1
