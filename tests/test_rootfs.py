"""rootfs.Root: the one mapping between target paths and host paths.

Oracles: os.path.realpath on the host (what the kernel resolves) and, under a root, what
``chroot`` would resolve: absolute links and ".." never leave the tree.
"""
import os

import pytest

from librbd_probe import locate
from librbd_probe.errors import LocateError
from librbd_probe.rootfs import HOST, Root


@pytest.fixture
def tree(tmp_path):
    """A small build root: merged /usr with absolute and relative links, and a host decoy."""
    root = tmp_path / "root"
    lib = root / "usr" / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "librbd.so.1.16.0").write_bytes(b"\x7fELF inside")
    os.symlink("/usr/lib/x86_64-linux-gnu/librbd.so.1.16.0", str(lib / "librbd.so.1"))
    os.symlink("librbd.so.1.16.0", str(lib / "librbd.so"))
    os.symlink("usr/lib", str(root / "lib"))                  # merged /usr, relative link
    (root / "etc").mkdir()
    (root / "etc" / "ld.so.conf").write_text(u"/opt/x\n")
    os.symlink("../../../../../../../../etc/ld.so.conf", str(lib / "climb"))
    os.symlink("loop2", str(lib / "loop1"))
    os.symlink("loop1", str(lib / "loop2"))
    return root


def test_host_is_identity():
    assert HOST.is_host and Root(None).is_host and Root(None) == HOST
    assert HOST.host("/usr/lib/x.so") == "/usr/lib/x.so"
    assert HOST.target("/usr/lib/x.so") == "/usr/lib/x.so"
    assert HOST.realpath("/proc/self/cwd") == os.path.realpath("/proc/self/cwd")
    assert HOST.exists("/etc/passwd") and not HOST.exists("/etc/not-here-at-all")
    assert HOST.listdir("/etc") == sorted(os.listdir("/etc"))


@pytest.mark.parametrize("target, inside", [
    ("/usr/lib/x.so", "usr/lib/x.so"),
    ("usr/lib/x.so", "usr/lib/x.so"),          # relative: from the root's top
    ("/../../etc/passwd", "etc/passwd"),       # ".." cannot climb above the root
    ("//usr//lib/", "usr/lib"),
    ("/", ""),
])
def test_host_and_target_inside_root(tree, target, inside):
    root = Root(str(tree))
    assert not root.is_host
    expected = os.path.join(str(tree), inside) if inside else str(tree)
    assert root.host(target) == expected
    assert root.target(root.host(target)) == "/" + inside


def test_target_of_a_path_outside_the_root_is_unchanged(tree, tmp_path):
    root = Root(str(tree))
    outside = str(tmp_path / "elsewhere" / "librbd.so.1")
    assert root.target(outside) == outside
    assert not root.contains(outside) and root.contains(str(tree / "usr"))
    # a sibling whose name starts like the root is not inside it
    assert not root.contains(str(tree) + "-other/x")


def test_realpath_resolves_absolute_links_inside_the_root(tree):
    root = Root(str(tree))
    lib = tree / "usr" / "lib" / "x86_64-linux-gnu"
    real = str(lib / "librbd.so.1.16.0")
    assert root.realpath(str(lib / "librbd.so.1")) == real
    assert root.realpath(str(lib / "librbd.so")) == real
    # through the merged-/usr link and an absolute link
    assert root.realpath(str(tree / "lib" / "x86_64-linux-gnu" / "librbd.so.1")) == real
    # the host would follow the absolute link to the host's own /usr/lib: the root never does
    assert os.path.realpath(str(lib / "librbd.so.1")) == "/usr/lib/x86_64-linux-gnu/librbd.so.1.16.0"
    # "../.." beyond the top stays at the top, as in a chroot
    assert root.realpath(str(lib / "climb")) == str(tree / "etc" / "ld.so.conf")
    assert root.exists("/lib/x86_64-linux-gnu/librbd.so.1")
    assert root.isfile("/usr/lib/x86_64-linux-gnu/climb") and root.isdir("/lib")
    with root.open("/usr/lib/x86_64-linux-gnu/climb") as handle:
        assert handle.read() == "/opt/x\n"


