"""The single-file build (tools/build_pyz.py): built here, run where nothing is installed.

Oracles: setuptools' own ``build_py`` (what an installed package ships) for the file list; the
package run from this source tree for the output; the real librbd through ctypes for
rbd_version; Python 2.7 and 3.6 interpreters for the floor.
"""
import ctypes
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import corpus
from conftest import INSTALLED, PROJECT, need

BUILD = os.path.join(PROJECT, "tools", "build_pyz.py")
PY36 = "/root/.pyenv/versions/3.6.15/bin/python3"
PY27 = "/root/.pyenv/versions/2.7.18/bin/python"
SYSTEM_PY = "/usr/bin/python3"
# the newest interpreter tox uses (tools/test-all.sh: pyenv's 3.13.*)
PY313 = (sorted(glob.glob("/root/.pyenv/versions/3.13.*/bin/python3")) or ["/root/.pyenv/versions/3.13/bin/python3"])[-1]


def _build(dest, env=None):
    full = dict(os.environ)
    full.update(env or {})
    subprocess.run([sys.executable, BUILD, "-o", dest], check=True, stdout=subprocess.PIPE, env=full)
    return dest


@pytest.fixture(scope="module")
def pyz(tmp_path_factory):
    return _build(str(tmp_path_factory.mktemp("pyz") / "librbd-probe.pyz"))


def _clean_env(**extra):
    """An environment in which the package is importable from nowhere but the pyz."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV")
    env.update(extra)
    return env


def _run(python, argv, cwd, env=None):
    return subprocess.run([python] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                          env=env or _clean_env(), timeout=120)


def _from_source(python, args, cwd):
    env = _clean_env(PYTHONPATH=PROJECT)
    return _run(python, ["-m", "librbd_probe"] + list(args), cwd, env)


def _interpreter(path):
    need(os.path.exists(path), "{} missing (pyenv build of the interpreter)".format(path))
    return path


def test_build_is_reproducible(tmp_path):
    first = _build(str(tmp_path / "a" / "librbd-probe.pyz"))
    second = _build(str(tmp_path / "b" / "librbd-probe.pyz"))
    digest = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (first, second)]
    assert digest[0] == digest[1]
    with open(first, "rb") as handle:
        assert handle.readline() == b"#!/usr/bin/env python3\n"
    assert os.access(first, os.X_OK)
    later = _build(str(tmp_path / "c" / "librbd-probe.pyz"), env={"SOURCE_DATE_EPOCH": "1700000000"})
    with zipfile.ZipFile(later) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_archive_ships_what_setup_py_installs(pyz, tmp_path):
    """Same files as setuptools' build_py of setup.py (the installed package), + __main__.py."""
    src = tmp_path / "src"
    shutil.copytree(PROJECT, str(src), ignore=shutil.ignore_patterns(".git", "__pycache__", "build", "dist",
                                                                       "*.egg-info", ".tox"))
    lib = tmp_path / "lib"
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)], cwd=str(src),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    need(proc.returncode == 0, "setuptools build_py failed: " + proc.stderr.decode()[-300:])
    shipped = sorted(os.path.relpath(os.path.join(d, f), str(lib)).replace(os.sep, "/")
                     for d, _, files in os.walk(str(lib)) for f in files)
    with zipfile.ZipFile(pyz) as archive:
        names = sorted(archive.namelist())
    assert "__main__.py" in names
    names.remove("__main__.py")
    assert names == shipped, "pyz only: {}; setup.py only: {}".format(
        sorted(set(names) - set(shipped)), sorted(set(shipped) - set(names)))


@pytest.mark.parametrize("python", [PY36, SYSTEM_PY, PY313])
def test_runtime_scan_from_the_zip(pyz, tmp_path, python, installed):
    python = _interpreter(python)
    cwd = str(tmp_path)
    # nothing is installed for this interpreter here: only the pyz brings the package
    assert _run(python, ["-c", "import librbd_probe"], cwd).returncode != 0
    proc = _run(python, [pyz, "--json"], cwd)
    assert proc.returncode == 0, proc.stderr.decode()
    import json
    report = json.loads(proc.stdout.decode("utf-8"))
    assert report["mode"] == "runtime" and report["runtime"]["error"] is None
    lib = ctypes.CDLL(INSTALLED["librbd"])
    major, minor, extra = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    lib.rbd_version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(extra))
    assert report["runtime"]["rbd_version"] == [major.value, minor.value, extra.value] == [1, 16, 0]
    assert report["release"]["version"] == "16.2.15"
    # the same bytes as the package run from its source tree, same interpreter and directory
    assert proc.stdout == _from_source(python, ["--json"], cwd).stdout


def test_static_root_scan_from_the_zip(pyz, tmp_path):
    python = _interpreter(PY36)
    root = corpus.release_root("14.2.21")
    proc = _run(python, [pyz, "--json", "--root", root], str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == _from_source(python, ["--json", "--root", root], str(tmp_path)).stdout
    assert b'"version": "14.2.21"' in proc.stdout


def test_shebang_runs_it_directly(pyz, tmp_path):
    proc = subprocess.run([pyz, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd=str(tmp_path), env=_clean_env())
    assert proc.returncode == 0 and proc.stdout.startswith(b"librbd-probe ")


def test_exit_codes_and_one_line_errors_survive_the_zip(pyz, tmp_path):
    python = _interpreter(PY36)
    proc = _run(python, [pyz, "--librbd", str(tmp_path / "absent.so")], str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count(b"\n") == 1 and b"does not exist" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _run(python, [pyz, "--root", str(empty)], str(tmp_path))
    assert proc.returncode == 3 and b"Traceback" not in proc.stderr


def test_explain_subcommand_from_the_zip(pyz, tmp_path, installed):
    python = _interpreter(PY36)
    proc = _run(python, [pyz, "explain", "FunctionNotSupported: error creating image"], str(tmp_path))
    assert proc.returncode in (0, 4), proc.stderr.decode()
    assert b"Traceback" not in proc.stderr


def test_too_old_python_gets_one_line(pyz, tmp_path):
    python = _interpreter(PY27)
    proc = _run(python, [pyz, "--json"], str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr == b"librbd-probe: error: needs Python >= 3.6, this is 2.7.18\n"


def test_compiled_build_is_used_by_its_interpreter_only(pyz, tmp_path, installed):
    """--compile PYTHON ships that interpreter's bytecode; another one reads the sources."""
    system, floor = _interpreter(SYSTEM_PY), _interpreter(PY36)
    compiled = str(tmp_path / "compiled.pyz")
    subprocess.run([sys.executable, BUILD, "-o", compiled, "--compile", system], check=True, stdout=subprocess.PIPE)
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import librbd_probe.cli as m; print(m.__file__)"
    used = _run(system, ["-c", probe, compiled], str(tmp_path)).stdout.decode().strip()
    assert used == os.path.join(compiled, "librbd_probe", "cli.pyc")
    used = _run(floor, ["-c", probe, compiled], str(tmp_path)).stdout.decode().strip()
    assert used == os.path.join(compiled, "librbd_probe", "cli.py")       # foreign magic: the source
    for python in (system, floor):
        plain = _run(python, [pyz, "--json"], str(tmp_path))
        fast = _run(python, [compiled, "--json"], str(tmp_path))
        assert fast.returncode == plain.returncode == 0 and fast.stdout == plain.stdout
    refused = subprocess.run([sys.executable, BUILD, "-o", str(tmp_path / "x.pyz"), "--compile", floor],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert refused.returncode != 0 and b"needs Python >= 3.7" in refused.stderr
