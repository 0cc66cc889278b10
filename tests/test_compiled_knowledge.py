"""The knowledge files decoded at build time (knowledge.compile_data, setup.py's build_py).

An installed package carries NAME.json.marshal beside each data file; ``knowledge.load`` uses
it only while the JSON file beside it is exactly the one compiled (size and CRC-32).  The
oracle is json.load of the shipped file itself: every document read through the compiled form
must equal it, and an edited, replaced or damaged file must be read as JSON.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import PROJECT

DATA = os.path.join(PROJECT, "librbd_probe", "knowledge", "data")


@pytest.fixture
def package(tmp_path):
    """A copy of the package with its data files compiled, as an installation has it."""
    target = tmp_path / "site"
    shutil.copytree(os.path.join(PROJECT, "librbd_probe"), str(target / "librbd_probe"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.marshal"))
    sys.path.insert(0, PROJECT)
    try:
        from librbd_probe.knowledge import compile_data
    finally:
        sys.path.remove(PROJECT)
    written = compile_data(str(target / "librbd_probe" / "knowledge" / "data"))
    assert len(written) >= 10
    return target


def _loaded(site, names):
    """{name: document} as kn.load gives it in a fresh interpreter on ``site``, plus whether
    the JSON decoder was imported at all."""
    code = ("import json, sys\n"
            "import librbd_probe.knowledge as kn\n"
            "assert kn.__file__.startswith(sys.argv[1]), kn.__file__\n"
            "out = {n: kn.load(n) for n in sys.argv[2:]}\n"
            "print(json.dumps({'docs': out, 'decoder': 'librbd_probe._jsonload' in sys.modules}))\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, "-c", code, str(site)] + list(names), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=60,
                          cwd=str(site))          # not the checkout's directory: "" is first on sys.path
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _data_names():
    return sorted(n for n in os.listdir(DATA) if n.endswith(".json") and not n.endswith(".schema.json"))


def test_every_compiled_document_is_the_json_file(package):
    names = _data_names()
    got = _loaded(package, names)
    assert got["decoder"] is False                       # all from the compiled files
    for name in names:
        with open(os.path.join(DATA, name), encoding="utf-8") as handle:
            assert got["docs"][name] == json.load(handle), name


def test_an_edited_file_is_read_as_json(package):
    """Same size, other content (a digit changed): the CRC differs, the JSON file wins."""
    path = package / "librbd_probe" / "knowledge" / "data" / "releases.json"
    text = path.read_text(encoding="utf-8")
    assert '"16.2.15"' in text
    edited = text.replace('"16.2.15"', '"16.2.19"', 1)
    assert len(edited) == len(text)
    path.write_text(edited, encoding="utf-8")
    got = _loaded(package, ["releases.json", "features.json"])
    assert got["decoder"] is True                        # releases.json was decoded
    assert got["docs"]["releases.json"] == json.loads(edited)
    with open(os.path.join(DATA, "features.json"), encoding="utf-8") as handle:
        assert got["docs"]["features.json"] == json.load(handle)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other format"])
def test_a_damaged_compiled_file_is_ignored(package, damage):
    import marshal
    path = package / "librbd_probe" / "knowledge" / "data" / "features.json.marshal"
    blob = path.read_bytes()
    path.write_bytes({"truncated": blob[:len(blob) // 2], "garbage": b"\x00\xff" * 100, "empty": b"",
                      "other format": marshal.dumps(("another tool 9", 1, 2, {}))}[damage])
    got = _loaded(package, ["features.json"])
    with open(os.path.join(DATA, "features.json"), encoding="utf-8") as handle:
        assert got["docs"]["features.json"] == json.load(handle)
    assert got["decoder"] is True


def test_setup_build_writes_the_compiled_files(tmp_path):
    """setup.py's build_py (what pip runs) leaves a compiled file beside each data file and
    lists them in its outputs (pip's RECORD: an uninstall removes them)."""
    build = tmp_path / "build"
    src = tmp_path / "src"
    shutil.copytree(PROJECT, str(src), ignore=shutil.ignore_patterns(
        ".git", ".tox", "build", "*.egg-info", "__pycache__", "tests", "bench", "*.marshal"))
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)], cwd=str(src),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = build / "librbd_probe" / "knowledge" / "data"
    compiled = sorted(n for n in os.listdir(str(data)) if n.endswith(".json.marshal"))
    assert compiled == [n + ".marshal" for n in _data_names()]
    got = _loaded(build, _data_names())
    assert got["decoder"] is False