def test_realpath_gives_up_on_a_loop(tree):
    root = Root(str(tree))
    lib = tree / "usr" / "lib" / "x86_64-linux-gnu"
    result = root.realpath(str(lib / "loop1"))
    assert os.path.basename(result) in ("loop1", "loop2")
    assert not root.exists("/usr/lib/x86_64-linux-gnu/loop1")


def test_glob_and_listdir_in_root(tree):
    root = Root(str(tree))
    assert root.glob("/usr/lib/*-linux-gnu*") == [str(tree / "usr" / "lib" / "x86_64-linux-gnu")]
    assert root.glob("/lib/*/librbd.so*") == [str(tree / "lib" / "x86_64-linux-gnu" / n)
                                            for n in ("librbd.so", "librbd.so.1", "librbd.so.1.16.0")]
    assert root.listdir("/lib") == ["x86_64-linux-gnu"]
    assert root.glob("/nowhere/*") == []


@pytest.mark.parametrize("bad", ["", 42])
def test_bad_root_names(bad):
    with pytest.raises(LocateError):
        Root(bad)


def test_root_must_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text(u"x")
    with pytest.raises(LocateError) as info:
        Root(str(f))
    assert "--root is not a directory" in str(info.value)
    assert Root(str(f), check=False).host("/a") == os.path.join(str(f), "a")


def test_of_and_equality(tree):
    root = Root(str(tree))
    assert Root.of(root) is root and Root.of(None) == HOST and Root.of(str(tree)) == root
    assert hash(Root(str(tree))) == hash(root) and root != HOST


def test_locate_uses_root_for_origin(tree):
    """$ORIGIN under a root is expanded as the target sees it: "$ORIGIN/../../.." stays inside."""
    root = Root(str(tree))
    ctx = locate.search_context(root, environ={"LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu"})
    assert ctx.root == root and ctx.ld_library_path == ()
    origin = str(tree / "usr" / "lib" / "x86_64-linux-gnu")
    found = locate.search_order("librbd.so.1", ctx, runpath=("$ORIGIN/../../../../../../usr/lib/x86_64-linux-gnu",),
                                origin_dir=origin)
    assert found[0] == locate.Found(os.path.join(origin, "librbd.so.1"), "RUNPATH")
    assert ctx.conf_dirs == ("/opt/x",)


# --- the --root leak (issue 8, item 2) ----------------------------------------------------
# A consumer under a root whose RUNPATH is /x must get <root>/x/librbd.so.1, never the
# host's /x/librbd.so.1; and its RPATH is not searched at all when a RUNPATH is present
# (glibc elf/dl-load.c: "If the requesting object has DT_RUNPATH, DT_RPATH is ignored").
# The host directory below really exists, so a resolver that joins the RUNPATH on the host
# finds the decoy there: the negative control proves the test can fail.

@pytest.fixture
def leak_tree(tmp_path):
    hostx = tmp_path / "x"                      # an absolute directory that exists on the host
    hostx.mkdir()
    (hostx / "librbd.so.1").write_bytes(b"host decoy")
    root = tmp_path / "root"
    inside_x = root / str(hostx).lstrip("/")
    inside_x.mkdir(parents=True)
    (inside_x / "librbd.so.1").write_bytes(b"the root's copy")
    rp = root / "rp"
    rp.mkdir()
    (rp / "librbd.so.1").write_bytes(b"RPATH copy")
    (tmp_path / "rp").mkdir()
    (tmp_path / "rp" / "librbd.so.1").write_bytes(b"host RPATH decoy")
    consumer_dir = root / "usr" / "lib" / "x86_64-linux-gnu" / "qemu"
    consumer_dir.mkdir(parents=True)
    return {"root": str(root), "hostx": str(hostx), "inside_x": str(inside_x), "rp": str(rp),
            "origin": str(consumer_dir), "tmp": str(tmp_path)}


