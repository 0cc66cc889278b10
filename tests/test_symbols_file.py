"""``librbd-probe symbols``: the exported file is checked by the real ``dpkg-gensymbols``
(Debian dpkg-dev) against the real Debian builds, the way a package build checks it."""
import os
import shutil
import subprocess

import pytest

import corpus
from conftest import need
from librbd_probe.cli import main
from standin import LIBDIR, build_standin

LIBS = (("librbd", "librbd1", "librbd.so.1"), ("librados", "librados2", "librados.so.2"))


def _export(capsys, root, library, *extra):
    code = main(["symbols", library, "--root", root] + list(extra))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _debian_version(version):
    """The real Debian version of the build (dpkg checks a symbol for removal only when the
    package is newer than the symbol's stamp: 18.2.7+ds-1 > 18.2.7)."""
    return corpus.manifest(version)["debian_version"]


def gensymbols(package_dir, package, library_path, version, template, tmp_path, level=4):
    """Run dpkg-gensymbols as a package build does (-c4: fail on any change); (rc, output)."""
    need(shutil.which("dpkg-gensymbols") is not None, "dpkg-gensymbols not installed (apt-get install dpkg-dev)")
    proc = subprocess.run(["dpkg-gensymbols", "-p" + package, "-P" + package_dir, "-v" + version,
                           "-e" + library_path, "-I" + str(template), "-O" + str(tmp_path / "out.symbols"),
                           "-c{}".format(level)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          env=dict(os.environ, DPKG_COLORS="never", LC_ALL="C"), timeout=120)
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("version", corpus.RELEASES)
@pytest.mark.parametrize("library,package,soname", LIBS)
def test_dpkg_gensymbols_accepts_the_export(capsys, tmp_path, version, library, package, soname):
    root = corpus.release_root(version)
    template = tmp_path / (package + ".symbols")
    template.write_text(_export(capsys, root, library))
    rc, output = gensymbols(root, package, os.path.join(root, LIBDIR, soname), _debian_version(version),
                            template, tmp_path)
    # accepted at the strictest level, and not a line of difference to what dpkg generates
    assert rc == 0 and output == "", output


def test_versioned_symbols_and_upstream_stamps(capsys):
    text = _export(capsys, corpus.release_root("18.2.7"), "librados")
    lines = text.splitlines()
    assert "librados.so.2 librados2 #MINVER#" in lines
    assert " rados_ioctx_pool_stat@LIBRADOS_14.2.0 14.2.0" in lines      # the node's first release
    assert any(line.startswith(" rados_ioctx_pool_stat@Base ") for line in lines)   # the hidden base one
    assert " LIBRADOS_14.2.0@LIBRADOS_14.2.0 14.2.0" in lines
    assert any("Versions are UPSTREAM Ceph releases" in line for line in lines if line.startswith("#"))
    librbd = _export(capsys, corpus.release_root("18.2.7"), "librbd").splitlines()
    # Debian's trixie file lacks rbd_diff_iterate3, which the binary exports
    assert any(line.startswith(" rbd_diff_iterate3@Base ") for line in librbd)
    from librbd_probe import knowledge as kn
    assert " rbd_create2@Base {}".format(kn.function("rbd_create2").first) in librbd


def test_debian_own_trixie_file_fails_where_the_export_passes(capsys, tmp_path):
    root = corpus.release_root("18.2.7")
    debian = corpus.symbols_file("18.2.7", "librbd1")
    rc, output = gensymbols(root, "librbd1", os.path.join(root, LIBDIR, "librbd.so.1"), "18.2.7+ds-1+deb13u1",
                            debian, tmp_path)
    assert rc != 0 and "+ rbd_diff_iterate3@Base" in output


def test_backport_stamps_follow_the_build_series(capsys):
    lines = _export(capsys, corpus.release_root("14.2.21"), "librbd").splitlines()
    # rbd_write_zeroes reached 14.2 as a backport: a 14.2.21 build is stamped within its series
    stamp = [l for l in lines if l.startswith(" rbd_write_zeroes@Base ")]
    assert stamp and stamp[0].split()[-1].startswith("14.2.")


def test_fails_c4_when_a_function_is_removed(capsys, tmp_path):
    real = corpus.release_root("18.2.7")
    template = tmp_path / "librbd1.symbols"
    template.write_text(_export(capsys, real, "librbd"))
    package = tmp_path / "pkg"
    built = build_standin(str(tmp_path / "build"), os.path.join(real, LIBDIR, "librbd.so.1"),
                          drop=("rbd_diff_iterate3",))
    os.makedirs(str(package / LIBDIR))
    shutil.copy(built, str(package / LIBDIR / "librbd.so.1"))
    rc, output = gensymbols(str(package), "librbd1", str(package / LIBDIR / "librbd.so.1"),
                            _debian_version("18.2.7"), template, tmp_path)
    assert rc != 0 and "some symbols or patterns disappeared" in output
    assert "- rbd_diff_iterate3@Base" in output
    # the older real build checked against the newer export: what it lacks disappeared
    old = corpus.release_root("16.2.15")
    rc, output = gensymbols(old, "librbd1", os.path.join(old, LIBDIR, "librbd.so.1"), _debian_version("18.2.7"),
                            template, tmp_path)
    assert rc != 0 and "- rbd_aio_compare_and_writev@Base" in output


def test_plain_list_for_rpm(capsys):
    text = _export(capsys, corpus.release_root("20.2.4"), "librbd", "--plain")
    body = [l for l in text.splitlines() if not l.startswith("#")]
    names = {l.split()[0] for l in body}
    assert "rbd_clone4" in names and all(n.startswith("rbd_") for n in names)
    from standin import readelf_functions
    assert names == readelf_functions(os.path.join(corpus.release_root("20.2.4"), LIBDIR, "librbd.so.1"), ("rbd_",))


def test_symbols_errors(capsys, tmp_path):
    assert main(["symbols", "--root", str(tmp_path)]) == 3
    assert "librbd: not found under" in capsys.readouterr()[1]
    assert main(["symbols", "--root", corpus.release_root("18.2.7"), "--release", "reef"]) == 2
    assert "--release takes an upstream version" in capsys.readouterr()[1]
    assert main(["symbols", "libfoo"]) == 2
    capsys.readouterr()