def test_the_zipapp_ships_and_uses_them(tmp_path):
    sys.path.insert(0, os.path.join(PROJECT, "tools"))
    try:
        import build_pyz
    finally:
        sys.path.remove(os.path.join(PROJECT, "tools"))
    archive = str(tmp_path / "librbd-probe.pyz")
    names = build_pyz.build(archive)
    assert "librbd_probe/knowledge/data/releases.json.marshal" in names
    code = ("import json, sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "import librbd_probe.knowledge as kn\n"
            "assert '.pyz' in kn.__file__\n"
            "doc = kn.load('releases.json')\n"
            "print(json.dumps({'decoder': 'librbd_probe._jsonload' in sys.modules, 'doc': doc}))\n")
    proc = subprocess.run([sys.executable, "-I", "-c", code, archive], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["decoder"] is False
    with open(os.path.join(DATA, "releases.json"), encoding="utf-8") as handle:
        assert got["doc"] == json.load(handle)


# --- the derived tables (release and feature rows, function spans with parsed versions) ------

_TABLES_CODE = (
    "import sys\n"
    "import librbd_probe.knowledge as kn\n"
    "assert kn.__file__.startswith(sys.argv[1]), kn.__file__\n"
    "def shape(value):\n"
    "    # the value's repr with every type named: a MappingProxy and a dict, a record and a tuple differ\n"
    "    if isinstance(value, tuple):\n"
    "        return (type(value).__name__, tuple(shape(v) for v in value))\n"
    "    if hasattr(value, 'items'):\n"
    "        return (type(value).__name__, tuple((k, shape(v)) for k, v in value.items()))\n"
    "    return (type(value).__name__, repr(value))\n"
    "out = {'releases': kn.releases(), 'features': kn.features(),\n"
    "       'librbd': kn.function_span_keys('librbd'), 'librados': kn.function_span_keys('librados'),\n"
    "       'effect': kn.feature_effect('data-pool', 'alone', '16.2.15'),\n"
    "       'empty': kn.release('16.2.15').header_vs_exports is kn._EMPTY or None}\n"
    "print(repr({k: shape(v) for k, v in out.items()}))\n"
    "print(repr(sorted((n, sorted(kn._compiled_tables(n))) for n in kn._DERIVERS if kn._compiled_tables(n))))\n")


def _tables(site):
    proc = subprocess.run([sys.executable, "-c", _TABLES_CODE, str(site)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60, cwd=str(site),
                          env=dict(os.environ, PYTHONPATH=str(site)))
    assert proc.returncode == 0, proc.stderr
    tables, used = proc.stdout.splitlines()
    return tables, used


def test_the_derived_tables_are_the_ones_the_documents_give(package, tmp_path):
    """Records made from the tables compiled at build time are the records the JSON documents
    give at run time (a checkout: no compiled file), type by type and value by value."""
    compiled, used = _tables(package)
    assert used == repr([("features.json", ["feature_rows"]), ("librados_symbols.json", ["span_keys"]),
                         ("librbd_symbols.json", ["span_keys"]), ("releases.json", ["release_rows"])])
    plain = tmp_path / "plain"
    shutil.copytree(os.path.join(PROJECT, "librbd_probe"), str(plain / "librbd_probe"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.marshal"))
    from_json, used_plain = _tables(plain)
    assert used_plain == "[]"
    assert compiled == from_json
    assert "'Release'" in compiled and "'Effect'" in compiled and "'mappingproxy'" in compiled


def test_a_table_that_marshal_would_not_give_back_is_derived_at_run_time(package):
    """A release fact whose value is an object (a mapping, not a plain value): no compiled
    release table; the run derives it, the same records either way."""
    sys.path.insert(0, PROJECT)
    try:
        from librbd_probe import knowledge as kn
    finally:
        sys.path.remove(PROJECT)
    with open(os.path.join(DATA, "releases.json"), encoding="utf-8") as handle:
        doc = json.load(handle)
    entry = next(e for e in doc["releases"] if e.get("version") == "16.2.15")
    entry["default_format"] = {"value": {"odd": [1]}, "source": "a test"}
    assert "release_rows" not in kn.derived_tables("releases.json", doc)
    assert set(kn.derived_tables("releases.json", json.load(open(os.path.join(DATA, "releases.json"))))) == {"release_rows"}
    broken = {"schema_version": 1, "releases": [{"codename": "no version"}]}
    assert kn.derived_tables("releases.json", broken) == {}          # malformed: the run raises it
    with pytest.raises(kn.KnowledgeBaseError):
        kn._release_rows(broken)


@pytest.mark.parametrize("part", ["document", "tables"])
def test_a_flipped_byte_inside_a_compiled_blob_is_not_used(package, part):
    """One byte changed inside the document or the tables blob (the file still unmarshals):
    its CRC no longer holds, and that part comes from the JSON file, the same answer."""
    import marshal
    path = package / "librbd_probe" / "knowledge" / "data" / "releases.json.marshal"
    entry = list(marshal.loads(path.read_bytes()))
    index = 4 if part == "document" else 6
    blob = bytearray(entry[index])
    where = blob.find(b"pacific")
    assert where > 0
    blob[where] = ord("P")
    entry[index] = bytes(blob)
    path.write_bytes(marshal.dumps(tuple(entry), 4))
    got = _loaded(package, ["releases.json"])
    with open(os.path.join(DATA, "releases.json"), encoding="utf-8") as handle:
        assert got["docs"]["releases.json"] == json.load(handle)
    assert got["decoder"] is (part == "document")
    compiled, used = _tables(package)
    assert ("releases.json" in used) is (part == "document")
    plain = package.parent / "plain"
    shutil.copytree(str(package / "librbd_probe"), str(plain / "librbd_probe"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.marshal"))
    assert compiled == _tables(plain)[0]