def test_runpath_under_root_never_reaches_the_host(leak_tree):
    ctx = locate.search_context(Root(leak_tree["root"]), environ={})
    found = locate.search_order("librbd.so.1", ctx, runpath=(leak_tree["hostx"],), rpath=("/rp",),
                                origin_dir=leak_tree["origin"])
    assert found[0] == locate.Found(os.path.join(leak_tree["inside_x"], "librbd.so.1"), "RUNPATH")
    assert all(f.path.startswith(leak_tree["root"] + "/") for f in found), found
    assert "RPATH" not in [f.source for f in found]


def test_rpath_under_root_is_searched_inside_it_without_runpath(leak_tree):
    ctx = locate.search_context(Root(leak_tree["root"]), environ={})
    found = locate.search_order("librbd.so.1", ctx, runpath=(), rpath=("/rp", leak_tree["hostx"]),
                                origin_dir=leak_tree["origin"])
    assert [(f.path, f.source) for f in found[:2]] == [
        (os.path.join(leak_tree["rp"], "librbd.so.1"), "RPATH"),
        (os.path.join(leak_tree["inside_x"], "librbd.so.1"), "RPATH")]


def test_origin_runpath_under_root(leak_tree):
    ctx = locate.search_context(Root(leak_tree["root"]), environ={})
    rel = os.path.relpath(leak_tree["inside_x"], leak_tree["origin"])
    found = locate.search_order("librbd.so.1", ctx, runpath=("$ORIGIN/" + rel,), rpath=("/rp",),
                                origin_dir=leak_tree["origin"])
    assert found[0].source == "RUNPATH"
    assert os.path.normpath(found[0].path) == os.path.join(leak_tree["inside_x"], "librbd.so.1")


def test_leak_negative_control_on_the_host(leak_tree):
    """The same RUNPATH resolved for the host does reach the decoy: the files are real."""
    ctx = locate.search_context(None, environ={})
    found = locate.search_order("librbd.so.1", ctx, runpath=(leak_tree["hostx"],),
                                rpath=(os.path.join(leak_tree["tmp"], "rp"),))
    assert found[0] == locate.Found(os.path.join(leak_tree["hostx"], "librbd.so.1"), "RUNPATH")
    assert "RPATH" not in [f.source for f in found]


def test_lexists_repr_and_hidden_names(tree):
    root = Root(str(tree))
    lib = tree / "usr" / "lib" / "x86_64-linux-gnu"
    os.symlink("/nowhere/at/all", str(lib / "dangling"))
    assert root.lexists("/usr/lib/x86_64-linux-gnu/dangling") and not root.exists("/usr/lib/x86_64-linux-gnu/dangling")
    assert not root.lexists("/usr/lib/x86_64-linux-gnu/absent")
    assert repr(root) == "Root({!r})".format(str(tree)) and repr(HOST) == "Root(None)"
    (tree / "etc" / ".hidden.conf").write_text(u"")
    (tree / "etc" / "a.conf").write_text(u"")
    assert root.glob("/etc/*.conf") == [str(tree / "etc" / n) for n in ("a.conf", "ld.so.conf")]   # no dotfiles
    assert root.glob("/etc/.*.conf") == [str(tree / "etc" / ".hidden.conf")]
    # a literal component through an absolute link that only resolves inside the root
    os.symlink("/usr/lib", str(tree / "libabs"))
    assert root.glob("/libabs/x86_64-linux-gnu/librbd.so.1*") == [
        str(tree / "libabs" / "x86_64-linux-gnu" / n) for n in ("librbd.so.1", "librbd.so.1.16.0")]
    assert root.isdir("/libabs") and not os.path.isdir(str(tree / "libabs" / "x86_64-linux-gnu" / "nothing"))


