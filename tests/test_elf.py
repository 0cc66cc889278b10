"""The static ELF reader against readelf (the referee) on every real library here, on
synthetic files of other classes, byte orders and machines, and on broken files."""
import glob
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile

import pytest

import corpus
import elfwriter
from conftest import INSTALLED, need
from elfwriter import Sym
from librbd_probe import elf
from librbd_probe.errors import ElfError

# ---------------------------------------------------------------------------------------------
# readelf, parsed


def _run_readelf(args):
    need(shutil.which("readelf") is not None, "readelf not installed (apt-get install binutils)")
    proc = subprocess.run(["readelf", "-W"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=dict(os.environ, LC_ALL="C"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# "   12: 0000000000001030    16 FUNC    GLOBAL DEFAULT   13 name@@VER"; st_other bits beyond
# visibility print as "[...]" after it; the name is absent for the null symbol.
_SYM_LINE = re.compile(r"^\s*(\d+): ([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+(\w+)\s+(\w+)\s+(\w+)\s+"
                       r"(?:\[[^\]]*\]\s+)?(\w+)(?: (.*))?$")
_TYPES = {"IFUNC": "GNU_IFUNC"}
_BINDINGS = {"UNIQUE": "GNU_UNIQUE"}
# readelf -h "Machine:" text -> our name, or its class/byte-order independent prefix
_MACHINES = {"Advanced Micro Devices X86-64": "x86-64", "AArch64": "aarch64", "Intel 80386": "i386",
             "PowerPC": "ppc", "PowerPC64": "ppc64", "IBM S/390": "s390", "RISC-V": "riscv", "ARM": "arm",
             "MIPS R3000": "mips", "LoongArch": "loongarch", "Sparc v9": "sparc64"}


def readelf_symbols(path, stripped=False):
    """[(name, defined, type, binding, visibility, version, '@@'|'@'|None)] of the dynamic
    symbol table, nameless and section symbols left out (the reader skips st_name == 0)."""
    out = _run_readelf((["-D", "-s"] if stripped else ["--dyn-syms"]) + [path])
    rows, in_table, seen = [], False, 0
    for line in out.splitlines():
        if line.startswith("Symbol table"):
            if in_table:
                break                      # -D -s may go on to other tables; the first is dynsym
            in_table = True
            continue
        if not in_table or not re.match(r"^\s*\d+:", line):
            continue
        match = _SYM_LINE.match(line)
        assert match, "unparsed readelf line: " + line     # never drop a row silently
        seen += 1
        _, _, _, kind, bind, vis, ndx, name = match.groups()
        name = re.sub(r" \(\d+\)$", "", name or "")        # " (N)": a requirement's index
        if not name or kind == "SECTION":
            continue
        version = marker = None
        if "@@" in name:
            name, version = name.split("@@", 1)
            marker = "@@"
        elif "@" in name:
            name, version = name.split("@", 1)
            marker = "@"
        defined = ndx != "UND"
        rows.append((name, defined, _TYPES.get(kind, kind), _BINDINGS.get(bind, bind), vis, version,
                     marker if defined else None))
    assert in_table and seen, "readelf printed no dynamic symbol table for " + path
    return rows


def our_symbols(info):
    rows = []
    for s in info.symbols:
        if s.type == "SECTION":
            continue
        version, marker = s.version, None
        if s.defined and version == s.name:
            version = None                 # a version's own ABS symbol: readelf omits "@@NAME"
        elif s.defined and version:
            marker = "@" if s.version_hidden else "@@"
        rows.append((s.name, s.defined, s.type, s.binding, s.visibility, version, marker))
    return rows


def readelf_facts(path):
    """Header, dynamic section and version sections as readelf reports them."""
    out = _run_readelf(["-h", "-d", "-V", path])
    facts = {
        "elf_class": int(re.search(r"Class:\s+ELF(\d+)", out).group(1)),
        "byte_order": re.search(r"Data:\s+2's complement, (\w+) endian", out).group(1),
        "machine": re.search(r"Machine:\s+(.*)", out).group(1).strip(),
        "needed": tuple(re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", out)),
        "soname": (re.findall(r"\(SONAME\)\s+Library soname: \[(.*)\]", out) or [None])[0],
        "runpath": tuple(p for r in re.findall(r"\(RUNPATH\)\s+Library runpath: \[(.*)\]", out)
                         for p in r.split(":") if p),
        "rpath": tuple(p for r in re.findall(r"\(RPATH\)\s+Library rpath: \[(.*)\]", out)
                       for p in r.split(":") if p),
    }
    defs = re.findall(r"^\s+(?:0x)?[0-9a-f]+: Rev: \d+\s+Flags: (.*?)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)$",
                      out, re.M)
    facts["version_definitions"] = tuple(name for _, name in defs)
    facts["base_flags"] = {name: "BASE" in flags for flags, name in defs}
    requirements, current = [], None
    for line in out.splitlines():
        match = re.match(r"^\s+(?:0x)?[0-9a-f]+: Version: \d+\s+File: (\S+)\s+Cnt: \d+$", line)
        if match:
            current = (match.group(1), [])
            requirements.append(current)
            continue
        match = re.match(r"^\s+0x[0-9a-f]+:\s+Name: (\S+)\s+Flags: .*Version: \d+$", line)
        if match:
            current[1].append(match.group(1))
    facts["version_requirements"] = tuple((f, tuple(names)) for f, names in requirements)
    return facts


def assert_matches_readelf(info, path, stripped=False):
    facts = readelf_facts(path)
    assert (info.elf_class, info.byte_order) == (facts["elf_class"], facts["byte_order"])
    expected_machine = _MACHINES.get(facts["machine"])
    assert expected_machine and info.machine.startswith(expected_machine), (info.machine, facts["machine"])
    assert (info.soname, info.needed, info.runpath, info.rpath) == (
        facts["soname"], facts["needed"], facts["runpath"], facts["rpath"])
    if not stripped:                 # readelf -V reads version sections by their headers
        assert info.version_definitions == facts["version_definitions"]
        assert {n: bool(f & elf.VER_FLG_BASE) for n, f in zip(info.version_definitions, info.version_flags)} \
            == facts["base_flags"]
        assert info.version_requirements == facts["version_requirements"]
    assert our_symbols(info) == readelf_symbols(path, stripped=stripped)


# ---------------------------------------------------------------------------------------------
# Real libraries: the installed Debian client and every ELF file of the corpus


def _is_elf(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


# The sets are fixed (the installed client, each Debian build of the corpus), so what is
# collected never depends on what happens to be cached: a set that is missing fails under CI
# and skips elsewhere (need / corpus.release_root); its files are listed when the test runs.
REAL_SETS = ("installed",) + tuple("{}_amd64".format(v) for v in corpus.RELEASES) + tuple(
    "{}_{}".format(v, a) for v, a in corpus.FOREIGN)


def real_libraries(name):
    """Every ELF shared object of one set (real paths, sorted)."""
    if name == "installed":
        for path in INSTALLED.values():
            need(os.path.exists(path), "{} not installed (apt-get install librbd1 librados2)".format(path))
        return list(INSTALLED.values())
    version, arch = name.split("_")
    root = corpus.release_root(version, arch)
    found = glob.glob(os.path.join(root, "**", "*.so*"), recursive=True)
    paths = sorted({os.path.realpath(p) for p in found if os.path.isfile(p) and _is_elf(p)})
    assert paths, "no ELF shared object under " + root
    return paths


@pytest.mark.parametrize("name", REAL_SETS)
def test_real_library_matches_readelf(name):
    for path in real_libraries(name):
        _matches_readelf(path)


def _matches_readelf(path):
    info = elf.read_elf(path)
    assert info.symbols, "no dynamic symbols read from " + path
    assert_matches_readelf(info, path)
    header = elf.read_header(path)
    assert header.symbols == () and header.version_definitions == ()
    assert header == info._replace(symbols=(), version_definitions=(), version_requirements=(), version_flags=(), symbol_count=None)


def test_corpus_present_with_foreign_architecture():
    """The corpus holds every Debian release and an arm64 build (skips or fails when absent)."""
    for version in corpus.RELEASES:
        assert elf.read_header(corpus.library(version, "librbd")).machine == "x86-64"
    lib = corpus.library("16.2.15", "librbd", arch="arm64")
    info = elf.read_elf(lib)
    assert (info.machine, info.machine_code, info.elf_class) == ("aarch64", 183, 64)
    assert info.soname == "librbd.so.1" and "rbd_create" in elf.defined_names(info)


def test_installed_client_facts(installed):
    info = elf.read_elf(installed["librbd"])
    assert (info.machine, info.machine_code, info.elf_class, info.byte_order, info.file_type) == (
        "x86-64", 62, 64, "little", "DYN")
    assert info.soname == "librbd.so.1" and "librados.so.2" in info.needed
    assert re.match(r"^[0-9a-f]{40}$", info.build_id)
    notes = _run_readelf(["-n", os.path.realpath(installed["librbd"])])
    assert "Build ID: " + info.build_id in notes
    rados = elf.read_elf(installed["librados"])
    assert rados.version_definitions[0] == "librados.so.2" and rados.version_flags[0] & elf.VER_FLG_BASE
    assert set(rados.version_definitions) >= {"LIBRADOS_PRIVATE", "LIBRADOS_14.2.0"}
    stat_versions = sorted((s.version or "", s.version_hidden) for s in rados.symbols if s.name == "rados_ioctx_pool_stat")
    assert stat_versions == [("", True), ("LIBRADOS_14.2.0", False)]
    assert "rados_ioctx_pool_stat" in elf.defined_names(rados)
    memcpy = [s for s in rados.symbols if s.name == "memcpy"]
    assert memcpy and not memcpy[0].defined and memcpy[0].version.startswith("GLIBC_")
    assert memcpy[0].version_file == "libc.so.6"
    common = elf.read_header(installed["libceph-common"])
    assert rados.runpath == ("/usr/lib/x86_64-linux-gnu/ceph",) and common.soname == "libceph-common.so.2"


def _strip_section_headers(src, dst):
    """A copy without section headers: objcopy where it can (binutils 2.41+), else e_shoff,
    e_shnum and e_shstrndx zeroed, which is what the loader ignores anyway."""
    objcopy = shutil.which("objcopy")
    if objcopy and "--strip-section-headers" in subprocess.run(
            [objcopy, "--help"], stdout=subprocess.PIPE, universal_newlines=True).stdout:
        subprocess.run([objcopy, "--strip-section-headers", src, dst], check=True)
        return
    shutil.copy(src, dst)
    with open(dst, "r+b") as handle:
        ident = handle.read(16)
        e = "<" if ident[5] == 1 else ">"
        shoff_at, shnum_at, word = (0x28, 0x3C, "Q") if ident[4] == 2 else (0x20, 0x30, "I")
        handle.seek(shoff_at)
        handle.write(struct.pack(e + word, 0))
        handle.seek(shnum_at)
        handle.write(struct.pack(e + "HH", 0, 0))


@pytest.mark.parametrize("name", REAL_SETS)
def test_stripped_copy_same_symbols(name, tmp_path):
    # libceph-common is stripped once, from the installed set (the corpus copies are as large)
    for path in real_libraries(name):
        if "libceph-common" not in path or name == "installed":
            _stripped_same(path, str(tmp_path / os.path.basename(path)))


def _stripped_same(path, stripped):
    _strip_section_headers(os.path.realpath(path), stripped)
    info = elf.read_elf(stripped)
    full = elf.read_elf(path)
    assert not info.has_section_headers and full.has_section_headers
    assert info.symbols == full.symbols          # counted through DT_GNU_HASH, not SHT_DYNSYM
    assert info._replace(path=path, size=full.size, has_section_headers=True) == full
    assert our_symbols(info) == readelf_symbols(stripped, stripped=True)
    assert elf.find_strings(stripped, rb"\x00(\d+\.\d+\.\d+)\x00") == []


def test_filters_equal_full_read(installed):
    full = elf.read_elf(installed["libceph-common"])
    prefixes = (b"ceph_ver", b"_Z19ceph_", b"rados_")
    part = elf.read_elf(installed["libceph-common"], name_filter=prefixes)
    assert part.symbols == tuple(s for s in full.symbols if s.name.encode().startswith(prefixes))
    assert any(s.name.startswith("ceph_ver__") for s in part.symbols)
    called = elf.read_elf(installed["libceph-common"], name_filter=lambda name: name.endswith(b"_to_strv"))
    assert called.symbols == tuple(s for s in full.symbols if s.name.endswith("_to_strv"))
    assert {"_Z19ceph_version_to_strv", "_Z19ceph_release_to_strv"} <= {s.name for s in called.symbols}
    rbd = elf.read_elf(installed["librbd"])
    defined = elf.read_elf(installed["librbd"], defined_only=True, name_filter=(b"rbd_", b"rados_"))
    assert defined.symbols == tuple(s for s in rbd.symbols if s.defined and s.name.startswith(("rbd_", "rados_")))
    markers = elf.find_dynamic_strings(installed["libceph-common"], (b"ceph_ver__",))
    assert markers == [s.name for s in part.symbols if s.name.startswith("ceph_ver__")]


def test_defined_names_is_the_bindable_set(installed):
    info = elf.read_elf(installed["librbd"])
    expected = {s.name for s in info.symbols if s.defined and s.binding in ("GLOBAL", "WEAK", "GNU_UNIQUE")
                and s.visibility in ("DEFAULT", "PROTECTED")}
    assert elf.defined_names(info) == expected and "rbd_create" in expected
    assert not any(s.name == "rados_create" and s.defined for s in info.symbols)   # librados' function


def test_rodata_version_string(installed):
    assert elf.find_strings(installed["libceph-common"], rb"\x00(\d+\.\d+\.\d+)\x00") == ["16.2.15"]
    assert elf.find_strings(installed["libceph-common"], rb"\x00(\d+\.\d+\.\d+)\x00", section=".nosuch") == []


@pytest.mark.parametrize("version", corpus.RELEASES)
def test_corpus_rodata_version_string(version):
    found = elf.find_strings(corpus.library(version, "libceph-common"), rb"\x00(\d+\.\d+\.\d+)\x00")
    assert found == [version]


# ---------------------------------------------------------------------------------------------
# Synthetic files: other classes, byte orders and machines; with and without section headers

_SYMBOLS = [Sym("rbd_create", version="LIBRBD_1"), Sym("rbd_old", binding="WEAK", version="LIBRBD_1", hidden=True),
            Sym("rbd_obj", type="OBJECT", visibility="PROTECTED", version="LIBRBD_2"), Sym("rbd_tls", type="TLS"),
            Sym("rbd_hidden", visibility="HIDDEN"), Sym("rbd_ifunc", type="GNU_IFUNC"),
            Sym("rados_create", defined=False, version="LIBRADOS_14.2.0"),
            Sym("memcpy", defined=False, version="GLIBC_2.14"), Sym("free", defined=False)]
_VERNEED = (("librados.so.2", ("LIBRADOS_14.2.0",)), ("libc.so.6", ("GLIBC_2.2.5", "GLIBC_2.14")))


def synthetic(elf_class=64, byte_order="little", machine=62, **kwargs):
    options = dict(soname="librbd.so.1", needed=("librados.so.2", "libc.so.6"), runpath="$ORIGIN/../lib:/opt/ceph",
                   rpath="/old/rpath", symbols=_SYMBOLS, verdefs=("LIBRBD_1", "LIBRBD_2"), verneed=_VERNEED,
                   build_id=bytes(range(20)), interp="/lib/ld-test.so.1",
                   rodata=b"\0ceph version 16.2.15\0\x001.2.3\0")
    options.update(kwargs)
    return elfwriter.build(elf_class, byte_order, machine, **options)


@pytest.mark.parametrize("elf_class, byte_order, machine, name", [
    (32, "little", 3, "i386"), (64, "big", 22, "s390x"), (32, "big", 22, "s390"), (64, "big", 21, "ppc64"),
    (64, "little", 21, "ppc64le"), (32, "big", 20, "ppc"), (64, "little", 183, "aarch64"), (32, "little", 40, "arm"),
    (64, "little", 243, "riscv64"), (32, "little", 243, "riscv32"), (32, "big", 8, "mips"), (32, "little", 8, "mipsel"),
    (64, "little", 258, "loongarch64"), (64, "big", 43, "sparc64"), (64, "little", 62, "x86-64"),
    (64, "little", 9999, "unknown(9999)")])
@pytest.mark.parametrize("section_headers", [True, False], ids=["sections", "no-sections"])
@pytest.mark.parametrize("hash_style", ["gnu", "sysv"])
def test_synthetic(tmp_path, elf_class, byte_order, machine, name, section_headers, hash_style):
    path = synthetic(elf_class, byte_order, machine, section_headers=section_headers,
                     hash_style=hash_style).write(tmp_path / "lib.so")
    info = elf.read_elf(path)
    assert (info.elf_class, info.byte_order, info.machine, info.machine_code, info.file_type) == (
        elf_class, byte_order, name, machine, "DYN")
    assert (info.soname, info.needed, info.runpath, info.rpath) == (
        "librbd.so.1", ("librados.so.2", "libc.so.6"), ("$ORIGIN/../lib", "/opt/ceph"), ("/old/rpath",))
    assert info.build_id == bytes(range(20)).hex() and info.interpreter == "/lib/ld-test.so.1"
    assert info.has_section_headers is section_headers
    assert info.version_definitions == ("librbd.so.1", "LIBRBD_1", "LIBRBD_2")
    assert info.version_flags == (elf.VER_FLG_BASE, 0, 0)
    assert info.version_requirements == _VERNEED
    got = {s.name: (s.defined, s.type, s.binding, s.visibility, s.version, s.version_hidden, s.version_file)
           for s in info.symbols}
    assert got == {
        "rbd_create": (True, "FUNC", "GLOBAL", "DEFAULT", "LIBRBD_1", False, None),
        "rbd_old": (True, "FUNC", "WEAK", "DEFAULT", "LIBRBD_1", True, None),
        "rbd_obj": (True, "OBJECT", "GLOBAL", "PROTECTED", "LIBRBD_2", False, None),
        "rbd_tls": (True, "TLS", "GLOBAL", "DEFAULT", None, False, None),
        "rbd_hidden": (True, "FUNC", "GLOBAL", "HIDDEN", None, False, None),
        "rbd_ifunc": (True, "GNU_IFUNC", "GLOBAL", "DEFAULT", None, False, None),
        "rados_create": (False, "FUNC", "GLOBAL", "DEFAULT", "LIBRADOS_14.2.0", False, "librados.so.2"),
        "memcpy": (False, "FUNC", "GLOBAL", "DEFAULT", "GLIBC_2.14", False, "libc.so.6"),
        "free": (False, "FUNC", "GLOBAL", "DEFAULT", None, False, None)}
    assert elf.defined_names(info) == {"rbd_create", "rbd_old", "rbd_obj", "rbd_tls", "rbd_ifunc"}
    if machine != 9999:                      # readelf names no machine for unknown codes
        assert_matches_readelf(info, path, stripped=not section_headers)
    header = elf.read_header(path)
    assert header.symbols == () and header.soname == "librbd.so.1" and header.build_id == info.build_id
    assert elf.read_identity(path)[:7] == info[:7]      # path .. machine_code: the loader's first look
    strings = elf.find_strings(path, rb"\x00(?:ceph version )?(\d+\.\d+\.\d+)\x00")
    assert strings == (["16.2.15", "1.2.3"] if section_headers else [])


def test_synthetic_without_versions_or_dynamic_strings(tmp_path):
    path = elfwriter.build(32, "big", 20, soname=None, symbols=[Sym("a"), Sym("b", defined=False)],
                           section_headers=False, hash_style="sysv").write(tmp_path / "plain.so")
    info = elf.read_elf(path)
    assert info.soname is None and info.needed == () and info.version_definitions == ()
    assert [(s.name, s.defined, s.version, s.version_hidden) for s in info.symbols] == [
        ("b", False, None, False), ("a", True, None, False)]


@pytest.mark.parametrize("chunk", [1, 7, 16, 33, 1 << 20])
def test_find_strings_across_chunks(tmp_path, chunk):
    rng = random.Random(chunk)
    rodata = b"".join(b"\0" + b"x" * rng.randrange(0, 9) + b"\0%d.%d.%d" % (rng.randrange(30), rng.randrange(10), i)
                      for i in range(200)) + b"\0"
    path = synthetic(rodata=rodata).write(tmp_path / "strings.so")
    pattern = rb"\x00(\d+\.\d+\.\d+)\x00"
    expected = []
    for match in re.finditer(pattern, rodata):
        if match.group(1).decode() not in expected:
            expected.append(match.group(1).decode())
    assert len(expected) > 150
    assert elf.find_strings(path, pattern, chunk=chunk, limit=1000) == expected
    assert elf.find_strings(path, re.compile(pattern), chunk=chunk, limit=5) == expected[:5]


# ---------------------------------------------------------------------------------------------
# Broken files: ElfError naming the path, one line, never another exception


def _expect_elf_error(path, *words, **kwargs):
    reader = kwargs.get("reader", elf.read_elf)
    with pytest.raises(ElfError) as caught:
        reader(str(path))
    message = str(caught.value)
    assert str(path) in message and "\n" not in message, message
    for word in words:
        assert word in message, message
    assert isinstance(caught.value, ValueError)
    return message


@pytest.mark.parametrize("name, data, words", [
    ("empty", b"", ["empty"]),
    ("magic", b"MZ\x90\x00" + b"\0" * 60, ["not an ELF file"]),
    ("text", b"/* GNU ld script */\nGROUP ( libfoo.so.1 )\n", ["not an ELF file"]),
    ("short-ident", b"\x7fELF\x02", ["truncated"]),
    ("bad-class", b"\x7fELF\x07\x01\x01" + b"\0" * 57, ["unsupported ELF class"]),
    ("bad-data", b"\x7fELF\x02\x03\x01" + b"\0" * 57, ["unsupported ELF data encoding"]),
    ("ident-only", b"\x7fELF\x02\x01\x01" + b"\0" * 13, ["truncated"]),
])
def test_not_elf_or_cut_short(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    for reader in (elf.read_elf, elf.read_header, elf.read_identity):
        _expect_elf_error(path, *words, reader=reader)


@pytest.mark.parametrize("elf_class, byte_order, section_headers", [
    (64, "little", True), (32, "big", True), (64, "big", False), (32, "little", False)])
def test_every_truncation_of_a_synthetic_file(tmp_path, elf_class, byte_order, section_headers):
    data = synthetic(elf_class, byte_order, 22, section_headers=section_headers).data
    path = tmp_path / "cut.so"
    for length in range(len(data)):
        path.write_bytes(data[:length])
        _expect_elf_error(path)
    path.write_bytes(data)
    assert elf.read_elf(str(path)).symbols


def test_truncated_real_library(installed, tmp_path):
    real = os.path.realpath(installed["librados"])
    size = os.path.getsize(real)
    with open(real, "rb") as handle:
        data = handle.read()
    path = tmp_path / "cut.so"
    for length in (1, 4, 16, 63, 64, 100, 4096, 1 << 16, size // 2, size - 1):
        path.write_bytes(data[:length])
        _expect_elf_error(path, "truncated" if length >= 4 else "not an ELF file")


def _patched(image, fmt_offset_values):
    data = bytearray(image.data)
    for fmt, offset, value in fmt_offset_values:
        struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def _dyn_entry(image, tag):
    """File offset of the value of dynamic ``tag`` in a little-endian 64-bit image."""
    pos = image.offsets["dynamic"]
    while True:
        current, _ = struct.unpack_from("<qQ", image.data, pos)
        if current == tag:
            return pos + 8
        assert current != 0, tag
        pos += 16


def _symbol_name_field(image, index):
    return image.offsets["dynsym"] + 24 * index


@pytest.mark.parametrize("case, words", [
    ("dynamic outside the file", "truncated or corrupt"), ("strtab outside every segment", "outside every PT_LOAD"),
    ("strsz larger than the file", "DT_STRSZ"), ("symbol name past the string table", "symbol name offset"),
    ("absurd symbol count", "dynamic symbol count"), ("bogus syment", "DT_SYMENT"),
    ("needed string out of range", "string offset"), ("verdef chain off the end", "verdef"),
    ("phnum absurd", "program header"), ("section headers past the end", "section headers"),
])
def test_corrupt_fields(tmp_path, case, words):
    image = synthetic(hash_style="sysv")
    phdyn = image.offsets["phdr_dynamic"]
    patches = {
        "dynamic outside the file": [("<Q", phdyn + 8, 10 ** 9)],
        "strtab outside every segment": [("<Q", _dyn_entry(image, elfwriter.DT_STRTAB), 1 << 40)],
        "strsz larger than the file": [("<Q", _dyn_entry(image, elfwriter.DT_STRSZ), 1 << 30)],
        "symbol name past the string table": [("<I", _symbol_name_field(image, 3), 1 << 20)],
        "absurd symbol count": [("<I", image.offsets["hash"] + 4, 0x7FFFFFFF), ("<Q", image.ehdr["shoff"], 0),
                                ("<H", image.ehdr["shnum"], 0)],
        "bogus syment": [("<Q", _dyn_entry(image, elfwriter.DT_SYMENT), 3)],
        "needed string out of range": [("<Q", _dyn_entry(image, elfwriter.DT_NEEDED), 1 << 20)],
        "verdef chain off the end": [("<I", image.offsets["verdef"] + 16, 1 << 20)],
        "phnum absurd": [("<H", 56, 60000)],
        "section headers past the end": [("<H", image.ehdr["shnum"], 5000)],
    }[case]
    path = tmp_path / "corrupt.so"
    path.write_bytes(_patched(image, patches))
    _expect_elf_error(path, words)


def test_filesystem_errors(tmp_path):
    _expect_elf_error(tmp_path, "is a directory")
    _expect_elf_error(tmp_path / "missing.so", "no such file")
    dangling = tmp_path / "dangling.so"
    os.symlink(str(tmp_path / "gone.so"), str(dangling))
    _expect_elf_error(dangling, "no such file (dangling symbolic link)")
    loop = tmp_path / "loop.so"
    os.symlink(str(loop), str(loop))
    _expect_elf_error(loop, "symbolic links")
    fifo = tmp_path / "fifo.so"
    os.mkfifo(str(fifo))
    _expect_elf_error(fifo, "not a regular file")          # and no hang in open()
    _expect_elf_error("/dev/null", "not a regular file")
    for reader in (elf.read_header, elf.read_identity, lambda p: elf.find_strings(p, rb"(x)")):
        _expect_elf_error(tmp_path, "is a directory", reader=reader)


def test_unreadable_file(tmp_path):
    """chmod 000 is no barrier to root: there the read happens in a forked child that dropped
    to user nobody, so the kernel's real EACCES is what the reader sees."""
    scratch = tempfile.mkdtemp()
    try:
        os.chmod(scratch, 0o755)              # traversable by nobody; only the file is closed
        path = os.path.join(scratch, "locked.so")
        with open(path, "wb") as handle:
            handle.write(synthetic().data)
        os.chmod(path, 0)
        if os.geteuid() != 0:
            _expect_elf_error(path, "permission denied")
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:                           # child: never returns into pytest
            try:
                os.close(read_end)
                os.setgid(65534)
                os.setuid(65534)
                try:
                    elf.read_elf(path)
                    verdict = "no error"
                except ElfError as exc:
                    verdict = "ElfError: " + str(exc)
                except BaseException as exc:   # reported, then judged by the parent
                    verdict = "{}: {}".format(type(exc).__name__, exc)
                os.write(write_end, verdict.encode("utf-8", "replace"))
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            verdict = pipe.read().decode()
        os.waitpid(pid, 0)
        assert verdict == "ElfError: {}: permission denied".format(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_fuzzed_copies_raise_only_elf_error(installed, tmp_path):
    """Bytes flipped in the first 64 KiB of the real librados (headers, dynamic symbols,
    versions): every outcome is a result or an ElfError naming the path."""
    with open(os.path.realpath(installed["librados"]), "rb") as handle:
        original = handle.read()
    head = original[:1 << 16]
    rng = random.Random(20261123)
    path = tmp_path / "fuzz.so"
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        data = bytearray(head)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(0, 512) if rng.random() < 0.5 else rng.randrange(0, len(head))
            if rng.random() < 0.7:
                data[position] = rng.randrange(256)
            else:
                data[position:position + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\xff\xff\xff\x7f"])
        path.write_bytes(bytes(data) + original[len(head):] if rng.random() < 0.6 else bytes(data))
        for reader in (elf.read_elf, elf.read_header, lambda p: elf.read_elf(p, name_filter=(b"rados_",)),
                       lambda p: elf.find_strings(p, rb"(\d+\.\d+)")):
            try:
                reader(str(path))
                outcomes["ok"] += 1
            except ElfError as exc:
                assert str(path) in str(exc) and "\n" not in str(exc)
                outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0     # both paths were reached


def test_os_errors_are_not_swallowed_silently(tmp_path):
    # A path through a regular file ("file.so/x") is ENOTDIR: still one ElfError line.
    regular = tmp_path / "file.so"
    regular.write_bytes(b"x")
    _expect_elf_error(regular / "x", "not a directory")
