"""Hostile libraries are contained: the child dies or lies, the parent reports it in one line."""
import json

import pytest

import stubs
from conftest import run_cli
from librbd_probe import probe


def _probe(kind, timeout=10):
    librbd, librados = stubs.build_hostile(kind)
    return probe.probe_libraries(librbd, librados, ["rbd_create"], timeout=timeout)


def test_segfault_in_constructor():
    answer, error = _probe("segfault-ctor")
    assert answer is None
    assert error["kind"] == "crash" and error["signal"] == "SIGSEGV"


def test_hang_in_constructor_is_killed():
    answer, error = _probe("hang-ctor", timeout=2)
    assert answer is None and error["kind"] == "timeout"
    assert "2 s" in error["message"]


def test_stdout_garbage_and_exit0_is_not_trusted():
    answer, error = _probe("stdout-exit0")
    # the library printed a perfectly plausible answer; without the nonce it is garbage
    assert answer is None
    assert error["kind"] in ("garbage", "no-answer") and error["exit_code"] == 0


def test_crash_in_rbd_version():
    answer, error = _probe("crash-in-version")
    assert answer is None and error["signal"] == "SIGSEGV"


@pytest.mark.parametrize("kind, words", [
    ("segfault-ctor", "SIGSEGV"), ("hang-ctor", "did not answer within 3 s"),
    ("stdout-exit0", "without a valid answer"), ("crash-in-version", "SIGSEGV")])
def test_cli_reports_hostile_library(kind, words):
    librbd, librados = stubs.build_hostile(kind)
    proc = run_cli(["--librbd", librbd, "--librados", librados, "--timeout", "3", "--json"])
    assert proc.returncode == 3, proc.stderr
    data = json.loads(proc.stdout)           # the static report is still complete and valid
    assert data["runtime"]["attempted"] and data["runtime"]["error"]
    assert words in data["runtime"]["error"]["message"]
    assert data["capabilities"]["create.format1"]["status"] in ("yes", "no", "unknown")
    assert "Traceback" not in proc.stderr


def test_no_runtime_never_loads_hostile():
    librbd, librados = stubs.build_hostile("segfault-ctor")
    proc = run_cli(["--librbd", librbd, "--librados", librados, "--no-runtime", "--json"])
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["runtime"]["attempted"] is False


def test_foreign_architecture_skips_runtime_automatically():
    import corpus
    lib = corpus.library("16.2.15", "librbd", arch="arm64")
    proc = run_cli(["--librbd", lib, "--json"])
    data = json.loads(proc.stdout)
    assert data["runtime"]["attempted"] is False
    assert "aarch64" in data["runtime"]["skipped"] and "x86-64" in data["runtime"]["skipped"]
    assert data["libraries"]["librbd"]["arch"] == "aarch64"
    assert data["capabilities"]["api.encryption"]["status"] == "yes"


def test_child_answer_on_real_library(installed):
    answer, error = probe.probe_libraries(installed["librbd"], None, ["rbd_create4", "rados_create", "rbd_clone4"],
                                          feature_masks=[61, 1 << 20])
    assert error is None
    assert answer["rbd_version"] == [1, 16, 0] and answer["ceph_version"] == "16.2.15"
    # dlsym through librbd's handle finds rados_* in librados: dladdr attributes it correctly
    assert answer["symbols"]["rados_create"]["owner"].endswith("librados.so.2.0.0")
    assert answer["symbols"]["rbd_create4"]["owner"].endswith("librbd.so.1.16.0")
    assert answer["symbols"]["rbd_clone4"] == {"found": False, "owner": None}
    assert answer["features_check"]["61"]["rc"] == -34                     # known: -ERANGE
    assert answer["features_check"][str(1 << 20)]["rc"] == -22             # unknown bit: -EINVAL
