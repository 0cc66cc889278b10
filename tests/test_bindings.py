"""Python bindings read without importing: the real Debian Cython modules of four releases
against each real librbd, a ctypes-era rbd.py read with ast, and interpreter discovery."""
import os
import shutil
import sys
from importlib import machinery

import pytest

import stubs
from corpus import RELEASES, library
from librbd_probe import bindings, consumers, identify
from librbd_probe.errors import UsageError

HERE = os.path.dirname(os.path.abspath(__file__))
CTYPES_RBD = os.path.join(HERE, "data", "ctypes_rbd.py")


_key = identify.version_key


def _functions(version):
    return consumers.library_functions(library(version, "librbd")) | consumers.library_functions(
        library(version, "librados"))


def _binding(version):
    return bindings.read_binding("rbd", library(version, "rbd-binding"), "python3")


@pytest.mark.parametrize("version", RELEASES)
def test_cython_binding_is_read_as_elf(version):
    binding = _binding(version)
    assert binding.kind == "cython"
    assert binding.old_format_default is False        # embedded RBD.create signature
    assert len(binding.needs) > 150 and all(n.startswith(("rbd_", "rados_")) for n in binding.needs)
    assert "rbd_create4" in binding.needs and "rbd_open" in binding.needs


@pytest.mark.parametrize("binding_version", RELEASES)
@pytest.mark.parametrize("library_version", RELEASES)
def test_binding_against_each_library(binding_version, library_version):
    binding = _binding(binding_version)
    functions = _functions(library_version)
    missing = bindings.check(binding, functions)
    names = {m["symbol"] for m in missing}
    # what the module's symbol table needs and the library's does not export, nothing else
    assert names == set(binding.needs) - functions
    if _key(library_version) >= _key(binding_version):
        assert not missing, (binding_version, library_version, sorted(names)[:5])
    for item in missing:
        assert item["consequence"].startswith("ImportError at `import rbd`")
        assert item["symbol"] in item["consequence"]
        first = item["first"]
        # the knowledge base's first release is newer than the library that lacks it
        assert first is not None and _key(first) > _key(library_version), item


def test_pacific_binding_on_nautilus_library_is_the_known_skew():
    missing = bindings.check(_binding("16.2.15"), _functions("14.2.21"))
    names = {m["symbol"] for m in missing}
    assert len(names) == 34
    assert "rbd_encryption_format" in names
    assert all(m["library"] == "librbd" for m in missing)


def test_ctypes_binding_is_read_with_ast():
    probes, calls, old_format = bindings.read_ctypes(CTYPES_RBD)
    assert probes == ("rbd_create2", "rbd_create3")
    assert set(calls) == {"rbd_create", "rbd_create2", "rbd_create3"}
    assert old_format is True


def test_ctypes_binding_against_the_articles_library_and_an_argonaut_one():
    binding = bindings.read_binding("rbd", CTYPES_RBD, "python2.7")
    assert binding.kind == "ctypes" and binding.old_format_default is True
    giant = set()
    for path in stubs.build_release_standin("0.87"):
        giant |= consumers.library_functions(path)
    assert bindings.check(binding, giant) == []
    argonaut = set()
    for path in stubs.build_release_standin("0.48"):
        argonaut |= consumers.library_functions(path)
    missing = {m["symbol"]: m for m in bindings.check(binding, argonaut)}
    expected = {"rbd_create2", "rbd_create3"} - argonaut
    assert set(missing) == expected
    for item in missing.values():
        assert "FunctionNotSupported" in item["consequence"]


def test_interpreter_discovery_without_importing(tmp_path, monkeypatch):
    """A module dropped on PYTHONPATH is what `import rbd` would load; it is never imported."""
    suffix = machinery.EXTENSION_SUFFIXES[0]
    target = tmp_path / ("rbd" + suffix)
    shutil.copy(library("16.2.15", "rbd-binding"), str(target))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    found = bindings.find_bindings([sys.executable], modules=("rbd",))
    assert len(found) == 1
    assert found[0].path == str(target) and found[0].kind == "cython"
    assert "rbd" not in sys.modules


def test_package_directory_wins_over_module(tmp_path):
    (tmp_path / "rbd").mkdir()
    (tmp_path / "rbd" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "rbd.py").write_text("y = 1\n")
    interp = bindings.interpreter_info()._replace(path=[str(tmp_path)])
    assert bindings.locate_module("rbd", interp) == str(tmp_path / "rbd" / "__init__.py")
    assert bindings.locate_module("rados", interp) is None


@pytest.mark.parametrize("bad", ["/nonexistent/python", "/etc/hostname", "/bin/true"])
def test_bad_interpreter_is_a_usage_error(bad):
    if not os.path.exists(bad) and bad != "/nonexistent/python":
        pytest.skip(bad + " absent")
    with pytest.raises(UsageError) as info:
        bindings.interpreter_info(bad)
    assert bad in str(info.value) and "\n" not in str(info.value)
