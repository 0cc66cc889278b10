"""``consumers``: real ELF consumers (the Debian Cython modules) against real librbd builds."""
import json
import os
import shutil

import pytest

from conftest import PROJECT
from corpus import library
from librbd_probe import cli


def _run(capsys, argv):
    code = cli.main(["consumers", "--json", "--no-runtime"] + argv)
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


def _libs(version):
    return ["--librbd", library(version, "librbd"), "--librados", library(version, "librados")]


def test_pacific_module_on_nautilus_library(capsys):
    module = library("16.2.15", "rbd-binding")
    code, data, err = _run(capsys, _libs("14.2.21") + [module])
    assert code == cli.EXIT_REQUIREMENT == 1, err
    assert data["schema_version"] == 1
    (consumer,) = data["consumers"]
    assert consumer["path"] == module
    missing = {m["symbol"]: m for m in consumer["missing"]}
    assert len(missing) == 34
    item = missing["rbd_encryption_format"]
    # the knowledge base's own record (symbols file of librbd), read as plain JSON here
    with open(os.path.join(PROJECT, "librbd_probe", "knowledge", "data", "librbd_symbols.json")) as handle:
        assert item["first"] == json.load(handle)["symbols"]["rbd_encryption_format"]["first"]
    assert item["codename"] == "pacific"
    assert "undefined symbol: rbd_encryption_format" in item["consequence"]
    assert os.path.realpath(library("14.2.21", "librbd")) in consumer["library_paths"]


def test_matching_release_is_satisfied(capsys):
    """The reef bindings on the reef libraries: every Ceph symbol binds.  They still do not load
    on this bookworm host, as ``ldd -r`` says too: reef's librados needs boost 1.83 and fmt 10."""
    code, data, err = _run(capsys, _libs("18.2.7") + [library("18.2.7", "rbd-binding"), library("18.2.7", "rados-binding")])
    assert [c["missing"] for c in data["consumers"]] == [[], []]
    assert all(c["needs"] and c["ceph_ok"] for c in data["consumers"])
    pairing = data["consumers"][0]["pairing"]
    assert pairing["release"] == "18.2.7" and pairing["ok"]       # from the 18.2.7 tree, not the host
    assert pairing["libceph_common"].startswith(os.path.dirname(library("18.2.7", "librbd")))
    not_found = {n["name"] for n in data["consumers"][0]["not_found"]}
    if "libfmt.so.10" in not_found:
        assert code == 1 and data["consumers"][0]["loads"] is False
    else:
        assert code == 0, err


def test_newer_reef_binding_on_pacific_library(capsys):
    code, data, _ = _run(capsys, _libs("16.2.15") + [library("18.2.7", "rbd-binding")])
    assert code == 1
    names = sorted(m["symbol"] for m in data["consumers"][0]["missing"])
    assert "rbd_diff_iterate3" in names
    assert all(m["first"] and m["first"].startswith("18.") for m in data["consumers"][0]["missing"])


def test_usual_places_under_a_root(tmp_path, capsys):
    """A QEMU block-rbd module in its Debian place is found without naming it."""
    root = tmp_path / "root"
    qemu = root / "usr" / "lib" / "x86_64-linux-gnu" / "qemu"
    qemu.mkdir(parents=True)
    # a real ELF consumer that needs pacific functions stands in the module's place
    shutil.copy(library("16.2.15", "rbd-binding"), str(qemu / "block-rbd.so"))
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    for name in ("librbd", "librados"):
        real = os.path.realpath(library("14.2.21", name))
        shutil.copy(real, str(libdir / os.path.basename(real)))
        os.symlink(os.path.basename(real), str(libdir / ("librbd.so.1" if name == "librbd" else "librados.so.2")))
    code, data, err = _run(capsys, ["--root", str(root)])
    assert code == 1, err
    (consumer,) = data["consumers"]
    assert consumer["kind"] == "QEMU block module"
    assert consumer["path"].endswith("/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so")
    assert "rbd_encryption_format" in {m["symbol"] for m in consumer["missing"]}
    assert "Unknown protocol 'rbd'" in consumer["missing"][0]["consequence"]
    # the root's own 14.2.21 libraries, not the host's 16.2.15
    assert consumer["library_paths"][:2] == ["/usr/lib/x86_64-linux-gnu/librbd.so.1",
                                             "/usr/lib/x86_64-linux-gnu/librados.so.2"]


