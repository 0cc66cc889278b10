"""The scan's wiring and the analysis it hands off, on hand-built evidence and real trees.

Pure parts (locate.resolution_problems / shadow_problems, probe.runtime_report /
runtime_problems) on hand-built records; scan() itself on roots made of the real Debian
builds (tests/corpus.py), which are read, never loaded.
"""
import errno
import os
import shutil

import pytest

import corpus
from librbd_probe import locate, probe, scan
from librbd_probe.errors import LocateError
from librbd_probe.model import Candidate, LibraryReport, RuntimeReport


def _lib(name="librbd", found=True, realpath=None, error=None, candidates=()):
    return LibraryReport(name=name, found=found, path=realpath, realpath=realpath, error=error,
                         candidates=candidates)


def _cand(path, source, version, chosen=False, compatible=True):
    return Candidate(path=path, realpath=path, source=source, file_version=version, arch="x86-64",
                     compatible=compatible, chosen=chosen)


def _ids(problems):
    return [p.id for p in problems]


@pytest.mark.parametrize("libraries, ids", [
    ({"librbd": _lib(found=False), "librados": _lib("librados", False)}, ["librbd-missing"]),
    ({"librbd": _lib(realpath="/l/librbd.so.1"), "librados": _lib("librados", False)}, ["librados-missing"]),
    ({"librbd": _lib(realpath="/l/librbd.so.1", error="/l/librbd.so.1: truncated ELF"),
      "librados": _lib("librados", realpath="/l/librados.so.2")}, ["unreadable.librbd"]),
    ({"librbd": _lib(realpath="/a/librbd.so.1.16.0", candidates=(
        _cand("/a/librbd.so.1.16.0", "ld.so.cache", "1.16.0", chosen=True),
        _cand("/usr/local/lib/librbd.so.1.12.0", "extra", "1.12.0"),
        _cand("/usr/local/lib/librbd.so.1.16.0", "extra", "1.16.0"),        # same version outside: fine
        _cand("/b/librbd.so.1.14.0", "default", "1.14.0", compatible=False))),  # the loader skips it
      "librados": _lib("librados", realpath="/a/librados.so.2")}, ["shadowed-copy.librbd"]),
    ({"librbd": _lib(realpath="/x/librbd.so.1", candidates=(
        _cand("/x/librbd.so.1", "explicit", "1.17.0", chosen=True),
        _cand("/a/librbd.so.1.16.0", "ld.so.cache", "1.16.0"))),
      "librados": _lib("librados", realpath="/a/librados.so.2")}, ["explicit-choice.librbd"]),
])
def test_resolution_problems(libraries, ids):
    assert _ids(locate.resolution_problems(libraries, "librados.so.2", None, True)) == ids


FULL = {
    "librbd-missing": ("librbd-missing", "error", "no librbd.so.1 found where the loader looks",
                       "install the Ceph RBD client library (debian: librbd1) or point --librbd at it", ()),
    "librados-missing": ("librados-missing", "error", "librbd needs librados.so.2 but the loader would not find it",
                         "install librados2, or fix LD_LIBRARY_PATH / RUNPATH", ()),
    "unreadable.librbd": ("unreadable.librbd", "error", "/l/librbd.so.1: truncated ELF", None, ()),
    "shadowed-copy.librbd": (
        "shadowed-copy.librbd", "warning",
        "librbd /usr/local/lib/librbd.so.1.12.0 (1.12.0) is outside the loader's path; the loader uses "
        "/a/librbd.so.1.16.0 (1.16.0)",
        "remove the stale copy or make sure every consumer loads the same one (LD_LIBRARY_PATH, RPATH/RUNPATH, "
        "ldconfig)",
        ("candidate /usr/local/lib/librbd.so.1.12.0 via extra", "chosen /a/librbd.so.1.16.0 via ld.so.cache")),
    "explicit-choice.librbd": (
        "explicit-choice.librbd", "info",
        "librbd was chosen explicitly (/x/librbd.so.1); the loader itself would use /a/librbd.so.1.16.0 (1.16.0)",
        None, ("loader candidate /a/librbd.so.1.16.0 via ld.so.cache",)),
}


def test_resolution_problems_in_full():
    """The whole records (the operator reads them): one of each id, from the cases above."""
    seen = set()
    for mark in test_resolution_problems.pytestmark:
        if mark.name == "parametrize":
            for libraries, ids in mark.args[1]:
                for problem in locate.resolution_problems(libraries, "librados.so.2", None, True):
                    assert tuple(problem) == FULL[problem.id]
                    seen.add(problem.id)
    assert seen == set(FULL)


