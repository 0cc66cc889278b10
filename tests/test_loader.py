"""The loader rules on small programs compiled here, each checked against glibc's own ld.so.

Cases the real packages do not cover: a version requirement no library defines
(``rados_*@LIBRADOS_99.0``), weak references, RPATH vs RUNPATH vs LD_LIBRARY_PATH order,
$ORIGIN, BIND_NOW, and a librbd of another machine (the real arm64 build) that the loader skips.
"""
import os
import re
import shutil
import subprocess

import pytest

import groundtruth as gt
from conftest import need
from librbd_probe import consumers, loader, locate

RADOS_V1 = "int rados_foo(void) { return 1; }\n"
RADOS_V2 = RADOS_V1 + "int rados_bar(void) { return 2; }\n"
RBD = "int rbd_open(void) { return 0; }\n"


def _cc(argv, cwd):
    compiler = shutil.which(os.environ.get("CC", "cc"))
    need(compiler is not None, "a C compiler (cc)")
    proc = subprocess.run([compiler] + argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stderr


def _lib(directory, soname, source, script=None, extra=()):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, soname + ".c"), "w") as handle:
        handle.write(source)
    argv = ["-shared", "-fPIC", "-o", soname, "-Wl,-soname," + soname, soname + ".c"] + list(extra)
    if script:
        with open(os.path.join(directory, soname + ".map"), "w") as handle:
            handle.write(script)
        argv.append("-Wl,--version-script=" + soname + ".map")
    _cc(argv, directory)
    return os.path.join(directory, soname)


def _program(directory, name, source, libs, extra=()):
    with open(os.path.join(directory, name + ".c"), "w") as handle:
        handle.write(source)
    argv = ["-o", name, name + ".c"] + list(extra)
    for lib in libs:
        argv += ["-L" + os.path.dirname(lib), "-l:" + os.path.basename(lib)]
    _cc(argv, directory)
    return os.path.join(directory, name)


def _loader_map(path, libdir):
    """name -> path as ld.so maps it, and the failures it reports for ``path``."""
    verdict = gt.trace(path, libdir)
    mapping = {}
    for line in verdict["output"].splitlines():
        match = re.match(r"^\s*(\S+) => (\S+) \(", line)
        if match:
            mapping[match.group(1)] = os.path.realpath(match.group(2))
    return mapping, verdict


def _tool(path, libdir):
    ctx = locate.search_context(None, {"LD_LIBRARY_PATH": libdir} if libdir else {})
    record = consumers.check_path(path, "given", ctx)
    closure = loader.build_closure(path, ctx)
    mapping = {o.name: os.path.realpath(o.path) for o in closure.objects[1:]}
    return mapping, record


def _symbols(record):
    items = list(record.missing) + list(record.other_failures)
    return ({(m["symbol"], m["version"]) for m in items if m["symbol"]} | {(n, None) for n in record.host_symbols},
            {(m["version"], m["file"]) for m in items if not m["symbol"]})


@pytest.fixture
def scratch(tmp_path):
    need(os.path.exists(gt.LDSO), "glibc's ld.so")
    return str(tmp_path)


def test_missing_symbol_version_is_the_loaders_error(scratch):
    new = _lib(os.path.join(scratch, "new"), "librados.so.2", RADOS_V2,
               "LIBRADOS_14.2.0 { global: rados_foo; local: *; };\nLIBRADOS_99.0 { global: rados_bar; } LIBRADOS_14.2.0;\n")
    old = _lib(os.path.join(scratch, "old"), "librados.so.2", RADOS_V1,
               "LIBRADOS_14.2.0 { global: rados_foo; local: *; };\n")
    prog = _program(scratch, "uses-bar", "int rados_foo(void); int rados_bar(void);\n"
                    "int main(void) { return rados_foo() + rados_bar(); }\n", [new])
    mapping, truth = _loader_map(prog, os.path.dirname(old))
    assert ("LIBRADOS_99.0", "librados.so.2") in truth["versions"]          # the oracle says so
    tool_map, record = _tool(prog, os.path.dirname(old))
    assert tool_map["librados.so.2"] == mapping["librados.so.2"] == os.path.realpath(old)
    symbols, versions = _symbols(record)
    assert versions == truth["versions"] and symbols == truth["symbols"]
    assert record.loads is False and record.ceph_ok is False
    # the loader's own words (ld.so prints them in its trace too)
    expected = "{}: {}: version `LIBRADOS_99.0' not found (required by {})".format(prog, old, prog)
    assert expected in record.sees and expected in truth["output"]
    # against the library that defines it, both agree that it loads
    mapping, truth = _loader_map(prog, os.path.dirname(new))
    _, record = _tool(prog, os.path.dirname(new))
    assert not truth["versions"] and not truth["symbols"] and record.loads is True


