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


def test_release_must_be_exact_or_given(capsys, tmp_path):
    from standin import standin_root
    root = standin_root(tmp_path, corpus.release_root("18.2.7"), drop=("rbd_diff_iterate3",))
    assert main(["symbols", "--root", root]) == 3
    assert "was not identified exactly; give --release VERSION" in capsys.readouterr()[1]
    text = _export(capsys, root, "librbd", "--release", "18.2.7")
    assert " rbd_diff_iterate3@Base" not in text
    assert " rbd_diff_iterate2@Base {}".format(_first("rbd_diff_iterate2")) in text.splitlines()


def test_symbols_errors(capsys, tmp_path):
    assert main(["symbols", "--root", str(tmp_path)]) == 3
    assert "librbd: not found under" in capsys.readouterr()[1]
    assert main(["symbols", "--root", corpus.release_root("18.2.7"), "--release", "reef"]) == 2
    assert "--release takes an upstream version" in capsys.readouterr()[1]
    assert main(["symbols", "libfoo"]) == 2
    capsys.readouterr()


# --- stamping rules on the knowledge base's real entries ---------------------------------------

def _first(name):
    from librbd_probe import knowledge as kn
    return kn.function(name).first


def _inexact(name):
    """The knowledge base's own wording when it knows only a first build, else no note."""
    from librbd_probe import knowledge as kn
    return None if kn.function(name).exact else kn.first_release_text(name)


@pytest.mark.parametrize("name,node,build,expected,note", [
    ("rbd_create2", None, "18.2.7", lambda: _first("rbd_create2"), _inexact("rbd_create2")),
    ("rados_ioctx_pool_stat", "LIBRADOS_14.2.0", "18.2.7", lambda: "14.2.0", None),   # node newer than function
    ("rados_ioctx_pool_stat", None, "18.2.7", lambda: _first("rados_ioctx_pool_stat"), _inexact("rados_ioctx_pool_stat")),
    ("LIBRADOS_14.2.0", "LIBRADOS_14.2.0", "18.2.7", lambda: "14.2.0", None),          # the node's own symbol
    ("rbd_write_zeroes", None, "14.2.21", lambda: "14.2.21", "backported to the 14.2 series in 14.2.21"),
    ("rbd_clone4", None, "18.2.7", lambda: "18.2.7", "exported by this build although the knowledge base dates it"),
    # a backport to another series (14.2.21) says nothing about a 15.2.4 build
    ("rbd_write_zeroes", None, "15.2.4", lambda: "15.2.4", "exported by this build although the knowledge base dates it"),
    ("rbd_not_a_function", None, "18.2.7", lambda: "18.2.7", "not in the knowledge base"),
    ("rbd_create2", "LIBRBD_NEW", "18.2.7", lambda: "18.2.7", "version node LIBRBD_NEW unknown"),
    ("ceph_arch_probe", None, "18.2.7", lambda: "18.2.7", None),
])
def test_stamp_table(name, node, build, expected, note):
    from librbd_probe import symbols_file
    version, why = symbols_file.stamp(name, node, build)
    assert version == expected()
    assert (why is None) if note is None else (why is not None and why.startswith(note)), why


def test_inexact_first_release_is_commented(capsys):
    from librbd_probe import knowledge as kn
    lines = _export(capsys, corpus.release_root("20.2.4"), "librbd").splitlines()
    index = lines.index(" rbd_clone4@Base 20.2.4")
    assert not kn.function("rbd_clone4").exact
    assert lines[index - 1] == "# rbd_clone4: " + kn.first_release_text("rbd_clone4")
    assert "Debian build" in lines[index - 1]


def test_plain_list_keeps_version_nodes_and_build_depends(capsys):
    root = corpus.release_root("18.2.7")
    plain = _export(capsys, root, "librados", "--plain").splitlines()
    assert "rados_ioctx_pool_stat@LIBRADOS_14.2.0 14.2.0" in plain
    assert "LIBRADOS_14.2.0@LIBRADOS_14.2.0 14.2.0" not in plain and "LIBRADOS_14.2.0 14.2.0" not in plain
    assert plain[0].startswith("# librados.so.2 C functions (18.2.7), written by librbd-probe from /usr/lib/")
    dpkg = _export(capsys, root, "librados", "--build-depends", "librados-dev").splitlines()
    assert dpkg[dpkg.index("librados.so.2 librados2 #MINVER#") + 1] == "* Build-Depends-Package: librados-dev"