def test_root_slash_is_a_root_like_any_other():
    root = Root("/")
    assert not root.is_host and root.host("/usr/lib") == "/usr/lib" and root.target("/usr/lib") == "/usr/lib"
    assert root.target("/") == "/" and root.contains("/anything")
    assert root.realpath("/proc/self/root") == "/"


def test_error_messages_and_copies(tmp_path):
    with pytest.raises(LocateError) as info:
        Root("")
    assert str(info.value) == "'': --root must be a directory name"
    with pytest.raises(LocateError) as info:
        Root(42)
    assert str(info.value) == "42: --root must be a directory name"
    with pytest.raises(LocateError) as info:
        Root(str(tmp_path / "nope"))
    assert str(info.value) == "{}: --root is not a directory".format(tmp_path / "nope")
    root = Root(str(tmp_path))
    assert Root(root).path == str(tmp_path) and Root(root) == root           # a Root from a Root
    assert hash(Root(str(tmp_path))) != hash(Root(str(tmp_path / "x"), check=False))
    assert {Root(str(tmp_path)): 1}[root] == 1


def test_host_and_target_edges(tmp_path):
    root = Root(str(tmp_path) + "/")                                         # a trailing slash
    assert root.path == str(tmp_path)
    assert root.host("//usr") == str(tmp_path / "usr") and root.host("///") == str(tmp_path)
    assert root.contains(str(tmp_path) + "/x/") and not root.contains("/elsewhere")
    assert root.target(str(tmp_path / "usr" / "lib") + "/") == "/usr/lib"
    assert root.target(None) is None and HOST.target(None) is None


def test_realpath_edges(tmp_path):
    root = Root(str(tmp_path))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text(u"x")
    os.symlink("./d/./f", str(tmp_path / "dotted"))                           # "." parts in a link
    os.symlink("/d//f", str(tmp_path / "doubled"))                            # "" parts in a link
    assert root.realpath(str(tmp_path / "dotted")) == str(tmp_path / "d" / "f")
    assert root.realpath(str(tmp_path / "doubled")) == str(tmp_path / "d" / "f")
    assert root.realpath(str(tmp_path) + "/./d/../d/f") == str(tmp_path / "d" / "f")
    # a chain of exactly MAX_SYMLINKS links resolves; one more gives up (ELOOP)
    from librbd_probe.rootfs import MAX_SYMLINKS
    os.symlink("d/f", str(tmp_path / "l0"))
    for n in range(1, MAX_SYMLINKS + 1):
        os.symlink("l{}".format(n - 1), str(tmp_path / "l{}".format(n)))
    assert root.realpath(str(tmp_path / "l{}".format(MAX_SYMLINKS - 1))) == str(tmp_path / "d" / "f")
    assert root.realpath(str(tmp_path / "l{}".format(MAX_SYMLINKS))) != str(tmp_path / "d" / "f")
    # the kernel agrees on the host side: 40 links resolve, 41 fail with ELOOP
    assert os.path.realpath(str(tmp_path / "l{}".format(MAX_SYMLINKS - 1))) == str(tmp_path / "d" / "f")
    with pytest.raises(OSError):
        open(str(tmp_path / "l{}".format(MAX_SYMLINKS)))


def test_open_modes_and_glob_of_dangling_links(tmp_path):
    root = Root(str(tmp_path))
    (tmp_path / "b").write_bytes(b"\x00\x01")
    with root.open("/b", "rb") as handle:
        assert handle.read() == b"\x00\x01"
    with root.open("/b", encoding="latin-1") as handle:
        assert handle.read() == "\x00\x01"
    os.symlink("/nowhere", str(tmp_path / "dangling"))
    assert root.glob("/dangling") == [str(tmp_path / "dangling")]               # lexists, like glob
    assert root.glob("/da*") == [str(tmp_path / "dangling")]
    assert root.glob("/[bd]*") == [str(tmp_path / "b"), str(tmp_path / "dangling")]
    (tmp_path / "plain").mkdir()
    assert root.glob("/plain/nothing") == []