def test_weak_reference_is_not_fatal(scratch):
    lib = _lib(os.path.join(scratch, "lib"), "librbd.so.1", RBD)
    prog = _program(scratch, "weak", "int rbd_open(void); int rbd_newer(void) __attribute__((weak));\n"
                    "int main(void) { return rbd_newer ? rbd_newer() : rbd_open(); }\n", [lib])
    _, truth = _loader_map(prog, os.path.dirname(lib))
    _, record = _tool(prog, os.path.dirname(lib))
    assert not truth["symbols"] and _symbols(record) == (set(), set())
    assert record.weak == ("rbd_newer",) and record.loads is True


def test_lazy_and_bind_now_say_when(scratch):
    full = _lib(os.path.join(scratch, "full"), "librbd.so.1", RBD + "int rbd_new(void) { return 1; }\n")
    short = _lib(os.path.join(scratch, "short"), "librbd.so.1", RBD)
    source = "int rbd_open(void); int rbd_new(void);\nint main(int c, char **v) { return c > 5 ? rbd_new() : rbd_open(); }\n"
    lazy = _program(scratch, "lazy", source, [full], ["-Wl,-z,lazy"])
    now = _program(scratch, "now", source, [full], ["-Wl,-z,now"])
    for prog, when in ((lazy, "at the first call"), (now, "at start")):
        _, truth = _loader_map(prog, os.path.dirname(short))
        _, record = _tool(prog, os.path.dirname(short))
        assert _symbols(record)[0] == truth["symbols"] == {("rbd_new", None)}
        assert record.bind_now is (prog == now)
        assert "symbol lookup error" in record.sees and when in record.sees
    # what lazy binding means, from the real program: it runs until it calls the function
    env = {"LD_LIBRARY_PATH": os.path.dirname(short), "PATH": "/usr/bin:/bin"}
    assert subprocess.run([lazy], env=env).returncode == 0
    failed = subprocess.run([lazy, "1", "2", "3", "4", "5"], env=env, stderr=subprocess.PIPE, universal_newlines=True)
    assert failed.returncode != 0 and "symbol lookup error" in failed.stderr and "rbd_new" in failed.stderr
    started = subprocess.run([now], env=env, stderr=subprocess.PIPE, universal_newlines=True)
    assert started.returncode != 0 and "symbol lookup error" in started.stderr


@pytest.mark.parametrize("tags,winner", [("--enable-new-dtags", "env"), ("--disable-new-dtags", "origin")])
def test_rpath_runpath_and_ld_library_path_order(scratch, tags, winner):
    """RUNPATH comes after LD_LIBRARY_PATH, RPATH before it ($ORIGIN in both)."""
    origin = _lib(os.path.join(scratch, "app", "lib"), "librbd.so.1", RBD)
    env = _lib(os.path.join(scratch, "env"), "librbd.so.1", RBD)
    prog = _program(os.path.join(scratch, "app"), "prog", "int rbd_open(void); int main(void) { return rbd_open(); }\n",
                    [origin], ["-Wl," + tags, "-Wl,-rpath,$ORIGIN/lib"])
    mapping, _ = _loader_map(prog, os.path.dirname(env))
    tool_map, _ = _tool(prog, os.path.dirname(env))
    assert tool_map["librbd.so.1"] == mapping["librbd.so.1"] == os.path.realpath(origin if winner == "origin" else env)


def test_runpath_is_not_inherited_but_rpath_is(scratch):
    """A dependency's own NEEDED is searched with its RUNPATH only, never its loader's; an
    executable's RPATH (without RUNPATH) also serves its dependencies."""
    deep = _lib(os.path.join(scratch, "app", "deep"), "librados.so.2", RADOS_V1)
    mid = _lib(os.path.join(scratch, "app", "mid"), "librbd.so.1", "int rados_foo(void); int rbd_open(void) { return rados_foo(); }\n",
               extra=["-L" + os.path.dirname(deep), "-l:librados.so.2"])
    for tags in ("--enable-new-dtags", "--disable-new-dtags"):
        prog = _program(os.path.join(scratch, "app"), "prog" + tags[2:5], "int rbd_open(void); int main(void) { return rbd_open(); }\n",
                        [mid], ["-Wl," + tags, "-Wl,-rpath,$ORIGIN/mid:$ORIGIN/deep", "-Wl,-rpath-link," + os.path.dirname(deep)])
        mapping, _ = _loader_map(prog, os.path.join(scratch, "none"))
        tool_map, record = _tool(prog, os.path.join(scratch, "none"))
        assert tool_map.get("librados.so.2") == mapping.get("librados.so.2"), tags
        # RUNPATH: not the executable's $ORIGIN/deep (the host's copy or none); RPATH: deep
        assert (tool_map.get("librados.so.2") == os.path.realpath(deep)) == (tags == "--disable-new-dtags")