@pytest.mark.parametrize("winner, other, expected", [
    # an unversioned copy on the loader's path that loses
    (_cand("/a/librbd.so.1", "LD_LIBRARY_PATH", None, chosen=True), _cand("/b/librbd.so.1", "RPATH", None),
     "librbd /b/librbd.so.1 (unversioned) is on the loader's path (RPATH); the loader uses /a/librbd.so.1 "
     "(unversioned)"),
    # explicit choice: extra and ld.so.conf copies are not what the loader would use
    (_cand("/x/librbd.so.1", "explicit", "1.17.0", chosen=True), _cand("/e/librbd.so.1.1", "extra", "1.1"), None),
    (_cand("/x/librbd.so.1", "explicit", "1.17.0", chosen=True), _cand("/c/librbd.so.1.1", "ld.so.conf", "1.1"),
     None),
])
def test_shadow_cases(winner, other, expected):
    problems = locate.shadow_problems(_lib(realpath=winner.path, candidates=(winner, other)))
    assert [p.message for p in problems] == ([expected] if expected else [])


def test_no_shadow_without_a_chosen_copy():
    assert locate.shadow_problems(_lib(found=False, candidates=(_cand("/b/librbd.so.1", "extra", "1"),))) == []


def test_resolution_problem_texts():
    problems = locate.resolution_problems({"librbd": _lib(found=False), "librados": _lib("librados", False)},
                                          "librados.so.2", "/srv/root")
    assert problems[0].message == "no librbd.so.1 found where the loader looks under /srv/root"
    assert "debian: librbd1" in problems[0].fix           # package names from the knowledge layer
    problems = locate.resolution_problems({"librbd": _lib(realpath="/l/librbd.so.1"),
                                           "librados": _lib("librados", False)}, "librados.so.2")
    assert "librados.so.2" in problems[0].message and "librados2" in problems[0].fix
    shadow = locate.shadow_problems(_lib(realpath="/a/librbd.so.1.16.0", candidates=(
        _cand("/a/librbd.so.1.16.0", "RUNPATH", "1.16.0", chosen=True),
        _cand("/b/librbd.so.1.12.0", "LD_LIBRARY_PATH", "1.12.0"))))
    assert shadow[0].severity == "warning" and "on the loader's path (LD_LIBRARY_PATH)" in shadow[0].message


def test_runtime_report_from_the_child():
    answer = {"loaded": True, "rbd_version": [1, 16, 0], "rados_version": [3, 0, "x"], "ceph_version": "16.2.15",
              "loaded_objects": ["/l/librbd.so.1.16.0"], "symbols": {"rbd_open": {"found": True, "owner": "/l"}},
              "features_check": {"1": {"rc": -errno.ERANGE}}, "config": {"create_rc": 0}}
    report = probe.runtime_report(answer, None)
    assert report.loaded and report.rbd_version == (1, 16, 0) and report.rados_version is None
    assert report.symbols["rbd_open"]["found"] and report.loaded_objects == ("/l/librbd.so.1.16.0",)
    failed = probe.runtime_report(None, {"kind": "crash", "message": "SIGSEGV"})
    assert failed.attempted and not failed.loaded and failed.error["kind"] == "crash"
    partial = probe.runtime_report({"loaded": False, "loaded_objects": []}, {"kind": "load", "message": "m"})
    assert partial.error["message"] == "m" and partial.symbols == {}


def test_runtime_problems(tmp_path):
    real = tmp_path / "librbd.so.1.16.0"
    real.write_bytes(b"x")
    other = tmp_path / "other" / "librbd.so.1.12.0"
    other.parent.mkdir()
    other.write_bytes(b"x")
    libraries = {"librbd": _lib(realpath=str(real)), "librados": _lib("librados", False)}
    assert _ids(probe.runtime_problems(RuntimeReport(attempted=True, error={"kind": "timeout", "message": "m"}),
                                       libraries)) == ["runtime-failed"]
    agree = RuntimeReport(attempted=True, loaded=True, loaded_objects=(str(real),))
    assert probe.runtime_problems(agree, libraries) == []
    disagree = RuntimeReport(attempted=True, loaded=True, loaded_objects=(str(other),))
    problems = probe.runtime_problems(disagree, libraries)
    assert _ids(problems) == ["loader-disagrees.librbd"] and str(other) in problems[0].message


# --- scan() on real trees ------------------------------------------------------------------

