"""JSON Schemas (librbd_probe/schemas/): every schema in the directory is valid draft 7 and
validates REAL outputs (the installed 16.2.15 with runtime, the unpacked Debian builds, a live
run on the one-node cluster, diffs of real builds).  A schema without a producer here fails:
a schema nothing checks is a schema nobody keeps true."""
import contextlib
import io
import json
import os
import subprocess

import jsonschema
import pytest

import corpus
from librbd_probe import schemas
from librbd_probe.cli import main

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "librbd_probe", "schemas")


def _json_of(argv, codes=(0,)):
    out = io.StringIO()
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    assert code in codes, (argv, code, err.getvalue())
    return json.loads(out.getvalue())


def _roots():
    return [corpus.release_root(v) for v in corpus.RELEASES] + [corpus.release_root("16.2.15", "arm64")]


def produce_scan(tmp_path):
    yield "host runtime", _json_of(["--json"])
    yield "host static", _json_of(["--json", "--no-runtime"])
    for root in _roots():
        yield root, _json_of(["--root", root, "--json"])
    yield "empty root", _json_of(["--root", str(tmp_path), "--json"], codes=(3,))
    saved = tmp_path / "baseline.json"
    _json_of(["--root", corpus.release_root("18.2.7"), "--json", "--save-baseline", str(saved)])
    with open(str(saved)) as handle:
        yield "--save-baseline file", json.load(handle)


def produce_live(tmp_path):
    yield "dry run", _json_of(["--live", "--dry-run", "--json"])
    import cluster as cluster_mod
    c = cluster_mod.started()
    try:
        yield "live run", _json_of(["--live", "--conf", c.conf_path, "--keyring", c.admin_keyring, "--json"])
    finally:
        c.stop()
    yield "no monitor", _json_of(["--live", "--conf", c.conf_path, "--keyring", c.admin_keyring, "--json",
                                  "--timeout", "3"], codes=(3,))


def produce_diff(tmp_path):
    roots = [corpus.release_root(v) for v in corpus.RELEASES]
    for old, new in zip(roots, roots[1:]):
        yield "{} -> {}".format(old, new), _json_of(["diff", old, new, "--json"], codes=(4,))
    yield "architecture", _json_of(["diff", roots[1], corpus.release_root("16.2.15", "arm64"), "--json"], codes=(12,))
    yield "downgrade", _json_of(["diff", roots[-1], roots[0], "--json", "--consumer",
                                 corpus.library("16.2.15", "rbd-binding")], codes=(12,))
    doc = _json_of(["--root", roots[0], "--json"])
    doc["libraries"]["librbd"].pop("functions", None)            # as an older librbd-probe wrote it
    doc["libraries"]["librbd"]["build_id"] = "00" * 20
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(doc))
    yield "undetermined", _json_of(["diff", str(path), roots[1], "--json"], codes=(3,))


def produce_explain(tmp_path):
    yield "seed article error", _json_of(["explain", "--json", "rbd.FunctionNotSupported: error creating image"])
    yield "undefined symbol", _json_of(["explain", "--json", "--root", corpus.release_root("14.2.21"),
                                        "undefined symbol: rbd_encryption_format"], codes=(0, 4))


def produce_consumers(tmp_path):
    yield "installed", _json_of(["consumers", "--json"], codes=(0, 1, 3))
    yield "16.2.15 binding vs 14.2.21", _json_of(["consumers", "--json", "--root", corpus.release_root("14.2.21"),
                                                  corpus.library("16.2.15", "rbd-binding")], codes=(1,))


def produce_fleet(tmp_path):
    paths = []
    for version in corpus.RELEASES:
        path = tmp_path / "{}.json".format(version)
        path.write_text(json.dumps(_json_of(["--root", corpus.release_root(version), "--json"])))
        paths.append(str(path))
    yield "four builds", _json_of(["fleet", "--json"] + paths, codes=(0, 1))
    yield "one build", _json_of(["fleet", "--json", paths[-1]], codes=(0, 1))


