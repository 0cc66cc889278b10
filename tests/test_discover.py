"""Discovery by content on this host and on synthetic trees (the unpacked suites are covered
by tests/test_groundtruth.py against scanelf + nm)."""
import os
import shutil
import subprocess

from conftest import need
from librbd_probe import cli, discover, elf


def test_host_finds_the_installed_ceph_programs():
    need(os.path.exists("/usr/bin/rbd"), "ceph-common installed (/usr/bin/rbd)")
    found = {f.target: f.reason for f in discover.discover(None, progress=False)}
    assert found.get("/usr/bin/rbd") == "NEEDED librbd.so.1"
    # librbd/librados themselves are what is checked, never consumers
    assert not [t for t in found if os.path.basename(t).startswith(("librbd.so", "librados.so", "libceph-common"))]
    # the same answer as scanelf for the programs of ceph-common
    need(shutil.which("scanelf") is not None, "scanelf (pax-utils)")
    out = subprocess.run(["scanelf", "-q", "-F", "%F %n", "/usr/bin"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    expected = {line.split(" ", 1)[0] for line in out.splitlines()
                if any(n in ("librbd.so.1", "librados.so.2", "libradosstriper.so.1")
                       for n in line.partition(" ")[2].split(","))}
    assert expected and expected == {t for t in found if t.startswith("/usr/bin/")}


def test_undefined_symbol_without_needed_is_found(tmp_path):
    """A module that names rbd_open but does not NEED librbd (resolved from the program that
    loads it) is kept; one that only defines rbd_* is not; a non-ELF file is ignored."""
    need(shutil.which("cc") is not None, "a C compiler (cc)")
    plugins = tmp_path / "usr" / "lib" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "user.c").write_text("int rbd_open(void); int use(void) { return rbd_open(); }\n")
    (plugins / "definer.c").write_text("int rbd_open(void) { return 0; }\n")
    for name in ("user", "definer"):
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(plugins / (name + ".so")), str(plugins / (name + ".c"))],
                       check=True)
    (plugins / "notes.txt").write_text("rbd_open\n" * 20)
    found = discover.discover(str(tmp_path), progress=False)
    assert [(f.target, f.reason) for f in found] == [("/usr/lib/plugins/user.so", "undefined rbd_open")]


def test_sweep_entry_point_agrees_with_the_full_reader():
    need(os.path.exists("/usr/bin/rbd"), "ceph-common installed")
    needed, marked, soname = elf.sweep_dynamic("/usr/bin/rbd", discover.MARKERS)
    info = elf.read_header("/usr/bin/rbd")
    assert needed == info.needed and soname == info.soname and marked
    assert elf.sweep_dynamic("/etc/hostname" if os.path.exists("/etc/hostname") else __file__, ()) is None


def test_cli_sweeps_a_root(tmp_path, capsys):
    root = tmp_path / "empty"
    (root / "usr" / "bin").mkdir(parents=True)
    assert cli.main(["consumers", "--no-runtime", "--root", str(root)]) in (0, 3)
    assert "No program or module that uses librbd/librados was found" in capsys.readouterr().out


class _Tty(object):
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_only_on_a_terminal(tmp_path):
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    for i in range(3):
        (tmp_path / "usr" / "bin" / "f{}".format(i)).write_bytes(b"x" * 100)
    tty = _Tty()
    bar = discover._Progress(tty)
    discover.discover(str(tmp_path), progress=bar)
    assert "scanning: " in tty.text and "files" in tty.text and tty.text.endswith("\r\033[K")
    quiet = _Tty()
    quiet.isatty = lambda: False
    bar = discover._Progress(quiet)
    discover.discover(str(tmp_path), progress=bar)
    assert quiet.text == ""