def test_scan_of_a_real_root_reads_inside_it():
    root = corpus.release_root("14.2.21")
    report = scan.scan(root=root, environ={"LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu"})
    rbd = report.libraries["librbd"]
    assert rbd.found and rbd.realpath == os.path.join(os.path.abspath(root), "usr/lib/x86_64-linux-gnu/librbd.so.1.12.0")
    assert all(c.path.startswith(os.path.abspath(root) + "/") for c in rbd.candidates)
    assert report.libraries["libceph-common"].soname == "libceph-common.so.0"
    assert report.mode == "static" and report.root == os.path.abspath(root)
    assert report.runtime.skipped.startswith("static mode")
    assert report.krbd["supported_features"] is None
    assert report.config["searched"] == (os.path.join(os.path.abspath(root), "etc/ceph/ceph.conf"),)
    assert report.release.label.startswith("14.2.21")         # the real build, identified statically


def test_scan_reports_a_missing_librados(tmp_path):
    real = corpus.library("16.2.15", "librbd")
    lib = tmp_path / "usr" / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    shutil.copy(real, str(lib / "librbd.so.1"))
    report = scan.scan(root=str(tmp_path))
    assert "librados-missing" in _ids(report.problems)
    assert report.libraries["librbd"].found and not report.libraries["librados"].found


def test_scan_reports_an_unreadable_explicit_library(tmp_path):
    bad = tmp_path / "librbd.so.1"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9)            # an ELF header cut short
    report = scan.scan(librbd=str(bad), runtime=False, environ={})
    assert "unreadable.librbd" in _ids(report.problems)
    assert report.runtime.skipped == "disabled (--no-runtime)"


def test_scan_rejects_a_root_that_is_not_a_directory(tmp_path):
    with pytest.raises(LocateError):
        scan.scan(root=str(tmp_path / "nope"))


# --- the matrix as scan hands it its evidence -------------------------------------------------

def _evidence(symbols, runtime):
    from librbd_probe import matrix
    return matrix.Evidence(librbd_found=True, librbd_name="librbd.so.1", librbd_realpath="/l/librbd.so.1.16.0",
                           librbd_symbols=frozenset(symbols), librbd_needed=("librados.so.2",), runtime=runtime)


def test_matrix_flags_a_runtime_that_disagrees_with_the_file():
    """The file exports rbd_create2, but the loaded process resolves it elsewhere (LD_PRELOAD)."""
    from librbd_probe import matrix
    runtime = RuntimeReport(attempted=True, loaded=True, symbols={
        "rbd_create2": {"found": True, "owner": "/preload/libevil.so"}})
    rows, problems = matrix.build(_evidence({"rbd_create", "rbd_create2"}, runtime), None, {})
    row = {r.id: r for r in rows}["create.format2"]
    assert row.status == "unknown"
    assert "runtime-disagrees.create.format2" in _ids(problems)


def test_matrix_flags_a_library_that_disagrees_with_the_knowledge_base():
    """The release's RBD_FEATURES_ALL knows bit 11 (dirty-cache) but the library says -EINVAL."""
    from librbd_probe import matrix
    from librbd_probe.identify import Facts, Identification
    from librbd_probe.knowledge import Fact
    release = Identification(version="16.2.15", facts=Facts({"rbd_features_all": Fact(0xfff, "s")}, ("16.2.15",)))
    check = {str(1 << bit): {"rc": -errno.ERANGE} for bit in range(11)}
    check[str(1 << 11)] = {"rc": -errno.EINVAL}
    runtime = RuntimeReport(attempted=True, loaded=True, features_check=check)
    rows, problems = matrix.build(_evidence({"rbd_create"}, runtime), release, {})
    assert "feature-disagrees.dirty-cache" in _ids(problems)
    assert {r.id: r for r in rows}["feature.dirty-cache"].status == "no"      # the library's answer wins


def _readelf_functions(path):
    """Exported rbd_*/rados_* functions as readelf --dyn-syms prints them (name@@NODE -> name@NODE)."""
    import subprocess
    out = subprocess.run(["readelf", "--dyn-syms", "-W", os.path.realpath(path)], stdout=subprocess.PIPE,
                         universal_newlines=True, env=dict(os.environ, LC_ALL="C")).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 8 or parts[3] not in ("FUNC", "IFUNC") or parts[4] not in ("GLOBAL", "WEAK"):
            continue
        if parts[5] not in ("DEFAULT", "PROTECTED") or parts[6] == "UND":
            continue
        name = parts[7].replace("@@", "@")
        if name.startswith(("rbd_", "rados_")):
            names.add(name)
    return names