PRODUCERS = {"scan": produce_scan, "live": produce_live, "diff": produce_diff, "explain": produce_explain,
             "consumers": produce_consumers, "fleet": produce_fleet}
NAMES = schemas.names()


def _schema(name):
    return json.loads(schemas.text(name))


def test_the_directory_is_what_the_command_lists():
    files = sorted(f[:-len(".schema.json")] for f in os.listdir(SCHEMA_DIR) if f.endswith(".schema.json"))
    assert NAMES == files and {"scan", "live", "diff"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_draft7(name):
    schema = _schema(name)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    with open(os.path.join(SCHEMA_DIR, name + ".schema.json")) as handle:
        assert handle.read() == json.dumps(schema, indent=2, sort_keys=True) + "\n", "canonical JSON"


@pytest.mark.parametrize("name", NAMES)
def test_real_outputs_validate(name, tmp_path, installed):
    assert name in PRODUCERS, "no real-output producer for schema {!r}: add one to PRODUCERS".format(name)
    validator = jsonschema.Draft7Validator(_schema(name))
    count = 0
    for label, doc in PRODUCERS[name](tmp_path):
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, "{}: {}".format(label, "; ".join(
            "{}: {}".format("/".join(map(str, e.path)), e.message[:200]) for e in errors[:5]))
        assert doc.get("schema_version") == 1
        count += 1
    assert count >= 2


@pytest.mark.parametrize("name,path,bad", [
    ("scan", ("capabilities", "create.format2", "status"), "maybe"),
    ("scan", ("schema_version",), 2),
    ("scan", ("problems",), [{"id": "x", "severity": "fatal", "message": "m", "fix": None, "evidence": []}]),
    ("scan", ("libraries", "librbd", "needed"), "librados.so.2"),
    ("diff", ("exit_code",), 8),
    ("diff", ("capabilities",), [{"id": "x", "kind": "capability", "old": "yes", "new": "perhaps", "change": "changed"}]),
])
def test_schemas_reject_broken_outputs(name, path, bad, installed):
    """The schemas bite: one wrong value in a real output makes it invalid."""
    if name == "scan":
        doc = _json_of(["--json"])
    else:
        doc = _json_of(["diff", corpus.release_root("18.2.7"), corpus.release_root("20.2.4"), "--json"], codes=(4,))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    assert list(jsonschema.Draft7Validator(_schema(name)).iter_errors(doc))


def test_schema_command(capsys):
    assert main(["schema"]) == 0
    assert capsys.readouterr()[0].split() == NAMES
    assert main(["schema", "diff"]) == 0
    assert json.loads(capsys.readouterr()[0]) == _schema("diff")
    assert main(["schema", "nothing"]) == 2
    err = capsys.readouterr()[1]
    assert err.startswith("librbd-probe: error: no schema 'nothing' (known: ") and len(err.splitlines()) == 1


def test_schema_command_from_a_zipapp(tmp_path):
    """The single-file build (python -m zipapp) lists and prints the same schemas."""
    import shutil
    import sys
    src = tmp_path / "src"
    shutil.copytree(os.path.join(os.path.dirname(SCHEMA_DIR)), str(src / "librbd_probe"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    pyz = tmp_path / "librbd-probe.pyz"
    subprocess.run([sys.executable, "-m", "zipapp", str(src), "-m", "librbd_probe.cli:main", "-o", str(pyz)],
                   check=True)
    listed = subprocess.run([sys.executable, str(pyz), "schema"], stdout=subprocess.PIPE,
                            universal_newlines=True, check=True).stdout.split()
    assert listed == NAMES
    printed = subprocess.run([sys.executable, str(pyz), "schema", "diff"], stdout=subprocess.PIPE,
                             universal_newlines=True, check=True).stdout
    assert json.loads(printed) == _schema("diff")
