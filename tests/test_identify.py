"""Release identification: the real Debian builds (static, via --root) and historic stand-ins."""
import json
import os

import pytest

import corpus
import stubs
from librbd_probe import cli, identify, kb


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


UPSTREAM = [r["version"] for r in kb.releases()
            if r.get("source_kind") == "upstream-source" and identify.version_key(r["version"]) < (16,)]


def test_every_named_release_from_argonaut_to_octopus_is_covered():
    named = {r["codename"] for r in kb.releases() if r["version"] in UPSTREAM}
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
