"""The case that started the project (shared/seed-article.md), end to end without a cluster.

A Cinder host with a Ceph 0.87 (giant) client library and a ceph.conf asking for
`rbd default features = 61` (jewel's default) creates volumes through the ctypes-era
binding, which fails with `FunctionNotSupported: error creating image`.  The 0.87 library
is a stand-in built from v0.87's headers (see tests/stubs.py); everything else is real code.
"""
import json

import pytest

import stubs
from librbd_probe import cli


@pytest.fixture
def article_host(tmp_path):
    librbd, librados = stubs.build_release_standin("0.87")
    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\nfsid = 00000000-0000-0000-0000-000000000000\n"
                    "mon host = 10.0.0.1\n\n[client]\nrbd default features = 61\n"
                    "keyring = /etc/ceph/ceph.client.cinder.keyring\n\n"
                    "[client.cinder]\nkey = AQBSdFhbAAAAABAAsecretsecretsecretsecret==\n")
    return ["--librbd", librbd, "--librados", librados, "--conf", str(conf), "--id", "cinder"]


def test_article_host_json(article_host, capsys):
    code = cli.main(article_host + ["--json"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 0
    assert data["release"]["min"] in ("0.67.10", "0.80.6", "0.87") and "giant" in data["release"]["codename"]
    config = data["config"]
    assert config["client"] == "client.cinder"
    assert config["rbd_default_features"]["value"] == 61
    assert config["rbd_default_features"]["unknown_to_library"] == ["exclusive-lock", "object-map", "fast-diff", "deep-flatten"]
    problem = [p for p in data["problems"] if p["id"] == "config.unknown-features"][0]
    for words in ("exclusive-lock", "object-map", "fast-diff", "deep-flatten", "-ENOSYS",
                  "FunctionNotSupported: error creating image"):
        assert words in problem["message"]
    # 61 & RBD_FEATURES_ALL(0.87) = 1; fast-diff and deep-flatten first appear in 9.2.0
    assert "9.2.0 (infernalis)" in problem["fix"] and "rbd default features = 1" in problem["fix"]
    for name in ("exclusive-lock", "object-map", "fast-diff", "deep-flatten"):
        assert data["capabilities"]["feature." + name]["status"] == "no"
    assert data["capabilities"]["feature.layering"]["status"] == "yes"
    assert data["capabilities"]["create.format2"]["status"] == "yes"
    assert "AQBSdFhb" not in out and "secretsecret" not in out


def test_article_host_text(article_host, capsys):
    cli.main(article_host)
    out = capsys.readouterr().out
    assert "unknown to this librbd: exclusive-lock, object-map, fast-diff, deep-flatten" in out
    assert "FunctionNotSupported: error creating image" in out.replace("\n", " ").replace("  ", " ") or \
        "FunctionNotSupported:" in out
    assert "secretsecret" not in out


def test_format1_configured_on_mimic(tmp_path, capsys):
    librbd, librados = stubs.build_release_standin("13.2.0")
    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\nrbd_default_format = 1\n")
    cli.main(["--librbd", librbd, "--librados", librados, "--conf", str(conf), "--json"])
    data = json.loads(capsys.readouterr().out)
    problem = [p for p in data["problems"] if p["id"] == "config.format1-refused"][0]
    assert "-EINVAL" in problem["message"] and "Format 1 image creation unsupported" in problem["message"]
    assert "RBD_FORCE_ALLOW_V1" in problem["fix"]


def test_feature_dependency_in_config(installed, tmp_path, capsys):
    conf = tmp_path / "ceph.conf"
    conf.write_text("[client]\nrbd default features = layering,journaling\n")
    cli.main(["--conf", str(conf), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["read_by"].startswith("librados")
    problem = [p for p in data["problems"] if p["id"] == "config.feature-dependency"][0]
    assert "journaling without exclusive-lock" in problem["message"] and "-EINVAL" in problem["message"]


def test_fast_diff_without_object_map_is_dropped_not_refused(installed, tmp_path, capsys):
    conf = tmp_path / "ceph.conf"
    conf.write_text("[client]\nrbd default features = layering,exclusive-lock,fast-diff\n")
    cli.main(["--conf", str(conf), "--json"])
    data = json.loads(capsys.readouterr().out)
    ids = {p["id"] for p in data["problems"]}
    assert "config.feature-dropped" in ids and "config.feature-dependency" not in ids


def test_static_config_parser_used_without_runtime(installed, tmp_path, capsys):
    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\nrbd default features = 1\n[client.admin]\nrbd_default_features = 125\n")
    cli.main(["--conf", str(conf), "--json", "--no-runtime"])
    data = json.loads(capsys.readouterr().out)
    assert "parser" in data["config"]["read_by"]
    assert data["config"]["rbd_default_features"]["value"] == 125


def test_krbd_from_sysfs(installed, tmp_path, capsys):
    # The format drivers/block/rbd.c writes: "0x%llx\n" (here: layering, exclusive-lock, object-map)
    (tmp_path / "bus" / "rbd").mkdir(parents=True)
    (tmp_path / "bus" / "rbd" / "supported_features").write_text("0xd\n")
    conf = tmp_path / "ceph.conf"
    conf.write_text("[client]\nrbd default features = 61\n")
    cli.main(["--conf", str(conf), "--sysfs", str(tmp_path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["krbd"]["supported_features"] == 13
    assert data["krbd"]["rejected_by_rbd_map"] == ["fast-diff", "deep-flatten"]
    assert any(p["id"] == "krbd.unsupported-features" and "0x30" in p["message"] for p in data["problems"])


def test_krbd_absent_says_why(installed, tmp_path, capsys):
    cli.main(["--sysfs", str(tmp_path), "--json", "--no-runtime"])
    data = json.loads(capsys.readouterr().out)
    assert data["krbd"]["supported_features"] is None and "not loaded" in data["krbd"]["reason"]