def test_text_output(capsys):
    assert cli.main(["consumers", "--no-runtime"] + _libs("14.2.21") + [library("16.2.15", "rbd-binding")]) == 1
    out = capsys.readouterr().out
    assert "MISSING 34:" in out and "rbd_encryption_format (librbd): first" in out
    assert "you will see: ImportError:" in out
    # 80 columns, except a file path too long to fit (never broken: it must stay copyable)
    assert not [line for line in out.splitlines() if len(line) > 80 and " " in line.strip().rstrip(",")[:-1]]


@pytest.mark.parametrize("make,code,words", [
    (lambda p: str(p / "nope.so"), 2, "does not exist"),
    (lambda p: str(p), 2, "is a directory"),
])
def test_bad_paths(tmp_path, capsys, make, code, words):
    path = make(tmp_path)
    assert cli.main(["consumers", "--no-runtime", path]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and path in err


def test_non_elf_consumer_is_reported_not_raised(installed, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not an ELF file\n")
    code, data, _ = _run(capsys, [str(text)])
    assert code == 3
    assert "not an ELF file" in data["consumers"][0]["error"]


def test_json_matches_the_schema_and_is_stable(capsys):
    from conftest import need
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    need(jsonschema is not None, "jsonschema (pip install jsonschema; tox installs it)")
    from librbd_probe import __file__ as package_file
    with open(os.path.join(os.path.dirname(package_file), "schemas", "consumers.schema.json")) as handle:
        schema = json.load(handle)
    argv = _libs("14.2.21") + [library("16.2.15", "rbd-binding"), library("18.2.7", "rados-binding")]
    code, data, _ = _run(capsys, argv)
    jsonschema.validate(data, schema)
    assert code == 1 and data["consumers"][0]["missing"][0]["consequence"].startswith("ImportError: ")
    first = json.dumps(data, sort_keys=True)
    _, again, _ = _run(capsys, argv)
    assert json.dumps(again, sort_keys=True) == first


def test_explicit_tree_pairs_its_own_libceph_common(capsys):
    """--librbd/--librados in an 18.2.7 tree: libceph-common from that tree, not the host's
    16.2.15 one that librados's RUNPATH names."""
    code, data, _ = _run(capsys, _libs("18.2.7") + [library("16.2.15", "rbd-binding")])
    pairing = data["consumers"][0]["pairing"]
    assert pairing["release"] == "18.2.7" and pairing["ok"], pairing
    assert pairing["soname"] == "libceph-common.so.2"
    assert all(p.startswith(os.path.dirname(library("18.2.7", "librbd"))) for p in pairing["loaded"])



def test_explicit_foreign_librbd_is_not_taken(capsys):
    """--librbd/--librados of the real arm64 build for an x86-64 module: the loader would not
    take them (wrong machine), so they are neither preloaded nor found in their directory."""
    module = library("16.2.15", "rbd-binding")
    argv = ["--librbd", library("16.2.15", "librbd", arch="arm64"),
            "--librados", library("16.2.15", "librados", arch="arm64"), module]
    cli.main(["consumers", "--json", "--no-runtime"] + argv)
    data = json.loads(capsys.readouterr().out)
    consumer = data["consumers"][0]
    arm_dir = os.path.dirname(library("16.2.15", "librbd", arch="arm64"))
    assert not [p for p in consumer["library_paths"] if p.startswith(arm_dir)]
    assert any(s.startswith(arm_dir) and "aarch64" in s for s in consumer["skipped"])