@pytest.mark.parametrize("name", ["librbd", "librados"])
def test_report_lists_the_functions_readelf_sees(installed, name):
    report = scan.scan(runtime=False, environ={})
    lib = report.libraries[name]
    assert lib.realpath == os.path.realpath(installed[name])
    assert set(lib.functions) == _readelf_functions(installed[name])
    assert list(lib.functions) == sorted(lib.functions)
    assert report.to_dict()["libraries"][name]["functions"] == list(lib.functions)


def test_a_root_with_its_own_ceph_conf(tmp_path):
    """The Debian 16.2.15 build copied into a root with a ceph.conf: the configuration is the
    root's (the host's $CEPH_CONF and home are not the target's), parsed here, and judged
    against the identified release (fast-diff without object-map: dropped on 16.2.15)."""
    src = corpus.release_root("16.2.15")
    for rel in ("usr/lib/x86_64-linux-gnu/librbd.so.1.16.0", "usr/lib/x86_64-linux-gnu/librados.so.2.0.0",
                "usr/lib/x86_64-linux-gnu/ceph/libceph-common.so.2"):
        dest = tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(src, rel), str(dest))
    lib = tmp_path / "usr" / "lib" / "x86_64-linux-gnu"
    os.symlink("librbd.so.1.16.0", str(lib / "librbd.so.1"))
    os.symlink("/usr/lib/x86_64-linux-gnu/librados.so.2.0.0", str(lib / "librados.so.2"))   # absolute: inside
    (tmp_path / "etc" / "ceph").mkdir(parents=True)
    (tmp_path / "etc" / "ceph" / "ceph.conf").write_text(u"[client]\nrbd default features = 21\n")
    host_conf = tmp_path / "host.conf"
    host_conf.write_text(u"[client]\nrbd default features = 1\n")
    report = scan.scan(root=str(tmp_path), environ={"CEPH_CONF": str(host_conf), "HOME": str(tmp_path)})
    assert report.libraries["librados"].realpath == str(lib / "librados.so.2.0.0")
    assert report.release.label == "16.2.15 (pacific)"
    assert report.config["file"] == str(tmp_path / "etc" / "ceph" / "ceph.conf")
    assert report.config["read_by"].startswith("librbd_probe's ceph.conf parser")
    assert report.config["values"] == {"rbd_default_features": "21"}
    assert "config.feature-dropped" in _ids(report.problems)


def test_the_scanners_realpath_is_os_path_realpath(tmp_path):
    """_Scanner.realpath resolves a directory once and then only the last name: on relative
    and absolute links, chains, links to directories followed by '..', dangling links, loops,
    missing components, a file used as a directory and this host's own library paths, the
    answer is os.path.realpath's."""
    from librbd_probe.rootfs import Root
    t = str(tmp_path)
    os.makedirs(os.path.join(t, "real", "lib", "sub"))
    with open(os.path.join(t, "real", "lib", "libx.so.1.0"), "w"):
        pass
    links = {"lib": "real/lib", "abs": os.path.join(t, "real"), "real/lib/libx.so.1": "libx.so.1.0",
             "real/lib/libx.so": "libx.so.1", "chain": "lib", "up": "real/lib/sub", "dangling": "nowhere/x",
             "loop1": "loop2", "loop2": "loop1", "self": "self", "real/lib/sub/back": "../libx.so"}
    for name, target in links.items():
        os.symlink(target, os.path.join(t, name))
    paths = ["lib/libx.so", "lib/libx.so.1", "chain/libx.so", "abs/lib/libx.so.1.0", "up/../libx.so",
             "up/back", "dangling", "dangling/more", "loop1", "loop1/x", "self/x", "missing/libx.so",
             "real/lib/libx.so.1.0/x", "lib/./libx.so", "lib//libx.so", "lib/sub/..", "lib/sub/.",
             "lib/", "chain/sub/../libx.so.1", ""]
    paths = [os.path.join(t, p) for p in paths] + ["/", "/usr/lib/x86_64-linux-gnu/librbd.so.1",
                                                 "/lib/x86_64-linux-gnu/librados.so.2", "/lib64", "/lib/../lib",
                                                 "relative/path", "."]
    scanner = scan._Scanner(Root(None), {})
    for path in paths + paths:                    # twice: the second time from the kept answers
        assert scanner.realpath(path) == os.path.realpath(path), path
