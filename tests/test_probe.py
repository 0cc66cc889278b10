"""Hostile libraries are contained: the child dies or lies, the parent reports it in one line."""
import json
import os

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
    assert "Traceback" not in proc.stderr
    # the failed load costs nothing of the static answer: the matrix is the one a scan that
    # never loads the library gives (rows decided from the file's own symbol table)
    static = json.loads(run_cli(["--librbd", librbd, "--librados", librados, "--no-runtime", "--json"]).stdout)
    assert data["capabilities"] == static["capabilities"]
    assert data["capabilities"]["create.format2"]["status"] == "no"       # the stub exports no rbd_create2
    assert data["capabilities"]["create.format1"]["evidence"][0].startswith("static: ")


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


def test_runtime_scan_from_a_zipapp(installed, tmp_path):
    """The children start from a zipapp (issue 12's single-file build): their sources come
    through the package loader, no file path of the package is handed to them.  The copy the
    zip is built from is deleted first, so nothing on disk could stand in for the zip."""
    import shutil
    import subprocess
    import sys
    from conftest import PROJECT
    src = tmp_path / "src"
    shutil.copytree(os.path.join(PROJECT, "librbd_probe"), str(src / "librbd_probe"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    (src / "__main__.py").write_text(u"import sys\nfrom librbd_probe.cli import main\nsys.exit(main())\n")
    pyz = tmp_path / "librbd-probe.pyz"
    subprocess.run([sys.executable, "-m", "zipapp", str(src), "-o", str(pyz)], check=True)
    shutil.rmtree(str(src))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(pyz), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, cwd=str(tmp_path), env=env, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)
    assert data["mode"] == "runtime" and data["runtime"]["loaded"] is True, data["runtime"]
    assert data["runtime"]["error"] is None
    assert data["runtime"]["ceph_version"] == "16.2.15" and data["runtime"]["rbd_version"] == [1, 16, 0]
    assert data["runtime"]["config"]["create_rc"] == 0


# --- the one ctypes table, checked against the real headers -----------------------------
import re  # noqa: E402

from librbd_probe.children import _ctypes_api  # noqa: E402

_HANDLES = {"rados_t", "rados_ioctx_t", "rbd_image_t", "rbd_image_options_t"}


def _table_kinds(ctype):
    """The table tokens that may stand for a C parameter/return type of librbd.h/librados.h."""
    depth = ctype.count("*")
    words = [w for w in re.split(r"[\s*]+", ctype) if w and w != "const"]
    base = " ".join(words)
    if depth == 0:
        kinds = {"int": {"int"}, "uint64_t": {"uint64"}, "size_t": {"size_t"}, "void": {"void"}}.get(base)
        return kinds or ({"void*"} if base in _HANDLES else set())
    if depth == 1:
        if base == "char":
            return {"char*", "const char*", "buf", "void*"}
        if base in _HANDLES:
            return {"void**"}
        return {"int": {"int*"}, "uint64_t": {"uint64*"}, "size_t": {"size_t*"}, "uint8_t": {"uint8*"},
                "void": {"void*", "buf"}}.get(base, set())
    if depth == 2 and base == "char":
        return {"char**", "char**out"}
    return set()


def _prototypes(text):
    out = {}
    for match in re.finditer(r"CEPH_(?:RBD|RADOS)_API\s+([\w\s*]+?)\s*\b(\w+)\s*\(([^)]*)\)\s*(?:CEPH_RBD_DEPRECATED|__attribute__\s*\(\([^;]*\)\))?\s*;", text):
        ret, name, params = match.groups()
        args = []
        for param in params.split(","):
            param = param.strip()
            if not param or param == "void":
                continue
            # drop the parameter name (the last identifier, unless the whole thing is a type)
            typ = re.sub(r"\b\w+\s*(\[\s*\])?$", "", param).strip() if re.search(r"[\w*]\s+\**\w+$|\*\w+$", param) else param
            args.append(typ)
        out[name] = (ret.replace("CEPH_RBD_API", "").strip(), args)
    return out


@pytest.mark.parametrize("version", ["14.2.21", "16.2.15", "18.2.7", "20.2.4"])
def test_ctypes_table_matches_the_real_headers(version):
    import corpus
    root = corpus.release_root(version)
    text = ""
    for header in ("usr/include/rbd/librbd.h", "usr/include/rados/librados.h"):
        with open(os.path.join(root, header), encoding="utf-8") as handle:
            text += handle.read()
    prototypes = _prototypes(text)
    assert len(prototypes) > 200                       # the parser really read the headers
    checked = 0
    for name, (restype, argtypes) in _ctypes_api.SIGNATURES.items():
        if name.startswith("_Z") or name not in prototypes:
            continue                                   # libceph-common C++ helpers; newer calls
        c_ret, c_args = prototypes[name]
        assert restype in _table_kinds(c_ret), (name, restype, c_ret)
        assert len(argtypes) == len(c_args), (name, argtypes, c_args)
        for mine, theirs in zip(argtypes, c_args):
            assert mine in _table_kinds(theirs), (name, mine, theirs)
        checked += 1
    c_names = [n for n in _ctypes_api.SIGNATURES if not n.startswith("_Z")]
    if version != "14.2.21":                           # rbd_features_{to,from}_string are 15.2.0+
        assert checked == len(c_names), [n for n in c_names if n not in prototypes]
    assert checked >= len(c_names) - 2
    enum = dict((m.group(1), int(m.group(2))) for m in re.finditer(r"\b(RBD_IMAGE_OPTION_\w+)\s*=\s*(\d+)", text))
    for constant, value in _ctypes_api.CONSTANTS.items():
        assert enum[constant] == value, constant


def test_children_bind_only_what_the_table_describes():
    from librbd_probe import children
    names = set()
    for module in ("_probe_child", "_live_child"):
        text = children.source(module)
        names |= set(re.findall(r"\bbind\(\w+, \"(\w+)\"\)", text))
        # no raw errno numbers compared in the children: names come from the errno module
        assert not re.search(r"[=!]= -\d", text), module
        for constant in re.findall(r"OPT\[\"(\w+)\"\]", text):
            assert constant in _ctypes_api.CONSTANTS
    assert names and names <= set(_ctypes_api.SIGNATURES), names - set(_ctypes_api.SIGNATURES)


# --- the one protocol ----------------------------------------------------------------------

def _is_error_record(error):
    return (isinstance(error, dict) and isinstance(error.get("kind"), str) and isinstance(error.get("message"), str)
            and "\n" not in error["message"])


@pytest.mark.parametrize("kind", ["segfault-ctor", "hang-ctor", "stdout-exit0", "crash-in-version"])
def test_hostile_errors_have_the_one_shape(kind):
    answer, error = _probe(kind, timeout=2)
    assert answer is None and _is_error_record(error), error


@pytest.mark.parametrize("child", ["probe", "live"])
def test_load_failure_is_one_error_record(child, tmp_path):
    from librbd_probe import children
    missing = str(tmp_path / "librbd.so.1")
    request = {"librbd": missing, "librados": None, "symbols": [], "action": "facts"}
    answer, error = children.run(child, request, timeout=30)
    assert _is_error_record(error) and error["kind"] == "load" and error["stage"] == "dlopen", error
    assert missing in error["message"]
    assert answer is not None and "error" not in answer and "nonce" not in answer
    if child == "probe":
        assert answer["loaded"] is False


def test_child_ignores_modules_in_the_current_directory(installed, tmp_path, monkeypatch):
    """-c puts "" (the current directory) first on sys.path: the bootstrap drops it."""
    for name in ("ctypes", "json", "types", "errno"):
        (tmp_path / (name + ".py")).write_text(u"import os\nos._exit(7)\n")
    monkeypatch.chdir(str(tmp_path))
    answer, error = probe.probe_libraries(installed["librbd"], None, ["rbd_create"], timeout=30)
    assert error is None and answer["loaded"] is True


def test_child_error_record_from_an_exception(installed):
    from librbd_probe import children
    # a request the live child cannot handle: "action" missing after connecting is a KeyError
    # raised before connecting here ("librbd" missing) -> the one broad except, as a record
    answer, error = children.run("live", {"librados": None}, timeout=30)
    assert _is_error_record(error) and error["kind"] == "exception" and "KeyError" in error["message"]