def test_foreign_machine_librbd_is_skipped(scratch):
    """The real arm64 librbd first on the path: the loader skips it (another machine) and goes
    on to the host's; the tool says so."""
    from corpus import library
    arm = library("16.2.15", "librbd", arch="arm64")
    module = library("16.2.15", "rbd-binding")
    need(os.path.exists("/usr/lib/x86_64-linux-gnu/librbd.so.1"), "the host's librbd1")
    mapping, truth = _loader_map(module, os.path.dirname(arm))
    tool_map, record = _tool(module, os.path.dirname(arm))
    assert tool_map["librbd.so.1"] == mapping["librbd.so.1"] != os.path.realpath(arm)
    assert any(s.startswith(os.path.dirname(arm)) and "aarch64" in s for s in record.skipped)
    # and where nothing else is left: not found, with the reason
    root = os.path.join(scratch, "root")
    libdir = os.path.join(root, "usr", "lib", "x86_64-linux-gnu")
    os.makedirs(libdir)
    shutil.copy(os.path.realpath(arm), os.path.join(libdir, "librbd.so.1"))
    ctx = locate.search_context(root, {})
    record = consumers.check_path(module, "given", ctx)
    (item,) = [m for m in record.not_found if m["name"] == "librbd.so.1"]
    assert item["skipped"] and "aarch64" in item["skipped"][0]
    assert record.loads is False and "librbd.so.1: cannot open shared object file" in record.sees


# --- the pure core, table-driven (glibc elf/dl-lookup.c check_match) ----------------------------

from librbd_probe.elf import ElfInfo, Symbol  # noqa: E402


def _defs(symbols, versions=("librados.so.2", "LIBRADOS_PRIVATE", "LIBRADOS_14.2.0")):
    syms = tuple(Symbol(name, True, "FUNC", binding, "DEFAULT", 1, 1, version, hidden)
                 for name, version, hidden, binding in symbols)
    info = ElfInfo("x", 1, 64, "little", "x86-64", 62, "DYN", symbols=syms, version_definitions=versions)
    return loader.Definitions(info)


@pytest.mark.parametrize("defs,ref,version,binds", [
    # a versioned reference: the same version, else an unversioned non-hidden definition
    ([("f", "LIBRADOS_14.2.0", False, "GLOBAL")], "f", "LIBRADOS_14.2.0", True),
    ([("f", "LIBRADOS_14.2.0", False, "GLOBAL")], "f", "LIBRADOS_99.0", False),
    ([("f", None, False, "GLOBAL")], "f", "LIBRADOS_99.0", True),
    ([("f", None, True, "GLOBAL")], "f", "LIBRADOS_99.0", False),
    # an unversioned reference: index <= 2 at once, else the one non-hidden default
    ([("f", "LIBRADOS_PRIVATE", True, "GLOBAL")], "f", None, True),           # index 2, even hidden
    ([("f", "LIBRADOS_14.2.0", False, "GLOBAL")], "f", None, True),           # the single default
    ([("f", "LIBRADOS_14.2.0", True, "GLOBAL")], "f", None, False),           # hidden only
    ([("f", "LIBRADOS_14.2.0", False, "WEAK")], "f", None, True),             # a weak definition binds
    ([("g", None, False, "GLOBAL")], "f", None, False),
])
def test_check_match(defs, ref, version, binds):
    assert _defs(defs).match(ref, version) is binds


def test_unversioned_object_accepts_any_version():
    defs = _defs([("f", None, False, "GLOBAL")], versions=())
    assert defs.match("f", "ANY_1.0") and defs.match("f", None)


def test_local_and_hidden_definitions_do_not_bind():
    syms = (Symbol("f", True, "FUNC", "LOCAL", "DEFAULT", 1, 1), Symbol("g", True, "FUNC", "GLOBAL", "HIDDEN", 1, 1),
            Symbol("h", True, "SECTION", "GLOBAL", "DEFAULT", 1, 1))
    defs = loader.Definitions(ElfInfo("x", 1, 64, "little", "x86-64", 62, "DYN", symbols=syms))
    assert not defs.match("f", None) and not defs.match("g", None) and not defs.match("h", None)


@pytest.mark.parametrize("kind,bind_now,bound_at,words", [
    ("Python extension module", False, "first call", "ImportError: /p/m.so: undefined symbol: rbd_x"),
    ("QEMU block module", False, "first call", "Unknown protocol 'rbd'"),
    ("libvirt storage backend", False, "first call", "missing backend for pool type 9 (rbd)"),
    ("fio (rbd engine)", False, "first call", "at the first call"),
    ("fio engine module", False, "first call", "engine rbd not loadable"),
    ("program", True, "first call", "m.so: symbol lookup error: /p/m.so: undefined symbol: rbd_x\" at start"),
    ("program", False, "first call", "at the first call of it"),
    ("program", False, "start", "\" at start"),
])
def test_what_the_user_sees(kind, bind_now, bound_at, words):
    item = {"symbol": "rbd_x", "version": None, "bound_at": bound_at}
    assert words in consumers.what_user_sees(kind, "/p/m.so", item, bind_now)


def test_version_message_is_the_loaders():
    item = {"symbol": None, "version": "LIBRADOS_99.0", "file": "librados.so.2", "bound_at": "start",
            "file_path": "/usr/lib/librados.so.2"}
    assert consumers.what_user_sees("program", "/p/x", item, False) == (
        "\"/p/x: /usr/lib/librados.so.2: version `LIBRADOS_99.0' not found (required by /p/x)\" at start")


def test_other_osabi_ends_the_load_like_the_loader_does(scratch):
    """A librbd.so.1 marked for another OS ABI (e_ident[EI_OSABI] = FreeBSD) first on the path:
    ld.so does not search on (unlike another class or machine), it stops: "ELF file OS ABI
    invalid".  So does the tool."""
    good = _lib(os.path.join(scratch, "good"), "librbd.so.1", RBD)
    bad_dir = os.path.join(scratch, "bad")
    os.makedirs(bad_dir)
    bad = os.path.join(bad_dir, "librbd.so.1")
    data = bytearray(open(good, "rb").read())
    data[7] = 9                                            # ELFOSABI_FREEBSD
    with open(bad, "wb") as handle:
        handle.write(bytes(data))
    prog = _program(scratch, "prog", "int rbd_open(void); int main(void) { return rbd_open(); }\n", [good])
    env = {"LD_LIBRARY_PATH": bad_dir + ":" + os.path.dirname(good), "PATH": "/usr/bin:/bin"}
    real = subprocess.run([prog], env=env, stderr=subprocess.PIPE, universal_newlines=True)
    assert real.returncode == 127
    _, record = _tool(prog, env["LD_LIBRARY_PATH"])
    assert record.loads is False
    assert record.sees == real.stderr.strip() == "{}: error while loading shared libraries: {}: ELF file OS ABI invalid".format(
        prog, bad)


def test_consumer_runpath_under_root_is_not_the_hosts(scratch, capsys):
    """Issue 8's leak at consumer level: a module under --root with RUNPATH /x is checked against
    <root>/x/librbd.so.1, never the host's /x/librbd.so.1.  The host decoy exports the function
    the module calls, the root's copy does not: only the right resolution reports it missing.
    Built with cc (the module really relocates both calls), judged through the CLI."""
    import json
    from librbd_probe import cli
    full = RBD + "int rbd_new_thing(void) { return 1; }\n"
    hostx = os.path.join(scratch, "x")
    decoy = _lib(hostx, "librbd.so.1", full)                                   # the host's /x
    root = os.path.join(scratch, "root")
    _lib(root + hostx, "librbd.so.1", RBD)                                      # the root's /x
    libdir = os.path.join(root, "usr", "lib", "x86_64-linux-gnu")
    _lib(libdir, "librbd.so.1", full)                                           # system copy
    module = os.path.join(libdir, "qemu")
    os.makedirs(module)
    _lib(module, "block-rbd.so", "int rbd_open(void); int rbd_new_thing(void);\n"
         "int bdrv_rbd_init(void) { return rbd_open() + rbd_new_thing(); }\n",
         extra=["-L" + hostx, "-l:librbd.so.1", "-Wl,--enable-new-dtags", "-Wl,-rpath," + hostx])
    target = os.path.join(module, "block-rbd.so")
    assert cli.main(["consumers", "--json", "--root", root, target]) == cli.EXIT_REQUIREMENT
    (record,) = json.loads(capsys.readouterr().out)["consumers"]
    assert [m["symbol"] for m in record["missing"]] == ["rbd_new_thing"]
    # the path is the target's /x (as the module names it), resolved inside the root
    assert record["loads"] is False and record["library_paths"] == [decoy]
    # negative control: on the host, the same RUNPATH reaches the decoy and everything binds
    assert cli.main(["consumers", "--json", "--librbd", decoy, target]) == cli.EXIT_OK
